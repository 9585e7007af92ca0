/**
 * @file serreg_probe.h  Probe client: one Cisco-style keep-alive
 *
 * A probe is one REGISTER with Contact ...;expires=0 sent through libre's
 * sipreg for a standby account: any answer tells whether its registrar is
 * alive, and no binding is created.  Each probe is a fresh sipreg, so a
 * 4xx (after which libre's sipreg stops for good) never ends probing;
 * the caller schedules the next one.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_PROBE_H
#define SERREG_PROBE_H

struct probe;
struct ua;
struct sr_answer;

/** The probe's outcome; called once, never after the probe is freed */
typedef void (probe_h)(const struct sr_answer *ans, void *arg);

int probe_send(struct probe **prp, struct ua *ua, uint32_t timeout,
	       probe_h *resph, void *arg);

#endif
