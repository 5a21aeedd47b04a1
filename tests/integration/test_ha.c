/* test_ha.c - high availability on a JetStream cluster (PROTOCOL.md §12,
 * issue 16): three nats-server processes on loopback as one cluster
 * (cluster.h), and two vaultctl instances with the jetstream backend.
 *
 *   js_leader_kill    the harness itself, plain nats.c JetStream: kill -9 the
 *                     leader of an R3 stream under two publishers; every
 *                     acknowledged message reads back, publishing resumes
 *   js_all_kill       kill -9 all three servers, restart: every acknowledged
 *                     message intact
 *   leader_kill       the same through vaultctl: writes through two instances
 *   active_kill       kill -9 the active vaultctl under writes: a standby takes
 *                     over, nothing acknowledged is lost; SIGSTOP an active, a
 *                     standby takes over, SIGCONT: none of its late writes lands
 *   cas_race          concurrent cas sets of one key through two instances:
 *                     one winner per version, successes = final version
 *   rotation_kill     a rotation killed half-way: every record stays readable,
 *                     the next rotation finishes it
 *   all_kill          kill -9 all three servers under vaultctl, restart:
 *                     every acknowledged write intact
 *
 * The vaultctl tests are skipped while this build has no jetstream backend
 * (`storage.backend` unknown to `serve --check`). Each test prints one line
 * of figures on stdout, `ha: <test> acked=.. readback=.. gap_ms=..`, for the
 * notes. VAULTCTL_TEST_QUICK=1 (sanitizer runs) shrinks the counts;
 * VAULTCTL_HA_TESTS=<pattern> runs only the tests it matches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"

#define WRITERS             2
#define WRITES_MAX          20000 /* per writer: room for a slow failover */
#define REQ_TIMEOUT_MS      5000
#define FAILOVER_TIMEOUT_MS 60000
#define VAULT_START_MS      60000
#define STREAM              "HA_JS"

static it_cluster cl;
/* The instances of the running test: global, so that a failed test's
 * teardown stops them (an assert leaves the test function at once). */
static it_cvault vs[IT_CLUSTER_MAX_VAULTS];
static int nvs;
static bool have_backend;
static int bucket_seq; /* a bucket of its own per vaultctl test (own master key) */

static void nap_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((long long)(ms * 1e6) % 1000000000LL)};
    nanosleep(&ts, NULL);
}

static int quick(int full, int small)
{
    return it_quick() ? small : full;
}

/* ---- writers: one request (or publish) in flight each, until told to stop -- */

typedef struct {
    int id;
    natsConnection *nc;
    jsCtx *js;           /* plain JetStream writer; NULL: vaultctl sets */
    const char *subject; /* vaultctl: where the sets go */
    char prefix[32];     /* vaultctl: key prefix */
    atomic_bool *stop;
    /* results: acknowledged writes in order, each its number and time */
    int acked, failed;
    int *n;
    double *t_ms;
    uint64_t *seq; /* JetStream: the acknowledged sequence */
} writer;

static void writer_init(writer *w, int id, natsConnection *nc, atomic_bool *stop)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->nc = nc;
    w->stop = stop;
    w->n = calloc(WRITES_MAX, sizeof *w->n);
    w->t_ms = calloc(WRITES_MAX, sizeof *w->t_ms);
    w->seq = calloc(WRITES_MAX, sizeof *w->seq);
    assert_non_null(w->n);
    assert_non_null(w->t_ms);
    assert_non_null(w->seq);
}

static void writer_free(writer *w)
{
    free(w->n);
    free(w->t_ms);
    free(w->seq);
}

static void js_payload(char *buf, size_t cap, int id, int n)
{
    snprintf(buf, cap, "w%d-%06d", id, n);
}

static void vault_key(char *buf, size_t cap, const writer *w, int n)
{
    snprintf(buf, cap, "%s/w%d/%06d", w->prefix, w->id, n);
}

/* A JetStream publish, retried under the same Msg-Id until acknowledged
 * (a retry of one that did land is answered as a duplicate, same sequence). */
static bool js_write(writer *w, int n, uint64_t *seq)
{
    char subj[32], data[32];
    jsPubOptions po;
    snprintf(subj, sizeof subj, "hajs.w%d", w->id);
    js_payload(data, sizeof data, w->id, n);
    jsPubOptions_Init(&po);
    po.MsgId = data;
    po.MaxWait = 2000;
    while (!atomic_load(w->stop)) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        if (js_Publish(&pa, w->js, subj, data, (int)strlen(data), &po, &jerr) == NATS_OK) {
            *seq = pa->Sequence;
            jsPubAck_Destroy(pa);
            return true;
        }
        w->failed++;
        nap_ms(20);
    }
    return false;
}

/* A vaultctl set of a key of its own: acknowledged or not (a timeout is
 * unknown, and not retried). */
static bool vault_write(writer *w, int n)
{
    char key[96], req[256];
    vault_key(key, sizeof key, w, n);
    snprintf(req, sizeof req, "{\"operation\":\"set\",\"key\":\"%s\",\"value\":\"v-%d-%d\"}", key,
             w->id, n);
    json_t *r = it_request(w->nc, w->subject, req, REQ_TIMEOUT_MS, NULL);
    bool ok = strcmp(it_status(r), "success") == 0;
    if (!ok && w->failed < 2) {
        const char *msg = json_string_value(json_object_get(r, "message"));
        fprintf(stderr, "test_ha: writer %d: set %s: %s (%s)\n", w->id, key,
                r != NULL ? it_code(r) : "no reply", msg != NULL ? msg : "");
    }
    json_decref(r);
    if (!ok) {
        w->failed++;
        nap_ms(20);
    }
    return ok;
}

static void *writer_main(void *p)
{
    writer *w = p;
    for (int n = 0; n < WRITES_MAX && !atomic_load(w->stop); n++) {
        uint64_t seq = 0;
        bool ok = w->js != NULL ? js_write(w, n, &seq) : vault_write(w, n);
        if (ok) {
            w->n[w->acked] = n;
            w->seq[w->acked] = seq;
            w->t_ms[w->acked] = it_now_ms();
            w->acked++;
        }
    }
    return NULL;
}

static int total_acked(const writer *ws, int nw)
{
    int a = 0;
    for (int i = 0; i < nw; i++)
        a += ws[i].acked;
    return a;
}

/* Until the writers have acknowledged want more writes than now (false
 * after timeout_ms). */
static bool wait_acks(const writer *ws, int nw, int want, int timeout_ms)
{
    int base = total_acked(ws, nw);
    double end = it_now_ms() + timeout_ms;
    while (total_acked(ws, nw) < base + want) {
        if (it_now_ms() > end) {
            fprintf(stderr, "test_ha: the writers acknowledged %d writes of %d wanted in %d ms\n",
                    total_acked(ws, nw) - base, want, timeout_ms);
            return false;
        }
        nap_ms(10);
    }
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The longest pause between two acknowledgements (any writer) from the
 * last one before since_ms on: the outage a client saw. */
static double ack_gap_ms(const writer *ws, int nw, double since_ms)
{
    int total = total_acked(ws, nw), k = 0;
    double *all = malloc((size_t)(total > 0 ? total : 1) * sizeof *all), gap = 0;
    assert_non_null(all);
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < ws[i].acked; j++)
            all[k++] = ws[i].t_ms[j];
    qsort(all, (size_t)k, sizeof *all, cmp_double);
    for (int j = 1; j < k; j++)
        if (all[j] >= since_ms && all[j] - all[j - 1] > gap)
            gap = all[j] - all[j - 1];
    free(all);
    return gap;
}

static void start_writers(writer *ws, pthread_t *th, int nw)
{
    for (int i = 0; i < nw; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &ws[i]), 0);
}

static void stop_writers(writer *ws, pthread_t *th, int nw)
{
    atomic_store(ws[0].stop, true);
    for (int i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
}

typedef struct {
    int killed;         /* the node that led the stream */
    double gap_ms;      /* ack_gap_ms from the kill on */
    bool before, after; /* want acknowledgements came before / after it */
} kill_result;

/* Starts the writers; once they have want acknowledgements, kill -9 of the
 * leader of stream; once they have want more (or time ran out), stops
 * them, starts the node again and waits until every replica is current. */
static kill_result leader_kill_under(writer *ws, pthread_t *th, jsCtx *js, const char *stream,
                                     int want)
{
    kill_result k = {0};
    start_writers(ws, th, WRITERS);
    k.before = wait_acks(ws, WRITERS, want, 30000);
    k.killed = it_cluster_stream_leader(&cl, js, stream, false, 10000, NULL);
    if (k.killed < 0) {
        stop_writers(ws, th, WRITERS);
        fail_msg("stream %s has no leader to kill", stream);
        return k;
    }
    double t_kill = it_now_ms();
    it_cluster_kill(&cl, k.killed);
    k.after = wait_acks(ws, WRITERS, want, FAILOVER_TIMEOUT_MS);
    stop_writers(ws, th, WRITERS);
    k.gap_ms = ack_gap_ms(ws, WRITERS, t_kill);
    assert_int_equal(it_cluster_restart(&cl, k.killed), 0);
    assert_true(it_cluster_stream_leader(&cl, js, stream, true, 60000, NULL) >= 0);
    return k;
}

/* ---- plain JetStream: the harness proven without vaultctl ----------------- */

static jsCtx *js_of(natsConnection *nc)
{
    jsCtx *js = NULL;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 5000;
    assert_int_equal(natsConnection_JetStream(&js, nc, &o), NATS_OK);
    return js;
}

static void js_make_stream(natsConnection *nc)
{
    jsCtx *js = js_of(nc);
    jsStreamConfig sc;
    const char *subjects[] = {"hajs.>"};
    jsStreamConfig_Init(&sc);
    sc.Name = STREAM;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = IT_CLUSTER_NODES;
    sc.Duplicates = (int64_t)120 * 1000000000LL;
    js_DeleteStream(js, STREAM, NULL, NULL); /* from an earlier test */
    jsErrCode jerr = 0;
    natsStatus st = js_AddStream(NULL, js, &sc, NULL, &jerr);
    if (st != NATS_OK)
        fprintf(stderr, "test_ha: stream create: %s (js error %d)\n", natsStatus_GetText(st),
                (int)jerr);
    assert_int_equal(st, NATS_OK);
    assert_true(it_cluster_stream_leader(&cl, js, STREAM, true, 30000, NULL) >= 0);
    jsCtx_Destroy(js);
}

/* Every acknowledged message of the writers read back from the stream
 * leader by its sequence: the count that matched. */
static int js_read_back(natsConnection *nc, const writer *ws, int nw)
{
    jsCtx *js = js_of(nc);
    int good = 0;
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < ws[i].acked; j++) {
            natsMsg *m = NULL;
            char want[32];
            js_payload(want, sizeof want, ws[i].id, ws[i].n[j]);
            if (js_GetMsg(&m, js, STREAM, ws[i].seq[j], NULL, NULL) == NATS_OK &&
                natsMsg_GetDataLength(m) == (int)strlen(want) &&
                memcmp(natsMsg_GetData(m), want, strlen(want)) == 0)
                good++;
            else
                fprintf(stderr, "test_ha: acknowledged %s (seq %llu) did not read back\n", want,
                        (unsigned long long)ws[i].seq[j]);
            natsMsg_Destroy(m);
        }
    jsCtx_Destroy(js);
    return good;
}

static void test_js_leader_kill(void **state)
{
    (void)state;
    natsConnection *nc = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
    assert_non_null(nc);
    js_make_stream(nc);

    atomic_bool stop = false;
    writer ws[WRITERS];
    pthread_t th[WRITERS];
    natsConnection *wnc[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        wnc[i] = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
        assert_non_null(wnc[i]);
        writer_init(&ws[i], i, wnc[i], &stop);
        ws[i].js = js_of(wnc[i]);
    }
    jsCtx *js = js_of(nc);
    kill_result k = leader_kill_under(ws, th, js, STREAM, quick(300, 100));
    bool before = k.before, after = k.after;
    double gap = k.gap_ms;
    int leader = k.killed;
    int acked = total_acked(ws, WRITERS), back = js_read_back(nc, ws, WRITERS);
    printf("ha: js-leader-kill acked=%d readback=%d gap_ms=%.0f (killed n%d)\n", acked, back, gap,
           leader);
    fflush(stdout);

    jsCtx_Destroy(js);
    for (int i = 0; i < WRITERS; i++) {
        jsCtx_Destroy(ws[i].js);
        natsConnection_Destroy(wnc[i]);
        writer_free(&ws[i]);
    }
    natsConnection_Destroy(nc);
    assert_true(before);
    assert_true(after);
    assert_int_equal(back, acked);
}

/* kill -9 of every server, then all three started again on their ports. */
static void kill_all_restart(void)
{
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        it_cluster_kill(&cl, i);
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        assert_int_equal(it_cluster_restart(&cl, i), 0);
    assert_true(it_cluster_wait_meta(&cl, 60000) >= 0);
}

static void test_js_all_kill(void **state)
{
    (void)state;
    natsConnection *nc = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
    assert_non_null(nc);
    js_make_stream(nc);
    atomic_bool stop = false;
    writer w;
    writer_init(&w, 0, nc, &stop);
    w.js = js_of(nc);
    int want = quick(500, 100);
    for (int n = 0; n < want; n++) {
        uint64_t seq = 0;
        if (js_write(&w, n, &seq)) {
            w.n[w.acked] = n;
            w.seq[w.acked++] = seq;
        }
    }
    kill_all_restart();
    assert_true(it_cluster_stream_leader(&cl, w.js, STREAM, true, 60000, NULL) >= 0);
    int back = js_read_back(nc, &w, 1);
    printf("ha: js-all-kill acked=%d readback=%d\n", w.acked, back);
    fflush(stdout);
    jsCtx_Destroy(w.js);
    writer_free(&w);
    natsConnection_Destroy(nc);
    assert_int_equal(w.acked, want);
    assert_int_equal(back, want);
}

/* ---- vaultctl with the jetstream backend ---------------------------------------- */

/* Whether this build knows storage.backend: `serve --check` of a cluster
 * instance's config does not call the setting unknown. */
static bool backend_known(void)
{
    it_cvault v;
    char *err = NULL;
    bool known = false;
    if (it_cluster_vaults_init(&cl, &v, 1, NULL) == 0) {
        const char *args[] = {"serve", "--check", NULL};
        it_run_io(v.v.config, NULL, NULL, &err, args);
        known = err == NULL || strstr(err, "storage.backend") == NULL ||
                strstr(err, "unknown setting") == NULL;
        if (!known)
            fprintf(stderr, "test_ha: no jetstream backend in this build: %s", err);
    }
    free(err);
    it_cluster_vaults_destroy(&v, 1);
    return known;
}

/* n instances on a bucket of their own, started, every one jetstream. */
static void vaults_up(int n, natsConnection *nc)
{
    char yaml[128];
    snprintf(yaml, sizeof yaml, "  jetstream:\n    bucket: ha%d\n", ++bucket_seq);
    nvs = n;
    assert_int_equal(it_cluster_vaults_init(&cl, vs, n, yaml), 0);
    for (int k = 0; k < n; k++) {
        char role[32], backend[32];
        assert_int_equal(it_cluster_vault_start(&vs[k], nc, VAULT_START_MS), 0);
        assert_int_equal(
            it_cluster_vault_role(&vs[k], nc, role, sizeof role, backend, sizeof backend), 0);
        assert_string_equal(backend, "jetstream");
    }
    assert_true(it_cluster_wait_active(vs, n, -1, nc, FAILOVER_TIMEOUT_MS) >= 0);
}

/* get key through subject: the value's text ("" when not success), and
 * the reply's code ("success", "not_found", ... "(none)") into code. */
static void vault_get_code(natsConnection *nc, const char *subject, const char *key, char *out,
                           size_t cap, int64_t *version, char *code, size_t code_cap)
{
    char req[256];
    snprintf(req, sizeof req, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    json_t *r = it_request(nc, subject, req, REQ_TIMEOUT_MS, NULL);
    const char *v = json_string_value(json_object_get(r, "data"));
    snprintf(out, cap, "%s", strcmp(it_status(r), "success") == 0 && v != NULL ? v : "");
    if (code != NULL)
        snprintf(code, code_cap, "%s",
                 strcmp(it_status(r), "success") == 0 ? "success" : it_code(r));
    if (version != NULL)
        *version = json_integer_value(json_object_get(json_object_get(r, "meta"), "version"));
    json_decref(r);
}

/* get key through subject: the value's text ("" when not success). */
static void vault_get(natsConnection *nc, const char *subject, const char *key, char *out,
                      size_t cap, int64_t *version)
{
    vault_get_code(nc, subject, key, out, cap, version, NULL, 0);
}

/* Every acknowledged write of the writers read back (through the instances
 * in turn); a read that differs is tried again for a while (15 s for all
 * of them), counted in *stale, and a miss at the end is named on stderr. */
static int vault_read_back(natsConnection *nc, const it_cvault *insts, int nv, const writer *ws,
                           int nw, int *stale)
{
    int good = 0, turn = 0, misses = 0;
    double retry_until = it_now_ms() + 15000; /* for all retries together */
    *stale = 0;
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < ws[i].acked; j++) {
            char key[96], want[64], got[64];
            vault_key(key, sizeof key, &ws[i], ws[i].n[j]);
            snprintf(want, sizeof want, "v-%d-%d", ws[i].id, ws[i].n[j]);
            const it_cvault *via = &insts[turn++ % nv];
            for (int attempt = 0; attempt < 50; attempt++) {
                if (via->v.pid <= 0)
                    via = &insts[turn++ % nv];
                char code[32];
                vault_get_code(nc, via->subject, key, got, sizeof got, NULL, code, sizeof code);
                if (strcmp(got, want) == 0 || it_now_ms() > retry_until)
                    break;
                /* stale: an answer without the acknowledged value (an
                 * older one, or none); an error (unavailable, no reply) is
                 * only tried again */
                if (attempt == 0 &&
                    (strcmp(code, "success") == 0 || strcmp(code, "not_found") == 0))
                    ++*stale;
                else if (attempt == 0)
                    fprintf(stderr, "test_ha: reading %s through %s: %s (tried again)\n", key,
                            via->subject, code);
                nap_ms(100);
            }
            if (strcmp(got, want) == 0) {
                good++;
            } else if (misses++ < 5) {
                char req[160];
                snprintf(req, sizeof req, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
                json_t *r = it_request(nc, via->subject, req, REQ_TIMEOUT_MS, NULL);
                char *text = r != NULL ? json_dumps(r, JSON_COMPACT) : NULL;
                fprintf(stderr, "test_ha: acknowledged %s = %s reads back through %s as %s\n", key,
                        want, via->subject, text != NULL ? text : "(no reply)");
                free(text);
                json_decref(r);
            }
        }
    return good;
}

#define SKIP_WITHOUT_BACKEND()                                                                     \
    do {                                                                                           \
        if (!have_backend) {                                                                       \
            printf("ha: %s skipped (no jetstream backend in this build)\n", __func__);             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* The writers of a vaultctl test, each on a connection of its own. */
typedef struct {
    atomic_bool stop;
    writer w[WRITERS];
    natsConnection *nc[WRITERS];
    pthread_t th[WRITERS];
} crew;

/* Writers through instance subjects (or the shared admin.requests). */
static void crew_init(crew *c, const char *const *subjects, const char *prefix)
{
    atomic_init(&c->stop, false);
    for (int i = 0; i < WRITERS; i++) {
        c->nc[i] = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
        assert_non_null(c->nc[i]);
        writer_init(&c->w[i], i, c->nc[i], &c->stop);
        c->w[i].subject = subjects[i];
        snprintf(c->w[i].prefix, sizeof c->w[i].prefix, "%s", prefix);
    }
}

static void crew_free(crew *c)
{
    for (int i = 0; i < WRITERS; i++) {
        natsConnection_Destroy(c->nc[i]);
        writer_free(&c->w[i]);
    }
}

/* A vaultctl test's start: two instances up, and a connection as probe. */
static natsConnection *two_vaults(void)
{
    natsConnection *nc = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
    assert_non_null(nc);
    vaults_up(2, nc);
    return nc;
}

/* On a failure: the instances' logs. */
static void dump_logs_if(bool bad)
{
    for (int k = 0; bad && k < nvs; k++)
        it_vault_dump_log(&vs[k].v);
}

static void test_leader_kill(void **state)
{
    (void)state;
    SKIP_WITHOUT_BACKEND();
    natsConnection *nc = two_vaults();
    char stream[48];
    snprintf(stream, sizeof stream, "KV_ha%d", bucket_seq);

    crew c;
    const char *subjects[WRITERS] = {vs[0].subject, vs[1].subject};
    crew_init(&c, subjects, "lk");
    jsCtx *js = js_of(nc);
    kill_result k = leader_kill_under(c.w, c.th, js, stream, quick(200, 50));
    bool before = k.before, after = k.after;
    double gap = k.gap_ms;
    int leader = k.killed;

    int stale = 0, acked = total_acked(c.w, WRITERS);
    int back = vault_read_back(nc, vs, 2, c.w, WRITERS, &stale);
    printf("ha: leader-kill acked=%d readback=%d stale_reads=%d failed=%d gap_ms=%.0f "
           "(killed n%d)\n",
           acked, back, stale, c.w[0].failed + c.w[1].failed, gap, leader);
    fflush(stdout);
    jsCtx_Destroy(js);
    crew_free(&c);
    natsConnection_Destroy(nc);
    assert_true(before);
    assert_true(after);
    assert_int_equal(back, acked);
    assert_int_equal(stale, 0); /* §12: a client reads its acknowledged writes */
}

/* set key = value with cas through subject: the reply's status code
 * ("success", "conflict", ... or "(none)" on a timeout), *version the new
 * version on success. */
static void vault_cas_set(natsConnection *nc, const char *subject, const char *key,
                          const char *value, int64_t cas, char *code, size_t cap, int64_t *version,
                          int64_t timeout_ms)
{
    char req[256];
    snprintf(req, sizeof req,
             "{\"operation\":\"set\",\"key\":\"%s\",\"value\":\"%s\",\"cas\":%lld}", key, value,
             (long long)cas);
    json_t *r = it_request(nc, subject, req, timeout_ms, NULL);
    const char *st = it_status(r);
    snprintf(code, cap, "%s", strcmp(st, "success") == 0 ? st : it_code(r));
    if (strcmp(code, "success") != 0 && strcmp(code, "conflict") != 0) {
        const char *msg = json_string_value(json_object_get(r, "message"));
        fprintf(stderr, "test_ha: cas set %s (cas %lld) through %s: %s (%s)\n", key, (long long)cas,
                subject, code, msg != NULL ? msg : "");
    }
    *version = json_integer_value(json_object_get(json_object_get(r, "meta"), "version"));
    json_decref(r);
}

static void test_active_kill(void **state)
{
    (void)state;
    SKIP_WITHOUT_BACKEND();
    natsConnection *nc = two_vaults();

    /* Part 1: kill -9 the active under writes on the shared subject (the
     * queue group hands them to whichever instance lives). */
    crew c;
    const char *subjects[WRITERS] = {"admin.requests", "admin.requests"};
    crew_init(&c, subjects, "ak");
    start_writers(c.w, c.th, WRITERS);
    bool before = wait_acks(c.w, WRITERS, quick(200, 50), 30000);
    int active = it_cluster_wait_active(vs, 2, -1, nc, 10000);
    if (active < 0) {
        stop_writers(c.w, c.th, WRITERS);
        fail_msg("no active vaultctl among 2 instances");
        return;
    }
    double t_kill = it_now_ms();
    it_cluster_vault_kill(&vs[active]);
    int next = it_cluster_wait_active(vs, 2, active, nc, FAILOVER_TIMEOUT_MS);
    double t_active = it_now_ms();
    bool after = wait_acks(c.w, WRITERS, quick(200, 50), FAILOVER_TIMEOUT_MS);
    stop_writers(c.w, c.th, WRITERS);
    double gap = ack_gap_ms(c.w, WRITERS, t_kill);
    int stale = 0, acked = total_acked(c.w, WRITERS);
    int back = vault_read_back(nc, vs, 2, c.w, WRITERS, &stale);
    printf("ha: active-kill acked=%d readback=%d stale_reads=%d failed=%d gap_ms=%.0f "
           "takeover_ms=%.0f\n",
           acked, back, stale, c.w[0].failed + c.w[1].failed, gap, t_active - t_kill);
    fflush(stdout);
    crew_free(&c);
    assert_true(before);
    assert_true(next >= 0);
    assert_true(after);
    assert_int_equal(back, acked);
    assert_int_equal(stale, 0); /* §12: a client reads its acknowledged writes */

    /* Part 2: the killed one back as a standby; SIGSTOP the active, a
     * standby takes over, SIGCONT: a cas set of version 1 sent to the
     * paused one must not land beside the new active's. */
    assert_int_equal(it_cluster_vault_start(&vs[active], nc, VAULT_START_MS), 0);
    int old = it_cluster_wait_active(vs, 2, -1, nc, FAILOVER_TIMEOUT_MS);
    assert_true(old >= 0);
    char code[32], got[64];
    int64_t version = 0;
    vault_cas_set(nc, vs[old].subject, "sc/key", "before", 0, code, sizeof code, &version,
                  REQ_TIMEOUT_MS);
    assert_string_equal(code, "success");
    assert_int_equal(version, 1);
    it_cluster_vault_pause(&vs[old]);
    /* Late writes: in the paused one's socket, answered (or not) when it
     * wakes; each asks for version 1 as the new active's write does. */
    natsConnection *late = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
    assert_non_null(late);
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    assert_int_equal(natsInbox_Create(&inbox), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&sub, late, inbox), NATS_OK);
    const int nlate = 5;
    for (int i = 0; i < nlate; i++) {
        char req[160];
        snprintf(req, sizeof req,
                 "{\"operation\":\"set\",\"key\":\"sc/key\",\"value\":\"late-%d\",\"cas\":1}", i);
        assert_int_equal(natsConnection_PublishRequestString(late, vs[old].subject, inbox, req),
                         NATS_OK);
    }
    natsConnection_Flush(late);
    double t_stop = it_now_ms();
    int nu = it_cluster_wait_active(vs, 2, old, nc, FAILOVER_TIMEOUT_MS);
    double takeover = it_now_ms() - t_stop;
    assert_true(nu >= 0);
    vault_cas_set(nc, vs[nu].subject, "sc/key", "new", 1, code, sizeof code, &version,
                  REQ_TIMEOUT_MS);
    if (strcmp(code, "success") != 0) {
        char seen[64];
        int64_t bv = 0;
        vault_get(nc, vs[nu].subject, "sc/key", seen, sizeof seen, &bv);
        fprintf(stderr,
                "test_ha: the new active inst%d answered the cas set of version 1 with %s; "
                "it reads sc/key as '%s' version %lld\n",
                nu, code, seen, (long long)bv);
        it_cluster_vault_resume(&vs[old]);
        dump_logs_if(true);
    }
    assert_string_equal(code, "success");
    assert_int_equal(version, 2);
    it_cluster_vault_resume(&vs[old]);
    /* What the woken one answers its late writes. */
    int late_ok = 0, late_answered = 0;
    for (int i = 0; i < nlate; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, REQ_TIMEOUT_MS * 2) != NATS_OK)
            break;
        json_t *r = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        late_answered++;
        late_ok += strcmp(it_status(r), "success") == 0;
        json_decref(r);
        natsMsg_Destroy(m);
    }
    /* The history: version 1 "before", 2 "new", nothing of the late ones. */
    int64_t cur = 0;
    vault_get(nc, vs[nu].subject, "sc/key", got, sizeof got, &cur);
    char v1[64], v2[64];
    char req[128];
    snprintf(req, sizeof req, "{\"operation\":\"get\",\"key\":\"sc/key\",\"version\":1}");
    json_t *r1 = it_request(nc, vs[nu].subject, req, REQ_TIMEOUT_MS, NULL);
    snprintf(req, sizeof req, "{\"operation\":\"get\",\"key\":\"sc/key\",\"version\":2}");
    json_t *r2 = it_request(nc, vs[nu].subject, req, REQ_TIMEOUT_MS, NULL);
    const char *s1 = json_string_value(json_object_get(r1, "data"));
    const char *s2 = json_string_value(json_object_get(r2, "data"));
    snprintf(v1, sizeof v1, "%s", s1 != NULL ? s1 : "");
    snprintf(v2, sizeof v2, "%s", s2 != NULL ? s2 : "");
    json_decref(r1);
    json_decref(r2);
    printf("ha: sigstop-active takeover_ms=%.0f late_writes=%d answered=%d succeeded=%d "
           "final_version=%lld value=%s\n",
           takeover, nlate, late_answered, late_ok, (long long)cur, got);
    fflush(stdout);
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    natsConnection_Destroy(late);
    natsConnection_Destroy(nc);
    assert_int_equal(late_ok, 0);
    assert_int_equal(cur, 2);
    assert_string_equal(got, "new");
    assert_string_equal(v1, "before");
    assert_string_equal(v2, "new");
}

/* ---- cas race ------------------------------------------------------------------- */

typedef struct {
    natsConnection *nc;
    const char *subject;
    int id;
    atomic_int *attempts;
    int limit;
    int wins, conflicts, unknown;
    int64_t *won; /* versions this racer won, in order */
} racer;

static void *racer_main(void *p)
{
    racer *r = p;
    while (atomic_fetch_add(r->attempts, 1) < r->limit) {
        char got[64], code[32], value[32];
        int64_t v = 0, nv = 0;
        vault_get(r->nc, r->subject, "race/key", got, sizeof got, &v);
        if (got[0] == '\0')
            v = 0;
        snprintf(value, sizeof value, "r%d-%lld", r->id, (long long)v + 1);
        vault_cas_set(r->nc, r->subject, "race/key", value, v, code, sizeof code, &nv,
                      REQ_TIMEOUT_MS);
        if (strcmp(code, "success") == 0)
            r->won[r->wins++] = nv;
        else if (strcmp(code, "conflict") == 0)
            r->conflicts++;
        else if (r->unknown++ < 3)
            fprintf(stderr, "test_ha: racer %d: cas set of version %lld: %s\n", r->id, (long long)v,
                    code);
    }
    return NULL;
}

static void test_cas_race(void **state)
{
    (void)state;
    SKIP_WITHOUT_BACKEND();
    natsConnection *nc = two_vaults();
    enum { RACERS = 4 };
    const int limit = quick(1000, 200);
    atomic_int attempts = 0;
    racer rs[RACERS];
    pthread_t th[RACERS];
    double t0 = it_now_ms();
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (racer){.nc = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS),
                        .subject = vs[i % 2].subject,
                        .id = i,
                        .attempts = &attempts,
                        .limit = limit,
                        .won = calloc((size_t)limit, sizeof(int64_t))};
        assert_non_null(rs[i].nc);
        assert_non_null(rs[i].won);
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    double secs = (it_now_ms() - t0) / 1000;

    /* Every version won once; each racer's wins strictly increase. */
    int wins = 0, conflicts = 0, unknown = 0, doubles = 0, order = 0;
    int64_t maxv = 0;
    char *seen = calloc((size_t)limit + 2, 1);
    assert_non_null(seen);
    for (int i = 0; i < RACERS; i++) {
        wins += rs[i].wins;
        conflicts += rs[i].conflicts;
        unknown += rs[i].unknown;
        for (int j = 0; j < rs[i].wins; j++) {
            int64_t v = rs[i].won[j];
            if (v < 1 || v > limit + 1 || seen[v]++)
                doubles++;
            if (j > 0 && v <= rs[i].won[j - 1])
                order++;
            if (v > maxv)
                maxv = v;
        }
    }
    char got[64];
    int64_t final = 0;
    vault_get(nc, vs[0].subject, "race/key", got, sizeof got, &final);
    printf("ha: cas-race attempts=%d wins=%d conflicts=%d unknown=%d final_version=%lld "
           "double_winners=%d out_of_order=%d in %.1f s\n",
           limit, wins, conflicts, unknown, (long long) final, doubles, order, secs);
    fflush(stdout);
    for (int i = 0; i < RACERS; i++) {
        natsConnection_Destroy(rs[i].nc);
        free(rs[i].won);
    }
    free(seen);
    natsConnection_Destroy(nc);
    assert_int_equal(doubles, 0);
    assert_int_equal(order, 0);
    assert_int_equal(unknown, 0);
    assert_int_equal(final, wins);
    assert_int_equal(maxv, wins);
}

/* ---- rotation killed half-way ------------------------------------------------------ */

typedef struct {
    natsConnection *nc;
    const char *subject;
    int first, step, count, failed;
} loader;

static void *loader_main(void *p)
{
    loader *l = p;
    for (int i = l->first; i < l->count; i += l->step) {
        char req[160];
        snprintf(req, sizeof req, "{\"operation\":\"set\",\"key\":\"rot/%05d\",\"value\":\"r-%d\"}",
                 i, i);
        json_t *r = it_request(l->nc, l->subject, req, REQ_TIMEOUT_MS, NULL);
        l->failed += strcmp(it_status(r), "success") != 0;
        json_decref(r);
    }
    return NULL;
}

/* All count records rot/NNNNN through subject: how many read back right. */
static int rot_read_all(natsConnection *nc, const char *subject, int count)
{
    int good = 0;
    for (int i = 0; i < count; i++) {
        char key[32], want[32], got[64];
        snprintf(key, sizeof key, "rot/%05d", i);
        snprintf(want, sizeof want, "r-%d", i);
        vault_get(nc, subject, key, got, sizeof got, NULL);
        good += strcmp(got, want) == 0;
    }
    return good;
}

static json_t *rotate(natsConnection *nc, const char *subject, int64_t timeout_ms)
{
    return it_request(nc, subject, "{\"operation\":\"rotate\"}", timeout_ms, NULL);
}

typedef struct {
    natsConnection *nc;
    const char *subject;
} rot_arg;

static void *rotate_main(void *p)
{
    rot_arg *a = p;
    json_decref(rotate(a->nc, a->subject, 120000));
    return NULL;
}

static void test_rotation_kill(void **state)
{
    (void)state;
    SKIP_WITHOUT_BACKEND();
    natsConnection *nc = two_vaults();
    const int count = quick(2000, 300);
    enum { LOADERS = 8 };
    loader ls[LOADERS];
    pthread_t th[LOADERS];
    for (int i = 0; i < LOADERS; i++) {
        ls[i] = (loader){
            .nc = nc, .subject = "admin.requests", .first = i, .step = LOADERS, .count = count};
        assert_int_equal(pthread_create(&th[i], NULL, loader_main, &ls[i]), 0);
    }
    int failed = 0;
    for (int i = 0; i < LOADERS; i++) {
        pthread_join(th[i], NULL);
        failed += ls[i].failed;
    }
    assert_int_equal(failed, 0);

    /* One whole rotation to know how long one takes. */
    int active = it_cluster_wait_active(vs, 2, -1, nc, FAILOVER_TIMEOUT_MS);
    assert_true(active >= 0);
    double t0 = it_now_ms();
    json_t *r = rotate(nc, vs[active].subject, 120000);
    double rot_ms = it_now_ms() - t0;
    assert_string_equal(it_status(r), "success");
    json_decref(r);

    /* The next one killed half-way through, on the active. */
    natsConnection *rnc = it_cluster_connect(&cl, IT_PROBE_USER, IT_PROBE_PASS);
    assert_non_null(rnc);
    rot_arg ra = {rnc, vs[active].subject};
    pthread_t rt;
    assert_int_equal(pthread_create(&rt, NULL, rotate_main, &ra), 0);
    nap_ms(rot_ms / 2);
    it_cluster_vault_kill(&vs[active]);
    natsConnection_Close(rnc); /* the rotation's request ends unanswered */
    pthread_join(rt, NULL);
    natsConnection_Destroy(rnc);
    int standby = 1 - active;
    int nu = it_cluster_wait_active(vs, 2, active, nc, FAILOVER_TIMEOUT_MS);
    assert_int_equal(nu, standby);
    int mid = rot_read_all(nc, vs[nu].subject, count);
    /* The killed one back: it reads everything too. */
    assert_int_equal(it_cluster_vault_start(&vs[active], nc, VAULT_START_MS), 0);
    int mid_other = rot_read_all(nc, vs[active].subject, count);
    /* The rotation finished by the new active drops the old keys. */
    r = rotate(nc, vs[nu].subject, 120000);
    const char *st = it_status(r);
    bool rot_ok = strcmp(st, "success") == 0;
    int64_t kept = json_integer_value(json_object_get(json_object_get(r, "data"), "old_keys_kept"));
    json_decref(r);
    int end = rot_read_all(nc, vs[nu].subject, count);
    int end_other = rot_read_all(nc, vs[active].subject, count);
    printf(
        "ha: rotation-kill records=%d rotate_ms=%.0f killed_at_ms=%.0f readable_after_kill=%d/%d "
        "(restarted %d) after_next_rotation=%d/%d old_keys_kept=%lld\n",
        count, rot_ms, rot_ms / 2, mid, count, mid_other, end, end_other, (long long)kept);
    fflush(stdout);
    natsConnection_Destroy(nc);
    assert_int_equal(mid, count);
    assert_int_equal(mid_other, count);
    assert_true(rot_ok);
    assert_int_equal(kept, 0);
    assert_int_equal(end, count);
    assert_int_equal(end_other, count);
}

/* ---- every server killed under vaultctl -------------------------------------------- */

static void test_all_kill(void **state)
{
    (void)state;
    SKIP_WITHOUT_BACKEND();
    natsConnection *nc = two_vaults();
    crew c;
    const char *subjects[WRITERS] = {vs[0].subject, vs[1].subject};
    crew_init(&c, subjects, "all");
    start_writers(c.w, c.th, WRITERS);
    bool before = wait_acks(c.w, WRITERS, quick(300, 60), 30000);
    /* Killed under the writes: what was acknowledged must survive. */
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        it_cluster_kill(&cl, i);
    stop_writers(c.w, c.th, WRITERS);
    double t_down = it_now_ms();
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        assert_int_equal(it_cluster_restart(&cl, i), 0);
    assert_true(it_cluster_wait_meta(&cl, 60000) >= 0);
    int active = it_cluster_wait_active(vs, 2, -1, nc, FAILOVER_TIMEOUT_MS);
    double back_ms = it_now_ms() - t_down;
    int stale = 0, acked = total_acked(c.w, WRITERS);
    int back = vault_read_back(nc, vs, 2, c.w, WRITERS, &stale);
    printf("ha: all-kill acked=%d readback=%d stale_reads=%d serving_again_ms=%.0f\n", acked, back,
           stale, back_ms);
    fflush(stdout);
    crew_free(&c);
    natsConnection_Destroy(nc);
    dump_logs_if(back != acked || stale != 0 || active < 0);
    assert_true(before);
    assert_true(active >= 0);
    assert_int_equal(back, acked);
    assert_int_equal(stale, 0); /* §12: a client reads its acknowledged writes */
}

/* After each test: its instances stopped (also after a failed assert). */
static int vaults_down(void **state)
{
    (void)state;
    it_cluster_vaults_destroy(vs, nvs);
    nvs = 0;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (it_cluster_start(&cl) != 0) {
        for (int i = 0; i < IT_CLUSTER_NODES; i++)
            it_nats_dump_log(&cl.node[i]);
        return -1;
    }
    have_backend = backend_known();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_cluster_destroy(&cl);
    return 0;
}

int main(void)
{
    /* One test or a pattern of them (cmocka's * and ?), e.g. for
     * scripts/bench.sh's failover rows. */
    const char *only = getenv("VAULTCTL_HA_TESTS");
    if (only != NULL && only[0] != '\0')
        cmocka_set_test_filter(only);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_js_leader_kill, vaults_down),
        cmocka_unit_test_teardown(test_js_all_kill, vaults_down),
        cmocka_unit_test_teardown(test_leader_kill, vaults_down),
        cmocka_unit_test_teardown(test_active_kill, vaults_down),
        cmocka_unit_test_teardown(test_cas_race, vaults_down),
        cmocka_unit_test_teardown(test_rotation_kill, vaults_down),
        cmocka_unit_test_teardown(test_all_kill, vaults_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
