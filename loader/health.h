/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Gateway health: gateways answer a UDP echo on their tunnel address;
 * source nodes probe every gateway and mark it down in idg_gw_health when
 * it stops answering, so the datapath picks other gateways for new flows.
 */
#ifndef IDGATE_LOADER_HEALTH_H
#define IDGATE_LOADER_HEALTH_H

#include <stdint.h>

#define IDG_HEALTH_PORT 6082
#define IDG_HEALTH_INTERVAL_MS 500
/* No answer for this long: down. With the interval above, a gateway is
 * out of new flows' choice within 2 s of its last answer. */
#define IDG_HEALTH_DEAD_MS 1500

struct idg_health_target {
	uint32_t ip;      /* network order */
	int up;           /* as last written to the map; -1 unknown */
	uint64_t last_ok_ms;
	uint64_t sent_ms;
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

/* Runs until *stop becomes nonzero; logs one line per state change.
 * Returns 0 or -errno. */
int idg_health_run(struct idg_health *h, volatile int *stop);

#endif
