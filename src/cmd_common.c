/* cmd_common.c - shared by the command front ends (see cmd.h). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

extern char **environ;

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
        cmd_fail("warning: master key %s is writable by group or others; chmod 600 it",
                 env->cfg->master_key);
    if (what == CMD_OPEN_VAULT &&
        vault_open(&env->vault, env->cfg->storage_path, env->cfg->storage_map_size, env->master,
                   &err) != VC_OK) {
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
        .storage_path = env->cfg->storage_path,
        .started = (int64_t)time(NULL),
        .service_version = VAULTCTL_VERSION,
        .rotation_interval_s = env->cfg->rotation_interval_s,
    };
    return ctx;
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
