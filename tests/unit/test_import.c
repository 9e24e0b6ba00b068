/* test_import: every import format, the caps (entries, range width, ban length, file and line
 * size), numbers that would overflow a time, the 200 KB comma line (linear memory), the /12 feed,
 * and the control-byte escaping shared with the outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <apr_strings.h>
#include "wsg_test.h"
#include "wsg_import.h"
#include "wsg_event.h"
#include "wsg_util.h"

#define SEC APR_USEC_PER_SEC
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)

static apr_time_t t_now(void)
{
    apr_time_t t;
    assert_int_equal(wsg_event_time_parse("2026-01-02T03:04:05Z", &t), APR_SUCCESS);
    return t;
}

static wsg_import_opts_t opts(void)
{
    wsg_import_opts_t o;
    memset(&o, 0, sizeof(o));
    o.now = t_now();
    o.dflt = HOUR;
    o.max = 7 * DAY;
    return o;
}

static wsg_import_result_t *parse_o(apr_pool_t *p, const char *text, const wsg_import_opts_t *o,
                                    apr_status_t want)
{
    wsg_import_result_t *r = NULL;
    const char *err = NULL;
    apr_status_t rv = wsg_import_parse(p, text, strlen(text), o, &r, &err);
    if (rv != want)
        fail_msg("parse -> %d (want %d): %s", rv, want, err ? err : "");
    assert_non_null(r);
    return r;
}

static wsg_import_result_t *parse(apr_pool_t *p, const char *text)
{
    wsg_import_opts_t o = opts();
    return parse_o(p, text, &o, APR_SUCCESS);
}

static const wsg_import_entry_t *ent(const wsg_import_result_t *r, int i)
{
    assert_true(i < r->entries->nelts);
    return &APR_ARRAY_IDX(r->entries, i, wsg_import_entry_t);
}

static const char *addr(apr_pool_t *p, const wsg_import_entry_t *e)
{
    char buf[WSG_ADDR_STRLEN];
    wsg_addr_format(&e->cidr, buf, sizeof(buf));
    if (e->cidr.bits != 32 && e->cidr.bits != 128 && !strchr(buf, '/'))
        return apr_psprintf(p, "%s/%d", buf, e->cidr.bits);
    return apr_pstrdup(p, buf);
}

static int has_msg(const wsg_import_result_t *r, unsigned line, const char *part)
{
    for (int i = 0; i < r->msgs->nelts; i++) {
        const wsg_import_msg_t *m = &APR_ARRAY_IDX(r->msgs, i, wsg_import_msg_t);
        if (m->line == line && strstr(m->text, part))
            return 1;
    }
    return 0;
}

/* ---- formats ---- */

static void test_json_export(void **state)
{
    apr_pool_t *p = *state;
    const char *text =
        "[\n"
        "  {\"address\":\"45.20.0.1\",\"prefix_len\":32,\"ban_until\":\"2026-01-02T05:04:05Z\","
        "\"remaining_s\":5,\"source\":\"peer\"},\n"
        "\n"
        "  {\"address\":\"45.20.1.0\",\"prefix_len\":24,\"remaining_s\":900},\n"
        "  {\"address\":\"45.20.0.3\",\"prefix_len\":32,\"ban_unt\n"
        "  {\"address\":\"45.20.0.5\",\"ban_until\":\"yesterday\"},\n"
        "  {\"address\":\"45.20.0.6\",\"ban_until\":\"2020-01-01T00:00:00Z\"}\n"
        "]\n";
    wsg_import_result_t *r = parse(p, text);
    assert_int_equal(r->format, WSG_IMPORT_JSON_EXPORT);
    assert_int_equal(r->entries->nelts, 2);
    assert_string_equal(addr(p, ent(r, 0)), "45.20.0.1");
    assert_true(ent(r, 0)->until == t_now() + 2 * HOUR);        /* ban_until beats remaining_s */
    assert_string_equal(ent(r, 0)->source, "peer");
    assert_int_equal(ent(r, 0)->line, 2);
    assert_string_equal(addr(p, ent(r, 1)), "45.20.1.0/24");
    assert_true(ent(r, 1)->until == t_now() + 900 * SEC);
    assert_int_equal(ent(r, 1)->line, 4);                       /* the blank line 3 counts */
    assert_true(has_msg(r, 5, "invalid JSON"));
    assert_true(has_msg(r, 6, "bad \"ban_until\" for '45.20.0.5'"));
    assert_int_equal(r->invalid, 2);
    assert_int_equal(r->expired, 1);
    assert_int_equal(r->seen, 5);
    assert_int_equal(r->unclosed, 0);
    r = parse(p, "[\n{\"address\":\"45.20.0.9\"}\n");
    assert_int_equal(r->unclosed, 1);
    assert_int_equal(r->entries->nelts, 1);
    assert_true(ent(r, 0)->until == t_now() + HOUR);            /* no time: dflt */
}

static void test_json_report_stix_misp(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_result_t *r;

    r = parse(p, "{\"generator\":\"x\",\"clients\":[{\"address\":\"45.1.0.1\",\"tags\":[\"php-shell\"],"
                 "\"ban_until\":\"2026-01-02T04:04:05Z\"},{\"address\":\"45.1.0.2\"}]}");
    assert_int_equal(r->format, WSG_IMPORT_JSON_REPORT);
    assert_int_equal(r->entries->nelts, 2);
    assert_string_equal(ent(r, 0)->reason, "php-shell");
    assert_true(ent(r, 0)->until == t_now() + HOUR);

    r = parse(p, "{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":["
                 "{\"type\":\"identity\",\"name\":\"peer\"},"
                 "{\"type\":\"indicator\",\"name\":\"scanner\",\"pattern\":\"[ipv4-addr:value = "
                 "'45.18.0.1']\",\"valid_until\":\"2026-01-02T06:04:05.000Z\"},"
                 "{\"type\":\"indicator\",\"pattern\":\"[ipv6-addr:value = '2a05:d000:18::1'] OR "
                 "[ipv4-addr:value='45.18.0.0/24'] OR [ipv4-addr:value = '45.18.0.9\"}]}");
    assert_int_equal(r->format, WSG_IMPORT_STIX);
    assert_int_equal(r->entries->nelts, 3);
    assert_string_equal(addr(p, ent(r, 0)), "45.18.0.1");
    assert_string_equal(ent(r, 0)->reason, "scanner");
    assert_true(ent(r, 0)->until == t_now() + 3 * HOUR);
    assert_string_equal(addr(p, ent(r, 1)), "2a05:d000:18::1");
    assert_string_equal(addr(p, ent(r, 2)), "45.18.0.0/24");
    assert_int_equal(ent(r, 2)->line, 3);

    r = parse(p, "{\"Event\":{\"info\":\"x\",\"Orgc\":{\"name\":\"CSIRT\"},\"Attribute\":["
                 "{\"type\":\"ip-src\",\"value\":\"45.19.0.1\",\"comment\":\"probe\"},"
                 "{\"type\":\"url\",\"value\":\"/x.php\"},{\"type\":\"ip-src\",\"value\":\"x\"}]}}");
    assert_int_equal(r->format, WSG_IMPORT_MISP);
    assert_int_equal(r->entries->nelts, 1);
    assert_string_equal(ent(r, 0)->source, "CSIRT");
    assert_string_equal(ent(r, 0)->reason, "probe");
    assert_true(has_msg(r, 3, "not an IP address or CIDR: 'x'"));

    /* JSON of another kind, and a broken document: whole-file errors */
    {
        wsg_import_opts_t o = opts();
        const char *err = NULL;
        assert_int_equal(wsg_import_parse(p, "{\"a\":1}", 7, &o, &r, &err), APR_EINVAL);
        assert_non_null(strstr(err, "neither"));
        assert_int_equal(wsg_import_parse(p, "\n{\"type\": \"bundle\",\n \"objects\": [}\n", 34, &o,
                                          &r, &err), APR_EINVAL);
        assert_true(!strncmp(err, "3:", 2));                    /* line 3 of the file */
    }
}

static void test_csv_and_plain(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_result_t *r;

    r = parse(p, "address,family,tags,user_agents,ban_until\r\n"
                 "45.17.0.1,ipv4,php-shell,\"curl, \"\"quoted\"\"\",2026-01-02T04:04:05Z\r\n"
                 "45.17.0.2,ipv4,,,\r\n"
                 "not-an-address,ipv4\r\n"
                 "45.17.0.3,ipv4,,,never\r\n");
    assert_int_equal(r->format, WSG_IMPORT_CSV);
    assert_int_equal(r->entries->nelts, 2);
    assert_true(ent(r, 0)->until == t_now() + HOUR);
    assert_string_equal(ent(r, 0)->reason, "php-shell");
    assert_true(ent(r, 1)->until == t_now() + HOUR);
    assert_true(has_msg(r, 4, "not an IP address or CIDR: 'not-an-address'"));
    assert_true(has_msg(r, 5, "bad ban_until: 'never'"));

    r = parse(p, "\xef\xbb\xbf# blocklist\n45.16.0.1\n\nbogus\n45.16.0.0/24   # a comment\n"
                 "2a05:d000:16::9 12 hits\n45.16.0.300\n10.1.2.3\n");
    assert_int_equal(r->format, WSG_IMPORT_PLAIN);
    assert_int_equal(r->entries->nelts, 3);
    assert_int_equal(r->seen, 6);
    assert_int_equal(r->invalid, 2);
    assert_int_equal(r->private_skipped, 1);
    assert_true(has_msg(r, 4, "'bogus'"));
    assert_true(has_msg(r, 8, "10.1.2.3 is a private"));

    r = parse(p, "1.2.3.4,x\n");             /* a plain list with commas after the address */
    assert_int_equal(r->entries->nelts, 1);
    r = parse(p, "name,value\n45.1.1.1,x\n");
    assert_int_equal(r->entries->nelts, 0);
    assert_true(has_msg(r, 1, "a CSV header without an 'address' column"));
    r = parse(p, "");
    assert_int_equal(r->format, WSG_IMPORT_NONE);
}

/* ---- caps ---- */

static void test_caps_entries_and_width(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_opts_t o = opts();
    wsg_import_result_t *r;
    char *buf = malloc(20 * 12000 + 1), *w = buf;
    int i;

    for (i = 0; i < 12000; i++)
        w += sprintf(w, "45.%d.%d.1\n", 100 + i / 256, i % 256);
    r = parse_o(p, buf, &o, APR_SUCCESS);
    assert_int_equal(r->entries->nelts, WSG_IMPORT_MAX_ENTRIES);
    assert_int_equal(r->over_limit, 2000);
    assert_true(has_msg(r, 10001, "more than 10000 entries"));
    o.max_entries = 5;
    r = parse_o(p, buf, &o, APR_SUCCESS);
    assert_int_equal(r->entries->nelts, 5);
    assert_int_equal(r->over_limit, 11995);
    free(buf);

    /* the feed that filled a store: /12 ranges banned until 2999 -> refused by width */
    o = opts();
    r = parse(p, "[\n{\"address\":\"45.16.0.0\",\"prefix_len\":12,\"ban_until\":\"2999-01-01T00:00:00Z\"},\n"
                 "{\"address\":\"45.32.0.0/12\",\"ban_until\":\"2999-01-01T00:00:00Z\"},\n"
                 "{\"address\":\"45.48.0.0\",\"prefix_len\":16,\"ban_until\":\"2999-01-01T00:00:00Z\"},\n"
                 "{\"address\":\"2a05::\",\"prefix_len\":48},\n"
                 "{\"address\":\"2a05::\",\"prefix_len\":56},\n"
                 "{\"address\":\"45.0.0.0\",\"prefix_len\":4096}\n]\n");
    assert_int_equal(r->entries->nelts, 2);
    assert_true(has_msg(r, 2, "a range wider than /16 refused: '45.16.0.0/12'"));
    assert_true(has_msg(r, 3, "a range wider than /16 refused"));
    assert_true(has_msg(r, 5, "a range wider than /56 refused"));
    assert_true(has_msg(r, 7, "bad \"prefix_len\""));
    assert_string_equal(addr(p, ent(r, 0)), "45.48.0.0/16");
    assert_true(ent(r, 0)->until == t_now() + 7 * DAY);         /* 2999 capped at --max */
    assert_true(ent(r, 0)->capped);
    assert_int_equal(r->capped, 1);
    assert_string_equal(addr(p, ent(r, 1)), "2a05::/56");
    r = parse(p, "45.16.0.0/12\n45.16.0.0/15\n45.16.0.0/16\n");
    assert_int_equal(r->entries->nelts, 1);
    assert_int_equal(r->invalid, 2);
}

static void test_caps_ban_length(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_opts_t o = opts();
    wsg_import_result_t *r;

    o.max = DAY;
    o.dflt = 2 * DAY;                                           /* --for beyond --max: --max */
    r = parse_o(p, "45.1.0.1\n", &o, APR_SUCCESS);
    assert_true(ent(r, 0)->until == t_now() + DAY);
    r = parse_o(p, "address,ban_until\n45.1.0.1,9999-12-31T23:59:59Z\n", &o, APR_SUCCESS);
    assert_true(ent(r, 0)->until == t_now() + DAY && ent(r, 0)->capped);
    r = parse_o(p, "address,ban_until\n45.1.0.1,1970-01-01\n45.1.0.2,0000-01-01\n", &o,
                APR_SUCCESS);
    assert_int_equal(r->entries->nelts, 0);
    assert_int_equal(r->expired + r->invalid, 2);
    assert_true(r->expired >= 1);
    o.max = 0;                                                  /* no --max: the hard cap */
    r = parse_o(p, "address,ban_until\n45.1.0.1,9999-12-31T23:59:59Z\n", &o, APR_SUCCESS);
    assert_true(ent(r, 0)->until == t_now() + WSG_IMPORT_MAX_BAN);
}

/* Numbers that overflow a time: each gives an error or a capped end, never a wrap. */
static void test_overflow_remaining(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_result_t *r;
    apr_time_t u = 0;
    int capped = 0;

    r = parse(p, "[\n"
                 "{\"address\":\"45.2.0.1\",\"remaining_s\":9223372036854775807},\n"
                 "{\"address\":\"45.2.0.2\",\"remaining_s\":-1},\n"
                 "{\"address\":\"45.2.0.3\",\"remaining_s\":1e300},\n"
                 "{\"address\":\"45.2.0.4\",\"remaining_s\":\"99999999999999999999\"},\n"
                 "{\"address\":\"45.2.0.5\",\"remaining_s\":99999999999999999999},\n"
                 "{\"address\":\"45.2.0.6\",\"remaining_s\":-9223372036854775808},\n"
                 "{\"address\":\"45.2.0.7\",\"remaining_s\":0},\n"
                 "{\"address\":\"45.2.0.8\",\"remaining_s\":9223372036854},\n"
                 "{\"address\":\"45.2.0.9\",\"remaining_s\":1.5}\n"
                 "]\n");
    assert_int_equal(r->entries->nelts, 4);
    assert_string_equal(addr(p, ent(r, 0)), "45.2.0.1");
    assert_true(ent(r, 0)->until == t_now() + 7 * DAY && ent(r, 0)->capped);
    assert_string_equal(addr(p, ent(r, 1)), "45.2.0.3");
    assert_true(ent(r, 1)->until == t_now() + 7 * DAY && ent(r, 1)->capped);
    assert_string_equal(addr(p, ent(r, 2)), "45.2.0.8");
    assert_true(ent(r, 2)->until == t_now() + 7 * DAY);
    assert_true(ent(r, 3)->until == t_now() + 2 * SEC);        /* a fraction rounds up */
    assert_true(has_msg(r, 3, "bad \"remaining_s\" for '45.2.0.2'"));
    assert_true(has_msg(r, 5, "bad \"remaining_s\" for '45.2.0.4'"));
    assert_true(has_msg(r, 6, "invalid JSON"));               /* jansson: too big an integer */
    assert_true(has_msg(r, 7, "bad \"remaining_s\""));
    assert_true(has_msg(r, 8, "bad \"remaining_s\""));
    assert_int_equal(r->invalid, 5);

    /* the same as one document */
    r = parse(p, "{\"clients\":[{\"address\":\"45.2.0.1\",\"remaining_s\":9223372036854775807}]}");
    assert_true(ent(r, 0)->until == t_now() + 7 * DAY);

    /* the checked conversion itself, at its edges */
    assert_int_equal(wsg_import_until_from_secs(0, t_now(), DAY, &u, &capped), APR_EINVAL);
    assert_int_equal(wsg_import_until_from_secs(-1, t_now(), DAY, &u, &capped), APR_EINVAL);
    assert_int_equal(wsg_import_until_from_secs(APR_INT64_MIN, t_now(), DAY, &u, &capped),
                     APR_EINVAL);
    assert_int_equal(wsg_import_until_from_secs(APR_INT64_MAX, t_now(), DAY, &u, &capped),
                     APR_SUCCESS);
    assert_true(u == t_now() + DAY && capped);
    capped = 0;
    assert_int_equal(wsg_import_until_from_secs(86400, t_now(), DAY, &u, &capped), APR_SUCCESS);
    assert_true(u == t_now() + DAY && !capped);
    assert_int_equal(wsg_import_until_from_secs(86401, t_now(), DAY, &u, &capped), APR_SUCCESS);
    assert_true(u == t_now() + DAY && capped);
    assert_int_equal(wsg_import_until_from_secs(APR_INT64_MAX, t_now(), APR_INT64_MAX, &u,
                                                &capped), APR_SUCCESS);
    assert_true(u == t_now() + WSG_IMPORT_MAX_BAN);
}

/* Bytes malloc has handed out (0 under ASan, whose allocator keeps its own books: the bound is
 * then checked by the plain build only). The pools take their blocks from malloc. */
static apr_size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* The 200 KB line of commas (it crashed the old quadratic splitter): refused by the line limit,
 * and a line just under the limit is split in memory linear in its length. */
static void test_long_comma_line(void **state)
{
    apr_pool_t *p = *state, *sub;
    wsg_import_opts_t o = opts();
    wsg_import_result_t *r;
    const char *err;
    apr_size_t n = 200 * 1024, used, before;
    char *buf = malloc(n + 64);

    memcpy(buf, "address,ban_until\n", 18);
    memset(buf + 18, ',', n);
    strcpy(buf + 18 + n, "\n45.3.0.1,\n");
    r = parse_o(p, buf, &o, APR_SUCCESS);
    assert_int_equal(r->format, WSG_IMPORT_CSV);
    assert_true(has_msg(r, 2, "a line longer than 65536 bytes"));
    assert_int_equal(r->entries->nelts, 1);

    /* as the first line (no header yet) */
    r = parse_o(p, buf + 18, &o, APR_SUCCESS);
    assert_true(has_msg(r, 1, "a line longer than"));

    /* just under the line limit: too many columns, and the pool stays small (linear) */
    memset(buf + 18, ',', 60000);
    strcpy(buf + 18 + 60000, "\n45.3.0.1,\n");
    before = heap_used();
    apr_pool_create(&sub, p);
    assert_int_equal(wsg_import_parse(sub, buf, strlen(buf), &o, &r, &err), APR_SUCCESS);
    assert_true(has_msg(r, 2, "more than 256 columns"));
    assert_int_equal(r->entries->nelts, 1);
    /* scratch for one line twice (max_line each) plus the column table and the messages:
     * bounded by a constant plus the line limit, not by the square of the line */
    used = heap_used() - before;
    assert_true(used < 4 * WSG_IMPORT_MAX_LINE + 256 * 1024);
    apr_pool_destroy(sub);

    /* a 200 KB comma line under a raised line limit splits in linear memory too */
    o.max_line = 300 * 1024;
    memset(buf + 18, ',', n);
    strcpy(buf + 18 + n, "\n45.3.0.1,\n");
    before = heap_used();
    apr_pool_create(&sub, p);
    assert_int_equal(wsg_import_parse(sub, buf, strlen(buf), &o, &r, &err), APR_SUCCESS);
    assert_true(has_msg(r, 2, "more than 256 columns"));
    assert_true(heap_used() - before < 4 * o.max_line + 256 * 1024);
    apr_pool_destroy(sub);
    free(buf);
}

static void test_file_limits(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_opts_t o = opts();
    wsg_import_result_t *r;
    const char *err = NULL;

    o.max_file = 16;
    assert_int_equal(wsg_import_parse(p, "45.1.0.1\n45.1.0.2\n", 18, &o, &r, &err), APR_EINVAL);
    assert_non_null(strstr(err, "more than the 16"));
    o.max_file = 0;
    assert_int_equal(wsg_import_parse(p, "45.1.0.1\n\0x", 11, &o, &r, &err), APR_EINVAL);
    assert_non_null(strstr(err, "not a text file"));
    /* a line too long in the line-structured JSON export */
    {
        apr_size_t n = 70 * 1024;
        char *buf = malloc(n + 64);
        apr_size_t head;
        strcpy(buf, "[\n{\"address\":\"45.1.0.1\",\"x\":\"");
        head = strlen(buf);
        memset(buf + head, 'a', n);
        strcpy(buf + head + n, "\"}\n{\"address\":\"45.1.0.2\"}\n]\n");
        r = parse_o(p, buf, &o, APR_SUCCESS);
        assert_true(has_msg(r, 2, "a line longer than"));
        assert_int_equal(r->entries->nelts, 1);
        free(buf);
    }
}

/* Foreign text in messages, sources and reasons comes back with control bytes escaped. */
static void test_escaping(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_result_t *r;
    const wsg_import_msg_t *m;

    r = parse(p, "[\n{\"address\":\"45.4.0.1\",\"source\":\"a\\u001b[2Jb\",\"reason\":\"x\\r\\ny\\u007f\"},\n"
                 "{\"address\":\"bad\\u001b]0;owned\\u0007\"}\n]\n");
    assert_string_equal(ent(r, 0)->source, "a\\x1b[2Jb");
    assert_string_equal(ent(r, 0)->reason, "x\\x0d\\x0ay\\x7f");
    m = &APR_ARRAY_IDX(r->msgs, 0, wsg_import_msg_t);
    assert_string_equal(m->text, "not an IP address or CIDR: 'bad\\x1b]0;owned\\x07'");

    assert_string_equal(wsg_escape_ctl(p, "a\\b\tc", 5, 0, WSG_ESC_BACKSLASH), "a\\x5cb\\x09c");
    assert_string_equal(wsg_escape_ctl(p, "a\\b\tc", 5, 0, 0), "a\\b\\x09c");
    assert_string_equal(wsg_escape_ctl(p, "/a\r\n\x1b\x7f", 6, 0, WSG_ESC_PERCENT), "/a%0D%0A%1B%7F");
    assert_string_equal(wsg_escape_ctl(p, "ab\x01", 3, 4, 0), "ab");    /* no half escape */
    assert_string_equal(wsg_escape_ctl(p, "\x00z", 2, 0, 0), "\\x00z");
    assert_true(wsg_has_ctl("a\x7f", 2));
    assert_false(wsg_has_ctl("a\\b", 3));
}

/* Issue 9: the evidence time of each entry (what an operator's unban is compared with): last_seen
 * of our export and report, STIX modified / valid_from, MISP timestamp, a CSV last_seen column;
 * none for plain lists, and none for a time in the future (beyond a few minutes of skew). */
static void test_evidence_time(void **state)
{
    apr_pool_t *p = *state;
    wsg_import_result_t *r;
    apr_time_t t;

    r = parse(p, "[\n{\"address\":\"45.30.0.1\",\"ban_until\":\"2026-01-02T04:04:05Z\","
                 "\"last_seen\":\"2026-01-02T02:00:00Z\"},\n{\"address\":\"45.30.0.2\"},\n"
                 "{\"address\":\"45.30.0.3\",\"last_seen\":\"2027-01-01T00:00:00Z\"}\n]\n");
    assert_int_equal(r->entries->nelts, 3);
    assert_int_equal(wsg_event_time_parse("2026-01-02T02:00:00Z", &t), APR_SUCCESS);
    assert_true(ent(r, 0)->seen == t);
    assert_true(ent(r, 1)->seen == 0);
    assert_true(ent(r, 2)->seen == 0);                 /* the future is no evidence */

    r = parse(p, "{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":["
                 "{\"type\":\"indicator\",\"pattern\":\"[ipv4-addr:value = '45.31.0.1' OR "
                 "ipv4-addr:value = '45.31.0.2']\",\"valid_from\":\"2026-01-01T00:00:00Z\","
                 "\"modified\":\"2026-01-02T01:00:00Z\"}]}");
    assert_int_equal(r->entries->nelts, 2);
    assert_int_equal(wsg_event_time_parse("2026-01-02T01:00:00Z", &t), APR_SUCCESS);
    assert_true(ent(r, 0)->seen == t && ent(r, 1)->seen == t);

    r = parse(p, "{\"Event\":{\"Attribute\":[{\"type\":\"ip-src\",\"value\":\"45.32.0.1\","
                 "\"timestamp\":\"1767312000\"},{\"type\":\"ip-src\",\"value\":\"45.32.0.2\","
                 "\"timestamp\":\"99999999999999999999\"}]}}");
    assert_int_equal(r->entries->nelts, 2);
    assert_true(ent(r, 0)->seen == apr_time_from_sec(1767312000));
    assert_true(ent(r, 1)->seen == 0);

    r = parse(p, "address,last_seen,ban_until\n45.33.0.1,2026-01-02T03:00:00Z,\n45.33.0.2,junk,\n");
    assert_int_equal(r->entries->nelts, 2);
    assert_int_equal(wsg_event_time_parse("2026-01-02T03:00:00Z", &t), APR_SUCCESS);
    assert_true(ent(r, 0)->seen == t);
    assert_true(ent(r, 1)->seen == 0);

    r = parse(p, "45.34.0.1\n");
    assert_true(ent(r, 0)->seen == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_export, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_json_report_stix_misp, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_csv_and_plain, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_caps_entries_and_width, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_caps_ban_length, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_overflow_remaining, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_long_comma_line, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_file_limits, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_evidence_time, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_escaping, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
