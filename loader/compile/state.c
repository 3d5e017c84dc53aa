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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile_int.h"
#include "util/hash.h"
#include "util/util.h"

#define STATE_MAGIC "idgate-state"
#define STATE_VERSION 1

/* Room for one more element of an array with *cap elements. */
static int room(void **v, size_t n, size_t *cap, size_t elem)
{
	size_t c;
	void *nv;

	if (n < *cap)
		return 0;
	c = n < 16 ? 16 : n * 2;
	nv = realloc(*v, c * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static void index_drop(struct idg_state *st)
{
	if (!st->ix)
		return;
	idg_strmap_free(&st->ix->ids);
	idg_strmap_free(&st->ix->cookies);
	free(st->ix);
	st->ix = NULL;
}

static int ids_index(const struct idg_state *st, struct idg_strmap *m)
{
	int err = idg_strmap_init(m, st ? st->n_ids : 0);

	for (size_t i = 0; !err && st && i < st->n_ids; i++)
		if (idg_strmap_put(m, st->ids[i].canon, st->ids[i].id,
				   NULL) < 0)
			err = -ENOMEM;
	return err;
}

static int cookies_index(const struct idg_state *st, struct idg_strmap *m)
{
	int err = idg_strmap_init(m, st ? st->n_cookies : 0);

	for (size_t i = 0; !err && st && i < st->n_cookies; i++)
		if (idg_strmap_put(m, st->cookies[i].key,
				   st->cookies[i].cookie, NULL) < 0)
			err = -ENOMEM;
	return err;
}

int idg_state_index_build(struct idg_state *st)
{
	struct idg_state_index *ix;
	int err;

	if (st->ix)
		return 0;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	err = ids_index(st, &ix->ids);
	if (!err)
		err = cookies_index(st, &ix->cookies);
	st->ix = ix;
	if (err)
		index_drop(st);
	return err;
}

int idg_state_index_of(const struct idg_state *st, enum idg_state_ix which,
		       struct idg_strmap *own, const struct idg_strmap **index)
{
	bool ids = which == IDG_STATE_IX_IDS;

	memset(own, 0, sizeof(*own));
	if (st && st->ix) {
		*index = ids ? &st->ix->ids : &st->ix->cookies;
		return 0;
	}
	*index = own;
	return ids ? ids_index(st, own) : cookies_index(st, own);
}

int idg_state_take_id(struct idg_state *st, char *canon, uint32_t id)
{
	index_drop(st);
	st->content_id = 0;
	if (room((void **)&st->ids, st->n_ids, &st->cap_ids,
		 sizeof(*st->ids)))
		return -ENOMEM;
	st->ids[st->n_ids].canon = canon;
	st->ids[st->n_ids].id = id;
	st->n_ids++;
	return 0;
}

int idg_state_take_cookie(struct idg_state *st, char *key, uint32_t cookie)
{
	index_drop(st);
	st->content_id = 0;
	if (room((void **)&st->cookies, st->n_cookies, &st->cap_cookies,
		 sizeof(*st->cookies)))
		return -ENOMEM;
	st->cookies[st->n_cookies].key = key;
	st->cookies[st->n_cookies].cookie = cookie;
	st->n_cookies++;
	return 0;
}

int idg_state_add_id(struct idg_state *st, const char *canon, uint32_t id)
{
	char *c = strdup(canon);
	int err = c ? idg_state_take_id(st, c, id) : -ENOMEM;

	if (err)
		free(c);
	return err;
}

int idg_state_add_cookie(struct idg_state *st, const char *key,
			 uint32_t cookie)
{
	char *k = strdup(key);
	int err = k ? idg_state_take_cookie(st, k, cookie) : -ENOMEM;

	if (err)
		free(k);
	return err;
}

void idg_state_free(struct idg_state *st)
{
	index_drop(st);
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

/* A name listed twice means the file was not written by us. */
static int check_unique(const struct idg_state *st)
{
	struct idg_strmap seen;
	int err = 0, r;

	for (int pass = 0; pass < 2 && !err; pass++) {
		size_t m = pass ? st->n_cookies : st->n_ids;

		err = idg_strmap_init(&seen, m);
		for (size_t i = 0; !err && i < m; i++) {
			r = idg_strmap_put(&seen,
					   pass ? st->cookies[i].key :
						  st->ids[i].canon,
					   i, NULL);
			err = r < 0 ? r : r == 0 ? -EINVAL : 0;
		}
		idg_strmap_free(&seen);
	}
	return err;
}

/* The state in text (len bytes, NUL-terminated, changed in place). */
static int state_parse(char *text, size_t len, struct idg_state *st)
{
	char header[32];
	bool ended = false;
	char *line = text, *nl;
	int err = 0;

	memset(st, 0, sizeof(*st));
	/* A NUL byte is never written (names are escaped). */
	if (strlen(text) != len)
		return -EINVAL;
	snprintf(header, sizeof(header), "%s %d", STATE_MAGIC, STATE_VERSION);
	for (size_t n = 0; !err && line < text + len; n++, line = nl + 1) {
		nl = strchr(line, '\n');
		/* Every line ends in a newline; nothing follows "end". */
		if (!nl || ended) {
			err = -EINVAL;
			break;
		}
		*nl = '\0';
		if (!n)
			err = strcmp(line, header) ? -EINVAL : 0;
		else if (!strcmp(line, "end"))
			ended = true;
		else
			err = parse_line(line, st);
	}
	if (!err && !ended)
		err = -EINVAL;
	if (!err)
		err = check_unique(st);
	if (err)
		idg_state_free(st);
	return err;
}

int idg_state_dup(struct idg_state *dst, const struct idg_state *src)
{
	int err = 0;

	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n_ids && !err; i++)
		err = idg_state_add_id(dst, src->ids[i].canon, src->ids[i].id);
	for (size_t i = 0; i < src->n_cookies && !err; i++)
		err = idg_state_add_cookie(dst, src->cookies[i].key,
					   src->cookies[i].cookie);
	if (err)
		idg_state_free(dst);
	else
		dst->content_id = src->content_id;
	return err;
}

/* The content_id of a state read from or saved as text. */
static uint64_t text_id(const char *text, size_t len)
{
	return idg_hash_final(idg_hash_bytes(IDG_HASH_SEED, text, len)) | 1;
}

void idg_state_memo_free(struct idg_state_memo *m)
{
	free(m->text);
	idg_state_free(&m->st);
	memset(m, 0, sizeof(*m));
}

/* m now says that the file holds text (taken over), which means st. */
static int memo_set(struct idg_state_memo *m, char *text, size_t len,
		    const struct idg_state *st)
{
	struct idg_state copy;
	int err = idg_state_dup(&copy, st);

	idg_state_memo_free(m);
	if (err) {
		free(text);
		return err;
	}
	m->text = text;
	m->len = len;
	m->st = copy;
	m->st.content_id = text_id(text, len);
	m->valid = true;
	return 0;
}

static bool memo_says(const struct idg_state_memo *m, const char *text,
		      size_t len)
{
	return m && m->valid && m->len == len && !memcmp(m->text, text, len);
}

static bool stat_id(const char *path, struct idg_stat_id *id)
{
	struct stat sb;

	if (stat(path, &sb))
		return false;
	idg_stat_id_from(id, &sb);
	return true;
}

/* The memo's file is still the one it saw. */
static bool memo_file_is(const struct idg_state_memo *m, const char *path)
{
	struct idg_stat_id now;

	return m->valid && m->have_id && stat_id(path, &now) &&
	       idg_stat_id_same(&now, &m->id);
}

int idg_state_load_memo(const char *path, struct idg_state_memo *m)
{
	struct idg_stat_id before, after;
	struct idg_state st;
	char *text = NULL;
	size_t len = 0;
	bool held;
	int err;

	if (memo_file_is(m, path))
		return 0;
	held = stat_id(path, &before);
	err = idg_read_file(path, &text, &len);
	/* Not replaced or written while it was read: its id is the text's. */
	held = held && !err && stat_id(path, &after) &&
	       idg_stat_id_same(&before, &after);
	if (err == -ENOENT) {
		idg_state_memo_free(m);
		return 0;
	}
	if (err)
		goto fail;
	/* The text this process last read or wrote: no need to parse it. */
	if (memo_says(m, text, len)) {
		free(text);
		m->have_id = held;
		m->id = before;
		return 0;
	}
	idg_state_memo_free(m);
	m->text = malloc(len + 1);
	if (!m->text) {
		err = -ENOMEM;
		goto fail;
	}
	memcpy(m->text, text, len + 1);
	m->len = len;
	err = state_parse(text, len, &st);
	if (err)
		goto fail;
	m->st = st;
	m->st.content_id = text_id(m->text, len);
	m->valid = true;
	m->have_id = held;
	m->id = before;
	free(text);
	return 0;
fail:
	free(text);
	idg_state_memo_free(m);
	return err;
}

int idg_state_load(const char *path, struct idg_state *st)
{
	char *text = NULL;
	size_t len = 0;
	int err;

	memset(st, 0, sizeof(*st));
	err = idg_read_file(path, &text, &len);
	if (err == -ENOENT)
		return 0;
	if (!err)
		err = state_parse(text, len, st);
	free(text);
	return err;
}

/* The file's text, in one buffer. */
struct sbuf {
	char *p;
	size_t n, cap;
};

static int sb_room(struct sbuf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 65536;
	char *np;

	if (b->n + more <= b->cap)
		return 0;
	while (cap < b->n + more)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

/* num in decimal at w; its length. */
static size_t u32_text(uint32_t num, char *w)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + num % 10);
		num /= 10;
	} while (num);
	for (size_t i = 0; i < n; i++)
		w[i] = tmp[n - 1 - i];
	return n;
}

static int sb_line(struct sbuf *b, const char *kind, uint32_t num,
		   const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(name), l_kind = strlen(kind);
	char *w;

	/* "kind num " + up to 3 bytes per name byte + "\n" */
	if (sb_room(b, l_kind + 16 + len * 3 + 1))
		return -ENOMEM;
	w = b->p + b->n;
	/* By hand, as rule keys are: a state has tens of thousands of
	 * lines, printed again at every change of a number. */
	memcpy(w, kind, l_kind);
	w += l_kind;
	*w++ = ' ';
	w += u32_text(num, w);
	*w++ = ' ';
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		if (needs_escape(*c)) {
			*w++ = '%';
			*w++ = hex[*c >> 4];
			*w++ = hex[*c & 15];
		} else {
			*w++ = (char)*c;
		}
	}
	*w++ = '\n';
	b->n = (size_t)(w - b->p);
	return 0;
}

static int state_text(const struct idg_state *st, struct sbuf *b)
{
	int err = sb_room(b, 64);

	if (err)
		return err;
	b->n = (size_t)sprintf(b->p, "%s %d\n", STATE_MAGIC, STATE_VERSION);
	for (size_t i = 0; i < st->n_ids && !err; i++)
		err = sb_line(b, "id", st->ids[i].id, st->ids[i].canon);
	for (size_t i = 0; i < st->n_cookies && !err; i++)
		err = sb_line(b, "cookie", st->cookies[i].cookie,
			      st->cookies[i].key);
	if (!err)
		err = sb_room(b, 4);
	if (!err) {
		memcpy(b->p + b->n, "end\n", 4);
		b->n += 4;
	}
	return err;
}

/* True when path holds exactly text (n bytes) already. */
/* Same numbers, same names, same order: the same text. */
static bool state_same(const struct idg_state *a, const struct idg_state *b)
{
	if (a->n_ids != b->n_ids || a->n_cookies != b->n_cookies)
		return false;
	for (size_t i = 0; i < a->n_ids; i++)
		if (a->ids[i].id != b->ids[i].id ||
		    strcmp(a->ids[i].canon, b->ids[i].canon))
			return false;
	for (size_t i = 0; i < a->n_cookies; i++)
		if (a->cookies[i].cookie != b->cookies[i].cookie ||
		    strcmp(a->cookies[i].key, b->cookies[i].key))
			return false;
	return true;
}

int idg_state_save_memo(const char *path, const struct idg_state *st,
			struct idg_state_memo *m)
{
	struct sbuf text = { 0 };
	int err;

	/* What the memo says already: its text, no need to print it. */
	if (m && m->valid && state_same(st, &m->st)) {
		if (memo_file_is(m, path) ||
		    idg_file_holds(path, m->text, m->len))
			return 0;
		err = idg_file_replace_buf(path, 0644, m->text, m->len);
		if (err)
			idg_state_memo_free(m);
		else /* (writers hold the instance lock) */
			m->have_id = stat_id(path, &m->id);
		return err;
	}
	err = state_text(st, &text);
	if (err)
		goto out;
	/* A reload that hands out no new number leaves the file alone. A
	 * file that is still the memo's holds the memo's text, another
	 * state's: no need to read it to know. */
	if ((m && memo_file_is(m, path)) ||
	    !idg_file_holds(path, text.p, text.n))
		err = idg_file_replace_buf(path, 0644, text.p, text.n);
	if (err) {
		if (m)
			idg_state_memo_free(m);
		goto out;
	}
	/* Past the check above, a memo holds another state: replace it. */
	if (m) {
		err = memo_set(m, text.p, text.n, st);
		text.p = NULL;
		if (!err)
			m->have_id = stat_id(path, &m->id);
	}
out:
	free(text.p);
	return err;
}

int idg_state_save(const char *path, const struct idg_state *st)
{
	return idg_state_save_memo(path, st, NULL);
}
