#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Forged packets and a sniffer for the tunnel trust test (stdlib only).

  forge.py geneve OUTER_SRC OUTER_DST VNI SRC DST SPORT DPORT SEQ [FLAGS]
      IPv4/UDP 6081/GENEVE (Ethernet inside, VNI as given)/IPv4/TCP, sent
      with a raw socket, so OUTER_SRC may be any address
  forge.py geneve-udp BIND DST VNI SRC DST SPORT DPORT SEQ [FLAGS]
      the same tunnel payload from an ordinary UDP socket bound to BIND,
      as any unprivileged process could send it (DST: the outer one)
  forge.py tcp SRC DST SPORT DPORT SEQ [FLAGS]
      one bare IPv4/TCP packet from any source (raw socket)
  forge.py sniff IFACE [src=A] [dst=A] [sport=N] [dport=N] [seq=N]
      print "ready", then one "match ..." line for every received IPv4/TCP
      packet with those fields, until killed

FLAGS is S (SYN, the default) or A (ACK). SEQ marks the packet: the
sniffer finds it by it wherever NAT has rewritten the addresses and ports.
"""
import socket
import struct
import sys

GENEVE_PORT = 6081
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_TEB = 0x6558
PACKET_OUTGOING = 4
TCP_FLAGS = {"S": 0x02, "A": 0x10}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0x4242):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident,
                      0x4000, 64, proto, 0, socket.inet_aton(src),
                      socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def tcp(src, dst, sport, dport, seq, flags):
    f = TCP_FLAGS[flags]
    ack = 1 if f & TCP_FLAGS["A"] else 0
    hdr = struct.pack("!HHIIBBHHH", int(sport), int(dport), int(seq), ack,
                      5 << 4, f, 64240, 0, 0)
    pseudo = struct.pack("!4s4sBBH", socket.inet_aton(src),
                         socket.inet_aton(dst), 0, socket.IPPROTO_TCP,
                         len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    return ipv4(src, dst, socket.IPPROTO_TCP, hdr)


def geneve_payload(vni, inner):
    # Version 0, no options, protocol: Ethernet; the inner MACs are
    # whatever the receiver throws away.
    gnv = struct.pack("!BBHI", 0, 0, ETH_P_TEB, (int(vni) & 0xFFFFFF) << 8)
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", ETH_P_IP)
    return gnv + eth + inner


def send_raw(pkt, dst):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(pkt, (dst, 0))
    finally:
        s.close()
    return 0


def cmd_geneve(a):
    osrc, odst, vni, src, dst, sport, dport, seq = a[:8]
    flags = a[8] if len(a) > 8 else "S"
    payload = geneve_payload(vni, tcp(src, dst, sport, dport, seq, flags))
    # UDP checksum 0: allowed for tunnels over IPv4 (RFC 8926).
    udp = struct.pack("!HHHH", 50000, GENEVE_PORT, 8 + len(payload), 0)
    return send_raw(ipv4(osrc, odst, socket.IPPROTO_UDP, udp + payload), odst)


def cmd_geneve_udp(a):
    bind, odst, vni, src, dst, sport, dport, seq = a[:8]
    flags = a[8] if len(a) > 8 else "S"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((bind, 0))
        s.sendto(geneve_payload(vni, tcp(src, dst, sport, dport, seq, flags)),
                 (odst, GENEVE_PORT))
    finally:
        s.close()
    return 0


def cmd_tcp(a):
    src, dst, sport, dport, seq = a[:5]
    flags = a[5] if len(a) > 5 else "S"
    return send_raw(tcp(src, dst, sport, dport, seq, flags), dst)


def cmd_sniff(a):
    want = dict(kv.split("=", 1) for kv in a[1:])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a[0], 0))
    print("ready", flush=True)
    while True:
        frame, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING or addr[1] != ETH_P_IP:
            continue
        ip = frame[14:]
        if len(ip) < 20 or ip[9] != socket.IPPROTO_TCP:
            continue
        th = ip[(ip[0] & 0xF) * 4:]
        if len(th) < 20:
            continue
        sport, dport, seq = struct.unpack("!HHI", th[:8])
        got = {"src": socket.inet_ntoa(ip[12:16]),
               "dst": socket.inet_ntoa(ip[16:20]),
               "sport": str(sport), "dport": str(dport), "seq": str(seq)}
        if all(got[k] == v for k, v in want.items()):
            print("match %s:%s > %s:%s seq %s flags 0x%02x" %
                  (got["src"], sport, got["dst"], dport, seq, th[13]),
                  flush=True)


def main(argv):
    cmds = {"geneve": (cmd_geneve, 8), "geneve-udp": (cmd_geneve_udp, 8),
            "tcp": (cmd_tcp, 5), "sniff": (cmd_sniff, 1)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    fn, _ = cmds[argv[1]]
    return fn(argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
