/* wsg_util: parsing of durations, sizes and scores typed by operators; a pool string builder. */
#include <stdlib.h>
#include <errno.h>
#include <math.h>
#include <string.h>
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

static int ctl_byte(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

int wsg_has_ctl(const char *s, apr_size_t len)
{
    for (apr_size_t i = 0; i < len; i++)
        if (ctl_byte((unsigned char)s[i]))
            return 1;
    return 0;
}

char *wsg_escape_ctl(apr_pool_t *p, const char *s, apr_size_t len, apr_size_t max, int flags)
{
    const char *hex = (flags & WSG_ESC_PERCENT) ? "0123456789ABCDEF" : "0123456789abcdef";
    apr_size_t i, o = 0, cap = len * 4 + 1;
    char *out;

    if (max && cap > max + 1)
        cap = max + 1;
    out = apr_palloc(p, cap);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int esc = ctl_byte(c) || (c == '\\' && (flags & WSG_ESC_BACKSLASH));
        apr_size_t w = !esc ? 1 : (flags & WSG_ESC_PERCENT) ? 3 : 4;
        if (o + w > cap - 1)
            break;
        if (esc) {
            if (flags & WSG_ESC_PERCENT)
                out[o++] = '%';
            else {
                out[o++] = '\\';
                out[o++] = 'x';
            }
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

void wsg_buf_put(wsg_buf_t *b, const char *s)
{
    apr_size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = (b->cap + n + 1) * 2;
        char *nb = apr_palloc(b->p, cap);
        if (b->b)
            memcpy(nb, b->b, b->len);
        b->b = nb;
        b->cap = cap;
    }
    memcpy(b->b + b->len, s, n + 1);
    b->len += n;
}
