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
 * Over UDP a probe is its own transaction.  libre 1.1.0 cannot stop a
 * client transaction: freed at the probe's deadline, it goes on
 * retransmitting (T1 doubling up to T2) until Timer F, 32 s, and the
 * given-up probes and checks of a whole fleet meet a registrar the
 * moment it returns (issue 20), or remove a binding made meanwhile
 * (issue 17).  So over UDP the probe is sent statelessly and
 * retransmitted here, on libre's schedule, until its deadline and never
 * after; its answer comes through one response listener, by Call-ID.
 * Over TCP and TLS libre sends once and reports a refused or reset
 * connection at once: those keep libre's transaction.
 *
 * libre 1.1.0 cannot take back a transaction whose name is still
 * resolving either: freed, it is only marked cancelled and sent when
 * the DNS answer comes (src/sip/request.c: the destructor keeps a
 * stateful request, the DNS handlers send it).  So a probe that ends
 * meanwhile leaves it behind, detached (struct txn): its send handler
 * refuses every address, nothing goes out, and libre ends it.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"


enum {
	TOMB_SIZE = 256,          /**< finished own probes remembered */
	TOMB_TIME = 8000,         /**< [ms] ... for their late answers */
};

/** Probes sent over UDP as their own transaction (see above) */
static struct {
	struct sip_lsnr *lsnr;    /**< answers to them             */
	struct hash *ht;          /**< struct probe, by Call-ID    */
	/* Call-IDs of finished ones: an answer to a retransmission that
	   comes after is theirs, not an unhandled response */
	struct {
		uint32_t key;
		uint64_t until;
	} tombv[TOMB_SIZE];
	unsigned tomb;            /**< next slot                   */
} own;

/** libre's transaction of a probe (TCP, TLS, a transport DNS chose) */
struct txn {
	struct le le;             /**< in txnl while detached     */
	struct sip_request *req;
	struct probe *pr;         /**< NULL once detached         */
};

/** Detached transactions that libre has not ended yet */
static struct list txnl;

struct probe {
	struct le he;             /**< in own.ht while own         */
	uint32_t key;             /**< ... by its Call-ID's hash   */
	struct tmr rtx;           /**< own: next retransmission    */
	uint32_t rto;             /**< own: ... its interval [ms]  */
	uint32_t cseq_first;      /**< own: CSeq of its first send */
	uint32_t cseq_last;       /**< ... and of its last one     */
	bool own;                 /**< sent statelessly (UDP)      */
	struct sip_dialog *dlg;
	struct sip_auth *auth;
	struct sip_request *req;  /**< own: its request, resolving */
	struct txn *txn;          /**< else: libre's transaction  */
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

static void txn_destructor(void *arg)
{
	struct txn *t = arg;

	list_unlink(&t->le);

	/* (alive: libre keeps it, cancelled, and calls nobody back) */
	mem_deref(t->req);
}


/*
 * The probe is done with its request.  Alive (resolving, or waiting for
 * its answer or its connection), libre would go on with it, freed or
 * not: it is kept, detached, until libre ends it, and sends nothing
 * more (no address after the next, no resend after a DNS answer).
 */
static void req_end(struct probe *pr)
{
	struct txn *t = pr->txn;

	pr->req = mem_deref(pr->req);

	if (!t)
		return;

	pr->txn = NULL;
	t->pr   = NULL;

	if (t->req) {
		list_append(&txnl, &t->le, t);
		return;
	}

	mem_deref(t);
}


static void destructor(void *arg)
{
	struct probe *pr = arg;

	tmr_cancel(&pr->tmr);
	tmr_cancel(&pr->rtx);

	if (pr->he.list) {
		own.tombv[own.tomb].key   = pr->key;
		own.tombv[own.tomb].until = tmr_jiffies() + TOMB_TIME;
		own.tomb = (own.tomb + 1) % TOMB_SIZE;
		hash_unlink(&pr->he);
	}

	/* a request in flight is cancelled and calls nobody back */
	req_end(pr);
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
		req_end(pr);
		pr->ver = mem_deref(pr->ver);
	}

	/* own: no retransmission after the deadline */
	tmr_cancel(&pr->rtx);

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

/* 423 to a REGISTER asking a binding: its expiry becomes Min-Expires */
static bool min_expires(struct probe *pr, int err, const struct sip_msg *msg)
{
	const struct sip_hdr *hdr;
	uint32_t min;

	if (err || !msg || msg->scode != 423 || !pr->expires ||
	    pr->expires == PROBE_QUERY || sip_request_loops(&pr->ls, 423))
		return false;

	hdr = sip_msg_hdr(msg, SIP_HDR_MIN_EXPIRES);
	if (!hdr)
		return false;

	min = pl_u32(&hdr->val);
	if (min <= pr->expires)
		return false;

	pr->expires = min;

	return true;
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

	/* a repair's binding shorter than the registrar's Min-Expires:
	   again with that, as libre's sipreg does (RFC 3261 10.2.8) */
	if (!tls && min_expires(pr, err, msg) && !request(pr))
		return;

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

/* libre sends a transaction's request: never once it is detached */
static int txn_send_handler(enum sip_transp tp, const struct sa *src,
			    const struct sa *dst, struct mbuf *mb, void *arg)
{
	struct txn *t = arg;

	if (!t->pr)
		return ECANCELED;

	return send_handler(tp, src, dst, mb, t->pr);
}


static void txn_resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct txn *t = arg;

	if (t->pr) {
		resp_handler(err, msg, t->pr);
		return;
	}

	/* detached: libre ended it */
	if (!msg || msg->scode >= 200) {
		debug("serreg: a given-up request ended (%m, %u)\n", err,
		      msg ? msg->scode : 0);
		mem_deref(t);
	}
}


static int send_request(struct probe *pr)
{
	struct sip_request **reqp = &pr->req;
	sip_send_h *sendh = send_handler;
	sip_resp_h *resph = resp_handler;
	struct txn *t = NULL;
	void *arg = pr;
	int err;

	if (!pr->own) {
		t = mem_zalloc(sizeof(*t), txn_destructor);
		if (!t)
			return ENOMEM;

		t->pr = pr;
		reqp  = &t->req;
		sendh = txn_send_handler;
		resph = txn_resp_handler;
		arg   = t;
	}

	if (strcmp(pr->met, "REGISTER") || pr->expires == PROBE_QUERY)
		err = sip_drequestf(reqp, uag_sip(), !pr->own, pr->met,
				    pr->dlg, 0, pr->auth, sendh, resph, arg,
				    "Content-Length: 0\r\n"
				    "\r\n");
	else
		err = sip_drequestf(reqp, uag_sip(), !pr->own, pr->met,
				    pr->dlg, 0, pr->auth, sendh, resph, arg,
				    "Expires: %u\r\n"
				    "Content-Length: 0\r\n"
				    "\r\n",
				    pr->expires);

	if (err)
		mem_deref(t);
	else
		pr->txn = t;

	return err;
}

/* Send it; an own one's CSeq numbers are kept (see own_find) */
static int send_cseq(struct probe *pr, bool first)
{
	uint32_t cseq = sip_dialog_lseq(pr->dlg);
	int err = send_request(pr);

	if (err || !pr->own)
		return err;

	if (first)
		pr->cseq_first = cseq;
	pr->cseq_last = cseq;

	return 0;
}


/* own: the next retransmission, on libre's schedule (RFC 3261
   17.1.2.2); the deadline ends them */
static void rtx_handler(void *arg)
{
	struct probe *pr = arg;

	if (pr->answered || pr->done)
		return;

	pr->rto = min(pr->rto * 2, (uint32_t)SIP_T2);
	tmr_start(&pr->rtx, pr->rto, rtx_handler, pr);

	/* (its name still resolving: that send is still to come) */
	if (pr->req)
		return;

	(void)send_cseq(pr, false);
}


/* Send the request; an own one is retransmitted from T1 on */
static int request(struct probe *pr)
{
	int err;

	req_end(pr);

	err = send_cseq(pr, true);
	if (err || !pr->own)
		return err;

	pr->rto = SIP_T1;
	tmr_start(&pr->rtx, pr->rto, rtx_handler, pr);

	return 0;
}


static bool callid_cmp_h(struct le *le, void *arg)
{
	const struct probe *pr = le->data;
	const struct sip_msg *msg = arg;

	return !pl_strcmp(&msg->callid, sip_dialog_callid(pr->dlg));
}


static bool cseq_cmp_h(struct le *le, void *arg)
{
	const struct probe *pr = le->data;
	const struct sip_msg *msg = arg;

	return msg->cseq.num - pr->cseq_first <=
		pr->cseq_last - pr->cseq_first &&
		!pl_strcmp(&msg->cseq.met, pr->met);
}


/*
 * The own probe an answer is for: by its Call-ID, or, as RFC 3261
 * 17.1.3 matches by the branch and the CSeq method only, by the CSeq
 * numbers it sent (an answer with a Call-ID changed on the way: every
 * own probe is looked at, for such answers only)
 */
static struct probe *own_find(const struct sip_msg *msg, uint32_t key)
{
	struct le *le;

	le = hash_lookup(own.ht, key, callid_cmp_h, (void *)msg);
	if (!le)
		le = hash_apply(own.ht, cseq_cmp_h, (void *)msg);

	return list_ledata(le);
}


/* An answer that no transaction of libre's took: an own probe's? */
static bool own_resp_handler(const struct sip_msg *msg, void *arg)
{
	uint32_t key = hash_joaat_pl(&msg->callid);
	uint64_t now = tmr_jiffies();
	struct probe *pr;
	unsigned i;
	(void)arg;

	pr = own_find(msg, key);
	if (!pr) {
		for (i = 0; i < TOMB_SIZE; i++) {
			if (own.tombv[i].key == key &&
			    own.tombv[i].until > now)
				return true;
		}

		return false;
	}

	if (pl_strcmp(&msg->cseq.met, pr->met))
		return true;

	/* RFC 3261 17.1.2.2: after a provisional answer, every T2 */
	if (msg->scode < 200) {
		pr->rto = SIP_T2;
		if (!pr->answered && !pr->done)
			tmr_start(&pr->rtx, pr->rto, rtx_handler, pr);
		return true;
	}

	tmr_cancel(&pr->rtx);
	resp_handler(0, msg, pr);

	return true;
}


/* Is the next hop of a probe UDP?  (A name without port and transport
   is resolved by NAPTR, which may choose another: libre's transaction
   then.) */
static bool hop_is_udp(const char *route, const struct account *acc)
{
	struct uri uri;
	struct pl pl, tp;

	if (route)
		pl_set_str(&pl, route);

	if (route && uri_decode(&uri, &pl))
		return false;

	if (!route)
		uri = *account_luri(acc);

	if (!pl_strcasecmp(&uri.scheme, "sips"))
		return false;

	if (!msg_param_decode(&uri.params, "transport", &tp))
		return !pl_strcasecmp(&tp, "udp");

	return uri.port || uri.af;
}


static int own_init(void)
{
	int err;

	if (own.lsnr)
		return 0;

	err = hash_alloc(&own.ht, 256);
	if (err)
		return err;

	err = sip_listen(&own.lsnr, uag_sip(), false, own_resp_handler,
			 NULL);
	if (err)
		own.ht = mem_deref(own.ht);

	return err;
}


/** The module closes: no probe is left */
void probe_close(void)
{
	own.lsnr = mem_deref(own.lsnr);
	own.ht   = mem_deref(own.ht);

	/* libre calls nothing of serreg's after this */
	list_flush(&txnl);
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
 * @param host    The name a TLS registrar's certificate must match (the
 *                configured next hop's: a route to a server's address
 *                names no host), NULL: the account's next hop
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
	       const char *host, const char *met, uint32_t expires,
	       uint32_t timeout, probe_h *resph, void *arg)
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
	if (host)
		(void)str_dup(&pr->host, host);
	else
		(void)serreg_verify_host(&pr->host, acc);
	pr->timeout = timeout;
	pr->expires = expires;

	/* over UDP: its own transaction, ended at its deadline */
	if (hop_is_udp(routev[0], acc) && !own_init()) {
		pr->own = true;
		pr->key = hash_joaat_str(sip_dialog_callid(pr->dlg));
		hash_append(own.ht, pr->key, &pr->he, pr);
	}

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
