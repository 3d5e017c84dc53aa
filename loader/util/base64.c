// SPDX-License-Identifier: GPL-2.0
/*
 * Standard base64 (RFC 4648, with padding): etcd's JSON gateway carries
 * keys and values as protobuf bytes, which JSON spells this way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *idg_b64_encode(const void *data, size_t len)
{
	const uint8_t *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *w = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*w++ = b64_alpha[v >> 18];
		*w++ = b64_alpha[(v >> 12) & 63];
		*w++ = i + 1 < len ? b64_alpha[(v >> 6) & 63] : '=';
		*w++ = i + 2 < len ? b64_alpha[v & 63] : '=';
	}
	*w = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *at = c ? strchr(b64_alpha, c) : NULL;

	return at ? (int)(at - b64_alpha) : -1;
}

int idg_b64_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	uint8_t *buf, *w;

	*out = NULL;
	*len = 0;
	if (n % 4)
		return -EINVAL;
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	w = buf;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int v[4];
		uint32_t x = 0;

		for (int k = 0; k < 4; k++) {
			/* '=' only as the last one or two characters. */
			if (s[i + k] == '=' && last && k >= 4 - (int)pad) {
				v[k] = 0;
				continue;
			}
			v[k] = b64_val(s[i + k]);
			if (v[k] < 0) {
				free(buf);
				return -EINVAL;
			}
		}
		x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		*w++ = (uint8_t)(x >> 16);
		if (!last || pad < 2)
			*w++ = (uint8_t)(x >> 8);
		if (!last || pad < 1)
			*w++ = (uint8_t)x;
	}
	*w = 0;
	*out = buf;
	*len = (size_t)(w - buf);
	return 0;
}
