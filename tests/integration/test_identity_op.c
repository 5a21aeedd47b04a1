/* test_identity_op.c - server-attested identity in operator mode (issue 14,
 * PROTOCOL.md §10-11): a nats-server with JWT accounts built here with
 * jwt.c, VAULT (vaultctl and the admin) exporting agents.requests as a
 * service, and AGENTS importing it with share: true. vaultctl mints the
 * agents' creds for AGENTS (nats_credentials) with name agent-1/agent-2, so
 * the Nats-Request-Info header nats-server adds at the import carries
 * name_tag, and `{name}` in keys resolves to it: each agent reaches its
 * own namespace only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "harness.h"
#include "jwt.h"
#include "nkey.h"
#include "testutil.h"

static it_nats nats;
static it_vault vlt;
static natsConnection *admin, *agent1, *agent2;
static char dir[TU_DIR_MAX], conf[16384], vault_pub[NKEY_PUBLIC_LEN + 1],
    agents_pub[NKEY_PUBLIC_LEN + 1];

/* A new key of type t, its public key into pub. */
static nkey *key(nkey_type t, char *pub)
{
    nkey *k = NULL;
    vc_err err;
    if (nkey_generate(&k, t, &err) != VC_OK)
        return NULL;
    nkey_public(k, pub);
    return k;
}

/* claims signed by k, appended to conf's preload as pub: "jwt". */
static int preload(json_t *claims, const nkey *k, const char *pub)
{
    vc_err err;
    char *jwt = claims != NULL ? jwt_sign(claims, k, &err) : NULL;
    json_decref(claims);
    if (jwt == NULL)
        return -1;
    size_t len = strlen(conf);
    int n = snprintf(conf + len, sizeof conf - len, "  %s: \"%s\"\n", pub, jwt);
    free(jwt);
    return n > 0 && (size_t)n < sizeof conf - len ? 0 : -1;
}

/* A .creds file at path for a user of the account signed by acct. */
static int user_creds(const char *path, const nkey *acct, const char *name, const char *const *pub,
                      size_t npub, const char *const *sub, size_t nsub, int resp_max)
{
    char upub[NKEY_PUBLIC_LEN + 1], seed[NKEY_SEED_LEN + 1];
    vc_err err;
    nkey *u = key(NKEY_USER, upub);
    if (u == NULL)
        return -1;
    jwt_user ju = {.user_pub = upub,
                   .name = name,
                   .pub_allow = pub,
                   .npub = npub,
                   .sub_allow = sub,
                   .nsub = nsub,
                   .iat = (int64_t)time(NULL),
                   .resp_max = resp_max,
                   .resp_ttl_s = 60};
    json_t *claims = jwt_user_claims(&ju);
    char *jwt = claims != NULL ? jwt_sign(claims, acct, &err) : NULL;
    json_decref(claims);
    nkey_seed(u, seed);
    char *text = jwt != NULL ? jwt_creds_text(jwt, seed) : NULL;
    sodium_memzero(seed, sizeof seed);
    nkey_free(u);
    free(jwt);
    int rc = text != NULL ? tu_write_text(path, text) : -1;
    if (text != NULL)
        sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

static natsConnection *connect_creds(const char *path, const char *inbox)
{
    natsConnection *nc = NULL;
    natsStatus st = it_connect_creds(&nc, nats.url, path, inbox, NULL);
    if (st != NATS_OK)
        fprintf(stderr, "connect with %s failed: %s\n", path, natsStatus_GetText(st));
    return nc;
}

/* The operator, SYS, VAULT (export) and AGENTS (import, share: true). */
static int write_accounts(void)
{
    char op_pub[NKEY_PUBLIC_LEN + 1], sys_pub[NKEY_PUBLIC_LEN + 1], sign_pub[NKEY_PUBLIC_LEN + 1],
        path[TU_DIR_MAX + 64], seed[NKEY_SEED_LEN + 1];
    vc_err err;
    int64_t now = (int64_t)time(NULL);
    nkey *op = key(NKEY_OPERATOR, op_pub), *sys = key(NKEY_ACCOUNT, sys_pub);
    nkey *va = key(NKEY_ACCOUNT, vault_pub), *ag = key(NKEY_ACCOUNT, agents_pub);
    nkey *sign = key(NKEY_ACCOUNT, sign_pub);
    int rc = -1;
    if (op == NULL || sys == NULL || va == NULL || ag == NULL || sign == NULL)
        goto out;
    json_t *oc = jwt_operator_claims(op_pub, "OP", sys_pub, now);
    char *op_jwt = oc != NULL ? jwt_sign(oc, op, &err) : NULL;
    json_decref(oc);
    if (op_jwt == NULL)
        goto out;
    snprintf(conf, sizeof conf,
             "operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n", op_jwt,
             sys_pub);
    free(op_jwt);
    json_t *vc = jwt_account_claims(vault_pub, "VAULT", NULL, 0, now, NULL);
    json_t *ac = jwt_account_claims(agents_pub, "AGENTS", (const char *[]){sign_pub}, 1, now, NULL);
    json_object_set_new(json_object_get(vc, "nats"), "exports",
                        json_pack("[{s:s,s:s,s:s,s:s}]", "name", "agents", "subject",
                                  "agents.requests", "type", "service", "response_type",
                                  "Singleton"));
    json_object_set_new(json_object_get(ac, "nats"), "imports",
                        json_pack("[{s:s,s:s,s:s,s:s,s:b}]", "name", "agents", "subject",
                                  "agents.requests", "account", vault_pub, "type", "service",
                                  "share", 1));
    if (preload(jwt_account_claims(sys_pub, "SYS", NULL, 0, now, NULL), op, sys_pub) != 0 ||
        preload(vc, op, vault_pub) != 0 || preload(ac, op, agents_pub) != 0)
        goto out;
    strncat(conf, "}\n", sizeof conf - strlen(conf) - 1);

    static const char *const vpub[] = {"vault.>"};
    static const char *const vsub[] = {"vault.requests", "agents.requests", "admin.requests",
                                       "$SRV.>"};
    static const char *const apub[] = {"admin.requests", "$SRV.>"};
    static const char *const asub[] = {"_INBOX.admin.>", "vault.audit"};
    snprintf(path, sizeof path, "%s/vault.creds", dir);
    if (user_creds(path, va, "vaultctl", vpub, 1, vsub, 4, 1) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/admin.creds", dir);
    if (user_creds(path, va, "admin", apub, 2, asub, 2, 0) != 0)
        goto out;
    nkey_seed(sign, seed);
    snprintf(path, sizeof path, "%s/agents-signing.nk", dir);
    rc = tu_write_text(path, seed);
    sodium_memzero(seed, sizeof seed);
out:
    nkey_free(op);
    nkey_free(sys);
    nkey_free(va);
    nkey_free(ag);
    nkey_free(sign);
    return rc;
}

static int setup(void **state)
{
    char yaml[4096], path[TU_DIR_MAX + 64];
    (void)state;
    if (sodium_init() < 0 || tu_tmpdir(dir, sizeof dir, "vaultctl-it-idop") == NULL ||
        write_accounts() != 0)
        return -1;
    if (it_nats_start_conf(&nats, 0, conf) != 0 || it_vault_init(&vlt, &nats, NULL) != 0)
        return -1;
    snprintf(yaml, sizeof yaml,
             "nats:\n"
             "  url: %s\n"
             "  creds: %s/vault.creds\n"
             "encryption:\n"
             "  master_key: %s/master.key\n"
             "storage:\n"
             "  path: %s/data\n"
             "subjects:\n"
             "  reply_prefixes: [\"_INBOX.\", \"_R_.\"]\n"
             "acl_identity: request_info\n"
             "acl_identity_account: %s\n"
             "acl:\n"
             "  - subject: admin.requests\n"
             "    operations: [get, set, list, creds]\n"
             "  - subject: agents.requests\n"
             "    operations: [get, list]\n"
             "    keys: [\"agents/{name}/*\"]\n"
             "    accounts: [%s]\n"
             "  - subject: agents.requests\n"
             "    operations: []\n"
             "nats_credentials:\n"
             "  account: %s\n"
             "  signing_key: %s/agents-signing.nk\n"
             "  roles:\n"
             "    agent:\n"
             "      publish: [\"agents.requests\"]\n"
             "      subscribe: [\"_INBOX.{name}.>\"]\n"
             "      max_ttl: 1h\n",
             nats.url, dir, vlt.dir, vlt.dir, vault_pub, agents_pub, agents_pub, dir);
    if (tu_write_text(vlt.config, yaml) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/admin.creds", dir);
    admin = connect_creds(path, "_INBOX.admin");
    if (admin == NULL || it_vault_start_with(&vlt, admin) != 0) {
        it_nats_dump_log(&nats);
        it_vault_dump_log(&vlt);
        return -1;
    }
    static const char *const names[] = {"agent-1", "agent-2"};
    natsConnection **agents[] = {&agent1, &agent2};
    for (size_t i = 0; i < 2; i++) {
        char payload[256], inbox[64];
        snprintf(payload, sizeof payload,
                 "{\"operation\":\"set\",\"key\":\"agents/%s/x\",\"value\":\"v%zu\"}", names[i], i);
        json_t *r = it_request(admin, "admin.requests", payload, 10000, NULL);
        int ok = r != NULL && strcmp(it_status(r), "success") == 0;
        json_decref(r);
        snprintf(payload, sizeof payload,
                 "{\"operation\":\"creds\",\"role\":\"agent\",\"name\":\"%s\",\"ttl\":\"10m\"}",
                 names[i]);
        r = it_request(admin, "admin.requests", payload, 10000, NULL);
        const char *creds = json_string_value(json_object_get(json_object_get(r, "data"), "creds"));
        snprintf(path, sizeof path, "%s/%s.creds", dir, names[i]);
        ok = ok && creds != NULL && tu_write_text(path, creds) == 0;
        json_decref(r);
        snprintf(inbox, sizeof inbox, "_INBOX.%s", names[i]);
        if (!ok || (*agents[i] = connect_creds(path, inbox)) == NULL) {
            it_vault_dump_log(&vlt);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(agent1);
    natsConnection_Destroy(agent2);
    natsConnection_Destroy(admin);
    it_vault_destroy(&vlt);
    it_nats_destroy(&nats);
    tu_rmtree(dir);
    return 0;
}

/* The reply's status or code ("timeout" when none). */
static const char *get_as(natsConnection *nc, const char *key)
{
    static char buf[64];
    char payload[256];
    snprintf(payload, sizeof payload, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    json_t *r = it_request(nc, "agents.requests", payload, 10000, NULL);
    snprintf(buf, sizeof buf, "%s",
             r == NULL ? "timeout"
                       : (strcmp(it_status(r), "success") == 0 ? "success" : it_code(r)));
    json_decref(r);
    return buf;
}

/* Each minted agent its own namespace: {name} is the JWT's name. */
static void test_name_tag_namespaces(void **state)
{
    (void)state;
    const char *a11 = get_as(agent1, "agents/agent-1/x");
    if (strcmp(a11, "success") != 0)
        it_vault_dump_log(&vlt);
    assert_string_equal(a11, "success");
    assert_string_equal(get_as(agent1, "agents/agent-2/x"), "access_denied");
    assert_string_equal(get_as(agent2, "agents/agent-2/x"), "success");
    assert_string_equal(get_as(agent2, "agents/agent-1/x"), "access_denied");
    fprintf(stderr, "operator mode, through the import: agent-1 gets agents/agent-1/x, "
                    "not agents/agent-2/x; agent-2 the other way round\n");
}

/* The audit event names the attested account (AGENTS' key), the user's
 * key and the name tag. */
static void test_audit_names_tag(void **state)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool found = false;
    (void)state;
    assert_int_equal(natsConnection_SubscribeSync(&sub, admin, "vault.audit"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    assert_string_equal(get_as(agent1, "agents/agent-1/x"), "success");
    while (!found && natsSubscription_NextMsg(&m, sub, 10000) == NATS_OK) {
        json_t *e = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        json_t *id = json_object_get(e, "identity");
        const char *tag = json_string_value(json_object_get(id, "name_tag"));
        const char *acc = json_string_value(json_object_get(id, "account"));
        const char *user = json_string_value(json_object_get(id, "user"));
        found = tag != NULL && strcmp(tag, "agent-1") == 0 && acc != NULL &&
                strcmp(acc, agents_pub) == 0 && user != NULL && user[0] == 'U';
        if (found)
            fprintf(stderr, "audit identity: account %s, user %s, name_tag %s\n", acc, user, tag);
        json_decref(e);
        natsMsg_Destroy(m);
        m = NULL;
    }
    natsSubscription_Destroy(sub);
    assert_true(found); /* no audit event with the attested name tag agent-1 within 10 s */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_tag_namespaces),
        cmocka_unit_test(test_audit_names_tag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
