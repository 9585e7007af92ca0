/**
 * @file serreg_verify.h  Verification of a TLS registrar's certificate
 *
 * libre 1.1.0's SIP transport never asks OpenSSL to verify the server,
 * so baresip 1.0.0 registers over TLS to any certificate.  serreg makes
 * its own TLS connection to the registrar that answered a probe or a
 * check over TLS, verifies the certificate chain against baresip's
 * sip_cafile and the host name, and counts a registrar that fails as
 * dead.
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_VERIFY_H
#define SERREG_VERIFY_H

/**
 * The err of an answer from a TLS registrar that failed verification:
 * SERREG_ETLS + OpenSSL's X509_V_ERR code, or SERREG_ETLS alone when the
 * TLS handshake failed without a certificate error.  Far above any
 * errno, so that no errno text is ever printed for it.
 */
enum {
	SERREG_ETLS     = 0x5e7000,
	SERREG_ETLS_MAX = SERREG_ETLS + 0xfff,
};

struct verify;
struct account;
struct sa;

/** The verdict: 0 verified, else an err (SERREG_ETLS..., ETIMEDOUT...) */
typedef void (verify_h)(int err, void *arg);

int  serreg_verify(struct verify **vp, const struct sa *peer,
		   const char *host, uint32_t timeout, verify_h *vh,
		   void *arg);
bool serreg_verify_tls(const struct account *acc);
int  serreg_verify_host(char **hostp, const struct account *acc);
bool serreg_verify_failed(int err);
void serreg_verify_print(char *buf, size_t sz, int err);
void serreg_verify_close(void);

#endif
