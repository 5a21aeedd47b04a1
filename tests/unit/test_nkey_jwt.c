/* test_nkey_jwt.c - nkeys and NATS JWTs against known vectors: RFC 4648
 * base32, CRC-16/XMODEM's check value, RFC 8032's first Ed25519 key as an
 * account seed (its public key decodes back to the RFC's bytes, and nats.c's
 * own nats_Sign, which checks the seed's checksum, signs like we do), JWTs
 * parsed back with jansson and verified with libsodium, and the .creds
 * framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <nats/nats.h>
#include <sodium.h>

#include "jwt.h"
#include "nkey.h"

/* RFC 8032, 7.1, TEST 1. */
static const char rfc_seed_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc_pk_hex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

static void test_base32_crc(void **state)
{
    char out[64];
    uint8_t back[64];
    (void)state;
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "MY"},
             {"fo", "MZXQ"},
             {"foo", "MZXW6"},
             {"foob", "MZXW6YQ"},
             {"fooba", "MZXW6YTB"},
             {"foobar", "MZXW6YTBOI"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = nkey_base32_encode((const uint8_t *)v[i].in, strlen(v[i].in), out);
        assert_string_equal(out, v[i].out);
        assert_int_equal(n, strlen(v[i].out));
        assert_int_equal(nkey_base32_decode(out, n, back), (long)strlen(v[i].in));
        assert_memory_equal(back, v[i].in, strlen(v[i].in));
    }
    assert_int_equal(nkey_base32_decode("MZ1", 3, back), -1); /* not in the alphabet */
    assert_int_equal(nkey_base32_decode("MZ", 2, back), -1);  /* trailing bits set */
    assert_int_equal(nkey_crc16((const uint8_t *)"123456789", 9), 0x31C3);
}

/* The seed text of the RFC's key as a user seed (0x95, 0: "SU"). */
static void rfc_user_seed(char *text)
{
    uint8_t raw[36];
    raw[0] = 0x95;
    raw[1] = 0;
    assert_int_equal(sodium_hex2bin(raw + 2, 32, rfc_seed_hex, 64, NULL, NULL, NULL), 0);
    uint16_t crc = nkey_crc16(raw, 34);
    raw[34] = (uint8_t)(crc & 0xff);
    raw[35] = (uint8_t)(crc >> 8);
    nkey_base32_encode(raw, sizeof raw, text);
}

static void test_known_key(void **state)
{
    char seed[NKEY_SEED_LEN + 1], again[NKEY_SEED_LEN + 1], pub[NKEY_PUBLIC_LEN + 1];
    uint8_t raw[32], expect[32], sig[64];
    nkey_type t;
    nkey *k = NULL;
    vc_err err;
    (void)state;

    rfc_user_seed(seed);
    assert_int_equal(strlen(seed), NKEY_SEED_LEN);
    assert_memory_equal(seed, "SU", 2);
    assert_int_equal(nkey_from_seed(&k, seed, strlen(seed), &err), VC_OK);
    assert_int_equal(nkey_get_type(k), NKEY_USER);
    nkey_seed(k, again);
    assert_string_equal(again, seed);
    nkey_public(k, pub);
    assert_int_equal(strlen(pub), NKEY_PUBLIC_LEN);
    assert_int_equal(pub[0], 'U');
    assert_true(nkey_decode_public(pub, &t, raw));
    assert_int_equal(t, NKEY_USER);
    assert_int_equal(sodium_hex2bin(expect, 32, rfc_pk_hex, 64, NULL, NULL, NULL), 0);
    assert_memory_equal(raw, expect, 32);
    assert_true(nkey_public_valid(pub, NKEY_USER));
    assert_false(nkey_public_valid(pub, NKEY_ACCOUNT));

    /* nats.c decodes our seed text (checksum included; it takes user
     * seeds only) and signs the same. */
    unsigned char *theirs = NULL;
    int theirs_len = 0;
    assert_int_equal(nats_Sign(seed, "hello", &theirs, &theirs_len), NATS_OK);
    nkey_sign(k, (const uint8_t *)"hello", 5, sig);
    assert_int_equal(theirs_len, 64);
    assert_memory_equal(theirs, sig, 64);
    free(theirs);
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"hello", 5, raw), 0);

    /* A changed character breaks the checksum; wrong lengths and types. */
    pub[10] = pub[10] == 'A' ? 'B' : 'A';
    assert_false(nkey_decode_public(pub, NULL, NULL));
    seed[10] = seed[10] == 'A' ? 'B' : 'A';
    nkey *bad = NULL;
    assert_int_equal(nkey_from_seed(&bad, seed, strlen(seed), &err), VC_BAD_REQUEST);
    assert_null(bad);
    assert_null(strstr(err.msg, seed));
    assert_int_equal(nkey_from_seed(&bad, "SA", 2, &err), VC_BAD_REQUEST);
    nkey_free(k);
}

/* The pair nats-io/nkeys.net's README shows (an operator). */
static void test_published_pair(void **state)
{
    static const char seed[] = "SOAELH6NJCEK4HST5644G4HK7TOAFZGRRJHNM4EUKUY7PPNDLIKO5IH4JM";
    char pub[NKEY_PUBLIC_LEN + 1], again[NKEY_SEED_LEN + 1];
    nkey *k = NULL;
    vc_err err;
    (void)state;
    assert_int_equal(nkey_from_seed(&k, seed, strlen(seed), &err), VC_OK);
    assert_int_equal(nkey_get_type(k), NKEY_OPERATOR);
    nkey_public(k, pub);
    assert_string_equal(pub, "ODPWIBQJVIQ42462QAFI2RKJC4RZHCQSIVPRDDHWFCJAP52NRZK6Z2YC");
    nkey_seed(k, again);
    assert_string_equal(again, seed);
    nkey_free(k);
}

static void test_generate_types(void **state)
{
    static const struct {
        nkey_type t;
        char pub, seed;
    } v[] = {{NKEY_OPERATOR, 'O', 'O'}, {NKEY_ACCOUNT, 'A', 'A'}, {NKEY_USER, 'U', 'U'}};
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        nkey *k = NULL, *k2 = NULL;
        char pub[NKEY_PUBLIC_LEN + 1], pub2[NKEY_PUBLIC_LEN + 1], seed[NKEY_SEED_LEN + 1];
        vc_err err;
        assert_int_equal(nkey_generate(&k, v[i].t, &err), VC_OK);
        nkey_public(k, pub);
        nkey_seed(k, seed);
        assert_int_equal(pub[0], v[i].pub);
        assert_int_equal(seed[0], 'S');
        assert_int_equal(seed[1], v[i].seed);
        assert_true(nkey_public_valid(pub, v[i].t));
        assert_int_equal(nkey_from_seed(&k2, seed, strlen(seed), &err), VC_OK);
        nkey_public(k2, pub2);
        assert_string_equal(pub, pub2);
        nkey_free(k);
        nkey_free(k2);
    }
}

/* Splits a token, checks header and signature, returns the claims. */
static json_t *verify(const char *jwt, const char *signer_pub)
{
    const char *d1 = strchr(jwt, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_null(strchr(jwt, '=')); /* unpadded */
    uint8_t buf[4096], sig[64], pk[32];
    size_t n = 0;
    const int v = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    assert_int_equal(sodium_base642bin(buf, sizeof buf, jwt, (size_t)(d1 - jwt), NULL, &n, NULL, v),
                     0);
    assert_int_equal(n, strlen("{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}"));
    assert_memory_equal(buf, "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}", n);
    assert_int_equal(sodium_base642bin(sig, sizeof sig, d2 + 1, strlen(d2 + 1), NULL, &n, NULL, v),
                     0);
    assert_int_equal(n, 64);
    assert_true(nkey_decode_public(signer_pub, NULL, pk));
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)jwt, (size_t)(d2 - jwt), pk),
                     0);
    assert_int_equal(
        sodium_base642bin(buf, sizeof buf, d1 + 1, (size_t)(d2 - d1 - 1), NULL, &n, NULL, v), 0);
    json_t *claims = json_loadb((const char *)buf, n, 0, NULL);
    assert_non_null(claims);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), signer_pub);
    return claims;
}

static void test_user_jwt(void **state)
{
    nkey *acct = NULL, *sk = NULL, *user = NULL;
    char acct_pub[NKEY_PUBLIC_LEN + 1], sk_pub[NKEY_PUBLIC_LEN + 1], user_pub[NKEY_PUBLIC_LEN + 1];
    char seed[NKEY_SEED_LEN + 1];
    vc_err err;
    (void)state;
    assert_int_equal(nkey_generate(&acct, NKEY_ACCOUNT, &err), VC_OK);
    assert_int_equal(nkey_generate(&sk, NKEY_ACCOUNT, &err), VC_OK);
    assert_int_equal(nkey_generate(&user, NKEY_USER, &err), VC_OK);
    nkey_public(acct, acct_pub);
    nkey_public(sk, sk_pub);
    nkey_public(user, user_pub);
    nkey_seed(user, seed);

    const char *pubs[] = {"agents.requests", "agents.agent-7.>"};
    jwt_user u = {.user_pub = user_pub,
                  .name = "agent-7",
                  .issuer_account = acct_pub,
                  .pub_allow = pubs,
                  .npub = 2,
                  .nsub = 0,
                  .iat = 1700000000,
                  .exp = 1700000005};
    json_t *c = jwt_user_claims(&u);
    assert_non_null(c);
    char *jwt = jwt_sign(c, sk, &err);
    assert_non_null(jwt);
    json_t *back = verify(jwt, sk_pub);
    assert_string_equal(json_string_value(json_object_get(back, "sub")), user_pub);
    assert_string_equal(json_string_value(json_object_get(back, "name")), "agent-7");
    assert_int_equal(json_integer_value(json_object_get(back, "iat")), 1700000000);
    assert_int_equal(json_integer_value(json_object_get(back, "exp")), 1700000005);
    assert_true(strlen(json_string_value(json_object_get(back, "jti"))) >= 32);
    json_t *n = json_object_get(back, "nats");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "user");
    assert_int_equal(json_integer_value(json_object_get(n, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(n, "issuer_account")), acct_pub);
    assert_int_equal(json_integer_value(json_object_get(n, "subs")), -1);
    assert_int_equal(json_integer_value(json_object_get(n, "data")), -1);
    assert_int_equal(json_integer_value(json_object_get(n, "payload")), -1);
    json_t *pub = json_object_get(n, "pub"), *sub = json_object_get(n, "sub");
    assert_int_equal(json_array_size(json_object_get(pub, "allow")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(pub, "allow"), 1)),
                        "agents.agent-7.>");
    assert_null(json_object_get(pub, "deny"));
    /* Nothing to subscribe: deny everything, and no (empty) allow list. */
    assert_null(json_object_get(sub, "allow"));
    assert_int_equal(json_array_size(json_object_get(sub, "deny")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(sub, "deny"), 0)), ">");
    assert_null(json_object_get(n, "resp"));

    /* A second token: another jti. */
    char *jwt2 = jwt_sign(c, sk, &err);
    json_t *back2 = verify(jwt2, sk_pub);
    assert_string_not_equal(json_string_value(json_object_get(back, "jti")),
                            json_string_value(json_object_get(back2, "jti")));

    char *creds = jwt_creds_text(jwt, seed);
    assert_non_null(creds);
    char expect[2048];
    snprintf(expect, sizeof expect,
             "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
             "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n",
             jwt, seed);
    assert_string_equal(creds, expect);

    free(creds);
    free(jwt);
    free(jwt2);
    json_decref(back);
    json_decref(back2);
    json_decref(c);
    nkey_free(acct);
    nkey_free(sk);
    nkey_free(user);
}

static void test_account_operator(void **state)
{
    nkey *op = NULL, *acct = NULL, *sk = NULL;
    char op_pub[NKEY_PUBLIC_LEN + 1], acct_pub[NKEY_PUBLIC_LEN + 1], sk_pub[NKEY_PUBLIC_LEN + 1];
    vc_err err;
    (void)state;
    assert_int_equal(nkey_generate(&op, NKEY_OPERATOR, &err), VC_OK);
    assert_int_equal(nkey_generate(&acct, NKEY_ACCOUNT, &err), VC_OK);
    assert_int_equal(nkey_generate(&sk, NKEY_ACCOUNT, &err), VC_OK);
    nkey_public(op, op_pub);
    nkey_public(acct, acct_pub);
    nkey_public(sk, sk_pub);

    const char *keys[] = {sk_pub};
    json_t *rev = json_pack("{s:I}", "UABC", (json_int_t)1700000000);
    json_t *c = jwt_account_claims(acct_pub, "APP", keys, 1, 1700000000, rev);
    char *jwt = jwt_sign(c, op, &err);
    json_t *back = verify(jwt, op_pub);
    json_t *n = json_object_get(back, "nats");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "account");
    assert_int_equal(json_integer_value(json_object_get(n, "version")), 2);
    json_t *lim = json_object_get(n, "limits");
    assert_int_equal(json_integer_value(json_object_get(lim, "conn")), -1);
    assert_int_equal(json_integer_value(json_object_get(lim, "subs")), -1);
    assert_int_equal(json_integer_value(json_object_get(lim, "leaf")), -1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(n, "signing_keys"), 0)),
                        sk_pub);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "revocations"), "UABC")),
                     1700000000);
    assert_null(json_object_get(back, "exp"));
    json_decref(back);
    json_decref(c);
    json_decref(rev);
    free(jwt);

    c = jwt_operator_claims(op_pub, "OP", acct_pub, 1700000000);
    jwt = jwt_sign(c, op, &err);
    back = verify(jwt, op_pub);
    assert_string_equal(json_string_value(json_object_get(back, "sub")), op_pub);
    n = json_object_get(back, "nats");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "operator");
    assert_string_equal(json_string_value(json_object_get(n, "system_account")), acct_pub);
    json_decref(back);
    json_decref(c);
    free(jwt);
    nkey_free(op);
    nkey_free(acct);
    nkey_free(sk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base32_crc),       cmocka_unit_test(test_known_key),
        cmocka_unit_test(test_generate_types),   cmocka_unit_test(test_user_jwt),
        cmocka_unit_test(test_account_operator), cmocka_unit_test(test_published_pair),
    };
    if (sodium_init() < 0 || nats_Open(-1) != NATS_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
