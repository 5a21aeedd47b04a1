/* sweeper.c - the background sweep on a thread of its own (see sweeper.h). */
#include "sweeper.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

struct sweeper {
    vault *vault;
    int64_t interval;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
    sweeper_stats stats;
    pthread_t thread;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopping(sweeper *s)
{
    pthread_mutex_lock(&s->mu);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* One pass: batches until nothing due is left (or stop). */
static void sweep_pass(sweeper *s)
{
    int64_t t0 = mono_ms();
    uint64_t total = 0;
    bool more = true;
    vc_err err;

    /* A standby does not write: the active instance sweeps (jetstream). */
    while (more && !stopping(s) && vault_is_active(s->vault)) {
        uint64_t removed = 0;
        if (vault_sweep(s->vault, (int64_t)time(NULL), SWEEPER_BATCH, &removed, &more, &err) !=
            VC_OK) {
            log_error("expiry sweep: %s (next try in %lld s)", err.msg, (long long)s->interval);
            break;
        }
        total += removed;
    }
    int64_t ms = mono_ms() - t0;
    pthread_mutex_lock(&s->mu);
    s->stats.passes++;
    s->stats.removed += total;
    if (total > 0)
        s->stats.last_ms = ms;
    pthread_mutex_unlock(&s->mu);
    if (total > 0)
        log_info("expiry sweep: %llu expired key%s removed in %lld ms", (unsigned long long)total,
                 total == 1 ? "" : "s", (long long)ms);
}

static void *sweeper_main(void *arg)
{
    sweeper *s = arg;

    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        sweep_pass(s);
        pthread_mutex_lock(&s->mu);
        if (s->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += s->interval;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

vc_code sweeper_start(sweeper **out, vault *v, int64_t interval_s, vc_err *err)
{
    sweeper *s = calloc(1, sizeof *s);
    pthread_condattr_t ca;

    *out = NULL;
    if (s == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    s->vault = v;
    s->interval = interval_s > 0 ? interval_s : SWEEPER_INTERVAL_S;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&s->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail_cv;
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0)
        goto fail_mu;
    *out = s;
    return VC_OK;
fail_mu:
    pthread_mutex_destroy(&s->mu);
fail_cv:
    pthread_cond_destroy(&s->cv);
fail:
    free(s);
    return vc_errf(err, VC_INTERNAL, "cannot start the expiry sweep thread");
}

void sweeper_join(sweeper *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void sweeper_stats_get(sweeper *s, sweeper_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}
