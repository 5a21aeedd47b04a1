/* fwd.h - writes that reach a standby instance (storage.backend jetstream)
 * go to the instance holding the write lease.
 *
 * The standby admits a request as usual (size, parse, ACL); if it writes
 * (ops_is_write) and this instance may not write (vault_is_active), it
 * sends the whole original request -- payload, headers (Nats-Request-Info
 * included) and, in the header Vaultctl-Arrival, the subject it arrived on
 * -- as a NATS request to the active instance's own subject
 * _VAULTCTL.<bucket>.write.<instance> (store_forward_subject), and relays
 * the reply. The active handles it as if it had arrived on that subject
 * (its ACL decides again) and never forwards it further. Only the vault's
 * own NATS user may publish or subscribe under _VAULTCTL. (see
 * examples/nats-server.conf), so the header can be trusted.
 */
#ifndef VAULTCTL_FWD_H
#define VAULTCTL_FWD_H

#include <nats/nats.h>
#include <stdbool.h>

#include "ops.h"
#include "vault.h"

/* Reply inboxes of the vault's connections when storage.backend is
 * jetstream: under _VAULTCTL., which only the vault user may subscribe to. */
#define FWD_INBOX_PREFIX "_VAULTCTL._INBOX"

/* The header carrying the original arrival subject. */
#define FWD_ARRIVAL_HEADER "Vaultctl-Arrival"

/* Subscribes cb to this instance's forward subject; *out stays NULL (and
 * VC_OK) when the store does not forward (lmdb). */
vc_code fwd_subscribe(natsSubscription **out, natsConnection *nc, vault *v, natsMsgHandler cb,
                      void *closure, vc_err *err);

/* The arrival subject of a forwarded message m, or NULL. */
const char *fwd_arrival(natsMsg *m);

/* Sends orig to the active instance and fills out (body, len, code) with
 * its reply. false (out untouched) when there is no active instance to send
 * to or it did not answer in time: the caller then handles the request
 * itself (and fails it as unavailable). */
bool fwd_send(natsConnection *nc, vault *v, natsMsg *orig, ops_reply *out);

#endif
