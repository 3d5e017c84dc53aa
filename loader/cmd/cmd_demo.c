// SPDX-License-Identifier: GPL-2.0
/*
 * idgate demo: the embedded default. Builds the two reference scenarios
 * of SPEC.md section 7 in network namespaces of its own, applies the
 * example configs (embedded at build time), shows allowed and denied
 * connections with the monitor's view of the drops and the egress
 * gateway path, then removes everything it created, also on Ctrl-C.
 *
 * A worker process does the demo; the parent only waits and cleans up,
 * so an interrupt at any point still leaves nothing behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "apply.h"
#include "cmd.h"

extern const char idg_demo_config_a[];
extern const char idg_demo_config_b[];

static char run_id[32];
static char tmpdir[96];
static char pinroot[96];

/* Namespaces of both scenarios, by role; names are unique per run. */
static const char *const roles[] = { "a-node", "a-peer", "b-wl",  "b-node",
				     "b-ul",   "b-gw1",  "b-gw2", "b-db" };
#define N_ROLES (sizeof(roles) / sizeof(roles[0]))

/* Instances the demo may have applied: netns role and node name. */
static const struct {
	const char *role, *node;
} instances[] = { { "a-node", "node-a" }, { "b-node", "node-a" },
		  { "b-gw1", "gw-b1" },   { "b-gw2", "gw-b2" } };
#define N_INST (sizeof(instances) / sizeof(instances[0]))

static void ns_name(char *buf, size_t len, const char *role)
{
	snprintf(buf, len, "idgdemo-%s-%s", run_id, role);
}

/* Instance paths: the same node name is used in both scenarios. */
static void inst_dirs(size_t i, char *pin, size_t plen, char *state,
		      size_t slen)
{
	snprintf(pin, plen, "%s/%s-%s", pinroot, instances[i].role,
		 instances[i].node);
	snprintf(state, slen, "%s/state-%s", tmpdir, instances[i].role);
}

__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc) {
		fprintf(stderr, "demo: command failed (%d): %s\n", rc, cmd);
		return -1;
	}
	return 0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static int enter_ns(const char *role)
{
	char name[64], path[128];
	int fd, err;

	ns_name(name, sizeof(name), role);
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return err;
}

/* idgate itself, as the instance of role/node, inside that namespace. */
static pid_t idgate_spawn(size_t inst, const char *const *args, int out_fd)
{
	char pin[160], state[160], *argv[24];
	pid_t pid;
	int n = 0;

	inst_dirs(inst, pin, sizeof(pin), state, sizeof(state));
	argv[n++] = "idgate";
	for (; *args && n < 16; args++)
		argv[n++] = (char *)*args;
	argv[n++] = "--node";
	argv[n++] = (char *)instances[inst].node;
	argv[n++] = "--pin-dir";
	argv[n++] = pin;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n] = NULL;
	pid = fork();
	if (pid)
		return pid;
	if (enter_ns(instances[inst].role))
		_exit(2);
	if (out_fd >= 0) {
		dup2(out_fd, 1);
		dup2(out_fd, 2);
	}
	execv("/proc/self/exe", argv);
	_exit(2);
}

static int idgate_run(size_t inst, const char *const *args, int out_fd)
{
	pid_t pid = idgate_spawn(inst, args, out_fd);
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * What the demo's server answers on connection c from peer: the address
 * it sees the client as, which is what the legacy database's firewall
 * sees too. With http, after reading the request's head, as the body of
 * an HTTP/1.1 200 (what billing-api would send back).
 */
static void answer(int c, const struct sockaddr_in *peer, bool http)
{
	char addr[INET_ADDRSTRLEN], out[256], req[4096];
	struct pollfd p = { .fd = c, .events = POLLIN };
	size_t got = 0;
	int n;

	inet_ntop(AF_INET, &peer->sin_addr, addr, sizeof(addr));
	if (!http) {
		n = snprintf(out, sizeof(out), "%s\n", addr);
		goto send;
	}
	/* The proxy forwards whole heads; requests here have no body. */
	while (got < sizeof(req) - 1 && poll(&p, 1, 1500) == 1) {
		ssize_t r = read(c, req + got, sizeof(req) - 1 - got);

		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	n = snprintf(out, sizeof(out),
		     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		     strlen(addr) + 1, addr);
send:
	if (write(c, out, (size_t)n) < 0)
		(void)0;
}

/* A TCP server (HTTP with http) on addr:ports in role's namespace. */
static pid_t serve(const char *role, const char *addr, const int *ports,
		   int n_ports, bool http)
{
	struct pollfd fds[4];
	int ready[2];
	char c = 0;
	pid_t pid;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid) {
		/* Listening before anyone connects. */
		close(ready[1]);
		if (pid < 0 || read(ready[0], &c, 1) != 1)
			pid = -1;
		close(ready[0]);
		return pid;
	}
	close(ready[0]);
	if (enter_ns(role) || n_ports > 4)
		_exit(2);
	for (int i = 0; i < n_ports; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)ports[i]) };
		int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

		inet_pton(AF_INET, addr, &a.sin_addr);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
		    listen(fd, 16))
			_exit(2);
		fds[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	if (write(ready[1], "r", 1) != 1)
		_exit(2);
	close(ready[1]);
	for (;;) {
		if (poll(fds, (nfds_t)n_ports, -1) < 0)
			continue;
		for (int i = 0; i < n_ports; i++) {
			struct sockaddr_in peer;
			socklen_t len = sizeof(peer);
			int c;

			if (!(fds[i].revents & POLLIN))
				continue;
			c = accept(fds[i].fd, (struct sockaddr *)&peer, &len);
			if (c < 0)
				continue;
			answer(c, &peer, http);
			close(c);
		}
	}
}

/*
 * Connect from src (in role's namespace) to dst:port within 1.5 s, send
 * req if any, and read what comes back until the server closes (1.5 s
 * at most between reads); on success out holds it.
 */
static bool connect_from(const char *role, const char *src, const char *dst,
			 int port, const char *req, char *out, size_t out_len)
{
	int pfd[2], st;
	size_t got = 0;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd))
		return false;
	pid = fork();
	if (!pid) {
		struct sockaddr_in s = { .sin_family = AF_INET };
		struct sockaddr_in d = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port) };
		struct pollfd p;
		char buf[1024];
		int fd, err = 0;
		socklen_t el = sizeof(err);

		close(pfd[0]);
		if (enter_ns(role))
			_exit(2);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		inet_pton(AF_INET, src, &s.sin_addr);
		inet_pton(AF_INET, dst, &d.sin_addr);
		if (fd < 0 || bind(fd, (struct sockaddr *)&s, sizeof(s)))
			_exit(2);
		if (connect(fd, (struct sockaddr *)&d, sizeof(d)) &&
		    errno != EINPROGRESS)
			_exit(1);
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 1500) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err)
			_exit(1);
		if (req && write(fd, req, strlen(req)) != (ssize_t)strlen(req))
			_exit(1);
		p.events = POLLIN;
		while (poll(&p, 1, 1500) == 1) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				break;
			if (write(pfd[1], buf, (size_t)n) < 0)
				_exit(1);
			got += (size_t)n;
		}
		_exit(got ? 0 : 1);
	}
	close(pfd[1]);
	while (got < out_len - 1 &&
	       (n = read(pfd[0], out + got, out_len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	if (got && out[got - 1] == '\n')
		out[got - 1] = '\0';
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static int mkns(const char *role)
{
	char n[64];

	ns_name(n, sizeof(n), role);
	return sh("ip netns add %s && ip -n %s link set lo up", n, n);
}

/* ip -n <role> ...: the namespace of a role spelled out. */
#define NS(role) nsbuf(role)
static const char *nsbuf(const char *role)
{
	/* Enough slots for every NS() of one sh() call. */
	static char bufs[32][64];
	static int k;
	char *b = bufs[k++ % 32];

	ns_name(b, 64, role);
	return b;
}

static int topo_a(void)
{
	if (mkns("a-node") || mkns("a-peer"))
		return -1;
	return sh("ip -n %s link add eth0 type veth peer name eth0 netns %s && "
		  "ip -n %s addr add 10.0.0.10/16 dev eth0 && "
		  "ip -n %s addr add 192.168.50.1/24 dev eth0 && "
		  "ip -n %s addr add 10.0.1.10/16 dev eth0 && "
		  "ip -n %s addr add 10.0.1.11/16 dev eth0 && "
		  "ip -n %s addr add 10.0.1.12/16 dev eth0 && "
		  "ip -n %s link set eth0 up && ip -n %s link set eth0 up",
		  NS("a-node"), NS("a-peer"), NS("a-node"), NS("a-node"),
		  NS("a-peer"), NS("a-peer"), NS("a-peer"), NS("a-node"),
		  NS("a-peer"));
}

static int topo_b(void)
{
	static const char *const gws[2][4] = {
		{ "b-gw1", "u1", "192.168.100.11", "172.18.0.11" },
		{ "b-gw2", "u2", "192.168.100.12", "172.18.0.12" },
	};

	for (size_t i = 2; i < N_ROLES; i++)
		if (mkns(roles[i]))
			return -1;
	if (sh("ip -n %s link add eth0 type veth peer name wl0 netns %s && "
	       "ip -n %s addr add 10.1.0.5/24 dev eth0 && "
	       "ip -n %s addr add 10.1.0.6/24 dev eth0 && "
	       "ip -n %s link set eth0 up && ip -n %s route add default via 10.1.0.1 && "
	       "ip -n %s addr add 10.1.0.1/24 dev wl0 && ip -n %s link set wl0 up",
	       NS("b-wl"), NS("b-node"), NS("b-wl"), NS("b-wl"), NS("b-wl"),
	       NS("b-wl"), NS("b-node"), NS("b-node")) ||
	    sh("ip -n %s link add br0 type bridge && ip -n %s link set br0 up && "
	       "ip -n %s link add br0 type bridge && "
	       "ip -n %s addr add 172.18.200.10/16 dev br0 && ip -n %s link set br0 up",
	       NS("b-ul"), NS("b-ul"), NS("b-db"), NS("b-db"), NS("b-db")) ||
	    sh("ip -n %s link add eth0 type veth peer name ua netns %s && "
	       "ip -n %s addr add 192.168.100.1/24 dev eth0 && ip -n %s link set eth0 up && "
	       "ip -n %s link set ua master br0 up && "
	       "ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 "
	       "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0",
	       NS("b-node"), NS("b-ul"), NS("b-node"), NS("b-node"),
	       NS("b-ul"), NS("b-node")))
		return -1;
	for (int i = 0; i < 2; i++)
		if (sh("ip -n %s link add eth0 type veth peer name %s netns %s && "
		       "ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up && "
		       "ip -n %s link set %s master br0 up && "
		       "ip -n %s link add ext0 type veth peer name d%d netns %s && "
		       "ip -n %s addr add %s/16 dev ext0 && ip -n %s link set ext0 up && "
		       "ip -n %s link set d%d master br0 up && "
		       "ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 "
		       "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0",
		       NS(gws[i][0]), gws[i][1], NS("b-ul"), NS(gws[i][0]),
		       gws[i][2], NS(gws[i][0]), NS("b-ul"), gws[i][1],
		       NS(gws[i][0]), i + 1, NS("b-db"), NS(gws[i][0]),
		       gws[i][3], NS(gws[i][0]), NS("b-db"), i + 1,
		       NS(gws[i][0])))
			return -1;
	return 0;
}

/* Where node-a's ingress filter ended up (xdpMode auto), in words. */
static char hook_a[96] = "at the uplink's ingress hook";

static void say_hook(void)
{
	char pin[160], state[160];
	struct idg_meta m;

	inst_dirs(0, pin, sizeof(pin), state, sizeof(state));
	if (idg_meta_load(state, &m))
		return;
	if (!strcmp(m.xdp_mode, "tc")) {
		snprintf(hook_a, sizeof(hook_a), "at tc ingress");
		say("node-a's ingress filter runs at tc ingress: on a veth the skb\n"
		    "exists before XDP runs, so xdpMode auto picks tc there.\n");
		return;
	}
	snprintf(hook_a, sizeof(hook_a), "in XDP (%s)", m.xdp_mode);
	say("node-a's ingress filter runs in XDP (%s).\n", m.xdp_mode);
}

/*
 * idgate run for node-a, its output in tmpdir/run-a.log; waits until its
 * L7 proxy serves (10 s at most). The pid, or -1 having said why not.
 */
static pid_t run_a(const char *config)
{
	const char *args[] = { "run", "-c", config, "--drop-event-interval",
			       "0", "--metrics-address", "off", NULL };
	char log[160], line[256];
	pid_t pid;
	int fd;

	snprintf(log, sizeof(log), "%s/run-a.log", tmpdir);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	pid = idgate_spawn(0, args, fd);
	close(fd);
	for (int i = 0; pid > 0 && i < 100; i++) {
		FILE *f = fopen(log, "r");
		bool up = false;

		while (f && fgets(line, sizeof(line), f))
			up |= strstr(line, "L7 proxy: haproxy") != NULL;
		if (f)
			fclose(f);
		if (up)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	fprintf(stderr, "demo: idgate run did not start its L7 proxy (HAProxy: apt-get install haproxy); its output:\n");
	sh("sed 's/^/  /' %s >&2", log);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

/* One HTTP request of scenario A and how it went, in words; true if it
 * went as the policy says (want: the status, 0 for no connection). */
static bool http_try(const char *who, const char *ip, int port,
		     const char *method, const char *path, int want)
{
	char req[256], resp[1024], what[128];
	const char *body;
	int status = 0;
	bool ok, good;

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: billing-api\r\nUser-Agent: idgate-demo\r\n"
		 "Content-Length: 0\r\nConnection: close\r\n\r\n",
		 method, path);
	ok = connect_from("a-peer", ip, "10.0.0.10", port, req, resp,
			  sizeof(resp));
	body = strstr(resp, "\r\n\r\n");
	if (ok && sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	if (!ok)
		snprintf(what, sizeof(what), "no connection: dropped %s", hook_a);
	else if (status == 200 && body)
		snprintf(what, sizeof(what), "200 OK; the server saw %s", body + 4);
	else if (status == 403 && body)
		snprintf(what, sizeof(what), "403 %s, from the L7 proxy", body + 4);
	else
		snprintf(what, sizeof(what), "status %d", status);
	/* Allowed requests reach billing-api from the client's own address. */
	good = ok ? status == want && (want != 200 || (body && !strcmp(body + 4, ip))) :
		    want == 0;
	say("  %-16s %-5s %-29s :%d  %s%s\n", who, method, path, port, what,
	    good ? "" : "   (UNEXPECTED)");
	return good;
}

static int scenario_a(const char *config)
{
	static const int ports[] = { 8080, 8081 };
	static const struct {
		const char *who, *ip, *method, *path;
		int port, want;
	} tries[] = {
		{ "frontend", "10.0.1.10", "GET", "/api/v1/users/42", 8080, 200 },
		{ "frontend", "10.0.1.10", "GET", "/api/v1/admin/metrics", 8080, 403 },
		{ "frontend", "10.0.1.10", "POST", "/api/v1/users/42", 8080, 403 },
		{ "batch-processor", "10.0.1.11", "POST", "/api/internal/process-batch", 8080, 200 },
		{ "batch-processor", "10.0.1.11", "GET", "/api/v1/users/1", 8080, 403 },
		{ "reporting", "10.0.1.12", "GET", "/api/v1/users/42", 8080, 0 },
		{ "frontend", "10.0.1.10", "GET", "/api/v1/users/42", 8081, 0 },
	};
	const char *mon[] = { "monitor", NULL };
	const char *pol[] = { "policy", "get", "billing-api", NULL };
	const char *trace[] = { "policy", "trace", "--src", "reporting",
				"--dst", "billing-api", "--dport", "8080",
				NULL };
	const char *trace_l7[] = { "policy", "trace", "--src", "frontend",
				   "--dst", "billing-api", "--dport", "8080",
				   "--http-method", "GET", "--http-path",
				   "/api/v1/admin/metrics", NULL };
	char monlog[160];
	int bad = 0, fd;
	pid_t mpid, rpid;

	say("\n== Scenario A: identity policy at the NIC, HTTP rules in a proxy ==\n"
	    "billing-api (namespace production, node-a) admits, on TCP 8080,\n"
	    "frontend for GET /api/v1/users/.* and batch-processor for\n"
	    "POST /api/internal/process-batch. The policy is the article's\n"
	    "CiliumNetworkPolicy: idgate drops every other peer and port at the\n"
	    "uplink's ingress hook by security identity and steers the allowed\n"
	    "connections to 8080 into an HAProxy that `idgate run` supervises,\n"
	    "which judges each request.\n\n");
	if (topo_a())
		return -1;
	if (serve("a-node", "10.0.0.10", ports, 2, true) < 0)
		return -1;
	say("$ idgate run -c billing-api.yaml --node node-a\n");
	rpid = run_a(config);
	if (rpid < 0)
		return -1;
	say_hook();
	snprintf(monlog, sizeof(monlog), "%s/monitor-a.log", tmpdir);
	fd = open(monlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	mpid = idgate_spawn(0, mon, fd);
	close(fd);
	usleep(500000);

	say("\nHTTP requests from node-b:\n");
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		bad += !http_try(tries[i].who, tries[i].ip, tries[i].port,
				 tries[i].method, tries[i].path, tries[i].want);
	usleep(300000);
	kill(mpid, SIGINT);
	waitpid(mpid, NULL, 0);
	say("\nWhat `idgate monitor` saw (every drop and every L7 denial, with\n"
	    "identities, the rule and the request):\n");
	sh("sed 's/^/  /' %s", monlog);
	say("\n$ idgate policy trace --src reporting --dst billing-api --dport 8080\n");
	idgate_run(0, trace, -1);
	say("\n$ idgate policy trace --src frontend --dst billing-api --dport 8080 \\\n"
	    "    --http-method GET --http-path /api/v1/admin/metrics\n");
	idgate_run(0, trace_l7, -1);
	say("\n$ idgate policy get billing-api   (rules, HTTP rules, counters)\n");
	idgate_run(0, pol, -1);
	/* Stopping run stops its HAProxy; enforcement stays until unload. */
	kill(rpid, SIGTERM);
	waitpid(rpid, NULL, 0);
	return bad ? -1 : 0;
}

static int scenario_b(const char *config)
{
	static const int port[] = { 5432 };
	const char *apply[] = { "apply", "-c", config, NULL };
	const char *nat[] = { "nat", "list", NULL };
	char seen[64];
	bool ok, web;
	int bad = 0;

	say("\n== Scenario B: cross-cluster egress gateway ==\n"
	    "data-processor (cluster-a, node-a) reaches a legacy database at\n"
	    "172.18.200.10 that admits only the egress IPs of gateway egress-b\n"
	    "in cluster-b. node-a carries the traffic in GENEVE (VNI = the\n"
	    "workload's identity) to gw-b1 or gw-b2, which SNAT it to their\n"
	    "egress IP; replies come back the same way.\n\n");
	if (topo_b())
		return -1;
	if (serve("b-db", "172.18.200.10", port, 1, false) < 0)
		return -1;
	for (size_t i = 1; i < N_INST; i++) {
		say("$ idgate apply -c egress-gateway.yaml --node %s\n",
		    instances[i].node);
		if (idgate_run(i, apply, -1))
			return -1;
	}
	ok = connect_from("b-wl", "10.1.0.5", "172.18.200.10", 5432, NULL, seen,
			  sizeof(seen));
	say("\n  data-processor -> database:5432  %s; the database saw the client as %s\n",
	    ok ? "connected" : "FAILED", ok ? seen : "-");
	bad += !ok || strncmp(seen, "172.18.0.1", 10);
	web = connect_from("b-wl", "10.1.0.6", "172.18.200.10", 5432, NULL, seen,
			   sizeof(seen));
	say("  web (not selected)  -> database:5432  %s\n",
	    web ? "connected (UNEXPECTED)" : "no route: only selected workloads use the gateway");
	bad += web;
	say("\n$ idgate nat list --node gw-b1; idgate nat list --node gw-b2\n");
	idgate_run(2, nat, -1);
	idgate_run(3, nat, -1);
	return bad ? -1 : 0;
}

static int worker(void)
{
	char a[160], b[160];
	int ra, rb;

	setpgid(0, 0);
	snprintf(a, sizeof(a), "%s/billing-api.yaml", tmpdir);
	snprintf(b, sizeof(b), "%s/egress-gateway.yaml", tmpdir);
	if (write_file(a, idg_demo_config_a) || write_file(b, idg_demo_config_b)) {
		fprintf(stderr, "demo: cannot write the configs in %s\n", tmpdir);
		return 1;
	}
	ra = scenario_a(a);
	rb = scenario_b(b);
	say("\n== Summary ==\n");
	if (ra)
		say("A: FAILED: a connection did not go as the policy says, or a step\n"
		    "   failed (see above).\n");
	else
		say("A: as the policy says. Peers and ports the policy does not\n"
		    "   admit were dropped %s by security identity; the\n"
		    "   proxy answered requests no HTTP rule allows with 403 and\n"
		    "   billing-api saw each allowed client's own address. Every drop\n"
		    "   and denial named its reason and deciding rule, and `policy\n"
		    "   trace` gave the same answers without touching counters.\n", hook_a);
	if (rb)
		say("B: FAILED: the database was not reached through the gateway as\n"
		    "   expected, or a step failed (see above).\n");
	else
		say("B: works. The database only ever saw an egress IP of cluster-b.\n");
	return ra || rb ? 1 : 0;
}

static void cleanup(void)
{
	char pin[160], state[160], n[64];

	/* Servers, idgate run and its HAProxy first: a daemon still running
	 * would put back what unload removes. */
	for (size_t i = 0; i < N_ROLES; i++) {
		ns_name(n, sizeof(n), roles[i]);
		sh("p=$(ip netns pids %s 2>/dev/null); [ -z \"$p\" ] || kill -9 $p; true",
		   n);
	}
	for (size_t i = 0; i < N_INST; i++) {
		const char *un[] = { "unload", NULL };

		inst_dirs(i, pin, sizeof(pin), state, sizeof(state));
		if (!access(state, F_OK) || !access(pin, F_OK))
			idgate_run(i, un, open("/dev/null", O_WRONLY | O_CLOEXEC));
	}
	for (size_t i = 0; i < N_ROLES; i++) {
		ns_name(n, sizeof(n), roles[i]);
		sh("ip netns del %s 2>/dev/null; true", n);
	}
	sh("rm -rf %s %s", pinroot, tmpdir);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int do_demo(struct idg_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	pid_t pid;
	int st = 0, rc;

	(void)o;
	if (geteuid()) {
		fprintf(stderr, "idgate demo: run as root (it creates network namespaces and loads BPF)\n");
		return 2;
	}
	snprintf(run_id, sizeof(run_id), "%d", (int)getpid());
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/idgate-demo-%s", run_id);
	snprintf(pinroot, sizeof(pinroot), "/sys/fs/bpf/idgate-demo-%s", run_id);
	if (idg_bpffs_ensure() || mkdir(tmpdir, 0700)) {
		fprintf(stderr, "idgate demo: cannot prepare %s or bpffs\n", tmpdir);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fflush(stdout);
	pid = fork();
	if (!pid) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		_exit(worker());
	}
	while (pid > 0 && waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			break;
		if (interrupted) {
			/* The whole worker group: servers, clients, monitor. */
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
	}
	rc = pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	say("\nRemoving the demo's namespaces, programs and pins...\n");
	cleanup();
	say(interrupted ? "Interrupted; everything the demo created is gone.\n" :
			  "Done; everything the demo created is gone.\n");
	return interrupted ? 130 : rc;
}
