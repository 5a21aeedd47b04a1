/* vault_token.h - token records in the vault (PROTOCOL.md §8).
 *
 * A token record is a JSON object (token.h's fields: accessor, name, policy,
 * parent, issued_at, expires_at, max_expires_at, ttl, uses_left (-1:
 * unlimited), renewable, and for a wrap token `wrap`: {"data","meta"}),
 * sealed like a secret in the TOKENS table:
 *   'T' | keyed hash of the token string  -> format u8 | key_version u32 LE |
 *                                           seal_encrypt(record JSON)
 *   'A' | keyed hash of the accessor      -> the 'T' key (33 bytes)
 * The token string is never stored; associated data binds each sealed record
 * to its store key. A use is consumed inside a group-commit transaction
 * (vault_commit.c), in the same durable write as the operation it pays for.
 */
#ifndef VAULTCTL_VAULT_TOKEN_H
#define VAULTCTL_VAULT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "token.h"
#include "vault.h"

/* Stores rec as a new token: fills rec's accessor, writes a fresh token
 * string (prefix "vct_", or "vcw_" when wrap) into token (TOKEN_STR_LEN + 1
 * bytes). When rec has a parent, the parent must still exist
 * (VC_TOKEN_INVALID otherwise). Durable on return. */
vc_code vtok_issue(vault *v, json_t *rec, bool wrap, char *token, vc_err *err);

/* The record of a token (token != NULL) or of an accessor; *rec owned by
 * the caller. VC_TOKEN_INVALID if there is none. Consumes nothing. */
vc_code vtok_find(vault *v, const char *token, size_t token_len, const char *accessor, json_t **rec,
                  vc_err *err);

/* Consumes one use of token at time now, durably (through the group
 * commit): VC_TOKEN_INVALID (unknown, revoked, no uses left),
 * VC_TOKEN_EXPIRED. *rec_after (may be NULL) gets the record after the use;
 * a wrap token is deleted by its one use. */
vc_code vtok_use(vault *v, const char *token, size_t token_len, json_t **rec_after, vc_err *err);

/* Sets the accessor's expires_at to min(now + ttl, max_expires_at) (ttl
 * < 0: the token's original ttl). VC_TOKEN_INVALID / VC_TOKEN_EXPIRED;
 * VC_BAD_REQUEST if the token is not renewable. Durable on return. */
vc_code vtok_renew(vault *v, const char *accessor, int64_t ttl, json_t **rec_after, vc_err *err);

/* Deletes the accessor's token and all its descendants; *n how many.
 * VC_TOKEN_INVALID if absent. Durable on return. */
vc_code vtok_revoke(vault *v, const char *accessor, uint64_t *n, vc_err *err);

/* Deletes every token expired at now; *n (may be NULL) how many. */
vc_code vtok_purge(vault *v, int64_t now, uint64_t *n, vc_err *err);

/* Number of token records (wrap tokens included). */
vc_code vtok_count(vault *v, uint64_t *n, vc_err *err);

/* A set or delete that first consumes one use of token in the same
 * transaction (vault_set_async/vault_delete_async otherwise): when the use
 * is refused, nothing is written and done gets VC_TOKEN_INVALID or
 * VC_TOKEN_EXPIRED. *rec_after is set (the caller owns it) before done is
 * called, when the use was consumed. */
vc_code vault_write_tok_async(vault *v, bool del, const char *name, size_t name_len,
                              const char *value, size_t value_len, const vault_set_opts *opts,
                              const char *token, size_t token_len, json_t **rec_after,
                              vault_write_done done, void *arg, vc_err *err);

#endif
