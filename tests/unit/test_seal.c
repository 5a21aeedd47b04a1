/* test_seal.c - master key files, keyring wrapping, hashing and sealing,
 * with the real libsodium on files in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "seal.h"
#include "testutil.h"

static char tmpdir[TU_DIR_MAX];

/* A fixed key whose base64 has '+' and '/', so the URL-safe spelling
 * differs from the standard one. */
static const uint8_t fixed_key[SEAL_KEY_BYTES] = {
    0xfb, 0xef, 0xbe, 0xfb, 0xff, 0xbf, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0xfb, 0xff, 0xfe};

static int setup_dir(void **state)
{
    (void)state;
    return tu_tmpdir(tmpdir, sizeof tmpdir, "test_seal") != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return tu_rmtree(tmpdir);
}

/* Writes len bytes to tmpdir/name with the given mode; returns the path in
 * a static buffer (valid until the next call). */
static const char *write_file(const char *name, const void *data, size_t len,
                              mode_t mode)
{
    static char path[256];
    assert_non_null(tu_path(path, sizeof path, tmpdir, name));
    assert_int_equal(tu_write_file(path, data, len, mode), 0); /* mode past the umask */
    return path;
}

static const char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text), 0600);
}

/* base64 of n bytes of key in the given libsodium variant. */
static void b64_of(char *out, size_t cap, const uint8_t *key, size_t n,
                   int variant)
{
    assert_non_null(sodium_bin2base64(out, cap, key, n, variant));
}

static seal_master *load_ok(const char *path)
{
    seal_master *m = NULL;
    vc_err err = {0};
    bool warn = true;
    assert_int_equal(seal_master_load(&m, path, &warn, &err), VC_OK);
    assert_non_null(m);
    assert_false(warn);
    return m;
}

/* Loading path fails with VC_CONFIG, and the message names the path and
 * contains want. */
static void load_fails(const char *path, const char *want)
{
    seal_master *m = (seal_master *)1;
    vc_err err = {0};
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    assert_int_equal(seal_master_load(&m, p, NULL, &err), VC_CONFIG);
    assert_null(m);
    assert_int_equal(err.code, VC_CONFIG);
    if (strstr(err.msg, p) == NULL || strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg, p, want);
    assert_non_null(strstr(err.msg, "master key "));
}

/* Whether masters a and b hold the same key: a keyring wrapped by one
 * opens with the other. */
static bool same_master(const seal_master *a, const seal_master *b)
{
    seal_keyring *k = NULL, *k2 = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    vc_err err = {0};
    assert_int_equal(seal_keyring_create(&k, &err), VC_OK);
    assert_int_equal(seal_keyring_wrap(k, a, &blob, &len, &err), VC_OK);
    vc_code rc = seal_keyring_unwrap(&k2, b, blob, len, &err);
    free(blob);
    seal_keyring_free(k2);
    seal_keyring_free(k);
    return rc == VC_OK;
}

static seal_keyring *new_keyring(void)
{
    seal_keyring *k = NULL;
    vc_err err = {0};
    assert_int_equal(seal_keyring_create(&k, &err), VC_OK);
    assert_non_null(k);
    return k;
}

/* ---- master key --------------------------------------------------------- */

static void test_keygen_loads_back(void **state)
{
    char b64[SEAL_KEYGEN_B64], b64b[SEAL_KEYGEN_B64];
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_keygen_b64(b64, sizeof b64, &err), VC_OK);
    assert_int_equal(strlen(b64), 44);
    assert_int_equal(b64[43], '=');
    assert_int_equal(seal_keygen_b64(b64b, sizeof b64b, &err), VC_OK);
    assert_string_not_equal(b64, b64b);

    char line[SEAL_KEYGEN_B64 + 1];
    snprintf(line, sizeof line, "%s\n", b64);
    seal_master *m = load_ok(write_text("keygen.key", line));
    seal_master_free(m);

    assert_int_equal(seal_keygen_b64(b64, 10, &err), VC_INTERNAL);
}

static void test_master_variants_load(void **state)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL,
        sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE,
        sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    };
    static const char *const endings[] = {"", "\n", "\r\n"};
    char b64[64], text[80];
    (void)state;

    b64_of(b64, sizeof b64, fixed_key, sizeof fixed_key,
           sodium_base64_VARIANT_ORIGINAL);
    assert_non_null(strpbrk(b64, "+/")); /* the variants really differ */
    seal_master *ref = load_ok(write_text("ref.key", b64));

    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        for (size_t e = 0; e < sizeof endings / sizeof endings[0]; e++) {
            b64_of(b64, sizeof b64, fixed_key, sizeof fixed_key, variants[v]);
            snprintf(text, sizeof text, "%s%s", b64, endings[e]);
            seal_master *m = load_ok(write_text("variant.key", text));
            assert_true(same_master(ref, m));
            seal_master_free(m);
        }
    }

    /* A different key is a different master. */
    char other[SEAL_KEYGEN_B64];
    vc_err err = {0};
    assert_int_equal(seal_keygen_b64(other, sizeof other, &err), VC_OK);
    seal_master *m2 = load_ok(write_text("other.key", other));
    assert_false(same_master(ref, m2));
    seal_master_free(m2);
    seal_master_free(ref);
}

static void test_master_parse_memory(void **state)
{
    char b64[64];
    seal_master *m = NULL;
    vc_err err = {0};
    (void)state;

    b64_of(b64, sizeof b64, fixed_key, sizeof fixed_key,
           sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_int_equal(seal_master_parse(&m, b64, strlen(b64), "env", &err),
                     VC_OK);
    seal_master_free(m);

    m = NULL;
    assert_int_equal(seal_master_parse(&m, "abc", 3, "VAULTCTL_X", &err),
                     VC_CONFIG);
    assert_null(m);
    assert_non_null(strstr(err.msg, "master key VAULTCTL_X: "));
    assert_int_equal(seal_master_parse(&m, "", 0, NULL, &err), VC_CONFIG);
    assert_non_null(strstr(err.msg, "is empty"));
    seal_master_free(NULL);
}

static void test_master_errors(void **state)
{
    char b64[64], text[128], path[256];
    uint8_t key33[33] = {0};
    (void)state;

    snprintf(path, sizeof path, "%s/missing.key", tmpdir);
    load_fails(path, "cannot open: No such file or directory");

    load_fails(write_text("empty.key", ""), "is empty");
    load_fails(write_text("newline.key", "\n"), "is empty");
    load_fails(write_text("notb64.key", "this is not base64 at all!\n"),
               "not valid base64");

    b64_of(b64, sizeof b64, fixed_key, 31, sodium_base64_VARIANT_ORIGINAL);
    load_fails(write_text("k31.key", b64),
               "expected base64 of 32 bytes, got 31 bytes");
    b64_of(b64, sizeof b64, key33, 33, sodium_base64_VARIANT_ORIGINAL);
    load_fails(write_text("k33.key", b64),
               "expected base64 of 32 bytes, got 33 bytes");

    /* Trailing garbage: a second line, two newlines, a space. */
    b64_of(b64, sizeof b64, fixed_key, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "%s\nextra\n", b64);
    load_fails(write_text("garbage1.key", text), "not valid base64");
    snprintf(text, sizeof text, "%s\n\n", b64);
    load_fails(write_text("garbage2.key", text), "not valid base64");
    snprintf(text, sizeof text, "%s \n", b64);
    load_fails(write_text("garbage3.key", text), "not valid base64");
    snprintf(text, sizeof text, " %s", b64);
    load_fails(write_text("garbage4.key", text), "not valid base64");

    /* A symbolic link to a good key is refused. */
    const char *target = write_text("good.key", b64);
    char target_copy[256];
    snprintf(target_copy, sizeof target_copy, "%s", target);
    snprintf(path, sizeof path, "%s/link.key", tmpdir);
    assert_int_equal(symlink(target_copy, path), 0);
    load_fails(path, "is a symbolic link; refusing");

    /* A directory, and a file too large to be a key. */
    load_fails(tmpdir, "is not a regular file");
    char big[2048];
    memset(big, 'A', sizeof big);
    load_fails(write_file("big.key", big, sizeof big, 0600), "too large");

    /* Key bytes never show in a message: a 31-byte key's base64 is not
     * echoed back. */
    seal_master *m = NULL;
    vc_err err = {0};
    b64_of(b64, sizeof b64, fixed_key, 31, sodium_base64_VARIANT_ORIGINAL);
    (void)seal_master_parse(&m, b64, strlen(b64), "mem", &err);
    assert_null(strstr(err.msg, b64));
    char prefix[9];
    memcpy(prefix, b64, 8);
    prefix[8] = '\0';
    assert_null(strstr(err.msg, prefix));
}

static void test_master_warn_perm(void **state)
{
    char b64[64];
    seal_master *m = NULL;
    vc_err err = {0};
    bool warn = false;
    (void)state;

    b64_of(b64, sizeof b64, fixed_key, 32, sodium_base64_VARIANT_ORIGINAL);
    /* Writable by group or others: refused, not warned about. */
    const char *p = write_file("open.key", b64, strlen(b64), 0666);
    load_fails(p, "is writable by group or others (mode 0666");
    p = write_file("group.key", b64, strlen(b64), 0620);
    load_fails(p, "is writable by group or others (mode 0620");

    /* Readable by group or others: a warning (outside /run/secrets/). */
    p = write_file("readable.key", b64, strlen(b64), 0644);
    assert_int_equal(seal_master_load(&m, p, &warn, &err), VC_OK);
    assert_true(warn);
    seal_master_free(m);

    p = write_file("private.key", b64, strlen(b64), 0400);
    assert_int_equal(seal_master_load(&m, p, &warn, &err), VC_OK);
    assert_false(warn);
    seal_master_free(m);
}

/* ---- keyring wrapping --------------------------------------------------- */

static seal_master *master_from(const uint8_t key[SEAL_KEY_BYTES])
{
    char b64[64];
    seal_master *m = NULL;
    vc_err err = {0};
    b64_of(b64, sizeof b64, key, SEAL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(seal_master_parse(&m, b64, strlen(b64), "test", &err),
                     VC_OK);
    return m;
}

static seal_master *random_master(void)
{
    uint8_t key[SEAL_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    seal_master *m = master_from(key);
    sodium_memzero(key, sizeof key);
    return m;
}

static void test_wrap_unwrap_round_trip(void **state)
{
    seal_master *m = random_master();
    seal_keyring *k = new_keyring(), *k2 = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    uint32_t v = 0;
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_keyring_add(k, &v, &err), VC_OK);
    assert_int_equal(v, 2);
    assert_int_equal(seal_keyring_wrap(k, m, &blob, &len, &err), VC_OK);
    assert_true(len > 45);
    assert_memory_equal(blob, "VCKR\x01", 5);
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, len, &err), VC_OK);

    assert_int_equal(seal_keyring_current(k2), 2);
    assert_int_equal(seal_keyring_count(k2), 2);
    assert_true(seal_keyring_has(k2, 1));
    assert_true(seal_keyring_has(k2, 2));
    assert_false(seal_keyring_has(k2, 3));

    uint8_t h1[SEAL_HASH_BYTES], h2[SEAL_HASH_BYTES];
    seal_name_hash(k, "db/password", 11, h1);
    seal_name_hash(k2, "db/password", 11, h2);
    assert_memory_equal(h1, h2, sizeof h1);
    char a1[SEAL_AUDIT_HEX], a2[SEAL_AUDIT_HEX];
    seal_audit_hash(k, "db/password", 11, a1);
    seal_audit_hash(k2, "db/password", 11, a2);
    assert_string_equal(a1, a2);

    /* Records sealed under either version open with the unwrapped ring. */
    for (uint32_t ver = 1; ver <= 2; ver++) {
        uint8_t ct[5 + SEAL_OVERHEAD], pt[5];
        assert_int_equal(seal_encrypt(k, ver, (const uint8_t *)"ad", 2,
                                      (const uint8_t *)"hello", 5, ct, &err),
                         VC_OK);
        assert_int_equal(seal_decrypt(k2, ver, (const uint8_t *)"ad", 2, ct,
                                      sizeof ct, pt, &err), VC_OK);
        assert_memory_equal(pt, "hello", 5);
    }

    /* Two wraps of one keyring differ (fresh nonce). */
    uint8_t *blob2 = NULL;
    size_t len2 = 0;
    assert_int_equal(seal_keyring_wrap(k, m, &blob2, &len2, &err), VC_OK);
    assert_int_equal(len, len2);
    assert_memory_not_equal(blob, blob2, len);

    free(blob2);
    free(blob);
    seal_keyring_free(k2);
    seal_keyring_free(k);
    seal_master_free(m);
}

static void test_unwrap_wrong_master(void **state)
{
    seal_master *m = random_master(), *other = random_master();
    seal_keyring *k = new_keyring(), *k2 = (seal_keyring *)1;
    uint8_t *blob = NULL;
    size_t len = 0;
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_keyring_wrap(k, m, &blob, &len, &err), VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k2, other, blob, len, &err),
                     VC_ACCESS_DENIED);
    assert_null(k2);
    assert_string_equal(err.msg, "master key does not open the keyring");
    /* The right key still opens it afterwards. */
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, len, &err), VC_OK);

    free(blob);
    seal_keyring_free(k2);
    seal_keyring_free(k);
    seal_master_free(other);
    seal_master_free(m);
}

static void test_unwrap_tampered_blob(void **state)
{
    seal_master *m = random_master();
    seal_keyring *k = new_keyring(), *k2 = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_keyring_wrap(k, m, &blob, &len, &err), VC_OK);
    /* Every single flipped byte fails, header included. */
    for (size_t i = 0; i < len; i++) {
        blob[i] ^= 0x01;
        vc_code rc = seal_keyring_unwrap(&k2, m, blob, len, &err);
        if (rc != VC_ACCESS_DENIED && rc != VC_INTERNAL)
            fail_msg("flipped byte %zu: code %d", i, (int)rc);
        assert_null(k2);
        blob[i] ^= 0x01;
    }
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, 3, &err), VC_INTERNAL);
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, len - 1, &err),
                     VC_INTERNAL);
    blob[4] = 2;
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, len, &err), VC_INTERNAL);
    assert_non_null(strstr(err.msg, "format"));
    blob[4] = 1;
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, len, &err), VC_OK);

    free(blob);
    seal_keyring_free(k2);
    seal_keyring_free(k);
    seal_master_free(m);
}

/* ---- sealing ------------------------------------------------------------ */

static void test_encrypt_decrypt_round_trip(void **state)
{
    seal_keyring *k = new_keyring();
    const char *msg = "{\"user\":\"app\",\"pass\":\"s3cr3t\"}";
    size_t n = strlen(msg);
    uint8_t ct[128], ct2[128], pt[128];
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_encrypt(k, 1, (const uint8_t *)"k1", 2,
                                  (const uint8_t *)msg, n, ct, &err), VC_OK);
    assert_null(memmem(ct, n + SEAL_OVERHEAD, "s3cr3t", 6));
    assert_int_equal(seal_decrypt(k, 1, (const uint8_t *)"k1", 2, ct,
                                  n + SEAL_OVERHEAD, pt, &err), VC_OK);
    assert_memory_equal(pt, msg, n);

    /* Fresh nonce each time. */
    assert_int_equal(seal_encrypt(k, 1, (const uint8_t *)"k1", 2,
                                  (const uint8_t *)msg, n, ct2, &err), VC_OK);
    assert_memory_not_equal(ct, ct2, n + SEAL_OVERHEAD);

    /* Empty plaintext and no associated data. */
    assert_int_equal(seal_encrypt(k, 1, NULL, 0, (const uint8_t *)"", 0, ct,
                                  &err), VC_OK);
    assert_int_equal(seal_decrypt(k, 1, NULL, 0, ct, SEAL_OVERHEAD, pt, &err),
                     VC_OK);

    /* Unknown version, too short a record. */
    assert_int_equal(seal_encrypt(k, 7, NULL, 0, (const uint8_t *)"x", 1, ct,
                                  &err), VC_INTERNAL);
    assert_non_null(strstr(err.msg, "version 7"));
    assert_int_equal(seal_decrypt(k, 1, NULL, 0, ct, SEAL_OVERHEAD - 1, pt,
                                  &err), VC_INTERNAL);
    seal_keyring_free(k);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

static void expect_decrypt_fails(const seal_keyring *k, uint32_t v,
                                 const char *ad, const uint8_t *ct,
                                 size_t ct_len)
{
    uint8_t pt[128];
    vc_err err = {0};
    memset(pt, 0xAA, sizeof pt);
    assert_int_equal(seal_decrypt(k, v, (const uint8_t *)ad, strlen(ad), ct,
                                  ct_len, pt, &err), VC_INTERNAL);
    assert_true(all_zero(pt, ct_len - SEAL_OVERHEAD));
    assert_int_equal(pt[ct_len - SEAL_OVERHEAD], 0xAA); /* nothing beyond */
}

static void test_decrypt_failures_zero_output(void **state)
{
    seal_keyring *k = new_keyring(), *other = new_keyring();
    const char *msg = "top secret value";
    size_t n = strlen(msg), ct_len = n + SEAL_OVERHEAD;
    uint8_t ct[128];
    uint32_t v2 = 0;
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_keyring_add(k, &v2, &err), VC_OK);
    assert_int_equal(seal_encrypt(k, 1, (const uint8_t *)"name", 4,
                                  (const uint8_t *)msg, n, ct, &err), VC_OK);

    expect_decrypt_fails(k, 1, "nam", ct, ct_len);  /* other AD */
    expect_decrypt_fails(k, 1, "", ct, ct_len);
    expect_decrypt_fails(k, v2, "name", ct, ct_len); /* other version's key */
    expect_decrypt_fails(other, 1, "name", ct, ct_len); /* other keyring */
    expect_decrypt_fails(k, 9, "name", ct, ct_len);  /* unknown version */
    for (size_t i = 0; i < ct_len; i++) {            /* any flipped byte */
        ct[i] ^= 0x80;
        expect_decrypt_fails(k, 1, "name", ct, ct_len);
        ct[i] ^= 0x80;
    }
    uint8_t pt[128];
    assert_int_equal(seal_decrypt(k, 1, (const uint8_t *)"name", 4, ct, ct_len,
                                  pt, &err), VC_OK);
    assert_memory_equal(pt, msg, n);

    (void)seal_decrypt(k, 1, (const uint8_t *)"x", 1, ct, ct_len, pt, &err);
    assert_string_equal(err.msg, "record failed authentication");

    seal_keyring_free(other);
    seal_keyring_free(k);
}

static void test_add_and_retain_only(void **state)
{
    seal_keyring *k = new_keyring();
    uint8_t ct1[4 + SEAL_OVERHEAD], ct3[4 + SEAL_OVERHEAD], pt[4];
    uint32_t v = 0;
    vc_err err = {0};
    (void)state;

    assert_int_equal(seal_keyring_current(k), 1);
    assert_int_equal(seal_keyring_count(k), 1);
    assert_int_equal(seal_encrypt(k, 1, NULL, 0, (const uint8_t *)"old!", 4,
                                  ct1, &err), VC_OK);
    assert_int_equal(seal_keyring_add(k, &v, &err), VC_OK);
    assert_int_equal(v, 2);
    assert_int_equal(seal_keyring_add(k, &v, &err), VC_OK);
    assert_int_equal(v, 3);
    assert_int_equal(seal_keyring_current(k), 3);
    assert_int_equal(seal_keyring_count(k), 3);
    assert_int_equal(seal_encrypt(k, 3, NULL, 0, (const uint8_t *)"new!", 4,
                                  ct3, &err), VC_OK);

    /* Name hashes do not depend on data key versions. */
    uint8_t h_before[SEAL_HASH_BYTES], h_after[SEAL_HASH_BYTES];
    seal_name_hash(k, "a", 1, h_before);

    seal_keyring_retain_only(k, 42); /* not held: nothing happens */
    assert_int_equal(seal_keyring_count(k), 3);

    seal_keyring_retain_only(k, 3);
    assert_int_equal(seal_keyring_count(k), 1);
    assert_int_equal(seal_keyring_current(k), 3);
    assert_false(seal_keyring_has(k, 1));
    assert_false(seal_keyring_has(k, 2));
    assert_true(seal_keyring_has(k, 3));
    expect_decrypt_fails(k, 1, "", ct1, sizeof ct1);
    assert_int_equal(seal_decrypt(k, 3, NULL, 0, ct3, sizeof ct3, pt, &err),
                     VC_OK);
    assert_memory_equal(pt, "new!", 4);
    seal_name_hash(k, "a", 1, h_after);
    assert_memory_equal(h_before, h_after, sizeof h_before);

    /* Versions keep growing after a retain. */
    assert_int_equal(seal_keyring_add(k, &v, &err), VC_OK);
    assert_int_equal(v, 4);

    /* Survives a wrap/unwrap. */
    seal_master *m = random_master();
    seal_keyring *k2 = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(seal_keyring_wrap(k, m, &blob, &len, &err), VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k2, m, blob, len, &err), VC_OK);
    assert_int_equal(seal_keyring_count(k2), 2);
    assert_false(seal_keyring_has(k2, 1));
    assert_int_equal(seal_decrypt(k2, 3, NULL, 0, ct3, sizeof ct3, pt, &err),
                     VC_OK);
    free(blob);
    seal_keyring_free(k2);
    seal_master_free(m);
    seal_keyring_free(k);
    seal_keyring_free(NULL);
}

static void test_keyring_full(void **state)
{
    seal_keyring *k = new_keyring();
    vc_err err = {0};
    uint32_t v = 0;
    size_t added = 0;
    (void)state;

    while (seal_keyring_add(k, &v, &err) == VC_OK)
        added++;
    assert_int_equal(err.code, VC_INTERNAL);
    assert_true(added >= 16);
    assert_int_equal(seal_keyring_count(k), added + 1);
    seal_keyring_retain_only(k, v);
    assert_int_equal(seal_keyring_count(k), 1);
    assert_int_equal(seal_keyring_add(k, NULL, &err), VC_OK);
    seal_keyring_free(k);
}

/* ---- hashing ------------------------------------------------------------ */

static void test_name_hash(void **state)
{
    seal_keyring *a = new_keyring(), *b = new_keyring();
    uint8_t h1[SEAL_HASH_BYTES], h2[SEAL_HASH_BYTES], h3[SEAL_HASH_BYTES];
    (void)state;

    seal_name_hash(a, "db/password", 11, h1);
    seal_name_hash(a, "db/password", 11, h2);
    assert_memory_equal(h1, h2, sizeof h1);
    seal_name_hash(a, "db/passwore", 11, h3);
    assert_memory_not_equal(h1, h3, sizeof h1);
    seal_name_hash(a, "db/password-and-more", 11, h3); /* only len counts */
    assert_memory_equal(h1, h3, sizeof h1);
    seal_name_hash(b, "db/password", 11, h3);
    assert_memory_not_equal(h1, h3, sizeof h1);

    seal_keyring_free(b);
    seal_keyring_free(a);
}

static void test_audit_hash(void **state)
{
    seal_keyring *a = new_keyring(), *b = new_keyring();
    char x[SEAL_AUDIT_HEX], y[SEAL_AUDIT_HEX];
    uint8_t nh[SEAL_HASH_BYTES];
    char nh_hex[SEAL_HASH_BYTES * 2 + 1];
    (void)state;

    seal_audit_hash(a, "api/token", 9, x);
    assert_int_equal(strlen(x), 64);
    assert_int_equal(strspn(x, "0123456789abcdef"), 64);
    seal_audit_hash(a, "api/token", 9, y);
    assert_string_equal(x, y);
    seal_audit_hash(b, "api/token", 9, y);
    assert_string_not_equal(x, y);
    /* Audit and index hashes use different keys. */
    seal_name_hash(a, "api/token", 9, nh);
    sodium_bin2hex(nh_hex, sizeof nh_hex, nh, sizeof nh);
    assert_string_not_equal(x, nh_hex);
    seal_audit_hash(a, "", 0, y);
    assert_int_equal(strlen(y), 64);

    seal_keyring_free(b);
    seal_keyring_free(a);
}

/* ---- concurrency -------------------------------------------------------- */

struct reader_arg {
    const seal_keyring *k;
    const seal_master *m;
    int failures;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    uint8_t ct[16 + SEAL_OVERHEAD], pt[16], h[SEAL_HASH_BYTES];
    char audit[SEAL_AUDIT_HEX];
    vc_err err = {0};

    for (int i = 0; i < 200; i++) {
        seal_name_hash(a->k, "name", 4, h);
        seal_audit_hash(a->k, "name", 4, audit);
        if (seal_encrypt(a->k, 1, h, sizeof h, (const uint8_t *)"0123456789abcdef",
                         16, ct, &err) != VC_OK ||
            seal_decrypt(a->k, 1, h, sizeof h, ct, sizeof ct, pt, &err) != VC_OK ||
            memcmp(pt, "0123456789abcdef", 16) != 0)
            a->failures++;
        if (i % 20 == 0) {
            uint8_t *blob = NULL;
            size_t len = 0;
            seal_keyring *k2 = NULL;
            if (seal_keyring_wrap(a->k, a->m, &blob, &len, &err) != VC_OK ||
                seal_keyring_unwrap(&k2, a->m, blob, len, &err) != VC_OK)
                a->failures++;
            free(blob);
            seal_keyring_free(k2);
        }
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    enum { N = 4 };
    seal_keyring *k = new_keyring();
    seal_master *m = random_master();
    pthread_t t[N];
    struct reader_arg a[N];
    (void)state;

    for (int i = 0; i < N; i++) {
        a[i] = (struct reader_arg){.k = k, .m = m, .failures = 0};
        assert_int_equal(pthread_create(&t[i], NULL, reader, &a[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(a[i].failures, 0);
    }
    seal_master_free(m);
    seal_keyring_free(k);
}

int main(void)
{
    vc_err err = {0};
    if (seal_init(&err) != VC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_loads_back),
        cmocka_unit_test(test_master_variants_load),
        cmocka_unit_test(test_master_parse_memory),
        cmocka_unit_test(test_master_errors),
        cmocka_unit_test(test_master_warn_perm),
        cmocka_unit_test(test_wrap_unwrap_round_trip),
        cmocka_unit_test(test_unwrap_wrong_master),
        cmocka_unit_test(test_unwrap_tampered_blob),
        cmocka_unit_test(test_encrypt_decrypt_round_trip),
        cmocka_unit_test(test_decrypt_failures_zero_output),
        cmocka_unit_test(test_add_and_retain_only),
        cmocka_unit_test(test_keyring_full),
        cmocka_unit_test(test_name_hash),
        cmocka_unit_test(test_audit_hash),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests_name("seal", tests, setup_dir, teardown_dir);
}
