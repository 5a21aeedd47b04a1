/* test_utf8.c - the one UTF-8 rule (utf8.h): every sequence length at its
 * boundaries, overlong forms, surrogates, code points past U+10FFFF, bytes
 * that never start a sequence, truncated sequences, and agreement with
 * jansson, which proto.c and audit.c rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "utf8.h"

typedef struct {
    const char *bytes;
    size_t len;
    size_t seq; /* utf8_seq at the start: 0 invalid */
} seq_case;

#define S(lit) lit, sizeof lit - 1

static const seq_case cases[] = {
    {S("A"), 1},
    {S("\x7f"), 1},
    {S("\0"), 1},               /* NUL is valid UTF-8; callers refuse it themselves */
    {S("\xc2\x80"), 2},         /* U+0080, the smallest 2-byte */
    {S("\xdf\xbf"), 2},         /* U+07FF */
    {S("\xe0\xa0\x80"), 3},     /* U+0800 */
    {S("\xed\x9f\xbf"), 3},     /* U+D7FF, just below the surrogates */
    {S("\xee\x80\x80"), 3},     /* U+E000, just above */
    {S("\xef\xbf\xbf"), 3},     /* U+FFFF */
    {S("\xf0\x90\x80\x80"), 4}, /* U+10000 */
    {S("\xf4\x8f\xbf\xbf"), 4}, /* U+10FFFF, the last code point */
    {S("\x80"), 0},             /* continuation byte first */
    {S("\xbf"), 0},
    {S("\xc0\x80"), 0},         /* overlong NUL */
    {S("\xc1\xbf"), 0},         /* overlong U+007F */
    {S("\xe0\x80\x80"), 0},     /* overlong 3-byte */
    {S("\xe0\x9f\xbf"), 0},     /* overlong U+07FF */
    {S("\xf0\x80\x80\x80"), 0}, /* overlong 4-byte */
    {S("\xf0\x8f\xbf\xbf"), 0}, /* overlong U+FFFF */
    {S("\xed\xa0\x80"), 0},     /* U+D800, a surrogate */
    {S("\xed\xbf\xbf"), 0},     /* U+DFFF */
    {S("\xf4\x90\x80\x80"), 0}, /* U+110000 */
    {S("\xf5\x80\x80\x80"), 0}, /* never a lead byte */
    {S("\xff"), 0},
    {S("\xc2"), 0}, /* truncated */
    {S("\xe2\x82"), 0},
    {S("\xf0\x9f\x98"), 0},
    {S("\xc2\x41"), 0}, /* not a continuation byte */
    {S("\xe2\x28\xa1"), 0},
};

static void test_seq(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const seq_case *c = &cases[i];
        size_t got = utf8_seq((const unsigned char *)c->bytes, c->len);
        if (got != c->seq)
            fail_msg("case %zu: utf8_seq %zu, want %zu", i, got, c->seq);
        assert_int_equal(utf8_valid(c->bytes, c->len), c->seq == c->len);
    }
}

/* A valid sequence read with fewer bytes than it needs is invalid: the
 * length limit is respected, not the NUL after the literal. */
static void test_seq_limit(void **state)
{
    (void)state;
    assert_int_equal(utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 3), 0);
    assert_int_equal(utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_false(utf8_valid("\xe2\x82\xac", 2));
    assert_true(utf8_valid("\xe2\x82\xac", 3));
}

static void test_valid_strings(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid(NULL, 0));
    assert_true(utf8_valid(S("billing/stripe")));
    assert_true(utf8_valid(S("caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80")));
    assert_false(utf8_valid(S("ok\xc3")));          /* cut at the end */
    assert_false(utf8_valid(S("a\xed\xa0\x80z")));  /* surrogate inside */
    assert_false(utf8_valid(S("caf\xc3\xa9\xff"))); /* bad byte after good */
}

/* Whatever utf8_valid says, jansson says too (json_stringn checks UTF-8):
 * every 1- and 2-byte string, and 3-byte strings with each lead byte from
 * 0xe0 to 0xf4, each second byte, and third bytes around the continuation
 * range. */
static void test_agrees_with_jansson(void **state)
{
    static const unsigned char thirds[] = {0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    unsigned char b[4];
    (void)state;
    for (unsigned i = 1; i < 0x10000; i++) {
        size_t len = i < 0x100 ? 1 : 2;
        b[0] = (unsigned char)(i & 0xff);
        b[1] = (unsigned char)(i >> 8);
        if (len == 2 && b[1] == 0)
            continue;
        json_t *j = json_stringn((const char *)b, len);
        assert_int_equal(utf8_valid((const char *)b, len), j != NULL);
        json_decref(j);
    }
    for (unsigned lead = 0xe0; lead <= 0xf4; lead++)
        for (unsigned second = 0; second < 0x100; second++)
            for (size_t k = 0; k < sizeof thirds; k++) {
                b[0] = (unsigned char)lead;
                b[1] = (unsigned char)second;
                b[2] = thirds[k];
                json_t *j = json_stringn((const char *)b, 3);
                assert_int_equal(utf8_valid((const char *)b, 3), j != NULL);
                json_decref(j);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_seq_limit),
        cmocka_unit_test(test_valid_strings),
        cmocka_unit_test(test_agrees_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
