/* mod_wsguard_sync: the httpd side of the CrowdSec sync. WSGuardCrowdSec is parsed and checked
 * here (credentials read at startup, as root); post_config prepares the outbox file beside the
 * state and registers a mod_watchdog singleton task, so exactly one child per server runs the
 * sync loop whatever the MPM, stopped and restarted with the children at a graceful restart.
 * Each tick runs one wsg_sync_step (push the outbox, pull the stream into LMDB); the request
 * path never sees the network. Logs each change between working and failing once. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "mod_watchdog.h"
#include "unixd.h"

#include <sys/stat.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_uri.h>
#include <apr_file_io.h>
#include <apr_atomic.h>

#include "wsg_util.h"
#include "wsg_lapi.h"
#include "wsg_outbox.h"
#include "wsg_sync.h"
#include "mod_wsguard.h"
#include "mod_wsguard_sync.h"

APLOG_USE_MODULE(wsguard);

#define CS_DIRECTIVE       "WSGuardCrowdSec"
#define CS_WATCHDOG        "_wsguard_crowdsec"
#define CS_INTERVAL        apr_time_from_sec(2)
/* A full pull (startup=true) this often by default. Not only a safety net: the 1.4.6 LAPI sends a
 * delta of the decisions created after the bouncer's last pull, and sets that mark when it answers,
 * so a POST /v1/alerts still being written while a peer polls is never in that peer's deltas
 * (measured: one alert of 50 decisions in 10,000 pushed while polling every second). A full pull
 * of 10,000 decisions costs the LAPI about 0.1 s and 1.5 MB. */
#define CS_RESYNC          apr_time_from_sec(60)
#define CS_STATE_DEFAULT   "/var/lib/apache2/wsguard"   /* as mod_wsguard.c's WSGuardStateDir */
#define CS_SECRET_MAX      4096

static wsg_cs_conf_t *cs;                  /* this generation's directive, on pconf */
static const char    *outbox_path;         /* this generation's outbox file (post_config) */
static wsg_outbox_t  *child_outbox;        /* this child's handle, for the request path */
static apr_uint32_t   warned_queue;

static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register_callback;

void wsg_cs_conf_reset(apr_pool_t *pconf)
{
    cs = NULL;
    outbox_path = NULL;
}

const wsg_cs_conf_t *wsg_cs_conf(void)
{
    return cs;
}

/* ---- the directive ---- */

/* Every message names the directive first (apachectl configtest prints it with file:line). */
#define FAIL(cmd, ...) apr_psprintf((cmd)->pool, CS_DIRECTIVE ": " __VA_ARGS__)

/* A file that must exist and be readable now (TLS material: read again by libcurl later). */
static const char *check_readable(cmd_parms *cmd, const char *opt, const char *file,
                                  const char **out)
{
    const char *path = ap_server_root_relative(cmd->pool, file);
    apr_file_t *f;
    if (!path || !*file)
        return FAIL(cmd, "%s: invalid path '%s'", opt, file);
    if (apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, cmd->temp_pool)
        != APR_SUCCESS)
        return FAIL(cmd, "%s: cannot read %s", opt, path);
    apr_file_close(f);
    *out = path;
    return NULL;
}

/* Files holding secrets: their owner's alone (no group or other bits). */
static const char *check_private(cmd_parms *cmd, const char *opt, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return FAIL(cmd, "%s: %s is missing or not a file", opt, path);
    if (sb.st_mode & 077)
        return apr_psprintf(cmd->pool, CS_DIRECTIVE ": %s: %s can be read by others than its "
                            "owner (mode %04o): it holds a secret, chmod 600 it", opt, path,
                            (unsigned)(sb.st_mode & 07777));
    return NULL;
}

/* A credential file: private, one line, read now (httpd still runs as root). */
static const char *read_secret(cmd_parms *cmd, const char *opt, const char *file,
                               const char **out)
{
    const char *path = ap_server_root_relative(cmd->pool, file), *err;
    apr_file_t *f;
    char buf[CS_SECRET_MAX + 1];
    apr_size_t n = CS_SECRET_MAX, a = 0, b;
    apr_status_t rv;

    if (!path || !*file)
        return FAIL(cmd, "%s: invalid path '%s'", opt, file);
    if ((err = check_private(cmd, opt, path)))
        return err;
    if (apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, cmd->temp_pool)
        != APR_SUCCESS)
        return FAIL(cmd, "%s: cannot read %s", opt, path);
    rv = apr_file_read_full(f, buf, CS_SECRET_MAX, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        return FAIL(cmd, "%s: cannot read %s", opt, path);
    buf[n] = '\0';
    while (a < n && apr_isspace(buf[a]))
        a++;
    b = n;
    while (b > a && apr_isspace(buf[b - 1]))
        b--;
    if (b == a)
        return FAIL(cmd, "%s: %s is empty", opt, path);
    if (memchr(buf + a, '\n', b - a) || memchr(buf + a, '\r', b - a))
        return FAIL(cmd, "%s: %s holds more than one line (only the secret, please)", opt, path);
    *out = apr_pstrmemdup(cmd->pool, buf + a, b - a);
    return NULL;
}

static const char *check_url(cmd_parms *cmd, const char *url)
{
    apr_uri_t u;
    if (apr_uri_parse(cmd->temp_pool, url, &u) != APR_SUCCESS || !u.scheme
        || (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https")) || !u.hostname
        || !*u.hostname || u.query || u.fragment || u.user
        || (u.path && *u.path && strcmp(u.path, "/") && strcmp(u.path, "/v1")
            && strcmp(u.path, "/v1/")))
        return FAIL(cmd, "'%s' is not the URL of a CrowdSec LAPI (http:// or https://HOST[:PORT]/, "
                    "e.g. http://127.0.0.1:8080/)", url);
    return NULL;
}

const char *wsg_cs_set(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    wsg_cs_conf_t *c;
    const char *pwfile = NULL;
    int i;

    if (err)
        return err;
    if (cs)
        return FAIL(cmd, "given twice (first at %s)", cs->where);
    if (argc < 1)
        return FAIL(cmd, "needs the LAPI's URL: " CS_DIRECTIVE " URL [machine=LOGIN "
                    "password-file=FILE] [bouncer-key-file=FILE] [interval=DURATION]");
    if ((err = check_url(cmd, argv[0])))
        return err;
    c = apr_pcalloc(cmd->pool, sizeof(*c));
    c->url = argv[0];
    c->interval = CS_INTERVAL;
    c->resync = CS_RESYNC;
    c->where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                            cmd->directive->line_num);
    for (i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '='), *v;
        char *k;
        if (!eq || eq == argv[i])
            return FAIL(cmd, "'%s' is not an option (name=value)", argv[i]);
        k = apr_pstrmemdup(cmd->temp_pool, argv[i], eq - argv[i]);
        v = eq + 1;
        if (!*v)
            return FAIL(cmd, "%s= needs a value", k);
        if (!strcmp(k, "machine"))
            c->machine = v;
        else if (!strcmp(k, "password-file"))
            pwfile = v;
        else if (!strcmp(k, "bouncer-key-file")) {
            if ((err = read_secret(cmd, "bouncer-key-file", v, &c->bouncer_key)))
                return err;
        }
        else if (!strcmp(k, "interval")) {
            if (wsg_parse_duration(v, &c->interval) != APR_SUCCESS
                || c->interval < apr_time_from_sec(1) || c->interval > apr_time_from_sec(3600))
                return FAIL(cmd, "interval=%s: give a duration from 1s to 1h (e.g. 1s, 5s, 1m)",
                            v);
        }
        else if (!strcmp(k, "resync")) {
            if (wsg_parse_duration(v, &c->resync) != APR_SUCCESS
                || c->resync < apr_time_from_sec(10) || c->resync > apr_time_from_sec(86400))
                return FAIL(cmd, "resync=%s: give a duration from 10s to 1d (e.g. 1m, 15m)", v);
        }
        else if (!strcmp(k, "ca-file")) {
            if ((err = check_readable(cmd, "ca-file", v, &c->ca_file)))
                return err;
        }
        else if (!strcmp(k, "cert-file")) {
            if ((err = check_readable(cmd, "cert-file", v, &c->cert_file)))
                return err;
        }
        else if (!strcmp(k, "key-file")) {
            if ((err = check_readable(cmd, "key-file", v, &c->key_file))
                || (err = check_private(cmd, "key-file", c->key_file)))
                return err;
        }
        else
            return FAIL(cmd, "unknown option '%s' (machine=, password-file=, bouncer-key-file=, "
                        "interval=, resync=, ca-file=, cert-file=, key-file=)", argv[i]);
    }
    if (!c->machine != !pwfile)
        return FAIL(cmd, "machine= and password-file= go together (pushing logs in as that "
                    "machine)");
    if (pwfile && (err = read_secret(cmd, "password-file", pwfile, &c->password)))
        return err;
    if (!c->machine && !c->bouncer_key)
        return FAIL(cmd, "nothing to do: give machine= and password-file= (push local bans), "
                    "bouncer-key-file= (pull the fleet's decisions), or both");
    if (!!c->cert_file != !!c->key_file)
        return FAIL(cmd, "cert-file= and key-file= go together");
    /* Debian builds mod_watchdog in; elsewhere it is a module to load first */
    if (!APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance))
        return FAIL(cmd, "needs mod_watchdog, which runs the sync: load it first "
                    "(LoadModule watchdog_module modules/mod_watchdog.so)");
    cs = c;
    return NULL;
}

/* ---- the task ---- */

typedef struct sync_ctx_t {
    server_rec          *s;
    const wsg_cs_conf_t *conf;
    const char          *outbox_path;
    const wsg_allow_t   *allow;
    apr_pool_t          *pool;          /* the child's sync objects */
    wsg_sync_t          *sync;
    int                  push_state;    /* 0 not yet said, 1 working, 2 failing */
    int                  pull_state;
    int                  broken;        /* said that the outbox or client failed */
    int                  said_full;     /* logged a full pull (then only those that changed) */
    int                  said_discard;  /* logged that queued unbans cannot be sent */
} sync_ctx_t;

static const char *rv_text(apr_pool_t *p, apr_status_t rv)
{
    char buf[120];
    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof(buf)));
}

static int sync_setup(sync_ctx_t *c)
{
    wsg_srv_conf_t *sc = ap_get_module_config(c->s->module_config, &wsguard_module);
    wsg_store_t *st = sc->gen ? sc->gen->store : NULL;
    wsg_lapi_opts_t o;
    wsg_lapi_t *cl;
    wsg_outbox_t *ob;
    wsg_sync_opts_t so;
    const char *err = NULL;
    apr_status_t rv;

    if (!st)
        return 0;               /* this child has no state (mod_wsguard said why) or not yet */
    /* mod_watchdog clears the pool it passes after every tick: the client (its connection),
     * the outbox and the sync live in a pool of their own, destroyed when the task stops */
    if (apr_pool_create_unmanaged_ex(&c->pool, NULL, NULL) != APR_SUCCESS)
        return 0;
    memset(&o, 0, sizeof(o));
    o.url = c->conf->url;
    o.machine = c->conf->machine;
    o.password = c->conf->password;
    o.bouncer_key = c->conf->bouncer_key;
    o.ca_file = c->conf->ca_file;
    o.cert_file = c->conf->cert_file;
    o.key_file = c->conf->key_file;
    /* a hung LAPI holds a tick (and a stopping child) for at most this; a full pull of 20,000
     * decisions takes about a second */
    o.connect_timeout = apr_time_from_sec(3);
    o.timeout = apr_time_from_sec(15);
    memset(&so, 0, sizeof(so));
    so.allow = c->allow;
    so.resync = c->conf->resync;
    if ((rv = wsg_lapi_create(c->pool, &o, &cl, &err)) != APR_SUCCESS
        || (rv = wsg_outbox_open(c->pool, c->outbox_path, 0, &ob, &err)) != APR_SUCCESS
        || (rv = wsg_sync_create(c->pool, st, ob, cl, &so, &c->sync)) != APR_SUCCESS) {
        if (!c->broken++)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, c->s, APLOGNO(19546)
                         "CrowdSec sync cannot start, bans are not shared until this is fixed: %s",
                         err ? err : wsg_outbox_strerror(rv));
        apr_pool_destroy(c->pool);
        c->pool = NULL;
        c->sync = NULL;
        return 0;
    }
    return 1;
}

/* What to say about one direction after a tick: 0 nothing, 1 it fails now, 2 it works again
 * (after a failure this child said). Once per change, whatever the interval. */
static int change(int *state, int tried, apr_status_t rv)
{
    int now = rv == APR_SUCCESS ? 1 : 2, was = *state;
    if (!tried || now == was)
        return 0;
    *state = now;
    return now == 2 ? 1 : was == 2 ? 2 : 0;
}

#define FAILING_FMT "CrowdSec %s failing (the site keeps serving and enforcing what it has; " \
                    "retrying with backoff; %" APR_SIZE_T_FMT " local bans waiting): %s"
#define AGAIN_FMT   "CrowdSec %s works again (%" APR_SIZE_T_FMT " local bans waiting)"

static apr_status_t sync_tick(int state, void *data, apr_pool_t *pool)
{
    sync_ctx_t *c = (sync_ctx_t *)data;
    wsg_sync_report_t rep;
    apr_pool_t *tmp;
    apr_status_t rv;

    if (state == AP_WATCHDOG_STATE_STOPPING) {
        if (c->pool)
            apr_pool_destroy(c->pool);
        c->pool = NULL;
        c->sync = NULL;
        return APR_SUCCESS;
    }
    if (state != AP_WATCHDOG_STATE_RUNNING)
        return APR_SUCCESS;
    if (!c->sync && !sync_setup(c))
        return APR_SUCCESS;
    apr_pool_create(&tmp, c->pool);
    rv = wsg_sync_step(c->sync, tmp, apr_time_now(), &rep);
    if (rv != APR_SUCCESS) {
        if (!c->broken++)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, c->s, APLOGNO(19546)
                         "CrowdSec sync: the state or the outbox failed, bans are not shared "
                         "until this is fixed: %s", rv_text(tmp, rv));
    }
    else {
        const char *push = "push (local bans to the LAPI)", *pull = "pull (the fleet's decisions)";
        switch (change(&c->push_state, rep.push_tried, rep.push_rv)) {
        case 1:
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, c->s, APLOGNO(19540) FAILING_FMT, push,
                         rep.backlog, rep.push_err ? rep.push_err : "unknown error");
            break;
        case 2:
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, c->s, APLOGNO(19541) AGAIN_FMT, push,
                         rep.backlog);
            break;
        }
        switch (change(&c->pull_state, rep.pull_tried, rep.pull_rv)) {
        case 1:
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, c->s, APLOGNO(19542) FAILING_FMT, pull,
                         rep.backlog, rep.pull_err ? rep.pull_err : "unknown error");
            break;
        case 2:
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, c->s, APLOGNO(19543) AGAIN_FMT, pull,
                         rep.backlog);
            break;
        }
        if (rep.drop_msg)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s, APLOGNO(19544)
                         "CrowdSec LAPI refused %d item(s) for good, dropped them: %s",
                         rep.dropped, rep.drop_msg);
        if (rep.discarded && !c->said_discard++)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, c->s, APLOGNO(19549)
                         "CrowdSec: this server only pulls (no machine=), so the %d unban(s) "
                         "wsguardctl queued stay local: delete the decisions with cscli, or give "
                         "it machine= and password-file=", rep.discarded);
        /* a full pull runs every resync=: said when it changed something (it caught what the
         * deltas missed), and the first one */
        if (rep.pull_tried && rep.pull_rv == APR_SUCCESS && rep.startup
            && (!c->said_full++ || rep.added || rep.lifted))
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, c->s, APLOGNO(19545)
                         "CrowdSec full pull: %d bans added, %d lifted, %d unchanged, %d ignored",
                         rep.added, rep.lifted, rep.unchanged, rep.ignored);
    }
    apr_pool_destroy(tmp);
    return APR_SUCCESS;
}

static int sync_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    wsg_srv_conf_t *sc = ap_get_module_config(s->module_config, &wsguard_module);
    sync_ctx_t *c;
    ap_watchdog_t *wd;
    const char *err = NULL, *dir;
    apr_status_t rv;

    if (!cs || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get_instance || !wd_register_callback) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(19546)
                     CS_DIRECTIVE " needs mod_watchdog: bans are not shared");
        return OK;
    }
    dir = sc->state_dir ? sc->state_dir : CS_STATE_DEFAULT;
    c = apr_pcalloc(pconf, sizeof(*c));
    c->s = s;
    c->conf = cs;
    c->allow = wsg_glue_allow(sc);
    c->outbox_path = apr_pstrcat(pconf, dir, "/" WSG_OUTBOX_FILE, NULL);
    /* libcurl's global state, once, before the children (and their threads) exist */
    if ((rv = wsg_lapi_global_init(&err)) != APR_SUCCESS
        || (rv = wsg_outbox_prepare(ptemp, c->outbox_path, 0, (long)ap_unixd_config.user_id,
                                    (long)ap_unixd_config.group_id, &err)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19546)
                     "CrowdSec sync cannot start, bans are not shared until this is fixed: %s",
                     err ? err : "unknown error");
        return OK;
    }
    if ((rv = wd_get_instance(&wd, CS_WATCHDOG, 0, 1, pconf)) != APR_SUCCESS
        || (rv = wd_register_callback(wd, cs->interval, c, sync_tick)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19546)
                     "CrowdSec sync cannot start: mod_watchdog refused the task");
        return OK;
    }
    outbox_path = c->outbox_path;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(19547)
                 "CrowdSec LAPI %s: push %s, pull %s, every %" APR_TIME_T_FMT "ms (outbox %s)",
                 cs->url, cs->machine ? apr_pstrcat(ptemp, "as machine ", cs->machine, NULL)
                                      : "off", cs->bouncer_key ? "on" : "off",
                 apr_time_as_msec(cs->interval), c->outbox_path);
    return OK;
}

static void sync_child_init(apr_pool_t *pchild, server_rec *s)
{
    const char *err = NULL;
    apr_status_t rv;

    child_outbox = NULL;
    warned_queue = 0;
    if (!cs || !cs->machine || !outbox_path)
        return;
    if ((rv = wsg_outbox_open(pchild, outbox_path, 0, &child_outbox, &err)) != APR_SUCCESS) {
        child_outbox = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19548)
                     "CrowdSec outbox unusable in this child, its bans are not shared: %s", err);
    }
}

static void queue(server_rec *s, const wsg_outbox_item_t *it)
{
    apr_status_t rv;
    if (!child_outbox)
        return;
    if ((rv = wsg_outbox_put(child_outbox, it)) != APR_SUCCESS
        && apr_atomic_cas32(&warned_queue, 1, 0) == 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19548)
                     "CrowdSec outbox: cannot queue a ban, it stays local: %s",
                     wsg_outbox_strerror(rv));
}

void wsg_sync_queue_ban(server_rec *s, const wsg_addr_t *key, apr_time_t now,
                        apr_time_t ban_until, unsigned probes, const char *tag,
                        const char *paths)
{
    wsg_outbox_item_t it;
    if (!child_outbox)
        return;
    wsg_outbox_ban_item(&it, key, now, ban_until, probes, tag, paths);
    queue(s, &it);
}

void wsg_sync_queue_unban(server_rec *s, const wsg_addr_t *key, apr_time_t now)
{
    wsg_outbox_item_t it;
    if (!child_outbox)
        return;
    wsg_outbox_unban_item(&it, key, now);
    queue(s, &it);
}

void wsg_sync_register_hooks(apr_pool_t *p)
{
    /* after mod_wsguard's post_config (the state dir exists), before mod_watchdog's (which
     * starts only the watchdogs that have a task by then) */
    static const char *const succ[] = { "mod_watchdog.c", NULL };
    ap_hook_post_config(sync_post_config, NULL, succ, APR_HOOK_LAST);
    ap_hook_child_init(sync_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
