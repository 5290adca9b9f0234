#!/usr/bin/python3
"""Forms of the SQS query protocol that SDKs no longer send and older
clients and frameworks do: the queue named by the request path, and lists
of one element given without their index.

Run by test/api/run (see test_auth.py for what it exports). SQS allows a
query request to be sent to the queue URL itself, /<account>/<queue>,
instead of naming the queue in a QueueUrl parameter; kombu (Celery's SQS
broker), boto 2 and Amazon::SQS::Simple send their requests so. Every action
that takes a QueueUrl takes the queue from the path: on POST and on GET,
signed in the Authorization header or presigned in the query string. A
QueueUrl that names the same queue is fine; one that names another queue is
refused with InvalidAddress (404) and does nothing. The path is signed, so
it cannot be changed on the way. The JSON protocol reads QueueUrl alone.

Older clients (boto 2, Amazon::SQS::Simple) send a one-element list without
its index: "AttributeName=All" for "AttributeName.1=All",
"Attribute.Name=...&Attribute.Value=..." for "Attribute.1.Name=...", and so
for message attributes; the endpoint reads them as element 1.

The requests are built and signed with botocore's own signer and sent
as they are.
"""

import json
import unittest
import urllib.parse
import uuid

from apienv import (ACCOUNT, AUTH, DENIED_KEY, DENIED_SECRET, client, error_code,  # noqa: E402
                    send, sign, sql)

# every queue of this file: the harness deletes apitest* ones
PREFIX = "apitest-path-%s-" % uuid.uuid4().hex[:6]
VERSION = {"Version": "2012-11-05"}

signed_only = unittest.skipUnless(AUTH == "sigv4", "sqsn.api_auth is not sigv4")


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def path_of(name):
    return "/%s/%s" % (ACCOUNT, name)


def form(params):
    """Query parameters as SDKs encode them (a space as %20)."""
    return urllib.parse.urlencode(dict(VERSION, **params), quote_via=urllib.parse.quote)


def post(name, params, **kw):
    """A header-signed POST of query parameters to the queue's URL."""
    return send(*sign("POST", path_of(name), form(params), **kw))


def get(name, params, presign=False, **kw):
    """A GET of the queue's URL with the parameters in the query string,
    signed in the header or presigned."""
    return send(*sign("GET", path_of(name) + "?" + form(params),
                      presign_expires=300 if presign else None, **kw))


def count(name):
    """Messages in a queue, visible or not, from SQL."""
    attrs = json.loads(sql("SELECT sqsn.sq_get_queue_attributes(%s)" % quote(name)))
    return (attrs["ApproximateNumberOfMessages"] + attrs["ApproximateNumberOfMessagesNotVisible"]
            + attrs["ApproximateNumberOfMessagesDelayed"])


def attribute(name, key):
    return json.loads(sql("SELECT sqsn.sq_get_queue_attributes(%s)" % quote(name)))[key]


def receipt(text):
    start = text.index("<ReceiptHandle>") + len("<ReceiptHandle>")
    return text[start:text.index("</ReceiptHandle>")]


class QueueInPath(unittest.TestCase):
    def setUp(self):
        self.sqs = client("sqs")
        self.name = PREFIX + uuid.uuid4().hex[:8]
        self.url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]

    def ok(self, response, element):
        status, text = response
        self.assertEqual(status, 200, text)
        self.assertIn("<%sResponse" % element, text)
        return text

    def refused(self, response, status, code):
        got_status, text = response
        self.assertEqual((got_status, error_code(text)), (status, code), text)

    def send_and_receive(self, body="m"):
        """A message sent and received through boto3 (QueueUrl): its handle."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body)
        return self.sqs.receive_message(QueueUrl=self.url)["Messages"][0]["ReceiptHandle"]

    def test_every_message_action_takes_the_queue_from_a_posted_path(self):
        self.ok(post(self.name, {"Action": "SendMessage", "MessageBody": "one"}), "SendMessage")
        self.ok(post(self.name, {"Action": "SendMessageBatch",
                                 "SendMessageBatchRequestEntry.1.Id": "a",
                                 "SendMessageBatchRequestEntry.1.MessageBody": "two",
                                 "SendMessageBatchRequestEntry.2.Id": "b",
                                 "SendMessageBatchRequestEntry.2.MessageBody": "three"}),
                "SendMessageBatch")
        self.assertEqual(count(self.name), 3)
        text = self.ok(post(self.name, {"Action": "ReceiveMessage", "MaxNumberOfMessages": "10",
                                        "VisibilityTimeout": "60"}), "ReceiveMessage")
        self.assertEqual(sorted(t.split("</Body>")[0] for t in text.split("<Body>")[1:]),
                         ["one", "three", "two"])
        handles = [t.split("</ReceiptHandle>")[0] for t in text.split("<ReceiptHandle>")[1:]]
        self.ok(post(self.name, {"Action": "ChangeMessageVisibility", "ReceiptHandle": handles[0],
                                 "VisibilityTimeout": "120"}), "ChangeMessageVisibility")
        self.ok(post(self.name, {"Action": "ChangeMessageVisibilityBatch",
                                 "ChangeMessageVisibilityBatchRequestEntry.1.Id": "x",
                                 "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle": handles[1],
                                 "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": "0"}),
                "ChangeMessageVisibilityBatch")
        # the one made visible again is the only one a receive now gets
        again = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual(len(again), 1)
        self.ok(post(self.name, {"Action": "DeleteMessage", "ReceiptHandle": handles[0]}),
                "DeleteMessage")
        text = self.ok(post(self.name, {"Action": "DeleteMessageBatch",
                                        "DeleteMessageBatchRequestEntry.1.Id": "y",
                                        "DeleteMessageBatchRequestEntry.1.ReceiptHandle": handles[2],
                                        "DeleteMessageBatchRequestEntry.2.Id": "z",
                                        "DeleteMessageBatchRequestEntry.2.ReceiptHandle":
                                            again[0]["ReceiptHandle"]}),
                       "DeleteMessageBatch")
        self.assertNotIn("<BatchResultErrorEntry>", text)
        self.assertEqual(count(self.name), 0)

    def test_every_queue_action_takes_the_queue_from_a_posted_path(self):
        text = self.ok(post(self.name, {"Action": "GetQueueAttributes", "AttributeName.1": "All"}),
                       "GetQueueAttributes")
        self.assertIn("<Value>arn:aws:sqs:", text)
        self.assertIn(":%s</Value>" % self.name, text)
        self.ok(post(self.name, {"Action": "SetQueueAttributes",
                                 "Attribute.1.Name": "VisibilityTimeout",
                                 "Attribute.1.Value": "77"}), "SetQueueAttributes")
        self.assertEqual(attribute(self.name, "VisibilityTimeout"), 77)
        self.sqs.send_message(QueueUrl=self.url, MessageBody="gone")
        self.ok(post(self.name, {"Action": "PurgeQueue"}), "PurgeQueue")
        self.assertEqual(count(self.name), 0)
        self.ok(post(self.name, {"Action": "DeleteQueue"}), "DeleteQueue")
        self.assertEqual(sql("SELECT count(*) FROM sqsn.queue WHERE queue_name = %s"
                             % quote(self.name)), "0")

    def test_get_signed_in_the_header_names_the_queue_by_path(self):
        self.ok(get(self.name, {"Action": "SendMessage", "MessageBody": "by get"}), "SendMessage")
        text = self.ok(get(self.name, {"Action": "ReceiveMessage"}), "ReceiveMessage")
        self.assertIn("<Body>by get</Body>", text)
        self.ok(get(self.name, {"Action": "DeleteMessage", "ReceiptHandle": receipt(text)}),
                "DeleteMessage")
        self.assertEqual(count(self.name), 0)

    @signed_only
    def test_presigned_get_and_post_name_the_queue_by_path(self):
        self.ok(get(self.name, {"Action": "SendMessage", "MessageBody": "presigned get"},
                    presign=True), "SendMessage")
        # a presigned POST carries its parameters in the signed query string
        self.ok(send(*sign("POST", path_of(self.name) + "?" +
                           form({"Action": "SendMessage", "MessageBody": "presigned post"}),
                           presign_expires=300)), "SendMessage")
        text = self.ok(get(self.name, {"Action": "ReceiveMessage", "MaxNumberOfMessages": "10"},
                           presign=True), "ReceiveMessage")
        self.assertIn("<Body>presigned get</Body>", text)
        self.assertIn("<Body>presigned post</Body>", text)

    def test_queue_url_naming_the_same_queue_is_accepted(self):
        self.ok(post(self.name, {"Action": "SendMessage", "QueueUrl": self.url,
                                 "MessageBody": "both"}), "SendMessage")
        self.assertEqual(count(self.name), 1)

    def test_queue_url_naming_another_queue_is_refused_and_does_nothing(self):
        other = self.name + "-other"
        other_url = self.sqs.create_queue(QueueName=other)["QueueUrl"]
        for response in (
                post(self.name, {"Action": "SendMessage", "QueueUrl": other_url,
                                 "MessageBody": "where to?"}),
                get(self.name, {"Action": "SendMessage", "QueueUrl": other_url,
                                "MessageBody": "where to?"}),
                post(self.name, {"Action": "PurgeQueue", "QueueUrl": other_url}),
                post(self.name, {"Action": "DeleteQueue", "QueueUrl": other_url})):
            self.refused(response, 404, "InvalidAddress")
        self.assertEqual((count(self.name), count(other)), (0, 0))
        self.assertEqual(sql("SELECT count(*) FROM sqsn.queue WHERE queue_name IN (%s, %s)"
                             % (quote(self.name), quote(other))), "2")
        status, text = post(self.name, {"Action": "ReceiveMessage", "QueueUrl": other_url})
        self.assertIn("is not valid for this endpoint", text)

    def test_unknown_queue_in_path_is_non_existent_queue(self):
        self.refused(post(self.name + "-nope", {"Action": "SendMessage", "MessageBody": "x"}),
                     400, "AWS.SimpleQueueService.NonExistentQueue")

    def test_no_queue_at_all_is_missing_parameter(self):
        self.refused(send(*sign("POST", "/", form({"Action": "SendMessage", "MessageBody": "x"}))),
                     400, "MissingParameter")
        # a path that is not /<account>/<queue> names no queue
        self.refused(send(*sign("POST", "/%s/" % ACCOUNT,
                                form({"Action": "SendMessage", "MessageBody": "x"}))),
                     400, "MissingParameter")

    def test_actions_without_queue_url_ignore_the_path(self):
        text = self.ok(post(self.name, {"Action": "ListQueues", "QueueNamePrefix": self.name}),
                       "ListQueues")
        self.assertIn("<QueueUrl>%s</QueueUrl>" % self.url, text)
        text = self.ok(post(self.name, {"Action": "GetQueueUrl", "QueueName": self.name}),
                       "GetQueueUrl")
        self.assertIn(self.url, text)

    @signed_only
    def test_path_is_signed(self):
        other = self.name + "-signed"
        self.sqs.create_queue(QueueName=other)
        method, url, headers, body = sign("POST", path_of(self.name),
                                          form({"Action": "SendMessage", "MessageBody": "x"}))
        self.refused(send(method, url.replace(self.name, other), headers, body),
                     403, "SignatureDoesNotMatch")
        self.assertEqual((count(self.name), count(other)), (0, 0))

    @signed_only
    def test_grants_apply_to_the_queue_in_the_path(self):
        self.refused(post(self.name, {"Action": "SendMessage", "MessageBody": "x"},
                          key=DENIED_KEY, secret=DENIED_SECRET), 403, "AccessDenied")
        self.refused(post(self.name, {"Action": "ReceiveMessage"},
                          key=DENIED_KEY, secret=DENIED_SECRET), 403, "AccessDenied")
        self.assertEqual(count(self.name), 0)

    def test_json_protocol_reads_queue_url_alone(self):
        other = self.name + "-json"
        other_url = self.sqs.create_queue(QueueName=other)["QueueUrl"]
        json_headers = {"Content-Type": "application/x-amz-json-1.0",
                        "X-Amz-Target": "AmazonSQS.SendMessage"}
        # sent to one queue's URL, QueueUrl naming another: QueueUrl wins
        status, text = send(*sign("POST", path_of(self.name),
                                  json.dumps({"QueueUrl": other_url, "MessageBody": "json"}),
                                  headers=json_headers))
        self.assertEqual(status, 200, text)
        self.assertEqual((count(self.name), count(other)), (0, 1))
        # and without a QueueUrl the path is not read
        status, text = send(*sign("POST", path_of(self.name), json.dumps({"MessageBody": "json"}),
                                  headers=json_headers))
        self.assertEqual((status, error_code(text)), (400, "MissingParameter"), text)
        self.assertEqual(count(self.name), 0)


class UnindexedLists(unittest.TestCase):
    def setUp(self):
        self.sqs = client("sqs")
        self.name = PREFIX + "l" + uuid.uuid4().hex[:8]
        self.url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]

    def call(self, params):
        status, text = send(*sign("POST", "/", form(dict(params, QueueUrl=self.url))))
        self.assertEqual(status, 200, text)
        return text

    def test_attribute_name_without_index(self):
        text = self.call({"Action": "GetQueueAttributes", "AttributeName": "All"})
        self.assertIn("<Name>VisibilityTimeout</Name>", text)
        self.assertIn("<Name>QueueArn</Name>", text)
        text = self.call({"Action": "GetQueueAttributes", "AttributeName": "DelaySeconds"})
        self.assertEqual(text.count("<Attribute>"), 1, text)
        self.assertIn("<Name>DelaySeconds</Name>", text)

    def test_set_attribute_without_index(self):
        self.call({"Action": "SetQueueAttributes", "Attribute.Name": "VisibilityTimeout",
                   "Attribute.Value": "45"})
        self.assertEqual(attribute(self.name, "VisibilityTimeout"), 45)

    def test_message_attribute_and_receive_lists_without_index(self):
        self.call({"Action": "SendMessage", "MessageBody": "old form",
                   "MessageAttribute.Name": "colour",
                   "MessageAttribute.Value.DataType": "String",
                   "MessageAttribute.Value.StringValue": "blue"})
        text = self.call({"Action": "ReceiveMessage", "AttributeName": "ApproximateReceiveCount",
                          "MessageAttributeName": "All"})
        self.assertIn("<Name>ApproximateReceiveCount</Name><Value>1</Value>", text)
        self.assertIn("<Name>colour</Name><Value><StringValue>blue</StringValue>"
                      "<DataType>String</DataType></Value>", text)

    def test_indexed_lists_are_unchanged(self):
        text = self.call({"Action": "GetQueueAttributes", "AttributeName.1": "DelaySeconds",
                          "AttributeName.2": "QueueArn"})
        self.assertEqual(text.count("<Attribute>"), 2, text)


if __name__ == "__main__":
    unittest.main()
