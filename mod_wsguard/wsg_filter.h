/* wsg_filter: the "may have a record" filter of the state, a blocked bloom bitmap in a file of
 * the state directory (STATEDIR/records.bloom), mapped shared by every process that opens the
 * store, so a client without a record costs a hash and two loads instead of an LMDB read.
 * Exact in the safe direction only: a key whose bits are clear has no record (when the filter is
 * in force, see wsg_store.c), a set bit proves nothing. Bits are set by writers inside their
 * write transaction and cleared only by a rebuild under LMDB's writer lock (wsg_store_prepare).
 * This module owns the file (layout, checks, mapping) and the bits; wsg_store.c decides when
 * the filter may be believed (the LMDB transaction it covers). Portable core: APR + POSIX. */
#ifndef WSG_FILTER_H
#define WSG_FILTER_H

#include <apr_pools.h>
#include "wsg_ip.h"

#define WSG_FILTER_FILE "records.bloom"

typedef struct wsg_filter_t wsg_filter_t;

/* Words (64 bits each) for a store of capacity records: 16 bits per record, a power of two,
 * between 2^14 and 2^27 words (128 KiB .. 1 GiB). */
apr_size_t wsg_filter_words_for(apr_size_t capacity);

/* Opens dir's filter (dirfd >= 0: through it, name relative; else path) without following a
 * symlink, and maps it (read-only when !writable). Refused (APR_EACCES, *err says why) when it
 * is not a regular file with one link, writable by group or others, owned by another user than
 * this process's (root may open any: nobody else can add names to a root-owned directory, and
 * root switches to the owner of any other), or not a filter (size, magic). APR_ENOENT: none. */
apr_status_t wsg_filter_open(apr_pool_t *p, int dirfd, const char *path, int writable,
                             wsg_filter_t **out, const char **err);

/* prepare: opens the filter as wsg_filter_open does, or (missing, refused, or not of nwords
 * words) removes the name and creates it anew (O_EXCL | O_NOFOLLOW, mode 0640, chowned to
 * uid:gid when root and they are >= 0), empty and covering nothing. *created says which. */
apr_status_t wsg_filter_create(apr_pool_t *p, int dirfd, apr_size_t nwords, long uid, long gid,
                               wsg_filter_t **out, int *created, const char **err);

void wsg_filter_close(wsg_filter_t *f);

/* Sets key's bits (atomic, lock-free). */
void wsg_filter_add(wsg_filter_t *f, const wsg_addr_t *key);

/* 0: key has never been added since the last rebuild; 1: it may have been. */
int wsg_filter_maybe(const wsg_filter_t *f, const wsg_addr_t *key);
/* The same for n keys: 0 when none may have been. */
int wsg_filter_maybe_any(const wsg_filter_t *f, const wsg_addr_t *keys, int n);

/* The LMDB transaction id up to which every committed write set its bits ("covered"). */
apr_uint64_t wsg_filter_covered(const wsg_filter_t *f);
/* A writer of transaction txnid: covered moves to txnid only from txnid - 1 (an earlier
 * transaction that did not set bits leaves the filter uncovered until a rebuild). Returns 1 if
 * it moved. Called with the writer lock held, after the bits of the transaction are set. */
int wsg_filter_advance(wsg_filter_t *f, apr_uint64_t txnid);
/* Undoes an advance whose transaction did not commit (covered back from txnid to txnid - 1). */
void wsg_filter_retreat(wsg_filter_t *f, apr_uint64_t txnid);

/* Rebuild, with the writer lock held: a private bitmap the caller fills (wsg_filter_rebuild_add)
 * then publishes (every word replaced, covered set to txnid; NULL rb: nothing). */
typedef struct wsg_filter_rebuild_t wsg_filter_rebuild_t;
wsg_filter_rebuild_t *wsg_filter_rebuild_start(wsg_filter_t *f);
void wsg_filter_rebuild_add(wsg_filter_rebuild_t *rb, const wsg_addr_t *key);
void wsg_filter_rebuild_publish(wsg_filter_rebuild_t *rb, apr_uint64_t txnid);
void wsg_filter_rebuild_discard(wsg_filter_rebuild_t *rb);

/* Figures: words, bits set (a scan; for the bench and tests). */
apr_size_t wsg_filter_nwords(const wsg_filter_t *f);
apr_size_t wsg_filter_popcount(const wsg_filter_t *f);

#endif
