/* store_lmdb.c - the LMDB backend (store_int.h's slmdb_*; store.c puts the
 * public store.h in front of it, and the JetStream backend uses it as its
 * local cache).
 *
 * The only file that includes <lmdb.h> (restore and the in-use check, which
 * need no LMDB call of their own, are in store_restore.c). One LMDB environment per directory,
 * two named databases ("meta" and "records"). The environment is opened with
 * MDB_NOTLS so a read transaction belongs to its slmdb_txn, not to the thread
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
 * Never MDB_NOSYNC for a store of record (a crash of the machine could
 * corrupt it) -- only for the JetStream backend's cache (nosync), which is
 * rebuilt from the stream -- and never MDB_WRITEMAP (a full disk would be a
 * SIGBUS instead of an error).
 *
 * Several processes (the service and the CLI) share the directory through
 * LMDB's lock file. When another process has grown the map past ours,
 * mdb_txn_begin says MDB_MAP_RESIZED and we adopt the new size with
 * mdb_env_set_mapsize(env, 0). LMDB allows that only while this process has
 * no transaction open, so every transaction passes a small gate (a count of
 * open transactions) and the resize waits for that count to drop to zero.
 *
 * Read transactions are reused: store_abort (or commit) of a read
 * transaction resets it (mdb_txn_reset: it keeps its reader slot but no
 * snapshot, so it pins no pages) and keeps it, slmdb_txn and all, in a small
 * per-store pool; store_begin renews one from the pool (mdb_txn_renew)
 * instead of mdb_txn_begin + calloc. With MDB_NOTLS any thread may renew
 * any of them. The pool is taken and given back under the gate's mutex, in
 * the same critical section as the gate's count, and a reset transaction is
 * not counted: it holds nothing a resize could pull from under it
 * (mdb_env_set_mapsize refuses only while a write transaction is open, and
 * a renew reads the meta page of the new map). A renew that fails (the map
 * was grown by another process: MDB_MAP_RESIZED) drops that transaction and
 * goes the ordinary way. store_close aborts the pool.
 */
#include "store_int.h"

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

#include "fileperm.h"

/* How often store_begin adopts a grown map before giving up; another
 * process would have to grow the map this many times in a row. */
#define STORE_RESIZE_TRIES 8

/* Reader slots: the service's worker threads plus the CLI and backups. */
#define STORE_MAX_READERS 256

/* Reset read transactions kept for reuse (each keeps a reader slot). */
#define STORE_READ_POOL 16

/* "local": the JetStream backend's own bookkeeping in its cache (never
 * replicated, not a store.h table). */
static const char *const table_names[SLMDB_N_TABLES] = {"meta",   "records", "history",
                                                        "expiry", "tokens",  "local"};

/* Named databases the environment may hold: the tables above and room for
 * more. */
#define STORE_MAX_DBS 16

struct slmdb {
    MDB_env *env;
    MDB_dbi dbi[SLMDB_N_TABLES];
    /* The gate: open transactions of this process, and whether one thread
     * is adopting a grown map (no transaction may begin meanwhile). */
    pthread_mutex_t gate_mu;
    /* Durability marks (under gate_mu, see slmdb_commit_mark): the id of the
     * last transaction committed through slmdb_commit_unsynced (at open: the
     * store's last), and the highest id known to be on disk, meta page and
     * all. */
    uint64_t committed_id;
    uint64_t durable_id;
    bool nosync;
    pthread_cond_t gate_cv;
    unsigned long active;
    bool resizing;
    /* Reset read transactions, under gate_mu (see the top). */
    struct slmdb_txn *pool[STORE_READ_POOL];
    int pooled;
    char dir[]; /* for error messages */
};

struct slmdb_txn {
    slmdb *s;
    MDB_txn *txn;
    bool write;
    /* A put or delete failed: LMDB has marked the transaction unusable and
     * only an abort is left. Remembered so a commit says why it fails. */
    vc_code broken;
};

/* ---- the gate ---------------------------------------------------------- */

/* Enters the gate; for a read (reuse not NULL) also takes a reset read
 * transaction from the pool into *reuse, if there is one. */
static void gate_enter_reuse(slmdb *s, struct slmdb_txn **reuse)
{
    pthread_mutex_lock(&s->gate_mu);
    while (s->resizing)
        pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    s->active++;
    if (reuse != NULL)
        *reuse = s->pooled > 0 ? s->pool[--s->pooled] : NULL;
    pthread_mutex_unlock(&s->gate_mu);
}

static void gate_enter(slmdb *s)
{
    gate_enter_reuse(s, NULL);
}

/* Leaves the gate; a reset read transaction t (not NULL) goes back to the
 * pool. Returns t if the pool is full (the caller frees it), else NULL. */
static struct slmdb_txn *gate_leave_keep(slmdb *s, struct slmdb_txn *t)
{
    pthread_mutex_lock(&s->gate_mu);
    s->active--;
    if (t != NULL && s->pooled < STORE_READ_POOL) {
        s->pool[s->pooled++] = t;
        t = NULL;
    }
    if (s->active == 0)
        pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
    return t;
}

static void gate_leave(slmdb *s)
{
    (void)gate_leave_keep(s, NULL);
}

/* Adopts the map size another process has grown the store to. The caller
 * holds no transaction. If another thread is already doing it, waits for it
 * instead of resizing twice. Returns an LMDB code. */
static int gate_adopt_map_size(slmdb *s)
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
    return ((int)tbl >= 0 && (int)tbl < SLMDB_N_TABLES) ? table_names[tbl] : "?";
}

static bool table_ok(store_table tbl)
{
    return (int)tbl >= 0 && (int)tbl < SLMDB_N_TABLES;
}

/* Maps an LMDB (or errno) code from a data operation to a vc_code and fills
 * err: what the user can do about it comes first. */
static vc_code store_fail(const slmdb *s, int rc, const char *what, vc_err *err)
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

bool store_join_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int w = snprintf(buf, cap, "%s/%s", dir, name);
    return w >= 0 && (size_t)w < cap;
}

/* LMDB's file name in dir, when it exists, must be a regular file under
 * the directory's rule (fileperm.h): LMDB opens it without O_NOFOLLOW. */
static vc_code check_store_file(const char *dir, const char *name, vc_err *err)
{
    char path[PATH_MAX];
    struct stat st;

    if (!store_join_path(path, sizeof path, dir, name))
        return vc_errf(err, VC_CONFIG, "storage %s: path too long", dir);
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return VC_OK;
        return vc_errf(err, VC_CONFIG, "storage %s: cannot stat %s: %s", dir, path,
                       strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return vc_errf(err, VC_CONFIG,
                       "storage %s: %s is not a regular file (%s); refusing: the store's files "
                       "are never links",
                       dir, path, S_ISLNK(st.st_mode) ? "a symbolic link" : "another type");
    return fileperm_check_store(dir, path, &st, err);
}

/* Creates dir (mode 0700) unless it exists; parents are not created, so a
 * mistyped path fails here instead of growing a tree somewhere. Then the
 * rule of fileperm.h: dir (after links) is a directory owned by the
 * effective user and not writable by group or others, and LMDB's files in
 * it, if any, are regular files under the same rule. All before
 * mdb_env_open, which creates and opens those files by name. */
vc_code store_prepare_dir(const char *dir, vc_err *err)
{
    struct stat st;
    vc_code code;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        if (errno == ENOENT)
            return vc_errf(err, VC_CONFIG,
                           "storage %s: cannot create directory: parent "
                           "directory missing (parents are not created)",
                           dir);
        return open_fail(dir, "cannot create directory", errno, err);
    }
    if (stat(dir, &st) != 0)
        return vc_errf(err, VC_CONFIG, "storage %s: cannot stat: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return vc_errf(err, VC_CONFIG, "storage %s: not a directory", dir);
    if ((code = fileperm_check_store(dir, dir, &st, err)) != VC_OK ||
        (code = check_store_file(dir, STORE_DATA_FILE, err)) != VC_OK ||
        (code = check_store_file(dir, STORE_LOCK_FILE, err)) != VC_OK)
        return code;
    return VC_OK;
}

static vc_code begin_txn(slmdb *s, bool write, MDB_txn **out, vc_err *err);

/* Opens (creating) both named databases in one write transaction. */
static vc_code open_tables(slmdb *s, vc_err *err)
{
    MDB_txn *txn = NULL;
    vc_err e;
    int rc;

    /* Start-up errors are VC_CONFIG whatever begin_txn calls them. */
    if (begin_txn(s, true, &txn, &e) != VC_OK)
        return vc_errf(err, VC_CONFIG, "%s", e.msg);
    for (size_t i = 0; i < SLMDB_N_TABLES; i++) {
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

vc_code slmdb_open(slmdb **out, const char *dir, size_t map_size, bool nosync, vc_err *err)
{
    slmdb *s = NULL;
    size_t dir_len;
    int dead = 0;
    int rc;
    vc_code code;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return vc_errf(err, VC_CONFIG, "storage: no directory given");
    code = store_prepare_dir(dir, err);
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
    rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOMETASYNC | (nosync ? MDB_NOSYNC : 0), 0600);
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
    {
        /* Marks start at the store's last transaction, as yet unsynced by
         * us: a first batch that writes nothing still syncs once. */
        MDB_envinfo info;
        if ((rc = mdb_env_info(s->env, &info)) != 0) {
            code = open_fail(dir, "cannot read environment info", rc, err);
            goto fail;
        }
        s->committed_id = (uint64_t)info.me_last_txnid;
        s->durable_id = 0;
        s->nosync = nosync;
    }

    *out = s;
    return VC_OK;

fail:
    slmdb_close(s);
    return code;
}

void slmdb_close(slmdb *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->pooled; i++) {
        mdb_txn_abort(s->pool[i]->txn);
        free(s->pool[i]);
    }
    if (s->env != NULL)
        mdb_env_close(s->env);
    pthread_cond_destroy(&s->gate_cv);
    pthread_mutex_destroy(&s->gate_mu);
    free(s);
}

/* ---- transactions ------------------------------------------------------ */

/* Begins an LMDB transaction inside the gate (the caller must gate_leave
 * after ending it), adopting a map grown by another process. */
static vc_code begin_txn(slmdb *s, bool write, MDB_txn **out, vc_err *err)
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

vc_code slmdb_begin(slmdb *s, bool write, slmdb_txn **out, vc_err *err)
{
    slmdb_txn *t = NULL;
    vc_code code;

    *out = NULL;
    if (!write) {
        /* A pooled read transaction, renewed inside the gate. */
        gate_enter_reuse(s, &t);
        if (t != NULL) {
            int rc = mdb_txn_renew(t->txn);
            if (rc == 0) {
                *out = t;
                return VC_OK;
            }
            /* Safe after a failed renew, which has ended it already. */
            mdb_txn_abort(t->txn);
            free(t);
            t = NULL;
        }
        gate_leave(s);
    }
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

/* Ends a read transaction: reset and pooled, or freed if the pool is full. */
static void end_read(slmdb_txn *t)
{
    mdb_txn_reset(t->txn);
    t = gate_leave_keep(t->s, t);
    if (t != NULL) {
        mdb_txn_abort(t->txn);
        free(t);
    }
}

/* After mdb_txn_commit of transaction id returned 0 (still on the thread
 * that holds LMDB's writer lock, so no other commit of this environment ran
 * in between).
 *
 * Why a later commit makes the earlier ones durable (LMDB 0.9,
 * mdb_txn_commit): a transaction that changed nothing ends before any I/O
 * and its id is not used (the store's last id stays below id). Otherwise it
 * writes its data pages (mdb_page_flush), flushes the data file
 * (mdb_env_sync0: fdatasync of me_fd, skipped only under MDB_NOSYNC), and
 * then writes its meta page (mdb_env_write_meta): with MDB_NOMETASYNC
 * through the same descriptor, me_fd, without a flush. That fdatasync thus
 * also carries to disk the meta page of every earlier commit, whose pwrite
 * had returned before this transaction could even begin (one writer at a
 * time): all of them up to id - 1 are durable when it returns. Its own meta
 * page waits for the next commit's flush or an mdb_env_sync (slmdb_sync).
 * LMDB's documentation of MDB_NOMETASYNC says the same: the meta flush is
 * deferred "until ... next non-MDB_RDONLY commit or mdb_env_sync()". */
static void note_commit(slmdb *s, uint64_t id)
{
    MDB_envinfo info;

    if (mdb_env_info(s->env, &info) != 0 || (uint64_t)info.me_last_txnid != id)
        return; /* nothing written, nothing flushed */
    pthread_mutex_lock(&s->gate_mu);
    s->committed_id = id;
    if (!s->nosync && id - 1 > s->durable_id)
        s->durable_id = id - 1;
    pthread_mutex_unlock(&s->gate_mu);
}

vc_code slmdb_commit_unsynced(slmdb_txn *t, vc_err *err)
{
    slmdb *s = t->s;
    vc_code code = VC_OK;
    int rc;

    if (!t->write) { /* nothing to commit */
        end_read(t);
        return VC_OK;
    }
    if (t->broken != VC_OK) {
        mdb_txn_abort(t->txn);
        code = vc_errf(err, t->broken,
                       "storage %s: commit after a failed write: nothing "
                       "was changed",
                       s->dir);
    } else {
        uint64_t id = (uint64_t)mdb_txn_id(t->txn);
        /* On failure mdb_txn_commit has already aborted the transaction. */
        rc = mdb_txn_commit(t->txn);
        if (rc != 0)
            code = store_fail(s, rc, "cannot commit", err);
        else
            note_commit(s, id);
    }
    gate_leave(s);
    free(t);
    return code;
}

vc_code slmdb_sync(slmdb *s, vc_err *err)
{
    uint64_t upto;
    int rc;

    pthread_mutex_lock(&s->gate_mu);
    upto = s->committed_id;
    pthread_mutex_unlock(&s->gate_mu);
    rc = mdb_env_sync(s->env, 1);
    if (rc != 0)
        return store_fail(s, rc, "cannot sync", err);
    /* every commit noted before the sync began had written its meta page */
    pthread_mutex_lock(&s->gate_mu);
    if (!s->nosync && upto > s->durable_id)
        s->durable_id = upto;
    pthread_mutex_unlock(&s->gate_mu);
    return VC_OK;
}

uint64_t slmdb_commit_mark(slmdb *s)
{
    uint64_t id;

    pthread_mutex_lock(&s->gate_mu);
    id = s->committed_id;
    pthread_mutex_unlock(&s->gate_mu);
    return id;
}

bool slmdb_durable(slmdb *s, uint64_t mark)
{
    bool yes;

    pthread_mutex_lock(&s->gate_mu);
    yes = !s->nosync && mark <= s->durable_id;
    pthread_mutex_unlock(&s->gate_mu);
    return yes;
}

vc_code slmdb_commit(slmdb_txn *t, vc_err *err)
{
    slmdb *s = t->s;
    vc_code code = slmdb_commit_unsynced(t, err);
    return code == VC_OK ? slmdb_sync(s, err) : code;
}

void slmdb_abort(slmdb_txn *t)
{
    slmdb *s;

    if (t == NULL)
        return;
    if (!t->write) {
        end_read(t);
        return;
    }
    s = t->s;
    mdb_txn_abort(t->txn);
    gate_leave(s);
    free(t);
}

/* ---- data -------------------------------------------------------------- */

static vc_code check_table(const slmdb_txn *t, store_table tbl, vc_err *err)
{
    if (!table_ok(tbl))
        return vc_errf(err, VC_INTERNAL, "storage %s: no table %d", t->s->dir, (int)tbl);
    return VC_OK;
}

static vc_code check_write(const slmdb_txn *t, store_table tbl, vc_err *err)
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

vc_code slmdb_get(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
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

vc_code slmdb_put(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
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

vc_code slmdb_del(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len, vc_err *err)
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

vc_code slmdb_scan(slmdb_txn *t, store_table tbl, const uint8_t *start, size_t start_len,
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

vc_code slmdb_count(slmdb_txn *t, store_table tbl, uint64_t *count, vc_err *err)
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

vc_code slmdb_stat(slmdb *s, store_info *info, vc_err *err)
{
    MDB_envinfo ei;
    MDB_stat st;
    int rc;

    memset(info, 0, sizeof *info);
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

vc_code store_errno_code(int e)
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
    return vc_errf(err, store_errno_code(rc), "backup %s: %s: %s", path, what, mdb_strerror(rc));
}

/* Copies the environment into fd from its start, adopting a map grown by
 * another process (the copy runs its own read transaction). */
static int copy_to_fd(slmdb *s, int fd)
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

vc_code slmdb_backup(slmdb *s, const char *path, vc_err *err)
{
    vc_code code;
    int fd;
    int rc;

    /* O_EXCL: a backup never overwrites a file, least of all an earlier
     * backup or the store itself, and never writes through a link (O_EXCL
     * refuses an existing link, even a dangling one; O_NOFOLLOW says so
     * twice). Mode 0600: as private as the store. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno;
        if (rc == ENOSPC || rc == EROFS)
            return backup_fail(path, "cannot create", rc, err);
        if (rc == EEXIST || rc == ELOOP)
            return vc_errf(err, VC_BAD_REQUEST,
                           "backup %s: already exists (a backup never overwrites a file or "
                           "follows a link): choose a new name",
                           path);
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

vc_code slmdb_clear(slmdb_txn *t, store_table tbl, vc_err *err)
{
    vc_code code = check_write(t, tbl, err);
    int rc;

    if (code != VC_OK)
        return code;
    rc = mdb_drop(t->txn, t->s->dbi[tbl], 0);
    if (rc != 0) {
        code = store_fail(t->s, rc, table_name(tbl), err);
        t->broken = code;
    }
    return code;
}
