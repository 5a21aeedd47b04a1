/* log.c - stderr logger (see log.h).
 *
 * Request lines go into `pending` under buf_lock (a memcpy, never a
 * system call); the log thread swaps it with the spare buffer and writes
 * it with one write(2). Whoever writes to stderr holds out_lock, and takes
 * what is pending first, so an event line never overtakes a request line
 * queued before it. Only a holder of out_lock swaps the buffers, and it
 * has written the swapped-out one before it lets go, so the spare is
 * always free to swap in. Lock order: out_lock, then buf_lock. */
#include "latch.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"

#define LOG_BUF_BYTES ((size_t)256 * 1024) /* each of the two buffers */
#define LOG_LINE_MAX  1024                 /* longer lines are cut */

static atomic_int min_level = LOG_INFO;
static atomic_bool requests_set;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t buf_cv = PTHREAD_COND_INITIALIZER; /* for the log thread */
static char bufs[2][LOG_BUF_BYTES];
static char *pending = bufs[0]; /* under buf_lock */
static size_t pending_len;      /* under buf_lock */
static bool writer_on;          /* under buf_lock: the log thread takes lines */
static bool closing;            /* under buf_lock */
static unsigned long dropped;   /* under buf_lock */
static pthread_t writer;
static pthread_once_t writer_once = PTHREAD_ONCE_INIT;

void log_set_level(log_level level)
{
    atomic_store(&min_level, level);
}

void log_set_requests(bool on)
{
    atomic_store(&requests_set, on);
}

bool log_requests_on(void)
{
    return atomic_load_explicit(&requests_set, memory_order_relaxed) ||
           atomic_load_explicit(&min_level, memory_order_relaxed) == LOG_DEBUG;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to log to */
        p += w;
        n -= (size_t)w;
    }
}

/* "2026-11-28T13:16:47.123Z LEVEL " into line; its length. The date and
 * time of day are formatted once a second per thread. */
static size_t prefix(char *line, log_level level)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    static _Thread_local int64_t cached_s = INT64_MIN;
    static _Thread_local char day[TIMEFMT_RFC3339_LEN];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if ((int64_t)ts.tv_sec != cached_s) {
        timefmt_rfc3339((int64_t)ts.tv_sec, day); /* "...:47Z" */
        day[strlen(day) - 1] = '\0';
        cached_s = (int64_t)ts.tv_sec;
    }
    int n = snprintf(line, LOG_LINE_MAX, "%s.%03ldZ %s ", day, ts.tv_nsec / 1000000L, names[level]);
    return n > 0 && n < LOG_LINE_MAX ? (size_t)n : 0;
}

/* Formats the whole line with its newline; its length. */
static size_t format_line(char *line, log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static size_t format_line(char *line, log_level level, const char *fmt, va_list ap)
{
    size_t n = prefix(line, level);
    int w = vsnprintf(line + n, LOG_LINE_MAX - n - 1, fmt, ap);
    if (w > 0)
        n += (size_t)w < LOG_LINE_MAX - n - 1 ? (size_t)w : LOG_LINE_MAX - n - 2;
    line[n++] = '\n';
    return n;
}

/* With out_lock held: writes what is pending, then the drop count. */
static void flush_pending(void)
{
    pthread_mutex_lock(&buf_lock);
    char *out = pending;
    size_t len = pending_len;
    unsigned long lost = dropped;
    pending = out == bufs[0] ? bufs[1] : bufs[0];
    pending_len = 0;
    dropped = 0;
    pthread_mutex_unlock(&buf_lock);

    write_all(out, len);
    if (lost > 0) {
        char line[LOG_LINE_MAX];
        size_t n = prefix(line, LOG_WARN);
        int w = snprintf(line + n, LOG_LINE_MAX - n,
                         "log: %lu request lines dropped (log buffer full)\n", lost);
        if (w > 0 && (size_t)w < LOG_LINE_MAX - n)
            write_all(line, n + (size_t)w);
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&buf_lock);
        while (pending_len == 0 && dropped == 0 && !closing)
            pthread_cond_wait(&buf_cv, &buf_lock);
        /* Something is pending: let more come, up to LOG_FLUSH_MS or half
         * a buffer, then write it all at once. */
        struct timespec until = deadline_after_ns(CLOCK_REALTIME, LOG_FLUSH_MS * 1000000L);
        while (pending_len < LOG_BUF_BYTES / 2 && !closing &&
               pthread_cond_timedwait(&buf_cv, &buf_lock, &until) == 0)
            ;
        bool stop = closing;
        pthread_mutex_unlock(&buf_lock);

        pthread_mutex_lock(&out_lock);
        flush_pending();
        pthread_mutex_unlock(&out_lock);
        if (stop)
            return NULL;
    }
}

static void start_writer(void)
{
    /* Started from whatever thread logs the first request line: its signal
     * mask (vaultctl serve blocks SIGTERM/SIGINT in every thread) is ours. */
    if (pthread_create(&writer, NULL, writer_main, NULL) != 0)
        return; /* request lines are then written directly */
    pthread_mutex_lock(&buf_lock);
    writer_on = true;
    pthread_mutex_unlock(&buf_lock);
    atexit(log_close);
}

void log_close(void)
{
    pthread_mutex_lock(&buf_lock);
    bool running = writer_on;
    writer_on = false;
    closing = running;
    pthread_cond_signal(&buf_cv);
    pthread_mutex_unlock(&buf_lock);
    if (running)
        pthread_join(writer, NULL);
    pthread_mutex_lock(&buf_lock);
    closing = false;
    pthread_mutex_unlock(&buf_lock);
}

void log_request(const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;

    if (!log_requests_on())
        return;
    va_start(ap, fmt);
    size_t n = format_line(line, LOG_INFO, fmt, ap);
    va_end(ap);

    (void)pthread_once(&writer_once, start_writer);
    pthread_mutex_lock(&buf_lock);
    if (writer_on) {
        if (pending_len + n <= LOG_BUF_BYTES) {
            memcpy(pending + pending_len, line, n);
            pending_len += n;
            /* Wake the log thread when its wait starts (the first line)
             * and when it should not wait any longer (half full). */
            if (pending_len == n ||
                (pending_len >= LOG_BUF_BYTES / 2 && pending_len - n < LOG_BUF_BYTES / 2))
                pthread_cond_signal(&buf_cv);
        } else if (dropped++ == 0) {
            pthread_cond_signal(&buf_cv);
        }
        pthread_mutex_unlock(&buf_lock);
        return;
    }
    pthread_mutex_unlock(&buf_lock);
    /* No log thread (it could not start, or log_close has run). */
    pthread_mutex_lock(&out_lock);
    flush_pending();
    write_all(line, n);
    pthread_mutex_unlock(&out_lock);
}

const char *log_escape(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;

    if (cap == 0)
        return out;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= 0x20 && c <= 0x7e && c != '\\' && c != '"';
        size_t need = plain ? 1 : 4;
        if (o + need + 1 > cap)
            break;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    if (i < len) { /* cut: say so */
        /* Back off whole escapes: a written '\\' always starts one. */
        while (o > 0 && o + 4 > cap)
            o -= (o >= 4 && out[o - 4] == '\\') ? 4 : 1;
        if (o + 4 <= cap) {
            memcpy(out + o, "...", 3);
            o += 3;
        }
    }
    out[o] = '\0';
    return out;
}

void log_msg(log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;

    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
        return;
    va_start(ap, fmt);
    size_t n = format_line(line, level, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&out_lock);
    flush_pending(); /* the request lines queued before this one first */
    write_all(line, n);
    pthread_mutex_unlock(&out_lock);
}
