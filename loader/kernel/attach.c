// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "attach.h"

#define IDG_XDP_PROG_NAME "idgate_xdp_ingress"

/*
 * libbpf and libxdp log expected failures as warnings: an existing clsact
 * qdisc, libxdp probing for its dispatcher and falling back. Those are
 * kept aside and shown only when the attach fails after all.
 */
static char quiet_log[8192];
static size_t quiet_len;

static int quiet_vlog(const char *fmt, va_list ap)
{
	int n;

	if (quiet_len >= sizeof(quiet_log) - 1)
		return 0;
	n = vsnprintf(quiet_log + quiet_len, sizeof(quiet_log) - quiet_len,
		      fmt, ap);
	if (n > 0)
		quiet_len += (size_t)n < sizeof(quiet_log) - quiet_len ?
				     (size_t)n :
				     sizeof(quiet_log) - quiet_len - 1;
	return 0;
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : quiet_vlog(fmt, ap);
}

static int quiet_libxdp(enum libxdp_print_level level, const char *fmt,
			va_list ap)
{
	return level == LIBXDP_DEBUG ? 0 : quiet_vlog(fmt, ap);
}

struct quiet {
	libbpf_print_fn_t bpf;
	libxdp_print_fn_t xdp;
};

static struct quiet quiet_begin(void)
{
	struct quiet q;

	quiet_len = 0;
	quiet_log[0] = '\0';
	q.bpf = libbpf_set_print(quiet_libbpf);
	q.xdp = libxdp_set_print(quiet_libxdp);
	return q;
}

static void quiet_end(struct quiet q, bool failed)
{
	libbpf_set_print(q.bpf);
	libxdp_set_print(q.xdp);
	if (failed && quiet_len)
		fputs(quiet_log, stderr);
}

static const char *xdp_mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "skb";
	case XDP_MODE_HW:
		return "hw";
	default:
		return "unknown";
	}
}

int idg_xdp_attach(struct bpf_object *obj, int ifindex, enum idg_xdp_mode mode,
		   const char **used, char *errbuf, size_t errlen)
{
	struct xdp_program *prog;
	enum xdp_attach_mode m;
	struct quiet q;
	int err;

	prog = xdp_program__from_bpf_obj(obj, "xdp");
	err = libxdp_get_error(prog);
	if (err) {
		libxdp_strerror(err, errbuf, errlen);
		return err;
	}
	m = mode == IDG_XDP_SKB ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	q = quiet_begin();
	err = xdp_program__attach(prog, ifindex, m, 0);
	if (err && mode == IDG_XDP_AUTO) {
		/* The driver has no native XDP: generic mode still drops
		 * before the stack, just after the skb exists. */
		m = XDP_MODE_SKB;
		err = xdp_program__attach(prog, ifindex, m, 0);
	}
	quiet_end(q, err != 0);
	if (err)
		libxdp_strerror(err, errbuf, errlen);
	else if (used)
		*used = xdp_mode_name(m);
	/* Closing our handle leaves the program attached: the dispatcher
	 * (pinned by libxdp) holds it. */
	xdp_program__close(prog);
	return err;
}

static struct xdp_program *find_ours(struct xdp_multiprog *mp)
{
	struct xdp_program *p = NULL;

	while ((p = xdp_multiprog__next_prog(p, mp)))
		if (!strcmp(xdp_program__name(p), IDG_XDP_PROG_NAME))
			return p;
	p = xdp_multiprog__main_prog(mp);
	if (p && xdp_multiprog__is_legacy(mp) &&
	    !strcmp(xdp_program__name(p), IDG_XDP_PROG_NAME))
		return p;
	return NULL;
}

uint32_t idg_xdp_attached(int ifindex, const char **mode, bool *alone)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;
	uint32_t id = 0;

	if (libxdp_get_error(mp))
		return 0;
	p = find_ours(mp);
	if (p) {
		id = xdp_program__id(p);
		if (mode)
			*mode = xdp_mode_name(xdp_multiprog__attach_mode(mp));
		if (alone)
			*alone = xdp_multiprog__is_legacy(mp);
	}
	xdp_multiprog__close(mp);
	return id;
}

int idg_xdp_detach(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;
	int err = (int)libxdp_get_error(mp);

	/* Nothing attached, or the interface is gone and its programs with
	 * it: nothing to detach. Anything else is a real failure. */
	if (err)
		return err == -ENOENT || err == -ENODEV ? 0 : err;
	p = find_ours(mp);
	if (p)
		err = xdp_program__detach(p, ifindex,
					  xdp_multiprog__attach_mode(mp), 0);
	xdp_multiprog__close(mp);
	return err;
}

int idg_tc_attach(int prog_fd, int ifindex, enum bpf_tc_attach_point at,
		  uint32_t prio, bool *created)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = at);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = IDG_TC_HANDLE,
		    .priority = prio, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	struct quiet q = quiet_begin();
	int err;

	err = bpf_tc_hook_create(&hook);
	quiet_end(q, err && err != -EEXIST);
	if (err && err != -EEXIST)
		return err;
	if (created)
		*created = !err;
	return bpf_tc_attach(&hook, &opts);
}

int idg_tc_detach(int ifindex, enum bpf_tc_attach_point at, uint32_t prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = at);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = IDG_TC_HANDLE,
		    .priority = prio);
	struct quiet q = quiet_begin();
	int err = bpf_tc_detach(&hook, &opts);

	/* No filter, no qdisc, or no interface any more: nothing attached. */
	err = err == -ENOENT || err == -EINVAL || err == -ENODEV ? 0 : err;
	quiet_end(q, err != 0);
	return err;
}

int idg_tc_clsact_destroy(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct quiet q = quiet_begin();
	int err = bpf_tc_hook_destroy(&hook);

	err = err == -ENOENT || err == -EINVAL || err == -ENODEV ? 0 : err;
	quiet_end(q, err != 0);
	return err;
}

uint32_t idg_tc_attached(int ifindex, enum bpf_tc_attach_point at,
			 uint32_t prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = at);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = IDG_TC_HANDLE,
		    .priority = prio);

	struct quiet q = quiet_begin();
	int err = bpf_tc_query(&hook, &opts);

	/* No qdisc or no filter is an answer here, not an error. */
	quiet_end(q, false);
	return err ? 0 : opts.prog_id;
}
