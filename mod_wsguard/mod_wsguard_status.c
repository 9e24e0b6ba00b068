/* mod_wsguard_status: the "wsguard-status" handler. A page an operator reads at a glance (alerts
 * first, then bans and the top scanners) and the same as JSON with ?json. Protect it with Require. */

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_log.h"
#include "util_script.h"

#include <apr_strings.h>
#include <apr_tables.h>
#include <jansson.h>

#include "wsg_ip.h"
#include "wsg_event.h"
#include "mod_wsguard.h"

APLOG_USE_MODULE(wsguard);

#define WSG_STATUS_TOP 50

typedef struct {
    wsg_addr_t key;
    wsg_rec_t  rec;
    double     score;
} wsg_row_t;

typedef struct {
    apr_array_header_t *rows;
    const wsg_policy_t *pol;
    apr_time_t now;
    unsigned   total, banned, prefixes, alerts;
} wsg_collect_t;

static int collect(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    wsg_collect_t *c = baton;
    wsg_row_t *row;

    c->total++;
    if (wsg_addr_is_prefix(key))
        c->prefixes++;
    if (rec->ban_until > c->now)
        c->banned++;
    if (rec->flags & WSG_RF_SHELL_HIT)
        c->alerts++;
    /* Keep the interesting ones only: a busy server has many faded records. */
    if (rec->ban_until <= c->now && !(rec->flags & WSG_RF_SHELL_HIT)
        && wsg_policy_score_now(c->pol, rec, c->now) < 0.5)
        return 0;
    row = apr_array_push(c->rows);
    row->key = *key;
    row->rec = *rec;
    row->score = wsg_policy_score_now(c->pol, rec, c->now);
    return 0;
}

static int by_interest(const void *a, const void *b)
{
    const wsg_row_t *x = a, *y = b;
    int xs = !!(x->rec.flags & WSG_RF_SHELL_HIT), ys = !!(y->rec.flags & WSG_RF_SHELL_HIT);

    if (xs != ys)
        return ys - xs;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

static void send_json(request_rec *r, wsg_collect_t *c, const wsg_gen_t *gen)
{
    json_t *root = json_object(), *arr = json_array();
    char addr[WSG_ADDR_STRLEN], t1[WSG_EVENT_TIMESTR], t2[WSG_EVENT_TIMESTR];
    char *text;
    int i;

    json_object_set_new(root, "records", json_integer(c->total));
    json_object_set_new(root, "banned", json_integer(c->banned));
    json_object_set_new(root, "prefixes", json_integer(c->prefixes));
    json_object_set_new(root, "shell_alerts", json_integer(c->alerts));
    json_object_set_new(root, "rules", json_integer(gen->rules
                                                    ? wsg_ruleset_count(gen->rules) : 0));
    for (i = 0; i < c->rows->nelts && i < WSG_STATUS_TOP; i++) {
        const wsg_row_t *row = &APR_ARRAY_IDX(c->rows, i, wsg_row_t);
        json_t *o = json_object();
        json_object_set_new(o, "address", json_string(wsg_addr_format(&row->key, addr, sizeof(addr))));
        json_object_set_new(o, "score", json_real(row->score));
        json_object_set_new(o, "hits", json_integer(row->rec.hits));
        json_object_set_new(o, "last_seen", json_string(wsg_event_time_str(row->rec.last_seen, t1)));
        json_object_set_new(o, "ban_until", row->rec.ban_until > c->now
                            ? json_string(wsg_event_time_str(row->rec.ban_until, t2)) : json_null());
        json_object_set_new(o, "shell_hit", json_boolean(row->rec.flags & WSG_RF_SHELL_HIT));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "top", arr);
    text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    ap_set_content_type(r, "application/json");
    if (text) {
        ap_rputs(text, r);
        ap_rputs("\n", r);
        free(text);
    }
}

static void send_html(request_rec *r, wsg_collect_t *c, const wsg_gen_t *gen)
{
    char addr[WSG_ADDR_STRLEN], t1[WSG_EVENT_TIMESTR], t2[WSG_EVENT_TIMESTR];
    int i;

    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html><html><head><title>mod_wsguard status</title><style>"
             "body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
             ".alert{background:#fcc;font-weight:bold}</style></head><body>"
             "<h1>mod_wsguard status</h1>", r);
    if (c->alerts)
        ap_rprintf(r, "<p class=\"alert\">%u address(es) got a 2xx answer to a web-shell probe: "
                   "a web shell may be present. Check the paths in the event log.</p>", c->alerts);
    ap_rprintf(r, "<p>%u records, %u banned, %u prefixes, %u rules in force.</p>", c->total,
               c->banned, c->prefixes,
               gen->rules ? wsg_ruleset_count(gen->rules) : 0);
    ap_rputs("<table><tr><th>address</th><th>score</th><th>hits</th><th>last seen</th>"
             "<th>banned until</th><th>recent rules</th></tr>", r);
    for (i = 0; i < c->rows->nelts && i < WSG_STATUS_TOP; i++) {
        const wsg_row_t *row = &APR_ARRAY_IDX(c->rows, i, wsg_row_t);
        ap_rprintf(r, "<tr%s><td>%s</td><td>%.1f</td><td>%u</td><td>%s</td><td>%s</td>"
                   "<td>%u %u %u %u</td></tr>",
                   (row->rec.flags & WSG_RF_SHELL_HIT) ? " class=\"alert\"" : "",
                   wsg_addr_format(&row->key, addr, sizeof(addr)), row->score, row->rec.hits,
                   wsg_event_time_str(row->rec.last_seen, t1),
                   row->rec.ban_until > c->now ? wsg_event_time_str(row->rec.ban_until, t2) : "-",
                   row->rec.rules[0], row->rec.rules[1], row->rec.rules[2], row->rec.rules[3]);
    }
    ap_rputs("</table><p><a href=\"?json\">JSON</a></p></body></html>\n", r);
}

static int wsg_status_handler(request_rec *r)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    const wsg_gen_t *gen = sc->gen;
    wsg_collect_t c;
    wsg_store_t *st = gen->store;
    apr_status_t rv;

    /* Runs for every request: the first byte rules nearly all of them out. */
    if (!r->handler || r->handler[0] != 'w' || strcmp(r->handler, "wsguard-status"))
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (!st || !gen->ready)
        return HTTP_SERVICE_UNAVAILABLE;
    memset(&c, 0, sizeof(c));
    c.rows = apr_array_make(r->pool, 64, sizeof(wsg_row_t));
    c.pol = &gen->policy;
    c.now = apr_time_now();
    rv = wsg_store_iterate(st, collect, &c);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(19520)
                      "status: cannot read state: %s", wsg_store_strerror(rv));
        return HTTP_SERVICE_UNAVAILABLE;
    }
    qsort(c.rows->elts, c.rows->nelts, sizeof(wsg_row_t), by_interest);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->args && !strcmp(r->args, "json"))
        send_json(r, &c, gen);
    else
        send_html(r, &c, gen);
    return OK;
}

void wsg_status_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(wsg_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
