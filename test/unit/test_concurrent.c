/**
 * @file test_concurrent.c  Concurrent registration: the hot standby, in
 *                          virtual time
 *
 * With sr_config.concurrent the next live tier below the one in use is
 * registered too (the hot standby): a failure of the tier in use moves
 * to it with no REGISTER in the path, a failback makes the tier left
 * the hot standby and releases the one below.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "sim.h"
#include "test.h"


/* the world of these tests: hold 2, backoff up to 300 s, probes every
   10 s; a minute of virtual time */
#define CONC_TEST(name) SIM_TEST(name, 2, 300)

enum {
	FBREGINT = 10,
	MINUTE = 60000,
};


/* tier prio is in use and registered */
static bool in_use(const struct sim *s, int prio)
{
	return sr_engine_state(s->eng) == SR_REGISTERED &&
		sr_engine_current_tier(s->eng) == prio;
}


/* exactly the accounts of tiers p and q whose registrar answers are
   bound (q = -1: only p) */
static int check_bound(const struct sim *s, int p, int q)
{
	size_t i;

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		const struct sim_acc *a = &s->accv[i];
		bool want;

		if (!a->used)
			continue;

		want = ((int)a->prio == p || (int)a->prio == q) &&
			a->code == 200;
		if (want != a->bound) {
			fprintf(stderr, "  account %zu (tier %u): bound %d\n",
				i, a->prio, a->bound);
			return EINVAL;
		}
	}

	return 0;
}


/* the engine's hot standby, the last action's, and the status' agree */
static int check_hot(const struct sim *s, int prio)
{
	TEST_EQ(prio, sr_engine_hot_tier(s->eng));
	TEST_EQ(prio, s->hot);

	return 0;
}


/* account idx (arg) is alive: its last probe was good */
static bool probed_good(const struct sim *s, int idx)
{
	return sr_account_state(s->accv[idx].sra) == SR_ACC_ALIVE;
}


/* three tiers, one account each, probing; concurrent; started */
static int ladder3(struct sim *s, int *a0, int *a1, int *a2)
{
	sim_set_concurrent(s, true);
	*a0 = sim_add(s, 0, FBREGINT);
	*a1 = sim_add(s, 1, FBREGINT);
	*a2 = sim_add(s, 2, FBREGINT);
	TEST_ASSERT(*a0 >= 0 && *a1 >= 0 && *a2 >= 0);

	sim_start(s);
	sim_run(s, 1000);

	return 0;
}


/* The start: the best tier is in use, the next one is the hot standby,
   registered; the tier below only probed */
CONC_TEST(test_concurrent_start_registers_two_tiers)
{
	int a0, a1, a2;

	TEST_ERR(ladder3(s, &a0, &a1, &a2));

	TEST_ASSERT(in_use(s, 0));
	TEST_ERR(check_hot(s, 1));
	TEST_EQ(a0, s->current);
	TEST_EQ(1, s->accv[a1].nregister);
	TEST_EQ(0, s->accv[a2].nregister);
	TEST_ERR(check_bound(s, 0, 1));
	TEST_ASSERT(sr_account_hot(s->accv[a1].sra));
	TEST_ASSERT(!sr_account_hot(s->accv[a0].sra));
	TEST_ASSERT(!sr_account_hot(s->accv[a2].sra));

	/* a minute on: still two tiers, the hot standby is not probed */
	sim_run(s, MINUTE);
	TEST_ERR(check_bound(s, 0, 1));
	TEST_EQ(0, s->accv[a1].nprobe);
	TEST_EQ(1, s->nhot);

	return 0;
}


/* The tier in use fails: the hot standby is in use at once, with no
   REGISTER of its own; the tier below becomes the hot standby */
CONC_TEST(test_concurrent_failure_moves_without_register)
{
	int a0, a1, a2;
	unsigned nreg;

	TEST_ERR(ladder3(s, &a0, &a1, &a2));
	nreg = s->accv[a1].nregister;

	sim_set(s, a0, 0, 0);
	sim_refresh_fails(s, a0);

	/* at once: no time has passed */
	TEST_ASSERT(in_use(s, 1));
	TEST_EQ(a1, s->current);
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);
	TEST_EQ(nreg, s->accv[a1].nregister);
	TEST_ERR(check_hot(s, 2));
	TEST_EQ(1, s->accv[a0].nunregister);

	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 1, 2));
	TEST_EQ(1, s->accv[a2].nregister);

	return 0;
}


/* Failback: the better tier registers while the two stay; once it is
   bound it is in use, the tier left is the hot standby and the one
   below is released */
CONC_TEST(test_concurrent_failback_keeps_two_tiers)
{
	int a0, a1, a2;

	TEST_ERR(ladder3(s, &a0, &a1, &a2));
	sim_fail(s, a0, 0);
	TEST_ASSERT(in_use(s, 1));
	TEST_ERR(check_bound(s, 1, 2));

	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, 5 * MINUTE, in_use, 0));
	TEST_EQ(SR_REASON_FAILBACK, s->move_reason);
	TEST_EQ(a0, s->current);
	TEST_ERR(check_hot(s, 1));

	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 0, 1));
	TEST_EQ(1, s->accv[a2].nunregister);
	TEST_EQ(0, s->accv[a1].nunregister);

	/* the released tier is probed again, and stays released */
	sim_run(s, MINUTE);
	TEST_ASSERT(s->accv[a2].nprobe > 0);
	TEST_ERR(check_bound(s, 0, 1));

	return 0;
}


/* The hot standby fails: no move; the next live tier below is the hot
   standby; the failed one is probed and comes back as it once alive */
CONC_TEST(test_concurrent_hot_failure_takes_next)
{
	int a0, a1, a2;
	unsigned nmoves;

	TEST_ERR(ladder3(s, &a0, &a1, &a2));
	nmoves = s->nmoves;

	sim_fail(s, a1, 503);
	TEST_ASSERT(in_use(s, 0));
	TEST_EQ(nmoves, s->nmoves);
	TEST_ERR(check_hot(s, 2));
	TEST_ERR(check_bound(s, 0, 2));
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a1].sra));

	/* tier 1 answers again: one good probe is not enough (the
	   failback hold, 2, applies as for a failback: a flapping backup
	   does not register and leave at every probe) ... */
	sim_set(s, a1, 200, 0);
	TEST_ASSERT(sim_run_until(s, 2 * FBREGINT * 1000, probed_good,
				  a1));
	TEST_ERR(check_hot(s, 2));

	/* ... the second makes it the hot standby again (the next live
	   tier), tier 2 is released */
	sim_run(s, 2 * FBREGINT * 1000);
	TEST_ERR(check_hot(s, 1));
	TEST_ERR(check_bound(s, 0, 1));
	TEST_EQ(1, s->accv[a2].nunregister);

	return 0;
}


/* Two tiers: the one in use fails, the hot standby takes over and no
   tier is left to be the hot standby; the failback brings it back */
CONC_TEST(test_concurrent_two_tiers_failure_and_failback)
{
	int a0, a1;

	sim_set_concurrent(s, true);
	a0 = sim_add(s, 0, FBREGINT);
	a1 = sim_add(s, 1, FBREGINT);
	sim_start(s);
	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 0, 1));
	TEST_ASSERT(sr_account_hot(s->accv[a1].sra));

	sim_fail(s, a0, 0);
	TEST_ASSERT(in_use(s, 1));
	TEST_ERR(check_hot(s, -1));
	TEST_ERR(check_bound(s, 1, -1));

	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, 5 * MINUTE, in_use, 0));
	TEST_ERR(check_hot(s, 1));
	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 0, 1));
	TEST_EQ(a0, s->current);

	return 0;
}


/* A hot standby that fails and is not probed (fbregint 0) is not
   registered again until a new round: no REGISTER loop */
CONC_TEST(test_concurrent_unprobed_hot_failure_no_loop)
{
	int a0, a1, a2;

	sim_set_concurrent(s, true);
	a0 = sim_add(s, 0, FBREGINT);
	a1 = sim_add(s, 1, 0);
	a2 = sim_add(s, 2, 0);
	sim_start(s);
	sim_run(s, 1000);
	TEST_ERR(check_hot(s, 1));

	sim_fail(s, a1, 503);
	sim_run(s, 10 * MINUTE);
	TEST_EQ(1, s->accv[a1].nregister);
	TEST_ERR(check_hot(s, 2));
	TEST_ERR(check_bound(s, 0, 2));
	TEST_EQ(a0, s->current);
	TEST_EQ(1, s->accv[a2].nregister);

	return 0;
}


/* Off (the default): one tier only, no hot standby ever */
CONC_TEST(test_concurrent_off_registers_one_tier)
{
	int a0 = sim_add(s, 0, FBREGINT);
	int a1 = sim_add(s, 1, FBREGINT);

	sim_start(s);
	sim_run(s, 1000);
	sim_fail(s, a0, 0);
	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, 5 * MINUTE, in_use, 0));
	sim_run(s, 1000);

	TEST_EQ(0, s->nhot);
	TEST_EQ(-1, sr_engine_hot_tier(s->eng));
	TEST_ERR(check_bound(s, 0, -1));
	TEST_EQ(a0, s->current);
	(void)a1;

	return 0;
}


static bool promoting(const struct sim *s, int arg)
{
	(void)arg;
	return sr_engine_state(s->eng) == SR_PROMOTING;
}


/* The tier in use fails while a failback's REGISTER is in flight: the
   registered hot standby is in use at once (the failback goes on), not
   the target that is not bound yet; the phone is never bound nowhere
   (found by the fleet simulator's author) */
CONC_TEST(test_concurrent_failure_while_promoting_takes_hot)
{
	int a0, a1, a2;
	unsigned nreg2;

	TEST_ERR(ladder3(s, &a0, &a1, &a2));
	sim_fail(s, a0, 0);
	TEST_ASSERT(in_use(s, 1));
	TEST_ERR(check_hot(s, 2));

	sim_set(s, a0, 200, 0);
	TEST_ASSERT(sim_run_until(s, 5 * MINUTE, promoting, 0));
	TEST_ASSERT(!s->accv[a0].bound);
	nreg2 = s->accv[a2].nregister;

	sim_set(s, a1, 0, 0);
	sim_refresh_fails(s, a1);

	/* at once: tier 2 in use, still bound, the failback goes on */
	TEST_EQ(2, sr_engine_current_tier(s->eng));
	TEST_EQ(SR_PROMOTING, sr_engine_state(s->eng));
	TEST_EQ(0, sr_engine_target_tier(s->eng));
	TEST_ASSERT(s->accv[a2].bound);
	TEST_EQ(0, s->accv[a2].nunregister);
	TEST_EQ(a2, s->current);

	/* the failback completes: tier 0 in use, tier 2 the hot standby
	   (tier 1 failed), never released in between */
	TEST_ASSERT(sim_run_until(s, MINUTE, in_use, 0));
	TEST_ERR(check_hot(s, 2));
	sim_run(s, 1000);
	TEST_ERR(check_bound(s, 0, 2));
	TEST_EQ(nreg2, s->accv[a2].nregister);
	TEST_EQ(0, s->accv[a2].nunregister);

	return 0;
}
