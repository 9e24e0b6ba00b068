/* libFuzzer target for address and CIDR parsing (wsg_ip): the input is one line of text, as an
 * import file, 'wsguardctl ban' or WSGuardAllow gives it. wsg_addr_parse either refuses it or gives
 * a key whose text form parses back to the same key; its prefix is a prefix of it; an allowlist
 * either refuses the text with a message or takes it and tests addresses without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "wsg_ip.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text, buf[WSG_ADDR_STRLEN];
    wsg_addr_t a, b, pfx;
    wsg_allow_t *al;
    const char *err = NULL;

    if (size > 4096)
        return 0;
    apr_pool_create(&p, NULL);
    text = apr_pstrmemdup(p, (const char *)data, size);
    if (wsg_addr_parse(text, &a) == APR_SUCCESS) {
        CHECK(a.family == 4 || a.family == 6);
        CHECK(a.bits <= (a.family == 4 ? 32 : 128));
        wsg_addr_format(&a, buf, sizeof(buf));
        CHECK(strlen(buf) < WSG_ADDR_STRLEN);
        /* the text form of an address or of a /24 | /64 prefix reads back as the same key */
        if (a.bits == 32 || a.bits == 128 || wsg_addr_is_prefix(&a)) {
            CHECK(wsg_addr_parse(buf, &b) == APR_SUCCESS);
            CHECK(memcmp(&a, &b, sizeof(a)) == 0);
        }
        wsg_addr_prefix(&a, &pfx);
        CHECK(pfx.family == a.family && wsg_addr_is_prefix(&pfx));
        (void)wsg_addr_is_private(&a);
    }
    al = wsg_allow_make(p);
    if (wsg_allow_add(al, p, text, &err) == APR_SUCCESS) {
        (void)wsg_allow_test_str(al, p, "192.0.2.1");
        (void)wsg_allow_test_str(al, p, "2001:db8::1");
        (void)wsg_allow_test_str(al, p, text);
    }
    else
        CHECK(err && *err);
    apr_pool_destroy(p);
    return 0;
}
