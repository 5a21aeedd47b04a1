/* cmd_common.c - shared by the command front ends (see cmd.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "jalloc.h"
#include "log.h"

extern char **environ;

/* Reads all of stdin into a malloc'd NUL-terminated buffer; strips one
 * trailing newline (so `echo secret | vaultctl set k -` stores "secret").
 * The buffer grows by copy, and each outgrown buffer is wiped before it is
 * freed (realloc would leave the secret read so far in freed memory). The
 * caller wipes the result. */
char *cmd_read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *grown = malloc(cap * 2);
            if (grown != NULL)
                memcpy(grown, buf, n);
            sodium_memzero(buf, cap);
            free(buf);
            if (grown == NULL)
                return NULL;
            buf = grown;
            cap *= 2;
        }
    }
    if (buf == NULL || ferror(stdin)) {
        if (buf != NULL)
            sodium_memzero(buf, cap);
        free(buf);
        return NULL;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return buf;
}

void cmd_warn_argv_secret(const char *what, const char *instead)
{
    cmd_fail("warning: %s on the command line is visible to other users of this machine "
             "(ps, /proc/PID/cmdline) and may be kept in shell history; %s",
             what, instead);
}

void cmd_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("vaultctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cmd_open(cmd_env *env, const char *config_path, cmd_open_what what)
{
    vc_err err;
    bool warn_perm = false;

    env->cfg = NULL;
    env->master = NULL;
    env->vault = NULL;
    if (seal_init(&err) != VC_OK || config_load(&env->cfg, config_path, environ, &err) != VC_OK ||
        seal_master_load(&env->master, env->cfg->master_key, &warn_perm, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        cmd_close(env);
        return EXIT_ERROR;
    }
    if (warn_perm)
        log_warn("master key %s is readable by group or others: only the service's user "
                 "should read it (chmod 600 it; Docker secrets under /run/secrets/ are exempt)",
                 env->cfg->master_key);
    if (what == CMD_OPEN_VAULT &&
        vault_open_config(&env->vault, env->cfg, env->master, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        cmd_close(env);
        return EXIT_ERROR;
    }
    if (env->vault != NULL)
        vault_set_max_versions(env->vault, env->cfg->history_max_versions);
    return EXIT_OK;
}

ops_ctx cmd_ops_ctx(const cmd_env *env)
{
    ops_ctx ctx = {
        .vault = env->vault,
        .rules = env->cfg->acl,
        .nrules = env->cfg->acl_count,
        .max_value_bytes = env->cfg->max_value_bytes,
        .max_request_bytes = env->cfg->max_request_bytes,
        .max_json_elements = env->cfg->max_json_elements,
        .storage_path = env->cfg->storage_path,
        .started = (int64_t)time(NULL),
        .service_version = VAULTCTL_VERSION,
        .rotation_interval_s = env->cfg->rotation_interval_s,
        .token_default_ttl = env->cfg->token_default_ttl,
        .token_max_ttl = env->cfg->token_max_ttl,
    };
    return ctx;
}

int cmd_run_request(const char *config_path, json_t *req)
{
    cmd_env env;
    ops_reply reply;
    char *payload = jalloc_dumps(req, JSON_COMPACT, NULL);

    json_decref(req);
    if (payload == NULL) {
        cmd_fail("out of memory");
        return EXIT_ERROR;
    }
    int rc = cmd_open(&env, config_path, CMD_OPEN_VAULT);
    if (rc != EXIT_OK) {
        jalloc_free(payload);
        return rc;
    }
    ops_ctx ctx = cmd_ops_ctx(&env);
    ctx.max_request_bytes = 0;
    ctx.max_json_elements = 0;
    ops_handle(&ctx, NULL, (const uint8_t *)payload, strlen(payload), &reply);
    jalloc_free(payload); /* wiped: it may hold a value */
    fwrite(reply.body, 1, reply.len, stdout);
    fputc('\n', stdout);
    rc = reply.code == VC_OK ? EXIT_OK : EXIT_ERROR;
    ops_reply_free(&reply);
    cmd_close(&env);
    return rc;
}

void cmd_close(cmd_env *env)
{
    vault_close(env->vault);
    seal_master_free(env->master);
    config_free(env->cfg);
    env->vault = NULL;
    env->master = NULL;
    env->cfg = NULL;
}
