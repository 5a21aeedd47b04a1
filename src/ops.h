/* ops.h - executes one request end to end: parse, decide access, run the
 * operation on the vault, build the reply. Shared by the NATS service and the
 * local CLI so both print the very same JSON.
 */
#ifndef VAULTCTL_OPS_H
#define VAULTCTL_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "acl.h"
#include "creds.h"
#include "err.h"
#include "identity.h"
#include "operation.h"
#include "revoker.h"
#include "seal.h"
#include "vault.h"

typedef struct ops_reply ops_reply;

typedef struct {
    vault *vault;
    const acl_rule *rules;
    size_t nrules;
    size_t max_value_bytes;
    const char *storage_path; /* shown in status */
    int64_t started;          /* unix seconds, for uptime_s */
    const char *service_version;
    size_t max_request_bytes; /* payload over it: too_large before parsing;
                                 0: no limit */
    size_t max_json_elements; /* more {, [, ',' or ':' outside strings than
                                 this: too_large before parsing (jansson has
                                 no such limit); 0: no limit */
    /* Called (if not NULL) with the status data object, to add the
     * service's own fields (audit drops, next rotation...); it may add
     * members and must not keep the pointer. Must be thread-safe. */
    void (*status_extra)(void *arg, json_t *status_obj);
    void *status_arg;
    /* rotation.interval in seconds (0: no scheduled rotation): status shows
     * next_rotation = (last_rotation, or started if never rotated) +
     * interval, or null. */
    int64_t rotation_interval_s;
    /* nats_credentials' signer (creds.h); NULL: creds is not configured. */
    creds_signer *creds;
    /* revoke with public_key (revoker.h); NULL: not configured. */
    nats_revoker *revoker;
    /* tokens.default_ttl and tokens.max_ttl in seconds (0: 1h and 24h) */
    int64_t token_default_ttl;
    int64_t token_max_ttl;
    /* A write admitted while this instance may not write (jetstream
     * standby, fwd.h): forward(forward_arg, done_arg, admitted) sends it to
     * the active instance; true when it did: then the request is no longer
     * ops' (done is not called, the forwarder answers it; admitted holds
     * the op and key hash for its audit event). NULL: never forwarded. */
    bool (*forward)(void *arg, void *done_arg, const ops_reply *admitted);
    void *forward_arg;
} ops_ctx;

struct ops_reply {
    char *body;
    size_t len;                      /* malloc'd JSON reply; free with ops_reply_free */
    vc_code code;                    /* VC_OK or the error sent */
    vc_op op;                        /* OP_NONE if it could not be read */
    char key_hash[SEAL_AUDIT_HEX];   /* audit hash of the key, "" if none */
    char token_hash[SEAL_AUDIT_HEX]; /* audit hash of the token's accessor,
                                        "" if no token */
    uint64_t version;                /* set: the version written; get: the
                                        version read; 0 otherwise */
    char log_msg[VC_ERR_MSG_MAX];    /* what went wrong, for the log (no secret) */
    char audit_extra[CREDS_AUDIT_MAX + IDENTITY_AUDIT_MAX + 2];
    /* JSON members the audit event adds (creds: key, role, name, expiry;
     * the attested identity) */
};

/* Handles one request payload that arrived on subject arrival (NULL: the
 * local CLI, which holds the master key and has every right). Always fills
 * *out with a reply to send; a set or delete returns once durable. */
void ops_handle(const ops_ctx *ctx, const char *arrival, const uint8_t *payload, size_t len,
                ops_reply *out);

/* Completion of ops_handle_async: *reply is the reply to send. It belongs
 * to ops and is freed (the body wiped) when done returns; done may keep the
 * body by moving it out (copy reply->body and reply->len, then set them to
 * NULL and 0) and later free it with ops_reply_free. */
typedef void (*ops_done_fn)(void *arg, ops_reply *reply);

/* ops_handle without the wait for a write's sync. Calls done(done_arg, ...)
 * exactly once: before returning for every operation but set and delete,
 * and for any request refused before the vault (too large, bad request,
 * access denied); for an admitted set or delete, later, on the vault's
 * completer thread once the write is durable or failed (see
 * vault_write_done: keep done short, and no blocking vault write or
 * ops_handle of a set or delete in it). arrival and payload are not used
 * after the return. */
void ops_handle_async(const ops_ctx *ctx, const char *arrival, const uint8_t *payload, size_t len,
                      ops_done_fn done, void *done_arg);

/* ops_handle_async in two steps, so a caller can decide where the second
 * runs (the service answers quick ones on the thread that received them,
 * and hands the rest to its workers). ops_prepare does the size check, the
 * parse and the access decision, for a request with a server-attested
 * identity id (may be NULL: none; identity.h), which ACL entries naming
 * users or accounts and {name} in keys are judged by (copied, not used
 * after the return); NULL when it could not even allocate (then done was
 * already called with an internal error). payload is not used after it
 * returns. ops_run then runs it (or answers the refusal) and calls done
 * exactly once, as ops_handle_async does; arrival must be the same string,
 * alive until ops_run returns. ops_cancel frees a prepared request without
 * running it or calling done. */
typedef struct ops_pending ops_pending;
ops_pending *ops_prepare(const ops_ctx *ctx, const char *arrival, const vc_identity *id,
                         const uint8_t *payload, size_t len, ops_done_fn done, void *done_arg);
/* Whether running p is quick and never waits: a refusal, a get or
 * versions without a token (one read transaction, no write, no sync), or a
 * get with a token, not wrapped, on a service that forwards no writes
 * (ctx->forward NULL): a read of the token record and, for a token with a
 * use limit, its use queued to the group commit without waiting (the
 * reply then comes from the commit's completion). */
bool ops_prepared_quick(const ops_ctx *ctx, const ops_pending *p);
void ops_run(const ops_ctx *ctx, const char *arrival, ops_pending *p);
void ops_cancel(ops_pending *p);

void ops_reply_free(ops_reply *r);

#endif
