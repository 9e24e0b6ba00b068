/* wsg_cli_rules: `wsguardctl rules check FILE...` and `wsguardctl rules test` (what a request, or
 * each "METHOD PATH" line of a file, would match). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "wsg_cli.h"
#include "wsg_rules.h"
#include "wsg_inspect.h"


#define NORM_BUF 8192

static void rules_usage(FILE *f)
{
    fprintf(f, "usage: wsguardctl rules check FILE...\n"
               "       wsguardctl rules test [--rules PATH|DIR|GLOB] [--ua UA] [--body BODY] "
               "--file FILE\n"
               "       wsguardctl rules test [--rules PATH|DIR|GLOB] [--ua UA] [--body BODY] "
               "\"METHOD PATH\"\n"
               "  check: parses each file (ids must be unique across all of them); prints\n"
               "         \"FILE: N rules OK\" or the first error as FILE:LINE:COL: reason.\n"
               "  test:  prints the rule ids and total score each request matches; with --file,\n"
               "         one \"METHOD PATH\" a line, then \"matched: X/Y\".\n"
               "         Default --rules: $WSGUARD_RULES, else the module's default, " WSG_RULES_DIR "\n"
               "         and " WSG_LOCAL_RULES_DIR "/*.rules\n");
}

static int rules_check(wsg_cli_t *cli, int argc, const char *const *argv)
{
    wsg_ruleset_t *rs;
    const char *err = NULL;
    int i;

    if (argc < 2) {
        rules_usage(cli->err);
        return 2;
    }
    wsg_ruleset_create(cli->pool, &rs);
    for (i = 1; i < argc; i++) {
        unsigned before = wsg_ruleset_count(rs);
        if (wsg_ruleset_load_path(rs, argv[i], &err) != APR_SUCCESS) {
            fprintf(cli->err, "%s\n", err ? err : "unknown error");
            return 1;
        }
        fprintf(cli->out, "%s: %u rules OK\n", argv[i], wsg_ruleset_count(rs) - before);
    }
    if (wsg_ruleset_compile(rs, &err) != APR_SUCCESS) {
        fprintf(cli->err, "%s\n", err ? err : "cannot compile rules");
        return 1;
    }
    return 0;
}

/* Inspects one "METHOD TARGET" line as the module does (wsg_inspect_target: normaliser, rules,
 * evasion bonus, miss score of a script name); prints it with its ids and score. Returns 1 if a
 * rule matched. */
static int test_line(wsg_cli_t *cli, const wsg_ruleset_t *rs, const char *line, const char *ua,
                     const char *body, char *buf)
{
    const char *sp = strchr(line, ' ');
    char method[32];
    wsg_inspect_conf_t ic;
    wsg_policy_t pol;
    wsg_facts_t f;
    wsg_inspect_t ix;
    size_t ml, need;
    int i;

    memset(&f, 0, sizeof(f));
    if (!sp || (ml = (size_t)(sp - line)) == 0 || ml >= sizeof(method)) {
        memcpy(method, "GET", 4);
        f.target = line;
    }
    else {
        memcpy(method, line, ml);
        method[ml] = '\0';
        f.target = sp + 1;
    }
    wsg_policy_defaults(&pol);
    ic.rules = rs;
    ic.policy = &pol;
    ic.miss_score = 1.0;           /* the module's default WSGuardMissScore */
    f.method = method;
    f.ua = ua;
    f.body = body;
    f.body_len = body ? strlen(body) : 0;
    memset(&ix, 0, sizeof(ix));
    /* Sized as the module sizes it: a long target is resolved whole, never cut (rare: lines of
     * a file are at most 16 KB, so this pool use stays small). */
    need = wsg_norm_bufsize(f.target);
    if (need > NORM_BUF)
        buf = apr_palloc(cli->pool, need);
    wsg_inspect_target(&ic, &f, buf, need > NORM_BUF ? need : NORM_BUF, &ix);
    fprintf(cli->out, "%s  ", line);
    if (ix.m.n == 0) {
        if (ix.miss > 0)
            fprintf(cli->out, "- score=0+%g(if-404)\n", ix.miss);
        else
            fprintf(cli->out, "-\n");
        return 0;
    }
    fprintf(cli->out, "ids=");
    for (i = 0; i < ix.m.n && i < WSG_MATCH_MAX; i++)
        fprintf(cli->out, "%s%u", i ? "," : "", ix.m.ids[i]);
    if (ix.m.n > WSG_MATCH_MAX)
        fprintf(cli->out, ",...(+%d)", ix.m.n - WSG_MATCH_MAX);
    if (ix.miss > 0)
        fprintf(cli->out, " score=%g+%g(if-404)\n", ix.score, ix.miss);
    else
        fprintf(cli->out, " score=%g\n", ix.score);
    return 1;
}

static int rules_test(wsg_cli_t *cli, int argc, const char *const *argv)
{
    const char *env = getenv("WSGUARD_RULES");
    const char *rules = env && *env ? env : NULL, *file = NULL, *single = NULL, *ua = NULL,
               *body = NULL, *err = NULL;
    apr_status_t rv;
    wsg_ruleset_t *rs;
    char *buf;
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rules") && i + 1 < argc)
            rules = argv[++i];
        else if (!strcmp(argv[i], "--file") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--ua") && i + 1 < argc)
            ua = argv[++i];
        else if (!strcmp(argv[i], "--body") && i + 1 < argc)
            body = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(cli->err, "wsguardctl rules test: unknown option '%s'\n", argv[i]);
            rules_usage(cli->err);
            return 2;
        }
        else if (!single)
            single = argv[i];
        else {
            rules_usage(cli->err);
            return 2;
        }
    }
    if (!!file == !!single) {
        rules_usage(cli->err);
        return 2;
    }
    wsg_ruleset_create(cli->pool, &rs);
    if (rules)
        rv = wsg_ruleset_load_path(rs, rules, &err);
    else if ((rv = wsg_ruleset_load_path(rs, WSG_RULES_DIR, &err)) == APR_SUCCESS) {
        /* as the module's default WSGuardRules: local rules too, if there are any */
        rv = wsg_ruleset_load_path(rs, WSG_LOCAL_RULES_DIR "/*.rules", &err);
        if (rv == APR_ENOENT)
            rv = APR_SUCCESS;
    }
    if (rv != APR_SUCCESS || wsg_ruleset_compile(rs, &err) != APR_SUCCESS) {
        fprintf(cli->err, "%s\n", err ? err : "cannot load rules");
        return 1;
    }
    buf = apr_palloc(cli->pool, NORM_BUF);
    if (single) {
        test_line(cli, rs, single, ua, body, buf);
        return 0;
    }
    {
        FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
        char line[16384];
        unsigned long total = 0, hit = 0;
        if (!f) {
            fprintf(cli->err, "wsguardctl rules test: cannot open %s\n", file);
            return 1;
        }
        while (fgets(line, sizeof(line), f)) {
            size_t n = strlen(line);
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (!n)
                continue;
            total++;
            hit += (unsigned long)test_line(cli, rs, line, ua, body, buf);
        }
        if (f != stdin)
            fclose(f);
        fprintf(cli->out, "matched: %lu/%lu\n", hit, total);
    }
    return 0;
}

int wsg_cli_rules(wsg_cli_t *cli, int argc, const char *const *argv)
{
    int i;
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            rules_usage(cli->out);
            return 0;
        }
    if (argc < 2) {
        rules_usage(cli->err);
        return 2;
    }
    if (!strcmp(argv[1], "check"))
        return rules_check(cli, argc - 1, argv + 1);
    if (!strcmp(argv[1], "test"))
        return rules_test(cli, argc - 1, argv + 1);
    fprintf(cli->err, "wsguardctl rules: unknown sub-command '%s'\n", argv[1]);
    rules_usage(cli->err);
    return 2;
}
