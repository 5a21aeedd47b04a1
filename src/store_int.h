/* store_int.h - private to the store module (store*.c): LMDB's file names,
 * the path and error helpers, and the LMDB backend's functions that store.c
 * dispatches to and the JetStream backend keeps its cache in. */
#ifndef VAULTCTL_STORE_INT_H
#define VAULTCTL_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "store.h"

/* LMDB's file names inside the environment directory. */
#define STORE_DATA_FILE "data.mdb"
#define STORE_LOCK_FILE "lock.mdb"

/* dir + "/" + name into buf; false if it does not fit. */
bool store_join_path(char *buf, size_t cap, const char *dir, const char *name);

/* A file-system errno as a code: full or read-only storage is
 * VC_UNAVAILABLE (the user can act on it), anything else VC_INTERNAL. */
vc_code store_errno_code(int e);

/* Creates dir (0700) if missing, then checks it and LMDB's files in it
 * against the ownership and mode rules (fileperm.h), all before LMDB opens
 * anything. VC_CONFIG with a message naming dir otherwise. */
vc_code store_prepare_dir(const char *dir, vc_err *err);

/* Stages a copy of backup_file in a new directory inside dir (its path
 * into stage, "" if none was made) and checks that it opens as a store
 * holding a vault; the caller removes the stage (store_remove_stage)
 * whatever this returns. */
vc_code store_stage_backup(const char *dir, const char *backup_file, char *stage, size_t cap,
                           vc_err *err);
void store_remove_stage(const char *stage);

/* ---- the LMDB backend (store_lmdb.c) ------------------------------------
 * The functions of store.h on one LMDB environment, with the same contracts;
 * store.c calls them for the lmdb backend, store_js.c for its cache. */

typedef struct slmdb slmdb;
typedef struct slmdb_txn slmdb_txn;

/* The cache's own table (never replicated): applied sequence and so on. */
#define STORE_LOCAL    ((store_table)STORE_N_TABLES)
#define SLMDB_N_TABLES (STORE_N_TABLES + 1)

/* nosync: MDB_NOSYNC, for a cache that can be rebuilt. */
vc_code slmdb_open(slmdb **out, const char *dir, size_t map_size, bool nosync, vc_err *err);
void slmdb_close(slmdb *s);
vc_code slmdb_begin(slmdb *s, bool write, slmdb_txn **out, vc_err *err);
vc_code slmdb_commit_unsynced(slmdb_txn *t, vc_err *err);
vc_code slmdb_commit(slmdb_txn *t, vc_err *err);
vc_code slmdb_sync(slmdb *s, vc_err *err);
uint64_t slmdb_commit_mark(slmdb *s);
bool slmdb_durable(slmdb *s, uint64_t mark);
void slmdb_abort(slmdb_txn *t);
vc_code slmdb_get(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t **val, size_t *val_len, vc_err *err);
vc_code slmdb_put(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t *val, size_t val_len, vc_err *err);
vc_code slmdb_del(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len, vc_err *err);
vc_code slmdb_scan(slmdb_txn *t, store_table tbl, const uint8_t *start, size_t start_len,
                   store_scan_fn fn, void *ctx, vc_err *err);
vc_code slmdb_count(slmdb_txn *t, store_table tbl, uint64_t *count, vc_err *err);
/* Fills map_size and used_bytes only. */
vc_code slmdb_stat(slmdb *s, store_info *info, vc_err *err);
vc_code slmdb_backup(slmdb *s, const char *path, vc_err *err);
/* Empties tbl (in a write transaction). */
vc_code slmdb_clear(slmdb_txn *t, store_table tbl, vc_err *err);

#endif
