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
    {"/1.php/", "/1.php/", 0},
    {"/a/b/..", "/a/", F(TRAVERSAL)},
    {"/a/b/.", "/a/b/", F(SLASHES)},
    {"/a//", "/a/", F(SLASHES)},
    /* fragment is never part of the path */
    {"/x.php#frag", "/x.php", 0},
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
}

static void test_garbage(void **state)
{
    static const char *inputs[] = {
        "%", "%%", "%%%%%%", "%u", "%u12", "%uzzzz", "?", "??", "#", "/?#", ";", "/;", ";;/;;",
        "..", "/..", "/../", "....//....//", "\\\\\\", ".\\.\\..\\", "http://", "http:///",
        "a://b/c", "://x", "h:/x", "%c0", "%c0%", "%e0%80", "%fc%80%80%80%80%af", "%f8%80%80%80%ae",
        "/%fd%bf%bf%bf%bf%bf", "/%f4%90%80%80", "\x7f\x01\x02", " ", "/ /", "/. /", "/..%00/",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2f", "/%25%25%25", "/%%32%65", "/x::$data::$DATA",
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
                        "pathparam,trailing,slashes,encoded");
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
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_huge),
        /* The normaliser needs no pool; the fixture is here because wsg_test.h defines it static. */
        cmocka_unit_test_setup_teardown(test_flags_str, wsg_test_pool_setup, wsg_test_pool_teardown),
    };
    return WSG_RUN_GROUP(tests);
}
