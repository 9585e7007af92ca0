/**
 * @file engine_gen.c  Policy engine: reg-client generations, late requests
 *
 * Reg-client generations.  libre 1.1.0 cannot stop a request: a reg
 * client that baresip replaces (ua_register), takes down
 * (ua_unregister) or that HOLD made send an expires=0 REGISTER goes on
 * with what it has in flight, and when its REGISTER gets a 2xx after it
 * was replaced, it sends the un-REGISTER of that binding, with the same
 * Contact as the account's new registration.  Without a digest challenge
 * to slow it, that un-REGISTER reaches the registrar right after the new
 * binding and removes it.  The engine therefore keeps a fact per
 * account: the reg client it has (its route, whether a REGISTER of it is
 * in flight, whether it was bound), and when one is retired, how long
 * its late requests can arrive (Timer F for each transaction, at each
 * server it may try in turn) and where.  A registration made where they
 * can arrive is repaired (SR_REQ_REPAIR) once they are over; the window
 * ends early when the server they go to first answers, since a live
 * server answers them at their next retransmission.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <re.h>
#include "engine.h"
#include "engine_priv.h"


/* [ms] a non-INVITE transaction's lifetime: Timer F, 64 T1 */
uint64_t timer_f(const struct sr_engine *eng)
{
	return 64ULL * eng->cfg.t1;
}


/* the first server a request through `route` goes to */
static int route_first(const struct sr_account *acc, int route)
{
	if (!has_set(acc))
		return LATE_REGISTRAR;

	return route >= 0 ? route : 0;
}


/* late requests through `route`, begun at `start`, may arrive until
   `until` */
void late_add(struct sr_account *acc, int route, uint64_t start,
	      uint64_t until, uint64_t now)
{
	int first = route_first(acc, route);
	bool any  = route < 0 && has_set(acc);

	if (acc->unreg_until > now) {
		if (acc->unreg_srv != first)
			first = LATE_MIXED;
		any |= acc->unreg_any;
	}

	acc->unreg_srv   = first;
	acc->unreg_any   = any;
	acc->unreg_start = max(acc->unreg_start, start);
	acc->unreg_until = max(acc->unreg_until, until);
}


/* can late requests still reach server `srv` (or its registrar)? */
bool late_reaches(const struct sr_account *acc, int srv,
		  uint64_t now)
{
	if (now >= acc->unreg_until)
		return false;

	return acc->unreg_any || acc->unreg_srv == LATE_MIXED ||
		acc->unreg_srv == route_first(acc, srv);
}


/** Baresip builds the account a new reg client through its route now
 *  (its REGISTER is in flight) */
void gen_build(struct sr_account *acc, bool ours)
{
	acc->gen_live  = true;
	acc->gen_busy  = true;
	acc->gen_bound = false;
	acc->gen_ours  = ours;
	acc->gen_route = has_set(acc) ? acc->pin : -1;
}


/**
 * The account's reg client is replaced or taken down: what it may still
 * send (its REGISTER in flight, a refresh, then the un-REGISTER of its
 * binding: two transactions of Timer F at most, at each server it tries
 * in turn) are late requests.
 */
void gen_retire(struct sr_account *acc, uint64_t now)
{
	unsigned ntry;

	if (!acc->gen_live)
		return;

	acc->gen_live = false;

	/* nothing in flight and no binding: it sends nothing more */
	if (!acc->gen_busy && !acc->gen_bound)
		return;

	/* its one server refused or reset its connection: nothing it
	   sends reaches that server later */
	if ((acc->gen_route >= 0 || !has_set(acc)) &&
	    acc->flow == SR_FLOW_STREAM && !acc->last_ok &&
	    (acc->last.err == ECONNREFUSED || acc->last.err == ECONNRESET))
		return;

	ntry = acc->gen_route < 0 && has_set(acc) ? acc->nsrv : 1;

	late_add(acc, acc->gen_route, now,
		 now + 2 * timer_f(acc->eng) * ntry + LATE_MARGIN, now);
}


/** HOLD: the reg client baresip builds now sends one REGISTER with
 *  expires=0, and nothing after its answer */
void gen_hold(struct sr_account *acc, uint64_t now)
{
	int route = has_set(acc) ? acc->pin : -1;
	unsigned ntry = route < 0 && has_set(acc) ? acc->nsrv : 1;

	acc->gen_live = false;
	late_add(acc, route, now, now + timer_f(acc->eng) * ntry +
		 LATE_MARGIN, now);
}


/* When libre sends the account's last late request again after `now` */
static uint64_t unreg_next_send(const struct sr_account *acc, uint64_t now)
{
	const struct sr_config *cfg = &acc->eng->cfg;
	uint64_t t = acc->unreg_start, rto = cfg->t1;
	unsigned i;

	/* bounded: Timer F is 64 T1, at most 11 sends */
	for (i = 0; t <= now && i < 64; i++) {
		t += rto;
		rto = min(rto * 2, (uint64_t)cfg->t2);
	}

	return t;
}


/* Server `srv` (-1: its registrar) answered: the late requests that
   are at it are answered at their next retransmission.  Those routed
   as DNS orders the servers move on at once from a server that refused
   the connection: they are at the first one after it that did not. */
void late_answered(struct sr_account *acc, int srv, uint64_t now)
{
	int at = acc->unreg_srv;

	while (acc->unreg_any && at >= 0 && (unsigned)at + 1 < acc->nsrv &&
	       acc->srv[at].state == SR_SRV_DEAD && acc->srv[at].refused)
		++at;

	if (acc->unreg_until <= now || at != route_first(acc, srv))
		return;

	acc->unreg_until = min(acc->unreg_until,
			       unreg_next_send(acc, now) + UNREG_MARGIN);
}
