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
 * Every decision is taken here, the glue only executes actions: which
 * account may register (HOLD inside baresip's REGISTERING otherwise),
 * the TLS gate before a REGISTER, the requests and what each is for,
 * the watch of a connection and the check when it closes, which account
 * is baresip's current UA, and the repair of a binding that a late
 * un-REGISTER may have removed.
 *
 * This file: the actions, the state machine, the engine's life and the
 * queries.  The rest of the engine, sharing engine_priv.h:
 * engine_tier.c (tiers and the roles of their accounts), engine_acc.c
 * (the account machine), engine_srv.c (server sets), engine_gen.c
 * (reg-client generations and late requests) and engine_flow.c (flows
 * and the watch).
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "engine_priv.h"


static const char *const event_names[EV_COUNT] = {
	[EV_START]         = "start",
	[EV_TIER_OK]       = "tier ok",
	[EV_TIER_FAILED]   = "tier failed",
	[EV_BETTER_READY]  = "better tier ready",
	[EV_TARGET_OK]     = "target ok",
	[EV_TARGET_FAILED] = "target failed",
	[EV_BACKOFF]       = "backoff over",
	[EV_PROBED_ALIVE]  = "probed alive",
	[EV_ADDED_BETTER]  = "better account added",
	[EV_EMPTY]         = "empty",
	[EV_CALLS_ENDED]   = "calls ended",
	[EV_HOT_FAILED]    = "hot standby failed",
};


typedef enum sr_state (sr_trans_h)(struct sr_engine *eng,
				   const struct sr_ctx *ctx);


/*
 * Actions and traces
 */

/* an action with nothing set but its kind and account (acc may be NULL) */
static void action_init(struct sr_action *act, enum sr_action_kind kind,
			struct sr_account *acc)
{
	memset(act, 0, sizeof(*act));
	act->kind   = kind;
	act->acc    = acc;
	act->ref    = acc ? acc->ref : NULL;
	act->server = -1;
	act->from   = -1;
	act->to     = -1;
}


static void emit_req(struct sr_engine *eng, enum sr_action_kind kind,
		     struct sr_account *acc, uint64_t delay,
		     enum sr_request req)
{
	struct sr_action act;

	action_init(&act, kind, acc);
	act.delay = delay;
	act.req   = req;

	eng->acth(&act, eng->arg);
}


/* an action about server `server` of the account's set; ans: why */
void emit_server(struct sr_account *acc, enum sr_action_kind kind,
		 enum sr_request req, int server,
		 const struct sr_answer *ans)
{
	struct sr_action act;

	action_init(&act, kind, acc);
	act.req    = req;
	act.server = server;
	if (ans)
		act.ans = *ans;

	acc->eng->acth(&act, acc->eng->arg);
}


void emit(struct sr_engine *eng, enum sr_action_kind kind,
	  struct sr_account *acc, uint64_t delay)
{
	emit_req(eng, kind, acc, delay, SR_REQ_NONE);
}


void emit_flow(struct sr_engine *eng, struct sr_account *acc,
	       unsigned flow)
{
	struct sr_action act;

	action_init(&act, SR_ACT_ROUTE, acc);
	act.flow = flow;

	eng->acth(&act, eng->arg);
}


static void emit_move(struct sr_engine *eng, const struct sr_tier *from,
		      const struct sr_tier *to, enum sr_reason reason,
		      const struct sr_answer *ans, uint64_t now)
{
	struct sr_action act;

	action_init(&act, SR_ACT_MOVE, NULL);
	act.from   = from ? (int)from->prio : -1;
	act.to     = to ? (int)to->prio : -1;
	act.reason = reason;
	if (ans)
		act.ans = *ans;

	eng->last_reason = reason;
	eng->last_move   = now;

	eng->acth(&act, eng->arg);
}


/* the hot standby changed (hot_set() is its one setter) */
void emit_hot(struct sr_engine *eng, const struct sr_tier *from,
	      const struct sr_tier *to)
{
	struct sr_action act;

	action_init(&act, SR_ACT_HOT_STANDBY, NULL);
	act.from = from ? (int)from->prio : -1;
	act.to   = to ? (int)to->prio : -1;

	eng->acth(&act, eng->arg);
}


void trace(struct sr_engine *eng, const struct sr_account *acc,
	   int from, int to)
{
	struct sr_trace tr;

	if (!eng->traceh || from == to)
		return;

	tr.acc   = acc;
	tr.from  = from;
	tr.to    = to;
	tr.event = eng->cause ? eng->cause : "?";

	eng->traceh(&tr, eng->arg);
}


/** The one setter of the engine's state */
static void set_state(struct sr_engine *eng, enum sr_state st)
{
	trace(eng, NULL, eng->state, st);
	eng->state = st;
}


/* uniform in [lo, PER_MILLE] per mille of val */
uint64_t jitter(struct sr_engine *eng, uint64_t val, uint32_t lo)
{
	uint32_t r = eng->randh(eng->arg) % (PER_MILLE - lo + 1);

	return val * (lo + r) / PER_MILLE;
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
	wait = jitter(eng, wait, BACKOFF_JITTER_MIN);

	++eng->nrounds_failed;
	eng->backoff_until = ctx->now + wait;

	emit(eng, SR_ACT_ROUND_TIMER, NULL, wait);

	return SR_WAITING;
}


/* a new round: every tier may be the hot standby again */
static void tiers_unspend(struct sr_engine *eng)
{
	struct le *le;

	for (le = eng->tierl.head; le; le = le->next) {
		struct sr_tier *t = le->data;

		t->spent = false;
	}
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
	tiers_unspend(eng);

	if (!eng->naccounts)
		return SR_IDLE;

	t = tier_choose(eng, NULL);
	if (!t)
		return enter_waiting(eng, ctx);

	eng->cur = t;
	tier_activate(eng, t);
	emit_move(eng, prev, t, ctx->reason, ctx->ans, ctx->now);

	return SR_TRYING;
}


/** An account of the tier being tried registered */
static enum sr_state tier_ok(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	(void)ctx;

	eng->nrounds_failed = 0;

	return SR_REGISTERED;
}


/** Move on from a failed tier; a new round if it was working */
static enum sr_state tier_failed(struct sr_engine *eng,
				 const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;
	bool hot_bound = eng->hot && tier_registered_acc(eng->hot);
	struct sr_tier *next;

	if (eng->state != SR_TRYING) {
		++eng->round;
		from->round = eng->round;
	}

	tier_park(from, true, ctx->now);

	/* the target, unless it is not bound yet and the hot standby is:
	   then the hot standby is in use and the failback goes on */
	if (eng->target &&
	    (tier_registered_acc(eng->target) || !hot_bound)) {
		next = eng->target;
		eng->target = NULL;
	}
	else if (eng->hot) {
		/* concurrent: the hot standby is in use at once, with no
		   REGISTER in the path */
		next = eng->hot;
	}
	else {
		next = tier_choose(eng, from);
		if (next)
			tier_activate(eng, next);
	}

	eng->cur = next;
	if (eng->hot == next)
		hot_set(eng, NULL, false, false);
	emit_move(eng, from, next,
		  next ? ctx->reason : SR_REASON_ALL_FAILED, ctx->ans,
		  ctx->now);

	if (!next)
		return enter_waiting(eng, ctx);

	/* the target may be registered already, its move held by a call
	   on the failed tier (R34), or the hot standby: no REGISTER_OK
	   will come again; a target still registering goes on */
	if (tier_registered_acc(next)) {
		eng->nrounds_failed = 0;
		return eng->target ? SR_PROMOTING : SR_REGISTERED;
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

		tier_park(eng->target, false, ctx->now);
	}

	eng->target = t;
	eng->target_reason = ctx->reason;
	memset(&eng->target_ans, 0, sizeof(eng->target_ans));
	if (ctx->ans)
		eng->target_ans = *ctx->ans;
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

	/* concurrent: the tier left stays registered as the hot standby,
	   the one that was releases its bindings */
	if (eng->cfg.concurrent)
		hot_set(eng, from, false, false);
	else
		tier_park(from, false, ctx->now);

	emit_move(eng, from, eng->cur, eng->target_reason, &eng->target_ans,
		  ctx->now);

	return SR_REGISTERED;
}


static enum sr_state target_failed(struct sr_engine *eng,
				   const struct sr_ctx *ctx)
{
	tier_park(eng->target, true, ctx->now);
	eng->target = NULL;

	return SR_REGISTERED;
}


/** Every account of the hot standby failed: hot_update() chooses the
 *  next one at the end of the event */
static enum sr_state hot_failed(struct sr_engine *eng,
				const struct sr_ctx *ctx)
{
	(void)ctx;

	hot_set(eng, NULL, true, false);

	return eng->state;
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
	if (!tier_registered_acc(eng->target))
		return SR_PROMOTING;

	return target_ok(eng, ctx);
}


/** While trying a tier, an account of a better one was added: try it */
static enum sr_state restart(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;

	tier_park(from, false, ctx->now);

	++eng->round;
	eng->cur = ctx->tier;
	tier_activate(eng, eng->cur);
	emit_move(eng, from, eng->cur, ctx->reason, ctx->ans, ctx->now);

	return SR_TRYING;
}


static enum sr_state empty(struct sr_engine *eng, const struct sr_ctx *ctx)
{
	struct sr_tier *from = eng->cur;

	emit(eng, SR_ACT_ROUND_CANCEL, NULL, 0);
	eng->cur = NULL;
	eng->target = NULL;
	eng->hot = NULL;
	eng->curacc = NULL;
	eng->backoff_until = 0;

	if (from)
		emit_move(eng, from, NULL, ctx->reason, ctx->ans, ctx->now);

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
		[EV_HOT_FAILED]    = hot_failed,
	},
	[SR_REGISTERED] = {
		[EV_TIER_FAILED]   = tier_failed,
		[EV_BETTER_READY]  = promote,
		[EV_ADDED_BETTER]  = promote,
		[EV_EMPTY]         = empty,
		[EV_CALLS_ENDED]   = calls_ended,
		[EV_HOT_FAILED]    = hot_failed,
	},
	[SR_PROMOTING] = {
		[EV_TIER_FAILED]   = tier_failed,
		[EV_TARGET_OK]     = target_ok,
		[EV_TARGET_FAILED] = target_failed,
		[EV_BETTER_READY]  = promote,
		[EV_ADDED_BETTER]  = promote,
		[EV_EMPTY]         = empty,
		[EV_CALLS_ENDED]   = target_resume,
		[EV_HOT_FAILED]    = hot_failed,
	},
	[SR_WAITING] = {
		[EV_BACKOFF]       = round_start,
		[EV_PROBED_ALIVE]  = round_start,
		[EV_ADDED_BETTER]  = round_start,
		[EV_EMPTY]         = empty,
	},
};


void fire(struct sr_engine *eng, enum sr_event ev,
	  const struct sr_ctx *ctx)
{
	sr_trans_h *h = fsm[eng->state][ev];
	const char *cause = eng->cause;
	struct sr_ctx next;

	if (!h)
		return;

	eng->cause = event_names[ev];
	set_state(eng, h(eng, ctx));
	eng->cause = cause;

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


void fire_acc(struct sr_account *acc, enum sr_event ev,
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


/* Begin and end of every public event: the trace's cause, the rule of
   the current UA */
void event_begin(struct sr_engine *eng, const char *cause,
		 uint64_t now)
{
	eng->cause = cause;
	eng->now   = now;
}


void event_end(struct sr_engine *eng)
{
	hot_update(eng);
	current_update(eng);
	eng->cause = NULL;
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

		list_clear(&t->regl);
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
 * @param arg   Argument of the handlers
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
	eng->drives_current = true;
	sr_engine_set_config(eng, cfg);

	*engp = eng;

	return 0;
}


/** Trace every state transition, of the engine and of each account */
void sr_engine_set_trace(struct sr_engine *eng, sr_trace_h *traceh)
{
	if (eng)
		eng->traceh = traceh;
}


/**
 * Say whether this engine (ladder) chooses baresip's current UA.  With
 * several ladders in one baresip exactly one does: only its engine emits
 * SR_ACT_CURRENT.  Turned on, the rule applies at once (a CURRENT if an
 * account of the tier in use is registered); turned off, the engine
 * forgets its current UA.
 *
 * @param eng    Engine
 * @param drives True if it chooses the current UA (the default)
 */
void sr_engine_set_drives_current(struct sr_engine *eng, bool drives)
{
	if (!eng || eng->drives_current == drives)
		return;

	eng->drives_current = drives;

	if (drives)
		current_update(eng);
	else
		eng->curacc = NULL;
}


bool sr_engine_drives_current(const struct sr_engine *eng)
{
	return eng && eng->drives_current;
}


void sr_engine_set_config(struct sr_engine *eng, const struct sr_config *cfg)
{
	if (!eng || !cfg)
		return;

	eng->cfg = *cfg;
	eng->cfg.failback_hold = max(eng->cfg.failback_hold, 1U);
	if (!eng->cfg.backoff_base)
		eng->cfg.backoff_base = SR_BACKOFF_BASE;
	eng->cfg.backoff_max   = max(eng->cfg.backoff_max, 1U);
	if (!eng->cfg.server_retry)
		eng->cfg.server_retry = SR_SERVER_RETRY;
	if (!eng->cfg.t1)
		eng->cfg.t1 = SR_T1;
	eng->cfg.t2 = eng->cfg.t2 ? max(eng->cfg.t2, eng->cfg.t1) : SR_T2;

	/* concurrent registration turned on or off: the hot standby is
	   chosen, or released, at once (as of the last event's time) */
	if (eng->started && (eng->hot != NULL) != eng->cfg.concurrent) {
		event_begin(eng, "settings", eng->now);
		event_end(eng);
	}
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

	event_begin(eng, "engine start", now);

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

			/* adopted after a late load: it may hold a binding */
			if (acc->flags & SR_ACC_F_LIVE) {
				acc->gen_live  = true;
				acc->gen_bound = true;
				acc->gen_route = -1;
				gen_retire(acc, now);
				emit(eng, SR_ACT_UNREGISTER, acc, 0);
			}

			acc_schedule_probe(acc, jitter(eng,
						       FIRST_PROBE_SPREAD, 0));
		}
	}

	event_end(eng);
}


/** The engine's own timer (armed by SR_ACT_ROUND_TIMER) fired */
void sr_engine_timer(struct sr_engine *eng, uint64_t now)
{
	struct sr_ctx ctx;

	if (!eng)
		return;

	event_begin(eng, "round timer", now);

	memset(&ctx, 0, sizeof(ctx));
	ctx.reason = SR_REASON_ROUND;
	ctx.now    = now;

	fire(eng, EV_BACKOFF, &ctx);

	event_end(eng);
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


/** The hot standby tier (concurrent mode), -1 if none */
int sr_engine_hot_tier(const struct sr_engine *eng)
{
	return eng && eng->hot ? (int)eng->hot->prio : -1;
}


/** baresip's current UA as the engine chose it, NULL if none */
const struct sr_account *sr_engine_current(const struct sr_engine *eng)
{
	return eng ? eng->curacc : NULL;
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


/** The account is of the hot standby tier (concurrent mode) */
bool sr_account_hot(const struct sr_account *acc)
{
	return acc && acc->tier == acc->eng->hot;
}


/** The account passed the failback hold (and spread): its tier may be
 *  failed back to, or be the hot standby */
bool sr_account_ready(const struct sr_account *acc)
{
	return acc && acc->ready;
}


enum sr_acc_state sr_account_state(const struct sr_account *acc)
{
	return acc ? acc->state : SR_ACC_UNKNOWN;
}


/** What the account's request in flight is for */
enum sr_request sr_account_request(const struct sr_account *acc)
{
	return acc ? acc->req : SR_REQ_NONE;
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


const char *sr_srv_state_name(enum sr_srv_state st)
{
	switch (st) {

	case SR_SRV_UNKNOWN: return "unknown";
	case SR_SRV_ALIVE:   return "alive";
	case SR_SRV_DEAD:    return "dead";
	default:             return "?";
	}
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
		[SR_ACC_VERIFYING]   = "verifying",
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


const char *sr_request_name(enum sr_request req)
{
	static const char *const names[SR_REQ_COUNT] = {
		[SR_REQ_NONE]        = "none",
		[SR_REQ_PROBE]       = "probe",
		[SR_REQ_PROBE_CHECK] = "probe",
		[SR_REQ_CHECK]       = "check",
		[SR_REQ_FLOW]        = "flow request",
		[SR_REQ_GATE]        = "TLS check",
		[SR_REQ_REPAIR]      = "repair",
		[SR_REQ_QUERY]       = "query",
		[SR_REQ_SERVER]      = "server check",
	};

	return req < SR_REQ_COUNT ? names[req] : "?";
}


const char *sr_action_name(enum sr_action_kind kind)
{
	static const char *const names[SR_ACT_COUNT] = {
		[SR_ACT_REGISTER]       = "REGISTER",
		[SR_ACT_UNREGISTER]     = "UNREGISTER",
		[SR_ACT_HOLD]           = "HOLD",
		[SR_ACT_RECOVER]        = "RECOVER",
		[SR_ACT_ROUTE]          = "ROUTE",
		[SR_ACT_NO_OUTBOUND]    = "NO_OUTBOUND",
		[SR_ACT_REQUEST]        = "REQUEST",
		[SR_ACT_REQUEST_CANCEL] = "REQUEST_CANCEL",
		[SR_ACT_WATCH]          = "WATCH",
		[SR_ACT_UNWATCH]        = "UNWATCH",
		[SR_ACT_TIMER]          = "TIMER",
		[SR_ACT_TIMER_CANCEL]   = "TIMER_CANCEL",
		[SR_ACT_ROUND_TIMER]    = "ROUND_TIMER",
		[SR_ACT_ROUND_CANCEL]   = "ROUND_CANCEL",
		[SR_ACT_CURRENT]        = "CURRENT",
		[SR_ACT_MOVE]           = "MOVE",
		[SR_ACT_PIN]            = "PIN",
		[SR_ACT_SERVER]         = "SERVER",
		[SR_ACT_HOT_STANDBY]    = "HOT_STANDBY",
	};

	return kind < SR_ACT_COUNT ? names[kind] : "?";
}
