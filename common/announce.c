/*
 * announce: the text of an announcement, checked (announce.h).
 */
#include <string.h>
#include <strings.h>

#include "announce.h"
#include "config.h"

#define SUBJECT_DEFAULT	"An announcement from the mail relay's operator"

/* The length of a valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p, size_t left)
{
	unsigned	c = p[0];
	size_t		n, i;
	unsigned long	cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong, surrogates, past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

const char *
announce_text_check(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, col = 0, n;

	if (len == 0)
		return "the text is empty";
	if (len > ANNOUNCE_MAX)
		return "the text is longer than 64 KB";
	while (i < len) {
		if (p[i] == '\n') {
			col = 0;
			i++;
			continue;
		}
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return "not text: a CR not before LF";
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\r') ||
		    p[i] == 0x7f)
			return "not text: a control character";
		if ((n = utf8_len(p + i, len - i)) == 0)
			return "not text: not UTF-8";
		if (p[i] != '\r' && (col += n) > ANNOUNCE_LINE_MAX)
			return "a line is longer than 998 octets";
		i += n;
	}
	return NULL;
}

unsigned
announce_role(const char *name)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} roles[] = {
		{ "technical", CONTACT_TECHNICAL },
		{ "emergency", CONTACT_EMERGENCY },
		{ "policy", CONTACT_POLICY },
		{ "billing", CONTACT_BILLING },
	};
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0)
			return roles[i].bit;
	return 0;
}

void
announce_subject(const char *s, size_t len, char *buf, size_t sz,
    size_t *skip)
{
	const char	*nl;
	size_t		 n, i, pre = sizeof("Subject: ") - 1;

	*skip = 0;
	strlcpy(buf, SUBJECT_DEFAULT, sz);
	if (len < pre || strncasecmp(s, "Subject: ", pre) != 0 ||
	    (nl = memchr(s, '\n', len)) == NULL)
		return;
	n = (size_t)(nl - s) - pre;
	if (n > 0 && s[pre + n - 1] == '\r')
		n--;
	/* A header's text: printable ASCII, bounded, not empty. */
	if (n == 0 || n > ANNOUNCE_SUBJECT_MAX || n >= sz)
		return;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[pre + i] < 0x20 ||
		    (unsigned char)s[pre + i] > 0x7e)
			return;
	memcpy(buf, s + pre, n);
	buf[n] = '\0';
	*skip = (size_t)(nl - s) + 1;
	/* And the blank line that ends the "header", if there is one. */
	if (*skip < len && s[*skip] == '\n')
		(*skip)++;
	else if (*skip + 1 < len && s[*skip] == '\r' && s[*skip + 1] == '\n')
		*skip += 2;
}
