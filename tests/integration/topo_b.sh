# SPDX-License-Identifier: GPL-2.0
# Scenario B topology (configs/egress-gateway.yaml):
#
#   WL (data-processor 10.1.0.5, web 10.1.0.6)
#    | wl0 (10.1.0.1)
#   NA node-a, tunnelIP 192.168.100.1 on eth0
#    |
#   UL underlay bridge ---- GW1 gw-b1 eth0 192.168.100.11, ext0 172.18.0.11
#                      \--- GW2 gw-b2 eth0 192.168.100.12, ext0 172.18.0.12
#                                 |
#   DB database bridge 172.18.200.10/16 (PostgreSQL, firewall: egress IPs only)
mkns WL wl
mkns NA node-a
mkns UL underlay
mkns GW1 gw-b1
mkns GW2 gw-b2
mkns DB db

ip -n "$WL" link add eth0 type veth peer name wl0 netns "$NA"
ip -n "$WL" addr add 10.1.0.5/24 dev eth0
ip -n "$WL" addr add 10.1.0.6/24 dev eth0
ip -n "$WL" link set eth0 up
ip -n "$WL" route add default via 10.1.0.1
ip -n "$NA" addr add 10.1.0.1/24 dev wl0
ip -n "$NA" link set wl0 up

ip -n "$UL" link add br0 type bridge
ip -n "$UL" link set br0 up
ip -n "$DB" link add br0 type bridge
ip -n "$DB" addr add 172.18.200.10/16 dev br0
ip -n "$DB" link set br0 up
uplink() { # uplink NS PORT ADDR
	ip -n "$1" link add eth0 type veth peer name "$2" netns "$UL"
	ip -n "$1" addr add "$3"/24 dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$UL" link set "$2" master br0 up
}
uplink "$NA" ua 192.168.100.1
uplink "$GW1" u1 192.168.100.11
uplink "$GW2" u2 192.168.100.12
external() { # external NS PORT ADDR
	ip -n "$1" link add ext0 type veth peer name "$2" netns "$DB"
	ip -n "$1" addr add "$3"/16 dev ext0
	ip -n "$1" link set ext0 up
	ip -n "$DB" link set "$2" master br0 up
	# Software checksums on the way to the database: a wrong SNAT
	# checksum is then a dropped packet, not a silent success.
	in_ns "$1" ethtool -K ext0 tx off >/dev/null
}
external "$GW1" d1 172.18.0.11
external "$GW2" d2 172.18.0.12

for ns in "$NA" "$GW1" "$GW2"; do
	in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0
	in_ns "$ns" sysctl -qw net.ipv4.conf.default.rp_filter=0
	for i in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
		in_ns "$ns" sysctl -qw "net.ipv4.conf.$i.rp_filter=0"
	done
done

# The database admits the gateways' egress IPs only.
in_ns "$DB" nft -f - <<'NFT'
table inet legacy {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport { 5432, 7000 } ip saddr { 172.18.0.11, 172.18.0.12 } accept
		tcp dport { 5432, 7000 } drop
	}
}
NFT
