/*
 * greylist: policyd's greylisting apart from the store: how senders are
 * normalised, the decision from what the store holds, the whitelist's
 * entries, the keys; and the names the DNS lists are asked under.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/policy_dnsbl.h"
#include "policyd/policy_greylist.h"
#include "tap.h"

/*
 * Senders: one triplet per sender, however its tags change.
 */

struct norm_case {
	const char	*in;
	const char	*want;
	const char	*what;
};

static const struct norm_case norms[] = {
	{ "alice@example.org", "alice@example.org", "plain" },
	{ "Alice@Example.ORG", "alice@example.org", "case" },
	{ "", "", "the null sender" },
	{ "alice", "alice", "no domain" },
	{ "alice+lists@example.org", "alice@example.org", "+extension" },
	{ "prvs=1234abcdef=alice@example.org", "alice@example.org",
	    "BATV prvs=" },
	{ "PRVS=99887766aa=alice@example.org", "alice@example.org",
	    "BATV, upper case" },
	{ "msprvs1=17abcdef=alice@example.org", "alice@example.org",
	    "BATV msprvs1=" },
	{ "btv1==0a1b2c3d==alice@example.org", "alice@example.org",
	    "BATV btv1==" },
	{ "prvs=alice@example.org", "prvs@example.org",
	    "prvs= without its tag: not BATV" },
	{ "SRS0=HHH=TT=orig.example=alice@forwarder.example",
	    "alice@orig.example", "SRS0" },
	{ "srs0=x1y2=AB=Orig.Example=Alice@fwd.example",
	    "alice@orig.example", "SRS0, lower case" },
	{ "SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example",
	    "alice@orig.example", "SRS1" },
	{ "SRS0=HHH=TT=orig.example@fwd.example", "srs0@fwd.example",
	    "SRS0 without a local part: kept as it is" },
	{ "bounce-12345@lists.example", "bounce-#@lists.example", "VERP" },
	{ "bounce-12345-678@lists.example", "bounce-#-#@lists.example",
	    "VERP, two numbers" },
	{ "bounce.4711.99@lists.example", "bounce.#.#@lists.example",
	    "VERP, dots" },
	{ "12345@lists.example", "#@lists.example", "a number alone" },
	{ "user2@example.org", "user2@example.org",
	    "a digit inside a word stays" },
	{ "2user@example.org", "2user@example.org",
	    "a digit starting a word stays" },
	{ "list-bounces+alice=example.net@lists.example",
	    "list-bounces@lists.example", "VERP with the recipient" },
	{ "prvs=0123456789=bounce-4711@lists.example",
	    "bounce-#@lists.example", "BATV and VERP" },
};

static void
test_normalize(void)
{
	char	out[GREY_SENDER_MAX], small[8], big[600];
	size_t	i;

	for (i = 0; i < sizeof(norms) / sizeof(norms[0]); i++) {
		grey_normalize_sender(norms[i].in, out, sizeof(out));
		is_str(out, norms[i].want, "normalize: %s (%s)", norms[i].what,
		    norms[i].in);
	}
	grey_normalize_sender("alice.longname@example.org", small,
	    sizeof(small));
	is_int((long long)strlen(small), 7, "normalize: cut to the buffer");
	is_str(small, "alice.l", "normalize: the start of it");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[300] = '@';
	grey_normalize_sender(big, out, sizeof(out));
	ok(strlen(out) < sizeof(out), "normalize: a sender too long is cut");
}

/*
 * The decision.
 */

#define NOW	1700000000

static struct policy_conf
pconf(void)
{
	struct policy_conf p;

	memset(&p, 0, sizeof(p));
	p.greylist = 1;
	p.grey_delay = 300;
	p.grey_window = 14400;
	p.grey_lifetime = 36 * 86400;
	p.grey_awl_after = 5;
	return p;
}

static struct pstore_val
trip(int64_t first, int64_t passed, int64_t renewed, int64_t expiry)
{
	struct pstore_val	v;
	struct grey_entry	e;

	memset(&v, 0, sizeof(v));
	memset(&e, 0, sizeof(e));
	e.first = first;
	e.passed = passed;
	e.renewed = renewed;
	e.expiry = expiry;
	strlcpy(e.tenant, "acme", sizeof(e.tenant));
	v.len = grey_entry_encode(&e, v.val, sizeof(v.val));
	v.found = v.len > 0;
	return v;
}

static struct pstore_val
awl(uint32_t passes, int64_t counted)
{
	struct pstore_val	v;
	struct awl_entry	a;

	memset(&v, 0, sizeof(v));
	a.expiry = NOW + 86400;
	a.passes = passes;
	a.counted = counted;
	v.len = awl_entry_encode(&a, v.val, sizeof(v.val));
	v.found = v.len > 0;
	return v;
}

static void
test_decide(void)
{
	struct policy_conf	p = pconf();
	struct pstore_val	none, t, a;
	struct grey_decision	d;
	struct grey_entry	e;

	memset(&none, 0, sizeof(none));

	/* A new triplet: deferred for the delay, remembered for the window. */
	grey_decide(&p, "acme", &none, &none, NOW, &d);
	is_int(d.result, GREY_DEFER, "new: deferred");
	is_str(d.why, "new triplet", "new: why");
	is_int(d.retry_in, 300, "new: retry after the delay");
	ok(d.put_triplet && d.triplet.first == NOW &&
	    d.triplet.expiry == NOW + 14400 && d.triplet.passed == 0,
	    "new: stored with its first attempt, for the window");
	is_str(d.triplet.tenant, "acme", "new: the tenant is stored");
	ok(!d.put_awl, "new: no pass counted");

	/* Too early. */
	t = trip(NOW - 100, 0, NOW - 100, NOW - 100 + 14400);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	is_int(d.result, GREY_DEFER, "early: deferred");
	is_str(d.why, "retry too early", "early: why");
	is_int(d.retry_in, 200, "early: the rest of the delay");
	ok(!d.put_triplet, "early: the first attempt is kept");

	/* Just before and at the delay. */
	t = trip(NOW - 299, 0, NOW - 299, NOW + 14000);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	ok(d.result == GREY_DEFER && d.retry_in == 1,
	    "a second before the delay: deferred, 1 s to go");
	t = trip(NOW - 300, 0, NOW - 300, NOW + 14000);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	is_int(d.result, GREY_PASS, "at the delay: passes");

	/* In the window: passes, for the lifetime, and counts. */
	t = trip(NOW - 400, 0, NOW - 400, NOW + 14000);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	is_int(d.result, GREY_PASS, "in the window: passes");
	is_str(d.why, "retried in time", "in the window: why");
	ok(d.put_triplet && d.triplet.passed == NOW &&
	    d.triplet.renewed == NOW && d.triplet.first == NOW - 400 &&
	    d.triplet.expiry == NOW + 36 * 86400,
	    "in the window: stored as passed, for the lifetime");
	ok(d.put_awl && d.awl.passes == 1 && d.awl.counted == NOW,
	    "in the window: the client's first pass counted");

	/* After the window: a new try. */
	t = trip(NOW - 14401, 0, NOW - 14401, NOW + 100);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	is_int(d.result, GREY_DEFER, "after the window: deferred");
	is_str(d.why, "retry after the window", "after the window: why");
	ok(d.put_triplet && d.triplet.first == NOW && d.retry_in == 300,
	    "after the window: starts again, a full delay");

	/* The clock went back: starts again rather than pass. */
	t = trip(NOW + 1000, 0, NOW + 1000, NOW + 15000);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	ok(d.result == GREY_DEFER && d.put_triplet && d.triplet.first == NOW,
	    "a first attempt in the future: starts again");

	/* Known: passes; renewed at most hourly. */
	t = trip(NOW - 7200, NOW - 7000, NOW - 3599, NOW + 86400);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	is_int(d.result, GREY_PASS, "known: passes");
	is_str(d.why, "known triplet", "known: why");
	ok(!d.put_triplet, "known, renewed 59m59s ago: no write");
	t = trip(NOW - 7200, NOW - 7000, NOW - 3600, NOW + 86400);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	ok(d.put_triplet && d.triplet.renewed == NOW &&
	    d.triplet.expiry == NOW + 36 * 86400 &&
	    d.triplet.passed == NOW - 7000,
	    "known, renewed an hour ago: renewed for the lifetime");

	/* A known triplet's pass counts at most hourly. */
	a = awl(2, NOW - 100);
	grey_decide(&p, "acme", &t, &a, NOW, &d);
	ok(!d.put_awl, "known: counted 100 s ago, not again");
	a = awl(2, NOW - 3600);
	grey_decide(&p, "acme", &t, &a, NOW, &d);
	ok(d.put_awl && d.awl.passes == 3 && d.awl.counted == NOW,
	    "known: counted an hour ago, counted again");
	/* A new triplet's pass always counts. */
	t = trip(NOW - 400, 0, NOW - 400, NOW + 14000);
	a = awl(2, NOW - 10);
	grey_decide(&p, "acme", &t, &a, NOW, &d);
	ok(d.put_awl && d.awl.passes == 3,
	    "a new triplet's pass counts even within the hour");

	/* Auto-whitelisted: passes whatever the triplet. */
	a = awl(4, NOW - 10);
	grey_decide(&p, "acme", &none, &a, NOW, &d);
	is_int(d.result, GREY_DEFER, "4 passes of 5: a new triplet deferred");
	a = awl(5, NOW - 10);
	grey_decide(&p, "acme", &none, &a, NOW, &d);
	is_int(d.result, GREY_PASS, "5 passes of 5: a new triplet passes");
	is_str(d.why, "auto-whitelisted", "auto-whitelisted: why");
	ok(!d.put_triplet, "auto-whitelisted: no triplet stored");
	p.grey_awl_after = 0;
	a = awl(100, NOW - 10);
	grey_decide(&p, "acme", &none, &a, NOW, &d);
	is_int(d.result, GREY_DEFER, "auto_whitelist_after 0: never");
	t = trip(NOW - 400, 0, NOW - 400, NOW + 14000);
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	ok(d.result == GREY_PASS && !d.put_awl,
	    "auto_whitelist_after 0: passes are not counted");

	/* What the store holds, read back. */
	t = trip(NOW - 400, NOW - 10, NOW - 5, NOW + 99);
	ok(grey_entry_decode(t.val, t.len, &e) == 0 && e.first == NOW - 400 &&
	    e.passed == NOW - 10 && e.renewed == NOW - 5 &&
	    e.expiry == NOW + 99 && strcmp(e.tenant, "acme") == 0,
	    "an entry decodes as it was encoded");
	is_int(pstore_expiry(t.val, t.len), NOW + 99,
	    "the entry starts with its expiry");
	ok(grey_entry_decode(t.val, 31, &e) == -1, "a short entry is refused");

	/* A value that is not an entry is a new triplet, never a pass. */
	memset(&t, 0, sizeof(t));
	t.found = 1;
	t.len = 12;
	memset(t.val, 0xff, t.len);
	p = pconf();
	grey_decide(&p, "acme", &t, &none, NOW, &d);
	ok(d.result == GREY_DEFER && d.put_triplet,
	    "a broken entry: a new triplet");
}

/*
 * The whitelist's entries.
 */

static void
wl_net(const char *s, int af, unsigned plen)
{
	struct cidr	c;
	char		d[256];

	ok(grey_wl_parse(s, &c, d, sizeof(d)) == 0 && c.af == af &&
	    c.plen == plen && d[0] == '\0', "whitelist: %s is a network /%u",
	    s, plen);
}

static void
wl_domain(const char *s, const char *want)
{
	struct cidr	c;
	char		d[256];

	ok(grey_wl_parse(s, &c, d, sizeof(d)) == 0 && c.af == 0 &&
	    strcmp(d, want) == 0, "whitelist: %s is the domain %s", s, want);
}

static void
wl_bad(const char *s)
{
	struct cidr	c;
	char		d[256];

	ok(grey_wl_parse(s, &c, d, sizeof(d)) == -1, "whitelist: \"%s\" "
	    "refused", s);
}

static void
test_wl_parse(void)
{
	struct grey_wl		*wl;
	struct policy_conf	 p;
	struct netaddr		 na;
	char			 err[128], d[8];
	struct cidr		 c;

	wl_net("192.0.2.1", AF_INET, 32);
	wl_net("198.51.100.0/24", AF_INET, 24);
	wl_net("2001:db8::/48", AF_INET6, 48);
	wl_net("2001:db8::1", AF_INET6, 128);
	wl_domain("example.org", "example.org");
	wl_domain("Mail.Example.ORG", "mail.example.org");
	wl_domain("1und1.example", "1und1.example");
	wl_bad("");
	wl_bad("example");
	wl_bad(".example.org");
	wl_bad("-example.org");
	wl_bad("exa_mple.org");
	wl_bad("exa mple.org");
	wl_bad("198.51.100.1/24");
	wl_bad("198.51.100.0/33");
	wl_bad("2001:db8::/129");
	/* Typos of addresses are no domains: a top-level label has letters. */
	wl_bad("300.1.2.3");
	wl_bad("192.0.2");
	wl_bad("192.0.2.");
	ok(grey_wl_parse("long.example.org", &c, d, sizeof(d)) == -1,
	    "whitelist: a domain longer than the buffer is refused");

	/* The list, as grey_whitelisted consults it. */
	wl = grey_wl_new();
	ok(grey_wl_add(wl, "198.51.100.0/24", err, sizeof(err)) == 0 &&
	    grey_wl_add(wl, "relay.example", err, sizeof(err)) == 0 &&
	    grey_wl_add(wl, "relay.example", err, sizeof(err)) == 0,
	    "whitelist: entries added, a duplicate once");
	is_int((long long)grey_wl_count(wl), 2, "whitelist: two entries");
	ok(grey_wl_add(wl, "nonsense", err, sizeof(err)) == -1,
	    "whitelist: a bad entry is refused (%s)", err);
	memset(&p, 0, sizeof(p));
	memset(&na, 0, sizeof(na));
	na.af = AF_INET;
	inet_pton(AF_INET, "198.51.100.77", na.addr);
	ok(grey_whitelisted(wl, &p, &na, NULL) != NULL,
	    "whitelisted: an address in the network");
	inet_pton(AF_INET, "198.51.101.77", na.addr);
	ok(grey_whitelisted(wl, &p, &na, NULL) == NULL,
	    "not whitelisted: an address outside");
	ok(grey_whitelisted(wl, &p, &na, "out.relay.example") != NULL,
	    "whitelisted: a subdomain of a listed domain, SPF passed");
	ok(grey_whitelisted(wl, &p, &na, "notrelay.example") == NULL,
	    "not whitelisted: a name that only ends like one");
	ok(grey_whitelisted(wl, &p, &na, NULL) == NULL,
	    "not whitelisted: a domain without SPF passing");
	grey_wl_free(wl);
}

/*
 * Keys and identities.
 */

static struct netaddr
addr(const char *s)
{
	struct netaddr na;

	memset(&na, 0, sizeof(na));
	if (netaddr_parse(s, &na) == -1)
		fprintf(stderr, "bad address %s\n", s);
	return na;
}

static int
same_key(const struct pstore_key *a, const struct pstore_key *b)
{
	return a->db == b->db && a->len == b->len &&
	    memcmp(a->key, b->key, a->len) == 0;
}

static int
key_names(const struct pstore_key *k, const char *s)
{
	return memmem(k->key, k->len, s, strlen(s)) != NULL;
}

static void
test_keys(void)
{
	uint8_t			 secret[CONF_SECRET_LEN], other[CONF_SECRET_LEN];
	struct grey_id		 id1, id2, id3, id6, id6b, idd;
	struct netaddr		 na;
	struct pstore_key	 k1, k2, k3;

	memset(secret, 7, sizeof(secret));
	memset(other, 8, sizeof(other));
	na = addr("127.0.1.10");
	grey_identity(&na, NULL, &id1);
	is_str(id1.text, "127.0.1.0/24", "identity: IPv4, its /24");
	na = addr("127.0.1.200");
	grey_identity(&na, NULL, &id2);
	na = addr("127.0.2.10");
	grey_identity(&na, NULL, &id3);
	na = addr("2001:db8:1::10");
	grey_identity(&na, NULL, &id6);
	is_str(id6.text, "2001:db8:1::/64", "identity: IPv6, its /64");
	na = addr("2001:db8:1::ffff:10");
	grey_identity(&na, NULL, &id6b);
	na = addr("127.0.1.10");
	grey_identity(&na, "Pool.Example", &idd);
	is_str(idd.text, "spf:pool.example", "identity: an SPF-passed domain");

	grey_triplet_key(secret, &id1, "a@x.example", "b@acme.example", &k1);
	grey_triplet_key(secret, &id2, "prvs=0011223344=A@X.example",
	    "B@acme.example", &k2);
	ok(same_key(&k1, &k2), "key: one /24, one normalised sender, the "
	    "recipient in any case: one triplet");
	grey_triplet_key(secret, &id3, "a@x.example", "b@acme.example", &k3);
	ok(!same_key(&k1, &k3), "key: another /24, another triplet");
	grey_triplet_key(secret, &id6, "a@x.example", "b@acme.example", &k1);
	grey_triplet_key(secret, &id6b, "a@x.example", "b@acme.example", &k2);
	ok(same_key(&k1, &k2), "key: one /64, one triplet");
	grey_triplet_key(secret, &idd, "a@x.example", "b@acme.example", &k3);
	ok(!same_key(&k1, &k3), "key: a domain is not a network");
	grey_triplet_key(other, &id6, "a@x.example", "b@acme.example", &k2);
	ok(!same_key(&k1, &k2), "key: another secret, another key");
	ok(k1.db == PDB_GREYLIST && k1.len == 32, "key: an HMAC-SHA256");
	ok(!key_names(&k1, "x.example") && !key_names(&k1, "acme"),
	    "key: no address in clear");
	grey_awl_key(secret, &id1, &k1);
	grey_awl_key(secret, &id2, &k2);
	grey_awl_key(secret, &id3, &k3);
	ok(k1.db == PDB_AWL && same_key(&k1, &k2) && !same_key(&k1, &k3),
	    "auto-whitelist key: the /24");
	na = addr("127.0.1.10");
	grey_pregreet_key(secret, &na, &k1);
	na = addr("127.0.1.11");
	grey_pregreet_key(secret, &na, &k2);
	ok(k1.db == PDB_PREGREET && !same_key(&k1, &k2),
	    "pregreet key: the address itself");
}

/*
 * DNS lists: the names asked.
 */

static void
test_dnsbl_names(void)
{
	struct netaddr	na;
	char		buf[512], small[20];

	na = addr("192.0.2.1");
	ok(dnsbl_query_name(&na, "zen.test", buf, sizeof(buf)) == 0,
	    "dnsbl name: IPv4");
	is_str(buf, "1.2.0.192.zen.test", "dnsbl name: octets reversed");
	na = addr("2001:db8:1::10");
	ok(dnsbl_query_name(&na, "bl.test", buf, sizeof(buf)) == 0,
	    "dnsbl name: IPv6");
	is_str(buf, "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0."
	    "1.0.0.2.bl.test", "dnsbl name: nibbles, least significant first");
	na = addr("2001:db8:abcd:ef01::1");
	ok(dnsbl_query_name(&na, "bl.test", buf, sizeof(buf)) == 0 &&
	    strncmp(buf, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.f.e.d.c.b.a.8.b."
	    "d.0.1.0.0.2.", 64) == 0, "dnsbl name: hex nibbles");
	na = addr("192.0.2.1");
	ok(dnsbl_query_name(&na, "zen.test", small, 18) == -1,
	    "dnsbl name: a buffer too small is an error");
	ok(dnsbl_query_name(&na, "zen.test", small, 19) == 0,
	    "dnsbl name: a buffer just big enough");
}

int
main(void)
{
	test_normalize();
	test_decide();
	test_wl_parse();
	test_keys();
	test_dnsbl_names();
	return done_testing();
}
