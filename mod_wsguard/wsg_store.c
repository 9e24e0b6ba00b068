/* wsg_store: the LMDB environment holding one wsg_rec_t per address or prefix. Owns preparing the
 * environment (create, check, move a corrupt file aside), the security checks of the state
 * directory, the per-process handle, the per-thread reused read transactions, and the mapping of
 * LMDB errors to apr_status_t.
 * Portable core: APR + LMDB (plus pthread keys for thread-exit cleanup; Linux is the target).
 *
 * Security of the state directory. It belongs to the user httpd's children run as (www-data),
 * because they write it; so anyone running code as that user (a web shell) can put anything in
 * it at any moment. Root touches it too: httpd's parent in post_config (start, every graceful)
 * and wsguardctl. Handled as a privileged daemon handles a directory its unprivileged user owns:
 *  - The directory is opened once, O_DIRECTORY | O_NOFOLLOW, and checked through that fd
 *    (fstat): a real directory, owned by the expected user or root, not writable by group or
 *    others; its parent not writable by others without the sticky bit. Everything after goes
 *    through the fd (fstatat/openat/renameat/unlinkat), and LMDB is given /proc/self/fd/N, so
 *    the path is never resolved again: swapping the directory afterwards changes nothing.
 *  - data.mdb and lock.mdb are checked with fstatat(AT_SYMLINK_NOFOLLOW): a regular file with
 *    one link (a hard link could be another name of a file elsewhere), owned by the expected
 *    user, not writable by group or others. A failure is refused with a message naming the path,
 *    the problem and the fix; httpd then serves without tracking (AH19405).
 *  - Missing files are created with openat(O_CREAT | O_EXCL | O_NOFOLLOW), which never follows
 *    or reuses a name. Only what was just created is chowned (a directory prepare made with
 *    mkdir, files it made with O_EXCL in a root-owned directory); nothing existing ever is.
 *  - LMDB opens the two files by name itself (no O_NOFOLLOW), so between the checks and its
 *    open the owner of the directory can still swap a name for a symlink. That window is closed
 *    by who does the opening: prepare runs the LMDB work (create, open, read every record, move
 *    a damaged file aside) in a forked child that has switched entirely (setgroups, setgid,
 *    setuid) to the directory's owner and closed every other inherited fd; wsguardctl switches
 *    to that owner before opening (wsg_cli.c). Whatever a race makes LMDB follow, it follows
 *    with the rights of the user who could already write it; root never writes through it.
 *    A root-owned directory needs no switch: nobody else can add names to it. The checks run
 *    again after the open (and the data file LMDB holds is compared with the checked one) to
 *    report a swap; that part is detection, the switch is the protection. Running LMDB on a
 *    file its attacker may have crafted in a child also means a crash there is not httpd's.
 *  - Not covered: directories above the state directory are the administrator's (a symlink
 *    there is followed; only "writable by others without the sticky bit" is refused for the
 *    parent); the children open the state by its path as www-data (no privilege to gain). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <apr_errno.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <lmdb.h>

#include "wsg_store.h"

#define DEFAULT_MAP_SIZE   ((apr_size_t)64 << 20)
#define MIN_MAP_SIZE       ((apr_size_t)1 << 20)   /* below this a full map may not purge */
#define DEFAULT_READERS    512u
#define FILE_MODE          0640
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

/* ---- the state directory: checks without following symlinks (see the header comment) ---- */

static const char *const env_files[] = { "data.mdb", "lock.mdb" };
#define N_ENV_FILES ((int)(sizeof(env_files) / sizeof(env_files[0])))

struct wsg_store_dir_t {
    const char *path;        /* as configured, for messages */
    int         fd;          /* O_DIRECTORY | O_NOFOLLOW, closed by a cleanup on the pool */
    long        uid, gid;    /* the directory's owner */
    long        expect;      /* owner the files must have; -1: see files_check */
};

long wsg_store_dir_uid(const wsg_store_dir_t *d) { return d->uid; }
long wsg_store_dir_gid(const wsg_store_dir_t *d) { return d->gid; }

static apr_status_t dir_fd_cleanup(void *data)
{
    wsg_store_dir_t *d = data;
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    return APR_SUCCESS;
}

/* "www-data (uid 33)" */
static const char *user_name(apr_pool_t *p, long uid)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        return apr_psprintf(p, "%s (uid %ld)", res->pw_name, uid);
    return apr_psprintf(p, "uid %ld", uid);
}

static const char *user_login(apr_pool_t *p, long uid)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        return apr_pstrdup(p, res->pw_name);
    return apr_psprintf(p, "%ld", uid);
}

/* *err = the formatted text, ": ", strerror(e) */
static apr_status_t os_fail(apr_pool_t *p, const char **err, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static apr_status_t os_fail(apr_pool_t *p, const char **err, int e, const char *fmt, ...)
{
    va_list ap;
    const char *what;
    va_start(ap, fmt);
    what = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    *err = apr_pstrcat(p, what, ": ", strerror(e), NULL);
    return APR_FROM_OS_ERROR(e);
}

/* Refuses what is not a real directory, owned by the expected user (or root), writable by that
 * owner only. */
static apr_status_t dir_stat_check(apr_pool_t *p, const char *path, const struct stat *sb,
                                   long expect, const char **err)
{
    if (!S_ISDIR(sb->st_mode)) {
        *err = apr_psprintf(p, "state directory %s is not a directory", path);
        return APR_ENOTDIR;
    }
    if (expect >= 0 && (long)sb->st_uid != expect && sb->st_uid != 0) {
        *err = apr_psprintf(p, "state directory %s is owned by %s, expected %s or root: refusing "
                            "it (fix: chown %s %s, or point WSGuardStateDir elsewhere)", path,
                            user_name(p, (long)sb->st_uid), user_name(p, expect),
                            user_login(p, expect), path);
        return APR_EACCES;
    }
    if (sb->st_mode & (S_IWGRP | S_IWOTH)) {
        *err = apr_psprintf(p, "state directory %s is writable by group or others (mode %04o): "
                            "refusing it, anyone in them could plant files root would write "
                            "through (fix: chmod 0750 %s)", path,
                            (unsigned)(sb->st_mode & 07777), path);
        return APR_EACCES;
    }
    return APR_SUCCESS;
}

/* The directory holding the state directory: one writable by others without the sticky bit
 * lets anyone replace the state directory itself. */
static apr_status_t parent_check(apr_pool_t *p, const char *path, const char **err)
{
    char *parent = apr_pstrdup(p, path), *slash;
    struct stat sb;
    size_t n = strlen(parent);

    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    slash = strrchr(parent, '/');
    if (!slash)
        parent = ".";
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (stat(parent, &sb) != 0)
        return os_fail(p, err, errno, "cannot stat %s", parent);
    if ((sb.st_mode & S_IWOTH) && !(sb.st_mode & S_ISVTX)) {
        *err = apr_psprintf(p, "%s, the parent of the state directory %s, is writable by others "
                            "without the sticky bit (mode %04o): anyone could replace the state "
                            "directory (fix: chmod o-w %s)", parent, path,
                            (unsigned)(sb.st_mode & 07777), parent);
        return APR_EACCES;
    }
    return APR_SUCCESS;
}

/* data.mdb and lock.mdb, checked through the directory fd without following a symlink: a regular
 * file with one link, owned by the expected user, writable by its owner only. expect < 0: the
 * directory's owner, or anyone if that is root (nobody else can add names to such a directory).
 * must_exist: after LMDB opened them (a vanished file means it was swapped under us). */
static apr_status_t files_check(apr_pool_t *p, const wsg_store_dir_t *d, int must_exist,
                                const char **err)
{
    long want = d->expect >= 0 ? d->expect : (d->uid != 0 ? d->uid : -1);
    int i;

    for (i = 0; i < N_ENV_FILES; i++) {
        const char *path = apr_pstrcat(p, d->path, "/", env_files[i], NULL);
        struct stat sb;

        if (fstatat(d->fd, env_files[i], &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT && !must_exist)
                continue;
            return os_fail(p, err, errno, "cannot stat %s", path);
        }
        if (S_ISLNK(sb.st_mode)) {
            *err = apr_psprintf(p, "%s is a symbolic link: refusing to follow it (whoever can "
                                "write the state directory could make root overwrite any file "
                                "through it; fix: rm %s)", path, path);
            return APR_EACCES;
        }
        if (!S_ISREG(sb.st_mode)) {
            *err = apr_psprintf(p, "%s is not a regular file: refusing it (fix: rm %s)", path,
                                path);
            return APR_EACCES;
        }
        if (sb.st_nlink != 1) {
            *err = apr_psprintf(p, "%s has %lu hard links: refusing it (another name of the same "
                                "file may be outside the state directory; fix: rm %s)", path,
                                (unsigned long)sb.st_nlink, path);
            return APR_EACCES;
        }
        if (want >= 0 && (long)sb.st_uid != want) {
            *err = apr_psprintf(p, "%s is owned by %s, expected %s: refusing it (fix: check it, "
                                "then chown %s %s, or rm %s)", path,
                                user_name(p, (long)sb.st_uid), user_name(p, want),
                                user_login(p, want), path, path);
            return APR_EACCES;
        }
        if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
            *err = apr_psprintf(p, "%s is writable by group or others (mode %04o): refusing it "
                                "(fix: chmod 0640 %s)", path, (unsigned)(sb.st_mode & 07777),
                                path);
            return APR_EACCES;
        }
    }
    return APR_SUCCESS;
}

/* Opens path as a directory without following a symlink at its last component (components
 * above it are the administrator's choice) and checks it. */
static apr_status_t dir_open(apr_pool_t *p, const char *path, long expect, wsg_store_dir_t **out,
                             const char **err)
{
    wsg_store_dir_t *d = apr_pcalloc(p, sizeof(*d));
    struct stat sb;
    apr_status_t rv;
    char *bare = apr_pstrdup(p, path);
    size_t n = strlen(bare);

    /* A trailing slash would make open() follow a symlink despite O_NOFOLLOW. */
    while (n > 1 && bare[n - 1] == '/')
        bare[--n] = '\0';
    path = bare;
    d->path = path;
    d->expect = expect;
    d->fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d->fd < 0) {
        int e = errno;
        if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
            *err = apr_psprintf(p, "state directory %s is a symbolic link: refusing to follow it "
                                "(set WSGuardStateDir to the real directory)", path);
            return APR_EACCES;
        }
        if (e == ENOENT)
            return os_fail(p, err, e, "state directory %s does not exist", path);
        return os_fail(p, err, e, "cannot open state directory %s", path);
    }
    apr_pool_cleanup_register(p, d, dir_fd_cleanup, apr_pool_cleanup_null);
    if (fstat(d->fd, &sb) != 0)
        return os_fail(p, err, errno, "cannot stat state directory %s", path);
    d->uid = (long)sb.st_uid;
    d->gid = (long)sb.st_gid;
    if ((rv = dir_stat_check(p, path, &sb, expect, err)) != APR_SUCCESS
        || (rv = parent_check(p, path, err)) != APR_SUCCESS
        || (rv = files_check(p, d, 0, err)) != APR_SUCCESS)
        return rv;
    *out = d;
    return APR_SUCCESS;
}

apr_status_t wsg_store_dir_check(apr_pool_t *p, const char *dir, wsg_store_dir_t **out,
                                 const char **err)
{
    *out = NULL;
    *err = NULL;
    if (!dir || !*dir) {
        *err = "no state directory configured";
        return APR_EINVAL;
    }
    return dir_open(p, dir, -1, out, err);
}

apr_status_t wsg_store_dir_recheck(apr_pool_t *p, const wsg_store_dir_t *d, const char **err)
{
    *err = NULL;
    return files_check(p, d, 1, err);
}

/* What LMDB is given: the directory through its fd, so the path (and any directory above it)
 * is never resolved again; the configured path where /proc is not mounted. */
static const char *lmdb_path(apr_pool_t *p, const wsg_store_dir_t *d)
{
    const char *proc = apr_psprintf(p, "/proc/self/fd/%d", d->fd);
    struct stat a, b;
    if (stat(proc, &a) == 0 && fstat(d->fd, &b) == 0 && a.st_dev == b.st_dev
        && a.st_ino == b.st_ino)
        return proc;
    return d->path;
}

/* The state directory, created (0750, owned by uid:gid) if missing. Only a directory we have just
 * made is chowned; the one we open is checked whoever made it. */
static apr_status_t dir_make(apr_pool_t *p, const char *dir, long uid, long gid,
                             wsg_store_dir_t **out, const char **err)
{
    struct stat sb;
    apr_status_t rv;
    int made = 0;

    if (lstat(dir, &sb) != 0 && errno == ENOENT) {
        char *parent = apr_pstrdup(p, dir), *slash;
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = '\0';
        /* Missing ancestors: traversable, the children open the state by its path. */
        if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
            *slash = '\0';
            rv = apr_dir_make_recursive(parent, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                        | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                        | APR_FPROT_GEXECUTE | APR_FPROT_WREAD
                                        | APR_FPROT_WEXECUTE, p);
            if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
                char buf[120];
                *err = apr_psprintf(p, "cannot create state directory %s: %s: %s", dir, parent,
                                    apr_strerror(rv, buf, sizeof(buf)));
                return rv;
            }
        }
        if ((rv = parent_check(p, dir, err)) != APR_SUCCESS)
            return rv;
        if (mkdir(dir, 0750) == 0)
            made = 1;
        else if (errno != EEXIST)
            return os_fail(p, err, errno, "cannot create state directory %s", dir);
    }
    if ((rv = dir_open(p, dir, -1, out, err)) != APR_SUCCESS)
        return rv;
    /* Ours only if it is still root's (what mkdir made): a directory swapped in by someone else
     * in between is owned by them and is then simply checked below. */
    if (made && geteuid() == 0 && (*out)->uid == 0 && (uid > 0 || gid > 0)) {
        if (fchown((*out)->fd, uid >= 0 ? (uid_t)uid : (uid_t)-1,
                   gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0)
            return os_fail(p, err, errno, "cannot chown the new state directory %s", dir);
        if (uid >= 0)
            (*out)->uid = uid;
        if (gid >= 0)
            (*out)->gid = gid;
    }
    return APR_SUCCESS;
}

/* Full and permanent switch to uid:gid (supplementary groups too); checked. */
static int become(long uid, long gid)
{
    gid_t g = (gid_t)gid;
    if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid((uid_t)uid) != 0)
        return errno ? errno : EPERM;
    if (getuid() != (uid_t)uid || geteuid() != (uid_t)uid || getegid() != g || setuid(0) == 0)
        return EPERM;
    return 0;
}

/* Creates the missing files (never following a symlink, never reusing an existing name) and
 * hands those to uid:gid when we are root. LMDB then opens them by name. */
static int files_create(const wsg_store_dir_t *d, long uid, long gid, const char **what)
{
    int i;
    for (i = 0; i < N_ENV_FILES; i++) {
        int fd = openat(d->fd, env_files[i], O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        FILE_MODE);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            *what = env_files[i];
            return errno;
        }
        if (geteuid() == 0 && (uid > 0 || gid > 0)
            && fchown(fd, uid >= 0 ? (uid_t)uid : (uid_t)-1,
                      gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0) {
            int e = errno;
            close(fd);
            *what = env_files[i];
            return e;
        }
        close(fd);
    }
    return 0;
}

/* What the checking process sends back (one write, below PIPE_BUF). */
typedef struct prep_result_t {
    apr_status_t rv;
    int          has_notice;
    char         err[1400];
    char         notice[1400];
} prep_result_t;

/* Creates the files, opens the environment once and reads it, moving a damaged data.mdb aside.
 * Runs as the directory's owner (in a child process, see wsg_store_prepare_ex). */
static void prep_work(apr_pool_t *p, const wsg_store_dir_t *d, const wsg_store_opts_t *opts,
                      long uid, long gid, prep_result_t *res)
{
    const char *what = "", *lpath = lmdb_path(p, d);
    int rc;

    if ((rc = files_create(d, uid, gid, &what)) != 0)
        goto os_error;
    rc = env_check(lpath, opts, &what);
    if (is_damage(rc)) {
        const char *aside = apr_psprintf(p, "data.mdb.corrupt-%" APR_TIME_T_FMT,
                                         apr_time_sec(apr_time_now()));
        /* renameat and unlinkat act on the names themselves, never on a link's target */
        if (renameat(d->fd, "data.mdb", d->fd, aside) != 0) {
            snprintf(res->err, sizeof(res->err), "LMDB environment %s is damaged (%s: %s) and "
                     "cannot be moved aside to %s/%s: %s", d->path, what, mdb_strerror(rc),
                     d->path, aside, strerror(errno));
            res->rv = map_rc(rc);
            return;
        }
        if (unlinkat(d->fd, "lock.mdb", 0) != 0 && errno != ENOENT) {
            snprintf(res->err, sizeof(res->err), "cannot remove %s/lock.mdb after moving the "
                     "damaged %s/data.mdb aside: %s", d->path, d->path, strerror(errno));
            res->rv = APR_FROM_OS_ERROR(errno);
            return;
        }
        res->has_notice = 1;
        snprintf(res->notice, sizeof(res->notice), "LMDB environment %s was damaged (%s: %s); "
                 "moved %s/data.mdb aside to %s/%s and started with empty state", d->path, what,
                 mdb_strerror(rc), d->path, d->path, aside);
        if ((rc = files_create(d, uid, gid, &what)) != 0)
            goto os_error;
        rc = env_check(lpath, opts, &what);
    }
    if (rc) {
        snprintf(res->err, sizeof(res->err), "cannot open LMDB environment %s: %s: %s", d->path,
                 what, mdb_strerror(rc));
        res->rv = map_rc(rc);
    }
    return;
os_error:
    snprintf(res->err, sizeof(res->err), "cannot create %s/%s: %s", d->path, what,
             strerror(rc));
    res->rv = APR_FROM_OS_ERROR(rc);
}

/* Runs prep_work in a child process with the credentials of the directory's owner, so whatever
 * LMDB does by path (and whatever a crafted file makes it do) happens with that user's rights
 * only; a crash of LMDB on a crafted file ends the child, not httpd. */
static apr_status_t prep_in_child(apr_pool_t *p, const wsg_store_dir_t *d,
                                  const wsg_store_opts_t *opts, long uid, long gid,
                                  prep_result_t *res, const char **err)
{
    int fds[2], status = 0;
    size_t got = 0;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return os_fail(p, err, errno, "checking %s: pipe", d->path);
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return os_fail(p, err, e, "checking %s: fork", d->path);
    }
    if (pid == 0) {
        prep_result_t r;
        int e, lo = d->fd < fds[1] ? d->fd : fds[1], hi = d->fd < fds[1] ? fds[1] : d->fd;
        ssize_t n;

        memset(&r, 0, sizeof(r));
        close(fds[0]);
        /* Nothing of the parent's (logs, sockets, key files) stays open in a process that
         * parses files its user may have crafted. */
        if (lo > 3)
            close_range(3, (unsigned)lo - 1, 0);
        if (hi > lo + 1)
            close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
        close_range((unsigned)hi + 1, ~0u, 0);
        if (geteuid() == 0 && d->uid != 0 && (e = become(d->uid, gid >= 0 ? gid : d->gid)) != 0) {
            snprintf(r.err, sizeof(r.err), "cannot switch to %ld:%ld, the owner of %s, to open "
                     "it: %s", d->uid, gid >= 0 ? gid : d->gid, d->path, strerror(e));
            r.rv = APR_FROM_OS_ERROR(e);
        }
        else
            prep_work(p, d, opts, uid, gid, &r);
        do
            n = write(fds[1], &r, sizeof(r));
        while (n < 0 && errno == EINTR);
        _exit(0);
    }
    close(fds[1]);
    while (got < sizeof(*res)) {
        ssize_t n = read(fds[0], (char *)res + got, sizeof(*res) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof(*res)) {
        if (WIFSIGNALED(status))
            *err = apr_psprintf(p, "checking LMDB environment %s (as %s) crashed with signal %d",
                                d->path, user_name(p, d->uid), WTERMSIG(status));
        else
            *err = apr_psprintf(p, "checking LMDB environment %s (as %s) failed without a "
                                "result", d->path, user_name(p, d->uid));
        return APR_EGENERAL;
    }
    res->err[sizeof(res->err) - 1] = res->notice[sizeof(res->notice) - 1] = '\0';
    return APR_SUCCESS;
}

apr_status_t wsg_store_prepare_ex(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                                  long uid, long gid, const char **notice, const char **err)
{
    wsg_store_dir_t *d = NULL;
    prep_result_t res;
    apr_status_t rv;
    long expect = uid >= 0 ? uid : (long)geteuid();

    if (notice)
        *notice = NULL;
    *err = NULL;
    if (!dir || !*dir) {
        *err = "no state directory configured";
        return APR_EINVAL;
    }
    if ((rv = dir_make(p, dir, uid, gid, &d, err)) != APR_SUCCESS)
        return rv;
    /* The children run as expect: the directory must be theirs or root's, the files theirs. */
    d->expect = expect;
    {
        struct stat sb;
        if (fstat(d->fd, &sb) != 0)
            return os_fail(p, err, errno, "cannot stat state directory %s", dir);
        if ((rv = dir_stat_check(p, dir, &sb, expect, err)) != APR_SUCCESS
            || (rv = files_check(p, d, 0, err)) != APR_SUCCESS)
            return rv;
    }
    memset(&res, 0, sizeof(res));
    if ((rv = prep_in_child(p, d, opts, uid, gid, &res, err)) != APR_SUCCESS)
        return rv;
    if (res.has_notice && notice)
        *notice = apr_pstrdup(p, res.notice);
    if (res.rv != APR_SUCCESS) {
        *err = apr_pstrdup(p, res.err);
        return res.rv;
    }
    /* Detection after the fact: what LMDB opened must still be what we checked. */
    if ((rv = files_check(p, d, 1, err)) != APR_SUCCESS)
        return rv;
    dir_fd_cleanup(d);
    apr_pool_cleanup_kill(p, d, dir_fd_cleanup);
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

/* dir: for messages; path: what LMDB opens (dir itself, or a checked directory's fd). */
static apr_status_t open_path(apr_pool_t *p, const char *dir, const char *path,
                              const wsg_store_opts_t *opts, wsg_store_t **out, const char **err)
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
    if ((rc = mdb_env_open(st->env, path, flags, FILE_MODE)) != 0)
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

apr_status_t wsg_store_open(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                            wsg_store_t **out, const char **err)
{
    return open_path(p, dir, dir, opts, out, err);
}

apr_status_t wsg_store_open_dir(apr_pool_t *p, const wsg_store_dir_t *d,
                                const wsg_store_opts_t *opts, wsg_store_t **out, const char **err)
{
    apr_status_t rv = open_path(p, d->path, lmdb_path(p, d), opts, out, err);
    int fd;
    struct stat a, b;

    if (rv != APR_SUCCESS)
        return rv;
    /* The data file LMDB holds must be the one the checks saw (a swapped name fails this). */
    if (mdb_env_get_fd((*out)->env, &fd) != 0 || fstat(fd, &a) != 0
        || fstatat(d->fd, "data.mdb", &b, AT_SYMLINK_NOFOLLOW) != 0
        || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        wsg_store_close(*out);
        *out = NULL;
        *err = apr_psprintf(p, "%s/data.mdb changed while it was being opened: refusing it",
                            d->path);
        return APR_EACCES;
    }
    if ((rv = files_check(p, d, 1, err)) != APR_SUCCESS) {
        wsg_store_close(*out);
        *out = NULL;
    }
    return rv;
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
