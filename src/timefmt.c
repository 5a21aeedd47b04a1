/* timefmt.c - RFC 3339 timestamps in UTC (see timefmt.h). */
#include "timefmt.h"

#include <stdio.h>
#include <time.h>

/* Writes n as width decimal digits, zero-padded; returns out + width. */
static char *put_digits(char *out, long n, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
    return out + width;
}

/* The civil date of a day count since 1970-01-01 (proleptic Gregorian;
 * Howard Hinnant's days_from_civil, inverted). */
static void civil(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;                                   /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Writes unix_s as "YYYY-MM-DDTHH:MM:SS", then "." and frac in digits
 * digits (digits 0: no fraction), then "Z"; the epoch if unix_s cannot be
 * represented. Years 1000-9999 by arithmetic (it runs several times per
 * request); others through gmtime_r and strftime, as before. */
static void format(int64_t unix_s, long frac, int digits, char out[TIMEFMT_RFC3339_LEN])
{
    char day[32];
    time_t t = (time_t)unix_s;
    struct tm tm;
    int n;
    int64_t days = unix_s / 86400, secs = unix_s % 86400, y;
    int mo, d;

    if (secs < 0) { /* floor division */
        secs += 86400;
        days--;
    }
    civil(days, &y, &mo, &d);
    if (y >= 1000 && y <= 9999) { /* strftime pads no year below 1000 */
        char *o = put_digits(out, (long)y, 4);
        *o++ = '-';
        o = put_digits(o, mo, 2);
        *o++ = '-';
        o = put_digits(o, d, 2);
        *o++ = 'T';
        o = put_digits(o, (long)(secs / 3600), 2);
        *o++ = ':';
        o = put_digits(o, (long)(secs / 60 % 60), 2);
        *o++ = ':';
        o = put_digits(o, (long)(secs % 60), 2);
        if (digits > 0) {
            *o++ = '.';
            o = put_digits(o, frac, digits);
        }
        *o++ = 'Z';
        *o = '\0';
        return;
    }
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
