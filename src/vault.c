/* vault.c - the encrypted key/value vault (see vault.h).
 *
 * On-store layout
 *   META    "format"        u8 1
 *           "keyring"       seal_keyring_wrap blob
 *           "epoch"         u64 LE, +1 each time the stored keyring changes
 *           "last_rotation" i64 LE unix seconds
 *           "gen"           u64 LE, +1 in every write transaction that changes
 *                           records (invalidates the in-memory list cache)
 *   RECORDS seal_name_hash(name) -> header || seal_encrypt(pt)
 *           header = format u8 (1) | key_version u32 | version u64 |
 *                    created_at i64 | updated_at i64        (all LE)
 *           pt     = name_len u32 LE | name | value
 *           AD     = header || name hash
 *   Binding the header and the name hash as associated data means a record
 *   moved under another name, an old ciphertext spliced under a newer header
 *   or altered metadata all fail to open.
 *
 * Keyring cache
 *   The unwrapped keyring is kept in memory with the epoch it was read at,
 *   behind a rwlock. Every transaction reads META "epoch" and uses a keyring
 *   of exactly that epoch: the cached one if equal, a reloaded one if newer
 *   (another process or thread rotated or rekeyed), or a private copy
 *   unwrapped from the transaction if the transaction is older than the cache
 *   (a reader whose snapshot predates a reload). So the keyring always matches
 *   the records the transaction sees. Lock order: store transaction first,
 *   then the keyring lock; the list mutex comes before both, and the
 *   group-commit mutex is never held across a transaction.
 */
#include "vault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "latch.h"
#include "le.h"
#include "store.h"

#define VAULT_FORMAT 1
#define HDR_BYTES    29 /* 1 + 4 + 8 + 8 + 8 */
#define AD_BYTES     (HDR_BYTES + SEAL_HASH_BYTES)
#define ROTATE_BATCH 1000

/* META keys */
#define K_FORMAT   "format"
#define K_KEYRING  "keyring"
#define K_EPOCH    "epoch"
#define K_LAST_ROT "last_rotation"
#define K_GEN      "gen"

typedef struct {
    uint32_t key_version;
    uint64_t version;
    int64_t created_at;
    int64_t updated_at;
} rec_hdr;

/* One queued write of the group commit: one malloc'd block holding the
 * request and copies of its name and value (so callers may free theirs at
 * once), owned by the vault from queueing until its callback has returned,
 * then wiped (the value is a secret) and freed. */
typedef struct wreq {
    struct wreq *next;
    const char *name;
    size_t name_len;
    const char *value; /* NULL for a delete */
    size_t value_len;
    bool del;
    vault_write_done done;
    void *arg;
    size_t alloc_len; /* bytes of this block, for the wipe */
    vc_code rc;
    vc_err err;
    vault_meta meta;
} wreq;

typedef struct {
    char *s; /* malloc'd, NUL-terminated */
    size_t len;
} name_ent;

struct vault {
    store *st;

    /* keyring cache; kr_lock also guards m (rekey switches it) */
    pthread_rwlock_t kr_lock;
    seal_keyring *kr;
    uint64_t epoch;
    const seal_master *m;

    /* group commit: writers queue, the committer thread takes the whole
     * queue as one batch (see committer_main) */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv; /* the committer waits here for writes */
    wreq *q_head, *q_tail;
    size_t q_len;
    bool q_stop;       /* vault_close: finish the queue, then exit */
    bool committer_on; /* started (lazily, by the first write) */
    pthread_t committer;
    /* committed batches, chained, waiting for the completer thread to run
     * their callbacks (replies), so the committer can begin the next
     * transaction at once; guarded by q_mu */
    pthread_cond_t d_cv;
    wreq *d_head, *d_tail;
    bool d_stop;
    pthread_t completer;
    vault_commit_stats stats;

    /* sorted name cache for vault_list */
    pthread_mutex_t list_mu;
    name_ent *names;
    size_t n_names;
    uint64_t list_gen, list_epoch;
    bool list_valid;

    pthread_mutex_t rot_mu; /* one rotation at a time in this process */
};

/* Test hook: stop vault_rotate after this many re-seal batches (0: never), to
 * simulate a crash mid-rotation. Declared here, not in vault.h: tests only. */
void vault_test_rotate_batches_limit(unsigned n);
static unsigned rotate_batches_limit;

void vault_test_rotate_batches_limit(unsigned n)
{
    rotate_batches_limit = n;
}

static void hdr_encode(const rec_hdr *h, uint8_t out[HDR_BYTES])
{
    out[0] = VAULT_FORMAT;
    le_put_u32(out + 1, h->key_version);
    le_put_u64(out + 5, h->version);
    le_put_u64(out + 13, (uint64_t)h->created_at);
    le_put_u64(out + 21, (uint64_t)h->updated_at);
}

/* false if the bytes cannot be a record of this format */
static bool hdr_decode(const uint8_t *val, size_t len, rec_hdr *h)
{
    if (len < HDR_BYTES + SEAL_OVERHEAD + 4 || val[0] != VAULT_FORMAT)
        return false;
    h->key_version = le_get_u32(val + 1);
    h->version = le_get_u64(val + 5);
    h->created_at = (int64_t)le_get_u64(val + 13);
    h->updated_at = (int64_t)le_get_u64(val + 21);
    return true;
}

/* ---- META helpers ---- */

static vc_code meta_get_u64(store_txn *t, const char *key, uint64_t dflt, uint64_t *out,
                            vc_err *err)
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

static vc_code meta_put_u64(store_txn *t, const char *key, uint64_t x, vc_err *err)
{
    uint8_t b[8];
    le_put_u64(b, x);
    return store_put(t, STORE_META, (const uint8_t *)key, strlen(key), b, sizeof b, err);
}

/* Adds 1 to the u64 at key (0 if absent); *out (may be NULL) gets the new value. */
static vc_code meta_bump(store_txn *t, const char *key, uint64_t *out, vc_err *err)
{
    uint64_t x = 0;
    vc_code rc = meta_get_u64(t, key, 0, &x, err);
    if (rc != VC_OK)
        return rc;
    x++;
    if (out != NULL)
        *out = x;
    return meta_put_u64(t, key, x, err);
}

static vc_code keyring_put(store_txn *t, const seal_keyring *kr, const seal_master *m, vc_err *err)
{
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    vc_code rc = seal_keyring_wrap(kr, m, &blob, &blob_len, err);
    if (rc != VC_OK)
        return rc;
    rc = store_put(t, STORE_META, (const uint8_t *)K_KEYRING, strlen(K_KEYRING), blob, blob_len,
                   err);
    free(blob);
    return rc;
}

/* Unwraps the keyring stored in t with m. VC_NOT_FOUND if there is none;
 * VC_ACCESS_DENIED (from seal) if m does not open it. */
static vc_code keyring_read(store_txn *t, const seal_master *m, seal_keyring **out, vc_err *err)
{
    const uint8_t *blob;
    size_t blob_len;
    vc_code rc = store_get(t, STORE_META, (const uint8_t *)K_KEYRING, strlen(K_KEYRING), &blob,
                           &blob_len, err);
    if (rc != VC_OK)
        return rc;
    return seal_keyring_unwrap(out, m, blob, blob_len, err);
}

/* keyring_read with the vault's current master; a master that no longer opens
 * the keyring means another process rekeyed under us. */
static vc_code keyring_read_locked(vault *v, store_txn *t, seal_keyring **out, vc_err *err)
{
    vc_code rc = keyring_read(t, v->m, out, err);
    if (rc == VC_ACCESS_DENIED)
        return vc_errf(err, VC_INTERNAL,
                       "the vault keyring no longer opens with this master "
                       "key (rekeyed by another process?)");
    if (rc == VC_NOT_FOUND)
        return vc_errf(err, VC_INTERNAL, "the vault keyring is missing");
    return rc;
}

/* ---- keyring cache ---- */

typedef struct {
    seal_keyring *kr;
    bool priv; /* true: private copy to free; false: kr_lock held for reading */
} krref;

static void kr_release(vault *v, krref *r)
{
    if (r->kr == NULL)
        return;
    if (r->priv)
        seal_keyring_free(r->kr);
    else
        pthread_rwlock_unlock(&v->kr_lock);
    r->kr = NULL;
}

/* A keyring matching the epoch transaction t sees; release with kr_release. */
static vc_code kr_acquire(vault *v, store_txn *t, krref *out, vc_err *err)
{
    uint64_t e = 0;
    vc_code rc = meta_get_u64(t, K_EPOCH, 0, &e, err);
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
            rc = keyring_read_locked(v, t, &out->kr, err);
            pthread_rwlock_unlock(&v->kr_lock);
            out->priv = true;
            return rc;
        }
        pthread_rwlock_unlock(&v->kr_lock);

        pthread_rwlock_wrlock(&v->kr_lock);
        if (v->epoch < e) {
            seal_keyring *fresh = NULL;
            rc = keyring_read_locked(v, t, &fresh, err);
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

/* Swaps a cached keyring for a private copy read from t: the one retry when a
 * record names a data key version the cached keyring lacks. */
static vc_code kr_reload_private(vault *v, store_txn *t, krref *r, vc_err *err)
{
    seal_keyring *k = NULL;
    vc_code rc;
    kr_release(v, r);
    pthread_rwlock_rdlock(&v->kr_lock);
    rc = keyring_read_locked(v, t, &k, err);
    pthread_rwlock_unlock(&v->kr_lock);
    r->kr = k;
    r->priv = true;
    return rc;
}

/* ---- records ---- */

static void wipe_free(uint8_t *p, size_t len)
{
    if (p != NULL) {
        sodium_memzero(p, len);
        free(p);
    }
}

static void make_ad(uint8_t ad[AD_BYTES], const rec_hdr *h, const uint8_t hash[SEAL_HASH_BYTES])
{
    hdr_encode(h, ad);
    memcpy(ad + HDR_BYTES, hash, SEAL_HASH_BYTES);
}

/* Seals plaintext pt under h->key_version into a malloc'd record. */
static vc_code record_seal(const seal_keyring *kr, const rec_hdr *h,
                           const uint8_t hash[SEAL_HASH_BYTES], const uint8_t *pt, size_t pt_len,
                           uint8_t **rec, size_t *rec_len, vc_err *err)
{
    uint8_t ad[AD_BYTES];
    size_t len;
    uint8_t *buf;
    vc_code rc;

    if (pt_len > SIZE_MAX - AD_BYTES - SEAL_OVERHEAD)
        return vc_errf(err, VC_TOO_LARGE, "value too large");
    len = HDR_BYTES + pt_len + SEAL_OVERHEAD;
    buf = malloc(len);
    if (buf == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    make_ad(ad, h, hash);
    memcpy(buf, ad, HDR_BYTES);
    rc = seal_encrypt(kr, h->key_version, ad, sizeof ad, pt, pt_len, buf + HDR_BYTES, err);
    if (rc != VC_OK) {
        free(buf);
        return rc;
    }
    *rec = buf;
    *rec_len = len;
    return VC_OK;
}

/* Builds pt = name_len | name | value in a malloc'd buffer (wipe_free it). */
static vc_code plaintext_build(const char *name, size_t name_len, const char *value,
                               size_t value_len, uint8_t **pt, size_t *pt_len, vc_err *err)
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

/* Opens a stored record into a malloc'd plaintext (wipe_free it). Any failure
 * is "record failed to open", never partial output. Retries once with a
 * keyring re-read from t when the record's data key version is unknown. */
static vc_code record_open(vault *v, store_txn *t, krref *kr, const uint8_t hash[SEAL_HASH_BYTES],
                           const uint8_t *val, size_t val_len, rec_hdr *h, uint8_t **pt,
                           size_t *pt_len, vc_err *err)
{
    uint8_t ad[AD_BYTES];
    uint8_t *buf;
    size_t len, nlen;

    if (!hdr_decode(val, val_len, h))
        goto bad;
    if (!seal_keyring_has(kr->kr, h->key_version) && !kr->priv) {
        if (kr_reload_private(v, t, kr, err) != VC_OK)
            return VC_INTERNAL;
    }
    if (!seal_keyring_has(kr->kr, h->key_version))
        goto bad;
    len = val_len - HDR_BYTES - SEAL_OVERHEAD;
    buf = malloc(len);
    if (buf == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    make_ad(ad, h, hash);
    if (seal_decrypt(kr->kr, h->key_version, ad, sizeof ad, val + HDR_BYTES, val_len - HDR_BYTES,
                     buf, err) != VC_OK) {
        wipe_free(buf, len);
        goto bad;
    }
    nlen = le_get_u32(buf);
    if (nlen > len - 4) {
        wipe_free(buf, len);
        goto bad;
    }
    *pt = buf;
    *pt_len = len;
    return VC_OK;
bad:
    return vc_errf(err, VC_INTERNAL, "record failed to open");
}

static vc_code check_name(const char *name, size_t name_len, vc_err *err)
{
    if (name == NULL || name_len == 0 || name_len > UINT32_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "key name must not be empty");
    return VC_OK;
}

/* ---- open / close ---- */

static vc_code vault_init_locks(vault *v)
{
    if (pthread_rwlock_init(&v->kr_lock, NULL) != 0)
        return VC_INTERNAL;
    if (pthread_mutex_init(&v->q_mu, NULL) != 0)
        goto fail_q;
    if (pthread_cond_init(&v->q_cv, NULL) != 0)
        goto fail_cv;
    if (pthread_cond_init(&v->d_cv, NULL) != 0)
        goto fail_dcv;
    if (pthread_mutex_init(&v->list_mu, NULL) != 0)
        goto fail_list;
    if (pthread_mutex_init(&v->rot_mu, NULL) != 0)
        goto fail_rot;
    return VC_OK;
fail_rot:
    pthread_mutex_destroy(&v->list_mu);
fail_list:
    pthread_cond_destroy(&v->d_cv);
fail_dcv:
    pthread_cond_destroy(&v->q_cv);
fail_cv:
    pthread_mutex_destroy(&v->q_mu);
fail_q:
    pthread_rwlock_destroy(&v->kr_lock);
    return VC_INTERNAL;
}

/* First open of an empty store: a fresh keyring, in one transaction. Another
 * process may have beaten us to it, so look again under the write lock. */
static vc_code vault_create_keyring(vault *v, const char *dir, vc_err *err)
{
    store_txn *t = NULL;
    uint64_t n;
    uint8_t fmt = VAULT_FORMAT;
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = keyring_read(t, v->m, &v->kr, err);
    if (rc == VC_OK) {
        rc = meta_get_u64(t, K_EPOCH, 0, &v->epoch, err);
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
    if ((rc = keyring_put(t, v->kr, v->m, err)) != VC_OK ||
        (rc = meta_put_u64(t, K_EPOCH, 1, err)) != VC_OK ||
        (rc = store_put(t, STORE_META, (const uint8_t *)K_FORMAT, strlen(K_FORMAT), &fmt, 1,
                        err)) != VC_OK)
        goto fail;
    v->epoch = 1;
    return store_commit(t, err);
fail:
    store_abort(t);
    return rc;
}

/* Reads the existing keyring; NOT_FOUND if the store has none yet. */
static vc_code vault_load_keyring(vault *v, const char *dir, vc_err *err)
{
    store_txn *t = NULL;
    const uint8_t *fmt;
    size_t fmt_len;
    vc_code rc = store_begin(v->st, false, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = store_get(t, STORE_META, (const uint8_t *)K_FORMAT, strlen(K_FORMAT), &fmt, &fmt_len, err);
    if (rc == VC_OK && (fmt_len != 1 || fmt[0] != VAULT_FORMAT)) {
        rc = vc_errf(err, VC_CONFIG,
                     "vault at %s has an unknown format (this build reads "
                     "format %d)",
                     dir, VAULT_FORMAT);
        goto out;
    }
    if (rc != VC_OK && rc != VC_NOT_FOUND)
        goto out;
    rc = keyring_read(t, v->m, &v->kr, err);
    if (rc == VC_ACCESS_DENIED) {
        rc = vc_errf(err, VC_CONFIG, "master key does not match the vault at %s", dir);
        goto out;
    }
    if (rc == VC_OK)
        rc = meta_get_u64(t, K_EPOCH, 0, &v->epoch, err);
out:
    store_abort(t);
    return rc;
}

vc_code vault_open(vault **out, const char *dir, size_t map_size, const seal_master *m, vc_err *err)
{
    vault *v;
    vc_code rc;

    *out = NULL;
    if ((rc = seal_init(err)) != VC_OK)
        return rc;
    v = calloc(1, sizeof *v);
    if (v == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    if (vault_init_locks(v) != VC_OK) {
        free(v);
        return vc_errf(err, VC_INTERNAL, "cannot initialise vault locks");
    }
    v->m = m;
    rc = store_open(&v->st, dir, map_size, err);
    if (rc != VC_OK)
        goto fail;
    rc = vault_load_keyring(v, dir, err);
    if (rc == VC_NOT_FOUND)
        rc = vault_create_keyring(v, dir, err);
    if (rc == VC_ACCESS_DENIED)
        rc = vc_errf(err, VC_CONFIG, "master key does not match the vault at %s", dir);
    if (rc != VC_OK)
        goto fail;
    *out = v;
    return VC_OK;
fail:
    vault_close(v);
    return rc;
}

static void names_cache_free(vault *v)
{
    for (size_t i = 0; i < v->n_names; i++)
        free(v->names[i].s);
    free(v->names);
    v->names = NULL;
    v->n_names = 0;
    v->list_valid = false;
}

static void committer_stop(vault *v);

void vault_close(vault *v)
{
    if (v == NULL)
        return;
    committer_stop(v);
    store_close(v->st);
    seal_keyring_free(v->kr);
    names_cache_free(v);
    pthread_mutex_destroy(&v->rot_mu);
    pthread_mutex_destroy(&v->list_mu);
    pthread_cond_destroy(&v->d_cv);
    pthread_cond_destroy(&v->q_cv);
    pthread_mutex_destroy(&v->q_mu);
    pthread_rwlock_destroy(&v->kr_lock);
    free(v);
}

/* ---- get ---- */

vc_code vault_get(vault *v, const char *name, size_t name_len, char **value, size_t *value_len,
                  vault_meta *meta, vc_err *err)
{
    store_txn *t = NULL;
    krref kr = {NULL, false};
    uint8_t hash[SEAL_HASH_BYTES];
    const uint8_t *val;
    size_t val_len, pt_len = 0, nlen, vlen;
    uint8_t *pt = NULL;
    rec_hdr h;
    char *outv;
    vc_code rc;

    *value = NULL;
    *value_len = 0;
    if ((rc = check_name(name, name_len, err)) != VC_OK)
        return rc;
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = kr_acquire(v, t, &kr, err)) != VC_OK)
        goto out;
    seal_name_hash(kr.kr, name, name_len, hash);
    rc = store_get(t, STORE_RECORDS, hash, sizeof hash, &val, &val_len, err);
    if (rc == VC_NOT_FOUND) {
        rc = vc_errf(err, VC_NOT_FOUND, "key not found");
        goto out;
    }
    if (rc != VC_OK)
        goto out;
    rc = record_open(v, t, &kr, hash, val, val_len, &h, &pt, &pt_len, err);
    if (rc != VC_OK)
        goto out;
    nlen = le_get_u32(pt);
    /* the hash matched; the sealed name must too (a hash collision or a
     * forged index entry would otherwise hand out another key's value) */
    if (nlen != name_len || sodium_memcmp(pt + 4, name, name_len) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "record failed to open");
        goto out;
    }
    vlen = pt_len - 4 - nlen;
    outv = malloc(vlen + 1);
    if (outv == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(outv, pt + 4 + nlen, vlen);
    outv[vlen] = '\0';
    *value = outv;
    *value_len = vlen;
    if (meta != NULL) {
        meta->version = h.version;
        meta->created_at = h.created_at;
        meta->updated_at = h.updated_at;
    }
out:
    wipe_free(pt, pt_len);
    kr_release(v, &kr);
    store_abort(t);
    return rc;
}

/* ---- set / delete: group commit ---- */

/* Applies one write inside t. Its own failures (VC_NOT_FOUND, a value too
 * large to seal) leave t usable; a failing store call sets *dead: t must then
 * be aborted. *changed is set when the write modified RECORDS. */
static vc_code apply_write(store_txn *t, const seal_keyring *kr, wreq *w, bool *changed, bool *dead)
{
    uint8_t hash[SEAL_HASH_BYTES];
    const uint8_t *old;
    size_t old_len, pt_len = 0, rec_len = 0;
    uint8_t *pt = NULL, *rec = NULL;
    rec_hdr h, prev;
    vc_code rc;

    seal_name_hash(kr, w->name, w->name_len, hash);
    if (w->del) {
        rc = store_del(t, STORE_RECORDS, hash, sizeof hash, &w->err);
        if (rc == VC_NOT_FOUND)
            return vc_errf(&w->err, VC_NOT_FOUND, "key not found");
        if (rc == VC_OK)
            *changed = true;
        else
            *dead = true;
        return rc;
    }
    rc = store_get(t, STORE_RECORDS, hash, sizeof hash, &old, &old_len, &w->err);
    if (rc != VC_OK && rc != VC_NOT_FOUND) {
        *dead = true;
        return rc;
    }
    h.key_version = seal_keyring_current(kr);
    h.updated_at = (int64_t)time(NULL);
    /* The previous header is trusted for version/created_at without opening
     * the record (sets stay cheap for big values); the new record is sealed
     * afresh, so a damaged old header can at worst skew those two numbers. */
    if (rc == VC_OK && hdr_decode(old, old_len, &prev)) {
        h.version = prev.version + 1;
        h.created_at = prev.created_at;
    } else {
        h.version = 1;
        h.created_at = h.updated_at;
    }
    rc = plaintext_build(w->name, w->name_len, w->value, w->value_len, &pt, &pt_len, &w->err);
    if (rc != VC_OK)
        return rc;
    rc = record_seal(kr, &h, hash, pt, pt_len, &rec, &rec_len, &w->err);
    wipe_free(pt, pt_len);
    if (rc != VC_OK)
        return rc;
    rc = store_put(t, STORE_RECORDS, hash, sizeof hash, rec, rec_len, &w->err);
    free(rec);
    if (rc != VC_OK) {
        *dead = true;
        return rc;
    }
    w->meta.version = h.version;
    w->meta.created_at = h.created_at;
    w->meta.updated_at = h.updated_at;
    *changed = true;
    return VC_OK;
}

/* Runs writes [first, stop) in one transaction. Returns VC_OK when the batch
 * committed (each w->rc says how its own write went); otherwise the code that
 * killed the transaction, in *fatal_err, with nothing written. */
static vc_code run_txn(vault *v, wreq *first, wreq *stop, vc_err *fatal_err)
{
    store_txn *t = NULL;
    krref kr = {NULL, false};
    bool changed = false;
    vc_code rc;

    if ((rc = store_begin(v->st, true, &t, fatal_err)) != VC_OK)
        return rc;
    if ((rc = kr_acquire(v, t, &kr, fatal_err)) != VC_OK)
        goto fail;
    for (wreq *w = first; w != stop; w = w->next) {
        bool dead = false;
        vc_err_clear(&w->err);
        w->rc = apply_write(t, kr.kr, w, &changed, &dead);
        if (dead) {
            rc = vc_errf(fatal_err, w->rc, "%s", w->err.msg);
            goto fail;
        }
    }
    kr_release(v, &kr);
    if (changed && (rc = meta_bump(t, K_GEN, NULL, fatal_err)) != VC_OK)
        goto fail;
    /* durable once the completer's store_sync returns (complete_synced) */
    return store_commit_unsynced(t, fatal_err);
fail:
    kr_release(v, &kr);
    store_abort(t);
    return rc;
}

static void fail_write(wreq *w, vc_code rc, const vc_err *e)
{
    if (rc == VC_UNAVAILABLE)
        w->rc = vc_errf(&w->err, VC_UNAVAILABLE, "storage full");
    else
        w->rc = vc_errf(&w->err, rc, "%s", e->msg);
}

/* The committer's work: one transaction and one sync for the whole batch. If
 * storage fills up, each write is retried alone so only those that do not fit
 * fail and nothing else is lost. */
static void run_batch(vault *v, wreq *batch)
{
    vc_err e;
    vc_code rc;

    vc_err_clear(&e);
    rc = run_txn(v, batch, NULL, &e);
    if (rc == VC_OK)
        return;
    if (rc != VC_UNAVAILABLE || batch->next == NULL) {
        for (wreq *w = batch; w != NULL; w = w->next)
            fail_write(w, rc, &e);
        return;
    }
    for (wreq *w = batch; w != NULL; w = w->next) {
        vc_err_clear(&e);
        rc = run_txn(v, w, w->next, &e);
        if (rc != VC_OK)
            fail_write(w, rc, &e);
    }
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Calls each write's callback, in queue order, and frees it. */
static void complete_batch(wreq *batch)
{
    static const vault_meta no_meta = {0, 0, 0};

    for (wreq *w = batch; w != NULL;) {
        wreq *next = w->next;
        /* Free the request (and wipe its copy of the value) before the
         * callback: once a blocking caller is woken, nothing of its write
         * is left behind in this thread (a fork() right after then carries
         * no half-freed request into the child). */
        vault_write_done done = w->done;
        void *arg = w->arg;
        vc_code rc = w->rc;
        vault_meta meta = w->rc == VC_OK && !w->del ? w->meta : no_meta;
        vc_err err = w->err;
        sodium_memzero(w, w->alloc_len);
        free(w);
        done(arg, rc, &meta, &err);
        w = next;
    }
}

/* The committer thread. Why one thread rather than a leader among the
 * writers: a writer that leads blocks for the whole sync, so a batch could
 * never hold more writes than there are blocked callers, and every caller
 * (a service worker) sat idle through the sync. Here callers queue and go
 * on; whatever queued while the previous batch was syncing forms the next
 * batch, with no waiting to gather more: a busy disk makes batches bigger by
 * itself. A committed batch goes to the completer thread, which runs its
 * callbacks (the service publishes the replies there) after the one sync
 * that makes them durable, while the committer begins the next transaction:
 * each cycle of the committer does one flush instead of two and publishes
 * nothing (measured +5-15 % sets/s at 64 in flight on 100,000 records). */
static void *committer_main(void *arg)
{
    vault *v = arg;

    pthread_mutex_lock(&v->q_mu);
    for (;;) {
        while (v->q_head == NULL && !v->q_stop)
            pthread_cond_wait(&v->q_cv, &v->q_mu);
        if (v->q_head == NULL)
            break; /* stopping, and the queue is done */
        wreq *batch = v->q_head, *last = v->q_tail;
        size_t n = v->q_len;
        v->q_head = v->q_tail = NULL;
        v->q_len = 0;
        pthread_mutex_unlock(&v->q_mu);

        int64_t t0 = mono_ns();
        run_batch(v, batch);
        int64_t ns = mono_ns() - t0;

        pthread_mutex_lock(&v->q_mu);
        v->stats.batches++;
        v->stats.writes += n;
        v->stats.commit_ns += (uint64_t)ns;
        if (n > v->stats.max_batch)
            v->stats.max_batch = n;
        if (v->d_tail != NULL) {
            v->d_tail->next = batch;
        } else {
            v->d_head = batch;
            pthread_cond_signal(&v->d_cv); /* it only waits on an empty list */
        }
        v->d_tail = last;
    }
    pthread_mutex_unlock(&v->q_mu);
    return NULL;
}

/* Makes the committed writes of a list of batches durable with one sync
 * (their commits flushed the data, the sync flushes the meta pages, see
 * store.h), then runs their callbacks. A failed sync fails every write
 * that had committed: it was not answered, and may not survive a crash. */
static void complete_synced(vault *v, wreq *done)
{
    vc_err e;

    vc_err_clear(&e);
    if (store_sync(v->st, &e) != VC_OK)
        for (wreq *w = done; w != NULL; w = w->next)
            if (w->rc == VC_OK)
                w->rc = vc_errf(&w->err, e.code, "%s", e.msg);
    complete_batch(done);
}

/* The completer thread: syncs committed batches and runs their callbacks,
 * in commit order. */
static void *completer_main(void *arg)
{
    vault *v = arg;

    pthread_mutex_lock(&v->q_mu);
    for (;;) {
        while (v->d_head == NULL && !v->d_stop)
            pthread_cond_wait(&v->d_cv, &v->q_mu);
        if (v->d_head == NULL)
            break; /* stopping, and every batch is done */
        wreq *done = v->d_head;
        v->d_head = v->d_tail = NULL;
        pthread_mutex_unlock(&v->q_mu);
        complete_synced(v, done);
        pthread_mutex_lock(&v->q_mu);
    }
    pthread_mutex_unlock(&v->q_mu);
    return NULL;
}

/* Lets the committer finish the queue and the completer its batches, and
 * joins both (vault_close). */
static void committer_stop(vault *v)
{
    bool on;

    pthread_mutex_lock(&v->q_mu);
    v->q_stop = true;
    on = v->committer_on;
    pthread_cond_signal(&v->q_cv);
    pthread_mutex_unlock(&v->q_mu);
    if (!on)
        return;
    pthread_join(v->committer, NULL);
    pthread_mutex_lock(&v->q_mu);
    v->d_stop = true;
    pthread_cond_signal(&v->d_cv);
    pthread_mutex_unlock(&v->q_mu);
    pthread_join(v->completer, NULL);
}

/* Starts the committer and the completer; called with q_mu held. */
static vc_code threads_start(vault *v, vc_err *err)
{
    if (pthread_create(&v->completer, NULL, completer_main, v) != 0)
        return vc_errf(err, VC_INTERNAL, "cannot start the vault completer thread");
    if (pthread_create(&v->committer, NULL, committer_main, v) != 0) {
        /* nothing can be queued for it yet: stop it at once */
        v->d_stop = true;
        pthread_cond_signal(&v->d_cv);
        pthread_mutex_unlock(&v->q_mu);
        pthread_join(v->completer, NULL);
        pthread_mutex_lock(&v->q_mu);
        v->d_stop = false;
        return vc_errf(err, VC_INTERNAL, "cannot start the vault committer thread");
    }
    v->committer_on = true;
    return VC_OK;
}

/* Queues w (taking ownership) for the committer, starting the committer on
 * the first write: a vault only read (most CLI commands) never has one. */
static vc_code submit(vault *v, wreq *w, vc_err *err)
{
    vc_code rc = VC_OK;

    if (w == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    pthread_mutex_lock(&v->q_mu);
    if (v->q_stop) {
        rc = vc_errf(err, VC_UNAVAILABLE, "vault is closing");
        goto out;
    }
    if (!v->committer_on && (rc = threads_start(v, err)) != VC_OK)
        goto out;
    w->next = NULL;
    if (v->q_tail != NULL) {
        v->q_tail->next = w;
    } else {
        v->q_head = w;
        /* the committer only waits on an empty queue */
        pthread_cond_signal(&v->q_cv);
    }
    v->q_tail = w;
    v->q_len++;
out:
    pthread_mutex_unlock(&v->q_mu);
    if (rc != VC_OK) {
        sodium_memzero(w, w->alloc_len);
        free(w);
    }
    return rc;
}

/* A queued write with copies of name and value (value NULL: a delete). */
static vc_code wreq_new(const char *name, size_t name_len, const char *value, size_t value_len,
                        bool del, vault_write_done done, void *arg, wreq **out, vc_err *err)
{
    wreq *w;
    size_t len;
    char *p;

    *out = NULL;
    if (name == NULL || name_len == 0 || name_len > UINT32_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "key name must not be empty");
    if (!del && value == NULL && value_len > 0)
        return vc_errf(err, VC_BAD_REQUEST, "value missing");
    if (done == NULL)
        return vc_errf(err, VC_INTERNAL, "write without a completion");
    if (value_len > SIZE_MAX / 2 - name_len - sizeof *w)
        return vc_errf(err, VC_TOO_LARGE, "value too large");
    len = sizeof *w + name_len + value_len;
    w = calloc(1, len);
    if (w == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    p = (char *)(w + 1);
    memcpy(p, name, name_len);
    w->name = p;
    w->name_len = name_len;
    if (!del) {
        if (value_len > 0)
            memcpy(p + name_len, value, value_len);
        w->value = p + name_len;
        w->value_len = value_len;
    }
    w->del = del;
    w->done = done;
    w->arg = arg;
    w->alloc_len = len;
    *out = w;
    return VC_OK;
}

vc_code vault_set_async(vault *v, const char *name, size_t name_len, const char *value,
                        size_t value_len, vault_write_done done, void *arg, vc_err *err)
{
    wreq *w;
    vc_code rc = wreq_new(name, name_len, value, value_len, false, done, arg, &w, err);
    return rc == VC_OK ? submit(v, w, err) : rc;
}

vc_code vault_delete_async(vault *v, const char *name, size_t name_len, vault_write_done done,
                           void *arg, vc_err *err)
{
    wreq *w;
    vc_code rc = wreq_new(name, name_len, NULL, 0, true, done, arg, &w, err);
    return rc == VC_OK ? submit(v, w, err) : rc;
}

void vault_commit_stats_get(vault *v, vault_commit_stats *out)
{
    pthread_mutex_lock(&v->q_mu);
    *out = v->stats;
    pthread_mutex_unlock(&v->q_mu);
}

/* ---- blocking set / delete: an async write and a wait ---- */

typedef struct {
    latch done;
    vc_code rc;
    vault_meta meta;
    vc_err err;
} waiter;

static void waiter_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *err)
{
    waiter *wt = arg;

    wt->rc = rc;
    wt->meta = *meta;
    wt->err = *err;
    latch_open(&wt->done); /* the waiter may be gone from here on */
}

/* The committer or completer waiting for itself would hang for good. */
static vc_code not_on_committer(vault *v, vc_err *err)
{
    bool self;

    pthread_mutex_lock(&v->q_mu);
    self = v->committer_on && (pthread_equal(v->committer, pthread_self()) ||
                               pthread_equal(v->completer, pthread_self()));
    pthread_mutex_unlock(&v->q_mu);
    if (self)
        return vc_errf(err, VC_INTERNAL,
                       "blocking vault write from a write "
                       "completion");
    return VC_OK;
}

static vc_code write_wait(vault *v, const char *name, size_t name_len, const char *value,
                          size_t value_len, bool del, vault_meta *meta, vc_err *err)
{
    waiter wt;
    vc_code rc;

    if ((rc = not_on_committer(v, err)) != VC_OK)
        return rc;
    latch_init(&wt.done);
    if (del)
        rc = vault_delete_async(v, name, name_len, waiter_done, &wt, err);
    else
        rc = vault_set_async(v, name, name_len, value, value_len, waiter_done, &wt, err);
    if (rc == VC_OK) {
        latch_wait(&wt.done);
        rc = wt.rc;
        if (rc != VC_OK && err != NULL)
            *err = wt.err;
        if (rc == VC_OK && meta != NULL)
            *meta = wt.meta;
    }
    latch_destroy(&wt.done);
    return rc;
}

vc_code vault_set(vault *v, const char *name, size_t name_len, const char *value, size_t value_len,
                  vault_meta *meta, vc_err *err)
{
    return write_wait(v, name, name_len, value, value_len, false, meta, err);
}

vc_code vault_delete(vault *v, const char *name, size_t name_len, vc_err *err)
{
    return write_wait(v, name, name_len, NULL, 0, true, NULL, err);
}

/* ---- list ---- */

typedef struct {
    vault *v;
    store_txn *t;
    krref *kr;
    name_ent *names;
    size_t n, cap;
    vc_code rc;
    vc_err *err;
} scan_names;

static int collect_name(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                        size_t val_len)
{
    scan_names *c = ctx;
    uint8_t *pt = NULL;
    size_t pt_len = 0, nlen;
    rec_hdr h;
    char *s;

    if (key_len != SEAL_HASH_BYTES) {
        c->rc = vc_errf(c->err, VC_INTERNAL, "record failed to open");
        return (int)c->rc;
    }
    c->rc = record_open(c->v, c->t, c->kr, key, val, val_len, &h, &pt, &pt_len, c->err);
    if (c->rc != VC_OK)
        return (int)c->rc;
    nlen = le_get_u32(pt);
    s = malloc(nlen + 1);
    if (s != NULL) {
        memcpy(s, pt + 4, nlen);
        s[nlen] = '\0';
    }
    wipe_free(pt, pt_len);
    if (s == NULL)
        goto oom;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        name_ent *grown = realloc(c->names, cap * sizeof *grown);
        if (grown == NULL) {
            free(s);
            goto oom;
        }
        c->names = grown;
        c->cap = cap;
    }
    c->names[c->n].s = s;
    c->names[c->n].len = nlen;
    c->n++;
    return 0;
oom:
    c->rc = vc_errf(c->err, VC_INTERNAL, "out of memory");
    return (int)c->rc;
}

/* bytewise order, a proper prefix first */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);
    if (r != 0)
        return r;
    return (alen > blen) - (alen < blen);
}

static int name_ent_cmp(const void *a, const void *b)
{
    const name_ent *x = a, *y = b;
    return name_cmp(x->s, x->len, y->s, y->len);
}

/* Re-reads every name from t into the cache (list_mu held). */
static vc_code names_rebuild(vault *v, store_txn *t, uint64_t gen, uint64_t epoch, vc_err *err)
{
    krref kr = {NULL, false};
    scan_names c;
    vc_code rc;

    memset(&c, 0, sizeof c);
    names_cache_free(v);
    if ((rc = kr_acquire(v, t, &kr, err)) != VC_OK)
        return rc;
    c.v = v;
    c.t = t;
    c.kr = &kr;
    c.err = err;
    rc = store_scan(t, STORE_RECORDS, NULL, 0, collect_name, &c, err);
    kr_release(v, &kr);
    if (rc == VC_OK && c.rc != VC_OK)
        rc = c.rc;
    if (rc != VC_OK) {
        for (size_t i = 0; i < c.n; i++)
            free(c.names[i].s);
        free(c.names);
        return rc;
    }
    if (c.n > 1)
        qsort(c.names, c.n, sizeof *c.names, name_ent_cmp);
    v->names = c.names;
    v->n_names = c.n;
    v->list_gen = gen;
    v->list_epoch = epoch;
    v->list_valid = true;
    return VC_OK;
}

/* first index whose name is >= key (strict: > key) */
static size_t names_bound(const vault *v, const char *key, size_t len, bool strict)
{
    size_t lo = 0, hi = v->n_names;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = name_cmp(v->names[mid].s, v->names[mid].len, key, len);
        if (r < 0 || (strict && r == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool has_prefix(const name_ent *e, const char *prefix, size_t len)
{
    return e->len >= len && memcmp(e->s, prefix, len) == 0;
}

/* Copies the requested page out of the cache (list_mu held). */
static vc_code names_page(vault *v, const char *prefix, size_t prefix_len, const char *after,
                          size_t after_len, size_t limit, char ***names, size_t *count, bool *more,
                          vc_err *err)
{
    size_t start = names_bound(v, prefix, prefix_len, false);
    size_t end, n = 0;
    char **out;

    if (after != NULL) {
        size_t a = names_bound(v, after, after_len, true);
        if (a > start)
            start = a;
    }
    end = start;
    while (end < v->n_names && has_prefix(&v->names[end], prefix, prefix_len) &&
           (limit == 0 || end - start < limit))
        end++;
    *more = end < v->n_names && has_prefix(&v->names[end], prefix, prefix_len);
    out = calloc(end - start + 1, sizeof *out);
    if (out == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    for (size_t i = start; i < end; i++, n++) {
        out[n] = strdup(v->names[i].s);
        if (out[n] == NULL) {
            vault_names_free(out, n);
            return vc_errf(err, VC_INTERNAL, "out of memory");
        }
    }
    *names = out;
    *count = n;
    return VC_OK;
}

vc_code vault_list(vault *v, const char *prefix, size_t prefix_len, const char *after,
                   size_t after_len, size_t limit, char ***names, size_t *count, bool *more,
                   vc_err *err)
{
    store_txn *t = NULL;
    uint64_t gen = 0, epoch = 0;
    vc_code rc;

    *names = NULL;
    *count = 0;
    *more = false;
    if (prefix == NULL)
        prefix_len = 0;
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = meta_get_u64(t, K_GEN, 0, &gen, err)) != VC_OK ||
        (rc = meta_get_u64(t, K_EPOCH, 0, &epoch, err)) != VC_OK) {
        store_abort(t);
        return rc;
    }
    pthread_mutex_lock(&v->list_mu);
    if (!v->list_valid || v->list_gen != gen || v->list_epoch != epoch)
        rc = names_rebuild(v, t, gen, epoch, err);
    if (rc == VC_OK)
        rc = names_page(v, prefix ? prefix : "", prefix_len, after, after_len, limit, names, count,
                        more, err);
    pthread_mutex_unlock(&v->list_mu);
    store_abort(t);
    return rc;
}

void vault_names_free(char **names, size_t count)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* ---- rotate ---- */

/* One write transaction that edits the stored keyring: reads it (under the
 * read lock, so no rekey switches masters meanwhile), lets edit change it,
 * writes it back and bumps the epoch so every process reloads; with
 * rotated, also stamps last_rotation. Rotation's first and last steps. */
typedef vc_code (*keyring_edit)(seal_keyring *k, void *arg, vc_err *err);

static vc_code keyring_update(vault *v, keyring_edit edit, void *arg, bool rotated, vc_err *err)
{
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    pthread_rwlock_rdlock(&v->kr_lock);
    rc = keyring_read_locked(v, t, &k, err);
    if (rc == VC_OK)
        rc = edit(k, arg, err);
    if (rc == VC_OK)
        rc = keyring_put(t, k, v->m, err);
    pthread_rwlock_unlock(&v->kr_lock);
    seal_keyring_free(k);
    if (rc == VC_OK)
        rc = meta_bump(t, K_EPOCH, NULL, err);
    if (rc == VC_OK && rotated)
        rc = meta_put_u64(t, K_LAST_ROT, (uint64_t)(int64_t)time(NULL), err);
    if (rc != VC_OK) {
        store_abort(t);
        return rc;
    }
    return store_commit(t, err);
}

/* Txn 1 of a rotation: a fresh data key, made current. */
static vc_code edit_add_key(seal_keyring *k, void *arg, vc_err *err)
{
    return seal_keyring_add(k, arg, err);
}

static vc_code rotate_begin(vault *v, uint32_t *new_ver, vc_err *err)
{
    return keyring_update(v, edit_add_key, new_ver, false, err);
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
static int rot_collect(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                       size_t val_len)
{
    rot_batch *b = ctx;
    rot_item *it;

    if (key_len != SEAL_HASH_BYTES)
        return (int)VC_INTERNAL;
    if (b->skip != NULL && memcmp(key, b->skip, SEAL_HASH_BYTES) == 0)
        return 0;
    /* a record too short for a header is copied too: opening it fails and
     * stops the rotation, rather than destroying keys it might need */
    if (val_len > 4 && val[0] == VAULT_FORMAT && le_get_u32(val + 1) == b->new_ver)
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

static void rot_batch_clear(rot_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].val);
    b->n = 0;
    b->full = false;
}

/* Re-seals one record under kr's current version, same metadata. */
static vc_code reseal(vault *v, store_txn *t, krref *kr, uint32_t new_ver, const rot_item *it,
                      vc_err *err)
{
    uint8_t *pt = NULL, *rec = NULL;
    size_t pt_len = 0, rec_len = 0;
    rec_hdr h = {0};
    vc_code rc = record_open(v, t, kr, it->key, it->val, it->len, &h, &pt, &pt_len, err);
    if (rc != VC_OK)
        return vc_errf(err, VC_INTERNAL,
                       "rotation stopped: a record failed to open (delete "
                       "or restore it, then rotate again)");
    h.key_version = new_ver;
    rc = record_seal(kr->kr, &h, it->key, pt, pt_len, &rec, &rec_len, err);
    wipe_free(pt, pt_len);
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
    krref kr = {NULL, false};
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    if ((rc = kr_acquire(v, t, &kr, err)) != VC_OK)
        goto fail;
    if (seal_keyring_current(kr.kr) != b->new_ver) {
        rc = vc_errf(err, VC_UNAVAILABLE, "rotation superseded by another rotation");
        goto fail;
    }
    rc = store_scan(t, STORE_RECORDS, b->skip, b->skip ? SEAL_HASH_BYTES : 0, rot_collect, b, err);
    if (rc != VC_OK)
        goto fail;
    for (size_t i = 0; i < b->n; i++)
        if ((rc = reseal(v, t, &kr, b->new_ver, &b->items[i], err)) != VC_OK)
            goto fail;
    kr_release(v, &kr);
    if ((rc = store_commit(t, err)) != VC_OK)
        return rc;
    *done += b->n;
    return VC_OK;
fail:
    kr_release(v, &kr);
    store_abort(t);
    return rc;
}

/* Last txn: destroy every data key but new_ver. */
static vc_code edit_retain_only(seal_keyring *k, void *arg, vc_err *err)
{
    uint32_t new_ver = *(const uint32_t *)arg;
    if (seal_keyring_current(k) != new_ver)
        return vc_errf(err, VC_UNAVAILABLE, "rotation superseded by another rotation");
    seal_keyring_retain_only(k, new_ver);
    return VC_OK;
}

static vc_code rotate_finish(vault *v, uint32_t new_ver, vc_err *err)
{
    return keyring_update(v, edit_retain_only, &new_ver, true, err);
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
        rot_batch_clear(b);
        if (rotate_batches_limit != 0 && ++batches >= rotate_batches_limit) {
            rc = vc_errf(err, VC_INTERNAL, "rotation stopped by test hook");
            goto out;
        }
    }
    rc = rotate_finish(v, new_ver, err);
out:
    pthread_mutex_unlock(&v->rot_mu);
    rot_batch_clear(b);
    free(b);
    if (rc == VC_OK) {
        if (key_version != NULL)
            *key_version = new_ver;
        if (reencrypted != NULL)
            *reencrypted = done;
    }
    return rc;
}

/* ---- rekey, status, audit, backup ---- */

vc_code vault_rekey(vault *v, const seal_master *new_master, vc_err *err)
{
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    vc_code rc = store_begin(v->st, true, &t, err);
    if (rc != VC_OK)
        return rc;
    pthread_rwlock_rdlock(&v->kr_lock);
    rc = keyring_read_locked(v, t, &k, err);
    pthread_rwlock_unlock(&v->kr_lock);
    if (rc == VC_OK)
        rc = keyring_put(t, k, new_master, err);
    seal_keyring_free(k);
    if (rc == VC_OK)
        rc = meta_bump(t, K_EPOCH, NULL, err);
    if (rc != VC_OK) {
        store_abort(t);
        return rc;
    }
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

vc_code vault_status(vault *v, vault_status_info *out, vc_err *err)
{
    store_txn *t = NULL;
    krref kr = {NULL, false};
    store_info si;
    uint64_t last = 0;
    vc_code rc;

    memset(out, 0, sizeof *out);
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = store_count(t, STORE_RECORDS, &out->keys, err)) != VC_OK ||
        (rc = meta_get_u64(t, K_LAST_ROT, 0, &last, err)) != VC_OK ||
        (rc = kr_acquire(v, t, &kr, err)) != VC_OK) {
        store_abort(t);
        return rc;
    }
    out->key_version = seal_keyring_current(kr.kr);
    out->last_rotation = (int64_t)last;
    kr_release(v, &kr);
    store_abort(t);
    if ((rc = store_stat(v->st, &si, err)) != VC_OK)
        return rc;
    out->backend = si.backend;
    out->map_size = si.map_size;
    out->used_bytes = si.used_bytes;
    return VC_OK;
}

void vault_audit_hash(vault *v, const char *name, size_t name_len, char out[SEAL_AUDIT_HEX])
{
    /* the audit key never changes (rotation adds data keys only) */
    pthread_rwlock_rdlock(&v->kr_lock);
    seal_audit_hash(v->kr, name, name_len, out);
    pthread_rwlock_unlock(&v->kr_lock);
}

vc_code vault_backup(vault *v, const char *path, vc_err *err)
{
    return store_backup(v->st, path, err);
}
