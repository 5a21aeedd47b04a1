/* cmd_serve.c - `vaultctl serve [--check]`: parse config, check it, open the
 * vault, run the service until SIGTERM/SIGINT, drain, exit 0.
 *
 * Besides the NATS service (service.c) the serve process does two timed
 * jobs: it rotates the data key every rotation.interval (on a thread of its
 * own), and every second it writes a small health file that `vaultctl
 * health` (the image's HEALTHCHECK) reads. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "log.h"
#include "ops.h"
#include "service.h"

extern char **environ;

/* <storage.path>/HEALTH_FILE; cmd_ops.c (vaultctl health) reads the same
 * name. In the store directory because that is the one place the service
 * may write in the image (read-only root file system) and it is unique per
 * vault, so two services on one host never share it. */
#define HEALTH_FILE ".health"
#define HEALTH_TMP  ".health.tmp"

/* After a failed scheduled rotation, wait this long (or the interval, if
 * shorter) before the next try, so a full disk does not fill the log. */
#define ROTATION_RETRY_S 60

/* ---- scheduled rotation ------------------------------------------------ */

/* The rotation thread. vault_rotate re-seals every record in batches of
 * durable transactions and can take a while on a large vault, so it does
 * not run on the thread that takes signals. It cannot be interrupted: a
 * SIGTERM during a rotation stops taking requests at once but the process
 * exits only when the rotation is done. A kill -9 instead is safe (each batch
 * is durable; the next rotation finishes the job). */
typedef struct {
    vault *vault;
    int64_t interval; /* seconds, > 0 */
    int64_t started;  /* due time base when the vault was never rotated */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
    pthread_t thread;
} rotator;

/* Rotates if due: now >= (last rotation, or service start) + interval. */
static void rotate_if_due(rotator *r, int64_t *retry_at)
{
    vault_status_info st;
    uint32_t version = 0;
    uint64_t resealed = 0;
    vc_err err;
    int64_t now = (int64_t)time(NULL);
    int64_t retry = r->interval < ROTATION_RETRY_S ? r->interval : ROTATION_RETRY_S;

    if (now < *retry_at)
        return;
    if (vault_status(r->vault, &st, &err) != VC_OK) {
        log_warn("scheduled rotation: cannot read the vault status: %s", err.msg);
        *retry_at = now + retry;
        return;
    }
    int64_t base = st.last_rotation > 0 ? st.last_rotation : r->started;
    if (now < base + r->interval)
        return;
    if (vault_rotate(r->vault, &version, &resealed, &err) != VC_OK) {
        log_error("scheduled rotation failed: %s (next try in %lld s)", err.msg, (long long)retry);
        *retry_at = (int64_t)time(NULL) + retry;
        return;
    }
    log_info("scheduled rotation: key version %u, %llu re-sealed", version,
             (unsigned long long)resealed);
}

static void *rotator_main(void *arg)
{
    rotator *r = arg;
    int64_t retry_at = 0;

    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        rotate_if_due(r, &retry_at);
        pthread_mutex_lock(&r->mu);
        if (r->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        (void)pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int rotator_start(rotator *r, vault *v, int64_t interval, int64_t started)
{
    pthread_condattr_t ca;

    memset(r, 0, sizeof *r);
    r->vault = v;
    r->interval = interval;
    r->started = started;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&r->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&r->mu, NULL) != 0)
        goto fail_cv;
    if (pthread_create(&r->thread, NULL, rotator_main, r) != 0)
        goto fail_mu;
    return 0;
fail_mu:
    pthread_mutex_destroy(&r->mu);
fail_cv:
    pthread_cond_destroy(&r->cv);
    return -1;
}

/* No rotation starts after this (one in progress runs to its end). */
static void rotator_cancel(rotator *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits for a rotation in progress, then joins the thread. */
static void rotator_join(rotator *r)
{
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* ---- health file ------------------------------------------------------- */

typedef struct {
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    bool ok;           /* the path fits */
    bool write_failed; /* logged once, not every second */
    bool store_failed; /* likewise */
} health;

static void health_init(health *h, const char *storage_path)
{
    int a = snprintf(h->path, sizeof h->path, "%s/" HEALTH_FILE, storage_path);
    int b = snprintf(h->tmp, sizeof h->tmp, "%s/" HEALTH_TMP, storage_path);
    h->ok = a > 0 && (size_t)a < sizeof h->path && b > 0 && (size_t)b < sizeof h->tmp;
    h->write_failed = false;
    h->store_failed = false;
    if (!h->ok)
        log_warn("storage path too long: no health file");
}

/* {"time":unix seconds,"pid":n,"nats":"connected"|"disconnected",
 *  "store":"ok"|"error"[,"error":message]}, written whole and renamed into
 * place so a reader never sees half a file. */
static void health_write(health *h, service *svc, vault *v)
{
    vault_status_info st;
    vc_err err;

    if (!h->ok)
        return;
    bool store_ok = vault_status(v, &st, &err) == VC_OK;
    if (!store_ok && !h->store_failed)
        log_error("health: the store fails: %s", err.msg);
    else if (store_ok && h->store_failed)
        log_info("health: the store works again");
    h->store_failed = !store_ok;

    json_t *o = json_pack(
        "{s:I, s:i, s:s, s:s}", "time", (json_int_t)time(NULL), "pid", (int)getpid(), "nats",
        service_connected(svc) ? "connected" : "disconnected", "store", store_ok ? "ok" : "error");
    if (o != NULL && !store_ok)
        json_object_set_new(o, "error", json_string(err.msg));
    bool written =
        o != NULL && json_dump_file(o, h->tmp, JSON_COMPACT) == 0 && rename(h->tmp, h->path) == 0;
    json_decref(o);
    if (!written && !h->write_failed)
        log_warn("health: cannot write %s: %s", h->path, strerror(errno));
    h->write_failed = !written;
}

static void health_remove(health *h)
{
    if (h->ok)
        (void)unlink(h->path);
}

/* ---- serve ------------------------------------------------------------- */

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
                 "with `vaultctl keygen` and provide it there; with Docker: "
                 "`vaultctl keygen | docker secret create vault_master_key -` "
                 "and --secret vault_master_key (see docs/deployment.md)",
                 c->master_key);
    config_free(c);
}

/* Until SIGTERM/SIGINT: every second, write the health file. */
static void run_until_signal(const sigset_t *sigs, health *h, service *svc, vault *v)
{
    health_write(h, svc, v);
    for (;;) {
        struct timespec tick = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("received %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        health_write(h, svc, v);
    }
}

int cmd_serve(const char *config_path, int argc, char **argv)
{
    bool check = false;
    cmd_env env;
    service *svc = NULL;
    rotator rot;
    bool rotating = false;
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

    rc = cmd_open(&env, config_path);
    if (rc != EXIT_OK) {
        hint_missing_key(config_path);
        return rc;
    }
    if (check) {
        rc = check_only(&env);
        cmd_close(&env);
        return rc;
    }

    ops_ctx ctx = cmd_ops_ctx(&env);
    log_info("vaultctl %s starting: config %s, store %s", VAULTCTL_VERSION, env.cfg->file,
             env.cfg->storage_path);
    if (service_start(&svc, env.cfg, &ctx, &err) != VC_OK) {
        log_error("%s", err.msg);
        cmd_close(&env);
        return EXIT_ERROR;
    }
    if (env.cfg->rotation_interval_s > 0) {
        if (rotator_start(&rot, env.vault, env.cfg->rotation_interval_s, ctx.started) != 0) {
            log_error("cannot start the rotation thread");
            service_stop(svc);
            cmd_close(&env);
            return EXIT_ERROR;
        }
        rotating = true;
        log_info("scheduled rotation every %lld s", (long long)env.cfg->rotation_interval_s);
    }

    health_init(&h, env.cfg->storage_path);
    run_until_signal(&sigs, &h, svc, env.vault);

    if (rotating)
        rotator_cancel(&rot);
    service_stop(svc);
    if (rotating)
        rotator_join(&rot);
    health_remove(&h);
    cmd_close(&env);
    log_info("vaultctl stopped");
    return EXIT_OK;
}
