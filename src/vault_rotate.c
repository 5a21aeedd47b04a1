/* vault_rotate.c - rotation and rekey. Rotation: a fresh data key made
 * current, every record re-sealed under it in batches (each a durable
 * transaction, so a crash at any moment leaves every record readable and a
 * later rotate finishes the job), then the old data keys destroyed. Rekey:
 * the keyring re-wrapped under a new master key in one transaction.
 *
 * Damaged records: every record the rotation reads is authenticated
 * (vrec_inspect). A damaged one is left as it is, counted and logged by its
 * record hash, and the rotation goes on with the others. It then destroys no
 * data key: a damaged header may name the wrong version, so the one the
 * record needs cannot be told, and destroying it would make the record
 * unrecoverable for good (it may yet be repaired, or its bytes restored).
 * Every older version stays until a rotation completes with nothing skipped.
 */
#include "vault_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ROTATE_BATCH 1000 /* current records per batch transaction */
/* Kept versions per batch: they are most of the records (9 in 10 with the
 * default history); ten times fewer synced commits than batches of 1000
 * took the rotation of 20,000 keys x 10 versions from 1.6 s to 1.1 s on 2
 * shared CPUs (bench_history). A batch holds the write lock ~50 ms: sets
 * queued meanwhile wait that long, once per batch. */
#define ROTATE_HIST_BATCH 10000

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
    uint8_t key[VHIST_KEY_BYTES]; /* RECORDS: SEAL_HASH_BYTES of it */
    uint8_t *val;
    size_t len;
    bool check_only; /* already under new_ver: authenticated, not re-sealed */
} rot_item;

typedef struct {
    uint32_t new_ver;
    store_table table;       /* RECORDS, then HISTORY (every kept version) */
    size_t key_len;          /* of a sound store key in table */
    const uint8_t *skip;     /* the previous batch's last key, or NULL */
    size_t cap;              /* batch size for this table */
    size_t bytes, max_bytes; /* copied so far; the store's transaction limit */
    rot_item items[ROTATE_HIST_BATCH];
    size_t n;
    bool full;
    uint64_t skipped; /* damaged records, over the whole rotation */
} rot_batch;

static void rotate_skip(rot_batch *b, const uint8_t *key, size_t key_len, vault_damage why)
{
    char hex[VREC_HEX_MAX];

    vrec_hex(key, key_len, hex);
    log_warn("rotate: record %s is damaged (%s), left as it is; no data key will be destroyed "
             "(vaultctl verify lists every damaged record)",
             hex, vault_damage_code(why));
    b->skipped++;
}

/* Copies out the records after b->skip (no writes while scanning). Those
 * already under new_ver (written since the rotation began) are copied too,
 * to be authenticated: a damaged header could claim new_ver. */
static int rotate_collect(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                          size_t val_len)
{
    rot_batch *b = ctx;
    rot_item *it;
    uint32_t kv;

    if (key_len != b->key_len) {
        /* not a store key of this table: never a cursor, seen by exactly
         * one batch's scan */
        rotate_skip(b, key, key_len, VAULT_DAMAGE_STORE_KEY);
        return 0;
    }
    if (b->skip != NULL && memcmp(key, b->skip, b->key_len) == 0)
        return 0;
    it = &b->items[b->n];
    it->val = malloc(val_len ? val_len : 1);
    if (it->val == NULL)
        return (int)VC_INTERNAL;
    memcpy(it->key, key, b->key_len);
    memcpy(it->val, val, val_len);
    it->len = val_len;
    it->check_only = vrec_peek_key_version(val, val_len, &kv) && kv == b->new_ver;
    b->bytes += val_len + 2 * b->key_len + 64; /* the re-sealed record and its message */
    if (++b->n == b->cap || b->bytes >= b->max_bytes) {
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
    b->bytes = 0;
    b->full = false;
}

/* Re-seals one record under kr's current version, same metadata; a damaged
 * one is skipped (b->skipped). *resealed counts the records re-sealed. */
static vc_code rotate_reseal(vault *v, store_txn *t, vkr_ref *kr, rot_batch *b, const rot_item *it,
                             uint64_t *resealed, vc_err *err)
{
    uint8_t *pt = NULL, *rec = NULL;
    size_t pt_len = 0, rec_len = 0;
    vrec_hdr h = {0};
    bool hdr_ok;
    vault_damage why;
    vc_code rc = b->table == STORE_HISTORY
                     ? vhist_inspect(v, t, kr, it->key, b->key_len, it->val, it->len, &h, &hdr_ok,
                                     &pt, &pt_len, &why, err)
                     : vrec_inspect(v, t, kr, it->key, b->key_len, it->val, it->len, &h, &hdr_ok,
                                    &pt, &pt_len, &why, err);
    if (rc != VC_OK)
        return rc;
    if (why != VAULT_RECORD_SOUND) {
        rotate_skip(b, it->key, b->key_len, why);
        return VC_OK;
    }
    if (it->check_only) {
        vrec_pt_free(pt, pt_len);
        return VC_OK;
    }
    h.key_version = b->new_ver;
    rc = vrec_seal(kr->kr, &h, it->key, pt, pt_len, &rec, &rec_len, err);
    vrec_pt_free(pt, pt_len);
    if (rc != VC_OK)
        return rc;
    rc = store_put(t, b->table, it->key, b->key_len, rec, rec_len, err);
    free(rec);
    if (rc == VC_OK)
        (*resealed)++;
    return rc;
}

/* One batch transaction: up to ROTATE_BATCH records after b->skip. */
static vc_code rotate_batch(vault *v, rot_batch *b, uint64_t *done, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    uint64_t resealed = 0;
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    if ((rc = vkr_acquire(v, t, &kr, err)) != VC_OK)
        goto fail;
    if (seal_keyring_current(kr.kr) != b->new_ver) {
        rc = vc_errf(err, VC_UNAVAILABLE, "rotation superseded by another rotation");
        goto fail;
    }
    rc = store_scan(t, b->table, b->skip, b->skip ? b->key_len : 0, rotate_collect, b, err);
    if (rc != VC_OK)
        goto fail;
    for (size_t i = 0; i < b->n; i++)
        if ((rc = rotate_reseal(v, t, &kr, b, &b->items[i], &resealed, err)) != VC_OK)
            goto fail;
    vkr_release(v, &kr);
    if ((rc = store_commit(t, err)) != VC_OK)
        return rc;
    *done += resealed;
    return VC_OK;
fail:
    vkr_release(v, &kr);
    store_abort(t);
    return rc;
}

typedef struct {
    uint32_t new_ver;
    bool keep_old;          /* damaged records were skipped */
    uint64_t old_keys_kept; /* out */
} rot_finish;

/* Last txn: destroy every data key but new_ver, unless records were skipped
 * (see the opening comment). */
static vc_code rotate_edit_finish(seal_keyring *k, void *arg, vc_err *err)
{
    rot_finish *f = arg;
    if (seal_keyring_current(k) != f->new_ver)
        return vc_errf(err, VC_UNAVAILABLE, "rotation superseded by another rotation");
    if (!f->keep_old)
        seal_keyring_retain_only(k, f->new_ver);
    f->old_keys_kept = seal_keyring_count(k) - 1;
    return VC_OK;
}

static vc_code rotate_finish(vault *v, rot_finish *f, vc_err *err)
{
    return vkr_update(v, rotate_edit_finish, f, NULL, true, err);
}

vc_code vault_rotate_report(vault *v, vault_rotation *out, vc_err *err)
{
    uint32_t new_ver = 0;
    uint64_t done = 0;
    uint8_t last[VHIST_KEY_BYTES];
    unsigned batches = 0;
    rot_finish fin = {0, false, 0};
    rot_batch *b;
    vc_code rc;

    if (out != NULL)
        memset(out, 0, sizeof *out);
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
    b->max_bytes = store_txn_max_bytes(v->st);
    /* The current records first, then the kept versions: a set during the
     * first pass moves a record not yet re-sealed into HISTORY, where the
     * second pass finds it; once the first pass is done every current
     * record is under new_ver, so whatever a set moves is too. */
    static const store_table tables[] = {STORE_RECORDS, STORE_HISTORY};
    for (size_t ti = 0; ti < sizeof tables / sizeof tables[0]; ti++) {
        b->table = tables[ti];
        b->key_len = tables[ti] == STORE_HISTORY ? VHIST_KEY_BYTES : SEAL_HASH_BYTES;
        b->cap = tables[ti] == STORE_HISTORY ? ROTATE_HIST_BATCH : ROTATE_BATCH;
        b->skip = NULL;
        rotate_batch_clear(b);
        for (;;) {
            rc = rotate_batch(v, b, &done, err);
            if (rc != VC_OK)
                goto out;
            if (!b->full)
                break;
            memcpy(last, b->items[b->n - 1].key, b->key_len);
            b->skip = last;
            rotate_batch_clear(b);
            if (rotate_batches_limit != 0 && ++batches >= rotate_batches_limit) {
                rc = vc_errf(err, VC_INTERNAL, "rotation stopped by test hook");
                goto out;
            }
        }
    }
    { /* token records too (vault_token.c), before the old keys go */
        uint64_t ntok = 0;
        if ((rc = vtok_reseal_all(v, &ntok, err)) != VC_OK)
            goto out;
    }
    fin.new_ver = new_ver;
    fin.keep_old = b->skipped > 0;
    rc = rotate_finish(v, &fin, err);
    if (rc == VC_OK && b->skipped > 0)
        log_warn("rotate: %llu damaged record%s skipped; %llu older data key version%s kept "
                 "until a rotation skips none (vaultctl verify, then delete --hash or restore)",
                 (unsigned long long)b->skipped, b->skipped == 1 ? "" : "s",
                 (unsigned long long)fin.old_keys_kept, fin.old_keys_kept == 1 ? "" : "s");
out:
    pthread_mutex_unlock(&v->rot_mu);
    if (rc == VC_OK && out != NULL) {
        out->key_version = new_ver;
        out->reencrypted = done;
        out->skipped = b->skipped;
        out->old_keys_kept = fin.old_keys_kept;
    }
    rotate_batch_clear(b);
    free(b);
    return rc;
}

vc_code vault_rotate(vault *v, uint32_t *key_version, uint64_t *reencrypted, vc_err *err)
{
    vault_rotation r;
    vc_code rc = vault_rotate_report(v, &r, err);
    if (rc == VC_OK) {
        if (key_version != NULL)
            *key_version = r.key_version;
        if (reencrypted != NULL)
            *reencrypted = r.reencrypted;
    }
    return rc;
}

/* ---- rekey ---- */

vc_code vault_rekey(vault *v, const seal_master *new_master, vc_err *err)
{
    return vkr_update(v, NULL, NULL, new_master, false, err);
}
