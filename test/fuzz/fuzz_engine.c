/**
 * @file fuzz_engine.c  libFuzzer target: the policy engine (engine*.c)
 *
 * The input is decoded into a sequence of events: accounts added and
 * removed (random prio and fbregint), REGISTER answers, probe and check
 * answers (random codes, errors, Retry-After), the account and engine
 * timers, time going forward, settings changed.  The engine's actions are
 * tracked per account, and after every step the invariants are checked:
 *
 *  - at most one current tier: registrations are held by the tier in use
 *    (and the tier being promoted to), the MOVE actions agree with
 *    sr_engine_current_tier()
 *  - no standby (non-active) account holds a registration, every active
 *    one was asked to register
 *  - no action ever names a removed account, and the engine's ladder
 *    (sr_engine_apply) holds exactly the accounts added and not removed
 *  - timers are sane: bounded delays, account timers only for accounts
 *    that probe or are checked, a round timer armed while waiting
 *  - the state agrees with the accounts (trying: one is registering;
 *    registered: one is registered or registering, and then baresip's
 *    current UA is a registered account of the tier in use, R3)
 *  - no failback MOVE away from a tier with a call (R34)
 *  - concurrent registration (issue 19): at most two tiers hold
 *    registrations, three while promoting; the hot standby is below the
 *    tier in use, exists only in REGISTERED and PROMOTING, and is the
 *    next live tier (a tier below whose account passed the failback
 *    hold is it, or one above it is); HOT_STANDBY actions agree with
 *    sr_engine_hot_tier(); none when concurrent is off
 *  - CURRENT only from an engine that drives baresip's current UA
 *    (issue 12: one ladder of several does); an engine that does not
 *    names no current UA, one turned into the driver names one at once
 *
 * Several ladders are several engines: the engine has no static state,
 * so two engines share nothing and each keeps these invariants on its
 * own; what is shared, the driving of the current UA, is fuzzed here
 * (sr_engine_set_drives_current at any step).
 *
 * A violation prints what went wrong and the steps so far, then aborts.
 * FUZZ_TRACE=1 in the environment prints every step and action.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "engine.h"


enum {
	NSLOTS    = 16,    /* accounts alive at a time          */
	NSTEPS    = 400,   /* steps per input                   */
	FIRST_MAX = 1000,  /* [ms] spread of the first probes   */
};


/** One account slot; id 0 = free */
struct slot {
	unsigned id;               /**< unique over the run, the ref      */
	struct sr_account *sra;
	uint32_t prio;
	uint32_t fbregint;
	bool reg;                  /**< REGISTER without UNREGISTER since */
	bool timer;
	uint64_t timer_at;
	bool probing;              /**< a request in flight               */
	bool gate;                 /**< added with SR_ACC_F_GATE          */
	uint32_t retry_max;        /**< largest Retry-After given [s]     */
	bool busy;                 /**< its UA has a call (R34)           */
	bool ra_wait;              /**< off baresip after a 503 + Retry-After
				        to its REGISTER, to register again
				        at its timer (R53)                */
};

struct world {
	struct sr_engine *eng;
	struct sr_config cfg;
	uint32_t backoff_max_seen;   /**< largest backoff_max ever set  */
	uint32_t check_max_seen;     /**< largest check_interval ever set */
	uint32_t spread_max_seen;    /**< largest failback_spread ever set */
	const uint8_t *p;
	size_t n;
	uint64_t now;
	unsigned next_id;
	struct slot slotv[NSLOTS];
	bool round;
	uint64_t round_at;
	int moved_to;                /**< tier of the last MOVE, -1 none */
	int hot_to;                  /**< tier of the last HOT_STANDBY  */
	unsigned current_id;         /**< account of the last CURRENT   */
	bool drives;                 /**< the engine drives the current UA */
	bool started;
	unsigned step;
	bool trace;
	char hist[4096];             /**< the last steps, for reports    */
	size_t histlen;
};


static void hist(struct world *w, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;

	if (w->trace)
		fprintf(stderr, "%s\n", line);

	/* keep the tail */
	if (w->histlen + (size_t)n + 2 > sizeof(w->hist)) {
		size_t cut = w->histlen / 2;

		memmove(w->hist, w->hist + cut, w->histlen - cut);
		w->histlen -= cut;
	}

	memcpy(w->hist + w->histlen, line, (size_t)n);
	w->histlen += (size_t)n;
	w->hist[w->histlen++] = '\n';
	w->hist[w->histlen] = '\0';
}


#define CHECK(w, cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_engine: step %u: "	\
				"invariant failed: %s\n  ",		\
				(w)->step, #cond);			\
			fprintf(stderr, __VA_ARGS__);			\
			fprintf(stderr, "\n--- last steps:\n%s",	\
				(w)->hist);				\
			abort();					\
		}							\
	} while (0)


static uint8_t byte(struct world *w)
{
	uint8_t b;

	if (!w->n)
		return 0;

	b = *w->p++;
	--w->n;

	return b;
}


static uint32_t u32(struct world *w)
{
	uint32_t v = byte(w);

	v |= (uint32_t)byte(w) << 8;
	v |= (uint32_t)byte(w) << 16;
	v |= (uint32_t)byte(w) << 24;

	return v;
}


static uint32_t rand_h(void *arg)
{
	struct world *w = arg;

	return u32(w);
}


static struct slot *slot_by_id(struct world *w, unsigned id)
{
	size_t i;

	if (!id)
		return NULL;

	for (i = 0; i < NSLOTS; i++) {
		if (w->slotv[i].id == id)
			return &w->slotv[i];
	}

	return NULL;
}


/* A live slot chosen by the input, NULL if none */
static struct slot *pick(struct world *w)
{
	uint8_t b = byte(w);
	size_t i;

	for (i = 0; i < NSLOTS; i++) {
		struct slot *s = &w->slotv[(b + i) % NSLOTS];

		if (s->id)
			return s;
	}

	return NULL;
}


static bool tier_busy(const struct world *w, int prio)
{
	size_t i;

	for (i = 0; i < NSLOTS; i++) {
		const struct slot *s = &w->slotv[i];

		if (s->id && s->busy && (int)s->prio == prio)
			return true;
	}

	return false;
}


static void action_h(const struct sr_action *act, void *arg)
{
	struct world *w = arg;
	unsigned id = (unsigned)(uintptr_t)act->ref;
	struct slot *s = NULL;
	uint64_t bound;

	hist(w, "    -> %s%s%s id=%u delay=%llu from=%d to=%d",
	     sr_action_name(act->kind),
	     act->kind == SR_ACT_REQUEST ? " " : "",
	     act->kind == SR_ACT_REQUEST ? sr_request_name(act->req) : "",
	     id, (unsigned long long)act->delay, act->from, act->to);

	switch (act->kind) {

	case SR_ACT_ROUND_TIMER:
	case SR_ACT_ROUND_CANCEL:
	case SR_ACT_MOVE:
	case SR_ACT_HOT_STANDBY:
		CHECK(w, !act->acc && !act->ref, "engine action with account");
		break;

	default:
		s = slot_by_id(w, id);
		CHECK(w, s != NULL, "%s for account id %u, removed or unknown",
		      sr_action_name(act->kind), id);
		CHECK(w, act->acc == s->sra, "%s: acc %p is not id %u's %p",
		      sr_action_name(act->kind), (void *)act->acc, id,
		      (void *)s->sra);
		break;
	}

	switch (act->kind) {

	case SR_ACT_REGISTER:
		s->reg = true;
		s->ra_wait = false;
		break;

	case SR_ACT_UNREGISTER:
		s->reg = false;
		s->probing = false;
		s->ra_wait = false;
		break;

	case SR_ACT_HOLD:
		CHECK(w, !s->reg, "HOLD of id %u, asked to register", id);
		break;

	case SR_ACT_RECOVER:
	case SR_ACT_NO_OUTBOUND:
		CHECK(w, s->reg, "%s of id %u, not registered",
		      sr_action_name(act->kind), id);
		break;

	case SR_ACT_ROUTE:
		CHECK(w, act->flow < 32, "ROUTE of id %u to flow %u", id,
		      act->flow);
		break;

	case SR_ACT_PIN:
		CHECK(w, act->server < (int)sr_account_nservers(act->acc),
		      "PIN of id %u to server %d of %u", id, act->server,
		      sr_account_nservers(act->acc));
		break;

	case SR_ACT_REQUEST:
		CHECK(w, act->server < 0 ||
		      act->server < (int)sr_account_nservers(act->acc),
		      "REQUEST of id %u to server %d of %u", id, act->server,
		      sr_account_nservers(act->acc));
		switch (act->req) {

		case SR_REQ_PROBE:
		case SR_REQ_PROBE_CHECK:
			CHECK(w, s->fbregint > 0, "PROBE of id %u, fbregint 0",
			      id);
			CHECK(w, !s->reg,
			      "PROBE of id %u holding a registration", id);
			break;

		case SR_REQ_GATE:
			CHECK(w, s->gate, "GATE of id %u, not TLS", id);
			CHECK(w, !s->reg, "GATE of id %u, registering", id);
			break;

		case SR_REQ_CHECK:
		case SR_REQ_FLOW:
		case SR_REQ_REPAIR:
		case SR_REQ_QUERY:
			CHECK(w, s->reg, "%s of id %u, not registered",
			      sr_request_name(act->req), id);
			break;

		case SR_REQ_SERVER:
			/* only to a server of a set of an account that
			   registers */
			CHECK(w, s->reg && act->server >= 0 &&
			      sr_account_nservers(act->acc) > 1,
			      "server check of id %u: reg %d, server %d of %u",
			      id, s->reg, act->server,
			      sr_account_nservers(act->acc));
			break;

		default:
			CHECK(w, false, "REQUEST %d of id %u", act->req, id);
			break;
		}
		s->probing = true;
		break;

	case SR_ACT_REQUEST_CANCEL:
		s->probing = false;
		break;

	case SR_ACT_WATCH:
		CHECK(w, s->reg, "WATCH of id %u, not registered", id);
		break;

	case SR_ACT_UNWATCH:
		break;

	case SR_ACT_TIMER:
		/* (a repair, a flow recovery; a gate not sent for want of
		   memory is asked again at the timer, bug 4) */
		CHECK(w, s->fbregint > 0 || w->check_max_seen > 0 ||
		      s->retry_max > 0 || s->gate ||
		      (s->reg && act->delay <= SR_LATE_MAX * 1000ULL) ||
		      (s->reg && sr_account_pinned(act->acc)),
		      "TIMER for id %u: no probing, no check, no repair, "
		      "no Retry-After, no gate", id);
		/* a Retry-After counts up to an hour only (twice that for
		   the REGISTER it holds, R53); a repair waits for the late
		   requests of a retired reg client at most SR_LATE_MAX; the
		   failback spread
		   (R52) at most failback_spread; a pinned account asks a
		   better server at most every SR_SERVER_RETRY */
		bound = max(max(max((uint64_t)s->fbregint,
				    2 * min((uint64_t)s->retry_max,
					    3600ULL)),
				max((uint64_t)w->check_max_seen, 1ULL)),
			    max(max((uint64_t)SR_LATE_MAX,
				    (uint64_t)SR_SERVER_RETRY),
				(uint64_t)w->spread_max_seen)) * 1000;
		CHECK(w, act->delay <= bound,
		      "TIMER for id %u: %llu ms > %llu ms", id,
		      (unsigned long long)act->delay,
		      (unsigned long long)bound);
		s->timer = true;
		s->timer_at = w->now + act->delay;
		break;

	case SR_ACT_TIMER_CANCEL:
		s->timer = false;
		break;

	case SR_ACT_ROUND_TIMER:
		CHECK(w, act->delay > 0 &&
		      act->delay <= w->backoff_max_seen * 1000ULL,
		      "ROUND_TIMER %llu ms, backoff_max %u s",
		      (unsigned long long)act->delay, w->backoff_max_seen);
		w->round = true;
		w->round_at = w->now + act->delay;
		break;

	case SR_ACT_ROUND_CANCEL:
		w->round = false;
		break;

	case SR_ACT_CURRENT:
		CHECK(w, w->drives, "CURRENT id %u from an engine that does "
		      "not drive the current UA", id);
		CHECK(w, s->reg, "CURRENT id %u, not registered", id);
		w->current_id = id;
		break;

	case SR_ACT_MOVE:
		CHECK(w, act->from == w->moved_to,
		      "MOVE from %d, but the last move went to %d",
		      act->from, w->moved_to);
		CHECK(w, act->from != act->to, "MOVE from %d to itself",
		      act->from);
		CHECK(w, act->reason != SR_REASON_FAILBACK ||
		      !tier_busy(w, act->from),
		      "failback MOVE from tier %d with a call (R34)",
		      act->from);
		w->moved_to = act->to;
		break;

	case SR_ACT_HOT_STANDBY:
		CHECK(w, act->from == w->hot_to,
		      "HOT_STANDBY from %d, but the last one went to %d",
		      act->from, w->hot_to);
		CHECK(w, act->from != act->to, "HOT_STANDBY from %d to itself",
		      act->from);
		CHECK(w, act->to < 0 || w->cfg.concurrent,
		      "HOT_STANDBY to %d, concurrent off", act->to);
		w->hot_to = act->to;
		break;

	default:
		break;
	}
}


struct walk {
	struct world *w;
	unsigned n;
	uint32_t last_prio;
	int cur, target, hot;
	unsigned cur_registering, cur_registered, cur_n, target_n, hot_n;
	int reg_tiers[3];            /**< tiers holding registrations  */
	unsigned nreg_tiers;         /**< ... how many (a 4th counts)  */
	int first_ready;             /**< best tier below cur with an
					  account ready, -1 none        */
};


static bool walk_h(const struct sr_account *acc, void *arg)
{
	struct walk *k = arg;
	struct world *w = k->w;
	const void *ref = sr_account_ref(acc);
	unsigned id = (unsigned)(uintptr_t)ref;
	struct slot *s = slot_by_id(w, id);
	uint32_t prio = sr_account_prio(acc);
	enum sr_acc_state st = sr_account_state(acc);
	bool active = sr_account_active(acc);
	const struct sr_answer *last;
	uint64_t when = 0;

	CHECK(w, s != NULL, "ladder holds removed account id %u", id);
	CHECK(w, s->sra == acc, "ladder: id %u is another account", id);
	CHECK(w, prio == s->prio, "id %u prio %u, added with %u", id, prio,
	      s->prio);
	CHECK(w, !k->n || prio >= k->last_prio, "ladder not best first");
	CHECK(w, sr_account_fbregint(acc) == s->fbregint, "id %u fbregint",
	      id);
	CHECK(w, st < SR_ACC_STATE_COUNT, "id %u state %d", id, st);
	last = sr_account_last(acc, &when);
	CHECK(w, !last || (when <= w->now && when > 0),
	      "id %u: last answer at %llu, now %llu", id,
	      (unsigned long long)when, (unsigned long long)w->now);

	/* no standby account holds a registration */
	CHECK(w, active || !s->reg,
	      "standby id %u (prio %u, %s) holds a registration", id, prio,
	      sr_acc_state_name(st));
	CHECK(w, !w->started || !active || s->reg ||
	      (s->gate && (st == SR_ACC_VERIFYING || st == SR_ACC_FAILED)) ||
	      (s->ra_wait && st == SR_ACC_REGISTERING),
	      "active id %u (prio %u) was never asked to register", id,
	      prio);
	CHECK(w, active == ((int)prio == k->cur || (int)prio == k->target ||
			   (int)prio == k->hot),
	      "id %u active=%d, prio %u, tiers %d/%d/%d", id, active, prio,
	      k->cur, k->target, k->hot);
	CHECK(w, sr_account_hot(acc) == ((int)prio == k->hot),
	      "id %u hot=%d, prio %u, hot tier %d", id,
	      sr_account_hot(acc), prio, k->hot);

	if (s->reg) {
		size_t j;
		bool seen = false;

		for (j = 0; j < k->nreg_tiers && j < 3; j++)
			seen |= k->reg_tiers[j] == (int)prio;
		if (!seen) {
			if (k->nreg_tiers < 3)
				k->reg_tiers[k->nreg_tiers] = (int)prio;
			++k->nreg_tiers;
		}
	}
	if (k->cur >= 0 && (int)prio > k->cur && sr_account_ready(acc) &&
	    k->first_ready < 0)
		k->first_ready = (int)prio;
	if ((int)prio == k->hot)
		++k->hot_n;
	CHECK(w, active || (st != SR_ACC_REGISTERING &&
			    st != SR_ACC_REGISTERED && st != SR_ACC_FAILED &&
			    st != SR_ACC_VERIFYING),
	      "standby id %u in state %s", id, sr_acc_state_name(st));
	CHECK(w, !active || st == SR_ACC_REGISTERING ||
	      st == SR_ACC_REGISTERED || st == SR_ACC_FAILED ||
	      st == SR_ACC_VERIFYING,
	      "active id %u in state %s", id, sr_acc_state_name(st));
	CHECK(w, st != SR_ACC_VERIFYING || s->gate,
	      "id %u verifying, not TLS", id);
	CHECK(w, !s->probing || s->reg || s->fbregint ||
	      st == SR_ACC_VERIFYING,
	      "id %u has a probe in flight without fbregint", id);

	if ((int)prio == k->cur) {
		++k->cur_n;
		if (st == SR_ACC_REGISTERING || st == SR_ACC_VERIFYING)
			++k->cur_registering;
		if (st == SR_ACC_REGISTERED)
			++k->cur_registered;
	}
	if ((int)prio == k->target)
		++k->target_n;

	k->last_prio = prio;
	++k->n;

	return false;
}


static void check_world(struct world *w)
{
	enum sr_state st = sr_engine_state(w->eng);
	struct slot *cura;
	struct walk k;
	unsigned live = 0;
	size_t i;

	for (i = 0; i < NSLOTS; i++)
		live += w->slotv[i].id != 0;

	memset(&k, 0, sizeof(k));
	k.w = w;
	k.cur = sr_engine_current_tier(w->eng);
	k.target = sr_engine_target_tier(w->eng);
	k.hot = sr_engine_hot_tier(w->eng);
	k.first_ready = -1;

	(void)sr_engine_apply(w->eng, walk_h, &k);

	/* concurrent registration: the hot standby */
	CHECK(w, k.hot == w->hot_to,
	      "hot standby %d, but the last HOT_STANDBY went to %d", k.hot,
	      w->hot_to);
	CHECK(w, k.hot < 0 || w->cfg.concurrent,
	      "hot standby %d, concurrent off", k.hot);
	CHECK(w, k.hot < 0 || (k.cur >= 0 && k.hot > k.cur &&
			       (st == SR_REGISTERED || st == SR_PROMOTING)),
	      "hot standby %d, current %d, %s", k.hot, k.cur,
	      sr_state_name(st));
	CHECK(w, k.hot < 0 || k.hot_n > 0, "hot standby %d is empty",
	      k.hot);
	CHECK(w, k.nreg_tiers <= (k.target >= 0 ? 3U : 2U),
	      "%u tiers hold registrations (current %d, target %d, hot %d)",
	      k.nreg_tiers, k.cur, k.target, k.hot);
	CHECK(w, w->cfg.concurrent || k.nreg_tiers <= (k.target >= 0 ?
						       2U : 1U),
	      "successive: %u tiers hold registrations", k.nreg_tiers);
	/* the next live tier: a tier below the one in use whose account
	   passed the failback hold is the hot standby, or one above it is */
	CHECK(w, !w->cfg.concurrent || k.first_ready < 0 ||
	      (st != SR_REGISTERED && st != SR_PROMOTING) ||
	      (k.hot >= 0 && k.hot <= k.first_ready),
	      "tier %d below the current %d is ready, hot standby %d",
	      k.first_ready, k.cur, k.hot);

	CHECK(w, k.n == live, "ladder has %u accounts, %u live", k.n, live);
	CHECK(w, sr_engine_naccounts(w->eng) == live,
	      "naccounts %u, %u live", sr_engine_naccounts(w->eng), live);
	CHECK(w, st < SR_STATE_COUNT, "state %d", st);
	CHECK(w, sr_engine_last_move(w->eng) <= w->now, "last move later");
	CHECK(w, !sr_engine_failback_held(w->eng) || tier_busy(w, k.cur),
	      "failback held, but no call on tier %d", k.cur);
	CHECK(w, k.cur == w->moved_to,
	      "current tier %d, but the last MOVE went to %d", k.cur,
	      w->moved_to);

	/* at most one current tier: a target only while promoting, better */
	CHECK(w, (k.target >= 0) == (st == SR_PROMOTING),
	      "target tier %d in state %s", k.target, sr_state_name(st));
	CHECK(w, k.target < 0 || (k.cur >= 0 && k.target < k.cur),
	      "target tier %d, current %d", k.target, k.cur);

	switch (st) {

	case SR_IDLE:
		CHECK(w, k.cur < 0, "idle with current tier %d", k.cur);
		CHECK(w, !w->started || !live, "idle with %u accounts",
		      live);
		break;

	case SR_TRYING:
		CHECK(w, k.cur >= 0 && k.cur_n > 0,
		      "trying an empty tier %d", k.cur);
		CHECK(w, k.cur_registering > 0,
		      "trying tier %d: none registering (stuck)", k.cur);
		break;

	case SR_REGISTERED:
	case SR_PROMOTING:
		/* (registering: the registered one was removed) */
		CHECK(w, k.cur >= 0 &&
		      k.cur_registered + k.cur_registering > 0,
		      "%s, tier %d: none registered or registering",
		      sr_state_name(st), k.cur);
		/* if any account of the tier in use is registered, the
		   current account is one of them */
		cura = slot_by_id(w, w->current_id);
		CHECK(w, w->drives || !sr_engine_current(w->eng),
		      "not driving, but the current UA is id %u",
		      w->current_id);
		CHECK(w, !w->drives || !k.cur_registered ||
		      (cura && cura->busy) ||
		      (cura && (int)cura->prio == k.cur &&
		       sr_account_state(cura->sra) == SR_ACC_REGISTERED &&
		       sr_engine_current(w->eng) == cura->sra),
		      "%s, tier %d registered, but the current UA is id %u "
		      "(%s)", sr_state_name(st), k.cur, w->current_id,
		      !cura ? "removed" : (int)cura->prio != k.cur ?
		      "another tier" : "not registered");
		CHECK(w, st != SR_PROMOTING || k.target_n > 0,
		      "promoting to an empty tier %d", k.target);
		break;

	case SR_WAITING:
		CHECK(w, k.cur < 0, "waiting with current tier %d", k.cur);
		CHECK(w, w->round, "waiting without a round timer (stuck)");
		break;

	default:
		break;
	}
}


static void answer(struct world *w, struct sr_answer *ans, struct slot *s)
{
	static const uint16_t codes[] = {
		200, 202, 299, 100, 180, 301, 401, 403, 404, 407, 408, 423,
		480, 486, 500, 503, 504, 600, 603, 699, 0,
	};
	uint8_t b = byte(w);

	memset(ans, 0, sizeof(*ans));
	ans->flow = (enum sr_flow)(b % 3);

	if (b < 24) {
		static const int errs[] = {ETIMEDOUT, ECONNREFUSED, ENOMEM,
					   EPROTO};
		ans->err = errs[b % ARRAY_SIZE(errs)];
	}
	else if (b < 240) {
		ans->scode = codes[b % ARRAY_SIZE(codes)];
	}
	else {
		ans->scode = (uint16_t)u32(w);
	}

	b = byte(w);
	if (b >= 200)
		ans->retry_after = b < 250 ? (uint32_t)(b - 199) : u32(w);

	if (s && ans->retry_after > s->retry_max)
		s->retry_max = ans->retry_after;
}


static void set_config(struct world *w)
{
	static const uint32_t backoffs[] = {0, 1, 4, 30, 300, 86400};
	static const uint32_t checks[] = {0, 0, 1, 10, 3600};
	static const uint32_t spreads[] = {0, 0, 1, 60};
	uint8_t b = byte(w), c = byte(w);

	w->cfg.failback_hold  = b & 3;
	w->cfg.backoff_base   = backoffs[(b >> 2) % 3 + 1];
	w->cfg.backoff_max    = backoffs[c % ARRAY_SIZE(backoffs)];
	w->cfg.check_interval = checks[(b >> 4) % ARRAY_SIZE(checks)];
	w->cfg.failback_spread = spreads[(c >> 6) % ARRAY_SIZE(spreads)];
	w->cfg.concurrent     = (c >> 3) & 1;

	w->backoff_max_seen = max(w->backoff_max_seen,
				  max(w->cfg.backoff_max, 1U));
	w->check_max_seen = max(w->check_max_seen, w->cfg.check_interval);
	w->spread_max_seen = max(w->spread_max_seen,
				 w->cfg.failback_spread);
}


static void op_add(struct world *w)
{
	static const uint32_t fbregints[] = {0, 1, 2, 30, 86400};
	struct slot *s = NULL;
	uint8_t b = byte(w);
	uint32_t prio, fbregint;
	size_t i;
	int err;

	for (i = 0; i < NSLOTS; i++) {
		if (!w->slotv[i].id) {
			s = &w->slotv[i];
			break;
		}
	}

	if (!s)
		return;

	prio = b < 240 ? (uint32_t)(b % 5) : u32(w) % 65536;
	fbregint = fbregints[byte(w) % ARRAY_SIZE(fbregints)];

	memset(s, 0, sizeof(*s));
	s->id = ++w->next_id;
	s->prio = prio;
	s->fbregint = fbregint;
	s->gate = (b / 5) & 1;     /* a TLS registrar, gated */

	hist(w, "%u add id=%u prio=%u fbregint=%u gate=%d", w->step, s->id,
	     prio, fbregint, s->gate);

	err = sr_account_add(w->eng, &s->sra, (void *)(uintptr_t)s->id,
			     prio, fbregint, s->gate ? SR_ACC_F_GATE : 0,
			     w->now);
	CHECK(w, !err, "sr_account_add: %d", err);
}


static void op_remove(struct world *w, struct slot *s)
{
	struct sr_account *sra = s->sra;

	hist(w, "%u remove id=%u", w->step, s->id);

	/* from here on, any action naming it is a violation */
	s->id = 0;
	s->sra = NULL;
	sr_account_remove(sra, w->now);
}


/* The earliest armed timer fires, at its time */
static void op_fire(struct world *w)
{
	struct slot *first = NULL;
	size_t i;

	for (i = 0; i < NSLOTS; i++) {
		struct slot *s = &w->slotv[i];

		if (s->id && s->timer &&
		    (!first || s->timer_at < first->timer_at))
			first = s;
	}

	if (w->round && (!first || w->round_at <= first->timer_at)) {
		w->now = max(w->now, w->round_at);
		w->round = false;
		hist(w, "%u engine timer (due) now=%llu", w->step,
		     (unsigned long long)w->now);
		sr_engine_timer(w->eng, w->now);
	}
	else if (first) {
		w->now = max(w->now, first->timer_at);
		first->timer = false;
		hist(w, "%u timer id=%u (due) now=%llu", w->step, first->id,
		     (unsigned long long)w->now);
		sr_account_timer(first->sra, w->now);
	}
}


/* its registrar becomes a set of 0..4 servers, keys from a small
   range (so that sets change, shrink and keep servers) */
static void op_servers(struct world *w, struct slot *s)
{
	uint32_t keys[4];
	unsigned i, n = byte(w) % 5;

	for (i = 0; i < n; i++)
		keys[i] = byte(w) % 6;

	hist(w, "%u servers id=%u n=%u", w->step, s->id, n);
	sr_account_servers(s->sra, n, keys, w->now);
}


/* an outgoing call through its UA was placed, or failed (issue 19);
   the fallback is a tier below the one in use */
static void op_call(struct world *w, struct slot *s, bool failed)
{
	const struct sr_account *fb;
	struct sr_answer ans;

	if (failed) {
		answer(w, &ans, s);
		hist(w, "%u call failed id=%u err=%d %u", w->step, s->id,
		     ans.err, ans.scode);
		sr_account_call_failed(s->sra, &ans, w->now);
	}
	else {
		hist(w, "%u call placed id=%u", w->step, s->id);
		sr_account_call_placed(s->sra, w->now);
	}

	fb = sr_engine_fallback(w->eng);
	CHECK(w, !fb || (sr_engine_current_tier(w->eng) >= 0 &&
			 sr_account_prio(fb) >
			 (uint32_t)sr_engine_current_tier(w->eng)),
	      "fallback tier %u, in use %d", fb ? sr_account_prio(fb) : 0,
	      sr_engine_current_tier(w->eng));

	/* a call's fallback is in another tier: the one in use for a
	   call through another tier, a registered one */
	fb = sr_account_fallback(s->sra);
	CHECK(w, !fb || sr_account_prio(fb) != sr_account_prio(s->sra),
	      "call fallback in its own tier %u", sr_account_prio(s->sra));
	CHECK(w, !fb || sr_account_prio(s->sra) ==
	      (uint32_t)sr_engine_current_tier(w->eng) ||
	      (sr_account_prio(fb) ==
	       (uint32_t)sr_engine_current_tier(w->eng) &&
	       sr_account_state(fb) == SR_ACC_REGISTERED),
	      "call through tier %u: fallback tier %u", sr_account_prio(s->sra),
	      sr_account_prio(fb));
}


static void step(struct world *w)
{
	struct sr_answer ans;
	struct slot *s;
	uint8_t op = byte(w);

	switch (op % 16) {

	case 0:
	case 1:
		op_add(w);
		break;

	case 2:
		s = pick(w);
		if (s)
			op_remove(w, s);
		break;

	case 3:
	case 4:
		s = pick(w);
		if (!s)
			break;
		ans.scode = 200 + byte(w) % 100;
		hist(w, "%u registered id=%u %u", w->step, s->id, ans.scode);
		sr_account_registered(s->sra, ans.scode, w->now);
		break;

	case 5:
	case 6:
		s = pick(w);
		if (!s)
			break;
		answer(w, &ans, s);
		hist(w, "%u reg_failed id=%u err=%d %u ra=%u", w->step, s->id,
		     ans.err, ans.scode, ans.retry_after);
		sr_account_reg_failed(s->sra, &ans, w->now);
		/* R53: held off baresip, registered again at its timer */
		if (!s->reg && !ans.err && ans.scode == 503 &&
		    ans.retry_after && sr_account_active(s->sra) &&
		    sr_account_state(s->sra) == SR_ACC_REGISTERING)
			s->ra_wait = true;
		break;

	case 7:
	case 8:
		s = pick(w);
		if (!s)
			break;
		answer(w, &ans, s);
		hist(w, "%u answer id=%u (%s) err=%d %u ra=%u", w->step,
		     s->id, sr_request_name(sr_account_request(s->sra)),
		     ans.err, ans.scode, ans.retry_after);
		s->probing = false;
		sr_account_answer(s->sra, &ans, w->now);
		break;

	case 9:
		s = pick(w);
		if (!s)
			break;
		switch (byte(w) % 5) {

		case 0:
			hist(w, "%u registering id=%u", w->step, s->id);
			sr_account_registering(s->sra, w->now);
			break;

		case 1:
			hist(w, "%u flow closed id=%u", w->step, s->id);
			sr_account_flow_closed(s->sra, ECONNRESET, w->now);
			break;

		case 3:
			op_call(w, s, false);
			break;

		case 4:
			op_call(w, s, true);
			break;

		default:
			op_servers(w, s);
			break;
		}
		break;

	case 10:
		s = pick(w);
		if (!s)
			break;
		hist(w, "%u timer id=%u (any time)", w->step, s->id);
		sr_account_timer(s->sra, w->now);
		break;

	case 11:
		hist(w, "%u engine timer (any time)", w->step);
		sr_engine_timer(w->eng, w->now);
		break;

	case 12:
	case 13:
		op_fire(w);
		break;

	case 14:
		if (byte(w) < 64) {
			uint32_t ncalls;

			s = pick(w);
			if (!s)
				break;
			ncalls = byte(w) % 3;
			s->busy = ncalls > 0;
			hist(w, "%u calls id=%u %u", w->step, s->id, ncalls);
			sr_account_calls(s->sra, ncalls, w->now);
			break;
		}
		w->now += byte(w) < 200 ? byte(w) * 100ULL : u32(w);
		hist(w, "%u now=%llu", w->step, (unsigned long long)w->now);
		break;

	case 15:
		if (!w->started && byte(w) & 1) {
			hist(w, "%u start", w->step);
			w->started = true;
			sr_engine_start(w->eng, w->now);
		}
		else if (byte(w) < 32) {
			w->drives = !w->drives;
			if (!w->drives)
				w->current_id = 0;
			hist(w, "%u drives current %d", w->step, w->drives);
			sr_engine_set_drives_current(w->eng, w->drives);
		}
		else {
			set_config(w);
			hist(w, "%u config hold=%u base=%u max=%u check=%u",
			     w->step, w->cfg.failback_hold,
			     w->cfg.backoff_base, w->cfg.backoff_max,
			     w->cfg.check_interval);
			sr_engine_set_config(w->eng, &w->cfg);
		}
		break;
	}
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	size_t i;
	int err;

	memset(&w, 0, sizeof(w));
	w.p = data;
	w.n = size;
	w.moved_to = -1;
	w.hot_to = -1;
	w.drives = true;
	w.trace = getenv("FUZZ_TRACE") != NULL;

	set_config(&w);
	err = sr_engine_alloc(&w.eng, &w.cfg, action_h, rand_h, &w);
	if (err)
		abort();

	/* start early or late: accounts added before and after */
	for (w.step = 0; w.step < NSTEPS && w.n; w.step++) {
		step(&w);
		check_world(&w);
	}

	/* every account goes, still checked */
	for (i = 0; i < NSLOTS; i++) {
		if (w.slotv[i].id) {
			op_remove(&w, &w.slotv[i]);
			check_world(&w);
		}
	}

	CHECK(&w, sr_engine_state(w.eng) == SR_IDLE,
	      "no account left, state %s",
	      sr_state_name(sr_engine_state(w.eng)));
	CHECK(&w, !w.round, "no account left, round timer armed");

	w.eng = mem_deref(w.eng);

	return 0;
}
