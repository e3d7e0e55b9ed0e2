/*
 * dns_cache: answers by name and type, for as long as their TTL says and
 * never longer than dns.max_ttl (applied by the caller).  Least recently
 * used entries go first when the cache is full.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dnsd.h"

struct centry {
	RB_ENTRY(centry)	 entry;
	TAILQ_ENTRY(centry)	 lru;
	uint32_t		 qtype;
	char			*name;
	time_t			 expires;
	void			*payload;
	size_t			 len;
};
RB_HEAD(centry_tree, centry);

struct dns_cache {
	struct centry_tree	 tree;
	TAILQ_HEAD(centry_lru_head, centry) lru;
	size_t			 n;
	size_t			 max;
};

int	centry_cmp(struct centry *, struct centry *);
RB_PROTOTYPE(centry_tree, centry, entry, centry_cmp)

int
centry_cmp(struct centry *a, struct centry *b)
{
	if (a->qtype != b->qtype)
		return a->qtype < b->qtype ? -1 : 1;
	return strcmp(a->name, b->name);
}

RB_GENERATE(centry_tree, centry, entry, centry_cmp)

static time_t
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct dns_cache *
cache_new(size_t max)
{
	struct dns_cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	RB_INIT(&c->tree);
	TAILQ_INIT(&c->lru);
	c->max = max;
	return c;
}

static void
cache_remove(struct dns_cache *c, struct centry *e)
{
	RB_REMOVE(centry_tree, &c->tree, e);
	TAILQ_REMOVE(&c->lru, e, lru);
	c->n--;
	free(e->name);
	free(e->payload);
	free(e);
}

const void *
cache_get(struct dns_cache *c, uint32_t qtype, const char *name,
    size_t *len)
{
	struct centry find, *e;

	find.qtype = qtype;
	find.name = (char *)name;
	if ((e = RB_FIND(centry_tree, &c->tree, &find)) == NULL)
		return NULL;
	if (e->expires <= now_mono()) {
		cache_remove(c, e);
		return NULL;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	*len = e->len;
	return e->payload;
}

void
cache_put(struct dns_cache *c, uint32_t qtype, const char *name,
    const void *payload, size_t len, uint32_t ttl)
{
	struct centry find, *e;

	if (ttl == 0 || c->max == 0)
		return;
	find.qtype = qtype;
	find.name = (char *)name;
	if ((e = RB_FIND(centry_tree, &c->tree, &find)) != NULL)
		cache_remove(c, e);
	while (c->n >= c->max)
		cache_remove(c, TAILQ_LAST(&c->lru, centry_lru_head));
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->name = strdup(name)) == NULL ||
	    (e->payload = malloc(len)) == NULL) {
		if (e != NULL) {
			free(e->name);
			free(e);
		}
		return;	/* a cache that cannot grow just misses */
	}
	memcpy(e->payload, payload, len);
	e->len = len;
	e->qtype = qtype;
	e->expires = now_mono() + (time_t)ttl;
	RB_INSERT(centry_tree, &c->tree, e);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->n++;
}

void
cache_flush(struct dns_cache *c)
{
	struct centry *e;

	while ((e = TAILQ_FIRST(&c->lru)) != NULL)
		cache_remove(c, e);
}

size_t
cache_size(const struct dns_cache *c)
{
	return c->n;
}
