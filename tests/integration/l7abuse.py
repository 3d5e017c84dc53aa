#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What a hostile client tries on an L7 port, from one source address:
  l7abuse.py SRC DST PORT
Each case prints "ok CASE ..." or "FAIL CASE ...": a malformed request
line, an oversized header, a request smuggled in a body (Content-Length
with Transfer-Encoding), a client that sends its headers too slowly
while another one is served. Exits 1 if any case failed."""
import socket
import sys
import time

SRC, DST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
FAILS = 0


def conn(timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((SRC, 0))
    s.connect((DST, PORT))
    return s


def recv_all(s):
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    return data


def statuses(data):
    return [int(l.split()[1]) for l in data.split(b"\r\n") if l.startswith(b"HTTP/1.")]


def report(name, good, detail):
    global FAILS
    print("%s %s: %s" % ("ok" if good else "FAIL", name, detail))
    FAILS += not good


def one(req, timeout=3):
    s = conn(timeout)
    s.sendall(req)
    data = recv_all(s)
    s.close()
    return data


def main():
    # Malformed: refused with 400, nothing reaches the server.
    st = statuses(one(b"GARBAGE\r\n\r\n"))
    report("malformed request line", st[:1] == [400], st)
    # A header over HAProxy's buffer: refused, not passed in pieces.
    big = b"GET /api/v1/users/1 HTTP/1.1\r\nHost: b\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    st = statuses(one(big))
    report("oversized header", st[:1] and st[0] in (400, 431), st)
    # Smuggling: an allowed GET whose body, by Transfer-Encoding, ends at
    # once, and by Content-Length holds a denied request. Whatever the
    # proxy makes of it, the denied one must get a 403, never a 200.
    inner = b"GET /api/v1/admin/metrics HTTP/1.1\r\nHost: b\r\n\r\n"
    body = b"0\r\n\r\n" + inner
    req = (b"GET /api/v1/users/1 HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" % len(body)) + body
    data = one(req)
    st = statuses(data)
    report("Content-Length with Transfer-Encoding", 200 not in st[1:] and (not st or st[0] in (200, 400)), st)
    # A slowloris client while another is served.
    slow = conn(15)
    slow.sendall(b"GET /api/v1/users/1 HTTP/1.1\r\n")
    t0 = time.time()
    st = statuses(one(b"GET /api/v1/users/2 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"))
    report("served beside a slow client", st[:1] == [200] and time.time() - t0 < 2, (st, round(time.time() - t0, 2)))
    for _ in range(3):
        try:
            slow.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
        time.sleep(1)
    slow.close()
    sys.exit(1 if FAILS else 0)


main()
