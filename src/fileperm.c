/* fileperm.c - the ownership and mode rules (see fileperm.h). */
#include "fileperm.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void fileperm_who(uid_t uid, char *buf, size_t cap)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];

    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL && res->pw_name != NULL)
        (void)snprintf(buf, cap, "uid %lu (%s)", (unsigned long)uid, res->pw_name);
    else
        (void)snprintf(buf, cap, "uid %lu", (unsigned long)uid);
}

vc_code fileperm_check_store(const char *dir, const char *path, const struct stat *st, vc_err *err)
{
    char owner[160], me[160], what[PATH_MAX + 16];
    uid_t euid = geteuid();
    unsigned mode = (unsigned)(st->st_mode & 07777);
    bool is_dir = S_ISDIR(st->st_mode);

    /* "storage D: directory is ..." or "storage D: file D/data.mdb is ..." */
    if (strcmp(dir, path) == 0)
        (void)snprintf(what, sizeof what, "%s", is_dir ? "directory" : "file");
    else
        (void)snprintf(what, sizeof what, "%s %s", is_dir ? "directory" : "file", path);
    fileperm_who(st->st_uid, owner, sizeof owner);
    fileperm_who(euid, me, sizeof me);
    if (st->st_uid != euid) {
        if (euid == 0)
            return vc_errf(err, VC_CONFIG,
                           "storage %s: %s is owned by %s (mode %04o), and vaultctl runs as "
                           "root: run vaultctl as that user, the service's (`setpriv "
                           "--reuid=%lu --regid=GID --clear-groups vaultctl ...`, or `docker "
                           "exec` without `-u root`); root could `chown -R root %s` instead, "
                           "but then the service's user could no longer open the store",
                           dir, what, owner, mode, (unsigned long)st->st_uid, dir);
        return vc_errf(err, VC_CONFIG,
                       "storage %s: %s is owned by %s (mode %04o), not by %s that runs "
                       "vaultctl: its owner could replace the store; run vaultctl as its owner, "
                       "or give it to this user (as root: `chown -R %lu %s`)",
                       dir, what, owner, mode, me, (unsigned long)euid, dir);
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return vc_errf(err, VC_CONFIG,
                       "storage %s: %s is writable by group or others (mode %04o, owner %s): "
                       "they could replace or remove the store's files or plant links in it; "
                       "`chmod %s %s` (and check that nobody else changed it)",
                       dir, what, mode, owner, is_dir ? "700" : "600", path);
    return VC_OK;
}

vc_code fileperm_check_secret(const char *path, const struct stat *st, vc_err *err)
{
    char owner[160], me[160];
    uid_t euid = geteuid();
    unsigned mode = (unsigned)(st->st_mode & 07777);

    fileperm_who(st->st_uid, owner, sizeof owner);
    fileperm_who(euid, me, sizeof me);
    if (st->st_uid != euid && st->st_uid != 0)
        return vc_errf(err, VC_CONFIG,
                       "%s: is owned by %s (mode %04o), not by %s%s: its owner could replace "
                       "the secret; refusing (as root: `chown %lu %s`, or run vaultctl as its "
                       "owner)",
                       path, owner, mode, euid == 0 ? "root, " : me,
                       euid == 0 ? "that runs vaultctl" : " that runs vaultctl nor by root",
                       (unsigned long)euid, path);
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return vc_errf(err, VC_CONFIG,
                       "%s: is writable by group or others (mode %04o, owner %s): they could "
                       "replace the secret; refusing (`chmod 600 %s`, and check that nobody "
                       "else changed it)",
                       path, mode, owner, path);
    return VC_OK;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool fileperm_warn_readable(const char *path, mode_t mode)
{
    if ((mode & (S_IRGRP | S_IROTH)) == 0)
        return false;
    return !has_prefix(path, FILEPERM_DOCKER_SECRETS) && !has_prefix(path, "/var/run/secrets/");
}
