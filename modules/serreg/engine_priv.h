/**
 * @file engine_priv.h  Policy engine: what its files share
 *
 * The engine's structures and the functions that one of its files calls
 * in another (engine.c, engine_tier.c, engine_acc.c, engine_srv.c,
 * engine_gen.c, engine_flow.c); a function used in one file only stays
 * static there.  Not for the glue nor the tests: they see engine.h only.
 * Include it after <re.h> and engine.h.
 *
 * The functions declared here are global in the engine's objects, but
 * not exported from serreg.so: the module is built with
 * -fvisibility=hidden (MOD_CFLAGS, mk/serreg.mk).
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_ENGINE_PRIV_H
#define SERREG_ENGINE_PRIV_H


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


/** Where the late requests of a retired reg client go first
 *  (sr_account.unreg_srv), if not to one server of the account's set
 *  (engine_gen.c) */
enum {
	LATE_REGISTRAR = -1,  /**< its registrar (no set)               */
	LATE_MIXED     = -2,  /**< late requests of several routes      */
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
	bool spent;               /**< failed while registered: not the
				       hot standby again until one of its
				       accounts answers well, or
				       a new round begins                */
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
	struct sr_tier *hot;      /**< hot standby: the next live tier
				       below, registered too (concurrent
				       mode), NULL when none             */
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
	EV_PROBED_ALIVE,   /**< a probed registrar answered, waiting    */
	EV_ADDED_BETTER,   /**< an account of a better tier was added   */
	EV_EMPTY,          /**< the last account was removed            */
	EV_CALLS_ENDED,    /**< the last call on the tier in use ended  */
	EV_HOT_FAILED,     /**< every account of the hot standby failed */

	EV_COUNT
};

/** Context of one engine event */
struct sr_ctx {
	struct sr_tier *tier;        /**< the tier the event is about  */
	struct sr_account *acc;      /**< the account, if any          */
	enum sr_reason reason;
	const struct sr_answer *ans; /**< the answer behind it, if any */
	uint64_t now;
};


/*
 * Small helpers
 */

static inline bool is_probing(const struct sr_account *acc)
{
	return acc->fbregint > 0;
}


static inline bool tier_is_active(const struct sr_engine *eng,
				  const struct sr_tier *t)
{
	return t && (t == eng->cur || t == eng->target || t == eng->hot);
}


/* the server its requests go to: the pinned one, else the first */
static inline unsigned srv_use(const struct sr_account *acc)
{
	return acc->pin >= 0 ? (unsigned)acc->pin : 0;
}


static inline bool has_set(const struct sr_account *acc)
{
	return acc->nsrv > 1;
}


/*
 * The functions of each file that the others call
 */

/* engine.c: actions, traces, the state machine */
void emit_server(struct sr_account *acc, enum sr_action_kind kind,
		 enum sr_request req, int server,
		 const struct sr_answer *ans);
void emit(struct sr_engine *eng, enum sr_action_kind kind,
	  struct sr_account *acc, uint64_t delay);
void emit_flow(struct sr_engine *eng, struct sr_account *acc,
	       unsigned flow);
void emit_hot(struct sr_engine *eng, const struct sr_tier *from,
	      const struct sr_tier *to);
void trace(struct sr_engine *eng, const struct sr_account *acc,
	   int from, int to);
uint64_t jitter(struct sr_engine *eng, uint64_t val, uint32_t lo);
void fire(struct sr_engine *eng, enum sr_event ev,
	  const struct sr_ctx *ctx);
void fire_acc(struct sr_account *acc, enum sr_event ev,
	      enum sr_reason reason, const struct sr_answer *ans,
	      uint64_t now);
void event_begin(struct sr_engine *eng, const char *cause,
		 uint64_t now);
void event_end(struct sr_engine *eng);

/* engine_tier.c: tiers and roles */
void tier_activate(struct sr_engine *eng, struct sr_tier *t);
void tier_park(struct sr_tier *t, bool failed, uint64_t now);
struct sr_account *tier_registered_acc(const struct sr_tier *t);
struct sr_tier *tier_choose(const struct sr_engine *eng,
			    const struct sr_tier *from);
struct sr_tier *tier_better_ready(const struct sr_engine *eng);
enum sr_event tier_failed_event(const struct sr_engine *eng,
				const struct sr_tier *t);
struct sr_tier *hot_choose(const struct sr_engine *eng);
void hot_set(struct sr_engine *eng, struct sr_tier *t, bool failed,
	     bool activate);
void hot_update(struct sr_engine *eng);
void current_update(struct sr_engine *eng);

/* engine_acc.c: the account machine */
void acc_set_state(struct sr_account *acc, enum sr_acc_state st);
void acc_answer_set(struct sr_account *acc,
		    const struct sr_answer *ans, bool ok, uint64_t now);
void acc_request_to(struct sr_account *acc, enum sr_request req,
		    int server);
void acc_request(struct sr_account *acc, enum sr_request req);
void acc_request_cancel(struct sr_account *acc);
void acc_schedule_probe(struct sr_account *acc, uint64_t delay);
bool check_passed(const struct sr_answer *ans);
void acc_schedule_check(struct sr_account *acc, uint64_t now);
uint64_t probe_interval(struct sr_account *acc,
			const struct sr_answer *ans);
void acc_failed(struct sr_account *acc, const struct sr_answer *ans,
		uint64_t now);

/* engine_srv.c: server sets */
int srv_next(const struct sr_account *acc, uint64_t now);
void srv_alive(struct sr_account *acc, unsigned i,
	       const struct sr_answer *ans);
void srv_dead(struct sr_account *acc, unsigned i,
	      const struct sr_answer *ans, uint64_t now);
bool srv_of_req(const struct sr_account *acc);
int srv_best(const struct sr_account *acc);
void acc_pin_best(struct sr_account *acc);
void acc_probe(struct sr_account *acc, enum sr_request req,
	       uint64_t now);
bool acc_server_failed(struct sr_account *acc, unsigned i,
		       const struct sr_answer *ans, uint64_t now);
void acc_hunt_from_use(struct sr_account *acc, uint64_t now);
bool acc_probe_better(struct sr_account *acc, uint64_t now);
void acc_server_answered(struct sr_account *acc,
			 const struct sr_answer *ans, uint64_t now);

/* engine_gen.c: reg-client generations, late requests */
uint64_t timer_f(const struct sr_engine *eng);
void late_add(struct sr_account *acc, int route, uint64_t start,
	      uint64_t until, uint64_t now);
bool late_reaches(const struct sr_account *acc, int srv,
		  uint64_t now);
void gen_build(struct sr_account *acc, bool ours);
void gen_retire(struct sr_account *acc, uint64_t now);
void gen_hold(struct sr_account *acc, uint64_t now);
void late_answered(struct sr_account *acc, int srv, uint64_t now);

/* engine_flow.c: flows and the watch */
void acc_unwatch(struct sr_account *acc);
void acc_watch_update(struct sr_account *acc);
void acc_recover_at(struct sr_account *acc, uint64_t due,
		    uint64_t now);
void acc_recover(struct sr_account *acc, uint64_t now);


#endif
