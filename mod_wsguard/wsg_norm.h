/* wsg_norm: normalises a request target once, before matching, against evasion tricks:
 * percent-decoding (double encoding noticed), "//", "/./", "/../", ";param" segments, backslashes,
 * trailing dots and spaces, ASCII case folding, invalid or overlong UTF-8, NUL bytes.
 * Writes into a caller buffer: no allocation. Portable core: no dependencies beyond libc/APR. */
#ifndef WSG_NORM_H
#define WSG_NORM_H

#include <stddef.h>

/* Evidence flags: what the normaliser had to undo. Invalid encodings are evidence of evasion. */
#define WSG_NF_DOUBLE_ENC   0x0001  /* %25xx decoded to %xx (decoded once more) */
#define WSG_NF_BAD_ENC      0x0002  /* "%" not followed by two hex digits, or %u encoding */
#define WSG_NF_NUL          0x0004  /* NUL byte (%00); the path is cut there */
#define WSG_NF_TRAVERSAL    0x0008  /* "/../" that had to be resolved, or one above the root */
#define WSG_NF_BAD_UTF8     0x0010  /* invalid UTF-8 sequence */
#define WSG_NF_OVERLONG     0x0020  /* overlong UTF-8 (e.g. %c0%af for '/') */
#define WSG_NF_TRUNCATED    0x0040  /* longer than the buffer */
#define WSG_NF_BACKSLASH    0x0080  /* '\\' turned into '/' */
#define WSG_NF_PATHPARAM    0x0100  /* ";param" removed from a segment */
#define WSG_NF_TRAILING     0x0200  /* trailing dots/spaces removed from a segment */
#define WSG_NF_SLASHES      0x0400  /* "//" or "/./" collapsed */
#define WSG_NF_ENCODED      0x0800  /* any %xx in the path at all (informational) */
#define WSG_NF_PATHINFO     0x1000  /* "/x.php/more": path is the script, pathinfo the rest */

/* Flags that count as evidence of evasion (scored by the policy). */
#define WSG_NF_EVASION (WSG_NF_DOUBLE_ENC | WSG_NF_BAD_ENC | WSG_NF_NUL | WSG_NF_TRAVERSAL | \
                        WSG_NF_BAD_UTF8 | WSG_NF_OVERLONG)

typedef struct wsg_norm_t {
    const char *path;       /* normalised path, lower-case, starts with '/', NUL-terminated (in
                             * buf); with path-info the script only ("/x.php" of "/x.php/a/b") */
    size_t      path_len;
    const char *pathinfo;   /* with WSG_NF_PATHINFO, what follows the script's '/' ("a/b", "" for
                             * "/x.php/"), NUL-terminated; else NULL */
    size_t      pathinfo_len;
    const char *full;       /* the whole normalised path ("/x.php/a/b"), NUL-terminated: path
                             * itself without path-info; with it, a copy after path's NUL when
                             * buf has room (wsg_norm_bufsize() gives it), else path again */
    size_t      full_len;
    const char *basename;   /* last segment of path (points into path; "" for a directory) */
    const char *ext;        /* extension of basename without the dot ("" if none) */
    const char *query;      /* raw query string after '?', or NULL (points into the input) */
    unsigned    flags;      /* WSG_NF_* */
} wsg_norm_t;

/* Normalises target (the request target as sent: path and optional ?query; the absolute forms
 * "http://host/path" and "http:/path" are reduced to their path, as httpd does) into buf of
 * bufsize bytes. A buffer of wsg_norm_bufsize(target) bytes is never too short; a shorter one
 * truncates the decoded path (before its dot-segments are resolved) and flags TRUNCATED. Always
 * produces a valid result, even for garbage. A first segment with a script extension followed by
 * more path is split off as httpd maps it (the script runs, the rest is PATH_INFO). */
void wsg_norm_target(const char *target, char *buf, size_t bufsize, wsg_norm_t *out);

/* The buffer size with which wsg_norm_target never truncates target and always has room for
 * both views of a path-info target: twice its path's length + 4. */
size_t wsg_norm_bufsize(const char *target);

/* Is ext (lower case, no dot) one that a server runs as a script, path-info and all? */
int wsg_norm_is_script_ext(const char *ext, size_t len);

/* Human-readable names of the flags in flags, comma-separated, into buf (for logs/events). */
const char *wsg_norm_flags_str(unsigned flags, char *buf, size_t bufsize);

#endif
