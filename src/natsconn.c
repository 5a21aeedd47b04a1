/* natsconn.c - natsOptions from connection settings (see natsconn.h). */
#include "natsconn.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secretfile.h"

/* natsOptions_SetURL takes one URL; a list needs natsOptions_SetServers. */
static natsStatus set_servers(natsOptions *o, const char *urls)
{
    char *copy = strdup(urls);
    const char *list[64];
    int n = 0;
    natsStatus st;

    if (copy == NULL)
        return NATS_NO_MEMORY;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL && n < 64;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok != '\0')
            list[n++] = tok;
    }
    st = n > 0 ? natsOptions_SetServers(o, list, n) : NATS_INVALID_ARG;
    free(copy);
    return st;
}

vc_code natsconn_options(natsOptions **out, const natsconn_params *p, vc_err *err)
{
    natsOptions *o = NULL;
    const char *what = "nats";
    vc_err e;

    /* nats.c reads these two itself: the secret-file rule on type, owner
     * and mode first (secretfile.h). */
    if (p->creds != NULL && secretfile_check(p->creds, &e) != VC_OK)
        return vc_errf(err, VC_CONFIG, "nats.creds %s", e.msg);
    if (p->tls_key != NULL && secretfile_check(p->tls_key, &e) != VC_OK)
        return vc_errf(err, VC_CONFIG, "nats.tls.key %s", e.msg);

    natsStatus st = natsOptions_Create(&o);

    if (st == NATS_OK) {
        what = "nats.url";
        st = set_servers(o, p->servers ? p->servers : "nats://127.0.0.1:4222");
    }
    if (st == NATS_OK && p->name != NULL)
        st = natsOptions_SetName(o, p->name);
    if (st == NATS_OK && p->inbox_prefix != NULL && p->inbox_prefix[0] != '\0') {
        what = "inbox prefix";
        st = natsOptions_SetCustomInboxPrefix(o, p->inbox_prefix);
    }
    if (st == NATS_OK && p->user != NULL) {
        what = "nats.user";
        st = natsOptions_SetUserInfo(o, p->user, p->pass);
    }
    if (st == NATS_OK && p->token != NULL) {
        what = "nats.token";
        st = natsOptions_SetToken(o, p->token);
    }
    if (st == NATS_OK && p->creds != NULL) {
        what = "nats.creds";
        st = natsOptions_SetUserCredentialsFromFiles(o, p->creds, NULL);
    }
    if (st == NATS_OK && (p->tls_ca != NULL || p->tls_cert != NULL)) {
        what = "nats.tls";
        st = natsOptions_SetSecure(o, true);
        if (st == NATS_OK && p->tls_ca != NULL) {
            what = "nats.tls.ca";
            st = natsOptions_LoadCATrustedCertificates(o, p->tls_ca);
        }
        if (st == NATS_OK && p->tls_cert != NULL) {
            what = "nats.tls.cert";
            st = natsOptions_LoadCertificatesChain(o, p->tls_cert, p->tls_key);
        }
    }
    if (st != NATS_OK) {
        const char *detail = nats_GetLastError(NULL);
        natsOptions_Destroy(o);
        return vc_errf(err, VC_CONFIG, "%s: %s%s%s", what, natsStatus_GetText(st),
                       detail && *detail ? ": " : "", detail ? detail : "");
    }
    *out = o;
    return VC_OK;
}

natsconn_params natsconn_params_of(const config *c, const char *name)
{
    natsconn_params p = {
        .servers = c->nats_url,
        .user = c->nats_user,
        .pass = c->nats_pass,
        .token = c->nats_token,
        .creds = c->nats_creds,
        .tls_ca = c->nats_tls_ca,
        .tls_cert = c->nats_tls_cert,
        .tls_key = c->nats_tls_key,
        .name = name,
    };
    return p;
}

natsconn_params natsconn_audit_params_of(const config *c, const char *name)
{
    natsconn_params p = natsconn_params_of(c, name);
    if (natsconn_audit_has_login(c)) {
        p.user = c->audit_nats_user;
        p.pass = c->audit_nats_pass;
        p.token = c->audit_nats_token;
        p.creds = c->audit_nats_creds;
    }
    return p;
}

bool natsconn_audit_has_login(const config *c)
{
    return c->audit_nats_user != NULL || c->audit_nats_token != NULL || c->audit_nats_creds != NULL;
}

/* Back-off between reconnect attempts: 100 ms doubling up to 5 s. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
    (void)nc;
    (void)closure;
    int64_t ms = 100;
    for (int i = 1; i < attempts && ms < 5000; i++)
        ms *= 2;
    return ms < 5000 ? ms : 5000;
}

natsStatus natsconn_keep_connecting(natsOptions *o, natsConnectionHandler connected, void *closure)
{
    natsStatus st = natsOptions_SetMaxReconnect(o, -1);
    if (st == NATS_OK)
        st = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, NULL);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
    if (st == NATS_OK)
        st = natsOptions_SetRetryOnFailedConnect(o, true, connected, closure);
    return st;
}

void natsconn_log_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)closure;
    /* sub is not touched: nats.c 3.4.1 can hand over a subscription its
     * owner has already destroyed (the jetstream backend's ordered consumer,
     * destroyed after a timeout while a heartbeat error for it was queued),
     * and reading its subject then crashed vaultctl (a use after free). */
    (void)sub;
    log_error("nats: %s", natsStatus_GetText(err));
}
