/*
 * smtp_data: message content, from the wire to the spool file.
 *
 * dot_parser finds the end of DATA content and undoes dot-stuffing.  The
 * end is CRLF "." CRLF and nothing else: a bare LF or bare CR is never a
 * line ending, so no variant of LF.LF, CR.CR or mixtures can end a message
 * early, and one message can never become two (SMTP smuggling,
 * CVE-2023-51764 and its family).
 *
 * msg_sink checks what is stored, for DATA and BDAT alike: bare CR or LF,
 * NUL, the size limit, the header section (its size, its fields, the
 * Received: fields of a loop, whether To: or Cc: names anyone), 8-bit
 * octets; and writes it to the spool descriptor through a buffer.
 * Nothing is ever changed: what passes is stored byte for byte.
 */
#ifndef RELAYD_SMTP_DATA_H
#define RELAYD_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

enum dot_state {
	DOT_BOL,		/* at the start of a line */
	DOT_MID,		/* inside a line */
	DOT_CR,			/* after a CR that was passed on */
	DOT_DOT,		/* "." at the start of a line, held */
	DOT_DOT_CR,		/* "." CR at the start of a line, held */
	DOT_END			/* CRLF.CRLF seen */
};

struct dot_parser {
	enum dot_state	st;
};

typedef void (*dot_emit_fn)(void *arg, const uint8_t *, size_t);

void	 dot_init(struct dot_parser *);
/* Consume input up to and including the end marker; returns octets used. */
size_t	 dot_feed(struct dot_parser *, const uint8_t *, size_t,
	    dot_emit_fn, void *arg);
int	 dot_done(const struct dot_parser *);

#define SINK_BUFSZ	(64 * 1024)
#define MAX_RECEIVED	50	/* more means a loop (RFC 5321 6.3) */

struct msg_sink {
	int		 fd;		/* -1: count and check only */
	uint8_t		*buf;
	size_t		 len;
	int		 werr;		/* errno of a failed write */
	uint64_t	 bytes;		/* content octets seen */
	uint64_t	 written;
	uint64_t	 max;
	uint8_t		 prev_cr;
	uint8_t		 bare;		/* a bare CR or LF was seen */
	uint8_t		 nul;
	uint8_t		 has8bit;
	uint8_t		 too_big;
	uint8_t		 in_header;
	uint8_t		 bol;
	uint8_t		 in_name;	/* reading a field's name */
	uint8_t		 namelen;
	char		 name[12];	/* lower case, cut */
	uint8_t		 kind;		/* HDR_* of the field being read */
	uint8_t		 to_or_cc;	/* To: or Cc: with an address */
	unsigned	 received;
	unsigned	 fields;
	uint64_t	 header_bytes;
};

#define HDR_OTHER	0
#define HDR_RECEIVED	1
#define HDR_TO_CC	2

int	 sink_init(struct msg_sink *, int fd, uint64_t max);
/* Store a prefix we generated (the Received: field), unchecked. */
void	 sink_prefix(struct msg_sink *, const char *, size_t);
void	 sink_feed(struct msg_sink *, const uint8_t *, size_t);
/* Flush; a message ending in CR has a bare CR.  0, or -1 (werr). */
int	 sink_finish(struct msg_sink *);
void	 sink_release(struct msg_sink *);

#endif
