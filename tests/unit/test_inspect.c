/* Unit tests for wsg_inspect: the fast path gives what the normaliser gives, the scoring parts
 * (evasion bonus, outcome=miss, miss score of script names, POST doubled), and both phases'
 * decisions, including the write transaction's (wsg_inspect_apply) and the exact Retry-After. */
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <apr_strings.h>
#include "wsg_test.h"
#include "wsg_inspect.h"
#include "wsg_rules_int.h"     /* the gate's state (gate_on) */

static const char *RULES =
    "id=1 score=3 tag=php-shell msg=\"probe\" path.prefix=/probe/\n"
    "id=2 score=2 outcome=miss tag=generic-shell-name msg=\"short name\" basename.re=\"^[a-z]\\.php$\"\n";

typedef struct {
    apr_pool_t        *p;
    wsg_ruleset_t     *rs;
    wsg_policy_t       pol;
    wsg_inspect_conf_t ic;
} fx_t;

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    const char *err = NULL;

    apr_pool_create(&fx->p, NULL);
    wsg_ruleset_create(fx->p, &fx->rs);
    if (wsg_ruleset_load_string(fx->rs, "t.rules", RULES, strlen(RULES), &err) != APR_SUCCESS
        || wsg_ruleset_compile(fx->rs, &err) != APR_SUCCESS) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    wsg_policy_defaults(&fx->pol);
    fx->pol.ratelimit = 5;
    fx->pol.ban = 10;
    fx->pol.prefix_ban = 0;
    fx->ic.rules = fx->rs;
    fx->ic.policy = &fx->pol;
    fx->ic.miss_score = 1.0;
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    apr_pool_destroy(fx->p);
    free(fx);
    return 0;
}

/* Every target the fast path takes normalises, with the full normaliser, to the same result. */
static void check_same(const char *t)
{
    char b1[512], b2[512];
    wsg_norm_t n1, n2;

    if (!wsg_inspect_fast_norm(t, b1, sizeof(b1), &n1))
        return;
    wsg_norm_target(t, b2, sizeof(b2), &n2);
    if (strcmp(n1.path, n2.path) || n1.path_len != n2.path_len || n2.flags != 0
        || strcmp(n1.basename, n2.basename) || strcmp(n1.ext, n2.ext)
        || (n1.basename - n1.path) != (n2.basename - n2.path)
        || (!n1.query) != (!n2.query) || (n1.query && strcmp(n1.query, n2.query))
        || !n1.full || strcmp(n1.full, n2.full) || n1.full_len != n2.full_len || n1.pathinfo)
        fail_msg("fast path differs for '%s': '%s' ext '%s' vs '%s' ext '%s' flags %x", t,
                 n1.path, n1.ext, n2.path, n2.ext, n2.flags);
}

static void test_fast_norm_same_as_normaliser(void **state)
{
    static const char *clean[] = {
        "/", "/index.html", "/style.css", "/a/b/c.min.js?v=1", "/blog/", "/x.tar.gz", "/.well-known/x",
        "/a.b/c", "/wp-content/uploads/up.php", "/q?%41=B", "/a-b_c~d/e+f=g!h", "/.htaccess",
    };
    static const char *dirty[] = {
        "", "x", "/A", "/x%41", "//x", "/a//b", "/./x", "/a/./b", "/a/../b", "/..", "/x.", "/x. ",
        "/x;y", "/a\\b", "/x.php.", "/x::$DATA", "/a b", "/\xc3\xa9", "/x#y", "/a/.", "/a./b",
        "http://h/x", "/x\x01", "/wso.php/", "/wso.php/x.jpg", "/a/c99.PHP/x", "/x.aspx/y",
    };
    char buf[64];
    wsg_norm_t n;
    size_t i;
    char line[8192];
    FILE *f;
    const char *files[] = {"probes-dev.txt", "legit-dev.txt", "legit-dev-files.txt"};
    const char *dir = getenv("WSG_CORPUS");
    unsigned long fast = 0, total = 0;

    (void)state;
    for (i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        if (!wsg_inspect_fast_norm(clean[i], buf, sizeof(buf), &n))
            fail_msg("'%s' should take the fast path", clean[i]);
        check_same(clean[i]);
    }
    for (i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++)
        if (wsg_inspect_fast_norm(dirty[i], buf, sizeof(buf), &n))
            fail_msg("'%s' needs the normaliser", dirty[i]);
    /* Too long for the buffer: the normaliser truncates and flags it. */
    assert_false(wsg_inspect_fast_norm("/0123456789", buf, 8, &n));
    /* The corpus, when there. */
    for (i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "../corpus", files[i]);
        if (!(f = fopen(path, "r")))
            continue;
        while (fgets(line, sizeof(line), f)) {
            char *sp = strchr(line, ' ');
            size_t len = strlen(line);
            char b[512];
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (!sp)
                continue;
            total++;
            fast += (unsigned long)wsg_inspect_fast_norm(sp + 1, b, sizeof(b), &n);
            check_same(sp + 1);
        }
        fclose(f);
    }
    if (total)
        printf("  corpus: %lu/%lu targets on the fast path\n", fast, total);
}

static void inspect(fx_t *fx, const char *method, const char *target, wsg_inspect_t *ix)
{
    static char buf[8192];
    wsg_facts_t f;

    memset(&f, 0, sizeof(f));
    f.method = method;
    f.target = target;
    memset(ix, 0, sizeof(*ix));
    wsg_inspect_target(&fx->ic, &f, buf, sizeof(buf), ix);
}

static void test_scores(void **state)
{
    fx_t *fx = *state;
    wsg_inspect_t ix;

    inspect(fx, "GET", "/index.html", &ix);
    assert_true(ix.fast && ix.score == 0 && ix.miss == 0 && ix.m.n == 0);
    inspect(fx, "GET", "/probe/x.html", &ix);
    assert_true(ix.score == 3 && ix.miss == 0);
    /* An evasion trick on a probe: +1 on the part that matched. */
    inspect(fx, "GET", "/x/%2e%2e/probe/x.html", &ix);
    assert_true(!ix.fast && ix.score == 4 && ix.miss == 0);
    inspect(fx, "GET", "/%2e%2e/a.php", &ix);
    assert_true(ix.score == 0 && ix.miss == 3);
    /* A script name nothing matched: the miss score, doubled for a POST; not for other names. */
    inspect(fx, "GET", "/random.php", &ix);
    assert_true(ix.m.n == 0 && ix.miss == 1);
    inspect(fx, "POST", "/random.php", &ix);
    assert_true(ix.miss == 2);
    inspect(fx, "GET", "/random.html", &ix);
    assert_true(ix.miss == 0);
    /* No rules: misses still score. */
    fx->ic.rules = NULL;
    inspect(fx, "GET", "/probe/x.php", &ix);
    assert_true(ix.score == 0 && ix.miss == 1);
    fx->ic.rules = fx->rs;
}

static wsg_do_t header(fx_t *fx, const char *target, int file, const wsg_rec_t *rec,
                       wsg_facts_t *f, wsg_inspect_t *ix, apr_time_t now)
{
    static char buf[8192];
    memset(f, 0, sizeof(*f));
    f->method = "GET";
    f->target = target;
    f->file = file;
    f->enforce = 1;
    f->now = now;
    f->rec = rec;
    memset(ix, 0, sizeof(*ix));
    return wsg_inspect_header(&fx->ic, f, buf, sizeof(buf), ix);
}

/* A record of a client that scored at a scan's pace: ten scored requests in the last second. */
static void scanning(wsg_rec_t *rec, apr_time_t now)
{
    rec->version = WSG_REC_VERSION;
    rec->hits = 10;
    rec->first_seen = now - apr_time_from_sec(1);
}

/* The write transaction on recs, as the store would run it. */
static int apply(fx_t *fx, wsg_inspect_t *ix, wsg_rec_t *rec, apr_time_t now)
{
    wsg_addr_t a;
    wsg_rec_t recs[1];
    int mask;
    wsg_addr_parse("192.0.2.1", &a);
    recs[0] = *rec;
    mask = wsg_inspect_apply(&fx->ic, ix, &a, now, recs, 1);
    if (mask > 0)
        *rec = recs[0];
    return mask;
}

static void test_header_phase(void **state)
{
    fx_t *fx = *state;
    apr_time_t now = apr_time_from_sec(1000000);
    wsg_facts_t f;
    wsg_inspect_t ix;
    wsg_rec_t rec;

    /* Clean: pass, nothing after. */
    assert_int_equal(header(fx, "/index.html", WSG_FILE_EXISTS, NULL, &f, &ix, now), WSG_DO_PASS);
    assert_true(ix.written);
    /* A probe far from any threshold, an outcome=miss shape, a script name: after the answer. */
    assert_int_equal(header(fx, "/probe/a", WSG_FILE_MISSING, NULL, &f, &ix, now), WSG_DO_LATER);
    assert_int_equal(header(fx, "/b.php", WSG_FILE_MISSING, NULL, &f, &ix, now), WSG_DO_LATER);
    assert_int_equal(header(fx, "/zz.php", WSG_FILE_MISSING, NULL, &f, &ix, now), WSG_DO_LATER);

    /* Score 3 on a record at 3: may reach 5 (429), so written now; the transaction finds it
     * crossing, the request is refused with the exact wait, scored with its miss part (none). */
    memset(&rec, 0, sizeof(rec));
    rec.score = 3;
    rec.score_time = now;
    assert_int_equal(header(fx, "/probe/a", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_int_equal(ix.header_write, 2);
    assert_true(apply(fx, &ix, &rec, now) > 0);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 1), WSG_DO_REFUSE);
    assert_int_equal(ix.status, 429);
    assert_true(fabs(rec.score - 6) < 1e-9 && rec.hits == 1);
    {
        double want = ceil(3600.0 * log2(6.0 / 4.95) + 1e-6);
        assert_int_equal(ix.retry_after, (apr_int64_t)want);
    }
    assert_string_equal(ix.event, "probe");

    /* The same probe when the record decayed in between (another process's view): the
     * transaction writes nothing and the log phase takes over. */
    memset(&rec, 0, sizeof(rec));
    rec.score = 3;
    rec.score_time = now;
    assert_int_equal(header(fx, "/probe/a", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_WRITE);
    rec.score = 1;
    assert_int_equal(apply(fx, &ix, &rec, now), -1);
    assert_int_equal(rec.hits, 0);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 1), WSG_DO_LATER);
    assert_false(ix.written);

    /* A client in the 429 tier: its ordinary pages and assets are served (a page, a script that
     * exists, a PDF), its probes refused at once; a probe of a missing file counts its miss part
     * (as its 404 would have). The client scores at a scan's pace (its misses count in full). */
    memset(&rec, 0, sizeof(rec));
    rec.score = 6;
    rec.score_time = now;
    scanning(&rec, now);
    assert_int_equal(header(fx, "/index.html", WSG_FILE_EXISTS, &rec, &f, &ix, now), WSG_DO_PASS);
    assert_int_equal(ix.status, 0);
    assert_int_equal(header(fx, "/index.php", WSG_FILE_EXISTS, &rec, &f, &ix, now), WSG_DO_LATER);
    assert_int_equal(ix.status, 0);
    assert_int_equal(header(fx, "/docs/a.pdf", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_PASS);
    assert_int_equal(header(fx, "/zz.php", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 0), WSG_DO_REFUSE);
    assert_int_equal(ix.status, 429);
    assert_int_equal(ix.retry_after, (apr_int64_t)ceil(3600.0 * log2(6.0 / 4.95) + 1e-6));
    assert_int_equal(header(fx, "/b.php", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_true(ix.record == 2 && !ix.alert);
    assert_true(apply(fx, &ix, &rec, now) > 0);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 1), WSG_DO_REFUSE);
    assert_true(fabs(rec.score - 8) < 1e-9 && rec.hits == 11);
    assert_string_equal(ix.event, "probe");     /* a rule matched (outcome=miss) */
    /* ... and a probe of a file that exists is an alert, refused or not. */
    assert_int_equal(header(fx, "/probe/up.php", WSG_FILE_EXISTS, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_true(ix.alert && ix.set_flags == WSG_RF_SHELL_HIT);
    assert_true(apply(fx, &ix, &rec, now) > 0);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 1), WSG_DO_REFUSE);
    assert_true(rec.flags & WSG_RF_SHELL_HIT);
    assert_string_equal(ix.event, "alert");
    assert_string_equal(wsg_inspect_action_name(&ix, 1), "ban");   /* 8 + 3 reaches 10 */

    /* A store that fails: refused as the tier says, nothing recorded. */
    assert_int_equal(header(fx, "/c.php", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 0), WSG_DO_REFUSE);
    assert_null(ix.event);

    /* DetectionOnly: never refused, everything after the answer. */
    memset(&rec, 0, sizeof(rec));
    rec.score = 6;
    rec.score_time = now;
    {
        static char buf[8192];
        header(fx, "/probe/a", WSG_FILE_MISSING, &rec, &f, &ix, now);
        memset(&ix, 0, sizeof(ix));
        f.enforce = 0;
        assert_int_equal(wsg_inspect_header(&fx->ic, &f, buf, sizeof(buf), &ix), WSG_DO_LATER);
    }
}

static void test_log_phase(void **state)
{
    fx_t *fx = *state;
    apr_time_t now = apr_time_from_sec(1000000);
    static char buf[8192];
    wsg_facts_t f;
    wsg_inspect_t ix, *kept;
    wsg_rec_t rec;

    /* An any+miss shape answered 404: one write of both parts. */
    header(fx, "/probe/x.php", WSG_FILE_MISSING, NULL, &f, &ix, now);
    assert_true(ix.score == 3 && ix.miss == 2);
    kept = wsg_inspect_keep(&ix, fx->p);
    memset(buf, 'z', sizeof(buf));             /* the header phase's buffer is gone */
    assert_string_equal(kept->norm.path, "/probe/x.php");
    assert_string_equal(kept->norm.ext, "php");
    f.status = 404;
    assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), kept), WSG_DO_WRITE);
    assert_true(kept->record == 5);
    memset(&rec, 0, sizeof(rec));
    assert_true(apply(fx, kept, &rec, now) > 0);
    assert_int_equal(wsg_inspect_written(&fx->ic, &f, kept, 1), WSG_DO_PASS);
    assert_true(rec.hits == 1 && fabs(rec.score - 5) < 1e-9);
    assert_string_equal(kept->event, "probe");
    assert_int_equal(kept->event_status, 404);
    /* Once written, never again. */
    assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), kept), WSG_DO_PASS);

    /* A probe answered 200: the alert, with its score, in one write. */
    header(fx, "/probe/sh.php", WSG_FILE_EXISTS, NULL, &f, &ix, now);
    f.status = 200;
    assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), &ix), WSG_DO_WRITE);
    assert_true(ix.alert && ix.record == 3);
    memset(&rec, 0, sizeof(rec));
    apply(fx, &ix, &rec, now);
    wsg_inspect_written(&fx->ic, &f, &ix, 1);
    assert_string_equal(ix.event, "alert");
    assert_string_equal(wsg_inspect_action_name(&ix, 1), "alert");
    assert_true(rec.flags & WSG_RF_SHELL_HIT);

    /* An outcome=miss shape answered 200 scores nothing; a script name answered 404 does. */
    header(fx, "/b.php", WSG_FILE_UNKNOWN, NULL, &f, &ix, now);
    f.status = 200;
    assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), &ix), WSG_DO_PASS);
    header(fx, "/zz.php", WSG_FILE_UNKNOWN, NULL, &f, &ix, now);
    f.status = 404;
    assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), &ix), WSG_DO_WRITE);
    assert_true(ix.record == 1);
    apply(fx, &ix, &rec, now);
    wsg_inspect_written(&fx->ic, &f, &ix, 1);
    assert_string_equal(ix.event, "miss");

    /* Not inspected before (httpd answered first): inspected here. */
    memset(&f, 0, sizeof(f));
    memset(&ix, 0, sizeof(ix));
    f.target = "/probe/%2fx";
    f.status = 404;
    assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), &ix), WSG_DO_WRITE);
    assert_true(ix.inspected && ix.record == 3);
}

/* One 404 of a path through the log phase, on rec (the record as read, then as written). */
static double miss_once(fx_t *fx, const char *target, wsg_rec_t *rec, apr_time_t now)
{
    static char buf[8192];
    wsg_facts_t f;
    wsg_inspect_t ix;
    double before = rec->score;

    header(fx, target, WSG_FILE_MISSING, rec->version ? rec : NULL, &f, &ix, now);
    f.status = 404;
    if (wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), &ix) != WSG_DO_WRITE)
        return 0;
    apply(fx, &ix, rec, now);
    wsg_inspect_written(&fx->ic, &f, &ix, 1);
    return rec->score - before;
}

/* A repeated miss of one path adds nothing after the first; a new path does; an outcome=any
 * probe counts every time; the ring forgets the oldest of more than 4 paths. */
static void test_repeated_miss(void **state)
{
    fx_t *fx = *state;
    apr_time_t now = apr_time_from_sec(1000000);
    wsg_rec_t rec;
    int i;

    fx->pol.halflife = 0;                     /* no decay: exact sums */
    memset(&rec, 0, sizeof(rec));
    scanning(&rec, now);                      /* breadth counts in full at a scan's pace */
    assert_true(miss_once(fx, "/feed.php", &rec, now) == 1);
    for (i = 1; i < 50; i++)                  /* a feed reader polling it */
        assert_true(miss_once(fx, "/feed.php", &rec, now + i) == 0);
    /* The query is not the path: one removed script walked through its ids is one miss. */
    assert_true(miss_once(fx, "/feed.php?id=3", &rec, now) == 0);
    assert_true(miss_once(fx, "/b.php", &rec, now) == 2);    /* outcome=miss shape: new path */
    assert_true(miss_once(fx, "/b.php?x", &rec, now) == 0);
    assert_true(miss_once(fx, "/zz.php", &rec, now) == 1);
    assert_true(miss_once(fx, "/yy.php", &rec, now) == 1);
    assert_int_equal(wsg_track_recent_misses(&rec), 4);
    assert_true(miss_once(fx, "/feed.php", &rec, now) == 0); /* still among the last 4 */
    assert_true(miss_once(fx, "/xx.php", &rec, now) == 1);   /* pushes the oldest out */
    assert_true(miss_once(fx, "/feed.php", &rec, now) == 1);
    assert_true(miss_once(fx, "/b.php", &rec, now) == 2);   /* ... and that one /b.php */
    /* A signature probe repeated counts each time (its outcome=any part), its miss part once. */
    assert_true(miss_once(fx, "/probe/w.php", &rec, now) == 5);
    assert_true(miss_once(fx, "/probe/w.php", &rec, now) == 3);
    assert_true(miss_once(fx, "/probe/w.php", &rec, now) == 3);
    fx->pol.halflife = apr_time_from_sec(3600);
}

/* A scanner held in the 429 tier goes on probing: each refused probe counts as its 404 would
 * have (new script names, and the same signature path again), up to the ban; a repeat of a
 * plain miss is served, not refused, and adds nothing. */
static void test_tier_climbs_to_ban(void **state)
{
    fx_t *fx = *state;
    apr_time_t now = apr_time_from_sec(1000000);
    wsg_facts_t f;
    wsg_inspect_t ix;
    wsg_rec_t rec;
    int i, banned_at = -1;
    static const char *probes[] = {"/p1.php", "/probe/w", "/probe/w", "/p2.asp", "/p3.jsp",
                                   "/p4.cgi", "/p5.php", "/p6.php"};

    memset(&rec, 0, sizeof(rec));
    scanning(&rec, now);
    rec.score = 5;
    rec.score_time = now;
    for (i = 0; i < 8 && banned_at < 0; i++) {
        assert_int_equal(header(fx, probes[i], WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_WRITE);
        assert_int_equal(ix.header_write, 1);
        assert_true(apply(fx, &ix, &rec, now) > 0);
        assert_int_equal(wsg_inspect_written(&fx->ic, &f, &ix, 1), WSG_DO_REFUSE);
        if (ix.status == 403)
            banned_at = i;
        else
            assert_int_equal(ix.status, 429);
    }
    /* 5 + 1 + 3 + 3 = 12: banned by the 3rd probe, the signature path's retry. */
    assert_int_equal(banned_at, 2);
    assert_true(rec.ban_until > now);

    /* Behind a reverse proxy (or a handler) the server cannot know the file: a 429'd probe of
     * an outcome=miss shape counts its miss part all the same, so the scanner still climbs. */
    memset(&rec, 0, sizeof(rec));
    scanning(&rec, now);
    rec.score = 6;
    rec.score_time = now;
    assert_int_equal(header(fx, "/b.aspx", WSG_FILE_UNKNOWN, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_true(ix.record == 1 && ix.miss_counted);
    assert_int_equal(header(fx, "/c.php", WSG_FILE_UNKNOWN, &rec, &f, &ix, now), WSG_DO_WRITE);
    assert_true(ix.record == 2 && ix.miss_counted);
    /* ... not when it exists (it would not 404; and it is served: no probe). */
    assert_int_equal(header(fx, "/c.php", WSG_FILE_EXISTS, &rec, &f, &ix, now), WSG_DO_LATER);
    assert_int_equal(ix.status, 0);

    /* A monitor in the tier polling the removed script it already missed: served, not scored. */
    memset(&rec, 0, sizeof(rec));
    rec.version = WSG_REC_VERSION;
    rec.score = 6;
    rec.score_time = now;
    wsg_track_push_miss(&rec, "/status.php", 11);
    assert_int_equal(header(fx, "/status.php", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_PASS);
    assert_true(ix.repeat && ix.status == 0);
}

static const char *referer_of(void *baton)
{
    return baton;
}

/* The miss part of one GET on a missing target, for a client whose record is rec (or none). */
static double miss_part(fx_t *fx, const char *target, const wsg_rec_t *rec, const char *referer,
                        apr_time_t now, wsg_inspect_t *ix)
{
    static char buf[8192];
    wsg_facts_t f;

    memset(&f, 0, sizeof(f));
    f.method = "GET";
    f.target = target;
    f.file = WSG_FILE_MISSING;
    f.enforce = 1;
    f.now = now;
    f.rec = rec;
    f.referer_fn = referer_of;
    f.ua_baton = (void *)referer;
    f.host = "www.example.org";
    memset(ix, 0, sizeof(*ix));
    wsg_inspect_header(&fx->ic, &f, buf, sizeof(buf), ix);
    return ix->miss;
}

/* Breadth counts in full at a scan's pace; slower, the miss part lifts a score to half the first
 * threshold and no further; a link from the site itself is not a probe. */
static void test_miss_pace(void **state)
{
    fx_t *fx = *state;
    apr_time_t now = apr_time_from_sec(1000000);
    wsg_inspect_t ix;
    wsg_rec_t rec;

    /* A first request: its miss part up to 2.5 (half of the 429 tier's 5). */
    assert_true(miss_part(fx, "/zz.php", NULL, NULL, now, &ix) == 1);
    assert_true(miss_part(fx, "/b.php", NULL, NULL, now, &ix) == 2);
    fx->ic.miss_score = 3;
    assert_true(miss_part(fx, "/zz.php", NULL, NULL, now, &ix) == 2.5 && !ix.scan_pace);
    fx->ic.miss_score = 1;
    /* A crawler: 4 scored requests in 10 minutes, at 2: up to 2.5, then nothing. */
    memset(&rec, 0, sizeof(rec));
    rec.version = WSG_REC_VERSION;
    rec.hits = 4;
    rec.first_seen = now - apr_time_from_sec(600);
    rec.score = 2;
    rec.score_time = now;
    assert_true(miss_part(fx, "/zz.php", &rec, NULL, now, &ix) == 0.5);
    rec.score = 2.54;
    assert_true(miss_part(fx, "/zz.php", &rec, NULL, now, &ix) == 0);
    /* Above the cap (a signature put it there): in full. */
    rec.score = 3;
    assert_true(miss_part(fx, "/zz.php", &rec, NULL, now, &ix) == 1 && !ix.capped);
    rec.score = 2.5;
    {
        /* Held to nothing, it is still a scored request after the answer (the pace is made of
         * them): written with score 0, counted in hits and the ring. */
        static char buf[8192];
        wsg_facts_t f;
        double before = rec.score;
        unsigned hits = rec.hits;
        assert_int_equal(header(fx, "/zz.php", WSG_FILE_MISSING, &rec, &f, &ix, now), WSG_DO_LATER);
        assert_true(ix.capped && ix.miss == 0);
        f.status = 404;
        assert_int_equal(wsg_inspect_log(&fx->ic, &f, buf, sizeof(buf), &ix), WSG_DO_WRITE);
        assert_true(apply(fx, &ix, &rec, now) > 0);
        assert_true(rec.hits == hits + 1 && fabs(rec.score - before) < 1e-9);
        assert_true(wsg_track_missed_lately(&rec, "/zz.php", 7));
        rec.miss_ring_lo = rec.miss_ring_hi = 0;
    }
    /* Many of them slowly is no scan either (60 in 10 minutes: one per 10 s)... */
    rec.hits = 60;
    assert_true(miss_part(fx, "/zz.php", &rec, NULL, now, &ix) == 0);
    /* ... but one per 2 s is (300 in 10 minutes), and 6 in the last 5 seconds. */
    rec.hits = 300;
    assert_true(miss_part(fx, "/zz.php", &rec, NULL, now, &ix) == 1 && ix.scan_pace);
    rec.hits = 5;
    rec.first_seen = now - apr_time_from_sec(5);
    assert_true(miss_part(fx, "/b.php", &rec, NULL, now, &ix) == 2 && ix.scan_pace);
    /* ... and 5 in 5 seconds is not yet (the first few of anyone are weighed slowly). */
    rec.hits = 4;
    assert_true(miss_part(fx, "/b.php", &rec, NULL, now, &ix) == 0 && !ix.scan_pace);

    /* A link on the site's own page to a missing script: not a probe, even at a scan's pace; a
     * link from elsewhere is no excuse; a signature on a linked path still scores. */
    rec.hits = 300;
    rec.first_seen = now - apr_time_from_sec(600);
    assert_true(miss_part(fx, "/zz.php", &rec, "https://WWW.example.org:8443/blog/a.html", now, &ix) == 0);
    assert_true(ix.linked);
    assert_true(miss_part(fx, "/zz.php", &rec, "http://other.example/www.example.org/", now, &ix) == 1);
    assert_true(miss_part(fx, "/probe/x.php", &rec, "http://www.example.org/", now, &ix) == 0);
    assert_true(ix.score == 3);

    assert_true(wsg_inspect_same_site("http://www.example.org", "www.example.org"));
    assert_true(wsg_inspect_same_site("http://www.example.org./x", "www.example.org"));
    assert_true(wsg_inspect_same_site("http://u:p@www.example.org:80?q", "www.example.org"));
    assert_false(wsg_inspect_same_site("http://www.example.org.evil/", "www.example.org"));
    assert_false(wsg_inspect_same_site("http://evil/?www.example.org", "www.example.org"));
    assert_false(wsg_inspect_same_site("/relative", "www.example.org"));
    assert_false(wsg_inspect_same_site(NULL, "www.example.org"));
    assert_false(wsg_inspect_same_site("http://x/", NULL));
}

static void test_banned(void **state)
{
    fx_t *fx = *state;
    apr_time_t now = apr_time_from_sec(1000000);
    wsg_facts_t f;
    wsg_inspect_t ix;
    wsg_rec_t rec, prec;

    memset(&f, 0, sizeof(f));
    memset(&ix, 0, sizeof(ix));
    memset(&rec, 0, sizeof(rec));
    memset(&prec, 0, sizeof(prec));
    f.now = now;
    f.rec = &rec;
    rec.score = 7;                       /* 429 tier, not banned: not the quick handler's */
    rec.score_time = now;
    assert_int_equal(wsg_inspect_banned(&fx->ic, &f, &ix), WSG_ACT_PASS);
    prec.ban_until = now + 1;
    f.prec = &prec;
    assert_int_equal(wsg_inspect_banned(&fx->ic, &f, &ix), WSG_ACT_BAN);
    assert_int_equal(ix.status, 403);
}

/* The matcher's gate (wsg_rules_match.c): rules that require an extension are skipped for a
 * request of another one; those that require none are still tested; results are the same with
 * the gate off (more ungated rules than it takes). */
/* The rules that match METHOD TARGET with this User-Agent (NULL: none): their count, m filled. */
static int match_of(const wsg_ruleset_t *rs, const char *method, const char *target,
                    const char *ua, wsg_match_t *m)
{
    char buf[512];
    wsg_norm_t n;
    wsg_req_t req;

    wsg_norm_target(target, buf, sizeof(buf), &n);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.norm = &n;
    req.ua = ua;
    return wsg_ruleset_match(rs, &req, m);
}

static unsigned first_id(const wsg_ruleset_t *rs, const char *target)
{
    wsg_match_t m;
    return match_of(rs, "GET", target, NULL, &m) > 0 ? m.first->id : 0;
}

static int count_ids(const wsg_ruleset_t *rs, const char *method, const char *target,
                     const char *ua)
{
    wsg_match_t m;
    return match_of(rs, method, target, ua, &m);
}

static void test_gate(void **state)
{
    static const char *base =
        "id=1 score=1 tag=t msg=m ext.in=php basename.contains=x\n"
        "id=2 score=1 tag=t msg=m dir.contains=/secret/\n"
        "id=3 score=1 tag=t msg=m basename.suffix=.php~\n"
        "id=4 score=1 tag=t msg=m path.suffix=.php/\n"
        "id=5 score=1 tag=t msg=m !ext.in=html basename.contains=zz\n"
        "id=6 score=1 tag=t msg=m path.in=/a/b.jsp,/c.cgi\n";
    apr_pool_t *p = *state;
    int round;

    /* Rounds: 0 the base; 1 with 70 more ungated rules (the gate is off, the index alone); 2
     * with 600 ungated rules on a path or directory prefix (the anchored trie: the gate stays
     * on); 3 with both (the gate off, the index alone again). */
    for (round = 0; round < 4; round++) {
        wsg_ruleset_t *rs;
        const char *err = NULL;
        char *text = apr_pstrdup(p, base);
        int i;
        if (round & 1)
            for (i = 0; i < 70; i++)
                text = apr_psprintf(p, "%sid=%d score=1 tag=t msg=m dir.contains=/d%d/\n", text,
                                    100 + i, i);
        if (round & 2) {
            for (i = 0; i < 200; i++)
                text = apr_psprintf(p, "%sid=%d score=1 tag=t msg=m dir.prefix-in=/p%d/,/p%d/x/\n"
                                    "id=%d score=1 tag=t msg=m path.prefix=/Q%d method=POST\n"
                                    "id=%d score=1 tag=t msg=m dir=/e%d/ ua.contains=curl\n",
                                    text, 1000 + i, i, i, 2000 + i, i, 3000 + i, i);
        }
        wsg_ruleset_create(p, &rs);
        if (wsg_ruleset_load_string(rs, "g.rules", text, strlen(text), &err) != APR_SUCCESS
            || wsg_ruleset_compile(rs, &err) != APR_SUCCESS)
            fail_msg("%s", err);
        assert_int_equal(rs->gate_on, round != 1 && round != 3);
        if (round & 2) {
            assert_int_equal(first_id(rs, "/p7/index.html"), 1007);
            assert_int_equal(first_id(rs, "/P7/X/a.css"), 1007);
            assert_int_equal(count_ids(rs, "GET", "/p7/x/a.css", NULL), 1);  /* two literals */
            assert_int_equal(first_id(rs, "/p7"), 0);           /* its directory is "/" */
            assert_int_equal(first_id(rs, "/p7x/a.html"), 0);
            assert_int_equal(first_id(rs, "/q12abc.css"), 0);   /* GET */
            assert_int_equal(count_ids(rs, "POST", "/q12abc.css", NULL), 2);   /* /q1, /q12 */
            assert_int_equal(count_ids(rs, "GET", "/e3/a.html", NULL), 0);
            assert_int_equal(count_ids(rs, "GET", "/e3/a.html", "curl/8.0"), 1);
            assert_int_equal(count_ids(rs, "GET", "/e3/f/a.html", "curl/8.0"), 0);
        }
        assert_int_equal(first_id(rs, "/x.php"), 1);
        assert_int_equal(first_id(rs, "/X.PHP"), 1);
        assert_int_equal(first_id(rs, "/x.html"), 0);
        assert_int_equal(first_id(rs, "/secret/a.html"), 2);
        assert_int_equal(first_id(rs, "/a.php~"), 3);
        assert_int_equal(first_id(rs, "/a.php/"), 4);
        assert_int_equal(first_id(rs, "/zz.css"), 5);
        assert_int_equal(first_id(rs, "/zz.html"), 0);
        assert_int_equal(first_id(rs, "/a/b.jsp"), 6);
        assert_int_equal(first_id(rs, "/c.cgi"), 6);
        assert_int_equal(first_id(rs, "/b.jsp"), 0);
        assert_int_equal(first_id(rs, "/index.html"), 0);
        if (round & 1)
            assert_int_equal(first_id(rs, "/d7/index.html"), 107);
    }
}

/* Every script extension scores as a miss (the pre-check in front of wsg_track_is_script_ext
 * lets them all through), and common static ones do not. */
static void test_script_names(void **state)
{
    fx_t *fx = *state;
    static const char *scripts[] = {
        "php", "php3", "php4", "php5", "php7", "phtml", "pht", "phar", "asp", "aspx", "ashx",
        "asmx", "ascx", "asa", "cer", "cfm", "cfc", "jsp", "jspx", "jsw", "cgi", "pl", "py",
        "sh", "alfa",
    };
    static const char *other[] = {"html", "css", "js", "png", "svg", "json", "p", "", "pdf"};
    wsg_inspect_t ix;
    char t[64];
    size_t i;

    fx->ic.rules = NULL;
    for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        snprintf(t, sizeof(t), "/zq.%s", scripts[i]);
        inspect(fx, "GET", t, &ix);
        if (ix.miss != 1)
            fail_msg("%s: miss %g", t, ix.miss);
    }
    for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        snprintf(t, sizeof(t), "/zq.%s", other[i]);
        inspect(fx, "GET", t, &ix);
        if (ix.miss != 0)
            fail_msg("%s: miss %g", t, ix.miss);
    }
    fx->ic.rules = fx->rs;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_norm_same_as_normaliser),
        cmocka_unit_test_setup_teardown(test_scores, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_header_phase, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_log_phase, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_banned, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_repeated_miss, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tier_climbs_to_ban, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_miss_pace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gate, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_script_names, fx_setup, fx_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
