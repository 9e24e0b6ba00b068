/* libFuzzer target for the values operators and files give (wsg_util, wsg_event time parsing):
 * durations ("90s", "7d"), sizes ("64M"), scores, ISO-8601 times, and the control-byte escaper.
 * Each parser refuses the text or gives a value inside its documented range; the escaper's output
 * holds no control byte, stays under its limit and, without a limit, is exactly as long as the
 * escapes it writes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "wsg_util.h"
#include "wsg_event.h"
#include "wsg_import.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text, *e;
    apr_interval_time_t d;
    apr_size_t sz, n, want = 0, i, max;
    double sc;
    apr_time_t t, u;
    int capped = 0;

    if (size > 4096)
        return 0;
    apr_pool_create(&p, NULL);
    text = apr_pstrmemdup(p, (const char *)data, size);
    if (wsg_parse_duration(text, &d) == APR_SUCCESS)
        CHECK(d >= 0 && d <= (apr_interval_time_t)10 * 366 * 86400 * APR_USEC_PER_SEC);
    if (wsg_parse_size(text, &sz) == APR_SUCCESS)
        CHECK(sz > 0 && sz <= ((apr_size_t)1 << 40));
    if (wsg_parse_score(text, &sc) == APR_SUCCESS)
        CHECK(isfinite(sc) && sc >= 0 && sc <= 1e6);
    if (wsg_event_time_parse(text, &t) == APR_SUCCESS) {
        char buf[WSG_EVENT_TIMESTR];
        /* years 0000-9999 with an offset: far inside apr_time_t */
        CHECK(t > -(apr_time_t)70000 * 366 * 86400 * APR_USEC_PER_SEC);
        CHECK(t < (apr_time_t)8100 * 366 * 86400 * APR_USEC_PER_SEC);
        if (t >= 0)
            wsg_event_time_str(t, buf);
    }
    /* the first 8 bytes as a remaining_s from a file */
    if (size >= 8) {
        apr_int64_t secs;
        memcpy(&secs, data, 8);
        if (wsg_import_until_from_secs(secs, 0, 7 * 86400 * APR_USEC_PER_SEC, &u, &capped)
            == APR_SUCCESS)
            CHECK(u > 0 && u <= 7 * 86400 * APR_USEC_PER_SEC);
        else
            CHECK(secs <= 0);
    }
    for (i = 0; i < size; i++)
        want += (data[i] < 0x20 || data[i] == 0x7f || data[i] == '\\') ? 4 : 1;
    e = wsg_escape_ctl(p, (const char *)data, size, 0, WSG_ESC_BACKSLASH);
    n = strlen(e);
    CHECK(n == want);
    CHECK(!wsg_has_ctl(e, n));
    max = size ? data[0] : 0;
    e = wsg_escape_ctl(p, (const char *)data, size, max, size & 1 ? WSG_ESC_PERCENT : 0);
    n = strlen(e);
    CHECK(!max || n <= max);
    CHECK(!wsg_has_ctl(e, n));
    apr_pool_destroy(p);
    return 0;
}
