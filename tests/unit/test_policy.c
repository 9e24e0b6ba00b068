/* Unit tests for wsg_policy: exact threshold counts, decay, slow scans, escalation, Retry-After
 * values and expiry, all with an injected clock. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "wsg_test.h"
#include "wsg_policy.h"

#define SEC(s) apr_time_from_sec(s)
#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)   /* an arbitrary fixed "now" */

static void rec_init(wsg_rec_t *r)
{
    memset(r, 0, sizeof(*r));
    r->version = WSG_REC_VERSION;
}

static void test_defaults(void **state)
{
    wsg_policy_t pol;
    wsg_policy_defaults(&pol);
    assert_true(pol.ratelimit == 5.0);
    assert_true(pol.ban == 10.0);
    assert_int_equal(pol.halflife, SEC(3600));
    assert_int_equal(pol.ban_time, SEC(3600));
    assert_int_equal(pol.ban_max, SEC(7 * 24 * 3600));
    assert_true(pol.prefix_ban == 30.0);
}

/* With ban threshold T and rules of score 1, the T-th request bans (itself refused), even with a
 * few milliseconds of decay between the requests of a burst. */
static void test_exact_ban_count(void **state)
{
    static const int thresholds[] = { 1, 2, 3, 5, 10, 20, 50 };
    size_t i;
    for (i = 0; i < sizeof(thresholds) / sizeof(thresholds[0]); i++) {
        int T = thresholds[i], k;
        wsg_policy_t pol;
        wsg_rec_t r;
        apr_time_t now = T0;

        wsg_policy_defaults(&pol);
        pol.ratelimit = 0;             /* only the ban tier here */
        pol.ban = T;
        rec_init(&r);
        for (k = 1; k <= T; k++) {
            wsg_action_t a;
            assert_int_equal(wsg_policy_check(&pol, &r, now, NULL), WSG_ACT_PASS);
            a = wsg_policy_add(&pol, &r, 1.0, now);
            if (k < T)
                assert_int_equal(a, WSG_ACT_PASS);
            else
                assert_int_equal(a, WSG_ACT_BAN);
            now += 20 * 1000;          /* 20 ms between probes */
        }
        assert_int_equal(r.ban_count, 1);
        assert_int_equal(r.hits, T);
        assert_int_equal(r.ban_until, now - 20 * 1000 + SEC(3600));
        assert_int_equal(wsg_policy_check(&pol, &r, now, NULL), WSG_ACT_BAN);
    }
}

/* Default tiers: requests 1-4 pass, 5-9 are rate-limited, the 10th bans. */
static void test_tiers_default(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    apr_time_t now = T0;
    int k;

    wsg_policy_defaults(&pol);
    rec_init(&r);
    for (k = 1; k <= 10; k++) {
        wsg_action_t a = wsg_policy_add(&pol, &r, 1.0, now);
        if (k < 5)
            assert_int_equal(a, WSG_ACT_PASS);
        else if (k < 10)
            assert_int_equal(a, WSG_ACT_RATELIMIT);
        else
            assert_int_equal(a, WSG_ACT_BAN);
        if (k >= 5 && k < 10)
            assert_int_equal(wsg_policy_check(&pol, &r, now + 1000, NULL), WSG_ACT_RATELIMIT);
        now += 5 * 1000;
    }
}

static void test_decay_halflife(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;

    wsg_policy_defaults(&pol);
    rec_init(&r);
    r.score = 8.0;
    r.score_time = T0;
    assert_true(fabs(wsg_policy_score_now(&pol, &r, T0) - 8.0) < 1e-9);
    assert_true(fabs(wsg_policy_score_now(&pol, &r, T0 + SEC(3600)) - 4.0) < 1e-9);
    assert_true(fabs(wsg_policy_score_now(&pol, &r, T0 + SEC(7200)) - 2.0) < 1e-9);
    assert_true(fabs(wsg_policy_score_now(&pol, &r, T0 + SEC(1800)) - 8.0 / sqrt(2.0)) < 1e-9);
    /* A clock that steps back does not inflate the score. */
    assert_true(fabs(wsg_policy_score_now(&pol, &r, T0 - SEC(3600)) - 8.0) < 1e-9);

    /* add() decays first, then adds. */
    assert_int_equal(wsg_policy_add(&pol, &r, 1.0, T0 + SEC(3600)), WSG_ACT_RATELIMIT);
    assert_true(fabs(r.score - 5.0) < 1e-9);
    assert_int_equal(r.score_time, T0 + SEC(3600));

    /* Half-life 0: no decay at all. */
    pol.halflife = 0;
    r.score = 3.0;
    r.score_time = T0;
    assert_true(wsg_policy_score_now(&pol, &r, T0 + SEC(86400 * 30)) == 3.0);
}

/* One probe a minute for an hour (the slow scanner a one-second window misses) is banned. */
static void test_slow_scan(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    int k, banned_at = 0;

    wsg_policy_defaults(&pol);
    rec_init(&r);
    for (k = 1; k <= 60; k++) {
        apr_time_t now = T0 + SEC(60) * (k - 1);
        if (wsg_policy_check(&pol, &r, now, NULL) == WSG_ACT_BAN)
            break;
        if (wsg_policy_add(&pol, &r, 1.0, now) == WSG_ACT_BAN) {
            banned_at = k;
            break;
        }
    }
    assert_true(banned_at > 0);
    /* Ten probes over nine minutes decay to ~9.5: the 11th bans. */
    assert_int_equal(banned_at, 11);

    /* One probe every 10 minutes never reaches 10 (the limit of the series is ~9.2). */
    rec_init(&r);
    for (k = 0; k < 200; k++)
        assert_int_not_equal(wsg_policy_add(&pol, &r, 1.0, T0 + SEC(600) * k), WSG_ACT_BAN);
}

static void test_escalation(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    apr_time_t now = T0;
    int k;

    wsg_policy_defaults(&pol);
    assert_int_equal(wsg_policy_ban_length(&pol, 0), SEC(3600));
    assert_int_equal(wsg_policy_ban_length(&pol, 1), SEC(3600));
    assert_int_equal(wsg_policy_ban_length(&pol, 2), SEC(7200));
    assert_int_equal(wsg_policy_ban_length(&pol, 3), SEC(4 * 3600));
    assert_int_equal(wsg_policy_ban_length(&pol, 8), SEC(128 * 3600));
    assert_int_equal(wsg_policy_ban_length(&pol, 9), SEC(7 * 24 * 3600));   /* 256h capped */
    assert_int_equal(wsg_policy_ban_length(&pol, 64), SEC(7 * 24 * 3600));  /* no overflow */
    assert_int_equal(wsg_policy_ban_length(&pol, 0xffffffffu), SEC(7 * 24 * 3600));

    /* A cap that is not a power-of-two multiple. */
    pol.ban_max = SEC(3 * 3600);
    assert_int_equal(wsg_policy_ban_length(&pol, 2), SEC(7200));
    assert_int_equal(wsg_policy_ban_length(&pol, 3), SEC(3 * 3600));
    /* A cap below the first ban means no escalation, never a shorter ban. */
    pol.ban_max = 0;
    assert_int_equal(wsg_policy_ban_length(&pol, 5), SEC(3600));
    /* Huge values do not overflow. */
    pol.ban_time = APR_INT64_C(1) << 61;
    pol.ban_max = APR_INT64_MAX;
    assert_true(wsg_policy_ban_length(&pol, 10) > 0);

    /* Through add(): the second ban of a repeat offender lasts twice as long. */
    wsg_policy_defaults(&pol);
    pol.ratelimit = 0;
    rec_init(&r);
    for (k = 0; k < 10; k++)
        wsg_policy_add(&pol, &r, 1.0, now);
    assert_int_equal(r.ban_count, 1);
    assert_int_equal(r.ban_until, now + SEC(3600));
    now = r.ban_until + SEC(1);
    assert_int_equal(wsg_policy_check(&pol, &r, now, NULL), WSG_ACT_PASS);
    for (k = 0; k < 10 && wsg_policy_add(&pol, &r, 1.0, now) != WSG_ACT_BAN; k++)
        ;
    assert_int_equal(r.ban_count, 2);
    assert_int_equal(r.ban_until, now + SEC(7200));
}

/* More scored requests during a ban do not extend it or count as another ban. */
static void test_banned_not_extended(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    apr_time_t until;
    int k;

    wsg_policy_defaults(&pol);
    rec_init(&r);
    for (k = 0; k < 10; k++)
        wsg_policy_add(&pol, &r, 1.0, T0);
    until = r.ban_until;
    assert_int_equal(wsg_policy_add(&pol, &r, 5.0, T0 + SEC(60)), WSG_ACT_BAN);
    assert_int_equal(r.ban_until, until);
    assert_int_equal(r.ban_count, 1);
    assert_int_equal(r.hits, 11);
    assert_int_equal(r.first_seen, T0);
    assert_int_equal(r.last_seen, T0 + SEC(60));
}

static void test_retry_after(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    apr_interval_time_t ra = -1;

    wsg_policy_defaults(&pol);
    rec_init(&r);

    /* Ban: seconds until ban_until, rounded up. */
    r.ban_until = T0 + SEC(100);
    assert_int_equal(wsg_policy_check(&pol, &r, T0, &ra), WSG_ACT_BAN);
    assert_int_equal(ra, 100);
    assert_int_equal(wsg_policy_check(&pol, &r, T0 + 500 * 1000, &ra), WSG_ACT_BAN);
    assert_int_equal(ra, 100);
    assert_int_equal(wsg_policy_check(&pol, &r, T0 + SEC(100) - 1, &ra), WSG_ACT_BAN);
    assert_int_equal(ra, 1);
    assert_int_equal(wsg_policy_check(&pol, &r, T0 + SEC(100), &ra), WSG_ACT_PASS);
    assert_int_equal(ra, 0);
    assert_int_equal(wsg_policy_check(&pol, &r, T0, NULL), WSG_ACT_BAN);   /* NULL allowed */

    /* Rate limit: until the score decays below the tier; 5 -> 4.95 takes h*log2(5/4.95) ~ 52.3s. */
    r.ban_until = 0;
    r.score = 5.0;
    r.score_time = T0;
    assert_int_equal(wsg_policy_check(&pol, &r, T0, &ra), WSG_ACT_RATELIMIT);
    assert_int_equal(ra, (apr_interval_time_t)ceil(3600.0 * log2(5.0 / 4.95)));
    assert_int_equal(wsg_policy_check(&pol, &r, T0 + SEC(ra), NULL), WSG_ACT_PASS);
    assert_int_equal(wsg_policy_check(&pol, &r, T0 + SEC(ra - 1), NULL), WSG_ACT_RATELIMIT);

    /* 9.9 -> below 4.95 is exactly one half-life (plus the rounding). */
    r.score = 9.9;
    assert_int_equal(wsg_policy_check(&pol, &r, T0, &ra), WSG_ACT_RATELIMIT);
    assert_true(ra == 3600 || ra == 3601);

    /* Even a score right at the edge gets at least one second. */
    r.score = 4.95;
    assert_int_equal(wsg_policy_check(&pol, &r, T0, &ra), WSG_ACT_RATELIMIT);
    assert_int_equal(ra, 1);

    /* Without decay the tier never ends by itself: come back after a ban's length. */
    pol.halflife = 0;
    r.score = 6.0;
    assert_int_equal(wsg_policy_check(&pol, &r, T0 + SEC(86400), &ra), WSG_ACT_RATELIMIT);
    assert_int_equal(ra, 3600);
}

static void test_ratelimit_disabled(void **state)
{
    static const double off[] = { 0.0, -1.0 };
    size_t i;
    for (i = 0; i < 2; i++) {
        wsg_policy_t pol;
        wsg_rec_t r;
        int k;
        wsg_policy_defaults(&pol);
        pol.ratelimit = off[i];
        rec_init(&r);
        for (k = 1; k < 10; k++) {
            assert_int_equal(wsg_policy_add(&pol, &r, 1.0, T0), WSG_ACT_PASS);
            assert_int_equal(wsg_policy_check(&pol, &r, T0, NULL), WSG_ACT_PASS);
        }
        assert_int_equal(wsg_policy_add(&pol, &r, 1.0, T0), WSG_ACT_BAN);
    }
}

/* A ban threshold <= 0 never bans from score (ratelimit tier still works). */
static void test_ban_disabled(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    int k;
    wsg_policy_defaults(&pol);
    pol.ban = 0;
    rec_init(&r);
    for (k = 0; k < 100; k++)
        assert_int_not_equal(wsg_policy_add(&pol, &r, 1.0, T0), WSG_ACT_BAN);
    assert_int_equal(r.ban_until, 0);
    assert_int_equal(wsg_policy_check(&pol, &r, T0, NULL), WSG_ACT_RATELIMIT);
}

static void test_first_last_seen(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    wsg_policy_defaults(&pol);
    rec_init(&r);
    wsg_policy_add(&pol, &r, 0.5, T0);
    wsg_policy_add(&pol, &r, 0.5, T0 + SEC(10));
    assert_int_equal(r.first_seen, T0);
    assert_int_equal(r.last_seen, T0 + SEC(10));
    assert_int_equal(r.hits, 2);
    assert_int_equal(r.ban_count, 0);
    /* A zeroed record (store miss) gets the version set. */
    memset(&r, 0, sizeof(r));
    wsg_policy_add(&pol, &r, 1.0, T0);
    assert_int_equal(r.version, WSG_REC_VERSION);
}

static void test_expiry(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    wsg_policy_defaults(&pol);
    rec_init(&r);

    wsg_policy_add(&pol, &r, 1.0, T0);
    assert_false(wsg_policy_expired(&pol, &r, T0));
    assert_false(wsg_policy_expired(&pol, &r, T0 + SEC(6 * 3600)));    /* 1/64 > 0.01 */
    assert_true(wsg_policy_expired(&pol, &r, T0 + SEC(7 * 3600)));     /* 1/128 < 0.01 */

    /* A score of zero seen a moment ago is kept for one half-life. */
    rec_init(&r);
    r.last_seen = T0;
    assert_false(wsg_policy_expired(&pol, &r, T0 + SEC(60)));
    assert_true(wsg_policy_expired(&pol, &r, T0 + SEC(3600)));

    /* Banned: never expired while the ban is in force, whatever the score. */
    rec_init(&r);
    r.last_seen = T0;
    r.ban_until = T0 + SEC(7 * 86400);
    assert_false(wsg_policy_expired(&pol, &r, T0 + SEC(6 * 86400)));
    assert_true(wsg_policy_expired(&pol, &r, T0 + SEC(7 * 86400)));
}

/* Issue 9: a new local ban is ours: the labels of an earlier ban (manual, imported, pulled from
 * CrowdSec, unbanned by an operator) and its source go; a ban in force keeps them. An operator's
 * unban (ban_until = its time) is kept from the purge for the longest ban. */
static void test_new_ban_relabels(void **state)
{
    wsg_policy_t pol;
    wsg_rec_t r;
    (void)state;
    wsg_policy_defaults(&pol);
    rec_init(&r);
    r.flags = WSG_RF_MANUAL | WSG_RF_IMPORTED | WSG_RF_CROWDSEC | WSG_RF_UNBANNED | WSG_RF_SHELL_HIT;
    r.ban_until = T0 - SEC(1);
    strcpy(r.source, "peer-a");
    assert_int_equal(wsg_policy_add(&pol, &r, 10.0, T0), WSG_ACT_BAN);
    assert_int_equal(r.flags, WSG_RF_SHELL_HIT);
    assert_string_equal(r.source, "");
    /* a manual ban in force: more requests leave it the operator's */
    rec_init(&r);
    r.flags = WSG_RF_MANUAL;
    r.ban_until = T0 + SEC(600);
    strcpy(r.source, "by hand");
    assert_int_equal(wsg_policy_add(&pol, &r, 10.0, T0), WSG_ACT_BAN);
    assert_int_equal(r.flags, WSG_RF_MANUAL);
    assert_string_equal(r.source, "by hand");
    /* unbanned at T0: kept for ban_max (7 days), then purged like any faded record */
    rec_init(&r);
    r.flags = WSG_RF_UNBANNED;
    r.last_seen = T0 - SEC(86400);
    r.ban_until = T0;
    assert_false(wsg_policy_expired(&pol, &r, T0 + SEC(6 * 86400)));
    assert_true(wsg_policy_expired(&pol, &r, T0 + SEC(7 * 86400)));
    r.flags = 0;
    assert_true(wsg_policy_expired(&pol, &r, T0 + SEC(86400)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_exact_ban_count),
        cmocka_unit_test(test_tiers_default),
        cmocka_unit_test(test_decay_halflife),
        cmocka_unit_test(test_slow_scan),
        cmocka_unit_test(test_escalation),
        cmocka_unit_test(test_banned_not_extended),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_ratelimit_disabled),
        cmocka_unit_test(test_ban_disabled),
        cmocka_unit_test(test_first_last_seen),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_new_ban_relabels),
    };
    /* The policy is pure: no pool fixture needed (referenced so -Werror accepts the header). */
    (void)wsg_test_pool_setup;
    (void)wsg_test_pool_teardown;
    return WSG_RUN_GROUP(tests);
}
