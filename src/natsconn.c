/* natsconn.c - natsOptions from connection settings (see natsconn.h). */
#include "natsconn.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nkey.h"
#include "secretfile.h"

/* Marks the signature refusal below in nats.c's error text. */
#define SIG_ZERO_TEXT "nonce signature starts with a zero byte"

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

/* ---- .creds ---------------------------------------------------------------
 *
 * nats.c 3.4.1 (Debian's) base64-encodes the signature of the server's nonce
 * with a function that returns nothing when the first input byte is 0 (its
 * util.c _base64Encode tests src[0] == '\0'; fixed upstream after 3.4.1 by
 * nats.c PR #705). One connect in 256 then sends CONNECT without "sig";
 * nats-server logs "Signature missing" and answers "Authorization
 * Violation", which nats.c takes for bad credentials (the same error twice
 * closes the connection for good; the first connect of `serve` and its
 * audit connection were seen to end that way). So vaultctl gives nats.c the
 * JWT and the signature itself, read from the .creds file on every connect
 * as nats.c would, and refuses to hand over a signature whose first byte is
 * 0: that attempt then fails as an ordinary connect error, and the next one
 * (a new connection, a new nonce) goes through. Connections without
 * nats.c's retry use natsconn_connect, which tries again in that case. */

/* The line after the line holding marker in text (NUL-terminated), cut at
 * its end: [*start, *start + *len). false if absent. */
static bool creds_block(const char *text, const char *marker, const char **start, size_t *len)
{
    const char *m = strstr(text, marker);
    const char *nl = m != NULL ? strchr(m, '\n') : NULL;
    if (nl == NULL)
        return false;
    const char *b = nl + 1;
    while (*b == '\r' || *b == '\n' || *b == ' ')
        b++;
    size_t n = strcspn(b, "\r\n");
    while (n > 0 && b[n - 1] == ' ')
        n--;
    if (n == 0 || b[0] == '-')
        return false;
    *start = b;
    *len = n;
    return true;
}

/* Reads path's .creds text (secret file rule); NULL with *errtxt set. */
static char *creds_read(const char *path, char **errtxt)
{
    char *text = NULL;
    size_t len = 0;
    vc_err e;
    if (secretfile_read(path, SECRETFILE_MAX, &text, &len, NULL, &e) != VC_OK) {
        *errtxt = strdup(e.msg);
        return NULL;
    }
    return text;
}

static natsStatus creds_jwt_cb(char **jwt, char **errtxt, void *closure)
{
    const char *b;
    size_t n;
    char *text = creds_read(closure, errtxt);
    if (text == NULL)
        return NATS_ERR;
    natsStatus st = NATS_OK;
    if (!creds_block(text, "BEGIN NATS USER JWT", &b, &n)) {
        *errtxt = strdup("no user JWT in the .creds file");
        st = NATS_ERR;
    } else if ((*jwt = strndup(b, n)) == NULL) {
        st = NATS_NO_MEMORY;
    }
    secretfile_free(text);
    return st;
}

static natsStatus creds_sig_cb(char **errtxt, unsigned char **sig, int *siglen, const char *nonce,
                               void *closure)
{
    const char *b;
    size_t n;
    nkey *k = NULL;
    vc_err e;
    char *text = creds_read(closure, errtxt);
    if (text == NULL)
        return NATS_ERR;
    natsStatus st = NATS_OK;
    if (!creds_block(text, "BEGIN USER NKEY SEED", &b, &n) ||
        nkey_from_seed(&k, b, n, &e) != VC_OK) {
        *errtxt = strdup("no valid user seed in the .creds file");
        st = NATS_ERR;
    }
    secretfile_free(text);
    if (st != NATS_OK)
        return st;
    uint8_t raw[NKEY_SIG_LEN];
    nkey_sign(k, (const uint8_t *)(nonce != NULL ? nonce : ""), nonce != NULL ? strlen(nonce) : 0,
              raw);
    nkey_free(k);
    if (raw[0] == 0) { /* nats.c 3.4.1 would send no signature: see above */
        *errtxt = strdup(SIG_ZERO_TEXT " (nats.c 3.4.1 would drop it): trying again");
        return NATS_ERR;
    }
    if ((*sig = malloc(NKEY_SIG_LEN)) == NULL)
        return NATS_NO_MEMORY;
    memcpy(*sig, raw, NKEY_SIG_LEN);
    *siglen = NKEY_SIG_LEN;
    return NATS_OK;
}

natsStatus natsconn_connect(natsConnection **nc, natsOptions *o)
{
    natsStatus st = NATS_ERR;
    /* 1 in 256 attempts is refused (above): five in a row, 1 in 2^40 */
    for (int i = 0; i < 5; i++) {
        st = natsConnection_Connect(nc, o);
        const char *last = nats_GetLastError(NULL);
        if (st == NATS_OK || last == NULL || strstr(last, SIG_ZERO_TEXT) == NULL)
            break;
    }
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
        st = natsOptions_SetUserCredentialsCallbacks(o, creds_jwt_cb, (void *)p->creds,
                                                     creds_sig_cb, (void *)p->creds);
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
