// SPDX-License-Identifier: GPL-2.0
#include <errno.h>

#include "portrange.h"

int idg_port_range_prefixes(uint16_t lo, uint16_t hi,
			    struct idg_port_prefix out[IDG_PORT_PREFIX_MAX])
{
	uint32_t cur = lo, end = (uint32_t)hi + 1;
	int n = 0;

	if (lo > hi)
		return -EINVAL;
	while (cur < end) {
		/* Largest block aligned at cur that does not pass end. */
		uint32_t size = cur ? (cur & -cur) : 0x10000;
		uint8_t bits = 16;

		while (size > end - cur)
			size >>= 1;
		for (uint32_t s = size; s > 1; s >>= 1)
			bits--;
		out[n].port = (uint16_t)cur;
		out[n].bits = bits;
		n++;
		cur += size;
	}
	return n;
}
