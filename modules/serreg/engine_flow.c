/**
 * @file engine_flow.c  Policy engine: flows and the watch
 *
 * The connection of a registered account's answers is watched (R21);
 * when it closes, or a flow of an outbound account dies (RFC 5626), the
 * account registers again on a new connection (flow recovery).
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <re.h>
#include "engine.h"
#include "engine_priv.h"


void acc_unwatch(struct sr_account *acc)
{
	if (!acc->watched)
		return;

	acc->watched = false;
	emit(acc->eng, SR_ACT_UNWATCH, acc, 0);
}


/** Watch the connection of a registered account's answers (R21) */
void acc_watch_update(struct sr_account *acc)
{
	/* (an answer of another server of its set is not its flow) */
	if (acc->watched || acc->flow != SR_FLOW_STREAM ||
	    acc->state != SR_ACC_REGISTERED ||
	    (srv_of_req(acc) && acc->srv_req != (int)srv_use(acc)) ||
	    !tier_is_active(acc->eng, acc->tier))
		return;

	acc->watched = true;
	emit(acc->eng, SR_ACT_WATCH, acc, 0);
}


/** A flow recovery at `due`: now, or on the account's timer */
void acc_recover_at(struct sr_account *acc, uint64_t due,
		    uint64_t now)
{
	if (now >= due) {
		acc_recover(acc, now);
		return;
	}

	acc->recover    = true;
	acc->recover_at = due;
	emit(acc->eng, SR_ACT_TIMER, acc, due - now);
}


/** Flow recovery: register again on a new connection */
void acc_recover(struct sr_account *acc, uint64_t now)
{
	acc->recover      = false;
	acc->repair       = false;
	acc->recovered_at = now;
	acc_request_cancel(acc);
	acc_set_state(acc, SR_ACC_REGISTERING);

	/* the new connection may reach a registrar that is dying: its
	   REGISTER gets the deadline of a check, not libre's 32 s */
	if (acc->eng->cfg.probe_timeout) {
		acc->recovering       = true;
		acc->recovering_until = now +
			acc->eng->cfg.probe_timeout * 1000ULL;
		emit(acc->eng, SR_ACT_TIMER, acc,
		     acc->eng->cfg.probe_timeout * 1000ULL);
	}

	/* baresip builds reg client i with the i-th outbound proxy: the
	   first must be the configured one again, or both flows would go
	   through the second edge */
	acc->route_held = false;
	if (acc->route) {
		acc->route = 0;
		emit_flow(acc->eng, acc, 0);
	}

	gen_retire(acc, now);
	gen_build(acc, true);
	emit(acc->eng, SR_ACT_RECOVER, acc, 0);
}


/*
 * Public API
 */

/**
 * The watched connection of a registered account closed or failed its
 * keep-alive (R21).  Its binding went with it (the Contact names that
 * connection): it registers again at once on a new connection, to its
 * registrar (RFC 5626 4.4.1, flow recovery), and fails only if that
 * fails.  A registrar that dropped an idle connection just answers;
 * recoveries of one account are SR_RECOVER_GAP apart at least.
 */
void sr_account_flow_closed(struct sr_account *acc, int err, uint64_t now)
{
	struct sr_engine *eng;
	uint64_t due;

	(void)err;

	if (!acc || !acc->watched)
		return;

	eng = acc->eng;
	event_begin(eng, "connection closed", now);

	acc->watched = false;

	if (!tier_is_active(eng, acc->tier) ||
	    acc->state != SR_ACC_REGISTERED)
		goto out;

	/* a set: the server in use may be gone, the next one asked */
	if (has_set(acc)) {
		acc_hunt_from_use(acc, now);
		goto out;
	}

	due = acc->recovered_at ?
		acc->recovered_at + SR_RECOVER_GAP * 1000ULL : now;

	acc_recover_at(acc, due, now);

 out:
	event_end(eng);
}


/**
 * Which flows of an outbound account are registered, after one of
 * baresip's events for it (REGISTER_OK or REGISTER_FAIL; baresip 1.0.0
 * says nothing of which flow an event is about).  New calls go through
 * the first flow that works (baresip always uses the first outbound
 * proxy); a dead flow while another works is recovered at once, then
 * after RFC 5626's backoff (4.5: 90 s x 2^n, at most 1800 s, 50-100 %),
 * except one whose first hop said 439 (no outbound there).
 *
 * @param acc      Account
 * @param okmask   Bit i set: flow i is registered
 * @param failmask Bit i set: flow i failed (no bit: no answer yet)
 * @param ans      The answer of the event, NULL for a REGISTER_OK
 * @param now      Current time [ms]
 */
void sr_account_flows(struct sr_account *acc, unsigned okmask,
		      unsigned failmask, const struct sr_answer *ans,
		      uint64_t now)
{
	struct sr_engine *eng;
	unsigned route;
	uint64_t wait;

	if (!acc || !(acc->flags & SR_ACC_F_OUTBOUND) || acc->no_outbound)
		return;

	eng = acc->eng;
	acc->flows_ok = okmask;

	if (!tier_is_active(eng, acc->tier) || !acc->asked || !okmask)
		return;

	event_begin(eng, "flows", now);

	for (route = 0; !(okmask & (1u << route)); route++)
		;

	if (route != acc->route && !acc->route_held) {
		acc->route = route;
		emit_flow(eng, acc, route);
	}

	if (!failmask) {
		acc->flow_fails = 0;
	}
	else if (acc->state == SR_ACC_REGISTERED && !acc->recover &&
		 !(ans && !ans->err && ans->scode == 439)) {
		wait = acc->flow_fails ?
			jitter(eng, min((uint64_t)SR_FLOW_MAX,
					(uint64_t)SR_FLOW_BASE <<
					min(acc->flow_fails - 1, 10u)) * 1000,
			       BACKOFF_JITTER_MIN) : 0;
		++acc->flow_fails;
		if (acc->recovered_at)
			wait = max(now + wait, acc->recovered_at +
				   SR_RECOVER_GAP * 1000ULL) - now;
		acc_recover_at(acc, now + wait, now);
	}

	event_end(eng);
}
