/* test_identity.c - ACL entries by server-attested identity (issue 14,
 * PROTOCOL.md §11) against a real nats-server with two accounts, as
 * examples/two-account sets them up: vaultctl and the admin in VAULT, which
 * exports agents.requests and team.requests as services; agent-1 and
 * agent-2 in AGENTS, which imports them with share: true. A test-only user
 * "insider" in VAULT breaks the deployment rule on purpose, to show that
 * its forged Nats-Request-Info header grants nothing.
 *
 *   agents.requests  accounts: [AGENTS], keys agents/{name}/(any): each agent
 *                    its own namespace (the example's entry)
 *   team.requests    users [agent-1] + accounts [AGENTS]: get team/(any);
 *                    users [agent-2] + accounts [NOPE]: never;
 *                    users [agent-2]: list only
 *
 * Also: an agent's forged header through the import is overwritten by the
 * server (agent-1 cannot claim agent-2); the audit event names the attested
 * account and user; the example's config.yaml passes `serve --check`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "testutil.h"

#define PW_VAULT   "vault-pw-ident"
#define PW_ADMIN   "admin-pw-ident"
#define PW_AGENT1  "agent1-pw-ident"
#define PW_AGENT2  "agent2-pw-ident"
#define PW_INSIDER "insider-pw-ident"

static it_nats nats;
static it_vault vlt;
static natsConnection *admin, *agent1, *agent2, *insider;

/* The example's accounts, a second exported subject (team.requests) and the
 * insider. */
static const char conf[] =
    "accounts: {\n"
    "  VAULT: {\n"
    "    users: [\n"
    "      { user: vault, password: " PW_VAULT ",\n"
    "        permissions: { publish: { allow: [\"vault.replies\", \"vault.audit\"] },\n"
    "          subscribe: { allow: [\"agents.requests\", \"team.requests\", \"admin.requests\",\n"
    "                               \"$SRV.>\"] },\n"
    "          allow_responses: { max: 1, expires: \"1m\" } } }\n"
    "      { user: admin, password: " PW_ADMIN ",\n"
    "        permissions: { publish: { allow: [\"admin.requests\", \"$SRV.>\"] },\n"
    "          subscribe: { allow: [\"_INBOX.admin.>\", \"vault.replies\", \"vault.audit\"] } } }\n"
    "      { user: insider, password: " PW_INSIDER ",\n"
    "        permissions: { publish: { allow: [\"agents.requests\", \"team.requests\"] },\n"
    "          subscribe: { allow: [\"_INBOX.insider.>\"] } } }\n"
    "    ]\n"
    "    exports: [\n"
    "      { service: \"agents.requests\", response_type: singleton, accounts: [AGENTS] }\n"
    "      { service: \"team.requests\", response_type: singleton, accounts: [AGENTS] }\n"
    "    ]\n"
    "  }\n"
    "  AGENTS: {\n"
    "    users: [\n"
    "      { user: agent-1, password: " PW_AGENT1 ",\n"
    "        permissions: { publish: { allow: [\"agents.requests\", \"team.requests\"] },\n"
    "          subscribe: { allow: [\"_INBOX.agent-1.>\"] } } }\n"
    "      { user: agent-2, password: " PW_AGENT2 ",\n"
    "        permissions: { publish: { allow: [\"agents.requests\", \"team.requests\"] },\n"
    "          subscribe: { allow: [\"_INBOX.agent-2.>\"] } } }\n"
    "    ]\n"
    "    imports: [\n"
    "      { service: { account: VAULT, subject: \"agents.requests\" }, share: true }\n"
    "      { service: { account: VAULT, subject: \"team.requests\" }, share: true }\n"
    "    ]\n"
    "  }\n"
    "}\n";

static natsConnection *connect_as(const char *user, const char *pass, const char *inbox)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsStatus st = natsOptions_Create(&o);
    if (st == NATS_OK)
        st = natsOptions_SetURL(o, nats.url);
    if (st == NATS_OK)
        st = natsOptions_SetUserInfo(o, user, pass);
    if (st == NATS_OK)
        st = natsOptions_SetCustomInboxPrefix(o, inbox);
    if (st == NATS_OK)
        st = natsConnection_Connect(&nc, o);
    if (st != NATS_OK)
        fprintf(stderr, "connect as %s failed: %s\n", user, natsStatus_GetText(st));
    natsOptions_Destroy(o);
    return nc;
}

/* A request with a Nats-Request-Info header of the sender's choosing
 * (NULL: none); the parsed reply, or NULL on timeout. */
static json_t *request_hdr(natsConnection *nc, const char *subject, const char *payload,
                           const char *info)
{
    natsMsg *m = NULL, *r = NULL;
    json_t *j = NULL;
    if (natsMsg_Create(&m, subject, NULL, payload, (int)strlen(payload)) != NATS_OK)
        return NULL;
    if (info != NULL)
        (void)natsMsgHeader_Set(m, "Nats-Request-Info", info);
    if (natsConnection_RequestMsg(&r, nc, m, 10000) == NATS_OK)
        j = json_loadb(natsMsg_GetData(r), (size_t)natsMsg_GetDataLength(r), 0, NULL);
    natsMsg_Destroy(m);
    natsMsg_Destroy(r);
    return j;
}

/* The reply's status (or "timeout"), freed. */
static const char *outcome(json_t *r)
{
    static char buf[64];
    if (r == NULL)
        return "timeout";
    snprintf(buf, sizeof buf, "%s", strcmp(it_status(r), "success") == 0 ? "success" : it_code(r));
    json_decref(r);
    return buf;
}

static const char *get_as(natsConnection *nc, const char *subject, const char *key,
                          const char *info)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    return outcome(request_hdr(nc, subject, payload, info));
}

static int setup(void **state)
{
    char yaml[4096];
    (void)state;
    if (it_nats_start_conf(&nats, 0, conf) != 0 || it_vault_init(&vlt, &nats, NULL) != 0)
        return -1;
    snprintf(yaml, sizeof yaml,
             "nats:\n"
             "  url: %s\n"
             "  user: vault\n"
             "  pass: " PW_VAULT "\n"
             "encryption:\n"
             "  master_key: %s/master.key\n"
             "storage:\n"
             "  path: %s/data\n"
             "subjects:\n"
             "  request: vault.requests\n"
             "  reply: vault.replies\n"
             "  reply_prefixes: [\"_INBOX.\", \"_R_.\"]\n"
             "acl_identity: request_info\n"
             "acl_identity_account: VAULT\n"
             "acl:\n"
             "  - subject: admin.requests\n"
             "    operations: [get, set, delete, list, status, revoke]\n"
             "  - subject: agents.requests\n"
             "    operations: [get, set, list]\n"
             "    keys: [\"agents/{name}/*\"]\n"
             "    accounts: [AGENTS]\n"
             "  - subject: agents.requests\n"
             "    operations: []\n"
             "  - subject: team.requests\n"
             "    operations: [get]\n"
             "    keys: [\"team/*\"]\n"
             "    users: [agent-1]\n"
             "    accounts: [AGENTS]\n"
             "  - subject: team.requests\n"
             "    operations: [get]\n"
             "    users: [agent-2]\n"
             "    accounts: [NOPE]\n"
             "  - subject: team.requests\n"
             "    operations: [list]\n"
             "    users: [\"agent-2*\"]\n"
             "  - subject: team.requests\n"
             "    operations: []\n"
             "audit:\n"
             "  subject: vault.audit\n",
             nats.url, vlt.dir, vlt.dir);
    if (tu_write_text(vlt.config, yaml) != 0)
        return -1;
    admin = connect_as("admin", PW_ADMIN, "_INBOX.admin");
    if (admin == NULL || it_vault_start_with(&vlt, admin) != 0) {
        it_nats_dump_log(&nats);
        return -1;
    }
    agent1 = connect_as("agent-1", PW_AGENT1, "_INBOX.agent-1");
    agent2 = connect_as("agent-2", PW_AGENT2, "_INBOX.agent-2");
    insider = connect_as("insider", PW_INSIDER, "_INBOX.insider");
    if (agent1 == NULL || agent2 == NULL || insider == NULL)
        return -1;
    static const char *const keys[] = {"agents/agent-1/x", "agents/agent-2/x", "team/x"};
    for (size_t i = 0; i < 3; i++) {
        char payload[256];
        snprintf(payload, sizeof payload,
                 "{\"operation\":\"set\",\"key\":\"%s\",\"value\":\"v%zu\"}", keys[i], i);
        json_t *r = it_request(admin, "admin.requests", payload, 10000, NULL);
        if (r == NULL || strcmp(it_status(r), "success") != 0) {
            json_decref(r);
            return -1;
        }
        json_decref(r);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(agent1);
    natsConnection_Destroy(agent2);
    natsConnection_Destroy(insider);
    natsConnection_Destroy(admin);
    it_vault_destroy(&vlt);
    it_nats_destroy(&nats);
    return 0;
}

/* Each agent its own namespace: accounts: [AGENTS] and {name}. */
static void test_namespaces(void **state)
{
    (void)state;
    assert_string_equal(get_as(agent1, "agents.requests", "agents/agent-1/x", NULL), "success");
    assert_string_equal(get_as(agent1, "agents.requests", "agents/agent-2/x", NULL),
                        "access_denied");
    assert_string_equal(get_as(agent2, "agents.requests", "agents/agent-2/x", NULL), "success");
    assert_string_equal(get_as(agent2, "agents.requests", "agents/agent-1/x", NULL),
                        "access_denied");
    /* list through the entry: only its own names */
    json_t *r = request_hdr(agent1, "agents.requests",
                            "{\"operation\":\"list\",\"prefix\":\"agents/\"}", NULL);
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    json_t *names = json_object_get(r, "data");
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "agents/agent-1/x");
    json_decref(r);
    fprintf(stderr, "agent-1: get agents/agent-1/x success, agents/agent-2/x access_denied\n");
}

/* users and accounts: both must match when both are given. */
static void test_users_and_accounts(void **state)
{
    (void)state;
    /* agent-1 of AGENTS: users and accounts match: get team/x. */
    assert_string_equal(get_as(agent1, "team.requests", "team/x", NULL), "success");
    /* agent-1 may not list (its entry has get only). */
    assert_string_equal(
        outcome(request_hdr(agent1, "team.requests", "{\"operation\":\"list\"}", NULL)),
        "access_denied");
    /* agent-2: the users+[NOPE] entry does not apply (account differs); the
     * users-only entry does: list yes, get no. */
    assert_string_equal(get_as(agent2, "team.requests", "team/x", NULL), "access_denied");
    assert_string_equal(
        outcome(request_hdr(agent2, "team.requests", "{\"operation\":\"list\"}", NULL)), "success");
}

/* A header written by a client inside the vault's account proves nothing;
 * one written by an agent is overwritten by the server on the import. */
static void test_forged_headers(void **state)
{
    static const char forged1[] =
        "{\"acc\":\"AGENTS\",\"user\":\"agent-1\",\"name_tag\":\"agent-1\"}";
    static const char forged2[] =
        "{\"acc\":\"AGENTS\",\"user\":\"agent-2\",\"name_tag\":\"agent-2\"}";
    (void)state;
    assert_string_equal(get_as(insider, "agents.requests", "agents/agent-1/x", forged1),
                        "access_denied");
    assert_string_equal(get_as(insider, "team.requests", "team/x", forged1), "access_denied");
    assert_string_equal(
        outcome(request_hdr(insider, "team.requests", "{\"operation\":\"list\"}", forged2)),
        "access_denied");
    assert_string_equal(get_as(insider, "agents.requests", "agents/agent-1/x", NULL),
                        "access_denied");
    fprintf(stderr, "insider (vault's account) with a forged header for agent-1: access_denied\n");
    /* agent-1 claims agent-2: the server replaces the header. */
    assert_string_equal(get_as(agent1, "agents.requests", "agents/agent-2/x", forged2),
                        "access_denied");
    assert_string_equal(get_as(agent1, "agents.requests", "agents/agent-1/x", forged2), "success");
    assert_string_equal(
        outcome(request_hdr(agent1, "team.requests", "{\"operation\":\"list\"}", forged2)),
        "access_denied");
    fprintf(stderr, "agent-1 with a forged header for agent-2: overwritten, still agent-1\n");
}

/* The audit event names the attested account and user. */
static void test_audit_identity(void **state)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool seen = false;
    (void)state;
    assert_int_equal(natsConnection_SubscribeSync(&sub, admin, "vault.audit"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    assert_string_equal(get_as(agent2, "agents.requests", "agents/agent-2/x", NULL), "success");
    for (int i = 0; i < 150 && !seen; i++) {
        if (natsSubscription_NextMsg(&m, sub, 100) != NATS_OK)
            continue;
        const char *ev = natsMsg_GetData(m);
        /* (events of the earlier tests may still come in) */
        if (strstr(ev, "\"subject\":\"agents.requests\"") != NULL &&
            strstr(ev, "\"outcome\":\"success\"") != NULL &&
            strstr(ev, "\"user\":\"agent-2\"") != NULL) {
            fprintf(stderr, "audit event: %.*s\n", natsMsg_GetDataLength(m), ev);
            assert_non_null(
                strstr(ev, "\"identity\":{\"account\":\"AGENTS\",\"user\":\"agent-2\"}"));
            seen = true;
        }
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    if (!seen)
        it_vault_dump_log(&vlt);
    assert_true(seen);
}

/* Without nats_credentials' revocation settings, revoke with public_key
 * says so. */
static void test_revoke_not_configured(void **state)
{
    (void)state;
    json_t *r = it_request(admin, "admin.requests",
                           "{\"operation\":\"revoke\",\"public_key\":"
                           "\"UCIE77V4JSQMLN6DHFH53SN3AXGM3S343KGQTJ7K3MXRJK6DIYOQRWQA\"}",
                           10000, NULL);
    assert_non_null(r);
    assert_string_equal(it_code(r), "bad_request");
    assert_non_null(strstr(json_string_value(json_object_get(r, "message")), "not configured"));
    json_decref(r);
}

/* examples/two-account/config.yaml is a configuration serve accepts. */
static void test_example_config(void **state)
{
    char path[512], *out = NULL;
    (void)state;
    const char *src = __FILE__;
    const char *cut = strstr(src, "tests/integration/");
    assert_non_null(cut);
    snprintf(path, sizeof path, "%.*sexamples/two-account/config.yaml", (int)(cut - src), src);
    const char *args[] = {"serve", "--check", "--config", path, NULL};
    char key[400], data[400];
    snprintf(key, sizeof key, "%s/master.key", vlt.dir);
    snprintf(data, sizeof data, "%s/example-data", vlt.dir);
    /* what a deployment provides: the password from a secret, the key */
    setenv("VAULTCTL_NATS_PASS", "example", 1);
    setenv("VAULTCTL_ENCRYPTION_MASTER_KEY", key, 1);
    setenv("VAULTCTL_STORAGE_PATH", data, 1);
    int rc = it_run(NULL, &out, args);
    unsetenv("VAULTCTL_NATS_PASS");
    unsetenv("VAULTCTL_ENCRYPTION_MASTER_KEY");
    unsetenv("VAULTCTL_STORAGE_PATH");
    if (rc != 0)
        fprintf(stderr, "serve --check %s:\n%s\n", path, out != NULL ? out : "");
    free(out);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_users_and_accounts),
        cmocka_unit_test(test_forged_headers),
        cmocka_unit_test(test_audit_identity),
        cmocka_unit_test(test_revoke_not_configured),
        cmocka_unit_test(test_example_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
