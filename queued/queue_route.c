/*
 * queue_route: where a recipient goes, decided once, here.
 *
 * The route key ("tenant:NAME" for a tenant's own servers, "mx:DOMAIN"
 * otherwise) groups recipients into delivery jobs and names deliverd's
 * destinations; queued computes it and sends it with each job, so the two
 * processes agree by construction.  A tenant route carries its hosts
 * (inbound.deliver_to) in the job: deliverd does not look tenants up.
 *
 * A tenant removed from the configuration by a reload keeps its route,
 * its mode and its hold for the mail it already has in the queue, which
 * is delivered or bounced as before; the entry goes when that mail does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "queued.h"

struct troute {
	RB_ENTRY(troute)	 entry;
	char			 name[TENANT_MAX + 1];
	struct hostport		*hosts;
	size_t			 nhosts;
	enum inbound_mode	 mode;
	uint32_t		 hold;
	int			 removed;	/* no longer configured */
};

RB_HEAD(troute_tree, troute);
int	 troute_cmp(struct troute *, struct troute *);
RB_PROTOTYPE(troute_tree, troute, entry, troute_cmp)

int
troute_cmp(struct troute *a, struct troute *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(troute_tree, troute, entry, troute_cmp)

void
route_key(const struct rcpt *r, char *buf, size_t sz)
{
	size_t i, o;

	if (r->route == ROUTE_TENANT) {
		snprintf(buf, sz, "tenant:%s", r->tenant);
		return;
	}
	o = (size_t)snprintf(buf, sz, "mx:");
	for (i = 0; r->domain[i] != '\0' && o + 1 < sz; i++)
		buf[o++] = (char)(r->domain[i] >= 'A' && r->domain[i] <= 'Z' ?
		    r->domain[i] + 32 : r->domain[i]);
	buf[o] = '\0';
}

static struct troute *
troute_find(struct queued *q, const char *name)
{
	struct troute find;

	if (q->routes == NULL)
		return NULL;
	strlcpy(find.name, name, sizeof(find.name));
	return RB_FIND(troute_tree, q->routes, &find);
}

static void
troute_free(struct troute *t)
{
	free(t->hosts);
	free(t);
}

static int
troute_set(struct troute *t, const struct tenant_conf *tc)
{
	struct hostport *h;

	if ((h = calloc(tc->ndeliver_to ? tc->ndeliver_to : 1,
	    sizeof(*h))) == NULL)
		return -1;
	memcpy(h, tc->deliver_to, tc->ndeliver_to * sizeof(*h));
	free(t->hosts);
	t->hosts = h;
	t->nhosts = tc->ndeliver_to;
	t->mode = tc->inbound_mode;
	t->hold = tc->hold;
	t->removed = 0;
	return 0;
}

/* A new configuration: its tenants' routes, and the removed ones kept. */
void
routes_update(struct queued *q, const struct conf *conf)
{
	struct troute	*t, *next;
	size_t		 i;

	if (q->routes == NULL) {
		if ((q->routes = calloc(1, sizeof(*q->routes))) == NULL)
			fatal("routes");
		RB_INIT(q->routes);
	}
	RB_FOREACH(t, troute_tree, q->routes)
		if (!t->removed && conf_tenant_by_name(conf, t->name) == NULL) {
			t->removed = 1;
			log_warnx("tenant=%s: removed from the configuration; "
			    "its queued mail keeps its route", t->name);
		}
	for (i = 0; i < conf->ntenants; i++) {
		const struct tenant_conf *tc = &conf->tenants[i];

		if ((t = troute_find(q, tc->name)) == NULL) {
			if ((t = calloc(1, sizeof(*t))) == NULL)
				fatal("routes");
			strlcpy(t->name, tc->name, sizeof(t->name));
			RB_INSERT(troute_tree, q->routes, t);
		}
		if (troute_set(t, tc) == -1)
			fatal("routes");
	}
	RB_FOREACH_SAFE(t, troute_tree, q->routes, next)
		if (t->removed && quota_used(q, t->name) == 0) {
			RB_REMOVE(troute_tree, q->routes, t);
			troute_free(t);
		}
}

/* The hosts of a tenant route; NULL when the tenant is not known. */
const struct hostport *
route_hosts(struct queued *q, const char *tenant, size_t *n)
{
	struct troute *t = troute_find(q, tenant);

	if (t == NULL)
		return NULL;
	*n = t->nhosts;
	return t->hosts;
}

int
route_tenant_removed(struct queued *q, const char *tenant)
{
	struct troute *t = troute_find(q, tenant);

	return t != NULL && t->removed;
}

/* A backup MX tenant's hold, else queue.lifetime; for removed ones too. */
uint32_t
route_lifetime(struct queued *q, const struct rcpt *r)
{
	struct troute *t;

	if (r->dir == DIR_INBOUND && (t = troute_find(q, r->tenant)) != NULL &&
	    t->mode == INBOUND_BACKUP)
		return t->hold;
	return q->conf->queue.lifetime;
}
