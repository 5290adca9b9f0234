#!/usr/bin/env python3
"""Report of bench/storage: reads the samples of one run and prints the
ratios the storage targets are about (README "Storage workloads"), writes
results.json, table.md and one PNG per workload (gnuplot, if installed).

A sample line (bench.sample in bench/sql/setup.sql) is: epoch, consumed,
depth, sent, table bytes, index bytes, total bytes, dead tuples, autovacuum
runs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

SYSTEMS = ("sqsn", "plain")
# Width of the throughput windows: 10 s, 1 s in --smoke runs of a few seconds.
STEP = 10.0
COLS = ("t", "consumed", "depth", "sent", "table", "index", "total", "dead", "autovac")


def read_samples(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) != len(COLS) or not parts[0]:
                continue
            try:
                rows.append(dict(zip(COLS, (float(p) if p else 0.0 for p in parts))))
            except ValueError:
                continue
    return rows


def at(rows, t):
    """The sample closest to time t."""
    return min(rows, key=lambda r: abs(r["t"] - t))


def rate(rows, a, b):
    """Messages consumed per second between the samples nearest a and b."""
    if not rows:
        return None
    ra, rb = at(rows, a), at(rows, b)
    if rb["t"] <= ra["t"]:
        return None
    return (rb["consumed"] - ra["consumed"]) / (rb["t"] - ra["t"])


def series(rows, step=None):
    """(seconds since start, msgs/s) per step-second window."""
    step = step or STEP
    out = []
    if len(rows) < 2:
        return out
    t0 = rows[0]["t"]
    k = 0
    while t0 + (k + 1) * step <= rows[-1]["t"] + 0.5:
        r = rate(rows, t0 + k * step, t0 + (k + 1) * step)
        if r is not None:
            out.append((k * step + step / 2, r))
        k += 1
    return out


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def read_time(path):
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def long_transaction(run, meta):
    out = {}
    for sys_ in SYSTEMS:
        rows = read_samples(os.path.join(run, f"lt-{sys_}.csv"))
        hb = read_time(os.path.join(run, f"lt-{sys_}.hold_begin"))
        he = read_time(os.path.join(run, f"lt-{sys_}.hold_end"))
        if len(rows) < 3 or hb is None or he is None:
            out[sys_] = {"error": "no samples or no held snapshot"}
            continue
        t0 = rows[0]["t"]
        warm = min(10.0, (hb - t0) / 3)
        before = rate(rows, t0 + warm, hb)
        during = rate(rows, hb, he)
        windows = [r for (s, r) in series(rows) if hb <= t0 + s - 5 and t0 + s + 5 <= he]
        after_end = min(he + 60, rows[-1]["t"])
        after = rate(rows, he + (after_end - he) / 2, after_end)
        out[sys_] = {
            "before_msgs_per_s": before,
            "during_msgs_per_s": during,
            "during_worst_10s_msgs_per_s": min(windows) if windows else None,
            "after_msgs_per_s": after,
            "during_vs_before": ratio(during, before),
            "worst_10s_vs_before": ratio(min(windows) if windows else None, before),
            "after_vs_before": ratio(after, before),
            "total_bytes_at_hold_begin": at(rows, hb)["total"],
            "total_bytes_at_hold_end": at(rows, he)["total"],
            "total_bytes_at_end": rows[-1]["total"],
            "dead_tuples_max": max(r["dead"] for r in rows),
            "dead_tuples_at_end": rows[-1]["dead"],
            "hold_seconds": he - hb,
        }
    return out


def delayed_backlog(run):
    out = {}
    for sys_ in SYSTEMS:
        res = {}
        for phase in ("without", "with"):
            rows = read_samples(os.path.join(run, f"dl-{sys_}-{phase}.csv"))
            res[phase] = rate(rows, rows[0]["t"], rows[-1]["t"]) if len(rows) >= 2 else None
        out[sys_] = {
            "without_backlog_msgs_per_s": res["without"],
            "with_backlog_msgs_per_s": res["with"],
            "with_vs_without": ratio(res["with"], res["without"]),
        }
    return out


def churn(run):
    out = {}
    for sys_ in SYSTEMS:
        rows = read_samples(os.path.join(run, f"churn-{sys_}.csv"))
        if len(rows) < 3:
            out[sys_] = {"error": "no samples"}
            continue
        t0, t1 = rows[0]["t"], rows[-1]["t"]
        minute = min(60.0, (t1 - t0) / 3)
        first = rate(rows, t0, t0 + minute)
        last = rate(rows, t1 - minute, t1)
        size_first = at(rows, t0 + minute)["total"]
        out[sys_] = {
            "window_seconds": minute,
            "first_msgs_per_s": first,
            "last_msgs_per_s": last,
            "last_vs_first": ratio(last, first),
            "total_bytes_after_first": size_first,
            "total_bytes_at_end": rows[-1]["total"],
            "size_end_vs_first": ratio(rows[-1]["total"], size_first),
            "dead_tuples_max": max(r["dead"] for r in rows),
        }
    return out


def fmt(v, digits=0):
    if v is None:
        return "—"
    if isinstance(v, float) and digits:
        return f"{v:.{digits}f}"
    return f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)


def mb(v):
    return "—" if v is None else f"{v / 1048576:.1f} MB"


def verdict(value, target, higher=True):
    if value is None:
        return "—"
    ok = value >= target if higher else value <= target
    return "met" if ok else "MISSED"


def table(res):
    lines = ["## Storage workloads", ""]
    lt, dl, ch = res["long_transaction"], res["delayed_backlog"], res["churn"]
    lines += [
        "### 1. Long transaction (receive+delete msgs/s)",
        "",
        "| system | before | during (avg) | during (worst 10 s) | after | during ÷ before | after ÷ before | size at hold start → end → after | dead tuples max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in SYSTEMS:
        r = lt.get(s, {})
        if "error" in r:
            lines.append(f"| {s} | {r['error']} |||||||")
            continue
        lines.append(
            f"| {s} | {fmt(r['before_msgs_per_s'])} | {fmt(r['during_msgs_per_s'])} | "
            f"{fmt(r['during_worst_10s_msgs_per_s'])} | {fmt(r['after_msgs_per_s'])} | "
            f"{fmt(r['during_vs_before'], 2)} | {fmt(r['after_vs_before'], 2)} | "
            f"{mb(r['total_bytes_at_hold_begin'])} → {mb(r['total_bytes_at_hold_end'])} → "
            f"{mb(r['total_bytes_at_end'])} | {fmt(r['dead_tuples_max'])} |"
        )
    lines += [
        "",
        "### 2. Delayed backlog (receive+delete msgs/s)",
        "",
        "| system | without backlog | with backlog | with ÷ without |",
        "|---|---|---|---|",
    ]
    for s in SYSTEMS:
        r = dl[s]
        lines.append(
            f"| {s} | {fmt(r['without_backlog_msgs_per_s'])} | {fmt(r['with_backlog_msgs_per_s'])} | "
            f"{fmt(r['with_vs_without'], 2)} |"
        )
    lines += [
        "",
        "### 3. Long churn",
        "",
        "| system | first minute msgs/s | last minute msgs/s | last ÷ first | size after first minute → end | end ÷ first | dead tuples max |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SYSTEMS:
        r = ch.get(s, {})
        if "error" in r:
            lines.append(f"| {s} | {r['error']} ||||||")
            continue
        lines.append(
            f"| {s} | {fmt(r['first_msgs_per_s'])} | {fmt(r['last_msgs_per_s'])} | "
            f"{fmt(r['last_vs_first'], 2)} | {mb(r['total_bytes_after_first'])} → "
            f"{mb(r['total_bytes_at_end'])} | {fmt(r['size_end_vs_first'], 2)} | {fmt(r['dead_tuples_max'])} |"
        )
    s = "sqsn"
    lines += [
        "",
        "### Targets (sqsn)",
        "",
        "| target | value | |",
        "|---|---|---|",
        f"| long transaction: during ≥ 0.85 × before | {fmt(lt[s].get('during_vs_before'), 2)} | {verdict(lt[s].get('during_vs_before'), 0.85)} |",
        f"| long transaction: after ≥ 0.95 × before, within 1 min | {fmt(lt[s].get('after_vs_before'), 2)} | {verdict(lt[s].get('after_vs_before'), 0.95)} |",
        f"| delayed backlog: with ≥ 0.9 × without | {fmt(dl[s].get('with_vs_without'), 2)} | {verdict(dl[s].get('with_vs_without'), 0.9)} |",
        f"| long churn: last minute ≥ 0.9 × first | {fmt(ch[s].get('last_vs_first'), 2)} | {verdict(ch[s].get('last_vs_first'), 0.9)} |",
        f"| long churn: size ≤ 2 × after the first minute | {fmt(ch[s].get('size_end_vs_first'), 2)} | {verdict(ch[s].get('size_end_vs_first'), 2.0, higher=False)} |",
    ]
    return "\n".join(lines) + "\n"


def plots(run):
    if not shutil.which("gnuplot"):
        print("bench/storage: gnuplot not found; no plots", file=sys.stderr)
        return
    for tag, title in (("lt", "long transaction"), ("churn", "long churn")):
        dats = []
        for s in SYSTEMS:
            rows = read_samples(os.path.join(run, f"{tag}-{s}.csv"))
            if len(rows) < 2:
                continue
            t0 = rows[0]["t"]
            rates = dict((round(x), r) for x, r in series(rows))
            path = os.path.join(run, f"{tag}-{s}.dat")
            with open(path, "w") as f:
                for r in rows:
                    f.write(f"{r['t'] - t0:.1f} {r['total'] / 1048576:.2f} {r['dead']:.0f}\n")
            rpath = os.path.join(run, f"{tag}-{s}-rate.dat")
            with open(rpath, "w") as f:
                for x, r in sorted(rates.items()):
                    f.write(f"{x} {r:.1f}\n")
            dats.append((s, path, rpath))
        if not dats:
            continue
        marks = ""
        if tag == "lt":
            for s, _, _ in dats[:1]:
                rows = read_samples(os.path.join(run, f"lt-{s}.csv"))
                hb = read_time(os.path.join(run, f"lt-{s}.hold_begin"))
                he = read_time(os.path.join(run, f"lt-{s}.hold_end"))
                if hb and he:
                    t0 = rows[0]["t"]
                    marks = (f"set arrow from {hb - t0:.0f}, graph 0 to {hb - t0:.0f}, graph 1 nohead dt 2\n"
                             f"set arrow from {he - t0:.0f}, graph 0 to {he - t0:.0f}, graph 1 nohead dt 2\n")
        gp = os.path.join(run, f"{tag}.gp")
        with open(gp, "w") as f:
            f.write(f"set terminal pngcairo size 1000,800\nset output '{os.path.join(run, tag + '.png')}'\n")
            f.write("set multiplot layout 3,1 title '" + title + " (snapshot held between the dashed lines)'\n" if tag == "lt"
                    else "set multiplot layout 3,1 title '" + title + "'\n")
            f.write("set grid\nset key top left\nset xlabel 'seconds'\n" + marks)
            f.write("set ylabel 'received msgs/s (10 s)'\nplot " + ", ".join(
                f"'{rp}' using 1:2 with linespoints title '{s}'" for s, _, rp in dats) + "\n")
            f.write("set ylabel 'table+indexes MB'\nplot " + ", ".join(
                f"'{p}' using 1:2 with lines title '{s}'" for s, p, _ in dats) + "\n")
            f.write("set ylabel 'dead tuples'\nplot " + ", ".join(
                f"'{p}' using 1:3 with lines title '{s}'" for s, p, _ in dats) + "\n")
            f.write("unset multiplot\n")
        res = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if res.returncode != 0:
            # pngcairo may be missing from a minimal gnuplot: try the plain png terminal
            subprocess.run(["sed", "-i", "s/pngcairo/png/", gp])
            res = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
            if res.returncode != 0:
                print("bench/storage: gnuplot failed: " + res.stderr.strip()[:300], file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--mode", default="default")
    args = ap.parse_args()
    global STEP
    if args.mode == "smoke":
        STEP = 1.0
    meta = {}
    try:
        with open(os.path.join(args.run, "meta.txt")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    except OSError:
        pass
    res = {
        "meta": meta,
        "long_transaction": long_transaction(args.run, meta),
        "delayed_backlog": delayed_backlog(args.run),
        "churn": churn(args.run),
    }
    with open(os.path.join(args.run, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    md = table(res)
    with open(os.path.join(args.run, "table.md"), "w") as f:
        f.write(md)
    print(md)
    plots(args.run)
    # A workload that consumed nothing failed.
    bad = [s for s in SYSTEMS
           if not (res["churn"].get(s, {}).get("last_msgs_per_s") or 0) > 0
           or not (res["delayed_backlog"][s].get("with_backlog_msgs_per_s") or 0) > 0
           or not (res["long_transaction"].get(s, {}).get("before_msgs_per_s") or 0) > 0]
    if bad:
        print("bench/storage: nothing consumed in some workload of: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
