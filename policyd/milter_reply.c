/*
 * milter_reply: a milter's frames, checked and parsed (milter_reply.h).
 */
#include <ctype.h>
#include <string.h>

#include "milter_reply.h"
#include "policy_reply.h"

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
milter_frame_len(const uint8_t hdr[4], size_t *len, const char **why)
{
	uint32_t n = be32(hdr);

	if (n == 0) {
		*why = "an empty frame";
		return -1;
	}
	if (n > MILTER_FRAME_MAX) {
		*why = "a frame larger than 64 KB";
		return -1;
	}
	*len = n;
	return 0;
}

/* A string that ends exactly at the end of data, with no NUL before. */
static int
last_string(const uint8_t *p, size_t len)
{
	return len > 0 && p[len - 1] == '\0' &&
	    memchr(p, '\0', len) == p + len - 1;
}

/* One field name: printable, no colon, no space. */
static int
name_ok(const uint8_t *p, size_t len)
{
	size_t i;

	if (len == 0 || len > MILTER_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] <= ' ' || p[i] > '~' || p[i] == ':')
			return 0;
	return 1;
}

/* name NUL value NUL, the whole of data. */
static int
header_change(const uint8_t *p, size_t len, struct milter_reply *r,
    const char **why)
{
	const uint8_t	*nul;
	size_t		 nl;

	if ((nul = memchr(p, '\0', len)) == NULL ||
	    !name_ok(p, (nl = (size_t)(nul - p)))) {
		*why = "a header change without a valid field name";
		return -1;
	}
	memcpy(r->name, p, nl);
	r->name[nl] = '\0';
	p = nul + 1;
	len -= nl + 1;
	if (!last_string(p, len)) {
		*why = "a header change whose value is not one string";
		return -1;
	}
	r->value = p;
	r->vlen = len - 1;
	return 0;
}

/* "D.DDD.DDD" (RFC 3463) at s: its length, or 0. */
static size_t
enh_len(const char *s)
{
	size_t i = 0, part, digits;

	for (part = 0; part < 3; part++) {
		if (part > 0 && s[i++] != '.')
			return 0;
		for (digits = 0; isdigit((unsigned char)s[i]); i++)
			digits++;
		if (digits == 0 || digits > (part == 0 ? 1 : 3))
			return 0;
	}
	return i;
}

/* Append a line's text, its control characters and non-ASCII made '?'. */
static void
text_add(char *dst, const char *s, size_t n)
{
	size_t len = strlen(dst), i;

	if (len > 0 && len < MILTER_TEXT_MAX && n > 0)
		dst[len++] = ' ';
	for (i = 0; i < n && len < MILTER_TEXT_MAX; i++)
		dst[len++] = (s[i] < ' ' || s[i] > '~') ? '?' : s[i];
	dst[len] = '\0';
}

/*
 * "550 5.7.1 text", or several lines "550-5.7.1 one\r\n550 5.7.1 two"
 * (smfi_setmlreply): the code of the first line, its enhanced code put
 * in the code's class, the lines' texts joined with spaces.
 */
static int
replycode(const char *s, struct milter_reply *r, const char **why)
{
	const char	*line = s, *eol, *t;
	size_t		 n, el;
	int		 first = 1;

	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (s[0] != '4' && s[0] != '5') ||
	    (s[3] != ' ' && s[3] != '-' && s[3] != '\0')) {
		*why = "a reply code that is not 4xx or 5xx";
		return -1;
	}
	r->code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	r->text[0] = '\0';
	while (*line != '\0') {
		eol = line + strcspn(line, "\r\n");
		t = line;
		/*
		 * A line after a line break is a reply line of its own
		 * (smfi_setmlreply): the same code, then '-' or ' '.
		 * Anything else would be a command smuggled into our reply.
		 */
		if (eol - t >= 3 && strncmp(t, s, 3) == 0 &&
		    (t[3] == ' ' || t[3] == '-' || t + 3 == eol))
			t += t + 3 == eol ? 3 : 4;
		else if (!first) {
			*why = "a reply code with a line break in its text";
			return -1;
		}
		if ((el = enh_len(t)) > 0 && t + el <= eol &&
		    (t[el] == ' ' || t + el == eol)) {
			if (first && el < sizeof(r->enh)) {
				memcpy(r->enh, t, el);
				r->enh[el] = '\0';
			}
			t += el;
		}
		while (t < eol && *t == ' ')
			t++;
		n = (size_t)(eol - t);
		text_add(r->text, t, n);
		first = 0;
		line = eol;
		while (*line == '\r' || *line == '\n')
			line++;
	}
	/* The enhanced code's class is the reply's (RFC 3463 2). */
	if (r->enh[0] == '\0' || (r->enh[0] != '4' && r->enh[0] != '5'))
		strlcpy(r->enh, preply_milter_enh(r->code), sizeof(r->enh));
	r->enh[0] = s[0];
	if (r->text[0] == '\0')
		strlcpy(r->text, preply_milter_text(r->code),
		    sizeof(r->text));
	return 0;
}

int
milter_reply_parse(const uint8_t *p, size_t len, struct milter_reply *r,
    const char **why)
{
	const uint8_t	*d = p + 1;
	size_t		 dl;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > MILTER_FRAME_MAX) {
		*why = "a frame of a bad length";
		return -1;
	}
	r->cmd = p[0];
	dl = len - 1;
	switch (r->cmd) {
	case SMFIR_OPTNEG:
		/* Version 6 may append macro lists: not asked, ignored. */
		if (dl < 12) {
			*why = "a short option negotiation";
			return -1;
		}
		r->version = be32(d);
		r->actions = be32(d + 4);
		r->proto = be32(d + 8);
		return 0;
	case SMFIR_ACCEPT:
	case SMFIR_CONTINUE:
	case SMFIR_DISCARD:
	case SMFIR_REJECT:
	case SMFIR_TEMPFAIL:
	case SMFIR_PROGRESS:
	case SMFIR_SKIP:
	case SMFIR_SHUTDOWN:
	case SMFIR_CONN_FAIL:
		if (dl != 0) {
			*why = "data after a reply that has none";
			return -1;
		}
		return 0;
	case SMFIR_REPLYCODE:
		if (!last_string(d, dl) || dl > 4096) {
			*why = "a reply code that is not one string of at "
			    "most 4 KB";
			return -1;
		}
		return replycode((const char *)d, r, why);
	case SMFIR_ADDHEADER:
		return header_change(d, dl, r, why);
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (dl < 4) {
			*why = "a header change without its index";
			return -1;
		}
		r->index = be32(d);
		return header_change(d + 4, dl - 4, r, why);
	case SMFIR_QUARANTINE:
		if (!last_string(d, dl)) {
			*why = "a quarantine reason that is not one string";
			return -1;
		}
		r->code = 0;
		text_add(r->text, (const char *)d, strnlen((const char *)d,
		    MILTER_TEXT_MAX));
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
	case SMFIR_REPLBODY:
	case SMFIR_SETSYMLIST:
		*why = "a change that was not offered (recipients, sender or "
		    "body)";
		return -1;
	}
	*why = "an unknown reply";
	return -1;
}
