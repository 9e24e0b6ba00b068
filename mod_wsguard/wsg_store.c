/* wsg_store: the LMDB environment holding one wsg_rec_t per address or prefix. Owns preparing the
 * environment (create, check, move a corrupt file aside, chown), the per-process handle, the
 * per-thread reused read transactions, and the mapping of LMDB errors to apr_status_t.
 * Portable core: APR + LMDB (plus pthread keys for thread-exit cleanup; Linux is the target). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <apr_errno.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <lmdb.h>

#include "wsg_store.h"

#define DEFAULT_MAP_SIZE   ((apr_size_t)64 << 20)
#define MIN_MAP_SIZE       ((apr_size_t)1 << 20)   /* below this a full map may not purge */
#define DEFAULT_READERS    512u
#define FILE_MODE          0640
#define DIR_PERMS          (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE | \
                            APR_FPROT_GREAD | APR_FPROT_GEXECUTE)
#define TLS_SLOTS          4      /* stores one thread reads at once; more only costs a new txn */
#define PURGE_BATCH        256    /* deletes per write txn, so a full map frees pages as it goes */

/* LMDB's own codes (-30799..-30780) live in APR's user error space; errno values pass through. */
#define LMDB_ERR_BASE      APR_OS_START_USERERR

struct wsg_store_t {
    MDB_env        *env;
    MDB_dbi         dbi;
    apr_pool_t     *pool;
    const char     *dir;
    int             readonly;
    pid_t           pid;          /* the process that opened it: never closed from another */
    apr_uint64_t    id;           /* unique per open in this process: TLS caches match on it */
    unsigned        psize;        /* LMDB page size */
    apr_size_t      map_size;     /* as mapped (the file's size if larger than configured) */
    apr_size_t      capacity;     /* records allowed (see capacity_of) */
    wsg_store_t    *next_live;
    /* every read txn created for thread caches (aborted at close) and those free for reuse;
     * both guarded by g_lock, touched only off the hot path */
    MDB_txn       **txns;
    size_t          ntxns, cap_txns;
    MDB_txn       **spare;
    size_t          nspare, cap_spare;
};

/* Process-wide registry of open stores, so a thread evicting or exiting can hand its cached read
 * txn back to a store only while that store is still open. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static wsg_store_t    *g_live;
static apr_uint64_t    g_next_id = 1;
static pthread_once_t  g_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t   g_key;

typedef struct tls_slot_t {
    apr_uint64_t id;              /* 0: empty */
    MDB_txn     *txn;             /* reset (inactive) between gets */
} tls_slot_t;

typedef struct tls_cache_t {
    tls_slot_t slot[TLS_SLOTS];
    unsigned   next_evict;
} tls_cache_t;

static __thread tls_cache_t *tl_cache;
static __thread apr_status_t tl_err_rv;
static __thread char         tl_err[320];
static __thread char         tl_buf[160];

/* ---- errors ---- */

static apr_status_t map_rc(int rc)
{
    if (rc == 0)
        return APR_SUCCESS;
    if (rc == MDB_NOTFOUND)
        return APR_NOTFOUND;
    if (rc == MDB_MAP_FULL)
        return APR_ENOSPC;
    if (rc < 0)
        return LMDB_ERR_BASE + (apr_status_t)(-rc);
    return APR_FROM_OS_ERROR(rc);
}

/* Records the text behind rv for wsg_store_strerror() in this thread. */
static apr_status_t fail(const wsg_store_t *st, const char *op, int rc)
{
    apr_status_t rv = map_rc(rc);
    tl_err_rv = rv;
    snprintf(tl_err, sizeof(tl_err), "%s: %s (LMDB environment %s)", op, mdb_strerror(rc),
             st ? st->dir : "?");
    return rv;
}

const char *wsg_store_strerror(apr_status_t rv)
{
    if (rv == tl_err_rv && tl_err[0])
        return tl_err;
    if (rv >= LMDB_ERR_BASE + 30780 && rv <= LMDB_ERR_BASE + 30799)
        return mdb_strerror(-(int)(rv - LMDB_ERR_BASE));
    return apr_strerror(rv, tl_buf, sizeof(tl_buf));
}

/* ---- records ---- */

static void key_val(MDB_val *k, const wsg_addr_t *key)
{
    k->mv_size = sizeof(*key);
    k->mv_data = (void *)key;
}

/* Copies a stored value out; a value of another size or version is treated as absent, so a
 * layout change never feeds garbage to the policy. LMDB values need not be aligned: memcpy. */
static int rec_from_val(const MDB_val *v, wsg_rec_t *out)
{
    if (v->mv_size != sizeof(wsg_rec_t))
        return 0;
    memcpy(out, v->mv_data, sizeof(*out));
    if (out->version != WSG_REC_VERSION) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    return 1;
}

/* ---- environment ---- */

static apr_size_t map_size_of(const wsg_store_opts_t *opts)
{
    apr_size_t sz = opts && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    return sz < MIN_MAP_SIZE ? MIN_MAP_SIZE : sz;
}

static unsigned readers_of(const wsg_store_opts_t *opts)
{
    return opts && opts->max_readers ? opts->max_readers : DEFAULT_READERS;
}

/* How many records a map of this size is allowed to hold. LMDB needs fresh pages even to delete
 * (copy-on-write), so a map filled to its last page cannot be purged, and freeing records does
 * not free pages (leaves are merged only when under a quarter full), so a page-count reserve
 * stays exhausted after a purge. A record-count cap has neither problem: new records are
 * refused (APR_ENOSPC) at 40% of what full leaves could hold, which leaves room for leaves
 * that are only half full after splits, branch pages, the free list, copy-on-write and old
 * pages pinned by readers; every purged record makes room for one new one. */
static size_t capacity_of(size_t map_size, unsigned psize)
{
    /* node header 8 + key + value, plus the 2-byte slot index; page header 16 */
    size_t per_page = (psize - 16) / (8 + sizeof(wsg_addr_t) + sizeof(wsg_rec_t) + 2);
    size_t pages = map_size / psize;
    pages = pages > 8 ? pages - 8 : 0;           /* meta pages, roots */
    return pages * per_page * 2 / 5;
}

static int env_create(MDB_env **env, const wsg_store_opts_t *opts)
{
    int rc = mdb_env_create(env);
    if (rc)
        return rc;
    /* A map larger than the file just reserves address space; a file larger than the map wins
     * (LMDB keeps the bigger of the two), so lowering the setting never truncates state. */
    if ((rc = mdb_env_set_mapsize(*env, map_size_of(opts))) != 0
        || (rc = mdb_env_set_maxreaders(*env, readers_of(opts))) != 0) {
        mdb_env_close(*env);
        *env = NULL;
    }
    return rc;
}

/* Every opener maps at least the size the environment records (the server's WSGuardMapSize), and
 * an opener without a size of its own (wsguardctl) exactly that: a writer with a bigger map could
 * grow the data beyond the server's map, and every child would then fail with MDB_MAP_RESIZED
 * until httpd restarted. Called right after mdb_env_open, before any transaction. */
static int adopt_map_size(MDB_env *env, const wsg_store_opts_t *opts)
{
    MDB_envinfo info;
    apr_size_t want = opts && opts->map_size ? map_size_of(opts) : 0;
    int rc = mdb_env_set_mapsize(env, 0);

    if (rc == 0 && (rc = mdb_env_info(env, &info)) == 0 && want > info.me_mapsize)
        rc = mdb_env_set_mapsize(env, want);
    return rc;
}

/* Opens the environment once and reads every record, which is what a damaged file fails on. */
static int env_check(const char *dir, const wsg_store_opts_t *opts, const char **what)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi dbi;
    MDB_val k, v;
    int rc, dead = 0;

    *what = "mdb_env_create";
    if ((rc = env_create(&env, opts)) != 0)
        return rc;
    *what = "mdb_env_open";
    if ((rc = mdb_env_open(env, dir, MDB_NOTLS, FILE_MODE)) != 0)
        goto leave;
    /* Slots of crashed children would otherwise count against max_readers until they are
     * reused; post_config is the moment no child of ours is running yet. */
    mdb_reader_check(env, &dead);
    *what = "mdb_txn_begin";
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        goto leave;
    *what = "mdb_dbi_open";
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
        goto leave;
    *what = "mdb_cursor_open";
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        goto leave;
    *what = "reading the records";
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        ;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
    /* Commit (not abort) so a brand-new environment gets its main DB written once. */
    *what = "mdb_txn_commit";
    rc = rc ? rc : mdb_txn_commit(txn);
    if (rc)
        mdb_txn_abort(txn);
    txn = NULL;
leave:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}

static int is_damage(int rc)
{
    return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH
        || rc == MDB_PANIC || rc == MDB_PAGE_NOTFOUND;
}

static apr_status_t chown_path(apr_pool_t *p, const char *path, long uid, long gid,
                               const char **err)
{
    if (chown(path, uid >= 0 ? (uid_t)uid : (uid_t)-1, gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0) {
        int e = errno;
        if (e == ENOENT)
            return APR_SUCCESS;
        *err = apr_psprintf(p, "cannot chown %s to %ld:%ld: %s", path, uid, gid, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    return APR_SUCCESS;
}

apr_status_t wsg_store_prepare_ex(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                                  long uid, long gid, const char **notice, const char **err)
{
    const char *what = "", *data, *lock;
    apr_status_t rv;
    int rc;

    if (notice)
        *notice = NULL;
    *err = NULL;
    if (!dir || !*dir) {
        *err = "no state directory configured";
        return APR_EINVAL;
    }
    rv = apr_dir_make_recursive(dir, DIR_PERMS, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        char buf[120];
        *err = apr_psprintf(p, "cannot create state directory %s: %s", dir,
                            apr_strerror(rv, buf, sizeof(buf)));
        return rv;
    }
    data = apr_pstrcat(p, dir, "/data.mdb", NULL);
    lock = apr_pstrcat(p, dir, "/lock.mdb", NULL);

    rc = env_check(dir, opts, &what);
    if (is_damage(rc)) {
        const char *aside = apr_psprintf(p, "%s.corrupt-%" APR_TIME_T_FMT, data,
                                         apr_time_sec(apr_time_now()));
        if (rename(data, aside) != 0) {
            *err = apr_psprintf(p, "LMDB environment %s is damaged (%s: %s) and cannot be moved "
                                "aside to %s: %s", dir, what, mdb_strerror(rc), aside,
                                strerror(errno));
            return map_rc(rc);
        }
        if (unlink(lock) != 0 && errno != ENOENT) {
            *err = apr_psprintf(p, "cannot remove %s after moving the damaged %s aside: %s",
                                lock, data, strerror(errno));
            return APR_FROM_OS_ERROR(errno);
        }
        if (notice)
            *notice = apr_psprintf(p, "LMDB environment %s was damaged (%s: %s); moved %s aside "
                                   "to %s and started with empty state", dir, what,
                                   mdb_strerror(rc), data, aside);
        rc = env_check(dir, opts, &what);
    }
    if (rc) {
        *err = apr_psprintf(p, "cannot open LMDB environment %s: %s: %s", dir, what,
                            mdb_strerror(rc));
        return map_rc(rc);
    }
    if (uid >= 0 || gid >= 0) {
        if ((rv = chown_path(p, dir, uid, gid, err)) != APR_SUCCESS
            || (rv = chown_path(p, data, uid, gid, err)) != APR_SUCCESS
            || (rv = chown_path(p, lock, uid, gid, err)) != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_store_prepare(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                               long uid, long gid, const char **err)
{
    return wsg_store_prepare_ex(p, dir, opts, uid, gid, NULL, err);
}

/* ---- per-thread read txn cache ---- */

static void tls_destroy(void *arg);

static void key_init(void)
{
    pthread_key_create(&g_key, tls_destroy);
}

static wsg_store_t *live_find(apr_uint64_t id)
{
    wsg_store_t *s;
    for (s = g_live; s; s = s->next_live)
        if (s->id == id)
            return s;
    return NULL;
}

static int push_txn(MDB_txn ***arr, size_t *n, size_t *cap, MDB_txn *txn)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        MDB_txn **na = realloc(*arr, ncap * sizeof(*na));
        if (!na)
            return 0;
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*n)++] = txn;
    return 1;
}

/* Gives a cached txn back to its store for another thread to reuse; dropped if the store is
 * gone (its close aborted the txn already). Caller holds g_lock. */
static void slot_release_locked(tls_slot_t *sl)
{
    wsg_store_t *st;
    /* If the spare list cannot grow, the txn stays registered in st->txns: aborted at close. */
    if (sl->id && (st = live_find(sl->id)) != NULL)
        (void)push_txn(&st->spare, &st->nspare, &st->cap_spare, sl->txn);
    sl->id = 0;
    sl->txn = NULL;
}

/* Thread exit: event MPM threads end with their child, but other embedders may churn threads;
 * each would otherwise strand a reader slot until the store closes. */
static void tls_destroy(void *arg)
{
    tls_cache_t *tc = arg;
    int i;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < TLS_SLOTS; i++)
        slot_release_locked(&tc->slot[i]);
    pthread_mutex_unlock(&g_lock);
    free(tc);
    tl_cache = NULL;
}

/* Forgets a txn that failed to renew: aborted and removed from the store's registry. */
static void txn_discard(wsg_store_t *st, MDB_txn *txn)
{
    size_t i;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < st->ntxns; i++)
        if (st->txns[i] == txn) {
            st->txns[i] = st->txns[--st->ntxns];
            break;
        }
    pthread_mutex_unlock(&g_lock);
    mdb_txn_abort(txn);
}

/* Out of reader slots: clear those of dead processes and give back the slots held by spare
 * txns (reset txns keep their slot) of threads that have exited. */
static void readers_reclaim(wsg_store_t *st)
{
    MDB_txn **spare;
    size_t i, j, n;
    int dead = 0;

    mdb_reader_check(st->env, &dead);
    pthread_mutex_lock(&g_lock);
    spare = st->spare;
    n = st->nspare;
    st->spare = NULL;
    st->nspare = st->cap_spare = 0;
    for (i = 0; i < n; i++)
        for (j = 0; j < st->ntxns; j++)
            if (st->txns[j] == spare[i]) {
                st->txns[j] = st->txns[--st->ntxns];
                break;
            }
    pthread_mutex_unlock(&g_lock);
    for (i = 0; i < n; i++)
        mdb_txn_abort(spare[i]);
    free(spare);
}

/* A read txn for the thread cache or for iterate, reclaiming slots if the table is full. */
static int read_txn_begin(wsg_store_t *st, MDB_txn **txn)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_READERS_FULL) {
        readers_reclaim(st);
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

/* This thread's slot for st, filled with a reset txn (a spare one, or a new one). */
static int slot_get(wsg_store_t *st, tls_slot_t **out)
{
    tls_cache_t *tc = tl_cache;
    tls_slot_t *sl = NULL;
    MDB_txn *txn = NULL;
    int i, rc;

    if (tc) {
        for (i = 0; i < TLS_SLOTS; i++)
            if (tc->slot[i].id == st->id) {
                *out = &tc->slot[i];
                return 0;
            }
    }
    else {
        pthread_once(&g_key_once, key_init);
        if (!(tc = calloc(1, sizeof(*tc))))
            return ENOMEM;
        tl_cache = tc;
        pthread_setspecific(g_key, tc);
    }

    pthread_mutex_lock(&g_lock);
    for (i = 0; i < TLS_SLOTS && !sl; i++)
        if (tc->slot[i].id == 0 || !live_find(tc->slot[i].id))
            sl = &tc->slot[i];
    if (!sl) {
        sl = &tc->slot[tc->next_evict++ % TLS_SLOTS];
        slot_release_locked(sl);
    }
    sl->id = 0;
    sl->txn = NULL;
    if (st->nspare)
        txn = st->spare[--st->nspare];
    pthread_mutex_unlock(&g_lock);

    if (!txn) {
        if ((rc = read_txn_begin(st, &txn)) != 0)
            return rc;
        mdb_txn_reset(txn);
        pthread_mutex_lock(&g_lock);
        if (!push_txn(&st->txns, &st->ntxns, &st->cap_txns, txn)) {
            pthread_mutex_unlock(&g_lock);
            mdb_txn_abort(txn);
            return ENOMEM;
        }
        pthread_mutex_unlock(&g_lock);
    }
    sl->id = st->id;
    sl->txn = txn;
    *out = sl;
    return 0;
}

/* ---- open / close ---- */

static apr_status_t store_cleanup(void *data)
{
    wsg_store_t *st = data;
    wsg_store_t **pp;
    size_t i;

    if (!st->env)
        return APR_SUCCESS;
    pthread_mutex_lock(&g_lock);
    for (pp = &g_live; *pp; pp = &(*pp)->next_live)
        if (*pp == st) {
            *pp = st->next_live;
            break;
        }
    pthread_mutex_unlock(&g_lock);
    /* A handle inherited through fork() belongs to the parent: LMDB must not be touched here. */
    if (st->pid == getpid()) {
        for (i = 0; i < st->ntxns; i++)
            mdb_txn_abort(st->txns[i]);
        mdb_env_close(st->env);
    }
    free(st->txns);
    free(st->spare);
    st->txns = st->spare = NULL;
    st->ntxns = st->nspare = 0;
    st->env = NULL;
    return APR_SUCCESS;
}

void wsg_store_close(wsg_store_t *st)
{
    if (!st)
        return;
    apr_pool_cleanup_kill(st->pool, st, store_cleanup);
    store_cleanup(st);
}

apr_status_t wsg_store_open(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                            wsg_store_t **out, const char **err)
{
    wsg_store_t *st;
    MDB_txn *txn = NULL;
    unsigned flags;
    int rc, dead = 0;
    const char *what;

    *out = NULL;
    *err = NULL;
    if (!dir || !*dir) {
        *err = "no state directory configured";
        return APR_EINVAL;
    }
    st = apr_pcalloc(p, sizeof(*st));
    st->pool = p;
    st->dir = apr_pstrdup(p, dir);
    st->readonly = opts && opts->readonly;
    st->pid = getpid();

    /* MDB_NOTLS: reader slots belong to txn objects, not threads, so event-MPM threads can keep
     * a reset txn each and a thread can write while holding one.
     * MDB_NOSYNC | MDB_NOMETASYNC: the state is advisory (scores decay within hours), so we trade
     * durability of the last transactions on an OS crash or power loss for not paying an fsync
     * on every scored request. A crash of httpd itself loses nothing (the pages are in the page
     * cache); LMDB stays consistent either way, at worst rolling back to an older commit. */
    flags = MDB_NOTLS | (st->readonly ? MDB_RDONLY : (MDB_NOSYNC | MDB_NOMETASYNC));

    what = "mdb_env_create";
    if ((rc = env_create(&st->env, opts)) != 0)
        goto fail;
    what = "mdb_env_open";
    if ((rc = mdb_env_open(st->env, dir, flags, FILE_MODE)) != 0)
        goto fail;
    what = "mdb_env_set_mapsize";
    if ((rc = adopt_map_size(st->env, opts)) != 0)
        goto fail;
    mdb_reader_check(st->env, &dead);
    /* The dbi handle is valid for the life of the env once its opening txn commits. */
    what = "mdb_txn_begin";
    if ((rc = mdb_txn_begin(st->env, NULL, st->readonly ? MDB_RDONLY : 0, &txn)) != 0)
        goto fail;
    what = "mdb_dbi_open";
    if ((rc = mdb_dbi_open(txn, NULL, 0, &st->dbi)) != 0)
        goto fail;
    what = "mdb_txn_commit";
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail;
    {
        MDB_stat ms;
        MDB_envinfo info;
        what = "mdb_env_stat";
        if ((rc = mdb_env_stat(st->env, &ms)) != 0)
            goto fail;
        st->psize = ms.ms_psize;
        if ((rc = mdb_env_info(st->env, &info)) != 0)
            goto fail;
        st->map_size = info.me_mapsize;
        st->capacity = capacity_of(st->map_size, st->psize);
    }

    pthread_mutex_lock(&g_lock);
    st->id = g_next_id++;
    st->next_live = g_live;
    g_live = st;
    pthread_mutex_unlock(&g_lock);
    apr_pool_cleanup_register(p, st, store_cleanup, apr_pool_cleanup_null);
    *out = st;
    return APR_SUCCESS;

fail:
    if (txn)
        mdb_txn_abort(txn);
    if (st->env)
        mdb_env_close(st->env);
    st->env = NULL;
    *err = apr_psprintf(p, "cannot open LMDB environment %s%s: %s: %s", dir,
                        st->readonly ? " read-only" : "", what, mdb_strerror(rc));
    return fail(st, what, rc);
}

/* ---- operations ---- */

apr_status_t wsg_store_get_many(wsg_store_t *st, const wsg_addr_t *keys, int n, wsg_rec_t *out,
                                int *found)
{
    tls_slot_t *sl;
    MDB_val k, v;
    int rc = 0, tries, i;

    for (tries = 0; tries < 2; tries++) {
        if ((rc = slot_get(st, &sl)) != 0)
            return fail(st, "starting a read transaction", rc);
        rc = mdb_txn_renew(sl->txn);
        if (rc == MDB_READERS_FULL && tries == 0) {
            readers_reclaim(st);
            rc = mdb_txn_renew(sl->txn);
        }
        if (rc == 0)
            break;
        /* A txn that cannot renew (MDB_BAD_RSLOT, MDB_BAD_TXN, ...) is not reused: start over
         * with a fresh one once. */
        txn_discard(st, sl->txn);
        sl->id = 0;
        sl->txn = NULL;
        if (tries == 1)
            return fail(st, "mdb_txn_renew", rc);
    }
    for (i = 0; i < n; i++) {
        key_val(&k, &keys[i]);
        rc = mdb_get(sl->txn, st->dbi, &k, &v);
        if (rc == 0 && !rec_from_val(&v, &out[i]))
            rc = MDB_NOTFOUND;
        found[i] = rc == 0;
        if (rc == MDB_NOTFOUND) {
            memset(&out[i], 0, sizeof(out[i]));
            rc = 0;
        }
        else if (rc)
            break;
    }
    /* Reset right after copying out: an idle reader must not pin old pages against writers. */
    mdb_txn_reset(sl->txn);
    return rc ? fail(st, "mdb_get", rc) : APR_SUCCESS;
}

apr_status_t wsg_store_get(wsg_store_t *st, const wsg_addr_t *key, wsg_rec_t *out)
{
    int found = 0;
    apr_status_t rv = wsg_store_get_many(st, key, 1, out, &found);

    if (rv == APR_SUCCESS && !found)
        return APR_NOTFOUND;
    return rv;
}

apr_status_t wsg_store_update(wsg_store_t *st, const wsg_addr_t *keys, int n,
                              wsg_store_update_fn fn, void *baton)
{
    wsg_rec_t recs[4];
    int found[4];
    MDB_txn *txn;
    MDB_val k, v;
    int i, rc, mask, inserts;

    if (n < 1 || n > 4 || !fn)
        return APR_EINVAL;
    /* Serialised by LMDB's process-shared writer mutex: the read-modify-write of all n records
     * is atomic across every child. */
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    for (i = 0; i < n; i++) {
        key_val(&k, &keys[i]);
        rc = mdb_get(txn, st->dbi, &k, &v);
        if (rc == 0 && rec_from_val(&v, &recs[i]))
            found[i] = 1;
        else if (rc == 0 || rc == MDB_NOTFOUND) {
            memset(&recs[i], 0, sizeof(recs[i]));
            found[i] = 0;
        }
        else {
            mdb_txn_abort(txn);
            return fail(st, "mdb_get (write)", rc);
        }
    }
    mask = fn(baton, recs, found, n);
    if (mask < 0) {
        mdb_txn_abort(txn);
        return APR_SUCCESS;
    }
    for (i = 0, inserts = 0; i < n; i++)
        if ((mask & (1 << i)) && !found[i])
            inserts++;
    if (inserts) {
        MDB_stat ms;
        if ((rc = mdb_stat(txn, st->dbi, &ms)) != 0) {
            mdb_txn_abort(txn);
            return fail(st, "mdb_stat", rc);
        }
        if (ms.ms_entries + inserts > st->capacity) {
            mdb_txn_abort(txn);
            tl_err_rv = APR_ENOSPC;
            snprintf(tl_err, sizeof(tl_err), "mdb_put: %s: %zu records, the most a map of "
                     "%zu bytes keeps room for; purge or raise the map size "
                     "(LMDB environment %s)", mdb_strerror(MDB_MAP_FULL),
                     (size_t)ms.ms_entries, st->map_size, st->dir);
            return APR_ENOSPC;
        }
    }
    for (i = 0; i < n; i++) {
        if (!(mask & (1 << i)))
            continue;
        recs[i].version = WSG_REC_VERSION;
        key_val(&k, &keys[i]);
        v.mv_size = sizeof(recs[i]);
        v.mv_data = &recs[i];
        if ((rc = mdb_put(txn, st->dbi, &k, &v, 0)) != 0) {
            mdb_txn_abort(txn);
            return fail(st, "mdb_put", rc);
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(st, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}

apr_status_t wsg_store_delete(wsg_store_t *st, const wsg_addr_t *key)
{
    MDB_txn *txn;
    MDB_val k;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    key_val(&k, key);
    if ((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? APR_NOTFOUND : fail(st, "mdb_del", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(st, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}

apr_status_t wsg_store_iterate(wsg_store_t *st, wsg_store_iter_fn fn, void *baton)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    wsg_addr_t key;
    wsg_rec_t rec;
    int rc;

    /* Its own txn, not the thread's cached one: fn may call wsg_store_get (or update). */
    if ((rc = read_txn_begin(st, &txn)) != 0)
        return fail(st, "mdb_txn_begin (read)", rc);
    if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return fail(st, "mdb_cursor_open", rc);
    }
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        if (k.mv_size != sizeof(key) || !rec_from_val(&v, &rec))
            continue;
        memcpy(&key, k.mv_data, sizeof(key));
        if (fn(baton, &key, &rec))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? APR_SUCCESS : fail(st, "mdb_cursor_get", rc);
}

apr_status_t wsg_store_purge(wsg_store_t *st, wsg_store_expired_fn expired, void *baton,
                             unsigned max, unsigned *purged)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char resume[512], next[512];   /* above LMDB's default max key size (511) */
    size_t resume_len = 0, next_len = 0;
    wsg_rec_t rec;
    unsigned done = 0, batch, limit = PURGE_BATCH;
    int rc, more = 1;

    if (purged)
        *purged = 0;
    /* In batches of short write txns: other children's updates wait for the writer lock only
     * briefly. Deleting needs fresh pages too (copy-on-write), so on a nearly full map a batch
     * that runs out is retried smaller; each commit frees pages for the next. */
    while (more && (max == 0 || done < max)) {
        if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
            return fail(st, "mdb_txn_begin (write)", rc);
        if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
            mdb_txn_abort(txn);
            return fail(st, "mdb_cursor_open", rc);
        }
        if (resume_len) {
            k.mv_size = resume_len;
            k.mv_data = resume;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
        else
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        batch = 0;
        while (rc == 0 && batch < limit && (max == 0 || done + batch < max)) {
            /* Unreadable values (other size or version) are dead weight nobody can use. */
            if (k.mv_size != sizeof(wsg_addr_t) || !rec_from_val(&v, &rec)
                || expired(baton, &rec)) {
                if ((rc = mdb_cursor_del(cur, 0)) != 0)
                    break;
                batch++;
            }
            /* After a delete, MDB_NEXT yields the record that followed the deleted one. */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        /* Stopped on a record not yet looked at: the next batch starts there. */
        more = rc == 0;
        if (more && k.mv_size <= sizeof(next)) {
            memcpy(next, k.mv_data, k.mv_size);
            next_len = k.mv_size;
        }
        else
            more = 0;
        mdb_cursor_close(cur);
        if (rc == 0 || rc == MDB_NOTFOUND)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL && limit > 1) {
            limit /= 2;
            more = 1;
            continue;
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
            return fail(st, "purging", rc);
        memcpy(resume, next, next_len);
        resume_len = next_len;
        if (limit < PURGE_BATCH)
            limit *= 2;
        done += batch;
        if (purged)
            *purged = done;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_store_stat(wsg_store_t *st, wsg_store_stat_t *out)
{
    MDB_envinfo info;
    MDB_stat ms;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = mdb_env_info(st->env, &info)) != 0 || (rc = mdb_env_stat(st->env, &ms)) != 0)
        return fail(st, "mdb_env_info", rc);
    out->map_size = info.me_mapsize;
    out->map_used = (apr_size_t)(info.me_last_pgno + 1) * ms.ms_psize;
    out->records = ms.ms_entries;
    out->capacity = st->capacity;
    out->max_readers = info.me_maxreaders;
    out->readers = info.me_numreaders;
    return APR_SUCCESS;
}
