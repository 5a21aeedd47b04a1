/* vault_int.h - private to the vault module (vault*.c): struct vault, the
 * on-store layout and what the vault files share. Nothing outside src/vault*.c
 * includes it; the public interface is vault.h.
 *
 * Files, one job each
 *   vault.c          open, close, get, status, backup, audit hash
 *   vault_record.c   one record: header codec, associated data, seal/open,
 *                    plaintext layout, name check (no storage, no locks)
 *   vault_keyring.c  META values and the keyring with its in-memory cache
 *   vault_commit.c   writes: the queue, group commit, committer and completer
 *                    threads, the blocking wrappers (vault_set, vault_sweep)
 *   vault_apply.c    what one queued write (vault_wreq.h) does inside the
 *                    committer's transaction: sets (cas, ttl, the old record
 *                    to HISTORY), deletes, expiry sweeps, a token's use
 *   vault_names.c    the sorted name cache behind vault_list
 *   vault_rotate.c   rotation (re-seal under a new data key) and rekey
 *   vault_verify.c   damaged records: vault_verify, delete by record hash
 *
 * Storage (store.h): in the vault only this header includes store.h, and
 * six files call it. vault.c opens, closes, backs up and reads (get,
 * status); vault_keyring.c owns META (the others read and write it through
 * vkr_meta_*) and runs the keyring transactions (create, load, rotation's
 * first and last steps, rekey); vault_commit.c runs the write transactions
 * and the sync; vault_names.c scans for vault_list; vault_rotate.c runs the
 * re-seal batches; vault_verify.c scans for vault_verify and runs the
 * delete-by-hash transaction. vault_record.c never calls store.h: it is
 * handed a transaction only to pass it on to vkr_reload_private. A second
 * storage backend replaces store.h under these six files.
 *
 * Damaged records (vault_damage in vault.h): vrec_inspect is the one judge.
 * A read of one record (get) fails on damage; the passes over every record
 * (list's name cache, rotation, verify) skip a damaged one, count it, and
 * name it by its record hash only (list and rotate log a warning; the vault
 * logs nothing else).
 *
 * On-store layout
 *   META    "format"        u8 2 (1: written by releases before history;
 *                           vault_open raises 1 to 2 in one transaction,
 *                           nothing else changes: format-1 records stay
 *                           readable as they are, and a release that reads
 *                           only format 1 then refuses the store instead of
 *                           taking newer records for damaged ones)
 *           "keyring"       seal_keyring_wrap blob
 *           "epoch"         u64 LE, +1 each time the stored keyring changes
 *           "last_rotation" i64 LE unix seconds
 *           "gen"           u64 LE, +1 in every write transaction that changes
 *                           records (invalidates the in-memory list cache)
 *   RECORDS seal_name_hash(name) -> header || seal_encrypt(pt): the current
 *           version of each key
 *           header = format u8 (2) | key_version u32 | version u64 |
 *                    created_at i64 | updated_at i64 | expires_at i64
 *                    (all LE; format 1: the same without expires_at,
 *                    which is then 0 = never)
 *           pt     = name_len u32 LE | name | value
 *           AD     = header || name hash
 *           created_at: the key's first set; updated_at: when this version
 *           was written; expires_at: unix seconds, 0 = never.
 *   HISTORY name hash || version u64 BE -> the superseded record's bytes,
 *           moved there as they were (sealed with their own nonce and AD,
 *           name inside the sealed plaintext): a prefix scan lists one key's
 *           older versions in order. At most max_versions - 1 per key (the
 *           current record is the other one); pruned by the set that makes
 *           one too many, emptied by delete and by expiry.
 *   EXPIRY  expires_at u64 BE || name hash -> empty: the expiry index, in
 *           time order, for the sweep (vault_sweep). An entry is a hint: the
 *           sweep deletes a key only if its record still names that expiry.
 *   Binding the header (version and times included) and the name hash as
 *   associated data means a record moved under another name, a version
 *   swapped for another (current or kept), an old ciphertext spliced under
 *   a newer header or altered metadata all fail to open. A history entry
 *   must also carry the version its store key names.
 *
 * Expiry is judged against the clock on every read (get, versions, list,
 * set's cas, delete): an expired key is absent from then on, whether or not
 * the sweep has removed it yet; a set on it starts again at version 1.
 *
 * Locks, in the order they are taken: rot_mu (one rotation at a time), then a
 * store transaction, then list_mu, then kr_lock. q_mu (the write queues) is
 * never held across a transaction nor while taking another vault lock.
 */
#ifndef VAULTCTL_VAULT_INT_H
#define VAULTCTL_VAULT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "seal.h"
#include "store.h"
#include "vault.h"

#define VAULT_FORMAT    2 /* META "format" and the first byte of new records */
#define VAULT_FORMAT_V1 1 /* still read: records and stores of older releases */
#define VHIST_KEY_BYTES (SEAL_HASH_BYTES + 8)
#define VEXP_KEY_BYTES  (8 + SEAL_HASH_BYTES)

/* META keys */
#define VAULT_META_FORMAT   "format"
#define VAULT_META_KEYRING  "keyring"
#define VAULT_META_EPOCH    "epoch"
#define VAULT_META_LAST_ROT "last_rotation"
#define VAULT_META_GEN      "gen"

struct vcommit_req;  /* a queued write (vault_wreq.h) */
struct vnames_entry; /* a cached name (vault_names.c) */

/* A chain of queued writes handed from one thread to another (q_mu). */
typedef struct {
    struct vcommit_req *head, *tail;
    size_t len;
    bool stop;         /* finish the chain, then exit */
    pthread_cond_t cv; /* the consuming thread waits here for writes */
} vcommit_chain;

struct vault {
    store *st;

    /* vault_keyring.c: the keyring cache; kr_lock also guards m (rekey
     * switches it) */
    pthread_rwlock_t kr_lock;
    seal_keyring *kr;
    uint64_t epoch;
    const seal_master *m;

    /* vault_commit.c: writers queue into `queue`; the committer thread takes
     * the whole queue as one batch and one transaction, and chains the
     * committed batch onto `committed`, where the completer thread syncs it
     * and runs its callbacks (replies) while the committer begins the next
     * transaction. All of it guarded by q_mu. */
    pthread_mutex_t q_mu;
    vcommit_chain queue;
    vcommit_chain committed;
    bool committer_on; /* both threads started (lazily, by the first write) */
    bool committing;   /* the committer is running a batch */
    pthread_t committer;
    pthread_t completer;
    vault_commit_stats stats;

    /* vault_names.c: sorted name cache for vault_list */
    pthread_mutex_t list_mu;
    struct vnames_entry *names;
    size_t n_names;
    uint64_t list_gen, list_epoch;
    uint64_t list_skipped; /* damaged records left out of the cache */
    bool list_valid;

    /* vault_rotate.c: one rotation at a time in this process */
    pthread_mutex_t rot_mu;

    /* versions kept per key, the current one included (>= 1) */
    _Atomic uint64_t max_versions;
};

/* ---- vault_record.c: one record ---- */

typedef struct {
    uint8_t format; /* VAULT_FORMAT or VAULT_FORMAT_V1; vrec_seal writes
                       VAULT_FORMAT whatever it says */
    uint32_t key_version;
    uint64_t version;
    int64_t created_at;
    int64_t updated_at;
    int64_t expires_at; /* 0: never */
} vrec_hdr;

/* A keyring for one transaction (vault_keyring.c), from vkr_acquire. */
typedef struct {
    seal_keyring *kr;
    bool priv; /* true: private copy to free; false: kr_lock held for reading */
} vkr_ref;

/* VC_BAD_REQUEST unless name is a usable key name. */
vc_code vrec_check_name(const char *name, size_t name_len, vc_err *err);

/* Decodes the header of stored record bytes; false if they cannot be a
 * record of this format. */
bool vrec_hdr_decode(const uint8_t *val, size_t len, vrec_hdr *h);

/* The data-key version of stored record bytes, read without the checks of
 * vrec_hdr_decode; false if the bytes are too short or of another format. */
bool vrec_peek_key_version(const uint8_t *val, size_t len, uint32_t *key_version);

/* Builds pt = name_len | name | value in a malloc'd buffer (vrec_pt_free it). */
vc_code vrec_plaintext_build(const char *name, size_t name_len, const char *value, size_t value_len,
                             uint8_t **pt, size_t *pt_len, vc_err *err);

/* The name and value inside a plaintext from vrec_open. */
void vrec_pt_split(const uint8_t *pt, size_t pt_len, const uint8_t **name, size_t *name_len,
                   const uint8_t **value, size_t *value_len);

/* Wipes and frees a plaintext (NULL is fine). */
void vrec_pt_free(uint8_t *pt, size_t pt_len);

/* Seals plaintext pt under h->key_version into a malloc'd record. */
vc_code vrec_seal(const seal_keyring *kr, const vrec_hdr *h, const uint8_t hash[SEAL_HASH_BYTES],
                  const uint8_t *pt, size_t pt_len, uint8_t **rec, size_t *rec_len, vc_err *err);

/* Opens a stored record into a malloc'd plaintext (vrec_pt_free it). Any
 * failure is "record failed to open", never partial output. Retries once
 * with a keyring re-read from t when the record's data key version is
 * unknown to kr. */
vc_code vrec_open(vault *v, store_txn *t, vkr_ref *kr, const uint8_t hash[SEAL_HASH_BYTES],
                  const uint8_t *val, size_t val_len, vrec_hdr *h, uint8_t **pt, size_t *pt_len,
                  vc_err *err);

/* Every check of vault_damage on one stored record (store key key, value
 * val): what vrec_open checks, plus the key's length and the sealed name
 * against the key. VC_OK with *why set: VAULT_RECORD_SOUND, and then *pt
 * (vrec_pt_free it) and *h are set; or the damage, and then nothing is
 * allocated (*h is set, unauthenticated, when *hdr_ok). Another code only for
 * a failure that is not the record's (memory, re-reading the keyring). */
vc_code vrec_inspect(vault *v, store_txn *t, vkr_ref *kr, const uint8_t *key, size_t key_len,
                     const uint8_t *val, size_t val_len, vrec_hdr *h, bool *hdr_ok, uint8_t **pt,
                     size_t *pt_len, vault_damage *why, vc_err *err);

/* Room for a record hash in hex (VAULT_RECORD_HASH_MAX bytes) + NUL. */
#define VREC_HEX_MAX (2 * VAULT_RECORD_HASH_MAX + 1)

/* The record hash as lowercase hex, for logs and vaultctl verify. */
void vrec_hex(const uint8_t *key, size_t key_len, char out[VREC_HEX_MAX]);

/* Whether a record with header h is expired at now. */
static inline bool vrec_expired(const vrec_hdr *h, int64_t now)
{
    return h->expires_at != 0 && h->expires_at <= now;
}

/* Store keys of HISTORY (hash || version BE) and EXPIRY (time BE || hash). */
void vhist_key(uint8_t out[VHIST_KEY_BYTES], const uint8_t hash[SEAL_HASH_BYTES], uint64_t version);
void vexp_key(uint8_t out[VEXP_KEY_BYTES], int64_t expires_at, const uint8_t hash[SEAL_HASH_BYTES]);

/* vrec_inspect for a HISTORY entry: its store key must be a name hash and a
 * version, and the sealed header must carry that version. */
vc_code vhist_inspect(vault *v, store_txn *t, vkr_ref *kr, const uint8_t *key, size_t key_len,
                      const uint8_t *val, size_t val_len, vrec_hdr *h, bool *hdr_ok, uint8_t **pt,
                      size_t *pt_len, vault_damage *why, vc_err *err);

/* ---- vault_keyring.c: META and the keyring ---- */

/* The u64 at META key; dflt if absent. */
vc_code vkr_meta_get_u64(store_txn *t, const char *key, uint64_t dflt, uint64_t *out, vc_err *err);
vc_code vkr_meta_put_u64(store_txn *t, const char *key, uint64_t x, vc_err *err);

/* Adds 1 to the u64 at key (0 if absent); *out (may be NULL) gets the new value. */
vc_code vkr_meta_bump(store_txn *t, const char *key, uint64_t *out, vc_err *err);

/* Reads the existing keyring into the cache (vault_open); VC_NOT_FOUND if
 * the store has none yet. */
vc_code vkr_load(vault *v, const char *dir, vc_err *err);

/* First open of an empty store: a fresh keyring, in one transaction. */
vc_code vkr_create(vault *v, const char *dir, vc_err *err);

/* Wraps kr under m into META. */
vc_code vkr_put(store_txn *t, const seal_keyring *kr, const seal_master *m, vc_err *err);

/* Unwraps the keyring stored in t with the vault's current master (caller
 * holds kr_lock, which guards v->m). */
vc_code vkr_read_current(vault *v, store_txn *t, seal_keyring **out, vc_err *err);

/* A keyring matching the epoch transaction t sees; release with vkr_release. */
vc_code vkr_acquire(vault *v, store_txn *t, vkr_ref *out, vc_err *err);
void vkr_release(vault *v, vkr_ref *r);

/* Swaps r for a private copy read from t: the one retry when a record names
 * a data key version the cached keyring lacks. */
vc_code vkr_reload_private(vault *v, store_txn *t, vkr_ref *r, vc_err *err);

/* One write transaction that rewrites the stored keyring: edit(k, arg)
 * changes it (edit NULL: no change), it is wrapped under new_master (NULL:
 * the vault's current master; otherwise the vault switches to new_master
 * once committed) and the epoch is bumped so every process reloads; with
 * rotated, last_rotation is stamped too. */
typedef vc_code (*vkr_edit)(seal_keyring *k, void *arg, vc_err *err);
vc_code vkr_update(vault *v, vkr_edit edit, void *arg, const seal_master *new_master, bool rotated,
                   vc_err *err);

/* ---- vault_commit.c, vault_names.c: what vault_close undoes ---- */

/* Lets the committer finish the queue and the completer its batches, and
 * joins both. */
void vcommit_stop(vault *v);

/* Empties the name cache. */
void vnames_free(vault *v);

/* Raises META "format" 1 to VAULT_FORMAT (vault_open). */
vc_code vkr_format_upgrade(vault *v, vc_err *err);
/* ---- vault_commit.c: a custom write in the group commit ---- */

/* Runs inside a group-commit write transaction: writes through t, may
 * fail on its own (nothing written: t stays usable) or set *dead (t must be
 * aborted, e.g. after a failed store_put). */
typedef vc_code (*vcommit_txn_fn)(store_txn *t, const seal_keyring *kr, void *arg, vc_err *err,
                                  bool *dead);

/* Queues fn as one write of the group commit and waits until it is durable
 * (or failed). Not from a vault thread. */
vc_code vcommit_txn_wait(vault *v, vcommit_txn_fn fn, void *arg, vc_err *err);

/* ---- vault_token.c: token records (vault_token.h) ---- */

/* Consumes one use of token inside write transaction t (see vtok_use).
 * *dead is set when t must be aborted. */
vc_code vtok_consume_txn(store_txn *t, const seal_keyring *kr, const char *token, size_t token_len,
                         int64_t now, json_t **rec_after, vc_err *err, bool *dead);

/* Re-seals every token record under the current data key (rotation). */
vc_code vtok_reseal_all(vault *v, uint64_t *n, vc_err *err);

/* ---- vault_rotate.c ---- */

/* Test hook: stop vault_rotate after this many re-seal batches (0: never), to
 * simulate a crash mid-rotation. Declared here, not in vault.h: tests only. */
void vault_test_rotate_batches_limit(unsigned n);

#endif
