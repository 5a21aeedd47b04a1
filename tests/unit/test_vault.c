/* test_vault.c - the vault on real libsodium + LMDB in temp directories:
 * round trips, versions, tamper and splice detection, wrong master key,
 * rotation (complete and interrupted), no plaintext on disk, list paging,
 * group commit under concurrency, a full map, rekey, backup, a keyring
 * changed by another process, and asynchronous writes (callbacks once each,
 * after the commit, in queue order; close drains the queue). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "seal.h"
#include "store.h"
#include "testutil.h"
#include "vault.h"
#include "vault_token.h"

/* test hook in vault.c: stop vault_rotate after n batches (0: never) */
void vault_test_rotate_batches_limit(unsigned n);

/* dir, master key m, vault v (testutil.h) */
typedef tu_vault fx;

/* ---- helpers ---- */

static seal_master *new_master(void)
{
    seal_master *m = tu_master();
    assert_non_null(m);
    return m;
}

static void fx_open(fx *f, size_t map_size)
{
    vc_err err;
    vc_code rc = vault_open(&f->v, f->dir, map_size, f->m, &err);
    if (rc != VC_OK)
        fail_msg("vault_open: %s", err.msg);
}

static void fx_reopen(fx *f)
{
    vault_close(f->v);
    f->v = NULL;
    fx_open(f, 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(tu_vault_open(f, "test_vault", 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_vault_close(f);
    free(f);
    return 0;
}

static void set_str(vault *v, const char *name, const char *value,
                    vault_meta *meta)
{
    vc_err err;
    vc_code rc = vault_set(v, name, strlen(name), value, strlen(value), meta,
                           &err);
    if (rc != VC_OK)
        fail_msg("vault_set %s: %s", name, err.msg);
}

static void want_value(vault *v, const char *name, const char *value,
                         size_t value_len)
{
    char *got = NULL;
    size_t got_len = 0;
    vc_err err;
    vc_code rc = vault_get(v, name, strlen(name), &got, &got_len, NULL, &err);
    if (rc != VC_OK)
        fail_msg("vault_get %s: %s", name, err.msg);
    assert_int_equal(got_len, value_len);
    assert_memory_equal(got, value, value_len);
    free(got);
}

static void want_code(vault *v, const char *name, vc_code want)
{
    char *got = (char *)1;
    size_t got_len = 99;
    vc_err err;
    assert_int_equal(vault_get(v, name, strlen(name), &got, &got_len, NULL,
                               &err),
                     want);
    assert_null(got); /* never garbage */
    assert_int_equal(got_len, 0);
}

/* Raw records, copied out of the store (the vault must be closed: LMDB
 * allows one environment per file per process). */
typedef struct {
    uint8_t key[SEAL_HASH_BYTES];
    uint8_t *val;
    size_t len;
} raw_rec;

typedef struct {
    raw_rec *r;
    size_t n, cap;
} raw_set;

static int raw_collect(void *ctx, const uint8_t *key, size_t key_len,
                       const uint8_t *val, size_t val_len)
{
    raw_set *s = ctx;
    if (key_len != SEAL_HASH_BYTES)
        return (int)VC_INTERNAL;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
        assert_non_null(s->r);
    }
    memcpy(s->r[s->n].key, key, SEAL_HASH_BYTES);
    s->r[s->n].val = malloc(val_len);
    assert_non_null(s->r[s->n].val);
    memcpy(s->r[s->n].val, val, val_len);
    s->r[s->n].len = val_len;
    s->n++;
    return 0;
}

static void raw_read(const char *dir, raw_set *out)
{
    store *s = NULL;
    store_txn *t = NULL;
    vc_err err;
    memset(out, 0, sizeof *out);
    assert_int_equal(store_open(&s, dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_scan(t, STORE_RECORDS, NULL, 0, raw_collect, out,
                                &err),
                     VC_OK);
    store_abort(t);
    store_close(s);
}

static void raw_free(raw_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->r[i].val);
    free(s->r);
    memset(s, 0, sizeof *s);
}

static void raw_put(const char *dir, const uint8_t *key, const uint8_t *val,
                    size_t len)
{
    store *s = NULL;
    store_txn *t = NULL;
    vc_err err;
    assert_int_equal(store_open(&s, dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, true, &t, &err), VC_OK);
    assert_int_equal(store_put(t, STORE_RECORDS, key, SEAL_HASH_BYTES, val,
                               len, &err),
                     VC_OK);
    assert_int_equal(store_commit(t, &err), VC_OK);
    store_close(s);
}

/* The keyring as stored, opened with m. */
static seal_keyring *raw_keyring(const char *dir, const seal_master *m)
{
    store *s = NULL;
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    const uint8_t *blob;
    size_t len;
    vc_err err;
    assert_int_equal(store_open(&s, dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_META, (const uint8_t *)"keyring", 7,
                               &blob, &len, &err),
                     VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k, m, blob, len, &err), VC_OK);
    store_abort(t);
    store_close(s);
    return k;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;
    long n;
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void data_path(const fx *f, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/data.mdb", f->dir);
    assert_true(n > 0 && (size_t)n < cap);
}

static void set_many(vault *v, const char *prefix, size_t n)
{
    char name[64], value[96];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%05zu", prefix, i);
        snprintf(value, sizeof value, "{\"n\":%zu,\"s\":\"value-%zu\"}", i, i);
        set_str(v, name, value, NULL);
    }
}

static void check_many(vault *v, const char *prefix, size_t n)
{
    char name[64], value[96];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%05zu", prefix, i);
        snprintf(value, sizeof value, "{\"n\":%zu,\"s\":\"value-%zu\"}", i, i);
        want_value(v, name, value, strlen(value));
    }
}

/* ---- tests ---- */

static void test_roundtrip_json_types(void **state)
{
    fx *f = *state;
    static const char *const values[] = {
        "\"a string\"", "42", "-3.25e10", "true", "false", "[]", "{}",
        "[1,\"two\",{\"three\":[3]},null,false]",
        "{\"db\":{\"user\":\"app\",\"pass\":\"p@ss\",\"ports\":[5432,5433],"
        "\"opts\":{\"ssl\":true,\"nested\":{\"deep\":{\"x\":null}}}}}",
        "\"h\\u00e9llo \\u2603 \xe2\x98\x83 \xf0\x9f\x94\x91 \xe4\xb8\xad\"",
    };
    char name[32];
    vc_err err;

    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        snprintf(name, sizeof name, "type/%zu", i);
        set_str(f->v, name, values[i], NULL);
    }
    /* a 200 KiB JSON string */
    size_t big_len = 200 * 1024;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    big[0] = '"';
    for (size_t i = 1; i < big_len - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[big_len - 1] = '"';
    big[big_len] = '\0';
    set_str(f->v, "big", big, NULL);
    /* a unicode name */
    set_str(f->v, "caf\xc3\xa9/\xf0\x9f\x94\x91", "\"k\"", NULL);

    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
            snprintf(name, sizeof name, "type/%zu", i);
            want_value(f->v, name, values[i], strlen(values[i]));
        }
        want_value(f->v, "big", big, big_len);
        want_value(f->v, "caf\xc3\xa9/\xf0\x9f\x94\x91", "\"k\"", 3);
        fx_reopen(f);
    }

    assert_int_equal(vault_delete(f->v, "big", 3, &err), VC_OK);
    want_code(f->v, "big", VC_NOT_FOUND);
    want_value(f->v, "type/1", "42", 2);
    free(big);
}

static void test_versions(void **state)
{
    fx *f = *state;
    vault_meta m1, m2, m3, g;
    char *val = NULL;
    size_t len = 0;
    vc_err err;

    set_str(f->v, "k", "1", &m1);
    assert_int_equal(m1.version, 1);
    assert_int_equal(m1.created_at, m1.updated_at);
    assert_true(m1.created_at > 1600000000);
    sleep(1);
    set_str(f->v, "k", "2", &m2);
    set_str(f->v, "k", "3", &m3);
    assert_int_equal(m2.version, 2);
    assert_int_equal(m3.version, 3);
    assert_int_equal(m3.created_at, m1.created_at);
    assert_true(m3.updated_at > m1.updated_at);
    assert_int_equal(vault_get(f->v, "k", 1, &val, &len, &g, &err), VC_OK);
    assert_int_equal(g.version, 3);
    assert_int_equal(g.created_at, m1.created_at);
    assert_int_equal(g.updated_at, m3.updated_at);
    free(val);
    /* delete then set starts again at version 1 */
    assert_int_equal(vault_delete(f->v, "k", 1, &err), VC_OK);
    set_str(f->v, "k", "4", &m1);
    assert_int_equal(m1.version, 1);
}

static void test_missing(void **state)
{
    fx *f = *state;
    vc_err err;
    want_code(f->v, "nope", VC_NOT_FOUND);
    assert_int_equal(vault_delete(f->v, "nope", 4, &err), VC_NOT_FOUND);
    assert_int_equal(err.code, VC_NOT_FOUND);
    set_str(f->v, "yes", "1", NULL);
    assert_int_equal(vault_delete(f->v, "yes", 3, &err), VC_OK);
    assert_int_equal(vault_delete(f->v, "yes", 3, &err), VC_NOT_FOUND);
    /* an empty name is refused */
    assert_int_equal(vault_set(f->v, "", 0, "1", 1, NULL, &err),
                     VC_BAD_REQUEST);
}

static void test_tamper_any_byte(void **state)
{
    fx *f = *state;
    const char *secret = "\"sk_tamper_canary\"";
    raw_set rs;
    vc_err err;
    char *got;
    size_t got_len;

    set_str(f->v, "tamper/me", secret, NULL);
    vault_close(f->v);
    f->v = NULL;
    raw_read(f->dir, &rs);
    assert_int_equal(rs.n, 1);
    raw_rec *r = &rs.r[0];
    for (size_t i = 0; i < r->len; i++) {
        r->val[i] ^= 0x01;
        raw_put(f->dir, r->key, r->val, r->len);
        fx_open(f, 0);
        got = (char *)1;
        got_len = 7;
        assert_int_equal(vault_get(f->v, "tamper/me", 9, &got, &got_len, NULL,
                                   &err),
                         VC_INTERNAL);
        assert_null(got);
        assert_int_equal(got_len, 0);
        assert_string_equal(err.msg, "record failed to open");
        vault_close(f->v);
        f->v = NULL;
        r->val[i] ^= 0x01;
    }
    /* truncated records too */
    raw_put(f->dir, r->key, r->val, 10);
    fx_open(f, 0);
    want_code(f->v, "tamper/me", VC_INTERNAL);
    vault_close(f->v);
    f->v = NULL;
    /* restored: opens again */
    raw_put(f->dir, r->key, r->val, r->len);
    fx_open(f, 0);
    want_value(f->v, "tamper/me", secret, strlen(secret));
    raw_free(&rs);
}

static void test_swapped_records(void **state)
{
    fx *f = *state;
    raw_set rs;

    set_str(f->v, "a", "\"value of a\"", NULL);
    set_str(f->v, "b", "\"value of b\"", NULL);
    vault_close(f->v);
    f->v = NULL;
    raw_read(f->dir, &rs);
    assert_int_equal(rs.n, 2);
    raw_put(f->dir, rs.r[0].key, rs.r[1].val, rs.r[1].len);
    raw_put(f->dir, rs.r[1].key, rs.r[0].val, rs.r[0].len);
    fx_open(f, 0);
    want_code(f->v, "a", VC_INTERNAL);
    want_code(f->v, "b", VC_INTERNAL);
    vault_close(f->v);
    f->v = NULL;
    raw_free(&rs);
}

/* An older version of a record put back under a newer one fails to open. */
static void test_old_version_replayed(void **state)
{
    fx *f = *state;
    raw_set old, cur;

    set_str(f->v, "r", "\"old\"", NULL);
    vault_close(f->v);
    f->v = NULL;
    raw_read(f->dir, &old);
    fx_open(f, 0);
    set_str(f->v, "r", "\"new\"", NULL);
    vault_close(f->v);
    f->v = NULL;
    raw_read(f->dir, &cur);
    /* the new header (version 2) spliced onto the old ciphertext */
    memcpy(old.r[0].val, cur.r[0].val, 29);
    raw_put(f->dir, old.r[0].key, old.r[0].val, old.r[0].len);
    fx_open(f, 0);
    want_code(f->v, "r", VC_INTERNAL);
    raw_free(&old);
    raw_free(&cur);
}

static void test_wrong_master(void **state)
{
    fx *f = *state;
    char path[128];
    uint8_t *before, *after;
    size_t blen, alen;
    seal_master *other = new_master();
    vault *v2 = NULL;
    vc_err err;

    set_str(f->v, "k", "1", NULL);
    vault_close(f->v);
    f->v = NULL;
    data_path(f, path, sizeof path);
    before = read_file(path, &blen);
    assert_int_equal(vault_open(&v2, f->dir, 0, other, &err), VC_CONFIG);
    assert_null(v2);
    assert_non_null(strstr(err.msg, "master key does not match the vault at"));
    assert_non_null(strstr(err.msg, f->dir));
    after = read_file(path, &alen);
    assert_int_equal(blen, alen);
    assert_memory_equal(before, after, blen);
    fx_open(f, 0);
    want_value(f->v, "k", "1", 1);
    free(before);
    free(after);
    seal_master_free(other);
}

static void test_rotate_10000(void **state)
{
    fx *f = *state;
    const size_t n = 10000;
    raw_set before, after;
    uint32_t kv = 0;
    uint64_t re = 0;
    vault_status_info st;
    seal_keyring *k;
    vc_err err;

    set_many(f->v, "rot/", n);
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.keys, n);
    assert_int_equal(st.key_version, 1);
    assert_int_equal(st.last_rotation, 0);
    vault_close(f->v);
    f->v = NULL;
    raw_read(f->dir, &before);
    assert_int_equal(before.n, n);

    fx_open(f, 0);
    assert_int_equal(vault_rotate(f->v, &kv, &re, &err), VC_OK);
    assert_int_equal(kv, 2);
    assert_int_equal(re, n);
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.key_version, 2);
    assert_true(st.last_rotation > 1600000000);
    check_many(f->v, "rot/", n);
    vault_close(f->v);
    f->v = NULL;

    raw_read(f->dir, &after);
    assert_int_equal(after.n, n);
    for (size_t i = 0; i < n; i++) {
        const raw_rec *b = &before.r[i], *a = &after.r[i];
        assert_memory_equal(b->key, a->key, SEAL_HASH_BYTES); /* same index */
        assert_int_equal(b->len, a->len);
        assert_int_equal(b->val[1], 1); /* key_version LE at offset 1 */
        assert_int_equal(a->val[1], 2);
        /* every ciphertext byte region changed (fresh nonce, new key) */
        assert_memory_not_equal(b->val + 29, a->val + 29, b->len - 29);
        /* version and timestamps kept */
        assert_memory_equal(b->val + 5, a->val + 5, 24);
    }
    k = raw_keyring(f->dir, f->m);
    assert_int_equal(seal_keyring_count(k), 1);
    assert_int_equal(seal_keyring_current(k), 2);
    assert_false(seal_keyring_has(k, 1));
    seal_keyring_free(k);
    raw_free(&before);
    raw_free(&after);

    fx_open(f, 0);
    check_many(f->v, "rot/", n);
}

static void test_crash_mid_rotation(void **state)
{
    fx *f = *state;
    const size_t n = 2500;
    uint32_t kv = 0;
    uint64_t re = 0;
    seal_keyring *k;
    vc_err err;

    set_many(f->v, "crash/", n);
    vault_test_rotate_batches_limit(1);
    assert_int_not_equal(vault_rotate(f->v, &kv, &re, &err), VC_OK);
    vault_test_rotate_batches_limit(0);
    vault_close(f->v); /* "kill -9": nothing more happens */
    f->v = NULL;

    k = raw_keyring(f->dir, f->m);
    assert_int_equal(seal_keyring_count(k), 2); /* old + new kept */
    assert_int_equal(seal_keyring_current(k), 2);
    seal_keyring_free(k);

    fx_open(f, 0);
    check_many(f->v, "crash/", n);
    /* writes go on under the new key meanwhile */
    set_str(f->v, "crash/new", "\"fresh\"", NULL);
    assert_int_equal(vault_rotate(f->v, &kv, &re, &err), VC_OK);
    assert_int_equal(kv, 3);
    assert_int_equal(re, n + 1);
    check_many(f->v, "crash/", n);
    want_value(f->v, "crash/new", "\"fresh\"", 7);
    vault_close(f->v);
    f->v = NULL;
    k = raw_keyring(f->dir, f->m);
    assert_int_equal(seal_keyring_count(k), 1);
    assert_int_equal(seal_keyring_current(k), 3);
    seal_keyring_free(k);
    fx_open(f, 0);
}

static bool contains(const uint8_t *hay, size_t hay_len, const char *needle)
{
    return memmem(hay, hay_len, needle, strlen(needle)) != NULL;
}

/* The needle, and its base64 at each of the three byte alignments. */
static void assert_absent(const uint8_t *hay, size_t hay_len, const char *s)
{
    char b64[256];
    size_t len = strlen(s);
    assert_false(contains(hay, hay_len, s));
    for (size_t skip = 0; skip < 3 && skip < len; skip++) {
        size_t body = (len - skip) / 3 * 3; /* whole groups only */
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)s + skip,
                          body, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
        assert_false(contains(hay, hay_len, b64));
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)s + skip,
                          body, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        assert_false(contains(hay, hay_len, b64));
    }
}

static void test_no_plaintext_on_disk(void **state)
{
    fx *f = *state;
    char path[128];
    uint8_t *data;
    size_t len;
    uint32_t kv;
    uint64_t re;
    vc_err err;

    set_str(f->v, "stripe/api-key-XYZ", "\"sk_live_canary_123\"", NULL);
    set_str(f->v, "db/password-QWE", "{\"user\":\"canary_user_77\"}", NULL);
    set_str(f->v, "stripe/api-key-XYZ", "\"sk_live_canary_456\"", NULL);
    /* tokens: neither the token string nor its accessor, policy or name,
     * nor a wrapped reply, before and after rotation */
    char tok[TOKEN_STR_LEN + 8], wtok[TOKEN_STR_LEN + 8], acc[64], wacc[64];
    json_t *rec = json_pack("{s:{s:[s],s:[s]},s:s,s:n,s:I,s:I,s:I,s:I,s:I,s:b}", "policy",
                            "keys", "canary_pattern/*", "operations", "get", "name",
                            "canary_token_name", "parent", "issued_at", (json_int_t)1,
                            "expires_at", (json_int_t)4000000000, "max_expires_at",
                            (json_int_t)4000000000, "ttl", (json_int_t)60, "uses_left",
                            (json_int_t)3, "renewable", 1);
    assert_int_equal(vtok_issue(f->v, rec, false, tok, &err), VC_OK);
    strcpy(acc, json_string_value(json_object_get(rec, "accessor")));
    json_object_set_new(rec, "wrap", json_pack("{s:s,s:{}}", "data", "wrapped_canary_99", "meta"));
    json_object_del(rec, "accessor");
    assert_int_equal(vtok_issue(f->v, rec, true, wtok, &err), VC_OK);
    strcpy(wacc, json_string_value(json_object_get(rec, "accessor")));
    json_decref(rec);
    assert_int_equal(vtok_use(f->v, tok, strlen(tok), NULL, &err), VC_OK);
    assert_int_equal(vault_rotate(f->v, &kv, &re, &err), VC_OK);
    vault_close(f->v);
    f->v = NULL;
    data_path(f, path, sizeof path);
    data = read_file(path, &len);
    assert_absent(data, len, "stripe/api-key-XYZ");
    assert_absent(data, len, "api-key-XYZ");
    assert_absent(data, len, "db/password-QWE");
    assert_absent(data, len, "sk_live_canary_123");
    assert_absent(data, len, "sk_live_canary_456");
    assert_absent(data, len, "canary_user_77");
    assert_absent(data, len, tok);
    assert_absent(data, len, tok + 4);
    assert_absent(data, len, wtok + 4);
    assert_absent(data, len, acc);
    assert_absent(data, len, wacc);
    assert_absent(data, len, "canary_pattern");
    assert_absent(data, len, "canary_token_name");
    assert_absent(data, len, "wrapped_canary_99");
    free(data);
    fx_open(f, 0);
}

static void want_page(vault *v, const char *prefix, const char *after,
                        size_t limit, const char *const *want, size_t nwant,
                        bool want_more)
{
    char **names = NULL;
    size_t count = 0;
    bool more = !want_more;
    vc_err err;
    assert_int_equal(vault_list(v, prefix, prefix ? strlen(prefix) : 0, after,
                                after ? strlen(after) : 0, limit, &names,
                                &count, &more, NULL, &err),
                     VC_OK);
    assert_int_equal(count, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(names[i], want[i]);
    assert_int_equal(more, want_more);
    vault_names_free(names, count);
}

static void test_list(void **state)
{
    fx *f = *state;
    static const char *const all[] = {"a", "app/b", "app/c", "app/d",
                                      "apple", "b", "z\xc3\xa9"};
    vc_err err;

    want_page(f->v, NULL, NULL, 0, NULL, 0, false);
    /* inserted out of order */
    for (int i = 6; i >= 0; i--)
        set_str(f->v, all[i], "1", NULL);
    want_page(f->v, NULL, NULL, 0, all, 7, false);
    want_page(f->v, "", NULL, 0, all, 7, false);
    want_page(f->v, "app", NULL, 0, all + 1, 4, false);
    want_page(f->v, "app/", NULL, 2, all + 1, 2, true);
    want_page(f->v, "app/", "app/c", 2, all + 3, 1, false);
    want_page(f->v, "app/", "app/d", 2, NULL, 0, false);
    want_page(f->v, "app/", "app/bb", 0, all + 2, 2, false);
    want_page(f->v, NULL, "app", 3, all + 1, 3, true);
    want_page(f->v, NULL, NULL, 7, all, 7, false);
    want_page(f->v, NULL, NULL, 6, all, 6, true);
    want_page(f->v, "zz", NULL, 0, NULL, 0, false);
    /* the cache follows writes */
    assert_int_equal(vault_delete(f->v, "app/c", 5, &err), VC_OK);
    static const char *const app2[] = {"app/b", "app/d", "app/e"};
    set_str(f->v, "app/e", "1", NULL);
    want_page(f->v, "app/", NULL, 0, app2, 3, false);
    fx_reopen(f);
    want_page(f->v, "app/", NULL, 0, app2, 3, false);
}

typedef struct {
    vault *v;
    int id;
    int fails;
} thr_arg;

#define THREADS 8
#define PER_THREAD 500

static void *set_worker(void *p)
{
    thr_arg *a = p;
    char name[64], value[64];
    vc_err err;
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(name, sizeof name, "t%d/k%03d", a->id, i);
        snprintf(value, sizeof value, "[%d,%d]", a->id, i);
        if (vault_set(a->v, name, strlen(name), value, strlen(value), NULL,
                      &err) != VC_OK)
            a->fails++;
        /* a read of an own earlier write sees it */
        if (i > 0 && i % 50 == 0) {
            char *got = NULL;
            size_t len;
            snprintf(name, sizeof name, "t%d/k%03d", a->id, i - 1);
            if (vault_get(a->v, name, strlen(name), &got, &len, NULL,
                          &err) != VC_OK)
                a->fails++;
            free(got);
        }
    }
    return NULL;
}

static void test_concurrent_sets(void **state)
{
    fx *f = *state;
    pthread_t th[THREADS];
    thr_arg args[THREADS];
    char name[64], value[64];
    vault_status_info st;
    vc_err err;

    for (int t = 0; t < THREADS; t++) {
        args[t] = (thr_arg){f->v, t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, set_worker, &args[t]),
                         0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].fails, 0);
    }
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.keys, THREADS * PER_THREAD);
    fx_reopen(f);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            snprintf(name, sizeof name, "t%d/k%03d", t, i);
            snprintf(value, sizeof value, "[%d,%d]", t, i);
            want_value(f->v, name, value, strlen(value));
        }
}

/* Sets and gets keep working while another thread rotates. */
static void *rotate_worker(void *p)
{
    thr_arg *a = p;
    uint32_t kv;
    uint64_t re;
    vc_err err;
    for (int i = 0; i < 2; i++)
        if (vault_rotate(a->v, &kv, &re, &err) != VC_OK)
            a->fails++;
    return NULL;
}

static void test_rotate_concurrent_with_writes(void **state)
{
    fx *f = *state;
    pthread_t rot, th[2];
    thr_arg ra = {f->v, 99, 0}, wa[2] = {{f->v, 0, 0}, {f->v, 1, 0}};
    vault_status_info st;
    vc_err err;

    set_many(f->v, "pre/", 3000);
    assert_int_equal(pthread_create(&rot, NULL, rotate_worker, &ra), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, set_worker, &wa[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(wa[i].fails, 0);
    }
    assert_int_equal(pthread_join(rot, NULL), 0);
    assert_int_equal(ra.fails, 0);
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.key_version, 3);
    fx_reopen(f);
    check_many(f->v, "pre/", 3000);
    want_value(f->v, "t1/k499", "[1,499]", 7);
}

static void test_map_full(void **state)
{
    fx *f = *state;
    const size_t vlen = 16 * 1024;
    char *value = malloc(vlen + 1);
    char name[32];
    vc_err err;
    size_t stored = 0;
    vc_code rc = VC_OK;

    assert_non_null(value);
    memset(value, 'x', vlen);
    value[0] = value[vlen - 1] = '"';
    value[vlen] = '\0';
    vault_close(f->v);
    f->v = NULL;
    tu_rmtree(f->dir);
    fx_open(f, 1 << 20);

    for (stored = 0; stored < 1000; stored++) {
        snprintf(name, sizeof name, "full/%03zu", stored);
        rc = vault_set(f->v, name, strlen(name), value, vlen, NULL, &err);
        if (rc != VC_OK)
            break;
    }
    assert_int_equal(rc, VC_UNAVAILABLE);
    assert_string_equal(err.msg, "storage full");
    assert_true(stored > 10);
    /* nothing was changed by the failed write; reads still work */
    want_code(f->v, name, VC_NOT_FOUND);
    want_value(f->v, "full/000", value, vlen);
    snprintf(name, sizeof name, "full/%03zu", stored - 1);
    want_value(f->v, name, value, vlen);
    /* deletes make room again */
    for (size_t i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "full/%03zu", i);
        assert_int_equal(vault_delete(f->v, name, strlen(name), &err), VC_OK);
    }
    snprintf(name, sizeof name, "full/%03zu", stored);
    assert_int_equal(vault_set(f->v, name, strlen(name), value, vlen, NULL,
                               &err),
                     VC_OK);
    want_value(f->v, name, value, vlen);
    free(value);
}

/* Group commit with a full map: a batch that does not fit is redone write by
 * write, so the small writes that share a batch with a too-big one still land
 * and only the big ones fail. */
#define FULL_TRIES 20
typedef struct {
    vault *v;
    const char *value;
    size_t vlen;
    int id, tries;
    int ok, full, other;
    vc_code rc[FULL_TRIES];
} full_arg;

static void *full_worker(void *p)
{
    full_arg *a = p;
    char name[32];
    vc_err err;
    for (int i = 0; i < a->tries; i++) {
        snprintf(name, sizeof name, "w%d/%02d", a->id, i);
        vc_code rc = vault_set(a->v, name, strlen(name), a->value, a->vlen,
                               NULL, &err);
        a->rc[i] = rc;
        if (rc == VC_OK)
            a->ok++;
        else if (rc == VC_UNAVAILABLE)
            a->full++;
        else
            a->other++;
    }
    return NULL;
}

/* Sets fill/00, fill/01, ... to value until one no longer fits (storage
 * full); returns how many were stored. */
static int fill_until_full(fx *f, const char *value, size_t len)
{
    char name[32];
    vc_err err;
    int filled = 0;

    for (;; filled++) {
        snprintf(name, sizeof name, "fill/%02d", filled);
        vc_code rc = vault_set(f->v, name, strlen(name), value, len, NULL,
                               &err);
        if (rc != VC_OK) {
            assert_int_equal(rc, VC_UNAVAILABLE);
            return filled;
        }
    }
}

static void test_map_full_concurrent(void **state)
{
    fx *f = *state;
    const size_t big = 64 * 1024;
    char *value = malloc(big);
    pthread_t th[4];
    full_arg a[4];
    char name[32];
    vc_err err;
    int filled = 0;

    assert_non_null(value);
    memset(value, 'y', big);
    vault_close(f->v);
    f->v = NULL;
    tu_rmtree(f->dir);
    fx_open(f, 1 << 20);
    /* fill until a big value no longer fits */
    filled = fill_until_full(f, value, big);
    assert_true(filled > 4);
    for (int t = 0; t < 4; t++) {
        /* threads 0-1 write big values (never fit), 2-3 tiny ones */
        memset(&a[t], 0, sizeof a[t]);
        a[t].v = f->v;
        a[t].value = value;
        a[t].vlen = t < 2 ? big : 4;
        a[t].tries = t < 2 ? FULL_TRIES : 8;
        a[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, full_worker, &a[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(a[t].other, 0);
        assert_int_equal(a[t].ok, t < 2 ? 0 : a[t].tries);
        for (int i = 0; i < a[t].tries; i++) {
            char *got = NULL;
            size_t len = 0;
            snprintf(name, sizeof name, "w%d/%02d", t, i);
            vc_code rc = vault_get(f->v, name, strlen(name), &got, &len, NULL,
                                   &err);
            /* what said OK is there; what said full left nothing behind */
            assert_int_equal(rc, a[t].rc[i] == VC_OK ? VC_OK : VC_NOT_FOUND);
            if (rc == VC_OK)
                assert_int_equal(len, a[t].vlen);
            free(got);
        }
    }
    for (int i = 0; i < filled; i++) {
        snprintf(name, sizeof name, "fill/%02d", i);
        want_value(f->v, name, value, big);
    }
    free(value);
}

static void test_rekey(void **state)
{
    fx *f = *state;
    seal_master *m2 = new_master();
    vault *v2 = NULL;
    vc_err err;

    set_str(f->v, "k", "\"v\"", NULL);
    assert_int_equal(vault_rekey(f->v, m2, &err), VC_OK);
    want_value(f->v, "k", "\"v\"", 3);
    set_str(f->v, "k2", "\"w\"", NULL);
    vault_close(f->v);
    f->v = NULL;
    assert_int_equal(vault_open(&v2, f->dir, 0, f->m, &err), VC_CONFIG);
    seal_master_free(f->m);
    f->m = m2;
    fx_open(f, 0);
    want_value(f->v, "k", "\"v\"", 3);
    want_value(f->v, "k2", "\"w\"", 3);
}

static void test_backup(void **state)
{
    fx *f = *state;
    char bdir[TU_DIR_MAX], path[128];
    vault *b = NULL;
    vc_err err;

    set_str(f->v, "k", "\"backed up\"", NULL);
    assert_non_null(tu_tmpdir(bdir, sizeof bdir, "test_vault-backup"));
    assert_non_null(tu_path(path, sizeof path, bdir, "data.mdb"));
    assert_int_equal(vault_backup(f->v, path, &err), VC_OK);
    set_str(f->v, "after", "1", NULL);
    assert_int_equal(vault_open(&b, bdir, 0, f->m, &err), VC_OK);
    want_value(b, "k", "\"backed up\"", 11);
    want_code(b, "after", VC_NOT_FOUND);
    vault_close(b);
    tu_rmtree(bdir);
}

static void test_status_audit(void **state)
{
    fx *f = *state;
    vault_status_info st;
    char h1[SEAL_AUDIT_HEX], h2[SEAL_AUDIT_HEX], h3[SEAL_AUDIT_HEX];
    uint32_t kv;
    uint64_t re;
    vc_err err;

    set_str(f->v, "a", "1", NULL);
    set_str(f->v, "b", "2", NULL);
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.keys, 2);
    assert_int_equal(st.key_version, 1);
    assert_string_equal(st.backend, "lmdb");
    assert_true(st.map_size >= st.used_bytes && st.used_bytes > 0);
    vault_audit_hash(f->v, "a", 1, h1);
    vault_audit_hash(f->v, "b", 1, h2);
    assert_int_equal(strlen(h1), 64);
    assert_string_not_equal(h1, h2);
    /* stable across rotation and reopen */
    assert_int_equal(vault_rotate(f->v, &kv, &re, &err), VC_OK);
    fx_reopen(f);
    vault_audit_hash(f->v, "a", 1, h3);
    assert_string_equal(h1, h3);
}

/* Another process rotates while we hold the vault open: we reload. */
static void test_other_process_rotates(void **state)
{
    fx *f = *state;
    vault_status_info st;
    int status = 0;
    pid_t pid;
    vc_err err;

    set_many(f->v, "xp/", 50);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vault *v = NULL;
        uint32_t kv;
        uint64_t re;
        int ok = vault_open(&v, f->dir, 0, f->m, &err) == VC_OK &&
                 vault_rotate(v, &kv, &re, &err) == VC_OK && kv == 2 &&
                 re == 50;
        vault_close(v);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    check_many(f->v, "xp/", 50);
    set_str(f->v, "xp/new", "\"n\"", NULL);
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.key_version, 2);
    vault_close(f->v);
    f->v = NULL;
    raw_set rs;
    raw_read(f->dir, &rs);
    for (size_t i = 0; i < rs.n; i++)
        assert_int_equal(rs.r[i].val[1], 2); /* the new set used version 2 */
    raw_free(&rs);
    fx_open(f, 0);
    want_value(f->v, "xp/new", "\"n\"", 3);
}

/* ---- asynchronous writes ---- */

/* Callbacks run on the committer thread, where cmocka asserts must not be
 * used: they record what they saw, the test thread checks afterwards. */
#define ASYNC_N 300
typedef struct async_ctx async_ctx;
typedef struct {
    async_ctx *c;
    int i;
    const char *name;  /* for the visibility check (sets only) */
    const char *value;
} async_slot;

struct async_ctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vault *v;
    int finished;
    int calls[ASYNC_N];
    vc_code rc[ASYNC_N];
    vault_meta meta[ASYNC_N];
    char msg[ASYNC_N][VC_ERR_MSG_MAX];
    int order[ASYNC_N];
    int invisible;     /* a set's value or version not yet readable */
    uint64_t batches;  /* commit stats seen by the last callback */
    vc_code blocking;  /* what a blocking vault_set from a callback gave */
    bool try_blocking;
    async_slot slot[ASYNC_N];
};

static async_ctx *async_new(vault *v)
{
    async_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(pthread_mutex_init(&c->mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&c->cv, NULL), 0);
    c->v = v;
    for (int i = 0; i < ASYNC_N; i++) {
        c->slot[i].c = c;
        c->slot[i].i = i;
    }
    return c;
}

static void async_free(async_ctx *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void async_done(void *arg, vc_code rc, const vault_meta *meta,
                       const vc_err *err)
{
    async_slot *s = arg;
    async_ctx *c = s->c;
    vault_commit_stats cs;

    /* Committed before the callback: a fresh read sees the write. */
    if (rc == VC_OK && s->value != NULL) {
        char *got = NULL;
        size_t len = 0;
        vault_meta m;
        vc_err e;
        if (vault_get(c->v, s->name, strlen(s->name), &got, &len, &m, &e) !=
                VC_OK ||
            len != strlen(s->value) || memcmp(got, s->value, len) != 0 ||
            m.version != meta->version)
            c->invisible++;
        free(got);
    }
    if (c->try_blocking) {
        vc_err e;
        c->blocking = vault_set(c->v, "blk", 3, "1", 1, NULL, &e);
    }
    vault_commit_stats_get(c->v, &cs);
    pthread_mutex_lock(&c->mu);
    c->calls[s->i]++;
    c->rc[s->i] = rc;
    c->meta[s->i] = *meta;
    snprintf(c->msg[s->i], sizeof c->msg[s->i], "%s",
             rc == VC_OK ? "" : err->msg);
    c->order[c->finished++] = s->i;
    c->batches = cs.batches;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void async_wait(async_ctx *c, int n)
{
    pthread_mutex_lock(&c->mu);
    while (c->finished < n)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

static char async_names[ASYNC_N][32], async_values[ASYNC_N][32];

static void async_set(async_ctx *c, int i, const char *name,
                      const char *value)
{
    vc_err err;
    c->slot[i].name = name;
    c->slot[i].value = value;
    vc_code rc = vault_set_async(c->v, name, strlen(name), value,
                                 strlen(value), async_done, &c->slot[i], &err);
    if (rc != VC_OK)
        fail_msg("vault_set_async %s: %s", name, err.msg);
}

/* Each callback exactly once, after its commit (the value is readable from
 * inside the callback, and the commit is counted); one thread queueing
 * many writes gets them batched, with no thread blocked per write. */
static void test_async_once_after_commit(void **state)
{
    fx *f = *state;
    async_ctx *c = async_new(f->v);
    vault_commit_stats cs;

    for (int i = 0; i < ASYNC_N; i++) {
        snprintf(async_names[i], sizeof async_names[i], "as/%03d", i);
        snprintf(async_values[i], sizeof async_values[i], "[%d]", i);
        async_set(c, i, async_names[i], async_values[i]);
    }
    async_wait(c, ASYNC_N);
    usleep(20 * 1000); /* a second call would show up here */
    pthread_mutex_lock(&c->mu);
    assert_int_equal(c->finished, ASYNC_N);
    for (int i = 0; i < ASYNC_N; i++) {
        assert_int_equal(c->calls[i], 1);
        assert_int_equal(c->rc[i], VC_OK);
        assert_int_equal(c->meta[i].version, 1);
        assert_int_equal(c->order[i], i); /* queue order */
    }
    assert_int_equal(c->invisible, 0);
    assert_true(c->batches >= 1);
    pthread_mutex_unlock(&c->mu);
    vault_commit_stats_get(f->v, &cs);
    assert_int_equal(cs.writes, ASYNC_N);
    assert_true(cs.batches < ASYNC_N); /* batched */
    assert_true(cs.max_batch > 1);
    async_free(c);
    fx_reopen(f);
    for (int i = 0; i < ASYNC_N; i++)
        want_value(f->v, async_names[i], async_values[i],
                   strlen(async_values[i]));
}

/* Two writes to one key from one caller land in the order queued, whatever
 * the batching: versions 1, 2, a delete, then 1 and 2 of a new record. */
static void test_async_same_key_order(void **state)
{
    fx *f = *state;
    vc_err err;

    for (int round = 0; round < 20; round++) {
        async_ctx *c = async_new(f->v);
        char name[32];
        snprintf(name, sizeof name, "ord/%d", round);
        async_set(c, 0, name, "\"a\"");
        async_set(c, 1, name, "\"b\"");
        assert_int_equal(vault_delete_async(f->v, name, strlen(name),
                                            async_done, &c->slot[2], &err),
                         VC_OK);
        async_set(c, 3, name, "\"c\"");
        async_set(c, 4, name, "\"d\"");
        async_wait(c, 5);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(c->order[i], i);
            assert_int_equal(c->rc[i], VC_OK);
        }
        assert_int_equal(c->meta[0].version, 1);
        assert_int_equal(c->meta[1].version, 2);
        assert_int_equal(c->meta[2].version, 0); /* a delete has no meta */
        assert_int_equal(c->meta[3].version, 1);
        assert_int_equal(c->meta[4].version, 2);
        /* the reads in the callbacks may see a later write of the batch */
        want_value(f->v, name, "\"d\"", 3);
        async_free(c);
    }
    /* a delete of an absent key reports not_found through the callback */
    async_ctx *c = async_new(f->v);
    assert_int_equal(vault_delete_async(f->v, "nope", 4, async_done,
                                        &c->slot[0], &err),
                     VC_OK);
    async_wait(c, 1);
    assert_int_equal(c->rc[0], VC_NOT_FOUND);
    assert_string_equal(c->msg[0], "key not found");
    async_free(c);
}

/* Refused before queueing: an error return and no callback, ever. A
 * blocking write from inside a callback is refused rather than hanging. */
static void test_async_refusals(void **state)
{
    fx *f = *state;
    async_ctx *c = async_new(f->v);
    vc_err err;

    assert_int_equal(vault_set_async(f->v, "", 0, "1", 1, async_done,
                                     &c->slot[0], &err),
                     VC_BAD_REQUEST);
    assert_int_equal(vault_set_async(f->v, "k", 1, NULL, 3, async_done,
                                     &c->slot[0], &err),
                     VC_BAD_REQUEST);
    assert_int_equal(vault_delete_async(f->v, NULL, 0, async_done,
                                        &c->slot[0], &err),
                     VC_BAD_REQUEST);
    c->try_blocking = true;
    c->blocking = VC_OK;
    async_set(c, 1, "cb", "1");
    async_wait(c, 1);
    usleep(20 * 1000);
    assert_int_equal(c->finished, 1);
    assert_int_equal(c->calls[0], 0);
    assert_int_equal(c->calls[1], 1);
    assert_int_equal(c->blocking, VC_INTERNAL);
    want_code(f->v, "blk", VC_NOT_FOUND);
    async_free(c);
}

/* vault_close finishes what is queued: every callback runs, every write is
 * there after a reopen. */
static void test_async_close_drains(void **state)
{
    fx *f = *state;
    async_ctx *c = async_new(f->v);

    for (int i = 0; i < ASYNC_N; i++) {
        snprintf(async_names[i], sizeof async_names[i], "cl/%03d", i);
        snprintf(async_values[i], sizeof async_values[i], "\"v%d\"", i);
        async_set(c, i, async_names[i], async_values[i]);
    }
    vault_close(f->v);
    f->v = NULL;
    assert_int_equal(c->finished, ASYNC_N);
    for (int i = 0; i < ASYNC_N; i++) {
        assert_int_equal(c->calls[i], 1);
        assert_int_equal(c->rc[i], VC_OK);
    }
    assert_int_equal(c->invisible, 0);
    async_free(c);
    fx_open(f, 0);
    for (int i = 0; i < ASYNC_N; i++)
        want_value(f->v, async_names[i], async_values[i],
                   strlen(async_values[i]));
}

/* A full map with big and small writes queued together: the batch is redone
 * write by write, so the small ones land and only the big ones fail. */
static void test_async_map_full_mixed(void **state)
{
    fx *f = *state;
    const size_t big = 64 * 1024;
    char *value = malloc(big);
    async_ctx *c;
    vc_err err;

    assert_non_null(value);
    memset(value, 'z', big);
    vault_close(f->v);
    f->v = NULL;
    tu_rmtree(f->dir);
    fx_open(f, 1 << 20);
    (void)fill_until_full(f, value, big);
    c = async_new(f->v);
    for (int i = 0; i < 40; i++) {
        snprintf(async_names[i], sizeof async_names[i], "mx/%02d", i);
        c->slot[i].name = async_names[i];
        c->slot[i].value = NULL; /* no visibility check: value not a string */
        assert_int_equal(vault_set_async(f->v, async_names[i],
                                         strlen(async_names[i]), value,
                                         i % 2 ? 4 : big, async_done,
                                         &c->slot[i], &err),
                         VC_OK);
    }
    async_wait(c, 40);
    for (int i = 0; i < 40; i++) {
        char *got = NULL;
        size_t len = 0;
        assert_int_equal(c->calls[i], 1);
        assert_int_equal(c->rc[i], i % 2 ? VC_OK : VC_UNAVAILABLE);
        if (i % 2 == 0)
            assert_string_equal(c->msg[i], "storage full");
        vc_code rc = vault_get(f->v, async_names[i], strlen(async_names[i]),
                               &got, &len, NULL, &err);
        assert_int_equal(rc, i % 2 ? VC_OK : VC_NOT_FOUND);
        free(got);
    }
    async_free(c);
    free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_json_types, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_any_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swapped_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_version_replayed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_10000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_rotation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_concurrent_with_writes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_concurrent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_process_rotates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_once_after_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_same_key_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_close_drains, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_map_full_mixed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
