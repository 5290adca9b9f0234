#!/usr/bin/env python3
"""HTTP(S) sink for the push delivery tests and bench.

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file) and
answers POSTs by path:

  /ok...            200
  /fail...          500
  /status/<n>...    status n (e.g. /status/302 with a Location header)
  /slow/<ms>...     waits <ms> milliseconds, then 200
  /drop...          closes the connection without answering
  /flaky/<n>...     500 for the first n requests to that path, then 200
  /switch...        503 while the file <dir>/down exists, else 200

Every request is appended to <dir>/requests.jsonl as one JSON object:
start and end time, method, path, headers, body and the answer given
("dropped" for /drop). With --quiet only the time and message id are
recorded (for the bench).
"""
import argparse
import json
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
counts = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # headers and body are two writes: without this, Nagle's algorithm
        # holds the body until the client's delayed ACK (about 40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def record(self, start, body, answer):
        if self.server.quiet:
            rec = {"t": time.time(),
                   "id": self.headers.get("x-amz-sns-message-id")}
        else:
            rec = {"start": start, "end": time.time(), "method": self.command,
                   "path": self.path, "headers": dict(self.headers.items()),
                   "body": body.decode("utf-8", "replace"), "answer": answer}
        line = json.dumps(rec) + "\n"
        with lock:
            self.server.log.write(line)
            self.server.log.flush()

    def answer(self, status, extra=None):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        start = time.time()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        path = self.path
        parts = path.strip("/").split("/")
        status = 200
        extra = None
        if path.startswith("/fail"):
            status = 500
        elif path.startswith("/status/"):
            status = int(parts[1])
            extra = {"Location": "http://127.0.0.1:1/elsewhere"}
        elif path.startswith("/slow/"):
            time.sleep(int(parts[1]) / 1000.0)
        elif path.startswith("/drop"):
            self.record(start, body, "dropped")
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        elif path.startswith("/flaky/"):
            with lock:
                counts[path] = counts.get(path, 0) + 1
                seen = counts[path]
            status = 500 if seen <= int(parts[1]) else 200
        elif path.startswith("/switch"):
            if os.path.exists(os.path.join(self.server.dir, "down")):
                status = 503
        self.record(start, body, status)
        self.answer(status, extra)

    do_PUT = do_POST


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.dir = args.dir
    srv.quiet = args.quiet
    srv.log = open(os.path.join(args.dir, "requests.jsonl"), "a")
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
