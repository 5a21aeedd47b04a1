/* test_cli.c - the local command line (PROTOCOL.md section 5): the JSON it
 * prints and its exit codes (0 success, 1 error response, 2 bad usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char config[128];

typedef struct {
    int code;
    char out[65536];
    char err[8192];
} result;

static void slurp(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(fd, buf + n, cap - n - 1)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
}

/* Runs vaultctl with args (NULL-terminated), stdin from `in` (may be NULL). */
static void run(result *r, const char *in, ...)
{
    const char *argv[32];
    int n = 0, inp[2], outp[2], errp[2], status = 0;
    va_list ap;

    argv[n++] = VAULTCTL_BIN;
    va_start(ap, in);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(pipe(inp), 0);
    assert_int_equal(pipe(outp), 0);
    assert_int_equal(pipe(errp), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(inp[0], 0);
        dup2(outp[1], 1);
        dup2(errp[1], 2);
        close(inp[1]);
        close(outp[0]);
        close(errp[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(inp[0]);
    close(outp[1]);
    close(errp[1]);
    if (in != NULL)
        assert_int_equal(write(inp[1], in, strlen(in)), (ssize_t)strlen(in));
    close(inp[1]);
    slurp(outp[0], r->out, sizeof r->out);
    slurp(errp[0], r->err, sizeof r->err);
    close(outp[0]);
    close(errp[0]);
    waitpid(pid, &status, 0);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void write_config(const char *path, const char *key_path, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "nats:\n  url: nats://127.0.0.1:4222\n"
             "encryption:\n  master_key: %s\n"
             "storage:\n  path: %s/data\n"
             "limits:\n  max_value_bytes: 1024\n"
             "acl:\n  - subject: admin.requests\n    operations: [get]\n%s",
             key_path, dir, extra ? extra : "");
    write_file(path, text, 0600);
}

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb; (void)f; (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    result r;
    char key[128];
    (void)state;
    strcpy(dir, "/tmp/vaultctl-cli-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    run(&r, NULL, "keygen", NULL);
    if (r.code != 0)
        return -1;
    snprintf(key, sizeof key, "%s/master.key", dir);
    write_file(key, r.out, 0600);
    snprintf(config, sizeof config, "%s/config.yaml", dir);
    write_config(config, key, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
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
    result r;
    (void)state;
    run(&r, NULL, "keygen", NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(strlen(r.out), 45); /* 44 base64 chars + newline */
    run(&r, NULL, "keygen", "extra", NULL);
    assert_int_equal(r.code, 2);
}

static void test_round_trip(void **state)
{
    result r;
    json_t *j;
    (void)state;

    run(&r, NULL, "--config", config, "set", "app/token", "s3cr3t", NULL);
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meta"), "version")), 1);
    json_decref(j);

    run(&r, NULL, "get", "app/token", "--config", config, NULL); /* --config after */
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "s3cr3t");
    json_decref(j);

    run(&r, NULL, "--config", config, "set", "--json", "app/doc", "{\"a\":[1,2.5,\"x\"],\"b\":null}", NULL);
    assert_int_equal(r.code, 0);
    run(&r, NULL, "--config", config, "get", "app/doc", NULL);
    j = parse(&r);
    json_t *want = json_loads("{\"a\":[1,2.5,\"x\"],\"b\":null}", 0, NULL);
    assert_true(json_equal(json_object_get(j, "data"), want));
    json_decref(want);
    json_decref(j);

    run(&r, "from-stdin\n", "--config", config, "set", "app/stdin", "-", NULL);
    assert_int_equal(r.code, 0);
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
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "reencrypted")), 3);
    json_decref(j);

    run(&r, NULL, "--config", config, "status", NULL);
    assert_int_equal(r.code, 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "service")), "vaultctl");
    json_decref(j);

    run(&r, NULL, "--config", config, "delete", "app/stdin", NULL);
    assert_int_equal(r.code, 0);
}

static void test_error_exit_codes(void **state)
{
    result r;
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
}

static void test_master_key_errors(void **state)
{
    result r;
    char path[160], cfg[160], before[65536];
    (void)state;

    /* Missing key file: names the file, exit 1. */
    snprintf(cfg, sizeof cfg, "%s/missing.yaml", dir);
    snprintf(path, sizeof path, "%s/nope.key", dir);
    write_config(cfg, path, NULL);
    run(&r, NULL, "--config", cfg, "status", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, path));

    /* 31 bytes. */
    snprintf(path, sizeof path, "%s/short.key", dir);
    write_file(path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", 0600);
    write_config(cfg, path, NULL);
    run(&r, NULL, "--config", cfg, "status", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "31 bytes"));

    /* Not base64. */
    write_file(path, "this is not a key at all!!\n", 0600);
    run(&r, NULL, "--config", cfg, "status", NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, path));

    /* Another valid key: does not match the vault; data file unchanged. */
    char data[160];
    snprintf(data, sizeof data, "%s/data/data.mdb", dir);
    FILE *f = fopen(data, "rb");
    assert_non_null(f);
    size_t n1 = fread(before, 1, sizeof before, f);
    fclose(f);
    run(&r, NULL, "keygen", NULL);
    write_file(path, r.out, 0600);
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
}

static void test_config_errors(void **state)
{
    result r;
    char cfg[160];
    (void)state;
    snprintf(cfg, sizeof cfg, "%s/broken.yaml", dir);
    write_file(cfg,
               "nats:\n  url: nats://127.0.0.1:4222\n"
               "limits:\n  max_value_bytes: lots\n", 0600);
    run(&r, NULL, "--config", cfg, "serve", "--check", NULL);
    assert_int_equal(r.code, 1);
    char want[256];
    snprintf(want, sizeof want, "%s:4: limits.max_value_bytes", cfg);
    if (strstr(r.err, want) == NULL)
        fprintf(stderr, "stderr: %s\n", r.err);
    assert_non_null(strstr(r.err, want));

    run(&r, NULL, "--config", config, "serve", "--check", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "configuration OK"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_error_exit_codes),
        cmocka_unit_test(test_master_key_errors),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
