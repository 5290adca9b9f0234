#!/usr/bin/env python3
"""Fair queues benchmark (bench/run, workload 14).

One standard queue holds a backlog of one large message group (BIG
messages, sent first) and 20 small groups (SMALL messages each, sent
after). One session receives and deletes one message per transaction
until every message of the small groups has come; the figure is how many
receives that took, as a share of all the messages in the queue (target:
the first few percent; in send order it would be the last 20 * SMALL
messages, near 100%). Then the cost: receive+delete of the same number of
messages in one session from that queue (fair receives) and from a queue
with the same messages and no group ids (the plain receive), ratio fair /
plain.

usage: fair.py --psql PSQL --db DB --mode default|quick|smoke --out DIR
Prints one summary line per measurement; writes DIR/fair.json. Exit status
1 when a step failed or a small group's message never came.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from push import psql  # noqa: E402


def psql_script(args, script):
    """Runs script's statements one by one (autocommit), the last one's output."""
    r = subprocess.run([args.psql, "-X", "-v", "ON_ERROR_STOP=1", "-Atq", "-d", args.db, "-f", "-"],
                       input=script, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (script[-200:], r.stderr))
    return r.stdout.strip()

SIZES = {"default": (100000, 100, 5000), "quick": (100000, 100, 2000), "smoke": (2000, 10, 200)}
GROUPS = 20
TARGET_SHARE = 0.05

# Receives one message at a time (each receive and its delete one
# transaction, as a client's would be) and returns how many receives it
# took until no small group had a message left, or -1.
SETUP = """
CREATE PROCEDURE pg_temp.until_small_done(q text, small int, INOUT n bigint)
LANGUAGE plpgsql AS $$
DECLARE
	m record;
	left_small int := small;
BEGIN
	n := 0;
	WHILE left_small > 0 LOOP
		SELECT * INTO m FROM sqsn.sq_receive(q, 1, 600);
		IF NOT FOUND THEN
			n := -1;
			RETURN;
		END IF;
		n := n + 1;
		PERFORM sqsn.sq_delete(q, m.receipt_handle);
		IF m.message_group_id LIKE 'small-%' THEN
			left_small := left_small - 1;
		END IF;
		COMMIT;
	END LOOP;
END $$;
"""

TIMED = """
CREATE PROCEDURE pg_temp.drain(q text, k int)
LANGUAGE plpgsql AS $$
DECLARE
	m record;
BEGIN
	FOR i IN 1..k LOOP
		SELECT * INTO m FROM sqsn.sq_receive(q, 1, 600);
		IF NOT FOUND THEN
			RAISE EXCEPTION 'queue % ran dry after % receives', q, i - 1;
		END IF;
		PERFORM sqsn.sq_delete(q, m.receipt_handle);
		COMMIT;
	END LOOP;
END $$;
"""


def fill(args, queue, big, small, grouped):
    psql(args, "SELECT sqsn.sq_delete_queue(%s) FROM sqsn.queue WHERE queue_name = %s"
         % (lit(queue), lit(queue)))
    psql(args, "SELECT sqsn.sq_create_queue(%s)" % lit(queue))
    group = "'big'" if grouped else "NULL"
    psql(args, "SELECT count(*) FROM generate_series(1, %d, 100) s,"
               " LATERAL sqsn.sq_send_batch(%s, ARRAY(SELECT 'big-' || i"
               "   FROM generate_series(s, least(s + 99, %d)) i),"
               " message_group_ids => ARRAY(SELECT %s FROM generate_series(s, least(s + 99, %d))))"
         % (big, lit(queue), big, group, big))
    group = "'small-' || g" if grouped else "NULL"
    psql(args, "SELECT count(sqsn.sq_send(%s, 'small-' || g || '-' || i, message_group_id => %s))"
               " FROM generate_series(1, %d) i, generate_series(1, %d) g"
         % (lit(queue), group, small, GROUPS))
    # the index fair receives walk, which the maintenance worker would make
    psql(args, "SELECT count(*) FROM sqsn.run_maintenance()")
    psql(args, "VACUUM ANALYZE sqsn.q_%s"
         % psql(args, "SELECT queue_id FROM sqsn.queue WHERE queue_name = %s" % lit(queue)))


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def timed_drain(args, queue, k):
    start = time.monotonic()
    psql_script(args, TIMED + "CALL pg_temp.drain(%s, %d);" % (lit(queue), k))
    return k / (time.monotonic() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--psql", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--mode", choices=SIZES.keys(), default="default")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    big, small, timed = SIZES[args.mode]
    total = big + GROUPS * small
    result = {"big": big, "small_groups": GROUPS, "small": small, "total": total}
    ok = True
    try:
        fill(args, "bench_fair", big, small, True)
        n = int(psql_script(args, SETUP + "CALL pg_temp.until_small_done('bench_fair', %d, NULL);"
                            % (GROUPS * small)))
        if n < 0:
            print("  fair queue: a small group's message never came   FAILED")
            ok = False
        else:
            share = n / total
            result.update(receives_until_small_done=n, share=share)
            print("  fair queue: the %d messages of %d small groups all received after %d of %d"
                  " receives (%.2f%%; in send order: %.2f%%; target <= %.0f%%)%s"
                  % (GROUPS * small, GROUPS, n, total, 100 * share, 100.0, 100 * TARGET_SHARE,
                     "" if share <= TARGET_SHARE else "   target missed"))
        # the cost: receive+delete from the rest of the big group's backlog
        # (fair) vs the same messages without group ids (plain)
        fill(args, "bench_fair_plain", big, small, False)
        fair_rate = timed_drain(args, "bench_fair", timed)
        plain_rate = timed_drain(args, "bench_fair_plain", timed)
        result.update(fair_rate=fair_rate, plain_rate=plain_rate, ratio=fair_rate / plain_rate)
        print("  receive+delete 1/txn, 1 session, %d messages: fair %.0f msgs/s, without groups"
              " %.0f msgs/s, ratio %.2f" % (timed, fair_rate, plain_rate, fair_rate / plain_rate))
    except RuntimeError as e:
        print("  fair queue benchmark FAILED: %s" % e)
        ok = False
    finally:
        for q in ("bench_fair", "bench_fair_plain"):
            try:
                psql(args, "SELECT sqsn.sq_delete_queue(%s) FROM sqsn.queue WHERE queue_name = %s"
                     % (lit(q), lit(q)))
            except RuntimeError:
                pass
    with open(os.path.join(args.out, "fair.json"), "w") as f:
        json.dump(result, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
