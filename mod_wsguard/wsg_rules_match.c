/* wsg_rules_match: compiles a loaded ruleset into its match structures and matches requests.
 *
 * Every rule is indexed by one positive "anchor" condition, so a request only evaluates the few
 * rules whose anchor hit and the cost stays nearly flat in the number of rules:
 *  - eq / in       -> one open-addressing hash table of (field, literal) keys;
 *  - prefix/suffix -> the same table, keyed by (field, prefix); a request hashes its field once per
 *                     distinct literal length, incrementally;
 *  - contains      -> one Aho-Corasick automaton per field (reduced alphabet, dense DFA);
 *  - regex-only / negation-only rules are evaluated on every request (keep them few).
 * Before the index, a gate: most rules require an extension (ext.in=php,..., or a basename/path
 * literal that names one), so the set of extensions any rule requires is built at compile time
 * (looked up by the extension's bytes); a request whose extension is not in it (index.html) can
 * only match the few rules that require none, and one whose extension only a few rules require
 * (style.css, logo.png) those too: tested directly, each after a precheck. The ungated rules
 * with a literal on the path, directory, basename or extension share one automaton run once
 * over the path (each such literal occurs in the path when the rule can match), which says
 * which of them to test; the rest and the directly tested ones are prechecked one by one (a
 * length and the byte where the literals' bytes are rarest, or an automaton of a contains
 * list). Ungated rules on a path or directory prefix go into a trie instead, walked from the
 * path's first byte, so any number of them costs a few table loads. A clean page is so decided
 * in a few hundred instructions.
 * PCRE2 patterns are JIT-compiled here and matched with limits; match data is per thread and
 * created once. A request that matches nothing allocates nothing. */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <apr_strings.h>
#include "wsg_rules_int.h"

#define WSG_RE_MATCH_LIMIT 20000
#define WSG_RE_DEPTH_LIMIT 2000
#define WSG_MAX_ANCHOR_LEN 1024
#define WSG_LOCAL_MATCHES  64
#define WSG_GATE_MAX_UNGATED 64     /* more rules that require no extension (and have no path
                                     * prefix for the anchored trie): no gate (and at most
                                     * WSG_LOCAL_MATCHES, each listed once) */

/* Match data per thread, made on first use; a thread-specific key frees it when the thread ends
 * (event-MPM workers come and go). */
static __thread pcre2_match_data *tl_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t  md_key;

static void md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void md_key_init(void)
{
    (void)pthread_key_create(&md_key, md_free);
}

/* ---- request subjects ---------------------------------------------------------------------- */

typedef struct {
    const char *s[WSG_F_N];
    size_t      len[WSG_F_N];
    const wsg_req_t *req;
} subj_t;

static void subj_ua(subj_t *sj);

/* Whether p (the basename or the extension) points into the path, which is NUL-terminated at
 * path_len: then it ends there. */
static inline int in_path(const wsg_norm_t *n, const char *p)
{
    return p >= n->path && p <= n->path + n->path_len;
}

/* lazy_ua: leave the User-Agent for subj_ua (the gate may show no rule needs it). */
static void subj_init(subj_t *sj, const wsg_req_t *req, int lazy_ua)
{
    const wsg_norm_t *n = req->norm;
    memset(sj, 0, sizeof(*sj));
    sj->req = req;
    if (req->method) {
        const char *m = req->method;
        /* "GET": shorter than a call to strlen */
        size_t ml = m[0] == 'G' && m[1] == 'E' && m[2] == 'T' && !m[3] ? 3 : strlen(m);
        sj->s[WSG_F_METHOD] = m;
        sj->len[WSG_F_METHOD] = ml;
    }
    if (n && n->path) {
        sj->s[WSG_F_PATH] = n->path;
        sj->len[WSG_F_PATH] = n->path_len;
        sj->s[WSG_F_DIR] = n->path;
        if (n->basename && n->basename >= n->path && n->basename <= n->path + n->path_len)
            sj->len[WSG_F_DIR] = (size_t)(n->basename - n->path);
        else
            sj->len[WSG_F_DIR] = n->path_len;
        /* Both end where the path ends (no strlen) when they point into it. */
        if (n->basename) {
            sj->s[WSG_F_BASENAME] = n->basename;
            sj->len[WSG_F_BASENAME] = in_path(n, n->basename) ? (size_t)(n->path + n->path_len
                                                                         - n->basename)
                                                              : strlen(n->basename);
        }
        if (n->ext) {
            sj->s[WSG_F_EXT] = n->ext;
            sj->len[WSG_F_EXT] = in_path(n, n->ext) ? (size_t)(n->path + n->path_len - n->ext)
                                                    : strlen(n->ext);
        }
    }
    if (n && n->query) {
        sj->s[WSG_F_QUERY] = n->query;
        sj->len[WSG_F_QUERY] = strlen(n->query);
    }
    if (!lazy_ua)
        subj_ua(sj);
}

/* The User-Agent, from the request or, when it only gives a way to ask, asked now. */
static void subj_ua(subj_t *sj)
{
    const char *ua = sj->req->ua;

    if (!ua && sj->req->ua_fn)
        ua = sj->req->ua_fn(sj->req->ua_baton);
    if (ua) {
        sj->s[WSG_F_UA] = ua;
        sj->len[WSG_F_UA] = strlen(ua);
    }
}

/* Iterates parameter names of "a=1&b=2" style text: *pos advances; returns 0 at the end. */
static int next_arg(const char **pos, const char *end, const char **name, size_t *nlen)
{
    const char *p = *pos;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ne = eq ? eq : e;
        *pos = amp ? amp + 1 : end;
        if (ne > p) {
            *name = p;
            *nlen = (size_t)(ne - p);
            return 1;
        }
        p = *pos;
    }
    *pos = end;
    return 0;
}

/* ---- literal and regex tests --------------------------------------------------------------- */

static int ci_eq(const char *s, const char *lit, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (wsg_lc[(unsigned char)s[i]] != (unsigned char)lit[i])
            return 0;
    return 1;
}

static int ci_contains(const char *s, size_t slen, const wsg_lit_t *l)
{
    size_t i;
    unsigned char c0;
    if (l->len > slen)
        return 0;
    c0 = (unsigned char)l->s[0];
    for (i = 0; i + l->len <= slen; i++)
        if (wsg_lc[(unsigned char)s[i]] == c0 && ci_eq(s + i + 1, l->s + 1, l->len - 1))
            return 1;
    return 0;
}

static int re_test(const wsg_ruleset_t *rs, const wsg_cond_t *c, const char *s, size_t len)
{
    int rc;
    if (!tl_md) {
        tl_md = pcre2_match_data_create(1, NULL);
        if (!tl_md)
            return 0;
        pthread_once(&md_once, md_key_init);
        pthread_setspecific(md_key, tl_md);
    }
    if (c->jit)
        rc = pcre2_jit_match(c->re, (PCRE2_SPTR)s, len, 0, 0, tl_md, rs->mctx);
    else
        rc = pcre2_match(c->re, (PCRE2_SPTR)s, len, 0, 0, tl_md, rs->mctx);
    /* Errors (match limit, JIT stack) count as no match: a hostile path must not cost more. */
    return rc >= 0;
}

static int lit_test(const wsg_ruleset_t *rs, const wsg_cond_t *c, const char *s, size_t len)
{
    unsigned i;
    if (c->op == WSG_OP_RE)
        return re_test(rs, c, s, len);
    if (len < c->minlen)
        return 0;
    if (c->op != WSG_OP_CONTAINS) {
        unsigned char e = wsg_lc[(unsigned char)(c->op == WSG_OP_SUFFIX ? s[len - 1] : s[0])];
        if (len == 0 || !(c->edge[e >> 5] & (1u << (e & 31))))
            return 0;
    }
    for (i = 0; i < c->nlits; i++) {
        const wsg_lit_t *l = &c->lits[i];
        switch (c->op) {
        case WSG_OP_EQ:
            if (l->len == len && ci_eq(s, l->s, len))
                return 1;
            break;
        case WSG_OP_PREFIX:
            if (l->len <= len && ci_eq(s, l->s, l->len))
                return 1;
            break;
        case WSG_OP_SUFFIX:
            if (l->len <= len && ci_eq(s + len - l->len, l->s, l->len))
                return 1;
            break;
        case WSG_OP_CONTAINS:
            if (ci_contains(s, len, l))
                return 1;
            break;
        }
    }
    return 0;
}

static int args_test(const wsg_ruleset_t *rs, const wsg_cond_t *c, const subj_t *sj)
{
    const char *name, *pos;
    size_t nlen;
    if (sj->s[WSG_F_QUERY]) {
        pos = sj->s[WSG_F_QUERY];
        while (next_arg(&pos, pos + strlen(pos), &name, &nlen))
            if (lit_test(rs, c, name, nlen))
                return 1;
    }
    if (sj->req->body && sj->req->body_len) {
        const char *end = sj->req->body + sj->req->body_len;
        pos = sj->req->body;
        while (next_arg(&pos, end, &name, &nlen))
            if (lit_test(rs, c, name, nlen))
                return 1;
    }
    return 0;
}

static int cond_test(const wsg_ruleset_t *rs, const wsg_cond_t *c, const subj_t *sj)
{
    int hit;
    if (c->field == WSG_F_ARGS)
        hit = args_test(rs, c, sj);
    else if (!sj->s[c->field])
        hit = 0;
    else
        hit = lit_test(rs, c, sj->s[c->field], sj->len[c->field]);
    return c->neg ? !hit : hit;
}

/* skip: a condition already known to hold (the anchor that led here), or -1 */
static int rule_test(const wsg_ruleset_t *rs, const wsg_rule_t *r, const subj_t *sj, int skip)
{
    unsigned i;
    for (i = 0; i < r->ncond; i++)
        if ((int)i != skip && !cond_test(rs, &r->cond[i], sj))
            return 0;
    return 1;
}

/* ---- compile ------------------------------------------------------------------------------- */

static uint64_t hash_lit(const char *s, size_t len, unsigned kind, unsigned field)
{
    uint64_t h = WSG_FNV_INIT;
    size_t i;
    if (kind == WSG_K_SUFFIX)
        for (i = len; i-- > 0;)
            h = (h ^ wsg_lc[(unsigned char)s[i]]) * WSG_FNV_PRIME;
    else
        for (i = 0; i < len; i++)
            h = (h ^ wsg_lc[(unsigned char)s[i]]) * WSG_FNV_PRIME;
    return wsg_hash_fin(h, kind, field);
}

/* How selective a condition is as an anchor (0: cannot be one). */
static int anchor_quality(const wsg_cond_t *c)
{
    size_t minlen = (size_t)-1;
    unsigned i;
    if (c->neg || c->op == WSG_OP_RE || c->nlits == 0)
        return 0;
    for (i = 0; i < c->nlits; i++)
        if (c->lits[i].len < minlen)
            minlen = c->lits[i].len;
    if (c->field == WSG_F_ARGS)
        return c->op == WSG_OP_EQ ? 50 : 0;
    switch (c->op) {
    case WSG_OP_EQ:
        switch (c->field) {
        case WSG_F_PATH: case WSG_F_BASENAME: return 100;
        case WSG_F_DIR: return 70;
        case WSG_F_QUERY: case WSG_F_UA: return 60;
        case WSG_F_EXT: return 20;     /* most requests of a site share a few */
        default: return 10;
        }
    case WSG_OP_PREFIX:
    case WSG_OP_SUFFIX:
        if (minlen == 0 || minlen > WSG_MAX_ANCHOR_LEN)
            return 0;
        return 35 + (int)(minlen > 20 ? 20 : minlen);
    case WSG_OP_CONTAINS:
        if (minlen == 0)
            return 0;
        return 25 + (int)(minlen > 20 ? 20 : minlen);
    }
    return 0;
}

typedef struct { uint64_t h; uint32_t rule, lit; } kv_t;

/* Cheap tests first (exact, then prefix/suffix, then substring, regex last): a rule that fails
 * fails early. Insertion sort keeps the written order among equals. */
static int cond_cost(const wsg_cond_t *c)
{
    int cost = c->op == WSG_OP_EQ ? 0 : c->op == WSG_OP_RE ? 3 : c->op == WSG_OP_CONTAINS ? 2 : 1;
    return cost * 4 + (c->nlits > 8) + (c->field == WSG_F_ARGS) * 2;
}

static void sort_conds(wsg_rule_t *r)
{
    unsigned i, j;
    for (i = 1; i < r->ncond; i++) {
        wsg_cond_t c = r->cond[i];
        for (j = i; j > 0 && cond_cost(&r->cond[j - 1]) > cond_cost(&c); j--)
            r->cond[j] = r->cond[j - 1];
        r->cond[j] = c;
    }
}

static int cmp_kv(const void *a, const void *b)
{
    const kv_t *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void add_len(apr_pool_t *p, uint16_t **arr, unsigned *n, size_t len)
{
    unsigned i;
    uint16_t *na;
    for (i = 0; i < *n; i++)
        if ((*arr)[i] == len)
            return;
    na = apr_palloc(p, sizeof(uint16_t) * (*n + 1));
    if (*n)
        memcpy(na, *arr, sizeof(uint16_t) * *n);
    na[(*n)++] = (uint16_t)len;
    *arr = na;
}

typedef struct { const wsg_lit_t *lit; uint32_t rule; } aclit_t;

static wsg_ac_t *ac_build(apr_pool_t *p, const aclit_t *lits, unsigned n)
{
    wsg_ac_t *ac = apr_pcalloc(p, sizeof(*ac));
    size_t maxst = 1, i;
    unsigned k, c, nst = 1, qh = 0, qt = 0;
    int32_t *go, *fail;
    uint32_t *queue, *cnt;
    unsigned char used[256];

    memset(used, 0, sizeof(used));
    for (i = 0; i < n; i++) {
        size_t j;
        maxst += lits[i].lit->len;
        for (j = 0; j < lits[i].lit->len; j++)
            used[(unsigned char)lits[i].lit->s[j]] = 1;
    }
    k = 1;
    for (c = 0; c < 256; c++)
        if (used[c])
            ac->cls[c] = (unsigned char)(k++);  /* lower-case literals: at most 230 classes */
    for (c = 0; c < 256; c++)
        ac->cls[c] = ac->cls[wsg_lc[c]];        /* upper-case subject bytes share the class */
    ac->nclass = k;

    go = calloc(maxst * k, sizeof(int32_t));     /* trie: 0 = no edge (root is never a target) */
    fail = calloc(maxst, sizeof(int32_t));
    queue = calloc(maxst, sizeof(uint32_t));
    cnt = calloc(maxst + 1, sizeof(uint32_t));
    ac->delta = apr_pcalloc(p, maxst * k * sizeof(int32_t));
    ac->dict = apr_pcalloc(p, maxst * sizeof(int32_t));
    ac->out_start = apr_pcalloc(p, maxst * sizeof(uint32_t));
    ac->out_count = apr_pcalloc(p, maxst * sizeof(uint32_t));
    ac->outs = apr_pcalloc(p, (n ? n : 1) * sizeof(uint32_t));
    {
        uint32_t *term = malloc((n ? n : 1) * sizeof(uint32_t));
        for (i = 0; i < n; i++) {
            unsigned s = 0;
            size_t j;
            for (j = 0; j < lits[i].lit->len; j++) {
                unsigned cl = ac->cls[(unsigned char)lits[i].lit->s[j]];
                if (!go[s * k + cl])
                    go[s * k + cl] = (int32_t)nst++;
                s = (unsigned)go[s * k + cl];
            }
            term[i] = s;
            cnt[s]++;
        }
        /* outputs grouped by state */
        {
            uint32_t acc = 0;
            for (i = 0; i < nst; i++) {
                ac->out_start[i] = acc;
                acc += cnt[i];
                cnt[i] = 0;
            }
        }
        for (i = 0; i < n; i++) {
            unsigned s = term[i];
            ac->outs[ac->out_start[s] + cnt[s]++] = lits[i].rule;
        }
        for (i = 0; i < nst; i++)
            ac->out_count[i] = cnt[i];
        free(term);
    }
    /* BFS: failure links, the full DFA, and output (dictionary) links */
    for (c = 0; c < k; c++) {
        int32_t t = go[c];
        ac->delta[c] = t;
        if (t) {
            fail[t] = 0;
            queue[qt++] = (uint32_t)t;
        }
    }
    while (qh < qt) {
        unsigned s = queue[qh++];
        unsigned f = (unsigned)fail[s];
        ac->dict[s] = ac->out_count[f] ? (int32_t)f : ac->dict[f];
        for (c = 0; c < k; c++) {
            int32_t t = go[s * k + c];
            if (t) {
                fail[t] = ac->delta[f * k + c];
                ac->delta[s * k + c] = t;
                queue[qt++] = (uint32_t)t;
            }
            else
                ac->delta[s * k + c] = ac->delta[f * k + c];
        }
    }
    free(go);
    free(fail);
    free(queue);
    free(cnt);
    return ac;
}

/* The length and edge-byte prechecks of a literal condition (see wsg_cond_t). An empty literal
 * (which any subject holds) turns them off: minlen 0 and every edge byte allowed. */
static void cond_prepare(wsg_cond_t *c)
{
    unsigned i, b;

    c->minlen = (size_t)-1;
    memset(c->edge, 0, sizeof(c->edge));
    for (i = 0; i < c->nlits; i++) {
        const wsg_lit_t *l = &c->lits[i];
        if (l->len < c->minlen)
            c->minlen = l->len;
        if (l->len == 0) {
            memset(c->edge, 0xff, sizeof(c->edge));
            continue;
        }
        b = (unsigned char)(c->op == WSG_OP_SUFFIX ? l->s[l->len - 1] : l->s[0]);
        b = wsg_lc[b];
        c->edge[b >> 5] |= 1u << (b & 31);
    }
    if (c->nlits == 0)
        c->minlen = 0, memset(c->edge, 0xff, sizeof(c->edge));
    if (c->minlen == 0)
        memset(c->edge, 0xff, sizeof(c->edge));
}

/* ---- the gate ------------------------------------------------------------------------------ */

/* The extension a basename/path literal names (after the last '.' of its last segment), or
 * NULL when it names none (no dot there, or nothing after it). For a suffix literal the dot is
 * then inside it, so a request's extension is exactly that text. */
static const char *lit_ext(const wsg_lit_t *l, size_t *len)
{
    const char *s = l->s, *end = l->s + l->len, *q;

    for (q = end; q > s && q[-1] != '/'; q--)
        if (q[-1] == '.') {
            if (q == end)
                return NULL;
            *len = (size_t)(end - q);
            return q;
        }
    return NULL;
}

typedef struct wsg_gate_slot_t gate_slot_t;

typedef struct {
    apr_array_header_t *h;      /* gate_slot_t to insert */
    uint32_t            rule;   /* the rule whose extensions are pushed */
} gate_acc_t;

static void gate_push(gate_acc_t *g, const char *s, size_t len, int req, uint64_t excl)
{
    gate_slot_t *e = apr_array_push(g->h);
    memset(e, 0, sizeof(*e));
    e->h = hash_lit(s, len, WSG_K_EQ, WSG_F_EXT);
    e->s = s;
    e->len = len;
    e->req = req;
    e->excl = excl;
    e->rule = req ? g->rule : UINT32_MAX;
}

/* Whether condition c requires the request to have one of a set of extensions; with g, adds
 * them to it. */
static int cond_exts(const wsg_cond_t *c, gate_acc_t *g)
{
    unsigned i;
    size_t len = 0;

    if (c->neg || c->nlits == 0 || c->op == WSG_OP_RE)
        return 0;
    if (c->field == WSG_F_EXT && c->op == WSG_OP_EQ) {
        for (i = 0; g && i < c->nlits; i++)
            gate_push(g, c->lits[i].s, c->lits[i].len, 1, 0);
        return 1;
    }
    if ((c->field == WSG_F_BASENAME || c->field == WSG_F_PATH)
        && (c->op == WSG_OP_EQ || c->op == WSG_OP_SUFFIX)) {
        for (i = 0; i < c->nlits; i++)
            if (!lit_ext(&c->lits[i], &len))
                return 0;
        for (i = 0; g && i < c->nlits; i++) {
            const char *e = lit_ext(&c->lits[i], &len);
            gate_push(g, e, len, 1, 0);
        }
        return 1;
    }
    return 0;
}

/* How common a byte is in request paths (letters: English text, in tenths of a percent): the
 * precheck tests the position whose literal bytes are the rarest. */
static unsigned byte_weight(unsigned char b)
{
    static const unsigned short letters[26] = {
        82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10,
        24, 2, 20, 1 };
    b = wsg_lc[b];
    if (b >= 'a' && b <= 'z')
        return letters[b - 'a'];
    if (b >= '0' && b <= '9')
        return 30;
    if (b == '/' || b == '.' || b == '-' || b == '_')
        return 400;         /* in nearly every path */
    return 10;
}

/* PRE_EDGE for an eq/prefix/suffix condition: the position (< minlen, from the end for a
 * suffix) whose set of literal bytes weighs least. 0 when minlen is 0 (nothing to test). */
static int pre_edge(const wsg_cond_t *c, wsg_pre_t *pc, unsigned *weight)
{
    size_t pos, best = 0, lim = c->minlen > 64 ? 64 : c->minlen;
    unsigned bw = ~0u, i;

    if (c->minlen == 0 || c->minlen == (size_t)-1)
        return 0;
    for (pos = 0; pos < lim; pos++) {
        uint32_t set[8];
        unsigned w = 0, b;
        memset(set, 0, sizeof(set));
        for (i = 0; i < c->nlits; i++) {
            const wsg_lit_t *l = &c->lits[i];
            b = wsg_lc[(unsigned char)(c->op == WSG_OP_SUFFIX ? l->s[l->len - 1 - pos] : l->s[pos])];
            if (!(set[b >> 5] & (1u << (b & 31)))) {
                set[b >> 5] |= 1u << (b & 31);
                w += byte_weight((unsigned char)b);
            }
        }
        if (w < bw) {
            bw = w;
            best = pos;
            memcpy(pc->edge, set, sizeof(set));
        }
    }
    pc->kind = WSG_PRE_EDGE;
    pc->pos = best;
    pc->suffix = c->op == WSG_OP_SUFFIX;
    pc->minlen = c->minlen;
    *weight = bw;
    return 1;
}

/* PRE_AC for a contains condition: its literals' automaton with the class count folded into
 * the states and the accepting ones made negative. */
static int pre_ac(apr_pool_t *p, const wsg_cond_t *c, wsg_pre_t *pc)
{
    aclit_t *lits;
    const wsg_ac_t *ac;
    size_t maxst = 1, s, n;
    unsigned i, k, cl;
    int32_t *d;

    if (c->minlen == 0 || c->minlen == (size_t)-1)
        return 0;
    lits = apr_palloc(p, c->nlits * sizeof(*lits));
    for (i = 0; i < c->nlits; i++) {
        lits[i].lit = &c->lits[i];
        lits[i].rule = 0;
        maxst += c->lits[i].len;
    }
    ac = ac_build(p, lits, c->nlits);
    k = ac->nclass;
    n = maxst * k;
    d = apr_palloc(p, n * sizeof(*d));
    for (s = 0; s < maxst; s++)
        for (cl = 0; cl < k; cl++) {
            int32_t t = ac->delta[s * k + cl];
            int acc = ac->out_count[t] || ac->dict[t];
            d[s * k + cl] = acc ? -(t * (int32_t)k) - 1 : t * (int32_t)k;
        }
    pc->kind = WSG_PRE_AC;
    pc->cls = ac->cls;
    pc->delta = d;
    pc->minlen = c->minlen;
    return 1;
}

/* The precheck of a rule the gate leaves to be tested: the positive literal condition (not on
 * args; with no_ext, not on the extension the gate has matched) that rejects most cheaply: an
 * edge byte where the literals' bytes are rare, else a contains automaton, else an edge byte
 * however common. */
static void pre_choose(apr_pool_t *p, const wsg_rule_t *r, int no_ext, wsg_pre_t *pc)
{
    wsg_pre_t best, cand;
    unsigned j, bw = ~0u, w;
    int ac = -1;

    memset(&best, 0, sizeof(best));
    for (j = 0; j < r->ncond; j++) {
        const wsg_cond_t *c = &r->cond[j];
        if (c->neg || c->op == WSG_OP_RE || c->field == WSG_F_ARGS || c->nlits == 0)
            continue;
        /* no_ext: the gate has proved the extension already */
        if (no_ext && c->field == WSG_F_EXT)
            continue;
        if (c->op == WSG_OP_CONTAINS) {
            if (ac < 0)
                ac = (int)j;
            continue;
        }
        memset(&cand, 0, sizeof(cand));
        if (pre_edge(c, &cand, &w) && w < bw) {
            bw = w;
            best = cand;
            best.field = c->field;
            best.cidx = (int)j;
        }
    }
    /* An edge of common bytes ('/', '.') rejects little: the automaton does better. */
    if (ac >= 0 && (best.kind == WSG_PRE_NONE || bw >= 400)) {
        memset(&cand, 0, sizeof(cand));
        if (pre_ac(p, &r->cond[ac], &cand)) {
            best = cand;
            best.field = r->cond[ac].field;
            best.cidx = ac;
        }
    }
    *pc = best;
}

static inline int pre_ac_hit(const wsg_pre_t *pc, const char *v, size_t vl);

/* Whether the rule of precheck pc may match (then *skip is the condition it proved, or -1). */
static inline int pre_pass(const wsg_pre_t *pc, const subj_t *sj, int *skip)
{
    const char *v;
    size_t vl;

    *skip = -1;
    if (pc->kind == WSG_PRE_NONE)
        return 1;
    /* Most rules stop here: a length, one byte, or one pass of a table. */
    v = sj->s[pc->field];
    vl = sj->len[pc->field];
    if (!v || vl < pc->minlen)
        return 0;
    if (pc->kind == WSG_PRE_EDGE) {
        unsigned char e = wsg_lc[(unsigned char)v[pc->suffix ? vl - 1 - pc->pos : pc->pos]];
        return (pc->edge[e >> 5] & (1u << (e & 31))) != 0;
    }
    if (!pre_ac_hit(pc, v, vl))
        return 0;
    *skip = pc->cidx;           /* proven: the automaton is exact */
    return 1;
}

/* Runs a PRE_AC precheck over v: 1 when one of its literals occurs (the condition holds). */
static inline int pre_ac_hit(const wsg_pre_t *pc, const char *v, size_t vl)
{
    const unsigned char *b = (const unsigned char *)v, *end = b + vl;
    int32_t st = 0;

    while (b < end) {
        st = pc->delta[st + pc->cls[*b++]];
        if (st < 0)
            return 1;
    }
    return 0;
}

/* The path automaton of the gate (see wsg_ruleset_t.path_rules): per ungated rule, its
 * positive literal condition on a path field whose shortest literal is longest (at least 2
 * bytes: a one-byte literal such as "/" would be found in every path). */
static void build_path_gate(apr_pool_t *p, wsg_ruleset_t *rs)
{
    apr_array_header_t *lits = apr_array_make(p, 64, sizeof(aclit_t));
    const wsg_ac_t *ac;
    size_t maxst = 1, st, n;
    unsigned k, j, i, cl;
    int64_t *d;
    uint64_t *mask;

    rs->other = apr_palloc(p, (rs->nungated + 1) * sizeof(uint32_t));
    rs->nother = 0;
    for (k = 0; k < rs->nungated; k++) {
        const wsg_rule_t *r = rs->r[rs->ungated[k]];
        const wsg_cond_t *best = NULL;
        for (j = 0; j < r->ncond; j++) {
            const wsg_cond_t *c = &r->cond[j];
            if (c->neg || c->op == WSG_OP_RE || c->nlits == 0 || c->minlen < 2
                || c->minlen == (size_t)-1
                || (c->field != WSG_F_PATH && c->field != WSG_F_DIR
                    && c->field != WSG_F_BASENAME && c->field != WSG_F_EXT))
                continue;
            if (!best || c->minlen > best->minlen)
                best = c;
        }
        if (!best) {
            rs->other[rs->nother++] = k;
            continue;
        }
        rs->path_rules |= (uint64_t)1 << k;
        for (i = 0; i < best->nlits; i++) {
            aclit_t *a = apr_array_push(lits);
            a->lit = &best->lits[i];
            a->rule = k;
            maxst += best->lits[i].len;
        }
    }
    if (!rs->path_rules)
        return;
    ac = ac_build(p, (const aclit_t *)lits->elts, (unsigned)lits->nelts);
    k = ac->nclass;
    n = maxst * k;
    d = apr_palloc(p, n * sizeof(*d));
    mask = apr_pcalloc(p, maxst * sizeof(*mask));
    for (st = 0; st < maxst; st++) {
        int32_t t;
        /* the rules of the literals ending here, along the dictionary links */
        for (t = ac->out_count[st] ? (int32_t)st : ac->dict[st]; t; t = ac->dict[t]) {
            uint32_t o;
            for (o = 0; o < ac->out_count[t]; o++)
                mask[st] |= (uint64_t)1 << ac->outs[ac->out_start[t] + o];
        }
    }
    for (st = 0; st < maxst; st++)
        for (cl = 0; cl < k; cl++) {
            int64_t t = ac->delta[st * k + cl];
            d[st * k + cl] = mask[t] ? -(t * (int64_t)k) - 1 : t * (int64_t)k;
        }
    rs->path_cls = ac->cls;
    rs->path_delta = d;
    rs->path_mask = mask;
    rs->path_k = k;
}

/* The ungated rules (bits) whose path literals occur in the path. */
static inline uint64_t path_gate_hits(const wsg_ruleset_t *rs, const char *v, size_t vl)
{
    const unsigned char *b = (const unsigned char *)v, *end = b + vl;
    const int64_t *d = rs->path_delta;
    const unsigned char *cls = rs->path_cls;
    uint64_t hit = 0;
    int64_t st = 0;

    while (b < end) {
        st = d[st + cls[*b++]];
        if (__builtin_expect(st < 0, 0)) {
            st = -st - 1;
            hit |= rs->path_mask[st / (int64_t)rs->path_k];
        }
    }
    return hit;
}

/* The condition by which an ungated rule goes into the anchored trie: a positive prefix or eq
 * literal condition on the path or its directory (every literal of it then begins the path when
 * the rule matches), the longest at its shortest; NULL when it has none of at least 2 bytes. */
static const wsg_cond_t *anchor_cond(const wsg_rule_t *r)
{
    const wsg_cond_t *best = NULL;
    unsigned j;
    for (j = 0; j < r->ncond; j++) {
        const wsg_cond_t *c = &r->cond[j];
        if (c->neg || (c->op != WSG_OP_PREFIX && c->op != WSG_OP_EQ) || c->nlits == 0
            || c->minlen < 2 || c->minlen == (size_t)-1
            || (c->field != WSG_F_PATH && c->field != WSG_F_DIR))
            continue;
        if (!best || c->minlen > best->minlen)
            best = c;
    }
    return best;
}

/* The anchored trie (see wsg_ruleset_t.anch_go) of the rules in anch[]; 0 out of memory. */
static int build_anchor_gate(apr_pool_t *p, wsg_ruleset_t *rs, const apr_array_header_t *anch)
{
    unsigned char used[256], *cls = apr_pcalloc(p, 256);
    size_t maxst = 1;
    unsigned i, j, k = 1, c, nst = 1, nlit = 0;
    int32_t *go;
    uint32_t *start, *count, *rules, *term, *fill;
    uint32_t *lrule;

    memset(used, 0, sizeof(used));
    for (i = 0; i < (unsigned)anch->nelts; i++) {
        const wsg_cond_t *cd = anchor_cond(rs->r[APR_ARRAY_IDX(anch, i, uint32_t)]);
        for (j = 0; j < cd->nlits; j++) {
            size_t b;
            maxst += cd->lits[j].len;
            nlit++;
            for (b = 0; b < cd->lits[j].len; b++)
                used[wsg_lc[(unsigned char)cd->lits[j].s[b]]] = 1;
        }
    }
    for (c = 0; c < 256; c++)
        if (used[c])
            cls[c] = (unsigned char)(k++);
    for (c = 0; c < 256; c++)
        cls[c] = cls[wsg_lc[c]];
    go = apr_pcalloc(p, maxst * k * sizeof(int32_t));
    count = apr_pcalloc(p, (maxst + 1) * sizeof(uint32_t));
    start = apr_pcalloc(p, (maxst + 1) * sizeof(uint32_t));
    rules = apr_palloc(p, (nlit ? nlit : 1) * sizeof(uint32_t));
    term = malloc((nlit ? nlit : 1) * sizeof(uint32_t));
    lrule = malloc((nlit ? nlit : 1) * sizeof(uint32_t));
    fill = calloc(maxst + 1, sizeof(uint32_t));
    if (!term || !lrule || !fill) {
        free(term);
        free(lrule);
        free(fill);
        return 0;
    }
    nlit = 0;
    for (i = 0; i < (unsigned)anch->nelts; i++) {
        uint32_t ri = APR_ARRAY_IDX(anch, i, uint32_t);
        const wsg_cond_t *cd = anchor_cond(rs->r[ri]);
        for (j = 0; j < cd->nlits; j++) {
            unsigned st = 0;
            size_t b;
            for (b = 0; b < cd->lits[j].len; b++) {
                unsigned cl = cls[(unsigned char)cd->lits[j].s[b]];
                if (!go[st * k + cl])
                    go[st * k + cl] = (int32_t)nst++;
                st = (unsigned)go[st * k + cl];
            }
            term[nlit] = st;
            lrule[nlit++] = ri;
            count[st]++;
        }
    }
    for (i = 1; i < nst; i++)
        start[i] = start[i - 1] + count[i - 1];
    for (i = 0; i < nlit; i++)
        rules[start[term[i]] + fill[term[i]]++] = lrule[i];
    free(term);
    free(lrule);
    free(fill);
    rs->anch_go = go;
    rs->anch_cls = cls;
    rs->anch_k = k;
    rs->anch_start = start;
    rs->anch_count = count;
    rs->anch_rules = rules;
    rs->anch_n = (unsigned)anch->nelts;
    return 1;
}

static void build_gate8(apr_pool_t *p, wsg_ruleset_t *rs);

#define WSG_DIRECT_MAX 8     /* rules requiring one extension tested directly, at most */

/* The gate slot of an extension pushed as e (it is there: build_gate put it). */
static gate_slot_t *slot_of_entry(wsg_ruleset_t *rs, const gate_slot_t *e)
{
    uint32_t pos;

    for (pos = (uint32_t)e->h & rs->gate_mask; rs->gate_ext[pos].h; pos = (pos + 1) & rs->gate_mask)
        if (rs->gate_ext[pos].h == e->h && rs->gate_ext[pos].len == e->len
            && !memcmp(rs->gate_ext[pos].s, e->s, e->len))
            return &rs->gate_ext[pos];
    return NULL;
}

/* Per slot, the rules that require its extension, with their prechecks, when there are at most
 * WSG_DIRECT_MAX of them (a site's css, js and images: one or two rules each); else none, and
 * the index decides as before. */
static void build_direct(apr_pool_t *p, wsg_ruleset_t *rs, const apr_array_header_t *entries)
{
    unsigned i, j;

    for (i = 0; i <= rs->gate_mask; i++) {
        gate_slot_t *sl = &rs->gate_ext[i];
        if (!sl->h)
            continue;
        if (sl->ndirect > WSG_DIRECT_MAX * 4) {     /* with repeats: surely too many */
            sl->ndirect = 0;
            continue;
        }
        sl->direct = apr_pcalloc(p, (sl->ndirect + 1) * sizeof(uint32_t));
        sl->ndirect = 0;
    }
    for (i = 0; i < (unsigned)entries->nelts; i++) {
        const gate_slot_t *e = &APR_ARRAY_IDX(entries, i, gate_slot_t);
        gate_slot_t *sl;
        uint32_t *list;
        if (e->rule == UINT32_MAX || !(sl = slot_of_entry(rs, e)) || !sl->direct)
            continue;
        list = (uint32_t *)sl->direct;
        for (j = 0; j < sl->ndirect && list[j] != e->rule; j++)
            ;
        if (j == sl->ndirect)
            list[sl->ndirect++] = e->rule;
    }
    for (i = 0; i <= rs->gate_mask; i++) {
        gate_slot_t *sl = &rs->gate_ext[i];
        wsg_pre_t *pre;
        if (!sl->h || !sl->direct)
            continue;
        if (sl->ndirect > WSG_DIRECT_MAX || !sl->ndirect) {
            sl->direct = NULL;
            sl->ndirect = 0;
            continue;
        }
        pre = apr_pcalloc(p, sl->ndirect * sizeof(*pre));
        for (j = 0; j < sl->ndirect; j++) {
            const wsg_rule_t *r = rs->r[sl->direct[j]];
            unsigned c;
            pre_choose(p, r, 1, &pre[j]);
            for (c = 0; c < r->ncond; c++)
                if (r->cond[c].field == WSG_F_UA)
                    sl->direct_ua = 1;
        }
        sl->dpre = pre;
    }
}

static apr_status_t build_gate(apr_pool_t *p, wsg_ruleset_t *rs)
{
    apr_array_header_t *ung = apr_array_make(p, 8, sizeof(uint32_t));
    apr_array_header_t *anch = apr_array_make(p, 8, sizeof(uint32_t));
    gate_acc_t g;
    unsigned i, j, k, nslots;

    g.h = apr_array_make(p, 64, sizeof(gate_slot_t));
    for (i = 0; i < rs->n; i++) {
        const wsg_rule_t *r = rs->r[i];
        int best = -1;
        /* The condition with the fewest extensions gates the rule. */
        for (j = 0; j < r->ncond; j++)
            if (cond_exts(&r->cond[j], NULL)
                && (best < 0 || r->cond[j].nlits < r->cond[best].nlits))
                best = (int)j;
        if (best < 0)
            *(uint32_t *)apr_array_push(anchor_cond(r) ? anch : ung) = i;
        else {
            g.rule = i;
            cond_exts(&r->cond[best], &g);
        }
    }
    rs->gate_on = ung->nelts <= WSG_GATE_MAX_UNGATED;
    if (!rs->gate_on)
        return APR_SUCCESS;
    /* The extensions an ungated rule excludes (!ext.in=html,css,...): not tested for those. */
    for (k = 0; k < (unsigned)ung->nelts; k++) {
        const wsg_rule_t *r = rs->r[APR_ARRAY_IDX(ung, k, uint32_t)];
        for (j = 0; j < r->ncond; j++) {
            const wsg_cond_t *c = &r->cond[j];
            if (c->neg && c->field == WSG_F_EXT && c->op == WSG_OP_EQ)
                for (i = 0; i < c->nlits; i++)
                    gate_push(&g, c->lits[i].s, c->lits[i].len, 0, (uint64_t)1 << k);
        }
    }
    for (nslots = 16; nslots < (unsigned)g.h->nelts * 2; nslots <<= 1)
        ;
    rs->gate_ext = apr_pcalloc(p, nslots * sizeof(gate_slot_t));
    rs->gate_mask = nslots - 1;
    for (i = 0; i < (unsigned)g.h->nelts; i++) {
        const gate_slot_t *e = &APR_ARRAY_IDX(g.h, i, gate_slot_t);
        gate_slot_t *sl;
        uint32_t pos;
        /* One slot per distinct extension (hash and text). */
        for (pos = (uint32_t)e->h & rs->gate_mask; rs->gate_ext[pos].h;
             pos = (pos + 1) & rs->gate_mask)
            if (rs->gate_ext[pos].h == e->h && rs->gate_ext[pos].len == e->len
                && !memcmp(rs->gate_ext[pos].s, e->s, e->len))
                break;
        sl = &rs->gate_ext[pos];
        if (!sl->h)
            *sl = *e;
        else {
            sl->req |= e->req;
            sl->excl |= e->excl;
        }
        if (e->rule != UINT32_MAX)
            sl->ndirect++;          /* counted now (with repeats), listed below */
    }
    build_direct(p, rs, g.h);
    rs->ungated = (uint32_t *)ung->elts;
    rs->nungated = (unsigned)ung->nelts;
    build_path_gate(p, rs);
    if (anch->nelts && !build_anchor_gate(p, rs, anch)) {
        rs->gate_on = 0;    /* the index alone is as exact */
        return APR_SUCCESS;
    }
    build_gate8(p, rs);
    {
        wsg_pre_t *pre = apr_pcalloc(p, (rs->nungated + 1) * sizeof(*pre));
        for (k = 0; k < rs->nungated; k++) {
            const wsg_rule_t *r = rs->r[rs->ungated[k]];
            pre_choose(p, r, 0, &pre[k]);
            for (j = 0; j < r->ncond; j++)
                if (r->cond[j].field == WSG_F_UA)
                    rs->ungated_ua = 1;
        }
        for (k = 0; k < (unsigned)anch->nelts; k++) {
            const wsg_rule_t *r = rs->r[APR_ARRAY_IDX(anch, k, uint32_t)];
            for (j = 0; j < r->ncond; j++)
                if (r->cond[j].field == WSG_F_UA)
                    rs->ungated_ua = 1;
        }
        rs->ungated_pre = pre;
    }
    return APR_SUCCESS;
}

/* The gate's slot of this extension, or NULL when no rule requires or excludes it. A hash
 * collision with a different extension gives a slot whose rules are not this extension's: the
 * caller treats a slot whose text differs as "ask the index". */
/* An extension of at most 8 bytes as gate8 bytes: lower-case, little-endian. */
static inline uint64_t gate8_bytes(const char *ext, size_t len)
{
    uint64_t k = 0;
    const unsigned char *e = (const unsigned char *)ext;

    /* from the last byte down: one shift per byte, no variable shift */
    while (len--)
        k = (k << 8) | wsg_lc[e[len]];
    return k;
}

static inline uint32_t gate8_pos(const wsg_ruleset_t *rs, uint64_t k, size_t len)
{
    return (uint32_t)(((k ^ (uint64_t)len * 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL)
                      >> rs->gate8_shift);
}

static void build_gate8(apr_pool_t *p, wsg_ruleset_t *rs)
{
    unsigned n = 0, i, l = 4;
    uint32_t pos;

    for (i = 0; i <= rs->gate_mask; i++)
        if (rs->gate_ext[i].h && rs->gate_ext[i].len <= 8)
            n++;
    while ((1u << l) < 2 * n)
        l++;
    rs->gate8 = apr_pcalloc(p, ((size_t)1 << l) * sizeof(*rs->gate8));
    rs->gate8_shift = 64 - l;
    for (i = 0; i <= rs->gate_mask; i++) {
        const gate_slot_t *sl = &rs->gate_ext[i];
        uint64_t k;
        if (!sl->h || sl->len > 8)
            continue;
        k = gate8_bytes(sl->s, sl->len);
        for (pos = gate8_pos(rs, k, sl->len); rs->gate8[pos].sl; pos = (pos + 1) & ((1u << l) - 1))
            ;
        rs->gate8[pos].bytes = k;
        rs->gate8[pos].len = sl->len;
        rs->gate8[pos].sl = sl;
    }
}

/* gate_find for a short extension: its slot (exact: bytes and length), or NULL. */
static inline const gate_slot_t *gate8_find(const wsg_ruleset_t *rs, const char *ext, size_t len)
{
    uint64_t k = gate8_bytes(ext, len);
    uint32_t mask = (uint32_t)((((uint64_t)1) << (64 - rs->gate8_shift)) - 1), pos;

    for (pos = gate8_pos(rs, k, len); rs->gate8[pos].sl; pos = (pos + 1) & mask)
        if (rs->gate8[pos].bytes == k && rs->gate8[pos].len == len)
            return rs->gate8[pos].sl;
    return NULL;
}

static const gate_slot_t *gate_find(const wsg_ruleset_t *rs, const char *ext, size_t len)
{
    uint64_t h = hash_lit(ext, len, WSG_K_EQ, WSG_F_EXT);
    uint32_t pos;

    for (pos = (uint32_t)h & rs->gate_mask; rs->gate_ext[pos].h; pos = (pos + 1) & rs->gate_mask)
        if (rs->gate_ext[pos].h == h)
            return &rs->gate_ext[pos];
    return NULL;
}

static apr_status_t mctx_cleanup(void *data)
{
    pcre2_match_context_free(data);
    return APR_SUCCESS;
}

apr_status_t wsg_ruleset_compile(wsg_ruleset_t *rs, const char **err)
{
    apr_pool_t *p = rs->pool;
    unsigned i, j, f, nkv = 0, nslots;
    kv_t *kv;
    apr_array_header_t *aclits[WSG_F_N];
    apr_array_header_t *always = apr_array_make(p, 8, sizeof(uint32_t));

    if (rs->compiled) {
        if (err)
            *err = "ruleset already compiled";
        return APR_EGENERAL;
    }
    rs->n = (unsigned)rs->rules->nelts;
    rs->r = (wsg_rule_t **)rs->rules->elts;
    rs->mctx = pcre2_match_context_create(NULL);
    if (!rs->mctx) {
        if (err)
            *err = "out of memory (pcre2 match context)";
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, rs->mctx, mctx_cleanup, apr_pool_cleanup_null);
    pcre2_set_match_limit(rs->mctx, WSG_RE_MATCH_LIMIT);
    pcre2_set_depth_limit(rs->mctx, WSG_RE_DEPTH_LIMIT);

    for (f = 0; f < WSG_F_N; f++)
        aclits[f] = apr_array_make(p, 4, sizeof(aclit_t));
    /* count keys */
    for (i = 0; i < rs->n; i++) {
        wsg_rule_t *r = rs->r[i];
        int best = 0;
        sort_conds(r);
        r->anchor = -1;
        for (j = 0; j < r->ncond; j++) {
            wsg_cond_t *c = &r->cond[j];
            int q = anchor_quality(c);
            if (c->op == WSG_OP_RE)
                c->jit = pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE) == 0;
            else
                cond_prepare(c);
            if (q > best) {
                best = q;
                r->anchor = (int)j;
            }
        }
        if (r->anchor < 0)
            *(uint32_t *)apr_array_push(always) = i;
        else if (r->cond[r->anchor].op != WSG_OP_CONTAINS)
            nkv += r->cond[r->anchor].nlits;
    }
    kv = malloc((nkv ? nkv : 1) * sizeof(kv_t));
    nkv = 0;
    for (i = 0; i < rs->n; i++) {
        wsg_rule_t *r = rs->r[i];
        wsg_cond_t *c;
        unsigned kind;
        if (r->anchor < 0)
            continue;
        c = &r->cond[r->anchor];
        if (c->op == WSG_OP_CONTAINS) {
            for (j = 0; j < c->nlits; j++) {
                aclit_t *a = apr_array_push(aclits[c->field]);
                a->lit = &c->lits[j];
                a->rule = i;
            }
            continue;
        }
        kind = c->op == WSG_OP_EQ ? WSG_K_EQ : c->op == WSG_OP_PREFIX ? WSG_K_PREFIX
                                                                      : WSG_K_SUFFIX;
        for (j = 0; j < c->nlits; j++) {
            kv[nkv].h = hash_lit(c->lits[j].s, c->lits[j].len, kind, c->field);
            kv[nkv].rule = i;
            kv[nkv].lit = j;
            nkv++;
            if (kind == WSG_K_EQ)
                rs->eq_fields |= 1u << c->field;
            else if (kind == WSG_K_PREFIX)
                add_len(p, &rs->plens[c->field], &rs->nplens[c->field], c->lits[j].len);
            else
                add_len(p, &rs->slens[c->field], &rs->nslens[c->field], c->lits[j].len);
        }
    }
    for (f = 0; f < WSG_F_N; f++) {
        if (rs->nplens[f])
            qsort(rs->plens[f], rs->nplens[f], sizeof(uint16_t), cmp_u16);
        if (rs->nslens[f])
            qsort(rs->slens[f], rs->nslens[f], sizeof(uint16_t), cmp_u16);
        if (aclits[f]->nelts)
            rs->ac[f] = ac_build(p, (aclit_t *)aclits[f]->elts, (unsigned)aclits[f]->nelts);
    }
    /* hash table: sorted keys grouped, then open addressing at load <= 50% */
    qsort(kv, nkv, sizeof(kv_t), cmp_kv);
    rs->postings = apr_palloc(p, (nkv ? nkv : 1) * sizeof(uint32_t));
    rs->post_lit = apr_palloc(p, (nkv ? nkv : 1) * sizeof(uint32_t));
    for (nslots = 16; nslots < nkv * 2; nslots <<= 1)
        ;
    rs->slots = apr_pcalloc(p, nslots * sizeof(wsg_slot_t));
    rs->mask = nslots - 1;
    {
        unsigned np = 0;
        for (i = 0; i < nkv;) {
            uint32_t pos;
            unsigned start = np;
            uint64_t h = kv[i].h;
            for (; i < nkv && kv[i].h == h; i++) {
                rs->postings[np] = kv[i].rule;
                rs->post_lit[np++] = kv[i].lit;
            }
            for (pos = (uint32_t)h & rs->mask; rs->slots[pos].h; pos = (pos + 1) & rs->mask)
                ;
            rs->slots[pos].h = h;
            rs->slots[pos].start = start;
            rs->slots[pos].count = np - start;
        }
    }
    free(kv);
    rs->always = (uint32_t *)always->elts;
    rs->nalways = (unsigned)always->nelts;
    rs->compiled = 1;
    if (build_gate(p, rs) != APR_SUCCESS)
        rs->gate_on = 0;    /* cannot happen short of memory; the index alone is as exact */
    return APR_SUCCESS;
}

/* ---- match --------------------------------------------------------------------------------- */

typedef struct {
    const wsg_ruleset_t *rs;
    const subj_t *sj;
    uint32_t m[WSG_LOCAL_MATCHES];
    unsigned nm;
    int extra;          /* matches beyond the local array (counted, not listed) */
} mstate_t;

static void visit(mstate_t *ms, uint32_t ri, int skip)
{
    unsigned i;
    for (i = 0; i < ms->nm; i++)
        if (ms->m[i] == ri)
            return;
    if (!rule_test(ms->rs, ms->rs->r[ri], ms->sj, skip))
        return;
    if (ms->nm < WSG_LOCAL_MATCHES)
        ms->m[ms->nm++] = ri;
    else
        ms->extra++;
}

/* s/len: the exact text whose hash is h (whole field, prefix or suffix): each posting's literal
 * is compared with it, so the anchor is proven and need not be tested again. */
static void lookup(mstate_t *ms, uint64_t h, const char *s, size_t len)
{
    const wsg_ruleset_t *rs = ms->rs;
    uint32_t pos, i;
    for (pos = (uint32_t)h & rs->mask; rs->slots[pos].h; pos = (pos + 1) & rs->mask)
        if (rs->slots[pos].h == h) {
            for (i = 0; i < rs->slots[pos].count; i++) {
                uint32_t ri = rs->postings[rs->slots[pos].start + i];
                const wsg_rule_t *r = rs->r[ri];
                const wsg_lit_t *l = &r->cond[r->anchor].lits[rs->post_lit[rs->slots[pos].start + i]];
                if (l->len == len && ci_eq(s, l->s, len))
                    visit(ms, ri, r->anchor);
            }
            return;
        }
}

static void scan_field(mstate_t *ms, unsigned f, const char *s, size_t len)
{
    const wsg_ruleset_t *rs = ms->rs;
    if (rs->eq_fields & (1u << f))
        lookup(ms, hash_lit(s, len, WSG_K_EQ, f), s, len);
    if (rs->nplens[f]) {
        uint64_t h = WSG_FNV_INIT;
        size_t i = 0;
        unsigned li;
        for (li = 0; li < rs->nplens[f] && rs->plens[f][li] <= len; li++) {
            for (; i < rs->plens[f][li]; i++)
                h = (h ^ wsg_lc[(unsigned char)s[i]]) * WSG_FNV_PRIME;
            lookup(ms, wsg_hash_fin(h, WSG_K_PREFIX, f), s, i);
        }
    }
    if (rs->nslens[f]) {
        uint64_t h = WSG_FNV_INIT;
        size_t i = 0;
        unsigned li;
        for (li = 0; li < rs->nslens[f] && rs->slens[f][li] <= len; li++) {
            for (; i < rs->slens[f][li]; i++)
                h = (h ^ wsg_lc[(unsigned char)s[len - 1 - i]]) * WSG_FNV_PRIME;
            lookup(ms, wsg_hash_fin(h, WSG_K_SUFFIX, f), s + len - i, i);
        }
    }
    if (rs->ac[f]) {
        const wsg_ac_t *ac = rs->ac[f];
        unsigned k = ac->nclass;
        int32_t st = 0;
        size_t i;
        for (i = 0; i < len; i++) {
            int32_t t;
            st = ac->delta[(size_t)st * k + ac->cls[(unsigned char)s[i]]];
            for (t = ac->out_count[st] ? st : ac->dict[st]; t; t = ac->dict[t]) {
                uint32_t o;
                for (o = 0; o < ac->out_count[t]; o++)
                    visit(ms, ac->outs[ac->out_start[t] + o], rs->r[ac->outs[ac->out_start[t] + o]]->anchor);
            }
        }
    }
}

static int cmp_match(const void *a, const void *b, const wsg_ruleset_t *rs)
{
    unsigned x = rs->r[*(const uint32_t *)a]->info.id, y = rs->r[*(const uint32_t *)b]->info.id;
    return x < y ? -1 : x > y;
}

/* Every field of one view of the request; matches gather in ms. */
static void scan_subject(mstate_t *ms, const subj_t *sj, const wsg_req_t *req)
{
    const wsg_ruleset_t *rs = ms->rs;
    unsigned f, i;

    for (f = 0; f < WSG_F_N; f++) {
        if (f == WSG_F_ARGS || !sj->s[f])
            continue;
        scan_field(ms, f, sj->s[f], sj->len[f]);
    }
    if (rs->eq_fields & (1u << WSG_F_ARGS)) {
        const char *name, *pos;
        size_t nlen;
        if (sj->s[WSG_F_QUERY]) {
            pos = sj->s[WSG_F_QUERY];
            while (next_arg(&pos, sj->s[WSG_F_QUERY] + sj->len[WSG_F_QUERY], &name, &nlen))
                lookup(ms, hash_lit(name, nlen, WSG_K_EQ, WSG_F_ARGS), name, nlen);
        }
        if (req->body && req->body_len) {
            pos = req->body;
            while (next_arg(&pos, req->body + req->body_len, &name, &nlen))
                lookup(ms, hash_lit(name, nlen, WSG_K_EQ, WSG_F_ARGS), name, nlen);
        }
    }
    for (i = 0; i < rs->nalways; i++)
        visit(ms, rs->always[i], -1);
}

int wsg_ruleset_match(const wsg_ruleset_t *rs, const wsg_req_t *req, wsg_match_t *out)
{
    mstate_t ms;
    subj_t sj;
    unsigned i, u;
    /* "/x.php/a/b": the rules see the script and the whole path; the gate judges one view only. */
    int pathinfo = req && req->norm && req->norm->full && req->norm->full != req->norm->path;

    memset(out, 0, sizeof(*out));
    if (!rs->compiled || !req)
        return 0;
    subj_init(&sj, req, rs->gate_on);
    ms.rs = rs;
    ms.sj = &sj;
    ms.nm = 0;
    ms.extra = 0;
    if (rs->gate_on && !pathinfo) {
        const char *ext = sj.s[WSG_F_EXT] ? sj.s[WSG_F_EXT] : "";
        size_t elen = sj.s[WSG_F_EXT] ? sj.len[WSG_F_EXT] : 0;
        const gate_slot_t *sl = elen <= 8 ? gate8_find(rs, ext, elen) : gate_find(rs, ext, elen);
        int exact = sl && (elen <= 8 || (sl->len == elen && ci_eq(ext, sl->s, elen)));

        if (!sl || (exact && (!sl->req || sl->ndirect))) {
            /* No rule that requires an extension can match (or only the few that require this
             * one, tested directly): only those that require none and do not exclude this one,
             * each rejected by its cheapest condition (length, edge byte, one automaton). (A
             * rule list per extension tested with literal tests only was tried: slower than the
             * index as soon as a rule has a long contains list; the automaton prechecks fix
             * that.) */
            uint64_t excl = exact ? sl->excl : 0;
            if (rs->ungated_ua || (exact && sl->direct_ua))
                subj_ua(&sj);
            /* Rules on the path: one pass of the automaton says which can match. */
            if (rs->path_rules && sj.s[WSG_F_PATH]) {
                uint64_t hit = path_gate_hits(rs, sj.s[WSG_F_PATH], sj.len[WSG_F_PATH]) & ~excl;
                while (hit) {
                    unsigned b = (unsigned)__builtin_ctzll(hit);
                    hit &= hit - 1;
                    if (rule_test(rs, rs->r[rs->ungated[b]], &sj, -1))
                        ms.m[ms.nm++] = rs->ungated[b];
                }
            }
            /* Rules on a path prefix: the trie walked from the path's start. */
            if (rs->anch_n && sj.s[WSG_F_PATH]) {
                const unsigned char *b = (const unsigned char *)sj.s[WSG_F_PATH];
                const unsigned char *end = b + sj.len[WSG_F_PATH];
                unsigned st = 0;
                while (b < end && (st = (unsigned)rs->anch_go[st * rs->anch_k
                                                              + rs->anch_cls[*b++]]) != 0) {
                    uint32_t o;
                    for (o = 0; o < rs->anch_count[st]; o++)
                        visit(&ms, rs->anch_rules[rs->anch_start[st] + o], -1);
                }
            }
            for (u = 0; u < rs->nother; u++) {
                int skip;
                i = rs->other[u];
                if (excl & ((uint64_t)1 << i))
                    continue;
                if (pre_pass(&rs->ungated_pre[i], &sj, &skip)
                    && rule_test(rs, rs->r[rs->ungated[i]], &sj, skip)) {
                    if (ms.nm < WSG_LOCAL_MATCHES)  /* the trie's rules may be there too */
                        ms.m[ms.nm++] = rs->ungated[i];
                    else
                        ms.extra++;
                }
            }
            for (u = 0; exact && u < sl->ndirect; u++) {
                int skip;
                if (pre_pass(&sl->dpre[u], &sj, &skip)
                    && rule_test(rs, rs->r[sl->direct[u]], &sj, skip)) {
                    if (ms.nm < WSG_LOCAL_MATCHES)
                        ms.m[ms.nm++] = sl->direct[u];
                    else
                        ms.extra++;
                }
            }
            goto matched;
        }
    }
    if (rs->gate_on)
        subj_ua(&sj);
    scan_subject(&ms, &sj, req);
    /* "/x.php/a/b": the rules see the script httpd runs, and the whole path too (a shell name
     * in the path-info is still a probe). Same dedup: a rule counts once. */
    if (pathinfo) {
        wsg_norm_t whole = *req->norm;
        wsg_req_t wreq = *req;
        subj_t wsj;

        whole.path = whole.full;
        whole.path_len = whole.full_len;
        whole.basename = strrchr(whole.full, '/') + 1;
        whole.ext = strrchr(whole.basename, '.');
        whole.ext = whole.ext ? whole.ext + 1 : whole.full + whole.full_len;
        wreq.norm = &whole;
        subj_init(&wsj, &wreq, 0);
        ms.sj = &wsj;
        scan_subject(&ms, &wsj, &wreq);
    }

matched:
    if (!ms.nm)
        return 0;
    /* insertion sort by id: a handful of matches */
    for (i = 1; i < ms.nm; i++) {
        uint32_t v = ms.m[i];
        unsigned j = i;
        while (j > 0 && cmp_match(&ms.m[j - 1], &v, rs) > 0) {
            ms.m[j] = ms.m[j - 1];
            j--;
        }
        ms.m[j] = v;
    }
    for (i = 0; i < ms.nm; i++) {
        const wsg_rule_info_t *ri = &rs->r[ms.m[i]]->info;
        if (ri->on_miss)
            out->miss_score += ri->score;
        else
            out->score += ri->score;
        if (i < WSG_MATCH_MAX)
            out->ids[i] = ri->id;
        if (!out->first || (out->first->on_miss && !ri->on_miss)
            || (out->first->on_miss == ri->on_miss && ri->score > out->first->score))
            out->first = ri;
    }
    out->n = (int)ms.nm + ms.extra;
    return out->n;
}
