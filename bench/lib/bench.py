#!/usr/bin/env python3
"""Result processing for bench/run (Python 3 standard library only).

  bench.py report --run DIR

DIR/runs.tsv has one line per pgbench invocation, written by bench/run:
tab-separated key=value fields (id, half, system, label, workload, clients,
sync, vs, per_txn, consumer, before, after, rc, out, logs, script); the two
halves of a run share its id. For each run this parses the pgbench output
and per-transaction logs, then writes DIR/results.json, DIR/table.md and the
gnuplot data, draws the PNG plots, prints the Markdown tables, and writes
DIR/status: "<runs> <failed> <failed ids...>".

A run's record holds: transactions; messages (transactions x messages per
transaction for sends; counted in the database for receives: messages that
left the queue); measured seconds (transactions / pgbench's tps, which
leaves out connection time); msgs/s = messages / seconds; p50/p90/p99
latency per transaction in ms (pgbench -l logs); the queue depth left.
"""

import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys
import time


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def read_latencies(prefix):
    """Latencies (ms) from pgbench -l files PREFIX.<pid>[.<thread>]."""
    values = []
    files = sorted(glob.glob(glob.escape(prefix) + ".*"))
    for path in files:
        with open(path) as f:
            for line in f:
                parts = line.split()
                # client_id transaction_no time script_no time_epoch time_us
                if len(parts) >= 6 and parts[2].isdigit():
                    values.append(int(parts[2]) / 1000.0)
    values.sort()
    return values


def parse_pgbench(text):
    out = {}
    m = re.search(r"number of transactions actually processed: (\d+)", text)
    out["transactions"] = int(m.group(1)) if m else 0
    m = re.search(r"number of failed transactions: (\d+)", text)
    out["failed_transactions"] = int(m.group(1)) if m else 0
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    out["tps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"initial connection time = ([0-9.]+) ms", text)
    out["connection_ms"] = float(m.group(1)) if m else None
    out["errors"] = [
        line for line in text.splitlines() if "error" in line.lower() or "aborted" in line.lower()
    ][:5]
    return out


def counters(s):
    """'consumed depth' as printed by bench.counters(), or None."""
    if not s:
        return None
    parts = s.replace("|", " ").split()
    return {"consumed": int(parts[0]), "depth": int(parts[1])}


def fmt_rate(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def measure_part(a):
    """One pgbench invocation (a: the dict of its runs.tsv line)."""
    with open(a["out"], errors="replace") as f:
        part = parse_pgbench(f.read())
    part["out"] = a["out"]
    part["rc"] = int(a["rc"])
    per_txn = int(a.get("per_txn") or 0)
    before, after = counters(a.get("before")), counters(a.get("after"))
    part["depth_left"] = after["depth"] if after else None
    if per_txn > 0:
        part["messages"] = part["transactions"] * per_txn
    elif before and after:
        part["messages"] = after["consumed"] - before["consumed"]
    else:
        part["messages"] = 0
    # Measured seconds (pgbench's tps leaves out the connection time).
    part["seconds"] = part["transactions"] / part["tps"] if part["tps"] else 0.0
    part["latencies"] = read_latencies(a["logs"])
    return part


_latency_caches = {}


def latency_cache(run):
    """Latency percentiles per run id, kept in DIR/latency.json."""
    if run not in _latency_caches:
        path = os.path.join(run, "latency.json")
        try:
            with open(path) as f:
                _latency_caches[run] = json.load(f)
        except (OSError, ValueError):
            _latency_caches[run] = {}
    return _latency_caches[run]


def save_latency_caches():
    for run, cache in _latency_caches.items():
        with open(os.path.join(run, "latency.json"), "w") as f:
            json.dump(cache, f, indent=1)


def record(lines):
    """The record of one workload run: one runs.tsv line, or two for a run
    measured in two halves (half=a before the other systems' runs, half=b
    after them, in reverse order), which are added up."""
    a = lines[0]
    parts = [measure_part(x) for x in lines]
    rec = {
        "id": a["id"],
        "workload": a["workload"],
        "system": a["system"],
        "label": a["label"],
        "clients": int(a["clients"]),
        "synchronous_commit": a.get("sync", "on"),
        "vs": a.get("vs", ""),
        "script": a.get("script", ""),
        "parts": len(parts),
        "pgbench_exit": max(p["rc"] for p in parts),
        "transactions": sum(p["transactions"] for p in parts),
        "failed_transactions": sum(p["failed_transactions"] for p in parts),
        "messages": sum(p["messages"] for p in parts),
        "seconds": round(sum(p["seconds"] for p in parts), 3),
        "errors": [e for p in parts for e in p["errors"]][:5],
    }
    secs = rec["seconds"]
    rec["tps"] = rec["transactions"] / secs if secs else 0.0
    rec["msgs_per_txn"] = rec["messages"] / rec["transactions"] if rec["transactions"] else 0.0
    rec["msgs_per_s"] = rec["messages"] / secs if secs else 0.0
    rec["msgs_per_s_parts"] = [round(p["messages"] / p["seconds"], 1) if p["seconds"] else 0.0 for p in parts]
    left = [p["depth_left"] for p in parts if p["depth_left"] is not None]
    rec["depth_left"] = min(left) if left else None
    lat = sorted(x for p in parts for x in p["latencies"])
    cache = latency_cache(os.path.dirname(a["out"]))
    if lat or rec["id"] not in cache:
        cache[rec["id"]] = {"latency_samples": len(lat)}
        for q in (50, 90, 99):
            cache[rec["id"]][f"p{q}_ms"] = percentile(lat, q)
    # Without its logs (bench/run removes them), a run keeps the latencies
    # an earlier report computed.
    rec.update(cache[rec["id"]])

    problems = []
    if rec["pgbench_exit"] != 0:
        problems.append(f"pgbench exited with status {rec['pgbench_exit']}")
    if any(p["transactions"] == 0 for p in parts):
        problems.append("no transaction completed")
    if rec["failed_transactions"]:
        problems.append(f"{rec['failed_transactions']} failed transactions")
    if any(p["messages"] <= 0 for p in parts):
        problems.append("no message was sent or consumed")
    if a.get("consumer") == "1" and rec["depth_left"] == 0:
        problems.append("the queue ran empty (prefill more or measure for less time)")
    rec["ok"] = not problems
    rec["problems"] = problems + (rec["errors"] if problems else [])
    if problems:
        print(f"FAILED {rec['id']}: " + "; ".join(problems), file=sys.stderr)
        for e in rec["errors"]:
            print(f"    {e}", file=sys.stderr)
        print("    (full output: " + ", ".join(p["out"] for p in parts) + ")", file=sys.stderr)
    return rec


# ---------------------------------------------------------------------------
# Report


def load_runs(run):
    """Records of runs.tsv, in the order of their first line."""
    groups = {}
    path = os.path.join(run, "runs.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    fields = dict(kv.split("=", 1) for kv in line.rstrip("\n").split("\t") if "=" in kv)
                    groups.setdefault(fields["id"], []).append(fields)
    runs = [record(lines) for lines in groups.values()]
    save_latency_caches()
    return runs


def load_samples(run):
    path = os.path.join(run, "steady-samples.csv")
    rows = []
    if not os.path.exists(path):
        return rows
    cols = ["t", "consumed", "depth", "sent", "table_bytes", "index_bytes", "total_bytes",
            "dead_tuples", "autovacuums"]
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) != len(cols) or not parts[0]:
                continue
            try:
                rows.append({c: (float(v) if v != "" else None) for c, v in zip(cols, parts)})
            except ValueError:
                continue
    return rows


def at_time(samples, t):
    """The sample closest to time t (seconds from the first sample)."""
    return min(samples, key=lambda s: abs(s["t"] - t))


def steady_summary(run, meta):
    samples = load_samples(run)
    if len(samples) < 2:
        return None, samples
    t0 = samples[0]["t"]
    for s in samples:
        s["t"] -= t0
    duration = samples[-1]["t"]
    # First and last minute; in short runs (--smoke) the first and last half.
    window = min(60.0, duration / 2.0)
    first_a, first_b = samples[0], at_time(samples, window)
    last_a, last_b = at_time(samples, duration - window), samples[-1]

    def rate(a, b, key):
        dt = b["t"] - a["t"]
        return (b[key] - a[key]) / dt if dt > 0 else None

    first = rate(first_a, first_b, "consumed")
    last = rate(last_a, last_b, "consumed")
    size_first = first_b["total_bytes"]
    size_end = last_b["total_bytes"]
    s = {
        "duration_s": round(duration, 1),
        "window_s": round(window, 1),
        "sent_per_s": rate(samples[0], samples[-1], "sent"),
        "consumed_per_s": rate(samples[0], samples[-1], "consumed"),
        "consumed_per_s_first_window": first,
        "consumed_per_s_last_window": last,
        "throughput_ratio_last_to_first": (last / first) if first and last is not None else None,
        "total_bytes_after_first_window": size_first,
        "total_bytes_end": size_end,
        "size_ratio_end_to_first_window": (size_end / size_first) if size_first else None,
        "total_bytes_at_half_time": at_time(samples, duration / 2.0)["total_bytes"],
        "depth_max": max(x["depth"] for x in samples),
        "depth_end": samples[-1]["depth"],
        "dead_tuples_max": max((x["dead_tuples"] or 0) for x in samples),
        "autovacuums": samples[-1]["autovacuums"],
    }
    # Throughput per 10 s for the plot.
    step = 10.0 if duration >= 40 else max(duration / 4.0, 0.5)
    with open(os.path.join(run, "steady.dat"), "w") as f:
        f.write("# t_s sent_per_s consumed_per_s depth total_mb table_mb index_mb dead_tuples\n")
        prev = samples[0]
        for x in samples[1:]:
            if x["t"] - prev["t"] + 1e-6 < step and x is not samples[-1]:
                continue
            dt = x["t"] - prev["t"]
            f.write(
                f"{x['t']:.1f} {(x['sent'] - prev['sent']) / dt:.1f} "
                f"{(x['consumed'] - prev['consumed']) / dt:.1f} {x['depth']:.0f} "
                f"{x['total_bytes'] / 1048576:.3f} {x['table_bytes'] / 1048576:.3f} "
                f"{x['index_bytes'] / 1048576:.3f} {x['dead_tuples'] or 0:.0f}\n"
            )
            prev = x
    return s, samples


def comparison_rows(runs):
    by_id = {r["id"]: r for r in runs}
    rows = []
    for r in runs:
        if r["system"] == "sqsn" or not r.get("vs") or r["vs"] not in by_id:
            continue
        q = by_id[r["vs"]]
        clients = str(q["clients"]) if q["clients"] == r["clients"] else f"{q['clients']} vs {r['clients']}"
        workload = q["workload"]
        if q["synchronous_commit"] != "on":
            workload += f" (synchronous_commit={q['synchronous_commit']})"
        ratio = q["msgs_per_s"] / r["msgs_per_s"] if r["msgs_per_s"] else None
        rows.append({
            "workload": workload,
            "clients": clients,
            "sqsn_id": q["id"],
            "baseline_id": r["id"],
            "baseline": r["label"],
            "baseline_system": r["system"],
            "sqsn_msgs_per_s": q["msgs_per_s"],
            "baseline_msgs_per_s": r["msgs_per_s"],
            "ratio": ratio,
            "sqsn_p50_ms": q["p50_ms"],
            "sqsn_p99_ms": q["p99_ms"],
            "baseline_p50_ms": r["p50_ms"],
            "baseline_p99_ms": r["p99_ms"],
        })
    return rows


def markdown_table(rows):
    out = [
        "| workload | clients | sqsn msgs/s | baseline | baseline msgs/s | ratio | sqsn p50 / p99 ms | baseline p50 / p99 ms |",
        "|---|---|--:|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        out.append(
            f"| {r['workload']} | {r['clients']} | {fmt_rate(r['sqsn_msgs_per_s'])} | {r['baseline']} "
            f"| {fmt_rate(r['baseline_msgs_per_s'])} | {ratio} "
            f"| {fmt_ms(r['sqsn_p50_ms'])} / {fmt_ms(r['sqsn_p99_ms'])} "
            f"| {fmt_ms(r['baseline_p50_ms'])} / {fmt_ms(r['baseline_p99_ms'])} |"
        )
    return "\n".join(out)


SCALE_WORKLOAD = "receive+delete 1/txn, sessions"


def scaling(runs):
    """The consumers-at-scale workload: per system, msgs/s by number of
    sessions and each count's ratio to the figure at 8 sessions."""
    systems = {}
    for r in runs:
        if r["workload"] != SCALE_WORKLOAD:
            continue
        x = systems.setdefault(r["system"], {"system": r["system"], "label": r["label"], "msgs_per_s": {}})
        x["msgs_per_s"][r["clients"]] = r["msgs_per_s"]
    for x in systems.values():
        base = x["msgs_per_s"].get(8)
        x["ratio_to_8"] = {c: (v / base if base else None) for c, v in x["msgs_per_s"].items()}
    return list(systems.values())


def scaling_table(sc):
    counts = sorted({c for x in sc for c in x["msgs_per_s"]})
    more = [c for c in counts if c != 8]
    out = [
        "| receive+delete 1/txn, one queue, msgs/s | " + " | ".join(f"{c} sessions" for c in counts)
        + " | " + " | ".join(f"{c} ÷ 8" for c in more) + " |",
        "|---|" + "--:|" * (len(counts) + len(more)),
    ]
    for x in sc:
        rates = [fmt_rate(x["msgs_per_s"].get(c)) if x["msgs_per_s"].get(c) is not None else "-" for c in counts]
        ratios = ["-" if x["ratio_to_8"].get(c) is None else f"{x['ratio_to_8'][c]:.2f}" for c in more]
        out.append(f"| {x['label']} | " + " | ".join(rates) + " | " + " | ".join(ratios) + " |")
    return "\n".join(out)


def steady_table(s, runs):
    mb = 1048576.0
    prod = next((r for r in runs if r["id"] == "steady-producers"), None)
    cons = next((r for r in runs if r["id"] == "steady-consumers"), None)
    w = f"{s['window_s']:.0f} s"
    lines = [
        "| steady state, sqsn, 4 producers + 4 consumers | value |",
        "|---|--:|",
        f"| duration | {s['duration_s']:.0f} s |",
        f"| sent / received msgs/s (whole run) | {fmt_rate(s['sent_per_s'])} / {fmt_rate(s['consumed_per_s'])} |",
        f"| received msgs/s, first {w} → last {w} | {fmt_rate(s['consumed_per_s_first_window'])} → "
        f"{fmt_rate(s['consumed_per_s_last_window'])} ({s['throughput_ratio_last_to_first']:.2f}×) |"
        if s["throughput_ratio_last_to_first"] is not None else f"| received msgs/s | - |",
        f"| table+index size after {w} → end | {s['total_bytes_after_first_window'] / mb:.1f} MB → "
        f"{s['total_bytes_end'] / mb:.1f} MB ({s['size_ratio_end_to_first_window']:.2f}×) |"
        if s["size_ratio_end_to_first_window"] is not None else "| size | - |",
        f"| table+index size at half time → end | {s['total_bytes_at_half_time'] / mb:.1f} MB → "
        f"{s['total_bytes_end'] / mb:.1f} MB |",
        f"| queue depth max / end | {s['depth_max']:,.0f} / {s['depth_end']:,.0f} |",
        f"| dead tuples max, autovacuums | {s['dead_tuples_max']:,.0f}, {s['autovacuums']:.0f} |",
    ]
    if prod and cons:
        lines.append(
            f"| send p50 / p99 ms; receive+delete batch p50 / p99 ms | {fmt_ms(prod['p50_ms'])} / "
            f"{fmt_ms(prod['p99_ms'])}; {fmt_ms(cons['p50_ms'])} / {fmt_ms(cons['p99_ms'])} |"
        )
    return "\n".join(lines)


def targets(rows, s, mode, sc=()):
    def find(workload, clients, system):
        for r in rows:
            if r["workload"] == workload and r["clients"] == clients and r["baseline_system"] == system:
                return r
        return None

    out = []

    def check(name, value, goal, higher_is_better=True):
        if value is None:
            out.append({"target": name, "value": None, "goal": goal, "met": None})
            return
        met = value >= goal if higher_is_better else value <= goal
        out.append({"target": name, "value": round(value, 3), "goal": goal, "met": met})

    for c in ("1", "8"):
        r = find("send 1/txn", c, "plain")
        check(f"send, {c} client(s) ≥ 0.9 × INSERT", r and r["ratio"], 0.9)
    r = find("send batch of 100", "4", "plain")
    check("send batch ≥ 0.9 × multi-row INSERT", r and r["ratio"], 0.9)
    r = find("receive+delete 1/txn", "8", "plain")
    check("receive+delete ≥ 1.0 × SKIP LOCKED", r and r["ratio"], 1.0)
    r = find("receive 10 + delete batch", "8", "plain")
    check("receive 10 + delete batch ≥ 1.0 × SKIP LOCKED", r and r["ratio"], 1.0)
    r = find("publish to 10 queues", "4", "sends")
    check("publish to 10 queues ≥ 1.0 × 10 sq_send in one transaction", r and r["ratio"], 1.0)
    r = find("FIFO receive+delete 1/txn, 100 groups", "8", "standard")
    check("FIFO receive+delete 1/txn (100 groups) ≥ 0.5 × standard queue", r and r["ratio"], 0.5)
    r = find("FIFO receive 10 + delete batch, 100 groups", "8", "standard")
    check("FIFO receive 10 + delete batch (100 groups) ≥ 0.5 × standard queue", r and r["ratio"], 0.5)
    for w in ("send 1/txn", "receive+delete 1/txn"):
        for sync in ("", " (synchronous_commit=off)"):
            r = find(f"counters: {w}{sync}", "8", "metrics-off")
            check(f"{w}{sync} with the queue counters ≥ 0.97 × without", r and r["ratio"], 0.97)
    for x in sc:
        if x["system"] != "sqsn":
            continue
        for c in (64, 128):
            if c in x["msgs_per_s"]:
                check(f"receive+delete 1/txn, one queue: {c} sessions ≥ 0.9 × 8 sessions",
                      x["ratio_to_8"].get(c), 0.9)
    if s:
        check("steady state: size at end ≤ 2 × after first minute",
              s["size_ratio_end_to_first_window"], 2.0, higher_is_better=False)
        check("steady state: last-minute throughput ≥ 0.8 × first",
              s["throughput_ratio_last_to_first"], 0.8)
    return out


def plot(run, rows, have_steady):
    with open(os.path.join(run, "throughput.dat"), "w") as f:
        f.write("# label sqsn baseline\n")
        for r in rows:
            label = f"{r['workload']}, c={r['clients']}\\nvs {r['baseline']}"
            f.write(f"\"{label}\" {r['sqsn_msgs_per_s']:.1f} {r['baseline_msgs_per_s']:.1f}\n")
    gp = [
        "set terminal pngcairo size 1400,800 font 'sans,9' noenhanced",
        f"set output '{run}/throughput.png'",
        "set title 'sqsn vs baselines: messages per second (log scale)'",
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 0.85 border -1",
        "set logscale y",
        "set yrange [10:*]",
        "set ylabel 'msgs/s'",
        "set grid ytics",
        "set xtics rotate by -30 scale 0",
        "set bmargin 14",
        "set rmargin 22",
        "set key top left",
        f"plot '{run}/throughput.dat' using 2:xtic(1) title 'sqsn', '' using 3 title 'baseline'",
    ]
    if have_steady:
        gp += [
            "reset",
            "set terminal pngcairo size 1100,900 font 'sans,9' noenhanced",
            f"set output '{run}/steady.png'",
            "set multiplot layout 3,1 title 'sqsn steady state: 4 producers + 4 consumers'",
            "set grid",
            "set key top right",
            "set xlabel 's'",
            "set ylabel 'msgs/s'",
            "set yrange [0:*]",
            f"plot '{run}/steady.dat' using 1:2 with linespoints title 'sent', '' using 1:3 with linespoints title 'received+deleted'",
            "set ylabel 'messages'",
            f"plot '{run}/steady.dat' using 1:4 with linespoints title 'queue depth', '' using 1:8 with lines title 'dead tuples'",
            "set ylabel 'MB'",
            f"plot '{run}/steady.dat' using 1:5 with linespoints title 'table+index', '' using 1:6 with lines title 'table', '' using 1:7 with lines title 'index'",
            "unset multiplot",
        ]
    path = os.path.join(run, "plots.gp")
    with open(path, "w") as f:
        f.write("\n".join(gp) + "\n")
    try:
        res = subprocess.run(["gnuplot", path], capture_output=True, text=True)
        if res.returncode != 0:
            print("bench: gnuplot failed: " + res.stderr.strip()[:500], file=sys.stderr)
            return False
    except FileNotFoundError:
        print("bench: gnuplot not found; no plots", file=sys.stderr)
        return False
    return True


def load_meta(run):
    """meta.txt (key=value lines from bench/run) plus the machine."""
    meta = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "server_settings": {}}
    with open(os.path.join(run, "meta.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            if k.startswith("setting."):
                meta["server_settings"][k[8:]] = v
            elif k:
                meta[k] = int(v) if v.isdigit() else v
    machine = {"cpus": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            machine["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
        with open("/proc/meminfo") as f:
            machine["memory"] = f"{int(f.readline().split()[1]) // 1048576} GiB"
    except (OSError, ValueError, IndexError):
        pass
    meta["machine"] = machine
    return meta


def load_longpoll(run):
    """longpoll.txt (key=value lines from bench/run's long-polling workload)."""
    path = os.path.join(run, "longpoll.txt")
    if not os.path.exists(path):
        return None
    lp = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                try:
                    lp[k] = float(v)
                except ValueError:
                    lp[k] = v
    return lp


def longpoll_table(lp):
    return "\n".join([
        "| long polling | value |",
        "|---|--:|",
        f"| wake latency, send → waiting receive returns (10 waiters, {lp.get('wake_messages', 0):.0f} messages) "
        f"| p50 {lp.get('wake_p50_ms', -1):.2f} ms, p99 {lp.get('wake_p99_ms', -1):.2f} ms, max {lp.get('wake_max_ms', -1):.2f} ms |",
        f"| {lp.get('idle_waiters', 0):.0f} idle waiters: CPU they used in {lp.get('idle_window_seconds', 0):.0f} s "
        f"| {lp.get('idle_cpu_seconds', 0):.2f} s |",
    ])


def write_report(run, md, runs):
    """Prints the report's lines md and writes them to RUN/table.md; RUN/status
    gets the number of runs, the number that failed and their ids."""
    text = "\n".join(md)
    with open(os.path.join(run, "table.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    failed = [r["id"] for r in runs if not r["ok"]]
    with open(os.path.join(run, "status"), "w") as f:
        f.write(" ".join([str(len(runs)), str(len(failed))] + failed) + "\n")


def cmd_report(a):
    run = a.run
    runs = load_runs(run)
    meta = load_meta(run)
    rows = comparison_rows(runs)
    s, _ = steady_summary(run, meta)
    lp = load_longpoll(run)
    sc = scaling(runs)
    t = targets(rows, s, meta.get("mode"), sc) if meta.get("mode") != "smoke" else []
    if t and lp and lp.get("wake_messages"):
        t.append({"target": "long-poll wake latency p99 < 10 ms (10 waiters)", "value": lp["wake_p99_ms"],
                  "goal": 10.0, "met": lp["wake_p99_ms"] < 10.0})
    plotted = plot(run, rows, s is not None)
    result = {"meta": meta, "runs": runs, "comparisons": rows, "scaling": sc, "steady_state": s,
              "long_polling": lp,
              "targets": t, "plots": ["throughput.png", "steady.png"] if plotted else []}
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(result, f, indent=2)

    md = [markdown_table(rows)]
    left = [f"{r['id']} {r['depth_left']:,}" for r in runs
            if r["depth_left"] is not None and r["workload"] != "steady state"]
    if left:
        md += ["", "Queue depth left after each receive run: " + ", ".join(left) + "."]
    if sc:
        md += ["", scaling_table(sc)]
    if lp:
        md += ["", longpoll_table(lp)]
    if s:
        md += ["", steady_table(s, runs)]
    if t:
        md += ["", "Targets:"]
    else:
        md += ["", "(smoke run: checks that every workload runs; its numbers are not measurements)"]
    for x in t:
        mark = "?" if x["met"] is None else ("met" if x["met"] else "MISSED")
        val = "-" if x["value"] is None else f"{x['value']:.2f}"
        md.append(f"- {x['target']}: {val} ({mark})")
    write_report(run, md, runs)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["report"])
    p.add_argument("--run", required=True)
    a = p.parse_args()
    return cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
