/**
 * @file serreg_engine.h  Policy engine of serial fallback registration
 *
 * The engine decides which tier is registered, which accounts probe their
 * registrar and when to move.  It is pure: events come in as function calls
 * with the current time, decisions go out as actions through one handler.
 * It makes no baresip call, no network call and reads no clock, so unit
 * tests drive it with virtual time.
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
	uint32_t backoff_base;   /**< first wait after a failed round      */
	uint32_t backoff_max;    /**< cap of the wait between rounds       */
	uint32_t check_interval; /**< liveness check of the tier in use, 0 = off */
};


/** State of one account, as shown to the user */
enum sr_acc_state {
	SR_ACC_UNKNOWN = 0,   /**< standby, nothing known              */
	SR_ACC_ALIVE,         /**< standby, last probe answered 2xx    */
	SR_ACC_DEAD,          /**< standby, last probe/register failed */
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
	SR_REASON_ALIVE,         /**< a probe found a live tier while waiting */
	SR_REASON_ALL_FAILED,    /**< no tier works: waiting                */
};


/** An answer from a registrar: err (errno) or a SIP status code */
struct sr_answer {
	int err;               /**< transport error or ETIMEDOUT, else 0 */
	uint16_t scode;        /**< SIP status code when err is 0        */
	uint32_t retry_after;  /**< [s] from a Retry-After header, 0 = none */
};


/** What the engine asks the glue to do */
enum sr_action_kind {
	SR_ACT_REGISTER = 0,  /**< register the account (make it active)   */
	SR_ACT_UNREGISTER,    /**< take it off its registrar, no refresh    */
	SR_ACT_PROBE,         /**< send one probe now                       */
	SR_ACT_CHECK,         /**< check a registered account's registrar   */
	SR_ACT_PROBE_CANCEL,  /**< drop the probe in flight, if any         */
	SR_ACT_TIMER,         /**< (re)arm the account's timer: delay ms    */
	SR_ACT_TIMER_CANCEL,  /**< cancel the account's timer               */
	SR_ACT_ROUND_TIMER,   /**< (re)arm the engine's timer: delay ms     */
	SR_ACT_ROUND_CANCEL,  /**< cancel the engine's timer                */
	SR_ACT_CURRENT,       /**< make the account baresip's current UA    */
	SR_ACT_MOVE,          /**< the tier in use changed (log, event)     */
};

/** One action; acc and ref are NULL for engine-wide actions */
struct sr_action {
	enum sr_action_kind kind;
	struct sr_account *acc;
	void *ref;              /**< the glue object of the account     */
	uint64_t delay;         /**< [ms], timers only                   */
	int from;               /**< MOVE: previous tier, -1 for none    */
	int to;                 /**< MOVE: new tier, -1 for none         */
	enum sr_reason reason;  /**< MOVE                                */
	struct sr_answer ans;   /**< MOVE: the answer behind it, if any  */
	bool options;           /**< PROBE: ask with the check's OPTIONS */
};

typedef void (sr_action_h)(const struct sr_action *act, void *arg);

/** Uniform random 32-bit number (injected so tests are reproducible) */
typedef uint32_t (sr_rand_h)(void *arg);


/* Engine */
int  sr_engine_alloc(struct sr_engine **engp, const struct sr_config *cfg,
		     sr_action_h *acth, sr_rand_h *randh, void *arg);
void sr_engine_start(struct sr_engine *eng, uint64_t now);
void sr_engine_timer(struct sr_engine *eng, uint64_t now);
void sr_engine_set_config(struct sr_engine *eng, const struct sr_config *cfg);

/* Accounts */
int  sr_account_add(struct sr_engine *eng, struct sr_account **accp,
		    void *ref, uint32_t prio, uint32_t fbregint,
		    uint64_t now);
void sr_account_remove(struct sr_account *acc, uint64_t now);
void sr_account_registered(struct sr_account *acc, uint16_t scode,
			   uint64_t now);
void sr_account_reg_failed(struct sr_account *acc,
			   const struct sr_answer *ans, uint64_t now);
void sr_account_probed(struct sr_account *acc, const struct sr_answer *ans,
		       uint64_t now);
void sr_account_checked(struct sr_account *acc, const struct sr_answer *ans,
			uint64_t now);
void sr_account_calls(struct sr_account *acc, uint32_t ncalls,
		      uint64_t now);
void sr_account_timer(struct sr_account *acc, uint64_t now);

/* Queries */
typedef bool (sr_account_apply_h)(const struct sr_account *acc, void *arg);
const struct sr_account *sr_engine_apply(const struct sr_engine *eng,
					 sr_account_apply_h *h, void *arg);
enum sr_state sr_engine_state(const struct sr_engine *eng);
int  sr_engine_current_tier(const struct sr_engine *eng);
int  sr_engine_target_tier(const struct sr_engine *eng);
uint32_t sr_engine_naccounts(const struct sr_engine *eng);
uint64_t sr_engine_backoff_until(const struct sr_engine *eng);
enum sr_reason sr_engine_last_reason(const struct sr_engine *eng);
uint64_t sr_engine_last_move(const struct sr_engine *eng);
bool sr_engine_failback_held(const struct sr_engine *eng);
bool sr_account_active(const struct sr_account *acc);
enum sr_acc_state sr_account_state(const struct sr_account *acc);
uint32_t sr_account_prio(const struct sr_account *acc);
uint32_t sr_account_fbregint(const struct sr_account *acc);
const struct sr_answer *sr_account_last(const struct sr_account *acc,
					uint64_t *when);
void *sr_account_ref(const struct sr_account *acc);

const char *sr_state_name(enum sr_state st);
const char *sr_acc_state_name(enum sr_acc_state st);
const char *sr_reason_name(enum sr_reason r);
const char *sr_reason_token(enum sr_reason r);

#endif
