/* test_redact.c - NATS server URLs with their credentials hidden
 * (redact.h): passwords, tokens, lists, look-alikes that are not
 * credentials, and cut outputs that never show a byte of a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

static void shows_as(const char *urls, const char *want)
{
    char out[512];
    memset(out, 'x', sizeof out);
    redact_urls(urls, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_password_and_token(void **state)
{
    (void)state;
    shows_as("nats://bob:hunter2@a:4222", "nats://bob:(password hidden)@a:4222");
    shows_as("tls://tok9@10.0.0.2:4443", "tls://(token hidden)@10.0.0.2:4443");
    /* The last '@' before the path ends the credentials. */
    shows_as("nats://bob:hun@ter2@a:4222", "nats://bob:(password hidden)@a:4222");
    shows_as("nats://bob:@a:1", "nats://bob:(password hidden)@a:1");
    shows_as("bob:hunter2@a:1", "bob:(password hidden)@a:1"); /* no scheme */
}

static void test_nothing_to_hide(void **state)
{
    (void)state;
    shows_as("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
    shows_as("nats://a:1/x@y", "nats://a:1/x@y"); /* '@' after the host */
    shows_as("", "");
    shows_as(NULL, "");
}

static void test_lists(void **state)
{
    (void)state;
    shows_as("nats://u:p1@a:1,nats://tok@b:2,nats://c:3",
             "nats://u:(password hidden)@a:1,nats://(token hidden)@b:2,nats://c:3");
    shows_as("nats://a:1, nats://u:p@b:2", "nats://a:1, nats://u:(password hidden)@b:2");
    shows_as("a,,b", "a,,b");
}

/* Every output size: always terminated, never over cap, a prefix of the
 * whole output, and never a byte of a secret. */
static void test_truncation(void **state)
{
    const char *urls = "nats://bob:hunter2@a:4222,tls://s3cr3t@b:1";
    char full[256], out[256];
    (void)state;
    redact_urls(urls, full, sizeof full);
    for (size_t cap = 1; cap <= strlen(full) + 2; cap++) {
        memset(out, 'x', sizeof out);
        redact_urls(urls, out, cap);
        size_t n = strlen(out);
        assert_true(n < cap);
        assert_int_equal(n, cap - 1 < strlen(full) ? cap - 1 : strlen(full));
        assert_memory_equal(out, full, n);
        assert_int_equal(out[cap], 'x'); /* nothing written past cap */
        assert_null(strstr(out, "hunter"));
        assert_null(strstr(out, "s3cr"));
    }
    /* cap 0 writes nothing at all. */
    memset(out, 'x', sizeof out);
    redact_urls(urls, out, 0);
    assert_int_equal(out[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_and_token),
        cmocka_unit_test(test_nothing_to_hide),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
