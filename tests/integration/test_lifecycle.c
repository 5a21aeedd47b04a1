/* test_lifecycle.c - PROTOCOL.md §7 over a real nats-server and the real
 * binary: check-and-set raced by 50 clients, versions and get by version,
 * expiry exact to the second, the background sweep of 10,000 keys (2,000 on
 * the jetstream backend) expiring together while requests keep being answered, and an expiry that
 * passed while the service was down. Prints the figures the issue asks for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static it_nats nats;
static it_vault vault;
static natsConnection *admin;

static int setup(void **state)
{
    (void)state;
    if (it_nats_start(&nats, 0) != 0)
        return -1;
    /* every version of the race kept, to check each winner's value */
    if (it_vault_init(&vault, &nats, "history:\n  max_versions: 1000\n") != 0)
        return -1;
    if (it_vault_start(&vault, &nats) != 0)
        return -1;
    admin = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    return admin != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(admin);
    it_vault_destroy(&vault);
    it_nats_destroy(&nats);
    return 0;
}

static json_t *req(natsConnection *nc, const char *payload)
{
    json_t *r = it_request(nc, "admin.requests", payload, 10000, NULL);
    if (r == NULL)
        it_vault_dump_log(&vault);
    assert_non_null(r);
    return r;
}

static json_t *reqf(natsConnection *nc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *reqf(natsConnection *nc, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return req(nc, buf);
}

static int64_t meta_int(const json_t *r, const char *name)
{
    return (int64_t)json_integer_value(json_object_get(json_object_get(r, "meta"), name));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t store_keys(void)
{
    json_t *r = req(admin, "{\"operation\":\"status\"}");
    uint64_t n = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "keys"));
    json_decref(r);
    return n;
}

/* ---- cas race ---- */

#define RACE_CLIENTS 50
#define RACE_TRIES   8
#define RACE_MAX_VER 2000

typedef struct {
    int id;
    natsConnection *nc;
    int wins, conflicts, errors;
    int64_t won[RACE_TRIES];
} racer;

static void *race_main(void *arg)
{
    racer *r = arg;
    for (int t = 0; t < RACE_TRIES; t++) {
        json_t *g = it_request(r->nc, "admin.requests",
                               "{\"operation\":\"get\",\"key\":\"race/k\"}", 10000, NULL);
        if (g == NULL) {
            r->errors++;
            continue;
        }
        int64_t cur = strcmp(it_status(g), "success") == 0 ? meta_int(g, "version") : 0;
        json_decref(g);
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"operation\":\"set\",\"key\":\"race/k\",\"value\":\"c%d-t%d\",\"cas\":%lld}",
                 r->id, t, (long long)cur);
        json_t *s = it_request(r->nc, "admin.requests", buf, 10000, NULL);
        if (s == NULL) {
            r->errors++;
        } else if (strcmp(it_status(s), "success") == 0) {
            int64_t v = meta_int(s, "version");
            if (v != cur + 1)
                r->errors++;
            r->won[r->wins++] = v;
        } else if (strcmp(it_code(s), "conflict") == 0) {
            r->conflicts++;
        } else {
            r->errors++;
        }
        json_decref(s);
    }
    return NULL;
}

static void test_cas_race(void **state)
{
    (void)state;
    static racer rs[RACE_CLIENTS];
    static int winner[RACE_MAX_VER + 1];
    pthread_t th[RACE_CLIENTS];
    int wins = 0, conflicts = 0, errors = 0, doubles = 0;
    int64_t maxv = 0;

    memset(winner, 0, sizeof winner);
    for (int i = 0; i < RACE_CLIENTS; i++) {
        rs[i].id = i;
        rs[i].nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
        assert_non_null(rs[i].nc);
    }
    double t0 = now_s();
    for (int i = 0; i < RACE_CLIENTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &rs[i]), 0);
    for (int i = 0; i < RACE_CLIENTS; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    for (int i = 0; i < RACE_CLIENTS; i++) {
        wins += rs[i].wins;
        conflicts += rs[i].conflicts;
        errors += rs[i].errors;
        for (int w = 0; w < rs[i].wins; w++) {
            int64_t v = rs[i].won[w];
            assert_true(v >= 1 && v <= RACE_MAX_VER);
            if (winner[v] != 0)
                doubles++;
            winner[v] = i + 1;
            if (v > maxv)
                maxv = v;
        }
        natsConnection_Destroy(rs[i].nc);
    }
    /* the current version is the number of wins: a conflict wrote nothing */
    json_t *cur = req(admin, "{\"operation\":\"versions\",\"key\":\"race/k\"}");
    int64_t current = meta_int(cur, "current");
    size_t kept = json_array_size(json_object_get(cur, "data"));
    json_decref(cur);
    printf("cas race: clients=%d tries=%d versions=%lld wins=%d conflicts=%d double_winners=%d "
           "errors=%d in %.2f s (kept versions %zu)\n",
           RACE_CLIENTS, RACE_CLIENTS * RACE_TRIES, (long long)current, wins, conflicts, doubles,
           errors, secs, kept);
    assert_int_equal(errors, 0);
    assert_int_equal(doubles, 0);
    assert_int_equal(wins + conflicts, RACE_CLIENTS * RACE_TRIES);
    assert_int_equal(current, wins);
    assert_int_equal(maxv, wins);
    assert_true(conflicts > 0); /* it was a race */
    /* every version 1..current has exactly one winner, and holds its value */
    for (int64_t v = 1; v <= current; v++) {
        assert_int_not_equal(winner[v], 0);
        json_t *g = reqf(admin, "{\"operation\":\"get\",\"key\":\"race/k\",\"version\":%lld}",
                         (long long)v);
        assert_string_equal(it_status(g), "success");
        const char *val = json_string_value(json_object_get(g, "data"));
        char want[32];
        snprintf(want, sizeof want, "c%d-", winner[v] - 1);
        assert_non_null(val);
        assert_memory_equal(val, want, strlen(want));
        json_decref(g);
    }
}

/* ---- versions, cas and ttl over NATS ---- */

static void test_versions_and_ttl(void **state)
{
    (void)state;
    json_t *r;
    r = req(admin, "{\"operation\":\"set\",\"key\":\"lc/a\",\"value\":\"one\",\"cas\":0}");
    assert_string_equal(it_status(r), "success");
    json_decref(r);
    natsMsg *m = NULL;
    r = it_request(admin, "admin.requests",
                   "{\"operation\":\"set\",\"key\":\"lc/a\",\"value\":\"x\",\"cas\":0}", 5000, &m);
    assert_non_null(r);
    assert_string_equal(it_code(r), "conflict");
    const char *hv = NULL;
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Service-Error-Code", &hv), NATS_OK);
    assert_string_equal(hv, "409");
    natsMsg_Destroy(m);
    json_decref(r);
    r = req(admin, "{\"operation\":\"set\",\"key\":\"lc/a\",\"value\":\"two\",\"cas\":1,"
                   "\"ttl\":\"1h\"}");
    assert_int_equal(meta_int(r, "version"), 2);
    /* the seconds left when the reply was built: a loaded machine may
     * cross a second boundary between the commit and the reply */
    assert_in_range(meta_int(r, "ttl"), 3590, 3600);
    json_decref(r);
    r = req(admin, "{\"operation\":\"get\",\"key\":\"lc/a\",\"version\":1}");
    assert_string_equal(json_string_value(json_object_get(r, "data")), "one");
    json_decref(r);
    r = req(admin, "{\"operation\":\"set\",\"key\":\"lc/a\",\"value\":1,\"ttl\":\"1x\"}");
    assert_string_equal(it_code(r), "bad_request");
    json_decref(r);
    /* user.requests may not list versions */
    natsConnection *agent = it_connect(&nats, IT_AGENT_USER, IT_AGENT_PASS);
    r = it_request(agent, "user.requests", "{\"operation\":\"versions\",\"key\":\"lc/a\"}", 5000,
                   NULL);
    assert_non_null(r);
    assert_string_equal(it_code(r), "access_denied");
    json_decref(r);
    natsConnection_Destroy(agent);

    /* exact to the second: not_found from the first second past expires_at */
    r = req(admin, "{\"operation\":\"set\",\"key\":\"lc/t\",\"value\":\"v\",\"ttl\":2}");
    const char *exp = json_string_value(json_object_get(json_object_get(r, "meta"), "expires_at"));
    assert_non_null(exp);
    struct tm tm = {0};
    assert_non_null(strptime(exp, "%Y-%m-%dT%H:%M:%SZ", &tm));
    time_t expires_at = timegm(&tm);
    json_decref(r);
    for (;;) {
        time_t before = time(NULL);
        r = req(admin, "{\"operation\":\"get\",\"key\":\"lc/t\"}");
        time_t after = time(NULL);
        bool found = strcmp(it_status(r), "success") == 0;
        json_decref(r);
        if (after < expires_at)
            assert_true(found);
        if (before >= expires_at) {
            assert_false(found);
            break;
        }
        usleep(50000);
    }
    r = req(admin, "{\"operation\":\"list\",\"prefix\":\"lc/\"}");
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    json_decref(r);
    r = req(admin, "{\"operation\":\"versions\",\"key\":\"lc/t\"}");
    assert_string_equal(it_code(r), "not_found");
    json_decref(r);
    r = req(admin, "{\"operation\":\"delete\",\"key\":\"lc/t\"}");
    assert_string_equal(it_code(r), "not_found");
    json_decref(r);
}

/* ---- the sweep ---- */

/* 10,000 keys; 2,000 on the jetstream backend, whose sets (each a
 * replicated WAL message and its KV messages, ~500/s from these writers on
 * a loaded machine) would not all land before the expiry. */
#define SWEEP_KEYS_MAX 10000
#define SWEEP_WRITERS  8

static int sweep_keys(void)
{
    return it_jetstream() ? 2000 : SWEEP_KEYS_MAX;
}

typedef struct {
    int from, to;
    time_t expires_at;
    int errors;
} sweep_writer;

static void *sweep_write_main(void *arg)
{
    sweep_writer *w = arg;
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    if (nc == NULL) {
        w->errors++;
        return NULL;
    }
    for (int i = w->from; i < w->to; i++) {
        char buf[256];
        long long ttl = (long long)(w->expires_at - time(NULL));
        snprintf(buf, sizeof buf,
                 "{\"operation\":\"set\",\"key\":\"sweep/%05d\",\"value\":\"v%d\",\"ttl\":%lld}", i,
                 i, ttl);
        json_t *r = it_request(nc, "admin.requests", buf, 10000, NULL);
        if (r == NULL || strcmp(it_status(r), "success") != 0)
            w->errors++;
        json_decref(r);
    }
    natsConnection_Destroy(nc);
    return NULL;
}

typedef struct {
    volatile bool stop;
    int answered, failed;
    double max_ms;
} prober;

static void *probe_main(void *arg)
{
    prober *p = arg;
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    while (nc != NULL && !p->stop) {
        double t0 = now_s();
        json_t *r = it_request(nc, "admin.requests", "{\"operation\":\"get\",\"key\":\"lc/a\"}",
                               5000, NULL);
        double ms = (now_s() - t0) * 1000;
        if (r != NULL && strcmp(it_status(r), "success") == 0)
            p->answered++;
        else
            p->failed++;
        if (ms > p->max_ms)
            p->max_ms = ms;
        json_decref(r);
        usleep(20000);
    }
    natsConnection_Destroy(nc);
    return NULL;
}

static void test_sweep(void **state)
{
    (void)state;
    const int nkeys = sweep_keys();
    sweep_writer ws[SWEEP_WRITERS];
    pthread_t th[SWEEP_WRITERS], pt;
    prober pr = {false, 0, 0, 0};
    uint64_t base = store_keys();
    time_t expires_at = time(NULL) + (it_quick() ? 40 : 25);
    double t0 = now_s();

    for (int i = 0; i < SWEEP_WRITERS; i++) {
        ws[i].from = i * nkeys / SWEEP_WRITERS;
        ws[i].to = (i + 1) * nkeys / SWEEP_WRITERS;
        ws[i].expires_at = expires_at;
        ws[i].errors = 0;
        assert_int_equal(pthread_create(&th[i], NULL, sweep_write_main, &ws[i]), 0);
    }
    for (int i = 0; i < SWEEP_WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ws[i].errors, 0);
    }
    printf("sweep: %d keys set in %.1f s, all expiring at +%lld s\n", nkeys, now_s() - t0,
           (long long)(expires_at - time(NULL)));
    assert_true(time(NULL) < expires_at);
    assert_int_equal(store_keys(), base + (uint64_t)nkeys);

    assert_int_equal(pthread_create(&pt, NULL, probe_main, &pr), 0);
    /* each set's ttl was counted from the client's clock: the service's
     * second may have ticked on since, so expiries span expires_at and the
     * second after it */
    while (time(NULL) < expires_at + 1)
        usleep(100000);
    /* from the caller's view they are gone at once */
    json_t *r = req(admin, "{\"operation\":\"list\",\"prefix\":\"sweep/\"}");
    assert_int_equal(json_array_size(json_object_get(r, "data")), 0);
    json_decref(r);
    double te = now_s();
    uint64_t left;
    while ((left = store_keys()) > base && now_s() - te < 60)
        usleep(100000);
    double gone = now_s() - te;
    pr.stop = true;
    pthread_join(pt, NULL);
    printf("sweep: %d keys expired together, gone from the store %.1f s after their expiry "
           "(sweep every 10 s); meanwhile %d gets answered, %d failed, slowest %.1f ms\n",
           nkeys, gone, pr.answered, pr.failed, pr.max_ms);
    /* the sweep's own time, from its log lines (a pass logs once it is
     * done, a moment after its last batch is visible: on the jetstream
     * backend that batch's acknowledgement comes first) */
    char line[512];
    unsigned long long removed_total = 0;
    long long ms_total = 0;
    for (int tries = 0; tries < 50 && removed_total < (unsigned long long)nkeys; tries++) {
        if (tries > 0)
            usleep(100000);
        FILE *f = fopen(vault.log, "r");
        removed_total = 0;
        ms_total = 0;
        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            const char *p = strstr(line, "expiry sweep: ");
            unsigned long long n;
            long long ms;
            if (p != NULL &&
                sscanf(p, "expiry sweep: %llu expired key%*s removed in %lld ms", &n, &ms) == 2) {
                removed_total += n;
                ms_total += ms;
            }
        }
        if (f != NULL)
            fclose(f);
    }
    printf("sweep: the passes removed %llu keys in %lld ms of sweeping\n", removed_total, ms_total);
    assert_int_equal(left, base);
    assert_int_equal(pr.failed, 0);
    assert_true(pr.answered > 0);
    assert_true(removed_total >= (unsigned long long)nkeys);
}

/* An expiry that passed while the service was down takes effect at start. */
static void test_expired_while_down(void **state)
{
    (void)state;
    uint64_t base = store_keys();
    for (int i = 0; i < 20; i++) {
        json_t *r =
            reqf(admin, "{\"operation\":\"set\",\"key\":\"down/%d\",\"value\":1,\"ttl\":2}", i);
        assert_string_equal(it_status(r), "success");
        json_decref(r);
    }
    assert_int_equal(store_keys(), base + 20);
    assert_int_equal(it_vault_stop(&vault), 0);
    sleep(3);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    double t0 = now_s();
    uint64_t left;
    while ((left = store_keys()) > base && now_s() - t0 < 5)
        usleep(50000);
    printf("expired while down: gone %.2f s after the restart\n", now_s() - t0);
    assert_int_equal(left, base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cas_race),
        cmocka_unit_test(test_versions_and_ttl),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_expired_while_down),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests(tests, setup, teardown);
}
