/* bench_history.c - what kept versions cost (PROTOCOL.md §7), vault API, no
 * NATS. Three figures, one line each:
 *
 *   sets   durable sets/s overwriting KEYS keys from THREADS threads, with
 *          history.max_versions 1 and then 10 (each store first filled to
 *          10 versions, so the 10 run prunes one version per set: the
 *          steady state), and their ratio
 *   rss    this process's RSS (VmRSS, VmHWM) with N keys x 10 versions in the
 *          store, after a list of every name (the name cache) and a get of
 *          every key, and the data file's size
 *   rotate one vault_rotate of those N x 10 records (every version re-sealed)
 *
 * Usage: bench_history [N [KEYS [THREADS]]]  (100000 keys x 10 versions;
 * 10000 keys and 64 threads for the sets). Temp dirs removed at exit. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "seal.h"
#include "vault.h"

#define MAX_THREADS 256

typedef struct {
    vault *v;
    size_t from, to, rounds;
    int failed;
} fill_arg;

static void *fill(void *p)
{
    fill_arg *a = p;
    char name[64], value[128];
    vc_err err;

    for (size_t r = 0; r < a->rounds && !a->failed; r++)
        for (size_t i = a->from; i < a->to && !a->failed; i++) {
            int nn = snprintf(name, sizeof name, "bench/key-%08zu", i);
            int vn = snprintf(value, sizeof value,
                              "{\"user\":\"svc-%zu\",\"token\":\"tok_%016zx\",\"r\":%zu}", i,
                              i * 2654435761u, r);
            if (vault_set(a->v, name, (size_t)nn, value, (size_t)vn, NULL, &err) != VC_OK) {
                fprintf(stderr, "bench_history: set failed: %s\n", err.msg);
                a->failed = 1;
            }
        }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n keys x rounds sets from threads threads; seconds, or -1 on failure */
static double run_sets(vault *v, size_t n, size_t rounds, int threads)
{
    pthread_t th[MAX_THREADS];
    fill_arg args[MAX_THREADS];
    int failed = 0;
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        args[t] = (fill_arg){v, n * (size_t)t / (size_t)threads,
                             n * (size_t)(t + 1) / (size_t)threads, rounds, 0};
        if (pthread_create(&th[t], NULL, fill, &args[t]) != 0)
            return -1;
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        failed |= args[t].failed;
    }
    return failed ? -1 : now_s() - t0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t n = strlen(field);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

typedef struct {
    char dir[64];
    vault *v;
} tmpvault;

static int tv_open(tmpvault *t, const seal_master *m, uint64_t max_versions)
{
    vc_err err;
    strcpy(t->dir, "/tmp/bench-history-XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        perror("bench_history: mkdtemp");
        return -1;
    }
    if (vault_open(&t->v, t->dir, (size_t)4 << 30, m, &err) != VC_OK) {
        fprintf(stderr, "bench_history: %s\n", err.msg);
        return -1;
    }
    vault_set_max_versions(t->v, max_versions);
    return 0;
}

static void tv_close(tmpvault *t)
{
    vault_close(t->v);
    t->v = NULL;
    if (t->dir[0] != '\0')
        nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    t->dir[0] = '\0';
}

/* sets/s overwriting keys keys (already at 10 versions) with max_versions */
static double sets_rate(const seal_master *m, uint64_t max_versions, size_t keys, int threads)
{
    tmpvault t = {{0}, NULL};
    double rate = -1;
    if (tv_open(&t, m, max_versions) == 0 && run_sets(t.v, keys, 10, threads) >= 0) {
        double s = run_sets(t.v, keys, 3, threads);
        if (s > 0)
            rate = (double)keys * 3 / s;
    }
    tv_close(&t);
    return rate;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t keys = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    int threads = argc > 3 ? atoi(argv[3]) : 64;
    char b64[SEAL_KEYGEN_B64];
    seal_master *m = NULL;
    tmpvault t = {{0}, NULL};
    vc_err err;
    int status = 1;

    if (n == 0 || keys == 0 || threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "usage: %s [N [KEYS [THREADS]]]\n", argv[0]);
        return 2;
    }
    if (seal_init(&err) != VC_OK || seal_keygen_b64(b64, sizeof b64, &err) != VC_OK ||
        seal_master_parse(&m, b64, strlen(b64), "bench", &err) != VC_OK) {
        fprintf(stderr, "bench_history: %s\n", err.msg);
        return 1;
    }

    double r1 = sets_rate(m, 1, keys, threads);
    double r10 = sets_rate(m, 10, keys, threads);
    if (r1 <= 0 || r10 <= 0)
        goto out;
    printf("sets %zu keys, %d threads: history 1: %.0f sets/s; history 10: %.0f sets/s; "
           "ratio %.2f\n",
           keys, threads, r1, r10, r10 / r1);
    fflush(stdout);

    if (tv_open(&t, m, 10) != 0)
        goto out;
    double fs = run_sets(t.v, n, 10, threads);
    if (fs < 0)
        goto out;
    char **names = NULL;
    size_t count = 0;
    bool more = false;
    if (vault_list(t.v, NULL, 0, NULL, 0, 0, &names, &count, &more, NULL, &err) != VC_OK) {
        fprintf(stderr, "bench_history: list: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        char *val = NULL;
        size_t len = 0;
        if (vault_get(t.v, names[i], strlen(names[i]), &val, &len, NULL, &err) != VC_OK) {
            fprintf(stderr, "bench_history: get: %s\n", err.msg);
            goto out;
        }
        free(val);
    }
    vault_names_free(names, count);
    vault_status_info st;
    if (vault_status(t.v, &st, &err) != VC_OK)
        goto out;
    printf("rss %zu keys x 10 versions (filled in %.1f s, %.0f sets/s): VmRSS %ld MiB (heap "
           "RssAnon %ld MiB, mapped store pages RssFile %ld MiB), VmHWM %ld MiB; store %llu MiB "
           "used\n",
           n, fs, (double)n * 10 / fs, status_kib("VmRSS") / 1024, status_kib("RssAnon") / 1024,
           status_kib("RssFile") / 1024, status_kib("VmHWM") / 1024,
           (unsigned long long)(st.used_bytes >> 20));
    fflush(stdout);

    vault_rotation rot;
    double t0 = now_s();
    if (vault_rotate_report(t.v, &rot, &err) != VC_OK) {
        fprintf(stderr, "bench_history: rotate: %s\n", err.msg);
        goto out;
    }
    printf("rotate %zu keys x 10 versions: %.3f s (reencrypted %llu)\n", n, now_s() - t0,
           (unsigned long long)rot.reencrypted);
    status = 0;
out:
    tv_close(&t);
    seal_master_free(m);
    return status;
}
