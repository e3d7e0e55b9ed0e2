/*
 * smtp_parse: SMTP command lines and their ESMTP parameters.
 *
 * Pure functions over one line (without its line ending), so they can be
 * fuzzed.  Strict where it protects (NUL, parameters never advertised,
 * malformed xtext) and tolerant where real clients differ: any case of
 * the verb, a space after "FROM:" or "TO:".
 */
#ifndef RELAYD_SMTP_PARSE_H
#define RELAYD_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "mailaddr.h"
#include "smtp_reply.h"

enum smtp_verb {
	V_UNKNOWN,
	V_HELO,
	V_EHLO,
	V_MAIL,
	V_RCPT,
	V_DATA,
	V_BDAT,
	V_RSET,
	V_NOOP,
	V_QUIT,
	V_HELP,
	V_VRFY,
	V_EXPN,
	V_STARTTLS,
	V_AUTH
};

struct mail_params {
	uint64_t	size;		/* SIZE=, 0 when absent */
	uint8_t		has_size;
	uint8_t		body;		/* enum body_type */
	uint8_t		smtputf8;
	uint8_t		ret;		/* enum ret_mode */
	char		envid[ENVID_MAX + 1];
};

struct rcpt_params {
	uint8_t		notify;		/* NOTIFY_*, 0 when absent */
	char		orcpt[ORCPT_MAX + 1];
};

/* The verb, and where its argument starts (after one or more spaces). */
enum smtp_verb smtp_parse_verb(const char *line, size_t len,
	    const char **arg, size_t *arglen);
/* The longest line (with CRLF) this verb may have. */
size_t	 smtp_line_limit(enum smtp_verb);

/* HELO/EHLO argument: garbage only is refused.  0 or -1. */
int	 smtp_parse_helo(const char *arg, size_t len, char *out, size_t sz);

/* MAIL and RCPT: 0 on success, else -1 with *err set. */
int	 smtp_parse_mail(const char *arg, size_t len, struct mailaddr *,
	    struct mail_params *, struct smtp_reply *err);
int	 smtp_parse_rcpt(const char *arg, size_t len, int utf8,
	    struct mailaddr *, int *bare_postmaster, struct rcpt_params *,
	    struct smtp_reply *err);
/* BDAT size [LAST]: 0, or -1 when the size cannot be trusted. */
int	 smtp_parse_bdat(const char *arg, size_t len, uint64_t *size,
	    int *last);

#endif
