/* wsg_lapi: a client of CrowdSec's Local API (LAPI, v1 as in crowdsec 1.4.6 and later): machine
 * login (JWT cached and renewed), pushing local bans as alerts, deleting decisions, and reading the
 * decision stream as a bouncer. Two layers: the JSON building and parsing (pure functions, no
 * network; unit-tested) and the HTTP transport (libcurl, one reused easy handle per client, so
 * connections are kept alive; timeouts on every call). Portable core: APR, jansson, libcurl;
 * never logs, never called on httpd's request path. A client is used by one thread at a time.
 *
 * Errors (apr_status_t, with a pool-allocated message naming the URL and the LAPI's answer):
 *   APR_ECONNREFUSED  the LAPI cannot be reached (refused, DNS, TLS handshake, timeout): retry later
 *   APR_EACCES        credentials refused (wrong login/password, not validated machine, bad key)
 *   APR_EINVAL        the LAPI rejected the content for good (a "validation failure" answer):
 *                     wsg_lapi_push_result_t says which bans; retrying the same items is useless
 *   APR_EGENERAL      anything else (other HTTP status, an answer that is not the expected JSON) */
#ifndef WSG_LAPI_H
#define WSG_LAPI_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

/* What we call ourselves in every decision ("origin") and the scenario prefix. */
#define WSG_LAPI_ORIGIN        "mod_wsguard"
#define WSG_LAPI_SCENARIO_PFX  "wsguard/"

/* ---- pure helpers (no network) --------------------------------------------------------------- */

/* Go's time.Duration text ("1h", "90m", "4h30m", "3h59m59.082923187s", "-19.721003ms", "1.5h",
 * "0s", units h m s ms us µs ns, optional sign, fractions). Microsecond resolution (nanoseconds
 * are truncated). APR_EINVAL on anything else, e.g. "1 hour", "", "5", "1d". */
apr_status_t wsg_go_duration_parse(const char *text, apr_interval_time_t *out);

/* A duration as the LAPI must receive it: whole seconds, "3599s" (at least "1s"). */
const char *wsg_go_duration_format(apr_pool_t *p, apr_interval_time_t d);

/* One local ban to push. */
typedef struct wsg_lapi_ban_t {
    const char          *value;      /* "203.0.113.7", "2001:db8::7" or "198.51.100.0/24" */
    int                  is_range;   /* scope "Range" (else "Ip") */
    apr_interval_time_t  duration;   /* > 0 */
    const char          *scenario;   /* "wsguard/webshell-probe" (NULL: WSG_LAPI_SCENARIO_PFX "probe") */
    unsigned             probes;     /* scored probes that led to the ban (0: unknown) */
    const char          *paths;      /* first probed paths, separated by '\n' (NULL: none) */
} wsg_lapi_ban_t;

/* Builds the body of POST /v1/alerts: the bans grouped into one alert per scenario (1.4.6's
 * flush deletes the oldest alerts with their decisions: fewer alerts, fewer losses), every key
 * 1.4.6 requires present, decisions of type "ban" with scope "Ip"/"Range" exactly, origin
 * WSG_LAPI_ORIGIN, Go durations; the alert message lists each ban with its probe count and first
 * paths. map (may be NULL) gets, for alert a and decision d, map[a][d] = index in bans (an
 * array of int arrays, one per alert, each terminated by -1), used to blame items. */
char *wsg_lapi_alerts_json(apr_pool_t *p, const wsg_lapi_ban_t *bans, int n, apr_time_t now,
                           int ***map);

/* From the message of a "validation failure" answer ("validation failure list:\n0.capacity in
 * body is required\n1.decisions.2.origin ..."), sets bad[i] = 1 for each blamed ban (bans of a
 * whole alert when the line names no decision). Returns how many lines named an item; 0 when the
 * message blames nothing we can pinpoint. */
int wsg_lapi_blame(const char *message, int **map, int nbans, int *bad);

/* One decision from the stream. duration: remaining time (negative or stale for deleted ones). */
typedef struct wsg_lapi_decision_t {
    const char          *value;
    const char          *scope;      /* "Ip", "Range", or whatever the LAPI holds */
    const char          *type;       /* "ban", "captcha", ... */
    const char          *origin;     /* "cscli", "crowdsec", "mod_wsguard", "CAPI", ... */
    const char          *scenario;
    apr_interval_time_t  duration;
    apr_int64_t          id;
} wsg_lapi_decision_t;

typedef struct wsg_lapi_stream_t {
    apr_array_header_t *added;       /* of wsg_lapi_decision_t ("new") */
    apr_array_header_t *deleted;     /* of wsg_lapi_decision_t ("deleted") */
    int                 skipped;     /* entries without value/scope/duration, or bad durations */
} wsg_lapi_stream_t;

/* Parses a stream answer {"new":[...]|null,"deleted":[...]|null}; null, [] and a missing key mean
 * the same (no entry). APR_EGENERAL with *err when it is not that JSON. */
apr_status_t wsg_lapi_stream_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                   wsg_lapi_stream_t *out, const char **err);

/* Parses a login answer {"code":200,"expire":"<RFC 3339>","token":"..."}. */
apr_status_t wsg_lapi_login_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                  const char **token, apr_time_t *expire, const char **err);

/* ---- the client (HTTP) ----------------------------------------------------------------------- */

typedef struct wsg_lapi_opts_t {
    const char          *url;             /* "http://127.0.0.1:8080" or https://...; no path */
    const char          *machine;         /* machine login (push/delete); NULL: no push */
    const char          *password;
    const char          *bouncer_key;     /* X-Api-Key (pull); NULL: no pull */
    const char          *ca_file;         /* TLS: CA bundle to verify the LAPI with (NULL: system) */
    const char          *cert_file;       /* TLS client certificate and key (NULL: none) */
    const char          *key_file;
    apr_interval_time_t  connect_timeout; /* 0: 3 s */
    apr_interval_time_t  timeout;         /* whole request; 0: 30 s */
} wsg_lapi_opts_t;

typedef struct wsg_lapi_t wsg_lapi_t;

/* Once per process before any thread uses a client (curl_global_init); idempotent. */
apr_status_t wsg_lapi_global_init(const char **err);

/* Checks the options (URL scheme, readable files) and makes a client; freed with p. */
apr_status_t wsg_lapi_create(apr_pool_t *p, const wsg_lapi_opts_t *opts, wsg_lapi_t **out,
                             const char **err);

/* Logs in (POST /v1/watchers/login) if no token is cached or it expires within a minute. */
apr_status_t wsg_lapi_login(wsg_lapi_t *cl, apr_pool_t *p, apr_time_t now, const char **err);

/* Forgets the cached token (tests; a changed password). */
void wsg_lapi_logout(wsg_lapi_t *cl);

/* Replaces the cached token (tests: a token the LAPI no longer accepts must be renewed). */
apr_status_t wsg_lapi_token_set(wsg_lapi_t *cl, const char *token, apr_time_t expire);

typedef struct wsg_lapi_push_result_t {
    int  *bad;           /* with APR_EINVAL: bad[i] = 1 for each ban the LAPI blamed (may be none) */
    int   nbad;
    const char *message; /* the LAPI's message on APR_EINVAL */
} wsg_lapi_push_result_t;

/* POST /v1/alerts with the machine's JWT (logging in first, and again once on a 401). */
apr_status_t wsg_lapi_push(wsg_lapi_t *cl, apr_pool_t *p, const wsg_lapi_ban_t *bans, int n,
                           apr_time_t now, wsg_lapi_push_result_t *res, const char **err);

/* DELETE /v1/decisions?ip=VALUE&contains=false (range= for a range): the decisions on exactly
 * this address or inside this range, whoever made them (1.4.6 lets any machine delete any
 * decision); a wider range holding the address is left alone. *deleted (may be NULL) gets the
 * count the LAPI reports. */
apr_status_t wsg_lapi_delete(wsg_lapi_t *cl, apr_pool_t *p, const char *value, int is_range,
                             apr_time_t now, int *deleted, const char **err);

/* GET /v1/decisions/stream[?startup=true] with the bouncer key; parsed into *out. */
apr_status_t wsg_lapi_pull(wsg_lapi_t *cl, apr_pool_t *p, int startup, wsg_lapi_stream_t *out,
                           const char **err);

/* GET /health (no credentials, answered without touching the database): is the LAPI back? */
apr_status_t wsg_lapi_health(wsg_lapi_t *cl, apr_pool_t *p, const char **err);

int wsg_lapi_can_push(const wsg_lapi_t *cl);
int wsg_lapi_can_pull(const wsg_lapi_t *cl);

#endif
