/**
 * @file platform.c  What differs between Debian 12 and Debian 13
 *
 * serreg is built for the baresip-core installed (mk/serreg.mk):
 * baresip 1.0.0 with libre 1.1.0 (Debian 12) or baresip 1.1.0 with
 * libre 2.0.1 (Debian 13).  include/VERSION/baresip.h declares each
 * one's API and sets SERREG_BARESIP; this file is the only one that
 * looks at it.  What it covers (docs/design.md, "Platforms"):
 *
 * - serreg's own ctrl_tcp events: 1.0.0 has no module event, so they
 *   ride on UA_EVENT_MAX, which it encodes as type "?"; 1.1.0 has
 *   module_event() (type "MODULE", "serreg,KIND,key=value ...").
 * - baresip's current UA: 1.0.0 has uag_current_set(); 1.1.0 moved the
 *   current UA into the menu module, whose dial takes the first
 *   registered UA (uag_find_requri()), which serreg's single registered
 *   tier already is.
 * - the server name (SNI) of serreg's own TLS handshake: libre 1.1.0's
 *   tls_set_servername(); libre 2.0.1 sets it in tls_set_verify_server().
 * - 1.1.0's own fallback (account.so, uanew and a net change register
 *   only prio=0 accounts and put the others on ua_fallback(): a reg
 *   client that sends REGISTER expires=0 every fbregint and raises
 *   FALLBACK_OK/FAIL, or nothing after a 4xx).  serreg decides every
 *   registration itself, so it takes each such account over as 1.0.0's
 *   REGISTERING would have given it (held, then parked): at its start,
 *   when a look at uag_list()'s tail finds one added, or at its
 *   FALLBACK event; it stops the core's client, and registers again an
 *   account the core took to fallback while serreg had it registered
 *   (a net change).
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdarg.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"


enum {
	EVENT_SIZE = 256,     /**< serreg's event text (module_event's)  */
	SCAN_INTERVAL = 1000, /**< [ms] new UAs looked for (1.1.0)       */
};


#if SERREG_BARESIP >= 10100

/** A core fallback client to end, or an account to register again */
struct takeover {
	struct le le;
	struct ua *ua;
	bool reregister;
};

static struct {
	struct list takel;     /**< struct takeover, for take_tmr       */
	struct tmr take_tmr;   /**< outside the reg client's own handler */
	struct tmr scan_tmr;   /**< looks for UAs added since          */
	const struct le *tail; /**< uag_list()'s tail at the last look  */
} plat;


static void takeover_destructor(void *arg)
{
	struct takeover *t = arg;

	list_unlink(&t->le);
}


static void take_tmr_h(void *arg)
{
	struct le *le;
	(void)arg;

	while ((le = list_head(&plat.takel))) {
		struct takeover *t = le->data;
		struct ua *ua = t->ua;
		bool again = t->reregister;

		mem_deref(t);

		/* gone meanwhile (uadel): its member went with it */
		if (!member_find(ua))
			continue;

		if (again && account_regint(ua_account(ua))) {
			debug("serreg: %s: taken to the core's fallback "
			      "(net change): registering it again\n",
			      account_aor(ua_account(ua)));
			(void)ua_register(ua);
		}
		else if (!again && !account_regint(ua_account(ua))) {
			/* still held or parked (serreg did not register it
			   meanwhile: that replaced the core's client, and
			   this would end the new one); an expires=0 client
			   is not registered: its end sends nothing */
			ua_unregister(ua);
		}
	}

	exec_drain();
}


static void take_later(struct ua *ua, bool reregister)
{
	struct takeover *t = mem_zalloc(sizeof(*t), takeover_destructor);

	if (!t) {
		warning("serreg: %s: cannot take over from the core's "
			"fallback (no memory)\n",
			account_aor(ua_account(ua)));
		return;
	}

	t->ua = ua;
	t->reregister = reregister;
	list_append(&plat.takel, &t->le, t);
	tmr_start(&plat.take_tmr, 0, take_tmr_h, NULL);
}


/* A UA that the core put on its fallback client: a member now, parked
   (regint 0: a REGISTER of serreg's restores it and builds the client)
   and held, as a REGISTERING of 1.0.0 would have made it (the engine
   accounts for the client's expires=0 still on the way).  The client
   ends now, or from a 0 ms timer inside its own answer (`later`). */
static void take_over(struct ua *ua, bool later)
{
	struct member *m;

	if (member_add(&m, ua, 0))
		return;

	(void)account_set_regint(ua_account(ua), 0);

	/* not chosen on joining (its tier not in use): held */
	if (sr_account_state(member_sra(m)) != SR_ACC_REGISTERING &&
	    sr_account_state(member_sra(m)) != SR_ACC_VERIFYING)
		sr_account_registering(member_sra(m), serreg_now());

	/* without fbregint ua_fallback() built no client */
	if (!account_fbregint(ua_account(ua)))
		return;

	if (later)
		take_later(ua, false);
	else
		ua_unregister(ua);
}

/*
 * A UA added at run time (uanew) with prio > 0 gets ua_fallback(), which
 * raises no event until its first answer, and none at all when that is
 * a 4xx (libre 2.0.1 then ends the client's fallback silently).  New
 * UAs are appended to uag_list(): a look at its tail each second finds
 * them, O(1) when nothing was added.  A deleted UA (platform_ua_gone())
 * makes the next look walk the whole list: the tail kept may have been
 * its element, and a new UA may take its address.
 */
static void scan_tmr_h(void *arg)
{
	const struct le *tail = list_tail(uag_list());
	struct le *le;
	(void)arg;

	tmr_start(&plat.scan_tmr, SCAN_INTERVAL, scan_tmr_h, NULL);

	if (tail == plat.tail)
		return;

	for (le = (struct le *)tail; le && le != plat.tail; le = le->prev) {
		struct ua *ua = le->data;
		const struct account *acc = ua_account(ua);

		if (!member_find(ua) && account_regint(acc) &&
		    account_prio(acc))
			take_over(ua, false);
	}

	plat.tail = tail;
	exec_drain();
}

#endif


/**
 * serreg has started (every module loaded, the UAs there taken): look
 * for UAs added later that no event announces (1.1.0)
 */
void platform_start(void)
{
#if SERREG_BARESIP >= 10100
	plat.tail = list_tail(uag_list());
	tmr_start(&plat.scan_tmr, SCAN_INTERVAL, scan_tmr_h, NULL);
#endif
}


/**
 * serreg's own event to ctrl_tcp clients: "serreg KIND key=value ..."
 * (1.0.0, type "?") or "serreg,KIND,key=value ..." (1.1.0, type
 * "MODULE").  serreg's own UA event handler ignores both.
 *
 * @param ua   The UA it is about (may be NULL)
 * @param kind "move", "hot_standby", "server" or "pin"
 * @param fmt  The key=value pairs
 */
void platform_event(struct ua *ua, const char *kind, const char *fmt, ...)
{
	char text[EVENT_SIZE];
	va_list ap;

	va_start(ap, fmt);
	(void)re_vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

#if SERREG_BARESIP >= 10100
	module_event("serreg", kind, ua, NULL, "%s", text);
#else
	/* UA_EVENT_MAX: a value the core never raises; uag_event_str()
	   says "?" and the encoder's class is "other" */
	ua_event(ua, UA_EVENT_MAX, NULL, "serreg %s %s", kind, text);
#endif
}


/**
 * Make a UA baresip's current one (1.0.0); 1.1.0's menu dials through
 * the first registered UA, the tier in use
 *
 * @param ua The UA
 */
void platform_current_set(struct ua *ua)
{
#if SERREG_BARESIP >= 10100
	(void)ua;
#else
	uag_current_set(ua);
#endif
}


/**
 * Baresip's current UA (1.0.0), for serreg's move event; NULL on 1.1.0
 *
 * @return The UA, or NULL
 */
struct ua *platform_current(void)
{
#if SERREG_BARESIP >= 10100
	return NULL;
#else
	return uag_current();
#endif
}


/**
 * Verify the server of a TLS connection as `host`: the chain, and the
 * host name or IP address (OpenSSL's check), with the server name (SNI)
 * sent for a host name.  verify.c has set the same check on the
 * connection's own context.
 *
 * @param tc      TLS connection, before its handshake
 * @param host    Host name or IP address literal
 * @param is_name True if host is a name
 *
 * @return 0 if success, otherwise errorcode
 */
int platform_tls_verify(struct tls_conn *tc, const char *host, bool is_name)
{
	int err = 0;

#if SERREG_BARESIP >= 10100
	/* libre 2.0.1: the name's check and SNI, with a verify callback
	   of its own; an IP address it leaves to the context */
	if (is_name)
		err = tls_set_verify_server(tc, host);
#else
	err = tls_set_verify_server(tc, host);
	if (!err && is_name)
		err = tls_set_servername(tc, host);
#endif

	return err;
}


/**
 * A UA that serreg does not manage yet, seen when it starts: does the
 * core keep it on its own fallback client (1.1.0, prio > 0)?  Then
 * serreg takes it over (held, then parked).
 *
 * @param ua The UA
 *
 * @return true if it was taken over here
 */
bool platform_take_over(struct ua *ua)
{
#if SERREG_BARESIP >= 10100
	if (!account_prio(ua_account(ua)))
		return false;

	take_over(ua, false);
	return true;
#else
	(void)ua;
	return false;
#endif
}


/**
 * A UA is being deleted (uadel): the tail kept from the last look may be
 * its list element, and the next UA may be allocated at its address, so
 * the next look walks the whole list once (1.1.0)
 */
void platform_ua_gone(void)
{
#if SERREG_BARESIP >= 10100
	plat.tail = NULL;
#endif
}


/**
 * UA events that only one platform has (1.1.0's FALLBACK_OK/FAIL):
 * the core's fallback client of an account answered.
 *
 * - A UA serreg does not manage (uanew of a prio > 0 account): taken
 *   over, as at the start.
 * - A member with regint 0 (held: 1.1.0 repeats a held REGISTER's
 *   expires=0 every fbregint): its client is ended.
 * - A member with regint > 0: the core took an account serreg had
 *   registered to its fallback client (a net change re-registers only
 *   prio=0 accounts; the others' bindings went with their old
 *   clients): registered again.
 *
 * @param ua The UA
 * @param ev The event
 */
void platform_ua_event(struct ua *ua, enum ua_event ev)
{
#if SERREG_BARESIP >= 10100
	struct member *m;

	if (ev != UA_EVENT_FALLBACK_OK && ev != UA_EVENT_FALLBACK_FAIL)
		return;

	m = member_find(ua);
	if (!m) {
		if (account_regint(ua_account(ua)))
			take_over(ua, true);
		return;
	}

	take_later(ua, account_regint(ua_account(ua)) > 0);
#else
	(void)ua;
	(void)ev;
#endif
}


/** Free what is pending (module close) */
void platform_close(void)
{
#if SERREG_BARESIP >= 10100
	tmr_cancel(&plat.take_tmr);
	tmr_cancel(&plat.scan_tmr);
	list_flush(&plat.takel);
	plat.tail = NULL;
#endif
}
