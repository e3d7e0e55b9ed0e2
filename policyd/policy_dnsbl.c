/*
 * policy_dnsbl: the look-ups of one client in every list in use, and each
 * tenant's score from them (policy_dnsbl.h).
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy_dnsbl.h"

#define ZONES_MAX	CONF_DNSBL_ZONES_MAX	/* checked by the loader */
#define ANSWERS_MAX	8	/* A records kept per zone */

struct zone_result {
	char		 zone[256];
	uint64_t	 req;		/* dnsd request, 0 when answered */
	enum dns_rcode	 rcode;
	uint32_t	 a[ANSWERS_MAX];	/* network order */
	size_t		 na;
	struct dnsbl_lookup *l;
};

struct dnsbl_lookup {
	struct dns_client	*dns;
	struct zone_result	 z[ZONES_MAX];
	size_t			 nz;
	size_t			 pending;
	dnsbl_done_fn		 done;
	dnsbl_done_fn		 each;		/* NULL: done alone */
	void			*arg;
};

int
dnsbl_query_name(const struct netaddr *na, const char *zone, char *buf,
    size_t sz)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 rev[80];
	size_t			 o = 0;
	int			 i, n;

	if (na->af == AF_INET) {
		n = snprintf(rev, sizeof(rev), "%u.%u.%u.%u", na->addr[3],
		    na->addr[2], na->addr[1], na->addr[0]);
		if (n < 0 || (size_t)n >= sizeof(rev))
			return -1;
	} else {
		/* RFC 5782 2.4: nibbles, least significant first. */
		for (i = 15; i >= 0; i--) {
			rev[o++] = hex[na->addr[i] & 0xf];
			rev[o++] = '.';
			rev[o++] = hex[na->addr[i] >> 4];
			rev[o++] = i > 0 ? '.' : '\0';
		}
	}
	n = snprintf(buf, sz, "%s.%s", rev, zone);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

static void
on_answer(void *arg, const struct dns_answer *ans)
{
	struct zone_result	*z = arg;
	struct dnsbl_lookup	*l = z->l;
	size_t			 i;

	z->req = 0;
	z->rcode = ans->rcode;
	for (i = 0; i < ans->nrr && z->na < ANSWERS_MAX; i++)
		if (ans->rr[i].type == DNS_T_A)
			memcpy(&z->a[z->na++], ans->rr[i].addr, 4);
	if (--l->pending == 0)
		l->done(l->arg);
	else if (l->each != NULL)
		l->each(l->arg);
}

static int
zone_known(const struct dnsbl_lookup *l, const char *zone)
{
	size_t i;

	for (i = 0; i < l->nz; i++)
		if (strcmp(l->z[i].zone, zone) == 0)
			return 1;
	return 0;
}

static void
add_zones(struct dnsbl_lookup *l, const struct dnsbl_conf *lists, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (zone_known(l, lists[i].zone))
			continue;
		if (l->nz == ZONES_MAX)
			return;		/* refused by config_check.c */
		strlcpy(l->z[l->nz].zone, lists[i].zone,
		    sizeof(l->z[l->nz].zone));
		l->z[l->nz].l = l;
		l->nz++;
	}
}

struct dnsbl_lookup *
dnsbl_start(struct dns_client *dns, const struct conf *conf,
    const struct netaddr *na, dnsbl_done_fn done, void *arg)
{
	struct dnsbl_lookup	*l;
	const struct dnsbl_conf	*lists;
	char			 name[512];
	size_t			 i, n;
	int32_t			 th;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->dns = dns;
	l->done = done;
	l->arg = arg;
	for (i = 0; i < conf->ntenants; i++) {
		if (!conf->tenants[i].policy.dnsbl)
			continue;
		lists = conf_dnsbl_lists(conf, &conf->tenants[i], &n, &th);
		add_zones(l, lists, n);
	}
	if (l->nz == 0) {
		free(l);
		return NULL;
	}
	for (i = 0; i < l->nz; i++) {
		if (dnsbl_query_name(na, l->z[i].zone, name, sizeof(name)) ==
		    -1) {
			l->z[i].rcode = DNS_R_TEMPFAIL;
			continue;
		}
		l->z[i].req = dns_lookup(dns, DNS_T_A, name, on_answer,
		    &l->z[i]);
		l->pending++;
	}
	if (l->pending == 0) {
		/* Nothing could be asked: the verdict must not wait. */
		free(l);
		return NULL;
	}
	return l;
}

int
dnsbl_done(const struct dnsbl_lookup *l)
{
	return l == NULL || l->pending == 0;
}

void
dnsbl_each_answer(struct dnsbl_lookup *l, dnsbl_done_fn each)
{
	if (l != NULL)
		l->each = each;
}

void
dnsbl_free(struct dnsbl_lookup *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nz; i++)
		if (l->z[i].req != 0)
			dns_cancel(l->dns, l->z[i].req);
	free(l);
}

static const struct zone_result *
zone_of(const struct dnsbl_lookup *l, const char *zone)
{
	size_t i;

	for (i = 0; i < l->nz; i++)
		if (strcmp(l->z[i].zone, zone) == 0)
			return &l->z[i];
	return NULL;
}

int
dnsbl_done_for(const struct dnsbl_lookup *l, const struct conf *conf,
    const struct tenant_conf *t)
{
	const struct dnsbl_conf		*lists;
	const struct zone_result	*z;
	size_t				 i, n;
	int32_t				 th;

	if (dnsbl_done(l))
		return 1;
	lists = conf_dnsbl_lists(conf, t, &n, &th);
	for (i = 0; i < n; i++)
		if ((z = zone_of(l, lists[i].zone)) != NULL && z->req != 0)
			return 0;
	return 1;
}

/* RFC 5782 2.1: 127.0.0.0/8; 127.255.255.0/24 is the lists' error. */
static int
is_error_code(uint32_t a)
{
	return (ntohl(a) & 0xffffff00) == 0x7fffff00;
}

static int
answer_counts(const struct dnsbl_conf *dl, uint32_t a)
{
	size_t i;

	if ((ntohl(a) >> 24) != 127 || is_error_code(a))
		return 0;
	if (dl->nanswers == 0)
		return 1;
	for (i = 0; i < dl->nanswers; i++)
		if (dl->answers[i] == a)
			return 1;
	return 0;
}

static void
fact(struct dnsbl_score *s, const char *zone, const char *what, int32_t w)
{
	char	one[320];
	size_t	len = strlen(s->facts);

	if (w != 0)
		snprintf(one, sizeof(one), "%s%s=%s(%+d)", len ? " " : "",
		    zone, what, w);
	else
		snprintf(one, sizeof(one), "%s%s=%s", len ? " " : "", zone,
		    what);
	strlcat(s->facts, one, sizeof(s->facts));
}

void
dnsbl_score(const struct dnsbl_lookup *l, const struct conf *conf,
    const struct tenant_conf *t, struct dnsbl_score *s)
{
	const struct dnsbl_conf	*lists;
	const struct zone_result *z;
	char			 addr[INET_ADDRSTRLEN];
	size_t			 i, j, n;
	int32_t			 th, best = 0;
	int			 hit;

	memset(s, 0, sizeof(*s));
	lists = conf_dnsbl_lists(conf, t, &n, &th);
	for (i = 0; l != NULL && i < n; i++) {
		if ((z = zone_of(l, lists[i].zone)) == NULL)
			continue;
		if (z->rcode == DNS_R_TEMPFAIL) {
			fact(s, z->zone, "tempfail", 0);
			continue;
		}
		for (j = 0, hit = 0; j < z->na && !hit; j++) {
			inet_ntop(AF_INET, &z->a[j], addr, sizeof(addr));
			if (is_error_code(z->a[j])) {
				log_warnx("dnsbl: %s answered %s, an error "
				    "code of the list (a refused resolver, a "
				    "quota): scored 0", z->zone, addr);
				fact(s, z->zone, addr, 0);
				hit = -1;
			} else if (answer_counts(&lists[i], z->a[j])) {
				fact(s, z->zone, addr, lists[i].weight);
				s->score += lists[i].weight;
				hit = 1;
				if (lists[i].weight > best) {
					best = lists[i].weight;
					strlcpy(s->list, z->zone,
					    sizeof(s->list));
				}
			}
		}
		if (hit == 0)
			fact(s, z->zone, "none", 0);
	}
	s->listed = n > 0 && s->score >= th && best > 0;
}

int
dnsbl_zone_line(const struct dnsbl_lookup *l, size_t i, char *buf,
    size_t sz)
{
	const struct zone_result	*z;
	char				 a[INET_ADDRSTRLEN];
	size_t				 j;

	if (l == NULL || i >= l->nz)
		return -1;
	z = &l->z[i];
	snprintf(buf, sz, "%s: ", z->zone);
	if (z->rcode == DNS_R_TEMPFAIL)
		strlcat(buf, "no answer (temporary failure)", sz);
	else if (z->na == 0)
		strlcat(buf, "not listed", sz);
	for (j = 0; j < z->na; j++) {
		inet_ntop(AF_INET, &z->a[j], a, sizeof(a));
		if (j > 0)
			strlcat(buf, ", ", sz);
		strlcat(buf, a, sz);
		if (is_error_code(z->a[j]))
			strlcat(buf, " (an error code of the list)", sz);
	}
	return 0;
}
