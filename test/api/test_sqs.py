#!/usr/bin/python3
"""SQS through the endpoint with Debian's boto3 1.26 (the query protocol).

Run by test/api/run, which exports SQSN_API_URL, the access keys, the region
and PGHOST/PGPORT/PGDATABASE. Every action of SQS, long polling, dead-letter
queues, FIFO queues, batch partial failures, the MD5 checksums (checked
against this file's own implementation of the algorithm), the error codes,
and requests no SDK would send (raw HTTP, signed with botocore's SigV4
signer): the endpoint answers each with an AWS error and keeps serving.
"""

import base64
import hashlib
import http.client
import json
import re
import struct
import threading
import time
import unittest
import urllib.parse
import uuid
from xml.etree import ElementTree

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

# every queue of this file: the harness deletes apitest* queues
from apienv import (ACCOUNT, AUTH, DENIED_KEY, DENIED_SECRET, KEY, REGION,  # noqa: E402
                    SECRET, URL, sql)
import apienv  # noqa: E402

PREFIX = "apitest-py-%s-" % uuid.uuid4().hex[:6]

def client(key=KEY, secret=SECRET, service="sqs"):
    return apienv.client(service, key, secret)


HOST, PORT = urllib.parse.urlsplit(URL).hostname, urllib.parse.urlsplit(URL).port


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def md5_of_attributes(attrs):
    """MD5OfMessageAttributes: names in byte order; for each the length-
    prefixed name, DataType, a transport byte (1 String/Number, 2 Binary) and
    the length-prefixed value."""
    buf = b""
    for name in sorted(attrs, key=lambda n: n.encode("utf-8")):
        a = attrs[name]
        dt = a["DataType"]
        nb = name.encode("utf-8")
        db = dt.encode("utf-8")
        buf += struct.pack(">I", len(nb)) + nb + struct.pack(">I", len(db)) + db
        if dt.split(".")[0] == "Binary":
            v = a["BinaryValue"]
            if isinstance(v, str):
                v = base64.b64decode(v)
            buf += b"\x02" + struct.pack(">I", len(v)) + v
        else:
            v = a["StringValue"].encode("utf-8")
            buf += b"\x01" + struct.pack(">I", len(v)) + v
    return md5_hex(buf)


def error_code(exc):
    return exc.response["Error"]["Code"]


def http_status(exc):
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


class SqsTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sqs = client()

    def queue(self, suffix, attributes=None):
        args = {"QueueName": PREFIX + suffix}
        if attributes:
            args["Attributes"] = attributes
        return self.sqs.create_queue(**args)["QueueUrl"]

    def assertError(self, code, fn, *args, status=None, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(error_code(cm.exception), code, cm.exception.response)
        if status is not None:
            self.assertEqual(http_status(cm.exception), status)
        return cm.exception

    def attrs(self, url, *names):
        return self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=list(names) or ["All"])["Attributes"]


class TestMd5(unittest.TestCase):
    def test_self_check(self):
        # the examples of AWS_WIRE.md section 2.5
        self.assertEqual(md5_of_attributes({"a": {"DataType": "String", "StringValue": "v"}}),
                         "a18cbb58171ebf4ce88d9fb787f9210b")
        self.assertEqual(md5_hex(b"hi"), "49f68a5c8493ec2c0bf489821c21fc3b")


class TestQueues(SqsTestCase):
    def test_create_get_url_list(self):
        attrs = {"VisibilityTimeout": "45", "MessageRetentionPeriod": "3600",
                 "MaximumMessageSize": "2048", "DelaySeconds": "0",
                 "ReceiveMessageWaitTimeSeconds": "2"}
        url = self.queue("create", attrs)
        self.assertEqual(url, "%s/%s/%screate" % (URL, ACCOUNT, PREFIX))
        # idempotent with the same attributes
        self.assertEqual(self.queue("create", attrs), url)
        # not with different ones
        self.assertError("QueueAlreadyExists", self.queue, "create", {"VisibilityTimeout": "46"})
        # attributes left out are not compared, also after a change
        self.assertEqual(self.queue("create"), url)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "3"})
        self.assertEqual(self.queue("create", {"VisibilityTimeout": "45"}), url)
        self.assertError("QueueAlreadyExists", self.queue, "create", {"DelaySeconds": "0"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
        self.assertEqual(self.sqs.get_queue_url(QueueName=PREFIX + "create")["QueueUrl"], url)
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.get_queue_url,
                         QueueName=PREFIX + "nosuchqueue", status=400)
        a = self.attrs(url)
        self.assertEqual(a["VisibilityTimeout"], "45")
        self.assertEqual(a["MessageRetentionPeriod"], "3600")
        self.assertEqual(a["MaximumMessageSize"], "2048")
        self.assertEqual(a["ReceiveMessageWaitTimeSeconds"], "2")
        self.assertEqual(a["QueueArn"], "arn:aws:sqs:%s:%s:%screate" % (REGION, ACCOUNT, PREFIX))
        # timestamps in epoch seconds
        self.assertLess(abs(int(a["CreatedTimestamp"]) - time.time()), 3600)
        self.assertLess(abs(int(a["LastModifiedTimestamp"]) - time.time()), 3600)

    def test_invalid_names(self):
        self.assertError("InvalidParameterValue", self.queue, "bad name!")
        self.assertError("InvalidParameterValue", self.queue, "x" * 81)
        # a FIFO queue's name ends in .fifo
        e = self.assertError("InvalidParameterValue", self.queue, "nofifo", {"FifoQueue": "true"})
        self.assertEqual(http_status(e), 400)

    def test_list_queues_prefix_and_pages(self):
        urls = sorted(self.queue("list-%d" % i) for i in range(5))
        self.queue("other")
        got = self.sqs.list_queues(QueueNamePrefix=PREFIX + "list-")
        self.assertEqual(sorted(got["QueueUrls"]), urls)
        self.assertNotIn("NextToken", got)
        seen = []
        token = None
        pages = 0
        while True:
            args = {"QueueNamePrefix": PREFIX + "list-", "MaxResults": 2}
            if token:
                args["NextToken"] = token
            page = self.sqs.list_queues(**args)
            pages += 1
            self.assertLessEqual(len(page["QueueUrls"]), 2)
            seen += page["QueueUrls"]
            token = page.get("NextToken")
            if not token:
                break
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(seen), urls)
        # nothing matches: no QueueUrls
        self.assertEqual(self.sqs.list_queues(QueueNamePrefix=PREFIX + "zzz").get("QueueUrls", []), [])
        self.assertError("InvalidParameterValue", self.sqs.list_queues, MaxResults=1001)

    def test_list_queues_token_is_opaque_and_checked(self):
        names = [PREFIX + "tok-%d" % i for i in range(3)]
        for n in names:
            self.sqs.create_queue(QueueName=n)
        page = self.sqs.list_queues(QueueNamePrefix=PREFIX + "tok-", MaxResults=1)
        token = page["NextToken"]
        # not the queue name: a client cannot make one up from a name
        self.assertNotIn(PREFIX, token)
        rest = self.sqs.list_queues(QueueNamePrefix=PREFIX + "tok-", MaxResults=5, NextToken=token)
        self.assertEqual([u.rsplit("/", 1)[1] for u in rest["QueueUrls"]], names[1:])
        self.assertNotIn("NextToken", rest)
        # a queue name, garbage, or another action's token is refused
        for bad in (names[0], "not a token!", base64.b64encode(b"ListQueues\nbad name").decode(),
                    base64.b64encode(("ListDeadLetterSourceQueues\n" + names[0]).encode()).decode()):
            self.assertError("InvalidParameterValue", self.sqs.list_queues, MaxResults=1,
                             NextToken=bad, status=400)

    def test_one_mib_messages(self):
        url = self.queue("onemib", {"MaximumMessageSize": "1048576"})
        self.assertEqual(self.attrs(url, "MaximumMessageSize")["MaximumMessageSize"], "1048576")
        # non-ASCII characters: the form-encoded request is ~3 MiB
        body = ("\u00e9\u65e5" * 200000) + "x" * (1048576 - 1000000)
        self.assertEqual(len(body.encode()), 1048576)
        sent = self.sqs.send_message(QueueUrl=url, MessageBody=body)
        self.assertEqual(sent["MD5OfMessageBody"], md5_hex(body.encode()))
        got = self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
        self.assertEqual(got["Body"], body)
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=url,
                         MessageBody=body + "y")
        # the default stays 256 KiB; 1 MiB is the largest setting
        default = self.queue("onemib-default")
        self.assertEqual(self.attrs(default, "MaximumMessageSize")["MaximumMessageSize"], "262144")
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=default,
                         MessageBody="x" * 262145)
        self.assertError("InvalidAttributeValue", self.sqs.set_queue_attributes, QueueUrl=default,
                         Attributes={"MaximumMessageSize": "1048577"})
        self.sqs.set_queue_attributes(QueueUrl=default, Attributes={"MaximumMessageSize": "1048576"})
        self.sqs.send_message(QueueUrl=default, MessageBody="x" * 1048576)

    def test_tags(self):
        url = self.sqs.create_queue(QueueName=PREFIX + "tags", tags={"team": "orders", "env": "prod"})["QueueUrl"]
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"team": "orders", "env": "prod"})
        self.sqs.tag_queue(QueueUrl=url, Tags={"env": "staging", "empty": ""})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["team", "not-there"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"env": "staging", "empty": ""})
        # CreateQueue of the existing queue leaves its tags alone
        self.sqs.create_queue(QueueName=PREFIX + "tags", tags={"other": "x"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"env": "staging", "empty": ""})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["env", "empty"])
        self.assertNotIn("Tags", self.sqs.list_queue_tags(QueueUrl=url))
        # limits, characters and the reserved prefix
        for bad in ({"aws:x": "v"}, {"k" * 129: "v"}, {"k": "v" * 257}, {"bad!": "v"}):
            self.assertError("InvalidParameterValue", self.sqs.tag_queue, QueueUrl=url, Tags=bad, status=400)
        self.sqs.tag_queue(QueueUrl=url, Tags={"k%d" % i: "v" for i in range(50)})
        self.assertError("InvalidParameterValue", self.sqs.tag_queue, QueueUrl=url, Tags={"k50": "v"})
        self.assertEqual(len(self.sqs.list_queue_tags(QueueUrl=url)["Tags"]), 50)
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.tag_queue,
                         QueueUrl="%s/%s/%snosuch" % (URL, ACCOUNT, PREFIX), Tags={"a": "b"})
        # refused tags on create leave no queue behind
        self.assertError("InvalidParameterValue", self.sqs.create_queue,
                         QueueName=PREFIX + "badtags", tags={"aws:x": "v"})
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.get_queue_url,
                         QueueName=PREFIX + "badtags")
        denied = client(DENIED_KEY, DENIED_SECRET)
        self.assertError("AccessDenied", denied.tag_queue, QueueUrl=url, Tags={"a": "b"}, status=403)
        self.assertError("AccessDenied", denied.untag_queue, QueueUrl=url, TagKeys=["k1"], status=403)

    def test_list_dead_letter_source_queues_pages(self):
        dlq = self.queue("dlsrc-dead")
        arn = self.attrs(dlq, "QueueArn")["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
        srcs = [self.queue("dlsrc-%d" % i, {"RedrivePolicy": policy}) for i in range(3)]
        self.queue("dlsrc-other")
        got = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)
        self.assertEqual(sorted(got["queueUrls"]), sorted(srcs))
        self.assertNotIn("NextToken", got)
        seen, token, pages = [], None, 0
        while True:
            args = {"QueueUrl": dlq, "MaxResults": 2}
            if token:
                args["NextToken"] = token
            page = self.sqs.list_dead_letter_source_queues(**args)
            pages += 1
            seen += page["queueUrls"]
            token = page.get("NextToken")
            if not token:
                break
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual((pages, sorted(seen)), (2, sorted(srcs)))
        # a queue nothing redrives into has none
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=srcs[0]).get("queueUrls", []), [])
        self.assertError("AWS.SimpleQueueService.NonExistentQueue",
                         self.sqs.list_dead_letter_source_queues,
                         QueueUrl="%s/%s/%snosuch" % (URL, ACCOUNT, PREFIX))
        self.assertError("InvalidParameterValue", self.sqs.list_dead_letter_source_queues,
                         QueueUrl=dlq, MaxResults=0)
        self.assertError("InvalidParameterValue", self.sqs.list_dead_letter_source_queues,
                         QueueUrl=dlq, MaxResults=1, NextToken="bogus")

    def test_attributes(self):
        url = self.queue("attrs")
        a = self.attrs(url)
        for name in ("VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod",
                     "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "QueueArn",
                     "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                     "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp",
                     "LastModifiedTimestamp"):
            self.assertIn(name, a)
        self.assertEqual(a["VisibilityTimeout"], "30")
        self.assertEqual(a["DelaySeconds"], "0")
        self.assertNotIn("FifoQueue", a)
        # by name: only those
        self.assertEqual(self.attrs(url, "VisibilityTimeout", "DelaySeconds"),
                         {"VisibilityTimeout": "30", "DelaySeconds": "0"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "VisibilityTimeout": "60", "DelaySeconds": "1", "MessageRetentionPeriod": "7200"})
        self.assertEqual(self.attrs(url, "VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod"),
                         {"VisibilityTimeout": "60", "DelaySeconds": "1", "MessageRetentionPeriod": "7200"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
        # read-only and unknown names; values out of range
        self.assertError("InvalidAttributeName", self.sqs.set_queue_attributes,
                         QueueUrl=url, Attributes={"QueueArn": "arn:aws:sqs:x:y:z"})
        self.assertError("InvalidAttributeName", self.sqs.set_queue_attributes,
                         QueueUrl=url, Attributes={"NoSuchAttribute": "1"})
        self.assertError("InvalidAttributeName", self.sqs.get_queue_attributes,
                         QueueUrl=url, AttributeNames=["NoSuchAttribute"])
        self.assertError("InvalidAttributeValue", self.sqs.set_queue_attributes,
                         QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
        self.assertError("InvalidAttributeValue", self.sqs.set_queue_attributes,
                         QueueUrl=url, Attributes={"DelaySeconds": "abc"})
        self.assertEqual(self.attrs(url, "VisibilityTimeout"), {"VisibilityTimeout": "60"})

        # the read-only counters
        self.sqs.send_message(QueueUrl=url, MessageBody="one")
        self.sqs.send_message(QueueUrl=url, MessageBody="two")
        self.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
        self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
        a = self.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                       "ApproximateNumberOfMessagesDelayed")
        self.assertEqual(a, {"ApproximateNumberOfMessages": "1",
                             "ApproximateNumberOfMessagesNotVisible": "1",
                             "ApproximateNumberOfMessagesDelayed": "1"})

    def test_purge_and_delete_queue(self):
        url = self.queue("purge")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
        self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "0"})
        self.assertEqual(self.sqs.receive_message(QueueUrl=url).get("Messages", []), [])
        self.sqs.delete_queue(QueueUrl=url)
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.get_queue_url,
                         QueueName=PREFIX + "purge")
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.send_message,
                         QueueUrl=url, MessageBody="x")
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.delete_queue,
                         QueueUrl=url)
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.purge_queue,
                         QueueUrl=url)


class TestMessages(SqsTestCase):
    def test_send_receive_with_attributes(self):
        url = self.queue("send")
        body = "h\u00e9llo \u2603 \U0001F600 <&> line\r\nend"
        mattrs = {
            "color": {"DataType": "String", "StringValue": "red"},
            "size": {"DataType": "Number", "StringValue": "42"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
            "kind": {"DataType": "String.custom", "StringValue": "k\u00fc"},
        }
        r = self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=mattrs)
        self.assertEqual(r["MD5OfMessageBody"], md5_hex(body.encode("utf-8")))
        self.assertEqual(r["MD5OfMessageAttributes"], md5_of_attributes(mattrs))
        self.assertRegex(r["MessageId"], r"^[0-9a-f-]{36}$")
        self.assertNotIn("SequenceNumber", r)
        # without attributes there is no attribute checksum
        r2 = self.sqs.send_message(QueueUrl=url, MessageBody="plain")
        self.assertNotIn("MD5OfMessageAttributes", r2)

        before = int(time.time() * 1000)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                       AttributeNames=["All"], MessageAttributeNames=["All"])
        m = got["Messages"][0]
        self.assertEqual(m["MessageId"], r["MessageId"])
        self.assertEqual(m["Body"], body)
        self.assertEqual(m["MD5OfBody"], md5_hex(body.encode("utf-8")))
        self.assertEqual(m["MD5OfMessageAttributes"], md5_of_attributes(mattrs))
        self.assertEqual(m["MessageAttributes"]["color"], {"DataType": "String", "StringValue": "red"})
        self.assertEqual(m["MessageAttributes"]["size"], {"DataType": "Number", "StringValue": "42"})
        self.assertEqual(m["MessageAttributes"]["blob"],
                         {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"})
        self.assertEqual(m["MessageAttributes"]["kind"],
                         {"DataType": "String.custom", "StringValue": "k\u00fc"})
        sa = m["Attributes"]
        self.assertEqual(sa["ApproximateReceiveCount"], "1")
        sent = int(sa["SentTimestamp"])
        self.assertLess(abs(sent - before), 600_000, "SentTimestamp is in milliseconds")
        self.assertGreaterEqual(int(sa["ApproximateFirstReceiveTimestamp"]), sent)
        self.assertTrue(m["ReceiptHandle"])

        # MaxNumberOfMessages and the per-receive visibility timeout
        for i in range(4):
            self.sqs.send_message(QueueUrl=url, MessageBody="bulk%d" % i)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        self.assertEqual(sorted(x["Body"] for x in got["Messages"]),
                         ["bulk0", "bulk1", "bulk2", "bulk3", "plain"])
        # neither system nor message attributes unless asked
        self.assertNotIn("Attributes", got["Messages"][0])
        self.assertNotIn("MessageAttributes", got["Messages"][0])
        self.assertEqual(self.sqs.receive_message(QueueUrl=url).get("Messages", []), [])

        self.assertError("InvalidParameterValue", self.sqs.receive_message,
                         QueueUrl=url, MaxNumberOfMessages=11)
        self.assertError("InvalidParameterValue", self.sqs.receive_message,
                         QueueUrl=url, MaxNumberOfMessages=0)
        self.assertError("InvalidParameterValue", self.sqs.receive_message,
                         QueueUrl=url, WaitTimeSeconds=21)
        self.assertError("InvalidParameterValue", self.sqs.receive_message,
                         QueueUrl=url, VisibilityTimeout=43201)

    def test_attribute_selection(self):
        url = self.queue("select")
        mattrs = {
            "app.x": {"DataType": "String", "StringValue": "1"},
            "app.y": {"DataType": "Number", "StringValue": "2"},
            "other": {"DataType": "String", "StringValue": "3"},
        }
        self.sqs.send_message(QueueUrl=url, MessageBody="sel", MessageAttributes=mattrs)

        def receive(**kw):
            m = self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, **kw)["Messages"][0]
            if "MessageAttributes" in m:
                # the checksum covers the attributes returned
                self.assertEqual(m["MD5OfMessageAttributes"], md5_of_attributes(m["MessageAttributes"]))
            return m

        m = receive(MessageAttributeNames=["app.*"])
        self.assertEqual(sorted(m["MessageAttributes"]), ["app.x", "app.y"])
        m = receive(MessageAttributeNames=["other"])
        self.assertEqual(sorted(m["MessageAttributes"]), ["other"])
        m = receive(MessageAttributeNames=[".*"])
        self.assertEqual(sorted(m["MessageAttributes"]), ["app.x", "app.y", "other"])
        m = receive(MessageAttributeNames=["nomatch"])
        self.assertNotIn("MessageAttributes", m)
        m = receive(AttributeNames=["ApproximateReceiveCount", "SentTimestamp"])
        self.assertEqual(sorted(m["Attributes"]), ["ApproximateReceiveCount", "SentTimestamp"])
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "5")
        m = receive(AttributeNames=["All"])
        self.assertIn("ApproximateFirstReceiveTimestamp", m["Attributes"])
        self.assertNotIn("MessageGroupId", m["Attributes"])

    def test_sender_id_and_attribute_names(self):
        # SenderId: the role the access key maps to (or the SQL role that sent)
        name = PREFIX + "sender"
        url = self.queue("sender")
        superuser = sql("SELECT current_user")
        keyed = "sqsn_api_tester" if AUTH == "sigv4" else sql(
            "SELECT rolname FROM pg_roles WHERE oid = 10")
        self.sqs.send_message(QueueUrl=url, MessageBody="by key")
        sql("SELECT sqsn.sq_send('%s', 'by sql')" % name)
        if AUTH == "sigv4":
            # another key, another role
            sql("SELECT sqsn.sq_grant('%s', 'sqsn_api_denied', ARRAY['send'])" % name)
            client(DENIED_KEY, DENIED_SECRET).send_message(QueueUrl=url, MessageBody="by other key")
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       AttributeNames=["SenderId"])["Messages"]
        senders = {m["Body"]: m["Attributes"] for m in got}
        self.assertEqual(senders["by key"], {"SenderId": keyed})
        self.assertEqual(senders["by sql"], {"SenderId": superuser})
        if AUTH == "sigv4":
            self.assertEqual(senders["by other key"], {"SenderId": "sqsn_api_denied"})

        # boto3 1.26 predates MessageSystemAttributeNames: signed query requests
        def names(**kw):
            return sorted(receive_query(url, **kw)[0]["Attributes"])

        every = ["ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId",
                 "SentTimestamp"]
        # the legacy member, the new one, both (their union), All in either
        self.assertEqual(names(AttributeName=["SenderId"]), ["SenderId"])
        self.assertEqual(names(MessageSystemAttributeName=["SentTimestamp"]), ["SentTimestamp"])
        self.assertEqual(names(AttributeName=["SentTimestamp"],
                               MessageSystemAttributeName=["SenderId"]),
                         ["SenderId", "SentTimestamp"])
        self.assertEqual(names(AttributeName=["All"]), every)
        self.assertEqual(names(MessageSystemAttributeName=["All"]), every)
        self.assertEqual(names(AttributeName=["SenderId"], MessageSystemAttributeName=["All"]),
                         every)
        self.assertEqual(names(), [])
        # names of attributes a message does not have select nothing
        self.assertEqual(names(MessageSystemAttributeName=[
            "DeadLetterQueueSourceArn", "MessageGroupId", "SequenceNumber"]), [])

    def test_message_attribute_errors(self):
        url = self.queue("attrerr")
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=url,
                         MessageBody="x",
                         MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "v"}})
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=url,
                         MessageBody="x",
                         MessageAttributes={"a": {"DataType": "Date", "StringValue": "v"}})
        eleven = {"a%d" % i: {"DataType": "String", "StringValue": "v"} for i in range(11)}
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=url,
                         MessageBody="x", MessageAttributes=eleven)
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=url,
                         MessageBody="x", DelaySeconds=901)
        self.assertError("InvalidMessageContents", self.sqs.send_message, QueueUrl=url,
                         MessageBody="bad \x01 char")
        small = self.queue("small", {"MaximumMessageSize": "1024"})
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=small,
                         MessageBody="y" * 1025)
        self.sqs.send_message(QueueUrl=small, MessageBody="y" * 1000)

    def test_send_batch(self):
        url = self.queue("sendbatch")
        entries = [
            {"Id": "a", "MessageBody": "first",
             "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}},
            {"Id": "b", "MessageBody": "second", "DelaySeconds": 0},
            {"Id": "bad", "MessageBody": "not \x01 allowed"},
            {"Id": "c_-9", "MessageBody": "third"},
        ]
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        ok = {e["Id"]: e for e in r["Successful"]}
        self.assertEqual(sorted(ok), ["a", "b", "c_-9"])
        self.assertEqual(ok["a"]["MD5OfMessageBody"], md5_hex(b"first"))
        self.assertEqual(ok["a"]["MD5OfMessageAttributes"],
                         md5_of_attributes(entries[0]["MessageAttributes"]))
        self.assertNotIn("MD5OfMessageAttributes", ok["b"])
        self.assertEqual(len(r["Failed"]), 1)
        f = r["Failed"][0]
        self.assertEqual(f["Id"], "bad")
        self.assertTrue(f["SenderFault"])
        self.assertEqual(f["Code"], "InvalidMessageContents")
        self.assertTrue(f["Message"])
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        self.assertEqual(sorted(m["Body"] for m in got["Messages"]), ["first", "second", "third"])

    def test_batch_errors(self):
        url = self.queue("batcherr")
        self.assertError("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                         self.sqs.send_message_batch, QueueUrl=url,
                         Entries=[{"Id": "e%d" % i, "MessageBody": "x"} for i in range(11)])
        self.assertError("AWS.SimpleQueueService.EmptyBatchRequest",
                         self.sqs.send_message_batch, QueueUrl=url, Entries=[])
        self.assertError("AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                         self.sqs.send_message_batch, QueueUrl=url,
                         Entries=[{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}])
        self.assertError("AWS.SimpleQueueService.InvalidBatchEntryId",
                         self.sqs.send_message_batch, QueueUrl=url,
                         Entries=[{"Id": "not ok!", "MessageBody": "x"}])
        self.assertError("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                         self.sqs.delete_message_batch, QueueUrl=url,
                         Entries=[{"Id": "e%d" % i, "ReceiptHandle": "h"} for i in range(11)])
        self.assertError("AWS.SimpleQueueService.EmptyBatchRequest",
                         self.sqs.change_message_visibility_batch, QueueUrl=url, Entries=[])
        self.assertError("AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                         self.sqs.delete_message_batch, QueueUrl=url,
                         Entries=[{"Id": "s", "ReceiptHandle": "h1"}, {"Id": "s", "ReceiptHandle": "h2"}])
        # none of it sent anything
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "0"})

    def test_delete_and_visibility(self):
        url = self.queue("vis")
        for i in range(4):
            self.sqs.send_message(QueueUrl=url, MessageBody="v%d" % i)
        msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        VisibilityTimeout=600)["Messages"]
        self.assertEqual(len(msgs), 4)
        by_body = {m["Body"]: m["ReceiptHandle"] for m in msgs}
        self.assertEqual(self.sqs.receive_message(QueueUrl=url).get("Messages", []), [])

        # ChangeMessageVisibility to 0: visible again, received a second time
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=by_body["v0"],
                                           VisibilityTimeout=0)
        m = self.sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"],
                                     VisibilityTimeout=600)["Messages"][0]
        self.assertEqual(m["Body"], "v0")
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "2")
        by_body["v0"] = m["ReceiptHandle"]
        self.assertError("InvalidParameterValue", self.sqs.change_message_visibility,
                         QueueUrl=url, ReceiptHandle=by_body["v0"], VisibilityTimeout=43201)
        self.assertError("ReceiptHandleIsInvalid", self.sqs.change_message_visibility,
                         QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=0)

        # the batch form, with an invalid handle among valid ones
        r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "one", "ReceiptHandle": by_body["v1"], "VisibilityTimeout": 0},
            {"Id": "two", "ReceiptHandle": by_body["v2"], "VisibilityTimeout": 0},
            {"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0},
        ])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), ["one", "two"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]],
                         [("bad", "ReceiptHandleIsInvalid", True)])
        again = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                         VisibilityTimeout=600)["Messages"]
        self.assertEqual(sorted(m["Body"] for m in again), ["v1", "v2"])
        for m in again:
            by_body[m["Body"]] = m["ReceiptHandle"]

        # DeleteMessage, and the batch form with an invalid handle
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=by_body["v0"])
        # a stale but once valid handle deletes nothing and is no error
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=by_body["v0"])
        self.assertError("ReceiptHandleIsInvalid", self.sqs.delete_message,
                         QueueUrl=url, ReceiptHandle="garbage")
        r = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "x1", "ReceiptHandle": by_body["v1"]},
            {"Id": "x2", "ReceiptHandle": by_body["v2"]},
            {"Id": "x3", "ReceiptHandle": "also-garbage"},
        ])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), ["x1", "x2"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]],
                         [("x3", "ReceiptHandleIsInvalid", True)])
        self.sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "x4", "ReceiptHandle": by_body["v3"]}])
        a = self.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        self.assertEqual(a, {"ApproximateNumberOfMessages": "0",
                             "ApproximateNumberOfMessagesNotVisible": "0"})
        self.assertEqual(sql("SELECT visible + in_flight + delayed FROM sqsn.queue_stats "
                             "WHERE queue_name = '%svis'" % PREFIX), "0")


class TestLongPolling(SqsTestCase):
    def test_wakes_on_send(self):
        url = self.queue("poll")
        other = client()
        result = {}

        def receive():
            t0 = time.monotonic()
            result["r"] = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
            result["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=receive)
        t.start()
        time.sleep(1.0)
        other.send_message(QueueUrl=url, MessageBody="wake up")
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertEqual([m["Body"] for m in result["r"].get("Messages", [])], ["wake up"])
        self.assertLess(result["elapsed"], 4.9, "the waiting receive returned when the message came")

    def test_waits_when_empty(self):
        url = self.queue("empty")
        t0 = time.monotonic()
        r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.get("Messages", []), [])
        self.assertGreaterEqual(elapsed, 1.8)
        self.assertLess(elapsed, 10)

    def test_queue_default_wait(self):
        # no WaitTimeSeconds: the queue's ReceiveMessageWaitTimeSeconds
        url = self.queue("defwait", {"ReceiveMessageWaitTimeSeconds": "2"})
        t0 = time.monotonic()
        r = self.sqs.receive_message(QueueUrl=url)
        self.assertEqual(r.get("Messages", []), [])
        self.assertGreaterEqual(time.monotonic() - t0, 1.8)
        t0 = time.monotonic()
        self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
        self.assertLess(time.monotonic() - t0, 1.5)


class TestDeadLetterQueue(SqsTestCase):
    def test_redrive(self):
        dlq = self.queue("dlq")
        dlq_arn = self.attrs(dlq, "QueueArn")["QueueArn"]
        policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
        src = self.queue("src", {"RedrivePolicy": json.dumps(policy)})
        got = json.loads(self.attrs(src, "RedrivePolicy")["RedrivePolicy"])
        self.assertEqual(got["deadLetterTargetArn"], dlq_arn)
        self.assertEqual(int(got["maxReceiveCount"]), 2)
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        for i in range(2):
            m = self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0,
                                         AttributeNames=["ApproximateReceiveCount"])["Messages"]
            self.assertEqual(m[0]["Attributes"]["ApproximateReceiveCount"], str(i + 1))
        self.assertEqual(self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0).get("Messages", []), [])
        moved = self.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=2)["Messages"]
        self.assertEqual([m["Body"] for m in moved], ["poison"])

        # the dead-letter queue names where the message came from, and who sent it
        src_arn = self.attrs(src, "QueueArn")["QueueArn"]
        self.sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=moved[0]["ReceiptHandle"],
                                           VisibilityTimeout=0)
        sender = "sqsn_api_tester" if AUTH == "sigv4" else sql(
            "SELECT rolname FROM pg_roles WHERE oid = 10")
        again = receive_query(dlq, MessageSystemAttributeName=["DeadLetterQueueSourceArn",
                                                               "SenderId"])
        self.assertEqual(again[0]["Attributes"],
                         {"DeadLetterQueueSourceArn": src_arn, "SenderId": sender})
        every = self.sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0,
                                         AttributeNames=["All"])["Messages"][0]["Attributes"]
        self.assertEqual(every["DeadLetterQueueSourceArn"], src_arn)
        self.assertEqual(every["ApproximateReceiveCount"], "3")
        unasked = self.sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0,
                                           AttributeNames=["SenderId"])["Messages"][0]
        self.assertNotIn("DeadLetterQueueSourceArn", unasked["Attributes"])
        # a message of the source queue itself has none
        self.sqs.send_message(QueueUrl=src, MessageBody="fresh")
        fresh = self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0,
                                         AttributeNames=["All"])["Messages"][0]
        self.assertNotIn("DeadLetterQueueSourceArn", fresh["Attributes"])
        self.assertEqual(fresh["Attributes"]["SenderId"], sender)

        # a policy naming a queue that does not exist; a malformed one
        missing = "arn:aws:sqs:%s:%s:%snone" % (REGION, ACCOUNT, PREFIX)
        with self.assertRaises(ClientError) as cm:
            self.sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": missing, "maxReceiveCount": 3})})
        self.assertIn(error_code(cm.exception),
                      ("AWS.SimpleQueueService.NonExistentQueue", "InvalidParameterValue"))
        # (SQS answers InvalidParameterValue to a RedrivePolicy that is no JSON map)
        self.assertError("InvalidParameterValue", self.sqs.set_queue_attributes, QueueUrl=src,
                         Attributes={"RedrivePolicy": "{not json"})
        # maxReceiveCount as a string; then cleared
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})
        self.assertEqual(int(json.loads(self.attrs(src, "RedrivePolicy")["RedrivePolicy"])["maxReceiveCount"]), 5)
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": ""})
        self.assertNotIn("RedrivePolicy", self.attrs(src))


class TestStoredAttributes(SqsTestCase):
    def test_policy_and_kms_attributes_are_kept(self):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}]}
        url = self.queue("kept", {"Policy": json.dumps(policy), "KmsMasterKeyId": "alias/aws/sqs"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsDataKeyReusePeriodSeconds": "600"})
        a = self.attrs(url, "All")
        self.assertEqual(json.loads(a["Policy"]), policy)
        self.assertEqual(a["KmsMasterKeyId"], "alias/aws/sqs")
        self.assertEqual(a["KmsDataKeyReusePeriodSeconds"], "600")
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertNotIn("Policy", self.attrs(url, "All"))
        self.assertError("InvalidAttributeValue", self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"KmsDataKeyReusePeriodSeconds": "59"})
        self.assertError("InvalidAttributeValue", self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"Policy": json.dumps({"Version": "2012-10-17"})})

    @unittest.skipIf(AUTH == "none" or not DENIED_KEY, "no key of a role without grants")
    def test_policy_grants_another_key(self):
        url = self.queue("policy")
        arn = self.attrs(url, "QueueArn")["QueueArn"]
        other = client(key=DENIED_KEY, secret=DENIED_SECRET)
        self.assertError("AccessDenied", other.send_message, QueueUrl=url, MessageBody="x")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "other-key-sends", "Effect": "Allow", "Principal": {"AWS": DENIED_KEY},
             "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"], "Resource": arn},
            {"Sid": "topic", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": arn,
             "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:%s:%s:t" % (REGION, ACCOUNT)}}}]}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        other.send_message(QueueUrl=url, MessageBody="through the policy")
        # any grant lets the key read the queue's attributes
        self.assertIn("Policy", other.get_queue_attributes(
            QueueUrl=url, AttributeNames=["Policy"])["Attributes"])
        # send only: the policy gives no receive
        self.assertError("AccessDenied", other.receive_message, QueueUrl=url)
        self.assertEqual([m["Body"] for m in self.sqs.receive_message(QueueUrl=url)["Messages"]],
                         ["through the policy"])
        # a statement that cannot be honoured: refused, nothing changed
        denying = {"Version": "2012-10-17", "Statement": [
            {"Sid": "nobody-purges", "Effect": "Deny", "Principal": "*", "Action": "sqs:PurgeQueue"}]}
        e = self.assertError("InvalidAttributeValue", self.sqs.set_queue_attributes, QueueUrl=url,
                             Attributes={"Policy": json.dumps(denying)})
        self.assertIn('statement "nobody-purges"', e.response["Error"]["Message"])
        self.assertEqual(json.loads(self.attrs(url, "Policy")["Policy"]), policy)
        other.send_message(QueueUrl=url, MessageBody="still allowed")
        # CreateQueue with such a Policy creates nothing
        self.assertError("InvalidAttributeValue", self.sqs.create_queue,
                         QueueName=PREFIX + "policy-refused", Attributes={"Policy": json.dumps(denying)})
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.get_queue_url,
                         QueueName=PREFIX + "policy-refused")
        # removing the policy takes the grant back
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertError("AccessDenied", other.send_message, QueueUrl=url, MessageBody="x")

    def test_fifo_throughput_limit(self):
        url = self.queue("ht.fifo", {"FifoQueue": "true", "DeduplicationScope": "messageGroup",
                                     "FifoThroughputLimit": "perMessageGroupId"})
        self.assertEqual(self.attrs(url, "FifoThroughputLimit")["FifoThroughputLimit"], "perMessageGroupId")

    def test_redrive_allow_policy(self):
        dlq = self.queue("allow-dlq")
        dlq_arn = self.attrs(dlq, "QueueArn")["QueueArn"]
        listed = self.queue("allow-listed")
        other = self.queue("allow-other")
        listed_arn = self.attrs(listed, "QueueArn")["QueueArn"]
        self.sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [listed_arn]})})
        self.assertEqual(json.loads(self.attrs(dlq, "RedriveAllowPolicy")["RedriveAllowPolicy"]),
                         {"redrivePermission": "byQueue", "sourceQueueArns": [listed_arn]})
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
        self.sqs.set_queue_attributes(QueueUrl=listed, Attributes={"RedrivePolicy": redrive})
        self.assertError("InvalidParameterValue", self.sqs.set_queue_attributes, QueueUrl=other,
                         Attributes={"RedrivePolicy": redrive})
        self.assertNotIn("RedrivePolicy", self.attrs(other, "All"))
        self.sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "denyAll"})})
        self.assertError("InvalidParameterValue", self.sqs.create_queue, QueueName=PREFIX + "allow-new",
                         Attributes={"RedrivePolicy": redrive})


class TestFairQueue(SqsTestCase):
    def test_one_group_backlog_does_not_delay_the_others(self):
        url = self.queue("fair")
        for start in range(0, 60, 10):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": "big-%d" % i, "MessageGroupId": "big"}
                for i in range(start, start + 10)])
        for tenant in ("t1", "t2", "t3"):
            self.sqs.send_message(QueueUrl=url, MessageBody=tenant, MessageGroupId=tenant)
        # the maintenance worker makes the index fair receives walk; run its sweep now
        sql("SELECT count(*) FROM sqsn.run_maintenance()")
        got = []
        for _ in range(8):
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                         AttributeNames=["MessageGroupId"])
            for m in r.get("Messages", []):
                got.append(m["Attributes"]["MessageGroupId"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(len(got), 8)
        # every small group within the first 8 of 63 messages, not after the 60
        self.assertTrue({"t1", "t2", "t3"} <= set(got), got)


class TestFifo(SqsTestCase):
    def test_fifo(self):
        url = self.queue("order.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
        a = self.attrs(url)
        self.assertEqual(a["FifoQueue"], "true")
        self.assertEqual(a["ContentBasedDeduplication"], "true")
        seqs = []
        ids = {}
        first_seq = None
        for body, group in (("g1-a", "g1"), ("g2-a", "g2"), ("g1-b", "g1"), ("g1-c", "g1"), ("g2-b", "g2")):
            r = self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
            self.assertRegex(r["SequenceNumber"], r"^[0-9]+$")
            first_seq = first_seq or r["SequenceNumber"]
            seqs.append(int(r["SequenceNumber"]))
            ids[body] = r["MessageId"]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 5)
        # the same body again within the window is a duplicate (content-based)
        dup = self.sqs.send_message(QueueUrl=url, MessageBody="g1-a", MessageGroupId="g1")
        self.assertEqual(dup["MessageId"], ids["g1-a"])
        # explicit deduplication ids
        self.sqs.send_message(QueueUrl=url, MessageBody="x1", MessageGroupId="g3",
                              MessageDeduplicationId="d1")
        self.sqs.send_message(QueueUrl=url, MessageBody="x2", MessageGroupId="g3",
                              MessageDeduplicationId="d1")
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "6"})

        # group order; the first g1 message in flight holds back the rest of g1
        first = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600,
                                         AttributeNames=["All"])["Messages"]
        self.assertEqual(first[0]["Body"], "g1-a")
        fa = first[0]["Attributes"]
        self.assertEqual(fa["MessageGroupId"], "g1")
        self.assertEqual(fa["SequenceNumber"], first_seq)
        self.assertIn("MessageDeduplicationId", fa)
        rest = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        bodies = [m["Body"] for m in rest.get("Messages", [])]
        self.assertNotIn("g1-b", bodies)
        self.assertNotIn("g1-c", bodies)
        self.assertEqual([b for b in bodies if b.startswith("g2")], ["g2-a", "g2-b"])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        nxt = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in nxt], ["g1-b", "g1-c"])

        # FIFO rules
        self.assertError("MissingParameter", self.sqs.send_message, QueueUrl=url, MessageBody="nogroup")
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=url,
                         MessageBody="delayed", MessageGroupId="g1", DelaySeconds=5)
        plain = self.queue("plain.fifo", {"FifoQueue": "true"})
        self.assertError("InvalidParameterValue", self.sqs.send_message, QueueUrl=plain,
                         MessageBody="no dedup id", MessageGroupId="g")
        # FIFO-only attributes on a standard queue
        self.assertError("InvalidAttributeName", self.queue, "std",
                         {"ContentBasedDeduplication": "true"})

    def test_fifo_batch(self):
        url = self.queue("batch.fifo", {"FifoQueue": "true"})
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "m%d" % i, "MessageBody": "b%d" % i, "MessageGroupId": "g",
             "MessageDeduplicationId": "dd%d" % i} for i in range(5)])
        self.assertEqual(len(r["Successful"]), 5)
        seq = [int(e["SequenceNumber"]) for e in sorted(r["Successful"], key=lambda e: e["Id"])]
        self.assertEqual(seq, sorted(seq))
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["b0", "b1", "b2", "b3", "b4"])


class TestErrors(SqsTestCase):
    def test_missing_parameters(self):
        url = self.queue("missing")
        # botocore refuses to send without a required member, so go around it
        resp = raw_query({"Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": url})
        self.assertEqual(resp["status"], 400)
        self.assertEqual(resp["code"], "MissingParameter")

    def test_nonexistent_queue_status(self):
        e = self.assertError("AWS.SimpleQueueService.NonExistentQueue", self.sqs.receive_message,
                             QueueUrl="%s/%s/%sghost" % (URL, ACCOUNT, PREFIX))
        self.assertEqual(http_status(e), 400)
        self.assertEqual(e.response["Error"]["Type"], "Sender")
        self.assertTrue(e.response["ResponseMetadata"]["RequestId"])

    @unittest.skipIf(AUTH == "none", "sqsn.api_auth = none")
    def test_authentication(self):
        wrong = client(secret=SECRET + "x")
        e = self.assertError("SignatureDoesNotMatch", wrong.list_queues)
        self.assertEqual(http_status(e), 403)
        unknown = client(key="AKIAUNKNOWNKEY000000")
        e = self.assertError("InvalidClientTokenId", unknown.list_queues)
        self.assertEqual(http_status(e), 403)
        resp = raw_query({"Action": "ListQueues", "Version": "2012-11-05"}, sign=False)
        self.assertEqual(resp["status"], 403)
        self.assertEqual(resp["code"], "MissingAuthenticationToken")
        self.sqs.list_queues()

    @unittest.skipIf(AUTH == "none" or not DENIED_KEY, "no key of a role without grants")
    def test_access_denied(self):
        url = self.queue("private")
        self.sqs.send_message(QueueUrl=url, MessageBody="secret")
        denied = client(key=DENIED_KEY, secret=DENIED_SECRET)
        e = self.assertError("AccessDenied", denied.send_message, QueueUrl=url, MessageBody="x")
        self.assertEqual(http_status(e), 403)
        self.assertError("AccessDenied", denied.receive_message, QueueUrl=url)
        self.assertError("AccessDenied", denied.purge_queue, QueueUrl=url)
        self.assertError("AccessDenied", denied.delete_queue, QueueUrl=url)
        self.assertError("AccessDenied", denied.create_queue, QueueName=PREFIX + "denied-new")
        # nothing changed
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "1"})
        # a grant in SQL opens the queue to that role
        sql("SELECT sqsn.sq_grant('%sprivate', 'sqsn_api_denied', '{send}')" % PREFIX)
        denied.send_message(QueueUrl=url, MessageBody="now allowed")
        self.assertError("AccessDenied", denied.receive_message, QueueUrl=url)


# ---------------------------------------------------------------------------
# Raw HTTP: requests no SDK sends.

def signed_headers(method, body, headers, service="sqs"):
    req = AWSRequest(method=method, url=URL + "/", data=body, headers=headers)
    SigV4Auth(Credentials(KEY, SECRET), service, REGION).add_auth(req)
    return dict(req.headers.items())


def raw(body, headers, sign=True, method="POST"):
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = dict(headers)
    if sign:
        headers = signed_headers(method, body, headers)
    conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
    try:
        conn.request(method, "/", body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return {"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()},
                "body": data.decode("utf-8", "replace")}
    finally:
        conn.close()


def raw_query(params, sign=True):
    body = urllib.parse.urlencode(params)
    resp = raw(body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, sign)
    m = re.search(r"<Code>([^<]*)</Code>", resp["body"])
    resp["code"] = m.group(1) if m else None
    return resp


def receive_query(url, **names):
    """ReceiveMessage as a signed query request, up to 10 messages with a
    visibility timeout of 0; names: the list members (AttributeName,
    MessageSystemAttributeName) and their values. Returns the messages as
    {"Body": ..., "Attributes": {name: value}}."""
    params = {"Action": "ReceiveMessage", "Version": "2012-11-05", "QueueUrl": url,
              "MaxNumberOfMessages": "10", "VisibilityTimeout": "0"}
    for member, values in names.items():
        for i, v in enumerate(values, 1):
            params["%s.%d" % (member, i)] = v
    resp = raw_query(params)
    assert resp["status"] == 200, resp
    root = ElementTree.fromstring(resp["body"])
    local = lambda e: e.tag.rsplit("}", 1)[-1]  # noqa: E731
    messages = []
    for m in (e for e in root.iter() if local(e) == "Message"):
        msg = {"Attributes": {}}
        for child in m:
            if local(child) == "Body":
                msg["Body"] = child.text
            elif local(child) == "Attribute":
                kv = {local(c): c.text for c in child}
                msg["Attributes"][kv["Name"]] = kv["Value"]
        messages.append(msg)
    return messages


class TestMessageMoveTasks(SqsTestCase):
    """boto3 1.26 predates the move-task actions: signed query requests."""

    def test_start_list_cancel_in_the_query_protocol(self):
        dlq = self.queue("mtq-dlq")
        dlq_arn = self.attrs(dlq, "QueueArn")["QueueArn"]
        src = self.queue("mtq-src", {"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})
        dest = self.queue("mtq-dest")
        dest_arn = self.attrs(dest, "QueueArn")["QueueArn"]
        for i in range(20):
            self.sqs.send_message(QueueUrl=src, MessageBody="m%d" % i)
        for _ in range(2):
            for _ in range(2):
                self.sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, VisibilityTimeout=0)
        self.assertEqual(self.attrs(dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "20")
        version = {"Version": "2012-11-05"}
        r = raw_query(dict(version, Action="StartMessageMoveTask", SourceArn=dlq_arn,
                           DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond="1"))
        self.assertEqual(r["status"], 200, r)
        handle = re.search(r"<TaskHandle>([^<]*)</TaskHandle>", r["body"]).group(1)
        r = raw_query(dict(version, Action="ListMessageMoveTasks", SourceArn=dlq_arn, MaxResults="10"))
        self.assertEqual(r["status"], 200, r)
        self.assertIn("<ListMessageMoveTasksResultEntry>", r["body"])
        self.assertIn("<TaskHandle>%s</TaskHandle>" % handle, r["body"])
        self.assertIn("<Status>RUNNING</Status>", r["body"])
        self.assertIn("<DestinationArn>%s</DestinationArn>" % dest_arn, r["body"])
        self.assertIn("<ApproximateNumberOfMessagesToMove>20</ApproximateNumberOfMessagesToMove>", r["body"])
        r = raw_query(dict(version, Action="StartMessageMoveTask", SourceArn=dlq_arn))
        self.assertEqual((r["status"], r["code"]), (400, "AWS.SimpleQueueService.UnsupportedOperation"))
        r = raw_query(dict(version, Action="CancelMessageMoveTask", TaskHandle=handle))
        self.assertEqual(r["status"], 200, r)
        moved = int(re.search(r"<ApproximateNumberOfMessagesMoved>(\d+)<", r["body"]).group(1))
        self.assertLess(moved, 20)
        r = raw_query(dict(version, Action="CancelMessageMoveTask", TaskHandle="not-a-handle"))
        self.assertEqual((r["status"], r["code"]), (400, "InvalidParameterValue"))
        r = raw_query(dict(version, Action="StartMessageMoveTask", SourceArn="nonsense"))
        self.assertEqual((r["status"], r["code"]), (400, "InvalidParameterValue"))
        r = raw_query(dict(version, Action="ListMessageMoveTasks", SourceArn=dlq_arn, MaxResults="11"))
        self.assertEqual((r["status"], r["code"]), (400, "InvalidParameterValue"))


class TestRawHttp(SqsTestCase):
    def assertServes(self):
        """The worker that answered the bad request still serves."""
        for _ in range(3):
            self.sqs.list_queues(QueueNamePrefix=PREFIX)

    def assertXmlError(self, resp, code=None, status=400):
        self.assertEqual(resp["status"], status, resp)
        self.assertIn("<ErrorResponse", resp["body"])
        m = re.search(r"<Code>([^<]*)</Code>", resp["body"])
        self.assertIsNotNone(m, resp["body"])
        if code:
            self.assertEqual(m.group(1), code)
        self.assertIn("<RequestId>", resp["body"])
        self.assertIn("x-amzn-requestid", resp["headers"])

    def test_unknown_action(self):
        resp = raw_query({"Action": "FrobnicateQueue", "Version": "2012-11-05"})
        self.assertXmlError(resp, "InvalidAction")
        self.assertServes()

    def test_malformed_form_body(self):
        resp = raw(b"Action=ListQueues&Version=2012-11-05&QueueNamePrefix=%zz%&&=\xff\xfe",
                   {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        self.assertXmlError(resp)
        resp = raw(b"\x00\x01\x02 not a form at all",
                   {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertXmlError(resp)
        self.assertServes()

    def test_oversized_body(self):
        limit = int(sql("SELECT setting FROM pg_settings WHERE name = 'sqsn.api_max_request_size'"))
        unit = sql("SELECT coalesce(unit, '') FROM pg_settings WHERE name = 'sqsn.api_max_request_size'")
        limit *= {"": 1, "B": 1, "kB": 1024, "MB": 1024 * 1024}[unit]
        url = self.queue("big")
        body = urllib.parse.urlencode({"Action": "SendMessage", "Version": "2012-11-05",
                                       "QueueUrl": url, "MessageBody": "z" * (limit + 65536)})
        try:
            resp = raw(body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        except (ConnectionError, http.client.HTTPException) as e:
            self.fail("the endpoint dropped the connection instead of answering: %r" % e)
        self.assertIn(resp["status"], (400, 413), resp["status"])
        self.assertIn("<ErrorResponse", resp["body"])
        self.assertRegex(resp["body"], r"<Code>[^<]+</Code>")
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "0"})
        self.assertServes()

    def test_malformed_json(self):
        resp = raw("{not json", {"Content-Type": "application/x-amz-json-1.0",
                                 "X-Amz-Target": "AmazonSQS.ListQueues"})
        self.assertEqual(resp["status"], 400, resp)
        self.assertTrue(resp["headers"]["content-type"].startswith("application/x-amz-json-1.0"))
        err = json.loads(resp["body"])
        self.assertIn("__type", err)
        self.assertServes()
        # a JSON value that is not an object
        resp = raw("[1, 2]", {"Content-Type": "application/x-amz-json-1.0",
                              "X-Amz-Target": "AmazonSQS.ListQueues"})
        self.assertEqual(resp["status"], 400, resp)
        self.assertIn("__type", json.loads(resp["body"]))
        self.assertServes()

    def test_unknown_target(self):
        resp = raw("{}", {"Content-Type": "application/x-amz-json-1.0",
                          "X-Amz-Target": "AmazonSQS.Frobnicate"})
        self.assertEqual(resp["status"], 400, resp)
        self.assertEqual(json.loads(resp["body"])["__type"].split("#")[-1], "UnknownOperationException")
        self.assertServes()

    def test_json_over_raw_http(self):
        # the JSON protocol works for a client that is not the JavaScript SDK
        resp = raw(json.dumps({"QueueName": PREFIX + "rawjson"}),
                   {"Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "AmazonSQS.CreateQueue"})
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(json.loads(resp["body"])["QueueUrl"],
                         "%s/%s/%srawjson" % (URL, ACCOUNT, PREFIX))
        resp = raw(json.dumps({"QueueUrl": "%s/%s/%sghost" % (URL, ACCOUNT, PREFIX)}),
                   {"Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "AmazonSQS.GetQueueAttributes"})
        self.assertEqual(resp["status"], 400)
        self.assertEqual(json.loads(resp["body"])["__type"], "com.amazonaws.sqs#QueueDoesNotExist")
        self.assertEqual(resp["headers"]["x-amzn-query-error"],
                         "AWS.SimpleQueueService.NonExistentQueue;Sender")


if __name__ == "__main__":
    unittest.main()
