/* cmd_verify.c - finding and removing damaged records, straight on the store:
 *   vaultctl verify             one JSON line per damaged record, then a summary
 *   vaultctl delete --hash HEX  removes one record by its record hash
 * A record is named by its record hash (the hex of its store key), never by
 * its name, which a damaged record may not give up; nothing decrypted is
 * printed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cmd.h"
#include "proto.h"

/* A record hash in hex + NUL. */
#define HASH_HEX_MAX (2 * (size_t)VAULT_RECORD_HASH_MAX + 1)

/* Prints a reply built by proto_* (NULL: out of memory) on its own line. */
static int print_reply(char *text)
{
    if (text == NULL) {
        cmd_fail("out of memory");
        return EXIT_ERROR;
    }
    puts(text);
    free(text);
    return EXIT_OK;
}

static int print_error(const vc_err *err)
{
    print_reply(proto_error(err->code, err->msg, NULL, NULL));
    return EXIT_ERROR;
}

static void hex_of(const uint8_t *b, size_t len, char out[HASH_HEX_MAX])
{
    if (len > VAULT_RECORD_HASH_MAX)
        len = VAULT_RECORD_HASH_MAX;
    (void)sodium_bin2hex(out, HASH_HEX_MAX, b, len);
}

/* {"record":HEX,"problem":CODE,"message":TEXT[,"key_version":N]} */
static void print_damaged(void *arg, const vault_damaged_record *rec)
{
    char hex[HASH_HEX_MAX];
    json_t *o;
    char *s;

    (void)arg;
    hex_of(rec->record, rec->record_len, hex);
    o = json_pack("{s:s,s:s,s:s}", "record", hex, "problem", vault_damage_code(rec->damage),
                  "message", vault_damage_text(rec->damage));
    if (o != NULL && rec->has_key_version)
        json_object_set_new(o, "key_version", json_integer((json_int_t)rec->key_version));
    s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) {
        cmd_fail("out of memory; damaged record %s", hex);
        return;
    }
    puts(s);
    free(s);
}

int cmd_verify(const char *config_path, int argc, char **argv)
{
    cmd_env env;
    vault_verify_info info;
    vc_err err;
    int rc;

    (void)argv;
    if (argc != 1) {
        fputs("usage: vaultctl [--config FILE] verify\n", stderr);
        return EXIT_USAGE;
    }
    if ((rc = cmd_open(&env, config_path, CMD_OPEN_VAULT)) != EXIT_OK)
        return rc;
    if (vault_verify(env.vault, print_damaged, NULL, &info, &err) != VC_OK) {
        cmd_close(&env);
        return print_error(&err);
    }
    cmd_close(&env);
    json_t *data =
        json_pack("{s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)info.records, "versions",
                  (json_int_t)info.versions, "damaged", (json_int_t)info.damaged, "key_version",
                  (json_int_t)info.key_version, "data_keys", (json_int_t)info.data_keys);
    if (data == NULL || print_reply(proto_success(data, NULL, NULL, NULL)) != EXIT_OK)
        return EXIT_ERROR;
    if (fflush(stdout) != 0)
        return EXIT_ERROR;
    return info.damaged == 0 ? EXIT_OK : EXIT_ERROR;
}

/* The record hash in hex: an even number of hex digits (either case), for
 * 1 to VAULT_RECORD_HASH_MAX bytes; false otherwise. */
static bool parse_hash(const char *hex, uint8_t *out, size_t *out_len)
{
    size_t n = strlen(hex);
    const char *end = NULL;

    if (n == 0 || n % 2 != 0 || n > HASH_HEX_MAX - 1)
        return false;
    if (sodium_hex2bin(out, VAULT_RECORD_HASH_MAX, hex, n, NULL, out_len, &end) != 0)
        return false;
    return end == hex + n && *out_len == n / 2;
}

int cmd_delete_hash(const char *config_path, int argc, char **argv)
{
    uint8_t record[VAULT_RECORD_HASH_MAX];
    size_t record_len = 0;
    cmd_env env;
    vc_err err;
    int rc;

    if (argc != 3 || strcmp(argv[1], "--hash") != 0) {
        fputs("usage: vaultctl [--config FILE] delete --hash HEX\n"
              "       (HEX: a record hash as vaultctl verify prints it)\n",
              stderr);
        return EXIT_USAGE;
    }
    if (!parse_hash(argv[2], record, &record_len)) {
        cmd_fail("delete --hash: expected a record hash in hex (%d hex digits, as vaultctl "
                 "verify prints it)",
                 2 * SEAL_HASH_BYTES);
        return EXIT_USAGE;
    }
    if ((rc = cmd_open(&env, config_path, CMD_OPEN_VAULT)) != EXIT_OK)
        return rc;
    vc_code code = vault_delete_record(env.vault, record, record_len, &err);
    cmd_close(&env);
    if (code != VC_OK)
        return print_error(&err);
    rc = print_reply(proto_success(NULL, NULL, NULL, NULL));
    return rc == EXIT_OK && fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
}
