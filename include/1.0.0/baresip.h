/**
 * @file baresip.h  The subset of baresip 1.0.0's public API that serreg uses
 *
 * Debian 12 ships baresip-core 1.0.0 without a development header, so the
 * prototypes below are declared here.  Each one is a fact of the 1.0.0 ABI
 * (include/baresip.h of tag v1.0.0) and is checked against the dynamic
 * symbol table and the event names (uag_event_str()) of Debian 12's
 * /usr/bin/baresip by test/integration/test_abi.py.  The build picks this
 * directory when baresip-core 1.0.0 is installed (mk/serreg.mk).
 *
 * Never include a header of another baresip or libre version: 1.1.0 shifted
 * the ua_event numbers, and only libre 1.1.0's struct layouts match the
 * Debian binary.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_BARESIP_H
#define SERREG_BARESIP_H

#include <re.h>


/** The platform: baresip 1.0.0, libre 1.1.0 (Debian 12) */
#define SERREG_BARESIP 10000


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
 *
 * The numbers are those of baresip 1.0.0 and are written out on purpose:
 * 1.1.0 inserted FALLBACK_OK/FALLBACK_FAIL after UNREGISTERING.
 */

enum ua_event {
	UA_EVENT_REGISTERING        = 0,
	UA_EVENT_REGISTER_OK        = 1,
	UA_EVENT_REGISTER_FAIL      = 2,
	UA_EVENT_UNREGISTERING      = 3,
	UA_EVENT_MWI_NOTIFY         = 4,
	UA_EVENT_SHUTDOWN           = 5,
	UA_EVENT_EXIT               = 6,
	UA_EVENT_CALL_INCOMING      = 7,
	UA_EVENT_CALL_RINGING       = 8,
	UA_EVENT_CALL_PROGRESS      = 9,
	UA_EVENT_CALL_ESTABLISHED   = 10,
	UA_EVENT_CALL_CLOSED        = 11,
	UA_EVENT_CALL_TRANSFER      = 12,
	UA_EVENT_CALL_TRANSFER_FAILED = 13,
	UA_EVENT_CALL_DTMF_START    = 14,
	UA_EVENT_CALL_DTMF_END      = 15,
	UA_EVENT_CALL_RTPESTAB      = 16,
	UA_EVENT_CALL_RTCP          = 17,
	UA_EVENT_CALL_MENC          = 18,
	UA_EVENT_VU_TX              = 19,
	UA_EVENT_VU_RX              = 20,
	UA_EVENT_AUDIO_ERROR        = 21,
	UA_EVENT_CALL_LOCAL_SDP     = 22,
	UA_EVENT_CALL_REMOTE_SDP    = 23,

	UA_EVENT_MAX                = 24,
};

typedef void (ua_event_h)(struct ua *ua, enum ua_event ev,
			  struct call *call, const char *prm, void *arg);

int  ua_register(struct ua *ua);
void ua_unregister(struct ua *ua);
bool ua_isregistered(const struct ua *ua);
int  ua_update_account(struct ua *ua);
int  ua_print_status(struct re_printf *pf, const struct ua *ua);
int  ua_debug(struct re_printf *pf, const struct ua *ua);
const char *ua_aor(const struct ua *ua);
const char *ua_local_cuser(const struct ua *ua);
struct account *ua_account(const struct ua *ua);
struct list *ua_calls(const struct ua *ua);
void ua_event(struct ua *ua, enum ua_event ev, struct call *call,
	      const char *fmt, ...);

int  uag_event_register(ua_event_h *eh, void *arg);
void uag_event_unregister(ua_event_h *eh);
struct sip  *uag_sip(void);
struct list *uag_list(void);
void uag_current_set(struct ua *ua);
struct ua *uag_current(void);
void ua_stop_all(bool forced);


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
