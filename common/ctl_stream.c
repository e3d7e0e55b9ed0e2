/*
 * ctl_stream: listings sent in parts, at the pace relayctl reads them.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "child.h"
#include "ctl_stream.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"

struct ctl_stream {
	TAILQ_ENTRY(ctl_stream)	 entry;
	struct child		*c;
	uint64_t		 req;
	char			 what[32];
	ctl_fill_fn		 fill;		/* NULL: a feed */
	ctl_release_fn		 release;
	ctl_lost_fn		 lost;
	void			*arg;
	uint64_t		 nlost;		/* feed: not yet told */
	char			 err[CTL_TEXT_MAX];
	uint64_t		 cursor;
	size_t			 lines;		/* in this part */
	size_t			 bytes;
	uint64_t		 total;		/* lines sent */
	int			 paused;	/* waiting for M_CTL_MORE */
	struct event		*idle;
};

struct ctl_streams {
	TAILQ_HEAD(, ctl_stream) list;
	size_t			 n;
};

static void
send_done(struct child *c, uint64_t req, int ok, const char *err)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)ok);
	mw_str(&w, err ? err : "");
	child_send(c, PROC_PARENT, M_CTL_DONE, req, -1, w.buf, w.len);
}

static struct ctl_stream *
stream_find(const struct child *c, uint64_t req)
{
	struct ctl_stream *s;

	if (c->streams == NULL)
		return NULL;
	TAILQ_FOREACH(s, &c->streams->list, entry)
		if (s->req == req)
			return s;
	return NULL;
}

static void
stream_free(struct ctl_stream *s)
{
	struct ctl_streams *set = s->c->streams;

	TAILQ_REMOVE(&set->list, s, entry);
	set->n--;
	event_free(s->idle);
	if (s->release != NULL)
		s->release(s->arg);
	free(s);
}

static unsigned
idle_limit(const struct child *c)
{
	if (c->conf == NULL || c->conf->timeouts.control == 0)
		return 600;
	return c->conf->timeouts.control;
}

/* Nobody asked for the next part in time: the parent lost track of it. */
static void
stream_idle(int fd, short ev, void *arg)
{
	struct ctl_stream	*s = arg;
	char			 err[128];
	unsigned		 limit = idle_limit(s->c);

	(void)fd;
	(void)ev;
	log_warnx("control: %s (request %llu) abandoned after %llu lines: "
	    "not asked to continue for %us", s->what,
	    (unsigned long long)s->req, (unsigned long long)s->total, limit);
	snprintf(err, sizeof(err), "listing abandoned: not read for %us",
	    limit);
	send_done(s->c, s->req, 0, err);
	stream_free(s);
}

/* One part: as many lines as fill gives, then a pause or the end. */
static void
stream_part(struct ctl_stream *s)
{
	struct timeval	tv = { idle_limit(s->c), 0 };
	int		more;

	more = s->fill(s, s->arg, &s->cursor);
	/* RELAYD_FAIL=listing-pause: a child that sends it all unasked. */
	while (more == 1 && fault_error("listing-pause")) {
		s->lines = 0;
		s->bytes = 0;
		more = s->fill(s, s->arg, &s->cursor);
	}
	if (more != 1) {
		send_done(s->c, s->req, more == 0, more == 0 ? NULL :
		    s->err[0] != '\0' ? s->err : "failed");
		stream_free(s);
		return;
	}
	child_send(s->c, PROC_PARENT, M_CTL_PAUSE, s->req, -1, NULL, 0);
	s->paused = 1;
	evtimer_add(s->idle, &tv);
}

int
ctl_stream_line(struct ctl_stream *s, const char *line)
{
	char		text[CTL_TEXT_MAX];
	struct mw	w;
	size_t		len;

	len = strlcpy(text, line, sizeof(text));
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	/* The first line of a part always goes: every part makes progress. */
	if (s->lines > 0 && (s->lines >= CTL_PART_LINES ||
	    s->bytes + len > CTL_PART_BYTES))
		return -1;
	mw_init(&w);
	mw_str(&w, text);
	child_send(s->c, PROC_PARENT, M_CTL_LINE, s->req, -1, w.buf, w.len);
	s->lines++;
	s->bytes += len;
	s->total++;
	return 0;
}

void
ctl_stream_error(struct ctl_stream *s, const char *err)
{
	strlcpy(s->err, err, sizeof(s->err));
}

/* A new listing or feed for the request, or NULL (answered, released). */
static struct ctl_stream *
stream_new(struct child *c, struct imsg *imsg, const char *what,
    ctl_release_fn release, void *arg)
{
	struct ctl_stream	*s;
	uint64_t		 req = imsg->hdr.peerid;
	char			 err[128];

	if (stream_find(c, req) != NULL)
		child_peer_broken(c, PROC_PARENT, imsg, "request id in use");
	if (c->streams == NULL &&
	    (c->streams = calloc(1, sizeof(*c->streams))) != NULL)
		TAILQ_INIT(&c->streams->list);
	if (c->streams != NULL && c->streams->n >= CTL_STREAMS_MAX) {
		log_warnx("control: %s (request %llu) refused: %d listings "
		    "in progress", what, (unsigned long long)req,
		    CTL_STREAMS_MAX);
		snprintf(err, sizeof(err), "too many listings in progress "
		    "(%d); try again later", CTL_STREAMS_MAX);
		send_done(c, req, 0, err);
		s = NULL;
	} else if (c->streams == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL ||
	    (s->idle = evtimer_new(c->base, stream_idle, s)) == NULL) {
		if (c->streams != NULL)
			free(s);
		send_done(c, req, 0, "out of memory");
		s = NULL;
	}
	if (s == NULL) {
		if (release != NULL)
			release(arg);
		return NULL;
	}
	s->c = c;
	s->req = req;
	strlcpy(s->what, what, sizeof(s->what));
	s->release = release;
	s->arg = arg;
	TAILQ_INSERT_TAIL(&c->streams->list, s, entry);
	c->streams->n++;
	return s;
}

void
ctl_stream_open(struct child *c, struct imsg *imsg, const char *what,
    const char *header, ctl_fill_fn fill, ctl_release_fn release, void *arg)
{
	struct ctl_stream *s;

	if ((s = stream_new(c, imsg, what, release, arg)) == NULL)
		return;
	s->fill = fill;
	if (header != NULL)
		ctl_stream_line(s, header);
	stream_part(s);
}

struct ctl_stream *
ctl_feed_open(struct child *c, struct imsg *imsg, const char *what,
    ctl_lost_fn lost, ctl_release_fn release, void *arg)
{
	struct ctl_stream *s;

	if ((s = stream_new(c, imsg, what, release, arg)) == NULL)
		return NULL;
	s->lost = lost;
	return s;
}

/* A part of a feed is full: the parent asks for the next in its time. */
static void
feed_pause(struct ctl_stream *s)
{
	child_send(s->c, PROC_PARENT, M_CTL_PAUSE, s->req, -1, NULL, 0);
	s->paused = 1;
}

void
ctl_feed_line(struct ctl_stream *s, const char *line)
{
	if (s->paused) {
		s->nlost++;
		return;
	}
	if (ctl_stream_line(s, line) == -1) {
		s->nlost++;
		feed_pause(s);
	}
}

/* The parent asked for more: first what was lost, if anything. */
static void
feed_more(struct ctl_stream *s)
{
	char line[CTL_TEXT_MAX];

	if (s->nlost == 0)
		return;
	s->lost(s->arg, s->nlost, line, sizeof(line));
	s->nlost = 0;
	ctl_stream_line(s, line);
}

void
ctl_stream_more(struct child *c, struct imsg *imsg)
{
	struct ctl_stream *s;

	if (imsg->datalen != 0)
		child_peer_broken(c, PROC_PARENT, imsg, "more");
	/* Abandoned (stream_idle) while the parent asked: it has our ERR. */
	if ((s = stream_find(c, imsg->hdr.peerid)) == NULL)
		return;
	if (!s->paused)
		child_peer_broken(c, PROC_PARENT, imsg, "more before a pause");
	s->paused = 0;
	evtimer_del(s->idle);
	s->lines = 0;
	s->bytes = 0;
	if (s->fill == NULL)
		feed_more(s);
	else
		stream_part(s);
}

void
ctl_stream_cancel(struct child *c, struct imsg *imsg)
{
	struct ctl_stream *s;

	if (imsg->datalen != 0)
		child_peer_broken(c, PROC_PARENT, imsg, "cancel");
	/* Any request may be cancelled; most have ended by then. */
	if ((s = stream_find(c, imsg->hdr.peerid)) == NULL)
		return;
	log_debug("control: %s (request %llu) cancelled after %llu lines: "
	    "relayctl has gone", s->what, (unsigned long long)s->req,
	    (unsigned long long)s->total);
	stream_free(s);
}

size_t
ctl_stream_count(const struct child *c)
{
	return c->streams == NULL ? 0 : c->streams->n;
}
