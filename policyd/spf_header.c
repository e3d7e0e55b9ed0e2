/*
 * spf_header: the Received-SPF trace field (RFC 7208 section 9.1).
 *
 *	Received-SPF: pass (relay.example: domain of a@example.com
 *	 designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1;
 *	 envelope-from=a@example.com; helo=mx.example.com;
 *	 receiver=relay.example; identity=mailfrom;
 *
 * The sender, the HELO name and the reason come from the client or from
 * anyone's DNS: every octet that is not printable ASCII becomes '?', a
 * value that is not a dot-atom is a quoted-string, and the comment
 * escapes its parentheses, so no value can end the field or start
 * another.  Folding only ever turns a space into CRLF and a space, so
 * unfolding gives back the same text.
 */
#include <stdio.h>
#include <string.h>

#include "spf.h"

#define FOLD_AT		78
#define WORD_MAX	1024	/* a quoted sender, escaped, and its key */

struct hdr {
	char	*buf;
	size_t	 sz;
	size_t	 len;
	size_t	 col;		/* of the line being written */
	int	 err;
};

static int
atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* dot-atom-text: atoms of atext joined by single dots. */
static int
is_dot_atom(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] == '.' ? s[i + 1] == '.' || s[i + 1] == '\0' :
		    !atext(s[i]))
			return 0;
	return 1;
}

static char
printable(char c)
{
	return (c >= 0x20 && c <= 0x7e) ? c : '?';
}

static void
raw(struct hdr *h, const char *s, size_t n)
{
	if (h->err || h->len + n + 1 > h->sz) {
		h->err = 1;
		return;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

/* A word that must stay whole, after a space or a fold. */
static void
word(struct hdr *h, const char *w, size_t n)
{
	/* Never a line of the fold's space alone. */
	if (h->col > 1 && h->col + 1 + n > FOLD_AT) {
		raw(h, "\r\n", 2);
		h->col = 0;
	}
	if (h->len > 0) {
		raw(h, " ", 1);
		h->col++;
	}
	raw(h, w, n);
	h->col += n;
}

/* Text whose spaces may each become a fold (and stay a space). */
static void
words(struct hdr *h, const char *s)
{
	const char *sp;

	while ((sp = strchr(s, ' ')) != NULL) {
		word(h, s, (size_t)(sp - s));
		s = sp + 1;
	}
	word(h, s, strlen(s));
}

/* A comment: ( ) and \ quoted, anything unprintable made '?'. */
static void
comment(struct hdr *h, const char *s)
{
	char	w[2 * WORD_MAX];
	size_t	n = 0;

	w[n++] = '(';
	for (; *s != '\0' && n + 4 < sizeof(w); s++) {
		if (*s == '(' || *s == ')' || *s == '\\')
			w[n++] = '\\';
		w[n++] = printable(*s);
	}
	w[n++] = ')';
	w[n] = '\0';
	words(h, w);
}

/* key=value; the value as a dot-atom when it is one, else quoted. */
static void
pair(struct hdr *h, const char *key, const char *value)
{
	char	w[WORD_MAX], c;
	size_t	n;
	int	atom = is_dot_atom(value);

	n = (size_t)snprintf(w, sizeof(w), "%s=%s", key, atom ? "" : "\"");
	for (; *value != '\0' && n + 5 < sizeof(w); value++) {
		c = printable(*value);
		if (!atom && (c == '"' || c == '\\'))
			w[n++] = '\\';
		w[n++] = c;
	}
	if (!atom)
		w[n++] = '"';
	w[n++] = ';';
	w[n] = '\0';
	words(h, w);
}

int
spf_received_header(char *buf, size_t sz, const struct spf_outcome *o,
    const struct netaddr *client, const char *sender, const char *helo,
    const char *our_hostname)
{
	struct hdr	 h = { buf, sz, 0, 0, 0 };
	char		 ip[INET6_ADDRSTRLEN], text[2 * SPF_WHY_MAX], who[400];
	char		 note[SPF_HELO_MAX + sizeof(text)];
	const char	*host = our_hostname != NULL && *our_hostname != '\0' ?
			    our_hostname : "unknown";

	if (sz == 0)
		return -1;
	buf[0] = '\0';
	if (sender == NULL)
		sender = "";
	if (helo == NULL)
		helo = "";
	netaddr_format(client, ip, sizeof(ip));
	if (o->helo || sender[0] == '\0')
		snprintf(who, sizeof(who), "postmaster@%s", helo);
	else
		snprintf(who, sizeof(who), "%s", sender);
	switch (o->result) {
	case SPF_PASS:
		snprintf(text, sizeof(text), "domain of %s designates %s as "
		    "permitted sender", who, ip);
		break;
	case SPF_FAIL:
		snprintf(text, sizeof(text), "domain of %s does not "
		    "designate %s as permitted sender", who, ip);
		break;
	case SPF_SOFTFAIL:
		snprintf(text, sizeof(text), "domain of transitioning %s "
		    "does not designate %s as permitted sender", who, ip);
		break;
	case SPF_NEUTRAL:
		snprintf(text, sizeof(text), "%s is neither permitted nor "
		    "denied by domain of %s", ip, who);
		break;
	case SPF_NONE:
		snprintf(text, sizeof(text), "domain of %s does not "
		    "designate permitted sender hosts", who);
		break;
	case SPF_TEMPERROR:
		snprintf(text, sizeof(text), "error in processing during "
		    "lookup of %s", who);
		break;
	case SPF_PERMERROR:
		snprintf(text, sizeof(text), "permanent error in processing "
		    "domain of %s", who);
		break;
	}
	words(&h, "Received-SPF:");
	words(&h, spf_result_name(o->result));
	snprintf(note, sizeof(note), "%s: %s", host, text);
	comment(&h, note);
	pair(&h, "client-ip", ip);
	pair(&h, "envelope-from", o->helo ? "" : sender);
	if (helo[0] != '\0')
		pair(&h, "helo", helo);
	pair(&h, "receiver", host);
	pair(&h, "identity", o->helo ? "helo" : "mailfrom");
	if (o->result == SPF_PERMERROR || o->result == SPF_TEMPERROR)
		pair(&h, "problem", o->why);
	raw(&h, "\r\n", 2);
	return h.err ? -1 : (int)h.len;
}
