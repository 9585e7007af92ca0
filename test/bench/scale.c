/**
 * @file scale.c  Scale benchmark of the policy engine (rule R50)
 *
 * The engine (modules/serreg/engine*.c) gets 10, 1,000 and 10,000 accounts
 * spread over 10 tiers and 90 minutes of virtual life: 30 minutes steady
 * on tier 0 (standby accounts probe, the registered ones are checked and
 * refreshed), then the registrars of tier 0 go silent (checks time out,
 * every account of the tier fails: failover to tier 1), 30 minutes later
 * they come back (probes answer: failback to tier 0), 30 more minutes.
 * Accounts of the tier in use have calls (one per account every 30 min
 * on average, 30-90 s long); a failback waits for the calls to end
 * (R34), so new calls stop 10 minutes into the last phase.
 *
 * Two passes per size:
 *  1. record: a virtual world (timers, registrars) executes the engine's
 *     actions and writes every event it feeds the engine to a trace;
 *  2. replay: a fresh engine, built the same way, is fed the trace with
 *     an action handler that only counts.  The engine is deterministic
 *     (seeded random numbers), so it does the same work: the action
 *     counts of both passes must match.  Only replay_events() is
 *     measured: wall time natively (best of 3), instructions under
 *     callgrind (--toggle-collect=replay_events, run by this program).
 *
 * Ladders (issue 12): the last case is 1,000 ladders of 10 accounts, one
 * engine each, as the module makes them (ladder.c), every one over the
 * same 10 tiers; all of them fail over and back.  An event reaches one
 * engine only, so its cost must not grow with the number of ladders.
 *
 * Memory per account: the growth of the malloc heap (mallinfo2) while
 * the accounts are added, divided by their number (libre's mem_get_stat
 * is ENOSYS in Debian's libre, built without MEM_DEBUG).
 *
 * Usage: scale             the table for 10, 1000, 10000 accounts, and
 *                          1000 ladders of 10
 *        scale -n N [-l L] one size (in L ladders), natively, one line
 *        scale -n N [-l L] -r  one size, replay once (under callgrind)
 *
 * Copyright (C) 2026 The serreg developers
 */

#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <malloc.h>
#include <unistd.h>
#include <getopt.h>
#include <errno.h>
#include <sys/stat.h>
#include <re.h>
#include "engine.h"
#include "bheap.h"


enum {
	NTIERS      = 10,
	RTT         = 20,          /* [ms] answer of a live registrar   */
	PROBE_TMO   = 5000,        /* [ms] probe / check timeout        */
	REG_TMO     = 32000,       /* [ms] REGISTER timeout (Timer F)   */
	REGINT      = 300,         /* [s] refresh at 90 %               */
	CHECK_INT   = 60,          /* [s] liveness check of the tier in use */
	PHASE       = 30 * 60000,  /* [ms] each of the three phases     */
	NREPEAT     = 3,           /* native replays, the best counts   */
	CALL_GAP    = 30 * 60000,  /* [ms] between calls of one account */
};

/** A case: accounts, in how many ladders (engines) */
struct size {
	unsigned n;
	unsigned nladders;
};

static const struct size sizes[] = {
	{10, 1}, {1000, 1}, {10000, 1}, {10000, 1000},
};


/* What the world feeds the engine */
enum ev_kind {
	EV_ACC_TIMER = 0,
	EV_ENG_TIMER,
	EV_PROBED,
	EV_CHECKED,
	EV_REGISTERED,
	EV_REG_FAILED,
	EV_CALLS,

	EV_KIND_COUNT
};

static const char *const ev_names[EV_KIND_COUNT] = {
	"timer", "round", "probed", "checked", "registered", "reg_failed",
	"calls"
};

/** One recorded engine event */
struct tev {
	uint64_t now;
	uint32_t idx;
	uint8_t kind;
	uint16_t scode;           /**< 0: ETIMEDOUT; EV_CALLS: ncalls   */
};

/** Things the world waits for, in a heap by due time */
enum wk_kind {
	WK_TIMER = 0,   /* the account's timer                       */
	WK_ROUND,       /* the engine's timer                        */
	WK_PROBE,       /* answer to a probe                         */
	WK_CHECK,       /* answer to a check                         */
	WK_REG,         /* answer to a REGISTER                      */
	WK_REFRESH,     /* baresip refreshes a registration          */
	WK_CALL,        /* a call may begin on the tier in use       */
	WK_CALL_END,    /* the account's call ends                   */
};

struct work {
	uint64_t due;
	uint64_t seq;
	uint32_t idx;
	uint32_t gen;
	uint8_t kind;
};

struct bacc {
	struct sr_account *sra;
	uint32_t ladder;
	uint32_t tier;
	uint32_t tgen;            /**< timer generation                */
	uint32_t pgen;            /**< probe/check generation          */
	uint32_t rgen;            /**< REGISTER generation             */
	bool incall;
};

struct bench;

/** One ladder: an engine and what the world knows of it */
struct bladder {
	struct bench *b;
	struct sr_engine *eng;
	uint32_t rgen;            /**< round timer generation          */
	int cur_tier;
};

struct bench {
	struct bladder *ladv;
	unsigned nladders;
	unsigned per_ladder;      /**< accounts per ladder             */
	struct bacc *accv;
	unsigned n;
	uint64_t now;
	uint32_t seed;
	bool record;
	bool up[NTIERS];          /**< registrars of each tier answer  */

	/* the world (record pass) */
	struct bheap heap;        /**< struct work, by (due, seq)      */
	uint64_t seq;
	uint32_t wseed;           /**< the world's own random numbers  */
	bool calls;               /**< new calls begin                 */
	uint64_t ncalls;

	/* the trace */
	struct tev *trace;
	size_t ntrace, sztrace;

	/* what the engine did */
	uint64_t nact;
	uint64_t nact_kind[SR_ACT_MOVE + 1];
	unsigned moves;
	uint64_t move_at[8];      /**< [ms] since start, first moves   */
	uint64_t nev_kind[EV_KIND_COUNT];
	uint64_t maxact;          /**< most actions from one event     */
};


/* xorshift32, seeded: the engine's random numbers */
static uint32_t rand_h(void *arg)
{
	struct bench *b = ((struct bladder *)arg)->b;

	b->seed ^= b->seed << 13;
	b->seed ^= b->seed >> 17;
	b->seed ^= b->seed << 5;

	return b->seed;
}


static void *grow(void *p, size_t *sz, size_t elem)
{
	size_t nsz = *sz ? *sz * 2 : 1024;
	void *np = realloc(p, nsz * elem);

	if (!np) {
		fprintf(stderr, "scale: out of memory\n");
		exit(2);
	}

	*sz = nsz;

	return np;
}


static uint32_t wrand(struct bench *b)
{
	b->wseed ^= b->wseed << 13;
	b->wseed ^= b->wseed >> 17;
	b->wseed ^= b->wseed << 5;

	return b->wseed;
}


/*
 * The world's heap of work, by (due, seq)
 */

static bool work_before(const void *pa, const void *pb)
{
	const struct work *a = pa, *b = pb;

	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}


static void push(struct bench *b, uint64_t delay, enum wk_kind kind,
		 uint32_t idx, uint32_t gen)
{
	struct work w;

	w.due  = b->now + delay;
	w.seq  = ++b->seq;
	w.idx  = idx;
	w.gen  = gen;
	w.kind = kind;

	bheap_push(&b->heap, &w);
}


/*
 * Actions
 */

static uint32_t idx_of(const struct bench *b, const void *ref)
{
	return (uint32_t)((const struct bacc *)ref - b->accv);
}


static void world_action(struct bladder *l, const struct sr_action *act)
{
	struct bench *b = l->b;
	struct bacc *a = act->ref;
	uint32_t idx = a ? idx_of(b, a) : 0;
	bool up = a ? b->up[a->tier] : false;

	switch (act->kind) {

	case SR_ACT_REGISTER:
	case SR_ACT_RECOVER:
	case SR_ACT_NO_OUTBOUND:
		push(b, up ? RTT : REG_TMO, WK_REG, idx, ++a->rgen);
		break;

	case SR_ACT_UNREGISTER:
		++a->rgen;
		break;

	case SR_ACT_REQUEST:
		push(b, up ? RTT : PROBE_TMO,
		     act->req == SR_REQ_PROBE ||
		     act->req == SR_REQ_PROBE_CHECK ? WK_PROBE : WK_CHECK,
		     idx, ++a->pgen);
		break;

	case SR_ACT_REQUEST_CANCEL:
		++a->pgen;
		break;

	case SR_ACT_TIMER:
		push(b, act->delay, WK_TIMER, idx, ++a->tgen);
		break;

	case SR_ACT_TIMER_CANCEL:
		++a->tgen;
		break;

	case SR_ACT_ROUND_TIMER:
		push(b, act->delay, WK_ROUND, (uint32_t)(l - b->ladv),
		     ++l->rgen);
		break;

	case SR_ACT_ROUND_CANCEL:
		++l->rgen;
		break;

	default:
		break;
	}
}


static void action_h(const struct sr_action *act, void *arg)
{
	struct bladder *l = arg;
	struct bench *b = l->b;

	++b->nact;
	++b->nact_kind[act->kind];

	if (act->kind == SR_ACT_MOVE) {
		if (b->moves < ARRAY_SIZE(b->move_at))
			b->move_at[b->moves] = b->now - 1000;
		++b->moves;
		l->cur_tier = act->to;
	}

	if (b->record)
		world_action(l, act);
}


/* Every ladder on this tier */
static bool all_on(const struct bench *b, int tier)
{
	unsigned i;

	for (i = 0; i < b->nladders; i++) {
		if (b->ladv[i].cur_tier != tier)
			return false;
	}

	return true;
}


/*
 * Setup: the same engine and accounts in both passes
 */

static size_t heap_used(void)
{
	struct mallinfo2 mi;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggregate-return"
	mi = mallinfo2();
#pragma GCC diagnostic pop

	return mi.uordblks + mi.hblkhd;
}


static int setup(struct bench *b, const struct size *sz, bool record,
		 size_t *bytes_acc)
{
	unsigned n = sz->n;
	struct sr_config cfg;
	size_t before;
	unsigned i;
	int err;

	memset(b, 0, sizeof(*b));
	bheap_init(&b->heap, sizeof(struct work), work_before);
	b->n = n;
	b->nladders = sz->nladders;
	b->per_ladder = n / sz->nladders;
	b->seed = 0x2545f491;
	b->now = 1000;
	b->record = record;
	for (i = 0; i < NTIERS; i++)
		b->up[i] = true;

	/* every ladder holds whole rounds of the tiers (see call()) */
	if (!sz->nladders || b->per_ladder * sz->nladders != n ||
	    b->per_ladder % NTIERS)
		return EINVAL;

	b->accv = calloc(n, sizeof(*b->accv));
	b->ladv = calloc(b->nladders, sizeof(*b->ladv));
	if (!b->accv || !b->ladv)
		return ENOMEM;

	memset(&cfg, 0, sizeof(cfg));
	cfg.failback_hold  = 2;
	cfg.backoff_base   = 30;
	cfg.backoff_max    = 300;
	cfg.check_interval = CHECK_INT;

	for (i = 0; i < b->nladders; i++) {
		struct bladder *l = &b->ladv[i];

		l->b = b;
		l->cur_tier = -1;
		err = sr_engine_alloc(&l->eng, &cfg, action_h, rand_h, l);
		if (err)
			return err;
	}

	before = heap_used();

	for (i = 0; i < n; i++) {
		struct bacc *a = &b->accv[i];

		/* consecutive accounts per ladder, round robin over the
		   tiers; probe every 60, 120, 180 s */
		a->ladder = i / b->per_ladder;
		a->tier = i % NTIERS;
		err = sr_account_add(b->ladv[a->ladder].eng, &a->sra, a,
				     a->tier, 60 * (1 + i % 3), 0, b->now);
		if (err)
			return err;
	}

	if (bytes_acc)
		*bytes_acc = (heap_used() - before) / n;

	for (i = 0; i < b->nladders; i++)
		sr_engine_start(b->ladv[i].eng, b->now);

	return 0;
}


static void teardown(struct bench *b)
{
	unsigned i;

	for (i = 0; b->accv && i < b->n; i++)
		mem_deref(b->accv[i].sra);

	for (i = 0; b->ladv && i < b->nladders; i++)
		mem_deref(b->ladv[i].eng);

	free(b->accv);
	free(b->ladv);
	bheap_close(&b->heap);
	b->accv = NULL;
	b->ladv = NULL;
}


/*
 * Record pass
 */

static void feed(struct bench *b, enum ev_kind kind, uint32_t idx,
		 uint16_t scode)
{
	struct sr_answer ans = {0, 0, 0, SR_FLOW_DGRAM, SR_BINDING_UNKNOWN};
	uint64_t nact0 = b->nact;
	struct tev *t;

	if (b->ntrace == b->sztrace)
		b->trace = grow(b->trace, &b->sztrace, sizeof(*b->trace));

	t = &b->trace[b->ntrace++];
	t->now   = b->now;
	t->idx   = idx;
	t->kind  = kind;
	t->scode = scode;

	++b->nev_kind[kind];

	if (scode)
		ans.scode = scode;
	else
		ans.err = ETIMEDOUT;

	switch (kind) {

	case EV_ACC_TIMER:
		sr_account_timer(b->accv[idx].sra, b->now);
		break;

	case EV_ENG_TIMER:
		sr_engine_timer(b->ladv[idx].eng, b->now);
		break;

	case EV_PROBED:
		sr_account_answer(b->accv[idx].sra, &ans, b->now);
		break;

	case EV_CHECKED:
		sr_account_answer(b->accv[idx].sra, &ans, b->now);
		break;

	case EV_REGISTERED:
		sr_account_registered(b->accv[idx].sra, scode, b->now);
		break;

	case EV_REG_FAILED:
		sr_account_reg_failed(b->accv[idx].sra, &ans, b->now);
		break;

	case EV_CALLS:
		sr_account_calls(b->accv[idx].sra, scode, b->now);
		break;

	default:
		break;
	}

	b->maxact = max(b->maxact, b->nact - nact0);
}


/* Maybe a call on a random account of the tier in use; the next try */
static void call(struct bench *b)
{
	uint32_t per_tier = (b->n + NTIERS - 1) / NTIERS;
	uint32_t idx, first;
	int tier;

	/* one call per account of the tier every CALL_GAP on average */
	push(b, (CALL_GAP / per_tier) * (500 + wrand(b) % 1001) / 1000,
	     WK_CALL, 0, 0);

	if (!b->calls)
		return;

	/* an account of the tier in use of the ladder it falls in */
	first = NTIERS * (wrand(b) % per_tier);
	tier = b->ladv[first / b->per_ladder].cur_tier;
	if (tier < 0)
		return;

	idx = first + (uint32_t)tier;
	if (idx >= b->n || b->accv[idx].incall)
		return;

	b->accv[idx].incall = true;
	++b->ncalls;
	feed(b, EV_CALLS, idx, 1);
	push(b, 30000 + wrand(b) % 60001, WK_CALL_END, idx, 0);
}


static void run_world(struct bench *b, uint64_t until)
{
	while (b->heap.n &&
	       ((const struct work *)(void *)b->heap.v)->due <= until) {
		struct work w;
		struct bacc *a;
		bool up;

		bheap_pop(&b->heap, &w);
		a = &b->accv[w.kind == WK_ROUND ? 0 : w.idx];
		up = b->up[a->tier];
		b->now = w.due;

		switch (w.kind) {

		case WK_TIMER:
			if (w.gen == a->tgen)
				feed(b, EV_ACC_TIMER, w.idx, 0);
			break;

		case WK_ROUND:
			if (w.gen == b->ladv[w.idx].rgen)
				feed(b, EV_ENG_TIMER, w.idx, 0);
			break;

		case WK_PROBE:
		case WK_CHECK:
			if (w.gen != a->pgen)
				break;
			feed(b, w.kind == WK_PROBE ? EV_PROBED : EV_CHECKED,
			     w.idx, up ? 200 : 0);
			break;

		case WK_REG:
		case WK_REFRESH:
			if (w.gen != a->rgen)
				break;
			if (!up) {
				feed(b, EV_REG_FAILED, w.idx, 0);
				break;
			}
			/* the refresh is sent now: answered after RTT */
			if (w.kind == WK_REFRESH) {
				push(b, RTT, WK_REG, w.idx, w.gen);
				break;
			}
			feed(b, EV_REGISTERED, w.idx, 200);
			push(b, REGINT * 900, WK_REFRESH, w.idx, a->rgen);
			break;

		case WK_CALL:
			call(b);
			break;

		case WK_CALL_END:
			a->incall = false;
			feed(b, EV_CALLS, w.idx, 0);
			break;
		}
	}

	b->now = until;
}


static int record(struct bench *b, const struct size *sz)
{
	unsigned n = sz->n;
	uint64_t t0;
	int err;

	err = setup(b, sz, true, NULL);
	if (err)
		return err;

	t0 = b->now;
	b->wseed = 0x9e3779b9;
	b->calls = true;
	call(b);

	/* steady on tier 0; its registrars go silent: failover */
	run_world(b, t0 + PHASE);
	b->up[0] = false;
	run_world(b, t0 + 2 * PHASE);
	if (!all_on(b, 1)) {
		fprintf(stderr, "scale: %u accounts: a ladder is not on "
			"tier 1 after the failover\n", n);
		return EPROTO;
	}

	/* tier 0 answers again: failback, once the calls are over */
	b->up[0] = true;
	run_world(b, t0 + 2 * PHASE + PHASE / 3);
	b->calls = false;
	run_world(b, t0 + 3 * PHASE);
	if (!all_on(b, 0)) {
		fprintf(stderr, "scale: %u accounts: a ladder is not on "
			"tier 0 after the failback\n", n);
		return EPROTO;
	}

	return 0;
}


/*
 * Replay pass: the measured part
 */

__attribute__((noinline))
void replay_events(struct bench *b, const struct tev *tv, size_t n);
__attribute__((noinline))
void replay_events(struct bench *b, const struct tev *tv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct tev *t = &tv[i];
		struct sr_account *sra = b->accv[t->idx].sra;
		struct sr_answer ans = {0, 0, 0, SR_FLOW_DGRAM, SR_BINDING_UNKNOWN};

		if (t->scode)
			ans.scode = t->scode;
		else
			ans.err = ETIMEDOUT;

		switch (t->kind) {

		case EV_ACC_TIMER:
			sr_account_timer(sra, t->now);
			break;

		case EV_ENG_TIMER:
			sr_engine_timer(b->ladv[t->idx].eng, t->now);
			break;

		case EV_PROBED:
			sr_account_answer(sra, &ans, t->now);
			break;

		case EV_CHECKED:
			sr_account_answer(sra, &ans, t->now);
			break;

		case EV_REGISTERED:
			sr_account_registered(sra, t->scode, t->now);
			break;

		case EV_REG_FAILED:
			sr_account_reg_failed(sra, &ans, t->now);
			break;

		case EV_CALLS:
			sr_account_calls(sra, t->scode, t->now);
			break;
		}
	}
}


static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}


/** One replay of the trace; its action count must be the recorded one */
static int replay(const struct bench *rec, uint64_t *ns, size_t *bytes_acc)
{
	struct size sz = {rec->n, rec->nladders};
	struct bench b;
	uint64_t t0, nact0;
	int err;

	err = setup(&b, &sz, false, bytes_acc);
	if (err)
		return err;

	nact0 = b.nact;
	t0 = now_ns();
	replay_events(&b, rec->trace, rec->ntrace);
	*ns = now_ns() - t0;

	if (b.nact != rec->nact || b.moves != rec->moves) {
		fprintf(stderr, "scale: replay of %u accounts differs: %llu "
			"actions (%u moves), recorded %llu (%u)\n", rec->n,
			(unsigned long long)b.nact, b.moves,
			(unsigned long long)rec->nact, rec->moves);
		err = EPROTO;
	}

	(void)nact0;
	teardown(&b);

	return err;
}


/** Result of one size */
struct row {
	unsigned n;
	unsigned nladders;
	size_t events;
	uint64_t actions;
	unsigned moves;
	uint64_t maxact;
	uint64_t ncalls;
	char moves_at[128];
	double ns_ev;
	double instr_ev;         /**< < 0: not measured              */
	size_t bytes_acc;
	uint64_t nev_kind[EV_KIND_COUNT];
};


static int measure(const struct size *sz, bool once, struct row *row)
{
	struct bench rec;
	uint64_t best = ~0ULL;
	unsigned i;
	int err;

	err = record(&rec, sz);
	if (err)
		goto out;

	memset(row, 0, sizeof(*row));
	row->n = sz->n;
	row->nladders = sz->nladders;
	row->events = rec.ntrace;
	row->actions = rec.nact;
	row->moves = rec.moves;
	row->maxact = rec.maxact;
	row->ncalls = rec.ncalls;
	for (i = 0; i < min(rec.moves, (unsigned)ARRAY_SIZE(rec.move_at));
	     i++) {
		size_t l = strlen(row->moves_at);

		snprintf(row->moves_at + l, sizeof(row->moves_at) - l,
			 "%s%.1f min", i ? ", " : "",
			 (double)rec.move_at[i] / 60000.0);
	}
	row->instr_ev = -1;
	memcpy(row->nev_kind, rec.nev_kind, sizeof(row->nev_kind));

	for (i = 0; i < (once ? 1 : NREPEAT); i++) {
		uint64_t ns;

		err = replay(&rec, &ns, &row->bytes_acc);
		if (err)
			goto out;

		best = min(best, ns);
	}

	row->ns_ev = (double)best / (double)rec.ntrace;

 out:
	teardown(&rec);
	free(rec.trace);

	return err;
}


/* Instructions in replay_events() for a case, from callgrind */
static int callgrind(const char *self, const struct size *sz,
		     struct row *row)
{
	char cmd[1024], out[256], line[512];
	unsigned long long ir = 0;
	FILE *f;
	int r;

	snprintf(out, sizeof(out), "build/bench/callgrind.scale.%u.%u",
		 sz->n, sz->nladders);
	snprintf(cmd, sizeof(cmd),
		 "valgrind --tool=callgrind --collect-atstart=no "
		 "--toggle-collect=replay_events --callgrind-out-file=%s "
		 "%s -n %u -l %u -r >/dev/null "
		 "2>build/bench/callgrind.%u.%u.log",
		 out, self, sz->n, sz->nladders, sz->n, sz->nladders);

	r = system(cmd);
	if (r != 0) {
		fprintf(stderr, "scale: callgrind failed (%d): see "
			"build/bench/callgrind.%u.%u.log\n", r, sz->n,
			sz->nladders);
		return EPROTO;
	}

	f = fopen(out, "r");
	if (!f)
		return errno;

	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "totals:", 7) ||
		    !strncmp(line, "summary:", 8))
			ir = strtoull(strchr(line, ':') + 1, NULL, 10);
	}

	fclose(f);

	if (!ir)
		return EPROTO;

	row->instr_ev = (double)ir / (double)row->events;

	return 0;
}


static void print_row(const struct row *r, const struct row *base)
{
	char instr[32] = "-", ratio[32] = "-";

	if (r->instr_ev >= 0)
		snprintf(instr, sizeof(instr), "%.0f", r->instr_ev);

	if (r->instr_ev >= 0 && base->instr_ev > 0)
		snprintf(ratio, sizeof(ratio), "%.2f",
			 r->instr_ev / base->instr_ev);

	printf("| %8u | %7u | %5u | %9zu | %9llu | %5u | %7llu | %11s "
	       "| %8.1f | %13zu | %11s |\n", r->n, r->nladders, NTIERS,
	       r->events,
	       (unsigned long long)r->actions, r->moves,
	       (unsigned long long)r->maxact, instr, r->ns_ev,
	       r->bytes_acc, ratio);
}


int main(int argc, char *argv[])
{
	struct row rows[ARRAY_SIZE(sizes)];
	struct size one = {0, 1};
	unsigned i, k;
	bool once = false, cg = true;
	int c, err = 0;

	while ((c = getopt(argc, argv, "n:l:rN")) != -1) {
		switch (c) {

		case 'n': one.n = (unsigned)atoi(optarg);        break;
		case 'l': one.nladders = (unsigned)atoi(optarg); break;
		case 'r': once = true;                           break;
		case 'N': cg = false;                            break;
		default:
			fprintf(stderr, "usage: scale [-n accounts [-l "
				"ladders] [-r]] [-N (no callgrind)]\n");
			return 2;
		}
	}

	(void)libre_init();

	if (one.n) {
		struct row r;

		err = measure(&one, once, &r);
		if (!err)
			printf("%u accounts in %u ladders: %zu events, %llu "
			       "actions, %u moves (at %s), %llu calls, %.1f "
			       "ns/event, %zu bytes/account\n",
			       one.n, one.nladders, r.events,
			       (unsigned long long)r.actions,
			       r.moves, r.moves_at,
			       (unsigned long long)r.ncalls, r.ns_ev,
			       r.bytes_acc);
		goto out;
	}

	if (cg && system("valgrind --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "scale: no valgrind: no instruction counts\n");
		cg = false;
	}

	(void)mkdir("build", 0755);
	(void)mkdir("build/bench", 0755);

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		err = measure(&sizes[i], false, &rows[i]);
		if (!err && cg)
			err = callgrind(argv[0], &sizes[i], &rows[i]);
		if (err)
			goto out;
	}

	printf("| accounts | ladders | tiers |    events |   actions | moves "
	       "| max act | instr/event | ns/event | bytes/account "
	       "| ratio vs 10 |\n");
	printf("|---------:|--------:|------:|----------:|----------:|------:"
	       "|--------:|------------:|---------:|--------------:"
	       "|------------:|\n");
	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		print_row(&rows[i], &rows[0]);

	printf("\nevents by kind:");
	for (k = 0; k < EV_KIND_COUNT; k++)
		printf(" %s", ev_names[k]);
	printf("\n");
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		printf("  %5u/%u:", rows[i].n, rows[i].nladders);
		for (k = 0; k < EV_KIND_COUNT; k++)
			printf(" %llu",
			       (unsigned long long)rows[i].nev_kind[k]);
		printf("\n");
	}

	if (cg && rows[0].instr_ev > 0) {
		const struct row *big = &rows[ARRAY_SIZE(sizes) - 2];
		const struct row *lad = &rows[ARRAY_SIZE(sizes) - 1];
		double ratio = big->instr_ev / rows[0].instr_ev;

		printf("\nR50: instr/event at %u accounts is %.2fx the %u "
		       "account case (bar: 2x): %s\n", big->n, ratio,
		       rows[0].n, ratio <= 2.0 ? "within" : "NOT within");

		ratio = lad->instr_ev / rows[0].instr_ev;
		printf("ladders: instr/event with %u ladders of %u accounts "
		       "is %.2fx the %u account case (bar: 2x): %s\n",
		       lad->nladders, lad->n / lad->nladders, ratio,
		       rows[0].n, ratio <= 2.0 ? "within" : "NOT within");
	}

 out:
	libre_close();

	if (err)
		fprintf(stderr, "scale: %s\n", strerror(err));

	return err ? 1 : 0;
}
