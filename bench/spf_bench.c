/*
 * spf_bench: SPF checks (policyd/spf.c) per second.  A figure, never an
 * assertion; bench/spf.py runs it against a local unbound.
 *
 *	spf_bench [-c concurrent] [-n checks] -s host:port ip sender
 *	spf_bench [-n checks] -m zonefile ip sender
 *
 * -s asks a DNS server through c-ares as dnsd does (dnsd/dns_resolve.c),
 * without dnsd's cache: the evaluator, c-ares and the server.  -m
 * answers from a zone in memory, from inside the lookup call: the
 * evaluator's own cost.  A zone file has one record a line, "name type
 * data", the type A, AAAA, MX ("pref host"), TXT (the rest of the line)
 * or PTR (name: the address).
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "dnsd/dnsd.h"
#include "policyd/spf.h"

#define ZONE_MAX	1024

struct rr_line {
	char		*name;
	uint32_t	 type;
	char		*data;
};

struct bench {
	struct event_base	*base;
	struct resolver		*res;
	struct spf_resolver	 sr;
	struct netaddr		 ip;
	const char		*sender;
	struct rr_line		 zone[ZONE_MAX];
	size_t			 nzone;
	unsigned		 want, started, done;
	unsigned		 results[SPF_PERMERROR + 1];
	char			 why[SPF_WHY_MAX];
};

struct ask {
	dns_cb		 cb;
	void		*arg;
	int		 cancelled;
};

static void	start(struct bench *);

/* -s: through c-ares; the answer frees its ask. */
static void
on_resolved(void *arg, const struct dns_answer *a)
{
	struct ask *k = arg;

	if (!k->cancelled)
		k->cb(k->arg, a);
	free(k);
}

static uint64_t
dns_ask(void *ctx, uint32_t qtype, const char *name, dns_cb cb, void *arg)
{
	struct bench	*b = ctx;
	struct ask	*k;
	struct in_addr	 in;
	uint8_t		*o;
	char		 rev[64];

	if ((k = calloc(1, sizeof(*k))) == NULL)
		err(1, "calloc");
	k->cb = cb;
	k->arg = arg;
	if (qtype == DNS_T_PTR) {
		/* dnsd makes the reverse name; IPv4 is enough here. */
		if (inet_pton(AF_INET, name, &in) != 1)
			errx(1, "PTR of %s: IPv4 only", name);
		o = (uint8_t *)&in;
		snprintf(rev, sizeof(rev), "%u.%u.%u.%u.in-addr.arpa", o[3],
		    o[2], o[1], o[0]);
		name = rev;
	}
	resolver_query(b->res, name, (uint16_t)qtype, on_resolved, k);
	return (uint64_t)(uintptr_t)k;
}

static void
dns_forget(void *ctx, uint64_t id)
{
	(void)ctx;
	((struct ask *)(uintptr_t)id)->cancelled = 1;
}

/* -m: from the zone, at once. */
static uint64_t
mem_ask(void *ctx, uint32_t qtype, const char *name, dns_cb cb, void *arg)
{
	static struct dns_answer	 a;
	struct bench			*b = ctx;
	struct dns_rr			*rr;
	size_t				 i;
	int				 exists = 0;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < b->nzone; i++) {
		if (strcasecmp(b->zone[i].name, name) != 0)
			continue;
		exists = 1;
		if (b->zone[i].type != qtype || a.nrr == DNS_MAX_RR)
			continue;
		rr = &a.rr[a.nrr++];
		rr->type = (uint16_t)qtype;
		if (qtype == DNS_T_A)
			inet_pton(AF_INET, b->zone[i].data, rr->addr);
		else if (qtype == DNS_T_AAAA)
			inet_pton(AF_INET6, b->zone[i].data, rr->addr);
		else if (qtype == DNS_T_TXT) {
			rr->txt = b->zone[i].data;
			rr->txtlen = strlen(rr->txt);
		} else if (qtype == DNS_T_MX)
			strlcpy(rr->name, strchr(b->zone[i].data, ' ') + 1,
			    sizeof(rr->name));
		else
			strlcpy(rr->name, b->zone[i].data, sizeof(rr->name));
	}
	a.rcode = a.nrr > 0 ? DNS_R_OK : exists ? DNS_R_NODATA :
	    DNS_R_NXDOMAIN;
	cb(arg, &a);
	return 1;
}

static void
mem_forget(void *ctx, uint64_t id)
{
	(void)ctx;
	(void)id;
}

static void
on_done(void *arg, const struct spf_outcome *o)
{
	struct bench *b = arg;

	b->done++;
	b->results[o->result]++;
	strlcpy(b->why, o->why, sizeof(b->why));
	if (b->res != NULL && b->started < b->want)
		start(b);
	else if (b->res != NULL && b->done == b->want)
		event_base_loopbreak(b->base);
}

static void
start(struct bench *b)
{
	b->started++;
	spf_check(&b->sr, &b->ip, b->sender, "helo.bench.test",
	    "relay.bench.test", on_done, b);
}

static void
load_zone(struct bench *b, const char *path)
{
	static const struct {
		const char	*name;
		uint32_t	 type;
	} types[] = { { "A", DNS_T_A }, { "AAAA", DNS_T_AAAA },
	    { "MX", DNS_T_MX }, { "TXT", DNS_T_TXT }, { "PTR", DNS_T_PTR } };
	FILE	*f;
	char	 line[4096], *name, *type, *data;
	size_t	 i;

	if ((f = fopen(path, "r")) == NULL)
		err(1, "%s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((name = strtok(line, " ")) == NULL ||
		    (type = strtok(NULL, " ")) == NULL ||
		    (data = strtok(NULL, "")) == NULL)
			continue;
		if (b->nzone == ZONE_MAX)
			errx(1, "%s: more than %d records", path, ZONE_MAX);
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(type, types[i].name) == 0)
				break;
		if (i == sizeof(types) / sizeof(types[0]))
			errx(1, "%s: type %s", path, type);
		b->zone[b->nzone].type = types[i].type;
		if ((b->zone[b->nzone].name = strdup(name)) == NULL ||
		    (b->zone[b->nzone].data = strdup(data)) == NULL)
			err(1, "strdup");
		b->nzone++;
	}
	fclose(f);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: spf_bench [-c concurrent] [-n checks] "
	    "-s host:port | -m zonefile ip sender\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct bench	 b;
	struct conf		*conf = NULL;
	const char		*server = NULL, *zone = NULL, *why;
	unsigned		 conc = 16, i;
	double			 t0, c0, t, c;
	int			 ch;

	b.want = 10000;
	while ((ch = getopt(argc, argv, "c:m:n:s:")) != -1) {
		switch (ch) {
		case 'c':
			conc = (unsigned)atoi(optarg);
			break;
		case 'm':
			zone = optarg;
			break;
		case 'n':
			b.want = (unsigned)atoi(optarg);
			break;
		case 's':
			server = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || (server == NULL) == (zone == NULL) ||
	    conc == 0 || b.want == 0)
		usage();
	if (netaddr_parse(argv[optind], &b.ip) == -1)
		errx(1, "%s: not an address", argv[optind]);
	b.sender = argv[optind + 1];
	if (zone != NULL) {
		load_zone(&b, zone);
		b.sr = (struct spf_resolver){ mem_ask, mem_forget, &b };
	} else {
		if ((conf = conf_new()) == NULL ||
		    (conf->dns.servers = calloc(1, sizeof(struct hostport))) ==
		    NULL)
			err(1, "conf");
		if ((why = hostport_parse(server, &conf->dns.servers[0])) !=
		    NULL)
			errx(1, "%s: %s", server, why);
		conf->dns.nservers = 1;
		conf->dns.timeout = 5;
		conf->dns.tries = 2;
		if ((b.base = event_base_new()) == NULL)
			errx(1, "event_base_new");
		b.res = resolver_new(b.base);
		resolver_configure(b.res, conf);
		b.sr = (struct spf_resolver){ dns_ask, dns_forget, &b };
	}
	t0 = now();
	c0 = cpu_seconds();
	if (b.res == NULL)
		while (b.started < b.want)
			start(&b);
	else {
		for (i = 0; i < conc && b.started < b.want; i++)
			start(&b);
		if (b.done < b.want)
			event_base_dispatch(b.base);
	}
	t = now() - t0;
	c = cpu_seconds() - c0;
	printf("%s: %u checks in %.2fs: %.0f per second, %.1f us of CPU "
	    "each (this process)\n", zone != NULL ? "from memory" :
	    "through c-ares", b.done, t, b.done / t, c * 1e6 / b.done);
	printf("  results:");
	for (i = 0; i <= SPF_PERMERROR; i++)
		if (b.results[i] > 0)
			printf(" %s %u", spf_result_name((enum spf_result)i),
			    b.results[i]);
	printf("; the last: %s\n", b.why);
	return 0;
}
