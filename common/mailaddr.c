/*
 * mailaddr: RFC 5321 section 4.1.2 path grammar.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailaddr.h"

static int
is_atext(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Length of one well-formed UTF-8 sequence at p (non-ASCII), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	size_t	n, i;
	unsigned c = p[0], cp;

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
	/* Overlong forms, surrogates and beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Validate a dot-string or quoted-string local part. */
static enum mailaddr_err
local_check(const unsigned char *s, size_t len, int flags, int *quoted,
    int *utf8)
{
	size_t i, n;
	int dot_ok = 0;

	*quoted = 0;
	if (len == 0)
		return MA_ESYNTAX;
	if (len > MAILADDR_LOCAL_MAX)
		return MA_ELOCAL_LONG;
	if (s[0] == '"') {
		*quoted = 1;
		if (len < 2 || s[len - 1] != '"')
			return MA_ESYNTAX;
		for (i = 1; i < len - 1; i++) {
			if (s[i] == '\\') {
				if (++i >= len - 1 || s[i] < 32 || s[i] > 126)
					return MA_ESYNTAX;
			} else if (s[i] == '"' || s[i] < 32 || s[i] == 127)
				return MA_ESYNTAX;
			else if (s[i] >= 128) {
				if (!(flags & MA_UTF8))
					return MA_EUTF8;
				if ((n = utf8_seq(s + i, len - 1 - i)) == 0)
					return MA_ESYNTAX;
				*utf8 = 1;
				i += n - 1;
			}
		}
		return MA_OK;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!dot_ok)
				return MA_ESYNTAX;
			dot_ok = 0;
			continue;
		}
		if (s[i] >= 128) {
			if (!(flags & MA_UTF8))
				return MA_EUTF8;
			if ((n = utf8_seq(s + i, len - i)) == 0)
				return MA_ESYNTAX;
			*utf8 = 1;
			i += n - 1;
		} else if (!is_atext(s[i]))
			return MA_ESYNTAX;
		dot_ok = 1;
	}
	return dot_ok ? MA_OK : MA_ESYNTAX;
}

int
mailaddr_valid_domain(const char *str, size_t len, int flags)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i, n, lab = 0, labels = 1;
	int alldigit = 1;

	if (len == 0 || len > MAILADDR_DOMAIN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
			labels++;
			alldigit = 1;
			continue;
		}
		if (s[i] >= 128) {
			if (!(flags & MA_UTF8) ||
			    (n = utf8_seq(s + i, len - i)) == 0)
				return 0;
			i += n - 1;
			lab += n;
			alldigit = 0;
		} else if (isalnum(s[i]) || (s[i] == '-' && lab > 0)) {
			if (!isdigit(s[i]))
				alldigit = 0;
			lab++;
		} else
			return 0;
		if (lab > 63)
			return 0;
	}
	if (lab == 0 || s[len - 1] == '-')
		return 0;
	if (flags & MA_NO_FQDN)
		return 1;
	/* Fully qualified: two labels at least, and a TLD that is a name. */
	return labels >= 2 && !alldigit;
}

int
mailaddr_valid_literal(const char *s, size_t len)
{
	char buf[64];
	unsigned char a[16];

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, a) == 1;
	/* inet_pton refuses the leading zeros inet_aton would accept. */
	return inet_pton(AF_INET, buf, a) == 1;
}

enum mailaddr_err
mailaddr_parse(const char *s, size_t len, int flags, struct mailaddr *ma)
{
	const char *at = NULL;
	size_t i, llen, dlen;
	int inq = 0;
	enum mailaddr_err e;

	memset(ma, 0, sizeof(*ma));
	if (memchr(s, '\0', len) != NULL)
		return MA_ESYNTAX;
	/* The separating @ is the last one outside a quoted string. */
	for (i = 0; i < len; i++) {
		if (inq && s[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (s[i] == '"')
			inq = !inq;
		else if (s[i] == '@' && !inq)
			at = s + i;
	}
	if (at == NULL)
		return MA_ESYNTAX;
	llen = (size_t)(at - s);
	dlen = len - llen - 1;
	if ((e = local_check((const unsigned char *)s, llen, flags,
	    &ma->quoted, &ma->utf8)) != MA_OK)
		return e;
	if (dlen == 0 || dlen > MAILADDR_DOMAIN_MAX)
		return MA_EDOMAIN;
	if (at[1] == '[') {
		if (!mailaddr_valid_literal(at + 1, dlen))
			return MA_EDOMAIN;
		ma->literal = 1;
	} else {
		for (i = 0; i < dlen; i++)
			if ((unsigned char)at[1 + i] >= 128) {
				if (!(flags & MA_UTF8))
					return MA_EUTF8;
				ma->utf8 = 1;
			}
		if (!mailaddr_valid_domain(at + 1, dlen, flags))
			return MA_EDOMAIN;
	}
	memcpy(ma->local, s, llen);
	ma->local[llen] = '\0';
	memcpy(ma->domain, at + 1, dlen);
	ma->domain[dlen] = '\0';
	return MA_OK;
}

/* Skip "@dom,@dom:" (RFC 5321 A-d-l); accepted and ignored. */
static size_t
source_route_len(const char *s, size_t len)
{
	size_t i = 0, start;

	if (len == 0 || s[0] != '@')
		return 0;
	for (;;) {
		if (i >= len || s[i] != '@')
			return (size_t)-1;
		start = ++i;
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len || !mailaddr_valid_domain(s + start, i - start,
		    MA_NO_FQDN))
			return (size_t)-1;
		if (s[i++] == ':')
			return i;
	}
}

size_t
mailpath_len(const char *s, size_t len)
{
	size_t end;
	int inq = 0;

	if (len < 2 || s[0] != '<')
		return 0;
	for (end = 1; end < len; end++) {
		if (inq && s[end] == '\\' && end + 1 < len) {
			end++;
			continue;
		}
		if (s[end] == '"')
			inq = !inq;
		else if (s[end] == '>' && !inq)
			return end + 1;
	}
	return 0;
}

enum mailaddr_err
mailpath_parse(const char *s, size_t len, int flags, struct mailaddr *ma,
    size_t *used)
{
	size_t i, end, rl;

	memset(ma, 0, sizeof(*ma));
	if ((*used = mailpath_len(s, len)) == 0)
		return MA_ESYNTAX;
	end = *used - 1;
	if (end == 1) {
		if (!(flags & MA_NULL_OK))
			return MA_ESYNTAX;
		ma->null = 1;
		return MA_OK;
	}
	i = 1;
	if ((rl = source_route_len(s + 1, end - 1)) == (size_t)-1)
		return MA_ESYNTAX;
	i += rl;
	return mailaddr_parse(s + i, end - i, flags, ma);
}

const char *
mailaddr_strerror(enum mailaddr_err e)
{
	switch (e) {
	case MA_OK:
		return "ok";
	case MA_ESYNTAX:
		return "syntax error in address";
	case MA_ELOCAL_LONG:
		return "local part too long";
	case MA_EDOMAIN:
		return "domain must be a fully qualified name or an address "
		    "literal";
	case MA_EUTF8:
		return "non-ASCII address without SMTPUTF8";
	}
	return "bad address";
}

void
mailaddr_format(const struct mailaddr *ma, char *buf, size_t sz)
{
	if (ma->null)
		strlcpy(buf, "", sz);
	else
		snprintf(buf, sz, "%s@%s", ma->local, ma->domain);
}

int
mailaddr_is_postmaster(const char *local)
{
	return strcasecmp(local, "postmaster") == 0;
}

int
mailaddr_is_role(const char *local)
{
	return mailaddr_is_postmaster(local) || strcasecmp(local, "abuse") == 0;
}

/* The same for a whole address: its local part, before the last '@'. */
int
mailaddr_addr_is_role(const char *addr)
{
	const char	*at = strrchr(addr, '@');
	char		 local[MAILADDR_LOCAL_MAX + 1];
	size_t		 n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	if (n >= sizeof(local))
		return 0;
	memcpy(local, addr, n);
	local[n] = '\0';
	return mailaddr_is_role(local);
}
