/*
 * log.c — one-line-per-event logging to stderr; see cor/log.h.
 */
#include <cor/log.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char program[64] = "cor";
static int level = -1; /* -1: not yet read from COR_LOG */
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

static void read_env(void)
{
    if (level >= 0)
        return;
    const char *e = getenv("COR_LOG");
    level = COR_LOG_INFO;
    if (e == NULL)
        return;
    if (strcasecmp(e, "error") == 0)
        level = COR_LOG_ERROR;
    else if (strcasecmp(e, "warn") == 0)
        level = COR_LOG_WARN;
    else if (strcasecmp(e, "debug") == 0)
        level = COR_LOG_DEBUG;
}

void cor_log_set_program(const char *name)
{
    snprintf(program, sizeof(program), "%s", name);
}

void cor_log_set_level(enum cor_log_level l)
{
    pthread_once(&level_once, read_env);
    level = (int)l;
}

int cor_log_enabled(enum cor_log_level l)
{
    pthread_once(&level_once, read_env);
    return (int)l <= level;
}

void cor_log(enum cor_log_level l, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (!cor_log_enabled(l))
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, program, (int)getpid(), names[l]);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
