/* ops.c - one request end to end (see ops.h).
 *
 * Order matters: size check, parse, access decision, and only then the
 * vault, so a rejected request never touches storage. Values are stored as
 * their compact JSON text and parsed back on get. Reply messages come from
 * vc_err messages, which never hold a value; internal details go to
 * log_msg only. */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

#define OPS_LIST_DEFAULT 1000
#define OPS_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* What an operation produced: data and meta are owned until handed on. */
typedef struct {
    json_t *data;
    json_t *meta;
} ops_result;

/* Fills out->log_msg. Truncation only shortens a log line: acceptable. */
static void set_log(ops_reply *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_log(ops_reply *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out->log_msg, sizeof out->log_msg, fmt, ap);
    va_end(ap);
}

/* Last resort when even an error reply cannot be built (out of memory). */
static void set_fallback(ops_reply *out)
{
    static const char body[] =
        "{\"status\":\"error\",\"code\":\"internal\","
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
    case VC_UNAVAILABLE:
        w = snprintf(msg, cap, "storage unavailable: %s", err->msg);
        break;
    case VC_BAD_REQUEST:
    case VC_UNKNOWN_OPERATION:
    case VC_TOO_LARGE:
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
static void set_error(ops_reply *out, const vc_err *err, json_t *id)
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
    char buf[32];
    proto_time(t, buf);
    return json_object_set_new(obj, name, json_string(buf));
}

static vc_code oom(vc_err *err)
{
    return vc_errf(err, VC_INTERNAL, "out of memory building the reply");
}

static vc_code do_get(const ops_ctx *ctx, const proto_request *r,
                      ops_result *res, vc_err *err)
{
    char *text = NULL;
    size_t text_len = 0;
    vault_meta meta;
    json_error_t jerr;

    vc_code rc = vault_get(ctx->vault, r->key, r->key_len, &text, &text_len,
                           &meta, err);
    if (rc != VC_OK)
        return rc;
    res->data = json_loadb(text, text_len, JSON_DECODE_ANY, &jerr);
    explicit_bzero(text, text_len); /* plaintext secret */
    free(text);
    if (res->data == NULL)
        return vc_errf(err, VC_INTERNAL,
                       "stored value is not JSON (line %d, column %d)",
                       jerr.line, jerr.column);
    res->meta = json_object();
    if (res->meta == NULL ||
        set_int(res->meta, "version", meta.version) != 0 ||
        set_time(res->meta, "created_at", meta.created_at) != 0 ||
        set_time(res->meta, "updated_at", meta.updated_at) != 0)
        return oom(err);
    return VC_OK;
}

static vc_code do_set(const ops_ctx *ctx, const proto_request *r,
                      ops_result *res, vc_err *err)
{
    vault_meta meta;
    /* Measure, then write: the size proto_parse already checked. */
    size_t n = json_dumpb(r->value, NULL, 0, OPS_DUMP_FLAGS);
    if (n == 0)
        return vc_errf(err, VC_INTERNAL, "value cannot be serialised");
    char *text = malloc(n);
    if (text == NULL)
        return oom(err);
    vc_code rc = VC_INTERNAL;
    if (json_dumpb(r->value, text, n, OPS_DUMP_FLAGS) != n) {
        vc_errf(err, VC_INTERNAL, "value serialisation changed size");
        goto done;
    }
    rc = vault_set(ctx->vault, r->key, r->key_len, text, n, &meta, err);
    if (rc != VC_OK)
        goto done;
    res->meta = json_object();
    if (res->meta == NULL ||
        set_int(res->meta, "version", meta.version) != 0 ||
        set_time(res->meta, "updated_at", meta.updated_at) != 0)
        rc = oom(err);
done:
    explicit_bzero(text, n);
    free(text);
    return rc;
}

static vc_code do_delete(const ops_ctx *ctx, const proto_request *r,
                         vc_err *err)
{
    return vault_delete(ctx->vault, r->key, r->key_len, err);
}

static vc_code do_list(const ops_ctx *ctx, const proto_request *r,
                       ops_result *res, vc_err *err)
{
    char **names = NULL;
    size_t count = 0;
    bool more = false;
    size_t limit = r->has_limit ? (size_t)r->limit : OPS_LIST_DEFAULT;

    vc_code rc = vault_list(ctx->vault, r->prefix, r->prefix_len, r->after,
                            r->after_len, limit, &names, &count, &more, err);
    if (rc != VC_OK)
        return rc;
    res->data = json_array();
    if (res->data == NULL) {
        rc = oom(err);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        /* Names were valid keys when stored, so valid UTF-8. */
        if (json_array_append_new(res->data, json_string(names[i])) != 0) {
            rc = vc_errf(err, VC_INTERNAL, "stored key name is not UTF-8");
            goto done;
        }
    }
    if (more && count > 0) {
        res->meta = json_object();
        if (res->meta == NULL ||
            json_object_set_new(res->meta, "next",
                                json_string(names[count - 1])) != 0)
            rc = oom(err);
    }
done:
    vault_names_free(names, count);
    return rc;
}

static vc_code do_rotate(const ops_ctx *ctx, ops_result *res, vc_err *err)
{
    uint32_t key_version = 0;
    uint64_t reencrypted = 0;

    vc_code rc = vault_rotate(ctx->vault, &key_version, &reencrypted, err);
    if (rc != VC_OK)
        return rc;
    res->data = json_object();
    if (res->data == NULL ||
        set_int(res->data, "key_version", key_version) != 0 ||
        set_int(res->data, "reencrypted", reencrypted) != 0)
        return oom(err);
    return VC_OK;
}

static json_t *status_storage(const ops_ctx *ctx,
                              const vault_status_info *info)
{
    json_t *st = json_object();
    if (st == NULL)
        return NULL;
    int bad = json_object_set_new(st, "backend",
                                  json_string(info->backend != NULL
                                                  ? info->backend : "unknown"));
    bad |= json_object_set_new(st, "path",
                               ctx->storage_path != NULL
                                   ? json_string(ctx->storage_path)
                                   : json_null());
    bad |= set_int(st, "map_size", info->map_size);
    bad |= set_int(st, "used_bytes", info->used_bytes);
    if (bad) {
        json_decref(st);
        return NULL;
    }
    return st;
}

/* When the serve loop rotates next (see ops_ctx.rotation_interval_s). */
static int set_next_rotation(const ops_ctx *ctx, const vault_status_info *info,
                             json_t *d)
{
    if (ctx->rotation_interval_s <= 0)
        return json_object_set_new(d, "next_rotation", json_null());
    int64_t base = info->last_rotation > 0 ? info->last_rotation : ctx->started;
    return set_time(d, "next_rotation", base + ctx->rotation_interval_s);
}

static vc_code do_status(const ops_ctx *ctx, ops_result *res, vc_err *err)
{
    vault_status_info info;
    char rot[32];

    vc_code rc = vault_status(ctx->vault, &info, err);
    if (rc != VC_OK)
        return rc;
    int64_t uptime = (int64_t)time(NULL) - ctx->started;
    if (uptime < 0 || ctx->started <= 0)
        uptime = 0;
    json_t *d = res->data = json_object();
    if (d == NULL)
        return oom(err);
    int bad = json_object_set_new(d, "service", json_string("vaultctl"));
    bad |= json_object_set_new(d, "version",
                               json_string(ctx->service_version != NULL
                                               ? ctx->service_version : ""));
    bad |= set_int(d, "keys", info.keys);
    bad |= set_int(d, "key_version", info.key_version);
    if (info.last_rotation > 0) {
        proto_time(info.last_rotation, rot);
        bad |= json_object_set_new(d, "last_rotation", json_string(rot));
    } else {
        bad |= json_object_set_new(d, "last_rotation", json_null());
    }
    bad |= set_next_rotation(ctx, &info, d);
    bad |= set_int(d, "uptime_s", (uint64_t)uptime);
    bad |= json_object_set_new(d, "storage", status_storage(ctx, &info));
    if (bad)
        return oom(err);
    if (ctx->status_extra != NULL)
        ctx->status_extra(ctx->status_arg, d);
    return VC_OK;
}

static vc_code run_op(const ops_ctx *ctx, const proto_request *r,
                      ops_result *res, vc_err *err)
{
    switch (r->op) {
    case OP_GET: return do_get(ctx, r, res, err);
    case OP_SET: return do_set(ctx, r, res, err);
    case OP_DELETE: return do_delete(ctx, r, err);
    case OP_LIST: return do_list(ctx, r, res, err);
    case OP_ROTATE: return do_rotate(ctx, res, err);
    case OP_STATUS: return do_status(ctx, res, err);
    default: break;
    }
    return vc_errf(err, VC_INTERNAL, "no handler for operation %d",
                   (int)r->op);
}

/* The access decision; denials get a log line that says why (the reply
 * only ever says "Access denied"). */
static vc_code check_access(const ops_ctx *ctx, const char *arrival,
                            const proto_request *r, ops_reply *out,
                            vc_err *err)
{
    if (arrival == NULL)
        return VC_OK; /* local CLI: holds the master key, every right */
    acl_request req = { .arrival = arrival, .claimed = r->subject,
                        .op = r->op };
    vc_code rc = acl_check(ctx->rules, ctx->nrules, &req, err);
    if (rc == VC_OK)
        return VC_OK;
    /* The arrival subject is a NATS subject (no spaces or control
     * characters); the claimed one is not logged: it is caller text. */
    if (r->subject != NULL && strcmp(r->subject, arrival) != 0)
        set_log(out, "access denied: claimed subject differs from arrival "
                     "subject %s", arrival);
    else
        set_log(out, "access denied: %s may not %s", arrival,
                op_name(r->op));
    return rc;
}

void ops_handle(const ops_ctx *ctx, const char *arrival,
                const uint8_t *payload, size_t len, ops_reply *out)
{
    proto_request r;
    ops_result res = { NULL, NULL };
    vc_err err;

    memset(out, 0, sizeof *out);
    out->op = OP_NONE;
    vc_err_clear(&err);

    /* Before parsing: an oversized payload is not worth a parser's time. */
    if (ctx->max_request_bytes != 0 && len > ctx->max_request_bytes) {
        vc_errf(&err, VC_TOO_LARGE,
                "request: %zu bytes, over the limit of %zu bytes", len,
                ctx->max_request_bytes);
        set_error(out, &err, NULL);
        return;
    }

    vc_code rc = proto_parse(&r, payload, len, ctx->max_value_bytes, &err);
    out->op = r.op;
    if (r.key != NULL)
        vault_audit_hash(ctx->vault, r.key, r.key_len, out->key_hash);
    if (rc == VC_OK)
        rc = check_access(ctx, arrival, &r, out, &err);
    if (rc == VC_OK)
        rc = run_op(ctx, &r, &res, &err);
    if (rc != VC_OK) {
        json_decref(res.data);
        json_decref(res.meta);
        set_error(out, &err, r.id);
        goto done;
    }

    out->code = VC_OK;
    out->body = proto_success(res.data, res.meta, r.id, &out->len);
    if (out->body == NULL) {
        /* The change (if any) is done and durable; only the reply failed. */
        vc_errf(&err, VC_INTERNAL, "out of memory building the reply");
        out->log_msg[0] = '\0';
        set_error(out, &err, r.id);
    }
done:
    proto_request_free(&r);
}

void ops_reply_free(ops_reply *r)
{
    if (r == NULL)
        return;
    /* A get reply carries the secret value: wipe before freeing. */
    if (r->body != NULL)
        explicit_bzero(r->body, r->len);
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
