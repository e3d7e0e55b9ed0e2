/*
 * Fuzz target: SMTP replies as deliverd reads them (deliverd/mta_reply.c).
 *
 * The input is a next hop's replies: lines split at LF, a CR before the
 * LF removed, each fed with its exact length.  A complete reply is
 * formatted, into a buffer large enough and into a small one; a refused
 * line or a complete reply starts the next reply afresh.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliverd/mta_reply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* "c.d.d": class, subject and detail of one to three digits each. */
static void
check_enh(const struct mta_reply *r)
{
	const char	*s = r->enh;
	size_t		 part, n;

	if (memchr(r->enh, '\0', sizeof(r->enh)) == NULL)
		abort();
	if (*s == '\0')
		return;
	if (*s != '0' + r->code / 100)
		abort();
	for (part = 0; part < 3; part++) {
		for (n = 0; isdigit((unsigned char)s[n]); n++)
			;
		if (n == 0 || n > (part == 0 ? 1u : 3u))
			abort();
		s += n;
		if (part < 2 && *s++ != '.')
			abort();
	}
	if (*s != '\0')
		abort();
}

static void
check_reply(const struct mta_reply *r, int complete)
{
	char	buf[16 + REPLY_TEXT_MAX], small[8];
	size_t	i, tl;

	if (r->code < 200 || r->code > 599 || r->nlines == 0 ||
	    r->nlines > REPLY_LINES_MAX)
		abort();
	if (memchr(r->text, '\0', sizeof(r->text)) == NULL)
		abort();
	tl = strlen(r->text);
	for (i = 0; i < tl; i++)
		if ((unsigned char)r->text[i] < 0x20 || r->text[i] == 0x7f)
			abort();
	check_enh(r);
	if (!complete)
		return;
	mta_reply_format(r, buf, sizeof(buf));
	if (strlen(buf) != 4 + tl || buf[3] != ' ' ||
	    strcmp(buf + 4, r->text) != 0)
		abort();
	mta_reply_format(r, small, sizeof(small));
	if (strncmp(small, buf, sizeof(small) - 1) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mta_reply	 r;
	const char		*p = (const char *)data, *end = p + size, *nl;
	size_t			 len;
	int			 rv;

	mta_reply_init(&r);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl ? nl : end) - p);
		if (nl != NULL && len > 0 && p[len - 1] == '\r')
			len--;
		rv = mta_reply_line(&r, p, len);
		if (rv == -1)
			mta_reply_init(&r);
		else {
			if (r.line < p || r.line + r.linelen > p + len)
				abort();
			check_reply(&r, rv == 1);
			if (rv == 1)
				mta_reply_init(&r);
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}
