/* secretfile.c - the one reader of secret files (see secretfile.h). */
#include "secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fileperm.h"

/* Reads fd to the end or until cap bytes are in buf; -1 on a read error. */
static ssize_t secretfile_read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Opens path under the rule's first part (not a link, a regular file, the
 * owner and mode of fileperm_check_secret); -1 with err filled on failure. */
static int secretfile_open(const char *path, struct stat *st, vc_err *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            (void)vc_errf(err, VC_CONFIG, "%s: is a symbolic link; refusing", path);
        else
            (void)vc_errf(err, VC_CONFIG, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0) {
        (void)vc_errf(err, VC_CONFIG, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        (void)vc_errf(err, VC_CONFIG, "%s: is not a regular file", path);
    } else if (fileperm_check_secret(path, st, err) == VC_OK) {
        return fd;
    }
    (void)close(fd);
    return -1;
}

vc_code secretfile_check(const char *path, vc_err *err)
{
    struct stat st;
    int fd = secretfile_open(path, &st, err);
    if (fd < 0)
        return VC_CONFIG;
    (void)close(fd);
    return VC_OK;
}

vc_code secretfile_read(const char *path, size_t max, char **out, size_t *out_len, mode_t *mode,
                        vc_err *err)
{
    struct stat st;
    char *buf = NULL;
    ssize_t got;
    size_t n;
    vc_code rc;

    *out = NULL;
    *out_len = 0;
    /* sodium_malloc needs it; callers such as `vaultctl request` need
     * nothing else of libsodium. Idempotent. */
    if (sodium_init() < 0)
        return vc_errf(err, VC_INTERNAL, "%s: cannot initialise libsodium", path);
    int fd = secretfile_open(path, &st, err);
    if (fd < 0)
        return VC_CONFIG;
    if ((unsigned long long)st.st_size > max) {
        rc = vc_errf(err, VC_CONFIG, "%s: too large (%lld bytes; the limit is %zu)", path,
                     (long long)st.st_size, max);
        goto done;
    }
    /* One byte more than max shows a file that grew since fstat; one more
     * again for the NUL. */
    if ((buf = sodium_malloc(max + 2)) == NULL) {
        rc = vc_errf(err, VC_INTERNAL, "%s: out of memory", path);
        goto done;
    }
    if ((got = secretfile_read_all(fd, buf, max + 1)) < 0) {
        rc = vc_errf(err, VC_CONFIG, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    n = (size_t)got;
    if (n > max) {
        rc = vc_errf(err, VC_CONFIG, "%s: too large (more than %zu bytes)", path, max);
        goto done;
    }
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    buf[n] = '\0';
    if (n == 0) {
        rc = vc_errf(err, VC_CONFIG, "%s: is empty", path);
        goto done;
    }
    if (memchr(buf, '\0', n) != NULL) {
        rc = vc_errf(err, VC_CONFIG, "%s: contains a NUL byte", path);
        goto done;
    }
    if (mode != NULL)
        *mode = st.st_mode;
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = VC_OK;
done:
    sodium_free(buf); /* wipes; NULL is fine */
    (void)close(fd);
    return rc;
}

void secretfile_free(char *secret)
{
    sodium_free(secret);
}
