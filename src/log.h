/* log.h - one line per event on stderr: "2026-11-28T13:16:47.123Z INFO msg".
 * Used by the service and the CLI front ends; library modules report
 * errors through vc_err instead, except that the vault warns of a damaged
 * record that list or rotate skips (by its record hash). Never log a value;
 * log a key name only as its audit hash. Thread-safe. */
#ifndef VAULTCTL_LOG_H
#define VAULTCTL_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

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

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
