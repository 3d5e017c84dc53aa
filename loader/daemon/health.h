/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Gateway health: gateways answer a UDP echo on their tunnel address;
 * source nodes probe every gateway and mark it down in idg_gw_health when
 * it stops answering, so the datapath picks other gateways for new flows.
 */
#ifndef IDGATE_LOADER_HEALTH_H
#define IDGATE_LOADER_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#define IDG_HEALTH_PORT 6082
#define IDG_HEALTH_INTERVAL_MS 500
/* No answer for this long: down. With the interval above, a gateway is
 * out of new flows' choice within 2 s of its last answer. */
#define IDG_HEALTH_DEAD_MS 1500

#define IDG_HEALTH_MAGIC 0x69646768u /* "idgh" */
#define IDG_HEALTH_NONCE_LEN 16
/* A reply counts only if it echoes the nonce of a probe sent to that
 * gateway within IDG_HEALTH_DEAD_MS: an older answer could not keep it up
 * anyway, so no more probes than that need remembering. */
#define IDG_HEALTH_OUTSTANDING (IDG_HEALTH_DEAD_MS / IDG_HEALTH_INTERVAL_MS + 1)
/* At most one log line a gateway this often about ignored replies. */
#define IDG_HEALTH_WARN_MS 10000

/* Probe and reply on the wire (docs/egress-gateway.md): the responder
 * sends the probe back unchanged. */
struct idg_health_probe {
	uint32_t magic; /* network order */
	uint32_t seq;   /* network order; for people reading captures */
	uint8_t nonce[IDG_HEALTH_NONCE_LEN];
};

struct idg_health_target {
	uint32_t ip;      /* network order */
	int up;           /* as last written to the map; -1 unknown */
	uint64_t last_ok_ms;
	/* Probes not answered yet, a ring of the most recent ones. */
	struct {
		uint8_t nonce[IDG_HEALTH_NONCE_LEN];
		uint64_t sent_ms;
		int live;
	} sent[IDG_HEALTH_OUTSTANDING];
	unsigned int next_sent;
	/* Replies from its address that echoed no outstanding nonce:
	 * spoofed, replayed or very late. */
	uint64_t ignored;
	uint64_t ignored_logged;
	uint64_t warned_ms;
};

struct idg_health {
	int health_fd;         /* the pinned idg_gw_health map */
	uint32_t self_ip;      /* network order, 0: any */
	int respond;           /* this node is a gateway */
	struct idg_health_target *targets;
	size_t n_targets;
	/* Called every tick_ms (0: never) from the same loop: the gateway's
	 * NAT garbage collection runs here. */
	void (*tick)(void *ctx);
	void *tick_ctx;
	unsigned int tick_ms;
};

/* The next probe for t, with a fresh nonce from getrandom(2) that t then
 * expects back. 0 or -errno. */
int idg_health_probe_make(struct idg_health_target *t, uint32_t seq,
			  uint64_t now_ms, struct idg_health_probe *p);

/*
 * The target a datagram from `from` (network order) answers, its nonce
 * consumed so that the same reply never counts twice; NULL when it answers
 * no probe of the last IDG_HEALTH_DEAD_MS (counted in the target's
 * `ignored` when it comes from a target's address and looks like a reply).
 */
struct idg_health_target *idg_health_reply(struct idg_health *h, uint32_t from,
					   const void *buf, size_t len,
					   uint64_t now_ms);

/* Runs until *stop becomes nonzero; logs one line per state change.
 * Returns 0 or -errno. */
int idg_health_run(struct idg_health *h, volatile int *stop);

#endif
