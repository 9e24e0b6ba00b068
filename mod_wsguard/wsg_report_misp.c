/* wsg_report_misp: a MISP event (ip-src, url and user-agent attributes, tags). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

static json_t *misp_attr(apr_pool_t *p, const char *type, const char *value, int to_ids,
                         apr_time_t ts, const char *comment)
{
    json_t *a = json_object();
    json_object_set_new(a, "type", json_string(type));
    json_object_set_new(a, "category", json_string("Network activity"));
    json_object_set_new(a, "value", json_string(value));
    json_object_set_new(a, "to_ids", json_boolean(to_ids));
    json_object_set_new(a, "uuid", json_string(wsg_rpt_uuid4(p)));
    json_object_set_new(a, "timestamp", json_string(apr_psprintf(p, "%" APR_TIME_T_FMT,
                                                                 apr_time_sec(ts))));
    json_object_set_new(a, "distribution", json_string("5")); /* inherit the event's */
    json_object_set_new(a, "comment", json_string(comment ? comment : ""));
    return a;
}

static json_t *misp_tag(const char *name)
{
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(name));
    return t;
}

/* Adds every member of set (anonymised) to the global tally all: value -> clients using it. */
static void tally(wsg_report_t *r, apr_pool_t *p, apr_hash_t *all, const strset_t *s, int target)
{
    apr_hash_index_t *hi;
    apr_hash_t *mine = apr_hash_make(p);
    if (!s->h)
        return;
    for (hi = apr_hash_first(p, s->h); hi; hi = apr_hash_next(hi)) {
        const void *k;
        const char *v;
        unsigned *n;
        apr_hash_this(hi, &k, NULL, NULL);
        v = wsg_rpt_outs(r, p, k, target);
        if (apr_hash_get(mine, v, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(mine, v, APR_HASH_KEY_STRING, "");
        n = apr_hash_get(all, v, APR_HASH_KEY_STRING);
        if (!n) {
            n = apr_pcalloc(p, sizeof(*n));
            apr_hash_set(all, v, APR_HASH_KEY_STRING, n);
        }
        (*n)++;
    }
}

static void tally_attrs(apr_pool_t *p, json_t *attrs, apr_hash_t *all, const char *type,
                        unsigned max, apr_time_t ts)
{
    strset_t s = { all, 0 };
    unsigned n;
    entry_t *e = wsg_rpt_set_sorted(p, &s, &n);
    for (unsigned i = 0; i < n && i < max; i++)
        json_array_append_new(attrs, misp_attr(p, type, e[i].v, 0, ts,
            apr_psprintf(p, "seen from %u scanning address%s", e[i].n, e[i].n == 1 ? "" : "es")));
}

char *wsg_rpt_render_misp(wsg_report_t *r, apr_pool_t *p)
{
    json_t *root = json_object(), *ev = json_object(), *tags = json_array(), *attrs = json_array();
    json_t *orgc = json_object();
    size_t ti = wsg_rpt_tlp_index(r->o.tlp);
    unsigned n;
    client_t **c = wsg_rpt_clients_sorted(r, p, &n);
    campaigns_t cs = wsg_rpt_campaigns_find(r, p, c, n);
    apr_hash_t *urls = apr_hash_make(p), *uas = apr_hash_make(p);
    int any_shell = 0;
    char date[WSG_EVENT_TIMESTR];

    wsg_event_time_str(r->o.now, date);
    date[10] = '\0';
    for (unsigned i = 0; i < n; i++) {
        const client_t *cl = c[i];
        json_t *taglist = wsg_rpt_set_json(r, p, &cl->tags, 0, 20);
        const char *t = wsg_rpt_join(p, taglist, ", ", 20);
        json_t *a = misp_attr(p, "ip-src", cl->addr, 1, cl->last, apr_psprintf(p,
            "%u request%s, %u distinct path%s%s%s%s", cl->count, cl->count == 1 ? "" : "s",
            wsg_rpt_set_count(&cl->paths) + cl->paths.overflow,
            wsg_rpt_set_count(&cl->paths) + cl->paths.overflow == 1 ? "" : "s", *t ? ", tags: " : "", t,
            cl->shell_hit ? "; a probe got 2xx: possible web shell present" : ""));
        if (cl->camp) {
            /* Campaign ids are per report: the tag groups the members inside this event. */
            json_t *ctag = json_array();
            const char *cm = json_string_value(json_object_get(a, "comment"));
            json_object_set_new(a, "comment", json_string(apr_psprintf(p,
                "%s; campaign %s: %s", cm, cl->camp->id, wsg_rpt_camp_summary(p, cl->camp))));
            json_array_append_new(ctag, misp_tag(apr_psprintf(p, "wsguard:campaign=\"%s\"",
                                                               cl->camp->id)));
            json_object_set_new(a, "Tag", ctag);
        }
        json_object_set_new(a, "first_seen", wsg_rpt_jtime(p, cl->first));
        json_object_set_new(a, "last_seen", wsg_rpt_jtime(p, cl->last));
        json_array_append_new(attrs, a);
        any_shell |= cl->shell_hit;
        tally(r, p, urls, &cl->uris, 1);
        tally(r, p, uas, &cl->uas, 0);
    }
    tally_attrs(p, attrs, urls, "url", 500, r->o.now);
    tally_attrs(p, attrs, uas, "user-agent", 200, r->o.now);

    json_array_append_new(tags, misp_tag(apr_pstrcat(p, "tlp:", wsg_rpt_tlps[ti].level, NULL)));
    for (size_t k = 0; k < N_TECH; k++)
        json_array_append_new(tags, misp_tag(apr_psprintf(p,
            "misp-galaxy:mitre-attack-pattern=\"%s\"", wsg_rpt_techniques[k].misp)));
    if (any_shell)
        json_array_append_new(tags, misp_tag("wsguard:possible-web-shell-present"));

    json_object_set_new(ev, "info", json_string(apr_psprintf(p,
        "Web-shell scanning seen by %s (%u addresses%s)", r->o.org, n,
        cs.n ? apr_psprintf(p, ", %u campaign%s", cs.n, cs.n == 1 ? "" : "s") : "")));
    json_object_set_new(ev, "date", json_string(date));
    json_object_set_new(ev, "threat_level_id", json_string(any_shell ? "1" : "3"));
    json_object_set_new(ev, "analysis", json_string("2"));
    json_object_set_new(ev, "distribution", json_string(wsg_rpt_tlps[ti].misp_distribution));
    json_object_set_new(ev, "published", json_false());
    json_object_set_new(ev, "uuid", json_string(wsg_rpt_uuid4(p)));
    json_object_set_new(ev, "timestamp", json_string(apr_psprintf(p, "%" APR_TIME_T_FMT,
                                                                  apr_time_sec(r->o.now))));
    json_object_set_new(orgc, "name", json_string(r->o.org));
    json_object_set_new(ev, "Orgc", orgc);
    json_object_set_new(ev, "Tag", tags);
    json_object_set_new(ev, "Attribute", attrs);
    json_object_set_new(root, "Event", ev);
    return wsg_rpt_dump(p, root);
}
