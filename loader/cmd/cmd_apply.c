// SPDX-License-Identifier: GPL-2.0
/* check, apply, unload: the commands that read a config or change state. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "l7.h"
#include "apply.h"
#include "cmd.h"
#include "control.h"
#include "netlink.h"
#include "run.h"
#include "util/util.h"

static void print_summary(const struct cmd_compiled *cc, const char *path)
{
	const struct idg_compiled *c = &cc->c;
	const struct idg_l7_table *t = &c->l7;

	printf("%s: node %s (cluster %s, id %u): %zu identities, %zu ipcache entries, %zu local endpoint addresses, %zu rule entries (compiled in %.1f ms)\n",
	       path, c->node->name, c->node->cluster, c->cluster_id, c->n_ids,
	       c->n_ipcache, c->n_eps, c->n_rules, cc->compile_ms);
	if (!t->n)
		return;
	/* SPEC: say plainly what enforces L7 rules. */
	printf("%s: %zu TCP port(s) with L7 rules go to the L7 proxy, which idgate run supervises; without it they refuse new connections (docs/l7.md):",
	       path, t->n);
	for (size_t i = 0; i < t->n; i++) {
		const char *name = "?";

		/* Endpoints of one label set share the port: name the first. */
		for (size_t e = 0; e < c->n_eps; e++)
			if (c->eps[e].identity == t->ports[i].subject) {
				name = c->eps[e].ep->name;
				break;
			}
		printf("%s %s:%u", i ? "," : "", name, t->ports[i].port);
	}
	printf("\n");
}

int do_check(struct idg_opts *o)
{
	struct idg_instance in;
	struct cmd_compiled cc;
	struct idg_iface up, ext = { 0 };
	int err;

	if (cmd_instance(o, &in))
		return 2;
	err = cmd_compile(&in, o->config, &cc);
	if (!err)
		err = cmd_check_ifaces(cc.c.node, &up, &ext);
	if (!err)
		print_summary(&cc, o->config);
	cmd_compiled_free(&cc);
	return err ? 1 : 0;
}

/* Remap interfaces of the meta that were deleted and created again (a new
 * ifindex under the same name), so the apply below attaches to the new
 * ones instead of refusing a changed uplink. Only for the link watcher. */
static void meta_follow_renumbered(const struct idg_instance *in)
{
	struct idg_meta m;
	bool changed = false;
	unsigned int idx;

	if (idg_meta_load(in->state_dir, &m))
		return;
	idx = if_nametoindex(m.uplink);
	if (idx && (int)idx != m.uplink_ifindex) {
		m.uplink_ifindex = (int)idx;
		changed = true;
	}
	for (size_t i = 0; i < m.n_tc; i++) {
		idx = if_nametoindex(m.tc[i].ifname);
		if (idx && (int)idx != m.tc[i].ifindex) {
			m.tc[i].ifindex = (int)idx;
			changed = true;
		}
	}
	if (changed)
		idg_meta_save(in->state_dir, &m);
}

int cmd_apply_config(struct idg_instance *in, const char *path,
		     const struct cmd_apply_args *a, struct cmd_compiled *cc,
		     struct idg_apply_result *res)
{
	struct idg_apply_opts ao = {
		.drop_event_interval_ns = a->event_interval_ms * 1000000ull,
	};
	char errbuf[512] = "", state[PATH_MAX];
	struct idg_iface up, ext = { 0 };
	struct idg_gen_quiesce q = { 0 };
	const char *shown = path ? path : "(applied config)";
	const char *pfx = a->log_prefix ? a->log_prefix : "";
	int err;

	memset(res, 0, sizeof(*res));
	/* The grace period the switch needs: the daemon's, begun after its
	 * last switch, else one that runs while we compile. */
	if (!a->dry_run) {
		if (a->reuse && a->reuse->grace.started)
			ao.quiesce = &a->reuse->grace;
		else if (idg_gen_quiesce_start(&q, in->pin_dir) == 0)
			ao.quiesce = &q;
	}
	err = cmd_compile_cached(in, path, a->reuse, cc);
	if (!err)
		err = cmd_check_ifaces(cc->c.node, &up, &ext);
	if (err)
		goto out;
	if (!a->quiet)
		print_summary(cc, shown);
	if (a->dry_run) {
		printf("dry run: nothing applied to %s\n", in->pin_dir);
		return 0;
	}

	err = idg_bpffs_ensure();
	if (err) {
		fprintf(stderr, "idgate: cannot mount bpffs at %s: %s\n",
			IDG_BPFFS, strerror(-err));
		goto out;
	}
	err = idg_instance_lock(in);
	if (err) {
		fprintf(stderr, "idgate: cannot lock %s: %s\n", in->pin_dir,
			strerror(-err));
		goto out;
	}
	if (a->follow_renumbered)
		meta_follow_renumbered(in);
	ao.known_cookies = cc->known_cookies;
	ao.host = &up;
	ao.uplink = &up;
	ao.external = ext.ifindex ? &ext : NULL;
	err = idg_apply(in, &cc->c, &up, &ao, res, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "%sidgate: apply failed: %s\n", pfx, errbuf);
		if (a->err_out)
			snprintf(a->err_out, a->err_len, "apply failed: %s",
				 errbuf);
		if (idg_instance_exists(in))
			fprintf(stderr, "%sidgate: the previous policy is still enforcing\n", pfx);
		goto unlock;
	}
	/* Numbers handed out are now in the kernel: remember them. */
	err = idg_path_join(state, sizeof(state), in->state_dir, IDG_STATE_FILE);
	if (!err)
		err = idg_state_save_memo(state, &cc->st,
					  a->reuse ? &a->reuse->state : NULL);
	/* The compile's cookies are now what the saved state says. */
	if (!err && a->reuse)
		idg_compile_memo_saved(&a->reuse->compile, &a->reuse->state.st);
	if (!err && path)
		err = cmd_applied_save(&cc->cfg, in->state_dir,
				       a->reuse ? &a->reuse->applied : NULL);
	if (!err && path)
		err = cmd_applied_ids_save(in->state_dir, cc->cfg.allocs,
					   a->reuse ? &a->reuse->allocs_saved :
						      NULL);
	if (err)
		fprintf(stderr, "%sidgate: applied, but cannot save state in %s: %s\n",
			pfx, in->state_dir, strerror(-err));
	/* A new generation: the next commit needs a grace period after
	 * this switch (one that fails to start is taken then). */
	if (a->reuse) {
		idg_gen_quiesce_wait(&a->reuse->grace);
		idg_gen_quiesce_start(&a->reuse->grace, in->pin_dir);
	}

	if (res->first)
		printf("%snode %s: attached to %s (ingress filter: %s%s, tc egress), pinned in %s\n",
		       pfx, in->node, up.name, strcmp(res->xdp_mode, "tc") ? "XDP " : "",
		       strcmp(res->xdp_mode, "tc") ? res->xdp_mode : "tc ingress", in->pin_dir);
	if (res->first && res->xdp_alone)
		printf("%snode %s: note: this kernel cannot run libxdp's dispatcher (no BPF_PROG_TYPE_EXT), so idgate's XDP program is attached alone: another XDP program attached to %s later would replace it\n",
		       pfx, in->node, up.name);
	else if (res->reattached)
		printf("%snode %s: a program was missing from %s and was attached again\n",
		       pfx, in->node, up.name);
	printf("%snode %s: generation %u enforcing: %u ipcache entries, %u endpoint addresses, %u policy entries; compile %.1f ms, fill %.1f ms, switch %.1f ms (%u entries written, %u deleted%s%s%s)\n",
	       pfx, in->node, res->gen, res->counts.ipcache, res->counts.endpoints,
	       res->counts.policy, cc->compile_ms, res->fill_ms, res->switch_ms,
	       res->commit.written, res->commit.deleted,
	       res->commit.read_back ? ", slot read back" : "",
	       res->commit.replaced ? ", new maps" : "",
	       res->commit.waited ? ", waited for a grace period" : "");
unlock:
	idg_instance_unlock(in);
out:
	idg_gen_quiesce_wait(&q);
	return err;
}

/* Prints what the daemon's load did, as a one-shot apply would. Returns
 * the exit code. */
static int daemon_said(const struct idg_instance *in, struct json_object *rep)
{
	struct json_object *ch = NULL, *v;
	const char *diags = "";
	char line[1024];
	int pid = 0;

	if (json_object_object_get_ex(rep, "pid", &v))
		pid = json_object_get_int(v);
	if (json_object_object_get_ex(rep, "error", &v)) {
		const char *cfg = "?";

		if (json_object_object_get_ex(rep, "config", &v))
			cfg = json_object_get_string(v);
		fprintf(stderr, "idgate: node %s: idgate run (pid %d) enforces %s and re-applies it at every change: apply that path (or edit it), or stop the daemon to apply another config\n",
			in->node, pid, cfg);
		return 1;
	}
	if (!json_object_object_get_ex(rep, "last_change", &ch)) {
		fprintf(stderr, "idgate: node %s: idgate run (pid %d) gave no result\n",
			in->node, pid);
		return 1;
	}
	if (json_object_object_get_ex(ch, "diagnostics", &v))
		diags = json_object_get_string(v);
	fputs(diags, stderr);
	if (!idg_run_change_summary(ch, line, sizeof(line))) {
		fprintf(stderr, "idgate: node %s: applied by idgate run (pid %d): %s\n",
			in->node, pid, line);
		return 1;
	}
	printf("node %s: applied by idgate run (pid %d): %s\n", in->node, pid,
	       line);
	return 0;
}

/* With `idgate run` running for the node, it applies the config: two
 * writers would race, and the daemon would undo a config it does not
 * watch. -ENOENT: no daemon there. */
static int apply_by_daemon(const struct idg_instance *in, const char *path)
{
	struct json_object *req, *rep = NULL;
	char abs[PATH_MAX];
	int err, rc;

	if (!realpath(path, abs)) {
		err = -errno;
		fprintf(stderr, "%s: cannot open: %s\n", path, strerror(-err));
		return 1;
	}
	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "op", json_object_new_string("apply"));
	json_object_object_add(req, "config", json_object_new_string(abs));
	/* A reload of a large config takes a while on a loaded machine. */
	err = idg_ctl_request(in->state_dir, req, 120000, &rep);
	json_object_put(req);
	if (err == -ENOENT || err == -ECONNREFUSED)
		return -ENOENT;
	if (err) {
		fprintf(stderr, "idgate: node %s: the daemon's control socket in %s: %s\n",
			in->node, in->state_dir, strerror(-err));
		return 1;
	}
	rc = daemon_said(in, rep);
	json_object_put(rep);
	return rc;
}

int do_apply(struct idg_opts *o)
{
	struct cmd_apply_args a = {
		.event_interval_ms = o->event_interval_ms,
		.dry_run = o->dry_run,
	};
	struct idg_apply_result res;
	struct idg_instance in;
	struct cmd_compiled cc;
	int err;

	if (cmd_instance(o, &in))
		return 2;
	if (!o->dry_run) {
		err = apply_by_daemon(&in, o->config);
		if (err != -ENOENT)
			return err ? 1 : 0;
	}
	err = cmd_apply_config(&in, o->config, &a, &cc, &res);
	/* No daemon took it: nothing runs the proxy. */
	if (!err && !o->dry_run && idg_l7_wanted(&cc.c))
		fprintf(stderr, "idgate: warning: the ports with L7 rules refuse new connections until `idgate run` runs the L7 proxy for node %s (docs/l7.md)\n",
			in.node);
	cmd_compiled_free(&cc);
	return err ? 1 : 0;
}

int do_unload(struct idg_opts *o)
{
	struct idg_instance in;
	char errbuf[512] = "";
	int err;

	if (cmd_instance(o, &in))
		return 2;
	if (!idg_instance_exists(&in) && access(in.state_dir, F_OK)) {
		printf("node %s: nothing loaded\n", in.node);
		return 0;
	}
	err = idg_bpffs_ensure();
	if (!err)
		err = idg_instance_lock(&in);
	if (err) {
		fprintf(stderr, "idgate: cannot lock %s: %s\n", in.pin_dir,
			strerror(-err));
		return 1;
	}
	err = idg_unload(&in, errbuf, sizeof(errbuf));
	idg_instance_unlock(&in);
	if (err) {
		fprintf(stderr, "idgate: unload failed: %s\n", errbuf);
		return 1;
	}
	printf("node %s: detached and unpinned (%s)\n", in.node, in.pin_dir);
	return 0;
}
