/* vault.h - the encrypted key/value vault: seal (crypto) + store (bytes).
 *
 * The rules of the vault live here (the byte layout is in vault_int.h):
 * names are indexed by a keyed hash and sealed beside the value; each record
 * is sealed under the current data key with the name hash, the data-key
 * version, the record version and the timestamps bound as associated data.
 * Values are opaque bytes to the vault (the protocol layer stores compact
 * JSON text).
 *
 * Thread-safe: any number of threads may call any function on one vault.
 * Writes are group-committed by one committer thread per vault (started by
 * the first write): every write queued while a transaction is committing
 * goes into the next one, in queue order. A completer thread syncs committed
 * batches and runs their callbacks while the committer goes on with the
 * next. vault_set/vault_delete return, and the _async variants call back,
 * only after the sync that made the write durable.
 * Safe beside other processes on the same store (the CLI while serve runs):
 * a keyring changed by another process (rotate, rekey) is reloaded.
 */
#ifndef VAULTCTL_VAULT_H
#define VAULTCTL_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "seal.h"

typedef struct vault vault;

typedef struct {
    uint64_t version;   /* 1 on first set, +1 each set */
    int64_t created_at; /* unix seconds, UTC: the key's first set */
    int64_t updated_at; /* unix seconds, UTC: when this version was written */
    int64_t expires_at; /* unix seconds, UTC; 0: never expires */
} vault_meta;

/* Versions kept per key when vault_set_max_versions was never called. */
#define VAULT_DEFAULT_MAX_VERSIONS 10

/* What a set may ask for besides the value (vault_set_ex). */
typedef struct {
    bool has_cas; /* write only if the current version is cas */
    uint64_t cas; /* 0: only if the key does not exist (or expired) */
    bool has_ttl; /* expire ttl_s seconds after this set; without it a
                     set clears any expiry */
    uint64_t ttl_s;
} vault_set_opts;

typedef struct {
    uint64_t keys;         /* number of records */
    uint32_t key_version;  /* current data key version */
    int64_t last_rotation; /* unix seconds; 0 if never rotated */
    const char *backend;   /* static string, e.g. "lmdb" */
    uint64_t map_size;     /* bytes */
    uint64_t used_bytes;   /* bytes */
    /* backend "jetstream" only: */
    const char *role; /* "active" or "standby" (static) */
    char stream[64];  /* KV_<bucket> */
    int replicas;
    uint64_t applied_seq; /* last stream sequence in the local cache */
} vault_status_info;

/* Opens the vault in directory dir with the master key (borrowed; the vault
 * keeps no copy of it beyond what it needs to re-read the keyring, and the
 * caller must keep m alive until vault_close). An empty store gets a new
 * keyring. A master key that does not open the store's keyring:
 * VC_CONFIG "master key does not match the vault at DIR", nothing written. */
vc_code vault_open(vault **out, const char *dir, size_t map_size, const seal_master *m,
                   vc_err *err);

struct config;

/* vault_open on the store storage.backend names (store_open_config): lmdb
 * in storage.path, or jetstream (storage.path holds the local cache). */
vc_code vault_open_config(vault **out, const struct config *c, const seal_master *m, vc_err *err);

/* Whether this instance may write (lmdb: always; jetstream: it holds the
 * write lease). Writes elsewhere are forwarded (fwd.h). */
bool vault_is_active(vault *v);

/* store_holder_unreachable: the lease holder did not take a forwarded
 * write (nobody listens there). */
void vault_holder_unreachable(vault *v);

/* store_forward_subject: this instance's subject for forwarded writes (own)
 * or the active one's. */
bool vault_forward_subject(vault *v, bool own, char *buf, size_t cap);

/* Finishes the writes still queued (their callbacks run) and closes. No
 * write may be queued once vault_close has begun, and it must not be called
 * from a write callback. NULL is fine. */
void vault_close(vault *v);

/* The stored value of name: *value is malloc'd (caller frees), *value_len its
 * length. VC_NOT_FOUND if absent; VC_INTERNAL if the record fails to open. */
vc_code vault_get(vault *v, const char *name, size_t name_len, char **value, size_t *value_len,
                  vault_meta *meta, vc_err *err);

/* vault_get of one version: 0 is the current one; an older version that is
 * no longer kept is VC_NOT_FOUND. An expired key is VC_NOT_FOUND whatever
 * the version (expiry is checked against the clock on every call). */
vc_code vault_get_version(vault *v, const char *name, size_t name_len, uint64_t version,
                          char **value, size_t *value_len, vault_meta *meta, vc_err *err);

/* One kept version (vault_versions). */
typedef struct {
    uint64_t version;
    int64_t created_at; /* when this version was written */
} vault_version_info;

/* The kept versions of name, newest first, in a malloc'd array (free()),
 * *current the latest version. VC_NOT_FOUND if absent or expired. Only
 * headers are read: a version that fails to authenticate still shows (get
 * of it is VC_INTERNAL). */
vc_code vault_versions(vault *v, const char *name, size_t name_len, vault_version_info **out,
                       size_t *count, uint64_t *current, vc_err *err);

/* How many versions of each key are kept, the current one included (>= 1;
 * history.max_versions). Older ones are destroyed by the next set of the
 * key. Call it right after vault_open. */
void vault_set_max_versions(vault *v, uint64_t n);

/* Stores value under name (new version); *meta (may be NULL) gets the new
 * version and times. Returns after the write is durable. VC_UNAVAILABLE when
 * storage is full or read-only (nothing changed). The previous version moves
 * to the history (sealed as it was). */
vc_code vault_set(vault *v, const char *name, size_t name_len, const char *value, size_t value_len,
                  vault_meta *meta, vc_err *err);

/* vault_set with options (opts NULL: none). A cas that does not match the
 * current version is VC_CONFLICT, checked inside the write transaction in
 * queue order (exact under concurrency), and nothing is written. */
vc_code vault_set_ex(vault *v, const char *name, size_t name_len, const char *value,
                     size_t value_len, const vault_set_opts *opts, vault_meta *meta, vc_err *err);

/* Deletes name with every kept version; VC_NOT_FOUND if absent (or
 * expired: it is purged all the same). Durable on return. */
vc_code vault_delete(vault *v, const char *name, size_t name_len, vc_err *err);

/* Completion of an asynchronous write. Called exactly once per queued
 * write, on the vault's completer thread, after the transaction holding the
 * write was committed and synced (or failed). rc and err are what the
 * blocking call would have returned (err's message when rc != VC_OK); meta
 * is the set's new version and times (zeros for a delete or a failure).
 * meta and err are valid during the call only. Callbacks of one batch run
 * one after the other, in queue order, and later batches' callbacks wait
 * for them: keep them short. A callback may queue writes with the _async
 * functions; it must not call vault_set, vault_delete (VC_INTERNAL: the
 * completer would wait for itself) or vault_close. */
typedef void (*vault_write_done)(void *arg, vc_code rc, const vault_meta *meta, const vc_err *err);

/* Queue a set / a delete and return at once. name and value are copied
 * (the caller may free or reuse them on return; the vault wipes its copy of
 * value). VC_OK: queued, done(arg, ...) will be called exactly once. Any
 * other code (a bad name, out of memory, a closing vault): nothing queued,
 * done is never called, err says why. Two writes queued by one thread are
 * applied in that order. */
vc_code vault_set_async(vault *v, const char *name, size_t name_len, const char *value,
                        size_t value_len, vault_write_done done, void *arg, vc_err *err);

vc_code vault_delete_async(vault *v, const char *name, size_t name_len, vault_write_done done,
                           void *arg, vc_err *err);

/* vault_set_async with options (opts NULL: none; copied). */
vc_code vault_set_ex_async(vault *v, const char *name, size_t name_len, const char *value,
                           size_t value_len, const vault_set_opts *opts, vault_write_done done,
                           void *arg, vc_err *err);

/* Expired keys: deletes (with every version) up to max keys whose expiry
 * is at or before now, in one write transaction of the group commit (so
 * requests keep flowing between calls). *removed gets how many were
 * deleted, *more whether more expired keys remain (call again). Durable on
 * return. */
vc_code vault_sweep(vault *v, int64_t now, size_t max, uint64_t *removed, bool *more, vc_err *err);

/* Names that start with prefix (len 0: all), sorted bytewise, strictly after
 * `after` (NULL: from the start), at most limit (0: no limit). *names is a
 * malloc'd array of malloc'd NUL-terminated strings (free with
 * vault_names_free); *more is set when names remain after the page.
 * A damaged record (see vault_damage) is left out rather than failing the
 * listing: it is logged as a warning by its record hash (never a name) when
 * the name cache is rebuilt, and *skipped (may be NULL) gets how many records
 * of the whole store were left out (not only of this page). */
vc_code vault_list(vault *v, const char *prefix, size_t prefix_len, const char *after,
                   size_t after_len, size_t limit, char ***names, size_t *count, bool *more,
                   uint64_t *skipped, vc_err *err);

void vault_names_free(char **names, size_t count);

/* What a rotation did (vault_rotate_report). */
typedef struct {
    uint32_t key_version;   /* the new current data-key version */
    uint64_t reencrypted;   /* records re-sealed under it */
    uint64_t skipped;       /* damaged records left as they were (each logged as
                               a warning by its record hash) */
    uint64_t old_keys_kept; /* older data-key versions still in the keyring:
                               0 unless skipped > 0 */
} vault_rotation;

/* New data-key version; every record re-sealed under it (in batches, each a
 * durable transaction, so a crash at any moment leaves every record readable
 * and a later rotate finishes the job); then the old data keys destroyed.
 * Every record the rotation reads is authenticated first; a damaged one (see
 * vault_damage) is skipped, counted and logged, not re-sealed. When any was
 * skipped, no data key is destroyed: a damaged header may name the wrong
 * version, so every older version stays (old_keys_kept says how many) and the
 * skipped records stay as readable as they were (restorable from a backup);
 * the next rotation that skips nothing destroys them. out may be NULL. */
vc_code vault_rotate_report(vault *v, vault_rotation *out, vc_err *err);

/* vault_rotate_report, returning the key version and re-sealed count only
 * (each may be NULL). */
vc_code vault_rotate(vault *v, uint32_t *key_version, uint64_t *reencrypted, vc_err *err);

/* Re-wraps the keyring under new_master (crash-safe: one transaction).
 * Afterwards only new_master opens the vault; the caller then owns the switch
 * to new_master for this handle (the vault borrows it from now on). */
vc_code vault_rekey(vault *v, const seal_master *new_master, vc_err *err);

vc_code vault_status(vault *v, vault_status_info *out, vc_err *err);

/* Group-commit counters since vault_open (diagnostics and benchmarks). */
typedef struct {
    uint64_t batches;   /* write transactions run for sets and deletes */
    uint64_t writes;    /* sets and deletes in them */
    uint64_t max_batch; /* most writes in one transaction */
    uint64_t commit_ns; /* time in those transactions, commit and sync included */
} vault_commit_stats;

void vault_commit_stats_get(vault *v, vault_commit_stats *out);

/* Audit hash of a name (64 hex digits + NUL), for logs and audit events. */
void vault_audit_hash(vault *v, const char *name, size_t name_len, char out[SEAL_AUDIT_HEX]);

/* Consistent hot copy of the store (still encrypted) into file path. */
vc_code vault_backup(vault *v, const char *path, vc_err *err);

/* ---- with no vault open (vault_file.c) ---- */

/* Replaces the vault in dir (created if missing) with backup_file, a copy
 * made by vault_backup, if that copy opens as a vault with master key m
 * (key_name names m in messages, e.g. its file). Refuses:
 *   - VC_UNAVAILABLE while another process has the vault open (stop the
 *     service first); while restoring it also keeps others from opening it;
 *   - VC_BAD_REQUEST when the vault holds records and force is false, when
 *     backup_file is not a backup, or when it does not open with m.
 * A crash at any moment leaves either the old vault or the restored one,
 * complete (see store_restore). On success *st (if not NULL) describes the
 * restored vault. */
vc_code vault_restore(const char *dir, size_t map_size, const seal_master *m, const char *key_name,
                      const char *backup_file, bool force, vault_status_info *st, vc_err *err);

/* vault_restore into the backend c names (store_restore_config): for
 * jetstream, every entry of the backup is written to the stream. */
vc_code vault_restore_config(const struct config *c, const seal_master *m, const char *key_name,
                             const char *backup_file, bool force, vault_status_info *st,
                             vc_err *err);

/* Whether a process other than this one has the vault in dir open right now
 * (reliable on one host; see store_in_use). Call it while this process has
 * no vault of dir open. *busy is false when dir holds no vault. */
vc_code vault_in_use(const char *dir, bool *busy, vc_err *err);

/* ---- damaged records (vault_verify.c) ---- */

/* What is wrong with a stored record, in the order the checks run. A record
 * is sound when its store key is a name hash, its header decodes, the keyring
 * holds the data-key version it names, its sealed value authenticates (header
 * and record hash bound as associated data) and the sealed name hashes to the
 * record's store key. */
typedef enum {
    VAULT_RECORD_SOUND = 0,
    VAULT_DAMAGE_STORE_KEY,   /* "bad_record_hash": the store key is not a name hash */
    VAULT_DAMAGE_HEADER,      /* "bad_header": too short, or another record format */
    VAULT_DAMAGE_KEY_VERSION, /* "unknown_key_version": data key not in the keyring */
    VAULT_DAMAGE_AUTH,        /* "auth_failed": the sealed value does not authenticate */
    VAULT_DAMAGE_LAYOUT,      /* "bad_plaintext": authenticates, malformed inside */
    VAULT_DAMAGE_NAME         /* "name_mismatch": sealed name does not hash to the key */
} vault_damage;

/* Short code (static string, "bad_header", ...) and one sentence saying what
 * it means (static string); neither ever holds record content. */
const char *vault_damage_code(vault_damage d);
const char *vault_damage_text(vault_damage d);

/* Longest record hash (store key) in bytes; a sound one is SEAL_HASH_BYTES
 * (a current record) or SEAL_HASH_BYTES + 8 (a kept version: the name hash
 * and the version, big-endian). */
#define VAULT_RECORD_HASH_MAX 511

/* One damaged record, as vault_verify reports it; valid during the callback
 * only. */
typedef struct {
    const uint8_t *record; /* the record hash: the record's store key */
    size_t record_len;     /* SEAL_HASH_BYTES unless damage is STORE_KEY */
    vault_damage damage;   /* never VAULT_RECORD_SOUND */
    bool has_key_version;  /* the header decoded: key_version is what it */
    uint32_t key_version;  /* claims (unauthenticated) */
} vault_damaged_record;

/* Called once per damaged record, in store-key order, from inside vault_verify
 * (which holds a read transaction): it must not call into the vault. */
typedef void (*vault_damaged_fn)(void *arg, const vault_damaged_record *rec);

typedef struct {
    uint64_t records;     /* current records read */
    uint64_t versions;    /* kept older versions read (HISTORY) */
    uint64_t damaged;     /* of both, damaged (each reported once) */
    uint32_t key_version; /* current data-key version */
    uint64_t data_keys;   /* data-key versions in the keyring (more than 1
                             after a rotation that skipped damaged records) */
} vault_verify_info;

/* Reads and authenticates every record and every kept version in one read
 * transaction (a snapshot:
 * writes go on meanwhile) and calls fn (may be NULL) for each damaged one.
 * VC_OK whatever the damage (out says how much; out may be NULL); another
 * code only when the check itself could not run (storage, memory). Nothing
 * decrypted leaves the vault and plaintexts are wiped. */
vc_code vault_verify(vault *v, vault_damaged_fn fn, void *arg, vault_verify_info *out, vc_err *err);

/* Deletes the one record whose store key is record (record_len bytes, 1 to
 * VAULT_RECORD_HASH_MAX; as vault_verify reports it), damaged or not, without
 * opening it. Durable on return. VC_NOT_FOUND if no record has that hash;
 * VC_BAD_REQUEST for a length out of range. */
vc_code vault_delete_record(vault *v, const uint8_t *record, size_t record_len, vc_err *err);

#endif
