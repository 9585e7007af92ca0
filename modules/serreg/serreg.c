/**
 * @file serreg.c  serreg: serial fallback registration for baresip 1.0.0
 *
 * Module entry, settings, commands, and the translation of baresip's UA
 * events into engine events.  Every decision is an engine's (engine*.c,
 * one per ladder, ladder.c); their actions are executed by exec.c and
 * member.c.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "baresip.h"
#include "params.h"
#include "engine.h"
#include "serreg.h"


enum {
	ERRBUF_SIZE = 256,
};


static struct {
	struct tmr start_tmr;
	struct tmr quit_tmr;       /**< bounds quit (R32)                */
	struct serreg_settings set;
	bool adopt;                /**< UAs existed before serreg loaded */
	bool closing;              /**< baresip is shutting down         */
	bool loaded;               /**< module_init done                 */
} serreg;


uint64_t serreg_now(void)
{
	return tmr_jiffies();
}


const struct serreg_settings *serreg_settings(void)
{
	return &serreg.set;
}


bool serreg_closing(void)
{
	return serreg.closing;
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


/* baresip is about to register a UA: a new one joins the ladder (R30,
   R33), and the engine says whether it may register now */
static void registering(struct ua *ua)
{
	struct member *m = member_find(ua);

	/* regint=0 accounts do not take part */
	if (!m && (!account_regint(ua_account(ua)) || member_add(&m, ua, 0)))
		return;

	sr_account_registering(member_sra(m), serreg_now());
}


static void ua_event_handler(struct ua *ua, enum ua_event ev,
			     struct call *call, const char *prm, void *arg)
{
	struct member *m;
	struct sr_answer ans;
	(void)arg;

	if (!ua || !serreg.loaded)
		return;

	m = member_find(ua);

	/* a call event: a failback waits while the UA has calls (R34) */
	if (call && ev != UA_EVENT_VU_TX && ev != UA_EVENT_VU_RX) {
		if (m)
			sr_account_calls(member_sra(m), ua_ncalls(ua,
				ev == UA_EVENT_CALL_CLOSED ? call : NULL),
					 serreg_now());
		/* a call that meets a dead tier is placed again (call.c) */
		calls_event(ua, ev, call, prm);
		exec_drain();
		return;
	}

	switch (ev) {

	case UA_EVENT_REGISTERING:
		registering(ua);
		break;

	case UA_EVENT_REGISTER_OK:
		if (!m)
			break;

		answer_decode(&ans, prm);
		member_registered(m);
		sr_account_registered(member_sra(m),
				      ans.scode ? ans.scode : 200,
				      serreg_now());
		member_flows(m, NULL);
		break;

	case UA_EVENT_REGISTER_FAIL:
		if (!m)
			break;

		/* (another reg client (flow) of the UA still registered:
		   the account is; one not answered yet may be) */
		answer_decode(&ans, prm);
		member_reg_failed(m, &ans);
		break;

	case UA_EVENT_UNREGISTERING:
		/* from the UA's destructor (uadel): it is unlinked already;
		   serreg's own ua_unregister() leaves it in the list */
		if (ua_exists(ua))
			break;
		platform_ua_gone();
		if (m)
			member_remove(m);
		break;

	case UA_EVENT_SHUTDOWN:
		if (!serreg.closing)
			tmr_start(&serreg.quit_tmr,
				  serreg.set.probe_timeout * 1000ULL,
				  quit_tmr_h, NULL);
		serreg.closing = true;
		member_remove(m);
		break;

	default:
		/* serreg's own events (maybe raised inside an engine
		   action) included: nothing for the engine; a platform's
		   own (1.1.0's FALLBACK_OK/FAIL) to platform.c */
		platform_ua_event(ua, ev);
		return;
	}

	exec_drain();
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
 * serreg was loaded (module_app after account.so) are adopted: the
 * engine takes the binding of those it does not choose off.  On baresip
 * 1.1.0 the accounts with prio > 0 never had a REGISTERING (the core
 * put them on its fallback client): platform.c takes them over.
 */
static void start_h(void *arg)
{
	struct le *le;
	(void)arg;

	for (le = list_head(uag_list()); le; le = le->next) {
		struct ua *ua = le->data;
		struct member *m;

		if (member_find(ua) || !account_regint(ua_account(ua)))
			continue;

		/* baresip 1.1.0 keeps prio > 0 accounts on its own
		   fallback client: taken over, held */
		if (platform_take_over(ua) || !serreg.adopt)
			continue;

		if (member_add(&m, ua, SR_ACC_F_LIVE))
			continue;

		info("serreg: %s: adopted after registration started "
		     "(load serreg with 'module', before account.so)\n",
		     serreg_aor(ua));
	}

	ladder_start(serreg.set.current_ladder);
	platform_start();
	exec_drain();
}


/*
 * Commands
 */

static int cmd_serreg(struct re_printf *pf, void *arg)
{
	const struct cmd_arg *carg = arg;
	const char *prm = carg ? carg->prm : NULL;
	struct serreg_view view;

	view.ladders = ladder_list();
	view.now = serreg_now();
	view.probe_timeout = serreg.set.probe_timeout;
	view.check_interval = serreg.set.check_interval;
	view.ua_h = serreg_view_ua;
	view.server_h = serreg_view_server;

	if (str_isset(prm) && !str_casecmp(prm, "json"))
		return serreg_status_json(pf, &view);

	if (str_isset(prm))
		return re_hprintf(pf, "usage: serreg [json]\n");

	return serreg_status_print(pf, &view);
}


static const struct cmd cmdv[] = {
	{"serreg", 0, CMD_PRM, "Serial fallback registration status "
	 "[json]", cmd_serreg},
};


static int module_init(void)
{
	int err;

	config_read();
	serreg.loaded = true;

	err = uag_event_register(ua_event_handler, NULL);
	if (err)
		return err;

	/* libre calls close() after a failed init too, which unregisters
	   the handler; init undoes its own steps all the same */
	err = cmd_register(baresip_commands(), cmdv, ARRAY_SIZE(cmdv));
	if (err) {
		uag_event_unregister(ua_event_handler);
		return err;
	}

	serreg.adopt = !list_isempty(uag_list());
	tmr_start(&serreg.start_tmr, 0, start_h, NULL);

	info("serreg: serial fallback registration loaded (check interval "
	     "%us, probe timeout %us, failback hold %u, backoff max %us%s)\n",
	     serreg.set.check_interval, serreg.set.probe_timeout,
	     serreg.set.failback_hold, serreg.set.backoff_max,
	     serreg.set.concurrent ? ", concurrent" : "");

	return 0;
}


static int module_close(void)
{
	/* runs after ua_close(): event handlers are flushed already */
	uag_event_unregister(ua_event_handler);

	if (baresip_commands())
		cmd_unregister(baresip_commands(), cmdv);

	tmr_cancel(&serreg.start_tmr);
	tmr_cancel(&serreg.quit_tmr);
	platform_close();

	/* no UA exists any more: free without asking the engine */
	exec_close();
	calls_close();
	member_table_close();
	probe_close();
	ladder_close();
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
