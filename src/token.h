/* token.h - scoped tokens: the pure parts (PROTOCOL.md §8, §9).
 *
 * Key patterns (an exact key, or a prefix with one final `*`), token
 * policies ({"keys": [...], "operations": [...]}), the duration syntax, and
 * the meta.lifecycle object. No storage, no crypto: vault_token.h keeps the
 * records, ops_token.c runs the operations. */
#ifndef VAULTCTL_TOKEN_H
#define VAULTCTL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "operation.h"

#define TOKEN_PATTERNS_MAX 64
#define TOKEN_NAME_MAX     128
#define TOKEN_PREFIX       "vct_"
#define TOKEN_WRAP_PREFIX  "vcw_"
#define TOKEN_STR_LEN      47 /* "vct_" + 43 base64url chars of 32 bytes */
#define TOKEN_ACCESSOR_LEN 24 /* base64url of 18 random bytes */

/* Operations a token policy may grant. */
#define TOKEN_POLICY_OPS                                                                           \
    (OP_BIT(OP_GET) | OP_BIT(OP_SET) | OP_BIT(OP_DELETE) | OP_BIT(OP_LIST) | OP_BIT(OP_VERSIONS) | \
     OP_BIT(OP_ISSUE))

/* Whether pattern (exact key, or prefix + one final '*') is well formed. */
bool token_pattern_valid(const char *p, size_t len);

/* Whether key (len bytes) matches pattern (NUL-terminated). */
bool token_pattern_match(const char *pattern, const char *key, size_t len);

/* Whether every key that inner matches is matched by outer. */
bool token_pattern_covers(const char *outer, const char *inner);

/* Whether key matches one of the patterns of the JSON array pats. */
bool token_keys_match(const json_t *pats, const char *key, size_t len);

/* Checks a request's `policy` object and returns a normalised copy
 * ({"keys":[...],"operations":[...]}) in *out and its ops mask in *ops.
 * VC_BAD_REQUEST naming the problem. */
vc_code token_policy_parse(const json_t *policy, json_t **out, unsigned *ops, vc_err *err);

/* The OP_BIT mask of a normalised policy's operations. */
unsigned token_policy_ops(const json_t *policy);

/* Whether child (normalised) lies within parent: every child pattern
 * covered by a parent pattern, operations a subset. */
bool token_policy_within(const json_t *parent, const json_t *child);

/* Parses a duration (duration.h's syntax, the shared parser): a
 * non-negative integer of seconds, or a string of <n><unit> parts with
 * units s, m, h, d ("90s", "15m", "1h30m", "7d"). */
bool token_parse_duration(const json_t *v, int64_t *out);

/* Same, from text (CLI flags). */
bool token_parse_duration_text(const char *s, size_t len, int64_t *out);

/* The meta.lifecycle object of a token record (see vault_token.h) at time
 * now: issued_at, expires_at, max_expires_at, ttl (seconds left), uses_left
 * (null if unlimited), renewable. NULL on out of memory. */
json_t *token_lifecycle(const json_t *rec, int64_t now);

#endif
