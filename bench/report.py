#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn bench result records into docs/benchmarks.md and gnuplot PNGs.

  report.py --results R.jsonl --meta META.json --out docs/benchmarks.md --plots docs/bench/
  report.py --check --results R.jsonl [--meta META.json]

Every figure is the median of the samples of one (bench, variant, n, metric)
with their min and max; every ratio divides medians from the same results
file. A combination without samples is shown as "—" and listed under Gaps;
nothing is ever filled in.

Row order is the contract's variant order (BENCHES below), columns are N in
ascending order, with a "no rules" column for samples recorded with n = null
in a bench that otherwise sweeps N (e.g. a baseline measured once).

meta.json (written by the harness): date, commit, kernel, cpu, cores, memory,
quick, repeats, duration_s (number or {bench: number}), notes ({bench: [str]},
plus "bars" for the why/what-would-close-it text of the Performance bars),
and optionally ns ([N ...] the sweep used), failures ([str] or [{bench,
variant, n, reason}]), synthetic (true marks test input, bannered as such).
"""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

DEFAULT_NS = [10, 100, 1000, 10000]

# The results contract, in display order.
BENCHES = {
    "flood": {
        "has_n": True,
        "variants": ["iptables", "nft", "idgate-xdp-native",
                     "idgate-xdp-generic", "idgate-tc"],
        "metrics": ["softirq_ns_per_pkt", "drop_pps", "filter_pps", "sent_pps"],
    },
    "progcost": {
        "has_n": True,
        "variants": ["idgate-flood", "idgate-testrun-established",
                     "idgate-testrun-denied", "empty-testrun"],
        "metrics": ["ns_per_pkt"],
    },
    "attach": {
        "has_n": False,
        "variants": ["none", "noop-xdp-native", "noop-xdp-generic",
                     "noop-xdp-generic-frags", "noop-tc", "idgate-xdp-native",
                     "idgate-xdp-generic", "idgate-tc"],
        "metrics": ["gbps", "drop_ns_per_pkt", "softirq_ns_per_pkt",
                    "run_ns_per_pkt", "filter_pps"],
    },
    "pingpong": {
        "has_n": True,
        "variants": ["none", "iptables", "nft", "idgate"],
        "metrics": ["p50_us", "p99_us", "p999_us"],
    },
    "connrate": {
        "has_n": True,
        "variants": ["none", "iptables", "iptables-ct", "nft", "idgate"],
        "metrics": ["conn_per_s", "setup_p50_us", "setup_p99_us"],
    },
    "throughput": {
        "has_n": True,
        "variants": ["none", "iptables", "nft", "idgate"],
        "metrics": ["gbps"],
    },
    "propagation": {
        "has_n": True,
        "variants": ["idgate", "idgate-run", "idgate-run-ep", "iptables-legacy",
                     "iptables-nft", "nft"],
        "metrics": ["ms"],
    },
    "churn": {
        "has_n": False,
        "variants": [f"{v}-r{r}" for v in ("idgate", "nft", "iptables")
                     for r in (10, 100, 1000)],
        "metrics": ["p50_ms", "p99_ms", "max_ms", "measured", "rate_reached",
                    "cpu_pct", "entries_per_change", "rss_mb", "end_state_ok"],
    },
    "egw": {
        "has_n": False,
        "variants": ["idgate-geneve-snat", "kernel-vxlan-masq", "direct"],
        "metrics": ["gbps", "p50_us", "p99_us", "p999_us"],
    },
    "earlydrop": {
        "has_n": True,
        "variants": [f"{v}-{fl}" for fl in ("sources", "one")
                     for v in ("floor", "xdp-filter", "none", "nft-netdev", "nft",
                               "iptables", "idgate-xdp-native", "idgate-tc")],
        "metrics": ["ns_per_frame", "ns_above_floor"],
        # The run's rule counts among these (the sweep).
        "ns": [10, 1000, 10000],
    },
    "l7": {
        "has_n": False,
        "variants": ["none", "l4", "l7", "proxy"],
        "metrics": ["rps", "p50_us", "p99_us"],
    },
}

# Metrics that are differences between two samples of a noisy machine:
# a small one may come out below zero.
SIGNED = {("earlydrop", "ns_above_floor")}

# Variants a run may leave out altogether without a gap: the flood matrix
# measures idgate in the hook its automatic choice takes; the attach bench
# compares all hooks.
OPTIONAL = {("flood", "idgate-xdp-native"), ("flood", "idgate-xdp-generic"),
            ("flood", "idgate-tc")}
# Benches whose rule counts are meta "ns_app" when given (--quick runs
# them at the largest N only).
APP_BENCHES = {"pingpong", "connrate", "throughput"}

RECORD_KEYS = {"bench", "variant", "n", "run", "metric", "value", "unit"}
META_KEYS = ["date", "commit", "kernel", "cpu", "cores", "memory", "quick",
             "repeats", "duration_s", "notes"]

METHOD = {
    "flood": (
        "A UDP flood from the DPDK generator at the receiver's veth with N "
        "rules in place that deny it: iptables as a linear chain with the "
        "matching rule last, nftables with sets and verdict maps, idgate in "
        "each attach mode. sent_pps is what the generator sent, filter_pps "
        "the packets per second that reached the filter, drop_pps those it "
        "dropped, softirq_ns_per_pkt the receiver's softirq CPU time divided "
        "by the packets that reached the filter."),
    "progcost": (
        "Nanoseconds per packet of the idgate program itself. idgate-flood: "
        "the kernel's BPF stats (run_time_ns / run_cnt) during a flood; "
        "idgate-testrun-established and idgate-testrun-denied: "
        "BPF_PROG_TEST_RUN with repeat on a packet of an established flow and "
        "of a denied new flow; empty-testrun: an empty XDP program under the "
        "same test run, the floor."),
    "attach": (
        "What attaching costs on a veth, per attach mode: gbps is one iperf3 "
        "TCP stream with no program, a no-op program (native XDP, generic "
        "XDP, generic XDP with xdp.frags, tc ingress) or idgate in each mode; "
        "drop_ns_per_pkt is the receiver's softirq CPU per packet of a flood "
        "idgate denies, softirq_ns_per_pkt the same for a flood the variants "
        "without a verdict let through (n/a where a metric does not apply)."),
    "pingpong": (
        "TCP ping-pong latency of an allowed flow with sockperf, N rules in "
        "place; p50, p99 and p99.9 in µs."),
    "connrate": (
        "New TCP connections per second and their setup latency with N rules "
        "in place; iptables-ct puts an ESTABLISHED,RELATED accept rule first, "
        "so only new flows walk the chain."),
    "throughput": "iperf3 TCP throughput of an allowed flow with N rules in place.",
    "propagation": (
        "Time from starting the update command (idgate apply, iptables-restore "
        "with the legacy and the nft backend, nft -f) that changes one rule "
        "among N until the first probe packet with the new verdict. "
        "idgate-run: idgate run on a config directory (one policy file per "
        "100 rules), the changed file written under a hidden name and renamed "
        "in. idgate-run-ep: the same daemon, the change one endpoint added "
        "(the probe's Endpoint file renamed in), which the rule set allows."),
    "churn": (
        "Changes at 10, 100 and 1000 per second against 10000 rules over 5000 "
        "endpoints (bench/tools/churn.py): rule edits, endpoints and their "
        "rules added and removed; idgate run takes them as files renamed into "
        "its config directory, nftables as add/delete element commands to one "
        "long-lived nft -i, iptables as -A/-D blocks to one long-lived "
        "iptables-restore --noflush. Every rate/4-th "
        "change allows or denies a probe flow: p50/p99/max_ms is the time "
        "from just before an allowing change to the first probe packet "
        "through, measured is how many counted. cpu_pct: the daemon's CPU "
        "(idgate) or the nft/iptables processes' (baselines) over the run, "
        "in % of one core; entries_per_change: map entries written or "
        "deleted per change; rss_mb: the daemon's peak RSS; end_state_ok: 1 "
        "when applying the final config again changed no map entry."),
    "egw": (
        "The egress-gateway path on one topology: idgate's GENEVE "
        "encapsulation with SNAT against the kernel's VXLAN device with "
        "iptables MASQUERADE, and plain routing without a tunnel for "
        "reference; throughput (gbps) and latency percentiles."),
    "l7": (
        "HTTP through the L7 proxy (bench/l7.sh): wrk, one thread, 64 "
        "keep-alive connections, to a server answering 64 bytes; none: no "
        "idgate; l4: the port allowed at L3/L4; l7: an HTTP rule every "
        "request matches, through idgate run's HAProxy; proxy: no idgate, a "
        "plain HAProxy forwarding on the same core (no rules, no log), the "
        "cost of any proxy hop on this rig."),
    "earlydrop": (
        "CPU per frame of a denied UDP flood written into a tap by one pinned "
        "core (bench/tools/tapflood): the kernel's whole receive path runs "
        "inside write(), and a native XDP program runs on the raw buffer "
        "before any skb exists, so the writer's CPU time per frame is what "
        "each filter costs. floor is an XDP program that only drops; "
        "ns_above_floor subtracts the floor measured in the same repeat. "
        "Floods: one flow (-one), and the rule model's 5000 sources x 13 "
        "source ports (-sources)."),
}

# Plots: name -> spec. "lines" plots draw one line per variant against N.
PLOTS = [
    {"name": "flood_softirq", "bench": "flood", "metric": "softirq_ns_per_pkt",
     "kind": "lines", "logx": True, "logy": True,
     "title": "Receiver softirq CPU per flooded packet",
     "ylabel": "softirq CPU per packet"},
    {"name": "flood_drop", "bench": "flood", "metric": "drop_pps",
     "kind": "lines", "logx": True, "logy": False,
     "title": "Packets dropped per second under flood", "ylabel": "drop rate"},
    {"name": "progcost", "bench": "progcost", "metric": "ns_per_pkt",
     "kind": "lines", "logx": True, "logy": False,
     "title": "idgate program cost per packet", "ylabel": "cost per packet"},
    {"name": "pingpong_p99", "bench": "pingpong", "metric": "p99_us",
     "kind": "lines", "logx": True, "logy": True,
     "title": "TCP ping-pong p99 latency", "ylabel": "p99"},
    {"name": "connrate", "bench": "connrate", "metric": "conn_per_s",
     "kind": "lines", "logx": True, "logy": False,
     "title": "New TCP connections per second", "ylabel": "connection rate"},
    {"name": "propagation", "bench": "propagation", "metric": "ms",
     "kind": "lines", "logx": True, "logy": True,
     "title": "Policy propagation: one changed rule among N",
     "ylabel": "time to new verdict"},
    {"name": "attach_gbps", "bench": "attach", "metrics": ["gbps"],
     "kind": "bars", "title": "Single-stream TCP throughput per attach mode",
     "ylabel": "throughput"},
    {"name": "attach_cost", "bench": "attach",
     "metrics": ["drop_ns_per_pkt", "softirq_ns_per_pkt"], "kind": "bars",
     "title": "Receiver softirq CPU per flooded packet per attach mode "
              "(idgate: dropped; others: passed)",
     "ylabel": "softirq CPU per packet"},
    {"name": "earlydrop", "bench": "earlydrop", "metric": "ns_above_floor",
     "variants": [f"{v}-sources" for v in ("xdp-filter", "none", "nft-netdev",
                                            "nft", "idgate-xdp-native", "idgate-tc")],
     "kind": "lines", "logx": True, "logy": False,
     "title": "Early drop on a tap: CPU per frame above an XDP drop-only program "
              "(5000-source flood)",
     "ylabel": "CPU per frame above the floor"},
    {"name": "churn_p99", "bench": "churn", "metrics": ["p99_ms"], "kind": "bars",
     "title": "Propagation p99 under policy churn (10, 100, 1000 changes/s)",
     "ylabel": "p99"},
    {"name": "l7_rps", "bench": "l7", "metrics": ["rps"], "kind": "bars",
     "title": "HTTP requests per second: no idgate, an L3/L4 rule, an L7 rule",
     "ylabel": "requests per second"},
    {"name": "egw_gbps", "bench": "egw", "metrics": ["gbps"], "kind": "bars",
     "title": "Egress-gateway path throughput", "ylabel": "throughput"},
    {"name": "egw_p99", "bench": "egw", "metrics": ["p99_us"], "kind": "bars",
     "title": "Egress-gateway path p99 latency", "ylabel": "p99"},
]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
          "#17becf", "#7f7f7f"]

# idgate bars stand out from baselines and no-op programs.
IDGATE_BAR, OTHER_BAR = "2ca02c", "7fa7cf"

DASH = "—"


class Fail(Exception):
    pass


# ---------------------------------------------------------------- records

def attach_metric_applies(variant, metric):
    # Variants without a verdict pass the flood, so they have no drop cost.
    if metric in ("gbps", "filter_pps"):
        return True
    dropping = variant.startswith("idgate-")
    if metric == "run_ns_per_pkt":
        return dropping
    return (metric == "drop_ns_per_pkt") == dropping


def metric_applies(bench, variant, metric):
    if bench == "attach":
        return attach_metric_applies(variant, metric)
    if bench == "earlydrop" and metric == "ns_above_floor":
        return not variant.startswith("floor-")
    if bench == "churn" and metric in ("entries_per_change", "rss_mb", "end_state_ok"):
        return variant.startswith("idgate-")
    return metric in BENCHES[bench]["metrics"]


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_records(path):
    """Return (records, problems, skipped); a record with a problem is left out.

    skipped counts null drop costs of pass-all attach variants, which the
    contract allows and which carry no number."""
    records, problems, skipped = [], [], 0
    seen, units = {}, {}
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise Fail(f"cannot read results {path}: {e.strerror}")
    with f:
        for lineno, line in enumerate(f, 1):
            where = f"line {lineno}"
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not JSON ({e.msg})")
                continue
            if not isinstance(r, dict):
                problems.append(f"{where}: not a JSON object")
                continue
            bad = check_record(r)
            if bad == "skip":
                skipped += 1
                continue
            if bad:
                problems.append(f"{where}: " + "; ".join(bad))
                continue
            key = (r["bench"], r["variant"], r["n"], r["metric"])
            if (key, r["run"]) in seen:
                problems.append(f"{where}: duplicate run {r['run']} of {fmt_key(key)}"
                                f" (first on line {seen[(key, r['run'])]})")
                continue
            seen[(key, r["run"])] = lineno
            ukey = (r["bench"], r["metric"])
            if units.setdefault(ukey, (r["unit"], lineno))[0] != r["unit"]:
                problems.append(f"{where}: unit {r['unit']!r} for {r['bench']}/"
                                f"{r['metric']}, line {units[ukey][1]} used "
                                f"{units[ukey][0]!r}")
                continue
            records.append(r)
    return records, problems, skipped


def check_record(r):
    bad = []
    keys = set(r)
    if keys - RECORD_KEYS:
        bad.append("unexpected keys " + ", ".join(sorted(keys - RECORD_KEYS)))
    if RECORD_KEYS - keys:
        bad.append("missing keys " + ", ".join(sorted(RECORD_KEYS - keys)))
        return bad
    b, v, m = r["bench"], r["variant"], r["metric"]
    if b not in BENCHES:
        return bad + [f"unknown bench {b!r}"]
    spec = BENCHES[b]
    if v not in spec["variants"]:
        bad.append(f"unknown {b} variant {v!r}")
    if m not in spec["metrics"]:
        bad.append(f"unknown {b} metric {m!r}")
    elif v in spec["variants"] and not metric_applies(b, v, m):
        if b == "attach" and m == "drop_ns_per_pkt" and r["value"] is None:
            # The contract allows a null drop cost for pass-all variants.
            return "skip" if not bad else bad
        bad.append(f"metric {m} does not apply to {b} variant {v}")
    n = r["n"]
    if spec["has_n"]:
        if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
            bad.append(f"n must be a rule count or null, got {n!r}")
    elif n is not None:
        bad.append(f"n must be null for {b}, got {n!r}")
    run = r["run"]
    if not (isinstance(run, int) and not isinstance(run, bool) and run >= 1):
        bad.append(f"run must be an integer >= 1, got {run!r}")
    if not is_number(r["value"]):
        bad.append(f"value must be a finite number, got {r['value']!r}")
    elif r["value"] < 0 and (b, m) not in SIGNED:
        bad.append(f"value must not be negative, got {r['value']!r}")
    if not isinstance(r["unit"], str) or not r["unit"]:
        bad.append(f"unit must be a non-empty string, got {r['unit']!r}")
    return bad


def check_meta(meta):
    problems = []
    for k in META_KEYS:
        if k not in meta:
            problems.append(f"meta: missing {k}")
    if "repeats" in meta and not (isinstance(meta["repeats"], int) and meta["repeats"] >= 1):
        problems.append(f"meta: repeats must be an integer >= 1, got {meta['repeats']!r}")
    if "quick" in meta and not isinstance(meta["quick"], bool):
        problems.append("meta: quick must be true or false")
    notes = meta.get("notes", {})
    if not isinstance(notes, dict) or any(
            not isinstance(v, list) or not all(isinstance(s, str) for s in v)
            for v in notes.values()):
        problems.append("meta: notes must map a bench (or \"bars\") to a list of strings")
    else:
        for k in notes:
            if k not in BENCHES and k not in ("bars", "machine"):
                problems.append(f"meta: notes for unknown bench {k!r}")
    ns = meta.get("ns")
    if ns is not None and not (isinstance(ns, list) and all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in ns)):
        problems.append("meta: ns must be a list of rule counts")
    d = meta.get("duration_s")
    if d is not None and not is_number(d) and not (
            isinstance(d, dict) and all(is_number(x) for x in d.values())):
        problems.append("meta: duration_s must be a number or {bench: number}")
    fl = meta.get("failures")
    if fl is not None and not isinstance(fl, list):
        problems.append("meta: failures must be a list")
    return problems


def load_meta(path):
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except OSError as e:
        raise Fail(f"cannot read meta {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise Fail(f"meta {path} is not JSON: {e.msg} at line {e.lineno}")
    if not isinstance(meta, dict):
        raise Fail(f"meta {path} is not a JSON object")
    return meta


# ---------------------------------------------------------------- numbers

class Stat:
    def __init__(self, values):
        self.values = sorted(values)
        self.median = statistics.median(self.values)
        self.min = self.values[0]
        self.max = self.values[-1]
        self.count = len(self.values)


def num(v):
    """Three significant digits, no exponent; thousands and millions as k/M."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e5:
        return f"{v / 1e3:.0f}k"
    if a >= 100 or v == 0:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def times(x):
    return f"{x:#.3g}×" if x < 100 else f"{x:.0f}×"


def pct(x):
    return f"{x * 100:+.1f}%" if abs(x) < 1 else f"{x * 100:+.0f}%"


def show_unit(u):
    return {"us": "µs"}.get(u, u)


def fmt_n(n):
    return "no rules" if n is None else f"N={n}"


def fmt_key(key):
    b, v, n, m = key
    return f"{b}/{v}" + ("" if n is None and not BENCHES.get(b, {}).get("has_n") else f" {fmt_n(n)}") + f" {m}"


class Data:
    def __init__(self, records, meta):
        self.meta = meta
        groups = {}
        self.units = {}
        for r in records:
            groups.setdefault((r["bench"], r["variant"], r["n"], r["metric"]), []).append(r["value"])
            self.units[(r["bench"], r["metric"])] = r["unit"]
        self.stats = {k: Stat(v) for k, v in groups.items()}
        ns = meta.get("ns")
        if not ns:
            ns = {k[2] for k in self.stats if BENCHES[k[0]]["has_n"] and k[2] is not None}
        self.ns = sorted(ns) if ns else list(DEFAULT_NS)
        app = meta.get("ns_app")
        self.ns_app = sorted(app) if app else self.ns

    def bench_ns(self, bench):
        ns = self.ns_app if bench in APP_BENCHES else self.ns
        only = BENCHES[bench].get("ns")
        return [n for n in ns if n in only] if only else ns

    def variants(self, bench):
        """The contract's variants, less optional ones this run left out."""
        return [v for v in BENCHES[bench]["variants"]
                if (bench, v) not in OPTIONAL
                or any(k[0] == bench and k[1] == v for k in self.stats)]

    def get(self, bench, variant, n, metric):
        return self.stats.get((bench, variant, n, metric))

    def baseline(self, bench, variant, n, metric):
        """A no-rules baseline may be recorded at N, with n = null, or n = 0."""
        for cand in (n, None, 0):
            s = self.get(bench, variant, cand, metric)
            if s:
                return s, cand
        return None, n

    def null_only(self, bench, variant):
        ns = {k[2] for k in self.stats if k[0] == bench and k[1] == variant}
        return bool(ns) and ns == {None}

    def columns(self, bench):
        if not BENCHES[bench]["has_n"]:
            return [None]
        seen = {k[2] for k in self.stats if k[0] == bench}
        cols = sorted(set(self.bench_ns(bench)) | {n for n in seen if n is not None})
        return ([None] if None in seen else []) + cols

    def expected(self, bench, variant):
        """(n, metric) pairs the run should have produced for this variant."""
        spec = BENCHES[bench]
        ms = [m for m in spec["metrics"] if metric_applies(bench, variant, m)]
        if not spec["has_n"] or self.null_only(bench, variant):
            ns = [None]
        else:
            ns = self.bench_ns(bench)
        return [(n, m) for n in ns for m in ms]

    def unit(self, bench, metric):
        return show_unit(self.units.get((bench, metric), ""))

    def repeats(self, bench=None):
        """Runs per figure: the bench's own count when the run gave one
        (meta "repeats_by_bench"), else the run's."""
        own = self.meta.get("repeats_by_bench")
        r = own.get(bench) if isinstance(own, dict) and bench else None
        if not (isinstance(r, int) and r >= 1):
            r = self.meta.get("repeats")
        return r if isinstance(r, int) and r >= 1 else None


# ---------------------------------------------------------------- markdown

def cell(s, repeats):
    if s is None:
        return DASH
    text = num(s.median) if s.count == 1 else f"{num(s.median)} ({num(s.min)}–{num(s.max)})"
    if repeats and s.count != repeats:
        text += f" [{s.count}/{repeats}]"
    return text


def table(header, rows, align):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def bench_table(d, bench):
    spec = BENCHES[bench]
    rep = d.repeats(bench)
    if not spec["has_n"]:
        metrics = spec["metrics"]
        header = ["variant"] + [f"{m} ({d.unit(bench, m) or '?'})" for m in metrics]
        rows = []
        for v in d.variants(bench):
            row = [v]
            for m in metrics:
                row.append(cell(d.get(bench, v, None, m), rep)
                           if metric_applies(bench, v, m) else "n/a")
            rows.append(row)
        return table(header, rows, "l" + "r" * len(metrics))
    cols = d.columns(bench)
    header = ["metric", "variant"] + [fmt_n(n) for n in cols]
    rows = []
    for m in spec["metrics"]:
        unit = d.unit(bench, m)
        label = f"**{m}**" + (f" ({unit})" if unit else "")
        for i, v in enumerate(d.variants(bench)):
            nulls = d.null_only(bench, v)
            row = [label if i == 0 else "", v]
            for n in cols:
                s = d.get(bench, v, n, m)
                if s is None and ((n is None) != nulls):
                    # Expected in the other kind of column: not a gap here.
                    row.append("" if n is None else "n/a")
                else:
                    row.append(cell(s, rep))
            rows.append(row)
    return table(header, rows, "ll" + "r" * len(cols))


def ratio_rows(d):
    """(comparison, value, inputs) rows; ratios divide medians of this file."""
    rows = []

    def add(label, bench, metric, a, b, percent=False):
        (va, na), (vb, nb) = a, b
        sa = d.get(bench, va, na, metric)
        sb, nb2 = (d.baseline(bench, vb, nb, metric) if vb in ("none", "empty-testrun")
                   else (d.get(bench, vb, nb, metric), nb))
        unit = d.unit(bench, metric)
        if sa is None or sb is None:
            miss = [f"{v} {fmt_n(n)}" if BENCHES[bench]["has_n"] else v
                    for v, n, s in ((va, na, sa), (vb, nb, sb)) if s is None]
            rows.append([label, DASH, "missing: " + ", ".join(miss)])
            return
        if sb.median == 0:
            rows.append([label, DASH, "divisor median is 0"])
            return
        q = sa.median / sb.median
        val = pct(q - 1) if percent else times(q)
        where = ""
        if BENCHES[bench]["has_n"]:
            where = (f" (baseline: {fmt_n(nb2)})" if vb in ("none", "empty-testrun") and nb2 != nb else "")
        rows.append([label, val, f"{num(sa.median)} ÷ {num(sb.median)} {unit}{where}".strip()])

    fv = ["idgate-xdp-native", "idgate-xdp-generic", "idgate-tc"]
    for n in (1000, 10000):
        for base in ("iptables", "nft"):
            for v in fv:
                add(f"flood softirq_ns_per_pkt, {base} ÷ {v}, N={n}", "flood",
                    "softirq_ns_per_pkt", (base, n), (v, n))
    for v in ["idgate-flood", "idgate-testrun-established", "idgate-testrun-denied"]:
        add(f"progcost {v}, N=10000 vs N=10", "progcost", "ns_per_pkt",
            (v, 10000), (v, 10), percent=True)
    for v in ["idgate-testrun-established", "idgate-testrun-denied"]:
        for n in (10, 10000):
            add(f"progcost {v} ÷ empty-testrun, N={n}", "progcost", "ns_per_pkt",
                (v, n), ("empty-testrun", n))
    for v in ["iptables", "nft", "idgate"]:
        add(f"pingpong p99_us, {v} N=10000 vs none", "pingpong", "p99_us",
            (v, 10000), ("none", 10000), percent=True)
    for v in ["iptables", "iptables-ct", "nft", "idgate"]:
        add(f"connrate conn_per_s, {v} N=10000 ÷ none", "connrate", "conn_per_s",
            (v, 10000), ("none", 10000))
    for n in d.ns:
        add(f"throughput gbps, idgate ÷ none, N={n}", "throughput", "gbps",
            ("idgate", n), ("none", n))
    for v in ["iptables", "nft"]:
        add(f"throughput gbps, {v} ÷ none, N=10000", "throughput", "gbps",
            (v, 10000), ("none", 10000))
    for v in ["iptables-legacy", "iptables-nft", "nft"]:
        add(f"propagation ms, {v} ÷ idgate, N=10000", "propagation", "ms",
            (v, 10000), ("idgate", 10000))
    for v in BENCHES["attach"]["variants"][1:]:
        add(f"attach gbps, {v} ÷ none", "attach", "gbps", (v, None), ("none", None))
    for m in ["gbps", "p99_us"]:
        for v in ["idgate-geneve-snat", "direct"]:
            add(f"egw {m}, {v} ÷ kernel-vxlan-masq", "egw", m, (v, None),
                ("kernel-vxlan-masq", None))
    return rows


# Performance bars of issue 6: each returns rows of
# (bar, measured, target, status, detail).
def bar_rows(d):
    rows = []

    def nodata(bar, target, what):
        rows.append([bar, DASH, target, "no data", "missing: " + what])

    def status(ok):
        return "met" if ok else "**missed**"

    def median_bar(bar, target, key, limit, unit, strict=False, pct=False):
        """A bar on one median: at most limit (below it, if strict)."""
        a = d.get(*key)
        if not a:
            nodata(bar, target, f"{key[0]} {key[1]} N={key[2]}")
            return
        ok = a.median < limit if strict else a.median <= limit
        detail = f"min–max {num(a.min)}–{num(a.max)} {unit}"
        if not ok:
            detail += f"; {num(a.median - limit)} {unit}"
            if pct:
                detail += f" ({(a.median / limit - 1) * 100:.0f}%)"
            detail += " over"
        rows.append([bar, f"{num(a.median)} {unit}", target, status(ok), detail])

    # Flat in N.
    for v in ["idgate-flood", "idgate-testrun-established", "idgate-testrun-denied"]:
        bar = f"Cost flat in N ({v})"
        target = "N=10000 ≤ N=10 +10%"
        a, b = d.get("progcost", v, 10000, "ns_per_pkt"), d.get("progcost", v, 10, "ns_per_pkt")
        if not a or not b:
            nodata(bar, target, ", ".join(f"N={n}" for n, s in ((10, b), (10000, a)) if not s))
            continue
        delta = a.median / b.median - 1
        ok = delta <= 0.10
        detail = f"{num(a.median)} vs {num(b.median)} ns"
        if not ok:
            detail += (f"; {(delta - 0.10) * 100:.1f} points over: N=10000 would need "
                       f"≤ {num(b.median * 1.10)} ns")
        rows.append([bar, pct(delta), target, status(ok), detail])

    # An empty program's multiple under test run, judged at the worst N.
    for v, lim in (("idgate-testrun-established", 2.5), ("idgate-testrun-denied", 5.0)):
        bar = f"≤ {lim:g}× empty program, test run ({v})"
        target = f"≤ {lim:g}×"
        pairs = []
        for n in d.ns:
            a = d.get("progcost", v, n, "ns_per_pkt")
            b, _ = d.baseline("progcost", "empty-testrun", n, "ns_per_pkt")
            if a and b and b.median > 0:
                pairs.append((a.median / b.median, n, a, b))
        if not pairs:
            nodata(bar, target, f"{v} or empty-testrun")
            continue
        q, n, a, b = max(pairs, key=lambda p: (p[0], p[1]))
        ok = q <= lim
        detail = f"worst N={n}: {num(a.median)} ÷ {num(b.median)} ns"
        if len(pairs) < len(d.ns):
            detail += f" ({len(pairs)} of {len(d.ns)} N measured)"
        if not ok:
            need = lim * b.median
            detail += (f"; needs ≤ {num(need)} ns, {(1 - need / a.median) * 100:.0f}% "
                       "cheaper")
        rows.append([bar, times(q), target, status(ok), detail])

    # The program's own time under the flood.
    median_bar("Program time under the flood, N=10000 (idgate-flood)", "≤ 150 ns",
               ("progcost", "idgate-flood", 10000, "ns_per_pkt"), 150, "ns")

    # veth flood: softirq per dropped packet against nftables' verdict map.
    for v in [x for x in d.variants("flood") if x.startswith("idgate")]:
        bar = f"Flood softirq/pkt ≤ nftables verdict map, every N ({v})"
        target = "≤ 1× at every N"
        pairs = []
        for n in d.ns:
            a = d.get("flood", v, n, "softirq_ns_per_pkt")
            b = d.get("flood", "nft", n, "softirq_ns_per_pkt")
            if a and b and b.median > 0:
                pairs.append((a.median / b.median, n, a, b))
        if not pairs:
            nodata(bar, target, f"flood {v} or nft")
            continue
        q, n, a, b = max(pairs, key=lambda p: (p[0], p[1]))
        ok = q <= 1.0
        detail = f"worst N={n}: {num(a.median)} vs {num(b.median)} ns"
        if len(pairs) < len(d.ns):
            detail += f" ({len(pairs)} of {len(d.ns)} N measured)"
        if not ok:
            detail += f"; needs ≤ {num(b.median)} ns"
        rows.append([bar, times(q), target, status(ok), detail])

    # Early drop on the tap: idgate's native XDP above the drop-only floor.
    mine = d.get("earlydrop", "idgate-xdp-native-sources", 10000, "ns_above_floor")
    for bar, target, ref, lim in (
            ("Early drop, N=10000: idgate XDP above floor ≤ 1/3 of nftables netdev",
             "≤ 0.33×", "nft-netdev-sources", 1 / 3),
            ("Early drop, N=10000: idgate XDP above floor ≤ 1.5× xdp-filter's",
             "≤ 1.5×", "xdp-filter-sources", 1.5)):
        other = d.get("earlydrop", ref, 10000, "ns_above_floor")
        if not mine or not other:
            nodata(bar, target, ", ".join(x for x, s in (("idgate-xdp-native-sources", mine),
                                                          (ref, other)) if not s))
            continue
        ok = mine.median <= lim * max(other.median, 0)
        q = mine.median / other.median if other.median > 0 else float("inf")
        detail = f"{num(mine.median)} vs {num(other.median)} ns above the floor"
        if not ok:
            detail += f"; needs ≤ {num(lim * max(other.median, 0))} ns"
        rows.append([bar, times(q) if math.isfinite(q) else "n/a", target, status(ok),
                     detail])
    bar = "Early drop, N=10000: idgate XDP above floor"
    target = "≤ 150 ns"
    if not mine:
        nodata(bar, target, "idgate-xdp-native-sources N=10000")
    else:
        ok = mine.median <= 150
        detail = f"min–max {num(mine.min)}–{num(mine.max)} ns"
        if not ok:
            detail += f"; {num(mine.median - 150)} ns over"
        rows.append([bar, f"{num(mine.median)} ns", target, status(ok), detail])

    # CPU per dropped packet against iptables.
    for n, need in ((1000, 5), (10000, 30)):
        for v in [x for x in d.variants("flood") if x.startswith("idgate")]:
            bar = f"Flood CPU/pkt ≤ 1/{need} of iptables, N={n} ({v})"
            target = f"≥ {need}×"
            a = d.get("flood", "iptables", n, "softirq_ns_per_pkt")
            b = d.get("flood", v, n, "softirq_ns_per_pkt")
            if not a or not b or b.median == 0:
                nodata(bar, target, ", ".join(x for x, s in (("iptables", a), (v, b)) if not s)
                       or "idgate median is 0")
                continue
            q = a.median / b.median
            ok = q >= need
            detail = f"iptables {num(a.median)} ÷ {num(b.median)} ns"
            if not ok:
                goal = a.median / need
                detail += (f"; {v} needs ≤ {num(goal)} ns, "
                           f"{(1 - goal / b.median) * 100:.0f}% cheaper")
            rows.append([bar, times(q), target, status(ok), detail])

    # Ping-pong p99 at 10 000 rules against no filter.
    bar = "Ping-pong p99, N=10000, vs no filter"
    target = "≤ +10%"
    a = d.get("pingpong", "idgate", 10000, "p99_us")
    b, _ = d.baseline("pingpong", "none", 10000, "p99_us")
    if not a or not b:
        nodata(bar, target, ", ".join(x for x, s in (("idgate N=10000", a), ("none", b)) if not s))
    else:
        delta = a.median / b.median - 1
        ok = delta <= 0.10
        detail = f"{num(a.median)} vs {num(b.median)} µs"
        if not ok:
            detail += f"; {num(a.median - b.median * 1.10)} µs over the allowed {num(b.median * 1.10)} µs"
        rows.append([bar, pct(delta), target, status(ok), detail])

    # Throughput against no filter, judged at the worst N.
    bar = "TCP throughput with idgate vs no filter"
    target = "≥ 90%"
    pairs = []
    for n in d.bench_ns("throughput"):
        a = d.get("throughput", "idgate", n, "gbps")
        b, _ = d.baseline("throughput", "none", n, "gbps")
        if a and b and b.median > 0:
            pairs.append((a.median / b.median, n, a, b))
    if not pairs:
        nodata(bar, target, "throughput idgate or none")
    else:
        q, n, a, b = min(pairs, key=lambda p: (p[0], -p[1]))
        ok = q >= 0.90
        detail = f"worst N={n}: {num(a.median)} vs {num(b.median)} Gbit/s"
        if len(pairs) < len(d.bench_ns("throughput")):
            detail += f" ({len(pairs)} of {len(d.bench_ns('throughput'))} N measured)"
        if not ok:
            detail += (f"; {(0.90 - q) * 100:.1f} points short, needs ≥ "
                       f"{num(b.median * 0.90)} Gbit/s")
        rows.append([bar, f"{q * 100:.1f}%", target, status(ok), detail])

    # Propagation.
    median_bar("Propagation of one change among 10000 (idgate)", "< 10 ms",
               ("propagation", "idgate", 10000, "ms"), 10, "ms", strict=True,
               pct=True)

    # The control plane (issue 12): one change with the daemon, and churn.
    bar = "Propagation of one rule among 10000, idgate run (idgate-run)"
    target = "p50 ≤ 5 ms and ≤ 1/5 of nft -f"
    a = d.get("propagation", "idgate-run", 10000, "ms")
    b = d.get("propagation", "nft", 10000, "ms")
    if not a or not b:
        nodata(bar, target, "propagation idgate-run and nft at N=10000")
    else:
        ok = a.median <= 5 and a.median <= b.median / 5
        detail = f"nft -f {num(b.median)} ms; ratio {times(a.median / b.median)}"
        if not ok:
            detail += f"; needs ≤ {num(min(5, b.median / 5))} ms"
        rows.append([bar, f"{num(a.median)} ms", target, status(ok), detail])
    median_bar("Propagation of one endpoint added among 5000, idgate run (idgate-run-ep)",
               "p50 ≤ 5 ms", ("propagation", "idgate-run-ep", 10000, "ms"), 5, "ms")
    checks = [("p99_ms", "p99 ≤ 20 ms", lambda x: x <= 20, "ms"),
              ("cpu_pct", "daemon CPU ≤ 10% of a core", lambda x: x <= 10, "%"),
              ("end_state_ok", "end state = fresh apply", lambda x: x >= 1, "")]
    for m, target, good, unit in checks:
        bar = f"Churn at 100 changes/s (idgate-r100): {m}"
        a = d.get("churn", "idgate-r100", None, m)
        if not a:
            nodata(bar, target, f"churn idgate-r100 {m}")
            continue
        shown = ("yes" if a.min >= 1 else "no") if m == "end_state_ok" else f"{num(a.median)} {unit}".strip()
        ok = good(a.median) and (m != "end_state_ok" or a.min >= 1)
        rows.append([bar, shown, target, status(ok), ""])

    # The L7 path against the same server without idgate (issue 14).
    none_r, l7_r = d.get("l7", "none", None, "rps"), d.get("l7", "l7", None, "rps")
    bar, target = "HTTP through the L7 proxy: requests/s vs the server alone", "≥ 60%"
    if not none_r or not l7_r:
        nodata(bar, target, "l7 none/l7 rps")
    else:
        ratio = l7_r.median / none_r.median
        detail = f"{num(l7_r.median)} vs {num(none_r.median)} req/s"
        px = d.get("l7", "proxy", None, "rps")
        if px:
            detail += f"; a plain HAProxy hop on the same core: {num(px.median)} ({ratio_pct(px.median / none_r.median)})"
        rows.append([bar, ratio_pct(ratio), target, status(ratio >= 0.6), detail])
    none_p, l7_p = d.get("l7", "none", None, "p99_us"), d.get("l7", "l7", None, "p99_us")
    bar, target = "HTTP through the L7 proxy: added p99", "≤ +300 µs"
    if not none_p or not l7_p:
        nodata(bar, target, "l7 none/l7 p99_us")
    else:
        added = l7_p.median - none_p.median
        rows.append([bar, f"+{num(added)} µs", target, status(added <= 300),
                     f"{num(l7_p.median)} vs {num(none_p.median)} µs"])
    return rows


def ratio_pct(x):
    return f"{x * 100:.0f}%"


def gaps(d, problems):
    out = []
    rep = d.repeats()
    for f in d.meta.get("failures") or []:
        if isinstance(f, dict):
            what = "/".join(str(f[x]) for x in ("bench", "variant") if f.get(x) is not None)
            if f.get("n") is not None:
                what += f" N={f['n']}"
            out.append(f"- failed: {what or '?'}: {f.get('reason', 'no reason given')}")
        else:
            out.append(f"- failed: {f}")
    for bench, spec in BENCHES.items():
        if not any(k[0] == bench for k in d.stats):
            out.append(f"- {bench}: no results at all.")
            continue
        for v in d.variants(bench):
            exp = d.expected(bench, v)
            missing = [(n, m) for n, m in exp if not d.get(bench, v, n, m)]
            if not missing:
                continue
            if len(missing) == len(exp):
                out.append(f"- {bench}/{v}: no results.")
                continue
            ms = [m for m in spec["metrics"] if metric_applies(bench, v, m)]
            whole = [n for n in dict.fromkeys(n for n, _ in missing)
                     if all((n, m) in missing for m in ms)]
            parts = []
            if whole:
                parts.append("no results at " + ", ".join(fmt_n(n) for n in whole))
            rest = [(n, m) for n, m in missing if n not in whole]
            for m in ms:
                at = [n for n, mm in rest if mm == m]
                if at:
                    parts.append(f"{m} missing" + (
                        " at " + ", ".join(fmt_n(n) for n in at) if spec["has_n"] else ""))
            out.append(f"- {bench}/{v}: " + "; ".join(parts) + ".")
    if rep:
        # One line per (bench, variant, n) when all its metrics fell short alike.
        short = {}
        for k, s in sorted(d.stats.items(), key=lambda kv: sort_key(kv[0])):
            if s.count != d.repeats(k[0]):
                short.setdefault(k[:3], []).append((k[3], s.count))
        for (b, v, n), ms in short.items():
            where = f"{b}/{v}" + (f" {fmt_n(n)}" if BENCHES[b]["has_n"] else "")
            all_ms = [m for m in BENCHES[b]["metrics"] if d.get(b, v, n, m)]
            rep = d.repeats(b)
            if len(ms) == len(all_ms) and len({c for _, c in ms}) == 1:
                out.append(f"- {where}: {ms[0][1]} of {rep} runs.")
            else:
                out.append(f"- {where}: " + ", ".join(
                    f"{m} {c} of {rep} runs" for m, c in ms) + ".")
    for p in problems:
        out.append(f"- record ignored, {p}")
    missing_meta = [k for k in META_KEYS if k not in d.meta]
    if missing_meta:
        out.append("- meta.json lacks: " + ", ".join(missing_meta) + ".")
    return out


def sort_key(k):
    b, v, n, m = k
    spec = BENCHES[b]
    return (list(BENCHES).index(b), spec["variants"].index(v),
            -1 if n is None else n, spec["metrics"].index(m))


def machine_line(meta):
    def g(k):
        v = meta.get(k)
        return "unknown" if v is None or v == "" else str(v)
    cores = meta.get("cores")
    cores = f"{cores} cores" if cores is not None else "unknown cores"
    mode = "quick run (--quick)" if meta.get("quick") else "full run"
    rep = meta.get("repeats")
    mode += f", {rep} repeats" if rep is not None else ", repeats unknown"
    dur = meta.get("duration_s")
    if is_number(dur):
        mode += f", {dur:g} s per measurement"
    elif isinstance(dur, dict) and dur:
        order = [b for b in BENCHES if b in dur] + sorted(b for b in dur if b not in BENCHES)
        mode += ", seconds per measurement: " + ", ".join(f"{b} {dur[b]:g}" for b in order)
    commit = g("commit")
    return (f"Measured {g('date')} at commit `{commit}` on Linux {g('kernel')}, "
            f"{g('cpu')}, {cores}, {g('memory')} memory; {mode}.")


def render(d, problems, plots, plot_rel):
    meta = d.meta
    raw = meta.get("notes") if isinstance(meta.get("notes"), dict) else {}

    def notes(key):
        v = raw.get(key, [])
        return [v] if isinstance(v, str) else [str(x) for x in v] if isinstance(v, list) else []
    L = ["# idgate benchmarks", ""]
    if meta.get("synthetic"):
        L += ["> **SYNTHETIC TEST INPUT — these are not measurements.** "
              "Generated from bench/testdata to check the report generator.", ""]
    L += [machine_line(meta), ""]
    L += [f"Software: {m}" for m in notes("machine")] + ([""] if notes("machine") else [])
    L += [
          "Generated by bench/report.py from one results file. Every cell is the "
          "median of the repeated runs with the min–max in parentheses (a single "
          "sample shows alone); `[k/r]` marks a figure with k of r expected runs; "
          f"{DASH} means no result (see Gaps). Every ratio divides medians from "
          "this same run.", ""]

    L += ["## Performance bars", ""]
    brows = bar_rows(d)
    met = sum(1 for r in brows if r[3] == "met")
    missed = sum(1 for r in brows if r[3] == "**missed**")
    nod = sum(1 for r in brows if r[3] == "no data")
    L += [f"{met} met, {missed} missed, {nod} without data. Each idgate attach "
          "mode and program path is judged separately; a lower value than the "
          "reference counts as within a \"within 10%\" bar.", ""]
    L += table(["bar", "measured", "requirement", "status", "detail"], brows, "lrrll")
    L.append("")
    why = notes("bars")
    if why:
        L += ["Why and what would close it:", ""] + [f"- {s}" for s in why] + [""]
    elif missed:
        L += ["The harness supplied no explanation for the missed bars "
              "(meta.json notes key \"bars\").", ""]

    L += ["## Results", ""]
    for bench in BENCHES:
        L += [f"### {bench}", ""]
        L += bench_table(d, bench)
        L.append("")
        for name in plots.get(bench, []):
            L += [f"![{name}]({plot_rel}/{name}.png)", ""]

    L += ["## Ratios", "", "Medians of this results file only.", ""]
    L += table(["comparison", "value", "medians"], ratio_rows(d), "lrl")
    L.append("")

    L += ["## Method", ""]
    for bench in BENCHES:
        L += [f"**{bench}.** {METHOD[bench]}", ""]
        for s in notes(bench):
            L.append(f"- {s}")
        if notes(bench):
            L.append("")

    L += ["## Gaps", ""]
    g = gaps(d, problems)
    L += g if g else ["None: every expected result is present with all its runs."]
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- plots

def png_terminal():
    if not shutil.which("gnuplot"):
        raise Fail("gnuplot not found (install gnuplot-nox)")
    p = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    names = set(re.findall(r"^\s*(\w+)\s", p.stdout + p.stderr, re.M))
    if "pngcairo" in names:
        return 'pngcairo size 900,540 font "DejaVu Sans,11" noenhanced'
    if "png" in names:
        return "png size 900,540 noenhanced"
    raise Fail("gnuplot has neither the pngcairo nor the png terminal")


def gp_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def with_units(d, label, bench, metrics):
    units = [u for u in dict.fromkeys(d.unit(bench, m) for m in metrics) if u]
    return label + (f" ({', '.join(units)})" if units else "")


def line_plot(d, spec, tmp, term, out_png):
    bench, metric = spec["bench"], spec["metric"]
    series = []
    xs = [n for n in d.columns(bench) if n is not None]
    for i, v in enumerate(d.variants(bench)):
        if spec.get("variants") and v not in spec["variants"]:
            continue
        pts = [(n, d.get(bench, v, n, metric)) for n in xs]
        pts = [(n, s) for n, s in pts if s]
        dashed = False
        if not pts and d.null_only(bench, v) and xs:
            s = d.get(bench, v, None, metric)
            if s:
                # An N-independent baseline: a flat line across the sweep.
                pts, dashed = [(xs[0], s), (xs[-1], s)], True
        if pts:
            series.append((i, v, pts, dashed))
    if not series:
        return False
    vals = [x for _, _, pts, _ in series for _, s in pts for x in (s.min, s.median)]
    logy = spec["logy"] and min(vals) > 0
    yzero = "set yrange [0:*]" if min(vals) >= 0 else "set yrange [*:*]"
    dat = os.path.join(tmp, spec["name"] + ".dat")
    with open(dat, "w") as f:
        for _, v, pts, _ in series:
            f.write(f"# {v}\n")
            for n, s in pts:
                f.write(f"{n} {s.median!r} {s.min!r} {s.max!r}\n")
            f.write("\n\n")
    ylabel = with_units(d, spec["ylabel"], bench, [metric])
    cmds = [f"set terminal {term}", f"set output {gp_str(out_png)}",
            f"set title {gp_str(spec['title'])}", 'set xlabel "rules (N)" offset 0,0.4',
            f"set ylabel {gp_str(ylabel)}", "set grid", "set key below horizontal spacing 1.3",
            "set bmargin 7",
            "set logscale x 10", f"set xrange [{xs[0] / 1.6!r}:{xs[-1] * 1.6!r}]",
            "set xtics (" + ", ".join(f'"{n}" {n}' for n in xs) + ")"]
    cmds.append("set logscale y 10" if logy else yzero)
    if max(s.max for _, _, pts, _ in series for _, s in pts) >= 1e5:
        cmds.append('set format y "%.1s%c"')
    plots = []
    for idx, (i, v, _, dashed) in enumerate(series):
        style = (f"lc rgb {gp_str(COLORS[i % len(COLORS)])} lw 2 pt 7 ps 1"
                 + (" dt 2" if dashed else ""))
        title = v + (" (no rules)" if dashed else "")
        plots.append(f"{gp_str(dat)} index {idx} using 1:2:3:4 with yerrorlines "
                     f"{style} title {gp_str(title)}")
    cmds.append("plot " + ", \\\n  ".join(plots))
    return cmds


def bar_plot(d, spec, tmp, term, out_png):
    bench = spec["bench"]
    rows = []
    for v in d.variants(bench):
        for m in spec["metrics"]:
            s = d.get(bench, v, None, m)
            if s and metric_applies(bench, v, m):
                rows.append((v, s))
    if not rows:
        return False
    dat = os.path.join(tmp, spec["name"] + ".dat")
    with open(dat, "w") as f:
        for i, (v, s) in enumerate(rows):
            color = int(IDGATE_BAR if v.startswith("idgate") else OTHER_BAR, 16)
            f.write(f"{i} {s.median!r} {s.min!r} {s.max!r} {gp_str(v)} "
                    f"{gp_str(num(s.median))} {color}\n")
    ylabel = with_units(d, spec["ylabel"], bench, spec["metrics"])
    top = max(s.max for _, s in rows)
    cmds = [f"set terminal {term}", f"set output {gp_str(out_png)}",
            f"set title {gp_str(spec['title'])}", f"set ylabel {gp_str(ylabel)}",
            "set grid ytics", "set style fill solid 0.55 border -1",
            "set boxwidth 0.6", f"set xrange [-0.7:{len(rows) - 0.3}]",
            f"set yrange [0:{top * 1.15 if top > 0 else 1!r}]",
            "set xtics rotate by -25 nomirror", "set bmargin 7", "unset key",
            f"plot {gp_str(dat)} using 1:2:7:xtic(5) with boxes lc rgb variable, \\\n"
            # Candlesticks: gnuplot 5.4 yerrorbars punch a hole at the median.
            f"  '' using 1:2:3:4:2 with candlesticks whiskerbars 0.3 fs empty "
            f"lc rgb \"black\" lw 1.5, \\\n"
            f"  '' using 1:4:6 with labels offset 0,1 font \",10\""]
    return cmds


def make_plots(d, plot_dir):
    """Draw every plot whose data exists; return {bench: [plot name]}."""
    term = png_terminal()
    os.makedirs(plot_dir, exist_ok=True)
    made = {}
    with tempfile.TemporaryDirectory(prefix="idgate-report-") as tmp:
        for spec in PLOTS:
            out_png = os.path.abspath(os.path.join(plot_dir, spec["name"] + ".png"))
            fn = line_plot if spec["kind"] == "lines" else bar_plot
            cmds = fn(d, spec, tmp, term, out_png)
            if not cmds:
                if os.path.exists(out_png):
                    # A stale plot of an earlier run must not outlive its data.
                    os.unlink(out_png)
                continue
            script = os.path.join(tmp, spec["name"] + ".gp")
            with open(script, "w") as f:
                f.write("\n".join(cmds) + "\n")
            p = subprocess.run(["gnuplot", script], capture_output=True, text=True)
            if p.returncode != 0 or not os.path.exists(out_png):
                raise Fail(f"gnuplot failed on {spec['name']} (exit {p.returncode}):\n"
                           f"{p.stderr.strip()}\nscript:\n" + "\n".join(cmds))
            made.setdefault(spec["bench"], []).append(spec["name"])
    return made


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="JSON lines, one sample each")
    ap.add_argument("--meta", help="meta.json written by the harness")
    ap.add_argument("--out", help="markdown report to write")
    ap.add_argument("--plots", help="directory for the PNG plots")
    ap.add_argument("--check", action="store_true",
                    help="validate the results (and meta) against the contract; exit 1 on problems")
    a = ap.parse_args()
    try:
        records, problems, skipped = load_records(a.results)
        if a.check:
            files = a.results
            if a.meta:
                files += " + " + a.meta
                meta = load_meta(a.meta)
                problems += check_meta(meta)
                rep = meta.get("repeats")
                if isinstance(rep, int) and not isinstance(rep, bool):
                    problems += sorted({f"{fmt_key(k)}: run {r['run']} > repeats {rep}"
                                        for r in records if r["run"] > rep
                                        for k in [(r["bench"], r["variant"], r["n"], r["metric"])]})
            if problems:
                print(f"{files}: {len(problems)} problem(s):", file=sys.stderr)
                for p in problems:
                    print(f"  {p}", file=sys.stderr)
                return 1
            print(f"{files}: ok, {len(records)} records"
                  + (f" ({skipped} null attach drop costs of pass-all variants ignored)"
                     if skipped else ""))
            return 0
        if not (a.meta and a.out and a.plots):
            ap.error("--meta, --out and --plots are required unless --check")
        meta = load_meta(a.meta)
        for p in problems + check_meta(meta):
            print(f"report.py: warning: {p}", file=sys.stderr)
        d = Data(records, meta)
        plots = make_plots(d, a.plots)
        out_dir = os.path.dirname(os.path.abspath(a.out))
        rel = os.path.relpath(os.path.abspath(a.plots), out_dir).replace(os.sep, "/")
        text = render(d, problems, plots, rel)
        os.makedirs(out_dir, exist_ok=True)
        tmp_out = a.out + ".tmp"
        with open(tmp_out, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp_out, a.out)
    except Fail as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
