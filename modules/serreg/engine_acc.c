/**
 * @file engine_acc.c  Policy engine: the account machine
 *
 * An account's state (acc_set_state keeps its tier's counters), its
 * requests, probes, checks and TLS gate, its failure, the failback
 * spread (R52) and the overload hold (R53); baresip's events for it
 * (REGISTERING, REGISTER_OK, REGISTER_FAIL), the answers to serreg's
 * own requests and the account's timer.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "engine_priv.h"


/*
 * Ready for a failback: alive for failback_hold probes in a row, and no
 * late request of a reg client it had (the un-REGISTER of its last
 * departure) can still reach the server it would register at (it would
 * remove the binding of the return: see acc_park)
 */
static void acc_update_ready(struct sr_account *acc, uint64_t now)
{
	const struct sr_engine *eng = acc->eng;
	bool ready = acc->state == SR_ACC_ALIVE &&
		acc->good >= eng->cfg.failback_hold &&
		!late_reaches(acc, srv_best(acc), now) &&
		(!eng->cfg.failback_spread || acc->spread_done);

	if (ready == acc->ready)
		return;

	acc->ready = ready;
	if (ready) {
		++acc->tier->nready;
		/* as for a failback: the hold, the spread and the late
		   requests passed, its tier may be the hot standby again */
		acc->tier->spent = false;
	}
	else {
		--acc->tier->nready;
	}
}


/** The one setter of an account's state; keeps the tier's counters */
void acc_set_state(struct sr_account *acc, enum sr_acc_state st)
{
	struct sr_tier *t = acc->tier;

	trace(acc->eng, acc, acc->state, st);

	if (st != SR_ACC_REGISTERING)
		acc->recovering = false;

	/* a new choice of its tier may honour a Retry-After again (R53) */
	acc->ra_wait = false;
	if (st == SR_ACC_REGISTERING)
		acc->ra_held = false;

	--t->cnt[acc->state];
	++t->cnt[st];

	if (acc->state == SR_ACC_REGISTERED)
		list_unlink(&acc->rle);
	if (st == SR_ACC_REGISTERED)
		list_append(&t->regl, &acc->rle, acc);

	acc->state = st;

	if (st != SR_ACC_ALIVE) {
		acc->good = 0;
		acc->spread_wait = false;
		acc->spread_done = false;
		acc_update_ready(acc, 0);
	}
}


/** Record an answer: what serreg shows, what a park follows */
void acc_answer_set(struct sr_account *acc,
		    const struct sr_answer *ans, bool ok, uint64_t now)
{
	acc->last      = *ans;
	acc->last_ok   = ok;
	acc->last_time = now;
}


void acc_request_to(struct sr_account *acc, enum sr_request req,
		    int server)
{
	acc->req     = req;
	acc->srv_req = server;
	emit_server(acc, SR_ACT_REQUEST, req, server, NULL);
}


/* a request to the server in use (as baresip routes, without a set) */
void acc_request(struct sr_account *acc, enum sr_request req)
{
	acc_request_to(acc, req, has_set(acc) ? (int)srv_use(acc) : -1);
}


void acc_request_cancel(struct sr_account *acc)
{
	acc->hunting = false;

	if (acc->req == SR_REQ_NONE)
		return;

	acc->req = SR_REQ_NONE;
	emit(acc->eng, SR_ACT_REQUEST_CANCEL, acc, 0);
}


void acc_schedule_probe(struct sr_account *acc, uint64_t delay)
{
	if (is_probing(acc))
		emit(acc->eng, SR_ACT_TIMER, acc, delay);
}


/* the check's verdict (R20): any final answer but 408 and 503 is alive */
bool check_passed(const struct sr_answer *ans)
{
	return !ans->err && ans->scode >= 200 && ans->scode != 408 &&
		ans->scode != 503;
}


static bool answer_2xx(const struct sr_answer *ans)
{
	return !ans->err && ans->scode >= 200 && ans->scode < 300;
}


/* next liveness check of a registered account (R20), jittered, or the
   next probe of a better server while pinned; a repair that waits is
   due at the end of the un-REGISTER's window if sooner; a flow
   recovery that waits keeps the timer (its handler checks next) */
void acc_schedule_check(struct sr_account *acc, uint64_t now)
{
	struct sr_engine *eng = acc->eng;
	uint64_t delay = UINT64_MAX;

	if (acc->recover) {
		emit(eng, SR_ACT_TIMER, acc, acc->recover_at > now ?
		     acc->recover_at - now : 0);
		return;
	}

	if (eng->cfg.check_interval)
		delay = jitter(eng, eng->cfg.check_interval * 1000ULL,
			       CHECK_JITTER_MIN);
	else if (acc->pin > 0)
		delay = jitter(eng, eng->cfg.server_retry * 1000ULL,
			       CHECK_JITTER_MIN);

	if (acc->repair)
		delay = min(delay, acc->unreg_until > now ?
			    acc->unreg_until - now : 0);

	if (delay != UINT64_MAX)
		emit(eng, SR_ACT_TIMER, acc, delay);
}


/* next probe: 80-100 % of fbregint, and not before Retry-After */
uint64_t probe_interval(struct sr_account *acc,
			const struct sr_answer *ans)
{
	uint64_t delay = jitter(acc->eng, acc->fbregint * 1000ULL,
				PROBE_JITTER_MIN);

	if (ans && ans->retry_after)
		delay = max(delay, min(ans->retry_after,
				       (uint32_t)RETRY_AFTER_MAX) * 1000ULL);

	return delay;
}


/*
 * Account events (the parts shared by several public events)
 */

/**
 * R53: a 503 with Retry-After to the REGISTER of an account whose tier
 * was just chosen is a registrar shedding load, not a dead one: once per
 * choice, the account is taken off baresip's own retry (libre's
 * failwait) and registers again after Retry-After plus a uniform
 * 0..Retry-After, so the phones a loaded registrar turned away come back
 * spread over a window instead of failing over, or all at once.  A
 * second failure fails the account.
 *
 * @return true if the answer is honoured (no failure)
 */
static bool overload_hold(struct sr_account *acc,
			  const struct sr_answer *ans, uint64_t now)
{
	struct sr_engine *eng = acc->eng;
	uint64_t ra;

	if (acc->state != SR_ACC_REGISTERING || acc->ra_held || ans->err ||
	    ans->scode != 503 || !ans->retry_after)
		return false;

	ra = min(ans->retry_after, (uint32_t)RETRY_AFTER_MAX) * 1000ULL;

	/* off baresip meanwhile: its answers and REGISTERING no longer
	   count (asked), until serreg registers it again */
	acc_answer_set(acc, ans, false, now);
	acc_request_cancel(acc);
	acc->ra_held = true;
	acc->ra_wait = true;
	acc->asked   = false;
	gen_retire(acc, now);
	emit(eng, SR_ACT_UNREGISTER, acc, 0);
	emit(eng, SR_ACT_TIMER, acc, ra + jitter(eng, ra, 0));

	return true;
}


/** The account's registration failed, or its check, gate or repair */
void acc_failed(struct sr_account *acc, const struct sr_answer *ans,
		uint64_t now)
{
	struct sr_engine *eng = acc->eng;
	struct sr_tier *t = acc->tier;

	acc_answer_set(acc, ans, false, now);

	if (acc->state == SR_ACC_FAILED)
		return;

	acc_unwatch(acc);
	acc->repair  = false;
	acc->recover = false;
	acc->hunting = false;
	acc_set_state(acc, SR_ACC_FAILED);

	/* the tier fails only when every account has failed (R2) */
	if (t->cnt[SR_ACC_FAILED] < t->n)
		return;

	fire_acc(acc, tier_failed_event(eng, t), SR_REASON_TIER_FAILED, ans,
		 now);
}


/**
 * The failback spread (R52): when an account first passes the failback
 * hold, its timer waits uniform 0..failback_spread instead of the next
 * probe; only then is it ready.  A fleet that sees its primary return
 * together moves back over the window, not at once.
 *
 * @return true if its timer now waits for the spread
 */
static bool spread_start(struct sr_account *acc)
{
	struct sr_engine *eng = acc->eng;

	if (!eng->cfg.failback_spread || acc->spread_done ||
	    acc->state != SR_ACC_ALIVE ||
	    acc->good < eng->cfg.failback_hold)
		return false;

	acc->spread_wait = true;
	emit(eng, SR_ACT_TIMER, acc,
	     jitter(eng, eng->cfg.failback_spread * 1000ULL, 0));

	return true;
}


/** The failback spread is over: ready, and the probes go on */
static void spread_end(struct sr_account *acc, uint64_t now)
{
	struct sr_engine *eng = acc->eng;

	acc->spread_wait = false;
	acc->spread_done = true;
	acc_update_ready(acc, now);
	acc_schedule_probe(acc, probe_interval(acc, NULL));

	if (acc->ready && eng->cur && acc->tier->prio < eng->cur->prio)
		fire_acc(acc, EV_BETTER_READY, SR_REASON_FAILBACK, NULL, now);
}


/** A probe of a standby account was answered, or failed */
static void acc_probed(struct sr_account *acc, enum sr_request req,
		       const struct sr_answer *ans, uint64_t now)
{
	struct sr_engine *eng = acc->eng;
	bool was_alive, ok;

	was_alive = acc->state == SR_ACC_ALIVE;
	ok = req == SR_REQ_PROBE_CHECK ? check_passed(ans) : answer_2xx(ans);

	/* a set: the account is dead only when every server is */
	if (srv_of_req(acc)) {
		if (ok) {
			srv_alive(acc, (unsigned)acc->srv_req, ans);
		}
		else {
			int next;

			srv_dead(acc, (unsigned)acc->srv_req, ans, now);
			next = srv_next(acc, now);
			if (next >= 0) {
				acc_request_to(acc, req, next);
				return;
			}
		}
	}

	acc_answer_set(acc, ans, ok, now);

	if (ok) {
		acc_set_state(acc, SR_ACC_ALIVE);
		++acc->good;
	}
	else {
		acc_set_state(acc, SR_ACC_DEAD);
	}

	acc_update_ready(acc, now);

	if (!spread_start(acc))
		acc_schedule_probe(acc, probe_interval(acc, ans));

	if (ok && !was_alive && eng->state == SR_WAITING)
		fire_acc(acc, EV_PROBED_ALIVE, SR_REASON_ALIVE, ans, now);
	else if (acc->ready && eng->cur && acc->tier->prio < eng->cur->prio)
		fire_acc(acc, EV_BETTER_READY, SR_REASON_FAILBACK, ans, now);
}


/**
 * A liveness check of a registered account was answered (R20): any final
 * answer but 408 and 503 means alive; no answer, a transport error, 408
 * or 503 is a failure of the account, as a failed REGISTER.
 */
static void acc_checked(struct sr_account *acc, const struct sr_answer *ans,
			uint64_t now)
{
	if (acc->state != SR_ACC_REGISTERED)
		return;

	if (!check_passed(ans)) {
		/* a set: the next server is asked before the account
		   fails */
		if (srv_of_req(acc) &&
		    acc_server_failed(acc, (unsigned)acc->srv_req, ans, now))
			return;

		/* outbound: the check went through the first proxy; the
		   other flow may work (a frozen edge is found by libre's
		   keep-alive only after 26-30 s): check through it first */
		if ((acc->flags & SR_ACC_F_OUTBOUND) && !acc->no_outbound &&
		    acc->route == 0) {
			acc_answer_set(acc, ans, false, now);
			acc->route = 1;
			acc->route_held = true;
			emit_flow(acc->eng, acc, 1);
			acc_request(acc, SR_REQ_CHECK);
			return;
		}

		/* its REGISTER probes could say alive at once: a registrar
		   that fails the check is probed with it (no flapping) */
		acc->check_failed = true;
		acc_failed(acc, ans, now);
		return;
	}

	acc_answer_set(acc, ans, true, now);

	/* the second flow works, the first did not answer: its flow is
	   built again (baresip registers both), calls stay on the second */
	if (acc->route_held && !acc->recover) {
		acc_recover_at(acc, acc->recovered_at ?
			       max(now, acc->recovered_at +
				   SR_RECOVER_GAP * 1000ULL) : now, now);
		if (acc->recover)
			return;
	}

	/* pinned: a better server of its set may be back */
	if (srv_of_req(acc))
		srv_alive(acc, (unsigned)acc->srv_req, ans);

	if (acc_probe_better(acc, now))
		return;

	acc_schedule_check(acc, now);
}


/** The TLS gate answered: any answer from a verified registrar lets the
 *  account register; none, or a failed verification, fails it */
static void acc_gated(struct sr_account *acc, const struct sr_answer *ans,
		      uint64_t now)
{
	if (acc->state != SR_ACC_VERIFYING)
		return;

	if (ans->err) {
		acc_failed(acc, ans, now);
		return;
	}

	acc_answer_set(acc, ans, true, now);
	acc_set_state(acc, SR_ACC_REGISTERING);
	acc->asked = true;
	gen_build(acc, true);
	emit(acc->eng, SR_ACT_REGISTER, acc, 0);
}


/** A request was not sent (no memory): its timer asks again */
static void acc_unsent(struct sr_account *acc, enum sr_request req,
		       bool active, uint64_t now)
{
	struct sr_engine *eng = acc->eng;

	switch (req) {

	case SR_REQ_PROBE:
	case SR_REQ_PROBE_CHECK:
		if (!active)
			acc_schedule_probe(acc, probe_interval(acc, NULL));
		break;

	case SR_REQ_CHECK:
		if (active && acc->state == SR_ACC_REGISTERED)
			acc_schedule_check(acc, now);
		break;

	case SR_REQ_GATE:
		if (active && acc->state == SR_ACC_VERIFYING)
			emit(eng, SR_ACT_TIMER, acc, UNSENT_RETRY);
		break;

	case SR_REQ_REPAIR:
		if (active && acc->state == SR_ACC_REGISTERED) {
			acc->repair = true;
			emit(eng, SR_ACT_TIMER, acc, UNSENT_RETRY);
		}
		break;

	default:
		/* a flow request is asked again at the next REGISTER_OK */
		break;
	}
}


/*
 * Public API
 */

/**
 * baresip is about to register the account (its REGISTERING event):
 * an account that may not register now is held (no binding)
 */
void sr_account_registering(struct sr_account *acc, uint64_t now)
{
	if (!acc)
		return;

	/* chosen and past its gate: baresip registers it (start, a net
	   change, serreg's own REGISTER) */
	if (tier_is_active(acc->eng, acc->tier) && acc->asked) {
		if (acc->gen_ours) {
			acc->gen_ours = false;
		}
		else {
			/* baresip replaces its reg clients on its own (a net
			   change): built now, with the first proxy as the
			   first flow's route (ROUTE runs at once).  libre
			   flushed the connections and their keepalives
			   without a word: the watch is over, the next
			   answer starts one on the new connection */
			acc_unwatch(acc);
			gen_retire(acc, now);
			acc->route_held = false;
			if (acc->route) {
				acc->route = 0;
				emit_flow(acc->eng, acc, 0);
			}
			gen_build(acc, false);
		}
		return;
	}

	gen_retire(acc, now);
	gen_hold(acc, now);
	emit(acc->eng, SR_ACT_HOLD, acc, 0);
}


/**
 * The REGISTER asked for was not sent: baresip's reg client of the
 * account registers it already (a UA adopted after a late load).  No
 * REGISTERING follows, so the generation is not one of serreg's: the
 * next REGISTERING is baresip's own (a net change).  The generation
 * stays live and in flight; its REGISTER_OK marks it bound.
 */
void sr_account_reg_kept(struct sr_account *acc)
{
	if (acc)
		acc->gen_ours = false;
}


/** An account registered (baresip's REGISTER_OK) */
void sr_account_registered(struct sr_account *acc, uint16_t scode,
			   uint64_t now)
{
	struct sr_engine *eng;
	struct sr_answer ans;

	if (!acc)
		return;

	eng = acc->eng;

	/* a tier that was left never counts as registered (R5), nor an
	   account not asked to register (the 200 to the un-REGISTER that
	   HOLD made while its registrar is verified) */
	if (!tier_is_active(eng, acc->tier) || !acc->asked)
		return;

	event_begin(eng, "registered", now);

	memset(&ans, 0, sizeof(ans));
	ans.scode = scode;
	acc_answer_set(acc, &ans, true, now);
	acc->gen_busy  = false;
	acc->gen_bound = true;
	late_answered(acc, acc->gen_route, now);

	if (acc->state != SR_ACC_REGISTERED) {
		acc_set_state(acc, SR_ACC_REGISTERED);
		acc->check_failed = false;
		acc->tier->spent = false;

		/* a late request of a reg client it had before may still
		   remove this binding: repair it when they are over */
		acc->repair = late_reaches(acc, acc->gen_route, now);
		acc_schedule_check(acc, now);

		/* (the hot standby's registration is no event: it
		   only waits) */
		if (acc->tier == eng->cur)
			fire_acc(acc, EV_TIER_OK, SR_REASON_START, NULL,
				 now);
		else if (acc->tier == eng->target)
			fire_acc(acc, EV_TARGET_OK, SR_REASON_FAILBACK, NULL,
				 now);
	}

	/* its connection, found by a request whose answer comes over it
	   (R21): an older answer may name a connection that is gone */
	if (!acc->watched && acc->flow != SR_FLOW_DGRAM &&
	    acc->req == SR_REQ_NONE && acc->state == SR_ACC_REGISTERED &&
	    tier_is_active(eng, acc->tier))
		acc_request(acc, SR_REQ_FLOW);

	event_end(eng);
}


/** An account's registration failed (baresip's REGISTER_FAIL) */
void sr_account_reg_failed(struct sr_account *acc,
			   const struct sr_answer *ans, uint64_t now)
{
	/* (not asked to register: the answer is to the REGISTER that HOLD
	   made an un-REGISTER while its registrar is verified) */
	if (!acc || !ans || !tier_is_active(acc->eng, acc->tier) ||
	    !acc->asked)
		return;

	event_begin(acc->eng, "register failed", now);
	acc->gen_busy = false;
	if (!ans->err)
		late_answered(acc, acc->gen_route, now);

	/* RFC 5626 11.6: no first hop supports outbound, register
	   without it (once) instead of failing */
	if ((acc->flags & SR_ACC_F_OUTBOUND) && !acc->no_outbound &&
	    !ans->err && ans->scode == 439) {
		acc->no_outbound = true;
		acc_answer_set(acc, ans, false, now);
		acc_set_state(acc, SR_ACC_REGISTERING);
		gen_retire(acc, now);
		gen_build(acc, true);
		emit(acc->eng, SR_ACT_NO_OUTBOUND, acc, 0);
	}
	else if (overload_hold(acc, ans, now)) {
		/* honoured */
	}
	else if (acc->pin >= 0 &&
		 acc_server_failed(acc, srv_use(acc), ans, now)) {
		/* pinned: only that server was asked; the others are */
	}
	else {
		acc_failed(acc, ans, now);
	}

	event_end(acc->eng);
}


/**
 * The outcome of the request serreg sent for the account (the last
 * SR_ACT_REQUEST): the engine knows what it was for
 */
void sr_account_answer(struct sr_account *acc, const struct sr_answer *ans,
		       uint64_t now)
{
	struct sr_engine *eng;
	enum sr_request req;
	bool active;

	if (!acc || !ans || acc->req == SR_REQ_NONE)
		return;

	eng = acc->eng;
	req = acc->req;
	acc->req = SR_REQ_NONE;
	active = tier_is_active(eng, acc->tier);

	event_begin(eng, sr_request_name(req), now);

	/* not sent for want of memory here: no word on the registrar, the
	   same request is asked again later */
	if (ans->err == ENOMEM) {
		acc_unsent(acc, req, active, now);
		goto out;
	}

	if (ans->flow != SR_FLOW_UNKNOWN)
		acc->flow = ans->flow;

	if (!ans->err)
		late_answered(acc, acc->srv_req, now);

	/* a probe given up at its deadline is still retransmitted by
	   libre until Timer F: an expires=0 with the account's Contact */
	if (req == SR_REQ_PROBE && ans->err == ETIMEDOUT) {
		uint64_t sent = now - min(now, eng->cfg.probe_timeout *
					  1000ULL);

		late_add(acc, acc->srv_req, sent, sent + timer_f(eng) +
			 LATE_MARGIN, now);
	}

	switch (req) {

	case SR_REQ_PROBE:
	case SR_REQ_PROBE_CHECK:
		if (!active && is_probing(acc))
			acc_probed(acc, req, ans, now);
		break;

	case SR_REQ_CHECK:
		if (active)
			acc_checked(acc, ans, now);
		break;

	case SR_REQ_GATE:
		if (active)
			acc_gated(acc, ans, now);
		break;

	case SR_REQ_QUERY:
		/* the server answers as a check would: repair the binding
		   unless it says it holds it (a registrar that does not
		   list bindings gets the REGISTER) */
		if (!active || acc->state != SR_ACC_REGISTERED)
			break;
		if (check_passed(ans)) {
			acc_answer_set(acc, ans, true, now);
			if (ans->binding != SR_BINDING_HELD)
				acc_request(acc, SR_REQ_REPAIR);
			break;
		}
		/* no answer, 408, 503: a failed check */
		/* fall through */

	case SR_REQ_REPAIR:
		/* a REGISTER to the server in use: failed, it fails as a
		   check does (a set: the next server is asked first) */
		if (!active || acc->state != SR_ACC_REGISTERED ||
		    answer_2xx(ans))
			break;
		if (srv_of_req(acc) &&
		    acc_server_failed(acc, (unsigned)acc->srv_req, ans, now))
			break;
		acc_failed(acc, ans, now);
		break;

	case SR_REQ_SERVER:
		if (active && (acc->state == SR_ACC_REGISTERED ||
			       acc->state == SR_ACC_REGISTERING))
			acc_server_answered(acc, ans, now);
		break;

	default:
		break;
	}

	acc_watch_update(acc);

 out:
	event_end(eng);
}


/** The account's timer (armed by SR_ACT_TIMER) fired: probe, check or
 *  repair */
void sr_account_timer(struct sr_account *acc, uint64_t now)
{
	struct sr_engine *eng;

	if (!acc)
		return;

	eng = acc->eng;
	event_begin(eng, "timer", now);

	if (!tier_is_active(eng, acc->tier)) {
		if (acc->spread_wait)
			spread_end(acc, now);
		else if (is_probing(acc))
			acc_probe(acc, acc->check_failed ?
				  SR_REQ_PROBE_CHECK : SR_REQ_PROBE, now);
	}
	else if (acc->state == SR_ACC_VERIFYING) {
		if (acc->req == SR_REQ_NONE)
			acc_request(acc, SR_REQ_GATE);
	}
	else if (acc->ra_wait) {
		/* the Retry-After of its REGISTER is over (R53) */
		acc->ra_wait = false;
		acc->asked   = true;
		gen_build(acc, true);
		emit(eng, SR_ACT_REGISTER, acc, 0);
	}
	else if (acc->state == SR_ACC_REGISTERING && acc->recovering &&
		 now >= acc->recovering_until) {
		struct sr_answer tmo;

		memset(&tmo, 0, sizeof(tmo));
		tmo.err  = ETIMEDOUT;
		tmo.flow = acc->flow;
		acc->recovering = false;
		if (!acc_server_failed(acc, srv_use(acc), &tmo, now))
			acc_failed(acc, &tmo, now);
	}
	else if (acc->state != SR_ACC_REGISTERED || acc->hunting) {
		/* nothing: registering, failed, or its set is searched */
	}
	else if (acc->recover && now >= acc->recover_at) {
		acc_recover(acc, now);
	}
	else if (acc->recover) {
		acc_schedule_check(acc, now);
	}
	else if (acc->req == SR_REQ_CHECK) {
		/* a call's check is out (sr_account_call_placed): nothing
		   replaces it; its answer arms the timer again (a repair
		   that waits is then due at once) */
	}
	else if (acc->repair && now >= acc->unreg_until) {
		/* the late requests are over: is the binding there? */
		acc->repair = false;
		acc_request(acc, SR_REQ_QUERY);
		acc_schedule_check(acc, now);
	}
	else if (eng->cfg.check_interval) {
		acc_request(acc, SR_REQ_CHECK);
	}
	else if (!acc_probe_better(acc, now)) {
		acc_schedule_check(acc, now);
	}

	event_end(eng);
}


/*
 * Calls (issue 19): an outgoing call is evidence on its first hop
 */

/* check the account's registrar at once, if it is registered in a tier
   in use and no request of its own is in flight (that one's answer is
   the verdict) */
static void acc_check_now(struct sr_account *acc, const char *cause,
			  uint64_t now)
{
	struct sr_engine *eng = acc->eng;

	if (!tier_is_active(eng, acc->tier) ||
	    acc->state != SR_ACC_REGISTERED || acc->req != SR_REQ_NONE ||
	    acc->hunting || acc->recover)
		return;

	event_begin(eng, cause, now);
	acc_request(acc, SR_REQ_CHECK);
	event_end(eng);
}


/**
 * An outgoing call through the account was placed: baresip reports no
 * 100 Trying, so its first hop (the registrar or outbound proxy the
 * check asks) is checked at once.  The check's verdict is the call's: a
 * check that fails (no answer within probe_timeout, a transport error,
 * 408, 503) fails the account as any failed check does.
 *
 * @param acc Account of the call's UA
 * @param now Current time [ms]
 */
void sr_account_call_placed(struct sr_account *acc, uint64_t now)
{
	if (acc)
		acc_check_now(acc, "call placed", now);
}


/**
 * An outgoing call through the account failed before any answer of the
 * far end: a transport error, or a 408 or 503 (from the first hop, or
 * relayed).  Evidence, not a verdict: the account's registrar is checked
 * at once, and only a failed check fails the account.  A refusal (486,
 * 603, 404...) is no evidence.
 *
 * @param acc Account of the call's UA
 * @param ans The call's failure
 * @param now Current time [ms]
 */
void sr_account_call_failed(struct sr_account *acc,
			    const struct sr_answer *ans, uint64_t now)
{
	if (!acc || !ans || check_passed(ans) ||
	    (!ans->err && ans->scode < 200))
		return;

	acc_check_now(acc, "call failed", now);
}
