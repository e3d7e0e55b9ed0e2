/*
 * stats: the per-tenant daily counters (queued/queue_stats.c) and the
 * batches of SMTP-time refusals smtpd and policyd send queued.
 *
 * Counters are aggregates: a number per tenant per day, never a message
 * id or an address.  A refusal is counted by the process that knows its
 * reason (smtpd for its own, policyd for its checks' verdicts), in memory,
 * and sent at most once a second as one M_Q_STATS / M_PQ_STATS:
 *
 *	u32 n, n x (str tenant, u8 counter, u32 count)
 *
 * tenant "" is the relay's own line (a refusal with no tenant: relay
 * denied, a client refused at connect).  Only refusal counters travel;
 * queued refuses anything else as a lie.
 */
#ifndef RELAYD_STATS_H
#define RELAYD_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"		/* TENANT_MAX */

/* Why a client was refused at SMTP time. */
enum stat_reason {
	SR_GREYLIST,
	SR_DNSBL,
	SR_SPF,
	SR_SENDER_DOMAIN,
	SR_RATE,		/* connection, message, recipient rates */
	SR_VOLUME,		/* the tenant's daily volume limit */
	SR_HEADER,		/* header checks (require_to_or_cc...) */
	SR_PREGREET,
	SR_RCPT_DOMAIN,
	SR_UNKNOWN_USER,	/* recipients list, callout, learned */
	SR_RELAY_DENIED,
	SR_SIZE,
	SR_SPOOL_FULL,		/* the tenant's spool_max */
	SR_DEFER_ALL,
	SR_OTHER,		/* configuration, resources, milters */
	SR_MAX
};

enum stat_counter {
	ST_INBOUND_MSGS,	/* accepted (250), by direction */
	ST_INBOUND_OCTETS,
	ST_OUTBOUND_MSGS,
	ST_OUTBOUND_OCTETS,
	ST_INBOUND_SENT_MSGS,	/* delivered on: one per message and job */
	ST_INBOUND_SENT_OCTETS,
	ST_OUTBOUND_SENT_MSGS,
	ST_OUTBOUND_SENT_OCTETS,
	ST_DELIVERED,		/* recipients */
	ST_DEFERRED,		/* recipients' temporary failures */
	ST_BOUNCED,
	ST_AUTH_OUTBOUND,	/* outbound messages of authenticated users */
	ST_FIRST_1S,		/* accept to first attempt, per recipient */
	ST_FIRST_10S,
	ST_FIRST_1M,
	ST_FIRST_10M,
	ST_FIRST_LATER,
	ST_REJECT,		/* + enum stat_reason: 5xx at SMTP time */
	ST_DEFER = ST_REJECT + SR_MAX,	/* + enum stat_reason: 4xx */
	ST_MAX = ST_DEFER + SR_MAX
};

#define STAT_BATCH_MAX	256	/* entries in one batch */

struct stat_entry {
	char		 tenant[TENANT_MAX + 1];
	uint8_t		 counter;
	uint32_t	 count;
};

struct stat_batch {
	size_t			 n;
	struct stat_entry	 e[STAT_BATCH_MAX];
};

struct mw;

const char	*stat_name(enum stat_counter);
const char	*stat_reason_name(enum stat_reason);
/* policyd's check name (policy_session.c) as a reason. */
enum stat_reason stat_reason_of_check(const char *);
/* The first-attempt bucket of a delay in seconds. */
enum stat_counter stat_first_bucket(int64_t);
/* Count one refusal; 0, or -1 when the batch is full (send it first). */
int	 stat_batch_add(struct stat_batch *, const char *tenant,
	    enum stat_reason, int deferred, uint32_t n);
void	 stat_batch_write(struct mw *, const struct stat_batch *);
/* 0, or -1 when the payload is malformed or counts what it may not. */
int	 stat_batch_read(const void *, size_t, struct stat_batch *);

#endif
