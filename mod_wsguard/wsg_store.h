/* wsg_store: the per-address and per-prefix records in LMDB, shared by every httpd child and by
 * wsguardctl. Never carried across fork(): prepare (post_config) creates and checks the
 * environment and closes it; each process then opens its own handle (child_init / CLI).
 * Portable core: APR + LMDB. */
#ifndef WSG_STORE_H
#define WSG_STORE_H

#include <apr_pools.h>
#include <apr_time.h>
#include "wsg_ip.h"

#define WSG_REC_VERSION 2       /* on disk: packed (wsg_store.c); in memory always this struct */
#define WSG_REC_VERSION_V1 1    /* the old on-disk layout (this struct as is), still read */
#define WSG_REC_RULES 4

/* flags */
#define WSG_RF_SHELL_HIT   0x01   /* a probe got a 2xx: possible web shell present */
#define WSG_RF_MANUAL      0x02   /* ban set by an operator (wsguardctl ban) */
#define WSG_RF_IMPORTED    0x04   /* ban imported from a peer (wsguardctl import) */
#define WSG_RF_CROWDSEC    0x08   /* ban pulled from a CrowdSec LAPI (source: its origin) */
#define WSG_RF_DETECT      0x10   /* a DetectionOnly ban: recorded and shown, never exported or
                                   * shared (a later enforced ban clears it) */
/* Flags 0x20..0x400 are kept too (0x40.. in the packed rule-count byte); reserved so far:
 * 0x20 verified crawler, 0x40 fake crawler (crawler verification), 0x100..0x400 free. */
#define WSG_RF_UNBANNED    0x80   /* unbanned by an operator (wsguardctl unban): the record is
                                   * kept with ban_until = the unban time (in the past, so no ban)
                                   * so that an import of older evidence or a CrowdSec resync does
                                   * not undo the unban; a new ban of any kind clears it */

/* One record in memory. Times are apr_time_t (microseconds). On disk it is packed to about 50
 * bytes (first/last seen in seconds since 2024, the ban's end and the score's time in ms, a
 * float score, 16-bit counters, the source only when set): what survives a write is what the
 * fields below say is kept. */
typedef struct wsg_rec_t {
    apr_uint32_t version;
    apr_uint32_t flags;
    apr_time_t   first_seen;
    apr_time_t   last_seen;
    double       score;          /* as of score_time */
    apr_time_t   score_time;
    apr_time_t   ban_until;      /* 0: not banned */
    apr_uint32_t hits;           /* scored requests */
    apr_uint32_t ban_count;      /* bans so far (escalation) */
    apr_uint32_t distinct;       /* approximate distinct probes (from the bloom word) */
    apr_uint32_t miss_ring_lo;   /* the paths this client missed lately, as 16-bit hashes
                                  * (wsg_track): the newest two, newest in the low half */
    apr_uint64_t probe_bloom;    /* 64-bit bloom of probe path hashes */
    apr_uint32_t rules[WSG_REC_RULES]; /* most recent rule ids, newest first */
    apr_uint32_t members;        /* prefix records: distinct member addresses seen (approx.) */
    apr_uint32_t miss_ring_hi;   /* ... and the two before them */
    apr_uint64_t member_bloom;   /* prefix records: bloom of member addresses */
    char         source[32];     /* imported bans: where from (NUL-terminated) */
    apr_uint32_t crawler_at;     /* crawler verification (wsg_crawler.h): Unix seconds of the
                                  * check's start or verdict; kept on disk only while flag 0x20
                                  * or 0x40 is set (a 4-byte tail), else reads 0 */
} wsg_rec_t;

/* The version-1 on-disk value (136 bytes, the in-memory record of that release byte for byte):
 * still read (wsg_store.c), never written; the tests write it to check that. */
typedef struct wsg_rec_v1_t {
    apr_uint32_t version, flags;
    apr_time_t   first_seen, last_seen;
    double       score;
    apr_time_t   score_time, ban_until;
    apr_uint32_t hits, ban_count, distinct, misses;
    apr_uint64_t probe_bloom;
    apr_uint32_t rules[WSG_REC_RULES];
    apr_uint32_t members, reserved;
    apr_uint64_t member_bloom;
    char         source[32];
} wsg_rec_v1_t;

typedef struct wsg_store_t wsg_store_t;

typedef struct wsg_store_opts_t {
    apr_size_t   map_size;       /* bytes; 0: default 64 MiB (raised to at least 1 MiB) */
    unsigned     max_readers;    /* 0: default 512 */
    int          readonly;
} wsg_store_opts_t;

/* post_config: create dir and environment if missing, check it opens (a corrupt file is moved
 * aside to data.mdb.corrupt-<time> and recreated), clear stale readers. uid/gid: the user the
 * children run as (-1: this process's), given what prepare creates; see the security checks
 * below. Closes everything before returning. *err explains a failure. */
apr_status_t wsg_store_prepare(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                               long uid, long gid, const char **err);

/* Additive: as wsg_store_prepare; when a damaged environment was moved aside and recreated,
 * *notice (may be NULL) gets a message naming both files for the caller to log (else NULL).
 * Checking means reading every record once, which is what a damaged file fails on. */
apr_status_t wsg_store_prepare_ex(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                                  long uid, long gid, const char **notice, const char **err);

/* Additive (security of the state directory, see wsg_store.c): prepare also refuses, with *err
 * naming the path, the problem and the fix, a state directory that is a symlink, not a
 * directory, owned by neither uid (geteuid() when uid < 0) nor root, or writable by group or
 * others, one whose parent is writable by others without the sticky bit, and a data.mdb or
 * lock.mdb that is a symlink, not a regular file, hard-linked, not owned by uid or writable by
 * group or others. It never follows a symlink in the directory, chowns only what it has just
 * created, and does the LMDB work in a child process running as the directory's owner. */

/* A state directory opened without following a symlink and checked as above (any owner; the
 * files must be the directory owner's, or anyone's in a directory owned by root). What
 * wsguardctl opens the store through. The fd is closed by a cleanup on p. */
typedef struct wsg_store_dir_t wsg_store_dir_t;
apr_status_t wsg_store_dir_check(apr_pool_t *p, const char *dir, wsg_store_dir_t **out,
                                 const char **err);
long wsg_store_dir_uid(const wsg_store_dir_t *d);     /* the directory's owner */
long wsg_store_dir_gid(const wsg_store_dir_t *d);
/* The same checks on the files again, which must exist now (after opening). */
apr_status_t wsg_store_dir_recheck(apr_pool_t *p, const wsg_store_dir_t *d, const char **err);
/* wsg_store_open through the checked directory's fd (the path is not resolved again); checks
 * the files after LMDB opened them and that its data file is the one checked. */
apr_status_t wsg_store_open_dir(apr_pool_t *p, const wsg_store_dir_t *d,
                                const wsg_store_opts_t *opts, wsg_store_t **out,
                                const char **err);

/* Opens the environment in this process; the handle is closed by a cleanup on p. */
apr_status_t wsg_store_open(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                            wsg_store_t **out, const char **err);
void wsg_store_close(wsg_store_t *st);

/* Reads the record of key (an address or a prefix) with this thread's reused read transaction.
 * APR_SUCCESS, APR_NOTFOUND, or an error. */
apr_status_t wsg_store_get(wsg_store_t *st, const wsg_addr_t *key, wsg_rec_t *out);

/* The same for n keys in one read transaction (an address and its prefix on every request):
 * found[i] says whether out[i] was there (out[i] zeroed if not). APR_SUCCESS or an error. */
apr_status_t wsg_store_get_many(wsg_store_t *st, const wsg_addr_t *keys, int n, wsg_rec_t *out,
                                int *found);

/* Additive (the filter, see wsg_store.c): 0 when the store's "may have a record" filter proves
 * that none of the n keys has a record (no LMDB read, nothing copied); 1 when one may (then
 * wsg_store_get_many says). A store without a usable filter always answers 1. */
int wsg_store_may_have(wsg_store_t *st, const wsg_addr_t *keys, int n);
/* The same; when it proves that none has a record, *at is the snapshot the proof holds for
 * (the last committed transaction's id, in which this handle also read the range index and
 * found no range at all), else 0. While
 * wsg_store_last_txnid() still returns *at nothing has been written since, so the answer
 * stands (a keep-alive connection's memo). */
int wsg_store_may_have_at(wsg_store_t *st, const wsg_addr_t *keys, int n, apr_uint64_t *at);
/* The id of the last committed write transaction, from the meta page (no transaction, no
 * reader slot); 0 if unknown. */
apr_uint64_t wsg_store_last_txnid(const wsg_store_t *st);

/* Read-modify-write of up to 4 records in one write transaction (serialised across processes).
 * fn gets the current records (zeroed, with found[i] = 0, where missing) and returns a bitmask of
 * the records to write back (bit i for keys[i]), or -1 to abort. A full map (MDB_MAP_FULL) returns
 * APR_ENOSPC after aborting; the caller logs once and fails open.
 * (Additive, implementation notes:) a new record that would exceed wsg_store_stat_t.capacity
 * first evicts the least valuable records in the same transaction (see "Eviction" below);
 * APR_ENOSPC is returned, before LMDB runs out of pages, only when none may go, so a full store
 * can always be purged and every purged record makes room for a new one; updates of existing
 * records go on working. Should LMDB run out of pages all the same, the update evicts in a
 * transaction of its own and is tried once more (fn is called again only if the records
 * changed in between). A full filesystem is WSG_STORE_EDISKFULL. Aborting with -1 returns
 * APR_SUCCESS (nothing written). The record version is set on write. */
typedef int (*wsg_store_update_fn)(void *baton, wsg_rec_t *recs, const int *found, int n);
apr_status_t wsg_store_update(wsg_store_t *st, const wsg_addr_t *keys, int n,
                              wsg_store_update_fn fn, void *baton);

apr_status_t wsg_store_delete(wsg_store_t *st, const wsg_addr_t *key);

/* Calls fn for every record (one read transaction); fn returns non-zero to stop. */
typedef int (*wsg_store_iter_fn)(void *baton, const wsg_addr_t *key, const wsg_rec_t *rec);
apr_status_t wsg_store_iterate(wsg_store_t *st, wsg_store_iter_fn fn, void *baton);

/* Deletes up to max records for which expired(rec) is true; *purged gets the count. Walks the
 * whole table in write transactions of at most 1000 records looked at or 2 ms each (the writer
 * lock is never held longer), so other writers interleave. */
typedef int (*wsg_store_expired_fn)(void *baton, const wsg_rec_t *rec);
apr_status_t wsg_store_purge(wsg_store_t *st, wsg_store_expired_fn expired, void *baton,
                             unsigned max, unsigned *purged);

/* Additive: environment figures for the status page and for purging before the map fills. */
typedef struct wsg_store_stat_t {
    apr_size_t   map_size;       /* bytes mapped */
    apr_size_t   map_used;       /* bytes up to the last used page */
    apr_size_t   records;
    apr_size_t   capacity;       /* records allowed before updates adding one get APR_ENOSPC */
    unsigned     max_readers;
    unsigned     readers;        /* reader slots used so far (high-water mark) */
    apr_uint64_t evicted;        /* records evicted to make room, by every process, ever */
    apr_size_t   filter_bytes;   /* (additive) the filter's bitmap, 0: none usable */
    int          filter_ok;      /* it covers the last commit (clients without records cost
                                  * no LMDB read) */
} wsg_store_stat_t;
apr_status_t wsg_store_stat(wsg_store_t *st, wsg_store_stat_t *out);

/* Additive (scale): the store's own housekeeping, bounded per write transaction.
 *
 * Eviction: when an update would add records beyond wsg_store_stat_t.capacity (or LMDB reports
 * MDB_MAP_FULL), wsg_store_update evicts, inside its write transaction, the least valuable
 * records found in a window of at most a few hundred (score faded with the half-life below,
 * oldest last_seen first), resuming where the last window stopped (a position in a meta
 * record), and never a record with a ban in force, WSG_RF_SHELL_HIT or WSG_RF_MANUAL. Only when
 * nothing in the window may go does it return APR_ENOSPC. A full filesystem under the
 * environment (ENOSPC/EDQUOT/EFBIG, or EIO, which LMDB makes of a short write, from LMDB's
 * writes) is WSG_STORE_EDISKFULL instead, so the two
 * are told apart. */
#define WSG_STORE_EDISKFULL (APR_OS_START_USERERR + 1)

/* The half-life eviction fades scores with (default 1 h). Call right after open. */
void wsg_store_set_halflife(wsg_store_t *st, apr_interval_time_t halflife);

/* Records evicted by this handle since it was opened (the glue logs the first once). */
apr_uint64_t wsg_store_evicted(const wsg_store_t *st);

/* One bounded purge slice, in one write transaction: looks at up to max_seen records (0: 1000)
 * or max_usec microseconds (0: 2000), whichever ends first, from where the last slice of any
 * process stopped (kept in the meta record), deleting those expired() says and any unreadable
 * value. *purged (may be NULL) gets the deletions, *wrapped (may be NULL) 1 when the slice
 * reached the end of the table (the next slice starts over). */
apr_status_t wsg_store_purge_slice(wsg_store_t *st, wsg_store_expired_fn expired, void *baton,
                                   unsigned max_seen, apr_interval_time_t max_usec,
                                   unsigned *purged, int *wrapped);

/* How long the last purge slice of this handle held LMDB's writer lock (from its write
 * transaction's start to its commit, microseconds): what the glue logs and the tests measure. */
apr_interval_time_t wsg_store_last_hold(const wsg_store_t *st);

/* Human text of the last LMDB error behind an apr_status_t returned above (thread-local). */
const char *wsg_store_strerror(apr_status_t rv);

/* ---- Additive (issue 10): the server's policy in the state, group readers, range bans ---- */

/* What the server runs with, recorded by post_config so that wsguardctl speaks for it (ban
 * lengths, scores, purge). On disk: one record under its own meta key (distinct from the purge
 * and eviction meta record), little-endian: version byte, engine, event-log kind, a reserved
 * byte, the four scores as IEEE doubles, ban time, ban max, half-life and the time it was
 * written as int64 microseconds, then the event log's path (u16 length + bytes) and the server
 * name (u8 length + bytes). A later version appends fields after these and keeps this head,
 * so older readers still read it. */
#define WSG_STORE_POLICY_VERSION 1
#define WSG_STORE_LOG_NONE 0
#define WSG_STORE_LOG_FILE 1
#define WSG_STORE_LOG_PIPE 2
typedef struct wsg_store_policy_t {
    apr_uint32_t version;            /* as read (set on write) */
    int          engine;             /* 0 Off, 1 On, 2 DetectionOnly (the main server's) */
    int          event_log_kind;     /* WSG_STORE_LOG_* */
    double       ratelimit, ban, prefix_ban, miss_score;
    apr_interval_time_t ban_time, ban_max, halflife;
    apr_time_t   written;            /* when it was recorded */
    char         event_log[512];     /* the event log file's path (WSG_STORE_LOG_FILE) */
    char         server[128];        /* the main server's name */
} wsg_store_policy_t;

/* Writes / reads the policy record (one short write transaction / one read). get: APR_NOTFOUND
 * when none was recorded (a server from before, or a state never opened by one). */
apr_status_t wsg_store_put_policy(wsg_store_t *st, const wsg_store_policy_t *pol);
apr_status_t wsg_store_get_policy(wsg_store_t *st, wsg_store_policy_t *out);

/* What prepare does besides wsg_store_prepare_ex, and what it says back. */
typedef struct wsg_store_prep_t {
    const wsg_store_policy_t *policy;  /* recorded in the state by the checking child (NULL: no) */
    long         read_gid;             /* >= 0 (as root): data.mdb made 0640 and the directory
                                        * 0750 with this group, so its members can read the
                                        * state (never write it); < 0: left as they are */
    const char  *notice;               /* out: a damaged environment was moved aside */
    const char  *warning;              /* out: the policy or the group could not be set (the
                                        * state is usable all the same) */
} wsg_store_prep_t;
apr_status_t wsg_store_prepare_with(apr_pool_t *p, const char *dir, const wsg_store_opts_t *opts,
                                    long uid, long gid, wsg_store_prep_t *prep, const char **err);

/* Group readers. A read-only open by a user who cannot write lock.mdb (a member of the state's
 * group) opens the environment with MDB_NOLOCK: such a reader is not in LMDB's reader table,
 * so a writer may reuse the pages it reads. Every read of such a handle is therefore checked
 * afterwards: it stands only if at most one write transaction committed while it ran (a writer
 * reuses only pages freed by transactions older than the one before it), else it is read
 * again (up to WSG_STORE_NOLOCK_TRIES times, then APR_EAGAIN). Values are bounds-checked
 * before they are copied. The mapping is read-only: the worst a reused page can do is to
 * garble a read that the check then discards (or, very rarely, end the reading process). */
#define WSG_STORE_NOLOCK_TRIES 50
int wsg_store_is_nolock(const wsg_store_t *st);

/* Range bans: a CIDR other than an address, a /24 or a /64 (a /16, a /48, a /26), kept as one
 * record (a wsg_rec_t: ban_until, ban_count, flags, source) under a meta key of its own, never
 * expanded into member records, at most WSG_STORE_RANGES_MAX of them. An index record holds
 * the prefix lengths in use per family, so a lookup is one exact get per length in use, and a
 * handle that found no range looks again only every WSG_STORE_RANGE_RECHECK: with no range
 * bans a request pays one comparison of times. Purges and eviction never touch ranges (they
 * end when their ban does and are deleted by 'wsguardctl purge' or 'unban'). */
#define WSG_STORE_RANGES_MAX 4096
#define WSG_STORE_RANGE_RECHECK (APR_USEC_PER_SEC)

/* Read-modify-write of the range net (host bits are cleared) as wsg_store_update does it for
 * one record (fn gets n = 1). APR_ENOSPC when WSG_STORE_RANGES_MAX ranges exist already. */
apr_status_t wsg_store_range_update(wsg_store_t *st, const wsg_addr_t *net,
                                    wsg_store_update_fn fn, void *baton);
/* Deletes the range net: APR_SUCCESS, APR_NOTFOUND. */
apr_status_t wsg_store_range_delete(wsg_store_t *st, const wsg_addr_t *net);
/* The most specific range holding addr with a ban in force at now: APR_SUCCESS (out and net,
 * either may be NULL, filled), APR_NOTFOUND, or an error. The request path's call. */
apr_status_t wsg_store_range_get(wsg_store_t *st, const wsg_addr_t *addr, apr_time_t now,
                                 wsg_rec_t *out, wsg_addr_t *net);
/* Every range record (fn as for wsg_store_iterate; key->bits is the range's length). */
apr_status_t wsg_store_range_iterate(wsg_store_t *st, wsg_store_iter_fn fn, void *baton);
/* Whether key (as parsed from a CIDR) would be a range: not an address, a /24 or a /64. */
int wsg_store_is_range(const wsg_addr_t *key);

#endif
