/* log.c - stderr logger (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

static log_level min_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(log_level level)
{
    min_level = level;
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
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    struct timespec ts;
    char when[TIMEFMT_RFC3339_LEN];
    va_list ap;

    if (level < min_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    timefmt_rfc3339_ms((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000L, when);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s %s ", when, names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
