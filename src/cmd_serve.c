/* cmd_serve.c - `vaultctl serve [--check]`: parse config, check it, open the
 * vault, run the service until SIGTERM/SIGINT, drain, exit 0.
 *
 * Besides the NATS service (service.h) the serve process runs the scheduled
 * rotation (rotator.h), the expiry sweep (sweeper.h) and writes the health
 * file every second (health.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "health.h"
#include "log.h"
#include "natsmsg.h"
#include "ops.h"
#include "rotator.h"
#include "token_purge.h"
#include "service.h"
#include "sweeper.h"

extern char **environ;

/* ---- serve ------------------------------------------------------------- */

/* Warns (on stdout for --check, in the log when serving) where a later ACL
 * entry's pattern can match a proper token prefix of an earlier entry's
 * subjects (acl_shadows_prefix); returns how many pairs. */
static int warn_acl_prefixes(const config *c, bool to_log)
{
    int n = 0;
    for (size_t j = 1; j < c->acl_count; j++)
        for (size_t i = 0; i < j; i++) {
            if (!acl_shadows_prefix(c->acl[j].subject, c->acl[i].subject))
                continue;
            n++;
            if (to_log)
                log_warn("acl[%zu] %s can match a shorter subject than acl[%zu] %s: make the NATS "
                         "publish permissions for %s literal subjects (docs/SECURITY.md)",
                         j, c->acl[j].subject, i, c->acl[i].subject, c->acl[i].subject);
            else
                printf("warning: acl[%zu] %s can match a shorter subject than acl[%zu] %s (a "
                       "proper token prefix of it): give the NATS users allowed %s publish "
                       "permissions on literal subjects only (docs/SECURITY.md)\n",
                       j, c->acl[j].subject, i, c->acl[i].subject, c->acl[i].subject);
        }
    return n;
}

static int check_only(cmd_env *env)
{
    vault_status_info st;
    vc_err err;
    char *desc = config_describe(env->cfg);

    if (desc != NULL) {
        fputs(desc, stdout);
        free(desc);
    }
    (void)warn_acl_prefixes(env->cfg, false);
    if (natsmsg_self_check(&err) != VC_OK) {
        cmd_fail("%s", err.msg);
        return EXIT_ERROR;
    }
    if (vault_status(env->vault, &st, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        return EXIT_ERROR;
    }
    printf("master key: %s opens the vault at %s (%llu keys, key version %u)\n",
           env->cfg->master_key, env->cfg->storage_path, (unsigned long long)st.keys,
           st.key_version);
    return EXIT_OK;
}

/* After a failed start: when the master key file does not exist at all (the
 * usual mistake with the image: no Docker secret given), say what to do. */
static void hint_missing_key(const char *config_path)
{
    config *c = NULL;
    vc_err err;

    if (config_load(&c, config_path, environ, &err) != VC_OK)
        return;
    if (access(c->master_key, F_OK) != 0 && errno == ENOENT)
        cmd_fail("hint: no master key at %s (encryption.master_key). Create one "
                 "with `vaultctl keygen` (keep a copy: without it the vault cannot be "
                 "opened) and provide it there; with Docker: `(umask 077; vaultctl keygen > "
                 "vault_master_key)`, `docker secret create vault_master_key vault_master_key` "
                 "and --secret vault_master_key (see docs/deployment.md)",
                 c->master_key);
    config_free(c);
}

/* Until SIGTERM/SIGINT: every second, write the health file. */
static void run_until_signal(const sigset_t *sigs, health *h, service *svc, vault *v)
{
    health_write(h, service_connected(svc), v);
    for (;;) {
        struct timespec tick = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("received %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        health_write(h, service_connected(svc), v);
    }
}

int cmd_serve(const char *config_path, int argc, char **argv)
{
    bool check = false;
    cmd_env env;
    service *svc = NULL;
    rotator *rot = NULL;
    sweeper *sw = NULL;
    health h;
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
     * any other thread (nats.c, workers, rotation) starts, so they inherit
     * the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = cmd_open(&env, config_path, CMD_OPEN_VAULT);
    if (rc != EXIT_OK) {
        hint_missing_key(config_path);
        return rc;
    }
    /* nats_credentials' signing key: loaded once, before anything runs. */
    creds_signer *signer = NULL;
    if (creds_signer_load(&signer, env.cfg, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    nats_revoker *revoker = NULL;
    if (!check && revoker_start(&revoker, env.cfg, env.vault, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        creds_signer_free(signer);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    if (check) {
        rc = check_only(&env);
        if (signer != NULL && rc == EXIT_OK)
            printf("nats_credentials: signing key %s loads (account %s, %zu role%s)\n",
                   env.cfg->creds_signing_key, env.cfg->creds_account, env.cfg->creds_nroles,
                   env.cfg->creds_nroles == 1 ? "" : "s");
        char summary[2048];
        if (rc == EXIT_OK && revoker_check(env.cfg, summary, sizeof summary, &err) != VC_OK) {
            cmd_fail("%s", err.msg);
            rc = EXIT_ERROR;
        } else if (rc == EXIT_OK && summary[0] != '\0') {
            printf("nats_credentials: revocation: %s\n", summary);
        }
        if (rc == EXIT_OK)
            puts("configuration OK");
        creds_signer_free(signer);
        cmd_close(&env);
        return rc;
    }

    ops_ctx ctx = cmd_ops_ctx(&env);
    log_set_requests(env.cfg->log_requests);
    ctx.creds = signer;
    ctx.revoker = revoker;
    log_info("vaultctl %s starting: config %s, store %s", VAULTCTL_VERSION, env.cfg->file,
             env.cfg->storage_path);
    (void)warn_acl_prefixes(env.cfg, true);
    if (service_start(&svc, env.cfg, &ctx, &err) != VC_OK) {
        log_error("%s", err.msg);
        revoker_free(revoker);
        creds_signer_free(signer);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    if (env.cfg->rotation_interval_s > 0) {
        if (rotator_start(&rot, env.vault, env.cfg->rotation_interval_s, ctx.started, &err) !=
            VC_OK) {
            log_error("%s", err.msg);
            service_stop(svc);
            revoker_free(revoker);
            creds_signer_free(signer);
            cmd_close(&env);
            return EXIT_ERROR;
        }
        log_info("scheduled rotation every %lld s", (long long)env.cfg->rotation_interval_s);
    }

    /* The first pass runs now: what expired while the service was down
     * goes at start. */
    if (sweeper_start(&sw, env.vault, 0, &err) != VC_OK) {
        log_error("%s", err.msg);
        rotator_join(rot);
        service_stop(svc);
        revoker_free(revoker);
        creds_signer_free(signer);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    token_purger *purger = NULL;
    if (token_purger_start(&purger, env.vault, &err) != VC_OK)
        log_warn("%s: expired tokens are not purged", err.msg);

    health_init(&h, env.cfg->storage_path);
    run_until_signal(&sigs, &h, svc, env.vault);

    /* No rotation starts while the service drains; one in progress ends
     * before the vault closes. */
    if (rot != NULL)
        rotator_cancel(rot);
    service_stop(svc);
    sweeper_join(sw);
    rotator_join(rot);
    token_purger_stop(purger);
    health_remove(&h);
    revoker_free(revoker);
    creds_signer_free(signer);
    cmd_close(&env);
    log_info("vaultctl stopped");
    log_close();
    return EXIT_OK;
}
