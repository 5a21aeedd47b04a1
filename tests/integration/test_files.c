/* test_files.c - files that are not ours (issue 11, items 4 and 5), with
 * the real binary: a store directory writable by others or owned by
 * another user is refused, the running service's health file cannot be
 * turned into a write through a planted link, `backup` does not write
 * through a link, and the master key's mode is refused or warned about. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok   - ");                                                                     \
        } else {                                                                                   \
            printf("FAIL - ");                                                                     \
            failures++;                                                                            \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

/* Runs vaultctl --config config args..., stdout and stderr into *out
 * (malloc'd); returns the exit code. */
static int run(const char *config, char **out, const char *const *args)
{
    const char *argv[IT_ARGV_MAX];
    char path[] = "/tmp/vaultctl-it-files-out-XXXXXX";
    int status = 0;
    int fd = mkstemp(path);

    *out = NULL;
    if (fd < 0)
        return -1;
    it_argv(argv, config, args);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* A command that should have been refused may run instead (serve
     * would wait for NATS for good): 20 s, then it is stopped. */
    int waited = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (++waited > 200) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(100 * 1000);
    }
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)len + 1);
    if (buf != NULL && pread(fd, buf, (size_t)len, 0) == len)
        buf[len] = '\0';
    else if (buf != NULL)
        buf[0] = '\0';
    close(fd);
    unlink(path);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool has(const char *text, const char *fragment)
{
    return text != NULL && strstr(text, fragment) != NULL;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) != 0)
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

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

/* The store directory: writable by others, owned by another user. */
static void store_dir_rules(void)
{
    it_vault v;
    char data[400], *out = NULL;
    const char *status[] = {"status", NULL};
    const char *serve[] = {"serve", NULL};

    if (it_vault_init(&v, NULL, NULL) != 0) {
        CHECK(false, "vault fixture");
        return;
    }
    snprintf(data, sizeof data, "%s/data", v.dir);
    mkdir(data, 0700);
    chmod(data, 0777);
    int rc = run(v.config, &out, serve);
    CHECK(rc == 1 && has(out, data) && has(out, "writable by group or others (mode 0777"),
          "serve refuses a world-writable store directory (exit %d): %s", rc, out);
    free(out);
    chmod(data, 0700);
    rc = run(v.config, &out, status);
    CHECK(rc == 0, "status works once it is 0700 (exit %d)", rc);
    free(out);

    if (geteuid() == 0) {
        if (chown(data, 65534, 65534) != 0)
            perror("chown");
        rc = run(v.config, &out, status);
        CHECK(rc == 1 && has(out, "is owned by uid 65534") && has(out, "chown -R root"),
              "as root, a store directory owned by uid 65534 is refused, saying root could "
              "chown it (exit %d): %s",
              rc, out);
        free(out);
    } else {
        printf("skip - not root: a store directory owned by another user\n");
    }
    it_vault_destroy(&v);
}

/* The master key: 0666 refused, 0644 warned about, another owner refused. */
static void master_key_rules(void)
{
    it_vault v;
    char key[400], *out = NULL;
    const char *status[] = {"status", NULL};

    if (it_vault_init(&v, NULL, NULL) != 0) {
        CHECK(false, "vault fixture");
        return;
    }
    snprintf(key, sizeof key, "%s/master.key", v.dir);
    chmod(key, 0666);
    int rc = run(v.config, &out, status);
    CHECK(rc == 1 && has(out, key) && has(out, "writable by group or others (mode 0666"),
          "a master key with mode 0666 is refused (exit %d): %s", rc, out);
    free(out);

    chmod(key, 0644);
    rc = run(v.config, &out, status);
    CHECK(rc == 0 && has(out, "WARN") && has(out, "readable by group or others"),
          "a master key with mode 0644 outside /run/secrets/ works with a warning (exit %d): %s",
          rc, out);
    free(out);

    chmod(key, 0600);
    rc = run(v.config, &out, status);
    CHECK(rc == 0 && !has(out, "WARN"), "a master key with mode 0600: no warning (exit %d): %s", rc,
          out);
    free(out);

    if (geteuid() == 0) {
        chmod(key, 0444);
        rc = run(v.config, &out, status);
        CHECK(rc == 0, "a root-owned 0444 master key is accepted (exit %d): %s", rc, out);
        free(out);
        chmod(key, 0400);
        if (chown(key, 65534, 65534) != 0)
            perror("chown");
        rc = run(v.config, &out, status);
        CHECK(rc == 1 && has(out, "is owned by uid 65534"),
              "a master key owned by uid 65534 is refused (exit %d): %s", rc, out);
        free(out);
    } else {
        printf("skip - not root: a master key owned by another user\n");
    }
    it_vault_destroy(&v);
}

/* The report: .health.tmp made a link to a root-owned file before the
 * service writes its health file; and `backup` onto a link. */
static void health_and_backup_links(void)
{
    it_nats n;
    it_vault v;
    char data[400], link[500], victim[400], health[500], *out = NULL;
    struct stat st;

    memset(&n, 0, sizeof n);
    memset(&v, 0, sizeof v);
    if (it_nats_start(&n, 0) != 0 || it_vault_init(&v, &n, NULL) != 0) {
        CHECK(false, "nats-server and vault fixture");
        goto done;
    }
    snprintf(data, sizeof data, "%s/data", v.dir);
    snprintf(victim, sizeof victim, "%s/victim", v.dir);
    snprintf(link, sizeof link, "%s/.health.tmp", data);
    snprintf(health, sizeof health, "%s/.health", data);
    mkdir(data, 0700);
    write_text(victim, "root's file", 0644);
    if (symlink(victim, link) != 0)
        perror("symlink");
    if (it_vault_start(&v, &n) != 0) {
        CHECK(false, "the service starts");
        it_vault_dump_log(&v);
        goto done;
    }
    usleep(2500 * 1000); /* two health writes at least */
    CHECK(holds(victim, "root's file"),
          "the service's health writes leave the target of a planted .health.tmp link alone");
    CHECK(lstat(health, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
          "the health file is a regular file, mode 0600 (mode %o)", (unsigned)st.st_mode);
    const char *check[] = {"health", NULL};
    int rc = run(v.config, &out, check);
    CHECK(rc == 0, "vaultctl health: healthy (exit %d): %s", rc, out);
    free(out);

    char blink[500];
    snprintf(blink, sizeof blink, "%s/backup-link.mdb", v.dir);
    if (symlink(victim, blink) != 0)
        perror("symlink");
    const char *backup[] = {"backup", blink, NULL};
    rc = run(v.config, &out, backup);
    CHECK(rc == 1 && has(out, "already exists") && holds(victim, "root's file"),
          "backup onto an existing link is refused and its target untouched (exit %d): %s", rc,
          out);
    free(out);
    CHECK(it_vault_stop(&v) == 0, "the service stops cleanly");
done:
    it_vault_destroy(&v);
    it_nats_destroy(&n);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    store_dir_rules();
    master_key_rules();
    health_and_backup_links();
    printf("%s\n", failures == 0 ? "all passed" : "FAILED");
    return failures == 0 ? 0 : 1;
}
