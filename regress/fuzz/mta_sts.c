/*
 * Fuzz target: what an MTA-STS policy server and its DNS send us
 * (deliverd/mta_sts_parse.c): the HTTP response, as it arrives and once
 * the connection ends; the policy file; the TXT records.  What is kept
 * must be within bounds: a body of at most 64 KB, at most STS_MX_MAX
 * patterns in lower case, max_age capped, an id of letters and digits.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliverd/mta_sts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_policy(const struct sts_policy *p)
{
	size_t i, j;

	if (p->mode > STS_ENFORCE || p->max_age > STS_MAX_AGE ||
	    p->nmx > STS_MX_MAX || (p->mode != STS_NONE && p->nmx == 0))
		abort();
	for (i = 0; i < p->nmx; i++) {
		if (memchr(p->mx[i], '\0', DNS_NAME_MAX) == NULL ||
		    p->mx[i][0] == '\0')
			abort();
		for (j = 0; p->mx[i][j] != '\0'; j++)
			if (isupper((unsigned char)p->mx[i][j]) ||
			    (unsigned char)p->mx[i][j] <= ' ')
				abort();
	}
}

static void
check_id(const char *id)
{
	size_t i, n = strnlen(id, STS_ID_MAX + 1);

	if (n == 0 || n > STS_ID_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 body[STS_BODY_MAX];
	const char		*txt[8];
	size_t			 len[8], n = 0, off = 0, blen, cut;
	struct sts_policy	 pol;
	char			 why[128], id[STS_ID_MAX + 1];
	const char		*s = (const char *)data;
	int			 eof, rv;

	for (eof = 0; eof < 2; eof++) {
		blen = (size_t)-1;
		rv = sts_http_response(s, size, eof, body, &blen, why,
		    sizeof(why));
		if (rv < -1 || rv > 1 || (eof && rv == 0))
			abort();
		if (rv == 1) {
			if (blen > STS_BODY_MAX)
				abort();
			if (sts_policy_parse(body, blen, &pol, why,
			    sizeof(why)) == 0)
				check_policy(&pol);
		}
	}
	if (sts_policy_parse(s, size, &pol, why, sizeof(why)) == 0) {
		check_policy(&pol);
		(void)sts_mx_match(&pol, "mx.example.com");
		(void)sts_mx_match(&pol, "com");
	}
	/* TXT records: the input cut at each NUL. */
	while (off < size && n < 8) {
		cut = strnlen(s + off, size - off);
		txt[n] = s + off;
		len[n++] = cut;
		off += cut + 1;
	}
	if (sts_txt_id(txt, len, n, id) == 0)
		check_id(id);
	return 0;
}
