/* cmd_serve.c - `vaultctl serve [--check]`: parse config, check it, open the
 * vault, run the service until SIGTERM/SIGINT, drain, exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "log.h"
#include "ops.h"
#include "service.h"

static int check_only(cmd_env *env)
{
    vault_status_info st;
    vc_err err;
    char *desc = config_describe(env->cfg);

    if (desc != NULL) {
        fputs(desc, stdout);
        free(desc);
    }
    if (vault_status(env->vault, &st, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        return EXIT_ERROR;
    }
    printf("master key: %s opens the vault at %s (%llu keys, key version %u)\n",
           env->cfg->master_key, env->cfg->storage_path, (unsigned long long)st.keys,
           st.key_version);
    puts("configuration OK");
    return EXIT_OK;
}

int cmd_serve(const char *config_path, int argc, char **argv)
{
    bool check = false;
    cmd_env env;
    service *svc = NULL;
    sigset_t sigs;
    vc_err err;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else {
            fputs("usage: vaultctl serve [--config FILE] [--check]\n", stderr);
            return EXIT_USAGE;
        }
    }

    /* Signals are taken synchronously by this thread only: block them before
     * any other thread (nats.c, workers) starts, so they inherit the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = cmd_open(&env, config_path);
    if (rc != EXIT_OK)
        return rc;
    if (check) {
        rc = check_only(&env);
        cmd_close(&env);
        return rc;
    }

    ops_ctx ctx = {
        .vault = env.vault,
        .rules = env.cfg->acl,
        .nrules = env.cfg->acl_count,
        .max_value_bytes = env.cfg->max_value_bytes,
        .max_request_bytes = env.cfg->max_request_bytes,
        .storage_path = env.cfg->storage_path,
        .started = (int64_t)time(NULL),
        .service_version = VAULTCTL_VERSION,
    };
    log_info("vaultctl %s starting: config %s, store %s", VAULTCTL_VERSION, env.cfg->file,
             env.cfg->storage_path);
    if (service_start(&svc, env.cfg, &ctx, &err) != VC_OK) {
        log_error("%s", err.msg);
        cmd_close(&env);
        return EXIT_ERROR;
    }

    for (;;) {
        struct timespec tick = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("received %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }
    service_stop(svc);
    cmd_close(&env);
    log_info("vaultctl stopped");
    return EXIT_OK;
}
