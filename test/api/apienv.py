"""What the client tests of test/api share: the settings test/api/run
exports, a boto3 client for the endpoint, and SQL as the superuser."""

import os
import subprocess

import boto3
import botocore
from botocore.config import Config

URL = os.environ["SQSN_API_URL"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = os.environ.get("SQSN_API_ACCOUNT_ID", "000000000000")
AUTH = os.environ.get("SQSN_API_AUTH", "sigv4")
KEY = os.environ["AWS_ACCESS_KEY_ID"]
SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]
DENIED_KEY = os.environ.get("SQSN_API_DENIED_KEY_ID")
DENIED_SECRET = os.environ.get("SQSN_API_DENIED_SECRET")


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
