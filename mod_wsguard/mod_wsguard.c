/* mod_wsguard: the httpd glue's lifecycle and request hooks. post_config prepares the LMDB state
 * and opens the event log, child_init opens the state per child; on each request: refuse banned
 * clients early (quick_handler), match and score (header_parser), judge the outcome
 * (log_transaction). Directives live in mod_wsguard_config.c, the rules' lifecycle in
 * mod_wsguard_rules.c, the status page in mod_wsguard_status.c; everything else in the wsg_* core. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "unixd.h"
#include "util_filter.h"

#include <apr_strings.h>
#include <apr_file_info.h>
#include <apr_atomic.h>

#include "wsg_ip.h"
#include "wsg_norm.h"
#include "wsg_rules.h"
#include "wsg_store.h"
#include "wsg_policy.h"
#include "wsg_event.h"
#include "wsg_util.h"
#include "wsg_track.h"
#include "wsg_inspect.h"
#include "mod_wsguard.h"

#define WSG_STATE_DEFAULT "/var/lib/apache2/wsguard"
#define WSG_NORM_BUF 8192
#define WSG_PURGE_EVERY (60 * APR_USEC_PER_SEC)   /* at most; or every half-life if shorter */
#define WSG_BODY_MAX 1024              /* body bytes kept for parameter-name rules */
#define WSG_BODY_FILTER "WSGUARD_BODY"

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle */

static int wsg_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    wsg_gen_t *gen = wsg_glue_gen(pconf);

    gen->ready = 0;
    if (wsg_glue_rules_reset(gen, pconf) != APR_SUCCESS)
        return DONE;
    wsg_glue_conf_reset(gen, pconf);
    return OK;
}

static apr_status_t wsg_open_event_log(wsg_gen_t *G, apr_pool_t *p, server_rec *s,
                                       const char *spec)
{
    apr_status_t rv;

    if (*spec == '|') {
        piped_log *pl = ap_open_piped_log(p, spec + 1);
        if (!pl) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(19500)
                         "cannot start event log pipe '%s'", spec + 1);
            return APR_EGENERAL;
        }
        G->event_log = ap_piped_log_write_fd(pl);
        return APR_SUCCESS;
    }
    rv = apr_file_open(&G->event_log, spec, APR_WRITE | APR_APPEND | APR_CREATE,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19501)
                     "cannot open event log %s", spec);
    return rv;
}

/* The policy of this generation from the directives (unset ones keep the defaults). */
static void policy_from_conf(wsg_gen_t *G, const wsg_srv_conf_t *sc)
{
    wsg_policy_defaults(&G->policy);
    if (sc->ban >= 0) {
        G->policy.ratelimit = sc->ratelimit;
        G->policy.ban = sc->ban;
    }
    if (sc->ban_time >= 0) {
        G->policy.ban_time = sc->ban_time;
        if (sc->ban_max >= 0)
            G->policy.ban_max = sc->ban_max;
        else if (G->policy.ban_max < sc->ban_time)
            G->policy.ban_max = sc->ban_time;
    }
    if (sc->halflife >= 0)
        G->policy.halflife = sc->halflife;
    if (sc->prefix_ban >= 0)
        G->policy.prefix_ban = sc->prefix_ban;
    G->miss_score = sc->miss_score >= 0 ? sc->miss_score : 1.0;
    G->state_dir = sc->state_dir ? sc->state_dir : WSG_STATE_DEFAULT;
    G->store_opts.map_size = sc->map_size;
}

static int wsg_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    wsg_srv_conf_t *sc = ap_get_module_config(s->module_config, &wsguard_module);
    wsg_gen_t *G = sc->gen;
    const char *err = NULL, *notice = NULL;
    apr_status_t rv;
    int rc = OK;

    /* 1. The rules in force: this generation's, or the previous ones when a reload broke them. */
    if (wsg_glue_rules_commit(G, pconf, s, sc->rules_set) != APR_SUCCESS) {
        rc = HTTP_INTERNAL_SERVER_ERROR;
        goto leave;
    }
    /* 2. The policy and the state's settings. */
    policy_from_conf(G, sc);
    G->inspect.rules = G->rules;
    G->inspect.policy = &G->policy;
    G->inspect.miss_score = G->miss_score;
    G->ready = 1;
    /* 3. httpd reads its configuration twice at startup; the first pass only validates. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        goto leave;
    /* 4. The event log (a failure is logged there; the module works without it). */
    if (sc->event_log)
        wsg_open_event_log(G, pconf, s, sc->event_log);
    /* 5. The LMDB state, prepared as root before the children open it as httpd's user. */
    rv = wsg_store_prepare_ex(ptemp, G->state_dir, &G->store_opts, (long)ap_unixd_config.user_id,
                              (long)ap_unixd_config.group_id, &notice, &err);
    if (notice)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(19408)
                     "state in %s was damaged and has been started afresh: %s", G->state_dir, notice);
    if (rv != APR_SUCCESS) {
        /* Fail open: the site serves, without per-client memory, and says so once. */
        G->store_broken = 1;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19405)
                     "state directory %s unusable, clients are not tracked until it is fixed: %s",
                     G->state_dir, err ? err : "unknown error");
    }
    /* 6. What is in force, for the operator. */
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(19406)
                 "state in %s; thresholds %.4g/%.4g; ban %" APR_TIME_T_FMT "s (max %"
                 APR_TIME_T_FMT "s)", G->state_dir, G->policy.ratelimit, G->policy.ban,
                 apr_time_sec(G->policy.ban_time), apr_time_sec(G->policy.ban_max));
leave:
    return rc;
}

static void wsg_child_init(apr_pool_t *pchild, server_rec *s)
{
    wsg_srv_conf_t *sc = ap_get_module_config(s->module_config, &wsguard_module);
    wsg_gen_t *G = sc->gen;
    const char *err = NULL;
    apr_status_t rv;

    G->store = NULL;
    G->warned_full = G->warned_store = G->warned_event = 0;
    G->last_purge = apr_time_now();
    if (!G->ready || G->store_broken)
        return;
    rv = wsg_store_open(pchild, G->state_dir, &G->store_opts, &G->store, &err);
    if (rv != APR_SUCCESS) {
        G->store = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(19407)
                     "cannot open state in %s, this child serves without tracking: %s",
                     G->state_dir, err ? err : "unknown error");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Request path: gather the facts, let wsg_inspect decide, enforce. */

/* Logs a store failure once per child, whatever the request rate. */
static void store_failed(wsg_gen_t *G, request_rec *r, apr_status_t rv, const char *what)
{
    if (rv == APR_ENOSPC) {
        if (apr_atomic_cas32(&G->warned_full, 1, 0) == 0)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(19450)
                          "state in %s is full (WSGuardMapSize): serving without recording new "
                          "scores; expired records are being purged", G->state_dir);
        G->last_purge = 0;   /* purge at the next write */
        return;
    }
    if (apr_atomic_cas32(&G->warned_store, 1, 0) == 0)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(19451)
                      "state %s failed (%s): serving without tracking (logged once per child)",
                      what, wsg_store_strerror(rv));
}

typedef struct {
    const wsg_policy_t *policy;
    apr_time_t          now;
} wsg_purge_baton_t;

static int purge_expired(void *baton, const wsg_rec_t *rec)
{
    wsg_purge_baton_t *b = baton;
    return wsg_policy_expired(b->policy, rec, b->now);
}

static void maybe_purge(wsg_gen_t *G, request_rec *r, apr_time_t now)
{
    wsg_purge_baton_t pb;
    apr_interval_time_t every = WSG_PURGE_EVERY;
    unsigned n = 0;
    apr_status_t rv;

    /* Records expire a few half-lives after their last probe: no point purging more often. */
    if (G->policy.halflife > 0 && G->policy.halflife < every)
        every = G->policy.halflife;
    if (now - G->last_purge < every)
        return;
    G->last_purge = now;
    pb.policy = &G->policy;
    pb.now = now;
    rv = wsg_store_purge(G->store, purge_expired, &pb, 2000, &n);
    if (rv == APR_SUCCESS && n)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(19452) "purged %u expired records", n);
    else if (rv == APR_SUCCESS)
        apr_atomic_set32(&G->warned_full, 0);
}

static const char *http_date(apr_pool_t *p, apr_time_t t)
{
    char buf[APR_RFC822_DATE_LEN];
    apr_rfc822_date(buf, t);
    return apr_pstrdup(p, buf);
}

/* What a request carries between hooks when it needs to (a client with a record, a request the
 * log phase looks at again). A client without records needs none: a marker says where it is. */
typedef struct {
    wsg_gen_t     *gen;
    int            refused;            /* refused by us: the log phase has nothing to do */
    int            done;               /* decided in the header phase: nothing after the answer */
    int            have_addr, have_prefix;
    wsg_addr_t     addr, prefix;
    wsg_rec_t      rec, prec;
    wsg_inspect_t *ix;                 /* kept for the log phase */
    char          *body;               /* first bytes of a urlencoded POST body (WSGUARD_BODY) */
    apr_size_t     body_len;
} wsg_req_state_t;

/* Markers in r->request_config instead of a state (pointer identity only, never written). */
static const char mark_skip = 0;       /* allowlisted, no store, or no usable address */
static const char mark_clean = 0;      /* a client without records, not yet inspected */
static const char mark_done = 0;       /* ... inspected in the header phase: nothing to do */
#define IS_MARK(p) ((const void *)(p) == &mark_skip || (const void *)(p) == &mark_clean \
                    || (const void *)(p) == &mark_done)

static void set_state(request_rec *r, const void *st)
{
    ap_set_module_config(r->request_config, &wsguard_module, (void *)st);
}

/* The client's key, straight from the socket address (which mod_remoteip replaces, as the
 * text). */
static int client_key(request_rec *r, wsg_addr_t *addr, wsg_addr_t *prefix)
{
    if ((r->useragent_addr ? wsg_addr_from_sockaddr(r->useragent_addr, addr)
                           : wsg_addr_parse(r->useragent_ip, addr)) != APR_SUCCESS)
        return 0;
    wsg_addr_prefix(addr, prefix);
    return 1;
}

/* A state for a request that had only a marker (a client without records). */
static wsg_req_state_t *real_state(request_rec *r, void *cur, wsg_gen_t *G)
{
    wsg_req_state_t *st;

    if (cur && !IS_MARK(cur))
        return cur;
    st = apr_pcalloc(r->pool, sizeof(*st));
    st->gen = G;
    if (!client_key(r, &st->addr, &st->prefix))
        return NULL;
    set_state(r, st);
    return st;
}

static void log_event(request_rec *r, wsg_gen_t *G, const wsg_inspect_t *ix, int enforce)
{
    wsg_event_t ev;
    const char *line;
    apr_size_t len;
    apr_status_t rv;

    if (!G->event_log || !ix->event)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.event = ix->event;
    ev.time = apr_time_now();
    ev.client = r->useragent_ip;
    ev.vhost = r->server->server_hostname;
    ev.method = r->method;
    ev.uri = r->unparsed_uri;
    ev.path = ix->norm.path;
    ev.ua = apr_table_get(r->headers_in, "User-Agent");
    ev.status = ix->event_status;
    ev.rule_ids = ix->m.ids;
    ev.n_rules = ix->m.n < WSG_MATCH_MAX ? ix->m.n : WSG_MATCH_MAX;
    ev.tag = ix->m.first ? ix->m.first->tag : NULL;
    ev.msg = ix->m.first ? ix->m.first->msg : NULL;
    ev.req_score = (int)ix->record;
    ev.client_score = ix->res.client_score;
    ev.action = wsg_inspect_action_name(ix, enforce);
    ev.ban_until = ix->res.action == WSG_ACT_BAN ? ix->res.ban_until : 0;
    ev.norm_flags = ix->norm.flags;
    line = wsg_event_json(r->pool, &ev, &len);
    if (!line)
        return;
    /* One write per line: O_APPEND files and pipes (under PIPE_BUF) keep lines whole. */
    rv = apr_file_write_full(G->event_log, line, len, NULL);
    if (rv != APR_SUCCESS && apr_atomic_cas32(&G->warned_event, 1, 0) == 0)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(19502)
                      "cannot write the event log (logged once per child)");
}

/* The body of the write transaction: what wsg_inspect decides, applied to address and prefix. */
typedef struct {
    const wsg_inspect_conf_t *ic;
    wsg_inspect_t            *ix;
    const wsg_addr_t         *addr;
    apr_time_t                now;
} wsg_write_baton_t;

static int write_cb(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    wsg_write_baton_t *b = baton;
    return wsg_inspect_apply(b->ic, b->ix, b->addr, b->now, recs, n);
}

/* The request's one write, then what it means (wsg_inspect_written), the event and the log
 * lines. Returns ix->todo. */
static wsg_do_t write_once(request_rec *r, wsg_req_state_t *st, wsg_inspect_t *ix,
                           const wsg_facts_t *f)
{
    wsg_gen_t *G = st->gen;
    wsg_write_baton_t b;
    wsg_addr_t keys[2];
    apr_status_t rv;
    int header = ix->header_write;
    wsg_do_t todo;

    b.ic = &G->inspect;
    b.ix = ix;
    b.addr = &st->addr;
    b.now = f->now;
    keys[0] = st->addr;
    keys[1] = st->prefix;
    rv = wsg_store_update(G->store, keys, G->policy.prefix_ban > 0 ? 2 : 1, write_cb, &b);
    if (rv != APR_SUCCESS)
        store_failed(G, r, rv, "update");
    else
        maybe_purge(G, r, f->now);
    todo = wsg_inspect_written(&G->inspect, f, ix, rv == APR_SUCCESS);
    if (todo == WSG_DO_LATER)
        return todo;
    if (ix->alert && header)
        ap_log_rerror(APLOG_MARK, APLOG_ALERT, 0, r, APLOGNO(19454)
                      "possible web shell present: %s %s: the file exists and was probed (rule "
                      "%u: %s); the probe itself was refused with %d", r->method, ix->norm.path,
                      ix->m.first ? ix->m.first->id : 0,
                      ix->m.first && ix->m.first->msg ? ix->m.first->msg : "", ix->status);
    else if (ix->alert)
        ap_log_rerror(APLOG_MARK, APLOG_ALERT, 0, r, APLOGNO(19454)
                      "possible web shell present: %s %s answered %d to a probe (rule %u: %s)",
                      r->method, ix->norm.path, f->status, ix->m.first ? ix->m.first->id : 0,
                      ix->m.first && ix->m.first->msg ? ix->m.first->msg : "");
    if (header && rv == APR_SUCCESS && ix->res.action == WSG_ACT_BAN)
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, APLOGNO(19453)
                      "%s %s: client banned until %s (score %.1f, rule %u)", r->method,
                      ix->norm.path, http_date(r->pool, ix->res.ban_until), ix->res.client_score,
                      ix->m.first ? ix->m.first->id : 0);
    log_event(r, G, ix, f->enforce);
    return todo;
}

/* The refusal. Its body is a short text rather than httpd's HTML page (which a scanner does not
 * read): less work per refused request, which matters for a banned client's flood. */
static int refuse(request_rec *r, wsg_req_state_t *st, const wsg_inspect_t *ix)
{
    if (st)
        st->refused = 1;
    ap_custom_response(r, ix->status == HTTP_TOO_MANY_REQUESTS ? HTTP_TOO_MANY_REQUESTS
                                                               : HTTP_FORBIDDEN,
                       ix->status == HTTP_TOO_MANY_REQUESTS ? "Too Many Requests\n"
                                                            : "Forbidden\n");
    if (ix->status == HTTP_TOO_MANY_REQUESTS) {
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                    ix->retry_after < 1 ? (apr_int64_t)1 : ix->retry_after));
        return HTTP_TOO_MANY_REQUESTS;
    }
    return HTTP_FORBIDDEN;
}

/* A banned client's refusal with the least work: on HTTP/1.x, a fixed 403 written straight to the
 * connection (no header filter, no error page) and the connection closed, so a flood costs less
 * than serving it 404s. HTTP/2 streams (c->master) and anything else get the ordinary refusal. */
static int refuse_banned(request_rec *r, wsg_req_state_t *st, const wsg_inspect_t *ix)
{
    static const char resp[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 10\r\nConnection: close\r\n\r\nForbidden\n";
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb;
    apr_size_t len = sizeof(resp) - 1;

    if (c->master || r->proto_num < HTTP_VERSION(1, 0) || r->proto_num >= HTTP_VERSION(2, 0))
        return refuse(r, st, ix);
    if (r->header_only)
        len -= 10;          /* HEAD: the same head, no body */
    st->refused = 1;
    r->status = HTTP_FORBIDDEN;
    c->keepalive = AP_CONN_CLOSE;
    /* What httpd would add to the answer is not wanted: the head is written already. */
    ap_remove_output_filter_byhandle(r->output_filters, "HTTP_HEADER");
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(resp, len, c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    (void)ap_pass_brigade(c->output_filters, bb);
    r->bytes_sent = r->header_only ? 0 : 10;
    return DONE;
}

/* quick_handler, the first hook after post_read_request (where mod_remoteip sets the client
 * address) and before any translation or mapping: who is it, and are they banned? One read
 * transaction (the address and its prefix), no write. A client without records (nearly every
 * visitor) leaves a marker and allocates nothing. */
static int wsg_quick_handler(request_rec *r, int lookup_uri)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    wsg_gen_t *G = sc->gen;
    wsg_req_state_t *st;
    wsg_addr_t keys[2];
    wsg_rec_t recs[2];
    int found[2];
    wsg_facts_t f;
    wsg_inspect_t ix;

    /* State is set up even when the server's engine is Off: a <Location> may turn it On. */
    if (!G->ready || lookup_uri || r->main || r->prev)
        return DECLINED;
    if (!G->store || (r->useragent_addr && wsg_allow_test(wsg_glue_allow(sc), r->useragent_addr))
        || !client_key(r, &keys[0], &keys[1])) {
        set_state(r, &mark_skip);
        return DECLINED;
    }
    if (wsg_store_get_many(G->store, keys, 2, recs, found) != APR_SUCCESS
        || (!found[0] && !found[1])) {
        set_state(r, &mark_clean);
        return DECLINED;
    }
    st = apr_pcalloc(r->pool, sizeof(*st));
    st->gen = G;
    st->addr = keys[0];
    st->prefix = keys[1];
    st->have_addr = found[0];
    st->have_prefix = found[1];
    st->rec = recs[0];
    st->prec = recs[1];
    set_state(r, st);
    if (wsg_glue_srv_engine(sc) != WSG_ENGINE_ON)
        return DECLINED;
    memset(&f, 0, sizeof(f));
    f.now = apr_time_now();
    f.rec = found[0] ? &st->rec : NULL;
    f.prec = found[1] ? &st->prec : NULL;
    memset(&ix, 0, sizeof(ix));
    if (wsg_inspect_banned(&G->inspect, &f, &ix) == WSG_ACT_BAN)
        return refuse_banned(r, st, &ix);
    return DECLINED;
}

/* Input filter: copies the first WSG_BODY_MAX bytes of a form POST as the body passes by (to the
 * handler, or to httpd discarding it after a 404), for rules on body parameter names. */
static apr_status_t wsg_body_filter(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                                    apr_read_type_e block, apr_off_t readbytes)
{
    wsg_req_state_t *st = f->ctx;
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, block, readbytes);
    apr_bucket *b;

    if (rv != APR_SUCCESS || mode != AP_MODE_READBYTES)
        return rv;
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(b) || st->body_len >= WSG_BODY_MAX) {
            ap_remove_input_filter(f);
            break;
        }
        if (APR_BUCKET_IS_METADATA(b) || apr_bucket_read(b, &data, &len, block) != APR_SUCCESS)
            continue;
        if (len > WSG_BODY_MAX - st->body_len)
            len = WSG_BODY_MAX - st->body_len;
        memcpy(st->body + st->body_len, data, len);
        st->body_len += len;
    }
    return APR_SUCCESS;
}

/* A short form POST: worth keeping its parameter names (shell password guessing). */
static int is_form_post(request_rec *r)
{
    const char *ct, *cl;

    if (r->method_number != M_POST)
        return 0;
    ct = apr_table_get(r->headers_in, "Content-Type");
    cl = apr_table_get(r->headers_in, "Content-Length");
    return cl && apr_atoi64(cl) > 0 && apr_atoi64(cl) <= 65536
           && (!ct || !strncasecmp(ct, "application/x-www-form-urlencoded", 33));
}

static void capture_body(request_rec *r, wsg_req_state_t *st)
{
    st->body = apr_palloc(r->pool, WSG_BODY_MAX);
    ap_add_input_filter(WSG_BODY_FILTER, st, r, r->connection);
}

/* Whether the target exists, as httpd mapped it before header_parser (map_to_storage). Not
 * known for what is not a file (a proxy, a handler, a directory, a script with path info). */
static int file_fact(const request_rec *r)
{
    if (!r->filename || r->proxyreq || !strncmp(r->filename, "proxy:", 6))
        return WSG_FILE_UNKNOWN;
    if (r->finfo.filetype == APR_NOFILE)
        return WSG_FILE_MISSING;
    if (r->finfo.filetype == APR_REG && (!r->path_info || !*r->path_info))
        return WSG_FILE_EXISTS;
    return WSG_FILE_UNKNOWN;
}

static const char *request_ua(void *baton)
{
    return apr_table_get(((request_rec *)baton)->headers_in, "User-Agent");
}

static void request_facts(request_rec *r, wsg_facts_t *f, int enforce)
{
    memset(f, 0, sizeof(*f));
    f->method = r->method;
    f->target = r->unparsed_uri ? r->unparsed_uri : r->uri;
    f->ua_fn = request_ua;          /* only if a rule may look at it */
    f->ua_baton = r;
    f->enforce = enforce;
}

/* header_parser: the directory is known and the target mapped; the verdict of the header
 * phase: pass (nothing allocated for a clean request), refuse, write now, or wait for the
 * answer. */
static int wsg_header_parser(request_rec *r)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    wsg_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &wsguard_module);
    void *cur = ap_get_module_config(r->request_config, &wsguard_module);
    wsg_req_state_t *st = cur && !IS_MARK(cur) ? cur : NULL;
    wsg_gen_t *G = sc->gen;
    int engine;
    wsg_facts_t f;
    wsg_inspect_t ix;
    char buf[WSG_NORM_BUF];
    wsg_do_t todo;

    if (!cur || cur == &mark_skip || cur == &mark_done || (st && (st->refused || st->done)))
        return DECLINED;
    engine = wsg_glue_dir_engine(dc, sc);
    if (engine == WSG_ENGINE_OFF)
        return DECLINED;
    request_facts(r, &f, engine == WSG_ENGINE_ON);
    f.file = file_fact(r);
    if (st) {
        /* The clock only matters with a record (a client without one is judged without it). */
        f.now = apr_time_now();
        f.rec = st->have_addr ? &st->rec : NULL;
        f.prec = st->have_prefix ? &st->prec : NULL;
    }
    memset(&ix, 0, sizeof(ix));
    todo = wsg_inspect_header(&G->inspect, &f, buf, sizeof(buf), &ix);
    if (todo == WSG_DO_PASS && !is_form_post(r)) {
        if (st)
            st->done = 1;
        else
            set_state(r, &mark_done);
        return DECLINED;
    }
    if (todo == WSG_DO_REFUSE)
        return refuse(r, st, &ix);
    if (!(st = real_state(r, cur, G)))
        return DECLINED;
    if (todo == WSG_DO_WRITE) {
        if (!f.now)
            f.now = apr_time_now();
        todo = write_once(r, st, &ix, &f);
        if (todo == WSG_DO_REFUSE)
            return refuse(r, st, &ix);
        if (todo == WSG_DO_PASS) {
            st->done = 1;
            return DECLINED;
        }
    }
    /* Later, or a form POST whose body may match: the log phase looks again. */
    ix.written = 0;
    st->ix = wsg_inspect_keep(&ix, r->pool);
    if (is_form_post(r))
        capture_body(r, st);
    return DECLINED;
}

/* log_transaction: the status is known. A probe answered 2xx means the shell may be there; a
 * script that does not exist, asked for by a client, is how unknown shell names are caught. A
 * request httpd answered before header_parser ran (an encoded slash or NUL is a 404 at once) is
 * inspected here for the first time. */
static int wsg_log_transaction(request_rec *r)
{
    wsg_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &wsguard_module);
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    void *cur = ap_get_module_config(r->request_config, &wsguard_module);
    wsg_req_state_t *st = cur && !IS_MARK(cur) ? cur : NULL;
    wsg_gen_t *G = sc->gen;
    request_rec *last = r;
    wsg_facts_t f;
    wsg_inspect_t local, *ix;
    char buf[WSG_NORM_BUF];
    int engine;

    if (!cur || cur == &mark_skip || cur == &mark_done || (st && (st->refused || st->done)))
        return DECLINED;
    engine = wsg_glue_dir_engine(dc, sc);
    if (engine == WSG_ENGINE_OFF)
        return DECLINED;
    while (last->next)
        last = last->next;
    request_facts(r, &f, engine == WSG_ENGINE_ON);
    f.now = apr_time_now();
    f.status = last->status;
    if (st) {
        f.body = st->body;
        f.body_len = st->body_len;
    }
    if (st && st->ix)
        ix = st->ix;
    else {
        memset(&local, 0, sizeof(local));
        ix = &local;
    }
    if (wsg_inspect_log(&G->inspect, &f, buf, sizeof(buf), ix) != WSG_DO_WRITE)
        return DECLINED;
    if (!(st = real_state(r, cur, G)))
        return DECLINED;
    write_once(r, st, ix, &f);
    return DECLINED;
}

static void wsg_register_hooks(apr_pool_t *p)
{
    /* pre_config: a fresh candidate ruleset and defaults before this generation's directives. */
    ap_hook_pre_config(wsg_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* post_config: as root, before the children exist: rules, policy, state dir, event log. */
    ap_hook_post_config(wsg_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* child_init: LMDB handles must not cross fork(), so each child opens its own. */
    ap_hook_child_init(wsg_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* quick_handler, REALLY_FIRST: the earliest per-request hook after mod_remoteip has set the
     * client address (post_read_request), before translation and mapping: a banned client costs
     * one read and nothing of the request's processing, and the connection stays usable. */
    ap_hook_quick_handler(wsg_quick_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* header_parser, FIRST: after map_to_storage (r->finfo says whether the target exists) and
     * the per-directory merge (WSGuardEngine in <Location>), before access checks and the
     * handler: the last point to refuse a probe before anything serves it. */
    ap_hook_header_parser(wsg_header_parser, NULL, NULL, APR_HOOK_FIRST);
    /* log_transaction: the answer's status is known (404 misses, 2xx alerts); runs for requests
     * that httpd answered before header_parser too (an encoded slash, a NUL). */
    ap_hook_log_transaction(wsg_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
    /* The body filter is added per request (a short form POST only), at the resource level so
     * it sees the decoded body whether the handler or httpd's discard reads it. */
    ap_register_input_filter(WSG_BODY_FILTER, wsg_body_filter, NULL, AP_FTYPE_RESOURCE);
    /* The status handler (mod_wsguard_status.c) reads the state through sc->gen. */
    wsg_status_register_hooks(p);
}

AP_DECLARE_MODULE(wsguard) = {
    STANDARD20_MODULE_STUFF,
    wsg_glue_create_dir_conf,
    wsg_glue_merge_dir_conf,
    wsg_glue_create_srv_conf,
    wsg_glue_merge_srv_conf,
    wsg_glue_cmds,
    wsg_register_hooks,
    AP_MODULE_FLAG_NONE
};
