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
    /* The whole path: the script view, then '/' and the path-info (or the script view only). */
    CHECK(n->full && strlen(n->full) == n->full_len);
    CHECK(memcmp(n->full, n->path, n->path_len) == 0);
    if (n->flags & WSG_NF_PATHINFO) {
        CHECK(n->pathinfo && strlen(n->pathinfo) == n->pathinfo_len);
        CHECK(wsg_norm_is_script_ext(n->ext, strlen(n->ext)));
        if (n->full != n->path) {
            CHECK(n->full_len == n->path_len + 1 + n->pathinfo_len);
            CHECK(n->full[n->path_len] == '/');
            CHECK(n->pathinfo == n->full + n->path_len + 1);
            CHECK(!buf || n->full + n->full_len < buf + bufsize);
        }
    }
    else {
        CHECK(n->pathinfo == NULL && n->full == n->path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in, *buf, *buf2;
    size_t inlen, small, bsz;
    wsg_norm_t n, n2;

    /* A request target is a C string: whatever follows an embedded NUL is not seen. */
    in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    inlen = strlen(in);

    /* The size the module uses: 8 KiB, or wsg_norm_bufsize() when that is larger. Such a buffer
     * never truncates (no padded "/a/../x.php" is cut before ".." is resolved) and holds both
     * views of a path-info target. */
    bsz = wsg_norm_bufsize(in);
    if (bsz < 8192)
        bsz = 8192;
    buf = malloc(bsz);
    wsg_norm_target(in, buf, bsz, &n);
    check(in, inlen, buf, bsz, &n);
    CHECK(!(n.flags & WSG_NF_TRUNCATED));
    CHECK(!(n.flags & WSG_NF_PATHINFO) || n.full != n.path);

    /* Normalising a clean result again changes nothing: the script view, and the whole path
     * (split the same way). Not so when the result still holds something the first run
     * deliberately left alone: a third-level escape, a '?' or '#' that was encoded, or a cut. */
    if (!(n.flags & WSG_NF_NUL) && !strpbrk(n.full, "%?#")) {
        buf2 = malloc(bsz);
        wsg_norm_target(n.path, buf2, bsz, &n2);
        CHECK(strcmp(n.path, n2.path) == 0);
        CHECK(!(n2.flags & ~(WSG_NF_BAD_UTF8 | WSG_NF_OVERLONG)));   /* raw bytes left as they were */
        if (n.flags & WSG_NF_PATHINFO) {
            char *full = strdup(n.full);
            CHECK(full != NULL);
            wsg_norm_target(full, buf2, bsz, &n2);
            CHECK(strcmp(n2.path, n.path) == 0 && strcmp(n2.full, n.full) == 0);
            CHECK(n2.flags & WSG_NF_PATHINFO);
            free(full);
        }
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
