#!/usr/bin/env python3
"""Result processing for bench/api (Python 3 standard library only).

  api.py report --run DIR
  api.py load --run DIR

load: DIR/load/ holds the load phase of bench/api (meta.txt, the
apiload outputs <part>-send.out and <part>-recvdel.out of the parts alone-1,
crowded and alone-2, crowd.out, rss.txt: "label pid anon_kb fds vmrss_kb" lines).
It checks that the active clients kept at least ratio_floor of their
alone msgs/s next to the crowd (not in --smoke), that the crowd's
connections were all open and none was closed by the server, that the
workers' private memory (RssAnon) grew by at most 64 kB per connection
plus 16 MB, and that
the queues hold exactly what the answers said: load_send the SendMessage
requests answered 200, load_recv its prefill less the DeleteMessage
requests answered 200. Writes DIR/load/load.json, prints a table, exits 1
on a failed check.

DIR/runs.tsv has one line per measured run, written by bench/api:
tab-separated key=value fields (id, half, system = api | sql, protocol =
query | json | sql, op = send | recvdel | longpoll, clients, rc, out, lat,
depth_before, depth_after); the two halves of a run share its id.

api runs: DIR/<id>.out holds apiload's key=value lines and `lat` a file of
latencies in microseconds, one a line. sql runs: `out` is pgbench's output
and `lat` the prefix of its -l logs. Messages: sends and receive+delete
pairs completed in the measured time; msgs/s = messages / measured seconds
(pgbench's time without connection set-up; apiload's clock starts once every
client has completed one message). Latency: per message (one send, or one
receive+delete pair).

Writes DIR/results.json and DIR/table.md, prints the tables, and writes
DIR/status: "<runs> <failed> <failed ids...>".
"""

import argparse
import glob
import json
import os
import platform
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import fmt_ms, fmt_rate, percentile, write_report  # noqa: E402

OPS = {"send": "send 1 message", "recvdel": "receive 1 + delete"}
WAKE_P99_GOAL_MS = 20.0
RATIO_GOAL = 0.5


def keyvalues(path):
    out = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep and re.match(r"^[a-z_0-9]+$", k):
                    try:
                        out[k] = float(v)
                    except ValueError:
                        out[k] = v
    except OSError:
        pass
    return out


def error_lines(path):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip() for l in f if not re.match(r"^[a-z_0-9]+=", l)
                    and ("error" in l.lower() or "apiload:" in l or "aborted" in l.lower()
                         or "FATAL" in l)][:5]
    except OSError:
        return []


def read_waits(path, backend_type):
    """Counts of what the serving processes were doing in the samples of
    path (lines 'backend_type|wait_event_type:wait_event' or '|CPU')."""
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                kind, _, what = line.strip().partition("|")
                if kind == backend_type and what:
                    counts[what] = counts.get(what, 0) + 1
    except OSError:
        pass
    return counts


def api_part(a):
    kv = keyvalues(a["out"])
    lat = []
    try:
        with open(a["lat"]) as f:
            lat = [int(x) / 1000.0 for x in f if x.strip()]
    except OSError:
        pass
    return {
        "messages": int(kv.get("messages", 0)),
        "seconds": float(kv.get("seconds", 0.0)),
        "requests": int(kv.get("requests", 0)),
        "errors": int(kv.get("errors", 0)),
        "latencies": lat,
        "kv": kv,
    }


def sql_part(a):
    try:
        with open(a["out"], errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    m = re.search(r"number of transactions actually processed: (\d+)", text)
    n = int(m.group(1)) if m else 0
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    tps = float(m.group(1)) if m else 0.0
    m = re.search(r"number of failed transactions: (\d+)", text)
    failed = int(m.group(1)) if m else 0
    lat = []
    for path in sorted(glob.glob(glob.escape(a["lat"]) + ".*")):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 6 and p[2].isdigit():
                    lat.append(int(p[2]) / 1000.0)
    return {
        "messages": n,
        "seconds": n / tps if tps else 0.0,
        "requests": n * (2 if a["op"] == "recvdel" else 1),
        "errors": failed,
        "latencies": lat,
        "kv": {},
    }


def record(lines):
    a = lines[0]
    parts = []
    for x in lines:
        p = api_part(x) if x["system"] == "api" else sql_part(x)
        p["rc"] = int(x.get("rc") or 0)
        p["out"] = x["out"]
        p["depth_after"] = int(x["depth_after"]) if x.get("depth_after") else None
        p["server_cpu"] = float(x["server_cpu"]) if x.get("server_cpu") else None
        try:
            p["client_cpu"] = sum(float(v) for v in x.get("client_cpu", "").split("+"))
        except ValueError:
            p["client_cpu"] = None
        p["waits"] = read_waits(x.get("waits", ""), "sqsn api" if x["system"] == "api" else "client backend")
        parts.append(p)
    rec = {
        "id": a["id"],
        "system": a["system"],
        "protocol": a["protocol"],
        "op": a["op"],
        "clients": int(a["clients"]),
        "parts": len(parts),
        "exit": max(p["rc"] for p in parts),
        "messages": sum(p["messages"] for p in parts),
        "seconds": round(sum(p["seconds"] for p in parts), 3),
        "requests": sum(p["requests"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "msgs_per_s_parts": [round(p["messages"] / p["seconds"], 1) if p["seconds"] else 0.0
                             for p in parts],
    }
    rec["msgs_per_s"] = rec["messages"] / rec["seconds"] if rec["seconds"] else 0.0
    # CPU: the server's processes and the load client over the whole run
    # (set-up and warm-up included), per message moved.
    for k in ("server_cpu", "client_cpu"):
        v = [p[k] for p in parts]
        rec[k + "_s"] = round(sum(v), 2) if None not in v else None
        rec[k + "_ms_per_msg"] = (round(rec[k + "_s"] * 1000.0 / rec["messages"], 3)
                                  if rec[k + "_s"] is not None and rec["messages"] else None)
    waits = {}
    for p in parts:
        for k, v in p["waits"].items():
            waits[k] = waits.get(k, 0) + v
    total = sum(waits.values())
    rec["wait_samples"] = total
    rec["waits"] = {k: round(v / total, 3) for k, v in sorted(waits.items(), key=lambda x: -x[1])} if total else {}
    lat = sorted(x for p in parts for x in p["latencies"])
    rec["latency_samples"] = len(lat)
    for q in (50, 90, 99):
        v = percentile(lat, q)
        rec[f"p{q}_ms"] = None if v is None else round(v, 3)
    rec["max_ms"] = round(lat[-1], 3) if lat else None
    left = [p["depth_after"] for p in parts if p["depth_after"] is not None]
    rec["depth_left"] = min(left) if left else None

    problems = []
    if rec["op"] == "longpoll":
        kv = parts[0]["kv"]
        rec["wakes"] = int(kv.get("wakes", 0))
        rec["arrived"] = int(kv.get("arrived", 0))
        rec["unexpected"] = int(kv.get("unexpected", 0))
        rec["arrived_before_commit_returned"] = int(kv.get("arrived_before_commit_returned", 0))
        if rec["arrived"] < rec["wakes"] or rec["wakes"] == 0:
            problems.append(f"{rec['arrived']} of {rec['wakes']} wakes arrived")
        if rec["unexpected"]:
            problems.append(f"{rec['unexpected']} unexpected messages")
    elif any(p["messages"] <= 0 for p in parts):
        problems.append("no message was sent or consumed")
    if rec["exit"] != 0:
        problems.append(f"the client exited with status {rec['exit']}")
    if rec["errors"]:
        problems.append(f"{rec['errors']} failed requests or transactions")
    if rec["op"] == "recvdel" and rec["depth_left"] == 0:
        problems.append("the queue ran empty (prefill more or measure for less time)")
    errs = [e for p in parts for e in error_lines(p["out"])][:5]
    rec["ok"] = not problems
    rec["problems"] = problems + (errs if problems else [])
    if problems:
        print(f"FAILED {rec['id']}: " + "; ".join(problems), file=sys.stderr)
        for e in errs:
            print(f"    {e}", file=sys.stderr)
        print("    (full output: " + ", ".join(p["out"] for p in parts) + ")", file=sys.stderr)
    return rec


def load_runs(run):
    groups = {}
    with open(os.path.join(run, "runs.tsv")) as f:
        for line in f:
            if line.strip():
                fields = dict(kv.split("=", 1) for kv in line.rstrip("\n").split("\t") if "=" in kv)
                groups.setdefault(fields["id"], []).append(fields)
    return [record(lines) for lines in groups.values()]


def load_meta(run):
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
    except (OSError, StopIteration):
        pass
    meta["machine"] = machine
    return meta


def comparisons(runs):
    by = {(r["op"], r["clients"], r["protocol"]): r for r in runs}
    rows = []
    order = {"query": 0, "json": 1}
    for (op, c, proto), r in sorted(by.items(), key=lambda x: (list(OPS).index(x[0][0]) if x[0][0] in OPS else 9,
                                                                 x[0][1], order.get(x[0][2], 9))):
        if r["system"] != "api" or op not in OPS:
            continue
        s = by.get((op, c, "sql"))
        if s is None:
            continue
        rows.append({
            "operation": OPS[op],
            "op": op,
            "clients": c,
            "protocol": proto,
            "api_id": r["id"],
            "sql_id": s["id"],
            "api_msgs_per_s": r["msgs_per_s"],
            "sql_msgs_per_s": s["msgs_per_s"],
            "ratio": r["msgs_per_s"] / s["msgs_per_s"] if s["msgs_per_s"] else None,
            "api_p50_ms": r["p50_ms"],
            "api_p99_ms": r["p99_ms"],
            "sql_p50_ms": s["p50_ms"],
            "sql_p99_ms": s["p99_ms"],
            "api_server_cpu_ms_per_msg": r["server_cpu_ms_per_msg"],
            "sql_server_cpu_ms_per_msg": s["server_cpu_ms_per_msg"],
            "api_client_cpu_ms_per_msg": r["client_cpu_ms_per_msg"],
            "sql_client_cpu_ms_per_msg": s["client_cpu_ms_per_msg"],
        })
    return rows


def table(rows):
    out = [
        "| operation | clients | protocol | endpoint msgs/s | SQL msgs/s | ratio | endpoint p50 / p99 ms "
        "| SQL p50 / p99 ms | server CPU ms/msg, endpoint / SQL | client CPU ms/msg, endpoint / SQL |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def cpu(v):
        return "-" if v is None else f"{v:.3f}"

    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        out.append(
            f"| {r['operation']} | {r['clients']} | {r['protocol']} | {fmt_rate(r['api_msgs_per_s'])} "
            f"| {fmt_rate(r['sql_msgs_per_s'])} | {ratio} "
            f"| {fmt_ms(r['api_p50_ms'])} / {fmt_ms(r['api_p99_ms'])} "
            f"| {fmt_ms(r['sql_p50_ms'])} / {fmt_ms(r['sql_p99_ms'])} "
            f"| {cpu(r['api_server_cpu_ms_per_msg'])} / {cpu(r['sql_server_cpu_ms_per_msg'])} "
            f"| {cpu(r['api_client_cpu_ms_per_msg'])} / {cpu(r['sql_client_cpu_ms_per_msg'])} |"
        )
    return "\n".join(out)


def cmd_report(a):
    run = a.run
    runs = load_runs(run)
    meta = load_meta(run)
    rows = comparisons(runs)
    lp = next((r for r in runs if r["op"] == "longpoll"), None)
    smoke = meta.get("mode") == "smoke"
    targets = []
    if not smoke:
        for r in rows:
            ok = r["ratio"] is not None and r["ratio"] >= RATIO_GOAL
            targets.append({"target": f"{r['operation']}, {r['clients']} clients, {r['protocol']}: "
                                      f"endpoint ≥ {RATIO_GOAL} × SQL",
                            "value": None if r["ratio"] is None else round(r["ratio"], 3),
                            "goal": RATIO_GOAL, "met": ok})
        if lp:
            v = lp["p99_ms"]
            targets.append({"target": f"long-poll wake p99 < {WAKE_P99_GOAL_MS:.0f} ms "
                                      f"({lp['clients']} clients, {lp['arrived']} wakes)",
                            "value": v, "goal": WAKE_P99_GOAL_MS,
                            "met": v is not None and v < WAKE_P99_GOAL_MS})
    result = {"meta": meta, "runs": runs, "comparisons": rows, "long_polling": lp, "targets": targets}
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(result, f, indent=2)

    md = [table(rows)]
    if lp:
        md += ["", "| long polling | value |", "|---|--:|",
               f"| wake latency: SQL commit → long-polling ReceiveMessage response ({lp['clients']} clients, "
               f"{lp['arrived']} of {lp['wakes']} wakes) | p50 {fmt_ms(lp['p50_ms'])} ms, "
               f"p99 {fmt_ms(lp['p99_ms'])} ms, max {fmt_ms(lp['max_ms'])} ms |"]
    waited = [r for r in runs if r.get("wait_samples") and r["op"] != "longpoll"]
    if waited:
        md += ["", "| run | what the serving processes did (endpoint workers / SQL backends; share of samples every 0.5 s) |",
               "|---|---|"]
        for r in waited:
            top = ", ".join(f"{k} {v * 100:.0f}%" for k, v in list(r["waits"].items())[:4])
            md.append(f"| {r['id']} | {top} ({r['wait_samples']} samples) |")
    left = [f"{r['id']} {r['depth_left']:,}" for r in runs if r["depth_left"] is not None]
    if left:
        md += ["", "Receive queue depth left after each run: " + ", ".join(left) + "."]
    md += ["", f"Machine: {meta['machine'].get('cpus')} CPUs, load average at start {meta.get('load_at_start', '?')}, "
               f"at end {meta.get('load_at_end', '?')}; auth {meta.get('auth', '?')}."]
    if targets:
        md += ["", "Targets:"]
        for x in targets:
            mark = "met" if x["met"] else "MISSED"
            val = "-" if x["value"] is None else f"{x['value']:.2f}"
            md.append(f"- {x['target']}: {val} ({mark})")
    else:
        md += ["", "(smoke run: checks that every run works; its numbers are not measurements)"]
    write_report(run, md, runs)
    return 0


LOAD_PARTS = ("alone-1", "crowded", "alone-2")
RSS_PER_CONNECTION_KB = 64
RSS_SLACK_KB = 16 * 1024


def cmd_load(a):
    d = os.path.join(a.run, "load")
    meta = keyvalues(os.path.join(d, "meta.txt"))
    run_meta = keyvalues(os.path.join(a.run, "meta.txt"))
    smoke = run_meta.get("mode") == "smoke"
    problems = []
    parts = {}
    for part in LOAD_PARTS:
        parts[part] = {}
        for op in ("send", "recvdel"):
            path = os.path.join(d, f"{part}-{op}.out")
            kv = keyvalues(path)
            parts[part][op] = {k: kv.get(k, 0) for k in
                               ("msgs_per_s", "messages", "acked", "unanswered", "errors",
                                "p50_ms", "p99_ms")}
            if not kv:
                problems.append(f"{part} {op}: no result ({path})")
            elif kv.get("errors", 0) or kv.get("unanswered", 0) or not kv.get("messages", 0):
                problems.append(f"{part} {op}: {int(kv.get('errors', 0))} errors, "
                                f"{int(kv.get('unanswered', 0))} unanswered, "
                                f"{int(kv.get('messages', 0))} messages ({path})")

    def rate(part, op=None):
        ops = [op] if op else ["send", "recvdel"]
        return sum(parts[part][o]["msgs_per_s"] for o in ops)

    ratios = {}
    for op in ("send", "recvdel", None):
        alone = (rate("alone-1", op) + rate("alone-2", op)) / 2
        ratios[op or "all"] = rate("crowded", op) / alone if alone else None
    floor = float(meta.get("ratio_floor", 0.7))
    if not smoke and (ratios["all"] is None or ratios["all"] < floor):
        problems.append(f"crowded / alone = {ratios['all']} (floor {floor})")

    crowd = keyvalues(os.path.join(d, "crowd.out"))
    if not crowd.get("ready"):
        problems.append("the crowd's connections were not all open")
    closed = {k: int(crowd.get(f"closed_by_server_{k}", 0)) for k in ("idle", "slow", "keepalive")}
    if any(closed.values()):
        problems.append(f"the server closed crowd connections: {closed}")
    if crowd.get("connect_errors"):
        problems.append(f"{int(crowd['connect_errors'])} of the crowd's connects failed")

    rss = {}
    try:
        with open(os.path.join(d, "rss.txt")) as f:
            for line in f:
                label, pid, kb, fds, vmrss = line.split()
                rss.setdefault(label, {}).setdefault(pid, []).append((int(kb), int(fds), int(vmrss)))
    except (OSError, ValueError):
        problems.append("no RSS samples")

    def total(label, pick=max, i=0):
        return sum(pick(x[i] for x in v) for v in rss.get(label, {}).values())

    connections = int(meta.get("connections", 0))
    mem = {
        "before_kb": total("before"),
        "alone_kb": total("alone"),
        "crowd_ready_kb": total("crowd-ready"),
        "during_max_kb": total("during"),
        "crowd_end_kb": total("crowd-end"),
        "after_kb": total("after"),
        "end_kb": total("end"),
        "during_max_fds": total("during", i=1),
        "vmrss_alone_kb": total("alone", i=2),
        "vmrss_during_max_kb": total("during", i=2),
        "workers": len(rss.get("alone", {})),
    }
    peak = max(mem["crowd_ready_kb"], mem["during_max_kb"], mem["crowd_end_kb"])
    mem["growth_kb"] = peak - mem["alone_kb"]
    mem["bound_kb"] = connections * RSS_PER_CONNECTION_KB + RSS_SLACK_KB
    mem["per_connection_kb"] = round(mem["growth_kb"] / connections, 1) if connections else None
    if mem["growth_kb"] > mem["bound_kb"]:
        problems.append(f"the workers' RSS grew by {mem['growth_kb']} kB (bound {mem['bound_kb']} kB)")
    if max(mem["after_kb"], mem["end_kb"]) > peak + RSS_SLACK_KB:
        problems.append("the workers' RSS went on growing after the crowd left")

    acked_send = sum(int(parts[p]["send"]["acked"]) for p in LOAD_PARTS)
    acked_del = sum(int(parts[p]["recvdel"]["acked"]) for p in LOAD_PARTS)
    counts = {
        "send_before": int(meta.get("send_before", -1)),
        "send_after": int(meta.get("send_after", -1)),
        "sends_answered_200": acked_send,
        "recv_prefilled": int(meta.get("recv_prefilled", -1)),
        "recv_after": int(meta.get("recv_after", -1)),
        "deletes_answered_200": acked_del,
    }
    counts["sends_stored"] = counts["send_after"] - counts["send_before"]
    counts["recv_expected"] = counts["recv_prefilled"] - acked_del
    if counts["sends_stored"] != acked_send:
        problems.append(f"load_send holds {counts['sends_stored']} new messages, "
                        f"{acked_send} SendMessage requests were answered 200")
    if counts["recv_after"] != counts["recv_expected"]:
        problems.append(f"load_recv holds {counts['recv_after']} messages, expected "
                        f"{counts['recv_prefilled']} - {acked_del} = {counts['recv_expected']}")

    out = {"meta": meta, "parts": parts, "ratios": ratios, "crowd": crowd, "memory": mem,
           "counts": counts, "smoke": smoke, "ok": not problems, "problems": problems}
    with open(os.path.join(d, "load.json"), "w") as f:
        json.dump(out, f, indent=2)

    def r(v):
        return "-" if v is None else f"{v:.2f}"
    md = [
        f"Load phase: {int(meta.get('active', 0))} active clients (half SendMessage, half "
        f"ReceiveMessage + DeleteMessage), {int(meta.get('seconds', 0))} s a part; the crowd: "
        f"{int(meta.get('idle', 0))} idle, {int(meta.get('slow', 0))} slow, "
        f"{int(meta.get('keepalive', 0))} keep-alive connections ({connections} in all, "
        f"open after {crowd.get('ready_seconds', '?')} s); server's open-file limit "
        f"{meta.get('server_nofile', '?')} (soft/hard)",
        "",
        "| part | send msgs/s | receive+delete msgs/s | send p50 / p99 ms | receive+delete p50 / p99 ms |",
        "|---|--:|--:|--:|--:|",
    ]
    for p in LOAD_PARTS:
        s_, v = parts[p]["send"], parts[p]["recvdel"]
        md.append(f"| {p} | {fmt_rate(s_['msgs_per_s'])} | {fmt_rate(v['msgs_per_s'])} "
                  f"| {fmt_ms(s_['p50_ms'])} / {fmt_ms(s_['p99_ms'])} "
                  f"| {fmt_ms(v['p50_ms'])} / {fmt_ms(v['p99_ms'])} |")
    md += [
        "",
        f"crowded / alone: {r(ratios['all'])} (send {r(ratios['send'])}, receive+delete "
        f"{r(ratios['recvdel'])}); floor {floor}{' (not checked in --smoke)' if smoke else ''}",
        f"workers' private memory (RssAnon, sum of {mem['workers']}): before {mem['before_kb'] / 1024:.1f} MB, after the first part "
        f"{mem['alone_kb'] / 1024:.1f} MB, crowded at most {peak / 1024:.1f} MB "
        f"({mem['per_connection_kb']} kB a connection; bound {mem['bound_kb'] / 1024:.1f} MB of growth), "
        f"after {mem['after_kb'] / 1024:.1f} MB, at the end {mem['end_kb'] / 1024:.1f} MB; "
        f"open descriptors at most {mem['during_max_fds']}; VmRSS (shared buffers touched included) "
        f"{mem['vmrss_alone_kb'] / 1024:.1f} MB alone, at most {mem['vmrss_during_max_kb'] / 1024:.1f} MB crowded",
        f"load_send: {counts['sends_stored']} messages stored, {acked_send} sends answered 200; "
        f"load_recv: {counts['recv_after']} left of {counts['recv_prefilled']}, "
        f"{acked_del} deletes answered 200",
    ]
    if problems:
        md += ["", "FAILED:"] + [f"- {x}" for x in problems]
    text = "\n".join(md)
    with open(os.path.join(d, "load.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0 if not problems else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["report", "load"])
    p.add_argument("--run", required=True)
    a = p.parse_args()
    return cmd_load(a) if a.command == "load" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
