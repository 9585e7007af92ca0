/**
 * @file sim.h  A virtual-time world for the policy engine
 *
 * The simulator plays baresip and the registrars: it executes the engine's
 * actions (timers, REGISTERs, probes) against registrars that are up,
 * down (silent) or answering a fixed code, on a virtual clock.  Tests
 * read what went on the wire from per-account counters.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_SIM_H
#define SERREG_SIM_H

#include <re.h>
#include "engine.h"

enum {
	SIM_ACCOUNTS  = 64,
	SIM_EVENTS    = 256,
	SIM_RTT       = 20,     /* [ms] answer time of a live registrar */
	SIM_TIMEOUT   = 5000,   /* [ms] probe timeout                  */
	SIM_REG_TMO   = 32000,  /* [ms] REGISTER timeout (Timer F)     */
	SIM_T1        = 500,    /* [ms] retransmissions over UDP ...   */
	SIM_T2        = 4000,   /* [ms] ... T1 doubling up to T2       */
};

/** One account and its registrar */
struct sim_acc {
	struct sr_account *sra;
	uint32_t prio;
	uint32_t fbregint;
	bool used;

	/* registrar */
	uint16_t code;          /**< answer: 200, 503..; 0 = silent   */
	uint32_t retry_after;   /**< with the answer                   */
	uint16_t reg_code;      /**< answer to REGISTER, if not code   */
	uint16_t options_code;  /**< answer to OPTIONS, if not code    */
	enum sr_flow flow;      /**< transport of its answers          */

	/* its registrar as a server set (nsrv > 1): each server answers
	   srv_code; baresip's REGISTERs go to the pinned one, or, as
	   libre, to each in turn (Timer F on a silent one) */
	unsigned nsrv;
	uint16_t srv_code[SR_SERVERS_MAX];
	int pin;                /**< last PIN, -1 none                 */
	int built;              /**< PIN its reg client was built with */
	unsigned npin;          /**< PIN actions                       */
	int bound_srv;          /**< server holding the binding        */
	unsigned nsrvreq[SR_SERVERS_MAX]; /**< requests to each server */

	/* wire */
	bool bound;             /**< a binding exists at the registrar */
	unsigned nregister;     /**< REGISTER expires>0 sent           */
	unsigned nunregister;   /**< UNREGISTER actions                */
	unsigned nprobe;        /**< probes sent                       */
	unsigned ncheck;        /**< liveness checks sent              */
	unsigned noptions;      /**< probes sent as OPTIONS            */
	unsigned nflow;         /**< flow requests (OPTIONS) sent      */
	unsigned ngate;         /**< TLS gates (OPTIONS) sent          */
	unsigned nrepair;       /**< repair REGISTERs sent             */
	unsigned nquery;        /**< binding queries sent              */
	unsigned nhold;         /**< HOLD actions                      */
	unsigned nrecover;      /**< flow recoveries (RECOVER)         */
	unsigned nroute;        /**< ROUTE actions ...                 */
	int route;              /**< ... the last one's flow           */
	unsigned nno_outbound;  /**< NO_OUTBOUND actions               */
	unsigned nlate_unbind;  /**< bindings a late un-REGISTER removed */
	uint64_t unreg_end;     /**< an un-REGISTER retransmits until  */
	bool watched;           /**< WATCH without UNWATCH             */
	uint64_t probe_at[256]; /**< when each probe was sent          */

	/* glue */
	bool timer;
	uint64_t timer_at;
	bool probing;           /**< a probe is in flight              */
	bool registering;       /**< a REGISTER is in flight           */
};

/** A pending answer from a registrar */
struct sim_event {
	bool used;
	uint64_t due;
	int idx;
	bool probe;             /**< else a REGISTER answer           */
	bool check;             /**< a check's answer                  */
	bool options;           /**< an OPTIONS answer (check or probe) */
	bool repair;            /**< a repair REGISTER's answer        */
	bool query;             /**< a binding query's answer          */
	bool registering;       /**< baresip's REGISTERING of a reg
				     client it builds for an action     */
	bool unreg;             /**< an un-REGISTER retransmission     */
	bool late;              /**< the un-REGISTER a replaced reg
				     client sends after its answer     */
	uint64_t rto;           /**< its retransmission interval       */
	unsigned gen;           /**< cancelled if it changed          */
	int server;             /**< server of a set it went to, -1   */
};

struct sim {
	struct sr_engine *eng;
	struct sr_config cfg;
	uint64_t now;
	uint32_t seed;
	struct sim_acc accv[SIM_ACCOUNTS];
	unsigned gen[SIM_ACCOUNTS];
	struct sim_event evv[SIM_EVENTS];

	bool round;
	uint64_t round_at;
	unsigned nrounds;        /**< round timers armed               */

	int current;             /**< index of baresip's current UA    */
	unsigned nmoves;
	int move_from, move_to;
	enum sr_reason move_reason;
	struct sr_answer move_ans; /**< the answer behind the last move */
	unsigned nhot;           /**< HOT_STANDBY actions ...          */
	int hot;                 /**< ... the last one's tier, -1 none */
	unsigned nactions;
};

int  sim_init(struct sim *s, uint32_t hold, uint32_t backoff_max);
void sim_close(struct sim *s);
int  sim_add(struct sim *s, uint32_t prio, uint32_t fbregint);
int  sim_add_flags(struct sim *s, uint32_t prio, uint32_t fbregint,
		   unsigned flags);
void sim_remove(struct sim *s, int idx);
void sim_start(struct sim *s);
void sim_set_check(struct sim *s, uint32_t interval);
void sim_set_concurrent(struct sim *s, bool on);
void sim_run(struct sim *s, uint64_t ms);
bool sim_run_until(struct sim *s, uint64_t ms,
		   bool (*pred)(const struct sim *s, int arg), int arg);
void sim_set(struct sim *s, int idx, uint16_t code, uint32_t retry_after);
void sim_refresh_fails(struct sim *s, int idx);
void sim_fail(struct sim *s, int idx, uint16_t code);
unsigned sim_registers(const struct sim *s, uint32_t prio);
void sim_servers(struct sim *s, int idx, unsigned n, uint32_t key0);
void sim_set_server(struct sim *s, int idx, unsigned i, uint16_t code);
unsigned sim_bound_tier(const struct sim *s, int *prio);


/* Define test `name` running `name_body` in a fresh world */
#define SIM_TEST(name, hold, bmax)					\
	static int name##_body(struct sim *s);				\
	int name(void)							\
	{								\
		struct sim s;						\
		int err = sim_init(&s, hold, bmax);			\
		if (err)						\
			return err;					\
		err = name##_body(&s);					\
		sim_close(&s);						\
		return err;						\
	}								\
	static int name##_body(struct sim *s)

#endif
