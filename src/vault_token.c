/* vault_token.c - token records in the TOKENS table (see vault_token.h). */
#include "vault_int.h"
#include "vault_token.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "latch.h"

#define VTOK_FORMAT  1
#define VTOK_KEY_LEN (1 + SEAL_HASH_BYTES)
#define VTOK_HDR_LEN 5 /* format u8 | key_version u32 LE */

/* Keyed hash of a token string or an accessor: a domain byte no key name
 * can hold (a control character) keeps them apart from record names. */
static void vtok_key(const seal_keyring *kr, char tag, const char *s, size_t len,
                     uint8_t out[VTOK_KEY_LEN])
{
    char buf[8 + 256];
    if (len > 256)
        len = 256;
    buf[0] = '\x01';
    buf[1] = tag;
    memcpy(buf + 2, s, len);
    out[0] = (uint8_t)tag;
    seal_name_hash(kr, buf, len + 2, out + 1);
    sodium_memzero(buf, sizeof buf);
}

static vc_code vtok_seal_put(store_txn *t, const seal_keyring *kr, const uint8_t key[VTOK_KEY_LEN],
                             const json_t *rec, vc_err *err)
{
    char *pt = json_dumps(rec, JSON_COMPACT);
    if (pt == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    size_t pt_len = strlen(pt);
    size_t len = VTOK_HDR_LEN + pt_len + SEAL_OVERHEAD;
    uint8_t *buf = malloc(len);
    uint8_t ad[VTOK_KEY_LEN + VTOK_HDR_LEN];
    uint32_t ver = seal_keyring_current(kr);
    vc_code rc;
    if (buf == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "out of memory");
        goto out;
    }
    buf[0] = VTOK_FORMAT;
    for (int i = 0; i < 4; i++)
        buf[1 + i] = (uint8_t)(ver >> (8 * i));
    memcpy(ad, key, VTOK_KEY_LEN);
    memcpy(ad + VTOK_KEY_LEN, buf, VTOK_HDR_LEN);
    rc = seal_encrypt(kr, ver, ad, sizeof ad, (const uint8_t *)pt, pt_len, buf + VTOK_HDR_LEN, err);
    if (rc == VC_OK)
        rc = store_put(t, STORE_TOKENS, key, VTOK_KEY_LEN, buf, len, err);
out:
    sodium_memzero(pt, pt_len);
    free(pt);
    free(buf);
    return rc;
}

static vc_code vtok_open(const seal_keyring *kr, const uint8_t *key, const uint8_t *val, size_t len,
                         json_t **rec, vc_err *err)
{
    uint8_t ad[VTOK_KEY_LEN + VTOK_HDR_LEN];
    *rec = NULL;
    if (len < VTOK_HDR_LEN + SEAL_OVERHEAD || val[0] != VTOK_FORMAT)
        return vc_errf(err, VC_INTERNAL, "token record failed to open");
    uint32_t ver = 0;
    for (int i = 0; i < 4; i++)
        ver |= (uint32_t)val[1 + i] << (8 * i);
    size_t pt_len = len - VTOK_HDR_LEN - SEAL_OVERHEAD;
    char *pt = malloc(pt_len + 1);
    if (pt == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    memcpy(ad, key, VTOK_KEY_LEN);
    memcpy(ad + VTOK_KEY_LEN, val, VTOK_HDR_LEN);
    vc_code rc = seal_decrypt(kr, ver, ad, sizeof ad, val + VTOK_HDR_LEN, len - VTOK_HDR_LEN,
                              (uint8_t *)pt, err);
    if (rc == VC_OK) {
        *rec = json_loadb(pt, pt_len, 0, NULL);
        if (!json_is_object(*rec)) {
            json_decref(*rec);
            *rec = NULL;
            rc = vc_errf(err, VC_INTERNAL, "token record failed to open");
        }
    } else {
        rc = vc_errf(err, VC_INTERNAL, "token record failed to open");
    }
    sodium_memzero(pt, pt_len);
    free(pt);
    return rc;
}

/* The record under 'T' key tkey. VC_TOKEN_INVALID when absent. */
static vc_code vtok_get(store_txn *t, const seal_keyring *kr, const uint8_t tkey[VTOK_KEY_LEN],
                        json_t **rec, vc_err *err)
{
    const uint8_t *val;
    size_t len;
    vc_code rc = store_get(t, STORE_TOKENS, tkey, VTOK_KEY_LEN, &val, &len, err);
    if (rc == VC_NOT_FOUND)
        return vc_errf(err, VC_TOKEN_INVALID, "token invalid");
    if (rc != VC_OK)
        return rc;
    return vtok_open(kr, tkey, val, len, rec, err);
}

/* The 'T' key of an accessor, through the 'A' index. */
static vc_code vtok_by_accessor(store_txn *t, const seal_keyring *kr, const char *acc,
                                uint8_t tkey[VTOK_KEY_LEN], vc_err *err)
{
    uint8_t akey[VTOK_KEY_LEN];
    const uint8_t *val;
    size_t len;
    vtok_key(kr, 'A', acc, strlen(acc), akey);
    vc_code rc = store_get(t, STORE_TOKENS, akey, sizeof akey, &val, &len, err);
    if (rc == VC_NOT_FOUND || (rc == VC_OK && len != VTOK_KEY_LEN))
        return vc_errf(err, VC_TOKEN_INVALID, "token invalid");
    if (rc == VC_OK)
        memcpy(tkey, val, VTOK_KEY_LEN);
    return rc;
}

static int64_t rec_int(const json_t *rec, const char *k)
{
    return json_integer_value(json_object_get(rec, k));
}

/* Random url-safe text of n random bytes. */
static void rand_b64(char *out, size_t cap, size_t n)
{
    uint8_t b[32];
    randombytes_buf(b, n);
    sodium_bin2base64(out, cap, b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(b, sizeof b);
}

static vc_code begin_write(vault *v, store_txn **t, vkr_ref *kr, vc_err *err)
{
    vc_code rc = store_begin(v->st, true, t, err);
    if (rc != VC_OK)
        return rc;
    if ((rc = vkr_acquire(v, *t, kr, err)) != VC_OK) {
        store_abort(*t);
        *t = NULL;
    }
    return rc;
}

static vc_code end_write(vault *v, store_txn *t, vkr_ref *kr, vc_code rc, vc_err *err)
{
    vkr_release(v, kr);
    if (rc == VC_OK)
        return store_commit(t, err);
    store_abort(t);
    return rc;
}

typedef struct {
    json_t *rec;
    const char *token;
    const char *acc;
} issue_arg;

/* The issue's writes, in a group-commit transaction. */
static vc_code issue_txn(store_txn *t, const seal_keyring *kr, void *arg, vc_err *err, bool *dead)
{
    issue_arg *a = arg;
    uint8_t tkey[VTOK_KEY_LEN], akey[VTOK_KEY_LEN];
    vc_code rc;

    const char *parent = json_string_value(json_object_get(a->rec, "parent"));
    if (parent != NULL) {
        uint8_t pkey[VTOK_KEY_LEN];
        json_t *prec = NULL;
        rc = vtok_by_accessor(t, kr, parent, pkey, err);
        if (rc == VC_OK)
            rc = vtok_get(t, kr, pkey, &prec, err);
        json_decref(prec);
        if (rc != VC_OK) {
            if (rc != VC_TOKEN_INVALID && rc != VC_INTERNAL)
                *dead = true;
            return rc;
        }
    }
    vtok_key(kr, 'T', a->token, strlen(a->token), tkey);
    vtok_key(kr, 'A', a->acc, strlen(a->acc), akey);
    rc = vtok_seal_put(t, kr, tkey, a->rec, err);
    if (rc == VC_OK)
        rc = store_put(t, STORE_TOKENS, akey, sizeof akey, tkey, sizeof tkey, err);
    if (rc != VC_OK)
        *dead = true;
    return rc;
}

vc_code vtok_issue(vault *v, json_t *rec, bool wrap, char *token, vc_err *err)
{
    char acc[TOKEN_ACCESSOR_LEN + 8];

    /* the 4-byte prefix; rand_b64 writes the rest and the NUL */
    const char *prefix = wrap ? TOKEN_WRAP_PREFIX : TOKEN_PREFIX;
    for (int i = 0; i < 4; i++)
        token[i] = prefix[i];
    rand_b64(token + 4, TOKEN_STR_LEN + 1 - 4, 32);
    rand_b64(acc, sizeof acc, 18);
    if (json_object_set_new(rec, "accessor", json_string(acc)) != 0)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    /* through the group commit: concurrent issues share a sync */
    issue_arg a = {rec, token, acc};
    return vcommit_txn_wait(v, issue_txn, &a, err);
}

vc_code vtok_find(vault *v, const char *token, size_t token_len, const char *accessor, json_t **rec,
                  vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    uint8_t tkey[VTOK_KEY_LEN];
    vc_code rc;

    *rec = NULL;
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = vkr_acquire(v, t, &kr, err)) != VC_OK)
        goto out;
    if (token != NULL)
        vtok_key(kr.kr, 'T', token, token_len, tkey);
    else
        rc = vtok_by_accessor(t, kr.kr, accessor, tkey, err);
    if (rc == VC_OK)
        rc = vtok_get(t, kr.kr, tkey, rec, err);
    vkr_release(v, &kr);
out:
    store_abort(t);
    return rc;
}

vc_code vtok_consume_txn(store_txn *t, const seal_keyring *kr, const char *token, size_t token_len,
                         int64_t now, json_t **rec_after, vc_err *err, bool *dead)
{
    uint8_t tkey[VTOK_KEY_LEN];
    json_t *rec = NULL;
    vc_code rc;

    vtok_key(kr, 'T', token, token_len, tkey);
    rc = vtok_get(t, kr, tkey, &rec, err);
    if (rc != VC_OK) {
        if (rc != VC_TOKEN_INVALID && rc != VC_INTERNAL)
            *dead = true;
        return rc;
    }
    int64_t uses = rec_int(rec, "uses_left");
    if (uses == 0) {
        rc = vc_errf(err, VC_TOKEN_INVALID, "token invalid");
        goto out;
    }
    if (rec_int(rec, "expires_at") <= now) {
        rc = vc_errf(err, VC_TOKEN_EXPIRED, "token expired");
        goto out;
    }
    if (uses > 0) {
        json_object_set_new(rec, "uses_left", json_integer(uses - 1));
        if (uses == 1 && json_object_get(rec, "wrap") != NULL) {
            /* a wrap token's one use: the wrapped reply leaves the store */
            uint8_t akey[VTOK_KEY_LEN];
            const char *acc = json_string_value(json_object_get(rec, "accessor"));
            vtok_key(kr, 'A', acc != NULL ? acc : "", acc != NULL ? strlen(acc) : 0, akey);
            rc = store_del(t, STORE_TOKENS, tkey, sizeof tkey, err);
            if (rc == VC_OK) {
                rc = store_del(t, STORE_TOKENS, akey, sizeof akey, err);
                if (rc == VC_NOT_FOUND)
                    rc = VC_OK;
            }
        } else {
            rc = vtok_seal_put(t, kr, tkey, rec, err);
        }
        if (rc != VC_OK) {
            *dead = true;
            goto out;
        }
    }
    if (rec_after != NULL) {
        *rec_after = rec;
        rec = NULL;
    }
out:
    json_decref(rec);
    return rc;
}

typedef struct {
    latch done;
    vc_code rc;
    vc_err err;
} use_wait;

static void use_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *err)
{
    use_wait *w = arg;
    (void)meta;
    w->rc = rc;
    w->err = *err;
    latch_open(&w->done);
}

vc_code vtok_use(vault *v, const char *token, size_t token_len, json_t **rec_after, vc_err *err)
{
    use_wait w;
    json_t *rec = NULL;
    vc_code rc;

    latch_init(&w.done);
    rc = vault_write_tok_async(v, false, NULL, 0, NULL, 0, NULL, token, token_len, &rec, use_done,
                               &w, err);
    if (rc == VC_OK) {
        latch_wait(&w.done);
        rc = w.rc;
        if (rc != VC_OK && err != NULL)
            *err = w.err;
    }
    latch_destroy(&w.done);
    if (rc == VC_OK && rec_after != NULL)
        *rec_after = rec;
    else
        json_decref(rec);
    return rc;
}

vc_code vtok_renew(vault *v, const char *accessor, int64_t ttl, json_t **rec_after, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    uint8_t tkey[VTOK_KEY_LEN];
    json_t *rec = NULL;
    int64_t now = (int64_t)time(NULL);
    vc_code rc;

    if ((rc = begin_write(v, &t, &kr, err)) != VC_OK)
        return rc;
    rc = vtok_by_accessor(t, kr.kr, accessor, tkey, err);
    if (rc == VC_OK)
        rc = vtok_get(t, kr.kr, tkey, &rec, err);
    if (rc != VC_OK)
        goto out;
    if (rec_int(rec, "uses_left") == 0) {
        rc = vc_errf(err, VC_TOKEN_INVALID, "token invalid");
        goto out;
    }
    if (rec_int(rec, "expires_at") <= now) {
        rc = vc_errf(err, VC_TOKEN_EXPIRED, "token expired");
        goto out;
    }
    if (!json_is_true(json_object_get(rec, "renewable"))) {
        rc = vc_errf(err, VC_BAD_REQUEST, "token is not renewable");
        goto out;
    }
    if (ttl < 0)
        ttl = rec_int(rec, "ttl");
    int64_t max = rec_int(rec, "max_expires_at");
    int64_t ea = ttl > max - now ? max : now + ttl;
    json_object_set_new(rec, "expires_at", json_integer(ea));
    rc = vtok_seal_put(t, kr.kr, tkey, rec, err);
out:
    rc = end_write(v, t, &kr, rc, err);
    if (rc == VC_OK && rec_after != NULL)
        *rec_after = rec;
    else
        json_decref(rec);
    return rc;
}

/* Every token record, for revoke, purge and rotation. */
typedef struct {
    uint8_t tkey[VTOK_KEY_LEN];
    json_t *rec;
    bool mark;
} vtok_item;

typedef struct {
    const seal_keyring *kr;
    vtok_item *items;
    size_t n, cap;
    vc_code rc;
    vc_err *err;
} vtok_all;

static int collect(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                   size_t val_len)
{
    vtok_all *a = ctx;
    json_t *rec = NULL;
    if (key_len != VTOK_KEY_LEN || key[0] != 'T')
        return key[0] > 'T' ? 1 : 0;
    if (vtok_open(a->kr, key, val, val_len, &rec, a->err) != VC_OK)
        return 0; /* a damaged token record is left alone */
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        vtok_item *ni = realloc(a->items, nc * sizeof *ni);
        if (ni == NULL) {
            json_decref(rec);
            a->rc = vc_errf(a->err, VC_INTERNAL, "out of memory");
            return 1;
        }
        a->items = ni;
        a->cap = nc;
    }
    memcpy(a->items[a->n].tkey, key, VTOK_KEY_LEN);
    a->items[a->n].rec = rec;
    a->items[a->n].mark = false;
    a->n++;
    return 0;
}

static void all_free(vtok_all *a)
{
    for (size_t i = 0; i < a->n; i++)
        json_decref(a->items[i].rec);
    free(a->items);
}

static vc_code all_load(store_txn *t, const seal_keyring *kr, vtok_all *a, vc_err *err)
{
    const uint8_t start = 'T';
    memset(a, 0, sizeof *a);
    a->kr = kr;
    a->err = err;
    vc_code rc = store_scan(t, STORE_TOKENS, &start, 1, collect, a, err);
    if (rc == VC_OK)
        rc = a->rc;
    vc_err_clear(err);
    return rc;
}

/* Deletes the marked items (record and accessor index). */
static vc_code delete_marked(store_txn *t, const seal_keyring *kr, vtok_all *a, uint64_t *n,
                             vc_err *err)
{
    for (size_t i = 0; i < a->n; i++) {
        if (!a->items[i].mark)
            continue;
        const char *acc = json_string_value(json_object_get(a->items[i].rec, "accessor"));
        vc_code rc = store_del(t, STORE_TOKENS, a->items[i].tkey, VTOK_KEY_LEN, err);
        if (rc != VC_OK && rc != VC_NOT_FOUND)
            return rc;
        if (acc != NULL) {
            uint8_t akey[VTOK_KEY_LEN];
            vtok_key(kr, 'A', acc, strlen(acc), akey);
            rc = store_del(t, STORE_TOKENS, akey, sizeof akey, err);
            if (rc != VC_OK && rc != VC_NOT_FOUND)
                return rc;
        }
        (*n)++;
    }
    return VC_OK;
}

vc_code vtok_revoke(vault *v, const char *accessor, uint64_t *n, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    uint8_t tkey[VTOK_KEY_LEN];
    vtok_all a;
    vc_code rc;

    *n = 0;
    memset(&a, 0, sizeof a);
    if ((rc = begin_write(v, &t, &kr, err)) != VC_OK)
        return rc;
    if ((rc = vtok_by_accessor(t, kr.kr, accessor, tkey, err)) != VC_OK)
        goto out;
    if ((rc = all_load(t, kr.kr, &a, err)) != VC_OK)
        goto out;
    bool found = false;
    for (size_t i = 0; i < a.n; i++)
        if (memcmp(a.items[i].tkey, tkey, VTOK_KEY_LEN) == 0)
            a.items[i].mark = found = true;
    if (!found) {
        rc = vc_errf(err, VC_TOKEN_INVALID, "token invalid");
        goto out;
    }
    /* descendants: mark children of marked tokens until nothing changes */
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < a.n; i++) {
            const char *par = json_string_value(json_object_get(a.items[i].rec, "parent"));
            if (a.items[i].mark || par == NULL)
                continue;
            for (size_t j = 0; j < a.n; j++) {
                const char *acc = json_string_value(json_object_get(a.items[j].rec, "accessor"));
                if (a.items[j].mark && acc != NULL && strcmp(acc, par) == 0) {
                    a.items[i].mark = more = true;
                    break;
                }
            }
        }
    }
    rc = delete_marked(t, kr.kr, &a, n, err);
out:
    all_free(&a);
    return end_write(v, t, &kr, rc, err);
}

vc_code vtok_purge(vault *v, int64_t now, uint64_t *n, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    vtok_all a;
    uint64_t dummy = 0;
    vc_code rc;

    if (n == NULL)
        n = &dummy;
    *n = 0;
    memset(&a, 0, sizeof a);
    if ((rc = begin_write(v, &t, &kr, err)) != VC_OK)
        return rc;
    if ((rc = all_load(t, kr.kr, &a, err)) != VC_OK)
        goto out;
    for (size_t i = 0; i < a.n; i++)
        a.items[i].mark = rec_int(a.items[i].rec, "expires_at") <= now;
    rc = delete_marked(t, kr.kr, &a, n, err);
out:
    all_free(&a);
    if (rc == VC_OK && *n == 0) { /* nothing to make durable */
        vkr_release(v, &kr);
        store_abort(t);
        return VC_OK;
    }
    return end_write(v, t, &kr, rc, err);
}

vc_code vtok_reseal_all(vault *v, uint64_t *n, vc_err *err)
{
    store_txn *t = NULL;
    vkr_ref kr = {NULL, false};
    vtok_all a;
    vc_code rc;

    *n = 0;
    memset(&a, 0, sizeof a);
    if ((rc = begin_write(v, &t, &kr, err)) != VC_OK)
        return rc;
    if ((rc = all_load(t, kr.kr, &a, err)) != VC_OK)
        goto out;
    for (size_t i = 0; i < a.n && rc == VC_OK; i++) {
        rc = vtok_seal_put(t, kr.kr, a.items[i].tkey, a.items[i].rec, err);
        (*n)++;
    }
out:
    all_free(&a);
    return end_write(v, t, &kr, rc, err);
}

vc_code vtok_count(vault *v, uint64_t *n, vc_err *err)
{
    store_txn *t = NULL;
    vc_code rc = store_begin(v->st, false, &t, err);
    if (rc != VC_OK)
        return rc;
    rc = store_count(t, STORE_TOKENS, n, err);
    store_abort(t);
    if (rc == VC_OK)
        *n /= 2; /* a record and its accessor index each */
    return rc;
}
