/* bench_echo.c - the reference responder of `make bench`: answers every
 * request with its own payload.
 *
 * Usage: bench_echo --url URL [--subject S] [--workers N]
 *
 * Set up exactly like `vaultctl serve` (src/service.c): one connection with
 * SendAsap, a queue subscription with the same pending limits, a delivery
 * callback that only queues the message, and N worker threads that publish
 * the payload to the reply inbox as bytes (natsConnection_Publish, as
 * vaultctl sends a success). So the only difference from
 * vaultctl is the work done per request: this is the request/reply floor of
 * the machine. Prints "ready" once subscribed; exits 0 on SIGTERM/SIGINT.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_MSGS  1000000
#define PENDING_BYTES (1024 * 1024 * 1024)

typedef struct job {
    struct job *next;
    natsMsg *msg;
} job;

typedef struct {
    natsConnection *nc;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    bool stopping;
} echo_srv;

static void reply(echo_srv *e, natsMsg *req)
{
    const char *to = natsMsg_GetReply(req);
    natsStatus st;

    if (to == NULL || to[0] == '\0')
        return;
    st = natsConnection_Publish(e->nc, to, natsMsg_GetData(req), natsMsg_GetDataLength(req));
    if (st != NATS_OK)
        fprintf(stderr, "bench_echo: reply failed: %s\n", natsStatus_GetText(st));
}

static void *worker_main(void *arg)
{
    echo_srv *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        while (e->head == NULL && !e->stopping)
            pthread_cond_wait(&e->cond, &e->lock);
        job *j = e->head;
        if (j == NULL) {
            pthread_mutex_unlock(&e->lock);
            break;
        }
        e->head = j->next;
        if (e->head == NULL)
            e->tail = NULL;
        pthread_mutex_unlock(&e->lock);

        reply(e, j->msg);
        natsMsg_Destroy(j->msg);
        free(j);
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

/* Delivery thread: queue for a worker, as service.c does. */
static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    echo_srv *e = closure;
    job *j = malloc(sizeof *j);
    (void)nc;
    (void)sub;

    if (j == NULL) {
        natsMsg_Destroy(msg);
        return;
    }
    j->next = NULL;
    j->msg = msg;
    pthread_mutex_lock(&e->lock);
    if (e->tail != NULL)
        e->tail->next = j;
    else
        e->head = j;
    e->tail = j;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static int usage(void)
{
    fputs("usage: bench_echo --url URL [--subject S] [--workers N]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *subject = "echo.requests";
    int nworkers = 4, started = 0, status = 1;
    echo_srv e = {0};
    natsOptions *o = NULL;
    natsSubscription *sub = NULL;
    pthread_t *workers = NULL;
    sigset_t sigs;
    natsStatus st;
    int sig;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--subject") == 0 && i + 1 < argc)
            subject = argv[++i];
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            nworkers = atoi(argv[++i]);
        else
            return usage();
    }
    if (url == NULL || nworkers < 1 || nworkers > 1024)
        return usage();

    /* Signals go to this thread only (sigwait below), as in cmd_serve.c. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    pthread_mutex_init(&e.lock, NULL);
    pthread_cond_init(&e.cond, NULL);
    workers = calloc((size_t)nworkers, sizeof *workers);
    if (workers == NULL)
        goto out;
    for (; started < nworkers; started++)
        if (pthread_create(&workers[started], NULL, worker_main, &e) != 0)
            goto out;

    st = natsOptions_Create(&o);
    if (st == NATS_OK)
        st = natsOptions_SetURL(o, url);
    if (st == NATS_OK)
        st = natsOptions_SetName(o, "bench_echo");
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(o, true);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPendingMsgs(o, PENDING_MSGS);
    if (st == NATS_OK)
        st = natsConnection_Connect(&e.nc, o);
    if (st == NATS_OK)
        st = natsConnection_QueueSubscribe(&sub, e.nc, subject, "echo", on_request, &e);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(sub, PENDING_MSGS, PENDING_BYTES);
    if (st == NATS_OK)
        st = natsConnection_FlushTimeout(e.nc, 5000);
    if (st != NATS_OK) {
        fprintf(stderr, "bench_echo: %s (%s)\n", natsStatus_GetText(st), nats_GetLastError(NULL));
        goto out;
    }
    printf("ready\n");
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
        ;
    status = 0;
out:
    if (sub != NULL) {
        (void)natsSubscription_Drain(sub);
        (void)natsSubscription_WaitForDrainCompletion(sub, 5000);
    }
    pthread_mutex_lock(&e.lock);
    e.stopping = true;
    pthread_cond_broadcast(&e.cond);
    pthread_mutex_unlock(&e.lock);
    for (int i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    if (e.nc != NULL) {
        (void)natsConnection_FlushTimeout(e.nc, 5000);
        natsConnection_Close(e.nc);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(e.nc);
    natsOptions_Destroy(o);
    free(workers);
    pthread_cond_destroy(&e.cond);
    pthread_mutex_destroy(&e.lock);
    nats_Close();
    return status;
}
