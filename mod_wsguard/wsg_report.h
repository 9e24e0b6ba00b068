/* wsg_report: reads event-log lines (wsg_event JSON), aggregates them per client address and renders
 * sharing reports: CSV, JSON, a STIX 2.1 bundle or a MISP event, optionally anonymised (the
 * reporter's own host names, private addresses and query values removed). Clients of different
 * /24 or /64 prefixes probing much the same paths are grouped into campaigns in every format.
 * Portable core: APR + jansson. */
#ifndef WSG_REPORT_H
#define WSG_REPORT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

typedef enum {
    WSG_REPORT_CSV = 0,
    WSG_REPORT_JSON,
    WSG_REPORT_STIX,
    WSG_REPORT_MISP,
    WSG_REPORT_MISP_FEED,     /* a directory: manifest.json, hashes.csv, <event-uuid>.json */
    WSG_REPORT_NFORMATS       /* not a format: the number of them */
} wsg_report_format_t;

typedef struct wsg_report_opts_t {
    apr_time_t          since;      /* inclusive; 0: no lower bound */
    apr_time_t          until;      /* exclusive; 0: no upper bound */
    int                 anonymise;
    apr_array_header_t *hostnames;  /* of const char *: own names to remove besides the log's vhosts */
    const char         *org;        /* reporter identity name (STIX identity, MISP Orgc); NULL: default */
    const char         *identity;   /* fixed STIX identity id ("identity--<uuid>") so consumers see
                                       the same reporter in every report; NULL: derived from org
                                       (wsg_report_identity_for), the same across reports */
    const char         *tlp;        /* "white", "green", "amber" (NULL), "red" */
    apr_time_t          now;        /* created/modified stamps; 0: the current time */
    apr_interval_time_t validity;   /* indicator lifetime after last seen; 0: 30 days */
} wsg_report_opts_t;

typedef struct wsg_report_t wsg_report_t;

/* Parses a TLP level; NULL if unknown. Returns the canonical lower-case name. */
const char *wsg_report_tlp_name(const char *level);

/* True when id is "identity--" followed by an RFC 4122 UUID (lower-case hex). */
int wsg_report_identity_ok(const char *id);

/* The namespace STIX 2.1 (section 2.9) gives for deterministic (UUIDv5) identifiers. */
#define WSG_STIX_NAMESPACE "00abedb4-aa42-466c-9c01-fed23315a9b7"

/* RFC 4122 name-based UUID, version 5 (SHA-1) of name in namespace ns ("xxxxxxxx-xxxx-..."),
 * lower-case; NULL when ns is not a UUID. */
const char *wsg_report_uuid5(apr_pool_t *p, const char *ns, const char *name);

/* The reporter's STIX identity id when none is configured: "identity--" + UUIDv5 (STIX namespace)
 * of the canonical JSON {"identity_class":"organization","name":<org, trimmed, lower-case>}, so
 * one organisation is one identity in every report (and its MISP Orgc uuid). org NULL: the
 * default name. */
const char *wsg_report_identity_for(apr_pool_t *p, const char *org);

/* Parses a format name ("csv", "json", "stix", "misp", "misp-feed"); APR_EINVAL if unknown. */
apr_status_t wsg_report_format_parse(const char *name, wsg_report_format_t *out);

/* The name of a format (as wsg_report_format_parse takes it); NULL past the last one. */
const char *wsg_report_format_name(wsg_report_format_t fmt);

/* A report collecting in p. opts is copied; opts->tlp must be valid (see wsg_report_tlp_name). */
wsg_report_t *wsg_report_make(apr_pool_t *p, const wsg_report_opts_t *opts);

/* Event lines are < 4000 bytes (WSG_EVENT_LINE_MAX); a line longer than this is not one of ours
 * and is counted as bad without being parsed (read_file never holds more of it). */
#define WSG_REPORT_LINE_MAX (64 * 1024)

/* Feeds one event line (without or with its '\n'). APR_SUCCESS when the line was parsed (whether
 * or not it fell in the time window), APR_EINVAL when it is not an event object (counted). */
apr_status_t wsg_report_add_line(wsg_report_t *r, const char *line, apr_size_t len);

/* Feeds every line of a file ("-" is stdin), plain or gzip-compressed (a rotated events.jsonl.2.gz;
 * told by its content, not its name). APR_SUCCESS, or the error opening/reading it with *err set
 * to "PATH: reason" (a truncated .gz: its lines up to the damage are fed, then the error).
 * Unparseable lines are counted, not fatal. */
apr_status_t wsg_report_read_file(wsg_report_t *r, const char *path, const char **err);

/* Lines that were not event objects, lines read in total, and addresses aggregated. */
unsigned wsg_report_bad_lines(const wsg_report_t *r);
unsigned wsg_report_lines(const wsg_report_t *r);
unsigned wsg_report_clients(const wsg_report_t *r);

/* Renders the report in p; NUL-terminated text ending in a newline. NULL for a format that writes
 * a directory (wsg_report_format_is_dir). */
char *wsg_report_render(wsg_report_t *r, wsg_report_format_t fmt, apr_pool_t *p);

/* True when the format is a directory (misp-feed) written by wsg_report_write_dir. */
int wsg_report_format_is_dir(wsg_report_format_t fmt);

/* Adds this report to the feed directory dir (created if missing, its parent must exist): for
 * misp-feed, writes <event-uuid>.json, then rewrites hashes.csv and manifest.json from every event
 * the manifest lists (an entry whose file is gone is dropped), each through a rename. A report of
 * a fixed window (since and until) replaces its earlier event; others add one. *err: "PATH:
 * reason" (a damaged manifest is left alone). */
apr_status_t wsg_report_write_dir(wsg_report_t *r, wsg_report_format_t fmt, const char *dir,
                                  apr_pool_t *p, const char **err);

/* Anonymises one string as the report does (exposed for tests): own host names (case-insensitive)
 * become "redacted.invalid", private addresses "REDACTED-IP", query values are dropped
 * ("?pass=secret" -> "?pass="). is_target: s is a request target, so its query is rewritten. */
char *wsg_report_anonymise_str(wsg_report_t *r, const char *s, int is_target, apr_pool_t *p);

#endif
