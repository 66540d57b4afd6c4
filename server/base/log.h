/* log.h - leveled logging to stderr.
 *
 * Never log tokens, passwords or message texts: logs are read by more people
 * than the conversations they describe. */
#ifndef BK_LOG_H
#define BK_LOG_H

typedef enum { BK_LOG_DEBUG, BK_LOG_INFO, BK_LOG_WARN, BK_LOG_ERROR } bk_log_level;

void bk_log_set_level(bk_log_level level);
int bk_log_level_parse(const char *name, bk_log_level *out);
void bk_log(bk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bk_debug(...) bk_log(BK_LOG_DEBUG, __VA_ARGS__)
#define bk_info(...)  bk_log(BK_LOG_INFO, __VA_ARGS__)
#define bk_warn(...)  bk_log(BK_LOG_WARN, __VA_ARGS__)
#define bk_error(...) bk_log(BK_LOG_ERROR, __VA_ARGS__)

#endif
