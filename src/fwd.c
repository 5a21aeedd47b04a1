/* fwd.c - forwarding writes from a standby to the active instance (see
 * fwd.h). Pending forwards are a list keyed by the last token of their
 * reply subject (one wildcard subscription for all replies); a timer thread
 * fails those the active instance did not answer in time. */
#include "fwd.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "latch.h"
#include "log.h"

#define TICK_MS 100

typedef struct fwd_pending {
    struct fwd_pending *next;
    uint64_t id;
    int64_t deadline; /* monotonic ms */
    fwd_done_fn done;
    void *arg;
} fwd_pending;

struct fwd {
    natsConnection *nc;
    vault *v;
    natsSubscription *in;      /* forwarded writes for this instance */
    natsSubscription *replies; /* replies to ours */
    char prefix[96];           /* reply subjects: prefix + id */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fwd_pending *head;
    uint64_t next_id;
    bool stop, timer_on;
    pthread_t timer;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unlinks the pending forward id (mu held); NULL if gone. */
static fwd_pending *take(fwd *f, uint64_t id)
{
    for (fwd_pending **pp = &f->head; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            fwd_pending *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

/* The code of an error reply, from its Nats-Service-Error-Code header. */
static vc_code reply_code(natsMsg *r)
{
    const char *num = NULL;
    int n;

    if (natsMsgHeader_Get(r, "Nats-Service-Error-Code", &num) != NATS_OK || num == NULL)
        return VC_OK;
    n = atoi(num);
    for (int c = (int)VC_BAD_REQUEST; c <= (int)VC_CONFIG; c++)
        if (vc_code_number((vc_code)c) == n)
            return (vc_code)c;
    return VC_INTERNAL;
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    fwd *f = closure;
    const char *subj = natsMsg_GetSubject(msg);
    size_t pl = strlen(f->prefix);
    fwd_pending *p = NULL;
    (void)nc;
    (void)sub;

    if (strncmp(subj, f->prefix, pl) == 0) {
        uint64_t id = strtoull(subj + pl, NULL, 10);
        pthread_mutex_lock(&f->mu);
        p = take(f, id);
        pthread_mutex_unlock(&f->mu);
    }
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    if (p != NULL) {
        if (natsMsg_IsNoResponders(msg))
            p->done(p->arg, FWD_NO_ACTIVE, NULL, 0, VC_UNAVAILABLE);
        else
            p->done(p->arg, FWD_REPLY, data != NULL ? data : "", len, reply_code(msg));
        free(p);
    }
    if (data != NULL) /* a token issue's reply holds the token */
        sodium_memzero((void *)data, len);
    natsMsg_Destroy(msg);
}

/* Fails the forwards past their deadline (all of them when stopping). */
static void *timer_main(void *arg)
{
    fwd *f = arg;

    pthread_mutex_lock(&f->mu);
    for (;;) {
        int64_t now = mono_ms();
        fwd_pending *late = NULL;
        for (fwd_pending **pp = &f->head; *pp != NULL;) {
            fwd_pending *p = *pp;
            if (f->stop || p->deadline <= now) {
                *pp = p->next;
                p->next = late;
                late = p;
            } else {
                pp = &p->next;
            }
        }
        bool stop = f->stop;
        pthread_mutex_unlock(&f->mu);
        while (late != NULL) {
            fwd_pending *p = late;
            late = p->next;
            p->done(p->arg, FWD_TIMEOUT, NULL, 0, VC_UNAVAILABLE);
            free(p);
        }
        if (stop)
            break;
        struct timespec ts = deadline_after_ns(CLOCK_REALTIME, TICK_MS * 1000000L);
        pthread_mutex_lock(&f->mu);
        if (!f->stop)
            (void)pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    return NULL;
}

vc_code fwd_start(fwd **out, natsConnection *nc, vault *v, natsMsgHandler handler, void *closure,
                  vc_err *err)
{
    char subj[256], rnd_hex[17], wild[128];
    uint8_t rnd[8];
    natsStatus st;
    fwd *f;

    *out = NULL;
    if (v == NULL || !vault_forward_subject(v, true, subj, sizeof subj))
        return VC_OK;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    f->nc = nc;
    f->v = v;
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(rnd_hex, sizeof rnd_hex, rnd, sizeof rnd);
    (void)snprintf(f->prefix, sizeof f->prefix, "%s.fwd.%s.", FWD_INBOX_PREFIX, rnd_hex);
    (void)snprintf(wild, sizeof wild, "%s*", f->prefix);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    st = natsConnection_Subscribe(&f->replies, nc, wild, on_reply, f);
    if (st == NATS_OK)
        st = natsConnection_Subscribe(&f->in, nc, subj, handler, closure);
    if (st != NATS_OK) {
        fwd_free(f);
        return vc_errf(err, VC_CONFIG, "subscribe to %s: %s", subj, natsStatus_GetText(st));
    }
    if (pthread_create(&f->timer, NULL, timer_main, f) != 0) {
        fwd_free(f);
        return vc_errf(err, VC_INTERNAL, "cannot start the forwarding timer");
    }
    f->timer_on = true;
    log_info("forwarded writes arrive on %s", subj);
    *out = f;
    return VC_OK;
}

void fwd_unsubscribe(fwd *f)
{
    if (f != NULL && f->in != NULL)
        (void)natsSubscription_Unsubscribe(f->in);
}

void fwd_free(fwd *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (f->timer_on)
        pthread_join(f->timer, NULL);
    natsSubscription_Destroy(f->in);
    natsSubscription_Destroy(f->replies);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const char *fwd_arrival(natsMsg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, FWD_ARRIVAL_HEADER, &v) != NATS_OK)
        return NULL;
    return v;
}

const char *fwd_reply(natsMsg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, FWD_REPLY_HEADER, &v) != NATS_OK)
        return NULL;
    return v;
}

/* orig's headers (all values of each) onto fm. */
static natsStatus copy_headers(natsMsg *orig, natsMsg *fm)
{
    const char **keys = NULL;
    int n = 0;
    natsStatus st = natsMsgHeader_Keys(orig, &keys, &n);

    if (st == NATS_NOT_FOUND)
        return NATS_OK; /* no headers */
    for (int i = 0; st == NATS_OK && i < n; i++) {
        const char **vals = NULL;
        int nv = 0;
        if (strcmp(keys[i], FWD_ARRIVAL_HEADER) == 0 || strcmp(keys[i], FWD_REPLY_HEADER) == 0)
            continue;
        st = natsMsgHeader_Values(orig, keys[i], &vals, &nv);
        for (int k = 0; st == NATS_OK && k < nv; k++)
            st = natsMsgHeader_Add(fm, keys[i], vals[k]);
        free((void *)vals);
    }
    free((void *)keys);
    return st;
}

bool fwd_send(fwd *f, natsMsg *orig, fwd_done_fn done, void *arg)
{
    char target[256], reply[128];
    fwd_pending *p;
    natsMsg *fm = NULL;
    natsStatus st;

    if (f == NULL || !vault_forward_subject(f->v, false, target, sizeof target))
        return false;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return false;
    p->done = done;
    p->arg = arg;
    p->deadline = mono_ms() + FWD_TIMEOUT_MS;
    pthread_mutex_lock(&f->mu);
    p->id = ++f->next_id;
    p->next = f->head;
    f->head = p;
    pthread_mutex_unlock(&f->mu);
    (void)snprintf(reply, sizeof reply, "%s%" PRIu64, f->prefix, p->id);
    st = natsMsg_Create(&fm, target, reply, natsMsg_GetData(orig), natsMsg_GetDataLength(orig));
    if (st == NATS_OK)
        st = copy_headers(orig, fm);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(fm, FWD_ARRIVAL_HEADER, natsMsg_GetSubject(orig));
    if (st == NATS_OK && natsMsg_GetReply(orig) != NULL)
        st = natsMsgHeader_Set(fm, FWD_REPLY_HEADER, natsMsg_GetReply(orig));
    if (st == NATS_OK)
        st = natsConnection_PublishMsg(f->nc, fm);
    natsMsg_Destroy(fm);
    if (st == NATS_OK)
        return true;
    log_warn("forward to the active instance (%s) failed: %s", target, natsStatus_GetText(st));
    uint64_t id = p->id;
    pthread_mutex_lock(&f->mu);
    p = take(f, id); /* NULL if the timer failed it meanwhile (then done ran) */
    pthread_mutex_unlock(&f->mu);
    if (p == NULL)
        return true;
    free(p);
    return false;
}
