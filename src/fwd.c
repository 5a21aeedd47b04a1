/* fwd.c - forwarding writes from a standby to the active instance (see
 * fwd.h). */
#include "fwd.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"

#define FWD_TIMEOUT_MS 15000 /* a write's own timeouts are shorter */

vc_code fwd_subscribe(natsSubscription **out, natsConnection *nc, vault *v, natsMsgHandler cb,
                      void *closure, vc_err *err)
{
    char subj[256];
    natsStatus st;

    *out = NULL;
    if (!vault_forward_subject(v, true, subj, sizeof subj))
        return VC_OK;
    st = natsConnection_Subscribe(out, nc, subj, cb, closure);
    if (st != NATS_OK)
        return vc_errf(err, VC_CONFIG, "subscribe to %s: %s", subj, natsStatus_GetText(st));
    log_info("forwarded writes arrive on %s", subj);
    return VC_OK;
}

const char *fwd_arrival(natsMsg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, FWD_ARRIVAL_HEADER, &v) != NATS_OK)
        return NULL;
    return v;
}

/* orig's headers (all values of each) onto fm. */
static natsStatus copy_headers(natsMsg *orig, natsMsg *fm)
{
    const char **keys = NULL;
    int n = 0;
    natsStatus st = natsMsgHeader_Keys(orig, &keys, &n);

    if (st == NATS_NOT_FOUND)
        return NATS_OK; /* no headers */
    for (int i = 0; st == NATS_OK && i < n; i++) {
        const char **vals = NULL;
        int nv = 0;
        if (strcmp(keys[i], FWD_ARRIVAL_HEADER) == 0)
            continue;
        st = natsMsgHeader_Values(orig, keys[i], &vals, &nv);
        for (int k = 0; st == NATS_OK && k < nv; k++)
            st = natsMsgHeader_Add(fm, keys[i], vals[k]);
        free((void *)vals);
    }
    free((void *)keys);
    return st;
}

/* The code of an error reply, from its Nats-Service-Error-Code header. */
static vc_code reply_code(natsMsg *r)
{
    const char *num = NULL;
    int n;

    if (natsMsgHeader_Get(r, "Nats-Service-Error-Code", &num) != NATS_OK || num == NULL)
        return VC_OK;
    n = atoi(num);
    for (int c = (int)VC_BAD_REQUEST; c <= (int)VC_CONFIG; c++)
        if (vc_code_number((vc_code)c) == n)
            return (vc_code)c;
    return VC_INTERNAL;
}

bool fwd_send(natsConnection *nc, vault *v, natsMsg *orig, ops_reply *out)
{
    char target[256];
    natsMsg *fm = NULL, *reply = NULL;
    const char *data;
    char *body;
    int len;
    natsStatus st;

    if (!vault_forward_subject(v, false, target, sizeof target))
        return false;
    st = natsMsg_Create(&fm, target, NULL, natsMsg_GetData(orig), natsMsg_GetDataLength(orig));
    if (st == NATS_OK)
        st = copy_headers(orig, fm);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(fm, FWD_ARRIVAL_HEADER, natsMsg_GetSubject(orig));
    if (st == NATS_OK)
        st = natsConnection_RequestMsg(&reply, nc, fm, FWD_TIMEOUT_MS);
    natsMsg_Destroy(fm);
    if (st != NATS_OK) {
        log_warn("forward to the active instance (%s) failed: %s", target,
                 natsStatus_GetText(st));
        return false;
    }
    data = natsMsg_GetData(reply);
    len = natsMsg_GetDataLength(reply);
    body = malloc((size_t)len + 1);
    if (body == NULL) {
        natsMsg_Destroy(reply);
        return false;
    }
    memcpy(body, data, (size_t)len);
    body[len] = '\0';
    sodium_memzero((void *)data, (size_t)len); /* a token issue's reply holds the token */
    ops_reply_free(out);
    out->body = body;
    out->len = (size_t)len;
    out->code = reply_code(reply);
    (void)snprintf(out->log_msg, sizeof out->log_msg, "forwarded to the active instance");
    natsMsg_Destroy(reply);
    return true;
}
