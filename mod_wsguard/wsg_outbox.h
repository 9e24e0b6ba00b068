/* wsg_outbox: what the CrowdSec sync still has to send (local bans to push, unbans to delete in the
 * LAPI), kept in LMDB so nothing is lost while the LAPI is down or httpd restarts, plus the sync's
 * own small state (last push, last pull, errors) that wsguardctl can read. A separate LMDB
 * environment file (STATEDIR/outbox.mdb, lock outbox.mdb-lock) beside the address store, so the
 * store's layout does not change. Items are kept in order (FIFO by a sequence number). Like the
 * store, a handle is never carried across fork(): each process opens its own.
 * Portable core: APR + LMDB. */
#ifndef WSG_OUTBOX_H
#define WSG_OUTBOX_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_time.h>
#include "wsg_ip.h"

#define WSG_OUTBOX_FILE "outbox.mdb"

enum { WSG_OUTBOX_BAN = 1, WSG_OUTBOX_UNBAN = 2 };

/* One item, stored as is (fixed layout, host byte order). */
typedef struct wsg_outbox_item_t {
    apr_uint32_t version;
    apr_uint32_t kind;          /* WSG_OUTBOX_BAN or WSG_OUTBOX_UNBAN */
    wsg_addr_t   key;           /* an address, or a prefix (pushed as a range) */
    apr_time_t   created;
    apr_time_t   ban_until;     /* BAN: when the local ban ends (pushed as the remaining time) */
    apr_uint32_t probes;        /* BAN: scored probes behind it */
    apr_uint32_t attempts;      /* pushes tried so far (set by the sync) */
    char         tag[48];       /* BAN: rule tag, e.g. "webshell-probe" (scenario wsguard/<tag>) */
    char         paths[192];    /* BAN: first probed paths, '\n'-separated, NUL-terminated */
} wsg_outbox_item_t;

typedef struct wsg_outbox_entry_t {
    apr_uint64_t      seq;
    wsg_outbox_item_t item;
} wsg_outbox_entry_t;

typedef struct wsg_outbox_t wsg_outbox_t;

/* Creates the file if missing, as uid/gid when run as root (in a child switched to them: no
 * chown, no symlink followed with root's rights; uid -1: as we are). Closes. */
apr_status_t wsg_outbox_prepare(apr_pool_t *p, const char *path, apr_size_t map_size, long uid,
                                long gid, const char **err);

/* Opens (creating if missing) path, e.g. STATEDIR "/" WSG_OUTBOX_FILE; map_size 0: 32 MiB
 * (about 100,000 items). Closed by a cleanup on p. */
apr_status_t wsg_outbox_open(apr_pool_t *p, const char *path, apr_size_t map_size,
                             wsg_outbox_t **out, const char **err);

/* Appends an item (version set here). APR_ENOSPC when the file is full. */
apr_status_t wsg_outbox_put(wsg_outbox_t *ob, const wsg_outbox_item_t *item);

/* Helpers filling an item for a local ban / an unban of key. */
void wsg_outbox_ban_item(wsg_outbox_item_t *it, const wsg_addr_t *key, apr_time_t now,
                         apr_time_t ban_until, unsigned probes, const char *tag,
                         const char *paths);
void wsg_outbox_unban_item(wsg_outbox_item_t *it, const wsg_addr_t *key, apr_time_t now);

/* The oldest max items, oldest first, into *out (array of wsg_outbox_entry_t on p). */
apr_status_t wsg_outbox_peek(wsg_outbox_t *ob, apr_pool_t *p, int max, apr_array_header_t **out);

/* Removes the items with these sequence numbers (missing ones are ignored). */
apr_status_t wsg_outbox_remove(wsg_outbox_t *ob, const apr_uint64_t *seqs, int n);

/* Rewrites the item with this sequence number (attempt counts). */
apr_status_t wsg_outbox_update(wsg_outbox_t *ob, apr_uint64_t seq, const wsg_outbox_item_t *item);

apr_status_t wsg_outbox_count(wsg_outbox_t *ob, apr_size_t *n);

/* The keys of pending items of this kind (WSG_OUTBOX_BAN or WSG_OUTBOX_UNBAN), as a set keyed
 * by the wsg_addr_t bytes, allocated on p. */
apr_status_t wsg_outbox_pending_keys(wsg_outbox_t *ob, apr_pool_t *p, int kind, apr_hash_t **out);

/* Small named blobs (the sync state). get: APR_NOTFOUND when absent; *len in/out. */
apr_status_t wsg_outbox_meta_get(wsg_outbox_t *ob, const char *name, void *buf, apr_size_t *len);
apr_status_t wsg_outbox_meta_put(wsg_outbox_t *ob, const char *name, const void *buf,
                                 apr_size_t len);

/* Text of the last LMDB error behind a status above (this thread). */
const char *wsg_outbox_strerror(apr_status_t rv);

#endif
