/* wsg_metrics: the module's counters for Prometheus, as mod_status keeps its scoreboard: a table
 * in memory shared by every httpd process (the glue maps it: mod_wsguard_metrics.c), one slot per
 * process, claimed when the process starts; the threads of a process add to their slot with
 * relaxed atomic adds (no lock, no write to the store), and a scrape sums every slot. A slot
 * keeps its counts when its process exits (the next process that claims it goes on adding to
 * them), so the sums only grow while the table lives. Also the text exposition (format 0.0.4).
 * Portable core: APR and the compiler's atomics. */
#ifndef WSG_METRICS_H
#define WSG_METRICS_H

#include <apr_pools.h>

#define WSG_METRICS_TAGS   48   /* rule tags with a series of their own; the rest are "other" */
#define WSG_METRICS_TAGLEN 40   /* a longer tag counts as "other" */

/* The counters (wsg_metrics_counts_t.c index). */
enum {
    WSG_MC_INSPECTED = 0,    /* requests the header phase inspected */
    WSG_MC_PROBES,           /* scored requests written (any tag) */
    WSG_MC_REFUSED_BAN,      /* refused: the address is banned (local, manual or imported) */
    WSG_MC_REFUSED_RATELIMIT,/* refused with 429 */
    WSG_MC_REFUSED_PREFIX,   /* refused: its /24 or /64 is banned */
    WSG_MC_REFUSED_CROWDSEC, /* refused: a ban pulled from CrowdSec */
    WSG_MC_BANS,             /* bans this module started (a client crossing the ban threshold) */
    WSG_MC_ALERTS,           /* probes answered 2xx, or refused probes of a file that exists */
    WSG_MC_STORE_ERRORS,     /* failed writes of the state */
    WSG_MC_N
};
/* Probe tags: 0..WSG_METRICS_TAGS-1 the names registered, then these two. */
#define WSG_MT_OTHER (WSG_METRICS_TAGS)       /* a tag not registered (or too long) */
#define WSG_MT_NONE  (WSG_METRICS_TAGS + 1)   /* scored without a rule (a missing script) */
#define WSG_MT_N     (WSG_METRICS_TAGS + 2)

typedef struct wsg_metrics_counts_t {
    apr_uint64_t c[WSG_MC_N];
    apr_uint64_t tag[WSG_MT_N];
} wsg_metrics_counts_t;

typedef struct wsg_metrics_t wsg_metrics_t;            /* the table (in shared memory) */
typedef struct wsg_metrics_slot_t wsg_metrics_slot_t;  /* one process's counters */

/* Bytes a table of nslots slots takes (slot 0 is shared by processes that found none free). */
apr_size_t wsg_metrics_size(unsigned nslots);
/* Lays a zeroed table out in mem (size bytes, from wsg_metrics_size). NULL if too small. */
wsg_metrics_t *wsg_metrics_init(void *mem, apr_size_t size, unsigned nslots);
unsigned wsg_metrics_nslots(const wsg_metrics_t *m);

/* Registers a tag (post_config, one thread; a tag seen before keeps its index, tags are never
 * removed, so processes of an older generation keep counting right). -1: table full. */
int wsg_metrics_tag_add(wsg_metrics_t *m, const char *tag);
/* A registered tag's index, WSG_MT_OTHER if not registered, WSG_MT_NONE for NULL or "". */
int wsg_metrics_tag_index(const wsg_metrics_t *m, const char *tag);
/* Index i's name: a registered tag, "other" or "none"; NULL past the registered ones. */
const char *wsg_metrics_tag_name(const wsg_metrics_t *m, int i);

/* A free slot for process pid (or the slot of a process alive() says is gone; alive may be
 * NULL), else the shared slot 0. Never NULL for a table from wsg_metrics_init. */
wsg_metrics_slot_t *wsg_metrics_claim(wsg_metrics_t *m, long pid, int (*alive)(long pid));
/* The process is done with it: free for the next one, counts kept. */
void wsg_metrics_release(wsg_metrics_slot_t *s);

/* Relaxed atomic adds (any thread; s NULL: nothing). */
void wsg_metrics_add(wsg_metrics_slot_t *s, int counter, apr_uint64_t n);
void wsg_metrics_probe(wsg_metrics_slot_t *s, const wsg_metrics_t *m, const char *tag);

/* The sums over every slot. */
void wsg_metrics_sum(const wsg_metrics_t *m, wsg_metrics_counts_t *out);

/* What a scrape shows besides the counters (from the store when it is readable). */
typedef struct wsg_metrics_gauges_t {
    int          have_store;     /* 0: the gauges below are not shown */
    apr_uint64_t records, capacity, bans_active, evicted;
    apr_uint64_t map_size, map_used;
} wsg_metrics_gauges_t;

/* Prometheus text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4). */
char *wsg_metrics_render(apr_pool_t *p, const wsg_metrics_t *m, const wsg_metrics_counts_t *c,
                         const wsg_metrics_gauges_t *g);

#endif
