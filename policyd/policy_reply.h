/*
 * policy_reply: every SMTP reply policyd decides, in one place, so that
 * a reply seen in a log or a client's transcript leads to one line
 * (policy_reply.c).  A fixed reply is named by its enum preply_id; one
 * that carries a value (an address, a domain, a delay) has its own
 * function with a literal format.  smtpd sends what these fill.
 */
#ifndef RELAYD_POLICY_REPLY_H
#define RELAYD_POLICY_REPLY_H

#include <stddef.h>

#include "policy_domain.h"
#include "spf.h"

#define PREPLY_TEXT_MAX	320

struct preply {
	const char	*check;		/* the check that decided */
	int		 code;		/* 0: no refusal */
	const char	*enh;
	char		 text[PREPLY_TEXT_MAX];
};

enum preply_id {
	PR_PASS,		/* no refusal */
	PR_CONNECTION_RATE,
	PR_PREGREET,
	PR_MESSAGE_RATE,
	PR_RECIPIENT_RATE,
	PR_DAILY_VOLUME,
	PR_CONF_CHANGED,
	PR_STALE,		/* the transaction ended before the verdict */
	PR_RCPT_UNKNOWN,	/* recipients.on_unknown reject */
	PR_RCPT_UNKNOWN_DEFER,	/* recipients.on_unknown defer */
	PR_RCPT_UNVERIFIED,	/* neither known nor checkable now */
	PR_CONTENT_UNAVAILABLE,	/* a milter failed, on_failure tempfail */
	PR_CONTENT_BULK,	/* content.bulk_defer */
	PR_MILTER_REJECT,	/* SMFIR_REJECT */
	PR_MILTER_TEMPFAIL,	/* SMFIR_TEMPFAIL */
	PR_MAX
};

void	 preply_fixed(struct preply *, enum preply_id);
void	 preply_dnsbl(struct preply *, const char *addr, const char *list);
/* 0 when the domain's state refuses nothing. */
int	 preply_sender_domain(struct preply *, enum domain_result,
	    const char *domain);
int	 preply_rcpt_domain(struct preply *, enum domain_result,
	    const char *domain);
/* 0 when the SPF result refuses nothing (spf: reject). */
int	 preply_spf(struct preply *, enum spf_result, const char *addr,
	    const char *domain, const char *explanation);
void	 preply_greylist(struct preply *, unsigned seconds);
/* The text of a recipient verification's refusal, for address shown. */
void	 preply_rcpt_text(char *, size_t, int code, const char *shown);
/* What a milter's reply lacks: its enhanced code, its text. */
const char *preply_milter_enh(int code);
const char *preply_milter_text(int code);

#endif
