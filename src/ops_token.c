/* ops_token.c - scoped tokens and response wrapping over the protocol
 * (PROTOCOL.md §8): issue, lookup, renew, revoke, unwrap, and every request
 * that carries a token or asks for a wrapped reply.
 *
 * A request with a token is judged in this order: the first matching ACL
 * entry must say tokens: true (access_denied); the token must exist, be
 * unrevoked and have uses left (token_invalid) and be unexpired
 * (token_expired); its policy must allow the operation and the key
 * (access_denied). The use is consumed through the vault's group commit:
 * for a set or delete in the same transaction as the write, for anything
 * else durably before the operation runs and the reply is sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ops_int.h"
#include "timefmt.h"
#include "token.h"
#include "vault_token.h"

#define DEFAULT_TTL 3600
#define DEFAULT_MAX 86400

static bool is_self_op(vc_op op)
{
    return op == OP_ISSUE || op == OP_LOOKUP || op == OP_RENEW || op == OP_REVOKE ||
           op == OP_UNWRAP;
}

static const char *str_field(const proto_request *r, const char *name, size_t *len)
{
    json_t *v = json_object_get(r->root, name);
    if (!json_is_string(v))
        return NULL;
    if (len != NULL)
        *len = json_string_length(v);
    return json_string_value(v);
}

bool ops_token_handles(const proto_request *r)
{
    return is_self_op(r->op) || json_object_get(r->root, "token") != NULL ||
           ((r->op == OP_GET || r->op == OP_CREDS) && json_object_get(r->root, "wrap_ttl") != NULL);
}

bool ops_is_write(const proto_request *r)
{
    switch (r->op) {
    case OP_SET:
    case OP_DELETE:
    case OP_ROTATE:
    case OP_ISSUE:
    case OP_RENEW:
    case OP_REVOKE:
    case OP_UNWRAP:
        return true;
    default:
        return ops_token_handles(r);
    }
}

void ops_list_filter(ops_result *res, const acl_rule *rule, const json_t *policy,
                     const vc_identity *id)
{
    if (!json_is_array(res->data) || ((rule == NULL || rule->keys == NULL) && policy == NULL))
        return;
    json_t *pats = policy != NULL ? json_object_get(policy, "keys") : NULL;
    for (size_t i = json_array_size(res->data); i-- > 0;) {
        json_t *n = json_array_get(res->data, i);
        const char *k = json_string_value(n);
        size_t kl = json_string_length(n);
        if (!acl_key_allowed_id(rule, k, kl, id) ||
            (pats != NULL && !token_keys_match(pats, k, kl)))
            json_array_remove(res->data, i);
    }
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* Audit events and log lines name the token by its accessor's keyed hash. */
static void name_token(const ops_ctx *ctx, ops_pending *p, const json_t *rec)
{
    const char *acc = json_string_value(json_object_get(rec, "accessor"));
    if (acc != NULL)
        vault_audit_hash(ctx->vault, acc, strlen(acc), p->reply.token_hash);
}

static void finish(ops_pending *p, vc_code rc, ops_result *res, const vc_err *err)
{
    build_reply(&p->reply, rc, res, err, p->req.id);
    pending_finish(p);
}

static vc_code deny(ops_pending *p, vc_err *err, const char *why)
{
    set_log(&p->reply, "access denied: %s", why);
    return vc_errf(err, VC_ACCESS_DENIED, "Access denied");
}

/* A duration field: *out = dflt when absent. */
static vc_code dur_field(const proto_request *r, const char *name, int64_t dflt, int64_t *out,
                         vc_err *err)
{
    json_t *v = json_object_get(r->root, name);
    *out = dflt;
    if (v == NULL)
        return VC_OK;
    if (!token_parse_duration(v, out))
        return vc_errf(err, VC_BAD_REQUEST,
                       "%s: expected seconds or a duration such as 90s, 15m, 1h30m, 7d", name);
    return VC_OK;
}

/* issue: a new token, root (parent NULL) or child of parent. */
static vc_code do_issue(const ops_ctx *ctx, const proto_request *r, const json_t *parent,
                        ops_result *res, vc_err *err)
{
    int64_t max_cfg = ctx->token_max_ttl > 0 ? ctx->token_max_ttl : DEFAULT_MAX;
    int64_t def_cfg = ctx->token_default_ttl > 0 ? ctx->token_default_ttl : DEFAULT_TTL;
    int64_t ttl, max_ttl, uses = 0, now = now_s();
    json_t *policy = NULL, *rec = NULL;
    unsigned ops;
    vc_code rc;

    if ((rc = token_policy_parse(json_object_get(r->root, "policy"), &policy, &ops, err)) != VC_OK)
        return rc;
    if ((rc = dur_field(r, "ttl", def_cfg, &ttl, err)) != VC_OK ||
        (rc = dur_field(r, "max_ttl", max_cfg, &max_ttl, err)) != VC_OK)
        goto out;
    json_t *u = json_object_get(r->root, "uses");
    if (u != NULL) {
        if (!json_is_integer(u) || json_integer_value(u) < 0 ||
            json_integer_value(u) > 1000000000) {
            rc = vc_errf(err, VC_BAD_REQUEST, "uses: expected an integer >= 0 (0: unlimited)");
            goto out;
        }
        uses = json_integer_value(u);
    }
    json_t *rn = json_object_get(r->root, "renewable");
    if (rn != NULL && !json_is_boolean(rn)) {
        rc = vc_errf(err, VC_BAD_REQUEST, "renewable: expected true or false");
        goto out;
    }
    json_t *nm = json_object_get(r->root, "name");
    if (nm != NULL && (!json_is_string(nm) || json_string_length(nm) > TOKEN_NAME_MAX ||
                       !proto_key_valid(json_string_value(nm), json_string_length(nm)))) {
        rc = vc_errf(err, VC_BAD_REQUEST, "name: expected a label of at most 128 bytes");
        goto out;
    }
    if (max_ttl > max_cfg)
        max_ttl = max_cfg;
    if (ttl > max_ttl)
        ttl = max_ttl;
    if (ttl < 1)
        ttl = 1;
    int64_t max_at = now + max_ttl, exp_at = now + ttl;
    if (parent != NULL) {
        if (!token_policy_within(json_object_get(parent, "policy"), policy)) {
            rc = vc_errf(err, VC_ACCESS_DENIED, "child policy exceeds its parent");
            goto out;
        }
        int64_t pexp = json_integer_value(json_object_get(parent, "expires_at"));
        if (max_at > pexp)
            max_at = pexp;
        if (exp_at > max_at)
            exp_at = max_at;
    }
    rec = json_pack(
        "{s:O,s:s?,s:O,s:I,s:I,s:I,s:I,s:I,s:b}", "policy", policy, "name", json_string_value(nm),
        "parent", parent != NULL ? json_object_get(parent, "accessor") : json_null(), "issued_at",
        (json_int_t)now, "expires_at", (json_int_t)exp_at, "max_expires_at", (json_int_t)max_at,
        "ttl", (json_int_t)(exp_at - now), "uses_left", (json_int_t)(uses == 0 ? -1 : uses),
        "renewable", rn == NULL || json_is_true(rn));
    if (rec == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    char token[TOKEN_STR_LEN + 8];
    if ((rc = vtok_issue(ctx->vault, rec, false, token, err)) != VC_OK)
        goto out;
    res->data =
        json_pack("{s:s,s:O}", "token", token, "accessor", json_object_get(rec, "accessor"));
    sodium_memzero(token, sizeof token);
    res->lifecycle = token_lifecycle(rec, now);
    if (res->data == NULL || res->lifecycle == NULL)
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
out:
    json_decref(policy);
    json_decref(rec);
    return rc;
}

static vc_code lookup_data(const json_t *rec, ops_result *res, vc_err *err)
{
    json_t *par = json_object_get(rec, "parent");
    json_t *nm = json_object_get(rec, "name");
    res->data = json_pack("{s:O,s:O,s:O,s:O}", "accessor", json_object_get(rec, "accessor"), "name",
                          nm != NULL ? nm : json_null(), "policy", json_object_get(rec, "policy"),
                          "parent", par != NULL ? par : json_null());
    res->lifecycle = token_lifecycle(rec, now_s());
    if (res->data == NULL || res->lifecycle == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    return VC_OK;
}

/* lookup / renew / revoke of the token rec (found by token or accessor). */
static vc_code do_manage(const ops_ctx *ctx, const proto_request *r, const json_t *rec,
                         ops_result *res, vc_err *err)
{
    const char *acc = json_string_value(json_object_get(rec, "accessor"));
    vc_code rc;
    if (acc == NULL)
        return vc_errf(err, VC_INTERNAL, "token record without accessor");
    if (r->op == OP_LOOKUP) {
        if (json_integer_value(json_object_get(rec, "expires_at")) <= now_s())
            return vc_errf(err, VC_TOKEN_EXPIRED, "token expired");
        return lookup_data(rec, res, err);
    }
    if (r->op == OP_RENEW) {
        int64_t ttl;
        json_t *after = NULL;
        if ((rc = dur_field(r, "ttl", -1, &ttl, err)) != VC_OK)
            return rc;
        if ((rc = vtok_renew(ctx->vault, acc, ttl, &after, err)) != VC_OK)
            return rc;
        res->lifecycle = token_lifecycle(after, now_s());
        json_decref(after);
        return res->lifecycle != NULL ? VC_OK : vc_errf(err, VC_INTERNAL, "out of memory");
    }
    uint64_t n = 0;
    if ((rc = vtok_revoke(ctx->vault, acc, &n, err)) != VC_OK)
        return rc;
    res->data = json_pack("{s:I}", "revoked", (json_int_t)n);
    return res->data != NULL ? VC_OK : vc_errf(err, VC_INTERNAL, "out of memory");
}

/* Wraps a finished result: its data and meta sealed in a one-use wrap
 * token that lives wrap_ttl seconds. */
static vc_code wrap_result(const ops_ctx *ctx, int64_t wrap_ttl, ops_result *res, vc_err *err)
{
    json_t *data = NULL, *meta = NULL;
    int64_t now = now_s();
    vc_code rc = VC_OK;

    if (res->raw != NULL) {
        data = json_loadb(res->raw, res->raw_len, JSON_DECODE_ANY, NULL);
        meta = json_loads(res->raw_meta, 0, NULL);
    } else {
        data = res->data != NULL ? json_incref(res->data) : json_null();
        meta = res->meta != NULL ? json_incref(res->meta) : json_object();
    }
    if (data == NULL || meta == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "cannot wrap the reply");
        goto out;
    }
    if (res->lifecycle != NULL)
        json_object_set(meta, "lifecycle", res->lifecycle);
    int64_t max_cfg = ctx->token_max_ttl > 0 ? ctx->token_max_ttl : DEFAULT_MAX;
    if (wrap_ttl > max_cfg)
        wrap_ttl = max_cfg;
    if (wrap_ttl < 1)
        wrap_ttl = 1;
    json_t *rec =
        json_pack("{s:{s:[s],s:[]},s:n,s:I,s:I,s:I,s:I,s:I,s:b,s:{s:O,s:O}}", "policy", "keys", "*",
                  "operations", "parent", "issued_at", (json_int_t)now, "expires_at",
                  (json_int_t)now + (json_int_t)wrap_ttl, "max_expires_at",
                  (json_int_t)now + (json_int_t)wrap_ttl, "ttl", (json_int_t)wrap_ttl, "uses_left",
                  (json_int_t)1, "renewable", 0, "wrap", "data", data, "meta", meta);
    if (rec == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    char token[TOKEN_STR_LEN + 8];
    rc = vtok_issue(ctx->vault, rec, true, token, err);
    if (rc == VC_OK) {
        result_clear(res);
        res->data = json_pack("{s:s}", "wrap_token", token);
        res->lifecycle = token_lifecycle(rec, now);
    }
    sodium_memzero(token, sizeof token);
    json_decref(rec);
out:
    json_decref(data);
    json_decref(meta);
    return rc;
}

static vc_code do_unwrap(const ops_ctx *ctx, const proto_request *r, ops_result *res, vc_err *err)
{
    size_t len;
    const char *w = str_field(r, "wrap_token", &len);
    json_t *rec = NULL;
    if (w == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "wrap_token: missing");
    if (len != TOKEN_STR_LEN || strncmp(w, TOKEN_WRAP_PREFIX, 4) != 0)
        return vc_errf(err, VC_TOKEN_INVALID, "token invalid");
    vc_code rc = vtok_use(ctx->vault, w, len, &rec, err);
    if (rc != VC_OK)
        return rc;
    json_t *wrap = json_object_get(rec, "wrap");
    if (wrap == NULL) {
        json_decref(rec);
        return vc_errf(err, VC_TOKEN_INVALID, "token invalid");
    }
    res->data = json_incref(json_object_get(wrap, "data"));
    res->meta = json_incref(json_object_get(wrap, "meta"));
    json_decref(rec);
    return VC_OK;
}

/* A get or list whose use is now durable (the vault's completer thread):
 * the read runs and the reply goes out. */
static void tok_read_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *verr)
{
    ops_pending *p = arg;
    ops_result res = {0};
    vc_err err = *verr;
    (void)meta;

    if (rc == VC_OK)
        rc = run_op(p->ctx, &p->req, &res, &p->reply, &err);
    if (rc == VC_OK && p->req.op == OP_LIST)
        ops_list_filter(&res, p->rule, json_object_get(p->tok_rec, "policy"), p->idp);
    if (rc == VC_OK && p->tok_rec != NULL)
        res.lifecycle = token_lifecycle(p->tok_rec, now_s());
    finish(p, rc, &res, &err);
}

/* Runs a request carrying a token (the token string tok). */
static void run_with_token(const ops_ctx *ctx, const acl_rule *rule, ops_pending *p,
                           const char *tok, size_t tok_len, bool local)
{
    proto_request *r = &p->req;
    ops_result res = {0};
    json_t *rec = NULL;
    vc_err err;
    vc_code rc;

    vc_err_clear(&err);
    if (!local && (rule == NULL || !rule->tokens)) {
        rc = deny(p, &err, "tokens not accepted on this subject");
        goto out;
    }
    if (tok_len != TOKEN_STR_LEN || strncmp(tok, TOKEN_PREFIX, 4) != 0) {
        rc = vc_errf(&err, VC_TOKEN_INVALID, "token invalid");
        goto out;
    }
    rc = vtok_find(ctx->vault, tok, tok_len, NULL, &rec, &err);
    if (rc != VC_OK)
        goto out;
    name_token(ctx, p, rec);
    if (json_object_get(rec, "wrap") != NULL) {
        rc = vc_errf(&err, VC_TOKEN_INVALID, "token invalid");
        goto out;
    }
    bool self = (r->op == OP_LOOKUP || r->op == OP_RENEW || r->op == OP_REVOKE) &&
                json_object_get(r->root, "accessor") == NULL;
    if (self) { /* a token acting on itself: no use consumed */
        if (json_integer_value(json_object_get(rec, "uses_left")) == 0) {
            rc = vc_errf(&err, VC_TOKEN_INVALID, "token invalid");
            goto out;
        }
        rc = do_manage(ctx, r, rec, &res, &err);
        goto out;
    }
    if (json_integer_value(json_object_get(rec, "uses_left")) == 0) {
        rc = vc_errf(&err, VC_TOKEN_INVALID, "token invalid");
        goto out;
    }
    if (json_integer_value(json_object_get(rec, "expires_at")) <= now_s()) {
        rc = vc_errf(&err, VC_TOKEN_EXPIRED, "token expired");
        goto out;
    }
    json_t *policy = json_object_get(rec, "policy");
    if ((token_policy_ops(policy) & OP_BIT(r->op)) == 0) {
        rc = deny(p, &err, "token policy does not allow the operation");
        goto out;
    }
    if (r->key != NULL && !token_keys_match(json_object_get(policy, "keys"), r->key, r->key_len)) {
        rc = deny(p, &err, "token policy does not allow the key");
        goto out;
    }
    if (r->op == OP_SET || r->op == OP_DELETE) {
        char *text = NULL;
        size_t n = 0;
        if (r->op == OP_SET) {
            text = json_dumps(r->value, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text == NULL) {
                rc = vc_errf(&err, VC_INTERNAL, "value cannot be serialised");
                goto out;
            }
            n = strlen(text);
        }
        /* cas and ttl hold for a token-paid set as for any other */
        vault_set_opts opts = {
            .has_cas = r->has_cas, .cas = r->cas, .has_ttl = r->has_ttl, .ttl_s = r->ttl};
        rc = vault_write_tok_async(ctx->vault, r->op == OP_DELETE, r->key, r->key_len, text, n,
                                   r->op == OP_SET ? &opts : NULL, tok, tok_len, &p->tok_rec,
                                   write_done, p, &err);
        if (text != NULL) {
            sodium_memzero(text, n);
            free(text);
        }
        if (rc == VC_OK) {
            json_decref(rec);
            return; /* write_done (ops.c) finishes p */
        }
        goto out;
    }
    if (r->op == OP_ISSUE) { /* a refused child costs no use */
        json_t *cp = NULL;
        unsigned cops;
        rc = token_policy_parse(json_object_get(r->root, "policy"), &cp, &cops, &err);
        if (rc == VC_OK && !token_policy_within(policy, cp))
            rc = deny(p, &err, "child policy exceeds its parent");
        json_decref(cp);
        if (rc != VC_OK)
            goto out;
    }
    /* get, list, issue: the use is durable before the operation runs. A
     * token without a use limit has no use to record: the read above
     * (hash, one record) is the whole check. A get or list (not wrapped)
     * waits for its use in the group commit without holding a worker. */
    if (json_integer_value(json_object_get(rec, "uses_left")) > 0 &&
        (r->op == OP_GET || r->op == OP_LIST) && json_object_get(r->root, "wrap_ttl") == NULL) {
        p->ctx = ctx;
        p->rule = rule;
        rc = vault_write_tok_async(ctx->vault, false, NULL, 0, NULL, 0, NULL, tok, tok_len,
                                   &p->tok_rec, tok_read_done, p, &err);
        if (rc == VC_OK) {
            json_decref(rec);
            return; /* tok_read_done finishes p */
        }
        goto out;
    }
    if (json_integer_value(json_object_get(rec, "uses_left")) > 0) {
        json_t *after = NULL;
        if ((rc = vtok_use(ctx->vault, tok, tok_len, &after, &err)) != VC_OK)
            goto out;
        json_decref(rec);
        rec = after;
    }
    if (r->op == OP_ISSUE)
        rc = do_issue(ctx, r, rec, &res, &err);
    else
        rc = run_op(ctx, r, &res, NULL, &err);
    if (rc == VC_OK && r->op == OP_LIST)
        ops_list_filter(&res, rule, json_object_get(rec, "policy"), p->idp);
    if (rc == VC_OK && r->op != OP_ISSUE) {
        json_decref(res.lifecycle);
        res.lifecycle = token_lifecycle(rec, now_s());
    }
    if (rc == VC_OK) {
        int64_t wttl;
        json_t *wt = json_object_get(r->root, "wrap_ttl");
        if (wt != NULL && (r->op == OP_GET || r->op == OP_ISSUE)) {
            if ((rc = dur_field(r, "wrap_ttl", 0, &wttl, &err)) == VC_OK)
                rc = wrap_result(ctx, wttl, &res, &err);
        }
    }
out:
    json_decref(rec);
    finish(p, rc, &res, &err);
}

/* revoke with public_key: a NATS user minted for the account (revoker.h),
 * with the entry's revoke right; a request names either a token/accessor
 * or a public_key. */
static vc_code revoke_nats_user(const ops_ctx *ctx, const proto_request *r, const acl_rule *rule,
                                bool local, ops_pending *p, ops_result *res, vc_err *err)
{
    if (json_object_get(r->root, "token") != NULL || json_object_get(r->root, "accessor") != NULL)
        return vc_errf(err, VC_BAD_REQUEST,
                       "revoke: give either token/accessor (a token) or public_key (a NATS "
                       "user), not both");
    if (!local && (rule == NULL || (rule->ops & OP_BIT(OP_REVOKE)) == 0))
        return deny(p, err, "operation not allowed on this subject");
    json_t *pk = json_object_get(r->root, "public_key");
    if (!json_is_string(pk))
        return vc_errf(err, VC_BAD_REQUEST, "public_key: expected a string");
    char audit[REVOKER_AUDIT_MAX];
    vc_code rc = revoker_revoke(ctx->revoker, ctx->vault, json_string_value(pk), now_s(),
                                &res->data, audit, sizeof audit, err);
    if (rc == VC_OK)
        (void)snprintf(p->reply.audit_extra, sizeof p->reply.audit_extra, "%s", audit);
    return rc;
}

void ops_token_run(const ops_ctx *ctx, const char *arrival, ops_pending *p)
{
    proto_request *r = &p->req;
    const acl_rule *rule =
        arrival != NULL ? acl_first_match_id(ctx->rules, ctx->nrules, arrival, p->idp) : NULL;
    bool local = arrival == NULL;
    ops_result res = {0};
    json_t *rec = NULL;
    vc_err err;
    vc_code rc = VC_OK;
    size_t tok_len = 0;

    vc_err_clear(&err);
    if (!local && r->subject != NULL && strcmp(r->subject, arrival) != 0) {
        rc = deny(p, &err, "claimed subject differs from arrival subject");
        goto out;
    }
    if (r->op == OP_REVOKE && json_object_get(r->root, "public_key") != NULL) {
        rc = revoke_nats_user(ctx, r, rule, local, p, &res, &err);
        goto out;
    }
    json_t *tv = json_object_get(r->root, "token");
    if (tv != NULL && !json_is_string(tv)) {
        rc = vc_errf(&err, VC_BAD_REQUEST, "token: expected a string");
        goto out;
    }
    if (tv != NULL) {
        const char *tok = str_field(r, "token", &tok_len);
        run_with_token(ctx, rule, p, tok, tok_len, local);
        return;
    }
    /* no token: the entry's own rights */
    bool allowed = local || (rule != NULL && (rule->ops & OP_BIT(r->op)) != 0);
    if (r->op == OP_UNWRAP && rule != NULL && rule->tokens)
        allowed = true;
    if (allowed && r->op == OP_CREDS && rule != NULL && rule->roles != NULL) {
        bool listed = false; /* the entry's roles (PROTOCOL.md §9), as acl_check */
        for (size_t i = 0; i < rule->nroles && !listed; i++)
            listed = r->role != NULL && strcmp(rule->roles[i], r->role) == 0;
        allowed = listed;
    }
    if (!allowed) {
        rc = deny(p, &err, "operation not allowed on this subject");
        goto out;
    }
    if (r->key != NULL && r->op == OP_GET &&
        !acl_key_allowed_id(rule, r->key, r->key_len, p->idp)) {
        rc = deny(p, &err, "key outside the entry's keys");
        goto out;
    }
    switch (r->op) {
    case OP_ISSUE:
        rc = do_issue(ctx, r, NULL, &res, &err);
        break;
    case OP_UNWRAP:
        rc = do_unwrap(ctx, r, &res, &err);
        break;
    case OP_CREDS: /* with wrap_ttl: the creds are sealed in the wrap */
        rc = do_creds(ctx, r, &res, &p->reply, &err);
        break;
    case OP_LOOKUP:
    case OP_RENEW:
    case OP_REVOKE: {
        const char *acc = str_field(r, "accessor", NULL);
        if (acc == NULL || strlen(acc) > 64) {
            rc = vc_errf(&err, VC_BAD_REQUEST, "accessor: missing (or token)");
            break;
        }
        if ((rc = vtok_find(ctx->vault, NULL, 0, acc, &rec, &err)) == VC_OK) {
            name_token(ctx, p, rec);
            rc = do_manage(ctx, r, rec, &res, &err);
        }
        break;
    }
    default:
        rc = run_op(ctx, r, &res, NULL, &err);
        break;
    }
    if (rc == VC_OK && (r->op == OP_GET || r->op == OP_ISSUE || r->op == OP_CREDS) &&
        json_object_get(r->root, "wrap_ttl") != NULL) {
        int64_t wttl;
        if ((rc = dur_field(r, "wrap_ttl", 0, &wttl, &err)) == VC_OK)
            rc = wrap_result(ctx, wttl, &res, &err);
    }
out:
    json_decref(rec);
    finish(p, rc, &res, &err);
}
