/*
 * mta_sts_parse: the TXT record, the HTTP response and the policy file of
 * MTA-STS (RFC 8461), read strictly and within bounds.  Pure: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mta_sts.h"

const char *
sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_ENFORCE:
		return "enforce";
	case STS_TESTING:
		return "testing";
	case STS_NONE:
		break;
	}
	return "none";
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* One record: "v=STSv1" then "; key=value" fields; the id is kept. */
static int
txt_one(const char *s, size_t len, char id[STS_ID_MAX + 1])
{
	size_t	i = 7, start, klen, vlen, k;
	int	have_id = 0;

	if (len < 7 || memcmp(s, "v=STSv1", 7) != 0)
		return -1;
	while (i < len) {
		while (i < len && is_wsp(s[i]))
			i++;
		if (i == len)
			break;
		if (s[i++] != ';')
			return -1;
		while (i < len && is_wsp(s[i]))
			i++;
		if (i == len)
			break;		/* a final ";" */
		for (start = i; i < len && s[i] != '=' && s[i] != ';'; i++)
			;
		if (i == len || s[i] != '=')
			return -1;
		klen = i - start;
		for (k = ++i; i < len && s[i] != ';' && !is_wsp(s[i]); i++)
			;
		vlen = i - k;
		if (klen == 2 && memcmp(s + start, "id", 2) == 0) {
			if (have_id || vlen == 0 || vlen > STS_ID_MAX)
				return -1;
			for (size_t j = 0; j < vlen; j++)
				if (!isalnum((unsigned char)s[k + j]))
					return -1;
			memcpy(id, s + k, vlen);
			id[vlen] = '\0';
			have_id = 1;
		}
	}
	return have_id ? 0 : -1;
}

int
sts_txt_id(const char *const *txt, const size_t *len, size_t n,
    char id[STS_ID_MAX + 1])
{
	size_t	i, found = 0;

	for (i = 0; i < n; i++) {
		/* Records for other purposes are no concern of ours. */
		if (len[i] < 7 || memcmp(txt[i], "v=STSv1", 7) != 0)
			continue;
		if (++found > 1 || txt_one(txt[i], len[i], id) == -1)
			return -1;
	}
	return found == 1 ? 0 : -1;
}

/* The next header line (without its CRLF), or NULL at the blank line. */
static const char *
next_line(const char *p, const char *end, size_t *llen, const char **after)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl == NULL)
		return NULL;
	*after = nl + 1;
	*llen = (size_t)(nl - p);
	if (*llen > 0 && p[*llen - 1] == '\r')
		(*llen)--;
	return p;
}

static int
hdr_is(const char *line, size_t len, const char *name, const char **val,
    size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return 0;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && is_wsp(*line)) {
		line++;
		len--;
	}
	while (len > 0 && is_wsp(line[len - 1]))
		len--;
	*val = line;
	*vlen = len;
	return 1;
}

/* "text/plain", with parameters or none (RFC 8461 3.2). */
static int
text_plain(const char *v, size_t len)
{
	return len >= 10 && strncasecmp(v, "text/plain", 10) == 0 &&
	    (len == 10 || v[10] == ';' || is_wsp(v[10]));
}

/* Chunked transfer coding undone into out; 1, 0 (more), -1. */
static int
unchunk(const char *p, size_t len, int eof, char *out, size_t *olen,
    char *why, size_t whysz)
{
	size_t	off = 0, size, o = 0, digits;
	int	c;

	for (;;) {
		for (size = 0, digits = 0; off < len &&
		    isxdigit((unsigned char)p[off]); off++, digits++) {
			c = tolower((unsigned char)p[off]);
			if (digits == 6) {
				snprintf(why, whysz, "chunk too large");
				return -1;
			}
			size = size * 16 + (size_t)(isdigit(c) ? c - '0' :
			    c - 'a' + 10);
		}
		/* Chunk extensions are allowed, and ignored. */
		while (off < len && p[off] != '\n')
			off++;
		if (off == len)
			goto more;
		if (digits == 0) {
			snprintf(why, whysz, "malformed chunk");
			return -1;
		}
		off++;
		if (size == 0)
			break;
		if (o + size > STS_BODY_MAX) {
			snprintf(why, whysz, "policy larger than %d octets",
			    STS_BODY_MAX);
			return -1;
		}
		if (len - off < size + 1)
			goto more;
		memcpy(out + o, p + off, size);
		o += size;
		off += size;
		if (p[off] == '\r')
			off++;
		if (off == len)
			goto more;
		if (p[off++] != '\n') {
			snprintf(why, whysz, "malformed chunk");
			return -1;
		}
	}
	*olen = o;
	return 1;		/* trailers, if any, are not read */
more:
	if (eof) {
		snprintf(why, whysz, "the response ends within a chunk");
		return -1;
	}
	return 0;
}

int
sts_http_response(const char *buf, size_t len, int eof, char *body,
    size_t *blen, char *why, size_t whysz)
{
	const char	*p, *end, *line, *v, *next, *head_end = NULL;
	size_t		 llen, vlen, clen = 0, i;
	int		 status, chunked = 0, has_clen = 0, typed = 0;

	end = buf + len;
	for (p = buf; p < end && (size_t)(p - buf) < STS_HEAD_MAX; p++)
		if (*p == '\n' && ((p + 1 < end && p[1] == '\n') ||
		    (p + 2 < end && p[1] == '\r' && p[2] == '\n'))) {
			head_end = p + (p[1] == '\n' ? 2 : 3);
			break;
		}
	if (head_end == NULL) {
		if (len >= STS_HEAD_MAX) {
			snprintf(why, whysz, "response header too large");
			return -1;
		}
		if (eof) {
			snprintf(why, whysz, "truncated response header");
			return -1;
		}
		return 0;
	}
	if ((line = next_line(buf, head_end, &llen, &next)) == NULL ||
	    llen < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) ||
	    !isdigit((unsigned char)line[11]) ||
	    (llen > 12 && line[12] != ' ')) {
		snprintf(why, whysz, "malformed HTTP status line");
		return -1;
	}
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
	    (line[11] - '0');
	if (status != 200) {
		snprintf(why, whysz, "HTTP status %d%s", status,
		    status >= 300 && status < 400 ? " (redirects are not "
		    "followed)" : "");
		return -1;
	}
	for (p = next; (line = next_line(p, head_end, &llen, &next)) != NULL &&
	    llen > 0; p = next) {
		for (i = 0; i < llen; i++)
			if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
				snprintf(why, whysz, "malformed HTTP header");
				return -1;
			}
		if (hdr_is(line, llen, "Content-Type", &v, &vlen)) {
			if (!text_plain(v, vlen)) {
				snprintf(why, whysz, "the policy is not "
				    "text/plain");
				return -1;
			}
			typed = 1;
		} else if (hdr_is(line, llen, "Transfer-Encoding", &v, &vlen)) {
			if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0) {
				snprintf(why, whysz, "unknown transfer "
				    "coding");
				return -1;
			}
			chunked = 1;
		} else if (hdr_is(line, llen, "Content-Length", &v, &vlen)) {
			if (has_clen || vlen == 0 || vlen > 9) {
				snprintf(why, whysz, "bad Content-Length");
				return -1;
			}
			for (i = 0, clen = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)v[i])) {
					snprintf(why, whysz, "bad "
					    "Content-Length");
					return -1;
				}
				clen = clen * 10 + (size_t)(v[i] - '0');
			}
			has_clen = 1;
		}
	}
	if (!typed) {
		snprintf(why, whysz, "the policy is not text/plain");
		return -1;
	}
	len = (size_t)(end - head_end);
	if (chunked)
		return unchunk(head_end, len, eof, body, blen, why, whysz);
	if ((has_clen && clen > STS_BODY_MAX) || len > STS_BODY_MAX) {
		snprintf(why, whysz, "policy larger than %d octets",
		    STS_BODY_MAX);
		return -1;
	}
	if (has_clen && len < clen) {
		if (!eof)
			return 0;
		snprintf(why, whysz, "the response ends before its "
		    "Content-Length");
		return -1;
	}
	if (!has_clen && !eof)
		return 0;
	*blen = has_clen ? clen : len;
	memcpy(body, head_end, *blen);
	return 1;
}

/* An mx pattern: a host name, or "*." and one (RFC 8461 3.2, 4.1). */
static int
valid_pattern(const char *s)
{
	size_t i, len = strlen(s), label = 0;

	if (len > 2 && s[0] == '*' && s[1] == '.')
		s += 2, len -= 2;
	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

static int
known_key(const char *k, size_t len)
{
	static const char *const keys[] = { "version", "mode", "max_age",
	    "mx" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == len && memcmp(k, keys[i], len) == 0)
			return 1;
	return 0;
}

static int
field(struct sts_policy *pol, const char *key, size_t klen, char *val,
    unsigned *seen, char *why, size_t whysz)
{
	const char	*errstr;
	size_t		 i;

#define SEEN(bit)	do { if (*seen & (bit)) goto twice; *seen |= (bit); \
			} while (0)
	if (klen == 7 && memcmp(key, "version", 7) == 0) {
		SEEN(1);
		if (strcmp(val, "STSv1") != 0) {
			snprintf(why, whysz, "unknown policy version");
			return -1;
		}
	} else if (klen == 4 && memcmp(key, "mode", 4) == 0) {
		SEEN(2);
		if (strcmp(val, "enforce") == 0)
			pol->mode = STS_ENFORCE;
		else if (strcmp(val, "testing") == 0)
			pol->mode = STS_TESTING;
		else if (strcmp(val, "none") == 0)
			pol->mode = STS_NONE;
		else {
			snprintf(why, whysz, "unknown mode");
			return -1;
		}
	} else if (klen == 7 && memcmp(key, "max_age", 7) == 0) {
		SEEN(4);
		for (i = 0; val[i] != '\0'; i++)
			if (!isdigit((unsigned char)val[i]) || i == 10)
				goto bad_age;
		pol->max_age = (uint32_t)strtonum(val, 0, UINT32_MAX,
		    &errstr);
		if (i == 0 || errstr != NULL)
			goto bad_age;
		if (pol->max_age > STS_MAX_AGE)
			pol->max_age = STS_MAX_AGE;
	} else if (klen == 2 && memcmp(key, "mx", 2) == 0) {
		for (i = 0; val[i] != '\0'; i++)
			val[i] = (char)tolower((unsigned char)val[i]);
		if (!valid_pattern(val)) {
			snprintf(why, whysz, "bad mx pattern");
			return -1;
		}
		if (pol->nmx < STS_MX_MAX)
			strlcpy(pol->mx[pol->nmx++], val, DNS_NAME_MAX);
	}
	/* Other keys are extensions: ignored (RFC 8461 3.2). */
	return 0;
twice:
	snprintf(why, whysz, "a field given twice");
	return -1;
bad_age:
	snprintf(why, whysz, "bad max_age");
	return -1;
#undef SEEN
}

int
sts_policy_parse(const char *body, size_t len, struct sts_policy *pol,
    char *why, size_t whysz)
{
	const char	*p, *end = body + len, *nl, *colon, *next;
	char		 val[DNS_NAME_MAX];
	size_t		 llen, klen, vlen, i;
	unsigned	 seen = 0;

	memset(pol, 0, sizeof(*pol));
	if (len > STS_BODY_MAX) {
		snprintf(why, whysz, "policy too large");
		return -1;
	}
	for (p = body; p < end; p = next) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		next = nl == end ? end : nl + 1;
		llen = (size_t)(nl - p);
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (llen == 0)
			continue;
		for (i = 0; i < llen; i++)
			if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
				snprintf(why, whysz, "control characters in "
				    "the policy");
				return -1;
			}
		if ((colon = memchr(p, ':', llen)) == NULL || colon == p) {
			snprintf(why, whysz, "a line is not \"key: value\"");
			return -1;
		}
		klen = (size_t)(colon - p);
		for (i = 0; i < klen; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '_' &&
			    p[i] != '-') {
				snprintf(why, whysz, "a bad key");
				return -1;
			}
		colon++;
		vlen = llen - klen - 1;
		while (vlen > 0 && is_wsp(*colon))
			colon++, vlen--;
		while (vlen > 0 && is_wsp(colon[vlen - 1]))
			vlen--;
		if (vlen >= sizeof(val)) {
			/* Only an extension's value can be this long. */
			if (known_key(p, klen)) {
				snprintf(why, whysz, "a value too long");
				return -1;
			}
			continue;
		}
		memcpy(val, colon, vlen);
		val[vlen] = '\0';
		if (field(pol, p, klen, val, &seen, why, whysz) == -1)
			return -1;
	}
	if ((seen & 7) != 7) {
		snprintf(why, whysz, "version, mode or max_age missing");
		return -1;
	}
	if (pol->mode != STS_NONE && pol->nmx == 0) {
		snprintf(why, whysz, "no mx pattern");
		return -1;
	}
	return 0;
}

int
sts_mx_match(const struct sts_policy *pol, const char *host)
{
	const char	*dot;
	size_t		 i;

	for (i = 0; i < pol->nmx; i++) {
		const char *pat = pol->mx[i];

		if (pat[0] == '*' && pat[1] == '.') {
			/* Exactly one label in place of the star. */
			dot = strchr(host, '.');
			if (dot != NULL && dot != host &&
			    strcasecmp(dot + 1, pat + 2) == 0)
				return 1;
		} else if (strcasecmp(host, pat) == 0)
			return 1;
	}
	return 0;
}
