/*
 * mta_reply: multi-line reply parsing (RFC 5321 section 4.2).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mta_reply.h"

void
mta_reply_init(struct mta_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* "d.ddd.ddd" at the start of the text, class matching the code. */
static void
parse_enh(struct mta_reply *r, const char *s, size_t len)
{
	size_t i = 0, part = 0, digits = 0;

	if (len < 5 || s[0] != (char)('0' + r->code / 100))
		return;
	for (i = 0; i < len && i < sizeof(r->enh) - 1; i++) {
		if (isdigit((unsigned char)s[i])) {
			if (++digits > (part == 0 ? 1u : 3u))
				return;
		} else if (s[i] == '.' && digits > 0 && part < 2) {
			part++;
			digits = 0;
		} else if (s[i] == ' ' && part == 2 && digits > 0)
			break;
		else
			return;
	}
	if (part != 2 || digits == 0 || (i < len && s[i] != ' '))
		return;
	memcpy(r->enh, s, i);
	r->enh[i] = '\0';
}

static void
append_text(struct mta_reply *r, const char *s, size_t len)
{
	size_t have = strlen(r->text), i;

	if (have > 0 && have + 1 < sizeof(r->text))
		r->text[have++] = ' ';
	for (i = 0; i < len && have + 1 < sizeof(r->text); i++) {
		unsigned char c = (unsigned char)s[i];

		/* Kept for logs and bounces: printable only. */
		r->text[have++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	r->text[have] = '\0';
}

int
mta_reply_line(struct mta_reply *r, const char *line, size_t len)
{
	int	code;
	char	sep;

	if (len < 3 || len > REPLY_LINE_MAX || r->nlines >= REPLY_LINES_MAX)
		return -1;
	if (!isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599)
		return -1;
	if (r->nlines > 0 && code != r->code)
		return -1;
	sep = len > 3 ? line[3] : ' ';
	if (sep != ' ' && sep != '-')
		return -1;
	r->code = code;
	r->line = len > 4 ? line + 4 : line + len;
	r->linelen = len > 4 ? len - 4 : 0;
	if (r->nlines == 0)
		parse_enh(r, r->line, r->linelen);
	append_text(r, r->line, r->linelen);
	r->nlines++;
	return sep == ' ' ? 1 : 0;
}

void
mta_reply_format(const struct mta_reply *r, char *buf, size_t sz)
{
	snprintf(buf, sz, "%d %s", r->code, r->text);
}
