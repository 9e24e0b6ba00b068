/* wsg_ip: client addresses as fixed-size keys (wsg_addr_t), their /24 and /64 prefixes, the
 * "private or documentation" test used when anonymising, and CIDR allowlists built on APR's
 * apr_ipsubnet_t. Only numeric text is accepted anywhere: nothing here may trigger a DNS lookup. */
#include "wsg_ip.h"

#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <apr_strings.h>

/* Longest text we accept: a full IPv6 with an embedded IPv4 tail plus "/128". */
#define WSG_ADDR_TEXT_MAX 64

static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Zero every bit after the first `bits` bits of an address of `nbytes` bytes. */
static void mask_host_bits(unsigned char *bytes, unsigned nbytes, unsigned bits)
{
    unsigned i;
    for (i = 0; i < nbytes; i++) {
        unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
        if (keep >= 8)
            continue;
        bytes[i] &= (unsigned char)(0xff00u >> keep);
    }
}

/* Strict decimal 0..max: no sign, no spaces, no empty string, no leading junk. */
static int parse_bits(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (!*s || strlen(s) > 3)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max)
        return 0;
    *out = v;
    return 1;
}

apr_status_t wsg_addr_parse(const char *text, wsg_addr_t *out)
{
    char tmp[WSG_ADDR_TEXT_MAX];
    const char *slash;
    size_t n;
    unsigned bits = 0;
    int have_bits = 0;
    unsigned char b6[16];

    if (!out)
        return APR_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!text)
        return APR_EINVAL;
    n = strlen(text);
    if (n == 0 || n >= sizeof(tmp))
        return APR_EINVAL;
    memcpy(tmp, text, n + 1);
    slash = strchr(tmp, '/');
    if (slash) {
        tmp[slash - tmp] = '\0';
        have_bits = 1;
    }

    if (inet_pton(AF_INET, tmp, out->bytes) == 1) {
        if (have_bits && !parse_bits(slash + 1, 32, &bits))
            goto invalid;
        out->family = 4;
        out->bits = (unsigned char)(have_bits ? bits : 32);
        mask_host_bits(out->bytes, 4, out->bits);
        return APR_SUCCESS;
    }
    if (inet_pton(AF_INET6, tmp, b6) == 1) {
        if (have_bits && !parse_bits(slash + 1, 128, &bits))
            goto invalid;
        if (!have_bits)
            bits = 128;
        /* ::ffff:a.b.c.d is how a dual-stack socket shows an IPv4 client: store it as IPv4 so one
         * client has one key. A mapped CIDR shorter than /96 spans non-mapped space: keep it v6. */
        if (memcmp(b6, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0 && bits >= 96) {
            out->family = 4;
            out->bits = (unsigned char)(bits - 96);
            memcpy(out->bytes, b6 + 12, 4);
            mask_host_bits(out->bytes, 4, out->bits);
            return APR_SUCCESS;
        }
        out->family = 6;
        out->bits = (unsigned char)bits;
        memcpy(out->bytes, b6, 16);
        mask_host_bits(out->bytes, 16, out->bits);
        return APR_SUCCESS;
    }

invalid:
    memset(out, 0, sizeof(*out));
    return APR_EINVAL;
}

apr_status_t wsg_addr_from_sockaddr(const apr_sockaddr_t *sa, wsg_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!sa)
        return APR_EINVAL;
    if (sa->family == AF_INET) {
        out->family = 4;
        out->bits = 32;
        memcpy(out->bytes, &sa->sa.sin.sin_addr, 4);
        return APR_SUCCESS;
    }
#if APR_HAVE_IPV6
    if (sa->family == AF_INET6) {
        const unsigned char *b6 = (const unsigned char *)&sa->sa.sin6.sin6_addr;
        /* An IPv4 client on a dual-stack socket: one client, one key (as wsg_addr_parse). */
        if (memcmp(b6, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
            out->family = 4;
            out->bits = 32;
            memcpy(out->bytes, b6 + 12, 4);
            return APR_SUCCESS;
        }
        out->family = 6;
        out->bits = 128;
        memcpy(out->bytes, b6, 16);
        return APR_SUCCESS;
    }
#endif
    return APR_EINVAL;
}

void wsg_addr_prefix(const wsg_addr_t *addr, wsg_addr_t *out)
{
    unsigned want;
    wsg_addr_t r;

    memset(&r, 0, sizeof(r));
    if (!addr || (addr->family != 4 && addr->family != 6)) {
        if (out)
            *out = r;
        return;
    }
    r.family = addr->family;
    want = addr->family == 4 ? 24 : 64;
    /* A CIDR already wider than the prefix is its own prefix (the prefix must hold addr). */
    r.bits = (unsigned char)(addr->bits < want ? addr->bits : want);
    memcpy(r.bytes, addr->bytes, addr->family == 4 ? 4 : 16);
    mask_host_bits(r.bytes, addr->family == 4 ? 4 : 16, r.bits);
    *out = r;
}

int wsg_addr_is_prefix(const wsg_addr_t *addr)
{
    if (!addr)
        return 0;
    return (addr->family == 4 && addr->bits < 32) || (addr->family == 6 && addr->bits < 128);
}

const char *wsg_addr_format(const wsg_addr_t *addr, char *buf, apr_size_t len)
{
    char tmp[WSG_ADDR_STRLEN];
    const char *s = NULL;
    size_t n;

    if (!buf || len == 0)
        return "";
    buf[0] = '\0';
    if (!addr)
        return buf;
    if (addr->family == 4)
        s = inet_ntop(AF_INET, addr->bytes, tmp, sizeof(tmp));
    else if (addr->family == 6)
        s = inet_ntop(AF_INET6, addr->bytes, tmp, sizeof(tmp));
    if (!s)
        return buf;
    n = strlen(tmp);
    if (wsg_addr_is_prefix(addr))
        n += (size_t)apr_snprintf(tmp + n, sizeof(tmp) - n, "/%u", (unsigned)addr->bits);
    /* Truncate rather than overflow a short caller buffer. */
    apr_cpystrn(buf, tmp, len);
    return buf;
}

/* Does addr (its network bytes) fall into net/bits? */
static int in_net(const unsigned char *bytes, const unsigned char *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(bytes, net, full) != 0)
        return 0;
    if (rest) {
        unsigned char m = (unsigned char)(0xff00u >> rest);
        if ((bytes[full] & m) != (net[full] & m))
            return 0;
    }
    return 1;
}

typedef struct {
    unsigned char net[16];
    unsigned char bits;
} net_t;

/* Addresses that name no public host: anonymised reports must not carry them. */
static const net_t private_v4[] = {
    {{0, 0, 0, 0}, 8},          /* "this network" */
    {{10, 0, 0, 0}, 8},         /* RFC 1918 */
    {{100, 64, 0, 0}, 10},      /* CGNAT, RFC 6598 */
    {{127, 0, 0, 0}, 8},        /* loopback */
    {{169, 254, 0, 0}, 16},     /* link-local */
    {{172, 16, 0, 0}, 12},      /* RFC 1918 */
    {{192, 0, 2, 0}, 24},       /* TEST-NET-1, RFC 5737 */
    {{192, 168, 0, 0}, 16},     /* RFC 1918 */
    {{198, 51, 100, 0}, 24},    /* TEST-NET-2 */
    {{203, 0, 113, 0}, 24},     /* TEST-NET-3 */
};

static const net_t private_v6[] = {
    {{0}, 128},                                     /* :: unspecified */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128}, /* ::1 loopback */
    {{0xfc}, 7},                                    /* ULA fc00::/7 */
    {{0xfe, 0x80}, 10},                             /* link-local fe80::/10 */
    {{0x20, 0x01, 0x0d, 0xb8}, 32},                 /* documentation 2001:db8::/32 */
};

int wsg_addr_is_private(const wsg_addr_t *addr)
{
    size_t i;
    if (!addr)
        return 0;
    if (addr->family == 4) {
        for (i = 0; i < sizeof(private_v4) / sizeof(private_v4[0]); i++)
            if (in_net(addr->bytes, private_v4[i].net, private_v4[i].bits))
                return 1;
    }
    else if (addr->family == 6) {
        for (i = 0; i < sizeof(private_v6) / sizeof(private_v6[0]); i++)
            if (in_net(addr->bytes, private_v6[i].net, private_v6[i].bits))
                return 1;
    }
    return 0;
}

wsg_allow_t *wsg_allow_make(apr_pool_t *p)
{
    wsg_allow_t *al = apr_pcalloc(p, sizeof(*al));
    al->nets = apr_array_make(p, 8, sizeof(apr_ipsubnet_t *));
    return al;
}

apr_status_t wsg_allow_add(wsg_allow_t *al, apr_pool_t *p, const char *cidr, const char **err)
{
    char *ip, *bits;
    apr_ipsubnet_t *net = NULL;
    apr_status_t rv;
    wsg_addr_t check;
    char ebuf[120];

    if (err)
        *err = NULL;
    if (!al || !cidr || !*cidr) {
        if (err)
            *err = "empty address or CIDR";
        return APR_EINVAL;
    }
    /* Numeric only: apr_ipsubnet_create would also take "10.1" (httpd's partial-address form), but
     * an allowlist entry that is ambiguous to a reader is a security bug waiting to happen. */
    if (wsg_addr_parse(cidr, &check) != APR_SUCCESS) {
        if (err)
            *err = apr_psprintf(p, "'%s' is not an IPv4/IPv6 address or CIDR (e.g. 192.0.2.0/24, "
                                   "2001:db8::/32)", cidr);
        return APR_EINVAL;
    }
    ip = apr_pstrdup(p, cidr);
    bits = strchr(ip, '/');
    if (bits)
        *bits++ = '\0';
    if (check.family == 4 && strchr(ip, ':')) {
        /* "::ffff:a.b.c.d/n": enter it as the IPv4 net it means, which APR then also matches
         * against v4-mapped clients. */
        char v4[INET_ADDRSTRLEN];
        ip = apr_pstrdup(p, inet_ntop(AF_INET, check.bytes, v4, sizeof(v4)));
        bits = apr_itoa(p, check.bits);
    }
    rv = apr_ipsubnet_create(&net, ip, bits, p);
    if (rv != APR_SUCCESS) {
        if (err)
            *err = apr_psprintf(p, "'%s': %s", cidr, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return APR_EINVAL;
    }
    APR_ARRAY_PUSH(al->nets, apr_ipsubnet_t *) = net;
    return APR_SUCCESS;
}

static int test_one(const wsg_allow_t *al, apr_sockaddr_t *sa)
{
    int i;
    for (i = 0; i < al->nets->nelts; i++)
        if (apr_ipsubnet_test(APR_ARRAY_IDX(al->nets, i, apr_ipsubnet_t *), sa))
            return 1;
    return 0;
}

int wsg_allow_test(const wsg_allow_t *al, apr_sockaddr_t *sa)
{
    if (!al || !al->nets || !sa)
        return 0;
    /* A dual-stack listener shows IPv4 clients as ::ffff:a.b.c.d; apr_ipsubnet_test matches such a
     * sockaddr against IPv4 entries (and only those), which is why wsg_allow_add stores a
     * v4-mapped entry as IPv4. test_allow_sockaddr_forms covers every combination. */
    return test_one(al, sa);
}

int wsg_allow_test_str(const wsg_allow_t *al, apr_pool_t *p, const char *ip)
{
    apr_sockaddr_t *sa = NULL;
    wsg_addr_t a;

    if (!al || !p || !ip)
        return 0;
    /* Refuse names and CIDRs before APR sees them: apr_sockaddr_info_get would resolve a name. */
    if (strchr(ip, '/') || wsg_addr_parse(ip, &a) != APR_SUCCESS)
        return 0;
    if (apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, 0, 0, p) != APR_SUCCESS || !sa)
        return 0;
    return wsg_allow_test(al, sa);
}
