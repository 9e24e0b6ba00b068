/* wsg_cli_admin: the operator verbs of wsguardctl over the live store: list, show, ban, unban,
 * stats, top, purge. Every write is one short wsg_store_update transaction and every read one
 * iteration, so they are safe while httpd runs. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>
#include "wsg_crawler.h"
#include "wsg_cli.h"
#include "wsg_export.h"
#include "wsg_event.h"
#include "wsg_util.h"
#include "wsg_track.h"

/* A CIDR is expanded into the keys the module looks up (addresses, /24 and /64 prefixes); more
 * keys than this is almost certainly a typo (a /8 would be 65536 prefix records). */
#define WSG_CLI_MAX_KEYS 4096
#define WSG_CLI_PURGE_BATCH 1000

typedef struct {
    wsg_addr_t key;
    wsg_rec_t  rec;
    double     score;   /* decayed to now */
} cli_row_t;

/* ---- formatting helpers ---- */

static const char *fmt_time(apr_pool_t *p, apr_time_t t)
{
    char buf[32];
    if (!t)
        return "-";
    return apr_pstrdup(p, wsg_export_iso8601(t, buf, sizeof(buf)));
}

static const char *fmt_dur(apr_pool_t *p, apr_interval_time_t d)
{
    apr_int64_t s;
    if (d <= 0)
        return "-";
    s = (d + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    if (s >= 86400)
        return apr_psprintf(p, "%" APR_INT64_T_FMT "d%02dh", s / 86400, (int)(s % 86400 / 3600));
    if (s >= 3600)
        return apr_psprintf(p, "%" APR_INT64_T_FMT "h%02dm", s / 3600, (int)(s % 3600 / 60));
    if (s >= 60)
        return apr_psprintf(p, "%" APR_INT64_T_FMT "m%02ds", s / 60, (int)(s % 60));
    return apr_psprintf(p, "%" APR_INT64_T_FMT "s", s);
}

/* The crawler check's flags (wsg_crawler.h) as one word: checked, its verdict, or none. */
static const char *crawler_flag(apr_uint32_t f)
{
    switch (f & WSG_RF_CRAWLER_PENDING) {
    case WSG_RF_CRAWLER_PENDING: return "CRAWLER-UNCONFIRMED";   /* pending, or failed */
    case WSG_RF_CRAWLER_OK:      return "CRAWLER-VERIFIED";
    case WSG_RF_CRAWLER_FAKE:    return "CRAWLER-FAKE";
    default:                     return NULL;
    }
}

static const char *fmt_flags(apr_pool_t *p, apr_uint32_t f)
{
    const char *s = "";
    if (f & WSG_RF_SHELL_HIT)
        s = apr_pstrcat(p, s, *s ? "," : "", "SHELL-HIT", NULL);
    if (f & WSG_RF_MANUAL)
        s = apr_pstrcat(p, s, *s ? "," : "", "MANUAL", NULL);
    if (f & WSG_RF_IMPORTED)
        s = apr_pstrcat(p, s, *s ? "," : "", "IMPORTED", NULL);
    if (f & WSG_RF_DETECT)
        s = apr_pstrcat(p, s, *s ? "," : "", "DETECT", NULL);
    if (crawler_flag(f))
        s = apr_pstrcat(p, s, *s ? "," : "", crawler_flag(f), NULL);
    if (f & WSG_RF_CROWDSEC)
        s = apr_pstrcat(p, s, *s ? "," : "", "CROWDSEC", NULL);
    if (f & WSG_RF_UNBANNED)
        s = apr_pstrcat(p, s, *s ? "," : "", "UNBANNED", NULL);
    return *s ? s : "-";
}

static const char *fmt_addr(apr_pool_t *p, const wsg_addr_t *a)
{
    char buf[WSG_ADDR_STRLEN];
    return apr_pstrdup(p, wsg_addr_format(a, buf, sizeof(buf)));
}

static apr_interval_time_t ban_left(const wsg_rec_t *rec, apr_time_t now)
{
    return rec->ban_until > now ? rec->ban_until - now : 0;
}

static void set_source(wsg_rec_t *rec, const char *text)
{
    memset(rec->source, 0, sizeof(rec->source));
    if (text)
        apr_cpystrn(rec->source, text, sizeof(rec->source));
}

/* ---- shared option handling ---- */

static int want_help(int argc, const char *const *argv)
{
    int i;
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static int usage_error(wsg_cli_t *cli, const char *verb, const char *msg, const char *arg)
{
    fprintf(cli->err, "wsguardctl %s: %s%s%s%s\n", verb, msg, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    fprintf(cli->err, "'wsguardctl %s --help' shows the usage.\n", verb);
    return 2;
}

/* --halflife DUR, shared by the verbs that show scores. Returns 1 if argv[*i] was it, -1 on error. */
static int opt_halflife(wsg_cli_t *cli, int argc, const char *const *argv, int *i)
{
    apr_interval_time_t d;
    if (strcmp(argv[*i], "--halflife"))
        return 0;
    if (*i + 1 >= argc || wsg_cli_parse_duration(argv[*i + 1], &d) != APR_SUCCESS || d <= 0)
        return -1;
    cli->policy.halflife = cli->halflife_opt = d;
    *i += 1;
    return 1;
}

/* ---- collecting records ---- */

typedef struct {
    apr_array_header_t  *rows;
    const wsg_policy_t  *pol;
    apr_time_t           now;
    int                  banned_only;
} collect_t;

static int collect_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    collect_t *c = baton;
    cli_row_t *r;
    if (c->banned_only && rec->ban_until <= c->now)
        return 0;
    r = apr_array_push(c->rows);
    r->key = *key;
    r->rec = *rec;
    r->score = wsg_policy_score_now(c->pol, rec, c->now);
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const cli_row_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    if (x->rec.ban_until != y->rec.ban_until)
        return x->rec.ban_until < y->rec.ban_until ? 1 : -1;
    if (x->rec.last_seen != y->rec.last_seen)
        return x->rec.last_seen < y->rec.last_seen ? 1 : -1;
    return memcmp(&x->key, &y->key, sizeof(x->key));
}

static apr_status_t collect(wsg_cli_t *cli, wsg_store_t *st, apr_time_t now, int banned_only,
                            apr_array_header_t **out)
{
    collect_t c;
    apr_status_t rv;
    c.rows = apr_array_make(cli->pool, 256, sizeof(cli_row_t));
    c.pol = &cli->policy;
    c.now = now;
    c.banned_only = banned_only;
    rv = wsg_store_iterate(st, collect_cb, &c);
    if (rv == APR_SUCCESS)
        rv = wsg_store_range_iterate(st, collect_cb, &c);   /* range bans: rows of their own */
    if (rv != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl: reading the store in %s failed: %s\n", cli->state_dir,
                wsg_store_strerror(rv));
        return rv;
    }
    qsort(c.rows->elts, (size_t)c.rows->nelts, sizeof(cli_row_t), row_cmp);
    *out = c.rows;
    return APR_SUCCESS;
}

/* The record's source / reason for output: a peer's name or an operator's text, so valid UTF-8
 * (json_pack refuses anything else) and no control byte (\xNN; for the terminal also '\\', so
 * the text reads back unambiguously). NULL when empty. */
static const char *source_text(apr_pool_t *p, const wsg_rec_t *rec, int terminal)
{
    apr_size_t n = strnlen(rec->source, sizeof(rec->source));
    const char *s = wsg_event_utf8_clean(p, rec->source, n, 0);
    if (!n)
        return NULL;
    return wsg_escape_ctl(p, s, strlen(s), 0, terminal ? WSG_ESC_BACKSLASH : 0);
}

/* The ban's origin (null when none in force), and when an operator unbanned it. */
static void row_json_fleet(apr_pool_t *p, json_t *o, const wsg_rec_t *rec, apr_time_t now)
{
    const char *origin = wsg_cli_origin(rec, now);
    json_object_set_new(o, "origin", origin ? json_string(origin) : json_null());
    if ((rec->flags & WSG_RF_UNBANNED) && rec->ban_until <= now)
        json_object_set_new(o, "unbanned_at", json_string(fmt_time(p, rec->ban_until)));
}

static json_t *row_json(apr_pool_t *p, const cli_row_t *r, apr_time_t now, int full)
{
    char buf[INET6_ADDRSTRLEN + 8];
    json_t *o, *flags = json_array(), *rules;
    int i;

    if (r->rec.flags & WSG_RF_SHELL_HIT)
        json_array_append_new(flags, json_string("SHELL-HIT"));
    if (r->rec.flags & WSG_RF_MANUAL)
        json_array_append_new(flags, json_string("MANUAL"));
    if (r->rec.flags & WSG_RF_IMPORTED)
        json_array_append_new(flags, json_string("IMPORTED"));
    if (r->rec.flags & WSG_RF_DETECT)
        json_array_append_new(flags, json_string("DETECT"));
    if (crawler_flag(r->rec.flags))
        json_array_append_new(flags, json_string(crawler_flag(r->rec.flags)));
    if (r->rec.flags & WSG_RF_CROWDSEC)
        json_array_append_new(flags, json_string("CROWDSEC"));
    if (r->rec.flags & WSG_RF_UNBANNED)
        json_array_append_new(flags, json_string("UNBANNED"));
    wsg_addr_format(&r->key, buf, sizeof(buf));
    o = json_pack("{s:s, s:i, s:b, s:f, s:I, s:I, s:s?, s:I, s:o, s:s?, s:s?}",
                  "address", buf, "prefix_len", (int)r->key.bits,
                  "is_prefix", wsg_addr_is_prefix(&r->key),
                  "score", (double)(long long)(r->score * 100.0 + 0.5) / 100.0,
                  "hits", (json_int_t)r->rec.hits,
                  "ban_remaining_s", (json_int_t)(r->rec.ban_until > now
                                                 ? wsg_export_remaining(r->rec.ban_until, now) : 0),
                  "ban_until", r->rec.ban_until ? fmt_time(p, r->rec.ban_until) : NULL,
                  "bans", (json_int_t)r->rec.ban_count, "flags", flags,
                  "last_seen", r->rec.last_seen ? fmt_time(p, r->rec.last_seen) : NULL,
                  "source", source_text(p, &r->rec, 0));
    if (o)
        row_json_fleet(p, o, &r->rec, now);
    if (!o || !full)
        return o;
    rules = json_array();
    for (i = 0; i < WSG_REC_RULES; i++)
        if (r->rec.rules[i])
            json_array_append_new(rules, json_integer(r->rec.rules[i]));
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "first_seen",
                        r->rec.first_seen ? json_string(fmt_time(p, r->rec.first_seen)) : json_null());
    json_object_set_new(o, "score_stored", json_real(r->rec.score));
    json_object_set_new(o, "score_time",
                        r->rec.score_time ? json_string(fmt_time(p, r->rec.score_time)) : json_null());
    json_object_set_new(o, "distinct", json_integer(r->rec.distinct));
    json_object_set_new(o, "misses", json_integer(wsg_track_recent_misses(&r->rec)));
    if (wsg_addr_is_prefix(&r->key))
        json_object_set_new(o, "members", json_integer(r->rec.members));
    if (wsg_crawler_state_name(&r->rec, now)) {
        /* the crawler check's verdict and since when (only for an address it looked at) */
        json_object_set_new(o, "crawler", json_string(wsg_crawler_state_name(&r->rec, now)));
        json_object_set_new(o, "crawler_since",
                            json_string(fmt_time(p, apr_time_from_sec(r->rec.crawler_at))));
    }
    return o;
}

static int print_json(wsg_cli_t *cli, json_t *j)
{
    int rc = j && json_dumpf(j, cli->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER
                                           | JSON_REAL_PRECISION(10)) == 0 ? 0 : 1;
    fputc('\n', cli->out);
    json_decref(j);
    return rc;
}

static void print_table(wsg_cli_t *cli, const apr_array_header_t *rows, int limit, apr_time_t now)
{
    const cli_row_t *v = (const cli_row_t *)rows->elts;
    int i;
    fprintf(cli->out, "%-42s %9s %8s %10s %5s %-24s %-20s %s\n", "ADDRESS/PREFIX", "SCORE", "HITS",
            "BAN-LEFT", "BANS", "FLAGS", "LAST-SEEN", "ORIGIN");
    for (i = 0; i < rows->nelts && (limit <= 0 || i < limit); i++) {
        apr_pool_t *p = cli->pool;
        fprintf(cli->out, "%-42s %9.2f %8u %10s %5u %-24s %-20s %s\n", fmt_addr(p, &v[i].key),
                v[i].score, (unsigned)v[i].rec.hits, fmt_dur(p, ban_left(&v[i].rec, now)),
                (unsigned)v[i].rec.ban_count, fmt_flags(p, v[i].rec.flags),
                fmt_time(p, v[i].rec.last_seen), wsg_cli_origin_text(p, &v[i].rec, now));
    }
}

/* ---- list / top ---- */

static int list_or_top(wsg_cli_t *cli, int argc, const char *const *argv, int is_top)
{
    const char *verb = argv[0];
    int i, banned = 0, json = 0, limit = is_top ? 10 : 0;
    apr_array_header_t *rows;
    wsg_store_t *st;
    apr_time_t now;

    if (want_help(argc, argv)) {
        if (is_top)
            fprintf(cli->out,
                    "usage: wsguardctl top [-n N] [--banned] [--json] [--halflife DUR]\n\n"
                    "The N (default 10) highest-scoring addresses and prefixes right now.\n"
                    "Columns as in 'wsguardctl list --help'.\n");
        else
            fprintf(cli->out,
                    "usage: wsguardctl list [--banned] [--json] [--halflife DUR]\n\n"
                    "Every tracked address and /24 or /64 prefix, and the range bans, highest\n"
                    "score first:\n"
                    "  ADDRESS/PREFIX  the client address, a prefix as 192.0.2.0/24, or a range\n"
                    "                  ban as 192.0.0.0/16\n"
                    "  SCORE           the score now, decayed with the server's half-life (as\n"
                    "                  recorded in the state; --halflife DUR for another)\n"
                    "  HITS            scored requests\n"
                    "  BAN-LEFT        time left of the ban in force, '-' if none\n"
                    "  BANS            bans so far (escalation)\n"
                    "  FLAGS           SHELL-HIT (a probe got a 2xx: check the server),\n"
                    "                  MANUAL (wsguardctl ban), IMPORTED (wsguardctl import),\n"
                    "                  DETECT (a DetectionOnly ban: never exported or shared),\n"
                    "                  CROWDSEC (pulled from, or lengthened by, the CrowdSec LAPI),\n"
                    "                  UNBANNED (lifted by 'wsguardctl unban': an import of older\n"
                    "                  evidence or a CrowdSec resync does not ban it again)\n"
                    "  LAST-SEEN       last scored request, UTC\n"
                    "  ORIGIN          whose ban is in force: local (this server's policy), manual,\n"
                    "                  imported, crowdsec:ORIGIN/WHO (the LAPI's origin, e.g.\n"
                    "                  cscli/MACHINE or mod_wsguard/RULE-TAG of a peer); unbanned; '-'\n\n"
                    "  --banned        only records with a ban in force\n"
                    "  --json          a JSON array instead of the table\n");
        return 0;
    }
    for (i = 1; i < argc; i++) {
        int h = opt_halflife(cli, argc, argv, &i);
        if (h < 0)
            return usage_error(cli, verb, "--halflife needs a duration such as 1h", NULL);
        if (h)
            continue;
        if (!strcmp(argv[i], "--banned"))
            banned = 1;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (is_top && !strcmp(argv[i], "-n") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n <= 0)
                return usage_error(cli, verb, "-n needs a positive number, not", argv[i]);
            limit = (int)n;
        }
        else
            return usage_error(cli, verb, "unknown argument", argv[i]);
    }
    if (!(st = wsg_cli_store(cli, 0)))
        return 1;
    now = apr_time_now();
    if (collect(cli, st, now, banned, &rows) != APR_SUCCESS)
        return 1;
    if (json) {
        json_t *arr = json_array();
        const cli_row_t *v = (const cli_row_t *)rows->elts;
        for (i = 0; i < rows->nelts && (limit <= 0 || i < limit); i++)
            json_array_append_new(arr, row_json(cli->pool, &v[i], now, 0));
        return print_json(cli, arr);
    }
    print_table(cli, rows, limit, now);
    return 0;
}

int wsg_cli_list(wsg_cli_t *cli, int argc, const char *const *argv)
{
    return list_or_top(cli, argc, argv, 0);
}

int wsg_cli_top(wsg_cli_t *cli, int argc, const char *const *argv)
{
    return list_or_top(cli, argc, argv, 1);
}

/* ---- show ---- */

static void show_text(wsg_cli_t *cli, const cli_row_t *r, const wsg_addr_t *pfx, int pfx_found,
                      const wsg_rec_t *prec, apr_time_t now)
{
    apr_pool_t *p = cli->pool;
    FILE *o = cli->out;
    int i, any = 0;

    fprintf(o, "%-14s %s\n", "address", fmt_addr(p, &r->key));
    if (!wsg_addr_is_prefix(&r->key)) {
        fprintf(o, "%-14s %s: ", "prefix", fmt_addr(p, pfx));
        if (!pfx_found)
            fprintf(o, "not tracked\n");
        else
            fprintf(o, "score %.2f, %s\n", wsg_policy_score_now(&cli->policy, prec, now),
                    prec->ban_until > now
                    ? apr_pstrcat(p, "banned, ", fmt_dur(p, prec->ban_until - now), " left", NULL)
                    : "not banned");
    }
    fprintf(o, "%-14s %s\n", "first seen", fmt_time(p, r->rec.first_seen));
    fprintf(o, "%-14s %s\n", "last seen", fmt_time(p, r->rec.last_seen));
    fprintf(o, "%-14s %.2f (stored %.2f at %s, half-life %s)\n", "score now", r->score,
            r->rec.score, fmt_time(p, r->rec.score_time), fmt_dur(p, cli->policy.halflife));
    fprintf(o, "%-14s %u\n", "hits", (unsigned)r->rec.hits);
    fprintf(o, "%-14s %u (approximate)\n", "distinct", (unsigned)r->rec.distinct);
    fprintf(o, "%-14s %u (paths remembered as missed lately: their repeats score nothing)\n", "misses",
            wsg_track_recent_misses(&r->rec));
    if (wsg_addr_is_prefix(&r->key))
        fprintf(o, "%-14s %u (approximate)\n", "members", (unsigned)r->rec.members);
    if (r->rec.ban_until > now)
        fprintf(o, "%-14s until %s (%s left)\n", "banned", fmt_time(p, r->rec.ban_until),
                fmt_dur(p, r->rec.ban_until - now));
    else if (r->rec.flags & WSG_RF_UNBANNED)
        fprintf(o, "%-14s no, unbanned by an operator at %s\n", "banned",
                fmt_time(p, r->rec.ban_until));
    else
        fprintf(o, "%-14s no%s%s\n", "banned", r->rec.ban_until ? ", last ban ended " : "",
                r->rec.ban_until ? fmt_time(p, r->rec.ban_until) : "");
    fprintf(o, "%-14s %u\n", "bans", (unsigned)r->rec.ban_count);
    fprintf(o, "%-14s %s\n", "flags", fmt_flags(p, r->rec.flags));
    if (wsg_crawler_state_name(&r->rec, now))
        fprintf(o, "%-14s %s (since %s)\n", "crawler", wsg_crawler_state_name(&r->rec, now),
                fmt_time(p, apr_time_from_sec(r->rec.crawler_at)));
    fprintf(o, "%-14s %s\n", "origin", wsg_cli_origin_text(p, &r->rec, now));
    fprintf(o, "%-14s", "recent rules");
    for (i = 0; i < WSG_REC_RULES; i++) {
        if (r->rec.rules[i]) {
            fprintf(o, " %u", (unsigned)r->rec.rules[i]);
            any = 1;
        }
    }
    fprintf(o, "%s\n", any ? "" : " -");
    fprintf(o, "%-14s %s\n", "source", r->rec.source[0] ? source_text(p, &r->rec, 1) : "-");
    if (r->rec.flags & WSG_RF_SHELL_HIT)
        fprintf(o, "\nSHELL-HIT: a probe from this client got a 2xx answer; the path it asked for "
                   "may be a web shell on this server. Check the event log.\n");
}

/* ---- range bans (a CIDR other than an address, /24 or /64: one record, never expanded) ---- */

typedef struct {
    wsg_addr_t net;
    wsg_rec_t  rec;
    int        found;
} range_find_t;

static int range_exact_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    range_find_t *f = baton;
    if (key->family == f->net.family && key->bits == f->net.bits
        && !memcmp(key->bytes, f->net.bytes, sizeof(key->bytes))) {
        f->rec = *rec;
        f->found = 1;
        return 1;
    }
    return 0;
}

/* The range record of exactly net (host bits cleared first). */
static int range_lookup(wsg_store_t *st, const wsg_addr_t *net, wsg_rec_t *out)
{
    range_find_t f;
    unsigned i, w = net->family == 4 ? 32 : 128;

    memset(&f, 0, sizeof(f));
    f.net = *net;
    for (i = f.net.bits; i < w; i++)
        f.net.bytes[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    if (wsg_store_range_iterate(st, range_exact_cb, &f) != APR_SUCCESS || !f.found)
        return 0;
    *out = f.rec;
    return 1;
}

static int show_range(wsg_cli_t *cli, const wsg_addr_t *net, int json)
{
    wsg_store_t *st;
    cli_row_t row;
    apr_time_t now;

    if (!(st = wsg_cli_store(cli, 0)))
        return 1;
    now = apr_time_now();
    memset(&row, 0, sizeof(row));
    if (!range_lookup(st, net, &row.rec)) {
        fprintf(cli->err, "wsguardctl show: no range ban %s in the store\n",
                fmt_addr(cli->pool, net));
        return 1;
    }
    row.key = *net;
    {
        unsigned i, w = row.key.family == 4 ? 32 : 128;
        for (i = row.key.bits; i < w; i++)
            row.key.bytes[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    }
    row.score = 0;
    if (json) {
        json_t *o = row_json(cli->pool, &row, now, 1);
        if (o)
            json_object_set_new(o, "range", json_true());
        return print_json(cli, o);
    }
    fprintf(cli->out, "%-14s %s (a range ban: one record for every address inside)\n", "range",
            fmt_addr(cli->pool, &row.key));
    if (row.rec.ban_until > now)
        fprintf(cli->out, "%-14s until %s (%s left)\n", "banned", fmt_time(cli->pool,
                row.rec.ban_until), fmt_dur(cli->pool, row.rec.ban_until - now));
    else
        fprintf(cli->out, "%-14s no, ended %s\n", "banned", fmt_time(cli->pool, row.rec.ban_until));
    fprintf(cli->out, "%-14s %s\n", "first banned", fmt_time(cli->pool, row.rec.first_seen));
    fprintf(cli->out, "%-14s %u\n", "bans", (unsigned)row.rec.ban_count);
    fprintf(cli->out, "%-14s %s\n", "flags", fmt_flags(cli->pool, row.rec.flags));
    fprintf(cli->out, "%-14s %s\n", "source",
            row.rec.source[0] ? source_text(cli->pool, &row.rec, 1) : "-");
    return 0;
}

/* For show of an address or prefix: a range ban in force holding it. */
static void show_covering_range(wsg_cli_t *cli, wsg_store_t *st, const wsg_addr_t *key,
                                apr_time_t now, FILE *o)
{
    wsg_rec_t rec;
    wsg_addr_t net;

    if (wsg_store_range_get(st, key, now, &rec, &net) == APR_SUCCESS)
        fprintf(o, "inside the range ban %s (%s left%s%s): 'wsguardctl show %s'\n",
                fmt_addr(cli->pool, &net), fmt_dur(cli->pool, rec.ban_until - now),
                rec.source[0] ? ", " : "", rec.source[0] ? source_text(cli->pool, &rec, 1) : "",
                fmt_addr(cli->pool, &net));
}

int wsg_cli_show(wsg_cli_t *cli, int argc, const char *const *argv)
{
    const char *target = NULL;
    int i, json = 0, pfx_found = 0;
    wsg_store_t *st;
    wsg_addr_t key, pfx;
    wsg_rec_t prec;
    cli_row_t row;
    apr_status_t rv;
    apr_time_t now;

    if (want_help(argc, argv)) {
        fprintf(cli->out,
                "usage: wsguardctl show IP|PREFIX [--json] [--halflife DUR]\n\n"
                "Every field of one record: first and last seen, the score now and as stored,\n"
                "hits, distinct probes, recent misses, the ban and its end, bans so far, flags, the\n"
                "most recent rule ids and, for an imported or manual ban, its source or reason.\n"
                "For an address, the state of its /24 or /64 prefix too. A prefix is given as\n"
                "192.0.2.0/24 or 2001:db8::/64.\n");
        return 0;
    }
    for (i = 1; i < argc; i++) {
        int h = opt_halflife(cli, argc, argv, &i);
        if (h < 0)
            return usage_error(cli, "show", "--halflife needs a duration such as 1h", NULL);
        if (h)
            continue;
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' || target)
            return usage_error(cli, "show", "unexpected argument", argv[i]);
        else
            target = argv[i];
    }
    if (!target)
        return usage_error(cli, "show", "which address?", NULL);
    if (wsg_addr_parse(target, &key) != APR_SUCCESS)
        return usage_error(cli, "show", "not an IP address or prefix:", target);
    if (wsg_store_is_range(&key))
        return show_range(cli, &key, json);
    if (wsg_addr_is_prefix(&key))
        wsg_addr_prefix(&key, &key);   /* 192.0.2.7/24 means the prefix record 192.0.2.0/24 */
    if (!(st = wsg_cli_store(cli, 0)))
        return 1;
    now = apr_time_now();
    memset(&row, 0, sizeof(row));
    row.key = key;
    rv = wsg_store_get(st, &key, &row.rec);
    if (rv == APR_NOTFOUND) {
        fprintf(cli->err, "wsguardctl show: %s is not in the store\n", fmt_addr(cli->pool, &key));
        show_covering_range(cli, st, &key, now, cli->err);
        wsg_addr_prefix(&key, &pfx);
        if (!wsg_addr_is_prefix(&key) && wsg_store_get(st, &pfx, &prec) == APR_SUCCESS)
            fprintf(cli->err, "its prefix %s is: score %.2f, %s ('wsguardctl show %s')\n",
                    fmt_addr(cli->pool, &pfx), wsg_policy_score_now(&cli->policy, &prec, now),
                    prec.ban_until > now ? apr_pstrcat(cli->pool, "banned, ",
                                                       fmt_dur(cli->pool, prec.ban_until - now),
                                                       " left", NULL)
                                         : "not banned",
                    fmt_addr(cli->pool, &pfx));
        return 1;
    }
    if (rv != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl show: reading %s failed: %s\n", target, wsg_store_strerror(rv));
        return 1;
    }
    row.score = wsg_policy_score_now(&cli->policy, &row.rec, now);
    wsg_addr_prefix(&key, &pfx);
    if (!wsg_addr_is_prefix(&key))
        pfx_found = wsg_store_get(st, &pfx, &prec) == APR_SUCCESS;
    if (json) {
        json_t *o = row_json(cli->pool, &row, now, 1);
        if (o && !wsg_addr_is_prefix(&key)) {
            char buf[WSG_ADDR_STRLEN];
            json_object_set_new(o, "prefix", json_string(wsg_addr_format(&pfx, buf, sizeof(buf))));
            json_object_set_new(o, "prefix_banned",
                                json_boolean(pfx_found && prec.ban_until > now));
        }
        return print_json(cli, o);
    }
    show_text(cli, &row, &pfx, pfx_found, &prec, now);
    show_covering_range(cli, st, &key, now, cli->out);
    return 0;
}

/* ---- ban / unban ---- */

static apr_status_t expand_keys(apr_pool_t *p, const char *text, apr_array_header_t **out,
                                const char **err)
{
    wsg_addr_t a;
    if (wsg_addr_parse(text, &a) != APR_SUCCESS) {
        *err = apr_psprintf(p, "'%s' is not an IP address or CIDR", text);
        return APR_EINVAL;
    }
    return wsg_export_cidr_keys(p, &a, WSG_CLI_MAX_KEYS, out, err);
}

typedef struct {
    const wsg_policy_t *pol;
    apr_time_t          now;
    apr_interval_time_t dur;       /* 0: the policy's escalating length */
    const char         *reason;
    int                 unban;
    int                 changed;   /* records written */
    int                 missing;   /* unban: keys without a record */
    apr_interval_time_t last_len;
} banop_t;

static int ban_fn(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    banop_t *b = baton;
    int i, mask = 0;
    for (i = 0; i < n; i++) {
        wsg_rec_t *r = &recs[i];
        if (b->unban) {
            if (!found[i]) {
                b->missing++;
                continue;
            }
            /* keep the history (hits, ban count, rules, flags like SHELL-HIT); drop the ban and
             * the score so the client starts clean */
            r->score = 0;
            r->score_time = b->now;
            wsg_cli_mark_unbanned(r, b->now);
        }
        else {
            if (!found[i]) {
                /* last_seen stays 0: no request from it was scored */
                r->first_seen = b->now;
                r->score_time = b->now;
            }
            r->ban_count++;
            b->last_len = b->dur > 0 ? b->dur : wsg_policy_ban_length(b->pol, r->ban_count);
            r->ban_until = b->now + b->last_len;
            r->flags = (r->flags | WSG_RF_MANUAL)
                       & ~(apr_uint32_t)(WSG_RF_IMPORTED | WSG_RF_DETECT | WSG_RF_CROWDSEC
                                         | WSG_RF_UNBANNED);
            set_source(r, b->reason);
        }
        r->version = WSG_REC_VERSION;
        mask |= 1 << i;
        b->changed++;
    }
    return mask;
}

/* Which CIDRs become a range ban: those shorter than a /24 or /64 (a /16, a /48), and longer
 * ones with more addresses than WSG_CLI_MAX_KEYS (an IPv6 /96). A /25../31 (IPv6 /116../127)
 * is still its address records, which also carry scores and escalation. */
static int is_range_ban(apr_pool_t *p, const wsg_addr_t *net)
{
    apr_array_header_t *keys;
    const char *err;

    if (!wsg_store_is_range(net))
        return 0;
    if (net->bits < (net->family == 4 ? 24 : 64))
        return 1;
    return wsg_export_cidr_keys(p, net, WSG_CLI_MAX_KEYS, &keys, &err) != APR_SUCCESS;
}

/* The fleet's side of a range unban (wsg_cli_fleet.c): the range itself (its record is gone)
 * and the records inside it that this unban wrote. */
static int range_queue_unbans(wsg_cli_t *cli, wsg_store_t *st, const wsg_addr_t *net,
                              int had_range, const apr_array_header_t *keys, apr_time_t now)
{
    apr_array_header_t *one = apr_array_make(cli->pool, 1, sizeof(wsg_addr_t));
    int n = 0, r;
    if (had_range) {
        APR_ARRAY_PUSH(one, wsg_addr_t) = *net;
        if ((n = wsg_cli_queue_unbans(cli, NULL, one, now)) < 0)
            return -1;
    }
    if (keys && (r = wsg_cli_queue_unbans(cli, st, keys, now)) < 0)
        return -1;
    return n;
}

/* ban / unban of a range: one record (wsg_store_range_update), never expanded. An unban also
 * lifts the address and prefix records inside the range when there are few enough to list. */
static int range_ban_or_unban(wsg_cli_t *cli, int argc, const char *const *argv,
                              const char *target, const wsg_addr_t *net, banop_t *b,
                              const char *reason, int unban)
{
    const char *verb = argv[0], *err = NULL;
    apr_array_header_t *keys;
    wsg_store_t *st;
    apr_status_t rv;
    wsg_addr_t m = *net;
    unsigned bit, w = m.family == 4 ? 32 : 128;
    int i, had_range;

    for (bit = m.bits; bit < w; bit++)       /* 192.0.2.7/16 means 192.0.0.0/16 */
        m.bytes[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    net = &m;
    /* Everything, or a good part of the Internet: a typo rather than what an admin means. */
    if (!unban && m.bits < (m.family == 4 ? 8 : 16)) {
        fprintf(cli->err, "wsguardctl ban: %s is shorter than /%d: refusing a ban of that much of "
                "the address space\n", target, m.family == 4 ? 8 : 16);
        return 2;
    }
    if (!(st = wsg_cli_store(cli, 1)))
        return 1;
    b->pol = &cli->policy;
    b->now = apr_time_now();
    b->reason = reason;
    b->unban = unban;
    if (!unban) {
        rv = wsg_store_range_update(st, net, ban_fn, b);
        if (rv != APR_SUCCESS) {
            fprintf(cli->err, "wsguardctl ban: writing the range %s failed: %s\n", target,
                    wsg_store_strerror(rv));
            return 1;
        }
        fprintf(cli->out, "banned %s for %s (a range: 1 record)\n", fmt_addr(cli->pool, net),
                fmt_dur(cli->pool, b->last_len));
        wsg_cli_audit(cli, "ban", target, reason, 1, b->now + b->last_len, argc, argv);
        return 0;
    }
    rv = wsg_store_range_delete(st, net);
    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        fprintf(cli->err, "wsguardctl unban: deleting the range %s failed: %s\n", target,
                wsg_store_strerror(rv));
        return 1;
    }
    had_range = rv == APR_SUCCESS;
    if (wsg_export_cidr_keys(cli->pool, net, WSG_CLI_MAX_KEYS, &keys, &err) == APR_SUCCESS) {
        for (i = 0; i < keys->nelts; i += 4) {
            int n = keys->nelts - i < 4 ? keys->nelts - i : 4;
            rv = wsg_store_update(st, &APR_ARRAY_IDX(keys, i, wsg_addr_t), n, ban_fn, b);
            if (rv != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl %s: writing %s failed: %s\n", verb, target,
                        wsg_store_strerror(rv));
                return 1;
            }
        }
    }
    if (!had_range && !b->changed) {
        fprintf(cli->err, "wsguardctl unban: %s is not in the store\n", target);
        return 1;
    }
    fprintf(cli->out, "unbanned %s (%s%d record%s inside)\n", target,
            had_range ? "the range and " : "", b->changed, b->changed == 1 ? "" : "s");
    if (range_queue_unbans(cli, st, net, had_range, b->changed ? keys : NULL, b->now) < 0)
        return 1;
    wsg_cli_audit(cli, "unban", target, NULL, b->changed + had_range, 0, argc, argv);
    return 0;
}

static int ban_or_unban(wsg_cli_t *cli, int argc, const char *const *argv, int unban)
{
    const char *verb = argv[0], *target = NULL, *reason = NULL, *err = NULL;
    apr_array_header_t *keys;
    wsg_store_t *st;
    banop_t b;
    int i;

    if (want_help(argc, argv)) {
        if (unban)
            fprintf(cli->out,
                    "usage: wsguardctl unban IP|CIDR\n\n"
                    "Lifts the ban and clears the score of an address or prefix (a /24 or /64, or\n"
                    "any CIDR: its range ban and every address or prefix record inside it, when\n"
                    "there are at most %d). The history stays: hits,\n"
                    "bans so far (so a new offence still escalates), rule ids, SHELL-HIT.\n"
                    "A firewall fed by wsguard-fwsync drops the entry at its next run.\n"
                    "The record stays, flagged UNBANNED with the unban time, so that importing a\n"
                    "peer's older export does not ban it again (only evidence newer than the\n"
                    "unban does). When the server shares bans through CrowdSec (WSGuardCrowdSec),\n"
                    "the unban is queued in its outbox and the server's sync deletes the\n"
                    "decision in the LAPI, which lifts it on every server of the fleet; the LAPI\n"
                    "need not be up now (the server sends it when it is back).\n",
                    WSG_CLI_MAX_KEYS);
        else
            fprintf(cli->out,
                    "usage: wsguardctl ban IP|CIDR [--for DUR] [--reason TEXT]\n\n"
                    "Bans an address, or a prefix given as 192.0.2.0/24 or 2001:db8::/64, now, on every\n"
                    "worker of the running server (the module checks address and prefix records).\n"
                    "A CIDR shorter than that (a /16, a /48; not shorter than /8 or /16) is a range\n"
                    "ban: one record the module checks for every address inside it (within a\n"
                    "second), shown by list and show, exported to firewalls as the CIDR; at most\n"
                    "%d range bans. A longer one (a /26) bans its addresses, at most %d records\n"
                    "(beyond that, an IPv6 /96, a range ban too).\n"
                    "  --for DUR       ban length: 90s, 15m, 2h, 7d (default: the module's escalating\n"
                    "                  ban time for this record's next ban)\n"
                    "  --reason TEXT   kept in the record's source field (%d bytes), shown by 'show'\n"
                    "The record is flagged MANUAL and its ban count goes up by one.\n",
                    WSG_STORE_RANGES_MAX, WSG_CLI_MAX_KEYS,
                    (int)sizeof(((wsg_rec_t *)0)->source) - 1);
        return 0;
    }
    memset(&b, 0, sizeof(b));
    for (i = 1; i < argc; i++) {
        if (!unban && !strcmp(argv[i], "--for") && i + 1 < argc) {
            if (wsg_cli_parse_duration(argv[++i], &b.dur) != APR_SUCCESS || b.dur <= 0)
                return usage_error(cli, verb, "--for needs a duration such as 90s, 15m, 2h, 7d, not",
                                   argv[i]);
        }
        else if (!unban && !strcmp(argv[i], "--reason") && i + 1 < argc)
            reason = argv[++i];
        else if (argv[i][0] == '-' || target)
            return usage_error(cli, verb, "unexpected argument", argv[i]);
        else
            target = argv[i];
    }
    if (!target)
        return usage_error(cli, verb, "which address or CIDR?", NULL);
    {
        wsg_addr_t net;
        if (wsg_addr_parse(target, &net) == APR_SUCCESS && is_range_ban(cli->pool, &net))
            return range_ban_or_unban(cli, argc, argv, target, &net, &b, reason, unban);
    }
    if (expand_keys(cli->pool, target, &keys, &err) != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl %s: %s\n", verb, err);
        return 2;
    }
    if (!(st = wsg_cli_store(cli, 1)))
        return 1;
    b.pol = &cli->policy;
    b.now = apr_time_now();
    b.reason = reason;
    b.unban = unban;
    /* four keys per write transaction: short enough not to hold up the workers' writes */
    for (i = 0; i < keys->nelts; i += 4) {
        int n = keys->nelts - i < 4 ? keys->nelts - i : 4;
        apr_status_t rv = wsg_store_update(st, &APR_ARRAY_IDX(keys, i, wsg_addr_t), n, ban_fn, &b);
        if (rv != APR_SUCCESS) {
            fprintf(cli->err, "wsguardctl %s: writing %s failed: %s%s\n", verb, target,
                    wsg_store_strerror(rv),
                    rv == APR_ENOSPC ? " (the store is full: 'wsguardctl purge', or raise its map "
                                       "size)" : "");
            return 1;
        }
    }
    if (unban) {
        const wsg_addr_t *k0 = &APR_ARRAY_IDX(keys, 0, wsg_addr_t);
        if (!b.changed)
            fprintf(cli->err, "wsguardctl unban: %s is not in the store\n", target);
        else
            fprintf(cli->out, "unbanned %s (%d record%s)\n", target, b.changed,
                    b.changed == 1 ? "" : "s");
        if (keys->nelts == 1 && !wsg_addr_is_prefix(k0)) {
            wsg_addr_t pfx;
            wsg_rec_t prec;
            wsg_addr_prefix(k0, &pfx);
            if (wsg_store_get(st, &pfx, &prec) == APR_SUCCESS && prec.ban_until > b.now)
                fprintf(cli->out, "note: its prefix %s is still banned (%s left): "
                                  "'wsguardctl unban %s' lifts that\n",
                        fmt_addr(cli->pool, &pfx), fmt_dur(cli->pool, prec.ban_until - b.now),
                        fmt_addr(cli->pool, &pfx));
        }
        if (keys->nelts == 1)
            show_covering_range(cli, st, k0, b.now, cli->out);
        if (b.changed)
            wsg_cli_audit(cli, "unban", target, NULL, b.changed, 0, argc, argv);
        if (b.changed && wsg_cli_queue_unbans(cli, st, keys, b.now) < 0)
            return 1;
        return b.changed ? 0 : 1;
    }
    fprintf(cli->out, "banned %s for %s (%d record%s)\n", target,
            fmt_dur(cli->pool, b.last_len), b.changed, b.changed == 1 ? "" : "s");
    wsg_cli_audit(cli, "ban", target, reason, b.changed, b.now + b.last_len, argc, argv);
    return 0;
}

int wsg_cli_ban(wsg_cli_t *cli, int argc, const char *const *argv)
{
    return ban_or_unban(cli, argc, argv, 0);
}

int wsg_cli_unban(wsg_cli_t *cli, int argc, const char *const *argv)
{
    return ban_or_unban(cli, argc, argv, 1);
}

/* ---- stats ---- */

typedef struct {
    const wsg_policy_t *pol;
    apr_time_t now;
    unsigned long records, addrs, prefixes, v4, v6, banned_addrs, banned_prefixes, manual,
        imported, shell, ratelimited, expired, crowdsec;
    unsigned long long hits;
    apr_time_t oldest, newest;
    unsigned long ranges, banned_ranges;
} stats_t;

static int stats_range_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    stats_t *s = baton;
    s->ranges++;
    if (rec->ban_until > s->now)
        s->banned_ranges++;
    return 0;
}

static int stats_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    stats_t *s = baton;
    int pfx = wsg_addr_is_prefix(key), banned = rec->ban_until > s->now;
    double score = wsg_policy_score_now(s->pol, rec, s->now);

    s->records++;
    *(pfx ? &s->prefixes : &s->addrs) += 1;
    *(key->family == 4 ? &s->v4 : &s->v6) += 1;
    if (banned) {
        *(pfx ? &s->banned_prefixes : &s->banned_addrs) += 1;
        if (rec->flags & WSG_RF_MANUAL)
            s->manual++;
        if (rec->flags & WSG_RF_IMPORTED)
            s->imported++;
        if (wsg_cli_origin(rec, s->now) && !strcmp(wsg_cli_origin(rec, s->now), "crowdsec"))
            s->crowdsec++;
    }
    else if (s->pol->ratelimit > 0 && score >= s->pol->ratelimit)
        s->ratelimited++;
    if (rec->flags & WSG_RF_SHELL_HIT)
        s->shell++;
    if (wsg_policy_expired(s->pol, rec, s->now))
        s->expired++;
    s->hits += rec->hits;
    if (rec->first_seen && (!s->oldest || rec->first_seen < s->oldest))
        s->oldest = rec->first_seen;
    if (rec->last_seen > s->newest)
        s->newest = rec->last_seen;
    return 0;
}

int wsg_cli_stats(wsg_cli_t *cli, int argc, const char *const *argv)
{
    wsg_store_t *st;
    stats_t s;
    apr_status_t rv;
    int i, json = 0;

    if (want_help(argc, argv)) {
        fprintf(cli->out,
                "usage: wsguardctl stats [--json] [--halflife DUR]\n\n"
                "Counts over the store: records (addresses and /24 | /64 prefixes, IPv4 and IPv6),\n"
                "bans in force (manual and imported among them), clients in the rate-limit tier,\n"
                "SHELL-HIT alerts (a probe got a 2xx), scored requests, records 'purge' would\n"
                "delete, and the oldest and newest activity.\n"
                "With WSGuardCrowdSec, the sync's state too (from the server's outbox): last\n"
                "push and pull (ok, or FAILING with the last error), last full pull, totals\n"
                "pushed / unbans sent / dropped / pulled, and the backlog waiting to be sent.\n");
        return 0;
    }
    for (i = 1; i < argc; i++) {
        int h = opt_halflife(cli, argc, argv, &i);
        if (h < 0)
            return usage_error(cli, "stats", "--halflife needs a duration such as 1h", NULL);
        if (h)
            continue;
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return usage_error(cli, "stats", "unknown argument", argv[i]);
    }
    if (!(st = wsg_cli_store(cli, 0)))
        return 1;
    memset(&s, 0, sizeof(s));
    s.pol = &cli->policy;
    s.now = apr_time_now();
    if ((rv = wsg_store_iterate(st, stats_cb, &s)) != APR_SUCCESS
        || (rv = wsg_store_range_iterate(st, stats_range_cb, &s)) != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl stats: reading the store failed: %s\n", wsg_store_strerror(rv));
        return 1;
    }
    if (json) {
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?}",
            "records", (json_int_t)s.records, "addresses", (json_int_t)s.addrs,
            "prefixes", (json_int_t)s.prefixes, "ipv4", (json_int_t)s.v4, "ipv6", (json_int_t)s.v6,
            "banned_addresses", (json_int_t)s.banned_addrs,
            "banned_prefixes", (json_int_t)s.banned_prefixes, "manual_bans", (json_int_t)s.manual,
            "imported_bans", (json_int_t)s.imported, "ratelimited", (json_int_t)s.ratelimited,
            "shell_hits", (json_int_t)s.shell, "hits", (json_int_t)s.hits,
            "purgeable", (json_int_t)s.expired,
            "oldest_first_seen", s.oldest ? fmt_time(cli->pool, s.oldest) : NULL,
            "newest_last_seen", s.newest ? fmt_time(cli->pool, s.newest) : NULL);
        if (o) {
            json_object_set_new(o, "ranges", json_integer((json_int_t)s.ranges));
            json_object_set_new(o, "banned_ranges", json_integer((json_int_t)s.banned_ranges));
            json_object_set_new(o, "policy", json_string(cli->have_server ? "server" : "defaults"));
            json_object_set_new(o, "policy_text", json_string(wsg_cli_policy_note(cli)));
            json_object_set_new(o, "halflife_s",
                                json_integer((json_int_t)apr_time_sec(cli->policy.halflife)));
            json_object_set_new(o, "ban_time_s",
                                json_integer((json_int_t)apr_time_sec(cli->policy.ban_time)));
        }
        int bad = 0;
        if (o) {
            json_object_set_new(o, "crowdsec_bans", json_integer((json_int_t)s.crowdsec));
            bad = wsg_cli_sync_stats(cli, o);
        }
        return print_json(cli, o) || bad;
    }
    fprintf(cli->out,
            "records           %lu (%lu addresses, %lu prefixes; %lu IPv4, %lu IPv6)\n"
            "banned now        %lu addresses, %lu prefixes (%lu manual, %lu imported, %lu crowdsec)\n"
            "rate-limited now  %lu\n"
            "SHELL-HIT alerts  %lu%s\n"
            "scored requests   %llu\n"
            "purgeable         %lu\n"
            "oldest activity   %s\n"
            "newest activity   %s\n",
            s.records, s.addrs, s.prefixes, s.v4, s.v6, s.banned_addrs, s.banned_prefixes,
            s.manual, s.imported, s.crowdsec, s.ratelimited, s.shell,
            s.shell ? "  <- 'wsguardctl list' shows which (flag SHELL-HIT)" : "", s.hits,
            s.expired, fmt_time(cli->pool, s.oldest), fmt_time(cli->pool, s.newest));
    fprintf(cli->out, "range bans        %lu (%lu in force)\n", s.ranges, s.banned_ranges);
    fprintf(cli->out, "policy            %s\n", wsg_cli_policy_note(cli));
    return wsg_cli_sync_stats(cli, NULL);
}

/* ---- purge ---- */

typedef struct {
    const wsg_policy_t *pol;
    apr_time_t now;
} purge_t;

static int purge_cb(void *baton, const wsg_rec_t *rec)
{
    purge_t *pu = baton;
    return wsg_policy_expired(pu->pol, rec, pu->now);
}

typedef struct {
    apr_array_header_t *gone;
    apr_time_t          now;
} range_purge_t;

static int range_purge_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    range_purge_t *rp = baton;
    if (rec->ban_until <= rp->now)
        APR_ARRAY_PUSH(rp->gone, wsg_addr_t) = *key;
    return 0;
}

/* Range bans whose ban has ended (they carry no score): deleted one write each. */
static unsigned purge_ranges(wsg_cli_t *cli, wsg_store_t *st, apr_time_t now)
{
    range_purge_t rp;
    unsigned n = 0;
    int i;

    rp.gone = apr_array_make(cli->pool, 8, sizeof(wsg_addr_t));
    rp.now = now;
    if (wsg_store_range_iterate(st, range_purge_cb, &rp) != APR_SUCCESS)
        return 0;
    for (i = 0; i < rp.gone->nelts; i++)
        if (wsg_store_range_delete(st, &APR_ARRAY_IDX(rp.gone, i, wsg_addr_t)) == APR_SUCCESS)
            n++;
    return n;
}

int wsg_cli_purge(wsg_cli_t *cli, int argc, const char *const *argv)
{
    wsg_store_t *st;
    purge_t pu;
    unsigned n, total = 0;
    int i;

    if (want_help(argc, argv)) {
        fprintf(cli->out,
                "usage: wsguardctl purge [--halflife DUR]\n\n"
                "Deletes the records that carry nothing any more: no ban in force and a score\n"
                "decayed below 0.01. Runs in batches of %d records per write transaction so the\n"
                "server's workers are not held up; the module also purges on its own.\n",
                WSG_CLI_PURGE_BATCH);
        return 0;
    }
    for (i = 1; i < argc; i++) {
        int h = opt_halflife(cli, argc, argv, &i);
        if (h < 0)
            return usage_error(cli, "purge", "--halflife needs a duration such as 1h", NULL);
        if (!h)
            return usage_error(cli, "purge", "unknown argument", argv[i]);
    }
    if (!(st = wsg_cli_store(cli, 1)))
        return 1;
    pu.pol = &cli->policy;
    pu.now = apr_time_now();
    do {
        apr_status_t rv;
        n = 0;
        rv = wsg_store_purge(st, purge_cb, &pu, WSG_CLI_PURGE_BATCH, &n);
        if (rv != APR_SUCCESS) {
            fprintf(cli->err, "wsguardctl purge: failed after %u records: %s\n", total,
                    wsg_store_strerror(rv));
            return 1;
        }
        total += n;
    } while (n >= WSG_CLI_PURGE_BATCH);
    total += purge_ranges(cli, st, pu.now);
    fprintf(cli->out, "purged %u record%s\n", total, total == 1 ? "" : "s");
    wsg_cli_audit(cli, "purge", NULL, NULL, (long)total, 0, argc, argv);
    return 0;
}
