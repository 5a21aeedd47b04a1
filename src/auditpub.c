/* auditpub.c - the service's audit publisher: the audit connection
 * ("<nats.name>-audit"), the publisher thread and the required-mode gate
 * (see auditpub.h; the events themselves are built by audit.c). */
#include "auditpub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "natsconn.h"
#include "proto.h"

struct auditpub {
    const config *cfg;
    natsConnection *nc; /* the service's (borrowed) */
    char *instance;
    bool on;        /* audit.subject is not "" */
    audit_queue *q; /* best_effort only */
    /* best_effort: the publisher thread's own connection (same server and
     * credentials, no SendAsap): a burst of events leaves in one write by
     * nats.c's flusher instead of one write each on the connection the
     * replies share (measured +4-6 % gets/s on 2 CPUs). NULL: events go on
     * nc (required mode, or if it could not be set up). */
    natsConnection *audit_nc;
    pthread_t thread;
    bool thread_started;
    atomic_uint_fast64_t published; /* handed to the connection */
    atomic_uint_fast64_t failed;    /* publish errors (queue drops are
                                       counted by the queue) */
    atomic_uint_fast64_t refused;   /* required: requests not executed */
};

static bool required(const auditpub *a)
{
    return a->on && a->cfg->audit_mode == AUDIT_REQUIRED;
}

bool auditpub_refuses(auditpub *a)
{
    /* Whether an event published now reaches the audit subject: the
     * connection is up. The one place the required-mode gate asks. */
    return required(a) && natsConnection_Status(a->audit_nc != NULL ? a->audit_nc : a->nc) !=
                              NATS_CONN_STATUS_CONNECTED;
}

void auditpub_refusal(auditpub *a, const ops_ctx *ctx, const uint8_t *payload, size_t len,
                      ops_reply *out)
{
    proto_request pr;
    vc_err err;

    memset(out, 0, sizeof *out);
    out->op = OP_NONE;
    if ((ctx->max_request_bytes == 0 || len <= ctx->max_request_bytes) &&
        (ctx->max_json_elements == 0 ||
         !proto_json_elements_over(payload, len, ctx->max_json_elements))) {
        (void)proto_parse(&pr, payload, len, ctx->max_value_bytes, &err);
        out->op = pr.op;
        if (pr.key != NULL)
            vault_audit_hash(ctx->vault, pr.key, pr.key_len, out->key_hash);
        proto_request_free(&pr);
    }
    out->code = VC_UNAVAILABLE;
    out->body = proto_error(VC_UNAVAILABLE, "audit log unavailable", NULL, &out->len);
    (void)snprintf(out->log_msg, sizeof out->log_msg,
                   "audit subject %s unreachable (NATS not connected): not executed",
                   a->cfg->audit_subject);
    atomic_fetch_add(&a->refused, 1);
}

/* Hands one event to the connection (nats.c buffers it, and keeps it across
 * a reconnect in its reconnect buffer). */
static void publish(auditpub *a, const char *event, size_t len)
{
    natsConnection *nc = a->audit_nc != NULL ? a->audit_nc : a->nc;
    natsStatus st = natsConnection_Publish(nc, a->cfg->audit_subject, event, (int)len);
    if (st == NATS_OK) {
        atomic_fetch_add(&a->published, 1);
        return;
    }
    uint64_t n = atomic_fetch_add(&a->failed, 1) + 1;
    /* One line per failure would flood the log exactly when NATS is down. */
    if (n == 1 || n % 1000 == 0)
        log_error("audit: event to %s not published: %s (%llu so far)", a->cfg->audit_subject,
                  natsStatus_GetText(st), (unsigned long long)n);
}

void auditpub_emit(auditpub *a, int64_t time_ms, const char *subject, const ops_reply *r,
                   int64_t latency_us)
{
    audit_event ev = {
        .time_ms = time_ms,
        .instance = a->instance,
        .subject = subject,
        .op = r->op,
        .outcome = r->code,
        .latency_us = latency_us,
        .key_hash = r->key_hash,
        .extra = r->audit_extra,
        .version = r->code == VC_OK ? r->version : 0,
        .token_hash = r->token_hash,
    };
    size_t len = 0;
    char *event;

    if (!a->on)
        return;
    event = audit_event_json(&ev, &len);
    if (event == NULL) {
        atomic_fetch_add(&a->failed, 1);
        log_error("audit: out of memory building an event");
        return;
    }
    if (required(a)) {
        publish(a, event, len);
        free(event);
        return;
    }
    if (!audit_queue_push(a->q, event, len)) {
        uint64_t n = audit_queue_dropped(a->q);
        if (n == 1 || n % 1000 == 0)
            log_warn("audit: queue of %zu events full: event dropped (%llu so far)",
                     a->cfg->audit_buffer, (unsigned long long)n);
    }
}

/* best_effort: the one thread that publishes queued events, on audit_nc.
 * The queue hands it events in bursts (see audit_queue_pop), and nats.c's
 * flusher writes each burst in one go: neither paid off alone (measured),
 * together they do. */
static void *publisher_main(void *arg)
{
    auditpub *a = arg;
    char *event;
    size_t len;

    while (audit_queue_pop(a->q, &event, &len)) {
        publish(a, event, len);
        free(event);
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

json_t *auditpub_status(auditpub *a)
{
    json_t *o;
    uint64_t dropped;

    if (a == NULL || (o = json_object()) == NULL)
        return NULL;
    dropped = atomic_load(&a->failed);
    if (a->q != NULL)
        dropped += audit_queue_dropped(a->q);
    json_object_set_new(o, "subject", json_string(a->on ? a->cfg->audit_subject : ""));
    json_object_set_new(o, "mode",
                        json_string(!a->on        ? "off"
                                    : required(a) ? "required"
                                                  : "best_effort"));
    json_object_set_new(o, "published", json_integer((json_int_t)atomic_load(&a->published)));
    json_object_set_new(o, "dropped", json_integer((json_int_t)dropped));
    json_object_set_new(o, "refused", json_integer((json_int_t)atomic_load(&a->refused)));
    if (a->q != NULL)
        json_object_set_new(o, "queued", json_integer((json_int_t)audit_queue_length(a->q)));
    return o;
}

/* urls (nats.url: one or more, comma-separated) without their userinfo
 * ("nats://vault:pw@host:4222" -> "nats://host:4222"), malloc'd; NULL when
 * out of memory. nats.c logs in with a URL's user:password@ or token@
 * before the options' login, so the audit connection would otherwise log in
 * as the service's user whenever nats.url carries it: every event refused
 * by the server (a publish violation, an error line in both logs, per
 * request) and none delivered. */
static char *urls_without_userinfo(const char *urls)
{
    size_t n = strlen(urls);
    char *out = malloc(n + 1), *o = out;
    const char *p = urls;

    if (out == NULL)
        return NULL;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *host = p, *end = p + len;
        const char *scheme = strstr(p, "://");
        if (scheme != NULL && scheme < end)
            host = scheme + 3;
        /* the authority ends at the first '/' after the scheme */
        const char *auth_end = host;
        while (auth_end < end && *auth_end != '/')
            auth_end++;
        const char *at = NULL;
        for (const char *q = host; q < auth_end; q++)
            if (*q == '@')
                at = q; /* the last '@': a password may hold one */
        memcpy(o, p, (size_t)(host - p));
        o += host - p;
        const char *rest = at != NULL ? at + 1 : host;
        memcpy(o, rest, (size_t)(end - rest));
        o += end - rest;
        p = end;
        if (*p == ',')
            *o++ = *p++;
    }
    *o = '\0';
    return out;
}

static void on_audit_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    log_info("nats: audit events have their own connection");
}

/* The audit connection of its own (see audit_nc): best_effort's, and
 * required mode's when audit.nats.* gives events their own login (then with
 * SendAsap, so an event is written before the reply that follows it). It
 * uses no callback that needs the publisher (every closure is NULL), so it
 * can be closed and destroyed without waiting for nats.c's callbacks.
 * Without an audit login a failure only costs speed: the events then share
 * nc; with one, the service's user may not publish there, so it is an error
 * (false). */
static bool connect_own(auditpub *a)
{
    const config *c = a->cfg;
    char name[256];
    natsOptions *o = NULL;
    vc_err err;
    natsStatus st;

    (void)snprintf(name, sizeof name, "%s-audit", c->nats_name ? c->nats_name : "vaultctl");
    natsconn_params p = natsconn_audit_params_of(c, name);
    bool own_login = natsconn_audit_has_login(c);
    char *servers = NULL;
    if (own_login && p.servers != NULL) {
        /* audit.nats's login, not the one nats.url may carry */
        if ((servers = urls_without_userinfo(p.servers)) == NULL) {
            log_warn("audit: no connection of its own (out of memory)");
            return false;
        }
        p.servers = servers;
    }
    vc_code orc = natsconn_options(&o, &p, &err);
    free(servers);
    if (orc != VC_OK) {
        log_warn("audit: no connection of its own (%s)%s", err.msg,
                 own_login ? "" : ": events share the service's");
        return !own_login;
    }
    st = natsconn_keep_connecting(o, on_audit_connected, NULL);
    if (st == NATS_OK && required(a))
        st = natsOptions_SetSendAsap(o, true);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(o, natsconn_log_error, NULL);
    if (st == NATS_OK) {
        st = natsConnection_Connect(&a->audit_nc, o);
        if (st == NATS_OK)
            on_audit_connected(a->audit_nc, NULL);
        else if (st == NATS_NOT_YET_CONNECTED) /* on_audit_connected later */
            st = NATS_OK;
    }
    natsOptions_Destroy(o);
    if (st != NATS_OK) {
        natsConnection_Destroy(a->audit_nc);
        a->audit_nc = NULL;
        log_warn("audit: no connection of its own (%s)%s", natsStatus_GetText(st),
                 own_login ? "" : ": events share the service's");
        return !own_login;
    }
    if (own_login)
        log_info("audit: events go out as their own NATS user (audit.nats)");
    return true;
}

vc_code auditpub_start(auditpub **out, const config *cfg, natsConnection *nc, const char *instance,
                       vc_err *err)
{
    auditpub *a = calloc(1, sizeof *a);

    *out = NULL;
    if (a == NULL || (a->instance = strdup(instance)) == NULL) {
        free(a);
        return vc_errf(err, VC_INTERNAL, "out of memory");
    }
    a->cfg = cfg;
    a->nc = nc;
    a->on = cfg->audit_subject != NULL && cfg->audit_subject[0] != '\0';
    if (!a->on) {
        log_info("audit: off (audit.subject is empty)");
        *out = a;
        return VC_OK;
    }
    if (cfg->audit_mode == AUDIT_BEST_EFFORT) {
        a->q = audit_queue_create(cfg->audit_buffer);
        if (a->q == NULL) {
            auditpub_stop(a);
            return vc_errf(err, VC_INTERNAL, "out of memory for the audit queue");
        }
        if (!connect_own(a)) {
            auditpub_stop(a);
            return vc_errf(err, VC_CONFIG, "audit.nats: cannot set up the audit connection");
        }
        if (pthread_create(&a->thread, NULL, publisher_main, a) != 0) {
            auditpub_stop(a);
            return vc_errf(err, VC_INTERNAL, "cannot start the audit thread");
        }
        a->thread_started = true;
    }
    if (cfg->audit_mode == AUDIT_REQUIRED && natsconn_audit_has_login(cfg) && !connect_own(a)) {
        auditpub_stop(a);
        return vc_errf(err, VC_CONFIG, "audit.nats: cannot set up the audit connection");
    }
    log_info("audit: events on %s, mode %s", cfg->audit_subject,
             cfg->audit_mode == AUDIT_REQUIRED ? "required" : "best_effort");
    *out = a;
    return VC_OK;
}

void auditpub_stop(auditpub *a)
{
    if (a == NULL)
        return;
    /* The thread publishes what is queued, then sees the queue closed. */
    if (a->q != NULL)
        audit_queue_close(a->q);
    if (a->thread_started)
        pthread_join(a->thread, NULL);
    if (a->audit_nc != NULL) {
        /* Disconnected, a flush could only wait for its timeout. */
        if (natsConnection_Status(a->audit_nc) == NATS_CONN_STATUS_CONNECTED)
            (void)natsConnection_FlushTimeout(a->audit_nc, 5000);
        natsConnection_Close(a->audit_nc);
        natsConnection_Destroy(a->audit_nc);
    }
    audit_queue_free(a->q);
    free(a->instance);
    free(a);
}
