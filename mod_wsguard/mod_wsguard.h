/* mod_wsguard.h: what the glue files share (main glue and status handler). */
#ifndef MOD_WSGUARD_H
#define MOD_WSGUARD_H

#include "httpd.h"
#include "http_config.h"
#include "wsg_store.h"
#include "wsg_policy.h"
#include "wsg_rules.h"
#include "wsg_ip.h"
#include "wsg_inspect.h"
#include "wsg_metrics.h"
#include "wsg_refused.h"

extern module AP_MODULE_DECLARE_DATA wsguard_module;

/* ---- configuration (mod_wsguard_config.c) ---- */

#define WSG_UNSET (-1)

typedef enum { WSG_ENGINE_OFF = 0, WSG_ENGINE_ON = 1, WSG_ENGINE_DETECT = 2 } wsg_engine_e;

typedef struct wsg_dir_conf_t {
    int engine;                        /* wsg_engine_e or WSG_UNSET */
} wsg_dir_conf_t;

/* ---- the state of one configuration generation (as mod_md's md_mod_conf_t) ----
 * One object per generation, in pconf (found by pool userdata, so it goes with the generation),
 * reached from every server's configuration (sc->gen). post_config fills it; child_init sets
 * the per-process part (each child has its own copy of this memory after fork). */
typedef struct wsg_gen_t {
    /* set by post_config */
    int              ready;            /* post_config completed: requests are inspected */
    wsg_policy_t     policy;
    double           miss_score;       /* WSGuardMissScore */
    const char      *state_dir;
    wsg_store_opts_t store_opts;
    apr_file_t      *event_log;
    int              store_broken;     /* post_config could not prepare it: said once there */
    wsg_allow_t     *default_allow;    /* 127.0.0.1 and ::1 */
    wsg_inspect_conf_t inspect;        /* rules, policy and miss score the verdicts use */
    apr_uint64_t       pcache_serial;  /* this generation's key in wsg_pcache (post_config) */
    /* rules (mod_wsguard_rules.c): the candidate this generation's WSGuardRules load into, and
     * the rules in force */
    wsg_ruleset_t   *rules, *rules_cand;
    int              rules_cand_failed;
    const char      *rules_cand_error;
    struct cw_t     *crawler;          /* crawler verification (mod_wsguard_crawler.c) */
    /* per child (child_init) */
    wsg_store_t     *store;            /* this child's handle, NULL: serving without tracking */
    volatile apr_uint32_t warned_full, warned_store, warned_event, warned_evict; /* log once */
    apr_time_t       last_purge;
    /* metrics (mod_wsguard_metrics.c): the table shared by every process (post_config), this
     * process's slot (child_init); refusals not yet logged (mod_wsguard_refused.c, child_init) */
    wsg_metrics_t   *metrics;
    apr_time_t       metrics_since;    /* when the table was created (counters start at 0) */
    wsg_metrics_slot_t *mslot;
    wsg_refused_t   *refused;
    volatile apr_uint32_t warned_refused;
    /* DetectionOnly: clients inside a range ban already logged by this child (mod_wsguard.c,
     * range_detected; child_init), WSG_RANGE_SEEN hashes of (client, range, ban end) */
    volatile apr_uint32_t *range_seen;
} wsg_gen_t;
#define WSG_RANGE_SEEN 1024

typedef struct wsg_srv_conf_t {
    wsg_gen_t   *gen;                  /* the same object for every server of a generation */
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
    long         state_gid;            /* WSGuardStateGroup; -1: unset */
    const char  *state_group;
} wsg_srv_conf_t;

extern const command_rec wsg_glue_cmds[];
void *wsg_glue_create_dir_conf(apr_pool_t *p, char *dir);
void *wsg_glue_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *wsg_glue_create_srv_conf(apr_pool_t *p, server_rec *s);
void *wsg_glue_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
/* This generation's state object, created on first use (pool userdata of pconf). */
wsg_gen_t *wsg_glue_gen(apr_pool_t *pconf);
/* pre_config: this generation's defaults (the allowlist of 127.0.0.1 and ::1). */
void wsg_glue_conf_reset(wsg_gen_t *gen, apr_pool_t *pconf);
int wsg_glue_srv_engine(const wsg_srv_conf_t *sc);
int wsg_glue_dir_engine(const wsg_dir_conf_t *dc, const wsg_srv_conf_t *sc);
const wsg_allow_t *wsg_glue_allow(const wsg_srv_conf_t *sc);

/* ---- rules per configuration generation (mod_wsguard_rules.c) ---- */

/* pre_config: a fresh candidate ruleset for this generation's WSGuardRules. */
apr_status_t wsg_glue_rules_reset(wsg_gen_t *gen, apr_pool_t *pconf);
/* WSGuardRules: loads path into the candidate. An error message at startup (configtest fails);
 * NULL at a restart, where post_config keeps the rules in force and says why. */
const char *wsg_glue_rules_load(cmd_parms *cmd, const char *path);
/* post_config: the candidate (or the default rules) becomes current, or, when it failed at a
 * restart, the previous generation's rules do. APR_EGENERAL when there are no usable rules. */
apr_status_t wsg_glue_rules_commit(wsg_gen_t *gen, apr_pool_t *pconf, server_rec *s,
                                   int rules_set);

void wsg_status_register_hooks(apr_pool_t *p);

/* ---- metrics (mod_wsguard_metrics.c) and refused evidence (mod_wsguard_refused.c) ----
 * Called from mod_wsguard.c as one-liners. */
/* post_config (the real pass): the shared counter table, kept across restarts while it has
 * slots enough; registers the rules' tags. */
void wsg_glue_metrics_post_config(wsg_gen_t *G, server_rec *s);
/* Opens this process's handle on the generation's state into G->store (NULL on failure, with
 * *err) with the policy's half-life: a child's at child_init, the crawler verifier's. */
apr_status_t wsg_glue_store_open(wsg_gen_t *G, apr_pool_t *p, const char **err);
/* child_init: this process's slot and refusal table (released/flushed when the child exits). */
void wsg_glue_ops_child_init(wsg_gen_t *G, apr_pool_t *pchild, server_rec *s);
/* One more of counter k (WSG_MC_*) for this process: a relaxed atomic add, nothing else. */
#define WSG_COUNT(G, k) wsg_metrics_add((G)->mslot, (k), 1)
/* After a request's write (ok: it succeeded): probes by tag, bans, alerts. */
void wsg_glue_written(wsg_gen_t *G, const wsg_inspect_t *ix, int ok);
/* A refusal: counted by reason (rec: the address's record as read, NULL if none) and, unless
 * the request has an event of its own, into this child's refused aggregate. */
void wsg_glue_refused(request_rec *r, wsg_gen_t *G, const wsg_addr_t *addr,
                      const wsg_rec_t *rec, const wsg_inspect_t *ix);
/* The status handler: sums and gauges. */
void wsg_glue_metrics_read(const wsg_gen_t *G, wsg_metrics_counts_t *c);
/* Writes this child's refusals that are due (all with force) to the event log. */
void wsg_glue_refused_flush(wsg_gen_t *G, server_rec *s, apr_pool_t *p, int force);
void wsg_refused_register_hooks(apr_pool_t *p);
/* (mod_wsguard_refused.c) the flush at child exit, set up by wsg_glue_ops_child_init. */
void wsg_refused_child_init(wsg_gen_t *G, apr_pool_t *pchild, server_rec *s);

#endif
