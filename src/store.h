/* store.h - the storage backend, behind one narrow interface.
 *
 * Nothing outside store*.c knows the backend: LMDB (store_lmdb.c, one host)
 * or a replicated JetStream stream (store_js*.c, several hosts; see
 * store_open_config), chosen by storage.backend. The store only sees opaque bytes (keys
 * are already hashed, values already sealed). The tables are listed at store_table.
 *
 * Safe for several threads (one transaction per thread at a time) and several
 * processes on the same directory at once. A committed write transaction is
 * durable (synced) when store_commit returns VC_OK; store_commit_unsynced
 * leaves the last step of that to a later store_sync (group commit).
 */
#ifndef VAULTCTL_STORE_H
#define VAULTCTL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define STORE_DEFAULT_MAP_SIZE ((size_t)1 << 30) /* 1 GiB */

/* META: keyring and bookkeeping; RECORDS: the current record of each key;
 * HISTORY: superseded records (keyed name hash || version); EXPIRY: the
 * expiry index (keyed expiry time || name hash, empty values); TOKENS:
 * sealed token records (vault_token.c). */
typedef enum {
    STORE_META = 0,
    STORE_RECORDS = 1,
    STORE_HISTORY = 2,
    STORE_EXPIRY = 3,
    STORE_TOKENS = 4,
    STORE_N_TABLES
} store_table;

typedef struct store store;
typedef struct store_txn store_txn;

/* Opens (creating if needed) the store in directory dir (created with mode
 * 0700 if missing). map_size 0 means STORE_DEFAULT_MAP_SIZE. VC_CONFIG with the
 * path and reason on failure. */
vc_code store_open(store **out, const char *dir, size_t map_size, vc_err *err);

struct config;

/* Opens the backend c->storage_backend names: "lmdb" is store_open of
 * storage.path; "jetstream" connects to NATS as c's nats: settings say,
 * creates (or checks) the stream KV_<bucket>, opens the local cache in
 * storage.path, catches it up with the stream and starts following it
 * (store_js.c). VC_CONFIG or VC_UNAVAILABLE with the reason on failure. */
vc_code store_open_config(store **out, const struct config *c, vc_err *err);

/* Whether this process may write now (lmdb: always; jetstream: it holds the
 * write lease). A write transaction on a store that may not is refused with
 * VC_UNAVAILABLE. */
bool store_is_active(store *s);

/* jetstream: the internal subject this instance takes forwarded writes on
 * (own), or the one of the instance holding the lease now (!own). false
 * (and "") for lmdb, or when no instance holds the lease. */
bool store_forward_subject(store *s, bool own, char *buf, size_t cap);

/* jetstream: a write forwarded to the lease holder found nobody listening
 * there (its process is gone): take the lease now rather than after
 * lease_ttl (the fencing keeps this safe should it still be alive). lmdb:
 * nothing. */
void store_holder_unreachable(store *s);

/* About the most bytes of keys and values one write transaction may hold
 * (lmdb: SIZE_MAX; jetstream: the WAL message must fit the server's
 * max_payload). Batches (rotation) stay under it. */
size_t store_txn_max_bytes(store *s);

/* Closes; NULL is fine. No transaction may be open. */
void store_close(store *s);

/* Begins a transaction; a write transaction waits for any other writer (in
 * this or another process). A thread holds at most one transaction at a
 * time; a read transaction may move between threads, a write transaction
 * must end (commit or abort) on the thread that began it. */
vc_code store_begin(store *s, bool write, store_txn **out, vc_err *err);

/* Commits (and syncs) and frees the transaction. On failure it is aborted.
 * VC_UNAVAILABLE when storage cannot take the write (full, read-only). */
vc_code store_commit(store_txn *t, vc_err *err);

/* store_commit, except that the transaction is durable only once a later
 * store_sync (or synced commit) returns VC_OK: the commit does one flush
 * instead of two. It is atomic either way, and a crash before that sync
 * loses at most the unsynced transactions, never the store's integrity. */
vc_code store_commit_unsynced(store_txn *t, vc_err *err);

/* Makes every transaction committed so far durable. Safe from any thread,
 * also while another thread is in a write transaction. */
vc_code store_sync(store *s, vc_err *err);

/* Group commit without a sync of its own (the LMDB backend): a mark for
 * every transaction committed so far, and whether they are durable by now
 * -- a later commit that wrote something flushed their meta pages with its
 * own data (store_lmdb.c, note_commit), or a store_sync did. 0 from
 * store_commit_mark means no marks (the JetStream backend): store_sync. */
uint64_t store_commit_mark(store *s);
bool store_durable(store *s, uint64_t mark);

/* Aborts and frees; NULL is fine. */
void store_abort(store_txn *t);

/* Looks up key. On VC_OK *val and *val_len point into the store, valid
 * until the transaction ends or the next write in it. VC_NOT_FOUND if
 * absent. */
vc_code store_get(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t **val, size_t *val_len, vc_err *err);

/* Inserts or replaces. VC_UNAVAILABLE when the store is full (the
 * transaction must then be aborted). */
vc_code store_put(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t *val, size_t val_len, vc_err *err);

/* Deletes; VC_NOT_FOUND if absent. */
vc_code store_del(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len, vc_err *err);

/* Calls fn for every entry of tbl in key order, starting at the first key
 * >= start (start NULL: from the beginning). Key and value are valid only
 * during the call. fn returns 0 to go on, 1 to stop early, or a vc_code > 1
 * (e.g. VC_INTERNAL) to stop with that error; store_scan returns VC_OK when
 * stopped early or done. fn must not write to the table it scans. */
typedef int (*store_scan_fn)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                             size_t val_len);
vc_code store_scan(store_txn *t, store_table tbl, const uint8_t *start, size_t start_len,
                   store_scan_fn fn, void *ctx, vc_err *err);

/* Number of entries in tbl. */
vc_code store_count(store_txn *t, store_table tbl, uint64_t *count, vc_err *err);

typedef struct {
    const char *backend; /* "lmdb" or "jetstream" */
    uint64_t map_size;   /* bytes the store (jetstream: its cache) may grow to */
    uint64_t used_bytes; /* bytes in use */
    /* jetstream only (else "" and 0): */
    const char *role;     /* "active" (holds the write lease) or "standby" */
    char stream[64];      /* KV_<bucket> */
    int replicas;         /* the stream's replicas */
    uint64_t applied_seq; /* last stream sequence in the local cache */
} store_info;

/* Size figures for status. */
vc_code store_stat(store *s, store_info *info, vc_err *err);

/* Writes a consistent copy of the whole store to the file at path (a hot
 * backup, safe while others write; the copy is as encrypted as the store). */
vc_code store_backup(store *s, const char *path, vc_err *err);

/* Whether a process other than this one has the store in dir open right now.
 * Every process with an LMDB environment open holds a shared lock on its
 * lock file, so this is reliable on one host (not across hosts sharing a
 * network file system). Call it while this process has no store of dir
 * open: the probe opens and closes the lock file, and closing any
 * descriptor of a file drops all of this process's locks on it. *busy is
 * false when dir holds no store. */
vc_code store_in_use(const char *dir, bool *busy, vc_err *err);

/* Called by store_restore with the directory of a complete, staged copy of
 * the backup (a store that store_open opens) before it replaces anything;
 * anything but VC_OK stops the restore with that error. It must close what
 * it opened there before returning. */
typedef vc_code (*store_restore_check)(void *arg, const char *staged_dir, vc_err *err);

/* Replaces the store in dir (created if missing) with backup_file, a copy
 * made by store_backup. Refuses:
 *   - VC_UNAVAILABLE while another process has the store open (stop the
 *     service first); while restoring it also keeps others from opening it;
 *   - VC_BAD_REQUEST when the store holds records and force is false, or
 *     when backup_file is not a store backup (or check refuses it).
 * The backup is copied into a staging directory inside dir, synced, checked
 * (store_open, a non-empty META table, then check if not NULL), and renamed
 * over the data file, then dir is synced: a crash at any moment leaves either
 * the old store or the restored one, complete. A staging directory left by
 * a crash is removed by the next restore. */
vc_code store_restore(const char *dir, const char *backup_file, bool force,
                      store_restore_check check, void *arg, vc_err *err);

/* store_restore for the backend c->storage_backend names: lmdb is
 * store_restore of storage.path; jetstream writes every entry of the backup
 * to the stream (store_js_restore.c): refused while another instance holds
 * the write lease, and unless the bucket holds no vault or force is set
 * (then its stream is deleted first). */
vc_code store_restore_config(const struct config *c, const char *backup_file, bool force,
                             store_restore_check check, void *arg, vc_err *err);

#endif
