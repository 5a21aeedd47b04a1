/* cmd_request.c - `vaultctl request`: one request over NATS, reply printed. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmd.h"
#include "jalloc.h"
#include "op.h"
#include "secretfile.h"

static int request_usage(void)
{
    fputs("usage: vaultctl request [--server URL] [--user U --pass P | --pass-file F]\n"
          "                        [--token T] [--creds FILE] [--tls-ca F] [--tls-cert F --tls-key "
          "F]\n"
          "                        [--timeout SECONDS] [--json] [--id ID] [--inbox-prefix P]\n"
          "                        [--ttl DURATION] [--cas N] [--version N]\n"
          "                        SUBJECT OPERATION [KEY [VALUE]]\n"
          "  KEY is the prefix for list; VALUE is a string unless --json.\n"
          "  Replies come to inboxes under --inbox-prefix, by default _INBOX.<user>.\n",
          stderr);
    return EXIT_USAGE;
}

int cmd_request(int argc, char **argv)
{
    client_opts o = {.conn = {.servers = getenv("NATS_URL")}, .timeout_ms = 5000};
    bool as_json = false;
    const char *id = NULL, *ttl = NULL, *cas = NULL, *version = NULL;
    const char *pos[4];
    char *pass_from_file = NULL;
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a == NULL)
            break;
        if (strcmp(a, "--json") == 0) {
            as_json = true;
            continue;
        }
        if (a[0] == '-' && a[1] == '-' && v == NULL) {
            secretfile_free(pass_from_file);
            return request_usage();
        }
        if (strcmp(a, "--server") == 0)
            o.conn.servers = v;
        else if (strcmp(a, "--user") == 0)
            o.conn.user = v;
        else if (strcmp(a, "--pass") == 0)
            o.conn.pass = v;
        else if (strcmp(a, "--pass-file") == 0) {
            size_t pass_len = 0;
            vc_err perr;
            secretfile_free(pass_from_file); /* a second --pass-file wins */
            if (secretfile_read(v, SECRETFILE_MAX, &pass_from_file, &pass_len, NULL, &perr) !=
                VC_OK) {
                cmd_fail("request: --pass-file %s", perr.msg);
                return EXIT_USAGE;
            }
            o.conn.pass = pass_from_file;
        } else if (strcmp(a, "--token") == 0)
            o.conn.token = v;
        else if (strcmp(a, "--creds") == 0)
            o.conn.creds = v;
        else if (strcmp(a, "--tls-ca") == 0)
            o.conn.tls_ca = v;
        else if (strcmp(a, "--tls-cert") == 0)
            o.conn.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            o.conn.tls_key = v;
        else if (strcmp(a, "--id") == 0)
            id = v;
        else if (strcmp(a, "--ttl") == 0)
            ttl = v;
        else if (strcmp(a, "--cas") == 0)
            cas = v;
        else if (strcmp(a, "--version") == 0)
            version = v;
        else if (strcmp(a, "--inbox-prefix") == 0)
            o.conn.inbox_prefix = v;
        else if (strcmp(a, "--timeout") == 0 && v != NULL) {
            char *end = NULL;
            double secs = strtod(v, &end);
            if (end == v || *end != '\0' || secs <= 0) {
                secretfile_free(pass_from_file);
                return request_usage();
            }
            o.timeout_ms = (int64_t)(secs * 1000.0);
        } else if (a[0] == '-' && a[1] == '-') {
            cmd_fail("request: unknown option %s", a);
            secretfile_free(pass_from_file);
            return request_usage();
        } else if (npos < 4) {
            pos[npos++] = a;
            continue;
        } else {
            secretfile_free(pass_from_file);
            return request_usage();
        }
        i++; /* the option's value */
    }
    if (npos < 2) {
        secretfile_free(pass_from_file);
        return request_usage();
    }

    vc_op op = op_from_name(pos[1], strlen(pos[1]));
    json_t *req = json_pack("{s:s}", "operation", pos[1]);
    if (id != NULL)
        json_object_set_new(req, "id", json_string(id));
    if (npos >= 3)
        json_object_set_new(req, op == OP_LIST ? "prefix" : "key", json_string(pos[2]));
    /* lifecycle fields: cas and version as integers when they are ones
     * (otherwise as given, for the service to refuse), ttl as given */
    const char *num[2][2] = {{"cas", cas}, {"version", version}};
    for (int k = 0; k < 2; k++) {
        if (num[k][1] == NULL)
            continue;
        char *end = NULL;
        long long n = strtoll(num[k][1], &end, 10);
        json_object_set_new(req, num[k][0],
                            end != num[k][1] && *end == '\0' ? json_integer(n)
                                                             : json_string(num[k][1]));
    }
    if (ttl != NULL)
        json_object_set_new(req, "ttl", json_string(ttl));
    if (npos == 4) {
        json_t *value;
        if (as_json) {
            json_error_t jerr;
            value = json_loads(pos[3], JSON_DECODE_ANY, &jerr);
            if (value == NULL) {
                cmd_fail("request: VALUE is not JSON (column %d)", jerr.column);
                json_decref(req);
                secretfile_free(pass_from_file);
                return EXIT_USAGE;
            }
        } else {
            value = json_string(pos[3]);
        }
        json_object_set_new(req, "value", value);
    }
    char *payload = jalloc_dumps(req, JSON_COMPACT, NULL);
    json_decref(req);

    char *reply = NULL;
    size_t reply_len = 0;
    vc_err err;
    int rc = EXIT_ERROR;
    if (payload != NULL &&
        client_request(&o, pos[0], payload, strlen(payload), &reply, &reply_len, &err) == VC_OK) {
        fwrite(reply, 1, reply_len, stdout);
        fputc('\n', stdout);
        json_t *r = json_loadb(reply, reply_len, 0, NULL);
        const char *status = json_string_value(json_object_get(r, "status"));
        rc = status != NULL && strcmp(status, "success") == 0 ? EXIT_OK : EXIT_ERROR;
        json_decref(r);
    } else if (payload != NULL) {
        cmd_fail("request: %s", err.msg);
    }
    if (payload != NULL) {
        sodium_memzero(payload, strlen(payload));
        free(payload);
    }
    if (reply != NULL) /* a get's reply holds the secret */
        sodium_memzero(reply, reply_len);
    free(reply);
    secretfile_free(pass_from_file);
    return rc;
}
