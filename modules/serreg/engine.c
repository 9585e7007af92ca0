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
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "engine.h"


enum {
	PER_MILLE          = 1000,
	BACKOFF_SHIFT_MAX  = 20,
	BACKOFF_JITTER_MIN = 500,   /* per mille: waits are 50-100 % (R4) */
	PROBE_JITTER_MIN   = 800,   /* per mille: probes at 80-100 % (R6) */
	CHECK_JITTER_MIN   = 800,   /* per mille: checks at 80-100 % (R20) */
	FIRST_PROBE_SPREAD = 1000,  /* [ms] spread of the first probes    */
	RETRY_AFTER_MAX    = 3600,  /* [s] longest Retry-After honoured   */
	UNSENT_RETRY       = 1000,  /* [ms] a gate or repair not sent for
				       want of memory is asked again    */

	/*
	 * [ms] a non-INVITE request over UDP is retransmitted T1, 2 T1,
	 * 4 T1 .. T2 apart (RFC 3261 17.1.2.2, libre's ctrans.c): once the
	 * registrar answers again, a late un-REGISTER to it is answered at
	 * its next retransmission (cfg.t1, cfg.t2: the glue's SIP_T1,
	 * SIP_T2 from libre's re_sip.h); the margin covers the way back
	 */
	UNREG_MARGIN = 500,
	/** [ms] a late request's answer after Timer F, and its DNS */
	LATE_MARGIN  = 2000,
};


/** One server of an account's set (RFC 3263), in the set's order */
struct sr_server {
	uint32_t key;             /**< the glue's name of the server    */
	enum sr_srv_state state;
	uint32_t good;            /**< good answers in a row            */
	uint64_t retry_at;        /**< dead: skipped until then [ms]    */
	bool refused;             /**< dead: refused or reset a connection
				       (a request moves on from it at
				       once)                             */
};

/** All accounts with the same prio */
struct sr_tier {
	struct le le;             /**< in sr_engine.tierl, by prio      */
	struct list accl;         /**< struct sr_account                */
	struct list regl;         /**< accounts in SR_ACC_REGISTERED    */
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
	struct le rle;            /**< in sr_tier.regl while registered */
	struct sr_engine *eng;
	struct sr_tier *tier;
	void *ref;
	uint32_t fbregint;        /**< [s], 0 = no probing              */
	unsigned flags;           /**< enum sr_acc_flag                 */
	enum sr_acc_state state;
	enum sr_request req;      /**< request in flight, what it is for */
	enum sr_flow flow;        /**< transport of its last answer     */
	uint32_t good;            /**< consecutive good probes          */
	bool ready;
	bool busy;                /**< its UA has a call               */
	bool watched;             /**< its connection is watched (R21)  */
	bool check_failed;        /**< failed its check: probed with the
				       check's OPTIONS until it registers */
	bool repair;              /**< re-send the binding at its timer */
	bool asked;               /**< REGISTER emitted since its tier was
				       chosen: baresip's answers count   */
	bool recover;             /**< a flow recovery waits for its timer */
	uint64_t recovered_at;    /**< last flow recovery [ms], 0 = none */
	uint64_t recover_at;      /**< ... when it is due [ms]          */
	bool recovering;          /**< its recovery REGISTER is out ... */
	uint64_t recovering_until;/**< ... and fails the account then   */
	unsigned flows_ok;        /**< outbound: bit i = flow i registered */
	unsigned route;           /**< outbound: flow of new calls      */
	uint32_t flow_fails;      /**< outbound: recoveries in a row with
				       a flow still dead                 */
	bool no_outbound;         /**< every first hop said 439         */
	bool route_held;          /**< outbound: a check failed through
				       the first proxy and passed through
				       the second: calls stay there until
				       the flows are built again         */
	bool spread_wait;         /**< its timer ends the failback spread */
	bool spread_done;         /**< failback spread over (R52)       */
	bool ra_held;             /**< a 503 + Retry-After to its REGISTER
				       was honoured in this choice (R53) */
	bool ra_wait;             /**< its timer registers it again     */
	/* its reg client in baresip, as the engine knows it (a
	   generation): see gen_build() and gen_retire() */
	bool gen_live;            /**< a reg client exists               */
	bool gen_busy;            /**< ... a REGISTER of it is in flight */
	bool gen_bound;           /**< ... it had a 2xx                  */
	bool gen_ours;            /**< ... built by an action of ours whose
				       REGISTERING was not seen yet      */
	int gen_route;            /**< ... its route: a server of its set,
				       -1 = as DNS orders them           */
	/* the late requests of its retired reg clients and probes */
	uint64_t unreg_start;     /**< the last one began [ms]          */
	uint64_t unreg_until;     /**< ... they may arrive until then   */
	int unreg_srv;            /**< ... first at this server of its set
				       (LATE_REGISTRAR: its registrar,
				       LATE_MIXED: several)              */
	bool unreg_any;           /**< ... then at any server of its set
				       (as DNS orders them)              */
	struct sr_server *srv;    /**< its registrar's set: SR_SERVERS_MAX,
				       allocated with the first set      */
	unsigned nsrv;            /**< servers in srv: a set if > 1     */
	int pin;                  /**< server its requests go through,
				       -1 = as DNS orders them (the first) */
	int srv_req;              /**< server of the request in flight  */
	unsigned srv_tried;       /**< bit i: server i failed in this
				       search                            */
	bool hunting;             /**< a live server of its set is
				       searched for the account in use   */
	struct sr_answer last;
	bool last_ok;             /**< last was a good answer           */
	uint64_t last_time;       /**< when last was received [ms]      */
};

struct sr_engine {
	struct list tierl;        /**< struct sr_tier, best first       */
	struct sr_config cfg;
	sr_action_h *acth;
	sr_trace_h *traceh;
	sr_rand_h *randh;
	void *arg;
	enum sr_state state;
	const char *cause;        /**< the event being handled (trace)  */
	struct sr_tier *cur;      /**< tier in use, NULL when none      */
	struct sr_tier *target;   /**< better tier being registered     */
	enum sr_reason target_reason;  /**< why it is being registered  */
	struct sr_answer target_ans;   /**< the answer that chose it    */
	struct sr_account *curacc;  /**< baresip's current UA           */
	uint64_t round;           /**< id of the running round          */
	uint32_t nrounds_failed;  /**< consecutive rounds without success */
	uint64_t backoff_until;
	enum sr_reason last_reason;
	uint64_t last_move;
	uint32_t naccounts;
	bool started;
	bool drives_current;      /**< this ladder chooses baresip's
				       current UA (default true)        */
	uint64_t now;             /**< time of the event being handled */
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

static const char *const event_names[EV_COUNT] = {
	[EV_START]         = "start",
	[EV_TIER_OK]       = "tier ok",
	[EV_TIER_FAILED]   = "tier failed",
	[EV_BETTER_READY]  = "better tier ready",
	[EV_TARGET_OK]     = "target ok",
	[EV_TARGET_FAILED] = "target failed",
	[EV_BACKOFF]       = "backoff over",
	[EV_STANDBY_ALIVE] = "standby alive",
	[EV_ADDED_BETTER]  = "better account added",
	[EV_EMPTY]         = "empty",
	[EV_CALLS_ENDED]   = "calls ended",
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
static void emit_server(struct sr_account *acc, enum sr_action_kind kind,
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


static void emit(struct sr_engine *eng, enum sr_action_kind kind,
		 struct sr_account *acc, uint64_t delay)
{
	emit_req(eng, kind, acc, delay, SR_REQ_NONE);
}


static void emit_flow(struct sr_engine *eng, struct sr_account *acc,
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


static void trace(struct sr_engine *eng, const struct sr_account *acc,
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
static uint64_t jitter(struct sr_engine *eng, uint64_t val, uint32_t lo)
{
	uint32_t r = eng->randh(eng->arg) % (PER_MILLE - lo + 1);

	return val * (lo + r) / PER_MILLE;
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


static bool late_reaches(const struct sr_account *acc, int srv,
			 uint64_t now);
static int srv_best(const struct sr_account *acc);


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
	if (ready)
		++acc->tier->nready;
	else
		--acc->tier->nready;
}


/** The one setter of an account's state; keeps the tier's counters */
static void acc_set_state(struct sr_account *acc, enum sr_acc_state st)
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


/* the server its requests go to: the pinned one, else the first */
static unsigned srv_use(const struct sr_account *acc)
{
	return acc->pin >= 0 ? (unsigned)acc->pin : 0;
}


static bool has_set(const struct sr_account *acc)
{
	return acc->nsrv > 1;
}


/*
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
 */

enum {
	LATE_REGISTRAR = -1,  /**< its registrar (no set)               */
	LATE_MIXED     = -2,  /**< late requests of several routes      */
};


/* [ms] a non-INVITE transaction's lifetime: Timer F, 64 T1 */
static uint64_t timer_f(const struct sr_engine *eng)
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
static void late_add(struct sr_account *acc, int route, uint64_t start,
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
static bool late_reaches(const struct sr_account *acc, int srv,
			 uint64_t now)
{
	if (now >= acc->unreg_until)
		return false;

	return acc->unreg_any || acc->unreg_srv == LATE_MIXED ||
		acc->unreg_srv == route_first(acc, srv);
}


/** Baresip builds the account a new reg client through its route now
 *  (its REGISTER is in flight) */
static void gen_build(struct sr_account *acc, bool ours)
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
static void gen_retire(struct sr_account *acc, uint64_t now)
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
static void gen_hold(struct sr_account *acc, uint64_t now)
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
static void late_answered(struct sr_account *acc, int srv, uint64_t now)
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


/** Record an answer: what serreg shows, what a park follows */
static void acc_answer_set(struct sr_account *acc,
			   const struct sr_answer *ans, bool ok, uint64_t now)
{
	acc->last      = *ans;
	acc->last_ok   = ok;
	acc->last_time = now;
}


static void acc_request_to(struct sr_account *acc, enum sr_request req,
			   int server)
{
	acc->req     = req;
	acc->srv_req = server;
	emit_server(acc, SR_ACT_REQUEST, req, server, NULL);
}


/* a request to the server in use (as baresip routes, without a set) */
static void acc_request(struct sr_account *acc, enum sr_request req)
{
	acc_request_to(acc, req, has_set(acc) ? (int)srv_use(acc) : -1);
}


static void acc_request_cancel(struct sr_account *acc)
{
	acc->hunting = false;

	if (acc->req == SR_REQ_NONE)
		return;

	acc->req = SR_REQ_NONE;
	emit(acc->eng, SR_ACT_REQUEST_CANCEL, acc, 0);
}


static void acc_unwatch(struct sr_account *acc)
{
	if (!acc->watched)
		return;

	acc->watched = false;
	emit(acc->eng, SR_ACT_UNWATCH, acc, 0);
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


static bool answer_2xx(const struct sr_answer *ans)
{
	return !ans->err && ans->scode >= 200 && ans->scode < 300;
}


/* next liveness check of a registered account (R20), jittered, or the
   next probe of a better server while pinned; a repair that waits is
   due at the end of the un-REGISTER's window if sooner; a flow
   recovery that waits keeps the timer (its handler checks next) */
static void acc_schedule_check(struct sr_account *acc, uint64_t now)
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
static uint64_t probe_interval(struct sr_account *acc,
			       const struct sr_answer *ans)
{
	uint64_t delay = jitter(acc->eng, acc->fbregint * 1000ULL,
				PROBE_JITTER_MIN);

	if (ans && ans->retry_after)
		delay = max(delay, min(ans->retry_after,
				       (uint32_t)RETRY_AFTER_MAX) * 1000ULL);

	return delay;
}


static void acc_pin_best(struct sr_account *acc);
static void acc_probe(struct sr_account *acc, enum sr_request req,
		      uint64_t now);
static bool acc_server_failed(struct sr_account *acc, unsigned i,
			      const struct sr_answer *ans, uint64_t now);
static bool acc_probe_better(struct sr_account *acc, uint64_t now);
static bool srv_of_req(const struct sr_account *acc);
static void srv_alive(struct sr_account *acc, unsigned i,
		      const struct sr_answer *ans);
static void srv_dead(struct sr_account *acc, unsigned i,
		     const struct sr_answer *ans, uint64_t now);
static int srv_next(const struct sr_account *acc, uint64_t now);


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
static void tier_activate(struct sr_engine *eng, struct sr_tier *t)
{
	struct le *le;

	t->round = eng->round;

	for (le = t->accl.head; le; le = le->next)
		acc_activate(le->data);
}


/** Take a tier off its registrars and put its accounts on probes */
static void tier_park(struct sr_tier *t, bool failed, uint64_t now)
{
	struct le *le;

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
static struct sr_account *tier_registered_acc(const struct sr_tier *t)
{
	return list_ledata(list_head(&t->regl));
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


/**
 * The one place that chooses baresip's current UA: if any account of
 * the tier in use is registered, one of them is current.  Called after
 * every event, so failure, removal and move all end here.  A current UA
 * with a call stays current until the call ends: baresip's call
 * commands (hangup, hold, transfer) act on the current UA's calls.
 */
static void current_update(struct sr_engine *eng)
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
	struct sr_tier *next;

	if (eng->state != SR_TRYING) {
		++eng->round;
		from->round = eng->round;
	}

	tier_park(from, true, ctx->now);

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
		  next ? ctx->reason : SR_REASON_ALL_FAILED, ctx->ans,
		  ctx->now);

	if (!next)
		return enter_waiting(eng, ctx);

	/* the target may be registered already, its move held by a call
	   on the failed tier (R34): no REGISTER_OK will come again */
	if (tier_registered_acc(next)) {
		eng->nrounds_failed = 0;
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


/* Begin and end of every public event: the trace's cause, the rule of
   the current UA */
static void event_begin(struct sr_engine *eng, const char *cause,
			uint64_t now)
{
	eng->cause = cause;
	eng->now   = now;
}


static void event_end(struct sr_engine *eng)
{
	current_update(eng);
	eng->cause = NULL;
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
static void acc_failed(struct sr_account *acc, const struct sr_answer *ans,
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

	fire_acc(acc, t == eng->cur ? EV_TIER_FAILED : EV_TARGET_FAILED,
		 SR_REASON_TIER_FAILED, ans, now);
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
		fire_acc(acc, EV_STANDBY_ALIVE, SR_REASON_ALIVE, ans, now);
	else if (acc->ready && eng->cur && acc->tier->prio < eng->cur->prio)
		fire_acc(acc, EV_BETTER_READY, SR_REASON_FAILBACK, ans, now);
}


static void acc_recover_at(struct sr_account *acc, uint64_t due,
			   uint64_t now);


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


static void acc_recover(struct sr_account *acc, uint64_t now);


/** A flow recovery at `due`: now, or on the account's timer */
static void acc_recover_at(struct sr_account *acc, uint64_t due,
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
static void acc_recover(struct sr_account *acc, uint64_t now)
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
 * Server sets (RFC 3263): the servers of an account's registrar, in the
 * order DNS gives them.  Its requests go to the server in use; when that
 * fails, the next servers are asked, each with the probe timeout, and
 * the account fails only when every server did.  A live later server is
 * pinned as the route of the account's requests, so that its REGISTERs
 * no longer wait on the dead one; a failed server is skipped for
 * server_retry (or its Retry-After) and is asked again then.
 */

static bool srv_usable(const struct sr_server *s, uint64_t now)
{
	return s->state != SR_SRV_DEAD || now >= s->retry_at;
}


/* the next server to ask in a search: the first in the set's order that
   did not fail in this search and is not skipped; -1 for none */
static int srv_next(const struct sr_account *acc, uint64_t now)
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


static void srv_alive(struct sr_account *acc, unsigned i,
		      const struct sr_answer *ans)
{
	++acc->srv[i].good;
	acc->srv[i].refused = false;
	srv_set_state(acc, i, SR_SRV_ALIVE, ans);
}


/* server i failed: skipped for server_retry, or its Retry-After */
static void srv_dead(struct sr_account *acc, unsigned i,
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
static bool srv_of_req(const struct sr_account *acc)
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
static int srv_best(const struct sr_account *acc)
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
static void acc_pin_best(struct sr_account *acc)
{
	if (has_set(acc))
		acc_pin(acc, srv_best(acc));
}


/* a standby account's probe: to the first server not skipped, or, if
   all are, the one skipped the shortest */
static void acc_probe(struct sr_account *acc, enum sr_request req,
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
static bool acc_server_failed(struct sr_account *acc, unsigned i,
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
static void acc_hunt_from_use(struct sr_account *acc, uint64_t now)
{
	acc->srv_tried = (1u << srv_use(acc)) - 1;

	if (!acc_hunt(acc, now)) {
		acc->check_failed = true;
		acc_failed(acc, &acc->last, now);
	}
}


/* while pinned: ask the first better server that is not skipped */
static bool acc_probe_better(struct sr_account *acc, uint64_t now)
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
static void acc_server_answered(struct sr_account *acc,
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


/** Watch the connection of a registered account's answers (R21) */
static void acc_watch_update(struct sr_account *acc)
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
		fire(eng, t == eng->cur ? EV_TIER_FAILED : EV_TARGET_FAILED,
		     &ctx);
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

		/* a late request of a reg client it had before may still
		   remove this binding: repair it when they are over */
		acc->repair = late_reaches(acc, acc->gen_route, now);
		acc_schedule_check(acc, now);

		if (acc->tier != eng->cur)
			fire_acc(acc, EV_TARGET_OK, SR_REASON_FAILBACK, NULL,
				 now);
		else
			fire_acc(acc, EV_TIER_OK, SR_REASON_START, NULL,
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
	};

	return kind < SR_ACT_COUNT ? names[kind] : "?";
}
