/**
 * @file probe.c  Probe client: one REGISTER with expires=0 (Cisco style)
 *
 * A probe is one REGISTER with "Contact: ...;expires=0" and "Expires: 0"
 * for a standby account, answered by digest auth when challenged.  The
 * same client sends the liveness check of a registered account: OPTIONS
 * to its registrar (R20).  It is
 * built on libre's dialog request API, not on sipreg, for three reasons
 * (all verified on Debian's libre 1.1.0):
 *
 * - a sipreg keeps a reference on baresip's SIP stack while a request is
 *   in flight, so a probe to a frozen registrar held "quit" for up to
 *   32 s (Timer F); a freed sip_request does not (R32);
 * - sipreg never reports a 4xx to an expires=0 REGISTER, and stops for
 *   good after it (R9): here every final answer is reported with its code;
 * - the probe keeps its own deadline, serreg_probe_timeout (R22).
 *
 * A binding query (PROBE_QUERY) is a REGISTER without Contact: the
 * registrar's 2xx lists the bindings it holds (RFC 3261 10.2.3), and the
 * answer says whether the UA's Contact is among them.  Sent late, it
 * changes nothing at the registrar.  It also asks a registrar that
 * refused a REGISTER with 503 for its Retry-After (R53, member.c).
 *
 * An answer that came over TLS is trusted only once the registrar's
 * certificate is verified (verify.c): libre's SIP transport does not
 * verify it.  Until then the answer is held; a registrar that fails
 * verification is reported as a failed answer, err = SERREG_ETLS + the
 * reason.  The deadline covers the verification too.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"


struct probe {
	struct sip_dialog *dlg;
	struct sip_auth *auth;
	struct sip_request *req;
	struct verify *ver;       /**< TLS verification under way */
	struct sip_loopstate ls;
	struct tmr tmr;           /**< deadline, then report     */
	struct sr_answer ans;
	struct sip_msg *msg;      /**< the final answer, if any  */
	char *cuser;              /**< Contact user, as the UA's */
	char *host;               /**< next hop, for TLS         */
	uint32_t timeout;         /**< [s]                       */
	uint32_t expires;         /**< REGISTER: 0 for a probe   */
	const char *met;          /**< REGISTER, or OPTIONS      */
	probe_h *resph;
	void *arg;
	bool verified;            /**< TLS registrar verified    */
	bool resend;              /**< credentials wait for it   */
	bool answered;
	bool done;
};

static void destructor(void *arg)
{
	struct probe *pr = arg;

	tmr_cancel(&pr->tmr);

	/* a request in flight is cancelled and calls nobody back */
	mem_deref(pr->req);
	mem_deref(pr->ver);
	mem_deref(pr->dlg);
	mem_deref(pr->auth);
	mem_deref(pr->msg);
	mem_deref(pr->cuser);
	mem_deref(pr->host);
	serreg_mem_freed(SERREG_OBJ_PROBE, sizeof(*pr));
}

/* Deadline, or the report of an answer outside libre's call stack */
static void tmr_handler(void *arg)
{
	struct probe *pr = arg;

	if (pr->done)
		return;

	if (!pr->answered) {
		memset(&pr->ans, 0, sizeof(pr->ans));
		pr->ans.err = ETIMEDOUT;
		pr->req = mem_deref(pr->req);
		pr->ver = mem_deref(pr->ver);
	}

	pr->done = true;
	pr->resph(&pr->ans, pr->arg);
}

/*
 * Retry-After = delta-seconds [ comment ] *( SEMI retry-param ), RFC 3261
 * 20.33: "120 (in a meeting);duration=60" is 120.  pl_u32() of the whole
 * value would be 0 (it stops at anything but a digit) and wraps on more
 * than 32 bits; 0 = no valid delta-seconds.
 */
static uint32_t retry_after(const struct pl *val)
{
	struct pl secs;
	uint64_t v;

	/* the first run of digits: the value starts with delta-seconds */
	if (re_regex(val->p, val->l, "[0-9]+", &secs))
		return 0;

	v = pl_u64(&secs);
	if (secs.l > 10 || v > UINT32_MAX)
		return UINT32_MAX;

	return (uint32_t)v;
}

static bool contact_handler(const struct sip_hdr *hdr,
			    const struct sip_msg *msg, void *arg)
{
	const struct probe *pr = arg;
	struct sip_addr addr;
	struct pl expires;
	(void)msg;

	if (sip_addr_decode(&addr, &hdr->val))
		return false;

	if (pl_strcmp(&addr.uri.user, pr->cuser))
		return false;

	/* ";expires=0" in a 2xx is a binding being removed */
	if (!msg_param_decode(&addr.params, "expires", &expires) &&
	    !pl_u32(&expires))
		return false;

	return true;
}


/* A query's verdict from its 2xx: is the UA's Contact bound? */
static enum sr_binding binding_of(const struct probe *pr,
				  const struct sip_msg *msg)
{
	if (pr->expires != PROBE_QUERY || msg->scode < 200 ||
	    msg->scode >= 300)
		return SR_BINDING_UNKNOWN;

	return sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, contact_handler,
				 (void *)pr) ? SR_BINDING_HELD :
		SR_BINDING_MISSING;
}


static void answer_set(struct probe *pr, int err, const struct sip_msg *msg)
{
	const struct sip_hdr *hdr;

	memset(&pr->ans, 0, sizeof(pr->ans));

	if (err || !msg) {
		pr->ans.err = err ? err : EPROTO;
		return;
	}

	pr->ans.scode   = msg->scode;
	pr->ans.binding = binding_of(pr, msg);

	hdr = sip_msg_hdr(msg, SIP_HDR_RETRY_AFTER);
	if (hdr)
		pr->ans.retry_after = retry_after(&hdr->val);

	mem_deref(pr->msg);
	pr->msg = mem_ref((struct sip_msg *)msg);
}

/* The owner is told from a 0 ms timer: it may free the probe there */
static void report(struct probe *pr)
{
	pr->answered = true;
	tmr_start(&pr->tmr, 0, tmr_handler, pr);
}

static int request(struct probe *pr);

/* The verdict on the TLS registrar whose answer is held */
static void verify_handler(int err, void *arg)
{
	struct probe *pr = arg;

	pr->ver = mem_deref(pr->ver);

	if (err) {
		answer_set(pr, err, NULL);
		report(pr);
		return;
	}

	pr->verified = true;

	/* a challenge: the credentials go to a verified registrar only */
	if (pr->resend) {
		pr->resend = false;

		err = request(pr);
		if (!err)
			return;

		answer_set(pr, err, NULL);
	}

	report(pr);
}

static int verify_start(struct probe *pr, const struct sip_msg *msg)
{
	if (!pr->host)
		return EINVAL;

	return serreg_verify(&pr->ver, &msg->src, pr->host, pr->timeout,
			     verify_handler, pr);
}

static int send_handler(enum sip_transp tp, const struct sa *src,
			const struct sa *dst, struct mbuf *mb, void *arg)
{
	struct probe *pr = arg;
	(void)dst;

	if (strcmp(pr->met, "REGISTER") || pr->expires == PROBE_QUERY)
		return 0;

	return mbuf_printf(mb, "Contact: <sip:%s@%J%s>;expires=%u\r\n",
			   pr->cuser, src, sip_transp_param(tp),
			   pr->expires);
}

static void resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct probe *pr = arg;
	bool tls;

	if (pr->answered || pr->ver)
		return;

	if (!err && msg && msg->scode < 200)
		return;

	/* over TLS: nothing is trusted or sent before verification */
	tls = !err && msg && msg->tp == SIP_TRANSP_TLS && !pr->verified;

	/* EAUTH: the credentials were refused already */
	if (!err && msg && (msg->scode == 401 || msg->scode == 407) &&
	    !sip_request_loops(&pr->ls, msg->scode) &&
	    !sip_auth_authenticate(pr->auth, msg)) {

		if (!tls && !request(pr))
			return;

		if (tls) {
			pr->resend = true;
			err = verify_start(pr, msg);
			if (!err)
				return;

			answer_set(pr, err, NULL);
			report(pr);
			return;
		}
	}

	answer_set(pr, err, msg);

	if (tls) {
		err = verify_start(pr, msg);
		if (!err)
			return;

		answer_set(pr, err, NULL);
	}

	report(pr);
}

static int request(struct probe *pr)
{
	if (strcmp(pr->met, "REGISTER") || pr->expires == PROBE_QUERY)
		return sip_drequestf(&pr->req, uag_sip(), true, pr->met,
				     pr->dlg, 0, pr->auth, send_handler,
				     resp_handler, pr,
				     "Content-Length: 0\r\n"
				     "\r\n");

	return sip_drequestf(&pr->req, uag_sip(), true, pr->met, pr->dlg,
			     0, pr->auth, send_handler, resp_handler, pr,
			     "Expires: %u\r\n"
			     "Content-Length: 0\r\n"
			     "\r\n",
			     pr->expires);
}

static int auth_handler(char **username, char **password,
			const char *realm, void *arg)
{
	return account_auth(arg, username, password, realm);
}

/**
 * Send one probe for a UA's account
 *
 * @param prp     Pointer to allocated probe; freeing it abandons the probe
 * @param ua      User agent whose registrar is probed
 * @param route   The server to send it to (a loose route), NULL: the
 *                account's outbound proxy, or as DNS orders its servers
 * @param met     "REGISTER" or "OPTIONS" (a check)
 * @param expires REGISTER: 0 for a probe, PROBE_QUERY for a binding
 *                query, else the binding's expiry [s]
 * @param timeout Deadline for an answer [s]
 * @param resph   Outcome handler, called once (never after freeing)
 * @param arg     Handler argument
 *
 * @return 0 if success (a request that could not be sent is reported
 *         as its outcome), otherwise errorcode (no probe)
 */
int probe_send(struct probe **prp, struct ua *ua, const char *route,
	       const char *met, uint32_t expires, uint32_t timeout,
	       probe_h *resph, void *arg)
{
	struct account *acc;
	struct probe *pr;
	struct uri uri;
	const char *routev[1];
	char *reg_uri = NULL;
	int err;

	if (!prp || !ua || !met || !resph || !uag_sip())
		return EINVAL;

	acc = ua_account(ua);
	if (!acc)
		return EINVAL;

	pr = mem_zalloc(sizeof(*pr), destructor);
	if (!pr)
		return ENOMEM;

	serreg_mem_alloced(SERREG_OBJ_PROBE, sizeof(*pr));

	pr->resph = resph;
	pr->arg   = arg;
	pr->met   = met;

	/* Request-URI: the AoR without user and password (as baresip) */
	uri = *account_luri(acc);
	uri.user     = pl_null;
	uri.password = pl_null;

	err = re_sdprintf(&reg_uri, "%H", uri_encode, &uri);
	if (err)
		goto out;

	routev[0] = route ? route : account_outbound(acc, 0);

	err  = sip_dialog_alloc(&pr->dlg, reg_uri, account_aor(acc),
				account_display_name(acc), account_aor(acc),
				routev[0] ? routev : NULL,
				routev[0] ? 1 : 0);
	err |= sip_auth_alloc(&pr->auth, auth_handler, acc, true);
	err |= str_dup(&pr->cuser, ua_local_cuser(ua));
	if (err)
		goto out;

	/* the name a TLS registrar's certificate must match */
	(void)serreg_verify_host(&pr->host, acc);
	pr->timeout = timeout;
	pr->expires = expires;

	/* not sent (no route, no transport...): that is its outcome */
	err = request(pr);
	if (err) {
		answer_set(pr, err, NULL);
		report(pr);
		err = 0;
		goto out;
	}

	tmr_start(&pr->tmr, timeout * 1000ULL, tmr_handler, pr);

 out:
	mem_deref(reg_uri);

	if (err)
		mem_deref(pr);
	else
		*prp = pr;

	return err;
}

/**
 * The final answer of a probe, for its owner's outcome handler
 *
 * @param pr Probe
 *
 * @return The SIP message, NULL if there was none (timeout, error)
 */
const struct sip_msg *probe_msg(const struct probe *pr)
{
	return pr ? pr->msg : NULL;
}
