/* vault_file.c - the vault's store as files, with no vault open: restore a
 * backup in its place, and ask whether another process has it open (see
 * vault.h). Talks to store.h for the vault layer, so that no command does. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "store.h"
#include "vault.h"

typedef struct {
    size_t map_size;
    const seal_master *master;
    const char *key_name;
    const char *backup;
    vault_status_info st; /* of the staged copy */
} restore_check;

/* store_restore_check: the staged copy must open as a vault with the
 * configured master key before it replaces anything. */
static vc_code check_opens(void *arg, const char *staged_dir, vc_err *err)
{
    restore_check *c = arg;
    vault *v = NULL;
    vc_err e;

    if (vault_open(&v, staged_dir, c->map_size, c->master, &e) != VC_OK)
        return vc_errf(err, VC_BAD_REQUEST, "backup %s: does not open with master key %s: %s",
                       c->backup, c->key_name, e.msg);
    vc_code rc = vault_status(v, &c->st, &e);
    vault_close(v);
    if (rc != VC_OK)
        return vc_errf(err, rc, "backup %s: %s", c->backup, e.msg);
    return VC_OK;
}

vc_code vault_restore(const char *dir, size_t map_size, const seal_master *m, const char *key_name,
                      const char *backup_file, bool force, vault_status_info *st, vc_err *err)
{
    restore_check chk;

    memset(&chk, 0, sizeof chk);
    chk.map_size = map_size;
    chk.master = m;
    chk.key_name = key_name;
    chk.backup = backup_file;
    vc_code rc = store_restore(dir, backup_file, force, check_opens, &chk, err);
    if (rc == VC_OK && st != NULL)
        *st = chk.st;
    return rc;
}

vc_code vault_restore_config(const config *c, const seal_master *m, const char *key_name,
                             const char *backup_file, bool force, vault_status_info *st,
                             vc_err *err)
{
    restore_check chk;

    memset(&chk, 0, sizeof chk);
    chk.map_size = c->storage_map_size;
    chk.master = m;
    chk.key_name = key_name;
    chk.backup = backup_file;
    vc_code rc = store_restore_config(c, backup_file, force, check_opens, &chk, err);
    if (rc == VC_OK && st != NULL)
        *st = chk.st;
    return rc;
}

vc_code vault_in_use(const char *dir, bool *busy, vc_err *err)
{
    return store_in_use(dir, busy, err);
}
