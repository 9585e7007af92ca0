/**
 * @file probe.c  Probe client over libre's sipreg (expires=0 REGISTER)
 *
 * libre 1.1.0's sipreg calls its response handler for an expires=0
 * REGISTER only when sipreg_set_fbregint() was set, and never after a
 * 4xx.  So each probe sets a long fbregint (its own timer never fires:
 * the probe is freed first) and keeps its own deadline: with no answer
 * by then, sipreg_failed() tells a hidden 4xx from silence.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "baresip.h"
#include "serreg_engine.h"
#include "serreg_probe.h"


enum {
	/* longer than any deadline: libre's re-probe timer never fires */
	SIPREG_FBREGINT = 86400,
};


struct probe {
	struct sipreg *reg;
	struct tmr tmr;           /**< deadline, then report     */
	struct sr_answer ans;
	probe_h *resph;
	void *arg;
	bool answered;
	bool done;
};


static void destructor(void *arg)
{
	struct probe *pr = arg;

	tmr_cancel(&pr->tmr);
	mem_deref(pr->reg);
}


static void finish(struct probe *pr, const struct sr_answer *ans)
{
	if (pr->done)
		return;

	pr->done = true;
	tmr_cancel(&pr->tmr);
	pr->resph(ans, pr->arg);
}


/* Deadline, or the report of an answer outside libre's call stack */
static void tmr_handler(void *arg)
{
	struct probe *pr = arg;

	if (!pr->answered) {
		memset(&pr->ans, 0, sizeof(pr->ans));

		/* libre counted a failure but stayed silent: a final 4xx */
		if (sipreg_failed(pr->reg))
			pr->ans.scode = 400;
		else
			pr->ans.err = ETIMEDOUT;
	}

	finish(pr, &pr->ans);
}


/*
 * The answer is reported from a 0 ms timer, so that the owner may free
 * the probe (and its sipreg) in its handler.
 */
static void resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct probe *pr = arg;
	const struct sip_hdr *hdr;

	if (pr->answered || pr->done)
		return;

	memset(&pr->ans, 0, sizeof(pr->ans));

	if (err || !msg) {
		pr->ans.err = err ? err : EPROTO;
	}
	else {
		pr->ans.scode = msg->scode;

		hdr = sip_msg_hdr(msg, SIP_HDR_RETRY_AFTER);
		if (hdr)
			pr->ans.retry_after = pl_u32(&hdr->val);
	}

	pr->answered = true;
	tmr_start(&pr->tmr, 0, tmr_handler, pr);
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
 * @param timeout Deadline for an answer [s]
 * @param resph   Outcome handler
 * @param arg     Handler argument
 *
 * @return 0 if success, otherwise errorcode (nothing was sent)
 */
int probe_send(struct probe **prp, struct ua *ua, uint32_t timeout,
	       probe_h *resph, void *arg)
{
	struct account *acc;
	struct probe *pr;
	struct uri uri;
	const char *routev[1];
	const char *outbound;
	char *reg_uri = NULL;
	int err;

	if (!prp || !ua || !resph || !uag_sip())
		return EINVAL;

	acc = ua_account(ua);
	if (!acc)
		return EINVAL;

	pr = mem_zalloc(sizeof(*pr), destructor);
	if (!pr)
		return ENOMEM;

	pr->resph = resph;
	pr->arg   = arg;

	/* Request-URI: the AoR without user and password (as baresip) */
	uri = *account_luri(acc);
	uri.user     = pl_null;
	uri.password = pl_null;

	err = re_sdprintf(&reg_uri, "%H", uri_encode, &uri);
	if (err)
		goto out;

	outbound = account_outbound(acc, 0);
	routev[0] = outbound;

	err = sipreg_register(&pr->reg, uag_sip(), reg_uri,
			      account_aor(acc), account_display_name(acc),
			      account_aor(acc), 0, ua_local_cuser(ua),
			      outbound ? routev : NULL, outbound ? 1 : 0, 0,
			      auth_handler, acc, true,
			      resp_handler, pr, NULL, NULL);
	if (err)
		goto out;

	err = sipreg_set_fbregint(pr->reg, SIPREG_FBREGINT);
	if (err)
		goto out;

	tmr_start(&pr->tmr, timeout * 1000ULL, tmr_handler, pr);

 out:
	mem_deref(reg_uri);

	if (err)
		mem_deref(pr);
	else
		*prp = pr;

	return err;
}
