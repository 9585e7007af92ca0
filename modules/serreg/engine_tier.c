/**
 * @file engine_tier.c  Policy engine: tiers and the roles of their accounts
 *
 * A chosen tier registers every account (acc_activate), a tier left puts
 * them on probes (acc_park); which tier a round tries next, which better
 * one is ready for a failback, which account is baresip's current UA.
 * Accounts join and leave the ladder here, and their calls hold a
 * failback (R34).
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "engine_priv.h"


/** Known dead: every account probes and the last answer of each failed */
static bool tier_is_dead(const struct sr_tier *t)
{
	return t->n && t->nprobing == t->n && t->cnt[SR_ACC_DEAD] == t->n;
}


/** An account of a chosen tier: verify its registrar, or register */
static void acc_activate(struct sr_account *acc)
{
	struct sr_engine *eng = acc->eng;

	if (is_probing(acc))
		emit(eng, SR_ACT_TIMER_CANCEL, acc, 0);

	acc_request_cancel(acc);

	/* its REGISTERs go to a live server of its set */
	acc_pin_best(acc);

	/* the TLS gate belongs to the choice of the tier, not to each
	   REGISTER of baresip's */
	if (acc->flags & SR_ACC_F_GATE) {
		acc_set_state(acc, SR_ACC_VERIFYING);
		acc_request(acc, SR_REQ_GATE);
		return;
	}

	acc_set_state(acc, SR_ACC_REGISTERING);
	acc->asked = true;
	gen_build(acc, true);
	emit(eng, SR_ACT_REGISTER, acc, 0);
}


/**
 * Take an account off its registrar and put it on probes.  Its state
 * follows its last answer: a tier that failed is dead; a tier left
 * without failure keeps what each account last heard (a failed
 * REGISTER is dead, a good answer alive, none unknown).
 *
 * libre 1.1.0 cannot end a registration without an un-REGISTER.  To a
 * registrar that stopped answering, over UDP, it is retransmitted until
 * Timer F: if the registrar comes back meanwhile, it can remove the
 * binding of the account's return.  Until its reg client's late
 * requests are over (unreg_until, see gen_retire) the account is not
 * ready for a failback, and a registration made in that time is
 * repaired once they are over.
 */
static void acc_park(struct sr_account *acc, bool failed, uint64_t now)
{
	struct sr_engine *eng = acc->eng;
	bool alive;
	enum sr_acc_state st;

	acc_unwatch(acc);
	acc_request_cancel(acc);
	acc->repair     = false;
	acc->recover    = false;
	acc->asked      = false;
	acc->flows_ok   = 0;
	acc->flow_fails = 0;
	acc->route_held = false;
	gen_retire(acc, now);
	emit(eng, SR_ACT_UNREGISTER, acc, 0);

	/* new calls through the first proxy again, as configured */
	if (acc->route) {
		acc->route = 0;
		emit_flow(eng, acc, 0);
	}

	alive = acc->last_ok && acc->state != SR_ACC_FAILED;

	if (failed || acc->state == SR_ACC_FAILED)
		st = SR_ACC_DEAD;
	else if (!acc->last_time)
		st = SR_ACC_UNKNOWN;
	else if (!alive)
		st = SR_ACC_DEAD;
	else
		st = is_probing(acc) ? SR_ACC_ALIVE : SR_ACC_UNKNOWN;

	acc_set_state(acc, st);

	/* a failed account's last answer may carry a Retry-After */
	acc_schedule_probe(acc, probe_interval(acc,
					       failed ? &acc->last : NULL));
}


/** Register every account of a tier; it is now tried in this round */
void tier_activate(struct sr_engine *eng, struct sr_tier *t)
{
	struct le *le;

	t->round = eng->round;

	for (le = t->accl.head; le; le = le->next)
		acc_activate(le->data);
}


/** Take a tier off its registrars and put its accounts on probes */
void tier_park(struct sr_tier *t, bool failed, uint64_t now)
{
	struct le *le;

	if (failed)
		t->spent = true;

	for (le = t->accl.head; le; le = le->next)
		acc_park(le->data, failed, now);
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


/** A registered account of the tier, O(1) */
struct sr_account *tier_registered_acc(const struct sr_tier *t)
{
	return list_ledata(list_head(&t->regl));
}


/**
 * The tier to try after `from` in this round (from == NULL: a new round).
 * First the best tier known alive, then the next tier in prio order,
 * cyclic, skipping tiers known dead.  Tiers tried in this round are out.
 */
struct sr_tier *tier_choose(const struct sr_engine *eng,
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
struct sr_tier *tier_better_ready(const struct sr_engine *eng)
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


/** The event of a chosen tier whose every account failed */
enum sr_event tier_failed_event(const struct sr_engine *eng,
				const struct sr_tier *t)
{
	if (t == eng->cur)
		return EV_TIER_FAILED;

	return t == eng->hot ? EV_HOT_FAILED : EV_TARGET_FAILED;
}


/**
 * The tier that should be the hot standby (concurrent mode): the first
 * tier below the one in use that has accounts, is not known dead and
 * did not fail while registered (spent).  NULL when there is none, or
 * when nothing works yet (no tier in use that is registered).
 */
struct sr_tier *hot_choose(const struct sr_engine *eng)
{
	struct le *le;

	if (!eng->cfg.concurrent || !eng->cur ||
	    (eng->state != SR_REGISTERED && eng->state != SR_PROMOTING))
		return NULL;

	for (le = eng->cur->le.next; le; le = le->next) {
		struct sr_tier *t = le->data;

		if (t->n && !t->spent && !tier_is_dead(t))
			return t;
	}

	return NULL;
}


/**
 * The one setter of the hot standby.  The tier that stops being it is
 * parked (its un-REGISTERs are retired generations: they cannot undo a
 * later registration, engine_gen.c), unless it is now in use; the new
 * one registers, unless its accounts are registered already (the tier
 * that was in use, after a failback).
 *
 * @param eng      Engine
 * @param t        New hot standby, NULL for none
 * @param failed   The old one failed (parked as dead)
 * @param activate Register the new one's accounts
 */
void hot_set(struct sr_engine *eng, struct sr_tier *t, bool failed,
	     bool activate)
{
	struct sr_tier *old = eng->hot;

	if (old == t)
		return;

	eng->hot = t;

	if (old && old != eng->cur && old != eng->target)
		tier_park(old, failed, eng->now);

	if (t && activate)
		tier_activate(eng, t);

	emit_hot(eng, old, t);
}


/**
 * Keep the hot standby the next live tier below the one in use: called
 * at the end of every event, as current_update().  A walk from the tier
 * in use to the first candidate, O(tiers) at most, nothing per account.
 */
void hot_update(struct sr_engine *eng)
{
	struct sr_tier *t = hot_choose(eng);

	/* (outside REGISTERED and PROMOTING the hot standby is gone:
	   tier_failed() took it, or empty() dropped it) */
	if (t != eng->hot)
		hot_set(eng, t, false, true);
}


/**
 * The one place that chooses baresip's current UA: if any account of
 * the tier in use is registered, one of them is current.  Called after
 * every event, so failure, removal and move all end here.  A current UA
 * with a call stays current until the call ends: baresip's call
 * commands (hangup, hold, transfer) act on the current UA's calls.
 */
void current_update(struct sr_engine *eng)
{
	struct sr_account *acc;

	if (!eng->cur || !eng->drives_current)
		return;

	if (eng->curacc && eng->curacc->busy)
		return;

	if (eng->curacc && eng->curacc->tier == eng->cur &&
	    eng->curacc->state == SR_ACC_REGISTERED)
		return;

	acc = tier_registered_acc(eng->cur);
	if (!acc)
		return;

	eng->curacc = acc;
	emit(eng, SR_ACT_CURRENT, acc, 0);
}


/*
 * Public API
 */

static void account_destructor(void *arg)
{
	struct sr_account *acc = arg;

	list_unlink(&acc->rle);
	list_unlink(&acc->le);
	mem_deref(acc->srv);
}


/**
 * Add an account to the ladder
 *
 * @param eng      Engine
 * @param accp     Pointer to the engine's account (freed by remove)
 * @param ref      Glue object, handed back in actions
 * @param prio     Tier
 * @param fbregint Probe interval while standby [s], 0 = none
 * @param flags    enum sr_acc_flag
 * @param now      Current time [ms]
 *
 * @return 0 if success, otherwise errorcode
 */
int sr_account_add(struct sr_engine *eng, struct sr_account **accp,
		   void *ref, uint32_t prio, uint32_t fbregint,
		   unsigned flags, uint64_t now)
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
	acc->flags    = flags;
	acc->state    = SR_ACC_UNKNOWN;
	acc->pin      = -1;
	acc->srv_req  = -1;
	acc->unreg_srv = LATE_REGISTRAR;
	acc->gen_route = -1;

	list_append(&t->accl, &acc->le, acc);
	++t->n;
	++t->cnt[SR_ACC_UNKNOWN];
	if (is_probing(acc))
		++t->nprobing;
	++eng->naccounts;

	*accp = acc;

	if (!eng->started)
		return 0;

	event_begin(eng, "account added", now);

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
		acc_activate(acc);
	}
	else if (eng->state == SR_WAITING ||
		 (eng->cur && t->prio < eng->cur->prio)) {
		/* while waiting, a new account is worth a round now */
		fire(eng, EV_ADDED_BETTER, &ctx);
	}

	if (!tier_is_active(eng, t))
		acc_schedule_probe(acc, jitter(eng, FIRST_PROBE_SPREAD, 0));

	event_end(eng);

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

	event_begin(eng, "account removed", now);

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
		fire(eng, tier_failed_event(eng, t), &ctx);
	}

	if (t == eng->cur && acc_was_busy && !t->nbusy)
		fire(eng, EV_CALLS_ENDED, &ctx);

	if (!t->n && !tier_is_active(eng, t)) {
		list_unlink(&t->le);
		mem_deref(t);
	}

	event_end(eng);
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
	event_begin(acc->eng, "calls ended", now);

	if (t == acc->eng->cur && !t->nbusy) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.tier   = t;
		ctx.acc    = acc;
		ctx.reason = SR_REASON_FAILBACK;
		ctx.now    = now;

		fire(acc->eng, EV_CALLS_ENDED, &ctx);
	}

	/* (a current UA kept for its call is replaced now) */
	event_end(acc->eng);
}


/**
 * The account a call that met a dead tier is placed again through: the
 * registered account of the hot standby if there is one (concurrent
 * mode), else an account of the next tier below the one in use that is
 * not known dead and did not fail while registered (spent; a
 * registered account first).  Only below: the tiers above the one in
 * use were left for a reason.  O(tiers).
 *
 * @param eng Engine
 *
 * @return The account, NULL if there is none
 */
struct sr_account *sr_engine_fallback(const struct sr_engine *eng)
{
	struct sr_account *acc;
	struct le *le;

	if (!eng || !eng->cur)
		return NULL;

	if (eng->hot) {
		acc = tier_registered_acc(eng->hot);
		if (acc)
			return acc;
	}

	for (le = eng->cur->le.next; le; le = le->next) {
		struct sr_tier *t = le->data;

		if (!t->n || t->spent || tier_is_dead(t))
			continue;

		acc = tier_registered_acc(t);

		return acc ? acc : list_ledata(list_head(&t->accl));
	}

	return NULL;
}


/**
 * The account a call through `acc` is placed again through when its
 * first hop fails: the tier in use's registered account for a call
 * through another active tier (the hot standby, a failback's target:
 * a dial that picked its UA), else sr_engine_fallback().
 *
 * @param acc The account the call went through
 *
 * @return The account, NULL if there is none
 */
struct sr_account *sr_account_fallback(const struct sr_account *acc)
{
	const struct sr_engine *eng = acc ? acc->eng : NULL;

	if (!eng || !eng->cur)
		return NULL;

	if (acc->tier != eng->cur)
		return tier_registered_acc(eng->cur);

	return sr_engine_fallback(eng);
}


/** The engine an account belongs to (the glue asks it for a fallback) */
struct sr_engine *sr_account_engine(const struct sr_account *acc)
{
	return acc ? acc->eng : NULL;
}
