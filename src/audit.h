/* audit.h - audit events for swarm-logger: one event per request.
 *
 * Pure: event building and a bounded queue, no NATS (auditpub.c publishes).
 *
 * An event is one line of compact JSON, fields in this order:
 *
 *   {"type":"vaultctl.audit.v1","time":"2026-11-28T13:16:47.123Z",
 *    "instance":"<service instance id>","subject":"admin.requests",
 *    "operation":"get","outcome":"success","latency_us":153,
 *    "key_hmac":"hmac-sha256:<64 hex>","version":3}
 *
 *   time       the request's arrival, RFC 3339 UTC with milliseconds
 *   subject    the subject the request arrived on (its identity, see ACL),
 *              escaped as log lines escape it (log.h log_escape): printable
 *              ASCII but '\\' and '"' as it is, every other byte as the
 *              four characters \xNN (in the JSON text: "\\xNN")
 *   operation  get/set/delete/list/rotate/status, "unknown" when it could not
 *              be read
 *   outcome    "success" or the protocol error code sent ("not_found", ...)
 *   latency_us from arrival to the reply being ready, in microseconds
 *   key_hmac   only when the request named a key: HMAC-SHA-256 of the key
 *              name under the vault's audit key (vault_audit_hash), the way
 *              HashiCorp Vault hashes sensitive audit fields. The hex is the
 *              one `vaultctl audit-hash NAME` prints, so an operator can look
 *              a known name up without the log ever holding names.
 *   version    only on a successful set (the version written) or get (the
 *              version read)
 *
 * Never in an event: a value, a key name, a prefix or cursor of a list, the
 * request id (ids are caller data), the reply subject.
 *
 * Delivery modes (audit.mode), implemented by auditpub.c:
 *
 *   best_effort  Workers put events on an audit_queue of audit.buffer entries
 *                and never wait; one publisher thread hands them, in bursts,
 *                to a NATS connection of its own ("<nats.name>-audit", same
 *                server and credentials, buffered: an event reaches the bus
 *                within ~2 ms, possibly after the reply). When the queue is
 *                full the event is dropped and counted ("dropped" in status).
 *                Requests never wait for or fail because of the audit log.
 *
 *   required     Guarantees, for every request:
 *                1. It is executed only if, just before, the NATS connection
 *                   was up (natsConnection_Status CONNECTED). Otherwise it
 *                   is not executed and gets `unavailable` ("audit log
 *                   unavailable"); its event (outcome unavailable) is still
 *                   handed to the connection, which keeps it in its reconnect
 *                   buffer and sends it once reconnected, if it can.
 *                2. Its event is handed to the connection (natsConnection_
 *                   Publish returned) before its reply is.
 *                What it does not guarantee: nats.c publishing is buffered
 *                and NATS core has no acknowledgement, so an event handed over
 *                can still be lost if the connection breaks before the bytes
 *                reach the server (the reply is then usually lost with it),
 *                or if the server refuses the publish (a missing publish
 *                permission on the audit subject is reported to the log
 *                asynchronously, not to the request). A request executed
 *                while the loss of the connection is not yet noticed is
 *                answered normally. A publish error after execution cannot
 *                undo the operation: it is logged and counted as dropped,
 *                and the reply stands.
 *
 * audit.subject "" turns audit events off (both modes).
 */
#ifndef VAULTCTL_AUDIT_H
#define VAULTCTL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "operation.h"

#define AUDIT_EVENT_TYPE  "vaultctl.audit.v1"
#define AUDIT_HMAC_PREFIX "hmac-sha256:"

typedef struct {
    int64_t time_ms;      /* arrival, unix milliseconds */
    const char *instance; /* service instance id; NULL: omitted */
    const char *subject;  /* arrival subject; NULL: "" */
    vc_op op;             /* OP_NONE: "unknown" */
    vc_code outcome;      /* VC_OK: "success", else vc_code_name() */
    int64_t latency_us;
    const char *key_hash;   /* 64 hex digits; NULL or "": no key_hmac field */
    const char *extra;      /* NULL or "": nothing; else compact JSON members
                               added last (creds: ,"creds":{...} without the
                               comma), built by us, never caller text */
    uint64_t version;       /* 0: no version field */
    const char *token_hash; /* audit hash of the token's accessor (64 hex
                               digits); NULL or "": no token_hmac field */
} audit_event;

/* The event as malloc'd compact JSON (no trailing newline), *len its length;
 * the caller frees. NULL if out of memory. The subject is escaped (see
 * "subject" above), so any bytes give a valid event. */
char *audit_event_json(const audit_event *ev, size_t *len);

/* A bounded FIFO of events (malloc'd strings) between many producers and
 * one consumer; thread-safe. While events keep coming, the consumer takes
 * them in bursts about once a millisecond and producers never wake it; an
 * idle consumer sleeps until the next event. */
typedef struct audit_queue audit_queue;

/* A queue holding at most capacity events (0 is taken as 1). NULL if out of
 * memory. */
audit_queue *audit_queue_create(size_t capacity);

/* Frees the queue and any event still in it; NULL is fine. No thread may
 * use the queue any more. */
void audit_queue_free(audit_queue *q);

/* Appends event (malloc'd, len bytes) and takes ownership of it. Never
 * blocks: when the queue is full or closed the event is freed, the drop
 * counter goes up and false is returned. */
bool audit_queue_push(audit_queue *q, char *event, size_t len);

/* Takes the oldest event, waiting for one (after taking events, an empty
 * queue is first given ~1 ms to fill again); the caller owns *event. Returns
 * false (and *event NULL) only once the queue is closed and empty, so
 * events queued before audit_queue_close are still delivered. */
bool audit_queue_pop(audit_queue *q, char **event, size_t *len);

/* Refuses further pushes and wakes a waiting pop. */
void audit_queue_close(audit_queue *q);

/* Events dropped by audit_queue_push so far. */
uint64_t audit_queue_dropped(audit_queue *q);

/* Events in the queue right now. */
size_t audit_queue_length(audit_queue *q);

#endif
