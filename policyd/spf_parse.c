/*
 * spf_parse: the syntax of SPF records (RFC 7208 sections 4.6, 5, 6 and
 * the ABNF of 12), checked whole before any term is evaluated: an error
 * anywhere is a permerror, even after a term that would have matched.
 *
 *	record    = "v=spf1" *( 1*SP ( directive / modifier ) ) *SP
 *	directive = [ "+" / "-" / "?" / "~" ] mechanism
 *	mechanism = all / include:D / a[:D][/n][//m] / mx[:D][/n][//m] /
 *	            ptr[:D] / ip4:net[/n] / ip6:net[/m] / exists:D
 *	modifier  = redirect=D / exp=D / name=macro-string
 *
 * D, a domain-spec, is a macro-string that ends in a macro or in "."
 * and a top label that is not all digits.  Names are matched without
 * regard to case; redirect and exp may each appear once.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "spf.h"

static const struct {
	const char	*name;
	enum spf_kind	 kind;
} mechs[] = {
	{ "all", SPF_K_ALL },
	{ "include", SPF_K_INCLUDE },
	{ "a", SPF_K_A },
	{ "mx", SPF_K_MX },
	{ "ptr", SPF_K_PTR },
	{ "ip4", SPF_K_IP4 },
	{ "ip6", SPF_K_IP6 },
	{ "exists", SPF_K_EXISTS },
};

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

int
spf_is_record(const char *s, size_t len)
{
	return len >= 6 && strncasecmp(s, "v=spf1", 6) == 0 &&
	    (len == 6 || s[6] == ' ');
}

int
spf_valid_domain(const char *name)
{
	size_t	len = strlen(name), label = 0, labels = 1, i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX - 1)
		return 0;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && labels >= 2;
}

/* toplabel: alphanumerics and dashes, not all digits, no dash at an end. */
static int
valid_toplabel(const char *s, size_t len)
{
	size_t	i;
	int	alpha = 0, dash = 0;

	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return 0;
	for (i = 0; i < len; i++) {
		if (is_alpha(s[i]))
			alpha = 1;
		else if (s[i] == '-')
			dash = 1;
		else if (!is_digit(s[i]))
			return 0;
	}
	return alpha || dash;
}

/* domain-spec = macro-string domain-end; c, r and t are not allowed. */
static int
valid_domain_spec(const char *s, size_t len)
{
	size_t last, end, i;

	if (len == 0 || spf_macro_check(s, len, 0, &last) == -1)
		return 0;
	if (last == len)
		return 1;		/* ends in a macro-expand */
	end = s[len - 1] == '.' ? len - 1 : len;
	for (i = end; i > 0 && s[i - 1] != '.'; i--)
		;
	/* "." toplabel [ "." ], the dot outside any macro */
	if (i == 0 || i - 1 < last)
		return 0;
	return valid_toplabel(s + i, end - i);
}

/*
 * A prefix length at the end of s: one or two slashes (a and mx give
 * the IPv6 one with two), then "0" or a number without leading zeros.
 * 1: found and stripped; 0: none; -1: malformed or over max.
 */
static int
strip_cidr(const char *s, size_t *len, int slashes, unsigned max,
    uint8_t *out)
{
	size_t		k = *len, nd, i;
	unsigned	v = 0;

	while (k > 0 && is_digit(s[k - 1]))
		k--;
	nd = *len - k;
	if (nd == 0 || k == 0 || s[k - 1] != '/')
		return 0;
	if ((slashes == 2) != (k >= 2 && s[k - 2] == '/'))
		return 0;
	if ((nd > 1 && s[k] == '0') || nd > (max > 32 ? 3u : 2u))
		return -1;
	for (i = 0; i < nd; i++)
		v = v * 10 + (unsigned)(s[k + i] - '0');
	if (v > max)
		return -1;
	*out = (uint8_t)v;
	*len = k - (size_t)slashes;
	return 1;
}

/* ip4-network: four decimal octets, no leading zeros. */
static int
parse_ip4(const char *s, size_t len, uint8_t *addr)
{
	size_t		i = 0, part;
	unsigned	v;

	for (part = 0; part < 4; part++) {
		size_t start = i;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			start = ++i;
		}
		for (v = 0; i < len && is_digit(s[i]) && i - start < 3; i++)
			v = v * 10 + (unsigned)(s[i] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return -1;
		addr[part] = (uint8_t)v;
	}
	return i == len ? 0 : -1;
}

static int
parse_ip(struct spf_term *t, const char *s, size_t len)
{
	char	buf[64];
	int	v6 = t->kind == SPF_K_IP6;

	t->cidr4 = 32;
	t->cidr6 = 128;
	if (strip_cidr(s, &len, 1, v6 ? 128 : 32,
	    v6 ? &t->cidr6 : &t->cidr4) == -1)
		return -1;
	if (len == 0 || len >= sizeof(buf) || memchr(s, '/', len) != NULL)
		return -1;
	if (!v6)
		return parse_ip4(s, len, t->addr);
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, t->addr) == 1 ? 0 : -1;
}

/* a and mx: [ ":" domain-spec ] [ ip4-cidr ] [ "//" ip6-cidr ] */
static int
parse_a_mx(struct spf_term *t, const char *s, size_t len, size_t base)
{
	t->cidr4 = 32;
	t->cidr6 = 128;
	if (strip_cidr(s, &len, 2, 128, &t->cidr6) == -1 ||
	    strip_cidr(s, &len, 1, 32, &t->cidr4) == -1)
		return -1;
	if (len == 0)
		return 0;
	if (s[0] != ':' || !valid_domain_spec(s + 1, len - 1))
		return -1;
	t->doff = (uint16_t)(base + 1);
	t->dlen = (uint16_t)(len - 1);
	return 0;
}

static int
parse_directive(struct spf_term *t, const char *s, size_t len, size_t off)
{
	size_t	n, i;

	t->qual = SPF_PASS;
	if (len > 0 && strchr("+-?~", s[0]) != NULL) {
		t->qual = s[0] == '+' ? SPF_PASS : s[0] == '-' ? SPF_FAIL :
		    s[0] == '?' ? SPF_NEUTRAL : SPF_SOFTFAIL;
		s++;
		len--;
		off++;
	}
	for (n = 0; n < len && s[n] != ':' && s[n] != '/'; n++)
		;
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strlen(mechs[i].name) == n &&
		    strncasecmp(s, mechs[i].name, n) == 0)
			break;
	if (i == sizeof(mechs) / sizeof(mechs[0]))
		return -1;
	t->kind = (uint8_t)mechs[i].kind;
	s += n;
	len -= n;
	off += n;
	switch (t->kind) {
	case SPF_K_ALL:
		return len == 0 ? 0 : -1;
	case SPF_K_A:
	case SPF_K_MX:
		return parse_a_mx(t, s, len, off);
	case SPF_K_IP4:
	case SPF_K_IP6:
		if (len == 0 || s[0] != ':')
			return -1;
		return parse_ip(t, s + 1, len - 1);
	case SPF_K_PTR:
		if (len == 0)
			return 0;
		/* FALLTHROUGH */
	default:	/* include, exists */
		if (len < 2 || s[0] != ':' || !valid_domain_spec(s + 1,
		    len - 1))
			return -1;
		t->doff = (uint16_t)(off + 1);
		t->dlen = (uint16_t)(len - 1);
		return 0;
	}
}

static int
parse_term(const char *rec, size_t off, size_t len, struct spf_record *r,
    char *why, size_t whysz)
{
	struct spf_term	*t = &r->terms[r->nterms];
	const char	*s = rec + off;
	size_t		 n = 0, last;
	int		*seen = NULL;

	memset(t, 0, sizeof(*t));
	t->off = (uint16_t)off;
	t->len = (uint16_t)len;
	/* name "=" makes a modifier: name = ALPHA *( ALPHA DIGIT - _ . ) */
	while (n < len && (is_alpha(s[n]) || (n > 0 && (is_digit(s[n]) ||
	    s[n] == '-' || s[n] == '_' || s[n] == '.'))))
		n++;
	if (n == 0 || n == len || s[n] != '=') {
		if (parse_directive(t, s, len, off) == 0) {
			if (t->kind == SPF_K_ALL)
				r->has_all = 1;
			return 0;
		}
		snprintf(why, whysz, "syntax error at \"%.*s\"",
		    (int)(len > 64 ? 64 : len), s);
		return -1;
	}
	t->doff = (uint16_t)(off + n + 1);
	t->dlen = (uint16_t)(len - n - 1);
	if (n == 8 && strncasecmp(s, "redirect", 8) == 0) {
		t->kind = SPF_K_REDIRECT;
		seen = &r->redirect;
	} else if (n == 3 && strncasecmp(s, "exp", 3) == 0) {
		t->kind = SPF_K_EXP;
		seen = &r->exp;
	} else
		t->kind = SPF_K_UNKNOWN;
	if (seen != NULL && *seen != -1) {
		snprintf(why, whysz, "%.*s= appears twice", (int)n, s);
		return -1;
	}
	if (seen != NULL ? !valid_domain_spec(s + n + 1, len - n - 1) :
	    spf_macro_check(s + n + 1, len - n - 1, 1, &last) == -1) {
		snprintf(why, whysz, "syntax error at \"%.*s\"",
		    (int)(len > 64 ? 64 : len), s);
		return -1;
	}
	if (seen != NULL)
		*seen = (int)r->nterms;
	return 0;
}

int
spf_record_parse(const char *rec, size_t len, struct spf_term *terms,
    size_t max, struct spf_record *r, char *why, size_t whysz)
{
	size_t i = 6, start;

	memset(r, 0, sizeof(*r));
	r->terms = terms;
	r->redirect = -1;
	r->exp = -1;
	why[0] = '\0';
	if (!spf_is_record(rec, len)) {
		snprintf(why, whysz, "not an SPF record");
		return -1;
	}
	if (len > UINT16_MAX) {
		snprintf(why, whysz, "record longer than %u octets",
		    UINT16_MAX);
		return -1;
	}
	while (i < len) {
		if (rec[i] == ' ') {
			i++;
			continue;
		}
		for (start = i; i < len && rec[i] != ' '; i++)
			;
		if (r->nterms == max) {
			snprintf(why, whysz, "more than %zu terms", max);
			return -1;
		}
		if (parse_term(rec, start, i - start, r, why, whysz) == -1)
			return -1;
		r->nterms++;
	}
	return 0;
}
