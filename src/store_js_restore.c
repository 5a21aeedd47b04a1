/* store_js_restore.c - restore of a backup (the lmdb backend's format, which
 * is also what backup writes on jetstream) into the JetStream backend: every
 * table entry of the backup is written to the stream through ordinary write
 * transactions of this process, which must hold the write lease (no `vaultctl
 * serve` running on the bucket). The bucket must hold no vault, or, with
 * force, its stream is deleted first (the instances' caches then rebuild on
 * their next start: they follow another stream). */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "store_int.h"
#include "store_js.h"

#define ACTIVE_WAIT_S 3 /* beyond lease_ttl, for the lease to come to us */

/* Copies one table, in transactions of at most max bytes. */
typedef struct {
    store_txn *t;
    store_table tbl;
    size_t bytes, max;
    uint8_t last[512];
    size_t last_len;
    bool skip_first; /* the batch starts at the previous one's last key */
    bool full;
    vc_code rc;
    vc_err *err;
} copy_ctx;

static int copy_one(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                    size_t val_len)
{
    copy_ctx *c = ctx;

    if (c->skip_first) {
        c->skip_first = false;
        if (key_len == c->last_len && memcmp(key, c->last, key_len) == 0)
            return 0;
    }
    if (key_len > sizeof c->last) {
        c->rc = vc_errf(c->err, VC_BAD_REQUEST, "backup: a store key of %zu bytes", key_len);
        return (int)c->rc;
    }
    c->rc = store_put(c->t, c->tbl, key, key_len, val, val_len, c->err);
    if (c->rc != VC_OK)
        return (int)c->rc;
    memcpy(c->last, key, key_len);
    c->last_len = key_len;
    c->bytes += key_len + val_len + 64;
    if (c->bytes >= c->max) {
        c->full = true;
        return 1;
    }
    return 0;
}

static vc_code copy_table(slmdb *src, store *dst, store_table tbl, uint64_t *n, vc_err *err)
{
    copy_ctx c = {.tbl = tbl, .max = store_txn_max_bytes(dst) / 2, .err = err};
    slmdb_txn *rt = NULL;
    vc_code rc;

    do {
        c.full = false;
        c.bytes = 0;
        c.rc = VC_OK;
        c.skip_first = c.last_len > 0;
        if ((rc = slmdb_begin(src, false, &rt, err)) != VC_OK)
            return rc;
        if ((rc = store_begin(dst, true, &c.t, err)) != VC_OK) {
            slmdb_abort(rt);
            return rc;
        }
        rc = slmdb_scan(rt, tbl, c.last_len > 0 ? c.last : NULL, c.last_len, copy_one, &c, err);
        slmdb_abort(rt);
        if (rc == VC_OK)
            rc = c.rc;
        if (rc != VC_OK) {
            store_abort(c.t);
            return rc;
        }
        if ((rc = store_commit(c.t, err)) != VC_OK)
            return rc;
        (*n)++;
    } while (c.full);
    return VC_OK;
}

/* Opens the jetstream store of c and waits for the write lease. */
static vc_code open_active(store **out, const config *c, vc_err *err)
{
    vc_code rc = store_open_config(out, c, err);
    time_t until = time(NULL) + (time_t)c->js_lease_ttl_s + ACTIVE_WAIT_S;

    if (rc != VC_OK)
        return rc;
    while (!store_is_active(*out) && time(NULL) < until) {
        struct timespec ts = {0, 50L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (store_is_active(*out))
        return VC_OK;
    store_close(*out);
    *out = NULL;
    return vc_errf(err, VC_UNAVAILABLE,
                   "jetstream: another instance holds the write lease of bucket %s: stop every "
                   "`vaultctl serve` on it before a restore",
                   c->js_bucket);
}

static vc_code meta_entries(store *s, uint64_t *n, vc_err *err)
{
    store_txn *t = NULL;
    vc_code rc = store_begin(s, false, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = store_count(t, STORE_META, n, err);
    store_abort(t);
    return rc;
}

vc_code sjs_restore(const config *c, const char *backup_file, bool force, store_restore_check check,
                    void *arg, vc_err *err)
{
    char stage[PATH_MAX];
    slmdb *src = NULL;
    store *dst = NULL;
    uint64_t meta = 0, txns = 0;
    vc_code rc;

    stage[0] = '\0';
    if ((rc = store_prepare_dir(c->storage_path, err)) != VC_OK ||
        (rc = store_stage_backup(c->storage_path, backup_file, stage, sizeof stage, err)) !=
            VC_OK ||
        (check != NULL && (rc = check(arg, stage, err)) != VC_OK) ||
        (rc = slmdb_open(&src, stage, 0, true, err)) != VC_OK ||
        (rc = open_active(&dst, c, err)) != VC_OK || (rc = meta_entries(dst, &meta, err)) != VC_OK)
        goto out;
    if (meta > 0 && !force) {
        rc = vc_errf(err, VC_BAD_REQUEST,
                     "jetstream: bucket %s already holds a vault: restore replaces it only with "
                     "--force",
                     c->js_bucket);
        goto out;
    }
    if (meta > 0) {
        store_close(dst);
        dst = NULL;
        if ((rc = sjs_delete_stream(c, err)) != VC_OK || (rc = open_active(&dst, c, err)) != VC_OK)
            goto out;
    }
    for (int i = 0; rc == VC_OK && i < STORE_N_TABLES; i++)
        rc = copy_table(src, dst, (store_table)i, &txns, err);
out:
    store_close(dst);
    slmdb_close(src);
    if (stage[0] != '\0')
        store_remove_stage(stage);
    return rc;
}
