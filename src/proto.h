/* proto.h - request parsing and response building (docs/protocol.md,
 * "Requests" and "Responses").
 *
 * Pure functions: bytes in, bytes out; no NATS, no store. Unit tests and
 * fuzzers drive them directly.
 */
#ifndef VAULTCTL_PROTO_H
#define VAULTCTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "operation.h"

#define PROTO_KEY_MAX 512

typedef struct {
    vc_op op;
    const char *key;
    size_t key_len; /* NULL if absent */
    json_t *value;  /* borrowed from root; NULL if absent */
    const char *prefix;
    size_t prefix_len; /* NULL if absent */
    const char *after;
    size_t after_len; /* NULL if absent */
    long long limit;
    bool has_limit;
    bool has_ttl; /* set: ttl given (seconds in ttl) */
    uint64_t ttl;
    bool has_cas; /* set: cas given */
    uint64_t cas;
    uint64_t version;    /* get: the version asked for; 0: the current one */
    const char *subject; /* claimed subject; NULL if absent */
    /* creds (PROTOCOL.md §10): role and name required (name 1-64 of
     * [A-Za-z0-9_-]); ttl as sent (checked by creds_ttl_field); NULL if
     * absent. wrap_ttl is not read yet. */
    const char *role;
    const char *name;
    size_t name_len;
    json_t *creds_ttl;
    json_t *id;   /* borrowed; NULL if absent */
    json_t *root; /* owned: the parsed object */
} proto_request;

/* Parses a request payload. On error, fills err (VC_BAD_REQUEST,
 * VC_UNKNOWN_OPERATION, VC_TOO_LARGE) with a message that never quotes the
 * value, and still sets out->id (and out->op) when they could be read, so the
 * error reply echoes the id. Checks per operation: key required and valid
 * (1-512 bytes UTF-8, no control characters) for get/set/delete; value
 * required and not null for set, at most max_value_bytes once serialised
 * compactly (VC_TOO_LARGE; max_value_bytes 0: no limit); limit an integer
 * from 1 to 10000; after/prefix strings without control characters; subject
 * a string; id a string or a number; for set, ttl a duration (duration.h)
 * and cas an integer >= 0; for get, version an integer >= 1 (other
 * operations ignore these three).
 * Always call proto_request_free, whatever the result. */
vc_code proto_parse(proto_request *out, const uint8_t *payload, size_t len, size_t max_value_bytes,
                    vc_err *err);

void proto_request_free(proto_request *r);

/* Whether payload (len bytes) holds more than max JSON elements, counted
 * without parsing as the structural characters `{`, `[`, `,` and `:`
 * outside strings (a backslash in a string escapes the next byte). Any
 * JSON document of n values has at most about twice that count plus one
 * values, so the count bounds what a parser would allocate. One pass, no
 * allocation; stops at the first count over max. */
bool proto_json_elements_over(const uint8_t *payload, size_t len, size_t max);

/* Whether the len bytes at key are a valid key name (docs/protocol.md,
 * "Requests": 1-512 bytes of UTF-8 without control characters). */
bool proto_key_valid(const char *key, size_t len);

/* {"status":"success","data":data,"meta":meta,"id":id} as malloc'd compact
 * JSON (caller frees); steals data and meta (either may be NULL: data is then
 * null, meta omitted); id borrowed (NULL: omitted). */
char *proto_success(json_t *data, json_t *meta, json_t *id, size_t *len);

/* proto_success with data (data_len bytes) and meta (NUL-terminated, NULL:
 * omitted) given as compact JSON text, copied into the reply as they are;
 * id borrowed. */
char *proto_success_raw(const char *data, size_t data_len, const char *meta, json_t *id,
                        size_t *len);

/* {"status":"error","code":...,"message":...,"id":id} as malloc'd JSON. */
char *proto_error(vc_code code, const char *message, json_t *id, size_t *len);

#endif
