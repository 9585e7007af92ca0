/**
 * @file fuzz_params.c  libFuzzer target: serreg's parsers (params.c)
 *
 * The first input byte chooses what the rest is fed to:
 *
 *  - account parameters (serreg_acc_params_decode): results in range,
 *    the defaults and a named error on failure, error texts terminated
 *    within any buffer size; the same result for the input with every
 *    letter upper-cased (names are case-insensitive, values are digits
 *    or ladder names, compared without regard to case) and with ";x=1"
 *    appended (an unknown parameter, or text inside an unterminated
 *    quote)
 *  - a setting "key\nvalue" (serreg_setting_apply): ENOENT exactly for
 *    unknown keys, the value in range or the default (a valid ladder
 *    name or none for serreg_current_ladder), no other field touched,
 *    the same result for the upper-cased key
 *  - a number, as the value of every known setting, compared with a
 *    reference decoder written from the documented syntax
 *
 * The text is copied to a buffer of its exact size (no terminating NUL),
 * so AddressSanitizer sees any read past its end.
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "params.h"


#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_params: failed: %s\n  ",	\
				#cond);					\
			fprintf(stderr, __VA_ARGS__);			\
			fprintf(stderr, "\n");				\
			abort();					\
		}							\
	} while (0)


static const size_t errsizes[] = {0, 1, 2, 7, 40, 256};


/* An errbuf of the given size, filled with garbage first */
struct ebuf {
	char *p;
	size_t sz;
};


static void ebuf_init(struct ebuf *e, size_t sz)
{
	e->sz = sz;
	e->p = sz ? malloc(sz) : NULL;
	if (sz && !e->p)
		abort();
	if (e->p)
		memset(e->p, 'X', sz);
}


static void ebuf_check(const struct ebuf *e, bool failed, const char *start)
{
	const char *nul;
	size_t len;

	if (!e->sz)
		return;

	nul = memchr(e->p, '\0', e->sz);
	len = nul ? (size_t)(nul - e->p) : e->sz;
	CHECK(len < e->sz, "error text not terminated in %zu bytes", e->sz);

	if (!failed) {
		CHECK(len == 0, "error text on success: %s", e->p);
		return;
	}

	/* the start of the text, as much as fits (libre's re_vsnprintf
	   writes whole pieces only: a small buffer may stay empty) */
	CHECK(e->sz < 64 || len > 0, "empty error text");
	CHECK(!strncmp(e->p, start, min(len, strlen(start))),
	      "error text \"%s\" does not start with \"%s\"", e->p, start);
}


static char *dup_exact(const uint8_t *p, size_t n)
{
	char *s = malloc(n ? n : 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);

	return s;
}


static void upper(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = (char)toupper((unsigned char)s[i]);
}


static void fuzz_acc(const uint8_t *data, size_t size, size_t errsz)
{
	struct serreg_acc_params prm, prm2;
	struct pl pl;
	struct ebuf e;
	char *s, *s2;
	char big[256];
	int err, err2;

	s = dup_exact(data, size);
	pl.p = s;
	pl.l = size;

	ebuf_init(&e, errsz);
	memset(&prm, 0xa5, sizeof(prm));
	err = serreg_acc_params_decode(&prm, &pl, e.p, e.sz);

	CHECK(err == 0 || err == EINVAL, "error %d", err);

	/* the full text: a truncated one is its start */
	err2 = serreg_acc_params_decode(&prm2, &pl, big, sizeof(big));
	CHECK(err2 == err, "again: %d, first %d", err2, err);
	if (err) {
		CHECK(prm.prio == 0 && prm.fbregint == 0,
		      "not the defaults on error: %u %u", prm.prio,
		      prm.fbregint);
		CHECK(!strncmp(big, "prio", 4) ||
		      !strncmp(big, "fbregint", 8) ||
		      !strncmp(big, "ladder", 6),
		      "error text names no parameter: %s", big);
	}
	else {
		CHECK(prm.prio <= SERREG_PRIO_MAX, "prio %u", prm.prio);
		CHECK(prm.fbregint <= SERREG_FBREGINT_MAX, "fbregint %u",
		      prm.fbregint);
	}
	ebuf_check(&e, err != 0, big);
	free(e.p);

	/* upper-cased: the same result */
	s2 = dup_exact(data, size);
	upper(s2, size);
	pl.p = s2;
	err2 = serreg_acc_params_decode(&prm2, &pl, NULL, 0);
	CHECK(err2 == err && (err || (prm2.prio == prm.prio &&
				      prm2.fbregint == prm.fbregint)),
	      "upper-cased: %d %u %u, as written: %d %u %u", err2,
	      prm2.prio, prm2.fbregint, err, prm.prio, prm.fbregint);
	free(s2);

	/* ";x=1" appended: the same result */
	s2 = malloc(size + 4);
	if (!s2)
		abort();
	if (size)
		memcpy(s2, data, size);
	memcpy(s2 + size, ";x=1", 4);
	pl.p = s2;
	pl.l = size + 4;
	err2 = serreg_acc_params_decode(&prm2, &pl, NULL, 0);
	CHECK(err2 == err && (err || (prm2.prio == prm.prio &&
				      prm2.fbregint == prm.fbregint)),
	      "with \";x=1\": %d %u %u, as written: %d %u %u", err2,
	      prm2.prio, prm2.fbregint, err, prm.prio, prm.fbregint);
	free(s2);

	free(s);
}


static void fuzz_setting(const uint8_t *data, size_t size, size_t errsz)
{
	const struct serreg_setting_def *def;
	struct serreg_settings set, ref, set2;
	const uint8_t *nl = memchr(data, '\n', size);
	struct pl key, val;
	struct ebuf e;
	char *s, *k2;
	int err, err2;
	size_t i;

	s = dup_exact(data, size);
	key.p = s;
	key.l = nl ? (size_t)(nl - data) : size;
	val.p = nl ? s + key.l + 1 : NULL;
	val.l = nl ? size - key.l - 1 : 0;

	serreg_settings_init(&set);
	set.check_interval = 7;   /* not the defaults: must stay */
	set.backoff_max = 77;
	ref = set;

	def = serreg_setting_find(&key);

	ebuf_init(&e, errsz);
	err = serreg_setting_apply(&set, &key, nl ? &val : NULL, e.p, e.sz);

	if (!pl_strcasecmp(&key, "serreg_current_ladder")) {
		struct pl name;

		pl_set_str(&name, set.current_ladder);
		CHECK(err == 0 || err == EINVAL, "error %d", err);
		CHECK(err ? !name.l : serreg_ladder_valid(&name),
		      "serreg_current_ladder = \"%s\" (error %d)",
		      set.current_ladder, err);
		memcpy(ref.current_ladder, set.current_ladder,
		       sizeof(ref.current_ladder));
		CHECK(!memcmp(&set, &ref, sizeof(set)),
		      "another field changed");
		ebuf_check(&e, err != 0, "serreg_current_ladder");
	}
	else if (!def) {
		CHECK(err == ENOENT, "unknown key: error %d", err);
		CHECK(!memcmp(&set, &ref, sizeof(set)), "unknown key: set");
		ebuf_check(&e, true, "unknown setting ");
	}
	else {
		uint32_t *f = (uint32_t *)(void *)((uint8_t *)&set +
						   def->offset);

		CHECK(err == 0 || err == EINVAL, "error %d", err);
		CHECK(*f >= def->min && *f <= def->max, "%s = %u", def->key,
		      *f);
		CHECK(!err || *f == def->dflt, "%s = %u on error", def->key,
		      *f);
		*(uint32_t *)(void *)((uint8_t *)&ref + def->offset) = *f;
		CHECK(!memcmp(&set, &ref, sizeof(set)),
		      "another field changed");
		ebuf_check(&e, err != 0, def->key);
	}
	free(e.p);

	/* the key upper-cased: the same result */
	k2 = dup_exact((const uint8_t *)key.p, key.l);
	upper(k2, key.l);
	key.p = k2;
	serreg_settings_init(&set2);
	set2.check_interval = 7;
	set2.backoff_max = 77;
	err2 = serreg_setting_apply(&set2, &key, nl ? &val : NULL, NULL, 0);
	CHECK(err2 == err && !memcmp(&set, &set2, sizeof(set)),
	      "upper-cased key: %d, as written %d", err2, err);
	CHECK(serreg_setting_find(&key) == def, "find: upper-cased key");
	free(k2);

	for (i = 0; i < serreg_setting_defc; i++) {
		struct pl kp;

		pl_set_str(&kp, serreg_setting_defs[i].key);
		CHECK(serreg_setting_find(&kp) == &serreg_setting_defs[i],
		      "find %s", serreg_setting_defs[i].key);
	}

	free(s);
}


/* The documented syntax: digits, optionally in one pair of quotes */
static bool ref_decode(uint32_t *vp, const char *p, size_t n,
		       uint32_t min, uint32_t max)
{
	uint64_t v = 0;
	size_t i;

	if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
		++p;
		n -= 2;
	}

	if (!n)
		return false;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v < 10000000000ULL)
			v = v * 10 + (uint64_t)(p[i] - '0');
	}

	if (v < min || v > max)
		return false;

	*vp = (uint32_t)v;
	return true;
}


static void fuzz_number(const uint8_t *data, size_t size)
{
	char *s = dup_exact(data, size);
	struct pl val = {s, size};
	size_t i;

	for (i = 0; i < serreg_setting_defc; i++) {
		const struct serreg_setting_def *def = &serreg_setting_defs[i];
		struct serreg_settings set;
		struct pl key;
		uint32_t want = 0, *f;
		bool ok;
		int err;

		pl_set_str(&key, def->key);
		serreg_settings_init(&set);
		err = serreg_setting_apply(&set, &key, &val, NULL, 0);
		f = (uint32_t *)(void *)((uint8_t *)&set + def->offset);

		ok = ref_decode(&want, s, size, def->min, def->max);
		CHECK(ok == !err, "%s \"%.*s\": error %d, reference %s",
		      def->key, (int)min(size, (size_t)80), s, err,
		      ok ? "accepts" : "rejects");
		CHECK(!ok || *f == want, "%s \"%.*s\": %u, reference %u",
		      def->key, (int)min(size, (size_t)80), s, *f, want);
	}

	free(s);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode;
	size_t errsz;

	if (size < 1)
		return 0;

	mode = data[0];
	errsz = errsizes[(mode >> 2) % ARRAY_SIZE(errsizes)];
	++data;
	--size;

	switch (mode & 3) {

	case 0:
	case 1:
		fuzz_acc(data, size, errsz);
		break;

	case 2:
		fuzz_setting(data, size, errsz);
		break;

	case 3:
		fuzz_number(data, size);
		break;
	}

	return 0;
}
