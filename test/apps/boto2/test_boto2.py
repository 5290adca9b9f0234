#!/usr/bin/python3
"""boto 2 (Debian's python3-boto 2.49) on sqsn, unmodified: the SQS
library of older Python services. It sends its queue requests to the queue
URL (POST or GET to /<account>/<queue>) and one-element lists without their
index (AttributeName=All).

Run by test/apps/run, which makes the queue SQSN_APP_QUEUE and a role that
may only send to it and receive from it, with an access key
(SQSN_APP_KEY_ID / SQSN_APP_SECRET). A worker's loop: look the queue up by
name, write messages (boto's Message base64-encodes the body) with
attributes, count them, read them with a long poll, extend one, delete
them one by one and in a batch; the queue ends empty as SQL sees it; the
role may not change the queue's attributes.
"""

import base64
import json
import os
import subprocess
import unittest
import urllib.parse

import boto.exception
import boto.sqs.connection
from boto.sqs.message import Message
from boto.sqs.regioninfo import SQSRegionInfo

ENDPOINT = urllib.parse.urlsplit(os.environ["SQSN_API_URL"])  # http://127.0.0.1:<port>
QUEUE = os.environ["SQSN_APP_QUEUE"]


def connect():
    """What a user writes: the key, the endpoint's host and port, plain HTTP."""
    return boto.sqs.connection.SQSConnection(
        os.environ["SQSN_APP_KEY_ID"], os.environ["SQSN_APP_SECRET"],
        is_secure=False, port=ENDPOINT.port,
        region=SQSRegionInfo(name="us-east-1", endpoint=ENDPOINT.hostname))


def in_queue():
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c",
                          "SELECT sqsn.sq_get_queue_attributes('%s')" % QUEUE],
                         check=True, capture_output=True, text=True).stdout
    a = json.loads(out)
    return a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]


class Boto2Worker(unittest.TestCase):
    def test_write_count_read_delete(self):
        conn = connect()
        q = conn.get_queue(QUEUE)
        self.assertIsNotNone(q, "get_queue finds the queue")
        self.assertEqual(q.url, "%s://%s/%s/%s" % (ENDPOINT.scheme, ENDPOINT.netloc,
                                                   os.environ.get("SQSN_API_ACCOUNT_ID", "000000000000"),
                                                   QUEUE))
        for i in range(7):
            m = Message()
            m.set_body("job %d" % i)
            m.message_attributes = {"n": {"data_type": "Number", "string_value": str(i)}}
            self.assertIsNotNone(q.write(m).id)
        self.assertEqual(in_queue(), (7, 0))
        self.assertEqual(q.count(), 7, "ApproximateNumberOfMessages from AttributeName=...")
        attrs = q.get_attributes()  # AttributeName=All
        self.assertTrue(attrs["QueueArn"].endswith(":" + QUEUE), attrs)
        stored = subprocess.run(["psql", "-X", "-At", "-c",
                                 "SELECT body FROM sqsn.sq_receive('%s', 1, 0)" % QUEUE],
                                check=True, capture_output=True, text=True).stdout.strip()
        self.assertTrue(base64.b64decode(stored).decode().startswith("job "), stored)

        seen = {}
        while True:
            batch = q.get_messages(num_messages=5, wait_time_seconds=1,
                                   message_attributes=["All"], attributes=["ApproximateReceiveCount"])
            if not batch:
                break
            for m in batch:
                seen[m.get_body()] = m.message_attributes["n"]["string_value"]
            first, rest = batch[0], batch[1:]
            self.assertTrue(conn.change_message_visibility(q, first.receipt_handle, 60))
            self.assertTrue(q.delete_message(first))
            if rest:
                result = q.delete_message_batch(rest)
                self.assertEqual(len(result.results), len(rest))
                self.assertEqual(result.errors, [])
        self.assertEqual(seen, {"job %d" % i: str(i) for i in range(7)})
        self.assertEqual(in_queue(), (0, 0))

        with self.assertRaises(boto.exception.SQSError) as cm:
            q.set_attribute("VisibilityTimeout", 45)  # Attribute.Name=...: needs admin
        self.assertEqual((cm.exception.status, cm.exception.error_code), (403, "AccessDenied"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
