/*
 * smtp_data: end-of-data detection, dot-unstuffing, content checks and
 * spool writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "smtp_data.h"

void
dot_init(struct dot_parser *d)
{
	d->st = DOT_BOL;
}

int
dot_done(const struct dot_parser *d)
{
	return d->st == DOT_END;
}

static const uint8_t CR[] = "\r";

/*
 * Passed-through octets are emitted in runs; only a stuffing dot is
 * dropped, and a held "." CR is released as CR when no LF follows.
 */
size_t
dot_feed(struct dot_parser *d, const uint8_t *in, size_t len,
    dot_emit_fn emit, void *arg)
{
	size_t i = 0, run = 0;	/* run: start of octets to emit */
	uint8_t c;

#define FLUSH(upto) do {					\
		if ((upto) > run)				\
			emit(arg, in + run, (upto) - run);	\
		run = (upto);					\
	} while (0)

	while (i < len && d->st != DOT_END) {
		c = in[i];
		switch (d->st) {
		case DOT_BOL:
			if (c == '.') {
				FLUSH(i);
				run = i + 1;	/* held, not emitted */
				d->st = DOT_DOT;
			} else if (c == '\r')
				d->st = DOT_CR;
			else
				d->st = DOT_MID;
			i++;
			break;
		case DOT_MID:
			/* Fast path through ordinary text. */
			while (i < len && in[i] != '\r')
				i++;
			if (i < len) {
				d->st = DOT_CR;
				i++;
			}
			break;
		case DOT_CR:
			if (c == '\n')
				d->st = DOT_BOL;
			else if (c != '\r')
				d->st = DOT_MID;
			i++;
			break;
		case DOT_DOT:
			if (c == '\r') {
				d->st = DOT_DOT_CR;
				run = i + 1;	/* CR held as well */
				i++;
			} else {
				/* A stuffing dot: dropped; c is ordinary. */
				d->st = DOT_MID;
				run = i;
			}
			break;
		case DOT_DOT_CR:
			if (c == '\n') {
				d->st = DOT_END;
				run = i + 1;
				i++;
			} else {
				/* ".\r" then more: the dot was stuffing. */
				emit(arg, CR, 1);
				d->st = DOT_CR;
				run = i;
			}
			break;
		case DOT_END:
			break;
		}
	}
	if (d->st != DOT_DOT && d->st != DOT_DOT_CR && d->st != DOT_END)
		FLUSH(i);
	else if (d->st != DOT_END)
		run = i;
#undef FLUSH
	return i;
}

int
sink_init(struct msg_sink *s, int fd, uint64_t max)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->max = max;
	s->in_header = 1;
	s->bol = 1;
	if (fd != -1 && (s->buf = malloc(SINK_BUFSZ)) == NULL)
		return -1;
	return 0;
}

void
sink_release(struct msg_sink *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
}

static void
sink_flush(struct msg_sink *s)
{
	size_t done;

	if (s->werr == 0)
		s->werr = write_full(s->fd, s->buf, s->len, &done);
	else
		done = 0;
	s->written += done;
	s->len = 0;
}

static void
sink_store(struct msg_sink *s, const uint8_t *p, size_t n)
{
	size_t take;

	if (s->fd == -1 || s->werr != 0 || s->too_big)
		return;
	while (n > 0) {
		take = SINK_BUFSZ - s->len;
		if (take > n)
			take = n;
		memcpy(s->buf + s->len, p, take);
		s->len += take;
		p += take;
		n -= take;
		if (s->len == SINK_BUFSZ)
			sink_flush(s);
	}
}

void
sink_prefix(struct msg_sink *s, const char *p, size_t n)
{
	sink_store(s, (const uint8_t *)p, n);
}

/* What a field's name makes it, once its colon is read. */
static uint8_t
field_kind(const struct msg_sink *s)
{
	if (s->namelen == 8 && memcmp(s->name, "received", 8) == 0)
		return HDR_RECEIVED;
	if (s->namelen == 2 && (memcmp(s->name, "to", 2) == 0 ||
	    memcmp(s->name, "cc", 2) == 0))
		return HDR_TO_CC;
	return HDR_OTHER;
}

/*
 * The header section, up to the empty line that ends it: its size, its
 * fields, the Received: fields, and whether a To: or Cc: field holds
 * anything but white space (folded lines included).
 */
static void
sink_header(struct msg_sink *s, uint8_t c)
{
	s->header_bytes++;
	if (s->bol) {
		s->bol = 0;
		if (c == '\r' || c == '\n') {
			s->in_header = 0;
			return;
		}
		if (c != ' ' && c != '\t') {
			/* A new field; a space or tab continues the last. */
			s->fields++;
			s->in_name = 1;
			s->namelen = 0;
			s->kind = HDR_OTHER;
		}
	}
	if (c == '\n') {
		s->bol = 1;
		return;
	}
	if (s->in_name) {
		if (c == ':') {
			s->in_name = 0;
			if ((s->kind = field_kind(s)) == HDR_RECEIVED)
				s->received++;
		} else if (s->namelen < sizeof(s->name))
			s->name[s->namelen++] = (char)((c >= 'A' && c <= 'Z') ?
			    c + 32 : c);
		else	/* too long to be one we look for */
			s->namelen = sizeof(s->name) + 1;
		return;
	}
	if (s->kind == HDR_TO_CC && c != ' ' && c != '\t' && c != '\r')
		s->to_or_cc = 1;
}

void
sink_feed(struct msg_sink *s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '\n' && !s->prev_cr)
			s->bare = 1;
		else if (s->prev_cr && c != '\n')
			s->bare = 1;
		s->prev_cr = c == '\r';
		if (c == 0)
			s->nul = 1;
		else if (c & 0x80)
			s->has8bit = 1;
		if (s->in_header)
			sink_header(s, c);
	}
	if (s->bytes > s->max || n > s->max - s->bytes)
		s->too_big = 1;
	s->bytes += n;
	sink_store(s, p, n);
}

int
sink_finish(struct msg_sink *s)
{
	if (s->prev_cr)
		s->bare = 1;
	if (s->fd != -1 && s->werr == 0 && !s->too_big)
		sink_flush(s);
	return s->werr == 0 ? 0 : -1;
}
