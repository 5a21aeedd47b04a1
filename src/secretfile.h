/* secretfile.h - reading a secret (a password, a token, a key) from a file:
 * the one reader, with one rule, for every file that holds a secret
 * (VAULTCTL_NATS_PASS_FILE and VAULTCTL_NATS_TOKEN_FILE, the master key
 * file, `vaultctl request --pass-file`).
 *
 * The rule:
 *   - the path's last component must not be a symbolic link (it is opened
 *     with O_NOFOLLOW: a secret swapped for a link must not redirect us;
 *     links in the directories above are followed, so a Kubernetes secret
 *     volume works through its "..data/" directory);
 *   - it must be a regular file (not a directory, FIFO, socket or device;
 *     opened with O_NONBLOCK so a FIFO planted at the path cannot hang us);
 *   - it must be owned by the effective user or by root, and not be
 *     writable by group or others (fileperm.h: whoever can write it can
 *     replace the secret; Docker's secrets are root-owned 0444);
 *   - it holds at most max bytes: a bigger file is an error naming the file
 *     and the limit, it is never cut;
 *   - exactly one trailing "\n" or "\r\n" is removed, nothing else (a second
 *     newline, a blank or a lone "\r" stays part of the secret);
 *   - what is left must not be empty and must not hold a NUL byte.
 *
 * Errors are VC_CONFIG (VC_INTERNAL when out of memory), their message
 * starts with the path and says what is wrong, e.g. "/run/secrets/x: is
 * empty", "/run/secrets/x: too large (70000 bytes; the limit is 65536)" or
 * "/etc/x: is writable by group or others (mode 0666, owner uid 0 (root)):
 * ...";
 * callers put their context in front ("master key ", "environment
 * VAULTCTL_NATS_PASS_FILE: "). A message never holds a byte of the file.
 */
#ifndef VAULTCTL_SECRETFILE_H
#define VAULTCTL_SECRETFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* The limit for a password or token file. */
#define SECRETFILE_MAX ((size_t)64 * 1024)

/* Reads the secret file at path under the rule above. On success *out is
 * the secret, NUL-terminated, *out_len its length (without the NUL), in
 * sodium_malloc'd memory (guarded, locked, wiped on free) that the caller
 * frees with secretfile_free; *mode (if mode is not NULL) is the file's
 * st_mode, for permission warnings. On failure *out is NULL. */
vc_code secretfile_read(const char *path, size_t max, char **out, size_t *out_len, mode_t *mode,
                        vc_err *err);

/* Applies the rule's first part (not a link, a regular file, owner and
 * mode) to the secret file at path without reading it: for the files that
 * nats.c reads itself (nats.creds, nats.tls.key). */
vc_code secretfile_check(const char *path, vc_err *err);

/* Wipes and frees a secret from secretfile_read; NULL is fine. */
void secretfile_free(char *secret);

#endif
