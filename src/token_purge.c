/* token_purge.c - background purge of expired tokens (see token_purge.h). */
#include "token_purge.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "vault_token.h"

struct token_purger {
    vault *v;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *purge_main(void *arg)
{
    token_purger *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += TOKEN_PURGE_INTERVAL_S;
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0)
            ;
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        uint64_t n = 0;
        vc_err err;
        if (!vault_is_active(p->v)) /* a standby: the active instance purges */
            ;
        else if (vtok_purge(p->v, (int64_t)time(NULL), &n, &err) != VC_OK)
            log_warn("token purge: %s", err.msg);
        else if (n > 0)
            log_info("token purge: %llu expired token%s removed", (unsigned long long)n,
                     n == 1 ? "" : "s");
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

vc_code token_purger_start(token_purger **out, vault *v, vc_err *err)
{
    token_purger *p = calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    p->v = v;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->th, NULL, purge_main, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return vc_errf(err, VC_INTERNAL, "cannot start the token purge thread");
    }
    *out = p;
    return VC_OK;
}

void token_purger_stop(token_purger *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
