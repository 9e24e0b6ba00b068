/* wsg_report_misp: a MISP event (ip-src, uri and user-agent attributes, tags, Orgc), and a MISP
 * feed directory (manifest.json, hashes.csv, one <event-uuid>.json per report) in the layout of
 * MISP's feed generator and PyMISP's feed_meta_generator, which a MISP instance subscribes to by
 * URL. Choices, for scanning activity as MISP's own definitions put it: threat level 3 (Low,
 * "mass-malware": opportunistic wordlist scanning), 2 (Medium) when a probe got a 2xx (a web shell
 * may be in place: a possible compromise to look for), never 1 (High: sophisticated / 0-day);
 * analysis 2 (Completed: the report covers a closed window); distribution from the TLP. Attribute
 * to_ids: ip-src yes (the scanner's address is what to block or alert on), uri and user-agent no
 * (wordlist paths and agents match benign traffic too: context, not detection). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include <apr_file_io.h>
#include <apr_md5.h>

#include "wsg_report_int.h"

static json_t *misp_attr(apr_pool_t *p, const char *ev_uuid, const char *type, const char *value,
                         int to_ids, apr_time_t ts, const char *comment)
{
    json_t *a = json_object();
    /* the same attribute of the same event keeps its uuid when the event is regenerated */
    const char *uuid = wsg_report_uuid5(p, ev_uuid, apr_pstrcat(p, type, "|", value, NULL));
    json_object_set_new(a, "type", json_string(type));
    json_object_set_new(a, "category", json_string("Network activity"));
    json_object_set_new(a, "value", json_string(value));
    json_object_set_new(a, "to_ids", json_boolean(to_ids));
    json_object_set_new(a, "uuid", json_string(uuid));
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

static void tally_attrs(apr_pool_t *p, const char *ev_uuid, json_t *attrs, apr_hash_t *all,
                        const char *type, unsigned max, apr_time_t ts)
{
    strset_t s = { all, 0 };
    unsigned n;
    entry_t *e = wsg_rpt_set_sorted(p, &s, &n);
    for (unsigned i = 0; i < n && i < max; i++)
        json_array_append_new(attrs, misp_attr(p, ev_uuid, type, e[i].v, 0, ts,
            apr_psprintf(p, "seen from %u scanning address%s", e[i].n, e[i].n == 1 ? "" : "es")));
}

/* The Orgc uuid: the reporter's STIX identity uuid, so both formats name one reporter. */
static const char *org_uuid(wsg_report_t *r)
{
    return r->o.identity + sizeof("identity--") - 1;
}

/* The event uuid: a fixed window (--since and --until) reported again is the same event (MISP
 * updates it); anything else is a new event. */
static const char *event_uuid(wsg_report_t *r, apr_pool_t *p)
{
    char a[WSG_EVENT_TIMESTR], b[WSG_EVENT_TIMESTR];
    if (!r->o.since || !r->o.until)
        return wsg_rpt_uuid4(p);
    return wsg_report_uuid5(p, org_uuid(r), apr_pstrcat(p, "wsguard-report:",
                            wsg_event_time_str(r->o.since, a), "/",
                            wsg_event_time_str(r->o.until, b), "/", r->o.tlp,
                            r->o.anonymise ? "/anonymised" : "", NULL));
}

static json_t *misp_event(wsg_report_t *r, apr_pool_t *p)
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
    const char *ev_uuid = event_uuid(r, p);

    wsg_event_time_str(r->o.now, date);
    date[10] = '\0';
    for (unsigned i = 0; i < n; i++) {
        const client_t *cl = c[i];
        json_t *taglist = wsg_rpt_set_json(r, p, &cl->tags, 0, 20);
        const char *t = wsg_rpt_join(p, taglist, ", ", 20);
        json_t *a = misp_attr(p, ev_uuid, "ip-src", cl->addr, 1, cl->last, apr_psprintf(p,
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
    /* request targets are "uri" (MISP: "Uniform Resource Identifier"), not "url", which MISP
     * expects to be absolute (scheme and host) and would mis-correlate */
    tally_attrs(p, ev_uuid, attrs, urls, "uri", 500, r->o.now);
    tally_attrs(p, ev_uuid, attrs, uas, "user-agent", 200, r->o.now);

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
    json_object_set_new(ev, "threat_level_id", json_string(any_shell ? "2" : "3"));
    json_object_set_new(ev, "analysis", json_string("2"));
    json_object_set_new(ev, "distribution", json_string(wsg_rpt_tlps[ti].misp_distribution));
    json_object_set_new(ev, "published", json_false());
    json_object_set_new(ev, "uuid", json_string(ev_uuid));
    json_object_set_new(ev, "timestamp", json_string(apr_psprintf(p, "%" APR_TIME_T_FMT,
                                                                  apr_time_sec(r->o.now))));
    json_object_set_new(orgc, "name", json_string(r->o.org));
    json_object_set_new(orgc, "uuid", json_string(org_uuid(r)));
    json_object_set_new(ev, "Orgc", orgc);
    json_object_set_new(ev, "Tag", tags);
    json_object_set_new(ev, "Attribute", attrs);
    json_object_set_new(root, "Event", ev);
    return root;
}

char *wsg_rpt_render_misp(wsg_report_t *r, apr_pool_t *p)
{
    return wsg_rpt_dump(p, misp_event(r, p));
}

/* -- feed directory ------------------------------------------------------------------------ */

static int is_uuid(const char *s)
{
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (!s || strlen(s) != sizeof(form) - 1)
        return 0;
    for (size_t i = 0; form[i]; i++)
        if (form[i] == '-' ? s[i] != '-' : !apr_isxdigit(s[i]) || apr_isupper(s[i]))
            return 0;
    return 1;
}

/* Writes text to dir/name through a temporary file and a rename, so a MISP instance fetching the
 * feed meanwhile sees the old file or the new one, never half of one. */
static apr_status_t put_file(apr_pool_t *p, const char *dir, const char *name, const char *text,
                             apr_size_t len, const char **err)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    char *tmp = apr_pstrcat(p, dir, "/.", name, ".XXXXXX", NULL);
    apr_file_t *f;
    apr_status_t rv;
    char eb[256];

    rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, text, len, NULL);
        if (rv == APR_SUCCESS)
            rv = apr_file_perms_set(tmp, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD
                                         | APR_FPROT_WREAD);
        if (rv == APR_ENOTIMPL)
            rv = APR_SUCCESS;
        if (rv == APR_SUCCESS)
            rv = apr_file_close(f);
        else
            apr_file_close(f);
        if (rv == APR_SUCCESS)
            rv = apr_file_rename(tmp, path, p);
        if (rv != APR_SUCCESS)
            apr_file_remove(tmp, p);
    }
    if (rv != APR_SUCCESS)
        *err = apr_psprintf(p, "%s: %s", path, apr_strerror(rv, eb, sizeof(eb)));
    return rv;
}

/* "md5,event-uuid" lines for every attribute value of an event (a composite value "a|b" gives one
 * line per part), as MISP's feed generator writes hashes.csv. */
static void hash_lines(apr_pool_t *p, json_t *ev, const char *uuid, sbuf_t *out)
{
    json_t *a;
    size_t i;
    json_array_foreach(json_object_get(ev, "Attribute"), i, a) {
        const char *type = wsg_rpt_jstr(a, "type"), *v = wsg_rpt_jstr(a, "value");
        int composite = type && strchr(type, '|');
        while (v) {
            const char *end = composite ? strchr(v, '|') : NULL;
            apr_size_t n = end ? (apr_size_t)(end - v) : strlen(v);
            unsigned char d[APR_MD5_DIGESTSIZE];
            char hex[2 * APR_MD5_DIGESTSIZE + 1];
            apr_md5(d, v, n);
            for (int k = 0; k < APR_MD5_DIGESTSIZE; k++)
                snprintf(hex + 2 * k, 3, "%02x", d[k]);
            wsg_rpt_sb_str(out, apr_pstrcat(p, hex, ",", uuid, "\n", NULL));
            v = end ? end + 1 : NULL;
        }
    }
}

apr_status_t wsg_rpt_write_misp_feed(wsg_report_t *r, const char *dir, apr_pool_t *p,
                                     const char **err)
{
    json_t *root = misp_event(r, p), *ev = json_object_get(root, "Event"), *man, *entry, *v;
    const char *uuid = wsg_rpt_jstr(ev, "uuid"), *key, *mpath = apr_pstrcat(p, dir, "/manifest.json",
                                                                            NULL);
    char *text, eb[256];
    apr_finfo_t fi;
    json_error_t je;
    sbuf_t hashes = { p, NULL, 0, 0 };
    apr_status_t rv;
    void *tmp;

    rv = apr_dir_make(dir, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        *err = apr_psprintf(p, "%s: %s", dir, apr_strerror(rv, eb, sizeof(eb)));
        json_decref(root);
        return rv;
    }
    /* the feed so far: entries whose event file is gone are dropped, a damaged manifest is not
     * overwritten (the operator decides) */
    if (apr_stat(&fi, mpath, APR_FINFO_TYPE, p) == APR_SUCCESS) {
        if (!(man = json_load_file(mpath, 0, &je)) || !json_is_object(man)) {
            *err = apr_psprintf(p, "%s: not a MISP feed manifest (%s); move it away to start a "
                                "new feed", mpath, man ? "not an object" : je.text);
            json_decref(man);
            json_decref(root);
            return APR_EINVAL;
        }
    }
    else {
        man = json_object();
    }

    text = wsg_rpt_dump(p, json_incref(root));
    rv = put_file(p, dir, apr_pstrcat(p, uuid, ".json", NULL), text, strlen(text), err);
    if (rv != APR_SUCCESS) {
        json_decref(man);
        json_decref(root);
        return rv;
    }

    /* the manifest entry, as PyMISP's MISPEvent.manifest makes it */
    entry = json_object();
    json_object_set(entry, "Orgc", json_object_get(ev, "Orgc"));
    json_object_set(entry, "Tag", json_object_get(ev, "Tag"));
    json_object_set(entry, "info", json_object_get(ev, "info"));
    json_object_set(entry, "date", json_object_get(ev, "date"));
    json_object_set_new(entry, "analysis", json_integer(atoi(wsg_rpt_jstr(ev, "analysis"))));
    json_object_set_new(entry, "threat_level_id",
                        json_integer(atoi(wsg_rpt_jstr(ev, "threat_level_id"))));
    json_object_set_new(entry, "timestamp", json_integer(strtoll(wsg_rpt_jstr(ev, "timestamp"),
                                                                 NULL, 10)));
    json_object_set_new(man, uuid, entry);

    wsg_rpt_sb_str(&hashes, "");
    json_object_foreach_safe(man, tmp, key, v) {
        const char *epath = apr_pstrcat(p, dir, "/", key, ".json", NULL);
        json_t *other, *oev;
        if (!is_uuid(key) || apr_stat(&fi, epath, APR_FINFO_TYPE, p) != APR_SUCCESS) {
            json_object_del(man, key);   /* not ours to name a file, or its file is gone */
            continue;
        }
        if (!strcmp(key, uuid)) {
            hash_lines(p, ev, key, &hashes);
            continue;
        }
        other = json_load_file(epath, 0, &je);
        oev = json_object_get(other, "Event");
        if (!json_is_object(oev) || strcmp(wsg_rpt_jstr(oev, "uuid") ? wsg_rpt_jstr(oev, "uuid")
                                                                      : "", key)) {
            *err = apr_psprintf(p, "%s: not the MISP event of the manifest entry %s (%s)", epath,
                                key, other ? "another event" : je.text);
            json_decref(other);
            json_decref(man);
            json_decref(root);
            return APR_EINVAL;
        }
        hash_lines(p, oev, key, &hashes);
        json_decref(other);
    }
    json_decref(root);
    /* hashes first: a consumer reading the new manifest finds the new event's hashes */
    rv = put_file(p, dir, "hashes.csv", hashes.b, hashes.len, err);
    if (rv == APR_SUCCESS) {
        text = wsg_rpt_dump(p, man);
        man = NULL;
        rv = put_file(p, dir, "manifest.json", text, strlen(text), err);
    }
    json_decref(man);
    return rv;
}
