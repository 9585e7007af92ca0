/**
 * @file serreg.h  serreg module internals shared by its files
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_H
#define SERREG_H

struct sr_engine;
struct sr_account;
struct sr_answer;
struct ua;

/** What the status command shows */
struct serreg_view {
	const struct sr_engine *eng;
	uint64_t now;              /**< [ms]                           */
	uint32_t probe_timeout;    /**< [s]                            */
	uint32_t check_interval;   /**< [s], 0 = off                   */
	struct ua *(*ua_h)(const struct sr_account *sra);
};

/** Kinds of the module's own objects, counted live for "serreg json" */
enum serreg_obj {
	SERREG_OBJ_ACCOUNT = 0,    /**< struct account (serreg.c)      */
	SERREG_OBJ_PENDING,        /**< struct pending (serreg.c)      */
	SERREG_OBJ_PROBE,          /**< struct probe (probe.c)         */
	SERREG_OBJ_WATCH,          /**< struct watch (watch.c)         */

	SERREG_OBJ_COUNT
};

/* status.c */
void serreg_mem_alloced(enum serreg_obj kind, size_t size);
void serreg_mem_freed(enum serreg_obj kind, size_t size);
int  serreg_status_print(struct re_printf *pf, const struct serreg_view *v);
int  serreg_status_json(struct re_printf *pf, const struct serreg_view *v);
void serreg_answer_print(char *buf, size_t sz, const struct sr_answer *ans);

/* serreg.c */
struct ua *serreg_view_ua(const struct sr_account *sra);

#endif
