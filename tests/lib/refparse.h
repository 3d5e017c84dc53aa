/* SPDX-License-Identifier: GPL-2.0 */
/* The reference for the datapath's header checks (refparse.c). */
#ifndef IDGATE_TESTS_REFPARSE_H
#define IDGATE_TESTS_REFPARSE_H

#include <stddef.h>
#include <stdint.h>

#define REF_PARSE_NOT_IP (-1)

/*
 * The parse drop reason (IDG_DROP_*) frame f of len bytes gets, 0 when
 * its headers are sound (a later fragment included: its verdict is the
 * first fragment's), REF_PARSE_NOT_IP when it is neither IPv4 nor IPv6.
 */
int ref_parse_reason(const uint8_t *f, size_t len);

#endif
