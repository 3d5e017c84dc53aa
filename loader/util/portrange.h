/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IDGATE_LOADER_PORTRANGE_H
#define IDGATE_LOADER_PORTRANGE_H

#include <stdint.h>

struct idg_port_prefix {
	uint16_t port;  /* first port of the block */
	uint8_t bits;   /* leading bits that must match, 0..16 */
};

/* Worst case for a 16-bit range: 2 * 16 - 2 prefixes. */
#define IDG_PORT_PREFIX_MAX 30

/*
 * Cover [lo, hi] exactly with the fewest aligned power-of-two blocks, so a
 * port range costs a few LPM entries and one lookup. Returns the number of
 * prefixes written, or -EINVAL when lo > hi.
 */
int idg_port_range_prefixes(uint16_t lo, uint16_t hi,
			    struct idg_port_prefix out[IDG_PORT_PREFIX_MAX]);

#endif
