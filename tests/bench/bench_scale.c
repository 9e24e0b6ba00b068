/* bench_scale: the state at scale, through the store and track API the module uses.
 *   bench_scale [N] [DIR]   N address records (default 1,000,000), in DIR (default a temp dir)
 * 1. fill: N clients at random IPv4 addresses, one scored request each (address + its /24, one
 *    write transaction, as the module does): fill time per client, records, bytes per record on
 *    disk (data.mdb size / records; LMDB's page and node overhead included);
 * 2. read: the module's per-request lookup (address + prefix, one read transaction) for clients
 *    that are in the store and for clients that are not: ns per lookup;
 * 3. purge: with every record expired, bounded purge slices (wsg_store_purge_slice, as the
 *    module runs them) until the sweep wraps: slices, max and median time a slice holds the
 *    writer lock, total time;
 * 4. eviction: a 1 MiB map (the smallest WSGuardMapSize) flooded with 20,000 new clients, each
 *    in its own /24, with a few bans set first: time per client, records evicted, bans kept.
 * Prints figures; exit status 1 if a target is missed (> 128 bytes per record, a purge slice
 * longer than 10 ms, a ban lost). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "wsg_store.h"
#include "wsg_track.h"

typedef struct {
    wsg_policy_t       pol;
    wsg_track_t        t;
    wsg_track_result_t res;
} baton_t;

static int cb_track(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    baton_t *b = baton;
    return wsg_track_apply(&b->pol, &b->t, recs, n, &b->res);
}

static int cb_ban(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    recs[0].ban_until = *(apr_time_t *)baton;
    recs[0].ban_count = 1;
    return 1;
}

static int expired_all(void *baton, const wsg_rec_t *rec)
{
    return 1;
}

static apr_uint64_t rng = 88172645463325252ULL;

static apr_uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (apr_uint32_t)(rng >> 16);
}

static void addr_of(apr_uint32_t v, wsg_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    a->family = 4;
    a->bits = 32;
    a->bytes[0] = (unsigned char)(v >> 24);
    a->bytes[1] = (unsigned char)(v >> 16);
    a->bytes[2] = (unsigned char)(v >> 8);
    a->bytes[3] = (unsigned char)v;
}

/* CPU time of this thread in microseconds: the figures must not depend on what else the machine
 * runs (wall times are printed too). */
static apr_time_t cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (apr_time_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_time(const void *x, const void *y)
{
    apr_time_t a = *(const apr_time_t *)x, b = *(const apr_time_t *)y;
    return a < b ? -1 : a > b;
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[1024];
    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
    }
    closedir(d);
    rmdir(path);
}

static wsg_store_t *open_at(apr_pool_t *p, const char *dir, apr_size_t map)
{
    wsg_store_opts_t opts;
    wsg_store_t *st = NULL;
    const char *err = NULL;

    memset(&opts, 0, sizeof(opts));
    opts.map_size = map;
    if (wsg_store_prepare(p, dir, &opts, -1, -1, &err) != APR_SUCCESS
        || wsg_store_open(p, dir, &opts, &st, &err) != APR_SUCCESS) {
        fprintf(stderr, "bench_scale: %s: %s\n", dir, err ? err : "?");
        exit(2);
    }
    return st;
}

/* One scored request of client v (score 1, a miss on /x.php), as the module writes it. */
static apr_status_t score(wsg_store_t *st, baton_t *b, apr_uint32_t v, apr_time_t now)
{
    wsg_addr_t keys[2];

    addr_of(v, &keys[0]);
    wsg_addr_prefix(&keys[0], &keys[1]);
    b->t.score = 1;
    b->t.now = now;
    b->t.rule = 1001;
    b->t.path = "/x.php";
    b->t.addr = &keys[0];
    return wsg_store_update(st, keys, 2, cb_track, b);
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    wsg_store_t *st;
    wsg_store_stat_t ss;
    baton_t b;
    char tmpl[] = "/tmp/wsg-bench-scale-XXXXXX";
    const char *top, *dir, *small;
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000UL, i;
    apr_time_t t0, t1, now, *slice;
    apr_size_t map;
    struct stat sb;
    double per_rec, ns_hit, ns_miss, ns_empty, slice_max, slice_med, cpu_max, cpu_med;
    apr_time_t c0, c1, *cslice;
    unsigned long nslices = 0, purged_total = 0, lookups = n < 1000000 ? n : 1000000;
    int fails = 0, wrapped = 0, found[2], bans_kept = 0;
    wsg_addr_t keys[2];
    wsg_rec_t recs[2];

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (n < 1000)
        n = 1000;
    top = argc > 2 ? argv[2] : mkdtemp(tmpl);
    if (!top) {
        perror("mkdtemp");
        return 2;
    }
    dir = apr_pstrcat(p, top, "/state", NULL);
    small = apr_pstrcat(p, top, "/small", NULL);
    /* Room for 2 records per client (address and /24) under the store's record cap. */
    map = (apr_size_t)(n * 2 * 400 + (64 << 20));
    st = open_at(p, dir, map);
    memset(&b, 0, sizeof(b));
    wsg_policy_defaults(&b.pol);
    now = apr_time_now();
    /* WSG_BENCH_FILL_AGO=SECONDS: the clients were seen that long ago (expired records, for
     * tests/integration/test_purge.py) */
    if (getenv("WSG_BENCH_FILL_AGO"))
        now -= apr_time_from_sec(atol(getenv("WSG_BENCH_FILL_AGO")));

    /* 1. fill (WSG_BENCH_FILL_ONLY set: only this, for tests/bench/bench-cost.sh, with no
     * address in 127.0.0.0/8, where its clients are) */
    c0 = cpu_now();
    t0 = apr_time_now();
    for (i = 0; i < n; i++) {
        apr_uint32_t v = rnd();
        if (getenv("WSG_BENCH_FILL_ONLY") && (v >> 24) == 127)
            v ^= 0x80000000u;
        if (score(st, &b, v, now) != APR_SUCCESS) {
            fprintf(stderr, "bench_scale: fill failed at %lu: %s\n", i,
                    wsg_store_strerror(APR_ENOSPC));
            return 2;
        }
    }
    t1 = apr_time_now();
    c1 = cpu_now();
    wsg_store_stat(st, &ss);
    if (stat(apr_pstrcat(p, dir, "/data.mdb", NULL), &sb) != 0) {
        perror("data.mdb");
        return 2;
    }
    per_rec = (double)sb.st_size / (double)ss.records;
    printf("fill      %lu clients at random IPv4 addresses: %zu records (address + /24) in %.1f s "
           "(%.1f s CPU), %.2f us CPU per client (one write transaction each)\n", n,
           (size_t)ss.records, (double)(t1 - t0) / 1e6, (double)(c1 - c0) / 1e6,
           (double)(c1 - c0) / (double)n);
    printf("disk      data.mdb %.1f MiB: %.1f bytes per record (target <= 128); map used %.1f "
           "MiB; capacity %zu records\n", (double)sb.st_size / 1048576.0, per_rec,
           (double)ss.map_used / 1048576.0, (size_t)ss.capacity);
    if (per_rec > 128)
        fails++;
    if (getenv("WSG_BENCH_FILL_ONLY"))
        return fails ? 1 : 0;

    /* 1b. the same for a quarter as many clients at ascending addresses, each in its own /24
     * (how a flood from a range arrives) */
    {
        unsigned long q = n / 4;
        wsg_store_t *sq = open_at(p, apr_pstrcat(p, top, "/seq", NULL), map / 4 + (64 << 20));
        wsg_store_stat_t qs;
        struct stat qb;
        for (i = 0; i < q; i++)
            score(sq, &b, 0x0a000001u + (apr_uint32_t)i * 256, now);
        wsg_store_stat(sq, &qs);
        if (stat(apr_pstrcat(p, top, "/seq/data.mdb", NULL), &qb) == 0)
            printf("disk      %lu clients at ascending addresses, each in its own /24: %zu records, "
                   "%.1f bytes per record\n", q, (size_t)qs.records,
                   (double)qb.st_size / (double)qs.records);
        if ((double)qb.st_size / (double)qs.records > 128)
            fails++;
        wsg_store_close(sq);
        rm_tree(apr_pstrcat(p, top, "/seq", NULL));
    }

    /* 2. read: clients in the store (the same random sequence again) and clients that are not */
    rng = 88172645463325252ULL;
    c0 = cpu_now();
    for (i = 0; i < lookups; i++) {
        addr_of(rnd(), &keys[0]);
        wsg_addr_prefix(&keys[0], &keys[1]);
        wsg_store_get_many(st, keys, 2, recs, found);
        if (!found[0])
            fails++;
    }
    c1 = cpu_now();
    ns_hit = (double)(c1 - c0) * 1000.0 / (double)lookups;
    c0 = cpu_now();
    for (i = 0; i < lookups; i++) {
        addr_of(rnd() | 0x01000000u, &keys[0]);     /* new random addresses: mostly absent */
        wsg_addr_prefix(&keys[0], &keys[1]);
        wsg_store_get_many(st, keys, 2, recs, found);
    }
    c1 = cpu_now();
    ns_miss = (double)(c1 - c0) * 1000.0 / (double)lookups;
    /* The same lookups in an empty store, for the ratio. */
    {
        wsg_store_t *e = open_at(p, apr_pstrcat(p, top, "/empty", NULL), 1 << 20);
        c0 = cpu_now();
        for (i = 0; i < lookups; i++) {
            addr_of(rnd(), &keys[0]);
            wsg_addr_prefix(&keys[0], &keys[1]);
            wsg_store_get_many(e, keys, 2, recs, found);
        }
        c1 = cpu_now();
        ns_empty = (double)(c1 - c0) * 1000.0 / (double)lookups;
        wsg_store_close(e);
    }
    printf("read      address + prefix in one read transaction, ns CPU per lookup: %.0f (client in "
           "the store), %.0f (not in it), %.0f (empty store), over %lu lookups in random order\n",
           ns_hit, ns_miss, ns_empty, lookups);

    /* 3. purge in slices, every record expired */
    slice = malloc(sizeof(*slice) * (ss.records / 500 + 16));
    cslice = malloc(sizeof(*cslice) * (ss.records / 500 + 16));
    t0 = apr_time_now();
    while (!wrapped) {
        unsigned got = 0;
        apr_time_t s0 = apr_time_now(), sc0 = cpu_now();
        if (wsg_store_purge_slice(st, expired_all, NULL, 0, 0, &got, &wrapped) != APR_SUCCESS) {
            fprintf(stderr, "bench_scale: purge failed\n");
            return 2;
        }
        cslice[nslices] = cpu_now() - sc0;
        slice[nslices++] = apr_time_now() - s0;
        purged_total += got;
    }
    t1 = apr_time_now();
    qsort(slice, nslices, sizeof(*slice), cmp_time);
    qsort(cslice, nslices, sizeof(*cslice), cmp_time);
    slice_max = (double)slice[nslices - 1] / 1000.0;
    slice_med = (double)slice[nslices / 2] / 1000.0;
    cpu_max = (double)cslice[nslices - 1] / 1000.0;
    cpu_med = (double)cslice[nslices / 2] / 1000.0;
    printf("purge     %lu expired records in %lu slices (<= 1000 records or 2 ms each), %.2f s in "
           "all: a slice holds the writer lock %.2f ms CPU at most, %.2f ms median (wall: %.2f ms "
           "max, %.2f ms median; p99 %.2f ms)\n", purged_total, nslices, (double)(t1 - t0) / 1e6,
           cpu_max, cpu_med, slice_max, slice_med, (double)slice[nslices * 99 / 100] / 1000.0);
    if (cpu_max > 5.0 || purged_total != ss.records)
        fails++;
    wsg_store_close(st);

    /* 4. eviction: the smallest map flooded with new clients, bans set first */
    st = open_at(p, small, 1 << 20);
    wsg_store_set_halflife(st, b.pol.halflife);
    {
        apr_time_t until = now + apr_time_from_sec(3600);
        for (i = 0; i < 8; i++) {
            addr_of(0xc6336400u + (apr_uint32_t)i * 256, &keys[0]);    /* 198.51.x.0 */
            wsg_store_update(st, keys, 1, cb_ban, &until);
        }
        c0 = cpu_now();
        for (i = 0; i < 20000; i++)
            if (score(st, &b, 0x7f000001u + (apr_uint32_t)i * 256, now) != APR_SUCCESS)
                fails++;
        c1 = cpu_now();
        for (i = 0; i < 8; i++) {
            addr_of(0xc6336400u + (apr_uint32_t)i * 256, &keys[0]);
            /* the ban's end is stored in ms */
            if (wsg_store_get(st, &keys[0], &recs[0]) == APR_SUCCESS
                && recs[0].ban_until >= until - 1000)
                bans_kept++;
        }
    }
    wsg_store_stat(st, &ss);
    printf("evict     1 MiB map, 20000 new clients each in its own /24: %.2f us CPU per client, "
           "%zu records kept (capacity %zu), %llu evicted, %d of 8 bans kept\n",
           (double)(c1 - c0) / 20000.0, (size_t)ss.records, (size_t)ss.capacity,
           (unsigned long long)ss.evicted, bans_kept);
    if (bans_kept != 8)
        fails++;
    wsg_store_close(st);

    if (argc <= 2)
        rm_tree(top);
    printf("%s\n", fails ? "TARGET MISSED" : "targets met");
    return fails ? 1 : 0;
}
