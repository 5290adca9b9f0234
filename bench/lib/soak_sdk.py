#!/usr/bin/env python3
"""The SDK client of bench/soak: an AWS SDK for Python (boto3) application
talking to sqsn's endpoint for a fixed time.

  producer   SendMessageBatch of 10 messages, --rate messages per second
  publisher  SNS Publish to --topic-arn, --publish-rate per second (the
             topic's queue subscription brings them to the same queue)
  consumers  two threads: ReceiveMessage (up to 10, WaitTimeSeconds 10,
             with SentTimestamp), then DeleteMessageBatch

Every request is one line of --out: unix time, operation, latency in ms,
messages, and "error" with the exception's name when it failed; every
received message one line more: time, "e2e", send-to-receive ms (from
SentTimestamp, whole milliseconds), 1. A receive that returns more than
MaxNumberOfMessages counts as a failed request. Exit status 1 when more
than 1% of the requests failed or nothing was received.
"""
import argparse
import sys
import threading
import time

import boto3
from botocore.config import Config

lock = threading.Lock()
stop = threading.Event()
stats = {"requests": 0, "errors": 0, "received": 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--queue-url", required=True)
    ap.add_argument("--topic-arn", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--publish-rate", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    out = open(a.out, "a", buffering=1)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                 connect_timeout=5, read_timeout=30, max_pool_connections=8)
    kw = dict(endpoint_url=a.endpoint, region_name=a.region,
              aws_access_key_id=a.access_key, aws_secret_access_key=a.secret_key, config=cfg)
    end = time.time() + a.seconds
    body = "sqsn-soak-sdk|" + "x" * 242

    def log(op, t0, n, err=None):
        t1 = time.time()
        with lock:
            stats["requests"] += 1
            if err:
                stats["errors"] += 1
            out.write("%.3f,%s,%.3f,%d,%s\n" % (t1, op, (t1 - t0) * 1000.0, n, err or ""))

    def call(op, fn, n=0):
        t0 = time.time()
        try:
            r = fn()
            log(op, t0, n)
            return r
        except Exception as e:  # recorded, the loop goes on
            log(op, t0, n, type(e).__name__)
            time.sleep(0.2)
            return None

    def paced(rate, per_call, work):
        """Calls work() so that rate messages a second go out, per_call a time."""
        interval = per_call / rate
        nxt = time.time()
        while not stop.is_set() and time.time() < end:
            work()
            nxt += interval
            delay = nxt - time.time()
            if delay > 0:
                stop.wait(delay)
            elif delay < -5 * interval:
                nxt = time.time()  # fell behind: do not burst to catch up

    # Clients are made here, one per thread, one after the other: making
    # them is not thread-safe in older boto3 (a thread that lost the race
    # died before its first request), using them is.
    clients = {name: boto3.client(service, **kw) for name, service in
               (("producer", "sqs"), ("publisher", "sns"), ("consumer 1", "sqs"), ("consumer 2", "sqs"))}

    def producer():
        sqs = clients["producer"]
        seq = [0]

        def work():
            entries = [{"Id": "m%d" % i, "MessageBody": "%s%d" % (body, seq[0] + i)} for i in range(10)]
            seq[0] += 10
            call("send_batch", lambda: sqs.send_message_batch(QueueUrl=a.queue_url, Entries=entries), 10)
        paced(a.rate, 10, work)

    def publisher():
        sns = clients["publisher"]
        paced(a.publish_rate, 1,
              lambda: call("publish", lambda: sns.publish(TopicArn=a.topic_arn, Message=body), 1))

    def consumer(name):
        sqs = clients[name]
        while not stop.is_set() and time.time() < end:
            r = call("receive", lambda: sqs.receive_message(
                QueueUrl=a.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=10,
                AttributeNames=["SentTimestamp"]))
            msgs = (r or {}).get("Messages") or []
            if not msgs:
                continue
            now = time.time()
            if len(msgs) > 10:
                # more than MaxNumberOfMessages: an endpoint error
                ids = [m["MessageId"] for m in msgs]
                sys.stderr.write("receive returned %d messages (%d distinct ids) for MaxNumberOfMessages 10\n"
                                 % (len(ids), len(set(ids))))
                with lock:
                    stats["errors"] += 1
                    out.write("%.3f,receive_over_max,0,%d,TooManyMessages\n" % (now, len(msgs)))
            with lock:
                stats["received"] += len(msgs)
                for m in msgs:
                    sent = m.get("Attributes", {}).get("SentTimestamp")
                    if sent:
                        out.write("%.3f,e2e,%.3f,1,\n" % (now, now * 1000.0 - float(sent)))
            entries = [{"Id": "d%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            call("delete_batch", lambda: sqs.delete_message_batch(QueueUrl=a.queue_url, Entries=entries),
                 len(entries))

    threads = [threading.Thread(target=producer, daemon=True),
               threading.Thread(target=publisher, daemon=True),
               threading.Thread(target=consumer, args=("consumer 1",), daemon=True),
               threading.Thread(target=consumer, args=("consumer 2",), daemon=True)]
    for t in threads:
        t.start()
    try:
        while time.time() < end and any(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop.set()
    for t in threads:
        t.join(timeout=15)
    out.close()
    print("requests=%d errors=%d received=%d" % (stats["requests"], stats["errors"], stats["received"]))
    bad = stats["received"] == 0 or stats["errors"] > 0.01 * max(stats["requests"], 1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
