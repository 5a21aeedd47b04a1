/* test_verify.c - damaged records with the real binary (issue 11 item 8):
 * one record's sealed bytes are damaged straight in the store (store.h);
 * `vaultctl verify` prints it by record hash and exits 1 (0 when clean),
 * `list` and `rotate` (local, and over NATS against `vaultctl serve`) skip it
 * and say so, the warnings name the record hash and never the name or value,
 * and `vaultctl delete --hash` removes it (exit 2 on malformed hex, 1 when
 * absent); then verify is clean and the next rotation drops the old keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "seal.h"
#include "store.h"

#define SECRET      "sk-canary-7f3a9"
#define DAMAGED_KEY "team/billing-token"

static it_nats nats;
static it_vault vt;
static natsConnection *admin;

/* ---- helpers ---- */

typedef struct {
    int code;
    char *out;
    char *err;
} cli_result;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    int c;
    if (f == NULL)
        return strdup("");
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* Runs vaultctl --config vt.config ARGS..., stdout and stderr captured. */
static void cli(cli_result *r, const char *const *args)
{
    const char *argv[IT_ARGV_MAX];
    char out_path[400], err_path[400];
    int status = 0;

    snprintf(out_path, sizeof out_path, "%s/cli.out", vt.dir);
    snprintf(err_path, sizeof err_path, "%s/cli.err", vt.dir);
    it_argv(argv, vt.config, args);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = read_file(out_path);
    r->err = read_file(err_path);
}

static void cli_free(cli_result *r)
{
    free(r->out);
    free(r->err);
}

/* Neither the damaged record's name nor any value in what was printed. */
static void no_secrets(const char *text)
{
    assert_null(strstr(text, DAMAGED_KEY));
    assert_null(strstr(text, SECRET));
}

static json_t *parse_line(const char *line, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    if (j == NULL)
        fail_msg("not JSON: %.*s", (int)len, line);
    return j;
}

/* The lines of out as JSON values; returns how many (at most cap). */
static size_t json_lines(const char *out, json_t **lines, size_t cap)
{
    size_t n = 0;
    const char *p = out;
    while (*p != '\0' && n < cap) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        lines[n++] = parse_line(p, len);
        p += len + (nl != NULL);
    }
    return n;
}

static json_int_t data_int(const json_t *j, const char *field)
{
    const json_t *v = json_object_get(json_object_get(j, "data"), field);
    if (!json_is_integer(v))
        fail_msg("data.%s missing", field);
    return json_integer_value(v);
}

static void set_key(const char *name, const char *value)
{
    cli_result r;
    const char *args[] = {"set", name, value, NULL};
    cli(&r, args);
    assert_int_equal(r.code, 0);
    cli_free(&r);
}

/* The record hash of name, from the store's keyring opened with the
 * vault's master key file; no vaultctl process may write meanwhile. */
static void record_hash(const char *name, uint8_t out[SEAL_HASH_BYTES], char hex[65])
{
    char path[400];
    seal_master *m = NULL;
    store *s = NULL;
    store_txn *t = NULL;
    seal_keyring *k = NULL;
    const uint8_t *blob;
    size_t len;
    vc_err err;

    assert_int_equal(seal_init(&err), VC_OK);
    snprintf(path, sizeof path, "%s/master.key", vt.dir);
    assert_int_equal(seal_master_load(&m, path, NULL, &err), VC_OK);
    snprintf(path, sizeof path, "%s/data", vt.dir);
    assert_int_equal(store_open(&s, path, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, false, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_META, (const uint8_t *)"keyring", 7, &blob, &len, &err),
                     VC_OK);
    assert_int_equal(seal_keyring_unwrap(&k, m, blob, len, &err), VC_OK);
    seal_name_hash(k, name, strlen(name), out);
    sodium_bin2hex(hex, 65, out, SEAL_HASH_BYTES);
    seal_keyring_free(k);
    store_abort(t);
    store_close(s);
    seal_master_free(m);
}

/* Flips one byte in the sealed value of name's record, in the store. */
static void damage(const char *name, char hex[65])
{
    uint8_t key[SEAL_HASH_BYTES];
    char path[400];
    store *s = NULL;
    store_txn *t = NULL;
    const uint8_t *val;
    size_t len;
    uint8_t *copy;
    vc_err err;

    record_hash(name, key, hex);
    snprintf(path, sizeof path, "%s/data", vt.dir);
    assert_int_equal(store_open(&s, path, 0, &err), VC_OK);
    assert_int_equal(store_begin(s, true, &t, &err), VC_OK);
    assert_int_equal(store_get(t, STORE_RECORDS, key, sizeof key, &val, &len, &err), VC_OK);
    copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, val, len);
    copy[len - 5] ^= 0x10; /* in the authentication tag */
    assert_int_equal(store_put(t, STORE_RECORDS, key, sizeof key, copy, len, &err), VC_OK);
    assert_int_equal(store_commit(t, &err), VC_OK);
    free(copy);
    store_close(s);
}

static void expect_clean_verify(json_int_t records, json_int_t data_keys)
{
    cli_result r;
    json_t *lines[4];
    const char *args[] = {"verify", NULL};
    cli(&r, args);
    assert_int_equal(r.code, 0);
    assert_int_equal(json_lines(r.out, lines, 4), 1);
    assert_string_equal(it_status(lines[0]), "success");
    assert_int_equal(data_int(lines[0], "records"), records);
    assert_int_equal(data_int(lines[0], "damaged"), 0);
    assert_int_equal(data_int(lines[0], "data_keys"), data_keys);
    json_decref(lines[0]);
    cli_free(&r);
}

/* verify prints the one damaged record, by hash, then the summary; exit 1. */
static void expect_damaged_verify(const char *hex, json_int_t records)
{
    cli_result r;
    json_t *lines[4];
    const char *args[] = {"verify", NULL};
    cli(&r, args);
    assert_int_equal(r.code, 1);
    no_secrets(r.out);
    no_secrets(r.err);
    assert_int_equal(json_lines(r.out, lines, 4), 2);
    assert_string_equal(json_string_value(json_object_get(lines[0], "record")), hex);
    assert_string_equal(json_string_value(json_object_get(lines[0], "problem")), "auth_failed");
    assert_non_null(json_string_value(json_object_get(lines[0], "message")));
    assert_true(json_is_integer(json_object_get(lines[0], "key_version")));
    assert_string_equal(it_status(lines[1]), "success");
    assert_int_equal(data_int(lines[1], "records"), records);
    assert_int_equal(data_int(lines[1], "damaged"), 1);
    json_decref(lines[0]);
    json_decref(lines[1]);
    cli_free(&r);
}

static int vault_teardown(void **state)
{
    (void)state;
    if (admin != NULL || nats.pid > 0)
        it_down(&nats, &vt, admin);
    else
        it_vault_destroy(&vt);
    admin = NULL;
    memset(&nats, 0, sizeof nats);
    return 0;
}

/* ---- tests ---- */

/* The local commands, no service running. */
static void test_verify_local(void **state)
{
    char hex[65], upper[65];
    cli_result r;
    json_t *j;
    (void)state;

    assert_int_equal(it_vault_init(&vt, NULL, NULL), 0);
    set_key("app/one", "\"v1\"");
    set_key(DAMAGED_KEY, SECRET);
    set_key("app/two", "\"v2\"");
    expect_clean_verify(3, 1);

    damage(DAMAGED_KEY, hex);
    expect_damaged_verify(hex, 3);

    /* list: the two others, meta.skipped 1, a warning naming the hash */
    const char *list[] = {"list", NULL};
    cli(&r, list);
    assert_int_equal(r.code, 0);
    no_secrets(r.out);
    no_secrets(r.err);
    assert_non_null(strstr(r.err, hex));
    j = parse_line(r.out, strlen(r.out));
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "data"), 0)),
                        "app/one");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "data"), 1)),
                        "app/two");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meta"), "skipped")), 1);
    json_decref(j);
    cli_free(&r);

    /* rotate: two re-sealed, one skipped, the old key kept and said so */
    const char *rotate[] = {"rotate", NULL};
    cli(&r, rotate);
    assert_int_equal(r.code, 0);
    no_secrets(r.err);
    assert_non_null(strstr(r.err, hex));
    j = parse_line(r.out, strlen(r.out));
    assert_int_equal(data_int(j, "key_version"), 2);
    assert_int_equal(data_int(j, "reencrypted"), 2);
    assert_int_equal(data_int(j, "skipped"), 1);
    assert_int_equal(data_int(j, "old_keys_kept"), 1);
    json_decref(j);
    cli_free(&r);

    const char *status[] = {"status", NULL};
    cli(&r, status);
    assert_int_equal(r.code, 0);
    j = parse_line(r.out, strlen(r.out));
    assert_int_equal(data_int(j, "key_version"), 2);
    json_decref(j);
    cli_free(&r);
    const char *get[] = {"get", "app/two", NULL};
    cli(&r, get);
    assert_int_equal(r.code, 0);
    cli_free(&r);

    /* delete --hash: malformed hex is bad usage (exit 2) */
    static const char *const bad[] = {"xyz", "abc", "0g", "", "12 34", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        const char *del_bad[] = {"delete", "--hash", bad[i], NULL};
        cli(&r, del_bad);
        assert_int_equal(r.code, 2);
        assert_string_equal(r.out, "");
        cli_free(&r);
    }
    const char *del_noarg[] = {"delete", "--hash", NULL};
    cli(&r, del_noarg);
    assert_int_equal(r.code, 2);
    cli_free(&r);
    const char *del_extra[] = {"delete", "--hash", hex, "more", NULL};
    cli(&r, del_extra);
    assert_int_equal(r.code, 2);
    cli_free(&r);
    /* absent: not_found, exit 1 */
    const char *del_absent[] = {"delete", "--hash",
                                "0000000000000000000000000000000000000000000000000000000000000000",
                                NULL};
    cli(&r, del_absent);
    assert_int_equal(r.code, 1);
    j = parse_line(r.out, strlen(r.out));
    assert_string_equal(it_code(j), "not_found");
    json_decref(j);
    cli_free(&r);
    /* the damaged one, in upper case hex: removed; a second time not_found */
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
    const char *del[] = {"delete", "--hash", upper, NULL};
    cli(&r, del);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "{\"status\":\"success\",\"data\":null}\n");
    cli_free(&r);
    cli(&r, del);
    assert_int_equal(r.code, 1);
    cli_free(&r);

    /* clean now; the old key stays until the next rotation, which drops it */
    expect_clean_verify(2, 2);
    cli(&r, rotate);
    assert_int_equal(r.code, 0);
    j = parse_line(r.out, strlen(r.out));
    assert_int_equal(data_int(j, "key_version"), 3);
    assert_int_equal(data_int(j, "reencrypted"), 2);
    assert_int_equal(data_int(j, "skipped"), 0);
    assert_int_equal(data_int(j, "old_keys_kept"), 0);
    json_decref(j);
    cli_free(&r);
    expect_clean_verify(2, 1);
    const char *get_one[] = {"get", "app/one", NULL};
    cli(&r, get_one);
    assert_int_equal(r.code, 0);
    j = parse_line(r.out, strlen(r.out));
    assert_string_equal(json_string_value(json_object_get(j, "data")), "\"v1\"");
    json_decref(j);
    cli_free(&r);
}

/* Over NATS while `vaultctl serve` runs: list and rotate replies say what
 * was skipped, the service log names the hash only; verify and delete --hash
 * work beside the running service. */
static void test_verify_served(void **state)
{
    char hex[65];
    cli_result r;
    json_t *j;
    (void)state;

    assert_int_equal(it_up(&nats, &vt, NULL, &admin), 0);
    j = it_request(admin, "admin.requests",
                   "{\"operation\":\"set\",\"key\":\"app/one\",\"value\":\"v1\"}", 5000, NULL);
    assert_string_equal(it_status(j), "success");
    json_decref(j);
    j = it_request(admin, "admin.requests",
                   "{\"operation\":\"set\",\"key\":\"" DAMAGED_KEY "\",\"value\":\"" SECRET "\"}",
                   5000, NULL);
    assert_string_equal(it_status(j), "success");
    json_decref(j);
    damage(DAMAGED_KEY, hex); /* beside the running service: LMDB is multi-process */

    j = it_request(admin, "admin.requests", "{\"operation\":\"list\"}", 5000, NULL);
    assert_string_equal(it_status(j), "success");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meta"), "skipped")), 1);
    json_decref(j);
    j = it_request(admin, "admin.requests", "{\"operation\":\"rotate\"}", 10000, NULL);
    assert_string_equal(it_status(j), "success");
    assert_int_equal(data_int(j, "reencrypted"), 1);
    assert_int_equal(data_int(j, "skipped"), 1);
    assert_int_equal(data_int(j, "old_keys_kept"), 1);
    json_decref(j);
    j = it_request(admin, "admin.requests", "{\"operation\":\"status\"}", 5000, NULL);
    assert_string_equal(it_status(j), "success");
    assert_int_equal(data_int(j, "key_version"), 2);
    json_decref(j);

    expect_damaged_verify(hex, 2);
    const char *del[] = {"delete", "--hash", hex, NULL};
    cli(&r, del);
    assert_int_equal(r.code, 0);
    cli_free(&r);

    j = it_request(admin, "admin.requests", "{\"operation\":\"list\"}", 5000, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_null(json_object_get(j, "meta")); /* nothing skipped any more */
    json_decref(j);
    j = it_request(admin, "admin.requests", "{\"operation\":\"rotate\"}", 10000, NULL);
    assert_int_equal(data_int(j, "skipped"), 0);
    assert_int_equal(data_int(j, "old_keys_kept"), 0);
    json_decref(j);
    expect_clean_verify(1, 1);

    char *log = read_file(vt.log);
    assert_non_null(strstr(log, hex));
    no_secrets(log);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_verify_local, vault_teardown),
        cmocka_unit_test_teardown(test_verify_served, vault_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
