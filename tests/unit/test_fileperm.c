/* test_fileperm.c - files that are not ours (issue 11, items 4 and 5): the
 * store directory's owner and mode, LMDB's files in it, the health file's
 * writes, backups onto links, and the master key's owner and mode; also as
 * the image's uid 10001 when the test runs as root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "fileperm.h"
#include "health.h"
#include "seal.h"
#include "store.h"
#include "vault.h"

#define NOBODY    65534
#define IMAGE_UID 10001

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/vc-test-fileperm-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char cmd[128];
    (void)state;
    (void)snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name into buf. */
static char *path_of(char *buf, const char *name)
{
    int n = snprintf(buf, 256, "%s/%s", tmpdir, name);
    assert_true(n > 0 && n < 256);
    return buf;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    (void)unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0); /* past the umask */
    assert_int_equal(close(fd), 0);
}

/* Whether the file at path holds exactly text. */
static bool holds(const char *path, const char *text)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

static void must_hold(const char *msg, const char *fragment)
{
    if (strstr(msg, fragment) == NULL)
        fail_msg("\"%s\" does not hold \"%s\"", msg, fragment);
}

/* A fresh master key file (0600) at path. */
static void write_key(const char *path, mode_t mode)
{
    char b64[SEAL_KEYGEN_B64];
    vc_err err;
    assert_int_equal(seal_keygen_b64(b64, sizeof b64, &err), VC_OK);
    write_text(path, b64, mode);
}

/* ---- the store directory ------------------------------------------------ */

static void test_store_dir_world_writable(void **state)
{
    char dir[256];
    store *s = NULL;
    vc_err e;
    (void)state;

    path_of(dir, "open");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(store_open(&s, dir, 0, &e), VC_CONFIG);
    assert_null(s);
    must_hold(e.msg, dir);
    must_hold(e.msg, "writable by group or others (mode 0777");
    must_hold(e.msg, "chmod 700");
    char data[300];
    (void)snprintf(data, sizeof data, "%s/data.mdb", dir);
    assert_int_not_equal(access(data, F_OK), 0); /* refused before LMDB ran */

    assert_int_equal(chmod(dir, 01777), 0); /* sticky changes nothing */
    assert_int_equal(store_open(&s, dir, 0, &e), VC_CONFIG);
    assert_int_equal(chmod(dir, 0770), 0);
    assert_int_equal(store_open(&s, dir, 0, &e), VC_CONFIG);
    must_hold(e.msg, "mode 0770");

    /* Readable is fine; only writable is refused. */
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(store_open(&s, dir, 0, &e), VC_OK);
    store_close(s);
}

static void test_store_dir_created_private(void **state)
{
    char dir[256];
    struct stat st;
    store *s = NULL;
    vc_err e;
    (void)state;

    mode_t old = umask(0);
    path_of(dir, "fresh");
    assert_int_equal(store_open(&s, dir, 0, &e), VC_OK);
    umask(old);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    char data[300];
    (void)snprintf(data, sizeof data, "%s/data.mdb", dir);
    assert_int_equal(stat(data, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    store_close(s);
}

static void test_store_dir_other_owner(void **state)
{
    char dir[256];
    store *s = NULL;
    vc_err e;
    (void)state;

    if (geteuid() != 0) {
        print_message("skip - not root: cannot give a directory to another user\n");
        return;
    }
    path_of(dir, "nobodys");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    assert_int_equal(store_open(&s, dir, 0, &e), VC_CONFIG);
    assert_null(s);
    must_hold(e.msg, dir);
    must_hold(e.msg, "is owned by uid 65534");
    must_hold(e.msg, "runs as root");
    must_hold(e.msg, "chown -R root"); /* root could; says so */
    /* restore (which creates the store) refuses the same directory */
    assert_int_equal(store_restore(dir, "/nonexistent", true, NULL, NULL, &e), VC_CONFIG);
    must_hold(e.msg, "is owned by uid 65534");
}

/* LMDB opens data.mdb and lock.mdb by name, following links: a link there is
 * refused before it runs, and its target is untouched. */
static void test_store_file_link(void **state)
{
    char dir[256], victim[256], link[300];
    store *s = NULL;
    vc_err e;
    (void)state;

    path_of(dir, "linked");
    assert_int_equal(mkdir(dir, 0700), 0);
    path_of(victim, "victim-data");
    write_text(victim, "", 0600); /* LMDB would make an empty file a store */
    (void)snprintf(link, sizeof link, "%s/data.mdb", dir);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(store_open(&s, dir, 0, &e), VC_CONFIG);
    must_hold(e.msg, "is not a regular file (a symbolic link)");
    struct stat st;
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_size, 0);
}

/* ---- backup ------------------------------------------------------------- */

static void test_backup_onto_link(void **state)
{
    char dir[256], victim[256], link[256], dangling[256], target[256];
    store *s = NULL;
    vc_err e;
    struct stat st;
    (void)state;

    path_of(dir, "backedup");
    assert_int_equal(store_open(&s, dir, 0, &e), VC_OK);
    path_of(victim, "backup-victim");
    write_text(victim, "precious", 0644);
    path_of(link, "backup-link");
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(store_backup(s, link, &e), VC_BAD_REQUEST);
    must_hold(e.msg, link);
    must_hold(e.msg, "already exists");
    assert_true(holds(victim, "precious"));
    assert_int_equal(lstat(link, &st), 0); /* the link is left alone */
    assert_true(S_ISLNK(st.st_mode));

    /* A dangling link does not create its target either. */
    path_of(target, "backup-target");
    path_of(dangling, "backup-dangling");
    assert_int_equal(symlink(target, dangling), 0);
    assert_int_equal(store_backup(s, dangling, &e), VC_BAD_REQUEST);
    assert_int_not_equal(access(target, F_OK), 0);
    store_close(s);
}

/* ---- the health file ---------------------------------------------------- */

static vault *open_vault(const char *dir, seal_master **m)
{
    char b64[SEAL_KEYGEN_B64];
    vault *v = NULL;
    vc_err e;
    assert_int_equal(seal_keygen_b64(b64, sizeof b64, &e), VC_OK);
    assert_int_equal(seal_master_parse(m, b64, strlen(b64), "test", &e), VC_OK);
    if (vault_open(&v, dir, 0, *m, &e) != VC_OK)
        fail_msg("vault_open: %s", e.msg);
    return v;
}

/* The report: a local user made .health.tmp a link to a root-owned file,
 * and the service's next write overwrote it. */
static void test_health_tmp_link(void **state)
{
    char dir[256], victim[256], victim2[256], victim3[256], p[300], why[256];
    seal_master *m = NULL;
    health h;
    struct stat st;
    long age = -1;
    (void)state;

    path_of(dir, "health");
    vault *v = open_vault(dir, &m);
    path_of(victim, "victim");
    path_of(victim2, "victim2");
    path_of(victim3, "victim3");
    write_text(victim, "root's file", 0644);
    write_text(victim2, "root's other file", 0644);
    write_text(victim3, "root's third file", 0644);
    /* The old fixed name, this process's temporary name, and the file. */
    (void)snprintf(p, sizeof p, "%s/.health.tmp", dir);
    assert_int_equal(symlink(victim, p), 0);
    (void)snprintf(p, sizeof p, "%s/.health.%ld.tmp", dir, (long)getpid());
    assert_int_equal(symlink(victim2, p), 0);
    (void)snprintf(p, sizeof p, "%s/.health", dir);
    assert_int_equal(symlink(victim3, p), 0);

    health_init(&h, dir);
    health_write(&h, true, v);
    health_write(&h, true, v);

    assert_true(holds(victim, "root's file"));
    assert_true(holds(victim2, "root's other file"));
    assert_true(holds(victim3, "root's third file"));
    assert_int_equal(lstat(p, &st), 0); /* .health: our own file now */
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    if (!health_check(dir, HEALTH_MAX_AGE_S, &age, why, sizeof why))
        fail_msg("unhealthy: %s", why);
    (void)snprintf(p, sizeof p, "%s/.health.%ld.tmp", dir, (long)getpid());
    assert_int_not_equal(lstat(p, &st), 0); /* no temporary file left */

    /* The reader does not follow a link either. */
    health_remove(&h);
    (void)snprintf(p, sizeof p, "%s/.health", dir);
    assert_int_not_equal(lstat(p, &st), 0);
    assert_int_equal(symlink(victim3, p), 0);
    assert_false(health_check(dir, HEALTH_MAX_AGE_S, &age, why, sizeof why));
    must_hold(why, "symbolic link");

    vault_close(v);
    seal_master_free(m);
}

/* ---- the master key ----------------------------------------------------- */

static void key_refused(const char *path, const char *fragment)
{
    seal_master *m = NULL;
    vc_err e;
    assert_int_equal(seal_master_load(&m, path, NULL, &e), VC_CONFIG);
    assert_null(m);
    must_hold(e.msg, "master key ");
    must_hold(e.msg, path);
    must_hold(e.msg, fragment);
}

/* Loads; returns the warning flag. */
static bool key_loads(const char *path)
{
    seal_master *m = NULL;
    bool warn = false;
    vc_err e;
    if (seal_master_load(&m, path, &warn, &e) != VC_OK)
        fail_msg("%s", e.msg);
    seal_master_free(m);
    return warn;
}

static void test_master_key_mode(void **state)
{
    char p[256];
    (void)state;

    write_key(path_of(p, "k0666"), 0666);
    key_refused(p, "is writable by group or others (mode 0666");
    write_key(path_of(p, "k0664"), 0664);
    key_refused(p, "is writable by group or others (mode 0664");
    write_key(path_of(p, "k0600"), 0600);
    assert_false(key_loads(p));
    write_key(path_of(p, "k0644"), 0644);
    assert_true(key_loads(p)); /* outside /run/secrets/: warned about */
    write_key(path_of(p, "k0440"), 0440);
    assert_true(key_loads(p));

    /* Docker's secrets: root-owned 0444 under /run/secrets/, no warning. */
    assert_false(fileperm_warn_readable("/run/secrets/vault_master_key", S_IFREG | 0444));
    assert_false(fileperm_warn_readable("/var/run/secrets/vault_master_key", S_IFREG | 0444));
    assert_true(fileperm_warn_readable("/run/secretsx/key", S_IFREG | 0444));
    assert_true(fileperm_warn_readable("/app/config/master.key", S_IFREG | 0444));
    assert_false(fileperm_warn_readable("/app/config/master.key", S_IFREG | 0400));
}

static void test_master_key_owner(void **state)
{
    char p[256];
    (void)state;

    if (geteuid() != 0) {
        print_message("skip - not root: cannot give a file to another user\n");
        return;
    }
    write_key(path_of(p, "knobody"), 0400);
    assert_int_equal(chown(p, NOBODY, NOBODY), 0);
    key_refused(p, "is owned by uid 65534");
    write_key(path_of(p, "kroot0444"), 0444);
    assert_true(key_loads(p)); /* root-owned, read-only: accepted */
}

/* ---- as the image's user ------------------------------------------------ */

/* In a child as uid/gid IMAGE_UID: counts what goes wrong. */
static int as_image_user(void)
{
    char p[256], dir[256];
    seal_master *m = NULL;
    store *s = NULL;
    bool warn = false;
    vc_err e;
    int bad = 0;

    /* Docker's default secret: root-owned 0444 while the service is 10001. */
    if (seal_master_load(&m, path_of(p, "img-root0444"), &warn, &e) != VC_OK) {
        fprintf(stderr, "root-owned 0444 refused as %d: %s\n", IMAGE_UID, e.msg);
        bad++;
    }
    seal_master_free(m);
    m = NULL;
    /* The stack's: uid 10001, 0400. */
    if (seal_master_load(&m, path_of(p, "img-own0400"), &warn, &e) != VC_OK || warn) {
        fprintf(stderr, "own 0400 refused or warned: %s\n", e.msg);
        bad++;
    }
    seal_master_free(m);
    m = NULL;
    if (seal_master_load(&m, path_of(p, "img-root0666"), &warn, &e) != VC_CONFIG ||
        strstr(e.msg, "writable by group or others") == NULL) {
        fprintf(stderr, "root-owned 0666 not refused\n");
        bad++;
    }
    seal_master_free(m);
    m = NULL;
    if (seal_master_load(&m, path_of(p, "img-nobody0444"), &warn, &e) != VC_CONFIG ||
        strstr(e.msg, "is owned by uid 65534") == NULL) {
        fprintf(stderr, "nobody's 0444 not refused: %s\n", e.msg);
        bad++;
    }
    seal_master_free(m);
    /* The image's /app/data (10001, 0700) opens; a root-owned one does not. */
    if (store_open(&s, path_of(dir, "img-data"), 0, &e) != VC_OK) {
        fprintf(stderr, "own store refused: %s\n", e.msg);
        bad++;
    }
    store_close(s);
    s = NULL;
    if (store_open(&s, path_of(dir, "img-rootdata"), 0, &e) != VC_CONFIG ||
        strstr(e.msg, "is owned by uid 0") == NULL || strstr(e.msg, "not by uid 10001") == NULL) {
        fprintf(stderr, "root's store not refused: %s\n", e.msg);
        bad++;
    }
    store_close(s);
    return bad;
}

static void test_as_image_user(void **state)
{
    char p[256];
    (void)state;

    if (geteuid() != 0) {
        print_message("skip - not root: cannot run as uid %d\n", IMAGE_UID);
        return;
    }
    assert_int_equal(chmod(tmpdir, 0755), 0); /* the child must get in */
    write_key(path_of(p, "img-root0444"), 0444);
    write_key(path_of(p, "img-own0400"), 0400);
    assert_int_equal(chown(p, IMAGE_UID, IMAGE_UID), 0);
    write_key(path_of(p, "img-root0666"), 0666);
    write_key(path_of(p, "img-nobody0444"), 0444);
    assert_int_equal(chown(p, NOBODY, NOBODY), 0);
    assert_int_equal(mkdir(path_of(p, "img-data"), 0700), 0);
    assert_int_equal(chown(p, IMAGE_UID, IMAGE_UID), 0);
    assert_int_equal(mkdir(path_of(p, "img-rootdata"), 0755), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(IMAGE_UID) != 0 || setuid(IMAGE_UID) != 0)
            _exit(100);
        _exit(as_image_user());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(chmod(tmpdir, 0700), 0);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 100) {
        print_message("skip - cannot switch to uid %d\n", IMAGE_UID);
        return;
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_dir_world_writable),
        cmocka_unit_test(test_store_dir_created_private),
        cmocka_unit_test(test_store_dir_other_owner),
        cmocka_unit_test(test_store_file_link),
        cmocka_unit_test(test_backup_onto_link),
        cmocka_unit_test(test_health_tmp_link),
        cmocka_unit_test(test_master_key_mode),
        cmocka_unit_test(test_master_key_owner),
        cmocka_unit_test(test_as_image_user),
    };
    return cmocka_run_group_tests_name("fileperm", tests, setup_dir, teardown_dir);
}
