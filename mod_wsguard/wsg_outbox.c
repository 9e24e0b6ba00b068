/* wsg_outbox: the CrowdSec sync's outbox and state in their own LMDB file (see wsg_outbox.h).
 * Two named databases: "items" (8-byte big-endian sequence -> wsg_outbox_item_t) and "meta". */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <lmdb.h>
#include <apr_strings.h>

#include "wsg_outbox.h"

#define OB_VERSION   1
#define OB_MAP       (32u << 20)
#define OB_MODE      0660

struct wsg_outbox_t {
    MDB_env    *env;
    MDB_dbi     items, meta;
    const char *path;
    pid_t       pid;
};

static __thread char tl_err[320];
static __thread apr_status_t tl_rv;

static apr_status_t fail(const wsg_outbox_t *ob, const char *op, int rc)
{
    apr_status_t rv = rc == MDB_MAP_FULL ? APR_ENOSPC : rc == MDB_NOTFOUND ? APR_NOTFOUND
                    : rc > 0 ? APR_FROM_OS_ERROR(rc) : APR_EGENERAL;
    tl_rv = rv;
    snprintf(tl_err, sizeof(tl_err), "%s: %s (outbox %s)", op, mdb_strerror(rc),
             ob ? ob->path : "?");
    return rv;
}

const char *wsg_outbox_strerror(apr_status_t rv)
{
    static __thread char buf[120];
    if (rv == tl_rv && tl_err[0])
        return tl_err;
    return apr_strerror(rv, buf, sizeof(buf));
}

static apr_status_t ob_cleanup(void *data)
{
    wsg_outbox_t *ob = data;
    /* a handle inherited through fork() belongs to the parent: never close it here */
    if (ob->env && ob->pid == getpid())
        mdb_env_close(ob->env);
    ob->env = NULL;
    return APR_SUCCESS;
}

static int env_open(const char *path, apr_size_t map_size, MDB_env **env, MDB_dbi *items,
                    MDB_dbi *meta, const char **what)
{
    MDB_txn *txn = NULL;
    int rc;
    *what = "mdb_env_create";
    if ((rc = mdb_env_create(env)) != 0)
        return rc;
    *what = "mdb_env_set_mapsize";
    if ((rc = mdb_env_set_mapsize(*env, map_size ? map_size : OB_MAP)) != 0
        || (rc = mdb_env_set_maxdbs(*env, 4)) != 0)
        goto fail;
    *what = "mdb_env_open";
    /* No fsync per write, as the store: items survive a crash or restart of httpd (the OS keeps
     * the pages), not a power cut; the periodic startup=true resync covers what the store lost. */
    if ((rc = mdb_env_open(*env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC,
                           OB_MODE)) != 0)
        goto fail;
    *what = "mdb_dbi_open";
    if ((rc = mdb_txn_begin(*env, NULL, 0, &txn)) != 0
        || (rc = mdb_dbi_open(txn, "items", MDB_CREATE, items)) != 0
        || (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, meta)) != 0
        || (rc = mdb_txn_commit(txn)) != 0) {
        if (txn && rc)
            mdb_txn_abort(txn);
        goto fail;
    }
    return 0;
fail:
    mdb_env_close(*env);
    *env = NULL;
    return rc;
}

apr_status_t wsg_outbox_open(apr_pool_t *p, const char *path, apr_size_t map_size,
                             wsg_outbox_t **out, const char **err)
{
    wsg_outbox_t *ob = apr_pcalloc(p, sizeof(*ob));
    const char *what;
    int rc = env_open(path, map_size, &ob->env, &ob->items, &ob->meta, &what);
    if (rc) {
        *err = apr_psprintf(p, "cannot open the CrowdSec outbox %s: %s: %s", path, what,
                            mdb_strerror(rc));
        return rc > 0 ? APR_FROM_OS_ERROR(rc) : APR_EGENERAL;
    }
    ob->path = apr_pstrdup(p, path);
    ob->pid = getpid();
    apr_pool_cleanup_register(p, ob, ob_cleanup, apr_pool_cleanup_null);
    *out = ob;
    return APR_SUCCESS;
}

/* The outbox lives in the state directory, which httpd's User owns: root (httpd's parent at
 * every start and graceful) must never follow a name planted there, nor chown one. So: a name
 * that exists must be a regular file of that user with one link, and the LMDB work is done in a
 * child switched to that user (as wsg_store does for data.mdb): whatever a race makes LMDB open,
 * it opens with that user's rights, and what it creates is that user's without a chown. */
static apr_status_t name_check(apr_pool_t *p, const char *path, long uid, const char **err)
{
    struct stat sb;

    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? APR_SUCCESS : APR_FROM_OS_ERROR(errno);
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 || (uid >= 0 && (long)sb.st_uid != uid)) {
        *err = apr_psprintf(p, "the CrowdSec outbox %s is %s: refusing it (fix: rm %s)", path,
                            S_ISLNK(sb.st_mode) ? "a symbolic link"
                            : !S_ISREG(sb.st_mode) ? "not a regular file"
                            : sb.st_nlink != 1 ? "a file with more than one link"
                            : "owned by another user", path);
        return APR_EACCES;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_outbox_prepare(apr_pool_t *p, const char *path, apr_size_t map_size, long uid,
                                long gid, const char **err)
{
    MDB_env *env;
    MDB_dbi a, b;
    const char *what = "open";
    int rc, status;
    pid_t pid;
    apr_status_t rv;

    /* 1. Names already there: regular files of the user, never links. */
    if ((rv = name_check(p, path, geteuid() == 0 ? uid : -1, err)) != APR_SUCCESS
        || (rv = name_check(p, apr_pstrcat(p, path, "-lock", NULL), geteuid() == 0 ? uid : -1,
                            err)) != APR_SUCCESS)
        return rv;
    /* 2. Not root (or no user to switch to): open as we are. */
    if (geteuid() != 0 || uid < 0) {
        if ((rc = env_open(path, map_size, &env, &a, &b, &what)) != 0) {
            *err = apr_psprintf(p, "cannot open the CrowdSec outbox %s: %s: %s", path, what,
                                mdb_strerror(rc));
            return rc > 0 ? APR_FROM_OS_ERROR(rc) : APR_EGENERAL;
        }
        mdb_env_close(env);
        return APR_SUCCESS;
    }
    /* 3. Root: in a child that is the user for good, with no other descriptor of ours. */
    if ((pid = fork()) < 0)
        return APR_FROM_OS_ERROR(errno);
    if (pid == 0) {
        gid_t g = gid >= 0 ? (gid_t)gid : (gid_t)uid;
        int fd;
        for (fd = 3; fd < 1024; fd++)
            close(fd);
        if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid((uid_t)uid) != 0
            || setuid(0) == 0)
            _exit(100);
        rc = env_open(path, map_size, &env, &a, &b, &what);
        if (rc == 0)
            mdb_env_close(env);
        _exit(rc == 0 ? 0 : rc > 0 && rc < 100 ? rc : 101);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        *err = apr_psprintf(p, "cannot open the CrowdSec outbox %s as uid %ld: %s", path, uid,
                            code == 100 ? "cannot switch to that user"
                            : code > 0 && code < 100 ? strerror(code) : "LMDB failed");
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static void seq_key(unsigned char k[8], apr_uint64_t seq)
{
    for (int i = 7; i >= 0; i--, seq >>= 8)
        k[i] = (unsigned char)(seq & 0xff);
}

static apr_uint64_t key_seq(const MDB_val *v)
{
    const unsigned char *k = v->mv_data;
    apr_uint64_t s = 0;
    if (v->mv_size != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        s = s << 8 | k[i];
    return s;
}

apr_status_t wsg_outbox_put(wsg_outbox_t *ob, const wsg_outbox_item_t *item)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char kb[8];
    apr_uint64_t seq = 1;
    wsg_outbox_item_t copy = *item;
    int rc;

    copy.version = OB_VERSION;
    if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    if ((rc = mdb_cursor_open(txn, ob->items, &cur)) != 0)
        goto abort;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0)
        seq = key_seq(&k) + 1;
    mdb_cursor_close(cur);
    seq_key(kb, seq);
    k.mv_data = kb;
    k.mv_size = 8;
    v.mv_data = &copy;
    v.mv_size = sizeof(copy);
    if ((rc = mdb_put(txn, ob->items, &k, &v, MDB_APPEND)) != 0)
        goto abort;
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(ob, "mdb_txn_commit", rc);
    return APR_SUCCESS;
abort:
    mdb_txn_abort(txn);
    return fail(ob, "outbox put", rc);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void wsg_outbox_ban_item(wsg_outbox_item_t *it, const wsg_addr_t *key, apr_time_t now,
                         apr_time_t ban_until, unsigned probes, const char *tag,
                         const char *paths)
{
    memset(it, 0, sizeof(*it));
    it->kind = WSG_OUTBOX_BAN;
    it->key = *key;
    it->created = now;
    it->ban_until = ban_until;
    it->probes = probes;
    copy_str(it->tag, sizeof(it->tag), tag);
    copy_str(it->paths, sizeof(it->paths), paths);
}

void wsg_outbox_unban_item(wsg_outbox_item_t *it, const wsg_addr_t *key, apr_time_t now)
{
    memset(it, 0, sizeof(*it));
    it->kind = WSG_OUTBOX_UNBAN;
    it->key = *key;
    it->created = now;
}

typedef int (*scan_fn)(void *baton, apr_uint64_t seq, const wsg_outbox_item_t *it);

static apr_status_t scan(wsg_outbox_t *ob, scan_fn fn, void *baton)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;
    if ((rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    if ((rc = mdb_cursor_open(txn, ob->items, &cur)) != 0) {
        mdb_txn_abort(txn);
        return fail(ob, "mdb_cursor_open", rc);
    }
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        wsg_outbox_item_t it;
        if (v.mv_size != sizeof(it))
            continue;             /* a layout we do not know: left for its writer */
        memcpy(&it, v.mv_data, sizeof(it));
        if (fn(baton, key_seq(&k), &it))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? APR_SUCCESS : fail(ob, "mdb_cursor_get", rc);
}

typedef struct peek_t {
    apr_array_header_t *arr;
    int max;
} peek_t;

static int peek_fn(void *baton, apr_uint64_t seq, const wsg_outbox_item_t *it)
{
    peek_t *pk = baton;
    wsg_outbox_entry_t *e = apr_array_push(pk->arr);
    e->seq = seq;
    e->item = *it;
    return pk->arr->nelts >= pk->max;
}

apr_status_t wsg_outbox_peek(wsg_outbox_t *ob, apr_pool_t *p, int max, apr_array_header_t **out)
{
    peek_t pk;
    pk.arr = apr_array_make(p, max > 0 && max < 1024 ? max : 1024, sizeof(wsg_outbox_entry_t));
    pk.max = max > 0 ? max : 1;
    *out = pk.arr;
    return scan(ob, peek_fn, &pk);
}

typedef struct keys_t {
    apr_hash_t *h;
    int         kind;
} keys_t;

static int keys_fn(void *baton, apr_uint64_t seq, const wsg_outbox_item_t *it)
{
    keys_t *ks = baton;
    if ((int)it->kind == ks->kind) {
        wsg_addr_t *k = apr_pmemdup(apr_hash_pool_get(ks->h), &it->key, sizeof(it->key));
        apr_hash_set(ks->h, k, sizeof(*k), k);
    }
    return 0;
}

apr_status_t wsg_outbox_pending_keys(wsg_outbox_t *ob, apr_pool_t *p, int kind, apr_hash_t **out)
{
    keys_t ks;
    ks.h = *out = apr_hash_make(p);
    ks.kind = kind;
    return scan(ob, keys_fn, &ks);
}

apr_status_t wsg_outbox_remove(wsg_outbox_t *ob, const apr_uint64_t *seqs, int n)
{
    MDB_txn *txn;
    int rc, i;
    if (n <= 0)
        return APR_SUCCESS;
    if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    for (i = 0; i < n; i++) {
        unsigned char kb[8];
        MDB_val k;
        seq_key(kb, seqs[i]);
        k.mv_data = kb;
        k.mv_size = 8;
        rc = mdb_del(txn, ob->items, &k, NULL);
        if (rc && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return fail(ob, "mdb_del", rc);
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(ob, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}

apr_status_t wsg_outbox_update(wsg_outbox_t *ob, apr_uint64_t seq, const wsg_outbox_item_t *item)
{
    MDB_txn *txn;
    MDB_val k, v;
    unsigned char kb[8];
    int rc;
    seq_key(kb, seq);
    k.mv_data = kb;
    k.mv_size = 8;
    if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    if ((rc = mdb_get(txn, ob->items, &k, &v)) == 0) {
        v.mv_data = (void *)item;
        v.mv_size = sizeof(*item);
        rc = mdb_put(txn, ob->items, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? APR_NOTFOUND : fail(ob, "mdb_put", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(ob, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}

apr_status_t wsg_outbox_count(wsg_outbox_t *ob, apr_size_t *n)
{
    MDB_txn *txn;
    MDB_stat s;
    int rc;
    if ((rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    rc = mdb_stat(txn, ob->items, &s);
    mdb_txn_abort(txn);
    if (rc)
        return fail(ob, "mdb_stat", rc);
    *n = s.ms_entries;
    return APR_SUCCESS;
}

apr_status_t wsg_outbox_meta_get(wsg_outbox_t *ob, const char *name, void *buf, apr_size_t *len)
{
    MDB_txn *txn;
    MDB_val k, v;
    int rc;
    k.mv_data = (void *)name;
    k.mv_size = strlen(name);
    if ((rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    rc = mdb_get(txn, ob->meta, &k, &v);
    if (rc == 0) {
        apr_size_t n = v.mv_size < *len ? v.mv_size : *len;
        memcpy(buf, v.mv_data, n);
        *len = n;
    }
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return APR_NOTFOUND;
    return rc ? fail(ob, "mdb_get", rc) : APR_SUCCESS;
}

apr_status_t wsg_outbox_meta_put(wsg_outbox_t *ob, const char *name, const void *buf,
                                 apr_size_t len)
{
    MDB_txn *txn;
    MDB_val k, v;
    int rc;
    k.mv_data = (void *)name;
    k.mv_size = strlen(name);
    v.mv_data = (void *)buf;
    v.mv_size = len;
    if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0)
        return fail(ob, "mdb_txn_begin", rc);
    if ((rc = mdb_put(txn, ob->meta, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return fail(ob, "mdb_put", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(ob, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}
