/* test_cli.c - the local command line (README.md, "Command line") run as a
 * user runs it, the real binary on a store in a temp dir (no NATS): the
 * JSON it prints and its exit codes (0 success, 1 error response, 2 bad
 * usage), master key and configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "testutil.h"

/* The store of every test: it_vault_init's config (master key, data/) with
 * a small value limit; the service is never started. */
static it_vault vt;
static const char *dir = vt.dir, *config = vt.config;

typedef struct {
    int code;
    char *out; /* stdout and stderr of the last run, malloc'd */
    char *err;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs vaultctl with args (NULL-terminated), stdin from `in` (NULL: empty),
 * into r (its previous output freed). */
static void run(result *r, const char *in, ...)
{
    const char *args[IT_ARGV_MAX];
    int n = 0;
    va_list ap;

    va_start(ap, in);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < IT_ARGV_MAX - 1;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    result_free(r);
    r->code = it_run_io(NULL, in != NULL ? in : "", &r->out, &r->err, args);
    assert_non_null(r->out);
    assert_non_null(r->err);
}

static void write_config(const char *path, const char *key_path)
{
    char text[2048];
    snprintf(text, sizeof text,
             "nats:\n  url: nats://127.0.0.1:4222\n"
             "encryption:\n  master_key: %s\n"
             "storage:\n  path: %s/data\n"
             "limits:\n  max_value_bytes: 1024\n"
             "acl:\n  - subject: admin.requests\n    operations: [get]\n",
             key_path, dir);
    assert_int_equal(tu_write_text(path, text), 0);
}

static int setup(void **state)
{
    (void)state;
    return it_vault_init(&vt, NULL, "limits:\n  max_value_bytes: 1024\n");
}

static int teardown(void **state)
{
    (void)state;
    it_vault_destroy(&vt);
    return 0;
}

static json_t *parse(const result *r)
{
    json_t *j = json_loads(r->out, 0, NULL);
    if (j == NULL)
        fprintf(stderr, "not JSON: [%s] stderr [%s]\n", r->out, r->err);
    assert_non_null(j);
    return j;
}

static void test_keygen(void **state)
{
    result r = {0};
    (void)state;
    run(&r, NULL, "keygen", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(strlen(r.out), 45); /* 44 base64 chars + newline */
    run(&r, NULL, "keygen", "extra", NULL);
    assert_int_equal(r.code, 2);
    result_free(&r);
}

static void test_round_trip(void **state)
{
    result r = {0};
    json_t *j;
    (void)state;

    run(&r, NULL, "--config", config, "set", "app/token", "s3cr3t", NULL);
    assert_int_equal(r.code, 0);
    /* A value in argv works, with a warning that does not repeat it. */
    assert_non_null(strstr(r.err, "set: VALUE on the command line is visible to other users"));
    assert_null(strstr(r.err, "s3cr3t"));
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meta"), "version")), 1);
    json_decref(j);

    run(&r, NULL, "get", "app/token", "--config", config, NULL); /* --config after */
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "s3cr3t");
    json_decref(j);

    run(&r, NULL, "--config", config, "set", "--json", "app/doc",
        "{\"a\":[1,2.5,\"x\"],\"b\":null}", NULL);
    assert_int_equal(r.code, 0);
    run(&r, NULL, "--config", config, "get", "app/doc", NULL);
    j = parse(&r);
    json_t *want = json_loads("{\"a\":[1,2.5,\"x\"],\"b\":null}", 0, NULL);
    assert_true(json_equal(json_object_get(j, "data"), want));
    json_decref(want);
    json_decref(j);

    run(&r, "from-stdin\n", "--config", config, "set", "app/stdin", "-", NULL);
    assert_int_equal(r.code, 0);
    assert_null(strstr(r.err, "visible to other users")); /* stdin: no warning */
    run(&r, NULL, "--config", config, "get", "app/stdin", NULL);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "from-stdin");
    json_decref(j);

    run(&r, NULL, "--config", config, "list", "app/", NULL);
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 3);
    json_decref(j);

    run(&r, NULL, "--config", config, "rotate", NULL);
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "reencrypted")),
                     3);
    json_decref(j);

    run(&r, NULL, "--config", config, "status", NULL);
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "service")),
                        "vaultctl");
    json_decref(j);

    run(&r, NULL, "--config", config, "delete", "app/stdin", NULL);
    assert_int_equal(r.code, 0);
    result_free(&r);
}

static void test_error_exit_codes(void **state)
{
    result r = {0};
    json_t *j;
    (void)state;

    run(&r, NULL, "--config", config, "get", "does/not/exist", NULL);
    assert_int_equal(r.code, 1);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "not_found");
    json_decref(j);

    run(&r, NULL, "--config", config, "delete", "does/not/exist", NULL);
    assert_int_equal(r.code, 1);

    char big[2048];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    run(&r, NULL, "--config", config, "set", "big", big, NULL);
    assert_int_equal(r.code, 1);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "too_large");
    json_decref(j);

    run(&r, NULL, "--config", config, "get", "bad\x01key", NULL);
    assert_int_equal(r.code, 1);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "bad_request");
    json_decref(j);

    /* Bad usage: exit 2. */
    run(&r, NULL, "--config", config, "get", NULL);
    assert_int_equal(r.code, 2);
    run(&r, NULL, "--config", config, "set", "k", NULL);
    assert_int_equal(r.code, 2);
    run(&r, NULL, "--config", config, "set", "--json", "k", "{not json", NULL);
    assert_int_equal(r.code, 2);
    run(&r, NULL, "frobnicate", NULL);
    assert_int_equal(r.code, 2);
    run(&r, NULL, NULL);
    assert_int_equal(r.code, 2);
    run(&r, NULL, "request", NULL);
    assert_int_equal(r.code, 2);
    result_free(&r);
}

static void test_master_key_errors(void **state)
{
    result r = {0};
    char path[320], cfg[320], before[65536];
    (void)state;

    /* Missing key file: names the file, exit 1. */
    assert_non_null(tu_path(cfg, sizeof cfg, dir, "missing.yaml"));
    assert_non_null(tu_path(path, sizeof path, dir, "nope.key"));
    write_config(cfg, path);
    run(&r, NULL, "--config", cfg, "status", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, path));

    /* 31 bytes. */
    assert_non_null(tu_path(path, sizeof path, dir, "short.key"));
    assert_int_equal(tu_write_text(path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"), 0);
    write_config(cfg, path);
    run(&r, NULL, "--config", cfg, "status", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "31 bytes"));

    /* Not base64. */
    assert_int_equal(tu_write_text(path, "this is not a key at all!!\n"), 0);
    run(&r, NULL, "--config", cfg, "status", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, path));

    /* Another valid key: does not match the vault; data file unchanged. */
    char data[320];
    assert_non_null(tu_path(data, sizeof data, dir, "data/data.mdb"));
    FILE *f = fopen(data, "rb");
    assert_non_null(f);
    size_t n1 = fread(before, 1, sizeof before, f);
    fclose(f);
    run(&r, NULL, "keygen", NULL);
    assert_int_equal(tu_write_text(path, r.out), 0);
    run(&r, NULL, "--config", cfg, "get", "app/token", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "does not match"));
    assert_string_equal(r.out, "");
    static char after[65536];
    f = fopen(data, "rb");
    size_t n2 = fread(after, 1, sizeof after, f);
    fclose(f);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    result_free(&r);
}

static void test_config_errors(void **state)
{
    result r = {0};
    char cfg[320];
    (void)state;
    assert_non_null(tu_path(cfg, sizeof cfg, dir, "broken.yaml"));
    assert_int_equal(tu_write_text(cfg, "nats:\n  url: nats://127.0.0.1:4222\n"
                                        "limits:\n  max_value_bytes: lots\n"),
                     0);
    run(&r, NULL, "--config", cfg, "serve", "--check", NULL);
    assert_int_equal(r.code, 1);
    char want[400];
    snprintf(want, sizeof want, "%s:4: limits.max_value_bytes", cfg);
    if (strstr(r.err, want) == NULL)
        fprintf(stderr, "stderr: %s\n", r.err);
    assert_non_null(strstr(r.err, want));

    run(&r, NULL, "--config", config, "serve", "--check", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "configuration OK"));
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen),           cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_error_exit_codes), cmocka_unit_test(test_master_key_errors),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
