/* client.c - one NATS request (see client.h). */
#include "client.h"

#include <nats/nats.h>
#include <stdlib.h>
#include <string.h>

vc_code client_request(const client_opts *o, const char *subject, const char *payload, size_t len,
                       char **reply, size_t *reply_len, vc_err *err)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsMsg *resp = NULL;
    int64_t timeout = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    vc_code rc = VC_OK;
    natsStatus st;
    natsconn_params conn = o->conn;

    *reply = NULL;
    if (conn.servers == NULL)
        conn.servers = "nats://127.0.0.1:4222";
    if (conn.name == NULL)
        conn.name = "vaultctl-request";
    char prefix[160];
    if (conn.inbox_prefix == NULL && conn.user != NULL) {
        /* Only subject-safe characters of the user name. */
        size_t n = (size_t)snprintf(prefix, sizeof prefix, "_INBOX.");
        for (const char *u = conn.user; *u != '\0' && n + 1 < sizeof prefix; u++)
            prefix[n++] =
                (*u > ' ' && *u != '.' && *u != '*' && *u != '>' && *u != 0x7f) ? *u : '_';
        prefix[n] = '\0';
        conn.inbox_prefix = prefix;
    }
    rc = natsconn_options(&opts, &conn, err);
    if (rc != VC_OK)
        return rc;
    st = natsOptions_SetTimeout(opts, timeout);
    if (st != NATS_OK) {
        rc = vc_errf(err, VC_CONFIG, "bad timeout: %s", natsStatus_GetText(st));
        goto done;
    }
    st = natsconn_connect(&nc, opts);
    if (st != NATS_OK) {
        rc = vc_errf(err, VC_UNAVAILABLE, "cannot connect to %s: %s", conn.servers,
                     natsStatus_GetText(st));
        goto done;
    }
    st = natsConnection_Request(&resp, nc, subject, payload, (int)len, timeout);
    if (st == NATS_NO_RESPONDERS) {
        rc = vc_errf(err, VC_UNAVAILABLE, "no responders on %s", subject);
    } else if (st == NATS_TIMEOUT) {
        /* A publish the NATS server's permissions forbid is dropped by the
         * server: the request then times out (the server logs the refusal). */
        rc =
            vc_errf(err, VC_UNAVAILABLE,
                    "no reply on %s within %lld ms (not permitted to publish there, or no service)",
                    subject, (long long)timeout);
    } else if (st != NATS_OK) {
        rc = vc_errf(err, VC_UNAVAILABLE, "request on %s failed: %s", subject,
                     natsStatus_GetText(st));
    } else {
        int n = natsMsg_GetDataLength(resp);
        *reply = malloc((size_t)n + 1);
        if (*reply == NULL) {
            rc = vc_errf(err, VC_INTERNAL, "out of memory");
        } else {
            memcpy(*reply, natsMsg_GetData(resp), (size_t)n);
            (*reply)[n] = '\0';
            *reply_len = (size_t)n;
        }
    }
done:
    natsMsg_Destroy(resp);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return rc;
}
