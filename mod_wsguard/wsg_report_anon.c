/* wsg_report_anon: what --anonymise removes from a report: the reporter's own host names, private
 * addresses and query values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

/* Drops query values, keeps names: "?a=1&b=2&c" -> "?a=&b=&c". A fragment is dropped. */
static char *strip_query_values(apr_pool_t *p, const char *s)
{
    const char *q = strchr(s, '?');
    sbuf_t b = { p, NULL, 0, 0 };
    int in_value = 0;

    if (!q)
        return apr_pstrdup(p, s);
    wsg_rpt_sb_add(&b, s, (apr_size_t)(q - s) + 1);
    for (q++; *q && *q != '#'; q++) {
        if (*q == '&' || *q == ';') {
            in_value = 0;
            wsg_rpt_sb_add(&b, q, 1);
        }
        else if (in_value) {
            continue;
        }
        else {
            wsg_rpt_sb_add(&b, q, 1);
            if (*q == '=')
                in_value = 1;
        }
    }
    return b.b;
}

static int host_len_cmp(const void *a, const void *b)
{
    size_t x = strlen(*(const char *const *)a), y = strlen(*(const char *const *)b);
    return x > y ? -1 : x < y ? 1 : 0;
}

/* Replaces every own host name, longest first, case-insensitively. */
static char *strip_hosts(wsg_report_t *r, apr_pool_t *p, const char *s)
{
    const char **hosts;
    unsigned n = apr_hash_count(r->own_hosts), i = 0;
    apr_hash_index_t *hi;
    char *cur = apr_pstrdup(p, s);

    if (!n)
        return cur;
    hosts = apr_palloc(p, sizeof(*hosts) * n);
    for (hi = apr_hash_first(p, r->own_hosts); hi; hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        hosts[i++] = k;
    }
    qsort(hosts, n, sizeof(*hosts), host_len_cmp);
    for (i = 0; i < n; i++) {
        size_t hl = strlen(hosts[i]);
        char *hit;
        sbuf_t b = { p, NULL, 0, 0 };
        const char *from = cur;
        if (!hl || !strcasestr(cur, hosts[i]))
            continue;
        while ((hit = strcasestr(from, hosts[i]))) {
            wsg_rpt_sb_add(&b, from, (apr_size_t)(hit - from));
            wsg_rpt_sb_str(&b, REDACTED_HOST);
            from = hit + hl;
        }
        wsg_rpt_sb_str(&b, from);
        cur = b.b;
    }
    return cur;
}

static int addr_char(char ch)
{
    return apr_isxdigit(ch) || ch == ':' || ch == '.';
}

/* Replaces private IPv4/IPv6 addresses found as tokens anywhere in s. */
static char *strip_private(apr_pool_t *p, const char *s)
{
    sbuf_t b = { p, NULL, 0, 0 };
    const char *i = s;

    wsg_rpt_sb_str(&b, "");
    while (*i) {
        const char *j = i;
        if (!addr_char(*i) || (i > s && (apr_isalnum(i[-1]) || i[-1] == '_'))) {
            wsg_rpt_sb_add(&b, i, 1);
            i++;
            continue;
        }
        while (addr_char(*j))
            j++;
        {
            /* Try the token, then without trailing dots/colons ("10.0.0.1." at a sentence end). */
            size_t n = (size_t)(j - i);
            int done = 0;
            while (n >= 2 && !done) {
                char *tok = apr_pstrmemdup(p, i, n);
                wsg_addr_t a;
                if ((strchr(tok, '.') || strchr(tok, ':')) && wsg_addr_parse(tok, &a) == APR_SUCCESS
                    && !strchr(tok, '/')) {
                    if (wsg_addr_is_private(&a))
                        wsg_rpt_sb_str(&b, REDACTED_IP);
                    else
                        wsg_rpt_sb_add(&b, i, n);
                    wsg_rpt_sb_add(&b, i + n, (size_t)(j - i) - n);
                    done = 1;
                }
                else if (tok[n - 1] == '.' || tok[n - 1] == ':') {
                    n--;
                }
                else {
                    break;
                }
            }
            if (!done)
                wsg_rpt_sb_add(&b, i, (size_t)(j - i));
        }
        i = j;
    }
    return b.b;
}

/* Second pass for IPv4 glued to other text ("x10.0.0.1", "dead:10.0.0.1"), which the token pass
 * leaves alone: any run of digits and dots not inside a longer number. */
static char *strip_private_v4(apr_pool_t *p, const char *s)
{
    sbuf_t b = { p, NULL, 0, 0 };
    const char *i = s;

    wsg_rpt_sb_str(&b, "");
    while (*i) {
        const char *j = i;
        wsg_addr_t a;
        size_t n;
        if (!apr_isdigit(*i) || (i > s && (apr_isdigit(i[-1]) || i[-1] == '.'))) {
            wsg_rpt_sb_add(&b, i, 1);
            i++;
            continue;
        }
        while (apr_isdigit(*j) || *j == '.')
            j++;
        n = (size_t)(j - i);
        while (n && i[n - 1] == '.')
            n--;
        if (n >= 7 && wsg_addr_parse(apr_pstrmemdup(p, i, n), &a) == APR_SUCCESS
            && wsg_addr_is_private(&a)) {
            wsg_rpt_sb_str(&b, REDACTED_IP);
            wsg_rpt_sb_add(&b, i + n, (size_t)(j - i) - n);
        }
        else {
            wsg_rpt_sb_add(&b, i, (size_t)(j - i));
        }
        i = j;
    }
    return b.b;
}

char *wsg_report_anonymise_str(wsg_report_t *r, const char *s, int is_target, apr_pool_t *p)
{
    char *out;
    if (!s)
        return NULL;
    out = is_target ? strip_query_values(p, s) : apr_pstrdup(p, s);
    out = strip_hosts(r, p, out);
    out = strip_private(p, out);
    return strip_private_v4(p, out);
}

/* What a string looks like in the output: anonymised if asked. */
const char *wsg_rpt_outs(wsg_report_t *r, apr_pool_t *p, const char *s, int is_target)
{
    return r->o.anonymise ? wsg_report_anonymise_str(r, s, is_target, p) : s;
}
