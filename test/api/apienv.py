"""What the client tests of test/api share: the settings test/api/run
exports, a boto3 client for the endpoint, raw requests signed by botocore's
own signer, and SQL as the superuser."""

import http.client
import os
import re
import subprocess
import urllib.parse

import boto3
import botocore
import botocore.auth
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

URL = os.environ["SQSN_API_URL"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = os.environ.get("SQSN_API_ACCOUNT_ID", "000000000000")
AUTH = os.environ.get("SQSN_API_AUTH", "sigv4")
KEY = os.environ["AWS_ACCESS_KEY_ID"]
SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]
DENIED_KEY = os.environ.get("SQSN_API_DENIED_KEY_ID")
DENIED_SECRET = os.environ.get("SQSN_API_DENIED_SECRET")
SPLIT = urllib.parse.urlsplit(URL)
HOST, PORT = SPLIT.hostname, SPLIT.port
QUERY_FORM = "application/x-www-form-urlencoded; charset=utf-8"


def client(service, key=KEY, secret=SECRET, unsigned=False, read_timeout=60,
           region=REGION):
    """A boto3 client of the endpoint that does not retry; region is the
    one it signs for."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    read_timeout=read_timeout, connect_timeout=5)
    if unsigned:
        config = config.merge(Config(signature_version=botocore.UNSIGNED))
    return boto3.client(service, endpoint_url=URL, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=config)


def sql(query):
    """One value from the endpoint's database, as the superuser."""
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def sign(method="POST", path="/", body="", headers=None, key=KEY, secret=SECRET,
         service="sqs", when=None, presign_expires=None):
    """A request signed by botocore's own signer, as (method, url, headers,
    body). when: the signing time (default now)."""
    hdrs = {"Content-Type": QUERY_FORM} if body else {}
    hdrs.update(headers or {})
    req = AWSRequest(method=method, url=URL + path, data=body, headers=hdrs)
    creds = Credentials(key, secret)
    if presign_expires is not None:
        signer = SigV4QueryAuth(creds, service, REGION, expires=presign_expires)
    else:
        signer = SigV4Auth(creds, service, REGION)
    if when is None:
        signer.add_auth(req)
    else:
        real = botocore.auth.datetime.datetime

        class Then(real):
            @classmethod
            def utcnow(cls):
                return when

        botocore.auth.datetime.datetime = Then
        try:
            signer.add_auth(req)
        finally:
            botocore.auth.datetime.datetime = real
    prepared = req.prepare()
    return prepared.method, prepared.url, dict(prepared.headers), body


def send(method, url, headers, body):
    """Sends a request as it is; returns (status, body text)."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    try:
        conn.request(method, target, body=body.encode() if body else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def error_code(text):
    """The error code of a query (XML) or JSON error response."""
    m = re.search(r"<Code>([^<]*)</Code>", text)
    if m:
        return m.group(1)
    m = re.search(r'"__type"\s*:\s*"(?:[^"#]*#)?([^"]*)"', text)
    return m.group(1) if m else None
