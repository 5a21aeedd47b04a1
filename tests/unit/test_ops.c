/* test_ops.c - ops_handle end to end against a real vault in a temp dir;
 * ops_handle_async: who is answered when, on which thread, in what order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "jalloc.h"
#include "ops.h"
#include "testutil.h"

#define MAX_VALUE   256
#define MAX_REQUEST 1024

static const acl_rule rules[] = {
    {.subject = "admin.requests", .ops = OP_ALL_BITS},
    {.subject = "user.requests", .ops = OP_BIT(OP_GET) | OP_BIT(OP_SET)},
    {.subject = "team.ro.>", .ops = OP_BIT(OP_GET) | OP_BIT(OP_LIST)},
    {.subject = "team.*.requests", .ops = OP_ALL_BITS},
};

typedef struct {
    tu_vault tv;
    ops_ctx ctx;
    int extra_calls;
} fixture;

static void status_extra(void *arg, json_t *obj)
{
    fixture *f = arg;
    f->extra_calls++;
    json_object_set_new(obj, "audit_dropped", json_integer(0));
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(tu_vault_open(&f->tv, "test_ops", 64u << 20), 0);
    f->ctx = (ops_ctx){
        .vault = f->tv.v,
        .rules = rules,
        .nrules = sizeof rules / sizeof rules[0],
        .max_value_bytes = MAX_VALUE,
        .storage_path = f->tv.dir,
        .started = (int64_t)time(NULL),
        .service_version = "9.9.9",
        .max_request_bytes = MAX_REQUEST,
        .status_extra = status_extra,
        .status_arg = f,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_vault_close(&f->tv);
    free(f);
    return 0;
}

/* Runs one request; returns the parsed reply (caller decrefs) and fills
 * *out_code; the raw text goes to text (if not NULL). */
static json_t *run(fixture *f, const char *arrival, const char *payload, vc_code *out_code,
                   char *text, size_t cap)
{
    ops_reply r;
    json_error_t jerr;

    ops_handle(&f->ctx, arrival, (const uint8_t *)payload, strlen(payload), &r);
    assert_non_null(r.body);
    assert_int_equal(r.len, strlen(r.body));
    json_t *j = json_loadb(r.body, r.len, 0, &jerr);
    if (j == NULL)
        fail_msg("reply is not JSON: %s", r.body);
    if (text != NULL) {
        int w = snprintf(text, cap, "%s", r.body);
        assert_true(w >= 0 && (size_t)w < cap);
    }
    if (out_code != NULL)
        *out_code = r.code;
    /* A success never has a log message; an error always has one. */
    if (r.code == VC_OK)
        assert_string_equal(r.log_msg, "");
    else
        assert_true(r.log_msg[0] != '\0');
    ops_reply_free(&r);
    return j;
}

/* Runs a request that must succeed; returns the reply. */
static json_t *ok(fixture *f, const char *arrival, const char *payload)
{
    vc_code code;
    char text[4096];
    json_t *j = run(f, arrival, payload, &code, text, sizeof text);
    if (code != VC_OK)
        fail_msg("%s: %s", payload, text);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    return j;
}

/* Runs a request that must fail with want and message msg (NULL: any). */
static void err_reply(fixture *f, const char *arrival, const char *payload, vc_code want,
                      const char *msg)
{
    vc_code code;
    char text[4096];
    json_t *j = run(f, arrival, payload, &code, text, sizeof text);
    if (code != want)
        fail_msg("%s: got %s, want %s", payload, text, vc_code_name(want));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "code")), vc_code_name(want));
    if (msg != NULL)
        assert_string_equal(json_string_value(json_object_get(j, "message")), msg);
    json_decref(j);
}

static bool is_rfc3339(const char *s)
{
    int y, mo, d, h, mi, se;
    char z;
    return s != NULL && strlen(s) == 20 &&
           sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) == 7 && z == 'Z' &&
           y >= 2020;
}

static uint64_t record_count(fixture *f)
{
    vault_status_info info;
    vc_err err;
    assert_int_equal(vault_status(f->tv.v, &info, &err), VC_OK);
    return info.keys;
}

static void assert_absent(fixture *f, const char *key)
{
    char *val = NULL;
    size_t len;
    vault_meta meta;
    vc_err err;
    assert_int_equal(vault_get(f->tv.v, key, strlen(key), &val, &len, &meta, &err), VC_NOT_FOUND);
    free(val);
}

static void test_set_get(void **state)
{
    fixture *f = *state;
    json_t *j = ok(f, "admin.requests",
                   "{\"operation\":\"set\",\"key\":\"db/pass\","
                   "\"value\":{\"u\":\"x\",\"n\":[1,2.5,null,true]},\"id\":1}");
    assert_true(json_is_null(json_object_get(j, "data")));
    json_t *meta = json_object_get(j, "meta");
    assert_int_equal(json_integer_value(json_object_get(meta, "version")), 1);
    assert_true(is_rfc3339(json_string_value(json_object_get(meta, "updated_at"))));
    assert_null(json_object_get(meta, "created_at"));
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 1);
    assert_int_equal(json_object_size(j), 4);
    json_decref(j);

    /* Exact text: field order status, data, meta, id. */
    char text[512];
    vc_code code;
    j = run(f, "admin.requests",
            "{\"operation\":\"set\",\"key\":\"db/pass\","
            "\"value\":{\"u\":\"x\",\"n\":[1,2.5,null,true]},\"id\":\"two\"}",
            &code, text, sizeof text);
    char want[512];
    int w = snprintf(want, sizeof want,
                     "{\"status\":\"success\",\"data\":null,\"meta\":"
                     "{\"version\":2,\"updated_at\":\"%s\"},\"id\":\"two\"}",
                     json_string_value(json_object_get(json_object_get(j, "meta"), "updated_at")));
    assert_true(w > 0 && (size_t)w < sizeof want);
    assert_string_equal(text, want);
    json_decref(j);

    j = ok(f, "admin.requests", "{\"operation\":\"get\",\"key\":\"db/pass\",\"id\":\"g\"}");
    json_t *expect = json_loads("{\"u\":\"x\",\"n\":[1,2.5,null,true]}", 0, NULL);
    assert_true(json_equal(json_object_get(j, "data"), expect));
    json_decref(expect);
    meta = json_object_get(j, "meta");
    assert_int_equal(json_integer_value(json_object_get(meta, "version")), 2);
    assert_true(is_rfc3339(json_string_value(json_object_get(meta, "created_at"))));
    assert_true(is_rfc3339(json_string_value(json_object_get(meta, "updated_at"))));
    assert_string_equal(json_string_value(json_object_get(j, "id")), "g");
    json_decref(j);

    /* Values of every JSON type come back JSON-equal. */
    static const char *const values[] = {
        "\"s\"",
        "\"\"",
        "0",
        "-12",
        "1.25",
        "true",
        "false",
        "[]",
        "{}",
        "\"\\u00e9\\ud83d\\ude00\"",
        "[[1],{\"a\":{}}]",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char req[256];
        w = snprintf(req, sizeof req, "{\"operation\":\"set\",\"key\":\"t%zu\",\"value\":%s}", i,
                     values[i]);
        assert_true(w > 0 && (size_t)w < sizeof req);
        json_decref(ok(f, NULL, req));
        w = snprintf(req, sizeof req, "{\"operation\":\"get\",\"key\":\"t%zu\"}", i);
        assert_true(w > 0 && (size_t)w < sizeof req);
        j = ok(f, NULL, req);
        expect = json_loads(values[i], JSON_DECODE_ANY, NULL);
        assert_non_null(expect);
        assert_true(json_equal(json_object_get(j, "data"), expect));
        json_decref(expect);
        json_decref(j);
    }
}

static void test_key_hash_and_op(void **state)
{
    fixture *f = *state;
    ops_reply r;
    const char *req = "{\"operation\":\"get\",\"key\":\"missing\"}";
    char hash[SEAL_AUDIT_HEX];

    ops_handle(&f->ctx, "admin.requests", (const uint8_t *)req, strlen(req), &r);
    assert_int_equal(r.code, VC_NOT_FOUND);
    assert_int_equal(r.op, OP_GET);
    vault_audit_hash(f->tv.v, "missing", 7, hash);
    assert_string_equal(r.key_hash, hash);
    assert_int_equal(strlen(r.key_hash), 64);
    assert_null(strstr(r.log_msg, "missing"));
    assert_string_equal(r.body, "{\"status\":\"error\",\"code\":\"not_found\","
                                "\"message\":\"key not found\"}");
    ops_reply_free(&r);

    req = "{\"operation\":\"status\"}";
    ops_handle(&f->ctx, "admin.requests", (const uint8_t *)req, strlen(req), &r);
    assert_int_equal(r.code, VC_OK);
    assert_int_equal(r.op, OP_STATUS);
    assert_string_equal(r.key_hash, "");
    ops_reply_free(&r);

    req = "not json";
    ops_handle(&f->ctx, "admin.requests", (const uint8_t *)req, strlen(req), &r);
    assert_int_equal(r.code, VC_BAD_REQUEST);
    assert_int_equal(r.op, OP_NONE);
    ops_reply_free(&r);
    ops_reply_free(NULL);
}

static void test_delete(void **state)
{
    fixture *f = *state;
    json_decref(ok(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"gone\",\"value\":1}"));
    char text[256];
    vc_code code;
    json_t *j = run(f, "admin.requests", "{\"operation\":\"delete\",\"key\":\"gone\",\"id\":3}",
                    &code, text, sizeof text);
    assert_int_equal(code, VC_OK);
    assert_string_equal(text, "{\"status\":\"success\",\"data\":null,\"id\":3}");
    json_decref(j);
    err_reply(f, "admin.requests", "{\"operation\":\"get\",\"key\":\"gone\"}", VC_NOT_FOUND,
              "key not found");
    err_reply(f, "admin.requests", "{\"operation\":\"delete\",\"key\":\"gone\"}", VC_NOT_FOUND,
              "key not found");
    assert_absent(f, "gone");
}

/* The names of a list reply's data, joined by ','. */
static void list_names(json_t *j, char *out, size_t cap)
{
    json_t *data = json_object_get(j, "data");
    size_t i;
    json_t *v;
    out[0] = '\0';
    assert_true(json_is_array(data));
    json_array_foreach(data, i, v)
    {
        size_t used = strlen(out);
        int w = snprintf(out + used, cap - used, "%s%s", i ? "," : "", json_string_value(v));
        assert_true(w >= 0 && (size_t)w < cap - used);
    }
}

static void test_list_paging(void **state)
{
    fixture *f = *state;
    static const char *const keys[] = {"k05", "k01", "other/x", "k03", "k02", "k04", "K9"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char req[128];
        int w = snprintf(req, sizeof req, "{\"operation\":\"set\",\"key\":\"%s\",\"value\":%zu}",
                         keys[i], i);
        assert_true(w > 0 && (size_t)w < sizeof req);
        json_decref(ok(f, "admin.requests", req));
    }
    char names[256];
    json_t *j = ok(f, "admin.requests", "{\"operation\":\"list\"}");
    list_names(j, names, sizeof names);
    assert_string_equal(names, "K9,k01,k02,k03,k04,k05,other/x");
    assert_null(json_object_get(j, "meta"));
    json_decref(j);

    j = ok(f, "admin.requests",
           "{\"operation\":\"list\",\"prefix\":\"k\",\"limit\":2,\"id\":\"p1\"}");
    list_names(j, names, sizeof names);
    assert_string_equal(names, "k01,k02");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "meta"), "next")),
                        "k02");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "p1");
    json_decref(j);

    j = ok(f, "admin.requests",
           "{\"operation\":\"list\",\"prefix\":\"k\","
           "\"limit\":2,\"after\":\"k02\"}");
    list_names(j, names, sizeof names);
    assert_string_equal(names, "k03,k04");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "meta"), "next")),
                        "k04");
    json_decref(j);

    char text[256];
    vc_code code;
    j = run(f, "admin.requests",
            "{\"operation\":\"list\",\"prefix\":\"k\","
            "\"limit\":2,\"after\":\"k04\"}",
            &code, text, sizeof text);
    assert_string_equal(text, "{\"status\":\"success\",\"data\":[\"k05\"]}");
    json_decref(j);

    j = ok(f, "admin.requests", "{\"operation\":\"list\",\"prefix\":\"zz\"}");
    list_names(j, names, sizeof names);
    assert_string_equal(names, "");
    json_decref(j);

    err_reply(f, "admin.requests", "{\"operation\":\"list\",\"limit\":0}", VC_BAD_REQUEST, NULL);
}

static void test_rotate_status(void **state)
{
    fixture *f = *state;
    json_decref(ok(f, NULL, "{\"operation\":\"set\",\"key\":\"a\",\"value\":\"1\"}"));
    json_decref(ok(f, NULL, "{\"operation\":\"set\",\"key\":\"b\",\"value\":\"2\"}"));

    json_t *j = ok(f, "admin.requests", "{\"operation\":\"status\",\"id\":5}");
    json_t *d = json_object_get(j, "data");
    assert_string_equal(json_string_value(json_object_get(d, "service")), "vaultctl");
    assert_string_equal(json_string_value(json_object_get(d, "version")), "9.9.9");
    assert_int_equal(json_integer_value(json_object_get(d, "keys")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "key_version")), 1);
    assert_true(json_is_null(json_object_get(d, "last_rotation")));
    assert_true(json_is_integer(json_object_get(d, "uptime_s")));
    assert_true(json_integer_value(json_object_get(d, "uptime_s")) >= 0);
    json_t *st = json_object_get(d, "storage");
    assert_string_equal(json_string_value(json_object_get(st, "backend")), "lmdb");
    assert_string_equal(json_string_value(json_object_get(st, "path")), f->tv.dir);
    assert_true(json_integer_value(json_object_get(st, "map_size")) > 0);
    assert_true(json_integer_value(json_object_get(st, "used_bytes")) > 0);
    assert_int_equal(json_integer_value(json_object_get(d, "audit_dropped")), 0);
    assert_int_equal(f->extra_calls, 1);
    assert_null(json_object_get(j, "meta"));
    json_decref(j);

    char text[256];
    vc_code code;
    j = run(f, "admin.requests", "{\"operation\":\"rotate\",\"id\":6}", &code, text, sizeof text);
    assert_int_equal(code, VC_OK);
    assert_string_equal(text, "{\"status\":\"success\",\"data\":"
                              "{\"key_version\":2,\"reencrypted\":2,"
                              "\"skipped\":0,\"old_keys_kept\":0},\"id\":6}");
    json_decref(j);

    j = ok(f, NULL, "{\"operation\":\"get\",\"key\":\"b\"}");
    assert_string_equal(json_string_value(json_object_get(j, "data")), "2");
    json_decref(j);

    j = ok(f, NULL, "{\"operation\":\"status\"}");
    d = json_object_get(j, "data");
    assert_int_equal(json_integer_value(json_object_get(d, "key_version")), 2);
    assert_true(is_rfc3339(json_string_value(json_object_get(d, "last_rotation"))));
    json_decref(j);
}

static void test_acl_rules(void **state)
{
    fixture *f = *state;
    json_decref(ok(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"k\",\"value\":\"v\"}"));

    /* user: get and set only. */
    json_decref(ok(f, "user.requests", "{\"operation\":\"get\",\"key\":\"k\"}"));
    json_decref(ok(f, "user.requests", "{\"operation\":\"set\",\"key\":\"u\",\"value\":1}"));
    err_reply(f, "user.requests", "{\"operation\":\"delete\",\"key\":\"k\"}", VC_ACCESS_DENIED,
              "Access denied");
    err_reply(f, "user.requests", "{\"operation\":\"list\"}", VC_ACCESS_DENIED, "Access denied");
    err_reply(f, "user.requests", "{\"operation\":\"rotate\"}", VC_ACCESS_DENIED, "Access denied");
    err_reply(f, "user.requests", "{\"operation\":\"status\"}", VC_ACCESS_DENIED, "Access denied");

    /* No rule for the request subject itself, or any other. */
    err_reply(f, "vault.requests", "{\"operation\":\"get\",\"key\":\"k\"}", VC_ACCESS_DENIED,
              "Access denied");
    err_reply(f, "nobody", "{\"operation\":\"status\"}", VC_ACCESS_DENIED, "Access denied");

    /* First match decides: team.ro.requests may not delete although the
     * later team.*.requests rule would allow it. */
    json_decref(ok(f, "team.ro.requests", "{\"operation\":\"list\"}"));
    err_reply(f, "team.ro.requests", "{\"operation\":\"delete\",\"key\":\"k\"}", VC_ACCESS_DENIED,
              "Access denied");
    json_decref(ok(f, "team.rw.requests", "{\"operation\":\"status\"}"));

    /* Denied rotate changed nothing. */
    json_t *j = ok(f, NULL, "{\"operation\":\"status\"}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "key_version")),
                     1);
    json_decref(j);

    /* The delete went through for a permitted subject only. */
    json_decref(ok(f, "team.rw.requests", "{\"operation\":\"delete\",\"key\":\"k\"}"));
    assert_absent(f, "k");

    /* An error reply with an id echoes it; denial log says why. */
    char text[256];
    vc_code code;
    j = run(f, "user.requests", "{\"operation\":\"list\",\"id\":[1]}", &code, text, sizeof text);
    assert_int_equal(code, VC_BAD_REQUEST);
    json_decref(j);
    j = run(f, "user.requests", "{\"operation\":\"list\",\"id\":\"q\"}", &code, text, sizeof text);
    assert_string_equal(text, "{\"status\":\"error\",\"code\":\"access_denied\","
                              "\"message\":\"Access denied\",\"id\":\"q\"}");
    json_decref(j);
}

static void test_spoofed_subject(void **state)
{
    fixture *f = *state;
    err_reply(f, "user.requests",
              "{\"operation\":\"set\",\"key\":\"spoof\",\"value\":1,"
              "\"subject\":\"admin.requests\"}",
              VC_ACCESS_DENIED, "Access denied");
    err_reply(f, "user.requests",
              "{\"operation\":\"get\",\"key\":\"spoof\","
              "\"subject\":\"admin.requests\"}",
              VC_ACCESS_DENIED, "Access denied");
    err_reply(f, "admin.requests", "{\"operation\":\"status\",\"subject\":\"user.requests\"}",
              VC_ACCESS_DENIED, "Access denied");
    assert_absent(f, "spoof");
    assert_int_equal(record_count(f), 0);
    /* The honest claim is fine. */
    json_decref(ok(f, "user.requests",
                   "{\"operation\":\"set\",\"key\":\"spoof\",\"value\":1,"
                   "\"subject\":\"user.requests\"}"));
}

static void test_local_mode(void **state)
{
    fixture *f = *state;
    /* No ACL applies locally: every operation, even with no rules at all. */
    f->ctx.rules = NULL;
    f->ctx.nrules = 0;
    json_decref(ok(f, NULL, "{\"operation\":\"set\",\"key\":\"l\",\"value\":1}"));
    json_decref(ok(f, NULL, "{\"operation\":\"get\",\"key\":\"l\"}"));
    json_decref(ok(f, NULL, "{\"operation\":\"list\"}"));
    json_decref(ok(f, NULL, "{\"operation\":\"rotate\"}"));
    json_decref(ok(f, NULL, "{\"operation\":\"status\"}"));
    json_decref(ok(f, NULL, "{\"operation\":\"delete\",\"key\":\"l\"}"));
    /* Over NATS the same context denies everything. */
    err_reply(f, "admin.requests", "{\"operation\":\"status\"}", VC_ACCESS_DENIED, "Access denied");
}

static void test_too_large(void **state)
{
    fixture *f = *state;
    char *req = malloc(MAX_REQUEST + 64);
    assert_non_null(req);

    /* Whole request over max_request_bytes: refused before parsing, so no
     * id can be echoed. */
    int w = snprintf(req, MAX_REQUEST + 64,
                     "{\"id\":1,\"operation\":\"set\",\"key\":\"big\","
                     "\"value\":\"%0*d\"}",
                     MAX_REQUEST, 0);
    assert_true(w > MAX_REQUEST);
    char text[512];
    vc_code code;
    json_t *j = run(f, "admin.requests", req, &code, text, sizeof text);
    assert_int_equal(code, VC_TOO_LARGE);
    assert_null(json_object_get(j, "id"));
    assert_string_equal(json_string_value(json_object_get(j, "code")), "too_large");
    json_decref(j);

    /* Value over max_value_bytes inside a small enough request. */
    w = snprintf(req, MAX_REQUEST + 64,
                 "{\"id\":2,\"operation\":\"set\",\"key\":\"big\","
                 "\"value\":\"%0*d\"}",
                 MAX_VALUE, 0);
    assert_true(w > 0 && w < MAX_REQUEST);
    j = run(f, "admin.requests", req, &code, text, sizeof text);
    assert_int_equal(code, VC_TOO_LARGE);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 2);
    json_decref(j);

    /* And locally (no request limit) the value limit still holds. */
    f->ctx.max_request_bytes = 0;
    err_reply(f, NULL, req, VC_TOO_LARGE, NULL);
    assert_absent(f, "big");
    assert_int_equal(record_count(f), 0);
    free(req);
}

static void test_rejected_writes_nothing(void **state)
{
    fixture *f = *state;
    err_reply(f, "admin.requests", "{\"operation\":\"drop\",\"key\":\"x\"}", VC_UNKNOWN_OPERATION,
              NULL);
    err_reply(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"x\",\"value\":null}",
              VC_BAD_REQUEST, "value: must not be null");
    err_reply(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"x\\u0001\",\"value\":1}",
              VC_BAD_REQUEST, NULL);
    err_reply(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"x\",\"value\":1,\"limit\":0}",
              VC_BAD_REQUEST, NULL);
    err_reply(f, "admin.requests",
              "{\"operation\":\"set\",\"key\":\"x\",\"value\":1,"
              "\"value\":2}",
              VC_BAD_REQUEST, NULL);
    err_reply(f, "admin.requests", "", VC_BAD_REQUEST, "empty request");
    err_reply(f, "admin.requests", "[1]", VC_BAD_REQUEST, NULL);
    assert_int_equal(record_count(f), 0);

    char text[512];
    vc_code code;
    json_t *j = run(f, "admin.requests", "{\"operation\":\"purge\",\"id\":\"z\"}", &code, text,
                    sizeof text);
    assert_int_equal(code, VC_UNKNOWN_OPERATION);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "z");
    json_decref(j);
}

/* ---- ops_handle_async ---- */

#define ASYNC_MAX 64
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fixture *f;
    pthread_t caller;
    int finished;
    int calls[ASYNC_MAX];
    bool on_caller[ASYNC_MAX]; /* done ran on the thread that called */
    bool durable[ASYNC_MAX];   /* a set's key was readable inside done */
    vc_code code[ASYNC_MAX];
    char *body[ASYNC_MAX]; /* moved out of the reply */
    int order[ASYNC_MAX];
    const char *key[ASYNC_MAX]; /* set: checked for durability in done */
} async_log;

typedef struct {
    async_log *log;
    int i;
} async_ref;

static async_ref refs[ASYNC_MAX];

static void async_log_init(async_log *l, fixture *f)
{
    memset(l, 0, sizeof *l);
    assert_int_equal(pthread_mutex_init(&l->mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&l->cv, NULL), 0);
    l->f = f;
    l->caller = pthread_self();
    for (int i = 0; i < ASYNC_MAX; i++)
        refs[i] = (async_ref){l, i};
}

static void async_log_free(async_log *l)
{
    for (int i = 0; i < ASYNC_MAX; i++)
        free(l->body[i]);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

/* No cmocka asserts here: it may run on the vault's committer thread. */
static void async_done(void *arg, ops_reply *r)
{
    async_ref *ref = arg;
    async_log *l = ref->log;
    bool durable = false;

    if (l->key[ref->i] != NULL) {
        char *val = NULL;
        size_t len;
        vault_meta meta;
        vc_err err;
        durable = vault_get(l->f->tv.v, l->key[ref->i], strlen(l->key[ref->i]), &val, &len, &meta,
                            &err) == VC_OK;
        free(val);
    }
    pthread_mutex_lock(&l->mu);
    l->calls[ref->i]++;
    l->on_caller[ref->i] = pthread_equal(pthread_self(), l->caller);
    l->durable[ref->i] = durable;
    l->code[ref->i] = r->code;
    free(l->body[ref->i]);
    l->body[ref->i] = r->body; /* moved out: ops must not free it */
    r->body = NULL;
    r->len = 0;
    l->order[l->finished++] = ref->i;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void async_run(async_log *l, int i, const char *arrival, const char *payload)
{
    ops_handle_async(&l->f->ctx, arrival, (const uint8_t *)payload, strlen(payload), async_done,
                     &refs[i]);
}

static void async_wait(async_log *l, int n)
{
    pthread_mutex_lock(&l->mu);
    while (l->finished < n)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

static json_t *async_json(async_log *l, int i)
{
    assert_non_null(l->body[i]);
    json_t *j = json_loads(l->body[i], 0, NULL);
    assert_non_null(j);
    return j;
}

/* Everything but an admitted set or delete is answered before
 * ops_handle_async returns, on the calling thread. */
static void test_async_immediate(void **state)
{
    fixture *f = *state;
    async_log l;
    char big[MAX_REQUEST + 64];

    json_decref(
        ok(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"a/one\",\"value\":\"x\"}"));
    async_log_init(&l, f);
    async_run(&l, 0, "admin.requests", "{\"operation\":\"get\",\"key\":\"a/one\",\"id\":7}");
    async_run(&l, 1, "admin.requests", "{\"operation\":\"list\"}");
    async_run(&l, 2, "admin.requests", "{\"operation\":\"status\"}");
    async_run(&l, 3, "team.ro.x", "{\"operation\":\"set\",\"key\":\"a/two\",\"value\":1}");
    async_run(&l, 4, "admin.requests", "{\"operation\":\"set\",\"key\":\"\"}");
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = '\0';
    async_run(&l, 5, "admin.requests", big);
    async_run(&l, 6, "user.requests", "{\"operation\":\"delete\",\"key\":\"a/one\"}");
    assert_int_equal(l.finished, 7); /* all before returning */
    for (int i = 0; i < 7; i++) {
        assert_int_equal(l.calls[i], 1);
        assert_true(l.on_caller[i]);
    }
    assert_int_equal(l.code[0], VC_OK);
    json_t *j = async_json(&l, 0);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "x");
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
    json_decref(j);
    assert_int_equal(l.code[1], VC_OK);
    assert_int_equal(l.code[2], VC_OK);
    assert_int_equal(l.code[3], VC_ACCESS_DENIED);
    assert_int_equal(l.code[4], VC_BAD_REQUEST);
    assert_int_equal(l.code[5], VC_TOO_LARGE);
    assert_int_equal(l.code[6], VC_ACCESS_DENIED);
    assert_absent(f, "a/two");
    async_log_free(&l);
}

/* Admitted writes: answered once each, after the write is durable (the key
 * is readable inside done), with the request's id and the new version; a
 * delete of an absent key says not_found. */
static void test_async_writes(void **state)
{
    fixture *f = *state;
    enum { N = 40 };
    static char keys[N][32];
    char payload[256];
    async_log l;

    async_log_init(&l, f);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "as/%02d", i);
        snprintf(payload, sizeof payload,
                 "{\"operation\":\"set\",\"key\":\"%.31s\",\"value\":[%d],"
                 "\"id\":%d}",
                 keys[i], i, i);
        l.key[i] = keys[i];
        async_run(&l, i, "admin.requests", payload);
    }
    async_run(&l, N, "admin.requests",
              "{\"operation\":\"delete\",\"key\":\"as/none\",\"id\":\"d\"}");
    async_wait(&l, N + 1);
    usleep(20 * 1000); /* a second call would show up here */
    assert_int_equal(l.finished, N + 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(l.calls[i], 1);
        assert_false(l.on_caller[i]);
        assert_true(l.durable[i]);
        assert_int_equal(l.code[i], VC_OK);
        json_t *j = async_json(&l, i);
        assert_int_equal(json_integer_value(json_object_get(j, "id")), i);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meta"), "version")),
                         1);
        json_decref(j);
    }
    assert_int_equal(l.code[N], VC_NOT_FOUND);
    json_t *j = async_json(&l, N);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "d");
    json_decref(j);
    assert_int_equal(record_count(f), N);
    async_log_free(&l);
}

/* Two writes to one key from one caller: applied and answered in order. */
static void test_async_same_key_order(void **state)
{
    fixture *f = *state;
    async_log l;

    async_log_init(&l, f);
    async_run(&l, 0, "admin.requests",
              "{\"operation\":\"set\",\"key\":\"o/k\",\"value\":\"first\"}");
    async_run(&l, 1, "admin.requests",
              "{\"operation\":\"set\",\"key\":\"o/k\",\"value\":\"second\"}");
    async_run(&l, 2, "admin.requests", "{\"operation\":\"delete\",\"key\":\"o/k\"}");
    async_run(&l, 3, "admin.requests",
              "{\"operation\":\"set\",\"key\":\"o/k\",\"value\":\"third\"}");
    async_wait(&l, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(l.order[i], i);
        assert_int_equal(l.code[i], VC_OK);
    }
    int want[4] = {1, 2, 0, 1};
    for (int i = 0; i < 4; i++) {
        json_t *j = async_json(&l, i);
        json_t *meta = json_object_get(j, "meta");
        if (want[i] == 0)
            assert_null(meta);
        else
            assert_int_equal(json_integer_value(json_object_get(meta, "version")), want[i]);
        json_decref(j);
    }
    json_t *g = ok(f, "admin.requests", "{\"operation\":\"get\",\"key\":\"o/k\"}");
    assert_string_equal(json_string_value(json_object_get(g, "data")), "third");
    json_decref(g);
    async_log_free(&l);
}

/* ops_prepare / ops_prepared_quick / ops_run / ops_cancel: a get or
 * versions without a token, a get with an unwrapped token and every
 * refusal are quick; writes, wrapped gets, versions with a token, list and
 * status are not; done is called only by ops_run (once), never by
 * ops_prepare or ops_cancel. */
static void test_prepare_quick(void **state)
{
    fixture *f = *state;
    async_log l;
    static const struct {
        const char *arrival, *payload;
        bool quick;
        vc_code code;
    } cases[] = {
        {"admin.requests", "{\"operation\":\"get\",\"key\":\"p/one\",\"id\":3}", true, VC_OK},
        {"admin.requests", "{\"operation\":\"versions\",\"key\":\"p/one\"}", true, VC_OK},
        {"admin.requests", "{\"operation\":\"get\",\"key\":\"p/none\"}", true, VC_NOT_FOUND},
        {"team.ro.x", "{\"operation\":\"set\",\"key\":\"p/two\",\"value\":1}", true,
         VC_ACCESS_DENIED},
        {"admin.requests", "{\"operation\":", true, VC_BAD_REQUEST},
        {"admin.requests", "{\"operation\":\"list\"}", false, VC_OK},
        {"admin.requests", "{\"operation\":\"status\"}", false, VC_OK},
        {"admin.requests", "{\"operation\":\"get\",\"key\":\"p/one\",\"token\":\"vct_x\"}", true,
         VC_ACCESS_DENIED}, /* no tokens: true on admin.requests */
        {"admin.requests",
         "{\"operation\":\"get\",\"key\":\"p/one\",\"token\":\"vct_x\",\"wrap_ttl\":\"1m\"}", false,
         VC_ACCESS_DENIED},
        {"admin.requests", "{\"operation\":\"versions\",\"key\":\"p/one\",\"token\":\"vct_x\"}",
         false, VC_ACCESS_DENIED},
        {"admin.requests", "{\"operation\":\"set\",\"key\":\"p/three\",\"value\":3}", false, VC_OK},
    };
    enum { N = sizeof cases / sizeof cases[0] };

    json_decref(
        ok(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"p/one\",\"value\":\"x\"}"));
    async_log_init(&l, f);
    for (int i = 0; i < (int)N; i++) {
        const char *pl = cases[i].payload;
        ops_pending *p = ops_prepare(&f->ctx, cases[i].arrival, NULL, (const uint8_t *)pl,
                                     strlen(pl), async_done, &refs[i]);
        assert_non_null(p);
        assert_int_equal(l.calls[i], 0);
        assert_int_equal(ops_prepared_quick(&f->ctx, p), cases[i].quick);
        ops_run(&f->ctx, cases[i].arrival, p);
    }
    async_wait(&l, N);
    for (int i = 0; i < (int)N; i++) {
        assert_int_equal(l.calls[i], 1);
        assert_int_equal(l.code[i], cases[i].code);
    }
    json_t *j = async_json(&l, 0);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "x");
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 3);
    json_decref(j);

    /* cancelled: never answered, nothing written */
    const char *w = "{\"operation\":\"set\",\"key\":\"p/four\",\"value\":4}";
    ops_pending *p = ops_prepare(&f->ctx, "admin.requests", NULL, (const uint8_t *)w, strlen(w),
                                 async_done, &refs[N]);
    assert_non_null(p);
    ops_cancel(p);
    ops_cancel(NULL);
    assert_int_equal(l.calls[N], 0);
    assert_absent(f, "p/four");
    async_log_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_hash_and_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spoofed_subject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_immediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_same_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_quick, setup, teardown),
    };
    jalloc_install(); /* as the binary runs: jansson's blocks wiped on free */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
