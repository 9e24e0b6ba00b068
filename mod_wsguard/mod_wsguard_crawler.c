/* mod_wsguard_crawler: the httpd side of crawler verification (wsg_crawler.c has the table, the
 * verdicts and the DNS check).
 *
 * The request path only claims and queues: for a request that scores (never a clean one) the
 * User-Agent is looked at for a crawler's token; the write transaction (wsg_inspect) holds its
 * score while a check is pending and marks the record; the address is then appended to a small
 * queue file in the state directory (one write of 24 bytes, O_APPEND, capped in size). The
 * verifier, a small process of its own that httpd's parent starts with each generation (as
 * mod_cgid starts its daemon) and that runs as the children's user, takes the queue every
 * second, checks each address by forward-confirmed reverse DNS against the resolver
 * (WSGuardResolver, or the system's first nameserver), and writes the verdict into the record.
 * So the network is never on the request path, one process in the server does the lookups, the
 * verdict is shared by every child through the LMDB state, and no child gets a thread for it: a
 * prefork child stays single-threaded (a thread in a process makes every system call of it
 * dearer in libc, a few hundred instructions per request), and the DNS answers, which whoever
 * owns the client's reverse zone writes, are parsed outside the processes that serve.
 *
 * Losing a queued address is harmless by design: its record stays pending, the hold ends after
 * WSG_CRAWLER_HOLD seconds, and the client is scored as anyone until a retry is due. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "mpm_common.h"             /* ap_run_drop_privileges */
#include "ap_mpm.h"
#include "ap_listen.h"          /* ap_close_listeners */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <signal.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_signal.h>

#include "wsg_crawler.h"
#include "wsg_store.h"
#include "mod_wsguard.h"
#include "mod_wsguard_crawler.h"

APLOG_USE_MODULE(wsguard);

#define CW_INTERVAL     apr_time_from_sec(1)
#define CW_RESTART_MIN  apr_time_from_sec(10)  /* a verifier that dies sooner is not restarted */
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
    const char     *queue_path;             /* set by post_config when the verifier runs */
    server_rec     *s;
    int             resolver_state;         /* task: 0 not said, 1 works, 2 failing (said) */
    apr_proc_t     *proc;                   /* the verifier (in httpd's parent) */
    apr_time_t      started;
    apr_pool_t     *pconf;
    wsg_gen_t      *gen;
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

static apr_status_t cw_tick(cw_t *c, apr_pool_t *pool)
{
    wsg_srv_conf_t *sc = ap_get_module_config(c->s->module_config, &wsguard_module);
    wsg_store_t *st = sc->gen ? sc->gen->store : NULL;
    cw_item_t items[CW_BATCH];
    wsg_resolver_t res;
    apr_time_t start = apr_time_now();
    int n, i;

    if (!st)
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

/* The verifier's life, after fork: numbered steps, one way out (it never returns). */
static void cw_verifier(cw_t *c, wsg_gen_t *G, apr_pool_t *pool, pid_t parent)
{
    apr_pool_t *tick;
    const char *err = NULL;
    apr_status_t rv;
    int code = 1;

    /* 1. A plain process: the parent's handlers came with the fork; httpd ends it by SIGTERM
     *    (the generation's pool), a restart's SIGHUP or SIGUSR1 to the group ends it too. */
    apr_signal(SIGTERM, SIG_DFL);
    apr_signal(SIGHUP, SIG_DFL);
    apr_signal(AP_SIG_GRACEFUL, SIG_DFL);
    apr_signal(SIGINT, SIG_DFL);
    apr_signal(SIGPIPE, SIG_IGN);
    ap_close_listeners();   /* the port is the server's: a lingering verifier must not hold it */
    /* 2. The children's user (User/Group), as an MPM child becomes it. */
    if (ap_run_drop_privileges(pool, c->s) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, c->s, APLOGNO(19577)
                     "crawler check: the verifier cannot take httpd's user; claimed crawlers "
                     "are scored as anyone");
        goto out;
    }
    /* 3. Its own handle on the state, opened after the fork as a child's is. */
    if ((rv = wsg_glue_store_open(G, pool, &err)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, c->s, APLOGNO(19578)
                     "crawler check: the verifier cannot open the state in %s: %s; claimed "
                     "crawlers are scored as anyone", G->state_dir, err ? err : "");
        goto out;
    }
    /* 4. A tick a second while the server that started it lives. */
    apr_pool_create(&tick, pool);
    while (getppid() == parent) {
        (void)cw_tick(c, tick);
        apr_pool_clear(tick);
        apr_sleep(CW_INTERVAL);
    }
    code = 0;
out:
    _exit(code);
}

static apr_status_t cw_start(cw_t *c);

/* httpd's parent hears of the verifier's end (apr_proc_other_child): one that ran a while is
 * started again, one that died at once is not (said, and claimed crawlers are scored as
 * anyone); at a restart the generation's pool ends it and the next generation starts its own. */
static void cw_maint(int reason, void *data, int status)
{
    cw_t *c = data;
    int mpm_state = 0;
    long old;
    apr_status_t rv;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(c);
        /* a stop or restart signals the process group: the verifier went with it */
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS
            && mpm_state == AP_MPMQ_STOPPING)
            break;
        if (apr_time_now() - c->started < CW_RESTART_MIN) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, c->s, APLOGNO(19579)
                         "crawler check: the verifier (pid %ld) ended at once (status %d); not "
                         "started again until httpd restarts, claimed crawlers are scored as "
                         "anyone", (long)c->proc->pid, status);
            break;
        }
        old = (long)c->proc->pid;
        rv = cw_start(c);
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, c->s, APLOGNO(19580)
                     "crawler check: the verifier (pid %ld) ended (status %d); %s (pid %ld)",
                     old, status, rv == APR_SUCCESS ? "started again" : "cannot start it again",
                     rv == APR_SUCCESS ? (long)c->proc->pid : 0L);
        break;
    case APR_OC_REASON_RESTART:
        apr_proc_other_child_unregister(c);   /* the generation's pool ends it */
        break;
    case APR_OC_REASON_UNREGISTER:            /* said by the unregistering itself */
        break;
    default:
        break;
    }
}

static apr_status_t cw_start(cw_t *c)
{
    pid_t parent = getpid();
    apr_status_t rv;

    c->proc = apr_pcalloc(c->pconf, sizeof(*c->proc));
    c->started = apr_time_now();
    rv = apr_proc_fork(c->proc, c->pconf);
    if (rv == APR_INCHILD)
        cw_verifier(c, c->gen, c->pconf, parent);
    if (rv != APR_INPARENT)
        return rv;
    /* ended with the generation (SIGTERM, then SIGKILL after 3 s) */
    apr_pool_note_subprocess(c->pconf, c->proc, APR_KILL_AFTER_TIMEOUT);
    apr_proc_other_child_register(c->proc, cw_maint, c, NULL, c->pconf);
    return APR_SUCCESS;
}

static int cw_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    wsg_srv_conf_t *sc = ap_get_module_config(s->module_config, &wsguard_module);
    cw_t *c = cw_of(sc->gen, pconf);
    apr_status_t rv;

    c->queue_path = NULL;
    if (c->check == 0 || !sc->gen->ready || sc->gen->store_broken
        || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    c->s = s;
    c->pconf = pconf;
    c->gen = sc->gen;
    c->queue_path = apr_pstrcat(pconf, sc->gen->state_dir ? sc->gen->state_dir : CW_STATE_DEFAULT,
                                "/" CW_QUEUE_FILE, NULL);
    if ((rv = cw_start(c)) != APR_SUCCESS) {
        /* Fail safe, not open: without the verifier nothing is held (claims are not looked
         * at). */
        c->queue_path = NULL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, APLOGNO(19575)
                     "crawler check off: cannot start its verifier process (claimed crawlers "
                     "are scored as anyone)");
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(19576)
                 "crawler check on: claimed crawlers verified by FCrDNS through %s (verifier "
                 "pid %ld)", c->resolver_spec ? c->resolver_spec : "the system resolver ("
                 CW_RESOLV_CONF ")", (long)c->proc->pid);
    return OK;
}

void wsg_crawler_register_hooks(apr_pool_t *p)
{
    /* After mod_wsguard's post_config (the state and its directory are settled: ready,
     * store_broken, state_dir), last, so the verifier forks with the whole generation
     * configured. */
    ap_hook_post_config(cw_post_config, NULL, NULL, APR_HOOK_REALLY_LAST);
}
