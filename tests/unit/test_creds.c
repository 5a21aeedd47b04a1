/* test_creds.c - nats_credentials and the creds operation without NATS:
 * the configuration (roles, {name}, ttl and max_ttl, ACL roles, errors that
 * name the file and line), minting (fresh keys, {name} filled in, ttl
 * lowered to max_ttl, a side with no subjects denying everything,
 * issuer_account for a signing key, the seed nowhere in the audit text),
 * name checks in the request parser, and the ACL's roles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "acl.h"
#include "config.h"
#include "creds.h"
#include "nkey.h"
#include "proto.h"
#include "testutil.h"

typedef struct {
    char dir[TU_DIR_MAX];
    char seed_path[TU_DIR_MAX + 32];
    char account[NKEY_PUBLIC_LEN + 1];
    char signer_pub[NKEY_PUBLIC_LEN + 1];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    nkey *acct = NULL, *sk = NULL;
    char seed[NKEY_SEED_LEN + 2];
    vc_err err;
    if (f == NULL || tu_tmpdir(f->dir, sizeof f->dir, "vaultctl-creds") == NULL ||
        nkey_generate(&acct, NKEY_ACCOUNT, &err) != VC_OK ||
        nkey_generate(&sk, NKEY_ACCOUNT, &err) != VC_OK)
        return -1;
    nkey_public(acct, f->account);
    nkey_public(sk, f->signer_pub);
    nkey_seed(sk, seed);
    strcat(seed, "\n");
    tu_path(f->seed_path, sizeof f->seed_path, f->dir, "account-signing.nk");
    if (tu_write_text(f->seed_path, seed) != 0)
        return -1;
    nkey_free(acct);
    nkey_free(sk);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static config *load(const fixture *f, const char *roles_and_acl, vc_err *err)
{
    char yaml[4096];
    config *c = NULL;
    snprintf(yaml, sizeof yaml,
             "nats_credentials:\n"
             "  account: %s\n"
             "  signing_key: %s\n"
             "%s",
             f->account, f->seed_path, roles_and_acl);
    if (config_load_string(&c, "test.yaml", yaml, strlen(yaml), NULL, err) != VC_OK)
        return NULL;
    return c;
}

static const char roles_yaml[] = "  roles:\n"
                                 "    agent:\n"
                                 "      publish: [\"agents.requests\", \"agents.{name}.>\"]\n"
                                 "      subscribe: [\"_INBOX.{name}.>\", \"agents.{name}.>\"]\n"
                                 "      ttl: 15m\n"
                                 "      max_ttl: 1h\n"
                                 "    sender:\n"
                                 "      publish: events.{name}\n"
                                 "      max_ttl: 10s\n"
                                 "acl:\n"
                                 "  - subject: admin.requests\n"
                                 "    operations: [creds, get]\n"
                                 "  - subject: ops.requests\n"
                                 "    operations: [creds]\n"
                                 "    roles: [sender]\n";

static void test_config_roles(void **state)
{
    fixture *f = *state;
    vc_err err;
    config *c = load(f, roles_yaml, &err);
    if (c == NULL)
        fail_msg("%s", err.msg);
    assert_string_equal(c->creds_account, f->account);
    assert_int_equal(c->creds_nroles, 2);
    assert_string_equal(c->creds_roles[0].name, "agent");
    assert_int_equal(c->creds_roles[0].npublish, 2);
    assert_string_equal(c->creds_roles[0].publish[1], "agents.{name}.>");
    assert_int_equal(c->creds_roles[0].ttl_s, 900);
    assert_int_equal(c->creds_roles[0].max_ttl_s, 3600);
    assert_int_equal(c->creds_roles[1].npublish, 1);
    assert_int_equal(c->creds_roles[1].nsubscribe, 0);
    assert_int_equal(c->creds_roles[1].max_ttl_s, 10);
    assert_int_equal(c->creds_roles[1].ttl_s, 10); /* default 15m lowered to max_ttl */
    assert_null(c->acl[0].roles);                  /* every role */
    assert_int_equal(c->acl[1].nroles, 1);
    assert_string_equal(c->acl[1].roles[0], "sender");
    config_free(c);
}

static void expect_error(const fixture *f, const char *yaml, const char *needle)
{
    vc_err err;
    config *c = load(f, yaml, &err);
    if (c != NULL) {
        config_free(c);
        fail_msg("loaded, expected an error with %s", needle);
    }
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_config_errors(void **state)
{
    fixture *f = *state;
    expect_error(f, "  roles:\n    a.b:\n      publish: [x]\n", "test.yaml:5: nats_credentials");
    expect_error(f, "  roles:\n    r:\n      publish: [\"a..b\"]\n", "test.yaml:6:");
    expect_error(f, "  roles:\n    r:\n      publish: [x]\n      color: red\n",
                 "test.yaml:7: nats_credentials.roles.r.color: unknown setting");
    expect_error(f, "  roles:\n    r:\n      ttl: 2h\n      max_ttl: 1h\n", "longer than max_ttl");
    expect_error(f, "  roles:\n    r:\n      ttl: soon\n", "test.yaml:6:");
    expect_error(f,
                 "  roles:\n    r: {}\nacl:\n  - subject: a\n    operations: [creds]\n"
                 "    roles: [nope]\n",
                 "acl[0].roles: no role nope");
    /* account not an account key */
    vc_err err;
    config *c = NULL;
    const char bad[] = "nats_credentials:\n  account: UABC\n  signing_key: /x\n";
    assert_int_equal(config_load_string(&c, "t.yaml", bad, strlen(bad), NULL, &err), VC_CONFIG);
    assert_non_null(strstr(err.msg, "not an account public key"));
    const char nokey[] = "nats_credentials:\n  roles:\n    r: {}\n";
    assert_int_equal(config_load_string(&c, "t.yaml", nokey, strlen(nokey), NULL, &err), VC_CONFIG);
}

/* The claims of a JWT (no signature check: test_nkey_jwt does that). */
static json_t *claims_of(const char *jwt)
{
    const char *d1 = strchr(jwt, '.'), *d2 = strrchr(jwt, '.');
    uint8_t buf[4096];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(buf, sizeof buf, d1 + 1, (size_t)(d2 - d1 - 1), NULL, &n,
                                       NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    return json_loadb((const char *)buf, n, 0, NULL);
}

static void test_mint(void **state)
{
    fixture *f = *state;
    vc_err err;
    config *c = load(f, roles_yaml, &err);
    creds_signer *s = NULL;
    json_t *data = NULL, *meta = NULL;
    creds_audit audit;
    assert_non_null(c);
    assert_int_equal(creds_signer_load(&s, c, &err), VC_OK);
    assert_non_null(s);

    /* ttl 2h asked, max_ttl 1h: lowered, and the reply says so. */
    assert_int_equal(
        creds_mint(s, "agent", "agent-7", 7, 7200, true, 1700000000, &data, &meta, &audit, &err),
        VC_OK);
    const char *jwt = json_string_value(json_object_get(data, "jwt"));
    const char *seed = json_string_value(json_object_get(data, "seed"));
    const char *pub = json_string_value(json_object_get(data, "public_key"));
    const char *creds = json_string_value(json_object_get(data, "creds"));
    assert_true(nkey_public_valid(pub, NKEY_USER));
    assert_memory_equal(seed, "SU", 2);
    assert_non_null(strstr(creds, jwt));
    assert_non_null(strstr(creds, seed));
    json_t *life = json_object_get(meta, "lifecycle");
    assert_int_equal(json_integer_value(json_object_get(life, "ttl")), 3600);
    assert_string_equal(json_string_value(json_object_get(life, "issued_at")),
                        "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(life, "expires_at")),
                        "2023-11-14T23:13:20Z");
    json_t *cl = claims_of(jwt);
    assert_int_equal(json_integer_value(json_object_get(cl, "exp")), 1700003600);
    assert_string_equal(json_string_value(json_object_get(cl, "iss")), f->signer_pub);
    assert_string_equal(json_string_value(json_object_get(cl, "sub")), pub);
    assert_string_equal(json_string_value(json_object_get(cl, "name")), "agent-7");
    json_t *n = json_object_get(cl, "nats");
    assert_string_equal(json_string_value(json_object_get(n, "issuer_account")), f->account);
    json_t *pa = json_object_get(json_object_get(n, "pub"), "allow");
    assert_string_equal(json_string_value(json_array_get(pa, 1)), "agents.agent-7.>");
    json_t *sa = json_object_get(json_object_get(n, "sub"), "allow");
    assert_string_equal(json_string_value(json_array_get(sa, 0)), "_INBOX.agent-7.>");
    /* The audit text: key, role, name, expiry; never the seed or JWT. */
    assert_non_null(strstr(audit.json, pub));
    assert_non_null(strstr(audit.json, "\"role\":\"agent\""));
    assert_non_null(strstr(audit.json, "\"name\":\"agent-7\""));
    assert_non_null(strstr(audit.json, "2023-11-14T23:13:20Z"));
    assert_null(strstr(audit.json, seed));
    assert_null(strstr(audit.json, "eyJ"));
    char first[NKEY_PUBLIC_LEN + 1];
    snprintf(first, sizeof first, "%s", pub);
    json_decref(cl);
    json_decref(data);
    json_decref(meta);

    /* No subscribe list: deny >, no allow; default ttl; a fresh key. */
    assert_int_equal(
        creds_mint(s, "sender", "s1", 2, 0, false, 1700000000, &data, &meta, &audit, &err), VC_OK);
    assert_string_not_equal(json_string_value(json_object_get(data, "public_key")), first);
    cl = claims_of(json_string_value(json_object_get(data, "jwt")));
    n = json_object_get(cl, "nats");
    assert_null(json_object_get(json_object_get(n, "sub"), "allow"));
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_object_get(n, "sub"), "deny"), 0)),
        ">");
    assert_int_equal(json_integer_value(json_object_get(cl, "exp")), 1700000010);
    json_decref(cl);
    json_decref(data);
    json_decref(meta);

    /* Unknown role, bad names. */
    assert_int_equal(
        creds_mint(s, "root", "x", 1, 0, false, 1700000000, &data, &meta, &audit, &err),
        VC_BAD_REQUEST);
    assert_null(data);
    static const char *const bad[] = {"a.b", "*", ">", "", "a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(creds_mint(s, "agent", bad[i], strlen(bad[i]), 0, false, 1700000000, &data,
                                    &meta, &audit, &err),
                         VC_BAD_REQUEST);
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(creds_name_valid(long_name, 65));
    assert_true(creds_name_valid(long_name, 64));
    creds_signer_free(s);
    config_free(c);
}

/* The ttl field goes through the shared duration parser (test_vault_lifecycle
 * tests the syntax itself). */
static void test_durations(void **state)
{
    int64_t v;
    bool given;
    vc_err err;
    (void)state;
    json_t *j = json_string("10m");
    assert_int_equal(creds_ttl_field(j, &v, &given, &err), VC_OK);
    assert_true(given);
    assert_int_equal(v, 600);
    json_decref(j);
    j = json_integer(0);
    assert_int_equal(creds_ttl_field(j, &v, &given, &err), VC_BAD_REQUEST);
    json_decref(j);
    j = json_string("0s");
    assert_int_equal(creds_ttl_field(j, &v, &given, &err), VC_BAD_REQUEST);
    json_decref(j);
    assert_int_equal(creds_ttl_field(NULL, &v, &given, &err), VC_OK);
    assert_false(given);
}

static vc_code parse(const char *text, proto_request *r)
{
    vc_err err;
    return proto_parse(r, (const uint8_t *)text, strlen(text), 0, &err);
}

static void test_proto_and_acl(void **state)
{
    proto_request r;
    (void)state;
    assert_int_equal(parse("{\"operation\":\"creds\",\"role\":\"agent\",\"name\":\"agent-7\","
                           "\"ttl\":\"5s\"}",
                           &r),
                     VC_OK);
    assert_int_equal(r.op, OP_CREDS);
    assert_string_equal(r.role, "agent");
    assert_int_equal(r.name_len, 7);
    assert_non_null(r.creds_ttl);
    proto_request_free(&r);
    static const char *const bad[] = {
        "{\"operation\":\"creds\",\"role\":\"agent\",\"name\":\"a.b\"}",
        "{\"operation\":\"creds\",\"role\":\"agent\",\"name\":\"*\"}",
        "{\"operation\":\"creds\",\"role\":\"agent\",\"name\":\">\"}",
        "{\"operation\":\"creds\",\"role\":\"agent\"}",
        "{\"operation\":\"creds\",\"name\":\"x\"}",
        "{\"operation\":\"creds\",\"role\":\"agent\",\"name\":"
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &r), VC_BAD_REQUEST);
        proto_request_free(&r);
    }

    char *sender[] = {"sender"};
    acl_rule rules[] = {
        {.subject = "ops.requests", .ops = OP_BIT(OP_CREDS), .roles = sender, .nroles = 1},
        {.subject = "admin.requests", .ops = OP_ALL_BITS},
        {.subject = "none.requests", .ops = OP_BIT(OP_CREDS), .roles = sender, .nroles = 0},
    };
    vc_err err;
    acl_request q = {.arrival = "ops.requests", .op = OP_CREDS, .role = "sender"};
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_OK);
    q.role = "agent";
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_ACCESS_DENIED);
    q.arrival = "admin.requests";
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_OK);
    q.arrival = "none.requests";
    q.role = "sender";
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_ACCESS_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mint, setup, teardown),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_proto_and_acl),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
