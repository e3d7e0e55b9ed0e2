/*
 * imsg framing: typed, length-prefixed frames over Unix socketpairs.
 *
 * A frame is a fixed header followed by at most IMSG_MAX_PAYLOAD bytes.
 * IMSG_F_FD in the header says one descriptor belongs to this frame; it
 * travels as SCM_RIGHTS with the frame's first byte and is matched to the
 * frame on receipt through a per-channel FIFO.  Anything the decoder does
 * not like (short or oversized length, unknown flags) makes the peer broken:
 * a channel never resynchronises on a stream it cannot trust.
 *
 * A receiver out of descriptors gets the frame but not its descriptor: the
 * channel delivers it with fd -1 and IMSG_F_FD_LOST beside IMSG_F_FD, and
 * the receiver fails that one request (imsg_fd_lost).
 *
 * This file holds the pure codec, kept free of I/O so it can be fuzzed.
 */
#ifndef RELAYD_IMSG_H
#define RELAYD_IMSG_H

#include <stddef.h>
#include <stdint.h>

struct imsg_hdr {
	uint32_t	type;
	uint32_t	len;		/* header + payload */
	uint32_t	flags;
	uint32_t	pid;		/* sender's pid */
	uint64_t	peerid;		/* request id or session id */
};

#define IMSG_HDR_SIZE		((uint32_t)sizeof(struct imsg_hdr))
#define IMSG_MAX_FRAME		16384u
#define IMSG_MAX_PAYLOAD	(IMSG_MAX_FRAME - IMSG_HDR_SIZE)
#define IMSG_F_FD		0x1u
#define IMSG_F_ALL		(IMSG_F_FD)
/* Set by the receiving channel, never valid on the wire. */
#define IMSG_F_FD_LOST		0x80000000u

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;		/* -1, or owned by the receiver */
	const uint8_t	*data;
	size_t		 datalen;
};

/* The frame claims a descriptor: imsg->fd, or lost on the way. */
static inline int
imsg_has_fd(const struct imsg *m)
{
	return (m->hdr.flags & IMSG_F_FD) != 0;
}

/* It claims one the receiver could not take (out of descriptors). */
static inline int
imsg_fd_lost(const struct imsg *m)
{
	return (m->hdr.flags & IMSG_F_FD_LOST) != 0;
}

enum imsg_decode_result {
	IMSG_DECODE_FRAME = 1,		/* *out and *used are set */
	IMSG_DECODE_MORE = 0,		/* not a whole frame yet */
	IMSG_DECODE_BAD = -1		/* malformed: peer is broken */
};

/* Decode one frame from buf; the payload points into buf. */
enum imsg_decode_result imsg_decode(const uint8_t *buf, size_t len,
	    struct imsg *out, size_t *used);

/* Encode a header for a payload of len bytes; -1 if it is too large. */
int	imsg_encode_hdr(struct imsg_hdr *, uint32_t type, uint64_t peerid,
	    uint32_t pid, int has_fd, size_t len);

#endif
