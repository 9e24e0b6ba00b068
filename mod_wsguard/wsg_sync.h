/* wsg_sync: one step of the CrowdSec sync, independent of httpd (the glue calls it from a
 * mod_watchdog task every interval; tests call it directly). A step pushes the outbox (local bans
 * as alerts, unbans as decision deletions) in batches, then pulls the decision stream (startup=true
 * on the first pull and every `resync`) and applies it to the address store idempotently.
 * Failures back off (doubling from backoff_min to backoff_max, push and pull apart) and are
 * reported, never logged: the report says when a direction changed between working and failing,
 * so the caller logs once. While an unreachable LAPI is backed off, each step still asks its
 * /health (one cheap GET, no login, no database): when it answers, the backlog goes at once,
 * so a long outage does not delay the return by the backoff. Refused credentials stay backed off
 * (each login costs the LAPI a bcrypt) until the backoff ends or the sync is made anew (a
 * restart with fixed credentials tries at once: the backoff deadlines are not restored). Portable core: APR, LMDB (through wsg_store / wsg_outbox), libcurl
 * (through wsg_lapi).
 *
 * How a pulled decision meets the store (wsg_sync_merge_new / wsg_sync_merge_deleted):
 *   - only type "ban", scope Ip or Range; an allowlisted address is never written;
 *   - a range is stored as what the request path looks up: /24 (IPv4) and /64 (IPv6) prefix
 *     records, an address record for /32 and /128, a wider or narrower range expanded into at
 *     most 256 such keys (else skipped and counted);
 *   - "new": no ban there (or an expired one) -> banned until now+duration, flag WSG_RF_CROWDSEC,
 *     source = the decision's origin ("cscli", "crowdsec", "mod_wsguard"...). An active pulled
 *     ban is only ever lengthened. An active local ban (no WSG_RF_CROWDSEC: scored, manual or
 *     imported) is never shortened nor relabelled: a pulled decision that ends later lengthens
 *     it and adds WSG_RF_CROWDSEC, its own flags and source stay;
 *   - a key whose unban is still waiting in the outbox is not banned again by a pulled decision
 *     (the one that unban will delete once the LAPI takes it);
 *   - a record an operator unbanned (WSG_RF_UNBANNED: wsguardctl unban) is not banned again by
 *     a startup=true listing (decisions the LAPI still holds from before the unban: its delete
 *     was refused, or this server only pulls); a decision in a delta (made since the last pull)
 *     bans it again, as any new evidence does;
 *   - a server that cannot push (no machine=) drops what wsguardctl queued for it;
 *   - "deleted": lifts a ban flagged WSG_RF_CROWDSEC (a record that exists only for it goes).
 *     It lifts a local ban only when the decision is one of ours (origin WSG_LAPI_ORIGIN, so it
 *     was pushed, by this server or a peer), was deleted less than 5 minutes ago and after the
 *     record was last scored, and no push of that key is still pending: an operator's
 *     `cscli decisions delete` lifts the ban everywhere, a stale expired decision repeated by
 *     the stream (or listed by startup=true) does not undo a fresh local ban. */
#ifndef WSG_SYNC_H
#define WSG_SYNC_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_time.h>
#include "wsg_ip.h"
#include "wsg_store.h"
#include "wsg_outbox.h"
#include "wsg_lapi.h"

typedef struct wsg_sync_opts_t {
    const wsg_allow_t  *allow;         /* WSGuardAllow: never banned by a pull (NULL: none) */
    int                 batch;         /* bans per POST /v1/alerts; 0: 500 */
    int                 max_batches;   /* pushes per step (bounds a step's time); 0: 40 */
    apr_interval_time_t backoff_min;   /* 0: 1 s */
    apr_interval_time_t backoff_max;   /* 0: 5 min */
    apr_interval_time_t resync;        /* startup=true again after this; 0: 15 min */
    apr_interval_time_t max_ban;       /* cap on a pulled ban's length; 0: none */
} wsg_sync_opts_t;

/* Persisted in the outbox (meta "sync"), so `wsguardctl stats` can show it. */
#define WSG_SYNC_ERRLEN 240
typedef struct wsg_sync_state_t {
    apr_uint32_t version;
    apr_uint32_t push_failures;    /* consecutive */
    apr_uint32_t pull_failures;
    apr_uint32_t reserved;
    apr_time_t   last_push;        /* last successful push (or outbox found empty) */
    apr_time_t   last_pull;        /* last successful pull */
    apr_time_t   last_resync;      /* last successful startup=true pull */
    apr_time_t   push_next;        /* backoff: no push before */
    apr_time_t   pull_next;
    apr_uint64_t pushed;           /* totals since the outbox was made */
    apr_uint64_t dropped;          /* refused for good ("validation failure") or expired */
    apr_uint64_t deleted;          /* unbans sent */
    apr_uint64_t pulled_new;       /* stream entries applied */
    apr_uint64_t pulled_deleted;
    char         push_err[WSG_SYNC_ERRLEN];  /* last failure ("" after a success) */
    char         pull_err[WSG_SYNC_ERRLEN];
} wsg_sync_state_t;

/* What one step did. Strings on the step's pool. */
typedef struct wsg_sync_report_t {
    int          pushed, dropped, unbanned, expired;
    int          added, lifted, unchanged, ignored;   /* stream entries */
    int          startup;                             /* this pull was startup=true */
    int          push_tried, pull_tried;
    int          probed;                              /* asked /health during a backoff */
    apr_status_t push_rv, pull_rv;                    /* of this step's attempt */
    const char  *push_err, *pull_err;
    const char  *drop_msg;     /* first "validation failure" text of this step (log it once) */
    int          push_changed, pull_changed;          /* went failing <-> working this step */
    apr_size_t   backlog;      /* outbox items left */
    apr_interval_time_t push_time, pull_time, apply_time;  /* wall clock spent (stats, bench) */
    int          discarded;    /* additive: items dropped unsent (this server cannot push) */
} wsg_sync_report_t;

typedef struct wsg_sync_t wsg_sync_t;

/* cl may be NULL in tests of wsg_sync_apply only. Nothing is copied: the store, outbox, client
 * and allowlist must live as long as the sync. */
apr_status_t wsg_sync_create(apr_pool_t *p, wsg_store_t *st, wsg_outbox_t *ob, wsg_lapi_t *cl,
                             const wsg_sync_opts_t *opts, wsg_sync_t **out);

/* One step at time now. APR_SUCCESS unless the store or the outbox failed (LAPI failures are in
 * the report and in the state, and back off). */
apr_status_t wsg_sync_step(wsg_sync_t *s, apr_pool_t *p, apr_time_t now, wsg_sync_report_t *rep);

/* Applies a parsed stream to the store (what the pull part of a step does); counts into rep. */
apr_status_t wsg_sync_apply(wsg_sync_t *s, apr_pool_t *p, const wsg_lapi_stream_t *stream,
                            apr_time_t now, wsg_sync_report_t *rep);

/* Additive: the origin of a record's ban in force, for wsguardctl and the status page: "manual"
 * (wsguardctl ban), "imported" (wsguardctl import), "crowdsec" (pulled: rec->source says whose),
 * "local" (this server's policy, a pulled decision may have lengthened it); NULL when none. */
const char *wsg_sync_rec_origin(const wsg_rec_t *rec, apr_time_t now);

/* The persisted state (zeroed when none yet). */
apr_status_t wsg_sync_state_read(wsg_outbox_t *ob, wsg_sync_state_t *out);

/* The pure merges behind wsg_sync_apply. merge_new: returns 1 when rec changed. merge_deleted:
 * 0 unchanged, 1 changed, 2 the record should go (it held nothing but the lifted ban). */
int wsg_sync_merge_new(wsg_rec_t *rec, int found, apr_time_t until, const char *origin,
                       apr_time_t now);
/* Additive: merge_new for an entry of a startup=true listing (listed = 1) or of a delta (0): a
 * listing never bans again a record an operator unbanned (WSG_RF_UNBANNED, no ban in force); a
 * delta's decision is new since the last pull, so it does (and clears the flag). */
int wsg_sync_merge_new_ex(wsg_rec_t *rec, int found, apr_time_t until, const char *origin,
                          apr_time_t now, int listed);
int wsg_sync_merge_deleted(wsg_rec_t *rec, int found, const char *origin, apr_time_t deleted_at,
                           int pending, apr_time_t now);

#endif
