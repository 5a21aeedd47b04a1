/* nkey.c - NATS nkeys from libsodium's Ed25519 (see nkey.h). */
#include "nkey.h"

#include <string.h>

#include <sodium.h>

#define PREFIX_SEED (18 << 3) /* 'S' */
#define RAW_PUBLIC  35        /* prefix, key, crc */
#define RAW_SEED    36        /* two prefix bytes, seed, crc */

struct nkey {
    nkey_type type;
    uint8_t seed[crypto_sign_SEEDBYTES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint16_t nkey_crc16(const uint8_t *data, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t nkey_base32_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    unsigned buf = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
        buf &= (1u << bits) - 1u;
    }
    if (bits > 0)
        out[o++] = b32[(buf << (5 - bits)) & 31];
    out[o] = '\0';
    return o;
}

long nkey_base32_decode(const char *in, size_t len, uint8_t *out)
{
    size_t o = 0;
    unsigned buf = 0, bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = in[i] != '\0' ? strchr(b32, in[i]) : NULL;
        if (p == NULL)
            return -1;
        buf = (buf << 5) | (unsigned)(p - b32);
        bits += 5;
        if (bits >= 8) {
            out[o++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
        buf &= (1u << bits) - 1u;
    }
    if (buf != 0) /* bits left over must be zero padding */
        return -1;
    return (long)o;
}

static bool type_known(unsigned t)
{
    return t == NKEY_OPERATOR || t == NKEY_ACCOUNT || t == NKEY_USER;
}

static vc_code make(nkey **out, nkey_type type, const uint8_t *seed, vc_err *err)
{
    nkey *k = sodium_malloc(sizeof *k);
    *out = NULL;
    if (k == NULL)
        return vc_errf(err, VC_INTERNAL, "nkey: out of memory");
    k->type = type;
    if (seed != NULL)
        memcpy(k->seed, seed, sizeof k->seed);
    else
        randombytes_buf(k->seed, sizeof k->seed);
    if (crypto_sign_seed_keypair(k->pk, k->sk, k->seed) != 0) {
        nkey_free(k);
        return vc_errf(err, VC_INTERNAL, "nkey: key pair from seed failed");
    }
    *out = k;
    return VC_OK;
}

vc_code nkey_generate(nkey **out, nkey_type type, vc_err *err)
{
    if (!type_known((unsigned)type)) {
        *out = NULL;
        return vc_errf(err, VC_INTERNAL, "nkey: unknown key type %d", (int)type);
    }
    return make(out, type, NULL, err);
}

vc_code nkey_from_seed(nkey **out, const char *seed, size_t len, vc_err *err)
{
    uint8_t *raw = sodium_malloc(RAW_SEED + 8);
    vc_code rc;

    *out = NULL;
    if (raw == NULL)
        return vc_errf(err, VC_INTERNAL, "nkey: out of memory");
    if (len != NKEY_SEED_LEN || nkey_base32_decode(seed, len, raw) != RAW_SEED) {
        rc = vc_errf(err, VC_BAD_REQUEST, "not an nkey seed (58 base32 characters, S...)");
        goto done;
    }
    uint16_t crc = (uint16_t)(raw[RAW_SEED - 2] | (raw[RAW_SEED - 1] << 8));
    if (nkey_crc16(raw, RAW_SEED - 2) != crc) {
        rc = vc_errf(err, VC_BAD_REQUEST, "nkey seed: checksum does not match");
        goto done;
    }
    unsigned type = (unsigned)((raw[0] & 7) << 5) | (unsigned)((raw[1] & 0xf8) >> 3);
    if ((raw[0] & 0xf8) != PREFIX_SEED || !type_known(type)) {
        rc = vc_errf(err, VC_BAD_REQUEST,
                     "nkey seed: not an operator, account or user seed (SO, SA, SU)");
        goto done;
    }
    rc = make(out, (nkey_type)type, raw + 2, err);
done:
    sodium_free(raw); /* wipes */
    return rc;
}

void nkey_free(nkey *k)
{
    if (k != NULL) {
        (void)sodium_mprotect_readwrite(k);
        sodium_free(k); /* wipes before it unmaps */
    }
}

void nkey_lock(nkey *k)
{
    (void)sodium_mprotect_noaccess(k);
}

void nkey_unlock(nkey *k)
{
    (void)sodium_mprotect_readonly(k);
}

nkey_type nkey_get_type(const nkey *k)
{
    return k->type;
}

void nkey_public(const nkey *k, char *out)
{
    uint8_t raw[RAW_PUBLIC];
    raw[0] = (uint8_t)k->type;
    memcpy(raw + 1, k->pk, 32);
    uint16_t crc = nkey_crc16(raw, 33);
    raw[33] = (uint8_t)(crc & 0xff);
    raw[34] = (uint8_t)(crc >> 8);
    nkey_base32_encode(raw, sizeof raw, out);
}

void nkey_seed(const nkey *k, char *out)
{
    uint8_t raw[RAW_SEED];
    raw[0] = (uint8_t)(PREFIX_SEED | ((unsigned)k->type >> 5));
    raw[1] = (uint8_t)(((unsigned)k->type & 31) << 3);
    memcpy(raw + 2, k->seed, 32);
    uint16_t crc = nkey_crc16(raw, 34);
    raw[34] = (uint8_t)(crc & 0xff);
    raw[35] = (uint8_t)(crc >> 8);
    nkey_base32_encode(raw, sizeof raw, out);
    sodium_memzero(raw, sizeof raw);
}

void nkey_sign(const nkey *k, const uint8_t *msg, size_t len, uint8_t sig[NKEY_SIG_LEN])
{
    (void)crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

bool nkey_decode_public(const char *text, nkey_type *type, uint8_t raw_key[32])
{
    uint8_t raw[RAW_PUBLIC + 8];
    if (text == NULL || strlen(text) != NKEY_PUBLIC_LEN ||
        nkey_base32_decode(text, NKEY_PUBLIC_LEN, raw) != RAW_PUBLIC)
        return false;
    uint16_t crc = (uint16_t)(raw[33] | (raw[34] << 8));
    if (nkey_crc16(raw, 33) != crc || !type_known(raw[0]))
        return false;
    if (type != NULL)
        *type = (nkey_type)raw[0];
    if (raw_key != NULL)
        memcpy(raw_key, raw + 1, 32);
    return true;
}

bool nkey_public_valid(const char *text, nkey_type type)
{
    nkey_type t;
    return nkey_decode_public(text, &t, NULL) && t == type;
}
