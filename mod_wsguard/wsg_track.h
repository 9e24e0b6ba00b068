/* wsg_track: what one scored request does to the records of its address and of its prefix
 * (/24 or /64): the policy's score and ban, first/last seen, the recent rules, the approximate
 * count of distinct probes and, for the prefix, of distinct member addresses. Pure functions on
 * records, run inside the store's write transaction. Portable core: APR only. */
#ifndef WSG_TRACK_H
#define WSG_TRACK_H

#include "wsg_store.h"
#include "wsg_policy.h"

/* One scored request. */
typedef struct wsg_track_t {
    double            score;       /* what the request adds (0: only flags, e.g. a shell alert) */
    apr_time_t        now;
    unsigned          rule;        /* the rule to remember (0: none) */
    const char       *path;        /* normalised path, for the distinct-probe count (or NULL) */
    apr_uint32_t      set_flags;   /* WSG_RF_* to set on the address record */
    int               missed;      /* the miss part of the request counted: path goes into the
                                    * address's ring of recent misses (its repeats add nothing) */
    const wsg_addr_t *addr;        /* the client address */
} wsg_track_t;

typedef struct wsg_track_result_t {
    wsg_action_t action;           /* for this request: the address's, or BAN if its prefix was */
    double       client_score;     /* the address's decayed score after this request */
    apr_time_t   ban_until;        /* of the ban that refuses it, when action is BAN */
    wsg_rec_t    rec;              /* the address record as written */
} wsg_track_result_t;

/* A prefix with this many distinct members (approximately) tracks new members as itself. */
#define WSG_TRACK_FOLD_MEMBERS 8

/* Applies t to recs[0] (the address) and, when n == 2 and the policy bans prefixes, recs[1] (its
 * prefix). A prefix is banned on the sum of its members' scores, and only once it has two or more
 * members, so one address never bans its neighbours. Returns the mask of records to write
 * (the wsg_store_update callback's contract).
 * An address with no record yet (recs[0] zeroed: version 0) in a prefix that already has
 * WSG_TRACK_FOLD_MEMBERS members is not written (bit 0 clear) when this request alone leaves it
 * passing and sets no flag: its score counts in the prefix only, so a scanner rotating through a
 * /64 costs one record, and the prefix ban (read with the address on every request) refuses
 * every member. */
int wsg_track_apply(const wsg_policy_t *pol, const wsg_track_t *t, wsg_rec_t *recs, int n,
                    wsg_track_result_t *res);

/* The ring of recent misses (wsg_rec_t miss_ring_lo/hi): the last WSG_TRACK_MISS_RING paths
 * whose 404 scored for this address, as 16-bit hashes of the normalised path (no query, so
 * /news.php?id=1 and ?id=2 are one path). A path in it is a repeat: a feed reader or monitor
 * polling one removed URL, a reload, a crawler walking the query strings of one removed script.
 * 16 bits over 4 entries: a scanner's new path is taken for a repeat about once in 16,000
 * probes. Exact where the 64-bit probe bloom is not (it fills after about 20 paths, and then
 * everything would look repeated). */
#define WSG_TRACK_MISS_RING 4
int wsg_track_missed_lately(const wsg_rec_t *rec, const char *path, apr_size_t len);
void wsg_track_push_miss(wsg_rec_t *rec, const char *path, apr_size_t len);
unsigned wsg_track_recent_misses(const wsg_rec_t *rec);

/* 64-bit FNV-1a (the bloom words' hash). */
apr_uint64_t wsg_track_hash(const void *data, apr_size_t len);

/* True for the extensions of server-side scripts that shells are written in (php, asp, aspx,
 * jsp, cgi, pl, ...), lower-case as wsg_norm gives them. */
int wsg_track_is_script_ext(const char *ext);

#endif
