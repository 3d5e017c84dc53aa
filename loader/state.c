// SPDX-License-Identifier: GPL-2.0
/*
 * The numbers handed out by earlier runs (identities, rule cookies), kept
 * in a small text file so they survive reloads:
 *
 *   idgate-state 1
 *   id 65892 app=web,io.cilium.k8s.policy.cluster=a,io.kubernetes.pod.namespace=prod
 *   id 16777217 cidr:10.0.0.0/8
 *   cookie 1 prod/allow-web/ingress/0
 *   end
 *
 * Names are percent-encoded where they hold spaces, control bytes or '%'.
 * The "end" line makes a cut-off file detectable even though the file is
 * only ever replaced by rename.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile_int.h"

#define STATE_MAGIC "idgate-state"
#define STATE_VERSION 1

int idg_state_add_id(struct idg_state *st, const char *canon, uint32_t id)
{
	struct idg_state_id *v;
	char *c = strdup(canon);

	if (!c)
		return -ENOMEM;
	/* Grown one at a time: the struct has no capacity field, and the
	 * counts are small next to the rest of a compile. */
	v = realloc(st->ids, (st->n_ids + 1) * sizeof(*v));
	if (!v) {
		free(c);
		return -ENOMEM;
	}
	st->ids = v;
	v[st->n_ids].canon = c;
	v[st->n_ids].id = id;
	st->n_ids++;
	return 0;
}

int idg_state_add_cookie(struct idg_state *st, const char *key,
			 uint32_t cookie)
{
	struct idg_state_cookie *v;
	char *k = strdup(key);

	if (!k)
		return -ENOMEM;
	v = realloc(st->cookies, (st->n_cookies + 1) * sizeof(*v));
	if (!v) {
		free(k);
		return -ENOMEM;
	}
	st->cookies = v;
	v[st->n_cookies].key = k;
	v[st->n_cookies].cookie = cookie;
	st->n_cookies++;
	return 0;
}

void idg_state_free(struct idg_state *st)
{
	for (size_t i = 0; i < st->n_ids; i++)
		free(st->ids[i].canon);
	free(st->ids);
	for (size_t i = 0; i < st->n_cookies; i++)
		free(st->cookies[i].key);
	free(st->cookies);
	memset(st, 0, sizeof(*st));
}

static bool needs_escape(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '%';
}

static int put_name(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (needs_escape(*p)) {
			if (fprintf(f, "%%%02X", *p) < 0)
				return -EIO;
		} else if (fputc(*p, f) == EOF) {
			return -EIO;
		}
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a name in place; -EINVAL for a bad escape or a raw byte that
 * should have been escaped. */
static int decode_name(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		int hi, lo;

		if (needs_escape((unsigned char)*r) && *r != '%')
			return -EINVAL;
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		hi = hexval(r[1]);
		lo = hi < 0 ? -1 : hexval(r[2]);
		if (lo < 0 || (!hi && !lo))
			return -EINVAL;
		*w++ = (char)(hi << 4 | lo);
		r += 2;
	}
	*w = '\0';
	return w == s ? -EINVAL : 0;
}

/* Plain decimal, no sign, no leading zeros, at most max. */
static int parse_num(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v = 0;
	size_t n = strlen(s);

	if (!n || n > 10 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_line(char *line, struct idg_state *st)
{
	char *kind = line, *num, *name;
	uint32_t v;
	int err;

	num = strchr(kind, ' ');
	if (!num)
		return -EINVAL;
	*num++ = '\0';
	name = strchr(num, ' ');
	if (!name)
		return -EINVAL;
	*name++ = '\0';
	if (strchr(name, ' '))
		return -EINVAL;
	err = decode_name(name);
	if (err)
		return err;
	if (!strcmp(kind, "id")) {
		err = parse_num(num, 1, UINT32_MAX, &v);
		return err ? err : idg_state_add_id(st, name, v);
	}
	if (!strcmp(kind, "cookie")) {
		err = parse_num(num, 1, IDG_RULES_MAX - 1, &v);
		return err ? err : idg_state_add_cookie(st, name, v);
	}
	return -EINVAL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A name listed twice means the file was not written by us. */
static int check_unique(const struct idg_state *st)
{
	size_t n = st->n_ids > st->n_cookies ? st->n_ids : st->n_cookies;
	char **v;
	int err = 0;

	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int pass = 0; pass < 2 && !err; pass++) {
		size_t m = pass ? st->n_cookies : st->n_ids;

		for (size_t i = 0; i < m; i++)
			v[i] = pass ? st->cookies[i].key : st->ids[i].canon;
		qsort(v, m, sizeof(*v), str_cmp);
		for (size_t i = 1; i < m; i++)
			if (!strcmp(v[i - 1], v[i]))
				err = -EINVAL;
	}
	free(v);
	return err;
}

int idg_state_load(const char *path, struct idg_state *st)
{
	char *line = NULL, header[32];
	bool ended = false;
	size_t cap = 0;
	ssize_t len;
	int err = 0;
	FILE *f;

	memset(st, 0, sizeof(*st));
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	snprintf(header, sizeof(header), "%s %d", STATE_MAGIC, STATE_VERSION);
	for (size_t n = 0; (len = getline(&line, &cap, f)) >= 0; n++) {
		if (ended || !len || line[len - 1] != '\n') {
			err = -EINVAL;
			break;
		}
		line[--len] = '\0';
		if (!n) {
			if (strcmp(line, header))
				err = -EINVAL;
		} else if (!strcmp(line, "end")) {
			ended = true;
		} else {
			err = parse_line(line, st);
		}
		if (err)
			break;
	}
	if (!err && ferror(f))
		err = -EIO;
	if (!err && !ended)
		err = -EINVAL;
	if (!err)
		err = check_unique(st);
	free(line);
	fclose(f);
	if (err)
		idg_state_free(st);
	return err;
}

static int write_all(FILE *f, const struct idg_state *st)
{
	int err = 0;

	if (fprintf(f, "%s %d\n", STATE_MAGIC, STATE_VERSION) < 0)
		return -EIO;
	for (size_t i = 0; i < st->n_ids && !err; i++) {
		if (fprintf(f, "id %u ", st->ids[i].id) < 0)
			return -EIO;
		err = put_name(f, st->ids[i].canon);
		if (!err && fputc('\n', f) == EOF)
			err = -EIO;
	}
	for (size_t i = 0; i < st->n_cookies && !err; i++) {
		if (fprintf(f, "cookie %u ", st->cookies[i].cookie) < 0)
			return -EIO;
		err = put_name(f, st->cookies[i].key);
		if (!err && fputc('\n', f) == EOF)
			err = -EIO;
	}
	if (!err && fputs("end\n", f) == EOF)
		err = -EIO;
	return err;
}

int idg_state_save(const char *path, const struct idg_state *st)
{
	char *dcopy = NULL, *bcopy = NULL, *tmp = NULL;
	const char *dir, *base;
	FILE *f = NULL;
	int fd = -1, dfd, err = 0;

	dcopy = strdup(path);
	bcopy = strdup(path);
	if (!dcopy || !bcopy) {
		err = -ENOMEM;
		goto out;
	}
	dir = dirname(dcopy);
	base = basename(bcopy);
	/* Same dir as the target, so the rename cannot cross filesystems. */
	tmp = malloc(strlen(dir) + strlen(base) + sizeof("/..XXXXXX"));
	if (!tmp) {
		err = -ENOMEM;
		goto out;
	}
	sprintf(tmp, "%s/.%s.XXXXXX", dir, base);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0644)) {
		err = -errno;
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		goto out;
	}
	fd = -1;
	err = write_all(f, st);
	if (!err && fflush(f))
		err = -errno;
	/* Data on disk before the name points at it: a crash leaves either
	 * the old file or the complete new one. */
	if (!err && fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -EIO;
	f = NULL;
	if (!err && rename(tmp, path))
		err = -errno;
	if (!err) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(tmp);
		tmp = NULL;
	}
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dcopy);
	free(bcopy);
	return err;
}
