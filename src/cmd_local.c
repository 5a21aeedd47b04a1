/* cmd_local.c - the local interface straight on the store: get, set, delete,
 * list, rotate, status, versions; keygen; audit-hash. The request goes through the very
 * same ops_handle as a NATS request (with the local operator's full rights),
 * so the JSON printed is the JSON the service would send. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "jalloc.h"
#include "ops.h"

static void local_usage(void)
{
    fputs("usage: vaultctl [--config FILE] get [--version N] KEY\n"
          "       vaultctl [--config FILE] set [--json] [--ttl DURATION] [--cas N] KEY VALUE|-\n"
          "       vaultctl [--config FILE] versions KEY\n"
          "       vaultctl [--config FILE] delete KEY\n"
          "       vaultctl [--config FILE] list [--limit N] [--after NAME] [PREFIX]\n"
          "       vaultctl [--config FILE] rotate | status\n",
          stderr);
}

/* Builds the request object from the command line; NULL on bad usage (a
 * message has been printed). */
static json_t *build_request(int argc, char **argv)
{
    const char *cmd = argv[0];
    bool as_json = false;
    const char *limit = NULL, *after = NULL, *ttl = NULL, *cas = NULL, *version = NULL;
    const char *pos[3];
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && strcmp(cmd, "set") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = argv[++i];
        } else if (strcmp(argv[i], "--after") == 0 && i + 1 < argc) {
            after = argv[++i];
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc && strcmp(cmd, "set") == 0) {
            ttl = argv[++i];
        } else if (strcmp(argv[i], "--cas") == 0 && i + 1 < argc && strcmp(cmd, "set") == 0) {
            cas = argv[++i];
        } else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc && strcmp(cmd, "get") == 0) {
            version = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2] != '\0') {
            cmd_fail("%s: unknown option %s", cmd, argv[i]);
            return NULL;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            cmd_fail("%s: too many arguments", cmd);
            return NULL;
        }
    }

    int want = 0;
    if (strcmp(cmd, "get") == 0 || strcmp(cmd, "delete") == 0 || strcmp(cmd, "versions") == 0)
        want = 1;
    else if (strcmp(cmd, "set") == 0)
        want = 2;
    else if (strcmp(cmd, "list") == 0)
        want = npos > 0 ? 1 : 0;
    if (npos != want) {
        cmd_fail("%s: expected %d argument%s, got %d", cmd, want, want == 1 ? "" : "s", npos);
        return NULL;
    }

    json_t *req = json_pack("{s:s}", "operation", cmd);
    if (req == NULL)
        return NULL;
    /* --cas and --version go as integers, --ttl as the text given (the
     * protocol's duration parser judges it): a bad one is the service's
     * bad_request, as over NATS. */
    const char *num_opt[2][2] = {{"cas", cas}, {"version", version}};
    for (int k = 0; k < 2; k++) {
        if (num_opt[k][1] == NULL)
            continue;
        char *end = NULL;
        long long n = strtoll(num_opt[k][1], &end, 10);
        if (end == num_opt[k][1] || *end != '\0') {
            cmd_fail("%s: --%s takes an integer, got \"%s\"", cmd, num_opt[k][0], num_opt[k][1]);
            json_decref(req);
            return NULL;
        }
        json_object_set_new(req, num_opt[k][0], json_integer(n));
    }
    if (ttl != NULL)
        json_object_set_new(req, "ttl", json_string(ttl));
    if (strcmp(cmd, "list") == 0) {
        if (npos == 1)
            json_object_set_new(req, "prefix", json_string(pos[0]));
        if (after != NULL)
            json_object_set_new(req, "after", json_string(after));
        if (limit != NULL) {
            char *end = NULL;
            long long n = strtoll(limit, &end, 10);
            if (end == limit || *end != '\0') {
                cmd_fail("list: --limit takes an integer, got \"%s\"", limit);
                json_decref(req);
                return NULL;
            }
            json_object_set_new(req, "limit", json_integer(n));
        }
    } else if (want >= 1) {
        json_t *key = json_stringn(pos[0], strlen(pos[0]));
        if (key == NULL) {
            cmd_fail("%s: KEY is not valid UTF-8", cmd);
            json_decref(req);
            return NULL;
        }
        json_object_set_new(req, "key", key);
    }
    if (want == 2) {
        size_t len = strlen(pos[1]);
        char *text = NULL;
        const char *src = pos[1];
        json_t *value;
        if (strcmp(pos[1], "-") != 0)
            cmd_warn_argv_secret("set: VALUE", "give it on stdin as -");
        if (strcmp(pos[1], "-") == 0) {
            text = cmd_read_stdin(&len);
            if (text == NULL) {
                cmd_fail("set: cannot read the value from stdin");
                json_decref(req);
                return NULL;
            }
            src = text;
        }
        if (as_json) {
            json_error_t jerr;
            value = json_loadb(src, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
            /* Not jerr.text: it quotes the offending token, a piece of
             * the secret. */
            if (value == NULL)
                cmd_fail("set: VALUE is not JSON (line %d, column %d)", jerr.line, jerr.column);
        } else {
            value = json_stringn(src, len);
            if (value == NULL)
                cmd_fail("set: VALUE is not valid UTF-8 (use --json with a base64 string for "
                         "binary data)");
        }
        if (text != NULL) {
            sodium_memzero(text, len);
            free(text);
        }
        if (value == NULL) {
            json_decref(req);
            return NULL;
        }
        json_object_set_new(req, "value", value);
    }
    return req;
}

int cmd_local(const char *config_path, int argc, char **argv)
{
    json_t *req = build_request(argc, argv);

    if (req == NULL) {
        local_usage();
        return EXIT_USAGE;
    }
    return cmd_run_request(config_path, req);
}

int cmd_keygen(int argc, char **argv)
{
    char key[SEAL_KEYGEN_B64];
    vc_err err;
    (void)argv;
    if (argc != 1) {
        fputs("usage: vaultctl keygen > master.key\n", stderr);
        return EXIT_USAGE;
    }
    if (seal_init(&err) != VC_OK || seal_keygen_b64(key, sizeof key, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        return EXIT_ERROR;
    }
    puts(key);
    sodium_memzero(key, sizeof key);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
}

int cmd_audit_hash(const char *config_path, int argc, char **argv)
{
    cmd_env env;
    char hash[SEAL_AUDIT_HEX];
    if (argc != 2) {
        fputs("usage: vaultctl [--config FILE] audit-hash NAME\n", stderr);
        return EXIT_USAGE;
    }
    int rc = cmd_open(&env, config_path, CMD_OPEN_VAULT);
    if (rc != EXIT_OK)
        return rc;
    vault_audit_hash(env.vault, argv[1], strlen(argv[1]), hash);
    puts(hash);
    cmd_close(&env);
    return EXIT_OK;
}
