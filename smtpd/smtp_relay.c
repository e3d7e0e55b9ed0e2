/*
 * smtp_relay: recipient classification and relay authorisation.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rcpt_route.h"
#include "smtp_relay.h"
#include "smtp_reply.h"

struct relay {
	const struct conf	*conf;
};

struct relay *
relay_build(const struct conf *conf)
{
	struct relay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->conf = conf;
	return r;
}

void
relay_free(struct relay *r)
{
	free(r);
}

const struct tenant_conf *
relay_client_tenant(const struct relay *r, const struct netaddr *na)
{
	return conf_client_tenant(r->conf, na);
}

static int
listed(const struct tenant_conf *t, const char *addr)
{
	const char *key = addr;

	return t->nrcpts > 0 && bsearch(&key, t->rcpts, t->nrcpts,
	    sizeof(*t->rcpts), conf_rcpt_cmp) != NULL;
}

static void
lower_addr(const struct mailaddr *ma, char *buf, size_t sz, size_t llen)
{
	size_t i, o = 0;

	for (i = 0; i < llen && ma->local[i] != '\0' && o + 1 < sz; i++)
		buf[o++] = (char)tolower((unsigned char)ma->local[i]);
	if (o + 1 < sz)
		buf[o++] = '@';
	for (i = 0; ma->domain[i] != '\0' && o + 1 < sz; i++)
		buf[o++] = (char)tolower((unsigned char)ma->domain[i]);
	buf[o] = '\0';
}

/* With recipients.verify: list, is this user there (sub-address too)? */
static int
user_known(const struct tenant_conf *t, const struct mailaddr *ma)
{
	char	 key[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];
	size_t	 cut;

	lower_addr(ma, key, sizeof(key), strlen(ma->local));
	if (listed(t, key))
		return 1;
	if (t->delimiter[0] == '\0')
		return 0;
	cut = strcspn(ma->local, t->delimiter);
	if (cut == 0 || ma->local[cut] == '\0')
		return 0;
	lower_addr(ma, key, sizeof(key), cut);
	return listed(t, key);
}

static int
routing_local_part(const char *local)
{
	return strpbrk(local, "%!@") != NULL;
}

static void
verdict(struct relay_verdict *v, const struct rcpt_route *rr,
    const struct mailaddr *ma)
{
	v->tenant = rr->tenant;
	v->dir = rr->dir;
	v->route = rr->route;
	strlcpy(v->domain, rr->domain, sizeof(v->domain));
	mailaddr_format(ma, v->addr, sizeof(v->addr));
}

static int
denied(struct smtp_reply *err, const struct mailaddr *ma)
{
	char addr[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];

	mailaddr_format(ma, addr, sizeof(addr));
	reply_relay_denied(err, addr);
	return -1;
}

/* Classified (rcpt_route.c), or refused with the reply that says why. */
static int
classify(const struct relay *r, const struct tenant_conf *client,
    const struct mailaddr *ma, struct relay_verdict *v,
    struct smtp_reply *err)
{
	struct rcpt_route rr;

	switch (rcpt_route(r->conf, client, ma, &rr)) {
	case RR_DENIED:
		return denied(err, ma);
	case RR_BAD_IDN:
		reply_bad_idn(err, ma->local, ma->domain);
		return -1;
	case RR_OK:
		break;
	}
	verdict(v, &rr, ma);
	return 0;
}

/* <postmaster>, and postmaster or abuse of the relay: the operator's. */
static int
operator_postmaster(const struct relay *r, struct relay_verdict *v,
    struct smtp_reply *err)
{
	struct mailaddr	 pm;
	const char	*p = r->conf->postmaster;

	if (mailaddr_parse(p, strlen(p), MA_UTF8, &pm) != MA_OK) {
		reply_set(err, R_POSTMASTER_MISCONFIGURED);
		return -1;
	}
	return classify(r, NULL, &pm, v, err);
}

/* One of the addresses we listen on, or the one the client reached. */
static int
our_address(const struct relay *r, const struct netaddr *local,
    const struct netaddr *na)
{
	struct netaddr	l;
	size_t		i;

	if (local != NULL && local->af == na->af &&
	    memcmp(local->addr, na->addr, sizeof(na->addr)) == 0)
		return 1;
	for (i = 0; i < r->conf->nlisteners; i++)
		if (netaddr_parse(r->conf->listeners[i].addr.host, &l) == 0 &&
		    l.af == na->af && memcmp(l.addr, na->addr,
		    sizeof(na->addr)) == 0)
			return 1;
	return 0;
}

static int
literal_rcpt(const struct relay *r, const struct tenant_conf *client,
    const struct netaddr *local, const struct mailaddr *ma,
    struct relay_verdict *v, struct smtp_reply *err)
{
	struct netaddr	na;
	char		buf[64];
	size_t		len = strlen(ma->domain);

	/* "[addr]" or "[IPv6:addr]", validated by the parser. */
	if (len < 3 || len - 2 >= sizeof(buf))
		return denied(err, ma);
	memcpy(buf, ma->domain + 1, len - 2);
	buf[len - 2] = '\0';
	if (netaddr_parse(strncasecmp(buf, "IPv6:", 5) == 0 ? buf + 5 : buf,
	    &na) == -1)
		return denied(err, ma);
	if (mailaddr_is_role(ma->local) && our_address(r, local, &na))
		return operator_postmaster(r, v, err);
	if (client != NULL && netaddr_is_private(&na) &&
	    !r->conf->queue.allow_private_mx) {
		reply_private_literal(err, ma->domain);
		return -1;
	}
	return classify(r, client, ma, v, err);
}

int
relay_rcpt(const struct relay *r, const struct tenant_conf *client,
    const struct netaddr *local, const struct mailaddr *ma,
    int bare_postmaster, struct relay_verdict *v, struct smtp_reply *err)
{
	struct mailaddr	 am;
	char		 key[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];

	memset(v, 0, sizeof(*v));
	if (bare_postmaster)
		return operator_postmaster(r, v, err);
	if (ma->literal)
		return literal_rcpt(r, client, local, ma, v, err);
	/* Unless a tenant has our name among its domains. */
	if (mailaddr_is_role(ma->local) &&
	    strcasecmp(ma->domain, r->conf->hostname) == 0 &&
	    conf_domain_tenant(r->conf, r->conf->hostname) == NULL)
		return operator_postmaster(r, v, err);
	if (classify(r, client, ma, v, err) == -1)
		return -1;
	if (v->dir != DIR_INBOUND)
		return 0;
	/* The tenant's lists hold domains as A-labels, as v->domain is. */
	am = *ma;
	strlcpy(am.domain, v->domain, sizeof(am.domain));
	if (client == NULL && routing_local_part(am.local)) {
		lower_addr(&am, key, sizeof(key), strlen(am.local));
		if (!listed(v->tenant, key))
			return denied(err, ma);
	}
	if (v->tenant->verify == VERIFY_LIST && !mailaddr_is_role(am.local) &&
	    !user_known(v->tenant, &am)) {
		reply_user_unknown(err, v->addr);
		return -1;
	}
	return 0;
}
