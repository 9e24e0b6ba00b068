/* Shared boilerplate for the cmocka unit-test drivers (one driver per core area). */
#ifndef WSG_TEST_H
#define WSG_TEST_H

#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <apr_general.h>
#include <apr_pools.h>

/* A pool per test: setup/teardown pair for cmocka fixtures; state is the apr_pool_t *. */
static inline int wsg_test_pool_setup(void **state)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return -1;
    *state = p;
    return 0;
}

static inline int wsg_test_pool_teardown(void **state)
{
    apr_pool_destroy((apr_pool_t *)*state);
    return 0;
}

/* Run a group with APR initialised. */
#define WSG_RUN_GROUP(tests) \
    (apr_initialize(), atexit(apr_terminate), cmocka_run_group_tests((tests), NULL, NULL))

#endif
