/* wsg_inspect: the verdict on one request, in two phases on the same context: the header phase
 * (before anything serves it: the target, the client's record as read, whether the mapped file
 * exists) and the log phase (the answer's status). It normalises, matches, adds the evasion
 * bonus, the outcome and miss scores and the tier, and says what to do: pass, refuse (429 with
 * the exact Retry-After, or 403), write now, or look again after the answer. The glue only
 * gathers the facts and enforces; `wsguardctl rules test`, the unit tests, the benchmark and the
 * fuzzer call the same functions. Portable core: APR, the rules, the policy, the track. */
#ifndef WSG_INSPECT_H
#define WSG_INSPECT_H

#include <apr_pools.h>
#include "wsg_norm.h"
#include "wsg_rules.h"
#include "wsg_policy.h"
#include "wsg_store.h"
#include "wsg_track.h"

/* What does not change between requests (one per configuration generation). */
typedef struct wsg_inspect_conf_t {
    const wsg_ruleset_t *rules;        /* NULL: only misses on script names score */
    const wsg_policy_t  *policy;
    double               miss_score;   /* WSGuardMissScore: a missing script no rule matched */
} wsg_inspect_conf_t;

/* Whether the target exists, as far as the server knows before serving it. */
enum { WSG_FILE_UNKNOWN = 0, WSG_FILE_MISSING = 1, WSG_FILE_EXISTS = 2 };

/* The facts of one request that the glue gathers. Anything may be NULL/0 except target. */
typedef struct wsg_facts_t {
    const char      *method;           /* NULL: GET */
    const char      *target;           /* the request target as sent (path and ?query) */
    const char      *ua;
    const char    *(*ua_fn)(void *baton);  /* when ua is NULL: asked only if a rule may look */
    void            *ua_baton;
    const char    *(*referer_fn)(void *baton); /* the Referer, asked (with ua_baton) only for a
                                                * request whose miss part may score */
    const char      *host;             /* the site's name as the client asked for it (Host) */
    const char      *body;             /* first bytes of a form body (log phase) */
    apr_size_t       body_len;
    int              file;             /* WSG_FILE_* */
    int              status;           /* log phase: the final answer's status */
    int              enforce;          /* 1: refuse; 0: DetectionOnly (decide and report only) */
    apr_time_t       now;
    const wsg_rec_t *rec;              /* the address's record as read, NULL: none */
    const wsg_rec_t *prec;             /* its prefix's record, NULL: none */
} wsg_facts_t;

typedef enum {
    WSG_DO_PASS = 0,    /* serve; nothing to do after the answer */
    WSG_DO_REFUSE,      /* refuse with ix->status (and Retry-After: ix->retry_after) */
    WSG_DO_WRITE,       /* write now (wsg_inspect_apply in the store's write transaction), then
                         * wsg_inspect_written says whether to refuse */
    WSG_DO_LATER        /* serve; call wsg_inspect_log after the answer */
} wsg_do_t;

/* One request's context: what it is and what was decided. Plain data: the glue may keep it on
 * its stack for a clean request and copy it (wsg_inspect_keep) only when the log phase needs it. */
typedef struct wsg_inspect_t {
    /* what the request is (wsg_inspect_target) */
    wsg_norm_t   norm;                 /* points into the caller's buffer (or the kept copy) */
    wsg_match_t  m;
    int          inspected;
    int          fast;                 /* the target needed no normalising (one scan) */
    int          post;
    int          file;                 /* WSG_FILE_* of the header phase */
    double       score;                /* counts whatever the answer: outcome=any + evasion */
    double       miss;                 /* counts if the answer is 404/410: outcome=miss rules, or
                                        * the miss score of a script name that matched nothing;
                                        * 0 for a repeat (see wsg_inspect.c, "what misses score") */
    int          repeat;               /* the miss part is a path this client missed lately */
    int          linked;               /* ... was followed from a page of this site (Referer) */
    int          scan_pace;            /* the client scores at a scan's pace: misses in full */
    int          capped;               /* not at a scan's pace: the miss part was held at half
                                        * the first threshold (maybe to 0); the miss still
                                        * counts as a scored request (the pace is made of them) */
    int          miss_counted;         /* what the write adds includes the miss part */
    /* what was decided */
    wsg_do_t     todo;
    int          header_write;         /* a header-phase write: 1 refused by the tier as read,
                                        * 2 may cross a threshold (the transaction decides) */
    int          aborted;              /* the header-phase write found no crossing: nothing
                                        * written, the log phase writes */
    int          enforce;              /* of the facts: 0 in DetectionOnly */
    int          was_banned;           /* DetectionOnly: the client's ban was already recorded
                                        * (its "ban" event is written once, not per request) */
    double       record;               /* what the write adds */
    apr_uint32_t set_flags;            /* WSG_RF_SHELL_HIT */
    int          alert;                /* possible web shell present */
    int          written;              /* this request's one write is done (or decided against) */
    wsg_action_t action;               /* the tier for this request */
    int          status;               /* the answer when refused: 429 or 403 */
    apr_int64_t  retry_after;          /* whole seconds, for a 429 */
    const char  *event;                /* "probe", "ban", "miss", "alert", or NULL: no event */
    int          event_status;         /* the status the event reports (0: not known) */
    wsg_track_result_t res;            /* the write's result */
    /* crawler verification (wsg_crawler.h) */
    int          crawler;              /* set by the caller before the write: the crawler the
                                        * User-Agent claims (its id), 0: none or not checked */
    int          crawler_queue;        /* the write started a check: the caller queues the
                                        * address for the background task */
    int          started;              /* additive: bans this write started, bit 0 the address
                                        * record's, bit 1 the prefix's (what is shared) */
} wsg_inspect_t;

/* The pace of a scan (see wsg_inspect.c, "what misses score"): a client that has made at least
 * WSG_SCAN_MIN scored requests, on average one per half-life / WSG_SCAN_PACE_DIV or faster
 * (2 s at the default half-life of 1 h), is scanning; the miss part of anyone else can raise
 * its score only up to half the first threshold. */
#define WSG_SCAN_MIN       6
#define WSG_SCAN_PACE_DIV  1800

/* True when the Referer (an absolute URL) names host (case-insensitive, any scheme and port). */
int wsg_inspect_same_site(const char *referer, const char *host);

/* True when one scan proves wsg_norm_target would return target's path unchanged with no flags
 * (no %, \, ;, $, upper case, control or 8-bit bytes, //, dot segments or trailing dots); then
 * out is filled without the normaliser, from a copy into buf, or (a target without a query,
 * which is its path) from target itself. Else returns 0 and out is unset. */
int wsg_inspect_fast_norm(const char *target, char *buf, apr_size_t bufsize, wsg_norm_t *out);

/* Normalises (fast path when it can), matches, and scores what the request is: ix->score,
 * ix->miss, ix->m. No allocation. buf (8 KiB is plenty) holds the normalised path. */
void wsg_inspect_target(const wsg_inspect_conf_t *c, const wsg_facts_t *f, char *buf,
                        apr_size_t bufsize, wsg_inspect_t *ix);

/* quick_handler: WSG_ACT_BAN when the address or its prefix is banned (ix->status 403). */
wsg_action_t wsg_inspect_banned(const wsg_inspect_conf_t *c, const wsg_facts_t *f,
                                wsg_inspect_t *ix);

/* The header phase: inspects (wsg_inspect_target) and decides ix->todo. A banned client is
 * refused, a rate-limited one when the request looks like probing (ix->score > 0, or a miss
 * part on a file not known to exist); a refused request is scored in full at once (the miss
 * part too unless the file exists, the alert when it does); a probe that may make its client
 * cross a threshold is written now (the write transaction decides, so the crossing request is
 * refused itself); anything else that may score is left to the log phase, which writes once. */
wsg_do_t wsg_inspect_header(const wsg_inspect_conf_t *c, const wsg_facts_t *f, char *buf,
                            apr_size_t bufsize, wsg_inspect_t *ix);

/* The log phase: the status is known (f->status). Inspects if the header phase did not (httpd
 * answered first), matches again with the body, and decides the one write: WSG_DO_WRITE or
 * WSG_DO_PASS. */
wsg_do_t wsg_inspect_log(const wsg_inspect_conf_t *c, const wsg_facts_t *f, char *buf,
                         apr_size_t bufsize, wsg_inspect_t *ix);

/* The body of the store's write transaction (wsg_store_update's callback contract: recs[0] the
 * address, recs[1] its prefix; returns the mask to write, or -1 to write nothing). A header-phase
 * write that turns out not to refuse writes nothing: the request goes on to the log phase. */
int wsg_inspect_apply(const wsg_inspect_conf_t *c, wsg_inspect_t *ix, const wsg_addr_t *addr,
                      apr_time_t now, wsg_rec_t *recs, int n);

/* After the write (ok: it succeeded): the action, status, Retry-After and event of the request,
 * and what to do: WSG_DO_REFUSE, WSG_DO_LATER (a header-phase write that wrote nothing) or
 * WSG_DO_PASS. A failed write refuses what the tier as read refuses and records nothing. */
wsg_do_t wsg_inspect_written(const wsg_inspect_conf_t *c, const wsg_facts_t *f,
                             wsg_inspect_t *ix, int ok);

/* A copy of ix in p whose norm no longer points into the caller's buffer (for the log phase). */
wsg_inspect_t *wsg_inspect_keep(const wsg_inspect_t *ix, apr_pool_t *p);

/* "pass", "ratelimit", "ban", or "detect" for a tier DetectionOnly did not enforce. */
const char *wsg_inspect_action_name(const wsg_inspect_t *ix, int enforce);

#endif
