/* mod_wsguard_rules: the rules of each configuration generation. WSGuardRules load into a candidate;
 * post_config makes it current. A graceful restart that finds a broken rule file keeps the rules in
 * force (logged) instead of taking the site down. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#include <apr_strings.h>
#include <apr_file_info.h>

#include "mod_wsguard.h"

APLOG_USE_MODULE(wsguard);

#ifndef WSG_RULES_DEFAULT
#define WSG_RULES_DEFAULT "/usr/share/mod_wsguard/rules"
#endif

/* Rules of this configuration generation. candidate is what this generation's WSGuardRules load
 * into; current is what requests use. A graceful restart with a broken rule file keeps the rules in
 * force: their texts are kept in the process pool (which outlives generations and, unlike this
 * DSO's statics, is not reset when httpd reloads the module), and compiled again. */
static wsg_ruleset_t *rules_cur, *rules_cand;
static int            rules_cand_failed;
static const char    *rules_cand_error;
#define WSG_KEPT_KEY "wsguard-rules-kept"

static int wsg_is_restart(void)
{
    return ap_state_query(AP_SQ_CONFIG_GEN) > 0;
}

apr_status_t wsg_glue_rules_reset(apr_pool_t *pconf)
{
    rules_cur = rules_cand = NULL;
    rules_cand_failed = 0;
    rules_cand_error = NULL;
    return wsg_ruleset_create(pconf, &rules_cand);
}

const char *wsg_glue_rules_load(cmd_parms *cmd, const char *path)
{
    const char *err;

    if (rules_cand_failed)
        return NULL;
    if (wsg_ruleset_load_path(rules_cand, path, &err) != APR_SUCCESS) {
        if (!wsg_is_restart())
            return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
        /* A restart: keep serving with the rules in force; post_config says why. */
        rules_cand_failed = 1;
        rules_cand_error = apr_pstrdup(cmd->pool, err);
    }
    return NULL;
}

const wsg_ruleset_t *wsg_glue_rules(void)
{
    return rules_cur;
}

/* Copies the texts of a good ruleset into the process pool, for the next generation. */
static void rules_keep(server_rec *s, const wsg_ruleset_t *rs)
{
    apr_pool_t *old = NULL, *kp;
    const apr_array_header_t *src = wsg_ruleset_sources(rs);
    apr_array_header_t *copy;
    int i;

    apr_pool_userdata_get((void **)&old, WSG_KEPT_KEY, s->process->pool);
    apr_pool_create(&kp, s->process->pool);
    copy = apr_array_make(kp, src->nelts, sizeof(wsg_rule_source_t));
    for (i = 0; i < src->nelts; i++) {
        const wsg_rule_source_t *from = &APR_ARRAY_IDX(src, i, wsg_rule_source_t);
        wsg_rule_source_t *to = apr_array_push(copy);
        to->name = apr_pstrdup(kp, from->name);
        to->text = apr_pstrmemdup(kp, from->text, from->len);
        to->len = from->len;
    }
    apr_pool_userdata_setn(kp, WSG_KEPT_KEY, NULL, s->process->pool);
    apr_pool_userdata_setn(copy, "wsguard-rules-kept-list", NULL, kp);
    if (old)
        apr_pool_destroy(old);
}

/* The rules of the previous generation, compiled again in pconf, or NULL. */
static wsg_ruleset_t *rules_kept(apr_pool_t *pconf, server_rec *s)
{
    apr_pool_t *kp = NULL;
    apr_array_header_t *list = NULL;
    wsg_ruleset_t *rs;
    const char *err;
    int i;

    apr_pool_userdata_get((void **)&kp, WSG_KEPT_KEY, s->process->pool);
    if (kp)
        apr_pool_userdata_get((void **)&list, "wsguard-rules-kept-list", kp);
    if (!list || wsg_ruleset_create(pconf, &rs) != APR_SUCCESS)
        return NULL;
    for (i = 0; i < list->nelts; i++) {
        const wsg_rule_source_t *src = &APR_ARRAY_IDX(list, i, wsg_rule_source_t);
        if (wsg_ruleset_load_string(rs, src->name, src->text, src->len, &err) != APR_SUCCESS)
            return NULL;
    }
    return wsg_ruleset_compile(rs, &err) == APR_SUCCESS ? rs : NULL;
}

/* Makes the candidate ruleset current or, when it failed at a restart, the previous one. */
apr_status_t wsg_glue_rules_commit(apr_pool_t *pconf, server_rec *s, int rules_set)
{
    const char *err = NULL;
    apr_finfo_t fi;

    if (!rules_cand_failed && !rules_set) {
        if (apr_stat(&fi, WSG_RULES_DEFAULT, APR_FINFO_TYPE, pconf) == APR_SUCCESS
            && wsg_ruleset_load_path(rules_cand, WSG_RULES_DEFAULT, &err) != APR_SUCCESS)
            rules_cand_failed = 1, rules_cand_error = err;
        else if (wsg_ruleset_count(rules_cand) == 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(19400)
                         "no WSGuardRules configured and no rules in " WSG_RULES_DEFAULT
                         ": only unknown-script misses are scored");
    }
    if (!rules_cand_failed && wsg_ruleset_compile(rules_cand, &err) != APR_SUCCESS)
        rules_cand_failed = 1, rules_cand_error = err;

    if (!rules_cand_failed) {
        rules_cur = rules_cand;
        rules_keep(s, rules_cur);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(19403)
                     "%u rules loaded", wsg_ruleset_count(rules_cur));
        return APR_SUCCESS;
    }
    rules_cur = wsg_is_restart() ? rules_kept(pconf, s) : NULL;
    if (!rules_cur) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, APLOGNO(19401)
                     "rules: %s", rules_cand_error ? rules_cand_error : "unknown error");
        return APR_EGENERAL;
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(19402)
                 "rules not reloaded, the %u rules in force stay: %s",
                 wsg_ruleset_count(rules_cur), rules_cand_error ? rules_cand_error : "unknown");
    return APR_SUCCESS;
}
