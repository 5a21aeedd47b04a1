/* test_fairq.c - the service's request queue: bounded by count and bytes,
 * a share per queue that a flood on another queue cannot take, and
 * round-robin service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fairq.h"

#define N 64

static fairq_node nodes[N];

static fairq_node *node(int i, size_t cost)
{
    nodes[i] = (fairq_node){.cost = cost};
    return &nodes[i];
}

/* 2 queues, 8 items: shares of 2 each, a pool of 4. */
static void test_bounds_and_shares(void **state)
{
    (void)state;
    fairq f;
    int i = 0;
    assert_true(fairq_init(&f, 2, 8, 1 << 20));
    /* A flood on queue 0 takes its share and the whole pool: 6. */
    while (fairq_put(&f, 0, node(i, 1)))
        i++;
    assert_int_equal(i, 6);
    assert_int_equal(fairq_len(&f), 6);
    /* Queue 1 still has its share of 2, and no more. */
    assert_true(fairq_put(&f, 1, node(i++, 1)));
    assert_true(fairq_put(&f, 1, node(i++, 1)));
    assert_false(fairq_put(&f, 1, node(i, 1)));
    assert_int_equal(fairq_len(&f), 8);
    fairq_free(&f);
}

/* The byte budget works the same way. */
static void test_bytes(void **state)
{
    (void)state;
    fairq f;
    assert_true(fairq_init(&f, 2, 100, 1000)); /* shares of 250, pool 500 */
    assert_true(fairq_put(&f, 0, node(0, 700)));
    assert_false(fairq_put(&f, 0, node(1, 100))); /* 800 > 250 + 500 */
    assert_true(fairq_put(&f, 1, node(2, 250))); /* its share */
    assert_true(fairq_put(&f, 1, node(3, 50)));  /* pool: 450 + 50 */
    assert_false(fairq_put(&f, 1, node(4, 1)));  /* pool spent */
    /* Taking frees the budget again. */
    assert_ptr_equal(fairq_take(&f), &nodes[0]);
    assert_true(fairq_put(&f, 1, node(4, 400)));
    fairq_free(&f);
}

/* Round-robin across queues, FIFO within one. */
static void test_round_robin(void **state)
{
    (void)state;
    fairq f;
    assert_true(fairq_init(&f, 3, 60, 1 << 20));
    for (int i = 0; i < 6; i++)
        assert_true(fairq_put(&f, 0, node(i, 1))); /* 0..5 on queue 0 */
    assert_true(fairq_put(&f, 2, node(10, 1)));
    assert_true(fairq_put(&f, 2, node(11, 1)));
    const int want[] = {0, 10, 1, 11, 2, 3, 4, 5};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        fairq_node *got = fairq_take(&f);
        assert_non_null(got);
        assert_ptr_equal(got, &nodes[want[k]]);
    }
    assert_null(fairq_take(&f));
    assert_int_equal(fairq_len(&f), 0);
    fairq_free(&f);
}

static void test_bad_init(void **state)
{
    (void)state;
    fairq f;
    assert_false(fairq_init(&f, 0, 10, 10));
    assert_false(fairq_init(&f, 1, 0, 10));
    fairq_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_shares),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_bad_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
