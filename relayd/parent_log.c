/*
 * parent_log: log.file, the parent's own log files, one a day.
 *
 * Every process's lines reach the parent (child_log.c), which writes
 * them here instead of syslog when log.file is set, and to stderr as
 * well with -d.  Days are UTC days of the clock (clock.h).  The file
 * being written is log.file itself; the first line of a new day, or the
 * midnight timer if the log is quiet, renames it to log.file.YYYY-MM-DD
 * (the day it holds) and starts another, so that `tail -f` and grep find
 * today's lines in one place.  A day's file is deleted once
 * retention.logs has passed since its day began: no line is kept longer
 * than that, and each at least that less a day.
 *
 * A line that cannot be written (a full disk) goes to syslog instead,
 * and the first failure says so there.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "relayd.h"

#define DAY		86400
#define DAY_NAME_LEN	10	/* YYYY-MM-DD */

struct logfile {
	char		 path[PATH_MAX];
	char		 dir[PATH_MAX];
	char		 base[NAME_MAX + 1];
	int		 fd;
	int64_t		 day;		/* the clock day the file holds */
	uint32_t	 retention;
	int		 failing;	/* writes fail: said once */
	struct event	*timer;
};

/* One per process, as the log is: log_emit calls us without context. */
static struct logfile	 lf = { .fd = -1 };

static void
logfile_day_name(int64_t day, char *buf, size_t sz)
{
	time_t		t = (time_t)(day * DAY);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, "%Y-%m-%d", &tm);
}

/* "YYYY-MM-DD" (and nothing else) to its day number, or -1. */
static int64_t
day_parse(const char *s)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < DAY_NAME_LEN ||
	    (end = strptime(s, "%Y-%m-%d", &tm)) != s + DAY_NAME_LEN)
		return -1;
	return (int64_t)timegm(&tm) / DAY;
}

/* Open path; the day a file left from before holds is its mtime's. */
static int
file_open(const char *path, int64_t *day)
{
	struct stat	st;
	int		fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, 0640)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	*day = st.st_size > 0 ? clock_at((int64_t)st.st_mtime) / DAY :
	    clock_now() / DAY;
	return fd;
}

/* Days whose first second is retention.logs old or more go. */
static void
days_delete(int64_t now)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[PATH_MAX * 2];
	size_t		 blen = strlen(lf.base);
	int64_t		 day;

	if ((d = opendir(lf.dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, lf.base, blen) != 0 ||
		    e->d_name[blen] != '.' ||
		    (day = day_parse(e->d_name + blen + 1)) == -1)
			continue;
		if (day * DAY + lf.retention > now)
			continue;
		snprintf(path, sizeof(path), "%s/%s", lf.dir, e->d_name);
		if (unlink(path) == 0)
			log_info("log: %s deleted: retention.logs is %ud",
			    path, lf.retention / DAY);
		else
			log_warn("log: %s: cannot delete it", path);
	}
	closedir(d);
}

/* The file's day is over: it takes its day's name, a new one starts. */
static void
rotate(int64_t today)
{
	char	name[DAY_NAME_LEN + 1], to[PATH_MAX + 32];
	int	i, rv = -1;

	logfile_day_name(lf.day, name, sizeof(name));
	snprintf(to, sizeof(to), "%s.%s", lf.path, name);
	/* A day written twice (the clock went back): a second file. */
	for (i = 0; i < 10 && (rv = renameat2(AT_FDCWD, lf.path, AT_FDCWD,
	    to, RENAME_NOREPLACE)) == -1 && errno == EEXIST; i++)
		snprintf(to, sizeof(to), "%s.%s.%d", lf.path, name, i + 1);
	if (rv == -1) {
		/* Keep writing where we are: no line is lost. */
		lf.day = today;
		return;
	}
	close(lf.fd);
	if ((lf.fd = file_open(lf.path, &lf.day)) == -1)
		return;
	lf.day = today;
	days_delete(clock_now());
}

static int
write_line(int pri, const char *procname, const char *line)
{
	struct timeval	 tv;
	struct tm	 tm;
	time_t		 now = (time_t)clock_now();
	char		 buf[LOG_LINE_MAX + 128], ts[32];
	int		 n;

	(void)pri;
	if (lf.fd == -1 && (lf.path[0] == '\0' ||
	    (lf.fd = file_open(lf.path, &lf.day)) == -1))
		return -1;
	if (now / DAY != lf.day)
		rotate(now / DAY);
	if (lf.fd == -1)
		return -1;
	gettimeofday(&tv, NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(buf, sizeof(buf), "%s.%03ldZ %s: %s\n", ts,
	    (long)(tv.tv_usec / 1000), procname, line);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	if (write(lf.fd, buf, (size_t)n) != n) {
		if (!lf.failing) {
			lf.failing = 1;
			syslog(LOG_ERR, "relayd: log.file %s cannot be written "
			    "(%s); logging to syslog until it can",
			    lf.path, strerror(errno));
		}
		return -1;
	}
	lf.failing = 0;
	return 0;
}

static void	logfile_arm(void);

/* Midnight, quiet or not: the day's file takes its name. */
static void
on_midnight(int fd, short ev, void *arg)
{
	int64_t now = clock_now();

	(void)fd;
	(void)ev;
	(void)arg;
	if (lf.fd != -1 && now / DAY != lf.day)
		rotate(now / DAY);
	days_delete(now);
	logfile_arm();
}

/* The timer, for the next midnight of the clock, in real time. */
static void
logfile_arm(void)
{
	int64_t		now = clock_now(), scale = clock_scale();
	int64_t		left = DAY - now % DAY;
	struct timeval	tv;

	/* In real microseconds; a test's clock runs scale times faster. */
	left = left * 1000000 / scale + 1000;
	tv.tv_sec = left / 1000000;
	tv.tv_usec = left % 1000000;
	evtimer_add(lf.timer, &tv);
}

static void
close_file(void)
{
	if (lf.fd != -1)
		close(lf.fd);
	lf.fd = -1;
	lf.path[0] = '\0';
	log_set_writer(NULL);
	if (lf.timer != NULL)
		evtimer_del(lf.timer);
}

/*
 * At start and at each reload: log.file as the configuration says.  A
 * new file that cannot be opened leaves the log where it was.
 */
int
parent_log_conf(struct relayd *env, const struct conf *conf)
{
	char	 dir[PATH_MAX], base[PATH_MAX];
	int64_t	 day;
	int	 fd;

	if (conf->log.file == NULL) {
		if (lf.path[0] != '\0')
			log_info("log: no log.file now; logging to syslog");
		close_file();
		return 0;
	}
	lf.retention = conf->retention.logs;
	if (strcmp(lf.path, conf->log.file) != 0 || lf.fd == -1) {
		if (strlen(conf->log.file) >= sizeof(lf.path) ||
		    (fd = file_open(conf->log.file, &day)) == -1) {
			log_warn("log: log.file %s", conf->log.file);
			return -1;
		}
		close_file();
		strlcpy(lf.path, conf->log.file, sizeof(lf.path));
		strlcpy(dir, lf.path, sizeof(dir));
		strlcpy(base, lf.path, sizeof(base));
		strlcpy(lf.dir, dirname(dir), sizeof(lf.dir));
		strlcpy(lf.base, basename(base), sizeof(lf.base));
		lf.fd = fd;
		lf.day = day;
		log_set_writer(write_line);
	}
	if (lf.timer == NULL && (lf.timer = evtimer_new(env->base,
	    on_midnight, NULL)) == NULL)
		fatalx("log.file timer");
	if (clock_now() / DAY != lf.day)
		rotate(clock_now() / DAY);
	days_delete(clock_now());
	logfile_arm();
	return 0;
}

void
parent_log_close(void)
{
	close_file();
	if (lf.timer != NULL)
		event_free(lf.timer);
	lf.timer = NULL;
}
