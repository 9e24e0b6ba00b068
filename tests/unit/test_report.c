/* Unit tests for wsg_report: event logs written to a temp file, read back, and every output format
 * checked: CSV quoting (RFC 4180), the time window, anonymisation (nothing of the reporter's own
 * names, private addresses or query values survives), STIX and MISP structure. */
#include "wsg_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <regex.h>
#include <jansson.h>
#include <zlib.h>
#include <apr_md5.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include "wsg_event.h"
#include "wsg_report.h"

/* Public scanners (not in documentation or private ranges, which --anonymise removes). */
#define SCAN4 "45.33.12.7"
#define SCAN6 "2a01:4f8:1:2::3"

static const char *const log_lines[] = {
    /* A probe with a query value, a private address in the UA and the vhost in an absolute URI. */
    "{\"time\":\"2026-11-25T10:00:00.000Z\",\"event\":\"probe\",\"client\":\"" SCAN4 "\","
    "\"vhost\":\"www.acme-corp.example\",\"method\":\"GET\",\"uri\":\"/shell.php?pass=hunter2&cmd=id\","
    "\"path\":\"/shell.php\",\"status\":404,\"ua\":\"Mozilla/5.0, \\\"evil\\\"\\nbot via 10.1.2.3\","
    "\"rules\":[1001],\"tag\":\"php-shell\",\"msg\":\"shell\",\"score\":10,\"client_score\":10.0,"
    "\"action\":\"pass\",\"ban_until\":null,\"flags\":[]}",
    "{\"time\":\"2026-11-25T10:00:01.000Z\",\"event\":\"ban\",\"client\":\"" SCAN4 "\","
    "\"vhost\":\"WWW.ACME-CORP.EXAMPLE\",\"method\":\"GET\","
    "\"uri\":\"http://www.acme-corp.example/c99.php?k=topsecretvalue\",\"path\":\"/c99.php\","
    "\"status\":200,\"ua\":\"=HYPERLINK(1)\",\"rules\":[1002,7],\"tag\":\"php-shell\",\"msg\":\"c99\","
    "\"score\":90,\"client_score\":100.0,\"action\":\"ban\","
    "\"ban_until\":\"2026-12-30T10:00:00.000Z\",\"flags\":[]}",
    "this line is not json",
    "[1,2,3]",
    "",
    /* A client on the internal network (must vanish when anonymised). */
    "{\"time\":\"2026-11-25T11:00:00.000Z\",\"event\":\"probe\",\"client\":\"10.0.0.9\","
    "\"vhost\":\"intranet.acme-corp.example\",\"method\":\"GET\",\"uri\":\"/x.aspx\",\"path\":\"/x.aspx\","
    "\"status\":404,\"ua\":\"curl\",\"rules\":[2001],\"tag\":\"asp-shell\",\"msg\":\"x\",\"score\":5,"
    "\"client_score\":5.0,\"action\":\"pass\",\"ban_until\":null,\"flags\":[]}",
    "{\"time\":\"2026-11-25T11:30:00.000Z\",\"event\":\"probe\",\"client\":\"fd00::17\","
    "\"vhost\":null,\"method\":\"GET\",\"uri\":\"/y.jsp\",\"path\":\"/y.jsp\","
    "\"status\":404,\"ua\":\"curl\",\"rules\":[],\"tag\":\"jsp-shell\",\"msg\":\"x\",\"score\":5,"
    "\"client_score\":5.0,\"action\":\"pass\",\"ban_until\":null,\"flags\":[]}",
    /* IPv6 scanner; an internal address inside the path; a second own host name in the UA. */
    "{\"time\":\"2026-11-25T12:00:00.000Z\",\"event\":\"probe\",\"client\":\"" SCAN6 "\","
    "\"vhost\":\"www.acme-corp.example\",\"method\":\"POST\","
    "\"uri\":\"/proxy/192.168.7.7/up.jsp?a=1&b\",\"path\":\"/proxy/192.168.7.7/up.jsp\","
    "\"status\":404,\"ua\":\"scanner for mail.acme-corp.example\",\"rules\":[3001],"
    "\"tag\":\"jsp-shell\",\"msg\":\"x\",\"score\":5,\"client_score\":5.0,\"action\":\"pass\","
    "\"ban_until\":null,\"flags\":[]}",
    /* Admin events: parsed, not evidence. */
    "{\"time\":\"2026-11-25T12:30:00.000Z\",\"event\":\"unban\",\"client\":\"198.18.0.1\"}",
    /* Outside the window of test_window. */
    "{\"time\":\"2026-11-27T00:00:00.000Z\",\"event\":\"probe\",\"client\":\"91.200.1.1\","
    "\"vhost\":\"www.acme-corp.example\",\"method\":\"GET\",\"uri\":\"/a.php\",\"path\":\"/a.php\","
    "\"status\":404,\"ua\":\"x\",\"rules\":[1],\"tag\":\"php-shell\",\"msg\":\"x\",\"score\":5,"
    "\"client_score\":5.0,\"action\":\"pass\",\"ban_until\":null,\"flags\":[]}",
};

/* Writes the log to a temp file; returns its name (unlinked at pool cleanup). */
static apr_status_t unlink_cleanup(void *path)
{
    unlink(path);
    return APR_SUCCESS;
}

static const char *write_log(apr_pool_t *p)
{
    char *path = apr_pstrdup(p, "/tmp/wsg_test_report_XXXXXX");
    int fd = mkstemp(path);
    FILE *f;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    for (size_t i = 0; i < sizeof(log_lines) / sizeof(log_lines[0]); i++)
        fprintf(f, "%s\n", log_lines[i]);
    fclose(f);
    apr_pool_cleanup_register(p, path, unlink_cleanup, apr_pool_cleanup_null);
    return path;
}

static wsg_report_t *load(apr_pool_t *p, wsg_report_opts_t *o)
{
    const char *err = NULL;
    wsg_report_t *r = wsg_report_make(p, o);
    assert_int_equal(wsg_report_read_file(r, write_log(p), &err), APR_SUCCESS);
    return r;
}

static json_t *load_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("report is not JSON: %s (line %d)", e.text, e.line);
    return j;
}

static void test_lines_counted(void **state)
{
    wsg_report_t *r = load(*state, NULL);
    assert_int_equal(wsg_report_lines(r), 9); /* the blank line is not counted */
    assert_int_equal(wsg_report_bad_lines(r), 2);
    assert_int_equal(wsg_report_clients(r), 5);
    assert_int_equal(wsg_report_add_line(r, "{\"event\":\"probe\"}", 17), APR_EINVAL);
    assert_int_equal(wsg_report_bad_lines(r), 3);
}

/* A hostile log's 1 MB line is counted bad without being parsed (or held), and the next line is
 * still read. */
static void test_long_line(void **state)
{
    apr_pool_t *p = *state;
    char *path = apr_pstrdup(p, "/tmp/wsg_test_report_long_XXXXXX");
    int fd = mkstemp(path);
    FILE *f;
    const char *err = NULL;
    wsg_report_t *r = wsg_report_make(p, NULL);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    /* a valid event, padded: the old reader parsed it and counted its client */
    fputs("{\"time\":\"2026-11-25T10:00:00.000Z\",\"event\":\"probe\",\"client\":\"45.9.9.9\"", f);
    for (int i = 0; i < 1 << 20; i++)
        fputc(' ', f);
    fprintf(f, "}\n%s\n", log_lines[0]);
    fclose(f);
    apr_pool_cleanup_register(p, path, unlink_cleanup, apr_pool_cleanup_null);
    assert_int_equal(wsg_report_read_file(r, path, &err), APR_SUCCESS);
    assert_int_equal(wsg_report_lines(r), 2);
    assert_int_equal(wsg_report_bad_lines(r), 1);
    assert_int_equal(wsg_report_clients(r), 1);
}

/* A rotated, gzip-compressed log (events.jsonl.2.gz) reads like the plain one: same lines, same
 * clients; two gzip members one after the other (a log compressed piecewise) are both read; an
 * endless line inside the .gz is still capped; a truncated .gz says so after feeding what it had. */
static const char *write_gz(apr_pool_t *p, int members, int pad, size_t cut)
{
    char *path = apr_pstrdup(p, "/tmp/wsg_test_report_gz_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    apr_pool_cleanup_register(p, path, unlink_cleanup, apr_pool_cleanup_null);
    for (int m = 0; m < members; m++) {
        gzFile gz = gzopen(path, m ? "ab" : "wb");
        assert_non_null(gz);
        if (pad) {
            gzputs(gz, "{\"time\":\"2026-11-25T10:00:00.000Z\",\"event\":\"probe\",\"client\":\"45.9.9.9\"");
            for (int i = 0; i < 1 << 20; i++)
                gzputc(gz, ' ');
            gzputs(gz, "}\n");
        }
        for (size_t i = 0; i < sizeof(log_lines) / sizeof(log_lines[0]); i++)
            gzprintf(gz, "%s\n", log_lines[i]);
        assert_int_equal(gzclose(gz), Z_OK);
    }
    if (cut)
        assert_int_equal(truncate(path, cut), 0);
    return path;
}

static void test_gzip(void **state)
{
    apr_pool_t *p = *state;
    const char *err = NULL;
    wsg_report_t *plain = load(p, NULL), *r = wsg_report_make(p, NULL);
    const char *gz = write_gz(p, 1, 0, 0);
    FILE *f = fopen(gz, "rb");
    unsigned char magic[2] = { 0, 0 };

    assert_non_null(f);
    assert_int_equal(fread(magic, 1, 2, f), 2);
    fclose(f);
    assert_true(magic[0] == 0x1f && magic[1] == 0x8b);   /* really compressed */
    assert_int_equal(wsg_report_read_file(r, gz, &err), APR_SUCCESS);
    assert_int_equal(wsg_report_lines(r), wsg_report_lines(plain));
    assert_int_equal(wsg_report_bad_lines(r), wsg_report_bad_lines(plain));
    assert_int_equal(wsg_report_clients(r), wsg_report_clients(plain));
    assert_string_equal(wsg_report_render(r, WSG_REPORT_CSV, p),
                        wsg_report_render(plain, WSG_REPORT_CSV, p));

    /* the plain log and its rotated .gz: the counts add up */
    assert_int_equal(wsg_report_read_file(plain, gz, &err), APR_SUCCESS);
    assert_int_equal(wsg_report_lines(plain), 2 * wsg_report_lines(r));
    assert_non_null(strstr(wsg_report_render(plain, WSG_REPORT_JSON, p), "\"count\": 4"));

    r = wsg_report_make(p, NULL);
    assert_int_equal(wsg_report_read_file(r, write_gz(p, 2, 0, 0), &err), APR_SUCCESS);
    assert_int_equal(wsg_report_lines(r), 18);

    r = wsg_report_make(p, NULL);
    assert_int_equal(wsg_report_read_file(r, write_gz(p, 1, 1, 0), &err), APR_SUCCESS);
    assert_int_equal(wsg_report_lines(r), 10);
    assert_int_equal(wsg_report_bad_lines(r), 3);  /* the 1 MB line and the two of log_lines */
    assert_int_equal(wsg_report_clients(r), 5);     /* 45.9.9.9 was never parsed */

    r = wsg_report_make(p, NULL);
    err = NULL;
    assert_int_not_equal(wsg_report_read_file(r, write_gz(p, 1, 0, 200), &err), APR_SUCCESS);
    assert_non_null(err);
    assert_non_null(strstr(err, "gzip"));
    assert_null(strstr(err, "<fd:"));   /* the file's name, not zlib's for the descriptor */
    assert_true(wsg_report_lines(r) < 9);
}

/* A minimal RFC 4180 reader: number of fields per record; records end in CRLF. */
static int csv_records(const char *s, int *fields, int max)
{
    int n = 0, f = 1, inq = 0;
    for (; *s; s++) {
        if (inq) {
            if (*s == '"' && s[1] == '"')
                s++;
            else if (*s == '"')
                inq = 0;
        }
        else if (*s == '"') {
            inq = 1;
        }
        else if (*s == ',') {
            f++;
        }
        else if (*s == '\r') {
            assert_int_equal(s[1], '\n');
            if (n < max)
                fields[n] = f;
            n++;
            f = 1;
            s++;
        }
        else {
            assert_true(*s != '\n'); /* a bare LF only inside quotes */
        }
    }
    assert_false(inq);
    return n;
}

static void test_csv(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_t *r = load(p, NULL);
    char *csv = wsg_report_render(r, WSG_REPORT_CSV, p);
    int fields[16], n = csv_records(csv, fields, 16);

    assert_int_equal(n, 1 + 5);
    for (int i = 1; i < n; i++)
        assert_int_equal(fields[i], fields[0]);
    assert_memory_equal(csv, "address,family,first_seen,last_seen,count,", 42);
    /* quotes doubled, field with comma/newline quoted, formula neutralised */
    assert_non_null(strstr(csv, ",\"'=HYPERLINK(1) | Mozilla/5.0, \"\"evil\"\"\\x0abot via 10.1.2.3\","));
    assert_non_null(strstr(csv, "\r\n" SCAN4 ",ipv4,2026-11-25T10:00:00.000Z,2026-11-25T10:00:01.000Z,2,2,yes,"));
    assert_non_null(strstr(csv, "1001;1002;7"));
    assert_non_null(strstr(csv, "200:1;404:1"));
}

/* Every string in a JSON value, recursively: no raw control byte (0x7f included). */
static void no_ctl_json(json_t *j)
{
    const char *k, *t;
    json_t *v;
    size_t i;
    if ((t = json_string_value(j)))
        for (; *t; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f)
                fail_msg("a raw 0x%02x in \"%s\"", (unsigned char)*t, json_string_value(j));
    json_object_foreach(j, k, v)
        no_ctl_json(v);
    json_array_foreach(j, i, v)
        no_ctl_json(v);
}

/* Control bytes from the log (decoded from \u escapes) reach no report format raw. */
static void test_control_bytes(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_t *r = wsg_report_make(p, NULL);
    const char *line =
        "{\"time\":\"2026-11-25T10:00:00.000Z\",\"event\":\"alert\",\"client\":\"" SCAN4 "\","
        "\"method\":\"GET\",\"uri\":\"/a\\r\\nb\\u001b[2J.php\",\"path\":\"/a\\r\\nb\\u001b[2J.php\","
        "\"status\":200,\"ua\":\"x\\u007fy\\u0007\",\"tag\":\"t\\tg\",\"rules\":[1]}";
    char *out;
    assert_int_equal(wsg_report_add_line(r, line, strlen(line)), APR_SUCCESS);
    out = wsg_report_render(r, WSG_REPORT_CSV, p);
    for (const char *q = out; *q; q++) {
        if (*q == '\r' && q[1] == '\n') {
            q++;
            continue;
        }
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            fail_msg("a raw 0x%02x in the CSV", (unsigned char)*q);
    }
    assert_non_null(strstr(out, "/a\\x0d\\x0ab\\x1b[2J.php"));
    assert_non_null(strstr(out, "x\\x7fy\\x07"));
    for (int f = WSG_REPORT_JSON; f <= WSG_REPORT_MISP; f++) {
        json_t *j;
        out = wsg_report_render(r, (wsg_report_format_t)f, p);
        assert_null(strchr(out, 0x7f));
        j = load_json(out);
        no_ctl_json(j);
        json_decref(j);
    }
}

static json_t *client_by_addr(json_t *rep, const char *addr)
{
    json_t *cl = json_object_get(rep, "clients");
    for (size_t i = 0; i < json_array_size(cl); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(cl, i), "address")), addr))
            return json_array_get(cl, i);
    return NULL;
}

static void test_window(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    json_t *j;

    assert_int_equal(wsg_event_time_parse("2026-11-25T10:00:00.500Z", &o.since), APR_SUCCESS);
    assert_int_equal(wsg_event_time_parse("2026-11-25T12:00:00Z", &o.until), APR_SUCCESS);
    j = load_json(wsg_report_render(load(p, &o), WSG_REPORT_JSON, p));
    /* since is inclusive, until exclusive */
    assert_non_null(client_by_addr(j, SCAN4));
    assert_int_equal(json_integer_value(json_object_get(client_by_addr(j, SCAN4), "count")), 1);
    assert_non_null(client_by_addr(j, "10.0.0.9"));
    assert_null(client_by_addr(j, SCAN6));
    assert_null(client_by_addr(j, "91.200.1.1"));
    assert_true(json_is_true(json_object_get(client_by_addr(j, SCAN4), "possible_shell")));
    json_decref(j);

    memset(&o, 0, sizeof(o));
    assert_int_equal(wsg_event_time_parse("2026-11-26", &o.since), APR_SUCCESS);
    j = load_json(wsg_report_render(load(p, &o), WSG_REPORT_JSON, p));
    assert_int_equal(json_array_size(json_object_get(j, "clients")), 1);
    assert_non_null(client_by_addr(j, "91.200.1.1"));
    json_decref(j);
}

static void test_anonymise_str(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    wsg_report_t *r;

    o.anonymise = 1;
    o.hostnames = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(o.hostnames, const char *) = "Example.ORG";
    r = wsg_report_make(p, &o);
    assert_string_equal(wsg_report_anonymise_str(r, "/a.php?pass=secret&x=1&flag;y=2#frag", 1, p),
                        "/a.php?pass=&x=&flag;y=");
    assert_string_equal(wsg_report_anonymise_str(r, "/a.php?pass=secret", 0, p), "/a.php?pass=secret");
    assert_string_equal(wsg_report_anonymise_str(r, "http://WWW.example.org:8080/x", 1, p),
                        "http://WWW.redacted.invalid:8080/x");
    assert_string_equal(wsg_report_anonymise_str(r, "from 10.0.0.1. and 8.8.8.8", 0, p),
                        "from REDACTED-IP. and 8.8.8.8");
    assert_string_equal(wsg_report_anonymise_str(r, "x10.0.0.1 fe80::1%eth0 [fd12:3456::1]:80", 0, p),
                        "xREDACTED-IP REDACTED-IP%eth0 [REDACTED-IP]:80");
    assert_string_equal(wsg_report_anonymise_str(r, "2a01:4f8::1 v1.2.3 1.2.3.4.5", 0, p),
                        "2a01:4f8::1 v1.2.3 1.2.3.4.5");
}

/* What an anonymised report of the test log must never contain. */
static const char *const secrets[] = {
    "acme-corp", "ACME-CORP", "10.0.0.9", "10.1.2.3", "192.168.7.7", "fd00::17", "hunter2",
    "topsecretvalue", "cmd=id", "intranet",
};

static void test_anonymise_all_formats(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    wsg_report_t *r;

    o.anonymise = 1;
    o.hostnames = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(o.hostnames, const char *) = "mail.acme-corp.example";
    r = load(p, &o);
    for (int f = WSG_REPORT_CSV; f <= WSG_REPORT_MISP; f++) {
        const char *out = wsg_report_render(r, (wsg_report_format_t)f, p);
        for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
            if (strstr(out, secrets[i]))
                fail_msg("format %d leaks '%s':\n%s", f, secrets[i], out);
        assert_non_null(strstr(out, SCAN4));
        assert_non_null(strstr(out, SCAN6));
        if (f != WSG_REPORT_STIX) { /* STIX carries addresses only, no paths */
            assert_non_null(strstr(out, "REDACTED-IP"));
            assert_non_null(strstr(out, "/up.jsp"));
        }
    }
    /* query names survive, values do not */
    assert_non_null(strstr(wsg_report_render(r, WSG_REPORT_JSON, p), "/shell.php?pass=&cmd="));
}

/* "type--uuid4" (or a name-based v5: the reporter identity) */
static int is_stix_id(const char *id, const char *type)
{
    regex_t re;
    int ok;
    regcomp(&re, "^[a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
            REG_EXTENDED | REG_NOSUB);
    ok = id && !regexec(&re, id, 0, NULL, 0) && (!type || (!strncmp(id, type, strlen(type))
                                                           && id[strlen(type)] == '-'));
    regfree(&re);
    return ok;
}

static const char *js(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_stix(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    json_t *b, *objs, *x;
    apr_hash_t *ids = apr_hash_make(p), *types = apr_hash_make(p);
    int n_ind = 0, n_sig = 0, n_rel = 0, n_ap = 0;
    const char *ident = NULL;
    size_t i;

    o.org = "ACME CERT";
    o.tlp = "green";
    b = load_json(wsg_report_render(load(p, &o), WSG_REPORT_STIX, p));
    assert_string_equal(js(b, "type"), "bundle");
    assert_true(is_stix_id(js(b, "id"), "bundle"));
    objs = json_object_get(b, "objects");
    json_array_foreach(objs, i, x) {
        const char *t = js(x, "type"), *id = js(x, "id");
        assert_non_null(t);
        assert_string_equal(js(x, "spec_version"), "2.1");
        assert_null(apr_hash_get(ids, id, APR_HASH_KEY_STRING));
        apr_hash_set(ids, id, APR_HASH_KEY_STRING, t);
        apr_hash_set(types, t, APR_HASH_KEY_STRING, t);
        if (!strcmp(t, "marking-definition")) {
            assert_string_equal(id, "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da");
            continue;
        }
        assert_true(is_stix_id(id, t));
        assert_true(js(x, "created") && strlen(js(x, "created")) == 24);
        assert_string_equal(js(x, "modified"), js(x, "created"));
        assert_string_equal(json_string_value(json_array_get(json_object_get(x,
                            "object_marking_refs"), 0)),
                            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da");
        if (!strcmp(t, "identity")) {
            ident = id;
            assert_string_equal(js(x, "name"), "ACME CERT");
            /* derived from the name, the same in every report: Python's
             * uuid5(UUID("00abedb4-..."), '{"identity_class":"organization","name":"acme cert"}') */
            assert_string_equal(id, "identity--f1252f7b-d79f-5fa0-a0a8-f257c6d774c0");
        }
        else if (!strcmp(t, "indicator")) {
            n_ind++;
            assert_non_null(js(x, "pattern"));
            assert_string_equal(js(x, "pattern_type"), "stix");
            assert_non_null(js(x, "valid_from"));
            assert_true(strcmp(js(x, "valid_until"), js(x, "valid_from")) > 0);
            if (strstr(js(x, "pattern"), SCAN4)) {
                assert_string_equal(js(x, "pattern"), "[ipv4-addr:value = '" SCAN4 "']");
                assert_string_equal(js(x, "valid_from"), "2026-11-25T10:00:00.000Z");
                /* the ban (Dec 30) outlasts last seen + 30 days (Dec 25) */
                assert_string_equal(js(x, "valid_until"), "2026-12-30T10:00:00.000Z");
            }
            if (strstr(js(x, "pattern"), SCAN6)) {
                assert_string_equal(js(x, "pattern"), "[ipv6-addr:value = '" SCAN6 "']");
                assert_string_equal(js(x, "valid_until"), "2026-12-25T12:00:00.000Z");
            }
            assert_string_equal(json_string_value(json_array_get(json_object_get(x,
                                "indicator_types"), 0)), "malicious-activity");
        }
        else if (!strcmp(t, "sighting")) {
            n_sig++;
            assert_true(json_integer_value(json_object_get(x, "count")) >= 1);
            assert_true(strcmp(js(x, "last_seen"), js(x, "first_seen")) >= 0);
        }
        else if (!strcmp(t, "relationship")) {
            n_rel++;
            assert_string_equal(js(x, "relationship_type"), "indicates");
        }
        else if (!strcmp(t, "attack-pattern")) {
            json_t *ext = json_array_get(json_object_get(x, "external_references"), 0);
            n_ap++;
            assert_string_equal(js(ext, "source_name"), "mitre-attack");
            assert_string_equal(js(x, "x_mitre_id"), js(ext, "external_id"));
            if (!strcmp(js(ext, "external_id"), "T1595.003")) {
                assert_string_equal(js(x, "name"), "Wordlist Scanning");   /* MITRE's name */
                assert_string_equal(js(ext, "url"), "https://attack.mitre.org/techniques/T1595/003/");
            }
            else {
                assert_string_equal(js(ext, "external_id"), "T1505.003");
                assert_string_equal(js(x, "name"), "Web Shell");
                assert_string_equal(js(ext, "url"), "https://attack.mitre.org/techniques/T1505/003/");
            }
        }
    }
    /* 5 clients, none dropped without --anonymise */
    assert_int_equal(n_ind, 5);
    assert_int_equal(n_sig, 5);
    assert_int_equal(n_rel, 10);
    assert_int_equal(n_ap, 2);
    assert_non_null(ident);
    /* every reference resolves, to the right kind of object */
    json_array_foreach(objs, i, x) {
        const char *t = js(x, "type");
        if (!strcmp(t, "marking-definition"))
            continue;
        assert_string_equal(apr_hash_get(ids, js(x, "created_by_ref"), APR_HASH_KEY_STRING),
                            "identity");
        if (!strcmp(t, "sighting")) {
            assert_string_equal(apr_hash_get(ids, js(x, "sighting_of_ref"), APR_HASH_KEY_STRING),
                                "indicator");
            assert_string_equal(json_string_value(json_array_get(json_object_get(x,
                                "where_sighted_refs"), 0)), ident);
        }
        if (!strcmp(t, "relationship")) {
            assert_string_equal(apr_hash_get(ids, js(x, "source_ref"), APR_HASH_KEY_STRING),
                                "indicator");
            assert_string_equal(apr_hash_get(ids, js(x, "target_ref"), APR_HASH_KEY_STRING),
                                "attack-pattern");
        }
    }
    json_decref(b);
}

static void test_misp(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    json_t *j, *ev, *a;
    size_t i;
    int ip = 0, url = 0, ua = 0;

    o.tlp = "red";
    j = load_json(wsg_report_render(load(p, &o), WSG_REPORT_MISP, p));
    ev = json_object_get(j, "Event");
    assert_non_null(ev);
    assert_non_null(js(ev, "info"));
    assert_int_equal(strlen(js(ev, "date")), 10);
    assert_string_equal(js(ev, "threat_level_id"), "2"); /* scanning, but a probe got 200 */
    assert_string_equal(js(ev, "analysis"), "2");
    assert_string_equal(js(json_object_get(ev, "Orgc"), "uuid"),
                        wsg_report_identity_for(p, NULL) + 10);
    assert_string_equal(js(ev, "distribution"), "0");
    assert_string_equal(js(json_array_get(json_object_get(ev, "Tag"), 0), "name"), "tlp:red");
    json_array_foreach(json_object_get(ev, "Attribute"), i, a) {
        const char *t = js(a, "type");
        assert_string_equal(js(a, "category"), "Network activity");
        assert_non_null(js(a, "value"));
        assert_non_null(js(a, "uuid"));
        assert_non_null(js(a, "timestamp"));
        assert_true(json_is_boolean(json_object_get(a, "to_ids")));
        if (!strcmp(t, "ip-src")) {
            ip++;
            assert_true(json_is_true(json_object_get(a, "to_ids")));
        }
        else if (!strcmp(t, "uri")) {
            url++;
            assert_true(json_is_false(json_object_get(a, "to_ids")));
            assert_true(js(a, "value")[0] == '/' || strstr(js(a, "value"), "://"));
        }
        else if (!strcmp(t, "user-agent")) {
            ua++;
        }
        else {
            fail_msg("unexpected attribute type %s", t);
        }
    }
    assert_int_equal(ip, 5);
    assert_true(url >= 5);
    assert_true(ua >= 3);
    json_decref(j);
}

static void test_options(void **state)
{
    wsg_report_format_t f;
    assert_string_equal(wsg_report_tlp_name("TLP:AMBER"), "amber");
    assert_string_equal(wsg_report_tlp_name("White"), "white");
    assert_null(wsg_report_tlp_name("purple"));
    assert_int_equal(wsg_report_format_parse("STIX", &f), APR_SUCCESS);
    assert_int_equal(f, WSG_REPORT_STIX);
    assert_int_equal(wsg_report_format_parse("xml", &f), APR_EINVAL);
}

/* The format table: every name parses to its entry and back; text formats render, the feed
 * writes a directory and renders nothing. */
static void test_format_table(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_t *r = load(p, NULL);
    const char *err = NULL;
    static const char *const names[] = { "csv", "json", "stix", "misp", "misp-feed" };
    assert_int_equal(WSG_REPORT_NFORMATS, 5);
    for (int i = 0; i < WSG_REPORT_NFORMATS; i++) {
        wsg_report_format_t f;
        assert_string_equal(wsg_report_format_name((wsg_report_format_t)i), names[i]);
        assert_int_equal(wsg_report_format_parse(names[i], &f), APR_SUCCESS);
        assert_int_equal(f, i);
        if (i == WSG_REPORT_MISP_FEED) {
            assert_true(wsg_report_format_is_dir(f));
            assert_null(wsg_report_render(r, f, p));
        }
        else {
            assert_false(wsg_report_format_is_dir(f));
            assert_non_null(wsg_report_render(r, f, p));
            assert_int_equal(wsg_report_write_dir(r, f, "/tmp", p, &err), APR_EINVAL);
        }
    }
    assert_null(wsg_report_format_name(WSG_REPORT_NFORMATS));
    assert_null(wsg_report_render(r, WSG_REPORT_NFORMATS, p));
    assert_true(strstr(wsg_report_render(r, WSG_REPORT_CSV, p), "address,family") != NULL);
    assert_true(strstr(wsg_report_render(r, WSG_REPORT_STIX, p), "\"type\": \"bundle\"") != NULL);
    assert_true(strstr(wsg_report_render(r, WSG_REPORT_MISP, p), "\"Event\"") != NULL);
}

/* UUIDv5 (RFC 4122 appendix / Python's uuid5) and the identity derived from the org name. */
static void test_uuid5(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    /* uuid.uuid5(uuid.NAMESPACE_DNS, "python.org") */
    assert_string_equal(wsg_report_uuid5(p, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
                        "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    assert_null(wsg_report_uuid5(p, "not-a-uuid", "x"));
    assert_string_equal(wsg_report_identity_for(p, "ACME CERT"),
                        "identity--f1252f7b-d79f-5fa0-a0a8-f257c6d774c0");
    assert_string_equal(wsg_report_identity_for(p, "  acme cert "),
                        wsg_report_identity_for(p, "ACME CERT"));
    assert_string_not_equal(wsg_report_identity_for(p, "Other CERT"),
                            wsg_report_identity_for(p, "ACME CERT"));
    assert_true(wsg_report_identity_ok(wsg_report_identity_for(p, NULL)));
    /* two reports, two times: one identity; a configured one wins */
    o.org = "ACME CERT";
    o.now = apr_time_from_sec(1700000000);
    {
        json_t *a = load_json(wsg_report_render(load(p, &o), WSG_REPORT_STIX, p));
        json_t *b;
        o.now += apr_time_from_sec(86400);
        b = load_json(wsg_report_render(load(p, &o), WSG_REPORT_STIX, p));
        assert_string_equal(js(json_array_get(json_object_get(a, "objects"), 1), "id"),
                            js(json_array_get(json_object_get(b, "objects"), 1), "id"));
        json_decref(a);
        json_decref(b);
    }
    o.identity = "identity--8d3f6a52-1c2b-4e5f-9a7b-0c1d2e3f4a5b";
    assert_non_null(strstr(wsg_report_render(load(p, &o), WSG_REPORT_MISP, p),
                           "8d3f6a52-1c2b-4e5f-9a7b-0c1d2e3f4a5b"));
}

static apr_status_t rm_tree(void *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (const char *)dir);
    return system(cmd) == 0 ? APR_SUCCESS : APR_EGENERAL;
}

static json_t *load_file_json(apr_pool_t *p, const char *dir, const char *name)
{
    json_error_t e;
    json_t *j = json_load_file(apr_pstrcat(p, dir, "/", name, NULL), 0, &e);
    if (!j)
        fail_msg("%s/%s: %s", dir, name, e.text);
    return j;
}

/* The feed directory: an event file per report, a manifest entry repeating its fields, one md5
 * line per attribute value; a fixed window reported again replaces its event, another adds one;
 * a damaged manifest is left alone. */
static void test_misp_feed(void **state)
{
    apr_pool_t *p = *state;
    char *base = apr_pstrdup(p, "/tmp/wsg_test_feed_XXXXXX");
    const char *dir, *err = NULL, *uuid = NULL, *k;
    wsg_report_opts_t o = { 0 };
    json_t *man, *ev, *entry, *v, *evroot;
    char line[200];
    FILE *f;
    int lines = 0;

    assert_non_null(mkdtemp(base));
    apr_pool_cleanup_register(p, base, rm_tree, apr_pool_cleanup_null);
    dir = apr_pstrcat(p, base, "/feed", NULL);
    o.org = "ACME CERT";
    o.since = apr_time_from_sec(1764000000);   /* 2025-11-24 */
    o.until = apr_time_from_sec(1799000000);
    assert_int_equal(wsg_report_write_dir(load(p, &o), WSG_REPORT_MISP_FEED, dir, p, &err),
                     APR_SUCCESS);
    man = load_file_json(p, dir, "manifest.json");
    assert_int_equal(json_object_size(man), 1);
    json_object_foreach(man, k, entry)
        uuid = apr_pstrdup(p, k);
    evroot = load_file_json(p, dir, apr_pstrcat(p, uuid, ".json", NULL));
    ev = json_object_get(evroot, "Event");
    entry = json_object_get(man, uuid);
    assert_string_equal(js(ev, "uuid"), uuid);
    assert_true(json_equal(json_object_get(entry, "Orgc"), json_object_get(ev, "Orgc")));
    assert_true(json_equal(json_object_get(entry, "Tag"), json_object_get(ev, "Tag")));
    assert_string_equal(js(entry, "info"), js(ev, "info"));
    assert_string_equal(js(entry, "date"), js(ev, "date"));
    assert_int_equal(json_integer_value(json_object_get(entry, "threat_level_id")),
                     atoi(js(ev, "threat_level_id")));
    assert_int_equal(json_integer_value(json_object_get(entry, "timestamp")),
                     atoll(js(ev, "timestamp")));
    f = fopen(apr_pstrcat(p, dir, "/hashes.csv", NULL), "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        assert_int_equal(strlen(line), 32 + 1 + 36 + 1);
        assert_string_equal(line + 33, apr_pstrcat(p, uuid, "\n", NULL));
        lines++;
    }
    fclose(f);
    assert_int_equal((size_t)lines, json_array_size(json_object_get(ev, "Attribute")));
    /* "/shell.php?pass=hunter2&cmd=id" is a uri attribute: its md5 is listed */
    {
        unsigned char d[16];
        char hex[33], *all;
        apr_size_t n;
        apr_file_t *fh;
        apr_md5(d, "/shell.php?pass=hunter2&cmd=id", strlen("/shell.php?pass=hunter2&cmd=id"));
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        assert_int_equal(apr_file_open(&fh, apr_pstrcat(p, dir, "/hashes.csv", NULL),
                                       APR_FOPEN_READ, 0, p), APR_SUCCESS);
        all = apr_pcalloc(p, 65536);
        n = 65535;
        apr_file_read(fh, all, &n);
        apr_file_close(fh);
        assert_non_null(strstr(all, hex));
    }
    json_decref(man);

    /* the same window again: the same event, updated */
    o.now = apr_time_now() + apr_time_from_sec(60);
    assert_int_equal(wsg_report_write_dir(load(p, &o), WSG_REPORT_MISP_FEED, dir, p, &err),
                     APR_SUCCESS);
    man = load_file_json(p, dir, "manifest.json");
    assert_int_equal(json_object_size(man), 1);
    assert_non_null(json_object_get(man, uuid));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(man, uuid), "timestamp")),
                     apr_time_sec(o.now));
    json_decref(man);
    /* another window: a second event, both hashed */
    o.until += apr_time_from_sec(86400);
    assert_int_equal(wsg_report_write_dir(load(p, &o), WSG_REPORT_MISP_FEED, dir, p, &err),
                     APR_SUCCESS);
    man = load_file_json(p, dir, "manifest.json");
    assert_int_equal(json_object_size(man), 2);
    json_object_foreach(man, k, v)
        assert_true(json_is_object(v));
    json_decref(man);
    f = fopen(apr_pstrcat(p, dir, "/hashes.csv", NULL), "r");
    for (lines = 0; fgets(line, sizeof(line), f);)
        lines++;
    fclose(f);
    assert_int_equal((size_t)lines, 2 * json_array_size(json_object_get(ev, "Attribute")));
    /* an event file removed by hand: its entry and hashes go at the next run */
    unlink(apr_pstrcat(p, dir, "/", uuid, ".json", NULL));
    assert_int_equal(wsg_report_write_dir(load(p, &o), WSG_REPORT_MISP_FEED, dir, p, &err),
                     APR_SUCCESS);
    man = load_file_json(p, dir, "manifest.json");
    assert_int_equal(json_object_size(man), 1);
    assert_null(json_object_get(man, uuid));
    json_decref(man);
    /* a damaged manifest: an error naming it, the file untouched */
    f = fopen(apr_pstrcat(p, dir, "/manifest.json", NULL), "w");
    fputs("{broken", f);
    fclose(f);
    err = NULL;
    assert_int_equal(wsg_report_write_dir(load(p, &o), WSG_REPORT_MISP_FEED, dir, p, &err),
                     APR_EINVAL);
    assert_non_null(strstr(err, "manifest.json"));
    /* a directory that cannot be made */
    err = NULL;
    assert_int_not_equal(wsg_report_write_dir(load(p, &o), WSG_REPORT_MISP_FEED,
                                              "/nonexistent/wsg/feed", p, &err), APR_SUCCESS);
    assert_non_null(strstr(err, "/nonexistent/wsg/feed"));
    json_decref(evroot);
}

/* Lines made by wsg_event_json (the writer the module uses) are what the report reads back,
 * including hostile bytes and long fields the writer had to sanitise and cut. */
static void test_roundtrip_from_writer(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_t *r = wsg_report_make(p, NULL);
    unsigned ids[] = { 1001, 42 };
    char *big = apr_palloc(p, 8193);
    wsg_event_t ev = { 0 };
    apr_size_t len;
    const char *line;
    json_t *j, *c;

    memset(big, '\x01', 8192);
    big[0] = '/';
    big[8192] = '\0';
    ev.event = WSG_EV_PROBE;
    assert_int_equal(wsg_event_time_parse("2026-11-25T10:00:00.250Z", &ev.time), APR_SUCCESS);
    ev.client = "::ffff:" SCAN4;   /* folded to IPv4 */
    ev.vhost = "www.acme-corp.example";
    ev.method = "GET";
    ev.uri = "/x\xff\xfe.php?a=\"b\"";
    ev.path = big;
    ev.ua = "ua,\"with\"\r\nstuff";
    ev.status = 404;
    ev.rule_ids = ids;
    ev.n_rules = 2;
    ev.tag = "php-shell";
    for (int i = 0; i < 3; i++) {
        line = wsg_event_json(p, &ev, &len);
        assert_int_equal(wsg_report_add_line(r, line, len), APR_SUCCESS);
        ev.time += apr_time_from_sec(60);
        ev.status = i == 1 ? 200 : 404;
    }
    assert_int_equal(wsg_report_bad_lines(r), 0);
    j = load_json(wsg_report_render(r, WSG_REPORT_JSON, p));
    c = client_by_addr(j, SCAN4);
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "count")), 3);
    assert_string_equal(js(c, "first_seen"), "2026-11-25T10:00:00.250Z");
    assert_string_equal(js(c, "last_seen"), "2026-11-25T10:02:00.250Z");
    assert_true(json_is_true(json_object_get(c, "possible_shell")));
    assert_int_equal(json_array_size(json_object_get(c, "rules")), 2);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(c, "rules"), 1)), 42);
    /* the writer escaped the CR LF (no raw control byte in a decoded field) */
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "user_agents"), 0)),
                        "ua,\"with\"\\x0d\\x0astuff");
    json_decref(j);
}

/* Campaigns: a generated log where three clients in three /24s probe the same ten paths (each
 * with noise of its own), a fourth probes unrelated paths, a fifth shares only four paths (below
 * the minimum), and two clients of one /24 probe the same list (one prefix: no campaign). */
#define CAMP_A "45.33.12.7"
#define CAMP_B "81.2.3.4"
#define CAMP_C "185.220.101.3"
#define CAMP_OTHER "91.200.1.1"
#define CAMP_FEW "93.184.0.9"
#define CAMP_SAME1 "77.1.1.5"
#define CAMP_SAME2 "77.1.1.6"

static void camp_line(FILE *f, int *t, const char *client, const char *path)
{
    (*t)++;
    fprintf(f, "{\"time\":\"2026-11-25T%02d:%02d:%02d.000Z\",\"event\":\"probe\",\"client\":\"%s\","
            "\"vhost\":\"www.acme-corp.example\",\"method\":\"GET\",\"uri\":\"%s?pass=hunter2\","
            "\"path\":\"%s\",\"status\":404,\"ua\":\"x\",\"rules\":[1],\"tag\":\"php-shell\","
            "\"score\":1,\"client_score\":1.0,\"action\":\"pass\",\"ban_until\":null,\"flags\":[]}\n",
            10 + *t / 3600, *t / 60 % 60, *t % 60, client, path, path);
}

static wsg_report_t *load_campaign_log(apr_pool_t *p, wsg_report_opts_t *o, int with_private)
{
    static const char *const members[] = { CAMP_A, CAMP_B, CAMP_C, "10.0.0.9" };
    char *path = apr_pstrdup(p, "/tmp/wsg_test_campaign_XXXXXX");
    int fd = mkstemp(path), t = 0;
    FILE *f;
    const char *err = NULL;
    wsg_report_t *r;

    assert_true(fd >= 0);
    apr_pool_cleanup_register(p, path, unlink_cleanup, apr_pool_cleanup_null);
    f = fdopen(fd, "w");
    for (int m = 0; m < (with_private ? 4 : 3); m++) {
        for (int i = 0; i < 10; i++)
            camp_line(f, &t, members[m], apr_psprintf(p, "/wordlist/s%d.php", i));
        for (int i = 0; i < 2; i++)   /* noise of its own */
            camp_line(f, &t, members[m], apr_psprintf(p, "/noise-%d-%d.php", m, i));
    }
    for (int i = 0; i < 8; i++)
        camp_line(f, &t, CAMP_OTHER, apr_psprintf(p, "/other/%d.aspx", i));
    for (int i = 0; i < 4; i++)
        camp_line(f, &t, CAMP_FEW, apr_psprintf(p, "/wordlist/s%d.php", i));
    for (int i = 0; i < 6; i++) {
        camp_line(f, &t, CAMP_SAME1, apr_psprintf(p, "/same/%d.jsp", i));
        camp_line(f, &t, CAMP_SAME2, apr_psprintf(p, "/same/%d.jsp", i));
    }
    fclose(f);
    r = wsg_report_make(p, o);
    assert_int_equal(wsg_report_read_file(r, path, &err), APR_SUCCESS);
    return r;
}

/* The last CSV field of addr's row ("" when empty). */
static const char *csv_last(apr_pool_t *p, const char *csv, const char *addr)
{
    const char *row = strstr(csv, apr_pstrcat(p, "\r\n", addr, ",", NULL)), *end, *q;
    assert_non_null(row);
    end = strstr(row + 2, "\r\n");
    assert_non_null(end);
    for (q = end; q > row && q[-1] != ','; q--)
        ;
    return apr_pstrmemdup(p, q, (apr_size_t)(end - q));
}

static void test_campaigns(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_opts_t o = { 0 };
    wsg_report_t *r;
    const char *csv, *members[] = { CAMP_C, CAMP_A, CAMP_B };  /* report order */
    const char *outsiders[] = { CAMP_OTHER, CAMP_FEW, CAMP_SAME1, CAMP_SAME2 };
    json_t *j, *camps, *c, *objs, *x;
    const char *camp_id = NULL, *ident = NULL, *ap_wordlist = NULL, *text;
    apr_hash_t *ind_of = apr_hash_make(p);   /* indicator id -> address */
    int indicates = 0, uses = 0;
    size_t i;

    o.now = apr_time_from_sec(1795000000);
    r = load_campaign_log(p, &o, 0);

    /* CSV: "campaign" is the last column, so the older columns keep their positions. */
    csv = wsg_report_render(r, WSG_REPORT_CSV, p);
    assert_non_null(strstr(csv, ",max_score,ban_until,campaign\r\n"));
    assert_memory_equal(csv, "address,family,first_seen,last_seen,count,", 42);
    for (i = 0; i < 3; i++)
        assert_string_equal(csv_last(p, csv, members[i]), "c1");
    for (i = 0; i < 4; i++)
        assert_string_equal(csv_last(p, csv, outsiders[i]), "");

    /* JSON: one campaign of three clients from three prefixes sharing the ten paths. */
    j = load_json(wsg_report_render(r, WSG_REPORT_JSON, p));
    camps = json_object_get(j, "campaigns");
    assert_int_equal(json_array_size(camps), 1);
    c = json_array_get(camps, 0);
    assert_string_equal(js(c, "id"), "c1");
    assert_int_equal(json_array_size(json_object_get(c, "clients")), 3);
    assert_int_equal(json_integer_value(json_object_get(c, "client_count")), 3);
    assert_int_equal(json_integer_value(json_object_get(c, "prefixes")), 3);
    assert_int_equal(json_integer_value(json_object_get(c, "shared_path_count")), 10);
    assert_int_equal(json_array_size(json_object_get(c, "shared_paths")), 10);
    assert_string_equal(js(c, "first_seen"), "2026-11-25T10:00:01.000Z");
    assert_string_equal(js(c, "last_seen"), "2026-11-25T10:00:36.000Z");
    for (i = 0; i < 3; i++) {
        assert_string_equal(js(client_by_addr(j, members[i]), "campaign"), "c1");
        assert_string_equal(json_string_value(json_array_get(json_object_get(c, "clients"), i)),
                            members[i]);
    }
    for (i = 0; i < 4; i++)
        assert_true(json_is_null(json_object_get(client_by_addr(j, outsiders[i]), "campaign")));
    assert_true(json_is_true(json_object_get(json_object_get(j, "campaign_grouping"),
                                             "complete")));
    json_decref(j);

    /* STIX: a campaign SDO; each member's indicator indicates it, nobody else's does. */
    j = load_json(wsg_report_render(r, WSG_REPORT_STIX, p));
    objs = json_object_get(j, "objects");
    json_array_foreach(objs, i, x) {
        const char *t = js(x, "type");
        if (!strcmp(t, "identity"))
            ident = js(x, "id");
        else if (!strcmp(t, "indicator"))
            apr_hash_set(ind_of, js(x, "id"), APR_HASH_KEY_STRING, js(x, "pattern"));
        else if (!strcmp(t, "attack-pattern") && strstr(js(x, "name"), "Wordlist"))
            ap_wordlist = js(x, "id");
        else if (!strcmp(t, "campaign")) {
            assert_null(camp_id);
            camp_id = js(x, "id");
            assert_true(is_stix_id(camp_id, "campaign"));
            assert_string_equal(js(x, "spec_version"), "2.1");
            assert_non_null(js(x, "created"));
            assert_non_null(js(x, "modified"));
            assert_string_equal(js(x, "name"), "Web-shell scanning campaign c1");
            assert_non_null(strstr(js(x, "description"), "3 addresses in 3 different"));
            assert_string_equal(js(x, "first_seen"), "2026-11-25T10:00:01.000Z");
            assert_string_equal(js(x, "last_seen"), "2026-11-25T10:00:36.000Z");
            assert_non_null(js(x, "created_by_ref"));
            assert_int_equal(json_array_size(json_object_get(x, "object_marking_refs")), 1);
        }
    }
    assert_non_null(camp_id);
    assert_non_null(ident);
    json_array_foreach(objs, i, x) {
        const char *t = js(x, "type");
        if (!strcmp(t, "campaign"))
            assert_string_equal(js(x, "created_by_ref"), ident);
        if (strcmp(t, "relationship"))
            continue;
        if (!strcmp(js(x, "source_ref"), camp_id)) {
            assert_string_equal(js(x, "relationship_type"), "uses");
            assert_string_equal(js(x, "target_ref"), ap_wordlist);
            uses++;
        }
        else if (!strcmp(js(x, "target_ref"), camp_id)) {
            assert_string_equal(js(x, "relationship_type"), "indicates");
            text = apr_hash_get(ind_of, js(x, "source_ref"), APR_HASH_KEY_STRING);
            assert_non_null(text);
            assert_true(strstr(text, CAMP_A) || strstr(text, CAMP_B) || strstr(text, CAMP_C));
            indicates++;
        }
    }
    assert_int_equal(indicates, 3);
    assert_int_equal(uses, 1);
    json_decref(j);

    /* MISP: member ip-src attributes name the campaign (tag and comment), others do not. */
    j = load_json(wsg_report_render(r, WSG_REPORT_MISP, p));
    json_array_foreach(json_object_get(json_object_get(j, "Event"), "Attribute"), i, x) {
        int member;
        if (strcmp(js(x, "type"), "ip-src"))
            continue;
        member = !strcmp(js(x, "value"), CAMP_A) || !strcmp(js(x, "value"), CAMP_B)
                 || !strcmp(js(x, "value"), CAMP_C);
        assert_int_equal(strstr(js(x, "comment"), "campaign c1") != NULL, member);
        if (member)
            assert_string_equal(js(json_array_get(json_object_get(x, "Tag"), 0), "name"),
                                "wsguard:campaign=\"c1\"");
        else
            assert_null(json_object_get(x, "Tag"));
    }
    json_decref(j);

    /* A private member is a member in a plain report and gone when anonymising; the campaign
     * text names no host, private address or query value. */
    r = load_campaign_log(p, &o, 1);
    j = load_json(wsg_report_render(r, WSG_REPORT_JSON, p));
    c = json_array_get(json_object_get(j, "campaigns"), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "client_count")), 4);
    json_decref(j);
    o.anonymise = 1;
    r = load_campaign_log(p, &o, 1);
    for (int f = WSG_REPORT_CSV; f <= WSG_REPORT_MISP; f++) {
        text = wsg_report_render(r, (wsg_report_format_t)f, p);
        assert_null(strstr(text, "10.0.0.9"));
        assert_null(strstr(text, "acme-corp"));
        assert_null(strstr(text, "hunter2"));
        assert_non_null(strstr(text, CAMP_A));
    }
    j = load_json(wsg_report_render(r, WSG_REPORT_JSON, p));
    c = json_array_get(json_object_get(j, "campaigns"), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "client_count")), 3);
    json_decref(j);
}

/* An aggregated "refused" line counts its "count" requests (once), adds its paths, and starts the
 * client's first-seen at its "since"; a hostile count is capped, a missing or bad one is 1. */
static void test_refused_counted(void **state)
{
    apr_pool_t *p = *state;
    wsg_report_t *r = wsg_report_make(p, NULL);
    const char *lines[] = {
        "{\"time\":\"2026-11-26T10:00:01Z\",\"event\":\"probe\",\"client\":\"192.0.2.9\",\"path\":\"/a.php\",\"status\":404}",
        "{\"time\":\"2026-11-26T10:00:02Z\",\"event\":\"ban\",\"client\":\"192.0.2.9\",\"path\":\"/b.php\",\"status\":403}",
        "{\"time\":\"2026-11-26T10:00:59Z\",\"event\":\"refused\",\"client\":\"192.0.2.9\",\"path\":\"/c.php\",\"status\":403,\"count\":35,\"since\":\"2026-11-26T09:59:00Z\",\"paths\":[\"/c.php\",\"/d.php\",\"/a.php\"]}",
        "{\"time\":\"2026-11-26T10:01:00Z\",\"event\":\"refused\",\"client\":\"192.0.2.10\",\"status\":403,\"count\":-5}",
        "{\"time\":\"2026-11-26T10:01:00Z\",\"event\":\"refused\",\"client\":\"192.0.2.11\",\"status\":403,\"count\":99999999999999}",
        "{\"time\":\"2026-11-26T10:01:00Z\",\"event\":\"refused\",\"client\":\"192.0.2.11\",\"status\":403,\"count\":99999999999999}",
        "{\"time\":\"2026-11-26T10:01:00Z\",\"event\":\"refused\",\"client\":\"192.0.2.11\",\"status\":403,\"count\":99999999999999}",
        "{\"time\":\"2026-11-26T10:01:00Z\",\"event\":\"refused\",\"client\":\"192.0.2.11\",\"status\":403,\"count\":99999999999999}",
        "{\"time\":\"2026-11-26T10:01:00Z\",\"event\":\"refused\",\"client\":\"192.0.2.11\",\"status\":403,\"count\":99999999999999}",
    };
    json_t *j, *c;

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_int_equal(wsg_report_add_line(r, lines[i], strlen(lines[i])), APR_SUCCESS);
    j = load_json(wsg_report_render(r, WSG_REPORT_JSON, p));
    c = json_object_get(j, "clients");
    for (size_t i = 0; i < json_array_size(c); i++) {
        json_t *x = json_array_get(c, i);
        const char *a = json_string_value(json_object_get(x, "address"));
        json_int_t n = json_integer_value(json_object_get(x, "count"));
        if (!strcmp(a, "192.0.2.9")) {
            assert_int_equal(n, 2 + 35);
            assert_int_equal(json_integer_value(json_object_get(x, "distinct_paths")), 4);
            assert_string_equal(json_string_value(json_object_get(x, "first_seen")),
                                "2026-11-26T09:59:00.000Z");
        }
        else if (!strcmp(a, "192.0.2.10"))
            assert_int_equal(n, 1);
        else
            assert_int_equal(n, 4294967295LL);   /* saturated, never wrapped */
    }
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_counted, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_long_line, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_gzip, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_control_bytes, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_csv, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_window, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_anonymise_str, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_anonymise_all_formats, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_stix, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_misp, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_options, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_format_table, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_uuid5, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_misp_feed, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_from_writer, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_campaigns, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_refused_counted, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
