/* libFuzzer target for 'wsguardctl import' parsing: the input is a peer's file in any format (the
 * parser recognises json export / report, STIX, MISP, CSV and plain lists by content). Whatever it
 * holds, wsg_import_parse must return, with every entry inside the limits (ban end in (now, now +
 * max], range no wider than the minimum bits, entry count under the cap), at most the kept number
 * of messages, and no raw control byte in any message, source or reason. The first byte also picks
 * small limits so the caps themselves are exercised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "wsg_import.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

static void clean(const char *s)
{
    for (; s && *s; s++)
        CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    wsg_import_opts_t o;
    wsg_import_result_t *r = NULL;
    const char *err = NULL;
    apr_status_t rv;
    unsigned max_entries;
    int i;

    memset(&o, 0, sizeof(o));
    o.now = (apr_time_t)1767323045 * APR_USEC_PER_SEC;   /* 2026-01-02T03:04:05Z */
    o.dflt = 3600 * APR_USEC_PER_SEC;
    o.max = 7 * 86400 * APR_USEC_PER_SEC;
    if (size && (data[0] & 0x80)) {   /* small caps */
        o.max_entries = 1 + (data[0] & 7);
        o.max_line = 16 + (data[0] & 0x78);
        o.max = 60 * APR_USEC_PER_SEC;
        o.allow_private = 1;
    }
    max_entries = o.max_entries ? o.max_entries : WSG_IMPORT_MAX_ENTRIES;
    apr_pool_create(&p, NULL);
    rv = wsg_import_parse(p, (const char *)data, size, &o, &r, &err);
    CHECK(r != NULL);
    if (rv != APR_SUCCESS) {
        CHECK(err && *err);
        clean(err);
    }
    CHECK(r->entries->nelts <= (int)max_entries);
    CHECK(r->seen <= max_entries);
    CHECK(r->msgs->nelts <= WSG_IMPORT_MAX_ERRORS);
    for (i = 0; i < r->entries->nelts; i++) {
        const wsg_import_entry_t *e = &APR_ARRAY_IDX(r->entries, i, wsg_import_entry_t);
        CHECK(e->until > o.now && e->until <= o.now + o.max);
        CHECK(e->cidr.family == 4 || e->cidr.family == 6);
        CHECK(e->cidr.family == 4 ? (e->cidr.bits >= WSG_IMPORT_MIN_BITS4 && e->cidr.bits <= 32)
                                  : (e->cidr.bits >= WSG_IMPORT_MIN_BITS6 && e->cidr.bits <= 128));
        clean(e->source);
        clean(e->reason);
    }
    for (i = 0; i < r->msgs->nelts; i++)
        clean(APR_ARRAY_IDX(r->msgs, i, wsg_import_msg_t).text);
    apr_pool_destroy(p);
    return 0;
}
