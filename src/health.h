/* health.h - the health file: `vaultctl serve` writes it every second,
 * `vaultctl health` (the image's HEALTHCHECK) reads it.
 *
 * It is <storage.path>/HEALTH_FILE: the store directory is the one place the
 * service may write in the image (read-only root file system), and it is
 * unique per vault, so two services on one host never share it. Contents,
 * one line of JSON:
 *
 *   {"time":<unix seconds>,"pid":<n>,"nats":"connected"|"disconnected",
 *    "store":"ok"|"error"[,"error":"<message>"]}
 *
 * written whole and renamed into place, so a reader never sees half a file.
 * Every file is created relative to the store directory's descriptor with
 * O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 under a name unique to the
 * process (HEALTH_FILE ".<pid>.tmp"), so a link planted in the directory
 * never redirects a write; the reader refuses a HEALTH_FILE that is a link
 * or not a regular file.
 * Healthy: written at most max_age seconds ago (HEALTH_MAX_AGE_S by
 * default), store ok and NATS connected. Problems are logged (log.h), once
 * per change, not every second.
 */
#ifndef VAULTCTL_HEALTH_H
#define VAULTCTL_HEALTH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "vault.h"

#define HEALTH_FILE      ".health"
#define HEALTH_MAX_AGE_S 10

/* The writer's state; set by health_init, members private. */
typedef struct {
    char path[PATH_MAX]; /* for messages */
    char tmp[64];        /* the temporary file's name in the directory */
    int dir_fd;          /* the store directory, open while serving */
    bool ok;             /* the path fits and the directory opened */
    bool write_failed;   /* logged once, not every second */
    bool store_failed;   /* likewise */
} health;

/* The writer for the vault in storage_path (logs a warning and writes
 * nothing if the path is too long or the directory does not open). Call it
 * after the vault has opened: vault_open checks the directory's owner and
 * mode (fileperm.h). */
void health_init(health *h, const char *storage_path);

/* Writes the file now: whether NATS is connected, and whether v answers
 * vault_status. */
void health_write(health *h, bool nats_connected, vault *v);

/* Removes the file (at a clean stop) and closes the directory. */
void health_remove(health *h);

/* Reads the file of the vault in storage_path: true if healthy, with *age
 * the seconds since it was written; otherwise false with why (cap bytes)
 * saying what is wrong, for the operator. */
bool health_check(const char *storage_path, long max_age, long *age, char *why, size_t cap);

#endif
