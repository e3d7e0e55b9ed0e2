/*
 * mta_sts: SMTP MTA Strict Transport Security (RFC 8461).
 *
 * A domain that publishes a TXT record "v=STSv1; id=..." at
 * _mta-sts.DOMAIN serves its policy at
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt: a mode (enforce,
 * testing or none), the patterns its MX hosts match and how long the
 * policy holds (max_age).  deliverd fetches it (mta_sts_fetch.c), keeps
 * it until max_age (capped at a year) and has queued store it, so that a
 * restart forgets nothing; a new id in the TXT record fetches it again.
 *
 * The parsers here face the network and are pure, so they are fuzzed
 * (regress/fuzz/mta_sts.c): the TXT record, the HTTP response and the
 * policy file are read strictly, and every length is bounded.
 */
#ifndef RELAYD_MTA_STS_H
#define RELAYD_MTA_STS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns_parse.h"

#define STS_ID_MAX	32		/* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define STS_MX_MAX	16		/* mx patterns kept from one policy */
#define STS_BODY_MAX	(64 * 1024)	/* the policy file, at most */
#define STS_HEAD_MAX	(8 * 1024)	/* the response's header */
#define STS_MAX_AGE	31557600	/* RFC 8461 3.2: at most a year */

enum sts_mode {
	STS_NONE = 0,		/* no policy, or mode: none */
	STS_TESTING,		/* report what would fail, deliver anyway */
	STS_ENFORCE		/* deliver only to matching, verified MX */
};

struct sts_policy {
	char		 id[STS_ID_MAX + 1];
	enum sts_mode	 mode;
	uint32_t	 max_age;
	char		 mx[STS_MX_MAX][DNS_NAME_MAX];	/* lower case */
	size_t		 nmx;
	int64_t		 expires;	/* wall clock: it outlives restarts */
};

/*
 * The id of the one "v=STSv1" record among a name's TXT records.  0; -1
 * when there is none, or more than one, or it is malformed (no policy).
 */
int	 sts_txt_id(const char *const *txt, const size_t *len, size_t n,
	    char id[STS_ID_MAX + 1]);

/*
 * An HTTP/1.1 response as read so far.  1: complete, the body (chunked
 * encoding undone) in body[*blen]; 0: more is needed (eof 0 only); -1:
 * refused, why says why (not 200, not text/plain, too large, malformed).
 * Redirects are refused like any status but 200 (RFC 8461 3.3).
 */
int	 sts_http_response(const char *buf, size_t len, int eof, char *body,
	    size_t *blen, char *why, size_t whysz);

/* The policy file (RFC 8461 3.2).  0; -1 with why. */
int	 sts_policy_parse(const char *body, size_t len, struct sts_policy *,
	    char *why, size_t whysz);

/* Does host (lower case, no final dot) match one of the mx patterns? */
int	 sts_mx_match(const struct sts_policy *, const char *host);
const char *sts_mode_name(enum sts_mode);

#endif
