/* test_service.c - vaultctl serve over a real nats-server: every operation
 * and error code, the ACL, the NATS server's own permissions, replies
 * without a reply subject, discovery, restarts and concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static it_nats nats;
static it_vault vault;
static natsConnection *admin, *agent, *probe;

#define MAX_VALUE 4096

static int setup(void **state)
{
    (void)state;
    if (it_nats_start(&nats, 0) != 0)
        return -1;
    if (it_vault_init(&vault, &nats, "limits:\n  max_value_bytes: 4096\n") != 0)
        return -1;
    if (it_vault_start(&vault, &nats) != 0)
        return -1;
    admin = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    agent = it_connect(&nats, IT_AGENT_USER, IT_AGENT_PASS);
    probe = it_connect(&nats, IT_PROBE_USER, IT_PROBE_PASS);
    return admin && agent && probe ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(admin);
    natsConnection_Destroy(agent);
    natsConnection_Destroy(probe);
    it_vault_destroy(&vault);
    it_nats_destroy(&nats);
    return 0;
}

/* A request as admin on admin.requests; fails the test on no reply. */
static json_t *req(natsConnection *nc, const char *subject, const char *payload)
{
    json_t *r = it_request(nc, subject, payload, 5000, NULL);
    if (r == NULL)
        it_vault_dump_log(&vault);
    assert_non_null(r);
    return r;
}

static void expect_success(json_t *r)
{
    if (strcmp(it_status(r), "success") != 0) {
        char *s = json_dumps(r, 0);
        fprintf(stderr, "unexpected reply: %s\n", s);
        free(s);
    }
    assert_string_equal(it_status(r), "success");
}

static void expect_error(json_t *r, const char *code)
{
    assert_string_equal(it_status(r), "error");
    assert_string_equal(it_code(r), code);
}

static void test_operations(void **state)
{
    (void)state;
    json_t *r;

    r = req(admin, "admin.requests",
            "{\"operation\":\"set\",\"key\":\"svc/db\",\"value\":{\"user\":\"u\",\"pw\":\"p\xc3\xa9\"},\"id\":7}");
    expect_success(r);
    assert_true(json_is_null(json_object_get(r, "data")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "meta"), "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"svc/db\",\"id\":\"x\"}");
    expect_success(r);
    json_t *want = json_loads("{\"user\":\"u\",\"pw\":\"p\xc3\xa9\"}", 0, NULL);
    assert_true(json_equal(json_object_get(r, "data"), want));
    json_decref(want);
    json_t *meta = json_object_get(r, "meta");
    assert_int_equal(json_integer_value(json_object_get(meta, "version")), 1);
    assert_non_null(json_string_value(json_object_get(meta, "created_at")));
    assert_non_null(json_string_value(json_object_get(meta, "updated_at")));
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"set\",\"key\":\"svc/db\",\"value\":42.5}");
    expect_success(r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "meta"), "version")), 2);
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"set\",\"key\":\"svc/api\",\"value\":\"k\"}");
    json_decref(r);
    r = req(admin, "admin.requests", "{\"operation\":\"list\",\"prefix\":\"svc/\"}");
    expect_success(r);
    json_t *names = json_object_get(r, "data");
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "svc/api");
    assert_string_equal(json_string_value(json_array_get(names, 1)), "svc/db");
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"list\",\"prefix\":\"svc/\",\"limit\":1}");
    expect_success(r);
    const char *next = json_string_value(json_object_get(json_object_get(r, "meta"), "next"));
    assert_non_null(next);
    char page2[256];
    snprintf(page2, sizeof page2,
             "{\"operation\":\"list\",\"prefix\":\"svc/\",\"limit\":1,\"after\":\"%s\"}", next);
    json_decref(r);
    r = req(admin, "admin.requests", page2);
    expect_success(r);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "data"), 0)), "svc/db");
    assert_null(json_object_get(json_object_get(r, "meta"), "next"));
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"rotate\"}");
    expect_success(r);
    assert_true(json_integer_value(json_object_get(json_object_get(r, "data"), "key_version")) >= 2);
    assert_true(json_integer_value(json_object_get(json_object_get(r, "data"), "reencrypted")) >= 2);
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"status\"}");
    expect_success(r);
    json_t *st = json_object_get(r, "data");
    assert_string_equal(json_string_value(json_object_get(st, "service")), "vaultctl");
    assert_non_null(json_object_get(st, "version"));
    assert_true(json_integer_value(json_object_get(st, "keys")) >= 2);
    assert_non_null(json_object_get(st, "key_version"));
    assert_non_null(json_object_get(st, "last_rotation"));
    assert_non_null(json_object_get(st, "uptime_s"));
    assert_non_null(json_object_get(st, "storage"));
    json_decref(r);

    r = req(admin, "admin.requests", "{\"operation\":\"delete\",\"key\":\"svc/api\"}");
    expect_success(r);
    json_decref(r);
    r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"svc/api\"}");
    expect_error(r, "not_found");
    json_decref(r);
}

/* Each error code, with the NATS service error headers. */
static void check_error(const char *payload, const char *code, const char *num)
{
    natsMsg *m = NULL;
    const char *hv = NULL;
    json_t *r = it_request(admin, "admin.requests", payload, 5000, &m);
    assert_non_null(r);
    expect_error(r, code);
    assert_non_null(json_string_value(json_object_get(r, "message")));
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Service-Error-Code", &hv), NATS_OK);
    assert_string_equal(hv, num);
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Service-Error", &hv), NATS_OK);
    assert_string_equal(hv, json_string_value(json_object_get(r, "message")));
    natsMsg_Destroy(m);
    json_decref(r);
}

static void test_error_codes(void **state)
{
    (void)state;
    char big[MAX_VALUE + 200];

    check_error("not json", "bad_request", "400");
    check_error("[1,2]", "bad_request", "400");
    check_error("{\"operation\":\"get\"}", "bad_request", "400");
    check_error("{\"operation\":\"get\",\"key\":\"\"}", "bad_request", "400");
    check_error("{\"operation\":\"get\",\"key\":\"a\\u0001b\"}", "bad_request", "400");
    check_error("{\"operation\":\"set\",\"key\":\"k\",\"value\":null}", "bad_request", "400");
    check_error("{\"operation\":\"explode\"}", "unknown_operation", "400");
    check_error("{\"operation\":\"get\",\"key\":\"no/such/key\"}", "not_found", "404");
    check_error("{\"operation\":\"delete\",\"key\":\"no/such/key\"}", "not_found", "404");
    memset(big, 'x', sizeof big);
    int n = snprintf(big, sizeof big, "{\"operation\":\"set\",\"key\":\"big\",\"value\":\"");
    memset(big + n, 'v', MAX_VALUE + 10);
    strcpy(big + n + MAX_VALUE + 10, "\"}");
    check_error(big, "too_large", "413");

    /* Nothing was stored by the refused set. */
    json_t *r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"big\"}");
    expect_error(r, "not_found");
    json_decref(r);

    /* The id is echoed on errors too. */
    r = req(admin, "admin.requests", "{\"operation\":\"nope\",\"id\":\"abc\"}");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "abc");
    json_decref(r);
}

static void check_acl(natsConnection *nc, const char *subject, const char *op, bool allowed)
{
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"operation\":\"%s\",\"key\":\"acl/probe\",\"value\":\"v\"}", op);
    json_t *r = req(nc, subject, payload);
    if (allowed) {
        /* Allowed: anything but access_denied (get may be not_found). */
        assert_string_not_equal(it_code(r), "access_denied");
    } else {
        expect_error(r, "access_denied");
        assert_string_equal(json_string_value(json_object_get(r, "message")), "Access denied");
    }
    json_decref(r);
}

static void test_acl(void **state)
{
    (void)state;
    static const char *const ops[] = {"get", "set", "delete", "list", "rotate", "status"};
    for (int i = 0; i < 6; i++)
        check_acl(admin, "admin.requests", ops[i], true);
    check_acl(agent, "user.requests", "set", true);
    check_acl(agent, "user.requests", "get", true);
    for (int i = 2; i < 6; i++)
        check_acl(agent, "user.requests", ops[i], false);
    /* subjects.request has no rights of its own: no ACL entry names it. */
    for (int i = 0; i < 6; i++)
        check_acl(probe, "vault.requests", ops[i], false);
}

static void test_spoofed_subject(void **state)
{
    (void)state;
    json_t *r = req(agent, "user.requests",
                    "{\"operation\":\"delete\",\"key\":\"acl/probe\",\"subject\":\"admin.requests\"}");
    expect_error(r, "access_denied");
    json_decref(r);
    r = req(agent, "user.requests",
            "{\"operation\":\"get\",\"key\":\"acl/probe\",\"subject\":\"admin.requests\"}");
    expect_error(r, "access_denied");
    json_decref(r);
    /* The matching claim is accepted. */
    r = req(agent, "user.requests",
            "{\"operation\":\"get\",\"key\":\"acl/probe\",\"subject\":\"user.requests\"}");
    expect_success(r);
    json_decref(r);
}

/* The agent user may not publish to admin.requests: the NATS server drops
 * the message, the service never sees it, and nothing changes. */
static void test_server_permissions(void **state)
{
    (void)state;
    json_t *r = req(admin, "admin.requests", "{\"operation\":\"set\",\"key\":\"perm/x\",\"value\":\"orig\"}");
    expect_success(r);
    json_decref(r);
    r = it_request(agent, "admin.requests",
                   "{\"operation\":\"set\",\"key\":\"perm/x\",\"value\":\"evil\"}", 500, NULL);
    assert_null(r);
    r = it_request(agent, "admin.requests", "{\"operation\":\"delete\",\"key\":\"perm/x\"}", 500, NULL);
    assert_null(r);
    r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"perm/x\"}");
    expect_success(r);
    assert_string_equal(json_string_value(json_object_get(r, "data")), "orig");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "meta"), "version")), 1);
    json_decref(r);
}

/* Each user may subscribe to its own inboxes only: the agent cannot read the
 * reply to an admin's get, even by subscribing to every inbox. */
static void test_inbox_privacy(void **state)
{
    (void)state;
    natsSubscription *spy_all = NULL, *spy_admin = NULL;
    natsMsg *m = NULL;
    json_t *r = req(admin, "admin.requests",
                    "{\"operation\":\"set\",\"key\":\"inbox/secret\",\"value\":\"top-secret-value\"}");
    expect_success(r);
    json_decref(r);
    /* The server refuses these subscriptions (a permissions violation). */
    (void)natsConnection_SubscribeSync(&spy_all, agent, "_INBOX.>");
    (void)natsConnection_SubscribeSync(&spy_admin, agent, "_INBOX.admin.>");
    (void)natsConnection_Flush(agent);
    r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"inbox/secret\"}");
    expect_success(r);
    assert_string_equal(json_string_value(json_object_get(r, "data")), "top-secret-value");
    json_decref(r);
    if (spy_all != NULL)
        assert_int_not_equal(natsSubscription_NextMsg(&m, spy_all, 300), NATS_OK);
    if (spy_admin != NULL)
        assert_int_not_equal(natsSubscription_NextMsg(&m, spy_admin, 300), NATS_OK);
    natsSubscription_Destroy(spy_all);
    natsSubscription_Destroy(spy_admin);
}

static void test_reply_subject_fallback(void **state)
{
    (void)state;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sub, admin, "vault.replies"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    const char *p = "{\"operation\":\"set\",\"key\":\"noreply/k\",\"value\":1,\"id\":\"req-77\"}";
    assert_int_equal(natsConnection_Publish(admin, "admin.requests", p, (int)strlen(p)), NATS_OK);
    assert_int_equal(natsSubscription_NextMsg(&m, sub, 5000), NATS_OK);
    json_t *r = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    expect_success(r);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "req-77");
    json_decref(r);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
}

static void test_discovery(void **state)
{
    (void)state;
    static const char *const subjects[] = {"$SRV.PING", "$SRV.PING.vaultctl", "$SRV.INFO.vaultctl",
                                           "$SRV.STATS.vaultctl"};
    static const char *const types[] = {"io.nats.micro.v1.ping_response", "io.nats.micro.v1.ping_response",
                                        "io.nats.micro.v1.info_response", "io.nats.micro.v1.stats_response"};
    char id[64] = "";
    for (int i = 0; i < 4; i++) {
        json_t *r = req(admin, subjects[i], "");
        assert_string_equal(json_string_value(json_object_get(r, "type")), types[i]);
        assert_string_equal(json_string_value(json_object_get(r, "name")), "vaultctl");
        assert_non_null(json_string_value(json_object_get(r, "version")));
        assert_true(json_is_object(json_object_get(r, "metadata")));
        const char *rid = json_string_value(json_object_get(r, "id"));
        assert_non_null(rid);
        if (id[0] == '\0')
            snprintf(id, sizeof id, "%s", rid);
        assert_string_equal(rid, id);
        if (i == 2) {
            json_t *eps = json_object_get(r, "endpoints");
            assert_true(json_array_size(eps) >= 3);
            json_t *e0 = json_array_get(eps, 0);
            assert_string_equal(json_string_value(json_object_get(e0, "subject")), "vault.requests");
            assert_string_equal(json_string_value(json_object_get(e0, "queue_group")), "vaultctl");
            assert_non_null(json_object_get(r, "description"));
        }
        if (i == 3) {
            assert_non_null(json_string_value(json_object_get(r, "started")));
            json_t *eps = json_object_get(r, "endpoints");
            json_t *e1 = json_array_get(eps, 1); /* admin.requests */
            assert_string_equal(json_string_value(json_object_get(e1, "subject")), "admin.requests");
            assert_true(json_integer_value(json_object_get(e1, "num_requests")) > 0);
            assert_true(json_integer_value(json_object_get(e1, "num_errors")) > 0);
            assert_true(json_is_integer(json_object_get(e1, "processing_time")));
            assert_true(json_is_integer(json_object_get(e1, "average_processing_time")));
            assert_true(json_is_string(json_object_get(e1, "last_error")));
        }
        json_decref(r);
    }
    char subj[128];
    snprintf(subj, sizeof subj, "$SRV.INFO.vaultctl.%s", id);
    json_t *r = req(admin, subj, "");
    assert_string_equal(json_string_value(json_object_get(r, "id")), id);
    json_decref(r);
}

/* The running service allows no core dump (they would hold key material). */
static void test_no_core_dumps(void **state)
{
    (void)state;
    char path[64], line[256];
    bool seen = false;
    snprintf(path, sizeof path, "/proc/%d/limits", (int)vault.pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "Max core file size", 18) == 0) {
            char soft[32], hard[32];
            assert_int_equal(sscanf(line + 18, "%31s %31s", soft, hard), 2);
            assert_string_equal(soft, "0");
            assert_string_equal(hard, "0");
            seen = true;
        }
    }
    fclose(f);
    assert_true(seen);
}

static void test_restart_keeps_data(void **state)
{
    (void)state;
    json_t *r = req(admin, "admin.requests", "{\"operation\":\"set\",\"key\":\"durable/k\",\"value\":[1,\"two\",{\"3\":true}]}");
    expect_success(r);
    json_decref(r);
    assert_int_equal(it_vault_stop(&vault), 0);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    r = req(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"durable/k\"}");
    expect_success(r);
    json_t *want = json_loads("[1,\"two\",{\"3\":true}]", 0, NULL);
    assert_true(json_equal(json_object_get(r, "data"), want));
    json_decref(want);
    json_decref(r);
}

/* SIGTERM while requests are in flight: every request sent gets its reply
 * and every acknowledged write is there after a restart. */
static void test_sigterm_drains(void **state)
{
    (void)state;
    enum { N = 300 };
    natsSubscription *sub = NULL;
    char inbox[64], wild[64], payload[128];
    int ok = 0;

    /* One reply subject per request, as every NATS client does: the vault
     * user's allow_responses permits one response per received request. */
    snprintf(wild, sizeof wild, "_INBOX.admin.drain%d.*", getpid());
    assert_int_equal(natsConnection_SubscribeSync(&sub, admin, wild), NATS_OK);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload,
                 "{\"operation\":\"set\",\"key\":\"drain/%d\",\"value\":%d,\"id\":%d}", i, i, i);
        snprintf(inbox, sizeof inbox, "_INBOX.admin.drain%d.%d", getpid(), i);
        assert_int_equal(natsConnection_PublishRequestString(admin, "admin.requests", inbox, payload),
                         NATS_OK);
    }
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    assert_int_equal(it_vault_stop(&vault), 0);
    for (;;) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 2000) != NATS_OK)
            break;
        json_t *r = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        if (r != NULL && strcmp(it_status(r), "success") == 0)
            ok++;
        json_decref(r);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    fprintf(stderr, "sigterm drain: %d of %d requests answered with success\n", ok, N);
    assert_int_equal(ok, N);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload, "{\"operation\":\"get\",\"key\":\"drain/%d\"}", i);
        json_t *r = req(admin, "admin.requests", payload);
        expect_success(r);
        assert_int_equal(json_integer_value(json_object_get(r, "data")), i);
        json_decref(r);
    }
}

/* nats-server killed and started again on the same port: vaultctl serves
 * again without being restarted. */
static void test_nats_restart(void **state)
{
    (void)state;
    natsConnection_Destroy(admin);
    natsConnection_Destroy(agent);
    natsConnection_Destroy(probe);
    it_nats_stop(&nats, true);
    usleep(300 * 1000);
    assert_int_equal(it_nats_start(&nats, nats.port), 0);
    admin = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    agent = it_connect(&nats, IT_AGENT_USER, IT_AGENT_PASS);
    probe = it_connect(&nats, IT_PROBE_USER, IT_PROBE_PASS);
    assert_non_null(admin);
    json_t *r = NULL;
    /* No responders answer at once: poll for up to 20 s. */
    for (int i = 0; i < 100 && r == NULL; i++) {
        r = it_request(admin, "admin.requests", "{\"operation\":\"get\",\"key\":\"durable/k\"}", 200, NULL);
        if (r == NULL)
            usleep(200 * 1000);
    }
    if (r == NULL) {
        it_vault_dump_log(&vault);
        it_nats_dump_log(&nats);
    }
    assert_non_null(r);
    expect_success(r);
    json_decref(r);
}

/* 50 concurrent clients, 200 mixed requests each: no error, no lost write. */
typedef struct {
    int id;
    int errors;
    int requests;
} client_arg;

static void *client_main(void *p)
{
    client_arg *a = p;
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    char payload[256];
    if (nc == NULL) {
        a->errors = 200;
        return NULL;
    }
    for (int i = 0; i < 200; i++) {
        int k = i % 10;
        if (i % 4 == 3) /* read back the key the previous request set */
            snprintf(payload, sizeof payload,
                     "{\"operation\":\"get\",\"key\":\"conc/%d/%d\"}", a->id, (i - 1) % 10);
        else
            snprintf(payload, sizeof payload,
                     "{\"operation\":\"set\",\"key\":\"conc/%d/%d\",\"value\":%d}", a->id, k, i);
        json_t *r = it_request(nc, "admin.requests", payload, 10000, NULL);
        a->requests++;
        if (r == NULL || strcmp(it_status(r), "success") != 0)
            a->errors++;
        json_decref(r);
    }
    natsConnection_Destroy(nc);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    enum { C = 50 };
    pthread_t th[C];
    client_arg args[C];
    int errors = 0, requests = 0, lost = 0;
    char payload[128];

    for (int c = 0; c < C; c++) {
        args[c] = (client_arg){.id = c};
        assert_int_equal(pthread_create(&th[c], NULL, client_main, &args[c]), 0);
    }
    for (int c = 0; c < C; c++) {
        pthread_join(th[c], NULL);
        errors += args[c].errors;
        requests += args[c].requests;
    }
    /* The last set of key k by client c was at the largest i < 200 with
     * i % 10 == k and i % 4 != 3. */
    for (int c = 0; c < C; c++) {
        for (int k = 0; k < 10; k++) {
            int last = -1;
            for (int i = 0; i < 200; i++)
                if (i % 10 == k && i % 4 != 3)
                    last = i;
            snprintf(payload, sizeof payload, "{\"operation\":\"get\",\"key\":\"conc/%d/%d\"}", c, k);
            json_t *r = req(admin, "admin.requests", payload);
            if (strcmp(it_status(r), "success") != 0 ||
                json_integer_value(json_object_get(r, "data")) != last)
                lost++;
            json_decref(r);
        }
    }
    fprintf(stderr, "concurrent: %d clients, %d requests, %d errors, %d lost writes\n", C,
            requests, errors, lost);
    assert_int_equal(errors, 0);
    assert_int_equal(lost, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_acl),
        cmocka_unit_test(test_spoofed_subject),
        cmocka_unit_test(test_server_permissions),
        cmocka_unit_test(test_inbox_privacy),
        cmocka_unit_test(test_reply_subject_fallback),
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_no_core_dumps),
        cmocka_unit_test(test_restart_keeps_data),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_nats_restart),
        cmocka_unit_test(test_concurrent_clients),
    };
    if (getenv("IT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("IT_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
