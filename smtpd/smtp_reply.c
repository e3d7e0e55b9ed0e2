/*
 * smtp_reply: the replies smtpd sends: code, enhanced status code (RFC
 * 3463) and text.  Clients, tests and operators read these bytes, so they
 * change only on purpose, here.
 *
 * Fixed replies are the table; replies that carry a value are the
 * functions after it, each with its literal format (-Wformat=2 checks
 * them).  Replies from queued (a file it could not make, a message it
 * could not commit) come over the channel from queued/queue_reply.c and
 * are passed on as they are; a few of its texts are here too, for the
 * same refusal made early from what queued announced.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smtp_reply.h"

/* Every line fits, whatever a reply holds (an int code and its spaces). */
_Static_assert(sizeof(((struct smtp_reply *)0)->enh) +
    sizeof(((struct smtp_reply *)0)->text) + 16 <= REPLY_LINE_MAX,
    "a reply line may not fit REPLY_LINE_MAX");

struct reply_def {
	int		 code;
	const char	*enh;
	const char	*text;
};

static const struct reply_def replies[R_COUNT] = {
	[R_BYE] =			{ 221, "2.0.0", "Bye" },
	[R_TOO_MANY_ERRORS] =		{ 421, "4.7.0",
	    "Error: too many errors" },
	[R_TOO_MANY_CONNECTIONS] =	{ 421, "4.7.0",
	    "Error: too many connections" },
	[R_TOO_MANY_FROM_CLIENT] =	{ 421, "4.7.0",
	    "Error: too many connections from your address" },
	/* Also written straight to a socket we could not keep (smtp_fds.c). */
	[R_TOO_BUSY] =			{ 421, "4.3.2",
	    "Error: too busy, try again later" },
	[R_NO_MEMORY] =			{ 421, "4.3.0",
	    "Error: out of memory" },
	[R_EARLY_TALKER] =		{ 554, "5.5.1",
	    "Error: talking before the greeting" },
	[R_TIMEOUT] =			{ 421, "4.4.2",
	    "Error: timeout exceeded" },
	/* Without a size we cannot tell data from commands: close. */
	[R_BAD_BDAT_SIZE] =		{ 554, "5.5.4",
	    "Error: bad BDAT size" },
	[R_DATA_BEFORE_354] =		{ 554, "5.5.0",
	    "Error: SMTP protocol synchronization: data before 354" },
	/* policyd said nothing in timeouts.policy: never a pass. */
	[R_POLICY_CLOSE] =		{ 421, "4.3.0",
	    "Error: the policy service is not answering, try again later" },

	[R_LINE_TOO_LONG] =		{ 500, "5.5.2",
	    "Error: line too long" },
	[R_NUL_IN_COMMAND] =		{ 500, "5.5.2",
	    "Error: NUL octet in command" },
	[R_BARE_CR_IN_COMMAND] =	{ 500, "5.5.2",
	    "Error: bare CR in command" },
	[R_IMPROPER_PIPELINING] =	{ 503, "5.5.0",
	    "Error: improper pipelining: PIPELINING was not negotiated" },
	[R_UNKNOWN_COMMAND] =		{ 500, "5.5.2",
	    "Error: command not recognized" },
	[R_NOT_IMPLEMENTED] =		{ 502, "5.5.1",
	    "Error: command not implemented" },
	[R_CMD_OK] =			{ 250, "2.0.0", "Ok" },
	[R_HELP] =			{ 214, "2.0.0", "See RFC 5321" },
	[R_SYNTAX_HELO] =		{ 501, "5.5.4",
	    "Syntax: HELO hostname" },
	[R_SYNTAX_EHLO] =		{ 501, "5.5.4",
	    "Syntax: EHLO hostname" },
	[R_SYNTAX_MAIL] =		{ 501, "5.5.4",
	    "Syntax: MAIL FROM:<address>" },
	[R_SYNTAX_RCPT] =		{ 501, "5.5.4",
	    "Syntax: RCPT TO:<address>" },
	[R_SYNTAX_DATA] =		{ 501, "5.5.4", "Syntax: DATA" },
	[R_SYNTAX_RSET] =		{ 501, "5.5.4", "Syntax: RSET" },
	[R_SYNTAX_VRFY] =		{ 501, "5.5.4",
	    "Syntax: VRFY address" },
	[R_SYNTAX_STARTTLS] =		{ 501, "5.5.4", "Syntax: STARTTLS" },
	/* RFC 5321 3.5.3: never disclose who exists. */
	[R_VRFY] =			{ 252, "2.5.2",
	    "Cannot VRFY user, but will accept message and attempt "
	    "delivery" },

	[R_NEED_HELO] =			{ 503, "5.5.1",
	    "Error: send HELO/EHLO first" },
	[R_NEED_MAIL] =			{ 503, "5.5.1",
	    "Error: need MAIL command" },
	[R_NESTED_MAIL] =		{ 503, "5.5.1",
	    "Error: nested MAIL command" },
	[R_RCPT_AFTER_DATA] =		{ 503, "5.5.1",
	    "Error: RCPT after message data started" },
	[R_NO_VALID_RCPTS] =		{ 554, "5.5.1",
	    "Error: no valid recipients" },
	[R_DATA_AFTER_BDAT] =		{ 503, "5.5.1",
	    "Error: DATA after BDAT" },
	[R_BDAT_AFTER_DATA] =		{ 503, "5.5.1",
	    "Error: BDAT after DATA" },
	[R_BDAT_NEEDS_EHLO] =		{ 503, "5.5.1",
	    "Error: BDAT needs EHLO" },
	[R_PARAMS_NEED_EHLO] =		{ 555, "5.5.4",
	    "Error: parameters need EHLO" },

	/* RFC 3207: then the handshake, and the session starts afresh. */
	[R_TLS_GO] =			{ 220, "2.0.0", "Ready to start TLS" },
	[R_TLS_ACTIVE] =		{ 503, "5.5.1",
	    "Error: TLS already active" },
	[R_TLS_IN_TX] =			{ 503, "5.5.1",
	    "Error: MAIL transaction in progress" },
	/* No certificate, or it could not be used. */
	[R_TLS_UNAVAILABLE] =		{ 454, "4.7.0",
	    "TLS not available due to local problem" },

	[R_AUTH_OK] =			{ 235, "2.7.0",
	    "Authentication successful" },
	/* Never which part was wrong; a suspension reads the same. */
	[R_AUTH_FAILED] =		{ 535, "5.7.8",
	    "Error: authentication failed" },
	/* Dovecot unreachable: never 535. */
	[R_AUTH_TEMP] =			{ 454, "4.7.0",
	    "Temporary authentication failure" },
	[R_AUTH_LIMIT] =		{ 421, "4.7.0",
	    "Error: too many authentication failures" },
	[R_AUTH_NEEDED] =		{ 530, "5.7.0",
	    "Authentication required" },
	[R_AUTH_TOO_LONG] =		{ 500, "5.5.6",
	    "Authentication exchange line is too long" },
	[R_AUTH_CANCELLED] =		{ 501, "5.0.0",
	    "Authentication cancelled" },
	[R_AUTH_BAD_BASE64] =		{ 501, "5.5.2",
	    "Error: cannot decode response" },
	[R_AUTH_TWICE] =		{ 503, "5.5.1",
	    "Error: already authenticated" },
	[R_AUTH_IN_TX] =		{ 503, "5.5.1",
	    "Error: AUTH not permitted during a mail transaction" },
	[R_AUTH_NEEDS_TLS] =		{ 538, "5.7.11",
	    "Encryption required for requested authentication mechanism" },
	[R_AUTH_MECHANISM] =		{ 504, "5.5.4",
	    "Error: unsupported authentication mechanism" },
	[R_AUTH_SYNTAX] =		{ 501, "5.5.4",
	    "Syntax: AUTH mechanism [initial-response]" },
	[R_AUTH_SENDER] =		{ 553, "5.7.1",
	    "Sender address not owned by the authenticated user" },

	[R_NON_ASCII_ADDRESS] =		{ 553, "5.6.7",
	    "Non-ASCII address without SMTPUTF8" },
	[R_SENDER_LOCAL_LONG] =		{ 501, "5.1.7",
	    "Local part too long" },
	[R_RCPT_LOCAL_LONG] =		{ 501, "5.1.3",
	    "Local part too long" },
	[R_SENDER_DOMAIN] =		{ 501, "5.1.7",
	    "Domain must be a fully qualified name or an address literal" },
	[R_RCPT_DOMAIN] =		{ 501, "5.1.3",
	    "Domain must be a fully qualified name or an address literal" },
	[R_SENDER_SYNTAX] =		{ 501, "5.1.7",
	    "Bad sender address syntax" },
	[R_RCPT_SYNTAX] =		{ 501, "5.1.3",
	    "Bad recipient address syntax" },
	[R_POSTMASTER_MISCONFIGURED] =	{ 451, "4.3.0",
	    "Postmaster address is misconfigured" },

	[R_SENDER_OK] =			{ 250, "2.1.0", "Ok" },
	[R_RCPT_OK] =			{ 250, "2.1.5", "Ok" },
	/* RFC 5321 4.5.3.1.10: the client sends the rest later. */
	[R_TOO_MANY_RCPTS] =		{ 452, "4.5.3",
	    "Error: too many recipients" },
	/* Also queued's QR_NO_STORAGE, at the commit. */
	[R_NO_STORAGE] =		{ 452, "4.3.1",
	    "Insufficient system storage" },
	/* Also queued's QR_TENANT_FULL, at the commit. */
	[R_TENANT_FULL] =		{ 452, "4.3.1",
	    "Insufficient system storage: the recipient's queue is full" },
	/* Also queued's QR_TENANT_DEFERRED, at the commit (defer-all). */
	[R_TENANT_DEFERRED] =		{ 451, "4.3.0",
	    "Error: the recipient's own mail servers have accepted nothing "
	    "from this relay for too long; its mail is deferred, try again "
	    "later" },
	[R_SIZE_EXCEEDED] =		{ 552, "5.3.4",
	    "Message size exceeds fixed limit" },
	/* No spool file for want of descriptors (smtp_fds.c). */
	[R_NO_FILE_NOW] =		{ 451, "4.3.2",
	    "Error: cannot take the message now, try again later" },
	[R_LOCAL_RESOURCE] =		{ 451, "4.3.0",
	    "Error: local resource failure" },
	[R_START_DATA] =		{ 354, "",
	    "End data with <CR><LF>.<CR><LF>" },
	[R_NUL_IN_MESSAGE] =		{ 554, "5.6.0",
	    "Message refused: NUL octet in message" },
	[R_BARE_NEWLINE] =		{ 554, "5.6.0",
	    "Message refused: bare CR or LF in message (lines must end "
	    "with CRLF)" },
	[R_MAIL_LOOP] =			{ 554, "5.4.6",
	    "Too many Received: header fields: mail loop" },
	[R_WRITE_ERROR] =		{ 451, "4.3.0",
	    "Error: local error writing the message" },
	/* Also queued's QR_CONFIG_CHANGED, at the commit. */
	[R_CONFIG_CHANGED] =		{ 451, "4.3.0",
	    "Error: the configuration changed; try again" },

	[R_POLICY_LATE] =		{ 451, "4.3.0",
	    "Error: the policy service is not answering, try again later" },
	/*
	 * RFC 5321 4.5.3.1.10: checks made at the end of data differ for
	 * this recipient, so it goes in a transaction of its own.
	 */
	[R_EOD_CLASS] =			{ 452, "4.5.3",
	    "Error: send this recipient in a new transaction" },
	/* The milters' verdict did not come (smtp_milter.c). */
	[R_SCAN_LATE] =			{ 451, "4.7.1",
	    "Error: the content check is not answering, try again later" },
	[R_HEADER_FIELDS] =		{ 554, "5.6.0",
	    "Message refused: too many header fields" },
	[R_HEADER_SIZE] =		{ 554, "5.6.0",
	    "Message refused: header section too large" },
	[R_NO_TO_CC] =			{ 554, "5.6.0",
	    "Message refused: no recipient in To: or Cc:" },
};

static void	reply_fmt(struct smtp_reply *, int, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

static void
reply_fmt(struct smtp_reply *r, int code, const char *enh, const char *fmt,
    ...)
{
	va_list ap;

	r->code = code;
	strlcpy(r->enh, enh, sizeof(r->enh));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

void
reply_set(struct smtp_reply *r, enum reply_id id)
{
	const struct reply_def *d = &replies[id];

	r->code = d->code;
	strlcpy(r->enh, d->enh, sizeof(r->enh));
	strlcpy(r->text, d->text, sizeof(r->text));
}

/* "220 relay.example ESMTP relayd" */
void
reply_greeting(struct smtp_reply *r, const char *hostname)
{
	reply_fmt(r, 220, "", "%s ESMTP relayd", hostname);
}

/* A reply that ends the session starts with our name (RFC 5321 4.2). */
void
reply_closing(struct smtp_reply *r, enum reply_id id, const char *hostname)
{
	const struct reply_def *d = &replies[id];

	reply_fmt(r, d->code, d->enh, "%s %s", hostname, d->text);
}

void
reply_closing_r(struct smtp_reply *r, const struct smtp_reply *in,
    const char *hostname)
{
	reply_fmt(r, in->code, in->enh, "%s %s", hostname, in->text);
}

void
reply_helo(struct smtp_reply *r, const char *hostname)
{
	reply_fmt(r, 250, "", "%s", hostname);
}

/* The end of data: the message is queued (synced and committed). */
void
reply_queued(struct smtp_reply *r, const char *qid)
{
	reply_fmt(r, 250, "2.0.0", "Ok: queued as %s", qid);
}

/* A BDAT chunk that is not the last. */
void
reply_octets(struct smtp_reply *r, uint64_t n)
{
	reply_fmt(r, 250, "2.0.0", "%llu octets received",
	    (unsigned long long)n);
}

/* An ESMTP parameter's name, as the client wrote it, shortened. */
static int
key_len(size_t len)
{
	return len > 64 ? 64 : (int)len;
}

void
reply_unsupported(struct smtp_reply *r, const char *key, size_t len)
{
	reply_fmt(r, 555, "5.5.4", "Unsupported option: %.*s", key_len(len),
	    key);
}

void
reply_bad_value(struct smtp_reply *r, const char *key, size_t len)
{
	reply_fmt(r, 501, "5.5.4", "Bad value for %.*s", key_len(len), key);
}

/* key: one of the parameters we know, by its name. */
void
reply_duplicate(struct smtp_reply *r, const char *key)
{
	reply_fmt(r, 501, "5.5.4", "Duplicate %s parameter", key);
}

void
reply_relay_denied(struct smtp_reply *r, const char *addr)
{
	reply_fmt(r, 550, "5.7.1", "<%.300s>: Relay access denied", addr);
}

void
reply_bad_idn(struct smtp_reply *r, const char *local, const char *domain)
{
	reply_fmt(r, 553, "5.1.3", "<%.300s@%.300s>: not a valid "
	    "internationalised domain name", local, domain);
}

/* domain: the address literal, brackets and all. */
void
reply_private_literal(struct smtp_reply *r, const char *domain)
{
	reply_fmt(r, 550, "5.7.1", "%s: Relay to a private address is not "
	    "allowed", domain);
}

void
reply_user_unknown(struct smtp_reply *r, const char *addr)
{
	reply_fmt(r, 550, "5.1.1", "<%.300s>: Recipient address rejected: "
	    "User unknown", addr);
}

/* class.subject.detail (RFC 3463), of the code's class. */
static int
enh_valid(const char *e, int code)
{
	size_t	i, dots = 0, digits = 0;

	if (code / 100 == 3 || e[0] != '0' + code / 100 || e[1] != '.')
		return 0;
	for (i = 2;; i++) {
		if (isdigit((unsigned char)e[i]) && digits < 3)
			digits++;
		else if (e[i] == '.' && dots == 0 && digits > 0) {
			dots++;
			digits = 0;
		} else
			return e[i] == '\0' && dots == 1 && digits > 0;
	}
}

/*
 * A reply from elsewhere (queued's) is passed on only if it is one: a
 * code, an enhanced code of its class or none, and printable ASCII text,
 * with nothing a client could read as the end of the line.
 */
int
reply_valid(const struct smtp_reply *r)
{
	const char *t;

	if (r->code < 200 || r->code > 599 || r->text[0] == '\0')
		return 0;
	if (r->enh[0] != '\0' && !enh_valid(r->enh, r->code))
		return 0;
	for (t = r->text; *t != '\0'; t++)
		if (*t < ' ' || *t > '~')
			return 0;
	return 1;
}

int
reply_line(const struct smtp_reply *r, char *buf, size_t sz)
{
	int n;

	if (r->enh[0] != '\0')
		n = snprintf(buf, sz, "%d %s %s\r\n", r->code, r->enh, r->text);
	else
		n = snprintf(buf, sz, "%d %s\r\n", r->code, r->text);
	if (n < 0 || (size_t)n >= sz)
		return -1;
	return n;
}

/*
 * Our name, then the extensions we offer (RFC 5321 4.1.1.1); ext adds
 * those offered only to some sessions (STARTTLS before TLS is up).
 */
int
reply_ehlo(char *buf, size_t sz, const char *hostname, uint64_t max_size,
    unsigned ext)
{
	int n;

	n = snprintf(buf, sz, "250-%s\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %llu\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "%s%s"
	    "250-SMTPUTF8\r\n"
	    "250-CHUNKING\r\n"
	    "250 DSN\r\n", hostname, (unsigned long long)max_size,
	    (ext & EHLO_STARTTLS) ? "250-STARTTLS\r\n" : "",
	    (ext & EHLO_AUTH) ? "250-AUTH PLAIN LOGIN\r\n" : "");
	if (n < 0 || (size_t)n >= sz)
		return -1;
	return n;
}

int
reply_auth_challenge(char *buf, size_t sz, int which)
{
	int n;

	/* base64 of "Username:" and "Password:", as every client expects. */
	n = snprintf(buf, sz, "334 %s\r\n", which == 'U' ? "VXNlcm5hbWU6" :
	    which == 'W' ? "UGFzc3dvcmQ6" : "");
	if (n < 0 || (size_t)n >= sz)
		return -1;
	return n;
}

/* What a relay_rcpt refusal was, for the statistics (stats.h). */
enum stat_reason
reply_stat_reason(const struct smtp_reply *r)
{
	if (strcmp(r->enh + 1, ".1.1") == 0)
		return SR_UNKNOWN_USER;
	if (strcmp(r->enh, "5.7.1") == 0)
		return SR_RELAY_DENIED;
	return SR_OTHER;
}
