/* seal.h - every byte of key material lives behind this interface.
 *
 * The only module that touches key bytes. Keys live in sodium_malloc memory
 * (guarded pages, locked, wiped on free) and are sodium_mprotect_noaccess()'d
 * while idle where that is possible.
 *
 * Envelope scheme:
 *   master key (32 bytes from the key file)
 *     wraps -> keyring: index key (keyed BLAKE2b of key names, for lookups),
 *                       audit key (HMAC-SHA-256 of key names, for logs and
 *                                  audit events),
 *                       data keys by version (XChaCha20-Poly1305 record keys).
 * A wrapped keyring is a self-describing byte blob the store keeps; opening
 * it with the wrong master key fails authentication and nothing is changed.
 */
#ifndef VAULTCTL_SEAL_H
#define VAULTCTL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SEAL_KEY_BYTES  32
#define SEAL_HASH_BYTES 32 /* name index hash */
#define SEAL_OVERHEAD   40 /* per sealed value: 24-byte nonce + 16-byte tag */
#define SEAL_AUDIT_HEX  65 /* hex audit hash + NUL */
#define SEAL_KEYGEN_B64 64 /* buffer large enough for a key in base64 + NUL */

typedef struct seal_master seal_master;
typedef struct seal_keyring seal_keyring;

/* Initialises libsodium; call once before anything else. VC_INTERNAL on failure. */
vc_code seal_init(vc_err *err);

/* Loads the master key file at path (base64, standard or URL-safe, padding
 * optional, of exactly 32 bytes, optionally followed by a newline). Opens with
 * O_NOFOLLOW. Errors (VC_CONFIG) name the file and what is wrong, e.g.
 * "master key /x/master.key: expected base64 of 32 bytes, got 31 bytes".
 * Refuses (VC_CONFIG) a file not owned by the effective user or root, or
 * writable by group or others (secretfile.h, fileperm.h). *warn_perm is set
 * (if not NULL) when the file is readable by group or others and not under
 * /run/secrets/ (fileperm_warn_readable).
 * On success *out is owned by the caller: free with seal_master_free. */
vc_code seal_master_load(seal_master **out, const char *path, bool *warn_perm, vc_err *err);

/* Same from text in memory; what names the source in error messages. */
vc_code seal_master_parse(seal_master **out, const char *text, size_t len, const char *what,
                          vc_err *err);

/* Wipes and frees; NULL is fine. */
void seal_master_free(seal_master *m);

/* Writes a fresh random key as standard base64 with padding, NUL-terminated,
 * into out (cap >= SEAL_KEYGEN_B64). */
vc_code seal_keygen_b64(char *out, size_t cap, vc_err *err);

/* A new keyring with fresh index and audit keys and data key version 1. */
vc_code seal_keyring_create(seal_keyring **out, vc_err *err);

/* Wipes and frees; NULL is fine. */
void seal_keyring_free(seal_keyring *k);

/* Seals the whole keyring under the master key into a malloc'd blob (caller
 * frees with free()); the blob holds no plaintext key byte. */
vc_code seal_keyring_wrap(const seal_keyring *k, const seal_master *m, uint8_t **blob,
                          size_t *blob_len, vc_err *err);

/* Opens a blob made by seal_keyring_wrap. A master key that does not open it
 * gives VC_ACCESS_DENIED; a malformed blob VC_INTERNAL. */
vc_code seal_keyring_unwrap(seal_keyring **out, const seal_master *m, const uint8_t *blob,
                            size_t blob_len, vc_err *err);

/* Current (newest) data key version. */
uint32_t seal_keyring_current(const seal_keyring *k);

/* Whether the keyring holds data key version v. */
bool seal_keyring_has(const seal_keyring *k, uint32_t v);

/* Number of data key versions held. */
size_t seal_keyring_count(const seal_keyring *k);

/* Adds a fresh data key with version current+1 and makes it current. */
vc_code seal_keyring_add(seal_keyring *k, uint32_t *new_version, vc_err *err);

/* Destroys (wipes) every data key but version keep. */
void seal_keyring_retain_only(seal_keyring *k, uint32_t keep);

/* Keyed hash of a key name under the index key (lookups). */
void seal_name_hash(const seal_keyring *k, const char *name, size_t len,
                    uint8_t out[SEAL_HASH_BYTES]);

/* Keyed hash of a key name under the audit key, as 64 lowercase hex digits
 * + NUL: what logs and audit events show instead of a name. */
void seal_audit_hash(const seal_keyring *k, const char *name, size_t len, char out[SEAL_AUDIT_HEX]);

/* XChaCha20-Poly1305 with data key `version` and a fresh random nonce.
 * out must have room for pt_len + SEAL_OVERHEAD bytes. VC_INTERNAL if the
 * version is not in the keyring. */
vc_code seal_encrypt(const seal_keyring *k, uint32_t version, const uint8_t *ad, size_t ad_len,
                     const uint8_t *pt, size_t pt_len, uint8_t *out, vc_err *err);

/* Opens what seal_encrypt made; out has room for ct_len - SEAL_OVERHEAD.
 * Authentication is checked before anything is written to out; on failure
 * (tampered bytes, other key, other associated data) VC_INTERNAL and out is
 * zeroed. */
vc_code seal_decrypt(const seal_keyring *k, uint32_t version, const uint8_t *ad, size_t ad_len,
                     const uint8_t *ct, size_t ct_len, uint8_t *out, vc_err *err);

#endif
