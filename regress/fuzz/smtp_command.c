/*
 * Fuzz target: SMTP command lines (smtpd/smtp_parse.c).
 *
 * The input is one command line without its CRLF, of exactly the fuzzer's
 * length (never NUL-terminated).  The verb is split off as smtpd does, and
 * every argument parser then runs on both the argument and the whole line,
 * so each sees arbitrary bytes whatever the verb.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A string field: NUL-terminated inside its array, at most max long. */
static void
check_str(const char *s, size_t sz, size_t max)
{
	const char *nul = memchr(s, '\0', sz);

	if (nul == NULL || (size_t)(nul - s) > max)
		abort();
}

static void
check_reply(const struct smtp_reply *err)
{
	if (err->code < 500 || err->code > 599)
		abort();
	check_str(err->enh, sizeof(err->enh), sizeof(err->enh) - 1);
	check_str(err->text, sizeof(err->text), sizeof(err->text) - 1);
	if (err->enh[0] != '5' || err->enh[1] != '.')
		abort();
}

/* A path as parsed; <postmaster> alone has no domain. */
static void
check_addr(const struct mailaddr *ma, int utf8, int bare_postmaster)
{
	check_str(ma->local, sizeof(ma->local), MAILADDR_LOCAL_MAX);
	check_str(ma->domain, sizeof(ma->domain), MAILADDR_DOMAIN_MAX);
	if (ma->null) {
		if (ma->local[0] != '\0' || ma->domain[0] != '\0')
			abort();
		return;
	}
	if (ma->local[0] == '\0' ||
	    (ma->domain[0] == '\0') != bare_postmaster)
		abort();
	if (ma->utf8 && !utf8)
		abort();
}

static void
fuzz_mail(const char *arg, size_t len)
{
	struct mailaddr		ma;
	struct mail_params	mp;
	struct smtp_reply	err;

	memset(&err, 0, sizeof(err));
	if (smtp_parse_mail(arg, len, &ma, &mp, &err) == -1) {
		check_reply(&err);
		return;
	}
	check_addr(&ma, mp.smtputf8, 0);
	check_str(mp.envid, sizeof(mp.envid), ENVID_MAX);
	if (mp.body > BODY_8BITMIME || mp.ret > RET_HDRS)
		abort();
	if (!mp.has_size && mp.size != 0)
		abort();
}

static void
fuzz_rcpt(const char *arg, size_t len)
{
	struct mailaddr		ma[2];
	struct rcpt_params	rp[2];
	struct smtp_reply	err;
	int			rv[2], pm[2], utf8;

	for (utf8 = 0; utf8 < 2; utf8++) {
		memset(&err, 0, sizeof(err));
		rv[utf8] = smtp_parse_rcpt(arg, len, utf8, &ma[utf8],
		    &pm[utf8], &rp[utf8], &err);
		if (rv[utf8] == -1) {
			check_reply(&err);
			continue;
		}
		check_addr(&ma[utf8], utf8, pm[utf8]);
		if (ma[utf8].null)
			abort();
		if (pm[utf8] && (strcmp(ma[utf8].local, "postmaster") != 0 ||
		    ma[utf8].domain[0] != '\0'))
			abort();
		check_str(rp[utf8].orcpt, sizeof(rp[utf8].orcpt), ORCPT_MAX);
		if ((rp[utf8].notify & ~0x0f) != 0 ||
		    ((rp[utf8].notify & NOTIFY_NEVER) &&
		    rp[utf8].notify != NOTIFY_NEVER))
			abort();
	}
	/* SMTPUTF8 only widens what is accepted, and changes no result. */
	if (rv[0] == 0 && (rv[1] != 0 || pm[0] != pm[1] ||
	    strcmp(ma[0].local, ma[1].local) != 0 ||
	    strcmp(ma[0].domain, ma[1].domain) != 0 ||
	    rp[0].notify != rp[1].notify ||
	    strcmp(rp[0].orcpt, rp[1].orcpt) != 0))
		abort();
}

static void
fuzz_helo(const char *arg, size_t len)
{
	char	out[256];
	size_t	sz;

	for (sz = 1; sz <= sizeof(out); sz *= 4) {
		if (smtp_parse_helo(arg, len, out, sz) == -1)
			continue;
		if (len >= sz || strlen(out) != len ||
		    memcmp(out, arg, len) != 0)
			abort();
	}
}

static void
fuzz_bdat(const char *arg, size_t len)
{
	uint64_t	size = 0;
	int		last = -1;

	if (smtp_parse_bdat(arg, len, &size, &last) == -1)
		return;
	if (size >= 1000000000000000000ull || (last != 0 && last != 1))
		abort();
}

static void
fuzz_args(const char *arg, size_t len)
{
	fuzz_helo(arg, len);
	fuzz_mail(arg, len);
	fuzz_rcpt(arg, len);
	fuzz_bdat(arg, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*line = (const char *)data, *arg;
	size_t		 arglen;
	enum smtp_verb	 v;

	v = smtp_parse_verb(line, size, &arg, &arglen);
	if (arg < line || arglen > size || arg + arglen > line + size)
		abort();
	if (v != V_UNKNOWN && arglen > 0 && (arg[0] == ' ' ||
	    arg[arglen - 1] == ' '))
		abort();
	if (smtp_line_limit(v) < 512)
		abort();
	fuzz_args(arg, arglen);
	fuzz_args(line, size);
	return 0;
}
