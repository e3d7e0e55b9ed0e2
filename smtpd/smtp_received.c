/*
 * smtp_received: the one header smtpd adds (RFC 5321 section 4.4, with
 * the protocol names of RFC 3848 and RFC 6531), and under TLS what was
 * agreed, as Postfix writes it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "smtpd.h"

const char *
session_proto(const struct session *s)
{
	int tls = smtp_tls_active(s);

	int auth = smtp_auth_user(s) != NULL;

	/* RFC 3848; the user is not named (Postfix's default too). */
	if (s->tx != NULL && s->tx->mp.smtputf8)
		return auth ? "UTF8SMTPSA" : tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (s->helo_kind == 'E')
		return auth ? "ESMTPSA" : tls ? "ESMTPS" : "ESMTP";
	return "SMTP";
}

/*
 * The HELO name is the client's word: octets outside printable ASCII,
 * and the comment and clause delimiters ( ) ; with the escape \ itself,
 * are written as \xHH, so that nobody can forge a clause or smuggle
 * 8-bit or UTF-8 text into our header.
 */
static void
helo_escape(const char *in, char *out, size_t sz)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t o = 0;

	for (p = (const unsigned char *)in; *p != '\0'; p++) {
		if (*p > ' ' && *p < 0x7f && strchr("();\\", *p) == NULL) {
			if (o + 1 >= sz)
				break;
			out[o++] = (char)*p;
			continue;
		}
		if (o + 4 >= sz)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[*p >> 4];
		out[o++] = hex[*p & 0xf];
	}
	out[o] = '\0';
}

int
received_header(const struct session *s, char *buf, size_t sz)
{
	char		 qid[32], date[64], tcpinfo[352], forpart[600];
	char		 helo[4 * HELO_MAX + 1], tls[160] = "";
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 n;

	queue_id_format(s->tx->msgid, qid, sizeof(qid));
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(tcpinfo, sizeof(tcpinfo), "%s%s[%s%s]",
	    s->rdns ? s->rdns : "", s->rdns ? " " : "",
	    s->client.af == AF_INET6 ? "IPv6:" : "", s->addr);
	if (s->tx->nrcpts == 1)
		snprintf(forpart, sizeof(forpart), "\r\n\tfor <%s>",
		    s->tx->rcpts[0].addr);
	else
		forpart[0] = '\0';
	helo_escape(s->helo ? s->helo : "unknown", helo, sizeof(helo));
	/* OpenSSL's names: letters, digits, '_', '-' and '.'. */
	if (smtp_tls_active(s))
		snprintf(tls, sizeof(tls), "\t(using %s with cipher %s "
		    "(%d/%d bits))\r\n", s->tls->version, s->tls->cipher,
		    s->tls->bits, s->tls->alg_bits);
	n = snprintf(buf, sz, "Received: from %s (%s)\r\n"
	    "%s\tby %s (relayd) with %s id %s%s;\r\n\t%s\r\n",
	    helo, tcpinfo, tls, s->sd->conf->hostname,
	    session_proto(s), qid, forpart, date);
	if (n < 0 || (size_t)n >= sz)
		return -1;
	return n;
}
