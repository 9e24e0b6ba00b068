/* wsg_crawler: crawlers that say who they are, checked by forward-confirmed reverse DNS.
 *
 * Why FCrDNS and these domains: every vendor below documents the same check for its crawlers
 * (Google "Verifying Googlebot", Bing "Verifying Bingbot", Apple "About Applebot", Yandex "How to
 * check that a robot belongs to Yandex", Baidu's spider help): the PTR name of the address ends in
 * the vendor's domain, and that name resolves back to the address. The PTR alone proves nothing
 * (whoever holds the address's reverse zone writes any name in it); the forward lookup is answered
 * by the vendor's own zone, which an impostor does not control. Only domains under the vendor's
 * sole control are listed: not googleusercontent.com (Google Cloud customers' VMs have PTR names
 * there, forward-confirmed), nor any cloud provider's. Crawlers whose vendors publish only IP
 * lists (DuckDuckBot, ...) are not in the table: their claims are scored as anyone's.
 *
 * What is trusted, and for how long, is the state machine of wsg_crawler.h in the address record;
 * no input of the request (the User-Agent is the attacker's) can turn protection off: a claim only
 * holds the score below the lowest threshold while a check is pending, for at most
 * WSG_CRAWLER_HOLD seconds, and a failed check scores the client as anyone (a fake, more).
 *
 * The DNS client is deliberately small: one UDP query to one resolver, a random id, a connected
 * socket (the kernel drops datagrams from anyone else), a strict parser that rejects rather than
 * guesses (a truncated answer is an error: PTR and A answers of crawlers fit in 512 bytes). */
#include <string.h>
#include <stdio.h>
#include <apr_strings.h>
#include <apr_general.h>
#include <apr_lib.h>
#include "wsg_crawler.h"

/* ---- the table ---- */

/* Google: its crawlers and special-case fetchers that say "Google" in their token; all have
 * googlebot.com or google.com names (crawl-*.googlebot.com, geo-crawl-*.geo.googlebot.com,
 * rate-limited-proxy-*.google.com). */
static const char *const google_tokens[] = {
    "Googlebot", "AdsBot-Google", "Mediapartners-Google", "Google-InspectionTool",
    "GoogleOther", "Storebot-Google", "APIs-Google", "FeedFetcher-Google", NULL };
static const char *const google_domains[] = { "googlebot.com", "google.com", NULL };
/* Microsoft Bing: msnbot-*.search.msn.com. */
static const char *const bing_tokens[] = { "bingbot", "msnbot", "BingPreview", "adidxbot", NULL };
static const char *const bing_domains[] = { "search.msn.com", NULL };
/* Apple: *.applebot.apple.com. */
static const char *const apple_tokens[] = { "Applebot", NULL };
static const char *const apple_domains[] = { "applebot.apple.com", NULL };
/* Yandex: every robot's User-Agent carries its bots page; names in yandex.ru/.net/.com. */
static const char *const yandex_tokens[] = { "YandexBot", "yandex.com/bots", NULL };
static const char *const yandex_domains[] = { "yandex.ru", "yandex.net", "yandex.com", NULL };
/* Baidu: baiduspider-*.crawl.baidu.com, *.crawl.baidu.jp. */
static const char *const baidu_tokens[] = { "Baiduspider", NULL };
static const char *const baidu_domains[] = { "baidu.com", "baidu.jp", NULL };

static const wsg_crawler_t crawlers[] = {
    { "Googlebot", google_tokens, google_domains },
    { "bingbot", bing_tokens, bing_domains },
    { "Applebot", apple_tokens, apple_domains },
    { "YandexBot", yandex_tokens, yandex_domains },
    { "Baiduspider", baidu_tokens, baidu_domains },
};
#define NCRAWLERS ((int)(sizeof(crawlers) / sizeof(crawlers[0])))

int wsg_crawler_count(void)
{
    return NCRAWLERS;
}

const wsg_crawler_t *wsg_crawler_get(int id)
{
    return id >= 1 && id <= NCRAWLERS ? &crawlers[id - 1] : NULL;
}

int wsg_crawler_claim(const char *ua)
{
    char low[WSG_CRAWLER_UA_MAX + 1], tok[64];
    apr_size_t n, i;
    int c, j;

    if (!ua || !*ua)
        return 0;
    /* One lower-case copy of the head of the User-Agent, then the C library's substring search
     * (vectorised) per token: well under a microsecond for a browser's, on a request that
     * scores anyway. A NUL cannot hide a token: the header value has none. */
    n = strnlen(ua, WSG_CRAWLER_UA_MAX);
    for (i = 0; i < n; i++)
        low[i] = (char)apr_tolower((unsigned char)ua[i]);
    low[n] = '\0';
    for (c = 0; c < NCRAWLERS; c++)
        for (j = 0; crawlers[c].tokens[j]; j++) {
            const char *t = crawlers[c].tokens[j];
            for (i = 0; t[i] && i < sizeof(tok) - 1; i++)
                tok[i] = (char)apr_tolower((unsigned char)t[i]);
            tok[i] = '\0';
            if (strstr(low, tok))
                return c + 1;
        }
    return 0;
}

/* A host name as DNS names of hosts are written: labels of 1..63 letters, digits, '-' or '_'
 * (seen in some PTR zones), at most 253 bytes without the trailing dot. */
static int host_syntax_ok(const char *h, apr_size_t len)
{
    apr_size_t i, label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!apr_isalnum(c) && c != '-' && c != '_')
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0;
}

int wsg_crawler_name_ok(int id, const char *host)
{
    const wsg_crawler_t *cr = wsg_crawler_get(id);
    apr_size_t hl;
    int j;

    if (!cr || !host)
        return 0;
    hl = strlen(host);
    if (hl && host[hl - 1] == '.')
        hl--;
    if (!host_syntax_ok(host, hl))
        return 0;
    for (j = 0; cr->domains[j]; j++) {
        apr_size_t dl = strlen(cr->domains[j]);
        /* "x.googlebot.com" yes; "googlebot.com" itself, "evilgooglebot.com" and
         * "googlebot.com.evil.net" no */
        if (hl > dl + 1 && host[hl - dl - 1] == '.'
            && !strncasecmp(host + hl - dl, cr->domains[j], dl))
            return 1;
    }
    return 0;
}

/* ---- the verdict ---- */

static apr_int64_t now_sec(apr_time_t now)
{
    return (apr_int64_t)apr_time_sec(now);
}

/* Seconds since the record's crawler time; a time ahead of the clock by more than the hold (a
 * damaged record, a clock set back far) counts as long ago, so nothing is held by it. */
static apr_int64_t age_of(const wsg_rec_t *rec, apr_time_t now)
{
    apr_int64_t at = (apr_int64_t)rec->crawler_at, t = now_sec(now);
    if (at > t + WSG_CRAWLER_HOLD)
        return APR_INT64_C(1) << 40;
    return at > t ? 0 : t - at;
}

wsg_crawler_state_e wsg_crawler_state(const wsg_rec_t *rec, apr_time_t now)
{
    apr_uint32_t f;
    apr_int64_t age;

    if (!rec || rec->version == 0)
        return WSG_CRAWLER_NONE;
    f = rec->flags & WSG_RF_CRAWLER_PENDING;
    age = age_of(rec, now);
    switch (f) {
    case WSG_RF_CRAWLER_PENDING:
        /* past the hold the client is scored as anyone until a retry is due */
        return age < WSG_CRAWLER_HOLD ? WSG_CRAWLER_PENDING
             : age < WSG_CRAWLER_RETRY ? WSG_CRAWLER_UNVERIFIED : WSG_CRAWLER_NONE;
    case WSG_RF_CRAWLER_OK:
        return age < WSG_CRAWLER_TTL ? WSG_CRAWLER_VERIFIED : WSG_CRAWLER_NONE;
    case WSG_RF_CRAWLER_FAKE:
        return age < WSG_CRAWLER_TTL ? WSG_CRAWLER_FAKE : WSG_CRAWLER_NONE;
    default:
        return rec->crawler_at && age < WSG_CRAWLER_RETRY ? WSG_CRAWLER_UNVERIFIED
                                                          : WSG_CRAWLER_NONE;
    }
}

const char *wsg_crawler_state_name(const wsg_rec_t *rec, apr_time_t now)
{
    apr_uint32_t f = rec ? rec->flags & WSG_RF_CRAWLER_PENDING : 0;

    if (!rec || (!f && !rec->crawler_at))
        return NULL;
    switch (wsg_crawler_state(rec, now)) {
    case WSG_CRAWLER_PENDING:    return "pending";
    case WSG_CRAWLER_VERIFIED:   return "verified";
    case WSG_CRAWLER_FAKE:       return "fake";
    case WSG_CRAWLER_UNVERIFIED: return "unverified";
    default:                     return "expired";
    }
}

/* Margin below a threshold that the hold keeps: twice the policy's epsilon (which counts
 * scores within it as reaching the threshold). */
#define HOLD_MARGIN (2 * WSG_SCORE_EPSILON)

/* The most that may be added without the address reaching its lowest threshold, or its prefix the
 * prefix ban. A client already in a tier or banned when it claims (its score at the threshold,
 * which a hold never lets it reach) is held at nothing: the claim does not stop a scanner that
 * is refused already from climbing to its ban. */
static double hold(const wsg_policy_t *pol, const wsg_rec_t *rec, const wsg_rec_t *prec,
                   apr_time_t now, double total)
{
    double thr = pol->ban, room, s = rec && rec->version ? wsg_policy_score_now(pol, rec, now) : 0;

    if (pol->ratelimit > 0 && (thr <= 0 || pol->ratelimit < thr))
        thr = pol->ratelimit;
    if ((thr > 0 && s >= thr - WSG_SCORE_EPSILON) || (rec && rec->ban_until > now))
        return total;
    if (thr > 0) {
        room = thr - HOLD_MARGIN - s;
        if (total > room)
            total = room;
    }
    if (pol->prefix_ban > 0 && prec && prec->version) {
        room = pol->prefix_ban - HOLD_MARGIN - wsg_policy_score_now(pol, prec, now);
        if (total > room)
            total = room;
    }
    return total > 0 ? total : 0;
}

double wsg_crawler_score(const wsg_policy_t *pol, const wsg_rec_t *rec, const wsg_rec_t *prec,
                         apr_time_t now, double any, double miss, apr_uint32_t *set_flags,
                         int *queue)
{
    double total = (any > 0 ? any : 0) + (miss > 0 ? miss : 0);

    switch (wsg_crawler_state(rec, now)) {
    case WSG_CRAWLER_VERIFIED:
        /* Not a scanner, whatever it fetched: a crawler follows links, and anyone can plant a
         * link to /wso.php on a page it crawls (banning it would be the attack). An answer 2xx
         * to a probe is still an alert: the caller sets that flag. */
        return 0;
    case WSG_CRAWLER_FAKE:
        /* It lied about who it is, and probes: a scanner's habit. */
        return total > 0 ? total + WSG_CRAWLER_FAKE_BONUS : 0;
    case WSG_CRAWLER_UNVERIFIED:
        return total;
    case WSG_CRAWLER_NONE:
        *set_flags |= WSG_RF_CRAWLER_PENDING;
        *queue = 1;
        return hold(pol, rec, prec, now, total);   /* pending from this request on */
    case WSG_CRAWLER_PENDING:
    default:
        return hold(pol, rec, prec, now, total);
    }
}

void wsg_crawler_mark(wsg_rec_t *rec, apr_time_t now)
{
    rec->flags |= WSG_RF_CRAWLER_PENDING;
    rec->crawler_at = (apr_uint32_t)now_sec(now);
}

int wsg_crawler_resolved(wsg_rec_t *rec, wsg_crawler_v_e v, apr_time_t now)
{
    if ((rec->flags & WSG_RF_CRAWLER_PENDING) != WSG_RF_CRAWLER_PENDING)
        return 0;
    if (v != WSG_CRAWLER_V_OK && v != WSG_CRAWLER_V_FAKE) {
        /* Not checked: the record stays pending, dated back by the hold, which reads as
         * "unverified" (scored as anyone) until a retry is due. So the state needs no flag of
         * its own and its time stays on disk (the tail is kept while a crawler flag is set);
         * a record that dropped both flags would read "never checked" and be held again. */
        rec->crawler_at = (apr_uint32_t)(now_sec(now) - WSG_CRAWLER_HOLD);
        return 1;
    }
    rec->flags &= ~WSG_RF_CRAWLER_PENDING;
    rec->flags |= v == WSG_CRAWLER_V_OK ? WSG_RF_CRAWLER_OK : WSG_RF_CRAWLER_FAKE;
    rec->crawler_at = (apr_uint32_t)now_sec(now);
    /* What a verified crawler scored before (held while pending, or in full while a resolver
     * outage left it unchecked) was its own crawling: it goes, so it is not kept in the
     * rate-limit tier. A ban in force is left to run out (it may be an operator's or a peer's,
     * and the firewall and peers have heard of it). */
    if (v == WSG_CRAWLER_V_OK) {
        rec->score = 0;
        rec->score_time = now;
    }
    return 1;
}

int wsg_crawler_keep(const wsg_rec_t *rec, apr_time_t now)
{
    wsg_crawler_state_e s = wsg_crawler_state(rec, now);
    return s == WSG_CRAWLER_VERIFIED || s == WSG_CRAWLER_FAKE || s == WSG_CRAWLER_PENDING;
}

/* ---- DNS ---- */

apr_status_t wsg_dns_ptr_name(const wsg_addr_t *a, char *buf, apr_size_t size)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t o = 0;
    int i;

    if (a->family == 4) {
        int n = apr_snprintf(buf, size, "%u.%u.%u.%u.in-addr.arpa", a->bytes[3], a->bytes[2],
                             a->bytes[1], a->bytes[0]);
        return n > 0 && (apr_size_t)n < size ? APR_SUCCESS : APR_EINVAL;
    }
    if (a->family != 6 || size < 32 * 2 + sizeof("ip6.arpa"))
        return APR_EINVAL;
    for (i = 15; i >= 0; i--) {
        buf[o++] = hex[a->bytes[i] & 0xf];
        buf[o++] = '.';
        buf[o++] = hex[a->bytes[i] >> 4];
        buf[o++] = '.';
    }
    memcpy(buf + o, "ip6.arpa", sizeof("ip6.arpa"));
    return APR_SUCCESS;
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

apr_size_t wsg_dns_query(unsigned char *buf, apr_size_t size, apr_uint16_t id, const char *name,
                         int qtype)
{
    apr_size_t o = 12, nl = name ? strlen(name) : 0;
    const char *s = name, *dot;

    if (nl && name[nl - 1] == '.')
        nl--;
    if (!name || nl == 0 || nl > 253 || size < 12 + nl + 2 + 4)
        return 0;
    memset(buf, 0, 12);
    put16(buf, id);
    put16(buf + 2, 0x0100);           /* a standard query, recursion desired */
    put16(buf + 4, 1);
    while (s < name + nl) {
        apr_size_t ll;
        dot = memchr(s, '.', (apr_size_t)(name + nl - s));
        ll = dot ? (apr_size_t)(dot - s) : (apr_size_t)(name + nl - s);
        if (ll == 0 || ll > 63)
            return 0;
        buf[o++] = (unsigned char)ll;
        memcpy(buf + o, s, ll);
        o += ll;
        s += ll + (dot ? 1 : 0);
    }
    buf[o++] = 0;
    put16(buf + o, (unsigned)qtype);
    put16(buf + o + 2, 1);            /* class IN */
    return o + 4;
}

/* Reads the name at *off into out (text, no trailing dot, "" for the root); *off moves past it
 * in the record (not past what pointers led to). Pointers must point backwards from where they
 * are (so every chain ends), at most 32 of them; labels are printable, have no '.', and the name
 * fits in 255 bytes. 0 on any violation. */
static int read_name(const unsigned char *pkt, apr_size_t len, apr_size_t *off, char *out)
{
    apr_size_t pos = *off, next = 0, o = 0, wire = 0;
    int jumps = 0, jumped = 0;

    for (;;) {
        unsigned c;
        if (pos >= len)
            return 0;
        c = pkt[pos];
        if (c == 0) {
            if (!jumped)
                next = pos + 1;
            break;
        }
        if ((c & 0xc0) == 0xc0) {
            apr_size_t ptr;
            if (pos + 1 >= len)
                return 0;
            ptr = (apr_size_t)(c & 0x3f) << 8 | pkt[pos + 1];
            if (ptr >= pos || ++jumps > 32)
                return 0;
            if (!jumped)
                next = pos + 2;
            jumped = 1;
            pos = ptr;
            continue;
        }
        if (c & 0xc0)
            return 0;                 /* the obsolete extended label types */
        if (pos + 1 + c > len || (wire += c + 1) > 255)
            return 0;
        if (o)
            out[o++] = '.';
        {
            unsigned i;
            for (i = 0; i < c; i++) {
                unsigned char b = pkt[pos + 1 + i];
                if (b <= 0x20 || b >= 0x7f || b == '.')
                    return 0;
                out[o++] = (char)b;
            }
        }
        pos += 1 + c;
    }
    out[o] = '\0';
    *off = next;
    return 1;
}

/* Names compare without case and without a trailing dot. */
static int same_name(const char *a, const char *b)
{
    apr_size_t al = strlen(a), bl = strlen(b);
    if (al && a[al - 1] == '.')
        al--;
    if (bl && b[bl - 1] == '.')
        bl--;
    return al == bl && !strncasecmp(a, b, al);
}

#define MAX_CHAIN 8

typedef struct rr_t {
    char          owner[WSG_DNS_NAME_MAX];
    unsigned      type, cls;
    apr_size_t    rdata, rdlen;
} rr_t;

/* The answer section's records, one at a time (*off moves on). */
static int read_rr(const unsigned char *pkt, apr_size_t len, apr_size_t *off, rr_t *rr)
{
    if (!read_name(pkt, len, off, rr->owner) || *off + 10 > len)
        return 0;
    rr->type = get16(pkt + *off);
    rr->cls = get16(pkt + *off + 2);
    rr->rdlen = get16(pkt + *off + 8);
    rr->rdata = *off + 10;
    if (rr->rdata + rr->rdlen > len)
        return 0;
    *off = rr->rdata + rr->rdlen;
    return 1;
}

apr_status_t wsg_dns_parse(const unsigned char *pkt, apr_size_t len, apr_uint16_t id,
                           const char *name, int qtype, wsg_dns_answer_t *out)
{
    char qn[WSG_DNS_NAME_MAX], chain[MAX_CHAIN + 1][WSG_DNS_NAME_MAX];
    unsigned flags, qd, an, i;
    apr_size_t off = 12, answers;
    int nchain = 1, step;
    rr_t rr;

    memset(out, 0, sizeof(*out));
    if (!pkt || len < 12 || get16(pkt) != id)
        return APR_EINVAL;
    flags = get16(pkt + 2);
    if (!(flags & 0x8000) || ((flags >> 11) & 0xf) != 0 || (flags & 0x0200))
        return APR_EINVAL;            /* not a response, not a query's, or truncated */
    qd = get16(pkt + 4);
    an = get16(pkt + 6);
    if (qd != 1 || !read_name(pkt, len, &off, qn) || off + 4 > len || !same_name(qn, name)
        || get16(pkt + off) != (unsigned)qtype || get16(pkt + off + 2) != 1)
        return APR_EINVAL;
    off += 4;
    out->rcode = (int)(flags & 0xf);
    if (out->rcode != 0)
        return APR_SUCCESS;
    answers = off;
    /* First pass: the CNAME chain from the question (in any order, at most MAX_CHAIN steps). */
    apr_cpystrn(chain[0], name, sizeof(chain[0]));
    for (step = 0; step < MAX_CHAIN; step++) {
        int found = 0;
        off = answers;
        for (i = 0; i < an; i++) {
            apr_size_t r;
            if (!read_rr(pkt, len, &off, &rr))
                return APR_EINVAL;
            if (rr.type != WSG_DNS_CNAME || rr.cls != 1 || !same_name(rr.owner, chain[nchain - 1]))
                continue;
            r = rr.rdata;
            if (!read_name(pkt, len, &r, chain[nchain]) || r > rr.rdata + rr.rdlen)
                return APR_EINVAL;
            nchain++;
            found = 1;
            break;
        }
        if (!found)
            break;
    }
    /* Second pass: the records the question (or its chain) owns. */
    off = answers;
    for (i = 0; i < an; i++) {
        int k, owned = 0;
        if (!read_rr(pkt, len, &off, &rr))
            return APR_EINVAL;
        if (rr.cls != 1 || rr.type != (unsigned)qtype)
            continue;
        for (k = 0; k < nchain && !owned; k++)
            owned = same_name(rr.owner, chain[k]);
        if (!owned)
            continue;                 /* what the question did not ask is not believed */
        if (qtype == WSG_DNS_PTR) {
            apr_size_t r = rr.rdata;
            char tmp[WSG_DNS_NAME_MAX];
            if (!read_name(pkt, len, &r, tmp) || r > rr.rdata + rr.rdlen)
                return APR_EINVAL;
            if (out->nnames < WSG_DNS_NAMES)
                apr_cpystrn(out->names[out->nnames++], tmp, WSG_DNS_NAME_MAX);
        }
        else if ((qtype == WSG_DNS_A && rr.rdlen == 4) || (qtype == WSG_DNS_AAAA && rr.rdlen == 16)) {
            if (out->naddrs < WSG_DNS_ADDRS)
                memcpy(out->addrs[out->naddrs++], pkt + rr.rdata, rr.rdlen);
        }
        else
            return APR_EINVAL;        /* an A of 5 bytes is garbage, not an address */
    }
    return APR_SUCCESS;
}

/* ---- the resolver ---- */

apr_status_t wsg_resolver_parse(const char *spec, apr_pool_t *p, apr_sockaddr_t **sa,
                                const char **err)
{
    const char *host = spec, *colon;
    apr_int64_t port = 53;
    wsg_addr_t a;
    char *end;

    *err = NULL;
    if (!spec || !*spec) {
        *err = "empty address";
        return APR_EINVAL;
    }
    if (*spec == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb) {
            *err = "missing ']' after the IPv6 address";
            return APR_EINVAL;
        }
        host = apr_pstrmemdup(p, spec + 1, (apr_size_t)(rb - spec - 1));
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] && !colon) {
            *err = "expected ':PORT' after ']'";
            return APR_EINVAL;
        }
    }
    else if ((colon = strchr(spec, ':')) && !strchr(colon + 1, ':'))
        host = apr_pstrmemdup(p, spec, (apr_size_t)(colon - spec));     /* ADDR:PORT */
    else
        colon = NULL;                                                    /* ADDR or bare IPv6 */
    if (colon) {
        port = apr_strtoi64(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 1 || port > 65535) {
            *err = "the port is not a number from 1 to 65535";
            return APR_EINVAL;
        }
    }
    /* numeric only: a resolver found by name would need a resolver */
    if (wsg_addr_parse(host, &a) != APR_SUCCESS || strchr(host, '/')) {
        *err = "not a numeric IPv4 or IPv6 address";
        return APR_EINVAL;
    }
    if (apr_sockaddr_info_get(sa, host, a.family == 4 ? APR_INET : APR_INET6, (apr_port_t)port,
                              0, p) != APR_SUCCESS) {
        *err = "the address cannot be used";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_resolver_system(const char *path, apr_pool_t *p, apr_sockaddr_t **sa)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[512];
    const char *err;

    if (f) {
        while (fgets(line, sizeof(line), f)) {
            char *s = line, *e;
            while (*s == ' ' || *s == '\t')
                s++;
            if (strncmp(s, "nameserver", 10) || (s[10] != ' ' && s[10] != '\t'))
                continue;
            s += 10;
            while (*s == ' ' || *s == '\t')
                s++;
            for (e = s; *e && !apr_isspace(*e); e++)
                ;
            *e = '\0';
            /* as written there: an address, port 53 (a scoped IPv6 address, "fe80::1%eth0",
             * would need its interface: skipped) */
            if (*s && !strchr(s, '[') && !strchr(s, '%')
                && wsg_resolver_parse(s, p, sa, &err) == APR_SUCCESS) {
                fclose(f);
                return APR_SUCCESS;
            }
        }
        fclose(f);
    }
    return wsg_resolver_parse("127.0.0.1", p, sa, &err);
}

apr_status_t wsg_dns_ask(const wsg_resolver_t *r, apr_pool_t *p, const char *name, int qtype,
                         wsg_dns_answer_t *out)
{
    unsigned char q[512], a[1500];
    apr_interval_time_t timeout = r->timeout > 0 ? r->timeout : apr_time_from_msec(1500);
    int tries = r->tries > 0 ? r->tries : 2, t;
    apr_status_t rv = APR_EGENERAL;

    for (t = 0; t < tries; t++) {
        apr_socket_t *s;
        apr_uint16_t id;
        unsigned char rnd[2];
        apr_size_t qlen, n;
        apr_time_t deadline = apr_time_now() + timeout;
        int got;

        if (apr_generate_random_bytes(rnd, sizeof(rnd)) != APR_SUCCESS)
            return APR_EGENERAL;
        id = (apr_uint16_t)(rnd[0] << 8 | rnd[1]);
        if (!(qlen = wsg_dns_query(q, sizeof(q), id, name, qtype)))
            return APR_EINVAL;
        if ((rv = apr_socket_create(&s, r->sa->family, SOCK_DGRAM, APR_PROTO_UDP, p))
            != APR_SUCCESS)
            return rv;
        if ((rv = apr_socket_connect(s, r->sa)) != APR_SUCCESS
            || (rv = apr_socket_timeout_set(s, timeout)) != APR_SUCCESS
            || (n = qlen, rv = apr_socket_send(s, (const char *)q, &n)) != APR_SUCCESS) {
            apr_socket_close(s);
            continue;
        }
        /* Datagrams that are not the answer (a late one of a previous try cannot come here: a
         * new socket, a new port) are skipped until the deadline, at most a few. */
        for (got = 0; got < 4; got++) {
            apr_interval_time_t left = deadline - apr_time_now();
            if (left <= 0) {
                rv = APR_TIMEUP;
                break;
            }
            apr_socket_timeout_set(s, left);
            n = sizeof(a);
            if ((rv = apr_socket_recv(s, (char *)a, &n)) != APR_SUCCESS)
                break;
            if ((rv = wsg_dns_parse(a, n, id, name, qtype, out)) == APR_SUCCESS)
                break;
        }
        apr_socket_close(s);
        if (rv == APR_SUCCESS)
            return rv;
    }
    return rv;
}

static const char *fmt_err(apr_pool_t *p, const char *what, apr_status_t rv)
{
    char buf[128];
    if (rv == APR_EINVAL)
        return apr_psprintf(p, "%s: malformed or unexpected answer", what);
    return apr_psprintf(p, "%s: %s", what, apr_strerror(rv, buf, sizeof(buf)));
}

wsg_crawler_v_e wsg_crawler_verify(const wsg_resolver_t *r, apr_pool_t *p, const wsg_addr_t *addr,
                                   int id, const char **host, const char **why)
{
    char q[WSG_DNS_NAME_MAX];
    wsg_dns_answer_t *ptr = apr_palloc(p, sizeof(*ptr)), *fwd = apr_palloc(p, sizeof(*fwd));
    const char *dummy_h, *dummy_w, *matched = NULL;
    int qtype = addr->family == 4 ? WSG_DNS_A : WSG_DNS_AAAA, alen = addr->family == 4 ? 4 : 16;
    int i, k, tried = 0, errors = 0;
    apr_status_t rv;

    if (!host)
        host = &dummy_h;
    if (!why)
        why = &dummy_w;
    *host = NULL;
    if (!wsg_crawler_get(id) || wsg_dns_ptr_name(addr, q, sizeof(q)) != APR_SUCCESS) {
        *why = "not a crawler or an address";
        return WSG_CRAWLER_V_ERROR;
    }
    if ((rv = wsg_dns_ask(r, p, q, WSG_DNS_PTR, ptr)) != APR_SUCCESS) {
        *why = fmt_err(p, "reverse lookup", rv);
        return WSG_CRAWLER_V_ERROR;
    }
    if (ptr->rcode == 3 || (ptr->rcode == 0 && ptr->nnames == 0)) {
        *why = "the address has no reverse name";
        return WSG_CRAWLER_V_FAKE;
    }
    if (ptr->rcode != 0) {
        *why = apr_psprintf(p, "reverse lookup: the resolver answered rcode %d", ptr->rcode);
        return WSG_CRAWLER_V_ERROR;
    }
    for (i = 0; i < ptr->nnames && tried < 2; i++) {
        if (!wsg_crawler_name_ok(id, ptr->names[i]))
            continue;
        tried++;
        matched = ptr->names[i];
        if ((rv = wsg_dns_ask(r, p, ptr->names[i], qtype, fwd)) != APR_SUCCESS
            || (fwd->rcode != 0 && fwd->rcode != 3)) {
            errors++;
            *why = rv != APR_SUCCESS ? fmt_err(p, "forward lookup", rv)
                 : apr_psprintf(p, "forward lookup: the resolver answered rcode %d", fwd->rcode);
            continue;
        }
        for (k = 0; k < fwd->naddrs; k++)
            if (!memcmp(fwd->addrs[k], addr->bytes, (apr_size_t)alen)) {
                *host = apr_pstrdup(p, ptr->names[i]);
                *why = "forward-confirmed";
                return WSG_CRAWLER_V_OK;
            }
    }
    if (!tried) {
        *host = apr_pstrdup(p, ptr->names[0]);
        *why = apr_psprintf(p, "reverse name %s is not %s's", ptr->names[0],
                            wsg_crawler_get(id)->name);
        return WSG_CRAWLER_V_FAKE;
    }
    *host = apr_pstrdup(p, matched);
    if (errors == tried)
        return WSG_CRAWLER_V_ERROR;
    *why = apr_psprintf(p, "%s does not resolve back to the address", matched);
    return WSG_CRAWLER_V_FAKE;
}
