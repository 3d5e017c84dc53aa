#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Policy churn driver for bench/churn.sh: changes at a fixed rate, and
the propagation of some of them measured with a probe flow.

  churn.py --variant idgate --rate 100 --seconds 60 --live DIR
  churn.py --variant nft|iptables --rate 100 --seconds 60

Runs in the DUT's network namespace (the commands of nft and iptables act
there; the probe's receive socket binds there). The rule model is
bench/gen_rules.py's at N = 10 000 (5000 clients, ports 20000 and 20001).

Changes, in a fixed cycle: a rule edited (one client's port moved), an
endpoint added, a rule for it added, a rule edited, the oldest churn
endpoint's rule removed, the endpoint removed. idgate: files written into the config
directory (hidden name, then renamed in; removal by unlink). nft: `add/
delete element` on the verdict map, one command per change. iptables:
-A/-D lines for `iptables-restore --noflush`, one block per change.
To nft and iptables a source is only a rule: their endpoint changes are
rule edits. nft and iptables-restore each run as one process for the
whole run, fed a change at a time (no process start per change: the
baselines at their best); a tool error fails the run.

Every P-th change (P = rate / 4, at least 1) is instead a probe change:
allow, then deny, the probe 10.2.0.1 -> UDP 6000 (bench/tools/udpprobe.py
sends one datagram every 100 us). The propagation of an allow is the
kernel receive time of the first datagram after it minus the time just
before the change was made; it counts only when the probe was denied
until then (no datagram in the 20 ms before).

Prints one JSON object: changes made, rate reached, probe allows
measured, their propagation (ms) p50/p99/max, the ones that did not
count and why, and the driver's children's CPU (nft/iptables processes).
"""
import argparse
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

SERVER = "10.0.0.2"
PROBE = "10.2.0.1"
PORT = 6000
N_CLIENTS = 5000
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TS = struct.Struct("@qq")
DENIED_GAP_NS = 20_000_000


def client(i):
    return "10.1.%d.%d" % ((i + 1) // 256, (i + 1) % 256)


def churn_ip(k):
    return "10.3.%d.%d" % (k // 250 % 250, k % 250 + 1)


class Idgate:
    """Changes as files in the daemon's config directory."""
    RULE = re.compile(r'port: "(\d+)"')

    def __init__(self, live):
        self.live = live
        self.pol = sorted(f for f in os.listdir(live) if re.match(r"p\d+\.yaml$", f))

    def put(self, name, text):
        tmp = os.path.join(self.live, "." + name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.live, name))

    def rm(self, name):
        os.unlink(os.path.join(self.live, name))

    def edit(self, rng):
        name = rng.choice(self.pol)
        with open(os.path.join(self.live, name)) as f:
            text = f.read()
        ms = list(self.RULE.finditer(text))
        m = rng.choice(ms)
        port = 20000 + (int(m.group(1)) - 20000 + 1 + rng.randrange(50)) % 100
        self.put(name, text[:m.start(1)] + str(port) + text[m.end(1):])

    def ep_add(self, k):
        self.put(f"ep-churn-{k}.yaml",
                 "apiVersion: idgate.io/v1\nkind: Endpoint\n"
                 f"metadata:\n  name: churn-{k}\n  labels: {{app: churn-{k}}}\n"
                 f"spec:\n  node: gen\n  ips: [{churn_ip(k)}]\n")

    def rule_add(self, k):
        self.put(f"pol-churn-{k}.yaml",
                 "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
                 f"metadata:\n  name: churn-{k}\nspec:\n"
                 "  endpointSelector:\n    matchLabels: {app: server}\n"
                 f"  ingress:\n  - fromEndpoints: [{{matchLabels: {{app: churn-{k}}}}}]\n"
                 '    toPorts: [{ports: [{port: "30000", protocol: TCP}]}]\n')

    def ep_del(self, k):
        self.rm(f"ep-churn-{k}.yaml")

    def rule_del(self, k):
        self.rm(f"pol-churn-{k}.yaml")

    def probe(self, allow):
        if allow:
            self.put("zz-probe.yaml",
                     "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
                     "metadata:\n  name: churn-probe\nspec:\n"
                     "  endpointSelector:\n    matchLabels: {app: server}\n"
                     "  ingress:\n  - fromEndpoints: [{matchLabels: {app: probe}}]\n"
                     f'    toPorts: [{{ports: [{{port: "{PORT}", protocol: UDP}}]}}]\n')
        else:
            self.rm("zz-probe.yaml")


class Piped:
    """One long-lived process reading a change a line (nft -i) or a
    block (iptables-restore --noflush): no process start per change, the
    baselines at their best. Errors go to err_path."""
    def __init__(self, argv, err_path):
        self.err_path = err_path
        self.err = open(err_path, "w")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=self.err, text=True)

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def close(self):
        """Ends the process (its CPU then counts as the driver's
        children's); returns its error lines."""
        self.p.stdin.close()
        self.p.wait()
        self.err.close()
        with open(self.err_path) as f:
            return [l for l in f.read().splitlines() if l.strip()]


class Baseline(Piped):
    """The rule model as rules of a filter tool: each client's one port
    (20000 at start), moved by an edit. A source is only a rule to these
    tools: an endpoint change is a rule edit."""
    def __init__(self, argv, rng, err_path):
        super().__init__(argv, err_path)
        self.rng = rng
        self.ports = {i: 20000 for i in range(N_CLIENTS)}

    def edit(self, rng):
        i = rng.randrange(N_CLIENTS)
        old = self.ports[i]
        new = 20002 + (old - 20000 + rng.randrange(50)) % 90
        self.move(client(i), old, new)
        self.ports[i] = new

    def ep_add(self, k):
        self.edit(self.rng)

    def ep_del(self, k):
        self.edit(self.rng)


class Nft(Baseline):
    """Elements of the verdict map: one nft -i, a command line a change."""
    def __init__(self, rng, err_path):
        super().__init__(["nft", "-i"], rng, err_path)

    def run(self, cmd):
        self.send(cmd + "\n")

    def el(self, ip, proto, port):
        return f"{ip} . {proto} . {port}"

    def move(self, ip, old, new):
        self.run(f"delete element inet idgbench allow {{ {self.el(ip, 'tcp', old)} }} ; "
                 f"add element inet idgbench allow {{ {self.el(ip, 'tcp', new)} : accept }}")

    def rule_add(self, k):
        self.run(f"add element inet idgbench allow {{ {self.el(churn_ip(k), 'tcp', 30000)} : accept }}")

    def rule_del(self, k):
        self.run(f"delete element inet idgbench allow {{ {self.el(churn_ip(k), 'tcp', 30000)} }}")

    def probe(self, allow):
        verb = "add" if allow else "delete"
        tail = " : accept" if allow else ""
        self.run(f"{verb} element inet idgbench allow {{ {self.el(PROBE, 'udp', PORT)}{tail} }}")


class Iptables(Baseline):
    """Rules of the INPUT chain: one iptables-restore --noflush, a
    *filter ... COMMIT block a change (each COMMIT is applied as read)."""
    def __init__(self, rng, err_path):
        super().__init__(["iptables-restore", "--noflush"], rng, err_path)

    def restore(self, lines):
        self.send("*filter\n" + "\n".join(lines) + "\nCOMMIT\n")

    def rule(self, op, ip, proto, port):
        return f"{op} INPUT -s {ip}/32 -p {proto} -m {proto} --dport {port} -j ACCEPT"

    def move(self, ip, old, new):
        self.restore([self.rule("-D", ip, "tcp", old), self.rule("-A", ip, "tcp", new)])

    def rule_add(self, k):
        self.restore([self.rule("-A", churn_ip(k), "tcp", 30000)])

    def rule_del(self, k):
        self.restore([self.rule("-D", churn_ip(k), "tcp", 30000)])

    def probe(self, allow):
        op = "-I" if allow else "-D"
        self.restore([self.rule(op, PROBE, "udp", PORT)])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=["idgate", "nft", "iptables"])
    ap.add_argument("--rate", type=float, required=True, help="changes per second")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--live", help="idgate: the daemon's config directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--errors", default="/dev/null",
                    help="nft/iptables: where their error output goes")
    a = ap.parse_args()
    if a.variant == "idgate" and not a.live:
        ap.error("--live is needed for idgate")
    rng = random.Random(a.seed)
    drv = {"idgate": lambda: Idgate(a.live), "nft": lambda: Nft(rng, a.errors),
           "iptables": lambda: Iptables(rng, a.errors)}[a.variant]()

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.bind((SERVER, PORT))
    rx.setblocking(False)
    arrivals = []

    def drain():
        while True:
            try:
                _, anc, _, _ = rx.recvmsg(64, socket.CMSG_SPACE(TS.size))
            except BlockingIOError:
                return
            for lvl, typ, data in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    s, ns = TS.unpack(data[:TS.size])
                    arrivals.append(s * 1_000_000_000 + ns)

    # About four probe changes a second: an allow and the deny after it
    # are 250 ms apart, room for the slowest propagation to show.
    probe_every = max(1, int(round(a.rate / 4)))
    cycle = ["edit", "ep_add", "rule_add", "edit", "rule_del", "ep_del"]
    live_churn = []  # churn ids with an endpoint (and maybe a rule)
    next_k = 0
    allow_t0, deny_t0 = [], []
    allowed = False
    c0 = os.times()
    start = time.monotonic()
    n = 0
    filler = 0
    lag_max = 0.0
    while True:
        due = start + n / a.rate
        # A driver that cannot keep the rate still stops on time: the
        # rate it reached says how far behind it fell.
        if due - start >= a.seconds or time.monotonic() - start >= a.seconds:
            break
        while True:
            now = time.monotonic()
            if now >= due:
                break
            drain()
            time.sleep(min(0.0005, due - now))
        lag_max = max(lag_max, time.monotonic() - due)
        if n % probe_every == probe_every - 1:
            allowed = not allowed
            (allow_t0 if allowed else deny_t0).append(time.time_ns())
            drv.probe(allowed)
        else:
            kind = cycle[filler % len(cycle)]
            filler += 1
            if kind == "edit":
                drv.edit(rng)
            elif kind == "ep_add":
                drv.ep_add(next_k)
                live_churn.append([next_k, False])
                next_k += 1
            elif kind == "rule_add":
                for e in live_churn:
                    if not e[1]:
                        drv.rule_add(e[0])
                        e[1] = True
                        break
            elif kind == "rule_del":
                for e in live_churn:
                    if e[1]:
                        drv.rule_del(e[0])
                        e[1] = False
                        break
            elif kind == "ep_del" and live_churn and not live_churn[0][1]:
                drv.ep_del(live_churn.pop(0)[0])
        n += 1
        drain()
    elapsed = time.monotonic() - start
    # The last changes get time to arrive.
    end = time.monotonic() + 2
    while time.monotonic() < end:
        drain()
        time.sleep(0.001)
    if allowed:
        drv.probe(False)
    errors = drv.close() if isinstance(drv, Piped) else []
    c1 = os.times()
    arrivals.sort()

    import bisect
    props, not_denied, lost = [], 0, 0
    for i, t0 in enumerate(allow_t0):
        j = bisect.bisect_right(arrivals, t0)
        if j > 0 and arrivals[j - 1] > t0 - DENIED_GAP_NS:
            not_denied += 1  # the deny before had not taken effect yet
            continue
        # The next deny may remove the allow before a datagram arrives.
        limit = deny_t0[i] if i < len(deny_t0) else float("inf")
        if j >= len(arrivals) or arrivals[j] > limit + 5_000_000_000:
            lost += 1
            continue
        props.append((arrivals[j] - t0) / 1e6)
    props.sort()

    def pct(p):
        if not props:
            return None
        return props[min(len(props) - 1, int(round(p / 100 * (len(props) - 1))))]
    print(json.dumps({
        "variant": a.variant, "rate": a.rate, "seconds": round(elapsed, 3),
        "changes": n, "rate_reached": round(n / elapsed, 1),
        "lag_max_ms": round(lag_max * 1e3, 1),
        "probe_allows": len(allow_t0), "measured": len(props),
        "not_denied_before": not_denied, "lost": lost,
        "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": props[-1] if props else None,
        "children_cpu_s": round((c1.children_user - c0.children_user) +
                                (c1.children_system - c0.children_system), 3),
        "driver_cpu_s": round((c1.user - c0.user) + (c1.system - c0.system), 3),
        "tool_errors": len(errors),
    }))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
