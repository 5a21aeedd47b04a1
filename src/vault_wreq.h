/* vault_wreq.h - private to vault_commit.c and vault_apply.c: a queued
 * write, and applying one inside the committer's transaction. */
#ifndef VAULTCTL_VAULT_WREQ_H
#define VAULTCTL_VAULT_WREQ_H

#include "vault_int.h"

/* One queued write: one malloc'd block holding the request and copies of its
 * name and value (so callers may free theirs at once), owned by the vault
 * from queueing until its callback has returned, then wiped (the value is a
 * secret) and freed. */
typedef enum { W_SET, W_DELETE, W_SWEEP } wkind;

typedef struct vcommit_req {
    struct vcommit_req *next;
    const char *name;
    size_t name_len;
    const char *value; /* NULL for a delete */
    size_t value_len;
    bool del; /* not a set: no meta to report */
    wkind kind;
    vault_set_opts opts;
    /* a sweep: what to look for, and where the committer writes what it did
     * (the blocked caller's variables) */
    int64_t sweep_now;
    size_t sweep_max;
    uint64_t *sweep_removed;
    bool *sweep_more;
    bool use_only;   /* no record write: only the token use (vtok_use) */
    const char *tok; /* token whose use pays for this write, or NULL */
    size_t tok_len;
    json_t **tok_out;      /* the token record after the use (caller's) */
    vcommit_txn_fn txn_fn; /* a custom write (vcommit_txn_wait), or NULL */
    void *txn_arg;
    vault_write_done done;
    void *arg;
    size_t alloc_len; /* bytes of this block, for the wipe */
    uint64_t mark;    /* store_commit_mark after its batch (the committer) */
    vc_code rc;
    vc_err err;
    vault_meta meta;
} wreq;

/* Applies write w inside t: a set (history, expiry index, cas), a delete
 * (every version), a sweep of expired keys, a token's use, or a custom
 * write. Its own failures (VC_CONFLICT, VC_NOT_FOUND, a value too large to
 * seal) leave t usable; a failing store call sets *dead: t must then be
 * aborted. *changed is set when the write modified the store. */
vc_code vapply_write(vault *v, store_txn *t, const seal_keyring *kr, wreq *w, bool *changed,
                     bool *dead);

#endif
