/* test_timefmt.c - RFC 3339 timestamps: the three forms, the epoch, times
 * before 1970, the millisecond floor, and the fallback for a time gmtime_r
 * cannot represent. The expected strings are what proto_time, audit_time,
 * log.c and discovery.c wrote before they shared timefmt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "timefmt.h"

static void test_seconds(void **state)
{
    char out[TIMEFMT_RFC3339_LEN];
    (void)state;
    timefmt_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    timefmt_rfc3339(1795871807, out);
    assert_string_equal(out, "2026-11-28T13:16:47Z");
    timefmt_rfc3339(1700000000, out);
    assert_string_equal(out, "2023-11-14T22:13:20Z");
    timefmt_rfc3339(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    timefmt_rfc3339(253402300799LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
}

static void test_milliseconds(void **state)
{
    char out[TIMEFMT_RFC3339_LEN];
    (void)state;
    timefmt_rfc3339_ms(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    timefmt_rfc3339_ms(1764335807123LL, out);
    assert_string_equal(out, "2025-11-28T13:16:47.123Z");
    timefmt_rfc3339_ms(1764335807005LL, out);
    assert_string_equal(out, "2025-11-28T13:16:47.005Z");
    /* Floor division: -1 ms is the last millisecond of 1969. */
    timefmt_rfc3339_ms(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    timefmt_rfc3339_ms(-1000, out);
    assert_string_equal(out, "1969-12-31T23:59:59.000Z");
}

static void test_nanoseconds(void **state)
{
    char out[TIMEFMT_RFC3339_LEN];
    (void)state;
    timefmt_rfc3339_ns(1764335807, 5, out);
    assert_string_equal(out, "2025-11-28T13:16:47.000000005Z");
    timefmt_rfc3339_ns(1764335807, 999999999L, out);
    assert_string_equal(out, "2025-11-28T13:16:47.999999999Z");
    timefmt_rfc3339_ns(0, 0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    /* Out of range nanoseconds are written as 0, never as 10 digits. */
    timefmt_rfc3339_ns(0, 1000000000L, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    timefmt_rfc3339_ns(0, -1, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
}

/* A year beyond int: the epoch in the same form, never a short or empty
 * string. */
static void test_unrepresentable(void **state)
{
    char out[TIMEFMT_RFC3339_LEN];
    (void)state;
    timefmt_rfc3339(INT64_MAX, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    timefmt_rfc3339(INT64_MIN, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    /* Every int64 of milliseconds is a year gmtime_r takes. */
    timefmt_rfc3339_ms(INT64_MIN, out);
    assert_string_equal(out, "-292275055-05-16T16:47:04.192Z");
    timefmt_rfc3339_ns(INT64_MAX, 123, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
}

/* The first and last second gmtime_r takes (years of 10 digits and a sign)
 * fit the buffer whole in the longest form; one second further is the
 * fallback. */
static void test_widest_years(void **state)
{
    static const int64_t last = 67768036191676799LL, first = -67768040609740800LL;
    char out[TIMEFMT_RFC3339_LEN];
    (void)state;
    timefmt_rfc3339_ns(last, 999999999L, out);
    assert_int_equal(strlen(out), 37);
    assert_string_equal(out + 11, "-12-31T23:59:59.999999999Z");
    timefmt_rfc3339_ns(first, 0, out);
    assert_string_equal(out, "-2147481748-01-01T00:00:00.000000000Z");
    timefmt_rfc3339(last + 1, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    timefmt_rfc3339(first - 1, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
}

/* The arithmetic path (years 1000-9999) writes what gmtime_r and strftime
 * write, across that range, both sides of every day boundary. */
static void test_same_as_strftime(void **state)
{
    (void)state;
    char got[TIMEFMT_RFC3339_LEN], want[64], day[32];
    for (int64_t t = -30610224000LL - 3 * 86400; t < 253402300800LL + 3 * 86400;
         t += 86399 * 37 + 13) {
        for (int k = 0; k < 3; k++) {
            int64_t u = t + k * 3601;
            time_t tt = (time_t)u;
            struct tm tm;
            assert_non_null(gmtime_r(&tt, &tm));
            assert_true(strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) > 0);
            snprintf(want, sizeof want, "%s.042Z", day);
            timefmt_rfc3339_ms(u * 1000 + 42, got);
            assert_string_equal(got, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seconds),      cmocka_unit_test(test_milliseconds),
        cmocka_unit_test(test_nanoseconds),  cmocka_unit_test(test_unrepresentable),
        cmocka_unit_test(test_widest_years), cmocka_unit_test(test_same_as_strftime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
