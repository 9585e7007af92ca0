/**
 * @file engine.c  Policy engine of serial fallback registration
 *
 * Accounts are grouped in tiers (same prio); only one tier, the current
 * one, is registered.  The engine is a small state machine (see the table
 * fsm[] below and docs/design.md); account events are turned into engine
 * events by keeping per-tier counters, so the cost of an event does not
 * depend on the number of accounts, only a move touches the accounts of
 * the two tiers involved.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "serreg_engine.h"


enum {
	BACKOFF_SHIFT_MAX = 20,
	FIRST_PROBE_MAX   = 1000,  /* [ms] spread of the first probes */
	RETRY_AFTER_MAX   = 3600,  /* [s] longest Retry-After honoured */
};


/** All accounts with the same prio */
struct sr_tier {
	struct le le;             /**< in sr_engine.tierl, by prio      */
	struct list accl;         /**< struct sr_account                */
	uint32_t prio;
	uint32_t n;               /**< number of accounts               */
	uint32_t cnt[SR_ACC_STATE_COUNT];  /**< accounts per state     */
	uint32_t nprobing;        /**< accounts with fbregint > 0       */
	uint32_t nready;          /**< alive, with failback_hold good probes */
	uint32_t nbusy;           /**< accounts whose UA has a call (R34) */
	uint64_t round;           /**< last round the tier was tried in */
};

struct sr_account {
	struct le le;             /**< in sr_tier.accl                  */
	struct sr_engine *eng;
	struct sr_tier *tier;
	void *ref;
	uint32_t fbregint;        /**< [s], 0 = no probing              */
	enum sr_acc_state state;
	uint32_t good;            /**< consecutive good probes          */
	bool ready;
	bool busy;                /**< its UA has a call               */
	bool check_failed;        /**< failed its check: probed with the
				       check's OPTIONS until it registers */
	struct sr_answer last;
	uint64_t last_time;       /**< when last was received [ms]      */
};

struct sr_engine {
	struct list tierl;        /**< struct sr_tier, best first       */
	struct sr_config cfg;
	sr_action_h *acth;
	sr_rand_h *randh;
	void *arg;
	enum sr_state state;
	struct sr_tier *cur;      /**< tier in use, NULL when none      */
	struct sr_tier *target;   /**< better tier being registered     */
	enum sr_reason target_reason;  /**< why it is being registered  */
	struct sr_account *curacc;  /**< last account made current     */
	uint64_t round;           /**< id of the running round          */
	uint32_t nrounds_failed;  /**< consecutive rounds without success */
	uint64_t backoff_until;
	enum sr_reason last_reason;
	uint64_t last_move;
	uint32_t naccounts;
	bool started;
};


/** Engine events, derived from account events */
enum sr_event {
	EV_START = 0,      /**< start, or first account after start     */
	EV_TIER_OK,        /**< an account of the current tier registered */
	EV_TIER_FAILED,    /**< every account of the current tier failed */
	EV_BETTER_READY,   /**< a better tier passed the failback hold  */
	EV_TARGET_OK,      /**< an account of the target tier registered */
	EV_TARGET_FAILED,  /**< every account of the target tier failed */
	EV_BACKOFF,        /**< the wait between rounds is over         */
	EV_STANDBY_ALIVE,  /**< a standby registrar answered a probe    */
	EV_ADDED_BETTER,   /**< an account of a better tier was added   */
	EV_EMPTY,          /**< the last account was removed            */
	EV_CALLS_ENDED,    /**< the last call on the tier in use ended  */

	EV_COUNT
};

/** Context of one engine event */
struct sr_ctx {
	struct sr_tier *tier;        /**< the tier the event is about  */
	struct sr_account *acc;      /**< the account, if any          */
	enum sr_reason reason;
	const struct sr_answer *ans; /**< the answer behind it, if any */
	uint64_t now;
};

typedef enum sr_state (sr_trans_h)(struct sr_engine *eng,
				   const struct sr_ctx *ctx);


/*
 * Actions
 */

static void emit(struct sr_engine *eng, enum sr_action_kind kind,
		 struct sr_account *acc, uint64_t delay)
{
	struct sr_action act;

	memset(&act, 0, sizeof(act));
	act.kind  = kind;
	act.acc   = acc;
	act.ref   = acc ? acc->ref : NULL;
	act.delay = delay;
	act.from  = -1;
	act.to    = -1;
	act.options = acc && acc->check_failed;

	eng->acth(&act, eng->arg);
}


static void emit_move(struct sr_engine *eng, const struct sr_tier *from,
		      const struct sr_tier *to, enum sr_reason reason,
		      const struct sr_ctx *ctx)
{
	struct sr_action act;

	memset(&act, 0, sizeof(act));
	act.kind   = SR_ACT_MOVE;
	act.from   = from ? (int)from->prio : -1;
	act.to     = to ? (int)to->prio : -1;
	act.reason = reason;
	if (ctx->ans)
		act.ans = *ctx->ans;

	eng->last_reason = reason;
	eng->last_move   = ctx->now;

	eng->acth(&act, eng->arg);
}


/* uniform in [lo, hi] per mille of val */
static uint64_t jitter(struct sr_engine *eng, uint64_t val,
		       uint32_t lo, uint32_t hi)
{
	uint32_t r = eng->randh(eng->arg) % (hi - lo + 1);

	return val * (lo + r) / 1000;
}


/*
 * Accounts and tiers
 */

static bool is_probing(const struct sr_account *acc)
{
	return acc->fbregint > 0;
}


static bool tier_is_active(const struct sr_engine *eng,
			   const struct sr_tier *t)
{
	return t && (t == eng->cur || t == eng->target);
}


/** Known dead: every account probes and the last answer of each failed */
static bool tier_is_dead(const struct sr_tier *t)
{
	return t->n && t->nprobing == t->n && t->cnt[SR_ACC_DEAD] == t->n;
}


static void acc_update_ready(struct sr_account *acc)
{
	const struct sr_engine *eng = acc->eng;
	bool ready = acc->state == SR_ACC_ALIVE &&
		acc->good >= eng->cfg.failback_hold;

	if (ready == acc->ready)
		return;

	acc->ready = ready;
	if (ready)
		++acc->tier->nready;
	else
		--acc->tier->nready;
}


static void acc_set_state(struct sr_account *acc, enum sr_acc_state st)
{
	--acc->tier->cnt[acc->state];
	++acc->tier->cnt[st];
	acc->state = st;

	if (st != SR_ACC_ALIVE)
		acc->good = 0;

	acc_update_ready(acc);
}


static void acc_schedule_probe(struct sr_account *acc, uint64_t delay)
{
	if (is_probing(acc))
		emit(acc->eng, SR_ACT_TIMER, acc, delay);
}


/* the check's verdict (R20): any final answer but 408 and 503 is alive */
static bool check_passed(const struct sr_answer *ans)
{
	return !ans->err && ans->scode >= 200 && ans->scode != 408 &&
		ans->scode != 503;
}


/* next liveness check of a registered account (R20), jittered 80-100 % */
static void acc_schedule_check(struct sr_account *acc)
{
	struct sr_engine *eng = acc->eng;

	if (eng->cfg.check_interval)
		emit(eng, SR_ACT_TIMER, acc,
		     jitter(eng, eng->cfg.check_interval * 1000ULL,
			    800, 1000));
}


/* next probe: 80-100 % of fbregint, and not before Retry-After */
static uint64_t probe_interval(struct sr_account *acc,
			       const struct sr_answer *ans)
{
	uint64_t delay = jitter(acc->eng, acc->fbregint * 1000ULL,
				800, 1000);

	if (ans && ans->retry_after)
		delay = max(delay, min(ans->retry_after,
				       (uint32_t)RETRY_AFTER_MAX) * 1000ULL);

	return delay;
}


/** Register every account of a tier; it is now tried in this round */
static void tier_activate(struct sr_engine *eng, struct sr_tier *t)
{
	struct le *le;

	t->round = eng->round;

	for (le = t->accl.head; le; le = le->next) {
		struct sr_account *acc = le->data;

		if (is_probing(acc)) {
			emit(eng, SR_ACT_TIMER_CANCEL, acc, 0);
			emit(eng, SR_ACT_PROBE_CANCEL, acc, 0);
		}

		acc_set_state(acc, SR_ACC_REGISTERING);
		emit(eng, SR_ACT_REGISTER, acc, 0);
	}
}


/** Take a tier off its registrars and put its accounts on probes */
static void tier_park(struct sr_engine *eng, struct sr_tier *t, bool failed)
{
	struct le *le;

	for (le = t->accl.head; le; le = le->next) {
		struct sr_account *acc = le->data;

		emit(eng, SR_ACT_UNREGISTER, acc, 0);

		if (failed)
			acc_set_state(acc, SR_ACC_DEAD);
		else if (is_probing(acc))
			acc_set_state(acc, SR_ACC_ALIVE);
		else
			acc_set_state(acc, SR_ACC_UNKNOWN);

		if (eng->curacc == acc)
			eng->curacc = NULL;

		/* a failed account's last answer may carry a Retry-After */
		acc_schedule_probe(acc, probe_interval(acc,
						       failed ? &acc->last
						       : NULL));
	}
}


static struct sr_tier *tier_find(const struct sr_engine *eng, uint32_t prio)
{
	struct le *le;

	for (le = eng->tierl.head; le; le = le->next) {
		struct sr_tier *t = le->data;

		if (t->prio == prio)
			return t;
	}

	return NULL;
}


static bool tier_sort_h(struct le *le1, struct le *le2, void *arg)
{
	const struct sr_tier *t1 = le1->data;
	const struct sr_tier *t2 = le2->data;
	(void)arg;

	return t1->prio <= t2->prio;
}


static struct sr_account *tier_registered_acc(const struct sr_tier *t)
{
	struct le *le;

	for (le = t->accl.head; le; le = le->next) {
		struct sr_account *acc = le->data;

		if (acc->state == SR_ACC_REGISTERED)
			return acc;
	}

	return NULL;
}


/**
 * The tier to try after `from` in this round (from == NULL: a new round).
 * First the best tier known alive, then the next tier in prio order,
 * cyclic, skipping tiers known dead.  Tiers tried in this round are out.
 */
static struct sr_tier *tier_choose(const struct sr_engine *eng,
				   const struct sr_tier *from)
{
	uint32_t i, n = list_count(&eng->tierl);
	struct le *le, *start;

	for (le = eng->tierl.head; le; le = le->next) {
		struct sr_tier *t = le->data;

		if (t != from && t->round != eng->round &&
		    t->cnt[SR_ACC_ALIVE])
			return t;
	}

	start = from ? from->le.next : NULL;
	if (!start)
		start = eng->tierl.head;

	for (le = start, i = 0; le && i < n; i++) {
		struct sr_tier *t = le->data;

		if (t != from && t->round != eng->round && !tier_is_dead(t))
			return t;

		le = le->next ? le->next : eng->tierl.head;
	}

	return NULL;
}


/** The best tier, better than the current one, ready for failback */
static struct sr_tier *tier_better_ready(const struct sr_engine *eng)
{
	struct le *le;

	for (le = eng->tierl.head; le; le = le->next) {
		struct sr_tier *t = le->data;

		if (t == eng->cur)
			break;

		if (t->nready)
			return t;
	}

	return NULL;
}


static void set_current(struct sr_engine *eng, struct sr_account *acc)
{
	if (!acc)
		return;

	eng->curacc = acc;
	emit(eng, SR_ACT_CURRENT, acc, 0);
}


/*
 * State machine transitions
 */

static enum sr_state enter_waiting(struct sr_engine *eng,
				   const struct sr_ctx *ctx)
{
	uint32_t shift = min(eng->nrounds_failed, (uint32_t)BACKOFF_SHIFT_MAX);
	uint64_t wait;

	wait = min((uint64_t)eng->cfg.backoff_max,
		   (uint64_t)eng->cfg.backoff_base << shift) * 1000;
	wait = jitter(eng, wait, 500, 1000);

	++eng->nrounds_failed;
	eng->backoff_until = ctx->now + wait;

	emit(eng, SR_ACT_ROUND_TIMER, NULL, wait);

	return SR_WAITING;
}


/** Start a round at the best candidate tier */
static enum sr_state round_start(struct sr_engine *eng,
				 const struct sr_ctx *ctx)
{
	struct sr_tier *prev = eng->cur;
	struct sr_tier *t;

	++eng->round;
	eng->backoff_until = 0;
	emit(eng, SR_ACT_ROUND_CANCEL, NULL, 0);

	if (!eng->naccounts)
		return SR_IDLE;

	t = tier_choose(eng, NULL);
	if (!t)
		return enter_waiting(eng, ctx);

	eng->cur = t;
	tier_activate(eng, t);
	emit_move(eng, prev, t, ctx->reason, ctx);

	return SR_TRYING;
}


/** An account of the tier being tried registered */
static enum sr_state tier_ok(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	eng->nrounds_failed = 0;
	set_current(eng, ctx->acc);

	return SR_REGISTERED;
}


/** Move on from a failed tier; a new round if it was working */
static enum sr_state tier_failed(struct sr_engine *eng,
				 const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;
	struct sr_account *acc;
	struct sr_tier *next;

	if (eng->state != SR_TRYING) {
		++eng->round;
		from->round = eng->round;
	}

	tier_park(eng, from, true);

	if (eng->target) {
		next = eng->target;
		eng->target = NULL;
	}
	else {
		next = tier_choose(eng, from);
		if (next)
			tier_activate(eng, next);
	}

	eng->cur = next;
	emit_move(eng, from, next,
		  next ? ctx->reason : SR_REASON_ALL_FAILED, ctx);

	if (!next)
		return enter_waiting(eng, ctx);

	/* the target may be registered already, its move held by a call
	   on the failed tier (R34): no REGISTER_OK will come again */
	acc = tier_registered_acc(next);
	if (acc) {
		eng->nrounds_failed = 0;
		set_current(eng, acc);
		return SR_REGISTERED;
	}

	return SR_TRYING;
}


/** Start registering a better tier, keeping the current one meanwhile */
static enum sr_state promote(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	struct sr_tier *t = ctx->tier;

	/* a failback waits until the tier in use has no call (R34) */
	if (ctx->reason == SR_REASON_FAILBACK && eng->cur->nbusy)
		return eng->state;

	if (eng->target) {
		if (t->prio >= eng->target->prio)
			return eng->state;

		tier_park(eng, eng->target, false);
	}

	eng->target = t;
	eng->target_reason = ctx->reason;
	tier_activate(eng, t);

	return SR_PROMOTING;
}


static enum sr_state target_ok(struct sr_engine *eng,
			       const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;

	/* a call began while the better tier was registering: both stay
	   registered, the move waits for its end (R34) */
	if (eng->target_reason == SR_REASON_FAILBACK && from->nbusy)
		return SR_PROMOTING;

	eng->cur = eng->target;
	eng->target = NULL;

	tier_park(eng, from, false);
	set_current(eng, ctx->acc);
	emit_move(eng, from, eng->cur, eng->target_reason, ctx);

	return SR_REGISTERED;
}


static enum sr_state target_failed(struct sr_engine *eng,
				   const struct sr_ctx *ctx)
{
	tier_park(eng, eng->target, true);
	eng->target = NULL;

	return SR_REGISTERED;
}


/** The calls ended while registered: fire() looks for a failback */
static enum sr_state calls_ended(struct sr_engine *eng,
				 const struct sr_ctx *ctx)
{
	(void)ctx;

	return eng->state;
}


/** The calls ended while a registered better tier waited for it */
static enum sr_state target_resume(struct sr_engine *eng,
				   const struct sr_ctx *ctx)
{
	struct sr_ctx next = *ctx;

	next.acc = tier_registered_acc(eng->target);
	if (!next.acc)
		return SR_PROMOTING;

	next.reason = eng->target_reason;

	return target_ok(eng, &next);
}


/** While trying a tier, an account of a better one was added: try it */
static enum sr_state restart(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;

	tier_park(eng, from, false);

	++eng->round;
	eng->cur = ctx->tier;
	tier_activate(eng, eng->cur);
	emit_move(eng, from, eng->cur, ctx->reason, ctx);

	return SR_TRYING;
}


static enum sr_state empty(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;

	emit(eng, SR_ACT_ROUND_CANCEL, NULL, 0);
	eng->cur = NULL;
	eng->target = NULL;
	eng->curacc = NULL;
	eng->backoff_until = 0;

	if (from)
		emit_move(eng, from, NULL, ctx->reason, ctx);

	return SR_IDLE;
}


/** What each state does with each event; NULL = ignored */
static sr_trans_h *const fsm[SR_STATE_COUNT][EV_COUNT] = {
	[SR_IDLE] = {
		[EV_START]         = round_start,
	},
	[SR_TRYING] = {
		[EV_TIER_OK]       = tier_ok,
		[EV_TIER_FAILED]   = tier_failed,
		[EV_ADDED_BETTER]  = restart,
		[EV_EMPTY]         = empty,
	},
	[SR_REGISTERED] = {
		[EV_TIER_FAILED]   = tier_failed,
		[EV_BETTER_READY]  = promote,
		[EV_ADDED_BETTER]  = promote,
		[EV_EMPTY]         = empty,
		[EV_CALLS_ENDED]   = calls_ended,
	},
	[SR_PROMOTING] = {
		[EV_TIER_FAILED]   = tier_failed,
		[EV_TARGET_OK]     = target_ok,
		[EV_TARGET_FAILED] = target_failed,
		[EV_BETTER_READY]  = promote,
		[EV_ADDED_BETTER]  = promote,
		[EV_EMPTY]         = empty,
		[EV_CALLS_ENDED]   = target_resume,
	},
	[SR_WAITING] = {
		[EV_BACKOFF]       = round_start,
		[EV_STANDBY_ALIVE] = round_start,
		[EV_ADDED_BETTER]  = round_start,
		[EV_EMPTY]         = empty,
	},
};


static void fire(struct sr_engine *eng, enum sr_event ev,
		 const struct sr_ctx *ctx)
{
	sr_trans_h *h = fsm[eng->state][ev];
	struct sr_ctx next;

	if (!h)
		return;

	eng->state = h(eng, ctx);

	/* settled on a tier: is a better one already waiting? (not after
	   a failback that a call holds: that would only repeat it) */
	if (eng->state != SR_REGISTERED || ev == EV_BETTER_READY)
		return;

	memset(&next, 0, sizeof(next));
	next.tier   = tier_better_ready(eng);
	next.reason = SR_REASON_FAILBACK;
	next.now    = ctx->now;

	if (next.tier)
		fire(eng, EV_BETTER_READY, &next);
}


static void fire_acc(struct sr_account *acc, enum sr_event ev,
		     enum sr_reason reason, const struct sr_answer *ans,
		     uint64_t now)
{
	struct sr_ctx ctx;

	ctx.tier   = acc->tier;
	ctx.acc    = acc;
	ctx.reason = reason;
	ctx.ans    = ans;
	ctx.now    = now;

	fire(acc->eng, ev, &ctx);
}


/*
 * Public API
 */

static void engine_destructor(void *arg)
{
	struct sr_engine *eng = arg;
	struct le *le;

	for (le = eng->tierl.head; le; le = le->next) {
		struct sr_tier *t = le->data;

		list_flush(&t->accl);
	}

	list_flush(&eng->tierl);
}


/**
 * Allocate a policy engine
 *
 * @param engp  Pointer to allocated engine
 * @param cfg   Settings (copied)
 * @param acth  Action handler, called synchronously
 * @param randh Random number source
 * @param arg   Argument of both handlers
 *
 * @return 0 if success, otherwise errorcode
 */
int sr_engine_alloc(struct sr_engine **engp, const struct sr_config *cfg,
		    sr_action_h *acth, sr_rand_h *randh, void *arg)
{
	struct sr_engine *eng;

	if (!engp || !cfg || !acth || !randh)
		return EINVAL;

	eng = mem_zalloc(sizeof(*eng), engine_destructor);
	if (!eng)
		return ENOMEM;

	eng->acth  = acth;
	eng->randh = randh;
	eng->arg   = arg;
	sr_engine_set_config(eng, cfg);

	*engp = eng;

	return 0;
}


void sr_engine_set_config(struct sr_engine *eng, const struct sr_config *cfg)
{
	if (!eng || !cfg)
		return;

	eng->cfg = *cfg;
	eng->cfg.failback_hold = max(eng->cfg.failback_hold, 1U);
	eng->cfg.backoff_base  = max(eng->cfg.backoff_base, 1U);
	eng->cfg.backoff_max   = max(eng->cfg.backoff_max, 1U);
}


/**
 * The accounts known so far may register: the best tier is tried and the
 * standby accounts start probing.  Accounts added later join at once.
 */
void sr_engine_start(struct sr_engine *eng, uint64_t now)
{
	struct sr_ctx ctx;
	struct le *le, *ale;

	if (!eng || eng->started)
		return;

	eng->started = true;

	memset(&ctx, 0, sizeof(ctx));
	ctx.reason = SR_REASON_START;
	ctx.now    = now;

	fire(eng, EV_START, &ctx);

	for (le = eng->tierl.head; le; le = le->next) {
		struct sr_tier *t = le->data;

		if (tier_is_active(eng, t))
			continue;

		for (ale = t->accl.head; ale; ale = ale->next) {
			struct sr_account *acc = ale->data;

			acc_schedule_probe(acc, jitter(eng, FIRST_PROBE_MAX,
						       0, 1000));
		}
	}
}


/** The engine's own timer (armed by SR_ACT_ROUND_TIMER) fired */
void sr_engine_timer(struct sr_engine *eng, uint64_t now)
{
	struct sr_ctx ctx;

	if (!eng)
		return;

	memset(&ctx, 0, sizeof(ctx));
	ctx.reason = SR_REASON_ROUND;
	ctx.now    = now;

	fire(eng, EV_BACKOFF, &ctx);
}


static void account_destructor(void *arg)
{
	struct sr_account *acc = arg;

	list_unlink(&acc->le);
}


/**
 * Add an account to the ladder
 *
 * @param eng      Engine
 * @param accp     Pointer to the engine's account (freed by remove)
 * @param ref      Glue object, handed back in actions
 * @param prio     Tier
 * @param fbregint Probe interval while standby [s], 0 = none
 * @param now      Current time [ms]
 *
 * @return 0 if success, otherwise errorcode
 */
int sr_account_add(struct sr_engine *eng, struct sr_account **accp,
		   void *ref, uint32_t prio, uint32_t fbregint, uint64_t now)
{
	struct sr_account *acc;
	struct sr_tier *t;
	struct sr_ctx ctx;

	if (!eng || !accp)
		return EINVAL;

	acc = mem_zalloc(sizeof(*acc), account_destructor);
	if (!acc)
		return ENOMEM;

	t = tier_find(eng, prio);
	if (!t) {
		t = mem_zalloc(sizeof(*t), NULL);
		if (!t) {
			mem_deref(acc);
			return ENOMEM;
		}

		t->prio = prio;
		list_append(&eng->tierl, &t->le, t);
		list_sort(&eng->tierl, tier_sort_h, NULL);
	}

	acc->eng      = eng;
	acc->tier     = t;
	acc->ref      = ref;
	acc->fbregint = fbregint;
	acc->state    = SR_ACC_UNKNOWN;

	list_append(&t->accl, &acc->le, acc);
	++t->n;
	++t->cnt[SR_ACC_UNKNOWN];
	if (is_probing(acc))
		++t->nprobing;
	++eng->naccounts;

	*accp = acc;

	if (!eng->started)
		return 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.tier   = t;
	ctx.acc    = acc;
	ctx.reason = SR_REASON_ADDED;
	ctx.now    = now;

	if (eng->state == SR_IDLE) {
		ctx.reason = SR_REASON_START;
		fire(eng, EV_START, &ctx);
	}
	else if (tier_is_active(eng, t)) {
		acc_set_state(acc, SR_ACC_REGISTERING);
		emit(eng, SR_ACT_REGISTER, acc, 0);
	}
	else if (eng->state == SR_WAITING ||
		 (eng->cur && t->prio < eng->cur->prio)) {
		/* while waiting, a new account is worth a round now */
		fire(eng, EV_ADDED_BETTER, &ctx);
	}

	if (!tier_is_active(eng, t))
		acc_schedule_probe(acc, jitter(eng, FIRST_PROBE_MAX, 0, 1000));

	return 0;
}


/**
 * Remove an account: the engine forgets it and emits nothing more for
 * it.  If it was the last working account of the tier in use, the tier
 * has failed.
 */
void sr_account_remove(struct sr_account *acc, uint64_t now)
{
	struct sr_engine *eng;
	struct sr_tier *t;
	struct sr_ctx ctx;
	bool active, acc_was_busy;

	if (!acc)
		return;

	eng = acc->eng;
	t   = acc->tier;
	active = tier_is_active(eng, t);
	acc_was_busy = acc->busy;

	if (acc->ready)
		--t->nready;
	if (acc->busy)
		--t->nbusy;
	--t->cnt[acc->state];
	--t->n;
	if (is_probing(acc))
		--t->nprobing;
	--eng->naccounts;

	if (eng->curacc == acc)
		eng->curacc = NULL;

	mem_deref(acc);

	memset(&ctx, 0, sizeof(ctx));
	ctx.tier   = t;
	ctx.reason = SR_REASON_REMOVED;
	ctx.now    = now;

	if (!eng->naccounts) {
		fire(eng, EV_EMPTY, &ctx);
	}
	else if (active && t->cnt[SR_ACC_FAILED] == t->n) {
		fire(eng, t == eng->cur ? EV_TIER_FAILED : EV_TARGET_FAILED,
		     &ctx);
	}
	else if (t == eng->cur && !eng->curacc &&
		 eng->state != SR_TRYING) {
		set_current(eng, tier_registered_acc(t));
	}

	if (t == eng->cur && acc_was_busy && !t->nbusy)
		fire(eng, EV_CALLS_ENDED, &ctx);

	if (!t->n && !tier_is_active(eng, t)) {
		list_unlink(&t->le);
		mem_deref(t);
	}
}


/** An account registered (baresip's REGISTER_OK) */
void sr_account_registered(struct sr_account *acc, uint16_t scode,
			   uint64_t now)
{
	struct sr_engine *eng;

	if (!acc)
		return;

	eng = acc->eng;

	/* a tier that was left never counts as registered (R5) */
	if (!tier_is_active(eng, acc->tier))
		return;

	acc->last.err = 0;
	acc->last.scode = scode;
	acc->last.retry_after = 0;
	acc->last_time = now;

	if (acc->state == SR_ACC_REGISTERED)
		return;

	acc_set_state(acc, SR_ACC_REGISTERED);
	acc->check_failed = false;
	acc_schedule_check(acc);

	if (acc->tier != eng->cur) {
		fire_acc(acc, EV_TARGET_OK, SR_REASON_FAILBACK, NULL, now);
		return;
	}

	/* the tier in use lost its current UA (removed while the others
	   were still registering): this one takes over (R3) */
	if (eng->state != SR_TRYING && !eng->curacc)
		set_current(eng, acc);

	fire_acc(acc, EV_TIER_OK, SR_REASON_START, NULL, now);
}


/** An account's registration failed (baresip's REGISTER_FAIL) */
void sr_account_reg_failed(struct sr_account *acc,
			   const struct sr_answer *ans, uint64_t now)
{
	struct sr_engine *eng;
	struct sr_tier *t;

	if (!acc || !ans)
		return;

	eng = acc->eng;
	t   = acc->tier;

	if (!tier_is_active(eng, t))
		return;

	acc->last = *ans;
	acc->last_time = now;

	if (acc->state == SR_ACC_FAILED)
		return;

	acc_set_state(acc, SR_ACC_FAILED);
	if (eng->curacc == acc)
		eng->curacc = NULL;

	/* the tier fails only when every account has failed (R2) */
	if (t->cnt[SR_ACC_FAILED] < t->n)
		return;

	if (t == eng->cur)
		fire_acc(acc, EV_TIER_FAILED, SR_REASON_TIER_FAILED, ans, now);
	else
		fire_acc(acc, EV_TARGET_FAILED, SR_REASON_TIER_FAILED, ans,
			 now);
}


/** A probe of a standby account was answered, or failed */
void sr_account_probed(struct sr_account *acc, const struct sr_answer *ans,
		       uint64_t now)
{
	struct sr_engine *eng;
	bool was_alive, ok;

	if (!acc || !ans || !is_probing(acc))
		return;

	eng = acc->eng;

	/* a stale answer of an account that is registering now */
	if (tier_is_active(eng, acc->tier))
		return;

	acc->last = *ans;
	acc->last_time = now;

	was_alive = acc->state == SR_ACC_ALIVE;
	ok = acc->check_failed ? check_passed(ans) :
		!ans->err && ans->scode >= 200 && ans->scode < 300;

	if (ok) {
		++acc->good;
		acc_set_state(acc, SR_ACC_ALIVE);
	}
	else {
		acc_set_state(acc, SR_ACC_DEAD);
	}

	acc_schedule_probe(acc, probe_interval(acc, ans));

	if (ok && !was_alive && eng->state == SR_WAITING)
		fire_acc(acc, EV_STANDBY_ALIVE, SR_REASON_ALIVE, ans, now);
	else if (acc->ready && eng->cur && acc->tier->prio < eng->cur->prio)
		fire_acc(acc, EV_BETTER_READY, SR_REASON_FAILBACK, ans, now);
}


/**
 * A liveness check of a registered account was answered (R20): any final
 * answer but 408 and 503 means alive; no answer, a transport error, 408
 * or 503 is a failure of the account, as a failed REGISTER.
 */
void sr_account_checked(struct sr_account *acc, const struct sr_answer *ans,
			uint64_t now)
{
	if (!acc || !ans || !tier_is_active(acc->eng, acc->tier) ||
	    acc->state != SR_ACC_REGISTERED)
		return;

	if (!check_passed(ans)) {
		/* its REGISTER probes could say alive at once: a registrar
		   that fails the check is probed with it (no flapping) */
		acc->check_failed = true;
		sr_account_reg_failed(acc, ans, now);
		return;
	}

	acc_schedule_check(acc);
}


/**
 * The number of calls of an account's UA changed.  A failback (R8)
 * waits while any account of the tier in use has a call (R34); a move
 * away from a failed tier does not, and no call is ever ended here.
 */
void sr_account_calls(struct sr_account *acc, uint32_t ncalls, uint64_t now)
{
	struct sr_tier *t;
	struct sr_ctx ctx;
	bool busy = ncalls > 0;

	if (!acc || busy == acc->busy)
		return;

	t = acc->tier;
	acc->busy = busy;

	if (busy) {
		++t->nbusy;
		return;
	}

	--t->nbusy;

	if (t != acc->eng->cur || t->nbusy)
		return;

	memset(&ctx, 0, sizeof(ctx));
	ctx.tier   = t;
	ctx.acc    = acc;
	ctx.reason = SR_REASON_FAILBACK;
	ctx.now    = now;

	fire(acc->eng, EV_CALLS_ENDED, &ctx);
}


/** The account's timer (armed by SR_ACT_TIMER) fired: probe or check */
void sr_account_timer(struct sr_account *acc, uint64_t now)
{
	(void)now;

	if (!acc)
		return;

	if (tier_is_active(acc->eng, acc->tier)) {
		if (acc->state == SR_ACC_REGISTERED &&
		    acc->eng->cfg.check_interval)
			emit(acc->eng, SR_ACT_CHECK, acc, 0);
		return;
	}

	if (is_probing(acc))
		emit(acc->eng, SR_ACT_PROBE, acc, 0);
}


/*
 * Queries
 */

/**
 * Walk the ladder: accounts by tier, best first
 *
 * @return The account where the handler returned true, or NULL
 */
const struct sr_account *sr_engine_apply(const struct sr_engine *eng,
					 sr_account_apply_h *h, void *arg)
{
	struct le *le, *ale;

	if (!eng || !h)
		return NULL;

	for (le = eng->tierl.head; le; le = le->next) {
		const struct sr_tier *t = le->data;

		for (ale = t->accl.head; ale; ale = ale->next) {
			const struct sr_account *acc = ale->data;

			if (h(acc, arg))
				return acc;
		}
	}

	return NULL;
}


enum sr_state sr_engine_state(const struct sr_engine *eng)
{
	return eng ? eng->state : SR_IDLE;
}


int sr_engine_current_tier(const struct sr_engine *eng)
{
	return eng && eng->cur ? (int)eng->cur->prio : -1;
}


int sr_engine_target_tier(const struct sr_engine *eng)
{
	return eng && eng->target ? (int)eng->target->prio : -1;
}


uint32_t sr_engine_naccounts(const struct sr_engine *eng)
{
	return eng ? eng->naccounts : 0;
}


uint64_t sr_engine_backoff_until(const struct sr_engine *eng)
{
	return eng ? eng->backoff_until : 0;
}


enum sr_reason sr_engine_last_reason(const struct sr_engine *eng)
{
	return eng ? eng->last_reason : SR_REASON_START;
}


/** A failback is due but waits for the calls on the tier in use (R34) */
bool sr_engine_failback_held(const struct sr_engine *eng)
{
	if (!eng || !eng->cur || !eng->cur->nbusy)
		return false;

	if (eng->state == SR_REGISTERED)
		return tier_better_ready(eng) != NULL;

	return eng->state == SR_PROMOTING &&
		eng->target_reason == SR_REASON_FAILBACK &&
		tier_registered_acc(eng->target) != NULL;
}


uint64_t sr_engine_last_move(const struct sr_engine *eng)
{
	return eng ? eng->last_move : 0;
}


/** True if the account should be registered now */
bool sr_account_active(const struct sr_account *acc)
{
	return acc && tier_is_active(acc->eng, acc->tier);
}


enum sr_acc_state sr_account_state(const struct sr_account *acc)
{
	return acc ? acc->state : SR_ACC_UNKNOWN;
}


uint32_t sr_account_prio(const struct sr_account *acc)
{
	return acc ? acc->tier->prio : 0;
}


uint32_t sr_account_fbregint(const struct sr_account *acc)
{
	return acc ? acc->fbregint : 0;
}


const struct sr_answer *sr_account_last(const struct sr_account *acc,
					uint64_t *when)
{
	if (!acc || !acc->last_time)
		return NULL;

	if (when)
		*when = acc->last_time;

	return &acc->last;
}


void *sr_account_ref(const struct sr_account *acc)
{
	return acc ? acc->ref : NULL;
}


const char *sr_state_name(enum sr_state st)
{
	static const char *const names[SR_STATE_COUNT] = {
		[SR_IDLE]       = "idle",
		[SR_TRYING]     = "trying",
		[SR_REGISTERED] = "registered",
		[SR_PROMOTING]  = "promoting",
		[SR_WAITING]    = "waiting",
	};

	return st < SR_STATE_COUNT ? names[st] : "?";
}


const char *sr_acc_state_name(enum sr_acc_state st)
{
	static const char *const names[SR_ACC_STATE_COUNT] = {
		[SR_ACC_UNKNOWN]     = "unknown",
		[SR_ACC_ALIVE]       = "alive",
		[SR_ACC_DEAD]        = "dead",
		[SR_ACC_REGISTERING] = "registering",
		[SR_ACC_REGISTERED]  = "registered",
		[SR_ACC_FAILED]      = "failed",
	};

	return st < SR_ACC_STATE_COUNT ? names[st] : "?";
}


/** The reason as one word, for events read by programs */
const char *sr_reason_token(enum sr_reason r)
{
	switch (r) {

	case SR_REASON_START:       return "start";
	case SR_REASON_TIER_FAILED: return "tier_failed";
	case SR_REASON_REMOVED:     return "account_removed";
	case SR_REASON_FAILBACK:    return "failback";
	case SR_REASON_ADDED:       return "account_added";
	case SR_REASON_ROUND:       return "new_round";
	case SR_REASON_ALIVE:       return "registrar_alive";
	case SR_REASON_ALL_FAILED:  return "all_failed";
	default:                    return "unknown";
	}
}


const char *sr_reason_name(enum sr_reason r)
{
	switch (r) {

	case SR_REASON_START:       return "start";
	case SR_REASON_TIER_FAILED: return "tier failed";
	case SR_REASON_REMOVED:     return "account removed";
	case SR_REASON_FAILBACK:    return "failback";
	case SR_REASON_ADDED:       return "account added";
	case SR_REASON_ROUND:       return "new round";
	case SR_REASON_ALIVE:       return "registrar alive";
	case SR_REASON_ALL_FAILED:  return "all tiers failed";
	default:                    return "?";
	}
}
