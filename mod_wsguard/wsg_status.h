/* wsg_status: what the status page shows, gathered from the store (one read transaction), the
 * rules (what each rule id means) and the end of the event log (the paths: the records keep none),
 * and rendered as HTML (no script; works in any browser) or JSON with the same content. The glue
 * (mod_wsguard_status.c) fills in what only httpd knows (version, mode, uptime, the counters);
 * wsguardctl could build the same page from a store it opened. Portable core: APR, jansson. */
#ifndef WSG_STATUS_H
#define WSG_STATUS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "wsg_store.h"
#include "wsg_policy.h"
#include "wsg_rules.h"
#include "wsg_metrics.h"

#define WSG_STATUS_LIMIT     50        /* rows per section by default */
#define WSG_STATUS_LIMIT_MAX 10000
#define WSG_STATUS_PATHS     3         /* first probed paths shown per client */
#define WSG_STATUS_TAIL      (1024 * 1024)   /* bytes of the event log read for the paths */

typedef struct wsg_status_opts_t {
    const wsg_policy_t  *policy;
    const wsg_ruleset_t *rules;        /* NULL: rule ids shown as such */
    apr_time_t           now;
    unsigned             limit;        /* rows per section; 0: WSG_STATUS_LIMIT */
    const char          *event_log;    /* the event log's name (for the note); NULL: none */
    int                  event_log_fd; /* a descriptor to read it through (pread; the file may
                                        * not be readable by name for httpd's user), -1: open
                                        * event_log by name */
    apr_size_t           tail;         /* bytes of it; 0: WSG_STATUS_TAIL */
} wsg_status_opts_t;

typedef struct wsg_status_row_t wsg_status_row_t;
struct wsg_status_row_t {
    wsg_addr_t   key;
    wsg_rec_t    rec;
    double       score;
    int          is_prefix;
    int          banned;               /* a ban in force */
    int          ratelimited;          /* not banned, over the rate-limit threshold */
    apr_int64_t  retry_after;          /* seconds, when rate-limited */
    const char  *origin;               /* "local", "manual", "imported", "crowdsec" */
    int          detect;               /* a DetectionOnly ban: recorded, not enforced */
    const wsg_status_row_t *prefix;    /* its /24 or /64 when that is banned or scoring */
    const char  *paths[WSG_STATUS_PATHS];
    unsigned     npaths;
    const char  *alert_path;           /* the path that answered 2xx (from the event log) */
    apr_time_t   alert_time;
    int          listed;               /* internal: shown in a section */
};

typedef struct wsg_status_t {
    /* filled by the caller */
    const char  *version, *mode, *server;
    apr_time_t   started;              /* httpd's (re)start; 0: unknown */
    int          have_counts;
    wsg_metrics_counts_t counts;       /* summed counters (have_counts) */
    const wsg_metrics_t *metrics;      /* for the tag names */
    apr_time_t   counts_since;
    /* filled by wsg_status_build */
    apr_time_t   now;
    unsigned     rules;                /* rules in force */
    int          have_stat;
    wsg_store_stat_t stat;
    unsigned     records, addresses, prefixes, banned, alerts, scoring, ratelimited;
    apr_array_header_t *alert_rows, *ban_rows, *scoring_rows;   /* wsg_status_row_t * */
    unsigned     limit, hidden_alerts, hidden_bans, hidden_scoring;
    const char  *paths_note;           /* where the paths come from, or why there are none */
    const wsg_ruleset_t *ruleset;
} wsg_status_t;

/* Reads the store (and the event log's tail) into m; the caller's fields are kept. */
apr_status_t wsg_status_build(apr_pool_t *p, wsg_store_t *st, const wsg_status_opts_t *o,
                              wsg_status_t *m);

/* "12 s ago", "5 min ago", "in 58 min", "3 h ago", "2 d ago"; "-" for no time. */
const char *wsg_status_reltime(apr_pool_t *p, apr_time_t t, apr_time_t now);

/* The page: a complete HTML5 document without script (refresh > 0 adds a meta refresh of that
 * many seconds). */
char *wsg_status_html(apr_pool_t *p, const wsg_status_t *m, int refresh);
/* The same content as JSON text (indented, ending in a newline). */
char *wsg_status_json(apr_pool_t *p, const wsg_status_t *m);

#endif
