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
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
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
#include "wsg_filter.h"

#define DEFAULT_MAP_SIZE   ((apr_size_t)64 << 20)
#define MIN_MAP_SIZE       ((apr_size_t)1 << 20)   /* below this a full map may not purge */
#define DEFAULT_READERS    512u
#define FILE_MODE          0640
#define TLS_SLOTS          4      /* stores one thread reads at once; more only costs a new txn */
#define PURGE_BATCH        256    /* deletes per write txn, so a full map frees pages as it goes */
#define SLICE_SEEN         1000   /* records looked at per purge txn ... */
#define SLICE_USEC         2000   /* ... or microseconds, whichever comes first */
#define EVICT_WINDOW       64     /* records looked at per eviction window */
#define EVICT_SEEN_MAX     4096   /* at most, per eviction (then: APR_ENOSPC) */
#define EVICT_FADED        8      /* faded records taken beyond the need, as headroom */
#define DEFAULT_HALFLIFE   (APR_INT64_C(3600) * APR_USEC_PER_SEC)

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
    volatile apr_uint32_t legacy; /* version-1 keys: 0 not checked yet, 1 none, 2 some */
    apr_time_t      legacy_checked;
    apr_interval_time_t halflife; /* eviction's fading (0: 1 h) */
    volatile apr_uint64_t evicted;/* by this handle */
    apr_interval_time_t last_hold;  /* the last purge slice of this handle: its write
                                     * transaction's time, commit included */
    wsg_filter_t   *filt;         /* STATEDIR/records.bloom, NULL: none usable (see below) */
    int             nolock;       /* read-only without the lock file (a group reader) */
    /* range bans (see wsg_store_range_get): what the index said when last looked at */
    volatile apr_time_t   range_checked;
    volatile apr_uint32_t range_mask4;     /* bit b: an IPv4 range of length b exists */
    volatile apr_uint64_t range_mask6[2];  /* bits 0..127: IPv6 lengths */
    volatile apr_uint64_t range_txnid;     /* the snapshot the masks were read in */
    apr_uint32_t          range_busy;      /* a thread is in range_refresh */
    wsg_store_t    *next_live;
    /* every read txn created for thread caches (aborted at close) and those free for reuse;
     * both guarded by g_lock, touched only off the hot path */
    MDB_txn       **txns;
    size_t          ntxns, cap_txns;
    MDB_txn       **spare;
    size_t          nspare, cap_spare;
};

struct wsg_store_dir_t {
    const char *path;        /* as configured, for messages */
    int         fd;          /* O_DIRECTORY | O_NOFOLLOW, closed by a cleanup on the pool */
    long        uid, gid;    /* the directory's owner */
    long        expect;      /* owner the files must have; -1: see files_check */
};

static int txn_commit(wsg_store_t *st, MDB_txn *txn);
static int commit_covered(MDB_env *env, wsg_filter_t *filt, MDB_txn *txn);

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
    /* The filesystem under the map, not the map: told apart so the log can say which. LMDB
     * turns a short write (what a disk filling up mid-write gives) into EIO. */
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG || rc == EIO)
        return WSG_STORE_EDISKFULL;
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
    if (rv == WSG_STORE_EDISKFULL)
        return "the filesystem holding the state refused a write (full, quota, or I/O error)";
    if (rv >= LMDB_ERR_BASE + 30780 && rv <= LMDB_ERR_BASE + 30799)
        return mdb_strerror(-(int)(rv - LMDB_ERR_BASE));
    return apr_strerror(rv, tl_buf, sizeof(tl_buf));
}

/* ---- records ---- */

/* On disk (version 2), keys and values are packed: a key is a tag byte (0x10 | family), the
 * prefix length and only the address bytes the prefix length covers (6 bytes for an IPv4
 * address, 10 for a /64); a value is the fixed little-endian head below, the recent rules as
 * varints, and three optional tails (the member count of a prefix, the source of an import or
 * the reason of a manual ban, and VAL_TAIL bytes: the ring of recently missed paths and the
 * milliseconds of first seen, which a scan's pace is measured from (wsg_inspect), present when
 * not all zero, known by being the VAL_TAIL bytes left at the end; a reader older than the tail
 * treats such a value as absent, as any layout it does not know).
 * Version-1 records (the 20-byte wsg_addr_t key, the 136-byte wsg_rec_v1_t value) are still read,
 * and rewritten packed by the next write. A meta record (key byte 0x00) keeps the purge and
 * eviction positions and the eviction count; legacy keys start with 0x04/0x06 and so sort
 * between the meta record and every packed key. */
#define KEY_TAG            0x10
#define KEY_MAX            18
#define KEY_V1_SIZE        sizeof(wsg_addr_t)
#define VAL_HEAD           43     /* up to the rule count */
#define VAL_MAX            (VAL_HEAD + WSG_REC_RULES * 5 + 10 + 1 + 32 + 4 + VAL_TAIL)
#define VAL_TAIL           10     /* the ring of recent misses, first seen's milliseconds */
#define VF_MEMBERS         0x80   /* value flag: prefix tail present */
#define VF_SOURCE          0x40   /* value flag: source tail present */
#define VF_RECFLAGS        0x3f   /* the WSG_RF_* bits kept in the flags byte */
#define VF_EXTSHIFT        6      /* WSG_RF_* bits 6..10 ride in the rule-count byte's top bits */
#define VF_EXTFLAGS        0x7c0u
#define VF_NRULES          0x07   /* the rule-count byte: the count in its low 3 bits */
#define VF_CRAWLER         0x60u  /* WSG_RF_* bits whose records carry the crawler-time tail */
#define REC_EPOCH          APR_INT64_C(1704067200)   /* 2024-01-01T00:00:00Z, in seconds */
#define T32_FOREVER        0xffffffffu

static const unsigned char META_KEY[] = { 0x00, 'w', 's', 'g', 'm' };

/* What the meta record holds (private layout, copied whole). */
typedef struct meta_t {
    apr_uint32_t  version;
    apr_uint32_t  reserved;
    apr_uint64_t  evicted;                 /* records evicted so far (every process) */
    unsigned char purge_len, evict_len;    /* 0: from the start */
    unsigned char purge_pos[KEY_V1_SIZE];
    unsigned char evict_pos[KEY_V1_SIZE];
} meta_t;

/* Packed key of addr into buf (KEY_MAX bytes); its length. */
static size_t key_pack(const wsg_addr_t *a, unsigned char *buf)
{
    size_t nb = ((size_t)a->bits + 7) / 8;

    if (nb > sizeof(a->bytes))
        nb = sizeof(a->bytes);
    buf[0] = (unsigned char)(KEY_TAG | (a->family & 0x0f));
    buf[1] = a->bits;
    memcpy(buf + 2, a->bytes, nb);
    return 2 + nb;
}

static void key_val(MDB_val *k, const wsg_addr_t *key, unsigned char *buf)
{
    k->mv_size = key_pack(key, buf);
    k->mv_data = buf;
}

/* The same key as version 1 stored it. */
static void key_val_v1(MDB_val *k, const wsg_addr_t *key)
{
    k->mv_size = sizeof(*key);
    k->mv_data = (void *)key;
}

static int key_is_meta(const MDB_val *k)
{
    return k->mv_size > 0 && ((const unsigned char *)k->mv_data)[0] == 0x00;
}

static int key_is_v1(const MDB_val *k)
{
    return k->mv_size == KEY_V1_SIZE && ((const unsigned char *)k->mv_data)[0] < KEY_TAG;
}

/* A stored key back to an address (either layout); 0 for anything else (meta, garbage). */
static int key_unpack(const MDB_val *k, wsg_addr_t *out)
{
    const unsigned char *b = k->mv_data;
    size_t nb;

    memset(out, 0, sizeof(*out));
    if (key_is_v1(k)) {
        memcpy(out, b, sizeof(*out));
        return out->family == 4 || out->family == 6;
    }
    if (k->mv_size < 2 || k->mv_size > KEY_MAX || (b[0] & 0xf0) != KEY_TAG)
        return 0;
    nb = ((size_t)b[1] + 7) / 8;
    if (nb > sizeof(out->bytes) || k->mv_size != 2 + nb)
        return 0;
    out->family = b[0] & 0x0f;
    out->bits = b[1];
    memcpy(out->bytes, b + 2, nb);
    return out->family == 4 || out->family == 6;
}

static void put16(unsigned char *p, apr_uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, apr_uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, apr_uint64_t v)
{
    put32(p, (apr_uint32_t)v);
    put32(p + 4, (apr_uint32_t)(v >> 32));
}

static apr_uint32_t get16(const unsigned char *p)
{
    return (apr_uint32_t)p[0] | (apr_uint32_t)p[1] << 8;
}

static apr_uint32_t get32(const unsigned char *p)
{
    return get16(p) | get16(p + 2) << 16;
}

static apr_uint64_t get64(const unsigned char *p)
{
    return (apr_uint64_t)get32(p) | (apr_uint64_t)get32(p + 4) << 32;
}

/* Seconds since REC_EPOCH (first and last seen): 0 stays 0 (unset), other times are at least
 * 1; beyond the range: T32_FOREVER (read back as APR_INT64_MAX). */
static apr_uint32_t t32(apr_time_t t)
{
    apr_int64_t s;

    if (t <= 0)
        return 0;
    s = t / APR_USEC_PER_SEC - REC_EPOCH;
    if (s < 1)
        return 1;
    return s >= (apr_int64_t)T32_FOREVER ? T32_FOREVER : (apr_uint32_t)s;
}

static apr_time_t t32_time(apr_uint32_t s)
{
    if (s == 0)
        return 0;
    if (s == T32_FOREVER)
        return APR_INT64_MAX;
    return ((apr_time_t)s + REC_EPOCH) * APR_USEC_PER_SEC;
}

/* Milliseconds since REC_EPOCH in 48 bits, for the score's time (decay between requests of a
 * burst must stay well inside WSG_SCORE_EPSILON) and the ban's end (a ban of N seconds shows N
 * seconds left, not N + 1); all ones: beyond the range (read back as APR_INT64_MAX). */
#define T48_FOREVER APR_UINT64_C(0xffffffffffff)

static apr_uint64_t t48(apr_time_t t)
{
    apr_int64_t ms;

    if (t <= 0)
        return 0;
    if (t / 1000 - REC_EPOCH * 1000 >= (apr_int64_t)T48_FOREVER)
        return T48_FOREVER;
    ms = t / 1000 - REC_EPOCH * 1000;
    return ms < 1 ? 1 : (apr_uint64_t)ms;
}

static apr_time_t t48_time(apr_uint64_t ms)
{
    if (ms == T48_FOREVER)
        return APR_INT64_MAX;
    return ms ? ((apr_time_t)ms + REC_EPOCH * 1000) * 1000 : 0;
}

static void put48(unsigned char *p, apr_uint64_t v)
{
    put32(p, (apr_uint32_t)v);
    put16(p + 4, (apr_uint32_t)(v >> 32) & 0xffff);
}

static apr_uint64_t get48(const unsigned char *p)
{
    return (apr_uint64_t)get32(p) | (apr_uint64_t)get16(p + 4) << 32;
}

static apr_uint32_t sat16(apr_uint32_t v)
{
    return v > 0xffff ? 0xffff : v;
}

/* The milliseconds first seen has beyond its whole seconds (0 when it is unset or out of t32's
 * range, which keeps no fraction). */
static apr_uint32_t first_seen_ms(apr_time_t t)
{
    apr_uint32_t s = t32(t);

    if (s <= 1 || s == T32_FOREVER)
        return 0;
    return (apr_uint32_t)((t / 1000) % 1000);
}

/* Packs rec into buf (VAL_MAX bytes); the length. Lossy where nobody needs more: times in
 * seconds (the score's in ms), ban count, distinct and members saturate at 65535, the score is
 * a float; the source (an import's peer, a manual ban's
 * reason) and a prefix's members only when there are any. */
static size_t rec_pack(const wsg_rec_t *rec, unsigned char *buf)
{
    unsigned char *p = buf + VAL_HEAD;
    float score = (float)rec->score;
    apr_uint32_t fl = rec->flags & VF_RECFLAGS, fbits;
    size_t slen = 0;
    apr_uint32_t first_ms;
    int i, nr = 0;

    if (rec->members || rec->member_bloom)
        fl |= VF_MEMBERS;
    if (rec->source[0]) {
        slen = strnlen(rec->source, sizeof(rec->source) - 1);
        fl |= VF_SOURCE;
    }
    buf[0] = WSG_REC_VERSION;
    buf[1] = (unsigned char)fl;
    put16(buf + 2, sat16(rec->ban_count));
    put32(buf + 4, rec->hits);
    put32(buf + 8, t32(rec->first_seen));
    put32(buf + 12, t32(rec->last_seen));
    put48(buf + 16, t48(rec->ban_until));
    put48(buf + 22, t48(rec->score_time));
    put16(buf + 28, sat16(rec->distinct));
    memcpy(&fbits, &score, sizeof(fbits));
    put32(buf + 30, fbits);
    put64(buf + 34, rec->probe_bloom);
    for (i = 0; i < WSG_REC_RULES; i++)
        if (rec->rules[i])
            nr = i + 1;
    buf[42] = (unsigned char)(nr | (((rec->flags & VF_EXTFLAGS) >> VF_EXTSHIFT) << 3));
    for (i = 0; i < nr; i++) {
        apr_uint32_t v = rec->rules[i];
        do {
            *p++ = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
    }
    if (fl & VF_MEMBERS) {
        put16(p, sat16(rec->members));
        put64(p + 2, rec->member_bloom);
        p += 10;
    }
    if (fl & VF_SOURCE) {
        *p++ = (unsigned char)slen;
        memcpy(p, rec->source, slen);
        p += slen;
    }
    /* The crawler verification's time (wsg_crawler.h), present exactly when one of its flags
     * is: no flag bit is spent on saying so, and other records keep their size. */
    if (rec->flags & VF_CRAWLER) {
        put32(p, rec->crawler_at);
        p += 4;
    }
    first_ms = first_seen_ms(rec->first_seen);
    if (rec->miss_ring_lo || rec->miss_ring_hi || first_ms) {
        put32(p, rec->miss_ring_lo);
        put32(p + 4, rec->miss_ring_hi);
        put16(p + 8, first_ms);
        p += VAL_TAIL;
    }
    return (size_t)(p - buf);
}

/* Unpacks a stored value of either version; a value that is neither is treated as absent, so a
 * layout change never feeds garbage to the policy. LMDB values need not be aligned. */
static int rec_from_val(const MDB_val *v, wsg_rec_t *out)
{
    const unsigned char *b = v->mv_data, *p, *end = b + v->mv_size;
    apr_uint32_t fbits;
    float score;
    int i, nr;

    memset(out, 0, sizeof(*out));
    if (v->mv_size == sizeof(wsg_rec_v1_t)) {
        wsg_rec_v1_t o;
        memcpy(&o, b, sizeof(o));
        if (o.version != WSG_REC_VERSION_V1)
            return 0;
        /* Field by field: v1's misses and reserved were never used. */
        out->version = WSG_REC_VERSION;
        out->flags = o.flags;
        out->first_seen = o.first_seen;
        out->last_seen = o.last_seen;
        out->score = o.score;
        out->score_time = o.score_time;
        out->ban_until = o.ban_until;
        out->hits = o.hits;
        out->ban_count = o.ban_count;
        out->distinct = o.distinct;
        out->probe_bloom = o.probe_bloom;
        memcpy(out->rules, o.rules, sizeof(out->rules));
        out->members = o.members;
        out->member_bloom = o.member_bloom;
        memcpy(out->source, o.source, sizeof(out->source));
        out->source[sizeof(out->source) - 1] = '\0';
        return 1;
    }
    if (v->mv_size < VAL_HEAD || b[0] != WSG_REC_VERSION)
        return 0;
    out->version = WSG_REC_VERSION;
    out->flags = b[1] & VF_RECFLAGS;
    out->ban_count = get16(b + 2);
    out->hits = get32(b + 4);
    out->first_seen = t32_time(get32(b + 8));
    out->last_seen = t32_time(get32(b + 12));
    out->ban_until = t48_time(get48(b + 16));
    out->score_time = t48_time(get48(b + 22));
    out->distinct = get16(b + 28);
    fbits = get32(b + 30);
    memcpy(&score, &fbits, sizeof(score));
    out->score = score;
    out->probe_bloom = get64(b + 34);
    nr = b[42] & VF_NRULES;
    out->flags |= (apr_uint32_t)(b[42] >> 3) << VF_EXTSHIFT;
    p = b + VAL_HEAD;
    for (i = 0; i < nr; i++) {
        apr_uint32_t val = 0;
        int shift = 0;
        do {
            if (p >= end || shift > 28 || i >= WSG_REC_RULES)
                goto bad;
            val |= (apr_uint32_t)(*p & 0x7f) << shift;
            shift += 7;
        } while (*p++ & 0x80);
        out->rules[i] = val;
    }
    if (b[1] & VF_MEMBERS) {
        if (end - p < 10)
            goto bad;
        out->members = get16(p);
        out->member_bloom = get64(p + 2);
        p += 10;
    }
    if (b[1] & VF_SOURCE) {
        size_t slen;
        if (p >= end || (slen = *p++) >= sizeof(out->source) || (size_t)(end - p) < slen)
            goto bad;
        memcpy(out->source, p, slen);
        p += slen;
    }
    if (out->flags & VF_CRAWLER) {
        if (end - p < 4)
            goto bad;
        out->crawler_at = get32(p);
        p += 4;
    }
    if (end - p == VAL_TAIL) {
        apr_uint32_t ms = get16(p + 8);
        out->miss_ring_lo = get32(p);
        out->miss_ring_hi = get32(p + 4);
        if (ms < 1000 && out->first_seen > 0 && out->first_seen < APR_INT64_MAX)
            out->first_seen += (apr_time_t)ms * 1000;
        p += VAL_TAIL;
    }
    if (p != end)
        goto bad;
    return 1;
bad:
    memset(out, 0, sizeof(*out));
    return 0;
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
 * refused (APR_ENOSPC) at 25% of what full leaves could hold, which leaves room for leaves
 * that are only half full after splits (a flood of new addresses fills them so, measured),
 * branch pages, the free list, copy-on-write and old pages pinned by readers (many threads
 * reading while one writes); every purged record makes room for one new one. Should LMDB run
 * out of pages all the same, wsg_store_update lowers this handle's cap (see shrink_capacity). */
static size_t capacity_of(size_t map_size, unsigned psize)
{
    /* node header 8 + key + value, plus the 2-byte slot index; page header 16. Packed records
     * vary (an IPv4 address ~55 bytes of key and value, an IPv6 one ~67, an import up to ~100):
     * counted at 80, as if every address were IPv6 with some rules. */
    size_t per_page = (psize - 16) / (8 + 80 + 2);
    size_t pages = map_size / psize;
    pages = pages > 8 ? pages - 8 : 0;           /* meta pages, roots */
    return pages * per_page / 4;
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

/* Opens the environment once and reads every record, which is what a damaged file fails on.
 * With d, the same pass rebuilds the filter (STATEDIR/records.bloom, made or remade as needed):
 * the records are read in a write transaction, so LMDB's writer lock is held from the first
 * record read to the filter's publication and no write can fall in between; the transaction
 * itself writes nothing (it is aborted) unless the environment is brand new. A filter that
 * cannot be made is left out (the store then reads LMDB for every client, as without it). */
static int env_check(const char *dir, const wsg_store_opts_t *opts, const wsg_store_dir_t *d,
                     long uid, long gid, const char **what)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi dbi;
    MDB_val k, v;
    MDB_envinfo info;
    MDB_stat ms;
    wsg_filter_t *filt = NULL;
    wsg_filter_rebuild_t *rb = NULL;
    apr_pool_t *fp = NULL;
    wsg_addr_t a;
    int rc, dead = 0, fresh;

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
    fresh = mdb_env_info(env, &info) == 0 && info.me_last_txnid == 0;
    if (d && apr_pool_create(&fp, NULL) == APR_SUCCESS && mdb_env_stat(env, &ms) == 0) {
        const char *ferr = NULL;
        int created = 0;
        if (wsg_filter_create(fp, d->fd, wsg_filter_words_for(capacity_of(info.me_mapsize,
                                                                            ms.ms_psize)),
                              uid, gid, &filt, &created, &ferr) == APR_SUCCESS)
            rb = wsg_filter_rebuild_start(filt);
    }
    *what = "mdb_cursor_open";
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        goto leave;
    *what = "reading the records";
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        if (rb && key_unpack(&k, &a))
            wsg_filter_rebuild_add(rb, &a);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
    if (rc)
        goto leave;
    if (!fresh) {
        /* Every record committed up to the last transaction is in rb: it covers that one. */
        wsg_filter_rebuild_publish(rb, (apr_uint64_t)mdb_txn_id(txn) - 1);
        rb = NULL;
        goto leave;         /* aborted: nothing to write */
    }
    /* A brand-new environment gets its main DB written once (if the commit writes anything:
     * it may not, and then the next writer's transaction has this one's id). The filter
     * (empty) covers what is committed before it, and this commit once it is known to be one. */
    {
        apr_uint64_t id = (apr_uint64_t)mdb_txn_id(txn);
        wsg_filter_rebuild_publish(rb, id - 1);
        rb = NULL;
        *what = "mdb_txn_commit";
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc == 0 && filt && mdb_env_info(env, &info) == 0
            && (apr_uint64_t)info.me_last_txnid == id)
            wsg_filter_advance(filt, id);
    }
leave:
    wsg_filter_rebuild_discard(rb);
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (fp)
        apr_pool_destroy(fp);
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
    char         warning[400];        /* the policy could not be recorded */
} prep_result_t;

static int policy_write_env(const char *lpath, const wsg_store_opts_t *opts,
                            const wsg_store_dir_t *d, const wsg_store_policy_t *pol,
                            const char **what);

/* Creates the files, opens the environment once and reads it, moving a damaged data.mdb aside.
 * Runs as the directory's owner (in a child process, see wsg_store_prepare_ex). */
static void prep_work(apr_pool_t *p, const wsg_store_dir_t *d, const wsg_store_opts_t *opts,
                      long uid, long gid, const wsg_store_policy_t *pol, prep_result_t *res)
{
    const char *what = "", *lpath = lmdb_path(p, d);
    int rc;

    if ((rc = files_create(d, uid, gid, &what)) != 0)
        goto os_error;
    rc = env_check(lpath, opts, d, uid, gid, &what);
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
        rc = env_check(lpath, opts, d, uid, gid, &what);
    }
    if (rc) {
        snprintf(res->err, sizeof(res->err), "cannot open LMDB environment %s: %s: %s", d->path,
                 what, mdb_strerror(rc));
        res->rv = map_rc(rc);
    }
    /* The policy, for wsguardctl: a failure leaves the state usable (the CLI then says it
     * does not know the server's policy). */
    else if (pol && (rc = policy_write_env(lpath, opts, d, pol, &what)) != 0)
        snprintf(res->warning, sizeof(res->warning), "cannot record the policy in %s for "
                 "wsguardctl: %s: %s", d->path, what, mdb_strerror(rc));
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
                                  const wsg_store_policy_t *pol, prep_result_t *res,
                                  const char **err)
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
            prep_work(p, d, opts, uid, gid, pol, &r);
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
    res->warning[sizeof(res->warning) - 1] = '\0';
    return APR_SUCCESS;
}

static const char *group_readable(apr_pool_t *p, const wsg_store_dir_t *d, long expect,
                                  long read_gid);

apr_status_t wsg_store_prepare_ex(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                                  long uid, long gid, const char **notice, const char **err)
{
    wsg_store_prep_t prep;
    apr_status_t rv;

    memset(&prep, 0, sizeof(prep));
    prep.read_gid = -1;
    rv = wsg_store_prepare_with(p, dir, opts, uid, gid, &prep, err);
    if (notice)
        *notice = prep.notice;
    return rv;
}

apr_status_t wsg_store_prepare_with(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                                    long uid, long gid, wsg_store_prep_t *prep, const char **err)
{
    wsg_store_dir_t *d = NULL;
    prep_result_t res;
    apr_status_t rv;
    long expect = uid >= 0 ? uid : (long)geteuid();

    prep->notice = prep->warning = NULL;
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
    if ((rv = prep_in_child(p, d, opts, uid, gid, prep->policy, &res, err)) != APR_SUCCESS)
        return rv;
    if (res.has_notice)
        prep->notice = apr_pstrdup(p, res.notice);
    if (res.warning[0])
        prep->warning = apr_pstrdup(p, res.warning);
    if (res.rv != APR_SUCCESS) {
        *err = apr_pstrdup(p, res.err);
        return res.rv;
    }
    /* Detection after the fact: what LMDB opened must still be what we checked. */
    if ((rv = files_check(p, d, 1, err)) != APR_SUCCESS)
        return rv;
    if (prep->read_gid >= 0) {
        const char *w = group_readable(p, d, expect, prep->read_gid);
        if (w)
            prep->warning = prep->warning ? apr_pstrcat(p, prep->warning, "; ", w, NULL) : w;
    }
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
    wsg_filter_close(st->filt);
    st->filt = NULL;
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

/* dir: for messages; path: what LMDB opens (dir itself, or a checked directory's fd); dirfd:
 * that fd (the filter is opened through it), or -1 (by dir's path). */
static apr_status_t open_path(apr_pool_t *p, const char *dir, const char *path, int dirfd,
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
    /* A reader who may not write lock.mdb (a member of WSGuardStateGroup): without the lock
     * file, every read checked afterwards (see wsg_store_is_nolock in the header). */
    if (st->readonly) {
        const char *lock = apr_pstrcat(p, path, "/lock.mdb", NULL);
        if (faccessat(AT_FDCWD, lock, W_OK, AT_EACCESS) != 0 && errno == EACCES) {
            flags |= MDB_NOLOCK;
            st->nolock = 1;
        }
    }

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
    {
        /* The filter prepare made; without one (none, refused, damaged) every client costs an
         * LMDB read, as it did before there was one. */
        const char *ferr = NULL;
        if (wsg_filter_open(p, dirfd, dirfd >= 0 ? NULL : apr_pstrcat(p, dir, "/",
                                                                     WSG_FILTER_FILE, NULL),
                            !st->readonly, &st->filt, &ferr) != APR_SUCCESS)
            st->filt = NULL;
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
    return open_path(p, dir, dir, -1, opts, out, err);
}

apr_status_t wsg_store_open_dir(apr_pool_t *p, const wsg_store_dir_t *d,
                                const wsg_store_opts_t *opts, wsg_store_t **out, const char **err)
{
    apr_status_t rv = open_path(p, d->path, lmdb_path(p, d), d->fd, opts, out, err);
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

/* ---- meta record, version-1 keys ---- */

#define LEGACY_RECHECK     (APR_INT64_C(60) * APR_USEC_PER_SEC)
#define MIGRATE_MAX        32     /* version-1 records rewritten per purge transaction */

static void meta_val(MDB_val *k)
{
    k->mv_size = sizeof(META_KEY);
    k->mv_data = (void *)META_KEY;
}

/* The meta record in txn (zeroed when absent; found says whether it was there). */
static int meta_read(MDB_txn *txn, MDB_dbi dbi, meta_t *m, int *found)
{
    MDB_val k, v;
    int rc;

    memset(m, 0, sizeof(*m));
    meta_val(&k);
    rc = mdb_get(txn, dbi, &k, &v);
    if (found)
        *found = rc == 0;
    if (rc == 0 && v.mv_size == sizeof(*m))
        memcpy(m, v.mv_data, sizeof(*m));
    m->version = 1;
    if (m->purge_len > sizeof(m->purge_pos))
        m->purge_len = 0;
    if (m->evict_len > sizeof(m->evict_pos))
        m->evict_len = 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int meta_write(MDB_txn *txn, MDB_dbi dbi, const meta_t *m)
{
    MDB_val k, v;

    meta_val(&k);
    v.mv_size = sizeof(*m);
    v.mv_data = (void *)m;
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* Whether a version-1 key is left: they sort between the meta record and the packed keys. */
static int legacy_present(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char from = 0x01;
    int rc, yes;

    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return 1;
    k.mv_size = 1;
    k.mv_data = &from;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    yes = rc == 0 ? ((const unsigned char *)k.mv_data)[0] < KEY_TAG : rc != MDB_NOTFOUND;
    mdb_cursor_close(cur);
    return yes;
}

/* Whether lookups must also try the version-1 key; checked once per handle and, while some
 * are left, once a minute (the last one disappears by expiry or by being rewritten). */
static int legacy_maybe(wsg_store_t *st, MDB_txn *txn)
{
    apr_uint32_t l = st->legacy;
    apr_time_t now;

    if (l == 1)
        return 0;
    now = apr_time_now();
    if (l == 0 || now - st->legacy_checked > LEGACY_RECHECK) {
        l = legacy_present(txn, st->dbi) ? 2 : 1;
        st->legacy_checked = now;
        st->legacy = l;
    }
    return l == 2;
}

/* Looks key up: the packed key, then (while version-1 keys remain) the old one; *v1 says that
 * the old one was found. */
static int rec_lookup(wsg_store_t *st, MDB_txn *txn, const wsg_addr_t *key, MDB_val *v, int *v1)
{
    unsigned char kb[KEY_MAX];
    MDB_val k;
    int rc;

    *v1 = 0;
    key_val(&k, key, kb);
    rc = mdb_get(txn, st->dbi, &k, v);
    if (rc == MDB_NOTFOUND && legacy_maybe(st, txn)) {
        key_val_v1(&k, key);
        if ((rc = mdb_get(txn, st->dbi, &k, v)) == 0)
            *v1 = 1;
    }
    return rc;
}

/* ---- eviction ---- */

typedef struct cand_t {
    double        value;                /* faded score; -1: unreadable */
    apr_time_t    last;
    unsigned char len;
    unsigned char key[KEY_V1_SIZE];
} cand_t;

#define FADED 0.01

/* Least valuable first: unreadable, then faded scores oldest first, then the lowest score. */
static int cand_cmp(const void *x, const void *y)
{
    const cand_t *a = x, *b = y;
    int fa = a->value < FADED, fb = b->value < FADED;

    if (a->value < 0 || b->value < 0)
        return a->value < b->value ? -1 : a->value > b->value ? 1 : 0;
    if (fa != fb)
        return fa ? -1 : 1;
    if (!fa && a->value != b->value)
        return a->value < b->value ? -1 : 1;
    return a->last < b->last ? -1 : a->last > b->last ? 1 : 0;
}

/* Deletes, in txn, at least need records (if it can) that nothing protects: no ban in force, no
 * shell alert, no manual ban, not one of keep[]. Looks at windows of EVICT_WINDOW records from
 * where the last eviction stopped (meta), at most EVICT_SEEN_MAX in all, and takes from each
 * window the least valuable ones (plus up to EVICT_FADED faded ones, so the next inserts find
 * room). *got gets the count; the position and the total are saved in the meta record. */
static int evict(wsg_store_t *st, MDB_txn *txn, const wsg_addr_t *keep, int nkeep,
                 unsigned need, unsigned *got)
{
    cand_t c[EVICT_WINDOW];
    unsigned char next[KEY_V1_SIZE];
    size_t next_len = 0;
    meta_t m;
    MDB_cursor *cur;
    MDB_val k, v;
    MDB_stat ms;
    wsg_rec_t rec;
    wsg_addr_t a;
    apr_time_t now = apr_time_now();
    apr_interval_time_t hl = st->halflife > 0 ? st->halflife : DEFAULT_HALFLIFE;
    unsigned seen = 0, nc, inwin, i, faded, take;
    int rc, j, wrapped = 0, at_end;

    *got = 0;
    if ((rc = meta_read(txn, st->dbi, &m, NULL)) != 0 || (rc = mdb_stat(txn, st->dbi, &ms)) != 0)
        return rc;
    next_len = m.evict_len;
    memcpy(next, m.evict_pos, next_len);
    while (*got < need && seen < EVICT_SEEN_MAX && seen < ms.ms_entries + EVICT_WINDOW) {
        if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0)
            return rc;
        if (next_len) {
            k.mv_size = next_len;
            k.mv_data = next;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
        else
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        nc = inwin = 0;
        while (rc == 0 && inwin < EVICT_WINDOW) {
            if (!key_is_meta(&k) && k.mv_size <= KEY_V1_SIZE) {
                int valid = key_unpack(&k, &a), readable = valid && rec_from_val(&v, &rec);
                int kept = 0;
                inwin++;
                /* The records this update is about to write are never taken from under it. */
                for (j = 0; valid && j < nkeep; j++)
                    if (!memcmp(&a, &keep[j], sizeof(a)))
                        kept = 1;
                if (kept)
                    goto next;
                if (!readable) {
                    c[nc].value = -1;
                    c[nc].last = 0;
                }
                else if (rec.ban_until <= now && !(rec.flags & WSG_RF_SHELL_HIT)) {
                    /* A manual ban is protected while in force, like any ban; once over, its
                     * record is an ordinary faded one. */
                    apr_interval_time_t dt = now - rec.score_time;
                    c[nc].value = rec.score <= 0 ? 0
                                : dt > 0 ? rec.score * exp2(-(double)dt / (double)hl) : rec.score;
                    c[nc].last = rec.last_seen;
                }
                else
                    goto next;
                c[nc].len = (unsigned char)k.mv_size;
                memcpy(c[nc].key, k.mv_data, k.mv_size);
                nc++;
            }
        next:
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        at_end = rc == MDB_NOTFOUND;
        if (rc == 0 && k.mv_size <= sizeof(next)) {
            next_len = k.mv_size;
            memcpy(next, k.mv_data, k.mv_size);
        }
        else
            next_len = 0;
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        seen += inwin;
        qsort(c, nc, sizeof(c[0]), cand_cmp);
        for (i = 0, faded = 0; i < nc; i++) {
            take = *got < need || (faded < EVICT_FADED && c[i].value < FADED);
            if (!take)
                break;
            if (*got >= need)
                faded++;
            k.mv_size = c[i].len;
            k.mv_data = c[i].key;
            if ((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
                return rc;
            (*got)++;
        }
        if (at_end) {
            if (wrapped)
                break;
            wrapped = 1;
        }
    }
    m.evicted += *got;
    m.evict_len = (unsigned char)next_len;
    memcpy(m.evict_pos, next, next_len);
    st->evicted += *got;
    return meta_write(txn, st->dbi, &m);
}

/* LMDB itself ran out of pages (MDB_MAP_FULL): frees some in a transaction of its own. */
static int evict_txn(wsg_store_t *st, const wsg_addr_t *keep, int nkeep, unsigned need)
{
    MDB_txn *txn;
    unsigned got = 0;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = evict(st, txn, keep, nkeep, need, &got)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if (got == 0) {
        mdb_txn_abort(txn);
        return MDB_MAP_FULL;
    }
    return txn_commit(st, txn);
}

/* Lowers this handle's record cap to 7/8 of the records there are (not below half the cap it
 * opened with, so that pages pinned for a moment by a slow reader do not ratchet it down); returns how
 * many records that puts over it (at least EVICT_WINDOW / 4, at most EVICT_WINDOW * 4). */
static unsigned shrink_capacity(wsg_store_t *st)
{
    MDB_stat ms;
    size_t want, over;

    if (mdb_env_stat(st->env, &ms) != 0)
        return EVICT_WINDOW;
    want = ms.ms_entries - ms.ms_entries / 8;
    if (want < capacity_of(st->map_size, st->psize) / 2)
        want = capacity_of(st->map_size, st->psize) / 2;
    if (want < st->capacity)
        st->capacity = want;
    over = ms.ms_entries > st->capacity ? ms.ms_entries - st->capacity : 0;
    if (over < EVICT_WINDOW / 4)
        over = EVICT_WINDOW / 4;
    return over > EVICT_WINDOW * 4 ? EVICT_WINDOW * 4 : (unsigned)over;
}

/* ---- operations ---- */

void wsg_store_set_halflife(wsg_store_t *st, apr_interval_time_t halflife)
{
    if (st)
        st->halflife = halflife;
}

apr_uint64_t wsg_store_evicted(const wsg_store_t *st)
{
    return st ? st->evicted : 0;
}

apr_interval_time_t wsg_store_last_hold(const wsg_store_t *st)
{
    return st ? st->last_hold : 0;
}

/* This thread's cached read txn for st, renewed (the caller resets it when done). */
static apr_status_t slot_renew(wsg_store_t *st, tls_slot_t **out)
{
    tls_slot_t *sl;
    int rc = 0, tries;

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
    *out = sl;
    return APR_SUCCESS;
}

/* Whether the filter proves that none of the n keys has a record: it is believed when it covers
 * the last committed transaction (read from LMDB's meta page, no reader slot), i.e. when every
 * write so far set its bits; a write by a process without the filter (an older wsguardctl, a
 * handle that could not map it) leaves it uncovered until the next rebuild. */
static int meta_last_txnid(const wsg_store_t *st, apr_uint64_t *last)
{
    MDB_envinfo info;

    if (mdb_env_info(st->env, &info) != 0)
        return 0;
    *last = (apr_uint64_t)info.me_last_txnid;
    return 1;
}

static int filter_ok_at(const wsg_store_t *st, apr_uint64_t *last)
{
    return st->filt && meta_last_txnid(st, last) && wsg_filter_covered(st->filt) >= *last;
}

static int filter_ok(const wsg_store_t *st)
{
    apr_uint64_t last;

    return filter_ok_at(st, &last);
}

static int filter_says_none(const wsg_store_t *st, const wsg_addr_t *keys, int n)
{
    return filter_ok(st) && !wsg_filter_maybe_any(st->filt, keys, n);
}

int wsg_store_may_have(wsg_store_t *st, const wsg_addr_t *keys, int n)
{
    return wsg_store_may_have_at(st, keys, n, NULL);
}

int wsg_store_may_have_at(wsg_store_t *st, const wsg_addr_t *keys, int n, apr_uint64_t *at)
{
    apr_uint64_t last = 0;

    if (at)
        *at = 0;
    if (!st || !filter_ok_at(st, &last) || wsg_filter_maybe_any(st->filt, keys, n))
        return 1;
    /* The proof holds for the snapshot "last" if the range index, read in that snapshot, held
     * no range at all (else a range ban written since the last look, up to a second ago, could
     * hide behind it; and with ranges in force the caller's own lookup is not memoised). */
    if (at && last && __atomic_load_n(&st->range_txnid, __ATOMIC_ACQUIRE) == last
        && !st->range_mask4 && !st->range_mask6[0] && !st->range_mask6[1])
        *at = last;
    return 0;
}

apr_uint64_t wsg_store_last_txnid(const wsg_store_t *st)
{
    apr_uint64_t last;

    return st && meta_last_txnid(st, &last) ? last : 0;
}

/* Commit of every write transaction of the store: covered moves to it (its bits were set
 * before, with the writer lock held), and back if the commit fails. Callers commit only what
 * wrote something: LMDB gives an empty commit no id of its own (the next transaction has the
 * same), so covering it would cover the next writer's, which may not set bits; should one
 * happen all the same, covered goes back at once. */
static int commit_covered(MDB_env *env, wsg_filter_t *filt, MDB_txn *txn)
{
    apr_uint64_t id = (apr_uint64_t)mdb_txn_id(txn);
    int moved = filt ? wsg_filter_advance(filt, id) : 0;
    int rc = mdb_txn_commit(txn);
    MDB_envinfo info;

    if (moved && (rc != 0 || mdb_env_info(env, &info) != 0
                  || (apr_uint64_t)info.me_last_txnid < id))
        wsg_filter_retreat(filt, id);
    return rc;
}

static int txn_commit(wsg_store_t *st, MDB_txn *txn)
{
    return commit_covered(st->env, st->filt, txn);
}
static apr_status_t get_many_nolock(wsg_store_t *st, const wsg_addr_t *keys, int n,
                                    wsg_rec_t *out, int *found);

apr_status_t wsg_store_get_many(wsg_store_t *st, const wsg_addr_t *keys, int n, wsg_rec_t *out,
                                int *found)
{
    tls_slot_t *sl;
    MDB_val v;
    apr_status_t rv;
    int rc = 0, i, v1;

    if (filter_says_none(st, keys, n)) {
        for (i = 0; i < n; i++) {
            memset(&out[i], 0, sizeof(out[i]));
            found[i] = 0;
        }
        return APR_SUCCESS;
    }
    if (st->nolock)
        return get_many_nolock(st, keys, n, out, found);
    if ((rv = slot_renew(st, &sl)) != APR_SUCCESS)
        return rv;
    for (i = 0; i < n; i++) {
        rc = rec_lookup(st, sl->txn, &keys[i], &v, &v1);
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

/* One attempt of an update. When a previous attempt (prev) read the same records, its result
 * is written again without calling fn twice (callbacks count things). */
typedef struct upd_t {
    int       done;                  /* fn ran */
    wsg_rec_t before[4], after[4];
    int       found[4];
    int       mask;
} upd_t;

static size_t meta_keys(wsg_store_t *st, MDB_txn *txn);

static apr_status_t update_once(wsg_store_t *st, const wsg_addr_t *keys, int n,
                                wsg_store_update_fn fn, void *baton, upd_t *u, int *map_full)
{
    wsg_rec_t recs[4];
    int found[4], v1[4];
    unsigned char kb[KEY_MAX], vb[VAL_MAX];
    MDB_txn *txn;
    MDB_val k, v;
    int i, rc, mask, inserts;

    *map_full = 0;
    /* Serialised by LMDB's process-shared writer mutex: the read-modify-write of all n records
     * is atomic across every child. */
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    for (i = 0; i < n; i++) {
        rc = rec_lookup(st, txn, &keys[i], &v, &v1[i]);
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
    if (u->done && !memcmp(u->before, recs, sizeof(recs[0]) * n)
        && !memcmp(u->found, found, sizeof(found[0]) * n)) {
        memcpy(recs, u->after, sizeof(recs[0]) * n);
        mask = u->mask;
    }
    else {
        memcpy(u->before, recs, sizeof(recs[0]) * n);
        memcpy(u->found, found, sizeof(found[0]) * n);
        mask = fn(baton, recs, found, n);
        u->done = 1;
        u->mask = mask;
        memcpy(u->after, recs, sizeof(recs[0]) * n);
    }
    if (mask <= 0) {
        /* Nothing to write (-1, or no record asked for): nothing to commit either. */
        mdb_txn_abort(txn);
        return APR_SUCCESS;
    }
    for (i = 0, inserts = 0; i < n; i++)
        if ((mask & (1 << i)) && !found[i])
            inserts++;
    if (inserts) {
        MDB_stat ms;
        size_t entries;
        unsigned got = 0;
        if ((rc = mdb_stat(txn, st->dbi, &ms)) != 0) {
            mdb_txn_abort(txn);
            return fail(st, "mdb_stat", rc);
        }
        entries = ms.ms_entries;
        if (entries) {
            /* The meta record does not count. */
            MDB_val mk, mv;
            meta_val(&mk);
            if (mdb_get(txn, st->dbi, &mk, &mv) == 0)
                entries--;
        }
        /* Near the cap: the policy, the range index and the range bans are not records
         * either (counted only here, so the common insert pays nothing). */
        if (entries + inserts > st->capacity) {
            size_t nm = meta_keys(st, txn);
            entries = ms.ms_entries > nm ? ms.ms_entries - nm : 0;
        }
        /* Full: make room by evicting the least valuable records, in this same transaction. */
        if (entries + inserts > st->capacity) {
            unsigned need = (unsigned)(entries + inserts - st->capacity);
            if ((rc = evict(st, txn, keys, n, need, &got)) != 0) {
                mdb_txn_abort(txn);
                *map_full = rc == MDB_MAP_FULL;
                return fail(st, "evicting", rc);
            }
            if (got < need) {
                /* Keep what was evicted and where the window stopped, so the next attempt
                 * looks further on (past a run of bans) rather than at the same records. */
                if ((rc = txn_commit(st, txn)) != 0)
                    return fail(st, "mdb_txn_commit", rc);
                tl_err_rv = APR_ENOSPC;
                snprintf(tl_err, sizeof(tl_err), "mdb_put: %s: %zu records, the most a map of "
                         "%zu bytes keeps room for, and none of those looked at may be evicted "
                         "(bans in force, alerts, manual bans); purge or raise the map size "
                         "(LMDB environment %s)", mdb_strerror(MDB_MAP_FULL),
                         (size_t)entries, st->map_size, st->dir);
                return APR_ENOSPC;
            }
        }
    }
    /* The filter first: a reader that sees this commit sees these bits. */
    for (i = 0; st->filt && i < n; i++)
        if (mask & (1 << i))
            wsg_filter_add(st->filt, &keys[i]);
    for (i = 0; i < n; i++) {
        if (!(mask & (1 << i)))
            continue;
        recs[i].version = WSG_REC_VERSION;
        key_val(&k, &keys[i], kb);
        v.mv_size = rec_pack(&recs[i], vb);
        v.mv_data = vb;
        if ((rc = mdb_put(txn, st->dbi, &k, &v, 0)) == 0 && v1[i]) {
            /* Rewritten packed: the version-1 copy goes. */
            key_val_v1(&k, &keys[i]);
            if ((rc = mdb_del(txn, st->dbi, &k, NULL)) == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            *map_full = rc == MDB_MAP_FULL;
            return fail(st, "mdb_put", rc);
        }
    }
    if ((rc = txn_commit(st, txn)) != 0) {
        *map_full = rc == MDB_MAP_FULL;
        return fail(st, "mdb_txn_commit", rc);
    }
    return APR_SUCCESS;
}

apr_status_t wsg_store_update(wsg_store_t *st, const wsg_addr_t *keys, int n,
                              wsg_store_update_fn fn, void *baton)
{
    upd_t u;
    apr_status_t rv;
    int map_full, rc;

    if (n < 1 || n > 4 || !fn)
        return APR_EINVAL;
    u.done = 0;
    rv = update_once(st, keys, n, fn, baton, &u, &map_full);
    if (rv == APR_SUCCESS || !map_full)
        return rv;
    /* LMDB ran out of pages before the record cap (leaves emptier than planned, pages pinned
     * by readers, a file made by a bigger map...): this handle keeps fewer records from now
     * on, frees some without needing a write to succeed first, then tries once more. */
    if ((rc = evict_txn(st, keys, n, shrink_capacity(st))) != 0)
        return rc == MDB_MAP_FULL ? rv : fail(st, "evicting", rc);
    return update_once(st, keys, n, fn, baton, &u, &map_full);
}

apr_status_t wsg_store_delete(wsg_store_t *st, const wsg_addr_t *key)
{
    unsigned char kb[KEY_MAX];
    MDB_txn *txn;
    MDB_val k;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    key_val(&k, key, kb);
    rc = mdb_del(txn, st->dbi, &k, NULL);
    if (legacy_maybe(st, txn)) {
        int rc1;
        key_val_v1(&k, key);
        rc1 = mdb_del(txn, st->dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = rc1;
        else if (rc == 0 && rc1 != MDB_NOTFOUND)
            rc = rc1;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? APR_NOTFOUND : fail(st, "mdb_del", rc);
    }
    if ((rc = txn_commit(st, txn)) != 0)
        return fail(st, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}

static apr_status_t iterate_nolock(wsg_store_t *st, wsg_store_iter_fn fn, void *baton);

apr_status_t wsg_store_iterate(wsg_store_t *st, wsg_store_iter_fn fn, void *baton)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    wsg_addr_t key;
    wsg_rec_t rec;
    int rc;

    if (st->nolock)
        return iterate_nolock(st, fn, baton);
    /* Its own txn, not the thread's cached one: fn may call wsg_store_get (or update). */
    if ((rc = read_txn_begin(st, &txn)) != 0)
        return fail(st, "mdb_txn_begin (read)", rc);
    if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return fail(st, "mdb_cursor_open", rc);
    }
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        if (!key_unpack(&k, &key) || !rec_from_val(&v, &rec))
            continue;
        if (fn(baton, &key, &rec))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? APR_SUCCESS : fail(st, "mdb_cursor_get", rc);
}

/* One purge transaction from pos (len 0: the start; the meta record's position when use_meta):
 * looks at up to max_seen records or max_usec, deletes up to max_del of those expired (and
 * unreadable values), leaves in pos where the next one starts (*wrapped = 1 at the end). */
static int purge_txn(wsg_store_t *st, wsg_store_expired_fn expired, void *baton,
                     unsigned char *pos, size_t *pos_len, int use_meta, unsigned max_seen,
                     apr_interval_time_t max_usec, unsigned max_del, unsigned *deleted,
                     int *wrapped)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    wsg_rec_t rec;
    wsg_addr_t a;
    meta_t m;
    apr_time_t t0 = apr_time_now(), th;
    wsg_addr_t mig[MIGRATE_MAX];
    unsigned seen = 0, del = 0, nmig = 0, i;
    int rc;

    *deleted = 0;
    *wrapped = 0;
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return rc;
    th = apr_time_now();        /* the writer lock is held from here */
    if (use_meta) {
        if ((rc = meta_read(txn, st->dbi, &m, NULL)) != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        *pos_len = m.purge_len;
        memcpy(pos, m.purge_pos, m.purge_len);
    }
    if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if (*pos_len) {
        k.mv_size = *pos_len;
        k.mv_data = pos;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    else
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && seen < max_seen && del < max_del) {
        if ((seen & 15) == 15 && apr_time_now() - t0 >= max_usec)
            break;
        if (!key_is_meta(&k)) {
            seen++;
            /* Unreadable values (other size or version) are dead weight nobody can use. */
            if (!key_unpack(&k, &a) || !rec_from_val(&v, &rec) || expired(baton, &rec)) {
                if ((rc = mdb_cursor_del(cur, 0)) != 0)
                    break;
                del++;
            }
            /* A version-1 record still in use is rewritten packed once the cursor is closed,
             * so lookups stop trying old keys once the last one is gone. */
            else if (key_is_v1(&k) && nmig < MIGRATE_MAX)
                mig[nmig++] = a;
        }
        /* After a delete, MDB_NEXT yields the record that followed the deleted one. */
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    /* Stopped on a record not yet looked at: the next transaction starts there. */
    if (rc == 0 && k.mv_size <= KEY_V1_SIZE) {
        memcpy(pos, k.mv_data, k.mv_size);
        *pos_len = k.mv_size;
    }
    else if (rc == 0 || rc == MDB_NOTFOUND) {
        *pos_len = 0;
        *wrapped = 1;
        rc = 0;
    }
    mdb_cursor_close(cur);
    for (i = 0; rc == 0 && i < nmig; i++) {
        unsigned char kb[KEY_MAX], vb[VAL_MAX];
        MDB_val nk, nv;
        key_val_v1(&k, &mig[i]);
        if (mdb_get(txn, st->dbi, &k, &v) != 0 || !rec_from_val(&v, &rec))
            continue;
        key_val(&nk, &mig[i], kb);
        nv.mv_size = rec_pack(&rec, vb);
        nv.mv_data = vb;
        if (st->filt)
            wsg_filter_add(st->filt, &mig[i]);
        if ((rc = mdb_del(txn, st->dbi, &k, NULL)) == 0)
            rc = mdb_put(txn, st->dbi, &nk, &nv, 0);
    }
    if (rc == 0 && use_meta) {
        m.purge_len = (unsigned char)*pos_len;
        memcpy(m.purge_pos, pos, *pos_len);
        rc = meta_write(txn, st->dbi, &m);
    }
    if (rc == 0 && (del || nmig || use_meta))
        rc = txn_commit(st, txn);
    else
        mdb_txn_abort(txn);     /* an error, or nothing written */
    st->last_hold = apr_time_now() - th;    /* ... to here, the commit included */
    if (rc == 0)
        *deleted = del;
    return rc;
}

apr_status_t wsg_store_purge(wsg_store_t *st, wsg_store_expired_fn expired, void *baton,
                             unsigned max, unsigned *purged)
{
    unsigned char pos[KEY_V1_SIZE], before[KEY_V1_SIZE];
    size_t pos_len = 0, before_len;
    unsigned done = 0, del, limit = SLICE_SEEN;
    int rc, wrapped = 0;

    if (purged)
        *purged = 0;
    /* In short write txns: other children's updates wait for the writer lock only briefly.
     * Deleting needs fresh pages too (copy-on-write), so on a nearly full map a txn that runs
     * out is retried smaller; each commit frees pages for the next. */
    while (!wrapped && (max == 0 || done < max)) {
        memcpy(before, pos, pos_len);
        before_len = pos_len;
        rc = purge_txn(st, expired, baton, pos, &pos_len, 0, limit, SLICE_USEC,
                       max ? max - done : limit, &del, &wrapped);
        if (rc == MDB_MAP_FULL && limit > 1) {
            memcpy(pos, before, before_len);
            pos_len = before_len;
            wrapped = 0;
            limit /= 2;
            continue;
        }
        if (rc != 0)
            return fail(st, "purging", rc);
        if (limit < SLICE_SEEN)
            limit *= 2;
        done += del;
        if (purged)
            *purged = done;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_store_purge_slice(wsg_store_t *st, wsg_store_expired_fn expired, void *baton,
                                   unsigned max_seen, apr_interval_time_t max_usec,
                                   unsigned *purged, int *wrapped)
{
    unsigned char pos[KEY_V1_SIZE];
    size_t pos_len = 0;
    unsigned del = 0;
    int rc, w = 0;

    if (purged)
        *purged = 0;
    if (wrapped)
        *wrapped = 0;
    if (!max_seen)
        max_seen = SLICE_SEEN;
    if (max_usec <= 0)
        max_usec = SLICE_USEC;
    for (;;) {
        rc = purge_txn(st, expired, baton, pos, &pos_len, 1, max_seen, max_usec, max_seen,
                       &del, &w);
        if (rc == MDB_MAP_FULL && max_seen > 1) {
            max_seen /= 2;
            continue;
        }
        break;
    }
    if (rc != 0)
        return fail(st, "purging", rc);
    if (purged)
        *purged = del;
    if (wrapped)
        *wrapped = w;
    return APR_SUCCESS;
}

apr_status_t wsg_store_stat(wsg_store_t *st, wsg_store_stat_t *out)
{
    MDB_envinfo info;
    MDB_stat ms;
    tls_slot_t *sl;
    meta_t m;
    int rc, have_meta = 0;

    memset(out, 0, sizeof(*out));
    if ((rc = mdb_env_info(st->env, &info)) != 0 || (rc = mdb_env_stat(st->env, &ms)) != 0)
        return fail(st, "mdb_env_info", rc);
    out->map_size = info.me_mapsize;
    out->map_used = (apr_size_t)(info.me_last_pgno + 1) * ms.ms_psize;
    out->records = ms.ms_entries;
    out->capacity = st->capacity;
    out->max_readers = info.me_maxreaders;
    out->readers = info.me_numreaders;
    out->filter_bytes = st->filt ? wsg_filter_nwords(st->filt) * 8 : 0;
    out->filter_ok = filter_ok(st);
    /* The thread's cached read txn: no reader slot of its own. */
    if (slot_renew(st, &sl) == APR_SUCCESS) {
        if (meta_read(sl->txn, st->dbi, &m, &have_meta) == 0 && have_meta)
            out->evicted = m.evicted;
        /* The meta records (this one, the policy, the range bans) are not records. */
        {
            size_t nm = meta_keys(st, sl->txn);
            out->records = out->records > nm ? out->records - nm : 0;
        }
        mdb_txn_reset(sl->txn);
    }
    return APR_SUCCESS;
}

/* ---- the server's policy (issue 10) ---- */

static const unsigned char POLICY_KEY[] = { 0x00, 'w', 's', 'g', 'p' };
#define POLICY_HEAD (4 + 4 * 8 + 4 * 8)

static void policy_key(MDB_val *k)
{
    k->mv_size = sizeof(POLICY_KEY);
    k->mv_data = (void *)POLICY_KEY;
}

static void put_f64(unsigned char *p, double d)
{
    apr_uint64_t u;
    memcpy(&u, &d, sizeof(u));
    put64(p, u);
}

static double get_f64(const unsigned char *p)
{
    apr_uint64_t u = get64(p);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* The packed policy into buf (at least POLICY_HEAD + 2 + 512 + 1 + 128 bytes); its length. */
static size_t policy_pack(const wsg_store_policy_t *pol, unsigned char *buf)
{
    size_t ln = strnlen(pol->event_log, sizeof(pol->event_log) - 1);
    size_t sn = strnlen(pol->server, sizeof(pol->server) - 1);
    unsigned char *q = buf;

    q[0] = WSG_STORE_POLICY_VERSION;
    q[1] = (unsigned char)pol->engine;
    q[2] = (unsigned char)pol->event_log_kind;
    q[3] = 0;
    put_f64(q + 4, pol->ratelimit);
    put_f64(q + 12, pol->ban);
    put_f64(q + 20, pol->prefix_ban);
    put_f64(q + 28, pol->miss_score);
    put64(q + 36, (apr_uint64_t)pol->ban_time);
    put64(q + 44, (apr_uint64_t)pol->ban_max);
    put64(q + 52, (apr_uint64_t)pol->halflife);
    put64(q + 60, (apr_uint64_t)pol->written);
    q += POLICY_HEAD;
    put16(q, (apr_uint32_t)ln);
    memcpy(q + 2, pol->event_log, ln);
    q += 2 + ln;
    *q++ = (unsigned char)sn;
    memcpy(q, pol->server, sn);
    q += sn;
    return (size_t)(q - buf);
}

/* Any version from 1 on (later ones append); 0 for anything shorter or garbled. */
static int policy_unpack(const MDB_val *v, wsg_store_policy_t *out)
{
    const unsigned char *b = v->mv_data, *q, *end = b + v->mv_size;
    size_t ln, sn;

    memset(out, 0, sizeof(*out));
    if (v->mv_size < POLICY_HEAD + 3 || b[0] < 1 || v->mv_size > 4096)
        return 0;
    out->version = b[0];
    out->engine = b[1];
    out->event_log_kind = b[2];
    out->ratelimit = get_f64(b + 4);
    out->ban = get_f64(b + 12);
    out->prefix_ban = get_f64(b + 20);
    out->miss_score = get_f64(b + 28);
    out->ban_time = (apr_interval_time_t)get64(b + 36);
    out->ban_max = (apr_interval_time_t)get64(b + 44);
    out->halflife = (apr_interval_time_t)get64(b + 52);
    out->written = (apr_time_t)get64(b + 60);
    q = b + POLICY_HEAD;
    ln = get16(q);
    q += 2;
    if (ln >= sizeof(out->event_log) || (size_t)(end - q) < ln + 1)
        goto bad;
    memcpy(out->event_log, q, ln);
    q += ln;
    sn = *q++;
    if (sn >= sizeof(out->server) || (size_t)(end - q) < sn)
        goto bad;
    memcpy(out->server, q, sn);
    if (out->engine > 2 || out->event_log_kind > 2 || out->ban_time < 0 || out->ban_max < 0
        || out->halflife < 0)
        goto bad;
    return 1;
bad:
    memset(out, 0, sizeof(*out));
    return 0;
}

static int policy_put_txn(MDB_txn *txn, MDB_dbi dbi, const wsg_store_policy_t *pol)
{
    unsigned char buf[POLICY_HEAD + 2 + 512 + 1 + 128];
    MDB_val k, v;

    policy_key(&k);
    v.mv_size = policy_pack(pol, buf);
    v.mv_data = buf;
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* In the checking child (prep_work): the environment opened once more, the record written. */
static int policy_write_env(const char *lpath, const wsg_store_opts_t *opts,
                            const wsg_store_dir_t *d, const wsg_store_policy_t *pol,
                            const char **what)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    apr_pool_t *fp = NULL;
    wsg_filter_t *filt = NULL;
    const char *ferr = NULL;
    int rc;

    *what = "mdb_env_create";
    if ((rc = env_create(&env, opts)) != 0)
        return rc;
    *what = "mdb_env_open";
    if ((rc = mdb_env_open(env, lpath, MDB_NOTLS, FILE_MODE)) != 0)
        goto leave;
    *what = "mdb_env_set_mapsize";
    if ((rc = adopt_map_size(env, opts)) != 0)
        goto leave;
    *what = "mdb_txn_begin";
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        goto leave;
    *what = "mdb_dbi_open";
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
        goto leave;
    *what = "mdb_put";
    if ((rc = policy_put_txn(txn, dbi, pol)) != 0)
        goto leave;
    /* A write like any other: the filter prepare just rebuilt covers it too. */
    if (apr_pool_create(&fp, NULL) == APR_SUCCESS
        && wsg_filter_open(fp, d->fd, NULL, 1, &filt, &ferr) != APR_SUCCESS)
        filt = NULL;
    *what = "mdb_txn_commit";
    rc = commit_covered(env, filt, txn);
    txn = NULL;
leave:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (fp)
        apr_pool_destroy(fp);
    return rc;
}

apr_status_t wsg_store_put_policy(wsg_store_t *st, const wsg_store_policy_t *pol)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    if ((rc = policy_put_txn(txn, st->dbi, pol)) != 0) {
        mdb_txn_abort(txn);
        return fail(st, "mdb_put", rc);
    }
    if ((rc = txn_commit(st, txn)) != 0)
        return fail(st, "mdb_txn_commit", rc);
    return APR_SUCCESS;
}

/* Whether a read in txn of a lock-free handle may stand: at most one commit since it began (a
 * writer reuses only pages freed by transactions older than the one before it, so the pages of
 * this snapshot are safe until a second commit after it starts writing). */
static int snapshot_ok(wsg_store_t *st, MDB_txn *txn)
{
    MDB_envinfo info;

    if (!st->nolock)
        return 1;
    if (mdb_env_info(st->env, &info) != 0)
        return 0;
    return info.me_last_txnid - mdb_txn_id(txn) <= 1;
}

/* Between tries of a lock-free read: a writer's burst usually ends within milliseconds. */
static void nolock_pause(int tries)
{
    usleep((useconds_t)(tries < 10 ? 1000 : 10000));
}

static int rc_is_garble(int rc)
{
    return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_BAD_TXN || rc == MDB_PANIC;
}

apr_status_t wsg_store_get_policy(wsg_store_t *st, wsg_store_policy_t *out)
{
    MDB_txn *txn;
    MDB_val k, v;
    int rc, ok = 0, tries;

    for (tries = 0; tries < WSG_STORE_NOLOCK_TRIES; tries++) {
        if ((rc = read_txn_begin(st, &txn)) != 0)
            return fail(st, "mdb_txn_begin (read)", rc);
        policy_key(&k);
        rc = mdb_get(txn, st->dbi, &k, &v);
        ok = rc == 0 && policy_unpack(&v, out);
        if (snapshot_ok(st, txn) && !rc_is_garble(rc)) {
            mdb_txn_abort(txn);
            break;
        }
        mdb_txn_abort(txn);
        nolock_pause(tries);
    }
    if (tries == WSG_STORE_NOLOCK_TRIES)
        return APR_EAGAIN;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fail(st, "mdb_get", rc);
    if (!ok)
        memset(out, 0, sizeof(*out));
    return ok ? APR_SUCCESS : APR_NOTFOUND;
}

/* ---- group readers (issue 10) ---- */

int wsg_store_is_nolock(const wsg_store_t *st)
{
    return st && st->nolock;
}

/* Root, in prepare, after the checks: data.mdb (opened without following a symlink, checked
 * again through its fd) made 0640 with group read_gid, and the directory, when the children's
 * user owns it, 0750 with that group. Never group-writable; lock.mdb is left alone (readers
 * of the group do without it). NULL, or what could not be done. */
static const char *group_readable(apr_pool_t *p, const wsg_store_dir_t *d, long expect,
                                  long read_gid)
{
    struct stat sb;
    int fd;

    if (geteuid() != 0)
        return NULL;   /* only root may give a file to a group its owner is not in */
    fd = openat(d->fd, "data.mdb", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return apr_psprintf(p, "cannot open %s/data.mdb to make it group-readable: %s", d->path,
                            strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1
        || (long)sb.st_uid != expect) {
        close(fd);
        return apr_psprintf(p, "%s/data.mdb changed under the checks: not made group-readable",
                            d->path);
    }
    if (((long)sb.st_gid != read_gid && fchown(fd, (uid_t)-1, (gid_t)read_gid) != 0)
        || ((sb.st_mode & 07777) != 0640 && fchmod(fd, 0640) != 0)) {
        int e = errno;
        close(fd);
        return apr_psprintf(p, "cannot make %s/data.mdb readable by group %ld: %s", d->path,
                            read_gid, strerror(e));
    }
    close(fd);
    if (fstat(d->fd, &sb) != 0)
        return apr_psprintf(p, "cannot stat %s: %s", d->path, strerror(errno));
    if ((long)sb.st_uid == expect && sb.st_uid != 0) {
        if (((long)sb.st_gid != read_gid && fchown(d->fd, (uid_t)-1, (gid_t)read_gid) != 0)
            || ((sb.st_mode & 07777) != 0750 && fchmod(d->fd, 0750) != 0))
            return apr_psprintf(p, "cannot give %s to group %ld (0750): %s", d->path, read_gid,
                                strerror(errno));
    }
    else if (!((long)sb.st_gid == read_gid ? (sb.st_mode & 0010) : (sb.st_mode & 0001)))
        return apr_psprintf(p, "%s is owned by root: its group %ld cannot enter it (give it "
                            "to that group, mode 0750, or leave it to the children's user)",
                            d->path, read_gid);
    return NULL;
}

/* get_many for a lock-free handle: its own short read txn per try, checked afterwards. */
static apr_status_t get_many_nolock(wsg_store_t *st, const wsg_addr_t *keys, int n,
                                    wsg_rec_t *out, int *found)
{
    MDB_txn *txn;
    MDB_val v;
    int rc = 0, i, v1, tries;

    for (tries = 0; tries < WSG_STORE_NOLOCK_TRIES; tries++) {
        if ((rc = read_txn_begin(st, &txn)) != 0)
            return fail(st, "mdb_txn_begin (read)", rc);
        for (i = 0; i < n; i++) {
            rc = rec_lookup(st, txn, &keys[i], &v, &v1);
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
        if (snapshot_ok(st, txn) && !rc_is_garble(rc)) {
            mdb_txn_abort(txn);
            return rc ? fail(st, "mdb_get", rc) : APR_SUCCESS;
        }
        mdb_txn_abort(txn);
        nolock_pause(tries);
    }
    return APR_EAGAIN;
}

typedef struct nl_row_t {
    wsg_addr_t key;
    wsg_rec_t  rec;
} nl_row_t;

/* One walk of a lock-free handle, in the forked child of nolock_walk: every record to fd, then a
 * trailer (family 0) whose rec.flags says 0 the snapshot stood, 1 try again, else the LMDB
 * error. The pages a walk follows may be reused by a writer two commits on, so a walk can
 * meet garbage and even fault: that is the child's end, never the caller's. */
static void nolock_walk_child(wsg_store_t *st, int fd)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    nl_row_t r;
    int rc;

    if ((rc = read_txn_begin(st, &txn)) != 0)
        goto out;
    if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) == 0) {
        while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
            if (!key_unpack(&k, &r.key) || !rec_from_val(&v, &r.rec))
                continue;
            if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
                _exit(2);
        }
        mdb_cursor_close(cur);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (!snapshot_ok(st, txn) || rc_is_garble(rc))
        rc = 1;
    mdb_txn_abort(txn);
out:
    memset(&r, 0, sizeof(r));
    r.rec.flags = (apr_uint32_t)rc;
    if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(2);
    _exit(0);
}

/* One try: the walk in a child (a fault there is a failed try), its rows read back into *rows.
 * 0: the rows stand; 1: try again; else an LMDB error or errno. */
static int nolock_walk(wsg_store_t *st, nl_row_t **rows, size_t *n, size_t *cap)
{
    int pfd[2], status, res = 1, trailer = 0;
    pid_t pid;
    nl_row_t r;
    size_t got = 0;

    *n = 0;
    if (pipe(pfd) != 0)
        return errno;
    fflush(NULL);
    if ((pid = fork()) < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return e;
    }
    if (pid == 0) {
        /* A fault ends this child quietly, whatever handler the parent had (a test runner's
         * longjmp would go on running its tests here). */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        close(pfd[0]);
        nolock_walk_child(st, pfd[1]);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t k = read(pfd[0], (char *)&r + got, sizeof(r) - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if ((got += (size_t)k) < sizeof(r))
            continue;
        got = 0;
        if (r.key.family == 0) {
            trailer = 1;
            res = (int)r.rec.flags;
            break;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 1024;
            nl_row_t *nr = realloc(*rows, nc * sizeof(*nr));
            if (!nr) {
                res = ENOMEM;
                break;
            }
            *rows = nr;
            *cap = nc;
        }
        (*rows)[(*n)++] = r;
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (res != ENOMEM && (!trailer || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
        res = 1;                       /* the walk faulted or died: a failed try */
    return res;
}

/* iterate for a lock-free handle: the records are copied out first (by a child, see
 * nolock_walk) and handed to fn only once the read is known to stand. */
static apr_status_t iterate_nolock(wsg_store_t *st, wsg_store_iter_fn fn, void *baton)
{
    nl_row_t *rows = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0, tries;

    for (tries = 0; tries < WSG_STORE_NOLOCK_TRIES; tries++) {
        rc = nolock_walk(st, &rows, &n, &cap);
        if (rc != 1)
            break;
        nolock_pause(tries);
    }
    if (tries == WSG_STORE_NOLOCK_TRIES) {
        free(rows);
        tl_err_rv = APR_EAGAIN;
        snprintf(tl_err, sizeof(tl_err), "the server wrote while every one of %d reads ran (a "
                 "group reader reads without LMDB's lock; try again, or as root) (LMDB "
                 "environment %s)", WSG_STORE_NOLOCK_TRIES, st->dir);
        return APR_EAGAIN;
    }
    if (rc) {
        free(rows);
        return fail(st, "mdb_cursor_get", rc);
    }
    for (i = 0; i < n; i++)
        if (fn(baton, &rows[i].key, &rows[i].rec))
            break;
    free(rows);
    return APR_SUCCESS;
}

/* ---- range bans (issue 10) ---- */

/* Range keys: 0x00 'r' family bits, then the network bytes the length covers. Under 0x00, like
 * the meta records, so iteration, purge slices and eviction pass them by. The index: count,
 * lengths in use, a generation. */
static const unsigned char RANGE_IDX_KEY[] = { 0x00, 'w', 's', 'g', 'r' };
#define RANGE_TAG      'r'
#define RANGE_KEY_MAX  (4 + 16)
#define RANGE_IDX_SIZE (4 + 4 + 4 + 8 + 8 + 8)

int wsg_store_is_range(const wsg_addr_t *key)
{
    if (!key || (key->family != 4 && key->family != 6))
        return 0;
    if (key->family == 4)
        return key->bits < 32 && key->bits != 24;
    return key->bits < 128 && key->bits != 64;
}

/* net with its host bits cleared */
static void net_mask(wsg_addr_t *a)
{
    unsigned width = a->family == 4 ? 32 : 128, i;
    for (i = a->bits; i < width; i++)
        a->bytes[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    memset(a->pad, 0, sizeof(a->pad));
}

static size_t range_key(const wsg_addr_t *net, unsigned char *buf)
{
    size_t nb = ((size_t)net->bits + 7) / 8;
    buf[0] = 0x00;
    buf[1] = RANGE_TAG;
    buf[2] = net->family;
    buf[3] = net->bits;
    memcpy(buf + 4, net->bytes, nb);
    return 4 + nb;
}

static int range_unkey(const MDB_val *k, wsg_addr_t *out)
{
    const unsigned char *b = k->mv_data;
    memset(out, 0, sizeof(*out));
    if (k->mv_size < 4 || b[0] != 0x00 || b[1] != RANGE_TAG || (b[2] != 4 && b[2] != 6)
        || b[3] >= (b[2] == 4 ? 32 : 128) || k->mv_size != 4 + ((size_t)b[3] + 7) / 8)
        return 0;
    out->family = b[2];
    out->bits = b[3];
    memcpy(out->bytes, b + 4, k->mv_size - 4);
    return 1;
}

typedef struct range_idx_t {
    apr_uint32_t count, mask4;
    apr_uint64_t mask6[2];
    apr_uint64_t generation;
} range_idx_t;

static int range_idx_read(MDB_txn *txn, MDB_dbi dbi, range_idx_t *ix)
{
    MDB_val k, v;
    int rc;
    const unsigned char *b;

    memset(ix, 0, sizeof(*ix));
    k.mv_size = sizeof(RANGE_IDX_KEY);
    k.mv_data = (void *)RANGE_IDX_KEY;
    if ((rc = mdb_get(txn, dbi, &k, &v)) != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (v.mv_size < RANGE_IDX_SIZE || ((const unsigned char *)v.mv_data)[0] != 1)
        return 0;
    b = v.mv_data;
    ix->count = get32(b + 4);
    ix->mask4 = get32(b + 8);
    ix->mask6[0] = get64(b + 12);
    ix->mask6[1] = get64(b + 20);
    ix->generation = get64(b + 28);
    return 0;
}

/* Recounts the ranges in txn and writes the index (at most WSG_STORE_RANGES_MAX keys to walk:
 * done only by the writes of wsguardctl). */
static int range_idx_rebuild(MDB_txn *txn, MDB_dbi dbi)
{
    unsigned char from[2] = { 0x00, RANGE_TAG }, buf[RANGE_IDX_SIZE];
    MDB_cursor *cur;
    MDB_val k, v;
    range_idx_t ix, old;
    wsg_addr_t a;
    int rc;

    if ((rc = range_idx_read(txn, dbi, &old)) != 0)
        return rc;
    memset(&ix, 0, sizeof(ix));
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return rc;
    k.mv_size = sizeof(from);
    k.mv_data = from;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *b = k.mv_data;
        if (k.mv_size < 2 || b[0] != 0x00 || b[1] != RANGE_TAG)
            break;
        if (!range_unkey(&k, &a))
            continue;
        ix.count++;
        if (a.family == 4)
            ix.mask4 |= (apr_uint32_t)1 << a.bits;
        else
            ix.mask6[a.bits / 64] |= (apr_uint64_t)1 << (a.bits % 64);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    ix.generation = old.generation + 1;
    memset(buf, 0, sizeof(buf));
    buf[0] = 1;
    put32(buf + 4, ix.count);
    put32(buf + 8, ix.mask4);
    put64(buf + 12, ix.mask6[0]);
    put64(buf + 20, ix.mask6[1]);
    put64(buf + 28, ix.generation);
    k.mv_size = sizeof(RANGE_IDX_KEY);
    k.mv_data = (void *)RANGE_IDX_KEY;
    v.mv_size = sizeof(buf);
    v.mv_data = buf;
    return mdb_put(txn, dbi, &k, &v, 0);
}

apr_status_t wsg_store_range_update(wsg_store_t *st, const wsg_addr_t *netin,
                                    wsg_store_update_fn fn, void *baton)
{
    unsigned char kb[RANGE_KEY_MAX], vb[VAL_MAX];
    wsg_addr_t net = *netin;
    wsg_rec_t rec;
    range_idx_t ix;
    MDB_txn *txn;
    MDB_val k, v;
    int rc, found, mask;

    if (!wsg_store_is_range(&net) || !fn)
        return APR_EINVAL;
    net_mask(&net);
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    k.mv_size = range_key(&net, kb);
    k.mv_data = kb;
    rc = mdb_get(txn, st->dbi, &k, &v);
    found = rc == 0 && rec_from_val(&v, &rec);
    if (!found)
        memset(&rec, 0, sizeof(rec));
    if ((rc != 0 && rc != MDB_NOTFOUND) || (rc = range_idx_read(txn, st->dbi, &ix)) != 0) {
        mdb_txn_abort(txn);
        return fail(st, "mdb_get (write)", rc);
    }
    mask = fn(baton, &rec, &found, 1);
    if (mask <= 0) {
        mdb_txn_abort(txn);
        return APR_SUCCESS;
    }
    if (!found && ix.count >= WSG_STORE_RANGES_MAX) {
        mdb_txn_abort(txn);
        tl_err_rv = APR_ENOSPC;
        snprintf(tl_err, sizeof(tl_err), "%d range bans exist already, the most kept; unban or "
                 "purge some (LMDB environment %s)", WSG_STORE_RANGES_MAX, st->dir);
        return APR_ENOSPC;
    }
    rec.version = WSG_REC_VERSION;
    v.mv_size = rec_pack(&rec, vb);
    v.mv_data = vb;
    if ((rc = mdb_put(txn, st->dbi, &k, &v, 0)) != 0
        || (!found && (rc = range_idx_rebuild(txn, st->dbi)) != 0)) {
        mdb_txn_abort(txn);
        return fail(st, "mdb_put", rc);
    }
    if ((rc = txn_commit(st, txn)) != 0)
        return fail(st, "mdb_txn_commit", rc);
    st->range_checked = 0;   /* this handle looks again at once */
    return APR_SUCCESS;
}

apr_status_t wsg_store_range_delete(wsg_store_t *st, const wsg_addr_t *netin)
{
    unsigned char kb[RANGE_KEY_MAX];
    wsg_addr_t net = *netin;
    MDB_txn *txn;
    MDB_val k;
    int rc;

    if (!wsg_store_is_range(&net))
        return APR_EINVAL;
    net_mask(&net);
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return fail(st, "mdb_txn_begin (write)", rc);
    k.mv_size = range_key(&net, kb);
    k.mv_data = kb;
    if ((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? APR_NOTFOUND : fail(st, "mdb_del", rc);
    }
    if ((rc = range_idx_rebuild(txn, st->dbi)) != 0) {
        mdb_txn_abort(txn);
        return fail(st, "mdb_put", rc);
    }
    if ((rc = txn_commit(st, txn)) != 0)
        return fail(st, "mdb_txn_commit", rc);
    st->range_checked = 0;
    return APR_SUCCESS;
}

/* Looks at the index again (one get in this thread's read txn), at most once per
 * WSG_STORE_RANGE_RECHECK per handle. One thread at a time (another one finding it busy keeps
 * the figures as they are), so that the masks and the snapshot they were read in, published
 * after them, always belong together (wsg_store_may_have_at relies on it). */
static void range_refresh(wsg_store_t *st, MDB_txn *txn, apr_time_t now)
{
    range_idx_t ix;

    if (__atomic_exchange_n(&st->range_busy, 1, __ATOMIC_ACQUIRE))
        return;
    if (range_idx_read(txn, st->dbi, &ix) == 0) {   /* else tried again at the next recheck */
        st->range_mask4 = ix.mask4;
        st->range_mask6[0] = ix.mask6[0];
        st->range_mask6[1] = ix.mask6[1];
        __atomic_store_n(&st->range_txnid, (apr_uint64_t)mdb_txn_id(txn), __ATOMIC_RELEASE);
        st->range_checked = now ? now : 1;
    }
    __atomic_store_n(&st->range_busy, 0, __ATOMIC_RELEASE);
}

/* The lengths of fam in use, longest first, as a lookup in txn. */
static int range_find(wsg_store_t *st, MDB_txn *txn, const wsg_addr_t *addr, apr_time_t now,
                      wsg_rec_t *out, wsg_addr_t *netout)
{
    int b, top = addr->family == 4 ? 31 : 127;

    for (b = top; b >= 0; b--) {
        int set = addr->family == 4 ? (st->range_mask4 >> b) & 1
                                    : (int)((st->range_mask6[b / 64] >> (b % 64)) & 1);
        unsigned char kb[RANGE_KEY_MAX];
        wsg_addr_t net;
        wsg_rec_t rec;
        MDB_val k, v;
        int rc;

        if (!set)
            continue;
        net = *addr;
        net.bits = (unsigned char)b;
        net_mask(&net);
        k.mv_size = range_key(&net, kb);
        k.mv_data = kb;
        rc = mdb_get(txn, st->dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        if (rec_from_val(&v, &rec) && rec.ban_until > now) {
            if (out)
                *out = rec;
            if (netout)
                *netout = net;
            return 0;
        }
    }
    return MDB_NOTFOUND;
}

apr_status_t wsg_store_range_get(wsg_store_t *st, const wsg_addr_t *addr, apr_time_t now,
                                 wsg_rec_t *out, wsg_addr_t *net)
{
    tls_slot_t *sl;
    apr_status_t rv;
    apr_time_t checked = st->range_checked;
    int rc, look = !checked;

    /* The request path with no range bans: these comparisons, nothing else. Once a second per
     * handle, the index is looked at again if anything was written since the last look (the
     * last transaction id, from the meta page: no transaction, no reader slot); a handle that
     * never looked (a new one, or one that just wrote a range) looks now. */
    if (checked && (now - checked >= WSG_STORE_RANGE_RECHECK || now < checked)) {
        apr_uint64_t last = wsg_store_last_txnid(st);
        st->range_checked = now ? now : 1;
        look = !last || last != st->range_txnid;
    }
    if (!look && !st->range_mask4 && !st->range_mask6[0] && !st->range_mask6[1])
        return APR_NOTFOUND;
    if (addr->family != 4 && addr->family != 6)
        return APR_NOTFOUND;
    if (st->nolock) {
        MDB_txn *txn;
        int tries;
        for (tries = 0; tries < WSG_STORE_NOLOCK_TRIES; tries++) {
            if ((rc = read_txn_begin(st, &txn)) != 0)
                return fail(st, "mdb_txn_begin (read)", rc);
            range_refresh(st, txn, now);
            rc = range_find(st, txn, addr, now, out, net);
            if (snapshot_ok(st, txn) && !rc_is_garble(rc)) {
                mdb_txn_abort(txn);
                break;
            }
            mdb_txn_abort(txn);
            nolock_pause(tries);
        }
        if (tries == WSG_STORE_NOLOCK_TRIES)
            return APR_EAGAIN;
    }
    else {
        if ((rv = slot_renew(st, &sl)) != APR_SUCCESS)
            return rv;
        if (look)
            range_refresh(st, sl->txn, now);
        rc = st->range_mask4 || st->range_mask6[0] || st->range_mask6[1]
             ? range_find(st, sl->txn, addr, now, out, net) : MDB_NOTFOUND;
        mdb_txn_reset(sl->txn);
    }
    if (rc == MDB_NOTFOUND)
        return APR_NOTFOUND;
    return rc ? fail(st, "mdb_get (range)", rc) : APR_SUCCESS;
}

apr_status_t wsg_store_range_iterate(wsg_store_t *st, wsg_store_iter_fn fn, void *baton)
{
    unsigned char from[2] = { 0x00, RANGE_TAG };
    nl_row_t *rows = NULL;
    size_t n = 0, i;
    int rc = 0, tries;

    /* Copied out first (at most WSG_STORE_RANGES_MAX): fn may write, and a lock-free read is
     * checked before anything of it is used. */
    for (tries = 0; tries < WSG_STORE_NOLOCK_TRIES; tries++) {
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;

        n = 0;
        if ((rc = read_txn_begin(st, &txn)) != 0) {
            free(rows);
            return fail(st, "mdb_txn_begin (read)", rc);
        }
        if (!rows && !(rows = malloc(WSG_STORE_RANGES_MAX * sizeof(*rows)))) {
            mdb_txn_abort(txn);
            return APR_ENOMEM;
        }
        if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) == 0) {
            k.mv_size = sizeof(from);
            k.mv_data = from;
            for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < WSG_STORE_RANGES_MAX;
                 rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                const unsigned char *b = k.mv_data;
                if (k.mv_size < 2 || b[0] != 0x00 || b[1] != RANGE_TAG)
                    break;
                if (range_unkey(&k, &rows[n].key) && rec_from_val(&v, &rows[n].rec))
                    n++;
            }
            mdb_cursor_close(cur);
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
        if (snapshot_ok(st, txn) && !rc_is_garble(rc)) {
            mdb_txn_abort(txn);
            break;
        }
        mdb_txn_abort(txn);
        nolock_pause(tries);
    }
    if (tries == WSG_STORE_NOLOCK_TRIES || rc) {
        free(rows);
        return tries == WSG_STORE_NOLOCK_TRIES ? APR_EAGAIN : fail(st, "mdb_cursor_get", rc);
    }
    for (i = 0; i < n; i++)
        if (fn(baton, &rows[i].key, &rows[i].rec))
            break;
    free(rows);
    return APR_SUCCESS;
}

/* The keys under 0x00 (meta, policy, range index, ranges) in txn. */
static size_t meta_keys(wsg_store_t *st, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n = 0;
    int rc;

    if (mdb_cursor_open(txn, st->dbi, &cur) != 0)
        return 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n <= WSG_STORE_RANGES_MAX + 8;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!key_is_meta(&k))
            break;
        n++;
    }
    mdb_cursor_close(cur);
    return n;
}
