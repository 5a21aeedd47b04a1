/* test_vault_lifecycle.c - PROTOCOL.md §7 in the vault: kept versions,
 * get by version, cas (also raced inside one group-commit batch), ttl and
 * expiry (exact, list, set after expiry, the sweep and its index), a store
 * of the previous format (format-1 records and META) opening unchanged,
 * versions that cannot be swapped, rotation and verify over kept versions,
 * no plaintext (names, values, base64 of values) in the data file with
 * history; and the shared duration parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "duration.h"
#include "le.h"
#include "seal.h"
#include "store.h"
#include "testutil.h"
#include "vault.h"

typedef tu_vault fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(tu_vault_open(f, "test_lifecycle", 0), 0);
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

static void fx_reopen(fx *f)
{
    vc_err err;
    vault_close(f->v);
    f->v = NULL;
    if (vault_open(&f->v, f->dir, 0, f->m, &err) != VC_OK)
        fail_msg("vault_open: %s", err.msg);
}

static vc_code set_opts(vault *v, const char *name, const char *value, const vault_set_opts *o,
                        vault_meta *meta)
{
    vc_err err;
    return vault_set_ex(v, name, strlen(name), value, strlen(value), o, meta, &err);
}

static void set_ok(vault *v, const char *name, const char *value, vault_meta *meta)
{
    assert_int_equal(set_opts(v, name, value, NULL, meta), VC_OK);
}

static vc_code get_v(vault *v, const char *name, uint64_t version, const char *want,
                     vault_meta *meta)
{
    char *got = NULL;
    size_t len = 0;
    vc_err err;
    vc_code rc = vault_get_version(v, name, strlen(name), version, &got, &len, meta, &err);
    if (rc == VC_OK && want != NULL) {
        assert_int_equal(len, strlen(want));
        assert_memory_equal(got, want, len);
    }
    free(got);
    return rc;
}

static void want_versions(vault *v, const char *name, const uint64_t *want, size_t n)
{
    vault_version_info *vs = NULL;
    size_t count = 0;
    uint64_t cur = 0;
    vc_err err;
    assert_int_equal(vault_versions(v, name, strlen(name), &vs, &count, &cur, &err), VC_OK);
    assert_int_equal(count, n);
    assert_int_equal(cur, want[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vs[i].version, want[i]);
    free(vs);
}

static uint64_t table_count(fx *f, store_table tbl)
{
    store *s = NULL;
    store_txn *t = NULL;
    uint64_t n = 0;
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_count(t, tbl, &n, &err), VC_OK);
    store_abort(t);
    store_close(s);
    return n;
}

/* ---- versions ---- */

static void test_history_kept_and_pruned(void **state)
{
    fx *f = *state;
    vault_meta m;
    char val[16];
    vault_set_max_versions(f->v, 3);
    for (int i = 1; i <= 5; i++) {
        snprintf(val, sizeof val, "v%d", i);
        set_ok(f->v, "k", val, &m);
        assert_int_equal(m.version, (uint64_t)i);
    }
    const uint64_t want[] = {5, 4, 3};
    want_versions(f->v, "k", want, 3);
    assert_int_equal(get_v(f->v, "k", 0, "v5", &m), VC_OK);
    assert_int_equal(get_v(f->v, "k", 3, "v3", &m), VC_OK);
    assert_int_equal(m.version, 3);
    assert_int_equal(get_v(f->v, "k", 2, NULL, NULL), VC_NOT_FOUND);
    assert_int_equal(get_v(f->v, "k", 6, NULL, NULL), VC_NOT_FOUND);
    assert_int_equal(table_count(f, STORE_HISTORY), 2);
    /* fewer kept from now on: the next set prunes down to it */
    vault_set_max_versions(f->v, 1);
    set_ok(f->v, "k", "v6", NULL);
    const uint64_t one[] = {6};
    want_versions(f->v, "k", one, 1);
    assert_int_equal(table_count(f, STORE_HISTORY), 0);
    vault_set_max_versions(f->v, 10);
    set_ok(f->v, "k", "v7", NULL);
    /* delete destroys every version; a new set starts at 1 */
    vc_err err;
    assert_int_equal(vault_delete(f->v, "k", 1, &err), VC_OK);
    assert_int_equal(table_count(f, STORE_HISTORY), 0);
    assert_int_equal(get_v(f->v, "k", 6, NULL, NULL), VC_NOT_FOUND);
    set_ok(f->v, "k", "again", &m);
    assert_int_equal(m.version, 1);
    const uint64_t fresh[] = {1};
    want_versions(f->v, "k", fresh, 1);
}

/* ---- cas ---- */

static void test_cas(void **state)
{
    fx *f = *state;
    vault_set_opts o = {.has_cas = true, .cas = 0};
    vault_meta m;
    assert_int_equal(set_opts(f->v, "c", "a", &o, &m), VC_OK);
    assert_int_equal(m.version, 1);
    assert_int_equal(set_opts(f->v, "c", "b", &o, NULL), VC_CONFLICT);
    o.cas = 2;
    assert_int_equal(set_opts(f->v, "c", "b", &o, NULL), VC_CONFLICT);
    assert_int_equal(get_v(f->v, "c", 0, "a", &m), VC_OK); /* nothing written */
    assert_int_equal(m.version, 1);
    o.cas = 1;
    assert_int_equal(set_opts(f->v, "c", "b", &o, &m), VC_OK);
    assert_int_equal(m.version, 2);
}

typedef struct {
    int ok, conflict, other;
    uint64_t version;
} cas_tally;

static void cas_done(void *arg, vc_code rc, const vault_meta *meta, const vc_err *err)
{
    cas_tally *t = arg;
    (void)err;
    if (rc == VC_OK) {
        t->ok++;
        t->version = meta->version;
    } else if (rc == VC_CONFLICT) {
        t->conflict++;
    } else {
        t->other++;
    }
}

/* Many cas sets of one version queued at once (one batch, or a few): the
 * committer checks each in queue order, so exactly one wins. */
static void test_cas_in_one_batch(void **state)
{
    fx *f = *state;
    cas_tally t = {0, 0, 0, 0};
    vault_set_opts o = {.has_cas = true, .cas = 1};
    vc_err err;
    set_ok(f->v, "b", "base", NULL);
    for (int i = 0; i < 100; i++)
        assert_int_equal(vault_set_ex_async(f->v, "b", 1, "x", 1, &o, cas_done, &t, &err), VC_OK);
    /* a blocking write queued after them returns once they are done */
    set_ok(f->v, "other", "y", NULL);
    assert_int_equal(t.ok, 1);
    assert_int_equal(t.conflict, 99);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.version, 2);
    vault_meta m;
    assert_int_equal(get_v(f->v, "b", 0, "x", &m), VC_OK);
    assert_int_equal(m.version, 2);
}

/* ---- expiry ---- */

static void wait_until(int64_t t)
{
    while ((int64_t)time(NULL) < t)
        usleep(20000);
}

static void test_ttl_and_expiry(void **state)
{
    fx *f = *state;
    vault_set_opts o = {.has_ttl = true, .ttl_s = 1};
    vault_meta m;
    char **names = NULL;
    size_t count = 0;
    bool more = false;
    vc_err err;

    set_ok(f->v, "e/keep", "k", NULL);
    set_ok(f->v, "e/t", "one", NULL);
    assert_int_equal(set_opts(f->v, "e/t", "two", &o, &m), VC_OK);
    assert_int_equal(m.version, 2);
    assert_true(m.expires_at == m.updated_at + 1);
    assert_int_equal(get_v(f->v, "e/t", 0, "two", &m), VC_OK);
    assert_int_equal(m.expires_at, m.updated_at + 1);
    assert_int_equal(get_v(f->v, "e/t", 1, "one", &m), VC_OK);
    assert_int_equal(table_count(f, STORE_EXPIRY), 1);
    int64_t exp = m.expires_at;
    wait_until(exp);
    /* expired: absent to every read, at once */
    assert_int_equal(get_v(f->v, "e/t", 0, NULL, NULL), VC_NOT_FOUND);
    assert_int_equal(get_v(f->v, "e/t", 1, NULL, NULL), VC_NOT_FOUND);
    vault_version_info *vs = NULL;
    uint64_t cur;
    assert_int_equal(vault_versions(f->v, "e/t", 3, &vs, &count, &cur, &err), VC_NOT_FOUND);
    assert_int_equal(vault_list(f->v, "e/", 2, NULL, 0, 0, &names, &count, &more, NULL, &err),
                     VC_OK);
    assert_int_equal(count, 1);
    assert_string_equal(names[0], "e/keep");
    vault_names_free(names, count);
    /* cas 0: it does not exist any more; the set starts again at 1 */
    vault_set_opts c0 = {.has_cas = true, .cas = 0};
    assert_int_equal(set_opts(f->v, "e/t", "new", &c0, &m), VC_OK);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.expires_at, 0); /* a set without ttl clears it */
    assert_int_equal(get_v(f->v, "e/t", 1, "new", NULL), VC_OK);
    assert_int_equal(table_count(f, STORE_HISTORY), 0);
    assert_int_equal(table_count(f, STORE_EXPIRY), 0);
    /* delete of an expired key: not_found, and it is purged */
    assert_int_equal(set_opts(f->v, "e/d", "x", &o, &m), VC_OK);
    wait_until(m.expires_at);
    assert_int_equal(vault_delete(f->v, "e/d", 3, &err), VC_NOT_FOUND);
    assert_int_equal(table_count(f, STORE_EXPIRY), 0);
    vault_status_info st;
    assert_int_equal(vault_status(f->v, &st, &err), VC_OK);
    assert_int_equal(st.keys, 2);
}

static void test_sweep(void **state)
{
    fx *f = *state;
    vault_set_opts o = {.has_ttl = true, .ttl_s = 1};
    vault_meta m;
    char name[32];
    uint64_t removed = 0, total = 0;
    bool more = true;
    vc_err err;
    int64_t last = 0, first = INT64_MAX;

    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "s/%04d", i);
        set_ok(f->v, name, "old", NULL);
        assert_int_equal(set_opts(f->v, name, "v", &o, &m), VC_OK);
        last = m.expires_at > last ? m.expires_at : last;
        first = m.expires_at < first ? m.expires_at : first;
        if (i == 0) {
            /* renewed at once: its old index entry must not kill it */
            vault_set_opts longer = {.has_ttl = true, .ttl_s = 3600};
            assert_int_equal(set_opts(f->v, "s/0000", "renewed", &longer, NULL), VC_OK);
        }
    }
    set_ok(f->v, "s/keep", "k", NULL);
    /* nothing due yet: the sweep leaves all alone */
    assert_int_equal(vault_sweep(f->v, first - 1, 256, &removed, &more, &err), VC_OK);
    assert_int_equal(removed, 0);
    wait_until(last);
    more = true;
    while (more) {
        assert_int_equal(vault_sweep(f->v, (int64_t)time(NULL), 256, &removed, &more, &err), VC_OK);
        total += removed;
    }
    assert_int_equal(total, 599);
    assert_int_equal(table_count(f, STORE_RECORDS), 2);
    assert_int_equal(table_count(f, STORE_HISTORY), 2); /* s/0000's "old" and "v" */
    assert_int_equal(table_count(f, STORE_EXPIRY), 1);  /* s/0000's new expiry */
    assert_int_equal(get_v(f->v, "s/0000", 0, "renewed", NULL), VC_OK);
}

/* ---- the previous format ---- */

/* Writes a format-1 record (as the previous release did) for name. */
static void put_v1_record(fx *f, const char *name, const char *value, uint64_t version)
{
    store *s = NULL;
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    const uint8_t *blob;
    size_t blen, nlen = strlen(name), vlen = strlen(value);
    uint8_t hash[SEAL_HASH_BYTES], hdr[29 + SEAL_HASH_BYTES], pt[256], rec[29 + 256 + 40];
    vc_err err;
    uint8_t one = 1;

    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, true, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_META, (const uint8_t *)"keyring", 7, &blob, &blen, &err),
                     VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k, f->m, blob, blen, &err), VC_OK);
    seal_name_hash(k, name, nlen, hash);
    hdr[0] = 1;
    le_put_u32(hdr + 1, seal_keyring_current(k));
    le_put_u64(hdr + 5, version);
    le_put_u64(hdr + 13, 1700000000);
    le_put_u64(hdr + 21, 1700000100);
    memcpy(hdr + 29, hash, SEAL_HASH_BYTES);
    le_put_u32(pt, (uint32_t)nlen);
    memcpy(pt + 4, name, nlen);
    memcpy(pt + 4 + nlen, value, vlen);
    memcpy(rec, hdr, 29);
    assert_int_equal(seal_encrypt(k, seal_keyring_current(k), hdr, sizeof hdr, pt, 4 + nlen + vlen,
                                  rec + 29, &err),
                     VC_OK);
    assert_int_equal(
        store_put(t, STORE_RECORDS, hash, sizeof hash, rec, 29 + 4 + nlen + vlen + 40, &err),
        VC_OK);
    assert_int_equal(store_put(t, STORE_META, (const uint8_t *)"format", 6, &one, 1, &err), VC_OK);
    assert_int_equal(store_commit(t, &err), VC_OK);
    store_close(s);
    seal_keyring_free(k);
}

static uint8_t meta_format(fx *f)
{
    store *s = NULL;
    store_txn *t = NULL;
    const uint8_t *v;
    size_t len;
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_META, (const uint8_t *)"format", 6, &v, &len, &err), VC_OK);
    uint8_t fmt = v[0];
    store_abort(t);
    store_close(s);
    return fmt;
}

static void test_format1_store_opens(void **state)
{
    fx *f = *state;
    vault_meta m;
    vault_verify_info vi;
    vault_rotation rot;
    vc_err err;

    vault_close(f->v);
    f->v = NULL;
    put_v1_record(f, "old/key", "\"old-value\"", 7);
    assert_int_equal(meta_format(f), 1);
    fx_reopen(f);
    assert_int_equal(meta_format(f), 2); /* raised in one transaction */
    assert_int_equal(get_v(f->v, "old/key", 0, "\"old-value\"", &m), VC_OK);
    assert_int_equal(m.version, 7);
    assert_int_equal(m.created_at, 1700000000);
    assert_int_equal(m.expires_at, 0);
    assert_int_equal(vault_verify(f->v, NULL, NULL, &vi, &err), VC_OK);
    assert_int_equal(vi.damaged, 0);
    /* a set keeps the format-1 record as version 7 */
    set_ok(f->v, "old/key", "\"new\"", &m);
    assert_int_equal(m.version, 8);
    assert_int_equal(m.created_at, 1700000000);
    assert_int_equal(get_v(f->v, "old/key", 7, "\"old-value\"", NULL), VC_OK);
    assert_int_equal(vault_rotate_report(f->v, &rot, &err), VC_OK);
    assert_int_equal(rot.reencrypted, 2);
    assert_int_equal(rot.skipped, 0);
    assert_int_equal(get_v(f->v, "old/key", 7, "\"old-value\"", NULL), VC_OK);
    assert_int_equal(get_v(f->v, "old/key", 8, "\"new\"", NULL), VC_OK);
}

/* ---- swapped versions ---- */

typedef struct {
    int n;
} damage_count;

static void count_damage(void *arg, const vault_damaged_record *rec)
{
    damage_count *d = arg;
    (void)rec;
    d->n++;
}

/* Overwrites the HISTORY entry at dst_key with the bytes at src_key. */
static void copy_history(fx *f, const uint8_t *src_key, const uint8_t *dst_key)
{
    store *s = NULL;
    store_txn *t = NULL;
    const uint8_t *v;
    size_t len;
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, true, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_HISTORY, src_key, 40, &v, &len, &err), VC_OK);
    uint8_t *copy = malloc(len);
    memcpy(copy, v, len);
    assert_int_equal(store_put(t, STORE_HISTORY, dst_key, 40, copy, len, &err), VC_OK);
    free(copy);
    assert_int_equal(store_commit(t, &err), VC_OK);
    store_close(s);
}

typedef struct {
    uint8_t keys[8][40];
    int n;
} hist_keys;

static int grab_key(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                    size_t val_len)
{
    hist_keys *h = ctx;
    (void)val;
    (void)val_len;
    if (key_len == 40 && h->n < 8)
        memcpy(h->keys[h->n++], key, 40);
    return 0;
}

static hist_keys history_keys(fx *f)
{
    store *s = NULL;
    store_txn *t = NULL;
    hist_keys h = {.n = 0};
    vc_err err;
    assert_int_equal(store_open(&s, f->dir, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_scan(t, STORE_HISTORY, NULL, 0, grab_key, &h, &err), VC_OK);
    store_abort(t);
    store_close(s);
    return h;
}

static void test_versions_cannot_be_swapped(void **state)
{
    fx *f = *state;
    damage_count d = {0};
    vault_verify_info vi;
    vc_err err;

    set_ok(f->v, "a", "a1", NULL);
    set_ok(f->v, "a", "a2", NULL);
    set_ok(f->v, "a", "a3", NULL); /* history: a1 (v1), a2 (v2) */
    set_ok(f->v, "b", "b1", NULL);
    set_ok(f->v, "b", "b2", NULL); /* history: b1 (v1) */
    vault_close(f->v);
    f->v = NULL;
    hist_keys h = history_keys(f);
    assert_int_equal(h.n, 3);
    /* find a's two entries: same 32-byte prefix */
    int a1 = -1, a2 = -1, b1 = -1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j && memcmp(h.keys[i], h.keys[j], 32) == 0) {
                if (h.keys[i][39] == 1)
                    a1 = i;
                else
                    a2 = i;
            }
    for (int i = 0; i < 3; i++)
        if (i != a1 && i != a2)
            b1 = i;
    assert_true(a1 >= 0 && a2 >= 0 && b1 >= 0);
    copy_history(f, h.keys[a1], h.keys[a2]); /* a's v1 under v2 */
    copy_history(f, h.keys[a1], h.keys[b1]); /* a's v1 under b's v1 */
    fx_reopen(f);
    assert_int_equal(get_v(f->v, "a", 2, NULL, NULL), VC_INTERNAL);
    assert_int_equal(get_v(f->v, "b", 1, NULL, NULL), VC_INTERNAL);
    assert_int_equal(get_v(f->v, "a", 1, "a1", NULL), VC_OK);
    assert_int_equal(vault_verify(f->v, count_damage, &d, &vi, &err), VC_OK);
    assert_int_equal(vi.records, 2);
    assert_int_equal(vi.versions, 3);
    assert_int_equal(vi.damaged, 2);
    assert_int_equal(d.n, 2);
}

/* ---- rotation and the data file ---- */

static void assert_absent(const uint8_t *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(data + i, needle, n) == 0)
            fail_msg("plaintext \"%s\" found in the data file at offset %zu", needle, i);
}

static void test_rotation_and_plaintext(void **state)
{
    fx *f = *state;
    vault_rotation rot;
    vault_verify_info vi;
    char val[64], b64[128], path[300];
    vc_err err;

    for (int i = 1; i <= 6; i++) {
        snprintf(val, sizeof val, "\"sk_canary_history_%d\"", i);
        set_ok(f->v, "svc/history-canary-name", val, NULL);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(val, sizeof val, "\"n%d\"", i);
        set_ok(f->v, "many", val, NULL);
    }
    assert_int_equal(vault_rotate_report(f->v, &rot, &err), VC_OK);
    /* 2 current records + 5 + 9 kept versions */
    assert_int_equal(rot.reencrypted, 16);
    assert_int_equal(rot.old_keys_kept, 0);
    assert_int_equal(vault_verify(f->v, NULL, NULL, &vi, &err), VC_OK);
    assert_int_equal(vi.records + vi.versions, 16);
    assert_int_equal(vi.damaged, 0);
    for (int i = 1; i <= 6; i++) {
        snprintf(val, sizeof val, "\"sk_canary_history_%d\"", i);
        assert_int_equal(get_v(f->v, "svc/history-canary-name", (uint64_t)i, val, NULL), VC_OK);
    }
    vault_close(f->v);
    f->v = NULL;
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    size_t len = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *data = malloc(len);
    assert_int_equal(fread(data, 1, len, fp), len);
    fclose(fp);
    assert_absent(data, len, "history-canary-name");
    for (int i = 1; i <= 6; i++) {
        snprintf(val, sizeof val, "sk_canary_history_%d", i);
        assert_absent(data, len, val);
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)val, strlen(val),
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
        b64[16] = '\0'; /* a prefix is enough, and not affected by padding */
        assert_absent(data, len, b64);
    }
    free(data);
    fx_reopen(f);
}

/* ---- durations ---- */

static void test_duration_parse(void **state)
{
    (void)state;
    struct {
        const char *s;
        bool ok;
        uint64_t v;
    } cases[] = {
        {"0", true, 0},
        {"90", true, 90},
        {"90s", true, 90},
        {"15m", true, 900},
        {"1h30m", true, 5400},
        {"7d", true, 604800},
        {"1d2h3m4s", true, 93784},
        {"2h2h", true, 14400},
        {"", false, 0},
        {"-5", false, 0},
        {"5x", false, 0},
        {"h", false, 0},
        {"1.5h", false, 0},
        {"15M", false, 0},
        {" 15m", false, 0},
        {"15m ", false, 0},
        {"off", false, 0},
        {"99999999999999999999", false, 0},
        {"36501d", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 12345;
        bool ok = duration_parse(cases[i].s, strlen(cases[i].s), &v);
        if (ok != cases[i].ok)
            fail_msg("duration_parse(\"%s\"): %d", cases[i].s, ok);
        if (ok)
            assert_int_equal(v, cases[i].v);
    }
    uint64_t v;
    json_t *j = json_integer(3600);
    assert_true(duration_from_json(j, &v));
    assert_int_equal(v, 3600);
    json_decref(j);
    j = json_integer(-1);
    assert_false(duration_from_json(j, &v));
    json_decref(j);
    j = json_real(1.5);
    assert_false(duration_from_json(j, &v));
    json_decref(j);
    j = json_string("1h30m");
    assert_true(duration_from_json(j, &v));
    assert_int_equal(v, 5400);
    json_decref(j);
    assert_false(duration_from_json(json_null(), &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_history_kept_and_pruned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format1_store_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_cannot_be_swapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_and_plaintext, setup, teardown),
        cmocka_unit_test(test_duration_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
