/* store.c - the public store (store.h) in front of its two backends: LMDB
 * (store_lmdb.c) and JetStream (store_js.c, which keeps an LMDB cache).
 *
 * Reads go to LMDB either way (for jetstream: the cache, after
 * store_js_read_barrier). A write transaction on jetstream is a write
 * transaction on the cache that also records its puts and deletes in a
 * write set (store_js.h); its commit publishes that set to the stream before
 * the cache commits, and store_sync waits for the stream's acknowledgements.
 */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "store_int.h"
#include "store_js.h"

struct store {
    slmdb *db;         /* the store (lmdb) or the cache (jetstream) */
    sjs *js;           /* NULL for lmdb */
    char *private_dir; /* jetstream: a cache of this process only, removed
                          on close (storage.path's is in use) */
};

struct store_txn {
    store *s;
    slmdb_txn *t;
    sjs_wset *ws; /* jetstream write transactions only */
};

vc_code store_open(store **out, const char *dir, size_t map_size, vc_err *err)
{
    store *s = calloc(1, sizeof *s);
    vc_code rc;

    *out = NULL;
    if (s == NULL)
        return vc_errf(err, VC_CONFIG, "storage %s: out of memory", dir != NULL ? dir : "");
    rc = slmdb_open(&s->db, dir, map_size, false, err);
    if (rc != VC_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return VC_OK;
}

/* The cache in storage.path belongs to one process: while another (a
 * running `vaultctl serve`) has it open, a command (backup, get, ...) or a
 * second instance uses a cache of its own, filled from the stream, in a
 * new directory inside storage.path, removed on close. */
static vc_code private_cache_if_busy(store *s, const char *dir, vc_err *err)
{
    char priv[PATH_MAX];
    bool busy = false;
    vc_code rc;

    if ((rc = store_prepare_dir(dir, err)) != VC_OK ||
        (rc = store_in_use(dir, &busy, err)) != VC_OK)
        return rc;
    if (!busy)
        return VC_OK;
    if (!store_join_path(priv, sizeof priv, dir, ".cache-XXXXXX") || mkdtemp(priv) == NULL ||
        (s->private_dir = strdup(priv)) == NULL)
        return vc_errf(err, VC_CONFIG, "storage %s: cannot make a private cache: %s", dir,
                       strerror(errno));
    log_info("jetstream: the cache in %s is in use by another process: this one reads the "
             "stream into %s (removed on exit)",
             dir, priv);
    return VC_OK;
}

vc_code store_open_config(store **out, const config *c, vc_err *err)
{
    store *s;
    vc_code rc;

    if (c->storage_backend == NULL || strcmp(c->storage_backend, "jetstream") != 0)
        return store_open(out, c->storage_path, c->storage_map_size, err);
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return vc_errf(err, VC_CONFIG, "storage %s: out of memory", c->storage_path);
    rc = private_cache_if_busy(s, c->storage_path, err);
    if (rc == VC_OK)
        rc = slmdb_open(&s->db, s->private_dir != NULL ? s->private_dir : c->storage_path,
                        c->storage_map_size, true, err);
    if (rc == VC_OK)
        rc = sjs_open(&s->js, s->db, c, err);
    if (rc != VC_OK) {
        store_close(s);
        return rc;
    }
    *out = s;
    return VC_OK;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    sjs_close(s->js); /* stops following before the cache closes */
    slmdb_close(s->db);
    if (s->private_dir != NULL)
        store_remove_stage(s->private_dir);
    free(s->private_dir);
    free(s);
}

bool store_is_active(store *s)
{
    return s->js == NULL || sjs_is_active(s->js);
}

bool store_forward_subject(store *s, bool own, char *buf, size_t cap)
{
    if (cap > 0)
        buf[0] = '\0';
    return s->js != NULL && sjs_forward_subject(s->js, own, buf, cap);
}

void store_holder_unreachable(store *s)
{
    if (s->js != NULL)
        sjs_holder_unreachable(s->js);
}

size_t store_txn_max_bytes(store *s)
{
    return s->js != NULL ? sjs_txn_max_bytes(s->js) : SIZE_MAX;
}

vc_code store_begin(store *s, bool write, store_txn **out, vc_err *err)
{
    store_txn *t;
    vc_code rc;

    *out = NULL;
    if (s->js != NULL) {
        rc = write ? sjs_write_allowed(s->js, err) : sjs_read_barrier(s->js, err);
        if (rc != VC_OK)
            return rc;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return vc_errf(err, VC_INTERNAL, "storage: out of memory");
    t->s = s;
    if (write && s->js != NULL && (t->ws = sjs_wset_new()) == NULL) {
        free(t);
        return vc_errf(err, VC_INTERNAL, "storage: out of memory");
    }
    rc = slmdb_begin(s->db, write, &t->t, err);
    if (rc != VC_OK) {
        sjs_wset_free(t->ws);
        free(t);
        return rc;
    }
    *out = t;
    return VC_OK;
}

vc_code store_commit_unsynced(store_txn *t, vc_err *err)
{
    vc_code rc;

    if (t->ws != NULL)
        rc = sjs_commit(t->s->js, t->t, t->ws, err); /* ends t->t either way */
    else
        rc = slmdb_commit_unsynced(t->t, err);
    sjs_wset_free(t->ws);
    free(t);
    return rc;
}

vc_code store_sync(store *s, vc_err *err)
{
    return s->js != NULL ? sjs_sync(s->js, err) : slmdb_sync(s->db, err);
}

uint64_t store_commit_mark(store *s)
{
    return s->js != NULL ? 0 : slmdb_commit_mark(s->db);
}

bool store_durable(store *s, uint64_t mark)
{
    return mark != 0 && s->js == NULL && slmdb_durable(s->db, mark);
}

vc_code store_commit(store_txn *t, vc_err *err)
{
    store *s = t->s;
    vc_code code = store_commit_unsynced(t, err);
    return code == VC_OK ? store_sync(s, err) : code;
}

void store_abort(store_txn *t)
{
    if (t == NULL)
        return;
    slmdb_abort(t->t);
    sjs_wset_free(t->ws);
    free(t);
}

vc_code store_get(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t **val, size_t *val_len, vc_err *err)
{
    return slmdb_get(t->t, tbl, key, key_len, val, val_len, err);
}

vc_code store_put(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t *val, size_t val_len, vc_err *err)
{
    vc_code rc;

    if (tbl == STORE_LOCAL)
        return vc_errf(err, VC_INTERNAL, "storage: no table %d", (int)tbl);
    rc = slmdb_put(t->t, tbl, key, key_len, val, val_len, err);
    if (rc == VC_OK && t->ws != NULL && !sjs_wset_add(t->ws, tbl, key, key_len, val, val_len))
        rc = vc_errf(err, VC_INTERNAL, "storage: out of memory");
    return rc;
}

vc_code store_del(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len, vc_err *err)
{
    vc_code rc;

    if (tbl == STORE_LOCAL)
        return vc_errf(err, VC_INTERNAL, "storage: no table %d", (int)tbl);
    rc = slmdb_del(t->t, tbl, key, key_len, err);
    if (rc == VC_OK && t->ws != NULL && !sjs_wset_add(t->ws, tbl, key, key_len, NULL, 0))
        rc = vc_errf(err, VC_INTERNAL, "storage: out of memory");
    return rc;
}

vc_code store_scan(store_txn *t, store_table tbl, const uint8_t *start, size_t start_len,
                   store_scan_fn fn, void *ctx, vc_err *err)
{
    return slmdb_scan(t->t, tbl, start, start_len, fn, ctx, err);
}

vc_code store_count(store_txn *t, store_table tbl, uint64_t *count, vc_err *err)
{
    return slmdb_count(t->t, tbl, count, err);
}

vc_code store_stat(store *s, store_info *info, vc_err *err)
{
    vc_code rc = slmdb_stat(s->db, info, err);

    info->backend = "lmdb";
    info->role = "";
    if (rc == VC_OK && s->js != NULL)
        sjs_stat(s->js, info);
    return rc;
}

vc_code store_restore_config(const config *c, const char *backup_file, bool force,
                             store_restore_check check, void *arg, vc_err *err)
{
    if (c->storage_backend != NULL && strcmp(c->storage_backend, "jetstream") == 0)
        return sjs_restore(c, backup_file, force, check, arg, err);
    return store_restore(c->storage_path, backup_file, force, check, arg, err);
}

vc_code store_backup(store *s, const char *path, vc_err *err)
{
    /* jetstream: the cache, as the stream says after the barrier, in the
     * lmdb backend's format (store_restore takes it into either). */
    if (s->js != NULL) {
        vc_code rc = sjs_read_barrier(s->js, err);
        if (rc != VC_OK)
            return rc;
    }
    return slmdb_backup(s->db, path, err);
}
