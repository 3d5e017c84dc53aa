// SPDX-License-Identifier: GPL-2.0
/* egress list, nat list, health: the egress gateway's commands. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <json-c/json.h>
#include <idgate/egw.h>

#include "cmd.h"
#include "dp.h"
#include "health.h"
#include "nat_gc.h"
#include "util/util.h"

static int open_pin(const struct idg_instance *in, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (idg_path_join(path, sizeof(path), in->pin_dir, name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "idgate: node %s is not loaded (%s: %s)\n",
			in->node, path, strerror(errno));
		return -errno;
	}
	return fd;
}

static const char *ip4(uint32_t ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

/* "up", "down" or "up (not probed)" from the health map. */
static const char *gw_state(int fd, uint32_t ip)
{
	struct idg_gw_health h;

	if (fd < 0 || bpf_map_lookup_elem(fd, &ip, &h))
		return "up (not probed)";
	return h.up ? "up" : "down";
}

int do_egress_list(struct idg_opts *o)
{
	struct json_object *j = NULL;
	struct idg_instance in;
	struct cmd_compiled cc;
	char a[INET_ADDRSTRLEN], cidr[64];
	int hfd, err;

	if (cmd_instance(o, &in))
		return 2;
	err = cmd_compile(&in, NULL, &cc);
	if (err)
		goto out;
	hfd = open_pin(&in, IDG_MAP_GW_HEALTH);
	if (o->json)
		j = json_object_new_array();
	for (size_t s = 0; s < cc.c.n_gwsets; s++) {
		const struct idg_gwset_entry *g = &cc.c.gwsets[s];
		struct json_object *jg = NULL, *jgw = NULL, *jsrc = NULL;

		if (j) {
			jg = json_object_new_object();
			json_object_object_add(jg, "policy", json_object_new_string(g->policy->name));
			json_object_object_add(jg, "source_cluster_id", json_object_new_int64(g->src_cluster));
			jgw = json_object_new_array();
			jsrc = json_object_new_array();
			json_object_object_add(jg, "gateways", jgw);
			json_object_object_add(jg, "routes", jsrc);
			json_object_array_add(j, jg);
		} else {
			printf("policy %s (sources of cluster id %u)\n  gateways:",
			       g->policy->name, g->src_cluster);
			if (!g->set.n)
				printf(" none: matching traffic is dropped");
			printf("\n");
		}
		for (uint32_t k = 0; k < g->set.n; k++) {
			const char *st = gw_state(hfd, g->set.tunnel_ip[k]);

			if (jgw) {
				struct json_object *e = json_object_new_object();

				json_object_object_add(e, "node", json_object_new_string(g->nodes[k]->name));
				json_object_object_add(e, "tunnel_ip", json_object_new_string(ip4(g->set.tunnel_ip[k], a)));
				json_object_object_add(e, "state", json_object_new_string(st));
				json_object_array_add(jgw, e);
			} else {
				printf("    %-16s %-15s %s\n", g->nodes[k]->name,
				       ip4(g->set.tunnel_ip[k], a), st);
			}
		}
		if (!jg)
			printf("  routes:\n");
		for (size_t i = 0; i < cc.c.n_egw; i++) {
			const struct idg_egw_entry *e = &cc.c.egw[i];
			char src[INET_ADDRSTRLEN], eip[INET_ADDRSTRLEN] = "-";

			if (e->val.gwset != g->index)
				continue;
			ip4(e->src_ip, src);
			snprintf(cidr, sizeof(cidr), "%s/%u",
				 inet_ntop(AF_INET, e->dst.addr, a, sizeof(a)),
				 e->dst.plen);
			if (e->val.egress_ip)
				ip4(e->val.egress_ip, eip);
			if (jsrc) {
				struct json_object *r = json_object_new_object();

				json_object_object_add(r, "endpoint", json_object_new_string(e->source->name));
				json_object_object_add(r, "source", json_object_new_string(src));
				json_object_object_add(r, "destination", json_object_new_string(cidr));
				json_object_object_add(r, "excluded", json_object_new_boolean(e->val.flags & IDG_EGW_F_EXCLUDED));
				json_object_object_add(r, "egress_ip", json_object_new_string(eip));
				json_object_array_add(jsrc, r);
			} else {
				printf("    %-20s %-15s -> %-18s %s%s%s\n",
				       e->source->name, src, cidr,
				       e->val.flags & IDG_EGW_F_EXCLUDED ? "excluded (normal routing)" : "via gateway",
				       e->val.egress_ip ? ", egress IP " : "",
				       e->val.egress_ip ? eip : "");
			}
		}
	}
	if (!cc.c.n_gwsets && !j)
		printf("no egress gateway policy selects any endpoint\n");
	if (j) {
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	}
	if (hfd >= 0)
		close(hfd);
out:
	cmd_compiled_free(&cc);
	return err ? 1 : 0;
}

int do_nat_list(struct idg_opts *o)
{
	struct idg_snat_key k, next, *prev = NULL;
	struct json_object *j = NULL;
	struct idg_instance in;
	struct idg_snat_val v;
	uint64_t now;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN],
		n[INET_ADDRSTRLEN], pbuf[IDG_PROTO_STR_LEN];
	int fd, count = 0;

	if (cmd_instance(o, &in))
		return 2;
	fd = open_pin(&in, IDG_MAP_SNAT);
	if (fd < 0)
		return 1;
	now = idg_clock_ns(CLOCK_MONOTONIC);
	if (o->json)
		j = json_object_new_array();
	else
		printf("%-5s %-22s %-22s %-22s %-15s %8s %8s\n", "PROTO",
		       "ORIGINAL SOURCE", "DESTINATION", "TRANSLATED SOURCE",
		       "FROM NODE", "AGE s", "IDLE s");
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		count++;
		ip4(k.saddr, a);
		ip4(k.daddr, b);
		ip4(v.nat_ip, c);
		ip4(k.node_ip, n);
		if (j) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "proto", json_object_new_string(idg_proto_str(k.proto, pbuf, sizeof(pbuf))));
			json_object_object_add(e, "source", json_object_new_string(a));
			json_object_object_add(e, "source_port", json_object_new_int(ntohs(k.sport)));
			json_object_object_add(e, "destination", json_object_new_string(b));
			json_object_object_add(e, "destination_port", json_object_new_int(ntohs(k.dport)));
			json_object_object_add(e, "nat_ip", json_object_new_string(c));
			json_object_object_add(e, "nat_port", json_object_new_int(ntohs(v.nat_port)));
			json_object_object_add(e, "node", json_object_new_string(n));
			json_object_object_add(e, "vni", json_object_new_int64(v.vni));
			json_object_object_add(e, "age_s", json_object_new_double((double)(now - v.created_ns) / 1e9));
			json_object_object_add(e, "idle_s", json_object_new_double((double)(now - v.last_seen_ns) / 1e9));
			json_object_array_add(j, e);
		} else {
			char s1[32], s2[32], s3[32];

			snprintf(s1, sizeof(s1), "%s:%u", a, ntohs(k.sport));
			snprintf(s2, sizeof(s2), "%s:%u", b, ntohs(k.dport));
			snprintf(s3, sizeof(s3), "%s:%u", c, ntohs(v.nat_port));
			printf("%-5s %-22s %-22s %-22s %-15s %8.1f %8.1f\n",
			       idg_proto_str(k.proto, pbuf, sizeof(pbuf)), s1, s2,
			       s3, n,
			       (double)(now - v.created_ns) / 1e9,
			       (double)(now - v.last_seen_ns) / 1e9);
		}
	}
	if (j) {
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	} else if (!count) {
		printf("(no translations)\n");
	}
	close(fd);
	return 0;
}

/* Mappings per source, with the quota and the flows it refused. */
int do_nat_sources(struct idg_opts *o)
{
	struct idg_snat_src_key k, next, *prev = NULL;
	struct json_object *j = NULL;
	struct idg_tun_cfg tun = { 0 };
	struct idg_instance in;
	struct idg_snat_src v;
	struct idg_dp dp;
	char a[INET_ADDRSTRLEN], n[INET_ADDRSTRLEN];
	int count = 0, err;

	if (cmd_instance(o, &in))
		return 2;
	err = idg_dp_open_pinned(&dp, in.pin_dir);
	if (err) {
		fprintf(stderr, "idgate nat sources: node %s is not loaded (%s)\n",
			in.node, strerror(-err));
		return 1;
	}
	idg_dp_tun_cfg(&dp, &tun);
	if (o->json)
		j = json_object_new_array();
	else
		printf("%-15s %-15s %8s %8s %10s\n", "FROM NODE", "SOURCE", "HELD",
		       "QUOTA", "REFUSED");
	while (!bpf_map_get_next_key(dp.snat_src_fd, prev, &next)) {
		uint64_t collected = 0, held;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(dp.snat_src_fd, &k, &v))
			continue;
		bpf_map_lookup_elem(dp.snat_srcgc_fd, &k, &collected);
		held = v.allocs - v.frees - collected;
		/* A count read mid-update can be one off below zero. */
		if ((int64_t)held < 0)
			held = 0;
		count++;
		ip4(k.node_ip, n);
		ip4(k.saddr, a);
		if (j) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "node", json_object_new_string(n));
			json_object_object_add(e, "source", json_object_new_string(a));
			json_object_object_add(e, "mappings", json_object_new_int64((int64_t)held));
			json_object_object_add(e, "quota", json_object_new_int64(tun.nat_src_quota));
			json_object_object_add(e, "refused", json_object_new_int64((int64_t)v.quota_drops));
			json_object_array_add(j, e);
		} else {
			printf("%-15s %-15s %8llu %8u %10llu\n", n, a,
			       (unsigned long long)held, tun.nat_src_quota,
			       (unsigned long long)v.quota_drops);
		}
	}
	if (j) {
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	} else if (!count) {
		printf("(no sources)\n");
	}
	idg_dp_close(&dp);
	return 0;
}

static volatile int health_stop;

#define IDG_NAT_GC_INTERVAL_MS 5000

struct gc_ctx {
	struct idg_dp dp;
	struct idg_nat_gc st;
};

static void gc_tick(void *arg)
{
	struct gc_ctx *g = arg;
	struct idg_nat_maps m = { .fwd = g->dp.snat_fd,
				  .rev = g->dp.snat_rev_fd,
				  .src = g->dp.snat_src_fd,
				  .src_gc = g->dp.snat_srcgc_fd };
	struct idg_nat_gc_result res;
	struct idg_tun_cfg tun;
	uint64_t now = idg_clock_ns(CLOCK_MONOTONIC_COARSE);
	int err;

	err = idg_dp_tun_cfg(&g->dp, &tun);
	if (!err)
		err = idg_nat_gc_pass(&m, &tun, now, &g->st, &res);
	if (err)
		fprintf(stderr, "idgate health: NAT garbage collection failed: %s\n",
			strerror(-err));
	else if (res.expired || res.orphans)
		printf("nat gc: %zu idle mapping(s) and %zu stray reverse entrie(s) removed, %zu live\n",
		       res.expired, res.orphans, res.live);
	fflush(stdout);
}

static void on_signal(int sig)
{
	(void)sig;
	health_stop = 1;
}

struct cmd_health {
	struct idg_health h;
	struct gc_ctx gc;
	bool have_gc;
	char node[IDG_NODE_NAME_MAX + 1];
};

void cmd_health_free(struct cmd_health *ch)
{
	if (!ch)
		return;
	if (ch->have_gc) {
		idg_nat_gc_free(&ch->gc.st);
		idg_dp_close(&ch->gc.dp);
	}
	free(ch->h.targets);
	if (ch->h.health_fd >= 0)
		close(ch->h.health_fd);
	free(ch);
}

int cmd_health_new(const struct idg_instance *in, const struct idg_compiled *c,
		   bool quiet, struct cmd_health **out)
{
	struct cmd_health *ch = calloc(1, sizeof(*ch));
	struct idg_health *h;
	int err;

	*out = NULL;
	if (!ch)
		return -ENOMEM;
	h = &ch->h;
	h->health_fd = -1;
	snprintf(ch->node, sizeof(ch->node), "%s", in->node);
	h->health_fd = open_pin(in, IDG_MAP_GW_HEALTH);
	if (h->health_fd < 0) {
		err = h->health_fd;
		goto fail;
	}
	if (c->node->has_tunnel_ip && c->node->tunnel_ip.family == IDG_FAM_IPV4)
		memcpy(&h->self_ip, c->node->tunnel_ip.addr, 4);
	h->respond = c->is_gateway;
	h->targets = calloc(IDG_GWSET_MAX * IDG_GW_PER_SET, sizeof(*h->targets));
	if (!h->targets) {
		err = -ENOMEM;
		goto fail;
	}
	/* Every gateway this node's sources may use, once. */
	for (size_t s = 0; s < c->n_gwsets; s++) {
		bool ours = false;

		for (size_t i = 0; i < c->n_egw && !ours; i++)
			ours = c->egw[i].val.gwset == c->gwsets[s].index &&
			       !strcmp(c->egw[i].source->node, in->node);
		for (uint32_t k = 0; ours && k < c->gwsets[s].set.n; k++) {
			uint32_t ip = c->gwsets[s].set.tunnel_ip[k];
			bool dup = ip == h->self_ip;

			for (size_t t = 0; t < h->n_targets; t++)
				dup |= h->targets[t].ip == ip;
			if (!dup)
				h->targets[h->n_targets++].ip = ip;
		}
	}
	if (!h->respond && !h->n_targets) {
		if (!quiet)
			printf("node %s: no gateway to probe and no gateway role: nothing to do\n",
			       in->node);
		cmd_health_free(ch);
		return 0;
	}
	if (h->respond) {
		err = idg_dp_open_pinned(&ch->gc.dp, in->pin_dir);
		if (err) {
			fprintf(stderr, "idgate: cannot open maps in %s: %s\n",
				in->pin_dir, strerror(-err));
			goto fail;
		}
		ch->have_gc = true;
		h->tick = gc_tick;
		h->tick_ctx = &ch->gc;
		h->tick_ms = IDG_NAT_GC_INTERVAL_MS;
	}
	*out = ch;
	return 0;
fail:
	cmd_health_free(ch);
	return err;
}

int cmd_health_run(struct cmd_health *ch, volatile int *stop)
{
	struct idg_health *h = &ch->h;
	char a[INET_ADDRSTRLEN];

	printf("node %s:%s%s%s probing %zu gateway(s) every %d ms on UDP %d\n",
	       ch->node, h->respond ? " answering probes on " : "",
	       h->respond ? ip4(h->self_ip, a) : "", h->respond ? ";" : "",
	       h->n_targets, IDG_HEALTH_INTERVAL_MS, IDG_HEALTH_PORT);
	fflush(stdout);
	return idg_health_run(h, stop);
}

int do_health(struct idg_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct cmd_health *ch = NULL;
	struct idg_instance in;
	struct cmd_compiled cc;
	int err;

	if (cmd_instance(o, &in))
		return 2;
	err = cmd_compile(&in, NULL, &cc);
	if (!err)
		err = cmd_health_new(&in, &cc.c, false, &ch);
	if (!err && ch) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		err = cmd_health_run(ch, &health_stop);
	}
	cmd_health_free(ch);
	cmd_compiled_free(&cc);
	return err ? 1 : 0;
}
