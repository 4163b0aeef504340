/*
 * cor/log.h — one line per event on stderr.
 *
 *   2026-11-23T12:00:00.123Z cor-kernel[4242] INFO object 6f1c…: created
 *
 * The level comes from COR_LOG (error, warn, info, debug; default info).
 * Thread-safe: each line is written with one write(2).
 */
#ifndef COR_LOG_H
#define COR_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum cor_log_level { COR_LOG_ERROR, COR_LOG_WARN, COR_LOG_INFO, COR_LOG_DEBUG };

/* Sets the program name shown in each line (copied; default "cor"). */
void cor_log_set_program(const char *name);

/* Overrides COR_LOG. */
void cor_log_set_level(enum cor_log_level level);

/* True when lines of this level are written. */
int cor_log_enabled(enum cor_log_level level);

void cor_log(enum cor_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define cor_log_error(...) cor_log(COR_LOG_ERROR, __VA_ARGS__)
#define cor_log_warn(...) cor_log(COR_LOG_WARN, __VA_ARGS__)
#define cor_log_info(...) cor_log(COR_LOG_INFO, __VA_ARGS__)
#define cor_log_debug(...) cor_log(COR_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
