// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <netinet/in.h>

#include "util.h"

/* Cilium's spelling, as policies write it ("protocol: TCP"). */
static const struct {
	uint8_t nr;
	const char *name;
} protos[] = {
	{ IPPROTO_TCP, "TCP" },
	{ IPPROTO_UDP, "UDP" },
	{ IPPROTO_SCTP, "SCTP" },
	{ IPPROTO_ICMP, "ICMP" },
	{ IPPROTO_ICMPV6, "ICMPv6" },
};

#define N_PROTOS (sizeof(protos) / sizeof(protos[0]))

const char *idg_proto_name(uint8_t proto)
{
	for (size_t i = 0; i < N_PROTOS; i++)
		if (protos[i].nr == proto)
			return protos[i].name;
	return NULL;
}

const char *idg_proto_str(uint8_t proto, char *buf, size_t len)
{
	const char *n = idg_proto_name(proto);

	if (n)
		return n;
	snprintf(buf, len, "proto-%u", proto);
	return buf;
}

int idg_proto_parse(const char *name)
{
	for (size_t i = 0; i < N_PROTOS; i++)
		if (!strcasecmp(protos[i].name, name))
			return protos[i].nr;
	return -ENOENT;
}
