/* store_js.h - private to the store module: the JetStream backend.
 *
 * store_js.c      connection, stream, cache bookkeeping, commit and sync,
 *                 read barrier, status, open and close
 * store_js_chain.c  the fenced chain of publishes and the lease
 * store_js_follow.c the stream into the cache (followers)
 * store_js_restore.c a backup into the stream
 * store_js_wal.c  write sets, the WAL message codec, subjects, and applying
 *                 one stream message to the cache
 *
 * Stream layout (KV-compatible): stream KV_<bucket>, subjects
 * $KV.<bucket>.>, one message kept per subject, direct get off. Each table
 * entry is the KV key <table>.<hex of store key> (a delete is a KV delete
 * marker, header KV-Operation: DEL); a write transaction is first one WAL
 * message on $KV.<bucket>._wal holding its whole write set, then one
 * message per entry; the lease is $KV.<bucket>._lease. Replaying the stream
 * in order (a WAL applies its batch, a key message sets or deletes)
 * rebuilds the state; since the WAL subject keeps only its last message, a
 * writer that takes over first re-publishes the entries of the last WAL.
 */
#ifndef VAULTCTL_STORE_JS_H
#define VAULTCTL_STORE_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "store_int.h"

typedef struct sjs sjs;

/* ---- store_js_wal.c ---- */

typedef struct {
    store_table tbl;
    bool del;
    uint8_t *key; /* points into the set's buffer */
    size_t key_len;
    uint8_t *val;
    size_t val_len;
} sjs_entry;

/* A write set: the puts and deletes of one transaction, in order. */
typedef struct sjs_wset sjs_wset;

sjs_wset *sjs_wset_new(void);
void sjs_wset_free(sjs_wset *w); /* wipes; NULL is fine */
/* Adds a put (val not NULL) or a delete; false when out of memory. */
bool sjs_wset_add(sjs_wset *w, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t *val, size_t val_len);
size_t sjs_wset_count(const sjs_wset *w);
const sjs_entry *sjs_wset_entry(const sjs_wset *w, size_t i);

/* The WAL message body of w (malloc'd, *len bytes; NULL when out of
 * memory). */
uint8_t *sjs_wal_encode(const sjs_wset *w, size_t *len);

/* A WAL body back into a new write set; NULL if it is not one. */
sjs_wset *sjs_wal_decode(const uint8_t *buf, size_t len);

/* The KV key of an entry ("records.0a1b..."), NUL-terminated in out; false
 * if it does not fit. */
bool sjs_entry_key(store_table tbl, const uint8_t *key, size_t key_len, char *out, size_t cap);

/* What a stream message is, from its subject after "$KV.<bucket>.". */
typedef enum { SJS_MSG_ENTRY, SJS_MSG_WAL, SJS_MSG_LEASE, SJS_MSG_OTHER } sjs_msg_kind;

/* Applies one message to the cache transaction t: a WAL's batch, or an
 * entry's put or delete (del: a KV delete marker). Messages that are not
 * ours (another key under the bucket) are ignored. */
vc_code sjs_apply(slmdb_txn *t, const char *kv_key, const uint8_t *data, size_t len, bool del,
                  vc_err *err);

sjs_msg_kind sjs_msg_kind_of(const char *kv_key);

/* ---- store_js.c ---- */

struct config;

/* Connects, creates or checks the stream, catches the cache db up (db
 * stays the caller's and must outlive *out). */
vc_code sjs_open(sjs **out, slmdb *db, const struct config *c, vc_err *err);
void sjs_close(sjs *j); /* NULL is fine */

bool sjs_is_active(sjs *j);
bool sjs_forward_subject(sjs *j, bool own, char *buf, size_t cap);

/* store_holder_unreachable. */
void sjs_holder_unreachable(sjs *j);

/* The bytes one transaction may hold: the WAL must fit max_payload. */
size_t sjs_txn_max_bytes(sjs *j);

/* VC_OK when this instance may begin a write transaction now. */
vc_code sjs_write_allowed(sjs *j, vc_err *err);

/* Before a read: the active within its lease passes at once; any other
 * waits until its cache has applied what the stream held when the read
 * arrived (one stream query shared by every read waiting at that moment). */
vc_code sjs_read_barrier(sjs *j, vc_err *err);

/* Publishes w (the WAL, then each entry) and commits the cache transaction
 * t, which it ends either way. VC_UNAVAILABLE when this instance is not the
 * active writer or the transaction is over the server's max_payload. */
vc_code sjs_commit(sjs *j, slmdb_txn *t, const sjs_wset *w, vc_err *err);

/* Waits for the acknowledgements of everything published so far;
 * VC_UNAVAILABLE if any was refused or timed out (the outcome of those
 * writes is unknown; the instance then re-reads the stream). */
vc_code sjs_sync(sjs *j, vc_err *err);

/* Role, stream, replicas and applied sequence into info. */
void sjs_stat(sjs *j, store_info *info);

/* Deletes the stream of c's bucket (restore --force). */
vc_code sjs_delete_stream(const struct config *c, vc_err *err);

/* ---- store_js_restore.c ---- */

/* store_restore_config for jetstream. */
vc_code sjs_restore(const struct config *c, const char *backup_file, bool force,
                    store_restore_check check, void *arg, vc_err *err);

#endif
