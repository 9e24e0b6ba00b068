/* wsg_event: one JSON line per scored request, ban, unban, alert (the event log), made with jansson.
 * The glue fills a wsg_event_t and writes the returned line with ONE write() so that lines from
 * many workers never interleave (atomic below PIPE_BUF on pipes, O_APPEND on files).
 * Portable core: APR + jansson. */
#ifndef WSG_EVENT_H
#define WSG_EVENT_H

#include <apr_pools.h>
#include <apr_time.h>

/* Every line is shorter than this (PIPE_BUF is 4096 on Linux): long fields are truncated to fit. */
#define WSG_EVENT_LINE_MAX 4000

/* Event kinds (the "event" field). */
#define WSG_EV_PROBE   "probe"    /* a request that scored */
#define WSG_EV_BAN     "ban"      /* the request that crossed the ban threshold */
#define WSG_EV_REFUSED "refused"  /* a request refused because the client is banned/rate-limited */
#define WSG_EV_ALERT   "alert"    /* a probe answered 2xx: possible web shell present */
#define WSG_EV_MISS    "miss"     /* no signature, but scored (404 on script extension, ...) */
#define WSG_EV_UNBAN   "unban"
#define WSG_EV_IMPORT  "import"

typedef struct wsg_event_t {
    const char     *event;        /* WSG_EV_* (required) */
    apr_time_t      time;         /* 0: now */
    const char     *client;       /* address text */
    const char     *vhost;        /* server name or NULL */
    const char     *method;
    const char     *uri;          /* raw request target as sent (path and query) */
    const char     *path;         /* normalised path */
    const char     *ua;           /* User-Agent or NULL */
    int             status;       /* response status, 0 unknown (JSON null) */
    const unsigned *rule_ids;     /* matched rule ids, may be NULL */
    int             n_rules;
    const char     *tag, *msg;    /* of the first (highest-scoring) rule, or NULL */
    int             req_score;    /* score this request added */
    double          client_score; /* the client's decayed score after this request */
    const char     *action;       /* "pass", "ratelimit", "ban", "detect" (DetectionOnly) or NULL */
    apr_time_t      ban_until;    /* 0 none (JSON null) */
    unsigned        norm_flags;   /* WSG_NF_* (names via wsg_norm_flags_str) */
    /* Additive (aggregated "refused" events): count > 0 adds "count" (requests this line stands
     * for), "since" (the first of them; time is the last) and "paths" (the distinct paths, at
     * most WSG_EVENT_PATHS_MAX); other events leave them 0 and have none of these fields. */
    unsigned        count;
    apr_time_t      since;
    const char *const *paths;
    int             n_paths;
} wsg_event_t;

#define WSG_EVENT_PATHS_MAX 16

/* Returns one compact JSON object followed by '\n', NUL-terminated, allocated in p; *len (may be
 * NULL) gets its length including the '\n'. NULL fields are JSON null. Strings are sanitised first:
 * invalid UTF-8 bytes become U+FFFD, so any bytes (control chars, quotes, 8 KB paths) give one valid
 * line; control bytes and 0x7f become %XX in uri and path, \xNN elsewhere, so neither the line nor
 * a decoded field holds one raw. Long fields
 * are truncated (on a UTF-8 boundary, marked with "...") so the line is < WSG_EVENT_LINE_MAX bytes.
 * Field names: time, event, client, vhost, method, uri, path, status, ua, rules, tag, msg, score,
 * client_score, action, ban_until, flags. Returns NULL only if ev->event is NULL. */
char *wsg_event_json(apr_pool_t *p, const wsg_event_t *ev, apr_size_t *len);

/* "2026-11-26T10:30:35.123Z" (UTC, milliseconds) into buf of at least WSG_EVENT_TIMESTR bytes. */
#define WSG_EVENT_TIMESTR 32
const char *wsg_event_time_str(apr_time_t t, char *buf);

/* Parses an ISO-8601 UTC time as written by wsg_event_time_str, also without milliseconds or
 * without "Z", a bare date "2026-11-26", and "+hh:mm" offsets. APR_EINVAL if malformed. */
apr_status_t wsg_event_time_parse(const char *text, apr_time_t *out);

/* Copy of the len bytes at s with every invalid UTF-8 sequence replaced by U+FFFD and at most
 * max_bytes of output (cut on a character boundary, "..." appended when cut; 0: no limit). */
char *wsg_event_utf8_clean(apr_pool_t *p, const char *s, apr_size_t len, apr_size_t max_bytes);

#endif
