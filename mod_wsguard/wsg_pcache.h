/* wsg_pcache: a small per-thread memo of header-phase verdicts that were "pass" for a client
 * without records, so the same clean request again (a site's pages and assets, over and over)
 * skips the normaliser and the rules. Exact: an entry is the whole key (the configuration
 * generation's serial, the method, the target byte for byte, the file fact, the engine mode)
 * and is stored only for a verdict that did not look at the User-Agent (nor the body: GET and
 * HEAD only), so a hit is the answer wsg_inspect_header would give. No allocation: a fixed
 * array in thread-local storage. Portable core: libc and APR types only. */
#ifndef WSG_PCACHE_H
#define WSG_PCACHE_H

#include <apr.h>

/* A serial unique in this process for a configuration generation (entries of an older one
 * never match). */
apr_uint64_t wsg_pcache_serial(void);

/* The method's code for the cache (1 GET, 2 HEAD), 0 when it is not cached. */
int wsg_pcache_method(const char *method);

/* 1 when this exact request was "pass" in this generation and thread before. */
int wsg_pcache_hit(apr_uint64_t serial, int method, const char *target, int file, int enforce);

/* Remembers a "pass" (targets longer than an entry holds are not kept). */
void wsg_pcache_put(apr_uint64_t serial, int method, const char *target, int file, int enforce);

#endif
