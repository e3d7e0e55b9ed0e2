/*
 * policy_reply: policyd's SMTP replies (policy_reply.h).
 */
#include <stdio.h>
#include <string.h>

#include "policy_reply.h"

static const struct {
	const char	*check;
	int		 code;
	const char	*enh;
	const char	*text;
} fixed[PR_MAX] = {
	[PR_PASS] = { NULL, 0, NULL, "" },
	[PR_CONNECTION_RATE] = { "connection-rate", 421, "4.7.0",
	    "Error: too many connections from your address, try again later" },
	[PR_PREGREET] = { "pregreet", 554, "5.7.1",
	    "Error: your address talked before our greeting, try again "
	    "later" },
	[PR_MESSAGE_RATE] = { "message-rate", 450, "4.7.1",
	    "Error: too many messages from your address, try again later" },
	[PR_RECIPIENT_RATE] = { "recipient-rate", 450, "4.7.1",
	    "Error: too many recipients from your address, try again later" },
	[PR_DAILY_VOLUME] = { "daily-volume", 450, "4.7.1",
	    "Error: the recipient's daily volume limit is reached, try again "
	    "later" },
	[PR_CONF_CHANGED] = { "configuration", 451, "4.3.0",
	    "Error: the configuration changed; try again" },
	[PR_STALE] = { NULL, 451, "4.3.0",
	    "Error: the transaction ended before its verdict" },
	/* The texts of recipient verification: preply_rcpt_text. */
	[PR_RCPT_UNKNOWN] = { "recipient", 550, "5.1.1", "" },
	[PR_RCPT_UNKNOWN_DEFER] = { "recipient", 450, "4.1.1", "" },
	[PR_RCPT_UNVERIFIED] = { "recipient", 451, "4.4.3", "" },
	[PR_CONTENT_UNAVAILABLE] = { "content", 451, "4.7.1",
	    "Error: the content check is not available, try again later" },
	[PR_CONTENT_BULK] = { "content", 450, "4.7.1",
	    "Error: bulk mail is not accepted for this recipient; try again "
	    "later" },
	[PR_MILTER_REJECT] = { "content", 550, "5.7.1",
	    "Message content rejected" },
	[PR_MILTER_TEMPFAIL] = { "content", 451, "4.7.1",
	    "Service unavailable - try again later" },
};

static void
preply_set(struct preply *r, enum preply_id id)
{
	r->check = fixed[id].check;
	r->code = fixed[id].code;
	r->enh = fixed[id].enh;
}

void
preply_fixed(struct preply *r, enum preply_id id)
{
	if (id < 0 || id >= PR_MAX)
		id = PR_CONF_CHANGED;
	preply_set(r, id);
	strlcpy(r->text, fixed[id].text, sizeof(r->text));
}

void
preply_dnsbl(struct preply *r, const char *addr, const char *list)
{
	r->check = "dnsbl";
	r->code = 550;
	r->enh = "5.7.1";
	snprintf(r->text, sizeof(r->text), "Service unavailable; client [%s] "
	    "blocked using %s", addr, list);
}

int
preply_sender_domain(struct preply *r, enum domain_result res,
    const char *d)
{
	r->check = "sender-domain";
	switch (res) {
	case DOM_NXDOMAIN:
		r->code = 550;
		r->enh = "5.1.8";
		snprintf(r->text, sizeof(r->text), "Sender address rejected: "
		    "domain %s not found", d);
		return 1;
	case DOM_TEMPFAIL:
		r->code = 450;
		r->enh = "4.1.8";
		snprintf(r->text, sizeof(r->text), "Sender address rejected: "
		    "cannot look up domain %s, try again later", d);
		return 1;
	case DOM_NULLMX:
		r->code = 550;
		r->enh = "5.7.27";
		snprintf(r->text, sizeof(r->text), "Sender address rejected: "
		    "domain %s accepts no mail (null MX)", d);
		return 1;
	case DOM_BOGON:
		r->code = 550;
		r->enh = "5.1.8";
		snprintf(r->text, sizeof(r->text), "Sender address rejected: "
		    "domain %s has no mail server that can be reached", d);
		return 1;
	default:
		return 0;
	}
}

int
preply_rcpt_domain(struct preply *r, enum domain_result res, const char *d)
{
	r->check = "recipient-domain";
	switch (res) {
	case DOM_NXDOMAIN:
		r->code = 550;
		r->enh = "5.1.2";
		snprintf(r->text, sizeof(r->text), "Recipient address "
		    "rejected: domain %s not found", d);
		return 1;
	case DOM_TEMPFAIL:
		r->code = 450;
		r->enh = "4.1.2";
		snprintf(r->text, sizeof(r->text), "Recipient address "
		    "rejected: cannot look up domain %s, try again later", d);
		return 1;
	case DOM_NULLMX:
		r->code = 556;
		r->enh = "5.1.10";
		snprintf(r->text, sizeof(r->text), "Recipient address "
		    "rejected: domain %s accepts no mail (null MX)", d);
		return 1;
	default:
		return 0;
	}
}

int
preply_spf(struct preply *r, enum spf_result res, const char *addr,
    const char *domain, const char *expl)
{
	r->check = "spf";
	switch (res) {
	case SPF_FAIL:
		r->code = 550;
		r->enh = "5.7.23";
		snprintf(r->text, sizeof(r->text), "SPF: %s is not allowed to "
		    "send mail for %s%s%s", addr, domain, expl[0] ? ": " : "",
		    expl);
		return 1;
	case SPF_TEMPERROR:
		r->code = 451;
		r->enh = "4.7.24";
		snprintf(r->text, sizeof(r->text), "SPF: temporary error "
		    "checking %s, try again later", domain);
		return 1;
	default:
		return 0;
	}
}

void
preply_greylist(struct preply *r, unsigned seconds)
{
	r->check = "greylist";
	r->code = 451;
	r->enh = "4.7.1";
	snprintf(r->text, sizeof(r->text), "Greylisted: try again in %u "
	    "seconds", seconds > 0 ? seconds : 1);
}

void
preply_rcpt_text(char *buf, size_t sz, int code, const char *shown)
{
	if (code == fixed[PR_PASS].code)
		buf[0] = '\0';
	else if (code == fixed[PR_RCPT_UNKNOWN_DEFER].code)
		snprintf(buf, sz, "<%s>: Recipient address rejected: "
		    "unverified address: the destination server does not know "
		    "this user, try again later", shown);
	else if (code == fixed[PR_RCPT_UNKNOWN].code)
		snprintf(buf, sz, "<%s>: Recipient address rejected: User "
		    "unknown", shown);
	else
		snprintf(buf, sz, "<%s>: Recipient address rejected: cannot "
		    "verify the address now, try again later", shown);
}

const char *
preply_milter_enh(int code)
{
	return code >= 500 ? fixed[PR_MILTER_REJECT].enh :
	    fixed[PR_MILTER_TEMPFAIL].enh;
}

const char *
preply_milter_text(int code)
{
	return code >= 500 ? fixed[PR_MILTER_REJECT].text :
	    "Message content check failed, try again later";
}
