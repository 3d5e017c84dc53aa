# SPDX-License-Identifier: GPL-2.0
# The two-node topology of scenario A: node-a (billing-api 10.0.0.10) and
# node-b (frontend .1.10, batch-processor .1.11, reporting .1.12), joined
# by one veth pair named eth0 on both sides (the config's uplink).
mkns NA node-a
mkns NB node-b
ip -n "$NA" link add eth0 type veth peer name eth0 netns "$NB"
ip -n "$NA" addr add 10.0.0.10/16 dev eth0
ip -n "$NA" addr add 192.168.50.1/24 dev eth0
for a in 10.0.1.10 10.0.1.11 10.0.1.12; do ip -n "$NB" addr add $a/16 dev eth0; done
ip -n "$NB" addr add 192.168.50.2/24 dev eth0
ip -n "$NA" link set eth0 up
ip -n "$NB" link set eth0 up

# For the daemon tests: the generation node-a enforces, and the verdicts
# of scenario A without (OLD) or with (NEW) reporting_reads_policy.
gen() { idg "$NA" node-a status -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["generation"])'; }
gen_is() { [ "$(gen)" = "$1" ]; }
reporting() { in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080; }
frontend_8081() { in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081; }
# enforcing OLD|NEW WHEN
enforcing() {
	expect pass "$2: frontend -> billing-api:8080 allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
	expect_denied "$NA" node-a policy-default-deny "$2: frontend -> billing-api:8081 denied" frontend_8081
	if [ "$1" = NEW ]; then
		expect pass "$2: reporting -> billing-api:8080 allowed" reporting
	else
		expect_denied "$NA" node-a policy-default-deny "$2: reporting -> billing-api:8080 denied" reporting
	fi
}
