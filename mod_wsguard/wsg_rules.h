/* wsg_rules: the rule language (parser) and the compiled ruleset with its matcher.
 * See rules/README.md for the language. Compiled once per configuration (httpd config pool) and
 * shared read-only by all threads; matching allocates nothing for a request that matches nothing.
 * Portable core: APR + PCRE2. */
#ifndef WSG_RULES_H
#define WSG_RULES_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "wsg_norm.h"

typedef struct wsg_ruleset_t wsg_ruleset_t;

typedef struct wsg_rule_info_t {
    unsigned    id;
    int         score;
    const char *tag;        /* category: php-shell, asp-shell, jsp-shell, shell-family, ... */
    const char *msg;
    const char *file;       /* where it was defined */
    unsigned    line;
    int         on_miss;    /* outcome=miss: counts only if the response is 404/410 */
} wsg_rule_info_t;

/* What a request is matched on. Everything except method and the norm result may be NULL. */
typedef struct wsg_req_t {
    const char       *method;      /* "GET", "POST", ... */
    const wsg_norm_t *norm;        /* normalised target (wsg_norm_target) */
    const char       *ua;          /* User-Agent or NULL */
    const char       *body;        /* first bytes of a urlencoded body or NULL */
    size_t            body_len;
    /* (Additive) when ua is NULL: asked for the User-Agent only if a rule could look at it */
    const char     *(*ua_fn)(void *baton);
    void             *ua_baton;
} wsg_req_t;

#define WSG_MATCH_MAX 8

typedef struct wsg_match_t {
    int      score;                       /* sum of matched rules' scores (outcome=any) */
    int      miss_score;                  /* sum of matched outcome=miss rules' scores: they
                                           * count only once the response is known to be 404 */
    int      n;                           /* rules matched (ids[] holds the first WSG_MATCH_MAX) */
    unsigned ids[WSG_MATCH_MAX];
    const wsg_rule_info_t *first;         /* highest-scoring matched rule (outcome=any first),
                                           * or NULL */
} wsg_match_t;

apr_status_t wsg_ruleset_create(apr_pool_t *p, wsg_ruleset_t **out);

/* Parses one rule file into rs. On a syntax error returns APR_EGENERAL and sets *err to
 * "FILE:LINE:COL: reason" (allocated in rs's pool). Duplicate ids across files are errors too. */
apr_status_t wsg_ruleset_load_file(wsg_ruleset_t *rs, const char *path, const char **err);

/* Parses rules from a string (tests, fuzzing); name stands for the file in messages. */
apr_status_t wsg_ruleset_load_string(wsg_ruleset_t *rs, const char *name, const char *text,
                                     apr_size_t len, const char **err);

/* Loads a file, every *.rules file of a directory, or a glob, in sorted order. A pattern that
 * matches nothing is an error. */
apr_status_t wsg_ruleset_load_path(wsg_ruleset_t *rs, const char *path_or_glob, const char **err);

/* Builds the match structures (literal index, PCRE2 JIT). Must be called once after loading and
 * before matching. */
apr_status_t wsg_ruleset_compile(wsg_ruleset_t *rs, const char **err);

/* The texts loaded so far without error, in load order (wsg_rule_source_t): enough to build the
 * same ruleset again with wsg_ruleset_load_string, e.g. to keep the rules in force when a reload
 * finds a broken file. */
typedef struct wsg_rule_source_t {
    const char *name;
    const char *text;
    apr_size_t  len;
} wsg_rule_source_t;
const apr_array_header_t *wsg_ruleset_sources(const wsg_ruleset_t *rs);

unsigned wsg_ruleset_count(const wsg_ruleset_t *rs);
const wsg_rule_info_t *wsg_ruleset_rule(const wsg_ruleset_t *rs, unsigned id);
/* Additive: the i-th rule in load order (0 <= i < wsg_ruleset_count), NULL past the end. */
const wsg_rule_info_t *wsg_ruleset_rule_at(const wsg_ruleset_t *rs, unsigned i);

/* Matches req against every rule. Returns the number of rules matched (0 for none) and fills out
 * (out->score 0 and n 0 when nothing matched). Thread-safe; no allocation on a miss. */
int wsg_ruleset_match(const wsg_ruleset_t *rs, const wsg_req_t *req, wsg_match_t *out);

#endif
