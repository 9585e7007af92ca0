/**
 * @file test_params.c  Account parameters and module settings
 *
 * Table-driven: each row is an input and the exact result, including the
 * whole error text, so every text is checked to name the parameter, the
 * value and the range.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "params.h"
#include "test.h"


#define TEST_STR(expected, actual)					\
	do {								\
		const char *e_ = (expected);				\
		const char *a_ = (actual);				\
		if (strcmp(e_, a_)) {					\
			fprintf(stderr, "  %s:%d: %s:\n"		\
				"    expected '%s'\n"			\
				"    got      '%s'\n",			\
				__FILE__, __LINE__, #actual, e_, a_);	\
			return EINVAL;					\
		}							\
	} while (0)


static int acc_decode(struct serreg_acc_params *prm, const char *params,
		      char *errbuf, size_t errsz)
{
	struct pl pl;

	pl_set_str(&pl, params);

	return serreg_acc_params_decode(prm, &pl, errbuf, errsz);
}


int test_params_acc_defaults(void)
{
	static const char *paramv[] = {
		"",
		";regint=60",
		";regint=60;auth_pass=x;answermode=manual",
		";;",
		" ",
	};
	struct serreg_acc_params prm;
	char errbuf[256] = "junk";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(paramv); i++) {
		memset(&prm, 0xff, sizeof(prm));
		TEST_ERR(acc_decode(&prm, paramv[i], errbuf, sizeof(errbuf)));
		TEST_EQ(0, prm.prio);
		TEST_EQ(0, prm.fbregint);
		TEST_STR("", errbuf);
	}

	/* no params at all */
	memset(&prm, 0xff, sizeof(prm));
	TEST_ERR(serreg_acc_params_decode(&prm, NULL, NULL, 0));
	TEST_EQ(0, prm.prio);
	TEST_EQ(0, prm.fbregint);

	memset(&prm, 0xff, sizeof(prm));
	TEST_ERR(serreg_acc_params_decode(&prm, &pl_null, NULL, 0));
	TEST_EQ(0, prm.prio);
	TEST_EQ(0, prm.fbregint);

	TEST_EQ(EINVAL, serreg_acc_params_decode(NULL, &pl_null, NULL, 0));

	return 0;
}


int test_params_acc_valid(void)
{
	static const struct {
		const char *params;
		uint32_t prio;
		uint32_t fbregint;
	} testv[] = {
		{";prio=0",                               0,     0},
		{";prio=1",                               1,     0},
		{";prio=65535",                           65535, 0},
		{";prio=007",                             7,     0},
		{";fbregint=0",                           0,     0},
		{";fbregint=86400",                       0,     86400},
		{";regint=60;prio=1;fbregint=5;auth_pass=x", 1,  5},
		{";regint=60;auth_pass=x;prio=2;fbregint=7", 2,  7},
		{";fbregint=30;prio=3",                   3,     30},

		/* not ours: names that contain ours */
		{";xprio=5",                              0,     0},
		{";priority=5;prio_x=6",                  0,     0},
		{";fbregintx=9;xfbregint=8;regint=60",    0,     0},
		{";xprio=abc;prio=4;fbregintx=-1",        4,     0},

		/* found as msg_param_decode() finds them */
		{";PRIO=3;FbRegInt=4",                    3,     4},
		{"; prio =3;\tfbregint=4",                3,     4},
		{" ;prio=3",                              3,     0},

		/* quoted as in SIP; msg_param_decode() unquotes too */
		{";prio=\"1\";fbregint=\"60\"",           1,     60},

		/* a ';' in a quoted value does not start a parameter */
		{";auth_pass=\"a;prio=x\";prio=2",        2,     0},

		/* given twice with the same value */
		{";prio=1;prio=1",                        1,     0},
		{";prio=1;prio=01;prio=\"1\"",            1,     0},
		{";fbregint=5;prio=2;fbregint=5",         2,     5},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		struct serreg_acc_params prm;
		char errbuf[256];
		int err;

		err = acc_decode(&prm, testv[i].params, errbuf,
				 sizeof(errbuf));
		if (err) {
			fprintf(stderr, "  %s: %s\n", testv[i].params, errbuf);
			return err;
		}

		TEST_EQ(testv[i].prio, prm.prio);
		TEST_EQ(testv[i].fbregint, prm.fbregint);
		TEST_STR("", errbuf);
	}

	return 0;
}


int test_params_acc_invalid(void)
{
	static const struct {
		const char *params;
		const char *msg;
	} testv[] = {
		/* not a number */
		{";prio=abc",  "prio=\"abc\" is not a number in 0..65535"},
		{";prio=",     "prio=\"\" is not a number in 0..65535"},
		{";prio",      "prio=\"\" is not a number in 0..65535"},
		{";prio;fbregint=5",
		 "prio=\"\" is not a number in 0..65535"},
		{";prio=1x",   "prio=\"1x\" is not a number in 0..65535"},
		{";prio= 1",   "prio=\" 1\" is not a number in 0..65535"},
		{";prio=1 ",   "prio=\"1 \" is not a number in 0..65535"},
		{";prio=+1",   "prio=\"+1\" is not a number in 0..65535"},
		{";prio=0x10", "prio=\"0x10\" is not a number in 0..65535"},
		{";prio=1.0",  "prio=\"1.0\" is not a number in 0..65535"},
		{";prio==1",   "prio=\"=1\" is not a number in 0..65535"},
		{";prio=\"\"", "prio=\"\" is not a number in 0..65535"},
		{";prio=\"1",  "prio=\"\"1\" is not a number in 0..65535"},
		{";prio=\"a\"", "prio=\"a\" is not a number in 0..65535"},

		/* negative */
		{";prio=-1",   "prio=\"-1\" is not a number in 0..65535"},

		/* out of range, no wrap beyond 2^32 */
		{";prio=65536",
		 "prio=\"65536\" is not a number in 0..65535"},
		{";prio=99999999",
		 "prio=\"99999999\" is not a number in 0..65535"},
		{";prio=4294967296",
		 "prio=\"4294967296\" is not a number in 0..65535"},
		{";prio=4294967297",
		 "prio=\"4294967297\" is not a number in 0..65535"},
		{";prio=99999999999999999999",
		 "prio=\"99999999999999999999\" is not a number in 0..65535"},
		{";prio=18446744073709551617",                  /* 2^64+1 */
		 "prio=\"18446744073709551617\" is not a number in 0..65535"},

		/* fbregint */
		{";fbregint=x",
		 "fbregint=\"x\" is not a number in 0..86400 s"},
		{";fbregint=86401",
		 "fbregint=\"86401\" is not a number in 0..86400 s"},
		{";fbregint=-5",
		 "fbregint=\"-5\" is not a number in 0..86400 s"},
		{";fbregint=",
		 "fbregint=\"\" is not a number in 0..86400 s"},
		{";regint=60;prio=1;fbregint=5s;auth_pass=x",
		 "fbregint=\"5s\" is not a number in 0..86400 s"},

		/* the first bad one is reported */
		{";prio=1;prio=abc",
		 "prio=\"abc\" is not a number in 0..65535"},
		{";fbregint=x;prio=y",
		 "fbregint=\"x\" is not a number in 0..86400 s"},

		/* given twice with different values */
		{";prio=1;prio=2",
		 "prio given twice: \"1\" and \"2\""},
		{";prio=1;regint=60;prio=\"3\"",
		 "prio given twice: \"1\" and \"3\""},
		{";fbregint=5;fbregint=0",
		 "fbregint given twice: \"5\" and \"0\""},
		{";prio=0;PRIO=1",
		 "prio given twice: \"0\" and \"1\""},

		/* long values are cut, the range is always shown */
		{";prio=123456789012345678901234567890123456789",
		 "prio=\"12345678901234567890123456789012...\""
		 " is not a number in 0..65535"},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		struct serreg_acc_params prm;
		char errbuf[256];

		memset(&prm, 0xff, sizeof(prm));
		TEST_EQ(EINVAL, acc_decode(&prm, testv[i].params, errbuf,
					   sizeof(errbuf)));
		TEST_STR(testv[i].msg, errbuf);

		/* the defaults, never a partial result */
		TEST_EQ(0, prm.prio);
		TEST_EQ(0, prm.fbregint);
	}

	return 0;
}


/* The text ends up in a sip_addr as baresip's account_alloc() decodes it */
int test_params_acc_sip_addr(void)
{
	struct serreg_acc_params prm;
	struct sip_addr addr;
	char errbuf[256];
	struct pl line;

	pl_set_str(&line, "\"Alice\" <sip:alice@127.0.0.1:5060;transport=tcp>"
		   ";regint=60;prio=2;fbregint=15;auth_pass=x");
	TEST_ERR(sip_addr_decode(&addr, &line));
	TEST_ERR(serreg_acc_params_decode(&prm, &addr.params, errbuf,
					  sizeof(errbuf)));
	TEST_EQ(2, prm.prio);
	TEST_EQ(15, prm.fbregint);

	/* a uri parameter is not an account parameter */
	pl_set_str(&line, "<sip:alice@127.0.0.1;prio=abc>;prio=1");
	TEST_ERR(sip_addr_decode(&addr, &line));
	TEST_ERR(serreg_acc_params_decode(&prm, &addr.params, errbuf,
					  sizeof(errbuf)));
	TEST_EQ(1, prm.prio);

	return 0;
}


/* True if errbuf holds a prefix of msg, cut within sz, and no more */
static bool is_cut(const char *errbuf, size_t sz, const char *msg)
{
	size_t n = strlen(errbuf);

	return n < sz && !strncmp(errbuf, msg, n) && errbuf[sz] == 'x';
}


/* errbuf: may be small or absent; never overrun */
int test_params_errbuf(void)
{
	struct serreg_settings set;
	struct serreg_acc_params prm;
	struct pl key = PL("serreg_probe_timeout"), val = PL("abc");
	char errbuf[16];
	size_t sz;

	for (sz = 1; sz < sizeof(errbuf); sz++) {

		memset(errbuf, 'x', sizeof(errbuf));
		TEST_EQ(EINVAL, acc_decode(&prm, ";prio=abc", errbuf, sz));
		TEST_ASSERT(is_cut(errbuf, sz, "prio=\"abc\" is not a"));

		serreg_settings_init(&set);
		memset(errbuf, 'x', sizeof(errbuf));
		TEST_EQ(EINVAL, serreg_setting_apply(&set, &key, &val,
						     errbuf, sz));
		TEST_ASSERT(is_cut(errbuf, sz, "serreg_probe_timeout \"a"));
	}

	TEST_EQ(EINVAL, acc_decode(&prm, ";prio=abc", NULL, 0));
	memset(errbuf, 'x', sizeof(errbuf));
	TEST_EQ(EINVAL, acc_decode(&prm, ";prio=abc", errbuf, 0));
	TEST_EQ('x', errbuf[0]);
	TEST_EQ(EINVAL, serreg_setting_apply(&set, &key, &val, NULL, 0));

	return 0;
}


int test_params_settings_defaults(void)
{
	static const struct {
		const char *key;
		size_t offset;
		uint32_t min, max, dflt;
	} testv[] = {
		{"serreg_check_interval",
		 offsetof(struct serreg_settings, check_interval),
		 0, 3600, 30},
		{"serreg_probe_timeout",
		 offsetof(struct serreg_settings, probe_timeout),  1, 60,   5},
		{"serreg_failback_hold",
		 offsetof(struct serreg_settings, failback_hold),  1, 100,  2},
		{"serreg_backoff_max",
		 offsetof(struct serreg_settings, backoff_max), 1, 86400, 300},
		{"serreg_failback_spread",
		 offsetof(struct serreg_settings, failback_spread), 0, 3600,
		 60},
		{"serreg_server_retry",
		 offsetof(struct serreg_settings, server_retry), 1, 3600,
		 60},
		{"serreg_concurrent",
		 offsetof(struct serreg_settings, concurrent), 0, 1, 0},
	};
	struct serreg_settings set;
	size_t i;

	TEST_EQ(ARRAY_SIZE(testv), serreg_setting_defc);

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		const struct serreg_setting_def *def = &serreg_setting_defs[i];

		TEST_STR(testv[i].key, def->key);
		TEST_EQ(testv[i].offset, def->offset);
		TEST_EQ(testv[i].min, def->min);
		TEST_EQ(testv[i].max, def->max);
		TEST_EQ(testv[i].dflt, def->dflt);
		TEST_ASSERT(def->unit != NULL);
	}

	memset(&set, 0xff, sizeof(set));
	serreg_settings_init(&set);
	TEST_EQ(30,  set.check_interval);
	TEST_EQ(5,   set.probe_timeout);
	TEST_EQ(2,   set.failback_hold);
	TEST_EQ(300, set.backoff_max);
	TEST_EQ(60,  set.failback_spread);

	return 0;
}


int test_params_setting_find(void)
{
	static const struct {
		const char *key;
		int ix;      /* into serreg_setting_defs, -1 = unknown */
	} testv[] = {
		{"serreg_check_interval",  0},
		{"serreg_probe_timeout",   1},
		{"serreg_failback_hold",   2},
		{"serreg_backoff_max",     3},
		{"SERREG_Probe_Timeout",   1},  /* conf_get() ignores case */
		{"serreg_probe_timout",   -1},
		{"serreg_probe_timeoutx", -1},
		{"serreg_probe_timeou",   -1},
		{"serreg_",               -1},
		{"probe_timeout",         -1},
		{"",                      -1},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		const struct serreg_setting_def *def;
		struct pl key;

		pl_set_str(&key, testv[i].key);
		def = serreg_setting_find(&key);

		if (testv[i].ix < 0)
			TEST_ASSERT(def == NULL);
		else
			TEST_ASSERT(def == &serreg_setting_defs[testv[i].ix]);
	}

	TEST_ASSERT(serreg_setting_find(NULL) == NULL);

	return 0;
}


int test_params_setting_apply_valid(void)
{
	static const struct {
		const char *key;
		const char *val;
		uint32_t check_interval, probe_timeout;
		uint32_t failback_hold, backoff_max;
	} testv[] = {
		{"serreg_check_interval", "0",       0,    5,  2,   300},
		{"serreg_check_interval", "3600",    3600, 5,  2,   300},
		{"serreg_check_interval", "\"30\"",  30,   5,  2,   300},
		{"serreg_probe_timeout",  "1",      30,    1,  2,   300},
		{"serreg_probe_timeout",  "60",     30,    60, 2,   300},
		{"serreg_failback_hold",  "1",      30,    5,  1,   300},
		{"serreg_failback_hold",  "100",    30,    5,  100, 300},
		{"serreg_backoff_max",    "1",      30,    5,  2,   1},
		{"serreg_backoff_max",    "86400",  30,    5,  2,   86400},
		{"serreg_backoff_max",    "00300",  30,    5,  2,   300},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		struct serreg_settings set;
		char errbuf[256] = "junk";
		struct pl key, val;

		pl_set_str(&key, testv[i].key);
		pl_set_str(&val, testv[i].val);

		serreg_settings_init(&set);
		TEST_ERR(serreg_setting_apply(&set, &key, &val, errbuf,
					      sizeof(errbuf)));
		TEST_STR("", errbuf);
		TEST_EQ(testv[i].check_interval, set.check_interval);
		TEST_EQ(testv[i].probe_timeout,  set.probe_timeout);
		TEST_EQ(testv[i].failback_hold,  set.failback_hold);
		TEST_EQ(testv[i].backoff_max,    set.backoff_max);
	}

	return 0;
}


int test_params_setting_apply_invalid(void)
{
	static const struct {
		const char *key;
		const char *val;
		const char *msg;
	} testv[] = {
		{"serreg_probe_timeout", "abc",
		 "serreg_probe_timeout \"abc\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", "0",
		 "serreg_probe_timeout \"0\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", "61",
		 "serreg_probe_timeout \"61\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", "-1",
		 "serreg_probe_timeout \"-1\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", "",
		 "serreg_probe_timeout \"\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", "5s",
		 "serreg_probe_timeout \"5s\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", " 5",
		 "serreg_probe_timeout \" 5\" is not a number in 1..60 s;"
		 " using default 5"},
		{"serreg_probe_timeout", "4294967301",
		 "serreg_probe_timeout \"4294967301\" is not a number in"
		 " 1..60 s; using default 5"},
		{"serreg_probe_timeout", "18446744073709551621",
		 "serreg_probe_timeout \"18446744073709551621\" is not a"
		 " number in 1..60 s; using default 5"},
		{"serreg_check_interval", "3601",
		 "serreg_check_interval \"3601\" is not a number in"
		 " 0..3600 s; using default 30"},
		{"serreg_check_interval", "99999999999999999999",
		 "serreg_check_interval \"99999999999999999999\" is not a"
		 " number in 0..3600 s; using default 30"},
		{"serreg_failback_hold", "0",
		 "serreg_failback_hold \"0\" is not a number in"
		 " 1..100 probes; using default 2"},
		{"serreg_failback_hold", "101",
		 "serreg_failback_hold \"101\" is not a number in"
		 " 1..100 probes; using default 2"},
		{"serreg_backoff_max", "0",
		 "serreg_backoff_max \"0\" is not a number in"
		 " 1..86400 s; using default 300"},
		{"serreg_backoff_max", "86401",
		 "serreg_backoff_max \"86401\" is not a number in"
		 " 1..86400 s; using default 300"},
		{"serreg_backoff_max", "1e3",
		 "serreg_backoff_max \"1e3\" is not a number in"
		 " 1..86400 s; using default 300"},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		const struct serreg_setting_def *def;
		struct serreg_settings set, dflt;
		char errbuf[256];
		struct pl key, val;
		size_t j;

		pl_set_str(&key, testv[i].key);
		pl_set_str(&val, testv[i].val);
		def = serreg_setting_find(&key);
		TEST_ASSERT(def != NULL);

		/* a bad value puts back the default, as the text says */
		serreg_settings_init(&dflt);
		/* (7, or the most a key takes if less: not its default) */
		for (j = 0; j < serreg_setting_defc; j++) {
			struct pl k, v = PL("7");

			if (serreg_setting_defs[j].max < 7)
				pl_set_str(&v, "1");
			pl_set_str(&k, serreg_setting_defs[j].key);
			TEST_ERR(serreg_setting_apply(&set, &k, &v, NULL, 0));
		}

		TEST_EQ(EINVAL, serreg_setting_apply(&set, &key, &val,
						     errbuf,
						     sizeof(errbuf)));
		TEST_STR(testv[i].msg, errbuf);

		for (j = 0; j < serreg_setting_defc; j++) {
			const struct serreg_setting_def *d;
			const uint32_t *f, *df;

			d  = &serreg_setting_defs[j];
			f  = (const uint32_t *)(void *)
				((const uint8_t *)&set + d->offset);
			df = (const uint32_t *)(void *)
				((const uint8_t *)&dflt + d->offset);

			TEST_EQ(d == def ? *df : min(7U, d->max), *f);
		}
	}

	return 0;
}


int test_params_setting_unknown(void)
{
	static const char *keyv[] = {
		"serreg_probe_timout",
		"serreg_checkinterval",
		"serreg_",
	};
	struct serreg_settings set, dflt;
	struct pl val = PL("5");
	char errbuf[256], msg[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keyv); i++) {
		struct pl key;

		pl_set_str(&key, keyv[i]);
		serreg_settings_init(&set);
		serreg_settings_init(&dflt);

		TEST_EQ(ENOENT, serreg_setting_apply(&set, &key, &val,
						     errbuf,
						     sizeof(errbuf)));
		re_snprintf(msg, sizeof(msg), "unknown setting %s (known:"
			    " serreg_check_interval, serreg_probe_timeout,"
			    " serreg_failback_hold, serreg_backoff_max,"
			    " serreg_failback_spread, serreg_server_retry,"
			    " serreg_concurrent, serreg_current_ladder)",
			    keyv[i]);
		TEST_STR(msg, errbuf);
		TEST_ASSERT(!memcmp(&set, &dflt, sizeof(set)));
	}

	/* NULL value of an unknown key: still unknown */
	TEST_EQ(ENOENT, serreg_setting_apply(&set, &(struct pl)PL("serreg_x"),
					     NULL, errbuf, sizeof(errbuf)));
	TEST_EQ(EINVAL, serreg_setting_apply(&set, NULL, &val, errbuf,
					     sizeof(errbuf)));
	TEST_EQ(EINVAL, serreg_setting_apply(NULL, &val, &val, errbuf,
					     sizeof(errbuf)));

	return 0;
}


/* ;ladder=NAME: a name, the default ladder without it (issue 12) */
int test_params_acc_ladder(void)
{
	static const struct {
		const char *params;
		const char *ladder;    /* NULL: the error text */
		const char *err;
	} testv[] = {
		{"",                           "default",  NULL},
		{";prio=1",                    "default",  NULL},
		{";ladder=trunk-a",            "trunk-a",  NULL},
		{";LADDER=Line_2.b;prio=1",    "Line_2.b", NULL},
		{"; ladder =x",                "x",        NULL},
		{";ladder=\"quoted\"",         "quoted",   NULL},
		{";ladder=abcdefghijklmnopqrstuvwxyz012345", /* 32 */
		 "abcdefghijklmnopqrstuvwxyz012345", NULL},
		{";ladder=a;prio=2;ladder=a",  "a",        NULL},
		{";ladder=a;ladder=A",         "a",        NULL},
		{";xladder=a b",               "default",  NULL},

		{";ladder=",                   NULL,
		 "ladder=\"\" is not a name of 1..32 letters, digits, "
		 "'-', '_', '.'"},
		{";ladder",                    NULL,
		 "ladder=\"\" is not a name of 1..32 letters, digits, "
		 "'-', '_', '.'"},
		{";ladder=a b",                NULL,
		 "ladder=\"a b\" is not a name of 1..32 letters, digits, "
		 "'-', '_', '.'"},
		{";ladder=trunk/a",            NULL,
		 "ladder=\"trunk/a\" is not a name of 1..32 letters, "
		 "digits, '-', '_', '.'"},
		{";ladder=abcdefghijklmnopqrstuvwxyz0123456", NULL,
		 "ladder=\"abcdefghijklmnopqrstuvwxyz012345...\" is not a "
		 "name of 1..32 letters, digits, '-', '_', '.'"},
		{";ladder=a;ladder=b",         NULL,
		 "ladder given twice: \"a\" and \"b\""},
	};
	struct serreg_acc_params prm;
	char errbuf[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(testv); i++) {
		int err;

		memset(&prm, 0xff, sizeof(prm));
		err = acc_decode(&prm, testv[i].params, errbuf,
				 sizeof(errbuf));
		if (testv[i].ladder) {
			TEST_ERR(err);
			TEST_STR(testv[i].ladder, prm.ladder);
			TEST_STR("", errbuf);
		}
		else {
			TEST_EQ(EINVAL, err);
			TEST_STR(testv[i].err, errbuf);
			TEST_STR("default", prm.ladder);
		}
	}

	return 0;
}


/* serreg_current_ladder: a name, else the default ("") with the error */
int test_params_setting_current_ladder(void)
{
	struct serreg_settings set;
	char errbuf[256];

	serreg_settings_init(&set);
	TEST_STR("", set.current_ladder);

	TEST_ERR(serreg_setting_apply(&set,
				      &(struct pl)PL("serreg_current_ladder"),
				      &(struct pl)PL("trunk-b"), errbuf,
				      sizeof(errbuf)));
	TEST_STR("trunk-b", set.current_ladder);
	TEST_STR("", errbuf);
	TEST_EQ(5, set.probe_timeout);

	TEST_EQ(EINVAL, serreg_setting_apply(&set,
				&(struct pl)PL("SERREG_CURRENT_LADDER"),
				&(struct pl)PL("two words"), errbuf,
				sizeof(errbuf)));
	TEST_STR("", set.current_ladder);
	TEST_STR("serreg_current_ladder \"two words\" is not a name of "
		 "1..32 letters, digits, '-', '_', '.'; using default (the "
		 "ladder of the first account)", errbuf);

	TEST_EQ(EINVAL, serreg_setting_apply(&set,
				&(struct pl)PL("serreg_current_ladder"),
				NULL, errbuf, sizeof(errbuf)));
	TEST_STR("", set.current_ladder);

	return 0;
}
