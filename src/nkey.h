/* nkey.h - NATS nkeys: Ed25519 key pairs in the text form nats-server and
 * the NATS clients use (nkeys v0.3.0, which nats-server 2.9.10 pins).
 *
 *   public key  base32(prefix || ed25519 public 32 || crc16 le), 56 chars:
 *               "O..." operator, "A..." account, "U..." user
 *   seed        base32((0x90 | type >> 5), (type & 31) << 3, seed 32,
 *               crc16 le), 58 chars: "SO...", "SA...", "SU..."
 *
 * base32 is RFC 4648's alphabet without padding; the checksum is
 * CRC-16/XMODEM (poly 0x1021, init 0), little-endian. The 32-byte seed is
 * what libsodium's crypto_sign_seed_keypair takes.
 *
 * A key pair lives in sodium_malloc'd memory (guarded, locked), wiped when
 * freed. Seed text a caller asks for is written into the caller's buffer:
 * the caller keeps it in memory it wipes.
 */
#ifndef VAULTCTL_NKEY_H
#define VAULTCTL_NKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define NKEY_PUBLIC_LEN 56 /* characters of a public key */
#define NKEY_SEED_LEN   58 /* characters of a seed */
#define NKEY_SIG_LEN    64

typedef enum {
    NKEY_OPERATOR = 14 << 3, /* 'O' */
    NKEY_ACCOUNT = 0,        /* 'A' */
    NKEY_USER = 20 << 3,     /* 'U' */
} nkey_type;

typedef struct nkey nkey;

/* A fresh random key pair of type. VC_INTERNAL if out of memory. */
vc_code nkey_generate(nkey **out, nkey_type type, vc_err *err);

/* The key pair of a seed in text form (len bytes, "S" + type letter), its
 * checksum checked. VC_BAD_REQUEST with a message that never quotes the
 * seed when it is not a valid seed. */
vc_code nkey_from_seed(nkey **out, const char *seed, size_t len, vc_err *err);

/* Wipes and frees; NULL is fine (also while locked). */
void nkey_free(nkey *k);

/* Makes the key pair's memory inaccessible (sodium_mprotect_noaccess) while
 * it is idle; nkey_unlock makes it readable again. Every other call but
 * nkey_free needs it unlocked. Not thread-safe: the caller serialises. */
void nkey_lock(nkey *k);
void nkey_unlock(nkey *k);

nkey_type nkey_get_type(const nkey *k);

/* The public key as text: out has room for NKEY_PUBLIC_LEN + 1 bytes. */
void nkey_public(const nkey *k, char *out);

/* The seed as text: out has room for NKEY_SEED_LEN + 1 bytes (memory the
 * caller wipes). */
void nkey_seed(const nkey *k, char *out);

/* Ed25519 signature of the len bytes at msg. */
void nkey_sign(const nkey *k, const uint8_t *msg, size_t len, uint8_t sig[NKEY_SIG_LEN]);

/* Decodes public key text: its type and 32 raw bytes; false when it is not
 * 56 base32 characters, the checksum is wrong or the prefix is not one of
 * nkey_type. */
bool nkey_decode_public(const char *text, nkey_type *type, uint8_t raw[32]);

/* Whether text is a valid public key of type. */
bool nkey_public_valid(const char *text, nkey_type type);

/* Writes the RFC 4648 base32 of n bytes (no padding) and a NUL into out
 * (room for (n * 8 + 4) / 5 + 1 bytes); returns the characters written. */
size_t nkey_base32_encode(const uint8_t *in, size_t n, char *out);

/* Decodes len base32 characters into out (room for len * 5 / 8 bytes);
 * returns the bytes written, or -1 on a character outside the alphabet or
 * non-zero trailing bits. */
long nkey_base32_decode(const char *in, size_t len, uint8_t *out);

/* CRC-16/XMODEM of n bytes. */
uint16_t nkey_crc16(const uint8_t *data, size_t n);

#endif
