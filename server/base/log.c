/* log.c - leveled logging to stderr, one line per event, UTC timestamps. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static bk_log_level threshold = BK_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void bk_log_set_level(bk_log_level level)
{
    threshold = level;
}

int bk_log_level_parse(const char *name, bk_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (bk_log_level)i;
            return 0;
        }
    }
    return -1;
}

void bk_log(bk_log_level level, const char *fmt, ...)
{
    if (level < threshold)
        return;
    struct timeval now;
    gettimeofday(&now, NULL);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(now.tv_usec / 1000), level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent processes sharing a log file do not interleave. */
    fprintf(stderr, "%s\n", line);
}
