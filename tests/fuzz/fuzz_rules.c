/* libFuzzer target for the rule language: the input is a rule file. Whatever it holds, loading
 * must either fail with a "NAME:LINE:COL: reason" message or succeed; compiling must either fail
 * with a message or give a ruleset that matches requests without crashing. Catches parser
 * overreads, bad error positions, pathological regexes without limits, and pool leaks (LSan).
 * Oracle: the matcher's gate (extension gate, path automaton, anchored trie) must find exactly
 * the rules the index alone finds (the same request matched with the gate turned off). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "wsg_rules.h"
#include "wsg_inspect.h"
#include "wsg_norm.h"
#include "wsg_rules_int.h"     /* gate_on: the gate is checked against the index alone */

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static const char *targets[] = {
    "/wso.php", "/uploads/x.php?pass=1", "/images/cmd.aspx", "/index.html", "/", "/a/b/c.jsp",
    "/.well-known/x.php", "/%c0%ae%c0%ae/x.php", "/wp-content/uploads/2024/01/shell.php;.jpg",
    "/jmx-console/HtmlAdaptor", "/Admin/Index.HTML", "/a/b/", "/style.css", "/x.php/y.jpg",
    "/cgi-bin/test-cgi",
};
static const char *methods[] = {"GET", "POST", "HEAD", "PUT"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

static void check_err(const char *err)
{
    const char *p;
    CHECK(err != NULL);
    /* "fuzz.rules:LINE:COL: reason" */
    CHECK(strncmp(err, "fuzz.rules:", 11) == 0);
    p = err + 11;
    CHECK(*p >= '0' && *p <= '9');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    wsg_ruleset_t *rs = NULL;
    const char *err = NULL;
    char *text, nbuf[8192];
    apr_status_t rv;
    size_t i;

    if (size > 64 * 1024)
        return 0;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return 0;
    /* Exactly size bytes: the parser is given a length and must not read past it. */
    text = malloc(size ? size : 1);
    if (size)
        memcpy(text, data, size);

    CHECK(wsg_ruleset_create(p, &rs) == APR_SUCCESS);
    rv = wsg_ruleset_load_string(rs, "fuzz.rules", text, size, &err);
    if (rv != APR_SUCCESS) {
        check_err(err);
        goto done;
    }
    err = NULL;
    rv = wsg_ruleset_compile(rs, &err);
    if (rv != APR_SUCCESS) {
        CHECK(err != NULL);
        goto done;
    }
    for (i = 0; i < sizeof(targets) / sizeof(targets[0]) * 2; i++) {
        /* As the module inspects a request: wsg_inspect_target. */
        wsg_policy_t pol;
        wsg_inspect_conf_t ic;
        wsg_facts_t fa;
        wsg_inspect_t ix;
        int hits, k;
        wsg_policy_defaults(&pol);
        ic.rules = rs;
        ic.policy = &pol;
        ic.miss_score = 1.0;
        memset(&fa, 0, sizeof(fa));
        memset(&ix, 0xa5, sizeof(ix));
        fa.target = targets[i % (sizeof(targets) / sizeof(targets[0]))];
        fa.method = methods[i % 4];
        if (i & 1) {
            fa.ua = "Mozilla/5.0 (compatible; scanner)";
            fa.body = "pass=123&cmd=id";
            fa.body_len = strlen(fa.body);
        }
        wsg_inspect_target(&ic, &fa, nbuf, sizeof(nbuf), &ix);
        hits = ix.m.n;
        CHECK(hits >= 0 && ix.inspected == 1);
        CHECK(hits == 0 ? (ix.m.score == 0 && ix.m.first == NULL) : ix.m.first != NULL);
        CHECK(ix.score >= ix.m.score && ix.score <= ix.m.score + 1);
        CHECK(ix.miss >= 0);
        for (k = 0; k < hits && k < WSG_MATCH_MAX; k++)
            CHECK(wsg_ruleset_rule(rs, ix.m.ids[k]) != NULL);
        if (rs->gate_on) {
            char b2[8192];
            wsg_norm_t n;
            wsg_req_t req;
            wsg_match_t mg, mi;
            int ng, ni;
            wsg_norm_target(fa.target, b2, sizeof(b2), &n);
            memset(&req, 0, sizeof(req));
            req.method = fa.method;
            req.norm = &n;
            req.ua = fa.ua;
            req.body = fa.body;
            req.body_len = fa.body_len;
            ng = wsg_ruleset_match(rs, &req, &mg);
            rs->gate_on = 0;
            ni = wsg_ruleset_match(rs, &req, &mi);
            rs->gate_on = 1;
            CHECK(ng == ni);
            /* Past 64 matches each keeps the first 64 it found: the count still agrees. */
            for (k = 0; ng <= 64 && k < ng && k < WSG_MATCH_MAX; k++)
                CHECK(mg.ids[k] == mi.ids[k]);
        }
    }
done:
    free(text);
    apr_pool_destroy(p);
    return 0;
}
