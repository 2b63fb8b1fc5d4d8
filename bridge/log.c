#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

static int log__syslog;
static int log__journal;
static enum log_level log__level = MBLOG_INFO;

/* systemd sets JOURNAL_STREAM="<st_dev>:<st_ino>" of the stream it connects
 * to stdout/stderr (systemd.exec(5)). It is inherited by children whose
 * stderr may go elsewhere, so compare it with what stderr really is. */
static bool log__stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char tail;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int use_syslog, int verbose)
{
	log__syslog = use_syslog;
	log__journal = !use_syslog && log__stderr_is_journal();
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

bool log_enabled(enum log_level level)
{
	return level <= log__level;
}

/* One UTF-8 sequence at p (n bytes left, p[0] >= 0x80): its length when it
 * is well formed, shortest form, no surrogate, at most U+10FFFF and no C1
 * control character (U+0080..U+009F, which terminals obey as controls);
 * else 0. */
static size_t log__utf8(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1Fu;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0Fu;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	if (cp < 0xA0 || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* log_escape (clean 0) or log_clean (clean 1). */
static size_t log__filter(char *out, size_t cap, const char *in, size_t len, int clean)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	if (!cap)
		return 0;
	for (size_t i = 0; i < len;) {
		char esc[4];
		size_t n = 0, run = 1;
		unsigned char c = p[i];
		if (c == '\\' && !clean) {
			esc[n++] = '\\';
			esc[n++] = '\\';
		} else if (c < 0x20 || c == 0x7f ||
			   (c >= 0x80 && !(run = log__utf8(p + i, len - i)))) {
			if (clean) {
				esc[n++] = ' ';
			} else if (c == '\n' || c == '\r' || c == '\t') {
				esc[n++] = '\\';
				esc[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			} else {
				esc[n++] = '\\';
				esc[n++] = 'x';
				esc[n++] = hex[c >> 4];
				esc[n++] = hex[c & 15];
			}
		}
		if (n) {
			if (o + n >= cap)
				break;
			memcpy(out + o, esc, n);
			o += n;
			i++;
			continue;
		}
		if (o + run >= cap)
			break;
		memcpy(out + o, p + i, run);
		o += run;
		i += run;
	}
	out[o] = '\0';
	return o;
}

size_t log_escape(char *out, size_t cap, const char *in, size_t len)
{
	return log__filter(out, cap, in, len, 0);
}

size_t log_clean(char *out, size_t cap, const char *in, size_t len)
{
	return log__filter(out, cap, in, len, 1);
}

const char *log_redact_url(const char *url, char *out, size_t cap)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : NULL;
	const char *end = host ? host + strcspn(host, "/?#") : NULL;
	const char *at = NULL;

	for (const char *p = host; p && p < end; p++)
		if (*p == '@')
			at = p; /* the last one: a password may hold '@' */
	if (!at)
		snprintf(out, cap, "%s", url);
	else
		snprintf(out, cap, "%.*s***%s", (int)(host - url), url, at);
	return out;
}

/* The prefix ("12:00:00.000 info: ", "<6>info: " or none for syslog), the
 * escaped message and the line end, written at once. */
static void log__emit(enum log_level level, const char *msg, size_t len)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char tag[][8] = {"error", "warning", "info", "debug"};
	char small[2048], *line = small;
	size_t cap = sizeof small, o = 0;

	/* At most four bytes out for one in, the prefix and "\n". */
	if (len > (sizeof small - 64) / 4) {
		cap = len * 4 + 64;
		if (!(line = malloc(cap))) {
			line = small;
			cap = sizeof small;
		}
	}
	if (log__syslog) {
		log_escape(line, cap, msg, len);
		syslog(prio[level], "%s", line);
	} else {
		if (log__journal) {
			/* sd-daemon(3)'s prefix; the word stays for people
			 * reading `journalctl -o cat`. */
			o = (size_t)snprintf(line, cap, "<%d>%s: ", prio[level], tag[level]);
		} else {
			struct timespec ts;
			struct tm tm;
			clock_gettime(CLOCK_REALTIME, &ts);
			localtime_r(&ts.tv_sec, &tm);
			o = (size_t)snprintf(line, cap, "%02d:%02d:%02d.%03ld %s: ", tm.tm_hour,
					     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
					     tag[level]);
		}
		o += log_escape(line + o, cap - o - 1, msg, len);
		line[o++] = '\n';
		fwrite(line, 1, o, stderr);
	}
	if (line != small)
		free(line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char small[1024], *msg = small;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof small && (msg = malloc((size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	} else if (!msg) {
		msg = small;
		n = (int)sizeof small - 1;
	}
	log__emit(level, msg, (size_t)n);
	if (msg != small)
		free(msg);
}

void log_text(enum log_level level, const char *text)
{
	if (!log_enabled(level))
		return;
	for (const char *line = text; *line;) {
		size_t n = strcspn(line, "\n");
		if (n)
			log__emit(level, line, n);
		line += n;
		if (*line)
			line++;
	}
}
