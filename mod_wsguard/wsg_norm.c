/* wsg_norm: turns one request target into the canonical path the rules are written against, and
 * records as flags every trick it had to undo. Runs once per request on hostile input: no
 * allocation, bounded work (a fixed number of linear passes over at most bufsize bytes), always a
 * valid result.
 *
 * Order of the passes, and why:
 *   1. split: absolute-form "scheme://host" is dropped, and so is the "scheme:" of
 *      "scheme:/path" (httpd's apr_uri_parse serves "GET http:/x.php" as /x.php); the path ends at
 *      the first '?' or '#'; the query is returned raw (pointer into the input).
 *   2. percent-decode (%hh, and IIS's %uXXXX which is flagged BAD_ENC) into buf; %00 cuts.
 *   3. if the result still holds an escape, decode once more and flag DOUBLE_ENC (%252e -> %2e ->
 *      '.'); never a third time: no server decodes three times, and the loop must stay bounded.
 *   4. UTF-8: overlong forms fold to the character they encode (%c0%af -> '/', %c0%ae -> '.'),
 *      flagged OVERLONG; invalid sequences stay as raw bytes, flagged BAD_UTF8.
 *   5. segments: '\\' and '/' both separate (IIS and Windows backends accept both), ";param" is
 *      cut from each segment, then "." / ".." / empty segments are resolved (never above the
 *      root), then trailing dots and spaces (and an NTFS "::$DATA" suffix) are cut, and ASCII is
 *      lower-cased.
 *   6. path-info: the first segment with a script extension that more path follows is the script
 *      httpd runs ("/wso.php/x.jpg", "/wso.php/" and, after step 5, "/wso.php/." all run wso.php
 *      under AcceptPathInfo or a PHP/CGI handler), so path, basename and ext end there; the rest
 *      is kept as pathinfo. Front controllers ("/index.php/2024/01/post") are split alike, and
 *      the rules see "/index.php", which is what runs.
 * Decoding comes before segmenting on purpose: scanners send %2f, %5c, %2e%2e and overlong
 * slashes precisely because a naive filter splits before it decodes while the backend resolves
 * after. So after decoding, an encoded '/' or '\\' is a separator like any other. Path parameters
 * are cut before dot-segments because Tomcat treats "/..;x/" as "/../".
 *
 * The decoded path never grows (every escape shrinks, the segment pass writes behind itself), so a
 * buffer of the path's length + 2 (a leading '/' we may add, the NUL) always holds it: the caller
 * sizes the buffer with wsg_norm_bufsize() and no padded "/a/a/.../../../x.php" is cut before its
 * dot-segments are resolved. */
#include "wsg_norm.h"

#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of an escape at p (within n bytes): 3 for %hh, 6 for %uhhhh, 0 for none. */
static size_t escape_len(const char *p, size_t n, unsigned *cp)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n >= 3 && u[0] == '%' && hexval(u[1]) >= 0 && hexval(u[2]) >= 0) {
        *cp = (unsigned)(hexval(u[1]) << 4 | hexval(u[2]));
        return 3;
    }
    if (n >= 6 && u[0] == '%' && (u[1] == 'u' || u[1] == 'U') && hexval(u[2]) >= 0 &&
        hexval(u[3]) >= 0 && hexval(u[4]) >= 0 && hexval(u[5]) >= 0) {
        *cp = (unsigned)(hexval(u[2]) << 12 | hexval(u[3]) << 8 | hexval(u[4]) << 4 | hexval(u[5]));
        return 6;
    }
    return 0;
}

/* UTF-8 encoding of cp (< 0x10000 here, or any cp for re-encoding) into out; returns length. */
static size_t utf8_put(unsigned cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

typedef struct {
    unsigned flags;
    int cut;        /* a NUL was decoded: the path ends here */
    int truncated;  /* output capacity reached */
} dstate_t;

/* One percent-decoding pass from in[0..n) to out (capacity cap). In-place (out == in) is safe:
 * every escape shrinks. second: this is the re-decode of an already decoded path (step 3). */
static size_t pct_pass(const char *in, size_t n, char *out, size_t cap, int second, dstate_t *st)
{
    size_t i = 0, w = 0;
    unsigned char tmp[4];

    while (i < n) {
        unsigned cp = 0;
        size_t el = in[i] == '%' ? escape_len(in + i, n - i, &cp) : 0;
        size_t ol;

        if (el == 0) {
            if (in[i] == '%' && !second)
                st->flags |= WSG_NF_BAD_ENC;   /* "%zz", "%4", "%" at the end: left literal */
            if (w >= cap) {
                st->truncated = 1;
                break;
            }
            out[w++] = in[i++];
            continue;
        }
        st->flags |= second ? WSG_NF_DOUBLE_ENC : WSG_NF_ENCODED;
        if (el == 6) {
            /* IIS decodes %uXXXX; nothing legitimate sends it. Its best-fit mapping also turns
             * fullwidth forms (U+FF01..U+FF5E, e.g. %uff0e) into ASCII, so do the same. */
            st->flags |= WSG_NF_BAD_ENC;
            if (cp >= 0xff01 && cp <= 0xff5e)
                cp -= 0xfee0;
        }
        if (cp == 0) {
            st->flags |= WSG_NF_NUL;
            st->cut = 1;
            break;
        }
        ol = el == 3 ? 1 : utf8_put(cp, tmp);
        if (w + ol > cap) {
            st->truncated = 1;
            break;
        }
        if (el == 3)
            out[w++] = (char)cp;
        else {
            memcpy(out + w, tmp, ol);
            w += ol;
        }
        i += el;
    }
    return w;
}

/* Does p[0..n) still hold an escape after the first decode? */
static int has_escape(const char *p, size_t n)
{
    const char *q = p, *end = p + n;
    unsigned cp;
    while ((q = memchr(q, '%', (size_t)(end - q))) != NULL) {
        if (escape_len(q, (size_t)(end - q), &cp))
            return 1;
        q++;
    }
    return 0;
}

/* Step 4, in place. Overlong forms fold to what they encode (the point of sending them is that a
 * backend decodes them leniently); other invalid bytes stay as they are, flagged. */
static size_t utf8_pass(char *buf, size_t n, dstate_t *st)
{
    unsigned char *p = (unsigned char *)buf;
    size_t r = 0, w = 0;

    while (r < n) {
        unsigned b = p[r], cp, len, minlen, k;

        if (b < 0x80) {
            p[w++] = p[r++];
            continue;
        }
        if (b >= 0xc0 && b <= 0xdf)
            len = 2, cp = b & 0x1f;
        else if (b >= 0xe0 && b <= 0xef)
            len = 3, cp = b & 0x0f;
        else if (b >= 0xf0 && b <= 0xf7)
            len = 4, cp = b & 0x07;
        else if (b >= 0xf8 && b <= 0xfb)
            len = 5, cp = b & 0x03;     /* pre-2003 5- and 6-byte forms: only ever overlong here */
        else if (b >= 0xfc && b <= 0xfd)
            len = 6, cp = b & 0x01;
        else {
            st->flags |= WSG_NF_BAD_UTF8;   /* stray continuation byte, 0xfe, 0xff */
            p[w++] = p[r++];
            continue;
        }
        for (k = 1; k < len && r + k < n && (p[r + k] & 0xc0) == 0x80; k++)
            cp = cp << 6 | (p[r + k] & 0x3f);
        if (k < len) {
            if (r + k == n && st->truncated)
                break;  /* our own cut split the sequence: not the client's doing */
            st->flags |= WSG_NF_BAD_UTF8;
            p[w++] = p[r++];
            continue;
        }
        minlen = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            st->flags |= WSG_NF_BAD_UTF8 | (minlen < len ? WSG_NF_OVERLONG : 0);
            memmove(p + w, p + r, len);
            w += len;
            r += len;
            continue;
        }
        if (minlen < len) {
            st->flags |= WSG_NF_OVERLONG;
            if (cp == 0) {
                st->flags |= WSG_NF_NUL;
                st->cut = 1;
                break;
            }
            w += utf8_put(cp, p + w);   /* shorter than what was read: w stays behind r */
            r += len;
            continue;
        }
        memmove(p + w, p + r, len);
        w += len;
        r += len;
    }
    return w;
}

static int ends_with_ci(const char *s, size_t n, const char *suffix, size_t sn)
{
    size_t i;
    if (n < sn)
        return 0;
    for (i = 0; i < sn; i++) {
        char c = s[n - sn + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

/* Step 5, in place over buf[start..end) which begins with a separator. Output goes to buf[0..);
 * each kept segment writes '/' plus at most what it read after its separator, so the write
 * position never passes the read position. Returns the path length (>= 1). */
static size_t segment_pass(char *buf, size_t start, size_t end, unsigned *flags)
{
    size_t r = start, w = 0;
    int dir = 0;    /* the path currently ends in a directory: a trailing '/' is due */

    while (r < end) {
        size_t s, e, k;
        const char *semi;

        if (buf[r] == '\\')
            *flags |= WSG_NF_BACKSLASH;
        s = ++r;
        while (r < end && buf[r] != '/' && buf[r] != '\\')
            r++;
        e = r;

        semi = memchr(buf + s, ';', e - s);
        if (semi) {
            e = (size_t)(semi - buf);
            *flags |= WSG_NF_PATHPARAM;
        }
        if (e == s) {
            if (!semi && r < end)
                *flags |= WSG_NF_SLASHES;  /* "//" (an empty last segment is just "dir/") */
            dir = 1;
            continue;
        }
        if (e - s == 1 && buf[s] == '.') {
            *flags |= WSG_NF_SLASHES;
            dir = 1;
            continue;
        }
        if (e - s == 2 && buf[s] == '.' && buf[s + 1] == '.') {
            *flags |= WSG_NF_TRAVERSAL;
            while (w > 0 && buf[w - 1] != '/')
                w--;
            if (w > 0)
                w--;    /* drop the segment and its '/'; at the root there is nothing to drop */
            dir = 1;
            continue;
        }
        /* Windows/IIS open "cmd.asp", "cmd.asp." , "cmd.asp " and "cmd.asp::$DATA" alike.
         * Until nothing changes, so "x.asp::$DATA." and "x.asp.::$DATA" end alike (the fuzzer's
         * idempotence check found the one-round version). Each round removes a byte or stops. */
        for (;;) {
            size_t e0 = e;
            if (ends_with_ci(buf + s, e - s, "::$data", 7))
                e -= 7;
            while (e > s && (buf[e - 1] == '.' || buf[e - 1] == ' '))
                e--;
            if (e == e0)
                break;
            *flags |= WSG_NF_TRAILING;
        }
        if (e == s) {   /* "...", " ": nothing left, names the directory itself */
            dir = 1;
            continue;
        }
        buf[w++] = '/';
        for (k = s; k < e; k++) {
            char c = buf[k];
            buf[w++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        dir = 0;
    }
    if (dir || w == 0)
        buf[w++] = '/';
    return w;
}

static int is_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '-' || c == '.';
}

/* Step 1: the path part of target (before '?' or '#'), as httpd's request-line parser takes it.
 * "scheme://authority/path" loses scheme and authority ("//x" alone is origin-form with an empty
 * first segment, not an authority). "scheme:/path", "scheme:" and "scheme:?q" lose the scheme:
 * apr_uri_parse gives them the path "/path" (or none, which httpd serves as "/"); anything else
 * after "scheme:" (e.g. "http:x.php") httpd answers 400, and it stays as it is. */
static const char *target_path(const char *target, size_t *n)
{
    const char *p = target;

    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        const char *s = p;
        while (is_scheme_char(*s))
            s++;
        if (s[0] == ':' && s[1] == '/' && s[2] == '/')
            p = s + 3 + strcspn(s + 3, "/?#");
        else if (s[0] == ':' && (s[1] == '/' || s[1] == '?' || s[1] == '#' || s[1] == '\0'))
            p = s + 1;
    }
    *n = strcspn(p, "?#");
    return p;
}

size_t wsg_norm_bufsize(const char *target)
{
    size_t n;

    (void)target_path(target ? target : "", &n);
    return 2 * n + 4;
}

/* wsg_track_is_script_ext's list (the miss rule's), and php8 as the shipped rules have it. */
int wsg_norm_is_script_ext(const char *ext, size_t len)
{
    static const char *const exts[] = {
        "php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phar", "asp", "aspx",
        "ashx", "asmx", "ascx", "asa", "cer", "cfm", "cfc", "jsp", "jspx", "jsw", "cgi", "pl",
        "py", "sh", "alfa", NULL
    };
    int i;

    if (!ext || len == 0 || len > 5)
        return 0;
    for (i = 0; exts[i]; i++)
        if (strlen(exts[i]) == len && !memcmp(ext, exts[i], len))
            return 1;
    return 0;
}

/* Step 6: the end of the first segment of path[0..n) (canonical: starts with '/', no empty
 * segment) that has a script extension and more path after it; 0 if none. */
static size_t script_end(const char *path, size_t n)
{
    size_t s = 1;

    while (s < n) {
        const char *slash = memchr(path + s, '/', n - s);
        size_t e, d;

        if (!slash)
            return 0;   /* the last segment: no path-info */
        e = (size_t)(slash - path);
        for (d = e; d > s && path[d - 1] != '.'; d--)
            ;
        if (d > s && wsg_norm_is_script_ext(path + d, e - d))
            return e;
        s = e + 1;
    }
    return 0;
}

void wsg_norm_target(const char *target, char *buf, size_t bufsize, wsg_norm_t *out)
{
    const char *p, *pend, *q;
    size_t n, start, off, e;
    dstate_t st = {0, 0, 0};

    if (!out)
        return;
    if (!target)
        target = "";

    /* 1. split. */
    p = target_path(target, &n);
    pend = p + n;
    q = *pend == '?' ? pend + 1 : NULL;
    out->query = q;
    out->pathinfo = NULL;
    out->pathinfo_len = 0;

    if (!buf || bufsize < 2) {
        /* No room for even "/": a constant result, still valid. */
        out->path = "/";
        out->path_len = 1;
        out->basename = out->path + 1;
        out->ext = out->path + 1;
        out->full = out->path;
        out->full_len = 1;
        out->flags = WSG_NF_TRUNCATED;
        return;
    }

    /* 2.-3. decode into buf[off..]. A target that does not start with a separator gets a '/'
     * in front, so then buf[0] is kept free for it. */
    off = (n > 0 && (p[0] == '/' || p[0] == '\\')) ? 0 : 1;
    n = pct_pass(p, n, buf + off, bufsize - 1 - off, 0, &st);
    if (!st.cut && has_escape(buf + off, n))
        n = pct_pass(buf + off, n, buf + off, n, 1, &st);
    /* 4. */
    n = utf8_pass(buf + off, n, &st);

    /* 5. */
    if (n > 0 && (buf[off] == '/' || buf[off] == '\\'))
        start = off;    /* always so when off is 0: a leading ASCII byte survives decoding */
    else {
        buf[0] = '/';
        start = 0;
    }
    n = segment_pass(buf, start, off + n, &st.flags);
    buf[n] = '\0';

    /* 6. The script view is the prefix up to e: the whole path moves up behind it (when there is
     * room), the '/' at e becomes the script's NUL. */
    out->full = buf;
    out->full_len = n;
    if ((e = script_end(buf, n)) != 0) {
        if (e + 1 + n + 1 <= bufsize) {
            memmove(buf + e + 1, buf, n + 1);
            out->full = buf + e + 1;
        }
        buf[e] = '\0';
        out->pathinfo = out->full + e + 1;
        out->pathinfo_len = n - e - 1;
        if (out->full == buf)
            out->full_len = e;  /* no room for both: the script view only */
        n = e;
        st.flags |= WSG_NF_PATHINFO;
    }
    if (st.truncated)
        st.flags |= WSG_NF_TRUNCATED;
    out->path = buf;
    out->path_len = n;
    out->basename = strrchr(buf, '/') + 1;
    {
        const char *dot = strrchr(out->basename, '.');
        out->ext = dot ? dot + 1 : buf + n;
    }
    out->flags = st.flags;
}

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {WSG_NF_DOUBLE_ENC, "double-enc"}, {WSG_NF_BAD_ENC, "bad-enc"},
    {WSG_NF_NUL, "nul"},               {WSG_NF_TRAVERSAL, "traversal"},
    {WSG_NF_BAD_UTF8, "bad-utf8"},     {WSG_NF_OVERLONG, "overlong"},
    {WSG_NF_TRUNCATED, "truncated"},   {WSG_NF_BACKSLASH, "backslash"},
    {WSG_NF_PATHPARAM, "pathparam"},   {WSG_NF_TRAILING, "trailing"},
    {WSG_NF_SLASHES, "slashes"},       {WSG_NF_ENCODED, "encoded"},
    {WSG_NF_PATHINFO, "pathinfo"},
};

const char *wsg_norm_flags_str(unsigned flags, char *buf, size_t bufsize)
{
    size_t i, w = 0;

    if (!buf || bufsize == 0)
        return "";
    buf[0] = '\0';
    for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        size_t len;
        if (!(flags & flag_names[i].flag))
            continue;
        len = strlen(flag_names[i].name);
        /* Whole names only: a cut name in a log would read as a different flag. */
        if (w + (w ? 1 : 0) + len + 1 > bufsize)
            break;
        if (w)
            buf[w++] = ',';
        memcpy(buf + w, flag_names[i].name, len + 1);
        w += len;
    }
    return buf;
}
