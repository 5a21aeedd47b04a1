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

#define VREC_HDR1_BYTES 29 /* format 1: 1 + 4 + 8 + 8 + 8 */
#define VREC_HDR_BYTES  37 /* format 2: format 1 + expires_at 8 */
#define VREC_AD_BYTES   (VREC_HDR_BYTES + SEAL_HASH_BYTES)

vc_code vrec_check_name(const char *name, size_t name_len, vc_err *err)
{
    if (name == NULL || name_len == 0 || name_len > UINT32_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "key name must not be empty");
    return VC_OK;
}

static size_t hdr_bytes(uint8_t format)
{
    return format == VAULT_FORMAT_V1 ? VREC_HDR1_BYTES : VREC_HDR_BYTES;
}

/* Encodes h in its own format (h->format); returns the header's length. */
static size_t vrec_hdr_encode(const vrec_hdr *h, uint8_t out[VREC_HDR_BYTES])
{
    out[0] = h->format;
    le_put_u32(out + 1, h->key_version);
    le_put_u64(out + 5, h->version);
    le_put_u64(out + 13, (uint64_t)h->created_at);
    le_put_u64(out + 21, (uint64_t)h->updated_at);
    if (h->format == VAULT_FORMAT_V1)
        return VREC_HDR1_BYTES;
    le_put_u64(out + 29, (uint64_t)h->expires_at);
    return VREC_HDR_BYTES;
}

bool vrec_hdr_decode(const uint8_t *val, size_t len, vrec_hdr *h)
{
    if (len < 1 || (val[0] != VAULT_FORMAT && val[0] != VAULT_FORMAT_V1) ||
        len < hdr_bytes(val[0]) + SEAL_OVERHEAD + 4)
        return false;
    h->format = val[0];
    h->key_version = le_get_u32(val + 1);
    h->version = le_get_u64(val + 5);
    h->created_at = (int64_t)le_get_u64(val + 13);
    h->updated_at = (int64_t)le_get_u64(val + 21);
    h->expires_at = val[0] == VAULT_FORMAT_V1 ? 0 : (int64_t)le_get_u64(val + 29);
    return true;
}

bool vrec_peek_key_version(const uint8_t *val, size_t len, uint32_t *key_version)
{
    if (len <= 4 || (val[0] != VAULT_FORMAT && val[0] != VAULT_FORMAT_V1))
        return false;
    *key_version = le_get_u32(val + 1);
    return true;
}

/* AD = header (in h's format) || name hash; returns its length. */
static size_t vrec_make_ad(uint8_t ad[VREC_AD_BYTES], const vrec_hdr *h,
                           const uint8_t hash[SEAL_HASH_BYTES])
{
    size_t n = vrec_hdr_encode(h, ad);
    memcpy(ad + n, hash, SEAL_HASH_BYTES);
    return n + SEAL_HASH_BYTES;
}

static void be_put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(x & 0xff);
        x >>= 8;
    }
}

static uint64_t be_get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | p[i];
    return x;
}

void vhist_key(uint8_t out[VHIST_KEY_BYTES], const uint8_t hash[SEAL_HASH_BYTES], uint64_t version)
{
    memcpy(out, hash, SEAL_HASH_BYTES);
    be_put_u64(out + SEAL_HASH_BYTES, version);
}

void vexp_key(uint8_t out[VEXP_KEY_BYTES], int64_t expires_at, const uint8_t hash[SEAL_HASH_BYTES])
{
    be_put_u64(out, (uint64_t)expires_at);
    memcpy(out + 8, hash, SEAL_HASH_BYTES);
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
    size_t len, ad_len;
    uint8_t *buf;
    vrec_hdr cur = *h;
    vc_code rc;

    cur.format = VAULT_FORMAT; /* every record written is of the current format */
    if (pt_len > SIZE_MAX - VREC_AD_BYTES - SEAL_OVERHEAD)
        return vc_errf(err, VC_TOO_LARGE, "value too large");
    len = VREC_HDR_BYTES + pt_len + SEAL_OVERHEAD;
    buf = malloc(len);
    if (buf == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    ad_len = vrec_make_ad(ad, &cur, hash);
    memcpy(buf, ad, VREC_HDR_BYTES);
    rc = seal_encrypt(kr, cur.key_version, ad, ad_len, pt, pt_len, buf + VREC_HDR_BYTES, err);
    if (rc != VC_OK) {
        free(buf);
        return rc;
    }
    *rec = buf;
    *rec_len = len;
    return VC_OK;
}

/* vrec_open without the message: *why says what failed to open. */
static vc_code vrec_open_why(vault *v, store_txn *t, vkr_ref *kr,
                             const uint8_t hash[SEAL_HASH_BYTES], const uint8_t *val,
                             size_t val_len, vrec_hdr *h, bool *hdr_ok, uint8_t **pt,
                             size_t *pt_len, vault_damage *why, vc_err *err)
{
    uint8_t ad[VREC_AD_BYTES];
    uint8_t *buf;
    size_t len, nlen, hlen, ad_len;

    *hdr_ok = false;
    if (!vrec_hdr_decode(val, val_len, h)) {
        *why = VAULT_DAMAGE_HEADER;
        return VC_OK;
    }
    *hdr_ok = true;
    if (!seal_keyring_has(kr->kr, h->key_version) && !kr->priv) {
        if (vkr_reload_private(v, t, kr, err) != VC_OK)
            return VC_INTERNAL;
    }
    if (!seal_keyring_has(kr->kr, h->key_version)) {
        *why = VAULT_DAMAGE_KEY_VERSION;
        return VC_OK;
    }
    hlen = hdr_bytes(h->format);
    len = val_len - hlen - SEAL_OVERHEAD;
    buf = malloc(len);
    if (buf == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    ad_len = vrec_make_ad(ad, h, hash);
    if (seal_decrypt(kr->kr, h->key_version, ad, ad_len, val + hlen, val_len - hlen, buf, err) !=
        VC_OK) {
        vrec_pt_free(buf, len);
        *why = VAULT_DAMAGE_AUTH;
        return VC_OK;
    }
    nlen = le_get_u32(buf);
    if (nlen > len - 4) {
        vrec_pt_free(buf, len);
        *why = VAULT_DAMAGE_LAYOUT;
        return VC_OK;
    }
    *pt = buf;
    *pt_len = len;
    *why = VAULT_RECORD_SOUND;
    return VC_OK;
}

vc_code vrec_open(vault *v, store_txn *t, vkr_ref *kr, const uint8_t hash[SEAL_HASH_BYTES],
                  const uint8_t *val, size_t val_len, vrec_hdr *h, uint8_t **pt, size_t *pt_len,
                  vc_err *err)
{
    vault_damage why = VAULT_RECORD_SOUND;
    bool hdr_ok;
    vc_code rc = vrec_open_why(v, t, kr, hash, val, val_len, h, &hdr_ok, pt, pt_len, &why, err);
    if (rc != VC_OK)
        return rc;
    if (why != VAULT_RECORD_SOUND)
        return vc_errf(err, VC_INTERNAL, "record failed to open");
    return VC_OK;
}

vc_code vrec_inspect(vault *v, store_txn *t, vkr_ref *kr, const uint8_t *key, size_t key_len,
                     const uint8_t *val, size_t val_len, vrec_hdr *h, bool *hdr_ok, uint8_t **pt,
                     size_t *pt_len, vault_damage *why, vc_err *err)
{
    uint8_t again[SEAL_HASH_BYTES];
    const uint8_t *name, *value;
    size_t nlen, vlen;
    vc_code rc;

    *pt = NULL;
    *pt_len = 0;
    *hdr_ok = false;
    if (key_len != SEAL_HASH_BYTES) {
        *why = VAULT_DAMAGE_STORE_KEY;
        return VC_OK;
    }
    rc = vrec_open_why(v, t, kr, key, val, val_len, h, hdr_ok, pt, pt_len, why, err);
    if (rc != VC_OK || *why != VAULT_RECORD_SOUND)
        return rc;
    /* The associated data binds the record to its store key; the name sealed
     * inside must hash to that key too, or get would never find it. */
    vrec_pt_split(*pt, *pt_len, &name, &nlen, &value, &vlen);
    if (nlen > 0)
        seal_name_hash(kr->kr, (const char *)name, nlen, again);
    if (nlen == 0 || sodium_memcmp(again, key, SEAL_HASH_BYTES) != 0) {
        vrec_pt_free(*pt, *pt_len);
        *pt = NULL;
        *pt_len = 0;
        *why = nlen == 0 ? VAULT_DAMAGE_LAYOUT : VAULT_DAMAGE_NAME;
    }
    sodium_memzero(again, sizeof again);
    return VC_OK;
}

vc_code vhist_inspect(vault *v, store_txn *t, vkr_ref *kr, const uint8_t *key, size_t key_len,
                      const uint8_t *val, size_t val_len, vrec_hdr *h, bool *hdr_ok, uint8_t **pt,
                      size_t *pt_len, vault_damage *why, vc_err *err)
{
    vc_code rc;

    *pt = NULL;
    *pt_len = 0;
    *hdr_ok = false;
    if (key_len != VHIST_KEY_BYTES) {
        *why = VAULT_DAMAGE_STORE_KEY;
        return VC_OK;
    }
    rc =
        vrec_inspect(v, t, kr, key, SEAL_HASH_BYTES, val, val_len, h, hdr_ok, pt, pt_len, why, err);
    if (rc != VC_OK || *why != VAULT_RECORD_SOUND)
        return rc;
    /* The version is authenticated (in the AD); the store key must say the
     * same, or a get of one version would hand out another. */
    if (h->version != be_get_u64(key + SEAL_HASH_BYTES)) {
        vrec_pt_free(*pt, *pt_len);
        *pt = NULL;
        *pt_len = 0;
        *why = VAULT_DAMAGE_STORE_KEY;
    }
    return VC_OK;
}

void vrec_hex(const uint8_t *key, size_t key_len, char out[VREC_HEX_MAX])
{
    if (key_len > VAULT_RECORD_HASH_MAX)
        key_len = VAULT_RECORD_HASH_MAX;
    (void)sodium_bin2hex(out, VREC_HEX_MAX, key, key_len);
}
