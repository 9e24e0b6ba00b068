/* libFuzzer target for the crawler check's DNS parser (wsg_crawler): the input is a datagram
 * from the resolver, which an impostor's reverse zone shapes in part. wsg_dns_parse refuses it or
 * gives at most WSG_DNS_NAMES host-name-like names and WSG_DNS_ADDRS addresses, whatever the
 * compression pointers, counts and lengths say; the domain check takes any name it gives. The
 * question is taken from the input itself (so the fuzzer reaches the answers) for PTR, A and
 * AAAA. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include "wsg_crawler.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

/* The question's name as a client would have asked it: the labels at offset 12, plainly. */
static int question(const uint8_t *d, size_t n, char *out)
{
    size_t off = 12, o = 0;
    while (off < n && d[off]) {
        size_t l = d[off];
        if (l > 63 || off + 1 + l > n || o + l + 2 > 250)
            return 0;
        if (o)
            out[o++] = '.';
        memcpy(out + o, d + off + 1, l);
        o += l;
        off += 1 + l;
    }
    out[o] = '\0';
    return o > 0 && memchr(out, '\0', o) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = { WSG_DNS_PTR, WSG_DNS_A, WSG_DNS_AAAA };
    wsg_dns_answer_t a;
    char q[WSG_DNS_NAME_MAX];
    int t, i, k;

    if (size < 12 || size > 1500 || !question(data, size, q))
        return 0;
    for (t = 0; t < 3; t++) {
        if (wsg_dns_parse(data, size, (apr_uint16_t)(data[0] << 8 | data[1]), q, types[t], &a)
            != APR_SUCCESS)
            continue;
        CHECK(a.nnames >= 0 && a.nnames <= WSG_DNS_NAMES);
        CHECK(a.naddrs >= 0 && a.naddrs <= WSG_DNS_ADDRS);
        CHECK(a.rcode >= 0 && a.rcode <= 15);
        for (i = 0; i < a.nnames; i++) {
            size_t l = strnlen(a.names[i], WSG_DNS_NAME_MAX);
            CHECK(l < WSG_DNS_NAME_MAX);
            CHECK(!memchr(a.names[i], ' ', l));
            for (k = 1; k <= wsg_crawler_count(); k++)
                (void)wsg_crawler_name_ok(k, a.names[i]);
        }
    }
    return 0;
}
