/*
 * stats: the refusal batches smtpd and policyd send queued (common/
 * stats.c).  A batch written is read back the same; a batch that is cut
 * short, has bytes left over, counts more entries than a batch holds,
 * names a tenant too long or a counter that is not a refusal is refused
 * whole; adding merges what is the same and says when the batch is full.
 */
#include <stdio.h>
#include <string.h>

#include "common/marshal.h"
#include "common/stats.h"
#include "tap.h"

static struct stat_batch	b, got;

static int
read_mw(const struct mw *w)
{
	return stat_batch_read(w->buf, w->len, &got);
}

static void
test_roundtrip(void)
{
	struct mw	w;
	size_t		i, cut;
	int		all_refused = 1;

	memset(&b, 0, sizeof(b));
	ok(stat_batch_add(&b, "acme", SR_DNSBL, 0, 1) == 0, "add a dnsbl 5xx");
	ok(stat_batch_add(&b, "acme", SR_DNSBL, 0, 2) == 0, "and two more");
	ok(stat_batch_add(&b, "acme", SR_GREYLIST, 1, 1) == 0,
	    "a greylist 4xx");
	ok(stat_batch_add(&b, NULL, SR_RELAY_DENIED, 0, 1) == 0,
	    "a relay denied, no tenant");
	ok(stat_batch_add(&b, "acme", SR_MAX + 3, 0, 1) == 0,
	    "an unknown reason");
	is_int(b.n, 4, "four entries: the same counter merged");
	is_int(b.e[0].count, 3, "dnsbl counted 3");
	is_str(stat_name(b.e[0].counter), "rejected_dnsbl", "its name");
	is_str(stat_name(b.e[1].counter), "deferred_greylist", "a 4xx name");
	is_str(b.e[2].tenant, "", "no tenant is the relay's");
	is_str(stat_name(b.e[3].counter), "rejected_other",
	    "an unknown reason is other");

	mw_init(&w);
	stat_batch_write(&w, &b);
	ok(read_mw(&w) == 0, "read back");
	is_int(got.n, b.n, "as many entries");
	ok(memcmp(got.e, b.e, b.n * sizeof(b.e[0])) == 0, "the same entries");
	for (cut = 0; cut < w.len; cut++)
		if (stat_batch_read(w.buf, cut, &got) == 0 || got.n != 0)
			all_refused = 0;
	ok(all_refused, "cut short anywhere: refused, nothing read");
	mw_u8(&w, 0);
	ok(read_mw(&w) == -1, "a byte left over: refused");

	mw_init(&w);
	mw_u32(&w, 0);
	ok(read_mw(&w) == 0 && got.n == 0, "an empty batch");
	mw_init(&w);
	mw_u32(&w, STAT_BATCH_MAX + 1);
	for (i = 0; i < STAT_BATCH_MAX + 1; i++) {
		mw_str(&w, "");
		mw_u8(&w, ST_REJECT);
		mw_u32(&w, 1);
	}
	ok(read_mw(&w) == -1, "more entries than a batch holds: refused");
}

static void
one(const char *tenant, unsigned counter, const char *what, int want)
{
	struct mw w;

	mw_init(&w);
	mw_u32(&w, 1);
	mw_str(&w, tenant);
	mw_u8(&w, (uint8_t)counter);
	mw_u32(&w, 7);
	is_int(read_mw(&w), want, "%s", what);
}

static void
test_lies(void)
{
	char long_name[TENANT_MAX + 2];

	one("acme", ST_REJECT + SR_SIZE, "a refusal: read", 0);
	one("acme", ST_DEFER + SR_OTHER, "the last counter: read", 0);
	one("acme", ST_DELIVERED, "a delivery counted by smtpd: a lie", -1);
	one("acme", ST_INBOUND_MSGS, "messages accepted: a lie", -1);
	one("acme", ST_MAX, "past the last counter: refused", -1);
	one("acme", 255, "counter 255: refused", -1);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	one(long_name, ST_REJECT, "a tenant name too long: refused", -1);
	long_name[TENANT_MAX] = '\0';
	one(long_name, ST_REJECT, "the longest tenant name: read", 0);
}

static void
test_full(void)
{
	char	name[16];
	size_t	i;
	int	r = 0;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < STAT_BATCH_MAX && r == 0; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		r = stat_batch_add(&b, name, SR_SIZE, 0, 1);
	}
	ok(r == 0 && b.n == STAT_BATCH_MAX, "a batch fills");
	ok(stat_batch_add(&b, "another", SR_SIZE, 0, 1) == -1,
	    "full: the caller must send it first");
	ok(stat_batch_add(&b, "t0", SR_SIZE, 0, 1) == 0 && b.e[0].count == 2,
	    "full, but a counter it holds still counts");
}

static void
test_names(void)
{
	is_int(stat_first_bucket(0), ST_FIRST_1S, "0s: under a second");
	is_int(stat_first_bucket(-5), ST_FIRST_1S, "a clock step back: 1s");
	is_int(stat_first_bucket(9), ST_FIRST_10S, "9s");
	is_int(stat_first_bucket(10), ST_FIRST_1M, "10s");
	is_int(stat_first_bucket(599), ST_FIRST_10M, "599s");
	is_int(stat_first_bucket(600), ST_FIRST_LATER, "600s: later");
	is_int(stat_reason_of_check("dnsbl"), SR_DNSBL, "policyd's dnsbl");
	is_int(stat_reason_of_check("message-rate"), SR_RATE, "a rate");
	is_int(stat_reason_of_check("nonesuch"), SR_OTHER, "unknown: other");
	is_int(stat_reason_of_check(NULL), SR_OTHER, "none: other");
	is_str(stat_name(ST_MAX), "?", "no counter past the last");
	is_str(stat_name(ST_DEFER + SR_SPOOL_FULL), "deferred_spool_full",
	    "a 4xx by reason");
}

int
main(void)
{
	test_roundtrip();
	test_lies();
	test_full();
	test_names();
	return done_testing();
}
