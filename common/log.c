/*
 * Logging: one line per event, to syslog, stderr or a forwarding sink.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "log.h"
#include "text.h"

static int	 log_debug_mode;
static int	 log_verbose;
static char	 log_proc[32] = "relayd";
static log_sink_fn log_sink;
static void	*log_sink_arg;
static void	(*log_fatal_hook)(void);
static int	 log_redacting;
static log_writer_fn log_writer;

static void	log_vline(int, const char *, va_list, int)
		    __attribute__((format(printf, 2, 0)));

void
log_init(int debug, int verbose, const char *procname)
{
	log_debug_mode = debug;
	log_verbose = verbose;
	log_set_procname(procname);
	if (!debug)
		openlog("relayd", LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

void
log_set_verbose(int v)
{
	log_verbose = v;
}

int
log_get_verbose(void)
{
	return log_verbose;
}

void
log_set_procname(const char *name)
{
	strlcpy(log_proc, name, sizeof(log_proc));
}

const char *
log_procname(void)
{
	return log_proc;
}

void
log_set_sink(log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

void
log_set_fatal_hook(void (*fn)(void))
{
	log_fatal_hook = fn;
}

void
log_set_writer(log_writer_fn fn)
{
	log_writer = fn;
}

void
log_set_redact(int on)
{
	log_redacting = on;
}

const char *
log_addr(char *buf, size_t sz, int on, const char *key, const char *addr)
{
	if (!on)
		return "";
	snprintf(buf, sz, " %s=<%s>", key, addr);
	return buf;
}

/* Write one finished line where the parent sends its log. */
void
log_emit(int pri, const char *procname, const char *line)
{
	struct timeval	tv;
	struct tm	tm;
	char		ts[32], clean[LOG_LINE_MAX];

	/* The last word on addresses: whatever a peer's text held. */
	if (log_redacting && strchr(line, '@') != NULL) {
		text_redact(line, clean, sizeof(clean));
		line = clean;
	}
	/* log.file, or syslog if it cannot be written; with -d, stderr too. */
	if (log_writer != NULL && log_writer(pri, procname, line) == 0) {
		if (!log_debug_mode)
			return;
	} else if (!log_debug_mode) {
		syslog(pri, "%s: %s", procname, line);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s: %s\n", ts, (long)(tv.tv_usec / 1000),
	    procname, line);
}

static void
log_vline(int pri, const char *fmt, va_list ap, int with_errno)
{
	char	line[LOG_LINE_MAX];
	int	saved = errno, n;
	size_t	i;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		strlcpy(line, "(log format error)", sizeof(line));
	if (with_errno) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, ": %s",
		    strerror(saved));
	}
	/* One event, one line: never let a peer's text break the format. */
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (log_sink != NULL)
		log_sink(pri, line, log_sink_arg);
	else
		log_emit(pri, log_proc, line);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_WARNING, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void
log_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	log_vline(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
log_flush(void)
{
	if (log_fatal_hook != NULL)
		log_fatal_hook();
}

static void __attribute__((noreturn))
fatal_exit(void)
{
	if (log_fatal_hook != NULL)
		log_fatal_hook();
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_CRIT, fmt, ap, 1);
	va_end(ap);
	fatal_exit();
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	fatal_exit();
}
