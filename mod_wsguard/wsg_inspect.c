/* wsg_inspect: the one place that decides what a request is worth and what to do with it.
 *
 * What a request is (wsg_inspect_target): the target is normalised (or, when one scan proves it
 * needs nothing, copied: the fast path), matched, and scored in two parts. `score` counts
 * whatever the answer: outcome=any rules, +1 when a matched request also used an evasion trick.
 * `miss` counts only if the answer is 404/410: outcome=miss rules (+1 for evasion when only
 * those matched) or, when nothing matched, WSGuardMissScore for a script name (doubled for a
 * POST: password guessing at a shell that is not there).
 *
 * One request, one write, one count. The header phase (before anything serves the request, after
 * httpd mapped it to a file) and the log phase (after the answer) share one context, and at most
 * one of them writes:
 *   - A banned client is refused at once whatever it asks; a client in the rate-limit tier
 *     (its record as read) only when the request looks like probing (see "Refuse in
 *     proportion" below). A refused probe is scored in full in the same write: its miss part
 *     too unless the file exists (a 429'd probe counts as its 404 would have), the alert when
 *     the file exists (a refused probe of an existing shell is still an alert). Nothing is left
 *     for the log phase.
 *   - A probe that may make its client (or prefix) cross a threshold, judged on the record as
 *     read, is written at once; the write transaction (LMDB's single writer, the serialisation
 *     point across processes) decides on the record as it is then: it crosses, so the request is
 *     refused itself and scored in full as above; or it does not (another process's decay or
 *     nothing), so the transaction writes nothing and the request goes on to the log phase.
 *   - Anything else that may score (a probe far from a threshold, an outcome=miss shape, a
 *     script name) is decided once the answer is known: one write of score + (miss if 404/410),
 *     with the alert flag on a 2xx.
 * So an any+miss probe or a 2xx probe is one transaction, one hit and one event. The crossing
 * request is refused itself whatever other processes do in between; what is deferred can only
 * make a client cross after its answer, which is how misses always worked (the next request is
 * refused).
 *
 * Refuse in proportion: the rate-limit tier is there to slow a scan, so it answers 429 only to
 * what a scan is made of: a request a rule matched (score > 0), or a script name that may miss
 * (miss > 0 and the file is not known to exist; a repeat is not one). A client's ordinary pages
 * and assets are served while it is in the tier; only the ban refuses everything. A scanner
 * that goes on probing while rate-limited is scored as its 404s would have been, so it climbs
 * to the ban and is exported; a crawler or monitor that met missing pages is never cut off
 * from the site while its score decays.
 *
 * What misses score (miss_context, after the target is scored): the miss part is evidence of
 * breadth, so it counts once per path and client. A path in the client's ring of recent misses
 * (wsg_track) adds nothing: a feed reader or monitor polling a removed URL, a person reloading,
 * a crawler walking the query strings of one removed script. Only the miss part: an outcome=any
 * match counts every time, because the name itself is the evidence (no site links to wso.php;
 * a scanner retrying its shell, or a shell's user coming back to it, is what it looks like) and
 * a scanner held in the rate-limit tier on one such path still climbs to the ban.
 *
 * A clean request (no rule can concern it, no script name) costs one scan of the target, the
 * rules' gate (wsg_rules_match.c) and no allocation: the context lives on the caller's stack. */
#include <string.h>
#include <apr_strings.h>
#include "wsg_inspect.h"
#include "wsg_crawler.h"

#define WSG_HTTP_TOO_MANY 429
#define WSG_HTTP_FORBIDDEN 403

/* The bytes the fast path's scan looks at: those that make a target need the normaliser
 * (controls, space, 8-bit, '%', '\\', ';', '$' for NTFS "::$DATA", '#' for a fragment, upper
 * case), '/' and '.' (empty and dot segments, where basename and extension start) and the end
 * of the path. Every other byte is ordinary (0). */
enum { C_ORD = 0, C_NORM, C_SLASH, C_DOT, C_END };
static const unsigned char cls[256] = {
    ['\0'] = C_END, ['?'] = C_END, ['/'] = C_SLASH, ['.'] = C_DOT,
    [1 ... 31] = C_NORM, [' '] = C_NORM, ['%'] = C_NORM, ['\\'] = C_NORM, [';'] = C_NORM,
    ['$'] = C_NORM, ['#'] = C_NORM, ['A' ... 'Z'] = C_NORM, [127 ... 255] = C_NORM,
};

int wsg_inspect_fast_norm(const char *target, char *buf, apr_size_t bufsize, wsg_norm_t *out)
{
    const unsigned char *p = (const unsigned char *)target;
    apr_size_t i, slash = 0, dot = 0;
    unsigned char prev = '/';

    if (!p || p[0] != '/' || !buf)
        return 0;
    /* One pass to the end of the path: no byte the normaliser changes, no "//", no segment
     * ending in '.' ("/./", "/../", "x./", a trailing dot); where the basename and the
     * extension start, on the way. */
    for (i = 1;; i++) {
        unsigned char c;
        while (!cls[c = p[i]])
            i++;                /* ordinary bytes: the common case, two loads and a test */
        prev = p[i - 1];
        if (cls[c] == C_END)
            break;
        if (cls[c] == C_NORM)
            return 0;
        if (c == '/') {
            /* A script name followed by more path is a script with path-info
             * ("/x.php/y.jpg"): the normaliser decides which part the rules see. */
            if (prev == '/' || prev == '.'
                || (dot > slash && wsg_norm_is_script_ext((const char *)p + dot + 1, i - dot - 1)))
                return 0;
            slash = i;
            dot = 0;
        }
        else
            dot = i;
    }
    if (prev == '.' || i + 1 >= bufsize)
        return 0;
    /* Without a query the target is the path, NUL-terminated where it ends: no copy. */
    if (p[i] == '?') {
        memcpy(buf, target, i);
        buf[i] = '\0';
    }
    else
        buf = (char *)target;
    out->path = buf;
    out->path_len = i;
    out->basename = buf + slash + 1;
    out->ext = dot ? buf + dot + 1 : buf + i;
    out->query = p[i] == '?' ? target + i + 1 : NULL;
    out->full = buf;
    out->full_len = i;
    out->pathinfo = NULL;
    out->pathinfo_len = 0;
    out->flags = 0;
    return 1;
}

/* wsg_track_is_script_ext, skipped for extensions that cannot be one: every script extension
 * is pl, py or sh, or starts with one of these pairs (css, js, png, html never reach it). */
static int is_script_ext(const char *ext)
{
    char a = ext[0], b = a ? ext[1] : 0;

    if (!a || !b)
        return 0;
    if (!ext[2])
        return ((a == 'p' && (b == 'l' || b == 'y')) || (a == 's' && b == 'h'))
               && wsg_track_is_script_ext(ext);
    switch (a) {
    case 'p': if (b != 'h') return 0; break;
    case 'a': if (b != 's' && b != 'l') return 0; break;
    case 'c': if (b != 'e' && b != 'f' && b != 'g') return 0; break;
    case 'j': if (b != 's') return 0; break;
    default: return 0;
    }
    return wsg_track_is_script_ext(ext);
}

void wsg_inspect_target(const wsg_inspect_conf_t *c, const wsg_facts_t *f, char *buf,
                        apr_size_t bufsize, wsg_inspect_t *ix)
{
    const char *method = f->method ? f->method : "GET";
    wsg_req_t req;

    ix->post = method[0] == 'P' && !strcmp(method, "POST");
    ix->fast = wsg_inspect_fast_norm(f->target, buf, bufsize, &ix->norm);
    if (!ix->fast)
        wsg_norm_target(f->target, buf, bufsize, &ix->norm);
    req.method = method;
    req.norm = &ix->norm;
    req.ua = f->ua;
    req.ua_fn = f->ua_fn;
    req.ua_baton = f->ua_baton;
    req.body = f->body;
    req.body_len = f->body ? f->body_len : 0;
    if (c->rules)
        wsg_ruleset_match(c->rules, &req, &ix->m);
    else
        memset(&ix->m, 0, sizeof(ix->m));
    ix->score = ix->m.score;
    ix->miss = ix->m.miss_score;
    if (ix->m.n > 0) {
        /* Evasion tricks on a request that already looks like a probe make it more certain. */
        if (ix->norm.flags & WSG_NF_EVASION) {
            if (ix->m.score > 0)
                ix->score += 1;
            else
                ix->miss += 1;
        }
    }
    else if (c->miss_score > 0 && is_script_ext(ix->norm.ext))
        ix->miss = c->miss_score * (ix->post ? 2 : 1);
    ix->inspected = 1;
}

wsg_action_t wsg_inspect_banned(const wsg_inspect_conf_t *c, const wsg_facts_t *f,
                                wsg_inspect_t *ix)
{
    wsg_action_t act = WSG_ACT_PASS;

    (void)c;   /* the policy does not enter: a ban is a time */
    if ((f->rec && f->rec->ban_until > f->now) || (f->prec && f->prec->ban_until > f->now))
        act = WSG_ACT_BAN;
    if (act == WSG_ACT_BAN) {
        ix->action = act;
        ix->status = WSG_HTTP_FORBIDDEN;
        ix->todo = WSG_DO_REFUSE;
        ix->written = 1;
    }
    return act;
}

int wsg_inspect_same_site(const char *referer, const char *host)
{
    const char *a, *e;
    apr_size_t hl;

    if (!referer || !host || !*host || !(a = strstr(referer, "://")))
        return 0;
    a += 3;
    /* The authority ends at the path, query or fragment; userinfo ends at '@'. */
    e = a + strcspn(a, "/?#");
    {
        const char *at = memchr(a, '@', (apr_size_t)(e - a));
        if (at)
            a = at + 1;
    }
    hl = strlen(host);
    if ((apr_size_t)(e - a) < hl || strncasecmp(a, host, hl))
        return 0;
    a += hl;
    return a == e || *a == ':' || (*a == '.' && a + 1 == e);   /* port, or a trailing dot */
}

/* Is the client (its record as read) scoring at a scan's pace? */
static int scan_pace(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now)
{
    apr_interval_time_t per = pol->halflife > 0 ? pol->halflife / WSG_SCAN_PACE_DIV
                                                : apr_time_from_sec(2);
    apr_interval_time_t life;

    if (!rec || rec->hits + 1 < WSG_SCAN_MIN || !rec->first_seen)
        return 0;
    life = now - rec->first_seen;
    return life <= (apr_interval_time_t)(rec->hits + 1) * per;
}

/* The miss part in the context of this client (the record as read; none: a first request). */
static void miss_context(const wsg_inspect_conf_t *c, const wsg_facts_t *f, wsg_inspect_t *ix)
{
    const wsg_policy_t *pol = c->policy;
    double cap, s;

    ix->repeat = ix->linked = ix->scan_pace = ix->capped = 0;
    if (ix->miss <= 0)
        return;
    /* The same path again: no new evidence. */
    if (f->rec && wsg_track_missed_lately(f->rec, ix->norm.path, ix->norm.path_len)) {
        ix->miss = 0;
        ix->repeat = 1;
        return;
    }
    /* A link on a page of this site: a broken link (a person, a link checker, a crawler that
     * follows links), the site's own doing, not a guess. Only the miss part: a signature on a
     * linked path still scores. A scanner can forge the header, and then gains only this. */
    if (f->referer_fn && f->host
        && wsg_inspect_same_site(f->referer_fn(f->ua_baton), f->host)) {
        ix->miss = 0;
        ix->linked = 1;
        return;
    }
    /* A claimed crawler's verification (wsg_crawler) is applied in the write (track(), below):
     * verified adds nothing, a fake adds a bonus on top of what is decided here. */
    if (!pol || scan_pace(pol, f->rec, f->now)) {
        ix->scan_pace = pol != NULL;
        return;
    }
    /* Not (yet) at a scan's pace: the miss part may raise the score to half the first threshold
     * and no further. Breadth alone, slowly, is how a crawler revisiting removed pages or a
     * person with typos looks; it stays remembered (the next burst starts from there) but
     * refuses nobody. A held miss is still written as a scored request (hits, first and last
     * seen, the ring): the pace is measured on them, so a scanner of unknown names whose first
     * misses were held reaches a scan's pace by its sixth and counts in full from there. */
    cap = (pol->ratelimit > 0 ? pol->ratelimit : pol->ban) / 2;
    s = f->rec ? wsg_policy_score_now(pol, f->rec, f->now) : 0.0;
    /* Above the cap, misses did not put the client there (they stop at it): signatures did, or
     * breadth at a scan's pace. A client already shown to probe is not weighed slowly: its
     * misses count in full, in the rate-limit tier too (a 429'd probe counts as its 404). */
    if (s > cap + WSG_SCORE_EPSILON)
        return;
    if (s + ix->miss > cap) {
        ix->miss = s < cap ? cap - s : 0;
        ix->capped = 1;
    }
}

/* Does a refused request count its miss part (as its 404 would have)? When the file is missing,
 * and when the server cannot know before answering (a reverse proxy to an IIS, Exchange or Java
 * back end, a handler): a client refused there is already in a tier, which misses at a slow
 * pace cannot put it in, so it has probed; not counting would hold a scanner of such a site in
 * the rate-limit tier for ever, never banned. Not when the file exists: it would not 404. */
static int refused_miss(const wsg_inspect_t *ix)
{
    return ix->file != WSG_FILE_EXISTS && (ix->miss > 0 || ix->capped);
}

/* Might adding score make the client (or its prefix) reach a threshold, on the records as read? */
static int may_cross(const wsg_inspect_conf_t *c, const wsg_facts_t *f, double score)
{
    const wsg_policy_t *pol = c->policy;
    double s = f->rec ? wsg_policy_score_now(pol, f->rec, f->now) : 0.0, thr = -1;

    if (pol->ratelimit > 0)
        thr = pol->ratelimit;
    if (pol->ban > 0 && (thr < 0 || pol->ban < thr))
        thr = pol->ban;
    if (thr > 0 && s + score >= thr - WSG_SCORE_EPSILON)
        return 1;
    if (pol->prefix_ban > 0 && f->prec
        && wsg_policy_score_now(pol, f->prec, f->now) + score >= pol->prefix_ban - WSG_SCORE_EPSILON)
        return 1;
    return 0;
}

wsg_do_t wsg_inspect_header(const wsg_inspect_conf_t *c, const wsg_facts_t *f, char *buf,
                            apr_size_t bufsize, wsg_inspect_t *ix)
{
    apr_interval_time_t retry = 0;
    wsg_action_t tier = WSG_ACT_PASS;

    ix->enforce = f->enforce;
    wsg_inspect_target(c, f, buf, bufsize, ix);
    miss_context(c, f, ix);
    ix->file = f->file;
    if (f->rec)
        tier = wsg_policy_check(c->policy, f->rec, f->now, &retry);
    if (tier != WSG_ACT_BAN && f->prec && f->prec->ban_until > f->now)
        tier = WSG_ACT_BAN;

    /* Refuse in proportion: the ban refuses everything; the rate-limit tier slows what looks
     * like probing (a rule matched, or a script name that may miss: not a repeat, not a file
     * that exists), and serves the client's ordinary pages and assets, so a crawler or a person
     * who collected misses still gets the home page, the PDF and the feed. */
    if (tier == WSG_ACT_RATELIMIT
        && !(ix->score > 0 || ((ix->miss > 0 || ix->capped) && ix->file != WSG_FILE_EXISTS)))
        tier = WSG_ACT_PASS;
    if (f->enforce && tier != WSG_ACT_PASS) {
        /* Refused: scored in full now, as its answer would have scored it. */
        ix->action = tier;
        ix->status = tier == WSG_ACT_BAN ? WSG_HTTP_FORBIDDEN : WSG_HTTP_TOO_MANY;
        ix->retry_after = tier == WSG_ACT_RATELIMIT ? (apr_int64_t)retry : 0;
        ix->miss_counted = refused_miss(ix);
        ix->record = ix->score + (ix->miss_counted ? ix->miss : 0);
        ix->alert = ix->score > 0 && ix->file == WSG_FILE_EXISTS;
        ix->set_flags = ix->alert ? WSG_RF_SHELL_HIT : 0;
        if (ix->record > 0 || ix->alert || ix->miss_counted) {
            ix->header_write = 1;
            return ix->todo = WSG_DO_WRITE;
        }
        ix->written = 1;
        return ix->todo = WSG_DO_REFUSE;
    }
    if (f->enforce && ix->score > 0 && may_cross(c, f, ix->score)) {
        ix->header_write = 2;
        ix->record = ix->score;
        return ix->todo = WSG_DO_WRITE;
    }
    if (ix->score > 0 || ix->miss > 0 || ix->capped)
        return ix->todo = WSG_DO_LATER;
    ix->written = 1;
    return ix->todo = WSG_DO_PASS;
}

wsg_do_t wsg_inspect_log(const wsg_inspect_conf_t *c, const wsg_facts_t *f, char *buf,
                         apr_size_t bufsize, wsg_inspect_t *ix)
{
    int status = f->status;

    ix->enforce = f->enforce;
    if (ix->written)
        return ix->todo = WSG_DO_PASS;
    if (!ix->inspected) {
        wsg_inspect_target(c, f, buf, bufsize, ix);
        miss_context(c, f, ix);
    }
    else if (f->body && f->body_len) {
        /* A form POST, matched again with the body its handler (or httpd's discard) read. */
        wsg_inspect_t before = *ix;
        wsg_inspect_target(c, f, buf, bufsize, ix);
        miss_context(c, f, ix);
        if (ix->score + ix->miss <= before.score + before.miss) {
            *ix = before;
            /* before.norm may point into the kept copy: still valid, it is in the pool. */
        }
    }
    ix->header_write = 0;
    ix->record = ix->score;
    ix->set_flags = 0;
    ix->alert = 0;
    ix->miss_counted = 0;
    if (ix->score > 0 && status >= 200 && status < 300) {
        ix->alert = 1;
        ix->set_flags = WSG_RF_SHELL_HIT;
    }
    else if ((status == 404 || status == 410) && (ix->miss > 0 || ix->capped)) {
        ix->record += ix->miss;
        ix->miss_counted = 1;
    }
    if (ix->record <= 0 && !ix->alert && !ix->miss_counted) {
        ix->written = 1;
        return ix->todo = WSG_DO_PASS;
    }
    return ix->todo = WSG_DO_WRITE;
}

/* A ban this write starts is flagged DETECT when DetectionOnly made it (so it is shown as such
 * and never exported or shared) and unflagged when an enforcing engine did; ix->started says
 * which records' bans started (the glue shares those). */
static void mark_detect(wsg_inspect_t *ix, const wsg_rec_t *before, wsg_rec_t *recs, int n,
                        apr_time_t now)
{
    int i;
    ix->started = 0;
    for (i = 0; i < n; i++) {
        if (before[i].ban_until > now || recs[i].ban_until <= now)
            continue;                               /* no ban started here */
        ix->started |= 1 << i;
        if (ix->enforce)
            recs[i].flags &= ~(apr_uint32_t)WSG_RF_DETECT;
        else
            recs[i].flags |= WSG_RF_DETECT;
    }
}

/* wsg_track_apply, with the one crawler check: a client whose User-Agent claims a major crawler
 * (ix->crawler, looked at by the caller only for a request that writes) adds what its address's
 * verification says (wsg_crawler_score: nothing once verified, everything plus a bonus for a
 * fake, held below the thresholds for a bounded time while the check is pending), and a write
 * that starts a check marks the record pending. Everything else is as the track says. */
static int track(const wsg_inspect_conf_t *c, wsg_inspect_t *ix, const wsg_track_t *t,
                 wsg_rec_t *recs, int n)
{
    wsg_track_t adj = *t;
    double any = ix->score < t->score ? ix->score : t->score;
    int mask;

    ix->crawler_queue = 0;
    if (ix->crawler)
        adj.score = wsg_crawler_score(c->policy, &recs[0], n > 1 ? &recs[1] : NULL, t->now, any,
                                      t->score - any, &adj.set_flags, &ix->crawler_queue);
    mask = wsg_track_apply(c->policy, &adj, recs, n, &ix->res);
    if (ix->crawler_queue && mask > 0 && (mask & 1)) {
        wsg_crawler_mark(&recs[0], t->now);
        ix->res.rec = recs[0];
    }
    else
        ix->crawler_queue = 0;
    return mask;
}

int wsg_inspect_apply(const wsg_inspect_conf_t *c, wsg_inspect_t *ix, const wsg_addr_t *addr,
                      apr_time_t now, wsg_rec_t *recs, int n)
{
    wsg_rec_t save[2];
    wsg_track_t t;
    int mask;

    if (n > 2)
        n = 2;
    memcpy(save, recs, sizeof(wsg_rec_t) * (size_t)n);
    memset(&t, 0, sizeof(t));
    t.score = ix->record;
    t.now = now;
    t.rule = ix->m.first ? ix->m.first->id : 0;
    t.path = ix->norm.path;
    t.set_flags = ix->set_flags;
    t.missed = ix->miss_counted;
    t.addr = addr;
    ix->aborted = 0;
    ix->was_banned = !ix->enforce && save[0].ban_until > now;
    mask = track(c, ix, &t, recs, n);
    if (ix->header_write != 2) {
        mark_detect(ix, save, recs, n, now);
        return mask;
    }
    /* A probe that may cross: the record as it is now decides. */
    if (ix->res.action == WSG_ACT_PASS) {
        memcpy(recs, save, sizeof(wsg_rec_t) * (size_t)n);
        ix->aborted = 1;
        ix->crawler_queue = 0;      /* nothing written: the log phase's write starts the check */
        return -1;
    }
    /* It crosses and is refused: scored in full, as the tier case. */
    ix->alert = ix->score > 0 && ix->file == WSG_FILE_EXISTS;
    if (ix->alert || refused_miss(ix)) {
        memcpy(recs, save, sizeof(wsg_rec_t) * (size_t)n);
        if (refused_miss(ix)) {
            t.score += ix->miss;
            t.missed = ix->miss_counted = 1;
        }
        if (ix->alert)
            t.set_flags |= WSG_RF_SHELL_HIT;
        ix->record = t.score;
        ix->set_flags = t.set_flags;
        mask = track(c, ix, &t, recs, n);
    }
    mark_detect(ix, save, recs, n, now);
    return mask;
}

static const char *event_name(const wsg_inspect_t *ix)
{
    if (ix->alert)
        return "alert";
    if (ix->res.action == WSG_ACT_BAN && !ix->was_banned)
        return "ban";
    return ix->m.n > 0 ? "probe" : "miss";
}

wsg_do_t wsg_inspect_written(const wsg_inspect_conf_t *c, const wsg_facts_t *f,
                             wsg_inspect_t *ix, int ok)
{
    apr_interval_time_t retry = 0;
    int header = ix->header_write;

    ix->event = NULL;
    if (header == 2 && (!ok || ix->aborted)) {
        /* Nothing written: the log phase decides (and writes, once). */
        ix->header_write = 0;
        ix->alert = 0;
        return ix->todo = WSG_DO_LATER;
    }
    ix->written = 1;
    if (!ok) {
        /* Fail open: record nothing; refuse what the tier as read refuses; an alert is still
         * an alert. */
        ix->event = ix->alert ? "alert" : NULL;
        ix->event_status = header ? ix->status : f->status;
        return ix->todo = header == 1 ? WSG_DO_REFUSE : WSG_DO_PASS;
    }
    ix->event = event_name(ix);
    if (!header) {
        ix->action = ix->res.action;
        ix->event_status = f->status;
        return ix->todo = WSG_DO_PASS;
    }
    if (ix->res.action != WSG_ACT_PASS) {
        ix->action = ix->res.action;
        ix->status = ix->action == WSG_ACT_BAN ? WSG_HTTP_FORBIDDEN : WSG_HTTP_TOO_MANY;
        ix->retry_after = 0;
        if (ix->action == WSG_ACT_RATELIMIT) {
            wsg_policy_check(c->policy, &ix->res.rec, f->now, &retry);
            ix->retry_after = (apr_int64_t)retry;
        }
    }
    /* else: a tier-refused request whose write left it just below (decay): the tier as read. */
    ix->event_status = ix->status;
    return ix->todo = WSG_DO_REFUSE;
}

wsg_inspect_t *wsg_inspect_keep(const wsg_inspect_t *ix, apr_pool_t *p)
{
    wsg_inspect_t *k = apr_pmemdup(p, ix, sizeof(*ix));
    char *path;

    if (!ix->norm.path)
        return k;
    path = apr_pstrmemdup(p, ix->norm.path, ix->norm.path_len);
    k->norm.path = path;
    k->norm.basename = path + (ix->norm.basename - ix->norm.path);
    k->norm.ext = path + (ix->norm.ext - ix->norm.path);
    return k;
}

const char *wsg_inspect_action_name(const wsg_inspect_t *ix, int enforce)
{
    if (ix->event && !strcmp(ix->event, "alert") && ix->todo != WSG_DO_REFUSE)
        return "alert";
    if (!enforce && ix->action != WSG_ACT_PASS)
        return "detect";
    return ix->action == WSG_ACT_BAN ? "ban" : ix->action == WSG_ACT_RATELIMIT ? "ratelimit" : "pass";
}
