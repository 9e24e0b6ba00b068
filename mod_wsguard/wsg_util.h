/* wsg_util: parsing of the values operators type (durations, sizes), shared by the httpd glue
 * and wsguardctl so both accept exactly the same forms. Portable core: APR only. */
#ifndef WSG_UTIL_H
#define WSG_UTIL_H

#include <apr_pools.h>
#include <apr_time.h>

/* "90", "90s", "15m", "2h", "7d" (a number, optionally fractional, and one unit letter; a bare
 * number is seconds). APR_EINVAL on anything else, on negatives, and on more than 10 years. */
apr_status_t wsg_parse_duration(const char *text, apr_interval_time_t *out);

/* "65536", "64K", "64M", "2G" (binary units). APR_EINVAL on anything else or 0. */
apr_status_t wsg_parse_size(const char *text, apr_size_t *out);

/* A score value: a non-negative number up to 1e6. */
apr_status_t wsg_parse_score(const char *text, double *out);

/* Copy of the len bytes at s with every control byte (< 0x20, 0x7f) written as \xNN (or %XX with
 * WSG_ESC_PERCENT, for paths and URIs), and with WSG_ESC_BACKSLASH the backslash too (so the text
 * reads back unambiguously), so that foreign text printed on a terminal, into a log field or a
 * CSV cell cannot move the cursor, end a line or start an escape sequence. At most max output
 * bytes (0: no limit), cut before a partial escape. */
#define WSG_ESC_BACKSLASH 1
#define WSG_ESC_PERCENT   2
char *wsg_escape_ctl(apr_pool_t *p, const char *s, apr_size_t len, apr_size_t max, int flags);
/* True when s holds a byte that wsg_escape_ctl would escape (backslash excepted). */
int wsg_has_ctl(const char *s, apr_size_t len);

/* A growing string in a pool (the status page's HTML, the metrics' text): b is always
 * NUL-terminated once something was put; start it as { pool, NULL, 0, 0 }. */
typedef struct wsg_buf_t {
    apr_pool_t *p;
    char       *b;
    apr_size_t  len, cap;
} wsg_buf_t;

void wsg_buf_put(wsg_buf_t *b, const char *s);

#endif
