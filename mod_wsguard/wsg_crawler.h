/* wsg_crawler: clients that say they are a major search engine's crawler, checked by
 * forward-confirmed reverse DNS (FCrDNS) rather than trusted or punished. The table of crawlers
 * (User-Agent tokens -> the reverse-DNS domains their vendor publishes), the verdict's state in
 * the address record (flags + time), what a scored request of a claimed crawler adds, and the
 * check itself: a minimal DNS client (query building and strict answer parsing, UDP to one
 * resolver with a bounded timeout). Portable core: APR only; the glue runs the check in a
 * background task, never on the request path. */
#ifndef WSG_CRAWLER_H
#define WSG_CRAWLER_H

#include <apr_pools.h>
#include <apr_network_io.h>
#include "wsg_ip.h"
#include "wsg_store.h"
#include "wsg_policy.h"

/* ---- the table ---- */

typedef struct wsg_crawler_t {
    const char         *name;          /* "Googlebot" */
    const char *const  *tokens;        /* User-Agent substrings that claim it (ASCII, any case) */
    const char *const  *domains;       /* reverse-DNS domains of its vendor (a name must end in
                                        * "." + one of them) */
} wsg_crawler_t;

/* The number of crawlers; ids run from 1 to it (0: none). */
int wsg_crawler_count(void);
/* The crawler of id, NULL when out of range. */
const wsg_crawler_t *wsg_crawler_get(int id);
/* Which crawler the User-Agent claims to be (its id), 0: none. Cheap (a scan of at most the
 * first WSG_CRAWLER_UA_MAX bytes per token); the glue asks only for a request that scores. */
#define WSG_CRAWLER_UA_MAX 512
int wsg_crawler_claim(const char *ua);
/* Whether host (a name from a PTR answer, trailing dot or not) is in one of id's domains: it ends
 * in "." + domain on a label boundary (the bare domain is not a crawler's name), case aside, and
 * is a syntactically valid host name (letters, digits, '-', '_' labels of 1..63, <= 253). */
int wsg_crawler_name_ok(int id, const char *host);

/* ---- the verdict in the address record ----
 * flags WSG_RF_CRAWLER_OK (0x20) and WSG_RF_CRAWLER_FAKE (0x40) and rec->crawler_at (Unix
 * seconds, kept on disk while either flag is set):
 *   OK            verified at crawler_at
 *   FAKE          FCrDNS failed at crawler_at (the name is not the vendor's, or does not point
 *                 back at the address)
 *   OK|FAKE       a check is pending since crawler_at; once that is WSG_CRAWLER_HOLD old it
 *                 reads "unverified" (scored as anyone) until WSG_CRAWLER_RETRY, then as never
 *                 checked; a check that could not be made (resolver error) is recorded so,
 *                 dated back by the hold
 *   neither       never checked */
#define WSG_RF_CRAWLER_OK      0x20u
#define WSG_RF_CRAWLER_FAKE    0x40u
#define WSG_RF_CRAWLER_PENDING (WSG_RF_CRAWLER_OK | WSG_RF_CRAWLER_FAKE)

#define WSG_CRAWLER_TTL    (24 * 3600)    /* seconds a verdict (verified or fake) holds */
#define WSG_CRAWLER_HOLD   60             /* seconds a pending check may hold the score */
#define WSG_CRAWLER_RETRY  600            /* seconds before a failed check is tried again */
#define WSG_CRAWLER_FAKE_BONUS 2.0        /* added to each scored request of a fake */

typedef enum {
    WSG_CRAWLER_NONE = 0,       /* never checked, or the last verdict is too old: check now */
    WSG_CRAWLER_PENDING,        /* a check is under way (and not older than the hold) */
    WSG_CRAWLER_VERIFIED,
    WSG_CRAWLER_FAKE,
    WSG_CRAWLER_UNVERIFIED      /* the check failed or took too long: scored as anyone */
} wsg_crawler_state_e;

/* The state of rec's address as of now (rec may be NULL or a new, zeroed record). */
wsg_crawler_state_e wsg_crawler_state(const wsg_rec_t *rec, apr_time_t now);
/* "verified", "fake", "pending", "unverified" or NULL (never checked), for display. */
const char *wsg_crawler_state_name(const wsg_rec_t *rec, apr_time_t now);

/* What a scored request of a client claiming a crawler adds, given its records as they are in the
 * write transaction (rec its address's, prec its prefix's or NULL): `any` the part that counts
 * whatever the answer (outcome=any rules, evasion), `miss` the part that counts because it was a
 * miss. Verified: nothing (an alert flag still is set by the caller). Fake: all of it plus
 * WSG_CRAWLER_FAKE_BONUS. Pending: all of it, but never so much that the address (or its prefix)
 * reaches the lowest threshold. Unverified: all of it. Not checked (or a stale verdict): a check
 * starts (*set_flags |= PENDING, *queue = 1; the caller then calls wsg_crawler_mark on the record
 * as written and queues the address) and the request is held as pending. */
double wsg_crawler_score(const wsg_policy_t *pol, const wsg_rec_t *rec, const wsg_rec_t *prec,
                         apr_time_t now, double any, double miss, apr_uint32_t *set_flags,
                         int *queue);
/* A check starts now: the record is pending since now. */
void wsg_crawler_mark(wsg_rec_t *rec, apr_time_t now);

/* The check's outcome, for wsg_crawler_resolved. */
typedef enum { WSG_CRAWLER_V_OK = 1, WSG_CRAWLER_V_FAKE = 2, WSG_CRAWLER_V_ERROR = 3 } wsg_crawler_v_e;
/* The background task's write: when rec is still pending, records the outcome at now and returns
 * 1 (write it); 0 when there is nothing to change (not pending: purged, or resolved already).
 * A verified crawler's score is cleared (a ban in force is not lifted). */
int wsg_crawler_resolved(wsg_rec_t *rec, wsg_crawler_v_e v, apr_time_t now);
/* Whether a record with no score left must still be kept: its verified or fake verdict is fresh
 * (so a crawler revisiting removed pages is not looked up again on each visit). */
int wsg_crawler_keep(const wsg_rec_t *rec, apr_time_t now);

/* ---- DNS (RFC 1035), the parts FCrDNS needs ---- */

#define WSG_DNS_A     1
#define WSG_DNS_CNAME 5
#define WSG_DNS_PTR   12
#define WSG_DNS_AAAA  28
#define WSG_DNS_NAMES 4                 /* PTR names kept from one answer */
#define WSG_DNS_ADDRS 16                /* addresses kept from one answer */
#define WSG_DNS_NAME_MAX 256            /* a name in text, with its NUL */

/* The reverse-lookup name of addr: "4.3.2.1.in-addr.arpa" or the 32 nibbles ".ip6.arpa". */
apr_status_t wsg_dns_ptr_name(const wsg_addr_t *addr, char *buf, apr_size_t size);
/* A query for name/qtype (class IN, recursion desired) into buf; its length, 0 when name is not
 * a valid name or buf too small (512 is enough). */
apr_size_t wsg_dns_query(unsigned char *buf, apr_size_t size, apr_uint16_t id, const char *name,
                         int qtype);

typedef struct wsg_dns_answer_t {
    int           rcode;                        /* 0 NOERROR, 3 NXDOMAIN */
    int           nnames;                       /* PTR targets (qtype PTR) */
    char          names[WSG_DNS_NAMES][WSG_DNS_NAME_MAX];
    int           naddrs;                       /* A/AAAA of the name or its CNAME chain */
    unsigned char addrs[WSG_DNS_ADDRS][16];
} wsg_dns_answer_t;

/* Parses an answer to the query (id, name, qtype), strictly: the header is a response with that id
 * and opcode, not truncated, one question equal to the query's; every name is bounds-checked
 * (compression pointers only backwards, at most 32 of them per name, labels <= 63, names <= 255).
 * Keeps PTR targets whose owner is the question, and addresses whose owner is the question or a
 * name it is a CNAME of (in the answer, at most 8 steps). APR_SUCCESS (see out->rcode) or
 * APR_EINVAL for anything malformed or not the answer to this query. */
apr_status_t wsg_dns_parse(const unsigned char *pkt, apr_size_t len, apr_uint16_t id,
                           const char *name, int qtype, wsg_dns_answer_t *out);

/* ---- the resolver and the check ---- */

typedef struct wsg_resolver_t {
    apr_sockaddr_t     *sa;             /* the resolver's address and port */
    apr_interval_time_t timeout;        /* per try (0: 1.5 s) */
    int                 tries;          /* per query (0: 2) */
} wsg_resolver_t;

/* "ADDR", "ADDR:PORT", "[V6]", "[V6]:PORT" (numeric only; port 53 by default) -> *sa. On error
 * APR_EINVAL and *err says why. */
apr_status_t wsg_resolver_parse(const char *spec, apr_pool_t *p, apr_sockaddr_t **sa,
                                const char **err);
/* The system resolver: the first usable "nameserver" line of path (/etc/resolv.conf), else
 * 127.0.0.1:53 as the C library does. */
apr_status_t wsg_resolver_system(const char *path, apr_pool_t *p, apr_sockaddr_t **sa);

/* One query and its answer over UDP to r (a connected socket: only the resolver's address is
 * heard; the id is random). APR_SUCCESS with *out filled, or an error (timeout, refused,
 * malformed or truncated answer). Blocks at most tries * timeout. */
apr_status_t wsg_dns_ask(const wsg_resolver_t *r, apr_pool_t *p, const char *name, int qtype,
                         wsg_dns_answer_t *out);

/* FCrDNS of addr as crawler id: the PTR names of addr, the first one (of at most 2) in the
 * crawler's domains looked up forward (A for IPv4, AAAA for IPv6), verified when its addresses
 * contain addr. FAKE when there is no PTR (NXDOMAIN or no data), no name in the domains, or no
 * forward address equal to addr; ERROR when the resolver fails (timeout, SERVFAIL, garbage).
 * *host (may be NULL) gets the name that decided, *why (may be NULL) a short reason. */
wsg_crawler_v_e wsg_crawler_verify(const wsg_resolver_t *r, apr_pool_t *p, const wsg_addr_t *addr,
                                   int id, const char **host, const char **why);

#endif
