/* service.c - `vaultctl serve`: NATS connection, subscriptions, workers
 * (see service.h).
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
 * when its reply is ready (request_done), before the reply goes out; in
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditpub.h"
#include "discovery.h"
#include "fairq.h"
#include "fwd.h"
#include "log.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "reqgate.h"
#include "proto.h"
#include "redact.h"

#define QUEUE_GROUP      "vaultctl"
#define DRAIN_TIMEOUT_MS 30000
/* nats.c's own buffer per subscription, before a message reaches
 * on_request (which only admits or refuses it): bounded, so a flood that
 * outruns even that is dropped by nats.c (a slow-consumer error in the log)
 * rather than held. */
#define PENDING_MSGS  8192
#define PENDING_BYTES (32 * 1024 * 1024)
/* What a queued job counts for in queue_max_bytes besides its payload. */
#define JOB_OVERHEAD 256
/* Requests up to this size are parsed on the delivery thread, and the
 * quick ones answered there (a get is ~100 bytes); larger ones are queued
 * unread, so the queue's bound refuses a flood of them before parsing. */
#define INLINE_MAX_BYTES 4096
/* service_stop warns this often while it waits for the closed callback */
#define CLOSED_WARN_S 5

/* Test hook (service_test_delay_closed): on_closed sleeps this long first. */
static atomic_int closed_delay_ms;

/* One request from arrival to reply; freed by request_done. */
typedef struct job {
    fairq_node node; /* first: a fairq_node * is a job * */
    service *svc;
    natsMsg *msg;
    ops_pending *prep; /* parsed on arrival (ops_prepare), or NULL: unread */
    int endpoint;
    int64_t arrived_ns; /* nats clock, for latency */
    int64_t arrived_ms; /* wall clock, for the audit event's time */
    bool forwarded;     /* sent by a standby (fwd.h) */
    bool local;         /* forwarding found no active instance: run here */
    vc_op op;           /* a forwarded write's, for its audit event */
    char key_hash[SEAL_AUDIT_HEX];
} job;

typedef enum { SRV_PING, SRV_INFO, SRV_STATS } srv_kind;

typedef struct {
    service *svc;
    int endpoint;
    int queue; /* its queue in s->jobs: one per subscription */
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
    fwd *fwd; /* jetstream: writes forwarded to and from standbys (fwd.h) */
    srv_ctx srv_ctxs[3];

    pthread_mutex_t lock;
    pthread_cond_t jobs_cv; /* a job is queued, or stopping */
    /* One queue per subscription, served round-robin, so a subject
     * flooded with requests cannot starve another; bounded by
     * service.queue_max_requests and queue_max_bytes with a share per
     * queue (fairq.h). Under lock. */
    fairq jobs;
    bool stopping;
    /* requests received and not yet answered (queued, on a worker or
     * waiting for a commit); service_stop waits for 0 on idle_cv */
    atomic_int_fast64_t inflight;
    pthread_cond_t idle_cv;
    pthread_t *workers;
    int nworkers;
    /* workers running a request now: a request is answered on arrival
     * only while none is (the service is not busy) */
    atomic_int busy_workers;

    atomic_bool connected;
    atomic_bool closing;      /* service_stop is closing the connection */
    bool closed;              /* on_closed has run (under lock) */
    pthread_cond_t closed_cv; /* signalled when closed is set */

    auditpub *audit;

    /* which messages it acts on: clean subjects, allowed reply subjects;
     * drops counted and logged (reqgate.h) */
    reqgate *gate;
    /* answered at once without parsing: unavailable (queue full), and
     * access_denied (a subject no ACL entry gives any right) */
    atomic_uint_fast64_t refused_busy;
    atomic_uint_fast64_t refused_norights;
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
    if (st != NATS_OK) {
        char shown[LOG_ESCAPED_MAX(256)];
        log_error("reply to %s failed: %s", log_escape(shown, sizeof shown, to, strlen(to)),
                  natsStatus_GetText(st));
    }
}

/* ---- requests ----------------------------------------------------------- */

/* The reply r to m: audit event, reply, stats and (log_it) the log line. */
static void answer(service *s, natsMsg *m, int endpoint, int64_t arrived_ns, int64_t arrived_ms,
                   const ops_reply *r, bool log_it)
{
    const char *subject = natsMsg_GetSubject(m);
    int64_t ns = nats_NowInNanoSeconds() - arrived_ns;

    /* The event before the reply: in required mode it is handed to the
     * connection before the requester can learn the outcome. */
    auditpub_emit(s->audit, arrived_ms, subject, r, ns / 1000);
    publish_reply(s, m, r);
    disc_record(s->disc, endpoint, ns, r->code == VC_OK ? NULL : vc_code_name(r->code));
    /* Off by default (log.requests); when on, buffered (log.h). */
    if (!log_it || !log_requests_on())
        return;
    /* Every byte of the subject and of the detail escaped (log.h): the
     * subject is caller-chosen, and the detail may quote it. */
    char shown[LOG_ESCAPED_MAX(256)], detail[LOG_ESCAPED_MAX(VC_ERR_MSG_MAX)];
    log_escape(shown, sizeof shown, subject, strlen(subject));
    if (r->code == VC_OK)
        log_request("request subject=%s op=%s key=%.16s outcome=success latency_us=%lld", shown,
                    op_name(r->op), r->key_hash[0] ? r->key_hash : "-", (long long)(ns / 1000));
    else
        log_request("request subject=%s op=%s key=%.16s outcome=%s latency_us=%lld detail=\"%s\"",
                    shown, op_name(r->op), r->key_hash[0] ? r->key_hash : "-",
                    vc_code_name(r->code), (long long)(ns / 1000),
                    log_escape(detail, sizeof detail, r->log_msg, strlen(r->log_msg)));
}

/* One request in flight less; the last one while stopping wakes
 * service_stop. */
static void inflight_release(service *s)
{
    if (atomic_fetch_sub(&s->inflight, 1) == 1) {
        pthread_mutex_lock(&s->lock);
        if (s->stopping)
            pthread_cond_broadcast(&s->idle_cv);
        pthread_mutex_unlock(&s->lock);
    }
}

/* A request's reply is ready: audit event, reply, stats, log; then the job
 * is done. Runs on a delivery thread (quick requests), a worker, or the
 * vault's completer thread for a set or delete (after its sync), so it
 * never blocks on anything but the connection's lock. */
static void request_done(service *s, job *j, const ops_reply *r)
{
    answer(s, j->msg, j->endpoint, j->arrived_ns, j->arrived_ms, r, true);
    natsMsg_Destroy(j->msg);
    free(j);
    inflight_release(s);
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

/* acl_identity: request_info: who sent m, as the server attests
 * (identity.h decides whether the header counts); NULL when identities are
 * not in use. */
static const vc_identity *request_identity(const service *s, natsMsg *m, vc_identity *buf)
{
    if (!s->cfg->identity_request_info)
        return NULL;
    const char *info = NULL;
    if (natsMsgHeader_Get(m, "Nats-Request-Info", &info) != NATS_OK)
        info = NULL;
    /* A forwarded write (fwd.h) came from a standby over _VAULTCTL.,
     * which only the vault's user may use: its original reply subject
     * travels in a header. */
    const char *reply = natsMsg_GetReply(m);
    if (fwd_arrival(m) != NULL && natsMsg_GetSubject(m) != NULL &&
        strncmp(natsMsg_GetSubject(m), "_VAULTCTL.", 10) == 0)
        reply = fwd_reply(m);
    identity_read(buf, info, reply, s->cfg->acl_identity_account);
    return buf;
}

static void handle(service *s, job *j)
{
    const char *subject = j->forwarded ? fwd_arrival(j->msg) : natsMsg_GetSubject(j->msg);
    const uint8_t *payload = (const uint8_t *)natsMsg_GetData(j->msg);
    size_t len = (size_t)natsMsg_GetDataLength(j->msg);

    /* required: never execute what the audit log cannot be told about. */
    if (auditpub_refuses(s->audit)) {
        ops_reply r;
        ops_cancel(j->prep);
        j->prep = NULL;
        auditpub_refusal(s->audit, &s->ctx, payload, len, &r);
        request_done(s, j, &r);
        ops_reply_free(&r);
        return;
    }
    if (j->prep != NULL) {
        ops_run(&s->ctx, subject, j->prep);
    } else {
        vc_identity id;
        ops_pending *p = ops_prepare(&s->ctx, subject, request_identity(s, j->msg, &id), payload,
                                     len, on_reply, j);
        if (p != NULL)
            ops_run(&s->ctx, subject, p);
    }
}

static void *worker_main(void *arg)
{
    service *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (fairq_len(&s->jobs) == 0 && !s->stopping)
            pthread_cond_wait(&s->jobs_cv, &s->lock);
        job *j = (job *)fairq_take(&s->jobs);
        if (j == NULL) { /* stopping and nothing left */
            pthread_mutex_unlock(&s->lock);
            break;
        }
        atomic_fetch_add(&s->busy_workers, 1);
        pthread_mutex_unlock(&s->lock);

        handle(s, j); /* j belongs to request_done from here */
        atomic_fetch_sub(&s->busy_workers, 1);
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

/* Answers msg at once with an error code and message (never the payload:
 * it is not read), then destroys it; log_msg is the log's detail. */
static void refuse(service *s, natsMsg *msg, int endpoint, int64_t arrived_ns, int64_t arrived_ms,
                   vc_code code, const char *text, const char *log_msg, bool log_it)
{
    ops_reply r;
    memset(&r, 0, sizeof r);
    r.op = OP_NONE;
    r.code = code;
    r.body = proto_error(code, text, NULL, &r.len);
    (void)snprintf(r.log_msg, sizeof r.log_msg, "%s", log_msg);
    if (r.body != NULL)
        answer(s, msg, endpoint, arrived_ns, arrived_ms, &r, log_it);
    ops_reply_free(&r);
    natsMsg_Destroy(msg);
}

/* Delivery thread: check the subjects, refuse what may not be queued, queue
 * the rest for a worker and return at once. */
static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    sub_ctx *sc = closure;
    service *s = sc->svc;
    (void)nc;

    /* The true subject and reply (natsmsg.h): a NUL inside a subject would
     * otherwise make the ACL, the log and the audit see a shorter one. A
     * request whose subject or reply is not a clean subject is never
     * executed nor answered. */
    const char *subject = natsMsg_GetSubject(msg);
    size_t slen = 0, rlen = 0;
    if (!reqgate_admit(s->gate, msg, &slen, &rlen)) {
        natsMsg_Destroy(msg);
        return;
    }
    int64_t arrived_ns = nats_NowInNanoSeconds(), arrived_ms = wall_ms();
    /* A subject that no ACL entry gives any right: access_denied at once,
     * without reading the payload. */
    if (acl_rights(s->ctx.rules, s->ctx.nrules, subject) == 0) {
        atomic_fetch_add(&s->refused_norights, 1);
        refuse(s, msg, sc->endpoint, arrived_ns, arrived_ms, VC_ACCESS_DENIED, "Access denied",
               "access denied: no ACL entry gives this subject any right (payload not read)", true);
        return;
    }
    job *j = malloc(sizeof *j);
    if (j == NULL) {
        log_error("out of memory: a request dropped");
        natsMsg_Destroy(msg);
        return;
    }
    size_t plen = (size_t)natsMsg_GetDataLength(msg);
    j->svc = s;
    j->msg = msg;
    j->prep = NULL;
    j->endpoint = sc->endpoint;
    j->forwarded = false;
    j->local = false;
    j->node.cost = plen + slen + rlen + JOB_OVERHEAD;
    j->arrived_ns = arrived_ns;
    j->arrived_ms = arrived_ms;
    atomic_fetch_add(&s->inflight, 1);
    /* When the service is idle (no worker busy, nothing waiting behind it
     * on this subscription), a small request is read here and a quick one
     * answered at once: no hand-off. Under load it goes to the workers
     * unread, as the others, so they share the parsing and the reads over
     * every CPU instead of this one thread doing them all (measured: at 64
     * in flight answering whenever nothing was pending was no faster). In
     * required audit mode only while the audit connection is up, as a
     * worker would check. */
    int pending = 0;
    if (plen <= INLINE_MAX_BYTES && atomic_load(&s->busy_workers) == 0 &&
        natsSubscription_GetPending(sub, &pending, NULL) == NATS_OK && pending == 0 &&
        !auditpub_refuses(s->audit)) {
        vc_identity id;
        j->prep = ops_prepare(&s->ctx, subject, request_identity(s, msg, &id),
                              (const uint8_t *)natsMsg_GetData(msg), plen, on_reply, j);
        if (j->prep == NULL)
            return; /* answered (out of memory): j is gone */
        if (ops_prepared_quick(j->prep)) {
            ops_run(&s->ctx, subject, j->prep); /* answers and frees j */
            return;
        }
    }
    pthread_mutex_lock(&s->lock);
    bool queued = fairq_put(&s->jobs, sc->queue, &j->node);
    if (queued)
        pthread_cond_signal(&s->jobs_cv);
    pthread_mutex_unlock(&s->lock);
    if (!queued) {
        /* Full: unavailable at once, unread if it was large; one log line a
         * while, not one per request (a flood would flood the log too). */
        ops_cancel(j->prep);
        free(j);
        inflight_release(s);
        uint64_t n = atomic_fetch_add(&s->refused_busy, 1) + 1;
        refuse(s, msg, sc->endpoint, arrived_ns, arrived_ms, VC_UNAVAILABLE,
               "service busy: request queue full, try again later", "request queue full", false);
        if (n == 1 || n % 1000 == 0)
            log_warn("request queue full (%zu requests or %zu bytes): requests answered "
                     "unavailable (%llu so far)",
                     s->cfg->queue_max_requests, s->cfg->queue_max_bytes, (unsigned long long)n);
    }
}

/* A write a standby forwarded (fwd.h): handled on this delivery thread as
 * if it had arrived on its original subject (a write only queues). */
static void on_forwarded(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    service *s = closure;
    job *j =
        fwd_arrival(msg) != NULL && natsMsg_GetReply(msg) != NULL ? calloc(1, sizeof *j) : NULL;
    (void)nc;
    (void)sub;
    if (j == NULL) {
        natsMsg_Destroy(msg);
        return;
    }
    *j = (job){.svc = s, .msg = msg, .endpoint = -1, .forwarded = true};
    j->arrived_ns = nats_NowInNanoSeconds();
    j->arrived_ms = wall_ms();
    atomic_fetch_add(&s->inflight, 1);
    handle(s, j);
}

/* fwd_done_fn: the active instance's reply goes out as this one's. */
static void forward_done(void *arg, fwd_outcome o, const char *body, size_t len, vc_code code)
{
    job *j = arg;
    ops_reply r;

    if (o == FWD_NO_ACTIVE) { /* never ran there: here it waits for the lease */
        vault_holder_unreachable(j->svc->ctx.vault);
        j->local = true;
        handle(j->svc, j);
        return;
    }
    memset(&r, 0, sizeof r);
    r.op = j->op;
    memcpy(r.key_hash, j->key_hash, sizeof r.key_hash);
    r.code = o == FWD_REPLY ? code : VC_UNAVAILABLE;
    if (o == FWD_REPLY && (r.body = malloc(len + 1)) != NULL) {
        memcpy(r.body, body, len);
        r.body[len] = '\0';
        r.len = len;
    } else {
        r.code = VC_UNAVAILABLE;
        r.body = proto_error(VC_UNAVAILABLE,
                             "the active instance did not answer in time: the write's outcome "
                             "is unknown",
                             NULL, &r.len);
    }
    (void)snprintf(r.log_msg, sizeof r.log_msg, "forwarded to the active instance");
    request_done(j->svc, j, &r);
    ops_reply_free(&r);
}

/* ops_ctx.forward: a standby's write goes to the active instance. */
static bool forward_write(void *svc, void *done_arg, const ops_reply *admitted)
{
    service *s = svc;
    job *j = done_arg;

    if (j->forwarded || j->local)
        return false;
    j->op = admitted->op;
    memcpy(j->key_hash, admitted->key_hash, sizeof j->key_hash);
    /* ops cancels its pending request when this returns true, and
     * forward_done may run (and handle j again) before it does. */
    j->prep = NULL;
    return fwd_send(s->fwd, j->msg, forward_done, j);
}

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

/* ---- set-up ------------------------------------------------------------- */

static vc_code build_options(service *s, vc_err *err)
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
    s->sub_ctxs[idx].queue = idx;
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
    s->ctx.forward = forward_write;
    s->ctx.forward_arg = s;
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

    rc = subscribe_one(s, cfg->subject_request, err);
    for (size_t i = 0; rc == VC_OK && i < cfg->acl_count; i++)
        rc = subscribe_one(s, cfg->acl[i].subject, err);
    if (rc == VC_OK)
        rc = subscribe_discovery(s, err);
    if (rc == VC_OK)
        rc = fwd_start(&s->fwd, s->nc, s->ctx.vault, on_forwarded, s, err);
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
