/* service.c - `vaultctl serve` (see service.h): start and stop, and the
 * service's own fields in a status reply. The module's other files, one job
 * each, are listed in service_int.h; its design is here.
 *
 * Threads: nats.c delivers each subscription's messages on its own thread.
 * While the service is idle (no worker busy, nothing pending behind the
 * message), that callback parses a small request and decides on it
 * (ops_prepare); what is quick and never waits (a refusal, a get or
 * versions without a token: one read transaction) it answers right there,
 * saving the hand-off to a worker (a wake-up and a context switch per get).
 * Under load, everything, and otherwise the rest (writes, tokens, list,
 * status, rotate, creds, any large payload) goes to the bounded fair queue
 * (unread under load or when large, so that a flood is refused before
 * parsing), one queue per subscription served round-robin by a pool of
 * cfg->workers threads, so a slow request (a large rotation) never stalls
 * the others, and a flood on one subject cannot starve another: a flood
 * keeps the workers busy, and then nothing is answered on arrival. A set or delete
 * is queued to the vault's group commit and the worker moves on, and its
 * reply is published from the vault's completer thread once the write is
 * durable (publishing is thread-safe). So no worker ever waits for a sync,
 * a handful of workers serves any number of writes in flight, and all
 * writes queued during one sync share the next.
 *
 * Audit: one event per request, handed to the audit publisher (auditpub.h)
 * when its reply is ready (sreq_request_done), before the reply goes out; in
 * required mode a worker asks it before executing a request.
 *
 * Logs never hold a value or a key name (a key shows as the first 16 hex
 * digits of its audit hash), and server URLs are logged with their
 * user:password@ or token@ hidden.
 */
#include "service.h"

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "auditpub.h"
#include "discovery.h"
#include "fairq.h"
#include "fwd.h"
#include "log.h"
#include "natsmsg.h"
#include "redact.h"
#include "reqgate.h"
#include "service_int.h"

#define DRAIN_TIMEOUT_MS 30000
/* service_stop warns this often while it waits for the closed callback */
#define CLOSED_WARN_S 5

/* ops_ctx.status_extra: the service's own fields in a status reply. */
static void service_status_extra(void *svc, json_t *o)
{
    service *s = svc;
    uint64_t requests = 0, errors = 0;

    disc_totals(s->disc, &requests, &errors);
    json_object_set_new(o, "instance", json_string(disc_id(s->disc)));
    json_object_set_new(o, "nats",
                        json_string(service_connected(s) ? "connected" : "disconnected"));
    json_object_set_new(o, "requests", json_integer((json_int_t)requests));
    json_object_set_new(o, "errors", json_integer((json_int_t)errors));
    json_object_set_new(o, "audit", auditpub_status(s->audit));
    json_object_set_new(o, "dropped", reqgate_status(s->gate));
    json_t *d = json_object();
    if (d != NULL) {
        json_object_set_new(d, "busy", json_integer((json_int_t)atomic_load(&s->refused_busy)));
        json_object_set_new(d, "no_rights",
                            json_integer((json_int_t)atomic_load(&s->refused_norights)));
        json_object_set_new(o, "refused_unread", d);
    }
    pthread_mutex_lock(&s->lock);
    size_t queued = fairq_len(&s->jobs);
    pthread_mutex_unlock(&s->lock);
    json_object_set_new(o, "queued", json_integer((json_int_t)queued));
}

vc_code service_start(service **out, const config *cfg, const ops_ctx *ctx, vc_err *err)
{
    service *s = calloc(1, sizeof *s);
    char shown[1024];
    natsStatus st;
    vc_code rc;

    *out = NULL;
    if (s == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    rc = natsmsg_self_check(err);
    if (rc != VC_OK) {
        free(s);
        return rc;
    }
    s->cfg = cfg;
    s->ctx = *ctx;
    s->ctx.status_extra = service_status_extra;
    s->ctx.status_arg = s;
    /* Writes are forwarded only by a backend with an active instance
     * elsewhere (jetstream); with none (lmdb) ops knows that nothing it
     * runs will be forwarded (ops_prepared_quick). */
    char own[256];
    if (s->ctx.vault != NULL && vault_forward_subject(s->ctx.vault, true, own, sizeof own)) {
        s->ctx.forward = sfwd_forward_write;
        s->ctx.forward_arg = s;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->jobs_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    pthread_cond_init(&s->closed_cv, NULL);
    s->gate = reqgate_create(cfg);
    if (s->gate == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto fail;
    }
    s->disc = disc_create(VAULTCTL_VERSION, "vaultctl: the swarm's credential authority");
    s->subs = calloc(cfg->acl_count + 1, sizeof(natsSubscription *));
    if (!fairq_init(&s->jobs, (int)cfg->acl_count + 1,
                    cfg->queue_max_requests > 0 ? cfg->queue_max_requests : 4096,
                    cfg->queue_max_bytes > 0 ? cfg->queue_max_bytes : (size_t)64 << 20)) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto fail;
    }
    s->sub_ctxs = calloc(cfg->acl_count + 1, sizeof *s->sub_ctxs);
    if (s->disc == NULL || s->subs == NULL || s->sub_ctxs == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto fail;
    }

    /* Workers first, so nothing queued waits for a thread. */
    s->nworkers = cfg->workers; /* 1..256: config_load checks it, its table has the default */
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    if (s->workers == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->workers[i], NULL, sreq_worker_main, s) != 0) {
            s->nworkers = i;
            rc = vc_errf(err, VC_INTERNAL, "cannot start worker threads");
            goto fail;
        }
    }

    rc = sconn_build_options(s, err);
    if (rc != VC_OK)
        goto fail;
    redact_urls(cfg->nats_url, shown, sizeof shown);
    st = natsConnection_Connect(&s->nc, s->opts);
    if (st == NATS_NOT_YET_CONNECTED) {
        log_warn("nats: %s not reachable yet; retrying in the background", shown);
    } else if (st != NATS_OK) {
        /* No connection, so service_stop has no closed callback to wait
         * for. (nats.c 3.4.1 posts one here only if it cannot set up the
         * background retry: its 64 MiB reconnect buffer or thread; known,
         * not handled.) */
        rc = vc_errf(err, VC_CONFIG, "nats: cannot connect to %s: %s", shown,
                     natsStatus_GetText(st));
        goto fail;
    }

    /* The audit publisher before the subscriptions, so no event waits. */
    rc = auditpub_start(&s->audit, cfg, s->nc, disc_id(s->disc), err);
    if (rc != VC_OK)
        goto fail;

    rc = sreq_subscribe(s, cfg->subject_request, err);
    for (size_t i = 0; rc == VC_OK && i < cfg->acl_count; i++)
        rc = sreq_subscribe(s, cfg->acl[i].subject, err);
    if (rc == VC_OK)
        rc = sconn_subscribe_discovery(s, err);
    if (rc == VC_OK)
        rc = fwd_start(&s->fwd, s->nc, s->ctx.vault, sfwd_on_forwarded, s, err);
    if (rc != VC_OK)
        goto fail;
    if (atomic_load(&s->connected) || natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED) {
        atomic_store(&s->connected, true);
        (void)natsConnection_FlushTimeout(s->nc, 5000);
    }
    log_info("vaultctl %s serving as instance %s with %d workers", VAULTCTL_VERSION,
             disc_id(s->disc), s->nworkers);
    *out = s;
    return VC_OK;

fail:
    service_stop(s);
    return rc;
}

/* Waits until on_closed has run, however long that takes. It uses s (and
 * the callbacks nats.c queued before it, disconnected and error, run before
 * it on the same thread), so s is freed only after it: freeing after a
 * timeout was a use-after-free when the callback came late. It does come:
 * nats.c posts the closed callback on every transition to CLOSED (3.4.1
 * conn.c, _close), the only question is when its callback thread gets to
 * it. So no timeout, but a warning every CLOSED_WARN_S seconds saying what
 * the stop waits for. (Handing s to the callback to free instead would
 * free the service on a nats.c thread after service_stop has returned and
 * the caller has closed the vault the service's ops_ctx points to.) */
static void wait_closed(service *s)
{
    int waited = 0;

    pthread_mutex_lock(&s->lock);
    while (!s->closed) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += CLOSED_WARN_S;
        while (!s->closed && pthread_cond_timedwait(&s->closed_cv, &s->lock, &until) == 0)
            ;
        if (!s->closed) {
            waited += CLOSED_WARN_S;
            log_warn("nats: connection closed %d s ago and nats.c has not called back yet: "
                     "still waiting before freeing the service",
                     waited);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void service_stop(service *s)
{
    if (s == NULL)
        return;
    /* 1. Stop taking requests: drain every subscription, so the server sends
     * no more and what it already sent is still delivered to our queue. */
    for (int i = 0; i < 9; i++)
        if (s->srv_subs[i] != NULL)
            (void)natsSubscription_Unsubscribe(s->srv_subs[i]);
    fwd_unsubscribe(s->fwd);
    /* Without a connection nothing more can arrive, and a drain would only
     * wait for its timeout (past Docker's stop grace period): unsubscribe. */
    bool up = s->nc != NULL && natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED;
    for (int i = 0; i < s->nsubs; i++)
        (void)(up ? natsSubscription_Drain(s->subs[i]) : natsSubscription_Unsubscribe(s->subs[i]));
    for (int i = 0; up && i < s->nsubs; i++)
        (void)natsSubscription_WaitForDrainCompletion(s->subs[i], DRAIN_TIMEOUT_MS);

    /* 2. Finish what is queued and in flight. */
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->jobs_cv);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    /* The writes the workers queued are answered from the vault's
     * completer: wait for the last of them (none can start any more). */
    pthread_mutex_lock(&s->lock);
    while (atomic_load(&s->inflight) > 0)
        pthread_cond_wait(&s->idle_cv, &s->lock);
    pthread_mutex_unlock(&s->lock);

    /* 3. Publish the audit events still queued (workers are done, so none
     * comes after the close). */
    auditpub_stop(s->audit);
    s->audit = NULL;

    /* 4. Flush the replies and events, and close. */
    if (s->nc != NULL) {
        /* Disconnected, a flush could only wait for its timeout. */
        if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
            (void)natsConnection_FlushTimeout(s->nc, 5000);
        atomic_store(&s->closing, true);
        natsConnection_Close(s->nc);
        wait_closed(s);
    }
    for (int i = 0; i < s->nsubs; i++)
        natsSubscription_Destroy(s->subs[i]);
    for (int i = 0; i < 9; i++)
        natsSubscription_Destroy(s->srv_subs[i]);
    fwd_free(s->fwd);
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->opts);
    disc_free(s->disc);
    free(s->subs);
    free(s->sub_ctxs);
    free(s->workers);
    fairq_free(&s->jobs);
    reqgate_free(s->gate);
    pthread_cond_destroy(&s->closed_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->jobs_cv);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
