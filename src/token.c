/* token.c - scoped tokens: patterns, policies, durations, lifecycle (see
 * token.h). */
#include "token.h"

#include <string.h>

#include "duration.h"
#include "proto.h"
#include "timefmt.h"

bool token_pattern_valid(const char *p, size_t len)
{
    if (len == 0 || len > PROTO_KEY_MAX + 1)
        return false;
    /* one '*', last only */
    const char *star = memchr(p, '*', len);
    if (star != NULL && star != p + len - 1)
        return false;
    size_t klen = star != NULL ? len - 1 : len;
    if (klen == 0)
        return star != NULL; /* "*" */
    return proto_key_valid(p, klen) || (star != NULL && klen <= PROTO_KEY_MAX);
}

bool token_pattern_match(const char *pattern, const char *key, size_t len)
{
    size_t pl = strlen(pattern);
    if (pl > 0 && pattern[pl - 1] == '*')
        return len >= pl - 1 && memcmp(pattern, key, pl - 1) == 0;
    return pl == len && memcmp(pattern, key, len) == 0;
}

bool token_pattern_covers(const char *outer, const char *inner)
{
    size_t ol = strlen(outer), il = strlen(inner);
    bool ostar = ol > 0 && outer[ol - 1] == '*';
    bool istar = il > 0 && inner[il - 1] == '*';
    if (!ostar)
        return !istar && strcmp(outer, inner) == 0;
    /* outer "p*": inner (exact or prefix) must start with p */
    (void)istar;
    return il >= ol - 1 && memcmp(outer, inner, ol - 1) == 0;
}

bool token_keys_match(const json_t *pats, const char *key, size_t len)
{
    size_t i;
    json_t *p;
    if (pats == NULL)
        return true;
    json_array_foreach(pats, i,
                       p) if (json_is_string(p) &&
                              token_pattern_match(json_string_value(p), key, len)) return true;
    return false;
}

vc_code token_policy_parse(const json_t *policy, json_t **out, unsigned *ops, vc_err *err)
{
    *out = NULL;
    *ops = 0;
    if (!json_is_object(policy))
        return vc_errf(err, VC_BAD_REQUEST, "policy: expected an object with keys and operations");
    json_t *keys = json_object_get(policy, "keys");
    json_t *opl = json_object_get(policy, "operations");
    if (!json_is_array(keys) || json_array_size(keys) < 1 ||
        json_array_size(keys) > TOKEN_PATTERNS_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "policy.keys: expected 1-%d key patterns",
                       TOKEN_PATTERNS_MAX);
    if (!json_is_array(opl))
        return vc_errf(err, VC_BAD_REQUEST, "policy.operations: expected a list of operations");
    size_t i;
    json_t *x;
    json_array_foreach(keys, i, x)
    {
        if (!json_is_string(x) ||
            !token_pattern_valid(json_string_value(x), json_string_length(x)) ||
            strlen(json_string_value(x)) != json_string_length(x))
            return vc_errf(err, VC_BAD_REQUEST,
                           "policy.keys[%zu]: expected a key or a prefix followed by one final *",
                           i);
    }
    json_array_foreach(opl, i, x)
    {
        vc_op op =
            json_is_string(x) ? op_from_name(json_string_value(x), json_string_length(x)) : OP_NONE;
        if (op == OP_NONE || (OP_BIT(op) & TOKEN_POLICY_OPS) == 0)
            return vc_errf(err, VC_BAD_REQUEST,
                           "policy.operations[%zu]: expected get, set, delete, list, versions "
                           "or issue",
                           i);
        *ops |= OP_BIT(op);
    }
    json_t *o = json_object();
    json_t *ol = json_array();
    if (o == NULL || ol == NULL) {
        json_decref(o);
        json_decref(ol);
        return vc_errf(err, VC_INTERNAL, "out of memory");
    }
    for (int k = 0; k < (int)OP_COUNT; k++)
        if (*ops & OP_BIT(k))
            json_array_append_new(ol, json_string(op_name((vc_op)k)));
    json_object_set_new(o, "keys", json_deep_copy(keys));
    json_object_set_new(o, "operations", ol);
    *out = o;
    return VC_OK;
}

unsigned token_policy_ops(const json_t *policy)
{
    unsigned ops = 0;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(policy, "operations"), i, x)
    {
        vc_op op = op_from_name(json_string_value(x), json_string_length(x));
        if (op != OP_NONE)
            ops |= OP_BIT(op);
    }
    return ops;
}

bool token_policy_within(const json_t *parent, const json_t *child)
{
    unsigned po = token_policy_ops(parent), co = token_policy_ops(child);
    if ((co & ~po) != 0)
        return false;
    size_t i, j;
    json_t *c, *p;
    json_array_foreach(json_object_get(child, "keys"), i, c)
    {
        bool covered = false;
        json_array_foreach(json_object_get(parent, "keys"), j,
                           p) if (token_pattern_covers(json_string_value(p), json_string_value(c)))
            covered = true;
        if (!covered)
            return false;
    }
    return true;
}

/* The shared duration syntax (duration.h). */
bool token_parse_duration_text(const char *s, size_t len, int64_t *out)
{
    uint64_t v;
    if (!duration_parse(s, len, &v))
        return false;
    *out = (int64_t)v;
    return true;
}

bool token_parse_duration(const json_t *v, int64_t *out)
{
    uint64_t u;
    if (!duration_from_json(v, &u))
        return false;
    *out = (int64_t)u;
    return true;
}

static int64_t rec_int(const json_t *rec, const char *k)
{
    return json_integer_value(json_object_get(rec, k));
}

static int put_time(json_t *o, const char *k, int64_t t)
{
    char buf[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(t, buf);
    return json_object_set_new(o, k, json_string(buf));
}

json_t *token_lifecycle(const json_t *rec, int64_t now)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int64_t ea = rec_int(rec, "expires_at");
    int64_t left = ea - now;
    if (left < 0)
        left = 0;
    int64_t uses = rec_int(rec, "uses_left");
    int bad = put_time(o, "issued_at", rec_int(rec, "issued_at"));
    bad |= put_time(o, "expires_at", ea);
    bad |= put_time(o, "max_expires_at", rec_int(rec, "max_expires_at"));
    bad |= json_object_set_new(o, "ttl", json_integer(left));
    bad |= json_object_set_new(o, "uses_left", uses < 0 ? json_null() : json_integer(uses));
    bad |= json_object_set_new(o, "renewable",
                               json_boolean(json_is_true(json_object_get(rec, "renewable"))));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
