/**
 * @file servers.c  The servers of an account's registrar (RFC 3263)
 *
 * An account whose registrar (or outbound proxy) is a domain name with
 * no port is a set of servers: libre resolves it at each request (NAPTR,
 * then SRV, then A) and tries the targets in order inside that request,
 * remembering nothing.  This file resolves the same name the same way,
 * through baresip's DNS client, so that the engine can track each server:
 *
 * - NAPTR when the URI gives no transport: the first record, by order and
 *   preference, whose service is SIP+D2U, SIP+D2T or SIPS+D2T on a
 *   transport baresip listens on;
 * - then SRV (of the transport given, of the NAPTR's, or else of TLS,
 *   TCP and UDP in turn, as libre), ordered as libre orders it:
 *   priority, then weight (with libre's hash of the target);
 * - then one A record per target.
 *
 * The set is resolved again when the shortest TTL of its records runs
 * out (bounded by TTL_MIN and TTL_MAX), and the owner hears of every
 * change.  A name without SRV records is one server: no set, asked
 * again every TTL_NONE.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"


enum {
	TTL_MIN    = 5,      /**< [s] least time between two resolutions */
	TTL_MAX    = 3600,   /**< [s] most time between two resolutions  */
	TTL_NONE   = 300,    /**< [s] ... when the name has no SRV set   */
	DNS_RETRY  = 30,     /**< [s] after a DNS error (the set stays)  */
	NAME_SIZE  = 64,
	ROUTE_SIZE = 96,
};

/** One server: a target of the set, with its address */
struct server {
	char target[NAME_SIZE];   /**< SRV target name              */
	uint16_t port;
	struct sa addr;
	char name[NAME_SIZE];     /**< "udp:127.0.0.1:5070"         */
	char route[ROUTE_SIZE];   /**< its URI as a loose route     */
	uint32_t key;
};

struct serverset {
	struct dns_query *dnsq;
	struct tmr tmr;            /**< next resolution              */
	char *host;                /**< the domain resolved          */
	enum sip_transp tp;        /**< transport of the set         */
	bool tp_given;             /**< by the URI (no NAPTR)        */
	unsigned tp_next;          /**< no NAPTR: next SRV transport */
	uint32_t key;              /**< SRV sort key (libre's hash)  */
	uint32_t ttl;              /**< [s] of the set resolved      */

	struct server srvv[SR_SERVERS_MAX];  /**< the set in use       */
	unsigned n;

	struct server newv[SR_SERVERS_MAX];  /**< being resolved       */
	unsigned nnew;
	unsigned ai;               /**< next target to find an A for */
	int64_t newttl;

	serverset_h *changeh;
	void *arg;
};


/* the transports tried in turn without NAPTR, as libre does (those
   baresip listens on, from the last: TLS, TCP, UDP) */
static const enum sip_transp srv_tpv[] = {
	SIP_TRANSP_TLS, SIP_TRANSP_TCP, SIP_TRANSP_UDP
};


static bool tp_supported(enum sip_transp tp)
{
	struct sa laddr;

	return uag_sip() && !sip_transp_laddr(uag_sip(), &laddr, tp, NULL);
}


/* the SRV service of a transport (RFC 3263 4.1) */
static const char *srv_service(enum sip_transp tp)
{
	switch (tp) {

	case SIP_TRANSP_TCP: return "_sip._tcp";
	case SIP_TRANSP_TLS: return "_sips._tcp";
	default:             return "_sip._udp";
	}
}


static void destructor(void *arg)
{
	struct serverset *ss = arg;

	tmr_cancel(&ss->tmr);
	mem_deref(ss->dnsq);
	mem_deref(ss->host);
}


static int resolve(struct serverset *ss);


static void resolve_tmr_h(void *arg)
{
	struct serverset *ss = arg;

	if (resolve(ss))
		tmr_start(&ss->tmr, DNS_RETRY * 1000, resolve_tmr_h, ss);
}


static void ttl_take(struct serverset *ss, int64_t ttl)
{
	if (ss->newttl < 0 || ttl < ss->newttl)
		ss->newttl = ttl;
}


/* The new set is resolved: the owner hears if it differs */
static void done(struct serverset *ss)
{
	uint32_t ttl;
	bool changed;
	unsigned i;

	changed = ss->nnew != ss->n;
	for (i = 0; i < ss->nnew && !changed; i++)
		changed = strcmp(ss->newv[i].name, ss->srvv[i].name) != 0;

	/* no SRV record: asked again seldom (most names have none) */
	if (!ss->nnew)
		ttl = TTL_NONE;
	else if (ss->newttl < 0)
		ttl = TTL_MIN;
	else
		ttl = (uint32_t)min(max(ss->newttl, (int64_t)TTL_MIN),
				    (int64_t)TTL_MAX);

	memcpy(ss->srvv, ss->newv, sizeof(ss->srvv));
	ss->n   = ss->nnew;
	ss->ttl = ttl;

	tmr_start(&ss->tmr, ttl * 1000ULL, resolve_tmr_h, ss);

	if (changed)
		ss->changeh(ss->arg);
}


static void fail(struct serverset *ss, int err)
{
	debug("serreg: servers of %s not resolved (%m)\n", ss->host, err);
	tmr_start(&ss->tmr, DNS_RETRY * 1000, resolve_tmr_h, ss);
}


static int query(struct serverset *ss, const char *name, uint16_t type,
		 dns_query_h *qh)
{
	struct dnsc *dnsc = net_dnsc(baresip_network());

	if (!dnsc)
		return ENOTSUP;

	ss->dnsq = mem_deref(ss->dnsq);

	return dnsc_query(&ss->dnsq, dnsc, name, type, DNS_CLASS_IN, true,
			  qh, ss);
}


static void addr_next(struct serverset *ss);


/* The address of target ai: the first A record */
static void a_h(int err, const struct dnshdr *hdr, struct list *ansl,
		struct list *authl, struct list *addl, void *arg)
{
	struct serverset *ss = arg;
	struct server *s = &ss->newv[ss->ai];
	struct le *le;
	(void)hdr;
	(void)authl;
	(void)addl;

	ss->dnsq = mem_deref(ss->dnsq);

	for (le = list_head(ansl); le && !err; le = le->next) {
		struct dnsrr *rr = le->data;

		if (rr->type != DNS_TYPE_A)
			continue;

		sa_set_in(&s->addr, rr->rdata.a.addr, s->port);
		ttl_take(ss, rr->ttl);
		break;
	}

	++ss->ai;
	addr_next(ss);
}


/* Name and route of a server with an address */
static void server_name(struct server *s, enum sip_transp tp)
{
	const char *tpn = sip_transp_name(tp);
	char lower[8];
	size_t i;

	for (i = 0; i + 1 < sizeof(lower) && tpn[i]; i++)
		lower[i] = (char)(tpn[i] | 0x20);
	lower[i] = '\0';

	re_snprintf(s->name, sizeof(s->name), "%s:%J", lower, &s->addr);
	re_snprintf(s->route, sizeof(s->route), "sip:%J;transport=%s;lr",
		    &s->addr, lower);
	s->key = hash_fast_str(s->name);
}


/* Find an address for each target in turn; then the set is complete */
static void addr_next(struct serverset *ss)
{
	unsigned i, n;
	int err;

	while (ss->ai < ss->nnew) {
		struct server *s = &ss->newv[ss->ai];

		if (sa_isset(&s->addr, SA_ADDR)) {
			++ss->ai;
			continue;
		}

		err = query(ss, s->target, DNS_TYPE_A, a_h);
		if (!err)
			return;

		fail(ss, err);
		return;
	}

	/* targets without an address are left out */
	for (i = 0, n = 0; i < ss->nnew; i++) {
		if (!sa_isset(&ss->newv[i].addr, SA_ADDR))
			continue;

		ss->newv[n] = ss->newv[i];
		server_name(&ss->newv[n], ss->tp);
		++n;
	}

	ss->nnew = n;
	done(ss);
}


/* An A record in the additional section for a target */
static bool add_a_h(struct dnsrr *rr, void *arg)
{
	struct server *s = arg;

	if (rr->type != DNS_TYPE_A || str_casecmp(rr->name, s->target))
		return false;

	sa_set_in(&s->addr, rr->rdata.a.addr, s->port);

	return true;
}


static int srv_query(struct serverset *ss);


static void srv_h(int err, const struct dnshdr *hdr, struct list *ansl,
		  struct list *authl, struct list *addl, void *arg)
{
	struct serverset *ss = arg;
	struct le *le;
	(void)hdr;
	(void)authl;

	ss->dnsq = mem_deref(ss->dnsq);

	if (err) {
		fail(ss, err);
		return;
	}

	dns_rrlist_sort(ansl, DNS_TYPE_SRV, ss->key);

	ss->nnew = 0;
	for (le = list_head(ansl); le && ss->nnew < SR_SERVERS_MAX;
	     le = le->next) {
		struct dnsrr *rr = le->data;
		struct server *s;

		if (rr->type != DNS_TYPE_SRV)
			continue;

		s = &ss->newv[ss->nnew++];
		memset(s, 0, sizeof(*s));
		str_ncpy(s->target, rr->rdata.srv.target, sizeof(s->target));
		s->port = rr->rdata.srv.port;
		ttl_take(ss, rr->ttl);

		(void)dns_rrlist_apply(addl, NULL, DNS_TYPE_A, DNS_CLASS_IN,
				       false, add_a_h, s);
	}

	/* none: the next transport, or one server (no set) */
	if (!ss->nnew && !ss->tp_given &&
	    ss->tp_next < ARRAY_SIZE(srv_tpv)) {
		err = srv_query(ss);
		if (err == EPROTONOSUPPORT)
			done(ss);
		else if (err)
			fail(ss, err);
		return;
	}

	ss->ai = 0;
	addr_next(ss);
}


/* SRV of the set's transport; without one, of the next in turn */
static int srv_query(struct serverset *ss)
{
	char name[256];

	if (!ss->tp_given) {
		while (ss->tp_next < ARRAY_SIZE(srv_tpv) &&
		       !tp_supported(srv_tpv[ss->tp_next]))
			++ss->tp_next;

		if (ss->tp_next >= ARRAY_SIZE(srv_tpv))
			return EPROTONOSUPPORT;

		ss->tp = srv_tpv[ss->tp_next++];
	}

	if (re_snprintf(name, sizeof(name), "%s.%s",
			srv_service(ss->tp), ss->host) < 0)
		return ENOMEM;

	return query(ss, name, DNS_TYPE_SRV, srv_h);
}


static void naptr_h(int err, const struct dnshdr *hdr, struct list *ansl,
		    struct list *authl, struct list *addl, void *arg)
{
	static const struct {
		const char *service;
		enum sip_transp tp;
	} svcv[] = {
		{"SIP+D2U",  SIP_TRANSP_UDP},
		{"SIP+D2T",  SIP_TRANSP_TCP},
		{"SIPS+D2T", SIP_TRANSP_TLS},
	};
	struct serverset *ss = arg;
	struct le *le;
	size_t i;
	(void)hdr;
	(void)authl;
	(void)addl;

	ss->dnsq = mem_deref(ss->dnsq);

	if (!err)
		dns_rrlist_sort(ansl, DNS_TYPE_NAPTR, ss->key);

	for (le = list_head(ansl); le && !err; le = le->next) {
		struct dnsrr *rr = le->data;

		if (rr->type != DNS_TYPE_NAPTR)
			continue;

		for (i = 0; i < ARRAY_SIZE(svcv); i++) {
			if (str_casecmp(rr->rdata.naptr.services,
					svcv[i].service) ||
			    !tp_supported(svcv[i].tp))
				continue;

			/* the NAPTR chose the transport: no other SRV
			   is tried if its own has no record (libre) */
			ss->tp      = svcv[i].tp;
			ss->tp_next = ARRAY_SIZE(srv_tpv);
			ttl_take(ss, rr->ttl);
			err = query(ss, rr->rdata.naptr.replace,
				    DNS_TYPE_SRV, srv_h);
			if (err)
				fail(ss, err);
			return;
		}
	}

	err = srv_query(ss);
	if (err)
		fail(ss, err);
}


static int resolve(struct serverset *ss)
{
	ss->newttl  = -1;
	ss->tp_next = 0;
	ss->nnew    = 0;

	if (ss->tp_given)
		return srv_query(ss);

	return query(ss, ss->host, DNS_TYPE_NAPTR, naptr_h);
}


/**
 * Resolve the servers of an account's registrar, and again at each TTL
 *
 * @param ssp     Pointer to the new server set
 * @param uri     The registrar's URI, or the outbound proxy's
 * @param changeh Called when the set is first known and on each change
 * @param arg     Handler argument
 *
 * @return 0 if success, ENOENT if the URI names one server (an address,
 *         a port), otherwise errorcode
 */
int serverset_alloc(struct serverset **ssp, const struct uri *uri,
		    serverset_h *changeh, void *arg)
{
	struct serverset *ss;
	struct sa sa;
	struct pl tp;
	int err;

	if (!ssp || !uri || !changeh)
		return EINVAL;

	if (uri->port || !pl_isset(&uri->host) ||
	    !sa_set(&sa, &uri->host, 0))
		return ENOENT;

	ss = mem_zalloc(sizeof(*ss), destructor);
	if (!ss)
		return ENOMEM;

	ss->changeh = changeh;
	ss->arg     = arg;

	err = pl_strdup(&ss->host, &uri->host);
	if (err)
		goto out;

	ss->key = hash_fast_str(ss->host);

	if (!pl_strcasecmp(&uri->scheme, "sips")) {
		ss->tp       = SIP_TRANSP_TLS;
		ss->tp_given = true;
	}
	else if (!msg_param_decode(&uri->params, "transport", &tp)) {
		ss->tp       = !pl_strcasecmp(&tp, "tcp") ? SIP_TRANSP_TCP :
			!pl_strcasecmp(&tp, "tls") ? SIP_TRANSP_TLS :
			SIP_TRANSP_UDP;
		ss->tp_given = true;
	}

	err = resolve(ss);

 out:
	if (err)
		mem_deref(ss);
	else
		*ssp = ss;

	return err;
}


unsigned serverset_count(const struct serverset *ss)
{
	return ss ? ss->n : 0;
}


/** Server i's name, "udp:127.0.0.1:5070", "?" when out of the set */
const char *serverset_name(const struct serverset *ss, unsigned i)
{
	return ss && i < ss->n ? ss->srvv[i].name : "?";
}


/** Server i as a loose route, NULL when out of the set */
const char *serverset_route(const struct serverset *ss, unsigned i)
{
	return ss && i < ss->n ? ss->srvv[i].route : NULL;
}


uint32_t serverset_key(const struct serverset *ss, unsigned i)
{
	return ss && i < ss->n ? ss->srvv[i].key : 0;
}


/** [s] until the set is resolved again */
uint32_t serverset_ttl(const struct serverset *ss)
{
	return ss ? ss->ttl : 0;
}
