/* test_crash.c - crash safety: `vaultctl serve` is killed with SIGKILL at a
 * random moment while writers set increasing values over NATS and (in every
 * third round) a rotation of 20,000+ records runs; after each restart every
 * acknowledged write must read back with its latest acknowledged value (or a
 * later one that was in flight at the kill) and every record must open.
 *
 * Rounds: 30 (VAULTCTL_CRASH_ROUNDS overrides; quick mode halves it). A
 * writes round kills after a random 50..800 ms; a rotation round kills once
 * a random 5%..95% of the records are re-sealed (watched through store.h
 * from this process), and proves afterwards that old and new data keys
 * were both in use, i.e. the kill hit the rotation between its batches.
 * VAULTCTL_CRASH_SEED replays a run's random delays.
 *
 * Why the writers close their connection at the kill: a request already
 * delivered to the dead process would otherwise wait out its whole timeout;
 * closing the connection ends it at once, as unacknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "seal.h"
#include "store.h"
#include "vault.h"

#define PRELOAD 20000
#define PRELOAD_THREADS 32
#define WRITERS 2
#define KEYS_PER_WRITER 8
#define NKEYS (WRITERS * KEYS_PER_WRITER)
#define SET_TIMEOUT_MS 10000
#define ROTATE_TIMEOUT_MS 300000

static it_nats nats;
static it_vault svc; /* the service under test ("vault" is the library type) */
static char data_dir[400], key_path[400];
static unsigned seed;
static double rotate_ms; /* how long one full rotation took (reported) */

/* Per key: the last acknowledged value and the largest value ever sent;
 * each key is written by one writer only, so values only grow. */
static long long acked[NKEYS], sent_max[NKEYS];

/* One round's shared state. */
static atomic_bool stop;
static atomic_bool rotate_sent, rotate_done;
static atomic_int writes_acked;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((long long)(ms * 1e6) % 1000000000LL)};
    nanosleep(&ts, NULL);
}

static int rounds_wanted(void)
{
    const char *env = getenv("VAULTCTL_CRASH_ROUNDS");
    int n = env != NULL ? atoi(env) : 30;
    if (n < 1)
        n = 1;
    if (it_quick() && n > 1)
        n /= 2;
    return n;
}

/* ---- preload through the library, before the service starts ---------- */

typedef struct {
    vault *v;
    int first, step;
    int failed;
} preload_arg;

static void *preload_main(void *p)
{
    preload_arg *a = p;
    char name[32], value[64];
    vc_err err;
    for (int i = a->first; i < PRELOAD; i += a->step) {
        int nl = snprintf(name, sizeof name, "pre/%05d", i);
        int vl = snprintf(value, sizeof value, "\"preloaded value %05d\"", i);
        if (vault_set(a->v, name, (size_t)nl, value, (size_t)vl, NULL, &err) != VC_OK)
            a->failed++;
    }
    return NULL;
}

/* Opens the store in this process (the service must not be running for
 * the count of lost records to mean anything; the vault itself is safe
 * beside it). */
static vault *open_local(seal_master **m)
{
    vault *v = NULL;
    vc_err err;
    if (seal_init(&err) != VC_OK || seal_master_load(m, key_path, NULL, &err) != VC_OK) {
        fprintf(stderr, "master key: %s\n", err.msg);
        return NULL;
    }
    if (vault_open(&v, data_dir, 0, *m, &err) != VC_OK) {
        fprintf(stderr, "vault_open: %s\n", err.msg);
        seal_master_free(*m);
        *m = NULL;
        return NULL;
    }
    return v;
}

static int preload(void)
{
    seal_master *m = NULL;
    vault *v = open_local(&m);
    pthread_t th[PRELOAD_THREADS];
    preload_arg args[PRELOAD_THREADS];
    int failed = 0;
    double t0 = now_ms();

    if (v == NULL)
        return -1;
    for (int i = 0; i < PRELOAD_THREADS; i++) {
        args[i] = (preload_arg){v, i, PRELOAD_THREADS, 0};
        pthread_create(&th[i], NULL, preload_main, &args[i]);
    }
    for (int i = 0; i < PRELOAD_THREADS; i++) {
        pthread_join(th[i], NULL);
        failed += args[i].failed;
    }
    vault_close(v);
    seal_master_free(m);
    fprintf(stderr, "preloaded %d records through the library in %.0f ms\n", PRELOAD,
            now_ms() - t0);
    return failed == 0 ? 0 : -1;
}

/* ---- setup -------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("VAULTCTL_CRASH_SEED");
    seed = s != NULL ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "crash test seed %u (VAULTCTL_CRASH_SEED=%u replays it)\n", seed, seed);
    if (it_nats_start(&nats, 0) != 0)
        return -1;
    if (it_vault_init(&svc, &nats, NULL) != 0)
        return -1;
    snprintf(data_dir, sizeof data_dir, "%s/data", svc.dir);
    snprintf(key_path, sizeof key_path, "%s/master.key", svc.dir);
    return preload();
}

static int teardown(void **state)
{
    (void)state;
    it_vault_destroy(&svc);
    it_nats_destroy(&nats);
    return 0;
}

/* ---- one round ------------------------------------------------------------ */

typedef struct {
    int w;
    natsConnection *nc;
    unsigned seed;
} writer_arg;

static void *writer_main(void *p)
{
    writer_arg *a = p;
    char payload[160];

    while (!atomic_load(&stop)) {
        int k = a->w * KEYS_PER_WRITER + (int)(rand_r(&a->seed) % KEYS_PER_WRITER);
        long long val = sent_max[k] + 1;
        snprintf(payload, sizeof payload,
                 "{\"operation\":\"set\",\"key\":\"crash/%d\",\"value\":%lld}", k, val);
        sent_max[k] = val; /* before sending: it may land even unacknowledged */
        json_t *r = it_request(a->nc, "admin.requests", payload, SET_TIMEOUT_MS, NULL);
        bool ok = r != NULL && strcmp(it_status(r), "success") == 0;
        if (r != NULL && !ok) {
            char *s = json_dumps(r, 0);
            fprintf(stderr, "writer %d: set crash/%d refused: %s\n", a->w, k, s);
            free(s);
        }
        json_decref(r);
        if (!ok)
            break; /* killed (or slow): no later write may overtake this one */
        acked[k] = val;
        atomic_fetch_add(&writes_acked, 1);
    }
    return NULL;
}

typedef struct {
    natsConnection *nc;
    bool acked;
    long long reencrypted;
} rotator_arg;

static void *rotator_main(void *p)
{
    rotator_arg *a = p;
    atomic_store(&rotate_sent, true);
    json_t *r = it_request(a->nc, "admin.requests", "{\"operation\":\"rotate\"}",
                           ROTATE_TIMEOUT_MS, NULL);
    if (r != NULL && strcmp(it_status(r), "success") == 0) {
        a->acked = true;
        a->reencrypted =
            json_integer_value(json_object_get(json_object_get(r, "data"), "reencrypted"));
    }
    json_decref(r);
    atomic_store(&rotate_done, true);
    return NULL;
}

/* After a restart: every writer key holds a value between its last acked
 * value and the largest value sent; `list` makes the service open every
 * record (its name cache is rebuilt from all records after a start) and the
 * record count is exact. Returns the number of records lost or unreadable. */
static int check_after_restart(natsConnection *nc)
{
    char payload[128];
    int lost = 0, present = 0;

    for (int k = 0; k < NKEYS; k++) {
        snprintf(payload, sizeof payload, "{\"operation\":\"get\",\"key\":\"crash/%d\"}", k);
        json_t *r = it_request(nc, "admin.requests", payload, SET_TIMEOUT_MS, NULL);
        const char *st = r != NULL ? it_status(r) : "(no reply)";
        if (r != NULL && strcmp(st, "success") == 0) {
            long long v = json_integer_value(json_object_get(r, "data"));
            present++;
            if (v < acked[k] || v > sent_max[k]) {
                fprintf(stderr, "LOST: crash/%d reads %lld, acked %lld, sent up to %lld\n", k, v,
                        acked[k], sent_max[k]);
                lost++;
            }
            if (v > acked[k])
                acked[k] = v; /* it is durable now: later rounds must keep it */
        } else if (r != NULL && strcmp(it_code(r), "not_found") == 0 && acked[k] == 0) {
            /* never acknowledged, never landed: fine */
        } else {
            fprintf(stderr, "LOST: crash/%d: %s %s (acked %lld)\n", k, st,
                    r != NULL ? it_code(r) : "", acked[k]);
            lost++;
        }
        json_decref(r);
    }
    json_t *r = it_request(nc, "admin.requests", "{\"operation\":\"list\",\"limit\":1}", 60000,
                           NULL);
    if (r == NULL || strcmp(it_status(r), "success") != 0) {
        fprintf(stderr, "LOST: list (opens every record) failed: %s\n",
                r != NULL ? it_code(r) : "no reply");
        lost++;
    }
    json_decref(r);
    r = it_request(nc, "admin.requests", "{\"operation\":\"status\"}", 10000, NULL);
    long long keys = json_integer_value(json_object_get(json_object_get(r, "data"), "keys"));
    if (keys != PRELOAD + present) {
        fprintf(stderr, "LOST: status counts %lld records, expected %d\n", keys,
                PRELOAD + present);
        lost += (int)llabs(PRELOAD + present - keys);
    }
    json_decref(r);
    return lost;
}

/* ---- proof that a kill landed inside a rotation ----------------------- */

/* Record header (see vault.c): format u8, then the data key version as u32
 * little-endian. A store whose records sit under more than one data key
 * version was stopped between a rotation's first and last batch. */
typedef struct {
    uint32_t versions[4];
    uint64_t counts[4];
    int n;
} version_tally;

static int tally_record(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                        size_t val_len)
{
    version_tally *t = ctx;
    (void)key;
    (void)key_len;
    if (val_len < 5)
        return 0;
    uint32_t ver = (uint32_t)val[1] | (uint32_t)val[2] << 8 | (uint32_t)val[3] << 16 |
                   (uint32_t)val[4] << 24;
    for (int i = 0; i < t->n; i++) {
        if (t->versions[i] == ver) {
            t->counts[i]++;
            return 0;
        }
    }
    if (t->n < 4) {
        t->versions[t->n] = ver;
        t->counts[t->n++] = 1;
    }
    return 0;
}

/* Which data key versions the records are sealed under (the store is safe
 * beside a running service); false on error. */
static bool record_versions(version_tally *tally)
{
    store *st = NULL;
    store_txn *t = NULL;
    vc_err err;
    bool ok = false;

    memset(tally, 0, sizeof *tally);
    if (store_open(&st, data_dir, 0, &err) != VC_OK)
        return false;
    if (store_begin(st, false, &t, &err) == VC_OK &&
        store_scan(t, STORE_RECORDS, NULL, 0, tally_record, tally, &err) == VC_OK)
        ok = true;
    store_abort(t);
    store_close(st);
    return ok;
}

static uint32_t newest_version(const version_tally *t)
{
    uint32_t v = 0;
    for (int i = 0; i < t->n; i++)
        if (t->versions[i] > v)
            v = t->versions[i];
    return v;
}

/* Records already under a data key newer than any in before. */
static uint64_t resealed(const version_tally *cur, const version_tally *before)
{
    uint64_t n = 0;
    for (int i = 0; i < cur->n; i++)
        if (cur->versions[i] > newest_version(before))
            n += cur->counts[i];
    return n;
}

/* ---- rounds -------------------------------------------------------------- */

typedef struct {
    int lost;
    bool rotation_round;
    bool killed_mid_rotation; /* the rotate request had no reply yet */
    bool split;               /* records left under two data key versions */
    double delay_ms;
    double share; /* rotation rounds: share of records re-sealed to wait for */
} round_result;

static void run_round(int round, bool rotation_round, round_result *res)
{
    pthread_t wth[WRITERS], rth;
    writer_arg wa[WRITERS];
    rotator_arg ra = {0};
    natsConnection *ncs[WRITERS + 1] = {0};
    natsConnection *checker;

    version_tally before, after;

    memset(res, 0, sizeof *res);
    res->rotation_round = rotation_round;
    assert_true(record_versions(&before));
    assert_int_equal(it_vault_start(&svc, &nats), 0);
    checker = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(checker);
    res->lost = check_after_restart(checker);

    atomic_store(&stop, false);
    atomic_store(&rotate_sent, false);
    atomic_store(&rotate_done, false);
    atomic_store(&writes_acked, 0);
    for (int w = 0; w < WRITERS; w++) {
        ncs[w] = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
        assert_non_null(ncs[w]);
        wa[w] = (writer_arg){w, ncs[w], rand_r(&seed)};
        assert_int_equal(pthread_create(&wth[w], NULL, writer_main, &wa[w]), 0);
    }
    if (rotation_round) {
        ncs[WRITERS] = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
        assert_non_null(ncs[WRITERS]);
        ra.nc = ncs[WRITERS];
        assert_int_equal(pthread_create(&rth, NULL, rotator_main, &ra), 0);
        while (!atomic_load(&rotate_sent))
            sleep_ms(1);
        /* Kill once a random share (5%..95%) of the records has been
         * re-sealed under the new data key, watched from this process. */
        double share = res->share = 0.05 + 0.9 * (double)(rand_r(&seed) % 1000) / 1000.0;
        double t0 = now_ms();
        while (!atomic_load(&rotate_done) && now_ms() - t0 < ROTATE_TIMEOUT_MS) {
            version_tally cur;
            if (record_versions(&cur) && resealed(&cur, &before) >= share * PRELOAD)
                break;
            sleep_ms(1);
        }
        res->delay_ms = now_ms() - t0;
    } else {
        res->delay_ms = 50.0 + (double)(rand_r(&seed) % 750);
        sleep_ms(res->delay_ms);
    }

    atomic_store(&stop, true);
    res->killed_mid_rotation = rotation_round && !atomic_load(&rotate_done);
    it_vault_kill(&svc);
    for (int i = 0; i < WRITERS + 1; i++)
        if (ncs[i] != NULL)
            natsConnection_Close(ncs[i]); /* ends requests left waiting */
    for (int w = 0; w < WRITERS; w++)
        pthread_join(wth[w], NULL);
    if (rotation_round)
        pthread_join(rth, NULL);
    for (int i = 0; i < WRITERS + 1; i++)
        natsConnection_Destroy(ncs[i]);
    natsConnection_Destroy(checker);
    /* Caught inside this round's rotation: records under its new data key
     * version and under older ones side by side. */
    assert_true(record_versions(&after));
    res->split = rotation_round && after.n > 1 && newest_version(&after) > newest_version(&before);
    char aim[48] = "";
    if (rotation_round)
        (void)snprintf(aim, sizeof aim, " (at %.0f%% re-sealed)", res->share * 100);
    fprintf(stderr, "round %2d: %-8s killed after %4.0f ms%s%s%s, %d writes acked, lost so far %d\n",
            round, rotation_round ? "rotation" : "writes", res->delay_ms, aim,
            res->killed_mid_rotation ? " before the rotate reply" : "",
            res->split ? " (caught mid-rotation: records under old and new keys)" : "",
            atomic_load(&writes_acked), res->lost);
}

/* One full rotation over NATS, timed: how long the rotation rounds aim at. */
static void measure_rotation(void)
{
    assert_int_equal(it_vault_start(&svc, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    double t0 = now_ms();
    json_t *r = it_request(nc, "admin.requests", "{\"operation\":\"rotate\"}", ROTATE_TIMEOUT_MS,
                           NULL);
    rotate_ms = now_ms() - t0;
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "data"), "reencrypted")),
                     PRELOAD);
    json_decref(r);
    natsConnection_Destroy(nc);
    fprintf(stderr, "a rotation of %d records takes %.0f ms\n", PRELOAD, rotate_ms);
    int stopped = it_vault_stop(&svc);
    if (stopped != 0)
        it_vault_dump_log(&svc);
    assert_int_equal(stopped, 0);
}

/* After the last round, with the service stopped: the local CLI rotates
 * (re-sealing every record: it fails if one does not open), and every
 * preloaded record reads back through the library. */
static int final_check(void)
{
    char *out = NULL;
    const char *args[] = {"rotate", NULL};
    int lost = 0;

    int rc = it_run(svc.config, &out, args);
    json_t *r = out != NULL ? json_loads(out, 0, NULL) : NULL;
    long long re = json_integer_value(json_object_get(json_object_get(r, "data"), "reencrypted"));
    int present = 0;
    for (int k = 0; k < NKEYS; k++)
        present += acked[k] > 0;
    fprintf(stderr, "local `vaultctl rotate`: exit %d, %lld records re-sealed\n", rc, re);
    if (rc != 0 || re < PRELOAD + present) {
        fprintf(stderr, "LOST: local rotate: %s\n", out != NULL ? out : "(no output)");
        lost++;
    }
    json_decref(r);
    free(out);

    seal_master *m = NULL;
    vault *v = open_local(&m);
    if (v == NULL)
        return lost + PRELOAD;
    for (int i = 0; i < PRELOAD; i++) {
        char name[32], want[64], *val = NULL;
        size_t len = 0;
        vc_err err;
        int nl = snprintf(name, sizeof name, "pre/%05d", i);
        int wl = snprintf(want, sizeof want, "\"preloaded value %05d\"", i);
        if (vault_get(v, name, (size_t)nl, &val, &len, NULL, &err) != VC_OK ||
            len != (size_t)wl || memcmp(val, want, len) != 0) {
            if (lost < 10)
                fprintf(stderr, "LOST: %s\n", name);
            lost++;
        }
        free(val);
    }
    vault_close(v);
    seal_master_free(m);
    return lost;
}

static void test_kill_and_restart(void **state)
{
    (void)state;
    int rounds = rounds_wanted(), lost = 0, rot_rounds = 0, mid_rot = 0, split = 0;
    double t0 = now_ms();
    round_result res;

    measure_rotation();
    for (int i = 0; i < rounds; i++) {
        bool rot = i % 3 == 2 || (rounds < 3 && i == rounds - 1);
        run_round(i + 1, rot, &res);
        lost += res.lost;
        rot_rounds += rot;
        mid_rot += res.killed_mid_rotation;
        split += res.split;
    }
    /* Last restart: check what the last kill left. */
    assert_int_equal(it_vault_start(&svc, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    lost += check_after_restart(nc);
    natsConnection_Destroy(nc);
    int stopped = it_vault_stop(&svc);
    if (stopped != 0)
        it_vault_dump_log(&svc);
    assert_int_equal(stopped, 0);
    lost += final_check();

    fprintf(stderr, "crash rounds: %d (%d with a rotation of %d+ records, %d killed before "
                    "its reply, %d caught mid-rotation), records lost: "
                    "%d, %.1f s\n",
            rounds, rot_rounds, PRELOAD, mid_rot, split, lost, (now_ms() - t0) / 1000);
    printf("crash rounds: %d, records lost: %d\n", rounds, lost);
    if (lost != 0)
        it_vault_dump_log(&svc);
    assert_int_equal(lost, 0);
    /* The kills in rotation rounds aim inside the rotation's measured
     * length: at least one must have caught it between batches. */
    if (rot_rounds > 0)
        assert_true(split > 0);
    version_tally end;
    assert_true(record_versions(&end));
    assert_int_equal(end.n, 1); /* the local rotate finished the job */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_and_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
