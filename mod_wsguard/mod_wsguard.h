/* mod_wsguard.h: what the glue files share (main glue and status handler). */
#ifndef MOD_WSGUARD_H
#define MOD_WSGUARD_H

#include "httpd.h"
#include "http_config.h"
#include "wsg_store.h"
#include "wsg_policy.h"
#include "wsg_rules.h"
#include "wsg_ip.h"

extern module AP_MODULE_DECLARE_DATA wsguard_module;

/* ---- configuration (mod_wsguard_config.c) ---- */

#define WSG_UNSET (-1)

typedef enum { WSG_ENGINE_OFF = 0, WSG_ENGINE_ON = 1, WSG_ENGINE_DETECT = 2 } wsg_engine_e;

typedef struct wsg_dir_conf_t {
    int engine;                        /* wsg_engine_e or WSG_UNSET */
} wsg_dir_conf_t;

typedef struct wsg_srv_conf_t {
    int          engine;               /* server/vhost level: used before the directory is known */
    wsg_allow_t *allow;                /* NULL: unset */
    /* global (main server only) */
    const char  *state_dir;
    double       ratelimit, ban;       /* < 0: unset */
    apr_interval_time_t ban_time, ban_max, halflife;  /* < 0: unset */
    double       prefix_ban;           /* < 0: unset */
    double       miss_score;           /* < 0: unset */
    apr_size_t   map_size;             /* 0: unset */
    const char  *event_log;
    int          rules_set;
} wsg_srv_conf_t;

extern const command_rec wsg_glue_cmds[];
void *wsg_glue_create_dir_conf(apr_pool_t *p, char *dir);
void *wsg_glue_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *wsg_glue_create_srv_conf(apr_pool_t *p, server_rec *s);
void *wsg_glue_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
/* pre_config: this generation's defaults (the allowlist of 127.0.0.1 and ::1). */
void wsg_glue_conf_reset(apr_pool_t *pconf);
int wsg_glue_srv_engine(const wsg_srv_conf_t *sc);
int wsg_glue_dir_engine(const wsg_dir_conf_t *dc, const wsg_srv_conf_t *sc);
const wsg_allow_t *wsg_glue_allow(const wsg_srv_conf_t *sc);

/* ---- rules per configuration generation (mod_wsguard_rules.c) ---- */

/* pre_config: a fresh candidate ruleset for this generation's WSGuardRules. */
apr_status_t wsg_glue_rules_reset(apr_pool_t *pconf);
/* WSGuardRules: loads path into the candidate. An error message at startup (configtest fails);
 * NULL at a restart, where post_config keeps the rules in force and says why. */
const char *wsg_glue_rules_load(cmd_parms *cmd, const char *path);
/* post_config: the candidate (or the default rules) becomes current, or, when it failed at a
 * restart, the previous generation's rules do. APR_EGENERAL when there are no usable rules. */
apr_status_t wsg_glue_rules_commit(apr_pool_t *pconf, server_rec *s, int rules_set);

/* The state the status handler reads: this child's store, the policy and rules in force. */
wsg_store_t *wsg_glue_store(void);
const wsg_policy_t *wsg_glue_policy(void);
const wsg_ruleset_t *wsg_glue_rules(void);

void wsg_status_register_hooks(apr_pool_t *p);

#endif
