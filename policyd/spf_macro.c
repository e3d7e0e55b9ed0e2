/*
 * spf_macro: the macro language of RFC 7208 section 7.
 *
 *	%{s} sender   %{l} its local part   %{o} its domain   %{d} the domain
 *	%{i} client IP (IPv6 as dotted nibbles)   %{p} its validated name
 *	%{v} "in-addr" or "ip6"   %{h} HELO   and in explanations only:
 *	%{c} client IP, readable   %{r} our host name   %{t} the time
 *
 * A letter takes transformers: a number of right-hand parts to keep and
 * "r" to reverse them, and delimiters to split on ("." unless given);
 * the parts are joined with ".".  An upper-case letter URL-escapes the
 * result.  %% is "%", %_ a space, %- "%20".
 *
 * The strings come from records anyone may publish: output is bounded
 * (a domain keeps its right-hand end, an explanation its start) and
 * nothing here allocates or recurses.
 */
#include <stdint.h>
#include <string.h>

#include "spf.h"

#define VALUE_MAX	512	/* a macro's value, at most, transformed */
#define DOMAIN_BUF	1024	/* a domain's expansion keeps its last half */

/* Where expansion goes: its start (explanations) or its end (domains). */
struct obuf {
	char	*b;
	size_t	 cap;		/* without the NUL */
	size_t	 len;
	int	 keep_tail;
	int	 cut;
};

static int
is_delim(char c)
{
	return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static int
is_letter(char c, int exp)
{
	c = to_lower(c);
	if (c == 'c' || c == 'r' || c == 't')
		return exp;
	return c != '\0' && strchr("slodipvh", c) != NULL;
}

/* RFC 3986 unreserved: left as it is by an upper-case macro. */
static int
unreserved(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void
put(struct obuf *o, char c)
{
	size_t keep;

	if (o->len == o->cap) {
		o->cut = 1;
		if (!o->keep_tail)
			return;
		keep = o->cap / 2;
		memmove(o->b, o->b + o->len - keep, keep);
		o->len = keep;
	}
	o->b[o->len++] = c;
}

static void
put_str(struct obuf *o, const char *s)
{
	while (*s != '\0')
		put(o, *s++);
}

/*
 * One macro-expand at s[0] == '%': its length, or 0 when it is not
 * well-formed.  The parts are returned for the expansion.
 */
struct macro {
	char	 letter;	/* as written */
	unsigned keep;		/* parts to keep; 0: all */
	int	 reverse;
	char	 delims[8];	/* "" means "." */
};

static size_t
macro_parse(const char *s, size_t len, int exp, struct macro *m)
{
	size_t	i = 2, nd = 0;
	int	digits = 0;

	memset(m, 0, sizeof(*m));
	if (len < 2)
		return 0;
	if (s[1] == '%' || s[1] == '_' || s[1] == '-') {
		m->letter = s[1];
		return 2;
	}
	if (s[1] != '{' || i >= len || !is_letter(s[i], exp))
		return 0;
	m->letter = s[i++];
	for (; i < len && is_digit(s[i]); i++) {
		digits = 1;
		/* More parts than any value has: keep them all. */
		if (m->keep < 1000)
			m->keep = m->keep * 10 + (unsigned)(s[i] - '0');
	}
	/* "If a DIGIT is specified, the value MUST be nonzero." */
	if (digits && m->keep == 0)
		return 0;
	if (i < len && to_lower(s[i]) == 'r') {
		m->reverse = 1;
		i++;
	}
	for (; i < len && is_delim(s[i]); i++)
		if (nd < sizeof(m->delims) - 1 && strchr(m->delims, s[i]) ==
		    NULL)
			m->delims[nd++] = s[i];
	if (i >= len || s[i] != '}')
		return 0;
	return i + 1;
}

int
spf_macro_check(const char *s, size_t len, int exp, size_t *last)
{
	struct macro	m;
	size_t		i = 0, n;

	*last = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if ((n = macro_parse(s + i, len - i, exp, &m)) == 0)
				return -1;
			i += n;
			*last = i;
		} else if ((c >= 0x21 && c <= 0x7e) || (c == ' ' && exp))
			i++;
		else
			return -1;
	}
	return 0;
}

int
spf_macro_uses_p(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i++) {
		if (s[i] != '%')
			continue;
		if (s[i + 1] == '{' && to_lower(s[i + 2]) == 'p')
			return 1;
		i++;	/* "%%{p}" is the text "%{p}" */
	}
	return 0;
}

static const char *
value_of(const struct spf_macro_env *env, char letter)
{
	const char *v;

	switch (to_lower(letter)) {
	case 's':
		v = env->s;
		break;
	case 'l':
		v = env->l;
		break;
	case 'o':
		v = env->o;
		break;
	case 'd':
		v = env->d;
		break;
	case 'i':
		v = env->i;
		break;
	case 'p':
		/* No validated name (RFC 7208 7.3). */
		v = env->p != NULL ? env->p : "unknown";
		break;
	case 'v':
		v = env->v;
		break;
	case 'h':
		v = env->h;
		break;
	case 'c':
		v = env->c;
		break;
	case 'r':
		v = env->r != NULL ? env->r : "unknown";
		break;
	default:
		v = env->t;
		break;
	}
	return v != NULL ? v : "";
}

/* Split, reverse, keep the right-hand parts, join with dots, escape. */
static void
expand_macro(struct obuf *o, const struct macro *m,
    const struct spf_macro_env *env)
{
	static const char hex[] = "0123456789ABCDEF";
	const char	*v = value_of(env, m->letter);
	const char	*delims = m->delims[0] != '\0' ? m->delims : ".";
	uint16_t	 start[VALUE_MAX + 2], plen[VALUE_MAX + 2];
	size_t		 vlen = strnlen(v, VALUE_MAX), n = 0, i, first, k;
	int		 escape = m->letter >= 'A' && m->letter <= 'Z';

	start[0] = 0;
	for (i = 0; i <= vlen; i++) {
		if (i < vlen && strchr(delims, v[i]) == NULL)
			continue;
		plen[n] = (uint16_t)(i - start[n]);
		n++;
		start[n] = (uint16_t)(i + 1);
	}
	first = (m->keep > 0 && m->keep < n) ? n - m->keep : 0;
	for (k = first; k < n; k++) {
		size_t p = m->reverse ? n - 1 - k : k;

		if (k > first)
			put(o, '.');
		for (i = start[p]; i < (size_t)start[p] + plen[p]; i++) {
			if (!escape || unreserved(v[i]))
				put(o, v[i]);
			else {
				put(o, '%');
				put(o, hex[(unsigned char)v[i] >> 4]);
				put(o, hex[(unsigned char)v[i] & 0xf]);
			}
		}
	}
}

static int
expand(const char *s, size_t len, const struct spf_macro_env *env, int exp,
    struct obuf *o)
{
	struct macro	m;
	size_t		i = 0, n;

	while (i < len) {
		if (s[i] != '%') {
			if (!((s[i] >= 0x21 && s[i] <= 0x7e) ||
			    (s[i] == ' ' && exp)))
				return -1;
			put(o, s[i++]);
			continue;
		}
		if ((n = macro_parse(s + i, len - i, exp, &m)) == 0)
			return -1;
		i += n;
		if (m.letter == '%')
			put(o, '%');
		else if (m.letter == '_')
			put(o, ' ');
		else if (m.letter == '-')
			put_str(o, "%20");
		else
			expand_macro(o, &m, env);
	}
	return 0;
}

int
spf_expand_domain(const char *s, size_t len, const struct spf_macro_env *env,
    char out[SPF_DOMAIN_MAX])
{
	char		 buf[DOMAIN_BUF + 1];
	struct obuf	 o = { buf, DOMAIN_BUF, 0, 1, 0 };
	const char	*p = buf, *dot;
	size_t		 n;

	out[0] = '\0';
	if (expand(s, len, env, 0, &o) == -1)
		return -1;
	n = o.len;
	if (n > 0 && buf[n - 1] == '.')
		n--;
	buf[n] = '\0';
	/* Whole labels off the left; after a cut the first is partial. */
	while (n > SPF_DOMAIN_MAX - 1 || o.cut) {
		if ((dot = memchr(p, '.', n)) == NULL)
			return -1;
		n -= (size_t)(dot + 1 - p);
		p = dot + 1;
		o.cut = 0;
	}
	memcpy(out, p, n + 1);
	return 0;
}

int
spf_expand_exp(const char *s, size_t len, const struct spf_macro_env *env,
    char *out, size_t sz)
{
	struct obuf o = { out, sz - 1, 0, 0, 0 };

	if (sz == 0)
		return -1;
	out[0] = '\0';
	if (expand(s, len, env, 1, &o) == -1) {
		out[0] = '\0';
		return -1;
	}
	out[o.len] = '\0';
	return 0;
}
