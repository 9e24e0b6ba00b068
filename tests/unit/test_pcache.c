/* Unit tests for wsg_pcache: a remembered "pass" is found only for the very same key (serial,
 * method, target byte for byte, file fact, engine mode), never for anything else; long targets
 * and other methods are not kept; a single entry (a connection's) keys the same. */
#include <string.h>
#include "wsg_test.h"
#include "wsg_pcache.h"

static void test_exact_key(void **state)
{
    apr_uint64_t s1 = wsg_pcache_serial(), s2 = wsg_pcache_serial();

    (void)state;
    assert_true(s2 != s1 && s1 != 0);
    assert_false(wsg_pcache_hit(s1, 1, "/index.html", 2, 1, NULL));
    wsg_pcache_put(s1, 1, "/index.html", 2, 1, NULL);
    assert_true(wsg_pcache_hit(s1, 1, "/index.html", 2, 1, NULL));
    assert_false(wsg_pcache_hit(s2, 1, "/index.html", 2, 1, NULL));      /* another generation */
    assert_false(wsg_pcache_hit(s1, 2, "/index.html", 2, 1, NULL));      /* HEAD */
    assert_false(wsg_pcache_hit(s1, 1, "/index.html", 1, 1, NULL));      /* file missing now */
    assert_false(wsg_pcache_hit(s1, 1, "/index.html", 2, 0, NULL));      /* DetectionOnly */
    assert_false(wsg_pcache_hit(s1, 1, "/index.htm", 2, 1, NULL));
    assert_false(wsg_pcache_hit(s1, 1, "/index.html?", 2, 1, NULL));
    assert_false(wsg_pcache_hit(s1, 1, "/Index.html", 2, 1, NULL));
    assert_false(wsg_pcache_hit(s1, 0, "/index.html", 2, 1, NULL));      /* POST: never */
}

static void test_methods_and_limits(void **state)
{
    apr_uint64_t s = wsg_pcache_serial();
    char longt[300];

    (void)state;
    memset(longt, 'a', sizeof(longt) - 1);
    longt[0] = '/';
    longt[sizeof(longt) - 1] = '\0';
    wsg_pcache_put(s, 1, longt, 2, 1, NULL);
    assert_false(wsg_pcache_hit(s, 1, longt, 2, 1, NULL));
    /* Same first and last 8 bytes and length, one byte differs in the middle: a miss. */
    wsg_pcache_put(s, 1, "/aaaaaaaa/x/bbbbbbbb.css", 2, 1, NULL);
    assert_true(wsg_pcache_hit(s, 1, "/aaaaaaaa/x/bbbbbbbb.css", 2, 1, NULL));
    assert_false(wsg_pcache_hit(s, 1, "/aaaaaaaa/y/bbbbbbbb.css", 2, 1, NULL));
    assert_false(wsg_pcache_hit(0, 1, "/aaaaaaaa/x/bbbbbbbb.css", 2, 1, NULL));
}

/* The ref of a lookup puts the entry where the next lookup finds it. */
static void test_ref(void **state)
{
    apr_uint64_t s = wsg_pcache_serial();
    wsg_pcache_ref_t ref;

    (void)state;
    assert_false(wsg_pcache_hit(s, 1, "/a/b.css", 2, 1, &ref));
    wsg_pcache_put(s, 1, "/a/b.css", 2, 1, &ref);
    assert_true(wsg_pcache_hit(s, 1, "/a/b.css", 2, 1, NULL));
}

/* A single entry (a connection's last pass): the same exact key as the table's, filled from a
 * lookup's ref; a target too long for the table empties it. */
static void test_entry(void **state)
{
    apr_uint64_t s = wsg_pcache_serial();
    wsg_pcache_entry_t e;
    wsg_pcache_ref_t ref;
    char longt[300];

    (void)state;
    memset(&e, 0, sizeof(e));
    assert_false(wsg_pcache_entry_hit(&e, s, 1, "/a/c.css", 2, 1));      /* empty */
    (void)wsg_pcache_hit(s, 1, "/a/c.css", 2, 1, &ref);
    wsg_pcache_entry_set(&e, s, 1, "/a/c.css", 2, 1, &ref);
    assert_true(wsg_pcache_entry_hit(&e, s, 1, "/a/c.css", 2, 1));
    assert_false(wsg_pcache_entry_hit(&e, s + 1, 1, "/a/c.css", 2, 1)); /* another generation */
    assert_false(wsg_pcache_entry_hit(&e, s, 2, "/a/c.css", 2, 1));     /* HEAD */
    assert_false(wsg_pcache_entry_hit(&e, s, 0, "/a/c.css", 2, 1));     /* POST */
    assert_false(wsg_pcache_entry_hit(&e, s, 1, "/a/c.css", 1, 1));     /* missing now */
    assert_false(wsg_pcache_entry_hit(&e, s, 1, "/a/c.css", 2, 0));     /* DetectionOnly */
    assert_false(wsg_pcache_entry_hit(&e, s, 1, "/a/c.cs", 2, 1));
    assert_false(wsg_pcache_entry_hit(&e, s, 1, "/a/c.css?", 2, 1));
    assert_false(wsg_pcache_entry_hit(&e, s, 1, NULL, 2, 1));
    assert_false(wsg_pcache_entry_hit(&e, 0, 1, "/a/c.css", 2, 1));
    memset(longt, 'a', sizeof(longt) - 1);
    longt[0] = '/';
    longt[sizeof(longt) - 1] = '\0';
    (void)wsg_pcache_hit(s, 1, longt, 2, 1, &ref);
    wsg_pcache_entry_set(&e, s, 1, longt, 2, 1, &ref);
    assert_int_equal(e.serial, 0);
    assert_false(wsg_pcache_entry_hit(&e, s, 1, "/a/c.css", 2, 1));
    assert_false(wsg_pcache_entry_hit(&e, s, 1, longt, 2, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_key),
        cmocka_unit_test(test_methods_and_limits),
        cmocka_unit_test(test_ref),
        cmocka_unit_test(test_entry),
    };
    return WSG_RUN_GROUP(tests);
}
