/* service.h - `vaultctl serve`: the NATS side of vaultctl.
 *
 * The only module (with client.c for the `request` command) that includes
 * nats.h. Connects as configured, subscribes in queue group "vaultctl" to
 * subjects.request and every ACL subject, hands each message to a pool of
 * worker threads that run ops_handle and publish the reply, and answers the
 * NATS service API ($SRV.*) through discovery.c.
 */
#ifndef VAULTCTL_SERVICE_H
#define VAULTCTL_SERVICE_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "ops.h"

typedef struct service service;

/* Connects (retrying in the background if the server is not up yet),
 * subscribes and starts the workers. cfg and ctx are borrowed and must
 * outlive the service. */
vc_code service_start(service **out, const config *cfg, const ops_ctx *ctx, vc_err *err);

/* Stops taking requests, finishes those in flight, flushes the replies and
 * closes the connection; frees the service. NULL is fine. */
void service_stop(service *s);

/* Whether the connection to NATS is up right now. */
bool service_connected(service *s);

#endif
