/* test_ops_cmds.c - the operations commands against a real nats-server and
 * the real `vaultctl serve`: backup while the service takes writes, restore
 * (round trip, refusals, kill -9 in the middle), rekey (old key refused,
 * every value reads, kill -9 in the middle), scheduled rotation and the
 * health command. Stores are checked through the library (vault_open with
 * the key file), and only while no vaultctl process has them open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "seal.h"
#include "vault.h"

static it_nats nats;
/* The vault of the test that runs; removed by vault_teardown even when an
 * assertion ends the test early. */
static it_vault vt;

#define N_FIXED 200
#define N_MORE  100 /* the restore kill test's second data set */

/* ---- helpers ----------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void run_expect(const char *config, int want, const char *const *args);

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* How long an uninterrupted run of the command takes (ms, at least 1): kill
 * delays are drawn from 0 to a little over it, so kills land before, during
 * and after the commit. */
static long timed_run(const char *config, const char *const *args)
{
    long t0 = now_ms();
    run_expect(config, 0, args);
    long d = now_ms() - t0;
    return d > 0 ? d : 1;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    if (f == NULL)
        return strdup("");
    FILE *m = open_memstream(&buf, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* Runs vaultctl --config config args...; stdout and stderr into *out and
 * *errout (malloc'd; either pointer may be NULL). Returns the exit code. */
static int run(const char *config, char **out, char **errout, const char *const *args)
{
    return it_run_io(config, NULL, out, errout, args);
}

/* Runs and expects exit code want; prints stderr when it differs. */
static void run_expect(const char *config, int want, const char *const *args)
{
    char *err = NULL;
    int rc = run(config, NULL, &err, args);
    if (rc != want)
        fprintf(stderr, "vaultctl %s: exit %d (want %d): %s\n", args[0], rc, want, err);
    free(err);
    assert_int_equal(rc, want);
}

/* Starts vaultctl --config config args... with output discarded. */
static pid_t spawn_quiet(const char *config, const char *const *args)
{
    const char *argv[IT_ARGV_MAX];
    it_argv(argv, config, args);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void path_in(char *buf, size_t cap, const it_vault *v, const char *name)
{
    int w = snprintf(buf, cap, "%s/%s", v->dir, name);
    assert_true(w > 0 && (size_t)w < cap);
}

/* A copy of v's config with "/data\n" (storage path) and "/master.key\n"
 * replaced by the given names, written to dst. */
static void config_variant(const it_vault *v, const char *dst, const char *data, const char *key)
{
    char *text = read_all(v->config), *p;
    FILE *f = fopen(dst, "w");
    assert_non_null(f);
    for (p = text; *p != '\0';) {
        if (strncmp(p, "/data\n", 6) == 0) {
            fprintf(f, "/%s\n", data);
            p += 6;
        } else if (strncmp(p, "/master.key\n", 12) == 0) {
            fprintf(f, "/%s\n", key);
            p += 12;
        } else {
            fputc(*p++, f);
        }
    }
    fclose(f);
    free(text);
}

static void keygen(const char *path)
{
    char *key = NULL;
    const char *args[] = {"keygen", NULL};
    assert_int_equal(run(NULL, &key, NULL, args), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, key, strlen(key)), (ssize_t)strlen(key));
    close(fd);
    free(key);
}

static void fixed_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "k%04d", i);
}

/* The stored text of a value: a JSON string that names its key. */
static void value_text(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "\"value of %s: 0123456789abcdef0123456789abcdef\"", name);
}

static void nats_set(natsConnection *nc, const char *name)
{
    char value[256], payload[512];
    value_text(value, sizeof value, name);
    snprintf(payload, sizeof payload, "{\"operation\":\"set\",\"key\":\"%s\",\"value\":%s}", name,
             value);
    json_t *r = it_request(nc, "admin.requests", payload, 10000, NULL);
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    json_decref(r);
}

static void set_fixed(natsConnection *nc, int from, int to)
{
    char name[32];
    for (int i = from; i < to; i++) {
        fixed_name(name, sizeof name, i);
        nats_set(nc, name);
    }
}

typedef struct {
    vault *v;
    seal_master *m;
} opened;

/* Opens the store at dir with the key file; 0 on success (err filled). */
static int open_store(opened *o, const char *dir, const char *key, vc_err *err)
{
    o->v = NULL;
    o->m = NULL;
    if (seal_master_load(&o->m, key, NULL, err) != VC_OK)
        return -1;
    if (vault_open(&o->v, dir, 0, o->m, err) != VC_OK) {
        seal_master_free(o->m);
        o->m = NULL;
        return -1;
    }
    return 0;
}

static void close_store(opened *o)
{
    vault_close(o->v);
    seal_master_free(o->m);
}

/* Whether name reads back with its value (0), is absent (1), or is wrong. */
static int check_value(vault *v, const char *name)
{
    char want[256];
    char *got = NULL;
    size_t len = 0;
    vc_err err;

    vc_code rc = vault_get(v, name, strlen(name), &got, &len, NULL, &err);
    if (rc == VC_NOT_FOUND)
        return 1;
    if (rc != VC_OK) {
        fprintf(stderr, "get %s: %s\n", name, err.msg);
        return -1;
    }
    value_text(want, sizeof want, name);
    int ok = len == strlen(want) && memcmp(got, want, len) == 0;
    free(got);
    return ok ? 0 : -1;
}

/* Checks that the store holds exactly k0000..k(n_fixed-1) and live-0 ..
 * live-(m-1) for some m (a consistent snapshot of a sequential writer has no
 * gap), every value exact. Returns m, or -1. */
static int verify(vault *v, int n_fixed)
{
    vault_status_info st;
    char name[32];
    vc_err err;
    int live = 0;

    for (int i = 0; i < n_fixed; i++) {
        fixed_name(name, sizeof name, i);
        if (check_value(v, name) != 0) {
            fprintf(stderr, "%s does not read back\n", name);
            return -1;
        }
    }
    for (;; live++) {
        snprintf(name, sizeof name, "live-%05d", live);
        int r = check_value(v, name);
        if (r == 1)
            break;
        if (r != 0)
            return -1;
    }
    if (vault_status(v, &st, &err) != VC_OK)
        return -1;
    if (st.keys != (uint64_t)(n_fixed + live)) {
        fprintf(stderr, "%llu keys, expected %d fixed + %d live\n", (unsigned long long)st.keys,
                n_fixed, live);
        return -1;
    }
    return live;
}

static int verify_dir(const char *dir, const char *key, int n_fixed)
{
    opened o;
    vc_err err;
    if (open_store(&o, dir, key, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", dir, err.msg);
        return -1;
    }
    int live = verify(o.v, n_fixed);
    close_store(&o);
    return live;
}

/* ---- live writer ------------------------------------------------------- */

typedef struct {
    natsConnection *nc;
    atomic_bool stop;
    int written;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    char name[32];
    while (!atomic_load(&w->stop)) {
        snprintf(name, sizeof name, "live-%05d", w->written);
        nats_set(w->nc, name);
        w->written++;
    }
    return NULL;
}

/* ---- tests ------------------------------------------------------------- */

/* SIGTERM must drain and exit 0; the service log shows why when not. */
static void stop_vault(void)
{
    int rc = it_vault_stop(&vt);
    if (rc != 0)
        it_vault_dump_log(&vt);
    assert_int_equal(rc, 0);
}

static int setup(void **state)
{
    (void)state;
    vc_err err;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "random seed %u\n", seed);
    srand(seed);
    if (seal_init(&err) != VC_OK)
        return -1;
    return it_nats_start(&nats, 0);
}

static int teardown(void **state)
{
    (void)state;
    it_nats_destroy(&nats);
    return 0;
}

/* backup while the service runs and takes writes; each backup restores
 * into a fresh store where every value reads and the live writes form a
 * gap-free prefix (a consistent snapshot). */
static void test_backup_restore_round_trip(void **state)
{
    (void)state;
    writer w = {.nc = NULL, .written = 0};
    atomic_init(&w.stop, false);
    pthread_t th;
    char bk[3][400], cfg2[400], key[400], dir[400], *err = NULL;

    assert_int_equal(it_vault_init(&vt, &nats, NULL), 0);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    set_fixed(nc, 0, N_FIXED);

    w.nc = nc;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    for (int i = 0; i < 3; i++) {
        sleep_ms(150);
        snprintf(bk[i], sizeof bk[i], "%s/backup-%d.mdb", vt.dir, i);
        const char *args[] = {"backup", bk[i], NULL};
        run_expect(vt.config, 0, args);
    }
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    assert_true(w.written > 0);

    /* A backup never overwrites a file. */
    const char *again[] = {"backup", bk[0], NULL};
    run_expect(vt.config, 1, again);

    /* The service's own store is in use: restore refuses. */
    const char *busy[] = {"restore", "--force", bk[0], NULL};
    assert_int_equal(run(vt.config, NULL, &err, busy), 1);
    assert_non_null(strstr(err, "in use by another process"));
    free(err);

    path_in(key, sizeof key, &vt, "master.key");
    int prev = -1;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "restored-%d", i);
        path_in(cfg2, sizeof cfg2, &vt, "config-restored.yaml");
        config_variant(&vt, cfg2, name, "master.key");
        const char *args[] = {"restore", bk[i], NULL};
        run_expect(cfg2, 0, args);
        path_in(dir, sizeof dir, &vt, name);
        int live = verify_dir(dir, key, N_FIXED);
        fprintf(stderr, "backup %d: %d fixed + %d of %d live writes\n", i, N_FIXED, live,
                w.written);
        assert_true(live >= 0 && live >= prev && live <= w.written);
        prev = live;

        /* Non-empty now: refused without --force, done with it. */
        assert_int_equal(run(cfg2, NULL, &err, args), 1);
        assert_non_null(strstr(err, "--force"));
        free(err);
        const char *force[] = {"restore", "--force", bk[(i + 1) % 3], NULL};
        run_expect(cfg2, 0, force);
        assert_true(verify_dir(dir, key, N_FIXED) >= 0);
    }

    /* A backup that the configured key does not open replaces nothing. */
    char key2[400], cfg3[400];
    path_in(key2, sizeof key2, &vt, "other.key");
    keygen(key2);
    path_in(cfg3, sizeof cfg3, &vt, "config-other.yaml");
    config_variant(&vt, cfg3, "restored-0", "other.key");
    const char *wrong[] = {"restore", "--force", bk[0], NULL};
    assert_int_equal(run(cfg3, NULL, &err, wrong), 1);
    assert_non_null(strstr(err, "does not open with master key"));
    free(err);
    path_in(dir, sizeof dir, &vt, "restored-0");
    assert_true(verify_dir(dir, key, N_FIXED) >= 0);

    /* The service still serves its own store, untouched. */
    nats_set(nc, "after-backups");
    natsConnection_Destroy(nc);
    stop_vault();
    it_vault_destroy(&vt);
}

/* rekey: refused while the service runs; afterwards the old key is refused
 * and the new one reads every value, also through the service. */
static void test_rekey(void **state)
{
    (void)state;
    char key[400], key2[400], cfg2[sizeof vt.config], dir[400], *err = NULL;

    assert_int_equal(it_vault_init(&vt, &nats, NULL), 0);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    set_fixed(nc, 0, N_FIXED);

    path_in(key, sizeof key, &vt, "master.key");
    path_in(key2, sizeof key2, &vt, "new.key");
    path_in(dir, sizeof dir, &vt, "data");
    path_in(cfg2, sizeof cfg2, &vt, "config-new.yaml");
    keygen(key2);
    config_variant(&vt, cfg2, "data", "new.key");

    const char *rekey[] = {"rekey", "--new-key", key2, NULL};
    assert_int_equal(run(vt.config, NULL, &err, rekey), 1);
    assert_non_null(strstr(err, "stop the service"));
    free(err);
    stop_vault();

    run_expect(vt.config, 0, rekey);
    const char *status[] = {"status", NULL};
    assert_int_equal(run(vt.config, NULL, &err, status), 1);
    assert_non_null(strstr(err, "master key does not match"));
    free(err);
    run_expect(cfg2, 0, status);
    assert_int_equal(verify_dir(dir, key2, N_FIXED), 0);

    /* The service starts with the new key and serves the old values. */
    char saved[300];
    snprintf(saved, sizeof saved, "%s", vt.config);
    snprintf(vt.config, sizeof vt.config, "%s", cfg2);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    json_t *r =
        it_request(nc, "admin.requests", "{\"operation\":\"get\",\"key\":\"k0007\"}", 5000, NULL);
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    json_decref(r);
    stop_vault();
    snprintf(vt.config, sizeof vt.config, "%s", saved);
    natsConnection_Destroy(nc);
    it_vault_destroy(&vt);
}

/* Which of the two keys opens dir: 0 for a, 1 for b; -1 if none or both. */
static int which_key(const char *dir, const char *a, const char *b)
{
    opened o;
    vc_err err;
    int ra = open_store(&o, dir, a, &err) == 0;
    if (ra)
        close_store(&o);
    int rb = open_store(&o, dir, b, &err) == 0;
    if (rb)
        close_store(&o);
    return ra == rb ? -1 : (ra ? 0 : 1);
}

/* kill -9 at random moments during rekey: the vault always opens with
 * exactly one of the two keys and every value reads. */
static void test_rekey_kill9(void **state)
{
    (void)state;
    char keys[2][400], cfgs[2][400], dir[400];
    int rounds = it_quick() ? 8 : 40, switched = 0;

    assert_int_equal(it_vault_init(&vt, &nats, NULL), 0);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    set_fixed(nc, 0, N_FIXED);
    natsConnection_Destroy(nc);
    stop_vault();

    path_in(keys[0], sizeof keys[0], &vt, "master.key");
    path_in(keys[1], sizeof keys[1], &vt, "other.key");
    keygen(keys[1]);
    path_in(cfgs[0], sizeof cfgs[0], &vt, "config-a.yaml");
    path_in(cfgs[1], sizeof cfgs[1], &vt, "config-b.yaml");
    config_variant(&vt, cfgs[0], "data", "master.key");
    config_variant(&vt, cfgs[1], "data", "other.key");
    path_in(dir, sizeof dir, &vt, "data");

    const char *to_b[] = {"rekey", "--new-key", keys[1], NULL};
    const char *to_a[] = {"rekey", "--new-key", keys[0], NULL};
    long full = timed_run(cfgs[0], to_b);
    long back = timed_run(cfgs[1], to_a);
    long span = (full > back ? full : back) * 6 / 5 + 1;
    fprintf(stderr, "rekey takes %ld ms: kills within %ld ms\n", full, span);
    int cur = 0;
    for (int i = 0; i < rounds; i++) {
        const char *args[] = {"rekey", "--new-key", keys[1 - cur], NULL};
        pid_t pid = spawn_quiet(cfgs[cur], args);
        sleep_ms(rand() % span);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        int now = which_key(dir, keys[0], keys[1]);
        assert_true(now == 0 || now == 1);
        assert_int_equal(verify_dir(dir, keys[now], N_FIXED), 0);
        switched += now != cur;
        cur = now;
    }
    fprintf(stderr, "rekey kill -9: %d rounds, %d ended on the new key, %d on the old\n", rounds,
            switched, rounds - switched);
    it_vault_destroy(&vt);
}

/* Staging directories of store_restore in dir. */
static int count_stages(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, ".restore-", 9) == 0;
    closedir(d);
    return n;
}

/* kill -9 at random moments during restore: the store is always one of the
 * two backups, whole. */
static void test_restore_kill9(void **state)
{
    (void)state;
    char bk[2][400], dir[400], key[400], *err = NULL;
    int rounds = it_quick() ? 8 : 40, changed = 0, mid = 0;
    int sizes[2] = {N_FIXED, N_FIXED + N_MORE};

    assert_int_equal(it_vault_init(&vt, &nats, NULL), 0);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    set_fixed(nc, 0, N_FIXED);
    path_in(bk[0], sizeof bk[0], &vt, "small.mdb");
    const char *b0[] = {"backup", bk[0], NULL};
    run_expect(vt.config, 0, b0);
    set_fixed(nc, N_FIXED, N_FIXED + N_MORE);
    path_in(bk[1], sizeof bk[1], &vt, "full.mdb");
    const char *b1[] = {"backup", bk[1], NULL};
    run_expect(vt.config, 0, b1);
    natsConnection_Destroy(nc);
    stop_vault();

    path_in(dir, sizeof dir, &vt, "data");
    path_in(key, sizeof key, &vt, "master.key");
    const char *to_small[] = {"restore", "--force", bk[0], NULL};
    const char *to_full[] = {"restore", "--force", bk[1], NULL};
    long d0 = timed_run(vt.config, to_small);
    long d1 = timed_run(vt.config, to_full);
    long span = (d0 > d1 ? d0 : d1) * 6 / 5 + 1;
    fprintf(stderr, "restore takes %ld ms: kills within %ld ms\n", d1, span);
    int cur = 1;
    for (int i = 0; i < rounds; i++) {
        const char *args[] = {"restore", "--force", bk[1 - cur], NULL};
        pid_t pid = spawn_quiet(vt.config, args);
        sleep_ms(rand() % span);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        opened o;
        vc_err e;
        vault_status_info st;
        assert_int_equal(open_store(&o, dir, key, &e), 0);
        assert_int_equal(vault_status(o.v, &st, &e), VC_OK);
        close_store(&o);
        int now = st.keys == (uint64_t)sizes[0] ? 0 : st.keys == (uint64_t)sizes[1] ? 1 : -1;
        assert_true(now >= 0);
        assert_int_equal(verify_dir(dir, key, sizes[now]), 0);
        changed += now != cur;
        mid += count_stages(dir) > 0; /* killed between staging and cleanup */
        cur = now;
    }
    fprintf(stderr,
            "restore kill -9: %d rounds, %d ended restored, %d untouched, %d killed "
            "mid-restore (staging directory left)\n",
            rounds, changed, rounds - changed, mid);

    /* A finished restore removes the staging directory a killed one left. */
    const char *args[] = {"restore", "--force", bk[1], NULL};
    assert_int_equal(run(vt.config, NULL, &err, args), 0);
    free(err);
    assert_int_equal(verify_dir(dir, key, sizes[1]), 0);
    assert_int_equal(count_stages(dir), 0);
    it_vault_destroy(&vt);
}

static json_t *status_data(natsConnection *nc)
{
    json_t *r = it_request(nc, "admin.requests", "{\"operation\":\"status\"}", 5000, NULL);
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    return r;
}

/* rotation.interval: 2s rotates on its own; status shows last and next. */
static void test_scheduled_rotation(void **state)
{
    (void)state;
    char dir[400], key[400];

    assert_int_equal(it_vault_init(&vt, &nats, "rotation:\n  interval: 2s\n"), 0);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    natsConnection *nc = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    assert_non_null(nc);
    set_fixed(nc, 0, 20);

    json_t *r = status_data(nc);
    json_t *d = json_object_get(r, "data");
    json_int_t v0 = json_integer_value(json_object_get(d, "key_version"));
    assert_true(json_is_string(json_object_get(d, "next_rotation")));
    json_decref(r);

    /* The key version rises at a rotation's first step and last_rotation
     * is written at its last: wait for both. */
    json_int_t v1 = v0;
    bool done = false;
    for (int i = 0; i < 300 && !done; i++) {
        sleep_ms(100);
        r = status_data(nc);
        d = json_object_get(r, "data");
        v1 = json_integer_value(json_object_get(d, "key_version"));
        done = v1 > v0 && json_is_string(json_object_get(d, "last_rotation"));
        json_decref(r);
    }
    if (!done)
        fail_msg("no scheduled rotation finished within 30 s (key_version %lld -> %lld)",
                 (long long)v0, (long long)v1);
    r = status_data(nc);
    d = json_object_get(r, "data");
    assert_true(json_is_string(json_object_get(d, "last_rotation")));
    const char *last = json_string_value(json_object_get(d, "last_rotation"));
    const char *next = json_string_value(json_object_get(d, "next_rotation"));
    assert_non_null(next);
    assert_true(strcmp(next, last) > 0); /* RFC 3339 UTC sorts as text */
    json_decref(r);
    natsConnection_Destroy(nc);
    stop_vault();

    /* Rotations re-sealed every record: all still read. */
    char *log = read_all(vt.log);
    assert_non_null(strstr(log, "scheduled rotation: key version"));
    free(log);
    path_in(dir, sizeof dir, &vt, "data");
    path_in(key, sizeof key, &vt, "master.key");
    opened o;
    vc_err e;
    assert_int_equal(open_store(&o, dir, key, &e), 0);
    char name[32];
    for (int i = 0; i < 20; i++) {
        fixed_name(name, sizeof name, i);
        assert_int_equal(check_value(o.v, name), 0);
    }
    close_store(&o);
    it_vault_destroy(&vt);
}

/* health: 0 while serving; 1 when NATS is gone, 0 again when it is back;
 * 1 once the file is stale after kill -9; 1 after a clean stop. */
static void test_health(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *health[] = {"health", NULL};
    const char *quick[] = {"health", "--max-age", "2", NULL};

    assert_int_equal(it_vault_init(&vt, &nats, NULL), 0);
    assert_int_equal(it_vault_start(&vt, &nats), 0);
    sleep_ms(1200);
    assert_int_equal(run(vt.config, &out, NULL, health), 0);
    assert_non_null(strstr(out, "healthy"));
    free(out);

    it_nats_stop(&nats, false);
    int rc = 0;
    for (int i = 0; i < 50 && rc == 0; i++) {
        sleep_ms(100);
        free(err);
        err = NULL;
        rc = run(vt.config, NULL, &err, health);
    }
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "NATS"));
    free(err);
    err = NULL;
    assert_int_equal(it_nats_start(&nats, nats.port), 0);
    for (int i = 0; i < 100 && rc != 0; i++) {
        sleep_ms(100);
        rc = run(vt.config, NULL, NULL, health);
    }
    assert_int_equal(rc, 0);

    it_vault_kill(&vt);
    sleep_ms(3500);
    assert_int_equal(run(vt.config, NULL, &err, quick), 1);
    assert_non_null(strstr(err, "s old"));
    free(err);

    assert_int_equal(it_vault_start(&vt, &nats), 0);
    assert_int_equal(run(vt.config, NULL, NULL, health), 0);
    stop_vault();
    assert_int_equal(run(vt.config, NULL, &err, health), 1);
    assert_non_null(strstr(err, "no health file"));
    free(err);
    it_vault_destroy(&vt);
}

static int vault_teardown(void **state)
{
    (void)state;
    if (vt.dir[0] != '\0')
        it_vault_destroy(&vt);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_backup_restore_round_trip, vault_teardown),
        cmocka_unit_test_teardown(test_rekey, vault_teardown),
        cmocka_unit_test_teardown(test_rekey_kill9, vault_teardown),
        cmocka_unit_test_teardown(test_restore_kill9, vault_teardown),
        cmocka_unit_test_teardown(test_scheduled_rotation, vault_teardown),
        cmocka_unit_test_teardown(test_health, vault_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
