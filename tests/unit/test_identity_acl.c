/* test_identity_acl.c - server-attested identity (identity.h) and the ACL
 * decisions that use it (acl.h: users, accounts, {name} in keys), and the
 * configuration of both (acl_identity, an entry's users/accounts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "config.h"
#include "identity.h"

#define HDR_A1 "{\"acc\":\"AGENTS\",\"user\":\"agent-1\",\"name\":\"chosen-by-client\"}"

static void test_read_rules(void **state)
{
    vc_identity id;
    (void)state;
    identity_read(&id, HDR_A1, "_R_.abc.def", "VAULT");
    assert_true(id.attested);
    assert_string_equal(id.account, "AGENTS");
    assert_string_equal(id.user, "agent-1");
    assert_string_equal(identity_name(&id), "agent-1"); /* never "name" */

    /* No header, a reply outside _R_., the vault's own account: nothing. */
    identity_read(&id, NULL, "_R_.abc.def", "VAULT");
    assert_false(id.attested);
    identity_read(&id, HDR_A1, "_INBOX.x.1", "VAULT");
    assert_false(id.attested);
    identity_read(&id, "{\"acc\":\"VAULT\",\"user\":\"agent-1\"}", "_R_.a.b", "VAULT");
    assert_false(id.attested);
    assert_null(identity_name(&id));
    /* Not JSON, no user, a number, a quote: nothing. */
    identity_read(&id, "acc=AGENTS", "_R_.a.b", NULL);
    assert_false(id.attested);
    identity_read(&id, "{\"acc\":\"AGENTS\"}", "_R_.a.b", NULL);
    assert_false(id.attested);
    identity_read(&id, "{\"acc\":\"AGENTS\",\"user\":7}", "_R_.a.b", NULL);
    assert_false(id.attested);
    identity_read(&id, "{\"acc\":\"AG\\\"ENTS\",\"user\":\"u\"}", "_R_.a.b", NULL);
    assert_false(id.attested);

    /* name_tag wins over user; a name that would widen a pattern is none. */
    identity_read(&id, "{\"acc\":\"A\",\"user\":\"UABC\",\"name_tag\":\"agent-7\"}", "_R_.a.b",
                  NULL);
    assert_string_equal(identity_name(&id), "agent-7");
    identity_read(&id, "{\"acc\":\"A\",\"user\":\"UABC\",\"name_tag\":\"a/*\"}", "_R_.a.b", NULL);
    assert_true(id.attested);
    assert_null(identity_name(&id));

    char buf[IDENTITY_AUDIT_MAX];
    identity_read(&id, HDR_A1, "_R_.abc.def", NULL);
    identity_audit_json(&id, buf, sizeof buf);
    assert_string_equal(buf, "\"identity\":{\"account\":\"AGENTS\",\"user\":\"agent-1\"}");
}

static char *users_a[] = {"agent-*"};
static char *users_1[] = {"agent-1"};
static char *accts[] = {"OTHER"};
static char *own_keys[] = {"agents/{name}/*"};

static void test_acl_with_identity(void **state)
{
    vc_err err;
    vc_identity a1, a2, other, none;
    (void)state;
    identity_read(&a1, HDR_A1, "_R_.a.b", "VAULT");
    identity_read(&a2, "{\"acc\":\"AGENTS\",\"user\":\"agent-2\"}", "_R_.a.b", "VAULT");
    identity_read(&other, "{\"acc\":\"OTHER\",\"user\":\"agent-1\"}", "_R_.a.b", "VAULT");
    identity_read(&none, HDR_A1, "_INBOX.a.b", "VAULT"); /* forged inside the account */

    acl_rule rules[] = {
        {.subject = "agents.requests",
         .ops = OP_BIT(OP_SET),
         .users = users_1,
         .nusers = 1,
         .accounts = accts,
         .naccounts = 1},
        {.subject = "agents.requests",
         .ops = OP_BIT(OP_GET) | OP_BIT(OP_LIST),
         .keys = own_keys,
         .nkeys = 1,
         .users = users_a,
         .nusers = 1},
        {.subject = "agents.requests", .ops = OP_BIT(OP_STATUS)},
    };
    acl_request q = {.arrival = "agents.requests",
                     .op = OP_GET,
                     .key = "agents/agent-1/x",
                     .key_len = 16,
                     .id = &a1};
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_OK);
    /* agent-2 may not read agent-1's key; agent-1 may not read agent-2's. */
    q.id = &a2;
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_ACCESS_DENIED);
    q.id = &a1;
    q.key = "agents/agent-2/x";
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_ACCESS_DENIED);
    /* users and accounts both: agent-1 of OTHER may set, of AGENTS not. */
    q.op = OP_SET;
    q.key = NULL;
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_ACCESS_DENIED);
    q.id = &other;
    assert_true(acl_first_match_id(rules, 3, "agents.requests", &other) == &rules[0]);
    assert_true(acl_first_match_id(rules, 3, "agents.requests", &a1) == &rules[1]);
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_OK);
    /* No identity (forged in the vault's account, or none): only the
     * entry without users/accounts applies, and {name} never expands. */
    q.id = &none;
    q.op = OP_GET;
    q.key = "agents/agent-1/x";
    assert_int_equal(acl_check(rules, 3, &q, &err), VC_ACCESS_DENIED);
    assert_true(acl_first_match_id(rules, 3, "agents.requests", &none) == &rules[2]);
    assert_true(acl_first_match(rules, 3, "agents.requests") == &rules[2]);
    assert_false(acl_key_allowed_id(&rules[1], "agents/agent-1/x", 16, NULL));
    assert_false(acl_key_allowed_id(&rules[1], "agents//x", 9, &none));
    /* The pre-check before the payload is read: every right some entry
     * might give. */
    assert_int_equal(acl_rights(rules, 3, "agents.requests"),
                     OP_BIT(OP_SET) | OP_BIT(OP_GET) | OP_BIT(OP_LIST) | OP_BIT(OP_STATUS));
}

static vc_code load(config **c, const char *yaml, vc_err *err)
{
    char *envp[] = {NULL};
    return config_load_string(c, "t.yaml", yaml, strlen(yaml), envp, err);
}

static void test_config(void **state)
{
    config *c = NULL;
    vc_err err;
    (void)state;
    assert_int_equal(load(&c,
                          "acl_identity: request_info\n"
                          "acl_identity_account: VAULT\n"
                          "acl:\n"
                          "  - subject: agents.requests\n"
                          "    operations: [get]\n"
                          "    keys: [\"agents/{name}/*\"]\n"
                          "    users: [\"agent-*\"]\n"
                          "    accounts: [AGENTS]\n",
                          &err),
                     VC_OK);
    assert_true(c->identity_request_info);
    assert_string_equal(c->acl_identity_account, "VAULT");
    assert_int_equal(c->acl[0].nusers, 1);
    assert_string_equal(c->acl[0].accounts[0], "AGENTS");
    config_free(c);
    c = NULL;

    /* users without acl_identity: an entry that could never match. */
    assert_int_equal(load(&c,
                          "acl:\n"
                          "  - subject: agents.requests\n"
                          "    operations: [get]\n"
                          "    users: [agent-1]\n",
                          &err),
                     VC_CONFIG);
    assert_non_null(strstr(err.msg, "acl_identity"));
    /* A bad pattern and an unknown field: file and line. */
    assert_int_equal(load(&c,
                          "acl_identity: request_info\n"
                          "acl:\n"
                          "  - subject: agents.requests\n"
                          "    operations: [get]\n"
                          "    users: [\"a*b\"]\n",
                          &err),
                     VC_CONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:5: acl[0].users[0]"));
    assert_int_equal(load(&c,
                          "acl_identity: request_info\n"
                          "acl:\n"
                          "  - subject: agents.requests\n"
                          "    operations: [get]\n"
                          "    user: [agent-1]\n",
                          &err),
                     VC_CONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:5:"));
    assert_non_null(strstr(err.msg, "unknown setting"));
    assert_int_equal(load(&c, "acl_identity: header\n", &err), VC_CONFIG);
    assert_non_null(strstr(err.msg, "acl_identity"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_rules),
        cmocka_unit_test(test_acl_with_identity),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
