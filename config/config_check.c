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
}
