/* wsg_import: a peer's shared bans (json export / report, STIX 2.1, MISP, CSV, plain list) -> ban
 * entries, with every limit checked (file size, line length, entries, range width, ban length) and
 * every number range-checked before it becomes a time. Work and memory are linear in the input:
 * lines are found with memchr, CSV is split into one scratch buffer per line, JSON goes through
 * jansson (which bounds nesting depth). Pure: no store, no clock of its own, no output. */
#include <math.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>
#include "wsg_import.h"
#include "wsg_event.h"
#include "wsg_util.h"

#define TEXT_MAX 80   /* bytes of foreign text quoted in a message, source, reason */

typedef struct {
    apr_pool_t          *p;
    wsg_import_opts_t    o;     /* with the defaults filled in */
    wsg_import_result_t *r;
    int                  noted_limit;
    apr_time_t           seen;  /* evidence time of the entries add() is given next (0: none) */
} imp_t;

const char *wsg_import_format_name(wsg_import_format_t f)
{
    switch (f) {
    case WSG_IMPORT_JSON_EXPORT: return "json export";
    case WSG_IMPORT_JSON_REPORT: return "json report";
    case WSG_IMPORT_STIX:        return "STIX 2.1 bundle";
    case WSG_IMPORT_MISP:        return "MISP event";
    case WSG_IMPORT_CSV:         return "CSV";
    case WSG_IMPORT_PLAIN:       return "plain list";
    default:                     return "empty";
    }
}

apr_status_t wsg_import_until_from_secs(apr_int64_t secs, apr_time_t now, apr_interval_time_t max,
                                        apr_time_t *until, int *capped)
{
    if (secs <= 0)
        return APR_EINVAL;
    if (max <= 0 || max > WSG_IMPORT_MAX_BAN)
        max = WSG_IMPORT_MAX_BAN;
    /* compare in seconds first: secs * 10^6 overflows long before secs itself does */
    if (secs > max / APR_USEC_PER_SEC) {
        *until = now + max;
        *capped = 1;
        return APR_SUCCESS;
    }
    *until = now + (apr_time_t)secs * APR_USEC_PER_SEC;
    if (*until - now > max) {   /* a max that is not whole seconds */
        *until = now + max;
        *capped = 1;
    }
    return APR_SUCCESS;
}

/* ---- messages and entries ---- */

static const char *quoted(imp_t *im, const char *text, apr_size_t len)
{
    return wsg_escape_ctl(im->p, text, len, TEXT_MAX, WSG_ESC_BACKSLASH);
}

static void note(imp_t *im, unsigned line, const char *text)
{
    wsg_import_msg_t *m;
    if (im->r->msgs->nelts >= WSG_IMPORT_MAX_ERRORS) {
        im->r->msgs_dropped++;
        return;
    }
    m = &APR_ARRAY_PUSH(im->r->msgs, wsg_import_msg_t);
    m->line = line;
    m->text = text;
}

/* what, then the foreign text quoted (escaped, cut), if any. */
static void invalid(imp_t *im, unsigned line, const char *what, const char *text)
{
    im->r->invalid++;
    if (im->r->msgs->nelts >= WSG_IMPORT_MAX_ERRORS) {
        im->r->msgs_dropped++;
        return;
    }
    note(im, line, text ? apr_pstrcat(im->p, what, " '", quoted(im, text, strlen(text)), "'",
                                      NULL)
                        : what);
}

/* Entries beyond the cap are counted, not read. Returns 1 when the cap is reached. */
static int over_limit(imp_t *im, unsigned line)
{
    if (im->r->seen < im->o.max_entries)
        return 0;
    im->r->over_limit++;
    if (!im->noted_limit) {
        im->noted_limit = 1;
        note(im, line, apr_psprintf(im->p, "more than %u entries: this one and the rest are not "
                                    "imported (--max-entries raises the cap)", im->o.max_entries));
    }
    return 1;
}

static const char *opt_text(imp_t *im, const char *s)
{
    return s && *s ? quoted(im, s, strlen(s)) : NULL;
}

/* One address or CIDR with its ban end (0: none in the file), already range-checked. */
static void add(imp_t *im, unsigned line, const char *text, apr_time_t until, int capped,
                const char *source, const char *reason)
{
    wsg_addr_t a;
    wsg_import_entry_t *e;
    const apr_time_t now = im->o.now;

    if (over_limit(im, line))
        return;
    im->r->seen++;
    if (wsg_addr_parse(text, &a) != APR_SUCCESS) {
        invalid(im, line, "not an IP address or CIDR:", text);
        return;
    }
    if ((a.family == 4 && a.bits < im->o.min_bits4) || (a.family == 6 && a.bits < im->o.min_bits6)) {
        invalid(im, line, apr_psprintf(im->p, "a range wider than /%d refused:",
                                       a.family == 4 ? im->o.min_bits4 : im->o.min_bits6), text);
        return;
    }
    if (!im->o.allow_private && wsg_addr_is_private(&a)) {
        im->r->private_skipped++;
        note(im, line, apr_psprintf(im->p, "%s is a private, loopback or documentation address "
                                    "(--allow-private imports it)", quoted(im, text, strlen(text))));
        return;
    }
    if (until && until <= now) {
        im->r->expired++;
        return;
    }
    if (!until)
        until = now + im->o.dflt;
    if (until - now > im->o.max) {
        until = now + im->o.max;
        capped = 1;
    }
    if (capped)
        im->r->capped++;
    e = &APR_ARRAY_PUSH(im->r->entries, wsg_import_entry_t);
    e->cidr = a;
    e->until = until;
    e->line = line;
    e->capped = capped;
    e->source = opt_text(im, source);
    e->reason = opt_text(im, reason);
    e->seen = im->seen > 0 && im->seen <= now + WSG_IMPORT_SEEN_SKEW ? im->seen : 0;
}

/* ---- JSON ---- */

/* A ban end from a json object: ban_until / valid_until (absolute, preferred: it does not depend on
 * when the file was made), else remaining_s. 0 when the object gives none; -1 when malformed
 * (*bad names the field). */
static apr_time_t json_until(imp_t *im, json_t *o, const char **bad, int *capped)
{
    static const char *names[] = { "ban_until", "valid_until" };
    json_t *v;
    apr_time_t t;
    size_t i;

    *capped = 0;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        v = json_object_get(o, names[i]);
        if (!v || json_is_null(v))
            continue;
        /* four-digit years: at most 9999-12-31, far inside apr_time_t */
        if (!json_is_string(v) || wsg_event_time_parse(json_string_value(v), &t) != APR_SUCCESS) {
            *bad = names[i];
            return -1;
        }
        return t > 0 ? t : 1;   /* before 1970: expired, and not "none given" */
    }
    v = json_object_get(o, "remaining_s");
    if (v && !json_is_null(v)) {
        apr_int64_t secs;
        if (json_is_integer(v))
            secs = (apr_int64_t)json_integer_value(v);
        else if (json_is_real(v) && isfinite(json_real_value(v)) && json_real_value(v) > 0)
            /* a real beyond any cap stays a huge value without a conversion that overflows */
            secs = json_real_value(v) >= 1e12 ? (apr_int64_t)1e12
                                              : (apr_int64_t)ceil(json_real_value(v));
        else
            secs = 0;
        if (wsg_import_until_from_secs(secs, im->o.now, im->o.max, &t, capped) != APR_SUCCESS) {
            *bad = "remaining_s";
            return -1;
        }
        return t;
    }
    return 0;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The evidence time of a json entry: the latest of the times a peer's file gives for what it saw
 * (last_seen, STIX modified / valid_from, MISP timestamp in epoch seconds), 0 when none is
 * readable. A time in the future is no evidence (add() drops it). */
static apr_time_t json_seen(json_t *o)
{
    static const char *names[] = { "last_seen", "modified", "valid_from", "first_seen" };
    apr_time_t best = 0, t;
    size_t i;
    json_t *v;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *txt = json_string_value(json_object_get(o, names[i]));
        if (txt && wsg_event_time_parse(txt, &t) == APR_SUCCESS && t > best)
            best = t;
    }
    v = json_object_get(o, "timestamp");
    if (v) {
        const char *txt = json_string_value(v);
        apr_int64_t secs = json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : -1;
        if (txt && *txt && strspn(txt, "0123456789") == strlen(txt) && strlen(txt) <= 11)
            secs = apr_atoi64(txt);
        /* seconds since 1970 up to 9999: far inside apr_time_t */
        if (secs > 0 && secs < 253402300800LL && apr_time_from_sec(secs) > best)
            best = apr_time_from_sec(secs);
    }
    return best;
}

/* A reason from the usual fields of a peer's entry. */
static const char *json_reason(json_t *o)
{
    static const char *names[] = { "reason", "tag", "comment", "description", "name" };
    size_t i;
    json_t *tags;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (jstr(o, names[i]))
            return jstr(o, names[i]);
    tags = json_object_get(o, "tags");
    return json_is_array(tags) ? json_string_value(json_array_get(tags, 0)) : NULL;
}

/* One object of our json export or report (or a compatible one). */
static void json_entry(imp_t *im, unsigned line, json_t *o)
{
    json_t *a = json_object_get(o, "address"), *pl = json_object_get(o, "prefix_len");
    const char *text, *bad = NULL;
    apr_time_t until;
    int capped = 0;

    if (!json_is_object(o) || !json_is_string(a)) {
        if (!over_limit(im, line)) {
            im->r->seen++;
            invalid(im, line, "an entry without an \"address\" string", NULL);
        }
        return;
    }
    text = json_string_value(a);
    if (pl && !json_is_null(pl)) {
        if (!json_is_integer(pl) || json_integer_value(pl) < 0 || json_integer_value(pl) > 128
            || strchr(text, '/')) {
            if (!over_limit(im, line)) {
                im->r->seen++;
                invalid(im, line, "bad \"prefix_len\" for", text);
            }
            return;
        }
        text = apr_psprintf(im->p, "%s/%d", text, (int)json_integer_value(pl));
    }
    until = json_until(im, o, &bad, &capped);
    if (until < 0) {
        if (!over_limit(im, line)) {
            im->r->seen++;
            invalid(im, line, apr_psprintf(im->p, "bad \"%s\" for", bad), json_string_value(a));
        }
        return;
    }
    im->seen = json_seen(o);
    add(im, line, text, until, capped, jstr(o, "source"), json_reason(o));
}

/* The addresses in a STIX pattern such as "[ipv4-addr:value = '192.0.2.1' OR ipv6-addr:value =
 * '2001:db8::/64']". Linear: each step moves p forward. */
static void stix_pattern(imp_t *im, unsigned idx, const char *pat, apr_time_t until, int capped,
                         const char *source, const char *reason)
{
    const char *p = pat;
    while ((p = strstr(p, "-addr:value"))) {
        const char *q, *end;
        p += strlen("-addr:value");
        while (*p == ' ')
            p++;
        if (*p != '=')
            continue;
        p++;
        while (*p == ' ')
            p++;
        if (*p != '\'')
            continue;
        q = p + 1;
        if (!(end = strchr(q, '\'')))
            break;
        if ((apr_size_t)(end - q) > WSG_ADDR_STRLEN) {
            if (!over_limit(im, idx)) {
                im->r->seen++;
                invalid(im, idx, "not an IP address or CIDR:", apr_pstrndup(im->p, q, TEXT_MAX));
            }
        }
        else
            add(im, idx, apr_pstrndup(im->p, q, (apr_size_t)(end - q)), until, capped, source,
                reason);
        p = end + 1;
    }
}

/* A parsed json document: our array, our report, a STIX 2.1 bundle, or a MISP event. Positions are
 * entry numbers (1-based) since the document is not line-structured. -1: of no known kind. */
static int json_doc(imp_t *im, json_t *doc)
{
    size_t i;
    json_t *v, *objs;
    const char *type;

    if (json_is_array(doc)) {
        im->r->format = WSG_IMPORT_JSON_EXPORT;
        json_array_foreach(doc, i, v)
            json_entry(im, (unsigned)i + 1, v);
        return 0;
    }
    if (!json_is_object(doc))
        return -1;
    if (json_is_array(json_object_get(doc, "clients"))) {
        im->r->format = WSG_IMPORT_JSON_REPORT;
        json_array_foreach(json_object_get(doc, "clients"), i, v)
            json_entry(im, (unsigned)i + 1, v);
        return 0;
    }
    objs = json_object_get(doc, "objects");
    type = jstr(doc, "type");
    if (type && !strcmp(type, "bundle") && json_is_array(objs)) {
        im->r->format = WSG_IMPORT_STIX;
        json_array_foreach(objs, i, v) {
            const char *t = jstr(v, "type"), *pat = jstr(v, "pattern"), *bad = NULL;
            apr_time_t until;
            int capped = 0;
            if (!t || strcmp(t, "indicator") || !pat)
                continue;
            until = json_until(im, v, &bad, &capped);
            if (until < 0) {
                if (!over_limit(im, (unsigned)i + 1)) {
                    im->r->seen++;
                    invalid(im, (unsigned)i + 1,
                            apr_psprintf(im->p, "bad \"%s\" in indicator", bad), NULL);
                }
                continue;
            }
            im->seen = json_seen(v);
            stix_pattern(im, (unsigned)i + 1, pat, until, capped, jstr(v, "created_by_ref"),
                         json_reason(v));
        }
        return 0;
    }
    v = json_object_get(doc, "Event");
    if (json_is_object(v) && json_is_array(json_object_get(v, "Attribute"))) {
        const char *org = jstr(json_object_get(v, "Orgc"), "name");
        im->r->format = WSG_IMPORT_MISP;
        json_array_foreach(json_object_get(v, "Attribute"), i, objs) {
            const char *t = jstr(objs, "type"), *val = jstr(objs, "value");
            if (t && val && !strcmp(t, "ip-src")) {
                im->seen = json_seen(objs);
                add(im, (unsigned)i + 1, val, 0, 0, org, jstr(objs, "comment"));
            }
        }
        return 0;
    }
    return -1;
}

/* Next line of [*pos, end): sets *l and *n (without the '\n'), advances *pos. 0 at the end. */
static int next_line(const char **pos, const char *end, const char **l, apr_size_t *n)
{
    const char *s = *pos, *nl;
    if (s >= end)
        return 0;
    nl = memchr(s, '\n', (apr_size_t)(end - s));
    *l = s;
    *n = (apr_size_t)((nl ? nl : end) - s);
    *pos = nl ? nl + 1 : end;
    return 1;
}

/* Trims white space (and, when commas is set, trailing commas) off both ends. */
static void trim(const char **l, apr_size_t *n, int commas)
{
    while (*n && apr_isspace((*l)[0]))
        (*l)++, (*n)--;
    while (*n && (apr_isspace((*l)[*n - 1]) || (commas && (*l)[*n - 1] == ',')))
        (*n)--;
}

static int is(const char *l, apr_size_t n, const char *lit)
{
    return n == strlen(lit) && !memcmp(l, lit, n);
}

/* Our export layout ("[", one object per line, "]"): parsed line by line so a damaged line is
 * reported by its number and the rest still imports. -1 if the text is not in that layout (then it
 * is parsed as one document). */
static int json_lines(imp_t *im, const char *buf, apr_size_t len)
{
    const char *pos = buf, *end = buf + len, *l;
    apr_size_t n;
    unsigned line = 0;
    int opened = 0, closed = 0;

    while (next_line(&pos, end, &l, &n)) {
        json_t *o;
        json_error_t jerr;
        line++;
        trim(&l, &n, 1);
        if (!n)
            continue;
        if (!opened) {
            if (!is(l, n, "[") && !is(l, n, "[]"))
                return -1;
            opened = 1;
            closed = is(l, n, "[]");
            im->r->format = WSG_IMPORT_JSON_EXPORT;
            continue;
        }
        if (closed) {
            if (!over_limit(im, line)) {
                im->r->seen++;
                invalid(im, line, "text after the closing ']'", NULL);
            }
            continue;
        }
        if (is(l, n, "]")) {
            closed = 1;
            continue;
        }
        if (n > im->o.max_line) {
            if (!over_limit(im, line)) {
                im->r->seen++;
                invalid(im, line, apr_psprintf(im->p, "a line longer than %" APR_SIZE_T_FMT
                                               " bytes", im->o.max_line), NULL);
            }
            continue;
        }
        if (!(o = json_loadb(l, n, 0, &jerr))) {
            if (!over_limit(im, line)) {
                im->r->seen++;
                invalid(im, line, apr_psprintf(im->p, "invalid JSON (column %d: %s)", jerr.column,
                                               wsg_escape_ctl(im->p, jerr.text, strlen(jerr.text),
                                                              TEXT_MAX, 0)), NULL);
            }
            continue;
        }
        json_entry(im, line, o);
        json_decref(o);
    }
    if (opened && !closed)
        im->r->unclosed = 1;
    return opened ? 0 : -1;
}

/* ---- CSV and plain lists ---- */

/* Splits one CSV line (RFC 4180 quoting, no embedded newlines) of n bytes into at most max fields
 * written to out (n + 1 bytes: the fields, each NUL-terminated, never take more room than the line
 * with its commas). Returns the number of fields, or -1 when there are more than max. */
static int csv_split(const char *s, apr_size_t n, char *out, char **fields, int max)
{
    const char *e = s + n;
    char *o = out;
    int nf = 0;

    for (;;) {
        if (nf == max)
            return -1;
        fields[nf++] = o;
        if (s < e && *s == '"') {
            s++;
            while (s < e) {
                if (*s == '"' && s + 1 < e && s[1] == '"') {
                    *o++ = '"';
                    s += 2;
                }
                else if (*s == '"') {
                    s++;
                    break;
                }
                else
                    *o++ = *s++;
            }
            while (s < e && *s != ',')
                s++;
        }
        else
            while (s < e && *s != ',' && *s != '\r')
                *o++ = *s++;
        *o++ = '\0';
        if (s >= e || *s != ',')
            break;
        s++;
    }
    return nf;
}

static void text_lines(imp_t *im, const char *buf, apr_size_t len)
{
    const char *pos = buf, *end = buf + len, *l;
    apr_size_t n;
    unsigned line = 0;
    int csv = -1, col_addr = -1, col_until = -1, col_reason = -1, col_source = -1;
    int col_seen = -1;
    char *scratch = apr_palloc(im->p, im->o.max_line + 1);
    char *copy = apr_palloc(im->p, im->o.max_line + 1);
    char **f = apr_palloc(im->p, sizeof(char *) * WSG_IMPORT_MAX_COLUMNS);

    im->r->format = WSG_IMPORT_PLAIN;
    while (next_line(&pos, end, &l, &n)) {
        int nf;
        line++;
        trim(&l, &n, 0);
        if (!n || *l == '#')
            continue;
        if (n > im->o.max_line) {
            if (!over_limit(im, line)) {
                im->r->seen++;
                invalid(im, line, apr_psprintf(im->p, "a line longer than %" APR_SIZE_T_FMT
                                               " bytes", im->o.max_line), NULL);
            }
            continue;
        }
        memcpy(copy, l, n);
        copy[n] = '\0';
        if (csv < 0) {
            /* the first line decides: a header naming an 'address' column makes it CSV */
            int i;
            csv = 0;
            nf = csv_split(l, n, scratch, f, WSG_IMPORT_MAX_COLUMNS);
            for (i = 0; nf > 1 && i < nf; i++) {
                if (!strcasecmp(f[i], "address") || !strcasecmp(f[i], "ip"))
                    col_addr = i, csv = 1;
                else if (!strcasecmp(f[i], "ban_until") || !strcasecmp(f[i], "valid_until"))
                    col_until = i;
                else if (!strcasecmp(f[i], "reason") || !strcasecmp(f[i], "tags"))
                    col_reason = i;
                else if (!strcasecmp(f[i], "source"))
                    col_source = i;
                else if (!strcasecmp(f[i], "last_seen"))
                    col_seen = i;
            }
            if (csv) {
                im->r->format = WSG_IMPORT_CSV;
                continue;
            }
            if (memchr(l, ',', n) && wsg_event_time_parse(copy, &(apr_time_t){0}) != APR_SUCCESS) {
                wsg_addr_t probe;
                copy[strcspn(copy, ",")] = '\0';
                if (wsg_addr_parse(copy, &probe) != APR_SUCCESS) {
                    if (!over_limit(im, line))
                        im->r->seen++;
                    invalid(im, line, "a CSV header without an 'address' column", NULL);
                    return;
                }
                memcpy(copy, l, n);
            }
        }
        if (csv) {
            apr_time_t until = 0;
            const char *u;
            nf = csv_split(l, n, scratch, f, WSG_IMPORT_MAX_COLUMNS);
            if (nf < 0 || col_addr >= nf) {
                if (!over_limit(im, line)) {
                    im->r->seen++;
                    invalid(im, line, nf < 0 ? "a CSV row of more than 256 columns"
                                             : "a CSV row without the 'address' column", NULL);
                }
                continue;
            }
            u = col_until >= 0 && col_until < nf ? f[col_until] : "";
            if (*u && wsg_event_time_parse(u, &until) != APR_SUCCESS) {
                if (!over_limit(im, line)) {
                    im->r->seen++;
                    invalid(im, line, "bad ban_until:", u);
                }
                continue;
            }
            if (*u && until <= 0)
                until = 1;   /* before 1970: expired */
            im->seen = 0;
            if (col_seen >= 0 && col_seen < nf
                && wsg_event_time_parse(f[col_seen], &im->seen) != APR_SUCCESS)
                im->seen = 0;      /* unreadable evidence time: none (the ban stays valid) */
            add(im, line, f[col_addr], until, 0, col_source >= 0 && col_source < nf ? f[col_source]
                                                                                    : NULL,
                col_reason >= 0 && col_reason < nf ? f[col_reason] : NULL);
        }
        else {
            /* plain: the first word; the rest of the line (a comment, a count) is ignored */
            copy[strcspn(copy, " \t,;#")] = '\0';
            im->seen = 0;
            add(im, line, copy, 0, 0, NULL, NULL);
        }
    }
}

apr_status_t wsg_import_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              const wsg_import_opts_t *opts, wsg_import_result_t **out,
                              const char **err)
{
    imp_t im;
    wsg_import_result_t *r = apr_pcalloc(p, sizeof(*r));
    const char *s = buf, *end = buf + len;

    memset(&im, 0, sizeof(im));
    im.p = p;
    im.o = *opts;
    im.r = r;
    if (im.o.max <= 0 || im.o.max > WSG_IMPORT_MAX_BAN)
        im.o.max = WSG_IMPORT_MAX_BAN;
    if (im.o.dflt <= 0 || im.o.dflt > im.o.max)
        im.o.dflt = im.o.max;
    if (!im.o.max_entries)
        im.o.max_entries = WSG_IMPORT_MAX_ENTRIES;
    if (!im.o.max_file)
        im.o.max_file = WSG_IMPORT_MAX_FILE;
    if (!im.o.max_line)
        im.o.max_line = WSG_IMPORT_MAX_LINE;
    if (im.o.min_bits4 <= 0 || im.o.min_bits4 > 32)
        im.o.min_bits4 = WSG_IMPORT_MIN_BITS4;
    if (im.o.min_bits6 <= 0 || im.o.min_bits6 > 128)
        im.o.min_bits6 = WSG_IMPORT_MIN_BITS6;
    r->entries = apr_array_make(p, 64, sizeof(wsg_import_entry_t));
    r->msgs = apr_array_make(p, 16, sizeof(wsg_import_msg_t));
    *out = r;
    *err = NULL;

    if (len > im.o.max_file) {
        *err = apr_psprintf(p, "%" APR_SIZE_T_FMT " bytes, more than the %" APR_SIZE_T_FMT
                            " an import reads", len, im.o.max_file);
        return APR_EINVAL;
    }
    if (memchr(buf, '\0', len)) {
        *err = "not a text file (a NUL byte)";
        return APR_EINVAL;
    }
    if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {   /* a UTF-8 byte order mark */
        s += 3;
        buf += 3;
        len -= 3;
    }
    while (s < end && apr_isspace(*s))
        s++;
    if (s < end && (*s == '[' || *s == '{')) {
        json_t *doc;
        json_error_t jerr;
        if (*s == '[' && json_lines(&im, s, (apr_size_t)(end - s)) == 0)
            return APR_SUCCESS;
        /* json_lines only returns -1 before reading an entry */
        doc = json_loadb(s, (apr_size_t)(end - s), 0, &jerr);
        if (!doc) {
            /* lines count from s: add those skipped before it */
            int skipped = 0;
            for (const char *q = buf; q < s; q++)
                skipped += *q == '\n';
            *err = apr_psprintf(p, "%d:%d: invalid JSON: %s", jerr.line + skipped, jerr.column,
                                wsg_escape_ctl(p, jerr.text, strlen(jerr.text), TEXT_MAX, 0));
            return APR_EINVAL;
        }
        if (json_doc(&im, doc) < 0) {
            json_decref(doc);
            r->format = WSG_IMPORT_NONE;
            *err = "JSON but neither a wsguardctl export or report, a STIX 2.1 bundle nor a MISP "
                   "event";
            return APR_EINVAL;
        }
        json_decref(doc);
        return APR_SUCCESS;
    }
    text_lines(&im, buf, len);
    if (!r->seen && !r->invalid)
        r->format = WSG_IMPORT_NONE;
    return APR_SUCCESS;
}
