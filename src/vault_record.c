/* vault_record.c - one vault record: its header codec, the associated data
 * that binds header and name hash, sealing and opening, and the plaintext
 * layout (see the on-store layout in vault_int.h). No storage calls, no
 * locks: the caller brings the keyring and the bytes.
 */
#include "vault_int.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "le.h"

#define VREC_HDR_BYTES 29 /* 1 + 4 + 8 + 8 + 8 */
#define VREC_AD_BYTES  (VREC_HDR_BYTES + SEAL_HASH_BYTES)

vc_code vrec_check_name(const char *name, size_t name_len, vc_err *err)
{
    if (name == NULL || name_len == 0 || name_len > UINT32_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "key name must not be empty");
    return VC_OK;
}

static void vrec_hdr_encode(const vrec_hdr *h, uint8_t out[VREC_HDR_BYTES])
{
    out[0] = VAULT_FORMAT;
    le_put_u32(out + 1, h->key_version);
    le_put_u64(out + 5, h->version);
    le_put_u64(out + 13, (uint64_t)h->created_at);
    le_put_u64(out + 21, (uint64_t)h->updated_at);
}

bool vrec_hdr_decode(const uint8_t *val, size_t len, vrec_hdr *h)
{
    if (len < VREC_HDR_BYTES + SEAL_OVERHEAD + 4 || val[0] != VAULT_FORMAT)
        return false;
    h->key_version = le_get_u32(val + 1);
    h->version = le_get_u64(val + 5);
    h->created_at = (int64_t)le_get_u64(val + 13);
    h->updated_at = (int64_t)le_get_u64(val + 21);
    return true;
}

bool vrec_peek_key_version(const uint8_t *val, size_t len, uint32_t *key_version)
{
    if (len <= 4 || val[0] != VAULT_FORMAT)
        return false;
    *key_version = le_get_u32(val + 1);
    return true;
}

static void vrec_make_ad(uint8_t ad[VREC_AD_BYTES], const vrec_hdr *h,
                         const uint8_t hash[SEAL_HASH_BYTES])
{
    vrec_hdr_encode(h, ad);
    memcpy(ad + VREC_HDR_BYTES, hash, SEAL_HASH_BYTES);
}

vc_code vrec_plaintext_build(const char *name, size_t name_len, const char *value, size_t value_len,
                             uint8_t **pt, size_t *pt_len, vc_err *err)
{
    uint8_t *p;
    if (value_len > SIZE_MAX / 2 - name_len - 4)
        return vc_errf(err, VC_TOO_LARGE, "value too large");
    p = malloc(4 + name_len + value_len);
    if (p == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    le_put_u32(p, (uint32_t)name_len);
    memcpy(p + 4, name, name_len);
    if (value_len > 0)
        memcpy(p + 4 + name_len, value, value_len);
    *pt = p;
    *pt_len = 4 + name_len + value_len;
    return VC_OK;
}

void vrec_pt_split(const uint8_t *pt, size_t pt_len, const uint8_t **name, size_t *name_len,
                   const uint8_t **value, size_t *value_len)
{
    size_t nlen = le_get_u32(pt); /* vrec_open checked nlen <= pt_len - 4 */
    *name = pt + 4;
    *name_len = nlen;
    *value = pt + 4 + nlen;
    *value_len = pt_len - 4 - nlen;
}

void vrec_pt_free(uint8_t *pt, size_t pt_len)
{
    if (pt != NULL) {
        sodium_memzero(pt, pt_len);
        free(pt);
    }
}

vc_code vrec_seal(const seal_keyring *kr, const vrec_hdr *h, const uint8_t hash[SEAL_HASH_BYTES],
                  const uint8_t *pt, size_t pt_len, uint8_t **rec, size_t *rec_len, vc_err *err)
{
    uint8_t ad[VREC_AD_BYTES];
    size_t len;
    uint8_t *buf;
    vc_code rc;

    if (pt_len > SIZE_MAX - VREC_AD_BYTES - SEAL_OVERHEAD)
        return vc_errf(err, VC_TOO_LARGE, "value too large");
    len = VREC_HDR_BYTES + pt_len + SEAL_OVERHEAD;
    buf = malloc(len);
    if (buf == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    vrec_make_ad(ad, h, hash);
    memcpy(buf, ad, VREC_HDR_BYTES);
    rc = seal_encrypt(kr, h->key_version, ad, sizeof ad, pt, pt_len, buf + VREC_HDR_BYTES, err);
    if (rc != VC_OK) {
        free(buf);
        return rc;
    }
    *rec = buf;
    *rec_len = len;
    return VC_OK;
}

vc_code vrec_open(vault *v, store_txn *t, vkr_ref *kr, const uint8_t hash[SEAL_HASH_BYTES],
                  const uint8_t *val, size_t val_len, vrec_hdr *h, uint8_t **pt, size_t *pt_len,
                  vc_err *err)
{
    uint8_t ad[VREC_AD_BYTES];
    uint8_t *buf;
    size_t len, nlen;

    if (!vrec_hdr_decode(val, val_len, h))
        goto bad;
    if (!seal_keyring_has(kr->kr, h->key_version) && !kr->priv) {
        if (vkr_reload_private(v, t, kr, err) != VC_OK)
            return VC_INTERNAL;
    }
    if (!seal_keyring_has(kr->kr, h->key_version))
        goto bad;
    len = val_len - VREC_HDR_BYTES - SEAL_OVERHEAD;
    buf = malloc(len);
    if (buf == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    vrec_make_ad(ad, h, hash);
    if (seal_decrypt(kr->kr, h->key_version, ad, sizeof ad, val + VREC_HDR_BYTES,
                     val_len - VREC_HDR_BYTES, buf, err) != VC_OK) {
        vrec_pt_free(buf, len);
        goto bad;
    }
    nlen = le_get_u32(buf);
    if (nlen > len - 4) {
        vrec_pt_free(buf, len);
        goto bad;
    }
    *pt = buf;
    *pt_len = len;
    return VC_OK;
bad:
    return vc_errf(err, VC_INTERNAL, "record failed to open");
}
