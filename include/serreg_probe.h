/**
 * @file serreg_probe.h  Probe client: one Cisco-style keep-alive
 *
 * A probe is one REGISTER with Contact ...;expires=0 for a standby
 * account: its answer tells whether the registrar is alive, and no
 * binding is created.  The caller schedules the next one, so no answer
 * (a 4xx included) ever ends probing.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_PROBE_H
#define SERREG_PROBE_H

struct probe;
struct ua;
struct sr_answer;
struct sip_msg;

/** The probe's outcome; called once, never after the probe is freed */
typedef void (probe_h)(const struct sr_answer *ans, void *arg);

int probe_send(struct probe **prp, struct ua *ua, const char *met,
	       uint32_t timeout, probe_h *resph, void *arg);
const struct sip_msg *probe_msg(const struct probe *pr);

#endif
