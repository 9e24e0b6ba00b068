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
#include "mod_wsguard.h"

#define WSG_STATE_DEFAULT "/var/lib/apache2/wsguard"
#define WSG_NORM_BUF 8192
#define WSG_PURGE_EVERY (60 * APR_USEC_PER_SEC)   /* at most; or every half-life if shorter */
#define WSG_BODY_MAX 1024              /* body bytes kept for parameter-name rules */
#define WSG_BODY_FILTER "WSGUARD_BODY"

/* What a request carries between hooks. */
typedef struct {
    wsg_gen_t   *gen;                  /* this generation's state */
    int          skip;                 /* allowlisted, engine off, or no store */
    int          have_addr, have_prefix;
    wsg_addr_t   addr, prefix;
    wsg_rec_t    rec, prec;
    int          inspected;            /* normalised and matched (header_parser, or later) */
    int          matched;              /* rules matched */
    int          refused;              /* refused by us */
    int          score;                /* scored at once (outcome=any rules) */
    int          miss_score;           /* scored if the answer is 404/410 (outcome=miss rules) */
    unsigned     ids[WSG_MATCH_MAX];
    int          n_ids;
    const wsg_rule_info_t *first;
    char        *body;                 /* first bytes of a urlencoded POST body (WSGUARD_BODY) */
    apr_size_t   body_len;
    const char  *path;                 /* normalised */
    const char  *ext;
    unsigned     norm_flags;
} wsg_req_state_t;

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
/* Request path */

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

static void log_event(request_rec *r, wsg_req_state_t *st, const char *event, int status,
                      int req_score, double client_score, const char *action, apr_time_t until)
{
    wsg_event_t ev;
    const char *line;
    apr_size_t len;
    apr_status_t rv;
    wsg_gen_t *G = st->gen;

    if (!G->event_log)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.event = event;
    ev.time = apr_time_now();
    ev.client = r->useragent_ip;
    ev.vhost = r->server->server_hostname;
    ev.method = r->method;
    ev.uri = r->unparsed_uri;
    ev.path = st->path;
    ev.ua = apr_table_get(r->headers_in, "User-Agent");
    ev.status = status;
    ev.rule_ids = st->ids;
    ev.n_rules = st->n_ids;
    ev.tag = st->first ? st->first->tag : NULL;
    ev.msg = st->first ? st->first->msg : NULL;
    ev.req_score = req_score;
    ev.client_score = client_score;
    ev.action = action;
    ev.ban_until = until;
    ev.norm_flags = st->norm_flags;
    line = wsg_event_json(r->pool, &ev, &len);
    if (!line)
        return;
    /* One write per line: O_APPEND files and pipes (under PIPE_BUF) keep lines whole. */
    rv = apr_file_write_full(G->event_log, line, len, NULL);
    if (rv != APR_SUCCESS && apr_atomic_cas32(&G->warned_event, 1, 0) == 0)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(19502)
                      "cannot write the event log (logged once per child)");
}

/* The body of the write transaction: one scored request applied to address and prefix. */
typedef struct {
    const wsg_policy_t *policy;
    wsg_track_t        t;
    wsg_track_result_t res;
} wsg_score_baton_t;

static int score_update(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    wsg_score_baton_t *b = baton;
    return wsg_track_apply(b->policy, &b->t, recs, n, &b->res);
}

static wsg_req_state_t *req_state(request_rec *r)
{
    return ap_get_module_config(r->request_config, &wsguard_module);
}

/* retry: whole seconds, as wsg_policy_check gives them. */
static int refuse(request_rec *r, wsg_req_state_t *st, wsg_action_t act, apr_interval_time_t retry)
{
    st->refused = 1;
    if (act == WSG_ACT_RATELIMIT) {
        apr_int64_t secs = retry < 1 ? 1 : (apr_int64_t)retry;
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT, secs));
        return HTTP_TOO_MANY_REQUESTS;
    }
    return HTTP_FORBIDDEN;
}

/* quick_handler, the first hook after post_read_request (where mod_remoteip sets the client
 * address) and before any translation or mapping: who is it, and are they banned? Two reads (the
 * address and its prefix), no write. Refusing here rather than in post_read_request keeps the
 * connection alive, so a banned client's flood costs less than serving it 404s. */
static int wsg_quick_handler(request_rec *r, int lookup_uri)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    wsg_gen_t *G = sc->gen;
    wsg_req_state_t *st;
    wsg_addr_t keys[2];
    wsg_rec_t recs[2];
    int found[2];
    apr_time_t now;
    apr_interval_time_t retry = 0;
    wsg_action_t act;
    int engine = wsg_glue_srv_engine(sc);

    /* State is set up even when the server's engine is Off: a <Location> may turn it On. */
    if (!G->ready || lookup_uri || r->main || r->prev)
        return DECLINED;
    st = apr_pcalloc(r->pool, sizeof(*st));
    st->gen = G;
    ap_set_module_config(r->request_config, &wsguard_module, st);
    if (!G->store || (r->useragent_addr && wsg_allow_test(wsg_glue_allow(sc), r->useragent_addr))) {
        st->skip = 1;
        return DECLINED;
    }
    /* The key straight from the socket address (which mod_remoteip replaces, as the text). */
    if ((r->useragent_addr ? wsg_addr_from_sockaddr(r->useragent_addr, &st->addr)
                           : wsg_addr_parse(r->useragent_ip, &st->addr)) != APR_SUCCESS) {
        st->skip = 1;
        return DECLINED;
    }
    wsg_addr_prefix(&st->addr, &st->prefix);
    now = apr_time_now();
    keys[0] = st->addr;
    keys[1] = st->prefix;
    if (wsg_store_get_many(G->store, keys, 2, recs, found) == APR_SUCCESS) {
        st->have_addr = found[0];
        st->have_prefix = found[1];
        st->rec = recs[0];
        st->prec = recs[1];
    }
    if (engine != WSG_ENGINE_ON)
        return DECLINED;
    act = st->have_addr ? wsg_policy_check(&G->policy, &st->rec, now, &retry) : WSG_ACT_PASS;
    if (act != WSG_ACT_BAN && st->have_prefix && st->prec.ban_until > now)
        act = WSG_ACT_BAN;
    if (act == WSG_ACT_BAN)
        return refuse(r, st, act, retry);
    return DECLINED;
}

static void request_target(request_rec *r, wsg_req_state_t *st, wsg_norm_t *norm, char *buf)
{
    wsg_norm_target(r->unparsed_uri ? r->unparsed_uri : r->uri, buf, WSG_NORM_BUF, norm);
    st->path = apr_pstrmemdup(r->pool, norm->path, norm->path_len);
    st->ext = apr_pstrdup(r->pool, norm->ext);
    st->norm_flags = norm->flags;
}

static int record_score(request_rec *r, wsg_req_state_t *st, double score, unsigned rule,
                        apr_uint32_t flags, wsg_score_baton_t *b)
{
    wsg_gen_t *G = st->gen;
    wsg_addr_t keys[2];
    apr_status_t rv;

    memset(b, 0, sizeof(*b));
    b->policy = &G->policy;
    b->t.score = score;
    b->t.now = apr_time_now();
    b->t.rule = rule;
    b->t.path = st->path;
    b->t.set_flags = flags;
    b->t.addr = &st->addr;
    keys[0] = st->addr;
    keys[1] = st->prefix;
    rv = wsg_store_update(G->store, keys, G->policy.prefix_ban > 0 ? 2 : 1, score_update, b);
    if (rv != APR_SUCCESS) {
        store_failed(G, r, rv, "update");
        return 0;
    }
    maybe_purge(G, r, b->t.now);
    return 1;
}

static const char *action_name(wsg_action_t act, int detect)
{
    if (detect && act != WSG_ACT_PASS)
        return "detect";
    return act == WSG_ACT_BAN ? "ban" : act == WSG_ACT_RATELIMIT ? "ratelimit" : "pass";
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
static void maybe_capture_body(request_rec *r, wsg_req_state_t *st)
{
    const char *ct, *cl;

    if (r->method_number != M_POST)
        return;
    ct = apr_table_get(r->headers_in, "Content-Type");
    cl = apr_table_get(r->headers_in, "Content-Length");
    if (!cl || apr_atoi64(cl) <= 0 || apr_atoi64(cl) > 65536
        || (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33)))
        return;
    st->body = apr_palloc(r->pool, WSG_BODY_MAX);
    ap_add_input_filter(WSG_BODY_FILTER, st, r, r->connection);
}

/* Normalises the request and matches it, with the body bytes seen so far, into m. Evasion tricks
 * on a request that already looks like a probe make it more certain (+1). */
static void inspect(request_rec *r, wsg_req_state_t *st, wsg_match_t *m)
{
    char buf[WSG_NORM_BUF];
    wsg_norm_t norm;
    wsg_req_t req;

    request_target(r, st, &norm, buf);
    st->inspected = 1;
    memset(m, 0, sizeof(*m));
    memset(&req, 0, sizeof(req));
    req.method = r->method;
    req.norm = &norm;
    req.ua = apr_table_get(r->headers_in, "User-Agent");
    req.body = st->body;
    req.body_len = st->body_len;
    if (!st->gen->rules || !wsg_ruleset_match(st->gen->rules, &req, m))
        return;
    if (norm.flags & WSG_NF_EVASION) {
        if (m->score > 0)
            m->score += 1;
        else
            m->miss_score += 1;
    }
}

/* Takes m as what the request matched. */
static void adopt_match(wsg_req_state_t *st, const wsg_match_t *m)
{
    st->matched = m->n > 0;
    st->score = m->score;
    st->miss_score = m->miss_score;
    st->n_ids = m->n < WSG_MATCH_MAX ? m->n : WSG_MATCH_MAX;
    memcpy(st->ids, m->ids, sizeof(unsigned) * st->n_ids);
    st->first = m->first;
}

/* The logging phase's look at the request: what it scores now that was not scored before. A
 * request httpd answered before header_parser ran (an encoded slash or NUL is a 404 at once) is
 * matched here for the first time; a form POST is matched again with its body. */
static double late_score(request_rec *r, wsg_req_state_t *st)
{
    wsg_match_t m;
    int before = st->score;

    if (!st->inspected) {
        inspect(r, st, &m);
        adopt_match(st, &m);
        return st->score;
    }
    if (!st->body_len)
        return 0;
    inspect(r, st, &m);
    if (m.score + m.miss_score <= st->score + st->miss_score)
        return 0;
    adopt_match(st, &m);
    return st->score > before ? st->score - before : 0;
}

/* header_parser: the directory is known; match, score, refuse. */
static int wsg_header_parser(request_rec *r)
{
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    wsg_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &wsguard_module);
    wsg_req_state_t *st = req_state(r);
    int engine = wsg_glue_dir_engine(dc, sc);
    wsg_match_t m;
    wsg_score_baton_t b;
    double score;
    apr_interval_time_t retry = 0;
    wsg_action_t act;

    if (!st || st->skip || st->refused || engine == WSG_ENGINE_OFF || !st->gen->rules)
        return DECLINED;

    inspect(r, st, &m);
    adopt_match(st, &m);
    maybe_capture_body(r, st);
    score = st->score;
    if (score <= 0) {
        /* Clean request: no write. A client in the rate-limit tier is still refused. */
        if (engine == WSG_ENGINE_ON && st->have_addr
            && wsg_policy_check(&st->gen->policy, &st->rec, apr_time_now(), &retry) != WSG_ACT_PASS)
            return refuse(r, st, WSG_ACT_RATELIMIT, retry);
        return DECLINED;
    }
    if (!record_score(r, st, score, m.first ? m.first->id : 0, 0, &b))
        return DECLINED;
    act = b.res.action;
    log_event(r, st, act == WSG_ACT_BAN ? "ban" : "probe", 0, (int)score, b.res.client_score,
              action_name(act, engine == WSG_ENGINE_DETECT), act == WSG_ACT_BAN ? b.res.ban_until : 0);
    if (act == WSG_ACT_BAN)
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, APLOGNO(19453)
                      "%s %s: client banned until %s (score %.1f, rule %u)%s", r->method,
                      st->path, http_date(r->pool, b.res.ban_until), b.res.client_score,
                      m.first ? m.first->id : 0,
                      engine == WSG_ENGINE_DETECT ? " [DetectionOnly: not refused]" : "");
    if (engine != WSG_ENGINE_ON || act == WSG_ACT_PASS)
        return DECLINED;
    wsg_policy_check(&st->gen->policy, &b.res.rec, b.t.now, &retry);
    return refuse(r, st, act, retry);
}

/* log_transaction: the status is known. A probe answered 2xx means the shell may be there; a
 * script that does not exist, asked for by a client, is how unknown shell names are caught. */
static int wsg_log_transaction(request_rec *r)
{
    wsg_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &wsguard_module);
    wsg_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &wsguard_module);
    wsg_req_state_t *st = req_state(r);
    request_rec *last = r;
    wsg_score_baton_t b;
    int status, engine;
    double score;

    if (!st || st->skip || st->refused)
        return DECLINED;
    engine = wsg_glue_dir_engine(dc, sc);
    if (engine == WSG_ENGINE_OFF)
        return DECLINED;
    while (last->next)
        last = last->next;
    status = last->status;

    score = late_score(r, st);

    if (st->score > 0 && status >= 200 && status < 300) {
        ap_log_rerror(APLOG_MARK, APLOG_ALERT, 0, r, APLOGNO(19454)
                      "possible web shell present: %s %s answered %d to a probe (rule %u: %s)",
                      r->method, st->path, status, st->first ? st->first->id : 0,
                      st->first && st->first->msg ? st->first->msg : "");
        log_event(r, st, "alert", status, (int)score, 0, "alert", 0);
        (void)record_score(r, st, score, st->first ? st->first->id : 0, WSG_RF_SHELL_HIT, &b);
        return DECLINED;
    }
    if (status == HTTP_NOT_FOUND || status == HTTP_GONE) {
        if (st->matched) {
            /* Shapes that real sites also hold count now that the file is known to be missing. */
            score += st->miss_score;
        }
        else if (st->gen->miss_score > 0) {
            /* A POST to a missing script is password guessing at a shell that is not there. */
            if (wsg_track_is_script_ext(st->ext))
                score += st->gen->miss_score * (r->method_number == M_POST ? 2 : 1);
        }
    }
    if (score <= 0 || !record_score(r, st, score, st->first ? st->first->id : 0, 0, &b))
        return DECLINED;
    log_event(r, st, b.res.action == WSG_ACT_BAN ? "ban" : st->matched ? "probe" : "miss", status,
              (int)score, b.res.client_score, action_name(b.res.action, engine == WSG_ENGINE_DETECT),
              b.res.action == WSG_ACT_BAN ? b.res.ban_until : 0);
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
