/* Unit tests for wsg_lapi's pure half (no network): Go durations both ways, the alerts body as
 * CrowdSec 1.4.6 requires it, blaming items from a "validation failure" answer, the stream and
 * login answers (null and [] alike, bad entries skipped), and the client's option checks. */
#include <string.h>
#include <jansson.h>
#include "wsg_test.h"
#include <apr_strings.h>
#include "wsg_lapi.h"

#define US(s) ((apr_interval_time_t)((s) * 1000000.0))

static void test_go_duration_parse(void **state)
{
    apr_interval_time_t d;
    (void)state;
    assert_int_equal(wsg_go_duration_parse("1h", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(3600));
    assert_int_equal(wsg_go_duration_parse("4h30m", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(16200));
    assert_int_equal(wsg_go_duration_parse("90m", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(5400));
    assert_int_equal(wsg_go_duration_parse("3599s", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(3599));
    /* what 1.4.6 sends: fractions of a second down to nanoseconds */
    assert_int_equal(wsg_go_duration_parse("3h59m59.082923187s", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(3 * 3600 + 59 * 60 + 59) + 82923);
    assert_int_equal(wsg_go_duration_parse("-19.721003ms", &d), APR_SUCCESS);
    assert_true(d == -19721);
    assert_int_equal(wsg_go_duration_parse("59m41.661219007s", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(59 * 60 + 41) + 661219);
    assert_int_equal(wsg_go_duration_parse("1.5h", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(5400));
    assert_int_equal(wsg_go_duration_parse("0", &d), APR_SUCCESS);
    assert_true(d == 0);
    assert_int_equal(wsg_go_duration_parse("0s", &d), APR_SUCCESS);
    assert_int_equal(wsg_go_duration_parse("+2m", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(120));
    assert_int_equal(wsg_go_duration_parse("1500us", &d), APR_SUCCESS);
    assert_true(d == 1500);
    assert_int_equal(wsg_go_duration_parse("7\xC2\xB5s", &d), APR_SUCCESS);
    assert_true(d == 7);
    assert_int_equal(wsg_go_duration_parse("2500ns", &d), APR_SUCCESS);
    assert_true(d == 2);
    assert_int_equal(wsg_go_duration_parse("1m1ms", &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(60) + 1000);
    assert_int_equal(wsg_go_duration_parse(".5s", &d), APR_SUCCESS);
    assert_true(d == 500000);
    /* what Go refuses */
    assert_int_equal(wsg_go_duration_parse("1 hour", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("5", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("1d", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("h", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("-", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse(".s", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("1h ", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse(NULL, &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("99999999999999999999h", &d), APR_EINVAL);
    assert_int_equal(wsg_go_duration_parse("3000000h", &d), APR_EINVAL);   /* > 292 years */
}

static void test_go_duration_format(void **state)
{
    apr_pool_t *p = *state;
    apr_interval_time_t d;
    assert_string_equal(wsg_go_duration_format(p, apr_time_from_sec(3599) + 999999), "3599s");
    assert_string_equal(wsg_go_duration_format(p, apr_time_from_sec(3600)), "3600s");
    assert_string_equal(wsg_go_duration_format(p, 10), "1s");      /* never 0s: not a ban */
    assert_string_equal(wsg_go_duration_format(p, -5), "1s");
    /* what we write, Go reads */
    assert_int_equal(wsg_go_duration_parse(wsg_go_duration_format(p, apr_time_from_sec(86400)),
                                           &d), APR_SUCCESS);
    assert_true(d == apr_time_from_sec(86400));
}

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("not JSON: %s: %s", e.text, s);
    return j;
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("key %s missing or not a string", k);
    return json_string_value(v);
}

static void test_alerts_json(void **state)
{
    apr_pool_t *p = *state;
    wsg_lapi_ban_t b[4];
    int **map;
    const char *req[] = { "scenario", "scenario_hash", "scenario_version", "message",
                          "events_count", "start_at", "stop_at", "capacity", "leakspeed",
                          "simulated", "events", "source", "decisions" };
    json_t *arr, *a0, *a1, *d;
    size_t i;
    apr_time_t now = apr_time_from_sec(1795000000);   /* 2026-11-18T11:06:40Z */

    memset(b, 0, sizeof(b));
    b[0].value = "203.0.113.7";
    b[0].duration = apr_time_from_sec(3599) + 500000;
    b[0].scenario = "wsguard/webshell-probe";
    b[0].probes = 12;
    b[0].paths = "/shell.php\n/c99.php";
    b[1].value = "198.51.100.0/24";
    b[1].is_range = 1;
    b[1].duration = apr_time_from_sec(600);
    b[1].scenario = "wsguard/prefix";
    b[2].value = "2001:db8::7";
    b[2].duration = apr_time_from_sec(7200);
    b[2].scenario = "wsguard/webshell-probe";
    b[2].probes = 3;
    b[2].paths = "/wso.php";
    b[3].value = "192.0.2.1";
    b[3].duration = apr_time_from_sec(60);
    b[3].scenario = NULL;                 /* default scenario */
    b[3].paths = "/bad\xff\xfe.php";      /* not UTF-8: still valid JSON */

    arr = load(wsg_lapi_alerts_json(p, b, 4, now, &map));
    assert_true(json_is_array(arr));
    /* grouped by scenario, in order of first appearance: probe(0,2), prefix(1), default(3) */
    assert_int_equal(json_array_size(arr), 3);
    a0 = json_array_get(arr, 0);
    a1 = json_array_get(arr, 1);
    for (i = 0; i < sizeof(req) / sizeof(req[0]); i++)
        assert_non_null(json_object_get(a0, req[i]));
    assert_string_equal(sget(a0, "scenario"), "wsguard/webshell-probe");
    assert_string_equal(sget(a0, "start_at"), "2026-11-18T11:06:40Z");
    assert_true(json_is_array(json_object_get(a0, "events")));
    assert_int_equal(json_integer_value(json_object_get(a0, "events_count")), 15);
    /* several decisions: the source is the batch */
    assert_string_equal(sget(json_object_get(a0, "source"), "scope"), "mod_wsguard/batch");
    assert_int_equal(json_array_size(json_object_get(a0, "decisions")), 2);
    d = json_array_get(json_object_get(a0, "decisions"), 0);
    assert_string_equal(sget(d, "scope"), "Ip");
    assert_string_equal(sget(d, "value"), "203.0.113.7");
    assert_string_equal(sget(d, "duration"), "3599s");
    assert_string_equal(sget(d, "type"), "ban");
    assert_string_equal(sget(d, "origin"), "mod_wsguard");
    assert_string_equal(sget(d, "scenario"), "wsguard/webshell-probe");
    d = json_array_get(json_object_get(a0, "decisions"), 1);
    assert_string_equal(sget(d, "value"), "2001:db8::7");
    assert_string_equal(sget(d, "scope"), "Ip");
    /* the message names the clients, their probe counts and first paths */
    assert_non_null(strstr(sget(a0, "message"), "203.0.113.7 (12 probes: /shell.php /c99.php)"));
    assert_non_null(strstr(sget(a0, "message"), "2001:db8::7 (3 probes: /wso.php)"));
    assert_non_null(strstr(sget(a0, "message"), "banned 2 clients"));
    /* one decision: the source is that client, scope spelled Range */
    assert_string_equal(sget(json_object_get(a1, "source"), "scope"), "Range");
    assert_string_equal(sget(json_object_get(a1, "source"), "value"), "198.51.100.0/24");
    d = json_array_get(json_object_get(a1, "decisions"), 0);
    assert_string_equal(sget(d, "scope"), "Range");
    assert_string_equal(sget(d, "duration"), "600s");
    assert_string_equal(sget(json_array_get(arr, 2), "scenario"), "wsguard/probe");
    assert_non_null(strstr(sget(a1, "message"), ": 198.51.100.0/24"));   /* no "()" */
    assert_null(strstr(sget(a1, "message"), "()"));
    assert_non_null(strstr(sget(json_array_get(arr, 2), "message"), "192.0.2.1 (/bad"));
    /* the map: alert -> decision -> ban index */
    assert_int_equal(map[0][0], 0);
    assert_int_equal(map[0][1], 2);
    assert_int_equal(map[0][2], -1);
    assert_int_equal(map[1][0], 1);
    assert_int_equal(map[2][0], 3);
    assert_null(map[3]);
    json_decref(arr);

    /* a long batch keeps the message bounded */
    {
        wsg_lapi_ban_t *many = apr_pcalloc(p, sizeof(*many) * 2000);
        for (i = 0; i < 2000; i++) {
            many[i].value = apr_psprintf(p, "10.%d.%d.%d", (int)(i >> 16), (int)(i >> 8 & 255),
                                         (int)(i & 255));
            many[i].duration = apr_time_from_sec(60);
            many[i].paths = "/a/very/long/path/to/a/shell/that/goes/on.php";
        }
        arr = load(wsg_lapi_alerts_json(p, many, 2000, now, NULL));
        assert_int_equal(json_array_size(arr), 1);
        assert_int_equal(json_array_size(json_object_get(json_array_get(arr, 0), "decisions")),
                         2000);
        assert_true(strlen(sget(json_array_get(arr, 0), "message")) <= 4000);
        json_decref(arr);
    }
}

static void test_blame(void **state)
{
    apr_pool_t *p = *state;
    wsg_lapi_ban_t b[3];
    int **map, bad[3];
    memset(b, 0, sizeof(b));
    b[0].value = "192.0.2.1"; b[0].duration = 1000000; b[0].scenario = "wsguard/a";
    b[1].value = "192.0.2.2"; b[1].duration = 1000000; b[1].scenario = "wsguard/b";
    b[2].value = "192.0.2.3"; b[2].duration = 1000000; b[2].scenario = "wsguard/a";
    (void)wsg_lapi_alerts_json(p, b, 3, apr_time_now(), &map);

    memset(bad, 0, sizeof(bad));
    assert_int_equal(wsg_lapi_blame("validation failure list:\n0.decisions.1.origin in body is "
                                    "required", map, 3, bad), 1);
    assert_int_equal(bad[0], 0);
    assert_int_equal(bad[1], 0);
    assert_int_equal(bad[2], 1);       /* alert 0 holds bans 0 and 2 */

    memset(bad, 0, sizeof(bad));
    assert_int_equal(wsg_lapi_blame("validation failure list:\n1.capacity in body is required\n"
                                    "1.events in body is required", map, 3, bad), 2);
    assert_int_equal(bad[0] + bad[2], 0);
    assert_int_equal(bad[1], 1);       /* a whole alert: its decisions */

    memset(bad, 0, sizeof(bad));
    assert_int_equal(wsg_lapi_blame("time: unknown unit \" hour\" in duration \"1 hour\"", map, 3,
                                    bad), 0);
    assert_int_equal(bad[0] + bad[1] + bad[2], 0);
    /* out of range indexes are ignored */
    assert_int_equal(wsg_lapi_blame("validation failure list:\n7.scenario in body is required\n"
                                    "0.decisions.9.value in body is required", map, 3, bad), 0);
    assert_int_equal(wsg_lapi_blame(NULL, map, 3, bad), 0);
}

static void test_stream_parse(void **state)
{
    apr_pool_t *p = *state;
    wsg_lapi_stream_t s;
    const char *err = NULL;
    const wsg_lapi_decision_t *d;
    const char *v146 =
        "{\"deleted\":null,\"new\":[{\"duration\":\"1h59m59.44s\",\"id\":2,\"origin\":\"cscli\","
        "\"scenario\":\"manual 'ban' from 'x'\",\"scope\":\"Ip\",\"type\":\"ban\","
        "\"value\":\"198.51.100.9\"},{\"duration\":\"3h\",\"id\":3,\"origin\":\"mod_wsguard\","
        "\"scenario\":\"wsguard/webshell-probe\",\"scope\":\"Range\",\"type\":\"ban\","
        "\"value\":\"198.18.0.0/24\",\"uuid\":\"ignored-newer-field\"}]}";
    const char *b;

    assert_int_equal(wsg_lapi_stream_parse(p, v146, strlen(v146), &s, &err), APR_SUCCESS);
    assert_int_equal(s.added->nelts, 2);
    assert_int_equal(s.deleted->nelts, 0);
    d = &APR_ARRAY_IDX(s.added, 0, wsg_lapi_decision_t);
    assert_string_equal(d->value, "198.51.100.9");
    assert_string_equal(d->scope, "Ip");
    assert_string_equal(d->type, "ban");
    assert_string_equal(d->origin, "cscli");
    assert_string_equal(d->scenario, "manual 'ban' from 'x'");
    assert_true(d->duration == apr_time_from_sec(7199) + 440000);
    assert_true(d->id == 2);
    d = &APR_ARRAY_IDX(s.added, 1, wsg_lapi_decision_t);
    assert_string_equal(d->scope, "Range");

    /* newer versions: [] instead of null; deleted entries carry a negative duration */
    b = "{\"new\":[],\"deleted\":[{\"duration\":\"-19.721003ms\",\"id\":1,\"origin\":\"mod_wsguard\","
        "\"scenario\":\"s\",\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"203.0.113.7\"}]}";
    assert_int_equal(wsg_lapi_stream_parse(p, b, strlen(b), &s, &err), APR_SUCCESS);
    assert_int_equal(s.added->nelts, 0);
    assert_int_equal(s.deleted->nelts, 1);
    assert_true(APR_ARRAY_IDX(s.deleted, 0, wsg_lapi_decision_t).duration == -19721);

    /* nothing new: both null, or keys absent */
    b = "{\"deleted\":null,\"new\":null}";
    assert_int_equal(wsg_lapi_stream_parse(p, b, strlen(b), &s, &err), APR_SUCCESS);
    assert_int_equal(s.added->nelts + s.deleted->nelts, 0);
    assert_int_equal(wsg_lapi_stream_parse(p, "{}", 2, &s, &err), APR_SUCCESS);
    assert_int_equal(s.added->nelts + s.deleted->nelts, 0);

    /* entries we cannot use are skipped, the rest kept */
    b = "{\"new\":[{\"value\":\"192.0.2.1\",\"scope\":\"Ip\",\"duration\":\"1 hour\"},"
        "{\"scope\":\"Ip\",\"duration\":\"1h\"},7,"
        "{\"value\":\"192.0.2.2\",\"scope\":\"Ip\",\"duration\":\"1h\"}]}";
    assert_int_equal(wsg_lapi_stream_parse(p, b, strlen(b), &s, &err), APR_SUCCESS);
    assert_int_equal(s.added->nelts, 1);
    assert_int_equal(s.skipped, 3);
    d = &APR_ARRAY_IDX(s.added, 0, wsg_lapi_decision_t);
    assert_string_equal(d->type, "ban");          /* defaults when absent */
    assert_string_equal(d->origin, "");

    /* not the stream at all */
    err = NULL;
    assert_int_equal(wsg_lapi_stream_parse(p, "<html>", 6, &s, &err), APR_EGENERAL);
    assert_non_null(err);
    assert_int_equal(wsg_lapi_stream_parse(p, "null", 4, &s, &err), APR_EGENERAL);
    assert_int_equal(wsg_lapi_stream_parse(p, "[]", 2, &s, &err), APR_EGENERAL);
}

static void test_login_parse(void **state)
{
    apr_pool_t *p = *state;
    const char *tok = NULL, *err = NULL;
    apr_time_t exp = 0;
    const char *b = "{\"code\":200,\"expire\":\"2026-11-26T10:14:41Z\",\"token\":\"eyJhbGci.x.y\"}";
    assert_int_equal(wsg_lapi_login_parse(p, b, strlen(b), &tok, &exp, &err), APR_SUCCESS);
    assert_string_equal(tok, "eyJhbGci.x.y");
    assert_true(exp == apr_time_from_sec(1795688081));
    /* 1.4.6 writes the expiry with the server's offset */
    b = "{\"code\":200,\"expire\":\"2026-11-26T11:14:41+01:00\",\"token\":\"t\"}";
    assert_int_equal(wsg_lapi_login_parse(p, b, strlen(b), &tok, &exp, &err), APR_SUCCESS);
    assert_true(exp == apr_time_from_sec(1795688081));
    b = "{\"code\":401,\"message\":\"incorrect Username or Password\"}";
    assert_int_equal(wsg_lapi_login_parse(p, b, strlen(b), &tok, &exp, &err), APR_EGENERAL);
    assert_non_null(err);
}

static void test_create_checks(void **state)
{
    apr_pool_t *p = *state;
    wsg_lapi_opts_t o;
    wsg_lapi_t *cl;
    const char *err = NULL;
    memset(&o, 0, sizeof(o));
    o.url = "ftp://127.0.0.1:8080";
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_EINVAL);
    assert_non_null(strstr(err, "ftp://127.0.0.1:8080"));
    o.url = "http://";
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_EINVAL);
    o.url = "http://127.0.0.1:8080/ x";
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_EINVAL);
    o.url = "http://127.0.0.1:8080/";
    o.machine = "web01";
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_EINVAL);   /* no password */
    o.password = "pw";
    o.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    o.ca_file = NULL;
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_SUCCESS);
    assert_true(wsg_lapi_can_push(cl));
    assert_false(wsg_lapi_can_pull(cl));
    /* without a bouncer key, a pull says so instead of sending anything */
    {
        wsg_lapi_stream_t s;
        err = NULL;
        assert_int_equal(wsg_lapi_pull(cl, p, 1, &s, &err), APR_EINVAL);
        assert_non_null(strstr(err, "bouncer"));
    }
}

/* A port nothing listens on: the error says the LAPI cannot be reached, with its URL. */
static void test_unreachable(void **state)
{
    apr_pool_t *p = *state;
    wsg_lapi_opts_t o;
    wsg_lapi_t *cl;
    wsg_lapi_push_result_t res;
    wsg_lapi_ban_t b;
    const char *err = NULL;
    memset(&o, 0, sizeof(o));
    o.url = "http://127.0.0.1:9";
    o.machine = "m";
    o.password = "p";
    o.connect_timeout = apr_time_from_msec(500);
    assert_int_equal(wsg_lapi_create(p, &o, &cl, &err), APR_SUCCESS);
    memset(&b, 0, sizeof(b));
    b.value = "192.0.2.1";
    b.duration = apr_time_from_sec(60);
    assert_int_equal(wsg_lapi_push(cl, p, &b, 1, apr_time_now(), &res, &err), APR_ECONNREFUSED);
    assert_non_null(strstr(err, "http://127.0.0.1:9/v1/watchers/login"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_duration_parse),
        cmocka_unit_test_setup_teardown(test_go_duration_format, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_alerts_json, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_blame, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_stream_parse, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_login_parse, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_create_checks, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
