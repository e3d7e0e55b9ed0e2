/*
 * text: control characters out of text that others wrote.
 *
 * A terminal acts on C0 controls, on C1 controls as single octets
 * (0x9b is CSI in ISO 8859 terminals) and as UTF-8 (U+009B in UTF-8
 * ones), so text a child or a client produced is reduced to printable
 * UTF-8 before relayctl prints it or the parent passes it on.
 */
#include <stdint.h>
#include <string.h>

#include "text.h"

/* The length of the well-formed UTF-8 sequence at p, and its code point. */
static size_t
utf8_len(const unsigned char *p, uint32_t *cp)
{
	size_t		n, i;
	uint32_t	c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

size_t
text_clean(char *s)
{
	unsigned char	*r = (unsigned char *)s, *w = r;
	uint32_t	 cp;
	size_t		 n, replaced = 0, i;

	while (*r != '\0') {
		n = utf8_len(r, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp <= 0x9f)) {
			*w++ = '?';
			r += n ? n : 1;
			replaced++;
			continue;
		}
		for (i = 0; i < n; i++)
			*w++ = *r++;
	}
	*w = '\0';
	return replaced;
}

static int
word_end(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || strchr("()<>[],;:='\"",
	    c) != NULL;
}

/* Where the address around the '@' at p begins, not before from. */
static size_t
addr_start(const char *in, size_t from, size_t p)
{
	size_t a = p;

	if (a > from && in[a - 1] == '"') {
		/* A quoted local part, spaces and all. */
		for (a -= 1; a > from && in[a - 1] != '"'; a--)
			;
		return a > from ? a - 1 : a;
	}
	while (a > from && !word_end(in[a - 1]))
		a--;
	return a;
}

/* Where it ends: after the domain, or after a bracketed literal. */
static size_t
addr_end(const char *in, size_t p)
{
	size_t b = p + 1;

	if (in[b] == '[') {
		while (in[b] != '\0' && in[b] != ']')
			b++;
		return in[b] == ']' ? b + 1 : b;
	}
	while (!word_end(in[b]))
		b++;
	return b;
}

static void
redact_put(char *out, size_t sz, size_t *o, const char *s, size_t n)
{
	if (*o + 1 >= sz)
		return;
	if (n > sz - 1 - *o)
		n = sz - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
}

size_t
text_redact(const char *in, char *out, size_t sz)
{
	const char	*at;
	size_t		 i = 0, o = 0, a, b, n = 0;

	if (sz == 0)
		return 0;
	while ((at = strchr(in + i, '@')) != NULL) {
		a = addr_start(in, i, (size_t)(at - in));
		b = addr_end(in, (size_t)(at - in));
		redact_put(out, sz, &o, in + i, a - i);
		/* A lone '@' between spaces names nobody. */
		if (b - a == 1)
			redact_put(out, sz, &o, "@", 1);
		else {
			redact_put(out, sz, &o, "redacted", 8);
			n++;
		}
		i = b;
	}
	redact_put(out, sz, &o, in + i, strlen(in + i));
	out[o] = '\0';
	return n;
}
