#!/usr/bin/env python3
"""The crowd of bench/api's load phase (Python 3 standard library only).

  crowd.py --host H --port P --idle N --slow N --keepalive N
           --ready FILE [--seconds S] [--path /metrics]

Holds N + N + N TCP connections to the endpoint open until SIGTERM (or S
seconds):

  idle       connect and send nothing
  slow       send a request's headers one byte a second, never finishing
             them (slowloris): "POST / HTTP/1.1", "Host", then a header
             line that never ends
  keepalive  one complete request (GET PATH, HTTP/1.1, kept alive), its
             answer read whole, then nothing

A connection the server closes is counted and opened again (the crowd
stays the size it was asked to be). Once every connection is open (and
every keep-alive request answered), "ready <monotonic seconds>" is written
to FILE. On exit, key=value lines on stdout: connections opened, closed by
the server (per kind), connect errors, keep-alive answers by status, and
the largest number open at once.
"""

import argparse
import asyncio
import resource
import signal
import sys
import time

SLOW_HEADERS = b"POST / HTTP/1.1\r\nHost: crowd\r\nX-Slow: " + b"s" * 4000


class Crowd:
    def __init__(self, a):
        self.a = a
        self.open = 0
        self.max_open = 0
        self.opened = {"idle": 0, "slow": 0, "keepalive": 0}
        self.closed = {"idle": 0, "slow": 0, "keepalive": 0}
        self.connect_errors = 0
        self.statuses = {}
        self.stopping = asyncio.Event()
        self.held_at_stop = None
        self.ready_left = a.idle + a.slow + a.keepalive
        self.ready_event = asyncio.Event()
        self.gate = asyncio.Semaphore(64)  # connections being set up at once

    def note_ready(self):
        self.ready_left -= 1
        if self.ready_left == 0:
            self.ready_event.set()

    async def one(self, kind, first=True):
        """One connection of the crowd, opened again whenever it is closed."""
        while not self.stopping.is_set():
            writer = None
            try:
                async with self.gate:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.a.host, self.a.port), 10)
                    self.opened[kind] += 1
                    self.open += 1
                    self.max_open = max(self.max_open, self.open)
                    if kind == "keepalive":
                        await self.request(reader, writer)
                if first:
                    self.note_ready()
                    first = False
                if kind == "slow":
                    await self.slow(reader, writer)
                else:
                    await self.wait_closed(reader)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                if writer is None:
                    self.connect_errors += 1
                    if self.connect_errors <= 5:
                        print(f"crowd: connect ({kind}): {e!r}", file=sys.stderr)
                    await asyncio.sleep(0.2)
                    continue
            finally:
                if writer is not None:
                    self.open -= 1
                    writer.close()
            if not self.stopping.is_set():
                self.closed[kind] += 1

    async def request(self, reader, writer):
        writer.write(f"GET {self.a.path} HTTP/1.1\r\nHost: crowd\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "?"
        self.statuses[status] = self.statuses.get(status, 0) + 1
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        if length:
            await asyncio.wait_for(reader.readexactly(length), 10)

    async def wait_closed(self, reader):
        """Until the server closes the connection (or the crowd stops)."""
        read = asyncio.ensure_future(reader.read(65536))
        stop = asyncio.ensure_future(self.stopping.wait())
        while True:
            done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                read.cancel()
                return
            if not read.result():
                stop.cancel()
                return  # closed by the server
            # an answer to nothing (a timeout notice): read on
            read = asyncio.ensure_future(reader.read(65536))

    async def slow(self, reader, writer):
        """One byte of headers a second; stops when the server closes."""
        closed = asyncio.ensure_future(reader.read(65536))
        for i in range(len(SLOW_HEADERS)):
            if closed.done() or self.stopping.is_set():
                break
            writer.write(SLOW_HEADERS[i:i + 1])
            await writer.drain()
            try:
                await asyncio.wait_for(asyncio.shield(closed), self.a.slow_interval)
            except asyncio.TimeoutError:
                pass
        if not closed.done():
            closed.cancel()


async def main_async(a):
    crowd = Crowd(a)
    loop = asyncio.get_running_loop()
    def stop():
        if crowd.held_at_stop is None:
            crowd.held_at_stop = crowd.open
        crowd.stopping.set()

    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop)
    kinds = ["idle"] * a.idle + ["slow"] * a.slow + ["keepalive"] * a.keepalive
    tasks = [asyncio.ensure_future(crowd.one(k)) for k in kinds]
    started = time.monotonic()
    ready = asyncio.ensure_future(crowd.ready_event.wait())
    stop = asyncio.ensure_future(crowd.stopping.wait())
    await asyncio.wait({ready, stop}, timeout=a.ready_timeout, return_when=asyncio.FIRST_COMPLETED)
    ready_at = time.monotonic() if crowd.ready_event.is_set() else None
    with open(a.ready, "w") as f:
        f.write(f"ready {ready_at:.3f}\n" if ready_at else "not-ready\n")
    try:
        await asyncio.wait_for(crowd.stopping.wait(), a.seconds)
    except asyncio.TimeoutError:
        stop()
    held = crowd.held_at_stop
    await asyncio.wait(tasks, timeout=10)
    out = {
        "requested": len(kinds),
        "ready": 1 if ready_at else 0,
        "ready_seconds": round(ready_at - started, 3) if ready_at else -1,
        "open_at_stop": held,
        "max_open": crowd.max_open,
        "connect_errors": crowd.connect_errors,
    }
    for k in ("idle", "slow", "keepalive"):
        out[f"opened_{k}"] = crowd.opened[k]
        out[f"closed_by_server_{k}"] = crowd.closed[k]
    for status, n in sorted(crowd.statuses.items()):
        out[f"keepalive_status_{status}"] = n
    for k, v in out.items():
        print(f"{k}={v}")
    return 0 if ready_at else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle", type=int, default=0)
    p.add_argument("--slow", type=int, default=0)
    p.add_argument("--keepalive", type=int, default=0)
    p.add_argument("--path", default="/metrics")
    p.add_argument("--ready", required=True)
    p.add_argument("--seconds", type=float, default=3600)
    p.add_argument("--ready-timeout", type=float, default=60)
    p.add_argument("--slow-interval", type=float, default=1.0)
    a = p.parse_args()
    # one descriptor per connection, and a few more
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.idle + a.slow + a.keepalive + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
