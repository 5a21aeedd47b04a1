/* operation.c - operation names (see operation.h). */
#include "operation.h"

#include <string.h>

static const char *const op_names[OP_COUNT] = {
    "get",   "set",   "delete", "list",  "rotate", "status", "versions",
    "creds", "issue", "lookup", "renew", "revoke", "unwrap",
};

vc_op op_from_name(const char *name, size_t len)
{
    for (int i = 0; i < (int)OP_COUNT; i++) {
        if (strlen(op_names[i]) == len && memcmp(op_names[i], name, len) == 0)
            return (vc_op)i;
    }
    return OP_NONE;
}

const char *op_name(vc_op op)
{
    if (op < 0 || op >= OP_COUNT)
        return "unknown";
    return op_names[op];
}
