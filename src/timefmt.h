/* timefmt.h - RFC 3339 timestamps in UTC, the one way vaultctl writes time.
 *
 * Every timestamp vaultctl shows (reply meta, status, audit events, log
 * lines, the $SRV stats' "started") is one of three forms of the same
 * thing, differing only in the fraction of a second:
 *
 *   timefmt_rfc3339     "2026-11-28T13:16:47Z"             (seconds)
 *   timefmt_rfc3339_ms  "2026-11-28T13:16:47.123Z"         (milliseconds)
 *   timefmt_rfc3339_ns  "2026-11-28T13:16:47.123456789Z"   (nanoseconds)
 *
 * A time gmtime_r cannot represent (a year beyond int) is written as the
 * epoch in the same form ("1970-01-01T00:00:00Z", ...), so the output is
 * always a well-formed timestamp. Negative times (before 1970) format
 * normally. No allocation, no state, thread-safe. */
#ifndef VAULTCTL_TIMEFMT_H
#define VAULTCTL_TIMEFMT_H

#include <stdint.h>

/* Room for any of the three forms + NUL, whatever the year (at most
 * "-2147481748-12-31T23:59:59.999999999Z": 38 bytes with the NUL). */
#define TIMEFMT_RFC3339_LEN 40

/* unix_s: seconds since the epoch. */
void timefmt_rfc3339(int64_t unix_s, char out[TIMEFMT_RFC3339_LEN]);

/* unix_ms: milliseconds since the epoch (floor division, so -1 is
 * "1969-12-31T23:59:59.999Z"). */
void timefmt_rfc3339_ms(int64_t unix_ms, char out[TIMEFMT_RFC3339_LEN]);

/* unix_s and nsec as in a struct timespec (nsec from 0 to 999999999;
 * anything else is written as 0). */
void timefmt_rfc3339_ns(int64_t unix_s, long nsec, char out[TIMEFMT_RFC3339_LEN]);

#endif
