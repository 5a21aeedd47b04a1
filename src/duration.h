/* duration.h - the one duration syntax of the protocol and the
 * configuration (PROTOCOL.md v2): a non-negative integer of seconds
 * ("3600"), or one or more <n><unit> parts with units s, m, h, d ("90s",
 * "15m", "1h30m", "7d"). Used by request fields (ttl, and later the token
 * ttls of §8) and by duration settings (rotation.interval).
 */
#ifndef VAULTCTL_DURATION_H
#define VAULTCTL_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest duration accepted anywhere: 100 years, far below INT64_MAX once
 * added to a unix time. */
#define DURATION_MAX_S ((uint64_t)100 * 365 * 86400)

/* Parses the len bytes at s (no sign, no blanks, no empty part, units
 * lowercase); false on anything else or a sum over DURATION_MAX_S. */
bool duration_parse(const char *s, size_t len, uint64_t *out);

/* A JSON request field: a non-negative integer (seconds) or a string that
 * duration_parse accepts. false for anything else (a real, a negative
 * number, null, ...). */
bool duration_from_json(const json_t *v, uint64_t *out);

#endif
