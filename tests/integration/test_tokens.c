/* test_tokens.c - scoped tokens over a real nats-server (PROTOCOL.md §8,
 * §9): issue, lookup, renew, revoke, the use limit under racing requests,
 * ACL tokens/keys, child tokens, expiry, wrapping, restart, kill -9,
 * rotation, and no token or accessor in data.mdb. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
int tu_write_text(const char *path, const char *text); /* testutil.h */

static it_nats nats;
static it_vault vault;
static natsConnection *admin, *agent;

#define USERS                                                                                      \
    "    { user: \"" IT_ADMIN_USER "\", password: \"" IT_ADMIN_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"admin.requests\", \"$SRV.>\"] },\n"                 \
    "                     subscribe: { allow: [\"_INBOX.admin.>\"] } } }\n"                        \
    "    { user: \"" IT_AGENT_USER "\", password: \"" IT_AGENT_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"agents.requests\", \"billing.requests\", "          \
    "\"admin.requests\"] },\n"                                                                     \
    "                     subscribe: { allow: [\"_INBOX.agent.>\"] } } }\n"                        \
    "    { user: \"" IT_VAULT_USER "\", password: \"" IT_VAULT_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"vault.replies\", \"vault.audit\"] },\n"             \
    "                     subscribe: { allow: [\"vault.requests\", \"admin.requests\",\n"          \
    "                        \"user.requests\", \"agents.requests\", \"billing.requests\", "       \
    "\"$SRV.>\"] },\n"                                                                             \
    "                     allow_responses: { max: 1, expires: \"1m\" } } }\n"

static const char acl_old[] =
    "  - subject: admin.requests\n"
    "    operations: [get, set, delete, list, rotate, status, versions]\n";
static const char acl_new[] =
    "  - subject: admin.requests\n"
    "    operations: [get, set, delete, list, rotate, status, issue, lookup, renew, revoke]\n"
    "  - subject: agents.requests\n"
    "    operations: []\n"
    "    tokens: true\n"
    "  - subject: billing.requests\n"
    "    operations: [get, list]\n"
    "    keys: [\"billing/*\"]\n";

static int edit_acl(const char *path)
{
    char buf[16384];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *at = strstr(buf, acl_old);
    if (at == NULL)
        return -1;
    char out[20000];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, acl_new, at + strlen(acl_old));
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(out, f);
    fclose(f);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (it_nats_start_users(&nats, 0, USERS) != 0)
        return -1;
    if (it_vault_init(&vault, &nats, NULL) != 0 || edit_acl(vault.config) != 0)
        return -1;
    if (it_vault_start(&vault, &nats) != 0)
        return -1;
    admin = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    agent = it_connect(&nats, IT_AGENT_USER, IT_AGENT_PASS);
    return admin && agent ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(admin);
    natsConnection_Destroy(agent);
    it_vault_destroy(&vault);
    it_nats_destroy(&nats);
    return 0;
}

static json_t *req(natsConnection *nc, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *req(natsConnection *nc, const char *subject, const char *fmt, ...)
{
    char payload[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(payload, sizeof payload, fmt, ap);
    va_end(ap);
    json_t *r = it_request(nc, subject, payload, 10000, NULL);
    if (r == NULL)
        it_vault_dump_log(&vault);
    assert_non_null(r);
    return r;
}

static void expect(json_t *r, const char *code)
{
    const char *got = strcmp(it_status(r), "success") == 0 ? "success" : it_code(r);
    if (strcmp(got, code) != 0) {
        char *s = json_dumps(r, 0);
        fprintf(stderr, "expected %s, reply: %s\n", code, s);
        free(s);
    }
    assert_string_equal(got, code);
}

static json_t *lifecycle(json_t *r)
{
    json_t *l = json_object_get(json_object_get(r, "meta"), "lifecycle");
    assert_non_null(l);
    return l;
}

/* Issues a token as admin; token and accessor copied out. */
static void issue(const char *fields, char *tok, char *acc)
{
    json_t *r = req(admin, "admin.requests", "{\"operation\":\"issue\",%s}", fields);
    expect(r, "success");
    json_t *d = json_object_get(r, "data");
    const char *t = json_string_value(json_object_get(d, "token"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 47);
    assert_memory_equal(t, "vct_", 4);
    strcpy(tok, t);
    strcpy(acc, json_string_value(json_object_get(d, "accessor")));
    json_decref(r);
}

static void test_issue_use_lookup(void **state)
{
    (void)state;
    char tok[64], acc[64];
    json_t *r = req(admin, "admin.requests",
                    "{\"operation\":\"set\",\"key\":\"billing/stripe\","
                    "\"value\":\"sk-1\"}");
    expect(r, "success");
    json_decref(r);
    r = req(admin, "admin.requests",
            "{\"operation\":\"set\",\"key\":\"other/x\",\"value\":\"no\"}");
    json_decref(r);

    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"get\",\"list\"]},"
          "\"ttl\":\"15m\",\"uses\":5,\"name\":\"job-1\"",
          tok, acc);
    /* lookup by the token itself: no use consumed */
    r = req(agent, "agents.requests", "{\"operation\":\"lookup\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 5);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"), "name")),
                        "job-1");
    assert_true(json_is_null(json_object_get(json_object_get(r, "data"), "parent")));
    json_decref(r);

    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\",\"id\":3}", tok);
    expect(r, "success");
    assert_string_equal(json_string_value(json_object_get(r, "data")), "sk-1");
    json_t *l = lifecycle(r);
    assert_int_equal(json_integer_value(json_object_get(l, "uses_left")), 4);
    assert_true(json_integer_value(json_object_get(l, "ttl")) > 800);
    assert_true(json_is_true(json_object_get(l, "renewable")));
    assert_non_null(json_object_get(json_object_get(r, "meta"), "version"));
    json_decref(r);

    /* outside the policy: key, operation */
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"other/x\",\"token\":\"%s\"}", tok);
    expect(r, "access_denied");
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"set\",\"key\":\"billing/a\",\"value\":1,\"token\":\"%s\"}", tok);
    expect(r, "access_denied");
    json_decref(r);
    /* list filtered by the patterns */
    r = req(agent, "agents.requests", "{\"operation\":\"list\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    json_decref(r);
    /* a token on a subject without tokens: true */
    r = req(agent, "admin.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", tok);
    expect(r, "access_denied");
    json_decref(r);
    /* unknown token */
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"vct_%043d\"}", 0);
    expect(r, "token_invalid");
    json_decref(r);
    /* no token on agents.requests: no rights */
    r = req(agent, "agents.requests", "{\"operation\":\"get\",\"key\":\"billing/stripe\"}");
    expect(r, "access_denied");
    json_decref(r);
    /* lookup by accessor (admin) */
    r = req(admin, "admin.requests", "{\"operation\":\"lookup\",\"accessor\":\"%s\"}", acc);
    expect(r, "success");
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 3);
    json_decref(r);
}

typedef struct {
    const char *tok;
    int ok, invalid, other;
    pthread_mutex_t mu;
} race;

static void *race_main(void *arg)
{
    race *rc = arg;
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", rc->tok);
    json_t *r = it_request(agent, "agents.requests", payload, 20000, NULL);
    pthread_mutex_lock(&rc->mu);
    if (r != NULL && strcmp(it_status(r), "success") == 0)
        rc->ok++;
    else if (r != NULL && strcmp(it_code(r), "token_invalid") == 0)
        rc->invalid++;
    else
        rc->other++;
    pthread_mutex_unlock(&rc->mu);
    json_decref(r);
    return NULL;
}

static void run_race(const char *tok, int n, race *rc)
{
    pthread_t th[64];
    memset(rc, 0, sizeof *rc);
    rc->tok = tok;
    pthread_mutex_init(&rc->mu, NULL);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_main, rc), 0);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&rc->mu);
}

/* uses: 3 under 50 racing requests: exactly 3 executed. Writes too. */
static void test_race(void **state)
{
    (void)state;
    char tok[64], acc[64];
    race rc;
    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"get\"]},\"uses\":3", tok, acc);
    run_race(tok, 50, &rc);
    fprintf(stderr, "race (get, uses 3, 50 requests): %d granted, %d token_invalid, %d other\n",
            rc.ok, rc.invalid, rc.other);
    assert_int_equal(rc.ok, 3);
    assert_int_equal(rc.invalid, 47);

    /* sets: the use is in the write's own transaction */
    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"set\"]},\"uses\":3", tok, acc);
    int ok = 0, inv = 0;
    for (int i = 0; i < 5; i++) {
        json_t *r = req(
            agent, "agents.requests",
            "{\"operation\":\"set\",\"key\":\"billing/w\",\"value\":%d,\"token\":\"%s\"}", i, tok);
        if (strcmp(it_status(r), "success") == 0) {
            ok++;
            assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 2 - i);
        } else {
            assert_string_equal(it_code(r), "token_invalid");
            inv++;
        }
        json_decref(r);
    }
    assert_int_equal(ok, 3);
    assert_int_equal(inv, 2);
    /* v2 fields hold for a token-paid set: cas; versions through a token */
    char t2[64], a2[64];
    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"set\",\"versions\"]}", t2, a2);
    json_t *c = req(agent, "agents.requests",
                    "{\"operation\":\"set\",\"key\":\"billing/w\",\"value\":9,\"cas\":1,"
                    "\"token\":\"%s\"}",
                    t2);
    expect(c, "conflict");
    json_decref(c);
    c = req(agent, "agents.requests",
            "{\"operation\":\"versions\",\"key\":\"billing/w\",\"token\":\"%s\"}", t2);
    expect(c, "success");
    assert_int_equal(json_array_size(json_object_get(c, "data")), 3);
    json_decref(c);
    /* the refused sets wrote nothing: version 3 */
    json_t *r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"billing/w\"}");
    expect(r, "success");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "meta"), "version")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "data")), 2);
    json_decref(r);
}

static void test_children_revoke_renew(void **state)
{
    (void)state;
    char ptok[64], pacc[64];
    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"get\",\"issue\"]},"
          "\"ttl\":600,\"max_ttl\":\"20m\"",
          ptok, pacc);
    /* a child wider than its parent */
    json_t *r = req(agent, "agents.requests",
                    "{\"operation\":\"issue\",\"token\":\"%s\",\"policy\":{\"keys\":[\"*\"],"
                    "\"operations\":[\"get\"]}}",
                    ptok);
    expect(r, "access_denied");
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"issue\",\"token\":\"%s\",\"policy\":{\"keys\":[\"billing/stripe\"],"
            "\"operations\":[\"get\",\"set\"]}}",
            ptok);
    expect(r, "access_denied");
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"issue\",\"token\":\"%s\",\"ttl\":\"2h\",\"policy\":{\"keys\":"
            "[\"billing/stripe\"],\"operations\":[\"get\"]}}",
            ptok);
    expect(r, "success");
    char ctok[64];
    strcpy(ctok, json_string_value(json_object_get(json_object_get(r, "data"), "token")));
    /* no later than its parent */
    assert_true(json_integer_value(json_object_get(lifecycle(r), "ttl")) <= 600);
    json_decref(r);
    r = req(agent, "agents.requests", "{\"operation\":\"lookup\",\"token\":\"%s\"}", ctok);
    expect(r, "success");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"), "parent")),
                        pacc);
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", ctok);
    expect(r, "success");
    json_decref(r);

    /* renew never past max_expires_at (20m) */
    r = req(agent, "agents.requests", "{\"operation\":\"renew\",\"token\":\"%s\",\"ttl\":\"5h\"}",
            ptok);
    expect(r, "success");
    assert_true(json_integer_value(json_object_get(lifecycle(r), "ttl")) <= 1200);
    assert_true(json_integer_value(json_object_get(lifecycle(r), "ttl")) >= 1190);
    json_decref(r);

    /* revoking the parent revokes the child */
    r = req(admin, "admin.requests", "{\"operation\":\"revoke\",\"accessor\":\"%s\"}", pacc);
    expect(r, "success");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "data"), "revoked")), 2);
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", ctok);
    expect(r, "token_invalid");
    json_decref(r);
    /* revoke itself */
    char tok[64], acc[64];
    issue("\"policy\":{\"keys\":[\"*\"],\"operations\":[\"get\"]}", tok, acc);
    r = req(agent, "agents.requests", "{\"operation\":\"revoke\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    json_decref(r);
    r = req(agent, "agents.requests", "{\"operation\":\"lookup\",\"token\":\"%s\"}", tok);
    expect(r, "token_invalid");
    json_decref(r);
}

static void test_expiry(void **state)
{
    (void)state;
    char tok[64], acc[64];
    issue("\"policy\":{\"keys\":[\"*\"],\"operations\":[\"get\"]},\"ttl\":1", tok, acc);
    sleep(2);
    json_t *r = req(agent, "agents.requests",
                    "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", tok);
    expect(r, "token_expired");
    json_decref(r);
    r = req(admin, "admin.requests",
            "{\"operation\":\"issue\",\"policy\":{\"keys\":[\"a**\"],"
            "\"operations\":[\"get\"]}}");
    expect(r, "bad_request");
    json_decref(r);
    r = req(admin, "admin.requests",
            "{\"operation\":\"issue\",\"ttl\":\"5x\",\"policy\":{\"keys\":[\"a\"],"
            "\"operations\":[\"get\"]}}");
    expect(r, "bad_request");
    json_decref(r);
}

static void test_entry_keys(void **state)
{
    (void)state;
    json_t *r =
        req(agent, "billing.requests", "{\"operation\":\"get\",\"key\":\"billing/stripe\"}");
    expect(r, "success");
    json_decref(r);
    r = req(agent, "billing.requests", "{\"operation\":\"get\",\"key\":\"other/x\"}");
    expect(r, "access_denied");
    json_decref(r);
    r = req(agent, "billing.requests", "{\"operation\":\"list\"}");
    expect(r, "success");
    json_t *names = json_object_get(r, "data");
    for (size_t i = 0; i < json_array_size(names); i++)
        assert_memory_equal(json_string_value(json_array_get(names, i)), "billing/", 8);
    assert_true(json_array_size(names) >= 1);
    json_decref(r);
}

typedef struct {
    const char *wt;
    json_t *reply;
} unwrap_arg;

static void *unwrap_main(void *arg)
{
    unwrap_arg *u = arg;
    char payload[256];
    snprintf(payload, sizeof payload, "{\"operation\":\"unwrap\",\"wrap_token\":\"%s\"}", u->wt);
    u->reply = it_request(agent, "agents.requests", payload, 10000, NULL);
    return NULL;
}

static void test_wrap(void **state)
{
    (void)state;
    json_t *r = req(admin, "admin.requests",
                    "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"wrap_ttl\":\"5m\"}");
    expect(r, "success");
    const char *wt = json_string_value(json_object_get(json_object_get(r, "data"), "wrap_token"));
    assert_non_null(wt);
    assert_memory_equal(wt, "vcw_", 4);
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 1);
    char w[64];
    strcpy(w, wt);
    json_decref(r);
    unwrap_arg a[2] = {{w, NULL}, {w, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, unwrap_main, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int wins = 0;
    for (int i = 0; i < 2; i++) {
        assert_non_null(a[i].reply);
        if (strcmp(it_status(a[i].reply), "success") == 0) {
            wins++;
            assert_string_equal(json_string_value(json_object_get(a[i].reply, "data")), "sk-1");
            assert_non_null(json_object_get(json_object_get(a[i].reply, "meta"), "version"));
        } else {
            assert_string_equal(it_code(a[i].reply), "token_invalid");
        }
        json_decref(a[i].reply);
    }
    assert_int_equal(wins, 1);

    /* issue with wrap_ttl: the token itself is wrapped */
    r = req(admin, "admin.requests",
            "{\"operation\":\"issue\",\"wrap_ttl\":60,\"uses\":1,\"policy\":{\"keys\":"
            "[\"billing/*\"],\"operations\":[\"get\"]}}");
    expect(r, "success");
    wt = json_string_value(json_object_get(json_object_get(r, "data"), "wrap_token"));
    assert_non_null(wt);
    strcpy(w, wt);
    json_decref(r);
    /* a wrap token is not a token */
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", w);
    expect(r, "token_invalid");
    json_decref(r);
    r = req(agent, "agents.requests", "{\"operation\":\"unwrap\",\"wrap_token\":\"%s\"}", w);
    expect(r, "success");
    const char *tok = json_string_value(json_object_get(json_object_get(r, "data"), "token"));
    assert_non_null(tok);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(r, "meta"), "lifecycle"), "uses_left")),
                     1);
    char t[64];
    strcpy(t, tok);
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", t);
    expect(r, "success");
    json_decref(r);
    /* unwrap needs tokens: true or the unwrap operation */
    r = req(agent, "billing.requests", "{\"operation\":\"unwrap\",\"wrap_token\":\"%s\"}", w);
    expect(r, "access_denied");
    json_decref(r);
}

typedef struct {
    const char *tok;
    atomic_int ok;
} kill_race;

static void *kill_race_main(void *arg)
{
    kill_race *k = arg;
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"operation\":\"set\",\"key\":\"billing/k\",\"value\":1,\"token\":\"%s\"}", k->tok);
    for (int i = 0; i < 200; i++) {
        json_t *r = it_request(agent, "agents.requests", payload, 2000, NULL);
        if (r != NULL && strcmp(it_status(r), "success") == 0)
            atomic_fetch_add(&k->ok, 1);
        json_decref(r);
    }
    return NULL;
}

/* kill -9 in the middle of racing uses: after the restart, the uses spent
 * are at least the successes any client saw (no success without its use),
 * and the store agrees with itself. */
static void test_kill_race(void **state)
{
    (void)state;
    char tok[64], acc[64];
    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"set\"]},\"uses\":1000", tok, acc);
    kill_race k = {.tok = tok};
    atomic_init(&k.ok, 0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, kill_race_main, &k), 0);
    usleep(100000);
    it_vault_kill(&vault);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    json_t *r = req(admin, "admin.requests", "{\"operation\":\"lookup\",\"accessor\":\"%s\"}", acc);
    expect(r, "success");
    long long spent = 1000 - json_integer_value(json_object_get(lifecycle(r), "uses_left"));
    json_decref(r);
    r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"billing/k\"}");
    long long version =
        strcmp(it_status(r), "success") == 0
            ? json_integer_value(json_object_get(json_object_get(r, "meta"), "version"))
            : 0;
    json_decref(r);
    fprintf(stderr, "kill -9 race: %d successes seen, %lld uses spent, %lld writes stored\n",
            atomic_load(&k.ok), spent, version);
    assert_true(spent >= atomic_load(&k.ok));
    assert_int_equal(spent, version); /* each use with its write, each write with its use */
}

/* Survives restart, kill -9 and rotation; nothing readable in data.mdb. */
static void test_durable(void **state)
{
    (void)state;
    char tok[64], acc[64];
    issue("\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"get\"]},\"uses\":4", tok, acc);
    json_t *r = req(agent, "agents.requests",
                    "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    json_decref(r);
    it_vault_kill(&vault);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    r = req(agent, "agents.requests", "{\"operation\":\"lookup\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 3);
    json_decref(r);
    r = req(admin, "admin.requests", "{\"operation\":\"rotate\"}");
    expect(r, "success");
    json_decref(r);
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 2);
    json_decref(r);
    assert_int_equal(it_vault_stop(&vault), 0);

    char path[400];
    snprintf(path, sizeof path, "%s/data/data.mdb", vault.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    assert_null(memmem(buf, (size_t)n, tok + 4, 43));
    assert_null(memmem(buf, (size_t)n, acc, strlen(acc)));
    assert_null(memmem(buf, (size_t)n, "billing/*", 9));
    free(buf);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    r = req(agent, "agents.requests",
            "{\"operation\":\"get\",\"key\":\"billing/stripe\",\"token\":\"%s\"}", tok);
    expect(r, "success");
    json_decref(r);
}

/* The command line: request --fields/--token-out as the admin, then
 * --token-file as the agent; token issue/lookup/revoke on the store. */
static void test_cli(void **state)
{
    (void)state;
    char tokfile[400], passfile[400], apass[400], *out = NULL;
    snprintf(tokfile, sizeof tokfile, "%s/agent.token", vault.dir);
    snprintf(passfile, sizeof passfile, "%s/admin.pass", vault.dir);
    snprintf(apass, sizeof apass, "%s/agent.pass", vault.dir);
    assert_int_equal(tu_write_text(passfile, IT_ADMIN_PASS "\n"), 0);
    assert_int_equal(tu_write_text(apass, IT_AGENT_PASS "\n"), 0);
    const char *issue_args[] = {"request",
                                "--server",
                                nats.url,
                                "--user",
                                IT_ADMIN_USER,
                                "--pass-file",
                                passfile,
                                "--token-out",
                                tokfile,
                                "--fields",
                                "{\"policy\":{\"keys\":[\"billing/*\"],\"operations\":[\"get\"]},"
                                "\"uses\":2}",
                                "admin.requests",
                                "issue",
                                NULL};
    char *errout = NULL;
    int irc = it_run_io(NULL, "", &out, &errout, issue_args);
    if (irc != 0)
        fprintf(stderr, "issue: %s / %s\n", out ? out : "", errout ? errout : "");
    free(errout);
    assert_int_equal(irc, 0);
    assert_non_null(strstr(out, "(written to "));
    assert_null(strstr(out, "vct_"));
    free(out);
    const char *use_args[] = {"request",     "--server",        nats.url, "--user",
                              IT_AGENT_USER, "--pass-file",     apass,    "--token-file",
                              tokfile,       "agents.requests", "get",    "billing/stripe",
                              NULL};
    for (int i = 0; i < 3; i++) {
        out = NULL;
        int rc = it_run(NULL, &out, use_args);
        if (i < 2) {
            assert_int_equal(rc, 0);
            assert_non_null(strstr(out, "\"uses_left\":"));
        } else {
            assert_int_equal(rc, 1);
            assert_non_null(strstr(out, "token_invalid"));
        }
        free(out);
    }
    /* local: issue, lookup, revoke */
    const char *li[] = {"token",    "issue", "--policy-keys", "billing/*,app/x", "--ops",
                        "get,list", "--ttl", "15m",           "--uses",          "3",
                        NULL};
    out = NULL;
    if (it_jetstream()) {
        /* storage.backend jetstream: beside a running instance, which holds
         * the write lease, a local command cannot write (it says so) */
        assert_int_equal(it_run(vault.config, &out, li), 1);
        free(out);
        return;
    }
    assert_int_equal(it_run(vault.config, &out, li), 0);
    json_t *r = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "uses_left")), 3);
    assert_int_equal(json_integer_value(json_object_get(lifecycle(r), "ttl")), 900);
    char acc[64];
    strcpy(acc, json_string_value(json_object_get(json_object_get(r, "data"), "accessor")));
    json_decref(r);
    const char *ll[] = {"token", "lookup", acc, NULL};
    out = NULL;
    assert_int_equal(it_run(vault.config, &out, ll), 0);
    assert_non_null(strstr(out, "billing/*"));
    free(out);
    const char *lr[] = {"token", "revoke", acc, NULL};
    out = NULL;
    assert_int_equal(it_run(vault.config, &out, lr), 0);
    assert_non_null(strstr(out, "\"revoked\":1"));
    free(out);
    out = NULL;
    assert_int_equal(it_run(vault.config, &out, ll), 1);
    free(out);
    const char *bad[] = {"token", "issue", "--ops", "get", NULL};
    out = NULL;
    assert_int_equal(it_run(vault.config, &out, bad), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_use_lookup),
        cmocka_unit_test(test_race),
        cmocka_unit_test(test_children_revoke_renew),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_entry_keys),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_durable),
        cmocka_unit_test(test_kill_race),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
