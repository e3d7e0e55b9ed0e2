/*
 * hdr_scan: header fields and header edits.
 */
#include <string.h>

#include "hdr_scan.h"

#define LINE_MAX_OCTETS	998	/* RFC 5322 2.1.1, without CRLF */

/* The line at off: its length with CRLF, or 0 if it has no CRLF. */
static size_t
line_len(const uint8_t *buf, size_t len, size_t off)
{
	const uint8_t *p;

	p = memchr(buf + off, '\n', len - off);
	if (p == NULL || p == buf + off || p[-1] != '\r')
		return 0;
	return (size_t)(p - (buf + off)) + 1;
}

/* The length of a field's name on this line, or 0 if it is none. */
static size_t
name_len(const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == ':')
			return i;
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	}
	return 0;
}

int
hdr_scan(const uint8_t *buf, size_t len, int eof, struct hdr_field *out,
    size_t max, struct hdr_section *hs)
{
	struct hdr_field	*cur = NULL, one;
	size_t			 off = 0, ll, nl;

	memset(hs, 0, sizeof(*hs));
	while (off < len) {
		if ((ll = line_len(buf, len, off)) == 0) {
			if (!eof)
				return -1;	/* it may go on */
			break;
		}
		if (ll == 2) {			/* the empty line */
			hs->end = off;
			hs->body = off + 2;
			return 0;
		}
		if ((buf[off] == ' ' || buf[off] == '\t') && cur != NULL) {
			cur->len += ll;
			off += ll;
			continue;
		}
		if ((nl = name_len(buf + off, ll)) == 0)
			break;
		if (hs->n == max)
			return -1;
		cur = out != NULL ? &out[hs->n] : &one;
		cur->off = off;
		cur->len = ll;
		cur->nlen = nl;
		hs->n++;
		off += ll;
	}
	if (off == len && !eof)
		return -1;
	hs->end = hs->body = off;
	return 0;
}

int
hdr_fields_ok(const uint8_t *s, size_t len)
{
	size_t	off = 0, ll, i;
	int	first = 1;

	if (len == 0)
		return 0;
	while (off < len) {
		if ((ll = line_len(s, len, off)) == 0 || ll - 2 >
		    LINE_MAX_OCTETS || ll == 2)
			return 0;
		for (i = off; i < off + ll - 2; i++)
			if ((s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f ||
			    s[i] == '\r' || s[i] == '\n')
				return 0;
		/* A field starts with its name; the rest may continue it. */
		if ((first || (s[off] != ' ' && s[off] != '\t')) &&
		    name_len(s + off, ll) == 0)
			return 0;
		first = 0;
		off += ll;
	}
	return 1;
}

/* Is off a field's start, or the header's end? */
static int
boundary(const struct hdr_field *f, const struct hdr_section *hs,
    uint64_t off)
{
	size_t lo = 0, hi = hs->n, mid;

	if (off == hs->end)
		return 1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (f[mid].off == off)
			return 1;
		if (f[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
hdr_edits_ok(const struct hdr_field *f, const struct hdr_section *hs,
    const struct hdr_edit *e, size_t n)
{
	uint64_t	last = 0;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (e[i].off < last || e[i].off > hs->end ||
		    e[i].del > hs->end - e[i].off ||
		    (e[i].del == 0 && e[i].inslen == 0) ||
		    !boundary(f, hs, e[i].off) ||
		    !boundary(f, hs, e[i].off + e[i].del) ||
		    (e[i].inslen > 0 && !hdr_fields_ok(e[i].ins,
		    e[i].inslen)))
			return -1;
		last = e[i].off + e[i].del;
	}
	return 0;
}
