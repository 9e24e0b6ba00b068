/* wsg_metrics: the shared counter table (see wsg_metrics.h) and its Prometheus exposition.
 * Layout: a header (magic, slot count, registered tags) then nslots slots, each on cache lines
 * of its own so processes never write to each other's lines. */
#include <string.h>
#include <apr_strings.h>
#include "wsg_metrics.h"
#include "wsg_util.h"

#define MAGIC 0x77736d31u   /* "wsm1" */
#define LINE 64

struct wsg_metrics_slot_t {
    long                 pid;            /* 0: free */
    apr_uint64_t         c[WSG_MC_N];
    apr_uint64_t         tag[WSG_MT_N];
} __attribute__((aligned(LINE)));

struct wsg_metrics_t {
    apr_uint32_t magic;
    apr_uint32_t nslots;
    apr_uint32_t ntags;                  /* written after the name (release), read acquire */
    char         tags[WSG_METRICS_TAGS][WSG_METRICS_TAGLEN + 1];
    wsg_metrics_slot_t slot[] __attribute__((aligned(LINE)));
};

apr_size_t wsg_metrics_size(unsigned nslots)
{
    return sizeof(wsg_metrics_t) + (apr_size_t)(nslots ? nslots : 1) * sizeof(wsg_metrics_slot_t);
}

wsg_metrics_t *wsg_metrics_init(void *mem, apr_size_t size, unsigned nslots)
{
    wsg_metrics_t *m = mem;

    if (!nslots)
        nslots = 1;
    if (!mem || size < wsg_metrics_size(nslots) || ((apr_uintptr_t)mem % LINE))
        return NULL;
    memset(mem, 0, wsg_metrics_size(nslots));
    m->magic = MAGIC;
    m->nslots = nslots;
    m->slot[0].pid = -1;   /* the shared slot is never claimed for one process */
    return m;
}

unsigned wsg_metrics_nslots(const wsg_metrics_t *m)
{
    return m ? m->nslots : 0;
}

int wsg_metrics_tag_index(const wsg_metrics_t *m, const char *tag)
{
    apr_uint32_t n, i;

    if (!tag || !*tag)
        return WSG_MT_NONE;
    if (!m)
        return WSG_MT_OTHER;
    n = __atomic_load_n(&m->ntags, __ATOMIC_ACQUIRE);
    for (i = 0; i < n && i < WSG_METRICS_TAGS; i++)
        if (!strcmp(m->tags[i], tag))
            return (int)i;
    return WSG_MT_OTHER;
}

int wsg_metrics_tag_add(wsg_metrics_t *m, const char *tag)
{
    int i = wsg_metrics_tag_index(m, tag);

    if (!m || !tag || !*tag)
        return -1;
    if (i < WSG_METRICS_TAGS)
        return i;
    if (m->ntags >= WSG_METRICS_TAGS || strlen(tag) > WSG_METRICS_TAGLEN)
        return -1;
    memcpy(m->tags[m->ntags], tag, strlen(tag) + 1);
    __atomic_store_n(&m->ntags, m->ntags + 1, __ATOMIC_RELEASE);
    return (int)m->ntags - 1;
}

const char *wsg_metrics_tag_name(const wsg_metrics_t *m, int i)
{
    if (i == WSG_MT_OTHER)
        return "other";
    if (i == WSG_MT_NONE)
        return "none";
    if (!m || i < 0 || i >= (int)__atomic_load_n(&m->ntags, __ATOMIC_ACQUIRE))
        return NULL;
    return m->tags[i];
}

wsg_metrics_slot_t *wsg_metrics_claim(wsg_metrics_t *m, long pid, int (*alive)(long pid))
{
    apr_uint32_t i;

    if (!m)
        return NULL;
    for (i = 1; i < m->nslots; i++) {
        long zero = 0;
        if (__atomic_compare_exchange_n(&m->slot[i].pid, &zero, pid, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return &m->slot[i];
    }
    /* None free: one of a process that died without releasing it (a crash, a kill -9). */
    for (i = 1; alive && i < m->nslots; i++) {
        long old = __atomic_load_n(&m->slot[i].pid, __ATOMIC_RELAXED);
        if (old > 0 && old != pid && !alive(old)
            && __atomic_compare_exchange_n(&m->slot[i].pid, &old, pid, 0, __ATOMIC_ACQ_REL,
                                           __ATOMIC_RELAXED))
            return &m->slot[i];
    }
    return &m->slot[0];
}

void wsg_metrics_release(wsg_metrics_slot_t *s)
{
    if (s && s->pid > 0)
        __atomic_store_n(&s->pid, 0, __ATOMIC_RELEASE);
}

void wsg_metrics_add(wsg_metrics_slot_t *s, int counter, apr_uint64_t n)
{
    if (s && counter >= 0 && counter < WSG_MC_N)
        __atomic_fetch_add(&s->c[counter], n, __ATOMIC_RELAXED);
}

void wsg_metrics_probe(wsg_metrics_slot_t *s, const wsg_metrics_t *m, const char *tag)
{
    if (!s)
        return;
    __atomic_fetch_add(&s->c[WSG_MC_PROBES], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->tag[wsg_metrics_tag_index(m, tag)], 1, __ATOMIC_RELAXED);
}

void wsg_metrics_sum(const wsg_metrics_t *m, wsg_metrics_counts_t *out)
{
    apr_uint32_t i;
    int k;

    memset(out, 0, sizeof(*out));
    for (i = 0; m && i < m->nslots; i++) {
        for (k = 0; k < WSG_MC_N; k++)
            out->c[k] += __atomic_load_n(&m->slot[i].c[k], __ATOMIC_RELAXED);
        for (k = 0; k < WSG_MT_N; k++)
            out->tag[k] += __atomic_load_n(&m->slot[i].tag[k], __ATOMIC_RELAXED);
    }
}

/* -- exposition ------------------------------------------------------------------------------ */

static void head(wsg_buf_t *b, const char *name, const char *type, const char *help)
{
    wsg_buf_put(b, apr_psprintf(b->p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type));
}

static void val(wsg_buf_t *b, const char *name, const char *labels, apr_uint64_t v)
{
    wsg_buf_put(b, apr_psprintf(b->p, "%s%s %" APR_UINT64_T_FMT "\n", name, labels ? labels : "", v));
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static const char *label_esc(apr_pool_t *p, const char *s)
{
    char *o = apr_palloc(p, 2 * strlen(s) + 1), *q = o;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            *q++ = '\\', *q++ = *s;
        else if (*s == '\n')
            *q++ = '\\', *q++ = 'n';
        else
            *q++ = *s;
    }
    *q = '\0';
    return o;
}

char *wsg_metrics_render(apr_pool_t *p, const wsg_metrics_t *m, const wsg_metrics_counts_t *c,
                         const wsg_metrics_gauges_t *g)
{
    static const struct { int k; const char *reason; } refused[] = {
        { WSG_MC_REFUSED_BAN, "ban" }, { WSG_MC_REFUSED_RATELIMIT, "ratelimit" },
        { WSG_MC_REFUSED_PREFIX, "prefix" }, { WSG_MC_REFUSED_CROWDSEC, "crowdsec" },
    };
    wsg_buf_t b = { p, NULL, 0, 0 };
    int i;

    wsg_buf_put(&b, "");
    head(&b, "wsguard_requests_inspected_total", "counter", "Requests mod_wsguard inspected.");
    val(&b, "wsguard_requests_inspected_total", NULL, c->c[WSG_MC_INSPECTED]);
    head(&b, "wsguard_probes_total", "counter",
         "Scored requests (probes) recorded, by the tag of the rule that matched first "
         "(none: a missing script no rule matched).");
    for (i = 0; i < WSG_MT_N; i++) {
        const char *name = wsg_metrics_tag_name(m, i);
        if (!name)
            continue;
        val(&b, "wsguard_probes_total",
            apr_psprintf(p, "{tag=\"%s\"}", label_esc(p, name)), c->tag[i]);
    }
    head(&b, "wsguard_refused_total", "counter", "Requests refused, by reason.");
    for (i = 0; i < (int)(sizeof(refused) / sizeof(refused[0])); i++)
        val(&b, "wsguard_refused_total", apr_psprintf(p, "{reason=\"%s\"}", refused[i].reason),
            c->c[refused[i].k]);
    head(&b, "wsguard_bans_total", "counter", "Bans started by this server's detection.");
    val(&b, "wsguard_bans_total", NULL, c->c[WSG_MC_BANS]);
    head(&b, "wsguard_shell_alerts_total", "counter",
         "Possible web shells: probes answered 2xx, or refused probes of a file that exists.");
    val(&b, "wsguard_shell_alerts_total", NULL, c->c[WSG_MC_ALERTS]);
    head(&b, "wsguard_store_errors_total", "counter", "Failed writes of the state (LMDB).");
    val(&b, "wsguard_store_errors_total", NULL, c->c[WSG_MC_STORE_ERRORS]);
    if (g && g->have_store) {
        head(&b, "wsguard_evictions_total", "counter",
             "Records evicted to make room, by every process (kept in the state).");
        val(&b, "wsguard_evictions_total", NULL, g->evicted);
        head(&b, "wsguard_records", "gauge", "Records in the state (addresses and prefixes).");
        val(&b, "wsguard_records", NULL, g->records);
        head(&b, "wsguard_records_capacity", "gauge", "Records the state takes before evicting.");
        val(&b, "wsguard_records_capacity", NULL, g->capacity);
        head(&b, "wsguard_bans_active", "gauge", "Bans in force (addresses and prefixes).");
        val(&b, "wsguard_bans_active", NULL, g->bans_active);
        head(&b, "wsguard_map_used_bytes", "gauge", "Bytes of the LMDB map in use.");
        val(&b, "wsguard_map_used_bytes", NULL, g->map_used);
        head(&b, "wsguard_map_size_bytes", "gauge", "Bytes of the LMDB map (WSGuardMapSize).");
        val(&b, "wsguard_map_size_bytes", NULL, g->map_size);
        head(&b, "wsguard_map_use_ratio", "gauge", "Share of the LMDB map in use (0 to 1).");
        wsg_buf_put(&b, apr_psprintf(p, "wsguard_map_use_ratio %.4f\n",
                             g->map_size ? (double)g->map_used / (double)g->map_size : 0.0));
    }
    return b.b;
}
