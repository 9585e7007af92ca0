/**
 * @file baresip.h  The subset of baresip 1.1.0's public API that serreg uses
 *
 * Debian 13 ships baresip-core 1.1.0 without a development header, so the
 * prototypes below are declared here.  Each one is a fact of the 1.1.0 ABI
 * (include/baresip.h of tag v1.1.0) and is checked against the dynamic
 * symbol table and the event names (uag_event_str()) of Debian 13's
 * /usr/bin/baresip by test/integration/test_abi.py.  The build picks this
 * directory when baresip-core 1.1.0 is installed (mk/serreg.mk).
 *
 * Against 1.0.0: ua_aor(), uag_current() and uag_current_set() are gone
 * (the current UA is the menu module's); ua_fallback(), account_prio(),
 * account_fbregint() and module_event() are new; the ua_event numbers
 * shifted (FALLBACK_OK/FAIL after UNREGISTERING, CALL_ANSWERED, MODULE,
 * CUSTOM).  libre is 2.0.1.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_BARESIP_H
#define SERREG_BARESIP_H

#include <re.h>


/** The platform: baresip 1.1.0, libre 2.0.1 (Debian 13) */
#define SERREG_BARESIP 10100


/*
 * User Agent
 *
 * The numbers are those of baresip 1.1.0 and are written out on purpose:
 * only 0-3 have the numbers of 1.0.0.
 */

enum ua_event {
	UA_EVENT_REGISTERING        = 0,
	UA_EVENT_REGISTER_OK        = 1,
	UA_EVENT_REGISTER_FAIL      = 2,
	UA_EVENT_UNREGISTERING      = 3,
	UA_EVENT_FALLBACK_OK        = 4,
	UA_EVENT_FALLBACK_FAIL      = 5,
	UA_EVENT_MWI_NOTIFY         = 6,
	UA_EVENT_SHUTDOWN           = 7,
	UA_EVENT_EXIT               = 8,
	UA_EVENT_CALL_INCOMING      = 9,
	UA_EVENT_CALL_RINGING       = 10,
	UA_EVENT_CALL_PROGRESS      = 11,
	UA_EVENT_CALL_ANSWERED      = 12,
	UA_EVENT_CALL_ESTABLISHED   = 13,
	UA_EVENT_CALL_CLOSED        = 14,
	UA_EVENT_CALL_TRANSFER      = 15,
	UA_EVENT_CALL_TRANSFER_FAILED = 16,
	UA_EVENT_CALL_DTMF_START    = 17,
	UA_EVENT_CALL_DTMF_END      = 18,
	UA_EVENT_CALL_RTPESTAB      = 19,
	UA_EVENT_CALL_RTCP          = 20,
	UA_EVENT_CALL_MENC          = 21,
	UA_EVENT_VU_TX              = 22,
	UA_EVENT_VU_RX              = 23,
	UA_EVENT_AUDIO_ERROR        = 24,
	UA_EVENT_CALL_LOCAL_SDP     = 25,
	UA_EVENT_CALL_REMOTE_SDP    = 26,
	UA_EVENT_MODULE             = 27,
	UA_EVENT_CUSTOM             = 28,

	UA_EVENT_MAX                = 29,
};

#include "../baresip-common.h"


/*
 * Only in this version
 */

uint32_t account_prio(const struct account *acc);
uint32_t account_fbregint(const struct account *acc);
int  ua_fallback(struct ua *ua);
void module_event(const char *module, const char *event, struct ua *ua,
		  struct call *call, const char *fmt, ...);

#endif
