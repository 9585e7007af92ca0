/**
 * @file baresip-common.h  The part of baresip's API that serreg uses and
 * that is declared the same in 1.0.0 (Debian 12) and 1.1.0 (Debian 13)
 *
 * Included by include/VERSION/baresip.h after that platform's enum
 * ua_event; never on its own.  Each prototype is checked against each
 * platform's /usr/bin/baresip by test/integration/test_abi.py.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_BARESIP_COMMON_H
#define SERREG_BARESIP_COMMON_H

#ifndef SERREG_BARESIP
#error "include <baresip.h> (include/VERSION/), not this file"
#endif


/* Opaque core objects */
struct account;
struct call;
struct commands;
struct ua;
struct conf;
struct network;


/*
 * Account
 */

struct sip_addr *account_laddr(const struct account *acc);
uint32_t account_regint(const struct account *acc);
int account_set_regint(struct account *acc, uint32_t regint);
const char *account_aor(const struct account *acc);
const char *account_display_name(const struct account *acc);
const char *account_outbound(const struct account *acc, unsigned ix);
int account_set_outbound(struct account *acc, const char *ob, unsigned ix);
const char *account_sipnat(const struct account *acc);
int account_set_sipnat(struct account *acc, const char *sipnat);
struct uri *account_luri(const struct account *acc);
int account_auth(const struct account *acc, char **username,
		 char **password, const char *realm);


/*
 * User Agent
 */

typedef void (ua_event_h)(struct ua *ua, enum ua_event ev,
			  struct call *call, const char *prm, void *arg);

int  ua_register(struct ua *ua);
void ua_unregister(struct ua *ua);
bool ua_isregistered(const struct ua *ua);
int  ua_update_account(struct ua *ua);
int  ua_print_status(struct re_printf *pf, const struct ua *ua);
int  ua_debug(struct re_printf *pf, const struct ua *ua);
const char *ua_local_cuser(const struct ua *ua);
struct account *ua_account(const struct ua *ua);
struct list *ua_calls(const struct ua *ua);
void ua_event(struct ua *ua, enum ua_event ev, struct call *call,
	      const char *fmt, ...);

int  uag_event_register(ua_event_h *eh, void *arg);
void uag_event_unregister(ua_event_h *eh);
struct sip  *uag_sip(void);
struct list *uag_list(void);
void ua_stop_all(bool forced);


/*
 * Calls (the same in 1.0.0 and 1.1.0)
 */

enum call_state {
	CALL_STATE_IDLE = 0,
	CALL_STATE_INCOMING,
	CALL_STATE_OUTGOING,
	CALL_STATE_RINGING,
	CALL_STATE_EARLY,
	CALL_STATE_ESTABLISHED,
	CALL_STATE_TERMINATED,
	CALL_STATE_UNKNOWN
};

enum vidmode {
	VIDMODE_OFF = 0,
	VIDMODE_ON,
};

int  ua_connect(struct ua *ua, struct call **callp,
		const char *from_uri, const char *req_uri,
		enum vidmode vmode);
void ua_hangup(struct ua *ua, struct call *call,
	       uint16_t scode, const char *reason);
enum call_state call_state(const struct call *call);
const char *call_peeruri(const struct call *call);
bool call_is_outgoing(const struct call *call);


/*
 * Commands
 */

enum {
	CMD_PRM = (1<<0),
};

struct cmd_arg {
	char key;
	char *prm;
	void *data;
};

struct cmd {
	const char *name;
	char key;
	int flags;
	const char *desc;
	re_printf_h *h;
};

struct commands *baresip_commands(void);
int  cmd_register(struct commands *commands,
		  const struct cmd *cmdv, size_t cmdc);
void cmd_unregister(struct commands *commands, const struct cmd *cmdv);


/*
 * Network: baresip's DNS client (its dns_server lines)
 */

struct network *baresip_network(void);
struct dnsc *net_dnsc(const struct network *net);


/*
 * Configuration and logging
 */

/** Called for each line of a file parsed by conf_parse() */
typedef int (confline_h)(const struct pl *addr, void *arg);

struct conf *conf_cur(void);
int conf_path_get(char *path, size_t sz);
int conf_parse(const char *file, confline_h *ch, void *arg);

void info(const char *fmt, ...);
void warning(const char *fmt, ...);
void debug(const char *fmt, ...);


/*
 * Module export
 */

#define DECL_EXPORTS(name) exports

#endif
