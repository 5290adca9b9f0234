#!/usr/bin/python3
"""Celery over sqsn's SQS endpoint: Debian's python3-celery and
python3-kombu (its SQS transport, with pycurl for the worker's long polls),
unmodified.

Run by test/apps/run, which makes the queue SQSN_APP_QUEUE and a role that
may only send to it and receive from it, with an access key
(SQSN_APP_KEY_ID / SQSN_APP_SECRET). The producer (this process) sends 50
tasks through the broker; one of them fails its first run and is retried
by Celery. A worker with two pool processes runs them. Every task runs to
completion exactly once (the retried one twice: once failing), both pool
processes work, the worker stops cleanly, logs no error, and the queue is
empty afterwards.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = 50


def queue_counts(name):
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c",
                          "SELECT sqsn.sq_get_queue_attributes('%s')" % name],
                         check=True, capture_output=True, text=True).stdout
    a = json.loads(out)
    return (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
            a["ApproximateNumberOfMessagesDelayed"])


class CeleryWorker(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sqsn-celery-")
        os.environ["SQSN_APP_RUNS"] = os.path.join(self.dir, "runs")
        sys.path.insert(0, HERE)

    def runs(self):
        try:
            with open(os.environ["SQSN_APP_RUNS"], encoding="utf-8") as f:
                return [line.split() for line in f]
        except FileNotFoundError:
            return []

    def test_worker_runs_every_task_once(self):
        import tasks  # the application, configured from the environment

        for n in range(TASKS - 1):
            tasks.square.delay(n)
        tasks.flaky.delay(TASKS - 1)
        self.assertEqual(sum(queue_counts(tasks.QUEUE)), TASKS, "the tasks are in the queue")

        log_path = os.path.join(self.dir, "worker.log")
        with open(log_path, "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=prefork",
                 "--concurrency=2", "--loglevel=INFO", "--without-mingle", "--without-gossip",
                 "--without-heartbeat"],
                cwd=HERE, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and worker.poll() is None:
                if len([r for r in self.runs() if r[0] == "done"]) >= TASKS:
                    break
                time.sleep(0.2)
            time.sleep(1)  # anything run twice would show now
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)  # warm shutdown
            status = worker.wait(60)
        with open(log_path, encoding="utf-8") as f:
            log_text = f.read()
        print(log_text)

        runs = self.runs()
        done = sorted(int(r[1]) for r in runs if r[0] == "done")
        retried = [int(r[1]) for r in runs if r[0] == "retry"]
        self.assertEqual(done, list(range(TASKS)), "every task completed exactly once")
        self.assertEqual(retried, [TASKS - 1], "the flaky task failed once and was retried")
        self.assertGreaterEqual(len({r[2] for r in runs}), 2, "both pool processes ran tasks")
        self.assertEqual(status, 0, "the worker stopped cleanly")
        for bad in ("ERROR/", "Traceback", "Unrecoverable error"):
            self.assertNotIn(bad, log_text)
        self.assertEqual(queue_counts(tasks.QUEUE), (0, 0, 0), "the queue is empty")


if __name__ == "__main__":
    unittest.main(verbosity=2)
