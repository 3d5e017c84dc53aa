// SPDX-License-Identifier: GPL-2.0
/* idgate run: Prometheus metrics over HTTP (libmicrohttpd). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <microhttpd.h>
#include <idgate/consts.h>
#include <idgate/datapath.h>
#include <idgate/egw.h>
#include <idgate/reasons.h>

#include "dp.h"
#include "gen.h"
#include "mesh.h"
#include "run.h"

/* Prometheus label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const set_dir[IDG_RS_MAX] = { "ingress", "egress", "ingress",
						 "egress" };

/* Packets, then bytes, judged by the datapath, by verdict and reason. */
static void render_reasons(FILE *f, struct idg_dp *dp)
{
	static const char *const names[2] = { "idgate_packets_total",
					      "idgate_bytes_total" };

	for (int k = 0; k < 2; k++) {
		head(f, names[k], "counter",
		     k ? "Bytes judged by the datapath, by verdict and reason." :
			 "Packets judged by the datapath, by verdict and reason.");
		for (unsigned int r = 1; r < IDG_REASON_MAX; r++) {
			struct idg_counter c;

			if (!strcmp(idg_reason_name(r), "unknown") ||
			    idg_dp_reason_stats(dp, r, &c))
				continue;
			fprintf(f, "%s{verdict=\"%s\",reason=\"", names[k],
				idg_reason_is_drop(r) ? "drop" : "pass");
			put_label(f, idg_reason_name(r));
			fprintf(f, "\"} %llu\n",
				(unsigned long long)(k ? c.bytes : c.packets));
		}
	}
}

/* The counters of each rule of the enforcing config, named by it. */
static void render_rules(FILE *f, const struct idg_compiled *c,
			 struct idg_dp *dp)
{
	static const char *const names[2] = { "idgate_rule_packets_total",
					      "idgate_rule_bytes_total" };

	for (int k = 0; k < 2; k++) {
		head(f, names[k], "counter",
		     k ? "Bytes matched by each policy rule of the enforcing config." :
			 "Packets matched by each policy rule of the enforcing config.");
		for (size_t i = 0; i < c->n_cookies; i++) {
			const struct idg_cookie *ck = &c->cookies[i];
			struct idg_counter cnt = { 0 };

			if (ck->set >= IDG_RS_MAX)
				continue;
			idg_dp_rule_stats(dp, ck->cookie, &cnt);
			fprintf(f, "%s{policy=\"", names[k]);
			if (ck->policy->namespace) {
				put_label(f, ck->policy->namespace);
				fputc('/', f);
			}
			put_label(f, ck->policy->name);
			fprintf(f, "\",rule=\"%zu\",direction=\"%s\",verdict=\"%s\"} %llu\n",
				ck->rule_index, set_dir[ck->set],
				ck->set >= IDG_RS_INGRESS_DENY ? "deny" : "allow",
				(unsigned long long)(k ? cnt.bytes : cnt.packets));
		}
	}
}

/* L7 requests by verdict and by the rule that decided (admitted, or
 * the first grant for the sender when none did). */
static void render_l7(FILE *f, const struct idg_run_shared *sh)
{
	const struct idg_compiled *c = sh->compiled;

	head(f, "idgate_l7_requests_total", "counter",
	     "HTTP requests the L7 proxy judged, by verdict and policy rule (rule \"-\": the sender had no grant).");
	for (uint32_t k = 0; sh->l7_requests && k < IDG_RULES_MAX; k++)
		for (int v = 0; v < 2; v++) {
			const struct idg_cookie *ck;

			if (!sh->l7_requests[k][v])
				continue;
			ck = c && k ? idg_compiled_cookie(c, k) : NULL;
			fprintf(f, "idgate_l7_requests_total{verdict=\"%s\",policy=\"",
				v ? "allowed" : "denied");
			if (ck && ck->policy->namespace) {
				put_label(f, ck->policy->namespace);
				fputc('/', f);
			}
			if (ck)
				put_label(f, ck->policy->name);
			fprintf(f, "\",rule=\"");
			if (ck)
				fprintf(f, "%s[%zu]", idg_rule_set_name(ck->set),
					ck->rule_index);
			else
				fputc('-', f);
			fprintf(f, "\"} %llu\n",
				(unsigned long long)sh->l7_requests[k][v]);
		}
}

/* Entries and capacity of the maps that fill up, in generation gen. */
static void render_occupancy(FILE *f, struct idg_dp *dp, uint32_t gen)
{
	struct {
		const char *map;
		long n;
		long cap;
	} occ[6];
	long n_pol, n_any;

	n_pol = idg_map_count_active2(dp->pol_gens_fd, dp->polx_gens_fd, gen,
				      sizeof(struct idg_policy_key));
	n_any = idg_map_count_active(dp->polany_gens_fd, gen, sizeof(struct idg_policy_key));
	occ[0].map = "ipcache";
	occ[0].n = idg_map_count_active2(dp->ipc_gens_fd, dp->ipch_gens_fd, gen,
					  sizeof(struct idg_ip_key));
	occ[0].cap = IDG_IPCACHE_MAX;
	occ[1].map = "endpoints";
	occ[1].n = idg_map_count_active2(dp->ep_gens_fd, dp->eph_gens_fd, gen,
					 sizeof(struct idg_ip_key));
	occ[1].cap = IDG_ENDPOINTS_MAX;
	occ[2].map = "policy";
	occ[2].n = n_pol < 0 || n_any < 0 ? -1 : n_pol + n_any;
	occ[2].cap = 2L * IDG_POLICY_MAX; /* by-peer and any-peer maps */
	occ[3].map = "conntrack";
	occ[3].n = idg_map_count(dp->ct_fd, sizeof(struct idg_ct_key));
	occ[3].cap = IDG_CT_MAX;
	occ[4].map = "nat";
	occ[4].n = idg_map_count(dp->snat_fd, sizeof(struct idg_snat_key));
	occ[4].cap = IDG_SNAT_MAX;
	occ[5].map = "conntrack_new";
	occ[5].n = idg_map_count(dp->ct_new_fd, sizeof(struct idg_ct_key));
	occ[5].cap = IDG_CT_NEW_MAX;
	head(f, "idgate_map_entries", "gauge",
	     "Entries in each map (active generation for generational maps).");
	for (int i = 0; i < 6; i++)
		if (occ[i].n >= 0)
			fprintf(f, "idgate_map_entries{map=\"%s\"} %ld\n", occ[i].map, occ[i].n);
	head(f, "idgate_map_capacity", "gauge", "Maximum entries of each map.");
	for (int i = 0; i < 6; i++)
		fprintf(f, "idgate_map_capacity{map=\"%s\"} %ld\n", occ[i].map, occ[i].cap);
	head(f, "idgate_conntrack_entries", "gauge",
	     "Connection tracking entries (established, and not yet proven both ways).");
	fprintf(f, "idgate_conntrack_entries{table=\"established\"} %ld\n",
		occ[3].n < 0 ? 0 : occ[3].n);
	fprintf(f, "idgate_conntrack_entries{table=\"new\"} %ld\n",
		occ[5].n < 0 ? 0 : occ[5].n);
	head(f, "idgate_nat_entries", "gauge", "Egress gateway SNAT mappings.");
	fprintf(f, "idgate_nat_entries %ld\n", occ[4].n < 0 ? 0 : occ[4].n);
}

static void render_misc(FILE *f, struct idg_dp *dp)
{
	static const struct {
		unsigned int idx;
		const char *name, *help;
	} misc[] = {
		{ IDG_MISC_EVENTS_LOST, "idgate_events_lost_total",
		  "Events dropped because the ring buffer was full." },
		{ IDG_MISC_EVENTS_SUPPRESSED, "idgate_events_suppressed_total",
		  "Drop events not emitted: per-flow rate limit or per-CPU budget." },
		{ IDG_MISC_CT_CREATE_FAILED, "idgate_conntrack_create_failed_total",
		  "Conntrack entries that could not be created." },
		{ IDG_MISC_CT_REJUDGED, "idgate_conntrack_rejudged_total",
		  "Established flows judged again after a generation switch." },
		{ IDG_MISC_CT_PROMOTED, "idgate_conntrack_promoted_total",
		  "Flows moved to the established table: both ends proved alive." },
		{ IDG_MISC_FRAG_CREATE_FAILED, "idgate_fragment_track_failed_total",
		  "First fragments whose datagram could not be recorded." },
		{ IDG_MISC_CT_REVOKED, "idgate_conntrack_revoked_total",
		  "Established flows denied by the new policy after a switch." },
	};

	for (size_t i = 0; i < sizeof(misc) / sizeof(misc[0]); i++) {
		__u64 v = 0;

		idg_dp_misc_stat(dp, misc[i].idx, &v);
		head(f, misc[i].name, "counter", misc[i].help);
		fprintf(f, "%s %llu\n", misc[i].name, (unsigned long long)v);
	}
}

static void render_dp(FILE *f, struct idg_run_shared *sh, struct idg_dp *dp)
{
	uint32_t gen = 0;

	idg_dp_active_gen(dp, &gen);
	head(f, "idgate_generation", "gauge", "The policy generation enforcing now.");
	fprintf(f, "idgate_generation %u\n", gen);
	render_reasons(f, dp);
	if (sh->compiled)
		render_rules(f, sh->compiled, dp);
	render_occupancy(f, dp, gen);
	render_misc(f, dp);
}

/* The cluster mesh's store, when the daemon is in one (docs/mesh.md). */
static void render_mesh(FILE *f, struct idg_run_shared *sh)
{
	struct idg_mesh_health h;

	if (!sh->mesh)
		return;
	idg_mesh_health(sh->mesh, &h);
	head(f, "idgate_kvstore_connected", "gauge",
	     "1 while the cluster mesh's store answers.");
	fprintf(f, "idgate_kvstore_connected %d\n", h.connected);
	head(f, "idgate_kvstore_revision", "gauge",
	     "The store's revision the other nodes' documents are read at.");
	fprintf(f, "idgate_kvstore_revision %lld\n", (long long)h.rev);
	head(f, "idgate_kvstore_data_age_seconds", "gauge",
	     "Seconds since the store last answered: how old the other nodes' endpoints may be (-1: never).");
	fprintf(f, "idgate_kvstore_data_age_seconds %.3f\n", h.age_s);
	head(f, "idgate_kvstore_connects_total", "counter",
	     "Connections to the store made (the first and every reconnect).");
	fprintf(f, "idgate_kvstore_connects_total %u\n", h.connects);
}

char *idg_metrics_render(struct idg_run_shared *sh, size_t *len)
{
	struct idg_dp dp;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	bool up;

	if (!f)
		return NULL;
	up = !idg_dp_open_pinned(&dp, sh->in.pin_dir);
	head(f, "idgate_up", "gauge", "1 when the instance's maps are pinned and readable.");
	fprintf(f, "idgate_up %d\n", up);
	head(f, "idgate_reloads_total", "counter",
	     "Config loads tried (start, file change, SIGHUP).");
	fprintf(f, "idgate_reloads_total %llu\n", (unsigned long long)sh->reloads);
	head(f, "idgate_reload_failures_total", "counter",
	     "Config loads refused (the running generation kept enforcing).");
	fprintf(f, "idgate_reload_failures_total %llu\n",
		(unsigned long long)sh->reload_failures);
	head(f, "idgate_last_reload_success", "gauge", "1 when the last config load was applied.");
	fprintf(f, "idgate_last_reload_success %d\n", sh->last_reload_ok);
	head(f, "idgate_last_reload_duration_seconds", "gauge",
	     "Wall time of the last config load (compile, fill, switch).");
	fprintf(f, "idgate_last_reload_duration_seconds %.6f\n", sh->last_reload_s);
	head(f, "idgate_last_reload_timestamp_seconds", "gauge",
	     "Unix time of the last config load.");
	fprintf(f, "idgate_last_reload_timestamp_seconds %.3f\n", sh->last_reload_time);
	head(f, "idgate_reattach_total", "counter",
	     "Programs put back by the link watcher (removed or interface re-created).");
	fprintf(f, "idgate_reattach_total %llu\n", (unsigned long long)sh->reattaches);
	render_l7(f, sh);
	render_mesh(f, sh);
	if (up) {
		render_dp(f, sh, &dp);
		idg_dp_close(&dp);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	static const char nf[] = "404 not found: metrics are at /metrics\n";
	struct idg_run_shared *sh = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = 0;
	char *body;
	int status = MHD_HTTP_OK;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
						    MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	pthread_mutex_lock(&sh->mu);
	body = idg_metrics_render(sh, &len);
	pthread_mutex_unlock(&sh->mu);
	if (!body) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(r, "Content-Type",
					"text/plain; version=0.0.4; charset=utf-8");
	}
	ret = MHD_queue_response(conn, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

struct MHD_Daemon *idg_metrics_start(const char *addr, struct idg_run_shared *sh)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *ai = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':'), *h = host;
	struct MHD_Daemon *d;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int err;

	if (!colon || colon == addr || !colon[1] ||
	    (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "idgate run: --metrics-address wants HOST:PORT or off, not '%s'\n",
			addr);
		return NULL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		h = host + 1;
	}
	err = getaddrinfo(h, colon + 1, &hints, &ai);
	if (err) {
		fprintf(stderr, "idgate run: --metrics-address %s: %s\n", addr,
			gai_strerror(err));
		return NULL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, answer, sh,
			     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
			     MHD_OPTION_CONNECTION_LIMIT, 64u,
			     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!d)
		fprintf(stderr, "idgate run: cannot serve metrics on %s: %s\n",
			addr, strerror(errno));
	return d;
}

void idg_metrics_stop(struct MHD_Daemon *d)
{
	if (d)
		MHD_stop_daemon(d);
}
