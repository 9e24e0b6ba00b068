/* libFuzzer target for wsg_norm: any byte string must give a valid, canonical result without
 * touching memory outside the caller's buffer (ASan sees the buffer at its exact size). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wsg_norm.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void check(const char *in, size_t inlen, const char *buf, size_t bufsize,
                  const wsg_norm_t *n)
{
    size_t i;
    char fl[256];

    CHECK(n->path && n->basename && n->ext);
    if (buf) {
        CHECK(n->path == buf);
        CHECK(n->path_len < bufsize);
    }
    CHECK(strlen(n->path) == n->path_len);
    CHECK(n->path[0] == '/');
    CHECK(!strstr(n->path, "//"));
    CHECK(!strstr(n->path, "/./"));
    CHECK(!strstr(n->path, "/../"));
    CHECK(!strchr(n->path, '\\'));
    CHECK(!strchr(n->path, ';'));
    /* no dot segment at the end either, and no segment ending in '.' or ' ' */
    for (i = 0; i < n->path_len; i++) {
        char c = n->path[i];
        CHECK(!(c >= 'A' && c <= 'Z'));
        if (c == '/' && i > 0)
            CHECK(n->path[i - 1] != '.' && n->path[i - 1] != ' ');
    }
    if (n->path_len > 1)
        CHECK(n->path[n->path_len - 1] != '.' && n->path[n->path_len - 1] != ' ');
    CHECK(n->basename == strrchr(n->path, '/') + 1);
    CHECK(n->ext >= n->basename && n->ext <= n->path + n->path_len);
    CHECK(n->ext == n->path + n->path_len || n->ext[-1] == '.');
    CHECK(!strchr(n->ext, '.'));
    CHECK(n->query == NULL || (n->query > in && n->query <= in + inlen && n->query[-1] == '?'));
    wsg_norm_flags_str(n->flags, fl, sizeof(fl));
    CHECK(strlen(fl) < sizeof(fl));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in, *buf, *buf2;
    size_t inlen, small;
    wsg_norm_t n, n2;

    /* A request target is a C string: whatever follows an embedded NUL is not seen. */
    in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    inlen = strlen(in);

    /* The size the module uses. */
    buf = malloc(8192);
    wsg_norm_target(in, buf, 8192, &n);
    check(in, inlen, buf, 8192, &n);

    /* Normalising a clean result again changes nothing. Not so when the result still holds
     * something the first run deliberately left alone: a third-level escape, a '?' or '#' that was
     * encoded, or a cut. */
    if (!(n.flags & (WSG_NF_TRUNCATED | WSG_NF_NUL)) && !strpbrk(n.path, "%?#")) {
        buf2 = malloc(8192);
        wsg_norm_target(n.path, buf2, 8192, &n2);
        CHECK(strcmp(n.path, n2.path) == 0);
        CHECK(!(n2.flags & ~(WSG_NF_BAD_UTF8 | WSG_NF_OVERLONG)));   /* raw bytes left as they were */
        free(buf2);
    }
    free(buf);

    /* Small buffers, sized by the input, exercise every truncation point. */
    small = 1 + (size ? data[0] % 40 : 0);
    buf = malloc(small);
    wsg_norm_target(in, buf, small, &n);
    check(in, inlen, small >= 2 ? buf : NULL, small, &n);
    free(buf);

    free(in);
    return 0;
}
