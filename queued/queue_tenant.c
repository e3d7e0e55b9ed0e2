/*
 * queue_tenant: each tenant's deliveries as queued sees them, what
 * follows from them, and what is kept of them in the store.
 *
 * Every delivery job to a tenant's own servers ends one of three ways
 * (tenant_delivered): something was accepted; nothing was, and the
 * servers refused (4xx) or could not be reached; or there is nothing to
 * learn (only 5xx, or trouble of our own).  From the first refusal after
 * the last acceptance the tenant is failing.  Then, once a second:
 *
 *   failing for notices.outage_after       an outage notice, again every
 *                                          notices.interval while it
 *                                          lasts; once mail is accepted
 *                                          again, a recovery notice
 *   failing for inbound.defer_all_after,   defer-all: smtpd defers the
 *   with mail held for it                  tenant's new inbound mail
 *                                          (M_Q_STATUS), and a notice
 *                                          goes once per interval
 *
 * Defer-all ends when the servers accept a message, when a reload gives
 * the tenant other servers, or when nothing is held for it any more (its
 * mail is accepted again, and tried).  Held mail is counted (a census of
 * the queue) once a minute, and whenever a decision needs a fresh count.
 *
 * The state (the last acceptance, failing since when, the last error,
 * the notices sent) is "tenant:NAME" in the store's meta, written when it
 * changes in substance: the time of the last acceptance at most every
 * STATE_SYNC seconds, so that a busy tenant costs no write per message.
 * A notice's record commits with the notice itself (queue_notice.c); a
 * tenant's state is not written while its notice is: a write never
 * overtakes the notice's.
 *
 * BUGS: a server that greets and answers EHLO but refuses every
 * recipient with 4xx is failing, but its probe succeeds (queue_probe.c
 * probes only routes that are down, so it is not asked every minute).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "msg_parent.h"
#include "log.h"
#include "marshal.h"
#include "queued.h"

#define TICK		1	/* seconds between two looks */
#define CENSUS_EVERY	60	/* seconds between two counts of held mail */
#define STATE_SYNC	600	/* the last acceptance, written at most */
#define STATE_VERSION	1
#define DEFER_LIST_MAX	1024	/* tenants deferring all, told smtpd */

int
tstate_cmp(struct tstate *a, struct tstate *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(tstate_tree, tstate, entry, tstate_cmp)

static void	tenant_tick(int, short, void *);

void
tenant_init(struct queued *q)
{
	struct timeval tv = { TICK, 0 };

	if ((q->tenants = calloc(1, sizeof(*q->tenants))) == NULL)
		fatal("tenant states");
	RB_INIT(q->tenants);
	q->tenant_timer = event_new(q->child->base, -1, EV_PERSIST,
	    tenant_tick, q);
	if (q->tenant_timer == NULL || evtimer_add(q->tenant_timer, &tv) == -1)
		fatalx("tenant timer");
}

static struct tstate *
tstate_get(struct queued *q, const char *name, int create)
{
	struct tstate find, *t;

	if (strlcpy(find.name, name, sizeof(find.name)) >= sizeof(find.name))
		return NULL;
	if ((t = RB_FIND(tstate_tree, q->tenants, &find)) != NULL || !create)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("tenant state");
	strlcpy(t->name, name, sizeof(t->name));
	RB_INSERT(tstate_tree, q->tenants, t);
	return t;
}

struct tstate *
tenant_find(struct queued *q, const char *name)
{
	return tstate_get(q, name, 0);
}

/*
 * The stored record: u32 version, i64 last_ok, i64 failing_since, i64
 * error_at, str last_error, u8 outage_told, u32 n, n x (i64 at, u32
 * count, u8 told), by notice kind.
 */
int
tenant_encode(const struct tstate *t, struct mw *w)
{
	size_t i;

	mw_init_grow(w);
	mw_u32(w, STATE_VERSION);
	mw_i64(w, t->last_ok);
	mw_i64(w, t->failing_since);
	mw_i64(w, t->error_at);
	mw_str(w, t->last_error);
	mw_u8(w, t->outage_told);
	mw_u32(w, NK_MAX);
	for (i = 0; i < NK_MAX; i++) {
		mw_i64(w, t->notices[i].at);
		mw_u32(w, t->notices[i].count);
		mw_u8(w, t->notices[i].told);
	}
	return w->err ? -1 : 0;
}

static int
tenant_decode(struct tstate *t, const void *p, size_t len)
{
	struct tstate	 d;
	struct mr	 r;
	uint32_t	 n, i;

	memset(&d, 0, sizeof(d));
	mr_init(&r, p, len);
	if (mr_u32(&r) != STATE_VERSION)
		return -1;
	d.last_ok = mr_i64(&r);
	d.failing_since = mr_i64(&r);
	d.error_at = mr_i64(&r);
	mr_str(&r, d.last_error, sizeof(d.last_error));
	d.outage_told = mr_u8(&r);
	if ((n = mr_u32(&r)) > 64)
		return -1;
	for (i = 0; i < n && !r.err; i++) {
		struct notice_rec rec;

		rec.at = mr_i64(&r);
		rec.count = mr_u32(&r);
		rec.told = mr_u8(&r);
		if (i < NK_MAX)		/* kinds of a later relayd: ignored */
			d.notices[i] = rec;
	}
	if (mr_end(&r) == -1 || d.outage_told > 1)
		return -1;
	t->last_ok = d.last_ok;
	t->failing_since = d.failing_since;
	t->error_at = d.error_at;
	memcpy(t->last_error, d.last_error, sizeof(t->last_error));
	t->outage_told = d.outage_told;
	memcpy(t->notices, d.notices, sizeof(t->notices));
	t->stored_ok = t->last_ok;
	return 0;
}

static void
tstate_load_one(void *arg, const char *name, const void *p, size_t len)
{
	struct queued	*q = arg;
	struct tstate	*t;

	if ((t = tstate_get(q, name, 1)) == NULL)
		return;
	if (tenant_decode(t, p, len) == -1) {
		log_warnx("tenant=%s: its state in the store cannot be read; "
		    "it starts again from nothing", name);
		t->dirty = 1;
	}
}

/*
 * At start, once the routes are known: the states as they were, and the
 * routes that were failing are taken for down, to be probed at once.
 */
void
tenant_load(struct queued *q)
{
	struct tstate	*t;
	struct qdest	*d;
	char		 key[ROUTE_KEY_MAX];
	int64_t		 now = time(NULL);

	if (store_tenants(q->store, tstate_load_one, q) == -1)
		log_warnx("queue store: cannot read the tenants' states");
	RB_FOREACH(t, tstate_tree, q->tenants) {
		if (t->failing_since == 0)
			continue;
		snprintf(key, sizeof(key), "tenant:%s", t->name);
		d = qdest_get(q, key);
		d->down = 1;
		d->down_since = now;
		d->probe_at = now;
	}
}

static void
tenant_persist(struct queued *q, struct tstate *t)
{
	struct task	*j;
	struct mw	 w;

	if (!t->dirty || t->writing || t->noticing || q->store == NULL)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL || tenant_encode(t, &w) == -1 ||
	    (j->blob = malloc(w.len)) == NULL)
		fatal("tenant state");
	memcpy(j->blob, w.buf, w.len);
	j->bloblen = w.len;
	mw_release(&w);
	j->kind = TASK_TSTATE;
	j->fd = -1;
	strlcpy(j->tenant, t->name, sizeof(j->tenant));
	t->writing = 1;
	t->dirty = 0;
	t->stored_ok = t->last_ok;
	committer_submit(q->cm, j);
}

/* A removed tenant's state goes from the store, and from here. */
static void
tenant_forget(struct queued *q, struct tstate *t)
{
	struct task *j;

	if (t->writing || t->noticing)
		return;		/* once they are done */
	if (q->store != NULL) {
		if ((j = calloc(1, sizeof(*j))) == NULL)
			fatal("tenant state");
		j->kind = TASK_TSTATE;
		j->fd = -1;
		strlcpy(j->tenant, t->name, sizeof(j->tenant));
		committer_submit(q->cm, j);
	}
	RB_REMOVE(tstate_tree, q->tenants, t);
	free(t);
}

void
tenant_task_done(struct queued *q, struct task *j)
{
	struct tstate *t = tenant_find(q, j->tenant);

	if (j->blob != NULL && t != NULL) {
		t->writing = 0;
		if (j->err != 0) {
			log_warnx("tenant=%s: its state could not be stored "
			    "(%s); tried again", j->tenant, strerror(j->err));
			t->dirty = 1;
		}
	} else if (j->err != 0)
		log_warnx("tenant=%s: its state could not be removed from the "
		    "store: %s", j->tenant, strerror(j->err));
	free(j->blob);
	free(j);
}

/*
 * A new configuration (q->conf is it now): a state for each tenant, none
 * for the removed ones.
 */
void
tenant_conf(struct queued *q, const struct conf *conf)
{
	struct tstate	*t, *next;
	size_t		 i;

	RB_FOREACH(t, tstate_tree, q->tenants)
		t->tc = NULL;
	for (i = 0; i < conf->ntenants; i++)
		if ((t = tstate_get(q, conf->tenants[i].name, 1)) != NULL)
			t->tc = &conf->tenants[i];
	RB_FOREACH_SAFE(t, tstate_tree, q->tenants, next)
		if (t->tc == NULL)
			tenant_forget(q, t);
}

static void
defer_all_end(struct queued *q, struct tstate *t, const char *why)
{
	if (!t->deferring)
		return;
	t->deferring = 0;
	log_info("tenant=%s: defer-all ends: %s; its new mail is accepted "
	    "again", t->name, why);
	quota_tick(-1, 0, q);
}

/* Its servers changed: what the old ones did says nothing of them. */
void
tenant_route_changed(struct queued *q, const char *name)
{
	struct tstate *t;

	if ((t = tenant_find(q, name)) == NULL || t->failing_since == 0)
		return;
	t->failing_since = 0;
	t->dirty = 1;
	defer_all_end(q, t, "its servers changed (reload)");
}

static void
set_error(struct tstate *t, const char *error, int64_t now)
{
	size_t i;

	if (error == NULL || error[0] == '\0')
		return;
	/* A remote server's words: printable ASCII, one line. */
	for (i = 0; error[i] != '\0' && i + 1 < sizeof(t->last_error); i++)
		t->last_error[i] = (error[i] < 0x20 || error[i] > 0x7e) ? '?' :
		    error[i];
	t->last_error[i] = '\0';
	t->error_at = now;
}

void
tenant_delivered(struct queued *q, const char *name, enum tenant_outcome o,
    const char *error)
{
	struct tstate	*t;
	int64_t		 now = time(NULL);

	if (o == TO_NONE || (t = tenant_find(q, name)) == NULL)
		return;
	if (o == TO_FAILED) {
		set_error(t, error, now);
		if (t->failing_since == 0) {
			t->failing_since = now;
			t->dirty = 1;
		}
		return;
	}
	if (t->failing_since != 0) {
		log_info("tenant=%s: its servers accept mail again (nothing "
		    "accepted for %llds)", t->name,
		    (long long)(now - t->failing_since));
		t->failing_since = 0;
		t->dirty = 1;
		defer_all_end(q, t, "its servers accepted a message");
	}
	if (t->last_ok == 0 || now - t->stored_ok >= STATE_SYNC)
		t->dirty = 1;
	t->last_ok = now;
}

void
tenant_probed(struct queued *q, const char *name, int up, const char *error)
{
	struct tstate *t;

	if (!up && (t = tenant_find(q, name)) != NULL)
		set_error(t, error, time(NULL));
}

/*
 * Held mail, per tenant: the messages with recipients still to deliver
 * to the tenant's own servers, and their octets; not our notices.
 */
void
tenant_census(struct queued *q)
{
	struct tstate	*t;
	struct qmsg	*m;
	size_t		 i;

	RB_FOREACH(t, tstate_tree, q->tenants) {
		t->held_msgs = t->held_octets = 0;
		t->census_last = 0;
	}
	RB_FOREACH(m, qmsg_tree, &q->queue) {
		/* Our own notices to its contacts are not its mail. */
		if (m->env->flags & ENVF_NOTICE)
			continue;
		for (i = 0; i < m->env->nrcpts; i++) {
			const struct rcpt *r = &m->env->rcpts[i];

			if (r->status != RS_PENDING ||
			    r->route != ROUTE_TENANT ||
			    (t = tenant_find(q, r->tenant)) == NULL ||
			    t->census_last == m->id)
				continue;
			t->census_last = m->id;
			t->held_msgs++;
			t->held_octets += m->env->size;
		}
	}
	q->census_at = time(NULL);
}

static int
defer_all_due(const struct tstate *t, const struct tenant_conf *tc,
    int64_t now)
{
	return tc->defer_all_after > 0 && t->failing_since != 0 &&
	    now - t->failing_since >= (int64_t)tc->defer_all_after;
}

static void
defer_all_check(struct queued *q, struct tstate *t,
    const struct tenant_conf *tc, int64_t now)
{
	char when[32];

	if (!defer_all_due(t, tc, now)) {
		defer_all_end(q, t, tc->defer_all_after == 0 ?
		    "defer_all_after is 0" : "its servers are no longer "
		    "failing");
		return;
	}
	if (t->deferring && t->held_msgs == 0) {
		defer_all_end(q, t, "no mail is held for it");
		return;
	}
	if (t->deferring || t->held_msgs == 0)
		return;
	t->deferring = 1;
	format_age(now - t->failing_since, when, sizeof(when));
	log_warnx("tenant=%s: its servers have accepted nothing from this "
	    "relay for %s although %llu held messages were tried (last "
	    "error: %s): its new mail is deferred until they accept one",
	    t->name, when, (unsigned long long)t->held_msgs,
	    t->last_error[0] ? t->last_error : "none");
	quota_tick(-1, 0, q);
}

/* At most one notice of a kind per notices.interval. */
static int
notice_allowed(const struct queued *q, const struct tstate *t,
    enum notice_kind k, int64_t now)
{
	return t->notices[k].at == 0 ||
	    now - t->notices[k].at >= (int64_t)q->conf->notices.interval;
}

/* The notice this tenant is owed now, if any: NK_MAX for none. */
static enum notice_kind
notice_due(struct queued *q, struct tstate *t, int64_t now)
{
	if (t->failing_since != 0 && now - t->failing_since >=
	    (int64_t)q->conf->notices.outage_after &&
	    notice_allowed(q, t, NK_OUTAGE, now))
		return NK_OUTAGE;
	if (t->outage_told && t->failing_since == 0 &&
	    notice_allowed(q, t, NK_RECOVERY, now))
		return NK_RECOVERY;
	if (t->deferring && notice_allowed(q, t, NK_DEFER_ALL, now))
		return NK_DEFER_ALL;
	if (t->volume_due) {
		t->volume_due = 0;
		if (notice_allowed(q, t, NK_VOLUME, now))
			return NK_VOLUME;
	}
	/* Each suspension is told: an account may be sending spam. */
	if (t->suspended_due) {
		t->suspended_due = 0;
		return NK_SUSPENDED;
	}
	return NK_MAX;
}

static void
notices_check(struct queued *q, struct tstate *t, int64_t now)
{
	enum notice_kind	k;
	char			err[256];

	if (t->noticing || now < t->notice_retry ||
	    (k = notice_due(q, t, now)) == NK_MAX)
		return;
	if (notice_send(q, t, k, 0, err, sizeof(err)) == -1) {
		log_warnx("tenant=%s: no %s notice: %s; tried again in %us",
		    t->name, notice_kind_name(k), err,
		    q->conf->queue.retry_min);
		t->notice_retry = now + q->conf->queue.retry_min;
		if (k == NK_VOLUME)
			t->volume_due = 1;
		if (k == NK_SUSPENDED)
			t->suspended_due = 1;
	}
}

/* Is a count of held mail older than a decision about to be taken? */
static int
census_stale(struct queued *q, int64_t now)
{
	struct tstate *t;

	if (now - q->census_at >= CENSUS_EVERY)
		return 1;
	RB_FOREACH(t, tstate_tree, q->tenants) {
		if (t->tc == NULL || t->deferring ||
		    !defer_all_due(t, t->tc, now))
			continue;
		if (q->census_at < t->failing_since +
		    (int64_t)t->tc->defer_all_after)
			return 1;
	}
	return 0;
}

static void
tenant_tick(int fd, short ev, void *arg)
{
	struct queued	*q = arg;
	struct tstate	*t, *next;
	int64_t		 now = time(NULL);

	(void)fd;
	(void)ev;
	if (q->conf == NULL || q->store == NULL)
		return;
	if (census_stale(q, now))
		tenant_census(q);
	RB_FOREACH_SAFE(t, tstate_tree, q->tenants, next) {
		if (t->tc == NULL) {
			tenant_forget(q, t);	/* once its writes are done */
			continue;
		}
		defer_all_check(q, t, t->tc, now);
		notices_check(q, t, now);
		report_check(q, t);
		tenant_persist(q, t);
	}
	probe_tick(q, now);
}

/* For M_Q_STATUS: u32 n, n x str tenant, those deferring all. */
void
tenant_status_put(struct queued *q, struct mw *w)
{
	struct tstate	*t;
	uint32_t	 n = 0;
	size_t		 count_at;

	mw_u32(w, 0);
	count_at = w->len - sizeof(uint32_t);
	RB_FOREACH(t, tstate_tree, q->tenants) {
		if (!t->deferring)
			continue;
		/* More than fit: those refuse at commit time instead. */
		if (n == DEFER_LIST_MAX || !mw_fits_str(w, strlen(t->name)))
			break;
		mw_str(w, t->name);
		n++;
	}
	memcpy(w->buf + count_at, &n, sizeof(n));
}

/* The first inbound tenant of the message whose mail is deferred. */
const char *
tenant_deferring(struct queued *q, const struct envelope *e)
{
	struct tstate	*t;
	size_t		 i;

	for (i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].dir == DIR_INBOUND &&
		    (t = tenant_find(q, e->rcpts[i].tenant)) != NULL &&
		    t->deferring)
			return t->name;
	return NULL;
}

/* relayctl show tenant: the lines, or one JSON document over them. */
struct show {
	struct queued	*q;
	uint64_t	 req;
	int		 json;
	int		 first;		/* no member written yet */
};

static void
show_date(int64_t t, int64_t now, char *buf, size_t sz)
{
	struct tm	tm;
	time_t		tt = (time_t)t;
	char		age[32], d[40];

	if (t == 0) {
		strlcpy(buf, "never", sz);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S UTC", &tm);
	format_age(now - t, age, sizeof(age));
	snprintf(buf, sz, "%s (%s ago)", d, age);
}

/* A JSON string: quotes, backslashes and controls escaped. */
static void
jstr(const char *s, char *buf, size_t sz)
{
	size_t o = 0;

	if (sz < 3)
		return;
	buf[o++] = '"';
	for (; s != NULL && *s != '\0' && o + 8 < sz; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, sz - o, "\\u%04x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

/* One fact: "key: text", or the JSON member "key": value. */
static void __attribute__((format(printf, 4, 5)))
show_fact(struct show *sh, const char *key, const char *jvalue,
    const char *fmt, ...)
{
	char	line[CTL_TEXT_MAX - 16], text[CTL_TEXT_MAX - 64];
	va_list	ap;

	if (sh->json) {
		snprintf(line, sizeof(line), "%s\"%s\": %s",
		    sh->first ? "{ " : "  , ", key, jvalue);
		sh->first = 0;
	} else {
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
		snprintf(line, sizeof(line), "%s: %s", key, text);
	}
	ctl_line(sh->q, sh->req, line);
}

static void
show_time(struct show *sh, const char *key, int64_t t, int64_t now)
{
	char text[96], j[32];

	show_date(t, now, text, sizeof(text));
	if (t == 0)
		strlcpy(j, "null", sizeof(j));
	else
		snprintf(j, sizeof(j), "%lld", (long long)t);
	show_fact(sh, key, j, "%s", text);
}

static void
show_servers(struct show *sh, const struct tenant_conf *tc)
{
	char	text[600], j[900], one[300], js[320];
	size_t	i;

	text[0] = '\0';
	strlcpy(j, "[", sizeof(j));
	for (i = 0; i < tc->ndeliver_to; i++) {
		snprintf(one, sizeof(one), "%s:%u", tc->deliver_to[i].host,
		    tc->deliver_to[i].port);
		jstr(one, js, sizeof(js));
		if (i > 0) {
			strlcat(text, ", ", sizeof(text));
			strlcat(j, ", ", sizeof(j));
		}
		strlcat(text, one, sizeof(text));
		strlcat(j, js, sizeof(j));
	}
	strlcat(j, "]", sizeof(j));
	show_fact(sh, "servers", j, "%s", text);
}

static const char *
state_word(const struct tstate *t, const struct qdest *d)
{
	if (d != NULL && d->down)
		return "down";
	if (t->failing_since != 0)
		return "refusing";
	return t->last_ok != 0 ? "up" : "unknown";
}

static void
show_state(struct show *sh, const struct tstate *t, int64_t now)
{
	const struct qdest	*d;
	struct qdest		 find;
	const char		*w;
	char			 since[96], j[32];

	snprintf(find.key, sizeof(find.key), "tenant:%s", t->name);
	d = RB_FIND(qdest_tree, &sh->q->dests, &find);
	w = state_word(t, d);
	snprintf(j, sizeof(j), "\"%s\"", w);
	if (d != NULL && d->down)
		show_date(d->down_since, now, since, sizeof(since));
	else if (t->failing_since != 0)
		show_date(t->failing_since, now, since, sizeof(since));
	if (strcmp(w, "up") == 0)
		show_fact(sh, "state", j, "up: its servers accept mail");
	else if (strcmp(w, "unknown") == 0)
		show_fact(sh, "state", j, "unknown: nothing delivered or "
		    "tried yet");
	else
		show_fact(sh, "state", j, "%s since %s",
		    strcmp(w, "down") == 0 ? "down (no server answers)" :
		    "refusing mail", since);
	show_time(sh, "down_since", d != NULL && d->down ? d->down_since : 0,
	    now);
	show_time(sh, "failing_since", t->failing_since, now);
	show_time(sh, "last_accepted", t->last_ok, now);
}

static void
show_notices(struct show *sh, const struct tstate *t, int64_t now)
{
	char	text[256], j[160], key[32], when[96];
	int	k;

	for (k = 0; k < NK_MAX; k++) {
		const struct notice_rec *n = &t->notices[k];

		if (k == NK_ANNOUNCE)
			continue;	/* of no tenant */
		snprintf(key, sizeof(key), "notice %s", notice_kind_name(k));
		show_date(n->at, now, when, sizeof(when));
		if (n->at == 0)
			strlcpy(text, "never sent", sizeof(text));
		else
			snprintf(text, sizeof(text), "%u sent, the last %s, %s",
			    n->count, when, n->told ? "told" : "not told (no "
			    "contact outside the tenant's domains)");
		if (n->at == 0)
			snprintf(j, sizeof(j), "{ \"count\": %u, "
			    "\"last\": null, \"told\": false }", n->count);
		else
			snprintf(j, sizeof(j), "{ \"count\": %u, "
			    "\"last\": %lld, \"told\": %s }", n->count,
			    (long long)n->at, n->told ? "true" : "false");
		if (sh->json)
			snprintf(key, sizeof(key), "notice_%s",
			    k == NK_DEFER_ALL ? "defer_all" :
			    notice_kind_name(k));
		show_fact(sh, key, j, "%s", text);
	}
}

static void
show_contacts(struct show *sh, const struct tenant_conf *tc)
{
	const struct contact_conf	*c;
	char				 roles[64], jr[128], text[512];
	char				 j[CTL_TEXT_MAX - 128], e[300], n[300];
	char				 p[80];
	unsigned			 bit;
	size_t				 i;

	if (sh->json)
		show_fact(sh, "contacts", "[", "%s", "");
	for (i = 0; i < tc->ncontacts; i++) {
		c = &tc->contacts[i];
		conf_roles_format(c->roles, roles, sizeof(roles));
		if (!sh->json) {
			snprintf(text, sizeof(text), "%s%s<%s>%s%s (%s)",
			    c->name ? c->name : "", c->name ? " " : "",
			    c->email, c->phone ? " " : "",
			    c->phone ? c->phone : "", roles);
			show_fact(sh, "contact", NULL, "%s", text);
			continue;
		}
		strlcpy(jr, "[", sizeof(jr));
		for (bit = 1; bit <= CONTACT_BILLING; bit <<= 1) {
			if (!(c->roles & bit))
				continue;
			if (jr[1] != '\0')
				strlcat(jr, ", ", sizeof(jr));
			strlcat(jr, "\"", sizeof(jr));
			strlcat(jr, conf_role_name(bit), sizeof(jr));
			strlcat(jr, "\"", sizeof(jr));
		}
		strlcat(jr, "]", sizeof(jr));
		jstr(c->email, e, sizeof(e));
		if (c->name != NULL)
			jstr(c->name, n, sizeof(n));
		else
			strlcpy(n, "null", sizeof(n));
		if (c->phone != NULL)
			jstr(c->phone, p, sizeof(p));
		else
			strlcpy(p, "null", sizeof(p));
		snprintf(j, sizeof(j), "    %s{ \"name\": %s, \"email\": %s, "
		    "\"phone\": %s, \"roles\": %s }", i > 0 ? ", " : "", n, e,
		    p, jr);
		ctl_line(sh->q, sh->req, j);
	}
	if (sh->json)
		ctl_line(sh->q, sh->req, "    ]");
}

void
tenant_show(struct queued *q, uint64_t req, const char *name, int json)
{
	const struct tenant_conf	*tc;
	struct tstate			*t;
	struct show			 sh;
	char				 j[600], hold[32], after[32];
	int64_t				 now = time(NULL);

	if (q->conf == NULL || (tc = conf_tenant_by_name(q->conf, name)) ==
	    NULL || (t = tenant_find(q, name)) == NULL) {
		ctl_done(q, req, 0, "no such tenant");
		return;
	}
	tenant_census(q);
	memset(&sh, 0, sizeof(sh));
	sh.q = q;
	sh.req = req;
	sh.json = json;
	sh.first = 1;
	jstr(t->name, j, sizeof(j));
	show_fact(&sh, "tenant", j, "%s", t->name);
	snprintf(j, sizeof(j), "\"%s\"", tc->inbound_mode == INBOUND_BACKUP ?
	    "backup" : "relay");
	format_age(tc->hold, hold, sizeof(hold));
	format_age(tc->defer_all_after, after, sizeof(after));
	show_fact(&sh, "mode", j, "%s (hold %s, defer_all_after %s)",
	    tc->inbound_mode == INBOUND_BACKUP ? "backup" : "relay", hold,
	    tc->defer_all_after ? after : "never");
	show_servers(&sh, tc);
	show_state(&sh, t, now);
	snprintf(j, sizeof(j), "%llu", (unsigned long long)t->held_msgs);
	show_fact(&sh, "held_messages", j, "%llu",
	    (unsigned long long)t->held_msgs);
	snprintf(j, sizeof(j), "%llu", (unsigned long long)t->held_octets);
	show_fact(&sh, "held_octets", j, "%llu",
	    (unsigned long long)t->held_octets);
	jstr(t->last_error, j, sizeof(j));
	show_fact(&sh, "last_error", t->last_error[0] ? j : "null", "%s",
	    t->last_error[0] ? t->last_error : "none");
	show_time(&sh, "last_error_at", t->error_at, now);
	show_fact(&sh, "defer_all", t->deferring ? "true" : "false", "%s",
	    t->deferring ? "in force: its new mail is deferred" : "no");
	show_notices(&sh, t, now);
	jstr(tc->postmaster, j, sizeof(j));
	show_fact(&sh, "postmaster", j, "%s", tc->postmaster);
	show_contacts(&sh, tc);
	if (json)
		ctl_line(q, req, "}");
	ctl_done(q, req, 1, NULL);
}
