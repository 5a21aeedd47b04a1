/* log.h - one line per event on stderr: "2026-11-28T13:16:47.123Z INFO msg".
 * Used by the service and the CLI front ends; library modules report
 * errors through vc_err instead, except that the vault warns of a damaged
 * record that list or rotate skips (by its record hash). Never log a value;
 * log a key name only as its audit hash. Thread-safe. */
#ifndef VAULTCTL_LOG_H
#define VAULTCTL_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level level);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
