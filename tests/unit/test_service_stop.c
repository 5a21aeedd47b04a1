/* test_service_stop.c - service_stop and nats.c's closed callback: the
 * service is freed only after the callback (which uses it) has run, even
 * when the callback comes later than the 5 s service_stop used to wait
 * before freeing anyway.
 *
 * No NATS server: the service points at a loopback port nothing listens
 * on, so it starts with its connection retrying in the background (as
 * `serve` does when the server is not up yet), and natsConnection_Close
 * still ends in the closed callback. service_test_delay_closed makes that
 * callback late. Under AddressSanitizer, the old behaviour (free after 5 s)
 * shows as a heap-use-after-free when the late callback runs; in any build
 * the test fails because service_stop returned before the callback ran. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ops.h"
#include "service.h"

/* Longer than the 5 s the old service_stop waited. */
#define LATE_MS 7000

static char *no_env[] = {NULL};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until_ms(int64_t t)
{
    int64_t left;
    while ((left = t - now_ms()) > 0) {
        struct timespec d = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L};
        (void)nanosleep(&d, NULL);
    }
}

/* A loopback port that was free a moment ago (and so refuses connections). */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A service whose server is not reachable; audit in mode (best_effort gets
 * its own audit connection too). */
static service *start(config **cfg, const char *mode)
{
    char yaml[512];
    service *s = NULL;
    vc_err err;

    (void)snprintf(yaml, sizeof yaml,
                   "nats:\n  url: nats://127.0.0.1:%d\n"
                   "encryption:\n  master_key: /nonexistent/master.key\n"
                   "storage:\n  path: /nonexistent/data\n"
                   "service:\n  workers: 2\n"
                   "audit:\n  subject: vault.audit\n  mode: %s\n",
                   closed_port(), mode);
    if (config_load_string(cfg, "t.yaml", yaml, strlen(yaml), no_env, &err) != VC_OK)
        fail_msg("config: %s", err.msg);
    ops_ctx ctx = {.max_value_bytes = 1024, .service_version = "test"};
    if (service_start(&s, *cfg, &ctx, &err) != VC_OK)
        fail_msg("service_start: %s", err.msg);
    assert_false(service_connected(s));
    return s;
}

/* Without a delay the callback comes at once, and so does service_stop. */
static void test_stop_prompt(void **state)
{
    config *cfg = NULL;
    (void)state;

    service_test_delay_closed(0);
    service *s = start(&cfg, "best_effort");
    int64_t t0 = now_ms();
    service_stop(s);
    int64_t took = now_ms() - t0;
    config_free(cfg);
    assert_true(took < 3000);
}

/* The closed callback comes LATE_MS after the close: service_stop must
 * still be waiting then, not have freed the service at 5 s. */
static void test_stop_waits_for_late_callback(void **state)
{
    const char *mode = *state;
    config *cfg = NULL;

    service *s = start(&cfg, mode);
    service_test_delay_closed(LATE_MS);
    int64_t t0 = now_ms();
    service_stop(s);
    int64_t took = now_ms() - t0;
    /* Had service_stop returned early, the callback would run on freed
     * memory within LATE_MS of the close: stay until then, so that it runs
     * inside this test (AddressSanitizer reports it there). */
    sleep_until_ms(t0 + LATE_MS + 500);
    service_test_delay_closed(0);
    config_free(cfg);
    if (took < LATE_MS)
        fail_msg("service_stop returned after %lld ms, before the closed callback (%d ms late)",
                 (long long)took, LATE_MS);
}

int main(void)
{
    static char required[] = "required";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_prompt),
        cmocka_unit_test_prestate(test_stop_waits_for_late_callback, required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
