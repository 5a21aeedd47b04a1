/* auditpub.h - the service's audit publisher: gets the event of every
 * handled request (audit.h builds it) onto audit.subject, in the mode
 * audit.mode asks for.
 *
 *   off          audit.subject is "": nothing is published.
 *   best_effort  auditpub_emit queues the event (audit_queue, audit.buffer
 *                entries) and returns; one publisher thread hands the events,
 *                in bursts, to a NATS connection of its own named
 *                "<nats.name>-audit" (same servers and credentials, or the
 *                audit.nats.* login when set; no SendAsap: nats.c's flusher
 *                writes a burst in one go). If that connection cannot be set
 *                up, the events go on the service's (with an audit.nats.*
 *                login: the service does not start).
 *   required     auditpub_emit publishes the event itself, on the service's
 *                connection (or, with an audit.nats.* login, on the audit
 *                connection, with SendAsap), before the caller publishes the
 *                reply; and the caller asks auditpub_refuses (is that
 *                connection up?) before executing a request.
 *
 * What each mode guarantees is in audit.h. Used by the service module (service*.c) only; the
 * functions but start and stop are thread-safe.
 */
#ifndef VAULTCTL_AUDITPUB_H
#define VAULTCTL_AUDITPUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <nats/nats.h>

#include "config.h"
#include "err.h"
#include "ops.h"

typedef struct auditpub auditpub;

/* Sets the publisher up as cfg says (it logs which mode). nc is the
 * service's connection: required mode publishes on it and gates on its
 * status, best_effort falls back to it. instance is the service instance id
 * put in every event (copied). cfg and nc are borrowed and must outlive the
 * publisher. On failure *out is NULL and nothing is left running. */
vc_code auditpub_start(auditpub **out, const config *cfg, natsConnection *nc, const char *instance,
                       vc_err *err);

/* Publishes what is still queued, closes the audit connection and frees.
 * Call it once no auditpub_emit can come any more. NULL is fine. */
void auditpub_stop(auditpub *a);

/* Whether a request must not be executed now: required mode and the
 * connection is not up, so its event could not be handed over. */
bool auditpub_refuses(auditpub *a);

/* The reply to a request that auditpub_refuses: unavailable ("audit log
 * unavailable"), nothing executed, nothing echoed (not even the id). The
 * operation and key hash are read from payload with ctx's limits, without
 * executing anything, so the refusal's own event says what was refused.
 * *out is freed with ops_reply_free. Counted as "refused" in the status. */
void auditpub_refusal(auditpub *a, const ops_ctx *ctx, const uint8_t *payload, size_t len,
                      ops_reply *out);

/* The event of a handled request: arrived at time_ms (unix milliseconds) on
 * subject, answered with r after latency_us. required: published before it
 * returns; best_effort: queued (dropped and counted when the queue is
 * full). Does nothing when audit is off. */
void auditpub_emit(auditpub *a, int64_t time_ms, const char *subject, const ops_reply *r,
                   int64_t latency_us);

/* The "audit" member of a status reply: {"subject","mode","published",
 * "dropped","refused"[,"queued"]}. published = handed to the connection;
 * dropped = never handed to it (queue full or publish error); refused =
 * requests not executed in required mode because the connection was down;
 * queued (best_effort) = waiting for the publisher thread. NULL if out of
 * memory. */
json_t *auditpub_status(auditpub *a);

#endif
