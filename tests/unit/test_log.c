/* test_log.c - request lines: off by default, on with log_set_requests or at
 * debug level, written by the log thread within LOG_FLUSH_MS (well, within a
 * second here), never after an event line logged later, never blocking the
 * caller when stderr does not drain (dropped and counted instead), and all
 * written at log_close. stderr (fd 2) is pointed at a temp file or a pipe.
 * The tests share the logger's state and run in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "log.h"

static char path[] = "/tmp/vaultctl-test-log-XXXXXX";
static int saved_stderr = -1;

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    unlink(path);
    return 0;
}

static char *contents(void)
{
    FILE *f = fopen(path, "r");
    static char buf[1 << 20];
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Waits up to 2 s for needle in the file. */
static bool appears(const char *needle)
{
    for (int i = 0; i < 200; i++) {
        if (strstr(contents(), needle) != NULL)
            return true;
        usleep(10 * 1000);
    }
    return false;
}

static void test_off_by_default(void **state)
{
    (void)state;
    assert_false(log_requests_on());
    log_request("request op=get n=%d", 1);
    log_info("event one");
    assert_true(appears("INFO event one\n"));
    assert_null(strstr(contents(), "request op=get"));
}

static void test_on_and_ordered(void **state)
{
    (void)state;
    log_set_requests(true);
    assert_true(log_requests_on());
    for (int i = 0; i < 100; i++)
        log_request("request op=get n=%d", i);
    /* the log thread writes them without being asked */
    assert_true(appears("INFO request op=get n=99\n"));
    log_request("request op=set n=%d", 100);
    log_warn("event two");
    /* written at once, after the request line queued before it */
    const char *c = contents();
    const char *req = strstr(c, "request op=set n=100\n"), *ev = strstr(c, "WARN event two\n");
    assert_non_null(req);
    assert_non_null(ev);
    assert_true(req < ev);
    log_set_requests(false);
}

static void test_debug_level(void **state)
{
    (void)state;
    log_set_level(LOG_DEBUG);
    assert_true(log_requests_on());
    log_request("request op=list n=%d", 7);
    assert_true(appears("request op=list n=7\n"));
    log_set_level(LOG_INFO);
    assert_false(log_requests_on());
}

typedef struct {
    int fd;
    size_t len;
    char *buf;
} reader;

static void *read_all(void *arg)
{
    reader *r = arg;
    size_t cap = 1 << 20;
    ssize_t n;
    r->buf = malloc(cap + 1);
    while (r->buf != NULL && r->len < cap && (n = read(r->fd, r->buf + r->len, cap - r->len)) > 0)
        r->len += (size_t)n;
    if (r->buf != NULL)
        r->buf[r->len] = '\0';
    return NULL;
}

/* stderr a pipe nobody reads: the callers go on, the lines beyond the
 * buffer are counted, and log_close writes the rest and the count. */
static void test_full_buffer_drops(void **state)
{
    (void)state;
    int p[2];
    char pad[900];
    pthread_t t;
    reader r = {0};

    assert_int_equal(pipe(p), 0);
    dup2(p[1], STDERR_FILENO);
    close(p[1]);
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    log_set_requests(true);
    for (int i = 0; i < 3000; i++) /* ~2.8 MB against a 64 KiB pipe */
        log_request("request n=%d %s", i, pad);
    r.fd = p[0];
    assert_int_equal(pthread_create(&t, NULL, read_all, &r), 0);
    log_close();
    log_request("request after close"); /* written directly */
    dup2(saved_stderr, STDERR_FILENO);  /* the reader sees EOF */
    pthread_join(t, NULL);
    close(p[0]);
    assert_non_null(r.buf);
    assert_non_null(strstr(r.buf, "request n=0 "));
    assert_non_null(strstr(r.buf, "request lines dropped (log buffer full)"));
    assert_non_null(strstr(r.buf, "request after close\n"));
    free(r.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_on_and_ordered),
        cmocka_unit_test(test_debug_level),
        cmocka_unit_test(test_full_buffer_drops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
