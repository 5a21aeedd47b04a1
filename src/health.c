/* health.c - writes and reads the health file (see health.h). */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

void health_init(health *h, const char *storage_path)
{
    int a = snprintf(h->path, sizeof h->path, "%s/" HEALTH_FILE, storage_path);
    int b = snprintf(h->tmp, sizeof h->tmp, HEALTH_FILE ".%ld.tmp", (long)getpid());
    h->ok = a > 0 && (size_t)a < sizeof h->path && b > 0 && (size_t)b < sizeof h->tmp;
    h->write_failed = false;
    h->store_failed = false;
    h->dir_fd = -1;
    if (!h->ok) {
        log_warn("storage path too long: no health file");
        return;
    }
    h->dir_fd = open(storage_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (h->dir_fd < 0) {
        log_warn("health: cannot open %s: %s: no health file", storage_path, strerror(errno));
        h->ok = false;
    }
}

/* Creates the temporary file afresh: O_EXCL|O_NOFOLLOW, so whatever is
 * there (a stale file of a process that had our pid, or a link planted by
 * someone) is removed, never written through. */
static int create_tmp(health *h)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(h->dir_fd, h->tmp, flags, 0600);
    if (fd < 0 && errno == EEXIST) {
        (void)unlinkat(h->dir_fd, h->tmp, 0); /* removes a link, not its target */
        fd = openat(h->dir_fd, h->tmp, flags, 0600);
    }
    return fd;
}

/* Writes text to a new temporary file and renames it over HEALTH_FILE;
 * false with errno set on failure (nothing left behind). */
static bool write_file(health *h, const char *text)
{
    size_t len = strlen(text), off = 0;
    int fd = create_tmp(h);
    int e = 0;

    if (fd < 0)
        return false;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && e == 0)
        e = errno;
    /* rename replaces whatever HEALTH_FILE is, a link included, and
     * follows nothing. */
    if (e == 0 && renameat(h->dir_fd, h->tmp, h->dir_fd, HEALTH_FILE) != 0)
        e = errno;
    if (e != 0) {
        (void)unlinkat(h->dir_fd, h->tmp, 0);
        errno = e;
        return false;
    }
    return true;
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
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    errno = ENOMEM;
    bool written = text != NULL && write_file(h, text);
    int e = errno;
    free(text);
    json_decref(o);
    if (!written && !h->write_failed)
        log_warn("health: cannot write %s: %s", h->path, strerror(e));
    h->write_failed = !written;
}

void health_remove(health *h)
{
    if (h->dir_fd >= 0) {
        if (h->ok)
            (void)unlinkat(h->dir_fd, HEALTH_FILE, 0);
        (void)close(h->dir_fd);
        h->dir_fd = -1;
    }
    h->ok = false;
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
    /* Not through a link, and not a FIFO that would hang the check. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            (void)snprintf(why, cap, "no health file %s (is `vaultctl serve` running?)", path);
        else if (errno == ELOOP)
            (void)snprintf(why, cap, "health file %s is a symbolic link; refusing", path);
        else
            (void)snprintf(why, cap, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)close(fd);
        (void)snprintf(why, cap, "health file %s is not a regular file", path);
        return false;
    }
    json_t *doc = json_loadfd(fd, 0, &jerr);
    (void)close(fd);
    if (doc == NULL) {
        (void)snprintf(why, cap, "cannot read %s: %s", path, jerr.text);
        return false;
    }
    bool ok = doc_healthy(doc, max_age, age, why, cap);
    json_decref(doc);
    return ok;
}
