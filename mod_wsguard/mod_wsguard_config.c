/* mod_wsguard_config: the directives, their validation (apachectl configtest names the directive
 * and what is wrong), and the per-server and per-directory configuration with its merge. Only
 * WSGuardEngine and WSGuardAllow vary by virtual host; the rest is global. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"

#include <apr_strings.h>
#include <apr_file_info.h>
#include <apr_user.h>

#include "wsg_util.h"
#include "mod_wsguard.h"
#include "mod_wsguard_sync.h"
#include "mod_wsguard_crawler.h"

void *wsg_glue_create_dir_conf(apr_pool_t *p, char *dir)
{
    wsg_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));
    dc->engine = WSG_UNSET;
    return dc;
}

void *wsg_glue_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    wsg_dir_conf_t *base = basev, *add = addv, *dc = apr_pcalloc(p, sizeof(*dc));
    dc->engine = add->engine != WSG_UNSET ? add->engine : base->engine;
    return dc;
}

#define WSG_GEN_KEY "mod_wsguard-generation"

wsg_gen_t *wsg_glue_gen(apr_pool_t *pconf)
{
    wsg_gen_t *gen = NULL;

    apr_pool_userdata_get((void **)&gen, WSG_GEN_KEY, pconf);
    if (!gen) {
        gen = apr_pcalloc(pconf, sizeof(*gen));
        apr_pool_userdata_setn(gen, WSG_GEN_KEY, NULL, pconf);
    }
    return gen;
}

void *wsg_glue_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    wsg_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));
    sc->gen = wsg_glue_gen(p);
    sc->engine = WSG_UNSET;
    sc->ratelimit = sc->ban = -1;
    sc->ban_time = sc->ban_max = sc->halflife = -1;
    sc->prefix_ban = sc->miss_score = -1;
    sc->state_gid = -1;
    return sc;
}

void *wsg_glue_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    wsg_srv_conf_t *base = basev, *add = addv, *sc = apr_pcalloc(p, sizeof(*sc));

    /* Only engine and allowlist are per virtual host; the rest is global (GLOBAL_ONLY). */
    *sc = *base;
    sc->engine = add->engine != WSG_UNSET ? add->engine : base->engine;
    sc->allow = add->allow ? add->allow : base->allow;
    return sc;
}

int wsg_glue_srv_engine(const wsg_srv_conf_t *sc)
{
    return sc->engine == WSG_UNSET ? WSG_ENGINE_ON : sc->engine;
}

int wsg_glue_dir_engine(const wsg_dir_conf_t *dc, const wsg_srv_conf_t *sc)
{
    return dc && dc->engine != WSG_UNSET ? dc->engine : wsg_glue_srv_engine(sc);
}

void wsg_glue_conf_reset(wsg_gen_t *gen, apr_pool_t *pconf)
{
    const char *err;

    wsg_cs_conf_reset(pconf);
    gen->default_allow = wsg_allow_make(pconf);
    wsg_allow_add(gen->default_allow, pconf, "127.0.0.1", &err);
    wsg_allow_add(gen->default_allow, pconf, "::1", &err);
}

const wsg_allow_t *wsg_glue_allow(const wsg_srv_conf_t *sc)
{
    return sc->allow ? sc->allow : sc->gen->default_allow;
}

/* ---- directive handlers ---- */

static const char *set_engine(cmd_parms *cmd, void *dconf, const char *arg)
{
    int v;

    if (!strcasecmp(arg, "on"))
        v = WSG_ENGINE_ON;
    else if (!strcasecmp(arg, "off"))
        v = WSG_ENGINE_OFF;
    else if (!strcasecmp(arg, "detectiononly"))
        v = WSG_ENGINE_DETECT;
    else
        return apr_psprintf(cmd->pool, "%s: '%s' is not one of On, Off, DetectionOnly",
                            cmd->cmd->name, arg);
    if (cmd->path)
        ((wsg_dir_conf_t *)dconf)->engine = v;
    else {
        wsg_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &wsguard_module);
        sc->engine = v;
    }
    return NULL;
}

static wsg_srv_conf_t *global_conf(cmd_parms *cmd, const char **err)
{
    *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    return ap_get_module_config(cmd->server->module_config, &wsguard_module);
}

static const char *set_rules(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    const char *path = ap_server_root_relative(cmd->temp_pool, arg);

    if (err)
        return err;
    if (!path)
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    sc->rules_set = 1;
    return wsg_glue_rules_load(cmd, path);
}

static const char *set_state_dir(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    apr_finfo_t fi;
    const char *dir, *parent;

    if (err)
        return err;
    dir = ap_server_root_relative(cmd->pool, arg);
    if (!dir)
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    /* The directory itself is created at startup; its parent must exist now. */
    parent = ap_make_dirstr_parent(cmd->temp_pool, dir);
    if (apr_stat(&fi, parent, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || fi.filetype != APR_DIR)
        return apr_psprintf(cmd->pool, "%s: parent directory %s of '%s' does not exist",
                            cmd->cmd->name, parent, dir);
    sc->state_dir = dir;
    return NULL;
}

static const char *set_thresholds(cmd_parms *cmd, void *dconf, const char *rl, const char *ban)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    double r = 0, b;

    if (err)
        return err;
    if (strcasecmp(rl, "off") && (wsg_parse_score(rl, &r) != APR_SUCCESS))
        return apr_psprintf(cmd->pool, "%s: rate-limit threshold '%s' is not a number or 'off'",
                            cmd->cmd->name, rl);
    if (wsg_parse_score(ban, &b) != APR_SUCCESS || b <= 0)
        return apr_psprintf(cmd->pool, "%s: ban threshold '%s' is not a positive number",
                            cmd->cmd->name, ban);
    if (r > 0 && r >= b)
        return apr_psprintf(cmd->pool, "%s: the rate-limit threshold (%s) must be below the ban "
                            "threshold (%s), or 'off'", cmd->cmd->name, rl, ban);
    sc->ratelimit = r;
    sc->ban = b;
    return NULL;
}

static const char *parse_dur(cmd_parms *cmd, const char *what, const char *arg,
                             apr_interval_time_t *out)
{
    if (wsg_parse_duration(arg, out) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: %s '%s' is not a duration (e.g. 90s, 15m, 1h, 7d)",
                            cmd->cmd->name, what, arg);
    return NULL;
}

static const char *set_ban_time(cmd_parms *cmd, void *dconf, const char *t, const char *max)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    apr_interval_time_t bt, bm = -1;

    if (err)
        return err;
    if ((err = parse_dur(cmd, "ban time", t, &bt)))
        return err;
    if (bt < APR_USEC_PER_SEC)
        return apr_psprintf(cmd->pool, "%s: ban time '%s' is below one second", cmd->cmd->name, t);
    if (max) {
        if (strncasecmp(max, "max=", 4))
            return apr_psprintf(cmd->pool, "%s: second argument '%s' must be max=DURATION",
                                cmd->cmd->name, max);
        if ((err = parse_dur(cmd, "maximum ban time", max + 4, &bm)))
            return err;
        if (bm < bt)
            return apr_psprintf(cmd->pool, "%s: maximum '%s' is shorter than the ban time '%s'",
                                cmd->cmd->name, max + 4, t);
    }
    sc->ban_time = bt;
    sc->ban_max = bm;
    return NULL;
}

static const char *set_halflife(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    apr_interval_time_t v = 0;

    if (err)
        return err;
    if (strcasecmp(arg, "off") && (err = parse_dur(cmd, "half-life", arg, &v)))
        return err;
    if (strcasecmp(arg, "off") && v < APR_USEC_PER_SEC)
        return apr_psprintf(cmd->pool, "%s: half-life '%s' is below one second (use 'off' for "
                            "no decay)", cmd->cmd->name, arg);
    sc->halflife = v;
    return NULL;
}

static const char *set_allow(cmd_parms *cmd, void *dconf, const char *arg)
{
    wsg_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &wsguard_module);
    const char *err;

    if (!strcasecmp(arg, "none")) {
        sc->allow = wsg_allow_make(cmd->pool);
        return NULL;
    }
    if (!sc->allow)
        sc->allow = wsg_allow_make(cmd->pool);
    if (wsg_allow_add(sc->allow, cmd->pool, arg, &err) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: '%s' is not an address or CIDR: %s", cmd->cmd->name,
                            arg, err ? err : "invalid");
    return NULL;
}

static const char *set_event_log(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);

    if (err)
        return err;
    if (*arg != '|' && !ap_server_root_relative(cmd->pool, arg))
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    sc->event_log = *arg == '|' ? arg : ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

/* WSGuardStateGroup GROUP: members may read the state (wsguardctl list, show, stats, top,
 * export, report) without root; resolved now so configtest names an unknown group. */
static const char *set_state_group(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    apr_gid_t gid;

    if (err)
        return err;
    if (apr_gid_get(&gid, arg, cmd->temp_pool) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: no such group '%s'", cmd->cmd->name, arg);
    if (gid == 0)
        return apr_psprintf(cmd->pool, "%s: '%s' is the root group; name the group of the "
                            "readers (e.g. adm)", cmd->cmd->name, arg);
    sc->state_gid = (long)gid;
    sc->state_group = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_prefix_ban(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    double v = 0;

    if (err)
        return err;
    if (strcasecmp(arg, "off") && (wsg_parse_score(arg, &v) != APR_SUCCESS || v <= 0))
        return apr_psprintf(cmd->pool, "%s: '%s' is not a positive score or 'off'",
                            cmd->cmd->name, arg);
    sc->prefix_ban = v;
    return NULL;
}

static const char *set_miss_score(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    double v;

    if (err)
        return err;
    if (wsg_parse_score(arg, &v) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a score (0 disables)", cmd->cmd->name, arg);
    sc->miss_score = v;
    return NULL;
}

static const char *set_map_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    wsg_srv_conf_t *sc = global_conf(cmd, &err);
    apr_size_t v;

    if (err)
        return err;
    /* Below 1M the store could not purge its way out of a full map (it maps at least that). */
    if (wsg_parse_size(arg, &v) != APR_SUCCESS || v < 1024 * 1024)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a size of at least 1M (e.g. 64M)",
                            cmd->cmd->name, arg);
    sc->map_size = v;
    return NULL;
}

const command_rec wsg_glue_cmds[] = {
    AP_INIT_TAKE1("WSGuardEngine", set_engine, NULL, RSRC_CONF | ACCESS_CONF,
                  "On | Off | DetectionOnly: inspect and refuse, do nothing, or inspect and log only"),
    AP_INIT_ITERATE("WSGuardRules", set_rules, NULL, RSRC_CONF,
                    "rule files: a file, a directory (its *.rules) or a glob; repeatable"),
    AP_INIT_TAKE1("WSGuardStateDir", set_state_dir, NULL, RSRC_CONF,
                  "directory of the LMDB environment holding per-address state"),
    AP_INIT_TAKE1("WSGuardStateGroup", set_state_group, NULL, RSRC_CONF,
                  "GROUP whose members may read the state (data.mdb group-readable, never "
                  "group-writable)"),
    AP_INIT_TAKE2("WSGuardThresholds", set_thresholds, NULL, RSRC_CONF,
                  "RATELIMIT BAN: scores at which 429s start (or 'off') and at which a client is banned"),
    AP_INIT_TAKE12("WSGuardBanTime", set_ban_time, NULL, RSRC_CONF,
                   "DURATION [max=DURATION]: first ban length; repeat bans double up to max"),
    AP_INIT_TAKE1("WSGuardScoreHalfLife", set_halflife, NULL, RSRC_CONF,
                  "DURATION | off: half-life of client scores"),
    AP_INIT_ITERATE("WSGuardAllow", set_allow, NULL, RSRC_CONF,
                    "addresses/CIDRs never scored or refused; 'none' clears the list"),
    AP_INIT_TAKE1("WSGuardEventLog", set_event_log, NULL, RSRC_CONF,
                  "file or \"|piped logger\" receiving one JSON line per event"),
    AP_INIT_TAKE1("WSGuardPrefixBan", set_prefix_ban, NULL, RSRC_CONF,
                  "SCORE | off: score of a /24 or /64 at which the whole prefix is banned"),
    AP_INIT_TAKE1("WSGuardMissScore", set_miss_score, NULL, RSRC_CONF,
                  "score of a 404 on a script path that matched no rule (0 disables)"),
    AP_INIT_TAKE1("WSGuardMapSize", set_map_size, NULL, RSRC_CONF,
                  "maximum size of the LMDB state (e.g. 64M)"),
    AP_INIT_TAKE_ARGV("WSGuardCrowdSec", wsg_cs_set, NULL, RSRC_CONF,
                      "URL [machine=LOGIN password-file=FILE] [bouncer-key-file=FILE] "
                      "[interval=DURATION]: share bans through a CrowdSec Local API"),
    AP_INIT_FLAG("WSGuardCrawlerCheck", wsg_crawler_set_check, NULL, RSRC_CONF,
                 "On | Off: verify clients claiming a major search crawler by forward-confirmed "
                 "reverse DNS (default On)"),
    AP_INIT_TAKE1("WSGuardResolver", wsg_crawler_set_resolver, NULL, RSRC_CONF,
                  "ADDR[:PORT] | system: the DNS resolver the crawler check asks (default: the "
                  "first nameserver of /etc/resolv.conf)"),
    { NULL }
};
