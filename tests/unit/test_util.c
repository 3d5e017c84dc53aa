// SPDX-License-Identifier: GPL-2.0
/* loader/util: the helpers every part of the loader shares. fsync is
 * wrapped (-Wl,--wrap=fsync) so that the tests see what was synced. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util/regex.h"
#include "util/strmap.h"
#include "util/util.h"

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(id, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Bracketed by the kernel's clock: the right clock in the right unit. */
static void clock_ns_reads_the_clock(void **state)
{
	static const clockid_t ids[] = { CLOCK_MONOTONIC, CLOCK_REALTIME,
					 CLOCK_MONOTONIC_COARSE };

	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint64_t before = ns_of(ids[i]);
		uint64_t v = idg_clock_ns(ids[i]);
		uint64_t after = ns_of(ids[i]);

		assert_true(before <= v);
		assert_true(v <= after);
	}
}

static void now_ms_is_monotonic_milliseconds(void **state)
{
	double before, v, after;

	(void)state;
	before = (double)ns_of(CLOCK_MONOTONIC) / 1e6;
	v = idg_now_ms();
	after = (double)ns_of(CLOCK_MONOTONIC) / 1e6;
	assert_true(before <= v);
	assert_true(v <= after);
	/* Sub-millisecond resolution: durations of a fast apply show. */
	assert_true(idg_now_ms() >= v);
}

/* ---- file.c ---- */

struct synced {
	int n;
	mode_t type[4];
	ino_t ino[4];
};
static struct synced synced;

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
	struct stat sb;

	if (synced.n < 4 && !fstat(fd, &sb)) {
		synced.type[synced.n] = sb.st_mode & S_IFMT;
		synced.ino[synced.n] = sb.st_ino;
	}
	synced.n++;
	return __real_fsync(fd);
}

struct fx {
	char dir[64];
	char path[96];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/idgate-test-util.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/target", f->dir);
	memset(&synced, 0, sizeof(synced));
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void assert_content(const char *path, const char *text)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = 0;
	assert_string_equal(buf, text);
}

/* The names in dir, sorted, joined by spaces. */
static void listing(const char *dir, char *out, size_t len)
{
	struct dirent **v;
	int n = scandir(dir, &v, NULL, alphasort);

	assert_true(n >= 0);
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(v[i]->d_name, ".") && strcmp(v[i]->d_name, "..")) {
			if (out[0])
				strncat(out, " ", len - strlen(out) - 1);
			strncat(out, v[i]->d_name, len - strlen(out) - 1);
		}
		free(v[i]);
	}
	free(v);
}

static void assert_listing(const char *dir, const char *want)
{
	char got[256];

	listing(dir, got, sizeof(got));
	assert_string_equal(got, want);
}

static void replace_buf_replaces_target(void **state)
{
	struct fx *f = *state;
	struct stat sb;

	put(f->path, "the old content, longer than the new");
	assert_int_equal(idg_file_replace_buf(f->path, 0640, "new\n", 4), 0);
	assert_content(f->path, "new\n");
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_listing(f->dir, "target");
}

static void replace_buf_creates_target(void **state)
{
	struct fx *f = *state;

	assert_int_equal(idg_file_replace_buf(f->path, 0600, "", 0), 0);
	assert_content(f->path, "");
	assert_listing(f->dir, "target");
}

/* The file's data, then the directory's entry: nothing else decides
 * what a crash leaves. */
static void replace_syncs_file_then_dir(void **state)
{
	struct fx *f = *state;
	struct stat file, dir;

	assert_int_equal(idg_file_replace_buf(f->path, 0600, "x", 1), 0);
	assert_int_equal(stat(f->path, &file), 0);
	assert_int_equal(stat(f->dir, &dir), 0);
	assert_int_equal(synced.n, 2);
	assert_int_equal(synced.type[0], S_IFREG);
	assert_int_equal(synced.ino[0], file.st_ino);
	assert_int_equal(synced.type[1], S_IFDIR);
	assert_int_equal(synced.ino[1], dir.st_ino);
}

/* A record of kernel state: rewritten in place (the same inode, no
 * temporary name), shorter or longer, synced never. */
static void rewrite_in_place_does_not_sync(void **state)
{
	struct fx *f = *state;
	struct stat a, b;

	assert_int_equal(idg_file_rewrite(f->path, 0600, "longer", 6), 0);
	assert_int_equal(stat(f->path, &a), 0);
	assert_int_equal(idg_file_rewrite(f->path, 0600, "yz", 2), 0);
	assert_int_equal(stat(f->path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(synced.n, 0);
	assert_content(f->path, "yz");
	assert_listing(f->dir, "target");
}

static void replace_missing_dir_is_enoent(void **state)
{
	struct fx *f = *state;
	char path[128];

	put(f->path, "kept");
	snprintf(path, sizeof(path), "%s/missing/target", f->dir);
	assert_int_equal(idg_file_replace_buf(path, 0600, "x", 1), -ENOENT);
	assert_content(f->path, "kept");
	assert_listing(f->dir, "target");
}

static int fill_fails(int fd, void *arg)
{
	(void)arg;
	assert_int_equal(write(fd, "partial", 7), 7);
	return -ENOSPC;
}

static void replace_fill_error_keeps_target(void **state)
{
	struct fx *f = *state;

	put(f->path, "kept");
	assert_int_equal(idg_file_replace(f->path, 0600, fill_fails, NULL),
			 -ENOSPC);
	assert_content(f->path, "kept");
	assert_listing(f->dir, "target");
}

/* The rename fails: a directory stands where the file goes. */
static void replace_rename_error_removes_temp(void **state)
{
	struct fx *f = *state;
	char inner[128];

	assert_int_equal(mkdir(f->path, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/inner", f->path);
	put(inner, "kept");
	assert_int_equal(idg_file_replace_buf(f->path, 0600, "x", 1), -EISDIR);
	assert_content(inner, "kept");
	assert_listing(f->dir, "target");
}

static void leftovers_only_of_that_file(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { ".target.a1B2c3", ".target.toolong7",
					     ".other.a1B2c3", "target", ".target" };
	char p[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		put(p, "x");
	}
	assert_int_equal(idg_file_replace_leftovers(f->path), 0);
	assert_listing(f->dir, ".other.a1B2c3 .target .target.toolong7 target");
	snprintf(p, sizeof(p), "%s/missing/target", f->dir);
	assert_int_equal(idg_file_replace_leftovers(p), 0);
}

/* ---- proto.c ---- */

static void proto_names_are_cilium_spelling(void **state)
{
	char buf[IDG_PROTO_STR_LEN];

	(void)state;
	assert_string_equal(idg_proto_name(6), "TCP");
	assert_string_equal(idg_proto_name(17), "UDP");
	assert_string_equal(idg_proto_name(132), "SCTP");
	assert_string_equal(idg_proto_name(1), "ICMP");
	assert_string_equal(idg_proto_name(58), "ICMPv6");
	assert_null(idg_proto_name(0));
	assert_null(idg_proto_name(47));
	assert_string_equal(idg_proto_str(17, buf, sizeof(buf)), "UDP");
	assert_string_equal(idg_proto_str(47, buf, sizeof(buf)), "proto-47");
	assert_string_equal(idg_proto_str(255, buf, sizeof(buf)), "proto-255");
}

static void proto_parse_any_case(void **state)
{
	(void)state;
	assert_int_equal(idg_proto_parse("tcp"), 6);
	assert_int_equal(idg_proto_parse("TCP"), 6);
	assert_int_equal(idg_proto_parse("Udp"), 17);
	assert_int_equal(idg_proto_parse("icmpv6"), 58);
	assert_int_equal(idg_proto_parse("ICMP"), 1);
	assert_int_equal(idg_proto_parse("quic"), -ENOENT);
	assert_int_equal(idg_proto_parse(""), -ENOENT);
	assert_int_equal(idg_proto_parse("tcp "), -ENOENT);
	/* Every name reads back as its number. */
	for (int nr = 0; nr < 256; nr++) {
		const char *n = idg_proto_name((uint8_t)nr);

		if (n)
			assert_int_equal(idg_proto_parse(n), nr);
	}
}

/* Keys removed and put again at random, in a small table where probe
 * runs wrap around: every key present is found, every removed one not,
 * and a copy answers the same. */
static void strmap_removes_keys(void **state)
{
	enum { N = 300, ROUNDS = 20000 };
	static char keys[N][16];
	bool in[N] = { false };
	struct idg_strmap m, c;
	uint64_t r = 88172645463325252ull;
	size_t n = 0;

	(void)state;
	assert_int_equal(idg_strmap_init(&m, N), 0);
	for (size_t i = 0; i < N; i++)
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
	for (int round = 0; round < ROUNDS; round++) {
		size_t i;

		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		i = r % N;
		if (in[i]) {
			idg_strmap_del2(&m, keys[i], NULL);
			in[i] = false;
			n--;
		} else {
			assert_int_equal(idg_strmap_put(&m, keys[i], i, NULL), 1);
			in[i] = true;
			n++;
		}
		assert_int_equal(m.n, n);
		if (round % 997)
			continue;
		assert_int_equal(idg_strmap_dup(&c, &m), 0);
		for (size_t k = 0; k < N; k++) {
			size_t *v = idg_strmap_get(&m, keys[k]);

			assert_true(!v == !in[k]);
			if (v)
				assert_int_equal(*v, k);
			assert_true(!idg_strmap_get(&c, keys[k]) == !in[k]);
			assert_true(!idg_strmap_slot2(&m, keys[k], NULL) == !in[k]);
		}
		idg_strmap_free(&c);
	}
	idg_strmap_del2(&m, "absent", NULL);
	assert_int_equal(m.n, n);
	idg_strmap_free(&m);
}

/* Every key found again after the table has grown many times; pair keys
 * split at different places are different keys. */
static void strmap_finds_every_key(void **state)
{
	enum { N = 5000 };
	static char keys[N][40];
	struct idg_strmap m;
	size_t v;

	(void)state;
	assert_int_equal(idg_strmap_init(&m, 4), 0);
	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]),
			 "io.kubernetes.pod.namespace=ns-%zu", i);
		assert_int_equal(idg_strmap_put(&m, keys[i], i, &v), 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(m.n, N);
	for (size_t i = 0; i < N; i++) {
		char again[40];

		memcpy(again, keys[i], sizeof(again));
		assert_non_null(idg_strmap_get(&m, again));
		assert_int_equal(*idg_strmap_get(&m, again), i);
		assert_int_equal(idg_strmap_put(&m, again, 0, &v), 0);
		assert_int_equal(v, i);
	}
	assert_null(idg_strmap_get(&m, "io.kubernetes.pod.namespace=ns-5000"));
	assert_null(idg_strmap_get(&m, ""));
	assert_int_equal(idg_strmap_put2(&m, "ab", "c", 1, NULL), 1);
	assert_int_equal(idg_strmap_put2(&m, "a", "bc", 2, NULL), 1);
	assert_int_equal(idg_strmap_put(&m, "abc", 3, NULL), 1);
	assert_int_equal(*idg_strmap_get2(&m, "ab", "c"), 1);
	assert_int_equal(*idg_strmap_get2(&m, "a", "bc"), 2);
	assert_int_equal(*idg_strmap_get(&m, "abc"), 3);
	assert_null(idg_strmap_get2(&m, "abc", ""));
	idg_strmap_free(&m);
}

static bool re_matches(const char *pat, const char *s)
{
	struct idg_regex *re;
	char err[256];
	bool m;

	assert_int_equal(idg_regex_compile(pat, &re, err, sizeof(err)), 0);
	m = idg_regex_match(re, s, strlen(s));
	idg_regex_free(re);
	return m;
}

/* Envoy matches Cilium's HTTP regexes against the whole value. */
static void regex_matches_whole_value(void **state)
{
	(void)state;
	assert_true(re_matches("GET", "GET"));
	assert_false(re_matches("GET", "GETX"));
	assert_false(re_matches("GET", "XGET"));
	assert_false(re_matches("GET", "get"));
	/* An alternation binds inside the whole-value group. */
	assert_true(re_matches("GET|POST", "POST"));
	assert_false(re_matches("GET|POST", "POSTX"));
	assert_false(re_matches("GET|POST", "XGET"));
	assert_true(re_matches("/api/v1/users/.*", "/api/v1/users/42"));
	assert_true(re_matches("/api/v1/users/.*", "/api/v1/users/"));
	assert_false(re_matches("/api/v1/users/.*", "/api/v1/users"));
	assert_false(re_matches("/api/v1/users/.*", "/x/api/v1/users/1"));
	/* . does not cross a newline, as in RE2; (?s) lets it. */
	assert_false(re_matches("a.*", "a\nb"));
	assert_true(re_matches("(?s)a.*", "a\nb"));
	/* $ is the end, not "before a final newline". */
	assert_false(re_matches("abc$", "abc\n"));
	assert_true(re_matches("(?i)get", "GeT"));
	assert_true(re_matches("\\d{2,3}", "123"));
	assert_false(re_matches("\\d{2,3}", "1234"));
	assert_true(re_matches("foo\\.bar\\.com", "foo.bar.com"));
	assert_false(re_matches("foo\\.bar\\.com", "fooXbar.com"));
	assert_true(re_matches("foo.bar.com", "fooXbar.com"));
	assert_true(re_matches("[[:alpha:]]+", "abc"));
	assert_true(re_matches("(?P<v>v[0-9])/.*", "v1/x"));
	assert_true(re_matches("a+?", "aaa"));
	assert_true(re_matches("", ""));
	assert_false(re_matches("", "x"));
	/* Not UTF-8: no match (the proxy denies such a request too). */
	assert_false(re_matches("/a/.*", "/a/\xff\xfe"));
	assert_true(re_matches("/a/.", "/a/\xc3\xa9"));
}

static void regex_refuses(const char *pat, const char *why)
{
	struct idg_regex *re = (struct idg_regex *)1;
	char err[256];

	assert_int_equal(idg_regex_compile(pat, &re, err, sizeof(err)),
			 -EINVAL);
	assert_null(re);
	if (!strstr(err, why))
		fail_msg("pattern '%s': '%s' lacks '%s'", pat, err, why);
}

/* What RE2 lacks or reads otherwise is refused, with a reason. */
static void regex_refuses_what_re2_lacks(void **state)
{
	(void)state;
	regex_refuses("(a)\\1", "backreference");
	regex_refuses("a(?=b)", "lookaround");
	regex_refuses("a(?!b)", "lookaround");
	regex_refuses("(?<=a)b", "lookaround");
	regex_refuses("(?<!a)b", "lookaround");
	regex_refuses("(?>a+)b", "atomic");
	regex_refuses("a++", "possessive");
	regex_refuses("a*+", "possessive");
	regex_refuses("a{2}+", "possessive");
	regex_refuses("a?+", "possessive");
	regex_refuses("(*UTF)a", "verb");
	regex_refuses("\\Ka", "\\K");
	regex_refuses("a\\Z", "\\Z");
	regex_refuses("\\h+", "\\h");
	regex_refuses("\\v", "\\v");
	regex_refuses("a{1001}", "1000");
	regex_refuses("(?x) a", "(?x");
	/* Plain syntax errors, with PCRE2's reason and the offset. */
	regex_refuses("a(b", "offset");
	regex_refuses("[a", "offset");
	regex_refuses("a\\", "offset");
	regex_refuses("*a", "offset");
}

/* What reads as a refused construct but is not one. */
static void regex_takes_look_alikes(void **state)
{
	(void)state;
	assert_true(re_matches("[(?=]+", "(?="));
	assert_true(re_matches("\\(\\?=", "(?="));
	assert_true(re_matches("a+b+", "aabb"));
	assert_true(re_matches("\\Q(?=a++\\E", "(?=a++"));
	assert_true(re_matches("x{,2}", "x{,2}"));
	assert_true(re_matches("[+]+", "++"));
	assert_true(re_matches("\\x41\\t", "A\t"));
}

/* RFC 4648's test vectors, both ways. */
static void base64_rfc4648_vectors(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob",
					     "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v",
					   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *e = idg_b64_encode(plain[i], strlen(plain[i]));
		uint8_t *d;
		size_t len;

		assert_non_null(e);
		assert_string_equal(e, enc[i]);
		assert_int_equal(idg_b64_decode(enc[i], &d, &len), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(d, plain[i], len);
		assert_int_equal(d[len], 0);
		free(e);
		free(d);
	}
}

static void base64_round_trips_every_byte(void **state)
{
	uint8_t buf[259], *d;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		char *e = idg_b64_encode(buf, n);

		assert_non_null(e);
		assert_int_equal(strlen(e), (n + 2) / 3 * 4);
		assert_int_equal(idg_b64_decode(e, &d, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(d, buf, n);
		free(d);
		free(e);
	}
}

static void base64_refuses_malformed(void **state)
{
	static const char *const bad[] = { "Zg=", "Zg", "Z===", "Zm9v!A==",
					   "=m9v", "Zm=v", "Zg==Zg==", "Zm9\n" };
	uint8_t *d;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(idg_b64_decode(bad[i], &d, &len), -EINVAL);
		assert_null(d);
	}
}

static void quoted_escapes_what_json_and_yaml_need(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(f);
	idg_fput_quoted(f, "a\"b\\c\n\x01\x7f/\xc3\xa9");
	fclose(f);
	assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f/\xc3\xa9\"");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strmap_finds_every_key),
		cmocka_unit_test(strmap_removes_keys),
		cmocka_unit_test(clock_ns_reads_the_clock),
		cmocka_unit_test(now_ms_is_monotonic_milliseconds),
		cmocka_unit_test_setup_teardown(replace_buf_replaces_target, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(replace_buf_creates_target, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(replace_syncs_file_then_dir, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(rewrite_in_place_does_not_sync, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(replace_missing_dir_is_enoent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(replace_fill_error_keeps_target, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(replace_rename_error_removes_temp, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(leftovers_only_of_that_file, fx_setup, fx_teardown),
		cmocka_unit_test(proto_names_are_cilium_spelling),
		cmocka_unit_test(proto_parse_any_case),
		cmocka_unit_test(regex_matches_whole_value),
		cmocka_unit_test(regex_refuses_what_re2_lacks),
		cmocka_unit_test(regex_takes_look_alikes),
		cmocka_unit_test(base64_rfc4648_vectors),
		cmocka_unit_test(base64_round_trips_every_byte),
		cmocka_unit_test(base64_refuses_malformed),
		cmocka_unit_test(quoted_escapes_what_json_and_yaml_need),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
