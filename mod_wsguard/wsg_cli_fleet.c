/* wsg_cli_fleet: what wsguardctl knows of the fleet. Each ban's origin (list, show), the CrowdSec
 * sync's state (stats), and the unban that goes to the LAPI: `wsguardctl unban` marks the record
 * (WSG_RF_UNBANNED, kept with the unban time) and queues an UNBAN item in the server's outbox
 * (STATEDIR/outbox.mdb), which the module's sync task sends as a decision delete. The CLI never
 * talks to the LAPI itself: an unban works with the LAPI down, and only httpd holds the
 * machine's credentials. Kept apart from wsg_cli_admin.c, which calls these. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <jansson.h>
#include "wsg_cli.h"
#include "wsg_export.h"
#include "wsg_outbox.h"
#include "wsg_sync.h"
#include "wsg_util.h"

apr_time_t wsg_cli_rec_seen(const wsg_rec_t *rec)
{
    apr_time_t t = rec->last_seen;
    /* a ban set by hand or pulled has no scored request: when it was set is its evidence */
    if (rec->score_time > t)
        t = rec->score_time;
    if (rec->first_seen > t)
        t = rec->first_seen;
    return t;
}

const char *wsg_cli_origin(const wsg_rec_t *rec, apr_time_t now)
{
    return wsg_sync_rec_origin(rec, now);
}

const char *wsg_cli_origin_text(apr_pool_t *p, const wsg_rec_t *rec, apr_time_t now)
{
    const char *o = wsg_cli_origin(rec, now);
    if (!o)
        return (rec->flags & WSG_RF_UNBANNED) ? "unbanned" : "-";
    if (!strcmp(o, "crowdsec")) {
        /* the LAPI's origin and who (cscli's machine) or what (a peer's scenario) */
        apr_size_t n = strnlen(rec->source, sizeof(rec->source));
        return apr_pstrcat(p, "crowdsec:", wsg_escape_ctl(p, rec->source, n, 0, WSG_ESC_BACKSLASH),
                           NULL);
    }
    return o;
}

void wsg_cli_mark_unbanned(wsg_rec_t *r, apr_time_t now)
{
    /* the unban time rides in ban_until (in the past from now on: no ban): what an import
     * compares a peer's evidence with, and what keeps the record from the purge for a while */
    r->ban_until = now;
    r->flags = (r->flags & ~(apr_uint32_t)(WSG_RF_MANUAL | WSG_RF_IMPORTED | WSG_RF_DETECT
                                          | WSG_RF_CROWDSEC)) | WSG_RF_UNBANNED;
    memset(r->source, 0, sizeof(r->source));
}

/* The server's outbox, when it has one (WSGuardCrowdSec made it): NULL and *why set when not.
 * Opened by the CLI after wsg_cli_store switched to the state's owner, and only when it is a
 * regular file of that owner with one link (a name planted in the directory is not followed). */
static wsg_outbox_t *open_outbox(wsg_cli_t *cli, const char **why)
{
    const char *path = apr_pstrcat(cli->pool, cli->state_dir, "/" WSG_OUTBOX_FILE, NULL), *err = NULL;
    struct stat sb, dsb;
    wsg_outbox_t *ob;

    *why = NULL;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT)
            *why = apr_psprintf(cli->pool, "cannot read %s: %s", path, strerror(errno));
        return NULL;                 /* no CrowdSec sync on this server: nothing to say */
    }
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 || stat(cli->state_dir, &dsb) != 0
        || sb.st_uid != dsb.st_uid) {
        *why = apr_psprintf(cli->pool, "%s is not a regular file of the state's owner: "
                            "refusing it", path);
        return NULL;
    }
    if (wsg_outbox_open(cli->pool, path, 0, &ob, &err) != APR_SUCCESS) {
        *why = err;
        return NULL;
    }
    return ob;
}

int wsg_cli_queue_unbans(wsg_cli_t *cli, wsg_store_t *st, const apr_array_header_t *keys,
                         apr_time_t now)
{
    const char *why = NULL;
    wsg_outbox_t *ob = open_outbox(cli, &why);
    int i, n = 0;

    if (!ob) {
        if (why)
            fprintf(cli->err, "wsguardctl unban: the unban stays local, the CrowdSec LAPI is not "
                              "told: %s\n", why);
        return why ? -1 : 0;
    }
    for (i = 0; i < keys->nelts; i++) {
        const wsg_addr_t *k = &APR_ARRAY_IDX(keys, i, wsg_addr_t);
        wsg_rec_t rec;
        wsg_outbox_item_t it;
        apr_status_t rv;
        /* the records this unban wrote (a wide CIDR is mostly keys nobody banned); the store
         * keeps ban ends in milliseconds */
        if (st && (wsg_store_get(st, k, &rec) != APR_SUCCESS || !(rec.flags & WSG_RF_UNBANNED)
                   || rec.ban_until > now || rec.ban_until < now - apr_time_from_msec(2)))
            continue;
        wsg_outbox_unban_item(&it, k, now);
        if ((rv = wsg_outbox_put(ob, &it)) != APR_SUCCESS) {
            fprintf(cli->err, "wsguardctl unban: queueing the LAPI's delete failed after %d: %s\n",
                    n, wsg_outbox_strerror(rv));
            return -1;
        }
        n++;
    }
    if (n)
        fprintf(cli->out, "queued for the CrowdSec LAPI: the server's sync deletes %s there "
                          "(%d item%s; 'wsguardctl stats' shows the backlog; a server without "
                          "machine= cannot, and says so in its error log)\n",
                n == 1 ? "its decision" : "their decisions", n, n == 1 ? "" : "s");
    return n;
}

/* ---- stats: the sync's state ---- */

static const char *when(apr_pool_t *p, apr_time_t t)
{
    char buf[32];
    return t ? apr_pstrdup(p, wsg_export_iso8601(t, buf, sizeof(buf))) : NULL;
}

int wsg_cli_sync_stats(wsg_cli_t *cli, void *json_obj)
{
    json_t *o = json_obj;
    const char *why = NULL;
    wsg_outbox_t *ob = open_outbox(cli, &why);
    wsg_sync_state_t s;
    apr_size_t backlog = 0;
    apr_pool_t *p = cli->pool;
    apr_status_t rv;

    if (!ob) {
        if (o)
            json_object_set_new(o, "crowdsec", why ? json_pack("{s:s}", "error", why) : json_null());
        else
            fprintf(cli->out, "crowdsec sync      %s\n", why ? why : "not configured (no outbox: "
                                                               "WSGuardCrowdSec is not set)");
        return why ? 1 : 0;
    }
    if ((rv = wsg_sync_state_read(ob, &s)) != APR_SUCCESS
        || (rv = wsg_outbox_count(ob, &backlog)) != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl stats: reading the CrowdSec outbox failed: %s\n",
                wsg_outbox_strerror(rv));
        return 1;
    }
    if (o) {
        json_object_set_new(o, "crowdsec", json_pack(
            "{s:s?, s:s?, s:s?, s:I, s:I, s:I, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I}",
            "last_push", when(p, s.last_push), "last_pull", when(p, s.last_pull),
            "last_full_pull", when(p, s.last_resync), "backlog", (json_int_t)backlog,
            "push_failures", (json_int_t)s.push_failures,
            "pull_failures", (json_int_t)s.pull_failures,
            "push_error", s.push_err[0] ? s.push_err : NULL,
            "pull_error", s.pull_err[0] ? s.pull_err : NULL,
            "pushed", (json_int_t)s.pushed, "unbans_sent", (json_int_t)s.deleted,
            "dropped", (json_int_t)s.dropped, "pulled_new", (json_int_t)s.pulled_new,
            "pulled_deleted", (json_int_t)s.pulled_deleted));
        return 0;
    }
    s.push_err[sizeof(s.push_err) - 1] = s.pull_err[sizeof(s.pull_err) - 1] = '\0';
    fprintf(cli->out,
            "crowdsec push      %s, last %s (%" APR_UINT64_T_FMT " bans pushed, %" APR_UINT64_T_FMT
            " unbans sent, %" APR_UINT64_T_FMT " dropped)%s%s\n"
            "crowdsec pull      %s, last %s, last full %s (%" APR_UINT64_T_FMT " new, %"
            APR_UINT64_T_FMT " deleted)%s%s\n"
            "crowdsec backlog   %" APR_SIZE_T_FMT " item%s waiting in the outbox\n",
            s.push_failures ? apr_psprintf(p, "FAILING (%u in a row)", s.push_failures) : "ok",
            s.last_push ? when(p, s.last_push) : "never", s.pushed, s.deleted, s.dropped,
            s.push_err[0] ? ": " : "", wsg_escape_ctl(p, s.push_err, strlen(s.push_err), 0,
                                                       WSG_ESC_BACKSLASH),
            s.pull_failures ? apr_psprintf(p, "FAILING (%u in a row)", s.pull_failures) : "ok",
            s.last_pull ? when(p, s.last_pull) : "never",
            s.last_resync ? when(p, s.last_resync) : "never", s.pulled_new, s.pulled_deleted,
            s.pull_err[0] ? ": " : "", wsg_escape_ctl(p, s.pull_err, strlen(s.pull_err), 0,
                                                       WSG_ESC_BACKSLASH),
            backlog, backlog == 1 ? "" : "s");
    return 0;
}
