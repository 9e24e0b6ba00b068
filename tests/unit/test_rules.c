/* Unit tests for wsg_rules: parser errors with the exact FILE:LINE:COL text a user reads, every
 * field and operator, negation, duplicate ids across files, loading directories and globs, match
 * results (ids sorted, score summed, highest rule first), and PCRE2 limits against backtracking. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <pthread.h>
#include <apr_time.h>
#include "wsg_test.h"
#include "wsg_rules.h"
#include "wsg_norm.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static wsg_ruleset_t *load(apr_pool_t *p, const char *text, const char **err)
{
    wsg_ruleset_t *rs;
    assert_int_equal(wsg_ruleset_create(p, &rs), APR_SUCCESS);
    *err = NULL;
    if (wsg_ruleset_load_string(rs, "t.rules", text, strlen(text), err) != APR_SUCCESS)
        return NULL;
    assert_int_equal(wsg_ruleset_compile(rs, err), APR_SUCCESS);
    return rs;
}

typedef struct {
    const char *method, *target, *ua, *body;
} req_t;

static int match(const wsg_ruleset_t *rs, const req_t *rq, wsg_match_t *m)
{
    char buf[8192];
    wsg_norm_t n;
    wsg_req_t req;
    wsg_norm_target(rq->target, buf, sizeof(buf), &n);
    memset(&req, 0, sizeof(req));
    req.method = rq->method;
    req.norm = &n;
    req.ua = rq->ua;
    req.body = rq->body;
    req.body_len = rq->body ? strlen(rq->body) : 0;
    return wsg_ruleset_match(rs, &req, m);
}

/* "1,2" for the ids matched, "" for none */
static const char *ids_str(const wsg_match_t *m, char *buf, size_t n)
{
    size_t o = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < m->n && i < WSG_MATCH_MAX; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%u", i ? "," : "", m->ids[i]);
    return buf;
}

#define HDR "score=1 tag=t msg=m "

/* ---- parser errors ------------------------------------------------------------------------- */

typedef struct {
    const char *text;
    const char *err;
} err_case_t;

static const err_case_t err_cases[] = {
    {"id=1 score=1 tag=x msg=m foo=bar", "t.rules:1:26: unknown key 'foo'"},
    {"score=1 tag=x msg=m path=/a", "t.rules:1:1: missing id"},
    {"  id=1 tag=x msg=m path=/a", "t.rules:1:3: missing score (rule 1)"},
    {"id=1 score=1 msg=m path=/a", "t.rules:1:1: missing tag (rule 1)"},
    {"id=1 score=1 tag=x path=/a", "t.rules:1:1: missing msg (rule 1)"},
    {"id=1 score=1 tag=x msg=m", "t.rules:1:1: rule 1 has no condition"},
    {"id=0 score=1 tag=x msg=m path=/a", "t.rules:1:4: bad number '0' for id (1..2147483647)"},
    {"id=2147483648 score=1 tag=x msg=m path=/a",
     "t.rules:1:4: bad number '2147483648' for id (1..2147483647)"},
    {"id=12a score=1 tag=x msg=m path=/a", "t.rules:1:4: bad number '12a' for id (1..2147483647)"},
    {"id=1 score=1001 tag=x msg=m path=/a", "t.rules:1:12: bad number '1001' for score (0..1000)"},
    {"id=1 score=-1 tag=x msg=m path=/a", "t.rules:1:12: bad number '-1' for score (0..1000)"},
    {"id=1 score=1 tag=X! msg=m path=/a", "t.rules:1:18: bad tag 'X!' (a-z, 0-9, '-', '_')"},
    {"id=1 id=2 score=1 tag=x msg=m path=/a", "t.rules:1:6: duplicate key 'id'"},
    {"id=1 score=1 tag=x msg=m path.like=/a", "t.rules:1:31: unknown operator 'like' in 'path.like'"},
    {"id=1 score=1 tag=x msg=\"abc", "t.rules:1:24: unterminated quoted value"},
    {"id=1 score=1 tag=x msg=\"a\"b path=/a", "t.rules:1:27: expected white space after quoted value"},
    {"id=1 score=1 tag=x msg=m junk", "t.rules:1:26: expected key=value, got 'junk'"},
    {"id=1 score=1 tag=x msg=m =x", "t.rules:1:26: missing key before '='"},
    {"id=1 score=1 tag=x msg=m path.in=a,,b", "t.rules:1:36: empty literal"},
    {"id=1 score=1 tag=x msg=m path.re=\"(ab\"",
     "t.rules:1:38: bad regex: missing closing parenthesis at offset 3"},
    {"id=1 score=1 tag=x msg=m path.re=", "t.rules:1:34: empty regex"},
    /* line and column survive comments, blank lines and continuations */
    {"# comment\n\nid=1 score=1 tag=x \\\n   msg=m bogus=1", "t.rules:4:10: unknown key 'bogus'"},
    {"id=1 " HDR "path=/a\nid=1 " HDR "path=/b", "t.rules:2:1: duplicate id 1 (first at t.rules:1)"},
};

static void test_parse_errors(void **state)
{
    size_t i;
    for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const char *err = NULL;
        wsg_ruleset_t *rs = load(*state, err_cases[i].text, &err);
        if (rs || !err || strcmp(err, err_cases[i].err)) {
            print_error("case %zu: %s\n  want: %s\n  got:  %s\n", i, err_cases[i].text,
                        err_cases[i].err, err ? err : "(no error)");
            fail();
        }
    }
}

static void test_parse_ok(void **state)
{
    const char *err;
    const char *text =
        "# a comment line\n"
        "\n"
        "id=7 score=3 tag=php-shell msg=\"a \\\"quoted\\\" msg with \\\\\" \\\n"
        "    basename.eq=wso.php\n"
        "   id=8 score=0 tag=x msg=m path.re=\"\\.php$\"\r\n";
    wsg_ruleset_t *rs = load(*state, text, &err);
    const wsg_rule_info_t *ri;
    assert_non_null(rs);
    assert_int_equal(wsg_ruleset_count(rs), 2);
    ri = wsg_ruleset_rule(rs, 7);
    assert_non_null(ri);
    assert_string_equal(ri->msg, "a \"quoted\" msg with \\");
    assert_string_equal(ri->tag, "php-shell");
    assert_string_equal(ri->file, "t.rules");
    assert_int_equal(ri->line, 3);
    assert_int_equal(ri->score, 3);
    assert_non_null(wsg_ruleset_rule(rs, 8));
    assert_null(wsg_ruleset_rule(rs, 9));
}

/* A rejected file contributes nothing; ids stay unique across files. */
static void test_duplicate_across_files(void **state)
{
    wsg_ruleset_t *rs;
    const char *err = NULL, *a = "id=5 " HDR "path=/a\n", *b = "id=6 " HDR "path=/b\nid=5 " HDR
                                                                 "path=/c\n";
    wsg_ruleset_create(*state, &rs);
    assert_int_equal(wsg_ruleset_load_string(rs, "a.rules", a, strlen(a), &err), APR_SUCCESS);
    assert_int_not_equal(wsg_ruleset_load_string(rs, "b.rules", b, strlen(b), &err), APR_SUCCESS);
    assert_string_equal(err, "b.rules:2:1: duplicate id 5 (first at a.rules:1)");
    assert_int_equal(wsg_ruleset_count(rs), 1);
    assert_null(wsg_ruleset_rule(rs, 6));
    /* id 6 can be loaded again after the rollback */
    assert_int_equal(wsg_ruleset_load_string(rs, "c.rules", b, strlen("id=6 " HDR "path=/b\n"), &err),
                     APR_SUCCESS);
    assert_int_equal(wsg_ruleset_compile(rs, &err), APR_SUCCESS);
    assert_int_equal(wsg_ruleset_count(rs), 2);
}

static void test_load_path(void **state)
{
    apr_pool_t *p = *state;
    char dir[] = "/tmp/wsg-rules-test-XXXXXX";
    char path[256];
    wsg_ruleset_t *rs;
    const char *err = NULL;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/20-b.rules", dir);
    f = fopen(path, "w");
    fputs("id=2 " HDR "path=/b\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/10-a.rules", dir);
    f = fopen(path, "w");
    fputs("id=1 " HDR "path=/a\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    f = fopen(path, "w");
    fputs("not rules\n", f);
    fclose(f);

    wsg_ruleset_create(p, &rs);
    assert_int_equal(wsg_ruleset_load_path(rs, dir, &err), APR_SUCCESS);
    assert_int_equal(wsg_ruleset_count(rs), 2);
    assert_int_equal(wsg_ruleset_rule(rs, 2)->line, 1);

    wsg_ruleset_create(p, &rs);
    snprintf(path, sizeof(path), "%s/1*.rules", dir);
    assert_int_equal(wsg_ruleset_load_path(rs, path, &err), APR_SUCCESS);
    assert_int_equal(wsg_ruleset_count(rs), 1);

    wsg_ruleset_create(p, &rs);
    snprintf(path, sizeof(path), "%s/9*.rules", dir);
    assert_int_not_equal(wsg_ruleset_load_path(rs, path, &err), APR_SUCCESS);
    assert_non_null(strstr(err, "no rule files match"));

    wsg_ruleset_create(p, &rs);
    snprintf(path, sizeof(path), "%s/missing.rules", dir);
    assert_int_not_equal(wsg_ruleset_load_path(rs, path, &err), APR_SUCCESS);
    assert_non_null(strstr(err, "cannot read"));

    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* ---- fields and operators ------------------------------------------------------------------ */

static const char *const op_rules =
    "id=1 " HDR "basename=wso.php\n"
    "id=2 " HDR "basename.in=c99.php,r57.php\n"
    "id=3 " HDR "dir.prefix=/wp-content/uploads/ ext=php\n"
    "id=4 " HDR "basename.suffix=.php.jpg\n"
    "id=5 " HDR "basename.contains=shell ext.in=php,asp\n"
    "id=6 " HDR "path.re=\"^/cgi-bin/.+\\.(pl|sh)$\"\n"
    "id=7 " HDR "method=post args.eq=watching\n"
    "id=8 " HDR "ua.contains=sqlmap\n"
    "id=9 " HDR "query.prefix=cmd=\n"
    "id=10 " HDR "path=/exact/Path.PHP\n"
    "id=11 " HDR "dir=/.well-known/ ext=php\n"
    "id=12 " HDR "basename.contains-in=b374k,indoxploit\n"
    "id=13 " HDR "path.suffix-in=/x.asp,/x.aspx\n"
    "id=14 " HDR "dir.prefix-in=/tmp/,/temp/ ext=php\n"
    "id=15 " HDR "query.contains=../\n"
    "id=16 " HDR "args.in=pass,pwd basename.suffix=.php\n"
    "id=17 " HDR "ua.re=\"^curl/\"\n"
    "id=18 " HDR "method.in=put,delete\n";

typedef struct {
    req_t       req;
    const char *ids;
} match_case_t;

static const match_case_t match_cases[] = {
    {{"GET", "/wso.php", NULL, NULL}, "1"},
    {{"GET", "/WSO.PHP", NULL, NULL}, "1"},
    {{"GET", "/deep/dir/wso.php?x=1", NULL, NULL}, "1"},
    {{"GET", "/wso.php5", NULL, NULL}, ""},
    {{"GET", "/r57.php", NULL, NULL}, "2"},
    {{"GET", "/wp-content/uploads/2021/03/a.php", NULL, NULL}, "3"},
    {{"GET", "/wp-content/uploads/2021/03/a.png", NULL, NULL}, ""},
    {{"GET", "/up/a.PHP.jpg", NULL, NULL}, "4"},
    {{"GET", "/myShell2.php", NULL, NULL}, "5"},
    {{"GET", "/shell.html", NULL, NULL}, ""},
    {{"GET", "/cgi-bin/x.pl", NULL, NULL}, "6"},
    {{"GET", "/cgi-bin/x.py", NULL, NULL}, ""},
    {{"POST", "/a.php", NULL, "pass=x&watching=submit"}, "7,16"},
    {{"GET", "/a.php?watching=1", NULL, NULL}, ""},
    {{"GET", "/", "Mozilla/5.0 SQLMap/1.0", NULL}, "8"},
    {{"GET", "/", NULL, NULL}, ""},
    {{"GET", "/x?CMD=id", NULL, NULL}, "9"},
    {{"GET", "/x?a=1&cmd=id", NULL, NULL}, ""},
    {{"GET", "/exact/path.php", NULL, NULL}, "10"},
    {{"GET", "/exact/path.php/", NULL, NULL}, "10"},   /* path-info "": path.php runs */
    {{"GET", "/exact/path.php5/", NULL, NULL}, ""},
    {{"GET", "/.well-known/a.php", NULL, NULL}, "11"},
    {{"GET", "/.well-known/acme/a.php", NULL, NULL}, ""},
    {{"GET", "/a/B374K-2.8.min.php", NULL, NULL}, "12"},
    {{"GET", "/q/x.aspx", NULL, NULL}, "13"},
    {{"GET", "/q/xx.aspx", NULL, NULL}, ""},
    {{"GET", "/temp/a/b.php", NULL, NULL}, "14"},
    {{"GET", "/dl.php?file=../../wp-config.php", NULL, NULL}, "15"},
    {{"GET", "/a.php?pwd=1", NULL, NULL}, "16"},
    {{"GET", "/a.php?pw=1", NULL, NULL}, ""},
    {{"GET", "/", "curl/8.0", NULL}, "17"},
    {{"GET", "/", "CURL/8.0", NULL}, "17"},
    {{"DELETE", "/", NULL, NULL}, "18"},
    /* evasion undone by the normaliser before matching */
    {{"GET", "/%77so.php", NULL, NULL}, "1"},
    {{"GET", "//x/./y/../wso.php", NULL, NULL}, "1"},
    {{"GET", "/wso.php;jsessionid=1", NULL, NULL}, "1"},
    {{"GET", "/wso.php.", NULL, NULL}, "1"},
    {{"GET", "\\wso.php", NULL, NULL}, "1"},
    /* path-info: the script that runs is matched, and the whole path as well */
    {{"GET", "/wso.php/x.jpg", NULL, NULL}, "1"},
    {{"GET", "/wso.php/", NULL, NULL}, "1"},
    {{"GET", "/r57.php/.", NULL, NULL}, "2"},
    {{"GET", "/wp-content/uploads/a.php/b.png", NULL, NULL}, "3"},
    {{"GET", "/index.php/images/wso.php", NULL, NULL}, "1"},
    {{"GET", "/index.php/2024/01/post-title", NULL, NULL}, ""},
    /* several rules at once: ids sorted */
    {{"GET", "/wp-content/uploads/shell.php", NULL, NULL}, "3,5"},
};

static void test_fields_ops(void **state)
{
    const char *err;
    wsg_ruleset_t *rs = load(*state, op_rules, &err);
    size_t i;
    if (!rs)
        fail_msg("%s", err);
    for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        wsg_match_t m;
        char buf[128];
        const match_case_t *c = &match_cases[i];
        match(rs, &c->req, &m);
        if (strcmp(ids_str(&m, buf, sizeof(buf)), c->ids)) {
            print_error("case %zu: %s %s ua=%s body=%s\n  want ids: %s\n  got:      %s\n", i,
                        c->req.method, c->req.target, c->req.ua ? c->req.ua : "-",
                        c->req.body ? c->req.body : "-", c->ids, buf);
            fail();
        }
    }
}

static void test_negation(void **state)
{
    const char *err;
    wsg_ruleset_t *rs = load(*state,
                             "id=1 " HDR "basename.contains=shell !path.eq=/wp-includes/text/diff/engine/shell.php\n"
                             "id=2 " HDR "dir=/ ext=php !basename.in=index.php,wp-login.php\n"
                             "id=3 " HDR "ext=php not.query.contains=ok\n"
                             "id=4 " HDR "!ua.prefix=mozilla basename=x.php\n",
                             &err);
    wsg_match_t m;
    char b[64];
    req_t r1 = {"GET", "/wp-includes/Text/Diff/Engine/shell.php", NULL, NULL};
    req_t r2 = {"GET", "/a/shell.php", NULL, NULL};
    req_t r3 = {"GET", "/index.php?ok=1", NULL, NULL};
    req_t r4 = {"GET", "/foo.php?ok=1", NULL, NULL};
    req_t r5 = {"GET", "/x.php?ok", "Mozilla/5.0", NULL};
    req_t r6 = {"GET", "/q/x.php?ok", NULL, NULL};  /* absent field: a negation holds */
    if (!rs)
        fail_msg("%s", err);
    match(rs, &r1, &m);
    assert_string_equal(ids_str(&m, b, sizeof(b)), "3");
    match(rs, &r2, &m);
    assert_string_equal(ids_str(&m, b, sizeof(b)), "1,3");
    match(rs, &r3, &m);
    assert_string_equal(ids_str(&m, b, sizeof(b)), "");
    match(rs, &r4, &m);
    assert_string_equal(ids_str(&m, b, sizeof(b)), "2");
    match(rs, &r5, &m);
    assert_string_equal(ids_str(&m, b, sizeof(b)), "2");
    match(rs, &r6, &m);
    assert_string_equal(ids_str(&m, b, sizeof(b)), "4");
}

static void test_scores(void **state)
{
    const char *err;
    wsg_ruleset_t *rs = load(*state,
                             "id=30 score=2 tag=a msg=m ext=php\n"
                             "id=20 score=5 tag=b msg=top basename=wso.php\n"
                             "id=10 score=1 tag=c msg=m dir=/\n",
                             &err);
    wsg_match_t m;
    req_t r = {"GET", "/wso.php", NULL, NULL};
    req_t none = {"GET", "/a/b.css", NULL, NULL};
    assert_non_null(rs);
    assert_int_equal(match(rs, &r, &m), 3);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.score, 8);
    assert_int_equal(m.ids[0], 10);
    assert_int_equal(m.ids[1], 20);
    assert_int_equal(m.ids[2], 30);
    assert_non_null(m.first);
    assert_int_equal(m.first->id, 20);
    assert_string_equal(m.first->msg, "top");
    assert_int_equal(match(rs, &none, &m), 0);
    assert_int_equal(m.score, 0);
    assert_int_equal(m.n, 0);
    assert_null(m.first);
}

/* More matches than WSG_MATCH_MAX: all counted and scored, the first ones listed. */
/* outcome=miss scores go apart, so the glue counts them only on a 404; an outcome=any rule is
 * preferred as "first" (it is the one a 2xx alert names). */
static void test_outcome_miss(void **state)
{
    const char *err = NULL;
    wsg_ruleset_t *rs = load(*state,
                             "id=1 score=9 outcome=miss tag=a msg=generic ext=php\n"
                             "id=2 score=3 tag=b msg=family basename=wso.php\n",
                             &err);
    wsg_match_t m;
    req_t r = {"GET", "/wso.php", NULL, NULL};
    req_t g = {"GET", "/x.php", NULL, NULL};
    assert_non_null(rs);
    assert_int_equal(match(rs, &r, &m), 2);
    assert_int_equal(m.score, 3);
    assert_int_equal(m.miss_score, 9);
    assert_int_equal(m.first->id, 2);
    assert_int_equal(match(rs, &g, &m), 1);
    assert_int_equal(m.score, 0);
    assert_int_equal(m.miss_score, 9);
    assert_int_equal(m.first->id, 1);
    assert_true(m.first->on_miss);
    assert_null(load(*state, "id=3 score=1 outcome=later tag=a msg=m ext=php\n", &err));
    assert_string_equal(err, "t.rules:1:22: bad outcome 'later' (any, miss)");
}

static void test_many_matches(void **state)
{
    char text[4096];
    size_t o = 0;
    int i;
    const char *err;
    wsg_ruleset_t *rs;
    wsg_match_t m;
    req_t r = {"GET", "/x.php", NULL, NULL};
    for (i = 1; i <= 12; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "id=%d score=1 tag=t msg=m ext=php\n", i);
    rs = load(*state, text, &err);
    assert_non_null(rs);
    assert_int_equal(match(rs, &r, &m), 12);
    assert_int_equal(m.score, 12);
    assert_int_equal(m.ids[WSG_MATCH_MAX - 1], WSG_MATCH_MAX);
}

/* A catastrophic-backtracking pattern on a long path stops at the match limit: quick, no match. */
static void test_regex_limits(void **state)
{
    const char *err;
    wsg_ruleset_t *rs = load(*state,
                             "id=1 " HDR "path.re=\"^/(a+)+$\"\n"
                             "id=2 " HDR "path.re=\"^/(\\w+\\s?)*$\"\n"
                             "id=3 " HDR "path.re=\"^/(a|aa)+b$\"\n",
                             &err);
    char target[6000];
    wsg_match_t m;
    req_t r = {"GET", target, NULL, NULL};
    apr_time_t t0;
    if (!rs)
        fail_msg("%s", err);
    target[0] = '/';
    memset(target + 1, 'a', 4000);
    strcpy(target + 4001, "!");
    t0 = apr_time_now();
    assert_int_equal(match(rs, &r, &m), 0);
    assert_true(apr_time_now() - t0 < APR_USEC_PER_SEC / 2);
    /* the same patterns still match what they should */
    strcpy(target, "/aaab");
    assert_int_equal(match(rs, &r, &m), 2);   /* ids 2 and 3 */
}

/* Loading after compile is refused; a compiled ruleset cannot be recompiled. */
static void test_compile_once(void **state)
{
    const char *err;
    wsg_ruleset_t *rs = load(*state, "id=1 " HDR "ext=php\n", &err);
    const char *t = "id=2 " HDR "ext=asp\n";
    assert_non_null(rs);
    assert_int_not_equal(wsg_ruleset_load_string(rs, "x", t, strlen(t), &err), APR_SUCCESS);
    assert_int_not_equal(wsg_ruleset_compile(rs, &err), APR_SUCCESS);
}

/* Matching from several threads at once (shared compiled ruleset, per-thread PCRE2 match data)
 * gives the same answers as one thread. */
typedef struct {
    const wsg_ruleset_t *rs;
    int                  bad;
} thr_arg_t;

static const req_t thr_reqs[] = {
    {"GET", "/wso.php", NULL, NULL},          {"GET", "/cgi-bin/x.pl", NULL, NULL},
    {"GET", "/a/b/c.css", NULL, NULL},        {"GET", "/up/a.php.jpg", NULL, NULL},
    {"GET", "/myshell.asp", NULL, NULL},      {"POST", "/x.php", NULL, "watching=1"},
};
static const char *const thr_want[] = {"1", "6", "", "4", "5", "7"};

static void *thr_main(void *v)
{
    thr_arg_t *a = v;
    int i;
    size_t k;
    for (i = 0; i < 2000; i++)
        for (k = 0; k < sizeof(thr_reqs) / sizeof(thr_reqs[0]); k++) {
            wsg_match_t m;
            char b[64];
            match(a->rs, &thr_reqs[k], &m);
            if (strcmp(ids_str(&m, b, sizeof(b)), thr_want[k]))
                a->bad++;
        }
    return NULL;
}

static void test_threads(void **state)
{
    const char *err;
    wsg_ruleset_t *rs = load(*state, op_rules, &err);
    pthread_t t[4];
    thr_arg_t a[4];
    int i;
    assert_non_null(rs);
    for (i = 0; i < 4; i++) {
        a[i].rs = rs;
        a[i].bad = 0;
        assert_int_equal(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
}

/* The shipped rules parse, and ids are unique across the files. */
static void test_shipped_rules_parse(void **state)
{
    wsg_ruleset_t *rs;
    const char *err = NULL;
    wsg_ruleset_create(*state, &rs);
    if (wsg_ruleset_load_path(rs, "../../rules", &err) != APR_SUCCESS)
        fail_msg("%s", err);
    assert_int_equal(wsg_ruleset_compile(rs, &err), APR_SUCCESS);
    assert_true(wsg_ruleset_count(rs) >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_errors, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_parse_ok, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_across_files, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_load_path, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_fields_ops, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_negation, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_scores, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_outcome_miss, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_many_matches, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_regex_limits, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_threads, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_compile_once, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_shipped_rules_parse, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
