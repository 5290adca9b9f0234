#!/usr/bin/python3
"""SNS through the endpoint with Debian's boto3 1.26 (the query protocol).

Run by test/api/run, which exports SQSN_API_URL, the access keys, the region
and PGHOST/PGPORT/PGDATABASE (the endpoint's database, for the superuser's
checks and settings). Every SNS action, pagination, fan-out to SQS queues
with filter policies (attribute and body scope) received with boto3's SQS
client, raw delivery, MessageStructure=json, a FIFO topic feeding a FIFO
queue, PublishBatch with partial failures and whole-batch errors, the error
codes, and HTTP push through the endpoint's confirmation link: a sink in
this script receives the SubscriptionConfirmation, GETs its SubscribeURL,
then receives a Notification and unsubscribes with its UnsubscribeURL.
Prints one line per check (unittest's verbose mode); exits non-zero when
one fails.
"""

import json
import subprocess
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from apienv import ACCOUNT, DENIED_KEY, DENIED_SECRET, KEY, REGION, SECRET, URL, sql  # noqa: E402
import apienv  # noqa: E402

# every topic and queue of this file: the harness deletes apitest* ones
PREFIX = "apitest-sns-%s-" % uuid.uuid4().hex[:6]
PORT = urllib.parse.urlsplit(URL).port


def client(service="sns", key=KEY, secret=SECRET):
    return apienv.client(service, key, secret)


def error_code(exc):
    return exc.response["Error"]["Code"]


def http_status(exc):
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(params, key=KEY, secret=SECRET):
    """A signed SNS query request no SDK would send; (status, body)."""
    body = urllib.parse.urlencode(dict(params, Version="2010-03-31"))
    req = AWSRequest(method="POST", url=URL + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key, secret), "sns", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), method="POST",
                               headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def topic_arn(name):
    return "arn:aws:sns:%s:%s:%s" % (REGION, ACCOUNT, name)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name)


class SnsTestCase(unittest.TestCase):
    sns = client("sns")
    sqs = client("sqs")

    def setUp(self):
        self.topics = []
        self.queues = []

    def tearDown(self):
        for arn in self.topics:
            try:
                self.sns.delete_topic(TopicArn=arn)
            except ClientError:
                pass
        for url in self.queues:
            try:
                self.sqs.delete_queue(QueueUrl=url)
            except ClientError:
                pass

    def topic(self, suffix, **kw):
        arn = self.sns.create_topic(Name=PREFIX + suffix, **kw)["TopicArn"]
        self.topics.append(arn)
        return arn

    def queue(self, suffix, **kw):
        url = self.sqs.create_queue(QueueName=PREFIX + suffix, **kw)["QueueUrl"]
        self.queues.append(url)
        return url, queue_arn(PREFIX + suffix)

    def assertError(self, code, status, fn, *args, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kw)
        self.assertEqual(error_code(cm.exception), code, cm.exception.response)
        self.assertEqual(http_status(cm.exception), status)
        return cm.exception

    def receive_all(self, url, expect, timeout=10):
        """Receives (and deletes) messages until `expect` arrived or the
        time is up; returns them."""
        got = []
        deadline = time.time() + timeout
        while len(got) < expect and time.time() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1,
                                         MessageAttributeNames=["All"],
                                         AttributeNames=["All"])
            for m in r.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def assertEmpty(self, url):
        r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        self.assertEqual(r.get("Messages", []), [])


class TestTopics(SnsTestCase):
    def test_create_is_idempotent_and_named_by_arn(self):
        arn = self.topic("t1")
        self.assertEqual(arn, topic_arn(PREFIX + "t1"))
        self.assertEqual(self.sns.create_topic(Name=PREFIX + "t1")["TopicArn"], arn)

    def test_create_errors(self):
        self.assertError("InvalidParameter", 400, self.sns.create_topic, Name="bad name")
        self.assertError("InvalidParameter", 400, self.sns.create_topic, Name="x" * 257)
        self.assertError("InvalidParameter", 400, self.sns.create_topic,
                         Name=PREFIX + "notfifo", Attributes={"FifoTopic": "true"})
        self.assertError("InvalidParameter", 400, self.sns.create_topic,
                         Name=PREFIX + "cbd", Attributes={"ContentBasedDeduplication": "true"})
        self.assertError("InvalidParameter", 400, self.sns.create_topic,
                         Name=PREFIX + "unknown", Attributes={"NoSuchAttribute": "1"})
        self.assertError("InvalidParameter", 400, self.sns.create_topic,
                         Name=PREFIX + "dp", Attributes={"DeliveryPolicy": "{not json"})
        # nothing was left behind by the failed creations
        names = [t["TopicArn"] for t in self.sns.list_topics()["Topics"]]
        self.assertNotIn(topic_arn(PREFIX + "unknown"), names)

    def test_attributes(self):
        policy = {"http": {"defaultHealthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1,
                                                         "maxDelayTarget": 9}}}
        arn = self.topic("attrs", Attributes={"DisplayName": "Orders",
                                              "DeliveryPolicy": json.dumps(policy)})
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["TopicArn"], arn)
        self.assertEqual(a["Owner"], ACCOUNT)
        self.assertEqual(a["DisplayName"], "Orders")
        self.assertEqual(a["SubscriptionsConfirmed"], "0")
        self.assertEqual(a["SubscriptionsPending"], "0")
        self.assertEqual(a["SubscriptionsDeleted"], "0")
        self.assertEqual(json.loads(a["DeliveryPolicy"]), policy)
        eff = json.loads(a["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]
        self.assertEqual((eff["numRetries"], eff["minDelayTarget"], eff["maxDelayTarget"]), (5, 1, 9))

        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Renamed")
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue="")
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="TracingConfig", AttributeValue="Active")
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["DisplayName"], "Renamed")
        self.assertEqual(a["TracingConfig"], "Active")
        self.assertNotIn("DeliveryPolicy", a)
        self.assertEqual(json.loads(a["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]
                         ["numRetries"], 3)

        self.assertError("InvalidParameter", 400, self.sns.set_topic_attributes, TopicArn=arn,
                         AttributeName="NoSuchAttribute", AttributeValue="x")
        self.assertError("InvalidParameter", 400, self.sns.set_topic_attributes, TopicArn=arn,
                         AttributeName="FifoTopic", AttributeValue="true")
        self.assertError("InvalidParameter", 400, self.sns.set_topic_attributes, TopicArn=arn,
                         AttributeName="DeliveryPolicy",
                         AttributeValue='{"http": {"defaultHealthyRetryPolicy": {"numRetries": 101}}}')

    def test_fifo_topic(self):
        arn = self.topic("f.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["FifoTopic"], "true")
        self.assertEqual(a["ContentBasedDeduplication"], "true")
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="ContentBasedDeduplication",
                                      AttributeValue="false")
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["ContentBasedDeduplication"], "false")

    def test_delete_is_idempotent(self):
        arn = self.topic("del")
        self.sns.delete_topic(TopicArn=arn)
        self.sns.delete_topic(TopicArn=arn)
        self.assertError("NotFound", 404, self.sns.get_topic_attributes, TopicArn=arn)
        self.assertError("NotFound", 404, self.sns.set_topic_attributes, TopicArn=arn,
                         AttributeName="DisplayName", AttributeValue="x")

    def test_list_topics_in_pages(self):
        mine = set()
        for i in range(105):
            mine.add(self.topic("page%03d" % i))
        seen = []
        pages = 0
        token = None
        while True:
            r = self.sns.list_topics(NextToken=token) if token else self.sns.list_topics()
            pages += 1
            self.assertLessEqual(len(r["Topics"]), 100)
            seen.extend(t["TopicArn"] for t in r["Topics"])
            token = r.get("NextToken")
            if not token:
                break
        self.assertGreaterEqual(pages, 2)
        self.assertEqual(len(seen), len(set(seen)), "no topic twice")
        self.assertTrue(mine <= set(seen))
        # the paginator walks the same pages
        pag = [t["TopicArn"] for p in self.sns.get_paginator("list_topics").paginate()
               for t in p["Topics"]]
        self.assertEqual(pag, seen)
        self.assertError("InvalidParameter", 400, self.sns.list_topics, NextToken="bad token!")


class TestPolicy(SnsTestCase):
    @unittest.skipIf(apienv.AUTH == "none", "sqsn.api_auth = none")
    def test_policy_grants_a_key_publish(self):
        role = "apitest_sns_policy_" + uuid.uuid4().hex[:6]
        sql("CREATE ROLE %s IN ROLE sqsn_publisher" % role)
        try:
            key, secret = sql("SELECT access_key_id || ' ' || secret_access_key"
                              " FROM sqsn.api_create_credentials('%s')" % role).split(" ")
            other = client("sns", key, secret)
            arn = self.topic("policy")
            self.assertError("AuthorizationError", 403, other.publish, TopicArn=arn, Message="x")
            policy = {"Version": "2012-10-17", "Statement": [
                {"Sid": "publishers", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::%s:user/%s" % (ACCOUNT, role)},
                 "Action": "sns:Publish", "Resource": arn}]}
            self.sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy",
                                          AttributeValue=json.dumps(policy))
            other.publish(TopicArn=arn, Message="through the policy")
            self.assertError("AuthorizationError", 403, other.delete_topic, TopicArn=arn)
            # a statement that cannot be honoured: refused, nothing changed
            e = self.assertError("InvalidParameter", 400, self.sns.set_topic_attributes,
                                 TopicArn=arn, AttributeName="Policy",
                                 AttributeValue=json.dumps({"Statement": [
                                     {"Sid": "half-admin", "Effect": "Allow", "Principal": "*",
                                      "Action": "sns:DeleteTopic"}]}))
            self.assertIn('statement "half-admin"', e.response["Error"]["Message"])
            got = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            self.assertEqual(json.loads(got["Policy"]), policy)
            other.publish(TopicArn=arn, Message="still allowed")
            # removing the policy takes the grant back
            self.sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue="")
            self.assertError("AuthorizationError", 403, other.publish, TopicArn=arn, Message="x")
        finally:
            sql("SELECT count(sqsn.api_drop_credentials(access_key_id)) FROM sqsn.api_access_keys"
                " WHERE role = '%s'" % role)
            sql("DROP ROLE IF EXISTS %s" % role)


class TestTags(SnsTestCase):
    def tags(self, arn):
        return {t["Key"]: t["Value"] for t in self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}

    def test_tag_untag_list_and_tags_on_create(self):
        arn = self.topic("tags", Tags=[{"Key": "team", "Value": "billing"}, {"Key": "empty", "Value": ""}])
        self.assertEqual(self.tags(arn), {"team": "billing", "empty": ""})
        # the same tags again: the existing topic; others: refused
        self.assertEqual(self.topic("tags", Tags=[{"Key": "team", "Value": "billing"},
                                                  {"Key": "empty", "Value": ""}]), arn)
        self.assertError("InvalidParameter", 400, self.sns.create_topic, Name=PREFIX + "tags",
                         Tags=[{"Key": "team", "Value": "other"}])
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "orders"},
                                                     {"Key": "tier", "Value": "1"}])
        self.sns.untag_resource(ResourceArn=arn, TagKeys=["empty", "not-there"])
        self.assertEqual(self.tags(arn), {"team": "orders", "tier": "1"})
        self.assertEqual(sql("SELECT count(*) FROM sqsn.topic_tag t JOIN sqsn.topic USING (topic_id)"
                             " WHERE topic_name = '%stags'" % PREFIX), "2")

    def test_tag_errors(self):
        arn = self.topic("tagerr")
        self.assertError("ResourceNotFound", 404, self.sns.tag_resource,
                         ResourceArn=topic_arn(PREFIX + "nosuch"), Tags=[{"Key": "a", "Value": "b"}])
        self.assertError("ResourceNotFound", 404, self.sns.list_tags_for_resource,
                         ResourceArn=topic_arn(PREFIX + "nosuch"))
        self.assertError("InvalidParameter", 400, self.sns.tag_resource,
                         ResourceArn=arn, Tags=[{"Key": "aws:reserved", "Value": "b"}])
        self.assertError("InvalidParameter", 400, self.sns.tag_resource,
                         ResourceArn=arn, Tags=[{"Key": "k" * 129, "Value": "b"}])
        self.assertError("InvalidParameter", 400, self.sns.tag_resource,
                         ResourceArn=arn, Tags=[{"Key": "a", "Value": "v" * 257}])
        self.assertError("InvalidParameter", 400, self.sns.tag_resource,
                         ResourceArn=arn, Tags=[{"Key": "bad!", "Value": "b"}])
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k%d" % i, "Value": "v"} for i in range(50)])
        self.assertError("TagLimitExceeded", 400, self.sns.tag_resource,
                         ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "v"}])
        self.assertEqual(len(self.tags(arn)), 50)
        # bad tags on create leave no topic behind
        self.assertError("InvalidParameter", 400, self.sns.create_topic, Name=PREFIX + "badtags",
                         Tags=[{"Key": "aws:x", "Value": "v"}])
        names = [t["TopicArn"] for t in self.sns.list_topics()["Topics"]]
        self.assertNotIn(topic_arn(PREFIX + "badtags"), names)
        denied = client("sns", DENIED_KEY, DENIED_SECRET)
        self.assertError("AuthorizationError", 403, denied.tag_resource,
                         ResourceArn=arn, Tags=[{"Key": "a", "Value": "b"}])


class TestSubscriptions(SnsTestCase):
    def test_subscribe_list_attributes_unsubscribe(self):
        arn = self.topic("subs")
        url, qarn = self.queue("subs-q")
        sub = self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                                 Attributes={"RawMessageDelivery": "true",
                                             "FilterPolicy": '{"color": ["red"]}'})["SubscriptionArn"]
        self.assertTrue(sub.startswith(arn + ":"), sub)
        uuid.UUID(sub.rsplit(":", 1)[1])
        # subscribing again with the same settings: the same subscription
        again = self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                                   Attributes={"RawMessageDelivery": "true",
                                               "FilterPolicy": '{"color": ["red"]}'})
        self.assertEqual(again["SubscriptionArn"], sub)

        members = self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        self.assertEqual(members, [{"SubscriptionArn": sub, "Owner": ACCOUNT, "Protocol": "sqs",
                                    "Endpoint": qarn, "TopicArn": arn}])
        everything = [s["SubscriptionArn"] for p in
                      self.sns.get_paginator("list_subscriptions").paginate()
                      for s in p["Subscriptions"]]
        self.assertIn(sub, everything)

        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["SubscriptionArn"], sub)
        self.assertEqual(a["TopicArn"], arn)
        self.assertEqual(a["Protocol"], "sqs")
        self.assertEqual(a["Endpoint"], qarn)
        self.assertEqual(a["Owner"], ACCOUNT)
        self.assertEqual(a["RawMessageDelivery"], "true")
        self.assertEqual(a["PendingConfirmation"], "false")
        self.assertEqual(json.loads(a["FilterPolicy"]), {"color": ["red"]})
        self.assertEqual(a["FilterPolicyScope"], "MessageAttributes")
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
                         ["SubscriptionsConfirmed"], "1")

        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                             AttributeValue="false")
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                             AttributeValue="MessageBody")
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                             AttributeValue='{"kind": [{"prefix": "ord"}]}')
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["RawMessageDelivery"], "false")
        self.assertEqual(a["FilterPolicyScope"], "MessageBody")
        self.assertEqual(json.loads(a["FilterPolicy"]), {"kind": [{"prefix": "ord"}]})
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                             AttributeValue="")
        self.assertNotIn("FilterPolicy",
                         self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"])

        for name, value in [("FilterPolicy", '{"a": "not an array"}'),
                            ("FilterPolicy", "{broken"),
                            ("FilterPolicyScope", "Everything"),
                            ("RawMessageDelivery", "maybe"),
                            ("DeliveryPolicy", '{"healthyRetryPolicy": {}}'),
                            ("NoSuchAttribute", "x")]:
            self.assertError("InvalidParameter", 400, self.sns.set_subscription_attributes,
                             SubscriptionArn=sub, AttributeName=name, AttributeValue=value)

        self.sns.unsubscribe(SubscriptionArn=sub)
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"], [])
        self.assertError("NotFound", 404, self.sns.get_subscription_attributes, SubscriptionArn=sub)
        self.assertError("NotFound", 404, self.sns.unsubscribe, SubscriptionArn=sub)

    def test_subscribe_errors(self):
        arn = self.topic("suberr")
        _, qarn = self.queue("suberr-q")
        self.assertError("NotFound", 404, self.sns.subscribe, TopicArn=arn, Protocol="sqs",
                         Endpoint=queue_arn(PREFIX + "ghost"))
        self.assertError("NotFound", 404, self.sns.subscribe, TopicArn=topic_arn(PREFIX + "ghost"),
                         Protocol="sqs", Endpoint=qarn)
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="email", Endpoint="someone-at-example.com")
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="email-json", Endpoint="someone@example.com\r\nRCPT TO:<x@y.z>")
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="carrier-pigeon", Endpoint="someone@example.com")
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="sqs", Endpoint=qarn,
                         Attributes={"FilterPolicy": json.dumps({"k%d" % i: ["v"] for i in range(6)})})
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="http", Endpoint="ftp://example.com/x")
        self.assertError("InvalidParameter", 400, self.sns.get_subscription_attributes,
                         SubscriptionArn=arn + ":not-a-uuid")
        self.assertError("InvalidParameter", 400, self.sns.confirm_subscription,
                         TopicArn=arn, Token="no-such-token")
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn="not-an-arn",
                         Protocol="sqs", Endpoint=qarn)
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="sqs", Endpoint="not-an-arn")
        self.assertError("InvalidParameter", 400, self.sns.unsubscribe, SubscriptionArn="nothing")
        self.assertError("InvalidParameter", 400, self.sns.get_topic_attributes, TopicArn="orders")

    def test_email_subscriptions_are_pending_until_confirmed(self):
        arn = self.topic("mail")
        r = self.sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="someone@example.com")
        self.assertEqual(r["SubscriptionArn"], "pending confirmation")
        r = self.sns.subscribe(TopicArn=arn, Protocol="email-json", Endpoint="someone@example.com",
                               ReturnSubscriptionArn=True)
        sub = r["SubscriptionArn"]
        self.assertTrue(sub.startswith(arn + ":"))
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["Protocol"], "email-json")
        self.assertEqual(a["Endpoint"], "someone@example.com")
        self.assertEqual(a["PendingConfirmation"], "true")
        subs = self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        self.assertEqual(sorted((s["Protocol"], s["SubscriptionArn"]) for s in subs),
                         [("email", "PendingConfirmation"), ("email-json", "PendingConfirmation")])
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
                         ["SubscriptionsPending"], "2")

    def test_list_subscriptions_in_pages_and_pending(self):
        arn = self.topic("subpages")
        for i in range(103):
            r = self.sns.subscribe(TopicArn=arn, Protocol="http",
                                   Endpoint="http://hooks.example.com/%03d" % i)
            self.assertEqual(r["SubscriptionArn"], "pending confirmation")
        r = self.sns.subscribe(TopicArn=arn, Protocol="http", Endpoint="http://hooks.example.com/000",
                               ReturnSubscriptionArn=True)
        self.assertTrue(r["SubscriptionArn"].startswith(arn + ":"))
        first = self.sns.list_subscriptions_by_topic(TopicArn=arn)
        self.assertEqual(len(first["Subscriptions"]), 100)
        self.assertIn("NextToken", first)
        rest = self.sns.list_subscriptions_by_topic(TopicArn=arn, NextToken=first["NextToken"])
        self.assertEqual(len(rest["Subscriptions"]), 3)
        self.assertNotIn("NextToken", rest)
        subs = first["Subscriptions"] + rest["Subscriptions"]
        self.assertEqual(sorted(s["Endpoint"] for s in subs),
                         ["http://hooks.example.com/%03d" % i for i in range(103)])
        self.assertTrue(all(s["SubscriptionArn"] == "PendingConfirmation" for s in subs))
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
                         ["SubscriptionsPending"], "103")
        self.assertError("InvalidParameter", 400, self.sns.list_subscriptions, NextToken="-1")


class TestSms(SnsTestCase):
    def test_sms_subscription_is_confirmed_at_once(self):
        arn = self.topic("sms")
        r = self.sns.subscribe(TopicArn=arn, Protocol="sms", Endpoint="+15555550100")
        self.assertTrue(r["SubscriptionArn"].startswith(arn + ":"))
        a = self.sns.get_subscription_attributes(SubscriptionArn=r["SubscriptionArn"])["Attributes"]
        self.assertEqual((a["Protocol"], a["Endpoint"], a["PendingConfirmation"]),
                         ("sms", "+15555550100", "false"))
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="sms", Endpoint="555-0100")

    def test_opt_out_list(self):
        numbers = ["+1555555%04d" % i for i in range(103)]
        sql("SELECT sqsn.sn_opt_out_phone_number(n) FROM unnest('{%s}'::text[]) n"
            % ",".join(numbers))
        try:
            self.assertTrue(self.sns.check_if_phone_number_is_opted_out(
                phoneNumber="+15555550007")["isOptedOut"])
            first = self.sns.list_phone_numbers_opted_out()
            self.assertEqual(len(first["phoneNumbers"]), 100)
            rest = self.sns.list_phone_numbers_opted_out(nextToken=first["nextToken"])
            self.assertNotIn("nextToken", rest)
            listed = first["phoneNumbers"] + rest["phoneNumbers"]
            self.assertEqual([n for n in listed if n in numbers], numbers)
            self.sns.opt_in_phone_number(phoneNumber="+15555550007")
            self.assertFalse(self.sns.check_if_phone_number_is_opted_out(
                phoneNumber="+15555550007")["isOptedOut"])
            self.assertError("InvalidParameter", 400, self.sns.check_if_phone_number_is_opted_out,
                             phoneNumber="15555550007")
            self.assertError("InvalidParameter", 400, self.sns.opt_in_phone_number,
                             phoneNumber="+1 555 555 0007")
            self.assertError("InvalidParameter", 400, self.sns.list_phone_numbers_opted_out,
                             nextToken="x")
        finally:
            sql("SELECT sqsn.sn_opt_in_phone_number(n) FROM unnest('{%s}'::text[]) n"
                % ",".join(numbers))


def openssl_key(*args):
    """A private key made now with openssl (PEM); keys are never stored."""
    return subprocess.run(["openssl", "genpkey"] + list(args), check=True,
                          capture_output=True, text=True).stdout


class TestMobilePush(SnsTestCase):
    """Platform applications and endpoints (mobile push), their attributes
    and errors; delivery to the providers is tested in t/033_mobile_push.pl."""

    def setUp(self):
        super().setUp()
        self.apps = []

    def tearDown(self):
        for arn in self.apps:
            try:
                self.sns.delete_platform_application(PlatformApplicationArn=arn)
            except ClientError:
                pass
        super().tearDown()

    def gcm_app(self, suffix):
        account = json.dumps({
            "type": "service_account", "project_id": "demo-project",
            "client_email": "push@demo-project.iam.gserviceaccount.com",
            "private_key": openssl_key("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
            "token_uri": "http://127.0.0.1:1/token"})
        arn = self.sns.create_platform_application(
            Name=PREFIX + suffix, Platform="GCM",
            Attributes={"PlatformCredential": account})["PlatformApplicationArn"]
        self.apps.append(arn)
        return arn

    def test_applications(self):
        arn = self.gcm_app("gcm")
        self.assertEqual(arn, "arn:aws:sns:%s:%s:app/GCM/%sgcm" % (REGION, ACCOUNT, PREFIX))
        key = openssl_key("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
        apns = self.sns.create_platform_application(
            Name=PREFIX + "ios", Platform="APNS_SANDBOX",
            Attributes={"PlatformCredential": key, "PlatformPrincipal": "ABC123DEFG",
                        "ApplePlatformTeamID": "TEAM123456",
                        "ApplePlatformBundleID": "com.example.app"})["PlatformApplicationArn"]
        self.apps.append(apns)
        a = self.sns.get_platform_application_attributes(PlatformApplicationArn=apns)["Attributes"]
        self.assertEqual(a, {"Enabled": "true", "ApplePlatformTeamID": "TEAM123456",
                             "ApplePlatformBundleID": "com.example.app"})
        self.sns.set_platform_application_attributes(
            PlatformApplicationArn=apns, Attributes={"ApplePlatformBundleID": "com.example.b"})
        a = self.sns.get_platform_application_attributes(PlatformApplicationArn=apns)["Attributes"]
        self.assertEqual(a["ApplePlatformBundleID"], "com.example.b")
        self.assertNotIn("PlatformCredential", a)
        listed = {p["PlatformApplicationArn"]: p["Attributes"]
                  for p in self.sns.list_platform_applications()["PlatformApplications"]}
        self.assertIn(arn, listed)
        self.assertIn(apns, listed)
        self.assertError("InvalidParameter", 400, self.sns.create_platform_application,
                         Name=PREFIX + "bad", Platform="GCM",
                         Attributes={"PlatformCredential": "not a key"})
        self.assertError("InvalidParameter", 400, self.sns.create_platform_application,
                         Name=PREFIX + "bad", Platform="WNS", Attributes={})
        self.assertError("NotFound", 404, self.sns.get_platform_application_attributes,
                         PlatformApplicationArn=arn + "-missing")
        self.sns.delete_platform_application(PlatformApplicationArn=apns)
        self.sns.delete_platform_application(PlatformApplicationArn=apns)
        self.assertError("NotFound", 404, self.sns.get_platform_application_attributes,
                         PlatformApplicationArn=apns)

    def test_endpoints(self):
        app = self.gcm_app("devices")
        ep = self.sns.create_platform_endpoint(PlatformApplicationArn=app, Token="tok-1",
                                               CustomUserData="user 1")["EndpointArn"]
        self.assertRegex(ep, r"^arn:aws:sns:%s:%s:endpoint/GCM/%sdevices/[0-9a-f-]{36}$"
                         % (REGION, ACCOUNT, PREFIX))
        self.assertEqual(self.sns.create_platform_endpoint(
            PlatformApplicationArn=app, Token="tok-1", CustomUserData="user 1")["EndpointArn"], ep)
        self.assertError("InvalidParameter", 400, self.sns.create_platform_endpoint,
                         PlatformApplicationArn=app, Token="tok-1", CustomUserData="user 2")
        self.assertEqual(self.sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"],
                         {"Enabled": "true", "Token": "tok-1", "CustomUserData": "user 1"})
        self.sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Enabled": "false"})
        self.assertEqual(self.sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"]["Enabled"],
                         "false")
        self.assertError("EndpointDisabled", 400, self.sns.publish, TargetArn=ep, Message="hi")
        self.sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Enabled": "true"})
        ids = [self.sns.create_platform_endpoint(PlatformApplicationArn=app,
                                                 Token="tok-%d" % i)["EndpointArn"]
               for i in range(2, 103)]
        first = self.sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)
        self.assertEqual(len(first["Endpoints"]), 100)
        rest = self.sns.list_endpoints_by_platform_application(
            PlatformApplicationArn=app, NextToken=first["NextToken"])
        self.assertNotIn("NextToken", rest)
        listed = [e["EndpointArn"] for e in first["Endpoints"] + rest["Endpoints"]]
        self.assertEqual(sorted(listed), sorted([ep] + ids))
        self.sns.delete_endpoint(EndpointArn=ids[0])
        self.sns.delete_endpoint(EndpointArn=ids[0])
        self.assertError("NotFound", 404, self.sns.get_endpoint_attributes, EndpointArn=ids[0])
        self.assertError("InvalidParameter", 400, self.sns.set_endpoint_attributes,
                         EndpointArn=ep, Attributes={"Colour": "red"})

    def test_subscribe_and_publish_to_endpoint(self):
        app = self.gcm_app("pub")
        ep = self.sns.create_platform_endpoint(PlatformApplicationArn=app,
                                               Token="tok-pub")["EndpointArn"]
        topic = self.topic("mobile")
        sub = self.sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=ep)
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
        self.assertEqual((a["Protocol"], a["Endpoint"], a["PendingConfirmation"]),
                         ("application", ep, "false"))
        msg = json.dumps({"default": "d", "GCM": json.dumps({"data": {"k": "v"}})})
        mid = self.sns.publish(TargetArn=ep, Message=msg, MessageStructure="json")["MessageId"]
        self.assertEqual(sql("SELECT message FROM sqsn.delivery WHERE message_id = '%s'" % mid),
                         '{"data": {"k": "v"}}')
        self.assertError("InvalidParameter", 400, self.sns.publish, TargetArn=ep,
                         Message=json.dumps({"default": "d", "GCM": "not json"}),
                         MessageStructure="json")
        self.assertError("NotFound", 404, self.sns.publish, TargetArn=ep[:-36] + str(uuid.uuid4()),
                         Message="hi")
        # a message goes to one of a topic, an endpoint and a phone number
        for other in ({"TopicArn": topic}, {"PhoneNumber": "+15555550612"}):
            e = self.assertError("InvalidParameter", 400, self.sns.publish, TargetArn=ep,
                                 Message="hi", **other)
            self.assertIn("only one of TopicArn, TargetArn and PhoneNumber",
                          e.response["Error"]["Message"])
        self.assertEqual(sql("SELECT count(*) FROM sqsn.delivery WHERE (endpoint_id IS NOT NULL"
                             " AND message = 'hi') OR phone_number = '+15555550612'"), "0")


class TestPublish(SnsTestCase):
    def test_publish_to_a_phone_number(self):
        number = "+15555550610"
        try:
            r = self.sns.publish(PhoneNumber=number, Message="Your code is 1234", MessageAttributes={
                "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "MyBank"},
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
            self.assertEqual(
                sql("SELECT concat_ws(' ', phone_number, coalesce(subscription_id::text, '-'),"
                    " message, message_attributes->'AWS.SNS.SMS.SenderID'->>'StringValue')"
                    " FROM sqsn.delivery WHERE message_id = '%s'" % r["MessageId"]),
                number + " - Your code is 1234 MyBank")
            self.assertError("InvalidParameter", 400, self.sns.publish,
                             PhoneNumber="555-0610", Message="x")
            self.assertError("InvalidParameter", 400, self.sns.publish,
                             PhoneNumber=number, Message="")
            self.assertError("InvalidParameter", 400, self.sns.publish, PhoneNumber=number,
                             Message="x", TopicArn=self.topic("smsdirect"))
            self.assertError("InvalidParameter", 400, self.sns.publish, PhoneNumber=number,
                             Message="x", MessageAttributes={"AWS.SNS.SMS.SMSType": {
                                 "DataType": "String", "StringValue": "Urgent"}})
            sql("SELECT sqsn.sn_opt_out_phone_number('%s')" % number)
            e = self.assertError("OptedOut", 400, self.sns.publish, PhoneNumber=number,
                                 Message="refused")
            self.assertIn("opted out", e.response["Error"]["Message"])
            self.assertIsInstance(e, self.sns.exceptions.OptedOutException)
            denied = client("sns", DENIED_KEY, DENIED_SECRET)
            self.assertError("AuthorizationError", 403, denied.publish, PhoneNumber="+15555550611",
                             Message="x")
            self.assertEqual(sql("SELECT count(*) FROM sqsn.delivery WHERE phone_number IN"
                                 " ('%s', '+15555550611')" % number), "1")
        finally:
            sql("SELECT sqsn.sn_opt_in_phone_number('%s')" % number)
            sql("DELETE FROM sqsn.delivery WHERE phone_number = '%s'" % number)

    def test_fan_out_with_filter_policies_and_raw_delivery(self):
        arn = self.topic("fan")
        all_url, all_arn = self.queue("fan-all")
        red_url, red_arn = self.queue("fan-red")
        body_url, body_arn = self.queue("fan-body")
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=all_arn)
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=red_arn,
                           Attributes={"RawMessageDelivery": "true",
                                       "FilterPolicy": json.dumps({"color": ["red"],
                                                                   "size": [{"numeric": [">", 10]}]})})
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=body_arn,
                           Attributes={"FilterPolicyScope": "MessageBody",
                                       "FilterPolicy": json.dumps({"order": {"kind": ["paid"]}})})

        m1 = json.dumps({"order": {"kind": "paid", "id": 1}})
        id1 = self.sns.publish(TopicArn=arn, Message=m1, Subject="first",
                               MessageAttributes={
                                   "color": {"DataType": "String", "StringValue": "red"},
                                   "size": {"DataType": "Number", "StringValue": "11"},
                                   "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})["MessageId"]
        uuid.UUID(id1)
        m2 = json.dumps({"order": {"kind": "refunded"}})
        self.sns.publish(TargetArn=arn, Message=m2,
                         MessageAttributes={"color": {"DataType": "String", "StringValue": "blue"},
                                            "size": {"DataType": "Number", "StringValue": "11"}})

        got = self.receive_all(all_url, 2)
        self.assertEqual(len(got), 2)
        envs = sorted((json.loads(m["Body"]) for m in got), key=lambda e: e["Message"] != m1)
        env = envs[0]
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], id1)
        self.assertEqual(env["TopicArn"], arn)
        self.assertEqual(env["Subject"], "first")
        self.assertEqual(env["Message"], m1)
        self.assertEqual(env["MessageAttributes"]["color"], {"Type": "String", "Value": "red"})
        self.assertEqual(env["MessageAttributes"]["blob"], {"Type": "Binary", "Value": "AAE="})
        self.assertEqual(envs[1]["Message"], m2)
        self.assertNotIn("Subject", envs[1])

        red = self.receive_all(red_url, 1)
        self.assertEqual([m["Body"] for m in red], [m1])  # raw: the message alone
        attrs = red[0]["MessageAttributes"]
        self.assertEqual(attrs["color"], {"StringValue": "red", "DataType": "String"})
        self.assertEqual(attrs["size"]["StringValue"], "11")
        self.assertEqual(attrs["blob"]["BinaryValue"], b"\x00\x01")
        self.assertEmpty(red_url)

        body = self.receive_all(body_url, 1)
        self.assertEqual([json.loads(m["Body"])["Message"] for m in body], [m1])
        self.assertEmpty(body_url)

    def test_arns_name_the_configured_region_whatever_the_signature(self):
        # a client signing for another region gets the ARNs subscribers see
        other = "eu-west-3" if REGION != "eu-west-3" else "ap-south-1"
        sns = apienv.client("sns", region=other)
        sqs = apienv.client("sqs", region=other)
        name = PREFIX + "region"
        arn = sns.create_topic(Name=name)["TopicArn"]
        self.topics.append(arn)
        self.assertEqual(arn, topic_arn(name))
        url = sqs.create_queue(QueueName=name + "-q")["QueueUrl"]
        self.queues.append(url)
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.assertEqual(qarn, queue_arn(name + "-q"))
        sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
        self.assertTrue(sub.startswith(arn + ":"), sub)
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual((attrs["SubscriptionArn"], attrs["TopicArn"], attrs["Endpoint"]),
                         (sub, arn, qarn))
        self.assertEqual(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"], arn)
        listed = [s["SubscriptionArn"] for s in
                  sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]]
        self.assertEqual(listed, [sub])
        sns.publish(TopicArn=arn, Message="where am I")
        got = self.receive_all(url, 1)
        self.assertEqual(len(got), 1)
        self.assertEqual(json.loads(got[0]["Body"])["TopicArn"], arn)
        self.assertEqual(sql("SELECT (sqsn.sn_get_topic_attributes('%s'))->>'TopicArn'" % name),
                         arn)

    def test_message_structure_json(self):
        arn = self.topic("struct")
        url, qarn = self.queue("struct-q")
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})
        self.sns.publish(TopicArn=arn, MessageStructure="json",
                         Message=json.dumps({"default": "for everyone", "sqs": "for queues"}))
        self.sns.publish(TopicArn=arn, MessageStructure="json",
                         Message=json.dumps({"default": "only default"}))
        self.assertEqual(sorted(m["Body"] for m in self.receive_all(url, 2)),
                         ["for queues", "only default"])
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn,
                         MessageStructure="json", Message=json.dumps({"sqs": "no default"}))
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn,
                         MessageStructure="json", Message="not json")

    def test_fifo_topic_to_fifo_queue(self):
        arn = self.topic("order.fifo", Attributes={"FifoTopic": "true"})
        url, qarn = self.queue("order-q.fifo", Attributes={"FifoQueue": "true"})
        _, std_arn = self.queue("order-std")
        self.assertError("InvalidParameter", 400, self.sns.subscribe, TopicArn=arn,
                         Protocol="sqs", Endpoint=std_arn)
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})
        ids = []
        for i in range(5):
            ids.append(self.sns.publish(TopicArn=arn, Message="m%d" % i, MessageGroupId="g",
                                        MessageDeduplicationId="d%d" % i)["MessageId"])
        # a repeated deduplication id: the first message's id, no new copy
        dup = self.sns.publish(TopicArn=arn, Message="again", MessageGroupId="g",
                               MessageDeduplicationId="d1")["MessageId"]
        self.assertEqual(dup, ids[1])
        got = []
        deadline = time.time() + 10
        while len(got) < 5 and time.time() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         AttributeNames=["All"])
            for m in r.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual([m["Body"] for m in got], ["m0", "m1", "m2", "m3", "m4"])
        self.assertTrue(all(m["Attributes"]["MessageGroupId"] == "g" for m in got))
        self.assertEmpty(url)
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         MessageDeduplicationId="d9")
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         MessageGroupId="g")

    def test_fifo_publish_returns_sequence_number(self):
        arn = self.topic("seq.fifo", Attributes={"FifoTopic": "true"})
        url, qarn = self.queue("seq-q.fifo", Attributes={"FifoQueue": "true"})
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
        first = self.sns.publish(TopicArn=arn, Message="a", MessageGroupId="g",
                                 MessageDeduplicationId="sa")
        self.assertRegex(first["SequenceNumber"], r"^[0-9]{20}$")
        r = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "b", "Message": "b", "MessageGroupId": "g", "MessageDeduplicationId": "sb"},
            {"Id": "c", "Message": "c", "MessageGroupId": "h", "MessageDeduplicationId": "sc"}])
        numbers = [first["SequenceNumber"]] + [e["SequenceNumber"] for e in r["Successful"]]
        self.assertEqual(numbers, sorted(set(numbers)))
        # a duplicate returns the first publish's id and number
        dup = self.sns.publish(TopicArn=arn, Message="a", MessageGroupId="g",
                               MessageDeduplicationId="sa")
        self.assertEqual((dup["MessageId"], dup["SequenceNumber"]),
                         (first["MessageId"], first["SequenceNumber"]))
        # the envelope the queue receives has the same number
        got = self.receive_all(url, 3)
        envelopes = [json.loads(m["Body"]) for m in got]
        self.assertEqual([e["SequenceNumber"] for e in envelopes], numbers)
        self.assertEqual(envelopes[0]["MessageId"], first["MessageId"])
        # a standard topic returns none
        std = self.topic("seq-std")
        self.assertNotIn("SequenceNumber", self.sns.publish(TopicArn=std, Message="x"))

    def test_fifo_archive_policy(self):
        arn = self.topic("arch.fifo", Attributes={
            "FifoTopic": "true", "ArchivePolicy": '{"MessageRetentionPeriod": "30"}'})
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(json.loads(attrs["ArchivePolicy"]), {"MessageRetentionPeriod": "30"})
        self.assertRegex(attrs["BeginningArchiveTime"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="ArchivePolicy",
                                      AttributeValue='{"MessageRetentionPeriod": "7"}')
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(json.loads(attrs["ArchivePolicy"]), {"MessageRetentionPeriod": "7"})
        r = self.sns.publish(TopicArn=arn, Message="kept", MessageGroupId="g",
                             MessageDeduplicationId="k1")
        self.assertEqual(sql("SELECT a.message || ' ' || a.message_id FROM sqsn.topic_archive a"
                             " JOIN sqsn.topic t USING (topic_id)"
                             " WHERE t.topic_name = '%sarch.fifo'" % PREFIX),
                         "kept " + r["MessageId"])
        for bad in ('{"MessageRetentionPeriod": "0"}', '{"MessageRetentionPeriod": "366"}',
                    '{"Days": "3"}', "not json"):
            self.assertError("InvalidParameter", 400, self.sns.set_topic_attributes,
                             TopicArn=arn, AttributeName="ArchivePolicy", AttributeValue=bad)
        std = self.topic("arch-std")
        self.assertError("InvalidParameter", 400, self.sns.set_topic_attributes, TopicArn=std,
                         AttributeName="ArchivePolicy",
                         AttributeValue='{"MessageRetentionPeriod": "30"}')
        # off: the archive goes, and the attributes with it
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="ArchivePolicy",
                                      AttributeValue="{}")
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertNotIn("ArchivePolicy", attrs)
        self.assertNotIn("BeginningArchiveTime", attrs)
        self.assertEqual(sql("SELECT count(*) FROM sqsn.topic_archive a JOIN sqsn.topic t"
                             " USING (topic_id) WHERE t.topic_name = '%sarch.fifo'" % PREFIX), "0")

    def test_fifo_replay_policy(self):
        arn = self.topic("replay.fifo", Attributes={
            "FifoTopic": "true", "ArchivePolicy": '{"MessageRetentionPeriod": "1"}'})
        url, qarn = self.queue("replay-q.fifo", Attributes={"FifoQueue": "true"})
        sub = self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
        published = [self.sns.publish(TopicArn=arn, Message="r%d" % i, MessageGroupId="g",
                                      MessageDeduplicationId="r%d" % i) for i in range(3)]
        self.assertEqual(len(self.receive_all(url, 3)), 3)  # the live copies
        begin = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["BeginningArchiveTime"]
        # refusals: a bad policy, a start before BeginningArchiveTime
        for bad in ('{"PointType": "Timestamp"}',
                    '{"PointType": "Timestamp", "StartingPoint": "2001-01-01T00:00:00.000Z"}',
                    '{"PointType": "Sometime", "StartingPoint": "%s"}' % begin):
            self.assertError("InvalidParameter", 400, self.sns.set_subscription_attributes,
                             SubscriptionArn=sub, AttributeName="ReplayPolicy",
                             AttributeValue=bad)
        self.sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="ReplayPolicy",
            AttributeValue=json.dumps({"PointType": "Timestamp", "StartingPoint": begin}))
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(json.loads(attrs["ReplayPolicy"])["StartingPoint"], begin)
        self.assertIn(attrs["ReplayStatus"], ("Pending", "In progress", "Completed"))
        # the maintenance worker replays them
        deadline = time.time() + 30
        while time.time() < deadline and attrs["ReplayStatus"] != "Completed":
            time.sleep(0.2)
            attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["ReplayStatus"], "Completed")
        got = [json.loads(m["Body"]) for m in self.receive_all(url, 3)]
        self.assertEqual([e["Message"] for e in got], ["r0", "r1", "r2"])
        self.assertTrue(all(e["Replayed"] is True for e in got))
        self.assertEqual([(e["MessageId"], e["SequenceNumber"]) for e in got],
                         [(p["MessageId"], p["SequenceNumber"]) for p in published])
        self.assertEmpty(url)
        # Subscribe takes a ReplayPolicy too: a new subscriber gets the archive
        url2, qarn2 = self.queue("replay-q2.fifo", Attributes={"FifoQueue": "true"})
        sub2 = self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn2, Attributes={
            "RawMessageDelivery": "true",
            "ReplayPolicy": json.dumps({"PointType": "Timestamp", "StartingPoint": begin})})
        self.assertEqual([m["Body"] for m in self.receive_all(url2, 3, timeout=30)],
                         ["r0", "r1", "r2"])
        self.assertEqual(self.sns.get_subscription_attributes(
            SubscriptionArn=sub2["SubscriptionArn"])["Attributes"]["ReplayStatus"], "Completed")
        # a standard topic's subscription has no replay
        std = self.topic("replay-std")
        _, sqarn = self.queue("replay-std-q")
        ssub = self.sns.subscribe(TopicArn=std, Protocol="sqs", Endpoint=sqarn)["SubscriptionArn"]
        self.assertError("InvalidParameter", 400, self.sns.set_subscription_attributes,
                         SubscriptionArn=ssub, AttributeName="ReplayPolicy",
                         AttributeValue=json.dumps({"PointType": "Timestamp",
                                                    "StartingPoint": begin}))

    def test_standard_topic_forwards_message_group_id(self):
        arn = self.topic("tenants")
        url, qarn = self.queue("tenants-q")
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})
        self.sns.publish(TopicArn=arn, Message="a", MessageGroupId="tenant-a")
        self.sns.publish(TopicArn=arn, Message="none")
        self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "b", "Message": "b", "MessageGroupId": "tenant-b"}])
        got = {}
        deadline = time.time() + 10
        while len(got) < 3 and time.time() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         AttributeNames=["MessageGroupId"])
            for m in r.get("Messages", []):
                got[m["Body"]] = m.get("Attributes", {}).get("MessageGroupId")
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(got, {"a": "tenant-a", "none": None, "b": "tenant-b"})

    def test_publish_errors(self):
        arn = self.topic("puberr")
        self.assertError("NotFound", 404, self.sns.publish, TopicArn=topic_arn(PREFIX + "ghost"),
                         Message="x")
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="")
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn,
                         Message="x" * 262145)
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         Subject="s" * 101)
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         Subject="two\nlines")
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         MessageDeduplicationId="d")
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         MessageGroupId="two words")
        self.assertError("InvalidParameter", 400, self.sns.publish, TopicArn=arn, Message="x",
                         MessageAttributes={"a%d" % i: {"DataType": "String", "StringValue": "v"}
                                            for i in range(11)})


class TestPublishBatch(SnsTestCase):
    def test_batch_with_partial_failure(self):
        arn = self.topic("batch")
        url, qarn = self.queue("batch-q")
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})
        r = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {"Id": "b", "Message": "two",
             "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "c", "Message": "three"}])
        self.assertEqual([s["Id"] for s in r["Successful"]], ["a", "b", "c"])
        self.assertEqual(r["Failed"], [])
        self.assertEqual(sorted(m["Body"] for m in self.receive_all(url, 3)), ["one", "three", "two"])

        r = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "ok1", "Message": "fine", "Subject": "with a subject"},
            {"Id": "bad-subject", "Message": "x", "Subject": "s" * 101},
            {"Id": "empty", "Message": ""},
            {"Id": "ok2", "Message": "also fine"},
            {"Id": "bad-structure", "Message": "not json", "MessageStructure": "json"}])
        self.assertEqual(sorted(s["Id"] for s in r["Successful"]), ["ok1", "ok2"])
        failed = {f["Id"]: f for f in r["Failed"]}
        self.assertEqual(sorted(failed), ["bad-structure", "bad-subject", "empty"])
        for f in failed.values():
            self.assertEqual(f["Code"], "InvalidParameter")
            self.assertTrue(f["SenderFault"])
            self.assertTrue(f["Message"])
        self.assertEqual(sorted(m["Body"] for m in self.receive_all(url, 2)), ["also fine", "fine"])
        self.assertEmpty(url)

    def test_fifo_batch(self):
        arn = self.topic("batch.fifo", Attributes={"FifoTopic": "true",
                                                   "ContentBasedDeduplication": "true"})
        url, qarn = self.queue("batch-q.fifo", Attributes={"FifoQueue": "true",
                                                          "ContentBasedDeduplication": "true"})
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})
        r = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "e%d" % i, "Message": "f%d" % i, "MessageGroupId": "g"} for i in range(10)])
        self.assertEqual(len(r["Successful"]), 10)
        r = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "nogroup", "Message": "x"}, {"Id": "fine", "Message": "f10", "MessageGroupId": "g"}])
        self.assertEqual([s["Id"] for s in r["Successful"]], ["fine"])
        self.assertEqual([f["Id"] for f in r["Failed"]], ["nogroup"])
        got = []
        deadline = time.time() + 10
        while len(got) < 11 and time.time() < deadline:
            for m in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=1).get("Messages", []):
                got.append(m["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(got, ["f%d" % i for i in range(11)])

    def test_whole_batch_errors(self):
        arn = self.topic("batcherr")

        def batch(entries):
            params = {"Action": "PublishBatch", "TopicArn": arn}
            for i, e in enumerate(entries, 1):
                for k, v in e.items():
                    params["PublishBatchRequestEntries.member.%d.%s" % (i, k)] = v
            return raw(params)

        for entries, code in [
                ([], "EmptyBatchRequest"),
                ([{"Id": "e%d" % i, "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
                ([{"Id": "same", "Message": "m"}, {"Id": "same", "Message": "n"}], "BatchEntryIdsNotDistinct"),
                ([{"Id": "bad id!", "Message": "m"}], "InvalidBatchEntryId"),
                ([{"Id": "x" * 81, "Message": "m"}], "InvalidBatchEntryId"),
                ([{"Id": "a", "Message": "x" * 200000}, {"Id": "b", "Message": "y" * 70000}],
                 "BatchRequestTooLong")]:
            status, body = batch(entries)
            self.assertEqual(status, 400, body)
            self.assertIn("<Code>%s</Code>" % code, body)
        self.assertError("NotFound", 404, self.sns.publish_batch,
                         TopicArn=topic_arn(PREFIX + "ghost"),
                         PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}])


@unittest.skipUnless(DENIED_KEY, "the harness made no role without grants")
class TestAuthorization(SnsTestCase):
    def test_role_without_grants(self):
        denied = client("sns", DENIED_KEY, DENIED_SECRET)
        arn = self.topic("authz")
        for fn, kw in [(denied.publish, {"TopicArn": arn, "Message": "x"}),
                       (denied.get_topic_attributes, {"TopicArn": arn}),
                       (denied.set_topic_attributes, {"TopicArn": arn, "AttributeName": "DisplayName",
                                                      "AttributeValue": "x"}),
                       (denied.delete_topic, {"TopicArn": arn}),
                       (denied.create_topic, {"Name": PREFIX + "authz2"}),
                       (denied.publish_batch, {"TopicArn": arn, "PublishBatchRequestEntries":
                                               [{"Id": "a", "Message": "m"}]})]:
            self.assertError("AuthorizationError", 403, fn, **kw)
        # the topic is still there
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"], arn)


class Sink:
    """An HTTP server on 127.0.0.1 that records every POST."""

    def __init__(self):
        self.requests = []
        self.cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with sink.cond:
                    sink.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
                    sink.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n, timeout=60):
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TestHttpPush(SnsTestCase):
    def setUp(self):
        super().setUp()
        self.allowed = sql("SHOW sqsn.http_allowed_hosts")
        sql("ALTER SYSTEM SET sqsn.http_allowed_hosts = '127.0.0.1'")
        sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
        self.sink = Sink()

    def tearDown(self):
        self.sink.close()
        if self.allowed:
            sql("ALTER SYSTEM SET sqsn.http_allowed_hosts = '%s'" % self.allowed.replace("'", "''"))
        else:
            sql("ALTER SYSTEM RESET sqsn.http_allowed_hosts")
        sql("SELECT pg_reload_conf()")
        super().tearDown()

    def test_confirm_through_subscribe_url_then_notify(self):
        arn = self.topic("push")
        endpoint = "http://127.0.0.1:%d/hook" % self.sink.port
        r = self.sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint)
        self.assertEqual(r["SubscriptionArn"], "pending confirmation")
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"][0]
                         ["SubscriptionArn"], "PendingConfirmation")

        reqs = self.sink.wait(1)
        self.assertEqual(len(reqs), 1, "the SubscriptionConfirmation arrived")
        conf = reqs[0]
        headers = {k.lower(): v for k, v in conf["headers"].items()}
        self.assertEqual(headers["x-amz-sns-message-type"], "SubscriptionConfirmation")
        self.assertEqual(headers["x-amz-sns-topic-arn"], arn)
        env = json.loads(conf["body"])
        self.assertEqual(env["Type"], "SubscriptionConfirmation")
        self.assertEqual(env["TopicArn"], arn)
        link = urllib.parse.urlsplit(env["SubscribeURL"])
        self.assertEqual((link.scheme, link.port, link.path), ("http", PORT, "/"), env["SubscribeURL"])
        self.assertEqual(urllib.parse.parse_qs(link.query),
                         {"Action": ["ConfirmSubscription"], "TopicArn": [arn], "Token": [env["Token"]]})

        # what a subscriber does: GET the link, unsigned
        with urllib.request.urlopen(env["SubscribeURL"], timeout=30) as resp:
            self.assertEqual(resp.status, 200)
            xml = resp.read().decode()
        self.assertIn("<ConfirmSubscriptionResponse", xml)
        subs = self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        sub = subs[0]["SubscriptionArn"]
        self.assertIn("<SubscriptionArn>%s</SubscriptionArn>" % sub, xml)
        self.assertTrue(sub.startswith(arn + ":"))
        a = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(a["PendingConfirmation"], "false")
        self.assertEqual(a["Endpoint"], endpoint)

        mid = self.sns.publish(TopicArn=arn, Message="pushed", Subject="hello")["MessageId"]
        reqs = self.sink.wait(2)
        self.assertEqual(len(reqs), 2, "the Notification arrived")
        note = reqs[1]
        headers = {k.lower(): v for k, v in note["headers"].items()}
        self.assertEqual(headers["x-amz-sns-message-type"], "Notification")
        self.assertEqual(headers["x-amz-sns-subscription-arn"], sub)
        env = json.loads(note["body"])
        self.assertEqual((env["Type"], env["MessageId"], env["Message"], env["Subject"], env["TopicArn"]),
                         ("Notification", mid, "pushed", "hello", arn))
        link = urllib.parse.urlsplit(env["UnsubscribeURL"])
        self.assertEqual((link.port, link.path), (PORT, "/"), env["UnsubscribeURL"])
        self.assertEqual(urllib.parse.parse_qs(link.query),
                         {"Action": ["Unsubscribe"], "SubscriptionArn": [sub]})

        with urllib.request.urlopen(env["UnsubscribeURL"], timeout=30) as resp:
            self.assertEqual(resp.status, 200)
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"], [])

    def test_confirm_subscription_action_and_raw_push(self):
        arn = self.topic("push2")
        endpoint = "http://127.0.0.1:%d/raw" % self.sink.port
        self.sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint,
                           Attributes={"RawMessageDelivery": "true"})
        reqs = self.sink.wait(1)
        token = json.loads(reqs[0]["body"])["Token"]
        sub = self.sns.confirm_subscription(TopicArn=arn, Token=token)["SubscriptionArn"]
        self.assertTrue(sub.startswith(arn + ":"))
        self.sns.publish(TopicArn=arn, Message="raw body")
        reqs = self.sink.wait(2)
        self.assertEqual(reqs[1]["body"], "raw body")
        headers = {k.lower(): v for k, v in reqs[1]["headers"].items()}
        self.assertEqual(headers.get("x-amz-sns-rawdelivery"), "true")


if __name__ == "__main__":
    unittest.main(verbosity=2)
