#!/usr/bin/python3
"""A fake Firebase Cloud Messaging (HTTP v1) for the mobile push tests.

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file) and
serves both halves of FCM:

  POST /token   the OAuth2 token endpoint of a service account: the form
                grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and
                assertion=<JWT>. The JWT's RS256 signature is verified with
                the service account's public key (--public-key, PEM), and
                its claims: iss the --client-email, scope firebase.messaging,
                aud this URL, exp one hour after iat, iat now. A valid one
                gets {"access_token", "expires_in", "token_type"}; anything
                else 400 invalid_grant.
  POST /v1/projects/<project>/messages:send
                needs "Authorization: Bearer <a token issued above>" (else
                401 UNAUTHENTICATED) and a JSON {"message": {"token": ...}}.
                By the device token's prefix:
                  unregistered  404 with errorCode UNREGISTERED
                  invalid       400 INVALID_ARGUMENT about the token
                  fail500       500
                  reject        403 PERMISSION_DENIED (SenderId mismatch)
                  slow          answers after 3 s
                  otherwise     200 {"name": "projects/<p>/messages/<id>"}

Every request is appended to <dir>/push.jsonl: time, path, headers, body
(as received), status, and for tokens the verified claims or the error.
Needs python3-jwt and python3-cryptography.
"""
import argparse
import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, obj, record):
        body = json.dumps(obj).encode()
        record["status"] = status
        with lock:
            with open(os.path.join(self.server.dir, "push.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def token(self, raw, record):
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        url = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        try:
            if form.get("grant_type") != GRANT:
                raise ValueError("grant_type is not jwt-bearer")
            header = jwt.get_unverified_header(form.get("assertion", ""))
            if header.get("alg") != "RS256" or header.get("typ") != "JWT":
                raise ValueError("header %r" % header)
            claims = jwt.decode(form["assertion"], self.server.public_key,
                                algorithms=["RS256"], audience=url,
                                options={"require": ["iss", "aud", "iat", "exp"]})
            if claims["iss"] != self.server.client_email:
                raise ValueError("iss %r" % claims["iss"])
            if claims.get("scope") != SCOPE:
                raise ValueError("scope %r" % claims.get("scope"))
            if claims["exp"] - claims["iat"] != 3600 or abs(claims["iat"] - time.time()) > 300:
                raise ValueError("iat/exp %r/%r" % (claims["iat"], claims["exp"]))
        except Exception as e:  # noqa: BLE001 - any failure is a refused grant
            record["error"] = str(e)
            return self.answer(400, {"error": "invalid_grant", "error_description": str(e)},
                               record)
        record["claims"] = claims
        access = "ya29.fake-" + uuid.uuid4().hex
        with lock:
            self.server.issued.add(access)
        record["access_token"] = access
        return self.answer(200, {"access_token": access, "expires_in": self.server.expires_in,
                                 "token_type": "Bearer"}, record)

    def send(self, raw, record):
        project = self.path.split("/")[3]
        auth = self.headers.get("Authorization", "")
        with lock:
            known = auth.startswith("Bearer ") and auth[7:] in self.server.issued
        if not known:
            return self.answer(401, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                               "message": "invalid bearer token"}}, record)
        try:
            token = json.loads(raw)["message"]["token"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                               "message": "bad message"}}, record)
        if token.startswith("unregistered"):
            return self.answer(404, {"error": {
                "code": 404, "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                             "errorCode": "UNREGISTERED"}]}}, record)
        if token.startswith("invalid"):
            return self.answer(400, {"error": {
                "code": 400, "status": "INVALID_ARGUMENT",
                "message": "The registration token is not a valid FCM registration token"}},
                record)
        if token.startswith("fail500"):
            return self.answer(500, {"error": {"code": 500, "status": "INTERNAL"}}, record)
        if token.startswith("reject"):
            return self.answer(403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                               "message": "SenderId mismatch"}}, record)
        if token.startswith("slow"):
            time.sleep(3)
        return self.answer(200, {"name": "projects/%s/messages/%s"
                                 % (project, uuid.uuid4().hex)}, record)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        record = {"time": time.time(), "path": self.path, "body": raw,
                  "headers": {k: v for k, v in self.headers.items()}}
        if self.path == "/token":
            return self.token(raw, record)
        if self.path.startswith("/v1/projects/") and self.path.endswith("/messages:send"):
            return self.send(raw, record)
        return self.answer(404, {"error": "no such path"}, record)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--public-key", required=True)
    p.add_argument("--client-email", required=True)
    p.add_argument("--expires-in", type=int, default=3600)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.dir = args.dir
    with open(args.public_key) as f:
        server.public_key = f.read()
    server.client_email = args.client_email
    server.expires_in = args.expires_in
    server.issued = set()
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
