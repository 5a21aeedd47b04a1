/* err.h - result codes shared by every module, and the error record they fill.
 *
 * Library modules never print and never exit: they return a vc_code and, on
 * failure, fill a vc_err whose message is safe to show a user (it never holds a
 * secret value). The codes map one to one onto the protocol's error codes
 * (docs/protocol.md, "Errors"); VC_CONFIG is internal (configuration and start-up
 * errors) and is never sent over NATS. */
#ifndef VAULTCTL_ERR_H
#define VAULTCTL_ERR_H

#include <stddef.h>

typedef enum {
    VC_OK = 0,
    VC_BAD_REQUEST,       /* 400 bad_request */
    VC_UNKNOWN_OPERATION, /* 400 unknown_operation */
    VC_ACCESS_DENIED,     /* 403 access_denied */
    VC_NOT_FOUND,         /* 404 not_found */
    VC_TOO_LARGE,         /* 413 too_large */
    VC_UNAVAILABLE,       /* 503 unavailable */
    VC_INTERNAL,          /* 500 internal */
    VC_TOKEN_INVALID,     /* 401 token_invalid: unknown, revoked or used up */
    VC_TOKEN_EXPIRED,     /* 401 token_expired */
    VC_CONFIG,            /* start-up/configuration error: never on the wire */
    VC_CONFLICT           /* 409 conflict: a set's cas did not match */
} vc_code;

#define VC_ERR_MSG_MAX 512

typedef struct {
    vc_code code;
    char msg[VC_ERR_MSG_MAX];
} vc_err;

/* Fills *e (if e is not NULL) with code and a printf-formatted message, and
 * returns code, so a failing path reads `return vc_errf(err, VC_X, "...")`. */
vc_code vc_errf(vc_err *e, vc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets *e to VC_OK with an empty message. */
void vc_err_clear(vc_err *e);

/* Protocol name of a code ("bad_request", ...); "internal" for VC_CONFIG. */
const char *vc_code_name(vc_code code);

/* Protocol number of a code (400, 403, ...); 500 for VC_CONFIG. */
int vc_code_number(vc_code code);

#endif
