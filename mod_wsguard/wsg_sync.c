/* wsg_sync: one step of the CrowdSec sync (push the outbox, pull and apply the stream), with
 * backoff; see wsg_sync.h for the rules of the merge. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>

#include "wsg_sync.h"

#define SYNC_VERSION      1
#define SYNC_META         "sync"
#define MAX_EXPAND        256
#define DELETE_RECENT     apr_time_from_sec(300)
/* a decision seen again (our own pushed one, or a resync) comes back with its remaining time cut
 * to seconds or shifted by the answer's latency: not a longer ban */
#define LONGER_SLACK      apr_time_from_sec(5)
#define UPDATE_KEYS       4      /* keys per store write transaction (wsg_store_update's max) */

struct wsg_sync_t {
    apr_status_t      push_last_rv;   /* of the last failed attempt, this process */
    apr_status_t      pull_last_rv;
    wsg_store_t      *st;
    wsg_outbox_t     *ob;
    wsg_lapi_t       *cl;
    wsg_sync_opts_t   o;
    wsg_sync_state_t  state;
    int               pulled_once;    /* this process made its startup=true pull */
    int               logged_in;      /* the machine's credentials were accepted once */
};

apr_status_t wsg_sync_state_read(wsg_outbox_t *ob, wsg_sync_state_t *out)
{
    apr_size_t len = sizeof(*out);
    apr_status_t rv;
    memset(out, 0, sizeof(*out));
    rv = wsg_outbox_meta_get(ob, SYNC_META, out, &len);
    if (rv == APR_NOTFOUND || (rv == APR_SUCCESS && (len != sizeof(*out)
                                                     || out->version != SYNC_VERSION))) {
        memset(out, 0, sizeof(*out));
        return APR_SUCCESS;
    }
    return rv;
}

apr_status_t wsg_sync_create(apr_pool_t *p, wsg_store_t *st, wsg_outbox_t *ob, wsg_lapi_t *cl,
                             const wsg_sync_opts_t *opts, wsg_sync_t **out)
{
    wsg_sync_t *s = apr_pcalloc(p, sizeof(*s));
    apr_status_t rv;
    s->st = st;
    s->ob = ob;
    s->cl = cl;
    if (opts)
        s->o = *opts;
    if (s->o.batch <= 0)
        s->o.batch = 500;
    if (s->o.max_batches <= 0)
        s->o.max_batches = 40;
    if (s->o.backoff_min <= 0)
        s->o.backoff_min = apr_time_from_sec(1);
    if (s->o.backoff_max <= 0)
        s->o.backoff_max = apr_time_from_sec(300);
    if (s->o.backoff_max < s->o.backoff_min)
        s->o.backoff_max = s->o.backoff_min;
    if (s->o.resync <= 0)
        s->o.resync = apr_time_from_sec(900);
    if ((rv = wsg_sync_state_read(ob, &s->state)) != APR_SUCCESS)
        return rv;
    s->state.version = SYNC_VERSION;
    /* a new sync (start, graceful restart, new credentials) tries at once */
    s->state.push_next = s->state.pull_next = 0;
    *out = s;
    return APR_SUCCESS;
}

/* ---- merges (pure) -------------------------------------------------------------------------- */

static void set_source(wsg_rec_t *rec, const char *text)
{
    memset(rec->source, 0, sizeof(rec->source));
    if (text)
        apr_cpystrn(rec->source, text, sizeof(rec->source));
}

int wsg_sync_merge_new(wsg_rec_t *rec, int found, apr_time_t until, const char *origin,
                       apr_time_t now)
{
    return wsg_sync_merge_new_ex(rec, found, until, origin, now, 0);
}

int wsg_sync_merge_new_ex(wsg_rec_t *rec, int found, apr_time_t until, const char *origin,
                          apr_time_t now, int listed)
{
    if (until <= now)
        return 0;
    if (!found) {
        memset(rec, 0, sizeof(*rec));
        rec->score_time = now;
    }
    if (rec->ban_until <= now) {
        /* an operator unbanned it here: a full listing repeats the decisions the LAPI still
         * holds, older than that unban (its delete was refused, or this server does not push);
         * only a decision new since the last pull bans it again */
        if (listed && (rec->flags & WSG_RF_UNBANNED))
            return 0;
        /* nothing in force: the pulled decision is the ban, labelled as such */
        rec->ban_until = until;
        rec->flags = (rec->flags & ~(apr_uint32_t)(WSG_RF_MANUAL | WSG_RF_IMPORTED
                                                   | WSG_RF_UNBANNED))
                     | WSG_RF_CROWDSEC;
        set_source(rec, origin);
        return 1;
    }
    if (rec->flags & WSG_RF_CROWDSEC) {
        /* a pulled ban in force: only ever lengthened (the stream sends the longest decision);
         * the same decision seen again differs by the latency of the answer, not a change */
        if (until <= rec->ban_until + LONGER_SLACK)
            return 0;
        rec->ban_until = until;
        if (!(rec->flags & (WSG_RF_MANUAL | WSG_RF_IMPORTED)) && origin)
            set_source(rec, origin);
        return 1;
    }
    /* a local ban in force: never shortened, never relabelled */
    if (until <= rec->ban_until + LONGER_SLACK)
        return 0;
    rec->ban_until = until;
    rec->flags |= WSG_RF_CROWDSEC;
    return 1;
}

int wsg_sync_merge_deleted(wsg_rec_t *rec, int found, const char *origin, apr_time_t deleted_at,
                           int pending, apr_time_t now)
{
    if (!found || rec->ban_until <= now)
        return 0;
    if (!(rec->flags & WSG_RF_CROWDSEC)) {
        if (!origin || strcmp(origin, WSG_LAPI_ORIGIN) || pending || deleted_at <= rec->last_seen
            || deleted_at < now - DELETE_RECENT)
            return 0;
    }
    rec->ban_until = now;
    rec->flags &= ~(apr_uint32_t)(WSG_RF_CROWDSEC | WSG_RF_MANUAL | WSG_RF_IMPORTED);
    set_source(rec, NULL);
    return rec->hits == 0 && !(rec->flags & WSG_RF_SHELL_HIT) ? 2 : 1;
}

const char *wsg_sync_rec_origin(const wsg_rec_t *rec, apr_time_t now)
{
    if (rec->ban_until <= now)
        return NULL;
    if (rec->flags & WSG_RF_MANUAL)
        return "manual";
    if (rec->flags & WSG_RF_IMPORTED)
        return "imported";
    /* a local ban a pulled decision lengthened keeps its empty source: still ours */
    if ((rec->flags & WSG_RF_CROWDSEC) && rec->source[0])
        return "crowdsec";
    return "local";
}

/* ---- keys of a decision ------------------------------------------------------------------------ */

/* Adds v to the big-endian number in b[0..last], carrying. */
static void add_at(unsigned char *b, int last, unsigned v)
{
    for (int i = last; i >= 0 && v; i--) {
        unsigned s = b[i] + (v & 0xff);
        b[i] = (unsigned char)s;
        v = (v >> 8) + (s >> 8);
    }
}

/* The store keys for a decision's value: 0 when it is not something we can enforce. */
static int decision_keys(const wsg_lapi_decision_t *d, wsg_addr_t *keys, int max)
{
    wsg_addr_t base;
    int is_range, full, pfx, tbits, n, i;

    if (!d->type || strcasecmp(d->type, "ban"))
        return 0;
    if (!strcasecmp(d->scope, "Ip"))
        is_range = 0;
    else if (!strcasecmp(d->scope, "Range"))
        is_range = 1;
    else
        return 0;
    if (wsg_addr_parse(d->value, &base) != APR_SUCCESS)
        return 0;
    full = base.family == 4 ? 32 : 128;
    pfx = base.family == 4 ? 24 : 64;
    if (!is_range && base.bits != full)
        return 0;                      /* an "Ip" decision holding a CIDR: not ours to guess */
    if (base.bits == full || base.bits == pfx) {
        keys[0] = base;
        return 1;
    }
    /* expand into the keys the request path looks up: prefixes, or addresses */
    tbits = base.bits < pfx ? pfx : full;
    if (tbits - base.bits > 8)
        return -1;
    n = 1 << (tbits - base.bits);
    if (n > max)
        return -1;
    for (i = 0; i < n; i++) {
        keys[i] = base;
        keys[i].bits = (unsigned char)tbits;
        add_at(keys[i].bytes, tbits / 8 - 1, (unsigned)i);
    }
    return n;
}

/* ---- apply --------------------------------------------------------------------------------------- */

typedef struct apply_t {
    int                         deleted;      /* which list */
    const wsg_lapi_decision_t  *d;
    apr_time_t                  until, deleted_at, now;
    apr_hash_t                 *pending;
    const wsg_addr_t           *keys;
    int                         gone[UPDATE_KEYS];
    int                         changed;
    int                         listed;       /* a startup=true listing, not a delta */
    const char                 *label;        /* the record's source for a new pulled ban */
} apply_t;

static int apply_fn(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    apply_t *a = baton;
    int i, mask = 0;
    for (i = 0; i < n; i++) {
        int r;
        a->gone[i] = 0;
        if (a->deleted) {
            int pend = a->pending && apr_hash_get(a->pending, &a->keys[i], sizeof(wsg_addr_t)) != NULL;
            r = wsg_sync_merge_deleted(&recs[i], found[i], a->d->origin, a->deleted_at, pend,
                                       a->now);
            if (r == 2)
                a->gone[i] = 1;
        }
        else
            r = wsg_sync_merge_new_ex(&recs[i], found[i], a->until, a->label, a->now,
                                      a->listed);
        if (r) {
            mask |= 1 << i;
            a->changed++;
        }
    }
    return mask;
}

/* What a pulled ban's record says of it (wsguardctl list/show, 31 bytes): the LAPI's origin, and
 * who made it where the decision says: cscli's machine ("manual 'ban' from 'web01'"), or the rule
 * tag of a peer's mod_wsguard (scenario wsguard/TAG). The stream does not name the machine of an
 * alert; `cscli alerts list -a` does. */
static const char *source_label(apr_pool_t *p, const wsg_lapi_decision_t *d)
{
    const char *sc = d->scenario, *from, *end;
    if (!d->origin)
        return NULL;
    if (sc && !strcmp(d->origin, "cscli") && (from = strstr(sc, " from '")) != NULL
        && (end = strchr(from + 7, '\'')) != NULL && end > from + 7)
        return apr_pstrcat(p, d->origin, "/", apr_pstrmemdup(p, from + 7, end - from - 7), NULL);
    if (sc && !strcmp(d->origin, WSG_LAPI_ORIGIN)
        && !strncmp(sc, WSG_LAPI_SCENARIO_PFX, strlen(WSG_LAPI_SCENARIO_PFX))
        && sc[strlen(WSG_LAPI_SCENARIO_PFX)])
        return apr_pstrcat(p, d->origin, "/", sc + strlen(WSG_LAPI_SCENARIO_PFX), NULL);
    return d->origin;
}

static int allowed(wsg_sync_t *s, apr_pool_t *p, const wsg_addr_t *k)
{
    char buf[WSG_ADDR_STRLEN];
    wsg_addr_t a = *k;
    if (!s->o.allow)
        return 0;
    a.bits = a.family == 4 ? 32 : 128;       /* a prefix: its first address */
    return wsg_allow_test_str(s->o.allow, p, wsg_addr_format(&a, buf, sizeof(buf)));
}

static apr_status_t apply_list(wsg_sync_t *s, apr_pool_t *p, const apr_array_header_t *list,
                               int deleted, apr_hash_t *pending, apr_time_t now,
                               wsg_sync_report_t *rep)
{
    wsg_addr_t keys[MAX_EXPAND], use[MAX_EXPAND];
    int i;
    for (i = 0; list && i < list->nelts; i++) {
        const wsg_lapi_decision_t *d = &APR_ARRAY_IDX(list, i, wsg_lapi_decision_t);
        int n = decision_keys(d, keys, MAX_EXPAND), m = 0, j;
        apply_t a;
        if (n <= 0) {
            rep->ignored++;
            continue;
        }
        for (j = 0; j < n; j++)
            if (!allowed(s, p, &keys[j])
                && (deleted || !pending || !apr_hash_get(pending, &keys[j], sizeof(wsg_addr_t))))
                use[m++] = keys[j];
        if (!m) {
            rep->ignored++;
            continue;
        }
        memset(&a, 0, sizeof(a));
        a.deleted = deleted;
        a.d = d;
        a.now = now;
        a.pending = pending;
        a.listed = rep->startup;
        a.label = source_label(p, d);
        a.deleted_at = now + d->duration;          /* duration < 0 for a deleted decision */
        {
            apr_interval_time_t dur = d->duration;
            if (s->o.max_ban > 0 && dur > s->o.max_ban)
                dur = s->o.max_ban;
            a.until = now + dur;
        }
        for (j = 0; j < m; j += UPDATE_KEYS) {
            int k = m - j < UPDATE_KEYS ? m - j : UPDATE_KEYS, g, found[UPDATE_KEYS];
            wsg_rec_t cur[UPDATE_KEYS];
            apr_status_t rv;
            a.keys = &use[j];
            /* a resync repeats what the store holds already: read first (no lock, no write
             * transaction), write only what changes (re-checked under the write lock) */
            if (wsg_store_get_many(s->st, &use[j], k, cur, found) == APR_SUCCESS) {
                int before = a.changed;
                if (!apply_fn(&a, cur, found, k)) {
                    a.changed = before;
                    continue;
                }
                a.changed = before;
            }
            rv = wsg_store_update(s->st, &use[j], k, apply_fn, &a);
            if (rv != APR_SUCCESS)
                return rv;
            for (g = 0; g < k; g++)
                if (a.gone[g])
                    wsg_store_delete(s->st, &use[j + g]);
        }
        if (!a.changed)
            rep->unchanged++;
        else if (deleted)
            rep->lifted++;
        else
            rep->added++;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_sync_apply(wsg_sync_t *s, apr_pool_t *p, const wsg_lapi_stream_t *stream,
                            apr_time_t now, wsg_sync_report_t *rep)
{
    apr_hash_t *bans = NULL, *unbans = NULL;
    apr_status_t rv;
    if (stream->deleted && stream->deleted->nelts && s->ob
        && (rv = wsg_outbox_pending_keys(s->ob, p, WSG_OUTBOX_BAN, &bans)) != APR_SUCCESS)
        return rv;
    if (stream->added && stream->added->nelts && s->ob
        && (rv = wsg_outbox_pending_keys(s->ob, p, WSG_OUTBOX_UNBAN, &unbans)) != APR_SUCCESS)
        return rv;
    /* deletions first: an address deleted and re-added in the same delta ends up banned */
    if ((rv = apply_list(s, p, stream->deleted, 1, bans, now, rep)) != APR_SUCCESS)
        return rv;
    /* an unban not yet sent (its push failed) is not undone by the decision it will delete */
    return apply_list(s, p, stream->added, 0, unbans, now, rep);
}

/* ---- push ------------------------------------------------------------------------------------------ */

static apr_interval_time_t backoff(const wsg_sync_t *s, apr_uint32_t failures)
{
    apr_interval_time_t d = s->o.backoff_min;
    while (failures-- > 1 && d < s->o.backoff_max)
        d *= 2;
    return d < s->o.backoff_max ? d : s->o.backoff_max;
}

static void put_err(char *dst, const char *msg)
{
    apr_cpystrn(dst, msg ? msg : "", WSG_SYNC_ERRLEN);
}

static const char *scenario_of(apr_pool_t *p, const wsg_outbox_item_t *it)
{
    char tag[sizeof(it->tag) + 1];
    apr_cpystrn(tag, it->tag, sizeof(it->tag));
    return apr_pstrcat(p, WSG_LAPI_SCENARIO_PFX, *tag ? tag : "probe", NULL);
}

/* Pushes n BAN items; removes what the LAPI took or refused for good. Returns the LAPI's
 * status (APR_SUCCESS, or a transient error: stop and back off) or a store error via *fatal. */
static apr_status_t push_bans(wsg_sync_t *s, apr_pool_t *p, const wsg_outbox_entry_t *e, int n,
                              apr_time_t now, wsg_sync_report_t *rep, apr_status_t *fatal)
{
    wsg_lapi_ban_t *bans = apr_pcalloc(p, sizeof(*bans) * n);
    int *idx = apr_pcalloc(p, sizeof(int) * n);
    apr_uint64_t *done = apr_pcalloc(p, sizeof(*done) * n);
    int nb = 0, nd = 0, i;
    wsg_lapi_push_result_t res;
    const char *err = NULL;
    apr_status_t rv;

    for (i = 0; i < n; i++) {
        const wsg_outbox_item_t *it = &e[i].item;
        char buf[WSG_ADDR_STRLEN], paths[sizeof(it->paths) + 1];
        if (it->ban_until - now < apr_time_from_sec(1)) {
            done[nd++] = e[i].seq;          /* ended while waiting: nothing to share */
            rep->expired++;
            continue;
        }
        apr_cpystrn(paths, it->paths, sizeof(it->paths));
        bans[nb].value = apr_pstrdup(p, wsg_addr_format(&it->key, buf, sizeof(buf)));
        bans[nb].is_range = wsg_addr_is_prefix(&it->key);
        bans[nb].duration = it->ban_until - now;
        bans[nb].scenario = scenario_of(p, it);
        bans[nb].probes = it->probes;
        bans[nb].paths = apr_pstrdup(p, paths);
        idx[nb++] = i;
    }
    rv = nb ? wsg_lapi_push(s->cl, p, bans, nb, now, &res, &err) : APR_SUCCESS;
    if (rv == APR_SUCCESS) {
        for (i = 0; i < nb; i++)
            done[nd++] = e[idx[i]].seq;
        rep->pushed += nb;
        s->state.pushed += (apr_uint64_t)nb;
    }
    else if (rv == APR_EINVAL) {
        if (!rep->drop_msg)
            rep->drop_msg = err;
        if (res.nbad == 0 && nb > 1) {
            /* refused without naming the item: find it by sending them one by one */
            for (i = 0; i < nb; i++) {
                rv = push_bans(s, p, &e[idx[i]], 1, now, rep, fatal);
                if (*fatal || (rv != APR_SUCCESS && rv != APR_EINVAL))
                    break;
            }
            if (nd && (*fatal = wsg_outbox_remove(s->ob, done, nd)) != APR_SUCCESS)
                return rv;
            return rv == APR_EINVAL ? APR_SUCCESS : rv;
        }
        for (i = 0; i < nb; i++)
            if (res.nbad == 0 || res.bad[i]) {
                done[nd++] = e[idx[i]].seq;
                rep->dropped++;
                s->state.dropped++;
            }
        rv = APR_SUCCESS;          /* the rest goes with the next batch */
    }
    else
        rep->push_err = err;
    if (nd && (*fatal = wsg_outbox_remove(s->ob, done, nd)) != APR_SUCCESS)
        return rv;
    return rv;
}

static apr_status_t push_unban(wsg_sync_t *s, apr_pool_t *p, const wsg_outbox_entry_t *e,
                               apr_time_t now, wsg_sync_report_t *rep, apr_status_t *fatal)
{
    char buf[WSG_ADDR_STRLEN];
    const char *err = NULL;
    int n = 0;
    apr_status_t rv = wsg_lapi_delete(s->cl, p, wsg_addr_format(&e->item.key, buf, sizeof(buf)),
                                      wsg_addr_is_prefix(&e->item.key), now, &n, &err);
    if (rv == APR_SUCCESS || rv == APR_EINVAL) {
        if (rv == APR_EINVAL) {
            rep->dropped++;
            s->state.dropped++;
            if (!rep->drop_msg)
                rep->drop_msg = err;
        }
        else {
            rep->unbanned++;
            s->state.deleted++;
        }
        *fatal = wsg_outbox_remove(s->ob, &e->seq, 1);
        return APR_SUCCESS;
    }
    rep->push_err = err;
    return rv;
}

static apr_status_t do_push(wsg_sync_t *s, apr_pool_t *p, apr_time_t now, wsg_sync_report_t *rep)
{
    int b;
    apr_status_t rv = APR_SUCCESS, fatal = APR_SUCCESS;

    /* log in at the start even with nothing to push: wrong credentials are said at once, not
     * at the first ban (the token is then renewed only when a push needs it) */
    if (!s->logged_in) {
        const char *err = NULL;
        if ((rv = wsg_lapi_login(s->cl, p, now, &err)) != APR_SUCCESS) {
            rep->push_rv = rv;
            rep->push_err = err;
            return APR_SUCCESS;
        }
        s->logged_in = 1;
    }
    for (b = 0; b < s->o.max_batches; b++) {
        apr_array_header_t *arr;
        const wsg_outbox_entry_t *e;
        int run;
        apr_pool_t *sub;
        if ((fatal = wsg_outbox_peek(s->ob, p, s->o.batch, &arr)) != APR_SUCCESS)
            return fatal;
        if (!arr->nelts)
            break;
        e = (const wsg_outbox_entry_t *)arr->elts;
        apr_pool_create(&sub, p);
        /* keep the order: a ban then an unban of one key must reach the LAPI in that order */
        if (e[0].item.kind == WSG_OUTBOX_UNBAN) {
            rv = push_unban(s, sub, &e[0], now, rep, &fatal);
        }
        else {
            for (run = 1; run < arr->nelts && e[run].item.kind != WSG_OUTBOX_UNBAN; run++)
                ;
            rv = push_bans(s, sub, e, run, now, rep, &fatal);
        }
        if (rep->push_err)
            rep->push_err = apr_pstrdup(p, rep->push_err);
        if (rep->drop_msg)
            rep->drop_msg = apr_pstrdup(p, rep->drop_msg);
        apr_pool_destroy(sub);
        if (fatal != APR_SUCCESS)
            return fatal;
        if (rv != APR_SUCCESS)
            break;
    }
    rep->push_rv = rv;
    return APR_SUCCESS;
}

/* A server that only pulls (no machine= credentials) cannot send what wsguardctl queued (its
 * unbans): those items would wait forever and keep the keys from every pulled decision. They
 * go; the record's WSG_RF_UNBANNED keeps a full listing from undoing the unban. Bounded. */
static apr_status_t drop_unsendable(wsg_sync_t *s, apr_pool_t *p, wsg_sync_report_t *rep)
{
    apr_array_header_t *arr;
    apr_uint64_t *seqs;
    apr_status_t rv;
    int i;
    if ((rv = wsg_outbox_peek(s->ob, p, 1000, &arr)) != APR_SUCCESS || !arr->nelts)
        return rv;
    seqs = apr_palloc(p, sizeof(*seqs) * (apr_size_t)arr->nelts);
    for (i = 0; i < arr->nelts; i++)
        seqs[i] = APR_ARRAY_IDX(arr, i, wsg_outbox_entry_t).seq;
    s->state.dropped += (apr_uint64_t)arr->nelts;
    rep->discarded += arr->nelts;
    return wsg_outbox_remove(s->ob, seqs, arr->nelts);
}

/* ---- the step ------------------------------------------------------------------------------------------ */

apr_status_t wsg_sync_step(wsg_sync_t *s, apr_pool_t *p, apr_time_t now, wsg_sync_report_t *rep)
{
    apr_status_t rv;
    wsg_sync_state_t *st = &s->state;

    memset(rep, 0, sizeof(*rep));
    /* backed off because the LAPI was unreachable: is it back? (one cheap GET for both) */
    if (s->cl && ((now < st->push_next && s->push_last_rv == APR_ECONNREFUSED)
                  || (now < st->pull_next && s->pull_last_rv == APR_ECONNREFUSED))) {
        rep->probed = 1;
        if (wsg_lapi_health(s->cl, p, NULL) == APR_SUCCESS) {
            if (s->push_last_rv == APR_ECONNREFUSED)
                st->push_next = 0;
            if (s->pull_last_rv == APR_ECONNREFUSED)
                st->pull_next = 0;
        }
    }
    if (s->cl && wsg_lapi_can_push(s->cl) && now >= st->push_next) {
        int was_failing = st->push_failures > 0;
        apr_time_t t0 = apr_time_now();
        rep->push_tried = 1;
        rv = do_push(s, p, now, rep);
        rep->push_time = apr_time_now() - t0;
        if (rv != APR_SUCCESS)
            return rv;
        if (rep->push_rv == APR_SUCCESS) {
            st->push_failures = 0;
            st->push_next = 0;
            st->last_push = now;
            put_err(st->push_err, "");
            rep->push_changed = was_failing;
        }
        else {
            st->push_failures++;
            st->push_next = now + backoff(s, st->push_failures);
            s->push_last_rv = rep->push_rv;
            put_err(st->push_err, rep->push_err);
            rep->push_changed = !was_failing;
        }
    }
    if (s->cl && wsg_lapi_can_pull(s->cl) && now >= st->pull_next) {
        int was_failing = st->pull_failures > 0;
        wsg_lapi_stream_t stream;
        const char *err = NULL;
        rep->pull_tried = 1;
        rep->startup = !s->pulled_once || now - st->last_resync >= s->o.resync;
        apr_time_t t0 = apr_time_now();
        rep->pull_rv = wsg_lapi_pull(s->cl, p, rep->startup, &stream, &err);
        rep->pull_time = apr_time_now() - t0;
        if (rep->pull_rv == APR_SUCCESS) {
            t0 = apr_time_now();
            rv = wsg_sync_apply(s, p, &stream, now, rep);
            rep->apply_time = apr_time_now() - t0;
            if (rv != APR_SUCCESS)
                return rv;
            st->pulled_new += (apr_uint64_t)stream.added->nelts;
            st->pulled_deleted += (apr_uint64_t)stream.deleted->nelts;
            st->pull_failures = 0;
            st->pull_next = 0;
            st->last_pull = now;
            if (rep->startup) {
                st->last_resync = now;
                s->pulled_once = 1;
            }
            put_err(st->pull_err, "");
            rep->pull_changed = was_failing;
        }
        else {
            rep->pull_err = err;
            st->pull_failures++;
            st->pull_next = now + backoff(s, st->pull_failures);
            s->pull_last_rv = rep->pull_rv;
            put_err(st->pull_err, err);
            rep->pull_changed = !was_failing;
        }
    }
    if (s->cl && !wsg_lapi_can_push(s->cl) && (rv = drop_unsendable(s, p, rep)) != APR_SUCCESS)
        return rv;
    if ((rv = wsg_outbox_count(s->ob, &rep->backlog)) != APR_SUCCESS)
        return rv;
    if (rep->push_tried || rep->pull_tried)
        return wsg_outbox_meta_put(s->ob, SYNC_META, st, sizeof(*st));
    return APR_SUCCESS;
}
