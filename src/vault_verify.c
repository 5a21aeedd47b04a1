/* vault_verify.c - damaged records (see vault.h): vault_verify reads and
 * authenticates every record and reports the damaged ones by record hash;
 * vault_delete_record removes one record by its hash without opening it, so
 * a damaged record can be got rid of. vrec_inspect (vault_record.c) is the
 * judge, as for list and rotate.
 */
#include "vault_int.h"

#include <string.h>

const char *vault_damage_code(vault_damage d)
{
    switch (d) {
    case VAULT_RECORD_SOUND:
        return "sound";
    case VAULT_DAMAGE_STORE_KEY:
        return "bad_record_hash";
    case VAULT_DAMAGE_HEADER:
        return "bad_header";
    case VAULT_DAMAGE_KEY_VERSION:
        return "unknown_key_version";
    case VAULT_DAMAGE_AUTH:
        return "auth_failed";
    case VAULT_DAMAGE_LAYOUT:
        return "bad_plaintext";
    case VAULT_DAMAGE_NAME:
        return "name_mismatch";
    }
    return "unknown";
}

const char *vault_damage_text(vault_damage d)
{
    switch (d) {
    case VAULT_RECORD_SOUND:
        return "the record opens and authenticates";
    case VAULT_DAMAGE_STORE_KEY:
        return "the store key is not a record hash (wrong length), or a kept version's key names "
               "another version than its sealed header";
    case VAULT_DAMAGE_HEADER:
        return "the record header is too short or of an unknown format";
    case VAULT_DAMAGE_KEY_VERSION:
        return "the data-key version in the header is not in the keyring";
    case VAULT_DAMAGE_AUTH:
        return "the sealed value does not authenticate (bytes altered, or header or value "
               "moved from another record)";
    case VAULT_DAMAGE_LAYOUT:
        return "the sealed value authenticates but its layout is invalid";
    case VAULT_DAMAGE_NAME:
        return "the sealed name does not hash to the record hash";
    }
    return "unknown damage";
}

typedef struct {
    vault *v;
    store_txn *t;
    vkr_ref *kr;
    vault_damaged_fn fn;
    void *arg;
    bool history; /* scanning HISTORY */
    uint64_t records, versions, damaged;
    vc_code rc;
    vc_err *err;
} verify_scan;

static int verify_one(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                      size_t val_len)
{
    verify_scan *c = ctx;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    vrec_hdr h = {0};
    bool hdr_ok = false;
    vault_damage why = VAULT_RECORD_SOUND;

    if (c->history) {
        c->versions++;
        c->rc = vhist_inspect(c->v, c->t, c->kr, key, key_len, val, val_len, &h, &hdr_ok, &pt,
                              &pt_len, &why, c->err);
    } else {
        c->records++;
        c->rc = vrec_inspect(c->v, c->t, c->kr, key, key_len, val, val_len, &h, &hdr_ok, &pt,
                             &pt_len, &why, c->err);
    }
    if (c->rc != VC_OK)
        return (int)c->rc;
    vrec_pt_free(pt, pt_len);
    if (why == VAULT_RECORD_SOUND)
        return 0;
    c->damaged++;
    if (c->fn != NULL) {
        vault_damaged_record rec = {key, key_len, why, hdr_ok, hdr_ok ? h.key_version : 0};
        c->fn(c->arg, &rec);
    }
    return 0;
}

vc_code vault_verify(vault *v, vault_damaged_fn fn, void *arg, vault_verify_info *out, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    verify_scan c;
    vc_code rc;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = vkr_acquire(v, t, &kr, err)) != VC_OK)
        goto out;
    if (out != NULL) {
        out->key_version = seal_keyring_current(kr.kr);
        out->data_keys = seal_keyring_count(kr.kr);
    }
    c.v = v;
    c.t = t;
    c.kr = &kr;
    c.fn = fn;
    c.arg = arg;
    c.err = err;
    rc = store_scan(t, STORE_RECORDS, NULL, 0, verify_one, &c, err);
    if (rc == VC_OK && c.rc != VC_OK)
        rc = c.rc;
    if (rc == VC_OK) {
        c.history = true;
        rc = store_scan(t, STORE_HISTORY, NULL, 0, verify_one, &c, err);
        if (rc == VC_OK && c.rc != VC_OK)
            rc = c.rc;
    }
    if (rc == VC_OK && out != NULL) {
        out->records = c.records;
        out->versions = c.versions;
        out->damaged = c.damaged;
    }
out:
    vkr_release(v, &kr);
    store_abort(t);
    return rc;
}

/* One synced write transaction of its own, like a rotation batch: durable
 * when store_commit returns. META "gen" is bumped so every process's name
 * cache is rebuilt. */
vc_code vault_delete_record(vault *v, const uint8_t *record, size_t record_len, vc_err *err)
{
    store_txn *t = NULL;
    vc_code rc;

    if (record == NULL || record_len == 0 || record_len > VAULT_RECORD_HASH_MAX)
        return vc_errf(err, VC_BAD_REQUEST, "a record hash is 1 to %d bytes",
                       VAULT_RECORD_HASH_MAX);
    if ((rc = store_begin(v->st, true, &t, err)) != VC_OK)
        return rc;
    rc = store_del(t, STORE_RECORDS, record, record_len, err);
    if (rc == VC_NOT_FOUND) /* a kept version, as verify names it */
        rc = store_del(t, STORE_HISTORY, record, record_len, err);
    if (rc == VC_NOT_FOUND)
        rc = vc_errf(err, VC_NOT_FOUND, "record not found");
    if (rc == VC_OK)
        rc = vkr_meta_bump(t, VAULT_META_GEN, NULL, err);
    if (rc != VC_OK) {
        store_abort(t);
        return rc;
    }
    return store_commit(t, err);
}
