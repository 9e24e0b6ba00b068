/* wsg_cli_report: `wsguardctl report`, sharing reports (CSV, JSON, STIX 2.1, MISP event or feed)
 * built from event-log files (plain or gzip-compressed) by wsg_report. */
#include <errno.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "wsg_cli.h"
#include "wsg_event.h"
#include "wsg_report.h"

static void report_usage(FILE *f)
{
    fprintf(f,
"usage: wsguardctl report [--log] FILE... [--format csv|json|stix|misp|misp-feed] [--since T]\n"
"                         [--until T] [--anonymise] [--hostname NAME]... [--tlp LEVEL]\n"
"                         [--org NAME] [--identity ID] [--validity DUR] [--output FILE|DIR]\n"
"\n"
"Reads wsguard event logs (JSON lines, as written by WSGuardEventLog; \"-\" is stdin), rotated\n"
"ones too, plain or gzip-compressed, told by content, not by name (events.jsonl events.jsonl.1\n"
"events.jsonl.2.gz ...), keeps the probe, miss, ban, refused and alert events in the time window,\n"
"and aggregates them per client address: first/last seen, requests, distinct paths, rule tags,\n"
"user agents, statuses, and whether any probe got a 2xx answer (possible web shell present).\n"
"Unparseable lines are skipped and counted on stderr.\n"
"\n"
"Campaigns: addresses in different /24 (IPv4) or /64 (IPv6) prefixes that each probed at least 5\n"
"distinct normalised paths, with path sets at least half the same (Jaccard >= 0.5), are grouped\n"
"(transitively) into campaigns c1, c2, ... (largest first; ids hold within one report). CSV: a\n"
"last column 'campaign'; JSON: a 'campaigns' array and a 'campaign' per client; STIX: a campaign\n"
"that member indicators 'indicate'; MISP: a wsguard:campaign tag on member ip-src attributes.\n"
"\n"
"  --format F      csv   one row per address (RFC 4180, header row)          [default]\n"
"                  json  the aggregate\n"
"                  stix  a STIX 2.1 bundle: identity, TLP marking, one indicator and one\n"
"                        sighting per address, ATT&CK T1595.003 and T1505.003 attack patterns\n"
"                        (mitre-attack external references), one campaign per group of\n"
"                        addresses probing the same paths\n"
"                  misp  a MISP event: ip-src (to_ids), uri and user-agent attributes, TLP and\n"
"                        ATT&CK galaxy tags, threat level 3 (low; 2 when a probe got a 2xx),\n"
"                        analysis 2 (completed)\n"
"                  misp-feed  the MISP event added to the feed directory given by --output\n"
"                        (manifest.json, hashes.csv, EVENT-UUID.json) that a MISP instance\n"
"                        subscribes to by URL; a fixed window (--since and --until given)\n"
"                        reported again updates its event, anything else adds one\n"
"  --since T       only events at or after T; --until T: only events before T.\n"
"                  T is an ISO-8601 date or UTC date-time (2026-11-26, 2026-11-26T10:30:00Z)\n"
"                  or a time ago: 90m, 24h, 7d\n"
"  --anonymise     remove the reporter's own host names (every vhost in the logs and each\n"
"                  --hostname; a www.NAME vhost also hides NAME and so its subdomains),\n"
"                  private/internal addresses (dropped as clients, replaced inside paths and\n"
"                  user agents) and query values (?pass=secret becomes ?pass=). To hide your\n"
"                  public address too, give it as a --hostname.\n"
"  --hostname NAME another own host name to remove (repeatable)\n"
"  --tlp LEVEL     white, green, amber (default) or red: the STIX marking / MISP tag and\n"
"                  distribution\n"
"  --org NAME      the reporting organisation (STIX identity, MISP Orgc)\n"
"  --identity ID   the STIX identity id to use (identity--<uuid>; its uuid is also the MISP\n"
"                  Orgc uuid). Default: derived from --org (UUIDv5, STIX namespace), so the\n"
"                  same organisation is the same reporter in every report\n"
"  --output FILE   write there instead of stdout (misp-feed: the feed directory, required)\n"
"  --validity DUR  how long an indicator stays valid after the last sighting (default 30d;\n"
"                  a ban that lasts longer extends it)\n"
"\n"
"Exit status: 0 ok, 1 a file could not be read or written (a truncated .gz: its readable part\n"
"is not reported either), 2 usage error.\n");
}

/* ISO-8601, or a duration meaning "that long ago". */
static apr_status_t parse_when(const char *text, apr_time_t now, apr_time_t *out)
{
    apr_interval_time_t d;
    if (wsg_event_time_parse(text, out) == APR_SUCCESS)
        return APR_SUCCESS;
    if (wsg_cli_parse_duration(text, &d) == APR_SUCCESS) {
        *out = now - d;
        return APR_SUCCESS;
    }
    return APR_EINVAL;
}

int wsg_cli_report(wsg_cli_t *cli, int argc, const char *const *argv)
{
    wsg_report_opts_t o;
    wsg_report_format_t fmt = WSG_REPORT_CSV;
    apr_array_header_t *files = apr_array_make(cli->pool, 4, sizeof(const char *));
    const char *output = NULL, *err = NULL;
    apr_time_t now = apr_time_now();
    wsg_report_t *r;
    char *text;
    FILE *out = cli->out;
    int i, rc = 0;

    memset(&o, 0, sizeof(o));
    o.hostnames = apr_array_make(cli->pool, 4, sizeof(const char *));
    o.now = now;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char *name = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            report_usage(cli->out);
            return 0;
        }
        if (!strcmp(a, "--anonymise") || !strcmp(a, "--anonymize")) {
            o.anonymise = 1;
            continue;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            APR_ARRAY_PUSH(files, const char *) = a;
            continue;
        }
        /* --opt VALUE or --opt=VALUE */
        if (!strncmp(a, "--", 2) && (eq = strchr(a, '='))) {
            name = apr_pstrmemdup(cli->pool, a, (apr_size_t)(eq - a));
            val = eq + 1;
        }
        else {
            name = apr_pstrdup(cli->pool, a);
            if (i + 1 < argc)
                val = argv[++i];
        }
        if (!val) {
            fprintf(cli->err, "wsguardctl report: %s needs a value\n", name);
            return 2;
        }
        if (!strcmp(name, "--log") || !strcmp(name, "-l")) {
            APR_ARRAY_PUSH(files, const char *) = val;
        }
        else if (!strcmp(name, "--format") || !strcmp(name, "-f")) {
            if (wsg_report_format_parse(val, &fmt) != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl report: unknown format '%s' (csv, json, stix, misp, misp-feed)\n",
                        val);
                return 2;
            }
        }
        else if (!strcmp(name, "--since") || !strcmp(name, "--until")) {
            apr_time_t t;
            if (parse_when(val, now, &t) != APR_SUCCESS) {
                fprintf(cli->err, "wsguardctl report: %s '%s': expected an ISO-8601 date or "
                        "date-time (2026-11-26T10:30:00Z) or a time ago (24h, 7d)\n", name, val);
                return 2;
            }
            if (name[2] == 's')
                o.since = t;
            else
                o.until = t;
        }
        else if (!strcmp(name, "--hostname")) {
            APR_ARRAY_PUSH(o.hostnames, const char *) = val;
        }
        else if (!strcmp(name, "--tlp")) {
            if (!(o.tlp = wsg_report_tlp_name(val))) {
                fprintf(cli->err, "wsguardctl report: unknown TLP level '%s' (white, green, "
                        "amber, red)\n", val);
                return 2;
            }
        }
        else if (!strcmp(name, "--org")) {
            o.org = val;
        }
        else if (!strcmp(name, "--identity")) {
            if (!wsg_report_identity_ok(val)) {
                fprintf(cli->err, "wsguardctl report: --identity '%s': expected identity--<uuid> "
                        "(lower-case)\n", val);
                return 2;
            }
            o.identity = val;
        }
        else if (!strcmp(name, "--output") || !strcmp(name, "-o")) {
            output = val;
        }
        else if (!strcmp(name, "--validity")) {
            if (wsg_cli_parse_duration(val, &o.validity) != APR_SUCCESS || o.validity <= 0) {
                fprintf(cli->err, "wsguardctl report: --validity '%s': expected a duration "
                        "(30d)\n", val);
                return 2;
            }
        }
        else {
            fprintf(cli->err, "wsguardctl report: unknown option '%s'\n", name);
            report_usage(cli->err);
            return 2;
        }
    }
    if (!files->nelts) {
        fprintf(cli->err, "wsguardctl report: no event log given (--log FILE, or - for stdin)\n");
        report_usage(cli->err);
        return 2;
    }
    if (wsg_report_format_is_dir(fmt) && !output) {
        fprintf(cli->err, "wsguardctl report: --format %s needs --output DIR (the feed directory)\n",
                wsg_report_format_name(fmt));
        return 2;
    }
    if (o.since && o.until && o.until <= o.since) {
        fprintf(cli->err, "wsguardctl report: --until is not after --since\n");
        return 2;
    }

    r = wsg_report_make(cli->pool, &o);
    for (i = 0; i < files->nelts; i++) {
        if (wsg_report_read_file(r, APR_ARRAY_IDX(files, i, const char *), &err) != APR_SUCCESS) {
            fprintf(cli->err, "wsguardctl report: %s\n", err);
            rc = 1;
        }
    }
    if (wsg_report_bad_lines(r))
        fprintf(cli->err, "wsguardctl report: skipped %u of %u lines that are not wsguard events\n",
                wsg_report_bad_lines(r), wsg_report_lines(r));
    if (rc)
        return rc;

    if (wsg_report_format_is_dir(fmt)) {
        if (wsg_report_write_dir(r, fmt, output, cli->pool, &err) != APR_SUCCESS) {
            fprintf(cli->err, "wsguardctl report: %s\n", err);
            return 1;
        }
        fprintf(cli->out, "%s: %u addresses reported\n", output, wsg_report_clients(r));
        return 0;
    }
    text = wsg_report_render(r, fmt, cli->pool);
    if (output && !(out = fopen(output, "w"))) {
        fprintf(cli->err, "wsguardctl report: cannot write %s: %s\n", output, strerror(errno));
        return 1;
    }
    if (fputs(text, out) == EOF || fflush(out) != 0) {
        fprintf(cli->err, "wsguardctl report: write error: %s\n", strerror(errno));
        rc = 1;
    }
    if (output && fclose(out) != 0) {
        fprintf(cli->err, "wsguardctl report: cannot write %s: %s\n", output, strerror(errno));
        rc = 1;
    }
    return rc;
}
