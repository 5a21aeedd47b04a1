/* vault_keyring.c - the vault's META values and its keyring: reading,
 * creating and updating the stored keyring, and the in-memory cache of it.
 *
 * Keyring cache
 *   The unwrapped keyring is kept in memory with the epoch it was read at,
 *   behind a rwlock. Every transaction reads META "epoch" and uses a keyring
 *   of exactly that epoch: the cached one if equal, a reloaded one if newer
 *   (another process or thread rotated or rekeyed), or a private copy
 *   unwrapped from the transaction if the transaction is older than the cache
 *   (a reader whose snapshot predates a reload). So the keyring always matches
 *   the records the transaction sees. The store transaction comes first, then
 *   kr_lock (see the lock order in vault_int.h).
 */
#include "vault_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "le.h"

/* ---- META values ---- */

vc_code vkr_meta_get_u64(store_txn *t, const char *key, uint64_t dflt, uint64_t *out, vc_err *err)
{
    const uint8_t *val = NULL;
    size_t len = 0;
    vc_code rc = store_get(t, STORE_META, (const uint8_t *)key, strlen(key), &val, &len, err);
    if (rc == VC_NOT_FOUND) {
        *out = dflt;
        return VC_OK;
    }
    if (rc != VC_OK)
        return rc;
    if (len != 8)
        return vc_errf(err, VC_INTERNAL, "vault metadata '%s' is corrupt", key);
    *out = le_get_u64(val);
    return VC_OK;
}

vc_code vkr_meta_put_u64(store_txn *t, const char *key, uint64_t x, vc_err *err)
{
    uint8_t b[8];
    le_put_u64(b, x);
    return store_put(t, STORE_META, (const uint8_t *)key, strlen(key), b, sizeof b, err);
}

vc_code vkr_meta_bump(store_txn *t, const char *key, uint64_t *out, vc_err *err)
{
    uint64_t x = 0;
    vc_code rc = vkr_meta_get_u64(t, key, 0, &x, err);
    if (rc != VC_OK)
        return rc;
    x++;
    if (out != NULL)
        *out = x;
    return vkr_meta_put_u64(t, key, x, err);
}

/* ---- the stored keyring ---- */

vc_code vkr_put(store_txn *t, const seal_keyring *kr, const seal_master *m, vc_err *err)
{
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    vc_code rc = seal_keyring_wrap(kr, m, &blob, &blob_len, err);
    if (rc != VC_OK)
        return rc;
    rc = store_put(t, STORE_META, (const uint8_t *)VAULT_META_KEYRING, strlen(VAULT_META_KEYRING),
                   blob, blob_len, err);
    free(blob);
    return rc;
}

/* Unwraps the keyring stored in t with m. VC_NOT_FOUND if there is none;
 * VC_ACCESS_DENIED (from seal) if m does not open it. */
static vc_code vkr_read(store_txn *t, const seal_master *m, seal_keyring **out, vc_err *err)
{
    const uint8_t *blob;
    size_t blob_len;
    vc_code rc = store_get(t, STORE_META, (const uint8_t *)VAULT_META_KEYRING,
                           strlen(VAULT_META_KEYRING), &blob, &blob_len, err);
    if (rc != VC_OK)
        return rc;
    return seal_keyring_unwrap(out, m, blob, blob_len, err);
}

/* A master that no longer opens the keyring means another process rekeyed
 * under us. */
vc_code vkr_read_current(vault *v, store_txn *t, seal_keyring **out, vc_err *err)
{
    vc_code rc = vkr_read(t, v->m, out, err);
    if (rc == VC_ACCESS_DENIED)
        return vc_errf(err, VC_INTERNAL,
                       "the vault keyring no longer opens with this master "
                       "key (rekeyed by another process?)");
    if (rc == VC_NOT_FOUND)
        return vc_errf(err, VC_INTERNAL, "the vault keyring is missing");
    return rc;
}

/* Another process may have created the keyring since vkr_load looked, so
 * look again under the write lock. */
vc_code vkr_create(vault *v, const char *dir, vc_err *err)
{
    store_txn *t = NULL;
    uint64_t n;
    uint8_t fmt = VAULT_FORMAT;
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = vkr_read(t, v->m, &v->kr, err);
    if (rc == VC_OK) {
        rc = vkr_meta_get_u64(t, VAULT_META_EPOCH, 0, &v->epoch, err);
        store_abort(t);
        return rc;
    }
    if (rc != VC_NOT_FOUND)
        goto fail;
    rc = store_count(t, STORE_RECORDS, &n, err);
    if (rc != VC_OK)
        goto fail;
    if (n > 0) {
        rc = vc_errf(err, VC_CONFIG, "vault at %s has records but no keyring", dir);
        goto fail;
    }
    rc = seal_keyring_create(&v->kr, err);
    if (rc != VC_OK)
        goto fail;
    if ((rc = vkr_put(t, v->kr, v->m, err)) != VC_OK ||
        (rc = vkr_meta_put_u64(t, VAULT_META_EPOCH, 1, err)) != VC_OK ||
        (rc = store_put(t, STORE_META, (const uint8_t *)VAULT_META_FORMAT,
                        strlen(VAULT_META_FORMAT), &fmt, 1, err)) != VC_OK)
        goto fail;
    v->epoch = 1;
    return store_commit(t, err);
fail:
    store_abort(t);
    return rc;
}

vc_code vkr_load(vault *v, const char *dir, vc_err *err)
{
    store_txn *t = NULL;
    const uint8_t *fmt;
    size_t fmt_len;
    vc_code rc = store_begin(v->st, false, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = store_get(t, STORE_META, (const uint8_t *)VAULT_META_FORMAT, strlen(VAULT_META_FORMAT),
                   &fmt, &fmt_len, err);
    if (rc == VC_OK && (fmt_len != 1 || (fmt[0] != VAULT_FORMAT && fmt[0] != VAULT_FORMAT_V1))) {
        rc = vc_errf(err, VC_CONFIG,
                     "vault at %s has an unknown format (this build reads "
                     "formats %d and %d)",
                     dir, VAULT_FORMAT_V1, VAULT_FORMAT);
        goto out;
    }
    if (rc != VC_OK && rc != VC_NOT_FOUND)
        goto out;
    rc = vkr_read(t, v->m, &v->kr, err);
    if (rc == VC_ACCESS_DENIED) {
        rc = vc_errf(err, VC_CONFIG, "master key does not match the vault at %s", dir);
        goto out;
    }
    if (rc == VC_OK)
        rc = vkr_meta_get_u64(t, VAULT_META_EPOCH, 0, &v->epoch, err);
out:
    store_abort(t);
    return rc;
}

/* One transaction: META "format" 1 becomes VAULT_FORMAT. Nothing else
 * changes (format-1 records are read as they are, and rewritten in the new
 * format by their next set or rotation), so a crash leaves either value and
 * both open. */
vc_code vkr_format_upgrade(vault *v, vc_err *err)
{
    store_txn *t = NULL;
    const uint8_t *fmt;
    size_t fmt_len;
    uint8_t cur = VAULT_FORMAT;
    vc_code rc = store_begin(v->st, false, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = store_get(t, STORE_META, (const uint8_t *)VAULT_META_FORMAT, strlen(VAULT_META_FORMAT),
                   &fmt, &fmt_len, err);
    bool old = rc == VC_OK && fmt_len == 1 && fmt[0] == VAULT_FORMAT_V1;
    store_abort(t);
    if (rc != VC_OK && rc != VC_NOT_FOUND)
        return rc;
    if (!old)
        return VC_OK;
    if ((rc = store_begin(v->st, true, &t, err)) != VC_OK)
        return rc;
    rc = store_put(t, STORE_META, (const uint8_t *)VAULT_META_FORMAT, strlen(VAULT_META_FORMAT),
                   &cur, 1, err);
    if (rc != VC_OK) {
        store_abort(t);
        return rc;
    }
    return store_commit(t, err);
}

/* Reads the stored keyring under the read lock (so no rekey switches masters
 * meanwhile), lets edit change it, writes it back and bumps the epoch so
 * every process reloads. Rotation's first and last steps, and rekey. */
vc_code vkr_update(vault *v, vkr_edit edit, void *arg, const seal_master *new_master, bool rotated,
                   vc_err *err)
{
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    pthread_rwlock_rdlock(&v->kr_lock);
    rc = vkr_read_current(v, t, &k, err);
    if (rc == VC_OK && edit != NULL)
        rc = edit(k, arg, err);
    if (rc == VC_OK)
        rc = vkr_put(t, k, new_master != NULL ? new_master : v->m, err);
    pthread_rwlock_unlock(&v->kr_lock);
    seal_keyring_free(k);
    if (rc == VC_OK)
        rc = vkr_meta_bump(t, VAULT_META_EPOCH, NULL, err);
    if (rc == VC_OK && rotated)
        rc = vkr_meta_put_u64(t, VAULT_META_LAST_ROT, (uint64_t)(int64_t)time(NULL), err);
    if (rc != VC_OK) {
        store_abort(t);
        return rc;
    }
    if (new_master == NULL)
        return store_commit(t, err);
    /* Switch masters under the write lock, around the commit, so no reload
     * ever pairs the new blob with the old master. The cached keyring stays
     * valid (same keys); it keeps its old epoch so readers of older snapshots
     * keep using it, and the next newer transaction reloads with new_master. */
    pthread_rwlock_wrlock(&v->kr_lock);
    rc = store_commit(t, err);
    if (rc == VC_OK)
        v->m = new_master;
    pthread_rwlock_unlock(&v->kr_lock);
    return rc;
}

/* ---- the keyring cache ---- */

void vkr_release(vault *v, vkr_ref *r)
{
    if (r->kr == NULL)
        return;
    if (r->priv)
        seal_keyring_free(r->kr);
    else
        pthread_rwlock_unlock(&v->kr_lock);
    r->kr = NULL;
}

vc_code vkr_acquire(vault *v, store_txn *t, vkr_ref *out, vc_err *err)
{
    uint64_t e = 0;
    vc_code rc = vkr_meta_get_u64(t, VAULT_META_EPOCH, 0, &e, err);
    out->kr = NULL;
    out->priv = false;
    if (rc != VC_OK)
        return rc;
    for (;;) {
        pthread_rwlock_rdlock(&v->kr_lock);
        if (v->epoch == e) {
            out->kr = v->kr;
            return VC_OK;
        }
        if (e < v->epoch) {
            /* an old snapshot: its own keyring, not the newer cached one */
            rc = vkr_read_current(v, t, &out->kr, err);
            pthread_rwlock_unlock(&v->kr_lock);
            out->priv = true;
            return rc;
        }
        pthread_rwlock_unlock(&v->kr_lock);

        pthread_rwlock_wrlock(&v->kr_lock);
        if (v->epoch < e) {
            seal_keyring *fresh = NULL;
            rc = vkr_read_current(v, t, &fresh, err);
            if (rc != VC_OK) {
                pthread_rwlock_unlock(&v->kr_lock);
                return rc;
            }
            seal_keyring_free(v->kr);
            v->kr = fresh;
            v->epoch = e;
        }
        pthread_rwlock_unlock(&v->kr_lock);
    }
}

vc_code vkr_reload_private(vault *v, store_txn *t, vkr_ref *r, vc_err *err)
{
    seal_keyring *k = NULL;
    vc_code rc;
    vkr_release(v, r);
    pthread_rwlock_rdlock(&v->kr_lock);
    rc = vkr_read_current(v, t, &k, err);
    pthread_rwlock_unlock(&v->kr_lock);
    r->kr = k;
    r->priv = true;
    return rc;
}
