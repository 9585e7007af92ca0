/**
 * @file serreg.c  serreg: serial fallback registration for baresip 1.0.0
 *
 * The glue between baresip and the policy engine (engine.c): module entry,
 * the UA event hook, the account table and the execution of the engine's
 * actions.  It decides nothing itself.
 *
 * How standby accounts are kept off their registrars: the module is loaded
 * with "module serreg.so", before account.so, so it sees the REGISTERING
 * event of every UA.  For a UA that must not register, it sets the
 * account's regint to 0 inside that event: baresip then sends one REGISTER
 * with expires=0 (no binding) and nothing else, and net changes do not
 * re-register it.  To activate it, the regint is restored and ua_register()
 * called.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "baresip.h"
#include "params.h"
#include "engine.h"
#include "serreg_probe.h"
#include "serreg_watch.h"
#include "serreg_verify.h"
#include "serreg.h"


enum {
	HASH_SIZE    = 4096,
	BACKOFF_BASE = 30,   /* [s] first wait after a failed round (R4) */
	ERRBUF_SIZE  = 256,
};


/** What a request of probe.c is for */
enum request_kind {
	REQ_PROBE = 0,   /**< REGISTER expires=0 of a standby account    */
	REQ_CHECK,       /**< OPTIONS liveness check (R20)               */
	REQ_FLOW,        /**< OPTIONS that finds the connection (R21)    */
	REQ_GATE,        /**< OPTIONS before a TLS account's REGISTER    */
	REQ_PROBE_CHECK, /**< OPTIONS probe of an account that failed
			      its check (judged as the check)          */
};

/** How the account reaches its registrar, as far as known */
enum flow {
	FLOW_UNKNOWN = 0,
	FLOW_STREAM,     /**< TCP or TLS: a connection to watch          */
	FLOW_DGRAM,      /**< UDP: nothing to watch                      */
};

/** A UA taking part in fallback registration */
struct account {
	struct le he;              /**< in serreg.accounts, by UA pointer */
	struct ua *ua;
	struct sr_account *sra;    /**< the engine's view                */
	struct probe *probe;       /**< request in flight, if any        */
	enum request_kind req;     /**< what it is for                   */
	struct watch *watch;       /**< connection of a registered account */
	enum flow flow;
	struct tmr tmr;            /**< the engine's account timer       */
	uint32_t regint;           /**< configured regint, kept while parked */
	bool parked;               /**< regint set to 0 by serreg        */
	bool verified;             /**< its TLS registrar passed the gate */
	bool gone;                 /**< removed; queued actions skip it  */
};

/** An action of the engine waiting to be executed */
struct pending {
	struct le le;
	struct sr_action act;
	struct account *acc;       /**< referenced                       */
};


static struct {
	struct sr_engine *eng;
	struct hash *accounts;
	struct list pendl;         /**< struct pending                   */
	struct tmr round_tmr;
	struct tmr start_tmr;
	struct tmr quit_tmr;       /**< bounds quit (R32)                */
	struct serreg_settings set;
	struct ua *registering;    /**< UA in its REGISTERING event      */
	struct ua *activating;     /**< UA serreg is calling ua_register on */
	struct ua *unregistering;  /**< UA serreg is calling ua_unregister on */
	bool draining;
	bool adopt;                /**< UAs existed before serreg loaded */
	bool closing;              /**< baresip is shutting down         */
} serreg;


static uint64_t now(void)
{
	return tmr_jiffies();
}


/*
 * Account table
 */

static bool ua_cmp_h(struct le *le, void *arg)
{
	const struct account *acc = le->data;

	return acc->ua == arg;
}


static uint32_t ua_key(const struct ua *ua)
{
	return hash_fast((const char *)&ua, sizeof(ua));
}


static struct account *account_find(const struct ua *ua)
{
	return list_ledata(hash_lookup(serreg.accounts, ua_key(ua),
				       ua_cmp_h, (void *)ua));
}


/** Is the UA still in baresip's list? (a UA pointer is never cached
 *  without this check before an unsolicited use) */
static bool ua_exists(const struct ua *ua)
{
	struct le *le;

	for (le = list_head(uag_list()); le; le = le->next) {
		if (le->data == ua)
			return true;
	}

	return false;
}


static void account_destructor(void *arg)
{
	struct account *acc = arg;

	tmr_cancel(&acc->tmr);
	hash_unlink(&acc->he);
	mem_deref(acc->probe);
	mem_deref(acc->watch);
	serreg_mem_freed(SERREG_OBJ_ACCOUNT, sizeof(*acc));
}


/** Forget a UA: its probe and timer stop, the ladder re-evaluates (R31) */
static void account_remove(struct account *acc)
{
	struct sr_account *sra = acc->sra;

	acc->gone = true;
	acc->sra  = NULL;
	acc->probe = mem_deref(acc->probe);
	acc->watch = mem_deref(acc->watch);
	tmr_cancel(&acc->tmr);
	hash_unlink(&acc->he);

	sr_account_remove(sra, now());

	mem_deref(acc);
}


/*
 * Executing the engine's actions
 */

static void drain(void);


static void pending_destructor(void *arg)
{
	struct pending *p = arg;

	list_unlink(&p->le);
	mem_deref(p->acc);
	serreg_mem_freed(SERREG_OBJ_PENDING, sizeof(*p));
}


static void action_h(const struct sr_action *act, void *arg)
{
	struct pending *p;
	(void)arg;

	p = mem_zalloc(sizeof(*p), pending_destructor);
	if (!p) {
		warning("serreg: out of memory, action %d lost\n", act->kind);
		return;
	}

	serreg_mem_alloced(SERREG_OBJ_PENDING, sizeof(*p));

	p->act = *act;
	p->acc = mem_ref(act->ref);

	list_append(&serreg.pendl, &p->le, p);
}


static uint32_t rand_h(void *arg)
{
	(void)arg;

	return rand_u32();
}


/** Park: no binding, no refresh, no re-registration on net change */
static void park(struct account *acc)
{
	struct account *a = ua_account(acc->ua);

	acc->watch = mem_deref(acc->watch);

	if (acc->req == REQ_GATE)
		acc->probe = mem_deref(acc->probe);

	if (!acc->parked) {
		uint32_t regint = account_regint(a);

		if (regint)
			acc->regint = regint;
	}

	/* inside its own REGISTERING the reg client does not exist yet:
	   regint 0 makes baresip send one expires=0 REGISTER and stop */
	if (acc->ua != serreg.registering) {
		serreg.unregistering = acc->ua;
		ua_unregister(acc->ua);
		serreg.unregistering = NULL;
	}

	(void)account_set_regint(a, 0);
	acc->parked = true;
}


static void probe(struct account *acc, enum request_kind req);


/*
 * A TLS registrar is verified before the account's first REGISTER: an
 * OPTIONS whose answer counts only once the certificate is verified
 * (probe.c, verify.c).  Any answer then activates the account; no
 * answer or a failed verification fails it, and nothing is registered.
 */
static bool gate(struct account *acc)
{
	if (acc->verified || !serreg_verify_tls(ua_account(acc->ua)))
		return false;

	if (!acc->probe || acc->req != REQ_GATE)
		probe(acc, REQ_GATE);

	return true;
}


static void activate(struct account *acc)
{
	int err;

	/*
	 * Not parked: baresip is registering it already (its REGISTERING
	 * event, or a UA adopted after a late load).  A second ua_register
	 * would send an un-REGISTER of the old Call-ID that can overtake
	 * the new binding.
	 */
	if (!acc->parked || gate(acc))
		return;

	(void)account_set_regint(ua_account(acc->ua), acc->regint);
	acc->parked = false;

	if (acc->ua == serreg.registering)
		return;

	serreg.activating = acc->ua;
	err = ua_register(acc->ua);
	serreg.activating = NULL;

	if (err) {
		struct sr_answer ans = {err, 0, 0};

		warning("serreg: %s: register failed (%m)\n",
			ua_aor(acc->ua), err);
		sr_account_reg_failed(acc->sra, &ans, now());
	}
}


static void account_tmr_h(void *arg)
{
	struct account *acc = arg;

	sr_account_timer(acc->sra, now());
	drain();
}


static void round_tmr_h(void *arg)
{
	(void)arg;

	sr_engine_timer(serreg.eng, now());
	drain();
}


/*
 * The connection of a registered account is gone (R21).  A registrar
 * may close an idle connection, and a dead one closes it too: a check
 * on a new connection tells them apart at once.  Refused, silent,
 * 408 or 503 fails the account (R20); any other answer watches the new
 * connection.
 */
static void watch_closed_h(int err, void *arg)
{
	struct account *acc = arg;

	acc->watch = mem_deref(acc->watch);

	if (!sr_account_active(acc->sra) ||
	    sr_account_state(acc->sra) != SR_ACC_REGISTERED ||
	    serreg.closing)
		return;

	info("serreg: %s: connection to the registrar closed (%m),"
	     " checking it\n", ua_aor(acc->ua), err);

	probe(acc, REQ_CHECK);
	drain();
}


/* Learn the account's transport from an answer; watch a connection */
static void flow_update(struct account *acc, const struct sip_msg *msg)
{
	int err;

	if (!msg)
		return;

	acc->flow = watch_flow(msg) ? FLOW_STREAM : FLOW_DGRAM;

	if (acc->flow != FLOW_STREAM || acc->watch ||
	    !sr_account_active(acc->sra) ||
	    sr_account_state(acc->sra) != SR_ACC_REGISTERED)
		return;

	err = watch_start(&acc->watch, msg, serreg.set.check_interval,
			  watch_closed_h, acc);
	if (err)
		debug("serreg: %s: connection not watched (%m)\n",
		      ua_aor(acc->ua), err);
}


/* The gate's answer: register, or fail without a REGISTER */
static void gate_answer(struct account *acc, const struct sr_answer *ans)
{
	char why[128];

	if (!ans->err) {
		acc->verified = true;
		activate(acc);
		acc->verified = false;
		return;
	}

	serreg_answer_print(why, sizeof(why), ans);
	info("serreg: %s: not registered: %s\n", ua_aor(acc->ua), why);
	sr_account_reg_failed(acc->sra, ans, now());
}


static void probe_answer_h(const struct sr_answer *ans, void *arg)
{
	struct account *acc = arg;
	const struct sr_answer answer = *ans;   /* ans lives in the probe */

	flow_update(acc, probe_msg(acc->probe));
	acc->probe = mem_deref(acc->probe);

	switch (acc->req) {

	case REQ_PROBE:
	case REQ_PROBE_CHECK:
		sr_account_probed(acc->sra, &answer, now());
		break;

	case REQ_CHECK:
		sr_account_checked(acc->sra, &answer, now());
		break;

	case REQ_FLOW:
		break;

	case REQ_GATE:
		gate_answer(acc, &answer);
		break;
	}

	drain();
}


/* A probe (REGISTER, expires=0), a liveness check or a flow request
   (OPTIONS) */
static void probe(struct account *acc, enum request_kind req)
{
	static const char *namev[] = {"probe", "check", "flow request",
				      "TLS check", "probe"};
	struct sr_answer ans;
	int err;

	acc->probe = mem_deref(acc->probe);
	acc->req = req;

	err = probe_send(&acc->probe, acc->ua,
			 req == REQ_PROBE ? "REGISTER" : "OPTIONS",
			 serreg.set.probe_timeout, probe_answer_h, acc);
	if (!err)
		return;

	debug("serreg: %s: %s not sent (%m)\n", ua_aor(acc->ua),
	      namev[req], err);

	memset(&ans, 0, sizeof(ans));
	ans.err = err;

	if (req == REQ_PROBE || req == REQ_PROBE_CHECK)
		sr_account_probed(acc->sra, &ans, now());
	else if (req == REQ_CHECK)
		sr_account_checked(acc->sra, &ans, now());
	else if (req == REQ_GATE)
		sr_account_reg_failed(acc->sra, &ans, now());
}


/*
 * A registered account whose transport is not known yet: one OPTIONS
 * finds the connection its REGISTERs use (libre keeps one per address),
 * so that it can be watched.  Over UDP this happens once per account.
 */
static void flow_find(struct account *acc)
{
	if (acc->flow == FLOW_DGRAM || acc->watch || acc->probe ||
	    serreg.closing)
		return;

	probe(acc, REQ_FLOW);
}


/* The number of calls of a UA, without one that is closing */
static uint32_t ua_ncalls(const struct ua *ua, const struct call *closing)
{
	struct le *le;
	uint32_t n = 0;

	for (le = list_head(ua_calls(ua)); le; le = le->next) {
		if (le->data != closing)
			++n;
	}

	return n;
}


static void move(const struct sr_action *act)
{
	char tier[2][16];
	char why[128] = "";
	struct ua *ua;
	int i;

	for (i = 0; i < 2; i++) {
		int prio = i ? act->to : act->from;

		if (prio < 0)
			str_ncpy(tier[i], "none", sizeof(tier[i]));
		else
			re_snprintf(tier[i], sizeof(tier[i]), "%d", prio);
	}

	serreg_answer_print(why, sizeof(why), &act->ans);

	info("serreg: tier %s -> %s (%s%s%s)\n", tier[0], tier[1],
	     sr_reason_name(act->reason), why[0] ? ": " : "", why);

	/* baresip 1.0.0 has no module event: UA_EVENT_MAX reaches ctrl_tcp
	   clients as type "?", class "other" (R41) */
	ua = uag_current();
	ua_event(ua, UA_EVENT_MAX, NULL,
		 "serreg move from=%s to=%s reason=%s answer=\"%s\"",
		 tier[0], tier[1], sr_reason_token(act->reason), why);
}


static void execute(const struct sr_action *act, struct account *acc)
{
	/* baresip is quitting: no new request, no new timer (R32) */
	if (serreg.closing && act->kind != SR_ACT_PROBE_CANCEL &&
	    act->kind != SR_ACT_TIMER_CANCEL &&
	    act->kind != SR_ACT_ROUND_CANCEL)
		return;

	switch (act->kind) {

	case SR_ACT_REGISTER:
		activate(acc);
		break;

	case SR_ACT_UNREGISTER:
		park(acc);
		break;

	case SR_ACT_PROBE:
		probe(acc, act->options ? REQ_PROBE_CHECK : REQ_PROBE);
		break;

	case SR_ACT_CHECK:
		probe(acc, REQ_CHECK);
		break;

	case SR_ACT_PROBE_CANCEL:
		acc->probe = mem_deref(acc->probe);
		break;

	case SR_ACT_TIMER:
		tmr_start(&acc->tmr, act->delay, account_tmr_h, acc);
		break;

	case SR_ACT_TIMER_CANCEL:
		tmr_cancel(&acc->tmr);
		break;

	case SR_ACT_ROUND_TIMER:
		tmr_start(&serreg.round_tmr, act->delay, round_tmr_h, NULL);
		break;

	case SR_ACT_ROUND_CANCEL:
		tmr_cancel(&serreg.round_tmr);
		break;

	case SR_ACT_CURRENT:
		uag_current_set(acc->ua);
		break;

	case SR_ACT_MOVE:
		move(act);
		break;
	}
}


/**
 * Execute the queued actions.  Executing one may raise baresip events
 * that feed the engine again; their actions are queued behind.
 */
static void drain(void)
{
	if (serreg.draining)
		return;

	serreg.draining = true;

	while (!list_isempty(&serreg.pendl)) {
		struct pending *p = list_ledata(list_head(&serreg.pendl));

		list_unlink(&p->le);

		if (!p->act.ref || (p->acc && !p->acc->gone))
			execute(&p->act, p->acc);

		mem_deref(p);
	}

	serreg.draining = false;
}


/*
 * UA events
 */

static int account_add(struct account **accp, struct ua *ua)
{
	struct account *a = ua_account(ua);
	struct serreg_acc_params prm;
	char errbuf[ERRBUF_SIZE];
	struct account *acc;
	int err;

	err = serreg_acc_params_decode(&prm, &account_laddr(a)->params,
				       errbuf, sizeof(errbuf));
	if (err) {
		warning("serreg: account %s: %s; left out of the ladder\n",
			account_aor(a), errbuf);
		return err;
	}

	acc = mem_zalloc(sizeof(*acc), account_destructor);
	if (!acc)
		return ENOMEM;

	serreg_mem_alloced(SERREG_OBJ_ACCOUNT, sizeof(*acc));

	acc->ua     = ua;
	acc->regint = account_regint(a);

	err = sr_account_add(serreg.eng, &acc->sra, acc, prm.prio,
			     prm.fbregint, now());
	if (err) {
		mem_deref(acc);
		return err;
	}

	hash_append(serreg.accounts, ua_key(ua), &acc->he, acc);

	debug("serreg: %s: tier %u, fbregint %u\n", account_aor(a),
	      prm.prio, prm.fbregint);

	*accp = acc;

	return 0;
}


static void registering(struct ua *ua)
{
	struct account *acc = account_find(ua);

	if (ua == serreg.activating)
		return;

	serreg.registering = ua;

	if (!acc) {
		/* regint=0 accounts do not take part */
		if (!account_regint(ua_account(ua)) || account_add(&acc, ua))
			goto out;
	}

	drain();

	if (!sr_account_active(acc->sra)) {
		park(acc);
	}
	else if (!acc->parked && serreg_verify_tls(ua_account(ua))) {
		/* its REGISTER waits for the TLS registrar's gate */
		park(acc);
		activate(acc);
	}

 out:
	serreg.registering = NULL;
}


static void answer_decode(struct sr_answer *ans, const char *prm)
{
	static const int errv[] = {ETIMEDOUT, ECONNREFUSED, ECONNRESET,
				   EHOSTUNREACH, ENETUNREACH, ENOENT};
	size_t i;

	memset(ans, 0, sizeof(*ans));

	if (prm && prm[0] >= '1' && prm[0] <= '9') {
		ans->scode = (uint16_t)atoi(prm);
		return;
	}

	ans->err = EIO;
	for (i = 0; prm && i < ARRAY_SIZE(errv); i++) {
		if (!str_casecmp(prm, strerror(errv[i]))) {
			ans->err = errv[i];
			break;
		}
	}
}


/*
 * Quit is still waiting, serreg_probe_timeout after it began: for an
 * un-REGISTER that no registrar answers (a tier left because its
 * registrar went silent, or the tier in use).  libre would wait for
 * Timer F (32 s); close the SIP stack now, as a second quit would (R32).
 */
static void quit_tmr_h(void *arg)
{
	(void)arg;

	info("serreg: un-REGISTERs unanswered after %us, closing SIP\n",
	     serreg.set.probe_timeout);
	ua_stop_all(true);
}


static void ua_event_handler(struct ua *ua, enum ua_event ev,
			     struct call *call, const char *prm, void *arg)
{
	struct account *acc;
	struct sr_answer ans;
	(void)arg;

	if (!ua || !serreg.eng)
		return;

	/* a call event: a failback waits while the UA has calls (R34) */
	if (call && ev != UA_EVENT_VU_TX && ev != UA_EVENT_VU_RX) {
		acc = account_find(ua);
		if (acc) {
			sr_account_calls(acc->sra, ua_ncalls(ua,
				ev == UA_EVENT_CALL_CLOSED ? call : NULL),
					 now());
			drain();
		}
		return;
	}

	switch (ev) {

	case UA_EVENT_REGISTERING:
		registering(ua);
		break;

	case UA_EVENT_REGISTER_OK:
		acc = account_find(ua);
		if (!acc)
			break;

		answer_decode(&ans, prm);
		sr_account_registered(acc->sra, ans.scode ? ans.scode : 200,
				      now());
		if (sr_account_active(acc->sra))
			flow_find(acc);
		break;

	case UA_EVENT_REGISTER_FAIL:
		acc = account_find(ua);

		/* another reg client of the UA is still registered */
		if (!acc || ua_isregistered(ua))
			break;

		answer_decode(&ans, prm);
		sr_account_reg_failed(acc->sra, &ans, now());
		break;

	case UA_EVENT_UNREGISTERING:
		/* from the UA's destructor (uadel): it is unlinked already */
		if (ua == serreg.unregistering)
			break;

		acc = account_find(ua);
		if (acc && !ua_exists(ua))
			account_remove(acc);
		break;

	case UA_EVENT_SHUTDOWN:
		if (!serreg.closing)
			tmr_start(&serreg.quit_tmr,
				  serreg.set.probe_timeout * 1000ULL,
				  quit_tmr_h, NULL);
		serreg.closing = true;
		acc = account_find(ua);
		if (acc)
			account_remove(acc);
		break;

	default:
		return;
	}

	drain();
}


/*
 * Start and configuration
 */

/*
 * Every serreg_* line of the config file, in order: a bad value or an
 * unknown key gets one error line, and the setting keeps its default.
 */
static int config_line_h(const struct pl *line, void *arg)
{
	char errbuf[ERRBUF_SIZE];
	struct pl key, val;
	(void)arg;

	if (re_regex(line->p, line->l, "[^ \t]+[ \t]*[^]*", &key, NULL,
		     &val) || key.l < 7 || memcmp(key.p, "serreg_", 7))
		return 0;

	if (serreg_setting_apply(&serreg.set, &key, &val,
				 errbuf, sizeof(errbuf)))
		warning("serreg: config: %s\n", errbuf);

	return 0;
}


static void config_read(void)
{
	char path[256], file[280];

	serreg_settings_init(&serreg.set);

	if (conf_path_get(path, sizeof(path)))
		return;

	re_snprintf(file, sizeof(file), "%s/config", path);
	(void)conf_parse(file, config_line_h, NULL);
}


/*
 * Start once every module is loaded: with "module serreg.so" all accounts
 * of the accounts file are known by now.  UAs that registered before
 * serreg was loaded (module_app after account.so) are adopted.
 */
static void start_h(void *arg)
{
	struct le *le;
	(void)arg;

	for (le = serreg.adopt ? list_head(uag_list()) : NULL; le;
	     le = le->next) {
		struct ua *ua = le->data;
		struct account *acc;

		if (account_find(ua) || !account_regint(ua_account(ua)))
			continue;

		if (account_add(&acc, ua))
			continue;

		info("serreg: %s: adopted after registration started "
		     "(load serreg with 'module', before account.so)\n",
		     ua_aor(ua));
	}

	sr_engine_start(serreg.eng, now());
	drain();

	/* adopted standby UAs may hold a binding: take it off */
	for (le = list_head(uag_list()); le; le = le->next) {
		struct account *acc = account_find(le->data);

		if (acc && !acc->parked && !sr_account_active(acc->sra))
			park(acc);
	}
}


/*
 * Commands
 */

static int cmd_serreg(struct re_printf *pf, void *arg)
{
	const struct cmd_arg *carg = arg;
	const char *prm = carg ? carg->prm : NULL;
	struct serreg_view view;

	view.eng = serreg.eng;
	view.now = now();
	view.probe_timeout = serreg.set.probe_timeout;
	view.check_interval = serreg.set.check_interval;
	view.ua_h = serreg_view_ua;

	if (str_isset(prm) && !str_casecmp(prm, "json"))
		return serreg_status_json(pf, &view);

	if (str_isset(prm))
		return re_hprintf(pf, "usage: serreg [json]\n");

	return serreg_status_print(pf, &view);
}


/** The UA of an engine account (for the status view) */
struct ua *serreg_view_ua(const struct sr_account *sra)
{
	const struct account *acc = sr_account_ref(sra);

	return acc ? acc->ua : NULL;
}


static const struct cmd cmdv[] = {
	{"serreg", 0, CMD_PRM, "Serial fallback registration status "
	 "[json]", cmd_serreg},
};


static int module_init(void)
{
	struct sr_config cfg;
	int err;

	config_read();

	memset(&cfg, 0, sizeof(cfg));
	cfg.failback_hold = serreg.set.failback_hold;
	cfg.backoff_base  = BACKOFF_BASE;
	cfg.backoff_max   = serreg.set.backoff_max;
	cfg.check_interval = serreg.set.check_interval;

	err = sr_engine_alloc(&serreg.eng, &cfg, action_h, rand_h, NULL);
	if (err)
		return err;

	err = hash_alloc(&serreg.accounts, HASH_SIZE);
	if (err)
		return err;

	err = uag_event_register(ua_event_handler, NULL);
	if (err)
		return err;

	err = cmd_register(baresip_commands(), cmdv, ARRAY_SIZE(cmdv));
	if (err)
		return err;

	serreg.adopt = !list_isempty(uag_list());
	tmr_start(&serreg.start_tmr, 0, start_h, NULL);

	info("serreg: serial fallback registration loaded (check interval "
	     "%us, probe timeout %us, failback hold %u, backoff max %us)\n",
	     serreg.set.check_interval, serreg.set.probe_timeout,
	     serreg.set.failback_hold, serreg.set.backoff_max);

	return 0;
}


static int module_close(void)
{
	/* runs after ua_close(): event handlers are flushed already */
	uag_event_unregister(ua_event_handler);

	if (baresip_commands())
		cmd_unregister(baresip_commands(), cmdv);

	tmr_cancel(&serreg.start_tmr);
	tmr_cancel(&serreg.round_tmr);
	tmr_cancel(&serreg.quit_tmr);

	/* no UA exists any more: free without asking the engine */
	list_flush(&serreg.pendl);
	hash_flush(serreg.accounts);
	serreg.accounts = mem_deref(serreg.accounts);
	serreg.eng = mem_deref(serreg.eng);
	serreg_verify_close();
	memset(&serreg, 0, sizeof(serreg));

	return 0;
}


__attribute__((visibility("default")))
const struct mod_export DECL_EXPORTS(serreg) = {
	"serreg",
	"application",
	module_init,
	module_close,
};
