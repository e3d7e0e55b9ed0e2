/*
 * config: the configuration structures every process shares, and the
 * look-ups on them.  Parsing YAML is the parent's alone (config/); a
 * child builds its struct conf from the slice it receives (config_wire.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

struct conf *
conf_new(void)
{
	struct conf *conf;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		return NULL;
	conf->dns.max_ttl = 300;
	conf->dns.timeout = 5;
	conf->dns.tries = 2;
	conf->dns.dnssec = 0;
	conf->tls.ca_fd = -1;
	conf->metrics.fd = -1;
	conf->limits.max_message_size = 500ull * 1024 * 1024;
	conf->limits.max_recipients = 100;
	conf->limits.max_connections = 10000;
	conf->limits.max_connections_per_client = 50;
	conf->limits.min_free_space = 1024ull * 1024 * 1024;
	conf->limits.store_max_size = 64ull * 1024 * 1024 * 1024;
	conf->limits.header_max_fields = 1000;
	conf->limits.header_max_size = 1024 * 1024;
	conf->limits.auth_failure_rate = 5;
	conf->dnsbl.threshold = 1;
	conf->timeouts.policy = 30;
	conf->timeouts.command = 300;
	conf->timeouts.data = 600;
	conf->timeouts.control = 600;
	conf->queue.lifetime = 5 * 86400;
	conf->queue.bounce_lifetime = 2 * 86400;
	conf->queue.retry_min = 60;
	conf->queue.retry_max = 3600;
	conf->queue.delay_warning = 0;
	conf->queue.max_connections_per_destination = 10;
	conf->queue.max_connections = 500;
	conf->queue.smtp_port = 25;
	conf->selfcheck.interval = 86400;
	conf->notices.outage_after = 3600;
	conf->notices.interval = 86400;
	conf->retention.message_records = 2 * 86400;
	conf->retention.logs = 365 * 86400;
	conf->retention.counters = 400 * 86400;
	conf->log.addresses = 0;
	conf->store.backend = STORE_LMDB;
	conf->store.timeout = 2;
	if ((conf->store.key_prefix = strdup("relayd:")) == NULL) {
		free(conf);
		return NULL;
	}
	return conf;
}

void
conf_dnsbl_free(struct dnsbl_conf *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].zone);
		free(l[i].answers);
	}
	free(l);
}

void
conf_contacts_free(struct contact_conf *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].email);
		free(c[i].phone);
	}
	free(c);
}

static void
policy_free(struct policy_conf *p)
{
	size_t i;

	free(p->grey_nets);
	for (i = 0; i < p->ngrey_domains; i++)
		free(p->grey_domains[i]);
	free(p->grey_domains);
	conf_dnsbl_free(p->lists, p->nlists);
}

static void
der_free(struct der *d)
{
	if (d->p != NULL)
		explicit_bzero(d->p, d->len);
	free(d->p);
	d->p = NULL;
	d->len = 0;
}

/* A private key is wiped before its memory goes back. */
void
conf_tls_certs_free(struct tls_cert *c, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(c[i].tenant);
		for (j = 0; j < c[i].nchain; j++)
			der_free(&c[i].chain[j]);
		free(c[i].chain);
		for (j = 0; j < c[i].nnames; j++)
			free(c[i].names[j]);
		free(c[i].names);
		der_free(&c[i].key);
	}
	free(c);
}

static void
content_free(struct content_conf *c)
{
	size_t i;

	free(c->milters);
	for (i = 0; i < c->nbulk; i++) {
		free(c->bulk[i].name);
		free(c->bulk[i].text);
	}
	free(c->bulk);
}

static void
tenant_free(struct tenant_conf *t)
{
	size_t i;

	free(t->name);
	free(t->file);
	free(t->postmaster);
	for (i = 0; i < t->ndomains; i++)
		free(t->domains[i].name);
	free(t->domains);
	free(t->deliver_to);
	for (i = 0; i < t->nrcpts; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	free(t->networks);
	conf_contacts_free(t->contacts, t->ncontacts);
	policy_free(&t->policy);
	for (i = 0; i < t->ntls_names; i++)
		free(t->tls_names[i]);
	free(t->tls_names);
	free(t->tls_cert_file);
	free(t->tls_key_file);
	free(t->auth.dovecot);
	free(t->auth.realm);
	content_free(&t->content);
}

void
conf_free(struct conf *conf)
{
	size_t i;

	if (conf == NULL)
		return;
	free(conf->file);
	free(conf->hostname);
	free(conf->postmaster);
	free(conf->state_dir);
	free(conf->control_socket);
	free(conf->control_group);
	free(conf->control_admin_group);
	free(conf->tenants_dir);
	free(conf->log.file);
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].fd != -1)
			close(conf->listeners[i].fd);
	free(conf->listeners);
	free(conf->dns.servers);
	free(conf->tls.ca_file);
	free(conf->selfcheck.from);
	if (conf->metrics.fd != -1)
		close(conf->metrics.fd);
	if (conf->tls.ca_fd != -1)
		close(conf->tls.ca_fd);
	free(conf->tls.cert_file);
	free(conf->tls.key_file);
	conf_tls_certs_free(conf->tls.certs, conf->tls.ncerts);
	for (i = 0; i < conf->ntenants; i++)
		tenant_free(&conf->tenants[i]);
	free(conf->tenants);
	free(conf->dix);
	free(conf->milter_eps);
	conf_dnsbl_free(conf->dnsbl.lists, conf->dnsbl.nlists);
	conf_store_free(&conf->store);
	explicit_bzero(conf->policy_secret, sizeof(conf->policy_secret));
	free(conf);
}

void
conf_store_free(struct store_conf *s)
{
	free(s->sentinels);
	free(s->servers);
	free(s->master_name);
	free(s->password_file);
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->key_prefix);
	memset(s, 0, sizeof(*s));
}

const char *
conf_listen_mode_name(enum listen_mode m)
{
	switch (m) {
	case LISTEN_MX:
		return "mx";
	case LISTEN_SUBMISSION:
		return "submission";
	case LISTEN_SMTPS:
		return "smtps";
	}
	return "?";
}

const char *
conf_role_name(unsigned role)
{
	switch (role) {
	case CONTACT_TECHNICAL:
		return "technical";
	case CONTACT_EMERGENCY:
		return "emergency";
	case CONTACT_POLICY:
		return "policy";
	case CONTACT_BILLING:
		return "billing";
	}
	return NULL;
}

void
conf_roles_format(uint8_t roles, char *buf, size_t sz)
{
	unsigned bit;

	buf[0] = '\0';
	for (bit = 1; bit <= CONTACT_BILLING; bit <<= 1) {
		if (!(roles & bit))
			continue;
		if (buf[0] != '\0')
			strlcat(buf, ",", sz);
		strlcat(buf, conf_role_name(bit), sz);
	}
}

/* An address literal is no tenant's domain. */
int
conf_tenant_owns(const struct conf *conf, const struct tenant_conf *t,
    const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL || at[1] == '[')
		return 0;
	return conf_domain_tenant(conf, at + 1) == t;
}

const struct tenant_conf *
conf_tenant_by_name(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->ntenants; i++)
		if (strcmp(conf->tenants[i].name, name) == 0)
			return &conf->tenants[i];
	return NULL;
}

const struct dnsbl_conf *
conf_dnsbl_lists(const struct conf *conf, const struct tenant_conf *t,
    size_t *n, int32_t *threshold)
{
	if (t != NULL && t->policy.nlists > 0) {
		*n = t->policy.nlists;
		*threshold = t->policy.threshold;
		return t->policy.lists;
	}
	*n = conf->dnsbl.nlists;
	*threshold = conf->dnsbl.threshold;
	return conf->dnsbl.lists;
}

int
conf_rcpt_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

const struct tenant_conf *
conf_client_tenant(const struct conf *conf, const struct netaddr *na)
{
	size_t i, j;

	for (i = 0; i < conf->ntenants; i++)
		for (j = 0; j < conf->tenants[i].nnetworks; j++)
			if (cidr_contains(&conf->tenants[i].networks[j].cidr,
			    na->af, na->addr))
				return &conf->tenants[i];
	return NULL;
}

static int
dix_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_domain *)a)->name,
	    ((const struct conf_domain *)b)->name);
}

static int
bulk_same(const struct bulk_conf *a, const struct bulk_conf *b)
{
	if (strcasecmp(a->name, b->name) != 0)
		return 0;
	if (a->text == NULL || b->text == NULL)
		return a->text == b->text;
	return strcasecmp(a->text, b->text) == 0;
}

/* Would the two tenants' messages be scanned the same way? */
static int
content_same(const struct content_conf *a, const struct content_conf *b)
{
	size_t i;

	if (a->nmilters != b->nmilters || a->nbulk != b->nbulk ||
	    a->allow_header_changes != b->allow_header_changes)
		return 0;
	for (i = 0; i < a->nmilters; i++)
		if (strcmp(a->milters[i].socket, b->milters[i].socket) != 0 ||
		    a->milters[i].timeout != b->milters[i].timeout ||
		    a->milters[i].on_failure != b->milters[i].on_failure)
			return 0;
	for (i = 0; i < a->nbulk; i++)
		if (!bulk_same(&a->bulk[i], &b->bulk[i]))
			return 0;
	return 1;
}

/*
 * The tenants' content ids and the milter endpoints, the same in every
 * process that has the tenants (the parent opens endpoint i when policyd
 * asks for it by number).
 */
static int
content_index(struct conf *conf)
{
	struct content_conf	*c;
	const char		**eps;
	size_t			 i, j, k, n = 0;
	uint32_t		 next = 1;

	free(conf->milter_eps);
	conf->milter_eps = NULL;
	conf->nmilter_eps = 0;
	for (i = 0; i < conf->ntenants; i++)
		n += conf->tenants[i].content.nmilters;
	if (n > 0 && (conf->milter_eps = calloc(n, sizeof(*eps))) == NULL)
		return -1;
	eps = conf->milter_eps;
	for (i = 0; i < conf->ntenants; i++) {
		c = &conf->tenants[i].content;
		c->id = 0;
		for (k = 0; k < c->nmilters; k++) {
			for (j = 0; j < conf->nmilter_eps; j++)
				if (strcmp(eps[j], c->milters[k].socket) == 0)
					break;
			if (j == conf->nmilter_eps)
				eps[conf->nmilter_eps++] =
				    c->milters[k].socket;
			c->milters[k].ep = (uint32_t)j;
		}
		if (c->nmilters == 0)
			continue;
		for (j = 0; j < i && c->id == 0; j++)
			if (conf->tenants[j].content.id != 0 &&
			    content_same(&conf->tenants[j].content, c))
				c->id = conf->tenants[j].content.id;
		if (c->id == 0)
			c->id = next++;
	}
	return 0;
}

const struct tenant_conf *
conf_content_tenant(const struct conf *conf, uint32_t id)
{
	size_t i;

	if (id == 0)
		return NULL;
	for (i = 0; i < conf->ntenants; i++)
		if (conf->tenants[i].content.id == id)
			return &conf->tenants[i];
	return NULL;
}

/*
 * The sorted table of every tenant's domains that conf_domain_tenant
 * uses, and the content ids (content_index).
 */
int
conf_index(struct conf *conf)
{
	struct conf_domain	*ix;
	size_t			 i, j, n = 0;

	if (content_index(conf) == -1)
		return -1;

	free(conf->dix);
	conf->dix = NULL;
	conf->ndix = 0;
	for (i = 0; i < conf->ntenants; i++)
		n += conf->tenants[i].ndomains;
	if (n == 0)
		return 0;
	if ((ix = calloc(n, sizeof(*ix))) == NULL)
		return -1;
	for (i = 0; i < conf->ntenants; i++)
		for (j = 0; j < conf->tenants[i].ndomains; j++) {
			ix[conf->ndix].name = conf->tenants[i].domains[j].name;
			ix[conf->ndix].subdomains =
			    conf->tenants[i].domains[j].subdomains;
			ix[conf->ndix++].tenant = &conf->tenants[i];
		}
	qsort(ix, conf->ndix, sizeof(*ix), dix_cmp);
	conf->dix = ix;
	return 0;
}

static const struct conf_domain *
dix_find(const struct conf *conf, const char *name)
{
	struct conf_domain key;

	if (conf->ndix == 0)
		return NULL;
	key.name = name;
	return bsearch(&key, conf->dix, conf->ndix, sizeof(key), dix_cmp);
}

/*
 * The tenant owning a domain: an exact match, else the nearest parent
 * domain listed with subdomains: true.  The one answer to "whose domain
 * is this", for smtpd's recipients and queued's notices alike.
 */
const struct tenant_conf *
conf_domain_tenant(const struct conf *conf, const char *domain)
{
	char				 lc[512];
	const struct conf_domain	*d;
	const char			*p;
	size_t				 i;

	for (i = 0; domain[i] != '\0'; i++) {
		if (i == sizeof(lc) - 1)
			return NULL;
		lc[i] = (char)tolower((unsigned char)domain[i]);
	}
	lc[i] = '\0';
	if ((d = dix_find(conf, lc)) != NULL)
		return d->tenant;
	for (p = strchr(lc, '.'); p != NULL; p = strchr(p + 1, '.'))
		if ((d = dix_find(conf, p + 1)) != NULL && d->subdomains)
			return d->tenant;
	return NULL;
}
