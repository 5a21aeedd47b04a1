/* fwd.h - writes that reach a standby instance (storage.backend jetstream)
 * go to the instance holding the write lease.
 *
 * The standby admits a request as usual (size, parse, ACL); if it writes
 * (ops_is_write) and this instance may not write (vault_is_active), it
 * sends the whole original request -- payload, headers (Nats-Request-Info
 * included) and, in the header Vaultctl-Arrival, the subject it arrived on
 * -- to the active instance's own subject _VAULTCTL.<bucket>.write.<instance>
 * (store_forward_subject), and relays the reply. The active handles it as if
 * it had arrived on that subject (its ACL decides again) and never forwards
 * it further. Only the vault's own NATS user may publish or subscribe under
 * _VAULTCTL. (see examples/nats-server.conf), so the header can be trusted.
 *
 * Asynchronous: a worker hands the request over and goes on; the reply (or
 * the timeout) completes it on nats.c's delivery thread (or fwd's timer).
 */
#ifndef VAULTCTL_FWD_H
#define VAULTCTL_FWD_H

#include <nats/nats.h>
#include <stdbool.h>

#include "err.h"
#include "vault.h"

/* Reply inboxes of the vault's connections when storage.backend is
 * jetstream: under _VAULTCTL., which only the vault user may subscribe to. */
#define FWD_INBOX_PREFIX "_VAULTCTL._INBOX"

/* The header carrying the original arrival subject. */
#define FWD_ARRIVAL_HEADER "Vaultctl-Arrival"

/* The header carrying the original reply subject: whether a
 * Nats-Request-Info header counts depends on it (identity.h). */
#define FWD_REPLY_HEADER "Vaultctl-Reply"

/* How long the active instance has to answer a forwarded write. */
#define FWD_TIMEOUT_MS 5000

typedef struct fwd fwd;

typedef enum {
    FWD_REPLY,     /* the active instance answered: body, len, code */
    FWD_NO_ACTIVE, /* nobody listens there (the holder is gone): never run */
    FWD_TIMEOUT,   /* no answer in time: the write's outcome is unknown */
} fwd_outcome;

/* Completion of fwd_send, called exactly once. body (len bytes, valid
 * during the call) is the reply for FWD_REPLY, code its error code (VC_OK
 * for a success). */
typedef void (*fwd_done_fn)(void *arg, fwd_outcome o, const char *body, size_t len, vc_code code);

/* Starts forwarding for vault v over nc when its store forwards
 * (jetstream): subscribes handler to this instance's forward subject and
 * sets up the reply inbox. *out stays NULL (VC_OK) for lmdb. */
vc_code fwd_start(fwd **out, natsConnection *nc, vault *v, natsMsgHandler handler, void *closure,
                  vc_err *err);

/* Stops taking forwarded writes (call first when stopping). */
void fwd_unsubscribe(fwd *f);

/* Fails what is still pending (FWD_TIMEOUT) and frees; NULL is fine. */
void fwd_free(fwd *f);

/* The arrival subject of a forwarded message m, or NULL. */
const char *fwd_arrival(natsMsg *m);

/* The original reply subject of a forwarded message m, or NULL. */
const char *fwd_reply(natsMsg *m);

/* Sends orig to the active instance; done(arg, ...) follows. false (done
 * never called) when no other instance holds the lease or the send failed:
 * the caller handles the request itself. */
bool fwd_send(fwd *f, natsMsg *orig, fwd_done_fn done, void *arg);

#endif
