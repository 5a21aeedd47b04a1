/* operation.h - the operations of the protocol: names and bits (docs/protocol.md, "Requests").
 * Not to be confused with ops.h, which executes one request. */
#ifndef VAULTCTL_OPERATION_H
#define VAULTCTL_OPERATION_H

#include <stddef.h>

typedef enum {
    OP_GET = 0,
    OP_SET,
    OP_DELETE,
    OP_LIST,
    OP_ROTATE,
    OP_STATUS,
    OP_VERSIONS,
    OP_CREDS, /* NATS user credentials (creds.h) */
    OP_ISSUE, /* tokens (PROTOCOL.md §8) */
    OP_LOOKUP,
    OP_RENEW,
    OP_REVOKE,
    OP_UNWRAP,
    OP_COUNT,
    OP_NONE = -1 /* not (yet) known: parse failed before the operation */
} vc_op;

/* Bit of an operation in an ACL operation mask. */
#define OP_BIT(op)  (1u << (unsigned)(op))
#define OP_ALL_BITS ((1u << OP_COUNT) - 1u)

/* The operation named by the len bytes at name, or OP_NONE. */
vc_op op_from_name(const char *name, size_t len);

/* The protocol name of op ("get", ...), or "unknown" for OP_NONE. */
const char *op_name(vc_op op);

#endif
