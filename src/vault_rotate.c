/* vault_rotate.c - rotation and rekey. Rotation: a fresh data key made
 * current, every record re-sealed under it in batches (each a durable
 * transaction, so a crash at any moment leaves every record readable and a
 * later rotate finishes the job), then the old data keys destroyed. Rekey:
 * the keyring re-wrapped under a new master key in one transaction.
 */
#include "vault_int.h"

#include <stdlib.h>
#include <string.h>

#define ROTATE_BATCH 1000

static unsigned rotate_batches_limit;

void vault_test_rotate_batches_limit(unsigned n)
{
    rotate_batches_limit = n;
}

/* ---- rotate ---- */

/* Txn 1 of a rotation: a fresh data key, made current. */
static vc_code rotate_edit_add_key(seal_keyring *k, void *arg, vc_err *err)
{
    return seal_keyring_add(k, arg, err);
}

static vc_code rotate_begin(vault *v, uint32_t *new_ver, vc_err *err)
{
    return vkr_update(v, rotate_edit_add_key, new_ver, NULL, false, err);
}

typedef struct {
    uint8_t key[SEAL_HASH_BYTES];
    uint8_t *val;
    size_t len;
} rot_item;

typedef struct {
    uint32_t new_ver;
    const uint8_t *skip; /* the previous batch's last key, or NULL */
    rot_item items[ROTATE_BATCH];
    size_t n;
    bool full;
} rot_batch;

/* Copies out records not yet under new_ver (no writes while scanning). */
static int rotate_collect(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                          size_t val_len)
{
    rot_batch *b = ctx;
    rot_item *it;
    uint32_t kv;

    if (key_len != SEAL_HASH_BYTES)
        return (int)VC_INTERNAL;
    if (b->skip != NULL && memcmp(key, b->skip, SEAL_HASH_BYTES) == 0)
        return 0;
    /* a record too short for a header is copied too: opening it fails and
     * stops the rotation, rather than destroying keys it might need */
    if (vrec_peek_key_version(val, val_len, &kv) && kv == b->new_ver)
        return 0;
    it = &b->items[b->n];
    it->val = malloc(val_len ? val_len : 1);
    if (it->val == NULL)
        return (int)VC_INTERNAL;
    memcpy(it->key, key, SEAL_HASH_BYTES);
    memcpy(it->val, val, val_len);
    it->len = val_len;
    if (++b->n == ROTATE_BATCH) {
        b->full = true;
        return 1;
    }
    return 0;
}

static void rotate_batch_clear(rot_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].val);
    b->n = 0;
    b->full = false;
}

/* Re-seals one record under kr's current version, same metadata. */
static vc_code rotate_reseal(vault *v, store_txn *t, vkr_ref *kr, uint32_t new_ver,
                             const rot_item *it, vc_err *err)
{
    uint8_t *pt = NULL, *rec = NULL;
    size_t pt_len = 0, rec_len = 0;
    vrec_hdr h = {0};
    vc_code rc = vrec_open(v, t, kr, it->key, it->val, it->len, &h, &pt, &pt_len, err);
    if (rc != VC_OK)
        return vc_errf(err, VC_INTERNAL,
                       "rotation stopped: a record failed to open (delete "
                       "or restore it, then rotate again)");
    h.key_version = new_ver;
    rc = vrec_seal(kr->kr, &h, it->key, pt, pt_len, &rec, &rec_len, err);
    vrec_pt_free(pt, pt_len);
    if (rc != VC_OK)
        return rc;
    rc = store_put(t, STORE_RECORDS, it->key, SEAL_HASH_BYTES, rec, rec_len, err);
    free(rec);
    return rc;
}

/* One batch transaction: up to ROTATE_BATCH records after b->skip. */
static vc_code rotate_batch(vault *v, rot_batch *b, uint64_t *done, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    if ((rc = vkr_acquire(v, t, &kr, err)) != VC_OK)
        goto fail;
    if (seal_keyring_current(kr.kr) != b->new_ver) {
        rc = vc_errf(err, VC_UNAVAILABLE, "rotation superseded by another rotation");
        goto fail;
    }
    rc = store_scan(t, STORE_RECORDS, b->skip, b->skip ? SEAL_HASH_BYTES : 0, rotate_collect, b,
                    err);
    if (rc != VC_OK)
        goto fail;
    for (size_t i = 0; i < b->n; i++)
        if ((rc = rotate_reseal(v, t, &kr, b->new_ver, &b->items[i], err)) != VC_OK)
            goto fail;
    vkr_release(v, &kr);
    if ((rc = store_commit(t, err)) != VC_OK)
        return rc;
    *done += b->n;
    return VC_OK;
fail:
    vkr_release(v, &kr);
    store_abort(t);
    return rc;
}

/* Last txn: destroy every data key but new_ver. */
static vc_code rotate_edit_retain_only(seal_keyring *k, void *arg, vc_err *err)
{
    uint32_t new_ver = *(const uint32_t *)arg;
    if (seal_keyring_current(k) != new_ver)
        return vc_errf(err, VC_UNAVAILABLE, "rotation superseded by another rotation");
    seal_keyring_retain_only(k, new_ver);
    return VC_OK;
}

static vc_code rotate_finish(vault *v, uint32_t new_ver, vc_err *err)
{
    return vkr_update(v, rotate_edit_retain_only, &new_ver, NULL, true, err);
}

vc_code vault_rotate(vault *v, uint32_t *key_version, uint64_t *reencrypted, vc_err *err)
{
    uint32_t new_ver = 0;
    uint64_t done = 0;
    uint8_t last[SEAL_HASH_BYTES];
    unsigned batches = 0;
    rot_batch *b;
    vc_code rc;

    b = calloc(1, sizeof *b);
    if (b == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    pthread_mutex_lock(&v->rot_mu);
    /* Always a fresh version, even after an interrupted rotation: the
     * re-seal pass below also moves records left under older versions. */
    rc = rotate_begin(v, &new_ver, err);
    if (rc != VC_OK)
        goto out;
    b->new_ver = new_ver;
    for (;;) {
        rc = rotate_batch(v, b, &done, err);
        if (rc != VC_OK)
            goto out;
        if (!b->full)
            break;
        memcpy(last, b->items[b->n - 1].key, sizeof last);
        b->skip = last;
        rotate_batch_clear(b);
        if (rotate_batches_limit != 0 && ++batches >= rotate_batches_limit) {
            rc = vc_errf(err, VC_INTERNAL, "rotation stopped by test hook");
            goto out;
        }
    }
    rc = rotate_finish(v, new_ver, err);
out:
    pthread_mutex_unlock(&v->rot_mu);
    rotate_batch_clear(b);
    free(b);
    if (rc == VC_OK) {
        if (key_version != NULL)
            *key_version = new_ver;
        if (reencrypted != NULL)
            *reencrypted = done;
    }
    return rc;
}

/* ---- rekey ---- */

vc_code vault_rekey(vault *v, const seal_master *new_master, vc_err *err)
{
    return vkr_update(v, NULL, NULL, new_master, false, err);
}
