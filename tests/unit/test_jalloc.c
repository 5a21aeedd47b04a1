/* test_jalloc.c - jansson's memory, wiped on free: a secret parsed from a
 * request is gone from every block jansson frees (seen through jalloc's
 * test hook, after the wipe and before free()); the header keeps blocks
 * aligned; jalloc_dumps gives plain malloc memory. Runs clean under
 * valgrind and ASan, which also check that no block reaches free() with
 * the wrong pointer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jalloc.h"

#define CANARY "sk_live_canary"

typedef struct {
    size_t blocks;     /* blocks freed */
    size_t canary;     /* ... that still held the canary */
    size_t not_zero;   /* ... with any byte not zero */
    size_t could_hold; /* ... large enough to have held it */
} seen;

static void observe(void *arg, const unsigned char *block, size_t size)
{
    seen *s = arg;
    s->blocks++;
    if (size >= sizeof CANARY - 1) {
        s->could_hold++;
        if (memmem(block, size, CANARY, sizeof CANARY - 1) != NULL)
            s->canary++;
    }
    for (size_t i = 0; i < size; i++)
        if (block[i] != 0) {
            s->not_zero++;
            break;
        }
}

/* The acceptance test of issue 10: a freed parsed secret is gone from the
 * freed block. */
static void test_parsed_secret_wiped(void **state)
{
    static const char request[] = "{\"value\":\"" CANARY "\"}";
    seen s = {0};
    json_error_t jerr;
    (void)state;

    jalloc_set_test_hook(observe, &s);
    json_t *j = json_loadb(request, sizeof request - 1, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "value")), CANARY);
    json_decref(j);
    jalloc_set_test_hook(NULL, NULL);

    /* The parse went through jalloc (the lexer's buffers, the string, the
     * object and its table), and some freed block was big enough to hold
     * the secret: the hook saw the blocks that mattered. */
    assert_true(s.blocks >= 3);
    assert_true(s.could_hold >= 1);
    assert_int_equal(s.canary, 0);
    assert_int_equal(s.not_zero, 0);
}

/* The same through a dump: jansson's own buffer holds the secret's text and
 * is wiped; the copy jalloc_dumps returns is plain malloc memory that free()
 * takes (valgrind and ASan would flag a header offset). */
static void test_dump_wiped(void **state)
{
    seen s = {0};
    size_t len = 0;
    (void)state;

    json_t *j = json_pack("{s:s}", "value", CANARY);
    assert_non_null(j);
    jalloc_set_test_hook(observe, &s);
    char *text = jalloc_dumps(j, JSON_COMPACT, &len);
    jalloc_set_test_hook(NULL, NULL);
    assert_non_null(text);
    assert_string_equal(text, "{\"value\":\"" CANARY "\"}");
    assert_int_equal(len, strlen(text));
    assert_true(s.could_hold >= 1);
    assert_int_equal(s.canary, 0);
    assert_int_equal(s.not_zero, 0);
    free(text);
    json_decref(j);

    assert_null(jalloc_dumps(NULL, JSON_COMPACT, &len));
    assert_int_equal(len, 0);
}

/* The allocator directly: the hook sees the whole block zeroed, with its
 * size; blocks are aligned for any type; size 0 and NULL are handled. */
static void test_allocator(void **state)
{
    seen s = {0};
    (void)state;

    for (size_t size = 1; size <= 257; size += 64) {
        unsigned char *p = jalloc_malloc(size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, 0xa5, size);
        if (size >= sizeof CANARY)
            memcpy(p + size - sizeof CANARY, CANARY, sizeof CANARY);
        jalloc_set_test_hook(observe, &s);
        jalloc_free(p);
        jalloc_set_test_hook(NULL, NULL);
    }
    assert_int_equal(s.blocks, 5);
    assert_int_equal(s.not_zero, 0);
    assert_int_equal(s.canary, 0);
    assert_null(jalloc_malloc(0));
    assert_null(jalloc_malloc(SIZE_MAX));
    jalloc_free(NULL);
}

/* Installing again changes nothing: blocks from before the second install
 * still free correctly. */
static void test_install_twice(void **state)
{
    json_malloc_t m;
    json_free_t f;
    (void)state;

    json_t *j = json_string(CANARY);
    jalloc_install();
    json_get_alloc_funcs(&m, &f);
    assert_true(m == jalloc_malloc);
    assert_true(f == jalloc_free);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsed_secret_wiped),
        cmocka_unit_test(test_dump_wiped),
        cmocka_unit_test(test_allocator),
        cmocka_unit_test(test_install_twice),
    };
    jalloc_install(); /* first, before any jansson allocation */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
