/**
 * @file engine_srv.c  Policy engine: server sets (RFC 3263)
 *
 * The servers of an account's registrar, in the order DNS gives them.
 * Its requests go to the server in use; when that fails, the next
 * servers are asked, each with the probe timeout, and the account fails
 * only when every server did.  A live later server is pinned as the
 * route of the account's requests, so that its REGISTERs no longer wait
 * on the dead one; a failed server is skipped for server_retry (or its
 * Retry-After) and is asked again then.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "engine_priv.h"


static bool srv_usable(const struct sr_server *s, uint64_t now)
{
	return s->state != SR_SRV_DEAD || now >= s->retry_at;
}


/* the next server to ask in a search: the first in the set's order that
   did not fail in this search and is not skipped; -1 for none */
int srv_next(const struct sr_account *acc, uint64_t now)
{
	unsigned i;

	for (i = 0; i < acc->nsrv; i++) {
		if (!(acc->srv_tried & (1u << i)) &&
		    srv_usable(&acc->srv[i], now))
			return (int)i;
	}

	return -1;
}


static void srv_set_state(struct sr_account *acc, unsigned i,
			  enum sr_srv_state st, const struct sr_answer *ans)
{
	struct sr_server *s = &acc->srv[i];

	if (s->state == st)
		return;

	s->state = st;
	emit_server(acc, SR_ACT_SERVER, SR_REQ_NONE, (int)i, ans);
}


void srv_alive(struct sr_account *acc, unsigned i,
	       const struct sr_answer *ans)
{
	++acc->srv[i].good;
	acc->srv[i].refused = false;
	srv_set_state(acc, i, SR_SRV_ALIVE, ans);
}


/* server i failed: skipped for server_retry, or its Retry-After */
void srv_dead(struct sr_account *acc, unsigned i,
	      const struct sr_answer *ans, uint64_t now)
{
	struct sr_server *s = &acc->srv[i];
	uint64_t wait = acc->eng->cfg.server_retry;

	if (ans->retry_after)
		wait = max(wait, (uint64_t)min(ans->retry_after,
					       (uint32_t)RETRY_AFTER_MAX));

	s->good     = 0;
	s->retry_at = now + wait * 1000;
	s->refused  = ans->err == ECONNREFUSED || ans->err == ECONNRESET;
	acc->srv_tried |= 1u << i;
	srv_set_state(acc, i, SR_SRV_DEAD, ans);
}


/* the request in flight went to a server of its set (false: no set,
   or that server left it) */
bool srv_of_req(const struct sr_account *acc)
{
	return has_set(acc) && acc->srv_req >= 0 &&
		(unsigned)acc->srv_req < acc->nsrv;
}


/**
 * Route the account's requests through server `server` of its set (-1:
 * as DNS orders them, through the configured route).  Once it has a set,
 * an account always goes through one named server, the first included:
 * the reg client baresip builds then keeps that route, and its
 * un-REGISTER, when it is replaced, goes to that server only, never on
 * to the next one in DNS order (where it would remove the binding just
 * made there).
 */
static void acc_pin(struct sr_account *acc, int server)
{
	if (server == acc->pin)
		return;

	acc->pin = server;
	emit_server(acc, SR_ACT_PIN, SR_REQ_NONE, server, NULL);
}


/* the first server of its set not known to be dead, -1 for none */
int srv_best(const struct sr_account *acc)
{
	unsigned i;

	for (i = 0; i < acc->nsrv; i++) {
		if (acc->srv[i].state != SR_SRV_DEAD)
			return (int)i;
	}

	return -1;
}


/** Before a chosen account registers: through the first server of its
 *  set that is not known dead (all dead: as DNS orders them) */
void acc_pin_best(struct sr_account *acc)
{
	if (has_set(acc))
		acc_pin(acc, srv_best(acc));
}


/* a standby account's probe: to the first server not skipped, or, if
   all are, the one skipped the shortest */
void acc_probe(struct sr_account *acc, enum sr_request req,
	       uint64_t now)
{
	unsigned i, first = 0;
	int server;

	if (!has_set(acc)) {
		acc_request_to(acc, req, -1);
		return;
	}

	acc->srv_tried = 0;
	server = srv_next(acc, now);
	if (server < 0) {
		for (i = 1; i < acc->nsrv; i++) {
			if (acc->srv[i].retry_at < acc->srv[first].retry_at)
				first = i;
		}

		server = (int)first;
	}

	acc_request_to(acc, req, server);
}


/**
 * Search its set for a live server: OPTIONS to the next one that did
 * not fail in this search
 *
 * @return true if a server is asked, false if none is left
 */
static bool acc_hunt(struct sr_account *acc, uint64_t now)
{
	int next = has_set(acc) ? srv_next(acc, now) : -1;

	acc->hunting = next >= 0;
	if (next < 0)
		return false;

	acc_request_to(acc, SR_REQ_SERVER, next);

	return true;
}


/**
 * Server `i` of a chosen account failed its check or its REGISTER: the
 * other servers of its set are asked at once, and the account stays as
 * it is meanwhile; it fails only when every server has failed.
 *
 * @return true if a search runs, false if no server is left (or no set)
 */
bool acc_server_failed(struct sr_account *acc, unsigned i,
		       const struct sr_answer *ans, uint64_t now)
{
	if (!has_set(acc) || i >= acc->nsrv)
		return false;

	if (!acc->hunting)
		acc->srv_tried = 0;

	acc_answer_set(acc, ans, false, now);
	srv_dead(acc, i, ans, now);

	return acc_hunt(acc, now);
}


/** Its connection closed: its set is searched from the server in use on
 *  (a better one waits for the failback hold) */
void acc_hunt_from_use(struct sr_account *acc, uint64_t now)
{
	acc->srv_tried = (1u << srv_use(acc)) - 1;

	if (!acc_hunt(acc, now)) {
		acc->check_failed = true;
		acc_failed(acc, &acc->last, now);
	}
}


/* while pinned: ask the first better server that is not skipped */
bool acc_probe_better(struct sr_account *acc, uint64_t now)
{
	int i;

	if (!has_set(acc) || acc->pin <= 0)
		return false;

	for (i = 0; i < acc->pin; i++) {
		if (srv_usable(&acc->srv[i], now)) {
			acc->hunting = false;
			acc_request_to(acc, SR_REQ_SERVER, i);
			return true;
		}
	}

	return false;
}


/**
 * A server of the set of a chosen account answered, or not: in a search
 * the first live one takes the account's registration (pinned, and it
 * registers there at once); while pinned, a better one that answered
 * failback_hold times in a row, with no call going, takes it back.
 */
void acc_server_answered(struct sr_account *acc,
			 const struct sr_answer *ans, uint64_t now)
{
	struct sr_engine *eng = acc->eng;
	bool ok = check_passed(ans);
	unsigned i;

	if (!srv_of_req(acc)) {
		/* the set changed meanwhile */
		if (!acc->hunting)
			acc_schedule_check(acc, now);
		else if (!acc_hunt(acc, now))
			acc_failed(acc, ans, now);
		return;
	}

	i = (unsigned)acc->srv_req;

	if (ok)
		srv_alive(acc, i, ans);
	else
		srv_dead(acc, i, ans, now);

	if (acc->hunting) {
		if (!ok) {
			if (!acc_hunt(acc, now)) {
				acc->check_failed = true;
				acc_failed(acc, ans, now);
			}
			return;
		}

		acc->hunting = false;
		acc_answer_set(acc, ans, true, now);

		/* off baresip meanwhile (R53): it registers there later */
		if (!acc->asked) {
			acc_pin(acc, (int)i);
			return;
		}

		if (acc->pin != (int)i) {
			/* (the late requests of its old reg client go to
			   the dead server: gen_retire) */
			acc_pin(acc, (int)i);
			acc_recover(acc, now);
		}
		else {
			acc_recover_at(acc, acc->recovered_at ?
				       max(now, acc->recovered_at +
					   SR_RECOVER_GAP * 1000ULL) : now,
				       now);
		}
		return;
	}

	if (ok && (int)i < acc->pin && !acc->busy &&
	    acc->srv[i].good >= eng->cfg.failback_hold &&
	    acc->state == SR_ACC_REGISTERED) {
		acc_pin(acc, (int)i);
		acc_recover(acc, now);
		return;
	}

	acc_schedule_check(acc, now);
}


/*
 * Public API
 */

/**
 * The servers of the account's registrar, resolved (RFC 3263) or
 * resolved again at the end of their DNS TTL: what is known of a server
 * that stays (same key) is kept.  If the pinned server left the set, the
 * account is pinned to the best server of the new set and, if chosen,
 * registers again.
 *
 * @param acc  Account
 * @param n    Number of servers, in the order DNS gives them (at most
 *             SR_SERVERS_MAX are kept; 0 or 1: no set)
 * @param keys The glue's name of each server (equal keys: same server)
 * @param now  Current time [ms]
 */
void sr_account_servers(struct sr_account *acc, unsigned n,
			const uint32_t *keys, uint64_t now)
{
	struct sr_server srv[SR_SERVERS_MAX];
	struct sr_engine *eng;
	int pin = -1, req = -1, groute = -1, late = LATE_MIXED, old;
	bool had_set, active;
	unsigned i, j;

	if (!acc || (n && !keys))
		return;

	eng = acc->eng;
	event_begin(eng, "servers", now);

	n = min(n, (unsigned)SR_SERVERS_MAX);
	memset(srv, 0, sizeof(srv));

	/* without memory for it, no set: requests go as DNS orders */
	if (n && !acc->srv) {
		acc->srv = mem_zalloc(sizeof(*acc->srv) * SR_SERVERS_MAX,
				      NULL);
		if (!acc->srv)
			n = 0;
	}

	for (i = 0; i < n; i++) {
		srv[i].key = keys[i];

		for (j = 0; j < acc->nsrv; j++) {
			if (acc->srv[j].key != keys[i])
				continue;

			srv[i] = acc->srv[j];
			if ((int)j == acc->pin)
				pin = (int)i;
			if ((int)j == acc->srv_req)
				req = (int)i;
			if ((int)j == acc->gen_route)
				groute = (int)i;
			if ((int)j == acc->unreg_srv)
				late = (int)i;
			break;
		}
	}

	old     = acc->pin;
	had_set = has_set(acc);
	if (acc->srv)
		memcpy(acc->srv, srv, sizeof(srv));
	/* late requests of its registrar, before the set was known, go
	   as DNS orders its servers */
	if (acc->unreg_srv == LATE_REGISTRAR)
		acc->unreg_any = true;
	if (acc->unreg_srv == LATE_REGISTRAR || acc->unreg_srv == LATE_MIXED)
		late = acc->unreg_srv;

	acc->nsrv      = n;
	acc->srv_req   = req;
	acc->srv_tried = 0;
	acc->pin       = pin;
	acc->gen_route = groute;
	acc->unreg_srv = has_set(acc) ? (late == LATE_REGISTRAR ? 0 : late) :
		LATE_REGISTRAR;

	active = tier_is_active(eng, acc->tier) && acc->asked &&
		(acc->state == SR_ACC_REGISTERED ||
		 acc->state == SR_ACC_REGISTERING);

	if (!has_set(acc)) {
		/* one server, or none: as DNS orders them; its reg client
		   still goes through the server it was pinned to */
		acc->pin = -1;
		if (old >= 0) {
			emit_server(acc, SR_ACT_PIN, SR_REQ_NONE, -1, NULL);
			if (active)
				acc_recover(acc, now);
		}
	}
	else if (old >= 0 && pin < 0) {
		/* its server left the set: the best of the new one */
		emit_server(acc, SR_ACT_PIN, SR_REQ_NONE, -1, NULL);
		acc_pin_best(acc);

		if (active)
			acc_recover(acc, now);
	}
	else if (!had_set && active) {
		/* its first set: its reg client was built routing by DNS;
		   built again through a named server */
		acc_pin_best(acc);

		if (acc->pin >= 0)
			acc_recover(acc, now);
	}
	else if (!had_set && tier_is_active(eng, acc->tier) &&
		 acc->state == SR_ACC_VERIFYING) {
		/* its REGISTER, after the TLS gate, goes through a named
		   server too */
		acc_pin_best(acc);
	}

	event_end(eng);
}


/*
 * Queries
 */

/** Number of servers of the account's registrar (0: not resolved) */
unsigned sr_account_nservers(const struct sr_account *acc)
{
	return acc ? acc->nsrv : 0;
}


/** The server its requests go to, -1 without a set */
int sr_account_server(const struct sr_account *acc)
{
	return acc && has_set(acc) ? (int)srv_use(acc) : -1;
}


/** Its requests go through a later server of its set than the first */
bool sr_account_pinned(const struct sr_account *acc)
{
	return acc && acc->pin > 0;
}


/**
 * What is known of server i of the account's set
 *
 * @param acc      Account
 * @param i        Server, in the set's order
 * @param retry_at Set to the time a dead server is asked again [ms]
 *
 * @return Its state (SR_SRV_UNKNOWN if i is out of the set)
 */
enum sr_srv_state sr_account_server_state(const struct sr_account *acc,
					  unsigned i, uint64_t *retry_at)
{
	if (!acc || i >= acc->nsrv)
		return SR_SRV_UNKNOWN;

	if (retry_at)
		*retry_at = acc->srv[i].retry_at;

	return acc->srv[i].state;
}
