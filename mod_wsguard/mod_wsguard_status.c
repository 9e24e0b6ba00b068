/* mod_wsguard_status: the "wsguard-status" handler (protect it with Require). The page an operator
 * reads at a glance: version, engine mode, uptime, rules and totals; alerts first, then bans with
 * their reasons in words, then the clients scoring (wsg_status builds and renders it). ?json gives
 * the same content, ?metrics the Prometheus text exposition (wsg_metrics), ?refresh=N reloads the
 * page every N seconds, ?limit=N sets the rows per section. */

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_log.h"
#include "scoreboard.h"

#include <apr_strings.h>
#include <apr_tables.h>

#include "wsg_status.h"
#include "mod_wsguard.h"

#include "wsg_paths.h"                /* WSG_VERSION */

APLOG_USE_MODULE(wsguard);

typedef struct {
    int json, metrics, refresh;
    unsigned limit;
} status_args_t;

/* "json", "metrics", "refresh=N", "limit=N", joined by '&' (anything else is ignored). */
static void parse_args(apr_pool_t *p, const char *args, status_args_t *a)
{
    char *copy, *tok, *save = NULL;

    memset(a, 0, sizeof(*a));
    if (!args)
        return;
    copy = apr_pstrdup(p, args);
    for (tok = apr_strtok(copy, "&;", &save); tok; tok = apr_strtok(NULL, "&;", &save)) {
        /* "json=" and "metrics=" too: what a scraper's params: {metrics: [""]} sends */
        if (!strcmp(tok, "json") || !strncmp(tok, "json=", 5))
            a->json = 1;
        else if (!strcmp(tok, "metrics") || !strncmp(tok, "metrics=", 8))
            a->metrics = 1;
        else if (!strncmp(tok, "refresh=", 8)) {
            int n = atoi(tok + 8);
            a->refresh = n < 0 ? 0 : n > 86400 ? 86400 : n;
            if (a->refresh && a->refresh < 2)
                a->refresh = 2;   /* a page that reloads itself faster helps nobody */
        }
        else if (!strncmp(tok, "limit=", 6)) {
            long n = atol(tok + 6);
            a->limit = n <= 0 ? WSG_STATUS_LIMIT_MAX : n > WSG_STATUS_LIMIT_MAX
                                                       ? WSG_STATUS_LIMIT_MAX : (unsigned)n;
        }
    }
}

static const char *mode_name(int engine)
{
    return engine == WSG_ENGINE_ON ? "On" : engine == WSG_ENGINE_DETECT ? "DetectionOnly" : "Off";
}

typedef struct {
    apr_time_t   now;
    apr_uint64_t records, bans;
} gauge_walk_t;

static int count_bans(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    gauge_walk_t *w = baton;
    w->records++;
    if (rec->ban_until > w->now)
        w->bans++;
    return 0;
}

/* Range bans in force count among the active bans (one each, whatever their width). */
static int count_range_bans(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    gauge_walk_t *w = baton;
    if (rec->ban_until > w->now)
        w->bans++;
    return 0;
}

static int send_metrics(request_rec *r, const wsg_gen_t *gen)
{
    wsg_metrics_counts_t c;
    wsg_metrics_gauges_t g;
    wsg_store_stat_t ss;
    gauge_walk_t w = { apr_time_now(), 0, 0 };

    memset(&g, 0, sizeof(g));
    wsg_glue_metrics_read(gen, &c);
    if (gen->store && wsg_store_stat(gen->store, &ss) == APR_SUCCESS
        && wsg_store_iterate(gen->store, count_bans, &w) == APR_SUCCESS
        && wsg_store_range_iterate(gen->store, count_range_bans, &w) == APR_SUCCESS) {
        g.have_store = 1;
        g.records = w.records;
        g.bans_active = w.bans;
        g.capacity = ss.capacity;
        g.evicted = ss.evicted;
        g.map_size = ss.map_size;
        g.map_used = ss.map_used;
    }
    else if (gen->store)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(19522)
                      "metrics: cannot read the state, gauges left out: %s",
                      wsg_store_strerror(APR_EGENERAL));
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    ap_rputs(wsg_metrics_render(r->pool, gen->metrics, &c, &g), r);
    return OK;
}

static int __attribute__((noinline)) status_handle(request_rec *r);

static int wsg_status_handler(request_rec *r)
{
    /* Runs for every request: the first byte rules nearly all of them out, before the frame
     * of the page's handler is set up. */
    if (!r->handler || r->handler[0] != 'w' || strcmp(r->handler, "wsguard-status"))
        return DECLINED;
    return status_handle(r);
}

static int status_handle(request_rec *r)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    const wsg_gen_t *gen = sc->gen;
    wsg_store_t *st = gen->store;
    wsg_status_opts_t o;
    wsg_status_t m;
    status_args_t a;
    apr_status_t rv;

    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (!gen->ready)
        return HTTP_SERVICE_UNAVAILABLE;
    parse_args(r->pool, r->args, &a);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (a.metrics)
        return send_metrics(r, gen);
    if (!st)
        return HTTP_SERVICE_UNAVAILABLE;
    memset(&o, 0, sizeof(o));
    memset(&m, 0, sizeof(m));
    o.policy = &gen->policy;
    o.rules = gen->rules;
    o.now = apr_time_now();
    o.limit = a.limit;
    /* The event log's tail gives the paths, read through the descriptor the parent opened (the
     * file is root's); a pipe cannot be read back. */
    o.event_log_fd = -1;
    o.event_log = sc->event_log && *sc->event_log != '|' && gen->event_log
                  ? sc->event_log : NULL;
    if (o.event_log) {
        apr_os_file_t fd;
        if (apr_os_file_get(&fd, gen->event_log) == APR_SUCCESS)
            o.event_log_fd = fd;
    }
    m.version = WSG_VERSION;
    m.server = r->server->server_hostname;
    m.mode = mode_name(wsg_glue_srv_engine(sc));
    m.started = ap_scoreboard_image ? ap_scoreboard_image->global->restart_time : 0;
    if (gen->metrics) {
        m.have_counts = 1;
        m.metrics = gen->metrics;
        m.counts_since = gen->metrics_since;
        wsg_glue_metrics_read(gen, &m.counts);
    }
    rv = wsg_status_build(r->pool, st, &o, &m);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(19520)
                      "status: cannot read state: %s", wsg_store_strerror(rv));
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (a.json) {
        ap_set_content_type(r, "application/json");
        ap_rputs(wsg_status_json(r->pool, &m), r);
    }
    else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        ap_rputs(wsg_status_html(r->pool, &m, a.refresh), r);
    }
    return OK;
}

void wsg_status_register_hooks(apr_pool_t *p)
{
    /* handler, MIDDLE: an ordinary content handler, after access checks (the admin's Require) */
    ap_hook_handler(wsg_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
