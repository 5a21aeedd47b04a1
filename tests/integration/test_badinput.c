/* test_badinput.c - every class of bad request against a real `vaultctl
 * serve` over a real nats-server: each gets its error code (and the NATS
 * service error headers), nothing is stored, and the service stays up.
 *
 * Limits are the defaults (limits.max_value_bytes 256 KiB, so
 * limits.max_request_bytes 320 KiB), so a 100,000-deep nesting (200 KB)
 * reaches the parser instead of being refused for its size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MAX_VALUE (256 * 1024)
#define MAX_REQUEST (MAX_VALUE + 64 * 1024)
#define PAYLOAD_LIMIT (1024 * 1024) /* nats-server default max_payload */

static it_nats nats;
static it_vault vault;
static natsConnection *admin;
static int sent; /* bad requests sent, for the summary line */

static int setup(void **state)
{
    (void)state;
    return it_up(&nats, &vault, NULL, &admin);
}

static int teardown(void **state)
{
    (void)state;
    it_down(&nats, &vault, admin);
    return 0;
}

/* Sends len raw bytes (may hold NUL) on admin.requests; *st gets the NATS
 * status, the reply is parsed (NULL if none or not JSON). */
static json_t *raw_request(const void *data, size_t len, natsStatus *st,
                           natsMsg **reply)
{
    natsMsg *m = NULL;
    json_t *j = NULL;

    *st = natsConnection_Request(&m, admin, "admin.requests", data, (int)len,
                                 10000);
    if (*st != NATS_OK)
        return NULL;
    j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0,
                   NULL);
    if (reply != NULL)
        *reply = m;
    else
        natsMsg_Destroy(m);
    return j;
}

/* The request gets an error reply with code, message, and the service
 * error headers with the code's number. */
static void expect_code_len(const void *data, size_t len, const char *code,
                            const char *num)
{
    natsMsg *m = NULL;
    natsStatus st;
    const char *hv = NULL;
    json_t *r = raw_request(data, len, &st, &m);

    sent++;
    if (r == NULL) {
        fprintf(stderr, "no reply (%s) to a %zu-byte request\n",
                natsStatus_GetText(st), len);
        it_vault_dump_log(&vault);
    }
    assert_non_null(r);
    if (strcmp(it_status(r), "error") != 0 || strcmp(it_code(r), code) != 0) {
        char *s = json_dumps(r, 0);
        fprintf(stderr, "want %s, got %s for %.*s\n", code, s,
                (int)(len < 200 ? len : 200), (const char *)data);
        free(s);
    }
    assert_string_equal(it_status(r), "error");
    assert_string_equal(it_code(r), code);
    assert_non_null(json_string_value(json_object_get(r, "message")));
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Service-Error-Code", &hv),
                     NATS_OK);
    assert_string_equal(hv, num);
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Service-Error", &hv), NATS_OK);
    /* The header carries the reply's own message (docs/protocol.md). */
    assert_string_equal(hv, json_string_value(json_object_get(r, "message")));
    natsMsg_Destroy(m);
    json_decref(r);
}

static void expect_code(const char *payload, const char *code)
{
    const char *num = strcmp(code, "too_large") == 0 ? "413" : "400";
    expect_code_len(payload, strlen(payload), code, num);
}

static void expect_bad(const char *payload)
{
    expect_code(payload, "bad_request");
}

/* A well-formed request that must succeed. */
static json_t *expect_ok(const char *payload)
{
    natsStatus st;
    json_t *r = raw_request(payload, strlen(payload), &st, NULL);
    assert_non_null(r);
    if (strcmp(it_status(r), "success") != 0) {
        char *s = json_dumps(r, 0);
        fprintf(stderr, "unexpected reply: %s\n", s);
        free(s);
    }
    assert_string_equal(it_status(r), "success");
    return r;
}

/* Nothing got stored under key by a refused request. */
static void expect_absent(const char *key)
{
    char p[256];
    natsStatus st;
    (void)snprintf(p, sizeof p, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    json_t *r = raw_request(p, strlen(p), &st, NULL);
    assert_non_null(r);
    assert_string_equal(it_code(r), "not_found");
    json_decref(r);
}

static void test_not_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not json", "{", "}", "{\"operation\":\"get\",}", "{'operation':'get'}",
        "{\"operation\":\"get\",\"key\":\"k\"} trailing", "{\"operation\":get}",
        "NaN", "{\"operation\":\"set\",\"key\":\"k\",\"value\":NaN}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":Infinity}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":01}",
        "{\"operation\":\"get\",\"key\":\"k\"}{\"operation\":\"get\"}",
        "\xef\xbb\xbf{\"operation\":\"status\"}", /* BOM */
        /* Not an object. */
        "[1,2]", "\"status\"", "42", "null", "true", "[]",
        "[{\"operation\":\"status\"}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
    expect_absent("k");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"operation\":\"set\",\"key\":\"\xff\xfe\",\"value\":1}",
        "{\"operation\":\"set\",\"key\":\"k\",\"value\":\"\xc3\x28\"}",
        "{\"operation\":\"get\",\"key\":\"\xc0\xaf\"}",          /* overlong */
        "{\"operation\":\"get\",\"key\":\"\xed\xa0\x80\"}",      /* surrogate */
        "{\"operation\":\"get\",\"key\":\"\xf4\x90\x80\x80\"}",  /* > U+10FFFF */
        "{\"operation\":\"get\",\"key\":\"\xe2\x82\"}",          /* cut short */
        "{\"operation\":\"get\",\"key\":\"\\ud800\"}",           /* lone escape */
        "{\"operation\":\"get\",\"key\":\"\\udc00x\"}",
        "{\"op\xff\":\"get\"}",
        "{\"operation\":\"list\",\"prefix\":\"\x80\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
    expect_absent("k");
}

/* Key names with C1 controls or bidirectional formatting characters, which
 * make one name look like another in `list`, are refused (JSON escapes and
 * raw UTF-8 alike); nothing is stored. */
static void test_deceptive_key(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"operation\":\"set\",\"key\":\"k\\u202e\",\"value\":1}",
        "{\"operation\":\"set\",\"key\":\"k\xe2\x80\xae\",\"value\":1}",
        "{\"operation\":\"set\",\"key\":\"k\\u0085\",\"value\":1}",
        "{\"operation\":\"set\",\"key\":\"k\xc2\x9b\",\"value\":1}",
        "{\"operation\":\"set\",\"key\":\"k\\u2066\",\"value\":1}",
        "{\"operation\":\"get\",\"key\":\"k\\u2069\"}",
        "{\"operation\":\"delete\",\"key\":\"k\\u200f\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
    expect_absent("k");
    json_decref(expect_ok("{\"operation\":\"set\",\"key\":\"caf\\u00e9\",\"value\":1}"));
}

static void test_empty_payload(void **state)
{
    (void)state;
    expect_code_len("", 0, "bad_request", "400");
    expect_bad(" ");
    expect_bad("\n\t ");
    expect_bad("{}");
}

static void test_binary_garbage(void **state)
{
    (void)state;
    unsigned char buf[4096];
    unsigned seed = 12345;

    for (int i = 0; i < 200; i++) {
        size_t len = 1 + (size_t)(rand_r(&seed) % (int)sizeof buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (unsigned char)rand_r(&seed);
        /* A random first byte of '{' or whitespace could start JSON; the
         * rest is garbage, so it is still not a request. */
        expect_code_len(buf, len, "bad_request", "400");
    }
    /* NUL bytes in and around otherwise valid JSON. */
    static const char nul1[] = "{\"operation\":\"status\"}\0";
    static const char nul2[] = "\0{\"operation\":\"status\"}";
    static const char nul3[] = "{\"operation\":\"get\",\"key\":\"a\0b\"}";
    expect_code_len(nul1, sizeof nul1 - 1, "bad_request", "400");
    expect_code_len(nul2, sizeof nul2 - 1, "bad_request", "400");
    expect_code_len(nul3, sizeof nul3 - 1, "bad_request", "400");
}

/* depth levels of open, then (if closed) as many closes, inside a set. */
static char *nested(size_t depth, char open, char close, bool closed)
{
    const char *head = "{\"operation\":\"set\",\"key\":\"deep\",\"value\":";
    size_t hl = strlen(head);
    char *p = malloc(hl + 2 * depth + 2);
    assert_non_null(p);
    memcpy(p, head, hl);
    memset(p + hl, open, depth);
    size_t n = hl + depth;
    if (closed) {
        memset(p + n, close, depth);
        n += depth;
        p[n++] = '}';
    }
    p[n] = '\0';
    return p;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* 100,000 deep is more elements than limits.max_json_elements (4096):
     * too_large before parsing (issue 11 item 3). 3,000 deep fits that
     * limit and is parsed, and refused as nested too deeply. */
    char *p = nested(100000, '[', ']', true);
    expect_code(p, "too_large");
    free(p);
    p = nested(100000, '[', ']', false);
    expect_code(p, "too_large");
    free(p);
    p = nested(3000, '[', ']', true);
    expect_bad(p);
    free(p);
    p = nested(3000, '[', ']', false);
    expect_bad(p);
    free(p);
    /* Objects: {"a":{"a":...}} 100,000 deep is 600 KB, over the request
     * limit (too_large before parsing); 40,000 deep is over the element
     * limit (two per level: deeper than jansson's 2,048 levels always is). */
    size_t depth = 40000;
    char *o = malloc(6 * depth + 64);
    assert_non_null(o);
    size_t n = (size_t)sprintf(o, "{\"operation\":\"status\",\"x\":");
    for (size_t i = 0; i < depth; i++) {
        memcpy(o + n, "{\"a\":", 5);
        n += 5;
    }
    memcpy(o + n, "1", 1);
    n++;
    memset(o + n, '}', depth + 1);
    n += depth + 1;
    o[n] = '\0';
    expect_code(o, "too_large");
    free(o);
    /* A modest nesting is a fine value. */
    p = nested(100, '[', ']', true);
    json_decref(expect_ok(p));
    free(p);
    expect_absent("deep/none");
}

static void test_huge_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"operation\":\"set\",\"key\":\"num\",\"value\":1e999}",
        "{\"operation\":\"set\",\"key\":\"num\",\"value\":-1e999}",
        "{\"operation\":\"set\",\"key\":\"num\",\"value\":99999999999999999999999999}",
        "{\"operation\":\"set\",\"key\":\"num\",\"value\":-9223372036854775809}",
        "{\"operation\":\"list\",\"limit\":9223372036854775808}",
        "{\"operation\":\"list\",\"limit\":1e300}",
        "{\"operation\":\"list\",\"limit\":10001}",
        "{\"operation\":\"list\",\"limit\":0}",
        "{\"operation\":\"list\",\"limit\":-1}",
        "{\"operation\":\"list\",\"limit\":-9223372036854775808}",
        "{\"operation\":\"status\",\"id\":1e400}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
    expect_absent("num");
    /* The extremes that do fit are stored and given back exactly. */
    json_t *r = expect_ok("{\"operation\":\"set\",\"key\":\"num\",\"value\":"
                          "[9223372036854775807,-9223372036854775808,"
                          "1.7976931348623157e308,5e-324]}");
    json_decref(r);
    r = expect_ok("{\"operation\":\"get\",\"key\":\"num\"}");
    json_t *d = json_object_get(r, "data");
    assert_int_equal(json_integer_value(json_array_get(d, 0)), INT64_MAX);
    assert_int_equal(json_integer_value(json_array_get(d, 1)), INT64_MIN);
    assert_true(json_real_value(json_array_get(d, 2)) == 1.7976931348623157e308);
    assert_true(json_real_value(json_array_get(d, 3)) > 0.0);
    json_decref(r);
}

static void test_nul_in_key(void **state)
{
    (void)state;
    expect_bad("{\"operation\":\"set\",\"key\":\"a\\u0000b\",\"value\":1}");
    expect_bad("{\"operation\":\"set\",\"key\":\"\\u0000\",\"value\":1}");
    expect_bad("{\"operation\":\"get\",\"key\":\"a\\u0000\"}");
    expect_bad("{\"operation\":\"set\",\"key\":\"k\",\"value\":\"v\\u0000\"}");
    expect_bad("{\"operation\":\"list\",\"prefix\":\"a\\u0000\"}");
    expect_bad("{\"operation\":\"get\",\"key\\u0000\":\"a\"}");
    /* Other control characters in a key, raw or escaped. */
    expect_bad("{\"operation\":\"get\",\"key\":\"a\\u001fb\"}");
    expect_bad("{\"operation\":\"get\",\"key\":\"a\\u007fb\"}");
    expect_bad("{\"operation\":\"get\",\"key\":\"a\\nb\"}");
    expect_bad("{\"operation\":\"list\",\"after\":\"a\\tb\"}");
    expect_absent("a");
}

/* {"operation":"set","key":"kkk...","value":1} with a key of n bytes. */
static char *long_key_request(size_t n, size_t *len)
{
    const char *head = "{\"operation\":\"set\",\"key\":\"";
    const char *tail = "\",\"value\":1}";
    size_t hl = strlen(head), tl = strlen(tail);
    char *p = malloc(hl + n + tl + 1);
    assert_non_null(p);
    memcpy(p, head, hl);
    memset(p + hl, 'k', n);
    memcpy(p + hl + n, tail, tl + 1);
    *len = hl + n + tl;
    return p;
}

static void test_long_keys(void **state)
{
    (void)state;
    size_t len;
    natsStatus st;
    char *p;

    /* 512 bytes is the longest key; 513 is refused. */
    p = long_key_request(512, &len);
    json_decref(expect_ok(p));
    free(p);
    p = long_key_request(513, &len);
    expect_code_len(p, len, "bad_request", "400");
    free(p);
    /* Multi-byte: 171 three-byte characters = 513 bytes. */
    char mb[1024] = "{\"operation\":\"get\",\"key\":\"";
    for (int i = 0; i < 171; i++)
        strcat(mb, "\xe2\x82\xac");
    strcat(mb, "\"}");
    expect_bad(mb);
    /* A key just under the NATS payload limit: over limits.max_request_bytes,
     * refused before parsing. */
    p = long_key_request(PAYLOAD_LIMIT - 100, &len);
    expect_code_len(p, len, "too_large", "413");
    free(p);
    /* A 1 MiB key: the whole message is over nats-server's max_payload
     * (1 MiB), so the client library refuses to send it and the service
     * never sees it. */
    p = long_key_request(PAYLOAD_LIMIT, &len);
    json_t *r = raw_request(p, len, &st, NULL);
    free(p);
    sent++;
    assert_null(r);
    fprintf(stderr, "1 MiB key: client says: %s\n", natsStatus_GetText(st));
    assert_int_equal(st, NATS_MAX_PAYLOAD);
}

static void test_wrong_types(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* operation */
        "{\"operation\":1}", "{\"operation\":null}", "{\"operation\":[\"get\"]}",
        "{\"operation\":{\"name\":\"get\"}}", "{\"operation\":true}",
        "{\"key\":\"k\"}",
        /* key */
        "{\"operation\":\"get\",\"key\":1}", "{\"operation\":\"get\",\"key\":null}",
        "{\"operation\":\"get\",\"key\":[\"k\"]}", "{\"operation\":\"get\",\"key\":{}}",
        "{\"operation\":\"set\",\"key\":false,\"value\":1}",
        "{\"operation\":\"delete\",\"key\":\"\"}", "{\"operation\":\"delete\"}",
        "{\"operation\":\"list\",\"key\":7}",
        /* value */
        "{\"operation\":\"set\",\"key\":\"t\",\"value\":null}",
        "{\"operation\":\"set\",\"key\":\"t\"}",
        /* prefix, after, limit */
        "{\"operation\":\"list\",\"prefix\":1}", "{\"operation\":\"list\",\"prefix\":[]}",
        "{\"operation\":\"list\",\"after\":2}", "{\"operation\":\"list\",\"after\":null}",
        "{\"operation\":\"list\",\"limit\":\"10\"}", "{\"operation\":\"list\",\"limit\":2.5}",
        "{\"operation\":\"list\",\"limit\":true}", "{\"operation\":\"list\",\"limit\":null}",
        /* subject */
        "{\"operation\":\"status\",\"subject\":1}",
        "{\"operation\":\"status\",\"subject\":null}",
        "{\"operation\":\"status\",\"subject\":[\"admin.requests\"]}",
        /* id */
        "{\"operation\":\"status\",\"id\":{}}", "{\"operation\":\"status\",\"id\":[1]}",
        "{\"operation\":\"status\",\"id\":true}", "{\"operation\":\"status\",\"id\":null}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
    expect_absent("t");

    /* The id is echoed on an error that comes after it was read. */
    natsStatus st;
    const char *p = "{\"id\":\"req-1\",\"operation\":\"get\",\"key\":5}";
    json_t *r = raw_request(p, strlen(p), &st, NULL);
    assert_non_null(r);
    assert_string_equal(it_code(r), "bad_request");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "req-1");
    json_decref(r);
}

static void test_duplicate_fields(void **state)
{
    (void)state;
    expect_bad("{\"operation\":\"get\",\"operation\":\"delete\",\"key\":\"dup\"}");
    expect_bad("{\"operation\":\"set\",\"key\":\"dup\",\"key\":\"other\",\"value\":1}");
    expect_bad("{\"operation\":\"set\",\"key\":\"dup\",\"value\":1,\"value\":2}");
    expect_bad("{\"operation\":\"status\",\"subject\":\"admin.requests\","
               "\"subject\":\"user.requests\"}");
    expect_bad("{\"operation\":\"status\",\"id\":1,\"id\":2}");
    expect_bad("{\"operation\":\"set\",\"key\":\"dup\",\"value\":{\"a\":1,\"a\":2}}");
    expect_absent("dup");
    expect_absent("other");
}

static void test_unknown_operations(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"operation\":\"explode\"}", "{\"operation\":\"GET\"}",
        "{\"operation\":\"\"}", "{\"operation\":\"get \",\"key\":\"k\"}",
        "{\"operation\":\"drop_table\"}", "{\"operation\":\"get;delete\"}",
        "{\"operation\":\"st\\u0061tusx\"}",
        "{\"operation\":\"\xc3\xa9\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_code(bad[i], "unknown_operation");
    /* An escaped spelling of a real name is that name. */
    json_decref(expect_ok("{\"operation\":\"st\\u0061tus\"}"));
}

/* A payload of n bytes: a set whose value string fills it. */
static char *sized_set(size_t n, size_t *len)
{
    const char *head = "{\"operation\":\"set\",\"key\":\"big\",\"value\":\"";
    size_t hl = strlen(head);
    char *p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, head, hl);
    memset(p + hl, 'v', n - hl - 2);
    memcpy(p + n - 2, "\"}", 3);
    *len = n;
    return p;
}

static void test_over_limits(void **state)
{
    (void)state;
    size_t len;
    char *p;

    /* Over limits.max_request_bytes: refused before parsing, even when it
     * is not JSON at all. */
    p = sized_set(MAX_REQUEST + 1, &len);
    expect_code_len(p, len, "too_large", "413");
    memset(p, '#', len);
    expect_code_len(p, len, "too_large", "413");
    free(p);
    p = sized_set(PAYLOAD_LIMIT - 64, &len);
    expect_code_len(p, len, "too_large", "413");
    free(p);
    /* Under the request limit but the value over limits.max_value_bytes. */
    p = sized_set(MAX_VALUE + 200, &len);
    expect_code_len(p, len, "too_large", "413");
    free(p);
    expect_absent("big");
    /* Right at the value limit: accepted ("" quotes count). */
    const char *head = "{\"operation\":\"set\",\"key\":\"big\",\"value\":\"";
    p = sized_set(strlen(head) + MAX_VALUE + 2 - 2, &len);
    json_decref(expect_ok(p));
    free(p);
}

/* A requester may name any reply subject, and the vault user's
 * allow_responses lets the service publish there. Since issue 11 the
 * service replies only under subjects.reply_prefixes (_INBOX.), never on a
 * request or ACL subject: a get with reply subject admin.requests is not
 * executed, and nothing is published on admin.requests (before: the
 * stored value, shaped like an admin request, went there and was refused
 * as bad_request). */
static void test_reply_reflection(void **state)
{
    (void)state;
    natsConnection *agent = it_connect(&nats, IT_AGENT_USER, IT_AGENT_PASS);
    natsConnection *probe = it_connect(&nats, IT_PROBE_USER, IT_PROBE_PASS);
    natsSubscription *on_admin = NULL, *on_replies = NULL;
    natsMsg *m = NULL;
    assert_non_null(agent);
    assert_non_null(probe);

    json_decref(expect_ok("{\"operation\":\"set\",\"key\":\"reflect/target\",\"value\":\"keep\"}"));
    /* A value shaped like an admin request, stored by the agent. */
    json_t *r = it_request(agent, "user.requests", "{\"operation\":\"set\",\"key\":\"reflect/evil\","
                           "\"value\":{\"operation\":\"delete\",\"key\":\"reflect/target\"}}", 5000, NULL);
    assert_string_equal(it_status(r), "success");
    json_decref(r);
    assert_int_equal(natsConnection_SubscribeSync(&on_admin, probe, "admin.requests"), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&on_replies, probe, "vault.replies"), NATS_OK);
    assert_int_equal(natsConnection_Flush(probe), NATS_OK);

    const char *p = "{\"operation\":\"get\",\"key\":\"reflect/evil\",\"id\":\"r1\"}";
    assert_int_equal(natsConnection_PublishRequestString(agent, "user.requests",
                                                         "admin.requests", p), NATS_OK);
    assert_int_equal(natsConnection_Flush(agent), NATS_OK);
    sent++;
    /* Nothing on admin.requests, and so nothing refused on vault.replies. */
    assert_int_not_equal(natsSubscription_NextMsg(&m, on_admin, 1500), NATS_OK);
    assert_int_not_equal(natsSubscription_NextMsg(&m, on_replies, 300), NATS_OK);

    r = expect_ok("{\"operation\":\"get\",\"key\":\"reflect/target\"}");
    assert_string_equal(json_string_value(json_object_get(r, "data")), "keep");
    json_decref(r);
    natsSubscription_Destroy(on_admin);
    natsSubscription_Destroy(on_replies);
    natsConnection_Destroy(agent);
    natsConnection_Destroy(probe);
}

/* Last: after all of the above the same process still answers. */
static void test_still_up(void **state)
{
    (void)state;
    int status;
    assert_int_equal(waitpid(vault.pid, &status, WNOHANG), 0);
    json_t *r = expect_ok("{\"operation\":\"status\"}");
    json_t *d = json_object_get(r, "data");
    assert_string_equal(json_string_value(json_object_get(d, "service")), "vaultctl");
    fprintf(stderr, "bad input: %d bad requests sent, service up, %lld errors counted\n",
            sent, (long long)json_integer_value(json_object_get(d, "errors")));
    json_decref(r);
    /* And it drains and exits cleanly (under ASan: no leak either). */
    int stopped = it_vault_stop(&vault);
    if (stopped != 0)
        it_vault_dump_log(&vault);
    assert_int_equal(stopped, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_deceptive_key),
        cmocka_unit_test(test_empty_payload),
        cmocka_unit_test(test_binary_garbage),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_nul_in_key),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_duplicate_fields),
        cmocka_unit_test(test_unknown_operations),
        cmocka_unit_test(test_over_limits),
        cmocka_unit_test(test_reply_reflection),
        cmocka_unit_test(test_still_up),
    };
    if (getenv("IT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("IT_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
