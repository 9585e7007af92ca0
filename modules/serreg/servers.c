/**
 * @file servers.c  The servers of an account's registrar (RFC 3263)
 *
 * An account whose registrar (or outbound proxy) is a domain name is a
 * set of servers: libre resolves the name at each request and tries
 * every address it finds in order inside that request, remembering
 * nothing.  This file resolves the same name the same way, through
 * baresip's DNS client, so that the engine can track each server:
 *
 * - with a port in the URI: the name's addresses at that port;
 * - otherwise NAPTR when the URI gives no transport: the first record,
 *   by order and preference, whose service is SIP+D2U, SIP+D2T or
 *   SIPS+D2T on a transport baresip listens on;
 * - then SRV (of the transport given, of the NAPTR's, or else of TLS,
 *   TCP and UDP in turn, as libre), ordered as libre orders it:
 *   priority, then weight (with libre's key, the hash of the AoR);
 * - then the A and AAAA records of each target (AAAA only when baresip
 *   has an IPv6 transport, A only with an IPv4 one), from the SRV
 *   answer's additional section or asked for, ordered within the
 *   target as libre orders them (dns_rrlist_sort_addr, same key);
 * - a name without SRV records: its own addresses at the transport's
 *   default port (the NAPTR's or the URI's transport, else UDP).
 *
 * Every address is one server, as it is one try for libre.  The set is
 * resolved again when the shortest TTL of its records runs out (bounded
 * by TTL_MIN and TTL_MAX), and the owner hears of every change.  A name
 * without SRV records that has one address is one server: no set, asked
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
	TTL_NONE   = 300,    /**< [s] ... when the name is one server    */
	DNS_RETRY  = 30,     /**< [s] after a DNS error (the set stays)  */
	NAME_SIZE  = 64,
	ROUTE_SIZE = 96,
};

/** One server: an address of a target of the set */
struct server {
	struct sa addr;
	char name[NAME_SIZE];     /**< "udp:127.0.0.1:5070"         */
	char route[ROUTE_SIZE];   /**< its URI as a loose route     */
	uint32_t key;
};

/** A target being resolved: an SRV target, or the name itself */
struct target {
	char name[NAME_SIZE];
	uint16_t port;
	struct list addrl;        /**< its A/AAAA records (copies)  */
};

struct serverset {
	struct dns_query *dnsq;
	struct tmr tmr;            /**< next resolution              */
	char *host;                /**< the domain resolved          */
	enum sip_transp tp;        /**< transport of the set         */
	bool tp_uri;               /**< given by the URI             */
	bool tp_given;             /**< ... or by the NAPTR chosen   */
	uint16_t port;             /**< given by the URI, or 0       */
	unsigned tp_next;          /**< no NAPTR: next SRV transport */
	uint32_t key;              /**< libre's sort key: AoR hash   */
	uint32_t ttl;              /**< [s] of the set resolved      */

	struct server srvv[SR_SERVERS_MAX];  /**< the set in use       */
	unsigned n;

	/* the resolution in progress */
	struct target tgtv[SR_SERVERS_MAX];  /**< targets, in order    */
	unsigned ntgt;
	unsigned ti;               /**< target whose address is asked */
	uint16_t qtype;            /**< ... by this query (A, AAAA)  */
	bool by_srv;               /**< the targets came from SRV    */
	struct server newv[SR_SERVERS_MAX];
	unsigned nnew;
	int64_t newttl;

	serverset_h *changeh;
	void *arg;
};


/* the transports tried in turn without NAPTR, as libre does (those
   baresip listens on, from the last: TLS, TCP, UDP) */
static const enum sip_transp srv_tpv[] = {
	SIP_TRANSP_TLS, SIP_TRANSP_TCP, SIP_TRANSP_UDP
};


/* Has baresip a SIP transport tp of address family af (any: AF_UNSPEC) */
static bool tp_supported(enum sip_transp tp, int af)
{
	struct sa laddr, dst;

	sa_init(&dst, af);

	return uag_sip() && !sip_transp_laddr(uag_sip(), &laddr, tp,
					      af == AF_UNSPEC ? NULL : &dst);
}


/* libre's transport when nothing chose one: the first baresip has,
   in the order UDP, TCP, TLS */
static enum sip_transp tp_first(void)
{
	size_t i;

	for (i = ARRAY_SIZE(srv_tpv); i-- > 1;) {
		if (tp_supported(srv_tpv[i], AF_UNSPEC))
			break;
	}

	return srv_tpv[i];
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


static void targets_flush(struct serverset *ss)
{
	unsigned i;

	for (i = 0; i < ss->ntgt; i++)
		list_flush(&ss->tgtv[i].addrl);

	ss->ntgt = 0;
}


static void destructor(void *arg)
{
	struct serverset *ss = arg;

	tmr_cancel(&ss->tmr);
	mem_deref(ss->dnsq);
	targets_flush(ss);
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

	targets_flush(ss);

	/* a name that is one address is one server: no set, and asked
	   again seldom (most names are) */
	if (!ss->by_srv && ss->nnew < 2)
		ss->nnew = 0;

	changed = ss->nnew != ss->n;
	for (i = 0; i < ss->nnew && !changed; i++)
		changed = strcmp(ss->newv[i].name, ss->srvv[i].name) != 0;

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
	targets_flush(ss);
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


/* The address of an A or AAAA record at port */
static bool rr_addr(struct sa *sa, const struct dnsrr *rr, uint16_t port)
{
	switch (rr->type) {

	case DNS_TYPE_A:
		sa_set_in(sa, rr->rdata.a.addr, port);
		return true;

	case DNS_TYPE_AAAA:
		sa_set_in6(sa, rr->rdata.aaaa.addr, port);
		return true;

	default:
		return false;
	}
}


/* An A or AAAA record of a target: a copy is kept, once, if baresip
   can reach its address family on the set's transport */
static bool addr_add_h(struct dnsrr *rr, void *arg)
{
	struct serverset *ss = arg;
	struct target *t = &ss->tgtv[ss->ti];
	struct dnsrr *copy;
	struct sa sa, other;
	struct le *le;

	if (!rr_addr(&sa, rr, 0) || !tp_supported(ss->tp, sa_af(&sa)))
		return false;

	for (le = list_head(&t->addrl); le; le = le->next) {
		if (rr_addr(&other, le->data, 0) &&
		    sa_cmp(&sa, &other, SA_ADDR))
			return false;
	}

	copy = dns_rr_alloc();
	if (!copy)
		return true;

	copy->type     = rr->type;
	copy->dnsclass = rr->dnsclass;
	copy->ttl      = rr->ttl;
	copy->rdata    = rr->rdata;
	list_append(&t->addrl, &copy->le, copy);

	return false;
}


/* Every target has its addresses: one server per address, targets in
   order, addresses of a target in libre's order */
static void servers_build(struct serverset *ss)
{
	unsigned i;

	ss->nnew = 0;

	for (i = 0; i < ss->ntgt; i++) {
		struct target *t = &ss->tgtv[i];
		struct le *le;

		dns_rrlist_sort_addr(&t->addrl, ss->key);

		for (le = list_head(&t->addrl);
		     le && ss->nnew < SR_SERVERS_MAX; le = le->next) {
			struct dnsrr *rr = le->data;
			struct server *s = &ss->newv[ss->nnew++];

			memset(s, 0, sizeof(*s));
			(void)rr_addr(&s->addr, rr, t->port);
			ttl_take(ss, rr->ttl);
			server_name(s, ss->tp);
		}
	}

	done(ss);
}


static void addr_h(int err, const struct dnshdr *hdr, struct list *ansl,
		   struct list *authl, struct list *addl, void *arg);


/* Ask for the addresses of the next target that has none: A, then
   AAAA (each only if baresip has that address family), as libre */
static void addr_next(struct serverset *ss)
{
	int err;

	while (ss->ti < ss->ntgt) {
		struct target *t = &ss->tgtv[ss->ti];
		uint16_t next = 0;

		if (!ss->qtype && list_isempty(&t->addrl) &&
		    tp_supported(ss->tp, AF_INET))
			next = DNS_TYPE_A;
		else if (ss->qtype != DNS_TYPE_AAAA &&
			 (ss->qtype == DNS_TYPE_A ||
			  list_isempty(&t->addrl)) &&
			 tp_supported(ss->tp, AF_INET6))
			next = DNS_TYPE_AAAA;

		if (next) {
			ss->qtype = next;
			err = query(ss, t->name, next, addr_h);
			if (err)
				fail(ss, err);
			return;
		}

		++ss->ti;
		ss->qtype = 0;
	}

	servers_build(ss);
}


static void addr_h(int err, const struct dnshdr *hdr, struct list *ansl,
		   struct list *authl, struct list *addl, void *arg)
{
	struct serverset *ss = arg;
	(void)hdr;
	(void)authl;
	(void)addl;

	ss->dnsq = mem_deref(ss->dnsq);

	/* a target without an address is left out */
	if (!err)
		(void)dns_rrlist_apply2(ansl, NULL, DNS_TYPE_A,
					DNS_TYPE_AAAA, DNS_CLASS_IN, false,
					addr_add_h, ss);

	addr_next(ss);
}


/* The name itself is the one target, at port */
static void name_target(struct serverset *ss, uint16_t port)
{
	struct target *t = &ss->tgtv[0];

	str_ncpy(t->name, ss->host, sizeof(t->name));
	t->port  = port;
	ss->ntgt = 1;
	ss->ti   = 0;
	ss->qtype = 0;
	ss->by_srv = false;

	addr_next(ss);
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

	targets_flush(ss);
	for (le = list_head(ansl); le && ss->ntgt < SR_SERVERS_MAX;
	     le = le->next) {
		struct dnsrr *rr = le->data;
		struct target *t;

		if (rr->type != DNS_TYPE_SRV)
			continue;

		t = &ss->tgtv[ss->ntgt];
		str_ncpy(t->name, rr->rdata.srv.target, sizeof(t->name));
		t->port = rr->rdata.srv.port;
		ttl_take(ss, rr->ttl);

		/* its addresses in the additional section */
		ss->ti = ss->ntgt++;
		(void)dns_rrlist_apply2(addl, t->name, DNS_TYPE_A,
					DNS_TYPE_AAAA, DNS_CLASS_IN, true,
					addr_add_h, ss);
	}

	if (ss->ntgt) {
		ss->by_srv = true;
		ss->ti     = 0;
		ss->qtype  = 0;
		addr_next(ss);
		return;
	}

	/* none: the next transport; after the last, the name's own
	   addresses at the transport's default port (libre) */
	if (!ss->tp_given && ss->tp_next < ARRAY_SIZE(srv_tpv)) {
		err = srv_query(ss);
		if (!err)
			return;
		if (err != EPROTONOSUPPORT) {
			fail(ss, err);
			return;
		}
	}

	if (!ss->tp_given)
		ss->tp = tp_first();

	name_target(ss, sip_transp_port(ss->tp, 0));
}


/* SRV of the set's transport; without one, of the next in turn */
static int srv_query(struct serverset *ss)
{
	char name[256];

	if (!ss->tp_given) {
		while (ss->tp_next < ARRAY_SIZE(srv_tpv) &&
		       !tp_supported(srv_tpv[ss->tp_next], AF_UNSPEC))
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
			    !tp_supported(svcv[i].tp, AF_UNSPEC))
				continue;

			/* the NAPTR chose the transport: no other SRV
			   is tried if its own has no record (libre) */
			ss->tp       = svcv[i].tp;
			ss->tp_given = true;
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
	targets_flush(ss);
	ss->newttl  = -1;
	ss->tp_next = 0;
	ss->nnew    = 0;
	ss->by_srv  = false;
	ss->tp_given = ss->tp_uri;

	if (ss->port) {
		name_target(ss, ss->port);
		return 0;
	}

	if (ss->tp_given)
		return srv_query(ss);

	return query(ss, ss->host, DNS_TYPE_NAPTR, naptr_h);
}


/**
 * Resolve the servers of an account's registrar, and again at each TTL
 *
 * @param ssp     Pointer to the new server set
 * @param uri     The registrar's URI, or the outbound proxy's
 * @param aor     The account's AoR (libre's key to order records)
 * @param changeh Called when the set is first known and on each change
 * @param arg     Handler argument
 *
 * @return 0 if success, ENOENT if the URI names one server (an
 *         address), otherwise errorcode
 */
int serverset_alloc(struct serverset **ssp, const struct uri *uri,
		    const char *aor, serverset_h *changeh, void *arg)
{
	struct serverset *ss;
	struct sa sa;
	struct pl tp;
	int err;

	if (!ssp || !uri || !changeh)
		return EINVAL;

	if (!pl_isset(&uri->host) || !sa_set(&sa, &uri->host, 0))
		return ENOENT;

	ss = mem_zalloc(sizeof(*ss), destructor);
	if (!ss)
		return ENOMEM;

	ss->changeh = changeh;
	ss->arg     = arg;
	ss->port    = uri->port;

	err = pl_strdup(&ss->host, &uri->host);
	if (err)
		goto out;

	/* the key of the REGISTER dialog: the hash of its From URI */
	ss->key = hash_fast_str(aor ? aor : ss->host);

	if (!pl_strcasecmp(&uri->scheme, "sips")) {
		ss->tp     = SIP_TRANSP_TLS;
		ss->tp_uri = true;
	}
	else if (!msg_param_decode(&uri->params, "transport", &tp)) {
		ss->tp     = !pl_strcasecmp(&tp, "tcp") ? SIP_TRANSP_TCP :
			!pl_strcasecmp(&tp, "tls") ? SIP_TRANSP_TLS :
			SIP_TRANSP_UDP;
		ss->tp_uri = true;
	}
	else if (ss->port) {
		ss->tp = tp_first();
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
