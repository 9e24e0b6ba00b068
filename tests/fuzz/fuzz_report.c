/* libFuzzer target for the event-log reader behind 'wsguardctl report': the input is a log, split
 * into lines and fed to wsg_report_add_line (anonymising or not, as the first byte says), then
 * rendered in the format the first byte picks (one per input: rendering dominates the cost). The
 * rendering must be produced; CSV holds no raw control byte but its
 * CRLF row ends; the JSON formats parse and hold no raw control byte in any string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <jansson.h>
#include "wsg_report.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

static void no_ctl(json_t *j)
{
    const char *k, *t;
    json_t *v;
    size_t i;
    if ((t = json_string_value(j)))
        for (; *t; t++)
            CHECK((unsigned char)*t >= 0x20 && *t != 0x7f);
    json_object_foreach(j, k, v)
        no_ctl(v);
    json_array_foreach(j, i, v)
        no_ctl(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    wsg_report_opts_t o;
    wsg_report_t *r;
    const char *s = (const char *)data, *end = s + size;
    int f;

    if (size > 1 << 20)
        return 0;
    apr_pool_create(&p, NULL);
    memset(&o, 0, sizeof(o));
    o.anonymise = size && (data[0] & 1);
    o.now = (apr_time_t)1767323045 * APR_USEC_PER_SEC;
    r = wsg_report_make(p, &o);
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((nl ? nl + 1 : end) - s);
        wsg_report_add_line(r, s, n);
        s += n;
    }
    CHECK(wsg_report_bad_lines(r) <= wsg_report_lines(r));
    f = WSG_REPORT_CSV + (size ? (data[0] >> 1) & 3 : 0);
    {
        char *out = wsg_report_render(r, (wsg_report_format_t)f, p);
        CHECK(out != NULL);
        if (f == WSG_REPORT_CSV) {
            for (const char *q = out; *q; q++) {
                if (*q == '\r' && q[1] == '\n') {
                    q++;
                    continue;
                }
                CHECK((unsigned char)*q >= 0x20 && *q != 0x7f);
            }
        }
        else {
            json_error_t e;
            json_t *j = json_loads(out, 0, &e);
            CHECK(j != NULL);
            CHECK(strchr(out, 0x7f) == NULL);
            no_ctl(j);
            json_decref(j);
        }
    }
    apr_pool_destroy(p);
    return 0;
}
