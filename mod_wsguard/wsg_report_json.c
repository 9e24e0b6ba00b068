/* wsg_report_json: the aggregate as JSON (clients, campaigns, the grouping rule). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

static json_t *counts_json(apr_pool_t *p, const strset_t *s)
{
    unsigned n;
    entry_t *e = wsg_rpt_set_sorted(p, s, &n);
    json_t *o = json_object();
    for (unsigned i = 0; i < n; i++)
        json_object_set_new(o, e[i].v, json_integer(e[i].n));
    return o;
}

static json_t *client_json(wsg_report_t *r, apr_pool_t *p, const client_t *c)
{
    json_t *o = json_object(), *rules = json_array();
    unsigned n;
    entry_t *e = wsg_rpt_set_sorted(p, &c->rules, &n);

    json_object_set_new(o, "address", json_string(c->addr));
    json_object_set_new(o, "family", json_string(c->a.family == 6 ? "ipv6" : "ipv4"));
    json_object_set_new(o, "first_seen", wsg_rpt_jtime(p, c->first));
    json_object_set_new(o, "last_seen", wsg_rpt_jtime(p, c->last));
    json_object_set_new(o, "count", json_integer(c->count));
    json_object_set_new(o, "distinct_paths", json_integer(wsg_rpt_set_count(&c->paths)
                                                          + c->paths.overflow));
    json_object_set_new(o, "possible_shell", json_boolean(c->shell_hit));
    json_object_set_new(o, "shell_paths", wsg_rpt_set_json(r, p, &c->shell_paths, 0, SET_MAX));
    json_object_set_new(o, "events", counts_json(p, &c->events));
    json_object_set_new(o, "statuses", counts_json(p, &c->statuses));
    json_object_set_new(o, "tags", wsg_rpt_set_json(r, p, &c->tags, 0, SET_MAX));
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(rules, json_integer(strtoll(e[i].v, NULL, 10)));
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "user_agents", wsg_rpt_set_json(r, p, &c->uas, 0, SET_MAX));
    json_object_set_new(o, "paths", wsg_rpt_set_json(r, p, &c->paths, 0, SET_MAX));
    json_object_set_new(o, "uris", wsg_rpt_set_json(r, p, &c->uris, 1, SET_MAX));
    json_object_set_new(o, "max_score", json_real(c->max_score));
    json_object_set_new(o, "ban_until", wsg_rpt_jtime(p, c->ban_until));
    json_object_set_new(o, "campaign", c->camp ? json_string(c->camp->id) : json_null());
    if (!r->o.anonymise)
        json_object_set_new(o, "vhosts", wsg_rpt_set_json(r, p, &c->vhosts, 0, SET_MAX));
    return o;
}

char *wsg_rpt_render_json(wsg_report_t *r, apr_pool_t *p)
{
    unsigned n;
    client_t **c = wsg_rpt_clients_sorted(r, p, &n);
    campaigns_t cs = wsg_rpt_campaigns_find(r, p, c, n);
    json_t *o = json_object(), *arr = json_array(), *camps = json_array(), *rule = json_object();

    json_object_set_new(o, "generated", wsg_rpt_jtime(p, r->o.now));
    json_object_set_new(o, "since", wsg_rpt_jtime(p, r->o.since));
    json_object_set_new(o, "until", wsg_rpt_jtime(p, r->o.until));
    json_object_set_new(o, "anonymised", json_boolean(r->o.anonymise));
    json_object_set_new(o, "lines", json_integer(r->lines));
    json_object_set_new(o, "skipped_lines", json_integer(r->bad));
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(arr, client_json(r, p, c[i]));
    json_object_set_new(o, "clients", arr);
    for (unsigned i = 0; i < cs.n; i++) {
        const campaign_t *cp = &cs.v[i];
        json_t *co = json_object(), *mem = json_array();
        for (unsigned m = 0; m < cp->n; m++)
            json_array_append_new(mem, json_string(cp->members[m]->addr));
        json_object_set_new(co, "id", json_string(cp->id));
        json_object_set_new(co, "clients", mem);
        json_object_set_new(co, "client_count", json_integer(cp->n));
        json_object_set_new(co, "prefixes", json_integer(cp->prefixes));
        json_object_set_new(co, "shared_path_count", json_integer(cp->nshared));
        json_object_set_new(co, "shared_paths", wsg_rpt_camp_sample(r, p, cp, CAMP_SAMPLE));
        json_object_set_new(co, "first_seen", wsg_rpt_jtime(p, cp->first));
        json_object_set_new(co, "last_seen", wsg_rpt_jtime(p, cp->last));
        json_array_append_new(camps, co);
    }
    json_object_set_new(o, "campaigns", camps);
    json_object_set_new(rule, "min_paths", json_integer(CAMP_MIN_PATHS));
    json_object_set_new(rule, "min_jaccard", json_real(CAMP_MIN_JACCARD));
    json_object_set_new(rule, "prefix_ipv4", json_integer(24));
    json_object_set_new(rule, "prefix_ipv6", json_integer(64));
    json_object_set_new(rule, "complete", json_boolean(cs.complete));
    json_object_set_new(o, "campaign_grouping", rule);
    return wsg_rpt_dump(p, o);
}
