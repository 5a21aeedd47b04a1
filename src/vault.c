/* vault.c - the vault's life cycle and reads (see vault.h): open, close,
 * get, status, backup and the audit hash. The other vault files, each with
 * one job, are listed in vault_int.h, with the on-store layout.
 */
#include "vault_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "config.h"

/* How long a jetstream instance that does not write waits for the keyring
 * of a new vault to appear. */
#define VAULT_KEYRING_WAIT_S 30

static vc_code vault_init_locks(vault *v)
{
    if (pthread_rwlock_init(&v->kr_lock, NULL) != 0)
        return VC_INTERNAL;
    if (pthread_mutex_init(&v->q_mu, NULL) != 0)
        goto fail_q;
    if (pthread_cond_init(&v->queue.cv, NULL) != 0)
        goto fail_cv;
    if (pthread_cond_init(&v->committed.cv, NULL) != 0)
        goto fail_dcv;
    if (pthread_mutex_init(&v->list_mu, NULL) != 0)
        goto fail_list;
    if (pthread_mutex_init(&v->rot_mu, NULL) != 0)
        goto fail_rot;
    return VC_OK;
fail_rot:
    pthread_mutex_destroy(&v->list_mu);
fail_list:
    pthread_cond_destroy(&v->committed.cv);
fail_dcv:
    pthread_cond_destroy(&v->queue.cv);
fail_cv:
    pthread_mutex_destroy(&v->q_mu);
fail_q:
    pthread_rwlock_destroy(&v->kr_lock);
    return VC_INTERNAL;
}

/* vault_open with the store opened by open_store. */
static vc_code open_with(vault **out, const char *dir, size_t map_size, const config *c,
                         const seal_master *m, vc_err *err)
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
    rc = c != NULL ? store_open_config(&v->st, c, err) : store_open(&v->st, dir, map_size, err);
    if (rc != VC_OK)
        goto fail;
    rc = vkr_load(v, dir, err);
    /* jetstream: instances started together on a new bucket; the one that
     * took the lease creates the keyring, the others wait to read it. */
    for (time_t until = time(NULL) + VAULT_KEYRING_WAIT_S;
         rc == VC_NOT_FOUND && !store_is_active(v->st) && time(NULL) < until;) {
        struct timespec pause = {0, 200L * 1000 * 1000};
        nanosleep(&pause, NULL);
        rc = vkr_load(v, dir, err);
    }
    if (rc == VC_NOT_FOUND)
        rc = vkr_create(v, dir, err);
    if (rc == VC_ACCESS_DENIED)
        rc = vc_errf(err, VC_CONFIG, "master key does not match the vault at %s", dir);
    if (rc == VC_OK)
        rc = vkr_format_upgrade(v, err);
    if (rc != VC_OK)
        goto fail;
    atomic_store(&v->max_versions, VAULT_DEFAULT_MAX_VERSIONS);
    *out = v;
    return VC_OK;
fail:
    vault_close(v);
    return rc;
}

vc_code vault_open(vault **out, const char *dir, size_t map_size, const seal_master *m, vc_err *err)
{
    return open_with(out, dir, map_size, NULL, m, err);
}

vc_code vault_open_config(vault **out, const config *c, const seal_master *m, vc_err *err)
{
    return open_with(out, c->storage_path, c->storage_map_size, c, m, err);
}

bool vault_is_active(vault *v)
{
    return store_is_active(v->st);
}

void vault_holder_unreachable(vault *v)
{
    store_holder_unreachable(v->st);
}

bool vault_forward_subject(vault *v, bool own, char *buf, size_t cap)
{
    return store_forward_subject(v->st, own, buf, cap);
}

void vault_close(vault *v)
{
    if (v == NULL)
        return;
    vcommit_stop(v);
    store_close(v->st);
    seal_keyring_free(v->kr);
    vnames_free(v);
    pthread_mutex_destroy(&v->rot_mu);
    pthread_mutex_destroy(&v->list_mu);
    pthread_cond_destroy(&v->committed.cv);
    pthread_cond_destroy(&v->queue.cv);
    pthread_mutex_destroy(&v->q_mu);
    pthread_rwlock_destroy(&v->kr_lock);
    free(v);
}

void vault_set_max_versions(vault *v, uint64_t n)
{
    atomic_store(&v->max_versions, n < 1 ? 1 : n);
}

vc_code vault_get(vault *v, const char *name, size_t name_len, char **value, size_t *value_len,
                  vault_meta *meta, vc_err *err)
{
    return vault_get_version(v, name, name_len, 0, value, value_len, meta, err);
}

static vc_code not_found(vc_err *err)
{
    return vc_errf(err, VC_NOT_FOUND, "key not found");
}

/* Begins a read transaction (*t) with the keyring (*kr) and finds name's
 * current record: its hash and stored bytes (valid until *t ends).
 * VC_NOT_FOUND "key not found" if there is none; the caller ends *t and
 * releases *kr whatever this returns (both start out NULL). */
static vc_code current_record(vault *v, const char *name, size_t name_len, store_txn **t,
                              vkr_ref *kr, uint8_t hash[SEAL_HASH_BYTES], const uint8_t **val,
                              size_t *val_len, vc_err *err)
{
    vc_code rc = store_begin(v->st, false, t, err);
    if (rc != VC_OK)
        return rc;
    if ((rc = vkr_acquire(v, *t, kr, err)) != VC_OK)
        return rc;
    seal_name_hash(kr->kr, name, name_len, hash);
    rc = store_get(*t, STORE_RECORDS, hash, SEAL_HASH_BYTES, val, val_len, err);
    return rc == VC_NOT_FOUND ? not_found(err) : rc;
}

vc_code vault_get_version(vault *v, const char *name, size_t name_len, uint64_t version,
                          char **value, size_t *value_len, vault_meta *meta, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    uint8_t hash[SEAL_HASH_BYTES], hk[VHIST_KEY_BYTES];
    const uint8_t *val, *pname, *pvalue;
    size_t val_len, pt_len = 0, nlen, vlen;
    uint8_t *pt = NULL;
    vrec_hdr h, cur = {0};
    char *outv;
    int64_t now = (int64_t)time(NULL);
    vc_code rc;

    *value = NULL;
    *value_len = 0;
    if ((rc = vrec_check_name(name, name_len, err)) != VC_OK)
        return rc;
    if ((rc = current_record(v, name, name_len, &t, &kr, hash, &val, &val_len, err)) != VC_OK)
        goto out;
    if (version != 0) {
        /* The current record decides whether the key (still) exists: its
         * header, authenticated when it is the version asked for. */
        if (!vrec_hdr_decode(val, val_len, &cur)) {
            rc = vc_errf(err, VC_INTERNAL, "record failed to open");
            goto out;
        }
        if (vrec_expired(&cur, now) || version > cur.version) {
            rc = not_found(err);
            goto out;
        }
        if (version < cur.version) {
            vhist_key(hk, hash, version);
            rc = store_get(t, STORE_HISTORY, hk, sizeof hk, &val, &val_len, err);
            if (rc == VC_NOT_FOUND) {
                rc = not_found(err);
                goto out;
            }
            if (rc != VC_OK)
                goto out;
        }
    }
    rc = vrec_open(v, t, &kr, hash, val, val_len, &h, &pt, &pt_len, err);
    if (rc != VC_OK)
        goto out;
    if (version != 0 && h.version != version) { /* a kept version under another's key */
        rc = vc_errf(err, VC_INTERNAL, "record failed to open");
        goto out;
    }
    if (version == 0 && vrec_expired(&h, now)) {
        rc = not_found(err);
        goto out;
    }
    vrec_pt_split(pt, pt_len, &pname, &nlen, &pvalue, &vlen);
    /* the hash matched; the sealed name must too (a hash collision or a
     * forged index entry would otherwise hand out another key's value) */
    if (nlen != name_len || sodium_memcmp(pname, name, name_len) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "record failed to open");
        goto out;
    }
    outv = malloc(vlen + 1);
    if (outv == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(outv, pvalue, vlen);
    outv[vlen] = '\0';
    *value = outv;
    *value_len = vlen;
    if (meta != NULL) {
        meta->version = h.version;
        meta->created_at = h.created_at;
        meta->updated_at = h.updated_at;
        /* the key's expiry is the current record's */
        meta->expires_at = version != 0 ? cur.expires_at : h.expires_at;
    }
out:
    vrec_pt_free(pt, pt_len);
    vkr_release(v, &kr);
    store_abort(t);
    return rc;
}

typedef struct {
    vault *v;
    store_txn *t;
    vkr_ref *kr;
    const uint8_t *hash;
    vault_version_info *out;
    size_t n, cap;
    vc_code rc;
    vc_err *err;
} versions_scan;

static int collect_version(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                           size_t val_len)
{
    versions_scan *c = ctx;
    vrec_hdr h;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    bool hdr_ok;
    vault_damage why;
    if (key_len < SEAL_HASH_BYTES || memcmp(key, c->hash, SEAL_HASH_BYTES) != 0)
        return 1;
    /* authenticated, so the versions and times shown are the sealed ones */
    c->rc = vhist_inspect(c->v, c->t, c->kr, key, key_len, val, val_len, &h, &hdr_ok, &pt, &pt_len,
                          &why, c->err);
    vrec_pt_free(pt, pt_len);
    if (c->rc != VC_OK)
        return (int)c->rc;
    if (why != VAULT_RECORD_SOUND)
        return 0; /* damaged: left out, vaultctl verify reports it */
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        vault_version_info *g = realloc(c->out, cap * sizeof *g);
        if (g == NULL) {
            c->rc = vc_errf(c->err, VC_INTERNAL, "out of memory");
            return (int)c->rc;
        }
        c->out = g;
        c->cap = cap;
    }
    c->out[c->n].version = h.version;
    c->out[c->n].created_at = h.updated_at;
    c->n++;
    return 0;
}

vc_code vault_versions(vault *v, const char *name, size_t name_len, vault_version_info **out,
                       size_t *count, uint64_t *current, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    uint8_t hash[SEAL_HASH_BYTES], start[VHIST_KEY_BYTES];
    const uint8_t *val;
    size_t val_len, pt_len = 0;
    uint8_t *pt = NULL;
    vrec_hdr h;
    versions_scan c = {0};
    vc_code rc;

    *out = NULL;
    *count = 0;
    *current = 0;
    if ((rc = vrec_check_name(name, name_len, err)) != VC_OK)
        return rc;
    if ((rc = current_record(v, name, name_len, &t, &kr, hash, &val, &val_len, err)) != VC_OK)
        goto out;
    rc = vrec_open(v, t, &kr, hash, val, val_len, &h, &pt, &pt_len, err);
    vrec_pt_free(pt, pt_len);
    if (rc != VC_OK)
        goto out;
    if (vrec_expired(&h, (int64_t)time(NULL))) {
        rc = not_found(err);
        goto out;
    }
    c.v = v;
    c.t = t;
    c.kr = &kr;
    c.err = err;
    c.hash = hash;
    vhist_key(start, hash, 0);
    rc = store_scan(t, STORE_HISTORY, start, sizeof start, collect_version, &c, err);
    if (rc == VC_OK && c.rc != VC_OK)
        rc = c.rc;
    if (rc == VC_OK) {
        /* history oldest first, then the current one; reversed: newest first */
        vault_version_info *all = malloc((c.n + 1) * sizeof *all);
        if (all == NULL) {
            rc = vc_errf(err, VC_INTERNAL, "out of memory");
            goto out;
        }
        all[0].version = h.version;
        all[0].created_at = h.updated_at;
        size_t n = 1;
        for (size_t i = c.n; i-- > 0;)
            if (c.out[i].version < h.version) /* leftovers above it are not this key's */
                all[n++] = c.out[i];
        *out = all;
        *count = n;
        *current = h.version;
    }
out:
    free(c.out);
    vkr_release(v, &kr);
    store_abort(t);
    return rc;
}

vc_code vault_status(vault *v, vault_status_info *out, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    store_info si;
    uint64_t last = 0;
    vc_code rc;

    memset(out, 0, sizeof *out);
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = store_count(t, STORE_RECORDS, &out->keys, err)) != VC_OK ||
        (rc = vkr_meta_get_u64(t, VAULT_META_LAST_ROT, 0, &last, err)) != VC_OK ||
        (rc = vkr_acquire(v, t, &kr, err)) != VC_OK) {
        store_abort(t);
        return rc;
    }
    out->key_version = seal_keyring_current(kr.kr);
    out->last_rotation = (int64_t)last;
    vkr_release(v, &kr);
    store_abort(t);
    if ((rc = store_stat(v->st, &si, err)) != VC_OK)
        return rc;
    out->backend = si.backend;
    out->map_size = si.map_size;
    out->used_bytes = si.used_bytes;
    out->role = si.role;
    memcpy(out->stream, si.stream, sizeof out->stream);
    out->replicas = si.replicas;
    out->applied_seq = si.applied_seq;
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
