/* client.h - `vaultctl request`: one request over NATS, for humans and
 * scripts. */
#ifndef VAULTCTL_CLIENT_H
#define VAULTCTL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#include "natsconn.h"

/* Reply inboxes: conn.inbox_prefix if set, else "_INBOX.<user>" when a
 * user is given (so a server can let each user subscribe to its own
 * inboxes only, e.g. allow _INBOX.agent.>), else "_INBOX". */
typedef struct {
    natsconn_params conn; /* servers default nats://127.0.0.1:4222 */
    int64_t timeout_ms;   /* default 5000 */
} client_opts;

/* Sends payload to subject as a request and waits for the reply: *reply is
 * the malloc'd reply body (caller frees). VC_UNAVAILABLE when no server or
 * responder answers in time (message says which), VC_CONFIG for bad options. */
vc_code client_request(const client_opts *o, const char *subject, const char *payload, size_t len,
                       char **reply, size_t *reply_len, vc_err *err);

#endif
