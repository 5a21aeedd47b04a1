/* testutil.c - files on disk for the tests (see testutil.h). */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
