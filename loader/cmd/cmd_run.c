// SPDX-License-Identifier: GPL-2.0
/*
 * idgate run: the foreground daemon. Applies the config, reloads it when
 * a changed file is complete (inotify on its directory, reload_gate.h) and
 * on SIGHUP through the same path as `idgate apply`, puts programs back
 * when a link loses them (rtnetlink link events plus a 500 ms check),
 * hosts the gateway health prober / responder and NAT GC, and serves
 * Prometheus metrics. SIGTERM/SIGINT exit 0 and leave everything pinned
 * and attached: enforcement goes on.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "l7proxy.h"
#include "apply.h"
#include "attach.h"
#include "cmd.h"
#include "control.h"
#include "ct_gc.h"
#include "netlink.h"
#include "reload_gate.h"
#include "run.h"
#include "util/util.h"

#define IDG_RUN_CHECK_MS 500    /* attachment check period */
#define IDG_RUN_CT_GC_MS 10000  /* conntrack garbage collection period */
#define IDG_RUN_SETTLE_MS 200   /* a closed file stays unchanged before a reload */
#define IDG_RUN_LOG_MS 20       /* L7 proxy log batches */

static double mono_s(void)
{
	return idg_now_ms() / 1e3;
}

static double wall_s(void)
{
	return (double)idg_clock_ns(CLOCK_REALTIME) / 1e9;
}

struct run {
	struct idg_run_shared sh;
	const char *config;
	const char *base; /* file name inside its directory */
	struct idg_reload_gate gate;
	/* A config directory's files as last parsed: a reload parses only
	 * the ones whose bytes changed. */
	struct cmd_reuse reuse;
	/* The control socket (-1: none) and what it reports. */
	int cfd;
	struct idg_run_change last;
	bool lease_warned; /* "cannot tell whether open for writing", once */
	uint64_t event_interval_ms;
	/* Health prober / responder and NAT GC, in their own thread. */
	struct cmd_health *health;
	pthread_t health_thr;
	bool health_on;
	volatile int health_stop;
	bool repair_failing; /* log a failing repair once */
	/* What the loop waits on: signals, the config's directory, link
	 * events (-1 / NULL until opened). */
	int sfd, ifd, nfd;
	struct nl_sock *nl;
	char dir[PATH_MAX]; /* the directory watched */
	int wd;             /* its watch */
	/* dir is a symlink: its own directory is watched for its name, so
	 * that a flip to another target moves the watch (-1: not a link). */
	int link_wd;
	char link_dir[PATH_MAX];
	char link_name[NAME_MAX + 1];
	struct idg_l7proxy l7; /* the L7 proxy, when the config has L7 rules */
	struct cmd_mesh mesh;  /* the cluster mesh, with --kvstore-endpoints */
};

#define WATCH_MASK                                                          \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY | IN_CREATE | IN_DELETE |  \
	 IN_MOVED_FROM)

static void *health_main(void *arg)
{
	struct run *r = arg;
	int err = cmd_health_run(r->health, &r->health_stop);

	if (err)
		fprintf(stderr, "idgate run: gateway health stopped: %s\n",
			strerror(-err));
	return NULL;
}

static void health_stop(struct run *r)
{
	if (r->health_on) {
		r->health_stop = 1;
		pthread_join(r->health_thr, NULL);
		r->health_on = false;
	}
	cmd_health_free(r->health);
	r->health = NULL;
}

/* (Re)start health for the config now enforcing. */
static void health_start(struct run *r, const struct idg_compiled *c)
{
	int err;

	health_stop(r);
	err = cmd_health_new(&r->sh.in, c, true, &r->health);
	if (err) {
		fprintf(stderr, "idgate run: gateway health not started: %s\n",
			strerror(-err));
		return;
	}
	if (!r->health)
		return;
	r->health_stop = 0;
	if (pthread_create(&r->health_thr, NULL, health_main, r)) {
		fprintf(stderr, "idgate run: cannot start the gateway health thread\n");
		cmd_health_free(r->health);
		r->health = NULL;
		return;
	}
	r->health_on = true;
}

/* The generation enforcing now; 0 when nothing is pinned. */
static uint32_t active_gen(const struct run *r)
{
	struct idg_dp dp;
	uint32_t gen = 0;

	if (!idg_dp_open_pinned(&dp, r->sh.in.pin_dir)) {
		idg_dp_active_gen(&dp, &gen);
		idg_dp_close(&dp);
	}
	return gen;
}

/* Swap in a newly applied config for the metrics; frees the old one. */
static void publish(struct run *r, struct cmd_compiled *cc)
{
	struct cmd_compiled *old;

	pthread_mutex_lock(&r->sh.mu);
	old = r->sh.cc;
	r->sh.cc = cc;
	r->sh.compiled = cc ? &cc->c : NULL;
	pthread_mutex_unlock(&r->sh.mu);
	if (old) {
		cmd_compiled_free(old);
		free(old);
	}
}

/* Names of paths, without their directory: a JSON array. */
static struct json_object *names_json(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < n; i++) {
		const char *slash = strrchr(v[i], '/');

		json_object_array_add(a, json_object_new_string(slash ? slash + 1 : v[i]));
	}
	return a;
}

/* The files the load found added, changed and removed (a directory). */
static struct json_object *files_changed_json(const struct idg_config_changes *c)
{
	struct json_object *j;

	if (!c->n_added && !c->n_changed && !c->n_removed)
		return NULL;
	j = json_object_new_object();
	if (!j)
		return NULL;
	json_object_object_add(j, "added", names_json(c->added, c->n_added));
	json_object_object_add(j, "changed", names_json(c->changed, c->n_changed));
	json_object_object_add(j, "removed", names_json(c->removed, c->n_removed));
	return j;
}

/* What the load just done did, for the control socket. t0: its start,
 * on idg_now_ms()'s clock. */
static void change_record(struct run *r, int err, const struct cmd_compiled *cc,
			  const struct idg_apply_result *res, double t0,
			  double dt)
{
	struct idg_run_change *ch = &r->last;
	size_t len = 0;
	FILE *f;

	ch->valid = true;
	ch->err = err;
	ch->gen = err ? active_gen(r) : res->gen;
	ch->files = cc->reuse.files;
	ch->parsed = cc->reuse.parsed;
	ch->compile_ms = cc->compile_ms;
	ch->total_ms = dt * 1e3;
	if (!err) {
		ch->fill_ms = res->fill_ms;
		ch->switch_ms = res->switch_ms;
		ch->written = res->commit.written;
		ch->deleted = res->commit.deleted;
		if (res->commit.switched_at > t0)
			ch->enforce_ms = res->commit.switched_at - t0;
	}
	ch->files_changed = files_changed_json(&r->reuse.cfg.last);
	f = open_memstream(&ch->diags, &len);
	if (f) {
		idg_diags_print(&cc->d, f);
		fclose(f);
	}
}

/* The log line of a load that worked, ending as status's does. */
static void log_reloaded(const struct run *r, const struct cmd_compiled *cc,
			 const char *why, double dt)
{
	struct json_object *j = idg_run_change_json(&r->last);
	char tail[320] = "";

	if (j)
		idg_run_change_tail(j, tail, sizeof(tail));
	json_object_put(j);
	if (r->gate.dir)
		printf("idgate run: reloaded: generation %u enforcing (%s), %.1f ms total, %zu of %zu files parsed%s\n",
		       r->last.gen, why, dt * 1e3, cc->reuse.parsed,
		       cc->reuse.files, tail);
	else
		printf("idgate run: reloaded: generation %u enforcing (%s), %.1f ms total%s\n",
		       r->last.gen, why, dt * 1e3, tail);
}

/* One config load: start, file change, SIGHUP or idgate apply. */
static int reload(struct run *r, const char *why)
{
	struct idg_run_change *ch = &r->last;
	struct cmd_apply_args a = { .event_interval_ms = r->event_interval_ms,
				    .quiet = true,
				    .log_prefix = "idgate run: ",
				    .reuse = &r->reuse,
				    .err_out = ch->error,
				    .err_len = sizeof(ch->error) };
	struct cmd_compiled *cc = calloc(1, sizeof(*cc));
	struct idg_apply_result res = { 0 };
	double t0 = mono_s(), t0_ms = idg_now_ms(), dt;
	unsigned long loads;

	/* Only the mesh's own changes keep what it knows of the files. */
	if (strncmp(why, "mesh ", 5))
		cmd_mesh_files_changed(&r->mesh);
	uint32_t gen = 0;
	int err;

	if (!cc)
		return -ENOMEM;
	idg_run_change_clear(ch);
	ch->time = wall_s();
	snprintf(ch->why, sizeof(ch->why), "%s", why);
	printf("idgate run: loading %s (%s)\n", r->config, why);
	loads = r->reuse.cfg.loads;
	idg_reload_gate_take(&r->gate);
	err = cmd_apply_config(&r->sh.in, r->config, &a, cc, &res);
	/* Files read by this load are known as they were read; if it did
	 * not get to them, what changed still counts as changed. */
	idg_reload_gate_loaded(&r->gate, r->reuse.cfg.loads != loads);
	dt = mono_s() - t0;
	change_record(r, err, cc, &res, t0_ms, dt);
	pthread_mutex_lock(&r->sh.mu);
	r->sh.reloads++;
	r->sh.reload_failures += err != 0;
	r->sh.last_reload_ok = !err;
	r->sh.last_reload_s = dt;
	r->sh.last_reload_time = wall_s();
	if (r->sh.cc)
		gen = active_gen(r);
	pthread_mutex_unlock(&r->sh.mu);
	if (err) {
		fprintf(stderr, "idgate run: reload of %s failed (%s); %s\n",
			r->config, strerror(-err),
			r->sh.cc ? "the running generation keeps enforcing" :
				   "nothing applied yet");
		if (r->sh.cc)
			printf("idgate run: reload failed, generation %u keeps enforcing\n", gen);
		cmd_compiled_free(cc);
		free(cc);
		return err;
	}
	log_reloaded(r, cc, why, dt);
	/* Its failure leaves the L7 ports refusing: logged, not a failed
	 * reload (the L3/L4 verdicts are enforcing). */
	idg_l7proxy_sync(&r->l7, &r->sh.in, &cc->c);
	health_start(r, &cc->c);
	cmd_mesh_loaded(&r->mesh, cc);
	publish(r, cc);
	r->repair_failing = false;
	return 0;
}

/* Another idgate run answers on the node's control socket: said, true. */
static bool daemon_running(const struct idg_instance *in)
{
	struct json_object *req = json_object_new_object(), *rep = NULL, *v;
	bool running;

	if (!req)
		return false;
	json_object_object_add(req, "op", json_object_new_string("status"));
	running = !idg_ctl_request(in->state_dir, req, 2000, &rep);
	if (running)
		fprintf(stderr, "idgate run: node %s already has a daemon (pid %d, control socket in %s); exiting\n",
			in->node,
			json_object_object_get_ex(rep, "pid", &v) ?
				json_object_get_int(v) : 0,
			in->state_dir);
	json_object_put(req);
	json_object_put(rep);
	return running;
}

/* A request on the control socket (control.h). */
static struct json_object *control(struct json_object *req, void *arg)
{
	struct json_object *reply = json_object_new_object(), *v;
	struct run *r = arg;
	char want[PATH_MAX], have[PATH_MAX];
	const char *op = "", *cfg = NULL;

	if (!reply)
		return NULL;
	if (json_object_object_get_ex(req, "op", &v))
		op = json_object_get_string(v);
	if (json_object_object_get_ex(req, "config", &v))
		cfg = json_object_get_string(v);
	json_object_object_add(reply, "pid", json_object_new_int(getpid()));
	json_object_object_add(reply, "config", json_object_new_string(r->config));
	if (!strcmp(op, "apply")) {
		/* Another file would be undone by the next change of the
		 * daemon's own: refused, not raced. */
		if (!cfg || !realpath(cfg, want) || !realpath(r->config, have) ||
		    strcmp(want, have)) {
			json_object_object_add(reply, "error",
					       json_object_new_string("not the config this daemon enforces"));
			return reply;
		}
		printf("idgate run: idgate apply asks for a reload\n");
		idg_reload_gate_forget(&r->gate);
		reload(r, "idgate apply");
		r->gate.armed = false;
	} else if (strcmp(op, "status")) {
		json_object_object_add(reply, "error",
				       json_object_new_string("unknown request"));
		return reply;
	}
	json_object_object_add(reply, "last_change",
			       idg_run_change_json(&r->last));
	if (r->mesh.on)
		json_object_object_add(reply, "mesh", cmd_mesh_json(&r->mesh));
	return reply;
}

/* What is missing from the links, in words ("" when all is attached);
 * *wait when an interface is gone or down: nothing to attach to yet. */
static void missing(const struct idg_instance *in, char *buf, size_t len,
		    bool *wait)
{
	struct idg_iface ifc;
	struct idg_meta m;
	unsigned int idx;
	size_t n = 0;

	buf[0] = '\0';
	*wait = false;
	if (idg_meta_load(in->state_dir, &m))
		return;
	for (size_t i = 0; i <= m.n_tc; i++) {
		const char *name = i < m.n_tc ? m.tc[i].ifname : m.uplink;

		if (idg_iface_get(name, &ifc) || !ifc.up) {
			snprintf(buf, len, "interface %s %s", name,
				 idg_iface_get(name, &ifc) ? "does not exist" : "is down");
			*wait = true;
			return;
		}
	}
	idx = if_nametoindex(m.uplink);
	if ((int)idx != m.uplink_ifindex)
		n += (size_t)snprintf(buf + n, len - n, "%s was re-created (ifindex %d -> %u); ",
				      m.uplink, m.uplink_ifindex, idx);
	else if (strcmp(m.xdp_mode, "tc") &&
		 !idg_xdp_attached((int)idx, NULL, NULL))
		n += (size_t)snprintf(buf + n, len - n, "XDP program gone from %s; ",
				      m.uplink);
	for (size_t i = 0; i < m.n_tc && n < len; i++) {
		const struct idg_tc_att *t = &m.tc[i];

		idx = if_nametoindex(t->ifname);
		if ((int)idx != t->ifindex) {
			if (strcmp(t->ifname, m.uplink))
				n += (size_t)snprintf(buf + n, len - n, "%s was re-created; ",
						      t->ifname);
			continue;
		}
		if (!idg_tc_attached(t->ifindex, t->point, idg_tc_att_prio(t)))
			n += (size_t)snprintf(buf + n, len - n, "tc %s program gone from %s; ",
					      t->point == BPF_TC_INGRESS ? "ingress" : "egress",
					      t->ifname);
	}
	if (n >= 2 && n < len)
		buf[n - 2] = '\0';
}

/* The link watcher: re-applies the enforcing config when a program is gone. */
static void repair(struct run *r)
{
	struct cmd_apply_args a = { .event_interval_ms = r->event_interval_ms,
				    .quiet = true, .follow_renumbered = true,
				    .log_prefix = "idgate run: " };
	struct idg_apply_result res;
	struct cmd_compiled *cc;
	char what[512];
	bool wait;
	int err;

	if (!r->sh.cc)
		return;
	missing(&r->sh.in, what, sizeof(what), &wait);
	if (!what[0] || wait) {
		if (wait && !r->repair_failing)
			printf("idgate run: link watcher: %s; waiting for it\n", what);
		r->repair_failing = wait;
		return;
	}
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return;
	if (!r->repair_failing)
		printf("idgate run: link watcher: %s: attaching again\n", what);
	/* The config enforcing now, as saved by the last successful apply. */
	err = cmd_apply_config(&r->sh.in, NULL, &a, cc, &res);
	if (err) {
		if (!r->repair_failing)
			fprintf(stderr, "idgate run: link watcher: cannot attach again (%s); retrying every %d ms\n",
				strerror(-err), IDG_RUN_CHECK_MS);
		r->repair_failing = true;
		cmd_compiled_free(cc);
		free(cc);
		return;
	}
	r->repair_failing = false;
	printf("idgate run: link watcher: %s: programs attached again, generation %u enforcing\n",
	       what, res.gen);
	pthread_mutex_lock(&r->sh.mu);
	r->sh.reattaches++;
	pthread_mutex_unlock(&r->sh.mu);
	publish(r, cc);
}

/* Drain whatever rtnetlink sent: any link message means "check now". */
static bool drain_netlink(int fd)
{
	char buf[16384];
	bool any = false;

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		any = true;
	return any;
}

/* name in the watched directory is a symlink now. */
static bool is_link(const struct run *r, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return !idg_path_join(path, sizeof(path), r->dir, name) &&
	       !lstat(path, &st) && S_ISLNK(st.st_mode);
}

/* The watched directory's link now points elsewhere (or is gone): watch
 * what it points to now, and have the gate look at once. */
static void rewatch(struct run *r)
{
	if (r->wd >= 0)
		inotify_rm_watch(r->ifd, r->wd);
	r->wd = inotify_add_watch(r->ifd, r->dir, WATCH_MASK);
	if (r->wd < 0 && errno != ENOENT && errno != ENOTDIR)
		fprintf(stderr, "idgate run: cannot watch %s: %s\n", r->dir,
			strerror(errno));
	printf("idgate run: %s/%s changed: watching %s again\n", r->link_dir,
	       r->link_name, r->dir);
	idg_reload_gate_event(&r->gate, IN_MOVED_TO, mono_s());
}

/*
 * Events on the config's name, in order, to the reload gate. A symlink
 * created or renamed in is complete by construction, like a rename: a
 * config file linked in, or a deployment's link flipped to a new set of
 * files (Kubernetes ConfigMap volumes flip "..data", which the *.yaml
 * files point through), is checked whatever its name.
 */
static void drain_inotify(int fd, struct run *r)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool moved = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const void *)p;
			bool ours = e->len && (r->gate.dir ?
						idg_config_dir_wants(e->name) :
						!strcmp(e->name, r->base));
			uint32_t mask = e->mask;

			p += sizeof(*e) + e->len;
			if (e->wd >= 0 && e->wd == r->link_wd) {
				moved |= e->len && !strcmp(e->name, r->link_name);
				continue;
			}
			if (e->wd != r->wd && !(mask & IN_Q_OVERFLOW))
				continue; /* a watch given up */
			/* Another name's link made in place may be the
			 * first half of a flip (ConfigMaps make "..data_tmp",
			 * then rename it): settle, so the rename's check at
			 * once is the only reload. */
			if (e->len && (mask & (IN_CREATE | IN_MOVED_TO)) &&
			    (ours || r->gate.dir) && is_link(r, e->name)) {
				mask = ours || (mask & IN_MOVED_TO) ?
					       IN_MOVED_TO : IN_CLOSE_WRITE;
				ours = true;
			}
			if ((mask & IN_Q_OVERFLOW) || ours)
				idg_reload_gate_event_name(&r->gate,
							   e->len ? e->name : NULL,
							   mask, mono_s());
		}
	}
	if (moved)
		rewatch(r);
}

static void not_reloading(const struct run *r, const char *why)
{
	uint32_t gen = active_gen(r);

	if (gen)
		printf("idgate run: not reloading %s: %s; generation %u keeps enforcing\n",
		       r->config, why, gen);
	else
		printf("idgate run: not reloading %s: %s; nothing is enforcing yet\n",
		       r->config, why);
}

/* Past the settle time: apply the file if it is complete. */
static void file_changed(struct run *r)
{
	switch (idg_reload_gate_check(&r->gate, mono_s())) {
	case IDG_GATE_WAIT:
		return;
	case IDG_GATE_GONE:
		not_reloading(r, "it is gone");
		return;
	case IDG_GATE_EMPTY:
		not_reloading(r, r->gate.dir ?
					 "it has no *.yaml file or an empty one (remove a file to drop its documents)" :
					 "it is empty");
		return;
	case IDG_GATE_BUSY:
		not_reloading(r, r->gate.dir ?
					 "a file in it is still open for writing (applied once its writer closes it)" :
					 "it is still open for writing (applied once its writer closes it)");
		return;
	case IDG_GATE_READY:
		break;
	}
	if (r->gate.lease_err && !r->lease_warned) {
		printf("idgate run: cannot tell whether %s is open for writing (read lease: %s); relying on close events and a stable file\n",
		       r->config, strerror(-r->gate.lease_err));
		r->lease_warned = true;
	}
	reload(r, "file changed");
	idg_reload_gate_release(&r->gate);
}

/* The next conntrack hint epoch, when the current one has run its time. */
static int ct_hint_rotate(const struct run *r, uint64_t now_ns)
{
	char hpath[PATH_MAX], epath[PATH_MAX];
	int hfd = -1, efd = -1, err;
	bool rotated;

	if (idg_path_join(hpath, sizeof(hpath), r->sh.in.pin_dir,
			  IDG_MAP_CT_HINT) ||
	    idg_path_join(epath, sizeof(epath), r->sh.in.pin_dir,
			  IDG_MAP_CT_EPOCH))
		return -ENAMETOOLONG;
	hfd = bpf_obj_get(hpath);
	efd = bpf_obj_get(epath);
	if (hfd < 0 || efd < 0) {
		err = -errno;
		goto out;
	}
	err = idg_ct_hint_rotate(hfd, efd, now_ns, &rotated);
	if (!err && rotated)
		printf("idgate run: conntrack hints: next epoch\n");
out:
	if (hfd >= 0)
		close(hfd);
	if (efd >= 0)
		close(efd);
	return err;
}

/* Idle conntrack entries out; the datapath's clock is the coarse one. */
static void ct_gc(const struct run *r)
{
	static const char *const maps[2] = { IDG_MAP_CT_NEW, IDG_MAP_CT };
	struct idg_ct_gc_result res = { 0 };
	uint64_t now = idg_clock_ns(CLOCK_MONOTONIC_COARSE);
	char path[PATH_MAX];
	int fd, err = 0;

	for (int est = 0; est < 2 && !err; est++) {
		if (idg_path_join(path, sizeof(path), r->sh.in.pin_dir,
				  maps[est]))
			return;
		fd = bpf_obj_get(path);
		if (fd < 0)
			return;
		err = idg_ct_gc_pass(fd, est, now, &res);
		close(fd);
	}
	if (!err)
		err = ct_hint_rotate(r, now);
	if (err)
		fprintf(stderr, "idgate run: conntrack garbage collection: %s\n",
			strerror(-err));
	else if (res.removed)
		printf("idgate run: conntrack gc: %zu idle entries removed, %zu live\n",
		       res.removed, res.live);
	fflush(stdout);
}

/* path's directory into dir ("." when it has none); returns where its
 * last name starts in path. */
static size_t path_dir(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, len, ".");
		return 0;
	}
	snprintf(dir, len, "%.*s", slash == path ? 1 : (int)(slash - path),
		 path);
	return (size_t)(slash - path) + 1;
}

/* When r->dir is a symlink: its directory and name, to watch. */
static void watch_link_target(struct run *r)
{
	char path[PATH_MAX];
	struct stat st;
	size_t len;

	r->link_wd = -1;
	snprintf(path, sizeof(path), "%s", r->dir);
	/* "link/" resolves the link: look at "link". */
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (lstat(path, &st) || !S_ISLNK(st.st_mode))
		return;
	len = path_dir(path, r->link_dir, sizeof(r->link_dir));
	snprintf(r->link_name, sizeof(r->link_name), "%s", path + len);
	r->link_wd = 0; /* watched once the inotify descriptor exists */
}

/* The directory to watch for config (the config itself when it is a
 * directory, else its parent) into r->dir, and r->base. */
static void watch_target(struct run *r)
{
	struct stat st;

	/* A config directory is watched itself: any *.yaml in it. */
	if (!stat(r->config, &st) && S_ISDIR(st.st_mode)) {
		snprintf(r->dir, sizeof(r->dir), "%s", r->config);
		r->base = NULL;
	} else {
		r->base = r->config + path_dir(r->config, r->dir,
					       sizeof(r->dir));
	}
	watch_link_target(r);
}

static bool gate_unchanged(const char *name, void *arg)
{
	return idg_reload_gate_unchanged(arg, name);
}

/* The signalfd, the inotify watch and the rtnetlink subscription. */
static int watch_open(struct run *r)
{
	sigset_t mask;

	/* Signals through a signalfd; blocked before any thread starts so
	 * that the metrics and health threads never take them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD); /* the L7 proxy exited */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A writer opening the config during a reload breaks the read lease
	 * held meanwhile; the break is SIGIO, whose default is to exit. */
	signal(SIGIO, SIG_IGN);
	idg_reload_gate_init(&r->gate, r->config, IDG_RUN_SETTLE_MS / 1e3);
	/* What the gate saw no event on, the config cache need not stat. */
	r->reuse.cfg.unchanged = gate_unchanged;
	r->reuse.cfg.unchanged_arg = &r->gate;
	r->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	r->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (r->sfd < 0 || r->ifd < 0 ||
	    (r->wd = inotify_add_watch(r->ifd, r->dir, WATCH_MASK)) < 0) {
		fprintf(stderr, "idgate run: cannot watch %s: %s\n", r->dir,
			strerror(errno));
		return -1;
	}
	if (!r->link_wd) {
		r->link_wd = inotify_add_watch(r->ifd, r->link_dir,
					       IN_CREATE | IN_DELETE |
						       IN_MOVED_TO |
						       IN_MOVED_FROM);
		if (r->link_wd < 0) {
			fprintf(stderr, "idgate run: cannot watch %s: %s\n",
				r->link_dir, strerror(errno));
			return -1;
		}
	}
	r->nl = nl_socket_alloc();
	if (!r->nl || nl_connect(r->nl, NETLINK_ROUTE) ||
	    nl_socket_add_membership(r->nl, RTNLGRP_LINK)) {
		fprintf(stderr, "idgate run: cannot subscribe to rtnetlink link events\n");
		return -1;
	}
	nl_socket_disable_seq_check(r->nl);
	nl_socket_set_nonblocking(r->nl);
	r->nfd = nl_socket_get_fd(r->nl);
	return 0;
}

/* Signals: true to stop; SIGHUP reloads now, whatever the file looks
 * like (the operator's word). */
static bool signals(struct run *r)
{
	struct signalfd_siginfo si;
	bool stop = false, hup = false;

	while (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			hup = true;
		else if (si.ssi_signo != SIGCHLD) /* reaped in the loop */
			stop = true;
	}
	if (stop)
		return true;
	if (hup) {
		idg_reload_gate_forget(&r->gate);
		reload(r, "SIGHUP");
		r->gate.armed = false;
	}
	return false;
}

/* Until SIGTERM/SIGINT (0) or a poll failure (-1). */
static int event_loop(struct run *r)
{
	double next_check = 0, next_ct_gc = 0, next_log = 0;

	for (;;) {
		struct pollfd fds[6] = {
			{ .fd = r->sfd, .events = POLLIN },
			{ .fd = r->ifd, .events = POLLIN },
			{ .fd = r->nfd, .events = POLLIN },
			{ .fd = r->cfd, .events = POLLIN },
			{ .fd = idg_l7proxy_log_fd(&r->l7), .events = POLLIN },
			{ .fd = idg_mesh_fd(&r->mesh.m), .events = POLLIN },
		};
		double now = mono_s(), until = next_check;
		double due = idg_reload_gate_deadline(&r->gate);
		int timeout;

		/* The proxy's log is read in batches, IDG_RUN_LOG_MS apart:
		 * a wake-up per request would cost the proxy's core more
		 * than the requests' own parsing (the pipe holds a batch). */
		if (now < next_log) {
			fds[4].fd = -1;
			if (next_log < until)
				until = next_log;
		}

		if (due && due < until)
			until = due;
		due = idg_l7proxy_deadline(&r->l7);
		if (due && due < until)
			until = due;
		timeout = until > now ? (int)((until - now) * 1e3) + 1 : 0;
		if (poll(fds, 6, timeout) < 0 && errno != EINTR) {
			fprintf(stderr, "idgate run: poll: %s\n", strerror(errno));
			return -1;
		}
		if ((fds[0].revents & POLLIN) && signals(r))
			return 0;
		if (fds[1].revents & POLLIN)
			drain_inotify(r->ifd, r);
		if (fds[2].revents & POLLIN && drain_netlink(r->nfd))
			next_check = 0; /* check now */
		if (fds[3].revents & POLLIN)
			idg_ctl_serve_one(r->cfd, control, r);
		if ((fds[4].revents & POLLIN) &&
		    !idg_l7proxy_read_log(&r->l7, &r->sh))
			next_log = mono_s() + IDG_RUN_LOG_MS / 1e3;
		if ((fds[5].revents & POLLIN) && r->sh.cc &&
		    cmd_mesh_apply(&r->mesh, &r->sh.cc->cfg))
			reload(r, "mesh changed");
		file_changed(r);
		idg_l7proxy_check(&r->l7, &r->sh.in, mono_s());
		now = mono_s();
		if (now >= next_check) {
			if (cmd_mesh_expire(&r->mesh))
				reload(r, "mesh expired");
			repair(r);
			next_check = mono_s() + IDG_RUN_CHECK_MS / 1e3;
		}
		if (now >= next_ct_gc) {
			ct_gc(r);
			next_ct_gc = mono_s() + IDG_RUN_CT_GC_MS / 1e3;
		}
	}
}

static void run_close(struct run *r, struct MHD_Daemon *mhd)
{
	cmd_mesh_free(&r->mesh);
	idg_l7proxy_stop(&r->l7, &r->sh.in);
	idg_metrics_stop(mhd);
	health_stop(r);
	publish(r, NULL);
	cmd_reuse_free(&r->reuse);
	idg_run_change_clear(&r->last);
	if (r->cfd >= 0) {
		char sock[PATH_MAX];

		close(r->cfd);
		if (!idg_path_join(sock, sizeof(sock), r->sh.in.state_dir,
				   IDG_CONTROL_SOCK))
			unlink(sock);
	}
	idg_reload_gate_free(&r->gate);
	if (r->nl)
		nl_socket_free(r->nl);
	if (r->ifd >= 0)
		close(r->ifd);
	if (r->sfd >= 0)
		close(r->sfd);
	free(r->sh.l7_requests);
	pthread_mutex_destroy(&r->sh.mu);
}

int do_run(struct idg_opts *o)
{
	struct run r = { .config = o->config,
			 .event_interval_ms = o->event_interval_ms,
			 .cfd = -1, .sfd = -1, .ifd = -1, .nfd = -1,
			 .wd = -1, .link_wd = -1 };
	const char *maddr = o->metrics_address ? o->metrics_address : "127.0.0.1:9464";
	struct MHD_Daemon *mhd = NULL;
	int rc = 1, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	idg_l7proxy_init(&r.l7);
	/* Every reload allocates and frees a compile and a generation of
	 * the same sizes: kept in the heap instead of mapped and unmapped
	 * each time, their pages are not faulted in again at every change
	 * (~1 ms of a reload among 10 000 rules). The daemon keeps the
	 * memory of its largest reload. */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	pthread_mutex_init(&r.sh.mu, NULL);
	if (cmd_instance(o, &r.sh.in)) {
		pthread_mutex_destroy(&r.sh.mu);
		return 2;
	}
	if (cmd_mesh_init(&r.mesh, o, &r.sh.in, o->config)) {
		rc = 2;
		goto out;
	}
	/* The store's documents are read beside the config directory's. */
	if (r.mesh.on) {
		r.reuse.cfg.extra_dir = r.mesh.dir;
		r.mesh.cache = &r.reuse.cfg;
		r.reuse.allocs = &r.mesh.allocs;
		r.sh.mesh = &r.mesh.m;
	}
	watch_target(&r);
	if (watch_open(&r))
		goto out;
	/* Two daemons for one node would undo each other's reloads. */
	if (daemon_running(&r.sh.in))
		goto out;
	err = reload(&r, "start");
	if (err && !idg_instance_exists(&r.sh.in)) {
		fprintf(stderr, "idgate run: nothing is enforcing on node %s; exiting\n",
			r.sh.in.node);
		goto out;
	}
	/* After the first load, which made the state dir. */
	err = idg_ctl_listen(r.sh.in.state_dir, &r.cfd);
	if (err)
		fprintf(stderr, "idgate run: no control socket in %s (%s): idgate apply and status act without the daemon\n",
			r.sh.in.state_dir, strerror(-err));
	if (strcmp(maddr, "off")) {
		mhd = idg_metrics_start(maddr, &r.sh);
		if (!mhd)
			goto out;
	}
	printf("idgate run: node %s: watching %s (inotify on %s%s%s%s%s), links (rtnetlink + %d ms check), metrics %s%s\n",
	       r.sh.in.node, o->config, r.dir,
	       r.link_wd >= 0 ? ", a symlink: and on " : "",
	       r.link_wd >= 0 ? r.link_dir : "",
	       r.link_wd >= 0 ? " for " : "",
	       r.link_wd >= 0 ? r.link_name : "", IDG_RUN_CHECK_MS,
	       mhd ? "http://" : "", mhd ? maddr : "off");
	printf("idgate run: ready\n");
	if (event_loop(&r))
		goto out;
	printf("idgate run: stopping; generation %u stays pinned and enforcing (idgate unload removes it)\n",
	       active_gen(&r));
	rc = 0;
out:
	run_close(&r, mhd);
	return rc;
}
