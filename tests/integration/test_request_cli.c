/* test_request_cli.c - `vaultctl request` keeps secrets out of argv: the
 * value from stdin (-) or --value-file, the password from --pass-file or
 * $VAULTCTL_PASS_FILE (which win over --pass), and a warning whenever a
 * secret is given on the command line (other local users can read argv). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define VALUE   "sk_live_request_cli_canary"
#define WARNING "visible to other users"

static it_nats nats;
static it_vault vault;
static natsConnection *admin;
static char pass_file[400], value_file[400];

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, 0600);
}

static int setup(void **state)
{
    (void)state;
    if (it_up(&nats, &vault, NULL, &admin) != 0)
        return -1;
    snprintf(pass_file, sizeof pass_file, "%s/admin.pass", vault.dir);
    snprintf(value_file, sizeof value_file, "%s/value.txt", vault.dir);
    if (write_file(pass_file, IT_ADMIN_PASS "\n") != 0 || write_file(value_file, VALUE "\n") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_down(&nats, &vault, admin);
    return 0;
}

/* Runs `vaultctl request --server URL ARGS...` with stdin `in`. */
static int request(const char *in, char **out, char **err, const char *const *args)
{
    const char *argv[IT_ARGV_MAX];
    int n = 0;
    argv[n++] = "request";
    argv[n++] = "--server";
    argv[n++] = nats.url;
    argv[n++] = "--user";
    argv[n++] = IT_ADMIN_USER;
    for (int i = 0; args[i] != NULL && n < IT_ARGV_MAX - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return it_run_io(NULL, in, out, err, argv);
}

/* The stored value of key, read back over NATS. */
static void expect_stored(const char *key, const char *want)
{
    char p[256];
    snprintf(p, sizeof p, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    json_t *r = it_request(admin, "admin.requests", p, 10000, NULL);
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    assert_string_equal(json_string_value(json_object_get(r, "data")), want);
    json_decref(r);
}

static void test_value_from_stdin(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *args[] = {"--pass-file", pass_file, "admin.requests", "set", "cli/stdin",
                          "-",           NULL};
    assert_int_equal(request(VALUE "\n", &out, &err, args), 0);
    assert_non_null(strstr(out, "\"success\""));
    assert_null(strstr(err, WARNING)); /* nothing secret in argv */
    expect_stored("cli/stdin", VALUE);
    free(out);
    free(err);
}

static void test_value_file(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *args[] = {"--pass-file",    pass_file, "--value-file", value_file,
                          "admin.requests", "set",     "cli/file",     NULL};
    assert_int_equal(request(NULL, &out, &err, args), 0);
    assert_null(strstr(err, WARNING));
    expect_stored("cli/file", VALUE);
    free(out);
    free(err);
    /* VALUE and --value-file together: bad usage, nothing sent. */
    const char *both[] = {
        "--pass-file", pass_file, "--value-file", value_file, "admin.requests", "set", "cli/both",
        "x",           NULL};
    assert_int_equal(request(NULL, NULL, NULL, both), 2);
}

static void test_value_in_argv_warns(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *args[] = {"--pass-file", pass_file, "admin.requests", "set", "cli/argv",
                          VALUE,         NULL};
    assert_int_equal(request(NULL, &out, &err, args), 0);
    assert_non_null(strstr(err, "request: VALUE on the command line is " WARNING));
    assert_null(strstr(err, VALUE)); /* the warning does not repeat it */
    expect_stored("cli/argv", VALUE);
    free(out);
    free(err);
}

/* --pass warns; a password file (flag or environment) wins over it. */
static void test_pass_gives_way(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *args[] = {"--pass",         "wrong-password", "--pass-file", pass_file,
                          "admin.requests", "status",         NULL};
    assert_int_equal(request(NULL, &out, &err, args), 0);
    assert_non_null(strstr(err, "request: --pass on the command line is " WARNING));
    free(out);
    free(err);

    setenv("VAULTCTL_PASS_FILE", pass_file, 1);
    const char *env_args[] = {"--pass", "wrong-password", "admin.requests", "status", NULL};
    assert_int_equal(request(NULL, &out, &err, env_args), 0);
    free(out);
    free(err);
    const char *env_only[] = {"admin.requests", "status", NULL};
    assert_int_equal(request(NULL, &out, &err, env_only), 0);
    assert_null(strstr(err, WARNING));
    unsetenv("VAULTCTL_PASS_FILE");
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_from_stdin),
        cmocka_unit_test(test_value_file),
        cmocka_unit_test(test_value_in_argv_warns),
        cmocka_unit_test(test_pass_gives_way),
    };
    return cmocka_run_group_tests_name("request cli", tests, setup, teardown);
}
