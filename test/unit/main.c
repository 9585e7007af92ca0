/**
 * @file main.c  Unit-test runner for serreg's pure code
 *
 * Usage: unittest [name-substring]
 * Ends with the line "N passed, N failed".
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#include "test.h"


struct test {
	const char *name;
	int (*exec)(void);
};

static const struct test tests[] = {
#define X(name) {#name, name},
#include "tests.h"
#undef X
};


int main(int argc, char *argv[])
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	unsigned passed = 0, failed = 0;
	size_t i;

	(void)libre_init();

	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		struct memstat mst;
		int err;

		if (filter && !strstr(tests[i].name, filter))
			continue;

		err = tests[i].exec();

		/* every test must free what it allocated */
		if (!err && !mem_get_stat(&mst) && mst.blocks_cur) {
			fprintf(stderr, "  %s: %zu blocks leaked\n",
				tests[i].name, mst.blocks_cur);
			mem_debug();
			err = ENOMEM;
		}

		if (err) {
			printf("FAIL %s (%s)\n", tests[i].name, strerror(err));
			++failed;
		}
		else {
			printf("ok   %s\n", tests[i].name);
			++passed;
		}
	}

	libre_close();

	printf("%u passed, %u failed\n", passed, failed);

	return failed ? 1 : 0;
}
