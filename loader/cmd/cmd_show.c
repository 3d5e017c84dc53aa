// SPDX-License-Identifier: GPL-2.0
/* status, identity list, policy get: read-only views of an instance. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "apply.h"
#include "attach.h"
#include "cmd.h"
#include "control.h"
#include "dp.h"
#include "run.h"
#include "util/util.h"

static void json_print(struct json_object *j)
{
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

static double jnum(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

/* The daemon's cluster mesh (docs/mesh.md): the store, the other nodes. */
static void mesh_text(struct json_object *rep)
{
	struct json_object *m, *v, *clusters = NULL;
	const char *ep = "?", *err = "";
	double age;

	if (!json_object_object_get_ex(rep, "mesh", &m))
		return;
	if (json_object_object_get_ex(m, "endpoint", &v))
		ep = json_object_get_string(v);
	if (json_object_object_get_ex(m, "error", &v))
		err = json_object_get_string(v);
	age = jnum(m, "data_age_s");
	/* Expired first: a store that hangs still looks connected until a
	 * request times out. */
	if (json_object_object_get_ex(m, "expired", &v) && json_object_get_boolean(v))
		printf("mesh:        store silent for %.1f s (%s): the other nodes' endpoints expired after %.0f s, their traffic is denied\n",
		       age, err[0] ? err : "no answer", jnum(m, "remote_ttl_s"));
	else if (json_object_object_get_ex(m, "connected", &v) && json_object_get_boolean(v))
		printf("mesh:        store %s answers (%.1f s ago), revision %.0f, %.0f connect%s\n",
		       ep, age, jnum(m, "revision"), jnum(m, "connects"),
		       jnum(m, "connects") == 1 ? "" : "s");
	else if (age < 0)
		printf("mesh:        store not reached yet (%s)\n", err);
	else
		printf("mesh:        store unreachable for %.1f s (%s): the other nodes' endpoints are %.1f s old, kept for %.0f s\n",
		       jnum(m, "down_s"), err, age, jnum(m, "remote_ttl_s"));
	json_object_object_get_ex(m, "clusters", &clusters);
	json_object_object_foreach(clusters, name, c) {
		int nodes = (int)jnum(c, "nodes"), refused = (int)jnum(c, "refused_nodes");
		int eps = (int)jnum(c, "endpoints");
		char tail[48] = "";

		if (refused)
			snprintf(tail, sizeof(tail), ", %d refused", refused);
		printf("             %s: %d node%s, %d endpoint%s%s\n", name, nodes,
		       nodes == 1 ? "" : "s", eps, eps == 1 ? "" : "s", tail);
	}
}

/* The running daemon's word on its last change, in text. */
static void daemon_text(struct json_object *rep)
{
	struct json_object *ch = NULL, *v;
	char when[32] = "?", line[1024];
	const char *cfg = "?", *why = "?";
	int pid = 0;
	time_t t;

	if (!rep) {
		printf("daemon:      not running (changes apply with idgate apply)\n");
		return;
	}
	if (json_object_object_get_ex(rep, "pid", &v))
		pid = json_object_get_int(v);
	if (json_object_object_get_ex(rep, "config", &v))
		cfg = json_object_get_string(v);
	printf("daemon:      idgate run, pid %d, enforcing %s\n", pid, cfg);
	if (!json_object_object_get_ex(rep, "last_change", &ch) ||
	    !json_object_object_get_ex(ch, "time", &v))
		return;
	t = (time_t)json_object_get_double(v);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	if (json_object_object_get_ex(ch, "why", &v))
		why = json_object_get_string(v);
	idg_run_change_summary(ch, line, sizeof(line));
	printf("last change: %s (%s): %s\n", when, why, line);
	mesh_text(rep);
}

/* What status reports, read once from the pins, the meta and the
 * daemon; shown as text or JSON. */
struct status {
	struct idg_instance in;
	struct idg_meta meta;
	uint32_t gen, xdp_id, tc_id, tc_ids[IDG_META_TC_MAX];
	const char *xmode;
	bool alone, tc_mode;
	long n_ipc, n_ep, n_pol, n_any, n_ct, n_ct_new;
	__u64 lost, supp;
	struct json_object *daemon; /* its last change, or NULL */
};

static void status_read(struct status *st, struct idg_dp *dp)
{
	struct json_object *req;

	idg_dp_active_gen(dp, &st->gen);
	st->xdp_id = idg_xdp_attached(st->meta.uplink_ifindex, &st->xmode,
				      &st->alone);
	st->tc_mode = !strcmp(st->meta.xdp_mode, "tc");
	st->tc_id = idg_tc_attached(st->meta.uplink_ifindex, BPF_TC_EGRESS,
				    IDG_TC_PRIO);
	for (size_t i = 0; i < st->meta.n_tc; i++)
		st->tc_ids[i] = idg_tc_attached(st->meta.tc[i].ifindex,
						st->meta.tc[i].point,
						idg_tc_att_prio(&st->meta.tc[i]));
	st->n_ipc = idg_map_count_active2(dp->ipc_gens_fd, dp->ipch_gens_fd,
					  st->gen, sizeof(struct idg_ip_key));
	st->n_ep = idg_map_count_active2(dp->ep_gens_fd, dp->eph_gens_fd,
					 st->gen, sizeof(struct idg_ip_key));
	st->n_pol = idg_map_count_active2(dp->pol_gens_fd, dp->polx_gens_fd,
					  st->gen,
					  sizeof(struct idg_policy_key));
	st->n_any = idg_map_count_active(dp->polany_gens_fd, st->gen,
					 sizeof(struct idg_policy_key));
	st->n_ct = idg_map_count(dp->ct_fd, sizeof(struct idg_ct_key));
	st->n_ct_new = idg_map_count(dp->ct_new_fd, sizeof(struct idg_ct_key));
	idg_dp_misc_stat(dp, IDG_MISC_EVENTS_LOST, &st->lost);
	idg_dp_misc_stat(dp, IDG_MISC_EVENTS_SUPPRESSED, &st->supp);
	/* The daemon, when one runs for the node: its last change. */
	req = json_object_new_object();
	if (req) {
		json_object_object_add(req, "op", json_object_new_string("status"));
		if (idg_ctl_request(st->in.state_dir, req, 2000, &st->daemon))
			st->daemon = NULL;
		json_object_put(req);
	}
}

static const char *tc_point(const struct idg_tc_att *t)
{
	return t->point == BPF_TC_INGRESS ? "ingress" : "egress";
}

static void status_json(struct status *st, const struct idg_dp *dp)
{
	struct json_object *j = json_object_new_object(), *jtc, *jr;

	jtc = json_object_new_array();
	for (size_t i = 0; i < st->meta.n_tc; i++) {
		const struct idg_tc_att *t = &st->meta.tc[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "interface", json_object_new_string(t->ifname));
		json_object_object_add(e, "ifindex", json_object_new_int(t->ifindex));
		json_object_object_add(e, "point", json_object_new_string(tc_point(t)));
		json_object_object_add(e, "program", json_object_new_string(t->prog));
		json_object_object_add(e, "prog_id", json_object_new_int64(st->tc_ids[i]));
		json_object_array_add(jtc, e);
	}
	json_object_object_add(j, "node", json_object_new_string(st->in.node));
	json_object_object_add(j, "pin_dir", json_object_new_string(st->in.pin_dir));
	json_object_object_add(j, "uplink", json_object_new_string(st->meta.uplink));
	json_object_object_add(j, "ifindex", json_object_new_int(st->meta.uplink_ifindex));
	json_object_object_add(j, "xdp_prog_id", json_object_new_int64(st->xdp_id));
	json_object_object_add(j, "xdp_mode", json_object_new_string(st->xdp_id && st->xmode ? st->xmode : st->tc_mode ? "tc" : "detached"));
	json_object_object_add(j, "xdp_dispatcher", json_object_new_boolean(st->xdp_id && !st->alone));
	json_object_object_add(j, "tc_egress_prog_id", json_object_new_int64(st->tc_id));
	json_object_object_add(j, "tc_programs", jtc);
	json_object_object_add(j, "generation", json_object_new_int64(st->gen));
	json_object_object_add(j, "ipcache_entries", json_object_new_int64(st->n_ipc));
	json_object_object_add(j, "endpoint_entries", json_object_new_int64(st->n_ep));
	json_object_object_add(j, "policy_entries", json_object_new_int64(st->n_pol + st->n_any));
	json_object_object_add(j, "conntrack_entries", json_object_new_int64(st->n_ct));
	json_object_object_add(j, "conntrack_capacity", json_object_new_int64(IDG_CT_MAX));
	json_object_object_add(j, "conntrack_new_entries", json_object_new_int64(st->n_ct_new));
	json_object_object_add(j, "conntrack_new_capacity", json_object_new_int64(IDG_CT_NEW_MAX));
	json_object_object_add(j, "events_lost", json_object_new_int64((int64_t)st->lost));
	json_object_object_add(j, "events_suppressed", json_object_new_int64((int64_t)st->supp));
	json_object_object_add(j, "daemon", st->daemon);
	st->daemon = NULL;
	jr = json_object_new_object();
	json_object_object_add(j, "verdicts", jr);
	for (uint32_t r = 1; r < IDG_REASON_MAX; r++) {
		struct idg_counter c;
		struct json_object *e;

		if (idg_dp_reason_stats(dp, r, &c) || !c.packets)
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "reason", json_object_new_int((int)r));
		json_object_object_add(e, "drop", json_object_new_boolean(idg_reason_is_drop(r)));
		json_object_object_add(e, "packets", json_object_new_int64((int64_t)c.packets));
		json_object_object_add(e, "bytes", json_object_new_int64((int64_t)c.bytes));
		json_object_object_add(jr, idg_reason_name(r), e);
	}
	json_print(j);
}

static void status_text(const struct status *st, const struct idg_dp *dp)
{
	printf("node:        %s\npin dir:     %s\n", st->in.node, st->in.pin_dir);
	printf("uplink:      %s (ifindex %d)\n", st->meta.uplink, st->meta.uplink_ifindex);
	if (st->xdp_id)
		printf("xdp:         attached, %s mode, prog id %u, %s\n", st->xmode, st->xdp_id,
		       st->alone ? "alone (no libxdp dispatcher on this kernel)" :
				   "through the libxdp dispatcher");
	else if (st->tc_mode)
		printf("xdp:         not used: the ingress filter runs at tc ingress (xdpMode tc, or auto on %s)\n",
		       st->meta.uplink);
	else
		printf("xdp:         NOT ATTACHED (run idgate apply to put it back)\n");
	if (st->tc_id)
		printf("tc egress:   attached, prog id %u\n", st->tc_id);
	else
		printf("tc egress:   NOT ATTACHED (run idgate apply to put it back)\n");
	printf("tc programs:\n");
	for (size_t i = 0; i < st->meta.n_tc; i++)
		printf("             %s %s: %s%s\n", st->meta.tc[i].ifname,
		       tc_point(&st->meta.tc[i]), st->meta.tc[i].prog,
		       st->tc_ids[i] ? "" : " NOT ATTACHED (idgate apply puts it back)");
	printf("generation:  %u\n", st->gen);
	printf("maps:        ipcache %ld, endpoints %ld, policy %ld (+%ld any-peer), conntrack %ld/%d established + %ld/%d new\n",
	       st->n_ipc, st->n_ep, st->n_pol, st->n_any, st->n_ct, IDG_CT_MAX,
	       st->n_ct_new, IDG_CT_NEW_MAX);
	printf("events:      %llu lost (ring buffer full), %llu suppressed (rate limit)\n",
	       (unsigned long long)st->lost, (unsigned long long)st->supp);
	daemon_text(st->daemon);
	printf("verdicts:\n");
	for (uint32_t r = 1; r < IDG_REASON_MAX; r++) {
		struct idg_counter c;

		if (idg_dp_reason_stats(dp, r, &c) || !c.packets)
			continue;
		printf("  %-4s %-34s %12llu pkts %14llu bytes\n",
		       idg_reason_is_drop(r) ? "drop" : "pass", idg_reason_name(r),
		       (unsigned long long)c.packets, (unsigned long long)c.bytes);
	}
}

int do_status(struct idg_opts *o)
{
	struct status st = { 0 };
	struct idg_dp dp;
	int err;

	if (cmd_instance(o, &st.in))
		return 2;
	if (!idg_instance_exists(&st.in)) {
		fprintf(stderr, "idgate: node %s: not loaded (nothing pinned in %s)\n",
			st.in.node, st.in.pin_dir);
		return 1;
	}
	err = idg_meta_load(st.in.state_dir, &st.meta);
	if (err) {
		fprintf(stderr, "idgate: node %s: cannot read %s: %s\n", st.in.node,
			st.in.state_dir, strerror(-err));
		return 1;
	}
	err = idg_dp_open_pinned(&dp, st.in.pin_dir);
	if (err) {
		fprintf(stderr, "idgate: cannot open maps in %s: %s\n",
			st.in.pin_dir, strerror(-err));
		return 1;
	}
	status_read(&st, &dp);
	if (o->json)
		status_json(&st, &dp);
	else
		status_text(&st, &dp);
	json_object_put(st.daemon);
	idg_dp_close(&dp);
	return 0;
}

static const char *kind_name(enum idg_id_kind k)
{
	return k == IDG_IDK_RESERVED ? "reserved" :
	       k == IDG_IDK_CIDR ? "cidr" : "endpoint";
}

int do_identity_list(struct idg_opts *o)
{
	struct idg_instance in;
	struct cmd_compiled cc;
	struct json_object *j = NULL;
	int err;

	if (cmd_instance(o, &in))
		return 2;
	err = cmd_compile(&in, NULL, &cc);
	if (err)
		goto out;
	if (o->json)
		j = json_object_new_array();
	else
		printf("%-10s %-8s %-8s %s\n", "IDENTITY", "CLUSTER", "KIND", "LABELS");
	for (size_t i = 0; i < cc.c.n_ids; i++) {
		const struct idg_identity *id = &cc.c.ids[i];

		if (j) {
			struct json_object *e = json_object_new_object();
			struct json_object *l = json_object_new_object();

			json_object_object_add(e, "id", json_object_new_int64(id->id));
			json_object_object_add(e, "cluster_id", json_object_new_int64(id->cluster_id));
			json_object_object_add(e, "kind", json_object_new_string(kind_name(id->kind)));
			for (size_t k = 0; k < id->labels.n; k++)
				json_object_object_add(l, id->labels.v[k].key,
						       json_object_new_string(id->labels.v[k].value));
			json_object_object_add(e, "labels", l);
			json_object_array_add(j, e);
		} else {
			printf("%-10u %-8u %-8s %s\n", id->id, id->cluster_id,
			       kind_name(id->kind), id->canon);
		}
	}
	if (j)
		json_print(j);
out:
	cmd_compiled_free(&cc);
	return err ? 1 : 0;
}

static void fmt_l4(const struct idg_rule_entry *r, char *buf, size_t len)
{
	char pbuf[IDG_PROTO_STR_LEN];
	const char *p = idg_proto_str(r->proto, pbuf, sizeof(pbuf));

	if (!r->proto)
		snprintf(buf, len, "any");
	else if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6)
		r->icmp_type < 0 ? snprintf(buf, len, "%s", p) :
				   snprintf(buf, len, "%s type %d", p, r->icmp_type);
	else if (!idg_proto_name(r->proto))
		snprintf(buf, len, "%s", p);
	else if (!r->port)
		snprintf(buf, len, "%s/all", p);
	else if (r->end_port > r->port)
		snprintf(buf, len, "%u-%u/%s", r->port, r->end_port, p);
	else
		snprintf(buf, len, "%u/%s", r->port, p);
}

static const char *peer_labels(const struct idg_compiled *c, uint32_t peer)
{
	const struct idg_identity *id;

	if (peer == IDG_ID_UNKNOWN)
		return "(any peer)";
	id = idg_compiled_identity(c, peer);
	return id ? id->canon : "(unknown identity)";
}

/* The grant entry r makes on an L7 port of its subject (the first such
 * port it covers), or NULL: r's traffic never meets the proxy. */
static const struct idg_l7_grant *entry_grant(const struct idg_l7_table *t,
					      const struct idg_rule_entry *r)
{
	for (size_t i = 0; r->kind == IDG_RULE_ALLOW && i < t->n; i++) {
		const struct idg_l7_port *lp = &t->ports[i];

		if (lp->subject != r->subject || lp->dir != r->dir)
			continue;
		for (size_t k = 0; k < lp->n_grants; k++)
			if (lp->grants[k].cookie == r->cookie &&
			    lp->grants[k].peer == r->peer)
				return &lp->grants[k];
	}
	return NULL;
}

static void http_header_text(const struct idg_http_header *h, char *buf,
			     size_t len)
{
	if (h->value)
		snprintf(buf, len, "%s: %s", h->name, h->value);
	else
		snprintf(buf, len, "%s", h->name);
}

/* Cilium's l7-rules: {"http": [{method, path, host, headers}]}. */
static struct json_object *l7_json(const struct idg_l7_grant *g)
{
	struct json_object *j = json_object_new_object(),
			   *http = json_object_new_array();
	char hb[512];

	for (size_t i = 0; g->l7 && i < g->l7->n_http; i++) {
		const struct idg_http_rule *h = &g->l7->http[i];
		struct json_object *jh = json_object_new_object();

		if (h->method)
			json_object_object_add(jh, "method", json_object_new_string(h->method));
		if (h->path)
			json_object_object_add(jh, "path", json_object_new_string(h->path));
		if (h->host)
			json_object_object_add(jh, "host", json_object_new_string(h->host));
		if (h->n_headers) {
			struct json_object *ja = json_object_new_array();

			for (size_t k = 0; k < h->n_headers; k++) {
				http_header_text(&h->headers[k], hb, sizeof(hb));
				json_object_array_add(ja, json_object_new_string(hb));
			}
			json_object_object_add(jh, "headers", ja);
		}
		json_object_array_add(http, jh);
	}
	json_object_object_add(j, "http", http);
	return j;
}

/* Under the rule's line: what the proxy admits from its peer there. */
static void l7_text(const struct idg_l7_grant *g)
{
	char hb[512];

	if (!g->l7) {
		printf("  %-8s l7: every request (the port goes to the L7 proxy)\n", "");
		return;
	}
	for (size_t i = 0; i < g->l7->n_http; i++) {
		const struct idg_http_rule *h = &g->l7->http[i];

		printf("  %-8s l7: %s %s", "", h->method ? h->method : "*",
		       h->path ? h->path : "*");
		if (h->host)
			printf(" host %s", h->host);
		for (size_t k = 0; k < h->n_headers; k++) {
			http_header_text(&h->headers[k], hb, sizeof(hb));
			printf(" [%s]", hb);
		}
		printf("\n");
	}
}

/* One subject identity: its flags and rules. */
static void show_subject(const struct idg_compiled *c, const struct idg_dp *dp,
			 uint32_t subject, uint32_t flags, const char *name,
			 struct json_object *jarr)
{
	const struct idg_identity *sid = idg_compiled_identity(c, subject);
	struct json_object *je = NULL, *jrules = NULL;
	char l4[48], origin[160];

	if (jarr) {
		je = json_object_new_object();
		json_object_object_add(je, "endpoint", json_object_new_string(name));
		json_object_object_add(je, "identity", json_object_new_int64(subject));
		json_object_object_add(je, "labels", json_object_new_string(sid ? sid->canon : ""));
		json_object_object_add(je, "ingress_enforced",
				       json_object_new_boolean(flags & IDG_EP_F_ENFORCE_INGRESS));
		json_object_object_add(je, "egress_enforced",
				       json_object_new_boolean(flags & IDG_EP_F_ENFORCE_EGRESS));
		jrules = json_object_new_array();
		json_object_object_add(je, "rules", jrules);
		json_object_array_add(jarr, je);
	} else {
		printf("%s: identity %u [%s]\n", name, subject, sid ? sid->canon : "?");
		printf("  ingress: %s   egress: %s\n",
		       flags & IDG_EP_F_ENFORCE_INGRESS ? "enforced (default deny)" : "not enforced",
		       flags & IDG_EP_F_ENFORCE_EGRESS ? "enforced (default deny)" : "not enforced");
		printf("  %-8s %-7s %-14s %10s %12s  %-36s %s\n", "DIR", "VERDICT",
		       "PORTS", "PACKETS", "BYTES", "POLICY RULE", "PEER");
	}
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct idg_rule_entry *r = &c->rules[i];
		const struct idg_l7_grant *g;
		struct idg_counter cnt = { 0 };

		if (r->subject != subject)
			continue;
		g = entry_grant(&c->l7, r);
		if (dp && r->cookie)
			idg_dp_rule_stats(dp, r->cookie, &cnt);
		fmt_l4(r, l4, sizeof(l4));
		cmd_rule_origin(idg_compiled_cookie(c, r->cookie), origin,
				sizeof(origin));
		if (jrules) {
			struct json_object *jr = json_object_new_object();

			json_object_object_add(jr, "direction", json_object_new_string(r->dir == IDG_DIR_INGRESS ? "ingress" : "egress"));
			json_object_object_add(jr, "verdict", json_object_new_string(r->kind == IDG_RULE_DENY ? "deny" : "allow"));
			json_object_object_add(jr, "ports", json_object_new_string(l4));
			json_object_object_add(jr, "peer_identity", json_object_new_int64(r->peer));
			json_object_object_add(jr, "peer_labels", json_object_new_string(peer_labels(c, r->peer)));
			json_object_object_add(jr, "rule", json_object_new_string(origin));
			json_object_object_add(jr, "cookie", json_object_new_int64(r->cookie));
			json_object_object_add(jr, "packets", json_object_new_int64((int64_t)cnt.packets));
			json_object_object_add(jr, "bytes", json_object_new_int64((int64_t)cnt.bytes));
			if (g) {
				json_object_object_add(jr, "proxy", json_object_new_boolean(true));
				json_object_object_add(jr, "l7-rules", l7_json(g));
			}
			json_object_array_add(jrules, jr);
		} else {
			printf("  %-8s %-7s %-14s %10llu %12llu  %-36s %u %s\n",
			       r->dir == IDG_DIR_INGRESS ? "ingress" : "egress",
			       r->kind == IDG_RULE_DENY ? "deny" : "allow", l4,
			       (unsigned long long)cnt.packets,
			       (unsigned long long)cnt.bytes, origin, r->peer,
			       peer_labels(c, r->peer));
			if (g)
				l7_text(g);
		}
	}
	if (!jarr)
		printf("\n");
}

int do_policy_get(struct idg_opts *o)
{
	struct json_object *j = NULL;
	struct idg_instance in;
	struct cmd_compiled cc;
	struct idg_dp dp;
	bool have_dp, found = false;
	int err;

	if (cmd_instance(o, &in))
		return 2;
	err = cmd_compile(&in, NULL, &cc);
	if (err)
		goto out;
	/* Counters need the pinned maps; the rules alone do not. */
	have_dp = !idg_dp_open_pinned(&dp, in.pin_dir);
	if (o->json)
		j = json_object_new_array();
	for (size_t i = 0; i < cc.c.n_eps; i++) {
		const struct idg_local_ep *e = &cc.c.eps[i];
		bool dup = false;

		if (o->arg && strcmp(o->arg, e->ep->name))
			continue;
		/* One block per endpoint, not per address. */
		for (size_t k = 0; k < i; k++)
			dup |= cc.c.eps[k].ep == e->ep;
		if (dup)
			continue;
		found = true;
		show_subject(&cc.c, have_dp ? &dp : NULL, e->identity,
			     e->flags, e->ep->name, j);
	}
	if (!o->arg && cc.c.host_flags)
		show_subject(&cc.c, have_dp ? &dp : NULL, IDG_ID_HOST,
			     cc.c.host_flags, "(host)", j);
	if (o->arg && !found) {
		fprintf(stderr, "idgate: no endpoint '%s' on node %s\n", o->arg,
			in.node);
		err = -ENOENT;
		if (j)
			json_object_put(j);
		j = NULL;
	}
	if (j)
		json_print(j);
	if (have_dp)
		idg_dp_close(&dp);
out:
	cmd_compiled_free(&cc);
	return err ? 1 : 0;
}
