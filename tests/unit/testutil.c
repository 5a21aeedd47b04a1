/* testutil.c - files on disk for the tests (see testutil.h). */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

char *tu_tmpdir(char *dir, size_t cap, const char *name)
{
    int n = snprintf(dir, cap, "/tmp/%s.XXXXXX", name);
    if (n < 0 || (size_t)n >= cap)
        return NULL;
    return mkdtemp(dir);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tu_rmtree(const char *dir)
{
    if (dir == NULL || dir[0] == '\0')
        return 0;
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *tu_path(char *path, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(path, cap, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < cap ? path : NULL;
}

int tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    (void)unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    int ok = n == (ssize_t)len && fchmod(fd, mode) == 0;
    return close(fd) == 0 && ok ? 0 : -1;
}

int tu_write_text(const char *path, const char *text)
{
    return tu_write_file(path, text, strlen(text), 0600);
}

seal_master *tu_master(void)
{
    char b64[SEAL_KEYGEN_B64];
    seal_master *m = NULL;
    vc_err err;

    if (seal_init(&err) != VC_OK || seal_keygen_b64(b64, sizeof b64, &err) != VC_OK ||
        seal_master_parse(&m, b64, strlen(b64), "test key", &err) != VC_OK) {
        fprintf(stderr, "tu_master: %s\n", err.msg);
        m = NULL;
    }
    sodium_memzero(b64, sizeof b64);
    return m;
}

int tu_vault_open(tu_vault *t, const char *name, size_t map_size)
{
    vc_err err;

    memset(t, 0, sizeof *t);
    if (tu_tmpdir(t->dir, sizeof t->dir, name) == NULL) {
        fprintf(stderr, "tu_vault_open: cannot make a temp dir for %s\n", name);
        t->dir[0] = '\0';
        return -1;
    }
    t->m = tu_master();
    if (t->m == NULL)
        goto fail;
    if (vault_open(&t->v, t->dir, map_size, t->m, &err) != VC_OK) {
        fprintf(stderr, "tu_vault_open: vault_open: %s\n", err.msg);
        goto fail;
    }
    return 0;
fail:
    tu_vault_close(t);
    return -1;
}

void tu_vault_close(tu_vault *t)
{
    vault_close(t->v);
    seal_master_free(t->m);
    (void)tu_rmtree(t->dir);
    t->v = NULL;
    t->m = NULL;
    t->dir[0] = '\0';
}
