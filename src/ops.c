/* ops.c - one request end to end (see ops.h).
 *
 * Order matters: size check, parse, access decision, and only then the
 * vault, so a rejected request never touches storage. Values are stored as
 * their compact JSON text, and a get puts that text into its reply as it
 * is. Reply messages come from vc_err messages, which never hold a value;
 * internal details go to log_msg only.
 *
 * Sets and deletes run asynchronously in ops_handle_async: the request
 * waits in an ops_pending for the vault's group commit, whose callback
 * builds the reply once the write is durable. Everything else (and every
 * refusal) is answered before ops_handle_async returns. ops_handle is the
 * same path with a wait at the end. */
#include "ops.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "latch.h"
#include "ops_int.h"
#include "token.h"
#include "proto.h"
#include "timefmt.h"

#define OPS_LIST_DEFAULT 1000
#define OPS_DUMP_FLAGS   (JSON_COMPACT | JSON_ENCODE_ANY)

/* What an operation produced: data and meta are owned until handed on.
 * A get's data is raw instead: the stored value's compact JSON text (the
 * plaintext secret), spliced into the reply as it is, then wiped; its meta
 * is raw_meta, compact JSON text too. */

/* Wipes and frees a result's plaintext, drops its JSON. */
void result_clear(ops_result *res)
{
    json_decref(res->data);
    json_decref(res->meta);
    json_decref(res->lifecycle);
    if (res->raw != NULL)
        sodium_memzero(res->raw, res->raw_len);
    free(res->raw);
    memset(res, 0, sizeof *res);
}

/* Fills out->log_msg. Truncation only shortens a log line: acceptable. */
void set_log(ops_reply *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out->log_msg, sizeof out->log_msg, fmt, ap);
    va_end(ap);
}

/* Last resort when even an error reply cannot be built (out of memory). */
static void set_fallback(ops_reply *out)
{
    static const char body[] = "{\"status\":\"error\",\"code\":\"internal\","
                               "\"message\":\"internal error\"}";
    out->code = VC_INTERNAL;
    out->body = strdup(body);
    out->len = out->body != NULL ? sizeof body - 1 : 0;
}

/* The reply message for an error: what the caller may see. */
static void reply_message(const vc_err *err, char *msg, size_t cap)
{
    int w;
    switch (err->code) {
    case VC_ACCESS_DENIED:
        w = snprintf(msg, cap, "Access denied");
        break;
    case VC_NOT_FOUND:
        w = snprintf(msg, cap, "key not found");
        break;
    case VC_TOKEN_INVALID:
        w = snprintf(msg, cap, "token invalid");
        break;
    case VC_TOKEN_EXPIRED:
        w = snprintf(msg, cap, "token expired");
        break;
    case VC_UNAVAILABLE: /* revoker.h's messages say what is unavailable */
        w = strncmp(err->msg, "nats ", 5) == 0
                ? snprintf(msg, cap, "%s", err->msg)
                : snprintf(msg, cap, "storage unavailable: %s", err->msg);
        break;
    case VC_BAD_REQUEST:
    case VC_UNKNOWN_OPERATION:
    case VC_TOO_LARGE:
    case VC_CONFLICT:
        w = snprintf(msg, cap, "%s", err->msg);
        break;
    default: /* internal details stay in the log */
        w = snprintf(msg, cap, "internal error");
        break;
    }
    if (w < 0)
        (void)snprintf(msg, cap, "error");
    /* w >= cap: the message is cut short but still NUL-terminated. */
}

/* Makes out an error reply for err (code VC_CONFIG is sent as internal). */
void set_error(ops_reply *out, const vc_err *err, json_t *id)
{
    char msg[VC_ERR_MSG_MAX + 32];
    vc_err e = *err;

    if (e.code == VC_OK || e.code == VC_CONFIG)
        e.code = VC_INTERNAL;
    reply_message(&e, msg, sizeof msg);
    out->code = e.code;
    if (out->log_msg[0] == '\0')
        set_log(out, "%s", err->msg);
    out->body = proto_error(e.code, msg, id, &out->len);
    if (out->body == NULL)
        set_fallback(out);
}

/* An integer member for meta or data; uint64 counts stay far below 2^63. */
static int set_int(json_t *obj, const char *name, uint64_t v)
{
    return json_object_set_new(obj, name, json_integer((json_int_t)v));
}

static int set_time(json_t *obj, const char *name, int64_t t)
{
    char buf[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(t, buf);
    return json_object_set_new(obj, name, json_string(buf));
}

static vc_code ops_oom(vc_err *err)
{
    return vc_errf(err, VC_INTERNAL, "out of memory building the reply");
}

/* Seconds left until expires_at (0 once due). */
static uint64_t ttl_left(int64_t expires_at)
{
    int64_t left = expires_at - (int64_t)time(NULL);
    return left > 0 ? (uint64_t)left : 0;
}

static vc_code do_get(const ops_ctx *ctx, const proto_request *r, ops_result *res,
                      uint64_t *version_read, vc_err *err)
{
    vault_meta meta;

    /* The value was stored as compact JSON (queue_set) and comes back
     * authenticated, so its text goes into the reply as it is: no parse
     * and re-dump, which cost time and left copies of the secret in freed
     * jansson nodes. */
    char created[TIMEFMT_RFC3339_LEN], updated[TIMEFMT_RFC3339_LEN], expires[TIMEFMT_RFC3339_LEN];
    vc_code rc = vault_get_version(ctx->vault, r->key, r->key_len, r->version, &res->raw,
                                   &res->raw_len, &meta, err);
    if (rc != VC_OK)
        return rc;
    if (version_read != NULL)
        *version_read = meta.version;
    /* What jansson would dump for this meta object, without building one. */
    timefmt_rfc3339(meta.created_at, created);
    timefmt_rfc3339(meta.updated_at, updated);
    int n = snprintf(res->raw_meta, sizeof res->raw_meta,
                     "{\"version\":%llu,\"created_at\":\"%s\",\"updated_at\":\"%s\"",
                     (unsigned long long)meta.version, created, updated);
    if (meta.expires_at != 0) {
        timefmt_rfc3339(meta.expires_at, expires);
        n += snprintf(res->raw_meta + n, sizeof res->raw_meta - (size_t)n,
                      ",\"expires_at\":\"%s\",\"ttl\":%llu", expires,
                      (unsigned long long)ttl_left(meta.expires_at));
    }
    (void)snprintf(res->raw_meta + n, sizeof res->raw_meta - (size_t)n, "}");
    return VC_OK;
}

static vc_code do_versions(const ops_ctx *ctx, const proto_request *r, ops_result *res, vc_err *err)
{
    vault_version_info *vs = NULL;
    size_t n = 0;
    uint64_t current = 0;
    vc_code rc = vault_versions(ctx->vault, r->key, r->key_len, &vs, &n, &current, err);
    if (rc != VC_OK)
        return rc;
    res->data = json_array();
    res->meta = json_object();
    if (res->data == NULL || res->meta == NULL || set_int(res->meta, "current", current) != 0)
        rc = ops_oom(err);
    for (size_t i = 0; rc == VC_OK && i < n; i++) {
        json_t *e = json_object();
        if (e == NULL || set_int(e, "version", vs[i].version) != 0 ||
            set_time(e, "created_at", vs[i].created_at) != 0 ||
            json_array_append_new(res->data, e) != 0)
            rc = ops_oom(err);
    }
    free(vs);
    return rc;
}

/* A set or delete between ops_handle_async and its commit: owns the
 * parsed request (the reply echoes its id) and the reply so far (op, key
 * hash). */

/* Queues the set: its value as compact JSON text, the way it is stored. */
static vc_code queue_set(const ops_ctx *ctx, ops_pending *p, vc_err *err)
{
    const proto_request *r = &p->req;
    /* Measure, then write: the size proto_parse already checked. */
    size_t n = json_dumpb(r->value, NULL, 0, OPS_DUMP_FLAGS);
    if (n == 0)
        return vc_errf(err, VC_INTERNAL, "value cannot be serialised");
    char *text = malloc(n);
    if (text == NULL)
        return ops_oom(err);
    vc_code rc;
    if (json_dumpb(r->value, text, n, OPS_DUMP_FLAGS) != n)
        rc = vc_errf(err, VC_INTERNAL, "value serialisation changed size");
    else { /* the vault keeps its own copy */
        vault_set_opts opts = {
            .has_cas = r->has_cas, .cas = r->cas, .has_ttl = r->has_ttl, .ttl_s = r->ttl};
        rc = vault_set_ex_async(ctx->vault, r->key, r->key_len, text, n, &opts, write_done, p, err);
    }
    sodium_memzero(text, n);
    free(text);
    return rc;
}

/* VC_OK: queued, write_done will finish p (possibly before this returns
 * to the caller's caller: p must not be touched after). */
static vc_code queue_write(const ops_ctx *ctx, ops_pending *p, vc_err *err)
{
    if (p->req.op == OP_SET)
        return queue_set(ctx, p, err);
    return vault_delete_async(ctx->vault, p->req.key, p->req.key_len, write_done, p, err);
}

static vc_code do_list(const ops_ctx *ctx, const proto_request *r, ops_result *res, vc_err *err)
{
    char **names = NULL;
    size_t count = 0;
    bool more = false;
    uint64_t skipped = 0;
    size_t limit = r->has_limit ? (size_t)r->limit : OPS_LIST_DEFAULT;

    vc_code rc = vault_list(ctx->vault, r->prefix, r->prefix_len, r->after, r->after_len, limit,
                            &names, &count, &more, &skipped, err);
    if (rc != VC_OK)
        return rc;
    res->data = json_array();
    if (res->data == NULL) {
        rc = ops_oom(err);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        /* Names were valid keys when stored, so valid UTF-8. */
        if (json_array_append_new(res->data, json_string(names[i])) != 0) {
            rc = vc_errf(err, VC_INTERNAL, "stored key name is not UTF-8");
            goto done;
        }
    }
    if ((more && count > 0) || skipped > 0) {
        res->meta = json_object();
        if (res->meta == NULL ||
            (more && count > 0 &&
             json_object_set_new(res->meta, "next", json_string(names[count - 1])) != 0) ||
            /* damaged records of the store left out (vaultctl verify) */
            (skipped > 0 && set_int(res->meta, "skipped", skipped) != 0))
            rc = ops_oom(err);
    }
done:
    vault_names_free(names, count);
    return rc;
}

static vc_code do_rotate(const ops_ctx *ctx, ops_result *res, vc_err *err)
{
    vault_rotation rot;

    vc_code rc = vault_rotate_report(ctx->vault, &rot, err);
    if (rc != VC_OK)
        return rc;
    res->data = json_object();
    if (res->data == NULL || set_int(res->data, "key_version", rot.key_version) != 0 ||
        set_int(res->data, "reencrypted", rot.reencrypted) != 0 ||
        set_int(res->data, "skipped", rot.skipped) != 0 ||
        set_int(res->data, "old_keys_kept", rot.old_keys_kept) != 0)
        return ops_oom(err);
    return VC_OK;
}

static json_t *status_storage(const ops_ctx *ctx, const vault_status_info *info)
{
    json_t *st = json_object();
    if (st == NULL)
        return NULL;
    int bad = json_object_set_new(st, "backend",
                                  json_string(info->backend != NULL ? info->backend : "unknown"));
    bad |= json_object_set_new(
        st, "path", ctx->storage_path != NULL ? json_string(ctx->storage_path) : json_null());
    bad |= set_int(st, "map_size", info->map_size);
    bad |= set_int(st, "used_bytes", info->used_bytes);
    if (info->role != NULL && info->role[0] != '\0') { /* jetstream */
        bad |= json_object_set_new(st, "role", json_string(info->role));
        bad |= json_object_set_new(st, "stream", json_string(info->stream));
        bad |= set_int(st, "replicas", (uint64_t)info->replicas);
        bad |= set_int(st, "applied_seq", info->applied_seq);
    }
    if (bad) {
        json_decref(st);
        return NULL;
    }
    return st;
}

/* When the serve loop rotates next (see ops_ctx.rotation_interval_s). */
static int set_next_rotation(const ops_ctx *ctx, const vault_status_info *info, json_t *d)
{
    if (ctx->rotation_interval_s <= 0)
        return json_object_set_new(d, "next_rotation", json_null());
    int64_t base = info->last_rotation > 0 ? info->last_rotation : ctx->started;
    return set_time(d, "next_rotation", base + ctx->rotation_interval_s);
}

static vc_code do_status(const ops_ctx *ctx, ops_result *res, vc_err *err)
{
    vault_status_info info;
    char rot[TIMEFMT_RFC3339_LEN];

    vc_code rc = vault_status(ctx->vault, &info, err);
    if (rc != VC_OK)
        return rc;
    int64_t uptime = (int64_t)time(NULL) - ctx->started;
    if (uptime < 0 || ctx->started <= 0)
        uptime = 0;
    json_t *d = res->data = json_object();
    if (d == NULL)
        return ops_oom(err);
    int bad = json_object_set_new(d, "service", json_string("vaultctl"));
    bad |= json_object_set_new(
        d, "version", json_string(ctx->service_version != NULL ? ctx->service_version : ""));
    bad |= set_int(d, "keys", info.keys);
    bad |= set_int(d, "key_version", info.key_version);
    if (info.last_rotation > 0) {
        timefmt_rfc3339(info.last_rotation, rot);
        bad |= json_object_set_new(d, "last_rotation", json_string(rot));
    } else {
        bad |= json_object_set_new(d, "last_rotation", json_null());
    }
    bad |= set_next_rotation(ctx, &info, d);
    bad |= set_int(d, "uptime_s", (uint64_t)uptime);
    bad |= json_object_set_new(d, "storage", status_storage(ctx, &info));
    if (bad)
        return ops_oom(err);
    if (ctx->status_extra != NULL)
        ctx->status_extra(ctx->status_arg, d);
    return VC_OK;
}

/* creds: a fresh NATS user (creds.h); the audit event gets its public
 * key, role, name and expiry, never the seed. */
vc_code do_creds(const ops_ctx *ctx, const proto_request *r, ops_result *res, ops_reply *out,
                 vc_err *err)
{
    int64_t ttl = 0;
    bool given = false;
    creds_audit audit;
    vc_code rc = creds_ttl_field(r->creds_ttl, &ttl, &given, err);
    if (rc != VC_OK)
        return rc;
    rc = creds_mint(ctx->creds, r->role, r->name, r->name_len, ttl, given, (int64_t)time(NULL),
                    &res->data, &res->meta, &audit, err);
    if (rc == VC_OK && out != NULL)
        memcpy(out->audit_extra, audit.json, sizeof audit.json);
    return rc;
}

vc_code run_op(const ops_ctx *ctx, const proto_request *r, ops_result *res, ops_reply *out,
               vc_err *err)
{
    switch (r->op) {
    case OP_GET:
        return do_get(ctx, r, res, out != NULL ? &out->version : NULL, err);
    case OP_VERSIONS:
        return do_versions(ctx, r, res, err);
    case OP_LIST:
        return do_list(ctx, r, res, err);
    case OP_ROTATE:
        return do_rotate(ctx, res, err);
    case OP_STATUS:
        return do_status(ctx, res, err);
    default:
        break;
    }
    return vc_errf(err, VC_INTERNAL, "no handler for operation %d", (int)r->op);
}

/* The access decision; denials get a log line that says why (the reply
 * only ever says "Access denied"). */
static vc_code check_access(const ops_ctx *ctx, const char *arrival, const vc_identity *id,
                            const proto_request *r, ops_reply *out, vc_err *err)
{
    if (arrival == NULL || ops_token_handles(r))
        return VC_OK; /* local CLI: every right; tokens: ops_token_run */
    acl_request req = {
        .arrival = arrival, .claimed = r->subject, .op = r->op, .role = r->role, .id = id};
    if (r->op == OP_GET || r->op == OP_SET || r->op == OP_DELETE || r->op == OP_VERSIONS) {
        req.key = r->key;
        req.key_len = r->key_len;
    }
    vc_code rc = acl_check(ctx->rules, ctx->nrules, &req, err);
    if (rc == VC_OK)
        return VC_OK;
    /* The arrival subject is a NATS subject (no spaces or control
     * characters); the claimed one is not logged: it is caller text. */
    if (r->subject != NULL && strcmp(r->subject, arrival) != 0)
        set_log(out,
                "access denied: claimed subject differs from arrival "
                "subject %s",
                arrival);
    else
        set_log(out, "access denied: %s may not %s", arrival, op_name(r->op));
    return rc;
}

/* The reply for an operation that ran: success with res (stolen), or the
 * error in err. */
void build_reply(ops_reply *out, vc_code rc, ops_result *res, const vc_err *err, json_t *id)
{
    if (rc != VC_OK) {
        result_clear(res);
        set_error(out, err, id);
        return;
    }
    out->code = VC_OK;
    if (res->lifecycle != NULL && res->raw != NULL) {
        /* raw_meta is a compact object: splice the lifecycle in before its
         * closing brace, without a parse */
        char *lc = json_dumps(res->lifecycle, JSON_COMPACT);
        size_t ml = strlen(res->raw_meta);
        char *mt = lc != NULL && ml >= 2 ? malloc(ml + strlen(lc) + 16) : NULL;
        if (mt != NULL)
            (void)sprintf(mt, "%.*s%s\"lifecycle\":%s}", (int)(ml - 1), res->raw_meta,
                          ml > 2 ? "," : "", lc);
        out->body =
            mt != NULL ? proto_success_raw(res->raw, res->raw_len, mt, id, &out->len) : NULL;
        free(lc);
        free(mt);
        result_clear(res);
    } else if (res->raw != NULL) {
        out->body = proto_success_raw(res->raw, res->raw_len, res->raw_meta, id, &out->len);
        result_clear(res);
    } else {
        if (res->lifecycle != NULL) {
            if (res->meta == NULL)
                res->meta = json_object();
            json_object_set(res->meta, "lifecycle", res->lifecycle);
        }
        out->body = proto_success(res->data, res->meta, id, &out->len);
        json_decref(res->lifecycle);
        res->lifecycle = NULL;
    }
    if (out->body == NULL) {
        /* The change (if any) is done and durable; only the reply failed. */
        vc_err e;
        vc_errf(&e, VC_INTERNAL, "out of memory building the reply");
        out->log_msg[0] = '\0';
        set_error(out, &e, id);
    }
}

/* Hands p's reply (its audit members with the attested identity) to its
 * caller and frees p. */
void pending_finish(ops_pending *p)
{
    char idj[IDENTITY_AUDIT_MAX];
    identity_audit_json(p->idp, idj, sizeof idj);
    size_t used = strlen(p->reply.audit_extra);
    if (idj[0] != '\0' && used + strlen(idj) + 2 <= sizeof p->reply.audit_extra)
        (void)snprintf(p->reply.audit_extra + used, sizeof p->reply.audit_extra - used, "%s%s",
                       used > 0 ? "," : "", idj);
    p->done(p->done_arg, &p->reply);
    ops_reply_free(&p->reply);
    proto_request_free(&p->req);
    json_decref(p->tok_rec);
    free(p);
}

/* The vault's completer thread: the set or delete is durable (or failed). */
void write_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *verr)
{
    ops_pending *p = arg;
    ops_result res = {0};
    vc_err err = *verr;

    if (p->tok_rec != NULL) /* a write paid by a token (ops_token.c) */
        res.lifecycle = token_lifecycle(p->tok_rec, (int64_t)time(NULL));
    if (rc == VC_OK && p->req.op == OP_SET) {
        p->reply.version = meta->version;
        res.meta = json_object();
        if (res.meta == NULL || set_int(res.meta, "version", meta->version) != 0 ||
            set_time(res.meta, "updated_at", meta->updated_at) != 0 ||
            (meta->expires_at != 0 && (set_time(res.meta, "expires_at", meta->expires_at) != 0 ||
                                       set_int(res.meta, "ttl", ttl_left(meta->expires_at)) != 0)))
            rc = ops_oom(&err);
    }
    build_reply(&p->reply, rc, &res, &err, p->req.id);
    pending_finish(p);
}

/* Size check, parse, access decision: VC_OK when the operation may run. */
static vc_code admit(const ops_ctx *ctx, const char *arrival, const vc_identity *id,
                     const uint8_t *payload, size_t len, proto_request *r, ops_reply *out,
                     vc_err *err)
{
    /* Before parsing: an oversized payload is not worth a parser's time. */
    if (ctx->max_request_bytes != 0 && len > ctx->max_request_bytes)
        return vc_errf(err, VC_TOO_LARGE, "request: %zu bytes, over the limit of %zu bytes", len,
                       ctx->max_request_bytes);
    /* Also before parsing: jansson would build one node per element, and
     * 300 KB of "[1,1,1,..." is 150,000 of them. */
    if (ctx->max_json_elements != 0 &&
        proto_json_elements_over(payload, len, ctx->max_json_elements))
        return vc_errf(err, VC_TOO_LARGE, "request: more than %zu JSON elements",
                       ctx->max_json_elements);
    vc_code rc = proto_parse(r, payload, len, ctx->max_value_bytes, err);
    out->op = r->op;
    if (r->key != NULL)
        vault_audit_hash(ctx->vault, r->key, r->key_len, out->key_hash);
    if (rc == VC_OK)
        rc = check_access(ctx, arrival, id, r, out, err);
    return rc;
}

ops_pending *ops_prepare(const ops_ctx *ctx, const char *arrival, const vc_identity *id,
                         const uint8_t *payload, size_t len, ops_done_fn done, void *done_arg)
{
    ops_pending *p = calloc(1, sizeof *p);

    if (p == NULL) {
        ops_reply out;
        memset(&out, 0, sizeof out);
        out.op = OP_NONE;
        set_fallback(&out);
        set_log(&out, "out of memory");
        done(done_arg, &out);
        ops_reply_free(&out);
        return NULL;
    }
    p->reply.op = OP_NONE;
    p->done = done;
    p->done_arg = done_arg;
    if (id != NULL) {
        p->id = *id;
        p->idp = &p->id;
    }
    vc_err_clear(&p->admit_err);
    p->admitted = admit(ctx, arrival, p->idp, payload, len, &p->req, &p->reply, &p->admit_err);
    return p;
}

bool ops_prepared_quick(const ops_ctx *ctx, const ops_pending *p)
{
    const proto_request *r = &p->req;
    if (p->admitted != VC_OK)
        return true;
    if (r->op != OP_GET && r->op != OP_VERSIONS)
        return false;
    if (!ops_token_handles(r))
        return true;
    /* A get with a token (ops_token.c, run_with_token): a wrap writes and
     * waits, and a forwarded write may wait for a lease; neither here. */
    return r->op == OP_GET && ctx->forward == NULL && json_object_get(r->root, "token") != NULL &&
           json_object_get(r->root, "wrap_ttl") == NULL;
}

void ops_run(const ops_ctx *ctx, const char *arrival, ops_pending *p)
{
    ops_result res = {0};
    vc_err err = p->admit_err;
    vc_code rc = p->admitted;

    if (rc == VC_OK && ctx->forward != NULL && ops_is_write(&p->req) &&
        !vault_is_active(ctx->vault) && ctx->forward(ctx->forward_arg, p->done_arg, &p->reply)) {
        ops_cancel(p); /* the forwarder answers (fwd.h) */
        return;
    }
    if (rc == VC_OK && ops_token_handles(&p->req)) {
        ops_token_run(ctx, arrival, p); /* finishes p */
        return;
    }
    if (rc == VC_OK && (p->req.op == OP_SET || p->req.op == OP_DELETE)) {
        rc = queue_write(ctx, p, &err);
        if (rc == VC_OK)
            return; /* write_done finishes p */
    } else if (rc == VC_OK && p->req.op == OP_CREDS) {
        rc = do_creds(ctx, &p->req, &res, &p->reply, &err);
    } else if (rc == VC_OK) {
        rc = run_op(ctx, &p->req, &res, &p->reply, &err);
        if (rc == VC_OK && p->req.op == OP_LIST && arrival != NULL)
            ops_list_filter(&res, acl_first_match_id(ctx->rules, ctx->nrules, arrival, p->idp),
                            NULL, p->idp);
    }
    build_reply(&p->reply, rc, &res, &err, p->req.id);
    pending_finish(p);
}

void ops_cancel(ops_pending *p)
{
    if (p == NULL)
        return;
    ops_reply_free(&p->reply);
    proto_request_free(&p->req);
    json_decref(p->tok_rec);
    free(p);
}

void ops_handle_async(const ops_ctx *ctx, const char *arrival, const uint8_t *payload, size_t len,
                      ops_done_fn done, void *done_arg)
{
    ops_pending *p = ops_prepare(ctx, arrival, NULL, payload, len, done, done_arg);
    if (p != NULL)
        ops_run(ctx, arrival, p);
}

/* ops_handle: ops_handle_async and a wait for its completion. */
typedef struct {
    latch done;
    ops_reply *out;
} ops_waiter;

static void ops_waiter_done(void *arg, ops_reply *reply)
{
    ops_waiter *w = arg;

    *w->out = *reply; /* the body moves to the caller */
    reply->body = NULL;
    reply->len = 0;
    latch_open(&w->done); /* w may be gone from here on */
}

void ops_handle(const ops_ctx *ctx, const char *arrival, const uint8_t *payload, size_t len,
                ops_reply *out)
{
    ops_waiter w = {.out = out};

    memset(out, 0, sizeof *out);
    out->op = OP_NONE;
    latch_init(&w.done);
    ops_handle_async(ctx, arrival, payload, len, ops_waiter_done, &w);
    latch_wait(&w.done);
    latch_destroy(&w.done);
}

void ops_reply_free(ops_reply *r)
{
    if (r == NULL)
        return;
    /* A get reply carries the secret value: wipe before freeing. */
    if (r->body != NULL)
        sodium_memzero(r->body, r->len);
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
