/* wsg_util: parsing of the values operators type (durations, sizes), shared by the httpd glue
 * and wsguardctl so both accept exactly the same forms. Portable core: APR only. */
#ifndef WSG_UTIL_H
#define WSG_UTIL_H

#include <apr_time.h>

/* "90", "90s", "15m", "2h", "7d" (a number, optionally fractional, and one unit letter; a bare
 * number is seconds). APR_EINVAL on anything else, on negatives, and on more than 10 years. */
apr_status_t wsg_parse_duration(const char *text, apr_interval_time_t *out);

/* "65536", "64K", "64M", "2G" (binary units). APR_EINVAL on anything else or 0. */
apr_status_t wsg_parse_size(const char *text, apr_size_t *out);

/* A score value: a non-negative number up to 1e6. */
apr_status_t wsg_parse_score(const char *text, double *out);

#endif
