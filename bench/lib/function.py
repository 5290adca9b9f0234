#!/usr/bin/env python3
"""Function consumers benchmark (bench/run, workload 12).

In the database the function workers work in (sqsn.database_name), the
same work done two ways, in the same run:

  mapping   N messages in a queue consumed by an event source mapping
            (batch_size 10, maximum_concurrency = sqsn.max_function_workers):
            the function inserts each message's id and body into a table;
            messages/s from enabling the mapping to the last row committed
            (the queue empty), both read from the server's clock. A
            warm-up round first starts the function workers, as pgbench's
            figure leaves out connecting its clients;
  clients   N messages in another queue consumed by as many pgbench clients
            as there are function workers, each transaction: receive 10,
            INSERT the same rows into a table, delete the batch (three
            statements in BEGIN ... COMMIT, as a client process does);
            messages/s at pgbench's rate without its connection time.
            Both tables stamp each row with clock_timestamp().

The ratio mapping / clients is the figure (target >= 1.5). Then the idle
cost: with the mapping enabled on an empty queue, the CPU seconds the
function launcher and workers use in WINDOW seconds, and the transactions
the database commits meanwhile besides those of the maintenance workers
(target: no CPU to speak of).

usage: function.py --psql PSQL --pgbench PGBENCH --db DB --mode default|quick|smoke --out DIR
Prints one summary line per measurement; writes DIR/function.json. Exit
status 1 when a step failed or a message was not processed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from push import cpu_seconds as process_cpu_seconds, psql  # noqa: E402

SIZES = {"default": (40000, 10), "quick": (20000, 5), "smoke": (400, 1)}
BODY = "function-bench-" + "x" * 235  # + 6 digits: 256 bytes

CLIENT_SCRIPT = """BEGIN;
SELECT count(*) AS n, coalesce(array_agg(receipt_handle), '{}') AS handles,
       coalesce(jsonb_agg(jsonb_build_object('id', message_id, 'body', body)), '[]') AS recs
FROM sqsn.sq_receive('bench_fn_clients', 10) \\gset
\\if :n > 0
INSERT INTO public.sqsn_bench_fn_clients
SELECT (r->>'id')::uuid, r->>'body' FROM jsonb_array_elements(:recs::jsonb) r;
SELECT count(*) FROM sqsn.sq_delete_batch('bench_fn_clients', :handles::text[]);
\\endif
COMMIT;
"""


def cpu_seconds(pids):
    return sum(process_cpu_seconds(pid) for pid in pids)


def fill(args, queue, n):
    # the body names its batch, so that the call is made once per batch
    psql(args, "SELECT count(*) FROM generate_series(1, %d) b, LATERAL sqsn.sq_send_batch('%s', "
               "array_fill('%s' || lpad(b::text, 6, '0'), ARRAY[10]))" % (n // 10, queue, BODY))
    got = psql(args, "SELECT visible FROM sqsn.queue_stats WHERE queue_name = '%s'" % queue)
    if int(got) != n:
        raise RuntimeError("queue %s holds %s messages, not %d" % (queue, got, n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psql", required=True)
    ap.add_argument("--pgbench", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--mode", default="default")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    n, window = SIZES[args.mode]
    result = {"messages": n}
    ok = True
    created_ext = False
    try:
        created_ext = psql(args, "SELECT count(*) FROM pg_extension WHERE extname = 'sqsn'") == "0"
        psql(args, "CREATE EXTENSION IF NOT EXISTS sqsn")
        workers = int(psql(args, "SHOW sqsn.max_function_workers"))
        if workers < 2:
            raise RuntimeError("sqsn.max_function_workers is %d: no function workers to measure" % workers)
        result["function_workers"] = workers
        for q in ("bench_fn_mapping", "bench_fn_clients"):
            psql(args, "SELECT sqsn.sq_delete_queue(queue_name) FROM sqsn.queue WHERE queue_name = '%s'" % q)
            psql(args, "SELECT sqsn.sq_create_queue('%s')" % q)
        psql(args, "DROP TABLE IF EXISTS public.sqsn_bench_fn_mapping, public.sqsn_bench_fn_clients; "
                   "CREATE TABLE public.sqsn_bench_fn_mapping (message_id uuid, body text, "
                   "at timestamptz DEFAULT clock_timestamp()); "
                   "CREATE TABLE public.sqsn_bench_fn_clients (message_id uuid, body text, "
                   "at timestamptz DEFAULT clock_timestamp()); "
                   "CREATE OR REPLACE FUNCTION public.sqsn_bench_fn(event jsonb) RETURNS void "
                   "LANGUAGE sql AS $$ INSERT INTO public.sqsn_bench_fn_mapping "
                   "SELECT (r->>'messageId')::uuid, r->>'body' "
                   "FROM jsonb_array_elements(event->'Records') r $$")

        # the mapping: a warm-up round, then the measured one
        mapping = psql(args, "SELECT sqsn.sq_create_event_source_mapping('bench_fn_mapping', "
                             "'public.sqsn_bench_fn(jsonb)', batch_size => 10, maximum_concurrency => %d, "
                             "enabled => false)" % workers)
        warm_up = min(n, 100 * workers)
        for rnd, count in (("warm-up", warm_up), ("measured", n)):
            psql(args, "TRUNCATE public.sqsn_bench_fn_mapping")
            fill(args, "bench_fn_mapping", count)
            psql(args, "CHECKPOINT")
            t0 = float(psql(args, "SELECT extract(epoch FROM clock_timestamp())"))
            psql(args, "SELECT sqsn.sq_update_event_source_mapping('%s', enabled => true)" % mapping)
            deadline = time.time() + max(120, count / 100)
            done = 0
            while time.time() < deadline:
                done = int(psql(args, "SELECT count(*) FROM public.sqsn_bench_fn_mapping"))
                if done >= count:
                    break
                time.sleep(0.2)
            if rnd == "warm-up":
                psql(args, "SELECT sqsn.sq_update_event_source_mapping('%s', enabled => false)" % mapping)
            if done < count:
                raise RuntimeError("%s round: %d of %d messages processed" % (rnd, done, count))
        secs = max(float(psql(args, "SELECT extract(epoch FROM max(at)) FROM public.sqsn_bench_fn_mapping"))
                   - t0, 1e-6)
        mapping_rate = done / secs
        pids = [int(p) for p in psql(args, "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity "
                                           "WHERE backend_type = 'sqsn function worker'").split()]
        result["mapping"] = dict(messages=done, seconds=round(secs, 3), per_s=round(mapping_rate, 1),
                                 workers_seen=len(pids))
        print("  %-46s %d messages in %.2f s: %.0f msgs/s" % (
            "mapping, batch 10, %d workers" % workers, done, secs, mapping_rate))

        # the clients
        fill(args, "bench_fn_clients", n)
        script = os.path.join(args.out, "function_clients.sql")
        with open(script, "w") as f:
            f.write(CLIENT_SCRIPT)
        per_client = n // 10 // workers
        psql(args, "CHECKPOINT")
        t0 = time.time()
        r = subprocess.run([args.pgbench, "-n", "-M", "prepared", "-c", str(workers), "-j", "2",
                            "-t", str(per_client), "-f", script, args.db],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        with open(os.path.join(args.out, "function_clients.out"), "w") as f:
            f.write(r.stdout + r.stderr)
        got = int(psql(args, "SELECT count(*) FROM public.sqsn_bench_fn_clients"))
        tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", r.stdout)
        if r.returncode != 0 or got == 0 or tps is None:
            ok = False
            print("  function clients FAILED: pgbench status %d, %d messages" % (r.returncode, got))
            tps = None
        # pgbench's transactions over its rate: the run without connecting
        secs = workers * per_client / float(tps.group(1)) if tps else max(time.time() - t0, 1e-6)
        clients_rate = got / secs
        result["clients"] = dict(messages=got, seconds=round(secs, 3), per_s=round(clients_rate, 1),
                                 clients=workers)
        print("  %-46s %d messages in %.2f s: %.0f msgs/s" % (
            "pgbench clients, receive 10 + INSERT + delete", got, secs, clients_rate))
        ratio = mapping_rate / clients_rate if clients_rate > 0 else 0
        result["ratio"] = round(ratio, 2)

        # idle: the mapping stays enabled on its empty queue
        time.sleep(1)
        pids = [int(p) for p in psql(args, "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity "
                                           "WHERE backend_type IN ('sqsn function launcher', "
                                           "'sqsn function worker')").split()]
        calls0 = psql(args, "SELECT coalesce(sum(invocations), 0) FROM sqsn.event_source_mapping_stats")
        c0 = cpu_seconds(pids)
        time.sleep(window)
        c1 = cpu_seconds(pids)
        calls1 = psql(args, "SELECT coalesce(sum(invocations), 0) FROM sqsn.event_source_mapping_stats")
        result["idle"] = dict(window_seconds=window, processes=len(pids), cpu_seconds=round(c1 - c0, 3),
                              invocations=int(calls1) - int(calls0))
        print("  %-46s %d processes used %.3f CPU s in %d s, %d invocations" % (
            "idle mapping (launcher + function workers)", len(pids), c1 - c0, window,
            int(calls1) - int(calls0)))
        result["targets"] = {"ratio": 1.5}
        print("  %-46s %.2fx the clients (target >= 1.5x): %s" % (
            "function mapping target", ratio, "met" if ratio >= 1.5 else "NOT met"))
    except Exception as e:  # report, clean up, fail
        ok = False
        print("  function workload FAILED: %s" % e)
    finally:
        for sql in ("SELECT sqsn.sq_delete_queue(queue_name) FROM sqsn.queue "
                    "WHERE queue_name IN ('bench_fn_mapping', 'bench_fn_clients')",
                    "DROP TABLE IF EXISTS public.sqsn_bench_fn_mapping, public.sqsn_bench_fn_clients",
                    "DROP FUNCTION IF EXISTS public.sqsn_bench_fn(jsonb)"):
            try:
                psql(args, sql)
            except Exception:
                pass
        if created_ext:
            try:
                psql(args, "DROP EXTENSION sqsn")
            except Exception:
                pass
    result["ok"] = ok
    with open(os.path.join(args.out, "function.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
