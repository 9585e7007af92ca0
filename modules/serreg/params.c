/**
 * @file params.c  Account parameters and module settings of serreg
 *
 * Pure parsing and validation: no baresip calls, no I/O.
 *
 * A number is strict: decimal digits only, optionally inside one pair of
 * double quotes (baresip's msg_param_decode() and conf_get() unquote
 * "1" too), no sign, no blanks, no overflow, within the range.  One parser
 * serves the account parameters and the settings.
 *
 * Account parameters are found as msg_param_decode() finds them: anchored
 * on ';', name case-insensitive, blanks around the name allowed.  Unlike
 * msg_param_decode() every occurrence is seen, also "prio=" and "prio"
 * without a value, and a ';' inside a quoted value (auth_pass) does not
 * start a parameter.
 *
 * A ladder name (";ladder=trunk-a", serreg_current_ladder) is a token of
 * 1..32 letters, digits, '-', '_' and '.', optionally in double quotes,
 * compared without regard to case ("Trunk-A" is "trunk-a").
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "params.h"


enum {
	SHOW_MAX = 32,  /**< longest value or key quoted in an error text */
};


/** The account parameters, in the form of the settings */
static const struct serreg_setting_def acc_defs[] = {
	{"prio",     0, SERREG_PRIO_MAX,     0,
	 offsetof(struct serreg_acc_params, prio),     ""},
	{"fbregint", 0, SERREG_FBREGINT_MAX, 0,
	 offsetof(struct serreg_acc_params, fbregint), "s"},
};


/** The serreg_* configuration keys */
const struct serreg_setting_def serreg_setting_defs[] = {
	{"serreg_check_interval", 0, 3600,  30,
	 offsetof(struct serreg_settings, check_interval), "s"},
	{"serreg_probe_timeout",  1, 60,    5,
	 offsetof(struct serreg_settings, probe_timeout),  "s"},
	{"serreg_failback_hold",  1, 100,   2,
	 offsetof(struct serreg_settings, failback_hold),  "probes"},
	{"serreg_backoff_max",    1, 86400, 300,
	 offsetof(struct serreg_settings, backoff_max),    "s"},
	{"serreg_failback_spread", 0, 3600, 60,
	 offsetof(struct serreg_settings, failback_spread), "s"},
	{"serreg_server_retry",   1, 3600,  60,
	 offsetof(struct serreg_settings, server_retry),   "s"},
	{"serreg_concurrent",     0, 1,     0,
	 offsetof(struct serreg_settings, concurrent),     ""},
};

const size_t serreg_setting_defc = ARRAY_SIZE(serreg_setting_defs);

/** The one setting that is a name, not a number */
static const char current_ladder_key[] = "serreg_current_ladder";


static uint32_t *field(void *base, const struct serreg_setting_def *def)
{
	return (uint32_t *)(void *)((uint8_t *)base + def->offset);
}


static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


static void trim(struct pl *pl)
{
	while (pl->l && is_blank(pl->p[0]))
		pl_advance(pl, 1);

	while (pl->l && is_blank(pl->p[pl->l - 1]))
		--pl->l;
}


static bool is_quoted(const struct pl *pl)
{
	return pl->l >= 2 && pl->p[0] == '"' && pl->p[pl->l - 1] == '"';
}


/* Take off a value's one pair of double quotes, if it has them */
static void unquote(struct pl *pl)
{
	if (is_quoted(pl)) {
		pl_advance(pl, 1);
		--pl->l;
	}
}


/**
 * Decode a strict unsigned decimal number within min..max
 *
 * @param vp   Returned number
 * @param pl   Text: digits only, or digits in one pair of double quotes
 * @param min  Smallest accepted value
 * @param max  Largest accepted value
 *
 * @return 0 if success, EINVAL if not a number or out of range
 */
static int u32_decode(uint32_t *vp, const struct pl *pl,
		      uint32_t min, uint32_t max)
{
	struct pl s = *pl;
	uint64_t v = 0;
	size_t i;

	unquote(&s);

	if (!s.l)
		return EINVAL;

	for (i = 0; i < s.l; i++) {

		if (s.p[i] < '0' || s.p[i] > '9')
			return EINVAL;

		/* saturate: no wrap however many digits */
		if (v <= max)
			v = v * 10 + (uint64_t)(s.p[i] - '0');
	}

	if (v < min || v > max)
		return EINVAL;

	*vp = (uint32_t)v;

	return 0;
}


static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}


/**
 * Is this a valid ladder name (1..32 letters, digits, '-', '_', '.')?
 *
 * @param name  Name, without quotes
 *
 * @return true if valid
 */
bool serreg_ladder_valid(const struct pl *name)
{
	size_t i;

	if (!name || !name->p || !name->l || name->l > SERREG_LADDER_MAX)
		return false;

	for (i = 0; i < name->l; i++) {
		if (!is_name_char(name->p[i]))
			return false;
	}

	return true;
}


/* Decode a ladder name (quotes allowed) into buf[SERREG_LADDER_SIZE] */
static int ladder_decode(char *buf, const struct pl *pl)
{
	struct pl s = *pl;

	unquote(&s);

	if (!serreg_ladder_valid(&s))
		return EINVAL;

	memset(buf, 0, SERREG_LADDER_SIZE);
	memcpy(buf, s.p, s.l);

	return 0;
}


/* Print a pl, cut to SHOW_MAX characters */
static int pl_print_short(struct re_printf *pf, void *arg)
{
	const struct pl *pl = arg;

	if (pl->l <= SHOW_MAX)
		return re_hprintf(pf, "%r", pl);

	return re_hprintf(pf, "%b...", pl->p, (size_t)SHOW_MAX);
}


/* Print a value in double quotes, as written if it was quoted */
static int value_print(struct re_printf *pf, void *arg)
{
	struct pl s = *(const struct pl *)arg;

	unquote(&s);

	return re_hprintf(pf, "\"%H\"", pl_print_short, &s);
}


static int range_print(struct re_printf *pf, void *arg)
{
	const struct serreg_setting_def *def = arg;

	return re_hprintf(pf, "%u..%u%s%s", def->min, def->max,
			  str_isset(def->unit) ? " " : "", def->unit);
}


static int keys_print(struct re_printf *pf, void *arg)
{
	size_t i;
	(void)arg;

	for (i = 0; i < serreg_setting_defc; i++) {
		int err = re_hprintf(pf, "%s, ", serreg_setting_defs[i].key);
		if (err)
			return err;
	}

	return re_hprintf(pf, "%s", current_ladder_key);
}


/* What a ladder name may be, for error texts */
#define LADDER_RULE "a name of 1..32 letters, digits, '-', '_', '.'"



static void errmsg(char *errbuf, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errsz)
		return;

	va_start(ap, fmt);
	(void)re_vsnprintf(errbuf, errsz, fmt, ap);
	va_end(ap);
}


/* The end of a parameter: the next ';' outside double quotes */
static size_t param_len(const struct pl *pl)
{
	bool quoted = false;
	size_t i;

	for (i = 0; i < pl->l; i++) {

		if (quoted && pl->p[i] == '\\')
			++i;
		else if (pl->p[i] == '"')
			quoted = !quoted;
		else if (!quoted && pl->p[i] == ';')
			break;
	}

	return i < pl->l ? i : pl->l;
}


/* ;ladder=NAME: a name, and the same one if given again */
static int ladder_param(struct serreg_acc_params *v, struct pl *first,
			const struct pl *val, char *errbuf, size_t errsz)
{
	char name[SERREG_LADDER_SIZE];

	if (ladder_decode(name, val)) {
		errmsg(errbuf, errsz, "ladder=%H is not " LADDER_RULE,
		       value_print, val);
		return EINVAL;
	}

	if (first->p && str_casecmp(name, v->ladder)) {
		errmsg(errbuf, errsz, "ladder given twice: %H and %H",
		       value_print, first, value_print, val);
		return EINVAL;
	}

	/* the name as first written */
	if (!first->p) {
		*first = *val;
		memcpy(v->ladder, name, sizeof(v->ladder));
	}

	return 0;
}


/**
 * Decode serreg's account parameters (;prio=N;fbregint=S;ladder=NAME)
 *
 * @param prm     Returned parameters, the defaults where absent (the
 *                ladder SERREG_LADDER_DEFAULT)
 * @param params  Account parameters, from ';' on (account_laddr()->params)
 * @param errbuf  Returned error text, empty on success (may be NULL)
 * @param errsz   Size of errbuf
 *
 * @return 0 if success, EINVAL for bad input (*prm holds the defaults)
 */
int serreg_acc_params_decode(struct serreg_acc_params *prm,
			     const struct pl *params,
			     char *errbuf, size_t errsz)
{
	struct serreg_acc_params v;
	struct pl first[ARRAY_SIZE(acc_defs)];
	struct pl first_ladder = PL_INIT;
	struct pl rest;

	if (!prm)
		return EINVAL;

	errmsg(errbuf, errsz, "");
	memset(prm, 0, sizeof(*prm));
	str_ncpy(prm->ladder, SERREG_LADDER_DEFAULT, sizeof(prm->ladder));
	v = *prm;
	memset(first, 0, sizeof(first));

	if (!params || !params->p)
		return 0;

	/* skip what comes before the first ';' */
	rest = *params;
	pl_advance(&rest, param_len(&rest));

	while (rest.l) {
		struct pl name, val = PL("");
		const char *eq;
		size_t i;

		pl_advance(&rest, 1);  /* ';' */
		name.p = rest.p;
		name.l = param_len(&rest);
		pl_advance(&rest, name.l);

		eq = pl_strchr(&name, '=');
		if (eq) {
			val.p = eq + 1;
			val.l = (size_t)(name.p + name.l - val.p);
			name.l = (size_t)(eq - name.p);
		}

		trim(&name);

		if (!pl_strcasecmp(&name, "ladder")) {
			if (ladder_param(&v, &first_ladder, &val, errbuf,
					 errsz))
				return EINVAL;
			continue;
		}

		for (i = 0; i < ARRAY_SIZE(acc_defs); i++) {
			const struct serreg_setting_def *def = &acc_defs[i];
			uint32_t n;

			if (pl_strcasecmp(&name, def->key))
				continue;

			if (u32_decode(&n, &val, def->min, def->max)) {
				errmsg(errbuf, errsz,
				       "%s=%H is not a number in %H",
				       def->key, value_print, &val,
				       range_print, def);
				return EINVAL;
			}

			if (first[i].p && *field(&v, def) != n) {
				errmsg(errbuf, errsz,
				       "%s given twice: %H and %H", def->key,
				       value_print, &first[i],
				       value_print, &val);
				return EINVAL;
			}

			if (!first[i].p)
				first[i] = val;

			*field(&v, def) = n;
			break;
		}
	}

	*prm = v;

	return 0;
}


/**
 * Set every module setting to its default
 *
 * @param set  Settings
 */
void serreg_settings_init(struct serreg_settings *set)
{
	size_t i;

	if (!set)
		return;

	for (i = 0; i < serreg_setting_defc; i++)
		*field(set, &serreg_setting_defs[i]) =
			serreg_setting_defs[i].dflt;

	memset(set->current_ladder, 0, sizeof(set->current_ladder));
}


/**
 * Find a setting by its key (case-insensitive, as conf_get() matches)
 *
 * @param key  Key, e.g. "serreg_probe_timeout"
 *
 * @return The setting, NULL if unknown
 */
const struct serreg_setting_def *serreg_setting_find(const struct pl *key)
{
	size_t i;

	if (!key)
		return NULL;

	for (i = 0; i < serreg_setting_defc; i++) {
		if (!pl_strcasecmp(key, serreg_setting_defs[i].key))
			return &serreg_setting_defs[i];
	}

	return NULL;
}


/**
 * Validate and store one setting
 *
 * @param set     Settings
 * @param key     Key, e.g. "serreg_probe_timeout"
 * @param val     Value as written in the config
 * @param errbuf  Returned error text, empty on success (may be NULL)
 * @param errsz   Size of errbuf
 *
 * @return 0 if success, EINVAL for a bad value (the setting is set to its
 *         default), ENOENT for an unknown key
 */
int serreg_setting_apply(struct serreg_settings *set, const struct pl *key,
			 const struct pl *val, char *errbuf, size_t errsz)
{
	const struct serreg_setting_def *def;
	struct pl v = PL("");
	uint32_t n;

	if (!set || !key)
		return EINVAL;

	errmsg(errbuf, errsz, "");

	if (val && val->p)
		v = *val;

	if (!pl_strcasecmp(key, current_ladder_key)) {
		if (!ladder_decode(set->current_ladder, &v))
			return 0;

		memset(set->current_ladder, 0, sizeof(set->current_ladder));
		errmsg(errbuf, errsz, "%s %H is not " LADDER_RULE "; using "
		       "default (the ladder of the first account)",
		       current_ladder_key, value_print, &v);
		return EINVAL;
	}

	def = serreg_setting_find(key);
	if (!def) {
		errmsg(errbuf, errsz, "unknown setting %H (known: %H)",
		       pl_print_short, (void *)key, keys_print, NULL);
		return ENOENT;
	}

	if (u32_decode(&n, &v, def->min, def->max)) {
		*field(set, def) = def->dflt;
		errmsg(errbuf, errsz,
		       "%s %H is not a number in %H; using default %u",
		       def->key, value_print, &v, range_print, def,
		       def->dflt);
		return EINVAL;
	}

	*field(set, def) = n;

	return 0;
}
