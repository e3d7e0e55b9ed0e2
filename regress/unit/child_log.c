/*
 * child_log: a child's log sink when the parent does not read.
 *
 * The sink sends each line over the channel to the parent.  With nobody
 * reading, the lines must neither fill the channel (its limit is what
 * protocol messages need) nor make chan_send log about the full channel
 * through the same sink, again and again, until the stack runs out.
 * What is dropped is counted, and said in one line once the channel has
 * drained; lines logged by other threads are counted the same way.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "tap.h"

#define NLINES		150000		/* ~150 MB of log, > CHAN_MAX_QUEUED */
#define NTHREAD		3000		/* more than a thread may queue */

/* The parent's end: frames read and what the M_LOG lines said. */
struct reader {
	int		 fd;
	uint8_t		*buf;
	size_t		 len;
	size_t		 cap;
	long		 main_lines;	/* "main N" received */
	long		 thread_lines;	/* "thread N" received */
	long		 after;		/* "after" received */
	long		 dropped_lines;	/* "dropped N log lines" lines */
	unsigned long long dropped;	/* the Ns, summed */
	long		 main_after_report; /* main lines after a report */
	long		 out_of_order;
	long		 protocol;	/* our non-log frame */
	int		 bad;
};

static void
on_msg(struct chan *c, struct imsg *imsg, void *arg)
{
	(void)c;
	(void)imsg;
	(void)arg;
}

static void
on_close(struct chan *c, int err, void *arg)
{
	(void)c;
	(void)err;
	(void)arg;
}

static void
take_line(struct reader *r, const char *line)
{
	unsigned long long n;
	long i;

	if (sscanf(line, "main %ld", &i) == 1) {
		if (i != r->main_lines)
			r->out_of_order++;
		r->main_lines++;
		if (r->dropped_lines > 0)
			r->main_after_report++;
	} else if (sscanf(line, "thread %ld", &i) == 1)
		r->thread_lines++;
	else if (strcmp(line, "after") == 0)
		r->after++;
	else if (sscanf(line, "dropped %llu log lines", &n) == 1) {
		r->dropped_lines++;
		r->dropped += n;
	} else {
		diag("unexpected line: %s", line);
		r->bad++;
	}
}

/* Read what is there and decode the whole frames. */
static void
reader_poll(struct reader *r)
{
	struct imsg	 imsg;
	struct mr	 m;
	char		 line[LOG_LINE_MAX];
	size_t		 off = 0, used;
	ssize_t		 n;

	for (;;) {
		if (r->cap - r->len < 65536) {
			r->cap = r->cap * 2 + 65536;
			if ((r->buf = realloc(r->buf, r->cap)) == NULL)
				abort();
		}
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	while (imsg_decode(r->buf + off, r->len - off, &imsg, &used) ==
	    IMSG_DECODE_FRAME) {
		off += used;
		if (imsg.hdr.type != M_LOG) {
			r->protocol++;
			continue;
		}
		mr_init(&m, imsg.data, imsg.datalen);
		(void)mr_u8(&m);
		mr_str(&m, line, sizeof(line));
		if (mr_end(&m) == -1) {
			r->bad++;
			continue;
		}
		take_line(r, line);
	}
	memmove(r->buf, r->buf + off, r->len - off);
	r->len -= off;
}

/* Run the child's loop and the parent's reading until all is through. */
static void
drain(struct event_base *base, struct chan *ch, struct reader *r)
{
	struct pollfd	pfd;
	int		idle = 0;

	while (idle < 20) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		reader_poll(r);
		pfd.fd = r->fd;
		pfd.events = POLLIN;
		if (chan_queued(ch) == 0 && poll(&pfd, 1, 10) == 0)
			idle++;
		else
			idle = 0;
	}
}

static void *
thread_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NTHREAD; i++)
		log_info("thread %d", i);
	return NULL;
}

int
main(void)
{
	static struct child	 c;
	struct reader		 r;
	struct chan		*ch;
	pthread_t		 th;
	char			 pad[1001];
	size_t			 most = 0;
	int			 sv[2], i;

	memset(&r, 0, sizeof(r));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		return 1;
	r.fd = sv[1];
	log_init(1, 0, "unit");
	if ((c.base = event_base_new()) == NULL ||
	    (ch = chan_new(c.base, sv[0], "parent", on_msg, on_close,
	    NULL)) == NULL)
		return 1;
	c.chan[PROC_PARENT] = ch;
	child_log_init(&c);

	/* The parent reads nothing; the event loop does not even run. */
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (i = 0; i < NLINES; i++) {
		log_info("main %d %s", i, pad);
		if (chan_queued(ch) > most)
			most = chan_queued(ch);
	}
	ok(1, "%d lines of 1 KB logged to a parent that does not read: no "
	    "recursion, no crash", NLINES);
	ok(most <= CHAN_MAX_QUEUED / 2, "the channel held at most %zu bytes "
	    "of log (limit %u)", most, CHAN_MAX_QUEUED);
	ok(chan_send(ch, M_STATUS, 1, -1, "x", 1) == 0,
	    "a protocol message still fits");

	drain(c.base, ch, &r);
	ok(r.bad == 0, "every frame read was a well-formed log line");
	is_int(r.protocol, 1, "the protocol message came through");
	is_int(r.dropped_lines, 1, "one line says lines were dropped");
	ok(r.main_lines > 0 && r.dropped > 0, "%ld lines came, %llu were "
	    "dropped", r.main_lines, r.dropped);
	is_int(r.main_lines + (long long)r.dropped, NLINES,
	    "what came and what was dropped add up to what was logged");
	is_int(r.main_after_report, 0, "the count comes after the lines "
	    "that went through");
	is_int(r.out_of_order, 0, "the lines that came are the first ones, "
	    "in order");

	log_info("after");
	drain(c.base, ch, &r);
	is_int(r.after, 1, "once drained, a line goes through again");
	is_int(r.dropped_lines, 1, "and no second count");

	/* Another thread, with the loop not running: its queue overflows. */
	r.dropped = 0;
	r.dropped_lines = 0;
	if (pthread_create(&th, NULL, thread_main, NULL) != 0 ||
	    pthread_join(th, NULL) != 0)
		return 1;
	drain(c.base, ch, &r);
	ok(r.thread_lines > 0 && r.thread_lines < NTHREAD,
	    "a thread's %d lines: %ld came", NTHREAD, r.thread_lines);
	is_int(r.thread_lines + (long long)r.dropped, NTHREAD,
	    "the thread's lost lines are counted");
	is_int(r.dropped_lines, 1, "in one line");
	free(r.buf);
	return done_testing();
}
