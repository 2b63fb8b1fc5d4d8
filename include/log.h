/* Logging: stderr in the foreground, syslog with --syslog (OpenWrt's logd).
 * Under systemd's journal (JOURNAL_STREAM names our stderr) each line starts
 * with its syslog priority, "<3>" .. "<7>", and carries no time stamp: the
 * journal stamps lines itself and reads the level from the prefix. */
#ifndef LOG_H
#define LOG_H

enum log_level { MBLOG_ERR, MBLOG_WARN, MBLOG_INFO, MBLOG_DEBUG };

void log_init(int use_syslog, int verbose);
void log_close(void);
/* Show messages up to this level (MBLOG_INFO unless set). */
void log_set_level(enum log_level level);
/* Is stderr the journal's stream (JOURNAL_STREAM is "dev:ino" of the file
 * stderr is)? log_init asks it once; exposed for tests. */
int log_stderr_is_journal(void);
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
