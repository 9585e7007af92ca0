/**
 * @file watch.c  Watch of the connection to a registrar (R21)
 *
 * libre keeps one connection per registrar address and signals the
 * keepalives hooked on it when it closes: refused, reset, closed by the
 * peer, or no pong within 10 s of a CRLF ping (RFC 5626, section 4.4.1).
 * A watch is such a keepalive, started from a message that arrived on
 * the connection; the close is reported from a 0 ms timer, outside
 * libre's connection handler.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"



struct watch {
	struct sip_keepalive *ka;
	struct tmr tmr;
	watch_h *closeh;
	void *arg;
	int err;
};


static void destructor(void *arg)
{
	struct watch *w = arg;

	tmr_cancel(&w->tmr);
	mem_deref(w->ka);
	serreg_mem_freed(SERREG_OBJ_WATCH, sizeof(*w));
}


static void tmr_handler(void *arg)
{
	struct watch *w = arg;

	w->closeh(w->err, w->arg);
}


static void keepalive_handler(int err, void *arg)
{
	struct watch *w = arg;

	/* libre freed the keepalive before calling */
	w->ka  = NULL;
	w->err = err ? err : ECONNRESET;
	tmr_start(&w->tmr, 0, tmr_handler, w);
}


/**
 * Does a message come over a connection (TCP or TLS) that can be watched?
 *
 * @param msg SIP message
 *
 * @return true if so
 */
bool watch_flow(const struct sip_msg *msg)
{
	return msg && (msg->tp == SIP_TRANSP_TCP || msg->tp == SIP_TRANSP_TLS);
}


/**
 * Watch the connection a message arrived on
 *
 * @param wp       Pointer to allocated watch; freeing it ends the watch
 * @param msg      A message received on the connection
 * @param interval CRLF ping interval [s], 0 for libre's default (120 s);
 *                 libre pings no more often than every 20 s
 * @param closeh   Handler called when the connection is gone
 * @param arg      Handler argument
 *
 * @return 0 if success, otherwise errorcode
 */
int watch_start(struct watch **wp, const struct sip_msg *msg,
		uint32_t interval, watch_h *closeh, void *arg)
{
	struct watch *w;
	int err;

	if (!wp || !watch_flow(msg) || !closeh)
		return EINVAL;

	w = mem_zalloc(sizeof(*w), destructor);
	if (!w)
		return ENOMEM;

	serreg_mem_alloced(SERREG_OBJ_WATCH, sizeof(*w));

	w->closeh = closeh;
	w->arg    = arg;

	err = sip_keepalive_start(&w->ka, uag_sip(), msg, interval,
				  keepalive_handler, w);
	if (err) {
		mem_deref(w);
		return err;
	}

	*wp = w;

	return 0;
}
