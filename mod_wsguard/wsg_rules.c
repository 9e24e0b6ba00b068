/* wsg_rules: the rule-language parser and loading of rule files (rules/README.md describes the
 * language). Errors are "FILE:LINE:COL: reason". Compiling and matching live in wsg_rules_match.c. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <glob.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include "wsg_rules_int.h"

const unsigned char wsg_lc[256] = {
#define R(i) (unsigned char)((i) >= 'A' && (i) <= 'Z' ? (i) + 32 : (i))
#define R4(i) R(i), R(i + 1), R(i + 2), R(i + 3)
#define R16(i) R4(i), R4(i + 4), R4(i + 8), R4(i + 12)
#define R64(i) R16(i), R16(i + 16), R16(i + 32), R16(i + 48)
    R64(0), R64(64), R64(128), R64(192)
#undef R64
#undef R16
#undef R4
#undef R
};

static const char *const field_names[WSG_F_N] = {
    "method", "path", "basename", "ext", "dir", "query", "args", "ua"
};

/* Parser state: a cursor over the whole text that knows its line and column. */
typedef struct {
    wsg_ruleset_t *rs;
    const char    *name;
    const char    *p, *end;
    unsigned       line, col;
    const char   **err;
    apr_pool_t    *tmp;
} parser_t;

static apr_status_t perr(parser_t *ps, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static apr_status_t perr(parser_t *ps, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    const char *msg;
    va_start(ap, fmt);
    msg = apr_pvsprintf(ps->rs->pool, fmt, ap);
    va_end(ap);
    if (ps->err)
        *ps->err = apr_psprintf(ps->rs->pool, "%s:%u:%u: %s", ps->name, line, col, msg);
    return APR_EGENERAL;
}

static void adv(parser_t *ps)
{
    if (*ps->p == '\n') {
        ps->line++;
        ps->col = 1;
    }
    else
        ps->col++;
    ps->p++;
}

/* A backslash that ends a physical line continues the logical line. */
static int at_continuation(const parser_t *ps)
{
    const char *q = ps->p;
    if (q >= ps->end || *q != '\\')
        return 0;
    q++;
    if (q < ps->end && *q == '\r')
        q++;
    return q >= ps->end || *q == '\n';
}

static void skip_blank(parser_t *ps)
{
    for (;;) {
        if (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
            adv(ps);
        else if (at_continuation(ps)) {
            adv(ps);
            if (ps->p < ps->end && *ps->p == '\r')
                adv(ps);
            if (ps->p < ps->end)
                adv(ps); /* the newline */
        }
        else
            return;
    }
}

static int at_eol(const parser_t *ps)
{
    return ps->p >= ps->end || *ps->p == '\n';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static apr_status_t parse_uint(parser_t *ps, const char *v, unsigned line, unsigned col,
                               const char *what, unsigned long lo, unsigned long hi,
                               unsigned long *out)
{
    unsigned long n = 0;
    const char *q = v;
    if (!*q)
        return perr(ps, line, col, "bad number '' for %s (%lu..%lu)", what, lo, hi);
    for (; *q; q++) {
        if (*q < '0' || *q > '9' || n > hi)
            return perr(ps, line, col, "bad number '%s' for %s (%lu..%lu)", v, what, lo, hi);
        n = n * 10 + (unsigned long)(*q - '0');
    }
    if (n < lo || n > hi)
        return perr(ps, line, col, "bad number '%s' for %s (%lu..%lu)", v, what, lo, hi);
    *out = n;
    return APR_SUCCESS;
}

static apr_status_t re_cleanup(void *data)
{
    pcre2_code_free(data);
    return APR_SUCCESS;
}

/* Splits a literal value into its lower-cased set members (commas separate when set is true). */
static apr_status_t make_lits(parser_t *ps, wsg_cond_t *c, const char *v, int set, unsigned line,
                              unsigned col)
{
    apr_array_header_t *a = apr_array_make(ps->rs->pool, 4, sizeof(wsg_lit_t));
    const char *s = v;
    for (;;) {
        const char *e = set ? strchr(s, ',') : NULL;
        apr_size_t len = e ? (apr_size_t)(e - s) : strlen(s);
        wsg_lit_t *l;
        char *d;
        apr_size_t i;
        if (len == 0 && (set || c->op != WSG_OP_EQ))
            return perr(ps, line, col + (unsigned)(s - v), "empty literal");
        l = apr_array_push(a);
        d = apr_palloc(ps->rs->pool, len + 1);
        for (i = 0; i < len; i++)
            d[i] = (char)wsg_lc[(unsigned char)s[i]];
        d[len] = '\0';
        l->s = d;
        l->len = len;
        if (!e)
            break;
        s = e + 1;
    }
    c->nlits = (unsigned)a->nelts;
    c->lits = (wsg_lit_t *)a->elts;
    return APR_SUCCESS;
}

static apr_status_t parse_cond(parser_t *ps, wsg_cond_t *c, const char *key, const char *v,
                               unsigned line, unsigned col, unsigned vcol)
{
    const char *k = key, *dot;
    size_t flen;
    int f, set = 0;
    const char *op;

    memset(c, 0, sizeof(*c));
    if (*k == '!') {
        c->neg = 1;
        k++;
    }
    else if (!strncmp(k, "not.", 4)) {
        c->neg = 1;
        k += 4;
    }
    dot = strchr(k, '.');
    flen = dot ? (size_t)(dot - k) : strlen(k);
    for (f = 0; f < WSG_F_N; f++)
        if (strlen(field_names[f]) == flen && !strncmp(field_names[f], k, flen))
            break;
    if (f == WSG_F_N)
        return perr(ps, line, col, "unknown key '%s'", key);
    c->field = (unsigned char)f;
    op = dot ? dot + 1 : "eq";
    if (!strcmp(op, "eq"))
        c->op = WSG_OP_EQ;
    else if (!strcmp(op, "in"))
        c->op = WSG_OP_EQ, set = 1;
    else if (!strcmp(op, "prefix"))
        c->op = WSG_OP_PREFIX;
    else if (!strcmp(op, "prefix-in"))
        c->op = WSG_OP_PREFIX, set = 1;
    else if (!strcmp(op, "suffix"))
        c->op = WSG_OP_SUFFIX;
    else if (!strcmp(op, "suffix-in"))
        c->op = WSG_OP_SUFFIX, set = 1;
    else if (!strcmp(op, "contains"))
        c->op = WSG_OP_CONTAINS;
    else if (!strcmp(op, "contains-in"))
        c->op = WSG_OP_CONTAINS, set = 1;
    else if (!strcmp(op, "re"))
        c->op = WSG_OP_RE;
    else
        return perr(ps, line, col + (unsigned)(op - key), "unknown operator '%s' in '%s'", op,
                    key);

    if (c->op == WSG_OP_RE) {
        int ec;
        PCRE2_SIZE eo;
        PCRE2_UCHAR buf[256];
        if (!*v)
            return perr(ps, line, vcol, "empty regex");
        c->re = pcre2_compile((PCRE2_SPTR)v, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &ec, &eo,
                              NULL);
        if (!c->re) {
            pcre2_get_error_message(ec, buf, sizeof(buf));
            return perr(ps, line, vcol + (unsigned)eo, "bad regex: %s at offset %lu",
                        (const char *)buf, (unsigned long)eo);
        }
        apr_pool_cleanup_register(ps->rs->pool, c->re, re_cleanup, apr_pool_cleanup_null);
        return APR_SUCCESS;
    }
    return make_lits(ps, c, v, set, line, vcol);
}

/* Reads one value at the cursor: quoted with \" and \\ escapes, or bare up to white space. */
static apr_status_t read_value(parser_t *ps, char **out)
{
    apr_size_t cap = 64, n = 0;
    char *buf = apr_palloc(ps->tmp, cap);
    unsigned line = ps->line, col = ps->col;
    int quoted = ps->p < ps->end && *ps->p == '"';

    if (quoted)
        adv(ps);
    for (;;) {
        char ch;
        if (ps->p >= ps->end || *ps->p == '\n') {
            if (quoted)
                return perr(ps, line, col, "unterminated quoted value");
            break;
        }
        ch = *ps->p;
        if (quoted) {
            if (ch == '"') {
                adv(ps);
                if (ps->p < ps->end && !is_space(*ps->p) && !at_continuation(ps))
                    return perr(ps, ps->line, ps->col, "expected white space after quoted value");
                break;
            }
            /* \" and \\ are escapes; any other backslash is kept, so regexes read naturally */
            if (ch == '\\' && ps->p + 1 < ps->end && (ps->p[1] == '"' || ps->p[1] == '\\')) {
                adv(ps);
                ch = *ps->p;
            }
        }
        else if (is_space(ch) || at_continuation(ps))
            break;
        if (n + 1 >= cap) {
            char *nb = apr_palloc(ps->tmp, cap * 2);
            memcpy(nb, buf, n);
            buf = nb;
            cap *= 2;
        }
        buf[n++] = ch;
        adv(ps);
    }
    buf[n] = '\0';
    *out = buf;
    return APR_SUCCESS;
}

static int valid_tag(const char *t)
{
    if (!*t)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '-' || *t == '_'))
            return 0;
    return 1;
}

/* Parses one logical line that is not blank or a comment. */
static apr_status_t parse_rule(parser_t *ps)
{
    wsg_ruleset_t *rs = ps->rs;
    unsigned line0 = ps->line, col0 = ps->col;
    wsg_rule_t *r = apr_pcalloc(rs->pool, sizeof(*r));
    apr_array_header_t *conds = apr_array_make(rs->pool, 4, sizeof(wsg_cond_t));
    int have_id = 0, have_score = 0;
    apr_status_t rv;

    r->info.file = ps->name;
    r->info.line = line0;
    while (!at_eol(ps)) {
        const char *ks = ps->p;
        unsigned kcol = ps->col, kline = ps->line, vcol;
        char *key, *val = NULL;

        while (ps->p < ps->end && *ps->p != '=' && !is_space(*ps->p) && !at_continuation(ps))
            adv(ps);
        key = apr_pstrmemdup(ps->tmp, ks, (apr_size_t)(ps->p - ks));
        if (ps->p >= ps->end || *ps->p != '=')
            return perr(ps, kline, kcol, "expected key=value, got '%s'", key);
        if (!*key)
            return perr(ps, kline, kcol, "missing key before '='");
        adv(ps);
        vcol = ps->col + (ps->p < ps->end && *ps->p == '"');
        if ((rv = read_value(ps, &val)) != APR_SUCCESS)
            return rv;

        if (!strcmp(key, "id")) {
            unsigned long n;
            wsg_rule_t *prev;
            if (have_id)
                return perr(ps, kline, kcol, "duplicate key 'id'");
            if ((rv = parse_uint(ps, val, kline, vcol, "id", 1, 2147483647UL, &n)))
                return rv;
            r->info.id = (unsigned)n;
            prev = apr_hash_get(rs->by_id, &r->info.id, sizeof(unsigned));
            if (prev)
                return perr(ps, kline, kcol, "duplicate id %u (first at %s:%u)", r->info.id,
                            prev->info.file, prev->info.line);
            have_id = 1;
        }
        else if (!strcmp(key, "score")) {
            unsigned long n;
            if (have_score)
                return perr(ps, kline, kcol, "duplicate key 'score'");
            if ((rv = parse_uint(ps, val, kline, vcol, "score", 0, 1000, &n)))
                return rv;
            r->info.score = (int)n;
            have_score = 1;
        }
        else if (!strcmp(key, "tag")) {
            if (r->info.tag)
                return perr(ps, kline, kcol, "duplicate key 'tag'");
            if (!valid_tag(val))
                return perr(ps, kline, vcol, "bad tag '%s' (a-z, 0-9, '-', '_')", val);
            r->info.tag = apr_pstrdup(rs->pool, val);
        }
        else if (!strcmp(key, "outcome")) {
            /* Generic shapes that real sites may also hold count only when the file is not
             * there: scanners get 404s, visitors of a real file do not. */
            if (!strcmp(val, "miss"))
                r->info.on_miss = 1;
            else if (strcmp(val, "any"))
                return perr(ps, kline, vcol, "bad outcome '%s' (any, miss)", val);
        }
        else if (!strcmp(key, "msg")) {
            if (r->info.msg)
                return perr(ps, kline, kcol, "duplicate key 'msg'");
            r->info.msg = apr_pstrdup(rs->pool, val);
        }
        else {
            wsg_cond_t *c = apr_array_push(conds);
            if ((rv = parse_cond(ps, c, key, val, kline, kcol, vcol)) != APR_SUCCESS)
                return rv;
        }
        skip_blank(ps);
    }
    if (!have_id)
        return perr(ps, line0, col0, "missing id");
    if (!have_score)
        return perr(ps, line0, col0, "missing score (rule %u)", r->info.id);
    if (!r->info.tag)
        return perr(ps, line0, col0, "missing tag (rule %u)", r->info.id);
    if (!r->info.msg)
        return perr(ps, line0, col0, "missing msg (rule %u)", r->info.id);
    if (conds->nelts == 0)
        return perr(ps, line0, col0, "rule %u has no condition", r->info.id);
    r->ncond = (unsigned)conds->nelts;
    r->cond = (wsg_cond_t *)conds->elts;
    r->anchor = -1;
    {
        unsigned *k = apr_pmemdup(rs->pool, &r->info.id, sizeof(unsigned));
        apr_hash_set(rs->by_id, k, sizeof(unsigned), r);
    }
    *(wsg_rule_t **)apr_array_push(rs->rules) = r;
    return APR_SUCCESS;
}

apr_status_t wsg_ruleset_create(apr_pool_t *p, wsg_ruleset_t **out)
{
    wsg_ruleset_t *rs = apr_pcalloc(p, sizeof(*rs));
    rs->pool = p;
    rs->rules = apr_array_make(p, 64, sizeof(wsg_rule_t *));
    rs->by_id = apr_hash_make(p);
    rs->sources = apr_array_make(p, 8, sizeof(wsg_rule_source_t));
    *out = rs;
    return APR_SUCCESS;
}

apr_status_t wsg_ruleset_load_string(wsg_ruleset_t *rs, const char *name, const char *text,
                                     apr_size_t len, const char **err)
{
    parser_t ps;
    apr_status_t rv = APR_SUCCESS;
    int nrules = rs->rules->nelts;

    memset(&ps, 0, sizeof(ps));
    ps.rs = rs;
    ps.name = apr_pstrdup(rs->pool, name);
    ps.p = text;
    ps.end = text + len;
    ps.line = 1;
    ps.col = 1;
    ps.err = err;
    if (rs->compiled)
        return perr(&ps, 1, 1, "ruleset already compiled");
    apr_pool_create(&ps.tmp, rs->pool);
    while (ps.p < ps.end) {
        skip_blank(&ps);
        if (ps.p >= ps.end)
            break;
        if (*ps.p == '\n') {
            adv(&ps);
            continue;
        }
        if (*ps.p == '#') {
            while (ps.p < ps.end && *ps.p != '\n')
                adv(&ps);
            continue;
        }
        if (memchr(ps.p, '\0', (size_t)(ps.end - ps.p)) == ps.p) {
            rv = perr(&ps, ps.line, ps.col, "NUL byte");
            break;
        }
        if ((rv = parse_rule(&ps)) != APR_SUCCESS)
            break;
    }
    if (rv != APR_SUCCESS) {
        /* Leave rs as it was before this file: a rejected file contributes nothing. */
        int i;
        for (i = nrules; i < rs->rules->nelts; i++) {
            wsg_rule_t *r = ((wsg_rule_t **)rs->rules->elts)[i];
            apr_hash_set(rs->by_id, &r->info.id, sizeof(unsigned), NULL);
        }
        rs->rules->nelts = nrules;
    }
    else {
        wsg_rule_source_t *src = apr_array_push(rs->sources);
        src->name = ps.name;
        src->text = apr_pstrmemdup(rs->pool, text, len);
        src->len = len;
    }
    apr_pool_destroy(ps.tmp);
    return rv;
}

const apr_array_header_t *wsg_ruleset_sources(const wsg_ruleset_t *rs)
{
    return rs->sources;
}

apr_status_t wsg_ruleset_load_file(wsg_ruleset_t *rs, const char *path, const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_pool_t *tmp;
    char *buf;
    apr_size_t n;
    char ebuf[128];

    apr_pool_create(&tmp, rs->pool);
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, tmp);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && fi.size > 64 * 1024 * 1024)
        rv = APR_FROM_OS_ERROR(EFBIG);
    if (rv == APR_SUCCESS) {
        n = (apr_size_t)fi.size;
        buf = apr_palloc(tmp, n + 1);
        rv = n ? apr_file_read_full(f, buf, n, &n) : APR_SUCCESS;
        buf[n] = '\0';
    }
    if (rv != APR_SUCCESS) {
        if (err)
            *err = apr_psprintf(rs->pool, "%s:0:0: cannot read: %s", path,
                                apr_strerror(rv, ebuf, sizeof(ebuf)));
        apr_pool_destroy(tmp);
        return rv;
    }
    apr_file_close(f);
    rv = wsg_ruleset_load_string(rs, path, buf, n, err);
    apr_pool_destroy(tmp);
    return rv;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

apr_status_t wsg_ruleset_load_path(wsg_ruleset_t *rs, const char *path_or_glob, const char **err)
{
    apr_finfo_t fi;
    apr_status_t rv;
    const char *pattern = path_or_glob;
    glob_t g;
    size_t i;
    int grc;

    if (strpbrk(path_or_glob, "*?[") == NULL) {
        rv = apr_stat(&fi, path_or_glob, APR_FINFO_TYPE, rs->pool);
        if (rv == APR_SUCCESS && fi.filetype != APR_DIR)
            return wsg_ruleset_load_file(rs, path_or_glob, err);
        if (rv != APR_SUCCESS) {
            char ebuf[128];
            if (err)
                *err = apr_psprintf(rs->pool, "%s:0:0: cannot read: %s", path_or_glob,
                                    apr_strerror(rv, ebuf, sizeof(ebuf)));
            return rv;
        }
        pattern = apr_pstrcat(rs->pool, path_or_glob,
                              path_or_glob[strlen(path_or_glob) - 1] == '/' ? "" : "/",
                              "*.rules", NULL);
    }
    memset(&g, 0, sizeof(g));
    grc = glob(pattern, 0, NULL, &g);
    if (grc != 0 || g.gl_pathc == 0) {
        if (err)
            *err = apr_psprintf(rs->pool, "%s:0:0: no rule files match", pattern);
        globfree(&g);
        return APR_ENOENT;
    }
    qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
    rv = APR_SUCCESS;
    for (i = 0; i < g.gl_pathc && rv == APR_SUCCESS; i++)
        rv = wsg_ruleset_load_file(rs, g.gl_pathv[i], err);
    globfree(&g);
    return rv;
}

unsigned wsg_ruleset_count(const wsg_ruleset_t *rs)
{
    return (unsigned)rs->rules->nelts;
}

const wsg_rule_info_t *wsg_ruleset_rule_at(const wsg_ruleset_t *rs, unsigned i)
{
    if (!rs || i >= (unsigned)rs->rules->nelts)
        return NULL;
    return &APR_ARRAY_IDX(rs->rules, i, wsg_rule_t *)->info;
}

const wsg_rule_info_t *wsg_ruleset_rule(const wsg_ruleset_t *rs, unsigned id)
{
    const wsg_rule_t *r = apr_hash_get(rs->by_id, &id, sizeof(unsigned));
    return r ? &r->info : NULL;
}
