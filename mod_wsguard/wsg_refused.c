/* wsg_refused: the per-process table of refusals not yet written (see wsg_refused.h). A linear
 * table: 64 entries compared by a hash word first is a few hundred instructions at most, less
 * than a hash table's bookkeeping, and there is no deletion to get wrong. */
#include <string.h>
#include <apr_strings.h>
#include "wsg_refused.h"
#include "wsg_norm.h"

struct wsg_refused_t {
    apr_thread_mutex_t *mu;
    apr_interval_time_t window;
    apr_time_t          next_due;    /* min(since) + window over used entries, 0: none */
    wsg_refused_entry_t e[WSG_REFUSED_SLOTS];
};

static apr_uint32_t fnv(const void *data, apr_size_t n)
{
    const unsigned char *b = data;
    apr_uint32_t h = 2166136261u;
    while (n--)
        h = (h ^ *b++) * 16777619u;
    return h | 1;   /* never 0 */
}

apr_status_t wsg_refused_create(apr_pool_t *p, apr_interval_time_t window, wsg_refused_t **out)
{
    wsg_refused_t *a = apr_pcalloc(p, sizeof(*a));
    apr_status_t rv = apr_thread_mutex_create(&a->mu, APR_THREAD_MUTEX_DEFAULT, p);

    if (rv != APR_SUCCESS)
        return rv;
    a->window = window > 0 ? window : WSG_REFUSED_WINDOW;
    *out = a;
    return APR_SUCCESS;
}

static void recompute_due(wsg_refused_t *a)
{
    apr_time_t d = 0;
    for (int i = 0; i < WSG_REFUSED_SLOTS; i++)
        if (a->e[i].status && (!d || a->e[i].since + a->window < d))
            d = a->e[i].since + a->window;
    __atomic_store_n(&a->next_due, d, __ATOMIC_RELAXED);
}

/* Under the lock: due entries into out. */
static int take_locked(wsg_refused_t *a, apr_time_t now, int force, wsg_refused_entry_t *out,
                       int max)
{
    int n = 0;
    for (int i = 0; i < WSG_REFUSED_SLOTS && n < max; i++) {
        wsg_refused_entry_t *e = &a->e[i];
        if (!e->status || (!force && now < e->since + a->window))
            continue;
        out[n++] = *e;
        e->status = 0;
    }
    recompute_due(a);
    return n;
}

static void add_path(wsg_refused_entry_t *e, const char *target)
{
    apr_size_t len = strcspn(target, "?");
    apr_uint32_t h;

    if (len >= WSG_REFUSED_PATHLEN)
        len = WSG_REFUSED_PATHLEN - 1;
    h = fnv(target, len);
    for (unsigned i = 0; i < e->npaths; i++)
        if (e->phash[i] == h && !strncmp(e->paths[i], target, len) && !e->paths[i][len])
            return;
    if (e->npaths >= WSG_REFUSED_PATHS) {
        e->more++;   /* approximately distinct: counted once per request past the table */
        return;
    }
    e->phash[e->npaths] = h;
    memcpy(e->paths[e->npaths], target, len);
    e->paths[e->npaths][len] = '\0';
    e->npaths++;
}

int wsg_refused_add(wsg_refused_t *a, const wsg_addr_t *addr, int status, const char *target,
                    apr_time_t now, wsg_refused_entry_t *due, int max)
{
    apr_uint32_t h = fnv(addr, sizeof(*addr)) ^ (apr_uint32_t)status;
    wsg_refused_entry_t *e = NULL, *free_e = NULL, *oldest = NULL;
    int n = 0;

    if (!h)
        h = 1;
    if (apr_thread_mutex_lock(a->mu) != APR_SUCCESS)
        return 0;
    for (int i = 0; i < WSG_REFUSED_SLOTS; i++) {
        wsg_refused_entry_t *x = &a->e[i];
        if (!x->status) {
            if (!free_e)
                free_e = x;
            continue;
        }
        if (x->hash == h && x->status == status && !memcmp(&x->addr, addr, sizeof(*addr))) {
            e = x;
            break;
        }
        if (!oldest || x->since < oldest->since)
            oldest = x;
    }
    if (e && now >= e->since + a->window && n < max) {
        due[n++] = *e;       /* its minute is over: written, and this request starts the next */
        e->status = 0;
    }
    if (!e || !e->status) {
        if (!e)
            e = free_e;
        if (!e && max > n) {
            due[n++] = *oldest;  /* the table is full: the oldest goes out early */
            e = oldest;
        }
        if (!e) {
            apr_thread_mutex_unlock(a->mu);
            return n;
        }
        memset(e, 0, sizeof(*e));
        e->addr = *addr;
        e->hash = h;
        e->status = status;
        e->action = status == 429 ? "ratelimit" : "ban";
        e->since = now;
        /* the new entry's due time: no scan needed, it can only move next_due earlier */
        if (!a->next_due || now + a->window < a->next_due)
            __atomic_store_n(&a->next_due, now + a->window, __ATOMIC_RELAXED);
    }
    e->count++;
    e->last = now;
    if (target)
        add_path(e, target);
    if (n < max && a->next_due && now >= a->next_due)
        n += take_locked(a, now, 0, due + n, max - n);
    else if (n)
        recompute_due(a);   /* an entry went out above */
    apr_thread_mutex_unlock(a->mu);
    return n;
}

int wsg_refused_take(wsg_refused_t *a, apr_time_t now, int force, wsg_refused_entry_t *due,
                     int max)
{
    int n;
    if (apr_thread_mutex_lock(a->mu) != APR_SUCCESS)
        return 0;
    n = take_locked(a, now, force, due, max);
    apr_thread_mutex_unlock(a->mu);
    return n;
}

apr_time_t wsg_refused_next_due(const wsg_refused_t *a)
{
    return a ? __atomic_load_n(&a->next_due, __ATOMIC_RELAXED) : 0;
}

void wsg_refused_event(apr_pool_t *p, const wsg_refused_entry_t *e, wsg_event_t *ev)
{
    const char **paths = apr_pcalloc(p, sizeof(char *) * (WSG_REFUSED_PATHS + 1));
    char abuf[WSG_ADDR_STRLEN];

    memset(ev, 0, sizeof(*ev));
    ev->event = WSG_EV_REFUSED;
    ev->time = e->last;
    ev->since = e->since;
    ev->count = e->count;
    ev->client = apr_pstrdup(p, wsg_addr_format(&e->addr, abuf, sizeof(abuf)));
    ev->status = e->status;
    ev->action = e->action;
    for (unsigned i = 0; i < e->npaths; i++) {
        /* as the rules see it, so reports and campaigns compare it with the probes' paths */
        size_t sz = wsg_norm_bufsize(e->paths[i]);
        char *buf = apr_palloc(p, sz);
        wsg_norm_t norm;
        wsg_norm_target(e->paths[i], buf, sz, &norm);
        paths[i] = norm.path ? apr_pstrdup(p, norm.path) : apr_pstrdup(p, e->paths[i]);
    }
    ev->paths = paths;
    ev->n_paths = (int)e->npaths;
    ev->path = e->npaths ? paths[0] : NULL;
    ev->uri = e->npaths ? apr_pstrdup(p, e->paths[0]) : NULL;
}
