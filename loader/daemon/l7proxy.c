// SPDX-License-Identifier: GPL-2.0
/* The L7 proxy `idgate run` supervises: see l7proxy.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <idgate/l7.h>

#include "haproxy.h"
#include "l7.h"
#include "l7proxy.h"
#include "run.h"

#define IDG_L7_LOG_PIPE (1 << 20) /* bytes: pipe-max-size's default */
#include "util/util.h"

#define LOG "idgate run: "
/* HAProxy inherits the listening socket as this descriptor. */
#define PROXY_FD 3
#define PROXY_FD6 4
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 1.0

void idg_l7proxy_init(struct idg_l7proxy *p)
{
	memset(p, 0, sizeof(*p));
	p->lfd = p->lfd6 = p->log_rfd = p->log_wfd = p->ev_fd = -1;
	p->backoff = BACKOFF_MIN;
}

/* One pipe for every HAProxy: a restart or takeover keeps the log. */
static int log_open(struct idg_l7proxy *p)
{
	int fds[2];

	if (p->log_rfd >= 0)
		return 0;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	p->log_rfd = fds[0];
	p->log_wfd = fds[1];
	/* Room for the requests of a batch (IDG_RUN_LOG_MS): HAProxy drops
	 * a log line the pipe cannot take. */
	p->log_pipe = fcntl(fds[1], F_SETPIPE_SZ, IDG_L7_LOG_PIPE);
	if (p->log_pipe < 0) {
		int e = errno;

		p->log_pipe = fcntl(fds[1], F_GETPIPE_SZ);
		errno = e;
		fprintf(stderr, LOG "L7 proxy: the log pipe stays at %d bytes (%s): HAProxy may drop log lines of requests above a few thousand a second\n",
			p->log_pipe, strerror(errno));
	}
	return 0;
}

int idg_l7proxy_log_fd(const struct idg_l7proxy *p)
{
	return p->log_rfd;
}

static int events_open(struct idg_l7proxy *p)
{
	char path[PATH_MAX + 16];

	if (p->ev_fd >= 0)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->dir,
			     IDG_L7_EVENTS) >= sizeof(path))
		return -ENAMETOOLONG;
	p->ev_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	return p->ev_fd < 0 ? -errno : 0;
}

/* Past IDG_L7_EVENTS_MAX the file becomes ".1" and a new one starts
 * (a monitor following it reopens by name). */
static void events_rotate(struct idg_l7proxy *p)
{
	char path[PATH_MAX + 16], old[PATH_MAX + 24];
	struct stat st;

	if (p->ev_fd < 0 || fstat(p->ev_fd, &st) ||
	    (uint64_t)st.st_size < IDG_L7_EVENTS_MAX)
		return;
	snprintf(path, sizeof(path), "%s/%s", p->dir, IDG_L7_EVENTS);
	snprintf(old, sizeof(old), "%s.1", path);
	rename(path, old);
	close(p->ev_fd);
	p->ev_fd = -1;
	events_open(p);
}

/* One request as a line of IDG_L7_EVENTS, into the batch f. */
static void event_write(FILE *f, const struct timespec *now,
			const struct idg_l7_logline *l)
{
	char ts[40];
	struct tm tm;

	gmtime_r(&now->tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "{\"timestamp\":\"%s.%09ldZ\",\"verdict\":\"%s\",\"client\":",
		ts, now->tv_nsec, l->allowed ? "allowed" : "denied");
	idg_fput_quoted(f, l->client);
	fprintf(f, ",\"client_port\":%u,\"server\":", l->client_port);
	idg_fput_quoted(f, l->server);
	fprintf(f, ",\"server_port\":%u,\"peer\":%u,\"cookie\":%u,\"http_index\":%d,\"status\":%d,\"method\":",
		l->server_port, l->peer, l->cookie, l->alt, l->status);
	idg_fput_quoted(f, l->method);
	fprintf(f, ",\"path\":");
	idg_fput_quoted(f, l->path);
	fprintf(f, "}\n");
}

static void log_line(struct idg_run_shared *sh, FILE *batch,
		     const struct timespec *now, const char *line)
{
	struct idg_l7_logline l;

	if (idg_haproxy_log_parse(line, &l)) {
		/* HAProxy's own notices, not a request. */
		fprintf(stderr, LOG "haproxy: %s\n", line);
		return;
	}
	if (sh && l.cookie < IDG_RULES_MAX) {
		pthread_mutex_lock(&sh->mu);
		if (!sh->l7_requests)
			sh->l7_requests = calloc(IDG_RULES_MAX,
						 sizeof(*sh->l7_requests));
		if (sh->l7_requests)
			sh->l7_requests[l.cookie][l.allowed]++;
		pthread_mutex_unlock(&sh->mu);
	}
	event_write(batch, now, &l);
}

/* What one read brought, written to IDG_L7_EVENTS in one write: at
 * tens of thousands of requests a second, a write each would cost the
 * daemon more than the parsing. */
bool idg_l7proxy_read_log(struct idg_l7proxy *p, struct idg_run_shared *sh)
{
	struct timespec now;
	size_t total = 0;
	ssize_t n;

	if (p->log_rfd < 0)
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	while ((n = read(p->log_rfd, p->line + p->line_len,
			 sizeof(p->line) - 1 - p->line_len)) > 0) {
		char *start = p->line, *nl, *text = NULL;
		size_t len = 0;
		FILE *batch = open_memstream(&text, &len);

		if (!batch)
			return false;
		total += (size_t)n;
		p->line_len += (size_t)n;
		p->line[p->line_len] = 0;
		while ((nl = memchr(start, '\n', p->line_len - (size_t)(start - p->line)))) {
			*nl = 0;
			log_line(sh, batch, &now, start);
			start = nl + 1;
		}
		p->line_len -= (size_t)(start - p->line);
		memmove(p->line, start, p->line_len);
		/* A line longer than the buffer: cut, not stuck. */
		if (p->line_len == sizeof(p->line) - 1) {
			p->line[p->line_len] = 0;
			log_line(sh, batch, &now, p->line);
			p->line_len = 0;
		}
		if (!fclose(batch) && len) {
			events_rotate(p);
			if (p->ev_fd >= 0 &&
			    write(p->ev_fd, text, len) != (ssize_t)len)
				fprintf(stderr, LOG "L7 proxy: cannot write %s: %s\n",
					IDG_L7_EVENTS, strerror(errno));
		}
		free(text);
	}
	return total >= (size_t)p->log_pipe / 4;
}

/* A loopback listener (127.0.0.1 or ::1) on a port the kernel picks.
 * Its mark goes to every connection it accepts: their packets to clients
 * take the main table (IDG_L7_PREF_MARK). */
static int listen_on(int family, int *lfd, uint16_t *port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr *a = family == AF_INET ? (struct sockaddr *)&a4 :
						 (struct sockaddr *)&a6;
	socklen_t len = family == AF_INET ? sizeof(a4) : sizeof(a6);
	int one = 1, mark = (int)IDG_L7_MARK;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, a, len) || listen(fd, 4096) || getsockname(fd, a, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*lfd = fd;
	*port = ntohs(family == AF_INET ? a4.sin_port : a6.sin6_port);
	return 0;
}

/* Both listeners; a host without IPv6 on lo gets the IPv4 one alone,
 * and its IPv6 clients of L7 ports are refused (said once). */
static int listen_open(struct idg_l7proxy *p)
{
	int err = listen_on(AF_INET, &p->lfd, &p->port);

	if (err)
		return err;
	err = listen_on(AF_INET6, &p->lfd6, &p->port6);
	if (err) {
		fprintf(stderr, LOG "L7 proxy: no IPv6 listener on ::1 (%s): IPv6 connections to L7 ports are refused\n",
			strerror(-err));
		p->lfd6 = -1;
		p->port6 = 0;
	}
	return 0;
}

/* The configuration for c, written beside the pattern files; *same when
 * it says what the running HAProxy already serves. */
static int cfg_write(struct idg_l7proxy *p, const struct idg_compiled *c,
		     bool *same)
{
	static const char *const binds[] = { "fd@3" }, *const binds6[] = { "fd@4" };
	char pat[PATH_MAX + 8], *text = NULL, *old = NULL;
	uint64_t digest = 0xcbf29ce484222325ull;
	size_t len = 0, old_len = 0;
	FILE *f;
	int err;

	if ((size_t)snprintf(pat, sizeof(pat), "%s/pat", p->dir) >= sizeof(pat))
		return -ENAMETOOLONG;
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	err = idg_haproxy_write(c,
				&(struct idg_haproxy_opts){
					.dir = pat, .binds = binds, .n_binds = 1,
					.binds6 = binds6,
					.n_binds6 = p->lfd6 >= 0 ? 1 : 0,
					.transparent = true, .log_stdout = true,
					.pat_digest = &digest },
				f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err) {
		/* The rules are in the pattern files as much as in the
		 * configuration that names them. */
		*same = p->pid && digest == p->pat_digest &&
			!idg_read_file(p->cfg, &old, &old_len) &&
			old_len == len && !memcmp(old, text, len);
		p->pat_digest = digest;
		if (!*same)
			err = idg_file_replace_buf(p->cfg, 0600, text, len);
	}
	free(old);
	free(text);
	return err;
}

/* HAProxy on the listening socket; old: the one it takes over from (its
 * connections finish, it stops accepting). */
static int spawn(struct idg_l7proxy *p, pid_t old)
{
	char oldpid[16];
	pid_t pid;

	snprintf(oldpid, sizeof(oldpid), "%d", (int)old);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		sigset_t none;

		/* The daemon blocks the signals its signalfd reads. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* lfd6 out of the way first: lfd's dup2 may land on it. */
		int fd6 = p->lfd6 >= 0 ? fcntl(p->lfd6, F_DUPFD, 16) : -1;

		if (dup2(p->lfd, PROXY_FD) < 0 ||
		    (p->lfd6 >= 0 && (fd6 < 0 || dup2(fd6, PROXY_FD6) < 0)) ||
		    (p->log_wfd >= 0 && dup2(p->log_wfd, STDOUT_FILENO) < 0))
			_exit(127);
		if (old)
			execlp("haproxy", "haproxy", "-db", "-f", p->cfg, "-sf",
			       oldpid, (char *)NULL);
		else
			execlp("haproxy", "haproxy", "-db", "-f", p->cfg,
			       (char *)NULL);
		{
			/* After fork in a threaded process: no stdio. */
			static const char msg[] = LOG "cannot run haproxy (is it installed? scripts/setup.sh)\n";

			if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
				_exit(127);
		}
		_exit(127);
	}
	p->pid = pid;
	return 0;
}

int idg_l7proxy_sync(struct idg_l7proxy *p, const struct idg_instance *in,
		     const struct idg_compiled *c)
{
	bool same = false;
	int err = 0;

	if (!idg_l7_wanted(c)) {
		if (p->lfd >= 0 || p->pid)
			printf(LOG "no L7 rules any more: proxy stopped\n");
		idg_l7proxy_stop(p, in);
		return 0;
	}
	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s/l7", in->state_dir) >=
		    sizeof(p->dir) ||
	    (size_t)snprintf(p->cfg, sizeof(p->cfg), "%s/haproxy.cfg", p->dir) >=
		    sizeof(p->cfg))
		err = -ENAMETOOLONG;
	if (!err && mkdir(p->dir, 0700) && errno != EEXIST)
		err = -errno;
	if (!err && p->lfd < 0)
		err = listen_open(p);
	if (!err)
		err = log_open(p);
	if (!err)
		err = events_open(p);
	if (!err)
		err = cfg_write(p, c, &same);
	if (!err)
		err = idg_l7_routes_sync(c);
	if (!err && !same) {
		/* This one replaces any restart a crash had scheduled. */
		p->restart_at = 0;
		err = spawn(p, p->pid);
	}
	if (!err)
		err = idg_l7_set_proxy(in->pin_dir, p->port, p->port6);
	if (err) {
		fprintf(stderr, LOG "L7 proxy: %s; its ports refuse new connections\n",
			strerror(-err));
		return err;
	}
	if (!same && p->lfd6 >= 0)
		printf(LOG "L7 proxy: haproxy %d serving %s on 127.0.0.1:%u and [::1]:%u\n",
		       (int)p->pid, p->cfg, p->port, p->port6);
	else if (!same)
		printf(LOG "L7 proxy: haproxy %d serving %s on 127.0.0.1:%u\n",
		       (int)p->pid, p->cfg, p->port);
	return 0;
}

void idg_l7proxy_check(struct idg_l7proxy *p, const struct idg_instance *in,
		       double now)
{
	int status;
	pid_t pid;

	(void)in;
	/* Old HAProxies that finished their connections, and ours. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != p->pid)
			continue;
		fprintf(stderr, LOG "L7 proxy: haproxy %d %s %d; restarting in %.1f s (connections wait in the queue meanwhile)\n",
			(int)pid, WIFSIGNALED(status) ? "killed by signal" : "exited with",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			p->backoff);
		p->pid = 0;
		p->restart_at = now + p->backoff;
	}
	if (!p->restart_at || now < p->restart_at || p->lfd < 0)
		return;
	p->restart_at = 0;
	if (spawn(p, 0)) {
		p->restart_at = now + p->backoff;
		return;
	}
	p->restarts++;
	p->backoff = p->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : p->backoff * 2;
	printf(LOG "L7 proxy: haproxy %d restarted\n", (int)p->pid);
}

double idg_l7proxy_deadline(const struct idg_l7proxy *p)
{
	return p->restart_at;
}

void idg_l7proxy_stop(struct idg_l7proxy *p, const struct idg_instance *in)
{
	if (!p->pid && p->lfd < 0)
		return; /* never started: no reload without L7 pays for this */
	if (p->pid) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	p->restart_at = 0;
	if (p->lfd >= 0) {
		close(p->lfd);
		p->lfd = -1;
		idg_l7_set_proxy(in->pin_dir, 0, 0);
	}
	if (p->lfd6 >= 0) {
		close(p->lfd6);
		p->lfd6 = -1;
		p->port6 = 0;
	}
	idg_l7_routes_sync(NULL);
	idg_l7proxy_read_log(p, NULL); /* the last requests */
	if (p->log_rfd >= 0)
		close(p->log_rfd);
	if (p->log_wfd >= 0)
		close(p->log_wfd);
	if (p->ev_fd >= 0)
		close(p->ev_fd);
	p->log_rfd = p->log_wfd = p->ev_fd = -1;
}
