/**
 * @file kafail.c  Fault injection: serreg's watches cannot start
 *
 * Preloaded into baresip by test_liveness.py.  While the file named by
 * SERREG_KAFAIL_FILE exists, sip_keepalive_start() called from
 * serreg.so fails with ENOTCONN, as libre's does when the connection
 * of the message closed between the answer and the watch (its TCP
 * connection gone: an answer over TLS waits for serreg's verification
 * of the certificate meanwhile).  libre's and baresip's own calls are
 * untouched.  Built by the test with the system compiler.
 *
 * Copyright (C) 2026 The serreg developers
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sip_keepalive;
struct sip;
struct sip_msg;

typedef void (sip_keepalive_h)(int err, void *arg);
typedef int (start_f)(struct sip_keepalive **kap, struct sip *sip,
		      const struct sip_msg *msg, uint32_t interval,
		      sip_keepalive_h *kah, void *arg);

int sip_keepalive_start(struct sip_keepalive **kap, struct sip *sip,
			const struct sip_msg *msg, uint32_t interval,
			sip_keepalive_h *kah, void *arg);


static int failing(const void *caller)
{
	const char *flag = getenv("SERREG_KAFAIL_FILE");
	Dl_info info;

	if (!flag || access(flag, F_OK))
		return 0;

	return dladdr(caller, &info) && info.dli_fname &&
		strstr(info.dli_fname, "serreg.so") != NULL;
}


int sip_keepalive_start(struct sip_keepalive **kap, struct sip *sip,
			const struct sip_msg *msg, uint32_t interval,
			sip_keepalive_h *kah, void *arg)
{
	static start_f *real;

	if (!real)
		real = (start_f *)dlsym(RTLD_NEXT, "sip_keepalive_start");

	if (failing(__builtin_return_address(0)))
		return ENOTCONN;

	return real(kap, sip, msg, interval, kah, arg);
}
