/**
 * @file fleet.c  Fleet simulator: N phones against loaded registrars
 *
 * N phones, each with its own instance of serreg's real policy engine
 * (modules/serreg/engine*.c, linked as the unit tests link it) and its own
 * random stream, two accounts each in Cisco mode: tier 0 on registrar P,
 * tier 1 on registrar B.  The same phones can instead run a model of
 * upstream baresip's serreg (modules/serreg/serreg.c, v1.1.0 and later):
 * refresh-driven detection, failback on the first good probe, a fixed,
 * unjittered probe interval of fbregint.
 *
 * The world, in virtual milliseconds, one binary heap of work (O(log n)
 * per event):
 *  - registrars with a capacity (requests/s) and a queue: a request that
 *    would wait longer than QUEUE_MAX is answered 503 with Retry-After,
 *    as a loaded kamailio sheds load; a registrar is up, silent (no
 *    answer: timeouts), refusing (TCP reset: ECONNREFUSED at once, the
 *    watched connections close) or answering 503 to everything; when it
 *    comes back its location table is empty;
 *  - baresip: the engine's REGISTER, refreshes at 90 % of regint, libre's
 *    own retry of a failed REGISTER (failwait(): 30-60 s, doubling, up to
 *    1800 s), un-REGISTERs; serreg's own requests (probe, check, repair,
 *    query) with the probe timeout;
 *  - the SIP transactions (issue 20, -x): over UDP every request is
 *    retransmitted, T1 doubling to T2, until Timer F (libre: 32 s,
 *    whatever serreg's deadline; the engine still gets ETIMEDOUT at its
 *    own) or, with -x own, serreg's requests only until its probe
 *    timeout; a copy that reaches a registrar that is up arrives there
 *    and is answered, so a registrar that returns receives the copies
 *    still alive; over TCP one send.  -x none: one send (as before).
 *
 * The fleet starts over START_SPREAD and is steady (refresh phases
 * uniform over 0.9 regint) when the fault comes at T_FAULT.  Measured per
 * scenario: requests/s arriving at each registrar (peak, p99), the time
 * until 50/99/100 % of the fleet is registered again, the share of phones
 * unreachable (no binding at a registrar that is up) over time.
 *
 * Usage: fleet [-n N] [-s scenario] [-m serreg|upstream|both]
 *              [-c capacity] [-k check] [-t probe timeout]
 *              [-f fbregint] [-r regint] [-S failback spread]
 *              [-R return] [-x none|libre|own] [-z|--seed seed]
 *              [-o csv dir] [-C|--concurrent] [--smoke]
 *
 * -C: serreg with serreg_concurrent 1 (issue 19): each phone keeps the
 * tier below the one in use registered too (the hot standby): its
 * REGISTERs, refreshes, checks and un-REGISTERs are the engine's
 * actions like any other, counted at B; a binding of the hot standby
 * makes the phone reachable.  --smoke runs serreg, upstream and
 * serreg-c.
 *
 * Copyright (C) 2026 The serreg developers
 */

#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <time.h>
#include <sys/stat.h>
#include <re.h>
#include "engine.h"
#include "bheap.h"


enum {
	NREG          = 3,        /* registrars P, B, C                   */
	REG_P         = 0,
	REG_B         = 1,
	NACC          = 2,        /* accounts per phone: tier 0, tier 1   */
	RTT           = 20,       /* [ms] answer of a live registrar      */
	REG_TMO       = 64 * SR_T1, /* [ms] REGISTER timeout (Timer F)    */
	QUEUE_MAX     = 2000,     /* [ms] longest wait in a queue         */
	OVERLOAD_RA   = 10,       /* [s] Retry-After of a load 503        */
	DOWN_RA       = 30,       /* [s] Retry-After of a 503 registrar   */
	START_SPREAD  = 60000,    /* [ms] the fleet boots over this time  */
	T_FAULT       = 120000,   /* [ms] when the fault comes            */
	MARGIN        = 120000,   /* [ms] run on after the slowest move   */
	REFRESH_PM    = 900,      /* per mille of regint: refresh          */
	FAILWAIT_BASE = 30,       /* [s] libre's failwait(): 30 s ...      */
	FAILWAIT_MAX  = 1800,     /* ... doubling up to 1800 s            */
	FAILWAIT_SHIFT = 6,
	PER_MILLE     = 1000,
	MS            = 1000,
	SMOKE_N       = 200,
	NPCT          = 3,        /* 50 %, 99 %, 100 %                    */
	DEF_N         = 10000,
	DEF_CAP       = 2000,     /* [req/s] of one registrar             */
	DEF_CHECK     = 30,
	DEF_TIMEOUT   = 5,
	DEF_FBREGINT  = 60,
	DEF_REGINT    = 600,
	DEF_HOLD      = 2,
	DEF_BACKOFF_MAX = 300,
	DEF_SPREAD    = 60,       /* [s] serreg_failback_spread (R52)   */
	MA_WINDOW     = 10,       /* [s] moving average of the bound check */
	BURST         = 10,       /* [s] the return burst is measured in */
	BURST4        = 4,        /* [s] ... and summed over             */
	SECS_MIN      = 60,       /* [s] a minute: steady-state window   */
	TXN_NONE      = UINT32_MAX,
};

static const double pct[NPCT] = {0.50, 0.99, 1.00};


/** What a registrar does */
enum rmode {
	R_UP = 0,
	R_SILENT,     /* no answer at all                        */
	R_RESET,      /* TCP: connection refused, flows closed   */
	R_503,        /* answers 503 + Retry-After to everything */
};

enum scenario {
	SC_SILENT = 0,
	SC_RESET,
	SC_503,
	SC_RETURN,
	SC_ALLDOWN,
	SC_B503,

	SC_COUNT
};

static const char *const sc_names[SC_COUNT] = {
	"silent", "reset", "503", "return", "alldown", "b503"
};

static const char *const sc_desc[SC_COUNT] = {
	"primary dies silently",
	"primary dies with TCP resets",
	"primary answers 503 (Retry-After 30)",
	"primary returns, empty location table, fleet on backup",
	"all registrars down, then the backup returns",
	"the backup (concurrent: the hot standby) answers 503 (Retry-After "
	"30), then returns with an empty table",
};

enum model {
	M_SERREG = 0,
	M_UPSTREAM,

	M_COUNT
};

static const char *const model_names[M_COUNT] = {"serreg", "upstream"};

/* the model as shown: serreg with serreg_concurrent 1 is "serreg-c" */
static const char *model_label(enum model m, bool concurrent)
{
	return m == M_SERREG && concurrent ? "serreg-c" : model_names[m];
}


/** How long a request goes on over UDP (RFC 3261 17.1.2: copies at 0,
    T1, 3 T1, ... the interval doubling up to T2) */
enum xmodel {
	X_NONE = 0,  /* one send, no copies (the simulator before issue 20) */
	X_LIBRE,     /* libre's transaction: until Timer F, 64 T1, whatever
			serreg's deadline (serreg before issue 20)         */
	X_OWN,       /* serreg's own requests: until its probe timeout,
			nothing after; baresip's REGISTERs as X_LIBRE (the
			module as it is, the default)                      */

	X_COUNT
};

static const char *const xmodel_names[X_COUNT] = {"none", "libre", "own"};


/** What a request in flight is */
enum rkind {
	RK_REGISTER = 0,   /* baresip's REGISTER (engine or refresh)    */
	RK_UNREG,          /* un-REGISTER                               */
	RK_PROBE,          /* REGISTER expires=0                        */
	RK_OPTIONS,        /* check, flow, probe of a failed check      */
	RK_REPAIR,         /* repair REGISTER                           */
	RK_QUERY,          /* binding query: REGISTER without Contact   */

	RK_COUNT
};

/** Work in the heap */
enum wkind {
	W_ACC_TIMER = 0,   /* engine: the account's timer; upstream: probe */
	W_ENG_TIMER,       /* engine: the round timer                   */
	W_ANSWER,          /* an answer to a request                    */
	W_REFRESH,         /* baresip refreshes its registration        */
	W_RETRY,           /* libre's retry after a failed REGISTER     */
	W_FLOW_CLOSED,     /* the watched connection closed             */
	W_START,           /* the phone boots                           */
	W_LATE,            /* a copy of a lost request meets a registrar
			      that is up again                          */
	W_TXN_END,         /* a lost request's life ends (Timer F)     */
};

struct work {
	uint64_t due;
	uint64_t seq;
	uint32_t idx;          /**< account (phone for W_ENG/W_START)  */
	uint32_t gen;
	uint8_t kind;
	uint8_t rk;
	uint16_t scode;        /**< 0: err                               */
	uint16_t err;
	uint16_t ra;
	uint32_t txn;          /**< W_LATE, W_TXN_END: the transaction  */
};

/** A request over UDP sent to a registrar that was down: libre (or
    serreg) retransmits it until the end of its life */
struct txn {
	uint64_t t0;             /**< [ms] first send                   */
	uint64_t dl;             /**< [ms] the engine's deadline        */
	uint64_t tend;           /**< [ms] no copy from here on         */
	uint32_t idx;            /**< account                           */
	uint32_t gen;            /**< of the request                    */
	uint32_t serial;         /**< of this use of the slot           */
	uint32_t prev, next;     /**< in its registrar's list, free list */
	uint8_t rk;
	uint8_t reg;
	bool lost;               /**< in its registrar's list           */
};

/** Upstream model: account states */
enum ustate {
	U_IDLE = 0,
	U_REGISTERING,
	U_REGISTERED,
	U_PROBING,
};

struct facc {
	struct sr_account *sra;
	uint32_t phone;
	uint8_t tier;
	uint8_t reg;             /**< registrar index                   */
	bool bound;              /**< holds a binding at its registrar  */
	bool live;               /**< bound, counted as reachable       */
	bool sipreg;             /**< baresip believes it registered    */
	bool watched;
	bool refreshed;          /**< first refresh done (phase drawn)  */
	uint32_t bepoch;
	uint32_t tgen, pgen, rgen;
	uint32_t pdone, rdone;   /**< the gen whose answer was given    */
	uint32_t failc;          /**< libre's failure count             */
	enum ustate us;          /**< upstream model                    */
	enum rkind prk;          /**< engine request kind in flight     */
};

struct phone {
	struct sr_engine *eng;
	uint32_t seed;
	uint32_t egen;           /**< round timer generation            */
	uint8_t nlive;           /**< accounts with a live binding      */
	int ucur;                /**< upstream: tier in use, -1 none    */
	uint64_t t_down;         /**< [ms] unreachable since (nlive 0)  */
	uint64_t down_ms;        /**< [ms] unreachable after the fault  */
};

struct registrar {
	enum rmode mode;
	uint32_t epoch;          /**< +1 when it restarts (empty table) */
	uint64_t busy_until;     /**< [us] its queue is worked off      */
	uint32_t *arr;           /**< arrivals per second               */
	uint32_t *regarr;        /**< ... of them REGISTERs (any expires) */
	uint32_t *karr[RK_COUNT];/**< ... by kind                       */
	uint64_t nshed;          /**< load 503s                         */
	uint32_t lost;           /**< first of its lost transactions    */
	uint64_t nlate;          /**< copies that arrived after a return */
};

struct cfg {
	unsigned n;
	enum model model;
	uint32_t cap;
	uint32_t check;
	uint32_t timeout;
	uint32_t fbregint;
	uint32_t regint;
	uint32_t hold;
	uint32_t backoff_max;
	uint32_t spread;
	uint32_t ret;            /**< [s] return after the fault, 0: auto */
	enum xmodel xm;
	uint32_t seed;
	bool concurrent;         /**< serreg_concurrent 1 (issue 19)   */
	const char *csvdir;
};

struct world {
	const struct cfg *cfg;
	enum scenario sc;
	struct phone *phv;
	struct facc *accv;
	struct registrar regv[NREG];
	uint64_t now;
	uint64_t end;
	uint32_t wseed;

	struct bheap heap;        /**< struct work, by (due, seq)        */
	uint64_t seq;

	struct txn *txnv;         /**< transactions of lost requests     */
	uint32_t ntxn;            /**< slots                             */
	uint32_t txnfree;         /**< first free slot                   */
	uint32_t txnserial;

	/* per second */
	size_t nsec;
	uint32_t *reach;         /**< phones reachable                  */
	uint32_t *onp;           /**< phones with a live binding at P   */
	uint32_t *regsent;       /**< REGISTERs sent (any registrar)    */
	uint32_t *serve[NACC];   /**< phones whose tier in use is i and
				      bound at a registrar that is up   */
	uint64_t next_sample;
	uint32_t nboth;          /**< phones bound at both, at the fault */

	uint32_t nreach;
	uint32_t nonp;
	uint64_t nevents;
	uint64_t t_event;        /**< [ms] the event recovery counts from */
	uint64_t t_second;       /**< [ms] second event (return, back)  */
};

/** Results of one run */
struct result {
	uint32_t peak[NREG], p99[NREG];
	uint32_t regpk[NREG], regp99[NREG];  /**< REGISTERs only     */
	double trec[NPCT];       /**< [s] to registered again, < 0 never */
	double tonp[NPCT];       /**< [s] after the return, on P         */
	double unreach_max;      /**< share, after the event             */
	double unreach_at[5];    /**< share at +10, 30, 60, 120, 300 s   */
	uint32_t minreach2;      /**< reachable, least after 2nd event   */
	uint32_t regpeak, regma; /**< REGISTERs sent: peak /s, 10 s avg  */
	double bound;            /**< the backoff formula's bound [/s]   */
	uint64_t nshed;
	uint64_t events;
	uint64_t nlate;          /**< copies that met a returned registrar */
	uint32_t bpk, bregpk;    /**< return burst: peak /s at the returned
				      registrar in its first BURST s     */
	uint32_t b4, breg4;      /**< ... requests in its first 4 s      */
	double tmove[NPCT];      /**< [s] in use and bound on the new tier
				      (return: P), < 0 never            */
	double steady[NREG][RK_COUNT]; /**< [/min] before the fault     */
	double after[NREG][RK_COUNT];  /**< [/min] the last minute     */
	uint32_t regmin[NREG];   /**< REGISTERs, peak of a 60 s window  */
	double down_mean, down_p99, down_max; /**< [s] per phone, after
						  the fault, no binding
						  at a live registrar  */
	uint32_t nboth;          /**< phones bound at P and B at the fault */
	uint32_t nboth_end;      /**< ... at the end of the run          */
	uint64_t nunreg[NREG];   /**< un-REGISTERs arriving after the fault */
	double wall;
};

static const unsigned unreach_t[5] = {10, 30, 60, 120, 300};


/*
 * Random numbers: xorshift32
 */

static uint32_t xs32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;

	return *s;
}




static uint64_t wrand_range(struct world *w, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;

	return lo + xs32(&w->wseed) % (hi - lo + 1);
}


/*
 * The heap
 */

static bool before(const void *pa, const void *pb)
{
	const struct work *a = pa, *b = pb;

	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}


static void push(struct world *w, uint64_t delay, enum wkind kind,
		 uint32_t idx, uint32_t gen, const struct work *ans)
{
	struct work x;

	if (ans)
		x = *ans;
	else
		memset(&x, 0, sizeof(x));

	x.due  = w->now + delay;
	x.seq  = ++w->seq;
	x.idx  = idx;
	x.gen  = gen;
	x.kind = kind;

	bheap_push(&w->heap, &x);
}


static const struct work *top(const struct world *w)
{
	return w->heap.n ? (const struct work *)(void *)w->heap.v : NULL;
}


/*
 * Bindings and reachability
 */

static bool binding_live(const struct world *w, const struct facc *a)
{
	const struct registrar *r = &w->regv[a->reg];

	return a->bound && a->bepoch == r->epoch && r->mode == R_UP;
}


static void acc_live_update(struct world *w, struct facc *a)
{
	struct phone *ph = &w->phv[a->phone];
	bool live = binding_live(w, a);

	if (live == a->live)
		return;

	a->live = live;

	if (a->reg == REG_P) {
		if (live)
			++w->nonp;
		else
			--w->nonp;
	}

	if (live) {
		if (!ph->nlive++) {
			++w->nreach;
			if (w->now > T_FAULT)
				ph->down_ms += w->now -
					max(ph->t_down, (uint64_t)T_FAULT);
		}
	}
	else {
		if (!--ph->nlive) {
			--w->nreach;
			ph->t_down = w->now;
		}
	}
}


static void acc_bind(struct world *w, struct facc *a, bool bound)
{
	a->bound = bound;
	a->bepoch = w->regv[a->reg].epoch;
	acc_live_update(w, a);
}


static void txn_revive(struct world *w, unsigned r);


/* A registrar changed: every binding is looked at again, O(N) */
static void reg_set(struct world *w, unsigned r, enum rmode mode)
{
	struct registrar *reg = &w->regv[r];
	size_t i;

	if (reg->mode != R_UP && mode == R_UP) {
		++reg->epoch;         /* back with an empty table */
		reg->busy_until = 0;
	}

	reg->mode = mode;

	if (mode == R_UP)
		txn_revive(w, r);

	for (i = 0; i < (size_t)w->cfg->n * NACC; i++) {
		struct facc *a = &w->accv[i];

		if (a->reg != r)
			continue;

		if (a->bound && a->bepoch != reg->epoch)
			a->bound = false;

		acc_live_update(w, a);

		/* the process died: its TCP connections are reset */
		if (mode == R_RESET && a->watched)
			push(w, 0, W_FLOW_CLOSED, (uint32_t)i, 0, NULL);
	}
}


/*
 * Requests on the wire
 */

static bool rk_is_register(enum rkind rk)
{
	return rk != RK_OPTIONS;
}


static uint64_t rk_timeout(const struct world *w, enum rkind rk)
{
	if (w->cfg->model == M_UPSTREAM || rk == RK_REGISTER ||
	    rk == RK_UNREG)
		return REG_TMO;

	return (uint64_t)w->cfg->timeout * MS;
}


static void count(uint32_t *bins, size_t nsec, uint64_t now)
{
	size_t s = (size_t)(now / MS);

	if (s < nsec)
		++bins[s];
}


static bool stream(const struct world *w)
{
	return w->sc == SC_RESET;
}


/*
 * Transactions (issue 20).  Over UDP a request is a client transaction
 * that sends copies at 0, T1, 3 T1, 7 T1, ... (the interval doubling
 * up to T2) until an answer comes or its life ends: with libre, Timer
 * F (64 T1 = 32 s) whatever serreg's deadline; with serreg's own
 * retransmissions (-x own), its probe timeout.  Over TCP one send.  A
 * registrar that is up answers the first copy that reaches it: copies
 * sent before the answer is back arrive too (counted; no service).  A
 * request sent to a registrar that is down is kept in the registrar's
 * list until its life ends; when the registrar comes back, the next
 * copy of each one still alive arrives (W_LATE) and is answered.
 */

/** [ms] how long a request of kind rk sends copies, 0: one send */
static uint64_t txn_life(const struct world *w, enum rkind rk)
{
	if (w->cfg->xm == X_NONE || stream(w))
		return 0;

	if (w->cfg->xm == X_OWN && w->cfg->model == M_SERREG &&
	    rk != RK_REGISTER && rk != RK_UNREG)
		return (uint64_t)w->cfg->timeout * MS;

	return 64ULL * SR_T1;
}


/** [ms] the first copy of a request sent first at t0 that goes out at
    or after t */
static uint64_t txn_copy(uint64_t t0, uint64_t t)
{
	uint64_t c = t0, ivl = SR_T1;

	while (c < t) {
		c += ivl;
		ivl = min(2 * ivl, (uint64_t)SR_T2);
	}

	return c;
}


static void count_arrival(struct world *w, struct registrar *r,
			  enum rkind rk, uint64_t t)
{
	count(r->arr, w->nsec, t);
	count(r->karr[rk], w->nsec, t);
	if (rk_is_register(rk))
		count(r->regarr, w->nsec, t);
}


/* A copy of a request (first sent at t0; engine deadline dl; copies
   until tend) arrives now at registrar r, which is up: queued, then
   answered; the answer goes to the engine unless its deadline is
   past.  Returns false if the deadline passes first (the caller gives
   the engine ETIMEDOUT). */
static bool serve(struct world *w, uint32_t idx, enum rkind rk,
		  uint32_t gen, uint64_t t0, uint64_t dl, uint64_t tend)
{
	struct registrar *r = &w->regv[w->accv[idx].reg];
	uint64_t svc = 1000000ULL / w->cfg->cap, nowus = w->now * MS;
	uint64_t at, c;
	struct work ans;

	memset(&ans, 0, sizeof(ans));
	ans.rk = (uint8_t)rk;

	count_arrival(w, r, rk, w->now);

	if (r->busy_until < nowus)
		r->busy_until = nowus;

	if (r->busy_until - nowus > (uint64_t)QUEUE_MAX * MS) {
		++r->nshed;
		ans.scode = 503;
		ans.ra = OVERLOAD_RA;
		at = w->now + RTT;
	}
	else {
		r->busy_until += svc;
		ans.scode = 200;
		at = r->busy_until / MS + RTT;
	}

	/* the copies sent before the answer is back */
	for (c = txn_copy(t0, w->now + 1); c < at && c < tend;
	     c = txn_copy(t0, c + 1))
		count_arrival(w, r, rk, c);

	if (at > dl)
		return false;

	push(w, at - w->now, W_ANSWER, idx, gen, &ans);

	return true;
}


static void txn_link(struct world *w, uint32_t t)
{
	struct txn *x = &w->txnv[t];
	struct registrar *r = &w->regv[x->reg];

	x->lost = true;
	x->prev = TXN_NONE;
	x->next = r->lost;
	if (r->lost != TXN_NONE)
		w->txnv[r->lost].prev = t;
	r->lost = t;
}


static void txn_unlink(struct world *w, uint32_t t)
{
	struct txn *x = &w->txnv[t];

	if (!x->lost)
		return;

	if (x->prev != TXN_NONE)
		w->txnv[x->prev].next = x->next;
	else
		w->regv[x->reg].lost = x->next;

	if (x->next != TXN_NONE)
		w->txnv[x->next].prev = x->prev;

	x->lost = false;
}


static void txn_free(struct world *w, uint32_t t)
{
	txn_unlink(w, t);
	w->txnv[t].serial = 0;
	w->txnv[t].next = w->txnfree;
	w->txnfree = t;
}


/* A request of account idx went to a registrar that is down: kept
   until its life ends */
static void txn_lost(struct world *w, uint32_t idx, enum rkind rk,
		     uint32_t gen, uint64_t dl, uint64_t life)
{
	struct work end;
	struct txn *x;
	uint32_t t;

	if (w->txnfree == TXN_NONE) {
		uint32_t n = w->ntxn ? 2 * w->ntxn : 1024, i;
		struct txn *v = realloc(w->txnv, n * sizeof(*v));

		if (!v) {
			fprintf(stderr, "fleet: out of memory\n");
			exit(1);
		}

		for (i = w->ntxn; i < n; i++) {
			v[i].serial = 0;
			v[i].next = i + 1 < n ? i + 1 : TXN_NONE;
		}

		w->txnv = v;
		w->txnfree = w->ntxn;
		w->ntxn = n;
	}

	t = w->txnfree;
	x = &w->txnv[t];
	w->txnfree = x->next;

	x->t0 = w->now;
	x->dl = dl;
	x->tend = w->now + life;
	x->idx = idx;
	x->gen = gen;
	x->serial = ++w->txnserial ? w->txnserial : ++w->txnserial;
	x->rk = (uint8_t)rk;
	x->reg = w->accv[idx].reg;
	x->lost = false;
	txn_link(w, t);

	memset(&end, 0, sizeof(end));
	end.txn = t;
	push(w, life, W_TXN_END, idx, x->serial, &end);
}


/* Registrar r is up again: the next copy of each request still alive
   reaches it */
static void txn_revive(struct world *w, unsigned r)
{
	uint32_t t = w->regv[r].lost;

	while (t != TXN_NONE) {
		struct txn *x = &w->txnv[t];
		uint32_t next = x->next;
		uint64_t c = txn_copy(x->t0, w->now);
		struct work late;

		txn_unlink(w, t);
		if (c < x->tend) {
			memset(&late, 0, sizeof(late));
			late.txn = t;
			push(w, c - w->now, W_LATE, x->idx, x->serial, &late);
		}
		else {
			txn_free(w, t);
		}

		t = next;
	}
}


/* Work of the transactions; false if x is other work */
static bool txn_work(struct world *w, const struct work *x)
{
	struct txn *t;

	if (x->kind != W_LATE && x->kind != W_TXN_END)
		return false;

	t = &w->txnv[x->txn];
	if (t->serial != x->gen)
		return true;          /* answered, or its life ended */

	if (x->kind == W_TXN_END) {
		txn_free(w, x->txn);
		return true;
	}

	/* down again before this copy went out: lost as well */
	if (w->regv[t->reg].mode != R_UP) {
		txn_link(w, x->txn);
		return true;
	}

	++w->regv[t->reg].nlate;
	(void)serve(w, t->idx, (enum rkind)t->rk, t->gen, t->t0, t->dl,
		    t->tend);
	txn_free(w, x->txn);

	return true;
}


/* Send a request of account idx: its answer comes back as W_ANSWER */
static void send_req(struct world *w, uint32_t idx, enum rkind rk,
		     uint32_t gen)
{
	struct facc *a = &w->accv[idx];
	struct registrar *r = &w->regv[a->reg];
	uint64_t tmo = rk_timeout(w, rk), life = txn_life(w, rk);
	struct work ans;

	memset(&ans, 0, sizeof(ans));
	ans.rk = (uint8_t)rk;

	if (rk_is_register(rk))
		count(w->regsent, w->nsec, w->now);

	switch (r->mode) {

	case R_SILENT:
		ans.err = ETIMEDOUT;
		push(w, tmo, W_ANSWER, idx, gen, &ans);
		if (life)
			txn_lost(w, idx, rk, gen, w->now + tmo, life);
		return;

	case R_RESET:
		ans.err = ECONNREFUSED;
		push(w, RTT, W_ANSWER, idx, gen, &ans);
		return;

	case R_503:
		count_arrival(w, r, rk, w->now);
		ans.scode = 503;
		ans.ra = DOWN_RA;
		push(w, RTT, W_ANSWER, idx, gen, &ans);
		return;

	case R_UP:
		break;
	}

	if (!serve(w, idx, rk, gen, w->now, w->now + tmo, w->now + life)) {
		ans.err = ETIMEDOUT;
		push(w, tmo, W_ANSWER, idx, gen, &ans);
	}
}


/* libre's failwait(): uniform 50-100 % of 30 s << failc, up to 1800 s */
static uint64_t failwait(struct world *w, uint32_t failc)
{
	uint64_t wt = min((uint64_t)FAILWAIT_MAX,
			  (uint64_t)FAILWAIT_BASE <<
			  min(failc, (uint32_t)FAILWAIT_SHIFT)) * MS;

	return wrand_range(w, wt / 2, wt);
}


/* baresip's next refresh: at 90 % of regint; the first one of a phone
   at a uniform phase, as in a fleet that has run for a while */
static void schedule_refresh(struct world *w, uint32_t idx)
{
	struct facc *a = &w->accv[idx];
	uint64_t rf = (uint64_t)w->cfg->regint * REFRESH_PM;

	if (!a->refreshed) {
		a->refreshed = true;
		rf = wrand_range(w, 1, rf);
	}

	push(w, rf, W_REFRESH, idx, a->rgen, NULL);
}


static void baresip_register(struct world *w, uint32_t idx)
{
	struct facc *a = &w->accv[idx];

	a->sipreg = true;
	send_req(w, idx, RK_REGISTER, ++a->rgen);
}


static void baresip_unregister(struct world *w, uint32_t idx)
{
	struct facc *a = &w->accv[idx];

	++a->rgen;
	a->failc = 0;

	/* libre sends it whatever the registrar's state: a transaction
	   (the simulator before issue 20 sent it only to one up) */
	if (a->sipreg && (w->cfg->xm != X_NONE ||
			  w->regv[a->reg].mode == R_UP))
		send_req(w, idx, RK_UNREG, a->rgen);

	a->sipreg = false;
	acc_bind(w, a, false);
}


/*
 * serreg: the engine's actions
 */

static void action_h(const struct sr_action *act, void *arg)
{
	struct world *w = arg;
	struct facc *a = act->ref;
	uint32_t idx = a ? (uint32_t)(a - w->accv) : 0;

	switch (act->kind) {

	case SR_ACT_REGISTER:
		baresip_register(w, idx);
		break;

	case SR_ACT_UNREGISTER:
		baresip_unregister(w, idx);
		break;

	case SR_ACT_RECOVER:
		/* a new reg client on a new connection: the old one goes
		   (its un-REGISTER), the new one registers */
		baresip_unregister(w, idx);
		baresip_register(w, idx);
		break;

	case SR_ACT_REQUEST:
		switch (act->req) {

		case SR_REQ_PROBE:
			a->prk = RK_PROBE;
			break;

		case SR_REQ_REPAIR:
			a->prk = RK_REPAIR;
			break;

		case SR_REQ_QUERY:
			a->prk = RK_QUERY;
			break;

		default:
			a->prk = RK_OPTIONS;
			break;
		}
		send_req(w, idx, a->prk, ++a->pgen);
		break;

	case SR_ACT_REQUEST_CANCEL:
		++a->pgen;
		break;

	case SR_ACT_WATCH:
		a->watched = true;
		break;

	case SR_ACT_UNWATCH:
		a->watched = false;
		break;

	case SR_ACT_TIMER:
		push(w, act->delay, W_ACC_TIMER, idx, ++a->tgen, NULL);
		break;

	case SR_ACT_TIMER_CANCEL:
		++a->tgen;
		break;

	default:
		break;
	}
}


/* The round timer is per phone: the action has no account */
struct phone_ctx {
	struct world *w;
	uint32_t phone;
};

/* each phone its own random stream */
static uint32_t phone_rand(void *arg)
{
	struct phone_ctx *pc = arg;

	return xs32(&pc->w->phv[pc->phone].seed);
}


static void phone_action_h(const struct sr_action *act, void *arg)
{
	struct phone_ctx *pc = arg;
	struct world *w = pc->w;
	struct phone *ph = &w->phv[pc->phone];

	switch (act->kind) {

	case SR_ACT_ROUND_TIMER:
		push(w, act->delay, W_ENG_TIMER, pc->phone, ++ph->egen, NULL);
		break;

	case SR_ACT_ROUND_CANCEL:
		++ph->egen;
		break;

	default:
		action_h(act, w);
		break;
	}
}


static void answer_of(struct sr_answer *ans, const struct work *x,
		      bool stream)
{
	memset(ans, 0, sizeof(*ans));
	ans->err = x->err;
	ans->scode = x->scode;
	ans->retry_after = x->ra;
	ans->flow = stream ? SR_FLOW_STREAM : SR_FLOW_DGRAM;
}


/* serreg: baresip's REGISTER (or refresh) was answered */
static void serreg_reg_answer(struct world *w, const struct work *x)
{
	struct facc *a = &w->accv[x->idx];
	struct sr_answer ans;

	answer_of(&ans, x, stream(w));

	if (x->scode == 200) {
		a->failc = 0;
		acc_bind(w, a, true);
		schedule_refresh(w, x->idx);
		sr_account_registered(a->sra, 200, w->now);
		return;
	}

	/* libre retries on its own, unless serreg parks the account */
	push(w, failwait(w, ++a->failc), W_RETRY, x->idx, a->rgen, NULL);
	sr_account_reg_failed(a->sra, &ans, w->now);
}


/* The first answer of the request in use (a late answer and the
   deadline may both come); marks it given */
static bool answer_fresh(struct facc *a, const struct work *x)
{
	bool reg = x->rk == RK_REGISTER;
	uint32_t cur = reg ? a->rgen : a->pgen;
	uint32_t *done = reg ? &a->rdone : &a->pdone;

	if (x->gen != cur || *done == cur)
		return false;

	*done = cur;

	return true;
}


static void serreg_work(struct world *w, const struct work *x)
{
	struct facc *a = &w->accv[x->idx];
	struct sr_answer ans;

	switch (x->kind) {

	case W_ACC_TIMER:
		if (x->gen == a->tgen)
			sr_account_timer(a->sra, w->now);
		break;

	case W_ENG_TIMER:
		if (x->gen == w->phv[x->idx].egen)
			sr_engine_timer(w->phv[x->idx].eng, w->now);
		break;

	case W_ANSWER:
		if (x->rk == RK_REGISTER) {
			if (answer_fresh(a, x))
				serreg_reg_answer(w, x);
			break;
		}

		if (x->rk == RK_UNREG || !answer_fresh(a, x))
			break;

		if (x->rk == RK_REPAIR && x->scode == 200)
			acc_bind(w, a, true);
		else if (x->rk == RK_PROBE && x->scode == 200)
			acc_bind(w, a, false);

		answer_of(&ans, x, stream(w));
		if (x->rk == RK_QUERY && x->scode == 200)
			ans.binding = binding_live(w, a) ? SR_BINDING_HELD :
				SR_BINDING_MISSING;
		sr_account_answer(a->sra, &ans, w->now);
		break;

	case W_REFRESH:
	case W_RETRY:
		if (x->gen == a->rgen)
			baresip_register(w, x->idx);
		break;

	case W_FLOW_CLOSED:
		if (a->watched) {
			a->watched = false;
			sr_account_flow_closed(a->sra, ECONNRESET, w->now);
		}
		break;

	default:
		break;
	}
}


/*
 * Upstream serreg (baresip v1.1.0+ modules/serreg/serreg.c), Cisco mode:
 * a REGISTER_FAIL of the tier in use moves to the next tier; the failed
 * account goes to fallback (REGISTER expires=0 every fbregint, fixed);
 * the first good probe of a tier not worse than the one in use registers
 * it and puts the others on fallback at once (their un-REGISTER goes out
 * before the new REGISTER is answered); when every tier failed, the
 * restart timer (min regint, >= 31 s) restarts only accounts without
 * fbregint: none in Cisco mode, so probes alone bring the fleet back.
 */

static struct facc *other_acc(struct world *w, const struct facc *a)
{
	struct facc *base = &w->accv[(size_t)a->phone * NACC];

	return a->tier ? base : base + 1;
}


static void up_probe_start(struct world *w, uint32_t idx, uint64_t delay)
{
	struct facc *a = &w->accv[idx];

	a->us = U_PROBING;
	push(w, delay, W_ACC_TIMER, idx, ++a->tgen, NULL);
}


static void up_fallback(struct world *w, uint32_t idx)
{
	baresip_unregister(w, idx);
	up_probe_start(w, idx, (uint64_t)w->cfg->fbregint * MS);
}


static void up_register(struct world *w, uint32_t idx)
{
	struct facc *a = &w->accv[idx];

	++a->tgen;             /* its probes stop */
	a->us = U_REGISTERING;
	baresip_register(w, idx);
}


static void up_reg_answer(struct world *w, const struct work *x)
{
	struct facc *a = &w->accv[x->idx];
	struct phone *ph = &w->phv[a->phone];
	struct facc *o = other_acc(w, a);

	if (x->scode == 200) {
		a->us = U_REGISTERED;
		acc_bind(w, a, true);
		schedule_refresh(w, x->idx);
		ph->ucur = a->tier;
		return;
	}

	/* REGISTER_FAIL: next tier, the failed account to fallback */
	acc_bind(w, a, false);
	a->sipreg = false;
	++a->rgen;
	if (ph->ucur == a->tier || ph->ucur < 0) {
		if (o->us == U_PROBING && o->tier > a->tier) {
			ph->ucur = o->tier;
			up_register(w, (uint32_t)(o - w->accv));
		}
		else {
			ph->ucur = -1;
		}
	}

	up_probe_start(w, x->idx, (uint64_t)w->cfg->fbregint * MS);
}


static void up_probe_answer(struct world *w, const struct work *x)
{
	struct facc *a = &w->accv[x->idx];
	struct phone *ph = &w->phv[a->phone];
	struct facc *o = other_acc(w, a);

	if (a->us != U_PROBING)
		return;

	up_probe_start(w, x->idx, (uint64_t)w->cfg->fbregint * MS);

	if (x->scode != 200 || (ph->ucur >= 0 && a->tier > ph->ucur))
		return;

	/* fallback_ok: register it, the others to fallback now */
	ph->ucur = a->tier;
	up_register(w, x->idx);
	if (o->us == U_REGISTERED || o->us == U_REGISTERING)
		up_fallback(w, (uint32_t)(o - w->accv));
}


static void upstream_work(struct world *w, const struct work *x)
{
	struct facc *a = &w->accv[x->idx];

	switch (x->kind) {

	case W_ACC_TIMER:
		if (x->gen == a->tgen && a->us == U_PROBING)
			send_req(w, x->idx, RK_PROBE, ++a->pgen);
		break;

	case W_ANSWER:
		if (x->rk == RK_UNREG || !answer_fresh(a, x))
			break;
		if (x->rk == RK_REGISTER)
			up_reg_answer(w, x);
		else if (x->rk == RK_PROBE)
			up_probe_answer(w, x);
		break;

	case W_REFRESH:
		if (x->gen == a->rgen)
			baresip_register(w, x->idx);
		break;

	default:
		break;
	}
}


/*
 * Setup and the run
 */

static int phone_start(struct world *w, uint32_t p)
{
	struct phone *ph = &w->phv[p];
	unsigned i;

	if (w->cfg->model == M_UPSTREAM) {
		ph->ucur = 0;
		up_register(w, p * NACC);
		up_probe_start(w, p * NACC + 1,
			       wrand_range(w, 0, w->cfg->fbregint * MS));
		return 0;
	}

	for (i = 0; i < NACC; i++) {
		struct facc *a = &w->accv[p * NACC + i];
		int err = sr_account_add(ph->eng, &a->sra, a, a->tier,
					 w->cfg->fbregint, 0, w->now);
		if (err)
			return err;
	}

	sr_engine_start(ph->eng, w->now);

	return 0;
}


static struct phone_ctx *pctxv;

static int world_init(struct world *w, const struct cfg *cfg,
		      enum scenario sc)
{
	struct sr_config ec;
	uint64_t slow;
	unsigned p, r;
	int err;

	memset(w, 0, sizeof(*w));
	bheap_init(&w->heap, sizeof(struct work), before);
	w->cfg = cfg;
	w->sc = sc;
	w->wseed = cfg->seed ? cfg->seed : 0x9e3779b9;
	w->txnfree = TXN_NONE;
	for (r = 0; r < NREG; r++)
		w->regv[r].lost = TXN_NONE;

	/* the slowest detection is upstream's: a refresh, then Timer F */
	slow = (uint64_t)cfg->regint * REFRESH_PM + REG_TMO +
		2ULL * cfg->fbregint * MS + MARGIN;
	w->t_event = T_FAULT;
	switch (sc) {

	case SC_RETURN:
	case SC_ALLDOWN:
	case SC_B503:
		w->t_second = T_FAULT + (cfg->ret ? (uint64_t)cfg->ret * MS :
					 slow);
		w->end = w->t_second + 4ULL * cfg->fbregint * MS +
			(uint64_t)cfg->spread * MS + MARGIN;
		break;

	default:
		w->end = T_FAULT + slow;
		break;
	}

	w->nsec = (size_t)(w->end / MS) + 1;
	w->reach   = calloc(w->nsec, sizeof(uint32_t));
	w->onp     = calloc(w->nsec, sizeof(uint32_t));
	w->regsent = calloc(w->nsec, sizeof(uint32_t));
	for (r = 0; r < NREG; r++) {
		unsigned k;

		w->regv[r].arr    = calloc(w->nsec, sizeof(uint32_t));
		w->regv[r].regarr = calloc(w->nsec, sizeof(uint32_t));
		if (!w->regv[r].arr || !w->regv[r].regarr)
			return ENOMEM;
		for (k = 0; k < RK_COUNT; k++) {
			w->regv[r].karr[k] = calloc(w->nsec,
						    sizeof(uint32_t));
			if (!w->regv[r].karr[k])
				return ENOMEM;
		}
	}
	for (r = 0; r < NACC; r++) {
		w->serve[r] = calloc(w->nsec, sizeof(uint32_t));
		if (!w->serve[r])
			return ENOMEM;
	}

	w->phv  = calloc(cfg->n, sizeof(*w->phv));
	w->accv = calloc((size_t)cfg->n * NACC, sizeof(*w->accv));
	pctxv   = calloc(cfg->n, sizeof(*pctxv));
	if (!w->reach || !w->onp || !w->regsent || !w->phv || !w->accv ||
	    !pctxv)
		return ENOMEM;

	memset(&ec, 0, sizeof(ec));
	ec.failback_hold   = cfg->hold;
	ec.backoff_max     = cfg->backoff_max;
	ec.check_interval  = cfg->check;
	ec.failback_spread = cfg->spread;
	ec.concurrent      = cfg->concurrent;

	for (p = 0; p < cfg->n; p++) {
		struct phone *ph = &w->phv[p];
		unsigned i;

		/* each phone its own random stream */
		ph->seed = (p + 1) * 0x9e3779b1u ^ w->wseed;
		if (!ph->seed)
			ph->seed = 1;
		(void)xs32(&ph->seed);
		ph->ucur = -1;

		for (i = 0; i < NACC; i++) {
			struct facc *a = &w->accv[p * NACC + i];

			a->phone = p;
			a->tier = (uint8_t)i;
			a->reg = (uint8_t)i;
		}

		if (cfg->model == M_SERREG) {
			pctxv[p].w = w;
			pctxv[p].phone = p;
			err = sr_engine_alloc(&ph->eng, &ec, phone_action_h,
					      phone_rand, &pctxv[p]);
			if (err)
				return err;
		}

		push(w, wrand_range(w, 0, START_SPREAD), W_START, p, 0,
		     NULL);
	}

	return 0;
}


static void world_close(struct world *w)
{
	unsigned p, r;

	for (p = 0; w->phv && w->accv && p < w->cfg->n; p++) {
		unsigned i;

		for (i = 0; i < NACC; i++)
			mem_deref(w->accv[p * NACC + i].sra);
		mem_deref(w->phv[p].eng);
	}

	free(w->phv);
	free(w->accv);
	free(pctxv);
	pctxv = NULL;
	free(w->txnv);
	bheap_close(&w->heap);
	free(w->reach);
	free(w->onp);
	free(w->regsent);
	for (r = 0; r < NREG; r++) {
		unsigned k;

		free(w->regv[r].arr);
		free(w->regv[r].regarr);
		for (k = 0; k < RK_COUNT; k++)
			free(w->regv[r].karr[k]);
	}
	for (r = 0; r < NACC; r++)
		free(w->serve[r]);
}


/* The tier a phone works through: the tier in use (serreg: the
   engine registered or promoting; upstream: the tier it registered)
   whose account is bound at a registrar that is up; -1 none */
static int serving_tier(const struct world *w, uint32_t p)
{
	const struct phone *ph = &w->phv[p];
	int t;

	if (w->cfg->model == M_SERREG) {
		enum sr_state st = sr_engine_state(ph->eng);

		if (st != SR_REGISTERED && st != SR_PROMOTING)
			return -1;
		t = sr_engine_current_tier(ph->eng);
	}
	else {
		t = ph->ucur;
	}

	if (t < 0 || t >= NACC || !w->accv[(size_t)p * NACC + t].live)
		return -1;

	return t;
}


static void sample(struct world *w, uint64_t upto)
{
	while (w->next_sample <= upto && w->next_sample < w->end) {
		size_t s = (size_t)(w->next_sample / MS);
		uint32_t p;

		w->reach[s] = w->nreach;
		w->onp[s]   = w->nonp;

		/* O(N) a second: the engines are asked, not followed */
		for (p = 0; p < w->cfg->n; p++) {
			int t = serving_tier(w, p);

			if (t >= 0)
				++w->serve[t][s];
		}

		w->next_sample += MS;
	}
}


static int run_until(struct world *w, uint64_t until)
{
	while (top(w) && top(w)->due <= until) {
		struct work x;
		int err;

		bheap_pop(&w->heap, &x);
		sample(w, x.due);
		w->now = x.due;
		++w->nevents;

		if (txn_work(w, &x))
			continue;

		if (x.kind == W_START) {
			err = phone_start(w, x.idx);
			if (err)
				return err;
			continue;
		}

		if (w->cfg->model == M_SERREG)
			serreg_work(w, &x);
		else
			upstream_work(w, &x);
	}

	sample(w, until);
	w->now = until;

	return 0;
}


static int run_scenario(struct world *w)
{
	int err;

	err = run_until(w, T_FAULT);
	if (err)
		return err;

	/* the fleet before the fault: bound at both registrars? */
	{
		uint32_t p;

		for (p = 0; p < w->cfg->n; p++)
			if (w->phv[p].nlive == NACC)
				++w->nboth;
	}

	switch (w->sc) {

	case SC_SILENT:
	case SC_RETURN:
		reg_set(w, REG_P, R_SILENT);
		break;

	case SC_RESET:
		reg_set(w, REG_P, R_RESET);
		break;

	case SC_503:
		reg_set(w, REG_P, R_503);
		break;

	case SC_ALLDOWN:
		reg_set(w, REG_P, R_SILENT);
		reg_set(w, REG_B, R_SILENT);
		break;

	case SC_B503:
		reg_set(w, REG_B, R_503);
		break;

	default:
		break;
	}

	if (w->t_second) {
		err = run_until(w, w->t_second);
		if (err)
			return err;

		reg_set(w, w->sc == SC_RETURN ? REG_P : REG_B, R_UP);
	}

	return run_until(w, w->end - 1);
}


/*
 * Measures
 */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}


static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}


static void peak_p99(const uint32_t *bins, size_t from, size_t to,
		     uint32_t *peak, uint32_t *p99)
{
	size_t n = to > from ? to - from : 0, i;
	uint32_t *v;

	*peak = 0;
	*p99 = 0;
	if (!n)
		return;

	v = malloc(n * sizeof(*v));
	if (!v)
		return;

	memcpy(v, bins + from, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u32);
	*peak = v[n - 1];
	i = (size_t)((double)(n - 1) * 0.99);
	*p99 = v[i];
	free(v);
}


/* [s] after the event in second `from` until curve >= share of n (the
   sample of `from` is taken before the event); -1 if never */
static double time_to(const uint32_t *curve, size_t nsec, size_t from,
		      unsigned n, double share)
{
	uint32_t need = (uint32_t)((double)n * share + 0.999999);
	size_t s;

	for (s = from + 1; s < nsec; s++) {
		if (curve[s] >= need)
			return (double)(s - from);
	}

	return -1;
}


static void measure(const struct world *w, struct result *res)
{
	const struct cfg *cfg = w->cfg;
	size_t from = (size_t)(w->t_event / MS), to = w->nsec - 1;
	size_t rec = (size_t)((w->t_second ? w->t_second : w->t_event) /
			      MS);
	size_t s, i;
	uint64_t acc = 0;

	/* the load of the recovery: after the return, if there is one */
	for (i = 0; i < NREG; i++) {
		size_t pf = w->t_second ? rec + 1 : from;

		peak_p99(w->regv[i].arr, pf, to, &res->peak[i], &res->p99[i]);
		peak_p99(w->regv[i].regarr, pf, to, &res->regpk[i],
			 &res->regp99[i]);
	}

	for (i = 0; i < NPCT; i++) {
		res->trec[i] = time_to(w->reach, to, rec, cfg->n, pct[i]);
		res->tonp[i] = -1;
		if (w->sc == SC_RETURN)
			res->tonp[i] = time_to(w->onp, to, rec, cfg->n,
					       pct[i]);
	}

	res->unreach_max = 0;
	for (s = from + 1; s < to; s++) {
		double u = 1.0 - (double)w->reach[s] / cfg->n;

		if (u > res->unreach_max)
			res->unreach_max = u;
	}

	for (i = 0; i < ARRAY_SIZE(unreach_t); i++) {
		s = from + unreach_t[i];
		res->unreach_at[i] = s < to ?
			1.0 - (double)w->reach[s] / cfg->n : -1;
	}

	res->minreach2 = cfg->n;
	for (s = rec + 1; w->t_second && s < to; s++)
		res->minreach2 = min(res->minreach2, w->reach[s]);

	/* REGISTERs sent during an all-down outage, against the bound */
	res->regpeak = 0;
	res->regma = 0;
	for (s = from; s < rec && s < to; s++) {
		res->regpeak = max(res->regpeak, w->regsent[s]);
		acc += w->regsent[s];
		if (s >= from + MA_WINDOW)
			acc -= w->regsent[s - MA_WINDOW];
		if (s >= from + MA_WINDOW - 1)
			res->regma = max(res->regma,
					 (uint32_t)(acc / MA_WINDOW));
	}

	/* per phone: each account probes at most every 0.8 fbregint, a
	   round sends one REGISTER and comes at most every 0.5 base */
	res->bound = (double)cfg->n *
		((double)NACC / (0.8 * cfg->fbregint) +
		 1.0 / (0.5 * SR_BACKOFF_BASE));

	res->nshed = 0;
	for (i = 0; i < NREG; i++)
		res->nshed += w->regv[i].nshed;

	res->events = w->nevents;

	/* time to move: in use and bound on the new tier (return: P) */
	for (i = 0; i < NPCT; i++)
		res->tmove[i] = time_to(w->serve[w->sc == SC_RETURN ||
						 w->sc == SC_B503 ? 0 : 1],
					to, rec, cfg->n, pct[i]);

	/* the load in steady state, per minute: the minute before the
	   fault, and the last minute of the run */
	for (i = 0; i < NREG; i++) {
		size_t k, s0 = from >= SECS_MIN ? from - SECS_MIN : 0;

		for (k = 0; k < RK_COUNT; k++) {
			uint64_t a = 0, b = 0;

			for (s = s0; s < from; s++)
				a += w->regv[i].karr[k][s];
			for (s = to - SECS_MIN; s < to; s++)
				b += w->regv[i].karr[k][s];
			res->steady[i][k] = (double)a * SECS_MIN /
				(double)(from - s0);
			res->after[i][k] = (double)b;
		}

		/* the busiest minute after the fault (the return) */
		acc = 0;
		res->regmin[i] = 0;
		for (s = w->t_second ? rec + 1 : from; s < to; s++) {
			size_t s1 = w->t_second ? rec + 1 : from;

			acc += w->regv[i].regarr[s];
			if (s >= s1 + SECS_MIN)
				acc -= w->regv[i].regarr[s - SECS_MIN];
			res->regmin[i] = max(res->regmin[i], (uint32_t)acc);
		}
	}

	res->nboth = w->nboth;
	for (i = 0; i < NREG; i++)
		for (s = from; s < to; s++)
			res->nunreg[i] += w->regv[i].karr[RK_UNREG][s];
	for (i = 0; i < cfg->n; i++)
		if (w->phv[i].nlive == NACC)
			++res->nboth_end;

	/* per phone: how long it had no binding at a registrar that is
	   up, after the fault */
	{
		uint64_t *d = malloc(cfg->n * sizeof(*d)), sum = 0;
		uint32_t p;

		for (p = 0; d && p < cfg->n; p++) {
			const struct phone *ph = &w->phv[p];

			d[p] = ph->down_ms;
			if (!ph->nlive && w->now > T_FAULT)
				d[p] += w->now - max(ph->t_down,
						     (uint64_t)T_FAULT);
			sum += d[p];
		}

		if (d) {
			qsort(d, cfg->n, sizeof(*d), cmp_u64);
			res->down_mean = (double)sum / cfg->n / MS;
			res->down_p99 = (double)d[(size_t)((double)(cfg->n - 1)
							   * 0.99)] / MS;
			res->down_max = (double)d[cfg->n - 1] / MS;
			free(d);
		}
	}

	/* the burst at the registrar that returned, from its return */
	if (w->t_second) {
		const struct registrar *r =
			&w->regv[w->sc == SC_RETURN ? REG_P : REG_B];

		res->nlate = r->nlate;
		for (s = rec; s < rec + BURST && s < to; s++) {
			res->bpk = max(res->bpk, r->arr[s]);
			res->bregpk = max(res->bregpk, r->regarr[s]);
			if (s < rec + BURST4) {
				res->b4 += r->arr[s];
				res->breg4 += r->regarr[s];
			}
		}
	}
}


static int write_csv(const struct world *w)
{
	char path[512];
	FILE *f;
	size_t s;

	snprintf(path, sizeof(path), "%s/fleet-%s-%s-%u.csv",
		 w->cfg->csvdir, sc_names[w->sc],
		 model_label(w->cfg->model, w->cfg->concurrent), w->cfg->n);

	f = fopen(path, "w");
	if (!f)
		return errno;

	/* t: seconds after the fault; t2: after the return (or t);
	   Pbind/Bbind: REGISTERs that bind (baresip's, repairs), Punreg/
	   Bunreg: un-REGISTERs, Pprobe/Bprobe: REGISTER expires=0 probes;
	   serve0/serve1: phones working through tier 0/1 (in use, bound) */
	fprintf(f, "t,t2,P,B,Preg,Breg,reach,onp,regsent,Pbind,Bbind,"
		"Punreg,Bunreg,Pprobe,Bprobe,serve0,serve1\n");
	for (s = 0; s + 1 < w->nsec; s++) {
		const struct registrar *rp = &w->regv[REG_P];
		const struct registrar *rb = &w->regv[REG_B];

		fprintf(f, "%zd,%zd,%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,"
			"%u,%u\n",
			(ssize_t)s - (ssize_t)(w->t_event / MS),
			(ssize_t)s - (ssize_t)((w->t_second ? w->t_second :
						w->t_event) / MS),
			rp->arr[s], rb->arr[s], rp->regarr[s], rb->regarr[s],
			w->reach[s], w->onp[s], w->regsent[s],
			rp->karr[RK_REGISTER][s] + rp->karr[RK_REPAIR][s],
			rb->karr[RK_REGISTER][s] + rb->karr[RK_REPAIR][s],
			rp->karr[RK_UNREG][s], rb->karr[RK_UNREG][s],
			rp->karr[RK_PROBE][s], rb->karr[RK_PROBE][s],
			w->serve[0][s], w->serve[1][s]);
	}

	fclose(f);

	return 0;
}


static double wall_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);

	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static int simulate(const struct cfg *cfg, enum scenario sc,
		    struct result *res)
{
	struct world w;
	double t0 = wall_s();
	int err;

	memset(res, 0, sizeof(*res));

	err = world_init(&w, cfg, sc);
	if (!err)
		err = run_scenario(&w);
	if (!err) {
		measure(&w, res);
		if (cfg->csvdir)
			err = write_csv(&w);
	}

	world_close(&w);
	res->wall = wall_s() - t0;

	return err;
}


/*
 * Output
 */

static void print_settings(const struct cfg *cfg)
{
	printf("settings: N=%u phones x %u accounts (tier 0 on P, tier 1 on "
	       "B, Cisco mode), regint=%u s, fbregint=%u s,\n"
	       "  serreg_check_interval=%u s, serreg_probe_timeout=%u s, "
	       "serreg_failback_hold=%u, serreg_backoff_max=%u s,\n"
	       "  serreg_failback_spread=%u s; registrar capacity %u req/s, "
	       "queue %u ms, then 503 Retry-After %u s;\n"
	       "  RTT %u ms, REGISTER timeout %u ms; fault at %u s, "
	       "boot over %u s; seed %u;\n"
	       "  transactions: %s (T1 %u ms, T2 %u ms); return %u s after "
	       "the fault (0: auto)\n",
	       cfg->n, NACC, cfg->regint, cfg->fbregint, cfg->check,
	       cfg->timeout, cfg->hold, cfg->backoff_max, cfg->spread,
	       cfg->cap, QUEUE_MAX, OVERLOAD_RA, RTT, REG_TMO,
	       T_FAULT / MS, START_SPREAD / MS, cfg->seed,
	       xmodel_names[cfg->xm], SR_T1, SR_T2, cfg->ret);
}


static void fmt_t(char *buf, size_t sz, double t)
{
	if (t < 0)
		snprintf(buf, sz, "never");
	else
		snprintf(buf, sz, "%.0f", t);
}


static void print_header(void)
{
	printf("| scenario | model    |      N | P peak/p99 | B peak/p99 "
	       "| P REG pk/p99 | B REG pk/p99 "
	       "| reg. 50/99/100 %% [s] | on P 50/99/100 %% [s] "
	       "| unreach. max | +10/30/60/120/300 s "
	       "| unreach. in failback | 503s "
	       "| REG/s peak (10 s avg) / bound |\n");
	printf("|----------|----------|-------:|-----------:|-----------:"
	       "|-------------:|-------------:"
	       "|---------------------:|---------------------:"
	       "|-------------:|--------------------"
	       "|---------------------:|-----:"
	       "|-------------------------------:|\n");
}


static void print_row(const struct cfg *cfg, enum scenario sc,
		      const struct result *r)
{
	char t[NPCT][16], p[NPCT][16], at[64] = "", bnd[64] = "-";
	char fb[32] = "-";
	unsigned i;

	for (i = 0; i < NPCT; i++) {
		fmt_t(t[i], sizeof(t[i]), r->trec[i]);
		fmt_t(p[i], sizeof(p[i]), r->tonp[i]);
	}

	for (i = 0; i < ARRAY_SIZE(unreach_t); i++) {
		size_t l = strlen(at);

		snprintf(at + l, sizeof(at) - l, "%s%.0f", i ? "/" : "",
			 r->unreach_at[i] * 100.0);
	}

	if (sc == SC_RETURN)
		snprintf(fb, sizeof(fb), "%u phones",
			 cfg->n - r->minreach2);

	if (sc == SC_ALLDOWN)
		snprintf(bnd, sizeof(bnd), "%u (%u) / %.0f", r->regpeak,
			 r->regma, r->bound);

	printf("| %-8s | %-8s | %6u | %5u/%-4u | %5u/%-4u | %6u/%-5u "
	       "| %6u/%-5u | %6s/%5s/%5s "
	       "| %6s/%5s/%5s | %10.1f %% | %-18s | %20s | %4llu | %30s |\n",
	       sc_names[sc], model_label(cfg->model, cfg->concurrent),
	       cfg->n, r->peak[REG_P], r->p99[REG_P], r->peak[REG_B],
	       r->p99[REG_B],
	       r->regpk[REG_P], r->regp99[REG_P], r->regpk[REG_B],
	       r->regp99[REG_B],
	       t[0], t[1], t[2],
	       sc == SC_RETURN ? p[0] : "-", sc == SC_RETURN ? p[1] : "-",
	       sc == SC_RETURN ? p[2] : "-",
	       r->unreach_max * 100.0, at, fb, (unsigned long long)r->nshed,
	       bnd);
}


/* The second table (issue 19): the load per minute in steady state and
   at its busiest, the time to move, each phone's time unreachable */
static void print_load_header(void)
{
	printf("| scenario | model    | bound at P+B | P steady REG/min "
	       "bind/unREG/probe, OPTIONS/min | B steady REG/min "
	       "bind/unREG/probe, OPTIONS/min | P REG/min peak | B REG/min "
	       "peak | P REG/s pk | B REG/s pk | moved 50/99/100 %% [s] "
	       "| unreachable per phone mean/p99/max [s] | B after, REG/min "
	       "bind/unREG/probe, OPTIONS/min | un-REGs at P/B | bound at "
	       "P+B, end |\n");
	printf("|----------|----------|-------------:|----------------------"
	       "-----------------------:|------------------------------------"
	       "---------:|---------------:|---------------:|-----------:"
	       "|-----------:|---------------------:|-----------------------"
	       "-----------------:|--------------------------------------:|"
	       "---------------:|------------------:|\n");
}


static void fmt_kinds(char *buf, size_t sz, const double *k)
{
	snprintf(buf, sz, "%.0f/%.0f/%.0f, %.0f",
		 k[RK_REGISTER] + k[RK_REPAIR], k[RK_UNREG], k[RK_PROBE],
		 k[RK_OPTIONS]);
}


static void print_load_row(const struct cfg *cfg, enum scenario sc,
			   const struct result *r)
{
	char t[NPCT][16], sp[64], sb[64], ab[64];
	unsigned i;

	for (i = 0; i < NPCT; i++)
		fmt_t(t[i], sizeof(t[i]), r->tmove[i]);

	fmt_kinds(sp, sizeof(sp), r->steady[REG_P]);
	fmt_kinds(sb, sizeof(sb), r->steady[REG_B]);
	fmt_kinds(ab, sizeof(ab), r->after[REG_B]);

	printf("| %-8s | %-8s | %12u | %44s | %44s | %14u | %14u "
	       "| %10u | %10u | %6s/%5s/%5s | %17.1f/%6.1f/%6.1f "
	       "| %37s | %6llu/%-6llu | %17u |\n",
	       sc_names[sc], model_label(cfg->model, cfg->concurrent),
	       r->nboth, sp, sb, r->regmin[REG_P], r->regmin[REG_B],
	       r->regpk[REG_P], r->regpk[REG_B], t[0], t[1], t[2],
	       r->down_mean, r->down_p99, r->down_max, ab,
	       (unsigned long long)r->nunreg[REG_P],
	       (unsigned long long)r->nunreg[REG_B], r->nboth_end);
}


/* The returning registrar's first seconds (issue 20) */
static void burst_line(char *buf, size_t sz, const struct cfg *cfg,
		       enum scenario sc, const struct result *r)
{
	snprintf(buf, sz, "%s/%s: at %s in its first %u s back: peak "
		 "%u/s (REGISTER %u/s); first %u s: %u requests (%u "
		 "REGISTERs); late copies %llu",
		 sc_names[sc], model_label(cfg->model, cfg->concurrent),
		 sc == SC_RETURN ? "P" : "B", BURST, r->bpk, r->bregpk,
		 BURST4, r->b4, r->breg4, (unsigned long long)r->nlate);
}


/*
 * Sanity checks of the smoke run: the simulator's own invariants
 */

static int smoke_check(const struct cfg *cfg, enum scenario sc,
		       const struct result *r)
{
	int fails = 0;

#define SMOKE(cond, what)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fleet: smoke: %s/%s: %s\n",	\
				model_label(cfg->model, cfg->concurrent), \
				sc_names[sc], what);			\
			++fails;					\
		}							\
	} while (0)

	SMOKE(r->events > cfg->n, "too few events");
	SMOKE(r->trec[2] >= 0, "the fleet is not all registered again");
	SMOKE(r->peak[REG_B] > 0, "nothing reached the backup");

	if (cfg->model == M_SERREG && sc == SC_SILENT)
		SMOKE(r->trec[1] <= cfg->check + cfg->timeout + 5,
		      "99 % not registered within check + timeout + 5 s");

	if (sc == SC_RETURN) {
		SMOKE(r->tonp[2] >= 0, "not all back on the primary");
		if (cfg->model == M_SERREG)
			SMOKE(r->minreach2 == cfg->n,
			      "a phone was unreachable during the failback");
	}

	if (cfg->model == M_SERREG && sc == SC_ALLDOWN)
		SMOKE(r->regma <= r->bound,
		      "REGISTER rate above the backoff bound");

#undef SMOKE

	return fails;
}


/*
 * Concurrent registration (issue 19): the hot standby is registered and
 * kept like the tier in use, so the fleet is bound at both registrars,
 * the steady REGISTER load of the tiers involved is about twice, and a
 * failure of the primary leaves no phone unreachable
 */
static int smoke_concurrent(const struct cfg *cfg, enum scenario sc,
			    const struct result *single,
			    const struct result *conc)
{
	double bp = conc->steady[REG_P][RK_REGISTER];
	double bb = conc->steady[REG_B][RK_REGISTER];
	double b1 = single->steady[REG_P][RK_REGISTER] +
		single->steady[REG_B][RK_REGISTER];
	int fails = 0;

#define SMOKE(cond, what)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fleet: smoke: serreg-c/%s: %s\n", \
				sc_names[sc], what);			\
			++fails;					\
		}							\
	} while (0)

	SMOKE(conc->nboth == cfg->n,
	      "not every phone bound at P and B before the fault");
	SMOKE(single->nboth == 0,
	      "without concurrent, a phone bound at P and B");
	SMOKE(bb >= 0.5 * bp && bb <= 2 * bp,
	      "steady REGISTERs at B not about those at P");
	SMOKE(bp + bb >= 1.5 * b1,
	      "steady REGISTER load not about twice that without");

	if (sc == SC_SILENT || sc == SC_RESET || sc == SC_503)
		SMOKE(conc->down_max == 0,
		      "a phone unreachable although bound at B");

	/* the hot standby fails (its un-REGISTERs reach the 503 backup)
	   and registers again when the backup is back */
	if (sc == SC_B503) {
		SMOKE(conc->nunreg[REG_B] >= cfg->n,
		      "no un-REGISTER of the failed hot standby at B");
		SMOKE(conc->nboth_end == cfg->n,
		      "the hot standby not registered again after the "
		      "backup's return");
		SMOKE(conc->down_max == 0, "a phone unreachable");
	}

#undef SMOKE

	return fails;
}


static int usage(void)
{
	fprintf(stderr,
		"usage: fleet [-n N] "
		"[-s silent|reset|503|return|alldown|b503]\n"
		"             [-m serreg|upstream|both] [-c capacity/s]\n"
		"             [-k check s] [-t probe timeout s] "
		"[-f fbregint s]\n"
		"             [-r regint s] [-H hold] [-S failback spread s]\n"
		"             [-R return s after the fault] "
		"[-x none|libre|own]\n"
		"             [-z|--seed seed] [-o csv dir] [-C|--concurrent]\n"
		"             [--smoke]\n"
		"  -C: serreg with serreg_concurrent 1 (the hot standby "
		"registered too, issue 19)\n"
		"  -x: requests over UDP retransmitted (T1 doubling to T2) "
		"until Timer F (libre:\n"
		"      serreg before issue 20), serreg's own until its probe "
		"timeout (own, the\n"
		"      default: the module as it is), or sent once (none: the "
		"simulator\n"
		"      before issue 20)\n");

	return 2;
}


int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{"smoke", no_argument, NULL, 'Z'},
		{"seed",  required_argument, NULL, 'z'},
		{"concurrent", no_argument, NULL, 'C'},
		{NULL, 0, NULL, 0},
	};
	/* the runs: serreg, upstream, and serreg with serreg_concurrent 1
	   (--concurrent: instead of serreg; --smoke: all three) */
	enum { RUN_SERREG = 0, RUN_UPSTREAM, RUN_CONC, RUN_COUNT };
	static char bursts[SC_COUNT][RUN_COUNT][160];
	static struct result res[SC_COUNT][RUN_COUNT];
	static bool done[SC_COUNT][RUN_COUNT];
	struct cfg cfg;
	int scs = -1, models = -1, c, m, s, err = 0, fails = 0;
	bool smoke = false, concurrent = false;

	memset(&cfg, 0, sizeof(cfg));
	cfg.n           = DEF_N;
	cfg.cap         = DEF_CAP;
	cfg.check       = DEF_CHECK;
	cfg.timeout     = DEF_TIMEOUT;
	cfg.fbregint    = DEF_FBREGINT;
	cfg.regint      = DEF_REGINT;
	cfg.hold        = DEF_HOLD;
	cfg.backoff_max = DEF_BACKOFF_MAX;
	cfg.seed        = 1;
	cfg.xm          = X_OWN;
	cfg.spread      = DEF_SPREAD;

	while ((c = getopt_long(argc, argv, "n:s:m:c:k:t:f:r:H:S:R:x:z:o:C",
				longopts, NULL)) != -1) {
		switch (c) {

		case 'n': cfg.n = (unsigned)atoi(optarg);          break;
		case 'c': cfg.cap = (uint32_t)atoi(optarg);        break;
		case 'k': cfg.check = (uint32_t)atoi(optarg);      break;
		case 't': cfg.timeout = (uint32_t)atoi(optarg);    break;
		case 'f': cfg.fbregint = (uint32_t)atoi(optarg);   break;
		case 'r': cfg.regint = (uint32_t)atoi(optarg);     break;
		case 'H': cfg.hold = (uint32_t)atoi(optarg);       break;
		case 'S': cfg.spread = (uint32_t)atoi(optarg);     break;
		case 'R': cfg.ret = (uint32_t)atoi(optarg);        break;
		case 'z': cfg.seed = (uint32_t)atoi(optarg);       break;

		case 'x':
			for (c = 0; c < X_COUNT; c++)
				if (!strcmp(optarg, xmodel_names[c]))
					break;
			if (c == X_COUNT)
				return usage();
			cfg.xm = (enum xmodel)c;
			break;
		case 'o': cfg.csvdir = optarg;                     break;
		case 'Z': smoke = true;                            break;
		case 'C': concurrent = true;                       break;

		case 's':
			for (scs = 0; scs < SC_COUNT; scs++)
				if (!strcmp(optarg, sc_names[scs]))
					break;
			if (scs == SC_COUNT)
				return usage();
			break;

		case 'm':
			if (!strcmp(optarg, "serreg"))
				models = M_SERREG;
			else if (!strcmp(optarg, "upstream"))
				models = M_UPSTREAM;
			else if (strcmp(optarg, "both"))
				return usage();
			break;

		default:
			return usage();
		}
	}

	if (smoke)
		cfg.n = SMOKE_N;

	if (!cfg.n || !cfg.cap || !cfg.fbregint || !cfg.regint ||
	    !cfg.timeout)
		return usage();

	if (cfg.csvdir)
		(void)mkdir(cfg.csvdir, 0755);

	(void)libre_init();

	print_settings(&cfg);
	printf("\n");
	print_header();

	for (s = 0; s < SC_COUNT; s++) {
		if (scs >= 0 && s != scs)
			continue;

		for (m = 0; m < RUN_COUNT; m++) {
			enum model md = m == RUN_UPSTREAM ? M_UPSTREAM :
				M_SERREG;
			struct result *r = &res[s][m];

			if (models >= 0 && (int)md != models)
				continue;
			if (!smoke && md == M_SERREG &&
			    (m == RUN_CONC) != concurrent)
				continue;

			cfg.model = md;
			cfg.concurrent = m == RUN_CONC;
			err = simulate(&cfg, (enum scenario)s, r);
			if (err) {
				fprintf(stderr, "fleet: %s/%s: %s\n",
					sc_names[s],
					model_label(md, cfg.concurrent),
					strerror(err));
				goto out;
			}

			done[s][m] = true;
			print_row(&cfg, (enum scenario)s, r);
			if (s == SC_RETURN || s == SC_ALLDOWN ||
			    s == SC_B503)
				burst_line(bursts[s][m], sizeof(bursts[s][m]),
					   &cfg, (enum scenario)s, r);
			fflush(stdout);
			if (smoke)
				fails += smoke_check(&cfg, (enum scenario)s,
						     r);
			if (smoke && m == RUN_CONC && done[s][RUN_SERREG])
				fails += smoke_concurrent(&cfg,
							  (enum scenario)s,
							  &res[s][RUN_SERREG],
							  r);
		}
	}

	printf("\n");
	for (s = 0; s < SC_COUNT; s++) {
		for (m = 0; m < RUN_COUNT; m++) {
			if (bursts[s][m][0])
				printf("%s\n", bursts[s][m]);
		}
	}

	/* issue 19: the load per minute, the moves, the time unreachable */
	printf("\n");
	print_load_header();
	for (s = 0; s < SC_COUNT; s++) {
		for (m = 0; m < RUN_COUNT; m++) {
			if (!done[s][m])
				continue;
			cfg.model = m == RUN_UPSTREAM ? M_UPSTREAM : M_SERREG;
			cfg.concurrent = m == RUN_CONC;
			print_load_row(&cfg, (enum scenario)s, &res[s][m]);
		}
	}

	printf("\nscenarios: ");
	for (s = 0; s < SC_COUNT; s++)
		printf("%s%s = %s", s ? "; " : "", sc_names[s], sc_desc[s]);
	printf("\n");

 out:
	libre_close();

	if (smoke)
		printf("fleet: smoke %s (%d failed checks)\n",
		       fails ? "FAILED" : "passed", fails);

	return err || fails ? 1 : 0;
}
