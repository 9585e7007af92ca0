/**
 * @file serreg_params.h  Account parameters and module settings of serreg
 *
 * Pure parsing and validation: no baresip calls, no I/O.  Every error text
 * names the parameter, the offending value and the accepted range; the
 * caller prefixes it with the account AoR or "config".  The texts:
 *
 *   prio="abc" is not a number in 0..65535
 *   fbregint="x" is not a number in 0..86400 s
 *   prio given twice: "1" and "2"
 *   ladder="a b" is not a name of 1..32 letters, digits, '-', '_', '.'
 *   serreg_probe_timeout "abc" is not a number in 1..60 s; using default 5
 *   unknown setting serreg_foo (known: serreg_check_interval, ...)
 *
 * A number is decimal digits only, optionally in one pair of double
 * quotes ("1" is 1, as baresip's msg_param_decode() reads it).
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_PARAMS_H
#define SERREG_PARAMS_H

/** Ranges of the account parameters */
enum {
	SERREG_PRIO_MAX     = 65535,
	SERREG_FBREGINT_MAX = 86400,
	SERREG_LADDER_MAX   = 32,     /**< longest ladder name            */
	SERREG_LADDER_SIZE  = 36,     /**< its buffer (with the NUL,
					   rounded up: no padding)       */
};

/** The ladder of an account without ";ladder=" */
#define SERREG_LADDER_DEFAULT "default"

/** What serreg reads from one account line */
struct serreg_acc_params {
	uint32_t prio;      /**< tier, 0 is best                     */
	uint32_t fbregint;  /**< probe interval while standby [s]    */
	char ladder[SERREG_LADDER_SIZE];  /**< its ladder, a name       */
};

int serreg_acc_params_decode(struct serreg_acc_params *prm,
			     const struct pl *params,
			     char *errbuf, size_t errsz);


/** Module settings, read from baresip's config (serreg_* keys) */
struct serreg_settings {
	uint32_t check_interval;  /**< liveness check of current tier [s] */
	uint32_t probe_timeout;   /**< no answer within this = failed [s] */
	uint32_t failback_hold;   /**< good probes before moving back     */
	uint32_t backoff_max;     /**< cap of the wait between rounds [s] */
	char current_ladder[SERREG_LADDER_SIZE];  /**< the ladder that
						       drives baresip's
						       current UA, "" =
						       the default     */
	uint32_t failback_spread; /**< failback waits uniform 0..this [s] */
	uint32_t server_retry;    /**< a failed server of a set is skipped
				       this long [s]                      */
	uint32_t concurrent;      /**< 1: the next live tier is registered
				       too, as the hot standby            */
};

/** One serreg_* configuration key */
struct serreg_setting_def {
	const char *key;      /**< e.g. "serreg_probe_timeout"          */
	uint32_t min;         /**< accepted range, inclusive            */
	uint32_t max;
	uint32_t dflt;        /**< default when the key is absent       */
	size_t offset;        /**< of the field in serreg_settings      */
	const char *unit;     /**< "s", "probes" or "" (error texts)    */
};

extern const struct serreg_setting_def serreg_setting_defs[];
extern const size_t serreg_setting_defc;

void serreg_settings_init(struct serreg_settings *set);
int  serreg_setting_apply(struct serreg_settings *set, const struct pl *key,
			  const struct pl *val, char *errbuf, size_t errsz);
const struct serreg_setting_def *serreg_setting_find(const struct pl *key);
bool serreg_ladder_valid(const struct pl *name);

#endif
