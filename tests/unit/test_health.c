// SPDX-License-Identifier: GPL-2.0
/* Gateway health replies count only when they echo a recent probe's nonce. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include "health.h"

#define T0 1000000u /* any monotonic time, in ms */

struct fixture {
	struct idg_health_target t[2];
	struct idg_health h;
	uint32_t gw1, gw2;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	inet_pton(AF_INET, "192.168.100.11", &f.gw1);
	inet_pton(AF_INET, "192.168.100.12", &f.gw2);
	f.t[0].ip = f.gw1;
	f.t[1].ip = f.gw2;
	f.h.targets = f.t;
	f.h.n_targets = 2;
	*state = &f;
	return 0;
}

static struct idg_health_probe probe(struct idg_health_target *t, uint32_t seq,
				     uint64_t now)
{
	struct idg_health_probe p;

	assert_int_equal(idg_health_probe_make(t, seq, now, &p), 0);
	assert_int_equal(ntohl(p.magic), IDG_HEALTH_MAGIC);
	assert_int_equal(ntohl(p.seq), seq);
	return p;
}

static struct idg_health_target *reply(struct fixture *f, uint32_t from,
				       const struct idg_health_probe *p,
				       uint64_t now)
{
	return idg_health_reply(&f->h, from, p, sizeof(*p), now);
}

static void test_echo_counts_once(void **state)
{
	struct fixture *f = *state;
	struct idg_health_probe p = probe(&f->t[0], 1, T0);

	assert_ptr_equal(reply(f, f->gw1, &p, T0 + 3), &f->t[0]);
	/* The same reply again is a replay. */
	assert_null(reply(f, f->gw1, &p, T0 + 400));
	assert_int_equal(f->t[0].ignored, 1);
}

static void test_wrong_nonce(void **state)
{
	struct fixture *f = *state;
	struct idg_health_probe p = probe(&f->t[0], 1, T0), forged = p;

	/* Right address, magic and sequence number; one nonce bit off. */
	forged.nonce[IDG_HEALTH_NONCE_LEN - 1] ^= 1;
	assert_null(reply(f, f->gw1, &forged, T0 + 3));
	forged = p;
	forged.nonce[0] ^= 0x80;
	assert_null(reply(f, f->gw1, &forged, T0 + 3));
	assert_int_equal(f->t[0].ignored, 2);
	/* The genuine answer still counts after the forgeries. */
	assert_ptr_equal(reply(f, f->gw1, &p, T0 + 4), &f->t[0]);
}

static void test_other_gateways_nonce(void **state)
{
	struct fixture *f = *state;
	struct idg_health_probe p1 = probe(&f->t[0], 1, T0);
	struct idg_health_probe p2 = probe(&f->t[1], 1, T0);

	/* Each gateway gets its own nonce: an answer from gw2 (or one sent
	 * with its address) cannot keep gw1 up. */
	assert_memory_not_equal(p1.nonce, p2.nonce, IDG_HEALTH_NONCE_LEN);
	assert_null(reply(f, f->gw1, &p2, T0 + 3));
	assert_null(reply(f, f->gw2, &p1, T0 + 3));
	assert_int_equal(f->t[0].ignored, 1);
	assert_int_equal(f->t[1].ignored, 1);
	assert_ptr_equal(reply(f, f->gw2, &p2, T0 + 4), &f->t[1]);
	assert_ptr_equal(reply(f, f->gw1, &p1, T0 + 4), &f->t[0]);
}

static void test_late_answers(void **state)
{
	struct fixture *f = *state;
	struct idg_health_probe p[IDG_HEALTH_OUTSTANDING + 1];
	uint64_t now = T0;

	for (unsigned int i = 0; i < IDG_HEALTH_OUTSTANDING + 1; i++) {
		p[i] = probe(&f->t[0], i + 1, now);
		now += IDG_HEALTH_INTERVAL_MS;
	}
	/* Pushed out of the ring by the newer probes. */
	assert_null(reply(f, f->gw1, &p[0], now));
	/* Still remembered, answered late and out of order. */
	assert_ptr_equal(reply(f, f->gw1, &p[2], now), &f->t[0]);
	assert_ptr_equal(reply(f, f->gw1, &p[1], now - IDG_HEALTH_INTERVAL_MS),
			 &f->t[0]);
	/* Older than a gateway may stay silent: it could not keep it up. */
	assert_null(reply(f, f->gw1, &p[3],
			  T0 + 3 * IDG_HEALTH_INTERVAL_MS + IDG_HEALTH_DEAD_MS + 1));
	assert_ptr_equal(reply(f, f->gw1, &p[4],
			       T0 + 4 * IDG_HEALTH_INTERVAL_MS + IDG_HEALTH_DEAD_MS),
			 &f->t[0]);
	assert_int_equal(f->t[0].ignored, 2);
}

static void test_nonces_differ(void **state)
{
	struct fixture *f = *state;
	struct idg_health_probe a = probe(&f->t[0], 7, T0);
	struct idg_health_probe b = probe(&f->t[0], 7, T0);

	assert_memory_not_equal(a.nonce, b.nonce, IDG_HEALTH_NONCE_LEN);
}

static void test_not_a_reply(void **state)
{
	struct fixture *f = *state;
	struct idg_health_probe p = probe(&f->t[0], 1, T0), bad = p;
	uint8_t longer[sizeof(p) + 1] = { 0 };
	uint32_t other;

	bad.magic ^= htonl(1);
	assert_null(reply(f, f->gw1, &bad, T0 + 1));
	/* The old format without a nonce, and a probe with a byte more. */
	assert_null(idg_health_reply(&f->h, f->gw1, &p, 8, T0 + 1));
	memcpy(longer, &p, sizeof(p));
	assert_null(idg_health_reply(&f->h, f->gw1, longer, sizeof(longer),
				     T0 + 1));
	inet_pton(AF_INET, "192.168.100.99", &other);
	assert_null(reply(f, other, &p, T0 + 1));
	assert_int_equal(f->t[0].ignored, 0);
	/* None of those used the nonce up. */
	assert_ptr_equal(reply(f, f->gw1, &p, T0 + 2), &f->t[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_echo_counts_once, setup),
		cmocka_unit_test_setup(test_wrong_nonce, setup),
		cmocka_unit_test_setup(test_other_gateways_nonce, setup),
		cmocka_unit_test_setup(test_late_answers, setup),
		cmocka_unit_test_setup(test_nonces_differ, setup),
		cmocka_unit_test_setup(test_not_a_reply, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
