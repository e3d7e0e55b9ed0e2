/*
 * mailaddr: RFC 5321 paths and mailboxes, with RFC 6531 UTF-8 when asked.
 *
 * Strict where it protects (FQDN domains, no NUL, bounded lengths) and
 * tolerant where real senders differ: local parts up to 256 octets, since
 * SRS, BATV and VERP addresses routinely pass the RFC's 64.
 */
#ifndef RELAYD_MAILADDR_H
#define RELAYD_MAILADDR_H

#include <stddef.h>

#define MAILADDR_LOCAL_MAX	256
#define MAILADDR_DOMAIN_MAX	255

struct mailaddr {
	char	local[MAILADDR_LOCAL_MAX + 1];	/* as sent, quotes kept */
	char	domain[MAILADDR_DOMAIN_MAX + 1];	/* as sent */
	int	literal;	/* domain is [address-literal] */
	int	quoted;		/* local part is a quoted string */
	int	utf8;		/* contains non-ASCII octets */
	int	null;		/* the null path <> */
};

#define MA_UTF8		0x1	/* SMTPUTF8 was requested */
#define MA_NULL_OK	0x2	/* <> allowed (MAIL FROM) */
#define MA_NO_FQDN	0x4	/* skip the fully-qualified domain rule */

enum mailaddr_err {
	MA_OK = 0,
	MA_ESYNTAX,		/* 501 5.1.7 / 5.1.3 */
	MA_ELOCAL_LONG,		/* local part over 256 octets */
	MA_EDOMAIN,		/* bad or unqualified domain */
	MA_EUTF8		/* non-ASCII without SMTPUTF8 */
};

/* local@domain, no brackets. */
enum mailaddr_err mailaddr_parse(const char *s, size_t len, int flags,
	    struct mailaddr *);
/* The length of "<" ... ">", quoted strings skipped; 0 if it never ends. */
size_t	 mailpath_len(const char *s, size_t len);
/* "<" [source-route ":"] mailbox ">" (or "<>"); *used is set past '>'. */
enum mailaddr_err mailpath_parse(const char *s, size_t len, int flags,
	    struct mailaddr *, size_t *used);
const char *mailaddr_strerror(enum mailaddr_err);

/* Domain syntax (RFC 5321 Domain, or U-labels with MA_UTF8). */
int	 mailaddr_valid_domain(const char *s, size_t len, int flags);
/* Address literal "[...]" including the brackets. */
int	 mailaddr_valid_literal(const char *s, size_t len);
/* Format into buf as local@domain; "" for the null path. */
void	 mailaddr_format(const struct mailaddr *, char *, size_t);
/* Is the local part "postmaster" in any case (RFC 5321 4.5.1)? */
int	 mailaddr_is_postmaster(const char *local);
/* postmaster or abuse (RFC 5321 4.5.1, RFC 2142): always reachable. */
int	 mailaddr_is_role(const char *local);
/* The same for an address: its local part, before the last '@'. */
int	 mailaddr_addr_is_role(const char *addr);

#endif
