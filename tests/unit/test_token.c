/* test_token.c - token.h (patterns, policies, durations, lifecycle) and
 * vault_token.h (records: issue, use, renew, revoke, purge, rotation) on a
 * real vault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "testutil.h"
#include "token.h"
#include "vault_token.h"

static void test_patterns(void **state)
{
    (void)state;
    assert_true(token_pattern_valid("*", 1));
    assert_true(token_pattern_valid("billing/*", 9));
    assert_true(token_pattern_valid("billing/stripe", 14));
    assert_false(token_pattern_valid("", 0));
    assert_false(token_pattern_valid("a*b", 3));
    assert_false(token_pattern_valid("a**", 3));
    assert_false(token_pattern_valid("a\x01", 2));
    assert_true(token_pattern_match("billing/*", "billing/x", 9));
    assert_true(token_pattern_match("billing/*", "billing/", 8));
    assert_false(token_pattern_match("billing/*", "billing", 7));
    assert_true(token_pattern_match("*", "anything", 8));
    assert_true(token_pattern_match("a", "a", 1));
    assert_false(token_pattern_match("a", "ab", 2));
    assert_true(token_pattern_covers("*", "billing/*"));
    assert_true(token_pattern_covers("billing/*", "billing/a"));
    assert_true(token_pattern_covers("billing/*", "billing/a/*"));
    assert_false(token_pattern_covers("billing/a", "billing/*"));
    assert_false(token_pattern_covers("billing/*", "bill*"));
    assert_true(token_pattern_covers("x", "x"));
}

static void test_durations(void **state)
{
    (void)state;
    int64_t v;
    assert_true(token_parse_duration_text("90s", 3, &v));
    assert_int_equal(v, 90);
    assert_true(token_parse_duration_text("15m", 3, &v));
    assert_int_equal(v, 900);
    assert_true(token_parse_duration_text("1h30m", 5, &v));
    assert_int_equal(v, 5400);
    assert_true(token_parse_duration_text("7d", 2, &v));
    assert_int_equal(v, 604800);
    assert_true(token_parse_duration_text("3600", 4, &v));
    assert_int_equal(v, 3600);
    assert_false(token_parse_duration_text("", 0, &v));
    assert_false(token_parse_duration_text("1h30", 4, &v));
    assert_false(token_parse_duration_text("h", 1, &v));
    assert_false(token_parse_duration_text("5x", 2, &v));
    assert_false(token_parse_duration_text("-5", 2, &v));
    assert_false(token_parse_duration_text("99999999999999999999s", 21, &v));
    json_t *j = json_integer(-1);
    assert_false(token_parse_duration(j, &v));
    json_decref(j);
    j = json_real(1.5);
    assert_false(token_parse_duration(j, &v));
    json_decref(j);
}

static void test_policy(void **state)
{
    (void)state;
    vc_err err;
    json_t *out;
    unsigned ops;
    json_t *p = json_loads("{\"keys\":[\"a/*\"],\"operations\":[\"get\",\"issue\"]}", 0, NULL);
    assert_int_equal(token_policy_parse(p, &out, &ops, &err), VC_OK);
    assert_int_equal(ops, OP_BIT(OP_GET) | OP_BIT(OP_ISSUE));
    json_t *c = json_loads("{\"keys\":[\"a/b\"],\"operations\":[\"get\"]}", 0, NULL);
    json_t *cn;
    assert_int_equal(token_policy_parse(c, &cn, &ops, &err), VC_OK);
    assert_true(token_policy_within(out, cn));
    assert_false(token_policy_within(cn, out));
    json_decref(cn);
    json_decref(c);
    json_decref(out);
    json_decref(p);
    const char *bad[] = {
        "{\"keys\":[],\"operations\":[\"get\"]}",
        "{\"keys\":[\"a\"],\"operations\":[\"rotate\"]}",
        "{\"keys\":[\"a\"],\"operations\":[\"nope\"]}",
        "{\"keys\":[1],\"operations\":[]}",
        "{\"operations\":[]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_int_equal(token_policy_parse(p, &out, &ops, &err), VC_BAD_REQUEST);
        json_decref(p);
    }
}

static json_t *new_rec(int64_t ttl, int64_t uses, const char *parent)
{
    int64_t now = (int64_t)time(NULL);
    return json_pack("{s:{s:[s],s:[s]},s:s?,s:I,s:I,s:I,s:I,s:I,s:b}", "policy", "keys", "*",
                     "operations", "get", "parent", parent, "issued_at", (json_int_t)now,
                     "expires_at", (json_int_t)(now + ttl), "max_expires_at",
                     (json_int_t)(now + 2 * ttl), "ttl", (json_int_t)ttl, "uses_left",
                     (json_int_t)uses, "renewable", 1);
}

static void test_records(void **state)
{
    (void)state;
    tu_vault tv;
    vc_err err;
    char tok[64], ctok[64], gtok[64], etok[64];
    assert_int_equal(tu_vault_open(&tv, "vaultctl-test-token", 0), 0);

    json_t *rec = new_rec(600, 2, NULL);
    assert_int_equal(vtok_issue(tv.v, rec, false, tok, &err), VC_OK);
    assert_int_equal(strlen(tok), TOKEN_STR_LEN);
    char acc[64];
    strcpy(acc, json_string_value(json_object_get(rec, "accessor")));
    json_decref(rec);

    json_t *found = NULL;
    assert_int_equal(vtok_find(tv.v, tok, strlen(tok), NULL, &found, &err), VC_OK);
    json_decref(found);
    assert_int_equal(vtok_find(tv.v, NULL, 0, acc, &found, &err), VC_OK);
    json_decref(found);
    assert_int_equal(vtok_find(tv.v, "vct_x", 5, NULL, &found, &err), VC_TOKEN_INVALID);

    json_t *after = NULL;
    assert_int_equal(vtok_use(tv.v, tok, strlen(tok), &after, &err), VC_OK);
    assert_int_equal(json_integer_value(json_object_get(after, "uses_left")), 1);
    json_decref(after);
    assert_int_equal(vtok_use(tv.v, tok, strlen(tok), NULL, &err), VC_OK);
    assert_int_equal(vtok_use(tv.v, tok, strlen(tok), NULL, &err), VC_TOKEN_INVALID);

    /* a tree: tok <- child <- grandchild; revoking tok removes all three */
    rec = new_rec(600, -1, acc);
    assert_int_equal(vtok_issue(tv.v, rec, false, ctok, &err), VC_OK);
    char cacc[64];
    strcpy(cacc, json_string_value(json_object_get(rec, "accessor")));
    json_decref(rec);
    rec = new_rec(600, -1, cacc);
    assert_int_equal(vtok_issue(tv.v, rec, false, gtok, &err), VC_OK);
    json_decref(rec);
    /* expired one */
    rec = new_rec(-5, -1, NULL);
    assert_int_equal(vtok_issue(tv.v, rec, false, etok, &err), VC_OK);
    json_decref(rec);
    assert_int_equal(vtok_use(tv.v, etok, strlen(etok), NULL, &err), VC_TOKEN_EXPIRED);

    /* renew: never past max_expires_at */
    assert_int_equal(vtok_renew(tv.v, cacc, 100000, &after, &err), VC_OK);
    assert_int_equal(json_integer_value(json_object_get(after, "expires_at")),
                     json_integer_value(json_object_get(after, "max_expires_at")));
    json_decref(after);

    uint32_t kv;
    uint64_t re;
    assert_int_equal(vault_rotate(tv.v, &kv, &re, &err), VC_OK);
    assert_int_equal(vtok_use(tv.v, gtok, strlen(gtok), NULL, &err), VC_OK);

    uint64_t n = 0;
    assert_int_equal(vtok_count(tv.v, &n, &err), VC_OK);
    assert_int_equal(n, 4);
    assert_int_equal(vtok_purge(tv.v, (int64_t)time(NULL), &n, &err), VC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(vtok_revoke(tv.v, acc, &n, &err), VC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(vtok_use(tv.v, gtok, strlen(gtok), NULL, &err), VC_TOKEN_INVALID);
    assert_int_equal(vtok_count(tv.v, &n, &err), VC_OK);
    assert_int_equal(n, 0);
    /* a child of a revoked parent cannot be issued */
    rec = new_rec(600, -1, acc);
    assert_int_equal(vtok_issue(tv.v, rec, false, ctok, &err), VC_TOKEN_INVALID);
    json_decref(rec);
    tu_vault_close(&tv);
}

/* A backup carries the tokens; a restored vault opens them. */
static void test_backup(void **state)
{
    (void)state;
    tu_vault tv;
    vc_err err;
    char tok[64], bak[TU_DIR_MAX + 32], dir2[TU_DIR_MAX + 32];
    assert_int_equal(tu_vault_open(&tv, "vaultctl-test-token-bak", 0), 0);
    json_t *rec = new_rec(600, 5, NULL);
    assert_int_equal(vtok_issue(tv.v, rec, false, tok, &err), VC_OK);
    json_decref(rec);
    assert_int_equal(vtok_use(tv.v, tok, strlen(tok), NULL, &err), VC_OK);
    snprintf(bak, sizeof bak, "%s/backup.mdb", tv.dir);
    snprintf(dir2, sizeof dir2, "%s/restored", tv.dir);
    assert_int_equal(vault_backup(tv.v, bak, &err), VC_OK);
    assert_int_equal(vault_restore(dir2, 0, tv.m, "test key", bak, false, NULL, &err), VC_OK);
    vault *v2 = NULL;
    assert_int_equal(vault_open(&v2, dir2, 0, tv.m, &err), VC_OK);
    json_t *after = NULL;
    assert_int_equal(vtok_use(v2, tok, strlen(tok), &after, &err), VC_OK);
    assert_int_equal(json_integer_value(json_object_get(after, "uses_left")), 3);
    json_decref(after);
    vault_close(v2);
    tu_vault_close(&tv);
}

/* Audit events name a token by its accessor's keyed hash, never more. */
static void test_audit_event(void **state)
{
    (void)state;
    char hash[65];
    memset(hash, 'a', 64);
    hash[64] = '\0';
    audit_event ev = {.time_ms = 1,
                      .subject = "agents.requests",
                      .op = OP_GET,
                      .outcome = VC_OK,
                      .token_hash = hash};
    size_t len;
    char *j = audit_event_json(&ev, &len);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"token_hmac\":\"" AUDIT_HMAC_PREFIX));
    assert_null(strstr(j, "key_hmac"));
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns),    cmocka_unit_test(test_durations),
        cmocka_unit_test(test_policy),      cmocka_unit_test(test_records),
        cmocka_unit_test(test_audit_event), cmocka_unit_test(test_backup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
