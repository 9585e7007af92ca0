/**
 * @file test.h  Minimal unit-test support for serreg
 *
 * A test is an int (void) function returning 0 on success.  TEST_ASSERT
 * and TEST_EQ print the failing expression with file and line.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_TEST_H
#define SERREG_TEST_H

#include <stdio.h>

#define TEST_ASSERT(expr)						\
	do {								\
		if (!(expr)) {						\
			fprintf(stderr, "  %s:%d: assertion failed: %s\n", \
				__FILE__, __LINE__, #expr);		\
			return EINVAL;					\
		}							\
	} while (0)

#define TEST_EQ(expected, actual)					\
	do {								\
		long long e_ = (expected);				\
		long long a_ = (actual);				\
		if (e_ != a_) {						\
			fprintf(stderr, "  %s:%d: %s: expected %lld, "	\
				"got %lld\n", __FILE__, __LINE__,	\
				#actual, e_, a_);			\
			return EINVAL;					\
		}							\
	} while (0)

#define TEST_ERR(err)							\
	do {								\
		int e__ = (err);					\
		if (e__) {						\
			fprintf(stderr, "  %s:%d: %s: error %d\n",	\
				__FILE__, __LINE__, #err, e__);		\
			return e__;					\
		}							\
	} while (0)

/* The test list: one X(name) per test function, see tests.h */
#define X(name) int name(void);
#include "tests.h"
#undef X

#endif
