/*
 * chan: an imsg channel on a socketpair, driven by plain libevent events.
 *
 * bufferevents drop ancillary data, so a channel does its own recvmsg and
 * sendmsg.  Outgoing frames are queued; a frame carrying a descriptor is the
 * first of its sendmsg call, so the descriptor arrives with that frame's
 * first byte.  Received descriptors wait in a FIFO until the frame that
 * claims them is decoded.  Any framing error, more than one descriptor in
 * one sendmsg, a descriptor no frame claims or a frame that claims one that
 * never came makes the peer broken: the close callback runs and nothing
 * more is read from it.  A descriptor the kernel could not give us (out of
 * descriptors: MSG_CTRUNC) fails only the frame it came with, which is
 * delivered with fd -1 and imsg_fd_lost() true.
 */
#ifndef RELAYD_CHAN_H
#define RELAYD_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"

struct event_base;
struct chan;

/* msg: the payload is valid during the call only; imsg->fd is the callee's. */
typedef void (*chan_msg_fn)(struct chan *, struct imsg *, void *arg);
/* close: err is 0 for an orderly EOF, else an errno or EPROTO. */
typedef void (*chan_close_fn)(struct chan *, int err, void *arg);
/* drain: what was queued has been written down to the asked mark. */
typedef void (*chan_drain_fn)(struct chan *, void *arg);

#define CHAN_MAX_FDS		64	/* received but not yet claimed */
#define CHAN_MAX_QUEUED		(64u * 1024 * 1024)

struct chan *chan_new(struct event_base *, int fd, const char *peer,
	    chan_msg_fn, chan_close_fn, void *arg);
/*
 * Queue a frame; takes ownership of fd (closed once sent).  0, or -1 with
 * errno: ENOBUFS when CHAN_MAX_QUEUED would be passed (the peer is not
 * reading), EPIPE when the channel is broken.  It never logs: the log of
 * a child goes through it (child_log.c), so its callers say what failed.
 */
int	 chan_send(struct chan *, uint32_t type, uint64_t peerid, int fd,
	    const void *data, size_t len);
/* The same, for a payload holding a password: zeroed once written. */
int	 chan_send_secret(struct chan *, uint32_t type, uint64_t peerid,
	    const void *data, size_t len);
/* Call fn once, when no more than low bytes are queued (now, if so);
 * one at a time: a second call replaces the first. */
void	 chan_on_drain(struct chan *, size_t low, chan_drain_fn, void *);
/* Write what is queued, blocking up to timeout_ms; for exit paths. */
int	 chan_flush(struct chan *, int timeout_ms);
/*
 * Wait up to timeout_ms for input and dispatch the whole frames it makes
 * through the message callback, outside the event loop: for a caller
 * that cannot return to the loop before it has an answer (smtpd's key
 * requests, in the middle of a TLS handshake).  0 when something was
 * read (or a signal came), -1 with errno ETIMEDOUT, or EPIPE once the
 * channel has failed (its close callback has run).
 */
int	 chan_read_wait(struct chan *, int timeout_ms);
/* Safe to call from inside the channel's own callbacks. */
void	 chan_free(struct chan *);
const char *chan_peer(const struct chan *);
int	 chan_fd(const struct chan *);
size_t	 chan_queued(const struct chan *);
int	 chan_is_broken(const struct chan *);

#endif
