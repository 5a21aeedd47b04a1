/* service_conn.c - the service's NATS connection: its options and event
 * callbacks (connected, disconnected, reconnected, closed), whether it is
 * up, and the NATS service API's discovery subjects ($SRV.PING, INFO and
 * STATS), answered from discovery.c. Server URLs are logged with their
 * user:password@ or token@ hidden.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "fwd.h"
#include "log.h"
#include "natsconn.h"
#include "redact.h"
#include "reqgate.h"
#include "service_int.h"

/* Test hook (service_test_delay_closed): on_closed sleeps this long first. */
static atomic_int closed_delay_ms;

/* ---- connection events ------------------------------------------------ */

static void on_disconnected(natsConnection *nc, void *closure)
{
    service *s = closure;
    (void)nc;
    atomic_store(&s->connected, false);
    if (!atomic_load(&s->closing))
        log_warn("nats: disconnected; reconnecting");
}

/* The connection is up (first time, or again): logged with the server's
 * URL, credentials hidden. */
static void note_connected(natsConnection *nc, service *s, const char *how)
{
    char url[256] = "", shown[512];
    (void)natsConnection_GetConnectedUrl(nc, url, sizeof url);
    redact_urls(url, shown, sizeof shown);
    atomic_store(&s->connected, true);
    log_info("nats: %s to %s", how, shown);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    note_connected(nc, closure, "reconnected");
}

static void on_connected(natsConnection *nc, void *closure)
{
    note_connected(nc, closure, "connected");
}

void service_test_delay_closed(int ms)
{
    atomic_store(&closed_delay_ms, ms > 0 ? ms : 0);
}

/* nats.c calls this on its callback thread, after natsConnection_Close has
 * returned (or whenever the connection closes): service_stop waits for it
 * before freeing s. Nothing may touch s after the unlock. */
static void on_closed(natsConnection *nc, void *closure)
{
    service *s = closure;
    int delay_ms = atomic_load(&closed_delay_ms);
    (void)nc;
    if (delay_ms > 0) { /* tests only */
        struct timespec d = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
        while (nanosleep(&d, &d) != 0)
            ;
    }
    atomic_store(&s->connected, false);
    log_info("nats: connection closed");
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    pthread_cond_broadcast(&s->closed_cv);
    pthread_mutex_unlock(&s->lock);
}

bool service_connected(service *s)
{
    return s != NULL && atomic_load(&s->connected);
}

/* ---- set-up ------------------------------------------------------------- */

vc_code sconn_build_options(service *s, vc_err *err)
{
    const config *c = s->cfg;
    natsOptions *o = NULL;
    natsconn_params p = natsconn_params_of(c, c->nats_name ? c->nats_name : "vaultctl");
    /* jetstream: replies to forwarded writes come to inboxes under _VAULTCTL. */
    if (c->storage_backend != NULL && strcmp(c->storage_backend, "jetstream") == 0)
        p.inbox_prefix = FWD_INBOX_PREFIX;
    vc_code rc = natsconn_options(&o, &p, err);
    natsStatus st = NATS_OK;

    if (rc != VC_OK)
        return rc;
    /* Replies go out at once instead of waiting for the flusher thread:
     * measured ~1 ms -> ~0.12 ms round trip at one request in flight. */
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(o, true);
    if (st == NATS_OK)
        st = natsconn_keep_connecting(o, on_connected, s);
    if (st == NATS_OK)
        st = natsOptions_SetDisconnectedCB(o, on_disconnected, s);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectedCB(o, on_reconnected, s);
    if (st == NATS_OK)
        st = natsOptions_SetClosedCB(o, on_closed, s);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(o, natsconn_log_error, s);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPendingMsgs(o, PENDING_MSGS);
    if (st != NATS_OK) {
        natsOptions_Destroy(o);
        return vc_errf(err, VC_CONFIG, "nats options: %s", natsStatus_GetText(st));
    }
    s->opts = o;
    return VC_OK;
}

/* ---- service discovery ($SRV) -------------------------------------------- */

static void on_srv(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    srv_ctx *c = closure;
    char *body = NULL;
    size_t len = 0;
    const char *reply = natsMsg_GetReply(msg);
    (void)sub;

    /* The same rules as for requests: the true reply, clean, allowed. */
    if (reply != NULL && !reqgate_srv_reply_ok(c->svc->gate, msg))
        reply = NULL;
    if (reply != NULL && reply[0] != '\0') {
        switch (c->kind) {
        case SRV_PING:
            body = disc_ping_json(c->svc->disc, &len);
            break;
        case SRV_INFO:
            body = disc_info_json(c->svc->disc, &len);
            break;
        case SRV_STATS:
            body = disc_stats_json(c->svc->disc, &len);
            break;
        }
        if (body != NULL) {
            natsStatus st = natsConnection_Publish(nc, reply, body, (int)len);
            if (st != NATS_OK)
                log_error("discovery reply failed: %s", natsStatus_GetText(st));
        }
        free(body);
    }
    natsMsg_Destroy(msg);
}

vc_code sconn_subscribe_discovery(service *s, vc_err *err)
{
    static const char *const verbs[3] = {"PING", "INFO", "STATS"};
    int n = 0;
    for (int k = 0; k < 3; k++) {
        char subj[3][128];
        s->srv_ctxs[k].svc = s;
        s->srv_ctxs[k].kind = (srv_kind)k;
        (void)snprintf(subj[0], sizeof subj[0], "$SRV.%s", verbs[k]);
        (void)snprintf(subj[1], sizeof subj[1], "$SRV.%s.%s", verbs[k], DISC_NAME);
        (void)snprintf(subj[2], sizeof subj[2], "$SRV.%s.%s.%s", verbs[k], DISC_NAME,
                       disc_id(s->disc));
        for (int i = 0; i < 3; i++) {
            natsStatus st =
                natsConnection_Subscribe(&s->srv_subs[n], s->nc, subj[i], on_srv, &s->srv_ctxs[k]);
            if (st != NATS_OK)
                return vc_errf(err, VC_CONFIG, "subscribe to %s: %s", subj[i],
                               natsStatus_GetText(st));
            n++;
        }
    }
    return VC_OK;
}
