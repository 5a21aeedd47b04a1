/* cmd_request.c - `vaultctl request`: one request over NATS, reply printed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "cmd.h"
#include "jalloc.h"
#include "operation.h"
#include "secretfile.h"

/* --value-file: at most NATS's default max_payload. */
#define REQUEST_VALUE_MAX ((size_t)1024 * 1024)

static int request_usage(void)
{
    fputs("usage: vaultctl request [--server URL] [--user U --pass-file F] [--creds FILE]\n"
          "                        [--tls-ca F] [--tls-cert F --tls-key F]\n"
          "                        [--timeout SECONDS] [--json] [--id ID] [--inbox-prefix P]\n"
          "                        [--value-file F] [--field NAME=VALUE]... [--creds-out F]\n"
          "                        [--ttl DURATION] [--cas N] [--version N]\n"
          "                        SUBJECT OPERATION [KEY [VALUE|-]]\n"
          "                        [--value-file F] [--token-file F] [--token-out F]\n"
          "                        [--fields JSON] SUBJECT OPERATION [KEY [VALUE|-]]\n"
          "  --token-file F sends the vault token (vct_...) in F as the request's token\n"
          "  (a wrap token vcw_... as unwrap's wrap_token); --token-out F writes the token\n"
          "  of an issue reply to F (mode 0600) instead of printing it; --fields adds the\n"
          "  members of a JSON object to the request (policy, ttl, uses, wrap_ttl...).\n"
          "  KEY is the prefix for list; VALUE is a string unless --json; - reads it from\n"
          "  stdin, --value-file from a file. Replies come to inboxes under --inbox-prefix,\n"
          "  by default _INBOX.<user>. The password file may also be named by\n"
          "  $VAULTCTL_PASS_FILE; --pass P and --token T still work but are visible to\n"
          "  other local users (a warning says so). --field adds a string field to the\n"
          "  request (creds: role=, name=, ttl=); --creds-out writes a creds reply's .creds\n"
          "  text to a new file (0600) and leaves the seed out of what is printed.\n",
          stderr);
    return EXIT_USAGE;
}

/* Secrets read by cmd_request, wiped and freed together. */
typedef struct {
    char *pass;  /* --pass-file / $VAULTCTL_PASS_FILE (secretfile memory) */
    char *value; /* --value-file (secretfile memory) */
    size_t value_len;
    char *vtoken; /* --token-file: a vault token (secretfile memory) */
    size_t vtoken_len;
    char *in; /* VALUE "-": stdin (malloc) */
    size_t in_len;
} request_secrets;

static void request_secrets_free(request_secrets *x)
{
    secretfile_free(x->pass);
    secretfile_free(x->value);
    secretfile_free(x->vtoken);
    if (x->in != NULL) {
        sodium_memzero(x->in, x->in_len);
        free(x->in);
    }
}

/* The request's JSON text (jalloc_dumps), or NULL after saying why. */
#define REQUEST_FIELDS_MAX 16

static char *request_payload(const char *const *pos, int npos, bool as_json, const char *id,
                             const char *value, size_t value_len, const char *fields_json,
                             const char *const *fields, int nfields, const char *const lifecycle[3],
                             const char *vtoken, size_t vtoken_len)
{
    vc_op op = op_from_name(pos[1], strlen(pos[1]));
    json_t *req = json_pack("{s:s}", "operation", pos[1]);
    char *payload;

    if (req == NULL)
        return NULL;
    if (id != NULL)
        json_object_set_new(req, "id", json_string(id));
    if (fields_json != NULL) {
        json_t *f = json_loads(fields_json, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(f)) {
            cmd_fail("request: --fields is not a JSON object");
            json_decref(f);
            json_decref(req);
            return NULL;
        }
        json_object_update(req, f);
        json_decref(f);
    }
    if (vtoken != NULL) /* a wrap token is what unwrap takes */
        json_object_set_new(
            req, vtoken_len > 4 && memcmp(vtoken, "vcw_", 4) == 0 ? "wrap_token" : "token",
            json_stringn(vtoken, vtoken_len));
    if (npos >= 3)
        json_object_set_new(req, op == OP_LIST ? "prefix" : "key", json_string(pos[2]));
    for (int i = 0; i < nfields; i++) {
        const char *eq = strchr(fields[i], '=');
        char name[64];
        if (eq == NULL || eq == fields[i] || (size_t)(eq - fields[i]) >= sizeof name) {
            cmd_fail("request: --field expects NAME=VALUE");
            json_decref(req);
            return NULL;
        }
        memcpy(name, fields[i], (size_t)(eq - fields[i]));
        name[eq - fields[i]] = '\0';
        json_object_set_new(req, name, json_string(eq + 1));
    }
    /* --ttl as given; --cas and --version as integers when they are ones
     * (otherwise as given, for the service to refuse) */
    if (lifecycle[0] != NULL)
        json_object_set_new(req, "ttl", json_string(lifecycle[0]));
    for (int k = 1; k < 3; k++) {
        if (lifecycle[k] == NULL)
            continue;
        char *end = NULL;
        long long n = strtoll(lifecycle[k], &end, 10);
        json_object_set_new(req, k == 1 ? "cas" : "version",
                            end != lifecycle[k] && *end == '\0' ? json_integer(n)
                                                                : json_string(lifecycle[k]));
    }
    if (value != NULL) {
        json_t *v;
        if (as_json) {
            json_error_t jerr;
            /* Not jerr.text: it quotes a piece of the secret. */
            v = json_loadb(value, value_len, JSON_DECODE_ANY, &jerr);
            if (v == NULL)
                cmd_fail("request: VALUE is not JSON (line %d, column %d)", jerr.line, jerr.column);
        } else {
            v = json_stringn(value, value_len);
            if (v == NULL)
                cmd_fail("request: VALUE is not valid UTF-8 (use --json with a base64 string)");
        }
        if (v == NULL) {
            json_decref(req);
            return NULL;
        }
        json_object_set_new(req, "value", v);
    }
    payload = jalloc_dumps(req, JSON_COMPACT, NULL);
    json_decref(req);
    if (payload == NULL)
        cmd_fail("request: out of memory");
    return payload;
}

/* --creds-out: the reply's data.creds into a new file (0600, never over
 * anything), and the printed reply without the seed. false after saying why. */
static bool write_creds_out(const char *path, char **reply, size_t *reply_len)
{
    json_t *r = json_loadb(*reply, *reply_len, 0, NULL);
    json_t *data = json_object_get(r, "data");
    const char *creds = json_string_value(json_object_get(data, "creds"));
    bool ok = false;
    if (creds == NULL) {
        json_decref(r);
        return true; /* an error reply: printed as it is */
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        cmd_fail("request: --creds-out %s: %s", path, strerror(errno));
    } else {
        size_t len = strlen(creds);
        ok = write(fd, creds, len) == (ssize_t)len && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok)
            cmd_fail("request: --creds-out %s: write failed", path);
    }
    char note[600];
    snprintf(note, sizeof note, "(written to %s)", path);
    json_object_set_new(data, "seed", json_string(note));
    json_object_set_new(data, "creds", json_string(note));
    size_t n = 0;
    char *shown = jalloc_dumps(r, JSON_COMPACT, &n);
    json_decref(r);
    if (shown != NULL) {
        sodium_memzero(*reply, *reply_len);
        free(*reply);
        *reply = shown;
        *reply_len = n;
    }
    return ok;
}

static bool read_secret_file(const char *what, const char *path, size_t max, char **out,
                             size_t *len)
{
    vc_err perr;
    secretfile_free(*out); /* a second one wins */
    *out = NULL;
    if (secretfile_read(path, max, out, len, NULL, &perr) != VC_OK) {
        cmd_fail("request: %s %s", what, perr.msg);
        return false;
    }
    return true;
}

/* --token-out: the issued token (data.token, or data.wrap_token) goes to
 * path (created 0600, replaced if there) and the printed reply says where
 * instead. False after saying why. */
static bool token_to_file(json_t *r, const char *path, char **reply, size_t *reply_len)
{
    json_t *d = json_object_get(r, "data");
    const char *field = json_object_get(d, "token") != NULL ? "token" : "wrap_token";
    const char *tok = json_string_value(json_object_get(d, field));
    if (tok == NULL)
        return true; /* an error reply: printed as it is */
    char tmp[4096];
    int w = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = w > 0 && (size_t)w < sizeof tmp
                 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)
                 : -1;
    size_t len = strlen(tok);
    bool ok =
        fd >= 0 && write(fd, tok, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    if (ok)
        ok = rename(tmp, path) == 0;
    if (!ok) {
        cmd_fail("request: --token-out %s: cannot write the token", path);
        if (fd >= 0)
            (void)unlink(tmp);
        return false;
    }
    char note[4200];
    (void)snprintf(note, sizeof note, "(written to %s)", path);
    json_object_set_new(d, field, json_string(note));
    char *text = json_dumps(r, JSON_COMPACT);
    if (text == NULL)
        return false;
    sodium_memzero(*reply, *reply_len);
    free(*reply);
    *reply = text;
    *reply_len = strlen(text);
    return true;
}

int cmd_request(int argc, char **argv)
{
    client_opts o = {.conn = {.servers = getenv("NATS_URL")}, .timeout_ms = 5000};
    request_secrets sec = {0};
    bool as_json = false;
    const char *id = NULL, *pass_arg = NULL, *pos[4];
    const char *value = NULL, *fields[REQUEST_FIELDS_MAX], *creds_out = NULL;
    const char *fields_json = NULL, *token_out = NULL;
    int nfields = 0;
    size_t value_len = 0, pass_len = 0;
    int npos = 0, rc = EXIT_USAGE;
    char *payload = NULL;
    const char *lifecycle[3] = {NULL, NULL, NULL}; /* --ttl, --cas, --version */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a == NULL)
            break;
        if (strcmp(a, "--json") == 0) {
            as_json = true;
            continue;
        }
        if (a[0] == '-' && a[1] == '-' && v == NULL)
            goto usage;
        if (strcmp(a, "--server") == 0)
            o.conn.servers = v;
        else if (strcmp(a, "--user") == 0)
            o.conn.user = v;
        else if (strcmp(a, "--pass") == 0)
            pass_arg = v;
        else if (strcmp(a, "--pass-file") == 0) {
            if (!read_secret_file("--pass-file", v, SECRETFILE_MAX, &sec.pass, &pass_len))
                goto out;
        } else if (strcmp(a, "--value-file") == 0) {
            if (!read_secret_file("--value-file", v, REQUEST_VALUE_MAX, &sec.value, &sec.value_len))
                goto out;
        } else if (strcmp(a, "--token-file") == 0) {
            if (!read_secret_file("--token-file", v, SECRETFILE_MAX, &sec.vtoken, &sec.vtoken_len))
                goto out;
        } else if (strcmp(a, "--token-out") == 0) {
            token_out = v;
        } else if (strcmp(a, "--fields") == 0) {
            fields_json = v;
        } else if (strcmp(a, "--token") == 0) {
            cmd_warn_argv_secret("request: --token", "prefer --creds FILE");
            o.conn.token = v;
        } else if (strcmp(a, "--creds") == 0)
            o.conn.creds = v;
        else if (strcmp(a, "--tls-ca") == 0)
            o.conn.tls_ca = v;
        else if (strcmp(a, "--tls-cert") == 0)
            o.conn.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            o.conn.tls_key = v;
        else if (strcmp(a, "--id") == 0)
            id = v;
        else if (strcmp(a, "--field") == 0 && nfields < REQUEST_FIELDS_MAX)
            fields[nfields++] = v;
        else if (strcmp(a, "--creds-out") == 0)
            creds_out = v;
        else if (strcmp(a, "--ttl") == 0)
            lifecycle[0] = v;
        else if (strcmp(a, "--cas") == 0)
            lifecycle[1] = v;
        else if (strcmp(a, "--version") == 0)
            lifecycle[2] = v;
        else if (strcmp(a, "--inbox-prefix") == 0)
            o.conn.inbox_prefix = v;
        else if (strcmp(a, "--timeout") == 0 && v != NULL) {
            char *end = NULL;
            double secs = strtod(v, &end);
            if (end == v || *end != '\0' || secs <= 0)
                goto usage;
            o.timeout_ms = (int64_t)(secs * 1000.0);
        } else if (a[0] == '-' && a[1] == '-') {
            cmd_fail("request: unknown option %s", a);
            goto usage;
        } else if (npos < 4) {
            pos[npos++] = a;
            continue;
        } else {
            goto usage;
        }
        i++; /* the option's value */
    }
    if (npos < 2 || (npos == 4 && sec.value != NULL)) {
        if (npos == 4)
            cmd_fail("request: VALUE and --value-file both given");
        goto usage;
    }

    /* The password: a file (--pass-file, else $VAULTCTL_PASS_FILE) wins
     * over --pass, which other local users can read in ps. */
    if (sec.pass == NULL && getenv("VAULTCTL_PASS_FILE") != NULL &&
        !read_secret_file("$VAULTCTL_PASS_FILE", getenv("VAULTCTL_PASS_FILE"), SECRETFILE_MAX,
                          &sec.pass, &pass_len))
        goto out;
    if (pass_arg != NULL)
        cmd_warn_argv_secret("request: --pass", "use --pass-file FILE");
    o.conn.pass = sec.pass != NULL ? sec.pass : pass_arg;

    /* The value: --value-file, stdin (-) or argv (with a warning for set). */
    if (sec.value != NULL) {
        value = sec.value;
        value_len = sec.value_len;
    } else if (npos == 4 && strcmp(pos[3], "-") == 0) {
        sec.in = cmd_read_stdin(&sec.in_len);
        if (sec.in == NULL) {
            cmd_fail("request: cannot read the value from stdin");
            rc = EXIT_ERROR;
            goto out;
        }
        value = sec.in;
        value_len = sec.in_len;
    } else if (npos == 4) {
        cmd_warn_argv_secret("request: VALUE", "give it on stdin as - or with --value-file FILE");
        value = pos[3];
        value_len = strlen(pos[3]);
    }

    payload = request_payload(pos, npos, as_json, id, value, value_len, fields_json, fields,
                              nfields, lifecycle, sec.vtoken, sec.vtoken_len);
    rc = EXIT_ERROR;
    if (payload != NULL) {
        char *reply = NULL;
        size_t reply_len = 0;
        vc_err err;
        if (client_request(&o, pos[0], payload, strlen(payload), &reply, &reply_len, &err) ==
            VC_OK) {
            json_t *r = json_loadb(reply, reply_len, 0, NULL);
            bool tok_failed = token_out != NULL && !token_to_file(r, token_out, &reply, &reply_len);
            bool written = creds_out == NULL || write_creds_out(creds_out, &reply, &reply_len);
            fwrite(reply, 1, reply_len, stdout);
            fputc('\n', stdout);
            const char *status = json_string_value(json_object_get(r, "status"));
            rc = written && !tok_failed && status != NULL && strcmp(status, "success") == 0
                     ? EXIT_OK
                     : EXIT_ERROR;
            json_decref(r);
        } else {
            cmd_fail("request: %s", err.msg);
        }
        sodium_memzero(payload, strlen(payload));
        free(payload);
        if (reply != NULL) /* a get's reply holds the secret */
            sodium_memzero(reply, reply_len);
        free(reply);
    }
    goto out;
usage:
    rc = request_usage();
out:
    request_secrets_free(&sec);
    return rc;
}
