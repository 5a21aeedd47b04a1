/* latch.h - a one-shot "wait for completion" latch: one thread waits until
 * another opens it.
 *
 * Typical use: a blocking call queues asynchronous work whose callback, on
 * another thread, stores the result beside the latch and opens it; the
 * caller waits on the latch, reads the result and destroys the latch. What
 * the opener wrote before latch_open is visible to the waiter after
 * latch_wait returns.
 *
 * Also the one place that computes a pthread_cond_timedwait deadline
 * (deadline_after_ns) for the modules that wait with a timeout.
 */
#ifndef VAULTCTL_LATCH_H
#define VAULTCTL_LATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} latch;

/* A closed latch. Default-attribute mutexes and condition variables cannot
 * fail to initialise on Linux; if they ever do, the process aborts rather
 * than wait on an uninitialised lock. */
void latch_init(latch *l);

/* Opens the latch and wakes every waiter. Touches nothing of l after
 * releasing its mutex, so a waiter may destroy the latch (and the memory it
 * lives in) as soon as latch_wait returns. */
void latch_open(latch *l);

/* Blocks until the latch is open (at once if it already is). */
void latch_wait(latch *l);

/* Frees the latch's resources; no thread may still use it. */
void latch_destroy(latch *l);

/* The absolute time ns nanoseconds (>= 0) from now on clock, normalised, for
 * pthread_cond_timedwait on a condition variable using that clock. */
struct timespec deadline_after_ns(clockid_t clock, int64_t ns);

#endif
