// SPDX-License-Identifier: GPL-2.0
/*
 * libyaml's events into libyaml's document tree (yaml_document_t), the
 * same tree yaml_parser_load() builds, node for node: same indices,
 * marks, styles, items and pairs, same errors for undefined and duplicate
 * anchors. What differs is the memory: libyaml's own composer allocates
 * a tag string and a growable stack for every node, and frees them one
 * by one again, which costs twice the parse itself on a large config.
 * Here a document's items and pairs live in two arrays, its nodes in a
 * third, all reused from one document to the next; a node's scalar is
 * the event's, taken over as libyaml does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "strmap.h"

static yaml_char_t default_str[] = YAML_DEFAULT_SCALAR_TAG;
static yaml_char_t default_seq[] = YAML_DEFAULT_SEQUENCE_TAG;
static yaml_char_t default_map[] = YAML_DEFAULT_MAPPING_TAG;

struct yc_open {
	int node;        /* index of an open collection */
	size_t first;    /* its first child in the pending stack */
};

struct yc_anchor {
	yaml_char_t *name;
	int node;
	yaml_mark_t mark;
};

struct yc_composer {
	bool started, ended;
	yaml_node_t *nodes;
	size_t n_nodes, cap_nodes;
	size_t *coll;   /* per node: first item/pair in items/pairs */
	size_t cap_coll;
	/* Children of the open collections, innermost last. */
	yaml_node_pair_t *pend; /* sequences use .key only */
	size_t n_pend, cap_pend;
	struct yc_open *open;
	size_t n_open, cap_open;
	/* Children of closed collections, each one's together. */
	yaml_node_item_t *items;
	size_t n_items, cap_items;
	yaml_node_pair_t *pairs;
	size_t n_pairs, cap_pairs;
	struct yc_anchor *anchors;
	size_t n_anchors, cap_anchors;
	/* Anchor name -> index in anchors: a file may hold a great many
	 * anchors, and every one and every alias is looked up. Set up at
	 * the first anchor of a document. */
	struct idg_strmap anchor_ix;
};

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 64;
	void *nv;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	nv = realloc(*v, c * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

#define GROW(c, arr, cap, need)                                           \
	grow((void **)&(c)->arr, &(c)->cap, (need), sizeof(*(c)->arr))

struct yc_composer *yc_composer_new(void)
{
	return calloc(1, sizeof(struct yc_composer));
}

/* What the last document owns: scalars, explicit tags, anchor names. */
static void doc_release(struct yc_composer *c)
{
	for (size_t i = 0; i < c->n_nodes; i++) {
		yaml_node_t *n = &c->nodes[i];

		if (n->tag != default_str && n->tag != default_seq &&
		    n->tag != default_map)
			free(n->tag);
		if (n->type == YAML_SCALAR_NODE)
			free(n->data.scalar.value);
	}
	idg_strmap_free(&c->anchor_ix);
	for (size_t i = 0; i < c->n_anchors; i++)
		free(c->anchors[i].name);
	c->n_nodes = c->n_pend = c->n_open = 0;
	c->n_items = c->n_pairs = c->n_anchors = 0;
}

void yc_composer_free(struct yc_composer *c)
{
	if (!c)
		return;
	doc_release(c);
	free(c->nodes);
	free(c->coll);
	free(c->pend);
	free(c->open);
	free(c->items);
	free(c->pairs);
	free(c->anchors);
	free(c);
}

static int set_error(yaml_parser_t *yp, const char *context,
		     yaml_mark_t context_mark, const char *problem,
		     yaml_mark_t problem_mark)
{
	yp->error = YAML_COMPOSER_ERROR;
	yp->context = context;
	yp->context_mark = context_mark;
	yp->problem = problem;
	yp->problem_mark = problem_mark;
	return 0;
}

static int oom(yaml_parser_t *yp)
{
	yp->error = YAML_MEMORY_ERROR;
	return 0;
}

/* The child index goes to the innermost open collection, as
 * yaml_parser_load_node_add() does: a mapping's children alternate
 * between key and value. */
static int child_add(struct yc_composer *c, int index)
{
	yaml_node_pair_t *last;

	if (!c->n_open)
		return 0;
	if (c->nodes[c->open[c->n_open - 1].node - 1].type ==
	    YAML_MAPPING_NODE &&
	    c->n_pend > c->open[c->n_open - 1].first) {
		last = &c->pend[c->n_pend - 1];
		if (last->key && !last->value) {
			last->value = index;
			return 0;
		}
	}
	if (GROW(c, pend, cap_pend, c->n_pend + 1))
		return -ENOMEM;
	c->pend[c->n_pend++] = (yaml_node_pair_t){ .key = index };
	return 0;
}

/* Pushes a node; returns its index (1-based) or 0 when out of memory. */
static int node_push(struct yc_composer *c, const yaml_node_t *n)
{
	if (GROW(c, nodes, cap_nodes, c->n_nodes + 1) ||
	    GROW(c, coll, cap_coll, c->n_nodes + 1))
		return 0;
	c->nodes[c->n_nodes] = *n;
	c->coll[c->n_nodes] = 0;
	return (int)++c->n_nodes;
}

static yaml_char_t *tag_take(yaml_char_t **tag, yaml_char_t *def)
{
	yaml_char_t *t = *tag;

	if (!t || !strcmp((char *)t, "!")) {
		free(t);
		t = def;
	}
	*tag = NULL;
	return t;
}

static int anchor_register(struct yc_composer *c, yaml_parser_t *yp,
			   yaml_char_t **anchor, int index, yaml_mark_t mark)
{
	yaml_char_t *a = *anchor;
	size_t first;
	int put;

	if (!a)
		return 1;
	*anchor = NULL;
	if ((!c->anchor_ix.slot && idg_strmap_init(&c->anchor_ix, 16)) ||
	    GROW(c, anchors, cap_anchors, c->n_anchors + 1)) {
		free(a);
		return oom(yp);
	}
	put = idg_strmap_put(&c->anchor_ix, (char *)a, c->n_anchors, &first);
	if (put <= 0) {
		free(a);
		return put ? oom(yp) :
			     set_error(yp,
				       "found duplicate anchor; first occurrence",
				       c->anchors[first].mark,
				       "second occurrence", mark);
	}
	c->anchors[c->n_anchors++] = (struct yc_anchor){ a, index, mark };
	return 1;
}

static int collection_start(struct yc_composer *c, yaml_parser_t *yp,
			    yaml_event_t *ev, bool seq)
{
	yaml_node_t n = { 0 };
	yaml_char_t **anchor;
	int index;

	n.type = seq ? YAML_SEQUENCE_NODE : YAML_MAPPING_NODE;
	n.start_mark = n.end_mark = ev->start_mark;
	if (seq) {
		n.tag = tag_take(&ev->data.sequence_start.tag, default_seq);
		n.data.sequence.style = ev->data.sequence_start.style;
		anchor = &ev->data.sequence_start.anchor;
	} else {
		n.tag = tag_take(&ev->data.mapping_start.tag, default_map);
		n.data.mapping.style = ev->data.mapping_start.style;
		anchor = &ev->data.mapping_start.anchor;
	}
	index = node_push(c, &n);
	if (!index) {
		if (n.tag != default_seq && n.tag != default_map)
			free(n.tag);
		return oom(yp);
	}
	if (!anchor_register(c, yp, anchor, index, ev->start_mark))
		return 0;
	if (child_add(c, index) || GROW(c, open, cap_open, c->n_open + 1))
		return oom(yp);
	c->open[c->n_open++] = (struct yc_open){ index, c->n_pend };
	return 1;
}

static int collection_end(struct yc_composer *c, yaml_parser_t *yp,
			  const yaml_event_t *ev)
{
	struct yc_open *o = &c->open[c->n_open - 1];
	yaml_node_t *n = &c->nodes[o->node - 1];
	size_t k = c->n_pend - o->first;

	n->end_mark = ev->end_mark;
	if (n->type == YAML_SEQUENCE_NODE) {
		if (GROW(c, items, cap_items, c->n_items + k))
			return oom(yp);
		c->coll[o->node - 1] = c->n_items;
		for (size_t i = 0; i < k; i++)
			c->items[c->n_items++] = c->pend[o->first + i].key;
		/* Pointers once the document is complete (the arrays may
		 * still move); the count in the meantime. */
		n->data.sequence.items.top = (yaml_node_item_t *)(uintptr_t)k;
	} else {
		if (GROW(c, pairs, cap_pairs, c->n_pairs + k))
			return oom(yp);
		c->coll[o->node - 1] = c->n_pairs;
		/* Nothing to copy from (or to) in an empty mapping: both
		 * arrays may still be NULL. */
		if (k)
			memcpy(c->pairs + c->n_pairs, c->pend + o->first,
			       k * sizeof(*c->pairs));
		c->n_pairs += k;
		n->data.mapping.pairs.top = (yaml_node_pair_t *)(uintptr_t)k;
	}
	c->n_pend = o->first;
	c->n_open--;
	return 1;
}

/* Before the first non-empty collection the arrays do not exist: its
 * empty collections keep NULL pointers (NULL + 0 is undefined). */
static void pointers_fix(struct yc_composer *c)
{
	for (size_t i = 0; i < c->n_nodes; i++) {
		yaml_node_t *n = &c->nodes[i];
		size_t k;

		if (n->type == YAML_SEQUENCE_NODE && c->items) {
			k = (size_t)(uintptr_t)n->data.sequence.items.top;
			n->data.sequence.items.start = c->items + c->coll[i];
			n->data.sequence.items.top =
				n->data.sequence.items.end =
					n->data.sequence.items.start + k;
		} else if (n->type == YAML_MAPPING_NODE && c->pairs) {
			k = (size_t)(uintptr_t)n->data.mapping.pairs.top;
			n->data.mapping.pairs.start = c->pairs + c->coll[i];
			n->data.mapping.pairs.top = n->data.mapping.pairs.end =
				n->data.mapping.pairs.start + k;
		}
	}
}

static int compose_event(struct yc_composer *c, yaml_parser_t *yp,
			 yaml_event_t *ev)
{
	yaml_node_t n = { 0 };
	size_t *anchor;
	int index;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = idg_strmap_get(&c->anchor_ix,
					(char *)ev->data.alias.anchor);
		if (!anchor)
			return set_error(yp, NULL, (yaml_mark_t){ 0 },
					 "found undefined alias",
					 ev->start_mark);
		return child_add(c, c->anchors[*anchor].node) ? oom(yp) : 1;
	case YAML_SCALAR_EVENT:
		n.type = YAML_SCALAR_NODE;
		n.tag = tag_take(&ev->data.scalar.tag, default_str);
		n.data.scalar.value = ev->data.scalar.value;
		n.data.scalar.length = ev->data.scalar.length;
		n.data.scalar.style = ev->data.scalar.style;
		n.start_mark = ev->start_mark;
		n.end_mark = ev->end_mark;
		index = node_push(c, &n);
		if (!index) {
			if (n.tag != default_str)
				free(n.tag);
			return oom(yp);
		}
		ev->data.scalar.value = NULL; /* the node's now */
		if (!anchor_register(c, yp, &ev->data.scalar.anchor, index,
				     ev->start_mark))
			return 0;
		return child_add(c, index) ? oom(yp) : 1;
	case YAML_SEQUENCE_START_EVENT:
		return collection_start(c, yp, ev, true);
	case YAML_MAPPING_START_EVENT:
		return collection_start(c, yp, ev, false);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return c->n_open ? collection_end(c, yp, ev) : 1;
	default:
		return 1;
	}
}

int yc_compose(struct yc_composer *c, yaml_parser_t *yp,
	       yaml_document_t *doc)
{
	yaml_event_t ev;
	int ok = 1;

	doc_release(c);
	memset(doc, 0, sizeof(*doc));
	/* Never empty, so a collection's pointers are never NULL + 0. */
	if (GROW(c, items, cap_items, 1) || GROW(c, pairs, cap_pairs, 1))
		return oom(yp);
	if (!c->started) {
		if (!yaml_parser_parse(yp, &ev))
			return 0;
		yaml_event_delete(&ev); /* STREAM-START */
		c->started = true;
	}
	if (c->ended)
		return 1;
	if (!yaml_parser_parse(yp, &ev))
		return 0;
	if (ev.type == YAML_STREAM_END_EVENT) {
		c->ended = true;
		yaml_event_delete(&ev);
		return 1;
	}
	/* DOCUMENT-START: its directives are of no use to the config. */
	doc->start_implicit = ev.data.document_start.implicit;
	doc->start_mark = ev.start_mark;
	yaml_event_delete(&ev);
	for (;;) {
		if (!yaml_parser_parse(yp, &ev)) {
			ok = 0;
			break;
		}
		if (ev.type == YAML_DOCUMENT_END_EVENT) {
			doc->end_implicit = ev.data.document_end.implicit;
			doc->end_mark = ev.end_mark;
			yaml_event_delete(&ev);
			break;
		}
		ok = compose_event(c, yp, &ev);
		yaml_event_delete(&ev);
		if (!ok)
			break;
	}
	if (!ok) {
		doc_release(c);
		memset(doc, 0, sizeof(*doc));
		return 0;
	}
	pointers_fix(c);
	doc->nodes.start = c->nodes;
	doc->nodes.top = c->nodes + c->n_nodes;
	doc->nodes.end = c->nodes + c->cap_nodes;
	return 1;
}
