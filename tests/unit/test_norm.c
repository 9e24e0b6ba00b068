/* Unit tests for wsg_norm: one case per evasion trick, each proving that a disguised probe
 * normalises to the plain path a rule is written for, with the flags that record the trick; then
 * basename/ext, the query split, truncation, and garbage or huge input. */
#include <stdlib.h>
#include <string.h>
#include "wsg_test.h"
#include "wsg_norm.h"

#define F(x) WSG_NF_##x

typedef struct {
    const char *in;
    const char *path;
    unsigned flags;
} norm_case_t;

static const norm_case_t tricks[] = {
    /* plain and case */
    {"/wso.php", "/wso.php", 0},
    {"/WSO.PHP", "/wso.php", 0},
    {"/0byt3.PhP", "/0byt3.php", 0},
    /* percent-encoding, once and twice */
    {"/%77so.php", "/wso.php", F(ENCODED)},
    {"/%57%53%4f.%50%48%50", "/wso.php", F(ENCODED)},
    {"/%2577so.php", "/wso.php", F(ENCODED) | F(DOUBLE_ENC)},
    {"/%252e%252e/x.php", "/x.php", F(ENCODED) | F(DOUBLE_ENC) | F(TRAVERSAL)},
    {"/%25%32%65%25%32%65/x.php", "/x.php", F(ENCODED) | F(DOUBLE_ENC) | F(TRAVERSAL)},
    /* decoded at most twice: a third level stays literal */
    {"/%25252e.php", "/%2e.php", F(ENCODED) | F(DOUBLE_ENC)},
    /* bad escapes stay literal; IIS %u is decoded as IIS does, and flagged */
    {"/%zz.php", "/%zz.php", F(BAD_ENC)},
    {"/x.php%", "/x.php%", F(BAD_ENC)},
    {"/x.php%4", "/x.php%4", F(BAD_ENC)},
    {"/%u0077so.php", "/wso.php", F(ENCODED) | F(BAD_ENC)},
    {"/cmd%uff0easp", "/cmd.asp", F(ENCODED) | F(BAD_ENC)},  /* fullwidth '.' (IIS best fit) */
    /* NUL: the path ends there (the classic x.php%00.jpg upload bypass) */
    {"/x.php%00.jpg", "/x.php", F(ENCODED) | F(NUL)},
    {"/x.php%2500.jpg", "/x.php", F(ENCODED) | F(DOUBLE_ENC) | F(NUL)},
    {"/x.php%c0%80.jpg", "/x.php", F(ENCODED) | F(OVERLONG) | F(NUL)},
    /* slashes, dot segments, traversal */
    {"//uploads/./../uploads/x.php", "/uploads/x.php", F(SLASHES) | F(TRAVERSAL)},
    {"/uploads//x.php", "/uploads/x.php", F(SLASHES)},
    {"/./x.php", "/x.php", F(SLASHES)},
    {"/../../../x.php", "/x.php", F(TRAVERSAL)},                 /* never above the root */
    {"/a/b/../../c/x.php", "/c/x.php", F(TRAVERSAL)},
    {"/uploads%2fx.php", "/uploads/x.php", F(ENCODED)},           /* %2f is a separator */
    {"/x/%2e%2e/shell.php", "/shell.php", F(ENCODED) | F(TRAVERSAL)},
    {"/x/.%2e/shell.php", "/shell.php", F(ENCODED) | F(TRAVERSAL)},
    /* backslashes (IIS) */
    {"/a\\b\\c.php", "/a/b/c.php", F(BACKSLASH)},
    {"/images%5cx.asp", "/images/x.asp", F(ENCODED) | F(BACKSLASH)},
    {"\\x.php", "/x.php", F(BACKSLASH)},
    {"/x\\..\\shell.asp", "/shell.asp", F(BACKSLASH) | F(TRAVERSAL)},
    /* overlong UTF-8 '/', '.', '\\' decoded so traversals resolve */
    {"/..%c0%afshell.php", "/shell.php", F(ENCODED) | F(OVERLONG) | F(TRAVERSAL)},
    {"/a/%c0%ae%c0%ae/shell.php", "/shell.php", F(ENCODED) | F(OVERLONG) | F(TRAVERSAL)},
    {"/a/..%e0%80%afshell.php", "/shell.php", F(ENCODED) | F(OVERLONG) | F(TRAVERSAL)},
    {"/a/..%f0%80%80%afshell.php", "/shell.php", F(ENCODED) | F(OVERLONG) | F(TRAVERSAL)},
    {"/a/..%c1%9cshell.php", "/shell.php",
     F(ENCODED) | F(OVERLONG) | F(TRAVERSAL) | F(BACKSLASH)},
    {"/%c1%b7so.php", "/wso.php", F(ENCODED) | F(OVERLONG)},
    /* "a.." loses its trailing dots (as on Windows) before the next ".." removes it */
    {"/a..%252f..%252fshell.php", "/shell.php",
     F(ENCODED) | F(DOUBLE_ENC) | F(TRAVERSAL) | F(TRAILING)},
    /* invalid UTF-8 stays as bytes, flagged */
    {"/%ff%fe.php", "/\xff\xfe.php", F(ENCODED) | F(BAD_UTF8)},
    {"/%c3.php", "/\xc3.php", F(ENCODED) | F(BAD_UTF8)},
    {"/%ed%a0%80.php", "/\xed\xa0\x80.php", F(ENCODED) | F(BAD_UTF8)},   /* surrogate */
    {"/\x80x.php", "/\x80x.php", F(BAD_UTF8)},
    /* valid UTF-8 and zero-width characters from scanner lists stay as they are */
    {"/%E2%80%8B1.php", "/\xe2\x80\x8b" "1.php", F(ENCODED)},
    {"/caf%C3%A9.PHP", "/caf\xc3\xa9.php", F(ENCODED)},  /* only ASCII is folded */
    /* ;param segments (Tomcat/JBoss sessions, IIS6 "x.asp;.jpg") */
    {"/shell.jsp;jsessionid=1", "/shell.jsp", F(PATHPARAM)},
    {"/x.php;.jpg", "/x.php", F(PATHPARAM)},
    {"/up;x=1/cmd.jsp", "/up/cmd.jsp", F(PATHPARAM)},
    {"/..;/manager/html", "/manager/html", F(PATHPARAM) | F(TRAVERSAL)},
    {"/a/b/..;x/cmd.jsp", "/a/cmd.jsp", F(PATHPARAM) | F(TRAVERSAL)},
    /* Windows trailing dots and spaces, NTFS stream suffix */
    {"/cmd.asp.", "/cmd.asp", F(TRAILING)},
    {"/cmd.asp%20", "/cmd.asp", F(ENCODED) | F(TRAILING)},
    {"/cmd.asp. . .", "/cmd.asp", F(TRAILING)},
    {"/uploads./cmd.asp", "/uploads/cmd.asp", F(TRAILING)},
    {"/cmd.asp::$DATA", "/cmd.asp", F(TRAILING)},
    {"/cmd.asp.::$data", "/cmd.asp", F(TRAILING)},
    {"/p.::$data..", "/p", F(TRAILING)},        /* found by fuzz_norm: strip until stable */
    {"/a/.../cmd.asp", "/a/cmd.asp", F(TRAILING)},
    /* dots inside a name are not dot segments */
    {"/..php", "/..php", 0},
    {"/12..php", "/12..php", 0},
    {"/.well-known/x.php", "/.well-known/x.php", 0},
    /* absolute-form and missing leading slash */
    {"http://victim.example/Shell.PHP?x=1", "/shell.php", 0},
    {"HTTPS://victim.example:8443/up/x.php", "/up/x.php", 0},
    {"http://victim.example", "/", 0},
    {"x.php", "/x.php", 0},
    {"%2fx.php", "/x.php", F(ENCODED)},
    {"", "/", 0},
    {"*", "/*", 0},
    /* directories keep their trailing slash */
    {"/", "/", 0},
    {"/1.php/", "/1.php", F(PATHINFO)},     /* a script with path-info "", see below */
    {"/img/", "/img/", 0},
    {"/a/b/..", "/a/", F(TRAVERSAL)},
    {"/a/b/.", "/a/b/", F(SLASHES)},
    {"/a//", "/a/", F(SLASHES)},
    /* fragment is never part of the path */
    {"/x.php#frag", "/x.php", 0},
    /* path-info: httpd runs the first script segment that more path follows (AcceptPathInfo,
     * PHP and CGI handlers), so that is the path the rules see */
    {"/wso.php/", "/wso.php", F(PATHINFO)},
    {"/wso.php/x.jpg", "/wso.php", F(PATHINFO)},
    {"/wso.php/.", "/wso.php", F(PATHINFO) | F(SLASHES)},
    {"/c99.php/.", "/c99.php", F(PATHINFO) | F(SLASHES)},
    {"/c99.php/", "/c99.php", F(PATHINFO)},
    {"/WSO.PHP/Foo.JPG", "/wso.php", F(PATHINFO)},
    {"/up/wso.php//x.jpg", "/up/wso.php", F(PATHINFO) | F(SLASHES)},
    {"/wso.php%2fx.jpg", "/wso.php", F(ENCODED) | F(PATHINFO)},
    {"/cmd.asp;.jpg/x", "/cmd.asp", F(PATHPARAM) | F(PATHINFO)},
    {"/cmd.aspx./x", "/cmd.aspx", F(TRAILING) | F(PATHINFO)},
    {"/cgi-bin/t.cgi/a/b", "/cgi-bin/t.cgi", F(PATHINFO)},
    {"/a.php/b.php", "/a.php", F(PATHINFO)},                    /* the first script runs */
    {"/index.php/2024/01/post-title", "/index.php", F(PATHINFO)},  /* WordPress permalinks */
    {"/wso.php/..", "/", F(TRAVERSAL)},                         /* resolved first, as httpd does */
    {"/x.php.jpg/y", "/x.php.jpg/y", 0},                        /* not a script extension */
    {"/php/x", "/php/x", 0},
    {"/x.phps/y", "/x.phps/y", 0},
    /* "scheme:/path": apr_uri_parse gives httpd the path "/path" (it serves /x.php) */
    {"http:/x.php", "/x.php", 0},
    {"HTTP:/x.php", "/x.php", 0},
    {"https:/up/X.php?a=1", "/up/x.php", 0},
    {"http:/wso.php/x.jpg", "/wso.php", F(PATHINFO)},
    {"http:", "/", 0},
    {"http:?x.php", "/", 0},
    {"http:x.php", "/http:x.php", 0},       /* httpd answers 400: left as it is */
};

static void test_tricks(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
        const norm_case_t *c = &tricks[i];
        char buf[8192], fb[200], fe[200];
        wsg_norm_t n;
        wsg_norm_target(c->in, buf, sizeof(buf), &n);
        if (strcmp(n.path, c->path) != 0 || n.flags != c->flags) {
            print_error("case %zu '%s': got '%s' [%s], want '%s' [%s]\n", i, c->in, n.path,
                        wsg_norm_flags_str(n.flags, fb, sizeof(fb)), c->path,
                        wsg_norm_flags_str(c->flags, fe, sizeof(fe)));
        }
        assert_string_equal(n.path, c->path);
        assert_int_equal(n.flags, c->flags);
        assert_int_equal(n.path_len, strlen(n.path));
        assert_ptr_equal(n.path, buf);
    }
}

/* Evidence flags: the tricks that only a scanner sends count; plain cosmetics do not. */
static void test_evasion_mask(void **state)
{
    char buf[256];
    wsg_norm_t n;
    (void)state;
    wsg_norm_target("/uploads//x.php;jsessionid=1", buf, sizeof(buf), &n);
    assert_int_equal(n.flags & WSG_NF_EVASION, 0);
    wsg_norm_target("/%2577so.php", buf, sizeof(buf), &n);
    assert_true(n.flags & WSG_NF_EVASION);
    wsg_norm_target("/..%c0%afx.php", buf, sizeof(buf), &n);
    assert_true(n.flags & WSG_NF_EVASION);
}

static void test_basename_ext(void **state)
{
    static const struct { const char *in, *base, *ext; } cases[] = {
        {"/a/b/Shell.PHP", "shell.php", "php"},
        {"/x.php.jpg", "x.php.jpg", "jpg"},
        {"/dir/", "", ""},
        {"/", "", ""},
        {"/README", "readme", ""},
        {"/.htaccess", ".htaccess", "htaccess"},
        {"/a.b/c", "c", ""},
        {"/x.tar.gz?x=1", "x.tar.gz", "gz"},
        {"/cmd.asp%20", "cmd.asp", "asp"},
        {"/shell.jsp;jsessionid=1", "shell.jsp", "jsp"},
        {"/..php", "..php", "php"},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[512];
        wsg_norm_t n;
        wsg_norm_target(cases[i].in, buf, sizeof(buf), &n);
        assert_string_equal(n.basename, cases[i].base);
        assert_string_equal(n.ext, cases[i].ext);
        /* both point into the path */
        assert_true(n.basename >= n.path && n.basename <= n.path + n.path_len);
        assert_true(n.ext >= n.basename && n.ext <= n.path + n.path_len);
    }
}

static void check_invariants(const char *in, const char *buf, size_t bufsize, const wsg_norm_t *n);

/* The two views of a path-info target: the script (path, basename, ext) and the whole path. */
static void test_pathinfo(void **state)
{
    static const struct { const char *in, *path, *base, *ext, *info, *full; } cases[] = {
        {"/wso.php/", "/wso.php", "wso.php", "php", "", "/wso.php/"},
        {"/wso.php/x.jpg", "/wso.php", "wso.php", "php", "x.jpg", "/wso.php/x.jpg"},
        {"/c99.php/.", "/c99.php", "c99.php", "php", "", "/c99.php/"},
        {"/wso.php/.", "/wso.php", "wso.php", "php", "", "/wso.php/"},
        {"/a/Idx.PHP5/b/c/", "/a/idx.php5", "idx.php5", "php5", "b/c/", "/a/idx.php5/b/c/"},
        {"/index.php/images/wso.php", "/index.php", "index.php", "php", "images/wso.php",
         "/index.php/images/wso.php"},
        {"http:/x.php", "/x.php", "x.php", "php", NULL, "/x.php"},
        {"/x.php", "/x.php", "x.php", "php", NULL, "/x.php"},
    };
    char small[20];
    size_t i;
    wsg_norm_t n;
    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        wsg_norm_target(cases[i].in, buf, sizeof(buf), &n);
        assert_string_equal(n.path, cases[i].path);
        assert_int_equal(n.path_len, strlen(cases[i].path));
        assert_string_equal(n.basename, cases[i].base);
        assert_string_equal(n.ext, cases[i].ext);
        assert_string_equal(n.full, cases[i].full);
        assert_int_equal(n.full_len, strlen(cases[i].full));
        if (cases[i].info) {
            assert_true(n.flags & WSG_NF_PATHINFO);
            assert_string_equal(n.pathinfo, cases[i].info);
            assert_int_equal(n.pathinfo_len, strlen(cases[i].info));
            assert_ptr_equal(n.pathinfo, n.full + n.path_len + 1);
        }
        else {
            assert_false(n.flags & WSG_NF_PATHINFO);
            assert_null(n.pathinfo);
            assert_ptr_equal(n.full, n.path);
        }
    }
    /* No room for both views: the script view stays, the path-info is kept in place. */
    wsg_norm_target("/wso.php/abcdefgh", small, sizeof(small), &n);
    assert_string_equal(n.path, "/wso.php");
    assert_string_equal(n.ext, "php");
    assert_string_equal(n.pathinfo, "abcdefgh");
    assert_ptr_equal(n.full, n.path);
    assert_int_equal(n.full_len, n.path_len);
    assert_false(n.flags & WSG_NF_TRUNCATED);
    /* The shipped list of what runs as a script. */
    assert_true(wsg_norm_is_script_ext("php", 3));
    assert_true(wsg_norm_is_script_ext("phtml", 5));
    assert_true(wsg_norm_is_script_ext("aspx", 4));
    assert_true(wsg_norm_is_script_ext("cgi", 3));
    assert_false(wsg_norm_is_script_ext("phps", 4));
    assert_false(wsg_norm_is_script_ext("jpg", 3));
    assert_false(wsg_norm_is_script_ext("ph", 2));
    assert_false(wsg_norm_is_script_ext("", 0));
    assert_false(wsg_norm_is_script_ext(NULL, 3));
}

/* Padded dot-segment targets longer than any fixed buffer resolve in a buffer sized by
 * wsg_norm_bufsize(): nothing is cut before ".." is resolved (LimitRequestLine 20000). */
static void test_long_targets(void **state)
{
    size_t len = 16 * 1024, i, w;
    char *in = malloc(len + 256), *buf;
    wsg_norm_t n;
    (void)state;
    assert_non_null(in);

    /* /a/a/.../a/../../..../wso.php, 16 KB: 3300 "/a" then as many "/.." */
    for (w = 0, i = 0; i < 3300; i++, w += 2)
        memcpy(in + w, "/a", 2);
    for (i = 0; i < 3300; i++, w += 3)
        memcpy(in + w, "/..", 3);
    strcpy(in + w, "/wso.php");
    assert_true(strlen(in) > 16 * 1024);
    buf = malloc(wsg_norm_bufsize(in));
    wsg_norm_target(in, buf, wsg_norm_bufsize(in), &n);
    assert_string_equal(n.path, "/wso.php");
    assert_string_equal(n.basename, "wso.php");
    assert_int_equal(n.flags, WSG_NF_TRAVERSAL);
    check_invariants(in, buf, wsg_norm_bufsize(in), &n);
    free(buf);
    /* an 8 KB buffer would have cut it before the ".." came: what the module did before */
    buf = malloc(8192);
    wsg_norm_target(in, buf, 8192, &n);
    assert_true(n.flags & WSG_NF_TRUNCATED);
    assert_string_not_equal(n.path, "/wso.php");
    free(buf);

    /* one 16 KB segment, encoded and removed by "%2e%2e" */
    in[0] = '/';
    memset(in + 1, 'x', len);
    strcpy(in + 1 + len - 16, "/%2e%2e/WSO.php");
    buf = malloc(wsg_norm_bufsize(in));
    wsg_norm_target(in, buf, wsg_norm_bufsize(in), &n);
    assert_string_equal(n.path, "/wso.php");
    assert_false(n.flags & WSG_NF_TRUNCATED);
    free(buf);

    /* no leading '/', nothing to resolve, path-info: both views still fit */
    memset(in, 'b', len);
    strcpy(in + len - 12, "/c99.php/x.j");
    buf = malloc(wsg_norm_bufsize(in));
    wsg_norm_target(in, buf, wsg_norm_bufsize(in), &n);
    assert_false(n.flags & WSG_NF_TRUNCATED);
    assert_string_equal(n.basename, "c99.php");
    assert_int_equal(n.full_len, len + 1);
    assert_string_equal(n.pathinfo, "x.j");
    free(buf);

    /* the size covers the path only (the query stays in the input) */
    assert_int_equal(wsg_norm_bufsize("/x.php?a=123456789"), 2 * 6 + 4);
    assert_int_equal(wsg_norm_bufsize("http://host.example/x.php#f"), 2 * 6 + 4);
    assert_int_equal(wsg_norm_bufsize("http:/x.php"), 2 * 6 + 4);
    assert_int_equal(wsg_norm_bufsize(NULL), 4);
    free(in);
}

static void test_query(void **state)
{
    char buf[256];
    wsg_norm_t n;
    const char *t1 = "/1index.php?pass=shell";
    const char *t2 = "http://h.example?a=%41";
    (void)state;
    wsg_norm_target(t1, buf, sizeof(buf), &n);
    assert_string_equal(n.path, "/1index.php");
    assert_ptr_equal(n.query, t1 + 12);        /* raw, into the input */
    wsg_norm_target(t2, buf, sizeof(buf), &n);
    assert_string_equal(n.path, "/");
    assert_string_equal(n.query, "a=%41");   /* not decoded */
    wsg_norm_target("/x.php", buf, sizeof(buf), &n);
    assert_null(n.query);
    wsg_norm_target("/x.php?", buf, sizeof(buf), &n);
    assert_string_equal(n.query, "");
    wsg_norm_target("/x.php#a?b", buf, sizeof(buf), &n);   /* '?' inside the fragment */
    assert_null(n.query);
    /* An encoded '?' is part of the name, not a query. */
    wsg_norm_target("/x.php%3fa=1", buf, sizeof(buf), &n);
    assert_string_equal(n.path, "/x.php?a=1");
    assert_null(n.query);
}

static void test_truncation(void **state)
{
    char small[16];
    char tiny[2];
    wsg_norm_t n;
    (void)state;

    wsg_norm_target("/abcdefghijklmnopqrstuvwxyz.php", small, sizeof(small), &n);
    assert_true(n.flags & WSG_NF_TRUNCATED);
    assert_true(n.path_len < sizeof(small));
    assert_string_equal(n.path, "/abcdefghijklmn");
    /* A multibyte character cut by our buffer is not the client's invalid UTF-8. */
    wsg_norm_target("/abcdefghijk%c3%a9%c3%a9", small, sizeof(small), &n);
    assert_true(n.flags & WSG_NF_TRUNCATED);
    assert_false(n.flags & WSG_NF_BAD_UTF8);
    assert_string_equal(n.path, "/abcdefghijk\xc3\xa9");
    /* Without a leading '/' one byte goes to the '/' we add. */
    wsg_norm_target("abcdefghijklmnop", small, sizeof(small), &n);
    assert_string_equal(n.path, "/abcdefghijklmn");
    /* Fits exactly: not truncated. */
    wsg_norm_target("/abcdefghijklmn", small, sizeof(small), &n);
    assert_false(n.flags & WSG_NF_TRUNCATED);
    assert_string_equal(n.path, "/abcdefghijklmn");
    /* Degenerate buffers still give a valid "/". */
    wsg_norm_target("/x.php", tiny, sizeof(tiny), &n);
    assert_string_equal(n.path, "/");
    assert_true(n.flags & WSG_NF_TRUNCATED);
    wsg_norm_target("/x.php?q", NULL, 0, &n);
    assert_string_equal(n.path, "/");
    assert_string_equal(n.basename, "");
    assert_string_equal(n.ext, "");
    assert_string_equal(n.query, "q");
    wsg_norm_target(NULL, small, sizeof(small), &n);
    assert_string_equal(n.path, "/");
}

/* Checks the invariants every result must satisfy (also what the fuzz target checks). */
static void check_invariants(const char *in, const char *buf, size_t bufsize, const wsg_norm_t *n)
{
    size_t i;
    (void)in;
    assert_ptr_equal(n->path, buf);
    assert_true(n->path_len < bufsize);
    assert_int_equal(strlen(n->path), n->path_len);
    assert_int_equal(n->path[0], '/');
    assert_null(strstr(n->path, "//"));
    assert_null(strstr(n->path, "/./"));
    assert_null(strstr(n->path, "/../"));
    assert_null(strchr(n->path, '\\'));
    for (i = 0; i < n->path_len; i++)
        assert_false(n->path[i] >= 'A' && n->path[i] <= 'Z');
    assert_true(n->basename >= n->path && n->basename <= n->path + n->path_len);
    assert_true(n->ext >= n->basename && n->ext <= n->path + n->path_len);
    /* the whole path: the script view, then "/" and the path-info (or the script view only) */
    assert_int_equal(strlen(n->full), n->full_len);
    assert_int_equal(memcmp(n->full, n->path, n->path_len), 0);
    if (n->flags & WSG_NF_PATHINFO) {
        assert_non_null(n->pathinfo);
        assert_int_equal(strlen(n->pathinfo), n->pathinfo_len);
        if (n->full != n->path) {
            assert_int_equal(n->full_len, n->path_len + 1 + n->pathinfo_len);
            assert_int_equal(n->full[n->path_len], '/');
            assert_ptr_equal(n->pathinfo, n->full + n->path_len + 1);
            assert_true(n->full + n->full_len < buf + bufsize);
        }
    }
    else {
        assert_null(n->pathinfo);
        assert_ptr_equal(n->full, n->path);
    }
}

static void test_garbage(void **state)
{
    static const char *inputs[] = {
        "%", "%%", "%%%%%%", "%u", "%u12", "%uzzzz", "?", "??", "#", "/?#", ";", "/;", ";;/;;",
        "..", "/..", "/../", "....//....//", "\\\\\\", ".\\.\\..\\", "http://", "http:///",
        "a://b/c", "://x", "h:/x", "%c0", "%c0%", "%e0%80", "%fc%80%80%80%80%af", "%f8%80%80%80%ae",
        "/%fd%bf%bf%bf%bf%bf", "/%f4%90%80%80", "\x7f\x01\x02", " ", "/ /", "/. /", "/..%00/",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2f", "/%25%25%25", "/%%32%65", "/x::$data::$DATA",
        "http:", "http:/", "a:", "a:?", "a:#", "x.php/", "/.php/", "/a.php//", "/a.php/./",
        "/a.php/b.php/c", "%2fa.php%2f", "http:/a.php/b",
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        char buf[64];
        wsg_norm_t n;
        wsg_norm_target(inputs[i], buf, sizeof(buf), &n);
        check_invariants(inputs[i], buf, sizeof(buf), &n);
    }
}

static void test_huge(void **state)
{
    size_t len = 64 * 1024, i;
    char *in = malloc(len + 1);
    char *buf = malloc(8192);
    wsg_norm_t n;
    static const char *pieces[] = {"/..", "%2e", "%252f", "//", "\\", "%c0%af", ";a", ". ", "A"};
    (void)state;
    assert_non_null(in);
    assert_non_null(buf);

    /* plain long path: truncated, valid */
    memset(in, 'a', len);
    in[0] = '/';
    in[len] = '\0';
    wsg_norm_target(in, buf, 8192, &n);
    check_invariants(in, buf, 8192, &n);
    assert_true(n.flags & WSG_NF_TRUNCATED);

    /* a long mix of every trick */
    for (i = 0; i < len;) {
        const char *p = pieces[(i * 7 + i / 13) % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t pl = strlen(p);
        if (i + pl > len)
            break;
        memcpy(in + i, p, pl);
        i += pl;
    }
    in[i] = '\0';
    wsg_norm_target(in, buf, 8192, &n);
    check_invariants(in, buf, 8192, &n);

    /* many traversals that shrink a long path back to the root */
    for (i = 0; i + 3 <= len; i += 3)
        memcpy(in + i, "/..", 3);
    in[i] = '\0';
    wsg_norm_target(in, buf, 8192, &n);
    check_invariants(in, buf, 8192, &n);
    assert_string_equal(n.path, "/");
    free(in);
    free(buf);
}

static void test_flags_str(void **state)
{
    char buf[256], small[12];
    (void)state;
    assert_string_equal(wsg_norm_flags_str(0, buf, sizeof(buf)), "");
    assert_string_equal(wsg_norm_flags_str(WSG_NF_DOUBLE_ENC | WSG_NF_TRAVERSAL, buf, sizeof(buf)),
                        "double-enc,traversal");
    assert_string_equal(wsg_norm_flags_str(0xffff, buf, sizeof(buf)),
                        "double-enc,bad-enc,nul,traversal,bad-utf8,overlong,truncated,backslash,"
                        "pathparam,trailing,slashes,encoded,pathinfo");
    /* whole names only when the buffer is short */
    assert_string_equal(wsg_norm_flags_str(WSG_NF_DOUBLE_ENC | WSG_NF_BAD_ENC, small, sizeof(small)),
                        "double-enc");
    assert_string_equal(wsg_norm_flags_str(WSG_NF_NUL, NULL, 0), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tricks),
        cmocka_unit_test(test_evasion_mask),
        cmocka_unit_test(test_basename_ext),
        cmocka_unit_test(test_pathinfo),
        cmocka_unit_test(test_long_targets),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_huge),
        /* The normaliser needs no pool; the fixture is here because wsg_test.h defines it static. */
        cmocka_unit_test_setup_teardown(test_flags_str, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
