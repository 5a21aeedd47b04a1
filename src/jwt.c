/* jwt.c - NATS v2 JWT claims, signing and .creds text (see jwt.h). */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jalloc.h"

#define JWT_HEADER "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}"

size_t jwt_b64url(const uint8_t *in, size_t n, char *out)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

/* {"allow":[...]} or, with nothing allowed, {"deny":[">"]}. */
static json_t *permission(const char *const *allow, size_t n)
{
    json_t *list = json_array();
    json_t *p = json_object();
    if (list == NULL || p == NULL) {
        json_decref(list);
        json_decref(p);
        return NULL;
    }
    int bad = 0;
    if (n == 0) {
        bad |= json_array_append_new(list, json_string(">"));
        bad |= json_object_set_new(p, "deny", list);
    } else {
        for (size_t i = 0; i < n; i++)
            bad |= json_array_append_new(list, json_string(allow[i]));
        bad |= json_object_set_new(p, "allow", list);
    }
    if (bad) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* The claims every JWT has but jti and iss (set when signed). */
static json_t *base_claims(const char *sub, const char *name, int64_t iat, int64_t exp)
{
    json_t *c = json_object();
    if (c == NULL)
        return NULL;
    int bad = json_object_set_new(c, "iat", json_integer(iat));
    if (exp > 0)
        bad |= json_object_set_new(c, "exp", json_integer(exp));
    bad |= json_object_set_new(c, "sub", json_string(sub));
    bad |= json_object_set_new(c, "name", json_string(name));
    if (bad) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* Sets c.nats = n (consumed); returns c, or NULL (both freed). */
static json_t *with_nats(json_t *c, json_t *n, int bad)
{
    if (c == NULL || n == NULL || bad) {
        json_decref(c);
        json_decref(n);
        return NULL;
    }
    if (json_object_set_new(c, "nats", n) != 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

json_t *jwt_user_claims(const jwt_user *u)
{
    json_t *c = base_claims(u->user_pub, u->name, u->iat, u->exp);
    json_t *n = json_object();
    int bad = n == NULL;
    if (n != NULL) {
        bad |= json_object_set_new(n, "pub", permission(u->pub_allow, u->npub));
        bad |= json_object_set_new(n, "sub", permission(u->sub_allow, u->nsub));
        if (u->resp_max > 0)
            bad |= json_object_set_new(n, "resp",
                                       json_pack("{s:i,s:I}", "max", u->resp_max, "ttl",
                                                 (json_int_t)(u->resp_ttl_s * 1000000000LL)));
        bad |= json_object_set_new(n, "subs", json_integer(-1));
        bad |= json_object_set_new(n, "data", json_integer(-1));
        bad |= json_object_set_new(n, "payload", json_integer(-1));
        if (u->issuer_account != NULL)
            bad |= json_object_set_new(n, "issuer_account", json_string(u->issuer_account));
        bad |= json_object_set_new(n, "type", json_string("user"));
        bad |= json_object_set_new(n, "version", json_integer(2));
    }
    return with_nats(c, n, bad);
}

json_t *jwt_account_claims(const char *account_pub, const char *name,
                           const char *const *signing_keys, size_t nkeys, int64_t iat,
                           json_t *revocations)
{
    json_t *c = base_claims(account_pub, name, iat, 0);
    json_t *n = json_object();
    /* Every limit: a missing one reads as 0 (conn 0 refuses every
     * connection). JetStream stays off for the account. */
    json_t *limits =
        json_pack("{s:i,s:i,s:i,s:i,s:i,s:b,s:i,s:i,s:i,s:i,s:i,s:i}", "subs", -1, "data", -1,
                  "payload", -1, "imports", -1, "exports", -1, "wildcards", 1, "conn", -1, "leaf",
                  -1, "mem_storage", 0, "disk_storage", 0, "streams", 0, "consumer", 0);
    json_t *keys = json_array();
    int bad = n == NULL || limits == NULL || keys == NULL;
    for (size_t i = 0; keys != NULL && i < nkeys; i++)
        bad |= json_array_append_new(keys, json_string(signing_keys[i]));
    if (n != NULL) {
        bad |= json_object_set_new(n, "limits", limits);
        limits = NULL;
        if (nkeys > 0) {
            bad |= json_object_set_new(n, "signing_keys", keys);
            keys = NULL;
        }
        if (revocations != NULL && json_object_size(revocations) > 0)
            bad |= json_object_set(n, "revocations", revocations);
        bad |= json_object_set_new(n, "type", json_string("account"));
        bad |= json_object_set_new(n, "version", json_integer(2));
    }
    json_decref(limits);
    json_decref(keys);
    return with_nats(c, n, bad);
}

json_t *jwt_operator_claims(const char *operator_pub, const char *name, const char *system_account,
                            int64_t iat)
{
    json_t *c = base_claims(operator_pub, name, iat, 0);
    json_t *n = json_pack("{s:s,s:s,s:i}", "system_account", system_account, "type", "operator",
                          "version", 2);
    return with_nats(c, n, 0);
}

char *jwt_sign(json_t *claims, const nkey *signer, vc_err *err)
{
    uint8_t id[32], sig[NKEY_SIG_LEN];
    char jti[64], iss[NKEY_PUBLIC_LEN + 1];
    char *body = NULL, *out = NULL;
    size_t blen = 0;

    randombytes_buf(id, sizeof id);
    nkey_base32_encode(id, sizeof id, jti);
    nkey_public(signer, iss);
    if (json_object_set_new(claims, "jti", json_string(jti)) != 0 ||
        json_object_set_new(claims, "iss", json_string(iss)) != 0 ||
        (body = jalloc_dumps(claims, JSON_COMPACT, &blen)) == NULL) {
        vc_errf(err, VC_INTERNAL, "jwt: out of memory");
        return NULL;
    }
    size_t hlen = sizeof JWT_HEADER - 1;
    size_t cap = (hlen + blen + NKEY_SIG_LEN) * 4 / 3 + 16;
    out = malloc(cap);
    if (out == NULL) {
        free(body);
        vc_errf(err, VC_INTERNAL, "jwt: out of memory");
        return NULL;
    }
    size_t o = jwt_b64url((const uint8_t *)JWT_HEADER, hlen, out);
    out[o++] = '.';
    o += jwt_b64url((const uint8_t *)body, blen, out + o);
    free(body);
    nkey_sign(signer, (const uint8_t *)out, o, sig);
    out[o++] = '.';
    jwt_b64url(sig, sizeof sig, out + o);
    return out;
}

char *jwt_creds_text(const char *jwt, const char *seed)
{
    /* The framing nsc writes and nats.c reads: five dashes before BEGIN,
     * six around END, a blank line between the two blocks. */
    static const char fmt[] =
        "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n"
        "\n"
        "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n";
    size_t cap = sizeof fmt + strlen(jwt) + strlen(seed);
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int w = snprintf(out, cap, fmt, jwt, seed);
    if (w < 0 || (size_t)w >= cap) {
        sodium_memzero(out, cap);
        free(out);
        return NULL;
    }
    return out;
}
