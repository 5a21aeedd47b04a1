/* rotator.c - scheduled rotation of the data key on a thread of its own
 * (see rotator.h). */
#include "rotator.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

struct rotator {
    vault *vault;
    int64_t interval; /* seconds, > 0 */
    int64_t started;  /* due time base when the vault was never rotated */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
    pthread_t thread;
};

/* Rotates if due: now >= (last rotation, or service start) + interval. */
static void rotate_if_due(rotator *r, int64_t *retry_at)
{
    vault_status_info st;
    uint32_t version = 0;
    uint64_t resealed = 0;
    vc_err err;
    int64_t now = (int64_t)time(NULL);
    int64_t retry = r->interval < ROTATOR_RETRY_S ? r->interval : ROTATOR_RETRY_S;

    if (now < *retry_at || !vault_is_active(r->vault)) /* the active one rotates */
        return;
    if (vault_status(r->vault, &st, &err) != VC_OK) {
        log_warn("scheduled rotation: cannot read the vault status: %s", err.msg);
        *retry_at = now + retry;
        return;
    }
    int64_t base = st.last_rotation > 0 ? st.last_rotation : r->started;
    if (now < base + r->interval)
        return;
    if (vault_rotate(r->vault, &version, &resealed, &err) != VC_OK) {
        log_error("scheduled rotation failed: %s (next try in %lld s)", err.msg, (long long)retry);
        *retry_at = (int64_t)time(NULL) + retry;
        return;
    }
    log_info("scheduled rotation: key version %u, %llu re-sealed", version,
             (unsigned long long)resealed);
}

static void *rotator_main(void *arg)
{
    rotator *r = arg;
    int64_t retry_at = 0;

    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        rotate_if_due(r, &retry_at);
        pthread_mutex_lock(&r->mu);
        if (r->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        (void)pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

vc_code rotator_start(rotator **out, vault *v, int64_t interval_s, int64_t started, vc_err *err)
{
    rotator *r = calloc(1, sizeof *r);
    pthread_condattr_t ca;

    *out = NULL;
    if (r == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    r->vault = v;
    r->interval = interval_s;
    r->started = started;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&r->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&r->mu, NULL) != 0)
        goto fail_cv;
    if (pthread_create(&r->thread, NULL, rotator_main, r) != 0)
        goto fail_mu;
    *out = r;
    return VC_OK;
fail_mu:
    pthread_mutex_destroy(&r->mu);
fail_cv:
    pthread_cond_destroy(&r->cv);
fail:
    free(r);
    return vc_errf(err, VC_INTERNAL, "cannot start the rotation thread");
}

void rotator_cancel(rotator *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void rotator_join(rotator *r)
{
    if (r == NULL)
        return;
    rotator_cancel(r);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
