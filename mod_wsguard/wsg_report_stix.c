/* wsg_report_stix: a STIX 2.1 bundle (identity, TLP marking, ATT&CK attack patterns, campaigns,
 * one indicator and one sighting per address). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

typedef struct {
    const char *identity, *marking, *created;
} stix_ctx_t;

/* The common properties of an SDO/SRO we create. */
static json_t *stix_obj(apr_pool_t *p, const stix_ctx_t *x, const char *type)
{
    json_t *o = json_object(), *m = json_array();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "spec_version", json_string("2.1"));
    json_object_set_new(o, "id", json_string(wsg_rpt_stix_id(p, type)));
    json_object_set_new(o, "created", json_string(x->created));
    json_object_set_new(o, "modified", json_string(x->created));
    json_object_set_new(o, "created_by_ref", json_string(x->identity));
    json_array_append_new(m, json_string(x->marking));
    json_object_set_new(o, "object_marking_refs", m);
    return o;
}

static const char *oid(json_t *o)
{
    return wsg_rpt_jstr(o, "id");
}

char *wsg_rpt_render_stix(wsg_report_t *r, apr_pool_t *p)
{
    json_t *bundle = json_object(), *objs = json_array(), *o, *a, *tlp;
    const char *ap_ids[N_TECH];
    stix_ctx_t x;
    size_t ti = wsg_rpt_tlp_index(r->o.tlp);
    unsigned n;
    client_t **c = wsg_rpt_clients_sorted(r, p, &n);
    campaigns_t cs = wsg_rpt_campaigns_find(r, p, c, n);

    x.created = wsg_rpt_tstr(p, r->o.now);
    x.marking = wsg_rpt_tlps[ti].id;
    x.identity = r->o.identity;   /* configured or derived from the org name: stable */

    /* The TLP marking as the specification defines it (no created_by_ref, no modified). */
    tlp = json_object();
    json_object_set_new(tlp, "type", json_string("marking-definition"));
    json_object_set_new(tlp, "spec_version", json_string("2.1"));
    json_object_set_new(tlp, "id", json_string(wsg_rpt_tlps[ti].id));
    json_object_set_new(tlp, "created", json_string("2017-01-20T00:00:00.000Z"));
    json_object_set_new(tlp, "definition_type", json_string("tlp"));
    {
        char *nm = apr_pstrcat(p, "TLP:", wsg_rpt_tlps[ti].level, NULL);
        for (char *q = nm; *q; q++)
            *q = (char)apr_toupper(*q);
        json_object_set_new(tlp, "name", json_string(nm));
    }
    a = json_object();
    json_object_set_new(a, "tlp", json_string(wsg_rpt_tlps[ti].level));
    json_object_set_new(tlp, "definition", a);
    json_array_append_new(objs, tlp);

    o = stix_obj(p, &x, "identity");
    json_object_set_new(o, "id", json_string(x.identity));
    json_object_set_new(o, "name", json_string(r->o.org));
    json_object_set_new(o, "identity_class", json_string("organization"));
    json_array_append_new(objs, o);

    for (size_t k = 0; k < N_TECH; k++) {
        json_t *ext = json_object(), *kc = json_object();
        o = stix_obj(p, &x, "attack-pattern");
        ap_ids[k] = apr_pstrdup(p, oid(o));
        /* MITRE's name and id, so OpenCTI (which keys attack patterns on the mitre-attack
         * external_id, x_mitre_id for it) links these to its ATT&CK objects */
        json_object_set_new(o, "name", json_string(wsg_rpt_techniques[k].name));
        json_object_set_new(o, "description", json_string(apr_psprintf(p, "%s: %s (ATT&CK %s)",
            wsg_rpt_techniques[k].parent, wsg_rpt_techniques[k].name, wsg_rpt_techniques[k].id)));
        json_object_set_new(o, "x_mitre_id", json_string(wsg_rpt_techniques[k].id));
        json_object_set_new(ext, "source_name", json_string("mitre-attack"));
        json_object_set_new(ext, "external_id", json_string(wsg_rpt_techniques[k].id));
        json_object_set_new(ext, "url", json_string(wsg_rpt_techniques[k].url));
        a = json_array();
        json_array_append_new(a, ext);
        json_object_set_new(o, "external_references", a);
        json_object_set_new(kc, "kill_chain_name", json_string("mitre-attack"));
        json_object_set_new(kc, "phase_name", json_string(wsg_rpt_techniques[k].phase));
        a = json_array();
        json_array_append_new(a, kc);
        json_object_set_new(o, "kill_chain_phases", a);
        json_array_append_new(objs, o);
    }

    /* One campaign per group of clients probing the same paths from different prefixes; it
     * uses wordlist scanning, and its members' indicators indicate it. */
    for (unsigned i = 0; i < cs.n; i++) {
        campaign_t *cp = &cs.v[i];
        const char *sample = wsg_rpt_join(p, wsg_rpt_camp_sample(r, p, cp, 5), ", ", 5);
        o = stix_obj(p, &x, "campaign");
        cp->stix_id = apr_pstrdup(p, oid(o));
        json_object_set_new(o, "name", json_string(apr_psprintf(p,
            "Web-shell scanning campaign %s", cp->id)));
        json_object_set_new(o, "description", json_string(apr_psprintf(p, "%s%s%s",
            wsg_rpt_camp_summary(p, cp), *sample ? ", e.g. " : "", sample)));
        json_object_set_new(o, "first_seen", wsg_rpt_jtime(p, cp->first));
        json_object_set_new(o, "last_seen", wsg_rpt_jtime(p, cp->last));
        json_object_set_new(o, "objective", json_string("find web shells left on servers"));
        json_array_append_new(objs, o);
        o = stix_obj(p, &x, "relationship");
        json_object_set_new(o, "relationship_type", json_string("uses"));
        json_object_set_new(o, "source_ref", json_string(cp->stix_id));
        json_object_set_new(o, "target_ref", json_string(ap_ids[0]));
        json_array_append_new(objs, o);
    }

    for (unsigned i = 0; i < n; i++) {
        const client_t *cl = c[i];
        apr_time_t until = cl->last + r->o.validity;
        const char *ind_id, *tags;
        json_t *labels = json_array(), *taglist;

        if (cl->ban_until > until)
            until = cl->ban_until;
        o = stix_obj(p, &x, "indicator");
        ind_id = apr_pstrdup(p, oid(o));
        json_object_set_new(o, "name", json_string(apr_psprintf(p, "Web-shell scanning from %s",
                                                                cl->addr)));
        taglist = wsg_rpt_set_json(r, p, &cl->tags, 0, 20);
        tags = wsg_rpt_join(p, json_deep_copy(taglist), ", ", 20);
        json_object_set_new(o, "description", json_string(apr_psprintf(p,
            "%u requests probing %u distinct paths between %s and %s%s%s%s", cl->count,
            wsg_rpt_set_count(&cl->paths) + cl->paths.overflow, wsg_rpt_tstr(p, cl->first), wsg_rpt_tstr(p, cl->last),
            *tags ? " (" : "", tags, *tags ? ")" : "")
            ));
        json_object_set_new(o, "indicator_types", json_pack("[s]", "malicious-activity"));
        json_object_set_new(o, "pattern", json_string(apr_psprintf(p, "[%s:value = '%s']",
                                  cl->a.family == 6 ? "ipv6-addr" : "ipv4-addr", cl->addr)));
        json_object_set_new(o, "pattern_type", json_string("stix"));
        json_object_set_new(o, "pattern_version", json_string("2.1"));
        json_object_set_new(o, "valid_from", wsg_rpt_jtime(p, cl->first));
        json_object_set_new(o, "valid_until", wsg_rpt_jtime(p, until));
        json_array_append_new(labels, json_string("web-shell-scanning"));
        if (cl->shell_hit)
            json_array_append_new(labels, json_string("possible-web-shell-present"));
        json_array_extend(labels, taglist);
        json_decref(taglist);
        json_object_set_new(o, "labels", labels);
        json_array_append_new(objs, o);

        o = stix_obj(p, &x, "sighting");
        json_object_set_new(o, "sighting_of_ref", json_string(ind_id));
        json_object_set_new(o, "count", json_integer(cl->count > STIX_COUNT_MAX ? STIX_COUNT_MAX
                                                                                 : cl->count));
        json_object_set_new(o, "first_seen", wsg_rpt_jtime(p, cl->first));
        json_object_set_new(o, "last_seen", wsg_rpt_jtime(p, cl->last));
        json_object_set_new(o, "where_sighted_refs", json_pack("[s]", x.identity));
        json_array_append_new(objs, o);

        for (size_t k = 0; k < N_TECH; k++) {
            o = stix_obj(p, &x, "relationship");
            json_object_set_new(o, "relationship_type", json_string("indicates"));
            json_object_set_new(o, "source_ref", json_string(ind_id));
            json_object_set_new(o, "target_ref", json_string(ap_ids[k]));
            json_array_append_new(objs, o);
        }
        if (cl->camp) {
            o = stix_obj(p, &x, "relationship");
            json_object_set_new(o, "relationship_type", json_string("indicates"));
            json_object_set_new(o, "source_ref", json_string(ind_id));
            json_object_set_new(o, "target_ref", json_string(cl->camp->stix_id));
            json_array_append_new(objs, o);
        }
    }

    json_object_set_new(bundle, "type", json_string("bundle"));
    json_object_set_new(bundle, "id", json_string(wsg_rpt_stix_id(p, "bundle")));
    json_object_set_new(bundle, "objects", objs);
    return wsg_rpt_dump(p, bundle);
}
