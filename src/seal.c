/* seal.c - key material: the master key, the keyring, hashing and sealing.
 *
 * Every key byte lives in sodium_malloc memory (guard pages, mlock'd, wiped on
 * sodium_free). The master key is sodium_mprotect_noaccess()'d while idle and
 * made readable only for the few microseconds of a wrap or unwrap. The keyring
 * is sodium_mprotect_readonly()'d while idle: readers (hash, encrypt, decrypt)
 * only read it, so any number of threads may use it at once; add and
 * retain_only flip it to read-write and back, and the vault calls them under
 * its own write lock, never concurrently with readers.
 *
 * Wrapped keyring blob (format 1):
 *   "VCKR" | 0x01 | nonce[24] | XChaCha20-Poly1305(serialised keyring, tag 16)
 * with the 5 header bytes as associated data, so a changed magic or format
 * byte fails authentication too. Serialised keyring (little-endian):
 *   index_key[32] | audit_key[32] | current u32 | count u32 |
 *   count * (version u32 | key[32])
 */
#include "seal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "fileperm.h"
#include "le.h"
#include "secretfile.h"

#define SEAL_MAX_VERSIONS 64
#define SEAL_KEYFILE_MAX  1024 /* a key file holds 44 characters; be generous */

#define BLOB_MAGIC  "VCKR"
#define BLOB_FORMAT 1
#define BLOB_HEADER 5 /* magic + format byte */
#define BLOB_NONCE  crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define BLOB_TAG    crypto_aead_xchacha20poly1305_ietf_ABYTES

#define SER_FIXED (SEAL_KEY_BYTES * 2 + 4 + 4)
#define SER_ENTRY (4 + SEAL_KEY_BYTES)
#define SER_MAX   (SER_FIXED + SER_ENTRY * SEAL_MAX_VERSIONS)

_Static_assert(SEAL_OVERHEAD == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                    crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "SEAL_OVERHEAD must match the AEAD's nonce + tag");
_Static_assert(SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "data keys are AEAD keys");
_Static_assert(SEAL_KEY_BYTES == crypto_auth_hmacsha256_KEYBYTES,
               "audit key is an HMAC-SHA-256 key");
_Static_assert(SEAL_HASH_BYTES >= crypto_generichash_BYTES_MIN &&
                   SEAL_HASH_BYTES <= crypto_generichash_BYTES_MAX,
               "name hash length must suit BLAKE2b");
_Static_assert(SEAL_AUDIT_HEX == crypto_auth_hmacsha256_BYTES * 2 + 1,
               "audit hash is hex of an HMAC-SHA-256 + NUL");

struct seal_master {
    uint8_t *key; /* SEAL_KEY_BYTES, sodium_malloc, noaccess while idle */
};

struct seal_slot {
    uint32_t version;
    uint8_t key[SEAL_KEY_BYTES];
};

/* Allocated whole with sodium_malloc; readonly while idle. Slots
 * [0, count) are in use, sorted by ascending version. */
struct seal_keyring {
    uint8_t index_key[SEAL_KEY_BYTES];
    uint8_t audit_key[SEAL_KEY_BYTES];
    /* HMAC-SHA-256 keyed with audit_key, its key blocks already absorbed
     * (keyring_keyed): an audit hash copies it and hashes only the name,
     * instead of hashing the two key blocks again for every request. */
    crypto_auth_hmacsha256_state audit_mac;
    uint32_t current;
    uint32_t count;
    struct seal_slot slot[SEAL_MAX_VERSIONS];
};

/* The master key page flips between noaccess and readonly; two threads
 * wrapping at once must not let one re-protect the page under the other.
 * It is touched rarely (start-up, rotation, rekey), so one lock is enough. */
static pthread_mutex_t master_lock = PTHREAD_MUTEX_INITIALIZER;

vc_code seal_init(vc_err *err)
{
    if (sodium_init() < 0)
        return vc_errf(err, VC_INTERNAL, "libsodium failed to initialise");
    return VC_OK;
}

/* ---- master key --------------------------------------------------------- */

static const char *what_or_default(const char *what)
{
    return what != NULL ? what : "(in memory)";
}

/* Decodes text as base64 in any of the four accepted spellings into bin
 * (capacity cap); *bin_len gets the decoded length. -1 if none fits. */
static int b64_decode_any(uint8_t *bin, size_t cap, const char *text, size_t len, size_t *bin_len)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL,
        sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE,
        sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        /* b64_end NULL: the whole text must be consumed. */
        if (sodium_base642bin(bin, cap, text, len, NULL, bin_len, NULL, variants[i]) == 0)
            return 0;
    }
    sodium_memzero(bin, cap);
    return -1;
}

/* The key from text that is the base64 alone (no newline). */
static vc_code master_from_b64(seal_master **out, const char *text, size_t len, const char *what,
                               vc_err *err)
{
    seal_master *m = NULL;
    uint8_t *bin = NULL;
    size_t bin_len = 0;
    vc_code rc;

    if (len == 0)
        return vc_errf(err, VC_CONFIG, "master key %s: is empty", what);
    if (len > SEAL_KEYFILE_MAX)
        return vc_errf(err, VC_CONFIG,
                       "master key %s: too long (%zu bytes); expected base64 "
                       "of %d bytes",
                       what, len, SEAL_KEY_BYTES);

    /* Decoded bytes never outnumber characters, so len is room enough to
     * report how many bytes a wrong-length key holds. */
    bin = sodium_malloc(len);
    if (bin == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "master key %s: out of memory", what);
        goto fail;
    }
    if (b64_decode_any(bin, len, text, len, &bin_len) != 0) {
        rc = vc_errf(err, VC_CONFIG,
                     "master key %s: not valid base64 (expected base64 of "
                     "%d bytes, optionally followed by a newline)",
                     what, SEAL_KEY_BYTES);
        goto fail;
    }
    if (bin_len != SEAL_KEY_BYTES) {
        rc = vc_errf(err, VC_CONFIG,
                     "master key %s: expected base64 of %d bytes, got %zu "
                     "bytes",
                     what, SEAL_KEY_BYTES, bin_len);
        goto fail;
    }

    m = calloc(1, sizeof *m);
    if (m == NULL || (m->key = sodium_malloc(SEAL_KEY_BYTES)) == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "master key %s: out of memory", what);
        goto fail;
    }
    memcpy(m->key, bin, SEAL_KEY_BYTES);
    if (sodium_mprotect_noaccess(m->key) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "master key %s: cannot protect key memory", what);
        goto fail;
    }
    sodium_free(bin); /* sodium_free wipes */
    *out = m;
    return VC_OK;

fail:
    sodium_free(bin);
    seal_master_free(m);
    return rc;
}

vc_code seal_master_parse(seal_master **out, const char *text, size_t len, const char *what,
                          vc_err *err)
{
    *out = NULL;
    what = what_or_default(what);

    /* One trailing newline, "\n" or "\r\n", is allowed; nothing else. */
    if (len > 0 && text[len - 1] == '\n') {
        len--;
        if (len > 0 && text[len - 1] == '\r')
            len--;
    }
    return master_from_b64(out, text, len, what, err);
}

vc_code seal_master_load(seal_master **out, const char *path, bool *warn_perm, vc_err *err)
{
    char *text = NULL;
    size_t len = 0;
    mode_t mode = 0;
    vc_err e;
    vc_code rc;

    *out = NULL;
    if (warn_perm != NULL)
        *warn_perm = false;
    /* secretfile's rule (secretfile.h): not a link, a regular file, owned
     * by us or root and not writable by group or others, one trailing
     * newline removed, not empty. */
    rc = secretfile_read(path, SEAL_KEYFILE_MAX, &text, &len, &mode, &e);
    if (rc != VC_OK)
        return vc_errf(err, rc, "master key %s", e.msg);
    /* Writable by group or others, or owned by another user (not root),
     * secretfile_read has refused; readable is worth a warning only. */
    if (warn_perm != NULL && fileperm_warn_readable(path, mode))
        *warn_perm = true;
    rc = master_from_b64(out, text, len, path, err);
    secretfile_free(text);
    return rc;
}

void seal_master_free(seal_master *m)
{
    if (m == NULL)
        return;
    sodium_free(m->key); /* lifts the protection, wipes, unmaps */
    free(m);
}

/* Makes the master key readable for the caller until master_release. */
static vc_code master_acquire(const seal_master *m, vc_err *err)
{
    (void)pthread_mutex_lock(&master_lock);
    if (sodium_mprotect_readonly(m->key) != 0) {
        (void)pthread_mutex_unlock(&master_lock);
        return vc_errf(err, VC_INTERNAL, "cannot unprotect master key memory");
    }
    return VC_OK;
}

static void master_release(const seal_master *m)
{
    /* Failing to re-protect leaves the key readable but still correct;
     * nothing a caller could do about it, so it is not an error. */
    (void)sodium_mprotect_noaccess(m->key);
    (void)pthread_mutex_unlock(&master_lock);
}

vc_code seal_keygen_b64(char *out, size_t cap, vc_err *err)
{
    uint8_t *key;

    if (cap < sodium_base64_ENCODED_LEN(SEAL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL))
        return vc_errf(err, VC_INTERNAL, "keygen: output buffer too small");
    key = sodium_malloc(SEAL_KEY_BYTES);
    if (key == NULL)
        return vc_errf(err, VC_INTERNAL, "keygen: out of memory");
    randombytes_buf(key, SEAL_KEY_BYTES);
    sodium_bin2base64(out, cap, key, SEAL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    sodium_free(key); /* wipes */
    return VC_OK;
}

/* ---- keyring ------------------------------------------------------------ */

static seal_keyring *keyring_alloc(void)
{
    seal_keyring *k = sodium_malloc(sizeof *k);
    if (k != NULL)
        sodium_memzero(k, sizeof *k);
    return k;
}

/* Slot holding version v, or NULL. */
static const struct seal_slot *keyring_find(const seal_keyring *k, uint32_t v)
{
    for (uint32_t i = 0; i < k->count; i++) {
        if (k->slot[i].version == v)
            return &k->slot[i];
    }
    return NULL;
}

/* Derives what the keyring keeps from its keys (audit_mac); k writable. */
static void keyring_keyed(seal_keyring *k)
{
    (void)crypto_auth_hmacsha256_init(&k->audit_mac, k->audit_key, sizeof k->audit_key);
}

vc_code seal_keyring_create(seal_keyring **out, vc_err *err)
{
    seal_keyring *k = keyring_alloc();

    *out = NULL;
    if (k == NULL)
        return vc_errf(err, VC_INTERNAL, "keyring: out of memory");
    randombytes_buf(k->index_key, sizeof k->index_key);
    randombytes_buf(k->audit_key, sizeof k->audit_key);
    keyring_keyed(k);
    k->slot[0].version = 1;
    randombytes_buf(k->slot[0].key, sizeof k->slot[0].key);
    k->count = 1;
    k->current = 1;
    if (sodium_mprotect_readonly(k) != 0) {
        sodium_free(k);
        return vc_errf(err, VC_INTERNAL, "keyring: cannot protect memory");
    }
    *out = k;
    return VC_OK;
}

void seal_keyring_free(seal_keyring *k)
{
    sodium_free(k); /* NULL is fine; lifts protection and wipes */
}

/* Serialises k into buf (room for SER_MAX); returns the length. */
static size_t keyring_serialise(const seal_keyring *k, uint8_t *buf)
{
    uint8_t *p = buf;

    memcpy(p, k->index_key, SEAL_KEY_BYTES);
    p += SEAL_KEY_BYTES;
    memcpy(p, k->audit_key, SEAL_KEY_BYTES);
    p += SEAL_KEY_BYTES;
    le_put_u32(p, k->current);
    p += 4;
    le_put_u32(p, k->count);
    p += 4;
    for (uint32_t i = 0; i < k->count; i++) {
        le_put_u32(p, k->slot[i].version);
        p += 4;
        memcpy(p, k->slot[i].key, SEAL_KEY_BYTES);
        p += SEAL_KEY_BYTES;
    }
    return (size_t)(p - buf);
}

/* Fills the (writable, zeroed) keyring k from buf; -1 if buf is not a
 * well-formed keyring: wrong length, too many versions, versions not
 * strictly ascending, or current not among them. */
static int keyring_deserialise(seal_keyring *k, const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t count;

    if (len < SER_FIXED)
        return -1;
    memcpy(k->index_key, p, SEAL_KEY_BYTES);
    p += SEAL_KEY_BYTES;
    memcpy(k->audit_key, p, SEAL_KEY_BYTES);
    p += SEAL_KEY_BYTES;
    k->current = le_get_u32(p);
    p += 4;
    count = le_get_u32(p);
    p += 4;
    if (count == 0 || count > SEAL_MAX_VERSIONS || len != SER_FIXED + (size_t)count * SER_ENTRY)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        k->slot[i].version = le_get_u32(p);
        p += 4;
        memcpy(k->slot[i].key, p, SEAL_KEY_BYTES);
        p += SEAL_KEY_BYTES;
        if (k->slot[i].version == 0 || (i > 0 && k->slot[i].version <= k->slot[i - 1].version))
            return -1;
    }
    k->count = count;
    return keyring_find(k, k->current) != NULL ? 0 : -1;
}

vc_code seal_keyring_wrap(const seal_keyring *k, const seal_master *m, uint8_t **blob,
                          size_t *blob_len, vc_err *err)
{
    uint8_t *pt = NULL, *b = NULL;
    unsigned long long clen = 0;
    size_t pt_len, len;
    vc_code rc;

    *blob = NULL;
    *blob_len = 0;
    pt = sodium_malloc(SER_MAX);
    if (pt == NULL)
        return vc_errf(err, VC_INTERNAL, "keyring wrap: out of memory");
    pt_len = keyring_serialise(k, pt);
    len = BLOB_HEADER + BLOB_NONCE + pt_len + BLOB_TAG;
    b = malloc(len);
    if (b == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "keyring wrap: out of memory");
        goto fail;
    }
    memcpy(b, BLOB_MAGIC, 4);
    b[4] = BLOB_FORMAT;
    randombytes_buf(b + BLOB_HEADER, BLOB_NONCE);

    rc = master_acquire(m, err);
    if (rc != VC_OK)
        goto fail;
    (void)crypto_aead_xchacha20poly1305_ietf_encrypt(b + BLOB_HEADER + BLOB_NONCE, &clen, pt,
                                                     pt_len, b, BLOB_HEADER, NULL, b + BLOB_HEADER,
                                                     m->key);
    master_release(m);

    sodium_free(pt); /* wipes */
    *blob = b;
    *blob_len = len;
    return VC_OK;

fail:
    sodium_free(pt);
    free(b);
    return rc;
}

vc_code seal_keyring_unwrap(seal_keyring **out, const seal_master *m, const uint8_t *blob,
                            size_t blob_len, vc_err *err)
{
    const size_t min = BLOB_HEADER + BLOB_NONCE + SER_FIXED + SER_ENTRY + BLOB_TAG;
    const size_t max = BLOB_HEADER + BLOB_NONCE + SER_MAX + BLOB_TAG;
    seal_keyring *k = NULL;
    uint8_t *pt = NULL;
    unsigned long long pt_len = 0;
    int dec;
    vc_code rc;

    *out = NULL;
    if (blob_len < min || blob_len > max)
        return vc_errf(err, VC_INTERNAL, "keyring blob: malformed (%zu bytes)", blob_len);
    if (memcmp(blob, BLOB_MAGIC, 4) != 0)
        return vc_errf(err, VC_INTERNAL, "keyring blob: bad magic");
    if (blob[4] != BLOB_FORMAT)
        return vc_errf(err, VC_INTERNAL, "keyring blob: unknown format %u", (unsigned)blob[4]);

    pt = sodium_malloc(SER_MAX);
    k = keyring_alloc();
    if (pt == NULL || k == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "keyring unwrap: out of memory");
        goto fail;
    }
    rc = master_acquire(m, err);
    if (rc != VC_OK)
        goto fail;
    dec = crypto_aead_xchacha20poly1305_ietf_decrypt(
        pt, &pt_len, NULL, blob + BLOB_HEADER + BLOB_NONCE, blob_len - BLOB_HEADER - BLOB_NONCE,
        blob, BLOB_HEADER, blob + BLOB_HEADER, m->key);
    master_release(m);
    if (dec != 0) {
        /* Wrong key and tampered bytes look the same to an AEAD; the
         * likely cause is the key, and that is what the user can fix. */
        rc = vc_errf(err, VC_ACCESS_DENIED, "master key does not open the keyring");
        goto fail;
    }
    if (keyring_deserialise(k, pt, (size_t)pt_len) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "keyring blob: malformed contents");
        goto fail;
    }
    keyring_keyed(k);
    if (sodium_mprotect_readonly(k) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "keyring: cannot protect memory");
        goto fail;
    }
    sodium_free(pt); /* wipes */
    *out = k;
    return VC_OK;

fail:
    sodium_free(pt);
    sodium_free(k);
    return rc;
}

uint32_t seal_keyring_current(const seal_keyring *k)
{
    return k->current;
}

bool seal_keyring_has(const seal_keyring *k, uint32_t v)
{
    return keyring_find(k, v) != NULL;
}

size_t seal_keyring_count(const seal_keyring *k)
{
    return k->count;
}

vc_code seal_keyring_add(seal_keyring *k, uint32_t *new_version, vc_err *err)
{
    uint32_t v;

    if (k->count >= SEAL_MAX_VERSIONS)
        return vc_errf(err, VC_INTERNAL, "keyring holds the maximum of %d data key versions",
                       SEAL_MAX_VERSIONS);
    /* Versions only grow: the new one is above every version held. */
    v = k->slot[k->count - 1].version;
    if (k->current > v)
        v = k->current;
    if (v == UINT32_MAX)
        return vc_errf(err, VC_INTERNAL, "keyring: data key versions exhausted");
    v++;
    if (sodium_mprotect_readwrite(k) != 0)
        return vc_errf(err, VC_INTERNAL, "keyring: cannot unprotect memory");
    k->slot[k->count].version = v;
    randombytes_buf(k->slot[k->count].key, SEAL_KEY_BYTES);
    k->count++;
    k->current = v;
    (void)sodium_mprotect_readonly(k);
    if (new_version != NULL)
        *new_version = v;
    return VC_OK;
}

void seal_keyring_retain_only(seal_keyring *k, uint32_t keep)
{
    uint32_t idx = 0;

    /* A version not held would leave no key at all: keep everything. */
    if (keyring_find(k, keep) == NULL)
        return;
    if (sodium_mprotect_readwrite(k) != 0)
        return;
    while (k->slot[idx].version != keep)
        idx++;
    if (idx != 0)
        memcpy(&k->slot[0], &k->slot[idx], sizeof k->slot[0]);
    sodium_memzero(&k->slot[1], sizeof k->slot - sizeof k->slot[0]);
    k->count = 1;
    /* The vault keeps the current version; should it keep another, the
     * kept key becomes current (encryption needs a key that exists). */
    k->current = keep;
    (void)sodium_mprotect_readonly(k);
}

/* ---- hashing and sealing ------------------------------------------------ */

void seal_name_hash(const seal_keyring *k, const char *name, size_t len,
                    uint8_t out[SEAL_HASH_BYTES])
{
    (void)crypto_generichash(out, SEAL_HASH_BYTES, (const uint8_t *)name, len, k->index_key,
                             sizeof k->index_key);
}

void seal_audit_hash(const seal_keyring *k, const char *name, size_t len, char out[SEAL_AUDIT_HEX])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st = k->audit_mac; /* keyed already */

    (void)crypto_auth_hmacsha256_update(&st, (const uint8_t *)name, len);
    (void)crypto_auth_hmacsha256_final(&st, mac);
    (void)sodium_bin2hex(out, SEAL_AUDIT_HEX, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(mac, sizeof mac);
}

vc_code seal_encrypt(const seal_keyring *k, uint32_t version, const uint8_t *ad, size_t ad_len,
                     const uint8_t *pt, size_t pt_len, uint8_t *out, vc_err *err)
{
    const struct seal_slot *s = keyring_find(k, version);
    unsigned long long clen = 0;

    if (s == NULL)
        return vc_errf(err, VC_INTERNAL, "data key version %u is not in the keyring",
                       (unsigned)version);
    randombytes_buf(out, BLOB_NONCE);
    (void)crypto_aead_xchacha20poly1305_ietf_encrypt(out + BLOB_NONCE, &clen, pt, pt_len, ad,
                                                     ad_len, NULL, out, s->key);
    return VC_OK;
}

vc_code seal_decrypt(const seal_keyring *k, uint32_t version, const uint8_t *ad, size_t ad_len,
                     const uint8_t *ct, size_t ct_len, uint8_t *out, vc_err *err)
{
    const struct seal_slot *s;
    unsigned long long mlen = 0;

    if (ct_len < SEAL_OVERHEAD)
        return vc_errf(err, VC_INTERNAL, "record too short (%zu bytes)", ct_len);
    s = keyring_find(k, version);
    if (s == NULL) {
        sodium_memzero(out, ct_len - SEAL_OVERHEAD);
        return vc_errf(err, VC_INTERNAL, "data key version %u is not in the keyring",
                       (unsigned)version);
    }
    /* libsodium verifies the tag before it decrypts a byte. */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &mlen, NULL, ct + BLOB_NONCE, ct_len - BLOB_NONCE, ad, ad_len, ct, s->key) != 0) {
        sodium_memzero(out, ct_len - SEAL_OVERHEAD);
        return vc_errf(err, VC_INTERNAL, "record failed authentication");
    }
    return VC_OK;
}
