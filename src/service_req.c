/* service_req.c - the request path of `vaultctl serve`: one request from
 * its arrival on a request subscription to its reply. on_request admits or
 * refuses it on the delivery thread, answers a quick one there while the
 * service is idle, and queues the rest to the fair queue that the workers
 * serve; sreq_request_done sends the audit event, the reply, the stats and
 * the log line. The threads and why they are so: service.c's opening
 * comment.
 */
#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auditpub.h"
#include "discovery.h"
#include "fairq.h"
#include "fwd.h"
#include "log.h"
#include "proto.h"
#include "reqgate.h"
#include "service_int.h"

#define QUEUE_GROUP "vaultctl"
/* What a queued job counts for in queue_max_bytes besides its payload. */
#define JOB_OVERHEAD 256
/* Requests up to this size are parsed on the delivery thread, and the
 * quick ones answered there (a get is ~100 bytes); larger ones are queued
 * unread, so the queue's bound refuses a flood of them before parsing. */
#define INLINE_MAX_BYTES 4096

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
            char num[16];
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
    char shown[LOG_ESCAPED_MAX(256)];
    log_escape(shown, sizeof shown, subject, strlen(subject));
    if (r->code == VC_OK) {
        log_request("request subject=%s op=%s key=%.16s outcome=success latency_us=%lld", shown,
                    op_name(r->op), r->key_hash[0] ? r->key_hash : "-", (long long)(ns / 1000));
    } else {
        char detail[LOG_ESCAPED_MAX(VC_ERR_MSG_MAX)];
        log_request("request subject=%s op=%s key=%.16s outcome=%s latency_us=%lld detail=\"%s\"",
                    shown, op_name(r->op), r->key_hash[0] ? r->key_hash : "-",
                    vc_code_name(r->code), (long long)(ns / 1000),
                    log_escape(detail, sizeof detail, r->log_msg, strlen(r->log_msg)));
    }
}

/* ---- finished request messages ------------------------------------------ */

/* A worker destroys the request messages it has answered in batches, when
 * MSG_BATCH have gathered or before it waits for work: nats.c 3.4.1 hands
 * every destroyed message to its garbage-collector thread and wakes that
 * thread whenever it is waiting (gc.c, natsGC_collect), so one destroy at a
 * time costs a futex wake per request (~8 % of a get's CPU at 64 in
 * flight); back to back, the first wakes it and the rest only join its
 * list. Other threads destroy at once. The payload (a set's value) is
 * wiped first either way: nats.c frees it without wiping. Every request
 * message of the service ends here (sreq_msg_release), answered, refused
 * or dropped. */
#define MSG_BATCH 16
static _Thread_local natsMsg *done_msgs[MSG_BATCH];
static _Thread_local int n_done;
static _Thread_local bool batching;

static void msgs_flush(void)
{
    for (int i = 0; i < n_done; i++)
        natsMsg_Destroy(done_msgs[i]);
    n_done = 0;
}

void sreq_msg_release(natsMsg *m)
{
    int len = natsMsg_GetDataLength(m);
    if (len > 0)
        sodium_memzero((void *)natsMsg_GetData(m), (size_t)len);
    if (!batching) {
        natsMsg_Destroy(m);
        return;
    }
    done_msgs[n_done++] = m;
    if (n_done == MSG_BATCH)
        msgs_flush();
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
void sreq_request_done(service *s, job *j, const ops_reply *r)
{
    answer(s, j->msg, j->endpoint, j->arrived_ns, j->arrived_ms, r, true);
    sreq_msg_release(j->msg);
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
    sreq_request_done(j->svc, j, r);
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

void sreq_handle(service *s, job *j)
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
        sreq_request_done(s, j, &r);
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

void *sreq_worker_main(void *arg)
{
    service *s = arg;
    batching = true;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (fairq_len(&s->jobs) == 0 && !s->stopping) {
            if (n_done > 0) { /* idle: nothing kept while waiting */
                pthread_mutex_unlock(&s->lock);
                msgs_flush();
                pthread_mutex_lock(&s->lock);
                continue;
            }
            pthread_cond_wait(&s->jobs_cv, &s->lock);
        }
        job *j = (job *)fairq_take(&s->jobs);
        if (j == NULL) { /* stopping and nothing left */
            pthread_mutex_unlock(&s->lock);
            break;
        }
        atomic_fetch_add(&s->busy_workers, 1);
        pthread_mutex_unlock(&s->lock);

        sreq_handle(s, j); /* j belongs to sreq_request_done from here */
        atomic_fetch_sub(&s->busy_workers, 1);
    }
    msgs_flush();
    batching = false;
    nats_ReleaseThreadMemory();
    return NULL;
}

/* ---- message callbacks -------------------------------------------------- */

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
    sreq_msg_release(msg);
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
        sreq_msg_release(msg);
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
        sreq_msg_release(msg);
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
        if (ops_prepared_quick(&s->ctx, j->prep)) {
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

/* ---- subscriptions ------------------------------------------------------ */

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

vc_code sreq_subscribe(service *s, const char *subject, vc_err *err)
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
