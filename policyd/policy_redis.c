/*
 * policy_redis: the Redis backend of the policy store (policy_redis.h).
 *
 * The primary comes from redis_sentinel.c; every command goes to it
 * over one connection, so a read after a write sees the write.  A reply
 * of the wrong shape is a broken server: the read is answered from the
 * local store and the connection dropped; -READONLY (a primary turned
 * replica by a failover) makes us look for the primary again.  The
 * state changes are logged once each, for operators:
 *
 *   policy store: redis primary lost, using the local store (why)
 *   policy store: redis primary HOST:PORT again
 *
 * At each connection the node publishes its tenant digest in the hash
 * "<prefix>nodes" under its hostname, reads the others', and warns when
 * one differs.
 *
 * BUGS: the whitelist relayctl adds, and `show greylist`, are the local
 * store's; a flush reaches the keys Redis has when it runs.
 */
#include <sys/tree.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "child.h"
#include "envelope.h"
#include "clock.h"
#include "log.h"
#include "policy_redis.h"
#include "policy_store.h"
#include "redis_client.h"
#include "redis_sentinel.h"

#define KEY_HEX		32		/* 16 octets of the HMAC */
#define RKEY_MAX	(REDIS_PREFIX_MAX + 16 + KEY_HEX + 24)
#define DAY		86400
#define VOL_TTL_MS	(2LL * DAY * 1000)
#define TTL_MAX		(400LL * DAY)	/* longer: no TTL ("forever") */
#define DIGEST_HEX	(TENANT_DIGEST_LEN * 2 + 1)

struct volume {
	RB_ENTRY(volume)	 entry;
	char			 name[TENANT_MAX + 1];
	int64_t			 day;
	uint64_t		 known_m, known_o;	/* Redis's last total */
	uint64_t		 owed_m, owed_o;	/* not in Redis yet */
};
RB_HEAD(volume_tree, volume);
int	 volume_cmp(struct volume *, struct volume *);
RB_PROTOTYPE(volume_tree, volume, entry, volume_cmp)

struct predis {
	struct child		*child;
	struct store_conf	 st;		/* our copy: fixed at start */
	uint8_t			 secret[CONF_SECRET_LEN];
	char			 hostname[256];
	char			 digest[DIGEST_HEX];
	struct rsent		*rs;
	struct rconn		*primary;
	int			 ever_up;
	int			 said_down;
	uint64_t		 fallbacks;	/* reads Redis did not answer */
	uint64_t		 errors;	/* writes it refused */
	struct volume_tree	 volumes;
	char			 differ[256];	/* nodes whose tenants differ */
};

struct pget {
	struct predis		*pr;
	size_t			 n;
	int64_t			 now;
	predis_get_fn		*fn;
	void			*arg;
};

struct pvol {
	struct predis		*pr;
	char			 name[TENANT_MAX + 1];
	int64_t			 day;
	uint64_t		 m, o;		/* HINCRBY: what it adds */
	predis_vol_fn		*fn;
	void			*arg;
};

int
volume_cmp(struct volume *a, struct volume *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(volume_tree, volume, entry, volume_cmp)

static void
hex(const uint8_t *p, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static void
hmac_hex(const struct predis *pr, const void *a, size_t alen, const void *b,
    size_t blen, char *out)
{
	uint8_t		 md[EVP_MAX_MD_SIZE], buf[8 + PDB_KEY_MAX + 256];
	unsigned int	 len = 0;

	if (alen + blen > sizeof(buf))
		fatalx("policy store: a key of %zu octets", alen + blen);
	memcpy(buf, a, alen);
	memcpy(buf + alen, b, blen);
	if (HMAC(EVP_sha256(), pr->secret, sizeof(pr->secret), buf,
	    alen + blen, md, &len) == NULL || len < KEY_HEX / 2)
		fatalx("policy store: HMAC failed");
	hex(md, KEY_HEX / 2, out);
}

static void
store_key(const struct predis *pr, const struct pstore_key *k, char *out,
    size_t sz)
{
	char h[KEY_HEX + 1];

	hmac_hex(pr, &k->db, 1, k->key, k->len, h);
	snprintf(out, sz, "%s%s:%s", pr->st.key_prefix,
	    policy_db_name(k->db), h);
}

static void
volume_key(const struct predis *pr, const char *tenant, int64_t day,
    char *out, size_t sz)
{
	char h[KEY_HEX + 1];

	hmac_hex(pr, "vol", 4, tenant, strlen(tenant), h);
	snprintf(out, sz, "%svol:%s:%" PRId64, pr->st.key_prefix, h, day);
}

/*
 * The primary comes and goes.
 */

static void	publish_digest(struct predis *);
static void	volumes_repay(struct predis *);

static void
primary_changed(void *arg, struct rconn *primary)
{
	struct predis *pr = arg;

	pr->primary = primary;
	if (primary == NULL) {
		if (!pr->said_down)
			log_warnx("policy store: redis primary lost, using the "
			    "local store (%s)", rsent_why(pr->rs));
		pr->said_down = 1;
		return;
	}
	if (pr->ever_up)
		log_info("policy store: redis primary %s again",
		    rconn_name(primary));
	else
		log_info("policy store: redis primary %s",
		    rconn_name(primary));
	pr->ever_up = 1;
	pr->said_down = 0;
	publish_digest(pr);
	volumes_repay(pr);
}

/* A write's answer: -READONLY means the primary is one no more. */
static void
on_write(void *arg, const struct rreply *r)
{
	struct predis *pr = arg;

	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return;
	if (rreply_is_error(r, "READONLY")) {
		rsent_lost(pr->rs, "the primary became a replica");
		return;
	}
	if (pr->errors++ % 1000 == 0)
		log_warnx("policy store: redis refused a write: %.200s "
		    "(%" PRIu64 " so far)", r->str, pr->errors);
}

/*
 * Reads.
 */

static int
value(const struct rreply *e, int64_t now, struct pstore_val *v)
{
	memset(v, 0, sizeof(*v));
	if (e == NULL)
		return -1;
	if (e->type == REDIS_REPLY_NIL)
		return 0;
	if (e->type != REDIS_REPLY_STRING || e->len < PDB_EXPIRY_LEN ||
	    e->len > PDB_VAL_MAX)
		return -1;
	v->len = e->len;
	memcpy(v->val, e->str, e->len);
	v->found = pstore_expiry(v->val, v->len) > now;
	return 0;
}

static void
on_get(void *arg, const struct rreply *r)
{
	struct pget		*g = arg;
	struct predis		*pr = g->pr;
	struct pstore_val	 vals[PSTORE_GET_MAX];
	size_t			 i;
	int			 ok = r != NULL;

	if (r != NULL && (r->type != REDIS_REPLY_ARRAY || r->n != g->n)) {
		ok = 0;
		if (rreply_is_error(r, "READONLY"))
			rsent_lost(pr->rs, "the primary became a replica");
		else if (pr->primary != NULL)
			rconn_fail(pr->primary, r->type == REDIS_REPLY_ERROR ?
			    "an error where values were due" :
			    "a reply of the wrong shape to MGET");
	}
	for (i = 0; ok && i < g->n; i++)
		if (value(r->elem[i], g->now, &vals[i]) == -1) {
			ok = 0;
			if (pr->primary != NULL)
				rconn_fail(pr->primary, "a value that is not "
				    "one of ours");
		}
	if (!ok)
		pr->fallbacks++;
	g->fn(g->arg, ok, vals, g->n);
	free(g);
}

int
predis_get(struct predis *pr, const struct pstore_key *keys, size_t n,
    int64_t now, predis_get_fn *fn, void *arg)
{
	struct pget	*g;
	char		 k[PSTORE_GET_MAX][RKEY_MAX];
	size_t		 i;
	int		 rv;

	if (pr->primary == NULL || n == 0 || n > PSTORE_GET_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (keys[i].db <= 0 || keys[i].db >= PDB_MAX)
			return -1;
		store_key(pr, &keys[i], k[i], sizeof(k[i]));
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	g->pr = pr;
	g->n = n;
	g->now = now;
	g->fn = fn;
	g->arg = arg;
	switch (n) {
	case 1:
		rv = rconn_cmd(pr->primary, on_get, g, "MGET %s", k[0]);
		break;
	case 2:
		rv = rconn_cmd(pr->primary, on_get, g, "MGET %s %s", k[0],
		    k[1]);
		break;
	case 3:
		rv = rconn_cmd(pr->primary, on_get, g, "MGET %s %s %s", k[0],
		    k[1], k[2]);
		break;
	default:
		rv = rconn_cmd(pr->primary, on_get, g, "MGET %s %s %s %s",
		    k[0], k[1], k[2], k[3]);
		break;
	}
	if (rv == -1) {
		free(g);
		return -1;
	}
	return 0;
}

/*
 * Writes: the local store has them too, so one lost here costs only
 * what the other nodes do not see.
 */

void
predis_put(struct predis *pr, const struct pstore_key *k, const void *val,
    size_t len, int64_t now)
{
	char	key[RKEY_MAX];
	int64_t	ttl;

	if (pr->primary == NULL || len < PDB_EXPIRY_LEN)
		return;
	ttl = pstore_expiry(val, len) - now;
	if (ttl <= 0)
		return;
	store_key(pr, k, key, sizeof(key));
	if (ttl > TTL_MAX)
		(void)rconn_cmd(pr->primary, on_write, pr, "SET %s %b", key,
		    val, len);
	else
		(void)rconn_cmd(pr->primary, on_write, pr, "SET %s %b PX %lld",
		    key, val, len, (long long)ttl * 1000);
}

void
predis_del(struct predis *pr, const struct pstore_key *k)
{
	char key[RKEY_MAX];

	if (pr->primary == NULL)
		return;
	store_key(pr, k, key, sizeof(key));
	(void)rconn_cmd(pr->primary, on_write, pr, "DEL %s", key);
}

/* A flush walks the database's keys with SCAN and deletes each batch. */
struct pflush {
	struct predis	*pr;
	char		 match[RKEY_MAX];
};

static void
on_scan(void *arg, const struct rreply *r)
{
	struct pflush		*f = arg;
	struct predis		*pr = f->pr;
	const struct rreply	*keys;
	size_t			 i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->n != 2 ||
	    r->elem[0] == NULL || r->elem[0]->type != REDIS_REPLY_STRING ||
	    (keys = r->elem[1]) == NULL || keys->type != REDIS_REPLY_ARRAY ||
	    pr->primary == NULL) {
		if (r != NULL)
			log_warnx("policy store: redis flush of %s stopped",
			    f->match);
		free(f);
		return;
	}
	for (i = 0; i < keys->n; i++)
		if (keys->elem[i] != NULL &&
		    keys->elem[i]->type == REDIS_REPLY_STRING)
			(void)rconn_cmd(pr->primary, on_write, pr, "UNLINK %b",
			    keys->elem[i]->str, keys->elem[i]->len);
	if (strcmp(r->elem[0]->str, "0") == 0 ||
	    rconn_cmd(pr->primary, on_scan, f, "SCAN %s MATCH %s COUNT 200",
	    r->elem[0]->str, f->match) == -1)
		free(f);
}

void
predis_flush(struct predis *pr, uint8_t db)
{
	struct pflush *f;

	if (pr->primary == NULL || db <= 0 || db >= PDB_MAX ||
	    (f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->pr = pr;
	snprintf(f->match, sizeof(f->match), "%s%s:*", pr->st.key_prefix,
	    policy_db_name(db));
	if (rconn_cmd(pr->primary, on_scan, f, "SCAN 0 MATCH %s COUNT 200",
	    f->match) == -1)
		free(f);
}

/*
 * Daily volumes.
 */

static struct volume *
volume_find(struct predis *pr, const char *tenant, int64_t now)
{
	struct volume find, *v;

	if (strlcpy(find.name, tenant, sizeof(find.name)) >=
	    sizeof(find.name))
		return NULL;
	if ((v = RB_FIND(volume_tree, &pr->volumes, &find)) == NULL) {
		if ((v = calloc(1, sizeof(*v))) == NULL)
			return NULL;
		strlcpy(v->name, tenant, sizeof(v->name));
		v->day = now / DAY;
		RB_INSERT(volume_tree, &pr->volumes, v);
	}
	if (v->day != now / DAY) {
		v->day = now / DAY;
		v->known_m = v->known_o = v->owed_m = v->owed_o = 0;
	}
	return v;
}

static int
int_field(const struct rreply *e, uint64_t *out)
{
	char		*end;
	unsigned long long v;

	if (e == NULL)
		return -1;
	if (e->type == REDIS_REPLY_NIL) {
		*out = 0;
		return 0;
	}
	if (e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
		*out = (uint64_t)e->integer;
		return 0;
	}
	if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20)
		return -1;
	v = strtoull(e->str, &end, 10);
	if (*end != '\0' || e->str[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/* HINCRBY's answer: the total after it, or the increment is owed. */
static void
on_incr(void *arg, const struct rreply *r)
{
	struct pvol	*p = arg;
	struct volume	*v;
	uint64_t	 total;

	v = volume_find(p->pr, p->name, p->day * DAY);
	if (v != NULL && v->day == p->day) {
		if (r == NULL || int_field(r, &total) == -1) {
			v->owed_m += p->m;
			v->owed_o += p->o;
			if (r != NULL && rreply_is_error(r, "READONLY"))
				rsent_lost(p->pr->rs, "the primary became a "
				    "replica");
		} else if (p->m > 0 && total > v->known_m)
			v->known_m = total;
		else if (p->o > 0 && total > v->known_o)
			v->known_o = total;
	}
	free(p);
}

static int
volume_incr(struct predis *pr, const char *tenant, int64_t day,
    uint64_t m, uint64_t o)
{
	struct pvol	*pm, *po;
	char		 key[RKEY_MAX];

	volume_key(pr, tenant, day, key, sizeof(key));
	if ((pm = calloc(1, sizeof(*pm))) == NULL ||
	    (po = calloc(1, sizeof(*po))) == NULL) {
		free(pm);
		return -1;
	}
	pm->pr = po->pr = pr;
	strlcpy(pm->name, tenant, sizeof(pm->name));
	strlcpy(po->name, tenant, sizeof(po->name));
	pm->day = po->day = day;
	pm->m = m;
	po->o = o;
	if (rconn_cmd(pr->primary, on_incr, pm, "HINCRBY %s m %llu", key,
	    (unsigned long long)m) == -1) {
		free(pm);
		free(po);
		return -1;
	}
	if (rconn_cmd(pr->primary, on_incr, po, "HINCRBY %s o %llu", key,
	    (unsigned long long)o) == -1)
		free(po);	/* the connection fails: pm is owed */
	(void)rconn_cmd(pr->primary, on_write, pr, "PEXPIRE %s %lld", key,
	    (long long)VOL_TTL_MS);
	return 0;
}

void
predis_volume_add(struct predis *pr, const char *tenant, int64_t now,
    uint64_t messages, uint64_t octets)
{
	struct volume *v;

	if ((v = volume_find(pr, tenant, now)) == NULL)
		return;
	if (pr->primary == NULL ||
	    volume_incr(pr, tenant, now / DAY, messages, octets) == -1) {
		v->owed_m += messages;
		v->owed_o += octets;
	}
}

/* Redis is back: what was counted here meanwhile is added there. */
static void
volumes_repay(struct predis *pr)
{
	struct volume	*v;
	int64_t		 today = clock_now() / DAY;

	RB_FOREACH(v, volume_tree, &pr->volumes) {
		if (v->day != today || (v->owed_m == 0 && v->owed_o == 0))
			continue;
		if (volume_incr(pr, v->name, v->day, v->owed_m, v->owed_o) ==
		    -1)
			return;
		log_info("policy store: tenant=%s: %" PRIu64 " messages, "
		    "%" PRIu64 " octets counted during the outage added to "
		    "redis", v->name, v->owed_m, v->owed_o);
		v->owed_m = v->owed_o = 0;
	}
}

static void
on_volume(void *arg, const struct rreply *r)
{
	struct pvol	*p = arg;
	struct volume	*v = volume_find(p->pr, p->name, p->day * DAY);
	uint64_t	 m, o;
	int		 ok = 0;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->n == 2 &&
	    int_field(r->elem[0], &m) == 0 && int_field(r->elem[1], &o) == 0)
		ok = 1;
	else if (r != NULL && p->pr->primary != NULL)
		rconn_fail(p->pr->primary, "a reply of the wrong shape to "
		    "HMGET");
	if (ok && v != NULL && v->day == p->day) {
		v->known_m = m;
		v->known_o = o;
	}
	if (v != NULL && v->day == p->day) {
		m = v->known_m + v->owed_m;
		o = v->known_o + v->owed_o;
	} else
		m = o = 0;
	p->fn(p->arg, ok, m, o);
	free(p);
}

int
predis_volume_get(struct predis *pr, const char *tenant, int64_t now,
    predis_vol_fn *fn, void *arg)
{
	struct pvol	*p;
	char		 key[RKEY_MAX];

	if (pr->primary == NULL || volume_find(pr, tenant, now) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->pr = pr;
	strlcpy(p->name, tenant, sizeof(p->name));
	p->day = now / DAY;
	p->fn = fn;
	p->arg = arg;
	volume_key(pr, tenant, p->day, key, sizeof(key));
	if (rconn_cmd(pr->primary, on_volume, p, "HMGET %s m o", key) == -1) {
		free(p);
		return -1;
	}
	return 0;
}

void
predis_volume_known(struct predis *pr, const char *tenant, int64_t now,
    uint64_t *messages, uint64_t *octets)
{
	struct volume *v;

	*messages = *octets = 0;
	if ((v = volume_find(pr, tenant, now)) == NULL)
		return;
	*messages = v->known_m + v->owed_m;
	*octets = v->known_o + v->owed_o;
}

/*
 * The tenant digest: ours in, the others' out.
 */

static void
on_nodes(void *arg, const struct rreply *r)
{
	struct predis	*pr = arg;
	size_t		 i;
	char		 differ[sizeof(pr->differ)];

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->n % 2 != 0)
		return;
	differ[0] = '\0';
	for (i = 0; i + 1 < r->n; i += 2) {
		if (r->elem[i] == NULL || r->elem[i + 1] == NULL ||
		    r->elem[i]->type != REDIS_REPLY_STRING ||
		    r->elem[i + 1]->type != REDIS_REPLY_STRING ||
		    strcmp(r->elem[i + 1]->str, pr->digest) == 0)
			continue;
		if (strstr(pr->differ, r->elem[i]->str) == NULL)
			log_warnx("policy store: node %.128s has other tenant "
			    "files than ours (digest %.12s, ours %.12s): "
			    "their policies differ", r->elem[i]->str,
			    r->elem[i + 1]->str, pr->digest);
		if (differ[0] != '\0')
			strlcat(differ, ",", sizeof(differ));
		strlcat(differ, r->elem[i]->str, sizeof(differ));
	}
	strlcpy(pr->differ, differ, sizeof(pr->differ));
}

static void
publish_digest(struct predis *pr)
{
	char key[RKEY_MAX];

	snprintf(key, sizeof(key), "%snodes", pr->st.key_prefix);
	(void)rconn_cmd(pr->primary, on_write, pr, "HSET %s %s %s", key,
	    pr->hostname, pr->digest);
	(void)rconn_cmd(pr->primary, on_nodes, pr, "HGETALL %s", key);
}

/*
 * Life.
 */

static void
copy_conf(struct store_conf *dst, const struct store_conf *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->backend = src->backend;
	dst->timeout = src->timeout;
	memcpy(dst->tenant_digest, src->tenant_digest,
	    sizeof(dst->tenant_digest));
	if ((dst->key_prefix = strdup(src->key_prefix)) == NULL ||
	    (dst->master_name = strdup(src->master_name != NULL ?
	    src->master_name : "")) == NULL ||
	    (dst->password = strdup(src->password != NULL ? src->password :
	    "")) == NULL ||
	    (src->nsentinels > 0 && (dst->sentinels = calloc(src->nsentinels,
	    sizeof(*src->sentinels))) == NULL) ||
	    (dst->servers = calloc(src->nservers, sizeof(*src->servers))) ==
	    NULL)
		fatal("policy store");
	if (src->nsentinels > 0)
		memcpy(dst->sentinels, src->sentinels, src->nsentinels *
		    sizeof(*src->sentinels));
	memcpy(dst->servers, src->servers, src->nservers *
	    sizeof(*src->servers));
	dst->nsentinels = src->nsentinels;
	dst->nservers = src->nservers;
}

struct predis *
predis_new(struct child *c, const struct conf *conf)
{
	struct predis *pr;

	if (conf->store.backend != STORE_REDIS || conf->store.nservers == 0)
		return NULL;
	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		fatal("policy store");
	pr->child = c;
	RB_INIT(&pr->volumes);
	copy_conf(&pr->st, &conf->store);
	memcpy(pr->secret, conf->policy_secret, sizeof(pr->secret));
	strlcpy(pr->hostname, conf->hostname, sizeof(pr->hostname));
	hex(conf->store.tenant_digest, TENANT_DIGEST_LEN, pr->digest);
	pr->rs = rsent_new(c, &pr->st, primary_changed, pr);
	rsent_start(pr->rs);
	return pr;
}

void
predis_free(struct predis *pr)
{
	struct volume *v;

	if (pr == NULL)
		return;
	rsent_free(pr->rs);
	while ((v = RB_ROOT(&pr->volumes)) != NULL) {
		RB_REMOVE(volume_tree, &pr->volumes, v);
		free(v);
	}
	explicit_bzero(pr->secret, sizeof(pr->secret));
	conf_store_free(&pr->st);
	free(pr);
}

int
predis_up(const struct predis *pr)
{
	return pr != NULL && pr->primary != NULL;
}

void
predis_opened(struct predis *pr, struct imsg *imsg)
{
	rsent_opened(pr->rs, imsg);
}

void
predis_status(struct predis *pr, char *buf, size_t sz)
{
	uint64_t us;

	if (pr->primary == NULL) {
		snprintf(buf, sz, "store=redis primary=none (%s; the local "
		    "store answers) fallbacks=%" PRIu64, rsent_why(pr->rs),
		    pr->fallbacks);
		return;
	}
	us = rconn_latency(pr->primary);
	snprintf(buf, sz, "store=redis primary=%s latency=%" PRIu64 ".%03"
	    PRIu64 "ms tenants=%s%s fallbacks=%" PRIu64,
	    rconn_name(pr->primary), us / 1000, us % 1000,
	    pr->differ[0] ? "differ:" : "same", pr->differ, pr->fallbacks);
}
