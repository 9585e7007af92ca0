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

#include "../baresip-common.h"


/*
 * Only in this version
 */

void uag_current_set(struct ua *ua);
struct ua *uag_current(void);

#endif
