// SPDX-License-Identifier: GPL-2.0
/*
 * l7gen SEED DIR: one random L7 policy for the proxy's differential test
 * (test_l7_proxy.sh). Writes DIR/config.yaml, DIR/haproxy.cfg (with its
 * pattern files under DIR/pat) and DIR/requests.tsv: random requests to
 * the policy's L7 ports, each with the status idg_l7_judge() (the
 * reference) says the proxy must answer.
 *
 * Addresses (on lo of the test's namespace): web 10.77.0.1, clients
 * c0..c4 at 10.77.1.1-5, two world addresses 10.78.0.1-2. The frontend
 * binds web's ports 8080 and 8081; every request that passes goes to the
 * backend at 127.0.0.1:18080.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "haproxy.h"
#include "model.h"

#define N_CLIENTS 5
#define N_REQS 300

static unsigned long long rng;

static unsigned int rnd(unsigned int n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned int)((rng >> 33) % n);
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

static const char *const methods_re[] = { "GET", "POST", "GET|HEAD", "(?i)get",
					  "P.*", "PUT|DELETE" };
static const char *const paths_re[] = { "/api/v1/users/.*", "/a", "/a/[0-9]+",
					"/x/(a|b)/.*", ".*", "/api/v1/users/[0-9]+",
					"/a\\?q=.*" };
static const char *const hosts_re[] = { "web", "web(:8080)?", "w.b:[0-9]+" };
static const char *const headers[] = { "\"X-Token: abc\"", "X-Env",
				       "\"x-env: prod\"" };

static const char *const methods[] = { "GET", "POST", "PUT", "HEAD", "DELETE",
				       "get", "PATCH" };
static const char *const paths[] = { "/api/v1/users/42", "/api/v1/users/",
				     "/a", "/a/12", "/a/x", "/x/a/1", "/x/c/1",
				     "/api/v1/users/1?x=1", "/", "/a?q=1",
				     "/A" };
static const char *const hosts[] = { "web", "web:8080", "other", "wxb:1" };

static void rule_http(FILE *f)
{
	unsigned int n = 1 + rnd(3);

	fprintf(f, "      rules:\n        http:\n");
	for (unsigned int i = 0; i < n; i++) {
		bool any = false;

		fprintf(f, "        - {");
		if (rnd(3)) {
			fprintf(f, "method: '%s'", PICK(methods_re));
			any = true;
		}
		if (rnd(3)) {
			fprintf(f, "%spath: '%s'", any ? ", " : "",
				PICK(paths_re));
			any = true;
		}
		if (!rnd(5)) {
			fprintf(f, "%shost: '%s'", any ? ", " : "",
				PICK(hosts_re));
			any = true;
		}
		if (!rnd(4)) {
			fprintf(f, "%sheaders: [%s]", any ? ", " : "",
				PICK(headers));
			any = true;
		}
		if (!rnd(6))
			fprintf(f, "%sheaderMatches: [{name: X-Env, value: prod}]",
				any ? ", " : "");
		fprintf(f, "}\n");
	}
}

static void config(FILE *f)
{
	unsigned int n_rules = 1 + rnd(4);

	fprintf(f, "apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: n1}\n"
		   "spec: {cluster: a, clusterID: 1, interfaces: {uplink: lo}}\n"
		   "---\napiVersion: idgate.io/v1\nkind: Endpoint\n"
		   "metadata: {name: web, namespace: prod, labels: {app: web}}\n"
		   "spec: {node: n1, ips: [10.77.0.1]}\n");
	for (int i = 0; i < N_CLIENTS; i++)
		fprintf(f, "---\napiVersion: idgate.io/v1\nkind: Endpoint\n"
			   "metadata: {name: c%d, namespace: prod, labels: {app: c%d}}\n"
			   "spec: {node: n1, ips: [10.77.1.%d]}\n",
			i, i, i + 1);
	fprintf(f, "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
		   "metadata: {name: web, namespace: prod}\n"
		   "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
		   "  ingress:\n");
	for (unsigned int r = 0; r < n_rules; r++) {
		unsigned int peers = rnd(10);

		if (peers < 5)
			fprintf(f, "  - fromEndpoints: [{matchLabels: {app: c%u}}]\n",
				rnd(N_CLIENTS));
		else if (peers < 7)
			fprintf(f, "  - fromEndpoints: [{matchLabels: {app: c%u}}, {matchLabels: {app: c%u}}]\n",
				rnd(N_CLIENTS), rnd(N_CLIENTS));
		else if (peers < 8)
			fprintf(f, "  - fromEntities: [world]\n");
		else
			fprintf(f, "  - fromCIDR: [10.77.1.0/24]\n");
		if (!rnd(8))
			continue; /* L3 only */
		fprintf(f, "    toPorts:\n    - ports: [{port: \"%u\", protocol: TCP}]\n",
			rnd(3) ? 8080 : 8081);
		if (rnd(5))
			rule_http(f);
	}
}

static const char *const srcs[] = { "10.77.1.1", "10.77.1.2", "10.77.1.3",
				    "10.77.1.4", "10.77.1.5", "10.78.0.1",
				    "10.78.0.2" };

static uint32_t src_identity(const struct idg_compiled *c, const char *src)
{
	struct idg_cidr want = { .family = IDG_FAM_IPV4, .plen = 32 };
	uint32_t best = 2;
	unsigned int best_len = 0;

	if (sscanf(src, "%hhu.%hhu.%hhu.%hhu", &want.addr[0], &want.addr[1],
		   &want.addr[2], &want.addr[3]) != 4)
		return 0;
	for (size_t i = 0; i < c->n_ipcache; i++) {
		const struct idg_cidr *e = &c->ipcache[i].cidr;
		uint32_t a, b, m;

		if (e->family != IDG_FAM_IPV4 || e->plen < best_len)
			continue;
		memcpy(&a, e->addr, 4);
		memcpy(&b, want.addr, 4);
		m = e->plen ? htonl(~0u << (32 - e->plen)) : 0;
		if ((a & m) == (b & m)) {
			best = c->ipcache[i].identity;
			best_len = e->plen;
		}
	}
	return best;
}

static int requests(const struct idg_compiled *c, uint32_t web, FILE *f)
{
	static const struct idg_http_kv hdrs[] = {
		{ "X-Token", "abc" }, { "X-Token", "abd" }, { "X-Env", "prod" },
	};

	for (int i = 0; i < N_REQS; i++) {
		uint16_t port = rnd(3) ? 8080 : 8081;
		const struct idg_l7_port *lp = idg_l7_find(&c->l7, web, IDG_DIR_INGRESS, port);
		const char *src = PICK(srcs);
		struct idg_http_kv h[3];
		size_t nh = 0;
		struct idg_http_req req = { .method = PICK(methods),
					    .path = PICK(paths),
					    .host = PICK(hosts), .headers = h };
		struct idg_l7_verdict v;
		int err;

		if (!lp)
			continue; /* not the proxy's: the datapath judges it */
		for (int k = 0; k < 3; k++)
			if (rnd(3) == 0)
				h[nh++] = hdrs[k];
		req.n_headers = nh;
		err = idg_l7_judge(lp, src_identity(c, src), &req, &v);
		if (err)
			return err;
		fprintf(f, "%s\t%u\t%s\t%s\t%s\t", src, port, req.method,
			req.path, req.host);
		for (size_t k = 0; k < nh; k++)
			fprintf(f, "%s%s: %s", k ? "|" : "", h[k].name, h[k].value);
		/* A sender without any grant there never gets past the
		 * datapath; the proxy, if it sees one, denies it too. */
		fprintf(f, "\t%d\n", v.allowed ? 200 : IDG_L7_DENY_STATUS);
	}
	return 0;
}

static int out_file(char *buf, size_t len, const char *dir, const char *name)
{
	return (size_t)snprintf(buf, len, "%s/%s", dir, name) >= len ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const char *const binds[] = { "10.77.0.1:8080", "10.77.0.1:8081" };
	char path[4096], pat[4096], *yaml = NULL;
	struct idg_config cfg = { 0 };
	struct idg_compiled c = { 0 };
	struct idg_diags d = { 0 };
	size_t len = 0;
	uint32_t web = 0;
	FILE *f;
	int err = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: l7gen SEED DIR\n");
		return 2;
	}
	rng = strtoull(argv[1], NULL, 0) * 2654435761ull + 1;
	f = open_memstream(&yaml, &len);
	if (!f)
		return 1;
	config(f);
	fclose(f);
	if (out_file(path, sizeof(path), argv[2], "config.yaml") ||
	    !(f = fopen(path, "w")))
		goto out;
	fputs(yaml, f);
	fclose(f);
	if (idg_config_load_string("config.yaml", yaml, &cfg, &d) ||
	    idg_compile(&cfg, "n1", NULL, &c, &d)) {
		idg_diags_print(&d, stderr);
		goto out;
	}
	for (size_t i = 0; i < c.n_eps; i++)
		if (!strcmp(c.eps[i].ep->name, "web"))
			web = c.eps[i].identity;
	if (out_file(pat, sizeof(pat), argv[2], "pat") ||
	    out_file(path, sizeof(path), argv[2], "haproxy.cfg") ||
	    !(f = fopen(path, "w")))
		goto out;
	err = idg_haproxy_write(&c,
				&(struct idg_haproxy_opts){
					.dir = pat, .binds = binds, .n_binds = 2,
					.server = "127.0.0.1:18080" },
				f);
	if (fclose(f) || err) {
		fprintf(stderr, "l7gen: haproxy config: %s\n", strerror(-err));
		err = 1;
		goto out;
	}
	err = 1;
	if (out_file(path, sizeof(path), argv[2], "requests.tsv") ||
	    !(f = fopen(path, "w")))
		goto out;
	err = requests(&c, web, f) ? 1 : 0;
	if (fclose(f))
		err = 1;
out:
	idg_compiled_free(&c);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	free(yaml);
	return err;
}
