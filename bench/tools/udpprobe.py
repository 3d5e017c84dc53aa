#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""UDP probe flow for the propagation benchmark (bench/propagation.sh).

  udpprobe.py send --src 10.2.0.1 --dst 10.0.0.2 --port 6000 --interval-us 100
  udpprobe.py recv --bind 10.0.0.2 --port 6000

send: one datagram every --interval-us until SIGTERM/SIGINT. Payload: the
sequence number and the CLOCK_REALTIME ns of sending (both u64, network
order).

recv: prints "ready", then takes one command a line on stdin and answers
one line on stdout:
  quiet MS   -> "quiet" if no datagram arrived in the next MS ms,
                else "open COUNT"
  arm MS     -> "armed" at once (or "open COUNT" when datagrams arrived
                since the last "quiet" answer: the flow was not denied);
                then "got RX_NS SEQ TX_NS USER_NS" for the first datagram
                received after arming, or "timeout" after MS ms
  quit       -> exits (so does EOF)
RX_NS is the kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME,
taken when the packet entered the stack, so a busy receiver does not delay
it), USER_NS the CLOCK_REALTIME ns at which this process read it.
CLOCK_REALTIME because kernel socket timestamps use no other clock; the
harness takes its start time with bash's $EPOCHREALTIME to match.
"""
import argparse
import ctypes
import os
import select
import signal
import socket
import struct
import sys
import time

PAYLOAD = struct.Struct("!QQ")
# Not exported by Python's socket module; the value on every Linux arch
# but a few (alpha, mips, parisc, sparc) where this benchmark does not run.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TS = struct.Struct("@qq")
PR_SET_TIMERSLACK = 29


def cmd_send(a):
    # The default 50 us timer slack would stretch every 100 us sleep by
    # half; 1 us keeps the probe interval near what was asked.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    dst = (a.dst, a.port)
    interval = a.interval_us * 1000
    stop = False

    def on_signal(_sig, _frm):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("ready", flush=True)
    seq = sent = errors = 0
    start = nxt = time.monotonic_ns()
    while not stop:
        try:
            s.sendto(PAYLOAD.pack(seq, time.time_ns()), dst)
            sent += 1
        except OSError:
            errors += 1
        seq += 1
        nxt += interval
        now = time.monotonic_ns()
        if nxt > now:
            time.sleep((nxt - now) / 1e9)
        elif now - nxt > 10 * interval:
            nxt = now  # fell behind (descheduled): no catch-up burst
    secs = (time.monotonic_ns() - start) / 1e9
    print(f"sent {sent} errors {errors} in {secs:.1f} s"
          f" ({sent / secs if secs else 0:.0f}/s)", file=sys.stderr)


def cmd_recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((a.bind, a.port))
    s.setblocking(False)
    cmsg_space = socket.CMSG_SPACE(TS.size)
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)
    buf = b""

    def say(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    state, deadline, count = "idle", None, 0
    since_quiet = 0  # datagrams since the last "quiet" answer
    say("ready")
    while True:
        timeout = None
        if deadline is not None:
            timeout = max(0.0, (deadline - time.monotonic_ns()) / 1e9)
        readable, _, _ = select.select([s, stdin], [], [], timeout)

        # Datagrams first: whatever is queued arrived before any command
        # read in this round.
        if s in readable:
            while True:
                try:
                    data, anc, _flags, _addr = s.recvmsg(64, cmsg_space)
                except BlockingIOError:
                    break
                user_ns = time.time_ns()
                since_quiet += 1
                count += 1
                if state != "armed":
                    continue
                rx_ns = user_ns
                for level, typ, val in anc:
                    if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                        sec, nsec = TS.unpack(val[:TS.size])
                        rx_ns = sec * 1_000_000_000 + nsec
                seq, tx_ns = PAYLOAD.unpack(data[:PAYLOAD.size]) \
                    if len(data) >= PAYLOAD.size else (0, 0)
                say(f"got {rx_ns} {seq} {tx_ns} {user_ns}")
                state, deadline = "idle", None

        if deadline is not None and time.monotonic_ns() >= deadline:
            if state == "quiet":
                if count == 0:
                    since_quiet = 0
                    say("quiet")
                else:
                    say(f"open {count}")
            elif state == "armed":
                say("timeout")
            state, deadline = "idle", None

        if stdin in readable:
            chunk = os.read(stdin, 4096)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.decode().split()
                if not words:
                    continue
                if words[0] == "quit":
                    return
                if words[0] not in ("quiet", "arm") or len(words) != 2:
                    say(f"error unknown command: {line.decode()}")
                    continue
                ms = int(words[1])
                if words[0] == "arm" and since_quiet:
                    say(f"open {since_quiet}")
                    continue
                state, count = words[0], 0
                deadline = time.monotonic_ns() + ms * 1_000_000
                if state == "arm":
                    state = "armed"
                    say("armed")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send", help="send the probe flow until killed")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--interval-us", type=int, default=100)
    p = sub.add_parser("recv", help="report the first datagram after each arm")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "send":
        cmd_send(a)
    else:
        cmd_recv(a)


if __name__ == "__main__":
    main()
