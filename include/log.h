/* Logging: stderr in the foreground, syslog with --syslog (OpenWrt's logd). */
#ifndef LOG_H
#define LOG_H

enum log_level { MBLOG_ERR, MBLOG_WARN, MBLOG_INFO, MBLOG_DEBUG };

void log_init(int use_syslog, int verbose);
void log_close(void);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(MBLOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(MBLOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(MBLOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(MBLOG_DEBUG))                                                      \
			log_msg(MBLOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
