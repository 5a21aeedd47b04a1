/* test_audit.c - audit event JSON (fields, format, never a value or a name)
 * and the bounded event queue (bound, order, drops, close, threads). The
 * events of real requests are built from ops_handle replies on a real vault
 * in a temp dir, the way service.c builds them. */
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

#include "audit.h"
#include "log.h"
#include "timefmt.h"
#include "ops.h"
#include "testutil.h"

static const char *const hex = "0123456789abcdef";

/* A fixed event for the format tests. */
static audit_event sample(void)
{
    return (audit_event){
        .time_ms = 1764335807123LL, /* 2025-11-28T13:16:47.123Z */
        .instance = "AbCdEfGhIjKlMnOpQrStUv",
        .subject = "admin.requests",
        .op = OP_GET,
        .outcome = VC_OK,
        .latency_us = 153,
        .key_hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    };
}

static json_t *parse(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    if (j == NULL)
        fail_msg("event is not JSON: %s: %s", jerr.text, text);
    assert_true(json_is_object(j));
    return j;
}

static const char *str(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    if (s == NULL)
        fail_msg("field %s missing or not a string", name);
    return s;
}

/* The exact bytes: compact, fields in the documented order. */
static void test_event_exact(void **state)
{
    (void)state;
    audit_event ev = sample();
    size_t len = 0;
    char *s = audit_event_json(&ev, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    assert_string_equal(s, "{\"type\":\"vaultctl.audit.v1\",\"time\":\"2025-11-28T13:16:47.123Z\","
                           "\"instance\":\"AbCdEfGhIjKlMnOpQrStUv\",\"subject\":\"admin.requests\","
                           "\"operation\":\"get\",\"outcome\":\"success\",\"latency_us\":153,"
                           "\"key_hmac\":\"hmac-sha256:"
                           "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}");
    free(s);
}

static void test_event_without_key(void **state)
{
    (void)state;
    audit_event ev = sample();
    ev.key_hash = "";
    ev.op = OP_NONE;
    ev.outcome = VC_BAD_REQUEST;
    size_t len;
    char *s = audit_event_json(&ev, &len);
    json_t *j = parse(s, len);
    assert_null(json_object_get(j, "key_hmac"));
    assert_string_equal(str(j, "operation"), "unknown");
    assert_string_equal(str(j, "outcome"), "bad_request");
    assert_int_equal(json_object_size(j), 7);
    json_decref(j);
    free(s);

    ev.key_hash = NULL;
    ev.instance = NULL;
    ev.subject = NULL;
    s = audit_event_json(&ev, &len);
    j = parse(s, len);
    assert_null(json_object_get(j, "key_hmac"));
    assert_null(json_object_get(j, "instance"));
    assert_string_equal(str(j, "subject"), "");
    json_decref(j);
    free(s);
}

static void test_event_outcomes(void **state)
{
    (void)state;
    static const struct {
        vc_code code;
        const char *name;
    } cases[] = {
        {VC_OK, "success"},
        {VC_BAD_REQUEST, "bad_request"},
        {VC_UNKNOWN_OPERATION, "unknown_operation"},
        {VC_ACCESS_DENIED, "access_denied"},
        {VC_NOT_FOUND, "not_found"},
        {VC_TOO_LARGE, "too_large"},
        {VC_UNAVAILABLE, "unavailable"},
        {VC_INTERNAL, "internal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        audit_event ev = sample();
        ev.outcome = cases[i].code;
        size_t len;
        char *s = audit_event_json(&ev, &len);
        json_t *j = parse(s, len);
        assert_string_equal(str(j, "outcome"), cases[i].name);
        json_decref(j);
        free(s);
    }
    for (int op = 0; op < OP_COUNT; op++) {
        audit_event ev = sample();
        ev.op = (vc_op)op;
        size_t len;
        char *s = audit_event_json(&ev, &len);
        json_t *j = parse(s, len);
        assert_string_equal(str(j, "operation"), op_name((vc_op)op));
        json_decref(j);
        free(s);
    }
}

/* A subject with bytes that are not UTF-8 still gives a valid event. */
static void test_event_bad_utf8_subject(void **state)
{
    (void)state;
    audit_event ev = sample();
    ev.subject = "team.\xff\xfe.requests";
    size_t len;
    char *s = audit_event_json(&ev, &len);
    assert_non_null(s);
    json_t *j = parse(s, len);
    assert_string_equal(str(j, "subject"), "team.\\xff\\xfe.requests");
    json_decref(j);
    free(s);
}

/* Issue 11 item 6: no control byte, quote or non-ASCII byte of a subject
 * reaches an event as itself: an ESC sequence comes out as text. */
static void test_event_subject_escaped(void **state)
{
    (void)state;
    audit_event ev = sample();
    ev.subject = "apps.\x1b[31mred\x1b[0m.caf\xc3\xa9\\\"x";
    size_t len;
    char *s = audit_event_json(&ev, &len);
    assert_non_null(s);
    json_t *j = parse(s, len);
    assert_string_equal(str(j, "subject"), "apps.\\x1b[31mred\\x1b[0m.caf\\xc3\\xa9\\x5c\\x22x");
    for (size_t i = 0; i < len; i++)
        assert_true((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f);
    json_decref(j);
    free(s);

    /* A long one (over the stack buffer) too. */
    char longsub[600];
    memset(longsub, '\x1b', sizeof longsub - 1);
    longsub[sizeof longsub - 1] = '\0';
    ev.subject = longsub;
    s = audit_event_json(&ev, &len);
    assert_non_null(s);
    j = parse(s, len);
    assert_int_equal(strlen(str(j, "subject")), 4 * (sizeof longsub - 1));
    json_decref(j);
    free(s);
}

/* The event as jansson would dump it (what audit.c produced before it
 * formatted events itself): the oracle for test_event_matches_jansson. */
static char *jansson_event(const audit_event *ev)
{
    char when[TIMEFMT_RFC3339_LEN], mac[80];
    json_t *o = json_object();
    const char *subject = ev->subject != NULL ? ev->subject : "";
    char escaped[LOG_ESCAPED_MAX(64)];
    json_t *subj = json_string(log_escape(escaped, sizeof escaped, subject, strlen(subject)));
    timefmt_rfc3339_ms(ev->time_ms, when);
    json_object_set_new(o, "type", json_string(AUDIT_EVENT_TYPE));
    json_object_set_new(o, "time", json_string(when));
    if (ev->instance != NULL)
        json_object_set_new(o, "instance", json_string(ev->instance));
    json_object_set_new(o, "subject", subj);
    json_object_set_new(o, "operation", json_string(op_name(ev->op)));
    json_object_set_new(o, "outcome",
                        json_string(ev->outcome == VC_OK ? "success" : vc_code_name(ev->outcome)));
    json_object_set_new(o, "latency_us", json_integer(ev->latency_us));
    if (ev->key_hash != NULL && ev->key_hash[0] != '\0') {
        snprintf(mac, sizeof mac, "%s%s", AUDIT_HMAC_PREFIX, ev->key_hash);
        json_object_set_new(o, "key_hmac", json_string(mac));
    }
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return out;
}

/* Byte for byte jansson's compact dump of the escaped subject (log.h), for
 * every kind of subject byte: escapes, control characters, DEL, '/', UTF-8
 * of 2 to 4 bytes, and invalid sequences. */
static void test_event_matches_jansson(void **state)
{
    (void)state;
    static const char *const subjects[] = {
        "admin.requests",
        "",
        "a\"b\\c",
        "tab\there\nnl\rcr\bbs\ffeed",
        "ctl\x01\x1f\x7f",
        "team/one.*.>",
        "caf\xc3\xa9.\xe2\x82\xac.\xf0\x9f\x94\x91",
        "bad.\xff",
        "over.\xc0\x80",
        "surr.\xed\xa0\x80",
        "big.\xf4\x90\x80\x80",
        "cut.\xe2\x82",
        "lone.\x80",
        "mix.\xc3\xa9.\xff",
    };
    static const int64_t latencies[] = {0, 153, -1, INT64_MAX};

    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        for (int variant = 0; variant < 4; variant++) {
            audit_event ev = sample();
            ev.subject = subjects[i];
            ev.latency_us = latencies[variant];
            if (variant & 1)
                ev.instance = NULL;
            if (variant & 2)
                ev.key_hash = NULL;
            size_t len = 0;
            char *mine = audit_event_json(&ev, &len);
            char *want = jansson_event(&ev);
            assert_non_null(mine);
            assert_non_null(want);
            assert_string_equal(mine, want);
            assert_int_equal(len, strlen(want));
            free(mine);
            free(want);
        }
    }
}

/* ---- events of real requests ------------------------------------------- */

typedef struct {
    tu_vault tv;
    ops_ctx ctx;
} fixture;

static const acl_rule rules[] = {
    {"admin.requests", OP_ALL_BITS, false, NULL, 0},
    {"user.requests", OP_BIT(OP_GET) | OP_BIT(OP_SET), false, NULL, 0},
};

static int vault_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(tu_vault_open(&f->tv, "test_audit", 64u << 20), 0);
    f->ctx = (ops_ctx){
        .vault = f->tv.v,
        .rules = rules,
        .nrules = sizeof rules / sizeof rules[0],
        .max_value_bytes = 4096,
        .max_request_bytes = 8192,
        .storage_path = f->tv.dir,
        .started = (int64_t)time(NULL),
        .service_version = "9.9.9",
    };
    *state = f;
    return 0;
}

static int vault_teardown(void **state)
{
    fixture *f = *state;
    tu_vault_close(&f->tv);
    free(f);
    return 0;
}

/* Runs payload through ops_handle and builds its event as service.c does. */
static char *event_of(fixture *f, const char *arrival, const char *payload, size_t *len)
{
    ops_reply r;
    ops_handle(&f->ctx, arrival, (const uint8_t *)payload, strlen(payload), &r);
    audit_event ev = {
        .time_ms = (int64_t)time(NULL) * 1000,
        .instance = "inst",
        .subject = arrival,
        .op = r.op,
        .outcome = r.code,
        .latency_us = 1,
        .key_hash = r.key_hash,
    };
    char *s = audit_event_json(&ev, len);
    ops_reply_free(&r);
    assert_non_null(s);
    return s;
}

static bool contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* key_hmac is the vault's audit hash of the name (what `vaultctl audit-hash`
 * prints); neither the value nor the name is anywhere in the event. */
static void test_event_of_requests(void **state)
{
    fixture *f = *state;
    static const char *const secret = "S3cr3t-V4lue-do-not-leak";
    static const char *const name = "db/prod/password-name";
    char payload[512], hash[SEAL_AUDIT_HEX], want[128];
    size_t len;

    vault_audit_hash(f->tv.v, name, strlen(name), hash);
    assert_int_equal(strlen(hash), 64);
    for (size_t i = 0; i < 64; i++)
        assert_non_null(strchr(hex, hash[i]));
    (void)snprintf(want, sizeof want, "hmac-sha256:%s", hash);

    /* operation and, for set, the value (both carry the secret). */
    static const struct {
        const char *op, *value, *outcome;
    } reqs[] = {
        {"set", "\"S3cr3t-V4lue-do-not-leak\"", "success"},
        {"set", "{\"pw\":\"S3cr3t-V4lue-do-not-leak\"}", "success"},
        {"get", NULL, "success"},
        {"delete", NULL, "success"},
        {"get", NULL, "not_found"},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        if (reqs[i].value != NULL)
            (void)snprintf(payload, sizeof payload,
                           "{\"operation\":\"%s\",\"key\":\"%s\",\"value\":%s,\"id\":\"id-1\"}",
                           reqs[i].op, name, reqs[i].value);
        else
            (void)snprintf(payload, sizeof payload,
                           "{\"operation\":\"%s\",\"key\":\"%s\",\"id\":\"id-1\"}", reqs[i].op,
                           name);
        char *s = event_of(f, "admin.requests", payload, &len);
        assert_false(contains(s, len, secret));
        assert_false(contains(s, len, name));
        assert_false(contains(s, len, "id-1"));
        json_t *j = parse(s, len);
        assert_string_equal(str(j, "key_hmac"), want);
        assert_string_equal(str(j, "operation"), reqs[i].op);
        assert_string_equal(str(j, "outcome"), reqs[i].outcome);
        assert_string_equal(str(j, "subject"), "admin.requests");
        json_decref(j);
        free(s);
    }

    /* Denied by the ACL: still one event, with the hash, outcome denied. */
    (void)snprintf(payload, sizeof payload, "{\"operation\":\"delete\",\"key\":\"%s\"}", name);
    char *s = event_of(f, "user.requests", payload, &len);
    json_t *j = parse(s, len);
    assert_string_equal(str(j, "operation"), "delete");
    assert_string_equal(str(j, "outcome"), "access_denied");
    assert_string_equal(str(j, "key_hmac"), want);
    json_decref(j);
    free(s);

    /* list names keys in its reply, never in its event. */
    s = event_of(f, "admin.requests", "{\"operation\":\"set\",\"key\":\"db/a\",\"value\":1}", &len);
    free(s);
    s = event_of(f, "admin.requests", "{\"operation\":\"list\",\"prefix\":\"db/\"}", &len);
    assert_false(contains(s, len, "db/"));
    j = parse(s, len);
    assert_string_equal(str(j, "operation"), "list");
    assert_null(json_object_get(j, "key_hmac"));
    json_decref(j);
    free(s);

    /* Not JSON: operation unknown, bad_request. */
    s = event_of(f, "admin.requests", "not json S3cr3t-V4lue-do-not-leak", &len);
    assert_false(contains(s, len, secret));
    j = parse(s, len);
    assert_string_equal(str(j, "operation"), "unknown");
    assert_string_equal(str(j, "outcome"), "bad_request");
    json_decref(j);
    free(s);
}

/* ---- queue -------------------------------------------------------------- */

static char *dup_event(int i)
{
    char buf[32];
    (void)snprintf(buf, sizeof buf, "{\"n\":%d}", i);
    char *s = strdup(buf);
    assert_non_null(s);
    return s;
}

static void test_queue_bound_and_drops(void **state)
{
    (void)state;
    audit_queue *q = audit_queue_create(3);
    char *ev;
    size_t len;

    assert_non_null(q);
    for (int i = 0; i < 3; i++)
        assert_true(audit_queue_push(q, dup_event(i), 7));
    assert_int_equal(audit_queue_length(q), 3);
    /* Full: dropped, counted, freed (ASan/valgrind would see a leak). */
    assert_false(audit_queue_push(q, dup_event(3), 7));
    assert_false(audit_queue_push(q, dup_event(4), 7));
    assert_int_equal(audit_queue_dropped(q), 2);
    assert_int_equal(audit_queue_length(q), 3);

    /* FIFO, and room again after a pop. */
    assert_true(audit_queue_pop(q, &ev, &len));
    assert_string_equal(ev, "{\"n\":0}");
    assert_int_equal(len, 7);
    free(ev);
    assert_true(audit_queue_push(q, dup_event(5), 7));
    static const char *const order[] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":5}"};
    for (int i = 0; i < 3; i++) {
        assert_true(audit_queue_pop(q, &ev, &len));
        assert_string_equal(ev, order[i]);
        free(ev);
    }
    assert_int_equal(audit_queue_length(q), 0);
    assert_int_equal(audit_queue_dropped(q), 2);

    /* Closed: what is queued is still delivered, then pop ends; pushes are
     * refused and counted. */
    assert_true(audit_queue_push(q, dup_event(6), 7));
    audit_queue_close(q);
    assert_false(audit_queue_push(q, dup_event(7), 7));
    assert_int_equal(audit_queue_dropped(q), 3);
    assert_true(audit_queue_pop(q, &ev, &len));
    assert_string_equal(ev, "{\"n\":6}");
    free(ev);
    assert_false(audit_queue_pop(q, &ev, &len));
    assert_null(ev);
    audit_queue_free(q);
}

static void test_queue_capacity_zero_and_free_full(void **state)
{
    (void)state;
    audit_queue *q = audit_queue_create(0);
    assert_non_null(q);
    assert_true(audit_queue_push(q, dup_event(1), 7));
    assert_false(audit_queue_push(q, dup_event(2), 7));
    assert_int_equal(audit_queue_dropped(q), 1);
    audit_queue_free(q); /* frees the queued event */
    audit_queue_free(NULL);
}

enum { PRODUCERS = 4, PER_PRODUCER = 5000 };

typedef struct {
    audit_queue *q;
    int accepted;
} producer_arg;

static void *producer(void *p)
{
    producer_arg *a = p;
    for (int i = 0; i < PER_PRODUCER; i++)
        if (audit_queue_push(a->q, dup_event(i), 7))
            a->accepted++;
    return NULL;
}

static void *consumer(void *p)
{
    audit_queue *q = p;
    char *ev;
    size_t len;
    intptr_t n = 0;
    while (audit_queue_pop(q, &ev, &len)) {
        free(ev);
        n++;
    }
    return (void *)n;
}

/* Many producers, one consumer: every event is either delivered or counted
 * as dropped, and the one blocked in pop wakes up on close. */
static void test_queue_threads(void **state)
{
    (void)state;
    audit_queue *q = audit_queue_create(8);
    pthread_t prod[PRODUCERS], cons;
    producer_arg args[PRODUCERS];
    void *delivered = NULL;
    int accepted = 0;

    assert_non_null(q);
    assert_int_equal(pthread_create(&cons, NULL, consumer, q), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg){.q = q};
        assert_int_equal(pthread_create(&prod[i], NULL, producer, &args[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(prod[i], NULL);
        accepted += args[i].accepted;
    }
    audit_queue_close(q);
    pthread_join(cons, &delivered);
    assert_int_equal((intptr_t)delivered, accepted);
    assert_int_equal((uint64_t)accepted + audit_queue_dropped(q),
                     (uint64_t)PRODUCERS * PER_PRODUCER);
    fprintf(stderr, "queue threads: %d delivered, %llu dropped\n", accepted,
            (unsigned long long)audit_queue_dropped(q));
    audit_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_exact),
        cmocka_unit_test(test_event_without_key),
        cmocka_unit_test(test_event_outcomes),
        cmocka_unit_test(test_event_bad_utf8_subject),
        cmocka_unit_test(test_event_subject_escaped),
        cmocka_unit_test(test_event_matches_jansson),
        cmocka_unit_test_setup_teardown(test_event_of_requests, vault_setup, vault_teardown),
        cmocka_unit_test(test_queue_bound_and_drops),
        cmocka_unit_test(test_queue_capacity_zero_and_free_full),
        cmocka_unit_test(test_queue_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
