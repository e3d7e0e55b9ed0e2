/*
 * http_parse: the head of an HTTP request, checked (RFC 9112).  Pure, so
 * it can be fuzzed (regress/fuzz/http_request.c).  Only GET /metrics is
 * served; everything is read, nothing is kept.
 */
#include <string.h>

#include "metricsd.h"

/* RFC 9110 5.6.2 tchar. */
static int
tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The end of the head: its length with the blank line, or 0. */
static size_t
head_len(const char *b, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (b[i] != '\n')
			continue;
		if (b[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* One line, without its CRLF or LF: its length, or -1 if none. */
static long
http_line_len(const char *b, size_t len)
{
	const char *nl = memchr(b, '\n', len);

	if (nl == NULL)
		return -1;
	if (nl > b && nl[-1] == '\r')
		return nl - b - 1;
	return nl - b;
}

static int
header_ok(const char *l, size_t n)
{
	size_t i = 0;

	while (i < n && tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return 0;
	for (i++; i < n; i++) {
		unsigned char ch = (unsigned char)l[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return 1;
}

/* METHOD SP target SP HTTP/1.x */
static int
request_line(const char *l, size_t n, struct http_req *r)
{
	size_t	m = 0, t, tl = 0, i;
	int	get;

	while (m < n && tchar((unsigned char)l[m]))
		m++;
	if (m == 0 || m >= n || l[m] != ' ')
		return 400;
	get = m == 3 && memcmp(l, "GET", 3) == 0;
	t = m + 1;
	while (t + tl < n && l[t + tl] != ' ')
		tl++;
	if (tl == 0 || t + tl >= n || l[t] != '/')
		return 400;
	for (i = t; i < t + tl; i++)
		if ((unsigned char)l[i] <= 0x20 || (unsigned char)l[i] >= 0x7f)
			return 400;
	i = t + tl + 1;
	if (n - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 ||
	    (l[i + 7] != '0' && l[i + 7] != '1'))
		return 400;
	r->minor = l[i + 7] - '0';
	if (!get)
		return 405;
	/* The path, without a query. */
	for (i = t; i < t + tl && l[i] != '?'; i++)
		;
	if (i - t != 8 || memcmp(l + t, "/metrics", 8) != 0)
		return 404;
	return 200;
}

int
http_parse(const char *b, size_t len, struct http_req *r)
{
	size_t	end, off;
	long	n;
	int	status;

	memset(r, 0, sizeof(*r));
	r->minor = 0;
	if ((end = head_len(b, len)) == 0)
		return HTTP_MORE;
	if ((n = http_line_len(b, end)) <= 0) {
		r->status = 400;
		return 0;
	}
	status = request_line(b, (size_t)n, r);
	off = (size_t)n + (b[n] == '\r' ? 2 : 1);
	while (off < end) {
		if ((n = http_line_len(b + off, end - off)) == -1)
			break;
		if (n == 0)		/* the blank line */
			break;
		/* A folded line (obs-fold) or junk: refused. */
		if (!header_ok(b + off, (size_t)n)) {
			status = 400;
			break;
		}
		off += (size_t)n + (b[off + n] == '\r' ? 2 : 1);
	}
	r->status = status;
	return 0;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 503:
		return "Service Unavailable";
	}
	return "Error";
}
