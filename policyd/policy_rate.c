/*
 * policy_rate: counters in memory, the anvil model.
 *
 * Per client (an IPv4 address or an IPv6 /64): connections, messages and
 * recipients in the current minute, a window that starts with the
 * client's first event and lasts RATE_WINDOW seconds.  Per tenant: the
 * messages and octets accepted today (UTC), its daily volume.  Idle
 * clients are swept every minute, and at most RATES_MAX are followed: a
 * flood of new addresses beyond that is not counted (and logged), rather
 * than grow memory without bound.
 *
 * BUGS: the counters live in policyd's memory and start again at zero
 * when relayd restarts; the daily volume too.
 */
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy_rate.h"

#define RATE_WINDOW	60
#define RATES_MAX	(1024 * 1024)
#define DAY		86400

struct client_rate {
	RB_ENTRY(client_rate)	 entry;
	uint64_t		 key;
	int64_t			 start;		/* of the window */
	uint32_t		 n[RATE_KINDS];
};
RB_HEAD(client_rate_tree, client_rate);
int	 client_rate_cmp(struct client_rate *, struct client_rate *);
RB_PROTOTYPE(client_rate_tree, client_rate, entry, client_rate_cmp)

struct tenant_volume {
	RB_ENTRY(tenant_volume)	 entry;
	char			 name[TENANT_MAX + 1];
	int64_t			 day;		/* days since the epoch */
	uint64_t		 messages;
	uint64_t		 octets;
	int			 told;		/* queued knows it is reached */
};
RB_HEAD(tenant_volume_tree, tenant_volume);
int	 tenant_volume_cmp(struct tenant_volume *, struct tenant_volume *);
RB_PROTOTYPE(tenant_volume_tree, tenant_volume, entry, tenant_volume_cmp)

struct rates {
	struct client_rate_tree	 clients;
	size_t			 nclients;
	struct tenant_volume_tree tenants;
	uint64_t		 untracked;	/* events past RATES_MAX */
};

int
client_rate_cmp(struct client_rate *a, struct client_rate *b)
{
	return a->key < b->key ? -1 : a->key > b->key;
}

RB_GENERATE(client_rate_tree, client_rate, entry, client_rate_cmp)

int
tenant_volume_cmp(struct tenant_volume *a, struct tenant_volume *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(tenant_volume_tree, tenant_volume, entry, tenant_volume_cmp)

struct rates *
rates_new(void)
{
	struct rates *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("rates");
	RB_INIT(&r->clients);
	RB_INIT(&r->tenants);
	return r;
}

void
rates_free(struct rates *r)
{
	struct client_rate	*c;
	struct tenant_volume	*t;

	if (r == NULL)
		return;
	while ((c = RB_ROOT(&r->clients)) != NULL) {
		RB_REMOVE(client_rate_tree, &r->clients, c);
		free(c);
	}
	while ((t = RB_ROOT(&r->tenants)) != NULL) {
		RB_REMOVE(tenant_volume_tree, &r->tenants, t);
		free(t);
	}
	free(r);
}

/*
 * Count one event of this kind for the client; returns the count in the
 * current window, this one included (0: not followed, never over).
 */
uint32_t
rates_count(struct rates *r, uint64_t key, enum rate_kind kind, int64_t now)
{
	struct client_rate find, *c;

	find.key = key;
	if ((c = RB_FIND(client_rate_tree, &r->clients, &find)) == NULL) {
		if (r->nclients >= RATES_MAX ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			if (r->untracked++ % 100000 == 0)
				log_warnx("rates: %zu clients followed; events "
				    "of new ones are not counted (%llu so "
				    "far)", r->nclients,
				    (unsigned long long)r->untracked);
			return 0;
		}
		c->key = key;
		c->start = now;
		RB_INSERT(client_rate_tree, &r->clients, c);
		r->nclients++;
	}
	if (now - c->start >= RATE_WINDOW || now < c->start) {
		memset(c->n, 0, sizeof(c->n));
		c->start = now;
	}
	if (c->n[kind] < UINT32_MAX)
		c->n[kind]++;
	return c->n[kind];
}

/* Forget the clients whose window has ended. */
void
rates_sweep(struct rates *r, int64_t now)
{
	struct client_rate *c, *next;

	RB_FOREACH_SAFE(c, client_rate_tree, &r->clients, next)
		if (now - c->start >= RATE_WINDOW || now < c->start) {
			RB_REMOVE(client_rate_tree, &r->clients, c);
			r->nclients--;
			free(c);
		}
}

static struct tenant_volume *
volume(struct rates *r, const char *tenant, int64_t now, int make)
{
	struct tenant_volume find, *t;

	if (strlcpy(find.name, tenant, sizeof(find.name)) >=
	    sizeof(find.name))
		return NULL;
	if ((t = RB_FIND(tenant_volume_tree, &r->tenants, &find)) == NULL) {
		if (!make || (t = calloc(1, sizeof(*t))) == NULL)
			return NULL;
		strlcpy(t->name, tenant, sizeof(t->name));
		t->day = now / DAY;
		RB_INSERT(tenant_volume_tree, &r->tenants, t);
	}
	if (t->day != now / DAY) {
		t->day = now / DAY;
		t->messages = 0;
		t->octets = 0;
		t->told = 0;
	}
	return t;
}

/* A message for the tenant was queued. */
void
rates_accepted(struct rates *r, const char *tenant, uint64_t octets,
    int64_t now)
{
	struct tenant_volume *t;

	if ((t = volume(r, tenant, now, 1)) == NULL)
		return;
	t->messages++;
	t->octets += octets;
}

/* Today's volume so far. */
void
rates_volume(struct rates *r, const char *tenant, int64_t now,
    uint64_t *messages, uint64_t *octets)
{
	struct tenant_volume *t;

	*messages = *octets = 0;
	if ((t = volume(r, tenant, now, 0)) != NULL) {
		*messages = t->messages;
		*octets = t->octets;
	}
}

/* The limit was reached: 1 the first time today, so queued hears once. */
int
rates_limit_reached(struct rates *r, const char *tenant, int64_t now)
{
	struct tenant_volume *t;

	if ((t = volume(r, tenant, now, 1)) == NULL || t->told)
		return 0;
	t->told = 1;
	return 1;
}
