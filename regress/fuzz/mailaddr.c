/*
 * Fuzz target: addresses and paths (common/mailaddr.c).
 *
 * The input, of exactly the fuzzer's length, goes through mailaddr_parse
 * and mailpath_parse with every combination of flags, and through the
 * domain and literal checks.  What is accepted must be well formed
 * (NUL-terminated within the maxima, a domain the checks accept), must
 * format back to the same octets, and must stay accepted when a flag only
 * widens the rules (MA_UTF8, MA_NO_FQDN, MA_NULL_OK).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NFLAGS		8	/* every combination of MA_UTF8 .. MA_NO_FQDN */
#define FORMAT_MAX	(MAILADDR_LOCAL_MAX + 1 + MAILADDR_DOMAIN_MAX + 1)

/* A string field: NUL-terminated inside its array, at most max long. */
static size_t
check_str(const char *s, size_t sz, size_t max)
{
	const char *nul = memchr(s, '\0', sz);

	if (nul == NULL || (size_t)(nul - s) > max)
		abort();
	return (size_t)(nul - s);
}

/* An accepted mailbox (not the null path) at s, len octets, with flags. */
static void
check_mailbox(const struct mailaddr *ma, const char *s, size_t len, int flags)
{
	char	buf[FORMAT_MAX], small[16];
	size_t	ll, dl;

	if (ma->null)
		abort();
	ll = check_str(ma->local, sizeof(ma->local), MAILADDR_LOCAL_MAX);
	dl = check_str(ma->domain, sizeof(ma->domain), MAILADDR_DOMAIN_MAX);
	if (ll == 0 || dl == 0 || ll + 1 + dl != len)
		abort();
	if (ma->utf8 && !(flags & MA_UTF8))
		abort();
	if (ma->quoted != (ma->local[0] == '"'))
		abort();
	if (ma->literal ? !mailaddr_valid_literal(ma->domain, dl) :
	    !mailaddr_valid_domain(ma->domain, dl, flags))
		abort();
	mailaddr_format(ma, buf, sizeof(buf));
	if (strlen(buf) != len || memcmp(buf, s, len) != 0)
		abort();
	mailaddr_format(ma, small, sizeof(small));
	if (strncmp(small, buf, sizeof(small) - 1) != 0)
		abort();
}

/* Two results of parsing the same octets must agree. */
static void
check_same(const struct mailaddr *a, const struct mailaddr *b)
{
	if (strcmp(a->local, b->local) != 0 ||
	    strcmp(a->domain, b->domain) != 0 ||
	    a->literal != b->literal || a->quoted != b->quoted ||
	    a->utf8 != b->utf8 || a->null != b->null)
		abort();
}

static void
fuzz_parse(const char *s, size_t len)
{
	struct mailaddr		ma[NFLAGS];
	enum mailaddr_err	e[NFLAGS];
	int			f, wider;

	for (f = 0; f < NFLAGS; f++) {
		e[f] = mailaddr_parse(s, len, f, &ma[f]);
		if (mailaddr_strerror(e[f]) == NULL)
			abort();
		if (e[f] == MA_OK)
			check_mailbox(&ma[f], s, len, f);
	}
	for (f = 0; f < NFLAGS; f++)
		for (wider = 0; wider < NFLAGS; wider++)
			if ((wider & f) == f && e[f] == MA_OK) {
				if (e[wider] != MA_OK)
					abort();
				check_same(&ma[f], &ma[wider]);
			}
}

static void
fuzz_path(const char *s, size_t len)
{
	struct mailaddr		ma[NFLAGS], again;
	enum mailaddr_err	e[NFLAGS];
	size_t			used[NFLAGS], mlen;
	int			f, wider;

	for (f = 0; f < NFLAGS; f++) {
		used[f] = 0;
		e[f] = mailpath_parse(s, len, f, &ma[f], &used[f]);
		if (e[f] != MA_OK)
			continue;
		if (used[f] < 2 || used[f] > len || s[0] != '<' ||
		    s[used[f] - 1] != '>')
			abort();
		if (ma[f].null) {
			if (!(f & MA_NULL_OK) || used[f] != 2 ||
			    ma[f].local[0] != '\0' || ma[f].domain[0] != '\0')
				abort();
			continue;
		}
		/* The mailbox is the tail of the path, after any route. */
		mlen = strlen(ma[f].local) + 1 + strlen(ma[f].domain);
		if (mlen > used[f] - 2)
			abort();
		check_mailbox(&ma[f], s + used[f] - 1 - mlen, mlen, f);
		if (mailaddr_parse(s + used[f] - 1 - mlen, mlen, f, &again) !=
		    MA_OK)
			abort();
		check_same(&ma[f], &again);
	}
	for (f = 0; f < NFLAGS; f++)
		for (wider = 0; wider < NFLAGS; wider++)
			if ((wider & f) == f && e[f] == MA_OK) {
				if (e[wider] != MA_OK || used[wider] != used[f])
					abort();
				check_same(&ma[f], &ma[wider]);
			}
}

static void
fuzz_domain(const char *s, size_t len)
{
	int f, ok[NFLAGS];

	for (f = 0; f < NFLAGS; f++)
		ok[f] = mailaddr_valid_domain(s, len, f);
	for (f = 0; f < NFLAGS; f++)
		if (ok[f] && (!ok[f | MA_UTF8] || !ok[f | MA_NO_FQDN]))
			abort();
	if (ok[0] && (len == 0 || len > MAILADDR_DOMAIN_MAX))
		abort();
	(void)mailaddr_valid_literal(s, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	fuzz_parse(s, size);
	fuzz_path(s, size);
	fuzz_domain(s, size);
	return 0;
}
