/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals of the config parser, shared by loader/config*.c only.
 *
 * The parser walks libyaml's document tree (yc_compose), one
 * document at a time, straight into the model of model.h. Every error is
 * reported through idg_err() with the position of the offending node and
 * the walk goes on, so one run shows as many mistakes as practical.
 */
#ifndef IDGATE_LOADER_CONFIG_INT_H
#define IDGATE_LOADER_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "model.h"

/* A position the model does not keep, needed by the cross-document checks. */
struct cfg_ref {
	size_t idx; /* index of the object in its idg_config array */
	size_t sub; /* index inside the object (a gateway), or 0 */
	struct idg_pos pos;
};

struct cfg_parser {
	struct idg_config *cfg;
	struct idg_diags *d;
	const char *file; /* cfg->file: positions point into it */
	yaml_document_t *doc; /* the document being walked */
	/* spec.node of cfg->endpoints[idx] */
	struct cfg_ref *ep_node;
	size_t n_ep_node;
	/* spec.clusterID of cfg->nodes[idx] */
	struct cfg_ref *node_cid;
	size_t n_node_cid;
	/* gatewayName of cfg->egw_policies[idx].gateways[sub] */
	struct cfg_ref *gw_name;
	size_t n_gw_name;
	/* The nodes and endpoints are objects an earlier check of the same
	 * files found nothing wrong with: cfg_check skips what depends on
	 * them alone. */
	bool idents_checked;
	size_t ident_diags; /* what those checks said (cfg_check) */
};

/* One known key of a mapping: yc_fields() fills key/val when present. */
struct yc_kv {
	yaml_node_t *key;
	yaml_node_t *val;
};

struct yc_field {
	const char *name;
	struct yc_kv *out; /* NULL: the field is rejected with reject */
	/* Appended to the field name for a rejected field, e.g.
	 * "is not supported yet". */
	const char *reject;
};

#define YC_F(name, kv) { (name), (kv), NULL }
#define YC_REJECT(name, why) { (name), NULL, (why) }
#define YC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- config_compose.c: documents from libyaml's events ---- */
struct yc_composer;
struct yc_composer *yc_composer_new(void);
void yc_composer_free(struct yc_composer *c);
/*
 * The next document of the stream, as yaml_parser_load() would build it
 * (same return value and parser error fields), in memory the composer
 * owns: valid until the next call, never yaml_document_delete()d.
 */
int yc_compose(struct yc_composer *c, yaml_parser_t *yp,
	       yaml_document_t *doc);

/* ---- config_yaml.c: libyaml helpers ---- */
struct idg_pos yc_pos(const struct cfg_parser *p, const yaml_node_t *n);
yaml_node_t *yc_node(const struct cfg_parser *p, int idx);
bool yc_is_null(const yaml_node_t *n);
const char *yc_scalar(const yaml_node_t *n); /* NULL unless a scalar */
/* Removes duplicate and non-scalar keys (reporting them) and rejects
 * alias cycles and alias bombs, so the walk can trust the tree. */
int yc_prepare(struct cfg_parser *p);
/* Reports "expected a mapping/list" and returns false on a mismatch. */
bool yc_is_map(struct cfg_parser *p, const yaml_node_t *n, const char *what);
bool yc_is_seq(struct cfg_parser *p, const yaml_node_t *n, const char *what);
size_t yc_seq_len(const yaml_node_t *n);
yaml_node_t *yc_seq_item(const struct cfg_parser *p, const yaml_node_t *n,
			 size_t i);
/* Splits map into the given fields; unknown or rejected keys are
 * errors "unknown field 'X' in WHERE". -EINVAL when map is no mapping. */
int yc_fields(struct cfg_parser *p, const yaml_node_t *map, const char *where,
	      const struct yc_field *f, size_t n);
void yc_missing(struct cfg_parser *p, const yaml_node_t *map,
		const char *field, const char *where);
/* A string scalar, duplicated; yc_str_empty() also takes null as "". */
int yc_str(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	   char **out);
int yc_str_empty(struct cfg_parser *p, const yaml_node_t *n, const char *what,
		 char **out);
/* A plain decimal integer in [min, max]; quoted numbers only when
 * allow_quoted (Cilium writes ports as strings). */
int yc_int(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	   long long min, long long max, bool allow_quoted, long long *out);
int yc_bool(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	    bool *out);
/* Grows *v so that one more element fits; capacity is implied by n. */
void *cfg_grow(void *v, size_t n, size_t elem);

/* The steps of idg_config_load(), for the cache (config_cache.c). */
int cfg_start(struct idg_config *cfg, struct idg_diags *d, const char *name);
/* The whole file, NUL-terminated, in *out; errors reported at pos. */
int cfg_read_file(const char *path, struct idg_pos pos, struct idg_diags *d,
		  char **out, size_t *out_len);
/* cfg->file is a directory: its *.yaml files, in name order, into
 * cfg->srcs (none is an error). */
int cfg_dir_sources(struct idg_config *cfg, struct idg_diags *d);
/* The *.yaml files of dir (none when it does not exist) added to cfg's
 * sources, whose base names they must not share; all in name order. */
int cfg_dir_sources_extra(struct idg_config *cfg, struct idg_diags *d,
			  const char *dir);
/* Parses text (positions name file) into p->cfg; *yaml_ok turns false
 * when the YAML itself is broken. */
void cfg_parse_text(struct cfg_parser *p, const char *file, const char *text,
		    size_t len, bool *yaml_ok);
void cfg_parser_done(struct cfg_parser *p);
/* idg_config_free() of a config loaded through the cache. */
void cfg_frags_release(struct idg_config *cfg);
#define cfg_push(v, n)                                                    \
	({                                                                \
		void *__g = cfg_grow((v), (n), sizeof(*(v)));             \
		__g ? ((v) = __g, memset(&(v)[(n)], 0, sizeof(*(v))),     \
		       &(v)[(n)++])                                       \
		    : NULL;                                               \
	})
int cfg_oom(struct cfg_parser *p, const yaml_node_t *n);
int cfg_add_ref(struct cfg_parser *p, struct cfg_ref **v, size_t *n,
		size_t idx, size_t sub, const yaml_node_t *at);

/* ---- config_sel.c: labels, selectors, addresses ---- */
/* A string -> string map; sorted, keys unique. */
/* Labels (keys and values checked as Kubernetes does), annotations (keys
 * only) or a selector's matchLabels (keys may carry a source prefix). */
enum cfg_lbl_kind {
	CFG_LBL_LABELS,
	CFG_LBL_ANNOTATIONS,
	CFG_LBL_SELECTOR,
};

int cfg_labels(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	       enum cfg_lbl_kind kind, struct idg_labels *out);
int cfg_selector(struct cfg_parser *p, const yaml_node_t *n,
		 const char *what, struct idg_selector *out);
/* "ADDR/LEN" or a bare address (full-length prefix). Host bits are
 * cleared with a warning. */
int cfg_cidr(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	     struct idg_cidr *out);
/* A bare address. */
int cfg_addr(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	     struct idg_cidr *out);
#define CFG_CIDR_NONEMPTY (1u << 0) /* an empty list is an error */
#define CFG_CIDR_EXACT (1u << 1)    /* host bits are an error, not a warning */
#define CFG_CIDR_PREFIX (1u << 2)   /* ADDR/LEN only, never a bare address */
int cfg_cidr_list(struct cfg_parser *p, const yaml_node_t *n,
		  const char *what, unsigned int flags, struct idg_cidr **out,
		  size_t *n_out);
void cfg_selector_free(struct idg_selector *s);

/* ---- config_node.c ---- */
int cfg_node_spec(struct cfg_parser *p, const yaml_node_t *spec,
		  struct idg_node *nd, size_t idx);
int cfg_endpoint_spec(struct cfg_parser *p, const yaml_node_t *spec,
		      struct idg_endpoint *ep, size_t idx);
bool cfg_ifname_ok(const char *name);
void cfg_node_free(struct idg_node *nd);
void cfg_endpoint_free(struct idg_endpoint *ep);

/* ---- config_policy.c / config_l4.c ---- */
int cfg_policy_spec(struct cfg_parser *p, const yaml_node_t *spec,
		    struct idg_policy *pol);
int cfg_to_ports(struct cfg_parser *p, const yaml_node_t *n, bool deny,
		 struct idg_rule *r);
int cfg_icmps(struct cfg_parser *p, const yaml_node_t *n,
	      struct idg_rule *r);
/* config_http.c: a toPorts entry's rules section into r->l7; *idx is
 * its index there, or -1 when it holds no L7 rule. */
int cfg_l7_rules(struct cfg_parser *p, const yaml_node_t *n,
		 struct idg_rule *r, int *idx);
/* Cilium's checks of the ports an L7 section applies to (r->ports from
 * index first on). */
int cfg_l7_ports(struct cfg_parser *p, const struct idg_rule *r,
		 size_t first);
void cfg_l7_free(struct idg_l7_rules *l7);
void cfg_policy_free(struct idg_policy *pol);

/* ---- config_egw.c ---- */
int cfg_egw_spec(struct cfg_parser *p, const yaml_node_t *spec,
		 struct idg_egw_policy *egw, size_t idx);
void cfg_egw_free(struct idg_egw_policy *egw);

/* ---- config_check.c: checks across documents ---- */
void cfg_check(struct cfg_parser *p);

#endif /* IDGATE_LOADER_CONFIG_INT_H */
