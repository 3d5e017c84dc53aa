#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""One rule model, written out for each filter the benchmark compares.

The model: 5000 remote endpoints (one identity each) and N allow rules
towards the server 10.0.0.2. Rule j < N-1 allows client j % 5000 to TCP
port 20000 + j // 5000; the last rule allows the probe host (10.2.0.1) to
the ports the latency, connection and throughput tools use, so in a
linear chain the benchmark's allowed traffic matches the last rule.
Anything else, e.g. the UDP flood to port 9, is denied.

--change moves rule N//2 to "probe -> UDP 6000" (the propagation test's
one changed rule among N). With --probe-file (a config directory only),
the change is an endpoint instead: rule N//2 is "probe -> UDP 6000" in
both sets, and the probe's Endpoint is a file of its own, ep-probe.yaml,
present only with --change (without it, the probe's address is the
world's and the rule selects no one).

  gen_rules.py --kind iptables --n 1000 > rules.v4 && iptables-restore rules.v4
  gen_rules.py --kind nft --n 1000 > rules.nft && nft -f rules.nft
  gen_rules.py --kind nft-netdev --n 1000 --uplink tap0 > rules.nft
  gen_rules.py --kind idgate --n 1000 --xdp-mode tc > idgate.yaml
  gen_rules.py --kind idgate --n 10000 --dir idgate.d   (a config directory:
      00-base.yaml with the nodes and endpoints, then one policy file per
      100 rules, so --change changes one file)
"""
import os
import argparse
import ipaddress
import sys

N_ENDPOINTS = 5000
SERVER = "10.0.0.2"
CLIENT_BASE = ipaddress.IPv4Address("10.1.0.1")
PROBE = "10.2.0.1"
PROBE_TCP_PORTS = (5201, 7000, 11111)  # iperf3, connrate, sockperf
CHANGE_PORT = 6000  # UDP, allowed only after --change
NFT_TABLE = "idgbench"


def client_ip(i):
    return str(CLIENT_BASE + i)


def rules(n, change):
    """(src, proto, ports) per rule, in chain order."""
    out = []
    for j in range(n - 1):
        out.append((client_ip(j % N_ENDPOINTS), "tcp", (20000 + j // N_ENDPOINTS,)))
    out.append((PROBE, "tcp", PROBE_TCP_PORTS))
    if change:
        out[n // 2 if n > 1 else 0] = (PROBE, "udp", (CHANGE_PORT,))
    return out


def iptables(n, change, ct):
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD ACCEPT [0:0]",
             ":OUTPUT ACCEPT [0:0]"]
    if ct:
        lines.append("-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
    for src, proto, ports in rules(n, change):
        if len(ports) == 1:
            match = f"-m {proto} --dport {ports[0]}"
        else:
            match = "-m multiport --dports " + ",".join(map(str, ports))
        lines.append(f"-A INPUT -s {src}/32 -p {proto} {match} -j ACCEPT")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def nft(n, change):
    # nftables at its best: one verdict map keyed on source, protocol and
    # port, one hash lookup per packet whatever N is. Flushing the table
    # in the same file makes the reload atomic, like iptables-restore.
    elems = []
    for src, proto, ports in rules(n, change):
        for p in ports:
            elems.append(f"{src} . {proto} . {p} : accept")
    return "\n".join([
        f"table inet {NFT_TABLE}",
        f"delete table inet {NFT_TABLE}",
        f"table inet {NFT_TABLE} {{",
        "  map allow {",
        "    type ipv4_addr . inet_proto . inet_service : verdict",
        "    elements = { " + ",\n      ".join(elems) + " }",
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        "    meta nfproto ipv4 ip saddr . meta l4proto . th dport vmap @allow",
        f"    ip daddr {SERVER} counter drop",
        "  }",
        "}",
    ]) + "\n"


def nft_netdev(n, change, dev):
    # The same verdict map at the netdev ingress hook of one device: the
    # earliest nftables sees a packet, once its skb exists.
    elems = []
    for src, proto, ports in rules(n, change):
        for p in ports:
            elems.append(f"{src} . {proto} . {p} : accept")
    return "\n".join([
        f"table netdev {NFT_TABLE}",
        f"delete table netdev {NFT_TABLE}",
        f"table netdev {NFT_TABLE} {{",
        "  map allow {",
        "    type ipv4_addr . inet_proto . inet_service : verdict",
        "    elements = { " + ",\n      ".join(elems) + " }",
        "  }",
        "  chain ingress {",
        f'    type filter hook ingress device "{dev}" priority filter; policy accept;',
        "    meta protocol ip ip saddr . meta l4proto . th dport vmap @allow",
        f"    meta protocol ip ip daddr {SERVER} counter drop",
        "  }",
        "}",
    ]) + "\n"


def xdp_filter(n, change):
    # xdp-filter (xdp-tools) in deny mode passes a packet that matches any
    # one of its entries: it has no pairs, and allowing the model's
    # sources would let their flood through. Its closest reading of the
    # model: the probe's address and every TCP port a rule allows. One
    # "KIND VALUE" line each, for `xdp-filter ip|port`.
    out = [f"ip {PROBE}"]
    ports = sorted({p for _, proto, ps in rules(n, change) if proto == "tcp" for p in ps})
    out += [f"port {p}" for p in ports]
    return "\n".join(out) + "\n"


RULES_PER_FILE = 100


PROBE_ENDPOINT = f"""apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: probe
  labels: {{app: probe}}
spec:
  node: gen
  ips: [{PROBE}]
"""


def idgate(n, change, xdp_mode, uplink, peer_uplink, split=False,
           probe_file=False):
    """The config as one stream, or (split) as {file name: text}."""
    with_probe = not probe_file or change
    if probe_file:
        change = True
    out = [f"""# Generated by bench/gen_rules.py: {n} rules over {N_ENDPOINTS} endpoints.
apiVersion: idgate.io/v1
kind: Node
metadata:
  name: dut
spec:
  cluster: bench
  clusterID: 1
  tunnelIP: 192.168.77.2
  interfaces:
    uplink: {uplink}
  xdpMode: {xdp_mode}
---
apiVersion: idgate.io/v1
kind: Node
metadata:
  name: gen
spec:
  cluster: bench
  clusterID: 1
  tunnelIP: 192.168.77.1
  interfaces:
    uplink: {peer_uplink}
---
apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: server
  labels: {{app: server}}
spec:
  node: dut
  ips: [{SERVER}]
""" + ("" if probe_file else "---\n" + PROBE_ENDPOINT)]
    for i in range(N_ENDPOINTS):
        out.append(f"""---
apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: client-{i}
  labels: {{app: client-{i}}}
spec:
  node: gen
  ips: [{client_ip(i)}]
""")
    by_ip = {client_ip(i): f"client-{i}" for i in range(N_ENDPOINTS)}
    by_ip[PROBE] = "probe"
    lines = []
    for src, proto, ports in rules(n, change):
        plist = ", ".join(f'{{port: "{p}", protocol: {proto.upper()}}}' for p in ports)
        lines.append(f"  - fromEndpoints: [{{matchLabels: {{app: {by_ip[src]}}}}}]\n"
                     f"    toPorts: [{{ports: [{plist}]}}]\n")

    def policy(name, body):
        return (f"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
                f"metadata:\n  name: {name}\nspec:\n  endpointSelector:\n"
                f"    matchLabels: {{app: server}}\n  ingress:\n" + "".join(body))
    if not split:
        return "".join(out) + "---\n" + policy("bench", lines)
    files = {"00-base.yaml": "".join(out)}
    if probe_file and with_probe:
        files["ep-probe.yaml"] = PROBE_ENDPOINT
    for k in range(0, len(lines), RULES_PER_FILE):
        i = k // RULES_PER_FILE
        files[f"p{i:03d}.yaml"] = policy(f"bench-{i:03d}", lines[k:k + RULES_PER_FILE])
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", required=True,
                    choices=["iptables", "iptables-ct", "nft", "nft-netdev",
                             "xdp-filter", "idgate"])
    ap.add_argument("--n", type=int, required=True, help="number of rules, >= 1")
    ap.add_argument("--change", action="store_true",
                    help="rule N//2 becomes probe -> UDP 6000")
    ap.add_argument("--xdp-mode", default="auto",
                    choices=["auto", "native", "skb", "tc"])
    ap.add_argument("--uplink", default="vd",
                    help="the server node's uplink (nft-netdev: the device)")
    ap.add_argument("--peer-uplink", default="vg")
    ap.add_argument("--dir", help="idgate: write a config directory here")
    ap.add_argument("--probe-file", action="store_true",
                    help="--dir: the change adds the probe's endpoint "
                         "(ep-probe.yaml) instead of changing a rule")
    a = ap.parse_args()
    if a.probe_file and not a.dir:
        ap.error("--probe-file is for --dir")
    if a.n < 1:
        ap.error("--n must be at least 1")
    if a.dir:
        if a.kind != "idgate":
            ap.error("--dir is for --kind idgate")
        os.makedirs(a.dir, exist_ok=True)
        for name, text in idgate(a.n, a.change, a.xdp_mode, a.uplink,
                                 a.peer_uplink, split=True,
                                 probe_file=a.probe_file).items():
            with open(os.path.join(a.dir, name), "w") as f:
                f.write(text)
        return
    if a.kind == "idgate":
        text = idgate(a.n, a.change, a.xdp_mode, a.uplink, a.peer_uplink)
    elif a.kind == "nft":
        text = nft(a.n, a.change)
    elif a.kind == "nft-netdev":
        text = nft_netdev(a.n, a.change, a.uplink)
    elif a.kind == "xdp-filter":
        text = xdp_filter(a.n, a.change)
    else:
        text = iptables(a.n, a.change, a.kind == "iptables-ct")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
