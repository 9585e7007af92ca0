/**
 * @file exec.c  Execution of the engine's actions
 *
 * The engine emits actions from inside its event functions and must not
 * be called back meanwhile.  Actions that raise no UA event (timers,
 * cancels, HOLD, ROUTE, UNWATCH) are executed at once.  The others
 * (REGISTER, UNREGISTER, RECOVER, NO_OUTBOUND, a request, a watch) make baresip or libre calls that can
 * raise events feeding the engine again: they wait in the member, which
 * is queued (member.c), and run from exec_drain() once the engine has
 * returned.  The current UA and the moves run last.  Nothing here
 * allocates memory, so no action can be lost.
 *
 * The data flow of a UA event: event -> engine -> actions -> executor;
 * the executor calls the engine only with the outcome of a request,
 * and then from libre's main loop.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "baresip.h"
#include "engine.h"
#include "serreg.h"


enum {
	MOVE_MAX = 8,    /**< moves kept for one drain; more are merged */
};


static struct {
	struct list queue;         /**< struct member with queued actions */
	struct member *current;    /**< to become baresip's current UA   */
	struct sr_action movev[MOVE_MAX];
	uint32_t nmoves;
	uint32_t nmerged;          /**< moves merged into the last one   */
	struct tmr round_tmr;      /**< the engine's own timer           */
	bool draining;
} exec;


static void round_tmr_h(void *arg)
{
	(void)arg;

	sr_engine_timer(serreg_engine(), serreg_now());
	exec_drain();
}


/* Keep a move for the end of the drain; a ninth is merged (from the
   first of them to the last) */
static void move_keep(const struct sr_action *act)
{
	struct sr_action *last;

	if (exec.nmoves < MOVE_MAX) {
		exec.movev[exec.nmoves++] = *act;
		return;
	}

	last = &exec.movev[MOVE_MAX - 1];
	last->to     = act->to;
	last->reason = act->reason;
	last->ans    = act->ans;
	++exec.nmerged;
}


/* Log a move and send it to ctrl_tcp clients (R41) */
static void move_report(const struct sr_action *act)
{
	char tier[2][16];
	char why[128] = "";
	int i;

	for (i = 0; i < 2; i++) {
		int prio = i ? act->to : act->from;

		if (prio < 0)
			str_ncpy(tier[i], "none", sizeof(tier[i]));
		else
			re_snprintf(tier[i], sizeof(tier[i]), "%d", prio);
	}

	serreg_answer_print(why, sizeof(why), &act->ans);

	info("serreg: tier %s -> %s (%s%s%s)\n", tier[0], tier[1],
	     sr_reason_name(act->reason), why[0] ? ": " : "", why);

	/* baresip 1.0.0 has no module event: UA_EVENT_MAX reaches ctrl_tcp
	   clients as type "?", class "other" */
	ua_event(uag_current(), UA_EVENT_MAX, NULL,
		 "serreg move from=%s to=%s reason=%s answer=\"%s\"",
		 tier[0], tier[1], sr_reason_token(act->reason), why);
}


/**
 * The engine's action handler (see engine.h)
 *
 * @param act Action
 * @param arg Not used
 */
void exec_action_h(const struct sr_action *act, void *arg)
{
	struct member *m = act->ref;
	(void)arg;

	/* baresip is quitting: no new request, no new timer (R32) */
	if (serreg_closing() && act->kind != SR_ACT_REQUEST_CANCEL &&
	    act->kind != SR_ACT_TIMER_CANCEL &&
	    act->kind != SR_ACT_ROUND_CANCEL &&
	    act->kind != SR_ACT_UNWATCH)
		return;

	switch (act->kind) {

	case SR_ACT_REGISTER:
	case SR_ACT_UNREGISTER:
	case SR_ACT_RECOVER:
	case SR_ACT_NO_OUTBOUND:
	case SR_ACT_REQUEST:
	case SR_ACT_WATCH:
		member_queue(m, act, &exec.queue);
		break;

	case SR_ACT_HOLD:
		member_hold(m);
		break;

	case SR_ACT_ROUTE:
		member_route(m, act->flow);
		break;

	case SR_ACT_REQUEST_CANCEL:
		member_request_cancel(m);
		break;

	case SR_ACT_UNWATCH:
		member_unwatch(m);
		break;

	case SR_ACT_TIMER:
		member_timer(m, act->delay);
		break;

	case SR_ACT_TIMER_CANCEL:
		member_timer_cancel(m);
		break;

	case SR_ACT_ROUND_TIMER:
		tmr_start(&exec.round_tmr, act->delay, round_tmr_h, NULL);
		break;

	case SR_ACT_ROUND_CANCEL:
		tmr_cancel(&exec.round_tmr);
		break;

	case SR_ACT_CURRENT:
		exec.current = m;
		break;

	case SR_ACT_MOVE:
		move_keep(act);
		break;

	default:
		break;
	}
}


/**
 * Execute the queued actions.  Executing one may raise baresip events
 * that feed the engine again; their actions are queued behind.
 */
void exec_drain(void)
{
	uint32_t i, n = 0;

	if (exec.draining)
		return;

	exec.draining = true;

	do {
		struct member *m;

		while ((m = list_ledata(list_head(&exec.queue))))
			member_execute(m);

		if (exec.current) {
			m = exec.current;
			exec.current = NULL;
			uag_current_set(member_ua(m));
		}

		if (exec.nmerged)
			info("serreg: %u moves in one go, merged\n",
			     exec.nmerged);

		for (i = 0; i < exec.nmoves; i++)
			move_report(&exec.movev[i]);

		exec.nmoves  = 0;
		exec.nmerged = 0;

	} while (!list_isempty(&exec.queue) && ++n < 64);

	exec.draining = false;
}


/** A member goes: nothing queued for it may run */
void exec_forget(struct member *m)
{
	if (exec.current == m)
		exec.current = NULL;
}


void exec_close(void)
{
	tmr_cancel(&exec.round_tmr);
	list_clear(&exec.queue);
	memset(&exec, 0, sizeof(exec));
}
