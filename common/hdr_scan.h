/*
 * hdr_scan: the header section of a stored message, field by field, and
 * the header edits a milter may make to it (msg_milter.h).
 *
 * The header is the lines from the start up to the empty line, or up to
 * the first line that is neither a field ("name:") nor the continuation
 * of one (it starts with a space or a tab), or that does not end in CRLF:
 * that line is the body's first.  policyd (which sends the fields to the
 * milters) and queued (which checks and applies the edits) agree on this
 * by using the same code.  Pure, so it can be fuzzed.
 */
#ifndef RELAYD_HDR_SCAN_H
#define RELAYD_HDR_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct hdr_field {
	size_t		 off;		/* its first octet */
	size_t		 len;		/* with its continuations and CRLFs */
	size_t		 nlen;		/* its name */
};

struct hdr_section {
	size_t		 end;		/* after the last field */
	size_t		 body;		/* after the empty line, if any */
	size_t		 n;		/* fields */
};

/*
 * Scan buf (the file's first len octets; eof: that is all of it).  0,
 * or -1 when the header does not end within buf or has more than max
 * fields.  out may be NULL (max still applies).
 */
int	 hdr_scan(const uint8_t *buf, size_t len, int eof,
	    struct hdr_field *out, size_t max, struct hdr_section *);

/* One header edit: remove del octets at off, insert ins there. */
struct hdr_edit {
	uint64_t	 off;
	uint64_t	 del;
	const uint8_t	*ins;
	size_t		 inslen;
};

/* Is this one or more whole fields, CRLF-terminated, lines of at most
 * 998 octets, no control characters but tabs? */
int	 hdr_fields_ok(const uint8_t *, size_t);
/*
 * Do the edits (sorted by off) touch only whole fields of the header?
 * Each removes whole fields (from a field's start to a field's start or
 * the end) and inserts whole fields at such a boundary.  0 or -1.
 */
int	 hdr_edits_ok(const struct hdr_field *, const struct hdr_section *,
	    const struct hdr_edit *, size_t n);

#endif
