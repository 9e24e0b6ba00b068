/* wsg_report_csv: one row per address (RFC 4180), spreadsheet-safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

static void csv_field(sbuf_t *b, const char *v, int first)
{
    if (!first)
        wsg_rpt_sb_str(b, ",");
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
        wsg_rpt_sb_str(b, v);
        return;
    }
    wsg_rpt_sb_str(b, "\"");
    if (formula)
        wsg_rpt_sb_str(b, "'");
    for (const char *q; (q = strchr(v, '"')); v = q + 1) {
        wsg_rpt_sb_add(b, v, (apr_size_t)(q - v));
        wsg_rpt_sb_str(b, "\"\"");
    }
    wsg_rpt_sb_str(b, v);
    wsg_rpt_sb_str(b, "\"");
}

static const char *counts_text(apr_pool_t *p, const strset_t *s)
{
    unsigned n;
    entry_t *e = wsg_rpt_set_sorted(p, s, &n);
    sbuf_t b = { p, NULL, 0, 0 };
    wsg_rpt_sb_str(&b, "");
    for (unsigned i = 0; i < n; i++)
        wsg_rpt_sb_str(&b, apr_psprintf(p, "%s%s:%u", i ? ";" : "", e[i].v, e[i].n));
    return b.b;
}

char *wsg_rpt_render_csv(wsg_report_t *r, apr_pool_t *p)
{
    static const char *cols[] = { "address", "family", "first_seen", "last_seen", "count",
                                  "distinct_paths", "possible_shell", "shell_paths", "statuses",
                                  "tags", "rules", "user_agents", "paths", "uris",
                                  "max_score", "ban_until", "campaign" };
    sbuf_t b = { p, NULL, 0, 0 };
    unsigned n;
    client_t **c = wsg_rpt_clients_sorted(r, p, &n);

    wsg_rpt_campaigns_find(r, p, c, n);
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        csv_field(&b, cols[i], i == 0);
    wsg_rpt_sb_str(&b, "\r\n");
    for (unsigned i = 0; i < n; i++) {
        const client_t *x = c[i];
        json_t *rules = json_array();
        unsigned nr;
        entry_t *e = wsg_rpt_set_sorted(p, &x->rules, &nr);
        for (unsigned k = 0; k < nr; k++)
            json_array_append_new(rules, json_string(e[k].v));
        csv_field(&b, x->addr, 1);
        csv_field(&b, x->a.family == 6 ? "ipv6" : "ipv4", 0);
        csv_field(&b, wsg_rpt_tstr(p, x->first), 0);
        csv_field(&b, wsg_rpt_tstr(p, x->last), 0);
        csv_field(&b, apr_psprintf(p, "%u", x->count), 0);
        csv_field(&b, apr_psprintf(p, "%u", wsg_rpt_set_count(&x->paths) + x->paths.overflow), 0);
        csv_field(&b, x->shell_hit ? "yes" : "no", 0);
        csv_field(&b, wsg_rpt_join(p, wsg_rpt_set_json(r, p, &x->shell_paths, 0, 20), " | ", 20), 0);
        csv_field(&b, counts_text(p, &x->statuses), 0);
        csv_field(&b, wsg_rpt_join(p, wsg_rpt_set_json(r, p, &x->tags, 0, 50), ";", 50), 0);
        csv_field(&b, wsg_rpt_join(p, rules, ";", 50), 0);
        csv_field(&b, wsg_rpt_join(p, wsg_rpt_set_json(r, p, &x->uas, 0, 10), " | ", 10), 0);
        csv_field(&b, wsg_rpt_join(p, wsg_rpt_set_json(r, p, &x->paths, 0, 20), " | ", 20), 0);
        csv_field(&b, wsg_rpt_join(p, wsg_rpt_set_json(r, p, &x->uris, 1, 20), " | ", 20), 0);
        csv_field(&b, apr_psprintf(p, "%.2f", x->max_score), 0);
        csv_field(&b, x->ban_until ? wsg_rpt_tstr(p, x->ban_until) : "", 0);
        csv_field(&b, x->camp ? x->camp->id : "", 0);
        wsg_rpt_sb_str(&b, "\r\n");
    }
    return b.b;
}
