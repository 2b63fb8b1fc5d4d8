#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

static int log__syslog;
static int log__journal;
static enum log_level log__level = MBLOG_INFO;

/* systemd sets JOURNAL_STREAM="<st_dev>:<st_ino>" of the stream it connects
 * to stdout/stderr (systemd.exec(5)). It is inherited by children whose
 * stderr may go elsewhere, so compare it with what stderr really is. */
int log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char tail;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(2, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int use_syslog, int verbose)
{
	log__syslog = use_syslog;
	log__journal = !use_syslog && log_stderr_is_journal();
	log__level = verbose ? MBLOG_DEBUG : MBLOG_INFO;
	if (use_syslog)
		openlog("modbridge", LOG_PID, LOG_DAEMON);
}

void log_close(void)
{
	if (log__syslog)
		closelog();
	log__syslog = 0;
	log__journal = 0;
}

void log_set_level(enum log_level level)
{
	log__level = level;
}

int log_enabled(enum log_level level)
{
	return level <= log__level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *const tag[] = {"error", "warning", "info", "debug"};
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	if (log__syslog) {
		vsyslog(prio[level], fmt, ap);
	} else if (log__journal) {
		/* sd-daemon(3)'s prefix; the word stays for people reading
		 * `journalctl -o cat`. */
		fprintf(stderr, "<%d>%s: ", prio[level], tag[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000000, tag[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
