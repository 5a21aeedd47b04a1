/* test_proto.c - request parsing (every error class) and reply building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

#define MAX_VALUE 1024

/* Parses len bytes, expects error code want; checks the error reply built
 * from it echoes id_json (NULL: no id) and that the message never holds
 * the marker "s3cr3t". */
static void expect_error_n(const char *payload, size_t len, vc_code want, const char *id_json)
{
    proto_request r;
    vc_err err;
    vc_code rc = proto_parse(&r, (const uint8_t *)payload, len, MAX_VALUE, &err);
    if (rc != want)
        fail_msg("payload %.80s: got %s (%s), want %s", payload, vc_code_name(rc), err.msg,
                 vc_code_name(want));
    assert_int_equal(err.code, want);
    assert_true(err.msg[0] != '\0');
    assert_null(strstr(err.msg, "s3cr3t"));

    size_t n = 0;
    char *reply = proto_error(rc, err.msg, r.id, &n);
    assert_non_null(reply);
    assert_int_equal(n, strlen(reply));
    assert_null(strstr(reply, "s3cr3t"));
    if (id_json != NULL) {
        char tail[128];
        int w = snprintf(tail, sizeof tail, ",\"id\":%s}", id_json);
        assert_true(w > 0 && (size_t)w < sizeof tail);
        assert_true(n >= strlen(tail));
        assert_string_equal(reply + n - strlen(tail), tail);
    } else {
        assert_null(strstr(reply, "\"id\""));
    }
    free(reply);
    proto_request_free(&r);
}

static void expect_error(const char *payload, vc_code want, const char *id_json)
{
    expect_error_n(payload, strlen(payload), want, id_json);
}

/* The message of the error for payload, into msg. */
static void error_msg(const char *payload, char *msg, size_t cap)
{
    proto_request r;
    vc_err err;
    assert_int_not_equal(
        proto_parse(&r, (const uint8_t *)payload, strlen(payload), MAX_VALUE, &err), VC_OK);
    (void)snprintf(msg, cap, "%s", err.msg);
    proto_request_free(&r);
}

static void test_empty(void **state)
{
    (void)state;
    expect_error_n("", 0, VC_BAD_REQUEST, NULL);
    char msg[VC_ERR_MSG_MAX];
    proto_request r;
    vc_err err;
    assert_int_equal(proto_parse(&r, NULL, 0, MAX_VALUE, &err), VC_BAD_REQUEST);
    assert_string_equal(err.msg, "empty request");
    proto_request_free(&r);
    error_msg("   ", msg, sizeof msg);
    assert_non_null(strstr(msg, "not JSON"));
}

static void test_not_json(void **state)
{
    (void)state;
    expect_error("hello", VC_BAD_REQUEST, NULL);
    expect_error("{", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"get\",}", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"status\"} trailing", VC_BAD_REQUEST, NULL);
    expect_error("{'operation':'status'}", VC_BAD_REQUEST, NULL);
    /* jansson's error text quotes the bad token; ours must not. */
    expect_error("{\"id\":1,\"operation\":\"set\",\"key\":\"k\",\"value\":s3cr3t}", VC_BAD_REQUEST,
                 NULL);
    expect_error("{\"id\":1,\"operation\":\"set\",\"key\":\"k\",\"value\":\"s3cr3t", VC_BAD_REQUEST,
                 NULL);
    char msg[VC_ERR_MSG_MAX];
    error_msg("{\"operation\": s3cr3t}", msg, sizeof msg);
    assert_non_null(strstr(msg, "not JSON"));
    assert_non_null(strstr(msg, "line 1"));
}

static void test_not_object(void **state)
{
    (void)state;
    expect_error("[]", VC_BAD_REQUEST, NULL);
    expect_error("[{\"operation\":\"status\"}]", VC_BAD_REQUEST, NULL);
    expect_error("\"status\"", VC_BAD_REQUEST, NULL);
    expect_error("42", VC_BAD_REQUEST, NULL);
    expect_error("null", VC_BAD_REQUEST, NULL);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    char msg[VC_ERR_MSG_MAX];
    expect_error("{\"id\":1,\"operation\":\"get\",\"key\":\"\xff\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"get\",\"key\":\"\xc0\xaf\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"get\",\"key\":\"\xed\xa0\x80\"}", VC_BAD_REQUEST, NULL);
    error_msg("{\"operation\":\"get\",\"key\":\"\xfe\"}", msg, sizeof msg);
    assert_non_null(strstr(msg, "UTF-8"));
    /* A lone surrogate escape is not a character either. */
    expect_error("{\"operation\":\"get\",\"key\":\"\\ud800\"}", VC_BAD_REQUEST, NULL);
}

static void test_binary_garbage(void **state)
{
    (void)state;
    char buf[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u; /* fixed sequence: reproducible */
        buf[i] = (char)(x >> 16);
    }
    expect_error_n(buf, sizeof buf, VC_BAD_REQUEST, NULL);
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    expect_error_n(all, sizeof all, VC_BAD_REQUEST, NULL);
    /* A NUL byte inside an otherwise fine request. */
    static const char nul[] = "{\"operation\":\"status\"}\0";
    expect_error_n(nul, sizeof nul - 1, VC_BAD_REQUEST, NULL);
    static const char nul2[] = "{\"operation\":\"get\",\"key\":\"a\0b\"}";
    expect_error_n(nul2, sizeof nul2 - 1, VC_BAD_REQUEST, NULL);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    const size_t depth = 100000;
    const char *head = "{\"id\":1,\"operation\":\"set\",\"key\":\"k\",\"value\":";
    size_t hl = strlen(head);
    char *buf = malloc(hl + 2 * depth + 2);
    assert_non_null(buf);
    memcpy(buf, head, hl);
    memset(buf + hl, '[', depth);
    memset(buf + hl + depth, ']', depth);
    buf[hl + 2 * depth] = '}';
    buf[hl + 2 * depth + 1] = '\0';
    expect_error(buf, VC_BAD_REQUEST, NULL);
    char msg[VC_ERR_MSG_MAX];
    error_msg(buf, msg, sizeof msg);
    assert_non_null(strstr(msg, "nested too deeply"));

    /* Objects nested as deep. */
    char *obj = malloc(6 * depth + 2);
    assert_non_null(obj);
    size_t o = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(obj + o, "{\"a\":", 5);
        o += 5;
    }
    obj[o++] = '1';
    memset(obj + o, '}', depth);
    o += depth;
    obj[o] = '\0';
    expect_error(obj, VC_BAD_REQUEST, NULL);
    free(obj);
    free(buf);
}

static void test_huge_numbers(void **state)
{
    (void)state;
    char msg[VC_ERR_MSG_MAX];
    expect_error("{\"operation\":\"set\",\"key\":\"k\",\"value\":1e999999}", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"set\",\"key\":\"k\","
                 "\"value\":99999999999999999999999}",
                 VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"set\",\"key\":\"k\","
                 "\"value\":-99999999999999999999999}",
                 VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"list\",\"limit\":99999999999999999999999}", VC_BAD_REQUEST,
                 NULL);
    expect_error("{\"operation\":\"get\",\"key\":\"k\","
                 "\"id\":99999999999999999999999}",
                 VC_BAD_REQUEST, NULL);
    error_msg("{\"operation\":\"set\",\"key\":\"k\",\"value\":1e999999}", msg, sizeof msg);
    assert_non_null(strstr(msg, "number out of range"));
}

static void test_nul_in_key(void **state)
{
    (void)state;
    expect_error("{\"id\":1,\"operation\":\"get\",\"key\":\"a\\u0000b\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"get\",\"key\":\"k\",\"a\\u0000\":1}", VC_BAD_REQUEST, NULL);
}

static void test_key_rules(void **state)
{
    (void)state;
    const size_t big = 1024 * 1024;
    const char *head = "{\"id\":\"r1\",\"operation\":\"get\",\"key\":\"";
    size_t hl = strlen(head);
    char *buf = malloc(hl + big + 3);
    assert_non_null(buf);
    memcpy(buf, head, hl);
    memset(buf + hl, 'k', big);
    memcpy(buf + hl + big, "\"}", 3);
    expect_error(buf, VC_BAD_REQUEST, "\"r1\"");
    free(buf);

    expect_error("{\"id\":2,\"operation\":\"get\",\"key\":\"\"}", VC_BAD_REQUEST, "2");
    expect_error("{\"id\":2,\"operation\":\"get\",\"key\":\"a\\u0001\"}", VC_BAD_REQUEST, "2");
    expect_error("{\"id\":2,\"operation\":\"get\",\"key\":\"a\\u001f\"}", VC_BAD_REQUEST, "2");
    expect_error("{\"id\":2,\"operation\":\"get\",\"key\":\"a\\u007f\"}", VC_BAD_REQUEST, "2");
    expect_error("{\"id\":2,\"operation\":\"delete\",\"key\":\"a\\nb\"}", VC_BAD_REQUEST, "2");

    /* Exactly 512 bytes is fine, 513 is not. */
    char k[600];
    memset(k, 'x', sizeof k);
    assert_true(proto_key_valid(k, 512));
    assert_false(proto_key_valid(k, 513));
    assert_false(proto_key_valid(k, 0));
    assert_false(proto_key_valid(NULL, 0));
    assert_true(proto_key_valid("db/password", 11));
    assert_true(proto_key_valid("a b", 3));
    assert_true(proto_key_valid("\xc3\xa9t\xc3\xa9", 5));
    assert_true(proto_key_valid("\xf0\x9f\x98\x80", 4));
    assert_false(proto_key_valid("\xff", 1));
    assert_false(proto_key_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(proto_key_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(proto_key_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(proto_key_valid("\xc3", 1));             /* truncated */
    assert_false(proto_key_valid("a\0b", 3));
    assert_false(proto_key_valid("a\x7f", 2));
    /* C1 controls and bidirectional formatting: refused (they make one
     * name look like another in a listing); their neighbours are fine. */
    assert_false(proto_key_valid("a\xc2\x80", 3));     /* U+0080 */
    assert_false(proto_key_valid("a\xc2\x9f", 3));     /* U+009F */
    assert_true(proto_key_valid("a\xc2\xa0", 3));      /* U+00A0 */
    assert_false(proto_key_valid("\xe2\x80\xae" "ab", 5)); /* U+202E RLO */
    assert_false(proto_key_valid("\xe2\x80\xaa", 3));   /* U+202A */
    assert_true(proto_key_valid("\xe2\x80\xaf", 3));    /* U+202F */
    assert_false(proto_key_valid("\xe2\x81\xa6", 3));   /* U+2066 */
    assert_false(proto_key_valid("\xe2\x81\xa9", 3));   /* U+2069 */
    assert_true(proto_key_valid("\xe2\x81\xaa", 3));    /* U+206A */
    assert_false(proto_key_valid("\xe2\x80\x8f", 3));   /* U+200F RLM */
    assert_false(proto_key_valid("\xd8\x9c", 2));        /* U+061C ALM */
}

static void test_wrong_types(void **state)
{
    (void)state;
    /* id of a wrong type cannot be echoed. */
    expect_error("{\"id\":true,\"operation\":\"status\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"id\":null,\"operation\":\"status\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"id\":[1],\"operation\":\"status\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"id\":{},\"operation\":\"status\"}", VC_BAD_REQUEST, NULL);

    expect_error("{\"id\":7}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":5}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":null}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":[\"get\"]}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"get\"}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"set\",\"value\":1}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"get\",\"key\":5}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"delete\",\"key\":null}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"get\",\"key\":{\"a\":1}}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"list\",\"key\":5}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"list\",\"prefix\":1}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"list\",\"prefix\":\"a\\u0002\"}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"list\",\"after\":true}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"list\",\"after\":\"a\\u007f\"}", VC_BAD_REQUEST, "7");
    expect_error("{\"id\":7,\"operation\":\"get\",\"key\":\"k\",\"subject\":1}", VC_BAD_REQUEST,
                 "7");
    expect_error("{\"id\":\"x\",\"operation\":\"status\",\"subject\":null}", VC_BAD_REQUEST,
                 "\"x\"");
}

static void test_bad_limit(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"5\"", "1.5", "5.0",   "true", "false", "null",
        "-1",    "0",   "10001", "[5]",  "{}",    "-9223372036854775808",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[128];
        int w = snprintf(buf, sizeof buf, "{\"id\":3,\"operation\":\"list\",\"limit\":%s}", bad[i]);
        assert_true(w > 0 && (size_t)w < sizeof buf);
        expect_error(buf, VC_BAD_REQUEST, "3");
    }
}

static void test_duplicate_fields(void **state)
{
    (void)state;
    char msg[VC_ERR_MSG_MAX];
    const char *dup = "{\"operation\":\"get\",\"operation\":\"delete\","
                      "\"key\":\"k\"}";
    expect_error(dup, VC_BAD_REQUEST, NULL);
    error_msg(dup, msg, sizeof msg);
    assert_non_null(strstr(msg, "duplicate field"));
    expect_error("{\"operation\":\"get\",\"key\":\"a\",\"key\":\"b\"}", VC_BAD_REQUEST, NULL);
    expect_error("{\"operation\":\"set\",\"key\":\"a\",\"value\":{\"x\":1,\"x\":2}}",
                 VC_BAD_REQUEST, NULL);
}

static void test_unknown_operation(void **state)
{
    (void)state;
    expect_error("{\"id\":\"u\",\"operation\":\"drop\"}", VC_UNKNOWN_OPERATION, "\"u\"");
    expect_error("{\"id\":\"u\",\"operation\":\"GET\",\"key\":\"k\"}", VC_UNKNOWN_OPERATION,
                 "\"u\"");
    expect_error("{\"operation\":\"\"}", VC_UNKNOWN_OPERATION, NULL);
    expect_error("{\"id\":9,\"operation\":\"s3cr3t\"}", VC_UNKNOWN_OPERATION, "9");
}

static void test_value_rules(void **state)
{
    (void)state;
    char msg[VC_ERR_MSG_MAX];
    expect_error("{\"id\":4,\"operation\":\"set\",\"key\":\"k\",\"value\":null}", VC_BAD_REQUEST,
                 "4");
    expect_error("{\"id\":4,\"operation\":\"set\",\"key\":\"k\"}", VC_BAD_REQUEST, "4");

    /* A string value whose compact form is MAX_VALUE + 1 bytes (quotes). */
    char val[MAX_VALUE];
    memset(val, 's', MAX_VALUE - 1);
    val[MAX_VALUE - 1] = '\0';
    char *buf = malloc(MAX_VALUE + 200);
    assert_non_null(buf);
    int w = snprintf(buf, MAX_VALUE + 200,
                     "{\"id\":4.5,\"operation\":\"set\",\"key\":\"k\","
                     "\"value\":\"%s\"}",
                     val);
    assert_true(w > 0 && w < MAX_VALUE + 200);
    expect_error(buf, VC_TOO_LARGE, "4.5");
    error_msg(buf, msg, sizeof msg);
    assert_non_null(strstr(msg, "1025 bytes"));

    /* Exactly at the limit is fine: MAX_VALUE - 2 chars + 2 quotes. */
    val[MAX_VALUE - 2] = '\0';
    w = snprintf(buf, MAX_VALUE + 200, "{\"operation\":\"set\",\"key\":\"k\",\"value\":\"%s\"}",
                 val);
    assert_true(w > 0 && w < MAX_VALUE + 200);
    proto_request r;
    vc_err err;
    assert_int_equal(proto_parse(&r, (const uint8_t *)buf, (size_t)w, MAX_VALUE, &err), VC_OK);
    proto_request_free(&r);
    /* Whitespace in the request does not count: only the compact form. */
    const char *spaced = "{\"operation\":\"set\",\"key\":\"k\",\"value\":"
                         "[1,      2,      3]}";
    assert_int_equal(proto_parse(&r, (const uint8_t *)spaced, strlen(spaced), 7, &err), VC_OK);
    proto_request_free(&r);
    assert_int_equal(proto_parse(&r, (const uint8_t *)spaced, strlen(spaced), 6, &err),
                     VC_TOO_LARGE);
    proto_request_free(&r);
    free(buf);
}

static vc_code parse_ok(proto_request *r, const char *payload)
{
    vc_err err;
    vc_code rc = proto_parse(r, (const uint8_t *)payload, strlen(payload), MAX_VALUE, &err);
    if (rc != VC_OK)
        fail_msg("%s: %s", payload, err.msg);
    return rc;
}

/* PROTOCOL.md §7: set's ttl and cas, get's version, the versions op. */
static void test_lifecycle_fields(void **state)
{
    (void)state;
    proto_request r;
    parse_ok(&r, "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"ttl\":\"1h30m\",\"cas\":0}");
    assert_true(r.has_ttl);
    assert_int_equal(r.ttl, 5400);
    assert_true(r.has_cas);
    assert_int_equal(r.cas, 0);
    proto_request_free(&r);
    parse_ok(&r, "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"ttl\":90}");
    assert_int_equal(r.ttl, 90);
    assert_false(r.has_cas);
    proto_request_free(&r);
    parse_ok(&r, "{\"operation\":\"get\",\"key\":\"k\",\"version\":3}");
    assert_int_equal(r.version, 3);
    proto_request_free(&r);
    parse_ok(&r, "{\"operation\":\"versions\",\"key\":\"k\"}");
    assert_int_equal(r.op, OP_VERSIONS);
    proto_request_free(&r);
    /* read only by the operation that uses them */
    parse_ok(&r, "{\"operation\":\"get\",\"key\":\"k\",\"ttl\":\"x\",\"cas\":-1}");
    proto_request_free(&r);
    const char *bad[] = {
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"ttl\":\"1w\"}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"ttl\":-1}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"ttl\":1.5}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"ttl\":null}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"cas\":-1}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":1,\"cas\":\"1\"}",
        "{\"operation\":\"get\",\"key\":\"k\",\"version\":0}",
        "{\"operation\":\"get\",\"key\":\"k\",\"version\":\"2\"}",
        "{\"operation\":\"versions\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], VC_BAD_REQUEST, NULL);
}

static void test_valid_requests(void **state)
{
    (void)state;
    proto_request r;

    parse_ok(&r, "{\"operation\":\"get\",\"key\":\"db/pass\",\"id\":\"a\","
                 "\"subject\":\"user.requests\",\"extra\":[1,2]}");
    assert_int_equal(r.op, OP_GET);
    assert_int_equal(r.key_len, 7);
    assert_memory_equal(r.key, "db/pass", 7);
    assert_string_equal(json_string_value(r.id), "a");
    assert_string_equal(r.subject, "user.requests");
    assert_null(r.value);
    proto_request_free(&r);
    assert_null(r.root);

    parse_ok(&r, "{\"operation\":\"set\",\"key\":\"k\",\"value\":{\"u\":\"x\"}}");
    assert_int_equal(r.op, OP_SET);
    assert_true(json_is_object(r.value));
    assert_null(r.id);
    assert_null(r.subject);
    proto_request_free(&r);

    parse_ok(&r, "{\"operation\":\"delete\",\"key\":\"k\",\"id\":12}");
    assert_int_equal(r.op, OP_DELETE);
    assert_int_equal(json_integer_value(r.id), 12);
    proto_request_free(&r);

    parse_ok(&r, "{\"operation\":\"list\"}");
    assert_int_equal(r.op, OP_LIST);
    assert_null(r.prefix);
    assert_null(r.after);
    assert_false(r.has_limit);
    proto_request_free(&r);

    parse_ok(&r, "{\"operation\":\"list\",\"prefix\":\"app/\",\"after\":\"app/b\","
                 "\"limit\":10000}");
    assert_int_equal(r.prefix_len, 4);
    assert_memory_equal(r.prefix, "app/", 4);
    assert_int_equal(r.after_len, 5);
    assert_memory_equal(r.after, "app/b", 5);
    assert_true(r.has_limit);
    assert_int_equal(r.limit, 10000);
    proto_request_free(&r);

    parse_ok(&r, "{\"operation\":\"list\",\"limit\":1}");
    assert_int_equal(r.limit, 1);
    proto_request_free(&r);

    parse_ok(&r, "{\"operation\":\"rotate\"}");
    assert_int_equal(r.op, OP_ROTATE);
    proto_request_free(&r);

    /* A key on an operation that takes none is ignored, as is a value. */
    parse_ok(&r, " {\"operation\":\"status\",\"key\":\"\",\"value\":null} \n");
    assert_int_equal(r.op, OP_STATUS);
    assert_null(r.key);
    assert_null(r.value);
    proto_request_free(&r);
    proto_request_free(NULL);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const values[] = {
        "\"plain\"",
        "\"\"",
        "\"\\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\ \\n\"",
        "0",
        "42",
        "-7",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "0.1",
        "-2.5e-300",
        "1e300",
        "true",
        "false",
        "[]",
        "{}",
        "[1,\"a\",null,true,{\"b\":[]}]",
        "{\"user\":\"x\",\"n\":{\"deep\":[1.25,false,null]}}",
        "\"aGVsbG8gd29ybGQ=\"",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[256];
        int w = snprintf(buf, sizeof buf, "{\"operation\":\"set\",\"key\":\"k\",\"value\":%s}",
                         values[i]);
        assert_true(w > 0 && (size_t)w < sizeof buf);
        proto_request r;
        parse_ok(&r, buf);

        /* What ops stores: the compact text; what get gives back: it parsed. */
        size_t n = json_dumpb(r.value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        char *text = malloc(n);
        assert_non_null(text);
        assert_int_equal(json_dumpb(r.value, text, n, JSON_COMPACT | JSON_ENCODE_ANY), n);
        json_error_t jerr;
        json_t *back = json_loadb(text, n, JSON_DECODE_ANY, &jerr);
        assert_non_null(back);
        json_t *orig = json_loads(values[i], JSON_DECODE_ANY, &jerr);
        assert_non_null(orig);
        if (!json_equal(orig, back))
            fail_msg("value %s came back as %.*s", values[i], (int)n, text);

        /* And inside a success reply it parses back the same too. */
        size_t rl;
        char *reply = proto_success(json_incref(back), NULL, NULL, &rl);
        assert_non_null(reply);
        json_t *rep = json_loadb(reply, rl, 0, &jerr);
        assert_non_null(rep);
        assert_true(json_equal(json_object_get(rep, "data"), orig));
        json_decref(rep);
        free(reply);
        json_decref(orig);
        json_decref(back);
        free(text);
        proto_request_free(&r);
    }
}

static void test_success_text(void **state)
{
    (void)state;
    size_t n;
    char *s = proto_success(NULL, NULL, NULL, &n);
    assert_string_equal(s, "{\"status\":\"success\",\"data\":null}");
    assert_int_equal(n, strlen(s));
    free(s);

    json_t *id = json_string("abc");
    json_t *meta = json_pack("{s:i,s:s}", "version", 3, "updated_at", "2026-11-28T13:16:47Z");
    s = proto_success(json_pack("{s:[i,i]}", "a", 1, 2), meta, id, &n);
    assert_string_equal(s, "{\"status\":\"success\",\"data\":{\"a\":[1,2]},"
                           "\"meta\":{\"version\":3,\"updated_at\":"
                           "\"2026-11-28T13:16:47Z\"},\"id\":\"abc\"}");
    free(s);
    /* id is borrowed: still ours. */
    assert_string_equal(json_string_value(id), "abc");
    json_decref(id);

    id = json_integer(5);
    s = proto_success(json_string("v"), NULL, id, NULL);
    assert_string_equal(s, "{\"status\":\"success\",\"data\":\"v\",\"id\":5}");
    free(s);
    json_decref(id);
}

/* The get reply splices the stored compact text: byte for byte what
 * proto_success gives for the parsed value, with and without meta and id. */
static void test_success_raw_matches(void **state)
{
    (void)state;
    static const char *const values[] = {
        "\"sk_live_1\"",
        "42",
        "-1.5",
        "true",
        "null",
        "[]",
        "{}",
        "{\"key\":\"v\",\"n\":[1,{\"x\":null}],\"u\":\"\u00e9\\u0001\\\"\"}",
    };
    json_t *ids[] = {NULL, json_integer(17), json_string("req-\"1")};

    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        json_t *parsed = json_loads(values[v], JSON_DECODE_ANY, NULL);
        assert_non_null(parsed);
        char *text = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(text);
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            for (int with_meta = 0; with_meta < 2; with_meta++) {
                json_t *m1 = with_meta ? json_pack("{s:i,s:s}", "version", 2, "updated_at",
                                                   "2026-11-28T13:16:47Z")
                                       : NULL;
                char *m2 = m1 != NULL ? json_dumps(m1, JSON_COMPACT) : NULL;
                size_t n1, n2;
                char *a = proto_success(json_incref(parsed), m1, ids[i], &n1);
                char *b = proto_success_raw(text, strlen(text), m2, ids[i], &n2);
                free(m2);
                assert_non_null(a);
                assert_non_null(b);
                assert_string_equal(a, b);
                assert_int_equal(n1, n2);
                assert_int_equal(n2, strlen(b));
                free(a);
                free(b);
            }
        }
        free(text);
        json_decref(parsed);
    }
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        json_decref(ids[i]);
}

static void test_error_text(void **state)
{
    (void)state;
    size_t n;
    char *s = proto_error(VC_ACCESS_DENIED, "Access denied", NULL, &n);
    assert_string_equal(s, "{\"status\":\"error\",\"code\":\"access_denied\","
                           "\"message\":\"Access denied\"}");
    assert_int_equal(n, strlen(s));
    free(s);

    json_t *id = json_real(1.5);
    s = proto_error(VC_NOT_FOUND, "key not found", id, &n);
    assert_string_equal(s, "{\"status\":\"error\",\"code\":\"not_found\","
                           "\"message\":\"key not found\",\"id\":1.5}");
    free(s);
    json_decref(id);

    static const struct {
        vc_code c;
        const char *name;
    } codes[] = {
        {VC_BAD_REQUEST, "bad_request"}, {VC_UNKNOWN_OPERATION, "unknown_operation"},
        {VC_TOO_LARGE, "too_large"},     {VC_UNAVAILABLE, "unavailable"},
        {VC_INTERNAL, "internal"},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char want[128];
        int w = snprintf(want, sizeof want,
                         "{\"status\":\"error\",\"code\":\"%s\","
                         "\"message\":\"m \\\"q\\\"\"}",
                         codes[i].name);
        assert_true(w > 0 && (size_t)w < sizeof want);
        s = proto_error(codes[i].c, "m \"q\"", NULL, NULL);
        assert_string_equal(s, want);
        free(s);
    }
}

/* Issue 11 item 3: the element count before parsing. */
static void test_json_elements(void **state)
{
    (void)state;
    const char *ok = "{\"operation\":\"set\",\"key\":\"k\",\"value\":[1,2,{\"a\":3}]}";
    /* { : , : , : [ , , { : = 11 */
    assert_false(proto_json_elements_over((const uint8_t *)ok, strlen(ok), 11));
    assert_true(proto_json_elements_over((const uint8_t *)ok, strlen(ok), 10));
    /* Inside strings nothing counts, escaped quotes included. */
    const char *str = "{\"k\":\"[[[,,,:::{{{\\\"[[[,,,\"}";
    assert_false(proto_json_elements_over((const uint8_t *)str, strlen(str), 2));
    assert_false(proto_json_elements_over((const uint8_t *)"", 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_elements),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_binary_garbage),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_nul_in_key),
        cmocka_unit_test(test_key_rules),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_limit),
        cmocka_unit_test(test_duplicate_fields),
        cmocka_unit_test(test_unknown_operation),
        cmocka_unit_test(test_value_rules),
        cmocka_unit_test(test_valid_requests),
        cmocka_unit_test(test_lifecycle_fields),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_success_text),
        cmocka_unit_test(test_success_raw_matches),
        cmocka_unit_test(test_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
