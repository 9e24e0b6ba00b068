/* wsg_export: turns banned records into what firewalls take (nft, ipset, iptables, pf, plain,
 * json), IPv4 and IPv6 apart, optionally aggregated into exact CIDRs. Pure: the caller collects the
 * entries from the store and passes the clock, so tests feed fixed records and a fixed now.
 * Portable core: APR + jansson. */
#ifndef WSG_EXPORT_H
#define WSG_EXPORT_H

#include <stdio.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include "wsg_ip.h"

typedef enum {
    WSG_EXPORT_NFT = 0,
    WSG_EXPORT_IPSET,
    WSG_EXPORT_IPTABLES,     /* iptables-restore input; one family per output (see family) */
    WSG_EXPORT_PF,
    WSG_EXPORT_PLAIN,
    WSG_EXPORT_JSON
} wsg_export_format_t;

/* One banned address or CIDR. */
typedef struct wsg_export_entry_t {
    wsg_addr_t   addr;        /* family, bits (any prefix length after aggregation), bytes */
    apr_time_t   ban_until;
    double       score;       /* decayed to the export time by the caller */
    apr_uint32_t flags;       /* WSG_RF_* of the record */
    apr_uint32_t bans;        /* ban count */
    char         source[32];  /* rec.source: importing peer, or the reason of a manual ban */
    apr_time_t   seen;        /* additive: latest evidence (last seen, ban start), 0: unknown;
                               * json writes it as last_seen (what import compares with an
                               * operator's unban) */
} wsg_export_entry_t;

typedef struct wsg_export_t {
    apr_pool_t         *pool;
    apr_array_header_t *v4;   /* of wsg_export_entry_t */
    apr_array_header_t *v6;
} wsg_export_t;

typedef struct wsg_export_opts_t {
    const char *name;         /* nft table / ipset base name / iptables chain / pf table;
                               * NULL: "wsguard" ("WSGUARD" for iptables) */
    int         family;       /* 0: both; 4 or 6: only that family. iptables: 0 means 4 */
    const char *generator;    /* text for the header comment, e.g. "wsguardctl export"; NULL: none */
    const char *hook;         /* nft: the chain's hook, "input" (NULL) or "forward" (a router or
                               * a host of containers in front of the web servers) */
    int         set_only;     /* nft: manage only the sets of table NAME (created if missing,
                               * flushed and refilled), never its chains: for admins who keep
                               * their own rules referencing @blocked4 / @blocked6 */
} wsg_export_opts_t;

wsg_export_t *wsg_export_make(apr_pool_t *p);

/* Adds one entry (copied). Entries whose ban ended at or before now are skipped by the writers. */
void wsg_export_add(wsg_export_t *ex, const wsg_export_entry_t *e);

/* Sorts each family by address, drops entries covered by a wider banned CIDR (nft interval sets
 * refuse overlaps; a covered entry blocks nothing more while its cover lasts; once the cover ends,
 * the next export lists it again), and, when merge is set, joins sibling CIDRs into their parent
 * while both halves are banned — exact: never a bit of unbanned space. A merged entry ends with the
 * earliest member, so it never outlives one; the next export brings the longer-lived members back
 * on their own. Entries already expired at now are dropped first. */
void wsg_export_normalise(wsg_export_t *ex, apr_time_t now, int merge);

/* Seconds left of a ban at now: rounded up, at least 1 (the writers skip expired entries). */
apr_int64_t wsg_export_remaining(apr_time_t ban_until, apr_time_t now);

/* Writes the export. Call wsg_export_normalise first (the writers assume sorted, non-overlapping
 * entries). Returns APR_SUCCESS, or an errno-based status when writing to f failed. */
apr_status_t wsg_export_write(const wsg_export_t *ex, wsg_export_format_t fmt,
                              const wsg_export_opts_t *opts, apr_time_t now, FILE *f);

/* "nft" -> WSG_EXPORT_NFT etc.; "ip6tables" gives IPTABLES with *family = 6. APR_EINVAL if unknown. */
apr_status_t wsg_export_format_parse(const char *name, wsg_export_format_t *fmt, int *family);

/* Formats t (apr_time_t) as "2026-01-02T03:04:05Z" (whole seconds, UTC) into buf (>= 21 bytes). */
const char *wsg_export_iso8601(apr_time_t t, char *buf, apr_size_t len);

/* (Parsing: wsg_event_time_parse reads this and the event log's forms alike.) */

/* The store keys the module looks up for a CIDR: the address itself, its /24 | /64 prefix record,
 * or for another length every address (longer than /24 | /64) or every /24 | /64 prefix (shorter)
 * inside it, which together cover exactly the CIDR. More than max keys: APR_EINVAL and *err says
 * why. Used by 'ban' and 'import' (an aggregated export of a peer comes back as exact records). */
apr_status_t wsg_export_cidr_keys(apr_pool_t *p, const wsg_addr_t *cidr, int max,
                                  apr_array_header_t **keys, const char **err);

#endif
