#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scenario B end to end: a real psql in the workload namespace queries a
# real PostgreSQL that admits only the gateways' egress IPs, through
# GENEVE to a gateway in another cluster and SNAT; the database sees the
# egress IP; an independent dissector (tshark) decodes the tunnel; a
# gateway that stops answering health probes gets no new flows within
# 3 s while a flow through the other gateway survives, and replies
# spoofed from its address do not bring it back; a whole gateway cut
# from the underlay under a stream of new connections is recovered from
# within 3 s; a workload the policy does not select cannot reach the
# database; with one NAT port to hand out, flows past it are dropped as
# nat-ports-exhausted.
. "$(dirname "$0")/lib.sh"
EGW_CONFIG=${EGW_CONFIG:-$(dirname "$0")/../../configs/egress-gateway.yaml}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/postgres" ] || { echo "PostgreSQL server not installed (scripts/setup.sh installs it)"; exit 1; }
. "$(dirname "$0")/topo_b.sh"

# PostgreSQL in the database namespace.
chmod 755 "$TMP"
install -d -o postgres -g postgres "$TMP/pg" "$TMP/pgsock"
runuser -u postgres -- "$PGBIN/initdb" -D "$TMP/pg" -A trust -U postgres >/dev/null
cat >"$TMP/pg/pg_hba.conf" <<HBA
local all all trust
host all all 172.18.0.11/32 trust
host all all 172.18.0.12/32 trust
HBA
# setpriv execs postgres: the pid is the postmaster, SIGTERM stops it.
nsenter --net="/run/netns/$DB" setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$TMP/pg" -k "$TMP/pgsock" \
	-c listen_addresses=172.18.200.10 -c log_connections=on \
	-c logging_collector=off >"$TMP/pg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "ready to accept" "$TMP/pg.log" && break; sleep 0.1; done
grep -q "ready to accept" "$TMP/pg.log" && ok "PostgreSQL up at 172.18.200.10" || { not_ok "PostgreSQL did not start: $(cat "$TMP/pg.log")"; finish; }
# A TCP echo that tells the client its address as seen by the database.
bg "$DB" "$PROBE" serve-whoami 172.18.200.10 7000

psql_q() { # psql_q SRC: prints the client address the database saw
	in_ns "$WL" env PGCONNECT_TIMEOUT=3 psql "host=172.18.200.10 user=postgres dbname=postgres hostaddr=172.18.200.10" \
		-Atc "select inet_client_addr()" 2>/dev/null
}

expect fail "before idgate: the database is unreachable from the workload" psql_q

for n in node-a:"$NA" gw-b1:"$GW1" gw-b2:"$GW2"; do
	node=${n%%:*}
	ns=${n#*:}
	register_instance "$ns" "$node"
	if idg "$ns" "$node" apply -c "$EGW_CONFIG" >"$TMP/apply.$node" 2>&1; then
		ok "apply on $node"
	else
		not_ok "apply on $node: $(cat "$TMP/apply.$node")"
	fi
done
for n in node-a:"$NA" gw-b1:"$GW1" gw-b2:"$GW2"; do
	node=${n%%:*}
	ns=${n#*:}
	idg_bg "$ns" "$node" health >"$TMP/health.$node" 2>&1
	eval "HEALTH_${node//-/_}=$BG_PID"
done
sleep 1.5

addr=$(psql_q)
case "$addr" in
172.18.0.11 | 172.18.0.12) ok "psql through the egress gateway: the database saw $addr" ;;
*) not_ok "psql through the egress gateway: got '$addr'" ;;
esac
grep -q "connection received: host=172.18.0.1[12]" "$TMP/pg.log" \
	&& ok "the database's log shows the egress IP as the client" || not_ok "database log: $(grep connection "$TMP/pg.log" | tail -2)"
grep -q "connection received: host=10.1.0" "$TMP/pg.log" \
	&& not_ok "the database saw a workload address" || ok "the database never saw a workload address"

# An independent dissector decodes the tunnel.
nsenter --net="/run/netns/$UL" timeout 20 tshark -i ua -f "udp port 6081" -c 4 -T fields \
	-e geneve.vni -e ip.src -e ip.dst -e tcp.dstport -E separator=';' >"$TMP/tshark.out" 2>"$TMP/tshark.err" &
tsh=$!
PIDS+=($tsh)
# Query only once it captures (a loaded machine starts tshark slowly); a
# capture that times out is judged by what it saw, below.
for _ in $(seq 100); do grep -q "Capturing on" "$TMP/tshark.err" && break; sleep 0.1; done
psql_q >/dev/null
wait $tsh || true
vni=$(idg "$NA" node-a identity list -o json | python3 -c 'import json,sys
print([i["id"] for i in json.load(sys.stdin) if i["labels"].get("app")=="data-processor"][0])')
# Fields: VNI (hex), ip.src and ip.dst (outer,inner), inner TCP port.
if python3 - "$vni" "$TMP/tshark.out" <<'PY'
import sys
vni, seen = int(sys.argv[1]), False
for line in open(sys.argv[2]):
    f = line.strip().split(";")
    if len(f) < 4 or not f[0]:
        continue
    src, dst = f[1].split(","), f[2].split(",")
    if (int(f[0], 16) == vni and src == ["192.168.100.1", "10.1.0.5"]
            and dst[0] in ("192.168.100.11", "192.168.100.12")
            and dst[1] == "172.18.200.10" and f[3] == "5432"):
        seen = True
sys.exit(0 if seen else 1)
PY
then
	ok "tshark decodes GENEVE, VNI $vni = data-processor's identity, inner TCP to 5432"
else
	not_ok "tshark: $(cat "$TMP/tshark.out")"
fi

expect fail "web (not selected by the policy) cannot reach the database" \
	in_ns "$WL" "$PROBE" tcp 10.1.0.6 172.18.200.10 7000
idg "$GW1" gw-b1 nat list | grepq "10.1.0.5" || idg "$GW2" gw-b2 nat list | grepq "10.1.0.5" \
	&& ok "nat list shows the translation" || not_ok "nat list"
idg "$NA" node-a egress list | grepq "gw-b1" && ok "egress list shows the gateways" || not_ok "egress list"

# Failover: keep a connection that goes through gw-b2, stop gw-b1's
# health responder, then every new connection must use gw-b2, although
# something sending from gw-b1's address keeps replaying gw-b1's old
# replies and forging new ones (right address and magic, wrong nonce).
nsenter --net="/run/netns/$WL" "$PROBE" whoami-hold 10.1.0.5 172.18.200.10 7000 172.18.0.12 12 >"$TMP/hold.out" 2>&1 &
hold=$!
PIDS+=($hold)
for _ in $(seq 30); do grep -q "holding" "$TMP/hold.out" && break; sleep 0.2; done
grep -q "holding" "$TMP/hold.out" && ok "a connection through gw-b2 is open" || not_ok "no connection through gw-b2: $(cat "$TMP/hold.out")"
# A few genuine replies of gw-b1 to node-a's probes, to replay later.
in_ns "$GW1" timeout 20 tshark -i eth0 -c 3 -T fields -e udp.dstport -e udp.payload \
	-f "udp and src host 192.168.100.11 and src port 6082 and dst host 192.168.100.1" \
	>"$TMP/gw1-replies" 2>/dev/null || true
probe_port=$(cut -f1 "$TMP/gw1-replies" | sort -u | head -1)
replies=$(cut -f2 "$TMP/gw1-replies" | tr -d ':')
[ -n "$probe_port" ] && [ -n "$replies" ] && ok "captured gw-b1's replies to node-a (UDP port $probe_port)" \
	|| not_ok "no reply of gw-b1 captured: $(cat "$TMP/gw1-replies")"
t0=$(date +%s%N)
kill "$HEALTH_gw_b1"
wait "$HEALTH_gw_b1" 2>/dev/null || true
# shellcheck disable=SC2086
bg "$GW1" "$PROBE" udp-forge 192.168.100.11 6082 192.168.100.1 "${probe_port:-1}" 120 ${replies:-69646768}
forger=${PIDS[-1]}
if waitfor 10 grep -q "gateway 192.168.100.11 is DOWN" "$TMP/health.node-a"; then
	ok "node-a marked gw-b1 down despite spoofed replies"
	# Failover time: from the last answer gw-b1 could have given to the
	# moment new flows avoid it (the health map is what they read). The
	# design is 1.5 s of silence, seen within one 0.5 s probe round.
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# failover: gw-b1 marked down ${ms} ms after its responder stopped"
	[ "$ms" -le 5000 ] && ok "failover within 5 s (${ms} ms)" || not_ok "failover took ${ms} ms"
else
	not_ok "health: $(cat "$TMP/health.node-a")"
fi
sleep 1
grep -q "gateway 192.168.100.11: [0-9]* reply(ies) without a recent probe's nonce ignored" "$TMP/health.node-a" \
	&& ok "node-a reports the ignored replies" || not_ok "no report of ignored replies: $(cat "$TMP/health.node-a")"
moved=0
for i in $(seq 8); do [ "$(psql_q)" = 172.18.0.12 ] && moved=$((moved + 1)); done
[ "$moved" = 8 ] && ok "new connections all leave through gw-b2" || not_ok "only $moved of 8 new connections used gw-b2"
sed -n '/gateway 192.168.100.11 is DOWN/,$p' "$TMP/health.node-a" | grepq "gateway 192.168.100.11 is up" \
	&& not_ok "a spoofed reply brought gw-b1 back up" || ok "gw-b1 stayed down while spoofed replies kept coming"
kill "$forger"
wait $hold && ok "the connection through gw-b2 survived the failover" || not_ok "held connection: $(cat "$TMP/hold.out")"

# A whole gateway lost under traffic. gw-b1 answers again first; then its
# underlay port is cut (probes, tunnel and replies all stop) while a new
# connection starts every 100 ms. Recovery is the time from the cut to
# the first try after which every try got through gw-b2 at once (within
# 500 ms: a try that needed its SYN sent again, 1 s later, was caught
# by the outage).
idg_bg "$GW1" gw-b1 health >"$TMP/health.gw-b1.again" 2>&1
gw1_up_again() { sed -n '/gateway 192.168.100.11 is DOWN/,$p' "$TMP/health.node-a" | grepq "gateway 192.168.100.11 is up"; }
waitfor 15 gw1_up_again && ok "gw-b1 is up again once it answers" || not_ok "gw-b1 not back up: $(tail -3 "$TMP/health.node-a")"
nsenter --net="/run/netns/$WL" "$PROBE" whoami-series 10.1.0.5 172.18.200.10 7000 0.1 9 >"$TMP/series.out" 2>&1 &
series=$!
PIDS+=($series)
sleep 3
cut_ns=$(date +%s%N)
ip -n "$UL" link set u1 down
wait $series
read -r before_b1 after_fail recover_ms tries < <(python3 - "$cut_ns" "$TMP/series.out" <<'PY'
import sys
cut = int(sys.argv[1])
tries = [l.split() for l in open(sys.argv[2]) if l.strip()]
tries = [(int(t), a, int(ms)) for t, a, ms in tries]
before_b1 = sum(1 for t, a, ms in tries if t < cut and a == "172.18.0.11")
after = [(t, a, ms) for t, a, ms in tries if t >= cut]
bad = [t for t, a, ms in after if a != "172.18.0.12" or ms > 500]
# The first try after the last one that was not served at once by gw-b2.
ok_from = min((t for t, a, ms in after if not bad or t > max(bad)), default=None)
recover = -1 if ok_from is None else (ok_from - cut) // 1000000
print(before_b1, len(bad), recover, len(tries))
PY
)
echo "# whole gateway lost: $tries tries, $before_b1 through gw-b1 before the cut, $after_fail failed or slow after it, recovered ${recover_ms} ms after the cut"
[ "$before_b1" -gt 0 ] && ok "before the cut new connections used gw-b1 too ($before_b1)" || not_ok "no connection used gw-b1 before the cut: $(cat "$TMP/series.out")"
if [ "$recover_ms" -ge 0 ] && [ "$recover_ms" -le 3000 ]; then
	ok "whole gateway lost: new connections all get through again within 3 s (${recover_ms} ms)"
else
	not_ok "whole gateway lost: no recovery within 3 s (${recover_ms} ms): $(cat "$TMP/series.out")"
fi
ip -n "$UL" link set u1 up

# SNAT exhaustion with real connections. The gateways hand out one port
# (natPortRange 20000-20000) when a flow's own is taken; six addresses
# of data-processor connect from the same source port to the same
# destination, so a gateway can map two of them (port 1999 itself, then
# 20000) and must drop the others as nat-ports-exhausted, counted.
sed -e 's/ips: \[10\.1\.0\.5\]/ips: [10.1.0.5, 10.1.0.7, 10.1.0.8, 10.1.0.9, 10.1.0.10, 10.1.0.11]/' \
	-e 's/^    ip: \(172\.18\.0\.1[12]\)$/    ip: \1\n    natPortRange: {min: 20000, max: 20000}/' \
	"$EGW_CONFIG" >"$TMP/exhaust.yaml"
[ "$(grep -c "natPortRange" "$TMP/exhaust.yaml")" = 2 ] || not_ok "test config: natPortRange not set on both gateways"
for a in 7 8 9 10 11; do ip -n "$WL" addr add "10.1.0.$a/24" dev eth0; done
for n in node-a:"$NA" gw-b1:"$GW1" gw-b2:"$GW2"; do
	idg "${n#*:}" "${n%%:*}" apply -c "$TMP/exhaust.yaml" >"$TMP/apply2.${n%%:*}" 2>&1 ||
		not_ok "apply with natPortRange on ${n%%:*}: $(cat "$TMP/apply2.${n%%:*}")"
done
ex1=$(verdict_count "$GW1" gw-b1 nat-ports-exhausted)
ex2=$(verdict_count "$GW2" gw-b2 nat-ports-exhausted)
: >"$TMP/exhaust.out"
for a in 5 7 8 9 10 11; do
	seen=$(in_ns "$WL" "$PROBE" whoami "10.1.0.$a" 172.18.200.10 7000 1999) || seen=-
	echo "10.1.0.$a $seen" >>"$TMP/exhaust.out"
done
via1=$(grep -c " 172.18.0.11$" "$TMP/exhaust.out" || true)
via2=$(grep -c " 172.18.0.12$" "$TMP/exhaust.out" || true)
failed=$(grep -c " -$" "$TMP/exhaust.out" || true)
d1=$(($(verdict_count "$GW1" gw-b1 nat-ports-exhausted) - ex1))
d2=$(($(verdict_count "$GW2" gw-b2 nat-ports-exhausted) - ex2))
echo "# exhaustion: through gw-b1 $via1, through gw-b2 $via2, refused $failed; nat-ports-exhausted drops: gw-b1 $d1, gw-b2 $d2"
[ "$via1" -le 2 ] && [ "$via2" -le 2 ] && ok "no gateway mapped more flows than its two ports" ||
	not_ok "a gateway mapped more than two flows: $(cat "$TMP/exhaust.out")"
[ "$failed" -ge 2 ] && [ $((via1 + via2 + failed)) = 6 ] && ok "the flows past the ports were refused ($failed of 6)" ||
	not_ok "exhaustion: $(cat "$TMP/exhaust.out")"
# Each refused flow's SYNs (one, then its retry) dropped with the reason,
# at a gateway that had mapped its two.
{ [ "$d1" -eq 0 ] || [ "$via1" = 2 ]; } && { [ "$d2" -eq 0 ] || [ "$via2" = 2 ]; } && [ $((d1 + d2)) -ge "$failed" ] &&
	ok "refused flows counted as nat-ports-exhausted ($((d1 + d2)) packets)" ||
	not_ok "nat-ports-exhausted drops: gw-b1 $d1, gw-b2 $d2 for $(cat "$TMP/exhaust.out")"

finish
