/**
 * @file test_calls.c  Calls that meet a dead tier (issue 19), in virtual
 *                     time
 *
 * The engine's part: which account a call is placed again through
 * (sr_engine_fallback), and an outgoing call as evidence on its first
 * hop (sr_account_call_placed, sr_account_call_failed): the account's
 * registrar is checked at once, and only the check's verdict fails it.
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
	FBREGINT = 10,
};


static bool in_use(const struct sim *s, int prio)
{
	return sr_engine_current_tier(s->eng) == prio &&
		sr_engine_state(s->eng) == SR_REGISTERED;
}


/* three tiers, one account each, probing; started, tier 0 in use */
static int ladder3(struct sim *s, bool concurrent, int *a0, int *a1,
		   int *a2)
{
	sim_set_concurrent(s, concurrent);
	*a0 = sim_add(s, 0, FBREGINT);
	*a1 = sim_add(s, 1, FBREGINT);
	*a2 = sim_add(s, 2, FBREGINT);
	TEST_ASSERT(*a0 >= 0 && *a1 >= 0 && *a2 >= 0);

	sim_start(s);
	sim_run(s, 1000);
	TEST_ASSERT(in_use(s, 0));

	return 0;
}


/* The fallback: the next tier below the one in use, skipping one known
   dead; none below the worst tier */
SIM_TEST(test_calls_fallback_next_live_tier, HOLD, BACKOFF_MAX)
{
	int a0, a1, a2;

	TEST_ERR(ladder3(s, false, &a0, &a1, &a2));
	TEST_ASSERT(s->accv[a1].sra == sr_engine_fallback(s->eng));

	/* tier 1 is found dead by its probes: tier 2 */
	sim_set(s, a1, 503, 0);
	sim_run(s, 2 * FBREGINT * 1000);
	TEST_EQ(SR_ACC_DEAD, sr_account_state(s->accv[a1].sra));
	TEST_ASSERT(s->accv[a2].sra == sr_engine_fallback(s->eng));

	/* tier 2 too: none */
	sim_set(s, a2, 503, 0);
	sim_run(s, 2 * FBREGINT * 1000);
	TEST_ASSERT(NULL == sr_engine_fallback(s->eng));

	return 0;
}


/* Concurrent: the hot standby's registered account */
SIM_TEST(test_calls_fallback_hot_standby, HOLD, BACKOFF_MAX)
{
	int a0, a1, a2;

	TEST_ERR(ladder3(s, true, &a0, &a1, &a2));
	TEST_EQ(1, sr_engine_hot_tier(s->eng));
	TEST_EQ(SR_ACC_REGISTERED, sr_account_state(s->accv[a1].sra));
	TEST_ASSERT(s->accv[a1].sra == sr_engine_fallback(s->eng));
	TEST_ASSERT(s->eng == sr_account_engine(s->accv[a0].sra));

	/* a call through the tier in use goes again through the hot
	   standby; one through the hot standby (a dial that picked its
	   UA) through the tier in use */
	TEST_ASSERT(s->accv[a1].sra == sr_account_fallback(s->accv[a0].sra));
	TEST_ASSERT(s->accv[a0].sra == sr_account_fallback(s->accv[a1].sra));

	/* the hot standby fails; tier 2, whose registrar is silent, takes
	   its place and is the fallback while it registers */
	sim_set(s, a2, 0, 0);
	sim_fail(s, a1, 503);
	TEST_EQ(2, sr_engine_hot_tier(s->eng));
	TEST_ASSERT(s->accv[a2].sra == sr_engine_fallback(s->eng));

	/* one good probe of tier 1 is not the failback hold: it failed
	   while registered (spent), tier 2 stays the fallback */
	sim_set(s, a1, 200, 0);
	sim_run(s, FBREGINT * 1000 + 1000);
	TEST_EQ(SR_ACC_ALIVE, sr_account_state(s->accv[a1].sra));
	TEST_EQ(2, sr_engine_hot_tier(s->eng));
	TEST_ASSERT(s->accv[a2].sra == sr_engine_fallback(s->eng));

	return 0;
}


/* A call placed through the account in use checks its registrar at
   once; a silent one fails it after the probe timeout and the ladder
   moves */
SIM_TEST(test_calls_placed_checks_at_once, HOLD, BACKOFF_MAX)
{
	int a0, a1, a2;
	unsigned nmoves;
	uint64_t t0;

	TEST_ERR(ladder3(s, false, &a0, &a1, &a2));
	TEST_EQ(0, s->accv[a0].ncheck);
	nmoves = s->nmoves;

	/* a live registrar: one check, passed, nothing moves */
	sr_account_call_placed(s->accv[a0].sra, s->now);
	TEST_EQ(1, s->accv[a0].ncheck);
	sim_run(s, 1000);
	TEST_ASSERT(in_use(s, 0));
	TEST_EQ(nmoves, s->nmoves);

	/* a frozen one: the check times out, the tier fails */
	sim_set(s, a0, 0, 0);
	t0 = s->now;
	sr_account_call_placed(s->accv[a0].sra, s->now);
	TEST_EQ(2, s->accv[a0].ncheck);

	/* a second call while the check is out adds none */
	sr_account_call_placed(s->accv[a0].sra, s->now);
	TEST_EQ(2, s->accv[a0].ncheck);

	TEST_ASSERT(sim_run_until(s, SIM_TIMEOUT + 1000, in_use, 1));
	TEST_ASSERT(s->now - t0 <= SIM_TIMEOUT + SIM_RTT * 2);
	TEST_EQ(SR_REASON_TIER_FAILED, s->move_reason);

	/* a call through an account not in use checks nothing */
	sr_account_call_placed(s->accv[a2].sra, s->now);
	TEST_EQ(0, s->accv[a2].ncheck);

	return 0;
}


/* A call refused by the far end is no evidence; a transport error, a
   408 or a 503 is, and only the check's verdict counts */
SIM_TEST(test_calls_failed_is_evidence, HOLD, BACKOFF_MAX)
{
	struct sr_answer ans;
	int a0, a1, a2;
	unsigned nmoves;

	TEST_ERR(ladder3(s, false, &a0, &a1, &a2));
	nmoves = s->nmoves;
	memset(&ans, 0, sizeof(ans));

	ans.scode = 486;
	sr_account_call_failed(s->accv[a0].sra, &ans, s->now);
	ans.scode = 404;
	sr_account_call_failed(s->accv[a0].sra, &ans, s->now);
	TEST_EQ(0, s->accv[a0].ncheck);

	/* a 503 relayed from the far end: the check passes, no move */
	ans.scode = 503;
	sr_account_call_failed(s->accv[a0].sra, &ans, s->now);
	TEST_EQ(1, s->accv[a0].ncheck);
	sim_run(s, 1000);
	TEST_ASSERT(in_use(s, 0));
	TEST_EQ(nmoves, s->nmoves);

	/* a transport error from a registrar that refuses: it fails */
	memset(&ans, 0, sizeof(ans));
	ans.err = ECONNREFUSED;
	sim_set(s, a0, 503, 0);
	sr_account_call_failed(s->accv[a0].sra, &ans, s->now);
	TEST_EQ(2, s->accv[a0].ncheck);
	sim_run(s, 1000);
	TEST_ASSERT(in_use(s, 1));

	return 0;
}


/* The account's timer fires while a call's check is out (here the
   periodic check, 3 s, shorter than the probe timeout): nothing
   replaces the call's check, so the failure comes at its deadline */
SIM_TEST(test_calls_check_not_replaced_by_timer, HOLD, BACKOFF_MAX)
{
	int a0, a1, a2;
	unsigned ncheck;
	uint64_t t0;

	sim_set_check(s, 3);
	TEST_ERR(ladder3(s, false, &a0, &a1, &a2));
	sim_run(s, 500);
	TEST_ASSERT(in_use(s, 0));

	sim_set(s, a0, 0, 0);
	ncheck = s->accv[a0].ncheck;
	t0 = s->now;
	sr_account_call_placed(s->accv[a0].sra, s->now);
	TEST_EQ(ncheck + 1, s->accv[a0].ncheck);

	TEST_ASSERT(sim_run_until(s, SIM_TIMEOUT + 1000, in_use, 1));
	TEST_ASSERT(s->now - t0 <= SIM_TIMEOUT + SIM_RTT * 2);
	TEST_EQ(ncheck + 1, s->accv[a0].ncheck);

	return 0;
}
