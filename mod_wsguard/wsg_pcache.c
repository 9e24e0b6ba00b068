/* wsg_pcache: the per-thread memo of "pass" verdicts (see wsg_pcache.h).
 *
 * 64 entries, direct-mapped by the target's length and its first and last 8 bytes; an entry
 * holds the target itself (up to 103 bytes, longer ones are not kept) and is compared whole,
 * so a hash collision only costs a miss. 8 KiB per thread. */
#include <string.h>
#include "wsg_pcache.h"

#define ENTRIES  64

static __thread wsg_pcache_entry_t tl_cache[ENTRIES];
static apr_uint64_t g_serial;

apr_uint64_t wsg_pcache_serial(void)
{
    return __atomic_add_fetch(&g_serial, 1, __ATOMIC_RELAXED);
}

static inline unsigned slot_of(const char *t, size_t len)
{
    apr_uint64_t a = 0, b = 0, h;

    if (len >= 8) {
        memcpy(&a, t, 8);
        memcpy(&b, t + len - 8, 8);
    }
    else
        memcpy(&a, t, len);
    h = (a ^ (b * 0x9e3779b97f4a7c15ULL) ^ len) * 0xff51afd7ed558ccdULL;
    return (unsigned)(h >> 58);      /* 6 bits: ENTRIES */
}

int wsg_pcache_hit(apr_uint64_t serial, int method, const char *target, int file, int enforce,
                   wsg_pcache_ref_t *ref)
{
    size_t len;
    unsigned slot;
    const wsg_pcache_entry_t *e;

    if (ref)
        ref->len = (apr_size_t)-1;
    if (!method || !target || !serial)
        return 0;
    len = strlen(target);
    if (len >= WSG_PCACHE_TEXT)
        return 0;
    slot = slot_of(target, len);
    if (ref) {
        ref->slot = slot;
        ref->len = len;
    }
    e = &tl_cache[slot];
    return e->serial == serial && e->len == len && e->method == method && e->file == file
           && e->enforce == (enforce != 0) && !memcmp(e->text, target, len);
}

void wsg_pcache_entry_set(wsg_pcache_entry_t *e, apr_uint64_t serial, int method,
                          const char *target, int file, int enforce, const wsg_pcache_ref_t *ref)
{
    if (!method || !target || !serial || !ref || ref->len >= WSG_PCACHE_TEXT) {
        e->serial = 0;
        return;
    }
    e->serial = serial;
    e->method = (unsigned char)method;
    e->file = (unsigned char)file;
    e->enforce = (unsigned char)(enforce != 0);
    e->len = (apr_uint32_t)ref->len;
    memcpy(e->text, target, ref->len + 1);
}

void wsg_pcache_put(apr_uint64_t serial, int method, const char *target, int file, int enforce,
                    const wsg_pcache_ref_t *ref)
{
    wsg_pcache_ref_t here;

    if (!ref) {
        (void)wsg_pcache_hit(serial, method, target, file, enforce, &here);
        ref = &here;
    }
    if (ref->len >= WSG_PCACHE_TEXT)      /* not cacheable (then ref->slot is not set) */
        return;
    wsg_pcache_entry_set(&tl_cache[ref->slot], serial, method, target, file, enforce, ref);
}
