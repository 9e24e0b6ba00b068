/* wsg_ip: client addresses as fixed-size keys, their /24 or /64 prefixes, and allowlists of CIDRs.
 * Part of the portable core: APR only. */
#ifndef WSG_IP_H
#define WSG_IP_H

#include <apr_pools.h>
#include <apr_network_io.h>
#include <apr_tables.h>

/* An address or a prefix, as stored: family (4 or 6), prefix length in bits, and the address bytes
 * (IPv4 in bytes 0..3, rest zero). Zero-initialise before filling so it can be used as a key. */
typedef struct wsg_addr_t {
    unsigned char family;   /* 4 or 6 */
    unsigned char bits;     /* 32/128 for an address, 24/64 for a prefix */
    unsigned char pad[2];
    unsigned char bytes[16];
} wsg_addr_t;

/* Longest text form of an address or prefix with "/bits". */
#define WSG_ADDR_STRLEN 52

/* Parses "1.2.3.4", "::1", "::ffff:1.2.3.4" (folded to IPv4) or, with a "/bits" suffix, a CIDR.
 * Returns APR_SUCCESS or APR_EINVAL. */
apr_status_t wsg_addr_parse(const char *text, wsg_addr_t *out);

/* The same from a socket address (the glue's r->useragent_addr), without going through text.
 * APR_EINVAL for a family other than IPv4/IPv6. */
apr_status_t wsg_addr_from_sockaddr(const apr_sockaddr_t *sa, wsg_addr_t *out);

/* The prefix that holds addr: /24 for IPv4, /64 for IPv6 (host bits zeroed). */
void wsg_addr_prefix(const wsg_addr_t *addr, wsg_addr_t *out);

/* Writes "1.2.3.4", "2001:db8::1", or "1.2.3.0/24" for a prefix, into buf (WSG_ADDR_STRLEN). */
const char *wsg_addr_format(const wsg_addr_t *addr, char *buf, apr_size_t len);

int wsg_addr_is_prefix(const wsg_addr_t *addr);

/* Private, loopback, link-local, CGNAT, ULA and documentation ranges (used by --anonymise). */
int wsg_addr_is_private(const wsg_addr_t *addr);

/* An allowlist: apr_ipsubnet_t entries, IPv4 and IPv6. */
typedef struct wsg_allow_t {
    apr_array_header_t *nets;  /* of apr_ipsubnet_t * */
} wsg_allow_t;

wsg_allow_t *wsg_allow_make(apr_pool_t *p);
/* Adds "1.2.3.0/24", "2001:db8::/32" or a bare address. On error returns APR_EINVAL and sets *err. */
apr_status_t wsg_allow_add(wsg_allow_t *al, apr_pool_t *p, const char *cidr, const char **err);
/* True when sa is in the list. */
int wsg_allow_test(const wsg_allow_t *al, apr_sockaddr_t *sa);
/* Same for a textual address (wsguardctl, tests). */
int wsg_allow_test_str(const wsg_allow_t *al, apr_pool_t *p, const char *ip);

#endif
