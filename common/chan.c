/*
 * chan: imsg channel I/O with descriptor passing.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"

#define CHAN_RBUF	(4 * IMSG_MAX_FRAME)
#define CHAN_IOV	64
#define CHAN_RECV_FDS	8	/* per recvmsg; senders attach one per call */

struct chan_out {
	TAILQ_ENTRY(chan_out)	 entry;
	int			 fd;
	size_t			 len;
	size_t			 off;
	int			 wipe;		/* a password: zero it */
	uint8_t			 data[];
};

/*
 * A received descriptor and the stream bytes of the recvmsg it came with;
 * fd -1 when that recvmsg could not take it (MSG_CTRUNC).
 */
struct chan_rfd {
	int			 fd;
	uint64_t		 from;
	uint64_t		 to;
};

struct chan {
	struct event_base	*base;
	int			 fd;
	char			 peer[32];
	struct event		*rev;
	struct event		*wev;
	uint8_t			*rbuf;
	size_t			 rlen;
	uint64_t		 rpos;		/* stream offset of rbuf[0] */
	struct chan_rfd		 fdq[CHAN_MAX_FDS];
	size_t			 fdq_head;
	size_t			 fdq_count;
	TAILQ_HEAD(, chan_out)	 outq;
	size_t			 outbytes;
	chan_msg_fn		 msg_cb;
	chan_close_fn		 close_cb;
	void			*arg;
	chan_drain_fn		 drain_cb;	/* once, at drain_low */
	void			*drain_arg;
	size_t			 drain_low;
	pid_t			 pid;
	int			 broken;	/* errno once the peer failed */
	int			 closed;	/* close_cb has run */
	int			 in_cb;
	int			 free_pending;
};

static void	chan_read_cb(int, short, void *);
static void	chan_write_cb(int, short, void *);
static void	chan_fail(struct chan *, int);
static void	chan_destroy(struct chan *);

struct chan *
chan_new(struct event_base *base, int fd, const char *peer,
    chan_msg_fn msg_cb, chan_close_fn close_cb, void *arg)
{
	struct chan	*c;
	int		 fl;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->rbuf = malloc(CHAN_RBUF)) == NULL) {
		free(c);
		return NULL;
	}
	c->base = base;
	c->fd = fd;
	strlcpy(c->peer, peer, sizeof(c->peer));
	c->msg_cb = msg_cb;
	c->close_cb = close_cb;
	c->arg = arg;
	c->pid = getpid();
	TAILQ_INIT(&c->outq);
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE, chan_write_cb, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) == -1)
		goto fail;
	return c;
fail:
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	free(c->rbuf);
	free(c);
	return NULL;
}

const char *
chan_peer(const struct chan *c)
{
	return c->peer;
}

int
chan_fd(const struct chan *c)
{
	return c->fd;
}

size_t
chan_queued(const struct chan *c)
{
	return c->outbytes;
}

int
chan_is_broken(const struct chan *c)
{
	return c->broken != 0 || c->closed;
}

/* Report the failure once; reading stops, queued output is dropped. */
static void
chan_fail(struct chan *c, int err)
{
	if (c->closed)
		return;
	c->closed = 1;
	c->broken = err;
	event_del(c->rev);
	event_del(c->wev);
	c->in_cb++;
	c->close_cb(c, err, c->arg);
	c->in_cb--;
	if (c->free_pending && c->in_cb == 0)
		chan_destroy(c);
}

static int	chan_queue(struct chan *, uint32_t, uint64_t, int,
		    const void *, size_t, int);

int
chan_send(struct chan *c, uint32_t type, uint64_t peerid, int fd,
    const void *data, size_t len)
{
	return chan_queue(c, type, peerid, fd, data, len, 0);
}

int
chan_send_secret(struct chan *c, uint32_t type, uint64_t peerid,
    const void *data, size_t len)
{
	return chan_queue(c, type, peerid, -1, data, len, 1);
}

static void
out_free(struct chan_out *o)
{
	if (o->wipe)
		explicit_bzero(o->data, o->len);
	free(o);
}

static int
chan_queue(struct chan *c, uint32_t type, uint64_t peerid, int fd,
    const void *data, size_t len, int wipe)
{
	struct imsg_hdr	 hdr;
	struct chan_out	*o;
	int		 err;

	if (c->closed || c->broken) {
		err = EPIPE;
		goto fail;
	}
	if (imsg_encode_hdr(&hdr, type, peerid, (uint32_t)c->pid, fd != -1,
	    len) == -1) {
		err = EMSGSIZE;
		goto fail;
	}
	/* No log_warnx here: the log itself comes this way (chan.h). */
	if (c->outbytes + hdr.len > CHAN_MAX_QUEUED) {
		err = ENOBUFS;
		goto fail;
	}
	if ((o = malloc(sizeof(*o) + hdr.len)) == NULL) {
		err = ENOMEM;
		goto fail;
	}
	memcpy(o->data, &hdr, IMSG_HDR_SIZE);
	if (len > 0)
		memcpy(o->data + IMSG_HDR_SIZE, data, len);
	o->fd = fd;
	o->len = hdr.len;
	o->off = 0;
	o->wipe = wipe;
	TAILQ_INSERT_TAIL(&c->outq, o, entry);
	c->outbytes += o->len;
	if (!event_pending(c->wev, EV_WRITE, NULL))
		event_add(c->wev, NULL);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	errno = err;
	return -1;
}

/* After a write: tell whoever waits for the queue to come down. */
static void
chan_drained(struct chan *c)
{
	chan_drain_fn fn = c->drain_cb;

	if (fn == NULL || c->outbytes > c->drain_low)
		return;
	c->drain_cb = NULL;
	fn(c, c->drain_arg);
}

void
chan_on_drain(struct chan *c, size_t low, chan_drain_fn fn, void *arg)
{
	c->drain_cb = fn;
	c->drain_arg = arg;
	c->drain_low = low;
	chan_drained(c);
}


/* One sendmsg: frames up to the next one that carries a descriptor. */
static int
chan_write_some(struct chan *c)
{
	struct iovec	 iov[CHAN_IOV];
	struct msghdr	 msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct chan_out	*o, *next;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	int		 i = 0, fd = -1;

	TAILQ_FOREACH(o, &c->outq, entry) {
		if (i == CHAN_IOV || (i > 0 && o->fd != -1))
			break;
		if (i == 0)
			fd = o->fd;
		iov[i].iov_base = o->data + o->off;
		iov[i].iov_len = o->len - o->off;
		i++;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = i;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	if ((n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)) == -1)
		return -1;
	for (o = TAILQ_FIRST(&c->outq); o != NULL && n > 0; o = next) {
		size_t take, left = o->len - o->off;

		next = TAILQ_NEXT(o, entry);
		/* The descriptor went with this frame's first byte. */
		if (o->fd != -1) {
			close(o->fd);
			o->fd = -1;
		}
		take = (size_t)n < left ? (size_t)n : left;
		o->off += take;
		n -= (ssize_t)take;
		c->outbytes -= take;
		if (o->off == o->len) {
			TAILQ_REMOVE(&c->outq, o, entry);
			out_free(o);
		}
	}
	return 0;
}

static void
chan_write_cb(int fd, short ev, void *arg)
{
	struct chan *c = arg;

	(void)fd;
	(void)ev;
	while (!TAILQ_EMPTY(&c->outq)) {
		if (chan_write_some(c) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			chan_fail(c, errno);
			return;
		}
	}
	if (!TAILQ_EMPTY(&c->outq))
		event_add(c->wev, NULL);
	chan_drained(c);
}

int
chan_flush(struct chan *c, int timeout_ms)
{
	struct pollfd pfd;

	while (!c->closed && !TAILQ_EMPTY(&c->outq)) {
		if (chan_write_some(c) == 0) {
			chan_drained(c);
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
	}
	return TAILQ_EMPTY(&c->outq) ? 0 : -1;
}

int
chan_read_wait(struct chan *c, int timeout_ms)
{
	struct pollfd	pfd;
	int		n;

	if (c->closed || c->free_pending) {
		errno = EPIPE;
		return -1;
	}
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	if ((n = poll(&pfd, 1, timeout_ms)) == -1)
		return errno == EINTR ? 0 : -1;
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	chan_read_cb(c->fd, EV_READ, c);
	if (c->closed) {
		errno = EPIPE;
		return -1;
	}
	return 0;
}

static int
chan_push_fd(struct chan *c, int fd, uint64_t from, uint64_t to)
{
	struct chan_rfd *q;

	if (c->fdq_count == CHAN_MAX_FDS)
		return -1;
	q = &c->fdq[(c->fdq_head + c->fdq_count) % CHAN_MAX_FDS];
	q->fd = fd;
	q->from = from;
	q->to = to;
	c->fdq_count++;
	return 0;
}

/*
 * Take the descriptors of one recvmsg, bytes from..to, into the FIFO;
 * how many, or -1 for a control message we do not take.
 */
static int
chan_take_fds(struct chan *c, struct msghdr *msg, uint64_t from,
    uint64_t to)
{
	struct cmsghdr	*cmsg;
	int		 fd, ok = 1, taken = 0;
	size_t		 i, n;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS) {
			ok = 0;
			continue;
		}
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (chan_push_fd(c, fd, from, to) == -1) {
				close(fd);
				ok = 0;
			} else
				taken++;
		}
	}
	return ok ? taken : -1;
}

/*
 * MSG_CTRUNC: the kernel could not give us the descriptors of this
 * recvmsg (we are out of descriptors, or the buffer was short).  A recvmsg
 * reads nothing past the first segment that carries descriptors, and
 * chan_send attaches at most one per sendmsg, so exactly one was lost:
 * the one of the frame that starts in from..to.  Note it, so that frame
 * alone fails; if some did come, the peer sent more than one and is
 * broken.
 */
static int
chan_lost_fd(struct chan *c, int taken, uint64_t from, uint64_t to)
{
	if (taken != 0 || from == to) {
		log_warnx("channel to %s: %s", c->peer, taken != 0 ?
		    "more than one descriptor in one message" :
		    "descriptors without data");
		return -1;
	}
	if (chan_push_fd(c, -1, from, to) == -1) {
		log_warnx("channel to %s: too many descriptors unclaimed",
		    c->peer);
		return -1;
	}
	log_debug("channel to %s: a descriptor was lost in transit",
	    c->peer);
	return 0;
}

/*
 * The kernel returns a descriptor in the recvmsg that reads the first byte
 * of the sendmsg it was attached to (data queued before that may come in
 * the same call, nothing after it), and chan_send attaches it to its
 * frame's first byte.  So the frame that starts at stream offset pos may
 * take the next descriptor only if it came in the recvmsg that brought
 * pos: one that came before belongs to a frame already dispatched, one
 * that came after to a later frame.  Within one recvmsg, FIFO order.
 */
static int
chan_pop_fd(struct chan *c, uint64_t pos, int *fd)
{
	struct chan_rfd *q;

	if (c->fdq_count == 0)
		return -1;
	q = &c->fdq[c->fdq_head];
	if (q->from > pos || q->to <= pos)
		return -1;
	c->fdq_head = (c->fdq_head + 1) % CHAN_MAX_FDS;
	c->fdq_count--;
	*fd = q->fd;
	return 0;
}

/* A descriptor that came before pos, the start of every frame left. */
static int
chan_fd_unclaimed(const struct chan *c, uint64_t pos)
{
	return c->fdq_count > 0 && c->fdq[c->fdq_head].to <= pos;
}

static void
chan_close_fds(struct chan *c)
{
	while (c->fdq_count > 0) {
		if (c->fdq[c->fdq_head].fd != -1)
			close(c->fdq[c->fdq_head].fd);
		c->fdq_head = (c->fdq_head + 1) % CHAN_MAX_FDS;
		c->fdq_count--;
	}
}

/* Decode and dispatch every whole frame in the read buffer. */
static void
chan_dispatch(struct chan *c)
{
	struct imsg	imsg;
	size_t		off = 0, used;
	uint64_t	pos;
	enum imsg_decode_result r;

	while (!c->closed && !c->free_pending) {
		pos = c->rpos + off;
		if (chan_fd_unclaimed(c, pos)) {
			log_warnx("channel to %s: descriptor sent with a "
			    "frame that does not claim it", c->peer);
			chan_fail(c, EPROTO);
			return;
		}
		r = imsg_decode(c->rbuf + off, c->rlen - off, &imsg, &used);
		if (r == IMSG_DECODE_MORE)
			break;
		if (r == IMSG_DECODE_BAD) {
			log_warnx("channel to %s: malformed frame", c->peer);
			chan_fail(c, EPROTO);
			return;
		}
		if (imsg.hdr.flags & IMSG_F_FD) {
			if (chan_pop_fd(c, pos, &imsg.fd) == -1) {
				log_warnx("channel to %s: frame claims a "
				    "descriptor that did not come with it",
				    c->peer);
				chan_fail(c, EPROTO);
				return;
			}
			/* Lost on the way: this frame fails, not the peer. */
			if (imsg.fd == -1)
				imsg.hdr.flags |= IMSG_F_FD_LOST;
		}
		off += used;
		c->msg_cb(c, &imsg, c->arg);
	}
	if (off > 0 && !c->closed && !c->free_pending) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
		c->rpos += off;
	}
}

static void
chan_read_cb(int fd, short ev, void *arg)
{
	struct chan	*c = arg;
	struct iovec	 iov;
	struct msghdr	 msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(CHAN_RECV_FDS * sizeof(int))];
	} cmsgbuf;
	ssize_t		 n;
	uint64_t	 from;
	int		 taken;

	(void)fd;
	(void)ev;
	from = c->rpos + c->rlen;
	iov.iov_base = c->rbuf + c->rlen;
	iov.iov_len = CHAN_RBUF - c->rlen;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		chan_fail(c, errno);
		return;
	}
	if ((taken = chan_take_fds(c, &msg, from, from + (uint64_t)n)) ==
	    -1) {
		log_warnx("channel to %s: unexpected control message",
		    c->peer);
		chan_fail(c, EPROTO);
		return;
	}
	if ((msg.msg_flags & MSG_CTRUNC) &&
	    chan_lost_fd(c, taken, from, from + (uint64_t)n) == -1) {
		chan_fail(c, EPROTO);
		return;
	}
	if (n == 0) {
		if (c->rlen > 0)
			log_warnx("channel to %s: end of stream inside a "
			    "frame", c->peer);
		chan_fail(c, c->rlen > 0 ? EPROTO : 0);
		return;
	}
	c->rlen += (size_t)n;
	c->in_cb++;
	chan_dispatch(c);
	c->in_cb--;
	if (c->free_pending && c->in_cb == 0)
		chan_destroy(c);
}

static void
chan_destroy(struct chan *c)
{
	struct chan_out *o;

	while ((o = TAILQ_FIRST(&c->outq)) != NULL) {
		TAILQ_REMOVE(&c->outq, o, entry);
		if (o->fd != -1)
			close(o->fd);
		out_free(o);
	}
	chan_close_fds(c);
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	free(c->rbuf);
	free(c);
}

void
chan_free(struct chan *c)
{
	if (c == NULL)
		return;
	if (c->in_cb > 0) {
		c->free_pending = 1;
		event_del(c->rev);
		event_del(c->wev);
		return;
	}
	chan_destroy(c);
}
