/* Unit tests for wsg_event: every field reaches the JSON line, and hostile bytes (control chars,
 * invalid UTF-8, quotes, backslashes, 8 KB paths) still give one valid line below PIPE_BUF. */
#include "wsg_test.h"
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <jansson.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include "wsg_event.h"
#include "wsg_norm.h"

/* Parses line back and checks the invariants every event line must hold. */
static json_t *parse_line(const char *line, const apr_size_t *lenp)
{
    apr_size_t len = *lenp;
    json_error_t jerr;
    json_t *o;

    assert_non_null(line);
    assert_int_equal(strlen(line), len);
    assert_true(len < WSG_EVENT_LINE_MAX);
    assert_true(len >= 2);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    assert_null(memchr(line, '\r', len));
    o = json_loadb(line, len, 0, &jerr);
    if (!o)
        fail_msg("line does not parse: %s at %d: %.200s", jerr.text, jerr.position, line);
    assert_true(json_is_object(o));
    return o;
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_non_null(v);
    return json_string_value(v);
}

static void test_all_fields(void **state)
{
    apr_pool_t *p = *state;
    unsigned rules[] = { 1001, 2002, 3 };
    wsg_event_t ev = { 0 };
    apr_size_t len = 0;
    apr_time_t t, bt;
    json_t *o, *a;
    char *line;

    assert_int_equal(wsg_event_time_parse("2026-11-26T10:30:35.123Z", &t), APR_SUCCESS);
    assert_int_equal(wsg_event_time_parse("2026-11-26T11:30:35Z", &bt), APR_SUCCESS);
    ev.event = WSG_EV_BAN;
    ev.time = t;
    ev.client = "203.0.113.7";
    ev.vhost = "www.example.org";
    ev.method = "POST";
    ev.uri = "/wp-content/uploads/%2e%2e/c99.php?pass=x";
    ev.path = "/wp-content/c99.php";
    ev.ua = "Mozilla/5.0 (zgrab)";
    ev.status = 403;
    ev.rule_ids = rules;
    ev.n_rules = 3;
    ev.tag = "php-shell";
    ev.msg = "c99 shell";
    ev.req_score = 40;
    ev.client_score = 101.25;
    ev.action = "ban";
    ev.ban_until = bt;
    ev.norm_flags = WSG_NF_TRAVERSAL | WSG_NF_DOUBLE_ENC;

    line = wsg_event_json(p, &ev, &len);
    o = parse_line(line, &len);
    assert_string_equal(sget(o, "time"), "2026-11-26T10:30:35.123Z");
    assert_string_equal(sget(o, "event"), "ban");
    assert_string_equal(sget(o, "client"), "203.0.113.7");
    assert_string_equal(sget(o, "vhost"), "www.example.org");
    assert_string_equal(sget(o, "method"), "POST");
    assert_string_equal(sget(o, "uri"), ev.uri);
    assert_string_equal(sget(o, "path"), ev.path);
    assert_string_equal(sget(o, "ua"), ev.ua);
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 403);
    a = json_object_get(o, "rules");
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), 3);
    assert_int_equal(json_integer_value(json_array_get(a, 0)), 1001);
    assert_int_equal(json_integer_value(json_array_get(a, 2)), 3);
    assert_string_equal(sget(o, "tag"), "php-shell");
    assert_string_equal(sget(o, "msg"), "c99 shell");
    assert_int_equal(json_integer_value(json_object_get(o, "score")), 40);
    assert_true(json_number_value(json_object_get(o, "client_score")) > 101.24);
    assert_true(json_number_value(json_object_get(o, "client_score")) < 101.26);
    assert_string_equal(sget(o, "action"), "ban");
    assert_string_equal(sget(o, "ban_until"), "2026-11-26T11:30:35.000Z");
    a = json_object_get(o, "flags");
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), 2);
    for (size_t i = 0; i < json_array_size(a); i++)
        assert_true(json_is_string(json_array_get(a, i)));
    json_decref(o);
}

static void test_nulls(void **state)
{
    wsg_event_t ev = { 0 };
    apr_size_t len;
    json_t *o;

    ev.event = WSG_EV_UNBAN;
    ev.client = "2001:db8::1";
    o = parse_line(wsg_event_json(*state, &ev, &len), &len);
    assert_true(json_is_null(json_object_get(o, "vhost")));
    assert_true(json_is_null(json_object_get(o, "uri")));
    assert_true(json_is_null(json_object_get(o, "status")));
    assert_true(json_is_null(json_object_get(o, "ban_until")));
    assert_int_equal(json_array_size(json_object_get(o, "rules")), 0);
    assert_int_equal(json_array_size(json_object_get(o, "flags")), 0);
    assert_non_null(sget(o, "time")); /* time 0 means now */
    json_decref(o);

    ev.event = NULL;
    assert_null(wsg_event_json(*state, &ev, &len));
}

static void test_hostile_bytes(void **state)
{
    apr_pool_t *p = *state;
    char uri[256], ua[64];
    wsg_event_t ev = { 0 };
    apr_size_t len;
    json_t *o;
    const char *u;

    /* Every byte 1..255 once: controls, quotes, backslash, DEL, lone continuation bytes, ... */
    for (int i = 1; i < 256; i++)
        uri[i - 1] = (char)i;
    uri[255] = '\0';
    strcpy(ua, "a\"b\\c\nd\re\tf\x1b[31m\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x80\xa8z");
    ev.event = WSG_EV_PROBE;
    ev.client = "198.51.100.1\n{\"injected\":1}";
    ev.uri = uri;
    ev.path = "/\xff\xfe/shell.php";
    ev.ua = ua;
    ev.msg = "quote \" and backslash \\";
    o = parse_line(wsg_event_json(p, &ev, &len), &len);
    /* No injected key, and the client text survives (escaped). */
    assert_null(json_object_get(o, "injected"));
    assert_non_null(strstr(sget(o, "client"), "{\"injected\":1}"));
    u = sget(o, "ua");
    /* control bytes never come back raw from a decoded field either: \xNN, %XX in uri/path */
    assert_non_null(strstr(u, "a\"b\\c\\x0ad\\x0de\\x09f\\x1b[31m"));
    assert_non_null(strstr(sget(o, "uri"), "%01%02%03"));
    assert_non_null(strstr(sget(o, "uri"), "%1F !"));
    assert_non_null(strstr(sget(o, "uri"), "}~%7F"));
    assert_non_null(strstr(sget(o, "client"), "198.51.100.1\\x0a{"));
    {
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            const char *t = json_string_value(v);
            for (; t && *t; t++)
                if ((unsigned char)*t < 0x20 || *t == 0x7f)
                    fail_msg("field %s holds the raw byte 0x%02x", k, (unsigned char)*t);
        }
    }
    /* overlong '/', surrogate and >U+10FFFF are replaced by U+FFFD; U+2028 kept (valid). */
    assert_non_null(strstr(u, "\xef\xbf\xbd"));
    assert_non_null(strstr(u, "\xe2\x80\xa8z"));
    assert_non_null(strstr(sget(o, "path"), "\xef\xbf\xbd\xef\xbf\xbd/shell.php"));
    assert_string_equal(sget(o, "msg"), ev.msg);
    json_decref(o);
}

static void test_long_fields(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t big = 8192, len;
    char *path = apr_palloc(p, big + 1), *ctl = apr_palloc(p, big + 1), *bad = apr_palloc(p, big + 1);
    wsg_event_t ev = { 0 };
    json_t *o;

    memset(path, 'A', big);
    path[0] = '/';
    path[big] = '\0';
    memset(ctl, 0x01, big);  /* each becomes \u0001: 6x growth */
    ctl[big] = '\0';
    memset(bad, 0xff, big);  /* each becomes \ufffd */
    bad[big] = '\0';

    ev.event = WSG_EV_PROBE;
    ev.uri = path;
    ev.path = path;
    o = parse_line(wsg_event_json(p, &ev, &len), &len);
    /* Truncated, but still a useful prefix, with the marker. */
    assert_true(strlen(sget(o, "path")) > 256);
    assert_memory_equal(sget(o, "path"), "/AAAA", 5);
    assert_non_null(strstr(sget(o, "path"), "..."));
    json_decref(o);

    /* The worst case: every string field long and all of it expanding when escaped. */
    ev.client = ctl; ev.vhost = bad; ev.method = ctl; ev.uri = ctl; ev.path = bad; ev.ua = ctl;
    ev.tag = bad; ev.msg = ctl; ev.action = ctl; ev.event = bad;
    o = parse_line(wsg_event_json(p, &ev, &len), &len);
    json_decref(o);
}

static void test_many_rules(void **state)
{
    unsigned rules[500];
    wsg_event_t ev = { 0 };
    apr_size_t len;
    json_t *o;

    for (int i = 0; i < 500; i++)
        rules[i] = 4000000000u - (unsigned)i;
    ev.event = WSG_EV_PROBE;
    ev.rule_ids = rules;
    ev.n_rules = 500;
    o = parse_line(wsg_event_json(*state, &ev, &len), &len);
    assert_true(json_array_size(json_object_get(o, "rules")) > 0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "rules"), 0)), 4000000000LL);
    json_decref(o);
}

static void test_utf8_clean(void **state)
{
    apr_pool_t *p = *state;
    /* valid multi-byte text is kept, never cut inside a character */
    assert_string_equal(wsg_event_utf8_clean(p, "h\xc3\xa9llo", 6, 0), "h\xc3\xa9llo");
    assert_string_equal(wsg_event_utf8_clean(p, "h\xc3\xa9llo", 6, 6), "h\xc3\xa9llo");
    assert_string_equal(wsg_event_utf8_clean(p, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, 6),
                        "\xc3\xa9...");
    assert_string_equal(wsg_event_utf8_clean(p, "a\x80" "b", 3, 0), "a\xef\xbf\xbd" "b");
    /* truncated sequence at the end; NUL inside a counted buffer */
    assert_string_equal(wsg_event_utf8_clean(p, "a\xe2\x82", 3, 0), "a\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(wsg_event_utf8_clean(p, "a\0b", 3, 0), "a\xef\xbf\xbd" "b");
}

static void test_time(void **state)
{
    char buf[WSG_EVENT_TIMESTR];
    apr_time_t t, t2;

    assert_int_equal(wsg_event_time_parse("2026-11-26T10:30:35.123Z", &t), APR_SUCCESS);
    assert_string_equal(wsg_event_time_str(t, buf), "2026-11-26T10:30:35.123Z");
    assert_int_equal(wsg_event_time_parse("2026-11-26T12:30:35.123+02:00", &t2), APR_SUCCESS);
    assert_true(t == t2);
    assert_int_equal(wsg_event_time_parse("2026-11-26", &t), APR_SUCCESS);
    assert_string_equal(wsg_event_time_str(t, buf), "2026-11-26T00:00:00.000Z");
    assert_int_equal(wsg_event_time_parse("2026-11-26T10:30", &t), APR_SUCCESS);
    assert_string_equal(wsg_event_time_str(t, buf), "2026-11-26T10:30:00.000Z");
    assert_int_equal(wsg_event_time_parse("2026-13-01", &t), APR_EINVAL);
    assert_int_equal(wsg_event_time_parse("yesterday", &t), APR_EINVAL);
    assert_int_equal(wsg_event_time_parse("2026-11-26T10:30:35Zjunk", &t), APR_EINVAL);
    assert_int_equal(wsg_event_time_parse("", &t), APR_EINVAL);
}

/* The premise of the event log: 16 processes writing whole lines with one write each, to an
 * O_APPEND file (as the glue opens it) and to a pipe (a piped logger), never tear a line. */
#define WORKERS 16
#define PER_WORKER 400

static void write_worker(int w, apr_file_t *file, int pipefd)
{
    apr_pool_t *p;
    char *path = malloc(8193);
    wsg_event_t ev = { 0 };
    unsigned seed = (unsigned)w * 7919u + 1;

    apr_pool_create(&p, NULL);
    for (int i = 0; i < PER_WORKER; i++) {
        apr_size_t n = (rand_r(&seed) % 8192) + 1, len;
        const char *line;
        for (apr_size_t k = 0; k < n; k++)
            path[k] = (char)(rand_r(&seed) % 255 + 1); /* any byte but NUL */
        path[n] = '\0';
        memset(&ev, 0, sizeof(ev));
        ev.event = WSG_EV_PROBE;
        ev.client = "203.0.113.9";
        ev.uri = path;
        ev.path = path + n / 2;
        ev.ua = path + n / 3;
        ev.msg = apr_psprintf(p, "worker %d", w);
        ev.req_score = i;
        line = wsg_event_json(p, &ev, &len);
        if (!line || len >= WSG_EVENT_LINE_MAX)
            _exit(3);
        if (apr_file_write_full(file, line, len, NULL) != APR_SUCCESS)
            _exit(4);
        if (write(pipefd, line, len) != (ssize_t)len)
            _exit(5);
        apr_pool_clear(p);
    }
    _exit(0);
}

/* Checks every line of buf; counts[w] gets the lines of worker w, seen[w][i] each sequence. */
static void check_lines(char *buf, size_t size)
{
    static unsigned char seen[WORKERS][PER_WORKER];
    int counts[WORKERS] = { 0 }, total = 0;
    char *line = buf, *nl;

    memset(seen, 0, sizeof(seen));
    assert_true(size > 0 && buf[size - 1] == '\n');
    while (line < buf + size && (nl = memchr(line, '\n', (size_t)(buf + size - line)))) {
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &e);
        int w, i;
        if (!o)
            fail_msg("torn or invalid line %d: %s", total, e.text);
        assert_true(nl - line < WSG_EVENT_LINE_MAX);
        assert_int_equal(sscanf(json_string_value(json_object_get(o, "msg")), "worker %d", &w), 1);
        i = (int)json_integer_value(json_object_get(o, "score"));
        assert_true(w >= 0 && w < WORKERS && i >= 0 && i < PER_WORKER);
        assert_false(seen[w][i]);
        seen[w][i] = 1;
        counts[w]++;
        total++;
        json_decref(o);
        line = nl + 1;
    }
    assert_int_equal(total, WORKERS * PER_WORKER);
    for (int w = 0; w < WORKERS; w++)
        assert_int_equal(counts[w], PER_WORKER);
}

static void test_concurrent_writers(void **state)
{
    apr_pool_t *p = *state;
    char *fname = apr_pstrdup(p, "/tmp/wsg_test_event_XXXXXX");
    int fd = mkstemp(fname), pfd[2];
    apr_file_t *file;
    pid_t pids[WORKERS];
    size_t cap = 1 << 20, size = 0;
    char *buf = malloc(cap);
    ssize_t n;
    FILE *f;

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(apr_file_open(&file, fname, APR_WRITE | APR_APPEND | APR_CREATE,
                                   APR_OS_DEFAULT, p), APR_SUCCESS);
    assert_int_equal(pipe(pfd), 0);
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            close(pfd[0]);
            write_worker(w, file, pfd[1]);
        }
    }
    close(pfd[1]);
    /* Drain the pipe while they write, as a piped logger does. */
    while ((n = read(pfd[0], buf + size, cap - size)) > 0) {
        size += (size_t)n;
        if (size == cap)
            buf = realloc(buf, cap *= 2);
    }
    close(pfd[0]);
    for (int w = 0; w < WORKERS; w++) {
        int st;
        assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    check_lines(buf, size);

    apr_file_close(file);
    f = fopen(fname, "rb");
    assert_non_null(f);
    size = 0;
    while ((n = (ssize_t)fread(buf + size, 1, cap - size, f)) > 0) {
        size += (size_t)n;
        if (size == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    unlink(fname);
    check_lines(buf, size);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_fields, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_nulls, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_bytes, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_long_fields, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_many_rules, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_utf8_clean, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_time, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
