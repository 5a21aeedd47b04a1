/* cmd_ops.c - operations commands: backup, restore, rekey, health.
 *
 *   backup FILE            hot copy through the open vault (LMDB readers
 *                          never block the service's writers)
 *   restore [--force] FILE put a backup in place; the service must be
 *                          stopped (store_restore refuses otherwise)
 *   rekey --new-key FILE   re-wrap the keyring under a new master key; the
 *                          service must be stopped (it holds the old key)
 *   health [--max-age S]   read the health file `serve` writes every second
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "store.h"

extern char **environ;

/* Written by cmd_serve.c in the store directory (same name there). */
#define HEALTH_FILE      ".health"
#define HEALTH_MAX_AGE_S 10

/* Loads the configuration and the master key, without opening the vault. */
static int load_config_key(config **cfg, seal_master **m, const char *config_path)
{
    vc_err err;
    bool warn_perm = false;

    *cfg = NULL;
    *m = NULL;
    if (seal_init(&err) != VC_OK || config_load(cfg, config_path, environ, &err) != VC_OK ||
        seal_master_load(m, (*cfg)->master_key, &warn_perm, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        config_free(*cfg);
        *cfg = NULL;
        return EXIT_ERROR;
    }
    if (warn_perm)
        cmd_fail("warning: master key %s is writable by group or others; chmod 600 it",
                 (*cfg)->master_key);
    return EXIT_OK;
}

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
    rc = cmd_open(&env, config_path);
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

typedef struct {
    const config *cfg;
    const seal_master *master;
    const char *backup;
    vault_status_info st; /* of the staged copy */
} restore_check;

/* store_restore_check: the staged copy must open as a vault with the
 * configured master key before it replaces anything. */
static vc_code check_with_key(void *arg, const char *staged_dir, vc_err *err)
{
    restore_check *c = arg;
    vault *v = NULL;
    vc_err e;

    if (vault_open(&v, staged_dir, c->cfg->storage_map_size, c->master, &e) != VC_OK)
        return vc_errf(err, VC_BAD_REQUEST, "backup %s: does not open with master key %s: %s",
                       c->backup, c->cfg->master_key, e.msg);
    vc_code rc = vault_status(v, &c->st, &e);
    vault_close(v);
    if (rc != VC_OK)
        return vc_errf(err, rc, "backup %s: %s", c->backup, e.msg);
    return VC_OK;
}

int cmd_restore(const char *config_path, int argc, char **argv)
{
    restore_check chk;
    const char *file = NULL;
    bool force = false;
    config *cfg = NULL;
    seal_master *m = NULL;
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
    rc = load_config_key(&cfg, &m, config_path);
    if (rc != EXIT_OK)
        return rc;
    memset(&chk, 0, sizeof chk);
    chk.cfg = cfg;
    chk.master = m;
    chk.backup = file;
    if (store_restore(cfg->storage_path, file, force, check_with_key, &chk, &err) != VC_OK) {
        cmd_fail("%s", err.msg);
        rc = EXIT_ERROR;
    } else {
        printf("restored %s into %s: %llu keys, key version %u\n", file, cfg->storage_path,
               (unsigned long long)chk.st.keys, chk.st.key_version);
    }
    seal_master_free(m);
    config_free(cfg);
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
    if (store_in_use(cfg->storage_path, &busy, &err) != VC_OK) {
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
    rc = cmd_open(&env, config_path);
    if (rc != EXIT_OK)
        return rc;
    if (seal_master_load(&next, key_file, &warn_perm, &err) != VC_OK) {
        cmd_fail("new key: %s", err.msg);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    if (warn_perm)
        cmd_fail("warning: new key %s is writable by group or others; chmod 600 it", key_file);
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

/* Checks the health document; fills why (for the operator) when unhealthy. */
static bool health_ok(json_t *doc, long max_age, char *why, size_t cap, long *age)
{
    json_t *t = json_object_get(doc, "time");
    const char *nats = json_string_value(json_object_get(doc, "nats"));
    const char *st = json_string_value(json_object_get(doc, "store"));
    const char *detail = json_string_value(json_object_get(doc, "error"));

    if (!json_is_integer(t) || nats == NULL || st == NULL) {
        (void)snprintf(why, cap, "health file is malformed");
        return false;
    }
    *age = (long)((json_int_t)time(NULL) - json_integer_value(t));
    if (*age > max_age || *age < -max_age) {
        (void)snprintf(why, cap,
                       "health file is %ld s old (limit %ld s): the service is not running "
                       "or hangs",
                       *age, max_age);
        return false;
    }
    if (strcmp(st, "ok") != 0) {
        (void)snprintf(why, cap, "store: %s", detail != NULL ? detail : st);
        return false;
    }
    if (strcmp(nats, "connected") != 0) {
        (void)snprintf(why, cap, "NATS: %s", nats);
        return false;
    }
    return true;
}

int cmd_health(const char *config_path, int argc, char **argv)
{
    long max_age = HEALTH_MAX_AGE_S;
    config *cfg = NULL;
    char path[PATH_MAX], why[VC_ERR_MSG_MAX];
    json_error_t jerr;
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
    int w = snprintf(path, sizeof path, "%s/" HEALTH_FILE, cfg->storage_path);
    config_free(cfg);
    if (w < 0 || (size_t)w >= sizeof path) {
        cmd_fail("unhealthy: storage path too long");
        return EXIT_ERROR;
    }
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        if (access(path, F_OK) != 0)
            cmd_fail("unhealthy: no health file %s (is `vaultctl serve` running?)", path);
        else
            cmd_fail("unhealthy: cannot read %s: %s", path, jerr.text);
        return EXIT_ERROR;
    }
    bool ok = health_ok(doc, max_age, why, sizeof why, &age);
    json_decref(doc);
    if (!ok) {
        cmd_fail("unhealthy: %s", why);
        return EXIT_ERROR;
    }
    printf("healthy: NATS connected, store ok (%ld s ago)\n", age);
    return EXIT_OK;
}
