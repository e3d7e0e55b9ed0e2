/*
 * imsg: the frame codec, the channel over real socketpairs driven by a
 * libevent loop (descriptor passing included), and typed marshalling.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "imsg.h"
#include "log.h"
#include "marshal.h"
#include "tap.h"

#define RUN_MS		5000	/* the longest wait for what must happen */
#define IDLE_MS		100	/* wait for something that must not happen */

struct rx {
	struct chan	*chan;
	int		 nmsg;
	int		 nclose;
	int		 err;
	int		 bad;		/* frames not as sent */
	char		 why[160];	/* the first of them */
	int		 fd_mod;	/* which frames carry a descriptor */
	int		 nfd;		/* descriptors checked good */
	int		 echo;		/* send every frame back */
	int		 expect_lost;	/* descriptors cannot be received */
	int		 nlost;		/* frames that said so */
	int		 free_at;	/* chan_free in msg cb after n frames */
	int		 free_in_close;
};

static struct event_base *base;
static int timed_out;
static int fd_floor;		/* make_fd's descriptors at or above this */
static char last_log[LOG_LINE_MAX];	/* the channel's warnings go here */

/*
 * What frame id carries: type, size, payload bytes, descriptor.
 */
static const size_t sizes[] = {
	0, 1, 2, 3, 7, 8, 23, 24, 25, 100, 511, 512, 4095, 4096, 8000,
	IMSG_MAX_PAYLOAD - 1, IMSG_MAX_PAYLOAD, 0, IMSG_MAX_PAYLOAD
};

static uint32_t
type_for(uint64_t id)
{
	return 1 + (uint32_t)(id % 100);
}

static size_t
size_for(uint64_t id)
{
	uint64_t x;

	if (id < sizeof(sizes) / sizeof(sizes[0]))
		return sizes[id];
	if (id % 10 == 0)
		return IMSG_MAX_PAYLOAD;
	x = id * 6364136223846793005ULL + 1442695040888963407ULL;
	return (size_t)((x >> 33) % (IMSG_MAX_PAYLOAD + 1));
}

static uint8_t
pat(uint64_t id, size_t i)
{
	return (uint8_t)(id * 131 + i * 7 + (i >> 8));
}

static void
fill(uint8_t *buf, uint64_t id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pat(id, i);
}

static int
pattern_ok(const uint8_t *buf, uint64_t id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pat(id, i))
			return 0;
	return 1;
}

/* fd_mod 0: none; 1: every frame; else frames with id % fd_mod == 1. */
static int
has_fd(uint64_t id, int fd_mod)
{
	if (fd_mod == 0)
		return 0;
	return fd_mod == 1 || id % (uint64_t)fd_mod == 1;
}

static void
marker(char *buf, size_t sz, uint64_t id)
{
	snprintf(buf, sz, "marker of frame %llu", (unsigned long long)id);
}

/* A pipe (id % 4 == 1) or a memfd, with the frame's marker to read. */
static int
make_fd_low(uint64_t id)
{
	char	m[64];
	int	p[2], fd;

	marker(m, sizeof(m), id);
	if (id % 4 == 1) {
		if (pipe2(p, O_CLOEXEC) == -1)
			return -1;
		if (write(p[1], m, strlen(m)) != (ssize_t)strlen(m)) {
			close(p[0]);
			p[0] = -1;
		}
		close(p[1]);
		return p[0];
	}
	if ((fd = memfd_create("imsg-test", MFD_CLOEXEC)) == -1)
		return -1;
	if (write(fd, m, strlen(m)) != (ssize_t)strlen(m) ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The same, moved to fd_floor or above when that is set. */
static int
make_fd(uint64_t id)
{
	int fd = make_fd_low(id), high;

	if (fd == -1 || fd_floor == 0)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, fd_floor);
	close(fd);
	return high;
}

static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory itself */
}

/*
 * The receiving side.
 */
static void
rx_note(struct rx *rx, const char *why, uint64_t id)
{
	if (rx->bad++ == 0)
		snprintf(rx->why, sizeof(rx->why), "frame %d (id %llu): %s",
		    rx->nmsg, (unsigned long long)id, why);
}

/* The descriptor of a frame: present exactly when sent, and the right one. */
static void
rx_check_fd(struct rx *rx, struct imsg *imsg)
{
	uint64_t	 id = imsg->hdr.peerid;
	char		 want[64], got[64];
	struct stat	 st;
	ssize_t		 n;
	int		 fl;

	if (!has_fd(id, rx->fd_mod)) {
		if (imsg->fd != -1 || imsg_has_fd(imsg) || imsg_fd_lost(imsg))
			rx_note(rx, "unexpected descriptor", id);
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	if (rx->expect_lost) {
		if (imsg->fd != -1 || !imsg_has_fd(imsg) ||
		    !imsg_fd_lost(imsg))
			rx_note(rx, "descriptor not reported lost", id);
		else
			rx->nlost++;
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	if (imsg->fd == -1 || !imsg_has_fd(imsg) || imsg_fd_lost(imsg)) {
		rx_note(rx, "descriptor missing", id);
		return;
	}
	marker(want, sizeof(want), id);
	memset(got, 0, sizeof(got));
	n = read(imsg->fd, got, sizeof(got) - 1);
	fl = fcntl(imsg->fd, F_GETFD);
	if (fstat(imsg->fd, &st) == -1)
		rx_note(rx, "fstat failed", id);
	else if (n < 0 || strcmp(got, want) != 0)
		rx_note(rx, "descriptor of another frame", id);
	else if ((id % 4 == 1) != (S_ISFIFO(st.st_mode) != 0))
		rx_note(rx, "descriptor of the wrong kind", id);
	else if (fl == -1 || !(fl & FD_CLOEXEC))
		rx_note(rx, "received descriptor is not close-on-exec", id);
	else
		rx->nfd++;
	close(imsg->fd);
}

static void
rx_msg(struct chan *c, struct imsg *imsg, void *arg)
{
	struct rx	*rx = arg;
	uint64_t	 id = imsg->hdr.peerid;

	if (id != (uint64_t)rx->nmsg)
		rx_note(rx, "out of order", id);
	else if (imsg->hdr.type != type_for(id))
		rx_note(rx, "wrong type", id);
	else if (imsg->datalen != size_for(id) ||
	    imsg->hdr.len != IMSG_HDR_SIZE + size_for(id))
		rx_note(rx, "wrong length", id);
	else if (!pattern_ok(imsg->data, id, imsg->datalen))
		rx_note(rx, "payload corrupted", id);
	else if (imsg->hdr.pid != (uint32_t)getpid())
		rx_note(rx, "wrong pid", id);
	rx_check_fd(rx, imsg);
	if (rx->echo && chan_send(c, imsg->hdr.type, id, -1, imsg->data,
	    imsg->datalen) == -1)
		rx_note(rx, "echo refused", id);
	rx->nmsg++;
	if (rx->free_at > 0 && rx->nmsg == rx->free_at) {
		chan_free(c);
		rx->chan = NULL;
	}
}

static void
rx_close(struct chan *c, int err, void *arg)
{
	struct rx *rx = arg;

	rx->nclose++;
	rx->err = err;
	if (rx->free_in_close) {
		chan_free(c);
		rx->chan = NULL;
	}
}

static struct chan *
rx_chan(struct rx *rx, int fd, const char *peer)
{
	memset(rx, 0, sizeof(*rx));
	rx->chan = chan_new(base, fd, peer, rx_msg, rx_close, rx);
	return rx->chan;
}

static void
rx_done(struct rx *rx)
{
	chan_free(rx->chan);
	rx->chan = NULL;
}

/*
 * The loop.
 */
static void
timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	timed_out = 1;
	event_base_loopbreak(base);
}

/* Run the loop until *counter reaches want or ms pass; 1 if it did. */
static int
run_until(const int *counter, int want, int ms)
{
	struct event	*t;
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	timed_out = 0;
	if ((t = evtimer_new(base, timeout_cb, NULL)) == NULL ||
	    evtimer_add(t, &tv) == -1)
		abort();
	while (*counter < want && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return *counter >= want;
}

static void
run_idle(int ms)
{
	int never = 0;

	run_until(&never, 1, ms);
}

/* Queue frames first..last-1; the number chan_send refused. */
static int
send_frames(struct chan *c, int first, int last, int fd_mod)
{
	uint8_t		 buf[IMSG_MAX_PAYLOAD];
	uint64_t	 id;
	int		 fd, refused = 0;

	for (id = (uint64_t)first; id < (uint64_t)last; id++) {
		fill(buf, id, size_for(id));
		fd = -1;
		if (has_fd(id, fd_mod) && (fd = make_fd(id)) == -1)
			refused++;
		if (chan_send(c, type_for(id), id, fd, buf,
		    size_for(id)) == -1)
			refused++;
	}
	return refused;
}

static int
xsocketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		diag("socketpair: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* A raw header; ok to use as the prefix of a frame or on its own. */
static size_t
raw_frame(uint8_t *buf, uint32_t type, uint32_t len, uint32_t flags,
    uint64_t peerid)
{
	struct imsg_hdr h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.len = len;
	h.flags = flags;
	h.pid = (uint32_t)getpid();
	h.peerid = peerid;
	memcpy(buf, &h, sizeof(h));
	return sizeof(h);
}

/* A whole, good frame with id, as chan_send would have written it. */
static size_t
raw_good(uint8_t *buf, uint64_t id)
{
	size_t len = size_for(id);

	raw_frame(buf, type_for(id), IMSG_HDR_SIZE + (uint32_t)len, 0, id);
	fill(buf + IMSG_HDR_SIZE, id, len);
	return IMSG_HDR_SIZE + len;
}

static int
xwrite(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len) {
		diag("write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * imsg_decode and imsg_encode_hdr.
 */
static void
test_decode(void)
{
	uint8_t		 buf[2 * IMSG_MAX_FRAME];
	struct imsg	 m;
	size_t		 used, n, n2;

	n = raw_good(buf, 9);	/* 100 bytes of payload */
	n2 = raw_good(buf + n, 0);	/* empty payload */
	used = 0;
	is_int(imsg_decode(buf, n + n2, &m, &used), IMSG_DECODE_FRAME,
	    "decode: whole frame");
	is_int(used, n, "decode: used is the frame's length");
	ok(m.hdr.type == type_for(9) && m.hdr.peerid == 9 &&
	    m.hdr.flags == 0 && m.hdr.pid == (uint32_t)getpid(),
	    "decode: header fields");
	ok(m.fd == -1 && m.data == buf + IMSG_HDR_SIZE && m.datalen == 100 &&
	    pattern_ok(m.data, 9, m.datalen), "decode: payload in place");
	is_int(imsg_decode(buf + n, n2, &m, &used), IMSG_DECODE_FRAME,
	    "decode: second frame, empty payload");
	ok(used == IMSG_HDR_SIZE && m.datalen == 0, "decode: header only");

	is_int(imsg_decode(buf, 0, &m, &used), IMSG_DECODE_MORE,
	    "decode: nothing yet");
	is_int(imsg_decode(buf, IMSG_HDR_SIZE - 1, &m, &used),
	    IMSG_DECODE_MORE, "decode: partial header");
	is_int(imsg_decode(buf, IMSG_HDR_SIZE, &m, &used), IMSG_DECODE_MORE,
	    "decode: header without payload");
	is_int(imsg_decode(buf, n - 1, &m, &used), IMSG_DECODE_MORE,
	    "decode: payload one byte short");

	raw_frame(buf, 1, IMSG_HDR_SIZE - 1, 0, 0);
	is_int(imsg_decode(buf, sizeof(buf), &m, &used), IMSG_DECODE_BAD,
	    "decode: length below the header size");
	raw_frame(buf, 1, 0, 0, 0);
	is_int(imsg_decode(buf, sizeof(buf), &m, &used), IMSG_DECODE_BAD,
	    "decode: length 0");
	raw_frame(buf, 1, IMSG_MAX_FRAME + 1, 0, 0);
	is_int(imsg_decode(buf, sizeof(buf), &m, &used), IMSG_DECODE_BAD,
	    "decode: length above IMSG_MAX_FRAME");
	is_int(imsg_decode(buf, IMSG_HDR_SIZE, &m, &used), IMSG_DECODE_BAD,
	    "decode: oversized length is bad before the payload comes");
	raw_frame(buf, 1, UINT32_MAX, 0, 0);
	is_int(imsg_decode(buf, sizeof(buf), &m, &used), IMSG_DECODE_BAD,
	    "decode: length 2^32-1");
	raw_frame(buf, 1, IMSG_MAX_FRAME, 0, 0);
	is_int(imsg_decode(buf, IMSG_MAX_FRAME, &m, &used), IMSG_DECODE_FRAME,
	    "decode: length IMSG_MAX_FRAME is fine");
	is_int(m.datalen, IMSG_MAX_PAYLOAD, "decode: IMSG_MAX_PAYLOAD bytes");
	raw_frame(buf, 1, IMSG_HDR_SIZE, 0x2, 0);
	is_int(imsg_decode(buf, IMSG_HDR_SIZE, &m, &used), IMSG_DECODE_BAD,
	    "decode: unknown flag bit 0x2");
	raw_frame(buf, 1, IMSG_HDR_SIZE, IMSG_F_FD | 0x80000000u, 0);
	is_int(imsg_decode(buf, IMSG_HDR_SIZE, &m, &used), IMSG_DECODE_BAD,
	    "decode: unknown flag bit 0x80000000 beside IMSG_F_FD");
	raw_frame(buf, 1, IMSG_HDR_SIZE, IMSG_F_FD, 0);
	is_int(imsg_decode(buf, IMSG_HDR_SIZE, &m, &used), IMSG_DECODE_FRAME,
	    "decode: IMSG_F_FD is a known flag");
	ok(m.fd == -1 && (m.hdr.flags & IMSG_F_FD),
	    "decode: leaves the descriptor to the channel");
	raw_frame(buf, 0, IMSG_HDR_SIZE + 4, 0, 0);
	is_int(imsg_decode(buf, sizeof(buf), &m, &used), IMSG_DECODE_BAD,
	    "decode: type 0");
}

static void
test_encode(void)
{
	struct imsg_hdr	h;
	struct imsg	m;
	uint8_t		buf[IMSG_MAX_FRAME];
	size_t		used;

	is_int(imsg_encode_hdr(&h, 7, 42, 99, 1, IMSG_MAX_PAYLOAD), 0,
	    "encode: IMSG_MAX_PAYLOAD");
	ok(h.type == 7 && h.peerid == 42 && h.pid == 99 &&
	    h.flags == IMSG_F_FD && h.len == IMSG_MAX_FRAME,
	    "encode: header fields");
	memcpy(buf, &h, sizeof(h));
	memset(buf + IMSG_HDR_SIZE, 'x', IMSG_MAX_PAYLOAD);
	is_int(imsg_decode(buf, sizeof(buf), &m, &used), IMSG_DECODE_FRAME,
	    "encode: decodes back");
	is_int(imsg_encode_hdr(&h, 7, 0, 0, 0, IMSG_MAX_PAYLOAD + 1), -1,
	    "encode: IMSG_MAX_PAYLOAD + 1 refused");
	is_int(imsg_encode_hdr(&h, 7, 0, 0, 0, SIZE_MAX), -1,
	    "encode: SIZE_MAX refused");
	is_int(imsg_encode_hdr(&h, 0, 0, 0, 0, 0), -1,
	    "encode: type 0 refused");
}

/*
 * chan over a socketpair.
 */
static void
test_roundtrip(void)
{
	struct rx	 a, b;
	int		 sv[2], n = 400;

	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	rx_chan(&b, sv[1], "b");
	if (!ok(a.chan != NULL && b.chan != NULL, "chan_new"))
		return;
	is_str(chan_peer(a.chan), "a", "chan_peer");
	is_int(chan_fd(b.chan), sv[1], "chan_fd");
	is_int(send_frames(a.chan, 0, n, 0), 0,
	    "%d frames of 0 to IMSG_MAX_PAYLOAD bytes queued", n);
	ok(chan_queued(a.chan) > 0, "chan_queued counts them");
	ok(run_until(&b.nmsg, n, RUN_MS), "all %d frames arrived", n);
	is_int(b.bad, 0, "each as sent: type, peerid, length, payload, pid");
	if (b.bad)
		diag("%s", b.why);
	is_int(chan_queued(a.chan), 0, "nothing left queued");
	ok(a.nclose == 0 && b.nclose == 0, "neither side closed");

	/* Back again: b echoes from inside its message callback. */
	b.echo = 1;
	b.nmsg = 0;
	is_int(send_frames(a.chan, 0, n, 0), 0, "%d frames again", n);
	ok(run_until(&a.nmsg, n, RUN_MS), "echoed back from the callback");
	ok(a.bad == 0 && b.bad == 0, "echoes as sent");
	if (a.bad || b.bad)
		diag("%s%s", a.why, b.why);
	rx_done(&a);
	rx_done(&b);
}

static int
fd_is_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static void
test_refused(void)
{
	uint8_t		 buf[IMSG_MAX_PAYLOAD + 1];
	struct rx	 a, b;
	int		 sv[2], fd;

	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	rx_chan(&b, sv[1], "b");
	memset(buf, 0, sizeof(buf));
	is_int(chan_send(a.chan, 1, 0, -1, buf, IMSG_MAX_PAYLOAD + 1), -1,
	    "chan_send: IMSG_MAX_PAYLOAD + 1 bytes refused");
	fd = make_fd(1);
	is_int(chan_send(a.chan, 1, 0, fd, buf, IMSG_MAX_PAYLOAD + 1), -1,
	    "chan_send: too large with a descriptor refused");
	ok(fd_is_closed(fd), "chan_send: the refused frame's fd was closed");
	is_int(chan_send(a.chan, 0, 0, -1, buf, 1), -1,
	    "chan_send: type 0 refused");
	is_int(chan_queued(a.chan), 0, "chan_send: nothing queued");
	is_int(send_frames(a.chan, 0, 1, 0), 0, "the channel still works");
	ok(run_until(&b.nmsg, 1, RUN_MS) && b.bad == 0 && b.nclose == 0,
	    "and the peer saw only the good frame");
	rx_done(&a);
	rx_done(&b);
}

static void
fd_passing(int n, int fd_mod)
{
	struct rx	 a, b;
	int		 sv[2], nfd, id;

	for (nfd = 0, id = 0; id < n; id++)
		if (has_fd((uint64_t)id, fd_mod))
			nfd++;
	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	rx_chan(&b, sv[1], "b");
	b.fd_mod = fd_mod;
	is_int(send_frames(a.chan, 0, n, fd_mod), 0,
	    "%d frames queued, %d with a pipe or memfd", n, nfd);
	ok(run_until(&b.nmsg, n, RUN_MS), "%d frames arrived", n);
	is_int(b.bad, 0, "frames as sent, each with its own descriptor");
	if (b.bad)
		diag("%s", b.why);
	is_int(b.nfd, nfd, "%d descriptors with the right marker", nfd);
	ok(b.nclose == 0 && !chan_is_broken(b.chan), "channel healthy");
	rx_done(&a);
	rx_done(&b);
}

/* Bytes written raw at a channel, then maybe EOF; how the channel took it. */
struct raw_case {
	struct rx	rx;
	int		sv[2];
};

static int
raw_open(struct raw_case *rc)
{
	if (xsocketpair(rc->sv) == -1)
		return -1;
	if (rx_chan(&rc->rx, rc->sv[1], "raw") == NULL) {
		close(rc->sv[0]);
		close(rc->sv[1]);
		return -1;
	}
	return 0;
}

static void
raw_close(struct raw_case *rc)
{
	rx_done(&rc->rx);
	close(rc->sv[0]);
}

/* What a channel does once raw bytes broke it after one good frame. */
static void
raw_check(struct raw_case *rc, const char *what, int can_write)
{
	uint8_t	buf[IMSG_MAX_FRAME];
	size_t	n;

	ok(run_until(&rc->rx.nclose, 1, RUN_MS), "%s: close callback", what);
	is_int(rc->rx.err, EPROTO, "%s: EPROTO", what);
	ok(rc->rx.nmsg == 1 && rc->rx.nclose == 1 && rc->rx.bad == 0,
	    "%s: the good frame before it came, once", what);
	ok(chan_is_broken(rc->rx.chan), "%s: chan_is_broken", what);
	ok(strncmp(last_log, "channel to raw: ", 16) == 0,
	    "%s: logged (%s)", what, last_log);
	is_int(chan_send(rc->rx.chan, 1, 0, -1, NULL, 0), -1,
	    "%s: chan_send refused on a broken channel", what);
	/* Nothing more is read from a broken peer. */
	if (can_write) {
		n = raw_good(buf, 1);
		xwrite(rc->sv[0], buf, n);
		run_idle(IDLE_MS);
		ok(rc->rx.nmsg == 1 && rc->rx.nclose == 1,
		    "%s: nothing read after", what);
	}
	raw_close(rc);
}

/* One good frame, then bad bytes: the good one counts, then EPROTO. */
static void
raw_bad(const char *what, const void *bad, size_t badlen, int eof)
{
	uint8_t		 buf[IMSG_MAX_FRAME];
	struct raw_case	 rc;
	size_t		 n;

	if (raw_open(&rc) == -1)
		return;
	n = raw_good(buf, 0);
	last_log[0] = '\0';
	if (xwrite(rc.sv[0], buf, n) == -1 || xwrite(rc.sv[0], bad,
	    badlen) == -1 || (eof && shutdown(rc.sv[0], SHUT_WR) == -1))
		diag("raw write failed");
	raw_check(&rc, what, !eof);
}

/* Bytes with nfd descriptors for frame id in one sendmsg. */
static int
raw_sendfd(int sock, const void *buf, size_t len, int nfd, uint64_t id)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	int		 fds[4], i, rv;

	for (i = 0; i < nfd && i < 4; i++)
		fds[i] = make_fd(id);
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = CMSG_SPACE(i * sizeof(int));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(i * sizeof(int));
	memcpy(CMSG_DATA(cmsg), fds, i * sizeof(int));
	rv = sendmsg(sock, &msg, 0) == (ssize_t)len ? 0 : -1;
	while (i-- > 0)
		close(fds[i]);
	if (rv == -1)
		diag("sendmsg failed");
	return rv;
}

/*
 * Descriptors that do not travel with the first byte of the frame that
 * claims them: the FIFO would hand them to the wrong frame.
 */
static void
test_raw_fds(void)
{
	uint8_t		 buf[2 * IMSG_MAX_FRAME];
	struct raw_case	 rc;
	size_t		 n, m;

	if (raw_open(&rc) == -1)
		return;
	last_log[0] = '\0';
	n = raw_good(buf, 0);
	raw_sendfd(rc.sv[0], buf, n, 1, 1);
	n = raw_frame(buf, type_for(1), IMSG_HDR_SIZE, IMSG_F_FD, 1);
	raw_sendfd(rc.sv[0], buf, n, 1, 1);
	raw_check(&rc, "descriptor sent with a frame that does not claim it",
	    1);

	if (raw_open(&rc) == -1)
		return;
	last_log[0] = '\0';
	n = raw_good(buf, 0);
	raw_sendfd(rc.sv[0], buf, n, 1, 1);
	raw_check(&rc, "descriptor with the last frame, none claims it", 1);

	if (raw_open(&rc) == -1)
		return;
	last_log[0] = '\0';
	n = raw_frame(buf, type_for(0), IMSG_HDR_SIZE, IMSG_F_FD, 0);
	raw_sendfd(rc.sv[0], buf, n, 2, 0);
	rc.rx.fd_mod = 1;
	raw_check(&rc, "two descriptors for a frame that claims one", 1);

	if (raw_open(&rc) == -1)
		return;
	last_log[0] = '\0';
	n = raw_good(buf, 0);
	m = raw_frame(buf + n, type_for(1), IMSG_HDR_SIZE + 1, IMSG_F_FD, 1);
	buf[n + m] = pat(1, 0);
	/* Read apart: the kernel glues what is queued before a descriptor. */
	xwrite(rc.sv[0], buf, n + 1);
	run_until(&rc.rx.nmsg, 1, RUN_MS);
	raw_sendfd(rc.sv[0], buf + n + 1, m, 1, 1);
	raw_check(&rc, "descriptor after its frame's first byte", 1);
}

/*
 * Out of descriptors.  The descriptors sent are numbered from fd_floor up
 * and the receiver's limit is lowered to the lowest free number (or one
 * above), so that the kernel cannot give it what comes: MSG_CTRUNC, for
 * real.
 */
static int
lowest_free_fd(void)
{
	int fd, n;

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = fd;
	close(fd);
	return n;
}

static int
limit_fds(int extra, struct rlimit *saved)
{
	struct rlimit	rl;
	int		low = lowest_free_fd();

	if (low == -1 || getrlimit(RLIMIT_NOFILE, saved) == -1)
		return -1;
	rl = *saved;
	rl.rlim_cur = (rlim_t)(low + extra);
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void
unlimit_fds(const struct rlimit *saved)
{
	if (setrlimit(RLIMIT_NOFILE, saved) == -1)
		diag("setrlimit: %s", strerror(errno));
}

/* Frames whose descriptors cannot be received fail alone, in order. */
static void
test_lost_fds(void)
{
	struct rx	 a, b;
	struct rlimit	 saved;
	int		 sv[2], n = 60;

	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	rx_chan(&b, sv[1], "b");
	b.fd_mod = 2;
	b.expect_lost = 1;
	fd_floor = 512;
	is_int(send_frames(a.chan, 0, n, 2), 0, "%d frames queued, %d with a "
	    "descriptor", n, n / 2);
	fd_floor = 0;
	if (!ok(limit_fds(0, &saved) == 0, "receiver out of descriptors"))
		return;
	ok(run_until(&b.nmsg, n, RUN_MS), "%d frames arrived", n);
	unlimit_fds(&saved);
	is_int(b.bad, 0, "each as sent, and each descriptor reported lost");
	if (b.bad)
		diag("%s", b.why);
	is_int(b.nlost, n / 2, "%d frames with fd -1 and imsg_fd_lost", n / 2);
	ok(b.nclose == 0 && !chan_is_broken(b.chan), "channel healthy");

	/* Descriptors come again once there is room. */
	b.expect_lost = 0;
	b.nmsg = 0;
	b.nfd = 0;
	is_int(send_frames(a.chan, 0, n, 2), 0, "%d frames again", n);
	ok(run_until(&b.nmsg, n, RUN_MS) && b.bad == 0 && b.nfd == n / 2,
	    "with their descriptors, each the right one");
	ok(b.nclose == 0 && !chan_is_broken(b.chan), "channel still healthy");
	rx_done(&a);
	rx_done(&b);
}

/* Lost descriptors that break the framing still break the channel. */
static void
test_lost_garbage(void)
{
	uint8_t		 buf[2 * IMSG_MAX_FRAME];
	struct raw_case	 rc;
	struct rlimit	 saved;
	size_t		 n;

	/* Two for one frame, room for one: one came, one was lost. */
	if (raw_open(&rc) == -1)
		return;
	last_log[0] = '\0';
	rc.rx.fd_mod = 2;
	n = raw_good(buf, 0);
	xwrite(rc.sv[0], buf, n);
	run_until(&rc.rx.nmsg, 1, RUN_MS);
	fd_floor = 512;
	n = raw_frame(buf, type_for(1), IMSG_HDR_SIZE, IMSG_F_FD, 1);
	raw_sendfd(rc.sv[0], buf, n, 2, 1);
	fd_floor = 0;
	if (limit_fds(1, &saved) == -1)
		diag("setrlimit: %s", strerror(errno));
	run_until(&rc.rx.nclose, 1, RUN_MS);
	unlimit_fds(&saved);
	raw_check(&rc, "two descriptors, room for one", 1);

	/* Lost with a frame that claims none. */
	if (raw_open(&rc) == -1)
		return;
	last_log[0] = '\0';
	fd_floor = 512;
	n = raw_good(buf, 0);
	raw_sendfd(rc.sv[0], buf, n, 1, 0);
	fd_floor = 0;
	if (limit_fds(0, &saved) == -1)
		diag("setrlimit: %s", strerror(errno));
	run_until(&rc.rx.nclose, 1, RUN_MS);
	unlimit_fds(&saved);
	raw_check(&rc, "descriptor lost with a frame that claims none", 1);
}

static void
test_raw_bad(void)
{
	uint8_t	buf[IMSG_MAX_FRAME];
	size_t	n;

	/* Each follows a good frame 0 as frame 1. */
	n = raw_frame(buf, type_for(1), IMSG_HDR_SIZE + 1, IMSG_F_FD, 1);
	buf[n++] = pat(1, 0);
	raw_bad("frame claiming a descriptor, none sent", buf, n, 0);
	n = raw_frame(buf, 1, IMSG_MAX_FRAME + 1, 0, 1);
	raw_bad("oversized length", buf, n, 0);
	n = raw_frame(buf, 1, IMSG_HDR_SIZE - 1, 0, 1);
	raw_bad("length below the header", buf, n, 0);
	n = raw_frame(buf, 1, IMSG_HDR_SIZE, 0x4, 1);
	raw_bad("unknown flag", buf, n, 0);
	n = raw_frame(buf, 0, IMSG_HDR_SIZE, 0, 1);
	raw_bad("type 0", buf, n, 0);
	n = raw_frame(buf, type_for(1), IMSG_HDR_SIZE + 100, 0, 1);
	memset(buf + n, 0, 50);
	raw_bad("truncated payload then EOF", buf, n + 50, 1);
	raw_bad("partial header then EOF", buf, 10, 1);
}

static void
test_raw_good(void)
{
	static uint8_t	 buf[8 * IMSG_MAX_FRAME];
	struct raw_case	 rc;
	size_t		 n, i, want;
	int		 early = 0;

	if (raw_open(&rc) == -1)
		return;
	/* One frame a byte at a time. */
	n = raw_good(buf, 0);
	n += raw_good(buf + n, 1);
	n += raw_good(buf + n, 2);
	for (i = 0; i < n; i++) {
		xwrite(rc.sv[0], buf + i, 1);
		event_base_loop(base, EVLOOP_NONBLOCK);
		want = (i + 1 >= IMSG_HDR_SIZE) +
		    (i + 1 >= 2 * IMSG_HDR_SIZE + 1) + (i + 1 >= n);
		if (rc.rx.nmsg != (int)want)
			early++;
	}
	ok(early == 0 && rc.rx.nmsg == 3 && rc.rx.bad == 0,
	    "3 frames a byte at a time: each delivered at its last byte");
	/* Several frames, among them a maximal one, in one write. */
	for (n = 0, i = 3; i < 20; i++)
		n += raw_good(buf + n, i);
	xwrite(rc.sv[0], buf, n);
	ok(run_until(&rc.rx.nmsg, 20, RUN_MS) && rc.rx.bad == 0,
	    "17 frames in one write");
	/* An orderly end. */
	shutdown(rc.sv[0], SHUT_WR);
	ok(run_until(&rc.rx.nclose, 1, RUN_MS), "EOF: close callback");
	is_int(rc.rx.err, 0, "EOF between frames: err 0");
	ok(rc.rx.nmsg == 20 && rc.rx.nclose == 1 && rc.rx.bad == 0,
	    "EOF: every frame before it, close once");
	raw_close(&rc);
}

/* The sender queues frames, flushes and goes: all arrive, then EOF. */
static void
test_flush_then_free(void)
{
	struct rx	 a, b;
	int		 sv[2];

	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	rx_chan(&b, sv[1], "b");
	b.fd_mod = 2;
	send_frames(a.chan, 0, 6, 2);
	is_int(chan_flush(a.chan, 1000), 0, "chan_flush");
	is_int(chan_queued(a.chan), 0, "chan_flush: nothing left queued");
	rx_done(&a);
	ok(run_until(&b.nclose, 1, RUN_MS), "peer gone: close callback");
	ok(b.nmsg == 6 && b.bad == 0 && b.nfd == 3,
	    "every frame and descriptor arrived before the EOF");
	is_int(b.err, 0, "clean EOF: err 0");
	rx_done(&b);
}

/*
 * A peer that stops reading and closes while frames are queued for it: the
 * queue is bounded, the close is reported once (with no SIGPIPE), and what
 * was queued, descriptors included, is released.
 */
static void
test_peer_closes(void)
{
	struct rx	 a;
	size_t		 last;
	int		 sv[2], n, fd;

	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	/* Frame 16 has IMSG_MAX_PAYLOAD bytes. */
	for (n = 0; send_frames(a.chan, 16, 17, 0) == 0; n++)
		if (n > 2 * (int)(CHAN_MAX_QUEUED / IMSG_MAX_PAYLOAD))
			break;
	ok(chan_queued(a.chan) <= CHAN_MAX_QUEUED &&
	    chan_queued(a.chan) + IMSG_MAX_FRAME > CHAN_MAX_QUEUED,
	    "a peer that does not read: queue stops at CHAN_MAX_QUEUED "
	    "(%d frames)", n);
	last = chan_queued(a.chan);
	run_idle(IDLE_MS);
	ok(chan_queued(a.chan) < last && chan_queued(a.chan) > 0,
	    "some written, the rest still queued");
	is_int(send_frames(a.chan, 1, 2, 2), 0,
	    "a frame with a descriptor queued after them");
	close(sv[1]);
	ok(run_until(&a.nclose, 1, RUN_MS), "peer closed: close callback");
	ok(a.err == EPIPE || a.err == ECONNRESET,
	    "err is EPIPE or ECONNRESET (%s)", strerror(a.err));
	run_idle(IDLE_MS);
	is_int(a.nclose, 1, "close callback ran once");
	ok(chan_is_broken(a.chan), "chan_is_broken");
	fd = make_fd(3);
	is_int(chan_send(a.chan, 1, 0, fd, NULL, 0), -1,
	    "chan_send refused after the close");
	ok(fd_is_closed(fd), "and its descriptor closed");
	rx_done(&a);
}

/* chan_free from inside the message callback, frames and fds pending. */
static void
test_free_in_msg(void)
{
	struct rx	 a, b;
	int		 sv[2];

	if (xsocketpair(sv) == -1)
		return;
	rx_chan(&a, sv[0], "a");
	rx_chan(&b, sv[1], "b");
	b.fd_mod = 2;
	b.free_at = 3;
	send_frames(a.chan, 0, 12, 2);
	ok(run_until(&b.nmsg, 3, RUN_MS), "3 frames arrived");
	ok(b.chan == NULL, "chan_free called in the third message callback");
	run_idle(IDLE_MS);
	ok(b.nmsg == 3 && b.nclose == 0 && b.bad == 0,
	    "no callback after chan_free");
	ok(run_until(&a.nclose, 1, RUN_MS), "the sender sees the close");
	ok(a.nclose == 1 && (a.err == 0 || a.err == EPIPE ||
	    a.err == ECONNRESET), "sender's err: %s", strerror(a.err));
	rx_done(&a);
}

/* chan_free from inside the close callback, on a protocol error. */
static void
test_free_in_close(void)
{
	uint8_t		 buf[2 * IMSG_MAX_FRAME];
	struct raw_case	 rc;
	size_t		 n;

	if (raw_open(&rc) == -1)
		return;
	rc.rx.free_in_close = 1;
	n = raw_good(buf, 0);
	n += raw_frame(buf + n, 1, IMSG_MAX_FRAME + 1, 0, 1);
	n += raw_good(buf + n, 2);
	xwrite(rc.sv[0], buf, n);
	ok(run_until(&rc.rx.nclose, 1, RUN_MS), "bad frame: close callback");
	ok(rc.rx.chan == NULL && rc.rx.err == EPROTO && rc.rx.nmsg == 1,
	    "chan_free in the close callback, inside dispatch");
	run_idle(IDLE_MS);
	ok(rc.rx.nmsg == 1 && rc.rx.nclose == 1, "no callback after");
	close(rc.sv[0]);
}

/*
 * marshal.
 */
static void
test_marshal_roundtrip(void)
{
	static struct mw w;
	struct mr	 r;
	char		 s[16], *dup;
	const uint8_t	*d;
	uint8_t		 bin[5] = { 0, 1, 0, 0xff, 0 };
	size_t		 dlen;

	mw_init(&w);
	mw_u8(&w, 0);
	mw_u8(&w, 0xff);
	mw_u32(&w, 0);
	mw_u32(&w, 0xdeadbeef);
	mw_u64(&w, UINT64_MAX);
	mw_i64(&w, INT64_MIN);
	mw_i64(&w, -1);
	mw_str(&w, "hello");
	mw_str(&w, "");
	mw_str(&w, NULL);
	mw_str(&w, "exactly 15 char");
	mw_data(&w, bin, sizeof(bin));
	mw_data(&w, NULL, 0);
	is_int(w.err, 0, "mw: no error");

	mr_init(&r, w.buf, w.len);
	ok(mr_u8(&r) == 0 && mr_u8(&r) == 0xff, "mr_u8");
	ok(mr_u32(&r) == 0 && mr_u32(&r) == 0xdeadbeef, "mr_u32");
	ok(mr_u64(&r) == UINT64_MAX, "mr_u64");
	ok(mr_i64(&r) == INT64_MIN && mr_i64(&r) == -1, "mr_i64");
	mr_str(&r, s, sizeof(s));
	is_str(s, "hello", "mr_str");
	dup = mr_strdup(&r);
	is_str(dup, "", "mr_strdup: empty string");
	free(dup);
	mr_str(&r, s, sizeof(s));
	is_str(s, "", "mw_str(NULL) reads back as \"\"");
	mr_str(&r, s, sizeof(s));
	is_str(s, "exactly 15 char", "mr_str: dstsz - 1 bytes fit");
	d = mr_data(&r, &dlen);
	ok(d != NULL && dlen == sizeof(bin) && memcmp(d, bin, dlen) == 0,
	    "mr_data with NUL bytes");
	d = mr_data(&r, &dlen);
	ok(d != NULL && dlen == 0, "mr_data: empty");
	is_int(mr_end(&r), 0, "mr_end: all consumed");
}

static void
test_marshal_mismatch(void)
{
	static struct mw w;
	struct mr	 r;
	char		 s[16];

	mw_init(&w);
	mw_str(&w, "abc");
	mr_init(&r, w.buf, w.len);
	is_int(mr_u32(&r), 0, "u32 where a string was written: 0");
	ok(r.err != 0 && mr_end(&r) == -1, "tag mismatch is an error");

	mw_init(&w);
	mw_u32(&w, 7);
	mw_u32(&w, 8);
	mr_init(&r, w.buf, w.len);
	mr_str(&r, s, sizeof(s));
	ok(r.err != 0 && s[0] == '\0', "string where a u32 was written");
	ok(mr_u32(&r) == 0 && mr_end(&r) == -1,
	    "errors are sticky: the next good read fails too");

	mw_init(&w);
	mw_u64(&w, 5);
	mr_init(&r, w.buf, w.len);
	ok(mr_i64(&r) == 0 && mr_end(&r) == -1,
	    "i64 where a u64 was written (same size)");
	mw_init(&w);
	mw_str(&w, "abc");
	mr_init(&r, w.buf, w.len);
	ok(mr_data(&r, &(size_t){ 0 }) == NULL && mr_end(&r) == -1,
	    "data where a string was written");

	mw_init(&w);
	mw_u32(&w, 1);
	mw_u8(&w, 2);
	mr_init(&r, w.buf, w.len);
	ok(mr_u32(&r) == 1 && r.err == 0, "first field read");
	is_int(mr_end(&r), -1, "trailing bytes: mr_end fails");
}

static void
test_marshal_strings(void)
{
	static struct mw w;
	struct mr	 r;
	char		 s[16], *dup, *q;

	mw_init(&w);
	mw_str(&w, "a?b");
	q = memchr(w.buf, '?', w.len);
	*q = '\0';
	mr_init(&r, w.buf, w.len);
	mr_str(&r, s, sizeof(s));
	ok(r.err != 0 && s[0] == '\0', "mr_str refuses an embedded NUL");
	mr_init(&r, w.buf, w.len);
	dup = mr_strdup(&r);
	ok(dup == NULL && r.err != 0, "mr_strdup refuses an embedded NUL");

	mw_init(&w);
	mw_str(&w, "sixteen chars!!!");
	mr_init(&r, w.buf, w.len);
	mr_str(&r, s, sizeof(s));
	ok(r.err != 0 && s[0] == '\0', "mr_str: string too long for dst");
	mr_init(&r, w.buf, w.len);
	dup = mr_strdup(&r);
	ok(dup != NULL && mr_end(&r) == 0, "mr_strdup takes it");
	is_str(dup, "sixteen chars!!!", "mr_strdup: the string");
	free(dup);
}

/* Every proper prefix of a good payload fails somewhere. */
static void
test_marshal_truncated(void)
{
	static struct mw w;
	struct mr	 r;
	char		 s[16];
	size_t		 cut, dlen, bad = 0;

	mw_init(&w);
	mw_u8(&w, 1);
	mw_u32(&w, 2);
	mw_u64(&w, 3);
	mw_i64(&w, -4);
	mw_str(&w, "five");
	mw_data(&w, "six", 3);
	for (cut = 0; cut < w.len; cut++) {
		mr_init(&r, w.buf, cut);
		mr_u8(&r);
		mr_u32(&r);
		mr_u64(&r);
		mr_i64(&r);
		mr_str(&r, s, sizeof(s));
		mr_data(&r, &dlen);
		if (mr_end(&r) != -1)
			bad++;
	}
	is_int(bad, 0, "each of %zu truncations fails", w.len);
	mr_init(&r, w.buf, w.len);
	mr_u8(&r);
	mr_u32(&r);
	mr_u64(&r);
	mr_i64(&r);
	mr_str(&r, s, sizeof(s));
	mr_data(&r, &dlen);
	is_int(mr_end(&r), 0, "the whole payload reads");
	/* The data field's 16-bit length, low byte first, made 255. */
	w.buf[w.len - 5] = 0xff;
	mr_init(&r, w.buf, w.len);
	mr_u8(&r);
	mr_u32(&r);
	mr_u64(&r);
	mr_i64(&r);
	mr_str(&r, s, sizeof(s));
	ok(r.err == 0 && mr_data(&r, &dlen) == NULL && mr_end(&r) == -1,
	    "a length past the end fails");
}

static void
test_marshal_overflow(void)
{
	static struct mw	w;
	static uint8_t		big[0x10000];

	mw_init(&w);
	ok(mw_fits_str(&w, IMSG_MAX_PAYLOAD - 3), "mw_fits_str: all of it");
	ok(!mw_fits_str(&w, IMSG_MAX_PAYLOAD - 2), "mw_fits_str: one more");
	mw_data(&w, big, IMSG_MAX_PAYLOAD - 3);
	ok(w.err == 0 && w.len == IMSG_MAX_PAYLOAD, "mw: exactly full");
	mw_u8(&w, 1);
	is_int(w.err, 1, "mw: one byte more sets err");
	mw_init(&w);
	is_int(w.err, 0, "mw_init clears err");
	mw_data(&w, big, IMSG_MAX_PAYLOAD - 2);
	is_int(w.err, 1, "mw_data: one byte too large sets err");
	mw_init(&w);
	mw_u32(&w, 1);
	mw_data(&w, big, IMSG_MAX_PAYLOAD - 7);
	ok(w.err == 1 && w.len <= IMSG_MAX_PAYLOAD,
	    "mw_data: too large after a field sets err");
	mw_init(&w);
	mw_data(&w, big, 0x10000);
	is_int(w.err, 1, "mw_data: over the 16-bit length sets err");
	mw_init(&w);
	mw_data(&w, big, IMSG_MAX_PAYLOAD);
	mw_u8(&w, 1);
	ok(w.err == 1 && !mw_fits_str(&w, 0), "err is sticky");
}

static void
log_to_buf(int pri, const char *line, void *arg)
{
	(void)pri;
	(void)arg;
	strlcpy(last_log, line, sizeof(last_log));
}

int
main(void)
{
	int fds;

	log_init(1, 0, "imsg-test");
	log_set_sink(log_to_buf, NULL);
	if ((base = event_base_new()) == NULL) {
		diag("event_base_new failed");
		return 1;
	}
	fds = count_fds();

	test_decode();
	test_encode();
	test_roundtrip();
	test_refused();
	fd_passing(20, 2);
	fd_passing(120, 1);
	fd_passing(300, 3);
	test_raw_bad();
	test_raw_fds();
	test_lost_fds();
	test_lost_garbage();
	test_raw_good();
	test_flush_then_free();
	test_peer_closes();
	test_free_in_msg();
	test_free_in_close();
	is_int(count_fds(), fds, "no descriptor leaked");
	event_base_free(base);

	test_marshal_roundtrip();
	test_marshal_mismatch();
	test_marshal_strings();
	test_marshal_truncated();
	test_marshal_overflow();
	return done_testing();
}
