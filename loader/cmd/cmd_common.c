// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "l7.h"
#include "netlink.h"
#include "util/util.h"

/* One line whatever the name holds: control bytes are shown as '?'. */
static void bad_node_name(const char *node, bool from_host)
{
	char shown[81];
	size_t i;

	for (i = 0; node[i] && i < sizeof(shown) - 1; i++)
		shown[i] = isprint((unsigned char)node[i]) ? node[i] : '?';
	shown[i] = '\0';
	fprintf(stderr, "idgate: %s '%s%s' is not a valid node name (" IDG_NODE_NAME_RULE ")%s\n",
		from_host ? "host name" : "--node", shown, node[i] ? "..." : "",
		from_host ? ": give --node" : "");
}

int cmd_instance(const struct idg_opts *o, struct idg_instance *in)
{
	char host[64];
	const char *node = o->node;
	int err;

	if (!node) {
		if (gethostname(host, sizeof(host))) {
			fprintf(stderr, "idgate: no --node and no host name: %s\n",
				strerror(errno));
			return -errno;
		}
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	if (!idg_node_name_ok(node)) {
		bad_node_name(node, !o->node);
		return -EINVAL;
	}
	err = idg_instance_init(in, node, o->pin_dir, o->state_dir);
	if (err)
		fprintf(stderr, "idgate: bad path for node '%s': %s\n", node,
			strerror(-err));
	return err;
}

/* A cookie keeps its counters only when it still names the same rule. */
static void mark_kept_cookies(struct cmd_compiled *cc)
{
	for (size_t i = 0; i < cc->c.n_cookies; i++) {
		uint32_t ck = cc->c.cookies[i].cookie;

		if (cc->c.cookies[i].kept && ck < IDG_RULES_MAX)
			cc->known_cookies[ck / 8] |= (uint8_t)(1u << (ck % 8));
	}
}

int cmd_compile(const struct idg_instance *in, const char *path,
		struct cmd_compiled *cc)
{
	return cmd_compile_cached(in, path, NULL, cc);
}

void cmd_reuse_free(struct cmd_reuse *r)
{
	idg_config_cache_free(&r->cfg);
	cmd_applied_free(&r->applied);
	idg_state_memo_free(&r->state);
	idg_compile_memo_free(&r->compile);
	idg_gen_quiesce_wait(&r->grace);
}

/*
 * The proxy judges connections to local endpoints (ingress); nothing
 * steers an endpoint's own connections to it yet, so egress L7 rules are
 * refused rather than enforced on their ports alone (SPEC: never
 * silently allow).
 */
static int l7_egress_refused(struct cmd_compiled *cc)
{
	static const int sets[] = { IDG_RS_EGRESS };
	int err = 0;

	for (size_t i = 0; i < cc->cfg.n_policies; i++) {
		const struct idg_policy *pol = &cc->cfg.policies[i];

		for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
			for (size_t j = 0; j < pol->n_rules[sets[s]]; j++)
				for (size_t l = 0; l < pol->rules[sets[s]][j].n_l7; l++) {
					idg_err(&cc->d, pol->rules[sets[s]][j].l7[l].pos,
						"L7 rules on egress are not enforced yet: idgate's proxy judges connections to local endpoints (ingress) only, and would enforce these on their ports alone. Remove the rules section to enforce the ports alone");
					err = -EINVAL;
				}
	}
	return err;
}

/*
 * The tunnel program hands decapsulated packets past the steering, so a
 * node that sends or receives egress-gateway tunnel traffic cannot steer
 * its L7 ports: refused, not enforced on the ports alone.
 */
static int l7_tunnel_refused(struct cmd_compiled *cc)
{
	if (!idg_l7_wanted(&cc->c) || !idg_node_tunnels(&cc->c))
		return 0;
	idg_err(&cc->d, cc->c.node->pos,
		"node %s: L7 rules on a node that sends or receives egress-gateway tunnel traffic are not supported yet (docs/l7.md): move the endpoints with HTTP rules to another node",
		cc->c.node->name);
	return -EINVAL;
}

int cmd_compile_cached(const struct idg_instance *in, const char *path,
		       struct cmd_reuse *reuse, struct cmd_compiled *cc)
{
	char saved[PATH_MAX] = "", state[PATH_MAX];
	struct idg_id_allocs ids = { 0 };
	struct idg_state old = { 0 };
	bool applied = !path;
	int lock_fd = -1;
	double t0;
	int err;

	memset(cc, 0, sizeof(*cc));
	if (idg_path_join(state, sizeof(state), in->state_dir, IDG_STATE_FILE))
		return -ENAMETOOLONG;
	if (!path) {
		err = cmd_applied_open(in->state_dir, saved, sizeof(saved),
				       &lock_fd);
		if (err) {
			fprintf(stderr, "idgate: node %s has nothing applied (no %s): %s\n",
				in->node, saved, strerror(-err));
			return err;
		}
		path = saved;
	}
	t0 = idg_now_ms();
	if (reuse)
		err = idg_config_load_cached(&reuse->cfg, path, &cc->cfg,
					     &cc->d, &cc->reuse);
	else
		err = idg_config_load(path, &cc->cfg, &cc->d);
	/* Read whole: the writer may go on. */
	if (lock_fd >= 0)
		close(lock_fd);
	if (!err) {
		/* The numbers handed out before: through the daemon's memo,
		 * or read for this compile alone. */
		if (reuse) {
			err = idg_state_load_memo(state, &reuse->state);
			/* Kept with the memo while the state holds still;
			 * without it the compile indexes for itself. */
			if (!err)
				idg_state_index_build(&reuse->state.st);
		} else
			err = idg_state_load(state, &old);
		if (err)
			fprintf(stderr, "idgate: cannot read %s: %s\n", state,
				strerror(-err));
	}
	if (!err && reuse)
		cc->cfg.allocs = reuse->allocs;
	/* The applied copy again: with the store's numbers it had. */
	if (!err && !reuse && applied) {
		err = cmd_applied_ids_load(in->state_dir, &ids);
		if (!err)
			cc->cfg.allocs = &ids;
		else if (err == -ENOENT)
			err = 0;
		else
			fprintf(stderr, "idgate: cannot read the mesh's identity numbers in %s: %s\n",
				in->state_dir, strerror(-err));
	}
	if (!err)
		err = idg_compile_memo_with(&cc->cfg, in->node,
					    reuse ? &reuse->state.st : &old,
					    &cc->st, &cc->c, &cc->d,
					    reuse ? &reuse->compile : NULL);
	idg_state_free(&old);
	/* Only the compile reads them. */
	cc->cfg.allocs = reuse ? reuse->allocs : NULL;
	idg_id_allocs_free(&ids);
	if (!err)
		err = l7_egress_refused(cc);
	if (!err)
		err = l7_tunnel_refused(cc);
	if (!err)
		mark_kept_cookies(cc);
	cc->compile_ms = idg_now_ms() - t0;
	/* Warnings about the applied config were shown when it was applied;
	 * the read-only views repeat only errors. */
	if (path != saved || cc->d.n_errors)
		idg_diags_print(&cc->d, stderr);
	return err;
}

void cmd_compiled_free(struct cmd_compiled *cc)
{
	idg_compiled_free(&cc->c);
	idg_state_free(&cc->st);
	idg_config_free(&cc->cfg);
	idg_diags_free(&cc->d);
}

static int check_iface(const struct idg_node *n, const char *name,
		       const char *what, struct idg_iface *out)
{
	struct idg_iface tmp;
	int err = idg_iface_get(name, out ? out : &tmp);

	if (err == -ENODEV) {
		fprintf(stderr, "%s:%d:%d: node %s: %s interface '%s' does not exist\n",
			n->pos.file, n->pos.line, n->pos.col, n->name, what, name);
		return err;
	}
	if (err) {
		fprintf(stderr, "idgate: cannot query interface '%s': %s\n", name,
			strerror(-err));
		return err;
	}
	if (!(out ? out : &tmp)->up) {
		fprintf(stderr, "%s:%d:%d: node %s: %s interface '%s' is down\n",
			n->pos.file, n->pos.line, n->pos.col, n->name, what, name);
		return -ENETDOWN;
	}
	return 0;
}

int cmd_check_ifaces(const struct idg_node *n, struct idg_iface *uplink,
		     struct idg_iface *external)
{
	int err = check_iface(n, n->uplink, "uplink", uplink);

	for (size_t i = 0; i < n->n_endpoint_ifaces; i++) {
		int e = check_iface(n, n->endpoint_ifaces[i], "endpoint", NULL);

		err = err ? err : e;
	}
	if (n->external) {
		int e = check_iface(n, n->external, "external", external);

		err = err ? err : e;
	}
	return err;
}

void cmd_rule_origin(const struct idg_cookie *ck, char *buf, size_t len)
{
	if (!ck) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%s%s%s %s[%zu]",
		 ck->policy->namespace ? ck->policy->namespace : "",
		 ck->policy->namespace ? "/" : "", ck->policy->name,
		 idg_rule_set_name(ck->set), ck->rule_index);
}

uint32_t cmd_addr_identity(const struct idg_compiled *c, int family,
			   const uint8_t *addr)
{
	uint32_t best = IDG_ID_WORLD;
	int best_len = -1;

	for (size_t i = 0; i < c->n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &c->ipcache[i];
		unsigned int bits = e->cidr.plen;
		bool match = e->cidr.family == family &&
			     e->key_cluster == c->cluster_id;

		for (unsigned int b = 0; match && b < bits; b++)
			match = ((e->cidr.addr[b / 8] ^ addr[b / 8]) &
				 (0x80u >> (b % 8))) == 0;
		if (match && (int)bits > best_len) {
			best = e->identity;
			best_len = (int)bits;
		}
	}
	return best;
}
