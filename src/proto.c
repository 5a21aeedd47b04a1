/* proto.c - request parsing and response building (see proto.h).
 *
 * jansson does the JSON work: it rejects invalid UTF-8, nesting deeper than
 * JSON_PARSER_MAX_DEPTH, numbers it cannot represent and NUL characters
 * (we never pass JSON_ALLOW_NUL), so every string we read from a parsed
 * request is valid UTF-8 without embedded NUL bytes. Error messages never
 * quote the input: jansson's own error text can hold the offending token,
 * which may be a secret, so it is mapped to a fixed phrase. */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "jalloc.h"
#include "utf8.h"

#define PROTO_LIMIT_MAX 10000

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (is_control((unsigned char)s[i]))
            return true;
    return false;
}

/* Whether valid UTF-8 s holds a character that can make one name look like
 * another in a listing: a C1 control (U+0080-U+009F), a bidirectional
 * embedding, override or isolate (U+202A-U+202E, U+2066-U+2069) or a
 * directional mark (U+200E, U+200F, U+061C). */
static bool has_deceptive(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return true; /* U+0080-U+009F */
        if (p[i] == 0xd8 && p[i + 1] == 0x9c)
            return true; /* U+061C */
        if (i + 2 < len && p[i] == 0xe2) {
            unsigned b = p[i + 1], c = p[i + 2];
            if (b == 0x80 && (c == 0x8e || c == 0x8f || (c >= 0xaa && c <= 0xae)))
                return true; /* U+200E, U+200F, U+202A-U+202E */
            if (b == 0x81 && c >= 0xa6 && c <= 0xa9)
                return true; /* U+2066-U+2069 */
        }
    }
    return false;
}

/* What is wrong with a key name, or NULL if it is valid. */
static const char *key_problem(const char *key, size_t len)
{
    if (key == NULL || len == 0)
        return "key: must not be empty";
    if (len > PROTO_KEY_MAX)
        return "key: longer than 512 bytes";
    if (has_control(key, len))
        return "key: control characters are not allowed";
    if (!utf8_valid(key, len))
        return "key: not valid UTF-8";
    if (has_deceptive(key, len))
        return "key: C1 control and bidirectional formatting characters are not allowed";
    return NULL;
}

bool proto_key_valid(const char *key, size_t len)
{
    return key_problem(key, len) == NULL;
}

/* A fixed phrase for a jansson error, never its text (see the top). */
static const char *json_problem(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory:
        return "out of memory";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "unexpected end of input";
    case json_error_end_of_input_expected:
        return "data after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character not allowed";
    case json_error_duplicate_key:
        return "duplicate field";
    case json_error_numeric_overflow:
        return "number out of range";
    default:
        break;
    }
    return "invalid syntax";
}

static void request_reset(proto_request *r)
{
    memset(r, 0, sizeof *r);
    r->op = OP_NONE;
}

void proto_request_free(proto_request *r)
{
    if (r == NULL)
        return;
    json_decref(r->root);
    request_reset(r);
}

/* Reads optional string field name into *s and *len; with no_control, control
 * characters are refused. Absent: *s stays NULL. */
static vc_code opt_string(json_t *root, const char *name, bool no_control, const char **s,
                          size_t *len, vc_err *err)
{
    json_t *v = json_object_get(root, name);
    if (v == NULL)
        return VC_OK;
    if (!json_is_string(v))
        return vc_errf(err, VC_BAD_REQUEST, "%s: expected a string", name);
    const char *str = json_string_value(v);
    size_t n = json_string_length(v);
    if (no_control && has_control(str, n))
        return vc_errf(err, VC_BAD_REQUEST, "%s: control characters are not allowed", name);
    *s = str;
    if (len != NULL)
        *len = n;
    return VC_OK;
}

static vc_code parse_id(proto_request *out, vc_err *err)
{
    json_t *id = json_object_get(out->root, "id");
    if (id == NULL)
        return VC_OK;
    if (!json_is_string(id) && !json_is_number(id))
        return vc_errf(err, VC_BAD_REQUEST, "id: expected a string or a number");
    out->id = id;
    return VC_OK;
}

static vc_code parse_operation(proto_request *out, vc_err *err)
{
    json_t *op = json_object_get(out->root, "operation");
    if (op == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "operation: missing");
    if (!json_is_string(op))
        return vc_errf(err, VC_BAD_REQUEST, "operation: expected a string");
    out->op = op_from_name(json_string_value(op), json_string_length(op));
    if (out->op == OP_NONE)
        return vc_errf(err, VC_UNKNOWN_OPERATION,
                       "unknown operation (expected get, set, delete, list, "
                       "rotate, status, versions, creds, issue, lookup, renew, revoke or "
                       "unwrap)");
    return VC_OK;
}

static vc_code parse_key(proto_request *out, vc_err *err)
{
    bool needed =
        out->op == OP_GET || out->op == OP_SET || out->op == OP_DELETE || out->op == OP_VERSIONS;
    json_t *key = json_object_get(out->root, "key");
    if (key == NULL)
        return needed ? vc_errf(err, VC_BAD_REQUEST, "key: missing") : VC_OK;
    if (!json_is_string(key))
        return vc_errf(err, VC_BAD_REQUEST, "key: expected a string");
    if (!needed)
        return VC_OK; /* the operation takes no key: ignored */
    const char *problem = key_problem(json_string_value(key), json_string_length(key));
    if (problem != NULL)
        return vc_errf(err, VC_BAD_REQUEST, "%s", problem);
    out->key = json_string_value(key);
    out->key_len = json_string_length(key);
    return VC_OK;
}

static vc_code parse_value(proto_request *out, size_t max_value_bytes, vc_err *err)
{
    if (out->op != OP_SET)
        return VC_OK; /* only set takes a value; elsewhere it is ignored */
    json_t *value = json_object_get(out->root, "value");
    if (value == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "value: missing");
    if (json_is_null(value))
        return vc_errf(err, VC_BAD_REQUEST, "value: must not be null");
    /* With no buffer json_dumpb only measures: the size we would store. */
    size_t size = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size == 0)
        return vc_errf(err, VC_BAD_REQUEST, "value: cannot be serialised");
    if (max_value_bytes != 0 && size > max_value_bytes)
        return vc_errf(err, VC_TOO_LARGE,
                       "value: %zu bytes once serialised, over the limit of "
                       "%zu bytes",
                       size, max_value_bytes);
    out->value = value;
    return VC_OK;
}

/* creds: role and name (the name becomes part of NATS subjects: 1-64 of
 * [A-Za-z0-9_-], so no '.', '*', '>' or blank can widen them). */
static vc_code parse_creds(proto_request *out, vc_err *err)
{
    vc_code rc;
    if (out->op != OP_CREDS)
        return VC_OK;
    if ((rc = opt_string(out->root, "role", true, &out->role, NULL, err)) != VC_OK ||
        (rc = opt_string(out->root, "name", true, &out->name, &out->name_len, err)) != VC_OK)
        return rc;
    if (out->role == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "role: missing");
    if (out->name == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "name: missing");
    bool ok = out->name_len >= 1 && out->name_len <= 64;
    for (size_t i = 0; ok && i < out->name_len; i++) {
        char c = out->name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    }
    if (!ok)
        return vc_errf(err, VC_BAD_REQUEST, "name: expected 1-64 of A-Z a-z 0-9 _ -");
    out->creds_ttl = json_object_get(out->root, "ttl");
    return VC_OK;
}

static vc_code parse_limit(proto_request *out, vc_err *err)
{
    json_t *limit = json_object_get(out->root, "limit");
    if (limit == NULL)
        return VC_OK;
    if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
        json_integer_value(limit) > PROTO_LIMIT_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "limit: expected an integer from 1 to %d",
                       PROTO_LIMIT_MAX);
    out->limit = (long long)json_integer_value(limit);
    out->has_limit = true;
    return VC_OK;
}

/* The lifecycle fields (PROTOCOL.md §7): set's ttl and cas, get's version;
 * read only for the operation that uses them. */
static vc_code parse_lifecycle(proto_request *out, vc_err *err)
{
    json_t *f;
    if (out->op == OP_SET) {
        if ((f = json_object_get(out->root, "ttl")) != NULL) {
            if (!duration_from_json(f, &out->ttl))
                return vc_errf(err, VC_BAD_REQUEST,
                               "ttl: expected seconds (an integer >= 0) or a duration such as "
                               "\"90s\", \"15m\", \"1h30m\", \"7d\"");
            out->has_ttl = true;
        }
        if ((f = json_object_get(out->root, "cas")) != NULL) {
            if (!json_is_integer(f) || json_integer_value(f) < 0)
                return vc_errf(err, VC_BAD_REQUEST, "cas: expected an integer >= 0");
            out->cas = (uint64_t)json_integer_value(f);
            out->has_cas = true;
        }
    }
    if (out->op == OP_GET && (f = json_object_get(out->root, "version")) != NULL) {
        if (!json_is_integer(f) || json_integer_value(f) < 1)
            return vc_errf(err, VC_BAD_REQUEST, "version: expected an integer >= 1");
        out->version = (uint64_t)json_integer_value(f);
    }
    return VC_OK;
}

vc_code proto_parse(proto_request *out, const uint8_t *payload, size_t len, size_t max_value_bytes,
                    vc_err *err)
{
    json_error_t jerr;
    vc_code rc;

    request_reset(out);
    vc_err_clear(err);
    if (payload == NULL || len == 0)
        return vc_errf(err, VC_BAD_REQUEST, "empty request");

    out->root = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "not JSON: %s at line %d, column %d",
                       json_problem(&jerr), jerr.line, jerr.column);
    if (!json_is_object(out->root))
        return vc_errf(err, VC_BAD_REQUEST, "request must be a JSON object");

    /* id first, so every later error can echo it. */
    if ((rc = parse_id(out, err)) != VC_OK || (rc = parse_operation(out, err)) != VC_OK ||
        (rc = opt_string(out->root, "subject", false, &out->subject, NULL, err)) != VC_OK ||
        (rc = parse_key(out, err)) != VC_OK ||
        (rc = opt_string(out->root, "prefix", true, &out->prefix, &out->prefix_len, err)) !=
            VC_OK ||
        (rc = opt_string(out->root, "after", true, &out->after, &out->after_len, err)) != VC_OK ||
        (rc = parse_limit(out, err)) != VC_OK || (rc = parse_creds(out, err)) != VC_OK ||
        (rc = parse_lifecycle(out, err)) != VC_OK ||
        (rc = parse_value(out, max_value_bytes, err)) != VC_OK)
        return rc;
    return VC_OK;
}

/* Serialises obj compactly into malloc'd memory (obj is consumed), NULL on
 * failure. */
static char *dump_reply(json_t *obj, size_t *len)
{
    char *s = jalloc_dumps(obj, JSON_COMPACT, len);
    json_decref(obj);
    return s;
}

/* Adds the echoed id (if any) last and dumps obj; NULL if anything failed. */
static char *finish_reply(json_t *obj, int bad, json_t *id, size_t *len)
{
    if (id != NULL)
        bad |= json_object_set(obj, "id", id);
    if (bad) {
        json_decref(obj);
        obj = NULL;
    }
    return dump_reply(obj, len);
}

char *proto_success(json_t *data, json_t *meta, json_t *id, size_t *len)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        json_decref(data);
        json_decref(meta);
        return dump_reply(NULL, len);
    }
    /* jansson keeps insertion order: status, data, meta, id. The _new
     * setters consume their value even when they fail. */
    int bad = json_object_set_new(obj, "status", json_string("success"));
    bad |= json_object_set_new(obj, "data", data != NULL ? data : json_null());
    if (meta != NULL)
        bad |= json_object_set_new(obj, "meta", meta);
    return finish_reply(obj, bad, id, len);
}

/* Appends n bytes to a buffer sized beforehand. */
static void put(char *buf, size_t *pos, const char *s, size_t n)
{
    memcpy(buf + *pos, s, n);
    *pos += n;
}

char *proto_success_raw(const char *data, size_t data_len, const char *meta, json_t *id,
                        size_t *len)
{
    static const char head[] = "{\"status\":\"success\",\"data\":";
    static const char meta_key[] = ",\"meta\":";
    static const char id_key[] = ",\"id\":";
    /* The same bytes proto_success would give: jansson's compact dump of
     * the object, whose members are status, data, meta, id in that order. */
    if (data == NULL || data_len == 0) { /* never stored, but never invalid JSON */
        data = "null";
        data_len = 4;
    }
    size_t ilen = 0;
    char *i = jalloc_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY, &ilen);
    size_t mlen = meta != NULL ? strlen(meta) : 0;
    size_t total = sizeof head - 1 + data_len + 1;
    char *out = NULL;
    size_t pos = 0;

    if (id != NULL && i == NULL)
        goto done;
    total += meta != NULL ? sizeof meta_key - 1 + mlen : 0;
    total += i != NULL ? sizeof id_key - 1 + ilen : 0;
    out = malloc(total + 1);
    if (out == NULL)
        goto done;
    put(out, &pos, head, sizeof head - 1);
    put(out, &pos, data, data_len);
    if (meta != NULL) {
        put(out, &pos, meta_key, sizeof meta_key - 1);
        put(out, &pos, meta, mlen);
    }
    if (i != NULL) {
        put(out, &pos, id_key, sizeof id_key - 1);
        put(out, &pos, i, ilen);
    }
    put(out, &pos, "}", 1);
    out[pos] = '\0';
done:
    free(i);
    if (len != NULL)
        *len = out != NULL ? pos : 0;
    return out;
}

char *proto_error(vc_code code, const char *message, json_t *id, size_t *len)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return dump_reply(NULL, len);
    json_t *msg = json_string(message != NULL ? message : "");
    if (msg == NULL) /* not UTF-8: never expected of our own messages */
        msg = json_string(vc_code_name(code));
    int bad = json_object_set_new(obj, "status", json_string("error"));
    bad |= json_object_set_new(obj, "code", json_string(vc_code_name(code)));
    bad |= json_object_set_new(obj, "message", msg);
    return finish_reply(obj, bad, id, len);
}

bool proto_json_elements_over(const uint8_t *payload, size_t len, size_t max)
{
    size_t n = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        uint8_t c = payload[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[' || c == ',' || c == ':') {
            if (++n > max)
                return true;
        }
    }
    return false;
}
