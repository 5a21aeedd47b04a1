/* reqgate.h - which arriving messages the service acts on at all.
 *
 * Before a request is queued: its subject and reply subject must be clean
 * (their true lengths known, no NUL, control byte, space or invalid UTF-8:
 * natsmsg.h), the reply subject must be one the service may publish to
 * (reqgate_reply_ok), and it must not be the service's own output (the reply
 * or audit subject). Anything else is dropped unanswered and never
 * executed: counted (status "dropped") and logged with its subjects escaped,
 * at most REQGATE_LOG_PER_S lines a second so a flood does not flood the
 * log. Thread-safe. */
#ifndef VAULTCTL_REQGATE_H
#define VAULTCTL_REQGATE_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define REQGATE_LOG_PER_S 10

typedef struct reqgate reqgate;

/* A gate for cfg (borrowed: must outlive the gate); NULL when out of memory. */
reqgate *reqgate_create(const config *cfg);
void reqgate_free(reqgate *g);

/* Whether the service may publish a reply on reply (a clean subject): it
 * starts with one of subjects.reply_prefixes and is none of the service's
 * own subjects: no request or ACL subject (a reply there would be read as
 * a request), not subjects.reply or the audit subject (a requester could
 * put a secret, or a forged event, where others read them), nothing under
 * $SRV. With allow_responses, nats-server lets the vault user publish on any
 * reply subject a requester names; this is where that stops. */
bool reqgate_reply_ok(const reqgate *g, const char *reply);

/* Whether the request msg may be acted on; if so *slen and *rlen are the
 * true lengths of its subject and reply subject (0: none). false: dropped
 * (counted and logged unless it was the service's own output); the caller
 * destroys msg either way. */
bool reqgate_admit(reqgate *g, natsMsg *msg, size_t *slen, size_t *rlen);

/* For a service API ($SRV) request with a reply subject: whether that reply
 * is clean and allowed; false is counted and logged as a dropped reply. */
bool reqgate_srv_reply_ok(reqgate *g, natsMsg *msg);

/* {"bad_subject": n, "bad_reply": n} for status; NULL when out of memory. */
json_t *reqgate_status(const reqgate *g);

#endif
