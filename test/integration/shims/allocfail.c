/**
 * @file allocfail.c  Fault injection: serreg's allocations fail on demand
 *
 * Preloaded into baresip by test_alloc.py.  While the file named by
 * SERREG_ALLOCFAIL_FILE exists, every mem_zalloc()/mem_alloc() called
 * from serreg.so returns NULL; libre's and baresip's own allocations
 * are untouched.  Built by the test with the system compiler.
 *
 * Copyright (C) 2026 The serreg developers
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>

typedef void (mem_destroy_h)(void *data);
typedef void *(alloc_f)(size_t size, mem_destroy_h *dh);

void *mem_zalloc(size_t size, mem_destroy_h *dh);
void *mem_alloc(size_t size, mem_destroy_h *dh);


static int failing(const void *caller)
{
	const char *flag = getenv("SERREG_ALLOCFAIL_FILE");
	Dl_info info;

	if (!flag || access(flag, F_OK))
		return 0;

	return dladdr(caller, &info) && info.dli_fname &&
		strstr(info.dli_fname, "serreg.so") != NULL;
}


void *mem_zalloc(size_t size, mem_destroy_h *dh)
{
	static alloc_f *real;

	if (!real)
		real = (alloc_f *)dlsym(RTLD_NEXT, "mem_zalloc");

	if (failing(__builtin_return_address(0)))
		return NULL;

	return real(size, dh);
}


void *mem_alloc(size_t size, mem_destroy_h *dh)
{
	static alloc_f *real;

	if (!real)
		real = (alloc_f *)dlsym(RTLD_NEXT, "mem_alloc");

	if (failing(__builtin_return_address(0)))
		return NULL;

	return real(size, dh);
}
