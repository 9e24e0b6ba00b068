/* wsg_util: parsing of durations, sizes and scores typed by operators. */
#include <stdlib.h>
#include <errno.h>
#include <math.h>
#include <apr_errno.h>
#include "wsg_util.h"

apr_status_t wsg_parse_duration(const char *text, apr_interval_time_t *out)
{
    char *end;
    double v, unit = 1.0;

    if (!text || !*text)
        return APR_EINVAL;
    errno = 0;
    v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v < 0)
        return APR_EINVAL;
    if (*end) {
        switch (*end) {
        case 's': unit = 1.0; break;
        case 'm': unit = 60.0; break;
        case 'h': unit = 3600.0; break;
        case 'd': unit = 86400.0; break;
        default: return APR_EINVAL;
        }
        if (end[1])
            return APR_EINVAL;
    }
    v *= unit;
    if (v > 10.0 * 366 * 86400)
        return APR_EINVAL;
    *out = (apr_interval_time_t)(v * APR_USEC_PER_SEC);
    return APR_SUCCESS;
}

apr_status_t wsg_parse_size(const char *text, apr_size_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (!text || *text < '0' || *text > '9')
        return APR_EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text)
        return APR_EINVAL;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return APR_EINVAL;
        }
        if (end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
            return APR_EINVAL;
    }
    if (v == 0 || v > (1ULL << (40 - shift)))
        return APR_EINVAL;
    *out = (apr_size_t)(v << shift);
    return APR_SUCCESS;
}

apr_status_t wsg_parse_score(const char *text, double *out)
{
    char *end;
    double v;

    if (!text || !*text)
        return APR_EINVAL;
    errno = 0;
    v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v) || v < 0 || v > 1e6)
        return APR_EINVAL;
    *out = v;
    return APR_SUCCESS;
}
