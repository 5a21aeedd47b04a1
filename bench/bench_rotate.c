/* bench_rotate.c - how long vault_rotate takes over N records.
 *
 * Usage: bench_rotate [N [THREADS]]   (default 100000 records, 64 threads)
 * Creates N records with small JSON values in a temp dir (from THREADS
 * threads, so group commit keeps the set-up short; the fill rate is printed
 * too: it is the vault's ceiling for durable sets, with no NATS in the way),
 * times one vault_rotate with CLOCK_MONOTONIC, prints the figure and removes
 * the temp dir. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seal.h"
#include "vault.h"

#define MAX_THREADS 256

typedef struct {
    vault *v;
    size_t from, to;
    int failed;
} fill_arg;

static void *fill(void *p)
{
    fill_arg *a = p;
    char name[64], value[128];
    vc_err err;

    for (size_t i = a->from; i < a->to && !a->failed; i++) {
        int nn = snprintf(name, sizeof name, "bench/key-%08zu", i);
        int vn = snprintf(value, sizeof value, "{\"user\":\"svc-%zu\",\"token\":\"tok_%016zx\"}", i,
                          i * 2654435761u);
        if (nn < 0 || (size_t)nn >= sizeof name || vn < 0 || (size_t)vn >= sizeof value ||
            vault_set(a->v, name, (size_t)nn, value, (size_t)vn, NULL, &err) != VC_OK) {
            fprintf(stderr, "bench_rotate: set failed: %s\n", err.msg);
            a->failed = 1;
        }
    }
    return NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/bench-rotate-XXXXXX";
    char b64[SEAL_KEYGEN_B64];
    seal_master *m = NULL;
    vault *v = NULL;
    pthread_t th[MAX_THREADS];
    fill_arg args[MAX_THREADS];
    struct timespec t0, t1, f0;
    int threads = 64;
    uint32_t kv = 0;
    uint64_t re = 0;
    size_t n = 100000;
    int status = 1;
    vc_err err;

    if (argc > 1) {
        char *end;
        n = strtoul(argv[1], &end, 10);
        if (*end != '\0' || n == 0) {
            fprintf(stderr, "usage: %s [N [THREADS]]\n", argv[0]);
            return 2;
        }
    }
    if (argc > 2) {
        threads = atoi(argv[2]);
        if (threads < 1 || threads > MAX_THREADS) {
            fprintf(stderr, "usage: %s [N [THREADS]] (THREADS 1..%d)\n", argv[0], MAX_THREADS);
            return 2;
        }
    }
    if (mkdtemp(dir) == NULL) {
        perror("bench_rotate: mkdtemp");
        return 1;
    }
    if (seal_init(&err) != VC_OK || seal_keygen_b64(b64, sizeof b64, &err) != VC_OK ||
        seal_master_parse(&m, b64, strlen(b64), "bench", &err) != VC_OK ||
        vault_open(&v, dir, 0, m, &err) != VC_OK) {
        fprintf(stderr, "bench_rotate: %s\n", err.msg);
        goto out;
    }

    clock_gettime(CLOCK_MONOTONIC, &f0);
    for (int t = 0; t < threads; t++) {
        args[t] = (fill_arg){v, n * (size_t)t / (size_t)threads,
                             n * (size_t)(t + 1) / (size_t)threads, 0};
        if (pthread_create(&th[t], NULL, fill, &args[t]) != 0) {
            fprintf(stderr, "bench_rotate: pthread_create failed\n");
            for (int j = 0; j < t; j++)
                pthread_join(th[j], NULL);
            goto out;
        }
    }
    int failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        failed |= args[t].failed;
    }
    if (failed)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vault_commit_stats cs;
    vault_commit_stats_get(v, &cs);
    printf("fill %zu records from %d threads: %.3f s (%.0f sets/s; %llu transactions, "
           "%.1f writes each, at most %llu; %.2f ms per transaction)\n",
           n, threads, elapsed(&f0, &t0), (double)n / elapsed(&f0, &t0),
           (unsigned long long)cs.batches,
           cs.batches ? (double)cs.writes / (double)cs.batches : 0.0,
           (unsigned long long)cs.max_batch,
           cs.batches ? (double)cs.commit_ns / 1e6 / (double)cs.batches : 0.0);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (vault_rotate(v, &kv, &re, &err) != VC_OK) {
        fprintf(stderr, "bench_rotate: rotate: %s\n", err.msg);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("rotate %zu records: %.3f s (key_version %u, reencrypted %llu)\n", n, elapsed(&t0, &t1),
           kv, (unsigned long long)re);
    status = 0;
out:
    vault_close(v);
    seal_master_free(m);
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
