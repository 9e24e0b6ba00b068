/* Unit tests for wsg_outbox and wsg_sync without a LAPI: the outbox keeps order across reopen,
 * the pure merges (a pulled ban never shortens or relabels a local one; deletions lift pulled
 * bans, and local ones only when recent, ours and not pending), the idempotent apply into a real
 * store (ranges, allowlist, repeated deletes, other types and scopes ignored), and a step
 * against a port with no LAPI (items kept, backoff, one state change reported). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "wsg_test.h"
#include <apr_strings.h>
#include "wsg_sync.h"

typedef struct fx_t {
    apr_pool_t   *pool;
    char          dir[64];
    wsg_store_t  *st;
    wsg_outbox_t *ob;
} fx_t;

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[512];
    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        rm_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    const char *err = NULL;
    if (!fx || apr_pool_create(&fx->pool, NULL) != APR_SUCCESS)
        return -1;
    strcpy(fx->dir, "/tmp/wsg-test-sync-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    if (wsg_store_prepare(fx->pool, fx->dir, NULL, -1, -1, &err) != APR_SUCCESS
        || wsg_store_open(fx->pool, fx->dir, NULL, &fx->st, &err) != APR_SUCCESS
        || wsg_outbox_open(fx->pool, apr_pstrcat(fx->pool, fx->dir, "/" WSG_OUTBOX_FILE, NULL), 0,
                           &fx->ob, &err) != APR_SUCCESS) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    apr_pool_destroy(fx->pool);
    rm_tree(fx->dir);
    free(fx);
    return 0;
}

static wsg_addr_t A(const char *s)
{
    wsg_addr_t a;
    assert_int_equal(wsg_addr_parse(s, &a), APR_SUCCESS);
    return a;
}

#define NOW  apr_time_from_sec(1800000000)
#define SEC(n) apr_time_from_sec(n)

/* ---- outbox ---- */

static void test_outbox_fifo(void **state)
{
    fx_t *fx = *state;
    wsg_outbox_item_t it;
    apr_array_header_t *arr;
    apr_size_t n = 99;
    apr_hash_t *keys;
    wsg_addr_t a1 = A("192.0.2.1"), a2 = A("192.0.2.2"), a3 = A("198.51.100.0/24");
    const wsg_outbox_entry_t *e;
    apr_uint64_t rm[2];
    const char *err = NULL;
    wsg_outbox_t *again;
    apr_pool_t *sub;

    assert_int_equal(wsg_outbox_count(fx->ob, &n), APR_SUCCESS);
    assert_int_equal((int)n, 0);
    wsg_outbox_ban_item(&it, &a1, NOW, NOW + SEC(3600), 7, "webshell-probe", "/a.php\n/b.php");
    assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);
    wsg_outbox_unban_item(&it, &a2, NOW);
    assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);
    wsg_outbox_ban_item(&it, &a3, NOW, NOW + SEC(60), 0,
                        "a-tag-that-is-much-longer-than-the-forty-eight-bytes-we-keep", NULL);
    assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);

    assert_int_equal(wsg_outbox_peek(fx->ob, fx->pool, 10, &arr), APR_SUCCESS);
    assert_int_equal(arr->nelts, 3);
    e = (const wsg_outbox_entry_t *)arr->elts;
    assert_true(e[0].seq < e[1].seq && e[1].seq < e[2].seq);
    assert_int_equal(e[0].item.kind, WSG_OUTBOX_BAN);
    assert_string_equal(e[0].item.tag, "webshell-probe");
    assert_string_equal(e[0].item.paths, "/a.php\n/b.php");
    assert_int_equal(e[0].item.probes, 7);
    assert_int_equal(e[1].item.kind, WSG_OUTBOX_UNBAN);
    assert_int_equal((int)strlen(e[2].item.tag), 47);     /* cut, NUL-terminated */
    assert_int_equal(wsg_outbox_pending_keys(fx->ob, fx->pool, WSG_OUTBOX_BAN, &keys),
                     APR_SUCCESS);
    assert_int_equal(apr_hash_count(keys), 2);             /* BAN items only */
    assert_non_null(apr_hash_get(keys, &a1, sizeof(a1)));
    assert_null(apr_hash_get(keys, &a2, sizeof(a2)));
    assert_int_equal(wsg_outbox_pending_keys(fx->ob, fx->pool, WSG_OUTBOX_UNBAN, &keys),
                     APR_SUCCESS);
    assert_int_equal(apr_hash_count(keys), 1);
    assert_non_null(apr_hash_get(keys, &a2, sizeof(a2)));

    rm[0] = e[0].seq;
    rm[1] = 424242;                                         /* missing: ignored */
    assert_int_equal(wsg_outbox_remove(fx->ob, rm, 2), APR_SUCCESS);
    assert_int_equal(wsg_outbox_peek(fx->ob, fx->pool, 1, &arr), APR_SUCCESS);
    assert_int_equal(arr->nelts, 1);
    assert_int_equal(((wsg_outbox_entry_t *)arr->elts)[0].item.kind, WSG_OUTBOX_UNBAN);

    /* another handle (another process would do the same) sees the items; new ones go last */
    apr_pool_create(&sub, fx->pool);
    assert_int_equal(wsg_outbox_open(sub, apr_pstrcat(sub, fx->dir, "/" WSG_OUTBOX_FILE, NULL), 0,
                                     &again, &err), APR_SUCCESS);
    assert_int_equal(wsg_outbox_count(again, &n), APR_SUCCESS);
    assert_int_equal((int)n, 2);
    wsg_outbox_ban_item(&it, &a1, NOW, NOW + SEC(3600), 1, "x", NULL);
    assert_int_equal(wsg_outbox_put(again, &it), APR_SUCCESS);
    apr_pool_destroy(sub);
    assert_int_equal(wsg_outbox_peek(fx->ob, fx->pool, 10, &arr), APR_SUCCESS);
    assert_int_equal(arr->nelts, 3);
    assert_string_equal(((wsg_outbox_entry_t *)arr->elts)[2].item.tag, "x");
}

static void test_outbox_meta(void **state)
{
    fx_t *fx = *state;
    wsg_sync_state_t s;
    char buf[8];
    apr_size_t len = sizeof(buf);
    assert_int_equal(wsg_outbox_meta_get(fx->ob, "nope", buf, &len), APR_NOTFOUND);
    assert_int_equal(wsg_sync_state_read(fx->ob, &s), APR_SUCCESS);   /* none yet: zeroed */
    assert_true(s.last_push == 0 && s.pushed == 0);
    assert_int_equal(wsg_outbox_meta_put(fx->ob, "k", "abc", 3), APR_SUCCESS);
    len = sizeof(buf);
    assert_int_equal(wsg_outbox_meta_get(fx->ob, "k", buf, &len), APR_SUCCESS);
    assert_int_equal((int)len, 3);
    assert_memory_equal(buf, "abc", 3);
}

/* ---- pure merges ---- */

static void test_merge_new(void **state)
{
    wsg_rec_t r;
    (void)state;
    /* nothing there: a pulled ban, labelled */
    assert_int_equal(wsg_sync_merge_new(&r, 0, NOW + SEC(3600), "cscli", NOW), 1);
    assert_true(r.ban_until == NOW + SEC(3600));
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
    assert_string_equal(r.source, "cscli");
    assert_int_equal(r.hits, 0);
    /* the same again: nothing to do (idempotent); shorter: never shortened */
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(3600), "cscli", NOW), 0);
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(3601), "cscli", NOW + SEC(1)), 0);
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(60), "cscli", NOW), 0);
    assert_true(r.ban_until == NOW + SEC(3600));
    /* longer: lengthened */
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(7200), "crowdsec", NOW), 1);
    assert_true(r.ban_until == NOW + SEC(7200));
    assert_string_equal(r.source, "crowdsec");
    /* an expired decision (until <= now) writes nothing */
    assert_int_equal(wsg_sync_merge_new(&r, 0, NOW, "cscli", NOW), 0);

    /* a local ban in force (scored: no origin flag) */
    memset(&r, 0, sizeof(r));
    r.hits = 9;
    r.last_seen = NOW - SEC(10);
    r.ban_until = NOW + SEC(86400);
    r.flags = WSG_RF_SHELL_HIT;
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(3600), "cscli", NOW), 0);
    assert_true(r.ban_until == NOW + SEC(86400));            /* not shortened */
    assert_int_equal(r.flags, WSG_RF_SHELL_HIT);              /* not relabelled */
    assert_string_equal(r.source, "");
    /* our own decision pulled back: seconds cut, a few seconds of slack, no change */
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(86402), WSG_LAPI_ORIGIN, NOW), 0);
    /* a longer one: lengthened, the local label stays, CROWDSEC added */
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(7 * 86400), "cscli", NOW), 1);
    assert_true(r.ban_until == NOW + SEC(7 * 86400));
    assert_int_equal(r.flags, WSG_RF_SHELL_HIT | WSG_RF_CROWDSEC);
    assert_string_equal(r.source, "");

    /* a manual ban keeps its flag and reason */
    memset(&r, 0, sizeof(r));
    r.ban_until = NOW + SEC(600);
    r.flags = WSG_RF_MANUAL;
    strcpy(r.source, "operator said so");
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(60), "cscli", NOW), 0);
    assert_int_equal(r.flags, WSG_RF_MANUAL);
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(6000), "cscli", NOW), 1);
    assert_int_equal(r.flags, WSG_RF_MANUAL | WSG_RF_CROWDSEC);
    assert_string_equal(r.source, "operator said so");

    /* an expired manual ban: the pulled one replaces it, labelled as pulled */
    memset(&r, 0, sizeof(r));
    r.ban_until = NOW - SEC(1);
    r.flags = WSG_RF_MANUAL;
    r.hits = 3;
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(60), "cscli", NOW), 1);
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
    assert_int_equal(r.hits, 3);                              /* history kept */
}

static void test_merge_deleted(void **state)
{
    wsg_rec_t r;
    (void)state;
    /* a pulled ban, deleted: the record held nothing else -> goes */
    assert_int_equal(wsg_sync_merge_new(&r, 0, NOW + SEC(3600), "cscli", NOW), 1);
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, "cscli", NOW - SEC(1), 0, NOW), 2);
    assert_true(r.ban_until <= NOW);
    assert_int_equal(r.flags, 0);
    /* again (the stream repeats deletions): nothing to do */
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, "cscli", NOW - SEC(1), 0, NOW), 0);
    assert_int_equal(wsg_sync_merge_deleted(&r, 0, "cscli", NOW - SEC(1), 0, NOW), 0);

    /* a pulled ban over a record with history: lifted, history kept */
    memset(&r, 0, sizeof(r));
    r.hits = 4;
    r.ban_until = NOW + SEC(60);
    r.flags = WSG_RF_CROWDSEC;
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, "crowdsec", NOW - SEC(3), 0, NOW), 1);
    assert_int_equal(r.hits, 4);
    assert_true(r.ban_until <= NOW);

    /* a local ban: only a recent deletion of one of ours, made after the last scored request */
    memset(&r, 0, sizeof(r));
    r.hits = 5;
    r.last_seen = NOW - SEC(20);
    r.ban_until = NOW + SEC(3600);
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, "cscli", NOW - SEC(1), 0, NOW), 0);
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, WSG_LAPI_ORIGIN, NOW - SEC(1), 1, NOW), 0);
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, WSG_LAPI_ORIGIN, NOW - SEC(30), 0, NOW), 0);
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, WSG_LAPI_ORIGIN, NOW - SEC(3600), 0, NOW), 0);
    assert_true(r.ban_until == NOW + SEC(3600));
    /* the operator deleted it centrally a second ago: lifted everywhere, here too */
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, WSG_LAPI_ORIGIN, NOW - SEC(1), 0, NOW), 1);
    assert_true(r.ban_until <= NOW);
    assert_int_equal(r.hits, 5);

    /* a stale decision listed by startup=true does not lift a fresh manual ban */
    memset(&r, 0, sizeof(r));
    r.ban_until = NOW + SEC(600);
    r.flags = WSG_RF_MANUAL;
    assert_int_equal(wsg_sync_merge_deleted(&r, 1, WSG_LAPI_ORIGIN, NOW - SEC(86400), 0, NOW), 0);
    assert_int_equal(r.flags, WSG_RF_MANUAL);
}

/* Issue 9: an operator's unban (WSG_RF_UNBANNED, ban_until = the unban time) is not undone by a
 * startup=true listing of the decisions the LAPI still holds; a decision of a delta (new since
 * the last pull) bans again and clears the flag. */
static void test_merge_unbanned(void **state)
{
    wsg_rec_t r;
    (void)state;
    memset(&r, 0, sizeof(r));
    r.hits = 7;
    r.ban_until = NOW - SEC(30);
    r.flags = WSG_RF_UNBANNED;
    assert_int_equal(wsg_sync_merge_new_ex(&r, 1, NOW + SEC(3600), "cscli", NOW, 1), 0);
    assert_true(r.ban_until == NOW - SEC(30));
    assert_int_equal(r.flags, WSG_RF_UNBANNED);
    /* the old entry point is a delta: a new decision bans again */
    assert_int_equal(wsg_sync_merge_new(&r, 1, NOW + SEC(3600), "cscli", NOW), 1);
    assert_true(r.ban_until == NOW + SEC(3600));
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
    assert_int_equal(r.hits, 7);
    /* a listing over a record that was never unbanned bans as before */
    memset(&r, 0, sizeof(r));
    assert_int_equal(wsg_sync_merge_new_ex(&r, 0, NOW + SEC(60), "cscli", NOW, 1), 1);
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
}

/* ---- apply into a real store ---- */

static wsg_lapi_decision_t dec(const char *value, const char *scope, const char *type,
                               const char *origin, apr_interval_time_t dur)
{
    wsg_lapi_decision_t d;
    memset(&d, 0, sizeof(d));
    d.value = value;
    d.scope = scope;
    d.type = type;
    d.origin = origin;
    d.scenario = "s";
    d.duration = dur;
    return d;
}

static wsg_lapi_stream_t stream_of(apr_pool_t *p, const wsg_lapi_decision_t *add, int na,
                                   const wsg_lapi_decision_t *del, int nd)
{
    wsg_lapi_stream_t s;
    int i;
    memset(&s, 0, sizeof(s));
    s.added = apr_array_make(p, 4, sizeof(wsg_lapi_decision_t));
    s.deleted = apr_array_make(p, 4, sizeof(wsg_lapi_decision_t));
    for (i = 0; i < na; i++)
        *(wsg_lapi_decision_t *)apr_array_push(s.added) = add[i];
    for (i = 0; i < nd; i++)
        *(wsg_lapi_decision_t *)apr_array_push(s.deleted) = del[i];
    return s;
}

static int get(fx_t *fx, const char *key, wsg_rec_t *r)
{
    wsg_addr_t a = A(key);
    return wsg_store_get(fx->st, &a, r) == APR_SUCCESS;
}

static int put_fn(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    (void)found;
    (void)n;
    recs[0] = *(const wsg_rec_t *)baton;
    return 1;
}

static void test_apply(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    wsg_sync_t *s;
    wsg_sync_opts_t o;
    wsg_sync_report_t rep;
    wsg_rec_t r;
    wsg_lapi_stream_t st;
    const char *err = NULL;
    wsg_allow_t *allow = wsg_allow_make(p);
    wsg_addr_t local = A("192.0.2.50");

    assert_int_equal(wsg_allow_add(allow, p, "10.9.0.0/16", &err), APR_SUCCESS);
    memset(&o, 0, sizeof(o));
    o.allow = allow;
    o.max_ban = SEC(86400);
    assert_int_equal(wsg_sync_create(p, fx->st, fx->ob, NULL, &o, &s), APR_SUCCESS);

    /* a local ban of 1 day, scored */
    {
        wsg_rec_t lr;
        memset(&lr, 0, sizeof(lr));
        lr.hits = 12;
        lr.last_seen = NOW - SEC(5);
        lr.ban_until = NOW + SEC(86400);
        lr.ban_count = 1;
        assert_int_equal(wsg_store_update(fx->st, &local, 1, put_fn, &lr), APR_SUCCESS);
    }

    {
        wsg_lapi_decision_t add[] = {
            dec("198.51.100.9", "Ip", "ban", "cscli", SEC(3600)),
            dec("192.0.2.50", "Ip", "ban", "cscli", SEC(60)),            /* shorter than local */
            dec("198.18.0.0/24", "Range", "ban", "crowdsec", SEC(600)),
            dec("203.0.113.0/23", "Range", "ban", "crowdsec", SEC(600)), /* two /24 prefixes */
            dec("2001:db8::7", "ip", "ban", "cscli", SEC(600)),          /* newer: any case */
            dec("10.9.1.1", "Ip", "ban", "cscli", SEC(600)),             /* allowlisted */
            dec("198.51.100.10", "Ip", "captcha", "cscli", SEC(600)),    /* not a ban */
            dec("alice", "Username", "ban", "cscli", SEC(600)),          /* not an address */
            dec("10.0.0.0/8", "Range", "ban", "cscli", SEC(600)),        /* too wide */
            dec("198.51.100.11", "Ip", "ban", "cscli", SEC(30 * 86400)), /* capped to 1 day */
        };
        st = stream_of(p, add, (int)(sizeof(add) / sizeof(add[0])), NULL, 0);
    }
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wsg_sync_apply(s, p, &st, NOW, &rep), APR_SUCCESS);
    assert_int_equal(rep.added, 5);
    assert_int_equal(rep.unchanged, 1);
    assert_int_equal(rep.ignored, 4);

    assert_true(get(fx, "198.51.100.9", &r));
    assert_true(r.ban_until == NOW + SEC(3600));
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
    assert_string_equal(r.source, "cscli");
    assert_true(get(fx, "192.0.2.50", &r));
    assert_true(r.ban_until == NOW + SEC(86400));
    assert_int_equal(r.flags, 0);
    assert_int_equal(r.hits, 12);
    assert_true(get(fx, "198.18.0.0/24", &r));
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
    assert_true(get(fx, "203.0.112.0/24", &r) || get(fx, "203.0.113.0/24", &r));
    assert_true(get(fx, "203.0.112.0/24", &r));
    assert_true(get(fx, "203.0.113.0/24", &r));
    assert_true(get(fx, "2001:db8::7", &r));
    assert_false(get(fx, "10.9.1.1", &r));
    assert_false(get(fx, "198.51.100.10", &r));
    assert_true(get(fx, "198.51.100.11", &r));
    assert_true(r.ban_until == NOW + SEC(86400));

    /* the same stream again (startup=true after a restart): nothing changes */
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(1), &rep), APR_SUCCESS);
    assert_int_equal(rep.added, 0);
    assert_int_equal(rep.unchanged, 6);

    /* deletions: the pulled ones go, the local one stays (not ours), repeats are harmless */
    {
        wsg_lapi_decision_t del[] = {
            dec("198.51.100.9", "Ip", "ban", "cscli", -SEC(1)),
            dec("192.0.2.50", "Ip", "ban", "cscli", -SEC(1)),
            dec("198.18.0.0/24", "Range", "ban", "crowdsec", -SEC(1)),
        };
        st = stream_of(p, NULL, 0, del, 3);
    }
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(2), &rep), APR_SUCCESS);
    assert_int_equal(rep.lifted, 2);
    assert_int_equal(rep.unchanged, 1);
    assert_false(get(fx, "198.51.100.9", &r));             /* held nothing else: gone */
    assert_false(get(fx, "198.18.0.0/24", &r));
    assert_true(get(fx, "192.0.2.50", &r));
    assert_true(r.ban_until == NOW + SEC(86400));
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(3), &rep), APR_SUCCESS);
    assert_int_equal(rep.lifted, 0);
    assert_int_equal(rep.unchanged, 3);

    /* an operator deleted our own pushed decision: the local ban is lifted too... */
    {
        wsg_lapi_decision_t del[] = { dec("192.0.2.50", "Ip", "ban", WSG_LAPI_ORIGIN, -SEC(1)) };
        wsg_outbox_item_t it;
        st = stream_of(p, NULL, 0, del, 1);
        /* ...but not while a push of that address is still pending */
        wsg_outbox_ban_item(&it, &local, NOW, NOW + SEC(86400), 12, "t", NULL);
        assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);
        memset(&rep, 0, sizeof(rep));
        assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(4), &rep), APR_SUCCESS);
        assert_int_equal(rep.lifted, 0);
        {
            apr_array_header_t *arr;
            assert_int_equal(wsg_outbox_peek(fx->ob, p, 1, &arr), APR_SUCCESS);
            assert_int_equal(wsg_outbox_remove(fx->ob, &((wsg_outbox_entry_t *)arr->elts)[0].seq,
                                               1), APR_SUCCESS);
        }
        memset(&rep, 0, sizeof(rep));
        assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(4), &rep), APR_SUCCESS);
        assert_int_equal(rep.lifted, 1);
        assert_true(get(fx, "192.0.2.50", &r));            /* history kept */
        assert_int_equal(r.hits, 12);
        assert_true(r.ban_until <= NOW + SEC(4));
    }

    /* an unban waiting in the outbox is not undone by the decision it is about to delete */
    {
        wsg_lapi_decision_t add[] = { dec("192.0.2.60", "Ip", "ban", WSG_LAPI_ORIGIN, SEC(600)) };
        wsg_addr_t k = A("192.0.2.60");
        wsg_outbox_item_t it;
        apr_array_header_t *arr;
        st = stream_of(p, add, 1, NULL, 0);
        wsg_outbox_unban_item(&it, &k, NOW);
        assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);
        memset(&rep, 0, sizeof(rep));
        assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(5), &rep), APR_SUCCESS);
        assert_int_equal(rep.ignored, 1);
        assert_false(get(fx, "192.0.2.60", &r));
        assert_int_equal(wsg_outbox_peek(fx->ob, p, 1, &arr), APR_SUCCESS);
        assert_int_equal(wsg_outbox_remove(fx->ob, &((wsg_outbox_entry_t *)arr->elts)[0].seq, 1),
                         APR_SUCCESS);
        memset(&rep, 0, sizeof(rep));
        assert_int_equal(wsg_sync_apply(s, p, &st, NOW + SEC(5), &rep), APR_SUCCESS);
        assert_int_equal(rep.added, 1);                      /* sent: the stream decides again */
    }
}

/* Through wsg_sync_apply: a startup=true pull (rep.startup) skips an unbanned record, a delta
 * bans it; the record's source names who made the decision (cscli's machine, a peer's tag). */
static void test_apply_unbanned_and_labels(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    wsg_sync_t *s;
    wsg_sync_report_t rep;
    wsg_lapi_stream_t st;
    wsg_rec_t r;
    wsg_addr_t k = A("192.0.2.90");
    wsg_lapi_decision_t add[2];

    assert_int_equal(wsg_sync_create(p, fx->st, fx->ob, NULL, NULL, &s), APR_SUCCESS);
    memset(&r, 0, sizeof(r));
    r.hits = 2;
    r.ban_until = NOW - SEC(10);
    r.flags = WSG_RF_UNBANNED;
    assert_int_equal(wsg_store_update(fx->st, &k, 1, put_fn, &r), APR_SUCCESS);
    add[0] = dec("192.0.2.90", "Ip", "ban", "cscli", SEC(600));
    add[0].scenario = "manual 'ban' from 'web01'";
    add[1] = dec("192.0.2.91", "Ip", "ban", WSG_LAPI_ORIGIN, SEC(600));
    add[1].scenario = WSG_LAPI_SCENARIO_PFX "php-shell";
    st = stream_of(p, add, 2, NULL, 0);
    memset(&rep, 0, sizeof(rep));
    rep.startup = 1;
    assert_int_equal(wsg_sync_apply(s, p, &st, NOW, &rep), APR_SUCCESS);
    assert_int_equal(rep.added, 1);
    assert_int_equal(rep.unchanged, 1);
    assert_true(get(fx, "192.0.2.90", &r));
    assert_true(r.ban_until <= NOW && (r.flags & WSG_RF_UNBANNED));
    assert_true(get(fx, "192.0.2.91", &r));
    assert_string_equal(r.source, "mod_wsguard/php-shell");
    /* the same decision in a delta: new evidence, banned again */
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wsg_sync_apply(s, p, &st, NOW, &rep), APR_SUCCESS);
    assert_true(get(fx, "192.0.2.90", &r));
    assert_true(r.ban_until > NOW);
    assert_int_equal(r.flags, WSG_RF_CROWDSEC);
    assert_string_equal(r.source, "cscli/web01");
}

/* A server that only pulls cannot send wsguardctl's queued unbans: the step drops them (they
 * would keep their keys from every pulled decision for ever). */
static void test_step_pull_only_drops_queue(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    wsg_lapi_opts_t lo;
    wsg_lapi_t *cl;
    wsg_sync_t *s;
    wsg_sync_report_t rep;
    wsg_outbox_item_t it;
    wsg_addr_t a = A("192.0.2.78");
    const char *err = NULL;
    apr_size_t n = 9;

    memset(&lo, 0, sizeof(lo));
    lo.url = "http://127.0.0.1:9";
    lo.bouncer_key = "k";
    lo.connect_timeout = apr_time_from_msec(500);
    assert_int_equal(wsg_lapi_create(p, &lo, &cl, &err), APR_SUCCESS);
    assert_int_equal(wsg_sync_create(p, fx->st, fx->ob, cl, NULL, &s), APR_SUCCESS);
    wsg_outbox_unban_item(&it, &a, NOW);
    assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);
    assert_int_equal(wsg_sync_step(s, p, apr_time_now(), &rep), APR_SUCCESS);
    assert_false(rep.push_tried);
    assert_int_equal((int)rep.backlog, 0);
    assert_int_equal(wsg_outbox_count(fx->ob, &n), APR_SUCCESS);
    assert_int_equal((int)n, 0);
}

/* No LAPI on the port: the push fails with a clear error, the items stay, the next attempt
 * waits (backoff), and only the first failure is reported as a change. */
static void test_step_unreachable(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    wsg_lapi_opts_t lo;
    wsg_lapi_t *cl;
    wsg_sync_t *s;
    wsg_sync_opts_t o;
    wsg_sync_report_t rep;
    wsg_sync_state_t ss;
    wsg_outbox_item_t it;
    wsg_addr_t a = A("192.0.2.77");
    const char *err = NULL;
    apr_time_t now = apr_time_now();

    memset(&lo, 0, sizeof(lo));
    lo.url = "http://127.0.0.1:9";
    lo.machine = "m";
    lo.password = "p";
    lo.bouncer_key = "k";
    lo.connect_timeout = apr_time_from_msec(500);
    assert_int_equal(wsg_lapi_create(p, &lo, &cl, &err), APR_SUCCESS);
    memset(&o, 0, sizeof(o));
    o.backoff_min = SEC(2);
    o.backoff_max = SEC(5);
    assert_int_equal(wsg_sync_create(p, fx->st, fx->ob, cl, &o, &s), APR_SUCCESS);
    wsg_outbox_ban_item(&it, &a, now, now + SEC(3600), 3, "t", "/x.php");
    assert_int_equal(wsg_outbox_put(fx->ob, &it), APR_SUCCESS);

    assert_int_equal(wsg_sync_step(s, p, now, &rep), APR_SUCCESS);
    assert_true(rep.push_tried && rep.pull_tried);
    assert_int_equal(rep.push_rv, APR_ECONNREFUSED);
    assert_int_equal(rep.pull_rv, APR_ECONNREFUSED);
    assert_non_null(strstr(rep.push_err, "127.0.0.1:9"));
    assert_true(rep.push_changed && rep.pull_changed);
    assert_int_equal((int)rep.backlog, 1);
    /* backing off: a second later only /health is asked (still refused), nothing else tried */
    assert_int_equal(wsg_sync_step(s, p, now + SEC(1), &rep), APR_SUCCESS);
    assert_false(rep.push_tried || rep.pull_tried);
    assert_true(rep.probed);
    /* tried again after the backoff: still failing, not reported as a change again */
    assert_int_equal(wsg_sync_step(s, p, now + SEC(3), &rep), APR_SUCCESS);
    assert_true(rep.push_tried);
    assert_false(rep.push_changed);
    assert_int_equal((int)rep.backlog, 1);
    /* the state is kept for wsguardctl */
    assert_int_equal(wsg_sync_state_read(fx->ob, &ss), APR_SUCCESS);
    assert_int_equal(ss.push_failures, 2);
    assert_true(ss.push_next == now + SEC(3) + SEC(4));    /* doubled */
    assert_non_null(strstr(ss.push_err, "127.0.0.1:9"));
    assert_true(ss.last_push == 0);
    /* a new sync (httpd restarted, maybe with fixed settings) tries at once, counts kept */
    assert_int_equal(wsg_sync_create(p, fx->st, fx->ob, cl, &o, &s), APR_SUCCESS);
    assert_int_equal(wsg_sync_step(s, p, now + SEC(4), &rep), APR_SUCCESS);
    assert_true(rep.push_tried);
    assert_false(rep.push_changed);                          /* still failing: said already */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_fifo, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_meta, fx_setup, fx_teardown),
        cmocka_unit_test(test_merge_new),
        cmocka_unit_test(test_merge_deleted),
        cmocka_unit_test_setup_teardown(test_apply, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_step_unreachable, fx_setup, fx_teardown),
        cmocka_unit_test(test_merge_unbanned),
        cmocka_unit_test_setup_teardown(test_apply_unbanned_and_labels, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_step_pull_only_drops_queue, fx_setup, fx_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
