/**
 * @file serreg_watch.h  Watch of the connection to a registrar (R21)
 *
 * Over TCP and TLS, baresip's registration lives on one connection.  A
 * watch hooks libre's keepalive on it: when the registrar refuses,
 * resets or closes the connection, or stops answering its CRLF pings,
 * the owner hears at once instead of at the next refresh.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_WATCH_H
#define SERREG_WATCH_H

struct watch;
struct sip_msg;

/** The connection is gone; called once, never after the watch is freed */
typedef void (watch_h)(int err, void *arg);

int  watch_start(struct watch **wp, const struct sip_msg *msg,
		 uint32_t interval, watch_h *closeh, void *arg);
bool watch_flow(const struct sip_msg *msg);

#endif
