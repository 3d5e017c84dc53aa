/* SPDX-License-Identifier: GPL-2.0 */
/* idg-pktgen: the application's arguments (the part after "--"). */
#ifndef IDG_PG_ARGS_H
#define IDG_PG_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg_pkt.h"

struct pg_args {
	struct pg_flow_cfg flow;
	bool have_src_mac;	/* else the port's own MAC */
	uint32_t src_base;	/* host order */
	uint32_t src_count;
	uint16_t dport;
	uint16_t sport_lo, sport_hi;
	uint32_t allowed_pct;
	uint32_t allowed_src;
	uint16_t allowed_dport;
	uint64_t rate;		/* packets per second, 0 = unlimited */
	double duration;	/* seconds */
};

/* Parses argv[1..argc) (argv[0] is the program name). Returns 0, or
 * -EINVAL with the reason in err. */
int pg_args_parse(int argc, char **argv, struct pg_args *a, char *err,
		  size_t errlen);

void pg_usage(const char *prog);

#endif
