/* cmd_ops.c - operations commands: backup, restore, rekey, health.
 *
 *   backup FILE            hot copy through the open vault (LMDB readers
 *                          never block the service's writers)
 *   restore [--force] FILE put a backup in place; the service must be
 *                          stopped (vault_restore refuses otherwise)
 *   rekey --new-key FILE   re-wrap the keyring under a new master key; the
 *                          service must be stopped (it holds the old key)
 *   health [--max-age S]   read the health file `serve` writes every second
 *                          (health.h)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "health.h"
#include "log.h"

extern char **environ;

/* ---- backup ------------------------------------------------------------ */

int cmd_backup(const char *config_path, int argc, char **argv)
{
    cmd_env env;
    vault_status_info st;
    vc_err err;
    int rc;

    if (argc != 2 || argv[1][0] == '-') {
        fputs("usage: vaultctl [--config FILE] backup FILE\n", stderr);
        return EXIT_USAGE;
    }
    rc = cmd_open(&env, config_path, CMD_OPEN_VAULT);
    if (rc != EXIT_OK)
        return rc;
    /* Status first: the figures describe a state no older than the copy. */
    if (vault_status(env.vault, &st, &err) != VC_OK ||
        vault_backup(env.vault, argv[1], &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    printf("backup %s: written (%llu keys at key version %u or later; still encrypted: "
           "restoring it needs the master key)\n",
           argv[1], (unsigned long long)st.keys, st.key_version);
    cmd_close(&env);
    return EXIT_OK;
}

/* ---- restore ----------------------------------------------------------- */

int cmd_restore(const char *config_path, int argc, char **argv)
{
    const char *file = NULL;
    bool force = false;
    cmd_env env;
    vault_status_info st;
    vc_err err;
    int rc;

    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (strcmp(argv[i], "--force") == 0 && !force)
            force = true;
        else if (argv[i][0] != '-' && file == NULL)
            file = argv[i];
        else
            bad = true;
    }
    if (bad || file == NULL) {
        fputs("usage: vaultctl [--config FILE] restore [--force] FILE\n", stderr);
        return EXIT_USAGE;
    }
    rc = cmd_open(&env, config_path, CMD_OPEN_KEY);
    if (rc != EXIT_OK)
        return rc;
    if (vault_restore_config(env.cfg, env.master, env.cfg->master_key, file, force, &st, &err) !=
        VC_OK) {
        cmd_fail("%s", err.msg);
        rc = EXIT_ERROR;
    } else {
        printf("restored %s into %s: %llu keys, key version %u\n", file, env.cfg->storage_path,
               (unsigned long long)st.keys, st.key_version);
    }
    cmd_close(&env);
    return rc;
}

/* ---- rekey ------------------------------------------------------------- */

/* A running service keeps the old key in memory and would fail on its next
 * request after a rekey, so rekey runs with the service stopped. */
static int refuse_if_in_use(const char *config_path)
{
    config *cfg = NULL;
    bool busy = false;
    vc_err err;

    if (config_load(&cfg, config_path, environ, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        return EXIT_ERROR;
    }
    if (vault_in_use(cfg->storage_path, &busy, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        config_free(cfg);
        return EXIT_ERROR;
    }
    if (busy)
        cmd_fail("storage %s: in use by another process: stop the service before a rekey "
                 "(it holds the old key)",
                 cfg->storage_path);
    config_free(cfg);
    return busy ? EXIT_ERROR : EXIT_OK;
}

int cmd_rekey(const char *config_path, int argc, char **argv)
{
    cmd_env env;
    seal_master *next = NULL;
    bool warn_perm = false;
    vc_err err;
    int rc;

    if (argc != 3 || strcmp(argv[1], "--new-key") != 0) {
        fputs("usage: vaultctl [--config FILE] rekey --new-key FILE\n", stderr);
        return EXIT_USAGE;
    }
    const char *key_file = argv[2];
    rc = refuse_if_in_use(config_path);
    if (rc != EXIT_OK)
        return rc;
    rc = cmd_open(&env, config_path, CMD_OPEN_VAULT);
    if (rc != EXIT_OK)
        return rc;
    if (seal_master_load(&next, key_file, &warn_perm, &err) != VC_OK) {
        cmd_fail("new key: %s", err.msg);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    if (warn_perm)
        log_warn("new key %s is readable by group or others: only the service's user should "
                 "read it (chmod 600 it; Docker secrets under /run/secrets/ are exempt)",
                 key_file);
    /* One transaction: a crash leaves the old key or the new one in charge. */
    if (vault_rekey(env.vault, next, &err) != VC_OK) {
        cmd_fail("rekey: %s (nothing changed: the old key still opens the vault)", err.msg);
        rc = EXIT_ERROR;
    } else {
        printf("rekeyed %s: only the key in %s opens it now; put that key where "
               "encryption.master_key points (%s), or replace the Docker secret, "
               "before the service starts again\n",
               env.cfg->storage_path, key_file, env.cfg->master_key);
    }
    cmd_close(&env); /* the vault borrows next: close it first */
    seal_master_free(next);
    return rc;
}

/* ---- health ------------------------------------------------------------ */

int cmd_health(const char *config_path, int argc, char **argv)
{
    long max_age = HEALTH_MAX_AGE_S;
    config *cfg = NULL;
    char why[VC_ERR_MSG_MAX];
    vc_err err;
    long age = 0;

    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--max-age") == 0 && i + 1 < argc) {
            errno = 0;
            max_age = strtol(argv[++i], &end, 10);
            if (errno == 0 && end != argv[i] && *end == '\0' && max_age > 0)
                continue;
        }
        fputs("usage: vaultctl [--config FILE] health [--max-age SECONDS]\n", stderr);
        return EXIT_USAGE;
    }
    if (config_load(&cfg, config_path, environ, &err) != VC_OK) {
        cmd_fail("unhealthy: %s", err.msg);
        return EXIT_ERROR;
    }
    bool ok = health_check(cfg->storage_path, max_age, &age, why, sizeof why);
    config_free(cfg);
    if (!ok) {
        cmd_fail("unhealthy: %s", why);
        return EXIT_ERROR;
    }
    printf("healthy: NATS connected, store ok (%ld s ago)\n", age);
    return EXIT_OK;
}
