/*
 * queue_verify: smtpd's envelope, checked again before it is committed.
 *
 * smtpd faces the Internet; a bug there must not become a queue entry
 * that misroutes mail, smuggles a line break into a next hop's session
 * or passes for one of our own notices.  So each address is parsed
 * again with smtpd's parser, the flags are those smtpd may set, and
 * tenant, direction, route and routing domain are derived again from
 * queued's own configuration and the client's address (rcpt_route.c):
 * what smtpd says must be what queued finds.  This guards against bugs,
 * not against a compromised smtpd, which owns the sockets anyway; the
 * grant smtpd cannot derive alone (an authenticated user's tenant) comes
 * from policyd (queue_auth.c), and the envelope's sender must then be in
 * that tenant's domains unless auth.foreign_senders allows any.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "mailaddr.h"
#include "queued.h"
#include "rcpt_route.h"

/* Printable, no space: HELO names, ENVID (xtext), ORCPT. */
static int
word_ok(const char *s, int utf8)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || (*p >= 0x80 && !utf8))
			return 0;
	return 1;
}

static int
addr_ok(const char *addr, int utf8, struct mailaddr *ma)
{
	return mailaddr_parse(addr, strlen(addr), utf8 ? MA_UTF8 : 0, ma) ==
	    MA_OK;
}

static int
rcpt_ok(struct queued *q, const struct envelope *e, const struct rcpt *r,
    const struct tenant_conf *client, char *why, size_t sz)
{
	struct mailaddr		ma;
	struct rcpt_route	rr;

	if (!addr_ok(r->addr, e->smtputf8, &ma)) {
		snprintf(why, sz, "recipient <%s> does not parse", r->addr);
		return 0;
	}
	if (r->orcpt != NULL && !word_ok(r->orcpt, e->smtputf8)) {
		snprintf(why, sz, "ORCPT of <%s> is not printable", r->addr);
		return 0;
	}
	if (rcpt_route(q->conf, client, &ma, &rr) != RR_OK) {
		snprintf(why, sz, "recipient <%s> is not routable here",
		    r->addr);
		return 0;
	}
	if (rr.dir != r->dir || rr.route != r->route ||
	    strcasecmp(rr.domain, r->domain) != 0 ||
	    strcmp(rr.tenant ? rr.tenant->name : "", r->tenant) != 0) {
		snprintf(why, sz, "recipient <%s>: smtpd says tenant=%s %s "
		    "via %s, queued finds tenant=%s %s via %s", r->addr,
		    r->tenant[0] ? r->tenant : "-",
		    r->dir == DIR_INBOUND ? "inbound" : "outbound", r->domain,
		    rr.tenant ? rr.tenant->name : "-",
		    rr.dir == DIR_INBOUND ? "inbound" : "outbound", rr.domain);
		return 0;
	}
	return 1;
}

/* An authenticated user's sender: in its tenant's domains, or allowed. */
static int
sender_ok(const struct queued *q, const struct tenant_conf *t,
    const char *sender)
{
	const char *at;

	if (t->auth.foreign_senders || sender[0] == '\0')
		return 1;
	if ((at = strrchr(sender, '@')) == NULL)
		return 0;
	return conf_domain_tenant(q->conf, at + 1) == t;
}

/* 0, or -1 with why: the transaction is refused with 451 4.3.0. */
int
envelope_verify(struct queued *q, uint64_t sid, const struct envelope *e,
    char *why, size_t sz)
{
	const struct tenant_conf	*client, *granted;
	const char			*user = NULL;
	struct mailaddr			 ma;
	size_t				 i;

	/* ENVF_HOLD: a milter quarantined the message. */
	if (e->flags & ~(ENVF_8BIT_BODY | ENVF_HOLD)) {
		snprintf(why, sz, "flags 0x%x are not smtpd's to set",
		    e->flags);
		return -1;
	}
	if (e->sender[0] != '\0' && !addr_ok(e->sender, e->smtputf8, &ma)) {
		snprintf(why, sz, "sender <%s> does not parse", e->sender);
		return -1;
	}
	if (!word_ok(e->helo, 1) || !word_ok(e->client_name, 0) ||
	    !word_ok(e->envid, 0)) {
		snprintf(why, sz, "HELO, client name or ENVID holds a control "
		    "character or a space");
		return -1;
	}
	client = conf_client_tenant(q->conf, &e->client);
	/* An authenticated session relays as policyd's grant says. */
	if ((granted = auth_grant_tenant(q, sid, &user)) != NULL) {
		client = granted;
		if (!sender_ok(q, granted, e->sender)) {
			snprintf(why, sz, "sender <%s> is not in the domains of "
			    "tenant %s (user %s)", e->sender, granted->name,
			    user);
			return -1;
		}
	}
	for (i = 0; i < e->nrcpts; i++)
		if (!rcpt_ok(q, e, &e->rcpts[i], client, why, sz))
			return -1;
	return 0;
}
