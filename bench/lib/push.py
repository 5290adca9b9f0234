#!/usr/bin/env python3
"""Push delivery benchmark (bench/run, workload 8).

Starts test/http_sink.py on 127.0.0.1 (quiet: it records arrival time and
message id only), subscribes it over http to a topic in the database the
delivery worker works in (sqsn.database_name), then measures

  throughput  N messages published in one transaction; deliveries/s from
              the commit to the last POST arriving at the sink, with
              sqsn.http_max_concurrency connections (64 by default); with
              the configured signing key, then again unsigned (the key
              setting emptied for the run) when one is configured;
  latency     M messages published one per transaction, 20 per second, to
              an otherwise idle worker; publish-to-POST time per message =
              arrival at the sink - clock_timestamp() at the end of the
              publishing statement (both clocks are this machine's).

  email       K messages published in one transaction to an email
              subscription; mails/s from the commit to the last mail
              accepted by test/smtp_sink.py (aiosmtpd, Debian's python3) on
              127.0.0.1, one SMTP session per mail.
  sms         S messages published in one transaction to an sms
              subscription, then S SMS to a phone number (sn_publish_sms)
              in one transaction; SMS/s from the commit to the last form
              POST answered by test/sms_gateway.py --quiet on 127.0.0.1.

It also reports the CPU seconds the sink and the delivery worker used
during the throughput run, to tell which one is the bottleneck. Everything
it creates (topic, table, the extension if it was not there, the
sqsn.http_allowed_hosts and sqsn.signing_key_file overrides) is removed
afterwards.

usage: push.py --psql PSQL --db DB --mode default|quick|smoke --out DIR
Prints one summary line per measurement; writes DIR/push.json. Exit status
1 when a delivery did not arrive or a step failed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = os.path.join(HERE, "..", "..", "test", "http_sink.py")
SMTP_SINK = os.path.join(HERE, "..", "..", "test", "smtp_sink.py")
SMS_GATEWAY = os.path.join(HERE, "..", "..", "test", "sms_gateway.py")
MAIL_SIZES = {"default": 3000, "quick": 1000, "smoke": 30}
SMS_SIZES = {"default": 10000, "quick": 3000, "smoke": 30}
TOPIC = "bench_push"
SIZES = {"default": (20000, 400), "quick": (10000, 200), "smoke": (200, 20)}


def psql(args, sql):
    r = subprocess.run([args.psql, "-X", "-v", "ON_ERROR_STOP=1", "-Atq", "-d", args.db, "-c", sql],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (sql[:200], r.stderr))
    return r.stdout.strip()


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def arrivals(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    except OSError:
        pass
    return out


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def pct(values, p):
    v = sorted(values)
    if not v:
        return -1
    k = (len(v) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def start_server(python, script, d, logs):
    """Starts a sink or gateway script, --quiet, on a free port of
    127.0.0.1 with its records in directory d (the files logs removed
    first); returns (process, port)."""
    os.makedirs(d, exist_ok=True)
    portfile = os.path.join(d, "port")
    for f in [portfile] + [os.path.join(d, name) for name in logs]:
        if os.path.exists(f):
            os.unlink(f)
    proc = subprocess.Popen([python, script, "--dir", d, "--port-file", portfile, "--quiet"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "stderr"), "w"))
    for _ in range(250):
        if os.path.exists(portfile):
            break
        time.sleep(0.02)
    try:
        return proc, int(open(portfile).read())
    except (OSError, ValueError):
        proc.terminate()
        proc.wait()
        raise RuntimeError("%s did not start" % os.path.basename(script))


def bench_email(args, result, sinkdir):
    """Mails/s to the SMTP sink; False when mails did not arrive."""
    k = MAIL_SIZES[args.mode]
    maildir = os.path.join(sinkdir, "smtp")
    log = os.path.join(maildir, "mail.jsonl")
    sink, port = start_server("/usr/bin/python3", SMTP_SINK, maildir, ["mail.jsonl", "rcpt.jsonl"])
    try:
        psql(args, "ALTER SYSTEM SET sqsn.smtp_url = 'smtp://127.0.0.1:%d'" % port)
        psql(args, "ALTER SYSTEM SET sqsn.smtp_require_starttls = off")
        psql(args, "SELECT pg_reload_conf()")
        time.sleep(1)
        psql(args, "DO $$ DECLARE id uuid; BEGIN "
                   "id := sqsn.sn_subscribe('%s_mail', 'email', 'bench@example.com'); "
                   "PERFORM sqsn.sn_confirm_subscription('%s_mail', (SELECT confirmation_token "
                   "FROM sqsn.subscription WHERE subscription_id = id)); END $$" % (TOPIC, TOPIC))
        s0 = cpu_seconds(sink.pid)
        psql(args, "SELECT count(*) FROM sqsn.sn_publish_batch('%s_mail', (SELECT array_agg('bench mail ' || i) "
                   "FROM generate_series(1, %d) i))" % (TOPIC, k))
        t0 = time.time()
        deadline = t0 + max(60, k / 20)
        while count_lines(log) < k and time.time() < deadline:
            time.sleep(0.05)
        got = arrivals(log)
        t_last = max(r["time"] for r in got) if got else t0
        secs = max(t_last - t0, 1e-6)
        rate = len(got) / secs
        result["email"] = dict(mails=k, throughput_per_s=round(rate, 1), throughput_seconds=round(secs, 3),
                               sink_cpu_s=round(cpu_seconds(sink.pid) - s0, 2))
        print("  %-46s %d mails in %.2f s: %.0f mails/s (sink used %.2f CPU s)"
              % ("email throughput, SMTP sink on 127.0.0.1", len(got), secs, rate, cpu_seconds(sink.pid) - s0))
        if len(got) < k:
            print("  email throughput FAILED: %d of %d mails arrived" % (len(got), k))
            return False
        return True
    finally:
        for sql in ("SELECT sqsn.sn_delete_topic(topic_name) FROM sqsn.topic WHERE topic_name = '%s_mail'" % TOPIC,
                    "ALTER SYSTEM RESET sqsn.smtp_url",
                    "ALTER SYSTEM RESET sqsn.smtp_require_starttls",
                    "SELECT pg_reload_conf()"):
            try:
                psql(args, sql)
            except Exception:
                pass
        sink.terminate()
        sink.wait()


def wait_for_lines(path, n, t0, k):
    """Waits until path has n lines (or the time is up); returns the
    records and the seconds from t0 to the last one."""
    deadline = t0 + max(60, k / 20)
    while count_lines(path) < n and time.time() < deadline:
        time.sleep(0.05)
    got = arrivals(path)
    t_last = max(r["time"] for r in got) if got else t0
    return got, max(t_last - t0, 1e-6)


def bench_sms(args, result, sinkdir):
    """SMS/s to the fake gateway, through an sms subscription and to a
    phone number; False when SMS did not arrive."""
    k = SMS_SIZES[args.mode]
    gwdir = os.path.join(sinkdir, "sms")
    log = os.path.join(gwdir, "sms.jsonl")
    gw, port = start_server(sys.executable, SMS_GATEWAY, gwdir, ["sms.jsonl"])
    ok = True
    try:
        psql(args, "ALTER SYSTEM SET sqsn.sms_gateway_url = 'http://127.0.0.1:%d/Messages.json'" % port)
        psql(args, "SELECT pg_reload_conf()")
        time.sleep(1)
        # one SMS first, so that the timed runs start once the delivery
        # worker has read the gateway setting (an SMS sent before that
        # fails and waits 20 s for its retry)
        psql(args, "SELECT sqsn.sn_publish_sms('+15555550801', 'warm-up')")
        got, _ = wait_for_lines(log, 1, time.time(), 0)
        if not got:
            raise RuntimeError("the warm-up SMS did not reach the gateway")
        psql(args, "SELECT sqsn.sn_create_topic('%s_sms')" % TOPIC)
        psql(args, "SELECT sqsn.sn_subscribe('%s_sms', 'sms', '+15555550800')" % TOPIC)
        runs = [("sms", "sms throughput, subscription, gateway on 127.0.0.1",
                 # batches of at most 1000, in one transaction
                 "DO $$ BEGIN FOR b IN 0..%d LOOP PERFORM sqsn.sn_publish_batch('%s_sms', "
                 "ARRAY(SELECT 'bench sms ' || i FROM generate_series(b * 1000 + 1, LEAST(b * 1000 + 1000, %d)) i)); "
                 "END LOOP; END $$" % ((k - 1) // 1000, TOPIC, k)),
                ("sms_direct", "sms throughput, sn_publish_sms to a number",
                 "SELECT count(sqsn.sn_publish_sms('+15555550801', 'bench sms ' || i)) "
                 "FROM generate_series(1, %d) i" % k)]
        done = 1
        for label, title, sql in runs:
            s0 = cpu_seconds(gw.pid)
            psql(args, sql)
            t0 = time.time()
            got, secs = wait_for_lines(log, done + k, t0, k)
            got = [r for r in got[done:] if r["status"] == 201]
            rate = len(got) / secs
            result[label] = dict(sms=k, throughput_per_s=round(rate, 1), throughput_seconds=round(secs, 3),
                                 gateway_cpu_s=round(cpu_seconds(gw.pid) - s0, 2))
            print("  %-46s %d SMS in %.2f s: %.0f SMS/s (gateway used %.2f CPU s)"
                  % (title, len(got), secs, rate, cpu_seconds(gw.pid) - s0))
            if len(got) < k:
                print("  %s FAILED: %d of %d SMS arrived" % (title, len(got), k))
                ok = False
            done += k
        return ok
    finally:
        for sql in ("SELECT sqsn.sn_delete_topic(topic_name) FROM sqsn.topic WHERE topic_name = '%s_sms'" % TOPIC,
                    "DELETE FROM sqsn.delivery WHERE phone_number = '+15555550801'",
                    "ALTER SYSTEM RESET sqsn.sms_gateway_url",
                    "SELECT pg_reload_conf()"):
            try:
                psql(args, sql)
            except Exception:
                pass
        gw.terminate()
        gw.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psql", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--mode", default="default")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    n, m = SIZES[args.mode]
    sinkdir = os.path.join(args.out, "push-sink")
    log = os.path.join(sinkdir, "requests.jsonl")
    sink, port = start_server(sys.executable, SINK, sinkdir, ["requests.jsonl"])
    created_ext = False
    result = {"messages": n, "latency_messages": m}
    ok = True
    try:
        created_ext = psql(args, "SELECT count(*) FROM pg_extension WHERE extname = 'sqsn'") == "0"
        psql(args, "CREATE EXTENSION IF NOT EXISTS sqsn")
        psql(args, "ALTER SYSTEM SET sqsn.http_allowed_hosts = '127.0.0.1'")
        psql(args, "SELECT pg_reload_conf()")
        worker = psql(args, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker'")
        if not worker:
            raise RuntimeError("no sqsn delivery worker runs in this cluster")
        worker = int(worker)
        conc = psql(args, "SHOW sqsn.http_max_concurrency")
        result["http_max_concurrency"] = int(conc)
        psql(args, "SELECT sqsn.sn_delete_topic(topic_name) FROM sqsn.topic WHERE topic_name = '%s'" % TOPIC)
        psql(args, "SELECT sqsn.sn_create_topic('%s')" % TOPIC)
        sub = psql(args, "SELECT sqsn.sn_subscribe('%s', 'http', 'http://127.0.0.1:%d/ok/bench')" % (TOPIC, port))
        time.sleep(0.5)  # the worker has reloaded sqsn.http_allowed_hosts
        psql(args, "SELECT sqsn.sn_confirm_subscription('%s', confirmation_token) FROM sqsn.subscription "
                   "WHERE subscription_id = '%s'" % (TOPIC, sub))
        # the confirmation request (sent or not) is not counted
        deadline = time.time() + 10
        while time.time() < deadline and psql(args, "SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '%s' "
                                                    "AND status = 'pending'" % sub) != "0":
            time.sleep(0.1)
        base = count_lines(log)

        # throughput: with the configured signing key (RSA-2048 signs every
        # envelope), and again unsigned when a key is configured
        keyfile = psql(args, "SHOW sqsn.signing_key_file")
        runs = [("signed" if keyfile else "unsigned", None)]
        if keyfile:
            runs.append(("unsigned", "ALTER SYSTEM SET sqsn.signing_key_file = ''"))
        for label, setting in runs:
            if setting:
                psql(args, setting)
                psql(args, "SELECT pg_reload_conf()")
                time.sleep(1)
            base = count_lines(log)
            s0, w0 = cpu_seconds(sink.pid), cpu_seconds(worker)
            psql(args, "SELECT count(*) FROM generate_series(1, %d) b, LATERAL sqsn.sn_publish_batch('%s', "
                       "(SELECT array_agg('bench message ' || b || '-' || i) FROM generate_series(1, 1000) i))"
                       % (max(n // 1000, 1), TOPIC) if n >= 1000 else
                 "SELECT count(*) FROM sqsn.sn_publish_batch('%s', (SELECT array_agg('bench message ' || i) "
                 "FROM generate_series(1, %d) i))" % (TOPIC, n))
            t0 = time.time()
            deadline = t0 + max(60, n / 200)
            while count_lines(log) < base + n and time.time() < deadline:
                time.sleep(0.05)
            s1, w1 = cpu_seconds(sink.pid), cpu_seconds(worker)
            got = arrivals(log)[base:]
            if len(got) < n:
                ok = False
                print("  push throughput FAILED: %d of %d deliveries arrived" % (len(got), n))
            t_last = max(r["t"] for r in got) if got else t0
            secs = max(t_last - t0, 1e-6)
            rate = len(got) / secs
            result[label] = dict(throughput_per_s=round(rate, 1), throughput_seconds=round(secs, 3),
                                 sink_cpu_s=round(s1 - s0, 2), worker_cpu_s=round(w1 - w0, 2))
            print("  %-46s %d POSTs in %.2f s: %.0f deliveries/s (sink used %.2f CPU s, delivery worker %.2f)"
                  % ("push throughput, %s connections, %s" % (conc, label), len(got), secs, rate,
                     s1 - s0, w1 - w0))
        if keyfile:
            psql(args, "ALTER SYSTEM RESET sqsn.signing_key_file")
            psql(args, "SELECT pg_reload_conf()")
            time.sleep(1)

        # latency with an idle worker
        base = count_lines(log)
        psql(args, "DROP TABLE IF EXISTS public.sqsn_bench_push_times; "
                   "CREATE TABLE public.sqsn_bench_push_times (id uuid, t double precision)")
        time.sleep(0.5)
        psql(args, "DO $$ BEGIN FOR i IN 1..%d LOOP "
                   "INSERT INTO public.sqsn_bench_push_times SELECT sqsn.sn_publish('%s', 'latency ' || i), "
                   "extract(epoch FROM clock_timestamp()); COMMIT; PERFORM pg_sleep(0.05); END LOOP; END $$"
             % (m, TOPIC))
        deadline = time.time() + 30
        while count_lines(log) < base + m and time.time() < deadline:
            time.sleep(0.05)
        sent = {}
        for line in psql(args, "SELECT id || ' ' || t FROM public.sqsn_bench_push_times").splitlines():
            i, t = line.split()
            sent[i] = float(t)
        lat = [(r["t"] - sent[r["id"]]) * 1000.0 for r in arrivals(log)[base:] if r.get("id") in sent]
        if len(lat) < m:
            ok = False
            print("  push latency FAILED: %d of %d deliveries arrived" % (len(lat), m))
        result.update(latency_p50_ms=round(pct(lat, 0.5), 2), latency_p99_ms=round(pct(lat, 0.99), 2),
                      latency_max_ms=round(max(lat), 2) if lat else -1)
        print("  %-46s %d messages, p50 %.2f ms, p99 %.2f ms, max %.2f ms"
              % ("publish-to-POST latency, idle worker", len(lat), pct(lat, 0.5), pct(lat, 0.99),
                 max(lat) if lat else -1))
        psql(args, "SELECT sqsn.sn_delete_topic(topic_name) FROM sqsn.topic WHERE topic_name = '%s_mail'" % TOPIC)
        psql(args, "SELECT sqsn.sn_create_topic('%s_mail')" % TOPIC)
        if not bench_email(args, result, sinkdir):
            ok = False
        if not bench_sms(args, result, sinkdir):
            ok = False
        result["targets"] = {"throughput_per_s": 3000, "latency_p99_ms": 50}
        print("  %-46s %s; p99 latency %s (target < 50 ms)"
              % ("push targets", ", ".join("%s %s (target 3000/s)" % (
                  label, "met" if result[label]["throughput_per_s"] >= 3000 else "NOT met")
                  for label, _ in runs),
                 "met" if lat and pct(lat, 0.99) < 50 else "NOT met"))
    except Exception as e:  # report, clean up, fail
        ok = False
        print("  push workload FAILED: %s" % e)
    finally:
        for sql in ("SELECT sqsn.sn_delete_topic(topic_name) FROM sqsn.topic WHERE topic_name = '%s'" % TOPIC,
                    "DROP TABLE IF EXISTS public.sqsn_bench_push_times",
                    "ALTER SYSTEM RESET sqsn.http_allowed_hosts",
                    "SELECT pg_reload_conf()"):
            try:
                psql(args, sql)
            except Exception:
                pass
        if created_ext:
            try:
                psql(args, "DROP EXTENSION sqsn")
            except Exception:
                pass
        sink.terminate()
        sink.wait()
    result["ok"] = ok
    with open(os.path.join(args.out, "push.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
