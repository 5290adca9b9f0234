#!/usr/bin/env python3
"""A fake SMS gateway for the SMS delivery tests and bench.

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file) and
answers the messaging-API form POST (To, From, Body, HTTP Basic auth) like
the widely used gateways do: 201 with a JSON message resource whose "sid"
is the message id. By the number:

  ...0500    500 (a gateway failure, for retries)
  ...0401    401 as if the credentials were wrong
  otherwise  201

With --auth sid:token every request without those Basic credentials gets
401. Every request is appended to <dir>/sms.jsonl: time, path, the Basic
user, the form fields, the answer's status and sid; with --quiet (the
bench) only time, To and status.
"""
import argparse
import base64
import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        user, password = None, None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        to = form.get("To", "")
        status, answer = 201, None
        if self.server.auth and (user, password) != self.server.auth:
            status = 401
        elif to.endswith("0500"):
            status = 500
        elif to.endswith("0401"):
            status = 401
        if status == 201:
            answer = {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": to,
                      "from": form.get("From"), "body": form.get("Body")}
        else:
            answer = {"code": status, "message": "refused", "status": status}
        body = json.dumps(answer).encode()
        if self.server.quiet:
            record = {"time": time.time(), "to": to, "status": status}
        else:
            record = {"time": time.time(), "path": self.path, "user": user,
                      "content_type": self.headers.get("Content-Type"),
                      "form": form, "raw": raw, "status": status, "sid": answer.get("sid")}
        with lock:
            with open(os.path.join(self.server.dir, "sms.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--auth")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    # 64 connections may open at once (sqsn.http_max_concurrency): with
    # the default backlog of 5 some SYNs are dropped and retried 1, 3, 7 s
    # later
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.dir = args.dir
    server.quiet = args.quiet
    server.auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
