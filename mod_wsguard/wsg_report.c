/* wsg_report: event-log lines -> per-address aggregate -> CSV / JSON / STIX 2.1 bundle / MISP event.
 * Anonymisation is applied when rendering, because the reporter's host names (the vhosts) are only
 * all known once every line has been read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report.h"
#include "wsg_event.h"
#include "wsg_ip.h"
#include "wsg_util.h"

/* Bound the memory one hostile client can make us use: distinct values kept per set. */
#define SET_MAX 2000
/* STIX sighting count is limited to this by the spec. */
#define STIX_COUNT_MAX 999999999u
#define DEFAULT_ORG "mod_wsguard reporter"
#define REDACTED_HOST "redacted.invalid"
#define REDACTED_IP "REDACTED-IP"

/* Campaigns: the same probe list arriving from many prefixes. Two clients in different /24 (IPv4)
 * or /64 (IPv6) prefixes are linked when each probed at least CAMP_MIN_PATHS distinct normalised
 * paths and the Jaccard similarity of their path sets is at least CAMP_MIN_JACCARD; a campaign is
 * a connected group of linked clients (so it always spans two prefixes or more). Five paths keep a
 * couple of common probes (/wp-login.php, /.env) from joining unrelated scanners; one half is a
 * shared wordlist even when each side adds its own noise. Pairs are only compared through a
 * path -> clients index, and CAMP_WORK_MAX bounds the steps a hostile log can make us take; past
 * it the grouping is reported as incomplete. */
#define CAMP_MIN_PATHS 5
#define CAMP_MIN_JACCARD 0.5
#define CAMP_WORK_MAX 200000000ull
#define CAMP_SAMPLE 10

/* ATT&CK techniques every report refers to. */
static const struct {
    const char *id, *name, *phase, *url, *misp;
} techniques[] = {
    { "T1595.003", "Active Scanning: Wordlist Scanning", "reconnaissance",
      "https://attack.mitre.org/techniques/T1595/003/", "Wordlist Scanning - T1595.003" },
    { "T1505.003", "Server Software Component: Web Shell", "persistence",
      "https://attack.mitre.org/techniques/T1505/003/", "Web Shell - T1505.003" },
};
#define N_TECH (sizeof(techniques) / sizeof(techniques[0]))

/* The TLP 1.0 marking definitions as published in the STIX 2.1 specification (section 7.2.1.4). */
static const struct {
    const char *level, *id, *misp_distribution;
} tlps[] = {
    { "white", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "3" },
    { "green", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "2" },
    { "amber", "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "1" },
    { "red",   "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "0" },
};

/* A set of strings with a count per member, capped at SET_MAX members. */
typedef struct {
    apr_hash_t *h;          /* const char * -> unsigned * */
    unsigned    overflow;   /* values not kept because the set was full */
} strset_t;

typedef struct campaign_t campaign_t;

typedef struct {
    const char *addr;        /* canonical text (wsg_addr_format) */
    wsg_addr_t  a;
    apr_time_t  first, last, ban_until;
    unsigned    count;
    double      max_score;
    int         shell_hit;   /* a probe got a 2xx: the shell may be there */
    strset_t    paths, uris, tags, uas, statuses, rules, shell_paths, vhosts, events;
    campaign_t *camp;        /* set per rendering by campaigns_find; NULL: in none */
} client_t;

/* One campaign of a rendering: members in report order, paths shared by two members or more. */
struct campaign_t {
    const char *id;          /* "c1", "c2", ... by size within the report */
    const char *stix_id;
    client_t  **members;
    unsigned    n, prefixes, nshared;
    apr_time_t  first, last;
    const char **shared;     /* up to CAMP_SAMPLE, most members first (raw, not anonymised) */
};

typedef struct {
    campaign_t *v;
    unsigned    n;
    int         complete;    /* 0: CAMP_WORK_MAX was reached, some pairs were not compared */
} campaigns_t;

struct wsg_report_t {
    apr_pool_t       *p;
    wsg_report_opts_t o;
    apr_hash_t       *clients;    /* addr -> client_t * */
    apr_hash_t       *own_hosts;  /* lower-case vhost -> "" */
    unsigned          lines, bad;
};

/* -- small helpers -------------------------------------------------------------------------- */

static void set_add(apr_pool_t *p, strset_t *s, const char *v)
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

static unsigned set_count(const strset_t *s)
{
    return s->h ? apr_hash_count(s->h) : 0;
}

typedef struct {
    const char *v;
    unsigned    n;
} entry_t;

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->v, y->v);
}

/* Members by count, most frequent first (ties by value, so output is stable). */
static entry_t *set_sorted(apr_pool_t *p, const strset_t *s, unsigned *n)
{
    apr_hash_index_t *hi;
    unsigned i = 0;
    entry_t *e;

    *n = set_count(s);
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

static const char *tstr(apr_pool_t *p, apr_time_t t)
{
    char buf[WSG_EVENT_TIMESTR];
    return apr_pstrdup(p, wsg_event_time_str(t, buf));
}

/* apr_psprintf has no %lld, and json_int_t is long long. */
static const char *num_str(apr_pool_t *p, json_int_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return apr_pstrdup(p, buf);
}

static json_t *jtime(apr_pool_t *p, apr_time_t t)
{
    return t ? json_string(tstr(p, t)) : json_null();
}

static const char *uuid4(apr_pool_t *p)
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

static const char *stix_id(apr_pool_t *p, const char *type)
{
    return apr_pstrcat(p, type, "--", uuid4(p), NULL);
}

/* A growing text buffer for CSV. */
typedef struct {
    apr_pool_t *p;
    char       *b;
    apr_size_t  len, cap;
} sbuf_t;

static void sb_add(sbuf_t *s, const char *t, apr_size_t n)
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

static void sb_str(sbuf_t *s, const char *t)
{
    sb_add(s, t, strlen(t));
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
    for (size_t i = 0; i < sizeof(tlps) / sizeof(tlps[0]); i++)
        if (!strcasecmp(level, tlps[i].level))
            return tlps[i].level;
    return NULL;
}

static size_t tlp_index(const char *level)
{
    for (size_t i = 0; i < sizeof(tlps) / sizeof(tlps[0]); i++)
        if (!strcmp(level, tlps[i].level))
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

apr_status_t wsg_report_format_parse(const char *name, wsg_report_format_t *out)
{
    static const char *names[] = { "csv", "json", "stix", "misp" };
    for (int i = 0; name && i < 4; i++) {
        if (!strcasecmp(name, names[i])) {
            *out = (wsg_report_format_t)i;
            return APR_SUCCESS;
        }
    }
    return APR_EINVAL;
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

static const char *jstr(json_t *o, const char *k)
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
    if (!o || !json_is_object(o) || !(ev = jstr(o, "event")) || !(ts = jstr(o, "time"))
        || wsg_event_time_parse(ts, &t) != APR_SUCCESS) {
        json_decref(o);
        r->bad++;
        return APR_EINVAL;
    }
    vhost = jstr(o, "vhost");
    if (vhost && *vhost)
        add_own_host(r, vhost);
    ctext = jstr(o, "client");
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
    c->count++;
    if (t < c->first)
        c->first = t;
    if (t > c->last)
        c->last = t;
    set_add(p, &c->events, ev);
    if ((s = jstr(o, "path")) || (s = jstr(o, "uri")))
        set_add(p, &c->paths, s);
    set_add(p, &c->uris, jstr(o, "uri"));
    set_add(p, &c->tags, jstr(o, "tag"));
    set_add(p, &c->uas, jstr(o, "ua"));
    set_add(p, &c->vhosts, vhost);
    v = json_object_get(o, "status");
    status = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    if (status)
        set_add(p, &c->statuses, apr_itoa(p, status));
    if (!strcmp(ev, "alert") || (status >= 200 && status < 300 && strcmp(ev, "refused"))) {
        c->shell_hit = 1;
        set_add(p, &c->shell_paths, jstr(o, "path") ? jstr(o, "path") : jstr(o, "uri"));
    }
    v = json_object_get(o, "rules");
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        json_t *id = json_array_get(v, i);
        if (json_is_integer(id))
            set_add(p, &c->rules, num_str(p, json_integer_value(id)));
    }
    v = json_object_get(o, "client_score");
    if (json_is_number(v) && json_number_value(v) > c->max_score)
        c->max_score = json_number_value(v);
    if ((s = jstr(o, "ban_until")) && wsg_event_time_parse(s, &bu) == APR_SUCCESS
        && bu > c->ban_until)
        c->ban_until = bu;
    json_decref(o);
    return APR_SUCCESS;
}

apr_status_t wsg_report_read_file(wsg_report_t *r, const char *path, const char **err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *line;
    size_t n = 0;
    int c, over = 0;
    apr_status_t rv = APR_SUCCESS;

    if (!f) {
        rv = APR_FROM_OS_ERROR(errno);
        *err = apr_psprintf(r->p, "%s: %s", path, strerror(errno));
        return rv;
    }
    /* a fixed buffer: a hostile log's endless line costs no more memory than a normal one */
    line = malloc(WSG_REPORT_LINE_MAX + 1);
    errno = 0;
    for (;;) {
        c = getc_unlocked(f);
        if (c != EOF && c != '\n') {
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
        if (c == EOF)
            break;
    }
    if (ferror(f)) {
        rv = APR_FROM_OS_ERROR(errno ? errno : EIO);
        *err = apr_psprintf(r->p, "%s: read error: %s", path, strerror(errno ? errno : EIO));
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rv;
}

/* -- anonymisation ------------------------------------------------------------------------- */

/* Drops query values, keeps names: "?a=1&b=2&c" -> "?a=&b=&c". A fragment is dropped. */
static char *strip_query_values(apr_pool_t *p, const char *s)
{
    const char *q = strchr(s, '?');
    sbuf_t b = { p, NULL, 0, 0 };
    int in_value = 0;

    if (!q)
        return apr_pstrdup(p, s);
    sb_add(&b, s, (apr_size_t)(q - s) + 1);
    for (q++; *q && *q != '#'; q++) {
        if (*q == '&' || *q == ';') {
            in_value = 0;
            sb_add(&b, q, 1);
        }
        else if (in_value) {
            continue;
        }
        else {
            sb_add(&b, q, 1);
            if (*q == '=')
                in_value = 1;
        }
    }
    return b.b;
}

static int host_len_cmp(const void *a, const void *b)
{
    size_t x = strlen(*(const char *const *)a), y = strlen(*(const char *const *)b);
    return x > y ? -1 : x < y ? 1 : 0;
}

/* Replaces every own host name, longest first, case-insensitively. */
static char *strip_hosts(wsg_report_t *r, apr_pool_t *p, const char *s)
{
    const char **hosts;
    unsigned n = apr_hash_count(r->own_hosts), i = 0;
    apr_hash_index_t *hi;
    char *cur = apr_pstrdup(p, s);

    if (!n)
        return cur;
    hosts = apr_palloc(p, sizeof(*hosts) * n);
    for (hi = apr_hash_first(p, r->own_hosts); hi; hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        hosts[i++] = k;
    }
    qsort(hosts, n, sizeof(*hosts), host_len_cmp);
    for (i = 0; i < n; i++) {
        size_t hl = strlen(hosts[i]);
        char *hit;
        sbuf_t b = { p, NULL, 0, 0 };
        const char *from = cur;
        if (!hl || !strcasestr(cur, hosts[i]))
            continue;
        while ((hit = strcasestr(from, hosts[i]))) {
            sb_add(&b, from, (apr_size_t)(hit - from));
            sb_str(&b, REDACTED_HOST);
            from = hit + hl;
        }
        sb_str(&b, from);
        cur = b.b;
    }
    return cur;
}

static int addr_char(char ch)
{
    return apr_isxdigit(ch) || ch == ':' || ch == '.';
}

/* Replaces private IPv4/IPv6 addresses found as tokens anywhere in s. */
static char *strip_private(apr_pool_t *p, const char *s)
{
    sbuf_t b = { p, NULL, 0, 0 };
    const char *i = s;

    sb_str(&b, "");
    while (*i) {
        const char *j = i;
        if (!addr_char(*i) || (i > s && (apr_isalnum(i[-1]) || i[-1] == '_'))) {
            sb_add(&b, i, 1);
            i++;
            continue;
        }
        while (addr_char(*j))
            j++;
        {
            /* Try the token, then without trailing dots/colons ("10.0.0.1." at a sentence end). */
            size_t n = (size_t)(j - i);
            int done = 0;
            while (n >= 2 && !done) {
                char *tok = apr_pstrmemdup(p, i, n);
                wsg_addr_t a;
                if ((strchr(tok, '.') || strchr(tok, ':')) && wsg_addr_parse(tok, &a) == APR_SUCCESS
                    && !strchr(tok, '/')) {
                    if (wsg_addr_is_private(&a))
                        sb_str(&b, REDACTED_IP);
                    else
                        sb_add(&b, i, n);
                    sb_add(&b, i + n, (size_t)(j - i) - n);
                    done = 1;
                }
                else if (tok[n - 1] == '.' || tok[n - 1] == ':') {
                    n--;
                }
                else {
                    break;
                }
            }
            if (!done)
                sb_add(&b, i, (size_t)(j - i));
        }
        i = j;
    }
    return b.b;
}

/* Second pass for IPv4 glued to other text ("x10.0.0.1", "dead:10.0.0.1"), which the token pass
 * leaves alone: any run of digits and dots not inside a longer number. */
static char *strip_private_v4(apr_pool_t *p, const char *s)
{
    sbuf_t b = { p, NULL, 0, 0 };
    const char *i = s;

    sb_str(&b, "");
    while (*i) {
        const char *j = i;
        wsg_addr_t a;
        size_t n;
        if (!apr_isdigit(*i) || (i > s && (apr_isdigit(i[-1]) || i[-1] == '.'))) {
            sb_add(&b, i, 1);
            i++;
            continue;
        }
        while (apr_isdigit(*j) || *j == '.')
            j++;
        n = (size_t)(j - i);
        while (n && i[n - 1] == '.')
            n--;
        if (n >= 7 && wsg_addr_parse(apr_pstrmemdup(p, i, n), &a) == APR_SUCCESS
            && wsg_addr_is_private(&a)) {
            sb_str(&b, REDACTED_IP);
            sb_add(&b, i + n, (size_t)(j - i) - n);
        }
        else {
            sb_add(&b, i, (size_t)(j - i));
        }
        i = j;
    }
    return b.b;
}

char *wsg_report_anonymise_str(wsg_report_t *r, const char *s, int is_target, apr_pool_t *p)
{
    char *out;
    if (!s)
        return NULL;
    out = is_target ? strip_query_values(p, s) : apr_pstrdup(p, s);
    out = strip_hosts(r, p, out);
    out = strip_private(p, out);
    return strip_private_v4(p, out);
}

/* What a string looks like in the output: anonymised if asked. */
static const char *outs(wsg_report_t *r, apr_pool_t *p, const char *s, int is_target)
{
    return r->o.anonymise ? wsg_report_anonymise_str(r, s, is_target, p) : s;
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
static client_t **clients_sorted(wsg_report_t *r, apr_pool_t *p, unsigned *n)
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
static json_t *set_json(wsg_report_t *r, apr_pool_t *p, const strset_t *s, int is_target,
                        unsigned max)
{
    unsigned n, i;
    entry_t *e = set_sorted(p, s, &n);
    apr_hash_t *seen = apr_hash_make(p);
    json_t *a = json_array();

    for (i = 0; i < n && json_array_size(a) < max; i++) {
        const char *v = outs(r, p, e[i].v, is_target);
        if (apr_hash_get(seen, v, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, v, APR_HASH_KEY_STRING, "");
        json_array_append_new(a, json_string(v));
    }
    return a;
}

/* -- campaigns ----------------------------------------------------------------------------- */

static unsigned uf_find(unsigned *up, unsigned i)
{
    while (up[i] != i) {
        up[i] = up[up[i]];
        i = up[i];
    }
    return i;
}

static int camp_cmp(const void *a, const void *b)
{
    const campaign_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return strcmp(x->members[0]->addr, y->members[0]->addr);
}

/* Groups the n clients to report (in report order) into campaigns and points each member's camp
 * at its campaign. Deterministic for a given log: ids follow size, then first seen. */
static campaigns_t campaigns_find(wsg_report_t *r, apr_pool_t *p, client_t **c, unsigned n)
{
    campaigns_t out = { NULL, 0, 1 };
    apr_hash_index_t *hi;
    apr_hash_t *index = apr_hash_make(p);   /* path -> apr_array of unsigned (eligible index) */
    unsigned *elig = apr_palloc(p, sizeof(*elig) * (n + 1)), ne = 0;
    unsigned *up, *inter, *touched, *size;
    const char **pfx;
    unsigned long long work = 0;
    campaign_t *v;

    for (hi = apr_hash_first(p, r->clients); hi; hi = apr_hash_next(hi)) {
        void *x;
        apr_hash_this(hi, NULL, NULL, &x);
        ((client_t *)x)->camp = NULL;
    }
    for (unsigned i = 0; i < n; i++)
        if (set_count(&c[i]->paths) >= CAMP_MIN_PATHS)
            elig[ne++] = i;
    if (ne < 2)
        return out;

    up = apr_palloc(p, sizeof(*up) * ne);
    inter = apr_pcalloc(p, sizeof(*inter) * ne);
    touched = apr_palloc(p, sizeof(*touched) * ne);
    size = apr_pcalloc(p, sizeof(*size) * ne);
    pfx = apr_palloc(p, sizeof(*pfx) * ne);
    for (unsigned k = 0; k < ne; k++) {
        client_t *cl = c[elig[k]];
        wsg_addr_t pre;
        char buf[WSG_ADDR_STRLEN];
        up[k] = k;
        wsg_addr_prefix(&cl->a, &pre);
        pfx[k] = apr_pstrdup(p, wsg_addr_format(&pre, buf, sizeof(buf)));
        for (hi = apr_hash_first(p, cl->paths.h); hi; hi = apr_hash_next(hi)) {
            const void *key;
            apr_array_header_t *post;
            apr_hash_this(hi, &key, NULL, NULL);
            post = apr_hash_get(index, key, APR_HASH_KEY_STRING);
            if (!post) {
                post = apr_array_make(p, 4, sizeof(unsigned));
                apr_hash_set(index, key, APR_HASH_KEY_STRING, post);
            }
            APR_ARRAY_PUSH(post, unsigned) = k;
        }
    }

    /* Intersections of k with every later client sharing a path, then the Jaccard test. */
    for (unsigned k = 0; k < ne && out.complete; k++) {
        client_t *cl = c[elig[k]];
        unsigned nt = 0, nk = set_count(&cl->paths);
        for (hi = apr_hash_first(p, cl->paths.h); hi; hi = apr_hash_next(hi)) {
            const void *key;
            apr_array_header_t *post;
            apr_hash_this(hi, &key, NULL, NULL);
            post = apr_hash_get(index, key, APR_HASH_KEY_STRING);
            /* Postings are in increasing order: walk back to k. */
            work++;
            for (int q = post->nelts - 1; q >= 0; q--) {
                unsigned j = APR_ARRAY_IDX(post, q, unsigned);
                if (j <= k)
                    break;
                work++;
                if (!inter[j]++)
                    touched[nt++] = j;
            }
        }
        for (unsigned t = 0; t < nt; t++) {
            unsigned j = touched[t], nj = set_count(&c[elig[j]]->paths);
            double jac = (double)inter[j] / (double)(nk + nj - inter[j]);
            if (jac >= CAMP_MIN_JACCARD && strcmp(pfx[k], pfx[j])) {
                unsigned a = uf_find(up, k), b = uf_find(up, j);
                if (a != b)
                    up[a > b ? a : b] = a < b ? a : b;
            }
            inter[j] = 0;
        }
        if (work > CAMP_WORK_MAX)
            out.complete = 0;
    }

    /* Components of two members or more, from two prefixes or more. */
    for (unsigned k = 0; k < ne; k++)
        size[uf_find(up, k)]++;
    v = apr_pcalloc(p, sizeof(*v) * ne);
    {
        unsigned *slot = apr_palloc(p, sizeof(*slot) * ne);
        for (unsigned k = 0; k < ne; k++) {
            unsigned root = uf_find(up, k);
            campaign_t *cp;
            client_t *cl = c[elig[k]];
            if (size[root] < 2)
                continue;
            if (root == k) {
                slot[root] = out.n++;
                v[slot[root]].members = apr_palloc(p, sizeof(client_t *) * size[root]);
            }
            cp = &v[slot[root]];   /* the root is the component's lowest index: seen first */
            if (!cp->n || cl->first < cp->first)
                cp->first = cl->first;
            if (!cp->n || cl->last > cp->last)
                cp->last = cl->last;
            cp->members[cp->n++] = cl;
        }
    }
    for (unsigned i = 0; i < out.n; i++) {
        campaign_t *cp = &v[i];
        apr_hash_t *pf = apr_hash_make(p);
        strset_t all = { NULL, 0 };
        unsigned ns;
        entry_t *e;
        for (unsigned m = 0; m < cp->n; m++) {
            wsg_addr_t pre;
            char buf[WSG_ADDR_STRLEN];
            wsg_addr_prefix(&cp->members[m]->a, &pre);
            wsg_addr_format(&pre, buf, sizeof(buf));
            apr_hash_set(pf, apr_pstrdup(p, buf), APR_HASH_KEY_STRING, "");
            for (hi = apr_hash_first(p, cp->members[m]->paths.h); hi; hi = apr_hash_next(hi)) {
                const void *key;
                apr_hash_this(hi, &key, NULL, NULL);
                set_add(p, &all, key);
            }
        }
        cp->prefixes = apr_hash_count(pf);
        e = set_sorted(p, &all, &ns);
        cp->shared = apr_palloc(p, sizeof(*cp->shared) * CAMP_SAMPLE);
        for (unsigned k = 0; k < ns && e[k].n >= 2; k++) {
            if (cp->nshared < CAMP_SAMPLE)
                cp->shared[cp->nshared] = e[k].v;
            cp->nshared++;
        }
    }
    /* Drop what is not a campaign (cannot happen: links join different prefixes), then name. */
    {
        unsigned w = 0;
        for (unsigned i = 0; i < out.n; i++)
            if (v[i].prefixes >= 2)
                v[w++] = v[i];
        out.n = w;
    }
    qsort(v, out.n, sizeof(*v), camp_cmp);
    for (unsigned i = 0; i < out.n; i++) {
        v[i].id = apr_psprintf(p, "c%u", i + 1);
        for (unsigned m = 0; m < v[i].n; m++)
            v[i].members[m]->camp = &v[i];
    }
    out.v = v;
    return out;
}

/* The shared-path sample as JSON, anonymised like request targets. */
static json_t *camp_sample(wsg_report_t *r, apr_pool_t *p, const campaign_t *cp, unsigned max)
{
    json_t *a = json_array();
    apr_hash_t *seen = apr_hash_make(p);
    for (unsigned i = 0; i < cp->nshared && i < CAMP_SAMPLE && json_array_size(a) < max; i++) {
        const char *v = outs(r, p, cp->shared[i], 1);
        if (apr_hash_get(seen, v, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, v, APR_HASH_KEY_STRING, "");
        json_array_append_new(a, json_string(v));
    }
    return a;
}

static const char *camp_summary(apr_pool_t *p, const campaign_t *cp)
{
    return apr_psprintf(p, "%u addresses in %u different /24 or /64 prefixes probing the same "
                        "paths (%u probed by two or more of them)", cp->n, cp->prefixes,
                        cp->nshared);
}

static json_t *counts_json(apr_pool_t *p, const strset_t *s)
{
    unsigned n;
    entry_t *e = set_sorted(p, s, &n);
    json_t *o = json_object();
    for (unsigned i = 0; i < n; i++)
        json_object_set_new(o, e[i].v, json_integer(e[i].n));
    return o;
}

static json_t *client_json(wsg_report_t *r, apr_pool_t *p, const client_t *c)
{
    json_t *o = json_object(), *rules = json_array();
    unsigned n;
    entry_t *e = set_sorted(p, &c->rules, &n);

    json_object_set_new(o, "address", json_string(c->addr));
    json_object_set_new(o, "family", json_string(c->a.family == 6 ? "ipv6" : "ipv4"));
    json_object_set_new(o, "first_seen", jtime(p, c->first));
    json_object_set_new(o, "last_seen", jtime(p, c->last));
    json_object_set_new(o, "count", json_integer(c->count));
    json_object_set_new(o, "distinct_paths", json_integer(set_count(&c->paths)
                                                          + c->paths.overflow));
    json_object_set_new(o, "possible_shell", json_boolean(c->shell_hit));
    json_object_set_new(o, "shell_paths", set_json(r, p, &c->shell_paths, 0, SET_MAX));
    json_object_set_new(o, "events", counts_json(p, &c->events));
    json_object_set_new(o, "statuses", counts_json(p, &c->statuses));
    json_object_set_new(o, "tags", set_json(r, p, &c->tags, 0, SET_MAX));
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(rules, json_integer(strtoll(e[i].v, NULL, 10)));
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "user_agents", set_json(r, p, &c->uas, 0, SET_MAX));
    json_object_set_new(o, "paths", set_json(r, p, &c->paths, 0, SET_MAX));
    json_object_set_new(o, "uris", set_json(r, p, &c->uris, 1, SET_MAX));
    json_object_set_new(o, "max_score", json_real(c->max_score));
    json_object_set_new(o, "ban_until", jtime(p, c->ban_until));
    json_object_set_new(o, "campaign", c->camp ? json_string(c->camp->id) : json_null());
    if (!r->o.anonymise)
        json_object_set_new(o, "vhosts", set_json(r, p, &c->vhosts, 0, SET_MAX));
    return o;
}

static char *dump(apr_pool_t *p, json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    char *out = apr_pstrcat(p, s ? s : "null", "\n", NULL);
    free(s);
    json_decref(o);
    return out;
}

static char *render_json(wsg_report_t *r, apr_pool_t *p)
{
    unsigned n;
    client_t **c = clients_sorted(r, p, &n);
    campaigns_t cs = campaigns_find(r, p, c, n);
    json_t *o = json_object(), *arr = json_array(), *camps = json_array(), *rule = json_object();

    json_object_set_new(o, "generated", jtime(p, r->o.now));
    json_object_set_new(o, "since", jtime(p, r->o.since));
    json_object_set_new(o, "until", jtime(p, r->o.until));
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
        json_object_set_new(co, "shared_paths", camp_sample(r, p, cp, CAMP_SAMPLE));
        json_object_set_new(co, "first_seen", jtime(p, cp->first));
        json_object_set_new(co, "last_seen", jtime(p, cp->last));
        json_array_append_new(camps, co);
    }
    json_object_set_new(o, "campaigns", camps);
    json_object_set_new(rule, "min_paths", json_integer(CAMP_MIN_PATHS));
    json_object_set_new(rule, "min_jaccard", json_real(CAMP_MIN_JACCARD));
    json_object_set_new(rule, "prefix_ipv4", json_integer(24));
    json_object_set_new(rule, "prefix_ipv6", json_integer(64));
    json_object_set_new(rule, "complete", json_boolean(cs.complete));
    json_object_set_new(o, "campaign_grouping", rule);
    return dump(p, o);
}

/* -- CSV (RFC 4180) ------------------------------------------------------------------------ */

static void csv_field(sbuf_t *b, const char *v, int first)
{
    if (!first)
        sb_str(b, ",");
    if (!v)
        return;
    /* a raw CR, LF or ESC would break the row or reach the analyst's terminal: \xNN */
    if (wsg_has_ctl(v, strlen(v)))
        v = wsg_escape_ctl(b->p, v, strlen(v), 0, 0);
    /* Spreadsheets run a cell that starts with these as a formula: a scanner's User-Agent
     * must not become code on an analyst's desk. */
    int formula = (*v == '=' || *v == '+' || *v == '-' || *v == '@' || *v == '\t' || *v == '\r')
                  && !(*v == '-' && apr_isdigit(v[1]));
    if (!formula && !strpbrk(v, ",\"\r\n")) {
        sb_str(b, v);
        return;
    }
    sb_str(b, "\"");
    if (formula)
        sb_str(b, "'");
    for (const char *q; (q = strchr(v, '"')); v = q + 1) {
        sb_add(b, v, (apr_size_t)(q - v));
        sb_str(b, "\"\"");
    }
    sb_str(b, v);
    sb_str(b, "\"");
}

/* Joins a JSON array of strings (or integers) with sep. */
static const char *join(apr_pool_t *p, json_t *a, const char *sep, unsigned max)
{
    sbuf_t b = { p, NULL, 0, 0 };
    sb_str(&b, "");
    for (size_t i = 0; i < json_array_size(a) && i < max; i++) {
        json_t *v = json_array_get(a, i);
        if (i)
            sb_str(&b, sep);
        if (json_is_string(v))
            sb_str(&b, json_string_value(v));
        else if (json_is_integer(v))
            sb_str(&b, num_str(p, json_integer_value(v)));
    }
    json_decref(a);
    return b.b;
}

static const char *counts_text(apr_pool_t *p, const strset_t *s)
{
    unsigned n;
    entry_t *e = set_sorted(p, s, &n);
    sbuf_t b = { p, NULL, 0, 0 };
    sb_str(&b, "");
    for (unsigned i = 0; i < n; i++)
        sb_str(&b, apr_psprintf(p, "%s%s:%u", i ? ";" : "", e[i].v, e[i].n));
    return b.b;
}

static char *render_csv(wsg_report_t *r, apr_pool_t *p)
{
    static const char *cols[] = { "address", "family", "first_seen", "last_seen", "count",
                                  "distinct_paths", "possible_shell", "shell_paths", "statuses",
                                  "tags", "rules", "user_agents", "paths", "uris",
                                  "max_score", "ban_until", "campaign" };
    sbuf_t b = { p, NULL, 0, 0 };
    unsigned n;
    client_t **c = clients_sorted(r, p, &n);

    campaigns_find(r, p, c, n);
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        csv_field(&b, cols[i], i == 0);
    sb_str(&b, "\r\n");
    for (unsigned i = 0; i < n; i++) {
        const client_t *x = c[i];
        json_t *rules = json_array();
        unsigned nr;
        entry_t *e = set_sorted(p, &x->rules, &nr);
        for (unsigned k = 0; k < nr; k++)
            json_array_append_new(rules, json_string(e[k].v));
        csv_field(&b, x->addr, 1);
        csv_field(&b, x->a.family == 6 ? "ipv6" : "ipv4", 0);
        csv_field(&b, tstr(p, x->first), 0);
        csv_field(&b, tstr(p, x->last), 0);
        csv_field(&b, apr_psprintf(p, "%u", x->count), 0);
        csv_field(&b, apr_psprintf(p, "%u", set_count(&x->paths) + x->paths.overflow), 0);
        csv_field(&b, x->shell_hit ? "yes" : "no", 0);
        csv_field(&b, join(p, set_json(r, p, &x->shell_paths, 0, 20), " | ", 20), 0);
        csv_field(&b, counts_text(p, &x->statuses), 0);
        csv_field(&b, join(p, set_json(r, p, &x->tags, 0, 50), ";", 50), 0);
        csv_field(&b, join(p, rules, ";", 50), 0);
        csv_field(&b, join(p, set_json(r, p, &x->uas, 0, 10), " | ", 10), 0);
        csv_field(&b, join(p, set_json(r, p, &x->paths, 0, 20), " | ", 20), 0);
        csv_field(&b, join(p, set_json(r, p, &x->uris, 1, 20), " | ", 20), 0);
        csv_field(&b, apr_psprintf(p, "%.2f", x->max_score), 0);
        csv_field(&b, x->ban_until ? tstr(p, x->ban_until) : "", 0);
        csv_field(&b, x->camp ? x->camp->id : "", 0);
        sb_str(&b, "\r\n");
    }
    return b.b;
}

/* -- STIX 2.1 ------------------------------------------------------------------------------ */

typedef struct {
    const char *identity, *marking, *created;
} stix_ctx_t;

/* The common properties of an SDO/SRO we create. */
static json_t *stix_obj(apr_pool_t *p, const stix_ctx_t *x, const char *type)
{
    json_t *o = json_object(), *m = json_array();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "spec_version", json_string("2.1"));
    json_object_set_new(o, "id", json_string(stix_id(p, type)));
    json_object_set_new(o, "created", json_string(x->created));
    json_object_set_new(o, "modified", json_string(x->created));
    json_object_set_new(o, "created_by_ref", json_string(x->identity));
    json_array_append_new(m, json_string(x->marking));
    json_object_set_new(o, "object_marking_refs", m);
    return o;
}

static const char *oid(json_t *o)
{
    return jstr(o, "id");
}

static char *render_stix(wsg_report_t *r, apr_pool_t *p)
{
    json_t *bundle = json_object(), *objs = json_array(), *o, *a, *tlp;
    const char *ap_ids[N_TECH];
    stix_ctx_t x;
    size_t ti = tlp_index(r->o.tlp);
    unsigned n;
    client_t **c = clients_sorted(r, p, &n);
    campaigns_t cs = campaigns_find(r, p, c, n);

    x.created = tstr(p, r->o.now);
    x.marking = tlps[ti].id;
    x.identity = wsg_report_identity_ok(r->o.identity) ? r->o.identity : stix_id(p, "identity");

    /* The TLP marking as the specification defines it (no created_by_ref, no modified). */
    tlp = json_object();
    json_object_set_new(tlp, "type", json_string("marking-definition"));
    json_object_set_new(tlp, "spec_version", json_string("2.1"));
    json_object_set_new(tlp, "id", json_string(tlps[ti].id));
    json_object_set_new(tlp, "created", json_string("2017-01-20T00:00:00.000Z"));
    json_object_set_new(tlp, "definition_type", json_string("tlp"));
    {
        char *nm = apr_pstrcat(p, "TLP:", tlps[ti].level, NULL);
        for (char *q = nm; *q; q++)
            *q = (char)apr_toupper(*q);
        json_object_set_new(tlp, "name", json_string(nm));
    }
    a = json_object();
    json_object_set_new(a, "tlp", json_string(tlps[ti].level));
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
        json_object_set_new(o, "name", json_string(techniques[k].name));
        json_object_set_new(ext, "source_name", json_string("mitre-attack"));
        json_object_set_new(ext, "external_id", json_string(techniques[k].id));
        json_object_set_new(ext, "url", json_string(techniques[k].url));
        a = json_array();
        json_array_append_new(a, ext);
        json_object_set_new(o, "external_references", a);
        json_object_set_new(kc, "kill_chain_name", json_string("mitre-attack"));
        json_object_set_new(kc, "phase_name", json_string(techniques[k].phase));
        a = json_array();
        json_array_append_new(a, kc);
        json_object_set_new(o, "kill_chain_phases", a);
        json_array_append_new(objs, o);
    }

    /* One campaign per group of clients probing the same paths from different prefixes; it
     * uses wordlist scanning, and its members' indicators indicate it. */
    for (unsigned i = 0; i < cs.n; i++) {
        campaign_t *cp = &cs.v[i];
        const char *sample = join(p, camp_sample(r, p, cp, 5), ", ", 5);
        o = stix_obj(p, &x, "campaign");
        cp->stix_id = apr_pstrdup(p, oid(o));
        json_object_set_new(o, "name", json_string(apr_psprintf(p,
            "Web-shell scanning campaign %s", cp->id)));
        json_object_set_new(o, "description", json_string(apr_psprintf(p, "%s%s%s",
            camp_summary(p, cp), *sample ? ", e.g. " : "", sample)));
        json_object_set_new(o, "first_seen", jtime(p, cp->first));
        json_object_set_new(o, "last_seen", jtime(p, cp->last));
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
        taglist = set_json(r, p, &cl->tags, 0, 20);
        tags = join(p, json_deep_copy(taglist), ", ", 20);
        json_object_set_new(o, "description", json_string(apr_psprintf(p,
            "%u requests probing %u distinct paths between %s and %s%s%s%s", cl->count,
            set_count(&cl->paths) + cl->paths.overflow, tstr(p, cl->first), tstr(p, cl->last),
            *tags ? " (" : "", tags, *tags ? ")" : "")
            ));
        json_object_set_new(o, "indicator_types", json_pack("[s]", "malicious-activity"));
        json_object_set_new(o, "pattern", json_string(apr_psprintf(p, "[%s:value = '%s']",
                                  cl->a.family == 6 ? "ipv6-addr" : "ipv4-addr", cl->addr)));
        json_object_set_new(o, "pattern_type", json_string("stix"));
        json_object_set_new(o, "pattern_version", json_string("2.1"));
        json_object_set_new(o, "valid_from", jtime(p, cl->first));
        json_object_set_new(o, "valid_until", jtime(p, until));
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
        json_object_set_new(o, "first_seen", jtime(p, cl->first));
        json_object_set_new(o, "last_seen", jtime(p, cl->last));
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
    json_object_set_new(bundle, "id", json_string(stix_id(p, "bundle")));
    json_object_set_new(bundle, "objects", objs);
    return dump(p, bundle);
}

/* -- MISP ---------------------------------------------------------------------------------- */

static json_t *misp_attr(apr_pool_t *p, const char *type, const char *value, int to_ids,
                         apr_time_t ts, const char *comment)
{
    json_t *a = json_object();
    json_object_set_new(a, "type", json_string(type));
    json_object_set_new(a, "category", json_string("Network activity"));
    json_object_set_new(a, "value", json_string(value));
    json_object_set_new(a, "to_ids", json_boolean(to_ids));
    json_object_set_new(a, "uuid", json_string(uuid4(p)));
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
        v = outs(r, p, k, target);
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
    entry_t *e = set_sorted(p, &s, &n);
    for (unsigned i = 0; i < n && i < max; i++)
        json_array_append_new(attrs, misp_attr(p, type, e[i].v, 0, ts,
            apr_psprintf(p, "seen from %u scanning address%s", e[i].n, e[i].n == 1 ? "" : "es")));
}

static char *render_misp(wsg_report_t *r, apr_pool_t *p)
{
    json_t *root = json_object(), *ev = json_object(), *tags = json_array(), *attrs = json_array();
    json_t *orgc = json_object();
    size_t ti = tlp_index(r->o.tlp);
    unsigned n;
    client_t **c = clients_sorted(r, p, &n);
    campaigns_t cs = campaigns_find(r, p, c, n);
    apr_hash_t *urls = apr_hash_make(p), *uas = apr_hash_make(p);
    int any_shell = 0;
    char date[WSG_EVENT_TIMESTR];

    wsg_event_time_str(r->o.now, date);
    date[10] = '\0';
    for (unsigned i = 0; i < n; i++) {
        const client_t *cl = c[i];
        json_t *taglist = set_json(r, p, &cl->tags, 0, 20);
        const char *t = join(p, taglist, ", ", 20);
        json_t *a = misp_attr(p, "ip-src", cl->addr, 1, cl->last, apr_psprintf(p,
            "%u request%s, %u distinct path%s%s%s%s", cl->count, cl->count == 1 ? "" : "s",
            set_count(&cl->paths) + cl->paths.overflow,
            set_count(&cl->paths) + cl->paths.overflow == 1 ? "" : "s", *t ? ", tags: " : "", t,
            cl->shell_hit ? "; a probe got 2xx: possible web shell present" : ""));
        if (cl->camp) {
            /* Campaign ids are per report: the tag groups the members inside this event. */
            json_t *ctag = json_array();
            const char *cm = json_string_value(json_object_get(a, "comment"));
            json_object_set_new(a, "comment", json_string(apr_psprintf(p,
                "%s; campaign %s: %s", cm, cl->camp->id, camp_summary(p, cl->camp))));
            json_array_append_new(ctag, misp_tag(apr_psprintf(p, "wsguard:campaign=\"%s\"",
                                                               cl->camp->id)));
            json_object_set_new(a, "Tag", ctag);
        }
        json_object_set_new(a, "first_seen", jtime(p, cl->first));
        json_object_set_new(a, "last_seen", jtime(p, cl->last));
        json_array_append_new(attrs, a);
        any_shell |= cl->shell_hit;
        tally(r, p, urls, &cl->uris, 1);
        tally(r, p, uas, &cl->uas, 0);
    }
    tally_attrs(p, attrs, urls, "url", 500, r->o.now);
    tally_attrs(p, attrs, uas, "user-agent", 200, r->o.now);

    json_array_append_new(tags, misp_tag(apr_pstrcat(p, "tlp:", tlps[ti].level, NULL)));
    for (size_t k = 0; k < N_TECH; k++)
        json_array_append_new(tags, misp_tag(apr_psprintf(p,
            "misp-galaxy:mitre-attack-pattern=\"%s\"", techniques[k].misp)));
    if (any_shell)
        json_array_append_new(tags, misp_tag("wsguard:possible-web-shell-present"));

    json_object_set_new(ev, "info", json_string(apr_psprintf(p,
        "Web-shell scanning seen by %s (%u addresses%s)", r->o.org, n,
        cs.n ? apr_psprintf(p, ", %u campaign%s", cs.n, cs.n == 1 ? "" : "s") : "")));
    json_object_set_new(ev, "date", json_string(date));
    json_object_set_new(ev, "threat_level_id", json_string(any_shell ? "1" : "3"));
    json_object_set_new(ev, "analysis", json_string("2"));
    json_object_set_new(ev, "distribution", json_string(tlps[ti].misp_distribution));
    json_object_set_new(ev, "published", json_false());
    json_object_set_new(ev, "uuid", json_string(uuid4(p)));
    json_object_set_new(ev, "timestamp", json_string(apr_psprintf(p, "%" APR_TIME_T_FMT,
                                                                  apr_time_sec(r->o.now))));
    json_object_set_new(orgc, "name", json_string(r->o.org));
    json_object_set_new(ev, "Orgc", orgc);
    json_object_set_new(ev, "Tag", tags);
    json_object_set_new(ev, "Attribute", attrs);
    json_object_set_new(root, "Event", ev);
    return dump(p, root);
}

char *wsg_report_render(wsg_report_t *r, wsg_report_format_t fmt, apr_pool_t *p)
{
    switch (fmt) {
    case WSG_REPORT_CSV:  return render_csv(r, p);
    case WSG_REPORT_JSON: return render_json(r, p);
    case WSG_REPORT_STIX: return render_stix(r, p);
    case WSG_REPORT_MISP: return render_misp(r, p);
    }
    return NULL;
}
