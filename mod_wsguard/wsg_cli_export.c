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
#include "wsg_import.h"
#include "wsg_util.h"

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
    /* DetectionOnly's bans are detection only: never to a firewall or a peer. */
    if (rec->ban_until <= c->now || (rec->flags & WSG_RF_DETECT))
        return 0;
    memset(&e, 0, sizeof(e));
    e.addr = *key;
    e.ban_until = rec->ban_until;
    e.score = wsg_policy_score_now(c->pol, rec, c->now);
    e.flags = rec->flags;
    e.bans = rec->ban_count;
    e.seen = wsg_cli_rec_seen(rec);
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
            if (wsg_cli_parse_duration(argv[++i], &cli->halflife_opt) != APR_SUCCESS
                || (cli->policy.halflife = cli->halflife_opt) <= 0) {
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
    if ((rv = wsg_store_iterate(st, export_cb, &c)) != APR_SUCCESS
        || (rv = wsg_store_range_iterate(st, export_cb, &c)) != APR_SUCCESS) {
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

/* ---- import (parsing: wsg_import; here: options, reading, the share of the store, writing) ---- */

typedef struct {
    wsg_addr_t key;
    apr_time_t until;
    apr_time_t seen;            /* the peer's evidence time, 0: the file does not say */
} imp_item_t;

typedef struct {
    wsg_cli_t  *cli;
    apr_time_t  now;
    const char *source;
    apr_size_t  share;          /* imported records allowed in the store; 0: no store known */
    apr_size_t  imported;       /* records flagged IMPORTED now (grows as we write) */
    unsigned    added, extended, kept, refused, unbanned;
} imp_t;

static int count_imported(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    (void)key;
    if (rec->flags & WSG_RF_IMPORTED)
        ++*(apr_size_t *)baton;
    return 0;
}

/* What an import may do to a record: 0 leave it (*why: 1 a ban of ours or an operator's in force,
 * 2 a longer imported ban, 3 an operator's unban that the entry's evidence does not postdate),
 * 1 ban it. Only a ban an import made is ever lengthened by one; a local, manual or pulled ban
 * in force is never shortened, relabelled, nor its reason replaced. */
static int import_decide(const wsg_rec_t *r, int found, const imp_item_t *it, apr_time_t now,
                         int *why)
{
    *why = 0;
    if (!found)
        return 1;
    if (r->ban_until > now) {
        if (!(r->flags & WSG_RF_IMPORTED) || (r->flags & (WSG_RF_MANUAL | WSG_RF_CROWDSEC))) {
            *why = 1;
            return 0;
        }
        if (r->ban_until >= it->until) {
            *why = 2;
            return 0;
        }
        return 1;
    }
    /* unbanned by an operator at r->ban_until: only what a peer saw after that bans again */
    if ((r->flags & WSG_RF_UNBANNED) && (!it->seen || it->seen <= r->ban_until)) {
        *why = 3;
        return 0;
    }
    return 1;
}

static int import_fn(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    void **b = baton;
    imp_t *im = b[0];
    imp_item_t **items = b[1];
    int i, mask = 0;
    for (i = 0; i < n; i++) {
        wsg_rec_t *r = &recs[i];
        int counted = found[i] && (r->flags & WSG_RF_IMPORTED), why;
        if (!import_decide(r, found[i], items[i], im->now, &why)) {
            if (why == 3)
                im->unbanned++;
            else
                im->kept++;
            continue;
        }
        if (!counted && im->share && im->imported >= im->share) {
            im->refused++;   /* imported records may take only a share of the map */
            continue;
        }
        if (!counted)
            im->imported++;
        if (!found[i]) {
            r->first_seen = r->score_time = im->now;   /* last_seen: no request seen here */
            im->added++;
        }
        else
            im->extended++;
        if (r->ban_until <= im->now)
            r->ban_count++;   /* a new ban; re-importing the same list daily does not escalate */
        r->ban_until = items[i]->until;
        /* no ban in force here (or an imported one): the peer's is the ban, labelled as such */
        r->flags = (r->flags & ~(apr_uint32_t)(WSG_RF_MANUAL | WSG_RF_CROWDSEC | WSG_RF_DETECT
                                               | WSG_RF_UNBANNED)) | WSG_RF_IMPORTED;
        r->version = WSG_REC_VERSION;
        memset(r->source, 0, sizeof(r->source));
        apr_cpystrn(r->source, im->source, sizeof(r->source));
        mask |= 1 << i;
    }
    return mask;
}

/* The longest ban the server itself would set (WSGuardBanTime's max=, or the ban time when that
 * is longer: no escalation): no import bans longer, whatever --max or the file says (a STIX
 * report's 30-day validity is not a 30-day ban on a server whose bans end after a week). */
static apr_interval_time_t server_ban_cap(const wsg_policy_t *pol)
{
    apr_interval_time_t cap = pol->ban_max > pol->ban_time ? pol->ban_max : pol->ban_time;
    return cap > 0 ? cap : 7 * 86400 * APR_USEC_PER_SEC;
}

static int import_cap(wsg_cli_t *cli, wsg_import_opts_t *o)
{
    apr_interval_time_t cap = server_ban_cap(&cli->policy);
    if (o->max > cap) {
        fprintf(cli->err, "wsguardctl import: --max %" APR_INT64_T_FMT "s is longer than the "
                          "server's longest ban (WSGuardBanTime max=, %" APR_INT64_T_FMT "s): "
                          "using that\n", (apr_int64_t)apr_time_sec(o->max),
                (apr_int64_t)apr_time_sec(cap));
        o->max = cap;
    }
    return 0;
}

static void import_help(FILE *f, const wsg_policy_t *pol)
{
    fprintf(f,
        "usage: wsguardctl import FILE|- [--source NAME] [--for DUR] [--max DUR]\n"
        "                         [--max-entries N] [--allow-private] [--dry-run]\n\n"
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
        "skipped. Entries already expired are skipped. A ban in force that is this server's\n"
        "own, an operator's (wsguardctl ban) or pulled from CrowdSec is kept as it is: never\n"
        "shortened, relabelled or given another reason; a longer imported ban is kept too.\n"
        "An address an operator unbanned (wsguardctl unban) is banned again only by an entry\n"
        "whose evidence (last_seen, STIX modified / valid_from, MISP timestamp, a CSV\n"
        "last_seen column) is newer than the unban; entries without one (plain lists) are\n"
        "skipped for it.\n"
        "A peer's file cannot take over the store: files over %u MiB and lines over %u KiB are\n"
        "refused, ranges wider than IPv4 /%d or IPv6 /%d are refused, ban ends are capped at\n"
        "--max, and imported records may fill at most a quarter of the store (the rest is\n"
        "refused), so the server keeps tracking new scanners.\n\n"
        "  --source NAME      recorded in each record (default: the file's name), %d bytes\n"
        "  --for DUR          ban length for entries without a time (default: the module's first\n"
        "                     ban time, %" APR_INT64_T_FMT "s)\n"
        "  --max DUR          cap on any ban length (default and upper limit: the server's\n"
        "                     'WSGuardBanTime ... max=', %" APR_INT64_T_FMT "s)\n"
        "  --max-entries N    entries read from the file (default %u); the rest is refused\n"
        "  --allow-private    also import private, loopback and documentation addresses (skipped\n"
        "                     by default: a peer's internal addresses are not scanners here)\n"
        "  --dry-run          parse and report, write nothing\n",
        WSG_IMPORT_MAX_FILE >> 20, WSG_IMPORT_MAX_LINE >> 10, WSG_IMPORT_MIN_BITS4,
        WSG_IMPORT_MIN_BITS6, (int)sizeof(((wsg_rec_t *)0)->source) - 1,
        (apr_int64_t)apr_time_sec(pol->ban_time), (apr_int64_t)apr_time_sec(server_ban_cap(pol)),
        WSG_IMPORT_MAX_ENTRIES);
}

/* Reads all of path ('-': stdin), refusing more than max bytes. */
static apr_status_t read_all(wsg_cli_t *cli, const char *path, apr_size_t max, char **text,
                             apr_size_t *len, int *too_big)
{
    apr_file_t *fh;
    apr_size_t cap = 1 << 16;
    apr_status_t rv;

    *len = 0;
    *too_big = 0;
    if (!strcmp(path, "-"))
        rv = apr_file_open_stdin(&fh, cli->pool);
    else
        rv = apr_file_open(&fh, path, APR_FOPEN_READ | APR_FOPEN_BUFFERED, 0, cli->pool);
    if (rv != APR_SUCCESS)
        return rv;
    *text = malloc(cap + 1);
    for (;;) {
        apr_size_t n = cap - *len;
        rv = apr_file_read(fh, *text + *len, &n);
        *len += n;
        if (rv == APR_EOF) {
            rv = APR_SUCCESS;
            break;
        }
        if (rv != APR_SUCCESS)
            break;
        if (*len > max) {
            *too_big = 1;
            break;
        }
        if (*len == cap) {
            char *bigger = realloc(*text, cap * 2 + 1);
            if (!bigger) {
                rv = APR_ENOMEM;
                break;
            }
            *text = bigger;
            cap *= 2;
        }
    }
    apr_file_close(fh);
    return rv;
}

static int parse_count(const char *s, unsigned *out)
{
    char *end;
    unsigned long v;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > 10000000UL)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int wsg_cli_import(wsg_cli_t *cli, int argc, const char *const *argv)
{
    const char *path = NULL, *file, *source = NULL, *err = NULL;
    wsg_import_opts_t o;
    wsg_import_result_t *res;
    imp_t im;
    int i, dry = 0, too_big = 0;
    char *text = NULL;
    apr_size_t len = 0;
    apr_status_t rv;
    wsg_store_t *st = NULL;
    apr_hash_t *seen;
    apr_array_header_t *items;
    unsigned over_share = 0;

    memset(&im, 0, sizeof(im));
    memset(&o, 0, sizeof(o));
    im.cli = cli;
    for (i = 1; i < argc && strcmp(argv[i], "--help") && strcmp(argv[i], "-h"); i++)
        ;
    if (i == argc)
        wsg_cli_policy_peek(cli);     /* the server's ban time and max are the defaults */
    o.dflt = cli->policy.ban_time > 0 ? cli->policy.ban_time : 3600 * APR_USEC_PER_SEC;
    o.max = server_ban_cap(&cli->policy);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            import_help(cli->out, &cli->policy);
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
            *(!strcmp(a, "--for") ? &o.dflt : &o.max) = d;
        }
        else if (!strcmp(a, "--max-entries") && i + 1 < argc) {
            if (parse_count(argv[++i], &o.max_entries) < 0) {
                fprintf(cli->err, "wsguardctl import: --max-entries needs a number from 1 to "
                                  "10000000, not '%s'\n", argv[i]);
                return 2;
            }
        }
        else if (!strcmp(a, "--allow-private"))
            o.allow_private = 1;
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
    if (import_cap(cli, &o) != 0)
        return 2;
    if (o.dflt > o.max)
        o.dflt = o.max;   /* --for beyond the cap: the cap (said by the 'capped' count) */
    file = !strcmp(path, "-") ? "<stdin>" : path;
    if (!source) {
        const char *b = strrchr(file, '/');
        source = b ? b + 1 : file;
    }
    im.source = source;
    /* names as printed: a file name or --source with control bytes does not reach the terminal */
    file = wsg_escape_ctl(cli->pool, file, strlen(file), 0, WSG_ESC_BACKSLASH);
    source = wsg_escape_ctl(cli->pool, source, strlen(source), 0, WSG_ESC_BACKSLASH);

    rv = read_all(cli, path, WSG_IMPORT_MAX_FILE, &text, &len, &too_big);
    if (rv != APR_SUCCESS) {
        char ebuf[128];
        free(text);
        fprintf(cli->err, "wsguardctl import: cannot read %s: %s\n", file,
                apr_strerror(rv, ebuf, sizeof(ebuf)));
        return 1;
    }
    if (too_big) {
        free(text);
        fprintf(cli->err, "wsguardctl import: %s is larger than %u MiB, nothing imported\n", file,
                WSG_IMPORT_MAX_FILE >> 20);
        return 1;
    }
    im.now = o.now = apr_time_now();
    rv = wsg_import_parse(cli->pool, text, len, &o, &res, &err);
    free(text);
    for (i = 0; i < res->msgs->nelts; i++) {
        const wsg_import_msg_t *m = &APR_ARRAY_IDX(res->msgs, i, wsg_import_msg_t);
        fprintf(cli->err, "%s:%u: %s, skipped\n", file, m->line, m->text);
    }
    if (res->msgs_dropped)
        fprintf(cli->err, "%s: %u more skipped entries not shown\n", file, res->msgs_dropped);
    if (res->unclosed)
        fprintf(cli->err, "%s: the JSON array is not closed (truncated file?)\n", file);
    if (rv != APR_SUCCESS) {
        fprintf(cli->err, isdigit((unsigned char)*err) ? "%s:%s\n" : "wsguardctl import: %s: %s\n", file,
                err);
        return 1;
    }

    /* The share of the store imports may take: a quarter of its capacity, counting what earlier
     * imports left there, so a peer's feed can never leave the server unable to track. */
    if (dry) {   /* a dry run on a machine without a store yet is fine: no share then */
        wsg_store_opts_t so = cli->store_opts;
        const char *serr = NULL;
        so.readonly = 1;
        if (wsg_store_open(cli->pool, cli->state_dir, &so, &st, &serr) != APR_SUCCESS)
            st = NULL;
    }
    else if (!(st = wsg_cli_store(cli, 1)))
        return 1;
    if (st) {
        wsg_store_stat_t ss;
        if (wsg_store_stat(st, &ss) == APR_SUCCESS && ss.capacity) {
            im.share = ss.capacity / 4 ? ss.capacity / 4 : 1;
            if ((rv = wsg_store_iterate(st, count_imported, &im.imported)) != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl import: reading the store in %s failed: %s\n",
                        cli->state_dir, wsg_store_strerror(rv));
                return 1;
            }
        }
    }

    /* entries -> store keys; duplicates keep the longest ban; at most 'share' distinct keys */
    seen = apr_hash_make(cli->pool);
    items = apr_array_make(cli->pool, res->entries->nelts + 16, sizeof(imp_item_t *));
    for (i = 0; i < res->entries->nelts; i++) {
        const wsg_import_entry_t *e = &APR_ARRAY_IDX(res->entries, i, wsg_import_entry_t);
        apr_array_header_t *keys;
        int k;
        if (wsg_export_cidr_keys(cli->pool, &e->cidr, WSG_IMPORT_MAX_KEYS, &keys, &err)
            != APR_SUCCESS) {
            fprintf(cli->err, "%s:%u: %s, skipped\n", file, e->line, err);
            res->invalid++;
            continue;
        }
        for (k = 0; k < keys->nelts; k++) {
            const wsg_addr_t *key = &APR_ARRAY_IDX(keys, k, wsg_addr_t);
            imp_item_t *it = apr_hash_get(seen, key, sizeof(*key));
            if (it) {
                if (e->until > it->until)
                    it->until = e->until;
                if (e->seen > it->seen)
                    it->seen = e->seen;
                continue;
            }
            if (im.share && (apr_size_t)items->nelts >= im.share) {
                over_share++;
                continue;
            }
            it = apr_palloc(cli->pool, sizeof(*it));
            it->key = *key;
            it->until = e->until;
            it->seen = e->seen;
            apr_hash_set(seen, &it->key, sizeof(it->key), it);
            APR_ARRAY_PUSH(items, imp_item_t *) = it;
        }
    }

    if (!dry && items->nelts) {
        /* four records per write transaction, like 'ban': short, so the workers are not held up */
        for (i = 0; i < items->nelts; i += 4) {
            int n = items->nelts - i < 4 ? items->nelts - i : 4, j;
            wsg_addr_t keys[4];
            void *baton[2];
            for (j = 0; j < n; j++)
                keys[j] = APR_ARRAY_IDX(items, i + j, imp_item_t *)->key;
            baton[0] = &im;
            baton[1] = &APR_ARRAY_IDX(items, i, imp_item_t *);
            rv = wsg_store_update(st, keys, n, import_fn, baton);
            if (rv != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl import: writing the store failed after %d of %d "
                                  "records: %s%s\n", i, items->nelts, wsg_store_strerror(rv),
                        rv == APR_ENOSPC ? " (the store is full: 'wsguardctl purge', or raise its "
                                           "map size)" : "");
                return 1;
            }
        }
    }
    if (st)
        wsg_store_close(st);
    if (!dry)
        wsg_cli_audit(cli, "import", file, source, (long)(im.added + im.extended), 0, argc, argv);
    im.refused += over_share;
    if (im.refused)
        fprintf(cli->err, "wsguardctl import: %u records refused: imported records may fill at "
                          "most a quarter of the store (%" APR_SIZE_T_FMT " of %" APR_SIZE_T_FMT
                          " records%s), so the server keeps room to track new scanners\n",
                im.refused, im.share, im.share * 4, dry ? "; counted for the file alone" : "");
    if (res->over_limit)
        fprintf(cli->err, "wsguardctl import: %u entries beyond --max-entries %u refused\n",
                res->over_limit, o.max_entries ? o.max_entries : WSG_IMPORT_MAX_ENTRIES);
    fprintf(cli->out,
            "%s %s (source '%.*s'): %u entries, %d records: %u new, %u extended, "
            "%u kept (a ban in force); skipped %u invalid, %u expired, %u private",
            dry ? "would import" : "imported", file, (int)sizeof(((wsg_rec_t *)0)->source) - 1,
            source, res->seen, items->nelts, im.added, im.extended, im.kept, res->invalid,
            res->expired, res->private_skipped);
    if (im.unbanned)
        fprintf(cli->out, ", %u unbanned by an operator since", im.unbanned);
    if (res->capped)
        fprintf(cli->out, "; %u ban ends capped at %" APR_INT64_T_FMT "s", res->capped,
                (apr_int64_t)apr_time_sec(o.max));
    if (im.refused || res->over_limit)
        fprintf(cli->out, "; refused %u records over the store share, %u entries over the cap",
                im.refused, res->over_limit);
    fprintf(cli->out, "\n");
    /* failure when something was refused and nothing at all went in (or would, for a dry run) */
    return (res->invalid || im.refused || res->over_limit)
           && (dry ? !items->nelts : !(im.added + im.extended + im.kept + im.unbanned)) ? 1 : 0;
}
