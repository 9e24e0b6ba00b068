/* Unit tests for the operator's view: wsg_metrics (slots, atomic adds from many threads, sums,
 * the exposition), wsg_refused (aggregation per client and minute, bounded paths, a full table,
 * many threads) and the event fields it writes, and wsg_status's relative times. */
#include "wsg_test.h"
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <jansson.h>
#include "wsg_metrics.h"
#include "wsg_refused.h"
#include "wsg_event.h"
#include "wsg_status.h"

static wsg_metrics_t *table(apr_pool_t *p, unsigned nslots)
{
    apr_size_t size = wsg_metrics_size(nslots) + 64;
    char *mem = apr_palloc(p, size);
    void *base = (void *)(((apr_uintptr_t)mem + 63) & ~(apr_uintptr_t)63);
    wsg_metrics_t *m = wsg_metrics_init(base, wsg_metrics_size(nslots), nslots);
    assert_non_null(m);
    return m;
}

static int never_alive(long pid) { (void)pid; return 0; }
static int always_alive(long pid) { (void)pid; return 1; }

static void test_metrics_slots(void **state)
{
    apr_pool_t *p = *state;
    wsg_metrics_t *m = table(p, 3);
    wsg_metrics_slot_t *a, *b, *c, *d;
    wsg_metrics_counts_t sum;

    assert_null(wsg_metrics_init(NULL, 100, 3));
    assert_int_equal(wsg_metrics_tag_add(m, "php-shell"), 0);
    assert_int_equal(wsg_metrics_tag_add(m, "asp-shell"), 1);
    assert_int_equal(wsg_metrics_tag_add(m, "php-shell"), 0);       /* kept its index */
    assert_int_equal(wsg_metrics_tag_index(m, "asp-shell"), 1);
    assert_int_equal(wsg_metrics_tag_index(m, "nope"), WSG_MT_OTHER);
    assert_int_equal(wsg_metrics_tag_index(m, NULL), WSG_MT_NONE);
    a = wsg_metrics_claim(m, 100, always_alive);
    b = wsg_metrics_claim(m, 101, always_alive);
    c = wsg_metrics_claim(m, 102, always_alive);     /* none free: the shared slot */
    assert_true(a != b && c != a && c != b);
    wsg_metrics_add(a, WSG_MC_INSPECTED, 3);
    wsg_metrics_add(b, WSG_MC_INSPECTED, 4);
    wsg_metrics_add(c, WSG_MC_INSPECTED, 5);
    wsg_metrics_probe(a, m, "asp-shell");
    wsg_metrics_probe(b, m, NULL);
    wsg_metrics_probe(c, m, "unknown");
    /* a slot released keeps its counts, and the next process adds to them */
    wsg_metrics_release(a);
    d = wsg_metrics_claim(m, 103, always_alive);
    assert_ptr_equal(d, a);
    wsg_metrics_add(d, WSG_MC_INSPECTED, 1);
    /* a dead process's slot is taken over */
    assert_ptr_equal(wsg_metrics_claim(m, 104, never_alive), a);   /* the first one looked at */
    wsg_metrics_sum(m, &sum);
    assert_int_equal(sum.c[WSG_MC_INSPECTED], 13);
    assert_int_equal(sum.c[WSG_MC_PROBES], 3);
    assert_int_equal(sum.tag[1], 1);
    assert_int_equal(sum.tag[WSG_MT_NONE], 1);
    assert_int_equal(sum.tag[WSG_MT_OTHER], 1);
    wsg_metrics_add(NULL, WSG_MC_INSPECTED, 1);     /* no slot: nothing, no crash */
}

#define THREADS 8
#define ADDS 100000

typedef struct {
    wsg_metrics_slot_t *slot;
    wsg_refused_t      *agg;
    int                 k;
    unsigned            written;
} thr_arg_t;

static void *APR_THREAD_FUNC adder(apr_thread_t *t, void *data)
{
    thr_arg_t *a = data;
    for (int i = 0; i < ADDS; i++)
        wsg_metrics_add(a->slot, WSG_MC_REFUSED_BAN, 1);
    (void)t;   /* returns rather than apr_thread_exit(): ASan's pthread_exit path misfires */
    return NULL;
}

static void test_metrics_threads(void **state)
{
    apr_pool_t *p = *state;
    wsg_metrics_t *m = table(p, 4);
    wsg_metrics_slot_t *shared = wsg_metrics_claim(m, 1, NULL);
    apr_thread_t *t[THREADS];
    thr_arg_t arg = { shared, NULL, 0, 0 };
    wsg_metrics_counts_t sum;
    apr_status_t rv;

    for (int i = 0; i < THREADS; i++)
        assert_int_equal(apr_thread_create(&t[i], NULL, adder, &arg, p), APR_SUCCESS);
    for (int i = 0; i < THREADS; i++)
        apr_thread_join(&rv, t[i]);
    wsg_metrics_sum(m, &sum);
    assert_int_equal(sum.c[WSG_MC_REFUSED_BAN], (apr_uint64_t)THREADS * ADDS);
}

static void test_metrics_render(void **state)
{
    apr_pool_t *p = *state;
    wsg_metrics_t *m = table(p, 2);
    wsg_metrics_slot_t *s = wsg_metrics_claim(m, 7, NULL);
    wsg_metrics_counts_t c;
    wsg_metrics_gauges_t g = { 1, 10, 100, 2, 3, 1000, 250 };
    char *text;

    wsg_metrics_tag_add(m, "we\"ird\\tag");
    wsg_metrics_probe(s, m, "we\"ird\\tag");
    wsg_metrics_add(s, WSG_MC_REFUSED_PREFIX, 2);
    wsg_metrics_sum(m, &c);
    text = wsg_metrics_render(p, m, &c, &g);
    assert_non_null(strstr(text, "# TYPE wsguard_probes_total counter\n"));
    assert_non_null(strstr(text, "wsguard_probes_total{tag=\"we\\\"ird\\\\tag\"} 1\n"));
    assert_non_null(strstr(text, "wsguard_refused_total{reason=\"prefix\"} 2\n"));
    assert_non_null(strstr(text, "wsguard_refused_total{reason=\"crowdsec\"} 0\n"));
    assert_non_null(strstr(text, "wsguard_bans_active 2\n"));
    assert_non_null(strstr(text, "wsguard_evictions_total 3\n"));
    assert_non_null(strstr(text, "wsguard_map_use_ratio 0.2500\n"));
    g.have_store = 0;
    text = wsg_metrics_render(p, m, &c, &g);
    assert_null(strstr(text, "wsguard_records"));
}

static wsg_addr_t addr(const char *s)
{
    wsg_addr_t a;
    assert_int_equal(wsg_addr_parse(s, &a), APR_SUCCESS);
    return a;
}

static void test_refused_aggregates(void **state)
{
    apr_pool_t *p = *state;
    wsg_refused_t *agg;
    wsg_refused_entry_t due[4];
    wsg_addr_t a = addr("192.0.2.1"), b = addr("192.0.2.2");
    apr_time_t t0 = apr_time_from_sec(1800000000), min = apr_time_from_sec(60);
    wsg_event_t ev;
    const char *line;
    json_t *o;
    unsigned total = 0;

    assert_int_equal(wsg_refused_create(p, 0, &agg), APR_SUCCESS);
    assert_int_equal(wsg_refused_next_due(agg), 0);
    for (int i = 0; i < 30; i++)
        assert_int_equal(wsg_refused_add(agg, &a, 403, apr_psprintf(p, "/p%d.php?x=1", i % 12),
                                         t0 + i, due, 4), 0);
    assert_int_equal(wsg_refused_add(agg, &b, 429, "/q.php", t0 + 100, due, 4), 0);
    assert_int_equal(wsg_refused_add(agg, &a, 429, "/q.php", t0 + 100, due, 4), 0);
    assert_int_equal(wsg_refused_next_due(agg), t0 + min);
    assert_int_equal(wsg_refused_take(agg, t0 + min - 1, 0, due, 4), 0);
    /* its minute is over: the next refusal of the same client writes it and starts another */
    assert_int_equal(wsg_refused_add(agg, &a, 403, "/late.php", t0 + min + 200, due, 4), 3);
    for (int i = 0; i < 3; i++) {
        total += due[i].count;
        if (due[i].status == 403 && !memcmp(&due[i].addr, &a, sizeof(a))) {
            assert_int_equal(due[i].count, 30);
            assert_int_equal(due[i].npaths, WSG_REFUSED_PATHS);    /* 12 distinct, 8 kept */
            wsg_refused_event(p, &due[i], &ev);
            line = wsg_event_json(p, &ev, NULL);
            o = json_loads(line, 0, NULL);
            assert_non_null(o);
            assert_string_equal(json_string_value(json_object_get(o, "event")), "refused");
            assert_int_equal(json_integer_value(json_object_get(o, "count")), 30);
            assert_int_equal(json_array_size(json_object_get(o, "paths")), WSG_REFUSED_PATHS);
            assert_string_equal(json_string_value(json_object_get(o, "path")), "/p0.php");
            assert_string_equal(json_string_value(json_object_get(o, "client")), "192.0.2.1");
            assert_string_equal(json_string_value(json_object_get(o, "action")), "ban");
            assert_non_null(json_string_value(json_object_get(o, "since")));
            json_decref(o);
        }
    }
    assert_int_equal(total, 32);
    /* everything at exit */
    assert_int_equal(wsg_refused_take(agg, t0 + min + 201, 1, due, 4), 1);
    assert_int_equal(due[0].count, 1);
    assert_string_equal(due[0].paths[0], "/late.php");
    assert_int_equal(wsg_refused_take(agg, t0 + min + 201, 1, due, 4), 0);
    /* other events carry no aggregate fields */
    memset(&ev, 0, sizeof(ev));
    ev.event = "probe";
    assert_null(strstr(wsg_event_json(p, &ev, NULL), "\"count\""));
}

static void test_refused_full_table(void **state)
{
    apr_pool_t *p = *state;
    wsg_refused_t *agg;
    wsg_refused_entry_t due[4];
    apr_time_t t0 = apr_time_from_sec(1800000000);
    unsigned written = 0, left = 0;
    int n;

    assert_int_equal(wsg_refused_create(p, 0, &agg), APR_SUCCESS);
    for (int i = 0; i < WSG_REFUSED_SLOTS * 3; i++) {
        wsg_addr_t a = addr(apr_psprintf(p, "198.51.%d.%d", i / 200, i % 200 + 1));
        n = wsg_refused_add(agg, &a, 403, "/x", t0 + i, due, 4);
        for (int k = 0; k < n; k++)
            written += due[k].count;
    }
    while ((n = wsg_refused_take(agg, t0, 1, due, 4)) > 0)
        for (int k = 0; k < n; k++)
            left += due[k].count;
    /* the oldest went out early to make room: nothing lost, nothing counted twice */
    assert_int_equal(written, WSG_REFUSED_SLOTS * 2);
    assert_int_equal(written + left, WSG_REFUSED_SLOTS * 3);
}

static void *APR_THREAD_FUNC refuser(apr_thread_t *t, void *data)
{
    thr_arg_t *a = data;
    wsg_refused_entry_t due[4];
    wsg_addr_t ad = addr(apr_psprintf(apr_thread_pool_get(t), "203.0.113.%d", a->k % 4 + 1));
    for (int i = 0; i < 5000; i++) {
        int n = wsg_refused_add(a->agg, &ad, 403, "/f", apr_time_now(), due, 4);
        for (int k = 0; k < n; k++)
            a->written += due[k].count;
    }
    return NULL;
}

static void test_refused_threads(void **state)
{
    apr_pool_t *p = *state;
    wsg_refused_t *agg;
    wsg_refused_entry_t due[4];
    apr_thread_t *t[THREADS];
    thr_arg_t args[THREADS];
    apr_status_t rv;
    unsigned total = 0;
    int n;

    assert_int_equal(wsg_refused_create(p, apr_time_from_msec(5), &agg), APR_SUCCESS);
    for (int i = 0; i < THREADS; i++) {
        args[i].agg = agg;
        args[i].k = i;
        args[i].written = 0;
        assert_int_equal(apr_thread_create(&t[i], NULL, refuser, &args[i], p), APR_SUCCESS);
    }
    for (int i = 0; i < THREADS; i++) {
        apr_thread_join(&rv, t[i]);
        total += args[i].written;
    }
    while ((n = wsg_refused_take(agg, apr_time_now(), 1, due, 4)) > 0)
        for (int k = 0; k < n; k++)
            total += due[k].count;
    assert_int_equal(total, THREADS * 5000);
}

static void test_reltime(void **state)
{
    apr_pool_t *p = *state;
    apr_time_t now = apr_time_from_sec(1800000000);
    assert_string_equal(wsg_status_reltime(p, 0, now), "-");
    assert_string_equal(wsg_status_reltime(p, now, now), "just now");
    assert_string_equal(wsg_status_reltime(p, now - apr_time_from_sec(12), now), "12 s ago");
    assert_string_equal(wsg_status_reltime(p, now - apr_time_from_sec(300), now), "5 min ago");
    assert_string_equal(wsg_status_reltime(p, now + apr_time_from_sec(3500), now), "in 58 min");
    assert_string_equal(wsg_status_reltime(p, now - apr_time_from_sec(3 * 3600), now), "3 h ago");
    assert_string_equal(wsg_status_reltime(p, now - apr_time_from_sec(3 * 86400), now), "3 d ago");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_slots, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_threads, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_render, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_refused_aggregates, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_refused_full_table, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_refused_threads, wsg_test_pool_setup, wsg_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_reltime, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
