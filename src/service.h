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
 * the audit events, and closes the connection; frees the service once
 * nats.c's closed callback has run (which uses it), however late that is:
 * a warning is logged every 5 s while it waits. NULL is fine. */
void service_stop(service *s);

/* Whether the connection to NATS is up right now. */
bool service_connected(service *s);

/* For tests only (tests/unit/test_service_stop.c): from now on the
 * connection's closed callback first sleeps ms milliseconds, as if nats.c
 * delivered it late; 0 (the default) turns that off. Never called by the
 * program itself. */
void service_test_delay_closed(int ms);

#endif
