/* test_config.c - the YAML configuration: the seed file, every key, the
 * defaults, environment overrides and _FILE secrets, and one test per class
 * of error with its exact file, line and setting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

#define SEED                                                                                       \
    "nats:\n"                                                                                      \
    "  url: nats://nats-server:4222\n"                                                             \
    "  user: vault\n"                                                                              \
    "  pass: secret\n"                                                                             \
    "encryption:\n"                                                                                \
    "  master_key: /app/config/master.key\n"                                                       \
    "subjects:\n"                                                                                  \
    "  request: vault.requests\n"                                                                  \
    "  reply: vault.replies\n"                                                                     \
    "acl:\n"                                                                                       \
    "  - subject: admin.requests\n"                                                                \
    "    operations: [get, set, delete, list, rotate, status]\n"                                   \
    "  - subject: user.requests\n"                                                                 \
    "    operations: [get, set]\n"

static char *no_env[] = {NULL};

static vc_code load_env(const char *yaml, char **envp, config **c, vc_err *err)
{
    vc_err_clear(err);
    return config_load_string(c, "t.yaml", yaml, strlen(yaml), envp, err);
}

static config *load_ok_env(const char *yaml, char **envp)
{
    config *c = NULL;
    vc_err err;
    vc_code rc = load_env(yaml, envp, &c, &err);
    if (rc != VC_OK)
        fail_msg("unexpected error: %s", err.msg);
    assert_non_null(c);
    return c;
}

static config *load_ok(const char *yaml)
{
    return load_ok_env(yaml, no_env);
}

/* Loads yaml, expects VC_CONFIG whose message starts with prefix and holds
 * every further fragment (NULL-terminated); returns nothing. */
static void expect_err_env(const char *yaml, char **envp, const char *prefix, const char *fragment)
{
    config *c = (config *)(uintptr_t)1;
    vc_err err;
    vc_code rc = load_env(yaml, envp, &c, &err);
    if (rc != VC_CONFIG)
        fail_msg("expected VC_CONFIG with \"%s\", got %d \"%s\"", prefix, (int)rc, err.msg);
    assert_null(c);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err.msg, prefix);
    if (fragment != NULL && strstr(err.msg, fragment) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err.msg, fragment);
}

static void expect_err(const char *yaml, const char *prefix, const char *fragment)
{
    expect_err_env(yaml, no_env, prefix, fragment);
}

/* ---- good files ------------------------------------------------------- */

static void test_seed_loads(void **state)
{
    (void)state;
    config *c = load_ok(SEED);
    assert_string_equal(c->file, "t.yaml");
    assert_string_equal(c->nats_url, "nats://nats-server:4222");
    assert_string_equal(c->nats_user, "vault");
    assert_string_equal(c->nats_pass, "secret");
    assert_null(c->nats_token);
    assert_null(c->nats_creds);
    assert_null(c->nats_tls_ca);
    assert_null(c->nats_tls_cert);
    assert_null(c->nats_tls_key);
    assert_string_equal(c->nats_name, "vaultctl");
    assert_string_equal(c->master_key, "/app/config/master.key");
    assert_string_equal(c->subject_request, "vault.requests");
    assert_string_equal(c->subject_reply, "vault.replies");
    assert_int_equal(c->acl_count, 2);
    assert_string_equal(c->acl[0].subject, "admin.requests");
    assert_int_equal(c->acl[0].ops, OP_BIT(OP_GET) | OP_BIT(OP_SET) | OP_BIT(OP_DELETE) |
                                        OP_BIT(OP_LIST) | OP_BIT(OP_ROTATE) | OP_BIT(OP_STATUS));
    assert_string_equal(c->acl[1].subject, "user.requests");
    assert_int_equal(c->acl[1].ops, OP_BIT(OP_GET) | OP_BIT(OP_SET));
    /* defaults */
    assert_string_equal(c->storage_path, "/app/data");
    assert_int_equal(c->storage_map_size, 1024u * 1024u * 1024u);
    assert_int_equal(c->max_value_bytes, 256 * 1024); /* the documented defaults */
    assert_int_equal(c->history_max_versions, 10);
    assert_int_equal(c->max_request_bytes, 256 * 1024 + 65536);
    assert_int_equal(c->workers, 4);
    assert_string_equal(c->audit_subject, "vault.audit");
    assert_int_equal(c->audit_mode, AUDIT_BEST_EFFORT);
    assert_int_equal(c->audit_buffer, 4096);
    assert_int_equal(c->rotation_interval_s, 0);
    config_free(c);
}

static void test_all_keys(void **state)
{
    (void)state;
    config *c = load_ok("nats:\n"
                        "  url: \"tls://a:4222, tls://b:4222\"\n"
                        "  creds: /run/secrets/vault.creds\n"
                        "  name: vault-1\n"
                        "  tls:\n"
                        "    ca: /etc/ca.pem\n"
                        "    cert: /etc/cert.pem\n"
                        "    key: /etc/key.pem\n"
                        "encryption: {master_key: /k}\n"
                        "storage:\n"
                        "  path: /var/lib/vault\n"
                        "  map_size: 64MiB\n"
                        "subjects: {request: svc.in, reply: svc.out}\n"
                        "acl:\n"
                        "  - subject: \"admin.>\"\n"
                        "    operations:\n"
                        "      - get\n"
                        "      - status\n"
                        "  - subject: \"app.*.requests\"\n"
                        "    operations: \"*\"\n"
                        "  - subject: ops.requests\n"
                        "    operations: [all]\n"
                        "  - subject: nobody.requests\n"
                        "    operations: []\n"
                        "  - subject: one.requests\n"
                        "    operations: list\n"
                        "limits:\n"
                        "  max_value_bytes: 512KiB\n"
                        "  max_request_bytes: 600000\n"
                        "service: {workers: 16}\n"
                        "audit:\n"
                        "  subject: audit.events\n"
                        "  mode: required\n"
                        "  buffer: 100\n"
                        "rotation:\n"
                        "  interval: 24h\n");
    assert_string_equal(c->nats_url, "tls://a:4222, tls://b:4222");
    assert_null(c->nats_user);
    assert_null(c->nats_pass);
    assert_string_equal(c->nats_creds, "/run/secrets/vault.creds");
    assert_string_equal(c->nats_name, "vault-1");
    assert_string_equal(c->nats_tls_ca, "/etc/ca.pem");
    assert_string_equal(c->nats_tls_cert, "/etc/cert.pem");
    assert_string_equal(c->nats_tls_key, "/etc/key.pem");
    assert_string_equal(c->master_key, "/k");
    assert_string_equal(c->storage_path, "/var/lib/vault");
    assert_int_equal(c->storage_map_size, 64u * 1024 * 1024);
    assert_string_equal(c->subject_request, "svc.in");
    assert_string_equal(c->subject_reply, "svc.out");
    assert_int_equal(c->acl_count, 5);
    assert_string_equal(c->acl[0].subject, "admin.>");
    assert_int_equal(c->acl[0].ops, OP_BIT(OP_GET) | OP_BIT(OP_STATUS));
    assert_int_equal(c->acl[1].ops, OP_ALL_BITS);
    assert_int_equal(c->acl[2].ops, OP_ALL_BITS);
    assert_int_equal(c->acl[3].ops, 0);
    assert_int_equal(c->acl[4].ops, OP_BIT(OP_LIST));
    assert_int_equal(c->max_value_bytes, 512u * 1024);
    assert_int_equal(c->max_request_bytes, 600000);
    assert_int_equal(c->workers, 16);
    assert_string_equal(c->audit_subject, "audit.events");
    assert_int_equal(c->audit_mode, AUDIT_REQUIRED);
    assert_int_equal(c->audit_buffer, 100);
    assert_int_equal(c->rotation_interval_s, 86400);
    config_free(c);
}

static void test_token_and_empty_sections(void **state)
{
    (void)state;
    config *c = load_ok("nats:\n  token: s3cr3t-token\nstorage:\n"
                        "audit:\n  subject: \"\"\nacl: []\n");
    assert_string_equal(c->nats_token, "s3cr3t-token");
    assert_string_equal(c->storage_path, "/app/data");
    assert_string_equal(c->audit_subject, "");
    assert_int_equal(c->acl_count, 0);
    config_free(c);
}

static void test_max_request_default_capped(void **state)
{
    (void)state;
    config *c = load_ok("limits: {max_value_bytes: 1000000}\n");
    assert_int_equal(c->max_request_bytes, 1048576);
    config_free(c);
    c = load_ok("limits: {max_value_bytes: 1044480}\n"); /* 1 MiB - 4 KiB */
    assert_int_equal(c->max_value_bytes, 1044480);
    config_free(c);
    c = load_ok("limits: {max_value_bytes: 1000}\n");
    assert_int_equal(c->max_request_bytes, 1000 + 65536);
    config_free(c);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t s;
    } cases[] = {
        {"24h", 86400},  {"90m", 5400}, {"7d", 604800}, {"3600", 3600},     {"3600s", 3600},
        {"1h30m", 5400}, {"0", 0},      {"off", 0},     {"\"24h\"", 86400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "rotation:\n  interval: %s\n", cases[i].text);
        config *c = load_ok(yaml);
        if (c->rotation_interval_s != cases[i].s)
            fail_msg("%s: got %lld", cases[i].text, (long long)c->rotation_interval_s);
        config_free(c);
    }
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t v;
    } cases[] = {
        {"64MiB", 64u << 20},  {"64M", 64u << 20},        {"64MB", 64u << 20},
        {"64 MiB", 64u << 20}, {"2GiB", (size_t)2 << 30}, {"1G", 1u << 30},
        {"2097152", 2u << 20}, {"4096KiB", 4u << 20},     {"4096K", 4u << 20},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "storage:\n  map_size: %s\n", cases[i].text);
        config *c = load_ok(yaml);
        if (c->storage_map_size != cases[i].v)
            fail_msg("%s: got %zu", cases[i].text, c->storage_map_size);
        config_free(c);
    }
}

/* ---- environment ------------------------------------------------------ */

static void test_env_overrides_file(void **state)
{
    (void)state;
    char *env[] = {
        "PATH=/bin",
        "VAULTCTL_NATS_URL=nats://env:4222",
        "VAULTCTL_NATS_USER=envuser",
        "VAULTCTL_NATS_PASS=envpass",
        "VAULTCTL_NATS_NAME=env-name",
        "VAULTCTL_NATS_TLS_CA=/ca.pem",
        "VAULTCTL_ENCRYPTION_MASTER_KEY=/env/master.key",
        "VAULTCTL_STORAGE_PATH=/env/data",
        "VAULTCTL_STORAGE_MAP_SIZE=2GiB",
        "VAULTCTL_SUBJECTS_REQUEST=env.req",
        "VAULTCTL_SUBJECTS_REPLY=env.rep",
        "VAULTCTL_LIMITS_MAX_VALUE_BYTES=1024",
        "VAULTCTL_LIMITS_MAX_REQUEST_BYTES=4096",
        "VAULTCTL_SERVICE_WORKERS=8",
        "VAULTCTL_AUDIT_SUBJECT=env.audit",
        "VAULTCTL_AUDIT_MODE=required",
        "VAULTCTL_AUDIT_BUFFER=10",
        "VAULTCTL_ROTATION_INTERVAL=7d",
        "VAULTCTL_CONFIG=/ignored/here.yaml",
        NULL,
    };
    config *c = load_ok_env(SEED "service: {workers: 2}\n", env);
    assert_string_equal(c->nats_url, "nats://env:4222");
    assert_string_equal(c->nats_user, "envuser");
    assert_string_equal(c->nats_pass, "envpass");
    assert_string_equal(c->nats_name, "env-name");
    assert_string_equal(c->nats_tls_ca, "/ca.pem");
    assert_string_equal(c->master_key, "/env/master.key");
    assert_string_equal(c->storage_path, "/env/data");
    assert_int_equal(c->storage_map_size, (size_t)2 << 30);
    assert_string_equal(c->subject_request, "env.req");
    assert_string_equal(c->subject_reply, "env.rep");
    assert_int_equal(c->max_value_bytes, 1024);
    assert_int_equal(c->max_request_bytes, 4096);
    assert_int_equal(c->workers, 8);
    assert_string_equal(c->audit_subject, "env.audit");
    assert_int_equal(c->audit_mode, AUDIT_REQUIRED);
    assert_int_equal(c->audit_buffer, 10);
    assert_int_equal(c->rotation_interval_s, 7 * 86400);
    assert_int_equal(c->acl_count, 2); /* the file's ACL stays */
    config_free(c);
}

static void test_env_switch_to_token(void **state)
{
    (void)state;
    /* An empty variable unsets the file's setting. */
    char *env[] = {"VAULTCTL_NATS_USER=", "VAULTCTL_NATS_PASS=", "VAULTCTL_NATS_TOKEN=tok", NULL};
    config *c = load_ok_env(SEED, env);
    assert_null(c->nats_user);
    assert_null(c->nats_pass);
    assert_string_equal(c->nats_token, "tok");
    config_free(c);
}

/* Writes content to a new file under dir; returns its malloc'd path. */
static char *write_temp(const char *dir, const char *name, const char *content)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    assert_int_equal(tu_write_text(path, content), 0);
    return path;
}

static void test_env_secret_file(void **state)
{
    (void)state;
    char dir[TU_DIR_MAX];
    assert_non_null(tu_tmpdir(dir, sizeof dir, "test_config"));
    char *pass = write_temp(dir, "pass", "from-file\n");
    char *tok = write_temp(dir, "tok", "tok-from-file\r\n");
    char *var = NULL, *var2 = NULL;
    assert_true(asprintf(&var, "VAULTCTL_NATS_PASS_FILE=%s", pass) > 0);
    assert_true(asprintf(&var2, "VAULTCTL_NATS_TOKEN_FILE=%s", tok) > 0);

    char *env[] = {var, NULL};
    config *c = load_ok_env(SEED, env);
    assert_string_equal(c->nats_pass, "from-file"); /* newline stripped */
    config_free(c);

    char *env2[] = {"VAULTCTL_NATS_USER=", var2, NULL};
    c = load_ok_env("nats: {url: \"nats://x:1\"}\n", env2);
    assert_string_equal(c->nats_token, "tok-from-file");
    config_free(c);

    /* X and X_FILE together. */
    char *both[] = {"VAULTCTL_NATS_PASS=other", var, NULL};
    expect_err_env(SEED, both,
                   "environment VAULTCTL_NATS_PASS and "
                   "VAULTCTL_NATS_PASS_FILE: ",
                   "only one");

    /* An unreadable file names the variable and the file. */
    char *missing = NULL, *mvar = NULL;
    assert_true(asprintf(&missing, "%s/nope", dir) > 0);
    assert_true(asprintf(&mvar, "VAULTCTL_NATS_PASS_FILE=%s", missing) > 0);
    char *env3[] = {mvar, NULL};
    char want[512];
    snprintf(want, sizeof want, "environment VAULTCTL_NATS_PASS_FILE: %s: cannot open: ", missing);
    expect_err_env(SEED, env3, want, "No such file");

    /* An empty file is a mistake, not an empty password. */
    char *empty = write_temp(dir, "empty", "\n");
    char *evar = NULL;
    assert_true(asprintf(&evar, "VAULTCTL_NATS_PASS_FILE=%s", empty) > 0);
    char *env4[] = {evar, NULL};
    expect_err_env(SEED, env4, "environment VAULTCTL_NATS_PASS_FILE: ", "is empty");

    assert_int_equal(tu_rmtree(dir), 0);
    free(pass);
    free(tok);
    free(empty);
    free(missing);
    free(var);
    free(var2);
    free(mvar);
    free(evar);
}

static void test_env_errors(void **state)
{
    (void)state;
    char *bad[] = {"VAULTCTL_SERVICE_WORKERS=x", NULL};
    config *c = (config *)(uintptr_t)1;
    vc_err err;
    assert_int_equal(load_env(SEED, bad, &c, &err), VC_CONFIG);
    assert_null(c);
    assert_string_equal(err.msg, "environment VAULTCTL_SERVICE_WORKERS: "
                                 "expected an integer 1..256, got \"x\"");

    char *typo[] = {"VAULTCTL_NATS_URLS=nats://x:1", NULL};
    expect_err_env(SEED, typo, "environment \"VAULTCTL_NATS_URLS\": ", "unknown setting");
    char *acl[] = {"VAULTCTL_ACL_0_SUBJECT=x", NULL};
    expect_err_env(SEED, acl, "environment \"VAULTCTL_ACL_0_SUBJECT\": ", "unknown setting");
    char *url_file[] = {"VAULTCTL_NATS_URL_FILE=/x", NULL};
    expect_err_env(SEED, url_file, "environment \"VAULTCTL_NATS_URL_FILE\"", "unknown setting");
    char *empty[] = {"VAULTCTL_STORAGE_PATH=", NULL};
    expect_err_env(SEED, empty, "environment VAULTCTL_STORAGE_PATH: ", "must not be empty");
    char *mode[] = {"VAULTCTL_AUDIT_MODE=maybe", NULL};
    expect_err_env(SEED, mode, "environment VAULTCTL_AUDIT_MODE: ", "best_effort or required");

    /* Variables outside our sections are none of our business. */
    char *other[] = {"VAULTCTL_LOG_LEVEL=debug", "HOME=/root", NULL};
    c = load_ok_env(SEED, other);
    assert_false(c->log_requests); /* the default */
    config_free(c);

    /* log.requests: the file, the environment, and nothing but true/false. */
    char *on[] = {"VAULTCTL_LOG_REQUESTS=true", NULL};
    c = load_ok_env(SEED, on);
    assert_true(c->log_requests);
    config_free(c);
    char *yes[] = {"VAULTCTL_LOG_REQUESTS=yes", NULL};
    expect_err_env(SEED, yes, "environment VAULTCTL_LOG_REQUESTS: ", "true or false");
    char *typo_log[] = {"VAULTCTL_LOG_REQUEST=true", NULL};
    expect_err_env(SEED, typo_log, "environment \"VAULTCTL_LOG_REQUEST\"", "unknown setting");
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%slog:\n  requests: true\n", SEED);
    c = load_ok_env(yaml, NULL);
    assert_true(c->log_requests);
    config_free(c);
}

static void test_auth_cross_checks(void **state)
{
    (void)state;
    expect_err("nats:\n  url: nats://x:1\n  user: vault\n",
               "t.yaml:3: nats.user: ", "without nats.pass");
    expect_err("nats:\n  pass: hunter2\n", "t.yaml:2: nats.pass: ", "without nats.user");
    char *env[] = {"VAULTCTL_NATS_TOKEN=tok", NULL};
    expect_err_env(SEED, env, "environment VAULTCTL_NATS_TOKEN: ", "together with nats.user");
    expect_err("nats:\n  token: t\n  creds: /c\n",
               "t.yaml:3: nats.creds: ", "together with nats.token");
    expect_err("nats:\n  tls: {cert: /c}\n", "t.yaml:2: nats.tls.cert: ", "without nats.tls.key");
    expect_err("limits:\n  max_value_bytes: 10000\n  max_request_bytes: 9000\n",
               "t.yaml:3: limits.max_request_bytes: ", "at least limits.max_value_bytes");
}

/* ---- one test per error class ----------------------------------------- */

static void test_err_syntax(void **state)
{
    (void)state;
    expect_err("nats:\n  url: nats://x:1\n  user: [vault\nacl: []\n", "t.yaml:4: YAML syntax error",
               NULL);
    expect_err("nats:\n  url: a\n url2: b\n", "t.yaml:3: YAML syntax error", NULL);
    expect_err("acl:\n  - subject: x\n    operations: [*]\n", "t.yaml:3: YAML syntax error", NULL);
    /* invalid UTF-8: a reader error, still with its line */
    expect_err("nats:\n  name: \"a\xff\"\n", "t.yaml:2: YAML syntax error", NULL);
}

static void test_err_unknown_key(void **state)
{
    (void)state;
    expect_err(SEED "storage:\n  paht: /data\n", "t.yaml:16: storage.paht: unknown setting",
               "path, map_size");
    expect_err("nats:\n  tls:\n    ca: /a\n    crt: /b\n",
               "t.yaml:4: nats.tls.crt: unknown setting", NULL);
    expect_err("nats: {}\nsecrets: {}\n", "t.yaml:2: secrets: unknown section", "nats, encryption");
    expect_err(SEED "  - subject: x.y\n    operations: [get]\n    ops: [set]\n",
               "t.yaml:17: acl[2].ops: unknown setting", NULL);
}

static void test_err_wrong_type(void **state)
{
    (void)state;
    expect_err("nats:\n  url:\n    host: x\n",
               "t.yaml:3: nats.url: expected a string, got a mapping", NULL);
    expect_err("nats: nats://x:1\n", "t.yaml:1: nats: expected a mapping, got a single value",
               NULL);
    expect_err("acl:\n  subject: x\n", "t.yaml:2: acl: expected a list", NULL);
    expect_err("acl:\n  - x.y\n", "t.yaml:2: acl[0]: expected a mapping", NULL);
    expect_err("service:\n  workers: [1, 2]\n",
               "t.yaml:2: service.workers: expected an integer 1..256, got a "
               "list",
               NULL);
    expect_err("- a\n- b\n", "t.yaml:1: expected a mapping of sections", NULL);
    expect_err("acl:\n  - subject: x\n    operations: {get: yes}\n",
               "t.yaml:3: acl[0].operations: expected a list", NULL);
    expect_err("acl:\n  - subject: x\n    operations: [[get]]\n",
               "t.yaml:3: acl[0].operations[0]: expected an operation name", NULL);
}

static void test_err_bad_operation(void **state)
{
    (void)state;
    expect_err(SEED "  - subject: x.y\n    operations: [get, gett]\n",
               "t.yaml:16: acl[2].operations[1]: unknown operation \"gett\"", NULL);
    expect_err("acl:\n  - subject: x.y\n    operations:\n      - get\n"
               "      - erase\n",
               "t.yaml:5: acl[0].operations[1]: unknown operation \"erase\"", NULL);
    expect_err("acl:\n  - subject: x.y\n",
               "t.yaml:2: acl[0]: missing "
               "operations",
               NULL);
    expect_err("acl:\n  - operations: [get]\n",
               "t.yaml:2: acl[0]: missing "
               "subject",
               NULL);
}

static void test_err_bad_subject(void **state)
{
    (void)state;
    expect_err(SEED "  - subject: \"a..b\"\n    operations: [get]\n",
               "t.yaml:15: acl[2].subject: not a valid NATS subject: "
               "\"a..b\"",
               NULL);
    expect_err("acl:\n  - subject: \"a.>.b\"\n    operations: [get]\n",
               "t.yaml:2: acl[0].subject: not a valid NATS subject", NULL);
    expect_err("acl:\n  - subject: \"\"\n    operations: [get]\n",
               "t.yaml:2: acl[0].subject: must not be empty", NULL);
    expect_err(SEED "  - subject: admin.requests\n    operations: [get]\n",
               "t.yaml:15: acl[2].subject: acl[0] already has subject", NULL);
    expect_err("acl:\n  - subject: \">\"\n    operations: [get]\n",
               "t.yaml:2: acl[0].subject: \">\" also covers _INBOX.> or $SRV.>", NULL);
    expect_err("acl:\n  - subject: \"*.*\"\n    operations: [get]\n",
               "t.yaml:2: acl[0].subject: ", "also covers");
    expect_err("subjects:\n  request: \"a b\"\n",
               "t.yaml:2: subjects.request: not a valid NATS subject", NULL);
    expect_err("subjects:\n  reply: \"vault.*\"\n",
               "t.yaml:2: subjects.reply: ", "without wildcards");
    expect_err("audit:\n  subject: \"audit.>\"\n",
               "t.yaml:2: audit.subject: ", "without wildcards");
}

static void test_err_bad_integer(void **state)
{
    (void)state;
    expect_err("limits:\n  max_value_bytes: lots\n",
               "t.yaml:2: limits.max_value_bytes: expected a size in bytes", "got \"lots\"");
    expect_err("service:\n  workers: 4.5\n",
               "t.yaml:2: service.workers: expected an integer 1..256, got "
               "\"4.5\"",
               NULL);
    expect_err("audit:\n  buffer: -1\n",
               "t.yaml:2: audit.buffer: expected "
               "an integer",
               NULL);
    expect_err("storage:\n  map_size: 64XB\n", "t.yaml:2: storage.map_size: expected a size", NULL);
    expect_err("storage:\n  map_size: 99999999999999999999999\n",
               "t.yaml:2: storage.map_size: expected a size", NULL);
}

static void test_err_out_of_range(void **state)
{
    (void)state;
    expect_err("limits:\n  max_value_bytes: 2MiB\n",
               "t.yaml:2: limits.max_value_bytes: expected a size in bytes "
               "(1 byte..1020 KiB",
               "got \"2MiB\"");
    expect_err("limits:\n  max_value_bytes: 0\n", "t.yaml:2: limits.max_value_bytes: expected",
               NULL);
    expect_err("limits:\n  max_request_bytes: 2MiB\n",
               "t.yaml:2: limits.max_request_bytes: expected", NULL);
    expect_err("\n\nservice:\n  workers: 257\n",
               "t.yaml:4: service.workers: expected an integer 1..256, got "
               "\"257\"",
               NULL);
    expect_err("service:\n  workers: 0\n", "t.yaml:2: service.workers: ", NULL);
    expect_err("storage:\n  map_size: 4KiB\n",
               "t.yaml:2: storage.map_size: expected a size in bytes (1 MiB", NULL);
}

static void test_err_duplicate_key(void **state)
{
    (void)state;
    expect_err("nats:\n  url: nats://a:1\n  name: x\n  url: nats://b:1\n",
               "t.yaml:4: nats.url: duplicate key (first at line 2)", NULL);
    expect_err(SEED "nats:\n  name: x\n", "t.yaml:15: nats: duplicate key (first at line 1)", NULL);
    expect_err("acl:\n  - subject: a\n    subject: b\n    operations: []\n",
               "t.yaml:3: acl[0].subject: duplicate key (first at line 2)", NULL);
}

static void test_err_audit_mode(void **state)
{
    (void)state;
    expect_err("audit:\n  subject: a.b\n  mode: always\n",
               "t.yaml:3: audit.mode: expected best_effort or required, got "
               "\"always\"",
               NULL);
}

static void test_err_bad_interval(void **state)
{
    (void)state;
    static const char *bad[] = {"soon", "24", "h", "5x", "-1h", "1.5h", "99999d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[128];
        if (strcmp(bad[i], "24") == 0)
            continue; /* plain seconds are valid */
        snprintf(yaml, sizeof yaml, "# rotation\nrotation:\n  interval: %s\n", bad[i]);
        expect_err(yaml, "t.yaml:3: rotation.interval: expected a duration", NULL);
    }
}

static void test_err_empty_and_misc(void **state)
{
    (void)state;
    expect_err("", "t.yaml:1: no settings", NULL);
    expect_err("# only a comment\n", "t.yaml:1: no settings", NULL);
    expect_err("nats:\n  url: \"\"\n", "t.yaml:2: nats.url: must not be empty", NULL);
    expect_err("encryption:\n  master_key:\n", "t.yaml:2: encryption.master_key: must not be empty",
               NULL);
    expect_err("nats: {url: \"nats://a:1,,nats://b:1\"}\n", "t.yaml:1: nats.url: ", "is empty");
    expect_err("nats: {}\n---\nacl: []\n", "t.yaml:3: a second YAML document", NULL);
    expect_err("nats:\n  name: \"a\\0b\"\n", "t.yaml:2: nats.name: invalid: contains a NUL byte",
               NULL);
}

static void test_secret_never_in_errors(void **state)
{
    (void)state;
    static const char *const files[] = {
        "nats:\n  user: u\n  pass: \"hunter2\\0x\"\n",
        "nats:\n  pass: hunter2\n",
        "nats:\n  token: hunter2\n  user: u\n  pass: p\n",
        "nats:\n  token: hunter2\n  tokn: x\n",
        "nats:\n  pass: hunter2\n  pass: hunter2\n",
        "nats:\n  token: [hunter2]\n",
        "nats:\n  token: \"hunter2\n",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        config *c = NULL;
        vc_err err;
        assert_int_equal(load_env(files[i], no_env, &c, &err), VC_CONFIG);
        if (strstr(err.msg, "hunter2") != NULL)
            fail_msg("secret in \"%s\"", err.msg);
    }
    char *env[] = {"VAULTCTL_NATS_TOKEN=hunter2\001",
                   "VAULTCTL_NATS_USER=", "VAULTCTL_NATS_PASS=", NULL};
    config *c = load_ok_env(SEED, env); /* odd bytes are the server's call */
    config_free(c);
    char *env2[] = {"VAULTCTL_NATS_TOKEN=hunter2", NULL};
    vc_err err;
    assert_int_equal(load_env(SEED, env2, &c, &err), VC_CONFIG);
    assert_null(strstr(err.msg, "hunter2"));
}

static void test_describe(void **state)
{
    (void)state;
    config *c = load_ok(SEED "rotation: {interval: 90m}\n"
                             "storage: {map_size: 64MiB}\n");
    char *d = config_describe(c);
    assert_non_null(d);
    assert_null(strstr(d, "secret"));
    assert_non_null(strstr(d, "user vault, password set"));
    assert_non_null(strstr(d, "nats://nats-server:4222"));
    assert_non_null(strstr(d, "admin.requests: get, set, delete, list, "
                              "rotate, status"));
    assert_non_null(strstr(d, "user.requests: get, set"));
    assert_non_null(strstr(d, "vault.requests"));
    assert_non_null(strstr(d, "64 MiB"));
    assert_non_null(strstr(d, "every 90m"));
    assert_non_null(strstr(d, "4 workers"));
    free(d);
    config_free(c);

    /* A password or token inside a URL is hidden as well. */
    c = load_ok("nats:\n  url: \"nats://bob:hunter2@a:4222,nats://tok9@b:1\"\n"
                "  token: hunter3\n");
    d = config_describe(c);
    assert_non_null(d);
    assert_null(strstr(d, "hunter2"));
    assert_null(strstr(d, "hunter3"));
    assert_null(strstr(d, "tok9"));
    assert_non_null(strstr(d, "nats://bob:(password hidden)@a:4222"));
    assert_non_null(strstr(d, "token set"));
    assert_non_null(strstr(d, "rotation:   off"));
    free(d);
    config_free(c);
    assert_null(config_describe(NULL));
}

static void test_config_load_file(void **state)
{
    (void)state;
    char dir[TU_DIR_MAX];
    assert_non_null(tu_tmpdir(dir, sizeof dir, "test_config"));
    char *path = write_temp(dir, "config.yaml", SEED);
    char *var = NULL;
    assert_true(asprintf(&var, "VAULTCTL_CONFIG=%s", path) > 0);
    config *c = NULL;
    vc_err err;

    assert_int_equal(config_load(&c, path, no_env, &err), VC_OK);
    assert_string_equal(c->file, path);
    assert_string_equal(c->nats_user, "vault");
    config_free(c);

    char *env[] = {var, NULL};
    assert_int_equal(config_load(&c, NULL, env, &err), VC_OK);
    assert_string_equal(c->file, path);
    config_free(c);

    char *missing = NULL, *want = NULL;
    assert_true(asprintf(&missing, "%s/none.yaml", dir) > 0);
    assert_true(asprintf(&want, "%s: cannot read: No such file or directory", missing) > 0);
    assert_int_equal(config_load(&c, missing, env, &err), VC_CONFIG);
    assert_null(c);
    assert_string_equal(err.msg, want);
    assert_int_equal(config_load(&c, dir, env, &err), VC_CONFIG);
    assert_non_null(strstr(err.msg, ": cannot read: Is a directory"));

    /* An error in a real file names that file. */
    char *bad = write_temp(dir, "bad.yaml", "nats:\n  usr: x\n");
    char *want2 = NULL;
    assert_true(asprintf(&want2, "%s:2: nats.usr: unknown setting", bad) > 0);
    assert_int_equal(config_load(&c, bad, no_env, &err), VC_CONFIG);
    assert_int_equal(strncmp(err.msg, want2, strlen(want2)), 0);

    assert_int_equal(tu_rmtree(dir), 0);
    free(path);
    free(bad);
    free(var);
    free(missing);
    free(want);
    free(want2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_loads),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_token_and_empty_sections),
        cmocka_unit_test(test_max_request_default_capped),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_env_overrides_file),
        cmocka_unit_test(test_env_switch_to_token),
        cmocka_unit_test(test_env_secret_file),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_auth_cross_checks),
        cmocka_unit_test(test_err_syntax),
        cmocka_unit_test(test_err_unknown_key),
        cmocka_unit_test(test_err_wrong_type),
        cmocka_unit_test(test_err_bad_operation),
        cmocka_unit_test(test_err_bad_subject),
        cmocka_unit_test(test_err_bad_integer),
        cmocka_unit_test(test_err_out_of_range),
        cmocka_unit_test(test_err_duplicate_key),
        cmocka_unit_test(test_err_audit_mode),
        cmocka_unit_test(test_err_bad_interval),
        cmocka_unit_test(test_err_empty_and_misc),
        cmocka_unit_test(test_secret_never_in_errors),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_config_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
