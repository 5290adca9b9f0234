#!/usr/bin/env python3
"""SMTP sink for the email delivery tests and bench (aiosmtpd).

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file) and
answers by the local part of the recipient:

  reject...        550 to RCPT TO (a permanent rejection)
  temp...          451 to RCPT TO (a temporary failure)
  flaky<n>-...     451 to the first n RCPT TO of that address, then 250
  slow<ms>-...     waits <ms> milliseconds before answering DATA, then 250
  anything else    250

Every accepted mail is appended to <dir>/mail.jsonl as one JSON object:
time, mail_from, rcpt_tos, whether the session was TLS, the
authenticated user, and data: the message as received (dot-stuffing
removed), base64-encoded so that the tests compare it byte for byte.
Every RCPT TO is appended to <dir>/rcpt.jsonl with the answer given.

--auth user:password requires AUTH (PLAIN or LOGIN) before MAIL FROM.
--tls-cert/--tls-key offer STARTTLS with that certificate; --require-tls
refuses MAIL FROM before it. With --quiet only time and recipients are
recorded (for the bench).
"""
import argparse
import asyncio
import base64
import json
import os
import re
import ssl
import threading
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult

lock = threading.Lock()
counts = {}


class Handler:
    def __init__(self, args):
        self.args = args

    def record(self, name, obj):
        with lock:
            with open(f"{self.args.dir}/{name}", "a") as f:
                f.write(json.dumps(obj) + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        answer = "250 OK"
        m = re.match(r"flaky(\d+)-", local)
        if local.startswith("reject"):
            answer = "550 5.1.1 mailbox unavailable"
        elif local.startswith("temp"):
            answer = "451 4.3.0 try again later"
        elif m:
            with lock:
                counts[address] = counts.get(address, 0) + 1
                if counts[address] <= int(m.group(1)):
                    answer = "451 4.3.0 try again later"
        self.record("rcpt.jsonl", {"time": time.time(), "rcpt": address,
                                   "answer": answer})
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            m = re.match(r"slow(\d+)-", rcpt.split("@")[0].lower())
            if m:
                await asyncio.sleep(int(m.group(1)) / 1000.0)
        entry = {"time": time.time(), "rcpt_tos": envelope.rcpt_tos}
        if not self.args.quiet:
            entry.update({
                "mail_from": envelope.mail_from,
                "tls": session.ssl is not None,
                "user": getattr(session, "sqsn_user", None),
                "data": base64.b64encode(envelope.original_content).decode(),
            })
        self.record("mail.jsonl", entry)
        return "250 2.0.0 accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--auth")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    warnings.simplefilter("ignore")

    handler = Handler(args)
    kwargs = {"decode_data": False, "enable_SMTPUTF8": False}
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = args.require_tls
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            if ok:
                session.sqsn_user = user
            return AuthResult(success=ok)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = False

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, loop=loop, **kwargs), "127.0.0.1", args.port))
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(args.port_file + ".tmp", args.port_file)
    loop.run_forever()


if __name__ == "__main__":
    main()
