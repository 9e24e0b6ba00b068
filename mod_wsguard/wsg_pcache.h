/* wsg_pcache: a small per-thread memo of header-phase verdicts that were "pass" for a client
 * without records, so the same clean request again (a site's pages and assets, over and over)
 * skips the normaliser and the rules. Exact: an entry is the whole key (the configuration
 * generation's serial, the method, the target byte for byte, the file fact, the engine mode)
 * and is stored only for a verdict that did not look at the User-Agent (nor the body: GET and
 * HEAD only), so a hit is the answer wsg_inspect_header would give. No allocation: a fixed
 * array in thread-local storage. Portable core: libc and APR types only. */
#ifndef WSG_PCACHE_H
#define WSG_PCACHE_H

#include <string.h>
#include <apr.h>

#define WSG_PCACHE_TEXT 104     /* bytes of target an entry holds, NUL included */

/* A serial unique in this process for a configuration generation (entries of an older one
 * never match). */
apr_uint64_t wsg_pcache_serial(void);

/* Where a target's entry is (filled by wsg_pcache_hit for a later wsg_pcache_put). */
typedef struct wsg_pcache_ref_t {
    unsigned   slot;
    apr_size_t len;          /* the target's length; (apr_size_t)-1: not cacheable */
} wsg_pcache_ref_t;

/* One remembered pass. The thread's table holds 64 of them; the glue keeps one more in a
 * keep-alive connection's memo (its last pass), so the connection's next request for the same
 * target needs no lookup in the table. */
typedef struct wsg_pcache_entry_t {
    apr_uint64_t  serial;       /* 0: empty */
    unsigned char method, file, enforce, pad;
    apr_uint32_t  len;
    char          text[WSG_PCACHE_TEXT];
} wsg_pcache_entry_t;

/* 1 when this exact request was "pass" in this generation and thread before. The method is a
 * code: 1 GET, 2 HEAD, 0 never cached (the glue takes it from httpd's parsed method,
 * r->method_number and r->header_only). ref (may be NULL) remembers where it goes, for
 * wsg_pcache_put; its len is (apr_size_t)-1 when the request is not cacheable. */
int wsg_pcache_hit(apr_uint64_t serial, int method, const char *target, int file, int enforce,
                   wsg_pcache_ref_t *ref);

/* Remembers a "pass" of the same request as wsg_pcache_hit's (ref from it, or NULL: found
 * again); targets longer than an entry holds are not kept. */
void wsg_pcache_put(apr_uint64_t serial, int method, const char *target, int file, int enforce,
                    const wsg_pcache_ref_t *ref);

/* 1 when e remembers a pass of this exact request (the same key as wsg_pcache_hit's). One
 * comparison of the target, without measuring it first. */
static inline int wsg_pcache_entry_hit(const wsg_pcache_entry_t *e, apr_uint64_t serial,
                                       int method, const char *target, int file, int enforce)
{
    return serial && e->serial == serial && method && e->method == method && e->file == file
           && e->enforce == (enforce != 0) && target && !strcmp(e->text, target);
}

/* e remembers the pass that wsg_pcache_hit found or wsg_pcache_put stored, with ref from them;
 * e is emptied when the target was not cacheable. */
void wsg_pcache_entry_set(wsg_pcache_entry_t *e, apr_uint64_t serial, int method,
                          const char *target, int file, int enforce, const wsg_pcache_ref_t *ref);

#endif
