#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static int log__syslog;
static enum log_level log__level = MBLOG_INFO;

void log_init(int use_syslog, int verbose)
{
	log__syslog = use_syslog;
	log__level = verbose ? MBLOG_DEBUG : MBLOG_INFO;
	if (use_syslog)
		openlog("modbridge", LOG_PID, LOG_DAEMON);
}

void log_close(void)
{
	if (log__syslog)
		closelog();
	log__syslog = 0;
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
