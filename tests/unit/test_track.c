/* Unit tests for wsg_track: one scored request applied to the address and prefix records. */
#include <stdio.h>
#include <string.h>
#include "wsg_test.h"
#include "wsg_track.h"

#define SEC APR_USEC_PER_SEC
#define T0 ((apr_time_t)1800000000 * SEC)

static wsg_policy_t policy(void)
{
    wsg_policy_t pol;
    wsg_policy_defaults(&pol);
    pol.ratelimit = 0;
    pol.ban = 10;
    pol.halflife = 0;           /* no decay: exact sums */
    pol.prefix_ban = 30;
    return pol;
}

static wsg_track_t probe(const wsg_addr_t *a, double score, unsigned rule, const char *path,
                         apr_time_t now)
{
    wsg_track_t t;
    memset(&t, 0, sizeof(t));
    t.score = score;
    t.rule = rule;
    t.path = path;
    t.now = now;
    t.addr = a;
    return t;
}

static void test_address_record(void **state)
{
    wsg_policy_t pol = policy();
    wsg_addr_t a;
    wsg_rec_t recs[2];
    wsg_track_result_t res;
    wsg_track_t t;
    (void)state;

    memset(recs, 0, sizeof(recs));
    assert_int_equal(wsg_addr_parse("192.0.2.7", &a), APR_SUCCESS);
    t = probe(&a, 4, 101, "/a.php", T0);
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 1, &res), 1);
    assert_int_equal(res.action, WSG_ACT_PASS);
    t = probe(&a, 4, 102, "/b.php", T0 + SEC);
    wsg_track_apply(&pol, &t, recs, 1, &res);
    t = probe(&a, 2, 102, "/b.php", T0 + 2 * SEC);   /* same path again: not a new probe */
    t.set_flags = WSG_RF_SHELL_HIT;
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 1, &res), 1);
    assert_int_equal(res.action, WSG_ACT_BAN);        /* 4 + 4 + 2 reaches 10 */
    assert_true(res.ban_until > T0);
    assert_true(res.client_score > 9.99);
    assert_int_equal(recs[0].hits, 3);
    assert_int_equal(recs[0].distinct, 2);
    assert_int_equal(recs[0].rules[0], 102);           /* newest first, no repeats in a row */
    assert_int_equal(recs[0].rules[1], 101);
    assert_int_equal(recs[0].rules[2], 0);
    assert_true(recs[0].flags & WSG_RF_SHELL_HIT);
    assert_int_equal(recs[0].first_seen, T0);
    assert_int_equal(recs[0].last_seen, T0 + 2 * SEC);
    assert_memory_equal(&res.rec, &recs[0], sizeof(wsg_rec_t));
}

/* One address, however busy, never bans its /24; two addresses together do. */
static void test_prefix_needs_two_members(void **state)
{
    wsg_policy_t pol = policy();
    wsg_addr_t a, b;
    wsg_rec_t ra[2], rb[2];
    wsg_track_result_t res;
    wsg_track_t t;
    int i;
    (void)state;

    memset(ra, 0, sizeof(ra));
    assert_int_equal(wsg_addr_parse("198.51.100.1", &a), APR_SUCCESS);
    assert_int_equal(wsg_addr_parse("198.51.100.2", &b), APR_SUCCESS);
    for (i = 0; i < 8; i++) {
        t = probe(&a, 5, 1, NULL, T0 + i * SEC);
        assert_int_equal(wsg_track_apply(&pol, &t, ra, 2, &res), 3);
    }
    assert_int_equal(ra[1].members, 1);
    assert_true(ra[1].score >= 40);
    assert_int_equal(ra[1].ban_until, 0);
    /* The second member's first request: the prefix reaches 30 with two members. */
    memset(rb, 0, sizeof(rb));
    rb[1] = ra[1];
    t = probe(&b, 1, 1, NULL, T0 + 10 * SEC);
    assert_int_equal(wsg_track_apply(&pol, &t, rb, 2, &res), 3);
    assert_int_equal(rb[1].members, 2);
    assert_true(rb[1].ban_until > T0);
    assert_int_equal(res.action, WSG_ACT_BAN);        /* refused by its prefix's ban */
    assert_int_equal(res.ban_until, rb[1].ban_until);
    assert_int_equal(rb[0].ban_until, 0);              /* the address itself is not banned */
}

static void test_prefix_off(void **state)
{
    wsg_policy_t pol = policy();
    wsg_addr_t a;
    wsg_rec_t recs[2];
    wsg_track_result_t res;
    wsg_track_t t;
    (void)state;

    pol.prefix_ban = 0;
    memset(recs, 0, sizeof(recs));
    assert_int_equal(wsg_addr_parse("2001:db8::1", &a), APR_SUCCESS);
    t = probe(&a, 50, 1, NULL, T0);
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 2, &res), 1);
    assert_int_equal(recs[1].hits, 0);
    assert_int_equal(res.action, WSG_ACT_BAN);
}

/* Rotation within a /64: once the prefix has WSG_TRACK_FOLD_MEMBERS members, a new member's
 * low-scoring request is kept in the prefix only (no address record), the prefix still bans on
 * the sum; an address that bans or rate-limits itself, carries an alert, or already has a
 * record is still written. */
static void test_prefix_fold(void **state)
{
    wsg_policy_t pol = policy();
    wsg_addr_t a;
    wsg_rec_t recs[2], pre;
    wsg_track_result_t res;
    wsg_track_t t;
    char text[64];
    int i, written = 0;
    (void)state;

    pol.ratelimit = 5;
    memset(&pre, 0, sizeof(pre));
    for (i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "2001:db8:1:2::%x", i + 1);
        assert_int_equal(wsg_addr_parse(text, &a), APR_SUCCESS);
        memset(recs, 0, sizeof(recs));
        recs[1] = pre;
        t = probe(&a, 0.25, 7, "/x.php", T0 + i * SEC);
        if (wsg_track_apply(&pol, &t, recs, 2, &res) & 1)
            written++;
        pre = recs[1];
        if (i < 30)
            assert_int_equal(res.action, WSG_ACT_PASS);
    }
    /* The first members until the prefix counts 8 of them (the bloom may undercount a little). */
    assert_true(written >= WSG_TRACK_FOLD_MEMBERS && written <= WSG_TRACK_FOLD_MEMBERS + 3);
    assert_true(pre.members >= 20);                   /* approximate (a 64-bit bloom) */
    assert_true(pre.score >= 24.9);                   /* every request counted in the prefix */
    /* The prefix ban (at 30 with >= 2 members) comes from the folded requests too. */
    for (i = 100; i < 130 && res.action != WSG_ACT_BAN; i++) {
        snprintf(text, sizeof(text), "2001:db8:1:2::%x", i + 1);
        assert_int_equal(wsg_addr_parse(text, &a), APR_SUCCESS);
        memset(recs, 0, sizeof(recs));
        recs[1] = pre;
        t = probe(&a, 0.25, 7, NULL, T0 + i * SEC);
        assert_int_equal(wsg_track_apply(&pol, &t, recs, 2, &res), 2);
        pre = recs[1];
    }
    assert_int_equal(res.action, WSG_ACT_BAN);
    assert_true(pre.ban_until > T0);

    /* A member that rate-limits itself with one request is written. */
    pre.ban_until = 0;
    pre.score = 0;
    memset(recs, 0, sizeof(recs));
    recs[1] = pre;
    t = probe(&a, 6, 7, NULL, T0 + 200 * SEC);
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 2, &res), 3);
    /* So is an alert, and a member that already has a record. */
    memset(recs, 0, sizeof(recs));
    recs[1] = pre;
    t = probe(&a, 0.25, 7, NULL, T0 + 201 * SEC);
    t.set_flags = WSG_RF_SHELL_HIT;
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 2, &res), 3);
    t.set_flags = 0;
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 2, &res), 3);
    /* Without prefix bans nothing is folded. */
    pol.prefix_ban = 0;
    memset(recs, 0, sizeof(recs));
    recs[1] = pre;
    assert_int_equal(wsg_track_apply(&pol, &t, recs, 2, &res), 1);
}

static void test_script_ext(void **state)
{
    static const char *yes[] = { "php", "php5", "phtml", "asp", "aspx", "jsp", "cgi", "pl", "alfa" };
    static const char *no[] = { "", "html", "css", "js", "png", "PHP", "phpx", "txt" };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(wsg_track_is_script_ext(yes[i]));
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(wsg_track_is_script_ext(no[i]));
    assert_false(wsg_track_is_script_ext(NULL));
}

/* The ring of recent misses: newest first, no duplicates, the oldest of 5 forgotten, written
 * only by a request whose miss part counted. */
static void test_miss_ring(void **state)
{
    wsg_policy_t pol;
    wsg_track_t t;
    wsg_track_result_t res;
    wsg_addr_t a;
    wsg_rec_t recs[1];
    static const char *p[] = {"/a.php", "/b.php", "/c.php", "/d.php", "/e.php"};
    int i;

    (void)state;
    memset(recs, 0, sizeof(recs));
    assert_int_equal(wsg_track_recent_misses(&recs[0]), 0);
    assert_false(wsg_track_missed_lately(&recs[0], "/a.php", 6));
    for (i = 0; i < 4; i++)
        wsg_track_push_miss(&recs[0], p[i], strlen(p[i]));
    wsg_track_push_miss(&recs[0], "/a.php", 6);             /* a repeat moves to the front */
    assert_int_equal(wsg_track_recent_misses(&recs[0]), 4);
    wsg_track_push_miss(&recs[0], p[4], strlen(p[4]));      /* the oldest, /b.php, goes */
    assert_false(wsg_track_missed_lately(&recs[0], "/b.php", 6));
    for (i = 0; i < 5; i++)
        if (i != 1)
            assert_true(wsg_track_missed_lately(&recs[0], p[i], strlen(p[i])));
    assert_false(wsg_track_missed_lately(&recs[0], "/a.php?x", 8));

    wsg_policy_defaults(&pol);
    wsg_addr_parse("192.0.2.7", &a);
    memset(recs, 0, sizeof(recs));
    memset(&t, 0, sizeof(t));
    t.score = 1;
    t.now = apr_time_from_sec(1000);
    t.path = "/x.php";
    t.addr = &a;
    wsg_track_apply(&pol, &t, recs, 1, &res);
    assert_false(wsg_track_missed_lately(&recs[0], "/x.php", 6));   /* a probe, not a miss */
    t.missed = 1;
    wsg_track_apply(&pol, &t, recs, 1, &res);
    assert_true(wsg_track_missed_lately(&recs[0], "/x.php", 6));
    assert_true(wsg_track_missed_lately(&res.rec, "/x.php", 6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_record),
        cmocka_unit_test(test_prefix_needs_two_members),
        cmocka_unit_test(test_prefix_off),
        cmocka_unit_test(test_prefix_fold),
        cmocka_unit_test(test_script_ext),
        cmocka_unit_test(test_miss_ring),
    };
    return WSG_RUN_GROUP(tests);
}
