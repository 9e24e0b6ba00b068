/* mod_wsguard_metrics: the shared counter table (wsg_metrics) mapped for httpd, as mod_status
 * maps its scoreboard: an anonymous apr_shm created in post_config by the parent (so every child
 * inherits it across fork), kept in the process pool across graceful and plain restarts while it
 * has enough slots (counters start at 0 when httpd starts, or when a larger ServerLimit needs a
 * larger table); each child claims a slot in child_init and releases it when it exits (its
 * counts stay in the sums). Request hooks add with relaxed atomics: nothing is locked or written
 * to the store for a metric. */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"

#include <apr_shm.h>
#include <apr_strings.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "mod_wsguard.h"

APLOG_USE_MODULE(wsguard);

#define SHM_KEY "wsguard-metrics-table"

typedef struct {
    apr_shm_t     *shm;
    wsg_metrics_t *m;
    unsigned       nslots;
    apr_time_t     created;
} metrics_holder_t;

void wsg_glue_metrics_post_config(wsg_gen_t *G, server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    metrics_holder_t *h = NULL;
    int limit = 0;
    unsigned need, i;
    apr_size_t size;
    apr_status_t rv;

    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS || limit < 1)
        limit = 1;
    /* Old and new children overlap during a graceful restart: twice the processes, plus the
     * shared slot. */
    need = 2 * (unsigned)limit + 2;
    apr_pool_userdata_get((void **)&h, SHM_KEY, pp);
    if (!h || h->nslots < need) {
        void *base;
        h = apr_pcalloc(pp, sizeof(*h));
        size = wsg_metrics_size(need) + 64;
        rv = apr_shm_create(&h->shm, size, NULL, pp);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19521)
                         "cannot create the metrics table (%" APR_SIZE_T_FMT " bytes): the "
                         "status page shows no counters", size);
            G->metrics = NULL;
            return;
        }
        /* apr_shm's usable part starts past its own header: align to a cache line. */
        base = (void *)(((apr_uintptr_t)apr_shm_baseaddr_get(h->shm) + 63) & ~(apr_uintptr_t)63);
        h->m = wsg_metrics_init(base, wsg_metrics_size(need), need);
        h->nslots = need;
        h->created = apr_time_now();
        /* a copied key: the DSO (and its string literals) may move at a restart */
        apr_pool_userdata_set(h, SHM_KEY, apr_pool_cleanup_null, pp);
    }
    G->metrics = h->m;
    G->metrics_since = h->created;
    for (i = 0; G->rules && i < wsg_ruleset_count(G->rules); i++) {
        const wsg_rule_info_t *ri = wsg_ruleset_rule_at(G->rules, i);
        if (ri && ri->tag)
            wsg_metrics_tag_add(h->m, ri->tag);
    }
}

static int pid_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static apr_status_t release_slot(void *data)
{
    wsg_gen_t *G = data;
    wsg_metrics_release(G->mslot);
    G->mslot = NULL;
    return APR_SUCCESS;
}

void wsg_glue_ops_child_init(wsg_gen_t *G, apr_pool_t *pchild, server_rec *s)
{
    G->mslot = NULL;
    G->refused = NULL;
    G->warned_refused = 0;
    if (G->metrics) {
        G->mslot = wsg_metrics_claim(G->metrics, (long)getpid(), pid_alive);
        apr_pool_cleanup_register(pchild, G, release_slot, apr_pool_cleanup_null);
    }
    if (G->event_log && wsg_refused_create(pchild, 0, &G->refused) != APR_SUCCESS) {
        G->refused = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(19503)
                     "cannot set up the refused-request counts: refusals are not logged in "
                     "this child");
    }
    if (G->refused)
        wsg_refused_child_init(G, pchild, s);
}

void wsg_glue_written(wsg_gen_t *G, const wsg_inspect_t *ix, int ok)
{
    if (!G->mslot)
        return;
    if (ix->alert)
        WSG_COUNT(G, WSG_MC_ALERTS);
    if (!ok || !ix->event)
        return;
    wsg_metrics_probe(G->mslot, G->metrics, ix->m.first ? ix->m.first->tag : NULL);
    if (!strcmp(ix->event, WSG_EV_BAN))
        WSG_COUNT(G, WSG_MC_BANS);
}

void wsg_glue_metrics_read(const wsg_gen_t *G, wsg_metrics_counts_t *c)
{
    wsg_metrics_sum(G->metrics, c);
}
