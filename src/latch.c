/* latch.c - the one-shot wait-for-completion latch (see latch.h). */
#include "latch.h"

#include <stdlib.h>

void latch_init(latch *l)
{
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        abort();
    if (pthread_cond_init(&l->cv, NULL) != 0)
        abort();
    l->done = false;
}

void latch_open(latch *l)
{
    pthread_mutex_lock(&l->mu);
    l->done = true;
    pthread_cond_broadcast(&l->cv);
    /* the waiter may free l once the mutex is released */
    pthread_mutex_unlock(&l->mu);
}

void latch_wait(latch *l)
{
    pthread_mutex_lock(&l->mu);
    while (!l->done)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void latch_destroy(latch *l)
{
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

struct timespec deadline_after_ns(clockid_t clock, int64_t ns)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ns / 1000000000L);
    ts.tv_nsec += (long)(ns % 1000000000L);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
