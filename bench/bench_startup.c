/* bench_startup.c - start-up time of a NATS service, and small helpers for
 * scripts/bench.sh.
 *
 * Usage:
 *   bench_startup --url URL [--runs N] [--subject S] [--log FILE] -- CMD ARGS...
 *       N times (default 5): exec CMD, time from just before fork to the
 *       first reply on S (default $SRV.PING.vaultctl), SIGTERM it and wait.
 *       Prints each run and "RESULT startup_ms_median=.. min=.. max=..".
 *   bench_startup --url URL --wait SUBJECT [--timeout-ms T]
 *       Exit 0 once a request on SUBJECT is answered (default 10 s).
 *   bench_startup --free-port
 *       Prints a free TCP port on 127.0.0.1.
 *
 * Polling: a request to a subject nobody listens on fails at once with "no
 * responders" (headers are on), so the loop asks again every 0.5 ms and the
 * figure is within that of the real moment.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 50

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    int port = -1;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static natsConnection *connect_to(const char *url)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsStatus st = natsOptions_Create(&o);

    if (st == NATS_OK)
        st = natsOptions_SetURL(o, url);
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(o, true);
    if (st == NATS_OK)
        st = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (st != NATS_OK) {
        fprintf(stderr, "bench_startup: connect %s: %s\n", url, natsStatus_GetText(st));
        return NULL;
    }
    return nc;
}

/* Asks until answered or the deadline passes; true when answered. If pid is
 * not 0, also gives up when that child exits. */
static bool poll_reply(natsConnection *nc, const char *subject, int64_t deadline_ns, pid_t pid)
{
    while (now_ns() < deadline_ns) {
        natsMsg *m = NULL;
        if (natsConnection_RequestString(&m, nc, subject, "", 200) == NATS_OK) {
            natsMsg_Destroy(m);
            return true;
        }
        if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
            return false;
        sleep_us(500);
    }
    return false;
}

static pid_t spawn(char **argv, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log != NULL ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int measure(natsConnection *nc, const char *subject, int runs, const char *log, char **cmd)
{
    double ms[MAX_RUNS];

    for (int r = 0; r < runs; r++) {
        int64_t t0 = now_ns();
        pid_t pid = spawn(cmd, log);
        if (pid < 0) {
            perror("bench_startup: fork");
            return 1;
        }
        bool up = poll_reply(nc, subject, t0 + 30 * 1000000000LL, pid);
        int64_t t1 = now_ns();
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        if (!up) {
            fprintf(stderr, "bench_startup: %s never answered on %s\n", cmd[0], subject);
            return 1;
        }
        ms[r] = (double)(t1 - t0) / 1e6;
        printf("run %d: %.1f ms\n", r + 1, ms[r]);
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_d);
    printf("RESULT startup_ms_median=%.1f min=%.1f max=%.1f runs=%d\n", ms[runs / 2], ms[0],
           ms[runs - 1], runs);
    return 0;
}

static int usage(void)
{
    fputs("usage: bench_startup --url URL [--runs N] [--subject S] [--log FILE] -- CMD ARGS...\n"
          "       bench_startup --url URL --wait SUBJECT [--timeout-ms T]\n"
          "       bench_startup --free-port\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *subject = "$SRV.PING.vaultctl", *wait = NULL, *log = NULL;
    int runs = 5, status = 1;
    long timeout_ms = 10000;
    char **cmd = NULL;
    natsConnection *nc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--free-port") == 0) {
            int p = free_port();
            if (p < 0)
                return 1;
            printf("%d\n", p);
            return 0;
        }
        if (strcmp(argv[i], "--") == 0) {
            cmd = argv + i + 1;
            break;
        }
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--url") == 0)
            url = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--subject") == 0)
            subject = argv[++i];
        else if (strcmp(argv[i], "--wait") == 0)
            wait = argv[++i];
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--log") == 0)
            log = argv[++i];
        else
            return usage();
    }
    if (url == NULL || runs < 1 || runs > MAX_RUNS ||
        (wait == NULL && (cmd == NULL || cmd[0] == NULL)))
        return usage();
    signal(SIGPIPE, SIG_IGN);
    nc = connect_to(url);
    if (nc == NULL)
        return 1;
    if (wait != NULL)
        status = poll_reply(nc, wait, now_ns() + timeout_ms * 1000000LL, 0) ? 0 : 1;
    else
        status = measure(nc, subject, runs, log, cmd);
    natsConnection_Destroy(nc);
    nats_Close();
    return status;
}
