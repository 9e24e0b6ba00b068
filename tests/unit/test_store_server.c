/* Unit tests for what wsg_store keeps for wsguardctl (issue 10): the server's policy record
 * (written by prepare's child, read back, garbage ignored), range bans (one record per CIDR, a
 * bounded lookup, invisible to iteration, purge and eviction, a handle seeing another's ban
 * after the recheck), and group readers (prepare makes data.mdb group-readable; a reader who
 * cannot write lock.mdb reads lock-free, each read checked, while a writer writes). */
#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "wsg_test.h"
#include <apr_strings.h>
#include <lmdb.h>
#include "wsg_store.h"

typedef struct fx_t {
    apr_pool_t *pool;
    char        dir[64];
    const char *env;
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
    if (!fx || apr_pool_create(&fx->pool, NULL) != APR_SUCCESS)
        return -1;
    strcpy(fx->dir, "/tmp/wsg-test-srv-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    chmod(fx->dir, 0755);
    fx->env = apr_pstrcat(fx->pool, fx->dir, "/env", NULL);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    rm_tree(fx->dir);
    apr_pool_destroy(fx->pool);
    free(fx);
    return 0;
}

static wsg_store_t *open_env(fx_t *fx, int readonly)
{
    wsg_store_opts_t o;
    wsg_store_t *st = NULL;
    const char *err = NULL;
    memset(&o, 0, sizeof(o));
    o.readonly = readonly;
    if (wsg_store_open(fx->pool, fx->env, &o, &st, &err) != APR_SUCCESS)
        fail_msg("open %s: %s", fx->env, err ? err : "?");
    return st;
}

static void prepare(fx_t *fx, const wsg_store_policy_t *pol, long read_gid, long uid, long gid)
{
    wsg_store_prep_t prep;
    const char *err = NULL;
    memset(&prep, 0, sizeof(prep));
    prep.policy = pol;
    prep.read_gid = read_gid;
    if (wsg_store_prepare_with(fx->pool, fx->env, NULL, uid, gid, &prep, &err) != APR_SUCCESS)
        fail_msg("prepare %s: %s", fx->env, err ? err : "?");
    if (prep.warning)
        fail_msg("prepare warned: %s", prep.warning);
}

static wsg_addr_t addr(const char *text)
{
    wsg_addr_t a;
    if (wsg_addr_parse(text, &a) != APR_SUCCESS)
        fail_msg("parse %s", text);
    return a;
}

/* ---- policy ---- */

static void test_policy_roundtrip(void **state)
{
    fx_t *fx = *state;
    wsg_store_policy_t pol, got;
    wsg_store_t *st;

    prepare(fx, NULL, -1, -1, -1);
    st = open_env(fx, 0);
    assert_int_equal(wsg_store_get_policy(st, &got), APR_NOTFOUND);
    wsg_store_close(st);

    memset(&pol, 0, sizeof(pol));
    pol.engine = 2;
    pol.event_log_kind = WSG_STORE_LOG_FILE;
    pol.ratelimit = 4.5;
    pol.ban = 12;
    pol.prefix_ban = 30;
    pol.miss_score = 0.5;
    pol.ban_time = apr_time_from_sec(7200);
    pol.ban_max = apr_time_from_sec(86400 * 3);
    pol.halflife = apr_time_from_sec(600);
    pol.written = apr_time_now();
    strcpy(pol.event_log, "/var/log/apache2/wsguard-events.log");
    strcpy(pol.server, "www.example.org");
    prepare(fx, &pol, -1, -1, -1);        /* recorded by prepare's child */
    st = open_env(fx, 1);
    assert_int_equal(wsg_store_get_policy(st, &got), APR_SUCCESS);
    assert_int_equal(got.version, WSG_STORE_POLICY_VERSION);
    assert_int_equal(got.engine, 2);
    assert_int_equal(got.event_log_kind, WSG_STORE_LOG_FILE);
    assert_true(got.ratelimit == 4.5 && got.ban == 12 && got.prefix_ban == 30);
    assert_true(got.miss_score == 0.5);
    assert_true(got.ban_time == pol.ban_time && got.ban_max == pol.ban_max);
    assert_true(got.halflife == pol.halflife && got.written == pol.written);
    assert_string_equal(got.event_log, pol.event_log);
    assert_string_equal(got.server, pol.server);
    wsg_store_close(st);

    /* the policy record is not a record: stat, iteration */
    st = open_env(fx, 0);
    {
        wsg_store_stat_t ss;
        assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
        assert_int_equal(ss.records, 0);
    }
    /* a later writer replaces it */
    pol.halflife = apr_time_from_sec(60);
    assert_int_equal(wsg_store_put_policy(st, &pol), APR_SUCCESS);
    assert_int_equal(wsg_store_get_policy(st, &got), APR_SUCCESS);
    assert_true(got.halflife == apr_time_from_sec(60));
    wsg_store_close(st);
}

/* A damaged or foreign value under the policy key reads as none, never as a policy. */
static void test_policy_garbage(void **state)
{
    fx_t *fx = *state;
    static const unsigned char key[] = { 0x00, 'w', 's', 'g', 'p' };
    unsigned char junk[80];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    wsg_store_policy_t got;
    wsg_store_t *st;

    prepare(fx, NULL, -1, -1, -1);
    memset(junk, 0xff, sizeof(junk));
    junk[0] = 1;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, fx->env, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    k.mv_size = sizeof(key);
    k.mv_data = (void *)key;
    v.mv_size = sizeof(junk);
    v.mv_data = junk;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    st = open_env(fx, 1);
    assert_int_equal(wsg_store_get_policy(st, &got), APR_NOTFOUND);
    wsg_store_close(st);
}

/* ---- range bans ---- */

typedef struct {
    apr_time_t until;
    int        calls;
} ban_baton_t;

static int ban_cb(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    ban_baton_t *b = baton;
    assert_int_equal(n, 1);
    b->calls++;
    recs[0].ban_until = b->until;
    recs[0].ban_count++;
    recs[0].flags |= WSG_RF_MANUAL;
    strcpy(recs[0].source, "test");
    (void)found;
    return 1;
}

static int count_cb(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    (*(int *)baton)++;
    (void)key;
    (void)rec;
    return 0;
}

static int never_cb(void *baton, const wsg_rec_t *rec)
{
    (void)baton;
    (void)rec;
    return 1;      /* "everything expired": ranges must survive all the same */
}

static void test_range_ban(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st;
    wsg_addr_t a16 = addr("127.5.0.0/16"), a48 = addr("2001:db8:5::/48"), net;
    wsg_rec_t rec;
    ban_baton_t b = { 0, 0 };
    apr_time_t now = apr_time_now();
    int n = 0, wrapped = 0;
    unsigned purged = 0;

    prepare(fx, NULL, -1, -1, -1);
    st = open_env(fx, 0);
    assert_int_equal(wsg_store_range_get(st, &a16, now, &rec, &net), APR_NOTFOUND);
    assert_true(wsg_store_is_range(&a16) && wsg_store_is_range(&a48));
    {
        wsg_addr_t x = addr("127.5.0.0/24"), y = addr("127.5.0.1"), z = addr("2001:db8::/64");
        assert_false(wsg_store_is_range(&x) || wsg_store_is_range(&y) || wsg_store_is_range(&z));
        assert_int_equal(wsg_store_range_update(st, &x, ban_cb, &b), APR_EINVAL);
    }
    b.until = now + apr_time_from_sec(3600);
    {
        wsg_addr_t host_bits = addr("127.5.9.9/16");     /* the same range */
        assert_int_equal(wsg_store_range_update(st, &host_bits, ban_cb, &b), APR_SUCCESS);
    }
    assert_int_equal(wsg_store_range_update(st, &a48, ban_cb, &b), APR_SUCCESS);
    {
        wsg_addr_t in = addr("127.5.9.9"), out = addr("127.6.0.1"), in6 = addr("2001:db8:5:1::7");
        wsg_addr_t out6 = addr("2001:db8:6::1"), edge = addr("127.5.255.255");
        assert_int_equal(wsg_store_range_get(st, &in, now, &rec, &net), APR_SUCCESS);
        assert_int_equal(net.bits, 16);
        assert_memory_equal(net.bytes, a16.bytes, 4);
        assert_string_equal(rec.source, "test");
        assert_int_equal(rec.ban_count, 1);
        assert_int_equal(wsg_store_range_get(st, &edge, now, NULL, NULL), APR_SUCCESS);
        assert_int_equal(wsg_store_range_get(st, &out, now, NULL, NULL), APR_NOTFOUND);
        assert_int_equal(wsg_store_range_get(st, &in6, now, NULL, &net), APR_SUCCESS);
        assert_int_equal(net.bits, 48);
        assert_int_equal(wsg_store_range_get(st, &out6, now, NULL, NULL), APR_NOTFOUND);
        /* the ban's end ends it */
        assert_int_equal(wsg_store_range_get(st, &in, b.until, NULL, NULL), APR_NOTFOUND);
    }
    /* a second ban of the range updates the one record */
    assert_int_equal(wsg_store_range_update(st, &a16, ban_cb, &b), APR_SUCCESS);
    n = 0;
    assert_int_equal(wsg_store_range_iterate(st, count_cb, &n), APR_SUCCESS);
    assert_int_equal(n, 2);
    /* invisible to records: iteration, stat, purge slices, purge */
    n = 0;
    assert_int_equal(wsg_store_iterate(st, count_cb, &n), APR_SUCCESS);
    assert_int_equal(n, 0);
    {
        wsg_store_stat_t ss;
        assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
        assert_int_equal(ss.records, 0);
    }
    assert_int_equal(wsg_store_purge_slice(st, never_cb, NULL, 0, 0, &purged, &wrapped),
                     APR_SUCCESS);
    assert_int_equal(wsg_store_purge(st, never_cb, NULL, 0, &purged), APR_SUCCESS);
    n = 0;
    assert_int_equal(wsg_store_range_iterate(st, count_cb, &n), APR_SUCCESS);
    assert_int_equal(n, 2);
    {
        wsg_addr_t in = addr("127.5.1.1");
        assert_int_equal(wsg_store_range_get(st, &in, now, &rec, NULL), APR_SUCCESS);
        assert_int_equal(rec.ban_count, 2);
    }
    /* nested: an ended /24-long range inside an active /8 still finds the /8 */
    {
        wsg_addr_t a8 = addr("127.0.0.0/8"), a20 = addr("127.5.16.0/20"), in = addr("127.5.17.1");
        ban_baton_t old = { now - 1, 0 };
        assert_int_equal(wsg_store_range_delete(st, &a16), APR_SUCCESS);
        assert_int_equal(wsg_store_range_delete(st, &a16), APR_NOTFOUND);
        assert_int_equal(wsg_store_range_update(st, &a20, ban_cb, &old), APR_SUCCESS);
        assert_int_equal(wsg_store_range_get(st, &in, now, NULL, NULL), APR_NOTFOUND);
        assert_int_equal(wsg_store_range_update(st, &a8, ban_cb, &b), APR_SUCCESS);
        assert_int_equal(wsg_store_range_get(st, &in, now, NULL, &net), APR_SUCCESS);
        assert_int_equal(net.bits, 8);
    }
    wsg_store_close(st);
}

/* Another handle (a child) that found no range looks again after the recheck, not before: the
 * request path pays a comparison of times in between. */
static void test_range_seen_by_other_handle(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *child, *cli;
    wsg_addr_t net = addr("10.20.0.0/16"), in = addr("10.20.3.4");
    ban_baton_t b;
    apr_time_t now = apr_time_now();

    prepare(fx, NULL, -1, -1, -1);
    child = open_env(fx, 0);
    cli = open_env(fx, 0);
    assert_int_equal(wsg_store_range_get(child, &in, now, NULL, NULL), APR_NOTFOUND);
    b.until = now + apr_time_from_sec(600);
    b.calls = 0;
    assert_int_equal(wsg_store_range_update(cli, &net, ban_cb, &b), APR_SUCCESS);
    assert_int_equal(wsg_store_range_get(child, &in, now + 1000, NULL, NULL), APR_NOTFOUND);
    assert_int_equal(wsg_store_range_get(child, &in, now + WSG_STORE_RANGE_RECHECK, NULL, NULL),
                     APR_SUCCESS);
    assert_int_equal(wsg_store_range_delete(cli, &net), APR_SUCCESS);
    assert_int_equal(wsg_store_range_get(child, &in, now + 2 * WSG_STORE_RANGE_RECHECK, NULL,
                                         NULL), APR_NOTFOUND);
    wsg_store_close(child);
    wsg_store_close(cli);
}

/* The proof a keep-alive connection's memo keeps (wsg_store_may_have_at): the snapshot "nothing
 * for these keys" holds in, only once the range index was read in that same snapshot and held
 * no range; any write moves the last transaction on. */
static void test_absent_at(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *child, *cli;
    wsg_addr_t k[2], net = addr("10.30.0.0/16"), in = addr("10.30.3.4");
    wsg_addr_t other = addr("10.31.0.9");
    ban_baton_t b = { 0, 0 };
    apr_time_t now = apr_time_now();
    apr_uint64_t at = 99, last;

    prepare(fx, NULL, -1, -1, -1);
    child = open_env(fx, 0);
    cli = open_env(fx, 0);
    k[0] = in;
    wsg_addr_prefix(&k[0], &k[1]);
    /* a store written once (the server's policy record, at its first start): id 0 is "none" */
    assert_int_equal(wsg_store_range_update(cli, &net, ban_cb, &b), APR_SUCCESS);
    assert_int_equal(wsg_store_range_delete(cli, &net), APR_SUCCESS);
    /* the range index not looked at yet: absent, but no snapshot to memoise */
    assert_false(wsg_store_may_have_at(child, k, 2, &at));
    assert_int_equal(at, 0);
    assert_int_equal(wsg_store_range_get(child, &in, now, NULL, NULL), APR_NOTFOUND);
    assert_false(wsg_store_may_have_at(child, k, 2, &at));
    last = wsg_store_last_txnid(child);
    assert_true(last > 0);
    assert_true(at == last);
    /* a range ban written elsewhere: the last transaction moved, so the memo is void; until the
     * recheck the child's index is older than the last transaction: no new memo */
    b.until = now + apr_time_from_sec(600);
    assert_int_equal(wsg_store_range_update(cli, &net, ban_cb, &b), APR_SUCCESS);
    assert_true(wsg_store_last_txnid(child) != at);
    assert_int_equal(wsg_store_range_get(child, &in, now + 1000, NULL, NULL), APR_NOTFOUND);
    assert_false(wsg_store_may_have_at(child, k, 2, &at));
    assert_int_equal(at, 0);
    /* at the recheck the range is found; with a range in force nothing is memoised, not even
     * for an address outside it */
    assert_int_equal(wsg_store_range_get(child, &in, now + WSG_STORE_RANGE_RECHECK, NULL, NULL),
                     APR_SUCCESS);
    k[0] = other;
    wsg_addr_prefix(&k[0], &k[1]);
    assert_int_equal(wsg_store_range_get(child, &other, now + WSG_STORE_RANGE_RECHECK, NULL,
                                         NULL), APR_NOTFOUND);
    assert_false(wsg_store_may_have_at(child, k, 2, &at));
    assert_int_equal(at, 0);
    /* NULL: the plain question */
    assert_false(wsg_store_may_have_at(child, k, 2, NULL));
    wsg_store_close(child);
    wsg_store_close(cli);
}

static void test_range_cap(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st;
    ban_baton_t b;
    int i, n = 0;

    prepare(fx, NULL, -1, -1, -1);
    st = open_env(fx, 0);
    b.until = apr_time_now() + apr_time_from_sec(600);
    b.calls = 0;
    for (i = 0; i < WSG_STORE_RANGES_MAX; i++) {
        wsg_addr_t a;
        char text[32];
        snprintf(text, sizeof(text), "10.%d.%d.0/23", i / 128, (i % 128) * 2);
        a = addr(text);
        if (wsg_store_range_update(st, &a, ban_cb, &b) != APR_SUCCESS)
            fail_msg("range %d (%s) refused", i, text);
    }
    {
        wsg_addr_t one_more = addr("11.0.0.0/16"), again = addr("10.0.0.0/23");
        assert_int_equal(wsg_store_range_update(st, &one_more, ban_cb, &b), APR_ENOSPC);
        /* an existing range can still be updated */
        assert_int_equal(wsg_store_range_update(st, &again, ban_cb, &b), APR_SUCCESS);
    }
    assert_int_equal(wsg_store_range_iterate(st, count_cb, &n), APR_SUCCESS);
    assert_int_equal(n, WSG_STORE_RANGES_MAX);
    wsg_store_close(st);
}

/* ---- group readers ---- */

static void test_group_readable(void **state)
{
    fx_t *fx = *state;
    struct stat sb;
    const char *data = apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL);
    const char *lock = apr_pstrcat(fx->pool, fx->env, "/lock.mdb", NULL);
    struct group *g = getgrnam("nogroup");

    if (geteuid() != 0 || !g)
        skip();
    prepare(fx, NULL, (long)g->gr_gid, 65534, 65534);
    assert_int_equal(stat(data, &sb), 0);
    assert_int_equal(sb.st_gid, g->gr_gid);
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(stat(fx->env, &sb), 0);
    assert_int_equal(sb.st_gid, g->gr_gid);
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_int_equal(stat(lock, &sb), 0);
    assert_int_equal(sb.st_mode & 0022, 0);
    /* and prepare's checks still accept it at the next start */
    prepare(fx, NULL, (long)g->gr_gid, 65534, 65534);
}

/* A reader who may read data.mdb but not write lock.mdb: lock-free, every read checked, while
 * the owner writes all the time. */
static void test_nolock_reader(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st;
    wsg_addr_t keep = addr("192.0.2.1");
    ban_baton_t b;
    int status = 0;
    pid_t reader, writer;

    if (geteuid() != 0)
        skip();
    prepare(fx, NULL, -1, -1, -1);             /* root's, 0640 */
    st = open_env(fx, 0);
    b.until = apr_time_now() + apr_time_from_sec(600);
    b.calls = 0;
    {
        wsg_addr_t r = addr("198.51.100.0/22");
        assert_int_equal(wsg_store_range_update(st, &r, ban_cb, &b), APR_SUCCESS);
    }
    {
        wsg_rec_t rec;
        memset(&rec, 0, sizeof(rec));
        assert_int_equal(wsg_store_update(st, &keep, 1, ban_cb, &b), APR_SUCCESS);
        (void)rec;
    }
    wsg_store_close(st);
    assert_int_equal(chmod(apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL), 0644), 0);
    assert_int_equal(chmod(fx->env, 0755), 0);

    writer = fork();
    if (writer == 0) {
        /* the server: a write transaction after another */
        apr_pool_t *p;
        wsg_store_t *w = NULL;
        const char *err;
        int i;
        apr_pool_create(&p, NULL);
        if (wsg_store_open(p, fx->env, NULL, &w, &err) != APR_SUCCESS)
            _exit(3);
        for (i = 0; i < 3000; i++) {
            wsg_addr_t a;
            ban_baton_t bb = { apr_time_now() + apr_time_from_sec(60), 0 };
            memset(&a, 0, sizeof(a));
            a.family = 4;
            a.bits = 32;
            a.bytes[0] = 10;
            a.bytes[1] = (unsigned char)(i >> 8);
            a.bytes[2] = (unsigned char)i;
            a.bytes[3] = 1;
            if (wsg_store_update(w, &a, 1, ban_cb, &bb) != APR_SUCCESS)
                _exit(4);
        }
        _exit(0);
    }
    reader = fork();
    if (reader == 0) {
        apr_pool_t *p;
        wsg_store_t *r = NULL;
        wsg_store_opts_t o;
        const char *err;
        int i;
        apr_pool_create(&p, NULL);
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(5);
        memset(&o, 0, sizeof(o));
        o.readonly = 1;
        if (wsg_store_open(p, fx->env, &o, &r, &err) != APR_SUCCESS || !wsg_store_is_nolock(r))
            _exit(6);
        for (i = 0; i < 200; i++) {
            wsg_rec_t rec;
            int n = 0;
            wsg_addr_t in = addr("198.51.101.7");
            apr_status_t rv = wsg_store_get(r, &keep, &rec);
            if (rv == APR_EAGAIN)
                continue;      /* the writer never paused: allowed, said as such */
            if (rv != APR_SUCCESS || strcmp(rec.source, "test") || rec.ban_count != 1)
                _exit(7);
            rv = wsg_store_iterate(r, count_cb, &n);
            if (rv != APR_SUCCESS && rv != APR_EAGAIN)
                _exit(8);
            if (rv == APR_SUCCESS && n < 1)
                _exit(9);
            rv = wsg_store_range_get(r, &in, apr_time_now(), &rec, NULL);
            if (rv != APR_SUCCESS && rv != APR_EAGAIN)
                _exit(10);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(reader, &status, 0), reader);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(waitpid(writer, &status, 0), writer);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_policy_garbage, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_range_ban, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_range_seen_by_other_handle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_absent_at, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_range_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_readable, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_nolock_reader, fx_setup, fx_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
