/*
 * smtp_relay: recipient classification and relay authorisation.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idn.h"
#include "smtp_parse.h"
#include "smtp_relay.h"

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
	size_t i, j;

	for (i = 0; i < r->conf->ntenants; i++)
		for (j = 0; j < r->conf->tenants[i].nnetworks; j++)
			if (cidr_contains(&r->conf->tenants[i].networks[j].cidr,
			    na->af, na->addr))
				return &r->conf->tenants[i];
	return NULL;
}

static int
rcpt_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
listed(const struct tenant_conf *t, const char *addr)
{
	const char *key = addr;

	return t->nrcpts > 0 && bsearch(&key, t->rcpts, t->nrcpts,
	    sizeof(*t->rcpts), rcpt_cmp) != NULL;
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
verdict(struct relay_verdict *v, const struct tenant_conf *t,
    enum direction dir, enum route_kind route, const struct mailaddr *ma)
{
	v->tenant = t;
	v->dir = dir;
	v->route = route;
	strlcpy(v->domain, ma->domain, sizeof(v->domain));
	mailaddr_format(ma, v->addr, sizeof(v->addr));
}

/*
 * A domain in U-labels (SMTPUTF8) is routed and looked up by its A-label
 * form; the address itself is kept as the client wrote it.
 */
static int
route_form(const struct mailaddr *ma, struct mailaddr *am,
    struct smtp_reply *err)
{
	*am = *ma;
	if (!idn_is_unicode(ma->domain))
		return 0;
	if (idn_to_alabel(ma->domain, am->domain, sizeof(am->domain)) == -1) {
		smtp_reply_set(err, 553, "5.1.3", "<%.300s@%.300s>: not a "
		    "valid internationalised domain name", ma->local,
		    ma->domain);
		return -1;
	}
	return 0;
}

/* <postmaster> and postmaster@ our host name: the operator's address. */
static int
operator_postmaster(const struct relay *r, struct relay_verdict *v,
    struct smtp_reply *err)
{
	struct mailaddr		 pm;
	const struct tenant_conf *t;
	const char		*p = r->conf->postmaster;

	if (mailaddr_parse(p, strlen(p), MA_UTF8, &pm) != MA_OK) {
		smtp_reply_set(err, 451, "4.3.0", "Postmaster address is "
		    "misconfigured");
		return -1;
	}
	t = conf_domain_tenant(r->conf, pm.domain);
	verdict(v, t, t != NULL ? DIR_INBOUND : DIR_OUTBOUND,
	    t != NULL ? ROUTE_TENANT : ROUTE_MX, &pm);
	return 0;
}

static int
denied(struct smtp_reply *err, const struct mailaddr *ma)
{
	char addr[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];

	mailaddr_format(ma, addr, sizeof(addr));
	smtp_reply_set(err, 550, "5.7.1", "<%.300s>: Relay access denied",
	    addr);
	return -1;
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
	if (client == NULL)
		return denied(err, ma);
	if (netaddr_is_private(&na) && !r->conf->queue.allow_private_mx) {
		smtp_reply_set(err, 550, "5.7.1", "%s: Relay to a private "
		    "address is not allowed", ma->domain);
		return -1;
	}
	verdict(v, client, DIR_OUTBOUND, ROUTE_MX, ma);
	return 0;
}

int
relay_rcpt(const struct relay *r, const struct tenant_conf *client,
    const struct netaddr *local, const struct mailaddr *sent,
    int bare_postmaster, struct relay_verdict *v, struct smtp_reply *err)
{
	const struct tenant_conf *t;
	struct mailaddr		 am, *ma = &am;
	char key[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];

	memset(v, 0, sizeof(*v));
	if (bare_postmaster)
		return operator_postmaster(r, v, err);
	if (sent->literal)
		return literal_rcpt(r, client, local, sent, v, err);
	if (route_form(sent, &am, err) == -1)
		return -1;
	if ((t = conf_domain_tenant(r->conf, ma->domain)) == NULL) {
		if (mailaddr_is_role(ma->local) &&
		    strcasecmp(ma->domain, r->conf->hostname) == 0)
			return operator_postmaster(r, v, err);
		if (client == NULL)
			return denied(err, sent);
		verdict(v, client, DIR_OUTBOUND, ROUTE_MX, ma);
		mailaddr_format(sent, v->addr, sizeof(v->addr));
		return 0;
	}
	if (client == NULL && routing_local_part(ma->local)) {
		lower_addr(ma, key, sizeof(key), strlen(ma->local));
		if (!listed(t, key))
			return denied(err, sent);
	}
	if (t->verify == VERIFY_LIST && !mailaddr_is_role(ma->local) &&
	    !user_known(t, ma)) {
		mailaddr_format(sent, key, sizeof(key));
		smtp_reply_set(err, 550, "5.1.1", "<%.300s>: Recipient address "
		    "rejected: User unknown", key);
		return -1;
	}
	verdict(v, t, DIR_INBOUND, ROUTE_TENANT, ma);
	mailaddr_format(sent, v->addr, sizeof(v->addr));
	return 0;
}
