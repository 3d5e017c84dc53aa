// SPDX-License-Identifier: GPL-2.0
/* Whole-value regular expressions in RE2's syntax, matched by PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

struct idg_regex {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mc;
};

/* RE2 bounds a counted repetition at 1000. */
#define RE2_MAX_REPEAT 1000
/* Backtracking PCRE2 gets a budget; RE2 never needs one. */
#define MATCH_LIMIT 1000000

/* Escapes that mean the same thing to RE2 and PCRE2 (letters and
 * digits; any other escaped character is that character to both). */
static bool escape_shared(char c)
{
	return strchr("aftnrdDsSwWbBAzpPxQE0", c) != NULL;
}

/* Inline flags both engines read alike: (?i) (?m) (?s) (?U) and their
 * negations. */
static bool flags_shared(const char *s, size_t *len)
{
	size_t i = 0;

	while (s[i] && strchr("imsU-", s[i]))
		i++;
	if (s[i] != ')' && s[i] != ':')
		return false;
	*len = i + 1;
	return true;
}

/* {n}, {n,} or {n,m} at s: its length, and its largest count in *max
 * (n when unbounded); 0 when s is a literal brace to both engines. */
static size_t counted_repeat(const char *s, long *max)
{
	const char *p = s + 1;
	char *end;
	long n, m;

	if (!isdigit((unsigned char)*p))
		return 0;
	n = strtol(p, &end, 10);
	m = n;
	p = end;
	if (*p == ',') {
		p++;
		if (isdigit((unsigned char)*p)) {
			m = strtol(p, &end, 10);
			p = end;
		}
	}
	if (*p != '}')
		return 0;
	*max = m > n ? m : n;
	return (size_t)(p - s) + 1;
}

/*
 * The first construct of pat that RE2 lacks, or reads differently from
 * PCRE2: a message in err and its offset in *at. The walk follows both
 * syntaxes only as far as that needs: PCRE2 reports real syntax errors.
 */
static bool re2_lacks(const char *pat, size_t *at, char *err, size_t len)
{
	bool in_class = false, after_quant = false;
	size_t i = 0, fl;
	long max;

	while (pat[i]) {
		char c = pat[i];
		bool quant = false;

		*at = i;
		if (c == '\\') {
			char e = pat[i + 1];

			if (!e)
				return false; /* PCRE2 reports it */
			if (e == 'Q') { /* literal up to \E */
				const char *q = strstr(pat + i + 2, "\\E");

				i = q ? (size_t)(q - pat) + 2 : strlen(pat);
				after_quant = false;
				continue;
			}
			if (isalnum((unsigned char)e) && !escape_shared(e)) {
				if (isdigit((unsigned char)e))
					snprintf(err, len,
						 "\\%c is a backreference or an octal escape, which RE2 (Cilium's regex syntax) does not take: write \\x%02x for a character",
						 e, e - '0');
				else
					snprintf(err, len,
						 "\\%c is not in RE2's syntax (Cilium's regexes are RE2)",
						 e);
				return true;
			}
			i += 2;
			after_quant = false;
			continue;
		}
		if (in_class) {
			if (c == '[' && pat[i + 1] == ':') {
				const char *q = strstr(pat + i + 2, ":]");

				if (q) {
					i = (size_t)(q - pat) + 2;
					continue;
				}
			}
			if (c == ']')
				in_class = false;
			i++;
			continue;
		}
		switch (c) {
		case '[':
			in_class = true;
			i++;
			if (pat[i] == '^')
				i++;
			if (pat[i] == ']') /* a literal ] first */
				i++;
			after_quant = false;
			continue;
		case '(':
			if (pat[i + 1] == '*') {
				snprintf(err, len,
					 "(* starts a PCRE verb, which RE2 (Cilium's regex syntax) does not have");
				return true;
			}
			if (pat[i + 1] == '?') {
				const char *g = pat + i + 2;

				if (!strncmp(g, "P<", 2) ||
				    (g[0] == '<' && g[1] != '=' && g[1] != '!')) {
					i += 3;
					break;
				}
				if (flags_shared(g, &fl)) {
					i += 2 + fl;
					after_quant = false;
					continue;
				}
				snprintf(err, len,
					 "(?%.2s is not in RE2's syntax (Cilium's regexes are RE2): no lookaround, atomic groups, conditionals or recursion",
					 g);
				return true;
			}
			break;
		case '*':
		case '+':
		case '?':
			if (after_quant && c == '+') {
				snprintf(err, len,
					 "a possessive quantifier (+ after a repetition) is not in RE2's syntax (Cilium's regexes are RE2)");
				return true;
			}
			/* '?' after a repetition makes it lazy, in both. */
			quant = !(after_quant && c == '?');
			break;
		case '{': {
			size_t n = counted_repeat(pat + i, &max);

			if (n && max > RE2_MAX_REPEAT) {
				snprintf(err, len,
					 "repetition count %ld: RE2 (Cilium's regex syntax) allows at most %d",
					 max, RE2_MAX_REPEAT);
				return true;
			}
			if (n) {
				i += n;
				after_quant = true;
				continue;
			}
			break;
		}
		default:
			break;
		}
		after_quant = quant;
		i++;
	}
	return false;
}

static int compile_err(int code, PCRE2_SIZE off, char *err, size_t len)
{
	char msg[160];

	pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
	snprintf(err, len, "%s (at offset %zu)", msg, (size_t)off);
	return -EINVAL;
}

int idg_regex_compile(const char *pattern, struct idg_regex **out, char *err,
		      size_t err_len)
{
	const uint32_t opts = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C;
	struct idg_regex *re = NULL;
	pcre2_code *raw = NULL;
	char *wrapped = NULL;
	PCRE2_SIZE off;
	uint32_t refs = 0;
	size_t at, n;
	int code, ret = -EINVAL;

	*out = NULL;
	err[0] = 0;
	/* The pattern alone first: its own errors, at its own offsets. */
	raw = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts,
			    &code, &off, NULL);
	if (!raw) {
		ret = compile_err(code, off, err, err_len);
		goto out;
	}
	if (re2_lacks(pattern, &at, err, err_len)) {
		n = strlen(err);
		snprintf(err + n, err_len - n, " (at offset %zu)", at);
		goto out;
	}
	pcre2_pattern_info(raw, PCRE2_INFO_BACKREFMAX, &refs);
	if (refs) {
		snprintf(err, err_len,
			 "backreferences are not in RE2's syntax (Cilium's regexes are RE2)");
		goto out;
	}
	ret = -ENOMEM;
	n = strlen(pattern);
	wrapped = malloc(n + 8);
	re = calloc(1, sizeof(*re));
	if (!wrapped || !re)
		goto out;
	/* Whole value: anchored at the start, \z at the end, around a group
	 * so that an alternation binds inside it. */
	snprintf(wrapped, n + 8, "(?:%s)\\z", pattern);
	re->code = pcre2_compile((PCRE2_SPTR)wrapped, PCRE2_ZERO_TERMINATED,
				 opts | PCRE2_ANCHORED, &code, &off, NULL);
	if (!re->code) {
		ret = compile_err(code, off, err, err_len);
		goto out;
	}
	re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
	re->mc = pcre2_match_context_create(NULL);
	if (!re->md || !re->mc)
		goto out;
	pcre2_set_match_limit(re->mc, MATCH_LIMIT);
	*out = re;
	re = NULL;
	ret = 0;
out:
	pcre2_code_free(raw);
	free(wrapped);
	idg_regex_free(re);
	return ret;
}

/* A subject that is not UTF-8 matches nothing (PCRE2 refuses it): the
 * proxy, which matches in UTF-8 mode too, denies such a request. */
bool idg_regex_match(const struct idg_regex *re, const char *s, size_t len)
{
	return pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md,
			   re->mc) >= 0;
}

void idg_regex_free(struct idg_regex *re)
{
	if (!re)
		return;
	pcre2_match_data_free(re->md);
	pcre2_match_context_free(re->mc);
	pcre2_code_free(re->code);
	free(re);
}
