// SPDX-License-Identifier: GPL-2.0
/* CIDR prefixes: what the parser checks and the compiler sorts and folds. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

static unsigned int cidr_bytes(const struct idg_cidr *c)
{
	return c->family == IDG_FAM_IPV4 ? 4 : 16;
}

void idg_cidr_format(const struct idg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family == IDG_FAM_IPV4 ? AF_INET : AF_INET6,
		       c->addr, a, sizeof(a)))
		strcpy(a, "?");
	snprintf(buf, len, "%s/%u", a, c->plen);
}

bool idg_cidr_contains(const struct idg_cidr *a, const struct idg_cidr *b)
{
	unsigned int full, rest;

	if (a->family != b->family || a->plen > b->plen)
		return false;
	full = a->plen / 8;
	rest = a->plen % 8;
	if (memcmp(a->addr, b->addr, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((a->addr[full] & mask) != (b->addr[full] & mask))
			return false;
	}
	return true;
}

bool idg_cidr_equal(const struct idg_cidr *a, const struct idg_cidr *b)
{
	return a->family == b->family && a->plen == b->plen &&
	       !memcmp(a->addr, b->addr, cidr_bytes(a));
}

bool idg_cidr_overlaps(const struct idg_cidr *a, const struct idg_cidr *b)
{
	return idg_cidr_contains(a, b) || idg_cidr_contains(b, a);
}

int idg_cidr_cmp(const struct idg_cidr *a, const struct idg_cidr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, cidr_bytes(a));
	if (c)
		return c;
	return a->plen < b->plen ? -1 : a->plen > b->plen;
}
