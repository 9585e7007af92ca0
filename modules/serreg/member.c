/**
 * @file member.c  The managed UAs: table, baresip calls, request outcomes
 *
 * A member is one UA taking part in fallback registration: the glue's
 * side of an engine account.  This file keeps the table of members (by
 * UA pointer), makes the baresip calls of the engine's actions for one
 * member, sends its requests (probe.c), watches its connection
 * (watch.c), and turns their outcomes into engine events.  It decides
 * nothing: whether a member may register, what a request is for and
 * when to watch are the engine's.
 *
 * How a member is kept off its registrar: the module is loaded with
 * "module serreg.so", before account.so, so it sees the REGISTERING
 * event of every UA.  For a UA that may not register, the engine says
 * HOLD inside that event: the account's regint is set to 0, and baresip
 * sends one REGISTER with expires=0 (no binding) and nothing else, and
 * net changes do not re-register it.  To register it, the regint is
 * restored and ua_register() called.  "Parked" is thus no flag of ours:
 * it is the account's regint being 0.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "params.h"
#include "serreg.h"


enum {
	HASH_SIZE   = 4096,
	ERRBUF_SIZE = 256,
};


/** A queued registration change: the last one asked for wins */
enum member_reg {
	MEMBER_REG_NONE = 0,
	MEMBER_REG_REGISTER,
	MEMBER_REG_UNREGISTER,
	MEMBER_REG_RECOVER,
	MEMBER_REG_NO_OUTBOUND,
};

enum {
	OUTBOUND_MAX = 2,       /**< outbound proxies of a 1.0.0 account */
};

struct member {
	struct le he;              /**< in members.table, by UA pointer */
	struct le qle;             /**< in exec's queue while queued    */
	struct ua *ua;
	struct sr_account *sra;    /**< the engine's view                */
	struct probe *probe;       /**< request in flight, if any        */
	struct probe *query;       /**< Retry-After query in flight (R53) */
	struct sr_answer qans;     /**< ... the REGISTER's failure       */
	struct watch *watch;       /**< its connection, if watched       */
	struct serverset *servers; /**< its registrar's servers, if a set */
	struct sip_msg *msg;       /**< an answer, while a watch starts  */
	struct tmr tmr;            /**< the engine's account timer       */
	struct tmr fail_tmr;       /**< reports what could not be sent   */
	struct tmr watch_tmr;      /**< reports a watch that did not start */
	int watch_err;             /**< ... and its error                */
	struct sr_answer fail;     /**< ... and its error                */
	bool fail_reg;             /**< ... a REGISTER, not a request    */
	bool in_register;          /**< inside serreg's ua_register()    */
	bool sync_failed;          /**< ... which raised REGISTER_FAIL   */
	uint32_t regint;           /**< configured regint, kept while parked */
	char *tls_host;            /**< the name its TLS registrar's
					certificate must match: of its
					next hop as configured (a pin
					routes to an address)          */
	char *outbound[OUTBOUND_MAX];  /**< its outbound proxies as configured
					    (a ROUTE swaps the first)   */

	/* actions waiting in exec's queue (no allocation: none is lost) */
	enum member_reg qreg;
	enum sr_request qreq;
	int qserver;               /**< ... the server qreq goes to      */
	bool qwatch;
};


static struct {
	struct hash *table;
	uint32_t n;
} members;


static bool ua_cmp_h(struct le *le, void *arg)
{
	const struct member *m = le->data;

	return m->ua == arg;
}


static uint32_t ua_key(const struct ua *ua)
{
	return hash_fast((const char *)&ua, sizeof(ua));
}


/* Nothing queued any more (it ran, or the member goes) */
static void queue_clear(struct member *m)
{
	if (m->qle.list)
		serreg_mem_freed(SERREG_OBJ_PENDING, 0);

	list_unlink(&m->qle);
	m->qreg   = MEMBER_REG_NONE;
	m->qreq   = SR_REQ_NONE;
	m->qwatch = false;
}


static void destructor(void *arg)
{
	struct member *m = arg;

	tmr_cancel(&m->tmr);
	tmr_cancel(&m->fail_tmr);
	tmr_cancel(&m->watch_tmr);
	hash_unlink(&m->he);
	queue_clear(m);
	mem_deref(m->probe);
	mem_deref(m->query);
	mem_deref(m->watch);
	mem_deref(m->servers);
	mem_deref(m->msg);
	mem_deref(m->outbound[0]);
	mem_deref(m->outbound[1]);
	mem_deref(m->tls_host);
	--members.n;
	serreg_mem_freed(SERREG_OBJ_ACCOUNT, sizeof(*m));
}


/*
 * Outcomes: every one reaches the engine from libre's main loop, never
 * from inside the execution of an action
 */

/*
 * Watched calls (call.c) around an outcome that may fail the member's
 * account: the fallback is asked before (the outcome may move the ladder
 * to it) and the verdict is told after.  Any outcome counts, an answer
 * to serreg's own request as a failure of baresip's REGISTER or of a
 * flow, so a call is placed again however the engine learns it.
 */
struct verdict {
	struct ua *ua;
	struct sr_account *fallback;
	bool watched;
};


static void verdict_begin(struct verdict *v, const struct member *m)
{
	v->ua = m->ua;
	v->watched = calls_pending(m->ua) &&
		sr_account_state(m->sra) == SR_ACC_REGISTERED &&
		sr_account_active(m->sra);
	v->fallback = v->watched ?
		sr_account_fallback(m->sra) : NULL;
}


/* In libre's main loop: the actions run, then the verdict.  passed:
   the answer is that of a check that passed (the first hop lives) */
static void verdict_end(const struct verdict *v, bool passed)
{
	const struct member *m;

	exec_drain();

	if (!v->watched)
		return;

	/* (the member may be gone: the UA is looked up again) */
	m = member_find(v->ua);
	calls_verdict(v->ua, v->fallback,
		      m && sr_account_state(m->sra) != SR_ACC_REGISTERED,
		      passed);
}


/* Inside one of baresip's REGISTER events: nothing runs now (serreg.c
   drains the actions after the event); a failure places the calls
   again from the main loop */
static void verdict_end_later(const struct verdict *v,
			      const struct member *m)
{
	if (v->watched && sr_account_state(m->sra) != SR_ACC_REGISTERED)
		calls_failed_later(v->ua, v->fallback);
}


/* The answer to a request of the member, to the engine */
static void answer_report(struct member *m, const struct sr_answer *ans)
{
	struct verdict v;
	bool check = sr_account_request(m->sra) == SR_REQ_CHECK;

	verdict_begin(&v, m);
	if (ans->err == ENOMEM)
		v.watched = false;

	sr_account_answer(m->sra, ans, serreg_now());

	verdict_end(&v, check && !ans->err && ans->scode >= 200 &&
		    ans->scode != 408 && ans->scode != 503);
}


/* A failure of baresip's REGISTER of the member, to the engine; inside
   its REGISTER_FAIL event if `in_event` */
static void reg_failed_report(struct member *m, const struct sr_answer *ans,
			      bool in_event)
{
	struct verdict v;

	verdict_begin(&v, m);
	sr_account_reg_failed(m->sra, ans, serreg_now());

	if (in_event)
		verdict_end_later(&v, m);
	else
		verdict_end(&v, false);
}


static void fail_tmr_h(void *arg)
{
	struct member *m = arg;
	struct sr_answer ans = m->fail;

	if (m->fail_reg)
		reg_failed_report(m, &ans, false);
	else
		answer_report(m, &ans);
}


/* What could not be sent is reported as its outcome, a moment later */
static void fail_later(struct member *m, int err, bool reg)
{
	memset(&m->fail, 0, sizeof(m->fail));
	m->fail.err = err;
	m->fail_reg = reg;
	tmr_start(&m->fail_tmr, 0, fail_tmr_h, m);
}


static void probe_answer_h(const struct sr_answer *ans, void *arg)
{
	struct member *m = arg;
	struct sr_answer answer = *ans;   /* ans lives in the probe */
	const struct sip_msg *msg = probe_msg(m->probe);

	if (msg) {
		answer.flow = watch_flow(msg) ? SR_FLOW_STREAM :
			SR_FLOW_DGRAM;
		/* for a watch the engine may ask for now (a stream) */
		if (answer.flow == SR_FLOW_STREAM)
			m->msg = mem_ref((struct sip_msg *)msg);
	}

	m->probe = mem_deref(m->probe);

	answer_report(m, &answer);

	/* not kept: a message holds libre's transport (a UDP socket and
	   its port, a TCP connection) alive past a net change, whose
	   re-bind then failed with EADDRINUSE; a watch, once started,
	   does not need it */
	m->msg = mem_deref(m->msg);
}


static void watch_closed_h(int err, void *arg)
{
	struct member *m = arg;
	struct verdict v;

	m->watch = mem_deref(m->watch);

	info("serreg: %s: connection to the registrar closed (%m)\n",
	     serreg_aor(m->ua), err);

	verdict_begin(&v, m);
	sr_account_flow_closed(m->sra, err, serreg_now());
	verdict_end(&v, false);
}


/*
 * The watch the engine asked for did not start: no message names the
 * connection (its last answer had none), libre says ENOTCONN (the
 * connection closed between the answer and the watch: an answer over
 * TLS waits for the certificate's verification), or no memory.  For
 * the engine the connection is lost, as if closed: it registers again
 * (flow recovery, at most every SR_RECOVER_GAP), and the flow request
 * after it finds a connection to watch.  Told, the engine no longer
 * counts it as watched (it asked for no watch again before).
 */
static void watch_failed_h(void *arg)
{
	struct member *m = arg;
	struct verdict v;

	verdict_begin(&v, m);
	sr_account_flow_closed(m->sra, m->watch_err, serreg_now());
	verdict_end(&v, false);
}


static void timer_h(void *arg)
{
	struct member *m = arg;
	struct verdict v;

	/* (a deadline of the engine's may fail the account) */
	verdict_begin(&v, m);
	sr_account_timer(m->sra, serreg_now());
	verdict_end(&v, false);
}


/*
 * The engine's actions for one member
 */

/*
 * ua_register(); an error is the outcome of that REGISTER.  baresip
 * 1.0.0 raises REGISTER_FAIL ("%m") itself before it returns a send
 * error: that event is left to this report (member_reg_failed()), so
 * that the engine hears the failure once, from the main loop, with the
 * error itself rather than its text.
 */
static void ua_register_or_report(struct member *m)
{
	int err;

	m->in_register = true;
	m->sync_failed = false;
	err = ua_register(m->ua);
	m->in_register = false;

	if (!err && !m->sync_failed)
		return;

	if (!err)
		err = EIO;

	warning("serreg: %s: register failed (%m)\n", serreg_aor(m->ua), err);
	fail_later(m, err, true);
}


/** Make baresip register it */
void member_register(struct member *m)
{
	struct account *a = ua_account(m->ua);

	/* not parked: baresip is registering it already (in its
	   REGISTERING, or a UA adopted after a late load).  A second
	   ua_register would send an un-REGISTER of the old Call-ID that
	   can overtake the new binding. */
	if (account_regint(a)) {
		sr_account_reg_kept(m->sra);
		return;
	}

	m->query = mem_deref(m->query);
	(void)account_set_regint(a, m->regint);

	ua_register_or_report(m);
}


/**
 * Its flow died: baresip registers it again.  ua_register() builds a new
 * reg client: the old one's un-REGISTER and the new REGISTER go out on
 * the same new connection, in that order.
 */
void member_recover(struct member *m)
{
	info("serreg: %s: registering again on a new connection\n",
	     serreg_aor(m->ua));

	ua_register_or_report(m);
}


/**
 * New calls of an outbound account through flow `flow`'s proxy: baresip
 * 1.0.0 sends every INVITE through its first outbound proxy, and
 * account_set_outbound() takes effect for the next one (reg clients
 * keep the proxy they were built with)
 */
void member_route(struct member *m, unsigned flow)
{
	if (flow >= OUTBOUND_MAX || !m->outbound[flow])
		return;

	info("serreg: %s: new calls through %s\n", serreg_aor(m->ua),
	     m->outbound[flow]);

	(void)account_set_outbound(ua_account(m->ua), m->outbound[flow], 0);
}


/**
 * The account's requests through server `server` of its set: its first
 * outbound proxy becomes that server (baresip routes its REGISTERs and
 * new calls through it; the engine re-registers it).  "Pinned" in what
 * serreg shows means a later server than the first.  -1 restores the
 * proxy as configured (none: as DNS orders the servers).
 */
void member_pin(struct member *m, int server)
{
	const char *route = server >= 0 ?
		serverset_route(m->servers, (unsigned)server) : NULL;
	const char *name = server >= 0 ?
		serverset_name(m->servers, (unsigned)server) : NULL;

	if (route && server > 0)
		info("serreg: %s: requests through server %s (pinned)\n",
		     serreg_aor(m->ua), name);
	else if (route)
		info("serreg: %s: requests through server %s, the first of "
		     "its set (unpinned)\n", serreg_aor(m->ua), name);
	else
		info("serreg: %s: requests as DNS orders its servers\n",
		     serreg_aor(m->ua));

	platform_event(m->ua, "pin", "aor=%s server=%s", serreg_aor(m->ua),
		       route ? name : "none");

	(void)account_set_outbound(ua_account(m->ua), route ? route :
				   m->outbound[0], 0);
}


/** A server of its set changed state: log and event */
void member_server_changed(struct member *m, const struct sr_action *act)
{
	const struct sr_account *sra = m->sra;
	const char *name;
	enum sr_srv_state st;
	char why[128];
	int use;

	if (act->server < 0)
		return;

	name = serverset_name(m->servers, (unsigned)act->server);
	st = sr_account_server_state(sra, (unsigned)act->server, NULL);
	serreg_answer_print(why, sizeof(why), &act->ans);

	if (st == SR_SRV_DEAD)
		info("serreg: %s: server %s dead (%s)\n", serreg_aor(m->ua),
		     name, why);
	else
		info("serreg: %s: server %s %s\n", serreg_aor(m->ua), name,
		     sr_srv_state_name(st));

	use = sr_account_server(sra);

	platform_event(m->ua, "server", "aor=%s server=%s state=%s pinned=%s",
		       serreg_aor(m->ua), name, sr_srv_state_name(st),
		       sr_account_pinned(sra) && use >= 0 ?
		       serverset_name(m->servers, (unsigned)use) : "none");
}


/** Name of server i of its set ("udp:127.0.0.1:5070"), "?" if none */
const char *member_server_name(const struct member *m, unsigned i)
{
	return m ? serverset_name(m->servers, i) : "?";
}


/* Its set was resolved, or changed: the engine tracks the servers */
static void servers_h(void *arg)
{
	struct member *m = arg;
	uint32_t keys[SR_SERVERS_MAX];
	char list[SR_SERVERS_MAX * 56] = "";
	unsigned i, n = serverset_count(m->servers);
	size_t len = 0;
	struct verdict v;

	n = min(n, (unsigned)SR_SERVERS_MAX);

	for (i = 0; i < n; i++) {
		int w = -1;

		keys[i] = serverset_key(m->servers, i);
		if (len < sizeof(list))
			w = re_snprintf(list + len, sizeof(list) - len,
					"%s%s", i ? ", " : "",
					serverset_name(m->servers, i));
		/* 8 IPv6 names fit; never past the end if not */
		len = w < 0 ? sizeof(list) : len + (size_t)w;
	}

	info("serreg: %s: servers %s (ttl %u s)\n", serreg_aor(m->ua),
	     n ? list : "none", serverset_ttl(m->servers));

	verdict_begin(&v, m);
	sr_account_servers(m->sra, n, keys, serreg_now());
	verdict_end(&v, false);
}


/* The servers of its registrar, or of its outbound proxy, if a domain
   names them (outbound flows have their own edges: no set) */
static int servers_start(struct member *m, unsigned flags)
{
	struct account *a = ua_account(m->ua);
	struct uri uri;
	struct pl pl;
	int err;

	if (flags & SR_ACC_F_OUTBOUND)
		return 0;

	if (m->outbound[0]) {
		pl_set_str(&pl, m->outbound[0]);
		if (uri_decode(&uri, &pl))
			return 0;
	}
	else {
		uri = *account_luri(a);
	}

	err = serverset_alloc(&m->servers, &uri, account_aor(a), servers_h,
			      m);
	if (err == ENOENT)
		return 0;

	return err;
}


/** Every first hop said 439: the reg clients are built again without
 *  outbound, then registered (RFC 5626 11.6) */
void member_no_outbound(struct member *m)
{
	struct account *a = ua_account(m->ua);
	int err;

	warning("serreg: %s: no first hop supports outbound (439), "
		"registering without it\n", serreg_aor(m->ua));

	(void)account_set_outbound(a, m->outbound[0], 0);
	err  = account_set_sipnat(a, NULL);
	err |= ua_update_account(m->ua);
	if (err) {
		fail_later(m, err, true);
		return;
	}

	ua_register_or_report(m);
}


/*
 * Which reg clients of the UA are registered, and which have an answer.
 * baresip 1.0.0 keeps each client's last status code to itself; its
 * public ua_debug() (debug_cmd's "ua_debug") prints it, one block per
 * client in reg-id order:
 *
 *   Register client:
 *    id:     1
 *    scode:  202 (...)
 *
 * 0 is no answer yet, a 2xx registered (RFC 3261 10.3: libre's sipreg
 * counts any 2xx), anything else failed (999: a transport error).
 * baresip 1.1.0 prints the same.  ua_print_status() cannot tell: it shows "OK " only
 * for exactly 200, "ERR" for a 202 as for a 503.
 */
static unsigned flows_ok(const struct ua *ua, unsigned *nflows,
			 unsigned *answered)
{
	static const char block[] = "Register client:", key[] = " scode:";
	char *buf = NULL;
	const char *p;
	unsigned mask = 0, n = 0;

	*nflows = *answered = 0;

	if (re_sdprintf(&buf, "%H", ua_debug, ua))
		return 0;

	for (p = strstr(buf, block); p && n < 32; ++n) {
		const char *next, *s;
		unsigned long scode = 0;

		p += sizeof(block) - 1;
		next = strstr(p, block);
		s = strstr(p, key);

		if (s && (!next || s < next))
			scode = strtoul(s + sizeof(key) - 1, NULL, 10);

		if (scode)
			*answered |= 1u << n;
		if (scode >= 200 && scode <= 299)
			mask |= 1u << n;

		p = next;
	}

	*nflows = n;
	mem_deref(buf);

	return mask;
}


/* Another reg client (flow) of the UA is still registered: its last
   answer was a 2xx.  Not ua_isregistered(): 1.1.0 asks libre's sipreg,
   which stays "registered" after a failed refresh. */
static bool flows_bound(const struct ua *ua)
{
	unsigned nflows, answered;

	return flows_ok(ua, &nflows, &answered) != 0;
}


/**
 * One of baresip's events about a member's registration: for an
 * outbound account, tell the engine which flows work now
 *
 * @return false while a flow of an outbound account has no answer yet
 *         (a failure of the account waits for every flow)
 */
bool member_flows(struct member *m, const struct sr_answer *ans)
{
	unsigned nflows, answered, mask;
	struct verdict v;

	if (!m->outbound[0] || !m->outbound[1])
		return true;

	mask = flows_ok(m->ua, &nflows, &answered);

	verdict_begin(&v, m);
	sr_account_flows(m->sra, mask, answered & ~mask, ans, serreg_now());
	verdict_end_later(&v, m);

	return !nflows || answered == (nflows == 32 ? ~0u :
				       (1u << nflows) - 1);
}


/* The answer to the Retry-After query: its Retry-After is that of the
   REGISTER's 503 if the registrar still sheds load */
static void query_answer_h(const struct sr_answer *qans, void *arg)
{
	struct member *m = arg;
	struct sr_answer ans = m->qans;

	if (!ans.err && ans.scode == 503 && !qans->err && qans->scode == 503)
		ans.retry_after = qans->retry_after;

	m->query = mem_deref(m->query);   /* qans lives in it */

	reg_failed_report(m, &ans, false);
}


/**
 * baresip's REGISTER of a member failed (its REGISTER_FAIL): the engine
 * hears it, once every flow of an outbound account has an answer and
 * none is registered.
 *
 * baresip 1.0.0 gives modules the text "503 Service Unavailable", never
 * the Retry-After of the answer.  A 503 to the REGISTER of an account
 * being registered is where the engine honours one (R53), so serreg
 * first asks the same registrar, through the same proxy, with a
 * REGISTER without Contact: a query of the bindings that changes none
 * (RFC 3261 10.2.3).  A registrar still shedding load answers it 503
 * too; its Retry-After is reported as the REGISTER's, after at most
 * serreg_probe_timeout.  Any other answer reports the 503 as it was.
 * (Not for outbound accounts: each flow has its own edge.)
 *
 * @param m   Member
 * @param ans The failure, decoded from the event's text
 */
void member_reg_failed(struct member *m, const struct sr_answer *ans)
{
	int err;

	/* a send error inside serreg's own ua_register(): reported when
	   it returns */
	if (m->in_register) {
		m->sync_failed = true;
		return;
	}

	if (!member_flows(m, ans) || flows_bound(m->ua))
		return;

	if (m->query) {
		m->qans = *ans;
		return;
	}

	if (ans->err || ans->scode != 503 || ans->retry_after ||
	    m->outbound[1] ||
	    sr_account_state(m->sra) != SR_ACC_REGISTERING)
		goto report;

	m->qans = *ans;
	err = probe_send(&m->query, m->ua, NULL, m->tls_host, "REGISTER",
			 PROBE_QUERY, serreg_settings()->probe_timeout,
			 query_answer_h, m);
	if (!err)
		return;

 report:
	reg_failed_report(m, ans, true);
}


/** baresip's REGISTER of a member succeeded (its REGISTER_OK): a query
 *  for a failure before is moot */
void member_registered(struct member *m)
{
	m->query = mem_deref(m->query);
}


/** Take it off its registrar: no binding, no refresh, no re-registration
 *  on a net change */
void member_unregister(struct member *m)
{
	m->query = mem_deref(m->query);
	member_unwatch(m);
	ua_unregister(m->ua);
	(void)account_set_regint(ua_account(m->ua), 0);
}


/** Inside its REGISTERING: the reg client does not exist yet, regint 0
 *  makes baresip send one expires=0 REGISTER and stop */
void member_hold(struct member *m)
{
	(void)account_set_regint(ua_account(m->ua), 0);
}


/** Send the request the engine asked for, to server `server` of its
 *  set (-1: as baresip routes); its outcome goes back */
void member_request(struct member *m, enum sr_request req, int server)
{
	enum { EXP_0, EXP_REGINT, EXP_QUERY };
	static const struct {
		const char *met;
		int expires;     /* REGISTER: 0, its regint, no Contact */
	} reqv[SR_REQ_COUNT] = {
		[SR_REQ_PROBE]       = {"REGISTER", EXP_0},
		[SR_REQ_PROBE_CHECK] = {"OPTIONS",  EXP_0},
		[SR_REQ_CHECK]       = {"OPTIONS",  EXP_0},
		[SR_REQ_FLOW]        = {"OPTIONS",  EXP_0},
		[SR_REQ_GATE]        = {"OPTIONS",  EXP_0},
		[SR_REQ_REPAIR]      = {"REGISTER", EXP_REGINT},
		[SR_REQ_SERVER]      = {"OPTIONS",  EXP_0},
		[SR_REQ_QUERY]       = {"REGISTER", EXP_QUERY},
	};
	uint32_t expires;
	const char *route = NULL;
	int err;

	m->probe = mem_deref(m->probe);

	if (req <= SR_REQ_NONE || req >= SR_REQ_COUNT)
		return;

	if (req == SR_REQ_REPAIR)
		info("serreg: %s: its registrar lost the binding (a late "
		     "request of its reg client before), registering it "
		     "again\n", serreg_aor(m->ua));

	if (server >= 0) {
		route = serverset_route(m->servers, (unsigned)server);
		if (!route) {
			fail_later(m, ENOENT, false);
			return;
		}
	}

	debug("serreg: %s: %s to %s\n", serreg_aor(m->ua), sr_request_name(req),
	      server >= 0 ? serverset_name(m->servers, (unsigned)server) :
	      "its registrar");

	expires = reqv[req].expires == EXP_REGINT ? m->regint :
		reqv[req].expires == EXP_QUERY ? PROBE_QUERY : 0;

	err = probe_send(&m->probe, m->ua, route, m->tls_host, reqv[req].met,
			 expires, serreg_settings()->probe_timeout,
			 probe_answer_h, m);
	if (err) {
		warning("serreg: %s: %s not sent (%m)\n", serreg_aor(m->ua),
			sr_request_name(req), err);
		fail_later(m, err, false);
	}
}


void member_request_cancel(struct member *m)
{
	m->qreq  = SR_REQ_NONE;
	m->probe = mem_deref(m->probe);
	tmr_cancel(&m->fail_tmr);
}


/** Watch the connection its last answer came over (R21) */
void member_watch(struct member *m)
{
	int err;

	if (m->watch)
		return;

	err = watch_start(&m->watch, m->msg,
			  serreg_settings()->check_interval,
			  watch_closed_h, m);
	if (!err)
		return;

	warning("serreg: %s: connection not watched (%m)\n",
		serreg_aor(m->ua), err);

	/* the engine hears it from the main loop */
	m->watch_err = err;
	tmr_start(&m->watch_tmr, 0, watch_failed_h, m);
}


void member_unwatch(struct member *m)
{
	m->qwatch = false;
	m->watch  = mem_deref(m->watch);
	tmr_cancel(&m->watch_tmr);
}


void member_timer(struct member *m, uint64_t delay)
{
	debug("serreg: %s: timer %llu ms\n", serreg_aor(m->ua), delay);
	tmr_start(&m->tmr, delay, timer_h, m);
}


void member_timer_cancel(struct member *m)
{
	tmr_cancel(&m->tmr);
}


/**
 * Queue an action that makes baresip calls (they raise UA events, which
 * feed the engine again).  The member itself holds what is queued: the
 * last registration change and the last request asked for win, as
 * executing them in order would leave the same.  Nothing is allocated,
 * so no action can be lost.
 *
 * @param m     Member
 * @param act   REGISTER, UNREGISTER, REQUEST or WATCH
 * @param queue exec's queue; the member is appended if not in it yet
 */
void member_queue(struct member *m, const struct sr_action *act,
		  struct list *queue)
{
	switch (act->kind) {

	case SR_ACT_REGISTER:
		m->qreg = MEMBER_REG_REGISTER;
		break;

	case SR_ACT_UNREGISTER:
		m->qreg = MEMBER_REG_UNREGISTER;
		m->qwatch = false;
		break;

	case SR_ACT_RECOVER:
		m->qreg = MEMBER_REG_RECOVER;
		m->qwatch = false;
		break;

	case SR_ACT_NO_OUTBOUND:
		m->qreg = MEMBER_REG_NO_OUTBOUND;
		m->qwatch = false;
		break;

	case SR_ACT_REQUEST:
		m->qreq    = act->req;
		m->qserver = act->server;
		break;

	case SR_ACT_WATCH:
		m->qwatch = true;
		break;

	default:
		return;
	}

	if (m->qle.list)
		return;

	list_append(queue, &m->qle, m);
	serreg_mem_alloced(SERREG_OBJ_PENDING, 0);
}


/** Execute what is queued for the member */
void member_execute(struct member *m)
{
	enum member_reg reg = m->qreg;
	enum sr_request req = m->qreq;
	int server = m->qserver;
	bool watch = m->qwatch;

	queue_clear(m);

	if (reg == MEMBER_REG_UNREGISTER)
		member_unregister(m);
	else if (reg == MEMBER_REG_REGISTER)
		member_register(m);
	else if (reg == MEMBER_REG_RECOVER)
		member_recover(m);
	else if (reg == MEMBER_REG_NO_OUTBOUND)
		member_no_outbound(m);

	if (req != SR_REQ_NONE)
		member_request(m, req, server);

	if (watch)
		member_watch(m);
}


/*
 * The table
 */

/**
 * Add a UA to its ladder (made if new); its account parameters are
 * checked first
 *
 * @param mp    Pointer to the new member
 * @param ua    The UA (regint > 0)
 * @param flags enum sr_acc_flag, besides the TLS gate found here
 *
 * @return 0 if success, otherwise errorcode (logged, naming the account)
 */
int member_add(struct member **mp, struct ua *ua, unsigned flags)
{
	struct account *a = ua_account(ua);
	struct serreg_acc_params prm;
	char errbuf[ERRBUF_SIZE];
	struct ladder *l;
	struct member *m;
	int err;

	if (!members.table) {
		err = hash_alloc(&members.table, HASH_SIZE);
		if (err)
			return err;
	}

	err = serreg_acc_params_decode(&prm, &account_laddr(a)->params,
				       errbuf, sizeof(errbuf));
	if (err) {
		warning("serreg: account %s: %s; left out of the ladder\n",
			account_aor(a), errbuf);
		return err;
	}

	err = ladder_get(&l, prm.ladder);
	if (err) {
		warning("serreg: account %s: ladder %s not made (%m)\n",
			account_aor(a), prm.ladder, err);
		return err;
	}

	m = mem_zalloc(sizeof(*m), destructor);
	if (!m)
		return ENOMEM;

	++members.n;
	serreg_mem_alloced(SERREG_OBJ_ACCOUNT, sizeof(*m));

	m->ua     = ua;
	m->regint = account_regint(a);

	if (serreg_verify_tls(a)) {
		flags |= SR_ACC_F_GATE;
		(void)serreg_verify_host(&m->tls_host, a);
	}

	/* its first outbound proxy as configured (a pin or a ROUTE
	   changes it; this is what they restore) */
	err = str_dup(&m->outbound[0], account_outbound(a, 0));
	if (err && account_outbound(a, 0))
		goto out;
	err = 0;

	/* two edge proxies with sipnat=outbound: one flow each */
	if (!str_casecmp(account_sipnat(a) ? account_sipnat(a) : "",
			 "outbound") &&
	    account_outbound(a, 0) && account_outbound(a, 1)) {
		err = str_dup(&m->outbound[1], account_outbound(a, 1));
		if (err)
			goto out;

		flags |= SR_ACC_F_OUTBOUND;
	}

	hash_append(members.table, ua_key(ua), &m->he, m);

	err = sr_account_add(ladder_engine(l), &m->sra, m, prm.prio,
			     prm.fbregint, flags, serreg_now());
	if (err)
		goto out;

	/* a registrar's domain: its servers are tracked once resolved */
	err = servers_start(m, flags);
	if (err)
		warning("serreg: %s: servers of its registrar not resolved "
			"(%m); requests go as DNS orders them\n",
			account_aor(a), err);
	err = 0;

	debug("serreg: %s: ladder %s, tier %u, fbregint %u%s\n",
	      account_aor(a), ladder_name(l), prm.prio, prm.fbregint,
	      flags & SR_ACC_F_GATE ? ", TLS registrar verified first" : "");

 out:
	if (err)
		mem_deref(m);
	else
		*mp = m;

	return err;
}


struct member *member_find(const struct ua *ua)
{
	if (!members.table)
		return NULL;

	return list_ledata(hash_lookup(members.table, ua_key(ua), ua_cmp_h,
				       (void *)ua));
}


/** Forget a UA: its requests and timers stop, the ladder re-evaluates
 *  (R31) */
void member_remove(struct member *m)
{
	struct sr_account *sra;

	if (!m)
		return;

	sra = m->sra;
	calls_forget(m->ua);
	exec_forget(m);
	m->sra = NULL;
	hash_unlink(&m->he);
	queue_clear(m);
	tmr_cancel(&m->tmr);
	tmr_cancel(&m->fail_tmr);
	tmr_cancel(&m->watch_tmr);
	m->probe   = mem_deref(m->probe);
	m->query   = mem_deref(m->query);
	m->watch   = mem_deref(m->watch);
	m->servers = mem_deref(m->servers);

	sr_account_remove(sra, serreg_now());

	mem_deref(m);
}


/** No UA exists any more: free every member without the engine */
void member_table_close(void)
{
	hash_flush(members.table);
	members.table = mem_deref(members.table);
}


struct sr_account *member_sra(const struct member *m)
{
	return m ? m->sra : NULL;
}


struct ua *member_ua(const struct member *m)
{
	return m ? m->ua : NULL;
}


uint32_t member_count(void)
{
	return members.n;
}


/** Name of server i of an engine account's set (for the status view) */
const char *serreg_view_server(const struct sr_account *sra, unsigned i)
{
	return member_server_name(sr_account_ref(sra), i);
}


/** The UA of an engine account (for the status view) */
struct ua *serreg_view_ua(const struct sr_account *sra)
{
	return member_ua(sr_account_ref(sra));
}
