/**
 * @file verify.c  Verification of a TLS registrar's certificate
 *
 * libre 1.1.0's SIP transport never asks OpenSSL to verify the server:
 * baresip 1.0.0 registers over TLS to any certificate.  Before serreg
 * trusts an answer that came over TLS (a probe, a check, the check
 * before a TLS tier is activated), it makes its own TCP+TLS connection
 * to the address that answered and verifies the server's certificate
 * chain against baresip's sip_cafile (the system's trust store when it
 * is not set) and the host name of the next hop (outbound proxy, else
 * registrar): OpenSSL's host or IP address check, set on the context
 * here and by libre's tls_set_verify_server() (platform.c).  The
 * connection sends nothing and is closed at once.
 *
 * The verdict is cached per (address, host name) for VERIFY_TTL and
 * shared by every account using that registrar, so the cost is at most
 * one handshake per registrar and VERIFY_TTL.  A verdict that differs
 * from the previous one for the same registrar is logged once.
 *
 * OpenSSL calls: libre 1.1.0 clears OpenSSL's reason when a handshake
 * fails, so the first certificate error is taken from a verify callback
 * on this connection's own SSL_CTX (tls_openssl_context()).
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"



enum {
	VERIFY_TTL  = 30000,     /**< [ms] a certificate verdict is reused */
	ENTRY_IDLE  = 3600000,   /**< [ms] an unused registrar is forgotten */
	PATH_SIZE   = 256,
};


/** One registrar (address and host name), its verdict and handshake */
struct ventry {
	struct le le;              /**< in verify.entryl              */
	struct sa peer;
	char *host;
	struct list reql;          /**< struct verify, waiting        */
	struct tls *tls;           /**< own context, per handshake    */
	struct tcp_conn *tcp;
	struct tls_conn *tc;
	struct tmr tmr;            /**< deadline, then the report     */
	char cafile[PATH_SIZE];
	uint64_t until;            /**< the verdict is valid until    */
	uint64_t used;
	int verdict;               /**< 0 verified, else an err       */
	int result;                /**< of the handshake under way    */
	long x509;                 /**< first certificate error       */
	bool known;                /**< a verdict was logged          */
	bool running;
	bool finished;             /**< result set, report pending    */
};

/** One caller waiting for a verdict */
struct verify {
	struct le le;              /**< in ventry.reql                */
	struct tmr tmr;            /**< to report a cached verdict    */
	int err;
	verify_h *vh;
	void *arg;
};


static struct {
	struct list entryl;
	int exidx;                 /**< SSL_CTX ex_data index of ours  */
	bool have_exidx;
} verify;


/*
 * The SSL_CTX ex_data index that carries the ventry to verify_cb().
 * Index 0 is OpenSSL's "app data" slot, free to any user of the
 * context: ours comes from SSL_CTX_get_ex_new_index(), once.
 */
static int ctx_exidx(void)
{
	if (!verify.have_exidx) {
		verify.exidx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
							NULL);
		if (verify.exidx < 0)
			return -1;

		verify.have_exidx = true;
	}

	return verify.exidx;
}


static bool is_cert_verdict(int err)
{
	return err == 0 || serreg_verify_failed(err);
}


static void conn_close(struct ventry *e)
{
	/* the tls_conn uses the context without a reference */
	e->tc  = mem_deref(e->tc);
	e->tcp = mem_deref(e->tcp);
	e->tls = mem_deref(e->tls);
}


static void entry_destructor(void *arg)
{
	struct ventry *e = arg;
	struct le *le;

	tmr_cancel(&e->tmr);
	conn_close(e);

	/* the callers own their requests: only unlink them */
	while ((le = list_head(&e->reql))) {
		list_unlink(le);
	}

	list_unlink(&e->le);
	mem_deref(e->host);
}


static void verify_destructor(void *arg)
{
	struct verify *v = arg;

	tmr_cancel(&v->tmr);
	list_unlink(&v->le);
}


/** A verdict in words, for the log line, `serreg` and the move event */
void serreg_verify_print(char *buf, size_t sz, int err)
{
	if (!buf || !sz)
		return;

	if (!serreg_verify_failed(err))
		re_snprintf(buf, sz, "%m", err);
	else if (err == SERREG_ETLS)
		re_snprintf(buf, sz, "TLS handshake failed");
	else
		re_snprintf(buf, sz, "TLS certificate not verified: %s",
			    X509_verify_cert_error_string(err - SERREG_ETLS));
}


/** Is err the verdict of a TLS registrar that failed verification? */
bool serreg_verify_failed(int err)
{
	return err >= SERREG_ETLS && err <= SERREG_ETLS_MAX;
}


static void log_verdict(struct ventry *e)
{
	char why[128];
	bool changed = !e->known || e->verdict != e->result;

	if (!is_cert_verdict(e->result)) {
		debug("serreg: TLS registrar %J (%s): no verdict (%m)\n",
		      &e->peer, e->host, e->result);
		return;
	}

	e->verdict = e->result;
	e->known = true;

	if (!changed)
		return;

	if (!e->result) {
		info("serreg: TLS registrar %J verified for host %s\n",
		     &e->peer, e->host);
		return;
	}

	serreg_verify_print(why, sizeof(why), e->result);
	warning("serreg: TLS registrar %J for host %s counts as dead: %s "
		"(CA file %s)\n", &e->peer, e->host, why,
		e->cafile[0] ? e->cafile : "none, system trust store");
}


/* The end of a handshake, outside libre's TCP and TLS call stack */
static void report_h(void *arg)
{
	struct ventry *e = arg;
	struct le *le;

	conn_close(e);
	e->running  = false;
	e->finished = false;
	e->until = is_cert_verdict(e->result) ?
		tmr_jiffies() + VERIFY_TTL : 0;

	log_verdict(e);

	/* each caller is unlinked first: it may free its request */
	while ((le = list_head(&e->reql))) {
		struct verify *v = le->data;

		list_unlink(le);
		v->vh(e->result, v->arg);
	}
}


static void finish(struct ventry *e, int result)
{
	if (e->finished || !e->running)
		return;

	e->finished = true;
	e->result = result;
	tmr_start(&e->tmr, 0, report_h, e);
}


static void timeout_h(void *arg)
{
	finish(arg, ETIMEDOUT);
}


/* TLS is up: the chain and host name were verified in the handshake */
static void estab_h(void *arg)
{
	struct ventry *e = arg;

	if (tls_peer_verify(e->tc))
		finish(e, SERREG_ETLS + (int)e->x509);
	else
		finish(e, 0);
}


static void recv_h(struct mbuf *mb, void *arg)
{
	(void)mb;
	(void)arg;
}


static void close_h(int err, void *arg)
{
	struct ventry *e = arg;

	/* a certificate error aborts the handshake with EPROTO */
	if (e->x509)
		finish(e, SERREG_ETLS + (int)e->x509);
	else if (!err || err == EPROTO)
		finish(e, SERREG_ETLS);
	else
		finish(e, err);
}


/* OpenSSL's verify callback: keeps the first certificate error */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
				      SSL_get_ex_data_X509_STORE_CTX_idx());
	struct ventry *e;

	if (ok || !ssl || !verify.have_exidx)
		return ok;

	e = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), verify.exidx);
	if (e && !e->x509)
		e->x509 = X509_STORE_CTX_get_error(store);

	return ok;
}


static bool is_ip(const char *host)
{
	struct sa sa;

	return 0 == sa_set_str(&sa, host, 0);
}


/* The name or address the certificate must carry, on the context (each
   handshake has its own): libre 2.0.1 checks a name only */
static int ctx_expect_host(SSL_CTX *ctx, const char *host)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);

	X509_VERIFY_PARAM_set_hostflags(param,
				X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);

	if (is_ip(host))
		return X509_VERIFY_PARAM_set1_ip_asc(param, host) ? 0 : EINVAL;

	return X509_VERIFY_PARAM_set1_host(param, host, 0) ? 0 : ENOMEM;
}


static int start(struct ventry *e, uint32_t timeout)
{
	char cert[PATH_SIZE] = "";
	SSL_CTX *ctx;
	int err;

	/* baresip's own TLS settings, as its ua_init() uses them */
	e->cafile[0] = '\0';
	(void)conf_get_str(conf_cur(), "sip_cafile", e->cafile,
			   sizeof(e->cafile));
	(void)conf_get_str(conf_cur(), "sip_certificate", cert,
			   sizeof(cert));

	e->x509 = 0;
	e->running = true;
	e->finished = false;

	err = tls_alloc(&e->tls, TLS_METHOD_SSLV23, cert[0] ? cert : NULL,
			NULL);
	if (err)
		goto out;

	ctx = tls_openssl_context(e->tls);
	if (!ctx) {
		err = ENOSYS;
		goto out;
	}

	if (e->cafile[0])
		err = tls_add_ca(e->tls, e->cafile);
	else if (1 != SSL_CTX_set_default_verify_paths(ctx))
		err = ENOENT;
	if (err)
		goto out;

	if (ctx_exidx() < 0 || !SSL_CTX_set_ex_data(ctx, verify.exidx, e)) {
		err = ENOMEM;
		goto out;
	}

	/* libre 1.1.0's tls_set_verify_server() keeps this callback (it
	   passes none); 2.0.1's sets its own for a host name */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);

	err = ctx_expect_host(ctx, e->host);
	if (err)
		goto out;

	/* libre 2.0.1's tls_alloc() limits the chain to depth 1 (one CA
	   above the server): a registrar behind an intermediate CA would
	   fail; OpenSSL's own default */
	SSL_CTX_set_verify_depth(ctx, 100);

	err = tcp_connect(&e->tcp, &e->peer, estab_h, recv_h, close_h, e);
	if (err)
		goto out;

	err = tls_start_tcp(&e->tc, e->tls, e->tcp, 0);
	if (err)
		goto out;

	/* chain, host name or IP address, SNI (platform.c) */
	err = platform_tls_verify(e->tc, e->host, !is_ip(e->host));
	if (err)
		goto out;

	tmr_start(&e->tmr, timeout * 1000ULL, timeout_h, e);

 out:
	if (err) {
		warning("serreg: TLS registrar %J: cannot verify (%m)\n",
			&e->peer, err);
		finish(e, err);
	}

	return 0;
}


static struct ventry *entry_get(const struct sa *peer, const char *host)
{
	uint64_t now = tmr_jiffies();
	struct ventry *e;
	struct le *le;

	for (le = list_head(&verify.entryl); le; ) {
		e = le->data;
		le = le->next;

		if (sa_cmp(&e->peer, peer, SA_ALL) &&
		    !str_casecmp(e->host, host))
			return e;

		/* forget registrars that nobody asked about for long */
		if (!e->running && list_isempty(&e->reql) &&
		    e->used + ENTRY_IDLE < now)
			mem_deref(e);
	}

	e = mem_zalloc(sizeof(*e), entry_destructor);
	if (!e)
		return NULL;

	e->peer = *peer;
	if (str_dup(&e->host, host)) {
		mem_deref(e);
		return NULL;
	}

	list_append(&verify.entryl, &e->le, e);

	return e;
}


static void cached_h(void *arg)
{
	struct verify *v = arg;

	v->vh(v->err, v->arg);
}


/**
 * Verify the TLS server at an address for a host name
 *
 * @param vp      Pointer to allocated request; freeing it abandons it
 * @param peer    Address of the registrar (the answer's source)
 * @param host    Host name or IP address the certificate must match
 * @param timeout Deadline of a handshake [s]
 * @param vh      Verdict handler, called once, never synchronously
 * @param arg     Handler argument
 *
 * @return 0 if success, otherwise errorcode
 */
int serreg_verify(struct verify **vp, const struct sa *peer,
		  const char *host, uint32_t timeout, verify_h *vh,
		  void *arg)
{
	struct ventry *e;
	struct verify *v;

	if (!vp || !peer || !str_isset(host) || !vh)
		return EINVAL;

	e = entry_get(peer, host);
	if (!e)
		return ENOMEM;

	v = mem_zalloc(sizeof(*v), verify_destructor);
	if (!v)
		return ENOMEM;

	v->vh  = vh;
	v->arg = arg;
	e->used = tmr_jiffies();

	if (!e->running && e->known && e->until > e->used) {
		v->err = e->verdict;
		tmr_start(&v->tmr, 0, cached_h, v);
	}
	else {
		list_append(&e->reql, &v->le, v);

		if (!e->running)
			(void)start(e, timeout);
	}

	*vp = v;

	return 0;
}


/* The URI of the next hop: the first outbound proxy, else the AoR */
static int next_hop(struct uri *uri, const struct account *acc)
{
	const char *ob = account_outbound(acc, 0);
	struct pl pl;

	if (!str_isset(ob)) {
		const struct uri *luri = account_luri(acc);

		if (!luri)
			return EINVAL;

		*uri = *luri;
		return 0;
	}

	pl_set_str(&pl, ob);

	return uri_decode(uri, &pl);
}


/** Does the account reach its registrar over TLS (sips:, or
 *  transport=tls on the outbound proxy or the AoR)? */
bool serreg_verify_tls(const struct account *acc)
{
	struct uri uri;
	struct pl tp;

	if (!acc || next_hop(&uri, acc))
		return false;

	if (!pl_strcasecmp(&uri.scheme, "sips"))
		return true;

	return 0 == msg_param_decode(&uri.params, "transport", &tp) &&
		0 == pl_strcasecmp(&tp, "tls");
}


/** The host name the registrar's certificate must match */
int serreg_verify_host(char **hostp, const struct account *acc)
{
	struct uri uri;
	int err;

	if (!hostp || !acc)
		return EINVAL;

	err = next_hop(&uri, acc);
	if (err)
		return err;

	return pl_strdup(hostp, &uri.host);
}


/** Forget every verdict and stop every handshake (module close) */
void serreg_verify_close(void)
{
	list_flush(&verify.entryl);

	if (verify.have_exidx)
		(void)CRYPTO_free_ex_index(CRYPTO_EX_INDEX_SSL_CTX,
					   verify.exidx);

	verify.have_exidx = false;
}
