/* jwt.h - NATS v2 JWTs (nats-io/jwt v2.3.0, what nats-server 2.9.10 reads):
 * building operator, account and user claims, signing them with an nkey,
 * and the .creds text NATS clients read.
 *
 *   token   b64url(header) "." b64url(claims) "." b64url(signature)
 *           unpadded base64url; header {"typ":"JWT","alg":"ed25519-nkey"};
 *           signature: Ed25519 over the ASCII "header.claims"
 *   claims  jti (a random unique id), iat, exp (absent: never), iss, sub,
 *           name, nats {...}
 *
 * What 2.9.10 requires of the claims, and what this module therefore always
 * writes (docs: ../shared/NATS-NOTES.md, "Operator mode and user JWTs"):
 *   - user: explicit allow lists; a side that allows nothing gets
 *     deny [">"] and no allow (an empty side would fall back to the
 *     account's defaults: unrestricted); subs, data, payload (-1: none);
 *     type "user", version 2; issuer_account when signed by a signing key.
 *   - account: every limit (-1: none; a missing one is 0 and refuses every
 *     connection), signing_keys, type "account", version 2.
 *   - operator: self-signed, system_account, type "operator", version 2.
 */
#ifndef VAULTCTL_JWT_H
#define VAULTCTL_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "nkey.h"

/* What a user JWT says. Subject lists may be empty (n 0): that side then
 * denies everything. */
typedef struct {
    const char *user_pub;       /* U... */
    const char *name;           /* the JWT's name */
    const char *issuer_account; /* A... when signed by a signing key, else NULL */
    const char *const *pub_allow;
    size_t npub;
    const char *const *sub_allow;
    size_t nsub;
    int64_t iat; /* unix seconds */
    int64_t exp; /* unix seconds; 0: never expires */
    /* > 0: the user may publish to reply subjects of requests it received
     * (allow_responses): at most resp_max replies within resp_ttl_s. */
    int resp_max;
    int64_t resp_ttl_s;
} jwt_user;

/* The claims of a user JWT (new reference; iss set by jwt_sign). */
json_t *jwt_user_claims(const jwt_user *u);

/* The claims of an account JWT: sub account_pub, every limit -1
 * (wildcards allowed, JetStream off), signing_keys, and revocations
 * (object of U... -> unix time, borrowed; NULL: none). */
json_t *jwt_account_claims(const char *account_pub, const char *name,
                           const char *const *signing_keys, size_t nkeys, int64_t iat,
                           json_t *revocations);

/* The claims of an operator JWT (sub operator_pub, system_account). */
json_t *jwt_operator_claims(const char *operator_pub, const char *name, const char *system_account,
                            int64_t iat);

/* Sets claims' jti (random) and iss (signer's public key) and returns the
 * signed token as a malloc'd string, or NULL (err filled) when out of
 * memory. claims is borrowed. */
char *jwt_sign(json_t *claims, const nkey *signer, vc_err *err);

/* The .creds file text for jwt and seed text, malloc'd (it holds the seed:
 * the caller wipes it before freeing). NULL if out of memory. */
char *jwt_creds_text(const char *jwt, const char *seed);

/* Unpadded base64url of n bytes into out (room for n * 4 / 3 + 4). */
size_t jwt_b64url(const uint8_t *in, size_t n, char *out);

#endif
