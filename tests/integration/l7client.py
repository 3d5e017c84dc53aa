#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The HTTP ends of the L7 tests.

  l7client.py serve ADDR PORT [LOG]
                                   a backend answering 200 "ok CLIENT-ADDRESS"
                                   to any method; LOG: "METHOD PATH" a line
                                   for each request it served
  l7client.py check REQUESTS.TSV [DST]
                                   sends each request (l7gen.c's format) from
                                   its source address to DST (10.77.0.1) over
                                   keep-alive connections; prints every answer
                                   that is not the expected status, or a 200
                                   whose server saw another client address;
                                   exits 1 if any
"""
import http.server
import socket
import sys


class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log = None

    def answer(self):
        if Backend.log:
            with open(Backend.log, "a") as f:
                f.write("%s %s\n" % (self.command, self.path))
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = ("ok %s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def __getattr__(self, name):
        # do_GET, do_get, do_PATCH...: every method gets the same answer.
        if name.startswith("do_"):
            return self.answer
        raise AttributeError(name)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The proxy resets its connections when a test stops it.
        pass


def read_response(f, method):
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = 0
    close = False
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
        if k.strip().lower() == "connection" and v.strip().lower() == "close":
            close = True
    body = f.read(length) if method != "HEAD" and length else b""
    return status, body, close


class Conn:
    def __init__(self, src, dst, port):
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.bind((src, 0))
        self.sock.connect((dst, port))
        self.f = self.sock.makefile("rb")

    def close(self):
        self.f.close()
        self.sock.close()


def check(path, dst="10.77.0.1"):
    conns = {}
    bad = total = reused = closed = 0
    for line in open(path):
        src, port, method, target, host, hdrs, want = line.rstrip("\n").split("\t")
        port, want = int(port), int(want)
        req = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, host)
        for h in filter(None, hdrs.split("|")):
            req += h + "\r\n"
        if method not in ("GET", "HEAD", "get"):
            req += "Content-Length: 0\r\n"
        req += "\r\n"
        key = (src, port)
        for attempt in (0, 1):
            c = conns.get(key)
            if c is None:
                c = conns[key] = Conn(src, dst, port)
            elif attempt == 0:
                reused += 1
            try:
                c.sock.sendall(req.encode("latin-1"))
                status, body, close = read_response(c.f, method)
                break
            except (ConnectionError, OSError, IndexError, ValueError):
                c.close()
                del conns[key]
                closed += 1
                if attempt:
                    raise
        if close:
            closed += 1
            c.close()
            del conns[key]
        total += 1
        ok = status == want and (status != 403 or method == "HEAD" or body == b"Access denied")
        # The server sees the client's own address, through the proxy too.
        if ok and status == 200 and method != "HEAD" and body.split()[1:2] != [src.encode()] \
                and not body.startswith(b"ok 127."):
            ok = False
        if not ok:
            bad += 1
            print("MISMATCH %s:%d %s %s host=%s [%s]: want %d, got %d %r"
                  % (src, port, method, target, host, hdrs, want, status, body[:40]))
    for c in conns.values():
        c.close()
    # A denial answers and keeps the connection, as Envoy does for Cilium.
    print("%d requests, %d on a reused connection, %d closed by the proxy, %d mismatches"
          % (total, reused, closed, bad))
    return 1 if bad or closed else 0


def main():
    if sys.argv[1] == "serve":
        Backend.log = sys.argv[4] if len(sys.argv) > 4 else None
        if ":" in sys.argv[2]:
            Server.address_family = socket.AF_INET6
        srv = Server((sys.argv[2], int(sys.argv[3])), Backend)
        srv.serve_forever()
    elif sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], *sys.argv[3:4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
