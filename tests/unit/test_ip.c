/* Unit tests for wsg_ip: parsing, v4-mapped folding, prefixes, formatting, private ranges and
 * allowlists (IPv4, IPv6, v4-mapped clients and entries). */
#include <stdlib.h>
#include <string.h>
#include "wsg_test.h"
#include "wsg_ip.h"

typedef struct {
    const char *in;
    int ok;
    unsigned family, bits;
    const char *fmt;    /* wsg_addr_format of the parsed value */
} parse_case_t;

static const parse_case_t parse_cases[] = {
    {"1.2.3.4", 1, 4, 32, "1.2.3.4"},
    {"0.0.0.0", 1, 4, 32, "0.0.0.0"},
    {"255.255.255.255", 1, 4, 32, "255.255.255.255"},
    {"::1", 1, 6, 128, "::1"},
    {"2001:DB8::1", 1, 6, 128, "2001:db8::1"},
    {"2001:db8:0:0:1:0:0:1", 1, 6, 128, "2001:db8::1:0:0:1"},
    {"::ffff:1.2.3.4", 1, 4, 32, "1.2.3.4"},          /* folded to IPv4 */
    {"::FFFF:10.0.0.1", 1, 4, 32, "10.0.0.1"},
    {"::ffff:0102:0304", 1, 4, 32, "1.2.3.4"},
    {"10.1.2.3/8", 1, 4, 8, "10.0.0.0/8"},            /* host bits cleared */
    {"192.0.2.0/24", 1, 4, 24, "192.0.2.0/24"},
    {"0.0.0.0/0", 1, 4, 0, "0.0.0.0/0"},
    {"1.2.3.4/32", 1, 4, 32, "1.2.3.4"},
    {"2001:db8::1/32", 1, 6, 32, "2001:db8::/32"},
    {"2001:db8:1:2:3:4:5:6/64", 1, 6, 64, "2001:db8:1:2::/64"},
    {"::ffff:10.0.0.0/104", 1, 4, 8, "10.0.0.0/8"},   /* mapped CIDR folded */
    {"::ffff:0:0/95", 1, 6, 95, "::fffe:0:0/95"},     /* wider than the mapped space: stays v6 */
    {"", 0, 0, 0, NULL},
    {"1.2.3", 0, 0, 0, NULL},
    {"1.2.3.256", 0, 0, 0, NULL},
    {"01.2.3.4", 0, 0, 0, NULL},
    {"1.2.3.4 ", 0, 0, 0, NULL},
    {" 1.2.3.4", 0, 0, 0, NULL},
    {"1.2.3.4/33", 0, 0, 0, NULL},
    {"1.2.3.4/", 0, 0, 0, NULL},
    {"1.2.3.4/-1", 0, 0, 0, NULL},
    {"1.2.3.4/+8", 0, 0, 0, NULL},
    {"1.2.3.4/8/8", 0, 0, 0, NULL},
    {"::1/129", 0, 0, 0, NULL},
    {"fe80::1%eth0", 0, 0, 0, NULL},
    {"localhost", 0, 0, 0, NULL},
    {"1:2:3:4:5:6:7:8:9", 0, 0, 0, NULL},
    {"::ffff:1.2.3.4.5", 0, 0, 0, NULL},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0, 0,
     NULL},
};

static void test_parse_table(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const parse_case_t *c = &parse_cases[i];
        wsg_addr_t a;
        char buf[WSG_ADDR_STRLEN];
        apr_status_t rv = wsg_addr_parse(c->in, &a);
        print_message("parse '%s'\n", c->in);
        if (!c->ok) {
            assert_int_equal(rv, APR_EINVAL);
            continue;
        }
        assert_int_equal(rv, APR_SUCCESS);
        assert_int_equal(a.family, c->family);
        assert_int_equal(a.bits, c->bits);
        assert_string_equal(wsg_addr_format(&a, buf, sizeof(buf)), c->fmt);
        assert_int_equal(wsg_addr_is_prefix(&a), c->family == 4 ? c->bits < 32 : c->bits < 128);
    }
    assert_int_equal(wsg_addr_parse(NULL, &(wsg_addr_t){0}), APR_EINVAL);
}

/* The struct is used as an LMDB key: equal addresses must be equal byte for byte. */
static void test_parse_is_a_key(void **state)
{
    wsg_addr_t a, b;
    (void)state;
    memset(&a, 0xaa, sizeof(a));
    memset(&b, 0x55, sizeof(b));
    assert_int_equal(wsg_addr_parse("::ffff:192.0.2.7", &a), APR_SUCCESS);
    assert_int_equal(wsg_addr_parse("192.0.2.7", &b), APR_SUCCESS);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(wsg_addr_parse("2001:db8::1", &a), APR_SUCCESS);
    assert_int_equal(wsg_addr_parse("2001:0db8:0000::0001", &b), APR_SUCCESS);
    assert_memory_equal(&a, &b, sizeof(a));
}

static void test_prefix(void **state)
{
    static const struct { const char *in, *out; } cases[] = {
        {"1.2.3.4", "1.2.3.0/24"},
        {"::ffff:1.2.3.4", "1.2.3.0/24"},
        {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
        {"2001:db8::1", "2001:db8::/64"},
        {"::1", "::/64"},
        {"10.0.0.0/8", "10.0.0.0/8"},          /* already wider: itself */
        {"2001:db8::/32", "2001:db8::/32"},
        {"1.2.3.0/24", "1.2.3.0/24"},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wsg_addr_t a, p, q;
        char buf[WSG_ADDR_STRLEN];
        assert_int_equal(wsg_addr_parse(cases[i].in, &a), APR_SUCCESS);
        wsg_addr_prefix(&a, &p);
        assert_string_equal(wsg_addr_format(&p, buf, sizeof(buf)), cases[i].out);
        assert_true(wsg_addr_is_prefix(&p) || !wsg_addr_is_prefix(&a) ? 1 : 0);
        /* The formatted prefix parses back to the same key. */
        assert_int_equal(wsg_addr_parse(buf, &q), APR_SUCCESS);
        assert_memory_equal(&p, &q, sizeof(p));
    }
}

static void test_format_edges(void **state)
{
    wsg_addr_t a;
    char small[8];
    char big[WSG_ADDR_STRLEN];
    (void)state;
    assert_int_equal(wsg_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", &a), APR_SUCCESS);
    wsg_addr_format(&a, big, sizeof(big));
    assert_string_equal(big, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
    assert_true(strlen(big) < WSG_ADDR_STRLEN);
    /* Truncated, never overflowed. */
    assert_int_equal(wsg_addr_parse("203.0.113.200", &a), APR_SUCCESS);
    wsg_addr_format(&a, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_string_equal(wsg_addr_format(&a, small, 0), "");
    memset(&a, 0, sizeof(a));
    assert_string_equal(wsg_addr_format(&a, big, sizeof(big)), "");
}

static void test_private(void **state)
{
    static const struct { const char *ip; int priv; } cases[] = {
        {"10.1.2.3", 1}, {"172.16.0.1", 1}, {"172.31.255.255", 1}, {"172.32.0.1", 0},
        {"172.15.255.255", 0}, {"192.168.1.1", 1}, {"127.0.0.1", 1}, {"169.254.1.1", 1},
        {"100.64.0.1", 1}, {"100.127.255.254", 1}, {"100.128.0.1", 0}, {"100.63.255.255", 0},
        {"0.1.2.3", 1}, {"192.0.2.55", 1}, {"198.51.100.1", 1}, {"203.0.113.9", 1},
        {"192.0.3.1", 0}, {"8.8.8.8", 0}, {"1.1.1.1", 0}, {"::ffff:10.0.0.1", 1},
        {"::ffff:8.8.8.8", 0}, {"::1", 1}, {"::", 1}, {"fc00::1", 1}, {"fd12:3456::1", 1},
        {"fe80::1", 1}, {"febf::1", 1}, {"fec0::1", 0}, {"2001:db8::1", 1}, {"2001:db9::1", 0},
        {"2a00:1450:4001::1", 0}, {"10.0.0.0/8", 1}, {"2001:db8::/64", 1},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wsg_addr_t a;
        print_message("private '%s'\n", cases[i].ip);
        assert_int_equal(wsg_addr_parse(cases[i].ip, &a), APR_SUCCESS);
        assert_int_equal(wsg_addr_is_private(&a), cases[i].priv);
    }
    assert_int_equal(wsg_addr_is_private(NULL), 0);
}

static void test_allow(void **state)
{
    apr_pool_t *p = *state;
    wsg_allow_t *al = wsg_allow_make(p);
    const char *err = NULL;
    static const struct { const char *ip; int in; } cases[] = {
        {"192.0.2.1", 1}, {"192.0.2.255", 1}, {"192.0.3.1", 0},
        {"::ffff:192.0.2.9", 1},      /* v4-mapped client, v4 entry */
        {"10.9.8.7", 1},              /* entry written v4-mapped */
        {"::ffff:10.9.8.7", 1},
        {"10.10.0.1", 0},
        {"198.51.100.7", 1}, {"198.51.100.8", 0},
        {"2001:db8:5::1", 1}, {"2001:db8:6::1", 0},
        {"::1", 1}, {"::2", 0},
        {"8.8.8.8", 0},
        {"not-an-ip", 0}, {"localhost", 0}, {"192.0.2.0/24", 0}, {"", 0},
    };
    size_t i;

    assert_int_equal(wsg_allow_test_str(al, p, "192.0.2.1"), 0);      /* empty list */
    assert_int_equal(wsg_allow_add(al, p, "192.0.2.0/24", &err), APR_SUCCESS);
    assert_int_equal(wsg_allow_add(al, p, "::ffff:10.9.0.0/112", &err), APR_SUCCESS);
    assert_int_equal(wsg_allow_add(al, p, "198.51.100.7", &err), APR_SUCCESS);
    assert_int_equal(wsg_allow_add(al, p, "2001:db8:5::/48", &err), APR_SUCCESS);
    assert_int_equal(wsg_allow_add(al, p, "::1", &err), APR_SUCCESS);
    assert_null(err);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("allow '%s'\n", cases[i].ip);
        assert_int_equal(wsg_allow_test_str(al, p, cases[i].ip), cases[i].in);
    }
}

/* A client seen as a v4-mapped sockaddr (dual-stack listener) against every way of writing the
 * entry; and a plain v4 client against a mapped entry. */
static void test_allow_sockaddr_forms(void **state)
{
    apr_pool_t *p = *state;
    apr_sockaddr_t *mapped = NULL, *v4 = NULL;
    const char *entries[] = {"203.0.113.0/24", "::ffff:203.0.113.0/120", "203.0.113.5"};
    size_t i;

    assert_int_equal(apr_sockaddr_info_get(&mapped, "::ffff:203.0.113.5", APR_INET6, 0, 0, p),
                     APR_SUCCESS);
    assert_int_equal(mapped->family, APR_INET6);
    assert_int_equal(apr_sockaddr_info_get(&v4, "203.0.113.5", APR_INET, 0, 0, p), APR_SUCCESS);
    for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        wsg_allow_t *al = wsg_allow_make(p);
        const char *err = NULL;
        print_message("entry '%s'\n", entries[i]);
        assert_int_equal(wsg_allow_add(al, p, entries[i], &err), APR_SUCCESS);
        assert_true(wsg_allow_test(al, mapped));
        assert_true(wsg_allow_test(al, v4));
    }
    assert_false(wsg_allow_test(NULL, v4));
    assert_false(wsg_allow_test(wsg_allow_make(p), v4));
}

static void test_allow_errors(void **state)
{
    apr_pool_t *p = *state;
    wsg_allow_t *al = wsg_allow_make(p);
    const char *bad[] = {"", "10.1", "192.0.2.0/33", "example.com", "1.2.3.4/x", "::1/200",
                         "10.0.0.0/8 ", "*"};
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = NULL;
        print_message("bad '%s'\n", bad[i]);
        assert_int_equal(wsg_allow_add(al, p, bad[i], &err), APR_EINVAL);
        assert_non_null(err);
        if (*bad[i])
            assert_non_null(strstr(err, bad[i]));   /* the message names the offending text */
    }
    assert_int_equal(al->nets->nelts, 0);
}

/* From a socket address the key is the same as from its text: the glue uses the former, the CLI
 * and the allowlist the latter, and both must name one client alike. */
static void test_from_sockaddr(void **state)
{
    static const char *ips[] = { "192.0.2.7", "2001:db8::1", "::ffff:198.51.100.9", "::1" };
    apr_pool_t *p = *state;
    size_t i;

    for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        apr_sockaddr_t *sa;
        wsg_addr_t a, b;
        assert_int_equal(apr_sockaddr_info_get(&sa, ips[i], strchr(ips[i], ':') ? APR_INET6 : APR_INET,
                                               80, 0, p), APR_SUCCESS);
        assert_int_equal(wsg_addr_from_sockaddr(sa, &a), APR_SUCCESS);
        assert_int_equal(wsg_addr_parse(ips[i], &b), APR_SUCCESS);
        assert_memory_equal(&a, &b, sizeof(a));
    }
    assert_int_equal(wsg_addr_from_sockaddr(NULL, &(wsg_addr_t){0}), APR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_is_a_key),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_format_edges),
        cmocka_unit_test(test_private),
        cmocka_unit_test_setup_teardown(test_allow, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_allow_sockaddr_forms, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_allow_errors, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_from_sockaddr, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
