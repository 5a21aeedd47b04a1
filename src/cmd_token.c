/* cmd_token.c - `vaultctl token issue|lookup|renew|revoke`: tokens from
 * the local command line, straight on the store with the operator's full
 * rights (like get/set), through the same ops_handle as a NATS request. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "jalloc.h"
#include "ops.h"
#include "token.h"

static int token_usage(void)
{
    fputs("usage: vaultctl [--config FILE] token issue --policy-keys PATTERNS --ops OPS\n"
          "                   [--ttl D] [--max-ttl D] [--uses N] [--name LABEL]\n"
          "                   [--no-renewable] [--wrap-ttl D]\n"
          "       vaultctl [--config FILE] token lookup ACCESSOR\n"
          "       vaultctl [--config FILE] token renew ACCESSOR [--ttl D]\n"
          "       vaultctl [--config FILE] token revoke ACCESSOR\n"
          "  PATTERNS and OPS are comma-separated (\"billing/*,app/db\", \"get,list\");\n"
          "  a duration D is seconds or 90s, 15m, 1h30m, 7d.\n",
          stderr);
    return EXIT_USAGE;
}

/* A comma-separated list as a JSON array of strings. */
static json_t *csv_array(const char *s)
{
    json_t *a = json_array();
    while (a != NULL && *s != '\0') {
        const char *c = strchr(s, ',');
        size_t n = c != NULL ? (size_t)(c - s) : strlen(s);
        if (n > 0)
            json_array_append_new(a, json_stringn(s, n));
        s += n + (c != NULL ? 1 : 0);
    }
    return a;
}

/* A duration flag as the request's string (checked here for a clear usage
 * error; the service checks it again). */
static bool put_duration(json_t *req, const char *field, const char *v)
{
    int64_t secs;
    if (v == NULL || !token_parse_duration_text(v, strlen(v), &secs)) {
        cmd_fail("token: %s: expected seconds or a duration such as 90s, 15m, 1h30m, 7d", field);
        return false;
    }
    json_object_set_new(req, field, json_integer(secs));
    return true;
}

static json_t *build(int argc, char **argv)
{
    const char *sub = argv[1];
    vc_op op = op_from_name(sub, strlen(sub));
    if (op != OP_ISSUE && op != OP_LOOKUP && op != OP_RENEW && op != OP_REVOKE)
        return NULL;
    json_t *req = json_pack("{s:s}", "operation", sub);
    const char *keys = NULL, *ops = NULL, *accessor = NULL;
    for (int i = 2; i < argc && req != NULL; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--no-renewable") == 0 && op == OP_ISSUE) {
            json_object_set_new(req, "renewable", json_false());
            continue;
        }
        if (strncmp(a, "--", 2) == 0 && v == NULL)
            ok = false; // NOLINT(bugprone-branch-clone): a flag without its value
        else if (strcmp(a, "--policy-keys") == 0 && op == OP_ISSUE)
            keys = v;
        else if (strcmp(a, "--ops") == 0 && op == OP_ISSUE)
            ops = v;
        else if (strcmp(a, "--ttl") == 0 && (op == OP_ISSUE || op == OP_RENEW))
            ok = put_duration(req, "ttl", v);
        else if (strcmp(a, "--max-ttl") == 0 && op == OP_ISSUE)
            ok = put_duration(req, "max_ttl", v);
        else if (strcmp(a, "--wrap-ttl") == 0 && op == OP_ISSUE)
            ok = put_duration(req, "wrap_ttl", v);
        else if (strcmp(a, "--name") == 0 && op == OP_ISSUE)
            json_object_set_new(req, "name", json_string(v));
        else if (strcmp(a, "--uses") == 0 && op == OP_ISSUE && v != NULL) {
            char *end = NULL;
            long long n = strtoll(v, &end, 10);
            ok = end != v && *end == '\0' && n >= 0;
            if (ok)
                json_object_set_new(req, "uses", json_integer(n));
        } else if (strncmp(a, "--", 2) != 0 && op != OP_ISSUE && accessor == NULL) {
            accessor = a;
            continue;
        } else
            ok = false;
        if (!ok) {
            json_decref(req);
            return NULL;
        }
        i++;
    }
    if (req == NULL)
        return NULL;
    if (op == OP_ISSUE) {
        if (keys == NULL || ops == NULL) {
            cmd_fail("token issue: --policy-keys and --ops are required");
            json_decref(req);
            return NULL;
        }
        json_object_set_new(
            req, "policy",
            json_pack("{s:o,s:o}", "keys", csv_array(keys), "operations", csv_array(ops)));
    } else if (accessor == NULL) {
        cmd_fail("token %s: ACCESSOR missing", sub);
        json_decref(req);
        return NULL;
    } else {
        json_object_set_new(req, "accessor", json_string(accessor));
    }
    return req;
}

int cmd_token(const char *config_path, int argc, char **argv)
{
    json_t *req = argc >= 2 ? build(argc, argv) : NULL;
    if (req == NULL)
        return token_usage();
    return cmd_run_request(config_path, req);
}
