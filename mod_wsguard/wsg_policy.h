/* wsg_policy: the scoring policy, pure functions over a record and a time (the caller passes the
 * clock, so tests inject it). Decaying scores (half-life), rate-limit and ban tiers, escalating bans.
 * Portable core: APR only. */
#ifndef WSG_POLICY_H
#define WSG_POLICY_H

#include <apr_time.h>
#include "wsg_store.h"

typedef struct wsg_policy_t {
    double ratelimit;                  /* score at which 429s start; <= 0 disables the tier */
    double ban;                        /* score at which the client is banned */
    apr_interval_time_t halflife;      /* score half-life */
    apr_interval_time_t ban_time;      /* first ban */
    apr_interval_time_t ban_max;       /* escalation cap (ban_time * 2^(bans-1)) */
    double prefix_ban;                 /* prefix score that bans a whole /24 or /64; <= 0: off */
} wsg_policy_t;

/* Scores within this of a threshold count as reaching it, so a burst of probes is counted exactly
 * although a few milliseconds of decay pass between them. */
#define WSG_SCORE_EPSILON 0.05

typedef enum {
    WSG_ACT_PASS = 0,
    WSG_ACT_RATELIMIT = 1,   /* 429 + Retry-After */
    WSG_ACT_BAN = 2          /* 403 */
} wsg_action_t;

void wsg_policy_defaults(wsg_policy_t *pol);

/* The score of rec as of now (decayed from rec->score_time). */
double wsg_policy_score_now(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now);

/* What to do with a request from a client whose record is rec (no change to rec).
 * *retry_after (may be NULL) gets the seconds until the state ends (ban end, or decay below
 * the rate-limit threshold). */
wsg_action_t wsg_policy_check(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now,
                              apr_interval_time_t *retry_after);

/* Adds score to rec at now (decaying first), updates first/last seen and hit count, and bans when
 * the ban threshold is reached (escalating the ban time with rec->ban_count). Returns the action
 * for the request that scored: the request that crosses a threshold is refused itself. */
wsg_action_t wsg_policy_add(const wsg_policy_t *pol, wsg_rec_t *rec, double score, apr_time_t now);

/* Ban length for the n-th ban (n >= 1). */
apr_interval_time_t wsg_policy_ban_length(const wsg_policy_t *pol, unsigned n);

/* A record that may be deleted: no ban in force and a score decayed below 0.01. */
int wsg_policy_expired(const wsg_policy_t *pol, const wsg_rec_t *rec, apr_time_t now);

#endif
