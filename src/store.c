/* store.c - the storage backend on LMDB (see store.h).
 *
 * The only file that includes <lmdb.h>. One LMDB environment per directory,
 * two named databases ("meta" and "records"). The environment is opened with
 * MDB_NOTLS so a read transaction belongs to its store_txn, not to the thread
 * that began it; a write transaction must still end (commit or abort) on the
 * thread that began it, because it holds LMDB's writer mutex.
 *
 * Durability: MDB_NOMETASYNC, so mdb_txn_commit flushes the data pages and
 * writes the meta page without flushing it (LMDB keeps the store intact
 * through a crash either way; an unflushed meta page only loses that last
 * transaction). store_commit then flushes the meta page with mdb_env_sync:
 * the same two flushes as LMDB's default. store_commit_unsynced leaves that
 * second flush to store_sync, so the group commit can begin its next
 * transaction while another thread syncs the last one before answering it.
 * Never MDB_NOSYNC (a crash could corrupt the store) or MDB_WRITEMAP (a full
 * disk would be a SIGBUS instead of an error).
 *
 * Several processes (the service and the CLI) share the directory through
 * LMDB's lock file. When another process has grown the map past ours,
 * mdb_txn_begin says MDB_MAP_RESIZED and we adopt the new size with
 * mdb_env_set_mapsize(env, 0). LMDB allows that only while this process has
 * no transaction open, so every transaction passes a small gate (a count of
 * open transactions) and the resize waits for that count to drop to zero.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How often store_begin adopts a grown map before giving up; another
 * process would have to grow the map this many times in a row. */
#define STORE_RESIZE_TRIES 8

/* Reader slots: the service's worker threads plus the CLI and backups. */
#define STORE_MAX_READERS 256

static const char *const table_names[STORE_N_TABLES] = {"meta", "records", "history", "expiry"};

/* Named databases the environment may hold: the tables above and room for
 * more (a later table of sealed tokens). */
#define STORE_MAX_DBS 16

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_N_TABLES];
    /* The gate: open transactions of this process, and whether one thread
     * is adopting a grown map (no transaction may begin meanwhile). */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    unsigned long active;
    bool resizing;
    char dir[]; /* for error messages */
};

struct store_txn {
    store *s;
    MDB_txn *txn;
    bool write;
    /* A put or delete failed: LMDB has marked the transaction unusable and
     * only an abort is left. Remembered so a commit says why it fails. */
    vc_code broken;
};

/* ---- the gate ---------------------------------------------------------- */

static void gate_enter(store *s)
{
    pthread_mutex_lock(&s->gate_mu);
    while (s->resizing)
        pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    s->active++;
    pthread_mutex_unlock(&s->gate_mu);
}

static void gate_leave(store *s)
{
    pthread_mutex_lock(&s->gate_mu);
    s->active--;
    if (s->active == 0)
        pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
}

/* Adopts the map size another process has grown the store to. The caller
 * holds no transaction. If another thread is already doing it, waits for it
 * instead of resizing twice. Returns an LMDB code. */
static int gate_adopt_map_size(store *s)
{
    int rc = 0;

    pthread_mutex_lock(&s->gate_mu);
    if (s->resizing) {
        while (s->resizing)
            pthread_cond_wait(&s->gate_cv, &s->gate_mu);
        pthread_mutex_unlock(&s->gate_mu);
        return 0;
    }
    s->resizing = true;
    while (s->active > 0)
        pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    rc = mdb_env_set_mapsize(s->env, 0);
    s->resizing = false;
    pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
    return rc;
}

/* ---- errors ------------------------------------------------------------ */

static const char *table_name(store_table tbl)
{
    return ((int)tbl >= 0 && tbl < STORE_N_TABLES) ? table_names[tbl] : "?";
}

static bool table_ok(store_table tbl)
{
    return (int)tbl >= 0 && tbl < STORE_N_TABLES;
}

/* Maps an LMDB (or errno) code from a data operation to a vc_code and fills
 * err: what the user can do about it comes first. */
static vc_code store_fail(const store *s, int rc, const char *what, vc_err *err)
{
    switch (rc) {
    case MDB_NOTFOUND:
        return vc_errf(err, VC_NOT_FOUND, "storage %s: %s: not found", s->dir, what);
    case MDB_MAP_FULL:
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return vc_errf(err, VC_UNAVAILABLE,
                       "storage %s: %s: storage full (raise storage.map_size "
                       "or free disk space): %s",
                       s->dir, what, mdb_strerror(rc));
    case MDB_TXN_FULL:
        return vc_errf(err, VC_UNAVAILABLE,
                       "storage %s: %s: storage full (transaction too "
                       "large): %s",
                       s->dir, what, mdb_strerror(rc));
    case EROFS:
    case EACCES:
        return vc_errf(err, VC_UNAVAILABLE, "storage %s: %s: storage read-only: %s", s->dir, what,
                       mdb_strerror(rc));
    case MDB_READERS_FULL:
        return vc_errf(err, VC_UNAVAILABLE, "storage %s: %s: too many readers at once: %s", s->dir,
                       what, mdb_strerror(rc));
    default:
        return vc_errf(err, VC_INTERNAL, "storage %s: %s: %s", s->dir, what, mdb_strerror(rc));
    }
}

static vc_code open_fail(const char *dir, const char *what, int rc, vc_err *err)
{
    return vc_errf(err, VC_CONFIG, "storage %s: %s: %s", dir, what, mdb_strerror(rc));
}

/* ---- open and close ---------------------------------------------------- */

/* Creates dir (mode 0700) unless it exists; parents are not created, so a
 * mistyped path fails here instead of growing a tree somewhere. */
static vc_code make_dir(const char *dir, vc_err *err)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return VC_OK;
    if (errno == ENOENT)
        return vc_errf(err, VC_CONFIG,
                       "storage %s: cannot create directory: parent "
                       "directory missing (parents are not created)",
                       dir);
    return open_fail(dir, "cannot create directory", errno, err);
}

static vc_code begin_txn(store *s, bool write, MDB_txn **out, vc_err *err);

/* Opens (creating) both named databases in one write transaction. */
static vc_code open_tables(store *s, vc_err *err)
{
    MDB_txn *txn = NULL;
    vc_err e;
    int rc;

    /* Start-up errors are VC_CONFIG whatever begin_txn calls them. */
    if (begin_txn(s, true, &txn, &e) != VC_OK)
        return vc_errf(err, VC_CONFIG, "%s", e.msg);
    for (size_t i = 0; i < STORE_N_TABLES; i++) {
        rc = mdb_dbi_open(txn, table_names[i], MDB_CREATE, &s->dbi[i]);
        if (rc != 0)
            goto fail;
    }
    rc = mdb_txn_commit(txn);
    gate_leave(s);
    if (rc != 0)
        return open_fail(s->dir, "cannot create tables", rc, err);
    return VC_OK;

fail:
    mdb_txn_abort(txn);
    gate_leave(s);
    return open_fail(s->dir, "cannot open tables", rc, err);
}

vc_code store_open(store **out, const char *dir, size_t map_size, vc_err *err)
{
    store *s = NULL;
    size_t dir_len;
    int dead = 0;
    int rc;
    vc_code code;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return vc_errf(err, VC_CONFIG, "storage: no directory given");
    code = make_dir(dir, err);
    if (code != VC_OK)
        return code;

    dir_len = strlen(dir);
    s = calloc(1, sizeof *s + dir_len + 1);
    if (s == NULL)
        return vc_errf(err, VC_CONFIG, "storage %s: out of memory", dir);
    memcpy(s->dir, dir, dir_len + 1);
    if (pthread_mutex_init(&s->gate_mu, NULL) != 0) {
        free(s);
        return vc_errf(err, VC_CONFIG, "storage %s: cannot create mutex", dir);
    }
    if (pthread_cond_init(&s->gate_cv, NULL) != 0) {
        pthread_mutex_destroy(&s->gate_mu);
        free(s);
        return vc_errf(err, VC_CONFIG, "storage %s: cannot create condition", dir);
    }

    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        code = open_fail(dir, "cannot create environment", rc, err);
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE)) != 0 ||
        (rc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS)) != 0) {
        code = open_fail(dir, "cannot configure environment", rc, err);
        goto fail;
    }
    rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
    if (rc != 0) {
        code = open_fail(dir, "cannot open", rc, err);
        goto fail;
    }
    /* Frees reader slots left behind by crashed processes; otherwise their
     * old snapshots pin pages and the store only grows. */
    rc = mdb_reader_check(s->env, &dead);
    if (rc != 0) {
        code = open_fail(dir, "cannot check readers", rc, err);
        goto fail;
    }
    code = open_tables(s, err);
    if (code != VC_OK)
        goto fail;

    *out = s;
    return VC_OK;

fail:
    store_close(s);
    return code;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    if (s->env != NULL)
        mdb_env_close(s->env);
    pthread_cond_destroy(&s->gate_cv);
    pthread_mutex_destroy(&s->gate_mu);
    free(s);
}

/* ---- transactions ------------------------------------------------------ */

/* Begins an LMDB transaction inside the gate (the caller must gate_leave
 * after ending it), adopting a map grown by another process. */
static vc_code begin_txn(store *s, bool write, MDB_txn **out, vc_err *err)
{
    int rc;

    for (int tries = 0;; tries++) {
        gate_enter(s);
        rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, out);
        if (rc == 0)
            return VC_OK;
        gate_leave(s);
        if (rc != MDB_MAP_RESIZED || tries >= STORE_RESIZE_TRIES)
            break;
        rc = gate_adopt_map_size(s);
        if (rc != 0)
            break;
    }
    *out = NULL;
    return store_fail(s, rc, "cannot begin transaction", err);
}

vc_code store_begin(store *s, bool write, store_txn **out, vc_err *err)
{
    store_txn *t;
    vc_code code;

    *out = NULL;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return vc_errf(err, VC_INTERNAL, "storage %s: out of memory", s->dir);
    code = begin_txn(s, write, &t->txn, err);
    if (code != VC_OK) {
        free(t);
        return code;
    }
    t->s = s;
    t->write = write;
    t->broken = VC_OK;
    *out = t;
    return VC_OK;
}

vc_code store_commit_unsynced(store_txn *t, vc_err *err)
{
    store *s = t->s;
    vc_code code = VC_OK;
    int rc;

    if (t->broken != VC_OK) {
        mdb_txn_abort(t->txn);
        code = vc_errf(err, t->broken,
                       "storage %s: commit after a failed write: nothing "
                       "was changed",
                       s->dir);
    } else {
        /* On failure mdb_txn_commit has already aborted the transaction. */
        rc = mdb_txn_commit(t->txn);
        if (rc != 0)
            code = store_fail(s, rc, "cannot commit", err);
    }
    gate_leave(s);
    free(t);
    return code;
}

vc_code store_sync(store *s, vc_err *err)
{
    int rc = mdb_env_sync(s->env, 1);
    return rc == 0 ? VC_OK : store_fail(s, rc, "cannot sync", err);
}

vc_code store_commit(store_txn *t, vc_err *err)
{
    store *s = t->s;
    vc_code code = store_commit_unsynced(t, err);
    return code == VC_OK ? store_sync(s, err) : code;
}

void store_abort(store_txn *t)
{
    store *s;

    if (t == NULL)
        return;
    s = t->s;
    mdb_txn_abort(t->txn);
    gate_leave(s);
    free(t);
}

/* ---- data -------------------------------------------------------------- */

static vc_code check_table(const store_txn *t, store_table tbl, vc_err *err)
{
    if (!table_ok(tbl))
        return vc_errf(err, VC_INTERNAL, "storage %s: no table %d", t->s->dir, (int)tbl);
    return VC_OK;
}

static vc_code check_write(const store_txn *t, store_table tbl, vc_err *err)
{
    if (check_table(t, tbl, err) != VC_OK)
        return VC_INTERNAL;
    if (!t->write)
        return vc_errf(err, VC_INTERNAL, "storage %s: write to %s in a read-only transaction",
                       t->s->dir, table_name(tbl));
    if (t->broken != VC_OK)
        return vc_errf(err, t->broken,
                       "storage %s: write to %s after a failed write: the "
                       "transaction must be aborted",
                       t->s->dir, table_name(tbl));
    return VC_OK;
}

vc_code store_get(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t **val, size_t *val_len, vc_err *err)
{
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v = {0};
    int rc;

    *val = NULL;
    *val_len = 0;
    if (check_table(t, tbl, err) != VC_OK)
        return VC_INTERNAL;
    rc = mdb_get(t->txn, t->s->dbi[tbl], &k, &v);
    if (rc != 0)
        return store_fail(t->s, rc, table_name(tbl), err);
    *val = v.mv_data;
    *val_len = v.mv_size;
    return VC_OK;
}

vc_code store_put(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t *val, size_t val_len, vc_err *err)
{
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v = {.mv_size = val_len, .mv_data = (void *)val};
    vc_code code;
    int rc;

    code = check_write(t, tbl, err);
    if (code != VC_OK)
        return code;
    rc = mdb_put(t->txn, t->s->dbi[tbl], &k, &v, 0);
    if (rc != 0) {
        /* After MDB_MAP_FULL and most other put failures LMDB refuses any
         * further use of the transaction: the caller must store_abort. */
        code = store_fail(t->s, rc, table_name(tbl), err);
        t->broken = code;
        return code;
    }
    return VC_OK;
}

vc_code store_del(store_txn *t, store_table tbl, const uint8_t *key, size_t key_len, vc_err *err)
{
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    vc_code code;
    int rc;

    code = check_write(t, tbl, err);
    if (code != VC_OK)
        return code;
    rc = mdb_del(t->txn, t->s->dbi[tbl], &k, NULL);
    if (rc != 0) {
        code = store_fail(t->s, rc, table_name(tbl), err);
        /* A missing key leaves the transaction intact; anything else (a
         * full map while copying pages) does not. */
        if (rc != MDB_NOTFOUND)
            t->broken = code;
        return code;
    }
    return VC_OK;
}

/* Maps a scan callback's result to a vc_code: values outside the enum are
 * a bug in the callback and count as internal errors. */
static vc_code scan_result(int r)
{
    if (r <= 1 || r > (int)VC_CONFIG)
        return VC_INTERNAL;
    return (vc_code)r;
}

vc_code store_scan(store_txn *t, store_table tbl, const uint8_t *start, size_t start_len,
                   store_scan_fn fn, void *ctx, vc_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k = {0};
    MDB_val v = {0};
    MDB_cursor_op op;
    vc_code code = VC_OK;
    int rc;

    if (check_table(t, tbl, err) != VC_OK)
        return VC_INTERNAL;
    rc = mdb_cursor_open(t->txn, t->s->dbi[tbl], &cur);
    if (rc != 0)
        return store_fail(t->s, rc, table_name(tbl), err);
    /* A callback that wants its own message fills this same vc_err (through
     * ctx) before returning its code; clearing first tells the two apart. */
    vc_err_clear(err);

    if (start != NULL && start_len > 0) {
        k.mv_size = start_len;
        k.mv_data = (void *)start;
        op = MDB_SET_RANGE;
    } else {
        op = MDB_FIRST;
    }
    for (;;) {
        int r;

        rc = mdb_cursor_get(cur, &k, &v, op);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc != 0) {
            code = store_fail(t->s, rc, table_name(tbl), err);
            goto out;
        }
        op = MDB_NEXT;
        r = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (r == 0)
            continue;
        if (r == 1)
            break;
        code = scan_result(r);
        if (err == NULL || err->code != code || err->msg[0] == '\0')
            vc_errf(err, code, "storage %s: scan of %s stopped: %s", t->s->dir, table_name(tbl),
                    vc_code_name(code));
        goto out;
    }
out:
    mdb_cursor_close(cur);
    return code;
}

vc_code store_count(store_txn *t, store_table tbl, uint64_t *count, vc_err *err)
{
    MDB_stat st;
    int rc;

    *count = 0;
    if (check_table(t, tbl, err) != VC_OK)
        return VC_INTERNAL;
    rc = mdb_stat(t->txn, t->s->dbi[tbl], &st);
    if (rc != 0)
        return store_fail(t->s, rc, table_name(tbl), err);
    *count = st.ms_entries;
    return VC_OK;
}

/* ---- status and backup ------------------------------------------------- */

vc_code store_stat(store *s, store_info *info, vc_err *err)
{
    MDB_envinfo ei;
    MDB_stat st;
    int rc;

    memset(info, 0, sizeof *info);
    info->backend = "lmdb";
    /* Under the gate mutex only (not counted as a transaction), so a thread
     * holding a transaction may ask without waiting on a resize, while the
     * map size is not read in the middle of one. */
    pthread_mutex_lock(&s->gate_mu);
    rc = mdb_env_info(s->env, &ei);
    if (rc == 0)
        rc = mdb_env_stat(s->env, &st);
    pthread_mutex_unlock(&s->gate_mu);
    if (rc != 0)
        return store_fail(s, rc, "cannot read status", err);
    info->map_size = ei.me_mapsize;
    info->used_bytes = (uint64_t)st.ms_psize * ((uint64_t)ei.me_last_pgno + 1);
    return VC_OK;
}

/* A file-system errno as a code: full or read-only storage is
 * VC_UNAVAILABLE (the user can act on it), anything else VC_INTERNAL. */
static vc_code errno_code(int e)
{
    if (e == ENOSPC || e == EROFS
#ifdef EDQUOT
        || e == EDQUOT
#endif
    )
        return VC_UNAVAILABLE;
    return VC_INTERNAL;
}

static vc_code backup_fail(const char *path, const char *what, int rc, vc_err *err)
{
    return vc_errf(err, errno_code(rc), "backup %s: %s: %s", path, what, mdb_strerror(rc));
}

/* Copies the environment into fd from its start, adopting a map grown by
 * another process (the copy runs its own read transaction). */
static int copy_to_fd(store *s, int fd)
{
    int rc;

    for (int tries = 0;; tries++) {
        gate_enter(s);
        rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
        gate_leave(s);
        if (rc != MDB_MAP_RESIZED || tries >= STORE_RESIZE_TRIES)
            return rc;
        rc = gate_adopt_map_size(s);
        if (rc != 0)
            return rc;
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            return errno;
    }
}

vc_code store_backup(store *s, const char *path, vc_err *err)
{
    vc_code code;
    int fd;
    int rc;

    /* O_EXCL: a backup never overwrites a file, least of all an earlier
     * backup or the store itself. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno;
        if (rc == ENOSPC || rc == EROFS)
            return backup_fail(path, "cannot create", rc, err);
        return vc_errf(err, VC_BAD_REQUEST, "backup %s: cannot create: %s", path, strerror(rc));
    }
    rc = copy_to_fd(s, fd);
    if (rc != 0) {
        code = backup_fail(path, "cannot copy the store", rc, err);
        goto fail;
    }
    if (fsync(fd) != 0) {
        code = backup_fail(path, "cannot sync", errno, err);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        code = backup_fail(path, "cannot close", errno, err);
        goto fail;
    }
    return VC_OK;

fail:
    if (fd >= 0)
        close(fd);
    /* A partial copy looks like a backup and is not one. */
    unlink(path);
    return code;
}

/* ---- restore ----------------------------------------------------------- */

/* LMDB's file names inside the environment directory. */
#define STORE_DATA_FILE "data.mdb"
#define STORE_LOCK_FILE "lock.mdb"
/* Staging directories of store_restore, inside the store directory so the
 * final rename stays on one file system (and is atomic). */
#define STORE_STAGE_PREFIX ".restore-"
#define STORE_COPY_CHUNK   ((size_t)1 << 20)

/* dir + "/" + name into buf; false if it does not fit. */
static bool join_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int w = snprintf(buf, cap, "%s/%s", dir, name);
    return w >= 0 && (size_t)w < cap;
}

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
    return vc_errf(err, errno_code(e), "%s: %s: %s", path, what, strerror(e));
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
    if (!join_path(path, sizeof path, dir, STORE_LOCK_FILE))
        return path_too_long(dir, err);
    fd = open(path, O_RDONLY | O_CLOEXEC);
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
    if (!join_path(path, sizeof path, dir, STORE_LOCK_FILE))
        return path_too_long(dir, err);
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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
    if (!join_path(path, sizeof path, dir, STORE_DATA_FILE))
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
static void remove_stage(const char *stage)
{
    char path[PATH_MAX];
    if (join_path(path, sizeof path, stage, STORE_DATA_FILE))
        (void)unlink(path);
    if (join_path(path, sizeof path, stage, STORE_LOCK_FILE))
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
            join_path(path, sizeof path, dir, de->d_name))
            remove_stage(path);
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
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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

    if (!join_path(from, sizeof from, stage, STORE_DATA_FILE) ||
        !join_path(to, sizeof to, dir, STORE_DATA_FILE))
        return path_too_long(dir, err);
    if (rename(from, to) != 0)
        return io_fail(to, "cannot replace", errno, err);
    return sync_dir(dir, err);
}

vc_code store_restore(const char *dir, const char *backup_file, bool force,
                      store_restore_check check, void *arg, vc_err *err)
{
    char stage[PATH_MAX], data[PATH_MAX];
    uint64_t records = 0;
    bool busy = false;
    int lock_fd = -1;
    vc_err e;
    vc_code code;

    stage[0] = '\0';
    if (dir == NULL || dir[0] == '\0')
        return vc_errf(err, VC_CONFIG, "storage: no directory given");
    if ((code = make_dir(dir, err)) != VC_OK || (code = store_in_use(dir, &busy, err)) != VC_OK)
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

    if (!join_path(stage, sizeof stage, dir, STORE_STAGE_PREFIX "XXXXXX")) {
        stage[0] = '\0';
        code = path_too_long(dir, err);
        goto done;
    }
    if (mkdtemp(stage) == NULL) {
        code = io_fail(stage, "cannot create directory", errno, err);
        stage[0] = '\0';
        goto done;
    }
    if (!join_path(data, sizeof data, stage, STORE_DATA_FILE)) {
        code = path_too_long(dir, err);
        goto done;
    }
    if ((code = copy_backup(backup_file, data, err)) != VC_OK ||
        (code = check_stage(stage, backup_file, err)) != VC_OK)
        goto done;
    if (check != NULL && (code = check(arg, stage, err)) != VC_OK)
        goto done;
    code = install_stage(dir, stage, err);
done:
    if (stage[0] != '\0') {
        remove_stage(stage);
        vc_err ignore;
        (void)sync_dir(dir, &ignore);
    }
    if (lock_fd >= 0)
        close(lock_fd); /* lets other processes open the store again */
    return code;
}
