/* wsg_export: firewall export formats (nft, ipset, iptables, pf, plain, json) and the exact CIDR
 * aggregation behind them. Pure functions over entries and an injected clock. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <apr_strings.h>
#include <jansson.h>
#include "wsg_export.h"
#include "wsg_store.h"

/* ipset keeps timeouts in milliseconds in 32 bits: the kernel refuses more than this. A longer ban is
 * capped; every sync run sets the timeout again, so the cap is never reached in practice. */
#define WSG_IPSET_MAX_TIMEOUT 2147483
/* maxelem is fixed (not sized to the export) because 'create -exist' refuses a set whose options
 * differ from the existing one: a changing maxelem would break re-applying. */
#define WSG_IPSET_MAXELEM 1048576
/* nft's parser refuses element timeouts much beyond 10^8 s ("value too large"): a longer ban (a
 * manual --for 3650d) is capped at a year; every sync sets the timeout again. */
#define WSG_NFT_MAX_TIMEOUT 31536000
/* Elements per 'add element' statement: keeps the nft parser's memory flat on 100k bans. */
#define WSG_NFT_CHUNK 1024

wsg_export_t *wsg_export_make(apr_pool_t *p)
{
    wsg_export_t *ex = apr_pcalloc(p, sizeof(*ex));
    ex->pool = p;
    ex->v4 = apr_array_make(p, 64, sizeof(wsg_export_entry_t));
    ex->v6 = apr_array_make(p, 16, sizeof(wsg_export_entry_t));
    return ex;
}

static unsigned addr_width(const wsg_addr_t *a)
{
    return a->family == 4 ? 32 : 128;
}

static int addr_bit(const wsg_addr_t *a, unsigned i)
{
    return (a->bytes[i / 8] >> (7 - i % 8)) & 1;
}

static void addr_set_bit(wsg_addr_t *a, unsigned i, int v)
{
    unsigned char m = (unsigned char)(1u << (7 - i % 8));
    if (v)
        a->bytes[i / 8] |= m;
    else
        a->bytes[i / 8] &= (unsigned char)~m;
}

/* Zeroes the host bits (and everything past the family's width) so equal CIDRs compare equal. */
static void addr_mask(wsg_addr_t *a)
{
    unsigned i, w = addr_width(a);
    if (a->bits > w)
        a->bits = (unsigned char)w;
    for (i = a->bits; i < 128; i++)
        addr_set_bit(a, i, 0);
    a->pad[0] = a->pad[1] = 0;
}

void wsg_export_add(wsg_export_t *ex, const wsg_export_entry_t *e)
{
    wsg_export_entry_t *n;
    if (e->addr.family != 4 && e->addr.family != 6)
        return;
    n = apr_array_push(e->addr.family == 4 ? ex->v4 : ex->v6);
    *n = *e;
    n->source[sizeof(n->source) - 1] = '\0';
    addr_mask(&n->addr);
}

static int entry_cmp(const void *a, const void *b)
{
    const wsg_export_entry_t *x = a, *y = b;
    int c = memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
    if (c)
        return c;
    return (int)x->addr.bits - (int)y->addr.bits;   /* the wider CIDR first */
}

/* True when outer (a CIDR) contains inner. */
static int covers(const wsg_addr_t *outer, const wsg_addr_t *inner)
{
    unsigned i;
    if (inner->bits < outer->bits)
        return 0;
    for (i = 0; i < outer->bits; i++)
        if (addr_bit(outer, i) != addr_bit(inner, i))
            return 0;
    return 1;
}

/* True when lo and hi are the two halves of one parent CIDR (lo the lower). */
static int siblings(const wsg_addr_t *lo, const wsg_addr_t *hi)
{
    unsigned i, b = lo->bits;
    if (b == 0 || hi->bits != b)
        return 0;
    for (i = 0; i + 1 < b; i++)
        if (addr_bit(lo, i) != addr_bit(hi, i))
            return 0;
    return !addr_bit(lo, b - 1) && addr_bit(hi, b - 1);
}

static void merge_meta(wsg_export_entry_t *into, const wsg_export_entry_t *from)
{
    if (from->ban_until < into->ban_until)
        into->ban_until = from->ban_until;
    if (from->score > into->score)
        into->score = from->score;
    if (from->bans > into->bans)
        into->bans = from->bans;
    if (from->seen > into->seen)
        into->seen = from->seen;
    into->flags |= from->flags;
    if (strcmp(into->source, from->source))
        into->source[0] = '\0';
}

static void normalise_family(apr_array_header_t *arr, apr_time_t now, int merge)
{
    wsg_export_entry_t *v = (wsg_export_entry_t *)arr->elts;
    int i, n = 0;

    /* drop expired entries in place */
    for (i = 0; i < arr->nelts; i++)
        if (v[i].ban_until > now)
            v[n++] = v[i];
    qsort(v, (size_t)n, sizeof(*v), entry_cmp);

    /* v[0..top) is the output stack: sorted, pairwise disjoint. Anything covering the next entry can
     * only be the top, because earlier stack entries end before the top starts. */
    {
        int top = 0;
        for (i = 0; i < n; i++) {
            wsg_export_entry_t e = v[i];
            if (top > 0 && covers(&v[top - 1].addr, &e.addr))
                continue;
            v[top++] = e;
            while (merge && top >= 2 && siblings(&v[top - 2].addr, &v[top - 1].addr)) {
                merge_meta(&v[top - 2], &v[top - 1]);
                v[top - 2].addr.bits--;
                top--;
            }
        }
        arr->nelts = top;
    }
}

void wsg_export_normalise(wsg_export_t *ex, apr_time_t now, int merge)
{
    normalise_family(ex->v4, now, merge);
    normalise_family(ex->v6, now, merge);
}

apr_int64_t wsg_export_remaining(apr_time_t ban_until, apr_time_t now)
{
    apr_int64_t us = (apr_int64_t)(ban_until - now);
    apr_int64_t s;
    if (us <= 0)
        return 1;
    s = (us + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    return s < 1 ? 1 : s;
}

const char *wsg_export_iso8601(apr_time_t t, char *buf, apr_size_t len)
{
    apr_time_exp_t x;
    apr_time_exp_gmt(&x, t);
    apr_snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", x.tm_year + 1900, x.tm_mon + 1,
                 x.tm_mday, x.tm_hour, x.tm_min, x.tm_sec);
    return buf;
}

apr_status_t wsg_export_format_parse(const char *name, wsg_export_format_t *fmt, int *family)
{
    static const struct { const char *n; wsg_export_format_t f; int fam; } tab[] = {
        { "nft", WSG_EXPORT_NFT, 0 },         { "nftables", WSG_EXPORT_NFT, 0 },
        { "ipset", WSG_EXPORT_IPSET, 0 },     { "iptables", WSG_EXPORT_IPTABLES, 4 },
        { "ip6tables", WSG_EXPORT_IPTABLES, 6 }, { "pf", WSG_EXPORT_PF, 0 },
        { "plain", WSG_EXPORT_PLAIN, 0 },     { "json", WSG_EXPORT_JSON, 0 },
    };
    size_t i;
    for (i = 0; name && i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (!strcmp(name, tab[i].n)) {
            *fmt = tab[i].f;
            if (family && tab[i].fam)
                *family = tab[i].fam;
            return APR_SUCCESS;
        }
    }
    return APR_EINVAL;
}

/* "1.2.3.4" for a full-width address, "1.2.3.0/24" for a CIDR; cidr_always adds "/32" too. */
static const char *entry_text(const wsg_export_entry_t *e, char *buf, apr_size_t len, int cidr_always)
{
    char a[INET6_ADDRSTRLEN];
    unsigned w = addr_width(&e->addr);
    if (!inet_ntop(e->addr.family == 4 ? AF_INET : AF_INET6, e->addr.bytes, a, sizeof(a)))
        apr_cpystrn(a, "?", sizeof(a));
    if (e->addr.bits < w || cidr_always)
        apr_snprintf(buf, len, "%s/%u", a, (unsigned)e->addr.bits);
    else
        apr_cpystrn(buf, a, len);
    return buf;
}

static const char *origin_of(apr_uint32_t flags)
{
    if (flags & WSG_RF_MANUAL)
        return "manual";
    if (flags & WSG_RF_IMPORTED)
        return "imported";
    return "policy";
}

static int want(const wsg_export_opts_t *o, int fam)
{
    return !o->family || o->family == fam;
}

static void header(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o, const char *fmt,
                   apr_time_t now)
{
    char ts[32];
    fprintf(f, "# %s%sformat %s at %s: %d IPv4, %d IPv6 entries\n",
            o->generator ? o->generator : "", o->generator ? ", " : "", fmt,
            wsg_export_iso8601(now, ts, sizeof(ts)), want(o, 4) ? ex->v4->nelts : 0,
            want(o, 6) ? ex->v6->nelts : 0);
}

static void nft_elements(FILE *f, const char *table, const char *set, const apr_array_header_t *arr,
                         apr_time_t now)
{
    const wsg_export_entry_t *v = (const wsg_export_entry_t *)arr->elts;
    char buf[WSG_ADDR_STRLEN + 8];
    int i;
    for (i = 0; i < arr->nelts; i++) {
        apr_int64_t r = wsg_export_remaining(v[i].ban_until, now);
        if (i % WSG_NFT_CHUNK == 0)
            fprintf(f, "add element inet %s %s {\n", table, set);
        fprintf(f, "\t%s timeout %llds%s\n", entry_text(&v[i], buf, sizeof(buf), 0),
                (long long)(r > WSG_NFT_MAX_TIMEOUT ? WSG_NFT_MAX_TIMEOUT : r),
                (i % WSG_NFT_CHUNK == WSG_NFT_CHUNK - 1 || i + 1 == arr->nelts) ? "" : ",");
        if (i % WSG_NFT_CHUNK == WSG_NFT_CHUNK - 1 || i + 1 == arr->nelts)
            fprintf(f, "}\n");
    }
}

static void write_nft(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o, apr_time_t now)
{
    const char *t = o->name ? o->name : "wsguard";
    const char *hook = o->hook ? o->hook : "input";
    fprintf(f, "#!/usr/sbin/nft -f\n");
    header(f, ex, o, "nft", now);
    if (o->set_only) {
        /* 'add' of an existing table or set is a no-op: the admin's chains in table t, and the
         * rules there that reference the sets, are never touched; flush + refill is one
         * transaction, so a rule never sees a half-filled set. */
        fprintf(f,
                "# 'nft -f FILE' refills sets blocked4 and blocked6 of table inet %s in one\n"
                "# transaction and touches nothing else: reference them from your own rules,\n"
                "# e.g. 'ip saddr @blocked4 drop' in a chain of table inet %s.\n"
                "add table inet %s\n"
                "add set inet %s blocked4 { type ipv4_addr; flags interval, timeout; }\n"
                "add set inet %s blocked6 { type ipv6_addr; flags interval, timeout; }\n"
                "flush set inet %s blocked4\n"
                "flush set inet %s blocked6\n",
                t, t, t, t, t, t, t);
    }
    else
        fprintf(f,
                "# 'nft -f FILE' replaces table inet %s in one transaction: applying it again is\n"
                "# idempotent and leaves no stale element; the kernel drops each element when its\n"
                "# timeout (the remaining ban, capped at a year) ends.\n"
                "add table inet %s\n"
                "delete table inet %s\n"
                "table inet %s {\n"
                "\tset blocked4 {\n"
                "\t\ttype ipv4_addr\n"
                "\t\tflags interval, timeout\n"
                "\t}\n"
                "\tset blocked6 {\n"
                "\t\ttype ipv6_addr\n"
                "\t\tflags interval, timeout\n"
                "\t}\n"
                "\tchain %s {\n"
                "\t\ttype filter hook %s priority -10; policy accept;\n"
                "\t\tip saddr @blocked4 drop\n"
                "\t\tip6 saddr @blocked6 drop\n"
                "\t}\n"
                "}\n",
                t, t, t, t, hook, hook);
    if (want(o, 4))
        nft_elements(f, t, "blocked4", ex->v4, now);
    if (want(o, 6))
        nft_elements(f, t, "blocked6", ex->v6, now);
}

static void ipset_family(FILE *f, const char *base, int fam, const apr_array_header_t *arr,
                         apr_time_t now)
{
    const wsg_export_entry_t *v = (const wsg_export_entry_t *)arr->elts;
    char buf[WSG_ADDR_STRLEN + 8];
    int i;
    fprintf(f, "create %s%d hash:net family %s timeout 0 maxelem %d -exist\n", base, fam,
            fam == 4 ? "inet" : "inet6", WSG_IPSET_MAXELEM);
    fprintf(f, "flush %s%d\n", base, fam);
    for (i = 0; i < arr->nelts; i++) {
        apr_int64_t r = wsg_export_remaining(v[i].ban_until, now);
        fprintf(f, "add %s%d %s timeout %lld -exist\n", base, fam,
                entry_text(&v[i], buf, sizeof(buf), 0),
                (long long)(r > WSG_IPSET_MAX_TIMEOUT ? WSG_IPSET_MAX_TIMEOUT : r));
    }
}

static void write_ipset(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o, apr_time_t now)
{
    const char *b = o->name ? o->name : "wsguard";
    char sets[80];
    if (want(o, 4) && want(o, 6))
        apr_snprintf(sets, sizeof(sets), "%s4 and %s6", b, b);
    else
        apr_snprintf(sets, sizeof(sets), "%s%d", b, want(o, 4) ? 4 : 6);
    header(f, ex, o, "ipset", now);
    fprintf(f,
            "# 'ipset restore < FILE' creates %s if missing and replaces their contents\n"
            "# (idempotent). For an atomic switch restore under another name and 'ipset swap'\n"
            "# (scripts/wsguard-fwsync does). Timeouts above %d s (the kernel limit) are capped.\n",
            sets, WSG_IPSET_MAX_TIMEOUT);
    if (want(o, 4))
        ipset_family(f, b, 4, ex->v4, now);
    if (want(o, 6))
        ipset_family(f, b, 6, ex->v6, now);
}

static void write_iptables(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o,
                           apr_time_t now)
{
    const char *c = o->name ? o->name : "WSGUARD";
    int fam = o->family == 6 ? 6 : 4;
    const apr_array_header_t *arr = fam == 4 ? ex->v4 : ex->v6;
    const wsg_export_entry_t *v = (const wsg_export_entry_t *)arr->elts;
    const char *tool = fam == 4 ? "iptables" : "ip6tables";
    char buf[WSG_ADDR_STRLEN + 8];
    wsg_export_opts_t one = *o;
    int i;

    one.family = fam;
    header(f, ex, &one, fam == 4 ? "iptables" : "ip6tables", now);
    fprintf(f,
            "# %s has no per-rule timeouts: bans stay until the next export replaces this chain,\n"
            "# so re-run it (cron / systemd timer) to drop expired bans.\n"
            "# Apply with '%s-restore --noflush < FILE' (without --noflush the other chains of the\n"
            "# filter table are flushed too); it replaces chain %s. Hook it in once:\n"
            "#   %s -I INPUT -j %s\n",
            tool, tool, c, tool, c);
    fprintf(f, "*filter\n:%s - [0:0]\n", c);
    for (i = 0; i < arr->nelts; i++)
        fprintf(f, "-A %s -s %s -j DROP\n", c, entry_text(&v[i], buf, sizeof(buf), 1));
    fprintf(f, "COMMIT\n");
}

static void write_pf(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o, apr_time_t now)
{
    const char *t = o->name ? o->name : "wsguard";
    char buf[WSG_ADDR_STRLEN + 8];
    int fam, i, first = 1;

    header(f, ex, o, "pf", now);
    fprintf(f,
            "# pf tables have no per-entry timeout: bans stay until the next export replaces the\n"
            "# table, so re-run it to drop expired bans. Include this in pf.conf, with e.g.\n"
            "#   block drop in quick from <%s>\n"
            "# (or load '--format plain' into a running pf: pfctl -t %s -T replace -f FILE).\n",
            t, t);
    fprintf(f, "table <%s> persist", t);
    for (fam = 4; fam <= 6; fam += 2) {
        const apr_array_header_t *arr = fam == 4 ? ex->v4 : ex->v6;
        const wsg_export_entry_t *v = (const wsg_export_entry_t *)arr->elts;
        if (!want(o, fam))
            continue;
        for (i = 0; i < arr->nelts; i++) {
            fprintf(f, "%s\t%s", first ? " {\n" : ",\n", entry_text(&v[i], buf, sizeof(buf), 0));
            first = 0;
        }
    }
    fprintf(f, "%s", first ? "\n" : "\n}\n");
}

static void write_plain(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o)
{
    char buf[WSG_ADDR_STRLEN + 8];
    int fam, i;
    for (fam = 4; fam <= 6; fam += 2) {
        const apr_array_header_t *arr = fam == 4 ? ex->v4 : ex->v6;
        const wsg_export_entry_t *v = (const wsg_export_entry_t *)arr->elts;
        if (!want(o, fam))
            continue;
        for (i = 0; i < arr->nelts; i++)
            fprintf(f, "%s\n", entry_text(&v[i], buf, sizeof(buf), 0));
    }
}

static apr_time_t ceil_sec(apr_time_t t)
{
    return (t + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC * APR_USEC_PER_SEC;
}

static apr_status_t write_json(FILE *f, const wsg_export_t *ex, const wsg_export_opts_t *o,
                               apr_time_t now)
{
    char a[INET6_ADDRSTRLEN], ts[32];
    int fam, i, first = 1;

    fputs("[", f);
    for (fam = 4; fam <= 6; fam += 2) {
        const apr_array_header_t *arr = fam == 4 ? ex->v4 : ex->v6;
        const wsg_export_entry_t *v = (const wsg_export_entry_t *)arr->elts;
        if (!want(o, fam))
            continue;
        for (i = 0; i < arr->nelts; i++) {
            const wsg_export_entry_t *e = &v[i];
            json_t *obj;
            char *s;
            if (!inet_ntop(fam == 4 ? AF_INET : AF_INET6, e->addr.bytes, a, sizeof(a)))
                continue;
            /* The ban end is rounded up to whole seconds, like remaining_s, so an import of this
             * file exports the same instant again. */
            obj = json_pack("{s:s, s:i, s:i, s:s, s:I, s:f, s:i, s:s, s:s?, s:b}",
                            "address", a, "prefix_len", (int)e->addr.bits, "family", fam,
                            "ban_until", wsg_export_iso8601(ceil_sec(e->ban_until), ts, sizeof(ts)),
                            "remaining_s", (json_int_t)wsg_export_remaining(e->ban_until, now),
                            "score", floor(e->score * 100.0 + 0.5) / 100.0,
                            "bans", (int)e->bans, "origin", origin_of(e->flags),
                            "source", e->source[0] ? e->source : NULL,
                            "shell_hit", (e->flags & WSG_RF_SHELL_HIT) ? 1 : 0);
            /* the evidence time: an importing peer that unbanned it later keeps its unban */
            if (obj && e->seen > 0)
                json_object_set_new(obj, "last_seen",
                                    json_string(wsg_export_iso8601(e->seen, ts, sizeof(ts))));
            if (!obj)
                return APR_ENOMEM;
            s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
            json_decref(obj);
            if (!s)
                return APR_ENOMEM;
            fprintf(f, "%s\n  %s", first ? "" : ",", s);
            free(s);
            first = 0;
        }
    }
    fputs(first ? "]\n" : "\n]\n", f);
    return APR_SUCCESS;
}

apr_status_t wsg_export_write(const wsg_export_t *ex, wsg_export_format_t fmt,
                              const wsg_export_opts_t *opts, apr_time_t now, FILE *f)
{
    wsg_export_opts_t o;
    apr_status_t rv = APR_SUCCESS;

    memset(&o, 0, sizeof(o));
    if (opts)
        o = *opts;
    switch (fmt) {
    case WSG_EXPORT_NFT:      write_nft(f, ex, &o, now); break;
    case WSG_EXPORT_IPSET:    write_ipset(f, ex, &o, now); break;
    case WSG_EXPORT_IPTABLES: write_iptables(f, ex, &o, now); break;
    case WSG_EXPORT_PF:       write_pf(f, ex, &o, now); break;
    case WSG_EXPORT_PLAIN:    write_plain(f, ex, &o); break;
    case WSG_EXPORT_JSON:     rv = write_json(f, ex, &o, now); break;
    default:                  return APR_EINVAL;
    }
    if (rv == APR_SUCCESS && (fflush(f) != 0 || ferror(f)))
        rv = errno ? APR_FROM_OS_ERROR(errno) : APR_EGENERAL;
    return rv;
}

apr_status_t wsg_export_cidr_keys(apr_pool_t *p, const wsg_addr_t *cidr, int max,
                                  apr_array_header_t **keys, const char **err)
{
    wsg_addr_t a = *cidr;
    unsigned width, pbits, keybits, nbits, j;
    apr_uint64_t count, i;
    apr_array_header_t *arr;
    char buf[WSG_ADDR_STRLEN + 8];
    wsg_export_entry_t tmp;

    if (a.family != 4 && a.family != 6) {
        *err = "not an IPv4 or IPv6 address";
        return APR_EINVAL;
    }
    addr_mask(&a);
    width = addr_width(&a);
    pbits = a.family == 4 ? 24 : 64;
    if (a.bits == pbits || a.bits == width)
        keybits = a.bits;
    else
        keybits = a.bits > pbits ? width : pbits;
    nbits = keybits - a.bits;
    count = nbits >= 32 ? ~(apr_uint64_t)0 : (apr_uint64_t)1 << nbits;
    if (max < 1 || count > (apr_uint64_t)max) {
        memset(&tmp, 0, sizeof(tmp));
        tmp.addr = a;
        *err = apr_psprintf(p, "%s stands for %s %s records (at most %d here): the module keeps "
                               "records of addresses and /%u prefixes only; give a narrower CIDR",
                            entry_text(&tmp, buf, sizeof(buf), 1),
                            nbits >= 32 ? "more than 4 billion"
                                        : apr_psprintf(p, "%" APR_UINT64_T_FMT, count),
                            keybits == width ? "address" : "prefix", max, pbits);
        return APR_EINVAL;
    }
    arr = apr_array_make(p, (int)count, sizeof(wsg_addr_t));
    for (i = 0; i < count; i++) {
        wsg_addr_t *k = apr_array_push(arr);
        *k = a;
        k->bits = (unsigned char)keybits;
        for (j = 0; j < nbits; j++)
            if ((i >> j) & 1)
                addr_set_bit(k, keybits - 1 - j, 1);
    }
    *keys = arr;
    return APR_SUCCESS;
}
