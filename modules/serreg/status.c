/**
 * @file status.c  The "serreg" command: the ladders as text or JSON (R40)
 *
 * Text: one section per ladder; a single ladder "default" (no account
 * names a ladder) is shown as before, without its name.  JSON: the
 * fields of one ladder at the top level, as before (the ladder
 * "default", else the one that drives the current UA), and every
 * ladder in "ladders".
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <string.h>
#include <re.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "baresip.h"
#include "params.h"
#include "engine.h"
#include "serreg.h"

/** Live objects of the module (libre's mem_get_stat is ENOSYS without
 *  MEM_DEBUG, as in Debian's libre), shown as "mem" by "serreg json" */
static struct {
	uint32_t live[SERREG_OBJ_COUNT];
	uint64_t bytes;            /**< sum of their sizes             */
	uint64_t allocs;           /**< allocated since loading        */
} mem;

struct print_ctx {
	struct re_printf *pf;
	const struct serreg_view *v;
	const struct sr_engine *eng;   /**< the ladder being printed    */
	int err;
	bool first;
};

/** An object of the module was allocated */
void serreg_mem_alloced(enum serreg_obj kind, size_t size)
{
	if (kind >= SERREG_OBJ_COUNT)
		return;

	++mem.live[kind];
	mem.bytes += size;
	++mem.allocs;
}

/** An object of the module was freed */
void serreg_mem_freed(enum serreg_obj kind, size_t size)
{
	if (kind >= SERREG_OBJ_COUNT || !mem.live[kind])
		return;

	--mem.live[kind];
	mem.bytes -= min(mem.bytes, (uint64_t)size);
}

/* bytes in use on the process's malloc heap, 0 if unknown */
static uint64_t heap_used(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggregate-return"
	mi = mallinfo2();
#pragma GCC diagnostic pop

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

static int json_mem(struct re_printf *pf, const struct list *ladders)
{
	uint32_t objects = 0, naccounts = 0;
	struct le *le;
	int i;

	for (i = 0; i < SERREG_OBJ_COUNT; i++)
		objects += mem.live[i];

	for (le = list_head(ladders); le; le = le->next)
		naccounts += sr_engine_naccounts(ladder_engine(le->data));

	return re_hprintf(pf, "\"mem\":{\"objects\":%u,\"bytes\":%llu,"
			  "\"allocs\":%llu,\"accounts\":%u,"
			  "\"engine_accounts\":%u,\"pending\":%u,"
			  "\"probes\":%u,\"watches\":%u,\"heap\":%llu},",
			  objects, mem.bytes, mem.allocs,
			  mem.live[SERREG_OBJ_ACCOUNT], naccounts,
			  mem.live[SERREG_OBJ_PENDING],
			  mem.live[SERREG_OBJ_PROBE],
			  mem.live[SERREG_OBJ_WATCH], heap_used());
}

/** A registrar's answer in words: "200", "503", the errno text, or why
 *  a TLS registrar failed verification */
void serreg_answer_print(char *buf, size_t sz, const struct sr_answer *ans)
{
	if (!buf || !sz)
		return;

	buf[0] = '\0';

	if (!ans)
		return;

	if (serreg_verify_failed(ans->err))
		serreg_verify_print(buf, sz, ans->err);
	else if (ans->err)
		re_snprintf(buf, sz, "%m", ans->err);
	else if (ans->scode)
		re_snprintf(buf, sz, "%u", ans->scode);
}

static const char *role(const struct sr_engine *eng,
			const struct sr_account *acc)
{
	if (!sr_account_active(acc))
		return "standby";

	if ((int)sr_account_prio(acc) == sr_engine_target_tier(eng))
		return "target";

	if ((int)sr_account_prio(acc) == sr_engine_hot_tier(eng))
		return "hot";

	return "current";
}

static const char *aor(const struct serreg_view *v,
		       const struct sr_account *acc)
{
	struct ua *ua = v->ua_h ? v->ua_h(acc) : NULL;

	return ua ? serreg_aor(ua) : "?";
}

static uint64_t age(const struct serreg_view *v, uint64_t when)
{
	return v->now > when ? (v->now - when) / 1000 : 0;
}

/* The table's cells that vary in width: the last answer and the interval */
static void row_cells(const struct serreg_view *v,
		      const struct sr_account *acc,
		      char *answer, size_t asz, char *interval, size_t isz)
{
	const struct sr_answer *ans;
	uint64_t when = 0;

	str_ncpy(answer, "-", asz);
	ans = sr_account_last(acc, &when);
	if (ans) {
		char txt[112];

		serreg_answer_print(txt, sizeof(txt), ans);
		re_snprintf(answer, asz, "%s %llus ago", txt, age(v, when));
	}

	if (sr_account_active(acc) && v->check_interval)
		re_snprintf(interval, isz, "check %us", v->check_interval);
	else if (sr_account_active(acc))
		str_ncpy(interval, "refresh", isz);
	else if (sr_account_fbregint(acc))
		re_snprintf(interval, isz, "probe %us",
			    sr_account_fbregint(acc));
	else
		str_ncpy(interval, "no probe", isz);
}

/* Column widths: the heading's, or the longest cell's (a long answer
 * such as "Connection refused 0s ago" widens its column instead of
 * pushing the next one) */
struct table_width {
	const struct serreg_view *v;
	size_t answer;
	size_t interval;
};

static bool width_acc_h(const struct sr_account *acc, void *arg)
{
	struct table_width *w = arg;
	char answer[128], interval[32];

	row_cells(w->v, acc, answer, sizeof(answer), interval,
		  sizeof(interval));
	w->answer = max(w->answer, strlen(answer));
	w->interval = max(w->interval, strlen(interval));

	return false;
}

/* s, left-aligned in a column of width characters and one space */
static int print_cell(struct re_printf *pf, const char *s, size_t width)
{
	static const char spaces[] = "                                "
		"                                                        "
		"                                        ";
	size_t len = strlen(s);
	size_t pad = (width > len ? width - len : 0) + 1;

	return re_hprintf(pf, "%s%b", s, spaces,
			  min(pad, sizeof(spaces) - 1));
}

struct table_ctx {
	struct print_ctx *ctx;
	const struct table_width *w;
};

static const char *server_name(const struct serreg_view *v,
			       const struct sr_account *acc, unsigned i)
{
	return v->server_h ? v->server_h(acc, i) : "?";
}

/** What is shown of one server of an account's set */
struct server_view {
	unsigned i;
	const char *name;          /**< "udp:192.0.2.10:5060"           */
	enum sr_srv_state state;
	uint64_t retry_in;         /**< [s] a dead one is still skipped */
	bool in_use;               /**< its requests go to it           */
	bool pinned;               /**< ... and it is not the first     */
};

typedef int (server_view_h)(struct re_printf *pf,
			    const struct server_view *sv);

/* Each server of its registrar's set, if it has one (none: 0) */
static int servers_apply(struct re_printf *pf, const struct serreg_view *v,
			 const struct sr_account *acc, server_view_h *h)
{
	unsigned n = sr_account_nservers(acc);
	int use = sr_account_server(acc);
	struct server_view sv;
	int err = 0;

	if (n < 2)
		return 0;

	for (sv.i = 0; sv.i < n && !err; sv.i++) {
		uint64_t retry_at = 0;

		sv.name     = server_name(v, acc, sv.i);
		sv.state    = sr_account_server_state(acc, sv.i, &retry_at);
		sv.retry_in = sv.state == SR_SRV_DEAD && retry_at > v->now ?
			(retry_at - v->now + 999) / 1000 : 0;
		sv.in_use   = (int)sv.i == use;
		sv.pinned   = sv.in_use && sr_account_pinned(acc);

		err = h(pf, &sv);
	}

	return err;
}

/* "udp:192.0.2.10:5060 dead (retry in 55s)", "... alive (in use,
   pinned)" */
static int print_server_h(struct re_printf *pf, const struct server_view *sv)
{
	char retry[32] = "";
	int err;

	err = re_hprintf(pf, "%s %s %s", sv->i ? "," : "", sv->name,
			 sr_srv_state_name(sv->state));

	if (sv->retry_in)
		re_snprintf(retry, sizeof(retry), "retry in %llus",
			    sv->retry_in);

	if (sv->retry_in || sv->in_use)
		err |= re_hprintf(pf, " (%s%s%s%s)", retry,
				  retry[0] && sv->in_use ? ", " : "",
				  sv->in_use ? "in use" : "",
				  sv->pinned ? ", pinned" : "");

	return err;
}

/* The servers line of an account with a set: state, which one its
   requests go to, and for how long a dead one is skipped */
static int print_servers(struct re_printf *pf, const struct serreg_view *v,
			 const struct sr_account *acc)
{
	int err;

	if (sr_account_nservers(acc) < 2)
		return 0;

	err  = re_hprintf(pf, "         servers:");
	err |= servers_apply(pf, v, acc, print_server_h);

	return err | re_hprintf(pf, "\n");
}

static bool print_acc_h(const struct sr_account *acc, void *arg)
{
	struct table_ctx *t = arg;
	struct print_ctx *ctx = t->ctx;
	char answer[128];
	char interval[32];

	row_cells(ctx->v, acc, answer, sizeof(answer), interval,
		  sizeof(interval));

	ctx->err |= re_hprintf(ctx->pf, "  %5u  %-8s %-12s ",
			       sr_account_prio(acc),
			       role(ctx->eng, acc),
			       sr_acc_state_name(sr_account_state(acc)));
	ctx->err |= print_cell(ctx->pf, answer, t->w->answer);
	ctx->err |= print_cell(ctx->pf, interval, t->w->interval);
	ctx->err |= re_hprintf(ctx->pf, "%s\n", aor(ctx->v, acc));
	ctx->err |= print_servers(ctx->pf, ctx->v, acc);

	return ctx->err != 0;
}

static int print_tier(struct re_printf *pf, int prio)
{
	if (prio < 0)
		return re_hprintf(pf, "none");

	return re_hprintf(pf, "%d", prio);
}

/* One ladder for a person; named unless it is the only one and the
   default */
static void print_ladder(struct print_ctx *ctx, const struct ladder *l,
			 bool named)
{
	struct re_printf *pf = ctx->pf;
	const struct serreg_view *v = ctx->v;
	const struct sr_engine *eng = ladder_engine(l);
	struct table_width w = {v, 24, 12};
	struct table_ctx table = {ctx, &w};
	uint64_t until = sr_engine_backoff_until(eng);

	ctx->eng = eng;

	ctx->err |= re_hprintf(pf, "serreg: ");

	if (named)
		ctx->err |= re_hprintf(pf, "ladder %s%s: ", ladder_name(l),
				       l == ladder_driving() ?
				       " (current UA)" : "");

	ctx->err |= re_hprintf(pf, "%s, current tier ",
			       sr_state_name(sr_engine_state(eng)));
	ctx->err |= print_tier(pf, sr_engine_current_tier(eng));

	if (sr_engine_target_tier(eng) >= 0) {
		ctx->err |= re_hprintf(pf, ", moving to tier ");
		ctx->err |= print_tier(pf, sr_engine_target_tier(eng));
	}

	if (sr_engine_hot_tier(eng) >= 0) {
		ctx->err |= re_hprintf(pf, ", hot standby tier ");
		ctx->err |= print_tier(pf, sr_engine_hot_tier(eng));
	}

	if (sr_engine_last_move(eng))
		ctx->err |= re_hprintf(pf, ", last move %llus ago (%s)",
				       age(v, sr_engine_last_move(eng)),
				       sr_reason_name(
					       sr_engine_last_reason(eng)));

	if (until > v->now)
		ctx->err |= re_hprintf(pf, ", next round in %llus",
				       (until - v->now + 999) / 1000);

	if (sr_engine_failback_held(eng))
		ctx->err |= re_hprintf(pf,
				       ", failback waits for a call to end");

	(void)sr_engine_apply(eng, width_acc_h, &w);

	ctx->err |= re_hprintf(pf, "\n  %5s  %-8s %-12s ",
			       "tier", "role", "state");
	ctx->err |= print_cell(pf, "last answer", w.answer);
	ctx->err |= print_cell(pf, "interval", w.interval);
	ctx->err |= re_hprintf(pf, "account\n");

	(void)sr_engine_apply(eng, print_acc_h, &table);
}

/** Print the ladders for a person */
int serreg_status_print(struct re_printf *pf, const struct serreg_view *v)
{
	struct print_ctx ctx = {pf, v, NULL, 0, true};
	const struct ladder *head = list_ledata(list_head(v->ladders));
	bool named = list_count(v->ladders) > 1 ||
		(head && !ladder_is_default(head));
	struct le *le;

	/* no ladder yet: an empty one */
	if (!head)
		print_ladder(&ctx, NULL, false);

	for (le = list_head(v->ladders); le; le = le->next)
		print_ladder(&ctx, le->data, named);

	return ctx.err;
}

static int json_server_h(struct re_printf *pf, const struct server_view *sv)
{
	return re_hprintf(pf, "%s{\"addr\":\"%H\",\"state\":\"%s\","
			  "\"in_use\":%s,\"retry_in\":%llu}",
			  sv->i ? "," : "", utf8_encode, sv->name,
			  sr_srv_state_name(sv->state),
			  sv->in_use ? "true" : "false", sv->retry_in);
}

/* "servers" and "pinned" of an account with a set */
static int json_servers(struct re_printf *pf, const struct serreg_view *v,
			const struct sr_account *acc)
{
	int err;

	if (sr_account_nservers(acc) < 2)
		return 0;

	err  = re_hprintf(pf, ",\"servers\":[");
	err |= servers_apply(pf, v, acc, json_server_h);

	return err | re_hprintf(pf, "],\"pinned\":%s",
				sr_account_pinned(acc) ? "true" : "false");
}

static bool json_acc_h(const struct sr_account *acc, void *arg)
{
	struct print_ctx *ctx = arg;
	const struct sr_answer *ans;
	uint64_t when = 0;
	char answer[112] = "";

	ans = sr_account_last(acc, &when);
	serreg_answer_print(answer, sizeof(answer), ans);

	ctx->err |= re_hprintf(ctx->pf,
			       "%s{\"aor\":\"%H\",\"tier\":%u,"
			       "\"role\":\"%s\",\"state\":\"%s\","
			       "\"fbregint\":%u",
			       ctx->first ? "" : ",",
			       utf8_encode, aor(ctx->v, acc),
			       sr_account_prio(acc),
			       role(ctx->eng, acc),
			       sr_acc_state_name(sr_account_state(acc)),
			       sr_account_fbregint(acc));

	if (ans)
		ctx->err |= re_hprintf(ctx->pf,
				       ",\"answer\":\"%s\",\"scode\":%u,"
				       "\"answer_age\":%llu",
				       answer, ans->scode, age(ctx->v, when));
	else
		ctx->err |= re_hprintf(ctx->pf, ",\"answer\":null");

	ctx->err |= json_servers(ctx->pf, ctx->v, acc);
	ctx->err |= re_hprintf(ctx->pf, "}");
	ctx->first = false;

	return ctx->err != 0;
}

/* The fields of one ladder (the top level's, and each in "ladders") */
static void json_ladder(struct print_ctx *ctx, const struct sr_engine *eng)
{
	struct re_printf *pf = ctx->pf;
	const struct serreg_view *v = ctx->v;
	uint64_t until = sr_engine_backoff_until(eng);

	ctx->eng   = eng;
	ctx->first = true;

	ctx->err |= re_hprintf(pf, "\"state\":\"%s\",\"current\":%d,"
			       "\"target\":%d,\"hot\":%d,",
			       sr_state_name(sr_engine_state(eng)),
			       sr_engine_current_tier(eng),
			       sr_engine_target_tier(eng),
			       sr_engine_hot_tier(eng));

	if (sr_engine_last_move(eng))
		ctx->err |= re_hprintf(pf, "\"last_move\":{\"reason\":\"%s\","
				       "\"age\":%llu},",
				       sr_reason_name(
					       sr_engine_last_reason(eng)),
				       age(v, sr_engine_last_move(eng)));
	else
		ctx->err |= re_hprintf(pf, "\"last_move\":null,");

	ctx->err |= re_hprintf(pf, "\"backoff\":%llu,"
			       "\"failback_held\":%s,\"accounts\":[",
			       until > v->now ?
			       (until - v->now + 999) / 1000 : 0ULL,
			       sr_engine_failback_held(eng) ?
			       "true" : "false");

	(void)sr_engine_apply(eng, json_acc_h, ctx);

	ctx->err |= re_hprintf(pf, "]");
}

/** Print the ladders as one JSON object, for programs */
int serreg_status_json(struct re_printf *pf, const struct serreg_view *v)
{
	struct print_ctx ctx = {pf, v, NULL, 0, true};
	const struct ladder *top = ladder_find(SERREG_LADDER_DEFAULT);
	const struct ladder *driving = ladder_driving();
	struct le *le;

	if (!top)
		top = driving ? driving :
			list_ledata(list_head(v->ladders));

	ctx.err |= re_hprintf(pf, "{");
	json_ladder(&ctx, ladder_engine(top));
	ctx.err |= re_hprintf(pf, ",");
	ctx.err |= json_mem(pf, v->ladders);

	ctx.err |= re_hprintf(pf, "\"probe_timeout\":%u,\"check_interval\":%u,"
			      "\"ladder\":\"%s\",\"current_ladder\":",
			      v->probe_timeout, v->check_interval,
			      top ? ladder_name(top) : SERREG_LADDER_DEFAULT);

	if (driving)
		ctx.err |= re_hprintf(pf, "\"%s\"", ladder_name(driving));
	else
		ctx.err |= re_hprintf(pf, "null");

	ctx.err |= re_hprintf(pf, ",\"ladders\":[");

	for (le = list_head(v->ladders); le; le = le->next) {
		const struct ladder *l = le->data;

		ctx.err |= re_hprintf(pf, "%s{\"name\":\"%s\","
				      "\"drives_current\":%s,",
				      le == list_head(v->ladders) ? "" : ",",
				      ladder_name(l),
				      l == driving ? "true" : "false");
		json_ladder(&ctx, ladder_engine(l));
		ctx.err |= re_hprintf(pf, "}");
	}

	ctx.err |= re_hprintf(pf, "]}\n");

	return ctx.err;
}
