/* wsg_cli_export: 'export' (banned records -> firewall formats, via wsg_export) and 'import'
 * (a peer's json export, STIX bundle, MISP event, report CSV or plain list -> local bans flagged
 * IMPORTED with their source). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <jansson.h>
#include "wsg_cli.h"
#include "wsg_export.h"
#include "wsg_event.h"

/* An imported CIDR becomes at most this many records (a peer's aggregated /20 is 16 /24s). */
#define WSG_IMPORT_MAX_KEYS 4096

/* ---- export ---- */

typedef struct {
    wsg_export_t       *ex;
    const wsg_policy_t *pol;
    apr_time_t          now;
} export_ctx_t;

static int export_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    export_ctx_t *c = baton;
    wsg_export_entry_t e;
    if (rec->ban_until <= c->now)
        return 0;
    memset(&e, 0, sizeof(e));
    e.addr = *key;
    e.ban_until = rec->ban_until;
    e.score = wsg_policy_score_now(c->pol, rec, c->now);
    e.flags = rec->flags;
    e.bans = rec->ban_count;
    memcpy(e.source, rec->source, sizeof(e.source));
    e.source[sizeof(e.source) - 1] = '\0';
    wsg_export_add(c->ex, &e);
    return 0;
}

static void export_help(FILE *f)
{
    fprintf(f,
        "usage: wsguardctl export --format FORMAT [--aggregate] [--family 4|6] [--name NAME]\n"
        "                         [--hook input|forward] [--set-only] [-o FILE] [--halflife DUR]\n\n"
        "Prints every ban in force (addresses and /24 | /64 prefixes) for a firewall, with the\n"
        "remaining ban time (rounded up to whole seconds) where the firewall has timeouts.\n"
        "Addresses inside a banned prefix are left out while the prefix covers them.\n\n"
        "formats:\n"
        "  nft        an 'nft -f' script: table inet NAME (default wsguard) with sets blocked4 and\n"
        "             blocked6 (interval, timeout) and an input chain dropping them. It replaces\n"
        "             the table in one transaction, so applying it again is idempotent.\n"
        "             Timeouts are capped at a year (nft refuses far longer ones).\n"
        "  ipset      'ipset restore' input: sets NAME4 (hash:net inet) and NAME6 (inet6), each\n"
        "             flushed and refilled, entries with timeouts (capped at 2147483 s)\n"
        "  iptables   'iptables-restore --noflush' input: chain NAME (default WSGUARD) of DROP\n"
        "             rules, IPv4 only; no timeouts (re-export to expire bans)\n"
        "  ip6tables  the same for IPv6\n"
        "  pf         table <NAME> persist { ... } for pf.conf, both families; no timeouts\n"
        "  plain      one address or CIDR per line (pfctl -T replace -f, other tools)\n"
        "  json       an array of {address, prefix_len, family, ban_until, remaining_s, score,\n"
        "             bans, origin, source, shell_hit}: what 'wsguardctl import' reads on a peer\n\n"
        "  --aggregate     merge adjacent entries into the smallest covering CIDRs, exactly (never\n"
        "                  covering an address that is not banned); a merged entry ends with its\n"
        "                  earliest member\n"
        "  --family 4|6    only that family\n"
        "  --name NAME     table / set / chain name\n"
        "  --hook H        nft: hook the chain on input (default) or forward (a router or a host\n"
        "                  of containers in front of the web servers)\n"
        "  --set-only      nft: only refill sets blocked4 / blocked6 of table NAME (created if\n"
        "                  missing); its chains and your rules that use the sets stay as they are\n"
        "  -o FILE         write FILE atomically (temporary file, then rename) instead of stdout\n"
        "  --halflife DUR  half-life for the score shown in json (default: the module's)\n");
}

int wsg_cli_export(wsg_cli_t *cli, int argc, const char *const *argv)
{
    wsg_export_format_t fmt = WSG_EXPORT_PLAIN;
    wsg_export_opts_t opts;
    export_ctx_t c;
    wsg_store_t *st;
    const char *out_path = NULL;
    int i, have_fmt = 0, aggregate = 0, family = 0;
    apr_status_t rv;
    FILE *f;
    char *tmp = NULL;

    memset(&opts, 0, sizeof(opts));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            export_help(cli->out);
            return 0;
        }
        else if ((!strcmp(a, "--format") || !strcmp(a, "-f")) && i + 1 < argc) {
            if (wsg_export_format_parse(argv[++i], &fmt, &family) != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl export: unknown format '%s' (nft, ipset, iptables, "
                                  "ip6tables, pf, plain, json)\n", argv[i]);
                return 2;
            }
            have_fmt = 1;
        }
        else if (!strcmp(a, "--aggregate"))
            aggregate = 1;
        else if (!strcmp(a, "--family") && i + 1 < argc) {
            a = argv[++i];
            if (strcmp(a, "4") && strcmp(a, "6") && strcmp(a, "inet") && strcmp(a, "inet6")) {
                fprintf(cli->err, "wsguardctl export: --family takes 4 or 6, not '%s'\n", a);
                return 2;
            }
            family = (a[0] == '6' || !strcmp(a, "inet6")) ? 6 : 4;
        }
        else if (!strcmp(a, "--name") && i + 1 < argc) {
            const char *n = argv[++i], *q;
            for (q = n; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-')
                    break;
            if (!*n || *q || strlen(n) > 26) {
                fprintf(cli->err, "wsguardctl export: --name takes up to 26 letters, digits, '_' "
                                  "or '-', not '%s'\n", n);
                return 2;
            }
            opts.name = n;
        }
        else if (!strcmp(a, "--hook") && i + 1 < argc) {
            a = argv[++i];
            if (strcmp(a, "input") && strcmp(a, "forward")) {
                fprintf(cli->err, "wsguardctl export: --hook takes input or forward, not '%s'\n", a);
                return 2;
            }
            opts.hook = a;
        }
        else if (!strcmp(a, "--set-only"))
            opts.set_only = 1;
        else if (!strcmp(a, "-o") && i + 1 < argc)
            out_path = argv[++i];
        else if (!strcmp(a, "--halflife") && i + 1 < argc) {
            if (wsg_cli_parse_duration(argv[++i], &cli->policy.halflife) != APR_SUCCESS
                || cli->policy.halflife <= 0) {
                fprintf(cli->err, "wsguardctl export: --halflife needs a duration, not '%s'\n",
                        argv[i]);
                return 2;
            }
        }
        else {
            fprintf(cli->err, "wsguardctl export: unexpected argument '%s'\n"
                              "'wsguardctl export --help' shows the usage.\n", a);
            return 2;
        }
    }
    if (!have_fmt) {
        fprintf(cli->err, "wsguardctl export: --format is required "
                          "(nft, ipset, iptables, ip6tables, pf, plain, json)\n");
        return 2;
    }
    opts.family = family;
    opts.generator = "wsguardctl export";
    cli->keep_root = out_path != NULL;   /* creates and renames out_path after the read */
    if (!(st = wsg_cli_store(cli, 0)))
        return 1;
    c.ex = wsg_export_make(cli->pool);
    c.pol = &cli->policy;
    c.now = apr_time_now();
    if ((rv = wsg_store_iterate(st, export_cb, &c)) != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl export: reading the store in %s failed: %s\n",
                cli->state_dir, wsg_store_strerror(rv));
        return 1;
    }
    wsg_store_close(st);   /* the read is done: hold no reader slot while writing the output */
    wsg_export_normalise(c.ex, c.now, aggregate);
    if (fmt == WSG_EXPORT_IPTABLES && !family && c.ex->v6->nelts)
        fprintf(cli->err, "wsguardctl export: %d IPv6 entries left out: iptables takes IPv4 only, "
                          "use --format ip6tables for them\n", c.ex->v6->nelts);

    f = cli->out;
    if (out_path) {
        int fd;
        tmp = apr_pstrcat(cli->pool, out_path, ".tmp.XXXXXX", NULL);
        if ((fd = mkstemp(tmp)) < 0 || !(f = fdopen(fd, "w"))) {
            fprintf(cli->err, "wsguardctl export: cannot create %s: %s\n", tmp, strerror(errno));
            return 1;
        }
    }
    rv = wsg_export_write(c.ex, fmt, &opts, c.now, f);
    if (out_path) {
        if (rv == APR_SUCCESS && fsync(fileno(f)) != 0)
            rv = APR_FROM_OS_ERROR(errno);
        if (fclose(f) != 0 && rv == APR_SUCCESS)
            rv = APR_FROM_OS_ERROR(errno);
        if (rv == APR_SUCCESS && rename(tmp, out_path) != 0)
            rv = APR_FROM_OS_ERROR(errno);
        if (rv != APR_SUCCESS)
            unlink(tmp);
    }
    if (rv != APR_SUCCESS) {
        char ebuf[128];
        fprintf(cli->err, "wsguardctl export: writing %s failed: %s\n",
                out_path ? out_path : "the output", apr_strerror(rv, ebuf, sizeof(ebuf)));
        return 1;
    }
    return 0;
}

/* ---- import ---- */

typedef struct {
    wsg_addr_t key;
    apr_time_t until;
} imp_item_t;

typedef struct {
    wsg_cli_t          *cli;
    const char         *file;       /* as named on the command line, for messages */
    apr_time_t          now;
    apr_interval_time_t dflt;       /* --for, else the policy's first ban */
    apr_interval_time_t max;        /* --max, 0: none */
    int                 allow_private;
    apr_hash_t         *seen;       /* key bytes -> imp_item_t*, so duplicates keep the longest */
    apr_array_header_t *items;      /* of imp_item_t* */
    unsigned            entries, invalid, expired, private_skipped;
    /* filled by the store update */
    const char         *source;
    unsigned            added, extended, kept;
} imp_t;

static void imp_invalid(imp_t *im, unsigned line, const char *what, const char *text)
{
    im->invalid++;
    fprintf(im->cli->err, "%s:%u: %s%s%s%s, skipped\n", im->file, line, what, text ? " '" : "",
            text ? text : "", text ? "'" : "");
}

/* Records one address or CIDR with its ban end (0: none given in the file). */
static void imp_add(imp_t *im, unsigned line, const char *text, apr_time_t until)
{
    wsg_addr_t a;
    apr_array_header_t *keys;
    const char *err = NULL;
    int i;

    im->entries++;
    if (wsg_addr_parse(text, &a) != APR_SUCCESS) {
        imp_invalid(im, line, "not an IP address or CIDR:", text);
        return;
    }
    if (!im->allow_private && wsg_addr_is_private(&a)) {
        im->private_skipped++;
        fprintf(im->cli->err, "%s:%u: %s is a private, loopback or documentation address, "
                              "skipped (--allow-private imports it)\n", im->file, line, text);
        return;
    }
    if (until && until <= im->now) {
        im->expired++;
        return;
    }
    if (!until)
        until = im->now + im->dflt;
    if (im->max > 0 && until > im->now + im->max)
        until = im->now + im->max;
    if (wsg_export_cidr_keys(im->cli->pool, &a, WSG_IMPORT_MAX_KEYS, &keys, &err) != APR_SUCCESS) {
        imp_invalid(im, line, err, NULL);
        return;
    }
    for (i = 0; i < keys->nelts; i++) {
        const wsg_addr_t *k = &APR_ARRAY_IDX(keys, i, wsg_addr_t);
        imp_item_t *it = apr_hash_get(im->seen, k, sizeof(*k));
        if (it) {
            if (until > it->until)
                it->until = until;
            continue;
        }
        it = apr_palloc(im->cli->pool, sizeof(*it));
        it->key = *k;
        it->until = until;
        apr_hash_set(im->seen, &it->key, sizeof(it->key), it);
        APR_ARRAY_PUSH(im->items, imp_item_t *) = it;
    }
}

/* A ban end from a json object: ban_until / valid_until (absolute, preferred: it does not depend on
 * when the file was made), else remaining_s. 0 when the object gives none; -1 when malformed. */
static apr_time_t json_until(imp_t *im, json_t *o, const char **bad)
{
    json_t *v;
    apr_time_t t;
    const char *names[] = { "ban_until", "valid_until" };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        v = json_object_get(o, names[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || wsg_event_time_parse(json_string_value(v), &t) != APR_SUCCESS) {
            *bad = names[i];
            return -1;
        }
        return t;
    }
    v = json_object_get(o, "remaining_s");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            *bad = "remaining_s";
            return -1;
        }
        return im->now + (apr_time_t)json_integer_value(v) * APR_USEC_PER_SEC;
    }
    return 0;
}

/* One object of our json export (or a compatible one). */
static void imp_json_entry(imp_t *im, unsigned line, json_t *o)
{
    json_t *a = json_object_get(o, "address"), *pl = json_object_get(o, "prefix_len");
    const char *text, *bad = NULL;
    apr_time_t until;

    if (!json_is_object(o) || !json_is_string(a)) {
        imp_invalid(im, line, "an entry without an \"address\" string", NULL);
        return;
    }
    text = json_string_value(a);
    if (pl && !json_is_null(pl)) {
        if (!json_is_integer(pl) || strchr(text, '/')) {
            imp_invalid(im, line, "bad \"prefix_len\" for", text);
            return;
        }
        text = apr_psprintf(im->cli->pool, "%s/%" APR_INT64_T_FMT, text,
                           (apr_int64_t)json_integer_value(pl));
    }
    until = json_until(im, o, &bad);
    if (until < 0) {
        imp_invalid(im, line, apr_psprintf(im->cli->pool, "bad \"%s\" for", bad),
                    json_string_value(a));
        return;
    }
    imp_add(im, line, text, until);
}

/* The addresses in a STIX pattern such as "[ipv4-addr:value = '192.0.2.1' OR ipv6-addr:value =
 * '2001:db8::/64']". */
static void imp_stix_pattern(imp_t *im, unsigned idx, const char *pat, apr_time_t until)
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
        imp_add(im, idx, apr_pstrndup(im->cli->pool, q, (apr_size_t)(end - q)), until);
        p = end + 1;
    }
}

/* A parsed json document: our array, a STIX 2.1 bundle, or a MISP event. Positions are entry
 * numbers (1-based) since the document is not line-structured. */
static int imp_json_doc(imp_t *im, json_t *doc)
{
    size_t i;
    json_t *v, *objs;

    if (json_is_array(doc)) {
        json_array_foreach(doc, i, v)
            imp_json_entry(im, (unsigned)i + 1, v);
        return 0;
    }
    if (!json_is_object(doc))
        return -1;
    /* 'wsguardctl report --format json': {"clients": [{"address", "ban_until", ...}]} */
    if (json_is_array(json_object_get(doc, "clients"))) {
        json_array_foreach(json_object_get(doc, "clients"), i, v)
            imp_json_entry(im, (unsigned)i + 1, v);
        return 0;
    }
    objs = json_object_get(doc, "objects");
    if (json_is_string(json_object_get(doc, "type"))
        && !strcmp(json_string_value(json_object_get(doc, "type")), "bundle") && json_is_array(objs)) {
        json_array_foreach(objs, i, v) {
            const char *type = json_string_value(json_object_get(v, "type"));
            const char *pat = json_string_value(json_object_get(v, "pattern"));
            const char *bad = NULL;
            apr_time_t until;
            if (!type || strcmp(type, "indicator") || !pat)
                continue;
            until = json_until(im, v, &bad);
            if (until < 0) {
                imp_invalid(im, (unsigned)i + 1, "bad \"valid_until\" in indicator", NULL);
                continue;
            }
            imp_stix_pattern(im, (unsigned)i + 1, pat, until);
        }
        return 0;
    }
    v = json_object_get(doc, "Event");
    if (json_is_object(v) && json_is_array(json_object_get(v, "Attribute"))) {
        json_array_foreach(json_object_get(v, "Attribute"), i, objs) {
            const char *type = json_string_value(json_object_get(objs, "type"));
            const char *val = json_string_value(json_object_get(objs, "value"));
            if (type && val && !strcmp(type, "ip-src"))
                imp_add(im, (unsigned)i + 1, val, 0);
        }
        return 0;
    }
    return -1;
}

/* Our export layout ("[", one object per line, "]"): parsed line by line so a damaged line is
 * reported by its number and the rest still imports. Returns -1 if the text is not in that
 * layout (then it is parsed as one document). */
static int imp_json_lines(imp_t *im, char *text)
{
    char *line, *nl;
    unsigned n = 0;
    int opened = 0, closed = 0;
    apr_array_header_t *lines = apr_array_make(im->cli->pool, 1024, sizeof(char *));

    /* split by hand: strtok would merge blank lines and shift every reported line number */
    for (line = text; line; line = nl ? nl + 1 : NULL) {
        if ((nl = strchr(line, '\n')))
            *nl = '\0';
        APR_ARRAY_PUSH(lines, char *) = line;
    }
    for (n = 0; n < (unsigned)lines->nelts; n++) {
        char *l = APR_ARRAY_IDX(lines, n, char *), *e;
        json_t *o;
        json_error_t jerr;
        while (isspace((unsigned char)*l))
            l++;
        e = l + strlen(l);
        while (e > l && (isspace((unsigned char)e[-1]) || e[-1] == ','))
            *--e = '\0';
        if (!*l)
            continue;
        if (!opened) {
            if (strcmp(l, "[") && strcmp(l, "[]"))
                return -1;
            opened = 1;
            closed = !strcmp(l, "[]");
            continue;
        }
        if (closed) {
            imp_invalid(im, n + 1, "text after the closing ']'", NULL);
            continue;
        }
        if (!strcmp(l, "]")) {
            closed = 1;
            continue;
        }
        if (!(o = json_loads(l, 0, &jerr))) {
            imp_invalid(im, n + 1, apr_psprintf(im->cli->pool, "invalid JSON (column %d: %s)",
                                                jerr.column, jerr.text), NULL);
            continue;
        }
        imp_json_entry(im, n + 1, o);
        json_decref(o);
    }
    if (!closed)
        fprintf(im->cli->err, "%s: the JSON array is not closed (truncated file?)\n", im->file);
    return 0;
}

/* Splits one CSV line (RFC 4180 quoting, no embedded newlines) into fields. */
static apr_array_header_t *csv_split(apr_pool_t *p, const char *line)
{
    apr_array_header_t *f = apr_array_make(p, 16, sizeof(char *));
    const char *s = line;
    for (;;) {
        char *buf = apr_palloc(p, strlen(s) + 1), *o = buf;
        if (*s == '"') {
            s++;
            while (*s) {
                if (*s == '"' && s[1] == '"') {
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
            while (*s && *s != ',')
                s++;
        }
        else
            while (*s && *s != ',' && *s != '\r')
                *o++ = *s++;
        *o = '\0';
        APR_ARRAY_PUSH(f, char *) = buf;
        if (*s != ',')
            break;
        s++;
    }
    return f;
}

/* Plain lists (one address or CIDR per line, '#' comments) and CSV with an 'address' column (the
 * report verb's CSV; 'ban_until' is used when present). */
static void imp_text(imp_t *im, char *text)
{
    char *save = NULL, *line;
    unsigned n = 0;
    int csv = -1, col_addr = -1, col_until = -1;

    for (line = text;; line = NULL) {
        char *l, *e, *next = line ? line : save;
        if (!next || !*next)
            break;
        e = strchr(next, '\n');
        if (e) {
            *e = '\0';
            save = e + 1;
        }
        else
            save = next + strlen(next);
        l = next;
        n++;
        while (isspace((unsigned char)*l))
            l++;
        e = l + strlen(l);
        while (e > l && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (!*l || *l == '#')
            continue;
        if (csv < 0) {
            /* the first line decides: a header naming an 'address' column makes it CSV */
            apr_array_header_t *h = csv_split(im->cli->pool, l);
            int i;
            csv = 0;
            for (i = 0; h->nelts > 1 && i < h->nelts; i++) {
                const char *c = APR_ARRAY_IDX(h, i, char *);
                if (!strcasecmp(c, "address") || !strcasecmp(c, "ip"))
                    col_addr = i, csv = 1;
                else if (!strcasecmp(c, "ban_until") || !strcasecmp(c, "valid_until"))
                    col_until = i;
            }
            if (csv)
                continue;
            if (strchr(l, ',') && wsg_event_time_parse(l, &(apr_time_t){0}) != APR_SUCCESS) {
                wsg_addr_t probe;
                char *first = apr_pstrndup(im->cli->pool, l, strcspn(l, ","));
                if (wsg_addr_parse(first, &probe) != APR_SUCCESS) {
                    fprintf(im->cli->err, "%s:%u: a CSV header without an 'address' column\n",
                            im->file, n);
                    im->invalid++;
                    return;
                }
            }
        }
        if (csv) {
            apr_array_header_t *f = csv_split(im->cli->pool, l);
            apr_time_t until = 0;
            if (col_addr >= f->nelts) {
                imp_invalid(im, n, "a CSV row without the 'address' column", NULL);
                continue;
            }
            if (col_until >= 0 && col_until < f->nelts && *APR_ARRAY_IDX(f, col_until, char *)
                && wsg_event_time_parse(APR_ARRAY_IDX(f, col_until, char *), &until)
                       != APR_SUCCESS) {
                imp_invalid(im, n, "bad ban_until:", APR_ARRAY_IDX(f, col_until, char *));
                continue;
            }
            imp_add(im, n, APR_ARRAY_IDX(f, col_addr, char *), until);
        }
        else {
            /* plain: the first word; the rest of the line (a comment, a count) is ignored */
            l[strcspn(l, " \t,;#")] = '\0';
            imp_add(im, n, l, 0);
        }
    }
}

static int import_fn(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    void **b = baton;
    imp_t *im = b[0];
    imp_item_t **items = b[1];
    int i, mask = 0;
    for (i = 0; i < n; i++) {
        wsg_rec_t *r = &recs[i];
        if (found[i] && r->ban_until >= items[i]->until) {
            im->kept++;   /* a ban of our own (or an earlier import) lasts longer: leave it */
            continue;
        }
        if (!found[i]) {
            r->first_seen = r->score_time = im->now;   /* last_seen: no request seen here */
            im->added++;
        }
        else
            im->extended++;
        if (r->ban_until <= im->now)
            r->ban_count++;   /* a new ban; re-importing the same list daily does not escalate */
        r->ban_until = items[i]->until;
        r->flags |= WSG_RF_IMPORTED;
        r->version = WSG_REC_VERSION;
        memset(r->source, 0, sizeof(r->source));
        apr_cpystrn(r->source, im->source, sizeof(r->source));
        mask |= 1 << i;
    }
    return mask;
}

static void import_help(FILE *f)
{
    fprintf(f,
        "usage: wsguardctl import FILE|- [--source NAME] [--for DUR] [--max DUR] [--allow-private]\n"
        "                         [--dry-run]\n\n"
        "Bans locally the addresses a peer shares, flagged IMPORTED with the source recorded, so\n"
        "a fleet shares its bans. FILE is recognised by its content:\n"
        "  - a 'wsguardctl export --format json' array (ban_until, else remaining_s, sets the end)\n"
        "    or a 'wsguardctl report --format json' document (its clients)\n"
        "  - a STIX 2.1 bundle (indicators with ipv4-addr / ipv6-addr patterns; valid_until)\n"
        "  - a MISP event (ip-src attributes)\n"
        "  - CSV with an 'address' column, e.g. 'wsguardctl report --format csv' (ban_until used\n"
        "    when present)\n"
        "  - a plain list: one address or CIDR per line, '#' comments\n"
        "A CIDR becomes the address or /24 | /64 prefix records that cover it exactly.\n"
        "Invalid lines are reported with their line number (entry number in other JSON) and\n"
        "skipped. A longer ban already in force is kept; entries already expired are skipped.\n\n"
        "  --source NAME    recorded in each record (default: the file's name), %d bytes\n"
        "  --for DUR        ban length for entries without a time (default: the module's first\n"
        "                   ban time)\n"
        "  --max DUR        cap on the ban length taken from the file\n"
        "  --allow-private  also import private, loopback and documentation addresses (skipped\n"
        "                   by default: a peer's internal addresses are not scanners here)\n"
        "  --dry-run        parse and report, write nothing\n",
        (int)sizeof(((wsg_rec_t *)0)->source) - 1);
}

int wsg_cli_import(wsg_cli_t *cli, int argc, const char *const *argv)
{
    const char *path = NULL, *source = NULL;
    imp_t im;
    int i, dry = 0;
    char *text, *p;
    apr_size_t len = 0;
    apr_status_t rv;
    apr_file_t *fh;
    wsg_store_t *st;

    memset(&im, 0, sizeof(im));
    im.cli = cli;
    im.dflt = cli->policy.ban_time > 0 ? cli->policy.ban_time : 3600 * APR_USEC_PER_SEC;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            import_help(cli->out);
            return 0;
        }
        else if (!strcmp(a, "--source") && i + 1 < argc)
            source = argv[++i];
        else if ((!strcmp(a, "--for") || !strcmp(a, "--max")) && i + 1 < argc) {
            apr_interval_time_t d;
            if (wsg_cli_parse_duration(argv[++i], &d) != APR_SUCCESS || d <= 0) {
                fprintf(cli->err, "wsguardctl import: %s needs a duration such as 90s, 15m, 2h, "
                                  "7d, not '%s'\n", a, argv[i]);
                return 2;
            }
            *(!strcmp(a, "--for") ? &im.dflt : &im.max) = d;
        }
        else if (!strcmp(a, "--allow-private"))
            im.allow_private = 1;
        else if (!strcmp(a, "--dry-run"))
            dry = 1;
        else if ((a[0] == '-' && a[1]) || path) {
            fprintf(cli->err, "wsguardctl import: unexpected argument '%s'\n"
                              "'wsguardctl import --help' shows the usage.\n", a);
            return 2;
        }
        else
            path = a;
    }
    if (!path) {
        fprintf(cli->err, "wsguardctl import: which file? ('-' reads stdin)\n");
        return 2;
    }
    im.file = !strcmp(path, "-") ? "<stdin>" : path;
    if (!source) {
        const char *b = strrchr(im.file, '/');
        source = b ? b + 1 : im.file;
    }
    im.source = source;

    /* read it whole: peers' lists are megabytes at most, and JSON needs the whole text */
    if (!strcmp(path, "-"))
        rv = apr_file_open_stdin(&fh, cli->pool);
    else
        rv = apr_file_open(&fh, path, APR_FOPEN_READ | APR_FOPEN_BUFFERED, 0, cli->pool);
    if (rv == APR_SUCCESS) {
        apr_size_t cap = 1 << 16;
        text = apr_palloc(cli->pool, cap + 1);
        for (;;) {
            apr_size_t n = cap - len;
            rv = apr_file_read(fh, text + len, &n);
            len += n;
            if (rv == APR_EOF) {
                rv = APR_SUCCESS;
                break;
            }
            if (rv != APR_SUCCESS)
                break;
            if (len == cap) {
                char *bigger = apr_palloc(cli->pool, cap * 2 + 1);
                memcpy(bigger, text, len);
                text = bigger;
                cap *= 2;
            }
        }
        text[len] = '\0';
        apr_file_close(fh);
    }
    if (rv != APR_SUCCESS) {
        char ebuf[128];
        fprintf(cli->err, "wsguardctl import: cannot read %s: %s\n", im.file,
                apr_strerror(rv, ebuf, sizeof(ebuf)));
        return 1;
    }
    if (memchr(text, '\0', len)) {
        fprintf(cli->err, "wsguardctl import: %s is not a text file\n", im.file);
        return 1;
    }

    im.now = apr_time_now();
    im.seen = apr_hash_make(cli->pool);
    im.items = apr_array_make(cli->pool, 1024, sizeof(imp_item_t *));
    for (p = text; isspace((unsigned char)*p); p++)
        ;
    if (*p == '[' || *p == '{') {
        char *copy = apr_pstrmemdup(cli->pool, text, len);
        if (*p != '[' || imp_json_lines(&im, copy) < 0) {
            json_error_t jerr;
            json_t *doc = json_loadb(text, len, 0, &jerr);
            if (!doc) {
                fprintf(cli->err, "%s:%d:%d: invalid JSON: %s\n", im.file, jerr.line, jerr.column,
                        jerr.text);
                return 1;
            }
            if (imp_json_doc(&im, doc) < 0) {
                fprintf(cli->err, "wsguardctl import: %s is JSON but neither a wsguardctl export "
                                  "or report, a STIX 2.1 bundle nor a MISP event\n", im.file);
                json_decref(doc);
                return 1;
            }
            json_decref(doc);
        }
    }
    else
        imp_text(&im, text);

    if (!dry && im.items->nelts) {
        if (!(st = wsg_cli_store(cli, 1)))
            return 1;
        /* four records per write transaction, like 'ban': short, so the workers are not held up */
        for (i = 0; i < im.items->nelts; i += 4) {
            int n = im.items->nelts - i < 4 ? im.items->nelts - i : 4, j;
            wsg_addr_t keys[4];
            void *baton[2];
            for (j = 0; j < n; j++)
                keys[j] = APR_ARRAY_IDX(im.items, i + j, imp_item_t *)->key;
            baton[0] = &im;
            baton[1] = &APR_ARRAY_IDX(im.items, i, imp_item_t *);
            rv = wsg_store_update(st, keys, n, import_fn, baton);
            if (rv != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl import: writing the store failed after %d of %d "
                                  "records: %s%s\n", i, im.items->nelts, wsg_store_strerror(rv),
                        rv == APR_ENOSPC ? " (the store is full: 'wsguardctl purge', or raise its "
                                           "map size)" : "");
                return 1;
            }
        }
    }
    fprintf(cli->out,
            "%s %s (source '%.*s'): %u entries, %d records: %u new, %u extended, "
            "%u kept (a longer ban in force); skipped %u invalid, %u expired, %u private\n",
            dry ? "would import" : "imported", im.file, (int)sizeof(((wsg_rec_t *)0)->source) - 1,
            im.source, im.entries, im.items->nelts, im.added, im.extended, im.kept, im.invalid,
            im.expired, im.private_skipped);
    return im.invalid && !im.items->nelts ? 1 : 0;
}
