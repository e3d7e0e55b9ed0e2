/*
 * milter_reply: what a milter says, parsed strictly (the Sendmail milter
 * protocol, version 6, as Postfix speaks it).
 *
 * A frame is a 4-octet big-endian length, then that many octets: one
 * command octet and its data.  A milter is another program on another
 * host perhaps, so nothing in a frame is trusted: the length is checked
 * before anything is read, every string must end where its frame ends,
 * reply texts are cleaned of control characters and bounded, a reply
 * code must be 4xx or 5xx with an enhanced code of its class.  Pure, so
 * it can be fuzzed (regress/fuzz/milter_reply.c).
 */
#ifndef RELAYD_MILTER_REPLY_H
#define RELAYD_MILTER_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* The largest frame we take: a 64 KB body chunk's size, as libmilter
 * sends without SMFIP_MDS_256K or _1M (never offered). */
#define MILTER_FRAME_MAX	65536
#define MILTER_TEXT_MAX		300	/* a reply's text, cleaned */
#define MILTER_NAME_MAX		128	/* a header field's name */

/* Commands to the milter (SMFIC_*). */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'

/* Replies (SMFIR_*). */
#define SMFIR_ADDRCPT	'+'
#define SMFIR_DELRCPT	'-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN	'4'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REPLBODY	'b'
#define SMFIR_CONTINUE	'c'
#define SMFIR_DISCARD	'd'
#define SMFIR_CHGFROM	'e'
#define SMFIR_CONN_FAIL	'f'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_SETSYMLIST 'l'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT	'r'
#define SMFIR_SKIP	's'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_REPLYCODE	'y'
#define SMFIR_OPTNEG	'O'

/* Actions a milter may take (SMFIF_*): we offer the first three only. */
#define SMFIF_ADDHDRS	0x001
#define SMFIF_CHGBODY	0x002	/* never offered */
#define SMFIF_ADDRCPT	0x004
#define SMFIF_DELRCPT	0x008
#define SMFIF_CHGHDRS	0x010
#define SMFIF_QUARANTINE 0x020
#define SMFIF_CHGFROM	0x040
#define SMFIF_ADDRCPT_PAR 0x080
#define SMFIF_SETSYMLIST 0x100

/* Protocol steps it may skip, or not answer (SMFIP_*). */
#define SMFIP_NOCONNECT	0x000001
#define SMFIP_NOHELO	0x000002
#define SMFIP_NOMAIL	0x000004
#define SMFIP_NORCPT	0x000008
#define SMFIP_NOBODY	0x000010
#define SMFIP_NOHDRS	0x000020
#define SMFIP_NOEOH	0x000040
#define SMFIP_NR_HDR	0x000080
#define SMFIP_NOUNKNOWN	0x000100
#define SMFIP_NODATA	0x000200
#define SMFIP_SKIP	0x000400
#define SMFIP_RCPT_REJ	0x000800
#define SMFIP_NR_CONN	0x001000
#define SMFIP_NR_HELO	0x002000
#define SMFIP_NR_MAIL	0x004000
#define SMFIP_NR_RCPT	0x008000
#define SMFIP_NR_DATA	0x010000
#define SMFIP_NR_UNKN	0x020000
#define SMFIP_NR_EOH	0x040000
#define SMFIP_NR_BODY	0x080000
#define SMFIP_HDR_LEADSPC 0x100000

#define MILTER_VERSION	6
#define MILTER_ACTIONS	(SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE)
#define MILTER_PROTO	(SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | \
	SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | \
	SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_SKIP | \
	SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | \
	SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY | \
	SMFIP_HDR_LEADSPC)

struct milter_reply {
	uint8_t		 cmd;
	/* SMFIR_OPTNEG */
	uint32_t	 version;
	uint32_t	 actions;
	uint32_t	 proto;
	/* SMFIR_REPLYCODE: 4xx or 5xx, its enhanced code, cleaned text */
	int		 code;
	char		 enh[16];
	char		 text[MILTER_TEXT_MAX + 1];
	/* SMFIR_ADDHEADER, _INSHEADER, _CHGHEADER; text for _QUARANTINE */
	uint32_t	 index;
	char		 name[MILTER_NAME_MAX + 1];
	const uint8_t	*value;		/* in the frame, NUL-terminated */
	size_t		 vlen;
};

/*
 * The length a frame's first four octets announce: 0 and *len, or -1
 * with why (zero, or more than MILTER_FRAME_MAX).
 */
int	 milter_frame_len(const uint8_t hdr[4], size_t *len, const char **why);
/* Parse a frame's command and data (len octets).  0, or -1 with why. */
int	 milter_reply_parse(const uint8_t *, size_t len, struct milter_reply *,
	    const char **why);

#endif
