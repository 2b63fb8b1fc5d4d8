/* Logging: stderr in the foreground, syslog with --syslog (OpenWrt's logd).
 * Under systemd's journal (JOURNAL_STREAM names our stderr) each line starts
 * with its syslog priority, "<3>" .. "<7>", and carries no time stamp: the
 * journal stamps lines itself and reads the level from the prefix.
 *
 * A message is one line, whatever it holds: much of what is logged comes
 * from peers (an InfluxDB server's error text, a device's MQTT error, a
 * logger's reply, an HTTP user name), and a newline in it would start a line
 * of the peer's making, on the journal with a priority of its choosing. So
 * every message is escaped once formatted (log_escape): the format strings
 * hold no backslash or control character, so our own text stays as it is. */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { MBLOG_ERR, MBLOG_WARN, MBLOG_INFO, MBLOG_DEBUG };

void log_init(int use_syslog, int verbose);
void log_close(void);
/* Show messages up to this level (MBLOG_INFO unless set). */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text of our own with several lines (a map's lint report): each line a
 * message of its own. */
void log_text(enum log_level level, const char *text);

/* in[0..len) for a log line, into out (cap bytes, NUL-terminated, cut short
 * rather than overflowed): a backslash is doubled; newline, carriage return
 * and tab become \n, \r and \t; other control characters (below 0x20 and
 * 0x7f), C1 controls and bytes that are not well-formed UTF-8 become \xNN;
 * other UTF-8 passes through. Returns the length written; 4 * len + 1 bytes
 * always suffice. */
size_t log_escape(char *out, size_t cap, const char *in, size_t len);
/* The same, for a peer's text kept to be shown (a server's error message in
 * a status document): what log_escape would escape, the backslash aside,
 * becomes a space. cap >= len + 1 always suffices. */
size_t log_clean(char *out, size_t cap, const char *in, size_t len);
/* url with the credentials before its host ("user:password@") replaced by
 * three asterisks ("admin:pw@influx:8086" becomes "***@influx:8086"), into
 * out: for everything that shows a URL (status documents, the log,
 * --check). A URL without credentials is copied as it is. */
const char *log_redact_url(const char *url, char *out, size_t cap);

#define log_err(...) log_msg(MBLOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(MBLOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(MBLOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(MBLOG_DEBUG))                                                      \
			log_msg(MBLOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
