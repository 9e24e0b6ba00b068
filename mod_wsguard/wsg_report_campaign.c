/* wsg_report_campaign: clients of different /24 or /64 prefixes probing much the same paths,
 * grouped into campaigns (per rendering). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "wsg_report_int.h"

static unsigned uf_find(unsigned *up, unsigned i)
{
    while (up[i] != i) {
        up[i] = up[up[i]];
        i = up[i];
    }
    return i;
}

static int camp_cmp(const void *a, const void *b)
{
    const campaign_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return strcmp(x->members[0]->addr, y->members[0]->addr);
}

/* Groups the n clients to report (in report order) into campaigns and points each member's camp
 * at its campaign. Deterministic for a given log: ids follow size, then first seen. */
campaigns_t wsg_rpt_campaigns_find(wsg_report_t *r, apr_pool_t *p, client_t **c, unsigned n)
{
    campaigns_t out = { NULL, 0, 1 };
    apr_hash_index_t *hi;
    apr_hash_t *index = apr_hash_make(p);   /* path -> apr_array of unsigned (eligible index) */
    unsigned *elig = apr_palloc(p, sizeof(*elig) * (n + 1)), ne = 0;
    unsigned *up, *inter, *touched, *size;
    const char **pfx;
    unsigned long long work = 0;
    campaign_t *v;

    for (hi = apr_hash_first(p, r->clients); hi; hi = apr_hash_next(hi)) {
        void *x;
        apr_hash_this(hi, NULL, NULL, &x);
        ((client_t *)x)->camp = NULL;
    }
    for (unsigned i = 0; i < n; i++)
        if (wsg_rpt_set_count(&c[i]->paths) >= CAMP_MIN_PATHS)
            elig[ne++] = i;
    if (ne < 2)
        return out;

    up = apr_palloc(p, sizeof(*up) * ne);
    inter = apr_pcalloc(p, sizeof(*inter) * ne);
    touched = apr_palloc(p, sizeof(*touched) * ne);
    size = apr_pcalloc(p, sizeof(*size) * ne);
    pfx = apr_palloc(p, sizeof(*pfx) * ne);
    for (unsigned k = 0; k < ne; k++) {
        client_t *cl = c[elig[k]];
        wsg_addr_t pre;
        char buf[WSG_ADDR_STRLEN];
        up[k] = k;
        wsg_addr_prefix(&cl->a, &pre);
        pfx[k] = apr_pstrdup(p, wsg_addr_format(&pre, buf, sizeof(buf)));
        for (hi = apr_hash_first(p, cl->paths.h); hi; hi = apr_hash_next(hi)) {
            const void *key;
            apr_array_header_t *post;
            apr_hash_this(hi, &key, NULL, NULL);
            post = apr_hash_get(index, key, APR_HASH_KEY_STRING);
            if (!post) {
                post = apr_array_make(p, 4, sizeof(unsigned));
                apr_hash_set(index, key, APR_HASH_KEY_STRING, post);
            }
            APR_ARRAY_PUSH(post, unsigned) = k;
        }
    }

    /* Intersections of k with every later client sharing a path, then the Jaccard test. */
    for (unsigned k = 0; k < ne && out.complete; k++) {
        client_t *cl = c[elig[k]];
        unsigned nt = 0, nk = wsg_rpt_set_count(&cl->paths);
        for (hi = apr_hash_first(p, cl->paths.h); hi; hi = apr_hash_next(hi)) {
            const void *key;
            apr_array_header_t *post;
            apr_hash_this(hi, &key, NULL, NULL);
            post = apr_hash_get(index, key, APR_HASH_KEY_STRING);
            /* Postings are in increasing order: walk back to k. */
            work++;
            for (int q = post->nelts - 1; q >= 0; q--) {
                unsigned j = APR_ARRAY_IDX(post, q, unsigned);
                if (j <= k)
                    break;
                work++;
                if (!inter[j]++)
                    touched[nt++] = j;
            }
        }
        for (unsigned t = 0; t < nt; t++) {
            unsigned j = touched[t], nj = wsg_rpt_set_count(&c[elig[j]]->paths);
            double jac = (double)inter[j] / (double)(nk + nj - inter[j]);
            if (jac >= CAMP_MIN_JACCARD && strcmp(pfx[k], pfx[j])) {
                unsigned a = uf_find(up, k), b = uf_find(up, j);
                if (a != b)
                    up[a > b ? a : b] = a < b ? a : b;
            }
            inter[j] = 0;
        }
        if (work > CAMP_WORK_MAX)
            out.complete = 0;
    }

    /* Components of two members or more, from two prefixes or more. */
    for (unsigned k = 0; k < ne; k++)
        size[uf_find(up, k)]++;
    v = apr_pcalloc(p, sizeof(*v) * ne);
    {
        unsigned *slot = apr_palloc(p, sizeof(*slot) * ne);
        for (unsigned k = 0; k < ne; k++) {
            unsigned root = uf_find(up, k);
            campaign_t *cp;
            client_t *cl = c[elig[k]];
            if (size[root] < 2)
                continue;
            if (root == k) {
                slot[root] = out.n++;
                v[slot[root]].members = apr_palloc(p, sizeof(client_t *) * size[root]);
            }
            cp = &v[slot[root]];   /* the root is the component's lowest index: seen first */
            if (!cp->n || cl->first < cp->first)
                cp->first = cl->first;
            if (!cp->n || cl->last > cp->last)
                cp->last = cl->last;
            cp->members[cp->n++] = cl;
        }
    }
    for (unsigned i = 0; i < out.n; i++) {
        campaign_t *cp = &v[i];
        apr_hash_t *pf = apr_hash_make(p);
        strset_t all = { NULL, 0 };
        unsigned ns;
        entry_t *e;
        for (unsigned m = 0; m < cp->n; m++) {
            wsg_addr_t pre;
            char buf[WSG_ADDR_STRLEN];
            wsg_addr_prefix(&cp->members[m]->a, &pre);
            wsg_addr_format(&pre, buf, sizeof(buf));
            apr_hash_set(pf, apr_pstrdup(p, buf), APR_HASH_KEY_STRING, "");
            for (hi = apr_hash_first(p, cp->members[m]->paths.h); hi; hi = apr_hash_next(hi)) {
                const void *key;
                apr_hash_this(hi, &key, NULL, NULL);
                wsg_rpt_set_add(p, &all, key);
            }
        }
        cp->prefixes = apr_hash_count(pf);
        e = wsg_rpt_set_sorted(p, &all, &ns);
        cp->shared = apr_palloc(p, sizeof(*cp->shared) * CAMP_SAMPLE);
        for (unsigned k = 0; k < ns && e[k].n >= 2; k++) {
            if (cp->nshared < CAMP_SAMPLE)
                cp->shared[cp->nshared] = e[k].v;
            cp->nshared++;
        }
    }
    /* Drop what is not a campaign (cannot happen: links join different prefixes), then name. */
    {
        unsigned w = 0;
        for (unsigned i = 0; i < out.n; i++)
            if (v[i].prefixes >= 2)
                v[w++] = v[i];
        out.n = w;
    }
    qsort(v, out.n, sizeof(*v), camp_cmp);
    for (unsigned i = 0; i < out.n; i++) {
        v[i].id = apr_psprintf(p, "c%u", i + 1);
        for (unsigned m = 0; m < v[i].n; m++)
            v[i].members[m]->camp = &v[i];
    }
    out.v = v;
    return out;
}

/* The shared-path sample as JSON, anonymised like request targets. */
json_t *wsg_rpt_camp_sample(wsg_report_t *r, apr_pool_t *p, const campaign_t *cp, unsigned max)
{
    json_t *a = json_array();
    apr_hash_t *seen = apr_hash_make(p);
    for (unsigned i = 0; i < cp->nshared && i < CAMP_SAMPLE && json_array_size(a) < max; i++) {
        const char *v = wsg_rpt_outs(r, p, cp->shared[i], 1);
        if (apr_hash_get(seen, v, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, v, APR_HASH_KEY_STRING, "");
        json_array_append_new(a, json_string(v));
    }
    return a;
}

const char *wsg_rpt_camp_summary(apr_pool_t *p, const campaign_t *cp)
{
    return apr_psprintf(p, "%u addresses in %u different /24 or /64 prefixes probing the same "
                        "paths (%u probed by two or more of them)", cp->n, cp->prefixes,
                        cp->nshared);
}
