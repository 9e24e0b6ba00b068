/* mod_wsguard_crawler: the httpd side of crawler verification (wsg_crawler.c has the table, the
 * verdicts and the DNS check).
 *
 * The request path only claims and queues: for a request that scores (never a clean one) the
 * User-Agent is looked at for a crawler's token; the write transaction (wsg_inspect) holds its
 * score while a check is pending and marks the record; the address is then appended to a small
 * queue file in the state directory (one write of 24 bytes, O_APPEND, capped in size). A
 * mod_watchdog singleton task, running whether or not WSGuardCrowdSec is configured, takes the
 * queue every second, checks each address by forward-confirmed reverse DNS against the resolver
 * (WSGuardResolver, or the system's first nameserver), and writes the verdict into the record.
 * So the network is never on the request path, one process in the server does the lookups, and
 * the verdict is shared by every child through the LMDB state.
 *
 * Losing a queued address is harmless by design: its record stays pending, the hold ends after
 * WSG_CRAWLER_HOLD seconds, and the client is scored as anyone until a retry is due. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "mod_watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <apr_atomic.h>

#include "wsg_crawler.h"
#include "wsg_store.h"
#include "mod_wsguard.h"
#include "mod_wsguard_crawler.h"

APLOG_USE_MODULE(wsguard);

#define CW_WATCHDOG     "_wsguard_crawler"
#define CW_INTERVAL     apr_time_from_sec(1)
#define CW_QUEUE_FILE   "crawler.queue"
#define CW_QUEUE_MAX    (64 * 1024)            /* bytes: about 2,700 addresses */
#define CW_BATCH        64                     /* addresses taken per tick */
#define CW_TICK_BUDGET  apr_time_from_sec(4)   /* new lookups per tick; the rest waits (a
                                                * stopping child waits for one tick) */
#define CW_RESOLV_CONF  "/etc/resolv.conf"
#define CW_STATE_DEFAULT "/var/lib/apache2/wsguard"   /* as mod_wsguard.c's WSGuardStateDir */

/* This generation's settings and task, hung on wsg_gen_t (fresh with each generation). */
typedef struct cw_t {
    int             check;                  /* -1 unset (On), 0 Off, 1 On */
    const char     *resolver_spec;          /* NULL: the system resolver */
    apr_sockaddr_t *resolver;
    const char     *queue_path;             /* set by post_config when the task runs */
    server_rec     *s;
    int             resolver_state;         /* task: 0 not said, 1 works, 2 failing (said) */
    volatile apr_uint32_t warned_queue;     /* per child: a queue write failed (said once) */
} cw_t;

/* One queued address (the file's record: fixed size, written whole by one write()). */
typedef struct cw_item_t {
    wsg_addr_t   addr;
    apr_uint32_t crawler;
} cw_item_t;

static cw_t *cw_of(wsg_gen_t *G, apr_pool_t *p)
{
    cw_t *c = G->crawler;
    if (!c && p) {
        c = apr_pcalloc(p, sizeof(*c));
        c->check = -1;
        G->crawler = c;
    }
    return c;
}

/* ---- the directives ---- */

const char *wsg_crawler_set_check(cmd_parms *cmd, void *dconf, int on)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    wsg_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &wsguard_module);

    if (err)
        return err;
    cw_of(sc->gen, cmd->pool)->check = on ? 1 : 0;
    return NULL;
}

const char *wsg_crawler_set_resolver(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    wsg_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &wsguard_module);
    cw_t *c;

    if (err)
        return err;
    c = cw_of(sc->gen, cmd->pool);
    if (!strcasecmp(arg, "system")) {
        c->resolver_spec = NULL;
        c->resolver = NULL;
        return NULL;
    }
    if (wsg_resolver_parse(arg, cmd->pool, &c->resolver, &err) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: '%s': %s (give ADDR, ADDR:PORT, [IPv6]:PORT or "
                            "'system', e.g. 127.0.0.1:53)", cmd->cmd->name, arg, err);
    c->resolver_spec = arg;
    return NULL;
}

/* ---- the request path ---- */

int wsg_crawler_glue_claim(request_rec *r)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    cw_t *c = sc->gen->crawler;

    if (!c || !c->queue_path)
        return 0;                  /* Off, or the task is not running: nothing would check */
    return wsg_crawler_claim(apr_table_get(r->headers_in, "User-Agent"));
}

void wsg_crawler_glue_queue(request_rec *r, const wsg_addr_t *addr, int crawler)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    cw_t *c = sc->gen->crawler;
    cw_item_t it;
    struct stat sb;
    int fd, e = 0;

    if (!c || !c->queue_path)
        return;
    memset(&it, 0, sizeof(it));
    it.addr = *addr;
    it.crawler = (apr_uint32_t)crawler;
    /* The state directory is the children's user's alone (wsg_store's checks): no one else can
     * plant a link there; O_NOFOLLOW all the same. */
    fd = open(c->queue_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        e = errno;
    else {
        /* A queue nobody takes (the task stopped) stops growing: the hold ends by itself. */
        if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < CW_QUEUE_MAX
            && write(fd, &it, sizeof(it)) != (ssize_t)sizeof(it))
            e = errno ? errno : EIO;
        close(fd);
    }
    if (e && apr_atomic_cas32(&c->warned_queue, 1, 0) == 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(e), r, APLOGNO(19573)
                      "crawler check: cannot queue an address in %s; claimed crawlers are "
                      "scored as anyone after %ds (logged once per child)", c->queue_path,
                      WSG_CRAWLER_HOLD);
}

/* ---- the task ---- */

typedef struct {
    wsg_crawler_v_e v;
    apr_time_t      now;
    int             changed;
} cw_write_t;

static int resolved_cb(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    cw_write_t *w = baton;
    (void)n;
    w->changed = found[0] && wsg_crawler_resolved(&recs[0], w->v, w->now);
    return w->changed ? 1 : -1;
}

/* Re-queues what a tick could not do (its budget ran out), so nothing taken is dropped. */
static void requeue(cw_t *c, const cw_item_t *items, int n)
{
    int fd = open(c->queue_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write(fd, items, sizeof(*items) * (size_t)n) < 0) {
        /* the hold ends by itself: nothing more to do */
    }
    close(fd);
}

/* Takes the queue: renames it aside (appends from now on start a new file) and reads up to
 * CW_BATCH distinct addresses; what is beyond goes back. Returns the count. */
static int take_queue(cw_t *c, apr_pool_t *p, cw_item_t *items)
{
    const char *work = apr_pstrcat(p, c->queue_path, ".work", NULL);
    cw_item_t it;
    int fd, n = 0, i, more = 0;
    cw_item_t *rest = NULL;
    int nrest = 0;

    /* a .work left by a stopped task is taken first */
    if (access(work, F_OK) != 0 && rename(c->queue_path, work) != 0)
        return 0;
    fd = open(work, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    while (read(fd, &it, sizeof(it)) == (ssize_t)sizeof(it)) {
        if ((it.addr.family != 4 && it.addr.family != 6) || !wsg_crawler_get((int)it.crawler))
            continue;
        for (i = 0; i < n; i++)
            if (!memcmp(&items[i].addr, &it.addr, sizeof(it.addr)))
                break;
        if (i < n)
            continue;
        if (n < CW_BATCH) {
            items[n++] = it;
            continue;
        }
        if (!rest)
            rest = apr_palloc(p, sizeof(*rest) * (CW_QUEUE_MAX / sizeof(*rest) + 1));
        if (nrest < (int)(CW_QUEUE_MAX / sizeof(*rest)))
            rest[nrest++] = it;
        more = 1;
    }
    close(fd);
    unlink(work);
    if (more)
        requeue(c, rest, nrest);
    return n;
}

static const char *verdict_name(wsg_crawler_v_e v)
{
    return v == WSG_CRAWLER_V_OK ? "verified" : v == WSG_CRAWLER_V_FAKE ? "fake" : "not checked";
}

static apr_status_t cw_tick(int state, void *data, apr_pool_t *pool)
{
    cw_t *c = data;
    wsg_srv_conf_t *sc = ap_get_module_config(c->s->module_config, &wsguard_module);
    wsg_store_t *st = sc->gen ? sc->gen->store : NULL;
    cw_item_t items[CW_BATCH];
    wsg_resolver_t res;
    apr_time_t start = apr_time_now();
    int n, i;

    if (state != AP_WATCHDOG_STATE_RUNNING || !st)
        return APR_SUCCESS;          /* no state in this child (mod_wsguard said why), or yet */
    if (!(n = take_queue(c, pool, items)))
        return APR_SUCCESS;
    memset(&res, 0, sizeof(res));
    res.sa = c->resolver;
    if (!res.sa && wsg_resolver_system(CW_RESOLV_CONF, pool, &res.sa) != APR_SUCCESS)
        return APR_SUCCESS;
    for (i = 0; i < n; i++) {
        wsg_rec_t rec;
        cw_write_t w;
        const char *host = NULL, *why = NULL;
        char ip[WSG_ADDR_STRLEN];
        apr_status_t rv;

        if (apr_time_now() - start > CW_TICK_BUDGET) {
            requeue(c, items + i, n - i);
            break;
        }
        /* only what is still pending (a record purged or resolved meanwhile is not looked up) */
        if (wsg_store_get(st, &items[i].addr, &rec) != APR_SUCCESS
            || wsg_crawler_state(&rec, apr_time_now()) != WSG_CRAWLER_PENDING)
            continue;
        w.v = wsg_crawler_verify(&res, pool, &items[i].addr, (int)items[i].crawler, &host, &why);
        w.now = apr_time_now();
        w.changed = 0;
        rv = wsg_store_update(st, &items[i].addr, 1, resolved_cb, &w);
        wsg_addr_format(&items[i].addr, ip, sizeof(ip));
        if (w.v == WSG_CRAWLER_V_ERROR) {
            /* The resolver failing is said once until it works again; the clients it concerns
             * are scored as anyone meanwhile. */
            if (c->resolver_state != 2)
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s, APLOGNO(19572)
                             "crawler check of %s (claims %s) could not be made, scored as anyone: "
                             "%s (said once until the resolver answers again)", ip,
                             wsg_crawler_get((int)items[i].crawler)->name, why ? why : "");
            c->resolver_state = 2;
        }
        else {
            if (c->resolver_state == 2)
                ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, c->s, APLOGNO(19574)
                             "crawler check: the resolver answers again");
            c->resolver_state = 1;
            ap_log_error(APLOG_MARK, w.v == WSG_CRAWLER_V_OK ? APLOG_INFO : APLOG_NOTICE, 0,
                         c->s, w.v == WSG_CRAWLER_V_OK ? APLOGNO(19570) : APLOGNO(19571)
                         "crawler check: %s claims %s: %s (%s%s%s)", ip,
                         wsg_crawler_get((int)items[i].crawler)->name, verdict_name(w.v),
                         host ? host : "", host ? ": " : "", why ? why : "");
        }
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, c->s, APLOGNO(19573)
                         "crawler check of %s: cannot record the verdict: %s", ip,
                         wsg_store_strerror(rv));
    }
    return APR_SUCCESS;
}

static int cw_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    wsg_srv_conf_t *sc = ap_get_module_config(s->module_config, &wsguard_module);
    cw_t *c = cw_of(sc->gen, pconf);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register_callback;
    ap_watchdog_t *wd;
    apr_status_t rv;

    c->queue_path = NULL;
    if (c->check == 0 || !sc->gen->ready || sc->gen->store_broken
        || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    c->s = s;
    if (!wd_get_instance || !wd_register_callback
        || (rv = wd_get_instance(&wd, CW_WATCHDOG, 0, 1, pconf)) != APR_SUCCESS
        || (rv = wd_register_callback(wd, CW_INTERVAL, c, cw_tick)) != APR_SUCCESS) {
        /* Fail safe, not open: without the task nothing is held (claims are not looked at). */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(19575)
                     "crawler check off: it needs mod_watchdog (claimed crawlers are scored as "
                     "anyone)");
        return OK;
    }
    c->queue_path = apr_pstrcat(pconf, sc->gen->state_dir ? sc->gen->state_dir : CW_STATE_DEFAULT,
                                "/" CW_QUEUE_FILE, NULL);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(19576)
                 "crawler check on: claimed crawlers verified by FCrDNS through %s",
                 c->resolver_spec ? c->resolver_spec : "the system resolver (" CW_RESOLV_CONF ")");
    return OK;
}

void wsg_crawler_register_hooks(apr_pool_t *p)
{
    /* After mod_wsguard's post_config (the state and its directory are settled: ready,
     * store_broken, state_dir), before mod_watchdog's, which starts only the watchdogs that have
     * a task by then. */
    static const char *const succ[] = { "mod_watchdog.c", NULL };
    ap_hook_post_config(cw_post_config, NULL, succ, APR_HOOK_LAST);
}
