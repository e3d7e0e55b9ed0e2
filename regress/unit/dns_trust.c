/*
 * dns_trust: dnsd trusts the AD bit only with dns.dnssec on and every
 * name server on loopback (a validating resolver on this host).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dnsd/dnsd.h"
#include "tap.h"

static int
trusts(int dnssec, const char *a, const char *b)
{
	struct conf	*conf = conf_new();
	int		 rv;

	conf->dns.dnssec = dnssec;
	conf->dns.servers = calloc(2, sizeof(*conf->dns.servers));
	strlcpy(conf->dns.servers[0].host, a,
	    sizeof(conf->dns.servers[0].host));
	conf->dns.servers[0].port = 53;
	conf->dns.nservers = 1;
	if (b != NULL) {
		strlcpy(conf->dns.servers[1].host, b,
		    sizeof(conf->dns.servers[1].host));
		conf->dns.servers[1].port = 53;
		conf->dns.nservers = 2;
	}
	rv = resolver_trust_ad(conf);
	conf_free(conf);
	return rv;
}

int
main(void)
{
	ok(trusts(1, "127.0.0.1", NULL), "dnssec on, 127.0.0.1: trusted");
	ok(trusts(1, "127.0.0.53", "::1"), "127/8 and ::1: trusted");
	ok(!trusts(0, "127.0.0.1", NULL), "dnssec off: never");
	ok(!trusts(1, "192.0.2.1", NULL), "a server elsewhere: not trusted");
	ok(!trusts(1, "127.0.0.1", "192.0.2.1"),
	    "one server elsewhere among loopback ones: not trusted");
	ok(!trusts(1, "::ffff:10.0.0.1", NULL), "a mapped address elsewhere: "
	    "not trusted");
	return done_testing();
}
