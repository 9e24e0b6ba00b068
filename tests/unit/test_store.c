/* Unit tests for wsg_store: records round-trip through a real LMDB environment in a temp dir;
 * atomic multi-key updates, iterate/delete/purge, a full map, a damaged file, read-only handles,
 * several stores per process, and no lost updates across forked processes and across threads;
 * the state directory's checks: symlinks, foreign owners, hard links, writable modes refused and
 * their targets untouched, the LMDB work done as the directory's owner. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <signal.h>
#include "wsg_test.h"
#include <apr_strings.h>
#include <lmdb.h>
#include "wsg_store.h"
#include "wsg_track.h"

typedef struct fx_t {
    apr_pool_t *pool;
    char        dir[64];       /* the temp dir; environments live in subdirs of it */
    const char *env;           /* dir/env */
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
    strcpy(fx->dir, "/tmp/wsg-test-store-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    fx->env = apr_pstrcat(fx->pool, fx->dir, "/env", NULL);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    apr_pool_destroy(fx->pool);          /* closes every store opened on it */
    rm_tree(fx->dir);
    free(fx);
    return 0;
}

static void addr4(wsg_addr_t *a, int x, int y)
{
    memset(a, 0, sizeof(*a));
    a->family = 4;
    a->bits = 32;
    a->bytes[0] = 192;
    a->bytes[1] = 0;
    a->bytes[2] = (unsigned char)x;
    a->bytes[3] = (unsigned char)y;
}

static wsg_store_t *open_store(fx_t *fx, const char *dir, const wsg_store_opts_t *opts)
{
    wsg_store_t *st = NULL;
    const char *err = NULL;
    apr_status_t rv = wsg_store_prepare(fx->pool, dir, opts, -1, -1, &err);
    if (rv != APR_SUCCESS)
        fail_msg("prepare %s: %s", dir, err ? err : "?");
    rv = wsg_store_open(fx->pool, dir, opts, &st, &err);
    if (rv != APR_SUCCESS)
        fail_msg("open %s: %s", dir, err ? err : "?");
    return st;
}

/* ---- update callbacks ---- */

#define SEC APR_USEC_PER_SEC
#define T_FIRST ((apr_time_t)1800000000 * SEC)   /* whole seconds: stored exactly */

typedef struct set_baton_t {
    apr_uint32_t hits;
    double score;
    int mask;
    int found[4];
    int calls;
} set_baton_t;

static int cb_set(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    set_baton_t *b = baton;
    int i;
    b->calls++;
    for (i = 0; i < n; i++) {
        b->found[i] = found[i];
        recs[i].hits = b->hits + (apr_uint32_t)i;
        recs[i].score = b->score;
        recs[i].first_seen = T_FIRST;
    }
    return b->mask;
}

static int cb_incr(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    int i;
    for (i = 0; i < n; i++)
        recs[i].hits++;
    return (1 << n) - 1;
}

static apr_status_t put_hits(wsg_store_t *st, const wsg_addr_t *key, apr_uint32_t hits)
{
    set_baton_t b = { hits, 0.5, 1, { 0 }, 0 };
    return wsg_store_update(st, key, 1, cb_set, &b);
}

/* A record eviction must not take (an operator's ban, in force). */
static int cb_manual(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    recs[0].hits = *(apr_uint32_t *)baton;
    recs[0].flags |= WSG_RF_MANUAL;
    recs[0].ban_until = apr_time_now() + 3600 * APR_USEC_PER_SEC;
    return 1;
}

static apr_status_t put_manual(wsg_store_t *st, const wsg_addr_t *key, apr_uint32_t hits)
{
    return wsg_store_update(st, key, 1, cb_manual, &hits);
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_addr_t a;
    wsg_rec_t r;
    set_baton_t b = { 7, 1.5, 1, { -1 }, 0 };
    struct stat sb;

    addr4(&a, 1, 2);
    assert_int_equal(wsg_store_update(st, &a, 1, cb_set, &b), APR_SUCCESS);
    assert_int_equal(b.found[0], 0);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.version, WSG_REC_VERSION);     /* set by the store on write */
    assert_int_equal(r.hits, 7);
    assert_true(r.score == 1.5);
    assert_int_equal(r.first_seen, T_FIRST);

    /* The second update sees the stored record. */
    assert_int_equal(wsg_store_update(st, &a, 1, cb_incr, NULL), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 8);

    /* The environment is a directory with data.mdb and lock.mdb. */
    assert_int_equal(stat(apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL), &sb), 0);
    assert_int_equal(stat(apr_pstrcat(fx->pool, fx->env, "/lock.mdb", NULL), &sb), 0);
    assert_int_equal(stat(fx->env, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));

    /* Explicit close, then the pool cleanup must not close it again. */
    wsg_store_close(st);
}

static void test_not_found(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_addr_t a, p;
    wsg_rec_t r;

    addr4(&a, 9, 9);
    memset(&r, 0x5a, sizeof(r));
    assert_int_equal(wsg_store_get(st, &a, &r), APR_NOTFOUND);
    assert_int_equal(r.hits, 0);          /* zeroed */
    assert_int_equal(r.version, 0);

    /* A prefix key differs from the address key of the same bytes. */
    assert_int_equal(put_hits(st, &a, 3), APR_SUCCESS);
    p = a;
    p.bits = 24;
    p.bytes[3] = 0;
    assert_int_equal(wsg_store_get(st, &p, &r), APR_NOTFOUND);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
}

static void test_update_two_keys(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_addr_t k[2];
    wsg_rec_t r;
    set_baton_t b = { 10, 2.0, 3, { -1, -1 }, 0 };

    addr4(&k[0], 5, 1);
    memset(&k[1], 0, sizeof(k[1]));
    k[1].family = 4;
    k[1].bits = 24;
    k[1].bytes[0] = 192;
    k[1].bytes[2] = 5;

    /* Only bit 1: the prefix record is written, the address is not. */
    b.mask = 2;
    assert_int_equal(wsg_store_update(st, k, 2, cb_set, &b), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &k[0], &r), APR_NOTFOUND);
    assert_int_equal(wsg_store_get(st, &k[1], &r), APR_SUCCESS);
    assert_int_equal(r.hits, 11);

    /* Both, and the callback is told which existed. */
    b.mask = 3;
    b.hits = 20;
    assert_int_equal(wsg_store_update(st, k, 2, cb_set, &b), APR_SUCCESS);
    assert_int_equal(b.found[0], 0);
    assert_int_equal(b.found[1], 1);
    assert_int_equal(wsg_store_get(st, &k[0], &r), APR_SUCCESS);
    assert_int_equal(r.hits, 20);
    assert_int_equal(wsg_store_get(st, &k[1], &r), APR_SUCCESS);
    assert_int_equal(r.hits, 21);

    /* -1 aborts: nothing changes. */
    b.mask = -1;
    b.hits = 99;
    assert_int_equal(wsg_store_update(st, k, 2, cb_set, &b), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &k[0], &r), APR_SUCCESS);
    assert_int_equal(r.hits, 20);

    /* n out of range. */
    assert_int_equal(wsg_store_update(st, k, 0, cb_set, &b), APR_EINVAL);
    assert_int_equal(wsg_store_update(st, k, 5, cb_set, &b), APR_EINVAL);
}

typedef struct iter_baton_t {
    int count;
    int stop_after;
    unsigned long sum;
} iter_baton_t;

static int cb_iter(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    iter_baton_t *b = baton;
    assert_int_equal(key->family, 4);
    assert_int_equal(rec->hits, key->bytes[3]);
    b->count++;
    b->sum += rec->hits;
    return b->stop_after && b->count >= b->stop_after;
}

static void test_iterate_delete(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    iter_baton_t b = { 0, 0, 0 };
    wsg_addr_t a;
    wsg_rec_t r;
    int i;

    assert_int_equal(wsg_store_iterate(st, cb_iter, &b), APR_SUCCESS);
    assert_int_equal(b.count, 0);
    for (i = 1; i <= 10; i++) {
        addr4(&a, 7, i);
        assert_int_equal(put_hits(st, &a, (apr_uint32_t)i), APR_SUCCESS);
    }
    assert_int_equal(wsg_store_iterate(st, cb_iter, &b), APR_SUCCESS);
    assert_int_equal(b.count, 10);
    assert_int_equal(b.sum, 55);

    memset(&b, 0, sizeof(b));
    b.stop_after = 3;
    assert_int_equal(wsg_store_iterate(st, cb_iter, &b), APR_SUCCESS);
    assert_int_equal(b.count, 3);

    addr4(&a, 7, 4);
    assert_int_equal(wsg_store_delete(st, &a), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_NOTFOUND);
    assert_int_equal(wsg_store_delete(st, &a), APR_NOTFOUND);
    memset(&b, 0, sizeof(b));
    assert_int_equal(wsg_store_iterate(st, cb_iter, &b), APR_SUCCESS);
    assert_int_equal(b.count, 9);
    assert_int_equal(b.sum, 51);
}

static int cb_expired_mod3(void *baton, const wsg_rec_t *rec)
{
    return rec->hits % 3 == 0;
}

static int cb_expired_even(void *baton, const wsg_rec_t *rec)
{
    return rec->hits % 2 == 0;
}

static int cb_expired_all(void *baton, const wsg_rec_t *rec)
{
    return 1;
}

static int cb_count(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    int *n = baton;
    (*n)++;
    return 0;
}

static int cb_odd_only(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    int *n = baton;
    assert_int_equal(rec->hits % 2, 1);
    (*n)++;
    return 0;
}

static void test_purge(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_addr_t a;
    unsigned purged = 99;
    int i, n;

    for (i = 0; i < 100; i++) {
        addr4(&a, 1, i);
        assert_int_equal(put_hits(st, &a, (apr_uint32_t)i), APR_SUCCESS);
    }
    /* Limited to max. */
    assert_int_equal(wsg_store_purge(st, cb_expired_mod3, NULL, 5, &purged), APR_SUCCESS);
    assert_int_equal(purged, 5);
    /* The rest of the 34 multiples of 3 in 0..99. */
    assert_int_equal(wsg_store_purge(st, cb_expired_mod3, NULL, 1000, &purged), APR_SUCCESS);
    assert_int_equal(purged, 29);
    n = 0;
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 66);

    /* Many records, more than one batch, alternating runs of deletes and keeps. */
    assert_int_equal(wsg_store_purge(st, cb_expired_all, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, 66);
    for (i = 0; i < 2000; i++) {
        wsg_addr_t b;
        addr4(&b, 10 + i / 256, i % 256);
        assert_int_equal(put_hits(st, &b, (apr_uint32_t)i), APR_SUCCESS);
    }
    assert_int_equal(wsg_store_purge(st, cb_expired_even, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, 1000);
    n = 0;
    assert_int_equal(wsg_store_iterate(st, cb_odd_only, &n), APR_SUCCESS);
    assert_int_equal(n, 1000);
    assert_int_equal(wsg_store_purge(st, cb_expired_all, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, 1000);
    n = 0;
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 0);
    /* An empty store purges nothing. */
    assert_int_equal(wsg_store_purge(st, cb_expired_all, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, 0);
}

static void test_map_full(void **state)
{
    fx_t *fx = *state;
    wsg_store_opts_t opts = { 1024 * 1024, 0, 0 };
    wsg_store_t *st = open_store(fx, fx->env, &opts);
    wsg_store_stat_t ss;
    wsg_addr_t a;
    wsg_rec_t r;
    apr_status_t rv = APR_SUCCESS;
    unsigned purged = 0;
    int i, n = 0;

    for (i = 0; i < 100000; i++) {
        addr4(&a, i / 256, i % 256);
        rv = put_manual(st, &a, (apr_uint32_t)(i % 256));
        if (rv != APR_SUCCESS)
            break;
    }
    assert_int_equal(rv, APR_ENOSPC);
    assert_true(i > 2500);                   /* ~2,800 for 1 MiB */
    assert_non_null(strstr(wsg_store_strerror(rv), "MDB_MAP_FULL"));
    assert_non_null(strstr(wsg_store_strerror(rv), fx->env));
    assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
    assert_int_equal(ss.records, (apr_size_t)i);
    assert_int_equal(ss.capacity, (apr_size_t)i);
    assert_true(ss.map_used <= ss.map_size);

    /* Still readable: reads, iteration, the refused record absent. */
    assert_int_equal(wsg_store_get(st, &a, &r), APR_NOTFOUND);
    addr4(&a, 0, 5);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 5);
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, i);
    /* Existing records can still be updated (bans keep working). */
    assert_int_equal(wsg_store_update(st, &a, 1, cb_incr, NULL), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 6);

    /* Purging a scattered half makes room for as many new records. */
    assert_int_equal(wsg_store_purge(st, cb_expired_even, NULL, 0, &purged), APR_SUCCESS);
    assert_true(purged > 0);
    for (n = 0; n < (int)purged; n++) {
        addr4(&a, 250, n % 256);
        a.bytes[1] = (unsigned char)(n / 256 + 1);
        assert_int_equal(put_manual(st, &a, 1), APR_SUCCESS);
    }
    addr4(&a, 251, 1);
    assert_int_equal(put_manual(st, &a, 1), APR_ENOSPC);
    assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
    assert_int_equal(ss.evicted, 0);
    /* And a full store purges completely. */
    assert_int_equal(wsg_store_purge(st, cb_expired_all, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, (unsigned)i);
}

static void test_corrupt_recreated(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    const char *data = apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL);
    const char *notice = NULL, *err = NULL;
    char junk[65536];
    wsg_addr_t a;
    wsg_rec_t r;
    DIR *d;
    struct dirent *e;
    int fd, aside = 0;

    addr4(&a, 3, 3);
    assert_int_equal(put_hits(st, &a, 3), APR_SUCCESS);
    wsg_store_close(st);

    /* A clean environment is not touched. */
    assert_int_equal(wsg_store_prepare_ex(fx->pool, fx->env, NULL, -1, -1, &notice, &err),
                     APR_SUCCESS);
    assert_null(notice);

    memset(junk, 0xa5, sizeof(junk));
    fd = open(data, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);

    assert_int_equal(wsg_store_prepare_ex(fx->pool, fx->env, NULL, -1, -1, &notice, &err),
                     APR_SUCCESS);
    assert_non_null(notice);
    assert_non_null(strstr(notice, "data.mdb.corrupt-"));
    assert_non_null(strstr(notice, "MDB_INVALID"));
    d = opendir(fx->env);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "data.mdb.corrupt-", 17))
            aside++;
    closedir(d);
    assert_int_equal(aside, 1);

    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &st, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_NOTFOUND);
    assert_int_equal(put_hits(st, &a, 4), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 4);
}

static void test_errors(void **state)
{
    fx_t *fx = *state;
    const char *err = NULL;
    wsg_store_t *st = NULL;
    const char *file = apr_pstrcat(fx->pool, fx->dir, "/plain", NULL);
    const char *below = apr_pstrcat(fx->pool, file, "/env", NULL);
    char buf[100];
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    close(fd);

    assert_int_not_equal(wsg_store_prepare(fx->pool, below, NULL, -1, -1, &err), APR_SUCCESS);
    assert_non_null(err);
    assert_non_null(strstr(err, below));

    /* Read-only open of an environment that was never prepared. */
    err = NULL;
    assert_int_not_equal(wsg_store_open(fx->pool, fx->env, &(wsg_store_opts_t){ 0, 0, 1 }, &st,
                                        &err), APR_SUCCESS);
    assert_null(st);
    assert_non_null(err);
    assert_non_null(strstr(err, fx->env));

    /* strerror of a plain APR status. */
    assert_string_equal(wsg_store_strerror(APR_EINVAL), apr_strerror(APR_EINVAL, buf, sizeof(buf)));
}

/* The request path reads an address and its prefix in one transaction. */
static void test_get_many(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_addr_t keys[2];
    wsg_rec_t recs[2];
    int found[2] = { -1, -1 };

    addr4(&keys[0], 7, 7);
    wsg_addr_prefix(&keys[0], &keys[1]);
    assert_int_equal(put_hits(st, &keys[0], 3), APR_SUCCESS);
    memset(recs, 0xff, sizeof(recs));
    assert_int_equal(wsg_store_get_many(st, keys, 2, recs, found), APR_SUCCESS);
    assert_int_equal(found[0], 1);
    assert_int_equal(recs[0].hits, 3);
    assert_int_equal(found[1], 0);
    assert_int_equal(recs[1].hits, 0);
    assert_int_equal(recs[1].ban_until, 0);
}

/* wsguardctl opens without a size: it must map what the server's environment records, never more
 * (its writes would otherwise outgrow the server's map: MDB_MAP_RESIZED in every child). */
static apr_size_t mapped(fx_t *fx, apr_size_t size, int write)
{
    wsg_store_opts_t opts = { size, 0, 0 };
    wsg_store_t *st = NULL;
    wsg_store_stat_t s;
    const char *err = NULL;
    wsg_addr_t a;

    assert_int_equal(wsg_store_open(fx->pool, fx->env, &opts, &st, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_stat(st, &s), APR_SUCCESS);
    if (write) {
        addr4(&a, 9, 9);
        assert_int_equal(put_hits(st, &a, 1), APR_SUCCESS);
    }
    wsg_store_close(st);
    return s.map_size;
}

static void test_map_size_adopted(void **state)
{
    fx_t *fx = *state;
    wsg_store_opts_t two = { 2u << 20, 0, 0 };
    wsg_store_t *st = open_store(fx, fx->env, &two);
    wsg_addr_t a;

    addr4(&a, 1, 1);
    assert_int_equal(put_hits(st, &a, 1), APR_SUCCESS);
    wsg_store_close(st);
    assert_int_equal(mapped(fx, 0, 1), 2u << 20);          /* the CLI adopts the server's 2M */
    assert_int_equal(mapped(fx, 8u << 20, 1), 8u << 20);   /* a bigger setting grows it */
    assert_int_equal(mapped(fx, 0, 0), 8u << 20);
    assert_int_equal(mapped(fx, 1u << 20, 0), 8u << 20);   /* a smaller one never shrinks it */
}

static void test_readonly(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL), *ro = NULL;
    wsg_store_opts_t opts = { 0, 0, 1 };
    const char *err = NULL;
    wsg_addr_t a;
    wsg_rec_t r;
    apr_status_t rv;
    int n = 0;

    addr4(&a, 4, 4);
    assert_int_equal(put_hits(st, &a, 44), APR_SUCCESS);
    /* One handle per environment per process (LMDB's rule): close before reopening. */
    wsg_store_close(st);
    assert_int_equal(wsg_store_open(fx->pool, fx->env, &opts, &ro, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_get(ro, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 44);
    assert_int_equal(wsg_store_iterate(ro, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 1);
    rv = put_hits(ro, &a, 1);
    assert_int_not_equal(rv, APR_SUCCESS);
    assert_non_null(strstr(wsg_store_strerror(rv), "mdb_txn_begin"));
    assert_int_not_equal(wsg_store_delete(ro, &a), APR_SUCCESS);
    assert_int_equal(wsg_store_get(ro, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 44);
}

/* Several environments in one process, more than a thread caches read txns for, opened and
 * closed in between: each get must read its own store. */
static void test_many_stores(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st[6];
    wsg_addr_t a;
    wsg_rec_t r;
    int i, round;

    addr4(&a, 6, 6);
    for (i = 0; i < 6; i++) {
        st[i] = open_store(fx, apr_psprintf(fx->pool, "%s/s%d", fx->dir, i), NULL);
        assert_int_equal(put_hits(st[i], &a, (apr_uint32_t)(100 + i)), APR_SUCCESS);
    }
    for (round = 0; round < 3; round++)
        for (i = 0; i < 6; i++) {
            assert_int_equal(wsg_store_get(st[i], &a, &r), APR_SUCCESS);
            assert_int_equal(r.hits, 100 + i);
        }
    /* Close some and open new ones (possibly at the same addresses). */
    wsg_store_close(st[1]);
    wsg_store_close(st[4]);
    st[1] = open_store(fx, apr_psprintf(fx->pool, "%s/t1", fx->dir), NULL);
    st[4] = open_store(fx, apr_psprintf(fx->pool, "%s/s4", fx->dir), NULL);
    assert_int_equal(wsg_store_get(st[1], &a, &r), APR_NOTFOUND);
    assert_int_equal(put_hits(st[1], &a, 201), APR_SUCCESS);
    for (round = 0; round < 3; round++)
        for (i = 0; i < 6; i++) {
            assert_int_equal(wsg_store_get(st[i], &a, &r), APR_SUCCESS);
            assert_int_equal(r.hits, i == 1 ? 201 : 100 + i);
        }
}

/* prepare hands a directory it creates to the user the children run as; the files are created
 * by that user (the LMDB work runs as the directory's owner), and nothing existing is chowned. */
static void test_chown(void **state)
{
    fx_t *fx = *state;
    const char *err = NULL;
    const char *names[3];
    struct stat sb;
    int i;

    if (geteuid() != 0)
        skip();
    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err), APR_SUCCESS);
    names[0] = fx->env;
    names[1] = apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL);
    names[2] = apr_pstrcat(fx->pool, fx->env, "/lock.mdb", NULL);
    for (i = 0; i < 3; i++) {
        assert_int_equal(stat(names[i], &sb), 0);
        assert_int_equal(sb.st_uid, 65534);
        assert_int_equal(sb.st_gid, 65534);
        assert_int_equal(sb.st_mode & 022, 0);
    }
    /* Again (a graceful): accepted as it is. */
    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err), APR_SUCCESS);
    /* Another expected user: refused, nothing chowned to it. */
    err = NULL;
    assert_int_not_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 12345, 12345, &err),
                         APR_SUCCESS);
    assert_non_null(err);
    assert_non_null(strstr(err, "is owned by"));
    for (i = 0; i < 3; i++) {
        assert_int_equal(stat(names[i], &sb), 0);
        assert_int_equal(sb.st_uid, 65534);
    }
}

/* ---- the state directory's security (issue 12) ---- */

/* What an attack must not change: content, mode, owner. */
typedef struct snap_t {
    char   content[64];
    mode_t mode;
    uid_t  uid;
    gid_t  gid;
    off_t  size;
} snap_t;

static void make_victim(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "precious root data\n", 19), 19);
    close(fd);
    assert_int_equal(chmod(path, 0644), 0);
}

static void snap(const char *path, snap_t *out)
{
    struct stat sb;
    int fd;
    memset(out, 0, sizeof(*out));
    assert_int_equal(lstat(path, &sb), 0);
    out->mode = sb.st_mode;
    out->uid = sb.st_uid;
    out->gid = sb.st_gid;
    out->size = sb.st_size;
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, out->content, sizeof(out->content) - 1) >= 0);
    close(fd);
}

static void assert_untouched(const char *path, const snap_t *before)
{
    snap_t now;
    snap(path, &now);
    assert_string_equal(now.content, before->content);
    assert_int_equal(now.size, before->size);
    assert_int_equal(now.mode, before->mode);
    assert_int_equal(now.uid, before->uid);
    assert_int_equal(now.gid, before->gid);
}

/* The user the children would run as, and the state directory as they would own it. */
static long test_user(void)
{
    return geteuid() == 0 ? 65534 : -1;
}

static void make_state_dir(const char *dir, mode_t mode)
{
    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(chmod(dir, mode), 0);
    if (geteuid() == 0)
        assert_int_equal(chown(dir, 65534, 65534), 0);
}

static void expect_refused(fx_t *fx, const char *dir, const char *what)
{
    const char *err = NULL;
    long u = test_user();
    assert_int_not_equal(wsg_store_prepare(fx->pool, dir, NULL, u, u, &err), APR_SUCCESS);
    assert_non_null(err);
    if (!strstr(err, what))
        fail_msg("error '%s' does not say '%s'", err, what);
}

static void test_refuse_symlinked_files(void **state)
{
    fx_t *fx = *state;
    const char *names[] = { "data.mdb", "lock.mdb" };
    const char *victim = apr_pstrcat(fx->pool, fx->dir, "/victim", NULL);
    const char *ghost = apr_pstrcat(fx->pool, fx->dir, "/ghost", NULL);
    struct stat sb;
    snap_t before;
    int i, dangling;

    make_victim(victim);
    snap(victim, &before);
    for (i = 0; i < 2; i++)
        for (dangling = 0; dangling < 2; dangling++) {
            const char *dir = apr_psprintf(fx->pool, "%s/env-%d-%d", fx->dir, i, dangling);
            const char *link = apr_pstrcat(fx->pool, dir, "/", names[i], NULL);
            make_state_dir(dir, 0750);
            /* The other file too, as a working environment has it. */
            if (dangling) {
                assert_int_equal(wsg_store_prepare(fx->pool, dir, NULL, test_user(), test_user(),
                                                   &(const char *){ NULL }), APR_SUCCESS);
                assert_int_equal(unlink(link), 0);
            }
            assert_int_equal(symlink(dangling ? ghost : victim, link), 0);
            expect_refused(fx, dir, "is a symbolic link");
            expect_refused(fx, dir, link);
            assert_untouched(victim, &before);
            assert_int_equal(lstat(ghost, &sb), -1);
            assert_int_equal(errno, ENOENT);
            /* The CLI's way in refuses it as well. */
            {
                wsg_store_dir_t *d = NULL;
                const char *err = NULL;
                assert_int_not_equal(wsg_store_dir_check(fx->pool, dir, &d, &err), APR_SUCCESS);
                assert_non_null(strstr(err, "is a symbolic link"));
            }
            assert_untouched(victim, &before);
            assert_int_equal(lstat(ghost, &sb), -1);
        }
}

static void test_refuse_symlinked_dir(void **state)
{
    fx_t *fx = *state;
    const char *real = apr_pstrcat(fx->pool, fx->dir, "/real", NULL);
    const char *ghost = apr_pstrcat(fx->pool, fx->dir, "/ghost", NULL);
    const char *victim = apr_pstrcat(fx->pool, fx->dir, "/real/data.mdb", NULL);
    wsg_store_dir_t *d = NULL;
    const char *err = NULL;
    struct stat sb;
    snap_t before;

    make_state_dir(real, 0750);
    make_victim(victim);
    snap(victim, &before);
    assert_int_equal(symlink(real, fx->env), 0);
    expect_refused(fx, fx->env, "is a symbolic link");
    /* A trailing slash makes open() follow a symlink even with O_NOFOLLOW. */
    expect_refused(fx, apr_pstrcat(fx->pool, fx->env, "//", NULL), "is a symbolic link");
    assert_untouched(victim, &before);
    assert_int_equal(lstat(apr_pstrcat(fx->pool, real, "/lock.mdb", NULL), &sb), -1);
    assert_int_not_equal(wsg_store_dir_check(fx->pool, fx->env, &d, &err), APR_SUCCESS);
    assert_non_null(strstr(err, "is a symbolic link"));

    /* Dangling: nothing gets created where it points. */
    assert_int_equal(unlink(fx->env), 0);
    assert_int_equal(symlink(ghost, fx->env), 0);
    expect_refused(fx, fx->env, "is a symbolic link");
    assert_int_equal(lstat(ghost, &sb), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_refuse_writable_dir(void **state)
{
    fx_t *fx = *state;
    const char *g = apr_pstrcat(fx->pool, fx->dir, "/g", NULL);
    const char *open_parent = apr_pstrcat(fx->pool, fx->dir, "/open", NULL);
    const char *below = apr_pstrcat(fx->pool, open_parent, "/env", NULL);
    wsg_store_dir_t *d = NULL;
    const char *err = NULL;
    struct stat sb;

    make_state_dir(fx->env, 0777);
    expect_refused(fx, fx->env, "writable by group or others (mode 0777)");
    expect_refused(fx, fx->env, "chmod 0750");
    assert_int_equal(lstat(apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL), &sb), -1);
    assert_int_not_equal(wsg_store_dir_check(fx->pool, fx->env, &d, &err), APR_SUCCESS);
    assert_non_null(strstr(err, "chmod 0750"));
    make_state_dir(g, 0770);
    expect_refused(fx, g, "mode 0770");

    /* A parent writable by anyone lets anyone swap the directory; the sticky bit (/tmp) stops it. */
    assert_int_equal(mkdir(open_parent, 0777), 0);
    assert_int_equal(chmod(open_parent, 0777), 0);
    expect_refused(fx, below, "without the sticky bit");
    assert_int_equal(lstat(below, &sb), -1);
    assert_int_equal(chmod(open_parent, 01777), 0);
    assert_int_equal(wsg_store_prepare(fx->pool, below, NULL, test_user(), test_user(), &err),
                     APR_SUCCESS);
}

static void test_refuse_foreign_file(void **state)
{
    fx_t *fx = *state;
    const char *data = apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL);
    const char *lock = apr_pstrcat(fx->pool, fx->env, "/lock.mdb", NULL);
    const char *victim = apr_pstrcat(fx->pool, fx->dir, "/victim", NULL);
    const char *other = apr_pstrcat(fx->pool, fx->dir, "/other", NULL);
    const char *err = NULL;
    snap_t before;
    int fd;

    if (geteuid() != 0)
        skip();
    make_state_dir(fx->env, 0750);
    /* A file of another user (here: root's, in a directory the server's user owns). */
    fd = open(data, O_WRONLY | O_CREAT | O_EXCL, 0640);
    assert_true(fd >= 0);
    close(fd);
    expect_refused(fx, fx->env, "is owned by root");
    expect_refused(fx, fx->env, data);
    assert_int_equal(chown(data, 12345, 12345), 0);
    expect_refused(fx, fx->env, "uid 12345");
    assert_int_equal(unlink(data), 0);

    /* A hard link to a file elsewhere (owned by the expected user, so only the link count tells). */
    make_victim(victim);
    assert_int_equal(chown(victim, 65534, 65534), 0);
    assert_int_equal(chmod(victim, 0600), 0);
    snap(victim, &before);
    assert_int_equal(link(victim, lock), 0);
    expect_refused(fx, fx->env, "hard links");
    assert_untouched(victim, &before);
    assert_int_equal(unlink(lock), 0);

    /* Not a regular file. */
    assert_int_equal(mkfifo(lock, 0600), 0);
    assert_int_equal(chown(lock, 65534, 65534), 0);
    expect_refused(fx, fx->env, "not a regular file");
    assert_int_equal(unlink(lock), 0);

    /* A group-writable file. */
    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err), APR_SUCCESS);
    assert_int_equal(chmod(lock, 0660), 0);
    expect_refused(fx, fx->env, "chmod 0640");
    assert_int_equal(chmod(lock, 0640), 0);

    /* A directory owned by someone else than the server's user or root. */
    assert_int_equal(mkdir(other, 0750), 0);
    assert_int_equal(chown(other, 12345, 12345), 0);
    expect_refused(fx, other, "is owned by uid 12345");
}

/* The LMDB work runs as the directory's owner: a data.mdb its owner may not write (root could)
 * fails to open, where it would open as root. Whatever a race makes LMDB follow, it follows
 * with that user's rights only. */
static void test_prepare_runs_as_owner(void **state)
{
    fx_t *fx = *state;
    const char *data = apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL);
    const char *err = NULL;

    if (geteuid() != 0)
        skip();
    make_state_dir(fx->env, 0750);
    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err), APR_SUCCESS);
    assert_int_equal(chmod(data, 0440), 0);
    err = NULL;
    assert_int_not_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err),
                         APR_SUCCESS);
    assert_non_null(err);
    assert_non_null(strstr(err, "Permission denied"));
    assert_int_equal(chmod(data, 0640), 0);
    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err), APR_SUCCESS);
}

/* A root-owned directory (made by the administrator): root creates the missing files itself,
 * with O_EXCL, and hands those to the server's user; nobody else can add names there. */
static void test_root_owned_dir(void **state)
{
    fx_t *fx = *state;
    const char *data = apr_pstrcat(fx->pool, fx->env, "/data.mdb", NULL);
    const char *err = NULL;
    wsg_store_dir_t *d = NULL;
    wsg_store_t *st = NULL;
    struct stat sb;

    if (geteuid() != 0)
        skip();
    assert_int_equal(mkdir(fx->env, 0755), 0);
    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, 65534, 65534, &err), APR_SUCCESS);
    assert_int_equal(stat(fx->env, &sb), 0);
    assert_int_equal(sb.st_uid, 0);                 /* not ours to chown */
    assert_int_equal(stat(data, &sb), 0);
    assert_int_equal(sb.st_uid, 65534);
    /* The CLI's way in: the directory's owner is root, any file owner is accepted then. */
    assert_int_equal(wsg_store_dir_check(fx->pool, fx->env, &d, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_dir_uid(d), 0);
    assert_int_equal(wsg_store_open_dir(fx->pool, d, NULL, &st, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_dir_recheck(fx->pool, d, &err), APR_SUCCESS);
    wsg_store_close(st);
}

/* Missing ancestors are made traversable (the children open the state by its path as their
 * user); the state directory itself 0750. */
static void test_ancestors_created(void **state)
{
    fx_t *fx = *state;
    const char *top = apr_pstrcat(fx->pool, fx->dir, "/a", NULL);
    const char *dir = apr_pstrcat(fx->pool, top, "/b/env", NULL);
    const char *err = NULL;
    struct stat sb;
    mode_t old = umask(022);

    assert_int_equal(wsg_store_prepare(fx->pool, dir, NULL, test_user(), test_user(), &err),
                     APR_SUCCESS);
    umask(old);
    assert_int_equal(stat(top, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    assert_int_equal(stat(apr_pstrcat(fx->pool, top, "/b", NULL), &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    if (geteuid() == 0)
        assert_int_equal(sb.st_uid, 65534);
}

/* wsg_store_open_dir works through the fd: renaming the directory away after the check changes
 * nothing about what is opened. */
static void test_open_dir_fd(void **state)
{
    fx_t *fx = *state;
    const char *moved = apr_pstrcat(fx->pool, fx->dir, "/moved", NULL);
    const char *err = NULL;
    wsg_store_dir_t *d = NULL;
    wsg_store_t *st;
    wsg_addr_t a;
    wsg_rec_t r;

    st = open_store(fx, fx->env, NULL);
    addr4(&a, 9, 9);
    assert_int_equal(put_hits(st, &a, 9), APR_SUCCESS);
    wsg_store_close(st);
    assert_int_equal(wsg_store_dir_check(fx->pool, fx->env, &d, &err), APR_SUCCESS);
    assert_int_equal(rename(fx->env, moved), 0);
    assert_int_equal(mkdir(fx->env, 0750), 0);      /* an impostor at the old path */
    assert_int_equal(wsg_store_open_dir(fx->pool, d, NULL, &st, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 9);
    wsg_store_close(st);
}

/* Reader slots are a configured limit (one per thread and store, plus one per running iterate):
 * running out is an error whose text names it; a slot comes back when its thread exits. */
static void *thr_get_once(void *arg)
{
    wsg_store_t *st = arg;
    wsg_addr_t a;
    wsg_rec_t r;
    apr_status_t rv;
    addr4(&a, 1, 1);
    rv = wsg_store_get(st, &a, &r);
    if (rv != APR_SUCCESS)
        return strdup(wsg_store_strerror(rv));
    return NULL;
}

static int cb_iter_spawn(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    wsg_store_t *st = baton;
    pthread_t t;
    void *res = NULL;
    assert_int_equal(pthread_create(&t, NULL, thr_get_once, st), 0);
    pthread_join(t, &res);
    assert_non_null(res);
    assert_non_null(strstr(res, "MDB_READERS_FULL"));
    free(res);
    return 1;
}

static void test_readers_full(void **state)
{
    fx_t *fx = *state;
    wsg_store_opts_t opts = { 0, 2, 0 };
    wsg_store_t *st = open_store(fx, fx->env, &opts);
    wsg_store_stat_t ss;
    pthread_t t;
    void *res = NULL;
    wsg_addr_t a;
    wsg_rec_t r;

    assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
    assert_int_equal(ss.max_readers, 2);
    addr4(&a, 1, 1);
    assert_int_equal(put_hits(st, &a, 1), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);    /* main thread: slot 1 */
    assert_int_equal(pthread_create(&t, NULL, thr_get_once, st), 0);
    pthread_join(t, &res);                                         /* slot 2, handed back */
    assert_null(res);
    /* The iterate txn takes the spare slot: a new thread finds none left. */
    assert_int_equal(wsg_store_iterate(st, cb_iter_spawn, st), APR_SUCCESS);
    /* Afterwards the slot is free again. */
    assert_int_equal(pthread_create(&t, NULL, thr_get_once, st), 0);
    pthread_join(t, &res);
    assert_null(res);
    /* Updates never need a reader slot. */
    assert_int_equal(put_hits(st, &a, 2), APR_SUCCESS);
}

#define NPROC 8
#define KINCR 200

/* No lost updates across processes: each child opens its own handle after fork and increments
 * the same two records (an address and its prefix, in one transaction). */
static void test_multi_process(void **state)
{
    fx_t *fx = *state;
    const char *err = NULL;
    wsg_store_t *st = NULL;
    wsg_addr_t k[2];
    wsg_rec_t r;
    pid_t pids[NPROC];
    int i, status;

    assert_int_equal(wsg_store_prepare(fx->pool, fx->env, NULL, -1, -1, &err), APR_SUCCESS);
    addr4(&k[0], 8, 8);
    k[1] = k[0];
    k[1].bits = 24;
    k[1].bytes[3] = 0;
    fflush(NULL);
    for (i = 0; i < NPROC; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            apr_pool_t *cp;
            wsg_store_t *cst = NULL;
            const char *cerr = NULL;
            int j, bad = 0;
            wsg_rec_t cr;
            apr_pool_create(&cp, NULL);
            if (wsg_store_open(cp, fx->env, NULL, &cst, &cerr) != APR_SUCCESS) {
                fprintf(stderr, "child open: %s\n", cerr);
                _exit(2);
            }
            for (j = 0; j < KINCR; j++) {
                apr_status_t rv = wsg_store_update(cst, k, 2, cb_incr, NULL);
                if (rv != APR_SUCCESS) {
                    fprintf(stderr, "child update: %s\n", wsg_store_strerror(rv));
                    bad = 1;
                }
                rv = wsg_store_get(cst, &k[0], &cr);
                if (rv != APR_SUCCESS || cr.hits < (apr_uint32_t)j + 1)
                    bad = 1;
            }
            apr_pool_destroy(cp);
            _exit(bad ? 1 : 0);
        }
    }
    for (i = 0; i < NPROC; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &st, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &k[0], &r), APR_SUCCESS);
    assert_int_equal(r.hits, NPROC * KINCR);
    assert_int_equal(wsg_store_get(st, &k[1], &r), APR_SUCCESS);
    assert_int_equal(r.hits, NPROC * KINCR);
}

#define NTHREADS 8
#define TITER 300

typedef struct thr_arg_t {
    wsg_store_t *st;
    int idx;
    int errors;
} thr_arg_t;

static void *thr_main(void *arg)
{
    thr_arg_t *t = arg;
    wsg_addr_t shared, own;
    wsg_rec_t r;
    int j;

    addr4(&shared, 200, 1);
    addr4(&own, 201, t->idx);
    for (j = 0; j < TITER; j++) {
        apr_status_t rv = wsg_store_get(t->st, &shared, &r);
        if (rv != APR_SUCCESS && rv != APR_NOTFOUND)
            t->errors++;
        if (wsg_store_update(t->st, &shared, 1, cb_incr, NULL) != APR_SUCCESS)
            t->errors++;
        if (wsg_store_update(t->st, &own, 1, cb_incr, NULL) != APR_SUCCESS)
            t->errors++;
        if (wsg_store_get(t->st, &own, &r) != APR_SUCCESS || r.hits != (apr_uint32_t)j + 1)
            t->errors++;
    }
    return NULL;
}

static void run_threads(wsg_store_t *st)
{
    pthread_t th[NTHREADS];
    thr_arg_t args[NTHREADS];
    int i;
    for (i = 0; i < NTHREADS; i++) {
        args[i].st = st;
        args[i].idx = i;
        args[i].errors = 0;
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
}

static void test_threads(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_store_stat_t s1, s2;
    wsg_addr_t a;
    wsg_rec_t r;
    int i, round;

    run_threads(st);
    addr4(&a, 200, 1);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, NTHREADS * TITER);
    for (i = 0; i < NTHREADS; i++) {
        addr4(&a, 201, i);
        assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
        assert_int_equal(r.hits, TITER);
    }
    /* Exited threads hand their read txns back: more rounds of new threads take no more reader
     * slots than one round's threads plus the main thread (without reuse: 8 per round). */
    assert_int_equal(wsg_store_stat(st, &s1), APR_SUCCESS);
    assert_true(s1.readers <= NTHREADS + 1);
    for (round = 0; round < 4; round++) {
        for (i = 0; i < NTHREADS; i++) {
            addr4(&a, 201, i);
            assert_int_equal(wsg_store_delete(st, &a), APR_SUCCESS);
        }
        run_threads(st);
        assert_int_equal(wsg_store_stat(st, &s2), APR_SUCCESS);
        assert_true(s2.readers <= NTHREADS + 1);
    }
    addr4(&a, 200, 1);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 5 * NTHREADS * TITER);
}

/* ---- packed records (version 2), version-1 records, eviction, purge slices ---- */

static int cb_put_rec(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    recs[0] = *(const wsg_rec_t *)baton;
    return 1;
}

static apr_status_t put_rec(wsg_store_t *st, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    return wsg_store_update(st, key, 1, cb_put_rec, (void *)rec);
}

static void test_pack_roundtrip(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_addr_t a, pre, v6;
    wsg_rec_t in, out;

    memset(&in, 0, sizeof(in));
    in.flags = WSG_RF_SHELL_HIT | WSG_RF_IMPORTED | 0x20 | 0x80 | 0x400;  /* and the extended bits */
    in.first_seen = T_FIRST;
    in.last_seen = T_FIRST + 90 * SEC + 700000;          /* stored in whole seconds */
    in.score = 12.625;
    in.score_time = T_FIRST + 90 * SEC + 123456;         /* stored in ms */
    in.ban_until = T_FIRST + 3600 * SEC + 1999;          /* stored in ms */
    in.hits = 70000;                                     /* 32 bits */
    in.ban_count = 70000;                                /* saturates at 65535 */
    in.distinct = 17;
    in.miss_ring_lo = 0x00020001u;                       /* the ring of recent misses: kept */
    in.miss_ring_hi = 0x00040003u;
    in.probe_bloom = 0x8000000000000001ULL;
    in.rules[0] = 5;
    in.rules[1] = 300;
    in.rules[2] = 2147483647u;
    in.members = 9;
    in.member_bloom = 0x0123456789abcdefULL;
    strcpy(in.source, "peer.example/feed-with-a-long-n");   /* 31 characters */

    addr4(&a, 7, 9);
    assert_int_equal(put_rec(st, &a, &in), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &out), APR_SUCCESS);
    assert_int_equal(out.version, WSG_REC_VERSION);
    assert_int_equal(out.flags, in.flags);
    assert_int_equal(out.first_seen, T_FIRST);
    {
        /* First seen keeps its milliseconds (a scan's pace is measured from it); without a
         * ring the tail is there for them alone. */
        wsg_rec_t ms = in, back;
        wsg_addr_t k;
        ms.first_seen = T_FIRST + 250987;
        ms.miss_ring_lo = ms.miss_ring_hi = 0;
        addr4(&k, 7, 10);
        assert_int_equal(put_rec(st, &k, &ms), APR_SUCCESS);
        assert_int_equal(wsg_store_get(st, &k, &back), APR_SUCCESS);
        assert_int_equal(back.first_seen, T_FIRST + 250000);
        assert_int_equal(back.miss_ring_lo, 0);
        assert_int_equal(back.last_seen, T_FIRST + 90 * SEC);
    }
    assert_int_equal(out.last_seen, T_FIRST + 90 * SEC);
    assert_true(out.score == 12.625);
    assert_int_equal(out.score_time, T_FIRST + 90 * SEC + 123000);
    assert_int_equal(out.ban_until, T_FIRST + 3600 * SEC + 1000);
    assert_int_equal(out.hits, 70000);
    assert_int_equal(out.ban_count, 65535);
    assert_int_equal(out.distinct, 17);
    assert_int_equal(out.miss_ring_lo, 0x00020001u);
    assert_int_equal(out.miss_ring_hi, 0x00040003u);
    assert_true(out.probe_bloom == in.probe_bloom);
    assert_int_equal(out.rules[0], 5);
    assert_int_equal(out.rules[1], 300);
    assert_int_equal(out.rules[2], 2147483647u);
    assert_int_equal(out.rules[3], 0);
    assert_int_equal(out.members, 9);
    assert_true(out.member_bloom == in.member_bloom);
    assert_string_equal(out.source, in.source);

    /* A manual ban keeps its reason; a ban for ever (APR_INT64_MAX) stays for ever; unset times
     * stay unset. */
    memset(&in, 0, sizeof(in));
    in.flags = WSG_RF_MANUAL;
    in.ban_until = APR_INT64_MAX;
    in.score = 1.5;
    strcpy(in.source, "ssh brute force");
    assert_int_equal(wsg_addr_parse("2001:db8::1", &v6), APR_SUCCESS);
    assert_int_equal(put_rec(st, &v6, &in), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &v6, &out), APR_SUCCESS);
    assert_int_equal(out.ban_until, APR_INT64_MAX);
    assert_int_equal(out.first_seen, 0);
    assert_int_equal(out.score_time, 0);
    assert_string_equal(out.source, "ssh brute force");
    assert_int_equal(out.flags, WSG_RF_MANUAL);
    in.source[0] = '\0';                           /* no tails at all */
    assert_int_equal(put_rec(st, &v6, &in), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &v6, &out), APR_SUCCESS);
    assert_string_equal(out.source, "");
    assert_int_equal(out.members, 0);

    /* Keys of every shape come back out of iterate as they went in. */
    wsg_addr_prefix(&v6, &pre);
    assert_int_equal(put_rec(st, &pre, &in), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &pre, &out), APR_SUCCESS);
    wsg_addr_prefix(&a, &pre);
    assert_int_equal(put_rec(st, &pre, &in), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &pre, &out), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &out), APR_SUCCESS);
    assert_int_equal(wsg_store_delete(st, &pre), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &pre, &out), APR_NOTFOUND);
    assert_int_equal(wsg_store_get(st, &a, &out), APR_SUCCESS);   /* its neighbour key stays */
}

/* Writes one record the way version 1 did: the 20-byte key, the struct as is. */
static void put_v1(const char *env, const wsg_addr_t *key, const wsg_rec_v1_t *rec)
{
    MDB_env *e;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { sizeof(*key), (void *)key }, v = { sizeof(*rec), (void *)rec };

    assert_int_equal(mdb_env_create(&e), 0);
    assert_int_equal(mdb_env_open(e, env, MDB_NOTLS, 0640), 0);
    assert_int_equal(mdb_txn_begin(e, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(e);
}

/* Size of the raw value under a 20-byte (version-1) key, 0 if none. */
static size_t raw_v1_size(const char *env, const wsg_addr_t *key)
{
    MDB_env *e;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { sizeof(*key), (void *)key }, v;
    size_t n = 0;

    assert_int_equal(mdb_env_create(&e), 0);
    assert_int_equal(mdb_env_open(e, env, MDB_NOTLS | MDB_RDONLY, 0640), 0);
    assert_int_equal(mdb_txn_begin(e, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    if (mdb_get(txn, dbi, &k, &v) == 0)
        n = v.mv_size;
    mdb_txn_abort(txn);
    mdb_env_close(e);
    return n;
}

static void test_v1_records(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st;
    wsg_addr_t a, b, c;
    wsg_rec_v1_t old;
    wsg_rec_t r;
    int n = 0;
    unsigned purged = 0;

    assert_int_equal(sizeof(wsg_rec_v1_t), 136);   /* the version-1 layout, byte for byte */
    st = open_store(fx, fx->env, NULL);
    wsg_store_close(st);
    memset(&old, 0, sizeof(old));
    old.version = WSG_REC_VERSION_V1;
    old.flags = WSG_RF_MANUAL;
    old.ban_until = T_FIRST + 7 * 24 * 3600 * SEC;
    old.score = 3.25;
    old.score_time = T_FIRST + 5;
    old.hits = 42;
    old.rules[0] = 1001;
    addr4(&a, 3, 1);
    put_v1(fx->env, &a, &old);
    old.hits = 43;
    old.flags = 0;
    old.ban_until = 0;
    addr4(&b, 3, 2);
    put_v1(fx->env, &b, &old);
    old.version = 7;                                /* neither version: absent, purged */
    addr4(&c, 3, 3);
    put_v1(fx->env, &c, &old);

    st = open_store(fx, fx->env, NULL);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.version, WSG_REC_VERSION);
    assert_int_equal(r.hits, 42);
    assert_int_equal(r.flags, WSG_RF_MANUAL);
    assert_int_equal(r.ban_until, T_FIRST + 7 * 24 * 3600 * SEC);
    assert_true(r.score == 3.25);
    assert_int_equal(r.score_time, T_FIRST + 5);     /* exact: read as it was */
    assert_int_equal(r.rules[0], 1001);
    assert_int_equal(wsg_store_get(st, &c, &r), APR_NOTFOUND);
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 2);

    /* The next write sees the old record and rewrites it packed, under the packed key. */
    assert_int_equal(wsg_store_update(st, &a, 1, cb_incr, NULL), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    assert_int_equal(r.hits, 43);
    assert_int_equal(r.flags, WSG_RF_MANUAL);
    assert_int_equal(raw_v1_size(fx->env, &a), 0);
    assert_int_equal(raw_v1_size(fx->env, &b), sizeof(wsg_rec_v1_t));
    n = 0;
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 2);
    /* Deleting an old one, and purging the unreadable one. */
    assert_int_equal(wsg_store_delete(st, &b), APR_SUCCESS);
    assert_int_equal(wsg_store_get(st, &b, &r), APR_NOTFOUND);
    assert_int_equal(wsg_store_purge(st, cb_expired_mod3, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, 1);                    /* c (unreadable); a has 43 hits */
    assert_int_equal(raw_v1_size(fx->env, &c), 0);

    /* A purge sweep rewrites the version-1 records still in use packed: afterwards lookups
     * need no old keys (and find everything). */
    wsg_store_close(st);
    old.version = WSG_REC_VERSION_V1;
    for (n = 0; n < 40; n++) {
        addr4(&b, 4, n);
        old.hits = (apr_uint32_t)(3 * n + 1);      /* none a multiple of 3: all kept */
        put_v1(fx->env, &b, &old);
    }
    st = open_store(fx, fx->env, NULL);
    for (n = 0; n < 2; n++)                         /* 32 rewritten per transaction */
        assert_int_equal(wsg_store_purge(st, cb_expired_mod3, NULL, 0, &purged), APR_SUCCESS);
    for (n = 0; n < 40; n++) {
        addr4(&b, 4, n);
        assert_int_equal(raw_v1_size(fx->env, &b), 0);
        assert_int_equal(wsg_store_get(st, &b, &r), APR_SUCCESS);
        assert_int_equal(r.hits, 3 * n + 1);
    }
    n = 0;
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 41);
}

/* Fills a 1 MiB map and keeps writing new low-value records: the store evicts instead of
 * refusing, and never a ban in force, an alert or a manual ban. */
static int cb_evict_seen(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec)
{
    int *counts = baton;
    if (rec->flags & WSG_RF_MANUAL)
        counts[0]++;
    else if (rec->flags & WSG_RF_SHELL_HIT)
        counts[1]++;
    else if (rec->ban_until > apr_time_now())
        counts[2]++;
    else
        counts[3]++;
    return 0;
}

static void test_evict(void **state)
{
    fx_t *fx = *state;
    wsg_store_opts_t opts = { 1024 * 1024, 0, 0 };
    wsg_store_t *st = open_store(fx, fx->env, &opts);
    wsg_store_stat_t ss;
    wsg_addr_t a;
    wsg_rec_t rec, r;
    apr_time_t now = apr_time_now();
    int i, counts[4] = { 0 }, protected_n = 0;

    assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
    /* A third protected, scattered among low-score records, first of all a 2 h old one. */
    for (i = 0; (apr_size_t)i < ss.capacity; i++) {
        memset(&rec, 0, sizeof(rec));
        rec.score = 1 + (i % 7);
        rec.score_time = rec.last_seen = rec.first_seen = now - (apr_time_t)(i % 5) * 3600 * SEC;
        if (i % 9 == 0) {
            rec.flags = WSG_RF_MANUAL;        /* an operator's ban, in force */
            rec.ban_until = now + 7200 * SEC;
        }
        else if (i % 9 == 3)
            rec.flags = WSG_RF_SHELL_HIT;
        else if (i % 9 == 6)
            rec.ban_until = now + 3600 * SEC;
        protected_n += i % 3 == 0;
        addr4(&a, 1 + i / 256, i % 256);
        assert_int_equal(put_rec(st, &a, &rec), APR_SUCCESS);
    }
    assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
    assert_int_equal(ss.evicted, 0);
    assert_int_equal(wsg_store_evicted(st), 0);
    /* Full: an update of the least valuable record (score 0, the oldest) with a new one beside
     * it evicts another record, never the one it is writing. */
    {
        wsg_addr_t two[2];
        addr4(&two[0], 1, 1);                       /* i = 1: a plain low-score record */
        memset(&rec, 0, sizeof(rec));
        rec.last_seen = rec.first_seen = now - 100 * 3600 * SEC;
        assert_int_equal(put_rec(st, &two[0], &rec), APR_SUCCESS);
        addr4(&two[1], 250, 1);
        assert_int_equal(wsg_store_update(st, two, 2, cb_incr, NULL), APR_SUCCESS);
        assert_int_equal(wsg_store_get(st, &two[0], &r), APR_SUCCESS);
        assert_int_equal(r.hits, 1);
        assert_int_equal(wsg_store_get(st, &two[1], &r), APR_SUCCESS);
        assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
        assert_int_equal(ss.records, ss.capacity);
        assert_int_equal(ss.evicted, 1);
        assert_int_equal(wsg_store_delete(st, &two[1]), APR_SUCCESS);
        addr4(&a, 250, 2);
        memset(&rec, 0, sizeof(rec));
        assert_int_equal(put_rec(st, &a, &rec), APR_SUCCESS);   /* back to full, as before */
        ss.evicted = 0;
    }
    /* Three times the capacity in new clients: each one is recorded. */
    for (i = 0; (apr_size_t)i < 3 * ss.capacity; i++) {
        memset(&rec, 0, sizeof(rec));
        rec.score = 2;
        rec.score_time = rec.last_seen = rec.first_seen = now;
        a.family = 4;
        a.bits = 32;
        a.bytes[0] = 10;
        a.bytes[1] = (unsigned char)(i >> 16);
        a.bytes[2] = (unsigned char)(i >> 8);
        a.bytes[3] = (unsigned char)i;
        assert_int_equal(put_rec(st, &a, &rec), APR_SUCCESS);
        assert_int_equal(wsg_store_get(st, &a, &r), APR_SUCCESS);
    }
    assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
    assert_true(ss.records <= ss.capacity);
    assert_true(ss.evicted >= 3 * ss.capacity + 1);
    assert_true(wsg_store_evicted(st) == ss.evicted);
    assert_int_equal(wsg_store_iterate(st, cb_evict_seen, counts), APR_SUCCESS);
    /* Every protected record survived. */
    assert_int_equal(counts[0] + counts[1] + counts[2], protected_n);
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
    /* Only protected records and new ones: the old low-score ones went first. */
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], (int)ss.records);

    /* Once nothing but protected records is left in reach, new ones are refused. */
    for (i = 0; ; i++) {
        apr_status_t rv;
        memset(&rec, 0, sizeof(rec));
        rec.flags = WSG_RF_MANUAL;
        rec.ban_until = now + 7200 * SEC;
        addr4(&a, 200 + i / 256, i % 256);
        a.bytes[1] = 9;
        rv = put_rec(st, &a, &rec);
        if (rv != APR_SUCCESS) {
            assert_int_equal(rv, APR_ENOSPC);
            break;
        }
        assert_true((apr_size_t)i < ss.capacity);
    }
    assert_non_null(strstr(wsg_store_strerror(APR_ENOSPC), "may be evicted"));
}

/* A store callback that takes time, to show the time cap. */
static int cb_expired_slow(void *baton, const wsg_rec_t *rec)
{
    apr_time_t t = apr_time_now();
    while (apr_time_now() - t < 20)
        ;
    return 1;
}

static void test_purge_slices(void **state)
{
    fx_t *fx = *state;
    wsg_store_opts_t opts = { 64 * 1024 * 1024, 0, 0 };
    wsg_store_t *st = open_store(fx, fx->env, &opts);
    wsg_addr_t a;
    unsigned purged = 0, total = 0;
    int i, wrapped = 0, slices = 0, n = 0;

    for (i = 0; i < 5000; i++) {
        addr4(&a, i / 256, i % 256);
        a.bytes[1] = 1;
        assert_int_equal(put_hits(st, &a, (apr_uint32_t)i), APR_SUCCESS);
    }
    /* At most max_seen records looked at, resuming where the last slice stopped. */
    while (!wrapped) {
        assert_int_equal(wsg_store_purge_slice(st, cb_expired_even, NULL, 700, 0, &purged,
                                               &wrapped), APR_SUCCESS);
        assert_true(purged <= 350 + 1);
        total += purged;
        slices++;
        assert_true(slices <= 8);
    }
    assert_int_equal(total, 2500);
    assert_int_equal(slices, 8);                    /* 5000 / 700, rounded up */
    assert_int_equal(wsg_store_iterate(st, cb_odd_only, &n), APR_SUCCESS);
    assert_int_equal(n, 2500);
    /* The next sweep starts over; nothing more to purge. */
    assert_int_equal(wsg_store_purge_slice(st, cb_expired_even, NULL, 0, 0, &purged, &wrapped),
                     APR_SUCCESS);
    assert_int_equal(purged, 0);
    assert_int_equal(wrapped, 0);                   /* 1000 of 2500 */
    /* Time cap: 20 us per record and 2 ms a slice: about 100 records, far below 1000. */
    assert_int_equal(wsg_store_purge_slice(st, cb_expired_slow, NULL, 1000, 2000, &purged,
                                           &wrapped), APR_SUCCESS);
    assert_true(purged > 0 && purged < 300);
    total = purged;
    /* wsg_store_purge walks all of it in such slices. */
    assert_int_equal(wsg_store_purge(st, cb_expired_all, NULL, 0, &purged), APR_SUCCESS);
    assert_int_equal(purged, 2500 - total);
    n = 0;
    assert_int_equal(wsg_store_iterate(st, cb_count, &n), APR_SUCCESS);
    assert_int_equal(n, 0);
}

/* 100,000 addresses of one IPv6 /64, one low-scoring probe each (a miss: 1), as the glue does
 * it: read the address and its prefix (refused when either is banned), else score both in one
 * update. The /64 costs a few records, and once banned refuses every member. And with every
 * request scored (nothing refused), still a few records. */
typedef struct track_baton_t {
    wsg_policy_t       pol;
    wsg_track_t        t;
    wsg_track_result_t res;
} track_baton_t;

static int cb_track(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    track_baton_t *b = baton;
    return wsg_track_apply(&b->pol, &b->t, recs, n, &b->res);
}

static void test_prefix_rotation(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *st = open_store(fx, fx->env, NULL);
    wsg_store_stat_t ss;
    track_baton_t b;
    wsg_addr_t keys[2];
    wsg_rec_t recs[2];
    apr_time_t now = apr_time_now();
    int found[2], i, refused = 0, scored = 0, pass;

    memset(&b, 0, sizeof(b));
    wsg_policy_defaults(&b.pol);
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < 100000; i++) {
            memset(&keys[0], 0, sizeof(keys[0]));
            keys[0].family = 6;
            keys[0].bits = 128;
            keys[0].bytes[0] = 0x20;
            keys[0].bytes[1] = 0x01;
            keys[0].bytes[2] = 0x0d;
            keys[0].bytes[3] = 0xb8;
            keys[0].bytes[7] = (unsigned char)(1 + pass);
            keys[0].bytes[12] = (unsigned char)(i >> 24);
            keys[0].bytes[13] = (unsigned char)(i >> 16);
            keys[0].bytes[14] = (unsigned char)(i >> 8);
            keys[0].bytes[15] = (unsigned char)i;
            wsg_addr_prefix(&keys[0], &keys[1]);
            if (pass == 0) {
                assert_int_equal(wsg_store_get_many(st, keys, 2, recs, found), APR_SUCCESS);
                if ((found[0] && recs[0].ban_until > now) || (found[1] && recs[1].ban_until > now)) {
                    refused++;
                    continue;
                }
            }
            b.t.score = 1;
            b.t.now = now;
            b.t.rule = 0;
            b.t.path = "/x.php";
            b.t.addr = &keys[0];
            assert_int_equal(wsg_store_update(st, keys, 2, cb_track, &b), APR_SUCCESS);
            scored++;
        }
        assert_int_equal(wsg_store_stat(st, &ss), APR_SUCCESS);
        if (pass == 0) {
            /* Banned at a sum of 30 (two members or more); everyone after that refused. */
            assert_true(scored >= 30 && scored <= 31);
            assert_int_equal(refused, 100000 - scored);
            assert_true(ss.records <= 12);
        }
        else
            assert_true(ss.records <= 2 * 12);
        printf("  /64 rotation, pass %d: %d scored, %d refused, %zu records\n", pass, scored,
               refused, (size_t)ss.records);
        scored = refused = 0;
    }
}

/* A full filesystem is not a full map: in a child limited to 512 KiB of file (writes beyond fail
 * short, as on a full disk, and LMDB says EIO), a 64 MiB map fails with WSG_STORE_EDISKFULL, not
 * APR_ENOSPC. */
static void test_disk_full(void **state)
{
    fx_t *fx = *state;
    wsg_store_opts_t opts = { 64 * 1024 * 1024, 0, 0 };
    wsg_store_t *st = open_store(fx, fx->env, &opts);
    pid_t pid;
    int status = 0;

    wsg_store_close(st);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = { 512 * 1024, 512 * 1024 };
        apr_pool_t *p;
        wsg_addr_t a;
        apr_status_t rv = APR_SUCCESS;
        const char *err;
        int i;

        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        apr_pool_create(&p, NULL);
        if (wsg_store_open(p, fx->env, &opts, &st, &err) != APR_SUCCESS)
            _exit(10);
        for (i = 0; i < 100000 && rv == APR_SUCCESS; i++) {
            addr4(&a, i / 256, i % 256);
            a.bytes[1] = (unsigned char)(i >> 16);
            rv = put_hits(st, &a, 1);
        }
        if (rv == APR_SUCCESS)
            _exit(11);                  /* never failed */
        if (rv == APR_ENOSPC)
            _exit(12);                  /* taken for a full map */
        if (rv != WSG_STORE_EDISKFULL) {
            fprintf(stderr, "rv %d: %s\n", rv, wsg_store_strerror(rv));
            _exit(13);
        }
        if (!strstr(wsg_store_strerror(rv), "mdb_txn_commit"))
            _exit(14);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the "may have a record" filter (STATEDIR/records.bloom) ---- */

/* prepare makes it; a handle believes it: absent keys cost no read, written ones are found, by
 * this handle and by another one (another child). */
static void test_filter_in_force(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *a = open_store(fx, fx->env, NULL), *b = NULL;
    wsg_store_stat_t ss;
    wsg_addr_t k[2], other;
    wsg_rec_t r;
    const char *err = NULL;
    int i, maybe = 0;

    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_true(ss.filter_bytes > 0);
    assert_true(ss.filter_ok);
    addr4(&k[0], 1, 1);
    wsg_addr_prefix(&k[0], &k[1]);
    assert_false(wsg_store_may_have(a, k, 2));
    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &b, &err), APR_SUCCESS);
    assert_int_equal(put_hits(a, &k[0], 7), APR_SUCCESS);
    assert_true(wsg_store_may_have(a, k, 1));
    assert_true(wsg_store_may_have(b, k, 1));
    assert_int_equal(wsg_store_get(b, &k[0], &r), APR_SUCCESS);
    assert_int_equal(r.hits, 7);
    assert_int_equal(wsg_store_stat(b, &ss), APR_SUCCESS);
    assert_true(ss.filter_ok);
    /* Most other keys are still ruled out (a false "maybe" is allowed, rare). */
    for (i = 0; i < 200; i++) {
        addr4(&other, 50, i);
        maybe += wsg_store_may_have(b, &other, 1);
    }
    assert_true(maybe < 10);
}

/* A write by a handle without the filter (an older wsguardctl, a file it could not map) leaves
 * the filter uncovered: the others read LMDB again and find the record. */
static void test_filter_foreign_write(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *a = open_store(fx, fx->env, NULL), *b = NULL;
    const char *bloom = apr_pstrcat(fx->pool, fx->env, "/records.bloom", NULL);
    const char *aside = apr_pstrcat(fx->pool, fx->env, "/aside", NULL);
    const char *err = NULL;
    wsg_store_stat_t ss;
    wsg_addr_t k;
    wsg_rec_t r;
    int found = 0;

    addr4(&k, 2, 2);
    assert_int_equal(rename(bloom, aside), 0);
    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &b, &err), APR_SUCCESS);
    assert_int_equal(rename(aside, bloom), 0);
    assert_int_equal(wsg_store_stat(b, &ss), APR_SUCCESS);
    assert_int_equal(ss.filter_bytes, 0);
    assert_int_equal(put_hits(b, &k, 3), APR_SUCCESS);
    assert_true(wsg_store_may_have(a, &k, 1));
    assert_int_equal(wsg_store_get_many(a, &k, 1, &r, &found), APR_SUCCESS);
    assert_true(found);
    assert_int_equal(r.hits, 3);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_false(ss.filter_ok);
    /* ... until prepare (the next start or graceful) rebuilds it from the records. */
    wsg_store_close(a);
    a = open_store(fx, fx->env, NULL);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_true(ss.filter_ok);
    assert_true(wsg_store_may_have(a, &k, 1));
    assert_int_equal(wsg_store_get(a, &k, &r), APR_SUCCESS);
}

/* The rebuild drops the bits of records that are gone; a symlink or a damaged file in place of
 * the filter is never followed or believed, and prepare makes a real one. */
static void test_filter_rebuild_and_refusals(void **state)
{
    fx_t *fx = *state;
    wsg_store_t *a = open_store(fx, fx->env, NULL);
    const char *bloom = apr_pstrcat(fx->pool, fx->env, "/records.bloom", NULL);
    const char *target = apr_pstrcat(fx->pool, fx->dir, "/victim", NULL);
    const char *err = NULL;
    wsg_store_stat_t ss;
    wsg_addr_t k;
    struct stat sb;
    int fd;

    addr4(&k, 3, 3);
    assert_int_equal(put_hits(a, &k, 1), APR_SUCCESS);
    assert_true(wsg_store_may_have(a, &k, 1));
    assert_int_equal(wsg_store_delete(a, &k), APR_SUCCESS);
    assert_true(wsg_store_may_have(a, &k, 1));        /* a delete leaves its bits */
    wsg_store_close(a);
    a = open_store(fx, fx->env, NULL);                /* prepare rebuilt it */
    assert_false(wsg_store_may_have(a, &k, 1));
    wsg_store_close(a);

    /* a symlink: not followed (its target stays as it is), no filter until prepare */
    fd = open(target, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    assert_int_equal(unlink(bloom), 0);
    assert_int_equal(symlink(target, bloom), 0);
    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &a, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_int_equal(ss.filter_bytes, 0);
    assert_true(wsg_store_may_have(a, &k, 1));
    wsg_store_close(a);
    a = open_store(fx, fx->env, NULL);
    assert_int_equal(lstat(bloom, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(stat(target, &sb), 0);
    assert_int_equal(sb.st_size, 1);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_true(ss.filter_ok);
    wsg_store_close(a);

    /* a damaged one (wrong size): not believed; prepare makes it again */
    assert_int_equal(truncate(bloom, 4096), 0);
    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &a, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_int_equal(ss.filter_bytes, 0);
    wsg_store_close(a);
    a = open_store(fx, fx->env, NULL);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_true(ss.filter_ok && ss.filter_bytes > 0);
    /* group-writable: refused */
    wsg_store_close(a);
    assert_int_equal(chmod(bloom, 0660), 0);
    assert_int_equal(wsg_store_open(fx->pool, fx->env, NULL, &a, &err), APR_SUCCESS);
    assert_int_equal(wsg_store_stat(a, &ss), APR_SUCCESS);
    assert_int_equal(ss.filter_bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_filter_in_force, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_filter_foreign_write, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_filter_rebuild_and_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_found, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_two_keys, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_iterate_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_purge, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_map_full, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_recreated, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_map_size_adopted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_many, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_readonly, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_stores, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_chown, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_symlinked_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_symlinked_dir, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_writable_dir, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_foreign_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prepare_runs_as_owner, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_root_owned_dir, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_open_dir_fd, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ancestors_created, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_readers_full, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_multi_process, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_threads, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pack_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_v1_records, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_evict, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_purge_slices, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prefix_rotation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, fx_setup, fx_teardown),
    };
    /* Fixtures here manage their own pool and temp dir. */
    (void)wsg_test_pool_setup;
    (void)wsg_test_pool_teardown;
    return WSG_RUN_GROUP(tests);
}
