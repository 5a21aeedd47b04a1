/* timefmt.c - RFC 3339 timestamps in UTC (see timefmt.h). */
#include "timefmt.h"

#include <stdio.h>
#include <time.h>

/* Writes unix_s as "YYYY-MM-DDTHH:MM:SS", then "." and frac in digits
 * digits (digits 0: no fraction), then "Z"; the epoch if unix_s cannot be
 * represented. */
static void format(int64_t unix_s, long frac, int digits, char out[TIMEFMT_RFC3339_LEN])
{
    char day[32];
    time_t t = (time_t)unix_s;
    struct tm tm;
    int n;

    if ((int64_t)t != unix_s || gmtime_r(&t, &tm) == NULL ||
        strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        (void)snprintf(day, sizeof day, "1970-01-01T00:00:00");
        frac = 0;
    }
    if (digits > 0)
        n = snprintf(out, TIMEFMT_RFC3339_LEN, "%s.%0*ldZ", day, digits, frac);
    else
        n = snprintf(out, TIMEFMT_RFC3339_LEN, "%sZ", day);
    if (n < 0 || n >= TIMEFMT_RFC3339_LEN) /* cannot happen: see the header */
        (void)snprintf(out, TIMEFMT_RFC3339_LEN, "1970-01-01T00:00:00Z");
}

void timefmt_rfc3339(int64_t unix_s, char out[TIMEFMT_RFC3339_LEN])
{
    format(unix_s, 0, 0, out);
}

void timefmt_rfc3339_ms(int64_t unix_ms, char out[TIMEFMT_RFC3339_LEN])
{
    int64_t sec = unix_ms / 1000, ms = unix_ms % 1000;

    if (ms < 0) { /* floor division */
        ms += 1000;
        sec--;
    }
    format(sec, (long)ms, 3, out);
}

void timefmt_rfc3339_ns(int64_t unix_s, long nsec, char out[TIMEFMT_RFC3339_LEN])
{
    if (nsec < 0 || nsec > 999999999L)
        nsec = 0;
    format(unix_s, nsec, 9, out);
}
