// SPDX-License-Identifier: GPL-2.0
/*
 * A watch over etcd's JSON gateway: one POST whose response never ends,
 * a JSON message per line. The watch remembers the revision after the
 * last event it delivered; a broken stream is opened again from there on
 * the next endpoint, so no event is lost or delivered twice. A start
 * revision the store has compacted away cannot be resumed: the caller
 * reads the prefix again (idg_etcd_watch_poll's -ESTALE).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"
#include "util/util.h"

#define WATCH_LINE_MAX (64u << 20)

struct idg_etcd_watch {
	struct idg_etcd *e;
	char *prefix;
	int64_t next_rev;
	size_t ep;          /* the endpoint of the current stream */
	CURL *h;
	CURLM *m;
	struct curl_slist *hdrs;
	char *body;         /* the create_request of the current stream */
	struct etcd_buf buf;
	bool open;
	bool created;       /* the server confirmed the current stream */
	unsigned reconnects;
	char cerr[CURL_ERROR_SIZE];
};

int64_t idg_etcd_watch_next_rev(const struct idg_etcd_watch *w)
{
	return w->next_rev;
}

unsigned idg_etcd_watch_reconnects(const struct idg_etcd_watch *w)
{
	return w->reconnects;
}

static void stream_close(struct idg_etcd_watch *w)
{
	if (w->open) {
		curl_multi_remove_handle(w->m, w->h);
		w->open = false;
	}
	etcd_buf_free(&w->buf);
	w->buf.max = WATCH_LINE_MAX;
	free(w->body);
	w->body = NULL;
	w->created = false;
}

static int request_body(struct idg_etcd_watch *w)
{
	json_object *req = json_object_new_object(), *cr = json_object_new_object();
	char *end = etcd_prefix_end(w->prefix), rev[24];
	int err = -ENOMEM;

	snprintf(rev, sizeof(rev), "%lld", (long long)w->next_rev);
	if (!req || !cr || !end ||
	    etcd_j_bytes(cr, "key", w->prefix, strlen(w->prefix)) ||
	    etcd_j_bytes(cr, "range_end", end, strlen(end) ? strlen(end) : 1) ||
	    json_object_object_add(cr, "start_revision", json_object_new_string(rev)) ||
	    json_object_object_add(req, "create_request", cr)) {
		json_object_put(cr);
		goto out;
	}
	w->body = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	err = w->body ? 0 : -ENOMEM;
out:
	free(end);
	json_object_put(req);
	return err;
}

static int stream_open(struct idg_etcd_watch *w)
{
	int err;

	stream_close(w);
	curl_easy_reset(w->h);
	err = etcd_easy_setup(w->e, w->h, w->ep, "/v3/watch", &w->hdrs);
	if (!err)
		err = request_body(w);
	if (err)
		return err;
	w->cerr[0] = '\0';
	curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, w->body);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, etcd_buf_write);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, &w->buf);
	curl_easy_setopt(w->h, CURLOPT_ERRORBUFFER, w->cerr);
	/* No overall timeout: a quiet watch is a healthy one. A dead peer
	 * is found by TCP keepalive, a partition by the caller (its lease
	 * keepalive fails) closing the watch. */
	curl_easy_setopt(w->h, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(w->h, CURLOPT_TCP_KEEPINTVL, 2L);
	if (curl_multi_add_handle(w->m, w->h))
		return -ENOMEM;
	w->open = true;
	return 0;
}

/* One event of a watch response to cb; next_rev moves past it. */
static int deliver(struct idg_etcd_watch *w, json_object *jev,
		   idg_etcd_watch_cb cb, void *arg)
{
	struct idg_etcd_event ev = { .type = IDG_ETCD_PUT };
	json_object *t, *kv;
	int err;

	if (json_object_object_get_ex(jev, "type", &t) &&
	    !strcmp(json_object_get_string(t), "DELETE"))
		ev.type = IDG_ETCD_DELETE;
	if (!json_object_object_get_ex(jev, "kv", &kv))
		return -EPROTO;
	err = etcd_kv_from_json(kv, &ev.kv);
	if (err)
		return err;
	/* Events come in revision order; a resumed stream starts after the
	 * last one delivered, so an older one here is a server's bug. */
	if (ev.kv.mod_rev < w->next_rev) {
		err = 0;
		goto out;
	}
	w->next_rev = ev.kv.mod_rev + 1;
	err = cb(&ev, arg);
out:
	free(ev.kv.key);
	free(ev.kv.val);
	return err;
}

/* One line of the stream. */
static int message(struct idg_etcd_watch *w, const char *line,
		   idg_etcd_watch_cb cb, void *arg)
{
	json_object *j = json_tokener_parse(line), *res, *v, *evs;
	int ret = 0;

	if (!j)
		return -EPROTO;
	if (json_object_object_get_ex(j, "error", &v)) {
		json_object *msg = NULL;

		if (json_object_is_type(v, json_type_object))
			json_object_object_get_ex(v, "message", &msg);
		snprintf(w->e->err, sizeof(w->e->err), "%s: watch: %s",
			 w->e->urls[w->ep],
			 msg ? json_object_get_string(msg) : json_object_get_string(v));
		ret = etcd_grpc_errno((int)etcd_j_i64(v, "grpc_code"));
		goto out;
	}
	if (!json_object_object_get_ex(j, "result", &res))
		goto out;
	if (json_object_object_get_ex(res, "created", &v) &&
	    json_object_get_boolean(v))
		w->created = true;
	if (json_object_object_get_ex(res, "canceled", &v) &&
	    json_object_get_boolean(v)) {
		int64_t compact = etcd_j_i64(res, "compact_revision");
		json_object *why = NULL;

		json_object_object_get_ex(res, "cancel_reason", &why);
		if (compact)
			snprintf(w->e->err, sizeof(w->e->err),
				 "%s: watch from revision %lld: history compacted up to %lld",
				 w->e->urls[w->ep], (long long)w->next_rev,
				 (long long)compact);
		else
			snprintf(w->e->err, sizeof(w->e->err),
				 "%s: watch canceled: %s", w->e->urls[w->ep],
				 why ? json_object_get_string(why) : "no reason given");
		ret = compact ? -ESTALE :
		      why && strstr(json_object_get_string(why), "permission denied") ?
			      -EPERM : -ECANCELED;
		goto out;
	}
	if (json_object_object_get_ex(res, "events", &evs)) {
		size_t n = json_object_array_length(evs);

		/* All of one response: its events may share a revision
		 * (one transaction), and resuming skips whole revisions. */
		for (size_t i = 0; i < n; i++) {
			int r = deliver(w, json_object_array_get_idx(evs, i), cb, arg);

			if (r && !ret)
				ret = r;
		}
	}
out:
	json_object_put(j);
	return ret;
}

/* The complete lines received so far; what is left is kept. */
static int lines(struct idg_etcd_watch *w, idg_etcd_watch_cb cb, void *arg)
{
	size_t off = 0;
	int ret = 0;

	while (w->buf.p && off < w->buf.len) {
		char *nl = memchr(w->buf.p + off, '\n', w->buf.len - off);

		if (!nl)
			break;
		*nl = '\0';
		if (nl > w->buf.p + off)
			ret = message(w, w->buf.p + off, cb, arg);
		off = (size_t)(nl - w->buf.p) + 1;
		if (ret)
			break;
	}
	if (off) {
		memmove(w->buf.p, w->buf.p + off, w->buf.len - off);
		w->buf.len -= off;
		w->buf.p[w->buf.len] = '\0';
	}
	return ret;
}

/* The stream ended: why, as -errno; the caller decides on another. */
static int ended(struct idg_etcd_watch *w)
{
	CURLMsg *msg;
	int left, err = 0;
	long http = 0;

	while ((msg = curl_multi_info_read(w->m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &http);
		if (msg->data.result != CURLE_OK) {
			etcd_transport_err(w->e, w->ep, msg->data.result, w->cerr);
			err = -EHOSTUNREACH;
		} else if (http != 200) {
			json_object *j = w->buf.p ? json_tokener_parse(w->buf.p) : NULL;

			err = etcd_status_err(w->e, http, j);
			json_object_put(j);
		} else {
			snprintf(w->e->err, sizeof(w->e->err),
				 "%s: the watch stream ended", w->e->urls[w->ep]);
			err = -ECONNRESET;
		}
	}
	return err;
}

int idg_etcd_watch_open(struct idg_etcd *e, const char *prefix,
			int64_t start_rev, struct idg_etcd_watch **out)
{
	struct idg_etcd_watch *w = calloc(1, sizeof(*w));
	int err = -ENOMEM;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->e = e;
	w->ep = e->cur;
	w->next_rev = start_rev > 0 ? start_rev : 1;
	w->buf.max = WATCH_LINE_MAX;
	w->prefix = strdup(prefix);
	w->h = curl_easy_init();
	w->m = curl_multi_init();
	if (w->prefix && w->h && w->m)
		err = stream_open(w);
	if (err) {
		idg_etcd_watch_close(w);
		return err;
	}
	*out = w;
	return 0;
}

int idg_etcd_watch_poll(struct idg_etcd_watch *w, int timeout_ms,
			idg_etcd_watch_cb cb, void *arg)
{
	double end = idg_now_ms() + timeout_ms;
	size_t failed = 0;
	int ret = 0;

	for (;;) {
		double left = end - idg_now_ms();
		int running = 0, err;

		if (!w->open) {
			/* The next endpoint, from where the last left off. */
			if (failed >= w->e->n_urls)
				return ret ? ret : -EHOSTUNREACH;
			err = stream_open(w);
			if (err)
				return err;
		}
		if (curl_multi_perform(w->m, &running))
			return -EIO;
		ret = lines(w, cb, arg);
		if (ret) {
			/* A canceled watch is over: the stream goes too. */
			if (ret == -ESTALE || ret == -EPERM || ret == -ECANCELED)
				stream_close(w);
			return ret;
		}
		if (!running) {
			err = ended(w);
			stream_close(w);
			if (err != -EHOSTUNREACH && err != -ECONNRESET &&
			    err != -EAGAIN)
				return err;
			w->ep = (w->ep + 1) % w->e->n_urls;
			w->reconnects++;
			failed++;
			ret = err;
			continue;
		}
		if (w->created)
			failed = 0;
		if (left <= 0)
			return 0;
		if (curl_multi_poll(w->m, NULL, 0, left > 1000 ? 1000 : (int)left + 1,
				    NULL))
			return -EIO;
	}
}

void idg_etcd_watch_close(struct idg_etcd_watch *w)
{
	if (!w)
		return;
	stream_close(w);
	if (w->m)
		curl_multi_cleanup(w->m);
	if (w->h)
		curl_easy_cleanup(w->h);
	curl_slist_free_all(w->hdrs);
	free(w->prefix);
	free(w);
}
