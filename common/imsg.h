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

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;		/* -1, or owned by the receiver */
	const uint8_t	*data;
	size_t		 datalen;
};

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
