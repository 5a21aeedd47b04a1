/* creds.h - NATS user credentials minted by the vault (PROTOCOL.md §10,
 * operation `creds`).
 *
 * The account's signing key (nats_credentials.signing_key: a seed file,
 * SA..., read with secretfile.h's rule) is loaded once at start into
 * sodium_malloc'd memory that is kept inaccessible (sodium_mprotect_noaccess)
 * except while a JWT is signed, and wiped when freed. Every request gets a
 * fresh user key pair; its seed goes into the reply only, never into the
 * store, a log line or an audit event.
 */
#ifndef VAULTCTL_CREDS_H
#define VAULTCTL_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "err.h"

#define CREDS_NAME_MAX 64
/* Room for what the audit event adds: public key, role, name, expiry. */
#define CREDS_AUDIT_MAX 320

typedef struct creds_signer creds_signer;

/* The signer of c's nats_credentials: *out NULL (and VC_OK) when creds is
 * not configured. The seed must be an account seed (SA...); when its public
 * key is not nats_credentials.account itself it is a signing key, and the
 * JWTs carry issuer_account. VC_CONFIG naming the file otherwise. c must
 * outlive the signer (its roles are used). */
vc_code creds_signer_load(creds_signer **out, const config *c, vc_err *err);

/* Wipes and frees; NULL is fine. */
void creds_signer_free(creds_signer *s);

/* Whether len bytes at name are 1-64 of [A-Za-z0-9_-]. */
bool creds_name_valid(const char *name, size_t len);

/* A request's ttl field: NULL (absent), an integer of seconds or a duration
 * string. VC_BAD_REQUEST when it is none of those or not positive. */
vc_code creds_ttl_field(const json_t *ttl, int64_t *out, bool *given, vc_err *err);

/* What a minted credential says for the audit event: ,"creds":{...} as
 * compact JSON members (never the seed or the JWT). */
typedef struct {
    char json[CREDS_AUDIT_MAX];
} creds_audit;

/* Mints credentials for role and name (valid, see creds_name_valid) with
 * the requested ttl (ttl_given false: the role's ttl; above the role's
 * max_ttl: lowered to it) at now (unix seconds). On success *data is
 * {"jwt","seed","public_key","creds"} and *meta {"lifecycle":{"issued_at",
 * "expires_at","ttl"}} (new references: the seed is in *data, whose
 * jansson memory is wiped when freed). VC_BAD_REQUEST for an unknown role. */
vc_code creds_mint(creds_signer *s, const char *role, const char *name, size_t name_len,
                   int64_t ttl, bool ttl_given, int64_t now, json_t **data, json_t **meta,
                   creds_audit *audit, vc_err *err);

#endif
