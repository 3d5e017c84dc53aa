#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The mesh bench's other nodes (bench/mesh.sh): their Endpoint documents
written to etcd through its JSON gateway, over mutual TLS, as the
administrator. One long-lived process reads commands on stdin and answers
one line each, so that a timed write costs no process start:

  fill                 every node's document (the probe not among them)
  probe on|off         node r0000's document with or without the probe's
                       endpoint; answers "t0 NS", the wall clock just
                       before the write
  churn RATE           from now on, RATE changes a second to other nodes'
                       documents (an endpoint added or removed), from a
                       thread of its own; answers "churning"
  stop                 ends the churn; answers "stopped CHANGES"
  quit
"""
import argparse
import base64
import http.client
import json
import random
import ssl
import sys
import threading
import time


class Store:
    def __init__(self, a):
        host, port = a.endpoint.split("//", 1)[1].rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=a.ca)
        ctx.load_cert_chain(a.cert, a.key)
        self.conn = http.client.HTTPSConnection(host, int(port), context=ctx)
        self.token = None
        self.token = self.call("/v3/auth/authenticate",
                               {"name": a.user, "password": a.password})["token"]

    def call(self, path, body):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = self.token
        self.conn.request("POST", path, json.dumps(body), headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status}: {data[:200]!r}")
        return json.loads(data)

    def put(self, key, value):
        b64 = lambda s: base64.b64encode(s.encode()).decode()
        self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})


def endpoint(name, app, node, ip):
    return ("apiVersion: idgate.io/v1\nkind: Endpoint\n"
            f'metadata: {{name: "{name}", namespace: "bench", labels: {{"app": "{app}"}}}}\n'
            f'spec: {{node: "{node}", ips: ["{ip}"]}}\n')


class Mesh:
    def __init__(self, a):
        self.a = a
        self.extra = {}  # node -> has its churn endpoint

    def node(self, i):
        return f"r{i:04d}"

    def key(self, i):
        return f"{self.a.prefix}/clusters/{self.a.cluster}/{self.node(i)}/endpoints"

    def doc(self, i, probe=False):
        node = self.node(i)
        docs = []
        for k in range(self.a.per_node):
            n = i * self.a.per_node + k
            ip = f"10.128.{n // 250}.{n % 250 + 1}"
            docs.append(endpoint(f"e{i:04d}-{k:02d}", f"w{k % 10}", node, ip))
        if self.extra.get(i):
            docs.append(endpoint(f"x{i:04d}", "extra", node,
                                 f"10.200.{i // 250}.{i % 250 + 1}"))
        if probe:
            docs.append(endpoint("probe", "probe", node, self.a.probe_ip))
        return "---\n".join(docs)


def churn(a, mesh, rate, stop, count):
    store = Store(a)
    period = 1.0 / rate
    nxt = time.monotonic()
    while not stop.is_set():
        i = random.randrange(1, a.nodes)
        mesh.extra[i] = not mesh.extra.get(i)
        store.put(mesh.key(i), mesh.doc(i))
        count[0] += 1
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def main():
    p = argparse.ArgumentParser()
    for o in ("endpoint", "ca", "cert", "key", "user", "password-file", "prefix",
              "cluster", "probe-ip"):
        p.add_argument("--" + o, required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--per-node", type=int, required=True)
    a = p.parse_args()
    a.password = open(a.password_file).read().strip()
    mesh = Mesh(a)
    store = Store(a)
    stop = threading.Event()
    count = [0]
    th = None
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "fill":
            t = time.monotonic()
            for i in range(a.nodes):
                store.put(mesh.key(i), mesh.doc(i))
            print(f"ok {a.nodes} {time.monotonic() - t:.2f}", flush=True)
        elif cmd[0] == "probe":
            doc = mesh.doc(0, probe=cmd[1] == "on")
            t0 = time.time_ns()
            store.put(mesh.key(0), doc)
            print(f"t0 {t0}", flush=True)
        elif cmd[0] == "churn":
            stop.clear()
            count[0] = 0
            th = threading.Thread(target=churn, args=(a, mesh, float(cmd[1]), stop, count))
            th.start()
            print("churning", flush=True)
        elif cmd[0] == "stop":
            stop.set()
            if th:
                th.join()
            print(f"stopped {count[0]}", flush=True)
        elif cmd[0] == "quit":
            break
    stop.set()


if __name__ == "__main__":
    main()
