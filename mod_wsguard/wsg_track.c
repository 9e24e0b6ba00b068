/* wsg_track: applying one scored request to the address and prefix records. */
#include <string.h>
#include "wsg_track.h"

apr_uint64_t wsg_track_hash(const void *data, apr_size_t len)
{
    const unsigned char *s = data;
    apr_uint64_t h = 1469598103934665603ULL;

    while (len--)
        h = (h ^ *s++) * 1099511628211ULL;
    return h;
}

/* Two bits of a 64-bit word per item; the count goes up when an item sets a new bit, which
 * undercounts once the word fills (fine for "about how many distinct"). */
static void bloom_add(apr_uint64_t *bloom, apr_uint32_t *count, apr_uint64_t h)
{
    apr_uint64_t bits = (1ULL << (h & 63)) | (1ULL << ((h >> 6) & 63));

    if ((*bloom & bits) != bits) {
        *bloom |= bits;
        (*count)++;
    }
}

/* 16 bits of the path's hash; 0 means an empty slot, so it is never a hash. */
static apr_uint32_t miss_hash(const char *path, apr_size_t len)
{
    apr_uint32_t h = (apr_uint32_t)(wsg_track_hash(path, len) >> 48);
    return h ? h : 1;
}

static apr_uint64_t ring_of(const wsg_rec_t *rec)
{
    return (apr_uint64_t)rec->miss_ring_lo | (apr_uint64_t)rec->miss_ring_hi << 32;
}

int wsg_track_missed_lately(const wsg_rec_t *rec, const char *path, apr_size_t len)
{
    apr_uint64_t ring;
    apr_uint32_t h;
    int i;

    if (!rec || !path || !(ring = ring_of(rec)))
        return 0;
    h = miss_hash(path, len);
    for (i = 0; i < WSG_TRACK_MISS_RING; i++, ring >>= 16)
        if ((ring & 0xffff) == h)
            return 1;
    return 0;
}

void wsg_track_push_miss(wsg_rec_t *rec, const char *path, apr_size_t len)
{
    apr_uint64_t ring = ring_of(rec), out = 0;
    apr_uint32_t h = miss_hash(path, len);
    int i, n = 1;

    /* Newest first, no duplicates: a repeat moves to the front. */
    out = h;
    for (i = 0; i < WSG_TRACK_MISS_RING && n < WSG_TRACK_MISS_RING; i++, ring >>= 16) {
        apr_uint32_t e = (apr_uint32_t)(ring & 0xffff);
        if (e && e != h)
            out |= (apr_uint64_t)e << (16 * n++);
    }
    rec->miss_ring_lo = (apr_uint32_t)out;
    rec->miss_ring_hi = (apr_uint32_t)(out >> 32);
}

unsigned wsg_track_recent_misses(const wsg_rec_t *rec)
{
    apr_uint64_t ring = ring_of(rec);
    unsigned n = 0;

    for (; ring; ring >>= 16)
        if (ring & 0xffff)
            n++;
    return n;
}

static void push_rule(wsg_rec_t *rec, unsigned id)
{
    int i;

    if (!id || rec->rules[0] == id)
        return;
    for (i = WSG_REC_RULES - 1; i > 0; i--)
        rec->rules[i] = rec->rules[i - 1];
    rec->rules[0] = id;
}

int wsg_track_apply(const wsg_policy_t *pol, const wsg_track_t *t, wsg_rec_t *recs, int n,
                    wsg_track_result_t *res)
{
    wsg_rec_t *rec = &recs[0];
    int mask = 1;
    /* Rotation within a prefix: a new address of a prefix that already has many members is
     * tracked as the prefix alone (one record for a whole /64), unless this one request would
     * rate-limit or ban it by itself, or it sets a flag (an alert is kept per address). */
    int fold = n > 1 && pol->prefix_ban > 0 && rec->version == 0 && !t->set_flags
               && recs[1].members >= WSG_TRACK_FOLD_MEMBERS;

    res->action = wsg_policy_add(pol, rec, t->score, t->now);
    rec->version = WSG_REC_VERSION;
    rec->flags |= t->set_flags;
    push_rule(rec, t->rule);
    if (t->path) {
        apr_size_t len = strlen(t->path);
        bloom_add(&rec->probe_bloom, &rec->distinct, wsg_track_hash(t->path, len));
        if (t->missed)
            wsg_track_push_miss(rec, t->path, len);
    }
    res->client_score = wsg_policy_score_now(pol, rec, t->now);
    res->ban_until = rec->ban_until;

    if (n > 1 && pol->prefix_ban > 0) {
        wsg_rec_t *pre = &recs[1];
        wsg_policy_t ppol = *pol;
        wsg_action_t pact;

        bloom_add(&pre->member_bloom, &pre->members,
                  wsg_track_hash(t->addr->bytes, sizeof(t->addr->bytes)));
        ppol.ratelimit = 0;
        /* Below two members the prefix only accumulates (a threshold it cannot reach). */
        ppol.ban = pre->members >= 2 || pre->ban_until > t->now ? pol->prefix_ban : 1e12;
        pact = wsg_policy_add(&ppol, pre, t->score, t->now);
        pre->version = WSG_REC_VERSION;
        push_rule(pre, t->rule);
        if (pact == WSG_ACT_BAN && res->action != WSG_ACT_BAN) {
            res->action = WSG_ACT_BAN;
            res->ban_until = pre->ban_until;
        }
        mask |= 2;
        if (fold && rec->ban_until == 0 && wsg_policy_check(pol, rec, t->now, NULL) == WSG_ACT_PASS)
            mask &= ~1;
    }
    res->rec = *rec;
    return mask;
}

int wsg_track_is_script_ext(const char *ext)
{
    static const char *const exts[] = {
        "php", "php3", "php4", "php5", "php7", "phtml", "pht", "phar", "asp", "aspx", "ashx",
        "asmx", "ascx", "asa", "cer", "cfm", "cfc", "jsp", "jspx", "jsw", "cgi", "pl", "py",
        "sh", "alfa", NULL
    };
    int i;

    if (!ext || !*ext)
        return 0;
    for (i = 0; exts[i]; i++)
        if (!strcmp(ext, exts[i]))
            return 1;
    return 0;
}
