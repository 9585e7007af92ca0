/**
 * @file exec.c  Execution of the engine's actions
 *
 * The engine emits actions from inside its event functions and must not
 * be called back meanwhile.  Actions that raise no UA event (timers,
 * cancels, HOLD, ROUTE, UNWATCH) are executed at once.  The others
 * (REGISTER, UNREGISTER, RECOVER, NO_OUTBOUND, a request, a watch) make
 * baresip or libre calls that can raise events feeding the engine again:
 * they wait in the member, which is queued (member.c), and run from
 * exec_drain() once the engine has returned.  The current UA and the
 * moves run last.  Nothing here allocates memory, so no action can be
 * lost.
 *
 * Every ladder's engine (ladder.c) has this handler, with the ladder as
 * its argument: the round timer is the ladder's, a move names it.
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
#include "params.h"
#include "engine.h"
#include "serreg.h"


enum {
	MOVE_MAX = 8,    /**< moves kept for one drain; more are merged */
};


/** A move kept for the end of the drain, and its ladder */
struct move {
	struct sr_action act;
	const struct ladder *ladder;
};


static struct {
	struct list queue;         /**< struct member with queued actions */
	struct member *current;    /**< to become baresip's current UA   */
	struct move movev[MOVE_MAX];
	uint32_t nmoves;
	uint32_t nmerged;          /**< moves merged into the last one   */
	bool draining;
} exec;


/* Keep a move or a change of the hot standby for the end of the
   drain; a ninth is merged (from the first of them to the last; of one
   ladder and kind, else it is not merged) */
static void move_keep(const struct sr_action *act, const struct ladder *l)
{
	struct move *last = &exec.movev[MOVE_MAX - 1];

	if (exec.nmoves < MOVE_MAX) {
		exec.movev[exec.nmoves].act    = *act;
		exec.movev[exec.nmoves].ladder = l;
		++exec.nmoves;
		return;
	}

	++exec.nmerged;

	if (last->ladder != l || last->act.kind != act->kind)
		return;

	last->act.to     = act->to;
	last->act.reason = act->reason;
	last->act.ans    = act->ans;
}


/* Log a move and send it to ctrl_tcp clients (R41); the default
   ladder's line is that of a single ladder, the event names it */
static void move_report(const struct move *mv)
{
	const struct sr_action *act = &mv->act;
	char where[SERREG_LADDER_SIZE + 16] = "";
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

	if (!ladder_is_default(mv->ladder))
		re_snprintf(where, sizeof(where), "ladder %s: ",
			    ladder_name(mv->ladder));

	if (act->kind == SR_ACT_HOT_STANDBY) {
		info("serreg: %shot standby tier %s -> %s\n", where, tier[0],
		     tier[1]);
		platform_event(platform_current(), "hot_standby",
			       "from=%s to=%s ladder=%s", tier[0], tier[1],
			       ladder_name(mv->ladder));
		return;
	}

	info("serreg: %stier %s -> %s (%s%s%s)\n", where, tier[0], tier[1],
	     sr_reason_name(act->reason), why[0] ? ": " : "", why);

	/* to ctrl_tcp clients (platform.c) */
	platform_event(platform_current(), "move",
		       "from=%s to=%s reason=%s answer=\"%s\" ladder=%s",
		       tier[0], tier[1], sr_reason_token(act->reason), why,
		       ladder_name(mv->ladder));
}


/**
 * The engine's action handler (see engine.h)
 *
 * @param act Action
 * @param arg The ladder of the engine
 */
void exec_action_h(const struct sr_action *act, void *arg)
{
	struct member *m = act->ref;
	struct ladder *l = arg;

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

	/* at once: the RECOVER or REGISTER queued behind it routes
	   through it */
	case SR_ACT_PIN:
		member_pin(m, act->server);
		break;

	case SR_ACT_SERVER:
		member_server_changed(m, act);
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
		ladder_round_timer(l, act->delay);
		break;

	case SR_ACT_ROUND_CANCEL:
		ladder_round_cancel(l);
		break;

	case SR_ACT_CURRENT:
		exec.current = m;
		break;

	case SR_ACT_MOVE:
	case SR_ACT_HOT_STANDBY:
		move_keep(act, l);
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
			platform_current_set(member_ua(m));
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
	list_clear(&exec.queue);
	memset(&exec, 0, sizeof(exec));
}
