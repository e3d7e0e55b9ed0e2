/*
 * child_log: a child's log lines go to the parent over its channel.
 *
 * The channel belongs to the event loop's thread.  Lines logged by other
 * threads (queued's fsync workers and writer) wait in a locked queue and
 * an eventfd wakes the loop to send them; a thread that must know its
 * line went out (fatal, a crash point) waits for the loop to flush.
 *
 * The log never waits for the parent and never logs about itself: while
 * more than LOG_CHAN_HIGH bytes wait in the channel (the parent is not
 * reading), lines are dropped and counted, and once it has drained to
 * LOG_CHAN_LOW one line says how many were lost.  That keeps most of
 * CHAN_MAX_QUEUED for the protocol, whose messages must not fail.  Only
 * fatal lines are always tried.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"

#define TLOG_MAX	1024	/* lines waiting; more are dropped */
#define LOG_CHAN_HIGH	(CHAN_MAX_QUEUED / 4)
#define LOG_CHAN_LOW	(LOG_CHAN_HIGH / 2)

struct tline {
	int		 pri;
	char		*text;
};

struct child_log {
	struct child	*c;
	pthread_t	 main;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct tline	 q[TLOG_MAX];
	size_t		 n;
	uint64_t	 queued;
	uint64_t	 sent;
	uint64_t	 tdropped;	/* by threads, queue full (mu) */
	uint64_t	 dropped;	/* not yet reported (loop only) */
	int		 dropping;	/* waiting for the channel to drain */
	int		 efd;
	struct event	*ev;
};

static struct child_log *tlog;

static void
put_line(struct chan *ch, int pri, const char *line)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)pri);
	mw_str(&w, line);
	if (!w.err && chan_send(ch, M_LOG, 0, -1, w.buf, w.len) == 0)
		return;
	/* Why the child is dying must not be lost: syslog was opened. */
	if (pri <= LOG_CRIT)
		log_emit(pri, log_procname(), line);
}

/* The channel has come down to LOG_CHAN_LOW: say what was lost. */
static void
log_drained(struct chan *ch, void *arg)
{
	struct child_log	*t = arg;
	char			 line[128];

	t->dropping = 0;
	if (t->dropped == 0)
		return;
	snprintf(line, sizeof(line), "dropped %llu log lines: the parent "
	    "was not reading them", (unsigned long long)t->dropped);
	t->dropped = 0;
	put_line(ch, LOG_WARNING, line);
}

/* Count lines lost; they are told of once the channel is down to low. */
static void
note_dropped(struct child_log *t, struct chan *ch, uint64_t n)
{
	t->dropped += n;
	if (t->dropping)
		return;
	t->dropping = 1;
	chan_on_drain(ch, LOG_CHAN_LOW, log_drained, t);
}

static void
log_to_parent(struct child *c, int pri, const char *line)
{
	struct chan	*ch = c->chan[PROC_PARENT];
	struct child_log *t = tlog;

	if (ch == NULL || chan_is_broken(ch)) {
		log_emit(pri, log_procname(), line);
		return;
	}
	if (t != NULL && pri > LOG_CRIT && (t->dropping ||
	    chan_queued(ch) + strlen(line) > LOG_CHAN_HIGH)) {
		note_dropped(t, ch, 1);
		return;
	}
	put_line(ch, pri, line);
}

static int
on_main_thread(void)
{
	return tlog == NULL || pthread_equal(pthread_self(), tlog->main);
}

static void
sink(int pri, const char *line, void *arg)
{
	struct child	*c = arg;
	uint64_t	 one = 1;

	if (on_main_thread()) {
		log_to_parent(c, pri, line);
		return;
	}
	pthread_mutex_lock(&tlog->mu);
	if (tlog->n < TLOG_MAX &&
	    (tlog->q[tlog->n].text = strdup(line)) != NULL) {
		tlog->q[tlog->n++].pri = pri;
		tlog->queued++;
	} else
		tlog->tdropped++;
	pthread_mutex_unlock(&tlog->mu);
	while (write(tlog->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

/* On the loop: send what other threads logged, then tell them. */
static void
drain(int fd, short ev, void *arg)
{
	struct child_log	*t = arg;
	struct tline		 q[TLOG_MAX];
	struct chan		*ch;
	uint64_t		 v, lost;
	size_t			 i, n;

	(void)ev;
	if (read(fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&t->mu);
	n = t->n;
	memcpy(q, t->q, n * sizeof(q[0]));
	t->n = 0;
	lost = t->tdropped;
	t->tdropped = 0;
	pthread_mutex_unlock(&t->mu);
	for (i = 0; i < n; i++) {
		log_to_parent(t->c, q[i].pri, q[i].text);
		free(q[i].text);
	}
	/* Lines the threads could not queue: told like the others. */
	if (lost > 0 && (ch = t->c->chan[PROC_PARENT]) != NULL &&
	    !chan_is_broken(ch))
		note_dropped(t, ch, lost);
	if (t->c->chan[PROC_PARENT] != NULL)
		chan_flush(t->c->chan[PROC_PARENT], 1000);
	pthread_mutex_lock(&t->mu);
	t->sent += n;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Make sure what was logged has reached the parent (fatal, crashes). */
static void
flush(void)
{
	struct timespec	until;
	uint64_t	target;

	if (on_main_thread()) {
		if (tlog != NULL && tlog->c->chan[PROC_PARENT] != NULL)
			chan_flush(tlog->c->chan[PROC_PARENT], 1000);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&tlog->mu);
	target = tlog->queued;
	while (tlog->sent < target &&
	    pthread_cond_timedwait(&tlog->cv, &tlog->mu, &until) == 0)
		;
	pthread_mutex_unlock(&tlog->mu);
}

void
child_log_init(struct child *c)
{
	struct child_log *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("child log");
	t->c = c;
	t->main = pthread_self();
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if ((t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	if ((t->ev = event_new(c->base, t->efd, EV_READ | EV_PERSIST, drain,
	    t)) == NULL || event_add(t->ev, NULL) == -1)
		fatalx("child log event");
	tlog = t;
	log_set_sink(sink, c);
	log_set_fatal_hook(flush);
}
