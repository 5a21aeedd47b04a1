/* test_store.c - the LMDB store on real temporary directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

typedef struct {
    char root[TU_DIR_MAX]; /* tu_tmpdir, removed at teardown */
    char dir[128];  /* root/db: the store, created by store_open */
    store *s;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    if (fx == NULL)
        return -1;
    if (tu_tmpdir(fx->root, sizeof fx->root, "test_store") == NULL) {
        free(fx);
        return -1;
    }
    if (tu_path(fx->dir, sizeof fx->dir, fx->root, "db") == NULL) {
        tu_rmtree(fx->root);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    store_close(fx->s);
    tu_rmtree(fx->root);
    free(fx);
    return 0;
}

static void open_store(fixture *fx, size_t map_size)
{
    vc_err e;

    vc_err_clear(&e);
    if (store_open(&fx->s, fx->dir, map_size, &e) != VC_OK)
        fail_msg("store_open: %s", e.msg);
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
    assert_true(snprintf(buf, size, "%s/%s", dir, name) < (int)size);
}

/* ---- helpers working on C strings as keys and values ------------------- */

static vc_code put_str(store *s, store_table tbl, const char *k, const char *v)
{
    store_txn *t;
    vc_err e;
    vc_code c;

    assert_int_equal(store_begin(s, true, &t, &e), VC_OK);
    c = store_put(t, tbl, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                  strlen(v), &e);
    if (c != VC_OK) {
        store_abort(t);
        return c;
    }
    return store_commit(t, &e);
}

static void assert_get(store *s, store_table tbl, const char *k,
                       const char *want)
{
    store_txn *t;
    const uint8_t *v;
    size_t n;
    vc_err e;
    vc_code c;

    assert_int_equal(store_begin(s, false, &t, &e), VC_OK);
    c = store_get(t, tbl, (const uint8_t *)k, strlen(k), &v, &n, &e);
    if (want == NULL) {
        assert_int_equal(c, VC_NOT_FOUND);
        assert_null(v);
    } else {
        assert_int_equal(c, VC_OK);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(v, want, n);
    }
    store_abort(t);
}

static uint64_t count(store *s, store_table tbl)
{
    store_txn *t;
    uint64_t n = 0;
    vc_err e;

    assert_int_equal(store_begin(s, false, &t, &e), VC_OK);
    assert_int_equal(store_count(t, tbl, &n, &e), VC_OK);
    store_abort(t);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open_creates_private_dir(void **state)
{
    fixture *fx = *state;
    char path[256];
    struct stat st;

    open_store(fx, 0);
    assert_int_equal(stat(fx->dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    path_in(path, sizeof path, fx->dir, "data.mdb");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_open_errors(void **state)
{
    fixture *fx = *state;
    char path[256];
    store *s = (store *)1;
    vc_err e;
    FILE *f;

    /* Parents are not created; the message names the path. */
    path_in(path, sizeof path, fx->root, "missing/db");
    assert_int_equal(store_open(&s, path, 0, &e), VC_CONFIG);
    assert_null(s);
    assert_int_equal(e.code, VC_CONFIG);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "parent"));

    /* A regular file where the directory should be. */
    path_in(path, sizeof path, fx->root, "file");
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(store_open(&s, path, 0, &e), VC_CONFIG);
    assert_null(s);
    assert_non_null(strstr(e.msg, path));

    assert_int_equal(store_open(&s, "", 0, &e), VC_CONFIG);
    store_close(NULL);
    store_abort(NULL);
}

static void test_roundtrip_both_tables(void **state)
{
    fixture *fx = *state;
    store_txn *t;
    vc_err e;

    open_store(fx, 0);
    assert_int_equal(count(fx->s, STORE_META), 0);
    assert_int_equal(count(fx->s, STORE_RECORDS), 0);

    assert_int_equal(put_str(fx->s, STORE_META, "k", "meta-value"), VC_OK);
    assert_int_equal(put_str(fx->s, STORE_RECORDS, "k", "rec-value"), VC_OK);
    assert_int_equal(put_str(fx->s, STORE_RECORDS, "k2", "two"), VC_OK);
    /* The tables are separate: same key, own values. */
    assert_get(fx->s, STORE_META, "k", "meta-value");
    assert_get(fx->s, STORE_RECORDS, "k", "rec-value");
    assert_get(fx->s, STORE_META, "k2", NULL);
    assert_int_equal(count(fx->s, STORE_META), 1);
    assert_int_equal(count(fx->s, STORE_RECORDS), 2);

    /* Replace, and an empty value. */
    assert_int_equal(put_str(fx->s, STORE_RECORDS, "k", "new"), VC_OK);
    assert_get(fx->s, STORE_RECORDS, "k", "new");
    assert_int_equal(put_str(fx->s, STORE_META, "empty", ""), VC_OK);
    assert_get(fx->s, STORE_META, "empty", "");

    /* Delete from one table leaves the other. */
    assert_int_equal(store_begin(fx->s, true, &t, &e), VC_OK);
    assert_int_equal(store_del(t, STORE_RECORDS, (const uint8_t *)"k", 1, &e),
                     VC_OK);
    /* Visible inside the writing transaction at once. */
    {
        const uint8_t *v;
        size_t n;
        assert_int_equal(store_get(t, STORE_RECORDS, (const uint8_t *)"k", 1,
                                   &v, &n, &e),
                         VC_NOT_FOUND);
    }
    assert_int_equal(store_commit(t, &e), VC_OK);
    assert_get(fx->s, STORE_RECORDS, "k", NULL);
    assert_get(fx->s, STORE_META, "k", "meta-value");
    assert_int_equal(count(fx->s, STORE_RECORDS), 1);
    assert_int_equal(count(fx->s, STORE_META), 2);
}

static void test_missing_key(void **state)
{
    fixture *fx = *state;
    store_txn *t;
    const uint8_t *v = (const uint8_t *)"x";
    size_t n = 7;
    vc_err e;

    open_store(fx, 0);
    assert_int_equal(store_begin(fx->s, true, &t, &e), VC_OK);
    assert_int_equal(store_get(t, STORE_RECORDS, (const uint8_t *)"nope", 4,
                               &v, &n, &e),
                     VC_NOT_FOUND);
    assert_int_equal(e.code, VC_NOT_FOUND);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(store_del(t, STORE_META, (const uint8_t *)"nope", 4, &e),
                     VC_NOT_FOUND);
    /* A missing key does not spoil the transaction. */
    assert_int_equal(store_put(t, STORE_META, (const uint8_t *)"a", 1,
                               (const uint8_t *)"b", 1, &e),
                     VC_OK);
    assert_int_equal(store_commit(t, &e), VC_OK);
    assert_get(fx->s, STORE_META, "a", "b");
}

static void test_write_in_read_txn(void **state)
{
    fixture *fx = *state;
    store_txn *t;
    vc_err e;

    open_store(fx, 0);
    assert_int_equal(store_begin(fx->s, false, &t, &e), VC_OK);
    assert_int_equal(store_put(t, STORE_META, (const uint8_t *)"a", 1,
                               (const uint8_t *)"b", 1, &e),
                     VC_INTERNAL);
    assert_non_null(strstr(e.msg, "read-only transaction"));
    assert_int_equal(store_del(t, STORE_META, (const uint8_t *)"a", 1, &e),
                     VC_INTERNAL);
    assert_int_equal(store_commit(t, &e), VC_OK);
}

static void test_abort_leaves_nothing(void **state)
{
    fixture *fx = *state;
    store_txn *t;
    vc_err e;

    open_store(fx, 0);
    assert_int_equal(put_str(fx->s, STORE_META, "keep", "1"), VC_OK);
    assert_int_equal(store_begin(fx->s, true, &t, &e), VC_OK);
    assert_int_equal(store_put(t, STORE_RECORDS, (const uint8_t *)"x", 1,
                               (const uint8_t *)"y", 1, &e),
                     VC_OK);
    assert_int_equal(store_del(t, STORE_META, (const uint8_t *)"keep", 4, &e),
                     VC_OK);
    store_abort(t);
    assert_get(fx->s, STORE_RECORDS, "x", NULL);
    assert_get(fx->s, STORE_META, "keep", "1");
    assert_int_equal(count(fx->s, STORE_RECORDS), 0);
}

static void test_survives_reopen(void **state)
{
    fixture *fx = *state;

    open_store(fx, 0);
    assert_int_equal(put_str(fx->s, STORE_META, "m", "meta"), VC_OK);
    assert_int_equal(put_str(fx->s, STORE_RECORDS, "r", "record"), VC_OK);
    store_close(fx->s);
    fx->s = NULL;

    /* A smaller map than the store already has is fine. */
    open_store(fx, 256 * KIB);
    assert_get(fx->s, STORE_META, "m", "meta");
    assert_get(fx->s, STORE_RECORDS, "r", "record");
    assert_int_equal(count(fx->s, STORE_RECORDS), 1);
}

/* An unsynced commit is committed at once (visible, atomic), and a
 * store_sync afterwards, also from another thread, reports success; a
 * reopened store has it. */
static void *sync_thread(void *arg)
{
    vc_err err;
    return (void *)(intptr_t)store_sync(arg, &err);
}

static void test_commit_unsynced_then_sync(void **state)
{
    fixture *fx = *state;
    store_txn *t = NULL;
    vc_err err;
    pthread_t th;
    void *res = NULL;

    open_store(fx, 0);
    assert_int_equal(store_begin(fx->s, true, &t, &err), VC_OK);
    assert_int_equal(store_put(t, STORE_RECORDS, (const uint8_t *)"u", 1,
                               (const uint8_t *)"v1", 2, &err), VC_OK);
    assert_int_equal(store_commit_unsynced(t, &err), VC_OK);
    assert_get(fx->s, STORE_RECORDS, "u", "v1");
    assert_int_equal(pthread_create(&th, NULL, sync_thread, fx->s), 0);
    assert_int_equal(pthread_join(th, &res), 0);
    assert_int_equal((intptr_t)res, VC_OK);
    store_close(fx->s);
    fx->s = NULL;
    open_store(fx, 0);
    assert_get(fx->s, STORE_RECORDS, "u", "v1");
}

/* ---- scan -------------------------------------------------------------- */

typedef struct {
    size_t n;
    uint8_t keys[16][4];
    size_t lens[16];
    size_t stop_after; /* return 1 after this many calls; 0: never */
    size_t fail_at;    /* return fail_code at this call (1-based); 0: never */
    int fail_code;
    vc_err *err;       /* filled on failure when not NULL */
} scan_ctx;

static int scan_fn(void *ctx, const uint8_t *key, size_t key_len,
                   const uint8_t *val, size_t val_len)
{
    scan_ctx *c = ctx;

    if (c->n >= 16 || key_len > 4 || val_len != key_len ||
        memcmp(key, val, key_len) != 0)
        return VC_INTERNAL;
    memcpy(c->keys[c->n], key, key_len);
    c->lens[c->n] = key_len;
    c->n++;
    if (c->fail_at != 0 && c->n == c->fail_at) {
        if (c->err != NULL)
            vc_errf(c->err, (vc_code)c->fail_code, "callback says no");
        return c->fail_code;
    }
    if (c->stop_after != 0 && c->n == c->stop_after)
        return 1;
    return 0;
}

typedef struct {
    uint8_t b[2];
    size_t len;
} key2;

/* Bytewise order: a prefix sorts before its extensions, 0x80 after 0x7f. */
static const key2 sorted_keys[] = {
    {{0x00}, 1},       {{0x01}, 1}, {{0x01, 0x00}, 2}, {{0x01, 0xff}, 2},
    {{0x02}, 1},       {{0x7f}, 1}, {{0x80}, 1},       {{0xff}, 1},
    {{0xff, 0x00}, 2},
};
#define N_SORTED (sizeof sorted_keys / sizeof sorted_keys[0])

static void assert_scanned(const scan_ctx *c, size_t first, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c->lens[i], sorted_keys[first + i].len);
        assert_memory_equal(c->keys[i], sorted_keys[first + i].b, c->lens[i]);
    }
}

static void test_scan(void **state)
{
    static const size_t insert_order[] = {7, 2, 5, 0, 8, 3, 6, 1, 4};
    fixture *fx = *state;
    store_txn *t;
    scan_ctx c;
    vc_err e;

    open_store(fx, 0);
    assert_int_equal(store_begin(fx->s, true, &t, &e), VC_OK);
    for (size_t i = 0; i < N_SORTED; i++) {
        const key2 *k = &sorted_keys[insert_order[i]];
        assert_int_equal(
            store_put(t, STORE_RECORDS, k->b, k->len, k->b, k->len, &e),
            VC_OK);
    }
    /* One entry in the other table must not show up. */
    assert_int_equal(store_put(t, STORE_META, (const uint8_t *)"\x01", 1,
                               (const uint8_t *)"\x01", 1, &e),
                     VC_OK);
    assert_int_equal(store_commit(t, &e), VC_OK);

    assert_int_equal(store_begin(fx->s, false, &t, &e), VC_OK);

    /* Everything, in bytewise order. */
    memset(&c, 0, sizeof c);
    assert_int_equal(
        store_scan(t, STORE_RECORDS, NULL, 0, scan_fn, &c, &e), VC_OK);
    assert_scanned(&c, 0, N_SORTED);

    /* From an exact key. */
    memset(&c, 0, sizeof c);
    assert_int_equal(store_scan(t, STORE_RECORDS, (const uint8_t *)"\x01", 1,
                                scan_fn, &c, &e),
                     VC_OK);
    assert_scanned(&c, 1, N_SORTED - 1);

    /* From between keys: 01 00 00 sorts after 01 00, before 01 ff. */
    memset(&c, 0, sizeof c);
    assert_int_equal(store_scan(t, STORE_RECORDS,
                                (const uint8_t *)"\x01\x00\x00", 3, scan_fn,
                                &c, &e),
                     VC_OK);
    assert_scanned(&c, 3, N_SORTED - 3);

    /* Past the end: no calls. */
    memset(&c, 0, sizeof c);
    assert_int_equal(store_scan(t, STORE_RECORDS,
                                (const uint8_t *)"\xff\x00\x00", 3, scan_fn,
                                &c, &e),
                     VC_OK);
    assert_int_equal(c.n, 0);

    /* Early stop is success. */
    memset(&c, 0, sizeof c);
    c.stop_after = 3;
    assert_int_equal(store_scan(t, STORE_RECORDS, (const uint8_t *)"\x02", 1,
                                scan_fn, &c, &e),
                     VC_OK);
    assert_scanned(&c, 4, 3);

    /* Error stop keeps the callback's own message. */
    memset(&c, 0, sizeof c);
    c.fail_at = 2;
    c.fail_code = VC_TOO_LARGE;
    c.err = &e;
    assert_int_equal(
        store_scan(t, STORE_RECORDS, NULL, 0, scan_fn, &c, &e), VC_TOO_LARGE);
    assert_int_equal(c.n, 2);
    assert_int_equal(e.code, VC_TOO_LARGE);
    assert_string_equal(e.msg, "callback says no");

    /* Error stop without a message gets one. */
    memset(&c, 0, sizeof c);
    c.fail_at = 1;
    c.fail_code = VC_INTERNAL;
    assert_int_equal(
        store_scan(t, STORE_RECORDS, NULL, 0, scan_fn, &c, &e), VC_INTERNAL);
    assert_int_equal(e.code, VC_INTERNAL);
    assert_non_null(strstr(e.msg, "records"));

    /* A code outside the enum is an internal error. */
    memset(&c, 0, sizeof c);
    c.fail_at = 1;
    c.fail_code = 42;
    assert_int_equal(
        store_scan(t, STORE_RECORDS, NULL, 0, scan_fn, &c, &e), VC_INTERNAL);

    /* The meta table holds only its one entry. */
    memset(&c, 0, sizeof c);
    assert_int_equal(store_scan(t, STORE_META, NULL, 0, scan_fn, &c, &e),
                     VC_OK);
    assert_int_equal(c.n, 1);

    store_abort(t);
}

/* ---- full map ---------------------------------------------------------- */

static vc_code put_numbered(store *s, unsigned i, size_t val_len)
{
    uint8_t key[16];
    uint8_t val[4096];
    store_txn *t;
    vc_err e;
    vc_code c;
    int n;

    n = snprintf((char *)key, sizeof key, "k%08u", i);
    assert_true(n > 0 && n < (int)sizeof key);
    assert_true(val_len <= sizeof val);
    memset(val, (int)(i & 0xff), val_len);
    assert_int_equal(store_begin(s, true, &t, &e), VC_OK);
    c = store_put(t, STORE_RECORDS, key, (size_t)n, val, val_len, &e);
    if (c != VC_OK) {
        assert_int_equal(c, VC_UNAVAILABLE);
        assert_non_null(strstr(e.msg, "full"));
        /* The transaction is spent: more writes fail the same way. */
        assert_int_equal(store_put(t, STORE_RECORDS, key, (size_t)n, val, 1,
                                   &e),
                         VC_UNAVAILABLE);
        store_abort(t);
        return c;
    }
    c = store_commit(t, &e);
    if (c != VC_OK) {
        assert_int_equal(c, VC_UNAVAILABLE);
        assert_non_null(strstr(e.msg, "full"));
    }
    return c;
}

/* Checks key number i: present with val_len bytes of (i & 0xff), or absent
 * when val_len is 0. */
static void check_numbered(store *s, unsigned i, size_t val_len)
{
    char key[16];
    const uint8_t *v;
    size_t n;
    store_txn *t;
    vc_err e;
    int kl;

    kl = snprintf(key, sizeof key, "k%08u", i);
    assert_true(kl > 0 && kl < (int)sizeof key);
    assert_int_equal(store_begin(s, false, &t, &e), VC_OK);
    if (val_len == 0) {
        assert_int_equal(store_get(t, STORE_RECORDS, (const uint8_t *)key,
                                   (size_t)kl, &v, &n, &e),
                         VC_NOT_FOUND);
    } else {
        assert_int_equal(store_get(t, STORE_RECORDS, (const uint8_t *)key,
                                   (size_t)kl, &v, &n, &e),
                         VC_OK);
        assert_int_equal(n, val_len);
        for (size_t j = 0; j < n; j++)
            assert_int_equal(v[j], i & 0xff);
    }
    store_abort(t);
}

static vc_code del_numbered_range(store *s, unsigned from, unsigned to)
{
    char key[16];
    store_txn *t;
    vc_err e;
    vc_code c = VC_OK;
    int kl;

    assert_int_equal(store_begin(s, true, &t, &e), VC_OK);
    for (unsigned i = from; i < to && c == VC_OK; i++) {
        kl = snprintf(key, sizeof key, "k%08u", i);
        assert_true(kl > 0 && kl < (int)sizeof key);
        c = store_del(t, STORE_RECORDS, (const uint8_t *)key, (size_t)kl, &e);
    }
    if (c != VC_OK) {
        store_abort(t);
        return c;
    }
    return store_commit(t, &e);
}

static void test_map_full(void **state)
{
    fixture *fx = *state;
    unsigned committed = 0;
    store_txn *t;
    uint8_t big[4096];
    vc_err e;
    vc_code c = VC_OK;

    open_store(fx, 256 * KIB);
    for (unsigned i = 0; i < 10000; i++) {
        c = put_numbered(fx->s, i, 1000);
        if (c != VC_OK)
            break;
        committed++;
    }
    assert_int_equal(c, VC_UNAVAILABLE);
    assert_true(committed > 10);

    /* Committed data is intact, the failed write left nothing. */
    assert_int_equal(count(fx->s, STORE_RECORDS), committed);
    check_numbered(fx->s, 0, 1000);
    check_numbered(fx->s, committed - 1, 1000);
    check_numbered(fx->s, committed, 0);

    /* Committing a transaction whose put failed aborts it and says so. */
    memset(big, 'x', sizeof big);
    assert_int_equal(store_begin(fx->s, true, &t, &e), VC_OK);
    c = VC_OK;
    for (unsigned i = 0; i < 100 && c == VC_OK; i++) {
        uint8_t key[4] = {'b', (uint8_t)i, 0, 0};
        c = store_put(t, STORE_META, key, sizeof key, big, sizeof big, &e);
    }
    assert_int_equal(c, VC_UNAVAILABLE);
    assert_int_equal(store_commit(t, &e), VC_UNAVAILABLE);
    assert_int_equal(count(fx->s, STORE_META), 0);

    /* Deleting makes room again. In a full map even a delete needs fresh
     * pages (copy-on-write), so delete one key per transaction; the odd
     * one that fails goes through once later deletes have freed pages. */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < committed / 2; i++) {
            c = del_numbered_range(fx->s, i, i + 1);
            assert_true(c == VC_OK || c == VC_NOT_FOUND ||
                        (pass == 0 && c == VC_UNAVAILABLE));
        }
    }
    assert_int_equal(count(fx->s, STORE_RECORDS), committed - committed / 2);
    check_numbered(fx->s, 0, 0);
    for (unsigned i = 0; i < committed / 4; i++)
        assert_int_equal(put_numbered(fx->s, 20000 + i, 1000), VC_OK);
    check_numbered(fx->s, 20000, 1000);
    check_numbered(fx->s, committed - 1, 1000);
}

/* ---- another process --------------------------------------------------- */

#define CHILD_VALUES 200
#define CHILD_VALUE_LEN 8000

/* Runs in the forked child: no cmocka here, the exit status reports. Opens
 * its own environment (the parent's must not be used after fork) with a
 * larger map and writes past the parent's map size. */
static int child_write(const char *dir, int go_fd)
{
    static uint8_t val[CHILD_VALUE_LEN];
    store *s = NULL;
    store_txn *t = NULL;
    vc_err e;
    char c;

    if (read(go_fd, &c, 1) != 1)
        return 10;
    if (store_open(&s, dir, 8 * MIB, &e) != VC_OK)
        return 11;
    if (store_begin(s, true, &t, &e) != VC_OK)
        return 12;
    if (store_put(t, STORE_META, (const uint8_t *)"child", 5,
                  (const uint8_t *)"was here", 8, &e) != VC_OK)
        return 13;
    for (unsigned i = 0; i < CHILD_VALUES; i++) {
        uint8_t key[3] = {'c', (uint8_t)(i >> 8), (uint8_t)i};
        memset(val, (int)(i & 0xff), sizeof val);
        if (store_put(t, STORE_RECORDS, key, sizeof key, val, sizeof val,
                      &e) != VC_OK)
            return 14;
    }
    if (store_commit(t, &e) != VC_OK)
        return 15;
    store_close(s);
    return 0;
}

static void test_other_process_writes(void **state)
{
    fixture *fx = *state;
    store_txn *snap;
    const uint8_t *v;
    size_t n;
    store_info info;
    int go[2];
    int status = 0;
    pid_t pid;
    vc_err e;

    /* The parent's map (1 MiB) is smaller than what the child writes. */
    open_store(fx, 1 * MIB);
    assert_int_equal(put_str(fx->s, STORE_META, "parent", "first"), VC_OK);
    assert_int_equal(pipe(go), 0);

    /* A reader that stays open while the child writes. */
    assert_int_equal(store_begin(fx->s, false, &snap, &e), VC_OK);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        _exit(child_write(fx->dir, go[0]));
    }
    close(go[0]);
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The open snapshot does not see the child's commit... */
    assert_int_equal(store_get(snap, STORE_META, (const uint8_t *)"child", 5,
                               &v, &n, &e),
                     VC_NOT_FOUND);
    assert_int_equal(store_get(snap, STORE_META, (const uint8_t *)"parent", 6,
                               &v, &n, &e),
                     VC_OK);
    store_abort(snap);

    /* ...a new transaction does, after adopting the grown map. */
    assert_get(fx->s, STORE_META, "child", "was here");
    assert_get(fx->s, STORE_META, "parent", "first");
    assert_int_equal(count(fx->s, STORE_RECORDS), CHILD_VALUES);
    assert_int_equal(store_stat(fx->s, &info, &e), VC_OK);
    assert_true(info.map_size >= 8 * MIB);
    assert_true(info.used_bytes > 1 * MIB);

    /* And this process can write on. */
    assert_int_equal(put_str(fx->s, STORE_META, "parent", "second"), VC_OK);
    assert_get(fx->s, STORE_META, "parent", "second");
}

/* ---- threads ----------------------------------------------------------- */

#define THREADS 4
#define THREAD_ROUNDS 50

typedef struct {
    store *s;
    unsigned id;
    int failures;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    uint8_t key[2] = {'t', (uint8_t)w->id};

    for (unsigned r = 1; r <= THREAD_ROUNDS; r++) {
        store_txn *t;
        const uint8_t *v;
        size_t n;
        uint8_t val[4] = {(uint8_t)(r >> 8), (uint8_t)r, 0, 0};
        vc_err e;

        if (store_begin(w->s, true, &t, &e) != VC_OK) {
            w->failures++;
            continue;
        }
        if (store_put(t, STORE_RECORDS, key, sizeof key, val, sizeof val,
                      &e) != VC_OK ||
            store_commit(t, &e) != VC_OK) {
            w->failures++;
            continue;
        }
        if (store_begin(w->s, false, &t, &e) != VC_OK) {
            w->failures++;
            continue;
        }
        if (store_get(t, STORE_RECORDS, key, sizeof key, &v, &n, &e) !=
                VC_OK ||
            n != 4 || memcmp(v, val, 4) != 0)
            w->failures++;
        store_abort(t);
    }
    return NULL;
}

static void test_threads(void **state)
{
    fixture *fx = *state;
    pthread_t th[THREADS];
    worker w[THREADS];

    open_store(fx, 0);
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (worker){.s = fx->s, .id = i, .failures = 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(count(fx->s, STORE_RECORDS), THREADS);
}

/* ---- backup and status ------------------------------------------------- */

typedef struct {
    store *other;
    store_table tbl;
    size_t n;
    int mismatches;
} compare_ctx;

/* Checks every entry of one store against the other. */
static int compare_fn(void *ctx, const uint8_t *key, size_t key_len,
                      const uint8_t *val, size_t val_len)
{
    compare_ctx *c = ctx;
    store_txn *t;
    const uint8_t *v;
    size_t n;
    vc_err e;

    c->n++;
    if (store_begin(c->other, false, &t, &e) != VC_OK)
        return VC_INTERNAL;
    if (store_get(t, c->tbl, key, key_len, &v, &n, &e) != VC_OK ||
        n != val_len || memcmp(v, val, n) != 0)
        c->mismatches++;
    store_abort(t);
    return 0;
}

static void assert_same_content(store *a, store *b)
{
    for (int tbl = STORE_META; tbl <= STORE_RECORDS; tbl++) {
        compare_ctx c = {.other = b, .tbl = (store_table)tbl};
        store_txn *t;
        vc_err e;

        assert_int_equal(store_begin(a, false, &t, &e), VC_OK);
        assert_int_equal(
            store_scan(t, (store_table)tbl, NULL, 0, compare_fn, &c, &e),
            VC_OK);
        store_abort(t);
        assert_int_equal(c.mismatches, 0);
        assert_int_equal(c.n, count(b, (store_table)tbl));
    }
}

static void test_backup(void **state)
{
    fixture *fx = *state;
    char backup[256];
    char restored[256];
    char data[256];
    char nowhere[256];
    struct stat st;
    store *r = NULL;
    vc_err e;

    open_store(fx, 0);
    assert_int_equal(put_str(fx->s, STORE_META, "keyring", "k1 k2"), VC_OK);
    for (unsigned i = 0; i < 300; i++)
        assert_int_equal(put_numbered(fx->s, i, 500), VC_OK);
    /* Some deleted pages for the compacting copy to leave out. */
    assert_int_equal(del_numbered_range(fx->s, 0, 100), VC_OK);

    path_in(backup, sizeof backup, fx->root, "backup.mdb");
    assert_int_equal(store_backup(fx->s, backup, &e), VC_OK);
    assert_int_equal(stat(backup, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(st.st_size > 0);

    /* Never overwrites, and never removes what was there. */
    assert_int_not_equal(store_backup(fx->s, backup, &e), VC_OK);
    assert_non_null(strstr(e.msg, backup));
    assert_int_equal(stat(backup, &st), 0);
    assert_true(st.st_size > 0);

    path_in(nowhere, sizeof nowhere, fx->root, "missing/backup.mdb");
    assert_int_not_equal(store_backup(fx->s, nowhere, &e), VC_OK);
    assert_non_null(strstr(e.msg, nowhere));

    /* The copy opens as a store with the same content. */
    path_in(restored, sizeof restored, fx->root, "restored");
    assert_int_equal(mkdir(restored, 0700), 0);
    path_in(data, sizeof data, restored, "data.mdb");
    assert_int_equal(rename(backup, data), 0);
    assert_int_equal(store_open(&r, restored, 0, &e), VC_OK);
    assert_int_equal(count(r, STORE_RECORDS), 200);
    assert_same_content(fx->s, r);
    assert_same_content(r, fx->s);
    store_close(r);
}

static void test_stat(void **state)
{
    fixture *fx = *state;
    store_info a;
    store_info b;
    vc_err e;

    open_store(fx, 4 * MIB);
    assert_int_equal(store_stat(fx->s, &a, &e), VC_OK);
    assert_string_equal(a.backend, "lmdb");
    assert_int_equal(a.map_size, 4 * MIB);
    assert_true(a.used_bytes > 0);
    assert_true(a.used_bytes <= a.map_size);

    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(put_numbered(fx->s, i, 4000), VC_OK);
    assert_int_equal(store_stat(fx->s, &b, &e), VC_OK);
    assert_int_equal(b.map_size, 4 * MIB);
    assert_true(b.used_bytes >= a.used_bytes + 100 * 4000);
    assert_true(b.used_bytes <= b.map_size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_private_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_both_tables, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_in_read_txn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_unsynced_then_sync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_process_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
