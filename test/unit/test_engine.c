/**
 * @file test_engine.c  The policy engine, rule by rule, in virtual time
 *
 * Each test names the rule of shared/docs/behaviour.md (R..) or the
 * scenario it checks.  The world is sim.c: registrars answering 200, a
 * fixed code, or nothing.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "sim.h"
#include "test.h"


enum {
	HOLD = 2,
	BACKOFF_MAX = 300,
	MIN = 60000,
};


static bool is_current(const struct sim *s, int prio)
{
	return sr_engine_current_tier(s->eng) == prio &&
		sr_engine_state(s->eng) == SR_REGISTERED;
}


static bool tier_current(const struct sim *s, int prio)
{
	return is_current(s, prio);
}


static bool is_waiting(const struct sim *s, int arg)
{
	(void)arg;
	return sr_engine_state(s->eng) == SR_WAITING;
}


/* exactly the accounts of tier prio are bound */
static int check_bound(const struct sim *s, int prio)
{
	size_t i;

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		const struct sim_acc *a = &s->accv[i];

		if (!a->used)
			continue;

		if ((int)a->prio == prio && a->code == 200)
			TEST_ASSERT(a->bound);
		else
			TEST_ASSERT(!a->bound);
	}

	return 0;
}


/* R1: at start only the best tier registers, standby sends nothing */
SIM_TEST(test_engine_r1_start_best_tier_only, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 1, 0);
	int a1 = sim_add(s, 0, 0);
	int a2 = sim_add(s, 2, 0);

	/* nothing before start (the accounts file is still loading) */
	TEST_EQ(0, s->nactions);

	sim_start(s);
	sim_run(s, MIN);

	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(1, s->accv[a1].nregister);
	TEST_EQ(0, s->accv[a0].nregister);
	TEST_EQ(0, s->accv[a2].nregister);
	TEST_EQ(0, s->accv[a0].nprobe);
	TEST_EQ(a1, s->current);
	TEST_ERR(check_bound(s, 0));

	return 0;
}


/* R2: a tier fails only when all of its accounts have failed */
SIM_TEST(test_engine_r2_tier_fails_when_all_fail, HOLD, BACKOFF_MAX)
{
	int a = sim_add(s, 0, 0);
	int b = sim_add(s, 0, 0);
	int c = sim_add(s, 1, 0);

	sim_start(s);
	sim_run(s, 1000);

	/* same-prio accounts register in parallel */
	TEST_EQ(1, s->accv[a].nregister);
	TEST_EQ(1, s->accv[b].nregister);
	TEST_ASSERT(s->accv[a].bound && s->accv[b].bound);

	sim_fail(s, a, 503);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(0, s->accv[c].nregister);

	sim_fail(s, b, 0);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(c, s->current);
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);

	/* the failed tier is stopped: registered on one tier only */
	TEST_EQ(1, s->accv[a].nunregister);
	TEST_EQ(1, s->accv[b].nunregister);
	TEST_ERR(check_bound(s, 1));

	return 0;
}


/* R3: prio gaps are skipped, worst tier wraps to the best */
SIM_TEST(test_engine_r3_gaps_and_wrap, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int a2 = sim_add(s, 2, 0);
	int a5 = sim_add(s, 5, 0);

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	sim_fail(s, a0, 503);
	TEST_ASSERT(is_current(s, 2));
	TEST_EQ(0, s->move_from);
	TEST_EQ(2, s->move_to);

	sim_fail(s, a2, 503);
	TEST_ASSERT(is_current(s, 5));
	TEST_EQ(a5, s->current);

	/* tier 0 is back; the worst tier fails: wrap to tier 0 */
	sim_set(s, a0, 200, 0);
	sim_fail(s, a5, 503);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(a0, s->current);
	TEST_ERR(check_bound(s, 0));

	return 0;
}


/* R3: a tier whose initial REGISTER fails is left for the next */
SIM_TEST(test_engine_r3_initial_register_fails, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 0);

	sim_set(s, a0, 403, 0);
	sim_start(s);
	sim_run(s, 1000);

	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(a1, s->current);
	TEST_EQ(1, s->accv[a0].nunregister);

	return 0;
}


static bool all_registered_count(const struct sim *s, int n)
{
	return sim_registers(s, 0) + sim_registers(s, 1) +
		sim_registers(s, 2) >= (unsigned)n;
}


/*
 * R4 (and upstream weakness): no tier registers -> jittered growing
 * backoff, every tier retried each round, then the first that works.
 */
SIM_TEST(test_engine_r4_backoff_rounds, HOLD, 120)
{
	int a[3];
	uint64_t t0, prev_round = 0;
	unsigned i, round;

	for (i = 0; i < 3; i++) {
		a[i] = sim_add(s, i, 0);
		sim_set(s, a[i], 0, 0);   /* silent */
	}

	sim_start(s);
	t0 = s->now;

	/* each round tries every tier once, then waits */
	for (round = 0; round < 5; round++) {
		uint64_t cap = min(120ULL, 30ULL << round) * 1000;
		uint64_t wait;

		TEST_ASSERT(sim_run_until(s, 10 * MIN, is_waiting, 0));
		TEST_EQ(3 * (round + 1), sim_registers(s, 0) +
			sim_registers(s, 1) + sim_registers(s, 2));
		for (i = 0; i < 3; i++)
			TEST_EQ(round + 1, s->accv[a[i]].nregister);

		wait = s->round_at - s->now;
		TEST_ASSERT(wait >= cap / 2 && wait <= cap);
		TEST_ASSERT(s->round_at > prev_round);
		prev_round = s->round_at;

		/* a failure while waiting does not postpone the round */
		sim_refresh_fails(s, a[1]);
		TEST_EQ(prev_round, s->round_at);

		TEST_ASSERT(sim_run_until(s, 10 * MIN,
					  all_registered_count,
					  3 * (round + 1) + 1));
	}

	/* tier 1 comes back: it is used in the next round and stays */
	sim_set(s, a[1], 200, 0);
	sim_run(s, 10 * MIN);
	TEST_ASSERT(is_current(s, 1));
	TEST_ERR(check_bound(s, 1));
	TEST_ASSERT(s->now - t0 > 5 * 60);

	return 0;
}


/* R5: a tier that was left never counts as registered */
SIM_TEST(test_engine_r5_old_success_ignored, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 0);

	sim_start(s);
	sim_run(s, 1000);

	sim_fail(s, a0, 503);
	TEST_ASSERT(is_current(s, 1));

	/* a late 200 (e.g. to the un-REGISTER) of the left tier */
	sr_account_registered(s->accv[a0].sra, 200, s->now);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(a1, s->current);
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a0].sra));

	return 0;
}


/* R6: standby accounts probe every fbregint, jittered 80-100 % */
SIM_TEST(test_engine_r6_probe_interval_jitter, HOLD, BACKOFF_MAX)
{
	int a1, a2;
	unsigned i;
	uint64_t dmin = ~0ULL, dmax = 0;

	(void)sim_add(s, 0, 0);
	a1 = sim_add(s, 1, 10);
	a2 = sim_add(s, 2, 0);

	sim_start(s);
	sim_run(s, 10 * MIN);

	TEST_EQ(0, s->accv[a1].nregister);
	TEST_EQ(0, s->accv[a2].nprobe);       /* no fbregint: no probe */
	TEST_ASSERT(s->accv[a1].nprobe >= 60);
	TEST_ASSERT(s->accv[a1].nprobe <= 76);

	for (i = 1; i < s->accv[a1].nprobe && i < 256; i++) {
		/* interval from the answer (RTT) to the next probe */
		uint64_t d = s->accv[a1].probe_at[i] -
			s->accv[a1].probe_at[i - 1] - SIM_RTT;

		dmin = min(dmin, d);
		dmax = max(dmax, d);
	}

	TEST_ASSERT(dmin >= 8000);
	TEST_ASSERT(dmax <= 10000);
	TEST_ASSERT(dmax - dmin > 1000);      /* really jittered */
	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a1].sra));

	return 0;
}


/* R7 / Cisco: p and p+1 dead, p+2 alive -> straight to p+2 */
SIM_TEST(test_engine_r7_skip_dead_tiers, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 30);
	int a1 = sim_add(s, 1, 30);
	int a2 = sim_add(s, 2, 30);

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	sim_set(s, a1, 0, 0);
	sim_run(s, 2 * MIN);
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a1].sra));
	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a2].sra));

	sim_fail(s, a0, 0);

	TEST_ASSERT(is_current(s, 2));
	TEST_EQ(0, s->accv[a1].nregister);
	TEST_EQ(a2, s->current);
	TEST_ERR(check_bound(s, 2));

	return 0;
}


/* R7: the best alive tier is taken, even if it is not the next one */
SIM_TEST(test_engine_r7_best_alive_first, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 30);
	int a1 = sim_add(s, 1, 0);    /* serial: unknown */
	int a2 = sim_add(s, 2, 30);

	sim_start(s);
	sim_run(s, MIN);

	sim_fail(s, a0, 503);

	TEST_ASSERT(is_current(s, 2));
	TEST_EQ(0, s->accv[a1].nregister);
	TEST_EQ(a2, s->current);

	return 0;
}


/* R8: failback after `hold` good probes; the left tier goes on probes */
SIM_TEST(test_engine_r8_failback_after_hold, 3, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	unsigned n;

	sim_start(s);
	sim_run(s, 1000);

	sim_fail(s, a0, 0);
	TEST_ASSERT(is_current(s, 1));

	sim_run(s, MIN);
	TEST_ASSERT(is_current(s, 1));

	/* back: the move waits for 3 good probes */
	sim_set(s, a0, 200, 0);
	n = s->accv[a0].nprobe;
	TEST_ASSERT(sim_run_until(s, 5 * MIN, tier_current, 0));
	TEST_EQ(n + 3, s->accv[a0].nprobe);
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	TEST_EQ(a0, s->current);

	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 0));
	TEST_EQ(1, s->accv[a1].nunregister);

	/* the tier that was left is probed again */
	n = s->accv[a1].nprobe;
	sim_run(s, MIN);
	TEST_ASSERT(s->accv[a1].nprobe > n);

	return 0;
}


/* R8 against flapping (#1660): one good probe in between is not enough */
SIM_TEST(test_engine_r8_flapping_holds, 3, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	unsigned i;

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 0);
	TEST_ASSERT(is_current(s, 1));

	/* alternate: up for one probe, down for one */
	for (i = 0; i < 10; i++) {
		unsigned n = s->accv[a0].nprobe, k;

		sim_set(s, a0, (i % 2) ? 0 : 200, 0);
		for (k = 0; k < 100 && s->accv[a0].nprobe == n; k++)
			sim_run(s, 500);
		TEST_ASSERT(s->accv[a0].nprobe > n);
		sim_run(s, SIM_TIMEOUT + 100);
	}

	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(1, s->accv[a0].nregister);
	TEST_EQ(a1, s->current);

	return 0;
}


/* R8: from the worst tier back to the best */
SIM_TEST(test_engine_r8_worst_to_best, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	int a2 = sim_add(s, 2, 10);

	sim_start(s);
	sim_run(s, 1000);

	sim_set(s, a0, 0, 0);
	sim_set(s, a1, 0, 0);
	sim_run(s, MIN);
	sim_refresh_fails(s, a0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 2));
	TEST_EQ(0, s->accv[a1].nregister);

	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 0));
	TEST_EQ(a0, s->current);
	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 0));
	(void)a2;

	return 0;
}


/* R8: a better tier that answers probes but refuses REGISTER: stay */
SIM_TEST(test_engine_r8_failback_register_refused, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 503);
	TEST_ASSERT(is_current(s, 1));

	/* probes say 200, but the REGISTER gets 403: never leave tier 1 */
	sim_set(s, a0, 200, 0);
	s->accv[a0].reg_code = 403;
	sim_run(s, 5 * MIN);

	TEST_ASSERT(sr_engine_current_tier(s->eng) == 1);
	TEST_ASSERT(s->accv[a1].bound);
	TEST_ASSERT(!s->accv[a0].bound);
	TEST_EQ(a1, s->current);

	/* tried again after each hold, never faster than fbregint */
	TEST_ASSERT(s->accv[a0].nregister >= 10);
	TEST_ASSERT(s->accv[a0].nregister <= 5 * 60 / 8 + 2);

	return 0;
}


/* R9: a 4xx to a probe does not end probing; Retry-After postpones */
SIM_TEST(test_engine_r9_4xx_and_retry_after, HOLD, BACKOFF_MAX)
{
	int a1, a2;
	unsigned n;
	uint64_t t;

	(void)sim_add(s, 0, 0);
	a1 = sim_add(s, 1, 10);
	a2 = sim_add(s, 2, 10);

	sim_set(s, a1, 403, 0);
	sim_set(s, a2, 503, 120);
	sim_start(s);
	sim_run(s, 5 * MIN);

	/* 403 every time, probing goes on at fbregint */
	TEST_ASSERT(s->accv[a1].nprobe >= 30);
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a1].sra));

	/* 503 Retry-After: 120 -> one probe per 120 s */
	TEST_ASSERT(s->accv[a2].nprobe >= 3 && s->accv[a2].nprobe <= 4);

	/* recovery after the 4xx */
	sim_set(s, a1, 200, 0);
	n = s->accv[a1].nprobe;
	t = s->now;
	sim_run(s, 30000);
	TEST_ASSERT(s->accv[a1].nprobe > n);
	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a1].sra));
	(void)t;

	return 0;
}


/* R10: all down in Cisco mode: bounded traffic, first one back is used */
SIM_TEST(test_engine_r10_all_down_then_one_back, HOLD, 60)
{
	int a[3];
	unsigned i, reg_before;

	for (i = 0; i < 3; i++)
		a[i] = sim_add(s, i, 20);

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	for (i = 0; i < 3; i++)
		sim_set(s, a[i], 0, 0);
	sim_run(s, MIN);
	sim_refresh_fails(s, a[0]);

	reg_before = sim_registers(s, 0) + sim_registers(s, 1) +
		sim_registers(s, 2);

	sim_run(s, 10 * MIN);
	TEST_ASSERT(sr_engine_state(s->eng) == SR_WAITING ||
		    sr_engine_state(s->eng) == SR_TRYING);

	/* no fast loop: known dead tiers are not registered at all, probes
	   only at fbregint: at most 10 min / 16 s per account */
	TEST_ASSERT(sim_registers(s, 0) + sim_registers(s, 1) +
		    sim_registers(s, 2) - reg_before <= 3);
	for (i = 0; i < 3; i++)
		TEST_ASSERT(s->accv[a[i]].nprobe <= 40);

	/* tier 2 comes back: moved there at its next probe */
	sim_set(s, a[2], 200, 0);
	TEST_ASSERT(sim_run_until(s, 30000, tier_current, 2));
	TEST_EQ(a[2], s->current);
	TEST_EQ(SR_REASON_ALIVE, s->move_reason);

	return 0;
}


/* R30: accounts added at runtime join the ladder */
SIM_TEST(test_engine_r30_runtime_add, HOLD, BACKOFF_MAX)
{
	int a1, b1, c2, d0;

	a1 = sim_add(s, 1, 0);
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 1));

	/* same tier: registers at once */
	b1 = sim_add(s, 1, 0);
	sim_run(s, 1000);
	TEST_ASSERT(s->accv[b1].bound);

	/* worse tier: standby */
	c2 = sim_add(s, 2, 10);
	sim_run(s, 1000);
	TEST_EQ(0, s->accv[c2].nregister);
	TEST_ASSERT(s->accv[c2].nprobe >= 1);

	/* better tier: registers and becomes current */
	d0 = sim_add(s, 0, 0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(d0, s->current);
	TEST_ASSERT(!s->accv[a1].bound && !s->accv[b1].bound);
	TEST_EQ(SR_REASON_ADDED, s->move_reason);

	return 0;
}


/* R31: removal stops probes; the last account of the tier = failure */
SIM_TEST(test_engine_r31_runtime_remove, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int b0 = sim_add(s, 0, 0);
	int c1 = sim_add(s, 1, 10);
	int d2 = sim_add(s, 2, 10);
	unsigned n;

	sim_start(s);
	sim_run(s, 1000);

	sim_remove(s, d2);
	n = s->nactions;
	sim_run(s, MIN);
	TEST_EQ(0, s->accv[d2].nregister);

	sim_remove(s, a0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(b0, s->current);

	sim_remove(s, b0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(c1, s->current);
	TEST_EQ(SR_REASON_REMOVED, s->move_reason);
	(void)n;

	/* and the last one */
	sim_remove(s, c1);
	TEST_EQ(SR_IDLE, sr_engine_state(s->eng));
	TEST_EQ(0, sr_engine_naccounts(s->eng));

	return 0;
}


/* Serial scenario: no tier registers -> no fast loop, then first one */
SIM_TEST(test_engine_scn_serial_none_then_first, HOLD, 60)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 0);

	sim_set(s, a0, 503, 0);
	sim_set(s, a1, 503, 0);
	sim_start(s);

	sim_run(s, 10 * MIN);

	/* 10 min, waits of 15..60 s: at most ~40 rounds of 2 REGISTERs */
	TEST_ASSERT(sim_registers(s, 0) + sim_registers(s, 1) <= 2 * 41);
	TEST_ASSERT(s->nrounds >= 10);

	sim_set(s, a1, 200, 0);
	TEST_ASSERT(sim_run_until(s, 2 * MIN, tier_current, 1));
	sim_set(s, a0, 200, 0);
	sim_run(s, 5 * MIN);

	/* serial mode: stays on the first that works */
	TEST_ASSERT(is_current(s, 1));

	return 0;
}


/* A standby account registering stays unbound; stale probe answers */
SIM_TEST(test_engine_stale_probe_answer, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	struct sr_answer ok = {0, 200, 0, SR_FLOW_UNKNOWN, SR_BINDING_UNKNOWN};

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 503);

	/* a late probe answer for the now-active tier 1 changes nothing */
	sr_account_answer(s->accv[a1].sra, &ok, s->now);
	TEST_EQ(SR_ACC_REGISTERED, sr_account_state(s->accv[a1].sra));

	return 0;
}


/* R30/R33: started with no account, the first uanew registers at once */
SIM_TEST(test_engine_r33_start_empty_then_add, HOLD, BACKOFF_MAX)
{
	int a;

	sim_start(s);
	sim_run(s, MIN);
	TEST_EQ(SR_IDLE, sr_engine_state(s->eng));
	TEST_EQ(0, s->nrounds);

	a = sim_add(s, 3, 0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 3));
	TEST_EQ(a, s->current);

	return 0;
}


/* R30: an account added while every tier failed is tried at once */
SIM_TEST(test_engine_r30_add_while_waiting, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int b;

	sim_set(s, a0, 503, 0);
	sim_start(s);
	TEST_ASSERT(sim_run_until(s, MIN, is_waiting, 0));

	/* a new round from the best tier, long before the backoff ends */
	b = sim_add(s, 1, 0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(b, s->current);
	TEST_EQ(2, s->accv[a0].nregister);

	return 0;
}


/* R20: a silent registrar of the tier in use is found by the check */
SIM_TEST(test_engine_r20_check_finds_silent_registrar, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 0);
	uint64_t t;

	sim_set_check(s, 5);
	sim_start(s);
	sim_run(s, MIN);
	TEST_ASSERT(is_current(s, 0));

	/* checks every 4-5 s, none from the standby */
	TEST_ASSERT(s->accv[a0].ncheck >= 11 && s->accv[a0].ncheck <= 15);
	TEST_EQ(0, s->accv[a1].ncheck);

	/* silent now; no refresh fails: the check must see it */
	sim_set(s, a0, 0, 0);
	t = s->now;
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 1));

	/* within check interval + probe timeout (+ a round trip) */
	TEST_ASSERT(s->now - t <= 5000 + SIM_TIMEOUT + SIM_RTT);
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);

	/* the standby is never checked, the new current is */
	sim_run(s, MIN);
	TEST_ASSERT(s->accv[a1].ncheck >= 11);

	return 0;
}


/* R20: any final answer but 408/503 is alive; 503 is a failure */
SIM_TEST(test_engine_r20_check_answers, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);

	(void)sim_add(s, 1, 0);
	sim_set_check(s, 5);
	sim_start(s);
	sim_run(s, 1000);

	s->accv[a0].reg_code = 200;
	sim_set(s, a0, 405, 0);      /* OPTIONS not allowed: still alive */
	sim_run(s, MIN);
	TEST_ASSERT(is_current(s, 0));

	sim_set(s, a0, 503, 0);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 1));

	return 0;
}


static bool is_promoting(const struct sim *s, int arg)
{
	(void)arg;
	return sr_engine_state(s->eng) == SR_PROMOTING;
}


/* R34: a call on the tier in use holds the failback until it ends */
SIM_TEST(test_engine_r34_call_holds_failback, 2, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	unsigned nreg, nprobe;

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 0);
	TEST_ASSERT(is_current(s, 1));

	sr_account_calls(s->accv[a1].sra, 1, s->now);
	TEST_ASSERT(!sr_engine_failback_held(s->eng));

	/* the primary is back, and stays back while the call lasts */
	sim_set(s, a0, 200, 0);
	nreg = s->accv[a0].nregister;
	nprobe = s->accv[a0].nprobe;
	sim_run(s, 10 * MIN);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(nreg, s->accv[a0].nregister);
	TEST_ASSERT(s->accv[a0].nprobe > nprobe + 40);
	TEST_ASSERT(sr_engine_failback_held(s->eng));
	TEST_ERR(check_bound(s, 1));

	/* a second call and the end of the first change nothing */
	sr_account_calls(s->accv[a1].sra, 2, s->now);
	sr_account_calls(s->accv[a1].sra, 1, s->now);
	sim_run(s, MIN);
	TEST_ASSERT(is_current(s, 1));

	/* the last call ends: the failback goes ahead at once */
	sr_account_calls(s->accv[a1].sra, 0, s->now);
	TEST_ASSERT(!sr_engine_failback_held(s->eng));
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	TEST_ERR(check_bound(s, 0));

	return 0;
}


/* R34: a call that begins while the better tier registers holds the
   move; both tiers stay registered until the call ends */
SIM_TEST(test_engine_r34_call_during_promotion, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 0);
	TEST_ASSERT(is_current(s, 1));

	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, MIN, is_promoting, 0));
	sr_account_calls(s->accv[a1].sra, 1, s->now);

	sim_run(s, 5 * MIN);
	TEST_EQ(1, sr_engine_current_tier(s->eng));
	TEST_EQ(SR_PROMOTING, sr_engine_state(s->eng));
	TEST_ASSERT(s->accv[a0].bound);
	TEST_ASSERT(s->accv[a1].bound);
	TEST_EQ(a1, s->current);
	TEST_ASSERT(sr_engine_failback_held(s->eng));

	sr_account_calls(s->accv[a1].sra, 0, s->now);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(a0, s->current);
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	TEST_ERR(check_bound(s, 0));

	return 0;
}


/* R34: a call does not hold a move away from a failed tier, and the
   end of a call on a tier not in use does nothing */
SIM_TEST(test_engine_r34_call_no_hold_on_failover, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	unsigned nmoves;

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	sr_account_calls(s->accv[a0].sra, 1, s->now);
	sim_fail(s, a0, 0);
	TEST_ASSERT(is_current(s, 1));
	TEST_ERR(check_bound(s, 1));

	nmoves = s->nmoves;
	sr_account_calls(s->accv[a0].sra, 0, s->now);
	TEST_EQ(nmoves, s->nmoves);

	/* removing a busy account of the tier in use releases the hold */
	sr_account_calls(s->accv[a1].sra, 1, s->now);
	sim_set(s, a0, 200, 0);
	sim_run(s, MIN);
	TEST_ASSERT(sr_engine_failback_held(s->eng));
	sim_add(s, 1, 10);
	sim_run(s, 1000);
	sim_remove(s, a1);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	return 0;
}


/* R20 + R8: a registrar that fails the check (OPTIONS 503) but takes
   REGISTERs is probed with the check: no failback until it passes */
SIM_TEST(test_engine_r20_check_failed_probed_with_check, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 2);
	int a1 = sim_add(s, 1, 2);
	unsigned nmoves, nprobe, noptions;

	sim_set_check(s, 2);
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(0, s->accv[a1].noptions);

	s->accv[a0].options_code = 503;
	sim_run(s, 5000);
	TEST_ASSERT(is_current(s, 1));
	nmoves = s->nmoves;
	nprobe = s->accv[a0].nprobe;
	noptions = s->accv[a0].noptions;

	/* ten minutes: every probe of a0 is an OPTIONS, no move */
	sim_run(s, 10 * MIN);
	TEST_EQ(nmoves, s->nmoves);
	TEST_ASSERT(s->accv[a0].nprobe > nprobe + 200);
	TEST_EQ(s->accv[a0].nprobe - nprobe,
		s->accv[a0].noptions - noptions);
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a0].sra));
	/* the tier in use probes nothing; a1 never failed a check */
	TEST_EQ(0, s->accv[a1].noptions);

	/* it passes the check again: failback, then REGISTER probes */
	s->accv[a0].options_code = 0;
	sim_run(s, 5000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	noptions = s->accv[a0].noptions;
	sim_fail(s, a0, 0);
	sim_run(s, MIN);
	TEST_EQ(noptions, s->accv[a0].noptions);

	return 0;
}


/* R9: a Retry-After beyond an hour does not stop probing for longer */
SIM_TEST(test_engine_r9_retry_after_capped, HOLD, BACKOFF_MAX)
{
	int a1;

	(void)sim_add(s, 0, 0);
	a1 = sim_add(s, 1, 10);

	sim_set(s, a1, 503, 4000000000U);
	sim_start(s);
	sim_run(s, 1000);
	TEST_EQ(1, s->accv[a1].nprobe);

	sim_run(s, 59 * MIN);
	TEST_EQ(1, s->accv[a1].nprobe);
	sim_run(s, 2 * MIN);
	TEST_EQ(2, s->accv[a1].nprobe);

	return 0;
}


/* R9: the Retry-After of the answer that failed the tier in use holds
   its first probe too */
SIM_TEST(test_engine_r9_retry_after_of_failure, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	unsigned n;

	(void)sim_add(s, 1, 10);
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	sim_set(s, a0, 503, 60);
	sim_refresh_fails(s, a0);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 1));
	n = s->accv[a0].nprobe;

	sim_run(s, 55000);
	TEST_EQ(n, s->accv[a0].nprobe);
	sim_run(s, 10000);
	TEST_EQ(n + 1, s->accv[a0].nprobe);

	return 0;
}


/* R34 + R2: the tier in use fails while a held failback's target is
   registered already: that target is the tier in use at once */
SIM_TEST(test_engine_r34_held_target_takes_over, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 0);
	TEST_ASSERT(is_current(s, 1));

	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, MIN, is_promoting, 0));
	sr_account_calls(s->accv[a1].sra, 1, s->now);
	sim_run(s, 5000);
	TEST_ASSERT(s->accv[a0].bound);
	TEST_EQ(SR_PROMOTING, sr_engine_state(s->eng));

	sim_fail(s, a1, 0);
	TEST_ASSERT(is_current(s, 0));

	/* baresip's current UA keeps its call until it ends (its call
	   commands act on the current UA), then the rule applies */
	TEST_EQ(a1, s->current);
	sr_account_calls(s->accv[a1].sra, 0, s->now);
	TEST_EQ(a0, s->current);

	return 0;
}


/* R3 + R31: the current UA is removed while another account of its
   tier is still registering: that one becomes current when it does */
SIM_TEST(test_engine_r31_remove_current_while_other_registers, HOLD,
	 BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int b0 = sim_add(s, 0, 0);

	sim_set(s, b0, 0, 0);       /* b0's registrar is slow (silent) */
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(a0, s->current);

	sim_remove(s, a0);
	sim_set(s, b0, 200, 0);     /* its REGISTER gets its 200 late */
	sim_run(s, SIM_REG_TMO + 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(b0, s->current);

	return 0;
}


/*
 * Issue 9, bug 0: a failback must not lose the binding it makes.  The
 * tier left when its registrar went silent was taken off with an
 * un-REGISTER that libre retransmits until Timer F; the registrar comes
 * back 5 s later.  The failback waits until that un-REGISTER is over,
 * and the binding then holds for a full refresh interval.
 */
SIM_TEST(test_engine_bug0_failback_keeps_binding, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 5);
	int a1 = sim_add(s, 1, 5);
	uint64_t t;

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	/* the primary dies; its refresh times out (Timer F) */
	sim_set(s, a0, 0, 0);
	sim_run(s, SIM_REG_TMO);
	sim_refresh_fails(s, a0);
	sim_run(s, 100);
	TEST_ASSERT(is_current(s, 1));

	/* back inside the un-REGISTER's Timer F, between two of its
	   retransmissions (0.5, 1.5, 3.5, 7.5 s) and before the first
	   probe (4-5 s): on the probe's answer the tier is ready */
	sim_run(s, 3800);
	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 0));

	/* the binding holds for a refresh interval (30 s) */
	for (t = 0; t < 30000; t += 100) {
		sim_run(s, 100);
		TEST_ASSERT(s->accv[a0].bound);
	}

	TEST_EQ(0, s->accv[a0].nlate_unbind);
	TEST_ASSERT(!s->accv[a1].bound);

	return 0;
}


/*
 * Bug 0, the other half: a registration made while a late un-REGISTER
 * may still arrive (here: serial mode, the next round registers the
 * tier again within Timer F) is repaired once that is over.
 */
SIM_TEST(test_engine_bug0_repair_after_late_unregister, HOLD, 4)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 0);

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	/* tier 0 goes silent and fails; tier 1 refuses */
	s->accv[a1].reg_code = 503;
	sim_set(s, a0, 0, 0);
	sim_refresh_fails(s, a0);

	/* tier 0 answers again before the next round (2-4 s) */
	sim_run(s, 1600);
	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, 10000, tier_current, 0));

	/* the late un-REGISTER removed the new binding (the case this
	   test is about), the repair restored it */
	sim_run(s, SR_UNREG_LINGER * 1000);
	TEST_EQ(1, s->accv[a0].nlate_unbind);
	TEST_EQ(1, s->accv[a0].nrepair);
	TEST_ASSERT(s->accv[a0].bound);
	TEST_ASSERT(is_current(s, 0));

	/* a registration without a late un-REGISTER needs no repair */
	sim_run(s, 5 * MIN);
	TEST_EQ(1, s->accv[a0].nrepair);

	return 0;
}


/*
 * Bug 1: when baresip's current UA fails in a tier that still works,
 * another registered account of the tier becomes current
 */
SIM_TEST(test_engine_bug1_current_follows_failure, HOLD, BACKOFF_MAX)
{
	int a = sim_add(s, 0, 0);
	int b = sim_add(s, 0, 0);
	int c = sim_add(s, 1, 0);
	unsigned moves;

	sim_start(s);
	sim_run(s, 1000);
	TEST_EQ(a, s->current);
	moves = s->nmoves;

	sim_fail(s, a, 503);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(b, s->current);
	TEST_EQ(moves, s->nmoves);
	TEST_EQ(0, s->accv[c].nregister);

	/* a registers again: b stays current (no needless switch) */
	sim_set(s, a, 200, 0);
	sr_account_registered(s->accv[a].sra, 200, s->now);
	TEST_EQ(b, s->current);

	/* b is removed: a takes over */
	sim_remove(s, b);
	TEST_EQ(a, s->current);
	TEST_ASSERT(s->accv[a].sra == sr_engine_current(s->eng));

	return 0;
}


/*
 * Bug 2: a tier left without failure is parked; each account's state
 * follows its last answer (a REGISTER that failed is dead, not alive)
 */
SIM_TEST(test_engine_bug2_park_follows_last_answer, 1, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	int b1 = sim_add(s, 1, 60);
	const struct sr_answer *last;

	s->accv[b1].reg_code = 503;

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 503);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(SR_ACC_REGISTERED, sr_account_state(s->accv[a1].sra));
	TEST_EQ(SR_ACC_FAILED, sr_account_state(s->accv[b1].sra));

	/* tier 0 is back: the failback parks tier 1 without failure */
	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 0));

	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a1].sra));
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[b1].sra));
	last = sr_account_last(s->accv[b1].sra, NULL);
	TEST_ASSERT(last != NULL);
	TEST_EQ(503, last->scode);

	/* the move says which answer allowed it */
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	TEST_EQ(200, s->move_ans.scode);

	return 0;
}


/*
 * Bug 3: the TLS gate belongs to the choice of the tier: one gate, then
 * baresip's own REGISTERs (refreshes, a net change) pass untouched
 */
SIM_TEST(test_engine_bug3_gate_once_per_choice, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_GATE);
	int b = sim_add_flags(s, 1, 10, SR_ACC_F_GATE);
	int i;

	/* loading: every UA is held until the engine starts */
	sr_account_registering(s->accv[a].sra, s->now);
	TEST_EQ(1, s->accv[a].nhold);

	sim_start(s);
	TEST_EQ(1, s->accv[a].ngate);
	TEST_EQ(0, s->accv[a].nregister);
	TEST_EQ(SR_ACC_VERIFYING, sr_account_state(s->accv[a].sra));

	/* baresip registers it on its own meanwhile: held */
	sr_account_registering(s->accv[a].sra, s->now);
	TEST_EQ(2, s->accv[a].nhold);

	sim_run(s, 1000);
	TEST_EQ(1, s->accv[a].nregister);
	TEST_ASSERT(is_current(s, 0));

	/* refreshes and a net change: no gate, no hold */
	for (i = 0; i < 5; i++) {
		sr_account_registering(s->accv[a].sra, s->now);
		sr_account_registered(s->accv[a].sra, 200, s->now);
		sim_run(s, MIN);
	}

	TEST_EQ(1, s->accv[a].ngate);
	TEST_EQ(2, s->accv[a].nhold);
	TEST_EQ(0, s->accv[b].ngate);

	/* a failover chooses tier 1: its gate now, once */
	sim_fail(s, a, 503);
	TEST_ASSERT(is_current(s, 1));
	TEST_EQ(1, s->accv[b].ngate);
	TEST_EQ(1, s->accv[b].nregister);

	return 0;
}


/* Bug 3: a registrar that fails the gate fails the account, no REGISTER */
SIM_TEST(test_engine_bug3_gate_fails, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_GATE);
	int b = sim_add(s, 1, 0);

	sim_set(s, a, 0, 0);
	sim_start(s);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 1));
	TEST_EQ(0, s->accv[a].nregister);
	TEST_EQ(1, s->accv[a].ngate);
	TEST_EQ(b, s->current);

	return 0;
}


static bool probe_in_flight(const struct sim *s, int idx)
{
	return sr_account_request(s->accv[idx].sra) == SR_REQ_PROBE;
}


static bool check_in_flight(const struct sim *s, int idx)
{
	return sr_account_request(s->accv[idx].sra) == SR_REQ_CHECK;
}


/*
 * Bug 4: a request the glue could not send for want of memory is no
 * word on the registrar: no state change, no move, and it is asked
 * again (probing and checking never stop)
 */
SIM_TEST(test_engine_bug4_unsent_is_no_verdict, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 2);
	struct sr_answer nomem = {ENOMEM, 0, 0, SR_FLOW_UNKNOWN, SR_BINDING_UNKNOWN};
	unsigned nprobe, ncheck, moves;

	sim_set_check(s, 5);
	sim_start(s);
	sim_run(s, 3000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a1].sra));
	moves = s->nmoves;

	/* a probe of the standby account */
	TEST_ASSERT(sim_run_until(s, MIN, probe_in_flight, a1));
	s->accv[a1].probing = false;
	sr_account_answer(s->accv[a1].sra, &nomem, s->now);
	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a1].sra));
	nprobe = s->accv[a1].nprobe;
	sim_run(s, 10000);
	TEST_ASSERT(s->accv[a1].nprobe >= nprobe + 3);

	/* a check of the account in use */
	TEST_ASSERT(sim_run_until(s, MIN, check_in_flight, a0));
	s->accv[a0].probing = false;
	sr_account_answer(s->accv[a0].sra, &nomem, s->now);
	TEST_EQ(SR_ACC_REGISTERED, sr_account_state(s->accv[a0].sra));
	ncheck = s->accv[a0].ncheck;
	sim_run(s, 20000);
	TEST_ASSERT(s->accv[a0].ncheck >= ncheck + 3);

	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(moves, s->nmoves);

	return 0;
}


static bool is_registered(const struct sim *s, int idx)
{
	return sr_account_state(s->accv[idx].sra) == SR_ACC_REGISTERED;
}


/*
 * Issue 10, flow recovery (RFC 5626 4.4.1): the connection of a
 * registered account closes; it registers again at once on a new one,
 * and fails only if that fails.  Recoveries are SR_RECOVER_GAP apart.
 */
SIM_TEST(test_engine_flow_recovery, HOLD, BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 0);
	int a1 = sim_add(s, 1, 0);
	unsigned moves;

	s->accv[a0].flow = SR_FLOW_STREAM;
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(1, s->accv[a0].nflow);
	TEST_ASSERT(s->accv[a0].watched);
	moves = s->nmoves;

	/* a registrar closed it: a new REGISTER at once, watched again */
	sr_account_flow_closed(s->accv[a0].sra, ECONNRESET, s->now);
	TEST_EQ(1, s->accv[a0].nrecover);
	TEST_EQ(SR_ACC_REGISTERING, sr_account_state(s->accv[a0].sra));
	TEST_ASSERT(sim_run_until(s, 1000, is_registered, a0));
	sim_run(s, 1000);
	TEST_ASSERT(s->accv[a0].watched);
	TEST_ASSERT(s->accv[a0].bound);

	/* closed again at once: the next recovery waits for the gap */
	sr_account_flow_closed(s->accv[a0].sra, ECONNRESET, s->now);
	TEST_EQ(1, s->accv[a0].nrecover);
	sim_run(s, SR_RECOVER_GAP * 1000);
	TEST_EQ(2, s->accv[a0].nrecover);
	sim_run(s, 1000);
	TEST_ASSERT(is_registered(s, a0));
	TEST_EQ(moves, s->nmoves);
	TEST_EQ(0, s->accv[a1].nregister);

	/* the connection closed, the new one reaches a registrar that
	   does not answer: the recovery fails at the probe timeout, not
	   at libre's 32 s */
	sim_run(s, SR_RECOVER_GAP * 1000);
	sim_set(s, a0, 0, 0);
	sr_account_flow_closed(s->accv[a0].sra, ECONNRESET, s->now);
	TEST_EQ(3, s->accv[a0].nrecover);
	TEST_ASSERT(sim_run_until(s, SIM_TIMEOUT + 100, tier_current, 1));
	TEST_EQ(ETIMEDOUT, sr_account_last(s->accv[a0].sra, NULL)->err);

	/* back to tier 0 for the last part */
	sim_set(s, a0, 200, 0);
	sim_fail(s, a1, 503);
	TEST_ASSERT(sim_run_until(s, 2 * MIN, tier_current, 0));
	sim_set(s, a1, 200, 0);
	sim_run(s, 1000);

	/* the registrar is gone: the recovery fails, tier 1 takes over */
	sim_run(s, SR_RECOVER_GAP * 1000);
	sim_set(s, a0, 503, 0);
	sr_account_flow_closed(s->accv[a0].sra, ECONNRESET, s->now);
	TEST_ASSERT(s->accv[a0].nrecover >= 4);
	TEST_ASSERT(sim_run_until(s, 5000, tier_current, 1));
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);
	TEST_EQ(a1, s->current);

	return 0;
}


/*
 * Issue 10, RFC 5626 outbound with two flows: the account is registered
 * while a flow is; new calls go through the first flow that works; a
 * dead flow is recovered at once, then with RFC 5626's backoff
 */
SIM_TEST(test_engine_outbound_flows, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_OUTBOUND);
	int b = sim_add(s, 1, 0);
	struct sr_answer reset = {ECONNRESET, 0, 0, SR_FLOW_STREAM, SR_BINDING_UNKNOWN};
	struct sr_account *sra;

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	sra = s->accv[a].sra;

	/* flow 1 answered, flow 2 not yet: nothing is dead */
	sr_account_flows(sra, 0x1, 0x0, NULL, s->now);
	TEST_EQ(0, s->accv[a].nrecover);

	/* both flows up: calls through the first proxy, nothing to do */
	sr_account_flows(sra, 0x3, 0x0, NULL, s->now);
	TEST_EQ(0, s->accv[a].nroute);
	TEST_EQ(0, s->accv[a].nrecover);

	/* flow 1 dies: calls through flow 2, flow 1 recovered at once
	   (the reg clients are built with the configured proxies again:
	   route back to flow 1 first) */
	sr_account_flows(sra, 0x2, 0x1, &reset, s->now);
	TEST_EQ(2, s->accv[a].nroute);
	TEST_EQ(0, s->accv[a].route);
	TEST_EQ(1, s->accv[a].nrecover);
	TEST_ASSERT(sim_run_until(s, 1000, is_registered, a));

	/* still dead after the recovery: calls through flow 2 again, the
	   next recovery waits 45-90 s */
	sr_account_flows(sra, 0x2, 0x1, &reset, s->now);
	TEST_EQ(3, s->accv[a].nroute);
	TEST_EQ(1, s->accv[a].route);
	TEST_EQ(1, s->accv[a].nrecover);
	sim_run(s, 44000);
	TEST_EQ(1, s->accv[a].nrecover);
	sim_run(s, 47000);
	TEST_EQ(2, s->accv[a].nrecover);
	sim_run(s, 1000);

	/* both up again: calls through the first proxy */
	sr_account_flows(sra, 0x3, 0x0, NULL, s->now);
	TEST_EQ(0, s->accv[a].route);

	/* no move: the account stayed registered through a flow */
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(0, s->accv[b].nregister);

	return 0;
}


/* RFC 5626 11.6: every first hop said 439: register without outbound,
   once, instead of failing */
SIM_TEST(test_engine_outbound_439, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_OUTBOUND);
	int b = sim_add(s, 1, 0);
	struct sr_answer no_ob = {0, 439, 0, SR_FLOW_STREAM, SR_BINDING_UNKNOWN};

	sim_start(s);
	sim_run(s, 1000);

	sr_account_reg_failed(s->accv[a].sra, &no_ob, s->now);
	TEST_EQ(1, s->accv[a].nno_outbound);
	TEST_ASSERT(sim_run_until(s, 1000, is_registered, a));
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(0, s->accv[b].nregister);

	/* a second 439 is a failure as any */
	sr_account_reg_failed(s->accv[a].sra, &no_ob, s->now);
	TEST_EQ(1, s->accv[a].nno_outbound);
	TEST_ASSERT(sim_run_until(s, 1000, tier_current, 1));

	return 0;
}


/*
 * Issue 12, ladders: each ladder is one engine, and only the engine
 * that drives baresip's current UA emits CURRENT.  The rule stays: the
 * current UA is a registered account of that ladder's tier in use.
 */
SIM_TEST(test_engine_ladder_drives_current, HOLD, BACKOFF_MAX)
{
	int a = sim_add(s, 0, 2);
	int b = sim_add(s, 1, 2);

	TEST_ASSERT(sr_engine_drives_current(s->eng));
	sr_engine_set_drives_current(s->eng, false);
	TEST_ASSERT(!sr_engine_drives_current(s->eng));

	/* not driving: the ladder works, but names no current UA */
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(-1, s->current);
	TEST_ASSERT(sr_engine_current(s->eng) == NULL);

	sim_fail(s, a, 503);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 1));
	TEST_EQ(-1, s->current);

	/* driving from now on: a registered account of the tier in use at
	   once, and the current UA follows the moves */
	sr_engine_set_drives_current(s->eng, true);
	TEST_EQ(b, s->current);
	TEST_ASSERT(sr_engine_current(s->eng) == s->accv[b].sra);

	sim_set(s, a, 200, 0);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 0));
	TEST_EQ(a, s->current);

	/* no longer driving: it forgets its current UA, emits no CURRENT */
	sr_engine_set_drives_current(s->eng, false);
	TEST_ASSERT(sr_engine_current(s->eng) == NULL);
	s->current = -1;
	sim_fail(s, a, 503);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 1));
	TEST_EQ(-1, s->current);

	return 0;
}


/* two ladders side by side: a fault in one moves only that one */
static int ladder_pair(struct sim *x, struct sim *y)
{
	int xa = sim_add(x, 0, 2), xb = sim_add(x, 1, 2);
	int ya = sim_add(y, 0, 2), yb = sim_add(y, 1, 2);
	unsigned ymoves, yreg, yprobes;
	uint64_t t;

	sr_engine_set_drives_current(y->eng, false);
	sim_start(x);
	sim_start(y);
	sim_run(x, 1000);
	sim_run(y, 1000);
	TEST_ASSERT(is_current(x, 0) && is_current(y, 0));
	TEST_EQ(xa, x->current);
	TEST_EQ(-1, y->current);

	/* ladder x's primary dies: x moves, y sees nothing */
	ymoves  = y->nmoves;
	yreg    = y->accv[ya].nregister + y->accv[yb].nregister;
	yprobes = y->accv[ya].nprobe;
	sim_fail(x, xa, 503);
	for (t = 0; t < MIN; t += 1000) {
		sim_run(x, 1000);
		sim_run(y, 1000);
	}
	TEST_ASSERT(is_current(x, 1) && is_current(y, 0));
	TEST_EQ(xb, x->current);
	TEST_EQ(ymoves, y->nmoves);
	TEST_EQ(yreg, y->accv[ya].nregister + y->accv[yb].nregister);
	TEST_ASSERT(y->accv[ya].bound && !y->accv[yb].bound);
	TEST_EQ(yprobes, y->accv[ya].nprobe);   /* in use: no probe */

	/* ladder y's primary dies: y moves, x and its current UA stay */
	sim_fail(y, ya, 503);
	TEST_ASSERT(sim_run_until(y, MIN, tier_current, 1));
	TEST_ASSERT(is_current(x, 1));
	TEST_EQ(xb, x->current);
	TEST_EQ(-1, y->current);

	/* failback per ladder: x's primary back, y stays on its backup */
	sim_set(x, xa, 200, 0);
	TEST_ASSERT(sim_run_until(x, MIN, tier_current, 0));
	TEST_EQ(xa, x->current);
	TEST_ASSERT(is_current(y, 1));

	return 0;
}


int test_engine_ladders_independent(void)
{
	struct sim x, y;
	int err;

	err = sim_init(&x, HOLD, BACKOFF_MAX);
	if (err)
		return err;

	err = sim_init(&y, HOLD, BACKOFF_MAX);
	if (!err)
		err = ladder_pair(&x, &y);

	sim_close(&y);
	sim_close(&x);

	return err;
}


/*
 * R52 failback spread: once a better tier's account has passed the hold,
 * it waits a uniform 0..failback_spread (no probe meanwhile) before its
 * tier is ready; the draws differ from one failback to the next
 */
SIM_TEST(test_engine_r52_failback_spread, 2, BACKOFF_MAX)
{
	enum {
		SPREAD   = 60,           /* [s] */
		FBREGINT = 10,           /* [s] */
		NROUNDS  = 4,
	};
	int a0 = sim_add(s, 0, FBREGINT);
	int a1 = sim_add(s, 1, FBREGINT);
	uint64_t waited[NROUNDS];
	unsigned i, n;

	s->cfg.failback_spread = SPREAD;
	sr_engine_set_config(s->eng, &s->cfg);

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));

	for (i = 0; i < NROUNDS; i++) {
		uint64_t t_hold;

		sim_fail(s, a0, 0);
		TEST_ASSERT(is_current(s, 1));
		sim_run(s, MIN);

		sim_set(s, a0, 200, 0);
		n = s->accv[a0].nprobe;
		TEST_ASSERT(sim_run_until(s, 10 * MIN, tier_current, 0));
		TEST_EQ(SR_REASON_FAILBACK, s->move_reason);

		/* the hold's two probes, then none while it waits */
		TEST_EQ(n + 2, s->accv[a0].nprobe);
		t_hold = s->accv[a0].probe_at[n + 1] + SIM_RTT;
		TEST_ASSERT(s->now >= t_hold);
		/* ... and its REGISTER is answered */
		TEST_ASSERT(s->now <= t_hold + SPREAD * 1000 + SIM_RTT);
		waited[i] = s->now - t_hold;

		sim_run(s, 1000);
		TEST_ERR(check_bound(s, 0));
		TEST_EQ(a0, s->current);
		TEST_EQ(1, s->accv[a1].nunregister - i);
	}

	for (i = 1; i < NROUNDS; i++)
		if (waited[i] != waited[0])
			break;
	TEST_ASSERT(i < NROUNDS);

	/* off: the failback follows the hold's second probe at once */
	s->cfg.failback_spread = 0;
	sr_engine_set_config(s->eng, &s->cfg);
	sim_fail(s, a0, 0);
	sim_run(s, MIN);
	sim_set(s, a0, 200, 0);
	n = s->accv[a0].nprobe;
	TEST_ASSERT(sim_run_until(s, 10 * MIN, tier_current, 0));
	TEST_EQ(s->accv[a0].probe_at[n + 1] + 2 * SIM_RTT, s->now);

	return 0;
}


/*
 * R53: a 503 + Retry-After to the REGISTER of a tier just chosen is
 * honoured once: no failover, no libre retry (un-REGISTER), a new
 * REGISTER after Retry-After + uniform 0..Retry-After; a second one
 * fails the tier as before
 */
SIM_TEST(test_engine_r53_register_503_retry_after, HOLD, BACKOFF_MAX)
{
	enum {
		RA = 10,                 /* [s] */
	};
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);
	unsigned nunreg;

	/* start: tier 0 sheds load, then takes the REGISTER */
	sim_set(s, a0, 503, RA);
	sim_start(s);
	sim_run(s, 1000);
	TEST_EQ(1, s->accv[a0].nregister);
	TEST_EQ(SR_ACC_REGISTERING, sr_account_state(s->accv[a0].sra));
	TEST_EQ(SR_TRYING, sr_engine_state(s->eng));
	TEST_EQ(0, sr_engine_current_tier(s->eng));
	TEST_EQ(0, s->accv[a1].nregister);
	TEST_EQ(1, s->accv[a0].nunregister);

	sim_set(s, a0, 200, 0);
	sim_run(s, RA * 1000 - 1000 - SIM_RTT - 1);
	TEST_EQ(1, s->accv[a0].nregister);
	TEST_ASSERT(sim_run_until(s, RA * 1000 + 1, tier_current, 0));
	TEST_EQ(2, s->accv[a0].nregister);
	TEST_EQ(0, s->accv[a1].nregister);
	TEST_ERR(check_bound(s, 0));

	/* failover onto a tier that sheds load twice: held once, then
	   the tier fails as before */
	sim_set(s, a1, 503, RA);
	nunreg = s->accv[a1].nunregister;
	sim_fail(s, a0, 0);
	TEST_EQ(1, sr_engine_current_tier(s->eng));
	TEST_EQ(SR_ACC_REGISTERING, sr_account_state(s->accv[a1].sra));
	TEST_EQ(1, s->accv[a1].nregister);
	TEST_EQ(nunreg + 1, s->accv[a1].nunregister);

	TEST_ASSERT(sim_run_until(s, 2 * RA * 1000 + 1000, is_waiting, 0));
	TEST_EQ(2, s->accv[a1].nregister);
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a1].sra));

	return 0;
}


/*
 * Issue 10, outbound with a check: the check goes through the first
 * proxy; a frozen first edge fails it before libre's keep-alive says so.
 * The check is repeated through the second flow's proxy; it passes: no
 * failure, calls stay on the second flow, the flows are built again.
 * If that one fails too, the account fails.
 */
SIM_TEST(test_engine_outbound_check_other_flow, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_OUTBOUND);
	int b = sim_add(s, 1, 0);
	struct sr_answer tmo = {ETIMEDOUT, 0, 0, SR_FLOW_STREAM, SR_BINDING_UNKNOWN};
	struct sr_account *sra;
	unsigned ncheck;

	sim_set_check(s, 5);
	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(is_current(s, 0));
	sra = s->accv[a].sra;
	sr_account_flows(sra, 0x3, 0x0, NULL, s->now);

	/* the check through edge 1 gets no answer */
	TEST_ASSERT(sim_run_until(s, MIN, check_in_flight, a));
	ncheck = s->accv[a].ncheck;
	s->accv[a].probing = false;
	sr_account_answer(sra, &tmo, s->now);
	TEST_EQ(SR_ACC_REGISTERED, sr_account_state(sra));
	TEST_EQ(1, s->accv[a].route);
	TEST_EQ(ncheck + 1, s->accv[a].ncheck);

	/* through edge 2 it passes: the flows are built again */
	sim_run(s, 1000);
	TEST_EQ(1, s->accv[a].nrecover);
	TEST_ASSERT(sim_run_until(s, 1000, is_registered, a));
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(0, s->accv[b].nregister);

	/* flow 1 still silent after the rebuild, flow 2 works: calls
	   stay on flow 2 */
	sr_account_flows(sra, 0x2, 0x0, NULL, s->now);
	TEST_EQ(1, s->accv[a].route);

	/* now the second edge is silent too: its check fails, and the
	   first flow is the one suspected dead: the account fails */
	TEST_ASSERT(sim_run_until(s, MIN, check_in_flight, a));
	s->accv[a].probing = false;
	sr_account_answer(sra, &tmo, s->now);
	TEST_ASSERT(sim_run_until(s, 1000, tier_current, 1));
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);

	return 0;
}


/*
 * Server sets (RFC 3263, issue 10): the registrar of an account is a set
 * of servers; its requests go to one, the others are asked when it
 * fails, and the account fails only when all did.
 */

static bool bound_at(const struct sim *s, int arg)
{
	/* arg: account index * 16 + server */
	const struct sim_acc *a = &s->accv[arg / 16];

	return a->bound && a->bound_srv == arg % 16 &&
		sr_account_state(a->sra) == SR_ACC_REGISTERED;
}


/* tier 0 is a set of two servers, tier 1 one registrar; check 5 s */
static int set_setup(struct sim *s, int *a, int *b)
{
	*a = sim_add(s, 0, 10);
	*b = sim_add(s, 1, 10);
	sim_servers(s, *a, 2, 100);
	sim_set_check(s, 5);
	sim_start(s);

	TEST_ASSERT(sim_run_until(s, 1000, bound_at, *a * 16 + 0));
	TEST_EQ(-1, sr_account_server(s->accv[*b].sra));
	TEST_EQ(0, sr_account_server(s->accv[*a].sra));

	return 0;
}


/**
 * The first server freezes: the check to it times out, the second is
 * asked at once, the account is pinned to it and registers there; no
 * move to tier 1 (issue 10 target: within check + timeout + 1 s).
 */
SIM_TEST(test_engine_set_first_server_frozen, HOLD, BACKOFF_MAX)
{
	int a, b, err;
	uint64_t t0;

	err = set_setup(s, &a, &b);
	if (err)
		return err;

	t0 = s->now;
	sim_set_server(s, a, 0, 0);
	TEST_ASSERT(sim_run_until(s, 5000 + SIM_TIMEOUT + 1000, bound_at,
				  a * 16 + 1));
	TEST_ASSERT(s->now - t0 <= 5000 + SIM_TIMEOUT + 1000);
	TEST_EQ(1, s->accv[a].pin);
	TEST_ASSERT(sr_account_pinned(s->accv[a].sra));
	TEST_EQ(SR_SRV_DEAD, sr_account_server_state(s->accv[a].sra, 0,
						     NULL));
	TEST_EQ(SR_SRV_ALIVE, sr_account_server_state(s->accv[a].sra, 1,
						      NULL));
	TEST_EQ(1, s->nmoves);
	TEST_EQ(0, s->accv[b].nregister);

	/* it stays: refreshes and checks go to the second only */
	sim_run(s, 30000);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(1, s->accv[a].bound_srv);
	TEST_EQ(0, s->accv[b].nregister);

	return 0;
}


/** Every server of the set is silent: only then does the tier fail */
SIM_TEST(test_engine_set_all_servers_dead_moves, HOLD, BACKOFF_MAX)
{
	int a, b, err;

	err = set_setup(s, &a, &b);
	if (err)
		return err;

	sim_set_server(s, a, 0, 0);
	sim_set_server(s, a, 1, 0);
	TEST_ASSERT(sim_run_until(s, MIN, tier_current, 1));
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);
	TEST_ASSERT(s->accv[a].nsrvreq[0] >= 1);
	TEST_ASSERT(s->accv[a].nsrvreq[1] >= 1);

	return 0;
}


/**
 * Pinned to the second server, the first comes back: it is asked at
 * each check once its retry time has passed, and after failback_hold
 * good answers the account goes back to it (unpinned).
 */
SIM_TEST(test_engine_set_back_to_first_after_hold, HOLD, BACKOFF_MAX)
{
	int a, b, err;
	unsigned before;

	err = set_setup(s, &a, &b);
	if (err)
		return err;

	sim_set_server(s, a, 0, 0);
	TEST_ASSERT(sim_run_until(s, MIN, bound_at, a * 16 + 1));

	/* back, but skipped for server_retry (60 s) */
	sim_set_server(s, a, 0, 200);
	before = s->accv[a].nsrvreq[0];
	sim_run(s, 40000);
	TEST_EQ(before, s->accv[a].nsrvreq[0]);
	TEST_EQ(1, s->accv[a].pin);

	TEST_ASSERT(sim_run_until(s, 2 * MIN, bound_at, a * 16 + 0));
	TEST_EQ(0, s->accv[a].pin);
	TEST_ASSERT(!sr_account_pinned(s->accv[a].sra));
	TEST_ASSERT(s->accv[a].nsrvreq[0] >= before + HOLD);
	TEST_EQ(1, s->nmoves);

	return 0;
}


/**
 * Its baresip REGISTER fails while pinned (libre asked only the pinned
 * server): the other servers are asked before the account fails.
 */
SIM_TEST(test_engine_set_pinned_register_fails, HOLD, BACKOFF_MAX)
{
	int a, b, err;

	err = set_setup(s, &a, &b);
	if (err)
		return err;

	sim_set_server(s, a, 0, 0);
	TEST_ASSERT(sim_run_until(s, MIN, bound_at, a * 16 + 1));

	/* the first is back (past its retry), the second refuses */
	sim_set_server(s, a, 0, 200);
	sim_run(s, 61000);
	sim_set_server(s, a, 1, 503);
	sim_refresh_fails(s, a);
	TEST_ASSERT(sim_run_until(s, 10000, bound_at, a * 16 + 0));
	TEST_EQ(1, s->nmoves);
	TEST_EQ(0, s->accv[b].nregister);

	return 0;
}


/**
 * A standby account of a set is probed server by server: a dead first
 * server does not make it dead; chosen, it registers through the live
 * second server at once (pinned before its REGISTER).
 */
SIM_TEST(test_engine_set_standby_probes_each_server, HOLD, BACKOFF_MAX)
{
	int a = sim_add(s, 0, 10);
	int b = sim_add(s, 1, 10);

	sim_servers(s, a, 2, 100);
	sim_set_server(s, a, 0, 0);
	sim_set_server(s, a, 1, 0);
	sim_start(s);
	TEST_ASSERT(sim_run_until(s, 2 * MIN, tier_current, 1));

	/* the second server comes back, the first stays silent */
	sim_set_server(s, a, 1, 200);
	TEST_ASSERT(sim_run_until(s, 2 * MIN, bound_at, a * 16 + 1));
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(1, s->accv[a].pin);
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	TEST_ASSERT(!s->accv[b].bound);

	return 0;
}


/**
 * The set changes (DNS TTL): what is known of a server that stays is
 * kept; the pinned server leaves the set: the account is pinned to the
 * best of the new set and registers again there.
 */
SIM_TEST(test_engine_set_change_pinned_server_leaves, HOLD, BACKOFF_MAX)
{
	struct sr_account *sra;
	uint32_t keys[2];
	int a, b, err;
	unsigned nrec;

	err = set_setup(s, &a, &b);
	if (err)
		return err;

	sra = s->accv[a].sra;
	sim_set_server(s, a, 0, 0);
	TEST_ASSERT(sim_run_until(s, MIN, bound_at, a * 16 + 1));

	/* the new set: the dead first server (kept dead), a new one */
	keys[0] = 100;
	keys[1] = 200;
	s->accv[a].srv_code[1] = 200;
	nrec = s->accv[a].nrecover;
	sr_account_servers(sra, 2, keys, s->now);
	TEST_EQ(SR_SRV_DEAD, sr_account_server_state(sra, 0, NULL));
	TEST_EQ(SR_SRV_UNKNOWN, sr_account_server_state(sra, 1, NULL));
	TEST_EQ(nrec + 1, s->accv[a].nrecover);
	TEST_EQ(1, s->accv[a].pin);
	TEST_ASSERT(sim_run_until(s, 5000, bound_at, a * 16 + 1));

	/* one server only: no set, not pinned */
	sr_account_servers(sra, 1, keys, s->now);
	s->accv[a].nsrv = 1;
	TEST_EQ(-1, sr_account_server(sra));
	TEST_ASSERT(!sr_account_pinned(sra));

	return 0;
}


/** A failed server with Retry-After is skipped that long, not less */
SIM_TEST(test_engine_set_retry_after_skips_server, HOLD, BACKOFF_MAX)
{
	struct sr_answer ra = {0, 503, 300, SR_FLOW_DGRAM, SR_BINDING_UNKNOWN};
	struct sr_account *sra;
	uint64_t retry_at = 0;
	int a, b, err;

	err = set_setup(s, &a, &b);
	if (err)
		return err;

	sra = s->accv[a].sra;
	TEST_ASSERT(sim_run_until(s, MIN, check_in_flight, a));
	s->accv[a].probing = false;
	sr_account_answer(sra, &ra, s->now);
	TEST_EQ(SR_SRV_DEAD, sr_account_server_state(sra, 0, &retry_at));
	TEST_EQ(s->now + 300000, retry_at);
	TEST_ASSERT(sim_run_until(s, 5000, bound_at, a * 16 + 1));

	return 0;
}


/**
 * Its set is resolved after it registered (the glue resolves while
 * baresip registers at start): it registers again through the first
 * server, named, so that no reg client of it routes by DNS order (whose
 * un-REGISTER would go on to the next server and remove the binding
 * made there after a pin, issue 10).
 */
SIM_TEST(test_engine_set_first_resolution_names_the_route, HOLD,
	 BACKOFF_MAX)
{
	int a = sim_add(s, 0, 10);
	unsigned nrec;

	sim_set_check(s, 5);
	sim_start(s);
	TEST_ASSERT(sim_run_until(s, 1000, is_registered, a));
	TEST_EQ(-1, s->accv[a].pin);
	nrec = s->accv[a].nrecover;

	sim_servers(s, a, 2, 100);
	TEST_EQ(1, s->accv[a].npin);
	TEST_EQ(0, s->accv[a].pin);
	TEST_EQ(nrec + 1, s->accv[a].nrecover);
	TEST_ASSERT(!sr_account_pinned(s->accv[a].sra));
	TEST_ASSERT(sim_run_until(s, 1000, bound_at, a * 16 + 0));

	/* the same set again: nothing */
	sim_servers(s, a, 2, 100);
	TEST_EQ(1, s->accv[a].npin);
	TEST_EQ(nrec + 1, s->accv[a].nrecover);

	/* one server left: no set, the configured route again */
	sim_servers(s, a, 1, 100);
	TEST_EQ(2, s->accv[a].npin);
	TEST_EQ(-1, s->accv[a].pin);
	TEST_EQ(-1, sr_account_server(s->accv[a].sra));

	return 0;
}


/*
 * Reg-client generations (issue 17): a reg client replaced while its
 * REGISTER is in flight, or bound, sends its un-REGISTER after the new
 * registration (registrars that do not challenge: nothing holds it
 * back).  The binding it removes is repaired once its late requests
 * are over, within a second when the server answers.
 */
SIM_TEST(test_engine_gen_set_known_while_first_register_in_flight, HOLD,
	 BACKOFF_MAX)
{
	int a = sim_add(s, 0, 10);
	uint64_t t;

	sim_set_check(s, 5);
	sim_start(s);

	/* the set arrives before the first REGISTER is answered */
	TEST_ASSERT(s->accv[a].registering);
	sim_servers(s, a, 2, 100);
	TEST_EQ(0, s->accv[a].pin);
	TEST_EQ(1, s->accv[a].nrecover);

	/* the old client's un-REGISTER removed the new binding ... */
	TEST_ASSERT(sim_run_until(s, 1000, bound_at, a * 16 + 0));
	t = s->now;
	sim_run(s, 200);
	TEST_EQ(1, s->accv[a].nlate_unbind);
	TEST_ASSERT(!s->accv[a].bound);

	/* ... and the repair restores it within about a second */
	TEST_ASSERT(sim_run_until(s, 1500, bound_at, a * 16 + 0));
	TEST_ASSERT(s->now - t <= 1500);
	TEST_EQ(1, s->accv[a].nquery);
	TEST_EQ(1, s->accv[a].nrepair);

	/* it holds: two refresh-free minutes, no second repair */
	sim_run(s, 2 * MIN);
	TEST_ASSERT(s->accv[a].bound);
	TEST_EQ(1, s->accv[a].nrepair);
	TEST_EQ(1, s->accv[a].nlate_unbind);

	return 0;
}


/* a flow recovery of a bound account at the same server: the old
   client's un-REGISTER goes first, on the same route; the window's
   query finds the binding held, and no repair REGISTER goes out */
SIM_TEST(test_engine_gen_recover_bound_queried, HOLD, BACKOFF_MAX)
{
	int a = sim_add(s, 0, 10);

	s->accv[a].flow = SR_FLOW_STREAM;
	sim_set_check(s, 5);
	sim_start(s);
	TEST_ASSERT(sim_run_until(s, 1000, is_registered, a));
	sim_run(s, 6000);
	TEST_ASSERT(s->accv[a].watched);

	/* the registrar dropped the connection: registered again */
	sr_account_flow_closed(s->accv[a].sra, ECONNRESET, s->now);
	TEST_EQ(1, s->accv[a].nrecover);
	sim_run(s, 3000);
	TEST_EQ(0, s->accv[a].nlate_unbind);
	TEST_EQ(1, s->accv[a].nquery);
	TEST_EQ(0, s->accv[a].nrepair);
	TEST_ASSERT(s->accv[a].bound);

	return 0;
}



/* the server in use goes silent before the repair is due: the query
   fails as a check does, the set is searched, no tier move */
SIM_TEST(test_engine_gen_repair_to_dead_server_searches_set, HOLD,
	 BACKOFF_MAX)
{
	int a0 = sim_add(s, 0, 10);
	int a1 = sim_add(s, 1, 10);

	/* (no check before the repair's deadline) */
	sim_set_check(s, 30);
	sim_start(s);
	sim_servers(s, a0, 2, 100);
	TEST_ASSERT(sim_run_until(s, 1000, bound_at, a0 * 16 + 0));

	sim_set_server(s, a0, 0, 0);
	TEST_ASSERT(sim_run_until(s, 10000, bound_at, a0 * 16 + 1));
	TEST_EQ(1, s->accv[a0].nquery);
	TEST_EQ(0, s->accv[a0].nrepair);
	TEST_EQ(1, s->accv[a0].pin);
	TEST_ASSERT(is_current(s, 0));
	TEST_EQ(0, s->nmoves - 1);
	TEST_EQ(0, s->accv[a1].nregister);

	return 0;
}


/* baresip re-registers an outbound account on its own (a net change)
   while new calls go through the second edge: the first proxy is the
   first flow's route again before baresip builds the reg clients (in
   its REGISTERING), so the two flows do not share one edge */
SIM_TEST(test_engine_gen_net_change_restores_route, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_OUTBOUND);
	struct sr_account *sra;
	unsigned nroute;

	sim_set_check(s, 5);
	sim_start(s);
	sim_run(s, 1000);
	sra = s->accv[a].sra;
	sr_account_flows(sra, 0x2, 0x0, NULL, s->now);
	TEST_EQ(1, s->accv[a].route);
	nroute = s->accv[a].nroute;

	/* baresip's own REGISTERING: not one of serreg's actions */
	sr_account_registering(sra, s->now);
	TEST_EQ(nroute + 1, s->accv[a].nroute);
	TEST_EQ(0, s->accv[a].route);
	TEST_EQ(0, s->accv[a].nhold);

	/* serreg's own RECOVER raises one too: nothing more */
	nroute = s->accv[a].nroute;
	sr_account_flow_closed(sra, ECONNRESET, s->now);
	sr_account_registering(sra, s->now);
	TEST_EQ(nroute, s->accv[a].nroute);

	return 0;
}


/* a REGISTER the glue did not send (baresip's client of an adopted UA
   registers it already: no REGISTERING follows): told, the engine takes
   the next REGISTERING for baresip's own (a net change), not for that
   REGISTER's */
SIM_TEST(test_engine_gen_reg_kept_next_registering_is_own, HOLD,
	 BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_OUTBOUND | SR_ACC_F_LIVE);
	struct sr_account *sra;
	unsigned nroute;

	sim_start(s);
	sra = s->accv[a].sra;
	TEST_EQ(1, s->accv[a].nregister);
	sr_account_flows(sra, 0x2, 0x0, NULL, s->now);
	TEST_EQ(1, s->accv[a].route);
	nroute = s->accv[a].nroute;

	sr_account_reg_kept(sra);
	sr_account_registering(sra, s->now);
	TEST_EQ(nroute + 1, s->accv[a].nroute);
	TEST_EQ(0, s->accv[a].route);
	TEST_EQ(0, s->accv[a].nhold);

	return 0;
}


/* a TLS account whose set is resolved while its registrar is verified
   (the gate): its REGISTER after the gate goes through a named server,
   so that the un-REGISTER of that reg client, when a pin replaces it,
   goes to its own server only (a DNS route would go on to the next
   server and remove the binding made there) */
SIM_TEST(test_engine_gen_set_during_gate_pins_first, HOLD, BACKOFF_MAX)
{
	int a = sim_add_flags(s, 0, 0, SR_ACC_F_GATE);

	sim_start(s);
	TEST_EQ(SR_ACC_VERIFYING, sr_account_state(s->accv[a].sra));
	TEST_EQ(0, s->accv[a].nregister);

	sim_servers(s, a, 2, 100);
	TEST_EQ(0, s->accv[a].pin);
	TEST_EQ(1, s->accv[a].npin);

	TEST_ASSERT(sim_run_until(s, 2000, bound_at, a * 16 + 0));
	TEST_EQ(1, s->accv[a].nregister);
	TEST_EQ(0, s->accv[a].built);
	TEST_EQ(0, s->accv[a].nrecover);

	return 0;
}
