/* wsg_refused: what a process has refused and not yet written to the event log. A refused
 * request costs no event line of its own (a banned client's flood would fill the disk): each
 * client's refusals of one kind (403 or 429) are counted in a small fixed table, with up to
 * WSG_REFUSED_PATHS distinct paths, and written as one "refused" event with a count once its
 * window (a minute) has passed, when the table needs the entry for another client, or when the
 * process exits. So reports count every request a scanner sent, one line per client per minute
 * per process at most. Thread-safe (one mutex, held for a lookup and a copy). No allocation after
 * create. Portable core: APR. */
#ifndef WSG_REFUSED_H
#define WSG_REFUSED_H

#include <apr_pools.h>
#include <apr_thread_mutex.h>
#include "wsg_ip.h"
#include "wsg_event.h"

#define WSG_REFUSED_SLOTS   64     /* clients counted at once per process */
#define WSG_REFUSED_PATHS   8      /* distinct paths kept per entry (the count has them all) */
#define WSG_REFUSED_PATHLEN 160    /* bytes of each (a longer one is cut) */
#define WSG_REFUSED_WINDOW  (60 * APR_USEC_PER_SEC)

typedef struct wsg_refused_entry_t {
    wsg_addr_t   addr;
    apr_uint32_t hash;
    int          status;           /* 403 or 429; 0: free */
    const char  *action;           /* "ban" or "ratelimit" (static strings) */
    apr_time_t   since, last;
    unsigned     count;
    unsigned     npaths, more;     /* paths kept, distinct ones not kept */
    apr_uint32_t phash[WSG_REFUSED_PATHS];
    char         paths[WSG_REFUSED_PATHS][WSG_REFUSED_PATHLEN];
} wsg_refused_entry_t;

typedef struct wsg_refused_t wsg_refused_t;

/* window 0: WSG_REFUSED_WINDOW. */
apr_status_t wsg_refused_create(apr_pool_t *p, apr_interval_time_t window, wsg_refused_t **out);

/* Counts one refusal of addr with status (403/429) for target (the request target as sent;
 * only its path is kept, up to '?'). Entries whose window has ended, or the one that made room
 * when the table was full, are moved into due (at most max; what does not fit stays due);
 * returns how many the caller must write now. */
int wsg_refused_add(wsg_refused_t *a, const wsg_addr_t *addr, int status, const char *target,
                    apr_time_t now, wsg_refused_entry_t *due, int max);

/* Moves entries whose window has ended (all of them with force) into due; returns how many. */
int wsg_refused_take(wsg_refused_t *a, apr_time_t now, int force, wsg_refused_entry_t *due,
                     int max);

/* When the next entry falls due (0: none): a read without the lock, for a cheap check on every
 * request. */
apr_time_t wsg_refused_next_due(const wsg_refused_t *a);

/* Fills ev (event "refused", client, time, since, count, status, action, path: the first,
 * paths: each normalised as the rules see it) for one entry; strings in p. */
void wsg_refused_event(apr_pool_t *p, const wsg_refused_entry_t *e, wsg_event_t *ev);

#endif
