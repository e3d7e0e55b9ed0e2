/*
 * stats: counter names, and the refusal batches (stats.h).
 */
#include <stdio.h>
#include <string.h>

#include "marshal.h"
#include "stats.h"

static const char *const reasons[SR_MAX] = {
	[SR_GREYLIST] = "greylist",
	[SR_DNSBL] = "dnsbl",
	[SR_SPF] = "spf",
	[SR_SENDER_DOMAIN] = "sender_domain",
	[SR_RATE] = "rate",
	[SR_VOLUME] = "volume",
	[SR_HEADER] = "header",
	[SR_PREGREET] = "pregreet",
	[SR_RCPT_DOMAIN] = "recipient_domain",
	[SR_UNKNOWN_USER] = "unknown_user",
	[SR_RELAY_DENIED] = "relay_denied",
	[SR_SIZE] = "size",
	[SR_SPOOL_FULL] = "spool_full",
	[SR_DEFER_ALL] = "defer_all",
	[SR_OTHER] = "other",
};

static const char *const counters[ST_REJECT] = {
	[ST_INBOUND_MSGS] = "inbound_messages",
	[ST_INBOUND_OCTETS] = "inbound_octets",
	[ST_OUTBOUND_MSGS] = "outbound_messages",
	[ST_OUTBOUND_OCTETS] = "outbound_octets",
	[ST_INBOUND_SENT_MSGS] = "inbound_delivered_messages",
	[ST_INBOUND_SENT_OCTETS] = "inbound_delivered_octets",
	[ST_OUTBOUND_SENT_MSGS] = "outbound_delivered_messages",
	[ST_OUTBOUND_SENT_OCTETS] = "outbound_delivered_octets",
	[ST_DELIVERED] = "delivered",
	[ST_DEFERRED] = "deferred",
	[ST_BOUNCED] = "bounced",
	[ST_AUTH_OUTBOUND] = "auth_outbound_messages",
	[ST_FIRST_1S] = "first_attempt_1s",
	[ST_FIRST_10S] = "first_attempt_10s",
	[ST_FIRST_1M] = "first_attempt_1m",
	[ST_FIRST_10M] = "first_attempt_10m",
	[ST_FIRST_LATER] = "first_attempt_later",
};

/* "rejected_dnsbl", "deferred_greylist": built once, kept. */
static char	names[SR_MAX * 2][40];

const char *
stat_reason_name(enum stat_reason r)
{
	return (unsigned)r < SR_MAX ? reasons[r] : "?";
}

const char *
stat_name(enum stat_counter c)
{
	size_t i;

	if ((unsigned)c < ST_REJECT)
		return counters[c];
	if ((unsigned)c >= ST_MAX)
		return "?";
	i = c - ST_REJECT;
	if (names[i][0] == '\0')
		snprintf(names[i], sizeof(names[i]), "%s_%s", i < SR_MAX ?
		    "rejected" : "deferred", reasons[i % SR_MAX]);
	return names[i];
}

enum stat_reason
stat_reason_of_check(const char *check)
{
	static const struct {
		const char		*check;
		enum stat_reason	 r;
	} map[] = {
		{ "greylist", SR_GREYLIST },
		{ "dnsbl", SR_DNSBL },
		{ "spf", SR_SPF },
		{ "sender-domain", SR_SENDER_DOMAIN },
		{ "connection-rate", SR_RATE },
		{ "message-rate", SR_RATE },
		{ "recipient-rate", SR_RATE },
		{ "daily-volume", SR_VOLUME },
		{ "pregreet", SR_PREGREET },
		{ "recipient-domain", SR_RCPT_DOMAIN },
		{ "recipient", SR_UNKNOWN_USER },
		{ "header", SR_HEADER },
	};
	size_t i;

	for (i = 0; check != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].check, check) == 0)
			return map[i].r;
	return SR_OTHER;
}

enum stat_counter
stat_first_bucket(int64_t d)
{
	if (d < 1)
		return ST_FIRST_1S;
	if (d < 10)
		return ST_FIRST_10S;
	if (d < 60)
		return ST_FIRST_1M;
	if (d < 600)
		return ST_FIRST_10M;
	return ST_FIRST_LATER;
}

int
stat_batch_add(struct stat_batch *b, const char *tenant, enum stat_reason r,
    int deferred, uint32_t n)
{
	uint8_t	c;
	size_t	i;

	if ((unsigned)r >= SR_MAX)
		r = SR_OTHER;
	c = (uint8_t)((deferred ? ST_DEFER : ST_REJECT) + r);
	if (tenant == NULL)
		tenant = "";
	for (i = 0; i < b->n; i++)
		if (b->e[i].counter == c &&
		    strcmp(b->e[i].tenant, tenant) == 0) {
			b->e[i].count += n;
			return 0;
		}
	if (b->n == STAT_BATCH_MAX)
		return -1;
	strlcpy(b->e[b->n].tenant, tenant, sizeof(b->e[b->n].tenant));
	b->e[b->n].counter = c;
	b->e[b->n].count = n;
	b->n++;
	return 0;
}

void
stat_batch_write(struct mw *w, const struct stat_batch *b)
{
	size_t i;

	mw_u32(w, (uint32_t)b->n);
	for (i = 0; i < b->n; i++) {
		mw_str(w, b->e[i].tenant);
		mw_u8(w, b->e[i].counter);
		mw_u32(w, b->e[i].count);
	}
}

int
stat_batch_read(const void *p, size_t len, struct stat_batch *b)
{
	struct mr	r;
	uint32_t	n, i;

	b->n = 0;
	mr_init(&r, p, len);
	n = mr_u32(&r);
	if (r.err || n > STAT_BATCH_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		mr_str(&r, b->e[i].tenant, sizeof(b->e[i].tenant));
		b->e[i].counter = mr_u8(&r);
		b->e[i].count = mr_u32(&r);
		if (r.err || b->e[i].counter < ST_REJECT ||
		    b->e[i].counter >= ST_MAX)
			return -1;
	}
	if (mr_end(&r) == -1)
		return -1;
	b->n = n;
	return 0;
}
