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

/* Rules of this configuration generation (wsg_gen_t): rules_cand is what this generation's
 * WSGuardRules load into; rules is what requests use. A graceful restart with a broken rule file
 * keeps the rules in force: their texts are kept in the process pool (which outlives generations
 * and, unlike this DSO's statics, is not reset when httpd reloads the module), and compiled
 * again. */
#define WSG_KEPT_KEY "wsguard-rules-kept"

static int wsg_is_restart(void)
{
    return ap_state_query(AP_SQ_CONFIG_GEN) > 0;
}

apr_status_t wsg_glue_rules_reset(wsg_gen_t *gen, apr_pool_t *pconf)
{
    gen->rules = gen->rules_cand = NULL;
    gen->rules_cand_failed = 0;
    gen->rules_cand_error = NULL;
    return wsg_ruleset_create(pconf, &gen->rules_cand);
}

const char *wsg_glue_rules_load(cmd_parms *cmd, const char *path)
{
    wsg_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &wsguard_module);
    wsg_gen_t *gen = sc->gen;
    const char *err;

    if (gen->rules_cand_failed)
        return NULL;
    if (wsg_ruleset_load_path(gen->rules_cand, path, &err) != APR_SUCCESS) {
        if (!wsg_is_restart())
            return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
        /* A restart: keep serving with the rules in force; post_config says why. */
        gen->rules_cand_failed = 1;
        gen->rules_cand_error = apr_pstrdup(cmd->pool, err);
    }
    return NULL;
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
apr_status_t wsg_glue_rules_commit(wsg_gen_t *gen, apr_pool_t *pconf, server_rec *s,
                                   int rules_set)
{
    const char *err = NULL;
    apr_finfo_t fi;

    if (!gen->rules_cand_failed && !rules_set) {
        if (apr_stat(&fi, WSG_RULES_DEFAULT, APR_FINFO_TYPE, pconf) == APR_SUCCESS
            && wsg_ruleset_load_path(gen->rules_cand, WSG_RULES_DEFAULT, &err) != APR_SUCCESS)
            gen->rules_cand_failed = 1, gen->rules_cand_error = err;
        else if (wsg_ruleset_count(gen->rules_cand) == 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(19400)
                         "no WSGuardRules configured and no rules in " WSG_RULES_DEFAULT
                         ": only unknown-script misses are scored");
    }
    if (!gen->rules_cand_failed && wsg_ruleset_compile(gen->rules_cand, &err) != APR_SUCCESS)
        gen->rules_cand_failed = 1, gen->rules_cand_error = err;

    if (!gen->rules_cand_failed) {
        gen->rules = gen->rules_cand;
        rules_keep(s, gen->rules);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(19403)
                     "%u rules loaded", wsg_ruleset_count(gen->rules));
        return APR_SUCCESS;
    }
    gen->rules = wsg_is_restart() ? rules_kept(pconf, s) : NULL;
    if (!gen->rules) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, APLOGNO(19401)
                     "rules: %s", gen->rules_cand_error ? gen->rules_cand_error : "unknown error");
        return APR_EGENERAL;
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(19402)
                 "rules not reloaded, the %u rules in force stay: %s",
                 wsg_ruleset_count(gen->rules), gen->rules_cand_error ? gen->rules_cand_error : "unknown");
    return APR_SUCCESS;
}
