/* test_vault_verify.c - damaged records (issue 11 item 8), on real libsodium +
 * LMDB: records are damaged by writing their bytes straight into the store
 * (store.h, with the vault closed). vault_verify names exactly the damaged
 * ones by record hash and says what is wrong; list leaves them out and counts
 * them; rotate re-seals the others, skips them, keeps the old data keys (so a
 * record put right again still opens), also across an interrupted rotation;
 * vault_delete_record removes one by hash; then verify is clean and the next
 * rotation destroys the old keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seal.h"
#include "store.h"
#include "vault.h"

/* test hook in vault_rotate.c: stop vault_rotate after n batches (0: never) */
void vault_test_rotate_batches_limit(unsigned n);

#define HDR_BYTES 29 /* format u8 | key_version u32 | version u64 | created i64 | updated i64 */

typedef struct {
    char dir[64];
    seal_master *m;
    vault *v;
} fx;

/* ---- helpers ---- */

static seal_master *new_master(void)
{
    char b64[SEAL_KEYGEN_B64];
    seal_master *m = NULL;
    vc_err err;
    assert_int_equal(seal_init(&err), VC_OK);
    assert_int_equal(seal_keygen_b64(b64, sizeof b64, &err), VC_OK);
    assert_int_equal(seal_master_parse(&m, b64, strlen(b64), "test", &err), VC_OK);
    return m;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_open(fx *f)
{
    vc_err err;
    if (vault_open(&f->v, f->dir, 0, f->m, &err) != VC_OK)
        fail_msg("vault_open: %s", err.msg);
}

static void fx_close(fx *f)
{
    vault_close(f->v);
    f->v = NULL;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/vault-verify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->m = new_master();
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vault_test_rotate_batches_limit(0);
    vault_close(f->v);
    seal_master_free(f->m);
    (void)nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void set_str(vault *v, const char *name, const char *value)
{
    vc_err err;
    if (vault_set(v, name, strlen(name), value, strlen(value), NULL, &err) != VC_OK)
        fail_msg("vault_set %s: %s", name, err.msg);
}

static void want_value(vault *v, const char *name, const char *value)
{
    char *got = NULL;
    size_t got_len = 0;
    vc_err err;
    if (vault_get(v, name, strlen(name), &got, &got_len, NULL, &err) != VC_OK)
        fail_msg("vault_get %s: %s", name, err.msg);
    assert_int_equal(got_len, strlen(value));
    assert_memory_equal(got, value, got_len);
    free(got);
}

static void want_get_fails(vault *v, const char *name)
{
    char *got = NULL;
    size_t got_len = 0;
    vc_err err;
    assert_int_equal(vault_get(v, name, strlen(name), &got, &got_len, NULL, &err), VC_INTERNAL);
    assert_null(got);
}

/* The record hash (store key) of name, from the stored keyring (vault closed). */
static void name_hash(const fx *f, const char *name, uint8_t out[SEAL_HASH_BYTES])
{
    store *s = NULL;
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    const uint8_t *blob;
    size_t len;
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_META, (const uint8_t *)"keyring", 7, &blob, &len, &err),
                     VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k, f->m, blob, len, &err), VC_OK);
    seal_name_hash(k, name, strlen(name), out);
    seal_keyring_free(k);
    store_abort(t);
    store_close(s);
}

/* A copy of the stored bytes of record key (vault closed); NULL if absent. */
static uint8_t *raw_get(const fx *f, const uint8_t *key, size_t key_len, size_t *len)
{
    store *s = NULL;
    store_txn *t = NULL;
    const uint8_t *val;
    uint8_t *copy = NULL;
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    if (store_get(t, STORE_RECORDS, key, key_len, &val, len, &err) == VC_OK) {
        copy = malloc(*len ? *len : 1);
        assert_non_null(copy);
        memcpy(copy, val, *len);
    }
    store_abort(t);
    store_close(s);
    return copy;
}

static void raw_put(const fx *f, const uint8_t *key, size_t key_len, const uint8_t *val, size_t len)
{
    store *s = NULL;
    store_txn *t = NULL;
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, true, &t, &err), VC_OK);
    assert_int_equal(store_put(t, STORE_RECORDS, key, key_len, val, len, &err), VC_OK);
    assert_int_equal(store_commit(t, &err), VC_OK);
    store_close(s);
}

/* Closes the vault, xors byte `at` of name's record with x (at < 0: from
 * the end), reopens; *orig (may be NULL) gets the bytes as they were. */
static void damage(fx *f, const char *name, long at, uint8_t x, uint8_t hash[SEAL_HASH_BYTES],
                   uint8_t **orig, size_t *orig_len)
{
    uint8_t *val;
    size_t len = 0;

    fx_close(f);
    name_hash(f, name, hash);
    val = raw_get(f, hash, SEAL_HASH_BYTES, &len);
    assert_non_null(val);
    if (orig != NULL) {
        *orig = malloc(len);
        assert_non_null(*orig);
        memcpy(*orig, val, len);
        *orig_len = len;
    }
    size_t i = at >= 0 ? (size_t)at : len - (size_t)(-at);
    assert_true(i < len);
    val[i] ^= x;
    raw_put(f, hash, SEAL_HASH_BYTES, val, len);
    free(val);
    fx_open(f);
}

/* What vault_verify reported. */
#define MAX_SEEN 16
typedef struct {
    size_t n;
    uint8_t record[MAX_SEEN][64];
    size_t record_len[MAX_SEEN];
    vault_damage damage[MAX_SEEN];
    bool has_kv[MAX_SEEN];
    uint32_t kv[MAX_SEEN];
} seen_set;

static void on_damaged(void *arg, const vault_damaged_record *rec)
{
    seen_set *s = arg;
    assert_true(s->n < MAX_SEEN);
    assert_true(rec->record_len <= 64);
    assert_int_not_equal(rec->damage, VAULT_RECORD_SOUND);
    memcpy(s->record[s->n], rec->record, rec->record_len);
    s->record_len[s->n] = rec->record_len;
    s->damage[s->n] = rec->damage;
    s->has_kv[s->n] = rec->has_key_version;
    s->kv[s->n] = rec->key_version;
    s->n++;
}

static void verify(fx *f, seen_set *seen, vault_verify_info *info)
{
    vc_err err;
    memset(seen, 0, sizeof *seen);
    if (vault_verify(f->v, on_damaged, seen, info, &err) != VC_OK)
        fail_msg("vault_verify: %s", err.msg);
    assert_int_equal(info->damaged, seen->n);
}

/* Lists every name into want-order checks; returns the skipped count. */
static uint64_t list_all(fx *f, const char *const *want, size_t nwant)
{
    char **names = NULL;
    size_t count = 0;
    bool more = true;
    uint64_t skipped = 99;
    vc_err err;
    if (vault_list(f->v, NULL, 0, NULL, 0, 0, &names, &count, &more, &skipped, &err) != VC_OK)
        fail_msg("vault_list: %s", err.msg);
    assert_int_equal(count, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(names[i], want[i]);
    assert_false(more);
    vault_names_free(names, count);
    return skipped;
}

static void rotate(fx *f, vault_rotation *r)
{
    vc_err err;
    if (vault_rotate_report(f->v, r, &err) != VC_OK)
        fail_msg("vault_rotate_report: %s", err.msg);
}

static const char *const names5[] = {"app/a", "app/b", "app/c", "app/d", "app/e"};

static void set5(fx *f)
{
    char value[64];
    for (size_t i = 0; i < 5; i++) {
        snprintf(value, sizeof value, "\"secret-%zu\"", i);
        set_str(f->v, names5[i], value);
    }
}

static void check5_but(fx *f, size_t bad)
{
    char value[64];
    for (size_t i = 0; i < 5; i++) {
        if (i == bad)
            continue;
        snprintf(value, sizeof value, "\"secret-%zu\"", i);
        want_value(f->v, names5[i], value);
    }
}

/* ---- tests ---- */

/* A clean store: verify finds nothing, list skips nothing, rotate reports
 * skipped 0 and destroys the old key. */
static void test_clean_store(void **state)
{
    fx *f = *state;
    seen_set seen;
    vault_verify_info info;
    vault_rotation r;

    verify(f, &seen, &info);
    assert_int_equal(info.records, 0);
    assert_int_equal(info.damaged, 0);
    set5(f);
    verify(f, &seen, &info);
    assert_int_equal(info.records, 5);
    assert_int_equal(info.damaged, 0);
    assert_int_equal(info.key_version, 1);
    assert_int_equal(info.data_keys, 1);
    assert_int_equal(list_all(f, names5, 5), 0);
    rotate(f, &r);
    assert_int_equal(r.key_version, 2);
    assert_int_equal(r.reencrypted, 5);
    assert_int_equal(r.skipped, 0);
    assert_int_equal(r.old_keys_kept, 0);
    verify(f, &seen, &info);
    assert_int_equal(info.data_keys, 1);
    assert_int_equal(info.key_version, 2);
    check5_but(f, 99);
}

/* The case: one flipped byte in one sealed value among good records. */
static void test_flipped_byte_found_skipped_deleted(void **state)
{
    fx *f = *state;
    uint8_t hash[SEAL_HASH_BYTES];
    uint8_t *before, *after;
    size_t before_len = 0, after_len = 0;
    seen_set seen;
    vault_verify_info info;
    vault_rotation r;
    vault_status_info st;
    vc_err err;
    static const char *const others[] = {"app/a", "app/b", "app/d", "app/e"};

    set5(f);
    damage(f, "app/c", HDR_BYTES + 24 + 6, 0x20, hash, NULL, NULL); /* in the ciphertext */

    /* verify names exactly that record, by its hash */
    verify(f, &seen, &info);
    assert_int_equal(info.records, 5);
    assert_int_equal(info.damaged, 1);
    assert_int_equal(seen.record_len[0], SEAL_HASH_BYTES);
    assert_memory_equal(seen.record[0], hash, SEAL_HASH_BYTES);
    assert_int_equal(seen.damage[0], VAULT_DAMAGE_AUTH);
    assert_string_equal(vault_damage_code(seen.damage[0]), "auth_failed");
    assert_true(seen.has_kv[0]);
    assert_int_equal(seen.kv[0], 1);

    /* list: the others, one skipped (before: the whole list failed) */
    assert_int_equal(list_all(f, others, 4), 1);
    want_get_fails(f->v, "app/c");
    check5_but(f, 2);

    /* rotate: the others re-sealed, the damaged one left, old key kept */
    fx_close(f);
    before = raw_get(f, hash, SEAL_HASH_BYTES, &before_len);
    fx_open(f);
    rotate(f, &r);
    assert_int_equal(r.key_version, 2);
    assert_int_equal(r.reencrypted, 4);
    assert_int_equal(r.skipped, 1);
    assert_int_equal(r.old_keys_kept, 1);
    check5_but(f, 2);
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.key_version, 2);
    assert_int_equal(st.keys, 5);
    verify(f, &seen, &info);
    assert_int_equal(info.damaged, 1);
    assert_int_equal(info.data_keys, 2);
    assert_int_equal(info.key_version, 2);
    fx_close(f);
    after = raw_get(f, hash, SEAL_HASH_BYTES, &after_len);
    fx_open(f);
    assert_non_null(before);
    assert_non_null(after);
    assert_int_equal(before_len, after_len); /* untouched by the rotation */
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);

    /* a second rotation with the damage still there: still skipped, and both
     * older versions kept */
    rotate(f, &r);
    assert_int_equal(r.key_version, 3);
    assert_int_equal(r.reencrypted, 4);
    assert_int_equal(r.skipped, 1);
    assert_int_equal(r.old_keys_kept, 2);

    /* delete by hash: exactly that record, without opening it */
    assert_int_equal(vault_delete_record(f->v, hash, sizeof hash, &err), VC_OK);
    assert_int_equal(vault_delete_record(f->v, hash, sizeof hash, &err), VC_NOT_FOUND);
    assert_string_equal(err.msg, "record not found");
    assert_int_equal(vault_delete_record(f->v, hash, 0, &err), VC_BAD_REQUEST);
    verify(f, &seen, &info);
    assert_int_equal(info.records, 4);
    assert_int_equal(info.damaged, 0);
    assert_int_equal(list_all(f, others, 4), 0);
    check5_but(f, 2);

    /* the next rotation skips nothing and destroys the old keys */
    rotate(f, &r);
    assert_int_equal(r.key_version, 4);
    assert_int_equal(r.reencrypted, 4);
    assert_int_equal(r.skipped, 0);
    assert_int_equal(r.old_keys_kept, 0);
    verify(f, &seen, &info);
    assert_int_equal(info.data_keys, 1);
    check5_but(f, 2);
    fx_close(f);
    fx_open(f); /* and from a fresh process view */
    check5_but(f, 2);
}

/* Why the old key must stay: the record put right again (e.g. its bytes from
 * a backup) opens after the rotation that skipped it, and the next rotation
 * then re-seals it. */
static void test_repaired_after_rotation(void **state)
{
    fx *f = *state;
    uint8_t hash[SEAL_HASH_BYTES];
    uint8_t *orig = NULL;
    size_t orig_len = 0;
    seen_set seen;
    vault_verify_info info;
    vault_rotation r;

    set5(f);
    damage(f, "app/b", -1, 0x01, hash, &orig, &orig_len); /* last tag byte */
    rotate(f, &r);
    assert_int_equal(r.skipped, 1);
    assert_int_equal(r.old_keys_kept, 1);
    want_get_fails(f->v, "app/b");

    fx_close(f);
    raw_put(f, hash, SEAL_HASH_BYTES, orig, orig_len);
    fx_open(f);
    want_value(f->v, "app/b", "\"secret-1\""); /* sealed under key 1, still held */
    verify(f, &seen, &info);
    assert_int_equal(info.damaged, 0);
    rotate(f, &r);
    assert_int_equal(r.key_version, 3);
    assert_int_equal(r.reencrypted, 5);
    assert_int_equal(r.skipped, 0);
    assert_int_equal(r.old_keys_kept, 0);
    check5_but(f, 99);
    free(orig);
}

/* A sealed record of our own making, under hash `key`, sealed with data key
 * kv of the stored keyring: name and value inside, name_len as given. */
static void forge(fx *f, const uint8_t *key, const char *name, uint32_t name_len, const char *value)
{
    store *s = NULL;
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    const uint8_t *blob;
    size_t len, nlen = strlen(name), vlen = strlen(value);
    uint8_t ad[HDR_BYTES + SEAL_HASH_BYTES], pt[256], rec[HDR_BYTES + 256 + SEAL_OVERHEAD];
    vc_err err;

    assert_true(4 + nlen + vlen <= sizeof pt);
    memset(ad, 0, sizeof ad);
    ad[0] = 1;
    ad[1] = 1;  /* key_version 1 */
    ad[5] = 1;  /* version 1 */
    ad[13] = 1; /* created_at, updated_at: 1 */
    ad[21] = 1;
    memcpy(ad + HDR_BYTES, key, SEAL_HASH_BYTES);
    pt[0] = (uint8_t)name_len;
    pt[1] = (uint8_t)(name_len >> 8);
    pt[2] = (uint8_t)(name_len >> 16);
    pt[3] = (uint8_t)(name_len >> 24);
    memcpy(pt + 4, name, nlen);
    memcpy(pt + 4 + nlen, value, vlen);

    fx_close(f);
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, true, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_META, (const uint8_t *)"keyring", 7, &blob, &len, &err),
                     VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k, f->m, blob, len, &err), VC_OK);
    memcpy(rec, ad, HDR_BYTES);
    assert_int_equal(seal_encrypt(k, 1, ad, sizeof ad, pt, 4 + nlen + vlen, rec + HDR_BYTES, &err),
                     VC_OK);
    assert_int_equal(store_put(t, STORE_RECORDS, key, SEAL_HASH_BYTES, rec,
                               HDR_BYTES + 4 + nlen + vlen + SEAL_OVERHEAD, &err),
                     VC_OK);
    assert_int_equal(store_commit(t, &err), VC_OK);
    seal_keyring_free(k);
    store_close(s);
    fx_open(f);
}

static size_t seen_find(const seen_set *s, const uint8_t *key, size_t key_len)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->record_len[i] == key_len && memcmp(s->record[i], key, key_len) == 0)
            return i;
    fail_msg("record not reported");
    return 0;
}

/* Every kind of damage is told apart, and list and rotate skip each. */
static void test_damage_kinds(void **state)
{
    fx *f = *state;
    uint8_t h_hdr[SEAL_HASH_BYTES], h_short[SEAL_HASH_BYTES], h_kv[SEAL_HASH_BYTES];
    uint8_t h_name[SEAL_HASH_BYTES], h_layout[SEAL_HASH_BYTES];
    const uint8_t odd_key[5] = {1, 2, 3, 4, 5};
    const uint8_t junk[3] = {9, 9, 9};
    uint8_t *val;
    size_t len = 0;
    seen_set seen;
    vault_verify_info info;
    vault_rotation r;
    size_t i;
    vc_err err;
    static const char *const left[] = {"app/b", "app/e"};

    set5(f);
    set_str(f->v, "x/name", "\"n\"");
    set_str(f->v, "x/layout", "\"l\"");
    damage(f, "app/a", 0, 0x07, h_hdr, NULL, NULL); /* format byte */
    damage(f, "app/c", 1, 0x62, h_kv, NULL, NULL);  /* key_version 1 -> 99 */
    fx_close(f);
    name_hash(f, "app/d", h_short);
    val = raw_get(f, h_short, SEAL_HASH_BYTES, &len);
    raw_put(f, h_short, SEAL_HASH_BYTES, val, 10); /* truncated */
    free(val);
    raw_put(f, odd_key, sizeof odd_key, junk, sizeof junk); /* not a record hash */
    name_hash(f, "x/name", h_name);
    name_hash(f, "x/layout", h_layout);
    fx_open(f);
    forge(f, h_name, "app/b", 5, "\"forged\"");   /* authenticates, names another key */
    forge(f, h_layout, "x/layout", 200, "\"l\""); /* name length past the end */

    verify(f, &seen, &info);
    assert_int_equal(info.records, 8);
    assert_int_equal(info.damaged, 6);
    i = seen_find(&seen, h_hdr, SEAL_HASH_BYTES);
    assert_int_equal(seen.damage[i], VAULT_DAMAGE_HEADER);
    assert_false(seen.has_kv[i]);
    i = seen_find(&seen, h_short, SEAL_HASH_BYTES);
    assert_int_equal(seen.damage[i], VAULT_DAMAGE_HEADER);
    i = seen_find(&seen, h_kv, SEAL_HASH_BYTES);
    assert_int_equal(seen.damage[i], VAULT_DAMAGE_KEY_VERSION);
    assert_true(seen.has_kv[i]);
    assert_int_equal(seen.kv[i], 99);
    i = seen_find(&seen, odd_key, sizeof odd_key);
    assert_int_equal(seen.damage[i], VAULT_DAMAGE_STORE_KEY);
    i = seen_find(&seen, h_name, SEAL_HASH_BYTES);
    assert_int_equal(seen.damage[i], VAULT_DAMAGE_NAME);
    i = seen_find(&seen, h_layout, SEAL_HASH_BYTES);
    assert_int_equal(seen.damage[i], VAULT_DAMAGE_LAYOUT);
    for (i = 0; i < seen.n; i++) {
        assert_true(strlen(vault_damage_code(seen.damage[i])) > 0);
        assert_true(strlen(vault_damage_text(seen.damage[i])) > 0);
    }

    assert_int_equal(list_all(f, left, 2), 6);
    want_get_fails(f->v, "x/name");
    rotate(f, &r);
    assert_int_equal(r.reencrypted, 2);
    assert_int_equal(r.skipped, 6);
    assert_int_equal(r.old_keys_kept, 1);
    want_value(f->v, "app/b", "\"secret-1\"");
    want_value(f->v, "app/e", "\"secret-4\"");

    /* each one deleted by hash, the odd-length one too */
    assert_int_equal(vault_delete_record(f->v, odd_key, sizeof odd_key, &err), VC_OK);
    for (i = 0; i < seen.n; i++)
        if (seen.record_len[i] == SEAL_HASH_BYTES)
            assert_int_equal(vault_delete_record(f->v, seen.record[i], SEAL_HASH_BYTES, &err),
                             VC_OK);
    verify(f, &seen, &info);
    assert_int_equal(info.records, 2);
    assert_int_equal(info.damaged, 0);
    rotate(f, &r);
    assert_int_equal(r.skipped, 0);
    assert_int_equal(r.old_keys_kept, 0);
    want_value(f->v, "app/b", "\"secret-1\"");
}

/* A damaged header that claims the very version a rotation makes current is
 * still authenticated, skipped, and keeps the key it really needs. */
static void test_header_claims_new_version(void **state)
{
    fx *f = *state;
    uint8_t hash[SEAL_HASH_BYTES];
    uint8_t *orig = NULL;
    size_t orig_len = 0;
    vault_rotation r;

    set5(f);
    damage(f, "app/e", 1, 0x03, hash, &orig, &orig_len); /* key_version 1 -> 2 */
    rotate(f, &r);
    assert_int_equal(r.key_version, 2);
    assert_int_equal(r.reencrypted, 4);
    assert_int_equal(r.skipped, 1);
    assert_int_equal(r.old_keys_kept, 1);
    fx_close(f);
    raw_put(f, hash, SEAL_HASH_BYTES, orig, orig_len);
    fx_open(f);
    want_value(f->v, "app/e", "\"secret-4\"");
    free(orig);
}

/* Many records in several batches, a few damaged among them, and a rotation
 * interrupted after one batch: the next rotation finishes, counts every
 * damaged record once, and keeps the old keys. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t left;
    vc_code worst;
} waiter;

static void async_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *err)
{
    waiter *w = arg;
    (void)meta;
    (void)err;
    pthread_mutex_lock(&w->mu);
    if (rc != VC_OK)
        w->worst = rc;
    if (--w->left == 0)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void test_batches_interrupted(void **state)
{
    fx *f = *state;
    enum { N = 2600 };
    static const size_t bad[] = {3, 1200, 2599};
    uint8_t hashes[3][SEAL_HASH_BYTES];
    char name[32], value[32];
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, N, VC_OK};
    seen_set seen;
    vault_verify_info info;
    vault_rotation r;
    vc_err err;
    uint64_t skipped = 0;
    char **names = NULL;
    size_t count = 0;
    bool more = false;

    for (size_t i = 0; i < N; i++) {
        snprintf(name, sizeof name, "k%05zu", i);
        snprintf(value, sizeof value, "\"v%zu\"", i);
        assert_int_equal(
            vault_set_async(f->v, name, strlen(name), value, strlen(value), async_done, &w, &err),
            VC_OK);
    }
    pthread_mutex_lock(&w.mu);
    while (w.left > 0)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    assert_int_equal(w.worst, VC_OK);
    for (size_t j = 0; j < 3; j++) {
        snprintf(name, sizeof name, "k%05zu", bad[j]);
        damage(f, name, -3, 0x80, hashes[j], NULL, NULL);
    }

    vault_test_rotate_batches_limit(1);
    assert_int_not_equal(vault_rotate_report(f->v, &r, &err), VC_OK);
    vault_test_rotate_batches_limit(0);
    rotate(f, &r);
    assert_int_equal(r.key_version, 3);
    assert_int_equal(r.skipped, 3);
    assert_int_equal(r.old_keys_kept, 2);
    assert_int_equal(r.reencrypted, N - 3);

    verify(f, &seen, &info);
    assert_int_equal(info.records, N);
    assert_int_equal(info.damaged, 3);
    assert_int_equal(info.data_keys, 3);
    for (size_t j = 0; j < 3; j++)
        (void)seen_find(&seen, hashes[j], SEAL_HASH_BYTES);
    assert_int_equal(vault_list(f->v, NULL, 0, NULL, 0, 0, &names, &count, &more, &skipped, &err),
                     VC_OK);
    assert_int_equal(count, N - 3);
    assert_int_equal(skipped, 3);
    vault_names_free(names, count);
    /* a page of the listing reports the store-wide count too */
    assert_int_equal(vault_list(f->v, "k0", 2, NULL, 0, 5, &names, &count, &more, &skipped, &err),
                     VC_OK);
    assert_int_equal(count, 5);
    assert_true(more);
    assert_int_equal(skipped, 3);
    vault_names_free(names, count);
    want_value(f->v, "k00000", "\"v0\"");
    want_value(f->v, "k02598", "\"v2598\"");

    for (size_t j = 0; j < 3; j++)
        assert_int_equal(vault_delete_record(f->v, hashes[j], SEAL_HASH_BYTES, &err), VC_OK);
    rotate(f, &r);
    assert_int_equal(r.reencrypted, N - 3);
    assert_int_equal(r.skipped, 0);
    assert_int_equal(r.old_keys_kept, 0);
    verify(f, &seen, &info);
    assert_int_equal(info.records, N - 3);
    assert_int_equal(info.damaged, 0);
    assert_int_equal(info.data_keys, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_found_skipped_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repaired_after_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_claims_new_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_interrupted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
