/* testutil.h - what the tests share for files on disk: a temporary
 * directory per fixture, removed with everything in it, and files written
 * whole with an exact mode.
 *
 * Linked into every unit test and the integration harness (the testutil
 * library in CMakeLists.txt; the file name keeps it out of the test_*.c
 * glob). Functions report failure by their result, so they serve cmocka
 * setups (return -1) and tests (assert) alike.
 */
#ifndef VAULTCTL_TESTUTIL_H
#define VAULTCTL_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "seal.h"
#include "vault.h"

/* Room for a directory tu_tmpdir makes with a name of up to 32 bytes. */
#define TU_DIR_MAX 64

/* Creates a new private directory /tmp/<name>.XXXXXX (mkdtemp, mode 0700)
 * and writes its path into dir (cap bytes). Returns dir, or NULL when the
 * path does not fit or mkdtemp fails. */
char *tu_tmpdir(char *dir, size_t cap, const char *name);

/* Removes dir and everything below it, links not followed. 0 when it is
 * all gone, -1 otherwise (dir NULL or "" is a no-op: 0). */
int tu_rmtree(const char *dir);

/* Writes "dir/name" into path (cap bytes); returns path, or NULL when it
 * does not fit. */
char *tu_path(char *path, size_t cap, const char *dir, const char *name);

/* Replaces the file at path with the len bytes at data, with exactly the
 * given mode (set with fchmod, past the umask). 0 on success, -1 on any
 * failure. */
int tu_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* tu_write_file of a NUL-terminated text, mode 0600. */
int tu_write_text(const char *path, const char *text);

/* ---- a vault to stand on ---- */

/* A fresh random master key (seal_init done); NULL on failure. The caller
 * frees it with seal_master_free. */
seal_master *tu_master(void);

/* A vault in its own temp dir under its own master key: what the tests of
 * the vault and of the layers above it (ops, audit) stand on. */
typedef struct {
    char dir[TU_DIR_MAX];
    seal_master *m;
    vault *v;
} tu_vault;

/* Makes the temp dir /tmp/<name>.XXXXXX and a master key, and opens a vault
 * there with map_size (0: the default). 0 on success; -1 (with a message on
 * stderr, and nothing left behind) otherwise. */
int tu_vault_open(tu_vault *t, const char *name, size_t map_size);

/* Closes the vault, frees the key, removes the dir (each if there). */
void tu_vault_close(tu_vault *t);

#endif
