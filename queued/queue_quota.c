/*
 * queue_quota: what new mail may still be accepted, and smtpd told so.
 *
 * Three limits, checked by queued at each commit and announced to smtpd
 * (M_Q_STATUS) so that it refuses early, at MAIL or RCPT, with the same
 * 452 4.3.1: the spool file system's limits.min_free_space, the store's
 * page high-water mark (STORE_HIGH% of the map in use, until below
 * STORE_LOW%, measured by the writer: queue_commit.c), and each tenant's
 * limits.spool_max, the octets of the queued messages it has recipients
 * in.  The announcement may lag by a second; the commit check does not.
 * With them goes the list of tenants whose new mail is deferred
 * (defer-all, queue_tenant.c), which smtpd refuses with 451.
 */
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "config.h"
#include "log.h"
#include "marshal.h"
#include "msg_queue.h"
#include "queued.h"

#define STATUS_MOVE	(1024 * 1024)	/* free space change worth telling */
#define QUOTA_ROOMS_MAX	128		/* tenants short of room, told */

struct tenant_use {
	RB_ENTRY(tenant_use)	 entry;
	char			 name[TENANT_MAX + 1];
	uint64_t		 bytes;
	uint64_t		 reserved;	/* commits in flight */
	int			 over;		/* as last told to smtpd */
};

RB_HEAD(use_tree, tenant_use);
int	 use_cmp(struct tenant_use *, struct tenant_use *);
RB_PROTOTYPE(use_tree, tenant_use, entry, use_cmp)

int
use_cmp(struct tenant_use *a, struct tenant_use *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(use_tree, tenant_use, entry, use_cmp)

static struct tenant_use *
use_get(struct queued *q, const char *name, int create)
{
	struct tenant_use find, *u;

	strlcpy(find.name, name, sizeof(find.name));
	if ((u = RB_FIND(use_tree, q->usage, &find)) != NULL || !create)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		fatal("tenant usage");
	strlcpy(u->name, name, sizeof(u->name));
	RB_INSERT(use_tree, q->usage, u);
	return u;
}

/* Each tenant a message has recipients of, once (the operator's: none). */
static int
first_of_tenant(const struct envelope *e, size_t i)
{
	size_t j;

	if (e->rcpts[i].tenant[0] == '\0')
		return 0;
	for (j = 0; j < i; j++)
		if (strcmp(e->rcpts[j].tenant, e->rcpts[i].tenant) == 0)
			return 0;
	return 1;
}

void
quota_init(struct queued *q)
{
	if ((q->usage = calloc(1, sizeof(*q->usage))) == NULL)
		fatal("tenant usage");
	RB_INIT(q->usage);
}

/* A message entered the queue: its tenants carry its size. */
void
quota_charge(struct queued *q, const struct envelope *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++)
		if (first_of_tenant(e, i))
			use_get(q, e->rcpts[i].tenant, 1)->bytes += e->size;
}

static void
use_sub(uint64_t *v, uint64_t n)
{
	*v = *v > n ? *v - n : 0;
}

static void
use_gc(struct queued *q, struct tenant_use *u)
{
	if (u->bytes == 0 && u->reserved == 0 && !u->over) {
		RB_REMOVE(use_tree, q->usage, u);
		free(u);
	}
}

/* It left the queue: what it charged is given back. */
void
quota_release(struct queued *q, const struct envelope *e)
{
	struct tenant_use	*u;
	size_t			 i;

	for (i = 0; i < e->nrcpts; i++) {
		if (!first_of_tenant(e, i) ||
		    (u = use_get(q, e->rcpts[i].tenant, 0)) == NULL)
			continue;
		use_sub(&u->bytes, e->size);
		use_gc(q, u);
	}
}

/*
 * A commit in flight holds its size against its tenants' quotas until it
 * is queued (charged) or failed, so concurrent commits cannot all pass.
 */
void
quota_reserve(struct queued *q, const struct envelope *e, int take)
{
	struct tenant_use	*u;
	size_t			 i;

	for (i = 0; i < e->nrcpts; i++) {
		if (!first_of_tenant(e, i))
			continue;
		if (take) {
			use_get(q, e->rcpts[i].tenant, 1)->reserved += e->size;
			continue;
		}
		if ((u = use_get(q, e->rcpts[i].tenant, 0)) != NULL) {
			use_sub(&u->reserved, e->size);
			use_gc(q, u);
		}
	}
}

static uint64_t
quota_of(const struct queued *q, const char *tenant)
{
	const struct tenant_conf *t;

	if (q->conf == NULL || (t = conf_tenant_by_name(q->conf,
	    tenant)) == NULL)
		return 0;
	return t->spool_max;
}

/* The first tenant this message would take over its spool_max, or NULL. */
const char *
quota_exceeded(struct queued *q, const struct envelope *e)
{
	struct tenant_use	*u;
	uint64_t		 max, used;
	size_t			 i;

	for (i = 0; i < e->nrcpts; i++) {
		if (!first_of_tenant(e, i) ||
		    (max = quota_of(q, e->rcpts[i].tenant)) == 0)
			continue;
		u = use_get(q, e->rcpts[i].tenant, 0);
		used = u != NULL ? u->bytes + u->reserved : 0;
		if (used + e->size > max)
			return e->rcpts[i].tenant;
	}
	return NULL;
}

/* The bytes a tenant's queued mail takes, for show queue and tests. */
uint64_t
quota_used(struct queued *q, const char *tenant)
{
	struct tenant_use *u = use_get(q, tenant, 0);

	return u != NULL ? u->bytes : 0;
}

/*
 * The room a tenant has left, when a message could fail to fit: below
 * limits.max_message_size.  UINT64_MAX when it has no quota or room for
 * anything.
 */
static uint64_t
room_of(struct queued *q, const struct tenant_use *u)
{
	uint64_t max = quota_of(q, u->name), used = u->bytes + u->reserved;

	if (max == 0)
		return UINT64_MAX;
	if (used >= max)
		return 0;
	if (max - used > q->conf->limits.max_message_size)
		return UINT64_MAX;
	return max - used;
}

/* Log a tenant reaching its quota, or leaving it, once each way. */
static void
note_full(struct queued *q, struct tenant_use *u)
{
	const struct queue_reply *r = queue_reply_get(QR_TENANT_FULL);
	int full = room_of(q, u) == 0;

	if (full == u->over)
		return;
	u->over = full;
	if (full)
		log_warnx("tenant=%s: spool quota reached (%llu octets "
		    "queued); its new mail gets %d %s", u->name,
		    (unsigned long long)u->bytes, r->code, r->enh);
	else
		log_info("tenant=%s: below its spool quota again", u->name);
}

/* The tenants short of room, as smtpd is told. */
static void
rooms_build(struct queued *q, struct mw *w)
{
	struct tenant_use	*u;
	uint64_t		 room;
	uint32_t		 n = 0;
	size_t			 count_at;

	mw_u32(w, 0);
	count_at = w->len - sizeof(uint32_t);
	RB_FOREACH(u, use_tree, q->usage) {
		note_full(q, u);
		if ((room = room_of(q, u)) == UINT64_MAX)
			continue;
		/* More than fit: the commit check still holds for them. */
		if (n == QUOTA_ROOMS_MAX || !mw_fits_str(w, strlen(u->name) +
		    16))
			break;
		mw_str(w, u->name);
		mw_u64(w, room);
		n++;
	}
	memcpy(w->buf + count_at, &n, sizeof(n));
}

static void
send_status(struct queued *q, uint64_t avail, const struct mw *w)
{
	struct tenant_use *u, *next;

	child_send(q->child, PROC_SMTPD, M_Q_STATUS, 0, -1, w->buf, w->len);
	q->told_free = avail;
	q->told_full = q->store_full;
	RB_FOREACH_SAFE(u, use_tree, q->usage, next)
		use_gc(q, u);
}

/*
 * The store's high-water mark, from the writer's last measure, with some
 * room between full and not full so that it does not flap.  1 when it
 * changed.
 */
int
quota_store(struct queued *q)
{
	const struct queue_reply *r = queue_reply_get(QR_NO_STORAGE);
	uint64_t	used, total;
	int		full;

	if (q->cm == NULL || committer_usage(q->cm, &used, &total) == -1)
		return 0;
	full = used * 100 >= total * (q->store_full ? STORE_LOW : STORE_HIGH);
	if (full == q->store_full)
		return 0;
	q->store_full = full;
	if (full)
		log_warnx("queue store: %llu of %llu pages in use (%d%% or "
		    "more): new mail gets %d %s until it is below %d%%",
		    (unsigned long long)used, (unsigned long long)total,
		    STORE_HIGH, r->code, r->enh, STORE_LOW);
	else
		log_info("queue store: %llu of %llu pages in use, below %d%%: "
		    "new mail is accepted again", (unsigned long long)used,
		    (unsigned long long)total, STORE_LOW);
	return 1;
}

/*
 * Every second, and at each new configuration: tell smtpd when the free
 * space moved by a megabyte, the store filled or emptied, or the room a
 * tenant has left changed.
 */
void
quota_tick(int fd, short ev, void *arg)
{
	struct queued	*q = arg;
	uint64_t	 avail = spool_free_space(q), d;
	struct mw	 w;
	size_t		 off, len;
	int		 changed;

	(void)fd;
	(void)ev;
	if (q->conf == NULL)
		return;
	quota_store(q);
	routes_persist(q);	/* what the store failed to take */
	mw_init(&w);
	mw_u64(&w, avail);
	mw_u8(&w, (uint8_t)q->store_full);
	off = w.len;
	rooms_build(q, &w);
	tenant_status_put(q, &w);
	len = w.len - off;
	changed = len != q->told_rooms_len ||
	    memcmp(w.buf + off, q->told_rooms, len) != 0;
	d = avail > q->told_free ? avail - q->told_free :
	    q->told_free - avail;
	if (q->told_free == 0 || d >= STATUS_MOVE ||
	    q->store_full != q->told_full || changed) {
		send_status(q, avail, &w);
		memcpy(q->told_rooms, w.buf + off, len);
		q->told_rooms_len = len;
	}
}
