/* wsg_report: event-log lines -> per-address aggregate (the model every format renders), the
 * helpers the renderers share, and the format table (name -> renderer). Anonymisation
 * (wsg_report_anon.c) is applied when rendering, because the reporter's host names (the vhosts) are
 * only all known once every line has been read; campaigns are in wsg_report_campaign.c, one
 * renderer per wsg_report_<format>.c. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <apr_general.h>
#include <apr_sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

/* ATT&CK techniques every report refers to. */
const wsg_rpt_tech_t wsg_rpt_techniques[N_TECH] = {
    /* id, MITRE's name (as in ATT&CK's own STIX data), its parent technique, tactic, page, and the
     * MISP galaxy cluster value (misp-galaxy:mitre-attack-pattern="...") */
    { "T1595.003", "Wordlist Scanning", "Active Scanning", "reconnaissance",
      "https://attack.mitre.org/techniques/T1595/003/", "Wordlist Scanning - T1595.003" },
    { "T1505.003", "Web Shell", "Server Software Component", "persistence",
      "https://attack.mitre.org/techniques/T1505/003/", "Web Shell - T1505.003" },
};

/* The TLP 1.0 marking definitions as published in the STIX 2.1 specification (section 7.2.1.4). */
const wsg_rpt_tlp_t wsg_rpt_tlps[N_TLP] = {
    { "white", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "3" },
    { "green", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "2" },
    { "amber", "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "1" },
    { "red",   "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "0" },
};


/* -- small helpers -------------------------------------------------------------------------- */

void wsg_rpt_set_add(apr_pool_t *p, strset_t *s, const char *v)
{
    unsigned *n;
    if (!v || !*v)
        return;
    /* what the log says is foreign text: no raw control byte reaches any report format (JSON
     * writers leave 0x7f raw, CSV and terminals take them all) */
    if (wsg_has_ctl(v, strlen(v)))
        v = wsg_escape_ctl(p, v, strlen(v), 0, 0);
    if (!s->h)
        s->h = apr_hash_make(p);
    n = apr_hash_get(s->h, v, APR_HASH_KEY_STRING);
    if (n) {
        (*n)++;
        return;
    }
    if (apr_hash_count(s->h) >= SET_MAX) {
        s->overflow++;
        return;
    }
    n = apr_palloc(p, sizeof(*n));
    *n = 1;
    apr_hash_set(s->h, apr_pstrdup(p, v), APR_HASH_KEY_STRING, n);
}

unsigned wsg_rpt_set_count(const strset_t *s)
{
    return s->h ? apr_hash_count(s->h) : 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->v, y->v);
}

/* Members by count, most frequent first (ties by value, so output is stable). */
entry_t *wsg_rpt_set_sorted(apr_pool_t *p, const strset_t *s, unsigned *n)
{
    apr_hash_index_t *hi;
    unsigned i = 0;
    entry_t *e;

    *n = wsg_rpt_set_count(s);
    e = apr_palloc(p, sizeof(*e) * (*n + 1));
    if (!s->h)
        return e;
    for (hi = apr_hash_first(p, s->h); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        apr_hash_this(hi, &k, NULL, &v);
        e[i].v = k;
        e[i].n = *(unsigned *)v;
        i++;
    }
    qsort(e, *n, sizeof(*e), entry_cmp);
    return e;
}

const char *wsg_rpt_tstr(apr_pool_t *p, apr_time_t t)
{
    char buf[WSG_EVENT_TIMESTR];
    return apr_pstrdup(p, wsg_event_time_str(t, buf));
}

/* apr_psprintf has no %lld, and json_int_t is long long. */
const char *wsg_rpt_num_str(apr_pool_t *p, json_int_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return apr_pstrdup(p, buf);
}

json_t *wsg_rpt_jtime(apr_pool_t *p, apr_time_t t)
{
    return t ? json_string(wsg_rpt_tstr(p, t)) : json_null();
}

const char *wsg_rpt_uuid4(apr_pool_t *p)
{
    unsigned char b[16];
    if (apr_generate_random_bytes(b, sizeof(b)) != APR_SUCCESS) {
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(b, 1, sizeof(b), f) != sizeof(b)) {
            /* No entropy source at all: ids stay well-formed, uniqueness is best effort. */
            apr_time_t t = apr_time_now();
            for (size_t i = 0; i < sizeof(b); i++)
                b[i] = (unsigned char)((t >> (i % 8 * 8)) ^ (rand() & 0xff));
        }
        if (f)
            fclose(f);
    }
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    return apr_psprintf(p, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15]);
}

const char *wsg_report_uuid5(apr_pool_t *p, const char *ns, const char *name)
{
    unsigned char nb[16], d[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t c;
    int k = 0;

    for (const char *q = ns; q && *q && k < 32; q++) {
        int v = apr_isdigit(*q) ? *q - '0' : apr_isxdigit(*q) ? (apr_tolower(*q) - 'a' + 10) : -1;
        if (v < 0)
            continue;   /* the dashes */
        if (k % 2)
            nb[k / 2] = (unsigned char)(nb[k / 2] | v);
        else
            nb[k / 2] = (unsigned char)(v << 4);
        k++;
    }
    if (k != 32)
        return NULL;
    apr_sha1_init(&c);
    apr_sha1_update_binary(&c, nb, sizeof(nb));
    apr_sha1_update_binary(&c, (const unsigned char *)name, (unsigned int)strlen(name));
    apr_sha1_final(d, &c);
    d[6] = (d[6] & 0x0F) | 0x50;    /* RFC 4122 4.3: version 5 (SHA-1, name-based) */
    d[8] = (d[8] & 0x3F) | 0x80;
    return apr_psprintf(p, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11],
                        d[12], d[13], d[14], d[15]);
}

const char *wsg_report_identity_for(apr_pool_t *p, const char *org)
{
    /* As STIX 2.1 (2.9) derives deterministic ids: UUIDv5 in its namespace over the canonical JSON
     * (sorted keys, no spaces) of the properties that make the object what it is; the name is
     * case-folded and trimmed, so "ACME CERT " and "acme cert" are one reporter. */
    const char *b = org ? org : DEFAULT_ORG, *e;
    json_t *o = json_object();
    char *canon, *name;
    const char *id;

    while (apr_isspace(*b))
        b++;
    e = b + strlen(b);
    while (e > b && apr_isspace(e[-1]))
        e--;
    name = apr_pstrmemdup(p, b, (apr_size_t)(e - b));
    for (char *q = name; *q; q++)
        *q = (char)apr_tolower(*q);
    json_object_set_new(o, "identity_class", json_string("organization"));
    json_object_set_new(o, "name", json_string(name));
    canon = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    id = apr_pstrcat(p, "identity--", wsg_report_uuid5(p, WSG_STIX_NAMESPACE, canon ? canon : name),
                     NULL);
    free(canon);
    return id;
}

const char *wsg_rpt_stix_id(apr_pool_t *p, const char *type)
{
    return apr_pstrcat(p, type, "--", wsg_rpt_uuid4(p), NULL);
}

void wsg_rpt_sb_add(sbuf_t *s, const char *t, apr_size_t n)
{
    if (s->len + n + 1 > s->cap) {
        apr_size_t cap = (s->cap ? s->cap * 2 : 4096);
        char *nb;
        while (cap < s->len + n + 1)
            cap *= 2;
        nb = apr_palloc(s->p, cap);
        if (s->len)
            memcpy(nb, s->b, s->len);
        s->b = nb;
        s->cap = cap;
    }
    memcpy(s->b + s->len, t, n);
    s->len += n;
    s->b[s->len] = '\0';
}

void wsg_rpt_sb_str(sbuf_t *s, const char *t)
{
    wsg_rpt_sb_add(s, t, strlen(t));
}

static char *lower_dup(apr_pool_t *p, const char *s)
{
    char *l = apr_pstrdup(p, s);
    for (char *q = l; *q; q++)
        *q = (char)apr_tolower(*q);
    return l;
}
/* -- options ------------------------------------------------------------------------------- */

const char *wsg_report_tlp_name(const char *level)
{
    if (!level)
        return NULL;
    if (!strncasecmp(level, "tlp:", 4))
        level += 4;
    for (size_t i = 0; i < N_TLP; i++)
        if (!strcasecmp(level, wsg_rpt_tlps[i].level))
            return wsg_rpt_tlps[i].level;
    return NULL;
}

size_t wsg_rpt_tlp_index(const char *level)
{
    for (size_t i = 0; i < N_TLP; i++)
        if (!strcmp(level, wsg_rpt_tlps[i].level))
            return i;
    return 2; /* amber */
}

int wsg_report_identity_ok(const char *id)
{
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (!id || strncmp(id, "identity--", 10) || strlen(id + 10) != sizeof(form) - 1)
        return 0;
    id += 10;
    for (size_t i = 0; form[i]; i++) {
        if (form[i] == '-' ? id[i] != '-' : !(apr_isdigit(id[i]) || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    }
    return strchr("12345", id[14]) && strchr("89ab", id[19]);
}

/* Records an own host name. "www.example.org" also hides "example.org", so the company's other
 * names ("shop.example.org" in an absolute-form request) do not give it away. Only for "www.":
 * dropping any first label would turn "acme.co.uk" into "co.uk". */
static void add_own_host(wsg_report_t *r, const char *name)
{
    char *l = lower_dup(r->p, name);
    if (apr_hash_get(r->own_hosts, l, APR_HASH_KEY_STRING))
        return;
    apr_hash_set(r->own_hosts, l, APR_HASH_KEY_STRING, "");
    if (!strncmp(l, "www.", 4) && strchr(l + 4, '.'))
        apr_hash_set(r->own_hosts, l + 4, APR_HASH_KEY_STRING, "");
}

wsg_report_t *wsg_report_make(apr_pool_t *p, const wsg_report_opts_t *opts)
{
    wsg_report_t *r = apr_pcalloc(p, sizeof(*r));
    const char *tlp;

    r->p = p;
    if (opts)
        r->o = *opts;
    tlp = wsg_report_tlp_name(r->o.tlp);
    r->o.tlp = tlp ? tlp : "amber";
    if (!r->o.org || !*r->o.org)
        r->o.org = DEFAULT_ORG;
    /* the same reporter in every report: the configured id, else one derived from the name */
    if (!wsg_report_identity_ok(r->o.identity))
        r->o.identity = wsg_report_identity_for(p, r->o.org);
    if (!r->o.now)
        r->o.now = apr_time_now();
    if (r->o.validity <= 0)
        r->o.validity = apr_time_from_sec(30 * 86400);
    r->clients = apr_hash_make(p);
    r->own_hosts = apr_hash_make(p);
    for (int i = 0; r->o.hostnames && i < r->o.hostnames->nelts; i++) {
        const char *h = APR_ARRAY_IDX(r->o.hostnames, i, const char *);
        if (h && *h)
            add_own_host(r, h);
    }
    return r;
}

unsigned wsg_report_bad_lines(const wsg_report_t *r) { return r->bad; }
unsigned wsg_report_lines(const wsg_report_t *r) { return r->lines; }
unsigned wsg_report_clients(const wsg_report_t *r) { return apr_hash_count(r->clients); }
/* -- reading ------------------------------------------------------------------------------- */

const char *wsg_rpt_jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Events that are evidence about the client; admin events (unban, import) are not. */
static int is_evidence(const char *ev)
{
    return !strcmp(ev, "probe") || !strcmp(ev, "ban") || !strcmp(ev, "refused")
           || !strcmp(ev, "alert") || !strcmp(ev, "miss");
}

apr_status_t wsg_report_add_line(wsg_report_t *r, const char *line, apr_size_t len)
{
    json_error_t jerr;
    json_t *o, *v;
    const char *ev, *ts, *ctext, *vhost, *s;
    apr_time_t t, bu = 0;
    wsg_addr_t a;
    char abuf[WSG_ADDR_STRLEN];
    client_t *c;
    int status;
    apr_pool_t *p = r->p;

    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    r->lines++;
    if (len > WSG_REPORT_LINE_MAX) {
        r->bad++;
        return APR_EINVAL;
    }
    if (!len) {
        r->lines--; /* blank lines (a trailing newline) are not lines of the log */
        return APR_SUCCESS;
    }
    o = json_loadb(line, len, 0, &jerr);
    if (!o || !json_is_object(o) || !(ev = wsg_rpt_jstr(o, "event")) || !(ts = wsg_rpt_jstr(o, "time"))
        || wsg_event_time_parse(ts, &t) != APR_SUCCESS) {
        json_decref(o);
        r->bad++;
        return APR_EINVAL;
    }
    vhost = wsg_rpt_jstr(o, "vhost");
    if (vhost && *vhost)
        add_own_host(r, vhost);
    ctext = wsg_rpt_jstr(o, "client");
    if (!ctext || wsg_addr_parse(ctext, &a) != APR_SUCCESS || wsg_addr_is_prefix(&a)) {
        /* An event about no single address (or a prefix) says nothing per client. */
        int admin = !is_evidence(ev);
        json_decref(o);
        if (admin)
            return APR_SUCCESS;
        r->bad++;
        return APR_EINVAL;
    }
    if (!is_evidence(ev) || (r->o.since && t < r->o.since) || (r->o.until && t >= r->o.until)) {
        json_decref(o);
        return APR_SUCCESS;
    }
    wsg_addr_format(&a, abuf, sizeof(abuf));
    c = apr_hash_get(r->clients, abuf, APR_HASH_KEY_STRING);
    if (!c) {
        c = apr_pcalloc(p, sizeof(*c));
        c->addr = apr_pstrdup(p, abuf);
        c->a = a;
        c->first = c->last = t;
        apr_hash_set(r->clients, c->addr, APR_HASH_KEY_STRING, c);
    }
    /* An aggregated "refused" line stands for "count" requests (from "since" to "time"), with
     * their distinct "paths": each request a scanner sent is counted once. */
    v = json_object_get(o, "count");
    if (!strcmp(ev, "refused") && json_is_integer(v) && json_integer_value(v) > 1) {
        json_int_t k = json_integer_value(v);
        apr_time_t since;
        unsigned add = k > 1000000000 ? 1000000000u : (unsigned)k;
        c->count = c->count > UINT_MAX - add ? UINT_MAX : c->count + add;  /* hostile logs */
        if ((s = wsg_rpt_jstr(o, "since")) && wsg_event_time_parse(s, &since) == APR_SUCCESS
            && since < t && since < c->first)
            c->first = since;
    }
    else
        c->count++;
    v = json_object_get(o, "paths");
    for (size_t i = 0; !strcmp(ev, "refused") && json_is_array(v) && i < json_array_size(v)
                       && i < WSG_EVENT_PATHS_MAX; i++)
        wsg_rpt_set_add(p, &c->paths, json_string_value(json_array_get(v, i)));
    if (t < c->first)
        c->first = t;
    if (t > c->last)
        c->last = t;
    wsg_rpt_set_add(p, &c->events, ev);
    if ((s = wsg_rpt_jstr(o, "path")) || (s = wsg_rpt_jstr(o, "uri")))
        wsg_rpt_set_add(p, &c->paths, s);
    wsg_rpt_set_add(p, &c->uris, wsg_rpt_jstr(o, "uri"));
    wsg_rpt_set_add(p, &c->tags, wsg_rpt_jstr(o, "tag"));
    wsg_rpt_set_add(p, &c->uas, wsg_rpt_jstr(o, "ua"));
    wsg_rpt_set_add(p, &c->vhosts, vhost);
    v = json_object_get(o, "status");
    status = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    if (status)
        wsg_rpt_set_add(p, &c->statuses, apr_itoa(p, status));
    if (!strcmp(ev, "alert") || (status >= 200 && status < 300 && strcmp(ev, "refused"))) {
        c->shell_hit = 1;
        wsg_rpt_set_add(p, &c->shell_paths, wsg_rpt_jstr(o, "path") ? wsg_rpt_jstr(o, "path") : wsg_rpt_jstr(o, "uri"));
    }
    v = json_object_get(o, "rules");
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        json_t *id = json_array_get(v, i);
        if (json_is_integer(id))
            wsg_rpt_set_add(p, &c->rules, wsg_rpt_num_str(p, json_integer_value(id)));
    }
    v = json_object_get(o, "client_score");
    if (json_is_number(v) && json_number_value(v) > c->max_score)
        c->max_score = json_number_value(v);
    if ((s = wsg_rpt_jstr(o, "ban_until")) && wsg_event_time_parse(s, &bu) == APR_SUCCESS
        && bu > c->ban_until)
        c->ban_until = bu;
    json_decref(o);
    return APR_SUCCESS;
}

/* Reads through zlib, which passes a plain file through unchanged (gzdirect), so one loop reads
 * events.jsonl, events.jsonl.1 and events.jsonl.2.gz alike; concatenated gzip members (a log
 * compressed piecewise) are read to the end. */
apr_status_t wsg_report_read_file(wsg_report_t *r, const char *path, const char **err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(0);
    gzFile gz;
    char *line;
    size_t n = 0;
    int c, over = 0, zerr = Z_OK;
    apr_status_t rv = APR_SUCCESS;

    if (fd < 0 || !(gz = gzdopen(fd, "rb"))) {
        int e = errno ? errno : ENOMEM;
        if (fd >= 0)
            close(fd);
        *err = apr_psprintf(r->p, "%s: %s", path, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    gzbuffer(gz, 64 * 1024);
    /* a fixed buffer: a hostile log's endless line costs no more memory than a normal one */
    line = malloc(WSG_REPORT_LINE_MAX + 1);
    if (!line) {
        gzclose(gz);
        *err = apr_psprintf(r->p, "%s: out of memory", path);
        return APR_ENOMEM;
    }
    errno = 0;
    for (;;) {
        c = gzgetc(gz);
        if (c != -1 && c != '\n') {
            if (n < WSG_REPORT_LINE_MAX)
                line[n++] = (char)c;
            else
                over = 1;
            continue;
        }
        if (over) {
            r->lines++;   /* far longer than any event line: not one of ours */
            r->bad++;
        }
        else if (n || c == '\n')
            wsg_report_add_line(r, line, n);
        n = 0;
        over = 0;
        if (c == -1)
            break;
    }
    {
        const char *msg = gzerror(gz, &zerr);
        if (zerr == Z_ERRNO) {
            int e = errno ? errno : EIO;
            rv = APR_FROM_OS_ERROR(e);
            *err = apr_psprintf(r->p, "%s: read error: %s", path, strerror(e));
        }
        else if (zerr != Z_OK && zerr != Z_STREAM_END) {
            /* a truncated .gz (still being written, or cut short): what came before was read */
            const char *why = msg && !strncmp(msg, "<fd:", 4) && strstr(msg, ": ")
                              ? strstr(msg, ": ") + 2 : msg;   /* zlib names the fd, we the file */
            rv = APR_EGENERAL;
            *err = apr_psprintf(r->p, "%s: damaged gzip data: %s", path, why ? why : "?");
        }
    }
    free(line);
    gzclose(gz);
    return rv;
}
/* -- aggregate ----------------------------------------------------------------------------- */

static int client_cmp(const void *a, const void *b)
{
    const client_t *x = *(client_t *const *)a, *y = *(client_t *const *)b;
    if (x->shell_hit != y->shell_hit)
        return x->shell_hit ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->addr, y->addr);
}

/* The clients to report, most important first; private ones are left out when anonymising. */
client_t **wsg_rpt_clients_sorted(wsg_report_t *r, apr_pool_t *p, unsigned *n)
{
    client_t **v = apr_palloc(p, sizeof(*v) * (apr_hash_count(r->clients) + 1));
    apr_hash_index_t *hi;
    unsigned k = 0;

    for (hi = apr_hash_first(p, r->clients); hi; hi = apr_hash_next(hi)) {
        void *c;
        apr_hash_this(hi, NULL, NULL, &c);
        if (r->o.anonymise && wsg_addr_is_private(&((client_t *)c)->a))
            continue;
        v[k++] = c;
    }
    qsort(v, k, sizeof(*v), client_cmp);
    *n = k;
    return v;
}

/* A set rendered as a JSON array of (anonymised) strings, at most max, de-duplicated again
 * because anonymising can make two values equal. */
json_t *wsg_rpt_set_json(wsg_report_t *r, apr_pool_t *p, const strset_t *s, int is_target,
                        unsigned max)
{
    unsigned n, i;
    entry_t *e = wsg_rpt_set_sorted(p, s, &n);
    apr_hash_t *seen = apr_hash_make(p);
    json_t *a = json_array();

    for (i = 0; i < n && json_array_size(a) < max; i++) {
        const char *v = wsg_rpt_outs(r, p, e[i].v, is_target);
        if (apr_hash_get(seen, v, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, v, APR_HASH_KEY_STRING, "");
        json_array_append_new(a, json_string(v));
    }
    return a;
}
char *wsg_rpt_dump(apr_pool_t *p, json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    char *out = apr_pstrcat(p, s ? s : "null", "\n", NULL);
    free(s);
    json_decref(o);
    return out;
}

/* Joins a JSON array of strings (or integers) with sep. */
const char *wsg_rpt_join(apr_pool_t *p, json_t *a, const char *sep, unsigned max)
{
    sbuf_t b = { p, NULL, 0, 0 };
    wsg_rpt_sb_str(&b, "");
    for (size_t i = 0; i < json_array_size(a) && i < max; i++) {
        json_t *v = json_array_get(a, i);
        if (i)
            wsg_rpt_sb_str(&b, sep);
        if (json_is_string(v))
            wsg_rpt_sb_str(&b, json_string_value(v));
        else if (json_is_integer(v))
            wsg_rpt_sb_str(&b, wsg_rpt_num_str(p, json_integer_value(v)));
    }
    json_decref(a);
    return b.b;
}
/* -- formats -------------------------------------------------------------------------------- */

/* The export formats, in wsg_report_format_t order: a new format is an enum value and one entry,
 * with a renderer (a text) or a directory writer. */
static const struct {
    const char   *name;
    char         *(*render)(wsg_report_t *r, apr_pool_t *p);
    apr_status_t (*write_dir)(wsg_report_t *r, const char *dir, apr_pool_t *p, const char **err);
} formats[] = {
    [WSG_REPORT_CSV]       = { "csv",       wsg_rpt_render_csv,  NULL },
    [WSG_REPORT_JSON]      = { "json",      wsg_rpt_render_json, NULL },
    [WSG_REPORT_STIX]      = { "stix",      wsg_rpt_render_stix, NULL },
    [WSG_REPORT_MISP]      = { "misp",      wsg_rpt_render_misp, NULL },
    [WSG_REPORT_MISP_FEED] = { "misp-feed", NULL,                wsg_rpt_write_misp_feed },
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))
_Static_assert(N_FORMATS == WSG_REPORT_NFORMATS, "one entry per wsg_report_format_t");

apr_status_t wsg_report_format_parse(const char *name, wsg_report_format_t *out)
{
    for (size_t i = 0; name && i < N_FORMATS; i++) {
        if (!strcasecmp(name, formats[i].name)) {
            *out = (wsg_report_format_t)i;
            return APR_SUCCESS;
        }
    }
    return APR_EINVAL;
}

const char *wsg_report_format_name(wsg_report_format_t fmt)
{
    return (unsigned)fmt < N_FORMATS ? formats[fmt].name : NULL;
}

char *wsg_report_render(wsg_report_t *r, wsg_report_format_t fmt, apr_pool_t *p)
{
    if ((unsigned)fmt >= N_FORMATS || !formats[fmt].render)
        return NULL;
    return formats[fmt].render(r, p);
}

int wsg_report_format_is_dir(wsg_report_format_t fmt)
{
    return (unsigned)fmt < N_FORMATS && formats[fmt].write_dir != NULL;
}

apr_status_t wsg_report_write_dir(wsg_report_t *r, wsg_report_format_t fmt, const char *dir,
                                  apr_pool_t *p, const char **err)
{
    if (!wsg_report_format_is_dir(fmt)) {
        *err = apr_psprintf(p, "format %s writes a text, not a directory",
                            wsg_report_format_name(fmt) ? wsg_report_format_name(fmt) : "?");
        return APR_EINVAL;
    }
    return formats[fmt].write_dir(r, dir, p, err);
}
