/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Whole-value regular expressions, as Cilium's L7 HTTP rules use them.
 *
 * Cilium checks a rule's regex with Go's regexp (RE2 syntax) and Envoy
 * matches it against the whole value. idgate matches with PCRE2, the
 * engine HAProxy runs, and refuses what RE2 does not have (backreferences,
 * lookaround, atomic groups, possessive quantifiers, recursion, verbs), so
 * a pattern idgate takes means the same thing to both engines.
 */
#ifndef IDGATE_LOADER_UTIL_REGEX_H
#define IDGATE_LOADER_UTIL_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct idg_regex;

/* Compiles pattern for whole-value matching. On a bad or refused pattern:
 * -EINVAL, with why (and where, as an offset) in err. -ENOMEM. */
int idg_regex_compile(const char *pattern, struct idg_regex **out, char *err,
		      size_t err_len);
/* Whether the whole of s[0..len) matches. A subject that is not valid
 * UTF-8 matches nothing. */
bool idg_regex_match(const struct idg_regex *re, const char *s, size_t len);
void idg_regex_free(struct idg_regex *re);

#endif /* IDGATE_LOADER_UTIL_REGEX_H */
