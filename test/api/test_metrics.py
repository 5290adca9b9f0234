#!/usr/bin/python3
"""Observability through the endpoint: GET /metrics in the Prometheus text
format, checked with `promtool check metrics` (Debian's prometheus
package); the counters after sends, receives and deletes made with boto3;
a long poll counted as one receive; the bearer token of /metrics; the
example scrape config, alert rules and Grafana dashboard of
examples/monitoring/ (promtool, and every metric they name exists); and
trace context (AWSTraceHeader, traceparent) through send, receive and
topic fan-out.

Run by test/api/run (see apienv.py for what it exports).
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

from apienv import URL, client, sql

PREFIX = "apitest-metrics-%s-" % uuid.uuid4().hex[:6]
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples", "monitoring")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def scrape(token=None):
    """(status, body) of GET /metrics."""
    req = urllib.request.Request(URL + "/metrics")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(text, name, **labels):
    want = frozenset(labels.items())
    for (n, l), v in samples(text).items():
        if n == name and want <= l:
            return v
    return None


def metric(queue, column):
    return int(sql('SELECT "%s" FROM sqsn.queue_metrics WHERE queue_name = \'%s\''
                   % (column, queue)))


class Exposition(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sqs = client("sqs")

    def test_exposition_passes_promtool_and_counts(self):
        name = PREFIX + "counts"
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
        self.assertEqual(len(got), 2)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

        status, text = scrape()
        self.assertEqual(status, 200)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(value(text, "sqsn_queue_messages_sent_total", queue=name), 3)
        self.assertEqual(value(text, "sqsn_queue_messages_received_total", queue=name), 2)
        self.assertEqual(value(text, "sqsn_queue_messages_deleted_total", queue=name), 1)
        self.assertEqual(value(text, "sqsn_queue_sent_bytes_total", queue=name), 6)
        # depth may be cached for up to sqsn.metrics_cache_time (5 s)
        self.assertIsNotNone(value(text, "sqsn_queue_messages_visible", queue=name))
        self.assertEqual(value(text, "sqsn_queue_info", queue=name, kind="standard"), 1)
        self.assertEqual(value(text, "sqsn_up"), 1)
        self.assertGreaterEqual(value(text, "sqsn_workers", worker="endpoint"), 1)
        self.assertIsNotNone(value(text, "sqsn_xmin_horizon_age_seconds", holder="transaction"))

    def test_function_mapping_families(self):
        # a mapping's invocations, errors, messages and durations, counted
        # in shared memory, with its id, queue and function as labels
        name = PREFIX + "fn"
        fn = "public.apitest_metrics_fn_%s" % PREFIX[-7:-1]
        sql("SELECT sqsn.sq_create_queue('%s', visibility_timeout => 0)" % name)
        sql("CREATE FUNCTION %s(e jsonb) RETURNS void LANGUAGE plpgsql AS $$"
            " BEGIN IF e::text LIKE '%%boom%%' THEN RAISE 'boom'; END IF; END $$" % fn)
        self.addCleanup(sql, "DROP FUNCTION %s(jsonb)" % fn)
        self.addCleanup(sql, "SELECT sqsn.sq_delete_queue('%s')" % name)
        mapping = sql("SELECT sqsn.sq_create_event_source_mapping('%s', '%s(jsonb)',"
                      " maximum_batching_window_seconds => 0, enabled => false)"
                      % (name, fn))
        sql("SELECT count(sqsn.sq_send('%s', b)) FROM unnest(ARRAY['a', 'b']) b" % name)
        self.assertEqual(sql("SELECT outcome FROM sqsn.run_event_source_mapping('%s')"
                             % mapping), "succeeded")
        sql("SELECT sqsn.sq_send('%s', 'boom')" % name)
        self.assertEqual(sql("SELECT outcome FROM sqsn.run_event_source_mapping('%s')"
                             % mapping), "failed")

        status, text = scrape()
        self.assertEqual(status, 200)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        labels = {"mapping": mapping, "queue": name, "function": fn + "(jsonb)"}
        self.assertEqual(value(text, "sqsn_function_mapping_info", state="disabled",
                               **labels), 1)
        self.assertEqual(value(text, "sqsn_function_invocations_total", **labels), 2)
        self.assertEqual(value(text, "sqsn_function_errors_total", error="failed",
                               **labels), 1)
        self.assertEqual(value(text, "sqsn_function_errors_total", error="timed_out",
                               **labels), 0)
        self.assertEqual(value(text, "sqsn_function_messages_total", **labels), 3)
        self.assertEqual(value(text, "sqsn_function_duration_seconds_count", **labels), 2)
        self.assertEqual(value(text, "sqsn_function_duration_seconds_bucket", le="+Inf",
                               **labels), 2)
        self.assertIsNotNone(value(text, "sqsn_metrics_slots", table="mappings"))

    def test_a_large_exposition_arrives_whole(self):
        # 80 queues make an answer of about 80 kB: it must arrive intact
        names = [PREFIX + "many-%02d" % i for i in range(80)]
        sql("SELECT count(sqsn.sq_create_queue(q)) FROM unnest(ARRAY['%s']) q"
            % "','".join(names))
        for _ in range(20):
            status, text = scrape()
            self.assertEqual(status, 200)
            check = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                                   capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            for q in names:
                self.assertEqual(value(text, "sqsn_queue_info", queue=q), 1, q)
            self.assertIsNotNone(value(text, "sqsn_scrape_duration_seconds"))

    def test_a_long_poll_counts_one_empty_receive(self):
        name = PREFIX + "poll"
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        started = time.time()
        res = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
        self.assertGreaterEqual(time.time() - started, 1.5)
        self.assertNotIn("Messages", res)
        self.assertEqual(metric(name, "NumberOfEmptyReceives"), 1)

        # a long poll that gets a message during its wait is no empty receive
        def later():
            time.sleep(0.7)
            client("sqs").send_message(QueueUrl=url, MessageBody="late")
        t = threading.Thread(target=later)
        t.start()
        res = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        t.join()
        self.assertEqual(len(res["Messages"]), 1)
        self.assertEqual(metric(name, "NumberOfEmptyReceives"), 1)
        self.assertEqual(metric(name, "NumberOfMessagesReceived"), 1)

    def test_a_token_guards_metrics_when_set(self):
        token = uuid.uuid4().hex
        try:
            sql("ALTER SYSTEM SET sqsn.metrics_token = '%s'" % token)
            sql("SELECT pg_reload_conf()")
            status = None
            for _ in range(100):
                status, _ = scrape()
                if status == 401:
                    break
                time.sleep(0.1)
            self.assertEqual(status, 401)
            self.assertEqual(scrape("wrong" + token)[0], 401)
            self.assertEqual(scrape(token)[0], 200)
        finally:
            sql("ALTER SYSTEM RESET sqsn.metrics_token")
            sql("SELECT pg_reload_conf()")
            for _ in range(100):
                if scrape()[0] == 200:
                    break
                time.sleep(0.1)
        self.assertEqual(scrape()[0], 200)

    def test_examples_are_valid_and_name_real_metrics(self):
        for args in (["check", "config", "prometheus.yml"],
                     ["check", "rules", "sqsn-alerts.yml"]):
            r = subprocess.run([PROMTOOL] + args, cwd=EXAMPLES, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # a push subscription, so that its families appear
        sns = client("sns")
        topic = sns.create_topic(Name=PREFIX + "examples")["TopicArn"]
        # (its confirmation POST is refused by the SSRF guard: nothing leaves)
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/x")
        status, text = scrape()
        self.assertEqual(status, 200)
        families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        with open(os.path.join(EXAMPLES, "grafana-dashboard.json")) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        with open(os.path.join(EXAMPLES, "sqsn-alerts.yml")) as f:
            exprs.append(f.read())
        named = set()
        for e in exprs:
            named.update(re.findall(r"\bsqsn_[a-z_]+", e))
        named = {re.sub(r"_(bucket|sum|count)$", "", n) if n.endswith(("_bucket", "_sum", "_count"))
                 and re.sub(r"_(bucket|sum|count)$", "", n) in families else n for n in named}
        self.assertTrue(named)
        self.assertEqual(named - families, set(), "metrics named in examples/monitoring but not exposed")


class TraceContext(unittest.TestCase):
    def test_aws_trace_header_and_traceparent_survive_send_and_receive(self):
        sqs = client("sqs")
        url = sqs.create_queue(QueueName=PREFIX + "trace")["QueueUrl"]
        sent = sqs.send_message(
            QueueUrl=url, MessageBody="traced",
            MessageAttributes={"traceparent": {"DataType": "String", "StringValue": TRACEPARENT}},
            MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": TRACE}})
        self.assertIn("MD5OfMessageSystemAttributes", sent)
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"],
                                  MessageAttributeNames=["All"])["Messages"][0]
        self.assertEqual(got["Attributes"]["AWSTraceHeader"], TRACE)
        self.assertEqual(got["MessageAttributes"]["traceparent"]["StringValue"], TRACEPARENT)
        self.assertEqual(set(got["MessageAttributes"]), {"traceparent"})
        # in SQL the trace header is the attribute AWS.TraceHeader
        self.assertEqual(sql("SELECT message_attributes->'AWS.TraceHeader'->>'StringValue'"
                             " FROM sqsn.%s" % sql("SELECT 'q_' || queue_id FROM sqsn.queue"
                                                   " WHERE queue_name = '%s'" % (PREFIX + "trace"))),
                         TRACE)

    def test_trace_header_crosses_topic_fan_out(self):
        sqs, sns = client("sqs"), client("sns")
        topic = sns.create_topic(Name=PREFIX + "trace-topic")["TopicArn"]
        urls = {}
        for raw in (False, True):
            name = PREFIX + ("raw" if raw else "enveloped")
            urls[raw] = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=urls[raw], AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
            if raw:
                sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                                AttributeValue="true")

        def add_trace(request, **kwargs):
            request.headers["X-Amzn-Trace-Id"] = TRACE
        sns.meta.events.register("before-sign.sns.Publish", add_trace)
        sns.publish(TopicArn=topic, Message="fanned out",
                    MessageAttributes={"traceparent": {"DataType": "String", "StringValue": TRACEPARENT}})
        for raw, url in urls.items():
            got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"],
                                      MessageAttributeNames=["All"], WaitTimeSeconds=5)["Messages"][0]
            self.assertEqual(got["Attributes"].get("AWSTraceHeader"), TRACE, "raw=%s" % raw)
            if raw:
                self.assertEqual(got["MessageAttributes"]["traceparent"]["StringValue"], TRACEPARENT)
            else:
                envelope = json.loads(got["Body"])
                self.assertEqual(envelope["MessageAttributes"]["traceparent"]["Value"], TRACEPARENT)
                self.assertNotIn("AWS.TraceHeader", envelope["MessageAttributes"])


if __name__ == "__main__":
    unittest.main()
