#!/usr/bin/env python3
"""The driver and the report of bench/soak (Python 3 standard library; the
SDK client, soak_sdk.py, needs boto3).

  soak.py run --run DIR [connection and load options, see --help]
  soak.py report --run DIR
  soak.py churn --run DIR [connection options] --queues N

run: starts the HTTP sink (test/http_sink.py) and subscribes it to topic
soak_push, starts every workload (pgbench processes and the SDK client) for
--minutes, and samples every --sample seconds:

  memory.csv     per long-lived sqsn process (backend_type sqsn ...) and per
                 client backend of the load (application_name soak-...):
                 the memory-context grand total and used bytes, as
                 pg_log_backend_memory_contexts() writes them to the server
                 log, RssAnon (/proc/<pid>/status) and CPU seconds
  contexts.csv   for the sqsn processes: the total of each child context of
                 TopMemoryContext (name, bytes), to tell what grew
  queues.csv     per soak queue and the push outbox: messages ever sent,
                 waiting, table and index bytes, live and dead tuples,
                 (auto)vacuums so far
  counters.csv   POSTs that reached the sink, pending deliveries, the
                 worker's expired and dead-lettered counts
  latency.csv    end-to-end latency of every message consumed (send ->
                 receive; publish -> delivery recorded for push)

report: throughput per workload and window, latency percentiles, memory per
process at the end of the warm-up and at the end, table sizes; the targets
with PASS/FAIL; results.json, table.md, soak.png (gnuplot). The last line of
status is "<failures> <missed targets>".

churn: a session creates, uses and deletes --queues queues in batches of
50, each batch swept by the maintenance worker, while a second session
does the same with plain tables of the same shape; prints and writes
churn.json: the memory-context totals of both sessions, the maintenance
worker and the endpoint's workers after the first two batches and at the
end, and sqsn's shared memory.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
SINK = os.path.join(REPO, "test", "http_sink.py")
SDK = os.path.join(HERE, "soak_sdk.py")
sys.path.insert(0, HERE)
from bench import fmt_ms, fmt_rate, percentile  # noqa: E402

BODY = ("sqsn-soak-%04d|" * 30 % tuple(range(1, 31)))[:256]
MEMORY_GOAL = 256 * 1024        # bytes a long-lived process may grow after the warm-up
THROUGHPUT_GOAL = 0.9           # last window / first window
SIZE_FACTOR, SIZE_SLACK = 2.0, 1 << 20   # a table's end size <= 2 x after the first window + 1 MB

# Messages per second of each producer at --scale 1.
# pgbench skips a transaction of a rate-limited load that is this late
LATE_MS = 1000
RATES = {"push": 150, "sql": 150, "fifo": 40, "dlq": 10, "retention": 30, "fanout": 20,
         "sdk": 50, "sdk_publish": 5}

# Workload -> how its throughput is counted (queues whose consumed messages
# add up, or the sink), and what its latencies are called in latency.csv.
WORKLOADS = [
    ("push", "topic soak_push -> HTTP POST to the sink", None, "push"),
    ("sql", "SQL producers -> soak_std -> long-polling SQL consumers", ["soak_std"], "sql"),
    ("fifo", "SQL producer -> soak.fifo (20 groups) -> SQL consumers", ["soak.fifo"], "fifo"),
    ("dlq", "soak_src, never deleted -> soak_dlq -> SQL consumer", ["soak_dlq"], "dlq"),
    ("retention", "soak_ret, nobody consumes: expired by the worker", ["soak_ret"], None),
    ("fanout", "topic soak_fan -> 3 queues -> SQL consumers", ["soak_fan_1", "soak_fan_2", "soak_fan_3"],
     "fanout"),
    ("sdk", "boto3 via the endpoint: soak_api (+ SNS publish)", ["soak_api"], "sdk"),
]


# ---------------------------------------------------------------------------
# Talking to the server


class Db:
    def __init__(self, a):
        self.cmd = [os.path.join(a.pgbin, "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-Atq", "-F", "|",
                    "-h", a.host, "-p", str(a.port), "-U", a.user, "-d", "postgres"]

    def query(self, sql, check=True):
        r = subprocess.run(self.cmd + ["-c", sql], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            if check:
                raise RuntimeError("psql failed: %s\n%s" % (sql[:300], r.stderr.strip()))
            return []
        return [line.split("|") for line in r.stdout.splitlines() if line]


def rss_anon_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


GRAND = re.compile(r"\[(\d+)\][^\n]*?LOG:\s+Grand total: (\d+) bytes in \d+ blocks; \d+ free \(\d+ chunks\); "
                   r"(\d+) used")
LEVEL1 = re.compile(r"\[(\d+)\][^\n]*?LOG:\s+level: ([01]); (.*?): (\d+) total in \d+ blocks")
MORE1 = re.compile(r"\[(\d+)\][^\n]*?LOG:\s+level: 1; \d+ more child contexts containing (\d+) total")


def log_memory(db, logpath, pids, timeout=15.0):
    """Asks each process to log its memory contexts; returns {pid: (total,
    used)} and {pid: {context: total}} for the children of TopMemoryContext,
    read from the server log."""
    if not pids:
        return {}, {}
    off = os.path.getsize(logpath)
    db.query("SELECT count(pg_log_backend_memory_contexts(pid)) FROM pg_stat_activity WHERE pid IN (%s)"
             % ",".join(str(p) for p in pids), check=False)
    grand, top = {}, {}
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        with open(logpath, errors="replace") as f:
            f.seek(off)
            text = f.read()
        grand = {int(m.group(1)): (int(m.group(2)), int(m.group(3))) for m in GRAND.finditer(text)}
        if all(p in grand for p in pids):
            break
        time.sleep(0.1)
    for m in LEVEL1.finditer(text):
        pid = int(m.group(1))
        d = top.setdefault(pid, {})
        d[m.group(3)] = d.get(m.group(3), 0) + int(m.group(4))
    for m in MORE1.finditer(text):
        d = top.setdefault(int(m.group(1)), {})
        d["(more child contexts)"] = d.get("(more child contexts)", 0) + int(m.group(2))
    return grand, top


# ---------------------------------------------------------------------------
# run


def start_sink(run):
    sinkdir = os.path.join(run, "sink")
    os.makedirs(sinkdir, exist_ok=True)
    portfile = os.path.join(sinkdir, "port")
    if os.path.exists(portfile):
        os.unlink(portfile)
    p = subprocess.Popen([sys.executable, SINK, "--dir", sinkdir, "--port-file", portfile, "--quiet"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(sinkdir, "stderr"), "w"))
    for _ in range(250):
        if os.path.exists(portfile) and open(portfile).read().strip():
            return p, int(open(portfile).read()), os.path.join(sinkdir, "requests.jsonl")
        time.sleep(0.02)
    p.kill()
    raise RuntimeError("the HTTP sink did not start")


class LineCounter:
    def __init__(self, path):
        self.path, self.off, self.n = path, 0, 0

    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            return self.n
        end = data.rfind(b"\n") + 1
        self.n += data.count(b"\n", 0, end)
        self.off += end
        return self.n


def workload_processes(a, seconds):
    """(name, workload, argv, env additions) of every load process."""
    s = a.scale
    pgb = [os.path.join(a.pgbin, "pgbench"), "-n", "-M", "prepared", "-j", "1", "-T", str(seconds),
           "-h", a.host, "-p", str(a.port), "-U", a.user, "-D", "body=" + BODY]

    def wl(script):
        return ["-f", os.path.join(BENCH, "workloads", script)]

    # A fixed offered load: a transaction that could not start within
    # LATE_MS of its schedule (the machine stalled) is skipped, not run
    # later in a burst, so a stall shows as fewer messages then and does not
    # inflate the rates (and the outbox) of the minutes after it.
    def rate(r):
        return ["-R", "%.2f" % max(r * s, 0.1), "-L", str(LATE_MS)]

    procs = [
        ("push-publisher", "push", pgb + ["-c", "2"] + rate(RATES["push"]) + ["-D", "topic=soak_push"]
         + wl("soak_publisher.sql")),
        ("sql-producer", "sql", pgb + ["-c", "2"] + rate(RATES["sql"]) + ["-D", "queue=soak_std"]
         + wl("soak_producer.sql")),
        ("sql-consumer", "sql", pgb + ["-c", "2", "-D", "queue=soak_std", "-D", "label=sql"]
         + wl("soak_consumer.sql")),
        ("fifo-producer", "fifo", pgb + ["-c", "1"] + rate(RATES["fifo"]) + ["-D", "queue=soak.fifo"]
         + wl("soak_fifo_producer.sql")),
        ("fifo-consumer", "fifo", pgb + ["-c", "2", "-D", "queue=soak.fifo", "-D", "label=fifo"]
         + wl("soak_consumer.sql")),
        ("dlq-producer", "dlq", pgb + ["-c", "1"] + rate(RATES["dlq"]) + ["-D", "queue=soak_src"]
         + wl("soak_producer.sql")),
        ("dlq-failing-consumer", "dlq", pgb + ["-c", "1", "-D", "queue=soak_src"]
         + wl("soak_failing_consumer.sql")),
        ("dlq-consumer", "dlq", pgb + ["-c", "1", "-D", "queue=soak_dlq", "-D", "label=dlq"]
         + wl("soak_consumer.sql")),
        ("retention-producer", "retention", pgb + ["-c", "1"] + rate(RATES["retention"])
         + ["-D", "queue=soak_ret"] + wl("soak_producer.sql")),
        ("fanout-publisher", "fanout", pgb + ["-c", "1"] + rate(RATES["fanout"]) + ["-D", "topic=soak_fan"]
         + wl("soak_publisher.sql")),
    ]
    for i in (1, 2, 3):
        procs.append(("fanout-consumer-%d" % i, "fanout",
                      pgb + ["-c", "1", "-D", "queue=soak_fan_%d" % i, "-D", "label=fanout"]
                      + wl("soak_consumer.sql")))
    procs.append(("sdk-client", "sdk", [
        sys.executable, SDK, "--endpoint", a.api_url, "--queue-url", a.api_url + "/000000000000/soak_api",
        "--topic-arn", "arn:aws:sns:us-east-1:000000000000:soak_sdk",
        "--access-key", a.access_key, "--secret-key", a.secret_key,
        "--rate", "%.2f" % (RATES["sdk"] * s), "--publish-rate", "%.2f" % (RATES["sdk_publish"] * s),
        "--seconds", str(seconds), "--out", os.path.join(a.run, "sdk.csv")]))
    return procs


def cmd_run(a):
    run = a.run
    db = Db(a)
    seconds = int(round(a.minutes * 60))
    meta = {"mode": a.mode, "minutes": a.minutes, "seconds": seconds, "sample_s": a.sample,
            "warmup_s": a.warmup, "scale": a.scale,
            "rates_per_s": {k: v * a.scale for k, v in RATES.items()}}
    with open(os.path.join(run, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)

    sink, port, sinklog = start_sink(run)
    procs = []
    failed = []
    try:
        sub = db.query("SELECT sqsn.sn_subscribe('soak_push', 'http', 'http://127.0.0.1:%d/ok/soak')" % port)
        status = db.query("SELECT status FROM sqsn.sn_list_subscriptions('soak_push')")
        if not status or status[0][0] != "confirmed":
            raise RuntimeError("the push subscription is not confirmed (sqsn.http_auto_confirm_hosts?)")
        del sub
        os.makedirs(os.path.join(run, "out"), exist_ok=True)
        t0 = time.time()
        with open(os.path.join(run, "start_unix"), "w") as f:
            f.write("%.3f\n" % t0)
        for name, workload, argv in workload_processes(a, seconds):
            env = dict(os.environ, PGAPPNAME="soak-" + name)
            out = open(os.path.join(run, "out", name + ".out"), "w")
            procs.append((name, workload, subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                                           stdout=out, stderr=subprocess.STDOUT)))
        print("  %d load processes started for %d s; sampling every %d s" % (len(procs), seconds, a.sample),
              flush=True)
        sample_loop(a, db, t0, seconds, LineCounter(sinklog))
        deadline = time.time() + 60
        for name, workload, p in procs:
            try:
                rc = p.wait(timeout=max(deadline - time.time(), 1))
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "killed"
            if rc != 0:
                failed.append("%s (exit %s)" % (name, rc))
    finally:
        for name, workload, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        sink.terminate()
        sink.wait()
    with open(os.path.join(run, "processes.json"), "w") as f:
        json.dump({"failed": failed, "processes": [{"name": n, "workload": w} for n, w, _ in procs]}, f, indent=1)
    for x in failed:
        print("  load process FAILED: " + x, flush=True)
    return 0


def sample_loop(a, db, t0, seconds, sink):
    run = a.run
    files = {k: open(os.path.join(run, k + ".csv"), "a", buffering=1)
             for k in ("memory", "contexts", "queues", "counters", "latency")}
    files["memory"].write("t,pid,backend_type,name,context_total,context_used,rss_anon_kb,cpu_s\n")
    files["contexts"].write("t,pid,context,total\n")
    files["queues"].write("t,queue,sent,depth,table_bytes,index_bytes,live_tuples,dead_tuples,vacuums,"
                          "autovacuums\n")
    files["counters"].write("t,sink_posts,pending_deliveries,expired,moved_to_dlq,worker_error,load1\n")
    files["latency"].write("t,workload,ms\n")
    push_cut = db.query("SELECT now()::text")[0][0]
    k = 0
    while True:
        target = t0 + k * a.sample
        if k * a.sample > seconds:
            target = t0 + seconds
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        t = time.time() - t0
        try:
            push_cut = take_sample(db, a.log, files, t, sink, push_cut)
        except Exception as e:  # a sample may fail; the next one is tried
            print("  sample at %.0f s failed: %s" % (t, e), flush=True)
        if k % max(1, int(60 / a.sample)) == 0 or target >= t0 + seconds:
            print("  %4.0f s sampled" % t, flush=True)
        if target >= t0 + seconds:
            break
        k += 1
    for f in files.values():
        f.close()


def take_sample(db, logpath, files, t, sink, push_cut):
    rows = db.query("SELECT pid, backend_type, coalesce(application_name, '') FROM pg_stat_activity"
                    " WHERE backend_type LIKE 'sqsn%' OR (backend_type = 'client backend'"
                    " AND application_name LIKE 'soak-%') ORDER BY backend_type, application_name, pid")
    procs = {int(r[0]): (r[1], r[2]) for r in rows}
    grand, top = log_memory(db, logpath, list(procs))
    for pid, (btype, name) in procs.items():
        tot, used = grand.get(pid, (None, None))
        files["memory"].write("%.1f,%d,%s,%s,%s,%s,%s,%s\n" % (
            t, pid, btype, name, "" if tot is None else tot, "" if used is None else used,
            rss_anon_kb(pid) or "", cpu_seconds(pid) or ""))
        if btype.startswith("sqsn"):
            for ctx, total in sorted(top.get(pid, {}).items()):
                files["contexts"].write('%.1f,%d,"%s",%d\n' % (t, pid, ctx.replace('"', "'"), total))
    for r in db.query("SELECT * FROM soak.queue_sample()"):
        files["queues"].write("%.1f,%s\n" % (t, ",".join(r)))
    c = db.query("SELECT (SELECT count(*) FROM sqsn.delivery WHERE status = 'pending'),"
                 " messages_expired, messages_moved_to_dlq, coalesce(last_error, '')"
                 " FROM sqsn.worker_status")
    pending, expired, moved, err = c[0] if c else ("", "", "", "")
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[0]
    files["counters"].write('%.1f,%d,%s,%s,%s,"%s",%s\n' % (t, sink.count(), pending, expired, moved,
                                                            err.replace('"', "'")[:200], load1))
    for r in db.query("WITH d AS (DELETE FROM soak.latency RETURNING workload, t, ms)"
                      " SELECT workload, extract(epoch FROM t), ms FROM d"):
        files["latency"].write("%s,%s,%s\n" % (r[1], r[0], r[2]))
    cut = db.query("SELECT (now() - interval '5 s')::text")[0][0]
    for r in db.query("SELECT extract(epoch FROM finished_at), 1000 * extract(epoch FROM finished_at - published_at)"
                      " FROM sqsn.delivery WHERE status = 'delivered' AND message_type = 'Notification'"
                      " AND finished_at > '%s' AND finished_at <= '%s'" % (push_cut, cut)):
        files["latency"].write("%s,push,%s\n" % (r[0], r[1]))
    return cut


# ---------------------------------------------------------------------------
# report


def read_csv(path):
    import csv
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def nearest(samples, t):
    return min(samples, key=lambda s: abs(s[0] - t)) if samples else None


def rate_between(series, a, b):
    """series: [(t, cumulative count)]; messages per second between the
    samples nearest to a and b."""
    x, y = nearest(series, a), nearest(series, b)
    if not x or not y or y[0] <= x[0]:
        return None
    return (y[1] - x[1]) / (y[0] - x[0])


def level(samples, lo, hi):
    """The smallest value sampled between lo and hi (s): what a process held
    without the transient allocations of whatever it was doing when it
    logged (a process logs its contexts at its next interrupt check, which
    may be inside a transaction)."""
    vals = [v for t, v in samples if lo - 0.5 <= t <= hi + 0.5 and v is not None]
    return min(vals) if vals else None


def label_processes(mem):
    """pid -> readable name, and the pid's samples."""
    by_pid = {}
    for r in mem:
        pid = int(r["pid"])
        by_pid.setdefault(pid, {"backend_type": r["backend_type"], "name": r["name"], "ctx": [], "rss": [],
                                "cpu": []})
        d = by_pid[pid]
        t = float(r["t"])
        d["ctx"].append((t, num(r["context_total"])))
        d["rss"].append((t, num(r["rss_anon_kb"])))
        d["cpu"].append((t, num(r["cpu_s"])))
    names = {"sqsn worker": "maintenance worker", "sqsn delivery worker": "delivery worker",
             "sqsn api": "endpoint worker"}
    seen = {}
    for pid in sorted(by_pid, key=lambda p: (by_pid[p]["backend_type"] != "sqsn worker",
                                             by_pid[p]["backend_type"], by_pid[p]["name"], p)):
        d = by_pid[pid]
        base = names.get(d["backend_type"], d["backend_type"] if d["backend_type"].startswith("sqsn")
                         else "client " + d["name"].replace("soak-", ""))
        seen[base] = seen.get(base, 0) + 1
        d["label"] = base
        d["index"] = seen[base]
    for pid, d in by_pid.items():
        if seen[d["label"]] > 1:
            d["label"] = "%s %d" % (d["label"], d["index"])
        d["long_lived_sqsn"] = d["backend_type"].startswith("sqsn")
    return by_pid


def mb(v):
    return "-" if v is None else "%.2f MB" % (v / 1048576.0)


def kb_signed(v):
    return "-" if v is None else "%+.0f kB" % (v / 1024.0)


def cmd_report(a):
    run = a.run
    with open(os.path.join(run, "meta.json")) as f:
        meta = json.load(f)
    try:
        with open(os.path.join(run, "processes.json")) as f:
            procinfo = json.load(f)
    except OSError:
        procinfo = {"failed": ["the load did not run"], "processes": []}
    smoke = meta["mode"] == "smoke"
    try:
        with open(os.path.join(run, "meta.txt")) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    meta.setdefault(k, v)
    except OSError:
        pass
    mem = read_csv(os.path.join(run, "memory.csv"))
    queues = read_csv(os.path.join(run, "queues.csv"))
    counters = read_csv(os.path.join(run, "counters.csv"))
    lat = read_csv(os.path.join(run, "latency.csv"))
    ctxs = read_csv(os.path.join(run, "contexts.csv"))
    sdk_rows = []
    try:
        with open(os.path.join(run, "sdk.csv")) as f:
            sdk_rows = [l.rstrip("\n").split(",") for l in f if l.strip()]
    except OSError:
        pass

    times = sorted({float(r["t"]) for r in counters})
    if len(times) < 2:
        print("soak: fewer than two samples; nothing to report", file=sys.stderr)
        write_status(run, 1, 0)
        return 1
    duration = times[-1]
    warm = min(meta["warmup_s"], duration / 3.0)
    window = min(300.0, duration / 2.0)
    sample = meta["sample_s"]
    problems = list(procinfo.get("failed", []))
    problems += pgbench_problems(run, procinfo)

    # throughput per workload
    cum = {}
    for r in queues:
        t = float(r["t"])
        if r["sent"] != "":
            cum.setdefault(r["queue"], []).append((t, float(r["sent"]) - float(r["depth"])))
    sink_series = [(float(r["t"]), float(r["sink_posts"])) for r in counters]
    sdk_lat = [(float(x[0]), "sdk", float(x[2])) for x in sdk_rows if len(x) >= 3 and x[1] == "e2e"]
    lat_rows = [(float(r["t"]), r["workload"], float(r["ms"])) for r in lat if num(r["ms"]) is not None]
    lat_rows += sdk_lat
    # latency rows are in unix time; t = 0 is when the load started, which
    # the first sample's wall clock gives
    start_unix = load_start_unix(run)
    wl = []
    for key, desc, qs, latname in WORKLOADS:
        # soak_ret keeps messages 60 s: its first window starts once the
        # first ones have expired and been swept
        begin = 90.0 if key == "retention" and duration >= 180 else 0.0
        if qs is None:
            series = sink_series
        else:
            parts = [cum.get(q, []) for q in qs]
            if not all(parts):
                series = []
            else:
                series = [(parts[0][i][0], sum(p[i][1] for p in parts)) for i in range(min(len(p) for p in parts))]
        total = series[-1][1] - series[0][1] if len(series) >= 2 else 0
        first = rate_between(series, begin, begin + window)
        last = rate_between(series, duration - window, duration)
        row = {"workload": key, "what": desc, "messages": total, "first_per_s": first, "last_per_s": last,
               "ratio": (last / first) if first and last is not None else None, "series": series}
        if latname and start_unix is not None:
            def pct(lo, hi):
                v = sorted(ms for t, w, ms in lat_rows if w == latname and lo <= t - start_unix <= hi)
                return (percentile(v, 50), percentile(v, 99), len(v))
            row["first_p50_ms"], row["first_p99_ms"], row["first_latencies"] = pct(0, window)
            row["last_p50_ms"], row["last_p99_ms"], row["last_latencies"] = pct(duration - window, duration)
        # soak_ret keeps messages 60 s: in a shorter run nothing expires
        if total <= 0 and not (key == "retention" and duration < 90):
            problems.append("workload %s moved no message" % key)
        wl.append(row)
    sdk_requests = [x for x in sdk_rows if len(x) >= 5 and x[1] != "e2e"]
    sdk_errors = [x for x in sdk_requests if x[4]]
    sdk_ops = {}
    for x in sdk_requests:
        if not x[4]:
            sdk_ops.setdefault(x[1], []).append(float(x[2]))

    # memory per process
    procs = label_processes(mem)
    memrows = []
    # the level at the end of the warm-up and at the end: the smallest value
    # in a window of at least two samples and a tenth of the run
    span = max(2 * sample, duration / 10.0)
    for pid, d in sorted(procs.items(), key=lambda kv: (not kv[1]["long_lived_sqsn"], kv[1]["label"])):
        c0 = level(d["ctx"], warm, warm + span)
        c1 = level(d["ctx"], duration - span, duration)
        r0 = level(d["rss"], warm, warm + span)
        r1 = level(d["rss"], duration - span, duration)
        first_t = min(t for t, v in d["ctx"])
        last_t = max(t for t, v in d["ctx"])
        cpu = [v for t, v in d["cpu"] if v is not None]
        row = {"pid": pid, "process": d["label"], "backend_type": d["backend_type"],
               "sqsn_process": d["long_lived_sqsn"], "context_at_warmup": c0, "context_at_end": c1,
               "context_growth": (c1 - c0) if c0 is not None and c1 is not None else None,
               "rss_anon_kb_at_warmup": r0, "rss_anon_kb_at_end": r1,
               "rss_anon_growth_kb": (r1 - r0) if r0 is not None and r1 is not None else None,
               "cpu_s": (cpu[-1] - cpu[0]) if len(cpu) >= 2 else None,
               "lived_through": first_t <= 1.5 * sample and last_t >= duration - 1.5 * sample,
               "samples_parsed": sum(1 for t, v in d["ctx"] if v is not None)}
        memrows.append(row)
    sqsn_types = {"sqsn worker", "sqsn delivery worker", "sqsn api"}
    present = {r["backend_type"] for r in memrows if r["sqsn_process"] and r["lived_through"]}
    for bt in sorted(sqsn_types - present):
        problems.append("no %s lived through the run (restarted or missing)" % bt)
    for r in memrows:
        if r["sqsn_process"] and not r["lived_through"]:
            problems.append("%s (pid %d) did not live through the run" % (r["process"], r["pid"]))
        if r["samples_parsed"] == 0:
            problems.append("no memory sample of %s (pid %d) was read from the log" % (r["process"], r["pid"]))

    # what grew, per sqsn process: the child context of TopMemoryContext
    # that grew most between the warm-up and the end
    grew = {}
    for r in ctxs:
        grew.setdefault((int(r["pid"]), r["context"]), []).append((float(r["t"]), float(r["total"])))
    for row in memrows:
        if not row["sqsn_process"]:
            continue
        best = None
        for (pid, ctx), series in grew.items():
            if pid != row["pid"]:
                continue
            g0, g1 = level(series, warm, warm + span), level(series, duration - span, duration)
            if g0 is not None and g1 is not None and (best is None or g1 - g0 > best[1]):
                best = (ctx, g1 - g0)
        row["most_grown_context"] = best

    # tables
    sizes = {}
    for r in queues:
        sizes.setdefault(r["queue"], []).append((float(r["t"]), float(r["table_bytes"]) + float(r["index_bytes"]),
                                                 float(r["dead_tuples"] or 0), float(r["autovacuums"] or 0)))
    tabrows = []
    for q, s in sorted(sizes.items()):
        at_w = nearest(s, window)
        end = s[-1]
        half = nearest(s, duration / 2.0)
        tabrows.append({"table": q, "bytes_after_first_window": at_w[1], "bytes_at_half": half[1],
                        "bytes_at_end": end[1], "dead_tuples_max": max(x[2] for x in s),
                        "dead_tuples_end": end[2], "autovacuums": end[3] - s[0][3],
                        "bounded": end[1] <= SIZE_FACTOR * at_w[1] + SIZE_SLACK})

    # targets
    targets = []
    for r in memrows:
        if r["context_growth"] is None:
            continue
        targets.append({"target": "%s: memory contexts grow <= 256 kB after the warm-up" % r["process"],
                        "value": r["context_growth"], "met": r["context_growth"] <= MEMORY_GOAL})
    for r in wl:
        targets.append({"target": "%s: last %.0f s >= 0.9 x first %.0f s msgs/s" % (r["workload"], window, window),
                        "value": r["ratio"], "met": r["ratio"] is not None and r["ratio"] >= THROUGHPUT_GOAL})
    for r in tabrows:
        targets.append({"target": "%s: size at end <= 2 x after %.0f s + 1 MB" % (r["table"], window),
                        "value": r["bytes_at_end"], "met": r["bounded"]})
    missed = [x for x in targets if not x["met"]]

    skipped = pgbench_skipped(run, procinfo)
    plotted = plot(run, procs, wl, sizes, duration)
    result = {"meta": meta, "duration_s": duration, "warmup_s": warm, "window_s": window,
              "workloads": [{k: v for k, v in r.items() if k != "series"} for r in wl],
              "sdk": {"requests": len(sdk_requests), "errors": len(sdk_errors),
                      "latency_ms": {op: {"p50": percentile(sorted(v), 50), "p99": percentile(sorted(v), 99),
                                          "n": len(v)} for op, v in sdk_ops.items()}},
              "processes": memrows, "tables": tabrows, "targets": targets, "problems": problems,
              "skipped": [{"process": n, "skipped": k, "scheduled": t} for n, k, t in skipped],
              "plots": ["soak.png"] if plotted else []}
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(result, f, indent=2)

    md = markdown(meta, duration, warm, window, wl, memrows, tabrows, targets, sdk_ops, sdk_requests,
                  sdk_errors, problems, smoke, skipped)
    text = "\n".join(md)
    with open(os.path.join(run, "table.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    write_status(run, len(problems), 0 if smoke else len(missed))
    return 0


def load_start_unix(run):
    try:
        with open(os.path.join(run, "start_unix")) as f:
            return float(f.read())
    except (OSError, ValueError):
        return None


def pgbench_problems(run, procinfo):
    out = []
    for p in procinfo.get("processes", []):
        path = os.path.join(run, "out", p["name"] + ".out")
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if p["name"] == "sdk-client":
            continue
        m = re.search(r"number of failed transactions: (\d+)", text)
        if m and int(m.group(1)) > 0:
            out.append("%s: %s failed transactions" % (p["name"], m.group(1)))
        for line in text.splitlines():
            if "aborted" in line.lower() or "error" in line.lower():
                out.append("%s: %s" % (p["name"], line.strip()[:200]))
                break
    return out


def pgbench_skipped(run, procinfo):
    """(name, skipped, of all) of the rate-limited load processes that
    skipped transactions because they were late by more than LATE_MS."""
    out = []
    for p in procinfo.get("processes", []):
        try:
            with open(os.path.join(run, "out", p["name"] + ".out"), errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"number of transactions skipped: (\d+)", text)
        n = re.search(r"number of transactions actually processed: (\d+)", text)
        if m and int(m.group(1)) > 0:
            out.append((p["name"], int(m.group(1)), int(m.group(1)) + (int(n.group(1)) if n else 0)))
    return out


def write_status(run, problems, missed):
    with open(os.path.join(run, "status"), "w") as f:
        f.write("%d %d\n" % (problems, missed))


def markdown(meta, duration, warm, window, wl, memrows, tabrows, targets, sdk_ops, sdk_requests, sdk_errors,
             problems, smoke, skipped):
    md = ["## bench/soak: %.0f s of mixed load, sampled every %d s (%s)" % (duration, meta["sample_s"], meta["mode"]),
          "",
          "| workload | what | messages | msgs/s first %.0f s | msgs/s last %.0f s | last / first "
          "| e2e p50 / p99 ms, first | e2e p50 / p99 ms, last |" % (window, window),
          "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in wl:
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["workload"], r["what"], fmt_rate(r["messages"]), fmt_rate(r["first_per_s"]),
            fmt_rate(r["last_per_s"]), "-" if r["ratio"] is None else "%.2f" % r["ratio"],
            "%s / %s" % (fmt_ms(r.get("first_p50_ms")), fmt_ms(r.get("first_p99_ms"))) if "first_p50_ms" in r
            else "-",
            "%s / %s" % (fmt_ms(r.get("last_p50_ms")), fmt_ms(r.get("last_p99_ms"))) if "last_p50_ms" in r
            else "-"))
    if sdk_requests:
        md += ["", "SDK client (boto3) requests: %d, failed: %d; latency p50 / p99 ms: %s." % (
            len(sdk_requests), len(sdk_errors),
            ", ".join("%s %s / %s" % (op, fmt_ms(percentile(sorted(v), 50)), fmt_ms(percentile(sorted(v), 99)))
                      for op, v in sorted(sdk_ops.items())))]
    if skipped:
        md += ["", "Skipped by pgbench, later than %d ms on their schedule: %s." % (
            LATE_MS, ", ".join("%s %d of %d" % x for x in skipped))]
    md += ["",
           "| process | pid | memory contexts at %.0f s | at end | growth | RssAnon at %.0f s | at end "
           "| growth | CPU s | grew most |" % (warm, warm),
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for r in memrows:
        g = r.get("most_grown_context")
        md.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["process"], r["pid"], mb(r["context_at_warmup"]), mb(r["context_at_end"]),
            kb_signed(r["context_growth"]),
            "-" if r["rss_anon_kb_at_warmup"] is None else "%.1f MB" % (r["rss_anon_kb_at_warmup"] / 1024.0),
            "-" if r["rss_anon_kb_at_end"] is None else "%.1f MB" % (r["rss_anon_kb_at_end"] / 1024.0),
            "-" if r["rss_anon_growth_kb"] is None else "%+.0f kB" % r["rss_anon_growth_kb"],
            "-" if r["cpu_s"] is None else "%.0f" % r["cpu_s"],
            "%s (%s)" % (g[0], kb_signed(g[1])) if g and g[1] > 0 else ""))
    md += ["",
           "| table | table+index after %.0f s | at half time | at end | dead tuples max / end | autovacuums |"
           % window,
           "|---|--:|--:|--:|--:|--:|"]
    for r in tabrows:
        md.append("| %s | %s | %s | %s | %s / %s | %.0f |" % (
            r["table"], mb(r["bytes_after_first_window"]), mb(r["bytes_at_half"]), mb(r["bytes_at_end"]),
            fmt_rate(r["dead_tuples_max"]), fmt_rate(r["dead_tuples_end"]), r["autovacuums"]))
    md += ["", "Targets%s:" % (" (smoke run: reported, not judged; its numbers are not measurements)"
                               if smoke else "")]
    for x in targets:
        if x["value"] is None:
            val = "-"
        elif "memory" in x["target"]:
            val = kb_signed(x["value"])
        elif "size" in x["target"]:
            val = mb(x["value"])
        else:
            val = "%.2f" % x["value"]
        md.append("- %s %s: %s" % ("PASS" if x["met"] else "FAIL", x["target"], val))
    if problems:
        md += ["", "Problems:"] + ["- " + p for p in problems]
    return md


def plot(run, procs, wl, sizes, duration):
    d = os.path.join(run, "plot")
    os.makedirs(d, exist_ok=True)
    series = {"sqsn": [], "client": [], "rss": [], "thr": [], "size": []}
    for i, (pid, p) in enumerate(sorted(procs.items(), key=lambda kv: kv[1]["label"])):
        path = os.path.join(d, "mem%d.dat" % i)
        with open(path, "w") as f:
            rss = dict(p["rss"])
            for t, v in p["ctx"]:
                if v is not None:
                    f.write("%.1f %.4f %s\n" % (t / 60.0, v / 1048576.0,
                                                "%.3f" % (rss[t] / 1024.0) if rss.get(t) else "NaN"))
        if p["long_lived_sqsn"]:
            series["sqsn"].append((path, p["label"]))
            series["rss"].append((path, p["label"]))
        else:
            series["client"].append((path, p["label"]))
    for r in wl:
        path = os.path.join(d, "thr_%s.dat" % r["workload"])
        with open(path, "w") as f:
            s = r["series"]
            for (ta, ca), (tb, cb) in zip(s, s[1:]):
                if tb > ta:
                    f.write("%.2f %.2f\n" % (tb / 60.0, (cb - ca) / (tb - ta)))
        series["thr"].append((path, r["workload"]))
    for i, (q, s) in enumerate(sorted(sizes.items())):
        path = os.path.join(d, "size%d.dat" % i)
        with open(path, "w") as f:
            for t, b, dead, av in s:
                f.write("%.2f %.4f %.0f\n" % (t / 60.0, b / 1048576.0, dead))
        series["size"].append((path, q))

    def plotcmd(items, col, style="lines"):
        return "plot " + ", ".join("'%s' using 1:%d with %s title '%s'" % (p, col, style, t.replace("'", ""))
                                   for p, t in items)

    gp = ["set terminal pngcairo size 1300,1700 font 'sans,9' noenhanced",
          "set output '%s/soak.png'" % run,
          "set multiplot layout 5,1 title 'bench/soak: %s minutes of mixed load'" % ("%.3g" % (duration / 60.0)),
          "set grid", "set key outside right top", "set xlabel 'minutes'", "set xrange [0:*]",
          "set title 'memory contexts (grand total) of the long-lived sqsn processes'", "set ylabel 'MB'",
          plotcmd(series["sqsn"], 2, "linespoints pt 7 ps 0.4"),
          "set title 'RssAnon of the long-lived sqsn processes'", "set ylabel 'MB'",
          plotcmd(series["rss"], 3, "linespoints pt 7 ps 0.4"),
          "set title 'memory contexts of the client backends of the load'", "set ylabel 'MB'",
          plotcmd(series["client"], 2),
          "set title 'throughput per workload (per sample interval)'", "set ylabel 'msgs/s'",
          "set yrange [0:*]",
          plotcmd(series["thr"], 2, "linespoints pt 7 ps 0.4"),
          "set title 'table + index size'", "set ylabel 'MB'",
          plotcmd(series["size"], 2),
          "unset multiplot"]
    path = os.path.join(run, "soak.gp")
    with open(path, "w") as f:
        f.write("\n".join(gp) + "\n")
    try:
        r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
        if r.returncode != 0:
            print("soak: gnuplot failed: " + r.stderr.strip()[:500], file=sys.stderr)
            return False
    except FileNotFoundError:
        print("soak: gnuplot not found; no plot", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------------------
# churn


def cmd_churn(a):
    db = Db(a)
    batch = 50
    nbatches = max(1, a.queues // batch)
    procs = {int(r[0]): r[1] for r in db.query(
        "SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type IN ('sqsn worker', 'sqsn api')")}
    model = "sqsn.q_" + db.query("SELECT queue_id FROM sqsn.queue WHERE queue_name = 'soak_std'")[0][0]
    opts = db.query("SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class WHERE oid = '%s'::regclass"
                    % model)[0][0]
    psql = Db(a).cmd[:]
    sess = subprocess.Popen(psql + ["-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1, env=dict(os.environ, PGAPPNAME="soak-churn"))
    plain = subprocess.Popen(psql + ["-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, bufsize=1, env=dict(os.environ, PGAPPNAME="soak-churn-plain"))

    def run_in(p, sql):
        p.stdin.write(sql + "\n\\echo __done__\n")
        p.stdin.flush()
        out = []
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("the churn session ended")
            if line.strip() == "__done__":
                return out
            out.append(line.strip())

    spid = int(run_in(sess, "SELECT pg_backend_pid();")[0])
    ppid = int(run_in(plain, "SELECT pg_backend_pid();")[0])
    t_start = time.time()

    def one_batch(k):
        run_in(sess, """DO $$ DECLARE h text; BEGIN FOR i IN 1..%d LOOP
            PERFORM sqsn.sq_create_queue(format('churn%%s_%%s', %d, i));
            PERFORM sqsn.sq_send(format('churn%%s_%%s', %d, i), 'body'); COMMIT;
            SELECT receipt_handle INTO h FROM sqsn.sq_receive(format('churn%%s_%%s', %d, i), 1); COMMIT;
            PERFORM sqsn.sq_delete(format('churn%%s_%%s', %d, i), h); COMMIT;
            END LOOP; END $$;""" % (batch, k, k, k, k))
        t = db.query("SELECT clock_timestamp()")[0][0]
        for _ in range(600):
            if db.query("SELECT last_sweep_at > '%s' FROM sqsn.worker_status"
                        % t)[0][0] == "t":
                break
            time.sleep(0.1)
        run_in(sess, """DO $$ BEGIN FOR i IN 1..%d LOOP
            PERFORM sqsn.sq_delete_queue(format('churn%%s_%%s', %d, i)); COMMIT; END LOOP; END $$;""" % (batch, k))
        run_in(plain, """DO $$ BEGIN FOR i IN 1..%d LOOP
            EXECUTE format('CREATE TABLE public.%%I (LIKE %s INCLUDING ALL) WITH (%s)', format('churn%%s_%%s', %d, i));
            EXECUTE format('INSERT INTO public.%%I (sent_at, visible_at, expires_at, message_id, body)'
                ' VALUES (now(), now(), now() + interval ''1 day'', gen_random_uuid(), ''body'')',
                format('churn%%s_%%s', %d, i)); COMMIT;
            EXECUTE format('UPDATE public.%%I SET visible_at = now() + interval ''30 s'' WHERE msg_seq = 1',
                format('churn%%s_%%s', %d, i)); COMMIT;
            EXECUTE format('DELETE FROM public.%%I WHERE msg_seq = 1', format('churn%%s_%%s', %d, i)); COMMIT;
            EXECUTE format('DROP TABLE public.%%I', format('churn%%s_%%s', %d, i)); COMMIT;
            END LOOP; END $$;""" % (batch, model, opts, k, k, k, k, k))

    def readings():
        pids = [spid, ppid] + sorted(procs)
        out = {}
        for _ in range(3):
            grand, _top = log_memory(db, a.log, pids)
            for p in pids:
                if p in grand:
                    out[p] = min(out.get(p, grand[p][0]), grand[p][0])
            time.sleep(0.3)
        return out

    def shmem():
        return db.query("SELECT coalesce(sum(allocated_size), 0), string_agg(name || ' ' || allocated_size, ', '"
                        " ORDER BY name) FROM pg_shmem_allocations WHERE name LIKE 'sqsn%'")[0]

    print("  churn: %d queues in batches of %d (and as many plain tables)" % (nbatches * batch, batch), flush=True)
    one_batch(1)
    one_batch(2)
    before, shm0 = readings(), shmem()
    for k in range(3, nbatches + 3):
        one_batch(k)
        if (k - 2) % 20 == 0:
            print("  churn: %d queues" % ((k - 2) * batch), flush=True)
    after, shm1 = readings(), shmem()
    n = nbatches * batch
    names = {spid: "session (sqsn)", ppid: "session (plain tables)"}
    for p, bt in procs.items():
        names[p] = {"sqsn worker": "maintenance worker", "sqsn api": "endpoint worker %d" % p}.get(bt, bt)
    rows = []
    for p in [spid, ppid] + sorted(procs):
        if p in before and p in after:
            rows.append({"process": names[p], "pid": p, "before": before[p], "after": after[p],
                         "growth": after[p] - before[p], "per_queue": (after[p] - before[p]) / float(n)})
    left = db.query("SELECT count(*) FROM sqsn.queue WHERE queue_name LIKE 'churn%'")[0][0]
    result = {"queues": n, "batch": batch, "seconds": round(time.time() - t_start, 1), "processes": rows,
              "shmem_before": shm0, "shmem_after": shm1, "queues_left": int(left)}
    with open(os.path.join(a.run, "churn.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["", "### Queue churn: %d queues created, used and deleted in batches of %d (%.0f s)" % (
        n, batch, result["seconds"]), "",
        "| process | after 100 queues | after %d more | growth | per queue |" % n, "|---|--:|--:|--:|--:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %.0f bytes |" % (r["process"], mb(r["before"]), mb(r["after"]),
                                                            kb_signed(r["growth"]), r["per_queue"]))
    lines += ["", "sqsn's shared memory: %s bytes before, %s after (%s)." % (shm0[0], shm1[0], shm1[1])]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.run, "table.md"), "a") as f:
        f.write(text + "\n")
    for p in (sess, plain):
        p.stdin.close()
        p.wait()
    return 0 if int(left) == 0 and shm0 == shm1 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "report", "churn"])
    ap.add_argument("--run", required=True)
    ap.add_argument("--pgbin")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--log", help="the server log")
    ap.add_argument("--api-url")
    ap.add_argument("--access-key")
    ap.add_argument("--secret-key")
    ap.add_argument("--mode", default="default")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sample", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--queues", type=int, default=10000)
    a = ap.parse_args()
    if a.command == "run":
        return cmd_run(a)
    if a.command == "churn":
        return cmd_churn(a)
    return cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
