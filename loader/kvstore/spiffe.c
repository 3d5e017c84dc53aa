// SPDX-License-Identifier: GPL-2.0
/*
 * SPIFFE IDs in X.509 certificates: the URI SAN of a certificate file,
 * and the check, in every TLS handshake with a store member, that the
 * member's certificate names the server ID the node was given. curl
 * checks the chain and the host name; the ID is ours to check, before
 * any byte of a request is sent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "etcd_int.h"

/* Each URI SAN of cert in turn; stops when fn returns nonzero. */
static int uri_sans(X509 *cert, int (*fn)(const char *uri, size_t len, void *arg),
		    void *arg)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name,
						NULL, NULL);
	int ret = 0;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !ret; i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);

		if (n->type != GEN_URI)
			continue;
		ret = fn((const char *)ASN1_STRING_get0_data(n->d.uniformResourceIdentifier),
			 (size_t)ASN1_STRING_length(n->d.uniformResourceIdentifier),
			 arg);
	}
	GENERAL_NAMES_free(names);
	return ret;
}

struct find {
	char *out;
	size_t len;
	int found;
	bool overflow;
};

static int spiffe_uri(const char *uri, size_t len, void *arg)
{
	struct find *f = arg;

	if (len < 9 || strncmp(uri, "spiffe://", 9) || memchr(uri, '\0', len))
		return 0;
	if (f->found++)
		return 0;
	if (len >= f->len) {
		f->overflow = true;
		return 0;
	}
	memcpy(f->out, uri, len);
	f->out[len] = '\0';
	return 0;
}

int idg_spiffe_id_of_cert(const char *pem, char *out, size_t len)
{
	struct find f = { .out = out, .len = len };
	FILE *fp = fopen(pem, "r");
	X509 *cert;

	if (!fp)
		return -errno;
	cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (!cert)
		return -EINVAL;
	uri_sans(cert, spiffe_uri, &f);
	X509_free(cert);
	if (!f.found)
		return -ENOENT;
	if (f.found > 1)
		return -EINVAL;
	return f.overflow ? -ENAMETOOLONG : 0;
}

static int ex_idx = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static void ex_init(void)
{
	ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

struct match {
	const char *want;
	char *seen;
	size_t seen_len;
};

static int uri_is(const char *uri, size_t len, void *arg)
{
	struct match *m = arg;

	if (strlen(m->want) == len && !memcmp(uri, m->want, len))
		return 1;
	if (!m->seen[0] && len < m->seen_len && !memchr(uri, '\0', len)) {
		memcpy(m->seen, uri, len);
		m->seen[len] = '\0';
	}
	return 0;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct idg_etcd *e = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_idx) : NULL;
	struct match m;

	/* The chain is checked as before; the leaf also has to be the
	 * server we were told to expect. */
	if (!ok || !e || !e->server_id || X509_STORE_CTX_get_error_depth(xs))
		return ok;
	m = (struct match){ .want = e->server_id, .seen = e->bad_id,
			    .seen_len = sizeof(e->bad_id) };
	e->bad_id[0] = '\0';
	if (uri_sans(X509_STORE_CTX_get_current_cert(xs), uri_is, &m))
		return 1;
	if (!e->bad_id[0])
		snprintf(e->bad_id, sizeof(e->bad_id), "no URI");
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

CURLcode etcd_ssl_ctx(CURL *h, void *ssl_ctx, void *arg)
{
	(void)h;
	pthread_once(&ex_once, ex_init);
	if (ex_idx < 0 || !SSL_CTX_set_ex_data(ssl_ctx, ex_idx, arg))
		return CURLE_SSL_CERTPROBLEM;
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, verify_cb);
	/* The same check for every handshake: no resumed sessions. */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	return CURLE_OK;
}
