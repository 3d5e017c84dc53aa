// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <idgate/egw.h>

#include "health.h"
#include "util/util.h"

/* Reads a whole datagram: anything longer than a probe must not be cut
 * down to one. */
#define DGRAM_BUF 64

_Static_assert(sizeof(struct idg_health_probe) == 24,
	       "the probe's wire format (docs/egress-gateway.md)");

static int udp_socket(uint32_t ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = ip };
	int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void mark(struct idg_health *h, struct idg_health_target *t, int up)
{
	struct idg_gw_health v = { .up = (uint32_t)up };
	char ip[INET_ADDRSTRLEN];

	if (t->up == up)
		return;
	v.changed_ns = idg_clock_ns(CLOCK_MONOTONIC);
	if (bpf_map_update_elem(h->health_fd, &t->ip, &v, BPF_ANY)) {
		fprintf(stderr, "idgate health: cannot update gateway state: %s\n",
			strerror(errno));
		return;
	}
	inet_ntop(AF_INET, &t->ip, ip, sizeof(ip));
	printf("gateway %s is %s%s\n", ip, up ? "up" : "DOWN",
	       up ? "" : ": no new flows go to it");
	fflush(stdout);
	t->up = up;
}

static void answer(int fd)
{
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	uint8_t buf[DGRAM_BUF];
	ssize_t n;

	while ((n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &len)) > 0) {
		struct idg_health_probe p;

		memcpy(&p, buf, sizeof(p));
		if (n == sizeof(p) && ntohl(p.magic) == IDG_HEALTH_MAGIC)
			sendto(fd, buf, sizeof(p), 0, (struct sockaddr *)&from,
			       len);
		len = sizeof(from);
	}
}

int idg_health_probe_make(struct idg_health_target *t, uint32_t seq,
			  uint64_t now_ms, struct idg_health_probe *p)
{
	size_t got = 0;

	p->magic = htonl(IDG_HEALTH_MAGIC);
	p->seq = htonl(seq);
	while (got < sizeof(p->nonce)) {
		ssize_t n = getrandom(p->nonce + got, sizeof(p->nonce) - got, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		got += n > 0 ? (size_t)n : 0;
	}
	memcpy(t->sent[t->next_sent].nonce, p->nonce, sizeof(p->nonce));
	t->sent[t->next_sent].sent_ms = now_ms;
	t->sent[t->next_sent].live = 1;
	t->next_sent = (t->next_sent + 1) % IDG_HEALTH_OUTSTANDING;
	return 0;
}

static int nonce_take(struct idg_health_target *t, const uint8_t *nonce,
		      uint64_t now_ms)
{
	for (size_t i = 0; i < IDG_HEALTH_OUTSTANDING; i++) {
		if (!t->sent[i].live ||
		    now_ms - t->sent[i].sent_ms > IDG_HEALTH_DEAD_MS ||
		    memcmp(t->sent[i].nonce, nonce, IDG_HEALTH_NONCE_LEN))
			continue;
		t->sent[i].live = 0;
		return 1;
	}
	return 0;
}

struct idg_health_target *idg_health_reply(struct idg_health *h, uint32_t from,
					   const void *buf, size_t len,
					   uint64_t now_ms)
{
	struct idg_health_probe p;

	if (len != sizeof(p))
		return NULL;
	memcpy(&p, buf, sizeof(p));
	if (ntohl(p.magic) != IDG_HEALTH_MAGIC)
		return NULL;
	for (size_t i = 0; i < h->n_targets; i++) {
		struct idg_health_target *t = &h->targets[i];

		if (t->ip != from)
			continue;
		if (nonce_take(t, p.nonce, now_ms))
			return t;
		t->ignored++;
		return NULL;
	}
	return NULL;
}

static void replies(struct idg_health *h, int fd, uint64_t now)
{
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	uint8_t buf[DGRAM_BUF];
	ssize_t n;

	while ((n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &len)) > 0) {
		struct idg_health_target *t;

		len = sizeof(from);
		t = idg_health_reply(h, from.sin_addr.s_addr, buf, (size_t)n,
				     now);
		if (t) {
			t->last_ok_ms = now;
			mark(h, t, 1);
		}
	}
}

/* Spoofed or replayed replies are worth knowing about, but an attacker
 * must not be able to flood the log with them. */
static void warn_ignored(struct idg_health_target *t, uint64_t now)
{
	char ip[INET_ADDRSTRLEN];

	if (t->ignored == t->ignored_logged ||
	    (t->ignored_logged && now - t->warned_ms < IDG_HEALTH_WARN_MS))
		return;
	inet_ntop(AF_INET, &t->ip, ip, sizeof(ip));
	printf("gateway %s: %llu reply(ies) without a recent probe's nonce ignored (spoofed or replayed?)\n",
	       ip, (unsigned long long)t->ignored);
	fflush(stdout);
	t->ignored_logged = t->ignored;
	t->warned_ms = now;
}

int idg_health_run(struct idg_health *h, volatile int *stop)
{
	int rfd = -1, pfd = -1, err = 0;
	uint64_t start = (uint64_t)idg_now_ms(), next = 0, next_tick = start;
	uint32_t seq = 0;

	if (h->respond) {
		rfd = udp_socket(h->self_ip, IDG_HEALTH_PORT);
		if (rfd < 0) {
			fprintf(stderr, "idgate health: cannot listen on UDP %d: %s\n",
				IDG_HEALTH_PORT, strerror(-rfd));
			return rfd;
		}
	}
	if (h->n_targets) {
		pfd = udp_socket(h->self_ip, 0);
		if (pfd < 0) {
			err = pfd;
			fprintf(stderr, "idgate health: cannot open the probe socket: %s\n",
				strerror(-err));
			goto out;
		}
	}
	for (size_t i = 0; i < h->n_targets; i++) {
		h->targets[i].up = -1;
		h->targets[i].last_ok_ms = start; /* a grace period to answer */
	}
	while (!*stop) {
		struct pollfd fds[2];
		uint64_t now = (uint64_t)idg_now_ms();
		int n = 0, timeout;

		if (pfd >= 0 && now >= next) {
			seq++;
			for (size_t i = 0; i < h->n_targets; i++) {
				struct idg_health_target *t = &h->targets[i];
				struct sockaddr_in to = {
					.sin_family = AF_INET,
					.sin_port = htons(IDG_HEALTH_PORT),
					.sin_addr.s_addr = t->ip,
				};
				struct idg_health_probe p;

				err = idg_health_probe_make(t, seq, now, &p);
				if (err) {
					fprintf(stderr, "idgate health: no random bytes for probe nonces: %s\n",
						strerror(-err));
					goto out;
				}
				sendto(pfd, &p, sizeof(p), 0,
				       (struct sockaddr *)&to, sizeof(to));
				if (now - t->last_ok_ms > IDG_HEALTH_DEAD_MS)
					mark(h, t, 0);
				warn_ignored(t, now);
			}
			next = now + IDG_HEALTH_INTERVAL_MS;
		}
		if (h->tick && h->tick_ms && now >= next_tick) {
			h->tick(h->tick_ctx);
			next_tick = now + h->tick_ms;
		}
		if (rfd >= 0)
			fds[n++] = (struct pollfd){ .fd = rfd, .events = POLLIN };
		if (pfd >= 0)
			fds[n++] = (struct pollfd){ .fd = pfd, .events = POLLIN };
		timeout = pfd >= 0 ? (int)(next > now ? next - now : 0) : 500;
		if (h->tick && h->tick_ms && next_tick > now &&
		    (int)(next_tick - now) < timeout)
			timeout = (int)(next_tick - now);
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (rfd >= 0)
			answer(rfd);
		if (pfd >= 0)
			replies(h, pfd, (uint64_t)idg_now_ms());
	}
out:
	if (rfd >= 0)
		close(rfd);
	if (pfd >= 0)
		close(pfd);
	return err;
}
