#!/usr/bin/python3
"""A fake Apple Push Notification service (HTTP/2) for the mobile push tests.

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file) and
speaks HTTP/2 in the clear with prior knowledge (h2c), as libcurl does for
an http:// base URL, using Debian's python3-h2. It serves
POST /3/device/<token> as APNs does with token-based authentication:

  authorization: bearer <JWT>: ES256, verified with the key's public key
      (--public-key, PEM); its header's kid must be --key-id, its iss
      --team-id, its iat within the last hour; else 403
      InvalidProviderToken (or ExpiredProviderToken).
  apns-topic must be --bundle-id (else 400 BadTopic), apns-push-type
      alert or background (else 400 InvalidPushType).

By the device token's prefix: bad 400 BadDeviceToken, gone 410
Unregistered, fail500 500 InternalServerError, big 413 PayloadTooLarge,
otherwise 200 with the apns-id header echoed. Every request is appended to
<dir>/push.jsonl: time, path, headers, body (as received), status, and the
JWT's verified header and claims or the error.
"""
import argparse
import json
import os
import socket
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt

lock = threading.Lock()


def verify(server, headers):
    """The JWT's (header, claims), or raises ValueError with the reason."""
    auth = headers.get("authorization", "")
    if not auth.startswith("bearer "):
        raise ValueError("MissingProviderToken")
    token = auth[7:]
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "ES256" or header.get("kid") != server.key_id:
        raise ValueError("InvalidProviderToken")
    try:
        claims = jwt.decode(token, server.public_key, algorithms=["ES256"],
                            options={"require": ["iss", "iat"], "verify_aud": False})
    except jwt.InvalidTokenError as e:
        raise ValueError("InvalidProviderToken") from e
    if claims["iss"] != server.team_id:
        raise ValueError("InvalidProviderToken")
    if claims["iat"] < time.time() - 3600 or claims["iat"] > time.time() + 300:
        raise ValueError("ExpiredProviderToken")
    return header, claims


def respond(server, headers, body):
    """(status, answer headers, answer body, record additions)"""
    path = headers.get(":path", "")
    extra = {}
    if headers.get(":method") != "POST" or not path.startswith("/3/device/"):
        return 404, {}, {"reason": "BadPath"}, extra
    token = path[len("/3/device/"):]
    try:
        jwt_header, claims = verify(server, headers)
        extra["jwt_header"] = jwt_header
        extra["claims"] = claims
    except ValueError as e:
        extra["error"] = str(e)
        return 403, {}, {"reason": str(e)}, extra
    if headers.get("apns-topic") != server.bundle_id:
        return 400, {}, {"reason": "BadTopic"}, extra
    if headers.get("apns-push-type") not in ("alert", "background"):
        return 400, {}, {"reason": "InvalidPushType"}, extra
    if token.startswith("bad"):
        return 400, {}, {"reason": "BadDeviceToken"}, extra
    if token.startswith("gone"):
        return 410, {}, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}, extra
    if token.startswith("fail500"):
        return 500, {}, {"reason": "InternalServerError"}, extra
    if token.startswith("big"):
        return 413, {}, {"reason": "PayloadTooLarge"}, extra
    return 200, {"apns-id": headers.get("apns-id", "")}, None, extra


def serve(server, sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams = {}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    streams[event.stream_id] = [dict(event.headers), b""]
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id][1] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length,
                                                   event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = streams.pop(event.stream_id)
                    status, hdrs, answer, extra = respond(server, headers, body)
                    record = {"time": time.time(), "path": headers.get(":path"),
                              "headers": headers, "body": body.decode(),
                              "status": status}
                    record.update(extra)
                    with lock:
                        with open(os.path.join(server.dir, "push.jsonl"), "a") as f:
                            f.write(json.dumps(record) + "\n")
                    payload = json.dumps(answer).encode() if answer else b""
                    out = [(":status", str(status))] + list(hdrs.items())
                    if payload:
                        out += [("content-type", "application/json"),
                                ("content-length", str(len(payload)))]
                    conn.send_headers(event.stream_id, out, end_stream=not payload)
                    if payload:
                        conn.send_data(event.stream_id, payload, end_stream=True)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    sock.sendall(conn.data_to_send())
                    return
            sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--public-key", required=True)
    p.add_argument("--key-id", required=True)
    p.add_argument("--team-id", required=True)
    p.add_argument("--bundle-id", required=True)
    args = p.parse_args()
    server = argparse.Namespace(dir=args.dir, key_id=args.key_id, team_id=args.team_id,
                                bundle_id=args.bundle_id)
    with open(args.public_key) as f:
        server.public_key = f.read()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(listener.getsockname()[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(server, sock), daemon=True).start()


if __name__ == "__main__":
    main()
