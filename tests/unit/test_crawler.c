/* Unit tests for wsg_crawler: the table and claims, the domain check, the verdict's state machine
 * and what a claimed crawler's request adds (alone and through wsg_inspect_apply), the crawler
 * time kept by wsg_store, and the DNS parser on crafted and hostile answers. */
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <apr_strings.h>
#include "wsg_test.h"
#include "wsg_crawler.h"
#include "wsg_inspect.h"

#define SEC APR_USEC_PER_SEC
#define T0 ((apr_time_t)1800000000 * SEC)

/* ---- the table ---- */

static void test_claims(void **state)
{
    (void)state;
    assert_int_equal(wsg_crawler_claim(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), 1);
    assert_int_equal(wsg_crawler_claim("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; "
                                       "compatible; Googlebot/2.1) Chrome/120 Safari/537.36"), 1);
    assert_int_equal(wsg_crawler_claim("googlebot"), 1);        /* any case: more is checked */
    assert_int_equal(wsg_crawler_claim("AdsBot-Google (+http://www.google.com/adsbot.html)"), 1);
    assert_int_equal(wsg_crawler_claim(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"), 2);
    assert_int_equal(wsg_crawler_claim("msnbot/2.0b (+http://search.msn.com/msnbot.htm)"), 2);
    assert_int_equal(wsg_crawler_claim("Mozilla/5.0 (Macintosh) Safari/605.1.15 (Applebot/0.1; "
                                       "+http://www.apple.com/go/applebot)"), 3);
    assert_int_equal(wsg_crawler_claim(
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"), 4);
    assert_int_equal(wsg_crawler_claim(
        "Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)"), 4);
    assert_int_equal(wsg_crawler_claim(
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"), 5);
    /* not claims: browsers, tools, and crawlers verified by IP lists only */
    assert_int_equal(wsg_crawler_claim("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
                                       "Firefox/120.0"), 0);
    assert_int_equal(wsg_crawler_claim("curl/8.4.0"), 0);
    assert_int_equal(wsg_crawler_claim("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"),
                     0);
    assert_int_equal(wsg_crawler_claim(""), 0);
    assert_int_equal(wsg_crawler_claim(NULL), 0);
    {
        /* the claim is looked for in the first WSG_CRAWLER_UA_MAX bytes only (bounded work) */
        char ua[2048];
        memset(ua, 'x', sizeof(ua));
        memcpy(ua + 1500, "Googlebot", 9);
        ua[sizeof(ua) - 1] = '\0';
        assert_int_equal(wsg_crawler_claim(ua), 0);
        memcpy(ua + 10, "Googlebot", 9);
        assert_int_equal(wsg_crawler_claim(ua), 1);
    }
    assert_int_equal(wsg_crawler_count(), 5);
    assert_null(wsg_crawler_get(0));
    assert_null(wsg_crawler_get(6));
    assert_string_equal(wsg_crawler_get(1)->name, "Googlebot");
}

static void test_domains(void **state)
{
    char longlabel[80];
    (void)state;
    assert_true(wsg_crawler_name_ok(1, "crawl-66-249-66-1.googlebot.com"));
    assert_true(wsg_crawler_name_ok(1, "CRAWL-66-249-66-1.GOOGLEBOT.COM."));
    assert_true(wsg_crawler_name_ok(1, "rate-limited-proxy-66-249-90-77.google.com"));
    assert_true(wsg_crawler_name_ok(1, "geo-crawl-35-247-243-240.geo.googlebot.com"));
    assert_true(wsg_crawler_name_ok(2, "msnbot-157-55-33-18.search.msn.com"));
    assert_true(wsg_crawler_name_ok(3, "17-58-101-179.applebot.apple.com"));
    assert_true(wsg_crawler_name_ok(4, "5-255-253-1.spider.yandex.com"));
    assert_true(wsg_crawler_name_ok(5, "baiduspider-123-125-66-120.crawl.baidu.com"));
    assert_true(wsg_crawler_name_ok(5, "baidumobaider-119-63-195-254.crawl.baidu.jp"));
    /* the bare domain, look-alikes, the domain as a prefix, another vendor's, cloud customers' */
    assert_false(wsg_crawler_name_ok(1, "googlebot.com"));
    assert_false(wsg_crawler_name_ok(1, "evilgooglebot.com"));
    assert_false(wsg_crawler_name_ok(1, "crawl.googlebot.com.evil.net"));
    assert_false(wsg_crawler_name_ok(1, "crawl-1-2-3-4.googlebot.co"));
    assert_false(wsg_crawler_name_ok(1, "1.2.3.4.bc.googleusercontent.com"));
    assert_false(wsg_crawler_name_ok(1, "msnbot-157-55-33-18.search.msn.com"));
    assert_false(wsg_crawler_name_ok(2, "msn.com"));
    assert_false(wsg_crawler_name_ok(3, "www.apple.com"));
    /* not host names */
    assert_false(wsg_crawler_name_ok(1, "a..googlebot.com"));
    assert_false(wsg_crawler_name_ok(1, ".googlebot.com"));
    assert_false(wsg_crawler_name_ok(1, "a b.googlebot.com"));
    assert_false(wsg_crawler_name_ok(1, "a\\.googlebot.com"));
    assert_false(wsg_crawler_name_ok(1, ""));
    assert_false(wsg_crawler_name_ok(1, NULL));
    assert_false(wsg_crawler_name_ok(0, "crawl-66-249-66-1.googlebot.com"));
    memset(longlabel, 'a', 64);
    strcpy(longlabel + 64, ".googlebot.com");
    assert_false(wsg_crawler_name_ok(1, longlabel));
    longlabel[1] = '.';
    assert_true(wsg_crawler_name_ok(1, longlabel));
}

/* ---- the verdict and the score ---- */

static wsg_policy_t policy(void)
{
    wsg_policy_t pol;
    wsg_policy_defaults(&pol);
    pol.ratelimit = 5;
    pol.ban = 10;
    pol.halflife = 0;            /* no decay: exact sums */
    pol.prefix_ban = 30;
    return pol;
}

static wsg_rec_t scored(double score, apr_time_t now)
{
    wsg_rec_t r;
    memset(&r, 0, sizeof(r));
    r.version = WSG_REC_VERSION;
    r.score = score;
    r.score_time = now;
    return r;
}

static void test_state_machine(void **state)
{
    wsg_policy_t pol = policy();
    wsg_rec_t r = scored(0, T0);
    apr_uint32_t fl = 0;
    int q = 0;
    (void)state;

    assert_int_equal(wsg_crawler_state(NULL, T0), WSG_CRAWLER_NONE);
    assert_int_equal(wsg_crawler_state(&r, T0), WSG_CRAWLER_NONE);
    assert_null(wsg_crawler_state_name(&r, T0));
    /* never checked: a check starts, the request is held */
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0, 0, 1, &fl, &q) == 1.0);
    assert_int_equal(q, 1);
    assert_int_equal(fl, WSG_RF_CRAWLER_PENDING);
    wsg_crawler_mark(&r, T0);
    assert_int_equal(wsg_crawler_state(&r, T0 + 59 * SEC), WSG_CRAWLER_PENDING);
    assert_string_equal(wsg_crawler_state_name(&r, T0), "pending");
    /* the hold ends by itself: scored as anyone, then checked again when a retry is due */
    assert_int_equal(wsg_crawler_state(&r, T0 + WSG_CRAWLER_HOLD * SEC), WSG_CRAWLER_UNVERIFIED);
    assert_int_equal(wsg_crawler_state(&r, T0 + WSG_CRAWLER_RETRY * SEC), WSG_CRAWLER_NONE);
    /* verified: held for the TTL, then checked again */
    assert_int_equal(wsg_crawler_resolved(&r, WSG_CRAWLER_V_OK, T0 + SEC), 1);
    assert_int_equal(r.flags & WSG_RF_CRAWLER_PENDING, WSG_RF_CRAWLER_OK);
    assert_int_equal(wsg_crawler_state(&r, T0 + 3600 * SEC), WSG_CRAWLER_VERIFIED);
    assert_true(wsg_crawler_keep(&r, T0 + 3600 * SEC));
    assert_int_equal(wsg_crawler_state(&r, T0 + (WSG_CRAWLER_TTL + 2) * SEC), WSG_CRAWLER_NONE);
    assert_false(wsg_crawler_keep(&r, T0 + (WSG_CRAWLER_TTL + 2) * SEC));
    /* a verdict is written only over a pending check (a late duplicate changes nothing) */
    assert_int_equal(wsg_crawler_resolved(&r, WSG_CRAWLER_V_FAKE, T0 + 2 * SEC), 0);
    assert_int_equal(wsg_crawler_state(&r, T0 + 3 * SEC), WSG_CRAWLER_VERIFIED);
    /* a stale verdict starts a new check from the verdict it had */
    fl = 0;
    q = 0;
    wsg_crawler_score(&pol, &r, NULL, T0 + (WSG_CRAWLER_TTL + 2) * SEC, 0, 1, &fl, &q);
    assert_int_equal(q, 1);
    r.flags |= fl;
    wsg_crawler_mark(&r, T0 + (WSG_CRAWLER_TTL + 2) * SEC);
    assert_int_equal(wsg_crawler_state(&r, T0 + (WSG_CRAWLER_TTL + 3) * SEC), WSG_CRAWLER_PENDING);
    /* a resolver error: recorded as unverified (dated back by the hold), kept on disk */
    r = scored(0, T0);
    wsg_crawler_mark(&r, T0);
    assert_int_equal(wsg_crawler_resolved(&r, WSG_CRAWLER_V_ERROR, T0 + 2 * SEC), 1);
    assert_int_equal(r.flags & WSG_RF_CRAWLER_PENDING, WSG_RF_CRAWLER_PENDING);
    assert_int_equal(wsg_crawler_state(&r, T0 + 2 * SEC), WSG_CRAWLER_UNVERIFIED);
    assert_string_equal(wsg_crawler_state_name(&r, T0 + 2 * SEC), "unverified");
    assert_int_equal(wsg_crawler_state(&r, T0 + (WSG_CRAWLER_RETRY + 2) * SEC), WSG_CRAWLER_NONE);
    /* fake */
    r = scored(0, T0);
    wsg_crawler_mark(&r, T0);
    wsg_crawler_resolved(&r, WSG_CRAWLER_V_FAKE, T0 + SEC);
    assert_int_equal(wsg_crawler_state(&r, T0 + 2 * SEC), WSG_CRAWLER_FAKE);
    assert_string_equal(wsg_crawler_state_name(&r, T0 + 2 * SEC), "fake");
    /* a crawler time far ahead of the clock holds nothing */
    r = scored(0, T0);
    wsg_crawler_mark(&r, T0 + 3600 * SEC);
    assert_int_equal(wsg_crawler_state(&r, T0), WSG_CRAWLER_NONE);
}

static void test_scores(void **state)
{
    wsg_policy_t pol = policy();
    wsg_rec_t r, pre;
    apr_uint32_t fl = 0;
    int q = 0;
    double s;
    (void)state;

    /* pending: everything counts up to just below the lowest threshold, never to it */
    r = scored(4, T0);
    wsg_crawler_mark(&r, T0);
    s = wsg_crawler_score(&pol, &r, NULL, T0, 3, 1, &fl, &q);
    assert_true(s > 0.85 && s < 0.95);
    assert_int_equal(q, 0);
    r.score = 4.92;                   /* where a hold leaves it: held at nothing more */
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0, 0, 1, &fl, &q) == 0);
    /* a client refused already when it claims is not held: it goes on climbing to its ban */
    r.score = 6;
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0, 0, 1, &fl, &q) == 1.0);
    r.score = 1;
    r.ban_until = T0 + 60 * SEC;
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0, 0, 1, &fl, &q) == 1.0);
    r.ban_until = 0;
    /* the rate-limit tier off: the ban threshold is the lowest */
    pol.ratelimit = 0;
    r.score = 4;
    s = wsg_crawler_score(&pol, &r, NULL, T0, 0, 1, &fl, &q);
    assert_true(s == 1.0);
    /* and the prefix's ban too (Googlebot fleets share /24s) */
    pre = scored(29.5, T0);
    s = wsg_crawler_score(&pol, &r, &pre, T0, 0, 1, &fl, &q);
    assert_true(s > 0.35 && s < 0.45);
    pol = policy();
    /* past the hold: all of it */
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0 + 61 * SEC, 3, 1, &fl, &q) == 4.0);
    /* verified: its score goes, and nothing counts, outcome=any included */
    r.score = 4.5;
    wsg_crawler_resolved(&r, WSG_CRAWLER_V_OK, T0);
    assert_true(r.score == 0);
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0 + SEC, 3, 1, &fl, &q) == 0);
    /* fake: all of it and the bonus; nothing for nothing */
    r = scored(4, T0);
    wsg_crawler_mark(&r, T0);
    wsg_crawler_resolved(&r, WSG_CRAWLER_V_FAKE, T0);
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0 + SEC, 0, 1, &fl, &q)
                == 1 + WSG_CRAWLER_FAKE_BONUS);
    assert_true(wsg_crawler_score(&pol, &r, NULL, T0 + SEC, 0, 0, &fl, &q) == 0);
    assert_int_equal(q, 0);
}

/* The check through wsg_inspect_apply, as the glue runs it: a claimed crawler's miss is held
 * and marks the record; once verified its misses add nothing; a fake is banned. */
static void test_through_inspect(void **state)
{
    wsg_policy_t pol = policy();
    wsg_inspect_conf_t ic;
    wsg_inspect_t ix;
    wsg_addr_t a;
    wsg_rec_t rec;
    int i, mask;
    (void)state;

    memset(&ic, 0, sizeof(ic));
    ic.policy = &pol;
    ic.miss_score = 1;
    wsg_addr_parse("192.0.2.1", &a);
    memset(&rec, 0, sizeof(rec));
    for (i = 0; i < 20; i++) {
        memset(&ix, 0, sizeof(ix));
        ix.miss = 1;
        ix.record = 1;             /* a 404 on a script name, as wsg_inspect_log decides */
        ix.enforce = 1;
        ix.crawler = 1;
        mask = wsg_inspect_apply(&ic, &ix, &a, T0 + i * SEC, &rec, 1);
        assert_int_equal(mask, 1);
        assert_int_equal(ix.res.action, WSG_ACT_PASS);
        assert_int_equal(ix.crawler_queue, i == 0);   /* queued once, by the first */
    }
    assert_int_equal(wsg_crawler_state(&rec, T0 + 20 * SEC), WSG_CRAWLER_PENDING);
    assert_true(rec.score < pol.ratelimit);
    /* the same misses without the claim are refused: the hold is the check's doing */
    {
        wsg_rec_t plain;
        memset(&plain, 0, sizeof(plain));
        for (i = 0; i < 6; i++) {
            memset(&ix, 0, sizeof(ix));
            ix.miss = ix.record = 1;
            ix.enforce = 1;
            wsg_inspect_apply(&ic, &ix, &a, T0 + i * SEC, &plain, 1);
        }
        assert_int_not_equal(ix.res.action, WSG_ACT_PASS);
    }
    /* verified: misses add nothing, an alert flag still is set */
    wsg_crawler_resolved(&rec, WSG_CRAWLER_V_OK, T0 + 20 * SEC);
    for (i = 0; i < 40; i++) {
        memset(&ix, 0, sizeof(ix));
        ix.score = 3;
        ix.miss = 1;
        ix.record = 4;
        ix.enforce = 1;
        ix.crawler = 1;
        ix.set_flags = i == 39 ? WSG_RF_SHELL_HIT : 0;
        wsg_inspect_apply(&ic, &ix, &a, T0 + (21 + i) * SEC, &rec, 1);
        assert_int_equal(ix.res.action, WSG_ACT_PASS);
    }
    assert_true(rec.flags & WSG_RF_SHELL_HIT);
    /* fake: scored and banned */
    memset(&rec, 0, sizeof(rec));
    rec.version = WSG_REC_VERSION;
    wsg_crawler_mark(&rec, T0);
    wsg_crawler_resolved(&rec, WSG_CRAWLER_V_FAKE, T0);
    for (i = 0; i < 4; i++) {
        memset(&ix, 0, sizeof(ix));
        ix.miss = ix.record = 1;
        ix.enforce = 1;
        ix.crawler = 1;
        wsg_inspect_apply(&ic, &ix, &a, T0 + i * SEC, &rec, 1);
    }
    assert_int_equal(ix.res.action, WSG_ACT_BAN);      /* 4 misses of 3 each reach 10 */
}

/* ---- the store keeps the crawler time with the flags ---- */

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[1024];
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        rm_tree(sub);
        unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

typedef struct { wsg_rec_t rec; } put_t;

static int put_cb(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    (void)found;
    (void)n;
    recs[0] = ((put_t *)baton)->rec;
    return 1;
}

static void test_store_keeps_time(void **state)
{
    apr_pool_t *p = *state;
    char dir[] = "/tmp/wsg-test-crawler-XXXXXX";
    const char *env, *err = NULL;
    wsg_store_t *st;
    wsg_addr_t a, b;
    put_t put;
    wsg_rec_t got;

    assert_non_null(mkdtemp(dir));
    env = apr_pstrcat(p, dir, "/env", NULL);
    assert_int_equal(wsg_store_prepare(p, env, NULL, -1, -1, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_open(p, env, NULL, &st, &err), APR_SUCCESS);
    wsg_addr_parse("192.0.2.9", &a);
    wsg_addr_parse("2001:db8::9", &b);
    put.rec = scored(2, T0);
    put.rec.first_seen = put.rec.last_seen = T0;
    strcpy(put.rec.source, "peer-x");                  /* the tails together */
    wsg_crawler_mark(&put.rec, T0);
    assert_int_equal(wsg_store_update(st, &a, 1, put_cb, &put), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &got), APR_SUCCESS);
    assert_int_equal(got.flags & WSG_RF_CRAWLER_PENDING, WSG_RF_CRAWLER_PENDING);
    assert_int_equal(got.crawler_at, (apr_uint32_t)apr_time_sec(T0));
    assert_string_equal(got.source, "peer-x");
    wsg_crawler_resolved(&put.rec, WSG_CRAWLER_V_OK, T0 + 5 * SEC);
    put.rec.source[0] = '\0';
    assert_int_equal(wsg_store_update(st, &b, 1, put_cb, &put), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &b, &got), APR_SUCCESS);
    assert_int_equal(wsg_crawler_state(&got, T0 + 6 * SEC), WSG_CRAWLER_VERIFIED);
    assert_int_equal(got.crawler_at, (apr_uint32_t)apr_time_sec(T0) + 5);
    /* without a crawler flag the time is not kept (and the record is as before) */
    put.rec.flags = 0;
    assert_int_equal(wsg_store_update(st, &a, 1, put_cb, &put), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &got), APR_SUCCESS);
    assert_int_equal(got.crawler_at, 0);
    wsg_store_close(st);
    rm_tree(dir);
}

/* ---- DNS ---- */

static void test_ptr_names(void **state)
{
    wsg_addr_t a;
    char buf[WSG_DNS_NAME_MAX];
    (void)state;
    wsg_addr_parse("66.249.66.1", &a);
    assert_int_equal(wsg_dns_ptr_name(&a, buf, sizeof(buf)), APR_SUCCESS);
    assert_string_equal(buf, "1.66.249.66.in-addr.arpa");
    wsg_addr_parse("2001:db8::567:89ab", &a);
    assert_int_equal(wsg_dns_ptr_name(&a, buf, sizeof(buf)), APR_SUCCESS);
    assert_string_equal(buf, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_int_equal(wsg_dns_ptr_name(&a, buf, 20), APR_EINVAL);
}

static void test_query(void **state)
{
    unsigned char q[512];
    static const unsigned char want[] = {
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
        3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1 };
    char big[300];
    (void)state;
    assert_int_equal(wsg_dns_query(q, sizeof(q), 0x1234, "www.example.com.", WSG_DNS_A),
                     sizeof(want));
    assert_memory_equal(q, want, sizeof(want));
    assert_int_equal(wsg_dns_query(q, sizeof(q), 1, "a..b", WSG_DNS_A), 0);
    assert_int_equal(wsg_dns_query(q, sizeof(q), 1, "", WSG_DNS_A), 0);
    assert_int_equal(wsg_dns_query(q, 20, 1, "www.example.com", WSG_DNS_A), 0);
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(wsg_dns_query(q, sizeof(q), 1, big, WSG_DNS_A), 0);
}

/* A crafted answer: the query as the client sent it, then records appended raw. */
typedef struct pkt_t {
    unsigned char b[1024];
    size_t        n;
} pkt_t;

static void pkt_begin(pkt_t *p, unsigned id, unsigned flags, const char *qname, int qtype,
                      unsigned ancount)
{
    p->n = wsg_dns_query(p->b, sizeof(p->b), (apr_uint16_t)id, qname, qtype);
    assert_true(p->n > 0);
    p->b[2] = (unsigned char)(flags >> 8);
    p->b[3] = (unsigned char)flags;
    p->b[6] = (unsigned char)(ancount >> 8);
    p->b[7] = (unsigned char)ancount;
}

static void pkt_raw(pkt_t *p, const void *d, size_t n)
{
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pkt_name(pkt_t *p, const char *name)
{
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        p->b[p->n++] = (unsigned char)l;
        pkt_raw(p, s, l);
        s += l + (dot ? 1 : 0);
    }
    p->b[p->n++] = 0;
}

/* type, class IN, ttl 60, rdlength */
static void pkt_rrhead(pkt_t *p, unsigned type, unsigned rdlen)
{
    unsigned char h[10] = { (unsigned char)(type >> 8), (unsigned char)type, 0, 1, 0, 0, 0, 60,
                            (unsigned char)(rdlen >> 8), (unsigned char)rdlen };
    pkt_raw(p, h, sizeof(h));
}

#define QPTR "1.66.249.66.in-addr.arpa"
#define QPTR_PTR "\xc0\x0c"                   /* a pointer to the question's name */

static void test_parse_ptr(void **state)
{
    wsg_dns_answer_t *a = malloc(sizeof(*a));
    pkt_t p;
    size_t at;
    (void)state;

    /* two PTRs, the owner compressed to the question, the second target compressed into the
     * first */
    pkt_begin(&p, 7, 0x8180, QPTR, WSG_DNS_PTR, 2);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 33);
    at = p.n;
    pkt_name(&p, "crawl-66-249-66-1.googlebot.com");
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 8);
    p.b[p.n++] = 5;
    pkt_raw(&p, "other", 5);
    p.b[p.n++] = (unsigned char)(0xc0 | (at + 18) >> 8);  /* -> "googlebot.com" */
    p.b[p.n++] = (unsigned char)(at + 18);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_SUCCESS);
    assert_int_equal(a->rcode, 0);
    assert_int_equal(a->nnames, 2);
    assert_string_equal(a->names[0], "crawl-66-249-66-1.googlebot.com");
    assert_string_equal(a->names[1], "other.googlebot.com");
    /* not the answer to this query: id, question, type */
    assert_int_equal(wsg_dns_parse(p.b, p.n, 8, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, "2.66.249.66.in-addr.arpa", WSG_DNS_PTR, a),
                     APR_EINVAL);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_A, a), APR_EINVAL);
    /* cut anywhere: never read beyond, always refused */
    {
        size_t n;
        for (n = 0; n < p.n; n++)
            if (wsg_dns_parse(p.b, n, 7, QPTR, WSG_DNS_PTR, a) != APR_EINVAL)
                fail_msg("parsed when cut at %zu of %zu", n, p.n);
    }
    /* a query, not a response; truncated (TC); another opcode */
    p.b[2] = 0x01;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    p.b[2] = 0x83;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    p.b[2] = 0x89;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    /* NXDOMAIN: parsed, rcode said */
    pkt_begin(&p, 7, 0x8183, QPTR, WSG_DNS_PTR, 0);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_SUCCESS);
    assert_int_equal(a->rcode, 3);
    /* a PTR for another name (an injected record) is not believed */
    pkt_begin(&p, 7, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_name(&p, "9.9.9.9.in-addr.arpa");
    pkt_rrhead(&p, WSG_DNS_PTR, 33);
    pkt_name(&p, "crawl-66-249-66-1.googlebot.com");
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_SUCCESS);
    assert_int_equal(a->nnames, 0);
    /* more answers announced than there are */
    pkt_begin(&p, 7, 0x8180, QPTR, WSG_DNS_PTR, 3);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 33);
    pkt_name(&p, "crawl-66-249-66-1.googlebot.com");
    assert_int_equal(wsg_dns_parse(p.b, p.n, 7, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    free(a);
}

static void test_parse_hostile(void **state)
{
    wsg_dns_answer_t *a = malloc(sizeof(*a));
    pkt_t p;
    size_t at;
    int i;
    (void)state;

    /* a pointer to itself, a pointer forwards, a loop of two */
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 2);
    at = p.n;
    p.b[p.n++] = (unsigned char)(0xc0 | at >> 8);
    p.b[p.n++] = (unsigned char)at;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    p.b[at + 1] = (unsigned char)(at + 2);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 5);
    at = p.n;
    p.b[p.n++] = 1;                                     /* "a" then a pointer back to "a" */
    p.b[p.n++] = 'a';
    p.b[p.n++] = (unsigned char)(0xc0 | at >> 8);
    p.b[p.n++] = (unsigned char)at;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    /* a label of 64 (the 0x40 label type), a name over 255 bytes */
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 66);
    p.b[p.n++] = 64;
    memset(p.b + p.n, 'a', 64);
    p.n += 64;
    p.b[p.n++] = 0;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 5 * 60 + 1);
    for (i = 0; i < 5; i++) {
        p.b[p.n++] = 59;
        memset(p.b + p.n, 'b', 59);
        p.n += 59;
    }
    p.b[p.n++] = 0;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    /* a label hiding a dot ("crawl.googlebot" "com" is not crawl.googlebot.com), a NUL, a space */
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 21);
    p.b[p.n++] = 15;
    pkt_raw(&p, "crawl.googlebot", 15);
    p.b[p.n++] = 3;
    pkt_raw(&p, "com", 3);
    p.b[p.n++] = 0;
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    p.b[p.n - 20] = '\0';
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    p.b[p.n - 20] = ' ';
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    /* an rdlength beyond the packet; a PTR name running past its rdata */
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 200);
    pkt_name(&p, "x.googlebot.com");
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_PTR, 3);
    pkt_name(&p, "x.googlebot.com");
    assert_int_equal(wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a), APR_EINVAL);
    /* random bytes after a valid header and question: refused or parsed, never a crash */
    srand(13);
    for (i = 0; i < 20000; i++) {
        size_t k, n;
        pkt_begin(&p, 1, 0x8180, QPTR, WSG_DNS_PTR, (unsigned)(rand() % 4));
        n = (size_t)(rand() % 200);
        for (k = 0; k < n; k++)
            p.b[p.n++] = (unsigned char)(rand() % 4 == 0 ? 0xc0 | (rand() % 2) : rand());
        (void)wsg_dns_parse(p.b, p.n, 1, QPTR, WSG_DNS_PTR, a);
        assert_true(a->nnames <= WSG_DNS_NAMES);
    }
    free(a);
}

static void test_parse_forward(void **state)
{
    wsg_dns_answer_t *a = malloc(sizeof(*a));
    const char *q = "crawl-66-249-66-1.googlebot.com";
    static const unsigned char ip[4] = { 66, 249, 66, 1 }, other[4] = { 10, 0, 0, 1 };
    pkt_t p;
    size_t at;
    (void)state;

    /* A via a CNAME chain; an A for an unrelated owner is not believed */
    pkt_begin(&p, 2, 0x8180, q, WSG_DNS_A, 3);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_CNAME, 8);
    at = p.n;
    pkt_raw(&p, "\x05" "alias\xc0\x0c", 8);             /* alias.<q> */
    pkt_name(&p, "evil.example");
    pkt_rrhead(&p, WSG_DNS_A, 4);
    pkt_raw(&p, other, 4);
    p.b[p.n++] = (unsigned char)(0xc0 | at >> 8);
    p.b[p.n++] = (unsigned char)at;
    pkt_rrhead(&p, WSG_DNS_A, 4);
    pkt_raw(&p, ip, 4);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 2, q, WSG_DNS_A, a), APR_SUCCESS);
    assert_int_equal(a->naddrs, 1);
    assert_memory_equal(a->addrs[0], ip, 4);
    /* an A of the wrong size is garbage */
    pkt_begin(&p, 2, 0x8180, q, WSG_DNS_A, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_A, 5);
    pkt_raw(&p, "\x42\xf9\x42\x01\x00", 5);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 2, q, WSG_DNS_A, a), APR_EINVAL);
    /* an AAAA answered to an A question is ignored */
    pkt_begin(&p, 2, 0x8180, q, WSG_DNS_A, 1);
    pkt_raw(&p, QPTR_PTR, 2);
    pkt_rrhead(&p, WSG_DNS_AAAA, 16);
    pkt_raw(&p, "0123456789abcdef", 16);
    assert_int_equal(wsg_dns_parse(p.b, p.n, 2, q, WSG_DNS_A, a), APR_SUCCESS);
    assert_int_equal(a->naddrs, 0);
    free(a);
}

static void test_resolver_spec(void **state)
{
    apr_pool_t *p = *state;
    apr_sockaddr_t *sa;
    const char *err;
    char *ip;
    FILE *f;
    char path[] = "/tmp/wsg-test-resolv-XXXXXX";
    int fd;

    assert_int_equal(wsg_resolver_parse("127.0.0.1", p, &sa, &err), APR_SUCCESS);
    assert_int_equal(sa->port, 53);
    assert_int_equal(wsg_resolver_parse("127.0.0.1:5353", p, &sa, &err), APR_SUCCESS);
    assert_int_equal(sa->port, 5353);
    assert_int_equal(wsg_resolver_parse("[::1]:5353", p, &sa, &err), APR_SUCCESS);
    assert_int_equal(sa->port, 5353);
    assert_int_equal(sa->family, APR_INET6);
    assert_int_equal(wsg_resolver_parse("::1", p, &sa, &err), APR_SUCCESS);
    assert_int_equal(sa->port, 53);
    assert_int_not_equal(wsg_resolver_parse("dns.example", p, &sa, &err), APR_SUCCESS);
    assert_non_null(err);
    assert_int_not_equal(wsg_resolver_parse("127.0.0.1:0", p, &sa, &err), APR_SUCCESS);
    assert_int_not_equal(wsg_resolver_parse("127.0.0.1:99999", p, &sa, &err), APR_SUCCESS);
    assert_int_not_equal(wsg_resolver_parse("127.0.0.1:", p, &sa, &err), APR_SUCCESS);
    assert_int_not_equal(wsg_resolver_parse("[::1", p, &sa, &err), APR_SUCCESS);
    assert_int_not_equal(wsg_resolver_parse("[::1]x", p, &sa, &err), APR_SUCCESS);
    assert_int_not_equal(wsg_resolver_parse("10.0.0.0/8", p, &sa, &err), APR_SUCCESS);
    assert_int_not_equal(wsg_resolver_parse("", p, &sa, &err), APR_SUCCESS);
    /* resolv.conf: the first usable nameserver; none: 127.0.0.1 */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("# comment\nsearch example\nnameserver fe80::1%eth0\nnameserver\t192.0.2.53\n"
          "nameserver 192.0.2.54\n", f);
    fclose(f);
    assert_int_equal(wsg_resolver_system(path, p, &sa), APR_SUCCESS);
    apr_sockaddr_ip_get(&ip, sa);
    assert_string_equal(ip, "192.0.2.53");
    unlink(path);
    assert_int_equal(wsg_resolver_system(path, p, &sa), APR_SUCCESS);
    apr_sockaddr_ip_get(&ip, sa);
    assert_string_equal(ip, "127.0.0.1");
}

/* The resolver down: a closed port is an error, fast; the bound holds for one that never
 * answers. */
static void test_ask_down(void **state)
{
    apr_pool_t *p = *state;
    wsg_resolver_t r;
    wsg_dns_answer_t *a = malloc(sizeof(*a));
    apr_socket_t *s;
    apr_sockaddr_t *sa;
    wsg_addr_t addr;
    const char *err, *why = NULL;
    apr_time_t t0;

    memset(&r, 0, sizeof(r));
    r.timeout = apr_time_from_msec(200);
    r.tries = 2;
    /* a bound socket that never answers */
    assert_int_equal(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, p), APR_SUCCESS);
    assert_int_equal(apr_socket_create(&s, APR_INET, SOCK_DGRAM, APR_PROTO_UDP, p), APR_SUCCESS);
    assert_int_equal(apr_socket_bind(s, sa), APR_SUCCESS);
    assert_int_equal(apr_socket_addr_get(&sa, APR_LOCAL, s), APR_SUCCESS);
    r.sa = sa;
    t0 = apr_time_now();
    assert_int_not_equal(wsg_dns_ask(&r, p, "1.0.0.127.in-addr.arpa", WSG_DNS_PTR, a), APR_SUCCESS);
    assert_true(apr_time_now() - t0 >= apr_time_from_msec(390));
    assert_true(apr_time_now() - t0 < apr_time_from_msec(1500));
    wsg_addr_parse("127.0.0.1", &addr);
    assert_int_equal(wsg_crawler_verify(&r, p, &addr, 1, NULL, &why), WSG_CRAWLER_V_ERROR);
    assert_non_null(why);
    apr_socket_close(s);
    /* now closed: refused at once */
    assert_int_equal(wsg_resolver_parse("127.0.0.1:9", p, &r.sa, &err), APR_SUCCESS);
    t0 = apr_time_now();
    assert_int_equal(wsg_crawler_verify(&r, p, &addr, 1, NULL, &why), WSG_CRAWLER_V_ERROR);
    assert_true(apr_time_now() - t0 < apr_time_from_msec(1500));
    free(a);
}


/* ---- the whole check against a resolver of the test's own (a forked process) ---- */

#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>

typedef struct zone_t {
    const char *name;          /* the question */
    int         qtype;
    const char *ptr;           /* PTR answer, or NULL */
    const char *aaaa;          /* AAAA answer (text), or NULL; neither: NXDOMAIN */
} zone_t;

static void serve(int fd, const zone_t *z, int nz)
{
    for (;;) {
        unsigned char q[512], out[1024];
        char name[256];
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &pl);
        size_t off = 12, o = 0, qend, on;
        int qtype, i;

        if (n < 17)
            continue;
        while (off < (size_t)n && q[off] && o < 250) {
            if (o)
                name[o++] = '.';
            memcpy(name + o, q + off + 1, q[off]);
            o += q[off];
            off += 1 + q[off];
        }
        name[o] = '\0';
        qtype = q[off + 1] << 8 | q[off + 2];
        qend = off + 5;
        memcpy(out, q, qend);
        out[2] = 0x81;
        out[3] = 0x83;                         /* NXDOMAIN unless found */
        out[7] = 0;
        on = qend;
        for (i = 0; i < nz; i++) {
            unsigned char rd[256];
            size_t rl;
            if (strcasecmp(z[i].name, name) || z[i].qtype != qtype)
                continue;
            out[3] = 0x80;
            if (z[i].ptr) {
                /* the name in wire form, from a query of it */
                rl = wsg_dns_query(rd, sizeof(rd), 0, z[i].ptr, 1) - 12 - 4;
                memmove(rd, rd + 12, rl);
            }
            else {
                inet_pton(AF_INET6, z[i].aaaa, rd);
                rl = 16;
            }
            out[on++] = 0xc0;
            out[on++] = 0x0c;
            out[on++] = 0;
            out[on++] = (unsigned char)qtype;
            out[on++] = 0;
            out[on++] = 1;
            memset(out + on, 0, 3);
            out[on + 3] = 60;
            on += 4;
            out[on++] = 0;
            out[on++] = (unsigned char)rl;
            memcpy(out + on, rd, rl);
            on += rl;
            out[7]++;
        }
        sendto(fd, out, on, 0, (struct sockaddr *)&peer, pl);
    }
}

#define G6 "crawl-2001-4860-4801-10--1.googlebot.com"
#define PTR6(last) "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." last ".1.0.8.4.0.6.8.4.1.0.0.2.ip6.arpa"

static void test_verify_ipv6(void **state)
{
    apr_pool_t *p = *state;
    static const zone_t z[] = {
        { PTR6("0.1.0.0"), WSG_DNS_PTR, G6, NULL },              /* ::10:..:1 verified */
        { G6, WSG_DNS_AAAA, NULL, "2001:4860:4801:10::1" },
        { PTR6("0.2.0.0"), WSG_DNS_PTR, "host.cloud.example", NULL },   /* elsewhere */
        { PTR6("0.3.0.0"), WSG_DNS_PTR, "crawl-x.googlebot.com", NULL },/* does not point back */
        { "crawl-x.googlebot.com", WSG_DNS_AAAA, NULL, "2001:db8::1" },
        /* ::40:... has no PTR: NXDOMAIN */
    };
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0), status;
    pid_t pid;
    wsg_resolver_t r;
    wsg_addr_t a;
    const char *host, *why, *err;
    char spec[64];

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);                   /* never outlives the test */
        serve(fd, z, (int)(sizeof(z) / sizeof(z[0])));
        _exit(0);
    }
    close(fd);
    memset(&r, 0, sizeof(r));
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", ntohs(sin.sin_port));
    assert_int_equal(wsg_resolver_parse(spec, p, &r.sa, &err), APR_SUCCESS);
    r.timeout = apr_time_from_msec(500);
    wsg_addr_parse("2001:4860:4801:10::1", &a);
    assert_int_equal(wsg_crawler_verify(&r, p, &a, 1, &host, &why), WSG_CRAWLER_V_OK);
    assert_string_equal(host, G6);
    /* the same name is not bingbot's */
    assert_int_equal(wsg_crawler_verify(&r, p, &a, 2, &host, &why), WSG_CRAWLER_V_FAKE);
    wsg_addr_parse("2001:4860:4801:20::1", &a);
    assert_int_equal(wsg_crawler_verify(&r, p, &a, 1, &host, &why), WSG_CRAWLER_V_FAKE);
    assert_string_equal(host, "host.cloud.example");
    wsg_addr_parse("2001:4860:4801:30::1", &a);
    assert_int_equal(wsg_crawler_verify(&r, p, &a, 1, &host, &why), WSG_CRAWLER_V_FAKE);
    assert_non_null(strstr(why, "does not resolve back"));
    wsg_addr_parse("2001:4860:4801:40::1", &a);
    assert_int_equal(wsg_crawler_verify(&r, p, &a, 1, &host, &why), WSG_CRAWLER_V_FAKE);
    assert_string_equal(why, "the address has no reverse name");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_through_inspect),
        cmocka_unit_test_setup_teardown(test_store_keeps_time, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test(test_ptr_names),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_parse_ptr),
        cmocka_unit_test(test_parse_hostile),
        cmocka_unit_test(test_parse_forward),
        cmocka_unit_test_setup_teardown(test_resolver_spec, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_ask_down, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_verify_ipv6, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
