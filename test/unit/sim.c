/**
 * @file sim.c  A virtual-time world for the policy engine (see sim.h)
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"
#include "sim.h"


static int idx_of(struct sim *s, const void *ref)
{
	return (int)((const struct sim_acc *)ref - s->accv);
}


/* xorshift: reproducible "random" numbers */
static uint32_t rand_h(void *arg)
{
	struct sim *s = arg;

	s->seed ^= s->seed << 13;
	s->seed ^= s->seed >> 17;
	s->seed ^= s->seed << 5;

	return s->seed;
}


static struct sim_event *schedule(struct sim *s, int idx, bool probe,
				  uint64_t delay, bool check, bool options)
{
	size_t i;

	for (i = 0; i < SIM_EVENTS; i++) {
		struct sim_event *ev = &s->evv[i];

		if (ev->used)
			continue;

		memset(ev, 0, sizeof(*ev));
		ev->used  = true;
		ev->due   = s->now + delay;
		ev->idx   = idx;
		ev->probe = probe;
		ev->check = check;
		ev->options = options;
		ev->gen   = s->gen[idx];
		ev->server = -1;
		return ev;
	}

	return NULL;
}


static uint64_t answer_delay(const struct sim_acc *a, uint64_t tmo)
{
	return a->code ? SIM_RTT : tmo;
}


static bool has_set(const struct sim_acc *a)
{
	return a->nsrv > 1;
}


/* the answer of server `server` of its set (or of its registrar) */
static uint16_t code_of(const struct sim_acc *a, int server)
{
	if (has_set(a) && server >= 0 && (unsigned)server < a->nsrv)
		return a->srv_code[server];

	return a->code;
}


/* baresip's REGISTER: to the pinned server, or as libre to each server
   in turn, Timer F on each silent one */
static void reg_send(struct sim *s, struct sim_acc *a, int idx)
{
	struct sim_event *ev;
	uint64_t delay;
	int server = -1;
	unsigned i;

	/* baresip raises REGISTERING as it builds the reg client (after
	   the action, outside the engine's call) */
	ev = schedule(s, idx, false, 0, false, false);
	if (ev)
		ev->registering = true;

	if (!has_set(a)) {
		schedule(s, idx, false, answer_delay(a, SIM_REG_TMO), false,
			 false);
		return;
	}

	if (a->pin >= 0) {
		server = a->pin;
		delay = a->srv_code[server] ? SIM_RTT : SIM_REG_TMO;
	}
	else {
		for (i = 0; i < a->nsrv && !a->srv_code[i]; i++)
			;
		server = i < a->nsrv ? (int)i : (int)a->nsrv - 1;
		delay = (uint64_t)server * SIM_REG_TMO +
			(a->srv_code[server] ? SIM_RTT : SIM_REG_TMO);
	}

	ev = schedule(s, idx, false, delay, false, false);
	if (ev)
		ev->server = server;
}


/* A request serreg sends itself: its answer comes back as an event */
static void request(struct sim *s, struct sim_acc *a, int idx,
		    enum sr_request req, int server)
{
	struct sim_event *ev = NULL;
	uint64_t tmo = code_of(a, server) ? SIM_RTT : SIM_TIMEOUT;

	a->probing = true;

	if (has_set(a) && server >= 0 && (unsigned)server < a->nsrv)
		++a->nsrvreq[server];

	if (req == SR_REQ_SERVER) {
		ev = schedule(s, idx, true, tmo, false, true);
		if (ev)
			ev->server = server;
		return;
	}

	if (has_set(a)) {
		ev = schedule(s, idx, true, tmo, req == SR_REQ_CHECK,
			      req != SR_REQ_PROBE && req != SR_REQ_REPAIR);
		if (ev) {
			ev->server = server;
			ev->repair = req == SR_REQ_REPAIR;
			ev->query  = req == SR_REQ_QUERY;
		}
		if (req == SR_REQ_PROBE || req == SR_REQ_PROBE_CHECK)
			++a->nprobe;
		else if (req == SR_REQ_CHECK)
			++a->ncheck;
		else if (req == SR_REQ_REPAIR)
			++a->nrepair;
		else if (req == SR_REQ_QUERY)
			++a->nquery;
		return;
	}

	switch (req) {

	case SR_REQ_PROBE:
	case SR_REQ_PROBE_CHECK:
		if (a->nprobe < ARRAY_SIZE(a->probe_at))
			a->probe_at[a->nprobe] = s->now;
		++a->nprobe;
		if (req == SR_REQ_PROBE_CHECK)
			++a->noptions;
		schedule(s, idx, true, answer_delay(a, SIM_TIMEOUT), false,
			 req == SR_REQ_PROBE_CHECK);
		break;

	case SR_REQ_CHECK:
		++a->ncheck;
		schedule(s, idx, true, answer_delay(a, SIM_TIMEOUT), true,
			 true);
		break;

	case SR_REQ_FLOW:
	case SR_REQ_GATE:
		if (req == SR_REQ_FLOW)
			++a->nflow;
		else
			++a->ngate;
		schedule(s, idx, true, answer_delay(a, SIM_TIMEOUT), false,
			 true);
		break;

	case SR_REQ_REPAIR:
		++a->nrepair;
		ev = schedule(s, idx, true, answer_delay(a, SIM_TIMEOUT),
			      false, false);
		if (ev)
			ev->repair = true;
		break;

	case SR_REQ_QUERY:
		++a->nquery;
		ev = schedule(s, idx, true, answer_delay(a, SIM_TIMEOUT),
			      false, false);
		if (ev)
			ev->query = true;
		break;

	default:
		break;
	}
}


/*
 * libre ends a registration with an un-REGISTER.  To a silent registrar
 * it is retransmitted (T1 doubling up to T2) until Timer F: if the
 * registrar answers again meanwhile, it removes the binding there.
 */
static void unregister(struct sim *s, struct sim_acc *a, int idx)
{
	struct sim_event *ev;

	a->bound = false;
	if (a->code)
		return;

	a->unreg_end = s->now + SIM_REG_TMO;
	ev = schedule(s, idx, false, SIM_T1, false, false);
	if (!ev)
		return;

	ev->unreg = true;
	ev->rto   = SIM_T1;
}


/*
 * baresip replaces the reg client (ua_register): libre cannot stop the
 * old one.  Its REGISTER in flight is still answered, and a 2xx is
 * followed by its un-REGISTER, with the Contact of the new registration:
 * it arrives after the new REGISTER's answer at the first live server
 * its route names, and removes the binding there.  So does the
 * un-REGISTER of a bound client whose route is resolved by DNS (the new
 * one's is a server's address, sent at once); a bound client with the
 * same route sends it before the new REGISTER, in order.
 */
static void replace(struct sim *s, struct sim_acc *a, int idx)
{
	struct sim_event *ev;
	int server = -1;

	if (!a->registering && !(a->bound && has_set(a) && a->built < 0))
		return;

	if (has_set(a)) {
		server = a->pin >= 0 ? a->pin : 0;
		if (!a->srv_code[server])
			return;
	}
	else if (!a->code) {
		return;
	}

	ev = schedule(s, idx, false, 2 * SIM_RTT + SIM_RTT / 2, false,
		      false);
	if (!ev)
		return;

	ev->late   = true;
	ev->gen    = 0;
	ev->server = server;
}


static void action_h(const struct sr_action *act, void *arg)
{
	struct sim *s = arg;
	struct sim_acc *a = act->ref;
	int idx = a ? idx_of(s, a) : -1;

	++s->nactions;

	switch (act->kind) {

	case SR_ACT_REGISTER:
		++a->nregister;
		a->built = a->pin;
		++s->gen[idx];
		a->registering = true;
		reg_send(s, a, idx);
		break;

	case SR_ACT_UNREGISTER:
		++a->nunregister;
		++s->gen[idx];   /* libre drops the request in flight */
		a->registering = false;
		unregister(s, a, idx);
		break;

	case SR_ACT_HOLD:
		++a->nhold;
		break;

	case SR_ACT_ROUTE:
		++a->nroute;
		a->route = (int)act->flow;
		break;

	case SR_ACT_NO_OUTBOUND:
		++a->nno_outbound;
		replace(s, a, idx);
		a->built = a->pin;
		++s->gen[idx];
		a->registering = true;
		reg_send(s, a, idx);
		break;

	case SR_ACT_RECOVER:
		++a->nrecover;
		replace(s, a, idx);
		a->built = a->pin;
		++s->gen[idx];
		a->registering = true;
		reg_send(s, a, idx);
		break;

	case SR_ACT_REQUEST:
		request(s, a, idx, act->req, act->server);
		break;

	case SR_ACT_PIN:
		++a->npin;
		a->pin = act->server;
		break;

	case SR_ACT_REQUEST_CANCEL:
		a->probing = false;
		break;

	case SR_ACT_WATCH:
		a->watched = true;
		break;

	case SR_ACT_UNWATCH:
		a->watched = false;
		break;

	case SR_ACT_TIMER:
		a->timer = true;
		a->timer_at = s->now + act->delay;
		break;

	case SR_ACT_TIMER_CANCEL:
		a->timer = false;
		break;

	case SR_ACT_ROUND_TIMER:
		s->round = true;
		s->round_at = s->now + act->delay;
		++s->nrounds;
		break;

	case SR_ACT_ROUND_CANCEL:
		s->round = false;
		break;

	case SR_ACT_CURRENT:
		s->current = idx;
		break;

	case SR_ACT_HOT_STANDBY:
		++s->nhot;
		s->hot = act->to;
		break;

	case SR_ACT_MOVE:
		++s->nmoves;
		s->move_from = act->from;
		s->move_to = act->to;
		s->move_reason = act->reason;
		s->move_ans = act->ans;
		break;

	default:
		break;
	}
}


int sim_init(struct sim *s, uint32_t hold, uint32_t backoff_max)
{
	struct sr_config cfg;

	memset(s, 0, sizeof(*s));
	s->seed = 0x2545f491;
	s->now = 1000;
	s->current = -1;
	s->hot = -1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.failback_hold = hold;
	cfg.backoff_base = 30;
	cfg.backoff_max = backoff_max;
	cfg.probe_timeout = SIM_TIMEOUT / 1000;
	s->cfg = cfg;

	return sr_engine_alloc(&s->eng, &cfg, action_h, rand_h, s);
}


void sim_close(struct sim *s)
{
	size_t i;

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		if (s->accv[i].used)
			mem_deref(s->accv[i].sra);
	}

	s->eng = mem_deref(s->eng);
}


/** Add an account whose registrar answers 200; returns its index */
int sim_add(struct sim *s, uint32_t prio, uint32_t fbregint)
{
	return sim_add_flags(s, prio, fbregint, 0);
}


/** The same, with enum sr_acc_flag flags */
int sim_add_flags(struct sim *s, uint32_t prio, uint32_t fbregint,
		  unsigned flags)
{
	size_t i;

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		struct sim_acc *a = &s->accv[i];

		if (a->used)
			continue;

		memset(a, 0, sizeof(*a));
		a->used = true;
		a->prio = prio;
		a->fbregint = fbregint;
		a->code = 200;
		a->flow = SR_FLOW_DGRAM;
		a->pin = -1;
		a->built = -1;
		a->bound_srv = -1;

		if (sr_account_add(s->eng, &a->sra, a, prio, fbregint,
				   flags, s->now))
			return -1;

		return (int)i;
	}

	return -1;
}


void sim_remove(struct sim *s, int idx)
{
	struct sim_acc *a = &s->accv[idx];

	a->used = false;
	a->timer = false;
	++s->gen[idx];
	sr_account_remove(a->sra, s->now);
	a->sra = NULL;
}


/** Turn on the liveness check of the tier in use (R20) */
void sim_set_check(struct sim *s, uint32_t interval)
{
	s->cfg.check_interval = interval;
	sr_engine_set_config(s->eng, &s->cfg);
}


/** Concurrent registration: the next live tier is the hot standby */
void sim_set_concurrent(struct sim *s, bool on)
{
	s->cfg.concurrent = on;
	sr_engine_set_config(s->eng, &s->cfg);
}


void sim_start(struct sim *s)
{
	sr_engine_start(s->eng, s->now);
}


/** Make a registrar answer code (0 = silent) from now on */
void sim_set(struct sim *s, int idx, uint16_t code, uint32_t retry_after)
{
	s->accv[idx].code = code;
	s->accv[idx].retry_after = retry_after;
}


/** The refresh of a registered account fails with its current answer */
void sim_refresh_fails(struct sim *s, int idx)
{
	struct sim_acc *a = &s->accv[idx];
	struct sr_answer ans = {0, 0, 0, SR_FLOW_DGRAM, SR_BINDING_UNKNOWN};

	if (a->code) {
		ans.scode = a->code;
		ans.retry_after = a->retry_after;
	}
	else {
		ans.err = ETIMEDOUT;
	}

	a->bound = false;
	sr_account_reg_failed(a->sra, &ans, s->now);
}


/** The registrar answers code from now on, the refresh fails, 1 s runs */
void sim_fail(struct sim *s, int idx, uint16_t code)
{
	sim_set(s, idx, code, 0);
	sim_refresh_fails(s, idx);
	sim_run(s, 1000);
}


/* An un-REGISTER retransmission: it arrives if the registrar answers */
static void deliver_unreg(struct sim *s, struct sim_event *ev)
{
	struct sim_acc *a = &s->accv[ev->idx];
	struct sim_event *next;
	uint64_t rto = min(ev->rto * 2, (uint64_t)SIM_T2);

	if (!a->used)
		return;

	if (a->code) {
		if (a->bound)
			++a->nlate_unbind;
		a->bound = false;
		a->unreg_end = 0;
		return;
	}

	if (s->now + rto >= a->unreg_end)
		return;

	next = schedule(s, ev->idx, false, rto, false, false);
	if (!next)
		return;

	next->unreg = true;
	next->rto   = rto;
	next->gen   = 0;
}


static void deliver(struct sim *s, struct sim_event *ev)
{
	struct sim_acc *a = &s->accv[ev->idx];
	struct sr_answer ans = {0, 0, 0, a->flow, SR_BINDING_UNKNOWN};
	uint16_t code = code_of(a, ev->server);
	bool ok = code >= 200 && code < 300;

	ev->used = false;

	if (ev->unreg) {
		deliver_unreg(s, ev);
		return;
	}

	if (ev->registering) {
		if (a->used && ev->gen == s->gen[ev->idx])
			sr_account_registering(a->sra, s->now);
		return;
	}

	if (ev->late) {
		if (a->used && a->bound && a->bound_srv == ev->server) {
			++a->nlate_unbind;
			a->bound = false;
		}
		return;
	}

	if (!a->used || ev->gen != s->gen[ev->idx])
		return;

	if (has_set(a))
		;
	else if (!ev->probe && a->reg_code)
		code = a->reg_code;
	else if (ev->repair && a->reg_code)
		code = a->reg_code;
	else if (ev->options && a->options_code)
		code = a->options_code;
	ok = code >= 200 && code < 300;

	if (code) {
		ans.scode = code;
		ans.retry_after = a->retry_after;
	}
	else {
		ans.err = ETIMEDOUT;
	}

	if (ev->probe) {
		if (!a->probing)
			return;

		a->probing = false;
		if (ev->query && ok)
			ans.binding = a->bound && a->bound_srv == ev->server ?
				SR_BINDING_HELD : SR_BINDING_MISSING;
		if (ev->repair && ok) {
			a->bound = true;
			a->bound_srv = ev->server;
		}
		sr_account_answer(a->sra, &ans, s->now);
	}
	else {
		a->registering = false;

		if (ok) {
			a->bound = true;
			a->bound_srv = ev->server;
			sr_account_registered(a->sra, code, s->now);
		}
		else {
			sr_account_reg_failed(a->sra, &ans, s->now);
		}
	}
}


/* One step: the earliest due event or timer up to `end`; false if none */
static bool step(struct sim *s, uint64_t end)
{
	uint64_t due = end + 1;
	int kind = 0, idx = -1;
	size_t i;

	for (i = 0; i < SIM_EVENTS; i++) {
		if (s->evv[i].used && s->evv[i].due < due) {
			due = s->evv[i].due;
			kind = 1;
			idx = (int)i;
		}
	}

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		const struct sim_acc *a = &s->accv[i];

		if (a->used && a->timer && a->timer_at < due) {
			due = a->timer_at;
			kind = 2;
			idx = (int)i;
		}
	}

	if (s->round && s->round_at < due) {
		due = s->round_at;
		kind = 3;
	}

	if (!kind)
		return false;

	s->now = max(s->now, due);

	switch (kind) {

	case 1:
		deliver(s, &s->evv[idx]);
		break;

	case 2:
		s->accv[idx].timer = false;
		sr_account_timer(s->accv[idx].sra, s->now);
		break;

	case 3:
		s->round = false;
		sr_engine_timer(s->eng, s->now);
		break;
	}

	return true;
}


/** Run the world for ms of virtual time (bounded number of steps) */
void sim_run(struct sim *s, uint64_t ms)
{
	uint64_t end = s->now + ms;
	unsigned n = 0;

	while (n++ < 1000000 && step(s, end))
		;

	s->now = end;
}


/** Run until pred holds or ms have passed; true if it holds */
bool sim_run_until(struct sim *s, uint64_t ms,
		   bool (*pred)(const struct sim *s, int arg), int arg)
{
	uint64_t end = s->now + ms;
	unsigned n = 0;

	while (!pred(s, arg)) {
		if (n++ > 1000000 || !step(s, end))
			break;
	}

	if (pred(s, arg))
		return true;

	s->now = end;
	return false;
}


/** REGISTERs (expires>0) sent for accounts of a tier */
unsigned sim_registers(const struct sim *s, uint32_t prio)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		if (s->accv[i].used && s->accv[i].prio == prio)
			n += s->accv[i].nregister;
	}

	return n;
}


/** Number of bound accounts; *prio = tier of the last one found */
unsigned sim_bound_tier(const struct sim *s, int *prio)
{
	unsigned n = 0;
	size_t i;

	*prio = -1;

	for (i = 0; i < SIM_ACCOUNTS; i++) {
		if (s->accv[i].used && s->accv[i].bound) {
			++n;
			*prio = (int)s->accv[i].prio;
		}
	}

	return n;
}


/** Make account idx's registrar a set of n servers answering 200, keys
 *  key0, key0 + 1, ... (tells the engine) */
void sim_servers(struct sim *s, int idx, unsigned n, uint32_t key0)
{
	struct sim_acc *a = &s->accv[idx];
	uint32_t keys[SR_SERVERS_MAX];
	unsigned i;

	n = min(n, (unsigned)SR_SERVERS_MAX);
	for (i = 0; i < n; i++) {
		keys[i] = key0 + i;
		if (i >= a->nsrv)
			a->srv_code[i] = 200;
	}

	a->nsrv = n;
	sr_account_servers(a->sra, n, keys, s->now);
}


/** Make server i of account idx's set answer code (0 = silent) */
void sim_set_server(struct sim *s, int idx, unsigned i, uint16_t code)
{
	s->accv[idx].srv_code[i] = code;
}
