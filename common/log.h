/*
 * Logging in the OpenBSD manner: log_warn appends strerror(errno),
 * log_warnx does not, fatal/fatalx end the process.
 *
 * The parent writes to syslog (LOG_MAIL) or, with -d, to stderr.  Children
 * install a sink that forwards each line to the parent over their channel,
 * so only the parent talks to syslog.
 */
#ifndef RELAYD_LOG_H
#define RELAYD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

#define LOG_LINE_MAX	2048

typedef void (*log_sink_fn)(int pri, const char *line, void *arg);
/* The parent's log.file: 0 when the line is written. */
typedef int (*log_writer_fn)(int pri, const char *procname,
	    const char *line);

void	log_init(int debug, int verbose, const char *procname);
void	log_set_verbose(int);
int	log_get_verbose(void);
void	log_set_procname(const char *);
const char *log_procname(void);
void	log_set_sink(log_sink_fn, void *);
void	log_emit(int pri, const char *procname, const char *line);
/*
 * The parent, with log.addresses false: every line it writes has its
 * addresses redacted (text_redact), whichever process wrote it.
 */
void	log_set_redact(int);
/* The parent: lines go to fn (log.file) rather than syslog. */
void	log_set_writer(log_writer_fn);
/* " key=<addr>" for a line when on (log.addresses), else "". */
const char *log_addr(char *, size_t, int on, const char *key,
	    const char *addr);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* LOG_ERR: something is wrong that an operator must look at. */
void	log_errx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Called by fatal() before exit, e.g. to flush the parent channel. */
void	log_set_fatal_hook(void (*)(void));
/* Push out what is queued for the parent now (the same hook). */
void	log_flush(void);

#endif
