/* Detection-rate test: replays the development corpus (tests/corpus) through the normaliser and
 * the shipped rules, one request at a time, signatures only, and asserts the targets:
 * >= 97% of probes-dev.txt matched, <= 0.1% of legit-dev.txt and of legit-dev-files.txt.
 * The corpus is found through $WSG_CORPUS, else ../corpus (the tests run with cwd tests/unit).
 * It is part of the repository: a missing corpus fails the test, it is never skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wsg_test.h"
#include "wsg_rules.h"
#include "wsg_norm.h"
#include "wsg_inspect.h"

typedef struct {
    unsigned long lines, matched;
} rate_t;

static const char *corpus_dir(void)
{
    const char *env = getenv("WSG_CORPUS");
    return env && *env ? env : "../corpus";
}

/* The module's view of the rules: shipped rules, default policy, WSGuardMissScore 1. */
static void inspect_conf(const wsg_ruleset_t *rs, wsg_policy_t *pol, wsg_inspect_conf_t *ic)
{
    wsg_policy_defaults(pol);
    ic->rules = rs;
    ic->policy = pol;
    ic->miss_score = 1.0;
}

static int replay(const wsg_inspect_conf_t *ic, const char *name, rate_t *rt, int show, int want)
{
    char path[1024], line[16384], buf[8192];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", corpus_dir(), name);
    f = fopen(path, "r");
    if (!f)
        return -1;
    memset(rt, 0, sizeof(*rt));
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        char *sp;
        wsg_facts_t fa;
        wsg_inspect_t ix;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!n || !(sp = strchr(line, ' ')))
            continue;
        *sp = '\0';
        memset(&fa, 0, sizeof(fa));
        memset(&ix, 0, sizeof(ix));
        fa.method = line;
        fa.target = sp + 1;
        rt->lines++;
        wsg_inspect_target(ic, &fa, buf, sizeof(buf), &ix);
        if (ix.m.n > 0) {
            rt->matched++;
            if (show && want == 0)
                printf("    false positive: %s %s (rule %u)\n", line, sp + 1, ix.m.first->id);
        }
        else if (show && want == 1)
            printf("    missed: %s %s\n", line, sp + 1);
    }
    fclose(f);
    return 0;
}

static double pct(const rate_t *r)
{
    return r->lines ? 100.0 * (double)r->matched / (double)r->lines : 0.0;
}

static void test_corpus_rates(void **state)
{
    apr_pool_t *p = *state;
    wsg_ruleset_t *rs;
    const char *err = NULL;
    rate_t probes, legit, files;
    wsg_policy_t pol;
    wsg_inspect_conf_t ic;
    int verbose = getenv("WSG_VERBOSE") != NULL;
    char check[1024];
    FILE *f;

    snprintf(check, sizeof(check), "%s/probes-dev.txt", corpus_dir());
    f = fopen(check, "r");
    if (!f)
        fail_msg("corpus not found at %s (it is in the repository: tests/corpus)", corpus_dir());
    fclose(f);

    wsg_ruleset_create(p, &rs);
    if (wsg_ruleset_load_path(rs, "../../rules", &err) != APR_SUCCESS ||
        wsg_ruleset_compile(rs, &err) != APR_SUCCESS)
        fail_msg("%s", err);
    inspect_conf(rs, &pol, &ic);

    assert_int_equal(replay(&ic, "probes-dev.txt", &probes, verbose, 1), 0);
    assert_int_equal(replay(&ic, "legit-dev.txt", &legit, 1, 0), 0);
    assert_int_equal(replay(&ic, "legit-dev-files.txt", &files, 1, 0), 0);

    printf("  rules: %u\n", wsg_ruleset_count(rs));
    printf("  probes-dev.txt:      %lu/%lu matched = %.2f%% (target >= 97%%)\n", probes.matched,
           probes.lines, pct(&probes));
    printf("  legit-dev.txt:       %lu/%lu matched = %.2f%% (target <= 0.1%%)\n", legit.matched,
           legit.lines, pct(&legit));
    printf("  legit-dev-files.txt: %lu/%lu matched = %.2f%% (target <= 0.1%%)\n", files.matched,
           files.lines, pct(&files));

    assert_true(probes.lines > 0 && legit.lines > 0 && files.lines > 0);
    assert_true(probes.matched * 100 >= probes.lines * 97);
    assert_true(legit.matched * 1000 <= legit.lines);
    assert_true(files.matched * 1000 <= files.lines);
}

/* Hand-picked requests with bodies and user agents, which the corpus (METHOD PATH only) lacks:
 * legitimate forms must not match, a scanner's probes must reach the policy's thresholds. */
typedef struct {
    const char *method, *target, *body;
    int         min_score, max_score;
    const char *ua;
} shipped_case_t;

static const shipped_case_t shipped_cases[] = {
    {"POST", "/wp-login.php", "log=admin&pwd=secret&wp-submit=Log+In&testcookie=1", 0, 0, NULL},
    {"POST", "/wp-admin/profile.php", "pass1=x&pass2=x&_wpnonce=1", 0, 0, NULL},
    {"POST", "/phpmyadmin/index.php?route=/", "pma_username=root&pma_password=x&token=1", 0, 0, NULL},
    {"GET", "/wp-includes/Text/Diff/Engine/shell.php", NULL, 0, 0, NULL},
    {"GET", "/wp-admin/async-upload.php", NULL, 0, 0, NULL},
    {"GET", "/3/library/cmd.html", NULL, 0, 0, NULL},
    {"GET", "/wp-admin/css/colors/blue/colors.min.css", NULL, 0, 0, NULL},
    {"POST", "/wp-content/plugins/akismet/about.php", "pass=123456&watching=submit", 5, 1000, NULL},
    {"GET", "/WSO.php", NULL, 5, 1000, NULL},
    {"GET", "/wp-content/uploads/2024/05/kk.php", NULL, 5, 1000, NULL},
    {"GET", "/%2e%2e/sh%65ll.php", NULL, 5, 1000, NULL},
    /* Files of other real applications (Debian packages): CGI programs under a cgi-bin
     * sub-directory, PHP-generated assets, versioned upgrade scripts, framework classes. */
    {"GET", "/cgi-bin/nagios4/status.cgi", NULL, 0, 0, NULL},
    {"GET", "/zm/skins/classic/views/js/montage.js.php", NULL, 0, 0, NULL},
    {"GET", "/cacti/install/upgrades/1_2_3.php", NULL, 0, 0, NULL},
    {"GET", "/zm/api/app/vendor/composer/installers/src/Composer/Installers/WHMCSInstaller.php", NULL, 0, 0, NULL},
    {"GET", "/zm/api/lib/Cake/Console/Command/CompletionShell.php", NULL, 0, 0, NULL},
    /* Shapes rather than names: family prefixes, unknown files in fixed WordPress directories. */
    {"GET", "/wso1337.php", NULL, 5, 1000, NULL},
    {"GET", "/wp-includes/pomo/zmFM.php", NULL, 3, 1000, NULL},
    /* Who is asking: a library's User-Agent adds to a missing script, a browser's does not. */
    {"GET", "/zzqq.php", NULL, 3, 3, "python-requests/2.31.0"},
    {"GET", "/zzqq.php", NULL, 2, 2, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"},
    {"GET", "/index.html", NULL, 0, 0, "python-requests/2.31.0"},
};

static void test_shipped_cases(void **state)
{
    wsg_ruleset_t *rs;
    const char *err = NULL;
    wsg_policy_t pol;
    wsg_inspect_conf_t ic;
    size_t i;
    wsg_ruleset_create(*state, &rs);
    if (wsg_ruleset_load_path(rs, "../../rules", &err) != APR_SUCCESS ||
        wsg_ruleset_compile(rs, &err) != APR_SUCCESS)
        fail_msg("%s", err);
    inspect_conf(rs, &pol, &ic);
    for (i = 0; i < sizeof(shipped_cases) / sizeof(shipped_cases[0]); i++) {
        const shipped_case_t *c = &shipped_cases[i];
        char buf[8192];
        wsg_facts_t fa;
        wsg_inspect_t ix;
        memset(&fa, 0, sizeof(fa));
        memset(&ix, 0, sizeof(ix));
        fa.method = c->method;
        fa.target = c->target;
        fa.body = c->body;
        fa.body_len = c->body ? strlen(c->body) : 0;
        fa.ua = c->ua;
        wsg_inspect_target(&ic, &fa, buf, sizeof(buf), &ix);
        /* What the request scores when answered 404, as a scanner's probe is (outcome=miss rules
         * count then too, and the evasion bonus). A script name no rule matched is the miss
         * score (not a rule's): counted as 0 here, as the cases were written against rules. */
        {
            double sc = ix.score + (ix.m.n > 0 ? ix.miss : 0);
            if (sc < c->min_score || sc > c->max_score)
                fail_msg("%s %s body=%s: score %g+%g (rule %u), want %d..%d", c->method,
                         c->target, c->body ? c->body : "-", ix.score, ix.miss,
                         ix.m.first ? ix.m.first->id : 0, c->min_score, c->max_score);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_corpus_rates, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_shipped_cases, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
