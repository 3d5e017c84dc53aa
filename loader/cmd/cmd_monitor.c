// SPDX-License-Identifier: GPL-2.0
/*
 * monitor: stream the datapath's events from the pinned ring buffer, with
 * identities as labels and the deciding rule (or "default deny"). Losses
 * (ring buffer full) and rate-limited events are counted by the datapath;
 * they are reported here once a second when they grew, never hidden.
 */
#include <errno.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "l7proxy.h"
#include "cmd.h"
#include "dp.h"
#include "util/util.h"

#define MON_POLL_MS 200
#define MON_LOSS_REPORT_MS 1000

struct mon {
	const struct idg_compiled *c;
	bool json;
	uint32_t types; /* bit per IDG_EV_* shown */
	/* --related-to: an endpoint of the config (by its addresses) or an
	 * identity number. */
	const struct idg_endpoint *rel_ep;
	uint32_t rel_id;
	bool rel_is_id;
	int64_t mono_to_real_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	__u64 lost, suppressed; /* last reported totals */
	/* The L7 proxy's requests (l7proxy.h), followed from the end. */
	char l7_path[PATH_MAX];
	FILE *l7;
	ino_t l7_ino;
};

/* In types beside the IDG_EV_* bits: the L7 proxy's verdicts. */
#define MON_L7_DENIED (1u << 30)
#define MON_L7_ALLOWED (1u << 31)

static volatile sig_atomic_t mon_stop;

static void on_signal(int sig)
{
	(void)sig;
	mon_stop = 1;
}

static bool has_ports(const struct idg_event *e)
{
	return !(e->flags & IDG_EV_F_FRAGMENT) &&
	       (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP ||
		e->proto == IPPROTO_SCTP);
}

static const char *addr_str(uint8_t family, const uint8_t *a, char *buf)
{
	if (family == IDG_FAM_IPV4)
		return inet_ntop(AF_INET, a, buf, INET6_ADDRSTRLEN);
	if (family == IDG_FAM_IPV6)
		return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
	snprintf(buf, INET6_ADDRSTRLEN, "-");
	return buf;
}

static bool cidr_is(const struct idg_cidr *c, uint8_t family, const uint8_t *a)
{
	size_t len = family == IDG_FAM_IPV4 ? 4 : 16;

	return c->family == family && c->plen == len * 8 &&
	       !memcmp(c->addr, a, len);
}

/* The local endpoint of the event: destination on ingress, source on
 * egress; NULL when that address is not a local endpoint's. */
static const char *local_ep(const struct idg_compiled *c,
			    const struct idg_event *e)
{
	const uint8_t *a = e->dir == IDG_DIR_EGRESS ? e->saddr : e->daddr;

	if (e->family != IDG_FAM_IPV4 && e->family != IDG_FAM_IPV6)
		return NULL;
	for (size_t i = 0; i < c->n_eps; i++)
		if (cidr_is(&c->eps[i].cidr, e->family, a))
			return c->eps[i].ep->name;
	return NULL;
}

static bool ep_has(const struct idg_endpoint *ep, const struct idg_event *e,
		   const uint8_t *a)
{
	for (size_t i = 0; i < ep->n_ips; i++)
		if (cidr_is(&ep->ips[i], e->family, a))
			return true;
	return false;
}

static bool related(const struct mon *m, const struct idg_event *e,
		    const char *ep)
{
	if (m->rel_is_id)
		return e->src_id == m->rel_id || e->dst_id == m->rel_id;
	if (!m->rel_ep)
		return true;
	if (ep && !strcmp(ep, m->rel_ep->name))
		return true;
	return ep_has(m->rel_ep, e, e->saddr) || ep_has(m->rel_ep, e, e->daddr);
}

static struct json_object *labels_json(const struct idg_identity *id)
{
	struct json_object *a;

	if (!id)
		return json_object_new_null();
	a = json_object_new_array();
	for (size_t i = 0; i < id->labels.n; i++) {
		const struct idg_label *l = &id->labels.v[i];
		char buf[512];

		if (l->value && l->value[0])
			snprintf(buf, sizeof(buf), "%s=%s", l->key, l->value);
		else
			snprintf(buf, sizeof(buf), "%s", l->key);
		json_object_array_add(a, json_object_new_string(buf));
	}
	return a;
}

static struct json_object *peer_json(const struct mon *m,
				     const struct idg_event *e, const uint8_t *a,
				     uint16_t port_be, uint32_t id, const char *ep)
{
	struct json_object *o = json_object_new_object();
	char buf[INET6_ADDRSTRLEN];

	json_object_object_add(o, "address", e->family ?
		json_object_new_string(addr_str(e->family, a, buf)) : json_object_new_null());
	json_object_object_add(o, "port", has_ports(e) ?
		json_object_new_int(ntohs(port_be)) : json_object_new_null());
	json_object_object_add(o, "identity", json_object_new_int64(id));
	json_object_object_add(o, "labels", labels_json(idg_compiled_identity(m->c, id)));
	json_object_object_add(o, "endpoint", ep ? json_object_new_string(ep) :
						   json_object_new_null());
	return o;
}

static void timestamp(const struct mon *m, uint64_t mono_ns, char *buf,
		      size_t len)
{
	uint64_t real = mono_ns + (uint64_t)m->mono_to_real_ns;
	time_t s = (time_t)(real / 1000000000ull);
	struct tm tm;
	char t[32];

	gmtime_r(&s, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09lluZ", t,
		 (unsigned long long)(real % 1000000000ull));
}

static const char *ev_name(uint8_t type)
{
	return type == IDG_EV_DROP ? "drop" :
	       type == IDG_EV_POLICY_VERDICT ? "policy-verdict" :
	       type == IDG_EV_TRACE ? "trace" : "unknown";
}

static void print_json(const struct mon *m, const struct idg_event *e,
		       const char *ep)
{
	const struct idg_cookie *ck = e->cookie ? idg_compiled_cookie(m->c, e->cookie) : NULL;
	struct json_object *o = json_object_new_object();
	bool egress = e->dir == IDG_DIR_EGRESS;
	char pbuf[IDG_PROTO_STR_LEN], ts[48];

	timestamp(m, e->ts_ns, ts, sizeof(ts));
	json_object_object_add(o, "type", json_object_new_string(ev_name(e->type)));
	json_object_object_add(o, "reason", json_object_new_string(idg_reason_name(e->reason)));
	json_object_object_add(o, "reason_code", json_object_new_int(e->reason));
	json_object_object_add(o, "direction", json_object_new_string(egress ? "egress" : "ingress"));
	json_object_object_add(o, "family", e->family == IDG_FAM_IPV4 ? json_object_new_string("ipv4") :
		e->family == IDG_FAM_IPV6 ? json_object_new_string("ipv6") : json_object_new_null());
	json_object_object_add(o, "protocol", json_object_new_string(idg_proto_str(e->proto, pbuf, sizeof(pbuf))));
	json_object_object_add(o, "protocol_number", json_object_new_int(e->proto));
	json_object_object_add(o, "fragment", json_object_new_boolean(e->flags & IDG_EV_F_FRAGMENT));
	json_object_object_add(o, "source", peer_json(m, e, e->saddr, e->sport, e->src_id, egress ? ep : NULL));
	json_object_object_add(o, "destination", peer_json(m, e, e->daddr, e->dport, e->dst_id, egress ? NULL : ep));
	json_object_object_add(o, "endpoint", ep ? json_object_new_string(ep) : json_object_new_null());
	json_object_object_add(o, "ifindex", json_object_new_int64(e->ifindex));
	json_object_object_add(o, "cookie", e->cookie ? json_object_new_int64(e->cookie) : json_object_new_null());
	if (ck) {
		char pol[256];

		snprintf(pol, sizeof(pol), "%s%s%s",
			 ck->policy->namespace ? ck->policy->namespace : "",
			 ck->policy->namespace ? "/" : "", ck->policy->name);
		json_object_object_add(o, "policy", json_object_new_string(pol));
		json_object_object_add(o, "rule_set", json_object_new_string(idg_rule_set_name(ck->set)));
		json_object_object_add(o, "rule_index", json_object_new_int64((int64_t)ck->rule_index));
	} else {
		json_object_object_add(o, "policy", json_object_new_null());
		json_object_object_add(o, "rule_set", json_object_new_null());
		json_object_object_add(o, "rule_index", json_object_new_null());
	}
	json_object_object_add(o, "default_deny", json_object_new_boolean(
		e->reason == IDG_DROP_POLICY_DEFAULT && !e->cookie));
	json_object_object_add(o, "generation", json_object_new_int64(e->gen));
	json_object_object_add(o, "packet_length", json_object_new_int64(e->pkt_len));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "ts_ns", json_object_new_uint64(e->ts_ns));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void endpoint_str(const struct idg_event *e, const uint8_t *a,
			 uint16_t port_be, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	addr_str(e->family, a, ip);
	if (!has_ports(e))
		snprintf(buf, len, "%s", ip);
	else if (e->family == IDG_FAM_IPV6)
		snprintf(buf, len, "[%s]:%u", ip, ntohs(port_be));
	else
		snprintf(buf, len, "%s:%u", ip, ntohs(port_be));
}

static const char *id_labels(const struct mon *m, uint32_t id)
{
	const struct idg_identity *i = idg_compiled_identity(m->c, id);

	return i ? i->canon : "?";
}

static void print_text(const struct mon *m, const struct idg_event *e,
		       const char *ep)
{
	const struct idg_cookie *ck = e->cookie ? idg_compiled_cookie(m->c, e->cookie) : NULL;
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8],
		pbuf[IDG_PROTO_STR_LEN];

	endpoint_str(e, e->saddr, e->sport, src, sizeof(src));
	endpoint_str(e, e->daddr, e->dport, dst, sizeof(dst));
	printf("xx %s (%s) flow %s -> %s %s%s %s ifindex %u: identity %u [%s] -> %u [%s]",
	       ev_name(e->type),
	       idg_reason_name(e->reason), src, dst,
	       idg_proto_str(e->proto, pbuf, sizeof(pbuf)),
	       e->flags & IDG_EV_F_FRAGMENT ? " fragment" : "",
	       e->dir == IDG_DIR_EGRESS ? "egress" : "ingress", e->ifindex,
	       e->src_id, id_labels(m, e->src_id), e->dst_id,
	       id_labels(m, e->dst_id));
	if (ep)
		printf(" endpoint %s", ep);
	if (ck)
		printf("; rule %s%s%s %s[%zu] (cookie %u)",
		       ck->policy->namespace ? ck->policy->namespace : "",
		       ck->policy->namespace ? "/" : "", ck->policy->name,
		       idg_rule_set_name(ck->set), ck->rule_index, e->cookie);
	else if (e->cookie)
		printf("; rule with cookie %u (not in the applied config: re-applied since?)",
		       e->cookie);
	else if (e->reason == IDG_DROP_POLICY_DEFAULT)
		printf("; no rule matched: default deny");
	printf(" (generation %u)\n", e->gen);
}

/* Set or clear IDG_MON_F_TRACE; *was tells whether it was already set
 * (another monitor asking). */
static int trace_request(const struct idg_dp *dp, bool on, bool *was)
{
	uint32_t zero = 0, flags = 0;

	if (bpf_map_lookup_elem(dp->mon_cfg_fd, &zero, &flags))
		return -errno;
	if (was)
		*was = flags & IDG_MON_F_TRACE;
	flags = on ? flags | IDG_MON_F_TRACE : flags & ~IDG_MON_F_TRACE;
	return bpf_map_update_elem(dp->mon_cfg_fd, &zero, &flags, BPF_ANY) ?
		       -errno :
		       0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct mon *m = ctx;
	struct idg_event e = { 0 };
	const char *ep;

	memcpy(&e, data, size < sizeof(e) ? size : sizeof(e));
	if (e.type >= 32 || !(m->types & (1u << e.type)))
		return 0;
	/* Trace events are cut short in the datapath: no identities. */
	if (e.type == IDG_EV_TRACE) {
		e.src_id = cmd_addr_identity(m->c, e.family, e.saddr);
		e.dst_id = cmd_addr_identity(m->c, e.family, e.daddr);
	}
	ep = local_ep(m->c, &e);
	if (!related(m, &e, ep))
		return 0;
	if (m->json)
		print_json(m, &e, ep);
	else
		print_text(m, &e, ep);
	fflush(stdout);
	return 0;
}

/* One L7 request (an IDG_L7_EVENTS line) as the datapath's events
 * print: identities and labels, endpoint, rule, and the request. */
static void l7_event(const struct mon *m, struct json_object *j)
{
	struct json_object *v;
	struct idg_event e = { .dir = IDG_DIR_INGRESS, .proto = IPPROTO_TCP };
	const struct idg_cookie *ck;
	const char *ep, *verdict, *method, *path, *ts;
	bool allowed;
	int alt, status;
	char rule[200] = "", src[64], dst[64];

#define JSTR(k) (json_object_object_get_ex(j, k, &v) ? json_object_get_string(v) : "")
#define JINT(k) (json_object_object_get_ex(j, k, &v) ? json_object_get_int64(v) : 0)
	verdict = JSTR("verdict");
	allowed = !strcmp(verdict, "allowed");
	if (!(m->types & (allowed ? MON_L7_ALLOWED : MON_L7_DENIED)))
		return;
	if (inet_pton(AF_INET, JSTR("client"), e.saddr) == 1 &&
	    inet_pton(AF_INET, JSTR("server"), e.daddr) == 1)
		e.family = IDG_FAM_IPV4;
	else if (inet_pton(AF_INET6, JSTR("client"), e.saddr) == 1 &&
		 inet_pton(AF_INET6, JSTR("server"), e.daddr) == 1)
		e.family = IDG_FAM_IPV6;
	else
		return;
	e.sport = htons((uint16_t)JINT("client_port"));
	e.dport = htons((uint16_t)JINT("server_port"));
	e.src_id = (uint32_t)JINT("peer");
	e.dst_id = cmd_addr_identity(m->c, e.family, e.daddr);
	e.cookie = (uint32_t)JINT("cookie");
	alt = (int)JINT("http_index");
	status = (int)JINT("status");
	method = JSTR("method");
	path = JSTR("path");
	ts = JSTR("timestamp");
	ep = local_ep(m->c, &e);
	if (!related(m, &e, ep))
		return;
	ck = e.cookie ? idg_compiled_cookie(m->c, e.cookie) : NULL;
	if (ck)
		cmd_rule_origin(ck, rule, sizeof(rule));
	if (m->json) {
		struct json_object *o = json_object_new_object(),
				   *r = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("l7"));
		json_object_object_add(o, "reason", json_object_new_string(allowed ? "l7-policy-allowed" : "l7-policy-denied"));
		json_object_object_add(o, "verdict", json_object_new_string(verdict));
		json_object_object_add(o, "direction", json_object_new_string("ingress"));
		json_object_object_add(o, "source", peer_json(m, &e, e.saddr, e.sport, e.src_id, NULL));
		json_object_object_add(o, "destination", peer_json(m, &e, e.daddr, e.dport, e.dst_id, ep));
		json_object_object_add(o, "endpoint", ep ? json_object_new_string(ep) : json_object_new_null());
		json_object_object_add(o, "cookie", e.cookie ? json_object_new_int64(e.cookie) : json_object_new_null());
		json_object_object_add(o, "rule", ck ? json_object_new_string(rule) : json_object_new_null());
		json_object_object_add(o, "http_index", allowed && alt >= 0 ? json_object_new_int(alt) : json_object_new_null());
		json_object_object_add(r, "method", json_object_new_string(method));
		json_object_object_add(r, "path", json_object_new_string(path));
		json_object_object_add(o, "request", r);
		json_object_object_add(o, "status", json_object_new_int(status));
		json_object_object_add(o, "timestamp", json_object_new_string(ts));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		endpoint_str(&e, e.saddr, e.sport, src, sizeof(src));
		endpoint_str(&e, e.daddr, e.dport, dst, sizeof(dst));
		printf("xx l7 (L7 policy %s) flow %s -> %s TCP ingress: identity %u [%s] -> %u [%s]",
		       allowed ? "allowed" : "denied", src, dst, e.src_id,
		       id_labels(m, e.src_id), e.dst_id, id_labels(m, e.dst_id));
		if (ep)
			printf(" endpoint %s", ep);
		if (ck && allowed && alt >= 0)
			printf("; rule %s http[%d]", rule, alt);
		else if (ck && allowed)
			printf("; rule %s (every request)", rule);
		else if (ck)
			printf("; no http rule of %s matches", rule);
		else
			printf("; no rule for this peer");
		printf(": -> %s %s (%d)\n", method, path, status);
	}
	fflush(stdout);
#undef JSTR
#undef JINT
}

/* New lines of the L7 proxy's request log; it is opened when it
 * appears and again when the daemon starts a new one. */
static void l7_follow(struct mon *m)
{
	char line[8192];
	struct stat st;

	if (!m->l7_path[0])
		return;
	for (;;) {
		if (m->l7) {
			while (fgets(line, sizeof(line), m->l7)) {
				size_t n = strlen(line);
				struct json_object *j;

				/* The writer's line is not all there yet. */
				if (n && line[n - 1] != '\n' &&
				    n < sizeof(line) - 1) {
					fseek(m->l7, -(long)n, SEEK_CUR);
					break;
				}
				j = json_tokener_parse(line);

				if (j) {
					l7_event(m, j);
					json_object_put(j);
				}
			}
			clearerr(m->l7);
		}
		/* A new file under the name: finish the old, read the new
		 * from its start. */
		if (stat(m->l7_path, &st) || (m->l7 && st.st_ino == m->l7_ino))
			return;
		if (m->l7)
			fclose(m->l7);
		m->l7 = fopen(m->l7_path, "re");
		if (!m->l7)
			return;
		m->l7_ino = st.st_ino;
	}
}

/* Report losses and rate-limited events since the last report. */
static void report_losses(struct mon *m, const struct idg_dp *dp)
{
	__u64 lost = m->lost, supp = m->suppressed;

	idg_dp_misc_stat(dp, IDG_MISC_EVENTS_LOST, &lost);
	idg_dp_misc_stat(dp, IDG_MISC_EVENTS_SUPPRESSED, &supp);
	if (lost <= m->lost && supp <= m->suppressed) {
		m->lost = lost;
		m->suppressed = supp;
		return;
	}
	if (m->json) {
		struct json_object *o = json_object_new_object();
		char ts[48];

		timestamp(m, idg_clock_ns(CLOCK_MONOTONIC), ts, sizeof(ts));
		json_object_object_add(o, "type", json_object_new_string("lost"));
		json_object_object_add(o, "lost", json_object_new_uint64(lost > m->lost ? lost - m->lost : 0));
		json_object_object_add(o, "suppressed", json_object_new_uint64(supp > m->suppressed ? supp - m->suppressed : 0));
		json_object_object_add(o, "lost_total", json_object_new_uint64(lost));
		json_object_object_add(o, "suppressed_total", json_object_new_uint64(supp));
		json_object_object_add(o, "timestamp", json_object_new_string(ts));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("!! %llu event(s) lost (ring buffer full), %llu suppressed (per-flow limit --drop-event-interval, or the per-CPU budget) since the last report\n",
		       (unsigned long long)(lost > m->lost ? lost - m->lost : 0),
		       (unsigned long long)(supp > m->suppressed ? supp - m->suppressed : 0));
	}
	fflush(stdout);
	m->lost = lost;
	m->suppressed = supp;
}

static int parse_related(struct mon *m, const struct cmd_compiled *cc,
			 const char *arg)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (arg[0] >= '0' && arg[0] <= '9' && !*end && !errno && v <= UINT32_MAX) {
		m->rel_is_id = true;
		m->rel_id = (uint32_t)v;
		return 0;
	}
	for (size_t i = 0; i < cc->cfg.n_endpoints; i++)
		if (!strcmp(cc->cfg.endpoints[i].name, arg)) {
			m->rel_ep = &cc->cfg.endpoints[i];
			return 0;
		}
	fprintf(stderr, "idgate monitor: --related-to '%s' is neither an endpoint of the applied config nor an identity number\n",
		arg);
	return -ENOENT;
}

int do_monitor(struct idg_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct ring_buffer *rb = NULL;
	struct idg_dp dp = { 0 };
	bool have_dp = false, trace_asked = false, trace_was_on = false;
	struct idg_instance in;
	struct cmd_compiled cc;
	struct mon m = { .json = o->json };
	uint64_t next_report;
	int err, rc = 1;

	if (!o->type || !strcmp(o->type, "drop")) {
		m.types = 1u << IDG_EV_DROP | MON_L7_DENIED;
	} else if (!strcmp(o->type, "policy-verdict")) {
		m.types = 1u << IDG_EV_POLICY_VERDICT;
	} else if (!strcmp(o->type, "trace")) {
		m.types = 1u << IDG_EV_TRACE;
	} else if (!strcmp(o->type, "l7")) {
		m.types = MON_L7_DENIED | MON_L7_ALLOWED;
	} else if (!strcmp(o->type, "all")) {
		m.types = 1u << IDG_EV_DROP | 1u << IDG_EV_POLICY_VERDICT |
			  1u << IDG_EV_TRACE | MON_L7_DENIED | MON_L7_ALLOWED;
	} else {
		fprintf(stderr, "idgate monitor: unknown --type '%s' (drop, policy-verdict, trace, l7 or all)\n",
			o->type);
		return 2;
	}
	if (cmd_instance(o, &in))
		return 2;
	err = cmd_compile(&in, NULL, &cc);
	if (err)
		goto out;
	m.c = &cc.c;
	if (o->related_to && parse_related(&m, &cc, o->related_to)) {
		rc = 2;
		goto out;
	}
	err = idg_dp_open_pinned(&dp, in.pin_dir);
	if (err) {
		fprintf(stderr, "idgate: node %s is not loaded (maps in %s: %s)\n",
			in.node, in.pin_dir, strerror(-err));
		goto out;
	}
	have_dp = true;
	/* Per-packet trace events cost ring space: the datapath sends them
	 * only while a monitor asks, and this one stops asking on exit. */
	if (m.types & (1u << IDG_EV_TRACE)) {
		err = trace_request(&dp, true, &trace_was_on);
		if (err) {
			fprintf(stderr, "idgate monitor: cannot turn trace events on: %s\n",
				strerror(-err));
			goto out;
		}
		trace_asked = true;
	}
	rb = ring_buffer__new(dp.events_fd, on_event, &m, NULL);
	if (!rb) {
		err = -errno;
		fprintf(stderr, "idgate monitor: cannot open the event ring buffer: %s\n",
			strerror(errno));
		goto out;
	}
	/* Losses before we started are not ours to report. */
	idg_dp_misc_stat(&dp, IDG_MISC_EVENTS_LOST, &m.lost);
	idg_dp_misc_stat(&dp, IDG_MISC_EVENTS_SUPPRESSED, &m.suppressed);
	m.mono_to_real_ns = (int64_t)(idg_clock_ns(CLOCK_REALTIME) - idg_clock_ns(CLOCK_MONOTONIC));
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!o->json) {
		fprintf(stderr, "idgate monitor: node %s, %s events%s%s; Ctrl-C to stop\n",
			in.node, o->type ? o->type : "drop",
			o->related_to ? " related to " : "",
			o->related_to ? o->related_to : "");
	}
	next_report = idg_clock_ns(CLOCK_MONOTONIC) + MON_LOSS_REPORT_MS * 1000000ull;
	/* The proxy's requests from now on: what is in the file is past. */
	if ((size_t)snprintf(m.l7_path, sizeof(m.l7_path), "%s/l7/%s",
			     in.state_dir, IDG_L7_EVENTS) >= sizeof(m.l7_path))
		m.l7_path[0] = 0;
	if (m.l7_path[0]) {
		struct stat st;

		m.l7 = fopen(m.l7_path, "re");
		if (m.l7 && !fstat(fileno(m.l7), &st)) {
			m.l7_ino = st.st_ino;
			fseek(m.l7, 0, SEEK_END);
		}
	}
	while (!mon_stop) {
		int n = ring_buffer__poll(rb, MON_POLL_MS);

		l7_follow(&m);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "idgate monitor: reading events: %s\n",
				strerror(-n));
			err = n;
			goto out;
		}
		if (idg_clock_ns(CLOCK_MONOTONIC) >= next_report) {
			report_losses(&m, &dp);
			next_report += MON_LOSS_REPORT_MS * 1000000ull;
		}
	}
	/* Drain what is already there, and a last loss report. */
	ring_buffer__consume(rb);
	l7_follow(&m);
	report_losses(&m, &dp);
	err = 0;
out:
	if (m.l7)
		fclose(m.l7);
	ring_buffer__free(rb);
	if (trace_asked && !trace_was_on)
		trace_request(&dp, false, NULL);
	if (have_dp)
		idg_dp_close(&dp);
	cmd_compiled_free(&cc);
	if (rc == 2)
		return 2;
	return err ? rc : 0;
}
