/* natsconn.h - natsOptions from connection settings, shared by the service
 * and the `request` client so both connect the same way; and the service's
 * connection policy (retry for good, log errors), shared by its two
 * connections (the service's and auditpub.c's). */
#ifndef VAULTCTL_NATSCONN_H
#define VAULTCTL_NATSCONN_H

#include <nats/nats.h>
#include <stdbool.h>

#include "config.h"
#include "err.h"

typedef struct {
    const char *servers; /* one URL or a comma-separated list */
    const char *user, *pass;
    const char *token;
    const char *creds; /* .creds file (JWT + NKey seed); read on every
                          connect: must outlive the options */
    const char *tls_ca, *tls_cert, *tls_key;
    const char *name;         /* connection name shown by the server */
    const char *inbox_prefix; /* reply inboxes under this prefix (NULL: "_INBOX") */
} natsconn_params;

/* New options with servers, auth and TLS set; *out owned by the caller
 * (natsOptions_Destroy). VC_CONFIG naming the setting on failure. */
vc_code natsconn_options(natsOptions **out, const natsconn_params *p, vc_err *err);

/* natsConnection_Connect, tried again (up to five times) when an attempt
 * was refused because nats.c 3.4.1 would have sent a .creds connection
 * without its signature (natsconn.c): for connections without nats.c's own
 * retry. */
natsStatus natsconn_connect(natsConnection **nc, natsOptions *o);

/* Server, credentials and TLS of c's nats: section, for a connection named
 * name. The strings are borrowed from c and name. */
natsconn_params natsconn_params_of(const config *c, const char *name);

/* The audit connection's: as natsconn_params_of, but with the audit.nats.*
 * login when one is set (natsconn_audit_has_login), so audit events go out
 * as their own NATS user. */
natsconn_params natsconn_audit_params_of(const config *c, const char *name);
bool natsconn_audit_has_login(const config *c);

/* Retry the first connect and every reconnect for good, with back-off
 * (100 ms doubling up to 5 s), and keep what is published meanwhile (up to
 * 64 MiB); connected(nc, closure) runs when a first connect that had to be
 * retried succeeds. */
natsStatus natsconn_keep_connecting(natsOptions *o, natsConnectionHandler connected, void *closure);

/* natsErrHandler that logs the asynchronous error (log.h); closure unused. */
void natsconn_log_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure);

#endif
