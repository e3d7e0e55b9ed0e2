/*
 * replies: the tables of SMTP replies, smtpd's (smtpd/smtp_reply.c) and
 * queued's (queued/queue_reply.c).  Every entry is there and well formed,
 * every line fits, and queued's replies are ones smtpd takes.
 */
#include <stdio.h>
#include <string.h>

#include "marshal.h"
#include "queued/queued.h"
#include "smtpd/smtp_reply.h"
#include "tap.h"

/* "" or class.subject.detail (RFC 3463), the class the code's. */
static int
enh_ok(int code, const char *enh)
{
	unsigned	a, b, c;
	int		n = 0;

	if (enh[0] == '\0')
		return code / 100 == 3 || code == 220 || code == 250;
	if (sscanf(enh, "%u.%3u.%3u%n", &a, &b, &c, &n) != 3 ||
	    (size_t)n != strlen(enh))
		return 0;
	return (int)a == code / 100 && (a == 2 || a == 4 || a == 5);
}

/* Printable ASCII: nothing a client could read as a line's end. */
static int
text_ok(const char *t)
{
	if (*t == '\0')
		return 0;
	for (; *t != '\0'; t++)
		if (*t < ' ' || *t > '~')
			return 0;
	return 1;
}

/* One line, ending in its only CRLF. */
static int
line_ok(const char *line, int n)
{
	return n > 5 && (size_t)n == strlen(line) && line[n - 2] == '\r' &&
	    line[n - 1] == '\n' && strpbrk(line, "\r\n") == line + n - 2;
}

static void
smtpd_table(void)
{
	struct smtp_reply	 r;
	char			 line[REPLY_LINE_MAX];
	int			 i, n, bad = 0;

	for (i = 0; i < R_COUNT; i++) {
		memset(&r, 0, sizeof(r));
		reply_set(&r, (enum reply_id)i);
		n = reply_line(&r, line, sizeof(line));
		if (r.code < 200 || r.code > 599 || !enh_ok(r.code, r.enh) ||
		    !text_ok(r.text) || !line_ok(line, n)) {
			diag("reply %d: %d \"%s\" \"%s\"", i, r.code, r.enh,
			    r.text);
			bad++;
		}
	}
	is_int(bad, 0, "smtpd: all %d replies are whole and well formed",
	    R_COUNT);
}

static void
smtpd_values(void)
{
	struct smtp_reply	 r;
	char			 host[256], big[1000], line[REPLY_LINE_MAX];
	char			 ehlo[REPLY_EHLO_MAX];
	int			 n;

	reply_greeting(&r, "relay.example");
	n = reply_line(&r, line, sizeof(line));
	is_str(line, "220 relay.example ESMTP relayd\r\n", "the greeting");
	reply_closing(&r, R_BYE, "relay.example");
	reply_line(&r, line, sizeof(line));
	is_str(line, "221 2.0.0 relay.example Bye\r\n",
	    "a closing names us first");
	reply_queued(&r, "0123456789ABCDEF");
	reply_line(&r, line, sizeof(line));
	is_str(line, "250 2.0.0 Ok: queued as 0123456789ABCDEF\r\n",
	    "queued, with its id");
	reply_octets(&r, 18446744073709551615ULL);
	reply_line(&r, line, sizeof(line));
	is_str(line, "250 2.0.0 18446744073709551615 octets received\r\n",
	    "a chunk's octets");
	reply_duplicate(&r, "SIZE");
	reply_line(&r, line, sizeof(line));
	is_str(line, "501 5.5.4 Duplicate SIZE parameter\r\n", "duplicate");
	reply_unsupported(&r, "FOO=BAR", 3);
	reply_line(&r, line, sizeof(line));
	is_str(line, "555 5.5.4 Unsupported option: FOO\r\n",
	    "the option, by its name alone");

	/* The longest names and addresses still make one line. */
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	reply_closing(&r, R_DATA_BEFORE_354, host);
	n = reply_line(&r, line, sizeof(line));
	ok(line_ok(line, n) && strstr(line, host) != NULL &&
	    strstr(line, "data before 354\r\n") != NULL,
	    "the longest closing is whole");
	reply_greeting(&r, host);
	ok(line_ok(line, reply_line(&r, line, sizeof(line))),
	    "the longest greeting fits");
	reply_unsupported(&r, big, strlen(big));
	n = reply_line(&r, line, sizeof(line));
	ok(line_ok(line, n) && strlen(r.text) == 20 + 64,
	    "a long option name is cut at 64");
	reply_relay_denied(&r, big);
	ok(line_ok(line, reply_line(&r, line, sizeof(line))) &&
	    strlen(r.text) == 300 + strlen("<>: Relay access denied"),
	    "a long address is cut at 300");
	reply_bad_idn(&r, big, big);
	ok(line_ok(line, reply_line(&r, line, sizeof(line))) &&
	    strlen(r.text) == sizeof(r.text) - 1,
	    "two long parts are cut at the reply's size");
	reply_user_unknown(&r, big);
	ok(line_ok(line, reply_line(&r, line, sizeof(line))),
	    "user unknown fits");
	reply_private_literal(&r, big);
	ok(line_ok(line, reply_line(&r, line, sizeof(line))),
	    "a private literal fits");
	reply_helo(&r, host);
	ok(line_ok(line, reply_line(&r, line, sizeof(line))),
	    "the HELO reply fits");
	is_int(reply_line(&r, line, 10), -1, "a short buffer is refused");

	n = reply_ehlo(ehlo, sizeof(ehlo), "relay.example", 1048576, 0);
	is_str(ehlo, "250-relay.example\r\n250-PIPELINING\r\n"
	    "250-SIZE 1048576\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-SMTPUTF8\r\n250-CHUNKING\r\n250 DSN\r\n", "the EHLO reply");
	is_int(n, (long long)strlen(ehlo), "its length");
	reply_ehlo(ehlo, sizeof(ehlo), "relay.example", 1048576,
	    EHLO_STARTTLS);
	is_str(ehlo, "250-relay.example\r\n250-PIPELINING\r\n"
	    "250-SIZE 1048576\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-STARTTLS\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 DSN\r\n",
	    "the EHLO reply with STARTTLS");
	ok(reply_ehlo(ehlo, sizeof(ehlo), host, UINT64_MAX, EHLO_STARTTLS) > 0,
	    "the longest EHLO reply fits");
	is_int(reply_ehlo(ehlo, 64, "relay.example", 1, 0), -1,
	    "EHLO in a short buffer is refused");
}

/* What smtpd takes from queued to pass on. */
static void
smtpd_valid(void)
{
	static const struct {
		int		 code;
		const char	*enh, *text;
		int		 valid;
	} cases[] = {
		{ 451, "4.3.0", "Error: local error in processing", 1 },
		{ 452, "4.3.1", "Insufficient system storage", 1 },
		{ 550, "5.123.456", "x", 1 },
		{ 354, "", "End data", 1 },
		{ 451, "4.3.0", "x\r\n250 2.0.0 Ok: queued as 0", 0 },
		{ 451, "4.3.0", "a line\nbreak", 0 },
		{ 451, "4.3.0", "a\x1b[31mred", 0 },
		{ 451, "4.3.0", "caf\xc3\xa9", 0 },
		{ 451, "4.3.0", "", 0 },
		{ 451, "5.3.0", "not its class", 0 },
		{ 451, "4.3", "two parts", 0 },
		{ 451, "4.3.0.1", "four parts", 0 },
		{ 451, "4. 3.0", "a space", 0 },
		{ 451, "4.+3.0", "a sign", 0 },
		{ 451, "4.1234.0", "four digits", 0 },
		{ 451, "4..0", "no digits", 0 },
		{ 451, "4.3.", "no detail", 0 },
		{ 354, "3.0.0", "no class 3", 0 },
		{ 600, "", "out of range", 0 },
		{ 199, "", "out of range", 0 },
	};
	struct smtp_reply	r;
	size_t			i;
	int			id;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r.code = cases[i].code;
		strlcpy(r.enh, cases[i].enh, sizeof(r.enh));
		strlcpy(r.text, cases[i].text, sizeof(r.text));
		is_int(reply_valid(&r), cases[i].valid, "%d \"%s\" %zu: %s",
		    r.code, r.enh, i, cases[i].valid ? "taken" : "refused");
	}
	for (id = 0; id < R_COUNT; id++) {
		reply_set(&r, (enum reply_id)id);
		if (!reply_valid(&r))
			break;
	}
	is_int(id, R_COUNT, "every reply of the table is valid");
}

/* Sent as msg_queue.h says, and taken as smtpd reads it. */
static int
queue_reply_ok(int id)
{
	const struct queue_reply	*q = queue_reply_get(id);
	struct smtp_reply		 r;
	struct mw			 w;
	struct mr			 m;

	mw_init(&w);
	queue_reply_put(&w, id);
	mr_init(&m, w.buf, w.len);
	r.code = (int)mr_u32(&m);
	mr_str(&m, r.enh, sizeof(r.enh));
	mr_str(&m, r.text, sizeof(r.text));
	if (mr_end(&m) == -1 || r.code != q->code ||
	    strcmp(r.enh, q->enh) != 0 || strcmp(r.text, q->text) != 0)
		return 0;
	return r.code >= 400 && r.code <= 599 && r.enh[0] != '\0' &&
	    enh_ok(r.code, r.enh) && text_ok(r.text) && reply_valid(&r);
}

static void
queued_table(void)
{
	int i, bad = 0;

	for (i = 0; i < QR_COUNT; i++) {
		if (queue_reply_get(i)->text == NULL ||
		    !queue_reply_ok(i)) {
			diag("queued reply %d is missing or bad", i);
			bad++;
		}
	}
	is_int(bad, 0, "queued: all %d replies are whole and smtpd takes "
	    "them", QR_COUNT);
}

int
main(void)
{
	smtpd_table();
	smtpd_values();
	smtpd_valid();
	queued_table();
	return done_testing();
}
