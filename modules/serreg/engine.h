/**
 * @file engine.h  Policy engine of serial fallback registration
 *
 * The engine takes every decision of serreg: which tier is registered,
 * which account may register, which one is baresip's current UA, which
 * request goes out for what, when to check, watch, probe and move.  It
 * is pure: events come in as function calls with the current time,
 * decisions go out as actions through one handler.  It makes no baresip
 * call, no network call and reads no clock, so unit tests drive it with
 * virtual time.
 *
 * Actions may be emitted from inside any sr_* event function; the handler
 * must not call back into the engine synchronously (queue instead).
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_ENGINE_H
#define SERREG_ENGINE_H

struct sr_engine;
struct sr_account;


/** Engine settings (all times in seconds) */
struct sr_config {
	uint32_t failback_hold;  /**< good probes before moving back, >= 1 */
	uint32_t backoff_base;   /**< first wait after a failed round,
				      0 = SR_BACKOFF_BASE                  */
	uint32_t backoff_max;    /**< cap of the wait between rounds       */
	uint32_t check_interval; /**< check of the tier in use, 0 = off */
	uint32_t probe_timeout;  /**< deadline of a flow recovery's REGISTER,
				      as of probes and checks, 0 = none   */
	uint32_t failback_spread;/**< after the hold, wait uniform 0..this
				      (R52), 0 = off                       */
	uint32_t server_retry;   /**< a failed server of a set is skipped
				      this long (or its Retry-After),
				      0 = SR_SERVER_RETRY                  */
	/* the SIP stack's transaction timing [ms] (RFC 3261 17.1.2.2:
	   retransmissions T1 doubling up to T2, Timer F = 64 T1): how
	   long a request libre cannot stop goes on; 0 = RFC 3261's */
	uint32_t t1;             /**< RTT estimate, 0 = SR_T1            */
	uint32_t t2;             /**< longest retransmit interval, 0 = SR_T2 */
	bool concurrent;         /**< keep the next live tier registered
				      too: the hot standby (concurrent
				      registration)                      */
};

enum {
	SR_BACKOFF_BASE = 30,    /**< [s] first wait, failed round (R4) */
	SR_T1 = 500,             /**< [ms] RFC 3261's T1                */
	SR_T2 = 4000,            /**< [ms] RFC 3261's T2                */

	/**
	 * [s] how long an un-REGISTER sent to a registrar that stopped
	 * answering may live on: a non-INVITE transaction ends at Timer F,
	 * 64 x T1 = 32 s (RFC 3261 17.1.2.2), plus a margin for the answer
	 */
	SR_UNREG_LINGER = 32 + 2,

	/** [s] least time between two flow recoveries of an account: a
	    registrar that drops every connection at once is not flooded */
	SR_RECOVER_GAP = 10,

	/** [s] RFC 5626 4.5: base and most of the wait before recovering
	    a flow again while another flow works, x 2^failures, 50-100 % */
	SR_FLOW_BASE = 90,
	SR_FLOW_MAX  = 1800,

	/** [s] how long a server of a set that failed is skipped */
	SR_SERVER_RETRY = 60,

	/** most servers of one account's set that are tracked */
	SR_SERVERS_MAX = 8,

	/**
	 * [s] the longest window of late requests of a retired reg
	 * client (with RFC 3261's T1): a REGISTER in flight then its
	 * un-REGISTER, each Timer F at each server of a set it may try in
	 * turn, plus a margin (engine_gen.c, gen_retire)
	 */
	SR_LATE_MAX = 2 * 32 * SR_SERVERS_MAX + 2,
};


/** Flags of an account, given when it is added */
enum sr_acc_flag {
	SR_ACC_F_GATE = 1 << 0,  /**< its registrar is verified (TLS)
				      before its first REGISTER          */
	SR_ACC_F_LIVE = 1 << 1,  /**< baresip registers it already (a UA
				      adopted after a late load)         */
	SR_ACC_F_OUTBOUND = 1 << 2, /**< RFC 5626 outbound: one flow per
				      outbound proxy (sipnat=outbound)   */
};


/** State of one account, as shown to the user */
enum sr_acc_state {
	SR_ACC_UNKNOWN = 0,   /**< standby, nothing known              */
	SR_ACC_ALIVE,         /**< standby, last answer was good       */
	SR_ACC_DEAD,          /**< standby, last answer was a failure  */
	SR_ACC_VERIFYING,     /**< chosen, its TLS registrar is being
				   verified before the REGISTER         */
	SR_ACC_REGISTERING,   /**< asked to register, no answer yet    */
	SR_ACC_REGISTERED,    /**< registered                          */
	SR_ACC_FAILED,        /**< in the tier in use, registration failed */

	SR_ACC_STATE_COUNT
};


/** State of the engine */
enum sr_state {
	SR_IDLE = 0,     /**< not started, or no account              */
	SR_TRYING,       /**< registering a tier, no success yet      */
	SR_REGISTERED,   /**< an account of the current tier is registered */
	SR_PROMOTING,    /**< registered, and registering a better tier */
	SR_WAITING,      /**< every tier failed: backoff before a round */

	SR_STATE_COUNT
};


/** Why the current tier changed */
enum sr_reason {
	SR_REASON_START = 0,     /**< first tier at start                   */
	SR_REASON_TIER_FAILED,   /**< every account of the tier failed      */
	SR_REASON_REMOVED,       /**< last working account of the tier gone */
	SR_REASON_FAILBACK,      /**< a better tier answered probes again   */
	SR_REASON_ADDED,         /**< an account of a better tier was added */
	SR_REASON_ROUND,         /**< new round after the backoff wait      */
	SR_REASON_ALIVE,         /**< a probe found a live tier, waiting */
	SR_REASON_ALL_FAILED,    /**< no tier works: waiting                */
};


/** State of one server of an account's set (RFC 3263) */
enum sr_srv_state {
	SR_SRV_UNKNOWN = 0,   /**< not asked yet                       */
	SR_SRV_ALIVE,         /**< its last answer was good            */
	SR_SRV_DEAD,          /**< failed: skipped until its retry time */
};


/** How an answer reached serreg */
enum sr_flow {
	SR_FLOW_UNKNOWN = 0,
	SR_FLOW_STREAM,       /**< TCP or TLS: a connection to watch   */
	SR_FLOW_DGRAM,        /**< UDP: nothing to watch               */
};


/** An answer from a registrar: err (errno) or a SIP status code */
/** A binding query's verdict: does the registrar hold the account's
 *  Contact (the Contact headers of its 2xx, RFC 3261 10.3 step 8) */
enum sr_binding {
	SR_BINDING_UNKNOWN = 0,  /**< no 2xx to a query              */
	SR_BINDING_HELD,         /**< the Contact is listed          */
	SR_BINDING_MISSING,      /**< it is not                      */
};

struct sr_answer {
	int err;               /**< transport error or ETIMEDOUT, else 0 */
	uint16_t scode;        /**< SIP status code when err is 0        */
	uint32_t retry_after;  /**< [s] from a Retry-After header, 0 = none */
	enum sr_flow flow;     /**< transport of the answer, if any      */
	enum sr_binding binding; /**< SR_REQ_QUERY: the verdict         */
};


/** What a request that serreg sends itself is for */
enum sr_request {
	SR_REQ_NONE = 0,
	SR_REQ_PROBE,         /**< REGISTER expires=0 of a standby account */
	SR_REQ_PROBE_CHECK,   /**< OPTIONS probe of an account that failed
				   its check (judged as the check)      */
	SR_REQ_CHECK,         /**< OPTIONS liveness check (R20)         */
	SR_REQ_FLOW,          /**< OPTIONS that finds the connection (R21) */
	SR_REQ_GATE,          /**< OPTIONS that verifies a TLS registrar
				   before the account's REGISTER        */
	SR_REQ_REPAIR,        /**< REGISTER that restores a binding a late
				   un-REGISTER may have removed         */
	SR_REQ_SERVER,        /**< OPTIONS to one server of the account's
				   set: a live one after a failure, or a
				   better one while pinned              */
	SR_REQ_QUERY,         /**< REGISTER without Contact (RFC 3261
				   10.2.3): does the server in use hold
				   the binding?  Before a repair        */

	SR_REQ_COUNT
};


/** What the engine asks the glue to do */
enum sr_action_kind {
	SR_ACT_REGISTER = 0,  /**< register the account (make it active)   */
	SR_ACT_UNREGISTER,    /**< take it off its registrar, no refresh    */
	SR_ACT_HOLD,          /**< inside its REGISTERING: no binding       */
	SR_ACT_RECOVER,       /**< register again on a new connection (its
				   flow died, RFC 5626 4.4.1)             */
	SR_ACT_ROUTE,         /**< new calls through flow `flow`'s proxy  */
	SR_ACT_NO_OUTBOUND,   /**< register again without outbound (every
				   first hop answered 439)                */
	SR_ACT_PIN,           /**< route its requests through server
				   `server` of its set (-1: as DNS orders
				   them); a RECOVER follows if needed     */
	SR_ACT_REQUEST,       /**< send request `req` now                   */
	SR_ACT_REQUEST_CANCEL,/**< drop the request in flight, if any       */
	SR_ACT_WATCH,         /**< watch the connection of its last answer  */
	SR_ACT_UNWATCH,       /**< stop watching its connection             */
	SR_ACT_TIMER,         /**< (re)arm the account's timer: delay ms    */
	SR_ACT_TIMER_CANCEL,  /**< cancel the account's timer               */
	SR_ACT_ROUND_TIMER,   /**< (re)arm the engine's timer: delay ms     */
	SR_ACT_ROUND_CANCEL,  /**< cancel the engine's timer                */
	SR_ACT_CURRENT,       /**< make the account baresip's current UA
				   (only from the engine that drives it) */
	SR_ACT_MOVE,          /**< the tier in use changed (log, event)     */
	SR_ACT_SERVER,        /**< server `server` of its set changed
				   state (log, event); ans: why          */
	SR_ACT_HOT_STANDBY,   /**< the hot standby tier changed from
				   `from` to `to` (log, event)          */

	SR_ACT_COUNT
};

/** One action; acc and ref are NULL for engine-wide actions */
struct sr_action {
	enum sr_action_kind kind;
	struct sr_account *acc;
	void *ref;              /**< the glue object of the account     */
	uint64_t delay;         /**< [ms], timers only                   */
	enum sr_request req;    /**< REQUEST: what it is for             */
	unsigned flow;          /**< ROUTE: index of the flow (0, 1)     */
	int server;             /**< REQUEST: server of the set it goes
				     to, PIN: server; -1 as baresip routes */
	int from;               /**< MOVE, HOT_STANDBY: previous tier, -1
				     for none                            */
	int to;                 /**< MOVE, HOT_STANDBY: new tier, -1 for
				     none                                */
	enum sr_reason reason;  /**< MOVE                                */
	struct sr_answer ans;   /**< MOVE, SERVER: the answer behind it  */
};

typedef void (sr_action_h)(const struct sr_action *act, void *arg);

/** Uniform random 32-bit number (injected so tests are reproducible) */
typedef uint32_t (sr_rand_h)(void *arg);

/** One state transition, engine (acc NULL) or account */
struct sr_trace {
	const struct sr_account *acc;  /**< NULL: the engine's state */
	int from;                      /**< enum sr_state / sr_acc_state */
	int to;
	const char *event;             /**< what caused it           */
};

typedef void (sr_trace_h)(const struct sr_trace *tr, void *arg);


/* Engine */
int  sr_engine_alloc(struct sr_engine **engp, const struct sr_config *cfg,
		     sr_action_h *acth, sr_rand_h *randh, void *arg);
void sr_engine_set_trace(struct sr_engine *eng, sr_trace_h *traceh);
void sr_engine_start(struct sr_engine *eng, uint64_t now);
void sr_engine_timer(struct sr_engine *eng, uint64_t now);
void sr_engine_set_config(struct sr_engine *eng, const struct sr_config *cfg);
void sr_engine_set_drives_current(struct sr_engine *eng, bool drives);

/* Accounts: the events */
int  sr_account_add(struct sr_engine *eng, struct sr_account **accp,
		    void *ref, uint32_t prio, uint32_t fbregint,
		    unsigned flags, uint64_t now);
void sr_account_remove(struct sr_account *acc, uint64_t now);
void sr_account_registering(struct sr_account *acc, uint64_t now);
void sr_account_reg_kept(struct sr_account *acc);
void sr_account_registered(struct sr_account *acc, uint16_t scode,
			   uint64_t now);
void sr_account_reg_failed(struct sr_account *acc,
			   const struct sr_answer *ans, uint64_t now);
void sr_account_answer(struct sr_account *acc, const struct sr_answer *ans,
		       uint64_t now);
void sr_account_flow_closed(struct sr_account *acc, int err, uint64_t now);
void sr_account_flows(struct sr_account *acc, unsigned okmask,
		      unsigned failmask, const struct sr_answer *ans,
		      uint64_t now);
void sr_account_calls(struct sr_account *acc, uint32_t ncalls,
		      uint64_t now);
void sr_account_timer(struct sr_account *acc, uint64_t now);
void sr_account_servers(struct sr_account *acc, unsigned n,
			const uint32_t *keys, uint64_t now);
void sr_account_call_placed(struct sr_account *acc, uint64_t now);
void sr_account_call_failed(struct sr_account *acc,
			    const struct sr_answer *ans, uint64_t now);

/* Queries */
typedef bool (sr_account_apply_h)(const struct sr_account *acc, void *arg);
const struct sr_account *sr_engine_apply(const struct sr_engine *eng,
					 sr_account_apply_h *h, void *arg);
enum sr_state sr_engine_state(const struct sr_engine *eng);
int  sr_engine_current_tier(const struct sr_engine *eng);
int  sr_engine_target_tier(const struct sr_engine *eng);
int  sr_engine_hot_tier(const struct sr_engine *eng);
const struct sr_account *sr_engine_current(const struct sr_engine *eng);
bool sr_engine_drives_current(const struct sr_engine *eng);
uint32_t sr_engine_naccounts(const struct sr_engine *eng);
uint64_t sr_engine_backoff_until(const struct sr_engine *eng);
enum sr_reason sr_engine_last_reason(const struct sr_engine *eng);
uint64_t sr_engine_last_move(const struct sr_engine *eng);
bool sr_engine_failback_held(const struct sr_engine *eng);
bool sr_account_active(const struct sr_account *acc);
bool sr_account_hot(const struct sr_account *acc);
bool sr_account_ready(const struct sr_account *acc);
enum sr_acc_state sr_account_state(const struct sr_account *acc);
enum sr_request sr_account_request(const struct sr_account *acc);
uint32_t sr_account_prio(const struct sr_account *acc);
uint32_t sr_account_fbregint(const struct sr_account *acc);
const struct sr_answer *sr_account_last(const struct sr_account *acc,
					uint64_t *when);
void *sr_account_ref(const struct sr_account *acc);
unsigned sr_account_nservers(const struct sr_account *acc);
int  sr_account_server(const struct sr_account *acc);
bool sr_account_pinned(const struct sr_account *acc);
enum sr_srv_state sr_account_server_state(const struct sr_account *acc,
					  unsigned i, uint64_t *retry_at);
struct sr_account *sr_engine_fallback(const struct sr_engine *eng);
struct sr_account *sr_account_fallback(const struct sr_account *acc);
struct sr_engine *sr_account_engine(const struct sr_account *acc);

const char *sr_state_name(enum sr_state st);
const char *sr_acc_state_name(enum sr_acc_state st);
const char *sr_reason_name(enum sr_reason r);
const char *sr_reason_token(enum sr_reason r);
const char *sr_request_name(enum sr_request req);
const char *sr_action_name(enum sr_action_kind kind);
const char *sr_srv_state_name(enum sr_srv_state st);

#endif
