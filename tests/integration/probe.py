#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Real sockets for the integration tests (stdlib only).

  probe.py serve-tcp ADDR PORT [PORT ...]   echo one line per connection
  probe.py tcp SRC DST PORT                 exit 0 if a connect+echo works
  probe.py serve-udp ADDR PORT [PORT ...]   echo every datagram
  probe.py udp SRC DST PORT                 exit 0 if a datagram is echoed
  probe.py udp-sink ADDR PORT SECONDS       count datagrams, print the count
  probe.py udp-stream SRC DST PORT PPS SECONDS
                                            send numbered datagrams, print count
  probe.py serve-whoami ADDR PORT           tell each client its address, then echo
  probe.py whoami SRC DST PORT [SPORT]      print the address serve-whoami saw
  probe.py whoami-hold SRC DST PORT WANT SECONDS
                                            connect until the server sees WANT,
                                            then keep that connection busy
  probe.py whoami-series SRC DST PORT INTERVAL SECONDS
                                            a new connection every INTERVAL s,
                                            each on its own thread; per try:
                                            "START_NS ADDR MS": what
                                            serve-whoami saw ("-": nothing)
                                            and the ms until it answered
  probe.py tcp-idle SRC DST PORT FILE       to serve-whoami: read its line, print
                                            "held", stay idle until FILE exists,
                                            then exit 0 if a line is echoed
  probe.py syn-flood IFACE DMAC SRCS DST DPORT COUNT [PAYLOAD]
                                            COUNT TCP SYNs out of IFACE (raw),
                                            each a new flow: source ports
                                            1024-65535 of each address of
                                            SRCS (comma-separated) in turn,
                                            with PAYLOAD zero bytes each
  probe.py udp-forge SRC SPORT DST DPORT SECONDS HEX [HEX ...]
                                            from SRC:SPORT, every 100 ms: each
                                            HEX payload as is (a replay) and
                                            with all but its first 4 bytes
                                            random (a forgery)
"""
import os
import threading
import selectors
import socket
import struct
import sys
import time

from forge import csum

TIMEOUT = 1.5


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve_tcp(addr, ports):
    sel = selectors.DefaultSelector()
    for p in ports:
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, int(p)))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept()
            conn.settimeout(TIMEOUT)
            try:
                data = conn.recv(256)
                conn.sendall(data)
            except OSError:
                pass
            conn.close()


def tcp(src, dst, port):
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    try:
        s.connect((dst, int(port)))
        s.sendall(b"ping\n")
        return 0 if s.recv(16) == b"ping\n" else 1
    except OSError:
        return 1
    finally:
        s.close()


def serve_udp(addr, ports):
    sel = selectors.DefaultSelector()
    for p in ports:
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.bind((addr, int(p)))
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            data, peer = key.fileobj.recvfrom(2048)
            key.fileobj.sendto(data, peer)


def udp(src, dst, port):
    s = socket.socket(family(dst), socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    try:
        s.sendto(b"ping", (dst, int(port)))
        data, _ = s.recvfrom(16)
        return 0 if data == b"ping" else 1
    except OSError:
        return 1
    finally:
        s.close()


def udp_sink(addr, port, seconds):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, int(port)))
    print("ready", flush=True)
    seen = set()
    end = time.monotonic() + float(seconds)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, _ = s.recvfrom(64)
        except socket.timeout:
            break
        seen.add(int(data))
    print(len(seen), flush=True)
    return 0


def udp_stream(src, dst, port, pps, seconds):
    s = socket.socket(family(dst), socket.SOCK_DGRAM)
    s.bind((src, 0))
    gap = 1.0 / float(pps)
    n = int(float(pps) * float(seconds))
    start = time.monotonic()
    for i in range(n):
        s.sendto(str(i).encode(), (dst, int(port)))
        delay = start + (i + 1) * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(n, flush=True)
    return 0


def serve_whoami(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(64)
    print("ready", flush=True)

    def handle(conn, peer):
        with conn:
            try:
                conn.sendall((peer[0] + "\n").encode())
                while True:
                    data = conn.recv(256)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return

    while True:
        conn, peer = s.accept()
        threading.Thread(target=handle, args=(conn, peer), daemon=True).start()


def whoami_once(src, dst, port, sport=0):
    """The address serve-whoami saw, or "" when it did not answer."""
    c = socket.socket(family(dst), socket.SOCK_STREAM)
    c.settimeout(TIMEOUT)
    try:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind((src, int(sport)))
        c.connect((dst, int(port)))
        return c.makefile().readline().strip()
    except OSError:
        return ""
    finally:
        c.close()


def whoami(src, dst, port, sport=0):
    seen = whoami_once(src, dst, port, sport)
    if not seen:
        return 1
    print(seen, flush=True)
    return 0


def whoami_series(src, dst, port, interval, seconds):
    out = []
    lock = threading.Lock()

    def attempt(start):
        seen = whoami_once(src, dst, port)
        ms = (time.time_ns() - start) // 1000000
        with lock:
            out.append((start, seen or "-", ms))

    threads = []
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        t = threading.Thread(target=attempt, args=(time.time_ns(),))
        t.start()
        threads.append(t)
        time.sleep(float(interval))
    for t in threads:
        t.join()
    for start, seen, ms in sorted(out):
        print(start, seen, ms, flush=True)
    return 0


def tcp_idle(src, dst, port, path):
    c = socket.socket(family(dst), socket.SOCK_STREAM)
    c.settimeout(TIMEOUT)
    try:
        c.bind((src, 0))
        c.connect((dst, int(port)))
        f = c.makefile("rb")
        if not f.readline():
            return 1
        print("held", flush=True)
        while not os.path.exists(path):
            time.sleep(0.1)
        c.sendall(b"still here\n")
        return 0 if f.readline() == b"still here\n" else 1
    except OSError as e:
        print("error:", e, flush=True)
        return 1
    finally:
        c.close()


def syn_flood(iface, dmac, srcs, dst, dport, count, payload="0"):
    # PAYLOAD bytes after the TCP header (their checksum is left out): a
    # frame of a page or more leaves AF_PACKET with only the Ethernet
    # header in the skb's linear area, the rest in paged data.
    pad = b"\0" * int(payload)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    smac = s.getsockname()[4]
    eth = bytes.fromhex(dmac.replace(":", "")) + smac + b"\x08\x00"
    daddr = socket.inet_aton(dst)
    frames = []
    for src in srcs.split(","):
        saddr = socket.inet_aton(src)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(pad), 1, 0, 64,
                         6, 0, saddr, daddr)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        # The TCP checksum without the source port, which is added per frame.
        tcp0 = struct.pack("!HHIIBBHHH", 0, int(dport), 1, 0, 5 << 4, 0x02,
                           65535, 0, 0)
        base = 0xFFFF - csum(saddr + daddr + struct.pack("!HH", 6, 20) + tcp0)
        frames.append((eth + ip, tcp0, base))
    sent = 0
    n = int(count)
    while sent < n:
        for sport in range(1024, 65536):
            head, tcp0, base = frames[(sent // 64512) % len(frames)]
            c = base + sport
            c = (c & 0xFFFF) + (c >> 16)
            tcp = struct.pack("!H", sport) + tcp0[2:16] + \
                struct.pack("!H", 0xFFFF - c) + tcp0[18:]
            s.send(head + tcp + pad)
            sent += 1
            if sent == n:
                break
    print("sent", sent, flush=True)
    return 0


def whoami_hold(src, dst, port, want, seconds):
    for _ in range(64):
        c = socket.socket(family(dst), socket.SOCK_STREAM)
        c.settimeout(TIMEOUT)
        c.bind((src, 0))
        try:
            c.connect((dst, int(port)))
            seen = c.makefile().readline().strip()
        except OSError as e:
            print("connect failed:", e, flush=True)
            c.close()
            continue
        if seen == want:
            break
        c.close()
    else:
        print("never reached the server as", want, flush=True)
        return 1
    print("holding", c.getsockname(), "seen as", seen, flush=True)
    end = time.monotonic() + float(seconds)
    n = 0
    while time.monotonic() < end:
        msg = ("ping %d\n" % n).encode()
        try:
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                part = c.recv(len(msg) - len(got))
                if not part:
                    raise OSError("closed")
                got += part
        except OSError as e:
            print("lost after", n, "round trips:", e, flush=True)
            return 1
        n += 1
        time.sleep(0.2)
    print("ok", n, "round trips", flush=True)
    return 0


def udp_forge(src, sport, dst, dport, seconds, payloads):
    s = socket.socket(family(src), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, int(sport)))
    old = [bytes.fromhex(h) for h in payloads]
    print("ready", flush=True)
    end = time.monotonic() + float(seconds)
    n = 0
    while time.monotonic() < end:
        for p in old:
            for d in (p, p[:4] + os.urandom(len(p) - 4)):
                try:
                    s.sendto(d, (dst, int(dport)))
                    n += 1
                except OSError:
                    pass
        time.sleep(0.1)
    print("sent", n, flush=True)
    return 0


def main(argv):
    cmds = {
        "serve-tcp": lambda a: serve_tcp(a[0], a[1:]),
        "tcp": lambda a: tcp(*a),
        "serve-udp": lambda a: serve_udp(a[0], a[1:]),
        "udp": lambda a: udp(*a),
        "udp-sink": lambda a: udp_sink(*a),
        "udp-stream": lambda a: udp_stream(*a),
        "serve-whoami": lambda a: serve_whoami(*a),
        "whoami": lambda a: whoami(*a),
        "whoami-hold": lambda a: whoami_hold(*a),
        "whoami-series": lambda a: whoami_series(*a),
        "tcp-idle": lambda a: tcp_idle(*a),
        "syn-flood": lambda a: syn_flood(*a),
        "udp-forge": lambda a: udp_forge(*a[:5], a[5:]),
    }
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
