/* revoker.c - revoking minted NATS users (see revoker.h). */
#include "revoker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <sodium.h>

#include "jwt.h"
#include "log.h"
#include "natsconn.h"
#include "nkey.h"
#include "secretfile.h"
#include "timefmt.h"

#define JWT_FILE_MAX      ((size_t)64 * 1024)
#define UPDATE_TIMEOUT_MS 5000
/* A re-push after a (re)connect that fails is tried again this often, at
 * most REPUSH_TRIES times per connect. */
#define REPUSH_RETRY_S 2
#define REPUSH_TRIES   10
/* Clock skew allowed between vaultctl and whoever checks a JWT's exp. */
#define EXPIRY_SLACK_S 60

struct nats_revoker {
    pthread_mutex_t lock; /* one revocation at a time; the key unlocked under it */
    nkey *op;             /* the operator (signing) key, locked while idle */
    json_t *claims;       /* the account JWT's claims, without jti/iss */
    char account[NKEY_PUBLIC_LEN + 1];
    char issuer[NKEY_PUBLIC_LEN + 1]; /* account_jwt's iss as the operator issued it */
    int64_t max_ttl;                  /* the longest role max_ttl: older entries may go */
    natsOptions *opts;
    natsConnection *nc;
    vault *v;
    /* The re-push thread: after every (re)connect of the system-account
     * connection, the stored revocations are pushed again (a restarted
     * nats-server reloads its resolver_preload without them). */
    pthread_mutex_t ev_lock;
    pthread_cond_t ev;
    bool pending; /* a (re)connect not yet followed by a re-push */
    bool stop;
    bool thread_started;
    pthread_t thread;
};

/* The claims (payload) of a JWT as JSON, NULL if it is not one. */
static json_t *jwt_claims_of(const char *jwt, size_t len)
{
    const char *a = memchr(jwt, '.', len);
    const char *b = a != NULL ? memchr(a + 1, '.', len - (size_t)(a + 1 - jwt)) : NULL;
    if (b == NULL)
        return NULL;
    size_t n = (size_t)(b - (a + 1)), out_len = 0;
    unsigned char *bin = malloc(n + 1);
    if (bin == NULL)
        return NULL;
    json_t *j = NULL;
    if (sodium_base642bin(bin, n + 1, a + 1, n, NULL, &out_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
        j = json_loadb((const char *)bin, out_len, JSON_REJECT_DUPLICATES, NULL);
    free(bin);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The claims of the JWT in the file at path (trailing blanks ignored);
 * NULL when it cannot be opened (*opened false) or holds no JWT. */
static json_t *jwt_file_claims(const char *path, bool *opened)
{
    FILE *f = fopen(path, "r");
    *opened = f != NULL;
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, JWT_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, JWT_FILE_MAX, f) : 0;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    json_t *j = buf != NULL ? jwt_claims_of(buf, n) : NULL;
    free(buf);
    return j;
}

static vc_code load_account_jwt(nats_revoker *r, const config *c, vc_err *err)
{
    bool opened;
    r->claims = jwt_file_claims(c->creds_account_jwt, &opened);
    if (!opened)
        return vc_errf(err, VC_CONFIG, "nats_credentials.account_jwt %s: cannot open",
                       c->creds_account_jwt);
    json_t *nats = json_object_get(r->claims, "nats");
    const char *sub = json_string_value(json_object_get(r->claims, "sub"));
    const char *type = json_string_value(json_object_get(nats, "type"));
    if (r->claims == NULL || sub == NULL || type == NULL || strcmp(type, "account") != 0)
        return vc_errf(err, VC_CONFIG, "nats_credentials.account_jwt %s: not an account JWT",
                       c->creds_account_jwt);
    if (strcmp(sub, c->creds_account) != 0)
        return vc_errf(err, VC_CONFIG,
                       "nats_credentials.account_jwt %s: the JWT of account %s, not of "
                       "nats_credentials.account",
                       c->creds_account_jwt, sub);
    const char *iss = json_string_value(json_object_get(r->claims, "iss"));
    snprintf(r->issuer, sizeof r->issuer, "%s", iss != NULL ? iss : "");
    /* jwt_sign writes jti and iss anew */
    json_object_del(r->claims, "jti");
    json_object_del(r->claims, "iss");
    return VC_OK;
}

static vc_code load_operator_key(nats_revoker *r, const config *c, vc_err *err)
{
    char *seed = NULL;
    size_t len = 0;
    vc_err e;
    vc_code rc = secretfile_read(c->creds_operator_key, SECRETFILE_MAX, &seed, &len, NULL, &e);
    if (rc != VC_OK)
        return vc_errf(err, rc, "nats_credentials.operator_signing_key %s", e.msg);
    while (len > 0 && (seed[len - 1] == '\n' || seed[len - 1] == '\r'))
        len--;
    rc = nkey_from_seed(&r->op, seed, len, &e);
    secretfile_free(seed);
    if (rc != VC_OK)
        return vc_errf(err, VC_CONFIG, "nats_credentials.operator_signing_key %s: %s",
                       c->creds_operator_key, e.msg);
    if (nkey_get_type(r->op) != NKEY_OPERATOR)
        return vc_errf(err, VC_CONFIG,
                       "nats_credentials.operator_signing_key %s: not an operator seed (SO...)",
                       c->creds_operator_key);
    nkey_lock(r->op);
    return VC_OK;
}

static void note_connect(nats_revoker *r)
{
    pthread_mutex_lock(&r->ev_lock);
    r->pending = true;
    pthread_cond_signal(&r->ev);
    pthread_mutex_unlock(&r->ev_lock);
}

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    log_info("nats: revocation connection (system account) up");
    note_connect(closure);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    note_connect(closure);
}

static vc_code connect_system(nats_revoker *r, const config *c, vc_err *err)
{
    natsconn_params p = natsconn_params_of(c, "vaultctl-revoke");
    p.user = p.pass = p.token = NULL;
    p.creds = c->creds_system_creds;
    vc_code rc = natsconn_options(&r->opts, &p, err);
    if (rc != VC_OK)
        return vc_errf(err, VC_CONFIG, "nats_credentials.system_creds: %s", err->msg);
    natsStatus st = natsconn_keep_connecting(r->opts, on_connected, r);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(r->opts, natsconn_log_error, NULL);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectedCB(r->opts, on_reconnected, r);
    if (st == NATS_OK) {
        st = natsConnection_Connect(&r->nc, r->opts);
        if (st == NATS_OK)
            note_connect(r); /* connected at once: on_connected is not called */
        else if (st == NATS_NOT_YET_CONNECTED)
            st = NATS_OK; /* retried in the background */
    }
    if (st != NATS_OK)
        return vc_errf(err, VC_CONFIG, "nats_credentials.system_creds: cannot connect: %s",
                       natsStatus_GetText(st));
    return VC_OK;
}

/* The operator JWT beside account_jwt (nats-init writes operator.jwt in
 * the same directory): its claims, NULL when there is none. */
static json_t *operator_claims_beside(const char *account_jwt, char *path, size_t cap)
{
    const char *slash = strrchr(account_jwt, '/');
    int dlen = slash != NULL ? (int)(slash - account_jwt) : 1;
    if (snprintf(path, cap, "%.*s/operator.jwt", dlen, slash != NULL ? account_jwt : ".") >=
        (int)cap)
        return NULL;
    bool opened;
    return jwt_file_claims(path, &opened);
}

/* Whether nats-server takes an account JWT signed by op_pub: it issued
 * account_jwt, or the operator JWT beside it is op_pub's own or lists it
 * among its signing keys. */
static vc_code check_signer(const nats_revoker *r, const config *c, const char *op_pub, vc_err *err)
{
    char path[1024];
    if (strcmp(op_pub, r->issuer) == 0)
        return VC_OK;
    json_t *op = operator_claims_beside(c->creds_account_jwt, path, sizeof path);
    if (op == NULL)
        return vc_errf(err, VC_CONFIG,
                       "nats_credentials.operator_signing_key %s: its public key %s did not "
                       "issue nats_credentials.account_jwt (issuer %s), and there is no "
                       "operator.jwt beside it to find it among the operator's signing keys",
                       c->creds_operator_key, op_pub, r->issuer);
    bool ok = false;
    const char *sub = json_string_value(json_object_get(op, "sub"));
    json_t *keys = json_object_get(json_object_get(op, "nats"), "signing_keys");
    size_t i;
    json_t *k;
    ok = sub != NULL && strcmp(sub, op_pub) == 0;
    json_array_foreach(keys, i, k)
    {
        const char *ks = json_string_value(k);
        if (ks == NULL && json_is_object(k)) /* newer nsc: {"key": ...} */
            ks = json_string_value(json_object_get(k, "key"));
        ok = ok || (ks != NULL && strcmp(ks, op_pub) == 0);
    }
    json_decref(op);
    if (!ok)
        return vc_errf(err, VC_CONFIG,
                       "nats_credentials.operator_signing_key %s: its public key %s is neither "
                       "the issuer of nats_credentials.account_jwt (%s) nor the operator or one "
                       "of its signing keys in %s: nats-server would refuse the account JWTs it "
                       "signs",
                       c->creds_operator_key, op_pub, r->issuer, path);
    return VC_OK;
}

/* Whether any of the three revocation settings is given (config.c
 * refuses a part of them). */
static bool revocation_configured(const config *c)
{
    return c->creds_operator_key != NULL || c->creds_system_creds != NULL ||
           c->creds_account_jwt != NULL;
}

vc_code revoker_check(const config *c, char *summary, size_t cap, vc_err *err)
{
    if (cap > 0)
        summary[0] = '\0';
    if (!revocation_configured(c))
        return VC_OK;
    nats_revoker *r = calloc(1, sizeof *r);
    if (r == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    char op_pub[NKEY_PUBLIC_LEN + 1] = "";
    vc_err e;
    vc_code rc = load_account_jwt(r, c, err);
    if (rc == VC_OK)
        rc = load_operator_key(r, c, err);
    if (rc == VC_OK) {
        nkey_unlock(r->op);
        nkey_public(r->op, op_pub);
        nkey_lock(r->op);
        rc = check_signer(r, c, op_pub, err);
    }
    if (rc == VC_OK && (rc = secretfile_check(c->creds_system_creds, &e)) != VC_OK)
        rc = vc_errf(err, rc, "nats_credentials.system_creds %s", e.msg);
    if (rc == VC_OK)
        (void)snprintf(summary, cap,
                       "account_jwt %s is account %s's, operator_signing_key %s (%s) may sign "
                       "it, system_creds %s",
                       c->creds_account_jwt, c->creds_account, c->creds_operator_key, op_pub,
                       c->creds_system_creds);
    nkey_free(r->op);
    json_decref(r->claims);
    free(r);
    return rc;
}

static void *repush_thread(void *arg);

vc_code revoker_start(nats_revoker **out, const config *c, vault *v, vc_err *err)
{
    *out = NULL;
    if (!revocation_configured(c))
        return VC_OK;
    nats_revoker *r = calloc(1, sizeof *r);
    if (r == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->ev_lock, NULL);
    pthread_cond_init(&r->ev, NULL);
    r->v = v;
    snprintf(r->account, sizeof r->account, "%s", c->creds_account);
    for (size_t i = 0; i < c->creds_nroles; i++)
        if (c->creds_roles[i].max_ttl_s > r->max_ttl)
            r->max_ttl = c->creds_roles[i].max_ttl_s;
    vc_code rc = load_account_jwt(r, c, err);
    if (rc == VC_OK)
        rc = load_operator_key(r, c, err);
    if (rc == VC_OK) {
        if (pthread_create(&r->thread, NULL, repush_thread, r) != 0)
            rc = vc_errf(err, VC_INTERNAL, "cannot start the revocation re-push thread");
        else
            r->thread_started = true;
    }
    if (rc == VC_OK)
        rc = connect_system(r, c, err);
    if (rc != VC_OK) {
        revoker_free(r);
        return rc;
    }
    *out = r;
    return VC_OK;
}

void revoker_free(nats_revoker *r)
{
    if (r == NULL)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->ev_lock);
        r->stop = true;
        pthread_cond_signal(&r->ev);
        pthread_mutex_unlock(&r->ev_lock);
        pthread_join(r->thread, NULL);
    }
    if (r->nc != NULL)
        natsConnection_Close(r->nc);
    natsConnection_Destroy(r->nc);
    natsOptions_Destroy(r->opts);
    nkey_free(r->op);
    json_decref(r->claims);
    pthread_cond_destroy(&r->ev);
    pthread_mutex_destroy(&r->ev_lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The revocations kept in the vault ({} when none yet). */
static vc_code load_list(nats_revoker *r, vault *v, const char *key, json_t **list, vc_err *err)
{
    char *text = NULL;
    size_t len = 0;
    vault_meta meta;
    vc_code rc = vault_get(v, key, strlen(key), &text, &len, &meta, err);
    if (rc == VC_NOT_FOUND) {
        *list = json_object();
        return *list != NULL ? VC_OK : vc_errf(err, VC_INTERNAL, "out of memory");
    }
    if (rc != VC_OK)
        return rc;
    /* stored as a JSON object of U... -> unix time */
    *list = json_loadb(text, len, 0, NULL);
    free(text);
    if (!json_is_object(*list)) {
        json_decref(*list);
        *list = NULL;
        return vc_errf(err, VC_INTERNAL, "the revocation list of %s in the vault is damaged",
                       r->account);
    }
    return VC_OK;
}

/* Drops the entries whose every JWT has expired anyway: a user revoked at t
 * holds a JWT issued at or before t, which expires by t + the longest role
 * max_ttl (a max_ttl lowered since then shortens that: the slack covers
 * clock skew only). No roles: nothing is dropped. */
static void prune_list(const nats_revoker *r, json_t *list, int64_t now)
{
    if (r->max_ttl <= 0)
        return;
    const char *k;
    json_t *t, *tmp;
    json_object_foreach_safe(list, tmp, k, t)
    {
        if (json_integer_value(t) + r->max_ttl + EXPIRY_SLACK_S < now)
            json_object_del(list, k);
    }
}

/* Prunes; still over REVOKER_MAX: VC_BAD_REQUEST. */
static vc_code bound_list(const nats_revoker *r, json_t *list, int64_t now, vc_err *err)
{
    prune_list(r, list, now);
    if (json_object_size(list) > REVOKER_MAX)
        return vc_errf(err, VC_BAD_REQUEST,
                       "the account's revocation list is full (%d users revoked within the "
                       "longest max_ttl)",
                       REVOKER_MAX);
    return VC_OK;
}

/* Publishes the signed account JWT and reads nats-server's answer. */
static vc_code push(nats_revoker *r, const char *jwt, char *server_msg, size_t cap, vc_err *err)
{
    char subject[128];
    natsMsg *resp = NULL;
    snprintf(subject, sizeof subject, "$SYS.REQ.ACCOUNT.%s.CLAIMS.UPDATE", r->account);
    if (natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED)
        return vc_errf(err, VC_UNAVAILABLE,
                       "nats revocation: the system-account connection is not up");
    natsStatus st =
        natsConnection_Request(&resp, r->nc, subject, jwt, (int)strlen(jwt), UPDATE_TIMEOUT_MS);
    if (st != NATS_OK)
        return vc_errf(err, VC_UNAVAILABLE, "nats revocation: no answer on %s: %s", subject,
                       natsStatus_GetText(st));
    json_t *j = json_loadb(natsMsg_GetData(resp), (size_t)natsMsg_GetDataLength(resp), 0, NULL);
    natsMsg_Destroy(resp);
    json_t *data = json_object_get(j, "data");
    json_t *error = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(data, "message"));
    vc_code rc = VC_OK;
    if (data != NULL && json_integer_value(json_object_get(data, "code")) == 200 && msg != NULL &&
        strcmp(msg, "jwt updated") == 0) {
        snprintf(server_msg, cap, "%s", msg);
    } else {
        const char *why = json_string_value(json_object_get(error, "description"));
        if (why == NULL)
            why = msg != NULL ? msg : "an answer vaultctl does not understand";
        rc = vc_errf(err, VC_UNAVAILABLE, "nats revocation: the server did not apply it: %.200s",
                     why);
    }
    json_decref(j);
    return rc;
}

/* The account JWT with list as its revocations, iat now (but always later
 * than account_jwt's own iat), signed with the operator key and pushed.
 * Under r->lock.
 *
 * Why later: nats-server's full resolver keeps the pushed JWT in its
 * directory, and at start it stores each resolver_preload entry over the
 * kept one unless the kept one's iat is strictly greater (DirJWTStore.
 * saveIfNewer, 2.9.10). A revocation pushed in the same second as the
 * account JWT was issued would otherwise be replaced by the preload, without
 * its revocations, at the server's next restart. */
static vc_code sign_and_push(nats_revoker *r, json_t *list, int64_t now, char *server_msg,
                             size_t cap, vc_err *err)
{
    int64_t issued = (int64_t)json_integer_value(json_object_get(r->claims, "iat"));
    int64_t iat = now > issued ? now : issued + 1;
    json_t *claims = json_deep_copy(r->claims);
    json_t *nats = json_object_get(claims, "nats");
    if (claims == NULL || json_object_set_new(claims, "iat", json_integer(iat)) != 0 ||
        json_object_set(nats, "revocations", list) != 0) {
        json_decref(claims);
        return vc_errf(err, VC_INTERNAL, "out of memory");
    }
    nkey_unlock(r->op);
    char *jwt = jwt_sign(claims, r->op, err);
    nkey_lock(r->op);
    json_decref(claims);
    if (jwt == NULL)
        return err->code != VC_OK ? err->code : VC_INTERNAL;
    vc_code rc = push(r, jwt, server_msg, cap, err);
    free(jwt);
    return rc;
}

/* After a (re)connect: the stored revocations (expired ones left out)
 * pushed again; VC_OK with *n 0 when there are none. */
static vc_code repush(nats_revoker *r, int64_t now, size_t *n, vc_err *err)
{
    char key[sizeof REVOKER_KEY_PREFIX + NKEY_PUBLIC_LEN + 1], server_msg[64];
    json_t *list = NULL;
    *n = 0;
    snprintf(key, sizeof key, "%s%s", REVOKER_KEY_PREFIX, r->account);
    pthread_mutex_lock(&r->lock);
    vc_code rc = load_list(r, r->v, key, &list, err);
    if (rc == VC_OK) {
        prune_list(r, list, now);
        *n = json_object_size(list);
        if (*n > 0)
            rc = sign_and_push(r, list, now, server_msg, sizeof server_msg, err);
    }
    pthread_mutex_unlock(&r->lock);
    json_decref(list);
    return rc;
}

static void *repush_thread(void *arg)
{
    nats_revoker *r = arg;
    int tries = 0;
    pthread_mutex_lock(&r->ev_lock);
    for (;;) {
        while (!r->stop && !r->pending)
            pthread_cond_wait(&r->ev, &r->ev_lock);
        if (r->stop)
            break;
        /* Only the instance that may write (jetstream: the lease holder)
         * pushes; a standby waits until it is active or the next connect. */
        bool go =
            vault_is_active(r->v) && natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED;
        if (go) {
            r->pending = false;
            pthread_mutex_unlock(&r->ev_lock);
            size_t n = 0;
            vc_err e;
            vc_code rc = repush(r, (int64_t)time(NULL), &n, &e);
            if (rc == VC_OK && n > 0)
                log_info("nats: account %s's JWT pushed again with its %zu revocation%s after "
                         "a (re)connect",
                         r->account, n, n == 1 ? "" : "s");
            pthread_mutex_lock(&r->ev_lock);
            if (rc == VC_OK) {
                tries = 0;
                continue;
            }
            if (++tries >= REPUSH_TRIES) {
                log_warn("%s: the revocations are pushed again at the next connect or "
                         "revocation",
                         e.msg);
                tries = 0;
                continue;
            }
            r->pending = true;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += REPUSH_RETRY_S;
        (void)pthread_cond_timedwait(&r->ev, &r->ev_lock, &until);
    }
    pthread_mutex_unlock(&r->ev_lock);
    return NULL;
}

vc_code revoker_revoke(nats_revoker *r, vault *v, const char *user_pub, int64_t now, json_t **data,
                       char *audit, size_t audit_cap, vc_err *err)
{
    char key[sizeof REVOKER_KEY_PREFIX + NKEY_PUBLIC_LEN + 1], server_msg[64] = "";
    json_t *list = NULL;
    char *text = NULL;
    vc_code rc;

    *data = NULL;
    if (audit_cap > 0)
        audit[0] = '\0';
    if (r == NULL)
        return vc_errf(err, VC_BAD_REQUEST,
                       "revocation of NATS users is not configured (nats_credentials."
                       "operator_signing_key, account_jwt and system_creds)");
    if (user_pub == NULL || !nkey_public_valid(user_pub, NKEY_USER))
        return vc_errf(err, VC_BAD_REQUEST,
                       "public_key: expected a NATS user public key (56 characters, U...)");
    snprintf(key, sizeof key, "%s%s", REVOKER_KEY_PREFIX, r->account);
    pthread_mutex_lock(&r->lock);
    if ((rc = load_list(r, v, key, &list, err)) != VC_OK)
        goto out;
    if (json_object_set_new(list, user_pub, json_integer(now)) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    if ((rc = bound_list(r, list, now, err)) != VC_OK)
        goto out;
    /* Kept before it is pushed: a push that fails is repeated by the next
     * revocation, a list that was lost could not be. */
    text = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    vault_meta meta;
    if ((rc = vault_set(v, key, strlen(key), text, strlen(text), &meta, err)) != VC_OK)
        goto out;
    if ((rc = sign_and_push(r, list, now, server_msg, sizeof server_msg, err)) != VC_OK)
        goto out;
    char at[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(now, at);
    *data = json_pack("{s:s,s:s,s:s,s:I,s:s}", "public_key", user_pub, "account", r->account,
                      "revoked_at", at, "revocations", (json_int_t)json_object_size(list), "server",
                      server_msg);
    if (*data == NULL)
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
    else if (audit_cap > 0)
        (void)snprintf(audit, audit_cap, "\"revoked\":{\"public_key\":\"%s\"}", user_pub);
out:
    pthread_mutex_unlock(&r->lock);
    json_decref(list);
    free(text);
    return rc;
}
