/*
 * smtp_parse: command line and parameter parsing.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtp_parse.h"

struct verb_name {
	const char	*name;
	enum smtp_verb	 verb;
};

static const struct verb_name verbs[] = {
	{ "HELO", V_HELO }, { "EHLO", V_EHLO }, { "MAIL", V_MAIL },
	{ "RCPT", V_RCPT }, { "DATA", V_DATA }, { "BDAT", V_BDAT },
	{ "RSET", V_RSET }, { "NOOP", V_NOOP }, { "QUIT", V_QUIT },
	{ "HELP", V_HELP }, { "VRFY", V_VRFY }, { "EXPN", V_EXPN },
	{ "STARTTLS", V_STARTTLS }, { "AUTH", V_AUTH },
};

enum smtp_verb
smtp_parse_verb(const char *line, size_t len, const char **arg,
    size_t *arglen)
{
	size_t i, vlen, n;

	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	*arg = line + vlen;
	*arglen = 0;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		n = strlen(verbs[i].name);
		if (vlen == n && strncasecmp(line, verbs[i].name, n) == 0)
			break;
	}
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		return V_UNKNOWN;
	while (vlen < len && line[vlen] == ' ')
		vlen++;
	*arg = line + vlen;
	*arglen = len - vlen;
	/* Trailing spaces are a common client quirk, not an argument. */
	while (*arglen > 0 && (*arg)[*arglen - 1] == ' ')
		(*arglen)--;
	return verbs[i].verb;
}

size_t
smtp_line_limit(enum smtp_verb v)
{
	switch (v) {
	case V_MAIL:
		/* SIZE (RFC 1870) +26, DSN (RFC 3461) +100, SMTPUTF8 +10. */
		return 512 + 26 + 100 + 10;
	case V_RCPT:
		/* DSN (RFC 3461) +500. */
		return 512 + 500;
	case V_AUTH:
		/* PLAIN's initial response: base64 of 3 x 255 octets +2. */
		return 1100;
	default:
		return 512;
	}
}

int
smtp_parse_helo(const char *arg, size_t len, char *out, size_t sz)
{
	size_t i;

	if (len == 0 || len >= sz)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];

		/* Printable, no spaces; UTF-8 octets pass as they are. */
		if (c <= ' ' || c == 0x7f)
			return -1;
	}
	memcpy(out, arg, len);
	out[len] = '\0';
	return 0;
}

/* RFC 3461 xtext: printable ASCII, '+' only as "+XX", no '='. */
static int
valid_xtext(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]) ||
			    islower((unsigned char)s[i + 1]) ||
			    islower((unsigned char)s[i + 2]))
				return 0;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return 0;
	}
	return 1;
}

/* RFC 6533 utf-8-addr-xtext, loosely: printable, no SP, no '=' alone. */
static int
valid_utf8_xtext(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 33 || c == 127 || c == '=')
			return 0;
	}
	return 1;
}

struct param {
	const char	*key;
	size_t		 klen;
	const char	*val;	/* NULL when there is no '=' */
	size_t		 vlen;
};

/* The next space-separated parameter; 0 at the end. */
static int
next_param(const char **p, const char *end, struct param *pm)
{
	const char *s = *p, *eq;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return 0;
	pm->key = s;
	while (s < end && *s != ' ')
		s++;
	*p = s;
	eq = memchr(pm->key, '=', (size_t)(s - pm->key));
	if (eq == NULL) {
		pm->klen = (size_t)(s - pm->key);
		pm->val = NULL;
		pm->vlen = 0;
	} else {
		pm->klen = (size_t)(eq - pm->key);
		pm->val = eq + 1;
		pm->vlen = (size_t)(s - eq - 1);
	}
	return 1;
}

static int
key_is(const struct param *pm, const char *name)
{
	return pm->klen == strlen(name) &&
	    strncasecmp(pm->key, name, pm->klen) == 0;
}

static int
val_is(const struct param *pm, const char *name)
{
	return pm->val != NULL && pm->vlen == strlen(name) &&
	    strncasecmp(pm->val, name, pm->vlen) == 0;
}

static int
unsupported(const struct param *pm, struct smtp_reply *err)
{
	reply_unsupported(err, pm->key, pm->klen);
	return -1;
}

static int
bad_value(const struct param *pm, struct smtp_reply *err)
{
	reply_bad_value(err, pm->key, pm->klen);
	return -1;
}

static int
parse_size(const struct param *pm, struct mail_params *mp,
    struct smtp_reply *err)
{
	uint64_t v = 0;
	size_t i;

	if (pm->val == NULL || pm->vlen == 0 || pm->vlen > 20)
		return bad_value(pm, err);
	for (i = 0; i < pm->vlen; i++) {
		if (!isdigit((unsigned char)pm->val[i]))
			return bad_value(pm, err);
		/* Saturate: a size too large to count is too large anyway. */
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + (uint64_t)(pm->val[i] - '0');
	}
	mp->size = v;
	mp->has_size = 1;
	return 0;
}

static int
mail_param(const struct param *pm, struct mail_params *mp, unsigned *seen,
    struct smtp_reply *err)
{
	static const char *keys[] = { "SIZE", "BODY", "SMTPUTF8", "RET",
	    "ENVID" };
	unsigned i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (key_is(pm, keys[i]))
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return unsupported(pm, err);
	if (*seen & (1u << i)) {
		reply_duplicate(err, keys[i]);
		return -1;
	}
	*seen |= 1u << i;
	switch (i) {
	case 0:
		return parse_size(pm, mp, err);
	case 1:
		if (val_is(pm, "7BIT"))
			mp->body = BODY_7BIT;
		else if (val_is(pm, "8BITMIME"))
			mp->body = BODY_8BITMIME;
		else if (val_is(pm, "BINARYMIME"))
			return unsupported(pm, err);
		else
			return bad_value(pm, err);
		return 0;
	case 2:
		if (pm->val != NULL)
			return bad_value(pm, err);
		mp->smtputf8 = 1;
		return 0;
	case 3:
		if (val_is(pm, "FULL"))
			mp->ret = RET_FULL;
		else if (val_is(pm, "HDRS"))
			mp->ret = RET_HDRS;
		else
			return bad_value(pm, err);
		return 0;
	default:
		if (pm->val == NULL || pm->vlen == 0 || pm->vlen > ENVID_MAX ||
		    !valid_xtext(pm->val, pm->vlen))
			return bad_value(pm, err);
		memcpy(mp->envid, pm->val, pm->vlen);
		mp->envid[pm->vlen] = '\0';
		return 0;
	}
}

/* "FROM:" or "TO:" in any case, then optional spaces. */
static int
skip_prefix(const char **p, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);

	if ((size_t)(end - *p) < n || strncasecmp(*p, prefix, n) != 0)
		return -1;
	*p += n;
	while (*p < end && **p == ' ')
		(*p)++;
	return 0;
}

static void
addr_error(enum mailaddr_err e, int sender, struct smtp_reply *err)
{
	if (e == MA_EUTF8)
		reply_set(err, R_NON_ASCII_ADDRESS);
	else if (e == MA_ELOCAL_LONG)
		reply_set(err, sender ? R_SENDER_LOCAL_LONG :
		    R_RCPT_LOCAL_LONG);
	else if (e == MA_EDOMAIN)
		reply_set(err, sender ? R_SENDER_DOMAIN : R_RCPT_DOMAIN);
	else
		reply_set(err, sender ? R_SENDER_SYNTAX : R_RCPT_SYNTAX);
}

int
smtp_parse_mail(const char *arg, size_t len, struct mailaddr *ma,
    struct mail_params *mp, struct smtp_reply *err)
{
	const char	*p = arg, *end = arg + len;
	struct param	 pm;
	size_t		 used;
	unsigned	 seen = 0;
	enum mailaddr_err e;
	int		 flags = MA_NULL_OK;

	memset(mp, 0, sizeof(*mp));
	if (skip_prefix(&p, end, "FROM:") == -1 || p == end || *p != '<') {
		reply_set(err, R_SYNTAX_MAIL);
		return -1;
	}
	/*
	 * SMTPUTF8 is a parameter after the path: look before parsing it.
	 * The path ends at the first '>' outside a quoted string, as
	 * mailpath_parse reads it, so that no part of a quoted local part
	 * passes for the parameter.
	 */
	{
		size_t plen = mailpath_len(p, (size_t)(end - p));
		const char *scan = plen > 0 ? p + plen : end;

		while (next_param(&scan, end, &pm))
			if (key_is(&pm, "SMTPUTF8"))
				flags |= MA_UTF8;
	}
	if ((e = mailpath_parse(p, (size_t)(end - p), flags, ma, &used)) !=
	    MA_OK) {
		addr_error(e, 1, err);
		return -1;
	}
	p += used;
	if (p < end && *p != ' ') {
		reply_set(err, R_SYNTAX_MAIL);
		return -1;
	}
	while (next_param(&p, end, &pm))
		if (mail_param(&pm, mp, &seen, err) == -1)
			return -1;
	return 0;
}

static int
parse_notify(const struct param *pm, struct rcpt_params *rp,
    struct smtp_reply *err)
{
	const char *s = pm->val, *end, *comma;
	size_t n;

	if (s == NULL || pm->vlen == 0)
		return bad_value(pm, err);
	end = s + pm->vlen;
	while (s < end) {
		comma = memchr(s, ',', (size_t)(end - s));
		n = (size_t)((comma ? comma : end) - s);
		if (n == 5 && strncasecmp(s, "NEVER", 5) == 0)
			rp->notify |= NOTIFY_NEVER;
		else if (n == 7 && strncasecmp(s, "SUCCESS", 7) == 0)
			rp->notify |= NOTIFY_SUCCESS;
		else if (n == 7 && strncasecmp(s, "FAILURE", 7) == 0)
			rp->notify |= NOTIFY_FAILURE;
		else if (n == 5 && strncasecmp(s, "DELAY", 5) == 0)
			rp->notify |= NOTIFY_DELAY;
		else
			return bad_value(pm, err);
		s += n + (comma ? 1 : 0);
		if (comma != NULL && s == end)
			return bad_value(pm, err);
	}
	/* NEVER stands alone (RFC 3461 section 4.1). */
	if ((rp->notify & NOTIFY_NEVER) && rp->notify != NOTIFY_NEVER)
		return bad_value(pm, err);
	return 0;
}

static int
parse_orcpt(const struct param *pm, int utf8, struct rcpt_params *rp,
    struct smtp_reply *err)
{
	const char *semi;
	size_t tlen;

	if (pm->val == NULL || pm->vlen == 0 || pm->vlen > ORCPT_MAX ||
	    (semi = memchr(pm->val, ';', pm->vlen)) == NULL)
		return bad_value(pm, err);
	tlen = (size_t)(semi - pm->val);
	if (tlen == 6 && strncasecmp(pm->val, "rfc822", 6) == 0) {
		if (!valid_xtext(semi + 1, pm->vlen - tlen - 1))
			return bad_value(pm, err);
	} else if (tlen == 5 && strncasecmp(pm->val, "utf-8", 5) == 0 &&
	    utf8) {
		if (!valid_utf8_xtext(semi + 1, pm->vlen - tlen - 1))
			return bad_value(pm, err);
	} else
		return bad_value(pm, err);
	if (pm->vlen == tlen + 1)
		return bad_value(pm, err);
	memcpy(rp->orcpt, pm->val, pm->vlen);
	rp->orcpt[pm->vlen] = '\0';
	return 0;
}

int
smtp_parse_rcpt(const char *arg, size_t len, int utf8, struct mailaddr *ma,
    int *bare_postmaster, struct rcpt_params *rp, struct smtp_reply *err)
{
	const char	*p = arg, *end = arg + len;
	struct param	 pm;
	size_t		 used;
	unsigned	 seen = 0;
	enum mailaddr_err e;

	memset(rp, 0, sizeof(*rp));
	*bare_postmaster = 0;
	if (skip_prefix(&p, end, "TO:") == -1 || p == end || *p != '<') {
		reply_set(err, R_SYNTAX_RCPT);
		return -1;
	}
	if ((size_t)(end - p) >= 12 && strncasecmp(p, "<postmaster>", 12) ==
	    0) {
		/* RFC 5321 4.5.1: no domain, and always accepted. */
		memset(ma, 0, sizeof(*ma));
		strlcpy(ma->local, "postmaster", sizeof(ma->local));
		*bare_postmaster = 1;
		used = 12;
	} else if ((e = mailpath_parse(p, (size_t)(end - p),
	    utf8 ? MA_UTF8 : 0, ma, &used)) != MA_OK) {
		addr_error(e, 0, err);
		return -1;
	}
	p += used;
	if (p < end && *p != ' ') {
		reply_set(err, R_SYNTAX_RCPT);
		return -1;
	}
	while (next_param(&p, end, &pm)) {
		unsigned bit;

		if (key_is(&pm, "NOTIFY"))
			bit = 1;
		else if (key_is(&pm, "ORCPT"))
			bit = 2;
		else
			return unsupported(&pm, err);
		if (seen & bit) {
			reply_duplicate(err, bit == 1 ? "NOTIFY" : "ORCPT");
			return -1;
		}
		seen |= bit;
		if (bit == 1 && parse_notify(&pm, rp, err) == -1)
			return -1;
		if (bit == 2 && parse_orcpt(&pm, utf8, rp, err) == -1)
			return -1;
	}
	return 0;
}

int
smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, int *last)
{
	size_t i = 0;
	uint64_t v = 0;

	*last = 0;
	if (len == 0 || !isdigit((unsigned char)arg[0]))
		return -1;
	for (; i < len && isdigit((unsigned char)arg[i]); i++) {
		if (i >= 18)
			return -1;
		v = v * 10 + (uint64_t)(arg[i] - '0');
	}
	*size = v;
	if (i == len)
		return 0;
	if (arg[i] != ' ')
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	if (len - i == 4 && strncasecmp(arg + i, "LAST", 4) == 0) {
		*last = 1;
		return 0;
	}
	return -1;
}
