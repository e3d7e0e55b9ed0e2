/*
 * smtp_received: the one header smtpd adds (RFC 5321 section 4.4, with
 * the protocol names of RFC 3848 and RFC 6531).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "smtpd.h"

const char *
session_proto(const struct session *s)
{
	if (s->tx != NULL && s->tx->mp.smtputf8)
		return "UTF8SMTP";
	return s->helo_kind == 'E' ? "ESMTP" : "SMTP";
}

int
received_header(const struct session *s, char *buf, size_t sz)
{
	char		 qid[32], date[64], tcpinfo[352], forpart[600];
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
	n = snprintf(buf, sz, "Received: from %s (%s)\r\n"
	    "\tby %s (relayd) with %s id %s%s;\r\n\t%s\r\n",
	    s->helo ? s->helo : "unknown", tcpinfo, s->sd->conf->hostname,
	    session_proto(s), qid, forpart, date);
	if (n < 0 || (size_t)n >= sz)
		return -1;
	return n;
}
