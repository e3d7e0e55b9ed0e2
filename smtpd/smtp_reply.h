/*
 * smtp_reply: every reply smtpd sends, in one place, so that a reply seen
 * in a log or a client's transcript leads to one line (smtp_reply.c).
 *
 * A fixed reply is named by its enum reply_id and looked up in the table;
 * a reply that carries a value (a queue id, an address, a count, a name)
 * has its own function with a literal format, next to the table.  Both
 * fill a struct smtp_reply, which smtp_session.c writes.  Nothing here
 * sends anything, so the parser can use it alone (the fuzz target).
 */
#ifndef RELAYD_SMTP_REPLY_H
#define RELAYD_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct smtp_reply {
	int		code;
	char		enh[16];	/* RFC 3463; "" for none */
	char		text[384];
};

/* One reply line with CRLF: code, enhanced code, text. */
#define REPLY_LINE_MAX	512
/* The EHLO reply, every line. */
#define REPLY_EHLO_MAX	1024

/* Extensions offered only to some sessions (reply_ehlo). */
#define EHLO_STARTTLS	0x01
#define EHLO_AUTH	0x02	/* under TLS, when a tenant has auth: */

enum reply_id {
	/* Closings: session_close writes them after our name. */
	R_BYE,
	R_TOO_MANY_ERRORS,
	R_TOO_MANY_CONNECTIONS,
	R_TOO_MANY_FROM_CLIENT,
	R_TOO_BUSY,
	R_NO_MEMORY,
	R_EARLY_TALKER,
	R_TIMEOUT,
	R_BAD_BDAT_SIZE,
	R_DATA_BEFORE_354,
	R_POLICY_CLOSE,
	/* Command lines. */
	R_LINE_TOO_LONG,
	R_NUL_IN_COMMAND,
	R_BARE_CR_IN_COMMAND,
	R_IMPROPER_PIPELINING,
	R_UNKNOWN_COMMAND,
	R_NOT_IMPLEMENTED,
	R_CMD_OK,
	R_HELP,
	R_SYNTAX_HELO,
	R_SYNTAX_EHLO,
	R_SYNTAX_MAIL,
	R_SYNTAX_RCPT,
	R_SYNTAX_DATA,
	R_SYNTAX_RSET,
	R_SYNTAX_VRFY,
	R_SYNTAX_STARTTLS,
	R_VRFY,
	/* Sequence. */
	R_NEED_HELO,
	R_NEED_MAIL,
	R_NESTED_MAIL,
	R_RCPT_AFTER_DATA,
	R_NO_VALID_RCPTS,
	R_DATA_AFTER_BDAT,
	R_BDAT_AFTER_DATA,
	R_BDAT_NEEDS_EHLO,
	R_PARAMS_NEED_EHLO,
	/* TLS (smtp_tls.c). */
	R_TLS_GO,
	R_TLS_ACTIVE,
	R_TLS_IN_TX,
	R_TLS_UNAVAILABLE,
	/* AUTH (smtp_auth.c, RFC 4954). */
	R_AUTH_OK,
	R_AUTH_FAILED,
	R_AUTH_TEMP,
	R_AUTH_LIMIT,
	R_AUTH_NEEDED,
	R_AUTH_TOO_LONG,
	R_AUTH_CANCELLED,
	R_AUTH_BAD_BASE64,
	R_AUTH_TWICE,
	R_AUTH_IN_TX,
	R_AUTH_NEEDS_TLS,
	R_AUTH_MECHANISM,
	R_AUTH_SYNTAX,
	R_AUTH_SENDER,
	/* Addresses (MAIL: sender, RCPT: recipient). */
	R_NON_ASCII_ADDRESS,
	R_SENDER_LOCAL_LONG,
	R_RCPT_LOCAL_LONG,
	R_SENDER_DOMAIN,
	R_RCPT_DOMAIN,
	R_SENDER_SYNTAX,
	R_RCPT_SYNTAX,
	R_POSTMASTER_MISCONFIGURED,
	/* The transaction. */
	R_SENDER_OK,
	R_RCPT_OK,
	R_TOO_MANY_RCPTS,
	R_NO_STORAGE,
	R_TENANT_FULL,
	R_TENANT_DEFERRED,
	R_SIZE_EXCEEDED,
	R_NO_FILE_NOW,
	R_LOCAL_RESOURCE,
	R_START_DATA,
	R_NUL_IN_MESSAGE,
	R_BARE_NEWLINE,
	R_MAIL_LOOP,
	R_WRITE_ERROR,
	R_CONFIG_CHANGED,
	/* policyd, and the checks at the end of data. */
	R_POLICY_LATE,
	R_EOD_CLASS,
	R_HEADER_FIELDS,
	R_HEADER_SIZE,
	R_NO_TO_CC,
	R_SCAN_LATE,
	R_COUNT
};

/* A fixed reply. */
void	 reply_set(struct smtp_reply *, enum reply_id);

/* Replies with a value. */
void	 reply_greeting(struct smtp_reply *, const char *hostname);
void	 reply_closing(struct smtp_reply *, enum reply_id,
	    const char *hostname);
void	 reply_closing_r(struct smtp_reply *, const struct smtp_reply *,
	    const char *hostname);
void	 reply_helo(struct smtp_reply *, const char *hostname);
void	 reply_queued(struct smtp_reply *, const char *qid);
void	 reply_octets(struct smtp_reply *, uint64_t);
void	 reply_unsupported(struct smtp_reply *, const char *key, size_t);
void	 reply_bad_value(struct smtp_reply *, const char *key, size_t);
void	 reply_duplicate(struct smtp_reply *, const char *key);
void	 reply_relay_denied(struct smtp_reply *, const char *addr);
/* An unknown user, relay denied, or other: a refusal's reason. */
enum stat_reason reply_stat_reason(const struct smtp_reply *);
void	 reply_bad_idn(struct smtp_reply *, const char *local,
	    const char *domain);
void	 reply_private_literal(struct smtp_reply *, const char *domain);
void	 reply_user_unknown(struct smtp_reply *, const char *addr);

/* One line, as a client reads it: code, enhanced code of its class. */
int	 reply_valid(const struct smtp_reply *);

/* The wire form: a reply line, or EHLO's lines; length or -1. */
int	 reply_line(const struct smtp_reply *, char *, size_t);
/* AUTH's challenge (RFC 4954 section 4): 'P' PLAIN's empty one, LOGIN's
 * 'U' user name and 'W' password prompts. */
int	 reply_auth_challenge(char *, size_t, int which);
int	 reply_ehlo(char *, size_t, const char *hostname, uint64_t max_size,
	    unsigned ext);

#endif
