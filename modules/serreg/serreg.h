/**
 * @file serreg.h  serreg module internals shared by its files
 *
 * The module's one private header.  The pure parts that the tests link
 * on their own have theirs: engine.h (the policy engine) and params.h
 * (parameter parsing).
 *
 *   serreg.c  module entry, settings, commands, baresip's UA events
 *   ladder.c  the ladders: one engine each, the driving ladder
 *   member.c  the managed UAs: table, baresip calls, request outcomes
 *   exec.c    execution of the engine's actions
 *   call.c    calls that meet a dead tier
 *   probe.c   the requests serreg sends itself
 *   servers.c the servers of an account's registrar (RFC 3263)
 *   watch.c   watch of a registrar's connection
 *   verify.c  verification of a TLS registrar's certificate
 *   platform.c what differs between Debian 12 and 13 (baresip 1.0.0,
 *             1.1.0)
 *   status.c  the "serreg" command's text and JSON
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_H
#define SERREG_H

struct sr_engine;
struct sr_account;
struct sr_action;
struct sr_answer;
struct serreg_settings;
struct ua;
struct call;
struct account;
struct sa;
struct sip_msg;
struct uri;


/*
 * ladder.c: the ladders (one engine each) and the one that drives
 * baresip's current UA
 */

struct ladder;

int  ladder_get(struct ladder **lp, const char *name);
struct ladder *ladder_find(const char *name);
void ladder_start(const char *current);
void ladder_round_timer(struct ladder *l, uint64_t delay);
void ladder_round_cancel(struct ladder *l);
struct sr_engine *ladder_engine(const struct ladder *l);
const char *ladder_name(const struct ladder *l);
bool ladder_is_default(const struct ladder *l);
const struct ladder *ladder_driving(void);
const struct list *ladder_list(void);
void ladder_close(void);


/*
 * member.c: a UA taking part in fallback registration
 */

struct member;

int  member_add(struct member **mp, struct ua *ua, unsigned flags);
struct member *member_find(const struct ua *ua);
void member_remove(struct member *m);
void member_table_close(void);
struct sr_account *member_sra(const struct member *m);
struct ua *member_ua(const struct member *m);
uint32_t member_count(void);
void member_register(struct member *m);
void member_recover(struct member *m);
void member_route(struct member *m, unsigned flow);
void member_pin(struct member *m, int server);
void member_server_changed(struct member *m, const struct sr_action *act);
const char *member_server_name(const struct member *m, unsigned i);
void member_no_outbound(struct member *m);
bool member_flows(struct member *m, const struct sr_answer *ans);
void member_reg_failed(struct member *m, const struct sr_answer *ans);
void member_registered(struct member *m);
void member_unregister(struct member *m);
void member_hold(struct member *m);
void member_request(struct member *m, enum sr_request req, int server);
void member_request_cancel(struct member *m);
void member_watch(struct member *m);
void member_unwatch(struct member *m);
void member_timer(struct member *m, uint64_t delay);
void member_timer_cancel(struct member *m);
void member_queue(struct member *m, const struct sr_action *act,
		  struct list *queue);
void member_execute(struct member *m);


/*
 * call.c: calls that meet a dead tier (issue 19)
 */

void calls_event(struct ua *ua, enum ua_event ev, struct call *call,
		 const char *prm);
bool calls_pending(const struct ua *ua);
void calls_forget(const struct ua *ua);
void calls_failed_later(struct ua *ua, struct sr_account *fallback);
void calls_verdict(struct ua *ua, struct sr_account *fallback, bool failed,
		   bool passed);
void calls_close(void);


/*
 * exec.c: the engine's actions
 */

void exec_action_h(const struct sr_action *act, void *arg);
void exec_drain(void);
void exec_forget(struct member *m);
void exec_close(void);


/*
 * platform.c: what differs between baresip 1.0.0 and 1.1.0
 */

struct tls_conn;

void platform_event(struct ua *ua, const char *kind, const char *fmt, ...);
void platform_current_set(struct ua *ua);
struct ua *platform_current(void);
int  platform_tls_verify(struct tls_conn *tc, const char *host,
			 bool is_name);
bool platform_take_over(struct ua *ua);
void platform_start(void);
void platform_ua_gone(void);
void platform_ua_event(struct ua *ua, enum ua_event ev);
void platform_close(void);


/** The AoR of a UA (baresip 1.1.0 has no ua_aor()) */
static inline const char *serreg_aor(const struct ua *ua)
{
	return account_aor(ua_account(ua));
}


/*
 * serreg.c: what the other files need of the module
 */

const struct serreg_settings *serreg_settings(void);
bool serreg_closing(void);
uint64_t serreg_now(void);


/*
 * probe.c: one request serreg sends itself
 *
 * A probe is one REGISTER with Contact ...;expires=0 for a standby
 * account: its answer tells whether the registrar is alive, and no
 * binding is created.  The same client sends the OPTIONS of a check
 * and the REGISTER that repairs a binding.  The caller schedules the
 * next one, so no answer (a 4xx included) ever ends probing.
 */

struct probe;

/** probe_send()'s expires for a binding query: a REGISTER without
 *  Contact, whose 2xx lists the bindings (RFC 3261 10.2.3) */
#define PROBE_QUERY UINT32_MAX

/** The probe's outcome; called once, never after the probe is freed */
typedef void (probe_h)(const struct sr_answer *ans, void *arg);

int probe_send(struct probe **prp, struct ua *ua, const char *route,
	       const char *host, const char *met, uint32_t expires,
	       uint32_t timeout, probe_h *resph, void *arg);
void probe_close(void);
const struct sip_msg *probe_msg(const struct probe *pr);


/*
 * servers.c: the servers of an account's registrar (RFC 3263)
 *
 * A registrar named by a domain is a set of servers (NAPTR, SRV, A and
 * AAAA: each address a server), resolved here as libre resolves it and
 * again at the end of its TTL, so that each server can be tracked and
 * pinned.
 */

struct serverset;

/** The set was resolved, or changed */
typedef void (serverset_h)(void *arg);

int  serverset_alloc(struct serverset **ssp, const struct uri *uri,
		     const char *aor, serverset_h *changeh, void *arg);
unsigned serverset_count(const struct serverset *ss);
const char *serverset_name(const struct serverset *ss, unsigned i);
const char *serverset_route(const struct serverset *ss, unsigned i);
uint32_t serverset_key(const struct serverset *ss, unsigned i);
uint32_t serverset_ttl(const struct serverset *ss);


/*
 * watch.c: watch of the connection to a registrar (R21)
 *
 * Over TCP and TLS, baresip's registration lives on one connection.  A
 * watch hooks libre's keepalive on it: when the registrar refuses,
 * resets or closes the connection, or stops answering its CRLF pings,
 * the owner hears at once instead of at the next refresh.
 */

struct watch;

/** The connection is gone; called once, never after the watch is freed */
typedef void (watch_h)(int err, void *arg);

int  watch_start(struct watch **wp, const struct sip_msg *msg,
		 uint32_t interval, watch_h *closeh, void *arg);
bool watch_flow(const struct sip_msg *msg);


/*
 * verify.c: verification of a TLS registrar's certificate
 *
 * libre 1.1.0's SIP transport never asks OpenSSL to verify the server,
 * so baresip 1.0.0 registers over TLS to any certificate.  serreg makes
 * its own TLS connection to the registrar that answered a probe or a
 * check over TLS, verifies the certificate chain against baresip's
 * sip_cafile and the host name, and counts a registrar that fails as
 * dead.
 */

/**
 * The err of an answer from a TLS registrar that failed verification:
 * SERREG_ETLS + OpenSSL's X509_V_ERR code, or SERREG_ETLS alone when the
 * TLS handshake failed without a certificate error.  Far above any
 * errno, so that no errno text is ever printed for it.
 */
enum {
	SERREG_ETLS     = 0x5e7000,
	SERREG_ETLS_MAX = SERREG_ETLS + 0xfff,
};

struct verify;

/** The verdict: 0 verified, else an err (SERREG_ETLS..., ETIMEDOUT...) */
typedef void (verify_h)(int err, void *arg);

int  serreg_verify(struct verify **vp, const struct sa *peer,
		   const char *host, uint32_t timeout, verify_h *vh,
		   void *arg);
bool serreg_verify_tls(const struct account *acc);
int  serreg_verify_host(char **hostp, const struct account *acc);
bool serreg_verify_failed(int err);
void serreg_verify_print(char *buf, size_t sz, int err);
void serreg_verify_close(void);


/*
 * status.c: the "serreg" command (R40)
 */

/** What the status command shows */
struct serreg_view {
	const struct list *ladders;   /**< struct ladder, in order made */
	uint64_t now;              /**< [ms]                           */
	uint32_t probe_timeout;    /**< [s]                            */
	uint32_t check_interval;   /**< [s], 0 = off                   */
	struct ua *(*ua_h)(const struct sr_account *sra);
	const char *(*server_h)(const struct sr_account *sra, unsigned i);
};

/** Kinds of the module's own objects, counted live for "serreg json" */
enum serreg_obj {
	SERREG_OBJ_ACCOUNT = 0,    /**< struct member (member.c)       */
	SERREG_OBJ_PENDING,        /**< members with queued actions    */
	SERREG_OBJ_PROBE,          /**< struct probe (probe.c)         */
	SERREG_OBJ_WATCH,          /**< struct watch (watch.c)         */

	SERREG_OBJ_COUNT
};

void serreg_mem_alloced(enum serreg_obj kind, size_t size);
void serreg_mem_freed(enum serreg_obj kind, size_t size);
int  serreg_status_print(struct re_printf *pf, const struct serreg_view *v);
int  serreg_status_json(struct re_printf *pf, const struct serreg_view *v);
void serreg_answer_print(char *buf, size_t sz, const struct sr_answer *ans);
struct ua *serreg_view_ua(const struct sr_account *sra);
const char *serreg_view_server(const struct sr_account *sra, unsigned i);

#endif
