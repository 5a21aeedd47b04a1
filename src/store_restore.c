/* store_restore.c - whole-store operations on a directory that this process
 * has not opened (see store.h): whether another process has the store open,
 * and restore from a backup file (staged in the store directory, checked,
 * then renamed into place).
 *
 * It uses only store.h's interface and store_int.h's path helpers, never
 * LMDB itself: store.c stays the only file that includes <lmdb.h>. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

/* ---- restore ----------------------------------------------------------- */

/* Staging directories of store_restore, inside the store directory so the
 * final rename stays on one file system (and is atomic). */
#define STORE_STAGE_PREFIX ".restore-"
#define STORE_COPY_CHUNK   ((size_t)1 << 20)

/* Every process that has an LMDB environment open holds a shared lock on
 * byte 0 of its lock file (mdb_env_excl_lock: exclusive while the first
 * opener initialises the file, shared afterwards). An exclusive lock on that
 * byte therefore conflicts with any other process that has it open, and an
 * opener waits while we hold one. */
static struct flock open_lock(short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    return fl;
}

static vc_code io_fail(const char *path, const char *what, int e, vc_err *err)
{
    return vc_errf(err, store_errno_code(e), "%s: %s: %s", path, what, strerror(e));
}

static vc_code path_too_long(const char *dir, vc_err *err)
{
    return vc_errf(err, VC_CONFIG, "storage %s: path too long", dir);
}

vc_code store_in_use(const char *dir, bool *busy, vc_err *err)
{
    char path[PATH_MAX];
    struct flock fl = open_lock(F_WRLCK);
    int fd, rc, e;

    *busy = false;
    if (!store_join_path(path, sizeof path, dir, STORE_LOCK_FILE))
        return path_too_long(dir, err);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return VC_OK; /* no store, or never opened */
        return io_fail(path, "cannot open", errno, err);
    }
    rc = fcntl(fd, F_GETLK, &fl);
    e = errno;
    close(fd);
    if (rc != 0)
        return io_fail(path, "cannot test the lock", e, err);
    *busy = fl.l_type != F_UNLCK;
    return VC_OK;
}

/* Takes the exclusive lock that keeps every other process from opening the
 * store in dir; *fd holds it until closed. */
static vc_code lock_exclusive(const char *dir, int *fd, vc_err *err)
{
    char path[PATH_MAX];
    struct flock fl = open_lock(F_WRLCK);

    *fd = -1;
    if (!store_join_path(path, sizeof path, dir, STORE_LOCK_FILE))
        return path_too_long(dir, err);
    int lfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lfd < 0)
        return io_fail(path, "cannot open", errno, err);
    if (fcntl(lfd, F_SETLK, &fl) != 0) {
        int e = errno;
        close(lfd);
        if (e == EACCES || e == EAGAIN)
            return vc_errf(err, VC_UNAVAILABLE,
                           "storage %s: in use by another process (stop the "
                           "service first)",
                           dir);
        return io_fail(path, "cannot lock", e, err);
    }
    *fd = lfd;
    return VC_OK;
}

/* Opens the store at dir (no other process has it open), reads the entry
 * count of tbl and closes it again. */
static vc_code count_entries(const char *dir, store_table tbl, uint64_t *n, vc_err *err)
{
    store *s = NULL;
    store_txn *t = NULL;
    vc_code code = store_open(&s, dir, 0, err);

    *n = 0;
    if (code != VC_OK || s == NULL) /* s: for the analyzer, which cannot
                                       see that vc_errf never returns OK */
        return code != VC_OK ? code : VC_INTERNAL;
    code = store_begin(s, false, &t, err);
    if (code == VC_OK && t != NULL) {
        code = store_count(t, tbl, n, err);
        store_abort(t);
    }
    store_close(s);
    return code;
}

/* Records in the store at dir now; 0 if it has no data file yet. */
static vc_code current_records(const char *dir, uint64_t *n, vc_err *err)
{
    char path[PATH_MAX];
    struct stat st;

    *n = 0;
    if (!store_join_path(path, sizeof path, dir, STORE_DATA_FILE))
        return path_too_long(dir, err);
    if (stat(path, &st) != 0 && errno == ENOENT)
        return VC_OK;
    return count_entries(dir, STORE_RECORDS, n, err);
}

static vc_code sync_dir(const char *dir, vc_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(dir, "cannot open directory", errno, err);
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return io_fail(dir, "cannot sync directory", e, err);
    }
    close(fd);
    return VC_OK;
}

/* Removes a staging directory and the LMDB files in it; best effort. */
void store_remove_stage(const char *stage)
{
    char path[PATH_MAX];
    if (store_join_path(path, sizeof path, stage, STORE_DATA_FILE))
        (void)unlink(path);
    if (store_join_path(path, sizeof path, stage, STORE_LOCK_FILE))
        (void)unlink(path);
    (void)rmdir(stage);
}

/* Staging directories left behind by a restore that crashed. */
static void remove_stale_stages(const char *dir)
{
    char path[PATH_MAX];
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, STORE_STAGE_PREFIX, strlen(STORE_STAGE_PREFIX)) == 0 &&
            store_join_path(path, sizeof path, dir, de->d_name))
            store_remove_stage(path);
    }
    closedir(d);
}

/* Writes all len bytes of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Copies the backup file into a new file at to and syncs it. */
static vc_code copy_backup(const char *from, const char *to, vc_err *err)
{
    struct stat st;
    char *buf = NULL;
    vc_code code = VC_OK;
    int in, out = -1, e;

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return vc_errf(err, VC_BAD_REQUEST, "backup %s: cannot open: %s", from, strerror(errno));
    /* LMDB would take an empty file for a new, empty store. */
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(in);
        return vc_errf(err, VC_BAD_REQUEST,
                       "backup %s: not a store backup (empty or not a "
                       "regular file)",
                       from);
    }
    buf = malloc(STORE_COPY_CHUNK);
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (buf == NULL || out < 0) {
        code = buf == NULL ? vc_errf(err, VC_INTERNAL, "out of memory")
                           : io_fail(to, "cannot create", errno, err);
        goto done;
    }
    for (;;) {
        ssize_t r = read(in, buf, STORE_COPY_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            code =
                vc_errf(err, VC_BAD_REQUEST, "backup %s: cannot read: %s", from, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        if ((e = write_all(out, buf, (size_t)r)) != 0) {
            code = io_fail(to, "cannot write", e, err);
            goto done;
        }
    }
    if (fsync(out) != 0)
        code = io_fail(to, "cannot sync", errno, err);
done:
    free(buf);
    if (out >= 0 && close(out) != 0 && code == VC_OK)
        code = io_fail(to, "cannot close", errno, err);
    close(in);
    return code;
}

/* The staged copy must open as a store and hold bookkeeping (META). */
static vc_code check_stage(const char *stage, const char *backup, vc_err *err)
{
    uint64_t meta = 0;
    vc_err e;

    if (count_entries(stage, STORE_META, &meta, &e) != VC_OK)
        return vc_errf(err, VC_BAD_REQUEST, "backup %s: not a store backup: %s", backup, e.msg);
    if (meta == 0)
        return vc_errf(err, VC_BAD_REQUEST, "backup %s: not a store backup (it holds no vault)",
                       backup);
    return VC_OK;
}

/* Renames the staged data file over the store's, then makes it durable. */
static vc_code install_stage(const char *dir, const char *stage, vc_err *err)
{
    char from[PATH_MAX], to[PATH_MAX];

    if (!store_join_path(from, sizeof from, stage, STORE_DATA_FILE) ||
        !store_join_path(to, sizeof to, dir, STORE_DATA_FILE))
        return path_too_long(dir, err);
    if (rename(from, to) != 0)
        return io_fail(to, "cannot replace", errno, err);
    return sync_dir(dir, err);
}

/* A backup of the jetstream backend is a copy of its cache, whose own
 * bookkeeping (STORE_LOCAL: the stream followed, the sequence applied)
 * must not come along: the restored store is no cache of that stream. */
static vc_code drop_local(const char *stage, vc_err *err)
{
    slmdb *s = NULL;
    slmdb_txn *t = NULL;
    vc_code code = slmdb_open(&s, stage, 0, false, err);

    if (code == VC_OK && (code = slmdb_begin(s, true, &t, err)) == VC_OK) {
        code = slmdb_clear(t, STORE_LOCAL, err);
        if (code == VC_OK)
            code = slmdb_commit(t, err); /* ends t either way */
        else
            slmdb_abort(t);
    }
    slmdb_close(s);
    return code;
}

vc_code store_stage_backup(const char *dir, const char *backup_file, char *stage, size_t cap,
                           vc_err *err)
{
    char data[PATH_MAX];
    vc_code code;

    if (!store_join_path(stage, cap, dir, STORE_STAGE_PREFIX "XXXXXX")) {
        stage[0] = '\0';
        return path_too_long(dir, err);
    }
    if (mkdtemp(stage) == NULL) {
        code = io_fail(stage, "cannot create directory", errno, err);
        stage[0] = '\0';
        return code;
    }
    if (!store_join_path(data, sizeof data, stage, STORE_DATA_FILE))
        return path_too_long(dir, err);
    if ((code = copy_backup(backup_file, data, err)) != VC_OK ||
        (code = check_stage(stage, backup_file, err)) != VC_OK)
        return code;
    return drop_local(stage, err);
}

vc_code store_restore(const char *dir, const char *backup_file, bool force,
                      store_restore_check check, void *arg, vc_err *err)
{
    char stage[PATH_MAX];
    uint64_t records = 0;
    bool busy = false;
    int lock_fd = -1;
    vc_err e;
    vc_code code;

    stage[0] = '\0';
    if (dir == NULL || dir[0] == '\0')
        return vc_errf(err, VC_CONFIG, "storage: no directory given");
    if ((code = store_prepare_dir(dir, err)) != VC_OK ||
        (code = store_in_use(dir, &busy, err)) != VC_OK)
        return code;
    if (busy)
        return vc_errf(err, VC_UNAVAILABLE,
                       "storage %s: in use by another process (stop the "
                       "service first)",
                       dir);
    if (current_records(dir, &records, &e) != VC_OK) {
        if (!force)
            return vc_errf(err, VC_BAD_REQUEST, "%s (restore --force replaces it anyway)", e.msg);
    } else if (records > 0 && !force) {
        return vc_errf(err, VC_BAD_REQUEST,
                       "storage %s: holds %llu records: restore replaces a "
                       "non-empty store only with --force",
                       dir, (unsigned long long)records);
    }
    if ((code = lock_exclusive(dir, &lock_fd, err)) != VC_OK)
        return code;
    remove_stale_stages(dir);

    if ((code = store_stage_backup(dir, backup_file, stage, sizeof stage, err)) != VC_OK)
        goto done;
    if (check != NULL && (code = check(arg, stage, err)) != VC_OK)
        goto done;
    code = install_stage(dir, stage, err);
done:
    if (stage[0] != '\0') {
        store_remove_stage(stage);
        vc_err ignore;
        (void)sync_dir(dir, &ignore);
    }
    if (lock_fd >= 0)
        close(lock_fd); /* lets other processes open the store again */
    return code;
}
