/* fileperm.h - who may change the files vaultctl trusts: the ownership and
 * mode rules for the store directory (and the files in it) and for secret
 * files, with the messages that say what to do.
 *
 * The store directory (storage.path) and LMDB's files in it:
 *   - owned by the effective user that runs vaultctl (root too: root runs
 *     vaultctl on a store owned by another user only after a chown, and is
 *     told so), and
 *   - not writable by group or others (whoever can write the directory can
 *     replace or remove the store's files or plant links where vaultctl
 *     writes).
 * A secret file (the master key, ..._FILE, --pass-file, nats.creds,
 * nats.tls.key):
 *   - owned by the effective user or by root (Docker secrets are root-owned
 *     0444 while the image's service runs as uid 10001), and
 *   - not writable by group or others (whoever can write it can replace the
 *     secret: a master key of their own would wrap the next keyring).
 * Readable by group or others is only warned about, and only for the master
 * key outside /run/secrets/ (FILEPERM_DOCKER_SECRETS), where Docker puts its
 * secrets root-owned and 0444 by default.
 */
#ifndef VAULTCTL_FILEPERM_H
#define VAULTCTL_FILEPERM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

#define FILEPERM_DOCKER_SECRETS "/run/secrets/"

/* "uid 65534 (nobody)", or "uid 10001" when the user has no name here. */
void fileperm_who(uid_t uid, char *buf, size_t cap);

/* The store rule for st, the stat of path (a directory, or a file in the
 * store directory). VC_CONFIG with a message that starts "storage DIR: "
 * (dir) and names path, its owner and mode and what to do. */
vc_code fileperm_check_store(const char *dir, const char *path, const struct stat *st, vc_err *err);

/* The secret-file rule for st, the stat of path. VC_CONFIG with a message
 * that starts with path (secretfile.h's convention). */
vc_code fileperm_check_secret(const char *path, const struct stat *st, vc_err *err);

/* Whether a master key file at path with this mode deserves the warning:
 * readable by group or others, and not under FILEPERM_DOCKER_SECRETS (nor
 * /var/run/secrets/, the same directory on Debian). */
bool fileperm_warn_readable(const char *path, mode_t mode);

#endif
