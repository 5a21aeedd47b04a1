/* vault_apply.c - what one queued write does inside the committer's
 * transaction (see vault_wreq.h): a set keeps the superseded record as a
 * kept version, prunes beyond history.max_versions, checks cas and keeps
 * the expiry index; a delete destroys every version; a sweep removes
 * expired keys; a token's use is consumed in the same transaction. */
#include "vault_wreq.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "vault_token.h"

/* ---- history and the expiry index, inside the committer's transaction ---- */

#define VSCAN_BATCH 256

/* Collects store keys of one table from a scan: those that start with
 * prefix (HISTORY: a name hash) and, when has_upto, whose version suffix is
 * at most upto; or (EXPIRY, prefix NULL) those whose time prefix is at most
 * upto. At most VSCAN_BATCH (+1 to tell whether more remain). */
typedef struct {
    const uint8_t *prefix;
    bool has_upto;
    uint64_t upto;
    size_t cap; /* collect_expired: stop after this many */
    uint8_t keys[VSCAN_BATCH + 1][VHIST_KEY_BYTES];
    size_t n;
} vscan_keys;

static uint64_t be64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | p[i];
    return x;
}

static int collect_hist(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                        size_t val_len)
{
    vscan_keys *c = ctx;
    (void)val;
    (void)val_len;
    if (key_len < SEAL_HASH_BYTES || memcmp(key, c->prefix, SEAL_HASH_BYTES) != 0)
        return 1; /* past this key's versions */
    if (key_len == VHIST_KEY_BYTES && c->has_upto && be64(key + SEAL_HASH_BYTES) > c->upto)
        return 1;                   /* versions are in order: none after this one qualifies */
    if (key_len != VHIST_KEY_BYTES) /* not ours to judge: verify reports it */
        return 0;
    memcpy(c->keys[c->n], key, key_len);
    return ++c->n > VSCAN_BATCH ? 1 : 0;
}

/* Deletes the kept versions of hash (all, or those <= upto). */
static vc_code hist_delete(store_txn *t, const uint8_t hash[SEAL_HASH_BYTES], bool has_upto,
                           uint64_t upto, vc_err *err)
{
    vscan_keys *c = malloc(sizeof *c);
    uint8_t start[VHIST_KEY_BYTES];
    vc_code rc;

    if (c == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    vhist_key(start, hash, 0);
    do {
        c->prefix = hash;
        c->has_upto = has_upto;
        c->upto = upto;
        c->n = 0;
        rc = store_scan(t, STORE_HISTORY, start, sizeof start, collect_hist, c, err);
        for (size_t i = 0; rc == VC_OK && i < c->n; i++) {
            rc = store_del(t, STORE_HISTORY, c->keys[i], VHIST_KEY_BYTES, err);
            if (rc == VC_NOT_FOUND)
                rc = VC_OK;
        }
    } while (rc == VC_OK && c->n > VSCAN_BATCH);
    free(c);
    return rc;
}

/* Removes the expiry index entry of a record that has one. */
static vc_code exp_unindex(store_txn *t, const vrec_hdr *h, const uint8_t hash[SEAL_HASH_BYTES],
                           vc_err *err)
{
    uint8_t k[VEXP_KEY_BYTES];
    vc_code rc;
    if (h->expires_at == 0)
        return VC_OK;
    vexp_key(k, h->expires_at, hash);
    rc = store_del(t, STORE_EXPIRY, k, sizeof k, err);
    return rc == VC_NOT_FOUND ? VC_OK : rc;
}

/* Deletes a key's record (if present), every kept version and its expiry
 * index entry (when prev, its decoded header, names one). */
static vc_code purge_key(store_txn *t, const uint8_t hash[SEAL_HASH_BYTES], const vrec_hdr *prev,
                         bool has_record, vc_err *err)
{
    vc_code rc = VC_OK;
    if (has_record) {
        rc = store_del(t, STORE_RECORDS, hash, SEAL_HASH_BYTES, err);
        if (rc == VC_NOT_FOUND)
            rc = VC_OK;
    }
    if (rc == VC_OK && prev != NULL)
        rc = exp_unindex(t, prev, hash, err);
    if (rc == VC_OK)
        rc = hist_delete(t, hash, false, 0, err);
    return rc;
}

/* ---- one write ---- */

static vc_code apply_delete(store_txn *t, wreq *w, const uint8_t hash[SEAL_HASH_BYTES], int64_t now,
                            bool *changed, bool *dead)
{
    const uint8_t *old;
    size_t old_len;
    vrec_hdr prev;
    vc_code rc = store_get(t, STORE_RECORDS, hash, SEAL_HASH_BYTES, &old, &old_len, &w->err);
    if (rc == VC_NOT_FOUND)
        return vc_errf(&w->err, VC_NOT_FOUND, "key not found");
    if (rc != VC_OK) {
        *dead = true;
        return rc;
    }
    bool decoded = vrec_hdr_decode(old, old_len, &prev);
    bool expired = decoded && vrec_expired(&prev, now);
    rc = purge_key(t, hash, decoded ? &prev : NULL, true, &w->err);
    if (rc != VC_OK) {
        *dead = true;
        return rc;
    }
    *changed = true;
    /* an expired key is gone already, from the caller's view */
    return expired ? vc_errf(&w->err, VC_NOT_FOUND, "key not found") : VC_OK;
}

/* The current record moves to HISTORY as it is (a copy first: a put may
 * move the page old points into), and the versions beyond max_versions go. */
static vc_code keep_version(store_txn *t, const uint8_t hash[SEAL_HASH_BYTES], const uint8_t *old,
                            size_t old_len, const vrec_hdr *prev, uint64_t max_versions,
                            vc_err *err)
{
    uint8_t k[VHIST_KEY_BYTES];
    uint64_t new_version = prev->version + 1;
    vc_code rc = VC_OK;

    if (max_versions > 1) {
        uint8_t *copy = malloc(old_len ? old_len : 1);
        if (copy == NULL)
            return vc_errf(err, VC_INTERNAL, "out of memory");
        memcpy(copy, old, old_len);
        vhist_key(k, hash, prev->version);
        rc = store_put(t, STORE_HISTORY, k, sizeof k, copy, old_len, err);
        free(copy);
    }
    /* kept: new_version and the max_versions - 1 before it */
    if (rc == VC_OK && new_version > max_versions - 1)
        rc = hist_delete(t, hash, true, new_version - max_versions, err);
    return rc;
}

/* Applies one set inside t. Its own failures (VC_CONFLICT, a value too large
 * to seal) leave t usable; a failing store call sets *dead: t must then be
 * aborted. *changed is set when the write modified the store. */
static vc_code apply_set(vault *v, store_txn *t, const seal_keyring *kr, wreq *w,
                         const uint8_t hash[SEAL_HASH_BYTES], int64_t now, bool *changed,
                         bool *dead)
{
    const uint8_t *old;
    size_t old_len, pt_len = 0, rec_len = 0;
    uint8_t *pt = NULL, *rec = NULL;
    uint8_t xk[VEXP_KEY_BYTES];
    vrec_hdr h, prev;
    vc_code rc;

    rc = store_get(t, STORE_RECORDS, hash, SEAL_HASH_BYTES, &old, &old_len, &w->err);
    if (rc != VC_OK && rc != VC_NOT_FOUND) {
        *dead = true;
        return rc;
    }
    bool present = rc == VC_OK;
    bool decoded = present && vrec_hdr_decode(old, old_len, &prev);
    /* The previous header is trusted for version/created_at without opening
     * the record (sets stay cheap for big values); the new record is sealed
     * afresh, so a damaged old header can at worst skew those numbers. */
    bool live = decoded && !vrec_expired(&prev, now);
    uint64_t current = live ? prev.version : 0;

    if (w->opts.has_cas && w->opts.cas != current) {
        if (current == 0)
            return vc_errf(&w->err, VC_CONFLICT, "version conflict: the key does not exist");
        return vc_errf(&w->err, VC_CONFLICT, "version conflict: current version is %llu",
                       (unsigned long long)current);
    }
    rc = vrec_plaintext_build(w->name, w->name_len, w->value, w->value_len, &pt, &pt_len, &w->err);
    if (rc != VC_OK)
        return rc;
    h.format = VAULT_FORMAT;
    h.key_version = seal_keyring_current(kr);
    h.updated_at = now;
    h.version = live ? prev.version + 1 : 1;
    h.created_at = live ? prev.created_at : now;
    h.expires_at = w->opts.has_ttl && w->opts.ttl_s > 0 ? now + (int64_t)w->opts.ttl_s : 0;
    rc = vrec_seal(kr, &h, hash, pt, pt_len, &rec, &rec_len, &w->err);
    vrec_pt_free(pt, pt_len);
    if (rc != VC_OK)
        return rc;

    /* From here on every failure is the store's: the transaction dies. */
    if (live)
        rc = keep_version(t, hash, old, old_len, &prev, atomic_load(&v->max_versions), &w->err);
    else if (present || decoded)
        /* expired or unreadable: what is left of it goes (the record
         * itself is replaced below) */
        rc = purge_key(t, hash, decoded ? &prev : NULL, false, &w->err);
    else
        /* versions left behind by a record deleted alone (delete --hash) */
        rc = hist_delete(t, hash, false, 0, &w->err);
    if (rc == VC_OK && live)
        rc = exp_unindex(t, &prev, hash, &w->err);
    if (rc == VC_OK && h.expires_at != 0) {
        vexp_key(xk, h.expires_at, hash);
        rc = store_put(t, STORE_EXPIRY, xk, sizeof xk, (const uint8_t *)"", 0, &w->err);
    }
    if (rc == VC_OK)
        rc = store_put(t, STORE_RECORDS, hash, SEAL_HASH_BYTES, rec, rec_len, &w->err);
    free(rec);
    if (rc != VC_OK) {
        *dead = true;
        return rc;
    }
    w->meta.version = h.version;
    w->meta.created_at = h.created_at;
    w->meta.updated_at = h.updated_at;
    w->meta.expires_at = h.expires_at;
    *changed = true;
    return VC_OK;
}

/* Expiry index keys up to a time, from the start of EXPIRY. */
static int collect_expired(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                           size_t val_len)
{
    vscan_keys *c = ctx;
    (void)val;
    (void)val_len;
    if (key_len == VEXP_KEY_BYTES && be64(key) > c->upto)
        return 1; /* in time order: nothing later is due */
    if (key_len > VEXP_KEY_BYTES)
        key_len = VEXP_KEY_BYTES; /* not ours: deleted below by its prefix */
    memcpy(c->keys[c->n], key, key_len);
    if (key_len < VEXP_KEY_BYTES)
        memset(c->keys[c->n] + key_len, 0, VEXP_KEY_BYTES - key_len);
    return ++c->n >= c->cap ? 1 : 0;
}

/* Deletes up to w->sweep_max expired keys (each with its versions). An
 * index entry whose record no longer names that expiry (set again since,
 * deleted) just goes. */
static vc_code apply_sweep(store_txn *t, wreq *w, bool *changed, bool *dead)
{
    vscan_keys *c = malloc(sizeof *c);
    size_t max = w->sweep_max == 0 || w->sweep_max > VSCAN_BATCH ? VSCAN_BATCH : w->sweep_max;
    uint64_t removed = 0;
    vc_code rc;

    if (c == NULL)
        return vc_errf(&w->err, VC_INTERNAL, "out of memory");
    c->upto = (uint64_t)w->sweep_now;
    c->cap = max + 1;
    c->n = 0;
    rc = store_scan(t, STORE_EXPIRY, NULL, 0, collect_expired, c, &w->err);
    for (size_t i = 0; rc == VC_OK && i < c->n && i < max; i++) {
        const uint8_t *key = c->keys[i], *hash = key + 8, *val;
        size_t val_len;
        vrec_hdr h;
        rc = store_del(t, STORE_EXPIRY, key, VEXP_KEY_BYTES, &w->err);
        if (rc == VC_NOT_FOUND)
            rc = VC_OK;
        *changed = true;
        if (rc != VC_OK)
            break;
        rc = store_get(t, STORE_RECORDS, hash, SEAL_HASH_BYTES, &val, &val_len, &w->err);
        if (rc == VC_NOT_FOUND) {
            rc = VC_OK;
            continue;
        }
        if (rc != VC_OK || !vrec_hdr_decode(val, val_len, &h) ||
            h.expires_at != (int64_t)be64(key) || !vrec_expired(&h, w->sweep_now))
            continue;
        rc = purge_key(t, hash, NULL, true, &w->err);
        removed++;
    }
    if (rc == VC_OK) {
        *w->sweep_removed = removed;
        *w->sweep_more = c->n > max;
    } else {
        *dead = true;
    }
    free(c);
    return rc;
}

/* Applies one write inside t (see apply_set). */
vc_code vapply_write(vault *v, store_txn *t, const seal_keyring *kr, wreq *w, bool *changed,
                     bool *dead)
{
    uint8_t hash[SEAL_HASH_BYTES];
    int64_t now = (int64_t)time(NULL);

    if (w->txn_fn != NULL)
        return w->txn_fn(t, kr, w->txn_arg, &w->err, dead);
    if (w->tok != NULL) {
        /* the use, in the same transaction as the write it pays for */
        vc_code rc = vtok_consume_txn(t, kr, w->tok, w->tok_len, now, w->tok_out, &w->err, dead);
        if (rc != VC_OK || w->use_only)
            return rc;
    }
    if (w->kind == W_SWEEP)
        return apply_sweep(t, w, changed, dead);
    seal_name_hash(kr, w->name, w->name_len, hash);
    if (w->kind == W_DELETE)
        return apply_delete(t, w, hash, now, changed, dead);
    return apply_set(v, t, kr, w, hash, now, changed, dead);
}
