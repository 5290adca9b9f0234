#!/usr/bin/env python3
"""bench/queues: the cost of many queues while nothing happens (see the
header of bench/queues). Runs against the private cluster whose connection
settings bench/queues exported (PGHOST, PGPORT, PGUSER), in the database
the maintenance worker works in (sqsn.database_name), with queues named
bq_*; they are deleted at the end unless --keep.
"""

import argparse
import json
import os
import subprocess
import sys
import time

PREFIX = "bq_"
TICK = os.sysconf("SC_CLK_TCK")
SQSN_TYPES = ("sqsn worker", "sqsn delivery worker", "sqsn api")

# targets (docs/storage.md, "Many queues")
TARGET_IDLE_CPU = 2.0  # % of one core, every sqsn process together
TARGET_WORKER_RSS = 64 * 1024  # kB
TARGET_DISK = 24 * 1024  # bytes per empty standard queue
TARGET_SCALING = 1.5  # idle CPU and worker memory, largest vs smallest size


class Bench:
    def __init__(self, a):
        self.a = a
        self.db = None
        self.results = {"mode": a.mode, "sizes": []}

    def psql(self, sql, db=None, check=True):
        out = subprocess.run(
            [os.path.join(self.a.pgbin, "psql"), "-X", "-Atq", "-v",
             "ON_ERROR_STOP=1", "-d", db or self.db, "-c", sql],
            capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql[:200], out.stderr))
        return out.stdout.strip()

    def value(self, sql, db=None):
        return self.psql(sql, db)

    # -- processes -----------------------------------------------------

    def sqsn_processes(self):
        rows = self.psql(
            "SELECT pid, backend_type FROM pg_stat_activity"
            " WHERE backend_type IN (%s) ORDER BY backend_type, pid"
            % ", ".join("'%s'" % t for t in SQSN_TYPES), db="postgres")
        procs = []
        for line in rows.splitlines():
            pid, kind = line.split("|", 1)
            procs.append((int(pid), kind))
        return procs

    @staticmethod
    def cpu_ticks(pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    @staticmethod
    def rss_anon(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])  # kB
        return 0

    def idle(self, seconds):
        """CPU (% of a core) and RssAnon of every sqsn process over
        `seconds` without traffic."""
        procs = self.sqsn_processes()
        before = {}
        for pid, _ in procs:
            try:
                before[pid] = self.cpu_ticks(pid)
            except OSError:
                pass
        t0 = time.time()
        time.sleep(seconds)
        elapsed = time.time() - t0
        out = []
        for pid, kind in procs:
            try:
                ticks = self.cpu_ticks(pid) - before[pid]
                rss = self.rss_anon(pid)
            except (OSError, KeyError):
                continue
            out.append({"pid": pid, "process": kind,
                        "cpu_pct": round(100.0 * ticks / TICK / elapsed, 2),
                        "rss_anon_kb": rss})
        return out

    # -- steps ---------------------------------------------------------

    def count_queues(self):
        return int(self.value("SELECT count(*) FROM sqsn.queue"
                              " WHERE queue_name LIKE '%s%%'" % PREFIX))

    def create_queues(self, upto):
        have = self.count_queues()
        if have >= upto:
            return None
        t0 = time.time()
        step = 1000
        for start in range(have + 1, upto + 1, step):
            end = min(upto, start + step - 1)
            self.psql("SELECT count(sqsn.sq_create_queue('%s' || i))"
                      " FROM generate_series(%d, %d) i" % (PREFIX, start, end))
        elapsed = time.time() - t0
        return round((upto - have) / elapsed, 1)

    def storage(self, n):
        row = self.value(
            "SELECT count(*), coalesce(sum(pg_total_relation_size(c.oid)), 0)"
            " FROM sqsn.queue q JOIN pg_class c"
            "  ON c.relname = 'q_' || q.queue_id"
            "  AND c.relnamespace = 'sqsn'::regnamespace"
            " WHERE q.queue_name LIKE '%s%%'" % PREFIX)
        tables, total = (int(x) for x in row.split("|"))
        distinct = int(self.value(
            "SELECT count(DISTINCT r.oid) FROM sqsn.queue q JOIN pg_class c"
            "  ON c.relname = 'q_' || q.queue_id"
            "  AND c.relnamespace = 'sqsn'::regnamespace"
            " LEFT JOIN pg_index i ON i.indrelid = c.oid"
            " LEFT JOIN pg_class t ON t.oid = c.reltoastrelid"
            " LEFT JOIN pg_index ti ON ti.indrelid = t.oid"
            " CROSS JOIN LATERAL (VALUES (c.oid), (i.indexrelid), (t.oid),"
            "  (ti.indexrelid)) AS r(oid)"
            " WHERE q.queue_name LIKE '%s%%' AND r.oid IS NOT NULL" % PREFIX))
        database = int(self.value("SELECT pg_database_size(current_database())"))
        return {"disk_per_queue": round(total / max(n, 1)),
                "relations_per_queue": round(distinct / max(n, 1), 2),
                "database_bytes": database}

    def client_memory_per_queue(self, k):
        """What a client backend keeps per queue it used: the growth of its
        memory contexts after one receive on each of k empty queues, in one
        session."""
        k = min(k, self.count_queues())
        out = self.psql(
            "SELECT sum(total_bytes) FROM pg_backend_memory_contexts;"
            " SELECT count(*) FROM generate_series(1, %d) i,"
            "  LATERAL sqsn.sq_receive('%s' || i, 1);"
            " SELECT sum(total_bytes) FROM pg_backend_memory_contexts;"
            % (k, PREFIX))
        lines = out.splitlines()
        before, after = int(lines[0]), int(lines[-1])
        return round((after - before) / max(k, 1))

    def wait_for(self, sql, expected, timeout):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.value(sql) == expected:
                return time.time()
            time.sleep(0.05)
        return None

    def busy_queue(self, poll_ms, retention_wait):
        """Delays of a retention sweep and of a dead-letter move on one
        busy queue among the idle ones, past the moment each was due."""
        out = {}
        self.psql("SELECT sqsn.sq_create_queue('%sbusy_dlq');"
                  " SELECT sqsn.sq_create_queue('%sbusy_src');" % (PREFIX, PREFIX))
        self.psql("SELECT sqsn.sq_send('%sbusy_src', 'x');"
                  " SELECT count(*) FROM sqsn.sq_receive('%sbusy_src', 1, 0);"
                  " SELECT count(*) FROM sqsn.sq_receive('%sbusy_src', 1, 0);"
                  % (PREFIX, PREFIX, PREFIX))
        t0 = time.time()
        self.psql("SELECT sqsn.sq_set_queue_attributes('%sbusy_src',"
                  " '{\"RedrivePolicy\": {\"deadLetterQueue\": \"%sbusy_dlq\","
                  " \"maxReceiveCount\": 1}}')" % (PREFIX, PREFIX))
        dlq_id = self.value("SELECT queue_id FROM sqsn.queue"
                            " WHERE queue_name = '%sbusy_dlq'" % PREFIX)
        t1 = self.wait_for("SELECT count(*) FROM sqsn.q_%s" % dlq_id, "1", 60)
        out["dlq_move_s"] = round(t1 - t0, 3) if t1 else None
        if retention_wait:
            self.psql("SELECT sqsn.sq_create_queue('%sbusy_ret',"
                      " message_retention_period => 60)" % PREFIX)
            ret_id = self.value("SELECT queue_id FROM sqsn.queue"
                                " WHERE queue_name = '%sbusy_ret'" % PREFIX)
            t0 = time.time()
            self.psql("SELECT sqsn.sq_send('%sbusy_ret', 'x')" % PREFIX)
            due = t0 + 60
            t1 = self.wait_for("SELECT count(*) FROM sqsn.q_%s" % ret_id, "0", 120)
            out["retention_sweep_after_due_s"] = round(t1 - due, 3) if t1 else None
            self.psql("SELECT sqsn.sq_delete_queue('%sbusy_ret')" % PREFIX)
        self.psql("SELECT sqsn.sq_delete_queue('%sbusy_src');"
                  " SELECT sqsn.sq_delete_queue('%sbusy_dlq')" % (PREFIX, PREFIX))
        out["target_s"] = poll_ms / 1000.0 + 1.0
        return out

    def dump_restore(self):
        path = os.path.join(self.a.run, "dump.pgdump")
        t0 = time.time()
        subprocess.run([os.path.join(self.a.pgbin, "pg_dump"), "-Fc", "-f", path,
                        self.db], check=True)
        dump_s = time.time() - t0
        target = "sqsn_queues_restore"
        self.psql("DROP DATABASE IF EXISTS %s" % target, db="postgres")
        self.psql("CREATE DATABASE %s" % target, db="postgres")
        t0 = time.time()
        r = subprocess.run([os.path.join(self.a.pgbin, "pg_restore"), "-d", target,
                            path], capture_output=True, text=True)
        restore_s = time.time() - t0
        restored = self.value("SELECT count(*) FROM sqsn.queue WHERE queue_name"
                              " LIKE '%s%%'" % PREFIX, db=target)
        self.psql("DROP DATABASE %s" % target, db="postgres")
        os.unlink(path)
        return {"pg_dump_s": round(dump_s, 1), "pg_restore_s": round(restore_s, 1),
                "restored_queues": int(restored),
                "pg_restore_errors": r.returncode != 0}

    def listing(self):
        t0 = time.time()
        n = int(self.value("SELECT count(*) FROM sqsn.sq_list_queues('%s')" % PREFIX))
        list_s = time.time() - t0
        out = {"sq_list_queues_s": round(list_s, 3), "listed": n}
        key = self.value("SELECT access_key_id || ' ' || secret_access_key"
                         " FROM sqsn.api_create_credentials(current_user)")
        try:
            import boto3
            from botocore.config import Config
            kid, secret = key.split()
            sqs = boto3.client("sqs", endpoint_url="http://%s:%s" % (
                os.environ.get("PGHOST", "127.0.0.1"), self.a.api_port),
                region_name="us-east-1", aws_access_key_id=kid,
                aws_secret_access_key=secret,
                config=Config(retries={"total_max_attempts": 1}))
            t0 = time.time()
            r = sqs.list_queues(QueueNamePrefix=PREFIX)
            out["ListQueues_page_s"] = round(time.time() - t0, 3)
            out["ListQueues_page_size"] = len(r.get("QueueUrls", []))
        except Exception as e:  # the endpoint is optional here
            out["ListQueues_error"] = str(e)[:200]
        finally:
            self.psql("SELECT sqsn.api_drop_credentials('%s')" % key.split()[0])
        return out

    def settings(self):
        return {
            "database": self.value("SHOW sqsn.database_name", db="postgres"),
            "poll_interval_ms": int(self.value(
                "SELECT setting FROM pg_settings WHERE name = 'sqsn.poll_interval'",
                db="postgres")),
        }

    def cleanup(self):
        n = self.count_queues()
        for start in range(0, n, 1000):
            self.psql("SELECT count(sqsn.sq_delete_queue(queue_name)) FROM"
                      " (SELECT queue_name FROM sqsn.queue WHERE queue_name"
                      "  LIKE '%s%%' LIMIT 1000) q" % PREFIX)

    # -- run -----------------------------------------------------------

    def run(self):
        a = self.a
        s = self.settings()
        self.db = s["database"]
        self.psql("CREATE EXTENSION IF NOT EXISTS sqsn")
        self.results["settings"] = s
        if a.sizes:
            sizes = [int(x) for x in a.sizes.split(",")]
        else:
            sizes = {"default": [1000, 10000, 100000], "quick": [1000, 10000],
                     "smoke": [100, 300]}[a.mode]
        idle_s = {"default": 60, "quick": 30, "smoke": 5}[a.mode]
        failed = 0
        try:
            for n in sizes:
                print("==> %d queues" % n, flush=True)
                r = {"queues": n}
                r["create_per_s"] = self.create_queues(n)
                print("  created (%s queues/s)" % r["create_per_s"], flush=True)
                r.update(self.storage(n))
                # let the worker's rounds settle, then measure idle
                time.sleep(min(idle_s, 10))
                r["idle"] = self.idle(idle_s)
                r["idle_cpu_pct"] = round(sum(p["cpu_pct"] for p in r["idle"]), 2)
                workers = [p for p in r["idle"] if p["process"] == "sqsn worker"]
                r["worker_rss_kb"] = workers[0]["rss_anon_kb"] if workers else None
                r["client_bytes_per_queue"] = self.client_memory_per_queue(1000)
                r["busy"] = self.busy_queue(s["poll_interval_ms"], a.mode != "smoke")
                print("  before dump and restore: " + json.dumps(
                    {k: v for k, v in r.items() if k != "idle"}), flush=True)
                r.update(self.dump_restore())
                r.update(self.listing())
                print("  " + json.dumps({k: v for k, v in r.items() if k != "idle"}),
                      flush=True)
                self.results["sizes"].append(r)
        except Exception as e:  # a failed step ends the run, reported
            print("bench/queues: %s" % e, file=sys.stderr)
            failed = 1
        finally:
            if not a.keep:
                self.cleanup()
        self.report()
        return failed

    def report(self):
        rows = self.results["sizes"]
        lines = ["| queues | create/s | disk/queue | relations/queue | idle CPU % (all sqsn) |"
                 " worker RssAnon | client bytes/queue touched | DLQ move s | retention sweep s after due |"
                 " pg_dump s | pg_restore s | sq_list_queues s |",
                 "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for r in rows:
            b = r.get("busy", {})
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "{:,}".format(r["queues"]), r.get("create_per_s"),
                "%.1f kB" % (r["disk_per_queue"] / 1024.0),
                r["relations_per_queue"], r["idle_cpu_pct"],
                "%.1f MB" % (r["worker_rss_kb"] / 1024.0) if r.get("worker_rss_kb") else "-",
                r.get("client_bytes_per_queue"), b.get("dlq_move_s"),
                b.get("retention_sweep_after_due_s", "-"), r.get("pg_dump_s"),
                r.get("pg_restore_s"), r.get("sq_list_queues_s")))
        lines.append("")
        if rows:
            big, small = rows[-1], rows[0]
            t = []
            t.append("- idle CPU of every sqsn process at %s queues < %.0f%% of a core: %s (%s)" % (
                "{:,}".format(big["queues"]), TARGET_IDLE_CPU, big["idle_cpu_pct"],
                "met" if big["idle_cpu_pct"] < TARGET_IDLE_CPU else "MISSED"))
            if big.get("worker_rss_kb"):
                t.append("- maintenance worker RssAnon < 64 MB: %.1f MB (%s)" % (
                    big["worker_rss_kb"] / 1024.0,
                    "met" if big["worker_rss_kb"] < TARGET_WORKER_RSS else "MISSED"))
            b = big.get("busy", {})
            for key, what in (("dlq_move_s", "dead-letter move"),
                              ("retention_sweep_after_due_s", "retention sweep")):
                if b.get(key) is not None:
                    t.append("- %s within poll interval + 1 s (%.1f s): %s s (%s)" % (
                        what, b["target_s"], b[key],
                        "met" if b[key] <= b["target_s"] else "MISSED"))
            t.append("- empty queue on disk <= 24 kB: %.1f kB (%s)" % (
                big["disk_per_queue"] / 1024.0,
                "met" if big["disk_per_queue"] <= TARGET_DISK else "MISSED"))
            if len(rows) > 1 and small["idle_cpu_pct"] is not None:
                cpu_ok = big["idle_cpu_pct"] <= max(TARGET_SCALING * small["idle_cpu_pct"], 0.1)
                t.append("- idle CPU at %s within 1.5x of %s (0.1%% floor): %s vs %s (%s)" % (
                    "{:,}".format(big["queues"]), "{:,}".format(small["queues"]),
                    big["idle_cpu_pct"], small["idle_cpu_pct"], "met" if cpu_ok else "MISSED"))
                if big.get("worker_rss_kb") and small.get("worker_rss_kb"):
                    mem_ok = big["worker_rss_kb"] <= TARGET_SCALING * small["worker_rss_kb"]
                    t.append("- worker memory at %s within 1.5x of %s: %.1f vs %.1f MB (%s)" % (
                        "{:,}".format(big["queues"]), "{:,}".format(small["queues"]),
                        big["worker_rss_kb"] / 1024.0, small["worker_rss_kb"] / 1024.0,
                        "met" if mem_ok else "MISSED"))
            lines.append("Targets:")
            lines.extend(t)
        text = "\n".join(lines)
        print()
        print(text)
        with open(os.path.join(self.a.run, "table.md"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(self.a.run, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="default")
    p.add_argument("--run", required=True)
    p.add_argument("--pgbin", required=True)
    p.add_argument("--api-port", default="0")
    p.add_argument("--sizes")
    p.add_argument("--keep", action="store_true")
    sys.exit(Bench(p.parse_args()).run())


if __name__ == "__main__":
    main()
