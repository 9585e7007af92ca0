/**
 * @file nodlclose.c  Preloaded with libasan into baresip (make
 *                    integration-asan): dlclose() keeps the library
 *
 * baresip unloads its modules at exit, before LeakSanitizer runs; the
 * frames of an unloaded serreg.so would show as "<unknown module>", and
 * a leak in serreg could then not be told from one in baresip or libre.
 *
 * Copyright (C) 2026 The serreg developers
 */

int dlclose(void *handle);


int dlclose(void *handle)
{
	(void)handle;

	return 0;
}
