"""A Celery application on sqsn's SQS endpoint: the configuration a user
writes (docs/frameworks.md copies it), and tasks that record each run."""

import os
import time
from urllib.parse import quote

from celery import Celery

QUEUE = os.environ["SQSN_APP_QUEUE"]
RUNS = os.environ["SQSN_APP_RUNS"]  # one line per task run, appended
ENDPOINT = os.environ["SQSN_API_URL"]  # http://127.0.0.1:<port>
KEY = os.environ["SQSN_APP_KEY_ID"]
SECRET = os.environ["SQSN_APP_SECRET"]

host_port = ENDPOINT.split("://", 1)[1]
app = Celery("tasks")
app.conf.update(
    # sqs://KEY:SECRET@host:port; the secret may hold '/' and '+'
    broker_url=f"sqs://{quote(KEY, safe='')}:{quote(SECRET, safe='')}@{host_port}",
    broker_transport_options={
        "region": "us-east-1",
        "is_secure": False,  # plain HTTP: the endpoint's own port
        "wait_time_seconds": 2,  # long polling
        "visibility_timeout": 60,
        "polling_interval": 0.2,
        # the queue exists already: no ListQueues or CreateQueue, so the
        # key needs only send and receive on it
        "predefined_queues": {
            QUEUE: {"url": f"{ENDPOINT}/{os.environ['SQSN_API_ACCOUNT_ID']}/{QUEUE}"},
        },
    },
    task_default_queue=QUEUE,
    worker_enable_remote_control=False,  # SQS has no fan-out for it
    worker_send_task_events=False,
)


def record(*fields):
    with open(RUNS, "a", encoding="utf-8") as f:
        f.write(" ".join(str(x) for x in fields) + "\n")


@app.task
def square(n):
    time.sleep(0.02)
    record("done", n, os.getpid())
    return n * n


@app.task(bind=True, max_retries=3)
def flaky(self, n):
    """Fails its first run and is retried by Celery (a new message)."""
    if self.request.retries == 0:
        record("retry", n, os.getpid())
        raise self.retry(countdown=1)
    record("done", n, os.getpid())
    return n
