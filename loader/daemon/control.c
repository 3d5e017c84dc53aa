// SPDX-License-Identifier: GPL-2.0
/* The control socket of `idgate run`: see control.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "util/util.h"

/* Far above any real request or reply (diagnostics included). */
#define CTL_MAX (4u << 20)

static int ctl_addr(const char *state_dir, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if ((size_t)snprintf(a->sun_path, sizeof(a->sun_path), "%s/%s",
			     state_dir, IDG_CONTROL_SOCK) >=
	    sizeof(a->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int idg_ctl_listen(const char *state_dir, int *fd)
{
	struct sockaddr_un a;
	int s, err = ctl_addr(state_dir, &a);

	*fd = -1;
	if (err)
		return err;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	/* A socket left by a daemon that died: nobody answers on it. */
	unlink(a.sun_path);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) ||
	    chmod(a.sun_path, 0600) || listen(s, 8)) {
		err = -errno;
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}

/* One line from fd into a malloc'd string, within the deadline. */
static int read_line(int fd, double deadline, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - idg_now_ms();
		ssize_t n;

		if (left <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, (int)left + 1) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (len + 1 >= cap) {
			char *nb;

			if (cap >= CTL_MAX) {
				err = -EMSGSIZE;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n) {
			err = len ? 0 : -ECONNRESET;
			break;
		}
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int write_line(int fd, struct json_object *j, double deadline)
{
	const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s), off = 0;

	while (off <= len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		const char *from = off < len ? s + off : "\n";
		size_t want = off < len ? len - off : 1;
		double left = deadline - idg_now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left + 1) < 0 && errno != EINTR)
			return -errno;
		n = send(fd, from, want, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

static struct json_object *parse(const char *s)
{
	struct json_object *j = json_tokener_parse(s);

	if (j && !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		j = NULL;
	}
	return j;
}

int idg_ctl_serve_one(int lfd,
		      struct json_object *(*handle)(struct json_object *req,
						    void *arg),
		      void *arg)
{
	struct json_object *req = NULL, *reply = NULL;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	/* A client that stalls must not hold the daemon up for long. */
	double deadline = idg_now_ms() + 2000;
	char *line = NULL;
	int fd, err;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) ||
	    cred.uid != 0) {
		err = -EPERM;
		goto out;
	}
	err = read_line(fd, deadline, &line);
	if (err)
		goto out;
	req = parse(line);
	if (!req) {
		reply = json_object_new_object();
		json_object_object_add(reply, "error",
				       json_object_new_string("not a JSON object"));
	} else {
		reply = handle(req, arg);
	}
	/* The handler may have run long (a reload): the reply gets its own
	 * time. */
	if (reply)
		err = write_line(fd, reply, idg_now_ms() + 2000);
out:
	json_object_put(req);
	json_object_put(reply);
	free(line);
	close(fd);
	return err;
}

int idg_ctl_request(const char *state_dir, struct json_object *req,
		    int timeout_ms, struct json_object **reply)
{
	double deadline = idg_now_ms() + timeout_ms;
	struct sockaddr_un a;
	char *line = NULL;
	int s, err = ctl_addr(state_dir, &a);

	*reply = NULL;
	if (err)
		return err;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
		err = -errno;
		goto out;
	}
	err = write_line(s, req, deadline);
	if (!err)
		err = read_line(s, deadline, &line);
	if (!err) {
		*reply = parse(line);
		if (!*reply)
			err = -EPROTO;
	}
out:
	free(line);
	close(s);
	return err;
}
