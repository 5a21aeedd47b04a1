/* ops_int.h - shared by ops.c and ops_token.c only. */
#ifndef VAULTCTL_OPS_INT_H
#define VAULTCTL_OPS_INT_H

#include <jansson.h>

#include "ops.h"
#include "proto.h"

/* What an operation produced: data and meta are owned until handed on.
 * A get's data is raw instead: the stored value's compact JSON text (the
 * plaintext secret), spliced into the reply as it is, then wiped; its meta
 * is raw_meta, compact JSON text too. lifecycle (owned, may be NULL) goes
 * into meta.lifecycle. */
typedef struct {
    json_t *data;
    json_t *meta;
    char *raw;
    size_t raw_len;
    char raw_meta[256];
    json_t *lifecycle;
} ops_result;

/* A request between ops_prepare (or ops_handle_async) and its reply: owns
 * the parsed request (the reply echoes its id), the reply so far (op, key
 * hash) and the admission's outcome. */
struct ops_pending {
    proto_request req;
    vc_code admitted; /* ops_prepare's decision: VC_OK, or why it is refused */
    vc_err admit_err; /* the refusal, when admitted != VC_OK */
    ops_reply reply;
    ops_done_fn done;
    void *done_arg;
    json_t *tok_rec;        /* ops_token.c: the token record after its use */
    const ops_ctx *ctx;     /* ops_token.c: for a read run after its use */
    const acl_rule *rule;   /* ops_token.c: the matching ACL entry, or NULL */
    vc_identity id;         /* the attested identity when idp is &id */
    const vc_identity *idp; /* NULL: none */
};

void result_clear(ops_result *res);
void set_log(ops_reply *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void set_error(ops_reply *out, const vc_err *err, json_t *id);
/* Runs r's operation; out (may be NULL) gets what the audit event adds (the
 * version of a get or set, creds' fields). */
vc_code run_op(const ops_ctx *ctx, const proto_request *r, ops_result *res, ops_reply *out,
               vc_err *err);
/* creds (ops.c): mints; out (may be NULL) gets the audit members. */
vc_code do_creds(const ops_ctx *ctx, const proto_request *r, ops_result *res, ops_reply *out,
                 vc_err *err);
void build_reply(ops_reply *out, vc_code rc, ops_result *res, const vc_err *err, json_t *id);
void pending_finish(ops_pending *p);
/* The completion of a set or delete (a vault_write_done): meta, the
 * token's lifecycle when p->tok_rec is set, the reply. */
void write_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *verr);

/* ---- ops_token.c ---- */

/* Whether ops_token_run decides and runs r: the token operations, and any
 * request that carries a token or asks for a wrapped reply. */
bool ops_token_handles(const proto_request *r);

/* Whether r changes the vault: set, delete, rotate, the token operations,
 * and any request a token pays for (a use spent) or a wrap creates. On a
 * jetstream standby these go to the active instance (fwd.h). */
bool ops_is_write(const proto_request *r);

/* Access decision (PROTOCOL.md §8 order), the use, the operation and the
 * reply; finishes p (now or from the write's completion). */
void ops_token_run(const ops_ctx *ctx, const char *arrival, ops_pending *p);

/* Keeps only the names of a list result that rule's keys (with {name} from
 * id) and the policy's patterns (either may be NULL: no limit) match. */
void ops_list_filter(ops_result *res, const acl_rule *rule, const json_t *policy,
                     const vc_identity *id);

#endif
