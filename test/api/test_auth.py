#!/usr/bin/python3
"""Authentication of the endpoint (AWS Signature Version 4) with Debian's
boto3 1.26.

Run by test/api/run, which exports SQSN_API_URL, the tester's access key
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a member of sqsn_admin), the key
of a role granted no queue or topic (SQSN_API_DENIED_KEY_ID /
SQSN_API_DENIED_SECRET), the region, SQSN_API_AUTH and PGHOST/PGPORT/
PGDATABASE for checks in SQL as the superuser.

Signed calls succeed; a wrong secret, an unknown key, a body or header
changed after signing, a stale X-Amz-Date, an unsigned request, a dropped
key and a key whose role was dropped are refused with AWS's error codes, and
a refused request has done nothing. A key whose role lacks a grant gets
AccessDenied from the grant check. Presigned URLs work until they expire.
The older Date header form of the signature works; a scope naming the other
service is refused. A key made with a session token takes only requests
carrying it, and a key without one refuses requests that carry one.
The unsigned links of SNS's messages get through. With sqsn.api_auth set to
'none' for a while (ALTER SYSTEM, reset afterwards), nothing is verified but
a known key still runs as its role.
"""

import datetime
import hashlib
import hmac
import html
import unittest
import urllib.parse
import uuid

import boto3
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

# every queue and topic of this file: the harness deletes apitest* ones
from apienv import (AUTH, DENIED_KEY, DENIED_SECRET, KEY, QUERY_FORM, REGION,  # noqa: E402
                    SECRET, URL, error_code, send, sign, sql)
import apienv  # noqa: E402

PREFIX = "apitest-auth-%s-" % uuid.uuid4().hex[:6]
# a well-formed key id that no one has
UNKNOWN_KEY = "AKIAUNKNOWN" + uuid.uuid4().hex[:9].upper()

signed_only = unittest.skipUnless(AUTH == "sigv4", "sqsn.api_auth is not sigv4")


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def queue_exists(name):
    return sql("SELECT count(*) FROM sqsn.queue WHERE queue_name = %s" % quote(name)) == "1"


def client(service="sqs", key=KEY, secret=SECRET, unsigned=False):
    return apienv.client(service, key, secret, unsigned, read_timeout=30)


def create_queue_body(name):
    return "Action=CreateQueue&Version=2012-11-05&QueueName=" + urllib.parse.quote(name)


class SignedRequests(unittest.TestCase):
    def test_signed_sqs_calls_succeed(self):
        sqs = client()
        name = PREFIX + "ok"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.assertTrue(queue_exists(name))
        sqs.send_message(QueueUrl=url, MessageBody="signed")
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        self.assertEqual([m["Body"] for m in msgs], ["signed"])
        self.assertIn(url, sqs.list_queues(QueueNamePrefix=PREFIX).get("QueueUrls", []))

    def test_signed_sns_calls_succeed(self):
        sns = client("sns")
        arn = sns.create_topic(Name=PREFIX + "topic")["TopicArn"]
        self.assertIn(arn, [t["TopicArn"] for t in sns.list_topics().get("Topics", [])])

    def test_json_protocol_request_signed_with_its_target(self):
        m, u, h, b = sign(body='{"QueueNamePrefix": "%s"}' % PREFIX,
                          headers={"Content-Type": "application/x-amz-json-1.0",
                                   "X-Amz-Target": "AmazonSQS.ListQueues"})
        status, text = send(m, u, h, b)
        self.assertEqual(status, 200, text)

    def test_header_whitespace_does_not_matter(self):
        # canonical headers trim values and collapse inner runs of spaces
        name = PREFIX + "spaces"
        m, u, h, b = sign(body=create_queue_body(name))
        h["Content-Type"] = "  application/x-www-form-urlencoded;    charset=utf-8  "
        status, text = send(m, u, h, b)
        self.assertEqual(status, 200, text)
        self.assertTrue(queue_exists(name))

    def test_presigned_url_works(self):
        m, u, h, b = sign("GET", "/?Action=ListQueues&Version=2012-11-05&QueueNamePrefix=" + PREFIX,
                          presign_expires=300)
        self.assertNotIn("Authorization", h)
        self.assertIn("X-Amz-Signature=", u)
        status, text = send(m, u, h, b)
        self.assertEqual(status, 200, text)


@signed_only
class RefusedRequests(unittest.TestCase):
    def assert_refused(self, status, text, code, http_status=403):
        self.assertEqual(error_code(text), code, text)
        self.assertEqual(status, http_status, text)

    def test_wrong_secret_is_refused_and_nothing_runs(self):
        name = PREFIX + "wrong-secret"
        sqs = client(secret=SECRET[:-4] + "XXXX")
        with self.assertRaises(ClientError) as cm:
            sqs.create_queue(QueueName=name)
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], "SignatureDoesNotMatch")
        self.assertIn("does not match the signature you provided", err["Message"])
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertFalse(queue_exists(name))

    def test_wrong_secret_sns(self):
        with self.assertRaises(ClientError) as cm:
            client("sns", secret="not-the-secret-0123456789").create_topic(Name=PREFIX + "t-wrong")
        self.assertEqual(cm.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        self.assertEqual(sql("SELECT count(*) FROM sqsn.topic WHERE topic_name = %s"
                             % quote(PREFIX + "t-wrong")), "0")

    def test_unknown_key_is_refused(self):
        with self.assertRaises(ClientError) as cm:
            client(key=UNKNOWN_KEY).list_queues()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidClientTokenId")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_malformed_key_id_is_unknown(self):
        with self.assertRaises(ClientError) as cm:
            client(key="test").list_queues()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidClientTokenId")

    def test_body_changed_after_signing_is_refused(self):
        good, evil = PREFIX + "body-a", PREFIX + "body-b"
        m, u, h, b = sign(body=create_queue_body(good))
        evil_body = create_queue_body(evil)
        self.assertEqual(len(evil_body), len(b))  # Content-Length stays right
        status, text = send(m, u, h, evil_body)
        self.assert_refused(status, text, "SignatureDoesNotMatch")
        self.assertFalse(queue_exists(good))
        self.assertFalse(queue_exists(evil))

    def test_signed_header_changed_after_signing_is_refused(self):
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05")
        h["Content-Type"] = "application/x-www-form-urlencoded"
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")

    def test_content_sha256_must_match_the_body(self):
        name = PREFIX + "sha"
        m, u, h, b = sign(body=create_queue_body(name),
                          headers={"X-Amz-Content-SHA256": "0" * 64})
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")
        self.assertFalse(queue_exists(name))

    def test_old_date_is_refused(self):
        then = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05", when=then)
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")
        self.assertIn("Signature expired", text)

    def test_future_date_is_refused(self):
        then = datetime.datetime.utcnow() + datetime.timedelta(minutes=20)
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05", when=then)
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")
        self.assertIn("not yet current", text)

    def test_date_within_fifteen_minutes_is_accepted(self):
        then = datetime.datetime.utcnow() - datetime.timedelta(minutes=10)
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05", when=then)
        status, text = send(m, u, h, b)
        self.assertEqual(status, 200, text)

    def test_unsigned_request_is_refused(self):
        name = PREFIX + "unsigned"
        with self.assertRaises(ClientError) as cm:
            client(unsigned=True).create_queue(QueueName=name)
        self.assertEqual(cm.exception.response["Error"]["Code"], "MissingAuthenticationToken")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertFalse(queue_exists(name))

    def test_malformed_authorization_is_refused(self):
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05")
        h["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/20260101/%s/sqs/aws4_request" % (KEY, REGION)
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "IncompleteSignature", 400)

    def test_scope_must_end_in_aws4_request(self):
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05")
        h["Authorization"] = h["Authorization"].replace("/aws4_request", "/aws5_request")
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")

    def test_presigned_url_changed_is_refused(self):
        m, u, h, b = sign("GET", "/?Action=ListQueues&Version=2012-11-05&QueueNamePrefix=" + PREFIX,
                          presign_expires=300)
        status, text = send(m, u.replace("QueueNamePrefix=" + PREFIX, "QueueNamePrefix=x"), h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")

    def test_presigned_url_expires(self):
        then = datetime.datetime.utcnow() - datetime.timedelta(seconds=120)
        m, u, h, b = sign("GET", "/?Action=ListQueues&Version=2012-11-05", presign_expires=60, when=then)
        status, text = send(m, u, h, b)
        self.assert_refused(status, text, "SignatureDoesNotMatch")
        self.assertIn("Signature expired", text)

    def test_dropped_key_is_refused(self):
        role = sql("SELECT role FROM sqsn.api_access_keys WHERE access_key_id = %s" % quote(KEY))
        key, secret = sql("SELECT access_key_id || ' ' || secret_access_key"
                          " FROM sqsn.api_create_credentials(%s)" % quote(role)).split(" ")
        client(key=key, secret=secret).list_queues()
        self.assertEqual(sql("SELECT sqsn.api_drop_credentials(%s)" % quote(key)), "t")
        with self.assertRaises(ClientError) as cm:
            client(key=key, secret=secret).list_queues()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidClientTokenId")

    def test_key_of_dropped_role_is_refused(self):
        role = "apitest_auth_gone_" + uuid.uuid4().hex[:6]
        sql("CREATE ROLE %s IN ROLE sqsn_admin" % role)
        try:
            key, secret = sql("SELECT access_key_id || ' ' || secret_access_key"
                              " FROM sqsn.api_create_credentials(%s)" % quote(role)).split(" ")
            client(key=key, secret=secret).list_queues()
            sql("DROP ROLE %s" % role)
            with self.assertRaises(ClientError) as cm:
                client(key=key, secret=secret).list_queues()
            self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidClientTokenId")
        finally:
            sql("SELECT count(sqsn.api_drop_credentials(access_key_id)) FROM sqsn.api_access_keys"
                " WHERE role = %s" % quote(role))
            sql("DROP ROLE IF EXISTS %s" % role)


def sign_with_date_header(body, when, signed=("content-type", "date", "host")):
    """A POST signed by hand in SigV4's older form: a Date header in HTTP's
    format instead of X-Amz-Date (the string to sign holds the date in ISO
    8601 basic format)."""
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {"content-type": QUERY_FORM, "date": when.strftime("%a, %d %b %Y %H:%M:%S GMT"),
               "host": apienv.SPLIT.netloc}
    canonical_headers = "".join("%s:%s\n" % (h, headers[h]) for h in signed)
    creq = "\n".join(["POST", "/", "", canonical_headers, ";".join(signed),
                      hashlib.sha256(body.encode()).hexdigest()])
    scope = "%s/%s/sqs/aws4_request" % (amz_date[:8], REGION)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in (amz_date[:8], REGION, "sqs", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        KEY, scope, ";".join(signed), signature)
    return "POST", URL + "/", headers, body


@signed_only
class SignatureForms(unittest.TestCase):
    """The Date header form of SigV4, and the credential scope's service."""

    def test_date_header_form_is_accepted(self):
        now = datetime.datetime.utcnow()
        status, text = send(*sign_with_date_header("Action=ListQueues&Version=2012-11-05", now))
        self.assertEqual(status, 200, text)

    def test_stale_date_header_is_refused(self):
        then = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
        status, text = send(*sign_with_date_header("Action=ListQueues&Version=2012-11-05", then))
        self.assertEqual(error_code(text), "SignatureDoesNotMatch", text)
        self.assertIn("Signature expired", text)

    def test_unsigned_date_header_does_not_date_the_request(self):
        now = datetime.datetime.utcnow()
        status, text = send(*sign_with_date_header("Action=ListQueues&Version=2012-11-05", now,
                                                   signed=("content-type", "host")))
        self.assertEqual(error_code(text), "SignatureDoesNotMatch", text)
        self.assertIn("'X-Amz-Date' or a 'Date' header", html.unescape(text))

    def test_scope_of_an_unknown_service_is_accepted(self):
        # what signers that take the service from the host name send
        m, u, h, b = sign(body="Action=ListQueues&Version=2012-11-05", service="s3")
        status, text = send(m, u, h, b)
        self.assertEqual(status, 200, text)

    def test_scope_of_another_service_is_refused(self):
        name = PREFIX + "wrong-service"
        m, u, h, b = sign(body=create_queue_body(name), service="sns")
        status, text = send(m, u, h, b)
        self.assertEqual(error_code(text), "SignatureDoesNotMatch", text)
        self.assertEqual(status, 403, text)
        self.assertIn("correct service: 'sqs'", html.unescape(text))
        self.assertFalse(queue_exists(name))


@signed_only
class SessionTokens(unittest.TestCase):
    """A key made with a session token takes only requests carrying it
    (X-Amz-Security-Token); a key without one takes none that carries one."""

    @classmethod
    def setUpClass(cls):
        role = sql("SELECT role FROM sqsn.api_access_keys WHERE access_key_id = %s" % quote(KEY))
        cls.token = "FwoGZXIvYXdzE" + uuid.uuid4().hex * 8
        cls.key, cls.secret = sql("SELECT access_key_id || ' ' || secret_access_key"
                                  " FROM sqsn.api_create_credentials(%s, session_token => %s)"
                                  % (quote(role), quote(cls.token))).split(" ")

    @classmethod
    def tearDownClass(cls):
        sql("SELECT sqsn.api_drop_credentials(%s)" % quote(cls.key))

    def session(self, key, secret, token):
        return boto3.client("sqs", endpoint_url=URL, region_name=REGION, aws_access_key_id=key,
                            aws_secret_access_key=secret, aws_session_token=token,
                            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))

    def assert_invalid_token(self, sqs):
        name = PREFIX + "token-" + uuid.uuid4().hex[:6]
        with self.assertRaises(ClientError) as cm:
            sqs.create_queue(QueueName=name)
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidClientTokenId")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertFalse(queue_exists(name))

    def test_the_token_lets_the_request_in(self):
        sqs = self.session(self.key, self.secret, self.token)
        name = PREFIX + "with-token"
        sqs.create_queue(QueueName=name)
        self.assertTrue(queue_exists(name))
        self.assertEqual(sql("SELECT with_session_token FROM sqsn.api_access_keys WHERE access_key_id = %s"
                             % quote(self.key)), "t")

    def test_a_wrong_token_is_refused(self):
        self.assert_invalid_token(self.session(self.key, self.secret, self.token[:-1] + "x"))

    def test_a_missing_token_is_refused(self):
        self.assert_invalid_token(self.session(self.key, self.secret, None))

    def test_a_token_for_a_key_without_one_is_refused(self):
        self.assert_invalid_token(self.session(KEY, SECRET, self.token))

    def test_presigned_url_carries_the_token(self):
        req = AWSRequest(method="GET", url=URL + "/?Action=ListQueues&Version=2012-11-05")
        SigV4QueryAuth(Credentials(self.key, self.secret, self.token), "sqs", REGION, expires=60).add_auth(req)
        p = req.prepare()
        self.assertIn("X-Amz-Security-Token=", p.url)
        status, text = send(p.method, p.url, dict(p.headers), "")
        self.assertEqual(status, 200, text)


class SubscriptionLinks(unittest.TestCase):
    """The links in SNS's messages are unsigned GETs: they get through to
    the action (whose token or subscription id is the credential); any
    other unsigned GET does not."""

    def test_unsigned_confirm_subscription_link_gets_through(self):
        status, text = send("GET", URL + "/?Action=ConfirmSubscription&TopicArn="
                            "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Aapitest-auth-none"
                            "&Token=0123456789abcdef", {}, "")
        self.assertNotIn(error_code(text), ("MissingAuthenticationToken", "InvalidClientTokenId",
                                            "SignatureDoesNotMatch", "IncompleteSignature"), text)

    def test_unsigned_unsubscribe_link_gets_through(self):
        status, text = send("GET", URL + "/?Action=Unsubscribe&SubscriptionArn="
                            "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Aapitest-auth-none%3A"
                            + str(uuid.uuid4()), {}, "")
        self.assertNotIn(error_code(text), ("MissingAuthenticationToken", "InvalidClientTokenId",
                                            "SignatureDoesNotMatch", "IncompleteSignature"), text)

    @signed_only
    def test_other_unsigned_get_is_refused(self):
        status, text = send("GET", URL + "/?Action=ListQueues&Version=2012-11-05", {}, "")
        self.assertEqual(error_code(text), "MissingAuthenticationToken", text)
        self.assertEqual(status, 403)

    @signed_only
    def test_unsigned_post_of_unsubscribe_is_refused(self):
        status, text = send("POST", URL + "/", {"Content-Type": QUERY_FORM},
                            "Action=Unsubscribe&Version=2010-03-31&SubscriptionArn=x")
        self.assertEqual(error_code(text), "MissingAuthenticationToken", text)


@signed_only
class NoneMode(unittest.TestCase):
    """sqsn.api_auth = 'none' (the endpoint listens on loopback here):
    nothing is verified, but a known key still decides the role."""

    @classmethod
    def setUpClass(cls):
        cls.set_mode("none")

    @classmethod
    def tearDownClass(cls):
        sql("ALTER SYSTEM RESET sqsn.api_auth")
        sql("SELECT pg_reload_conf()")
        cls.wait_until(lambda: send("GET", URL + "/?Action=ListQueues&Version=2012-11-05", {}, "")[0] == 403)

    @classmethod
    def set_mode(cls, mode):
        sql("ALTER SYSTEM SET sqsn.api_auth = '%s'" % mode)
        sql("SELECT pg_reload_conf()")
        cls.wait_until(lambda: send("GET", URL + "/?Action=ListQueues&Version=2012-11-05", {}, "")[0] == 200)

    @staticmethod
    def wait_until(check):
        # every worker rereads the setting at its next request or wake-up
        import time
        deadline = time.time() + 20
        hits = 0
        while time.time() < deadline:
            hits = hits + 1 if check() else 0
            if hits >= 10:
                return
            time.sleep(0.05)
        raise AssertionError("sqsn.api_auth did not take effect")

    def test_unsigned_request_runs(self):
        name = PREFIX + "none-unsigned"
        client(unsigned=True).create_queue(QueueName=name)
        self.assertTrue(queue_exists(name))

    def test_made_up_key_runs(self):
        client(key="test", secret="test").list_queues()

    @unittest.skipUnless(DENIED_KEY, "no key of a role without grants")
    def test_known_key_keeps_its_role_whatever_the_signature(self):
        url = client(key=KEY, secret="not-the-secret").create_queue(QueueName=PREFIX + "none-private")["QueueUrl"]
        with self.assertRaises(ClientError) as cm:
            client(key=DENIED_KEY, secret="not-the-secret").send_message(QueueUrl=url, MessageBody="x")
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDenied")


@unittest.skipUnless(DENIED_KEY and DENIED_SECRET, "no key of a role without grants")
class Grants(unittest.TestCase):
    def test_role_without_grant_gets_access_denied(self):
        url = client().create_queue(QueueName=PREFIX + "private")["QueueUrl"]
        denied = client(key=DENIED_KEY, secret=DENIED_SECRET)
        with self.assertRaises(ClientError) as cm:
            denied.send_message(QueueUrl=url, MessageBody="not allowed")
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDenied")
        self.assertEqual(client().get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            ["ApproximateNumberOfMessages"], "0")

    def test_grant_lets_the_role_in(self):
        name = PREFIX + "granted"
        url = client().create_queue(QueueName=name)["QueueUrl"]
        role = sql("SELECT role FROM sqsn.api_access_keys WHERE access_key_id = %s" % quote(DENIED_KEY))
        sql("SELECT sqsn.sq_grant(%s, %s, '{send}')" % (quote(name), quote(role)))
        client(key=DENIED_KEY, secret=DENIED_SECRET).send_message(QueueUrl=url, MessageBody="allowed")


if __name__ == "__main__":
    unittest.main()
