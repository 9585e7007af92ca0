/**
 * @file call.c  Calls that meet a dead tier (issue 19)
 *
 * An outgoing call through the account in use is evidence on its first
 * hop.  baresip reports no 100 Trying, so when the INVITE goes out (its
 * CALL_LOCAL_SDP "offer") the engine checks the account's registrar at
 * once (sr_account_call_placed).  If that check fails (no answer within
 * serreg_probe_timeout, a transport error, 408, 503) while the call has
 * had no provisional answer, or after it closed with a transport error,
 * 408 or 503, the call is placed again, once, through the fallback the
 * engine names (sr_account_fallback) to the same user at that account's
 * domain.  The first call is hung up before: libre's terminated session
 * CANCELs it after a 1xx and ACKs and BYEs a late 2xx, so no two calls
 * are ever up.  A call the far end answers (1xx, 2xx) or refuses (486,
 * 603, 404...) is never placed again.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "params.h"
#include "serreg.h"


enum {
	/* [ms] a watched call is forgotten this long after the probe
	   timeout if no verdict came (its account got another request) */
	WATCH_MARGIN = 2000,
};


/** An outgoing call whose first hop's verdict is awaited */
struct ocall {
	struct le le;          /**< in calls.l                         */
	struct tmr tmr;        /**< forgets it without a verdict        */
	struct ua *ua;
	struct call *call;     /**< NULL once closed (with a failure)  */
	char *user;            /**< the user of the request URI         */
	struct ua *fua;        /**< placed again through it, from tmr   */
};


static struct {
	struct list l;         /**< struct ocall                        */
	bool placing;          /**< inside serreg's own ua_connect()    */
} calls;


static void ocall_destructor(void *arg)
{
	struct ocall *oc = arg;

	tmr_cancel(&oc->tmr);
	list_unlink(&oc->le);
	mem_deref(oc->user);
}


static struct ocall *ocall_find(const struct call *call)
{
	struct le *le;

	for (le = list_head(&calls.l); le; le = le->next) {
		struct ocall *oc = le->data;

		if (oc->call == call)
			return oc;
	}

	return NULL;
}


static void ocall_tmr_h(void *arg)
{
	struct ocall *oc = arg;

	mem_deref(oc);
}


/* the user part of a request URI (sip:user@host;params) */
static int user_get(char **userp, const char *uri)
{
	struct pl pl;

	if (re_regex(uri, str_len(uri), "[^:]+:[^@]+@", NULL, &pl))
		return EINVAL;

	return pl_strdup(userp, &pl);
}


/* A call's CLOSED text as a failure of its first hop: a transport error
   ("%m") or a 408/503 ("%u %r"); false for anything else (a refusal, a
   hangup, "Connection reset by user", a local timeout) */
static bool closed_failure(struct sr_answer *ans, const char *prm)
{
	static const int errv[] = {ETIMEDOUT, ECONNREFUSED, ECONNRESET,
				   EHOSTUNREACH, ENETUNREACH, ENOENT};
	size_t i;

	memset(ans, 0, sizeof(*ans));

	if (!str_isset(prm))
		return false;

	if (!strncmp(prm, "408 ", 4) || !strncmp(prm, "503 ", 4)) {
		ans->scode = (uint16_t)(prm[0] == '4' ? 408 : 503);
		return true;
	}

	for (i = 0; i < ARRAY_SIZE(errv); i++) {
		if (!str_casecmp(prm, strerror(errv[i]))) {
			ans->err = errv[i];
			return true;
		}
	}

	return false;
}


/* the outgoing INVITE of a call through a member registered in a tier
   in use: watched, and its first hop checked at once */
static void placed(struct ua *ua, struct call *call)
{
	struct member *m = member_find(ua);
	struct ocall *oc;

	if (calls.placing || !m || ocall_find(call) ||
	    call_state(call) != CALL_STATE_OUTGOING ||
	    sr_account_state(member_sra(m)) != SR_ACC_REGISTERED ||
	    !sr_account_active(member_sra(m)))
		return;

	oc = mem_zalloc(sizeof(*oc), ocall_destructor);
	if (!oc)
		return;

	if (user_get(&oc->user, call_peeruri(call))) {
		mem_deref(oc);
		return;
	}

	oc->ua   = ua;
	oc->call = call;
	list_append(&calls.l, &oc->le, oc);
	tmr_start(&oc->tmr, serreg_settings()->probe_timeout * 2000ULL +
		  WATCH_MARGIN, ocall_tmr_h, oc);

	sr_account_call_placed(member_sra(m), serreg_now());
}


/**
 * A call event of a UA (from serreg.c's UA event handler)
 *
 * @param ua   The UA
 * @param ev   The event
 * @param call The call
 * @param prm  The event's text
 */
void calls_event(struct ua *ua, enum ua_event ev, struct call *call,
		 const char *prm)
{
	struct sr_answer ans;
	struct member *m;
	struct ocall *oc;

	if (ev == UA_EVENT_CALL_LOCAL_SDP) {
		if (!str_casecmp(prm, "offer"))
			placed(ua, call);
		return;
	}

	oc = ocall_find(call);
	if (!oc)
		return;

	switch (ev) {

	case UA_EVENT_CALL_RINGING:
	case UA_EVENT_CALL_PROGRESS:
	case UA_EVENT_CALL_ESTABLISHED:
		/* the far end answered: its first hop lives */
		mem_deref(oc);
		break;

	case UA_EVENT_CALL_CLOSED:
		m = member_find(ua);
		if (!m || !closed_failure(&ans, prm)) {
			mem_deref(oc);
			break;
		}

		/* the verdict of the check is awaited without the call */
		oc->call = NULL;
		sr_account_call_failed(member_sra(m), &ans, serreg_now());
		break;

	default:
		break;
	}
}


/**
 * Does a UA have an outgoing call whose first hop's verdict is awaited?
 *
 * @param ua The UA
 *
 * @return true if it has
 */
bool calls_pending(const struct ua *ua)
{
	struct le *le;

	for (le = list_head(&calls.l); le; le = le->next) {
		const struct ocall *oc = le->data;

		if (oc->ua == ua)
			return true;
	}

	return false;
}


/* "sip:user@host[:port]" of the fallback's domain (ua_connect() adds
   its AoR's URI parameters) */
static int uri_make(char **urip, const char *user, const struct ua *fua)
{
	const struct uri *luri = account_luri(ua_account(fua));
	bool v6;

	if (!luri)
		return EINVAL;

	v6 = luri->af == AF_INET6;

	if (luri->port)
		return re_sdprintf(urip, v6 ? "sip:%s@[%r]:%u" :
				   "sip:%s@%r:%u", user, &luri->host,
				   luri->port);

	return re_sdprintf(urip, v6 ? "sip:%s@[%r]" : "sip:%s@%r", user,
			   &luri->host);
}


/* place one watched call again through fua; the first is hung up
   before (its session CANCELs, or ACKs and BYEs a late 2xx) */
static void replace(struct ocall *oc, struct ua *fua)
{
	struct call *ncall = NULL;
	struct call *call = oc->call;
	struct ua *ua = oc->ua;
	char *uri = NULL;
	int err;

	err = uri_make(&uri, oc->user, fua);

	/* forgotten first: the hangup's CALL_CLOSED finds nothing */
	oc->call = NULL;
	if (call)
		ua_hangup(ua, call, 0, "serreg: tier failed, call placed "
			  "again");

	if (err)
		goto out;

	calls.placing = true;
	err = ua_connect(fua, &ncall, NULL, uri, VIDMODE_OFF);
	calls.placing = false;

 out:
	if (err) {
		warning("serreg: call to %s not placed again through %s "
			"(%m)\n", oc->user, serreg_aor(fua), err);
	}
	else {
		info("serreg: call to %s placed again through %s: %s\n",
		     oc->user, serreg_aor(fua), uri);
		platform_event(fua, "call", "aor=%s from=%s uri=%s",
			       serreg_aor(fua), serreg_aor(ua), uri);
	}

	mem_deref(uri);
}


/**
 * The engine heard the answer to a request of a UA with watched calls
 * (member.c): if the account failed, each of them is placed again
 * through the fallback named before the answer; if its check passed,
 * they are forgotten (the first hop lives).
 *
 * @param ua       The UA
 * @param fallback The engine's fallback before the answer, or NULL
 * @param failed   The account failed
 * @param passed   Its check passed
 */
void calls_verdict(struct ua *ua, struct sr_account *fallback, bool failed,
		   bool passed)
{
	struct member *fm = fallback ? sr_account_ref(fallback) : NULL;
	struct ua *fua = fm ? member_ua(fm) : NULL;
	struct le *le;

	if (!failed && !passed)
		return;

	le = list_head(&calls.l);
	while (le) {
		struct ocall *oc = le->data;

		le = le->next;

		if (oc->ua != ua)
			continue;

		if (failed && fua && fua != ua)
			replace(oc, fua);

		mem_deref(oc);

		/* (a hangup may have changed the list) */
		le = list_head(&calls.l);
	}
}


/* placed again from a timer: the account failed inside one of
   baresip's REGISTER events */
static void ocall_replace_h(void *arg)
{
	struct ocall *oc = arg;

	/* (the fallback's UA still serreg's: calls_forget() ran for one
	   removed) */
	if (member_find(oc->fua))
		replace(oc, oc->fua);

	mem_deref(oc);
}


/**
 * The account of a UA with watched calls failed inside one of baresip's
 * REGISTER events (a failed refresh, an outbound account's last flow):
 * each call is placed again through the fallback named before, from a
 * timer of 0, in libre's main loop.  A hangup and a dial there would
 * raise call events, and serreg's actions with them, while baresip is
 * still inside its reg client's handler.
 *
 * @param ua       The UA
 * @param fallback The engine's fallback before the failure, or NULL
 */
void calls_failed_later(struct ua *ua, struct sr_account *fallback)
{
	struct member *fm = fallback ? sr_account_ref(fallback) : NULL;
	struct ua *fua = fm ? member_ua(fm) : NULL;
	struct le *le = list_head(&calls.l);

	while (le) {
		struct ocall *oc = le->data;

		le = le->next;

		if (oc->ua != ua || oc->fua)
			continue;

		if (!fua || fua == ua) {
			mem_deref(oc);
			continue;
		}

		oc->fua = fua;
		tmr_start(&oc->tmr, 0, ocall_replace_h, oc);
	}
}


/**
 * Forget the watched calls of a UA that goes (its calls go without a
 * CALL_CLOSED)
 *
 * @param ua The UA
 */
void calls_forget(const struct ua *ua)
{
	struct le *le = list_head(&calls.l);

	while (le) {
		struct ocall *oc = le->data;

		le = le->next;

		if (oc->ua == ua || oc->fua == ua)
			mem_deref(oc);
	}
}


/** Forget every watched call (module close) */
void calls_close(void)
{
	list_flush(&calls.l);
	calls.placing = false;
}
