/* creds.c - minting NATS user credentials (see creds.h). */
#include "creds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "duration.h"
#include "jwt.h"
#include "nkey.h"
#include "secretfile.h"
#include "timefmt.h"

#define CREDS_SUBJECTS_MAX 64

struct creds_signer {
    pthread_mutex_t lock; /* signing: the key is unlocked only under it */
    nkey *key;            /* locked (no access) while idle */
    char account[NKEY_PUBLIC_LEN + 1];
    bool signing_key; /* key is not the account's own: issuer_account */
    const config *cfg;
};

vc_code creds_signer_load(creds_signer **out, const config *c, vc_err *err)
{
    char *seed = NULL;
    size_t len = 0;
    char pub[NKEY_PUBLIC_LEN + 1];
    vc_err e;

    *out = NULL;
    if (c->creds_account == NULL)
        return VC_OK;
    vc_code rc = secretfile_read(c->creds_signing_key, SECRETFILE_MAX, &seed, &len, NULL, &e);
    if (rc != VC_OK)
        return vc_errf(err, rc, "nats_credentials.signing_key %s", e.msg);
    creds_signer *s = calloc(1, sizeof *s);
    if (s == NULL) {
        secretfile_free(seed);
        return vc_errf(err, VC_INTERNAL, "out of memory");
    }
    rc = nkey_from_seed(&s->key, seed, len, &e);
    secretfile_free(seed);
    if (rc != VC_OK) {
        free(s);
        return vc_errf(err, VC_CONFIG, "nats_credentials.signing_key %s: %s", c->creds_signing_key,
                       e.msg);
    }
    if (nkey_get_type(s->key) != NKEY_ACCOUNT) {
        nkey_free(s->key);
        free(s);
        return vc_errf(err, VC_CONFIG,
                       "nats_credentials.signing_key %s: not an account seed (SA...): the "
                       "account's own seed or one of its signing keys",
                       c->creds_signing_key);
    }
    nkey_public(s->key, pub);
    snprintf(s->account, sizeof s->account, "%s", c->creds_account);
    s->signing_key = strcmp(pub, s->account) != 0;
    s->cfg = c;
    pthread_mutex_init(&s->lock, NULL);
    nkey_lock(s->key);
    *out = s;
    return VC_OK;
}

void creds_signer_free(creds_signer *s)
{
    if (s == NULL)
        return;
    nkey_free(s->key);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

bool creds_name_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > CREDS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

vc_code creds_ttl_field(const json_t *ttl, int64_t *out, bool *given, vc_err *err)
{
    *given = false;
    if (ttl == NULL)
        return VC_OK;
    uint64_t secs = 0;
    if (!duration_from_json(ttl, &secs) || secs == 0) {
        return vc_errf(err, VC_BAD_REQUEST,
                       "ttl: expected a positive duration such as \"10m\", \"1h\", \"90s\" or a "
                       "number of seconds");
    }
    *out = (int64_t)secs;
    *given = true;
    return VC_OK;
}

static const config_creds_role *find_role(const config *c, const char *name)
{
    for (size_t i = 0; i < c->creds_nroles; i++)
        if (strcmp(c->creds_roles[i].name, name) == 0)
            return &c->creds_roles[i];
    return NULL;
}

/* subject with every {name} replaced by name (malloc'd), NULL if out of
 * memory. */
static char *fill_name(const char *subject, const char *name)
{
    size_t n = 0, nlen = strlen(name);
    for (const char *p = strstr(subject, "{name}"); p != NULL; p = strstr(p + 6, "{name}"))
        n++;
    char *out = malloc(strlen(subject) + n * nlen + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = subject;;) {
        const char *hit = strstr(p, "{name}");
        if (hit == NULL) {
            memcpy(o, p, strlen(p) + 1);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, name, nlen);
        o += nlen;
        p = hit + 6;
    }
    return out;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
}

static int set_time(json_t *obj, const char *name, int64_t t)
{
    char buf[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(t, buf);
    return json_object_set_new(obj, name, json_string(buf));
}

/* The signed user JWT for u (malloc'd), NULL with err filled. */
static char *sign_user(creds_signer *s, const jwt_user *u, vc_err *err)
{
    json_t *claims = jwt_user_claims(u);
    char *jwt = NULL;
    if (claims == NULL) {
        vc_errf(err, VC_INTERNAL, "creds: out of memory");
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    nkey_unlock(s->key);
    jwt = jwt_sign(claims, s->key, err);
    nkey_lock(s->key);
    pthread_mutex_unlock(&s->lock);
    json_decref(claims);
    return jwt;
}

vc_code creds_mint(creds_signer *s, const char *role_name, const char *name, size_t name_len,
                   int64_t ttl, bool ttl_given, int64_t now, json_t **data, json_t **meta,
                   creds_audit *audit, vc_err *err)
{
    char *pubs[CREDS_SUBJECTS_MAX], *subs[CREDS_SUBJECTS_MAX];
    char user_pub[NKEY_PUBLIC_LEN + 1], nm[CREDS_NAME_MAX + 1];
    char *seed = NULL, *jwt = NULL, *creds = NULL;
    nkey *user = NULL;
    size_t npub = 0, nsub = 0;
    vc_code rc = VC_OK;

    *data = NULL;
    *meta = NULL;
    audit->json[0] = '\0';
    if (s == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "creds: nats_credentials is not configured");
    const config_creds_role *role = role_name != NULL ? find_role(s->cfg, role_name) : NULL;
    if (role == NULL)
        return vc_errf(err, VC_BAD_REQUEST, "role: unknown role");
    if (!creds_name_valid(name, name_len))
        return vc_errf(err, VC_BAD_REQUEST, "name: expected 1-64 of A-Z a-z 0-9 _ -");
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    if (!ttl_given)
        ttl = role->ttl_s;
    if (ttl > role->max_ttl_s)
        ttl = role->max_ttl_s;
    int64_t exp = now + ttl;

    for (; npub < role->npublish && npub < CREDS_SUBJECTS_MAX; npub++)
        if ((pubs[npub] = fill_name(role->publish[npub], nm)) == NULL)
            goto oom;
    for (; nsub < role->nsubscribe && nsub < CREDS_SUBJECTS_MAX; nsub++)
        if ((subs[nsub] = fill_name(role->subscribe[nsub], nm)) == NULL)
            goto oom;
    if ((seed = sodium_malloc(NKEY_SEED_LEN + 1)) == NULL)
        goto oom;
    if ((rc = nkey_generate(&user, NKEY_USER, err)) != VC_OK)
        goto done;
    nkey_public(user, user_pub);
    nkey_seed(user, seed);
    jwt_user u = {.user_pub = user_pub,
                  .name = nm,
                  .issuer_account = s->signing_key ? s->account : NULL,
                  .pub_allow = (const char *const *)pubs,
                  .npub = npub,
                  .sub_allow = (const char *const *)subs,
                  .nsub = nsub,
                  .iat = now,
                  .exp = exp};
    if ((jwt = sign_user(s, &u, err)) == NULL) {
        rc = err->code != VC_OK ? err->code : VC_INTERNAL;
        goto done;
    }
    if ((creds = jwt_creds_text(jwt, seed)) == NULL)
        goto oom;
    *data = json_object();
    json_t *life = json_object();
    *meta = json_object();
    if (*data == NULL || life == NULL || *meta == NULL ||
        json_object_set_new(*data, "jwt", json_string(jwt)) != 0 ||
        json_object_set_new(*data, "seed", json_string(seed)) != 0 ||
        json_object_set_new(*data, "public_key", json_string(user_pub)) != 0 ||
        json_object_set_new(*data, "creds", json_string(creds)) != 0 ||
        set_time(life, "issued_at", now) != 0 || set_time(life, "expires_at", exp) != 0 ||
        json_object_set_new(life, "ttl", json_integer(ttl)) != 0 ||
        json_object_set_new(*meta, "lifecycle", life) != 0) {
        json_decref(*data);
        json_decref(*meta);
        *data = *meta = NULL;
        goto oom;
    }
    char until[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(exp, until);
    /* role and name are plain: a configured role name and [A-Za-z0-9_-]. */
    int w = snprintf(audit->json, sizeof audit->json,
                     "\"creds\":{\"public_key\":\"%s\",\"role\":\"%s\",\"name\":\"%s\","
                     "\"expires_at\":\"%s\"}",
                     user_pub, role->name, nm, until);
    if (w < 0 || (size_t)w >= sizeof audit->json)
        audit->json[0] = '\0';
    goto done;
oom:
    rc = vc_errf(err, VC_INTERNAL, "creds: out of memory");
done:
    free_list(pubs, npub);
    free_list(subs, nsub);
    if (seed != NULL)
        sodium_free(seed);
    if (creds != NULL) {
        sodium_memzero(creds, strlen(creds));
        free(creds);
    }
    free(jwt);
    nkey_free(user);
    return rc;
}
