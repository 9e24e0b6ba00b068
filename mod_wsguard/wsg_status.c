/* wsg_status: the status page's model and its two renderings (see wsg_status.h).
 * Sections, each client in one only: alerts (a probe answered 2xx: the shell may be there),
 * bans in force, then clients scoring (rate-limited first). A client's /24 or /64 is shown in
 * the client's row; a prefix gets a row of its own only when it is banned or scoring and none
 * of its members is listed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <jansson.h>

#include "wsg_status.h"
#include "wsg_util.h"
#include "wsg_sync.h"
#include "wsg_event.h"

#define SCORING_MIN 0.5      /* below this a record is faded history, not worth a row */

/* -- gathering ------------------------------------------------------------------------------- */

typedef struct {
    apr_pool_t         *p;
    const wsg_status_opts_t *o;
    wsg_status_t       *m;
    apr_array_header_t *all;     /* wsg_status_row_t * */
    apr_hash_t         *pfx;     /* prefix key -> row */
} gather_t;

/* The same words as wsguardctl's ORIGIN column (wsg_sync_rec_origin); a record with no ban in
 * force (an alert, a scorer) is the server's own. */
static const char *origin_of(const wsg_rec_t *rec)
{
    const char *o = wsg_sync_rec_origin(rec, 0);
    return o ? o : "local";
}

static int collect(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    gather_t *g = baton;
    wsg_status_t *m = g->m;
    apr_time_t now = m->now;
    double score = wsg_policy_score_now(g->o->policy, rec, now);
    int banned = rec->ban_until > now, alert = !!(rec->flags & WSG_RF_SHELL_HIT);
    wsg_status_row_t *row;
    apr_interval_time_t retry = 0;

    m->records++;
    if (wsg_addr_is_prefix(key))
        m->prefixes++;
    else
        m->addresses++;
    if (banned)
        m->banned++;
    if (alert)
        m->alerts++;
    if (!banned && !alert && score < SCORING_MIN)
        return 0;
    row = apr_pcalloc(g->p, sizeof(*row));
    row->key = *key;
    row->rec = *rec;
    row->score = score;
    row->is_prefix = wsg_addr_is_prefix(key);
    row->banned = banned;
    row->origin = origin_of(rec);
    row->detect = banned && (rec->flags & WSG_RF_DETECT);
    if (!banned && !row->is_prefix
        && wsg_policy_check(g->o->policy, rec, now, &retry) == WSG_ACT_RATELIMIT) {
        row->ratelimited = 1;
        row->retry_after = apr_time_sec(retry + APR_USEC_PER_SEC - 1);
        m->ratelimited++;
    }
    if (!banned && !alert)
        m->scoring++;
    if (row->is_prefix)
        apr_hash_set(g->pfx, &row->key, sizeof(row->key), row);
    *(wsg_status_row_t **)apr_array_push(g->all) = row;
    return 0;
}

/* A range ban in force: a row among the bans (its origin and remaining time), never a member
 * prefix of a client's row. Expired ones are not shown (wsguardctl list shows them). */
static int collect_range(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    gather_t *g = baton;
    wsg_status_row_t *row;

    if (rec->ban_until <= g->m->now)
        return 0;
    g->m->ranges++;
    row = apr_pcalloc(g->p, sizeof(*row));
    row->key = *key;
    row->rec = *rec;
    row->is_prefix = 1;
    row->is_range = 1;
    row->banned = 1;
    row->origin = origin_of(rec);
    row->detect = !!(rec->flags & WSG_RF_DETECT);
    *(wsg_status_row_t **)apr_array_push(g->all) = row;
    return 0;
}

/* The event log's last bytes: per client, the first paths probed in that window and the path of
 * the last alert. Bounded by o->tail; a line cut at the window's start is skipped. */
typedef struct {
    const char *paths[WSG_STATUS_PATHS];
    unsigned    n;
    const char *alert_path;
    apr_time_t  alert_time;
} recent_t;

static void recent_add_path(apr_pool_t *p, recent_t *r, const char *path)
{
    if (!path || !*path || r->n >= WSG_STATUS_PATHS)
        return;
    for (unsigned i = 0; i < r->n; i++)
        if (!strcmp(r->paths[i], path))
            return;
    r->paths[r->n++] = apr_pstrdup(p, path);
}

static const char *read_recent(apr_pool_t *p, const char *file, int given_fd, apr_size_t tail,
                               apr_hash_t *out)
{
    int fd = given_fd >= 0 ? given_fd : open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    char *buf, *line, *end;
    off_t from;
    ssize_t got = 0;
    apr_size_t len = 0;

    if (fd < 0)
        return apr_psprintf(p, "paths are not kept in the state, and the event log %s cannot be "
                            "read: %s", file, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (given_fd < 0)
            close(fd);
        return apr_psprintf(p, "paths are not kept in the state, and the event log %s is not a "
                            "regular file", file);
    }
    from = sb.st_size > (off_t)tail ? sb.st_size - (off_t)tail : 0;
    buf = apr_palloc(p, tail + 1);
    while (len < tail && (got = pread(fd, buf + len, tail - len, from + (off_t)len)) > 0)
        len += (apr_size_t)got;
    if (given_fd < 0)
        close(fd);
    if (got < 0 && !len)
        return apr_psprintf(p, "paths are not kept in the state, and the event log %s cannot be "
                            "read: %s", file, strerror(errno));
    buf[len] = '\0';
    line = buf;
    if (from > 0) {       /* the first line is cut */
        line = memchr(buf, '\n', len);
        line = line ? line + 1 : buf + len;
    }
    for (; line < buf + len; line = end + 1) {
        json_error_t jerr;
        json_t *o, *v;
        const char *ev, *client, *path, *ts;
        recent_t *r;
        apr_time_t t = 0;
        int status;

        end = memchr(line, '\n', (apr_size_t)(buf + len - line));
        if (!end)
            break;        /* a line being written */
        if (!(o = json_loadb(line, (apr_size_t)(end - line), 0, &jerr)))
            continue;
        ev = json_string_value(json_object_get(o, "event"));
        client = json_string_value(json_object_get(o, "client"));
        path = json_string_value(json_object_get(o, "path"));
        if (!path)
            path = json_string_value(json_object_get(o, "uri"));
        if (!ev || !client) {
            json_decref(o);
            continue;
        }
        r = apr_hash_get(out, client, APR_HASH_KEY_STRING);
        if (!r) {
            r = apr_pcalloc(p, sizeof(*r));
            apr_hash_set(out, apr_pstrdup(p, client), APR_HASH_KEY_STRING, r);
        }
        v = json_object_get(o, "status");
        status = json_is_integer(v) ? (int)json_integer_value(v) : 0;
        if ((ts = json_string_value(json_object_get(o, "time"))))
            wsg_event_time_parse(ts, &t);
        if (!strcmp(ev, "alert") || (status >= 200 && status < 300 && strcmp(ev, "refused")
                                     && strcmp(ev, "unban") && strcmp(ev, "import"))) {
            r->alert_path = path ? apr_pstrdup(p, path) : r->alert_path;
            r->alert_time = t;
        }
        if (!strcmp(ev, "refused") && json_is_array(json_object_get(o, "paths"))) {
            json_t *a = json_object_get(o, "paths");
            for (size_t i = 0; i < json_array_size(a); i++)
                recent_add_path(p, r, json_string_value(json_array_get(a, i)));
        }
        else if (strcmp(ev, "unban") && strcmp(ev, "import"))
            recent_add_path(p, r, path);
        json_decref(o);
    }
    return apr_psprintf(p, "paths are not kept in the state: these are the first ones in the "
                        "last %" APR_SIZE_T_FMT " KiB of the event log %s", tail / 1024, file);
}

/* Alerts first (newest first), then bans (longest to run first), then scoring (rate-limited
 * first, then by score). */
static int by_ban(const void *a, const void *b)
{
    const wsg_status_row_t *x = *(wsg_status_row_t *const *)a, *y = *(wsg_status_row_t *const *)b;
    if (x->rec.ban_until != y->rec.ban_until)
        return x->rec.ban_until < y->rec.ban_until ? 1 : -1;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

static int by_score(const void *a, const void *b)
{
    const wsg_status_row_t *x = *(wsg_status_row_t *const *)a, *y = *(wsg_status_row_t *const *)b;
    if (x->ratelimited != y->ratelimited)
        return y->ratelimited - x->ratelimited;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

static int by_alert(const void *a, const void *b)
{
    const wsg_status_row_t *x = *(wsg_status_row_t *const *)a, *y = *(wsg_status_row_t *const *)b;
    apr_time_t tx = x->alert_time ? x->alert_time : x->rec.last_seen;
    apr_time_t ty = y->alert_time ? y->alert_time : y->rec.last_seen;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

static void place(wsg_status_t *m, apr_array_header_t *sec, unsigned *hidden,
                  wsg_status_row_t *row)
{
    row->listed = 1;
    if ((unsigned)sec->nelts < m->limit)
        *(wsg_status_row_t **)apr_array_push(sec) = row;
    else
        (*hidden)++;
}

apr_status_t wsg_status_build(apr_pool_t *p, wsg_store_t *st, const wsg_status_opts_t *o,
                              wsg_status_t *m)
{
    gather_t g;
    apr_hash_t *recent = apr_hash_make(p);
    apr_status_t rv;
    int i;

    m->now = o->now ? o->now : apr_time_now();
    m->limit = o->limit ? (o->limit > WSG_STATUS_LIMIT_MAX ? WSG_STATUS_LIMIT_MAX : o->limit)
                        : WSG_STATUS_LIMIT;
    m->ruleset = o->rules;
    m->rules = o->rules ? wsg_ruleset_count(o->rules) : 0;
    m->alert_rows = apr_array_make(p, 8, sizeof(wsg_status_row_t *));
    m->ban_rows = apr_array_make(p, 16, sizeof(wsg_status_row_t *));
    m->scoring_rows = apr_array_make(p, 16, sizeof(wsg_status_row_t *));
    m->records = m->addresses = m->prefixes = m->banned = m->alerts = m->scoring = 0;
    m->ratelimited = m->hidden_alerts = m->hidden_bans = m->hidden_scoring = 0;
    m->have_stat = st && wsg_store_stat(st, &m->stat) == APR_SUCCESS;
    memset(&g, 0, sizeof(g));
    g.p = p;
    g.o = o;
    g.m = m;
    g.all = apr_array_make(p, 64, sizeof(wsg_status_row_t *));
    g.pfx = apr_hash_make(p);
    if (!st)
        return APR_EINVAL;
    m->ranges = 0;
    if ((rv = wsg_store_iterate(st, collect, &g)) != APR_SUCCESS
        || (rv = wsg_store_range_iterate(st, collect_range, &g)) != APR_SUCCESS)
        return rv;
    m->paths_note = o->event_log ? read_recent(p, o->event_log, o->event_log_fd,
                                               o->tail ? o->tail : WSG_STATUS_TAIL, recent)
                                 : "paths are not kept in the state, and there is no event log "
                                   "file to read them from (WSGuardEventLog)";
    for (i = 0; i < g.all->nelts; i++) {
        wsg_status_row_t *row = APR_ARRAY_IDX(g.all, i, wsg_status_row_t *);
        char abuf[WSG_ADDR_STRLEN];
        recent_t *r = apr_hash_get(recent, wsg_addr_format(&row->key, abuf, sizeof(abuf)),
                                   APR_HASH_KEY_STRING);
        if (r) {
            memcpy(row->paths, r->paths, sizeof(row->paths));
            row->npaths = r->n;
            row->alert_path = r->alert_path;
            row->alert_time = r->alert_time;
        }
        if (!row->is_prefix) {
            wsg_addr_t pk;
            wsg_addr_prefix(&row->key, &pk);
            row->prefix = apr_hash_get(g.pfx, &pk, sizeof(pk));
        }
    }
    qsort(g.all->elts, (size_t)g.all->nelts, sizeof(wsg_status_row_t *), by_alert);
    for (i = 0; i < g.all->nelts; i++) {
        wsg_status_row_t *row = APR_ARRAY_IDX(g.all, i, wsg_status_row_t *);
        if (row->rec.flags & WSG_RF_SHELL_HIT)
            place(m, m->alert_rows, &m->hidden_alerts, row);
    }
    qsort(g.all->elts, (size_t)g.all->nelts, sizeof(wsg_status_row_t *), by_ban);
    for (i = 0; i < g.all->nelts; i++) {
        wsg_status_row_t *row = APR_ARRAY_IDX(g.all, i, wsg_status_row_t *);
        if (!row->listed && !row->is_prefix && row->banned)
            place(m, m->ban_rows, &m->hidden_bans, row);
    }
    qsort(g.all->elts, (size_t)g.all->nelts, sizeof(wsg_status_row_t *), by_score);
    for (i = 0; i < g.all->nelts; i++) {
        wsg_status_row_t *row = APR_ARRAY_IDX(g.all, i, wsg_status_row_t *);
        if (!row->listed && !row->is_prefix && !row->banned)
            place(m, m->scoring_rows, &m->hidden_scoring, row);
    }
    /* A prefix some listed client already shows stays in that row; one without a listed member
     * gets a row of its own when it is banned or scoring. Whatever it is, its members' rows
     * point at it only when it is banned or scoring (collect kept no other). */
    {
        apr_hash_t *shown = apr_hash_make(p);
        apr_array_header_t *secs[3] = { m->alert_rows, m->ban_rows, m->scoring_rows };
        for (int s = 0; s < 3; s++)
            for (i = 0; i < secs[s]->nelts; i++) {
                const wsg_status_row_t *row = APR_ARRAY_IDX(secs[s], i, wsg_status_row_t *);
                if (row->prefix)
                    apr_hash_set(shown, &row->prefix->key, sizeof(wsg_addr_t), "");
            }
        for (i = 0; i < g.all->nelts; i++) {
            wsg_status_row_t *row = APR_ARRAY_IDX(g.all, i, wsg_status_row_t *);
            if (!row->is_prefix || row->listed
                || apr_hash_get(shown, &row->key, sizeof(wsg_addr_t)))
                continue;
            if (row->banned)
                place(m, m->ban_rows, &m->hidden_bans, row);
            else if (row->score >= SCORING_MIN)
                place(m, m->scoring_rows, &m->hidden_scoring, row);
        }
        qsort(m->ban_rows->elts, (size_t)m->ban_rows->nelts, sizeof(wsg_status_row_t *), by_ban);
    }
    return APR_SUCCESS;
}

/* -- shared by both renderings ---------------------------------------------------------------- */

const char *wsg_status_reltime(apr_pool_t *p, apr_time_t t, apr_time_t now)
{
    apr_int64_t d;
    const char *amount;
    if (t <= 0)
        return "-";
    d = apr_time_sec(t > now ? t - now : now - t);
    if (d < 2 && t <= now)
        return "just now";
    if (d < 120)
        amount = apr_psprintf(p, "%" APR_INT64_T_FMT " s", d);
    else if (d < 2 * 3600)
        amount = apr_psprintf(p, "%" APR_INT64_T_FMT " min", d / 60);
    else if (d < 2 * 86400)
        amount = apr_psprintf(p, "%" APR_INT64_T_FMT " h", d / 3600);
    else
        amount = apr_psprintf(p, "%" APR_INT64_T_FMT " d", d / 86400);
    return t > now ? apr_pstrcat(p, "in ", amount, NULL) : apr_pstrcat(p, amount, " ago", NULL);
}

static const char *duration(apr_pool_t *p, apr_int64_t s)
{
    if (s < 120)
        return apr_psprintf(p, "%" APR_INT64_T_FMT " s", s);
    if (s < 2 * 3600)
        return apr_psprintf(p, "%" APR_INT64_T_FMT " min", s / 60);
    if (s < 2 * 86400)
        return apr_psprintf(p, "%" APR_INT64_T_FMT " h %" APR_INT64_T_FMT " min", s / 3600,
                            s / 60 % 60);
    return apr_psprintf(p, "%" APR_INT64_T_FMT " d %" APR_INT64_T_FMT " h", s / 86400,
                        s / 3600 % 24);
}

/* The rules behind a record, in words: distinct ids, newest first. */
typedef struct {
    unsigned    id;
    const char *tag, *msg;
} reason_t;

static unsigned reasons(const wsg_status_t *m, const wsg_rec_t *rec, reason_t *out)
{
    unsigned n = 0;
    for (int i = 0; i < WSG_REC_RULES; i++) {
        unsigned id = rec->rules[i], k;
        const wsg_rule_info_t *ri;
        if (!id)
            continue;
        for (k = 0; k < n && out[k].id != id; k++)
            ;
        if (k < n)
            continue;
        ri = m->ruleset ? wsg_ruleset_rule(m->ruleset, id) : NULL;
        out[n].id = id;
        out[n].tag = ri ? ri->tag : NULL;
        out[n].msg = ri ? ri->msg : NULL;
        n++;
    }
    return n;
}

static const char *tstr(apr_pool_t *p, apr_time_t t)
{
    char buf[WSG_EVENT_TIMESTR];
    return t > 0 ? apr_pstrdup(p, wsg_event_time_str(t, buf)) : NULL;
}

static const char *addr_str(apr_pool_t *p, const wsg_addr_t *a)
{
    char buf[WSG_ADDR_STRLEN];
    return apr_pstrdup(p, wsg_addr_format(a, buf, sizeof(buf)));
}

static const char *counter_names[WSG_MC_N] = {
    "inspected", "probes", "refused_ban", "refused_ratelimit", "refused_prefix",
    "refused_crowdsec", "bans", "shell_alerts", "store_errors",
};

static apr_uint64_t refused_total(const wsg_status_t *m)
{
    return m->counts.c[WSG_MC_REFUSED_BAN] + m->counts.c[WSG_MC_REFUSED_RATELIMIT]
           + m->counts.c[WSG_MC_REFUSED_PREFIX] + m->counts.c[WSG_MC_REFUSED_CROWDSEC];
}

/* -- JSON ------------------------------------------------------------------------------------- */

static json_t *jtime(apr_pool_t *p, apr_time_t t)
{
    const char *s = tstr(p, t);
    return s ? json_string(s) : json_null();
}

static json_t *row_json(apr_pool_t *p, const wsg_status_t *m, const wsg_status_row_t *row,
                        int with_prefix)
{
    json_t *o = json_object(), *rs = json_array(), *paths = json_array();
    reason_t r[WSG_REC_RULES];
    unsigned n = reasons(m, &row->rec, r);

    json_object_set_new(o, "address", json_string(addr_str(p, &row->key)));
    json_object_set_new(o, "kind", json_string(row->is_range ? "range" : row->is_prefix
                                                                        ? "prefix" : "address"));
    json_object_set_new(o, "score", json_real(row->score));
    json_object_set_new(o, "hits", json_integer(row->rec.hits));
    json_object_set_new(o, "first_seen", jtime(p, row->rec.first_seen));
    json_object_set_new(o, "last_seen", jtime(p, row->rec.last_seen));
    json_object_set_new(o, "banned", json_boolean(row->banned));
    json_object_set_new(o, "ban_until", row->banned ? jtime(p, row->rec.ban_until) : json_null());
    json_object_set_new(o, "ban_remaining_seconds", row->banned
                        ? json_integer(apr_time_sec(row->rec.ban_until - m->now)) : json_null());
    json_object_set_new(o, "ratelimited", json_boolean(row->ratelimited));
    json_object_set_new(o, "retry_after_seconds",
                        row->ratelimited ? json_integer(row->retry_after) : json_null());
    json_object_set_new(o, "origin", json_string(row->origin));
    json_object_set_new(o, "source", row->rec.source[0] ? json_string(row->rec.source)
                                                        : json_null());
    json_object_set_new(o, "detection_only", json_boolean(row->detect));
    json_object_set_new(o, "shell_hit", json_boolean(row->rec.flags & WSG_RF_SHELL_HIT));
    json_object_set_new(o, "alert_path", row->alert_path ? json_string(row->alert_path)
                                                         : json_null());
    json_object_set_new(o, "alert_time", jtime(p, row->alert_time));
    for (unsigned i = 0; i < n; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "id", json_integer(r[i].id));
        json_object_set_new(x, "tag", r[i].tag ? json_string(r[i].tag) : json_null());
        json_object_set_new(x, "msg", r[i].msg ? json_string(r[i].msg) : json_null());
        json_array_append_new(rs, x);
    }
    json_object_set_new(o, "reasons", rs);
    for (unsigned i = 0; i < row->npaths; i++)
        json_array_append_new(paths, json_string(row->paths[i]));
    json_object_set_new(o, "first_paths", paths);
    if (row->is_range)
        ;                                    /* every address inside: no members counted */
    else if (row->is_prefix)
        json_object_set_new(o, "members", json_integer(row->rec.members));
    else if (with_prefix)
        json_object_set_new(o, "prefix", row->prefix ? row_json(p, m, row->prefix, 0)
                                                     : json_null());
    return o;
}

static json_t *rows_json(apr_pool_t *p, const wsg_status_t *m, const apr_array_header_t *a)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->nelts; i++)
        json_array_append_new(arr, row_json(p, m, APR_ARRAY_IDX(a, i, wsg_status_row_t *), 1));
    return arr;
}

char *wsg_status_json(apr_pool_t *p, const wsg_status_t *m)
{
    json_t *o = json_object(), *tot = json_object(), *store = json_object(), *hid = json_object();
    char *text, *out;

    json_object_set_new(o, "version", json_string(m->version ? m->version : ""));
    json_object_set_new(o, "server", m->server ? json_string(m->server) : json_null());
    json_object_set_new(o, "mode", json_string(m->mode ? m->mode : ""));
    json_object_set_new(o, "now", jtime(p, m->now));
    json_object_set_new(o, "started", jtime(p, m->started));
    json_object_set_new(o, "uptime_seconds", m->started
                        ? json_integer(apr_time_sec(m->now - m->started)) : json_null());
    json_object_set_new(o, "rules", json_integer(m->rules));
    if (m->have_counts) {
        json_t *tags = json_object(), *ref = json_object();
        for (int k = 0; k < WSG_MC_N; k++)
            json_object_set_new(tot, counter_names[k], json_integer((json_int_t)m->counts.c[k]));
        json_object_set_new(tot, "refused", json_integer((json_int_t)refused_total(m)));
        json_object_set_new(ref, "ban", json_integer((json_int_t)m->counts.c[WSG_MC_REFUSED_BAN]));
        json_object_set_new(ref, "ratelimit",
                            json_integer((json_int_t)m->counts.c[WSG_MC_REFUSED_RATELIMIT]));
        json_object_set_new(ref, "prefix",
                            json_integer((json_int_t)m->counts.c[WSG_MC_REFUSED_PREFIX]));
        json_object_set_new(ref, "crowdsec",
                            json_integer((json_int_t)m->counts.c[WSG_MC_REFUSED_CROWDSEC]));
        json_object_set_new(tot, "refused_by_reason", ref);
        for (int i = 0; i < WSG_MT_N; i++) {
            const char *name = wsg_metrics_tag_name(m->metrics, i);
            if (name && m->counts.tag[i])
                json_object_set_new(tags, name, json_integer((json_int_t)m->counts.tag[i]));
        }
        json_object_set_new(tot, "probes_by_tag", tags);
        json_object_set_new(tot, "since", jtime(p, m->counts_since));
        json_object_set_new(o, "totals", tot);
    }
    else {
        json_decref(tot);
        json_object_set_new(o, "totals", json_null());
    }
    json_object_set_new(store, "records", json_integer(m->records));
    json_object_set_new(store, "addresses", json_integer(m->addresses));
    json_object_set_new(store, "prefixes", json_integer(m->prefixes));
    json_object_set_new(store, "banned", json_integer(m->banned));
    json_object_set_new(store, "range_bans", json_integer(m->ranges));
    json_object_set_new(store, "shell_alerts", json_integer(m->alerts));
    json_object_set_new(store, "ratelimited", json_integer(m->ratelimited));
    if (m->have_stat) {
        json_object_set_new(store, "capacity", json_integer((json_int_t)m->stat.capacity));
        json_object_set_new(store, "map_size", json_integer((json_int_t)m->stat.map_size));
        json_object_set_new(store, "map_used", json_integer((json_int_t)m->stat.map_used));
        json_object_set_new(store, "evicted", json_integer((json_int_t)m->stat.evicted));
    }
    json_object_set_new(o, "store", store);
    json_object_set_new(o, "alerts", rows_json(p, m, m->alert_rows));
    json_object_set_new(o, "bans", rows_json(p, m, m->ban_rows));
    json_object_set_new(o, "scoring", rows_json(p, m, m->scoring_rows));
    json_object_set_new(hid, "limit", json_integer(m->limit));
    json_object_set_new(hid, "alerts", json_integer(m->hidden_alerts));
    json_object_set_new(hid, "bans", json_integer(m->hidden_bans));
    json_object_set_new(hid, "scoring", json_integer(m->hidden_scoring));
    json_object_set_new(o, "not_shown", hid);
    json_object_set_new(o, "paths_note", json_string(m->paths_note ? m->paths_note : ""));
    text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(o);
    out = apr_pstrcat(p, text ? text : "{}", "\n", NULL);
    free(text);
    return out;
}

/* -- HTML ------------------------------------------------------------------------------------- */

/* Text for HTML: & < > " ' escaped (attributes and content alike). */
static const char *esc(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    char *o, *q;
    if (!s)
        return "";
    for (const char *c = s; *c; c++)
        n += (*c == '&' || *c == '<' || *c == '>' || *c == '"' || *c == '\'') ? 6 : 1;
    o = q = apr_palloc(p, n + 1);
    for (; *s; s++) {
        switch (*s) {
        case '&': memcpy(q, "&amp;", 5); q += 5; break;
        case '<': memcpy(q, "&lt;", 4); q += 4; break;
        case '>': memcpy(q, "&gt;", 4); q += 4; break;
        case '"': memcpy(q, "&quot;", 6); q += 6; break;
        case '\'': memcpy(q, "&#39;", 5); q += 5; break;
        default: *q++ = *s;
        }
    }
    *q = '\0';
    return o;
}

/* A relative time with the exact one on hover, machine-readable in datetime. */
static const char *htime(apr_pool_t *p, apr_time_t t, apr_time_t now)
{
    const char *iso = tstr(p, t);
    if (!iso)
        return "-";
    return apr_psprintf(p, "<time datetime=\"%s\" title=\"%s\">%s</time>", iso, iso,
                        esc(p, wsg_status_reltime(p, t, now)));
}

static const char *reasons_html(apr_pool_t *p, const wsg_status_t *m, const wsg_rec_t *rec)
{
    reason_t r[WSG_REC_RULES];
    unsigned n = reasons(m, rec, r);
    const char *s = "";
    if (!n)
        return "<span class=\"dim\">no rule: missing scripts asked for</span>";
    for (unsigned i = 0; i < n; i++) {
        const char *one = r[i].msg
            ? apr_psprintf(p, "<li><span class=\"msg\">%s</span>%s</li>", esc(p, r[i].msg),
                           r[i].tag ? apr_psprintf(p, " <span class=\"tag\">%s</span>",
                                                   esc(p, r[i].tag)) : "")
            : apr_psprintf(p, "<li>rule %u <span class=\"dim\">(not in the rules in force)</span>"
                           "</li>", r[i].id);
        s = apr_pstrcat(p, s, one, NULL);
    }
    return apr_pstrcat(p, "<ul class=\"reasons\">", s, "</ul>", NULL);
}

static const char *paths_html(apr_pool_t *p, const wsg_status_row_t *row)
{
    const char *s = "";
    if (!row->npaths)
        return "<span class=\"dim\">-</span>";
    for (unsigned i = 0; i < row->npaths; i++)
        s = apr_pstrcat(p, s, "<li><code>", esc(p, row->paths[i]), "</code></li>", NULL);
    return apr_pstrcat(p, "<ul class=\"paths\">", s, "</ul>", NULL);
}

static const char *origin_html(apr_pool_t *p, const wsg_status_row_t *row)
{
    const char *s = apr_psprintf(p, "<span class=\"origin %s\">%s</span>", row->origin,
                                 row->origin);
    if (row->rec.source[0] && strcmp(row->origin, "local") && strcmp(row->origin, "manual"))
        s = apr_pstrcat(p, s, " <span class=\"dim\">(", esc(p, row->rec.source), ")</span>",
                        NULL);
    if (row->detect)
        s = apr_pstrcat(p, s, " <span class=\"detect\">detection only, not enforced</span>",
                        NULL);
    return s;
}

static const char *state_html(apr_pool_t *p, const wsg_status_t *m, const wsg_status_row_t *row)
{
    if (row->banned)
        return apr_psprintf(p, "<span class=\"state ban\">banned</span>, %s left "
                            "<span class=\"dim\">(until %s)</span>",
                            duration(p, apr_time_sec(row->rec.ban_until - m->now)),
                            htime(p, row->rec.ban_until, m->now));
    if (row->ratelimited)
        return apr_psprintf(p, "<span class=\"state rl\">rate-limited</span>, retry in %s",
                            duration(p, row->retry_after));
    return "<span class=\"state\">scoring</span>";
}

static const char *prefix_html(apr_pool_t *p, const wsg_status_t *m, const wsg_status_row_t *row)
{
    const wsg_status_row_t *x = row->prefix;
    if (row->is_range)
        return "<span class=\"dim\">a range ban: every address inside</span>";
    if (row->is_prefix)
        return apr_psprintf(p, "<span class=\"dim\">%u member%s seen</span>", row->rec.members,
                            row->rec.members == 1 ? "" : "s");
    if (!x)
        return "<span class=\"dim\">-</span>";
    return apr_psprintf(p, "<code>%s</code> score %.1f%s", addr_str(p, &x->key), x->score,
                        x->banned ? apr_psprintf(p, ", <span class=\"state ban\">banned</span> "
                                                 "%s left", duration(p, apr_time_sec(
                                                     x->rec.ban_until - m->now)))
                                  : "");
}

static void section(wsg_buf_t *h, const wsg_status_t *m, const char *id, const char *title,
                    const apr_array_header_t *rows, unsigned hidden, const char *empty,
                    int alerts)
{
    apr_pool_t *p = h->p;

    wsg_buf_put(h, apr_psprintf(p, "<section id=\"%s\"><h2>%s <span class=\"count\">(%u)</span></h2>\n",
                         id, title, (unsigned)rows->nelts + hidden));
    if (!rows->nelts) {
        wsg_buf_put(h, apr_psprintf(p, "<p class=\"dim\">%s</p></section>\n", empty));
        return;
    }
    wsg_buf_put(h, "<table><thead><tr><th>client</th>");
    if (alerts)
        wsg_buf_put(h, "<th>path that answered 2xx</th><th>when</th>");
    wsg_buf_put(h, "<th>state</th><th>origin</th><th>score</th><th>why (rules)</th>"
            "<th>first probed paths</th><th>last seen</th><th>its prefix</th></tr></thead>"
            "<tbody>\n");
    for (int i = 0; i < rows->nelts; i++) {
        const wsg_status_row_t *row = APR_ARRAY_IDX(rows, i, wsg_status_row_t *);
        const char *a = addr_str(p, &row->key);
        wsg_buf_put(h, apr_psprintf(p, "<tr class=\"client%s\" data-client=\"%s\"><td><code>%s</code>"
                             "%s</td>", alerts ? " alert" : "", esc(p, a), esc(p, a),
                             row->is_range ? " <span class=\"dim\">(range)</span>"
                             : row->is_prefix ? " <span class=\"dim\">(prefix)</span>" : ""));
        if (alerts)
            wsg_buf_put(h, apr_psprintf(p, "<td class=\"path\">%s</td><td>%s</td>",
                                 row->alert_path ? apr_pstrcat(p, "<code>",
                                                               esc(p, row->alert_path),
                                                               "</code>", NULL)
                                                 : "<span class=\"dim\">not in the event log's "
                                                   "tail</span>",
                                 htime(p, row->alert_time ? row->alert_time : row->rec.last_seen,
                                       m->now)));
        wsg_buf_put(h, apr_psprintf(p, "<td>%s</td><td>%s</td><td>%.1f <span class=\"dim\">(%u hit%s)"
                             "</span></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                             state_html(p, m, row), origin_html(p, row), row->score,
                             row->rec.hits, row->rec.hits == 1 ? "" : "s",
                             reasons_html(p, m, &row->rec), paths_html(p, row),
                             htime(p, row->rec.last_seen, m->now), prefix_html(p, m, row)));
    }
    wsg_buf_put(h, "</tbody></table>\n");
    if (hidden)
        wsg_buf_put(h, apr_psprintf(p, "<p class=\"more\">%u more not shown (limit %u per section): "
                             "<a href=\"?limit=%u\">show up to %u</a>, or <a href=\"?json&amp;"
                             "limit=%u\">all as JSON</a>.</p>\n", hidden, m->limit,
                             m->limit * 4 > WSG_STATUS_LIMIT_MAX ? WSG_STATUS_LIMIT_MAX
                                                                 : m->limit * 4,
                             m->limit * 4 > WSG_STATUS_LIMIT_MAX ? WSG_STATUS_LIMIT_MAX
                                                                 : m->limit * 4,
                             WSG_STATUS_LIMIT_MAX));
    wsg_buf_put(h, "</section>\n");
}

static const char *num(apr_pool_t *p, apr_uint64_t v)
{
    return apr_psprintf(p, "%" APR_UINT64_T_FMT, v);
}

char *wsg_status_html(apr_pool_t *p, const wsg_status_t *m, int refresh)
{
    wsg_buf_t h = { p, NULL, 0, 0 };
    const char *na = "<span class=\"dim\">n/a</span>";

    wsg_buf_put(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if (refresh > 0)
        wsg_buf_put(&h, apr_psprintf(p, "<meta http-equiv=\"refresh\" content=\"%d\">", refresh));
    wsg_buf_put(&h, apr_psprintf(p, "<title>mod_wsguard status%s%s</title>", m->server ? " - " : "",
                          esc(p, m->server)));
    wsg_buf_put(&h, "<style>"
             "body{font-family:sans-serif;margin:1em 2em;color:#222}"
             "h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.4em}"
             "table{border-collapse:collapse;width:100%}"
             "th,td{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #ddd}"
             "th{background:#f0f0f0}ul{margin:0;padding-left:1.1em}code{font-size:.95em}"
             ".dim{color:#777}.tag{background:#eef;border-radius:3px;padding:0 4px;font-size:.85em}"
             ".state.ban{color:#a00;font-weight:bold}.state.rl{color:#b60;font-weight:bold}"
             ".detect{background:#ffd;padding:0 3px}tr.alert td{background:#fee}"
             "#alerts h2{color:#a00}dl.hdr{display:grid;grid-template-columns:max-content auto;"
             "gap:2px 14px;margin:0}dl.hdr dt{font-weight:bold}dl.hdr dd{margin:0}"
             ".banner{background:#fcc;border:1px solid #a00;padding:6px 10px;font-weight:bold}"
             "</style></head><body>\n");
    wsg_buf_put(&h, apr_psprintf(p, "<header><h1>mod_wsguard status%s%s</h1>\n<dl class=\"hdr\">",
                          m->server ? " &mdash; " : "", esc(p, m->server)));
    wsg_buf_put(&h, apr_psprintf(p, "<dt>version</dt><dd id=\"version\">%s</dd>", esc(p, m->version)));
    wsg_buf_put(&h, apr_psprintf(p, "<dt>engine</dt><dd id=\"mode\">%s</dd>", esc(p, m->mode)));
    wsg_buf_put(&h, apr_psprintf(p, "<dt>uptime</dt><dd id=\"uptime\">%s</dd>",
                          m->started ? apr_psprintf(p, "%s <span class=\"dim\">(since %s)</span>",
                                                    duration(p, apr_time_sec(m->now - m->started)),
                                                    tstr(p, m->started)) : na));
    wsg_buf_put(&h, apr_psprintf(p, "<dt>rules in force</dt><dd id=\"rules\">%u</dd>", m->rules));
    if (m->have_counts)
        wsg_buf_put(&h, apr_psprintf(p, "<dt>totals</dt><dd id=\"totals\"><span id=\"t-inspected\">%s"
                              "</span> inspected, <span id=\"t-probes\">%s</span> probes, "
                              "<span id=\"t-refused\">%s</span> refused (%s banned, %s "
                              "rate-limited, %s by prefix, %s CrowdSec), <span id=\"t-bans\">%s"
                              "</span> bans started, <span id=\"t-alerts\">%s</span> alerts, %s "
                              "store errors <span class=\"dim\">(counted since %s)</span></dd>",
                              num(p, m->counts.c[WSG_MC_INSPECTED]),
                              num(p, m->counts.c[WSG_MC_PROBES]), num(p, refused_total(m)),
                              num(p, m->counts.c[WSG_MC_REFUSED_BAN]),
                              num(p, m->counts.c[WSG_MC_REFUSED_RATELIMIT]),
                              num(p, m->counts.c[WSG_MC_REFUSED_PREFIX]),
                              num(p, m->counts.c[WSG_MC_REFUSED_CROWDSEC]),
                              num(p, m->counts.c[WSG_MC_BANS]), num(p, m->counts.c[WSG_MC_ALERTS]),
                              num(p, m->counts.c[WSG_MC_STORE_ERRORS]),
                              esc(p, tstr(p, m->counts_since) ? tstr(p, m->counts_since) : "-")));
    else
        wsg_buf_put(&h, apr_psprintf(p, "<dt>totals</dt><dd id=\"totals\">%s</dd>", na));
    wsg_buf_put(&h, apr_psprintf(p, "<dt>store</dt><dd id=\"store\">%u records (%u addresses, %u "
                          "prefixes), %u banned, %u with an alert, %u range ban%s",
                          m->records, m->addresses, m->prefixes, m->banned, m->alerts, m->ranges,
                          m->ranges == 1 ? "" : "s"));
    if (m->have_stat)
        wsg_buf_put(&h, apr_psprintf(p, "; capacity %" APR_SIZE_T_FMT " records, map %.1f%% used (%"
                              APR_SIZE_T_FMT " of %" APR_SIZE_T_FMT " KiB), %" APR_UINT64_T_FMT
                              " evicted", m->stat.capacity,
                              m->stat.map_size ? 100.0 * (double)m->stat.map_used
                                                 / (double)m->stat.map_size : 0.0,
                              m->stat.map_used / 1024, m->stat.map_size / 1024, m->stat.evicted));
    wsg_buf_put(&h, "</dd></dl>\n");
    wsg_buf_put(&h, apr_psprintf(p, "<p class=\"dim\">As of %s. <a href=\"?json\">JSON</a> &middot; "
                          "<a href=\"?metrics\">metrics</a> &middot; <a href=\"?refresh=10\">"
                          "refresh every 10 s</a></p></header>\n<main>\n", tstr(p, m->now)));
    if (m->alerts)
        wsg_buf_put(&h, apr_psprintf(p, "<p class=\"banner\" id=\"alert-banner\">%u client%s got a 2xx "
                              "answer to a web-shell probe: a web shell may be present. Check "
                              "the paths below on disk.</p>\n", m->alerts,
                              m->alerts == 1 ? "" : "s"));
    section(&h, m, "alerts", "Alerts: a probe answered 2xx", m->alert_rows, m->hidden_alerts,
            "No probe got a 2xx answer.", 1);
    section(&h, m, "bans", "Bans in force", m->ban_rows, m->hidden_bans, "No ban in force.", 0);
    section(&h, m, "scoring", "Clients scoring (not banned)", m->scoring_rows, m->hidden_scoring,
            "No other client is scoring.", 0);
    wsg_buf_put(&h, apr_psprintf(p, "</main>\n<footer><p class=\"dim\" id=\"paths-note\">First probed "
                          "paths: %s.</p></footer>\n</body></html>\n", esc(p, m->paths_note)));
    return h.b;
}
