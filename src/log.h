/* log.h - one line per event on stderr: "2026-11-28T13:16:47.123Z INFO msg".
 * Used by the service and the CLI front ends; library modules report
 * errors through vc_err instead, except that the vault warns of a damaged
 * record that list or rotate skips (by its record hash). Never log a value;
 * log a key name only as its audit hash. Thread-safe.
 *
 * Two kinds of line:
 *   - events (log_msg, log_info, ...): rare; written to stderr by the
 *     calling thread, after every request line queued before them, so the
 *     log stays in order;
 *   - request lines (log_request): one per request, an access log. Off
 *     unless log.requests is set (log_set_requests) or the level is debug.
 *     When on, they never touch stderr on the caller's thread: the line is
 *     formatted into a buffer and a log thread (started with the first
 *     line) writes the buffer in bursts, at the latest LOG_FLUSH_MS after a
 *     line was queued, and at log_close / exit. If the buffer is full the
 *     line is dropped and counted, and the count is logged as a warning at
 *     the next burst. */
#ifndef VAULTCTL_LOG_H
#define VAULTCTL_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* A request line is written at the latest this long after it was queued. */
#define LOG_FLUSH_MS 100

void log_set_level(log_level level);

/* Untrusted bytes (subjects, reply subjects) must reach a log line only
 * through log_escape: printable ASCII (0x20-0x7e) is written as it is,
 * except the backslash and the double quote; every other byte, including each byte of a
 * UTF-8 sequence, as \xNN. So a log line never holds a control byte (an
 * ESC cannot reach a terminal), a bidi override or a quote that ends a
 * quoted field, and the original bytes can be read back from it. Writes
 * into out (cap bytes, at least 4), always NUL-terminated; when it does not
 * fit, the end is replaced by "...". Returns out. */
#define LOG_ESCAPED_MAX(n) (4 * (n) + 1) /* room for n bytes escaped */
const char *log_escape(char *out, size_t cap, const char *s, size_t len);

/* log.requests: request lines on (also on at debug level). */
void log_set_requests(bool on);

/* Whether log_request would write a line (a caller may skip its work). */
bool log_requests_on(void);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One request line (INFO), buffered as above; nothing when they are off. */
void log_request(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes what is buffered, reports drops, stops the log thread; later lines
 * are written directly. Registered with atexit when the thread starts;
 * calling it again is harmless. */
void log_close(void);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
