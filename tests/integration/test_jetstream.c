/* test_jetstream.c - storage.backend jetstream (PROTOCOL.md §12) over a real
 * nats-server with JetStream (one node, R1) and the real binary: the
 * operations through the backend; two instances on one stream (read your
 * writes across them, writes through the standby forwarded, cas exact);
 * an instance restarted resumes from its cache; the active stopped with
 * SIGSTOP loses the lease after lease_ttl, writes resume on the other, and
 * once continued its late writes are refused (none lands) and it stands by.
 * Prints the figures (takeover time, forwarded writes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int tu_write_text(const char *path, const char *text); /* testutil.h */

#define LEASE_TTL_S 3

static it_nats nats;
static it_vault va, vb; /* va starts first: the active writer */
static natsConnection *admin, *probe;

/* The whole file, NUL-terminated (malloc'd; "" if unreadable). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (f != NULL && buf != NULL) {
        if (cap - n < 4096) {
            char *g = realloc(buf, cap * 2);
            if (g == NULL)
                break;
            buf = g;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    if (f != NULL)
        fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

/* The harness's config with token rights: admin.requests may issue, look
 * up and revoke; user.requests takes tokens. */
static int edit_config(const char *path)
{
    static const char *const from[2] = {"operations: [get, set, delete, list, rotate, status, "
                                        "versions]\n",
                                        "operations: [get, set]\n"};
    static const char *const to[2] = {"operations: [get, set, delete, list, rotate, status, "
                                      "versions, issue, lookup, revoke]\n",
                                      "operations: [get, set]\n    tokens: true\n"};
    char *text = read_text(path), out[20000];
    int rc = -1;

    for (int i = 0; text != NULL && i < 2; i++) {
        char *at = strstr(text, from[i]);
        if (at == NULL)
            goto out;
        snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to[i], at + strlen(from[i]));
        free(text);
        text = strdup(out);
    }
    rc = tu_write_text(path, text);
out:
    free(text);
    return rc;
}

/* vb: its own directory (cache) and config, va's master key. */
static int init_second(void)
{
    char pa[400], pb[400];
    if (it_vault_init(&vb, &nats, NULL) != 0 || edit_config(vb.config) != 0)
        return -1;
    snprintf(pa, sizeof pa, "%s/master.key", va.dir);
    snprintf(pb, sizeof pb, "%s/master.key", vb.dir);
    char *key = read_text(pa);
    int rc = key != NULL ? tu_write_text(pb, key) : -1;
    free(key);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    /* The harness runs the jetstream variant (nats-server -js, the vault
     * user's JetStream permissions, storage.backend jetstream, R1). */
    setenv("VAULTCTL_IT_BACKEND", "jetstream", 1);
    setenv("VAULTCTL_STORAGE_JETSTREAM_LEASE_TTL", "3s", 1);
    if (it_nats_start(&nats, 0) != 0)
        return -1;
    if (it_vault_init(&va, &nats, NULL) != 0 || edit_config(va.config) != 0)
        return -1;
    if (it_vault_start_log(&va, "serving as instance", 60000) != 0)
        return -1;
    if (init_second() != 0)
        return -1;
    admin = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    probe = it_connect(&nats, IT_PROBE_USER, IT_PROBE_PASS);
    return admin != NULL && probe != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(admin);
    natsConnection_Destroy(probe);
    it_vault_destroy(&vb);
    it_vault_destroy(&va);
    it_nats_destroy(&nats);
    return 0;
}

static void dump_logs(void)
{
    it_vault_dump_log(&va);
    it_vault_dump_log(&vb);
}

static json_t *reqv(natsConnection *nc, const char *subject, int64_t timeout_ms, const char *fmt,
                    va_list ap)
{
    char payload[4096];
    vsnprintf(payload, sizeof payload, fmt, ap);
    return it_request(nc, subject, payload, timeout_ms, NULL);
}

/* A request on admin.requests that must be answered. */
static json_t *req(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *req(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *r = reqv(admin, "admin.requests", 10000, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        fprintf(stderr, "no reply within 10 s to an admin request\n");
        dump_logs();
    }
    assert_non_null(r);
    return r;
}

static void expect(json_t *r, const char *status, const char *code)
{
    if (strcmp(it_status(r), status) != 0 || (code != NULL && strcmp(it_code(r), code) != 0)) {
        char *s = json_dumps(r, 0);
        fprintf(stderr, "unexpected reply (wanted %s %s): %s\n", status, code ? code : "", s);
        free(s);
        dump_logs();
        fail();
    }
}

static const json_t *data(const json_t *r)
{
    return json_object_get(r, "data");
}

static json_t *meta_of(const json_t *r)
{
    return json_object_get(r, "meta");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether v's log holds needle after its first from bytes. */
static bool log_has_after(const it_vault *v, size_t from, const char *needle)
{
    char *t = read_text(v->log);
    bool has = t != NULL && strlen(t) >= from && strstr(t + from, needle) != NULL;
    free(t);
    return has;
}

static bool log_has(const it_vault *v, const char *needle)
{
    return log_has_after(v, 0, needle);
}

static size_t log_size(const it_vault *v)
{
    char *t = read_text(v->log);
    size_t n = t != NULL ? strlen(t) : 0;
    free(t);
    return n;
}

/* The time stamp of the last "holds the write lease" line of v ("" none). */
static void last_takeover(const it_vault *v, char out[32])
{
    char *t = read_text(v->log);
    const char *last = NULL, *at = t;
    while (t != NULL && (at = strstr(at, "holds the write lease")) != NULL)
        last = at++;
    out[0] = '\0';
    if (last != NULL) {
        while (last > t && last[-1] != '\n')
            last--;
        snprintf(out, 32, "%.24s", last);
    }
    free(t);
}

/* The instance that took the lease last (by its log's time stamps). */
static it_vault *active_vault(void)
{
    char a[32], b[32];
    last_takeover(&va, a);
    last_takeover(&vb, b);
    return strcmp(a, b) >= 0 ? &va : &vb;
}

/* ---- one instance ------------------------------------------------------ */

static void test_operations(void **state)
{
    (void)state;
    json_t *r = req("{\"operation\":\"set\",\"key\":\"app/a\",\"value\":\"one\"}");
    expect(r, "success", NULL);
    json_decref(r);
    r = req("{\"operation\":\"set\",\"key\":\"app/a\",\"value\":\"two\",\"cas\":1}");
    expect(r, "success", NULL);
    assert_int_equal(json_integer_value(json_object_get(meta_of(r), "version")), 2);
    json_decref(r);
    r = req("{\"operation\":\"set\",\"key\":\"app/a\",\"value\":\"x\",\"cas\":1}");
    expect(r, "error", "conflict");
    json_decref(r);
    r = req("{\"operation\":\"get\",\"key\":\"app/a\"}");
    expect(r, "success", NULL);
    assert_string_equal(json_string_value(data(r)), "two");
    json_decref(r);
    r = req("{\"operation\":\"get\",\"key\":\"app/a\",\"version\":1}");
    expect(r, "success", NULL);
    assert_string_equal(json_string_value(data(r)), "one");
    json_decref(r);
    r = req("{\"operation\":\"versions\",\"key\":\"app/a\"}");
    expect(r, "success", NULL);
    assert_int_equal(json_array_size(data(r)), 2);
    json_decref(r);
    r = req("{\"operation\":\"set\",\"key\":\"app/b\",\"value\":\"b\"}");
    json_decref(r);
    r = req("{\"operation\":\"list\",\"key\":\"app/\"}");
    expect(r, "success", NULL);
    assert_int_equal(json_array_size(data(r)), 2);
    json_decref(r);
    r = req("{\"operation\":\"delete\",\"key\":\"app/b\"}");
    expect(r, "success", NULL);
    json_decref(r);
    r = req("{\"operation\":\"get\",\"key\":\"app/b\"}");
    expect(r, "error", "not_found");
    json_decref(r);
    r = req("{\"operation\":\"rotate\"}");
    expect(r, "success", NULL);
    json_decref(r);
    r = req("{\"operation\":\"get\",\"key\":\"app/a\"}");
    assert_string_equal(json_string_value(data(r)), "two");
    json_decref(r);

    r = req("{\"operation\":\"status\"}");
    expect(r, "success", NULL);
    json_t *st = json_object_get(data(r), "storage");
    assert_string_equal(json_string_value(json_object_get(st, "backend")), "jetstream");
    assert_string_equal(json_string_value(json_object_get(st, "role")), "active");
    assert_string_equal(json_string_value(json_object_get(st, "stream")), "KV_vaultctl");
    assert_int_equal(json_integer_value(json_object_get(st, "replicas")), 1);
    assert_true(json_integer_value(json_object_get(st, "applied_seq")) > 0);
    json_decref(r);
}

/* A token with 2 uses: exactly 2 gets (a use is a write). */
static void use_token_twice(const char *key)
{
    json_t *r = req("{\"operation\":\"issue\",\"policy\":{\"keys\":[\"app/*\"],"
                    "\"operations\":[\"get\"]},\"ttl\":\"10m\",\"uses\":2}");
    expect(r, "success", NULL);
    char tok[64];
    snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(data(r), "token")));
    json_decref(r);
    for (int i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "{\"operation\":\"get\",\"key\":\"%s\",\"token\":\"%s\"}", key, tok);
        r = it_request(probe, "user.requests", p, 10000, NULL);
        assert_non_null(r);
        expect(r, i < 2 ? "success" : "error", i < 2 ? NULL : "token_invalid");
        json_decref(r);
    }
}

static void test_tokens(void **state)
{
    (void)state;
    use_token_twice("app/a");
}

/* ---- backup and restore across backends ----------------------------------- */

static int run_cli(const it_vault *v, char **out, const char *a0, const char *a1, const char *a2)
{
    const char *args[] = {a0, a1, a2, NULL};
    return it_run(v->config, out, args);
}

static void expect_get(const it_vault *v, const char *key, const char *want)
{
    char *out = NULL;
    int rc = run_cli(v, &out, "get", key, NULL);
    if (rc != 0 || out == NULL || strstr(out, want) == NULL)
        fprintf(stderr, "vaultctl get %s: exit %d, output: %s\n", key, rc, out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, want));
    free(out);
}

static void test_backup_restore(void **state)
{
    (void)state;
    it_vault vc;
    char b1[400], b2[400], key[400], cache[400];

    /* a backup of the jetstream backend, taken beside the running
     * instance (the command reads the stream into a private cache) */
    snprintf(b1, sizeof b1, "%s/js.backup", va.dir);
    assert_int_equal(run_cli(&va, NULL, "backup", b1, NULL), 0);
    expect_get(&va, "app/a", "two");

    /* into the lmdb backend */
    assert_int_equal(it_vault_init(&vc, &nats, NULL), 0);
    snprintf(key, sizeof key, "%s/master.key", va.dir);
    char *k = read_text(key);
    snprintf(key, sizeof key, "%s/master.key", vc.dir);
    assert_int_equal(tu_write_text(key, k), 0);
    free(k);
    setenv("VAULTCTL_STORAGE_BACKEND", "lmdb", 1);
    assert_int_equal(run_cli(&vc, NULL, "restore", b1, NULL), 0);
    expect_get(&vc, "app/a", "two");
    snprintf(b2, sizeof b2, "%s/lmdb.backup", vc.dir);
    assert_int_equal(run_cli(&vc, NULL, "backup", b2, NULL), 0);

    /* and back into jetstream, in a new bucket, with its own cache */
    setenv("VAULTCTL_STORAGE_BACKEND", "jetstream", 1);
    setenv("VAULTCTL_STORAGE_JETSTREAM_BUCKET", "restored", 1);
    snprintf(cache, sizeof cache, "%s/jscache", vc.dir);
    setenv("VAULTCTL_STORAGE_PATH", cache, 1);
    assert_int_equal(run_cli(&vc, NULL, "restore", b2, NULL), 0);
    expect_get(&vc, "app/a", "two");
    assert_int_equal(run_cli(&vc, NULL, "restore", b2, NULL), 1); /* not empty */
    assert_int_equal(run_cli(&vc, NULL, "restore", "--force", b2), 0);
    expect_get(&vc, "app/a", "two");
    /* IT_RESTORE_LOOP=n: the forced restore n times more (a hang hunt) */
    for (int i = 0; getenv("IT_RESTORE_LOOP") != NULL && i < atoi(getenv("IT_RESTORE_LOOP")); i++)
        assert_int_equal(run_cli(&vc, NULL, "restore", "--force", b2), 0);
    unsetenv("VAULTCTL_STORAGE_PATH");
    unsetenv("VAULTCTL_STORAGE_JETSTREAM_BUCKET");
    /* the lmdb store in storage.path is never taken for a cache */
    assert_int_equal(run_cli(&vc, NULL, "get", "app/a", NULL), 1);
    unsetenv("VAULTCTL_STORAGE_BACKEND");
    it_vault_destroy(&vc);
    printf("backup of jetstream restored into lmdb, and its backup into a new bucket\n");
}

/* ---- two instances ------------------------------------------------------- */

/* Each set is followed at once by a get; with two instances in the queue
 * group about half the gets reach the other one. Returns how many of the
 * status replies came from each role. */
static void read_your_writes(const char *prefix, int rounds, int *active_seen, int *standby_seen)
{
    for (int i = 0; i < rounds; i++) {
        json_t *r =
            req("{\"operation\":\"set\",\"key\":\"%s/%d\",\"value\":\"v%d\"}", prefix, i, i);
        expect(r, "success", NULL);
        json_decref(r);
        r = req("{\"operation\":\"get\",\"key\":\"%s/%d\"}", prefix, i);
        expect(r, "success", NULL);
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        assert_string_equal(json_string_value(data(r)), want);
        json_decref(r);
        r = req("{\"operation\":\"status\"}");
        const char *role =
            json_string_value(json_object_get(json_object_get(data(r), "storage"), "role"));
        if (role != NULL && strcmp(role, "active") == 0)
            (*active_seen)++;
        else
            (*standby_seen)++;
        json_decref(r);
    }
}

static void test_two_instances(void **state)
{
    (void)state;
    int act = 0, sby = 0;
    double t0 = now_s();
    assert_int_equal(it_vault_start_log(&vb, "serving as instance", 60000), 0);
    printf("second instance up in %.2f s\n", now_s() - t0);
    read_your_writes("ryw", 60, &act, &sby);
    printf("read-your-writes: 60 set+get rounds, status from active %d, from standby %d\n", act,
           sby);
    assert_true(act > 0 && sby > 0); /* both served */
    assert_true(log_has(&va, "forwarded writes arrive on"));
    use_token_twice("app/a");
}

/* cas from many clients at once, across both instances: one winner. */
typedef struct {
    int id;
    int won;
} cas_arg;

static void *cas_main(void *arg)
{
    cas_arg *a = arg;
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    char p[256];
    snprintf(p, sizeof p, "{\"operation\":\"set\",\"key\":\"race\",\"value\":\"c%d\",\"cas\":1}",
             a->id);
    json_t *r = nc != NULL ? it_request(nc, "admin.requests", p, 15000, NULL) : NULL;
    a->won = r != NULL && strcmp(it_status(r), "success") == 0;
    json_decref(r);
    natsConnection_Destroy(nc);
    return NULL;
}

static void test_cas_across_instances(void **state)
{
    (void)state;
    enum { N = 16 };
    pthread_t th[N];
    cas_arg a[N];
    int won = 0;

    for (int round = 0; round < 5; round++) {
        json_t *r = req("{\"operation\":\"delete\",\"key\":\"race\"}");
        json_decref(r);
        r = req("{\"operation\":\"set\",\"key\":\"race\",\"value\":\"start\"}");
        expect(r, "success", NULL);
        json_decref(r);
        for (int i = 0; i < N; i++) {
            a[i] = (cas_arg){.id = i, .won = 0};
            assert_int_equal(pthread_create(&th[i], NULL, cas_main, &a[i]), 0);
        }
        int w = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            w += a[i].won;
        }
        assert_int_equal(w, 1);
        won += w;
    }
    printf("cas across two instances: 5 rounds of %d racers, %d winners\n", N, won);
}

static void test_restart_resumes(void **state)
{
    (void)state;
    int act = 0, sby = 0;
    assert_int_equal(it_vault_stop(&vb), 0);
    size_t log_from = log_size(&vb);
    for (int i = 0; i < 10; i++) {
        json_t *r = req("{\"operation\":\"set\",\"key\":\"down/%d\",\"value\":\"d%d\"}", i, i);
        expect(r, "success", NULL);
        json_decref(r);
    }
    assert_int_equal(it_vault_start_log(&vb, "serving as instance", 60000), 0);
    /* it resumed from its cache (a sequence > 1), not from the start */
    char *t = read_text(vb.log);
    const char *last = NULL, *at = t;
    while ((at = strstr(at, "following stream KV_vaultctl from sequence ")) != NULL)
        last = at++;
    assert_non_null(last);
    unsigned long long from =
        strtoull(last + strlen("following stream KV_vaultctl from sequence "), NULL, 10);
    free(t);
    printf("restarted instance resumed at sequence %llu\n", from);
    assert_true(from > 1);
    assert_false(log_has_after(&vb, log_from, "rebuilding the cache"));
    for (int i = 0; i < 10; i++) {
        json_t *r = req("{\"operation\":\"get\",\"key\":\"down/%d\"}", i);
        expect(r, "success", NULL);
        json_decref(r);
    }
    read_your_writes("back", 20, &act, &sby);
}

/* ---- failover ------------------------------------------------------------ */

/* The instance id of the last "holds the write lease" line in v's log. */
static bool lease_holder_id(const it_vault *v, char id[17])
{
    static const char pre[] = "jetstream: this instance (";
    char *t = read_text(v->log);
    const char *last = NULL, *at = t;
    while (t != NULL && (at = strstr(at, pre)) != NULL)
        last = at++;
    bool ok = last != NULL && strlen(last) > sizeof pre + 16;
    if (ok)
        snprintf(id, 17, "%.16s", last + sizeof pre - 1);
    free(t);
    return ok;
}

static int count_in_log(const it_vault *v, const char *needle)
{
    char *t = read_text(v->log);
    int n = 0;
    for (const char *at = t; t != NULL && (at = strstr(at, needle)) != NULL; at++)
        n++;
    free(t);
    return n;
}

/* Reads the stream (as the probe user): after b's first message, every
 * message is b's (its Nats-Msg-Id starts with b's instance id), none a's. */
static void check_stream_after_takeover(const char *a_id, const char *b_id)
{
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    uint64_t b_first = 0, checked = 0, a_after = 0;

    assert_int_equal(natsConnection_JetStream(&js, probe, NULL), NATS_OK);
    assert_int_equal(js_GetStreamInfo(&si, js, "KV_vaultctl", NULL, &jerr), NATS_OK);
    uint64_t last = si->State.LastSeq, first = si->State.FirstSeq;
    jsStreamInfo_Destroy(si);
    for (uint64_t seq = first; seq <= last; seq++) {
        natsMsg *m = NULL;
        const char *id = NULL;
        if (js_GetMsg(&m, js, "KV_vaultctl", seq, NULL, &jerr) != NATS_OK)
            continue; /* superseded: one message is kept per subject */
        if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id != NULL) {
            if (strncmp(id, b_id, 16) == 0 && b_first == 0)
                b_first = seq;
            if (b_first != 0 && strncmp(id, a_id, 16) == 0)
                a_after++;
            checked += b_first != 0;
        }
        natsMsg_Destroy(m);
    }
    jsCtx_Destroy(js);
    printf("stream: %llu messages kept after the takeover (sequence %llu), %llu of the deposed "
           "writer\n",
           (unsigned long long)checked, (unsigned long long)b_first, (unsigned long long)a_after);
    assert_true(b_first > 0);
    assert_int_equal(a_after, 0);
}

typedef struct {
    char key[64];
    bool answered, ok;
} late_write;

static void test_failover(void **state)
{
    (void)state;
    enum { LATE = 12 };
    late_write lw[LATE];
    int lost = 0, done_ok = 0;

    it_vault *act = active_vault(), *other = act == &va ? &vb : &va;
    size_t act_from = log_size(act), other_from = log_size(other);
    assert_int_equal(kill(act->pid, SIGSTOP), 0);
    double t0 = now_s(), took = -1;
    /* writes go on once vb holds the lease: short timeouts, since about
     * half the requests reach the stopped instance and wait there */
    for (int i = 0; i < LATE; i++) {
        char p[1024];
        snprintf(lw[i].key, sizeof lw[i].key, "late/%d", i);
        snprintf(p, sizeof p, "{\"operation\":\"set\",\"key\":\"%s\",\"value\":\"l\"}", lw[i].key);
        json_t *r = it_request(admin, "admin.requests", p, 1500, NULL);
        lw[i].answered = r != NULL;
        lw[i].ok = r != NULL && strcmp(it_status(r), "success") == 0;
        if (lw[i].ok && took < 0)
            took = now_s() - t0;
        done_ok += lw[i].ok;
        lost += r == NULL;
        json_decref(r);
    }
    printf("SIGSTOP of the active: first write acknowledged by the other after %.2f s "
           "(lease_ttl %d s); %d of %d writes succeeded, %d waited on the stopped one\n",
           took, LEASE_TTL_S, done_ok, LATE, lost);
    if (took < 0)
        dump_logs();
    assert_true(took > 0);
    assert_true(log_has_after(other, other_from, "holds the write lease"));

    assert_int_equal(kill(act->pid, SIGCONT), 0);
    /* va learns it lost the lease and stands by */
    bool standby = false;
    for (int i = 0; i < 300 && !standby; i++) {
        standby = log_has_after(act, act_from, "this one is a standby now") ||
                  log_has_after(act, act_from, "was not acknowledged");
        if (!standby)
            usleep(50000);
    }
    if (!standby)
        dump_logs();
    assert_true(standby);
    usleep(500000);
    /* the writes acknowledged landed */
    for (int i = 0; i < LATE; i++) {
        json_t *r = req("{\"operation\":\"get\",\"key\":\"%s\"}", lw[i].key);
        if (lw[i].ok)
            expect(r, "success", NULL);
        json_decref(r);
    }
    /* both serve again: the deposed one forwards its writes */
    int n_act = 0, n_sby = 0;
    read_your_writes("after", 30, &n_act, &n_sby);
    printf("after failover: status from active %d, from standby %d\n", n_act, n_sby);
    assert_true(n_act > 0 && n_sby > 0);
    /* nothing the deposed writer published landed after the takeover */
    char a_id[17], b_id[17];
    assert_true(lease_holder_id(act, a_id) && lease_holder_id(other, b_id));
    int rejected = count_in_log(act, "was not acknowledged");
    check_stream_after_takeover(a_id, b_id);
    printf("the deposed instance had %d publish refused; no message of its landed after the "
           "takeover\n",
           rejected);
}

/* kill -9 of the active instance: the other takes the lease once lease_ttl
 * has passed; the killed one restarted rebuilds its cache (it may hold
 * writes never acknowledged) and stands by. */
static void test_kill_active(void **state)
{
    (void)state;
    it_vault *act_v = active_vault();
    it_vault_kill(act_v);
    size_t from = log_size(act_v);
    double t0 = now_s();
    /* 30 s: the survivor takes over after lease_ttl, later if it is in the
     * stall described in the report (an instance stops publishing for
     * ~10 s now and then right after the other one restarted) */
    json_t *r =
        it_request(admin, "admin.requests",
                   "{\"operation\":\"set\",\"key\":\"killed\",\"value\":\"k\"}", 30000, NULL);
    if (r == NULL)
        dump_logs();
    assert_non_null(r);
    expect(r, "success", NULL);
    json_decref(r);
    printf("kill -9 of the active instance: the next write acknowledged after %.2f s\n",
           now_s() - t0);
    assert_int_equal(it_vault_start_log(act_v, "serving as instance", 60000), 0);
    if (!log_has_after(act_v, from, "rebuilding the cache"))
        dump_logs();
    assert_true(log_has_after(act_v, from, "rebuilding the cache"));
    int act = 0, sby = 0;
    read_your_writes("killed", 20, &act, &sby);
    assert_true(act > 0 && sby > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_backup_restore),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_cas_across_instances),
        cmocka_unit_test(test_restart_resumes),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_kill_active),
    };
    /* IT_ONLY=name,name,...: those tests only (in the order above; the
     * later ones need what the earlier ones wrote, e.g. IT_ONLY=
     * test_operations,test_tokens,test_backup_restore) */
    const char *only = getenv("IT_ONLY");
    struct CMUnitTest some[sizeof tests / sizeof tests[0]];
    size_t n = 0;
    for (size_t i = 0; only != NULL && i < sizeof tests / sizeof tests[0]; i++) {
        const char *at = strstr(only, tests[i].name);
        size_t len = strlen(tests[i].name);
        if (at != NULL && (at == only || at[-1] == ',') && (at[len] == ',' || at[len] == '\0'))
            some[n++] = tests[i];
    }
    if (only != NULL)
        return _cmocka_run_group_tests("test_jetstream", some, n, setup, teardown);
    return cmocka_run_group_tests(tests, setup, teardown);
}
