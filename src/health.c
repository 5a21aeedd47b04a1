/* health.c - writes and reads the health file (see health.h). */
#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

#define HEALTH_TMP ".health.tmp"

void health_init(health *h, const char *storage_path)
{
    int a = snprintf(h->path, sizeof h->path, "%s/" HEALTH_FILE, storage_path);
    int b = snprintf(h->tmp, sizeof h->tmp, "%s/" HEALTH_TMP, storage_path);
    h->ok = a > 0 && (size_t)a < sizeof h->path && b > 0 && (size_t)b < sizeof h->tmp;
    h->write_failed = false;
    h->store_failed = false;
    if (!h->ok)
        log_warn("storage path too long: no health file");
}

void health_write(health *h, bool nats_connected, vault *v)
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

    json_t *o = json_pack("{s:I, s:i, s:s, s:s}", "time", (json_int_t)time(NULL), "pid",
                          (int)getpid(), "nats", nats_connected ? "connected" : "disconnected",
                          "store", store_ok ? "ok" : "error");
    if (o != NULL && !store_ok)
        json_object_set_new(o, "error", json_string(err.msg));
    bool written =
        o != NULL && json_dump_file(o, h->tmp, JSON_COMPACT) == 0 && rename(h->tmp, h->path) == 0;
    json_decref(o);
    if (!written && !h->write_failed)
        log_warn("health: cannot write %s: %s", h->path, strerror(errno));
    h->write_failed = !written;
}

void health_remove(health *h)
{
    if (h->ok)
        (void)unlink(h->path);
}

/* Checks the health document; fills why (for the operator) when unhealthy. */
static bool doc_healthy(json_t *doc, long max_age, long *age, char *why, size_t cap)
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

bool health_check(const char *storage_path, long max_age, long *age, char *why, size_t cap)
{
    char path[PATH_MAX];
    json_error_t jerr;

    int w = snprintf(path, sizeof path, "%s/" HEALTH_FILE, storage_path);
    if (w < 0 || (size_t)w >= sizeof path) {
        (void)snprintf(why, cap, "storage path too long");
        return false;
    }
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        if (access(path, F_OK) != 0)
            (void)snprintf(why, cap, "no health file %s (is `vaultctl serve` running?)", path);
        else
            (void)snprintf(why, cap, "cannot read %s: %s", path, jerr.text);
        return false;
    }
    bool ok = doc_healthy(doc, max_age, age, why, cap);
    json_decref(doc);
    return ok;
}
