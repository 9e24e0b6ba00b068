/* mod_wsguard_refused: every refused request of a tracked client reaches the event log, counted
 * (wsg_refused): one "refused" event per client, kind (403/429) and minute in each child, with the
 * count and the distinct paths, so reports count every request a scanner sent while a banned
 * flood writes a line a minute. A refusal that has an event of its own (the probe that crossed
 * the threshold, a rate-limited client's scored probe) is not counted again: one request, one
 * count. Entries are written when their minute has passed (by the next refusal, or the next
 * request of any client in that child: one comparison), and all of them when the child exits. */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"
#include "http_protocol.h"

#include <apr_strings.h>
#include <apr_atomic.h>

#include "mod_wsguard.h"

APLOG_USE_MODULE(wsguard);

#define DUE_MAX 4

static void write_due(wsg_gen_t *G, server_rec *s, apr_pool_t *p, const wsg_refused_entry_t *due,
                      int n)
{
    for (int i = 0; i < n; i++) {
        wsg_event_t ev;
        const char *line;
        apr_size_t len;
        apr_status_t rv;

        wsg_refused_event(p, &due[i], &ev);
        line = wsg_event_json(p, &ev, &len);
        if (!line || !G->event_log)
            continue;
        /* one write per line, as every event (O_APPEND and pipes keep it whole) */
        rv = apr_file_write_full(G->event_log, line, len, NULL);
        if (rv != APR_SUCCESS && apr_atomic_cas32(&G->warned_refused, 1, 0) == 0)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19504)
                         "cannot write refused-request counts to the event log (logged once "
                         "per child)");
    }
}

void wsg_glue_refused(request_rec *r, wsg_gen_t *G, const wsg_addr_t *addr,
                      const wsg_rec_t *rec, const wsg_inspect_t *ix)
{
    wsg_refused_entry_t due[DUE_MAX];
    apr_time_t now = r->request_time;
    int n, k, status = ix->status == HTTP_TOO_MANY_REQUESTS ? HTTP_TOO_MANY_REQUESTS
                                                            : HTTP_FORBIDDEN;

    if (status == HTTP_TOO_MANY_REQUESTS)
        k = WSG_MC_REFUSED_RATELIMIT;
    else if (ix->event)
        k = WSG_MC_REFUSED_BAN;    /* scored and refused in one write: this server's own ban */
    else if (rec && rec->ban_until > now)
        k = rec->flags & WSG_RF_CROWDSEC ? WSG_MC_REFUSED_CROWDSEC : WSG_MC_REFUSED_BAN;
    else
        k = WSG_MC_REFUSED_PREFIX;
    WSG_COUNT(G, k);
    if (ix->event || !G->refused || !addr)
        return;
    n = wsg_refused_add(G->refused, addr, status, r->unparsed_uri ? r->unparsed_uri : r->uri,
                        now, due, DUE_MAX);
    if (n)
        write_due(G, r->server, r->pool, due, n);
}

void wsg_glue_refused_flush(wsg_gen_t *G, server_rec *s, apr_pool_t *p, int force)
{
    wsg_refused_entry_t due[DUE_MAX];
    int n;

    if (!G->refused)
        return;
    while ((n = wsg_refused_take(G->refused, apr_time_now(), force, due, DUE_MAX)) > 0)
        write_due(G, s, p, due, n);
}

typedef struct {
    wsg_gen_t  *G;
    server_rec *s;
    apr_pool_t *pchild;
} flush_baton_t;

/* A pre-cleanup: it runs before the child pool's subpools (and the event log, in pconf, is
 * still open), so a pool for the lines can still be made. */
static apr_status_t flush_at_exit(void *data)
{
    flush_baton_t *b = data;
    apr_pool_t *tmp;

    if (apr_pool_create(&tmp, b->pchild) != APR_SUCCESS)
        return APR_SUCCESS;
    wsg_glue_refused_flush(b->G, b->s, tmp, 1);
    apr_pool_destroy(tmp);
    b->G->refused = NULL;
    return APR_SUCCESS;
}

void wsg_refused_child_init(wsg_gen_t *G, apr_pool_t *pchild, server_rec *s)
{
    flush_baton_t *b = apr_palloc(pchild, sizeof(*b));

    b->G = G;
    b->s = s;
    b->pchild = pchild;
    apr_pool_pre_cleanup_register(pchild, b, flush_at_exit);
}

/* Any request of this child writes what fell due: a flood that stopped is logged within a
 * minute as long as the child serves anything. One load and a comparison otherwise. */
static int flush_due(request_rec *r)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    wsg_gen_t *G = sc->gen;
    apr_time_t due = G->refused ? wsg_refused_next_due(G->refused) : 0;

    if (due && r->request_time >= due)
        wsg_glue_refused_flush(G, r->server, r->pool, 0);
    return DECLINED;
}

void wsg_refused_register_hooks(apr_pool_t *p)
{
    /* log_transaction, LAST: after the request's own event (mod_wsguard.c's MIDDLE hook), so a
     * client's aggregate follows its last probe in the log. */
    ap_hook_log_transaction(flush_due, NULL, NULL, APR_HOOK_LAST);
}
