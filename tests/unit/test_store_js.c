/* test_store_js.c - the JetStream backend's bytes (store_js_wal.c), no NATS:
 * the WAL codec round trip, refusal of malformed WAL bodies, KV keys of
 * entries, message kinds, and a WAL replayed into an LMDB cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store_js.h"
#include "testutil.h"

static sjs_wset *sample(void)
{
    sjs_wset *w = sjs_wset_new();
    static const uint8_t k1[3] = {0x01, 0xab, 0xff}, v1[4] = {'s', 'e', 'a', 'l'};
    assert_non_null(w);
    assert_true(sjs_wset_add(w, STORE_RECORDS, k1, sizeof k1, v1, sizeof v1));
    assert_true(sjs_wset_add(w, STORE_META, (const uint8_t *)"gen", 3, (const uint8_t *)"", 0));
    assert_true(sjs_wset_add(w, STORE_HISTORY, k1, sizeof k1, NULL, 0)); /* a delete */
    return w;
}

static void test_wal_round_trip(void **state)
{
    (void)state;
    sjs_wset *w = sample();
    size_t len = 0;
    uint8_t *buf = sjs_wal_encode(w, &len);
    assert_non_null(buf);
    sjs_wset *back = sjs_wal_decode(buf, len);
    assert_non_null(back);
    assert_int_equal(sjs_wset_count(back), 3);
    for (size_t i = 0; i < 3; i++) {
        const sjs_entry *a = sjs_wset_entry(w, i), *b = sjs_wset_entry(back, i);
        assert_int_equal(a->tbl, b->tbl);
        assert_int_equal(a->del, b->del);
        assert_int_equal(a->key_len, b->key_len);
        assert_memory_equal(a->key, b->key, a->key_len);
        assert_int_equal(a->val_len, b->val_len);
        if (a->val_len > 0)
            assert_memory_equal(a->val, b->val, a->val_len);
    }
    /* an empty put stays a put (META values may be empty), a delete a delete */
    assert_false(sjs_wset_entry(back, 1)->del);
    assert_true(sjs_wset_entry(back, 2)->del);
    sjs_wset_free(back);
    sjs_wset_free(w);
    free(buf);
}

static void test_wal_malformed(void **state)
{
    (void)state;
    sjs_wset *w = sample();
    size_t len = 0;
    uint8_t *buf = sjs_wal_encode(w, &len);
    assert_non_null(buf);
    /* every truncation is refused, never read past */
    for (size_t cut = 0; cut < len; cut++)
        assert_null(sjs_wal_decode(buf, cut));
    /* trailing bytes, a bad magic, an unknown table, a count too high */
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    assert_null(sjs_wal_decode(more, len + 1));
    more[0] = 'X';
    assert_null(sjs_wal_decode(more, len));
    memcpy(more, buf, len);
    more[9] = STORE_N_TABLES; /* the first entry's table */
    assert_null(sjs_wal_decode(more, len));
    memcpy(more, buf, len);
    more[4] = 200; /* count */
    assert_null(sjs_wal_decode(more, len));
    free(more);
    sjs_wset_free(w);
    free(buf);
}

static void test_kv_keys(void **state)
{
    (void)state;
    char key[64];
    static const uint8_t k[3] = {0x01, 0xab, 0xff};
    assert_true(sjs_entry_key(STORE_RECORDS, k, sizeof k, key, sizeof key));
    assert_string_equal(key, "records.01abff");
    assert_true(sjs_entry_key(STORE_TOKENS, k, 1, key, sizeof key));
    assert_string_equal(key, "tokens.01");
    assert_false(sjs_entry_key(STORE_RECORDS, k, sizeof k, key, 10)); /* does not fit */
    assert_false(sjs_entry_key(STORE_LOCAL, k, sizeof k, key, sizeof key));
    assert_int_equal(sjs_msg_kind_of("records.01abff"), SJS_MSG_ENTRY);
    assert_int_equal(sjs_msg_kind_of("_wal"), SJS_MSG_WAL);
    assert_int_equal(sjs_msg_kind_of("_lease"), SJS_MSG_LEASE);
    assert_int_equal(sjs_msg_kind_of("recordsx.01"), SJS_MSG_OTHER);
    assert_int_equal(sjs_msg_kind_of("somebody.else"), SJS_MSG_OTHER);
}

/* A WAL and then its entries' messages applied to a cache: the same state
 * either way, and a replay of both is harmless. */
static void test_apply(void **state)
{
    (void)state;
    char root[TU_DIR_MAX], dir[300];
    slmdb *db = NULL;
    slmdb_txn *t = NULL;
    vc_err err;
    const uint8_t *v;
    size_t vl, len;

    assert_non_null(tu_tmpdir(root, sizeof root, "test_store_js"));
    assert_non_null(tu_path(dir, sizeof dir, root, "cache"));
    assert_int_equal(slmdb_open(&db, dir, 0, true, &err), VC_OK);
    sjs_wset *w = sample();
    uint8_t *wal = sjs_wal_encode(w, &len);
    static const uint8_t k1[3] = {0x01, 0xab, 0xff};
    for (int round = 0; round < 2; round++) {
        assert_int_equal(slmdb_begin(db, true, &t, &err), VC_OK);
        /* the history entry exists before: the WAL deletes it */
        assert_int_equal(slmdb_put(t, STORE_HISTORY, k1, 3, (const uint8_t *)"old", 3, &err),
                         VC_OK);
        assert_int_equal(sjs_apply(t, "_wal", wal, len, false, &err), VC_OK);
        assert_int_equal(sjs_apply(t, "records.01abff", (const uint8_t *)"seal", 4, false, &err),
                         VC_OK);
        assert_int_equal(sjs_apply(t, "history.01abff", NULL, 0, true, &err), VC_OK);
        assert_int_equal(sjs_apply(t, "history.01abff", NULL, 0, true, &err), VC_OK);
        assert_int_equal(sjs_apply(t, "_lease", (const uint8_t *)"x 1", 3, false, &err), VC_OK);
        assert_int_equal(slmdb_commit(t, &err), VC_OK);
    }
    assert_int_equal(slmdb_begin(db, false, &t, &err), VC_OK);
    assert_int_equal(slmdb_get(t, STORE_RECORDS, k1, 3, &v, &vl, &err), VC_OK);
    assert_int_equal(vl, 4);
    assert_memory_equal(v, "seal", 4);
    assert_int_equal(slmdb_get(t, STORE_HISTORY, k1, 3, &v, &vl, &err), VC_NOT_FOUND);
    assert_int_equal(slmdb_get(t, STORE_META, (const uint8_t *)"gen", 3, &v, &vl, &err), VC_OK);
    assert_int_equal(vl, 0);
    slmdb_abort(t);
    /* a malformed key in the stream is an error, not a silent skip */
    assert_int_equal(slmdb_begin(db, true, &t, &err), VC_OK);
    assert_int_equal(sjs_apply(t, "records.zz", (const uint8_t *)"x", 1, false, &err), VC_INTERNAL);
    slmdb_abort(t);
    sjs_wset_free(w);
    free(wal);
    slmdb_close(db);
    tu_rmtree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_round_trip),
        cmocka_unit_test(test_wal_malformed),
        cmocka_unit_test(test_kv_keys),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
