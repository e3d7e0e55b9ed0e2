/*
 * Fuzz target: the end of DATA, dot-unstuffing and the content checks
 * (smtpd/smtp_data.c).
 *
 * Input: one octet n, then n octets of split sizes (n mod 16), one octet
 * choosing the sink's size limit, then the message as it comes off the
 * wire.  The message is fed to dot_feed in one piece and in pieces of the
 * chosen sizes (0 means an empty feed, then one octet); what it emits goes
 * into a buffer and a msg_sink.  Checked against what the harness works
 * out by itself:
 *  - the end is the first "." CRLF at the start of the input or right
 *    after a CRLF, never earlier, and nothing after it is consumed;
 *  - the output is the input before the end with the dot at the start of
 *    each line removed; one piece or many give the same octets and the
 *    same sink flags, which match the output;
 *  - a spool file gets the prefix and the output byte for byte;
 *  - the message dot-stuffed (RFC 5321 section 4.5.2) and terminated comes
 *    back unchanged.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtpd/smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NOEND		SIZE_MAX
#define PREFIX		"Received: from fuzz\r\n"

struct splits {
	const uint8_t	*sz;
	size_t		 n;
};

struct out {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
	struct msg_sink	 sink;
	struct msg_sink	*spool;		/* NULL, or a sink with a file */
};

struct result {
	size_t		 used;
	int		 done;
};

static int spool_fd = -1;

static void
emit(void *arg, const uint8_t *p, size_t n)
{
	struct out	*o = arg;
	uint8_t		*np;

	if (n == 0)
		abort();
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		if ((np = realloc(o->p, o->cap)) == NULL)
			abort();
		o->p = np;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	sink_feed(&o->sink, p, n);
	if (o->spool != NULL)
		sink_feed(o->spool, p, n);
}

static void
out_init(struct out *o, uint64_t max)
{
	memset(o, 0, sizeof(*o));
	if (sink_init(&o->sink, -1, max) == -1)
		abort();
}

static void
out_free(struct out *o)
{
	sink_release(&o->sink);
	free(o->p);
}

/* Feed m in the pieces sp gives, or whole when there are none. */
static struct result
feed(const uint8_t *m, size_t len, const struct splits *sp, struct out *o)
{
	struct dot_parser	d;
	struct result		r;
	size_t			off = 0, i = 0, chunk, used, before;

	dot_init(&d);
	while (off < len && !dot_done(&d)) {
		chunk = sp->n > 0 ? sp->sz[i++ % sp->n] : len - off;
		if (chunk == 0) {
			before = o->len;
			if (dot_feed(&d, m + off, 0, emit, o) != 0 ||
			    o->len != before)
				abort();
			chunk = 1;
		}
		if (chunk > len - off)
			chunk = len - off;
		used = dot_feed(&d, m + off, chunk, emit, o);
		if (used > chunk || (used < chunk && !dot_done(&d)))
			abort();
		off += used;
	}
	/* Once done, nothing more is taken or emitted. */
	before = o->len;
	if (dot_done(&d) && off < len &&
	    (dot_feed(&d, m + off, len - off, emit, o) != 0 ||
	    o->len != before))
		abort();
	r.used = off;
	r.done = dot_done(&d);
	return r;
}

static int
crlf_before(const uint8_t *m, size_t i)
{
	return i >= 2 && m[i - 2] == '\r' && m[i - 1] == '\n';
}

/* Where a line starts: the first octet, and after each CRLF. */
static int
line_start(const uint8_t *m, size_t i)
{
	return i == 0 || crlf_before(m, i);
}

/* The offset of the "." of the end marker, or NOEND. */
static size_t
find_end(const uint8_t *m, size_t len)
{
	size_t k;

	for (k = 0; k + 3 <= len; k++)
		if (line_start(m, k) && memcmp(m + k, ".\r\n", 3) == 0)
			return k;
	return NOEND;
}

/* What dot_feed must emit for m: held octets at the end are not out yet. */
static size_t
unstuff(const uint8_t *m, size_t len, size_t end, uint8_t *dst)
{
	size_t i, n = 0;

	for (i = 0; i < (end == NOEND ? len : end); i++)
		if (!(line_start(m, i) && m[i] == '.'))
			dst[n++] = m[i];
	/* A "." CR at the start of the last line waits for its LF. */
	if (end == NOEND && len >= 2 && line_start(m, len - 2) &&
	    m[len - 2] == '.' && m[len - 1] == '\r')
		n--;
	return n;
}

/* The sink's view of p, worked out here. */
static void
check_sink(const struct msg_sink *s, const uint8_t *p, size_t len,
    uint64_t max)
{
	unsigned	received = 0;
	int		bare = 0, has8bit = 0, in_header = 1;
	size_t		i;
	const uint8_t	*nl;

	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			bare = 1;
		if (p[i] == '\r' && i + 1 < len && p[i + 1] != '\n')
			bare = 1;
		if (p[i] & 0x80)
			has8bit = 1;
	}
	for (i = 0; i < len; i = (size_t)(nl - p) + 1) {
		if (p[i] == '\r' || p[i] == '\n') {
			in_header = 0;
			break;
		}
		if (len - i >= 9 && strncasecmp((const char *)p + i,
		    "received:", 9) == 0)
			received++;
		if ((nl = memchr(p + i, '\n', len - i)) == NULL)
			break;
	}
	if (s->bytes != len || s->bare != bare || s->has8bit != has8bit ||
	    s->nul != (memchr(p, '\0', len) != NULL) ||
	    s->too_big != (len > max) || s->in_header != in_header ||
	    s->received != received ||
	    s->prev_cr != (len > 0 && p[len - 1] == '\r'))
		abort();
}

static void
same_sink(const struct msg_sink *a, const struct msg_sink *b)
{
	if (a->bytes != b->bytes || a->bare != b->bare || a->nul != b->nul ||
	    a->has8bit != b->has8bit || a->too_big != b->too_big ||
	    a->in_header != b->in_header || a->received != b->received ||
	    a->prev_cr != b->prev_cr)
		abort();
}

/* What a spool file got: the prefix and the output, unless too big. */
static void
check_spool(struct msg_sink *s, const struct out *o)
{
	size_t	 plen = sizeof(PREFIX) - 1;
	uint8_t	*buf;
	ssize_t	 n;

	if (sink_finish(s) == -1)
		abort();
	if (s->too_big)
		return;
	if (s->written != plen + o->len || (buf = malloc(s->written + 1)) ==
	    NULL)
		abort();
	n = pread(spool_fd, buf, s->written + 1, 0);
	if (n < 0 || (size_t)n != s->written ||
	    memcmp(buf, PREFIX, plen) != 0 ||
	    (o->len > 0 && memcmp(buf + plen, o->p, o->len) != 0))
		abort();
	free(buf);
}

static void
fuzz_wire(const uint8_t *m, size_t len, const struct splits *sp,
    uint64_t max)
{
	struct out	 whole, parts;
	struct msg_sink	 spool;
	struct result	 rw, rp;
	size_t		 end, n;
	uint8_t		*want;

	if (ftruncate(spool_fd, 0) == -1 ||
	    lseek(spool_fd, 0, SEEK_SET) == -1 ||
	    sink_init(&spool, spool_fd, max) == -1)
		abort();
	sink_prefix(&spool, PREFIX, sizeof(PREFIX) - 1);
	out_init(&whole, max);
	out_init(&parts, max);
	parts.spool = &spool;
	rw = feed(m, len, &(struct splits){ NULL, 0 }, &whole);
	rp = feed(m, len, sp, &parts);

	end = find_end(m, len);
	if (rw.done != (end != NOEND) || rp.done != rw.done ||
	    rw.used != (end == NOEND ? len : end + 3) || rp.used != rw.used)
		abort();
	if ((want = malloc(len + 1)) == NULL)
		abort();
	n = unstuff(m, len, end, want);
	if (whole.len != n || parts.len != n ||
	    (n > 0 && (memcmp(whole.p, want, n) != 0 ||
	    memcmp(parts.p, want, n) != 0)))
		abort();
	check_sink(&whole.sink, want, n, max);
	same_sink(&whole.sink, &parts.sink);
	if (sink_finish(&whole.sink) != 0 || sink_finish(&parts.sink) != 0 ||
	    whole.sink.bare != (parts.sink.bare) ||
	    (n > 0 && want[n - 1] == '\r' && !whole.sink.bare))
		abort();
	check_spool(&spool, &parts);
	sink_release(&spool);
	free(want);
	out_free(&whole);
	out_free(&parts);
}

/*
 * Dot-stuff m and terminate it: a "." before each line that starts with
 * one, then "." CRLF, after a CRLF of its own unless m is empty or ends in
 * one.  Unstuffing gives m back, plus that CRLF.  (Line starts are those
 * dot_feed sees, so this holds with bare CR and LF in m as well.)
 */
static void
fuzz_roundtrip(const uint8_t *m, size_t len, const struct splits *sp)
{
	struct out	 o;
	struct result	 r;
	uint8_t		*st;
	size_t		 i, n = 0, wlen = len;
	int		 crlf;

	crlf = len > 0 && !(len >= 2 && crlf_before(m, len));
	if ((st = malloc(2 * len + 5)) == NULL)
		abort();
	for (i = 0; i < len; i++) {
		if (line_start(m, i) && m[i] == '.')
			st[n++] = '.';
		st[n++] = m[i];
	}
	if (crlf) {
		memcpy(st + n, "\r\n", 2);
		n += 2;
		wlen += 2;
	}
	memcpy(st + n, ".\r\n", 3);
	n += 3;
	out_init(&o, UINT64_MAX);
	r = feed(st, n, sp, &o);
	if (!r.done || r.used != n || o.len != wlen ||
	    (len > 0 && memcmp(o.p, m, len) != 0) ||
	    (crlf && memcmp(o.p + len, "\r\n", 2) != 0))
		abort();
	out_free(&o);
	free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct splits	sp;
	uint64_t	max;

	if (spool_fd == -1 && (spool_fd = memfd_create("spool", 0)) == -1)
		abort();
	if (size < 2)
		return 0;
	sp.n = data[0] % 16;
	if (size < 2 + sp.n)
		return 0;
	sp.sz = data + 1;
	max = data[1 + sp.n] == 0xff ? UINT64_MAX : data[1 + sp.n] * 8u;
	data += 2 + sp.n;
	size -= 2 + sp.n;
	fuzz_wire(data, size, &sp, max);
	fuzz_roundtrip(data, size, &sp);
	return 0;
}
