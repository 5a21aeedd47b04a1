/* service.c - `vaultctl serve`: NATS connection, subscriptions, workers
 * (see service.h).
 *
 * Threads: nats.c delivers each subscription's messages on its own thread;
 * those callbacks only queue the message. A pool of cfg->workers threads
 * takes messages off the queue and runs ops_handle_async, so a slow request
 * (a large rotation) never stalls the others. Reads are answered on the
 * worker; a set or delete is queued to the vault's group commit and the
 * worker moves on, and its reply is published from the vault's completer
 * thread once the write is durable (publishing is thread-safe). So no worker ever waits for
 * a sync, a handful of workers serves any number of writes in flight, and
 * all writes queued during one sync share the next.
 *
 * Audit (audit.h): one event per request, built when its reply is ready
 * (request_done). best_effort: the event goes on a bounded queue that one
 * publisher thread empties; required: the worker checks the connection
 * before executing, and the event is published before the reply.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "discovery.h"
#include "log.h"
#include "natsconn.h"
#include "proto.h"
#include "redact.h"

#define QUEUE_GROUP      "vaultctl"
#define DRAIN_TIMEOUT_MS 30000
#define PENDING_MSGS     1000000
#define PENDING_BYTES    (1024 * 1024 * 1024)

/* One request from arrival to reply; freed by request_done. */
typedef struct job {
    struct job *next;
    service *svc;
    natsMsg *msg;
    int endpoint;
    int64_t arrived_ns; /* nats clock, for latency */
    int64_t arrived_ms; /* wall clock, for the audit event's time */
} job;

typedef enum { SRV_PING, SRV_INFO, SRV_STATS } srv_kind;

typedef struct {
    service *svc;
    int endpoint;
} sub_ctx;

typedef struct {
    service *svc;
    srv_kind kind;
} srv_ctx;

struct service {
    const config *cfg;
    ops_ctx ctx;
    natsOptions *opts;
    natsConnection *nc;
    disc *disc;

    natsSubscription **subs; /* request subscriptions */
    sub_ctx *sub_ctxs;
    int nsubs;
    natsSubscription *srv_subs[9];
    srv_ctx srv_ctxs[3];

    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    bool stopping;
    /* requests received and not yet answered (queued, on a worker or
     * waiting for a commit); service_stop waits for 0 on idle_cv */
    atomic_int_fast64_t inflight;
    pthread_cond_t idle_cv;
    pthread_t *workers;
    int nworkers;

    atomic_bool connected;
    atomic_bool closing; /* service_stop is closing the connection */
    bool closed;         /* on_closed has run (under lock) */

    /* audit: */
    bool audit_on;        /* audit.subject is not "" */
    audit_queue *audit_q; /* best_effort only */
    /* best_effort: the publisher thread's own connection (same server and
     * credentials, no SendAsap): a burst of events leaves in one write by
     * nats.c's flusher instead of one write each on the connection the
     * replies share (measured +4-6 % gets/s on 2 CPUs). NULL: events go on
     * nc (required mode, or if it could not be set up). */
    natsConnection *audit_nc;
    pthread_t audit_thread;
    bool audit_thread_started;
    atomic_uint_fast64_t audit_published; /* handed to the connection */
    atomic_uint_fast64_t audit_failed;    /* publish errors (queue drops are
                                             counted by the queue) */
    atomic_uint_fast64_t audit_refused;   /* required: requests not executed */
};

/* ---- connection events ------------------------------------------------ */

static void on_disconnected(natsConnection *nc, void *closure)
{
    service *s = closure;
    (void)nc;
    atomic_store(&s->connected, false);
    if (!atomic_load(&s->closing))
        log_warn("nats: disconnected; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    service *s = closure;
    char url[256] = "", shown[512];
    (void)natsConnection_GetConnectedUrl(nc, url, sizeof url);
    redact_urls(url, shown, sizeof shown);
    atomic_store(&s->connected, true);
    log_info("nats: reconnected to %s", shown);
}

static void on_connected(natsConnection *nc, void *closure)
{
    service *s = closure;
    char url[256] = "", shown[512];
    (void)natsConnection_GetConnectedUrl(nc, url, sizeof url);
    redact_urls(url, shown, sizeof shown);
    atomic_store(&s->connected, true);
    log_info("nats: connected to %s", shown);
}

/* nats.c calls this on its own thread, after natsConnection_Close has
 * returned: service_stop waits for it before freeing s. */
static void on_closed(natsConnection *nc, void *closure)
{
    service *s = closure;
    (void)nc;
    atomic_store(&s->connected, false);
    log_info("nats: connection closed");
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)closure;
    if (sub != NULL)
        log_error("nats: subscription %s: %s", natsSubscription_GetSubject(sub),
                  natsStatus_GetText(err));
    else
        log_error("nats: %s", natsStatus_GetText(err));
}

/* Back-off between reconnect attempts: 100 ms doubling up to 5 s. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
    (void)nc;
    (void)closure;
    int64_t ms = 100;
    for (int i = 1; i < attempts && ms < 5000; i++)
        ms *= 2;
    return ms < 5000 ? ms : 5000;
}

/* ---- replies ----------------------------------------------------------- */

/* Publishes body to the request's reply inbox, or to subjects.reply when the
 * request has none; error headers per the NATS service API. A success has
 * no headers and goes out as bytes: no natsMsg to allocate, copy the secret
 * into and hand to nats.c's garbage-collector thread, which frees it
 * without wiping (measured: ~10 us less CPU per get at 64 in flight). */
static void publish_reply(service *s, natsMsg *req, const ops_reply *r)
{
    const char *to = natsMsg_GetReply(req);
    natsMsg *out = NULL;
    natsStatus st;
    char num[16];

    if (to == NULL || to[0] == '\0')
        to = s->cfg->subject_reply;
    if (r->code == VC_OK) {
        st = natsConnection_Publish(s->nc, to, r->body, (int)r->len);
    } else {
        st = natsMsg_Create(&out, to, NULL, r->body, (int)r->len);
        if (st == NATS_OK) {
            /* The header carries the reply's own message (it never holds a
             * secret); errors are rare, so reading it back costs nothing. */
            json_t *body = json_loadb(r->body, r->len, 0, NULL);
            const char *msg = json_string_value(json_object_get(body, "message"));
            (void)snprintf(num, sizeof num, "%d", vc_code_number(r->code));
            st = natsMsgHeader_Set(out, "Nats-Service-Error",
                                   msg != NULL ? msg : vc_code_name(r->code));
            if (st == NATS_OK)
                st = natsMsgHeader_Set(out, "Nats-Service-Error-Code", num);
            json_decref(body);
        }
        if (st == NATS_OK)
            st = natsConnection_PublishMsg(s->nc, out);
        natsMsg_Destroy(out);
    }
    if (st != NATS_OK)
        log_error("reply to %s failed: %s", to, natsStatus_GetText(st));
}

/* ---- audit -------------------------------------------------------------- */

static bool audit_required(const service *s)
{
    return s->audit_on && s->cfg->audit_mode == AUDIT_REQUIRED;
}

/* Whether an event published now reaches the audit subject: the connection
 * is up. The one place the required-mode gate asks. */
static bool audit_reachable(service *s)
{
    return natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* The reply to a request that required mode refuses: unavailable, nothing
 * executed, nothing echoed (not even the id: the request is not parsed for
 * the reply). The operation and key hash are read, without executing
 * anything, so the refusal's own event still says what was refused. */
static void audit_refusal(service *s, const uint8_t *payload, size_t len, ops_reply *out)
{
    proto_request pr;
    vc_err err;

    memset(out, 0, sizeof *out);
    out->op = OP_NONE;
    if (s->ctx.max_request_bytes == 0 || len <= s->ctx.max_request_bytes) {
        (void)proto_parse(&pr, payload, len, s->ctx.max_value_bytes, &err);
        out->op = pr.op;
        if (pr.key != NULL)
            vault_audit_hash(s->ctx.vault, pr.key, pr.key_len, out->key_hash);
        proto_request_free(&pr);
    }
    out->code = VC_UNAVAILABLE;
    out->body = proto_error(VC_UNAVAILABLE, "audit log unavailable", NULL, &out->len);
    (void)snprintf(out->log_msg, sizeof out->log_msg,
                   "audit subject %s unreachable (NATS not connected): not executed",
                   s->cfg->audit_subject);
    atomic_fetch_add(&s->audit_refused, 1);
}

/* Hands one event to the connection (nats.c buffers it, and keeps it across
 * a reconnect in its reconnect buffer). */
static void audit_publish(service *s, const char *event, size_t len)
{
    natsConnection *nc = s->audit_nc != NULL ? s->audit_nc : s->nc;
    natsStatus st = natsConnection_Publish(nc, s->cfg->audit_subject, event, (int)len);
    if (st == NATS_OK) {
        atomic_fetch_add(&s->audit_published, 1);
        return;
    }
    uint64_t n = atomic_fetch_add(&s->audit_failed, 1) + 1;
    /* One line per failure would flood the log exactly when NATS is down. */
    if (n == 1 || n % 1000 == 0)
        log_error("audit: event to %s not published: %s (%llu so far)", s->cfg->audit_subject,
                  natsStatus_GetText(st), (unsigned long long)n);
}

/* Builds the event of a handled request and publishes it (required) or
 * queues it for the publisher thread (best_effort). */
static void audit_emit(service *s, const job *j, const char *subject, const ops_reply *r,
                       int64_t latency_us)
{
    audit_event ev = {
        .time_ms = j->arrived_ms,
        .instance = disc_id(s->disc),
        .subject = subject,
        .op = r->op,
        .outcome = r->code,
        .latency_us = latency_us,
        .key_hash = r->key_hash,
    };
    size_t len = 0;
    char *event;

    if (!s->audit_on)
        return;
    event = audit_event_json(&ev, &len);
    if (event == NULL) {
        atomic_fetch_add(&s->audit_failed, 1);
        log_error("audit: out of memory building an event");
        return;
    }
    if (audit_required(s)) {
        audit_publish(s, event, len);
        free(event);
        return;
    }
    if (!audit_queue_push(s->audit_q, event, len)) {
        uint64_t n = audit_queue_dropped(s->audit_q);
        if (n == 1 || n % 1000 == 0)
            log_warn("audit: queue of %zu events full: event dropped (%llu so far)",
                     s->cfg->audit_buffer, (unsigned long long)n);
    }
}

/* best_effort: the one thread that publishes queued events, on audit_nc.
 * The queue hands it events in bursts (see audit_queue_pop), and nats.c's
 * flusher writes each burst in one go: neither paid off alone (measured),
 * together they do. */
static void *audit_main(void *arg)
{
    service *s = arg;
    char *event;
    size_t len;

    while (audit_queue_pop(s->audit_q, &event, &len)) {
        audit_publish(s, event, len);
        free(event);
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

/* ---- requests ----------------------------------------------------------- */

/* A request's reply is ready: audit event, reply, stats, log; then the job
 * is done. Runs on a worker, or on the vault's completer thread for a set
 * or delete (after its sync), so it never blocks on anything but the
 * connection's lock. */
static void request_done(service *s, job *j, const ops_reply *r)
{
    natsMsg *m = j->msg;
    const char *subject = natsMsg_GetSubject(m);
    int64_t ns = nats_NowInNanoSeconds() - j->arrived_ns;

    /* The event before the reply: in required mode it is handed to the
     * connection before the requester can learn the outcome. */
    audit_emit(s, j, subject, r, ns / 1000);
    publish_reply(s, m, r);
    disc_record(s->disc, j->endpoint, ns, r->code == VC_OK ? NULL : vc_code_name(r->code));
    if (r->code == VC_OK)
        log_info("request subject=%s op=%s key=%.16s outcome=success latency_us=%lld", subject,
                 op_name(r->op), r->key_hash[0] ? r->key_hash : "-", (long long)(ns / 1000));
    else
        log_info("request subject=%s op=%s key=%.16s outcome=%s latency_us=%lld detail=\"%s\"",
                 subject, op_name(r->op), r->key_hash[0] ? r->key_hash : "-", vc_code_name(r->code),
                 (long long)(ns / 1000), r->log_msg);
    natsMsg_Destroy(m);
    free(j);
    /* The last answer while stopping wakes service_stop. */
    if (atomic_fetch_sub(&s->inflight, 1) == 1) {
        pthread_mutex_lock(&s->lock);
        if (s->stopping)
            pthread_cond_broadcast(&s->idle_cv);
        pthread_mutex_unlock(&s->lock);
    }
}

/* ops_done_fn: on the worker for reads and refusals, on the vault's
 * completer for writes. The completer publishes the replies of its batches
 * itself: handing them to the workers was measured slower (one more
 * wake-up per write costs more than it saves). */
static void on_reply(void *arg, ops_reply *r)
{
    job *j = arg;
    request_done(j->svc, j, r);
}

static void handle(service *s, job *j)
{
    const char *subject = natsMsg_GetSubject(j->msg);
    const uint8_t *payload = (const uint8_t *)natsMsg_GetData(j->msg);
    size_t len = (size_t)natsMsg_GetDataLength(j->msg);

    /* required: never execute what the audit log cannot be told about. */
    if (audit_required(s) && !audit_reachable(s)) {
        ops_reply r;
        audit_refusal(s, payload, len, &r);
        request_done(s, j, &r);
        ops_reply_free(&r);
        return;
    }
    ops_handle_async(&s->ctx, subject, payload, len, on_reply, j);
}

static void *worker_main(void *arg)
{
    service *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->cond, &s->lock);
        job *j = s->head;
        if (j == NULL) { /* stopping and nothing left */
            pthread_mutex_unlock(&s->lock);
            break;
        }
        s->head = j->next;
        if (s->head == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);

        handle(s, j); /* j belongs to request_done from here */
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

/* ---- message callbacks -------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Delivery thread: queue the message for a worker and return at once. */
static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    sub_ctx *sc = closure;
    service *s = sc->svc;
    (void)nc;
    (void)sub;

    /* Never answer our own output: an ACL wildcard such as "vault.>" also
     * covers the reply and audit subjects, and answering them would loop. */
    const char *subject = natsMsg_GetSubject(msg);
    if (strcmp(subject, s->cfg->subject_reply) == 0 ||
        (s->cfg->audit_subject != NULL && strcmp(subject, s->cfg->audit_subject) == 0)) {
        natsMsg_Destroy(msg);
        return;
    }
    job *j = malloc(sizeof *j);
    if (j == NULL) {
        log_error("out of memory: request on %s dropped", subject);
        natsMsg_Destroy(msg);
        return;
    }
    j->next = NULL;
    j->svc = s;
    j->msg = msg;
    j->endpoint = sc->endpoint;
    j->arrived_ns = nats_NowInNanoSeconds();
    j->arrived_ms = wall_ms();
    atomic_fetch_add(&s->inflight, 1);
    pthread_mutex_lock(&s->lock);
    if (s->tail != NULL)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_srv(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    srv_ctx *c = closure;
    char *body = NULL;
    size_t len = 0;
    const char *reply = natsMsg_GetReply(msg);
    (void)sub;

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

/* ---- set-up ------------------------------------------------------------- */

/* Server, credentials and TLS of the service's connections. */
static natsconn_params conn_params(const config *c, const char *name)
{
    natsconn_params p = {
        .servers = c->nats_url,
        .user = c->nats_user,
        .pass = c->nats_pass,
        .token = c->nats_token,
        .creds = c->nats_creds,
        .tls_ca = c->nats_tls_ca,
        .tls_cert = c->nats_tls_cert,
        .tls_key = c->nats_tls_key,
        .name = name,
    };
    return p;
}

/* Retry the first connect and every reconnect for good, with back-off, and
 * keep what is published meanwhile (up to 64 MiB); connected runs when a
 * first connect that had to be retried succeeds. */
static natsStatus keep_connecting(natsOptions *o, natsConnectionHandler connected, void *closure)
{
    natsStatus st = natsOptions_SetMaxReconnect(o, -1);
    if (st == NATS_OK)
        st = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, NULL);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
    if (st == NATS_OK)
        st = natsOptions_SetRetryOnFailedConnect(o, true, connected, closure);
    return st;
}

static vc_code build_options(service *s, vc_err *err)
{
    const config *c = s->cfg;
    natsOptions *o = NULL;
    natsconn_params p = conn_params(c, c->nats_name ? c->nats_name : "vaultctl");
    vc_code rc = natsconn_options(&o, &p, err);
    natsStatus st = NATS_OK;

    if (rc != VC_OK)
        return rc;
    /* Replies go out at once instead of waiting for the flusher thread:
     * measured ~1 ms -> ~0.12 ms round trip at one request in flight. */
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(o, true);
    if (st == NATS_OK)
        st = keep_connecting(o, on_connected, s);
    if (st == NATS_OK)
        st = natsOptions_SetDisconnectedCB(o, on_disconnected, s);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectedCB(o, on_reconnected, s);
    if (st == NATS_OK)
        st = natsOptions_SetClosedCB(o, on_closed, s);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(o, on_error, s);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPendingMsgs(o, PENDING_MSGS);
    if (st != NATS_OK) {
        natsOptions_Destroy(o);
        return vc_errf(err, VC_CONFIG, "nats options: %s", natsStatus_GetText(st));
    }
    s->opts = o;
    return VC_OK;
}

/* Endpoint name for the service API: the subject with '.', '*', '>' made
 * into '_' ("admin.requests" -> "admin_requests"). */
static void endpoint_name(const char *subject, char *out, size_t cap)
{
    size_t i = 0;
    for (; subject[i] != '\0' && i + 1 < cap; i++) {
        char ch = subject[i];
        out[i] = (ch == '.' || ch == '*' || ch == '>') ? '_' : ch;
    }
    out[i] = '\0';
}

static bool already_subscribed(const service *s, const char *subject)
{
    for (int i = 0; i < s->nsubs; i++)
        if (strcmp(natsSubscription_GetSubject(s->subs[i]), subject) == 0)
            return true;
    return false;
}

static vc_code subscribe_one(service *s, const char *subject, vc_err *err)
{
    char name[128];
    natsStatus st;
    int idx = s->nsubs;

    if (already_subscribed(s, subject))
        return VC_OK;
    endpoint_name(subject, name, sizeof name);
    s->sub_ctxs[idx].svc = s;
    s->sub_ctxs[idx].endpoint = disc_add_endpoint(s->disc, name, subject, QUEUE_GROUP);
    st = natsConnection_QueueSubscribe(&s->subs[idx], s->nc, subject, QUEUE_GROUP, on_request,
                                       &s->sub_ctxs[idx]);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(s->subs[idx], PENDING_MSGS, PENDING_BYTES);
    if (st != NATS_OK)
        return vc_errf(err, VC_CONFIG, "subscribe to %s: %s", subject, natsStatus_GetText(st));
    s->nsubs++;
    log_info("listening on %s (queue group %s)", subject, QUEUE_GROUP);
    return VC_OK;
}

static vc_code subscribe_discovery(service *s, vc_err *err)
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

bool service_connected(service *s)
{
    return s != NULL && atomic_load(&s->connected);
}

/* status "audit": {"subject","mode","published","dropped","refused"}:
 * published = handed to the connection; dropped = never handed to it (queue
 * full or publish error); refused = requests not executed in required mode
 * because the connection was down. */
static json_t *audit_status(service *s)
{
    json_t *a = json_object();
    uint64_t dropped = atomic_load(&s->audit_failed);

    if (a == NULL)
        return NULL;
    if (s->audit_q != NULL)
        dropped += audit_queue_dropped(s->audit_q);
    json_object_set_new(a, "subject", json_string(s->audit_on ? s->cfg->audit_subject : ""));
    json_object_set_new(a, "mode",
                        json_string(!s->audit_on        ? "off"
                                    : audit_required(s) ? "required"
                                                        : "best_effort"));
    json_object_set_new(a, "published", json_integer((json_int_t)atomic_load(&s->audit_published)));
    json_object_set_new(a, "dropped", json_integer((json_int_t)dropped));
    json_object_set_new(a, "refused", json_integer((json_int_t)atomic_load(&s->audit_refused)));
    if (s->audit_q != NULL)
        json_object_set_new(a, "queued", json_integer((json_int_t)audit_queue_length(s->audit_q)));
    return a;
}

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
    json_object_set_new(o, "audit", audit_status(s));
}

static void on_audit_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    log_info("nats: audit events have their own connection");
}

/* best_effort's own connection (see audit_nc). It uses no callback that
 * needs the service, so it can be closed without waiting for nats.c. A
 * failure only costs speed: the events then share nc. */
static void audit_connect(service *s)
{
    const config *c = s->cfg;
    char name[256];
    natsOptions *o = NULL;
    vc_err err;
    natsStatus st;

    (void)snprintf(name, sizeof name, "%s-audit", c->nats_name ? c->nats_name : "vaultctl");
    natsconn_params p = conn_params(c, name);
    if (natsconn_options(&o, &p, &err) != VC_OK) {
        log_warn("audit: no connection of its own (%s): events share the service's", err.msg);
        return;
    }
    st = keep_connecting(o, on_audit_connected, NULL);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(o, on_error, NULL);
    if (st == NATS_OK) {
        st = natsConnection_Connect(&s->audit_nc, o);
        if (st == NATS_OK)
            on_audit_connected(s->audit_nc, NULL);
        else if (st == NATS_NOT_YET_CONNECTED) /* on_audit_connected later */
            st = NATS_OK;
    }
    natsOptions_Destroy(o);
    if (st != NATS_OK) {
        natsConnection_Destroy(s->audit_nc);
        s->audit_nc = NULL;
        log_warn("audit: no connection of its own (%s): events share the service's",
                 natsStatus_GetText(st));
    }
}

/* Audit set-up: off, best_effort (queue + publisher thread with its own
 * connection) or required (workers publish themselves, on nc). */
static vc_code audit_start(service *s, vc_err *err)
{
    const config *c = s->cfg;

    s->audit_on = c->audit_subject != NULL && c->audit_subject[0] != '\0';
    if (!s->audit_on) {
        log_info("audit: off (audit.subject is empty)");
        return VC_OK;
    }
    if (c->audit_mode == AUDIT_BEST_EFFORT) {
        s->audit_q = audit_queue_create(c->audit_buffer);
        if (s->audit_q == NULL)
            return vc_errf(err, VC_INTERNAL, "out of memory for the audit queue");
        audit_connect(s);
        if (pthread_create(&s->audit_thread, NULL, audit_main, s) != 0)
            return vc_errf(err, VC_INTERNAL, "cannot start the audit thread");
        s->audit_thread_started = true;
    }
    log_info("audit: events on %s, mode %s", c->audit_subject,
             c->audit_mode == AUDIT_REQUIRED ? "required" : "best_effort");
    return VC_OK;
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
    s->cfg = cfg;
    s->ctx = *ctx;
    s->ctx.status_extra = service_status_extra;
    s->ctx.status_arg = s;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->disc = disc_create(VAULTCTL_VERSION, "vaultctl: the swarm's credential authority");
    s->subs = calloc(cfg->acl_count + 1, sizeof(natsSubscription *));
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
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            s->nworkers = i;
            rc = vc_errf(err, VC_INTERNAL, "cannot start worker threads");
            goto fail;
        }
    }

    rc = build_options(s, err);
    if (rc != VC_OK)
        goto fail;
    redact_urls(cfg->nats_url, shown, sizeof shown);
    st = natsConnection_Connect(&s->nc, s->opts);
    if (st == NATS_NOT_YET_CONNECTED) {
        log_warn("nats: %s not reachable yet; retrying in the background", shown);
    } else if (st != NATS_OK) {
        rc = vc_errf(err, VC_CONFIG, "nats: cannot connect to %s: %s", shown,
                     natsStatus_GetText(st));
        goto fail;
    }

    /* The audit publisher before the subscriptions, so no event waits. */
    rc = audit_start(s, err);
    if (rc != VC_OK)
        goto fail;

    rc = subscribe_one(s, cfg->subject_request, err);
    for (size_t i = 0; rc == VC_OK && i < cfg->acl_count; i++)
        rc = subscribe_one(s, cfg->acl[i].subject, err);
    if (rc == VC_OK)
        rc = subscribe_discovery(s, err);
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

void service_stop(service *s)
{
    if (s == NULL)
        return;
    /* 1. Stop taking requests: drain every subscription, so the server sends
     * no more and what it already sent is still delivered to our queue. */
    for (int i = 0; i < 9; i++)
        if (s->srv_subs[i] != NULL)
            (void)natsSubscription_Unsubscribe(s->srv_subs[i]);
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
    pthread_cond_broadcast(&s->cond);
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
    if (s->audit_q != NULL)
        audit_queue_close(s->audit_q);
    if (s->audit_thread_started)
        pthread_join(s->audit_thread, NULL);
    if (s->audit_nc != NULL) {
        if (natsConnection_Status(s->audit_nc) == NATS_CONN_STATUS_CONNECTED)
            (void)natsConnection_FlushTimeout(s->audit_nc, 5000);
        natsConnection_Close(s->audit_nc);
        natsConnection_Destroy(s->audit_nc);
        s->audit_nc = NULL;
    }

    /* 4. Flush the replies and events, and close. */
    if (s->nc != NULL) {
        /* Disconnected, a flush could only wait for its timeout. */
        if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
            (void)natsConnection_FlushTimeout(s->nc, 5000);
        atomic_store(&s->closing, true);
        natsConnection_Close(s->nc);
        /* The closed callback runs later on a nats.c thread and uses s:
         * wait for it (bounded, in case the library never calls it). */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_mutex_lock(&s->lock);
        while (!s->closed)
            if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0)
                break;
        pthread_mutex_unlock(&s->lock);
    }
    for (int i = 0; i < s->nsubs; i++)
        natsSubscription_Destroy(s->subs[i]);
    for (int i = 0; i < 9; i++)
        natsSubscription_Destroy(s->srv_subs[i]);
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->opts);
    disc_free(s->disc);
    audit_queue_free(s->audit_q);
    free(s->subs);
    free(s->sub_ctxs);
    free(s->workers);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
