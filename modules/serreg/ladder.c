/**
 * @file ladder.c  The ladders: one policy engine per line (issue 12)
 *
 * A ladder is the accounts that fail over together: one engine
 * (engine*.c) with its tiers, rounds, backoff, probes and failback.
 * Accounts name their ladder with ";ladder=NAME"; those that do not are
 * in the ladder "default", so a configuration without ladders is one
 * ladder, as before.  This file keeps the table of ladders (by name, and
 * in the order they were made), each with its engine and its round
 * timer, and says which ladder drives baresip's one current UA: the one
 * named by serreg_current_ladder, else the ladder of the first managed
 * account.  Only that ladder's engine emits CURRENT.
 *
 * An event reaches one engine only (an account's, or a ladder's round
 * timer), so its cost does not depend on the number of ladders.
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
	HASH_SIZE = 1024,
};


struct ladder {
	struct le he;              /**< in ladders.table, by name       */
	struct le le;              /**< in ladders.list, in order made  */
	char name[SERREG_LADDER_SIZE];
	struct sr_engine *eng;
	struct tmr round_tmr;      /**< the engine's round timer        */
};


static struct {
	struct hash *table;
	struct list list;          /**< struct ladder, in order made    */
	struct ladder *driving;    /**< drives baresip's current UA     */
	bool started;
} ladders;


static uint32_t rand_h(void *arg)
{
	(void)arg;

	return rand_u32();
}


/* Every state transition of an engine, with baresip -v (debug); the
   default ladder's lines are those of a single ladder */
static void trace_h(const struct sr_trace *tr, void *arg)
{
	const struct ladder *l = arg;
	char where[SERREG_LADDER_SIZE + 16] = "";

	if (!ladder_is_default(l))
		re_snprintf(where, sizeof(where), "ladder %s: ", l->name);

	if (!tr->acc) {
		debug("serreg: %sengine %s -> %s (%s)\n", where,
		      sr_state_name(tr->from), sr_state_name(tr->to),
		      tr->event);
		return;
	}

	debug("serreg: %s%s: %s -> %s (%s)\n", where,
	      serreg_aor(serreg_view_ua(tr->acc)),
	      sr_acc_state_name(tr->from), sr_acc_state_name(tr->to),
	      tr->event);
}


static void round_tmr_h(void *arg)
{
	struct ladder *l = arg;

	sr_engine_timer(l->eng, serreg_now());
	exec_drain();
}


static bool name_cmp_h(struct le *le, void *arg)
{
	const struct ladder *l = le->data;

	return !str_casecmp(l->name, arg);
}


static void destructor(void *arg)
{
	struct ladder *l = arg;

	tmr_cancel(&l->round_tmr);
	hash_unlink(&l->he);
	list_unlink(&l->le);
	mem_deref(l->eng);
}


/* The engine settings, from serreg's */
static void config_get(struct sr_config *cfg)
{
	const struct serreg_settings *set = serreg_settings();

	memset(cfg, 0, sizeof(*cfg));
	cfg->failback_hold  = set->failback_hold;
	cfg->backoff_max    = set->backoff_max;
	cfg->check_interval = set->check_interval;
	cfg->failback_spread = set->failback_spread;
	cfg->server_retry    = set->server_retry;
	cfg->probe_timeout  = set->probe_timeout;
	cfg->concurrent     = set->concurrent != 0;
	cfg->t1             = SIP_T1;
	cfg->t2             = SIP_T2;
}


static int ladder_alloc(struct ladder **lp, const char *name)
{
	struct sr_config cfg;
	struct ladder *l;
	int err;

	l = mem_zalloc(sizeof(*l), destructor);
	if (!l)
		return ENOMEM;

	str_ncpy(l->name, name, sizeof(l->name));

	config_get(&cfg);
	err = sr_engine_alloc(&l->eng, &cfg, exec_action_h, rand_h, l);
	if (err)
		goto out;

	sr_engine_set_trace(l->eng, trace_h);

	/* the driving ladder is chosen at start (ladder_start); a ladder
	   made later drives only if none does */
	sr_engine_set_drives_current(l->eng, ladders.started &&
				     !ladders.driving);
	if (ladders.started && !ladders.driving)
		ladders.driving = l;

	hash_append(ladders.table, hash_joaat_str_ci(l->name), &l->he, l);
	list_append(&ladders.list, &l->le, l);

	if (ladders.started)
		sr_engine_start(l->eng, serreg_now());

 out:
	if (err)
		mem_deref(l);
	else
		*lp = l;

	return err;
}


/**
 * The ladder of this name, made if it does not exist yet
 *
 * @param lp   Returned ladder
 * @param name Valid ladder name (params.c)
 *
 * @return 0 if success, otherwise errorcode
 */
int ladder_get(struct ladder **lp, const char *name)
{
	struct ladder *l;
	int err;

	if (!lp || !str_isset(name))
		return EINVAL;

	if (!ladders.table) {
		err = hash_alloc(&ladders.table, HASH_SIZE);
		if (err)
			return err;
	}

	l = ladder_find(name);
	if (l) {
		*lp = l;
		return 0;
	}

	return ladder_alloc(lp, name);
}


/** The ladder of this name (case-insensitive), NULL if none */
struct ladder *ladder_find(const char *name)
{
	if (!ladders.table || !name)
		return NULL;

	return list_ledata(hash_lookup(ladders.table,
				       hash_joaat_str_ci(name), name_cmp_h,
				       (void *)name));
}


/**
 * Every module is loaded: choose the ladder that drives baresip's
 * current UA, and start every engine
 *
 * @param current The ladder named by serreg_current_ladder, "" = none
 */
void ladder_start(const char *current)
{
	struct ladder *named = ladder_find(current);
	struct le *le;

	if (str_isset(current) && !named)
		warning("serreg: config: serreg_current_ladder %s: no account "
			"is in that ladder; the ladder of the first account "
			"drives the current UA\n", current);

	ladders.driving = named;
	if (!ladders.driving)
		ladders.driving = list_ledata(list_head(&ladders.list));

	ladders.started = true;

	for (le = list_head(&ladders.list); le; le = le->next) {
		struct ladder *l = le->data;

		sr_engine_set_drives_current(l->eng,
					     l == ladders.driving);
		sr_engine_start(l->eng, serreg_now());

		/* one ladder's actions and moves per drain */
		exec_drain();
	}

	if (ladders.driving && list_count(&ladders.list) > 1)
		info("serreg: %u ladders, ladder %s drives the current UA\n",
		     list_count(&ladders.list), ladders.driving->name);
}


void ladder_round_timer(struct ladder *l, uint64_t delay)
{
	if (l)
		tmr_start(&l->round_tmr, delay, round_tmr_h, l);
}


void ladder_round_cancel(struct ladder *l)
{
	if (l)
		tmr_cancel(&l->round_tmr);
}


struct sr_engine *ladder_engine(const struct ladder *l)
{
	return l ? l->eng : NULL;
}


const char *ladder_name(const struct ladder *l)
{
	return l ? l->name : "";
}


/** The ladder of the accounts without ";ladder=" */
bool ladder_is_default(const struct ladder *l)
{
	return l && !str_casecmp(l->name, SERREG_LADDER_DEFAULT);
}


/** The ladder that drives baresip's current UA, NULL before start */
const struct ladder *ladder_driving(void)
{
	return ladders.driving;
}


/** Every ladder (struct ladder), in the order they were made */
const struct list *ladder_list(void)
{
	return &ladders.list;
}


/** No UA exists any more: free every ladder without its engine's word */
void ladder_close(void)
{
	hash_flush(ladders.table);
	ladders.table = mem_deref(ladders.table);
	list_clear(&ladders.list);
	memset(&ladders, 0, sizeof(ladders));
}
