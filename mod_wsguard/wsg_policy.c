/* wsg_policy: decaying scores, the rate-limit and ban tiers, and ban escalation. Pure functions
 * over a record and a caller-supplied clock; no I/O, no allocation. */
#include <math.h>
#include <string.h>
#include "wsg_policy.h"

/* A score below this is treated as nothing left (record may be purged). */
#define WSG_SCORE_NEGLIGIBLE 0.01

void wsg_policy_defaults(wsg_policy_t *pol)
{
    pol->ratelimit = 5.0;
    pol->ban = 10.0;
    pol->halflife = apr_time_from_sec(3600);
    pol->ban_time = apr_time_from_sec(3600);
    pol->ban_max = apr_time_from_sec(7 * 24 * 3600);
    pol->prefix_ban = 30.0;
}

/* Decay factor for dt microseconds. A clock that went backwards (dt < 0) decays nothing rather
 * than inflating the score. */
static double decay(const wsg_policy_t *pol, apr_interval_time_t dt)
{
    if (pol->halflife <= 0 || dt <= 0)
        return 1.0;
    return exp2(-(double)dt / (double)pol->halflife);
}

double wsg_policy_score_now(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now)
{
    if (rec->score <= 0.0)
        return 0.0;
    return rec->score * decay(pol, now - rec->score_time);
}

/* Whole seconds, rounded up, at least 1: what a Retry-After header can say. */
static apr_interval_time_t to_retry_secs(apr_interval_time_t us)
{
    apr_interval_time_t s = (us + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    return s < 1 ? 1 : s;
}

/* Time until a score s decays below the rate-limit tier (the point where check() passes again). */
static apr_interval_time_t time_below(const wsg_policy_t *pol, double s, double threshold)
{
    double t;
    if (threshold < WSG_SCORE_NEGLIGIBLE)
        threshold = WSG_SCORE_NEGLIGIBLE;
    if (pol->halflife <= 0) {
        /* No decay: the tier never ends by itself. Tell the client to come back after a ban's
         * length, which is the longest wait the operator configured for anything. */
        return pol->ban_time > 0 ? pol->ban_time : apr_time_from_sec(3600);
    }
    if (s < threshold)
        return 0;
    t = (double)pol->halflife * log2(s / threshold);
    /* Strictly below: one more microsecond. Saturate well below the apr_time_t range. */
    if (!(t < 1e15))
        return (apr_interval_time_t)1e15;
    return (apr_interval_time_t)t + 1;
}

wsg_action_t wsg_policy_check(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now,
                              apr_interval_time_t *retry_after)
{
    double s;

    if (rec->ban_until > now) {
        if (retry_after)
            *retry_after = to_retry_secs(rec->ban_until - now);
        return WSG_ACT_BAN;
    }
    if (pol->ratelimit > 0) {
        s = wsg_policy_score_now(pol, rec, now);
        if (s >= pol->ratelimit - WSG_SCORE_EPSILON) {
            if (retry_after)
                *retry_after = to_retry_secs(time_below(pol, s, pol->ratelimit - WSG_SCORE_EPSILON));
            return WSG_ACT_RATELIMIT;
        }
    }
    if (retry_after)
        *retry_after = 0;
    return WSG_ACT_PASS;
}

apr_interval_time_t wsg_policy_ban_length(const wsg_policy_t *pol, unsigned n)
{
    apr_interval_time_t len = pol->ban_time;
    /* ban_max below ban_time (or unset) means no escalation, never a shorter ban. */
    apr_interval_time_t cap = pol->ban_max > len ? pol->ban_max : len;

    if (len <= 0)
        return 0;
    /* Double n-1 times, stopping at the cap before anything can overflow. */
    while (n > 1 && len < cap) {
        if (len > cap / 2) {
            len = cap;
            break;
        }
        len *= 2;
        n--;
    }
    return len < cap ? len : cap;
}

wsg_action_t wsg_policy_add(const wsg_policy_t *pol, wsg_rec_t *rec, double score, apr_time_t now)
{
    double s = wsg_policy_score_now(pol, rec, now);

    if (score > 0)
        s += score;
    rec->score = s;
    rec->score_time = now;
    if (rec->first_seen == 0)
        rec->first_seen = now;
    if (now > rec->last_seen)
        rec->last_seen = now;
    if (rec->hits < 0xffffffffu)
        rec->hits++;
    if (rec->version == 0)
        rec->version = WSG_REC_VERSION;

    /* A ban in force is not extended by more requests: its length is decided when it starts. */
    if (rec->ban_until > now)
        return WSG_ACT_BAN;

    if (pol->ban > 0 && s >= pol->ban - WSG_SCORE_EPSILON) {
        apr_interval_time_t len;
        if (rec->ban_count < 0xffffffffu)
            rec->ban_count++;
        len = wsg_policy_ban_length(pol, rec->ban_count);
        rec->ban_until = len > APR_INT64_MAX - now ? APR_INT64_MAX : now + len;
        /* a ban of our own starts: no longer the operator's, a peer's or the fleet's, nor an
         * unban to protect (the source said whose the last ban was) */
        rec->flags &= ~(apr_uint32_t)(WSG_RF_MANUAL | WSG_RF_IMPORTED | WSG_RF_CROWDSEC
                                      | WSG_RF_UNBANNED);
        memset(rec->source, 0, sizeof(rec->source));
        return len > 0 ? WSG_ACT_BAN : WSG_ACT_PASS;
    }
    if (pol->ratelimit > 0 && s >= pol->ratelimit - WSG_SCORE_EPSILON)
        return WSG_ACT_RATELIMIT;
    return WSG_ACT_PASS;
}

int wsg_policy_expired(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now)
{
    if (rec->ban_until > now)
        return 0;
    /* An operator's unban is remembered (ban_until holds its time) as long as a ban made before
     * it could still be in force somewhere, so a peer's older export does not bring it back. */
    if ((rec->flags & WSG_RF_UNBANNED) && now - rec->ban_until < (pol->ban_max > pol->ban_time
                                                                  ? pol->ban_max : pol->ban_time))
        return 0;
    if (wsg_policy_score_now(pol, rec, now) >= WSG_SCORE_NEGLIGIBLE)
        return 0;
    /* Keep a recently seen client for one half-life even at score zero, so a record the glue
     * is about to update is not purged from under it and first_seen/ban_count survive a pause. */
    if (pol->halflife > 0 && now - rec->last_seen < pol->halflife)
        return 0;
    return 1;
}
