/* wsg_import: parses what a peer shares (our json export or json report, a STIX 2.1 bundle, a MISP
 * event, CSV with an address column, a plain list) into ban entries, for 'wsguardctl import'.
 * Hostile input is the normal case: sizes, entry counts, range widths and ban lengths are capped,
 * every number from the file is range-checked before it becomes a time (no overflow possible), and
 * the work is linear in the input. Pure: the caller passes the clock and applies the entries.
 * Portable core: APR + jansson. */
#ifndef WSG_IMPORT_H
#define WSG_IMPORT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include "wsg_ip.h"

/* Defaults of the limits (wsg_import_opts_t fields left 0 take these). */
#define WSG_IMPORT_MAX_FILE     (64u << 20)   /* bytes: a bigger file is refused whole */
#define WSG_IMPORT_MAX_LINE     (64u << 10)   /* bytes per line (CSV, plain, export lines) */
#define WSG_IMPORT_MAX_ENTRIES  10000u        /* entries (addresses or CIDRs) per file */
#define WSG_IMPORT_MAX_COLUMNS  256           /* CSV columns */
#define WSG_IMPORT_MIN_BITS4    16            /* widest IPv4 range: /16 (256 /24 records) */
#define WSG_IMPORT_MIN_BITS6    56            /* widest IPv6 range: /56 (256 /64 records) */
#define WSG_IMPORT_MAX_ERRORS   100           /* per-line messages kept (the rest are counted) */
/* An evidence time this far after the clock is still taken (peers' clocks differ a little). */
#define WSG_IMPORT_SEEN_SKEW    ((apr_interval_time_t)300 * APR_USEC_PER_SEC)
/* Longest ban an import can set whatever the options: the limit of wsg_parse_duration. */
#define WSG_IMPORT_MAX_BAN      ((apr_interval_time_t)10 * 366 * 86400 * APR_USEC_PER_SEC)

typedef enum {
    WSG_IMPORT_NONE = 0,      /* nothing recognised (empty file) */
    WSG_IMPORT_JSON_EXPORT,   /* 'wsguardctl export --format json' (or a compatible array) */
    WSG_IMPORT_JSON_REPORT,   /* 'wsguardctl report --format json' ({"clients": [...]}) */
    WSG_IMPORT_STIX,          /* STIX 2.1 bundle, indicators with ipv4-addr / ipv6-addr patterns */
    WSG_IMPORT_MISP,          /* MISP event, ip-src attributes */
    WSG_IMPORT_CSV,           /* CSV whose header names an 'address' (or 'ip') column */
    WSG_IMPORT_PLAIN          /* one address or CIDR per line, '#' comments */
} wsg_import_format_t;

typedef struct wsg_import_opts_t {
    apr_time_t          now;            /* the clock (required) */
    apr_interval_time_t dflt;           /* ban length of entries that give none (required, > 0) */
    apr_interval_time_t max;            /* cap on any ban length; 0: WSG_IMPORT_MAX_BAN */
    unsigned            max_entries;    /* 0: WSG_IMPORT_MAX_ENTRIES */
    apr_size_t          max_file;       /* 0: WSG_IMPORT_MAX_FILE */
    apr_size_t          max_line;       /* 0: WSG_IMPORT_MAX_LINE */
    int                 min_bits4;      /* 0: WSG_IMPORT_MIN_BITS4 */
    int                 min_bits6;      /* 0: WSG_IMPORT_MIN_BITS6 */
    int                 allow_private;  /* else private/loopback/documentation are skipped */
} wsg_import_opts_t;

/* One address or CIDR to ban. */
typedef struct wsg_import_entry_t {
    wsg_addr_t  cidr;       /* family, bits (any length from min_bits up), network bytes */
    apr_time_t  until;      /* ban end: > now, <= now + max */
    unsigned    line;       /* line number, or entry number in JSON that is not line-structured */
    int         capped;     /* until was cut to now + max */
    const char *source;     /* the peer's "source" / STIX name / MISP org, or NULL */
    const char *reason;     /* a tag, comment or description from the file, or NULL */
    apr_time_t  seen;       /* additive: when the peer last saw it (last_seen, STIX modified /
                             * valid_from, MISP timestamp, CSV last_seen), 0 when the file does
                             * not say (plain lists) or says a time in the future */
} wsg_import_entry_t;       /* source and reason: control bytes escaped as \xNN, at most 64 bytes */

/* A message about one line (entry) that was skipped. */
typedef struct wsg_import_msg_t {
    unsigned    line;
    const char *text;       /* "not an IP address or CIDR: '...'" (control bytes escaped) */
} wsg_import_msg_t;

typedef struct wsg_import_result_t {
    wsg_import_format_t format;
    apr_array_header_t *entries;        /* of wsg_import_entry_t, in file order */
    apr_array_header_t *msgs;           /* of wsg_import_msg_t, the first WSG_IMPORT_MAX_ERRORS */
    unsigned            msgs_dropped;   /* messages beyond those */
    unsigned            seen;           /* entries read (valid or not) */
    unsigned            invalid;        /* malformed, too wide, too long a line */
    unsigned            expired;        /* ban end already past */
    unsigned            private_skipped;
    unsigned            capped;         /* ban end cut to now + max */
    unsigned            over_limit;     /* entries beyond max_entries, not read */
    int                 unclosed;       /* a line-structured JSON array without its ']' */
} wsg_import_result_t;

/* Parses len bytes at buf (need not be NUL-terminated). Per-entry problems are counted and noted in
 * (*out)->msgs and parsing goes on. Fails (APR_EINVAL, *err says why; *out still set when any entry
 * was read) only when the whole input is unusable: bigger than max_file, not text (a NUL byte),
 * invalid JSON that is not line-structured, or JSON of no known kind. */
apr_status_t wsg_import_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              const wsg_import_opts_t *opts, wsg_import_result_t **out,
                              const char **err);

/* "json export", "json report", "STIX 2.1 bundle", "MISP event", "CSV", "plain list", "empty". */
const char *wsg_import_format_name(wsg_import_format_t f);

/* The ban end for a remaining time of secs seconds from now, checked: secs <= 0 -> APR_EINVAL;
 * beyond max (or beyond what apr_time_t holds) -> now + max with *capped set. */
apr_status_t wsg_import_until_from_secs(apr_int64_t secs, apr_time_t now, apr_interval_time_t max,
                                        apr_time_t *until, int *capped);

#endif
