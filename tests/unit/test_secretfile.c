/* test_secretfile.c - the one reader of secret files and its rule (see
 * secretfile.h): the newline cases, empty files, the size limit, files that
 * are not regular, symbolic links, missing files, and messages that name
 * the path but never the content. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secretfile.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_secretfile.XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char cmd[128];
    (void)state;
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name into path (256 bytes). */
static const char *path_of(char *path, const char *name)
{
    int n = snprintf(path, 256, "%s/%s", tmpdir, name);
    assert_true(n > 0 && n < 256);
    return path;
}

/* Writes len bytes to tmpdir/name (mode 0600); returns the path in path. */
static const char *write_file(char *path, const char *name, const void *data, size_t len)
{
    path_of(path, name);
    (void)unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    return path;
}

/* Reads a file made of text (len bytes) and expects want (want_len bytes). */
static void reads_as(const char *name, const char *text, size_t len, const char *want,
                     size_t want_len)
{
    char path[256];
    char *s = (char *)(uintptr_t)1;
    size_t n = 99;
    vc_err err = {0};
    write_file(path, name, text, len);
    if (secretfile_read(path, SECRETFILE_MAX, &s, &n, NULL, &err) != VC_OK)
        fail_msg("%s: unexpected error: %s", name, err.msg);
    assert_int_equal(n, want_len);
    assert_memory_equal(s, want, want_len);
    assert_int_equal(s[n], '\0');
    secretfile_free(s);
}

/* Reading path with limit max fails with VC_CONFIG, a message that starts
 * with the path and holds fragment, and *out NULL. */
static void fails(const char *path, size_t max, const char *fragment)
{
    char *s = (char *)(uintptr_t)1;
    size_t n = 99;
    vc_err err = {0};
    assert_int_equal(secretfile_read(path, max, &s, &n, NULL, &err), VC_CONFIG);
    assert_null(s);
    assert_int_equal(n, 0);
    assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
    if (strstr(err.msg, fragment) == NULL)
        fail_msg("\"%s\" does not hold \"%s\"", err.msg, fragment);
}

static void test_newlines(void **state)
{
    (void)state;
    reads_as("plain", "hunter2", 7, "hunter2", 7);
    reads_as("lf", "hunter2\n", 8, "hunter2", 7);
    reads_as("crlf", "hunter2\r\n", 9, "hunter2", 7);
    /* Exactly one newline is removed: the rest is part of the secret. */
    reads_as("lflf", "hunter2\n\n", 9, "hunter2\n", 8);
    reads_as("crlfcrlf", "hunter2\r\n\r\n", 11, "hunter2\r\n", 9);
    reads_as("cr", "hunter2\r", 8, "hunter2\r", 8);
    reads_as("blank", "hunter2 \n", 9, "hunter2 ", 8);
    reads_as("lead", "\nhunter2", 8, "\nhunter2", 8);
    reads_as("lines", "a\nb\n", 4, "a\nb", 3);
}

static void test_empty(void **state)
{
    char path[256];
    (void)state;
    fails(write_file(path, "empty", "", 0), SECRETFILE_MAX, ": is empty");
    fails(write_file(path, "nl", "\n", 1), SECRETFILE_MAX, ": is empty");
    fails(write_file(path, "crnl", "\r\n", 2), SECRETFILE_MAX, ": is empty");
    /* Two newlines: one is removed, one is a (strange) secret. */
    reads_as("nlnl", "\n\n", 2, "\n", 1);
}

static void test_limit(void **state)
{
    char path[256], want[96];
    (void)state;
    /* The limit counts the file's bytes, a trailing newline included. */
    reads_as("eight", "12345678", 8, "12345678", 8);
    char *s = NULL;
    size_t n = 0;
    vc_err err = {0};
    write_file(path, "eight", "12345678", 8);
    assert_int_equal(secretfile_read(path, 8, &s, &n, NULL, &err), VC_OK);
    assert_string_equal(s, "12345678");
    secretfile_free(s);

    write_file(path, "nine", "12345678\n", 9);
    snprintf(want, sizeof want, ": too large (9 bytes; the limit is 8)");
    fails(path, 8, want);

    /* Too long is never cut, and the message does not quote the file. */
    char big[SECRETFILE_MAX + 1];
    memset(big, 'S', sizeof big);
    write_file(path, "big", big, sizeof big);
    fails(path, SECRETFILE_MAX, "the limit is 65536");
    assert_int_equal(secretfile_read(path, SECRETFILE_MAX, &s, &n, NULL, &err), VC_CONFIG);
    assert_null(strstr(err.msg, "SSSS"));
}

static void test_not_regular(void **state)
{
    char path[256];
    (void)state;
    fails(tmpdir, SECRETFILE_MAX, ": is not a regular file");
    fails("/dev/null", SECRETFILE_MAX, ": is not a regular file");
    /* A FIFO with no writer must not hang the reader. */
    assert_int_equal(mkfifo(path_of(path, "fifo"), 0600), 0);
    fails(path, SECRETFILE_MAX, ": is not a regular file");
}

static void test_symlink(void **state)
{
    char path[256], target[256], dir[256], via[300];
    char *s = NULL;
    size_t n = 0;
    vc_err err = {0};
    (void)state;
    /* A link as the last component is refused (O_NOFOLLOW)... */
    write_file(target, "target", "hunter2\n", 8);
    assert_int_equal(symlink(target, path_of(path, "link")), 0);
    fails(path, SECRETFILE_MAX, ": is a symbolic link; refusing");

    /* ...a link to a directory above it is followed (Kubernetes' ..data). */
    assert_int_equal(mkdir(path_of(dir, "real"), 0700), 0);
    write_file(target, "real/pass", "from-real\n", 10);
    assert_int_equal(symlink(dir, path_of(path, "data")), 0);
    snprintf(via, sizeof via, "%s/pass", path);
    assert_int_equal(secretfile_read(via, SECRETFILE_MAX, &s, &n, NULL, &err), VC_OK);
    assert_string_equal(s, "from-real");
    secretfile_free(s);
}

static void test_missing_and_nul(void **state)
{
    char path[256];
    (void)state;
    fails(path_of(path, "missing"), SECRETFILE_MAX, ": cannot open: No such file or directory");
    fails(write_file(path, "nul", "hun\0ter2\n", 9), SECRETFILE_MAX, ": contains a NUL byte");
}

static void test_mode(void **state)
{
    char path[256];
    char *s = NULL;
    size_t n = 0;
    mode_t mode = 0;
    vc_err err = {0};
    (void)state;
    write_file(path, "mode", "pw", 2);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(secretfile_read(path, SECRETFILE_MAX, &s, &n, &mode, &err), VC_OK);
    assert_int_equal(mode & 0777, 0640);
    assert_true(S_ISREG(mode));
    secretfile_free(s);
    secretfile_free(NULL);

    /* Writable by group or others: refused (fileperm.h), by read and by
     * check alike. */
    assert_int_equal(chmod(path, 0620), 0);
    fails(path, SECRETFILE_MAX, ": is writable by group or others (mode 0620");
    assert_int_equal(secretfile_check(path, &err), VC_CONFIG);
    assert_int_equal(chmod(path, 0602), 0);
    fails(path, SECRETFILE_MAX, ": is writable by group or others (mode 0602");
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(secretfile_check(path, &err), VC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newlines), cmocka_unit_test(test_empty),
        cmocka_unit_test(test_limit),    cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_symlink),  cmocka_unit_test(test_missing_and_nul),
        cmocka_unit_test(test_mode),
    };
    return cmocka_run_group_tests_name("secretfile", tests, setup_dir, teardown_dir);
}
