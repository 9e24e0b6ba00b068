/* test_export: the firewall export formats against golden text (fixed records, injected clock),
 * exact CIDR aggregation (checked address by address against the input), and CIDR-to-key
 * expansion for ban/import. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <apr_strings.h>
#include "wsg_test.h"
#include "wsg_export.h"
#include "wsg_event.h"
#include "wsg_store.h"

#define SEC APR_USEC_PER_SEC

static apr_time_t t_now(void)
{
    apr_time_t t;
    assert_int_equal(wsg_event_time_parse("2026-01-02T03:04:05Z", &t), APR_SUCCESS);
    return t;
}

static wsg_export_entry_t entry(const char *a, int bits, apr_time_t until, double score,
                                unsigned flags, const char *src)
{
    wsg_export_entry_t e;
    memset(&e, 0, sizeof(e));
    if (strchr(a, ':')) {
        e.addr.family = 6;
        assert_int_equal(inet_pton(AF_INET6, a, e.addr.bytes), 1);
    }
    else {
        e.addr.family = 4;
        assert_int_equal(inet_pton(AF_INET, a, e.addr.bytes), 1);
    }
    e.addr.bits = (unsigned char)bits;
    e.ban_until = until;
    e.score = score;
    e.flags = flags;
    e.bans = 1;
    if (src)
        strcpy(e.source, src);
    return e;
}

static void add(wsg_export_t *ex, const char *a, int bits, apr_time_t until, double score,
                unsigned flags, const char *src)
{
    wsg_export_entry_t e = entry(a, bits, until, score, flags, src);
    wsg_export_add(ex, &e);
}

/* The fixture behind every golden text: an address with a fractional remainder (rounds up), a
 * banned /24 with a banned address inside (left out: covered), an expired address (left out), a
 * ban 1 us from its end (shows 1 s), an IPv6 address and an imported /64. */
static wsg_export_t *fixture(apr_pool_t *p, apr_time_t now)
{
    wsg_export_t *ex = wsg_export_make(p);
    add(ex, "192.0.2.10", 32, now + 3599 * SEC + 1, 12.25, WSG_RF_SHELL_HIT, NULL);
    add(ex, "198.51.100.0", 24, now + 7200 * SEC, 30, 0, NULL);
    add(ex, "198.51.100.7", 32, now + 9000 * SEC, 8, 0, NULL);
    add(ex, "203.0.113.5", 32, now, 50, 0, NULL);
    add(ex, "192.0.2.1", 32, now + 1, 0, WSG_RF_MANUAL, "by hand");
    add(ex, "2001:db8::1", 128, now + 86400 * SEC, 0.5, WSG_RF_MANUAL, "abuse");
    add(ex, "2001:db8:1::", 64, now + 600 * SEC + SEC / 2, 0, WSG_RF_IMPORTED, "peer-a");
    wsg_export_normalise(ex, now, 0);
    return ex;
}

static char *render(const wsg_export_t *ex, wsg_export_format_t fmt, int family, apr_time_t now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    wsg_export_opts_t o;
    memset(&o, 0, sizeof(o));
    o.generator = "test";
    o.family = family;
    assert_non_null(f);
    assert_int_equal(wsg_export_write(ex, fmt, &o, now, f), APR_SUCCESS);
    fclose(f);
    return buf;
}

static void check_golden(wsg_export_format_t fmt, int family, const char *want, apr_pool_t *p)
{
    apr_time_t now = t_now();
    char *got = render(fixture(p, now), fmt, family, now);
    if (strcmp(got, want))
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want, got);
    assert_string_equal(got, want);
    free(got);
}

static void test_golden_nft(void **state)
{
    check_golden(WSG_EXPORT_NFT, 0,
        "#!/usr/sbin/nft -f\n"
        "# test, format nft at 2026-01-02T03:04:05Z: 3 IPv4, 2 IPv6 entries\n"
        "# 'nft -f FILE' replaces table inet wsguard in one transaction: applying it again is\n"
        "# idempotent and leaves no stale element; the kernel drops each element when its\n"
        "# timeout (the remaining ban, capped at a year) ends.\n"
        "add table inet wsguard\n"
        "delete table inet wsguard\n"
        "table inet wsguard {\n"
        "\tset blocked4 {\n"
        "\t\ttype ipv4_addr\n"
        "\t\tflags interval, timeout\n"
        "\t}\n"
        "\tset blocked6 {\n"
        "\t\ttype ipv6_addr\n"
        "\t\tflags interval, timeout\n"
        "\t}\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority -10; policy accept;\n"
        "\t\tip saddr @blocked4 drop\n"
        "\t\tip6 saddr @blocked6 drop\n"
        "\t}\n"
        "}\n"
        "add element inet wsguard blocked4 {\n"
        "\t192.0.2.1 timeout 1s,\n"
        "\t192.0.2.10 timeout 3600s,\n"
        "\t198.51.100.0/24 timeout 7200s\n"
        "}\n"
        "add element inet wsguard blocked6 {\n"
        "\t2001:db8::1 timeout 86400s,\n"
        "\t2001:db8:1::/64 timeout 601s\n"
        "}\n", *state);
}

/* --set-only touches the sets alone (the admin's chains stay); --hook forward names the chain. */
static void test_nft_set_only_and_forward_hook(void **state)
{
    apr_time_t now = t_now();
    wsg_export_t *ex = fixture(*state, now);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    wsg_export_opts_t o;

    memset(&o, 0, sizeof(o));
    o.name = "filter";
    o.set_only = 1;
    assert_int_equal(wsg_export_write(ex, WSG_EXPORT_NFT, &o, now, f), APR_SUCCESS);
    fclose(f);
    assert_non_null(strstr(buf, "add table inet filter\n"
                                "add set inet filter blocked4 { type ipv4_addr; flags interval, timeout; }\n"
                                "add set inet filter blocked6 { type ipv6_addr; flags interval, timeout; }\n"
                                "flush set inet filter blocked4\n"
                                "flush set inet filter blocked6\n"
                                "add element inet filter blocked4 {\n"));
    assert_null(strstr(buf, "delete table"));
    assert_null(strstr(buf, "hook"));
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    memset(&o, 0, sizeof(o));
    o.hook = "forward";
    assert_int_equal(wsg_export_write(ex, WSG_EXPORT_NFT, &o, now, f), APR_SUCCESS);
    fclose(f);
    assert_non_null(strstr(buf, "\tchain forward {\n\t\ttype filter hook forward priority -10;"));
    assert_null(strstr(buf, "hook input"));
    free(buf);
}

static void test_golden_ipset(void **state)
{
    check_golden(WSG_EXPORT_IPSET, 0,
        "# test, format ipset at 2026-01-02T03:04:05Z: 3 IPv4, 2 IPv6 entries\n"
        "# 'ipset restore < FILE' creates wsguard4 and wsguard6 if missing and replaces their contents\n"
        "# (idempotent). For an atomic switch restore under another name and 'ipset swap'\n"
        "# (scripts/wsguard-fwsync does). Timeouts above 2147483 s (the kernel limit) are capped.\n"
        "create wsguard4 hash:net family inet timeout 0 maxelem 1048576 -exist\n"
        "flush wsguard4\n"
        "add wsguard4 192.0.2.1 timeout 1 -exist\n"
        "add wsguard4 192.0.2.10 timeout 3600 -exist\n"
        "add wsguard4 198.51.100.0/24 timeout 7200 -exist\n"
        "create wsguard6 hash:net family inet6 timeout 0 maxelem 1048576 -exist\n"
        "flush wsguard6\n"
        "add wsguard6 2001:db8::1 timeout 86400 -exist\n"
        "add wsguard6 2001:db8:1::/64 timeout 601 -exist\n", *state);
}

static const char ipt_comment[] =
    "# %s has no per-rule timeouts: bans stay until the next export replaces this chain,\n";

static void test_golden_iptables(void **state)
{
    char c4[256], c6[256];
    snprintf(c4, sizeof(c4), ipt_comment, "iptables");
    snprintf(c6, sizeof(c6), ipt_comment, "ip6tables");
    check_golden(WSG_EXPORT_IPTABLES, 0, apr_pstrcat(*state,
        "# test, format iptables at 2026-01-02T03:04:05Z: 3 IPv4, 0 IPv6 entries\n", c4,
        "# so re-run it (cron / systemd timer) to drop expired bans.\n"
        "# Apply with 'iptables-restore --noflush < FILE' (without --noflush the other chains of the\n"
        "# filter table are flushed too); it replaces chain WSGUARD. Hook it in once:\n"
        "#   iptables -I INPUT -j WSGUARD\n"
        "*filter\n"
        ":WSGUARD - [0:0]\n"
        "-A WSGUARD -s 192.0.2.1/32 -j DROP\n"
        "-A WSGUARD -s 192.0.2.10/32 -j DROP\n"
        "-A WSGUARD -s 198.51.100.0/24 -j DROP\n"
        "COMMIT\n", NULL), *state);
    check_golden(WSG_EXPORT_IPTABLES, 6, apr_pstrcat(*state,
        "# test, format ip6tables at 2026-01-02T03:04:05Z: 0 IPv4, 2 IPv6 entries\n", c6,
        "# so re-run it (cron / systemd timer) to drop expired bans.\n"
        "# Apply with 'ip6tables-restore --noflush < FILE' (without --noflush the other chains of the\n"
        "# filter table are flushed too); it replaces chain WSGUARD. Hook it in once:\n"
        "#   ip6tables -I INPUT -j WSGUARD\n"
        "*filter\n"
        ":WSGUARD - [0:0]\n"
        "-A WSGUARD -s 2001:db8::1/128 -j DROP\n"
        "-A WSGUARD -s 2001:db8:1::/64 -j DROP\n"
        "COMMIT\n", NULL), *state);
}

static void test_golden_pf(void **state)
{
    check_golden(WSG_EXPORT_PF, 0,
        "# test, format pf at 2026-01-02T03:04:05Z: 3 IPv4, 2 IPv6 entries\n"
        "# pf tables have no per-entry timeout: bans stay until the next export replaces the\n"
        "# table, so re-run it to drop expired bans. Include this in pf.conf, with e.g.\n"
        "#   block drop in quick from <wsguard>\n"
        "# (or load '--format plain' into a running pf: pfctl -t wsguard -T replace -f FILE).\n"
        "table <wsguard> persist {\n"
        "\t192.0.2.1,\n"
        "\t192.0.2.10,\n"
        "\t198.51.100.0/24,\n"
        "\t2001:db8::1,\n"
        "\t2001:db8:1::/64\n"
        "}\n", *state);
}

static void test_golden_plain(void **state)
{
    check_golden(WSG_EXPORT_PLAIN, 0,
        "192.0.2.1\n192.0.2.10\n198.51.100.0/24\n2001:db8::1\n2001:db8:1::/64\n", *state);
    check_golden(WSG_EXPORT_PLAIN, 6, "2001:db8::1\n2001:db8:1::/64\n", *state);
}

static void test_golden_json(void **state)
{
    check_golden(WSG_EXPORT_JSON, 0,
        "[\n"
        "  {\"address\":\"192.0.2.1\",\"prefix_len\":32,\"family\":4,"
        "\"ban_until\":\"2026-01-02T03:04:06Z\",\"remaining_s\":1,\"score\":0.0,\"bans\":1,"
        "\"origin\":\"manual\",\"source\":\"by hand\",\"shell_hit\":false},\n"
        "  {\"address\":\"192.0.2.10\",\"prefix_len\":32,\"family\":4,"
        "\"ban_until\":\"2026-01-02T04:04:05Z\",\"remaining_s\":3600,\"score\":12.25,\"bans\":1,"
        "\"origin\":\"policy\",\"source\":null,\"shell_hit\":true},\n"
        "  {\"address\":\"198.51.100.0\",\"prefix_len\":24,\"family\":4,"
        "\"ban_until\":\"2026-01-02T05:04:05Z\",\"remaining_s\":7200,\"score\":30.0,\"bans\":1,"
        "\"origin\":\"policy\",\"source\":null,\"shell_hit\":false},\n"
        "  {\"address\":\"2001:db8::1\",\"prefix_len\":128,\"family\":6,"
        "\"ban_until\":\"2026-01-03T03:04:05Z\",\"remaining_s\":86400,\"score\":0.5,\"bans\":1,"
        "\"origin\":\"manual\",\"source\":\"abuse\",\"shell_hit\":false},\n"
        "  {\"address\":\"2001:db8:1::\",\"prefix_len\":64,\"family\":6,"
        "\"ban_until\":\"2026-01-02T03:14:06Z\",\"remaining_s\":601,\"score\":0.0,\"bans\":1,"
        "\"origin\":\"imported\",\"source\":\"peer-a\",\"shell_hit\":false}\n"
        "]\n", *state);
}

static void test_empty(void **state)
{
    apr_time_t now = t_now();
    wsg_export_t *ex = wsg_export_make(*state);
    char *s;
    add(ex, "192.0.2.1", 32, now - 1, 1, 0, NULL);   /* expired: nothing left */
    wsg_export_normalise(ex, now, 1);
    s = render(ex, WSG_EXPORT_NFT, 0, now);
    assert_non_null(strstr(s, "delete table inet wsguard\n"));
    assert_null(strstr(s, "add element"));   /* nft refuses an empty element list */
    free(s);
    s = render(ex, WSG_EXPORT_PF, 0, now);
    assert_non_null(strstr(s, "\ntable <wsguard> persist\n"));
    free(s);
    s = render(ex, WSG_EXPORT_JSON, 0, now);
    assert_string_equal(s, "[]\n");
    free(s);
    s = render(ex, WSG_EXPORT_PLAIN, 0, now);
    assert_string_equal(s, "");
    free(s);
}

static void test_remaining(void **state)
{
    (void)state;
    apr_time_t now = t_now();
    assert_int_equal(wsg_export_remaining(now + 1, now), 1);
    assert_int_equal(wsg_export_remaining(now + SEC, now), 1);
    assert_int_equal(wsg_export_remaining(now + SEC + 1, now), 2);
    assert_int_equal(wsg_export_remaining(now + 3599 * SEC + SEC / 2, now), 3600);
    assert_int_equal(wsg_export_remaining(now, now), 1);   /* callers skip these; never 0 */
}

static void test_timeout_caps_and_names(void **state)
{
    apr_time_t now = t_now();
    wsg_export_t *ex = wsg_export_make(*state);
    wsg_export_opts_t o;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    add(ex, "192.0.2.1", 32, now + 400LL * 86400 * SEC, 1, 0, NULL);
    wsg_export_normalise(ex, now, 0);
    memset(&o, 0, sizeof(o));
    o.name = "wsg-new";
    o.family = 4;
    f = open_memstream(&buf, &len);
    assert_int_equal(wsg_export_write(ex, WSG_EXPORT_IPSET, &o, now, f), APR_SUCCESS);
    fclose(f);
    assert_non_null(strstr(buf, "add wsg-new4 192.0.2.1 timeout 2147483 -exist\n"));
    assert_null(strstr(buf, "wsg-new6"));   /* --family 4 */
    free(buf);
    buf = render(ex, WSG_EXPORT_NFT, 0, now);   /* nft's parser refuses ~10^9 s */
    assert_non_null(strstr(buf, "\t192.0.2.1 timeout 31536000s\n"));
    free(buf);
}

static void test_format_parse(void **state)
{
    (void)state;
    wsg_export_format_t f;
    int fam = 0;
    assert_int_equal(wsg_export_format_parse("nft", &f, &fam), APR_SUCCESS);
    assert_int_equal(f, WSG_EXPORT_NFT);
    assert_int_equal(fam, 0);
    assert_int_equal(wsg_export_format_parse("ip6tables", &f, &fam), APR_SUCCESS);
    assert_int_equal(f, WSG_EXPORT_IPTABLES);
    assert_int_equal(fam, 6);
    assert_int_equal(wsg_export_format_parse("csv", &f, &fam), APR_EINVAL);
}

static void test_iso8601(void **state)
{
    (void)state;
    apr_time_t t;
    char buf[32];
    /* The export writes whole seconds; what it writes reads back (wsg_event_time_parse). */
    assert_int_equal(wsg_event_time_parse("2026-01-02T03:04:05.250Z", &t), APR_SUCCESS);
    assert_string_equal(wsg_export_iso8601(t, buf, sizeof(buf)), "2026-01-02T03:04:05Z");
    assert_int_equal(wsg_event_time_parse(wsg_export_iso8601(t, buf, sizeof(buf)), &t), APR_SUCCESS);
    assert_string_equal(wsg_export_iso8601(t, buf, sizeof(buf)), "2026-01-02T03:04:05Z");
}

/* ---- aggregation ---- */

static apr_uint32_t v4(const wsg_export_entry_t *e)
{
    return ((apr_uint32_t)e->addr.bytes[0] << 24) | ((apr_uint32_t)e->addr.bytes[1] << 16)
           | ((apr_uint32_t)e->addr.bytes[2] << 8) | e->addr.bytes[3];
}

static void test_aggregate_simple(void **state)
{
    apr_time_t now = t_now();
    wsg_export_t *ex = wsg_export_make(*state);
    char *s;
    int i;
    char a[32];

    for (i = 0; i < 6; i++) {            /* 10.0.0.0-5: a /30 and a /31 */
        snprintf(a, sizeof(a), "10.0.0.%d", i);
        add(ex, a, 32, now + (100 + i) * SEC, i, 0, NULL);
    }
    for (i = 0; i < 256; i++) {          /* a whole /24 of addresses */
        snprintf(a, sizeof(a), "10.1.2.%d", i);
        add(ex, a, 32, now + 500 * SEC, 1, 0, NULL);
    }
    add(ex, "10.1.3.0", 24, now + 50 * SEC, 1, 0, NULL);   /* its sibling prefix: a /23 */
    add(ex, "10.0.0.7", 32, now + 10 * SEC, 1, 0, NULL);   /* .6 missing: stays alone */
    add(ex, "2001:db8:0:2::", 64, now + 70 * SEC, 1, 0, NULL);
    add(ex, "2001:db8:0:3::", 64, now + 80 * SEC, 1, 0, NULL);
    wsg_export_normalise(ex, now, 1);
    s = render(ex, WSG_EXPORT_NFT, 0, now);
    assert_non_null(strstr(s, "add element inet wsguard blocked4 {\n"
                              "\t10.0.0.0/30 timeout 100s,\n"
                              "\t10.0.0.4/31 timeout 104s,\n"
                              "\t10.0.0.7 timeout 10s,\n"
                              "\t10.1.2.0/23 timeout 50s\n"
                              "}\n"
                              "add element inet wsguard blocked6 {\n"
                              "\t2001:db8:0:2::/63 timeout 70s\n"
                              "}\n"));
    free(s);
}

/* Random subsets of a /22, some entries given as /24 or /28 CIDRs: after aggregation every address
 * is covered exactly when it was banned, the output is disjoint, sorted, and has no two siblings
 * left unmerged (so it is the smallest exact set of CIDRs). */
static void test_aggregate_exact_random(void **state)
{
    apr_time_t now = t_now();
    int round;
    srand(12345);
    for (round = 0; round < 200; round++) {
        static unsigned char banned[1024];
        wsg_export_t *ex = wsg_export_make(*state);
        const wsg_export_entry_t *v;
        int i, density = rand() % 100;
        apr_uint32_t base = 0x0A000000u, prev_end = 0;
        char a[32];

        memset(banned, 0, sizeof(banned));
        for (i = 0; i < 1024; i++) {
            if (rand() % 100 < density) {
                banned[i] = 1;
                snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
                add(ex, a, 32, now + (1 + rand() % 1000) * SEC, 1, 0, NULL);
            }
        }
        if (round % 3 == 0) {            /* a banned /24 and a /28 among them */
            add(ex, "10.0.1.0", 24, now + 60 * SEC, 1, 0, NULL);
            memset(banned + 256, 1, 256);
            add(ex, "10.0.3.16", 28, now + 60 * SEC, 1, 0, NULL);
            memset(banned + 3 * 256 + 16, 1, 16);
        }
        if (round % 5 == 0) {            /* expired entries must not count */
            add(ex, "10.0.2.200", 32, now, 1, 0, NULL);
        }
        wsg_export_normalise(ex, now, 1);
        v = (const wsg_export_entry_t *)ex->v4->elts;
        {
            static unsigned char covered[1024];
            memset(covered, 0, sizeof(covered));
            for (i = 0; i < ex->v4->nelts; i++) {
                apr_uint32_t start = v4(&v[i]) - base, size = 1u << (32 - v[i].addr.bits), k;
                assert_true(start + size <= 1024);
                assert_int_equal(start % size, 0);                 /* aligned CIDR */
                assert_true(i == 0 || start >= prev_end);          /* sorted, disjoint */
                prev_end = start + size;
                for (k = start; k < start + size; k++)
                    covered[k] = 1;
                if (i > 0 && v[i - 1].addr.bits == v[i].addr.bits) {
                    apr_uint32_t ps = v4(&v[i - 1]) - base;
                    /* siblings would have been merged */
                    assert_false(ps + size == start && ps % (2 * size) == 0);
                }
            }
            for (i = 0; i < 1024; i++) {
                if (round % 5 == 0 && i == 2 * 256 + 200 && !banned[i])
                    assert_int_equal(covered[i], 0);
                assert_int_equal(covered[i], banned[i]);
            }
        }
    }
}

/* A merged entry ends with its earliest member; a covered address keeps no say. */
static void test_aggregate_times(void **state)
{
    apr_time_t now = t_now();
    wsg_export_t *ex = wsg_export_make(*state);
    const wsg_export_entry_t *v;
    add(ex, "192.0.2.0", 32, now + 300 * SEC, 1, 0, "a");
    add(ex, "192.0.2.1", 32, now + 100 * SEC, 9, WSG_RF_SHELL_HIT, "a");
    add(ex, "198.51.100.0", 24, now + 50 * SEC, 1, 0, NULL);
    add(ex, "198.51.100.9", 32, now + 5000 * SEC, 1, 0, NULL);
    wsg_export_normalise(ex, now, 1);
    assert_int_equal(ex->v4->nelts, 2);
    v = (const wsg_export_entry_t *)ex->v4->elts;
    assert_int_equal(v[0].addr.bits, 31);
    assert_true(v[0].ban_until == now + 100 * SEC);
    assert_true(v[0].score == 9);
    assert_true(v[0].flags & WSG_RF_SHELL_HIT);
    assert_string_equal(v[0].source, "a");
    assert_int_equal(v[1].addr.bits, 24);
    assert_true(v[1].ban_until == now + 50 * SEC);
}

/* Without --aggregate nothing is merged, but covered entries still go (nft refuses overlaps). */
static void test_no_merge_without_aggregate(void **state)
{
    apr_time_t now = t_now();
    wsg_export_t *ex = wsg_export_make(*state);
    add(ex, "192.0.2.0", 32, now + 300 * SEC, 1, 0, NULL);
    add(ex, "192.0.2.1", 32, now + 300 * SEC, 1, 0, NULL);
    add(ex, "192.0.2.1", 32, now + 300 * SEC, 1, 0, NULL);       /* duplicate */
    add(ex, "2001:db8::", 64, now + 300 * SEC, 1, 0, NULL);
    add(ex, "2001:db8::5", 128, now + 300 * SEC, 1, 0, NULL);    /* inside the /64 */
    wsg_export_normalise(ex, now, 0);
    assert_int_equal(ex->v4->nelts, 2);
    assert_int_equal(ex->v6->nelts, 1);
}

/* ---- CIDR -> store keys ---- */

static void check_keys(apr_pool_t *p, const char *cidr, int nkeys, int keybits, const char *first,
                       const char *last)
{
    wsg_export_entry_t e;
    apr_array_header_t *keys;
    const char *err = NULL, *slash = strchr(cidr, '/');
    char addr[64], buf[64];
    wsg_addr_t k;

    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - cidr), cidr);
    e = entry(addr, atoi(slash + 1), 0, 0, 0, NULL);
    assert_int_equal(wsg_export_cidr_keys(p, &e.addr, 4096, &keys, &err), APR_SUCCESS);
    assert_int_equal(keys->nelts, nkeys);
    k = APR_ARRAY_IDX(keys, 0, wsg_addr_t);
    assert_int_equal(k.bits, keybits);
    assert_string_equal(inet_ntop(k.family == 4 ? AF_INET : AF_INET6, k.bytes, buf, sizeof(buf)),
                        first);
    k = APR_ARRAY_IDX(keys, nkeys - 1, wsg_addr_t);
    assert_string_equal(inet_ntop(k.family == 4 ? AF_INET : AF_INET6, k.bytes, buf, sizeof(buf)),
                        last);
}

static void test_cidr_keys(void **state)
{
    wsg_export_entry_t e;
    apr_array_header_t *keys;
    const char *err = NULL;

    check_keys(*state, "192.0.2.7/32", 1, 32, "192.0.2.7", "192.0.2.7");
    check_keys(*state, "192.0.2.0/24", 1, 24, "192.0.2.0", "192.0.2.0");
    check_keys(*state, "192.0.2.4/30", 4, 32, "192.0.2.4", "192.0.2.7");
    check_keys(*state, "10.0.4.0/22", 4, 24, "10.0.4.0", "10.0.7.0");
    check_keys(*state, "2001:db8::/62", 4, 64, "2001:db8::", "2001:db8:0:3::");
    check_keys(*state, "2001:db8::/126", 4, 128, "2001:db8::", "2001:db8::3");

    e = entry("10.0.0.0", 8, 0, 0, 0, NULL);
    assert_int_equal(wsg_export_cidr_keys(*state, &e.addr, 4096, &keys, &err), APR_EINVAL);
    assert_string_equal(err, "10.0.0.0/8 stands for 65536 prefix records (at most 4096 here): the "
                             "module keeps records of addresses and /24 prefixes only; give a "
                             "narrower CIDR");
    e = entry("2001:db8::", 0, 0, 0, 0, NULL);
    assert_int_equal(wsg_export_cidr_keys(*state, &e.addr, 4096, &keys, &err), APR_EINVAL);
    assert_non_null(strstr(err, "more than 4 billion prefix records"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_golden_nft, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_nft_set_only_and_forward_hook, wsg_test_pool_setup,
                                        wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_golden_ipset, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_golden_iptables, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_golden_pf, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_golden_plain, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_golden_json, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_empty, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_caps_and_names, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test(test_remaining),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test_setup_teardown(test_aggregate_simple, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_aggregate_exact_random, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_aggregate_times, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_no_merge_without_aggregate, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_cidr_keys, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
