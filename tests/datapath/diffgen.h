/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Random configs and packets for the differential test (test_diff.c).
 * Everything comes from one seeded generator, so a seed and a config
 * number give the same config and packets on every machine.
 */
#ifndef IDGATE_TESTS_DIFFGEN_H
#define IDGATE_TESTS_DIFFGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "model.h"
#include "pktgen.h"
#include "refeval.h"

struct dg_rng {
	uint64_t s;
};

void dg_seed(struct dg_rng *r, uint64_t seed, uint64_t stream);
uint64_t dg_next(struct dg_rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t dg_below(struct dg_rng *r, uint32_t n);
bool dg_pct(struct dg_rng *r, unsigned int pct);

/* The node every generated config is compiled for. */
#define DG_LOCAL_NODE "n0"

#define DG_POOL_MAX 512
#define DG_PORTS_MAX 256
#define DG_ICMP_MAX 32

/* Full-length addresses of one family. */
struct dg_pool {
	struct idg_cidr a[DG_POOL_MAX];
	size_t n;
};

struct dg_config {
	char *yaml;
	size_t yaml_len;
	/* Where packets come from and go to; [0] IPv4, [1] IPv6. local:
	 * this node's endpoints and uplink; any: every address the config
	 * names (endpoints, nodes, CIDR edges) and some of the world. */
	struct dg_pool local[2];
	struct dg_pool any[2];
	/* The uplink's addresses (apply's idg_apply_opts.host). */
	struct idg_cidr host[2];
	size_t n_host;
	uint16_t ports[DG_PORTS_MAX]; /* ports the rules name, and their edges */
	size_t n_ports;
	uint8_t icmp[2][DG_ICMP_MAX]; /* ICMP types the rules name */
	size_t n_icmp[2];
};

int dg_config_make(struct dg_rng *r, struct dg_config *out);
void dg_config_free(struct dg_config *g);

enum dg_frag_mode {
	DG_WHOLE,
	DG_FIRST,       /* a first fragment alone */
	DG_FIRST_LATER, /* a first fragment, then a later one */
	DG_LATER,       /* a later fragment alone */
};

struct dg_packet {
	enum dg_frag_mode mode;
	struct pkt_spec spec; /* the first frame (a later fragment for DG_LATER) */
	char src[64], dst[64];
	struct ref_pkt ref;     /* spec as the reference sees it */
	struct ref_pkt ref_later; /* DG_FIRST_LATER: the later fragment */
	uint16_t later_off;     /* its offset, 8-byte units */
};

/*
 * A packet of a new flow; id makes its fragment id unique. With c, most
 * packets aim at one of its rule entries (its subject, peer, protocol,
 * the edges of its ports), so that rules decide often. Only the choice
 * of packets looks at the compiled model; the judging is the reference's.
 */
void dg_packet_make(struct dg_rng *r, const struct dg_config *g,
		    const struct idg_compiled *c, uint32_t id,
		    struct dg_packet *out);
/* The later fragment of a DG_FIRST_LATER packet. */
void dg_packet_later(const struct dg_packet *p, struct pkt_spec *later);

#endif
