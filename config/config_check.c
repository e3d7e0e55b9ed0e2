/*
 * config_check: rules that span files, run once every file is read.
 */
#include <sys/un.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_load.h"

static void
check_names(const struct conf *conf, struct conf_errors *errs)
{
	const struct tenant_conf *a, *b;
	size_t i, j;

	for (i = 0; i < conf->ntenants; i++) {
		a = &conf->tenants[i];
		for (j = 0; j < i; j++) {
			b = &conf->tenants[j];
			if (a->name && b->name && strcmp(a->name, b->name) == 0)
				conf_errors_add(errs, "%s:%d: tenant \"%s\" is "
				    "already defined in %s:%d", a->file,
				    a->line, a->name, b->file, b->line);
		}
	}
}

/* Every domain belongs to one tenant, named once. */
static void
check_domains(const struct conf *conf, struct conf_errors *errs)
{
	const struct tenant_conf *a, *b;
	const struct domain_conf *da, *db;
	size_t i, j, k, l;

	for (i = 0; i < conf->ntenants; i++) {
		a = &conf->tenants[i];
		for (k = 0; k < a->ndomains; k++) {
			da = &a->domains[k];
			for (j = 0; j <= i; j++) {
				b = &conf->tenants[j];
				for (l = 0; l < b->ndomains; l++) {
					db = &b->domains[l];
					if (j == i && l >= k)
						break;
					if (strcmp(da->name, db->name) != 0)
						continue;
					if (j == i)
						conf_errors_add(errs, "%s:%d: "
						    "domain \"%s\" is listed "
						    "twice (first on line %d)",
						    a->file, da->line,
						    da->name, db->line);
					else
						conf_errors_add(errs, "%s:%d: "
						    "domain \"%s\" is already "
						    "claimed by tenant \"%s\" "
						    "(%s:%d)", a->file,
						    da->line, da->name,
						    b->name, b->file,
						    db->line);
				}
			}
		}
	}
}

/* A client address must identify one tenant. */
static void
check_networks(const struct conf *conf, struct conf_errors *errs)
{
	const struct tenant_conf *a, *b;
	size_t i, j, k, l;
	char na[64], nb[64];

	for (i = 0; i < conf->ntenants; i++) {
		a = &conf->tenants[i];
		for (j = 0; j < i; j++) {
			b = &conf->tenants[j];
			for (k = 0; k < a->nnetworks; k++)
				for (l = 0; l < b->nnetworks; l++) {
					if (!cidr_overlap(&a->networks[k].cidr,
					    &b->networks[l].cidr))
						continue;
					cidr_format(&a->networks[k].cidr, na,
					    sizeof(na));
					cidr_format(&b->networks[l].cidr, nb,
					    sizeof(nb));
					conf_errors_add(errs, "%s:%d: network "
					    "%s overlaps %s of tenant \"%s\" "
					    "(%s:%d)", a->file,
					    a->networks[k].line, na, nb,
					    b->name, b->file,
					    b->networks[l].line);
				}
		}
	}
}

/*
 * The self-check connects from selfcheck.from as a stranger would: from
 * inside a tenant's networks relaying is allowed, and it proves nothing.
 */
static void
check_selfcheck(const struct conf *conf, struct conf_errors *errs)
{
	const struct tenant_conf	*t;
	struct netaddr			 na;

	if (conf->selfcheck.from == NULL ||
	    netaddr_parse(conf->selfcheck.from, &na) == -1 ||
	    (t = conf_client_tenant(conf, &na)) == NULL)
		return;
	conf_errors_add(errs, "%s:%d: selfcheck.from %s is inside the "
	    "outbound.networks of tenant \"%s\" (%s), which may relay: the "
	    "self-check would prove nothing", conf->file,
	    conf->selfcheck.from_line, conf->selfcheck.from, t->name, t->file);
}

/* Is the zone among the first n of seen? */
static int
zone_seen(const char *const *seen, size_t n, const char *zone)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(seen[i], zone) == 0)
			return 1;
	return 0;
}

/*
 * policyd looks a client up in every zone some tenant uses, at each
 * connection: their number is bounded, here rather than in the log.
 */
static void
check_dnsbl_zones(const struct conf *conf, struct conf_errors *errs)
{
	const char		*seen[CONF_DNSBL_ZONES_MAX];
	const struct dnsbl_conf	*l;
	size_t			 i, j, n = 0, nl;
	int32_t			 th;

	for (i = 0; i < conf->ntenants; i++) {
		if (!conf->tenants[i].policy.dnsbl)
			continue;
		l = conf_dnsbl_lists(conf, &conf->tenants[i], &nl, &th);
		for (j = 0; j < nl; j++) {
			if (zone_seen(seen, n, l[j].zone))
				continue;
			if (n == CONF_DNSBL_ZONES_MAX) {
				conf_errors_add(errs, "%s:%d: DNS list %s: "
				    "more than %d zones are in use by the "
				    "tenants together", l == conf->dnsbl.lists ?
				    conf->file : conf->tenants[i].file,
				    l[j].line, l[j].zone,
				    CONF_DNSBL_ZONES_MAX);
				return;
			}
			seen[n++] = l[j].zone;
		}
	}
}

/* An SNI name picks one tenant's certificate. */
static void
check_tls_names(const struct conf *conf, struct conf_errors *errs)
{
	const struct tenant_conf *a, *b;
	size_t i, j, k, l;

	for (i = 0; i < conf->ntenants; i++) {
		a = &conf->tenants[i];
		for (j = 0; j < i; j++) {
			b = &conf->tenants[j];
			for (k = 0; k < a->ntls_names; k++)
				for (l = 0; l < b->ntls_names; l++)
					if (strcmp(a->tls_names[k],
					    b->tls_names[l]) == 0)
						conf_errors_add(errs, "%s:%d: "
						    "tls.names: \"%s\" is "
						    "already claimed by tenant "
						    "\"%s\" (%s:%d)", a->file,
						    a->tls_line,
						    a->tls_names[k], b->name,
						    b->file, b->tls_line);
		}
	}
}

/*
 * A notice about a tenant's dead server cannot reach an address its
 * dead server receives: one technical or emergency contact must be
 * somewhere else.  The domain table must be built (conf_index).
 */
void
conf_warnings(const struct conf *conf, struct conf_errors *warns)
{
	const struct tenant_conf	*t;
	size_t				 i, j;

	for (i = 0; i < conf->ntenants; i++) {
		t = &conf->tenants[i];
		for (j = 0; j < t->ncontacts; j++)
			if ((t->contacts[j].roles & (CONTACT_TECHNICAL |
			    CONTACT_EMERGENCY)) &&
			    !conf_tenant_owns(conf, t, t->contacts[j].email))
				break;
		if (j < t->ncontacts)
			continue;
		conf_errors_add(warns, "%s:%d: warning: tenant \"%s\" has no "
		    "technical or emergency contact outside its own domains: "
		    "a notice of its servers' outage may reach no one",
		    t->file, t->contacts_line ? t->contacts_line : t->line,
		    t->name);
	}
	conf_store_warnings(conf, warns);
}

/* AUTH is offered only under TLS: without a certificate, never. */
static void
check_auth(const struct conf *conf, struct conf_errors *errs)
{
	const struct tenant_conf	*t;
	size_t				 i;

	if (conf->tls.cert_file != NULL)
		return;
	for (i = 0; i < conf->ntenants; i++) {
		t = &conf->tenants[i];
		if (t->auth.dovecot != NULL)
			conf_errors_add(errs, "%s:%d: auth needs tls.certificate "
			    "in %s: AUTH is offered only under TLS", t->file,
			    t->auth.line, conf->file);
	}
}

void
conf_check(const struct conf *conf, struct conf_errors *errs)
{
	struct sockaddr_un sun;

	if (strlen(conf->control_socket) >= sizeof(sun.sun_path))
		conf_errors_add(errs, "%s: control_socket path is longer than "
		    "%zu bytes", conf->file, sizeof(sun.sun_path) - 1);
	check_names(conf, errs);
	check_domains(conf, errs);
	check_networks(conf, errs);
	check_selfcheck(conf, errs);
	check_dnsbl_zones(conf, errs);
	check_tls_names(conf, errs);
	check_auth(conf, errs);
}
