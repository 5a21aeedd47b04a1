/* natsconn.h - natsOptions from connection settings, shared by the service
 * and the `request` client so both connect the same way. */
#ifndef VAULTCTL_NATSCONN_H
#define VAULTCTL_NATSCONN_H

#include <nats/nats.h>

#include "err.h"

typedef struct {
    const char *servers; /* one URL or a comma-separated list */
    const char *user, *pass;
    const char *token;
    const char *creds; /* .creds file (JWT + NKey seed) */
    const char *tls_ca, *tls_cert, *tls_key;
    const char *name;         /* connection name shown by the server */
    const char *inbox_prefix; /* reply inboxes under this prefix (NULL: "_INBOX") */
} natsconn_params;

/* New options with servers, auth and TLS set; *out owned by the caller
 * (natsOptions_Destroy). VC_CONFIG naming the setting on failure. */
vc_code natsconn_options(natsOptions **out, const natsconn_params *p, vc_err *err);

#endif
