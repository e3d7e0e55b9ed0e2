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
 * Every route is kept in the store ("route:NAME" in meta, written by the
 * writer thread like the rest), so a restart after the tenant's file is
 * gone still finds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "marshal.h"
#include "queued.h"

struct troute {
	RB_ENTRY(troute)	 entry;
	char			 name[TENANT_MAX + 1];
	struct hostport		*hosts;
	size_t			 nhosts;
	enum inbound_mode	 mode;
	uint32_t		 hold;
	int			 removed;	/* no longer configured */
	int			 stored;	/* the store has it as it is */
	int			 writing;	/* a TASK_ROUTE is out */
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

/* 1 when the servers changed, 0 when not, -1 out of memory. */
static int
troute_set(struct troute *t, const struct hostport *hosts, size_t n,
    enum inbound_mode mode, uint32_t hold)
{
	struct hostport	*h;
	int		 moved;

	moved = t->hosts != NULL && (t->nhosts != n ||
	    memcmp(t->hosts, hosts, n * sizeof(*h)) != 0);
	if (t->hosts != NULL && !moved && t->mode == mode && t->hold == hold)
		return 0;
	if ((h = calloc(n ? n : 1, sizeof(*h))) == NULL)
		return -1;
	memcpy(h, hosts, n * sizeof(*h));
	free(t->hosts);
	t->hosts = h;
	t->nhosts = n;
	t->mode = mode;
	t->hold = hold;
	t->stored = 0;
	return moved;
}

static void
routes_init(struct queued *q)
{
	if (q->routes != NULL)
		return;
	if ((q->routes = calloc(1, sizeof(*q->routes))) == NULL)
		fatal("routes");
	RB_INIT(q->routes);
}

static struct troute *
troute_add(struct queued *q, const char *name)
{
	struct troute *t;

	routes_init(q);
	if ((t = troute_find(q, name)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("routes");
	strlcpy(t->name, name, sizeof(t->name));
	RB_INSERT(troute_tree, q->routes, t);
	return t;
}

/* A route record: u32 mode, u32 hold, u32 n, n x (str host, u32 port). */
static int
route_encode(const struct troute *t, struct mw *w)
{
	size_t i;

	mw_init_grow(w);
	mw_u32(w, (uint32_t)t->mode);
	mw_u32(w, t->hold);
	mw_u32(w, (uint32_t)t->nhosts);
	for (i = 0; i < t->nhosts; i++) {
		mw_str(w, t->hosts[i].host);
		mw_u32(w, t->hosts[i].port);
	}
	return w->err ? -1 : 0;
}

static void
load_one(void *arg, const char *name, const void *p, size_t len)
{
	struct queued	*q = arg;
	struct hostport	 hosts[ROUTE_HOSTS_MAX];
	struct troute	*t;
	struct mr	 r;
	uint32_t	 mode, hold, n, i;

	mr_init(&r, p, len);
	mode = mr_u32(&r);
	hold = mr_u32(&r);
	n = mr_u32(&r);
	memset(hosts, 0, sizeof(hosts));
	for (i = 0; i < n && i < ROUTE_HOSTS_MAX; i++) {
		mr_str(&r, hosts[i].host, sizeof(hosts[i].host));
		hosts[i].port = (uint16_t)mr_u32(&r);
	}
	if (n > ROUTE_HOSTS_MAX || mr_end(&r) == -1 ||
	    (mode != INBOUND_RELAY && mode != INBOUND_BACKUP)) {
		log_warnx("tenant=%s: its route in the store cannot be read; "
		    "ignored", name);
		return;
	}
	t = troute_add(q, name);
	if (troute_set(t, hosts, n, (enum inbound_mode)mode, hold) == -1)
		fatal("routes");
	t->removed = 1;		/* until a configuration names it */
	t->stored = 1;
}

/* At start, before the first configuration is applied. */
void
routes_load(struct queued *q)
{
	if (store_routes(q->store, load_one, q) == -1)
		log_warnx("queue store: cannot read the tenants' routes");
}

static void
route_task(struct queued *q, struct troute *t, int put)
{
	struct task	*j;
	struct mw	 w;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("route");
	j->kind = TASK_ROUTE;
	j->fd = -1;
	strlcpy(j->tenant, t->name, sizeof(j->tenant));
	if (put) {
		if (route_encode(t, &w) == -1 ||
		    (j->blob = malloc(w.len)) == NULL)
			fatal("route");
		memcpy(j->blob, w.buf, w.len);
		j->bloblen = w.len;
		mw_release(&w);
		t->writing = 1;
	}
	committer_submit(q->cm, j);
}

/* Write what changed; a failure is written again at the next tick. */
void
routes_persist(struct queued *q)
{
	struct troute *t;

	if (q->routes == NULL || q->store == NULL)
		return;
	RB_FOREACH(t, troute_tree, q->routes)
		if (!t->stored && !t->writing)
			route_task(q, t, 1);
}

void
route_task_done(struct queued *q, struct task *j)
{
	struct troute *t = troute_find(q, j->tenant);

	if (j->blob != NULL && t != NULL) {
		t->writing = 0;
		if (j->err == 0)
			t->stored = 1;
		else
			log_warnx("tenant=%s: its route could not be stored "
			    "(%s); tried again", j->tenant, strerror(j->err));
	}
	free(j->blob);
}

/*
 * A new configuration: its tenants' routes, and the removed ones kept
 * while they have mail queued (quota_used), here and in the store.
 */
void
routes_update(struct queued *q, const struct conf *conf)
{
	struct troute	*t, *next;
	size_t		 i;

	routes_init(q);
	RB_FOREACH(t, troute_tree, q->routes)
		if (!t->removed && conf_tenant_by_name(conf, t->name) == NULL) {
			t->removed = 1;
			log_warnx("tenant=%s: removed from the configuration; "
			    "its queued mail keeps its route", t->name);
		}
	for (i = 0; i < conf->ntenants; i++) {
		const struct tenant_conf *tc = &conf->tenants[i];

		t = troute_add(q, tc->name);
		switch (troute_set(t, tc->deliver_to, tc->ndeliver_to,
		    tc->inbound_mode, tc->hold)) {
		case -1:
			fatal("routes");
		case 1:
			tenant_route_changed(q, tc->name);
			break;
		}
		t->removed = 0;
	}
	RB_FOREACH_SAFE(t, troute_tree, q->routes, next)
		if (t->removed && quota_used(q, t->name) == 0) {
			if (q->store != NULL)
				route_task(q, t, 0);
			RB_REMOVE(troute_tree, q->routes, t);
			troute_free(t);
		}
	routes_persist(q);
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
