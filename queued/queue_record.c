/*
 * queue_record: the record store, state_dir/records.  Every event that
 * names a message (accepted, each attempt and its reply, deferred,
 * bounced, expired, removed, notices, what the operator did) is a record
 * (queue_recline.c), and relayctl trace and monitor read them
 * (queue_trace.c).  queued writes them: it alone sees a message's whole
 * life, and records/ is in its root.
 *
 *   records/open/ID        the records of a message still queued
 *   records/DAYTHHMMSS     a bucket: the records of every message whose
 *                          last recipient became final in its span
 *   records/held/N         what legal hold N kept (queue_hold.c)
 *
 * Records are destroyed retention.message_records after the message's
 * final fate, by deleting buckets whole: a store that deletes keys (LMDB)
 * keeps the freed pages, where a deleted record lingers, while a file
 * unlinked is gone from everything relayd and its operators read.  A
 * bucket spans a 48th of the retention (at most an hour) and is deleted
 * once the retention has passed since its span began: a record lives
 * between 47/48 of the retention and all of it, never longer.  When the
 * last recipient is final, the message's records are appended to the
 * bucket of that moment, and its open file goes.
 *
 * Records are not a promise like the 250: nothing here is fsynced.  A
 * message's records stay in memory for a second (most messages are done
 * by then, and cost one buffered write to a bucket, no file of their
 * own); one still queued after that has them appended to its open file.
 * Buckets are written through a buffer flushed each second.  A crash
 * loses at most the last second of records.  Times are the clock's
 * (clock.h), so the tests can let days pass.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "config.h"
#include "control_req.h"
#include "ctl_stream.h"
#include "log.h"
#include "msg_deliver.h"
#include "queued.h"

#define REC_MEM_MAX	(32 * 1024)	/* one message's, in memory */
#define BUCKET_BUF	(64 * 1024)
#define SPILL_AFTER	1		/* seconds in memory, at most */
#define WARN_QUIET	60		/* seconds between write warnings */
#define BUCKET_NAME	"%Y-%m-%dT%H%M%S"
#define BUCKET_NAME_LEN	17

static void	purge_arm(struct records *);

/* "2d", "36h", "90s": a duration as the configuration spells it. */
const char *
duration(uint32_t secs)
{
	static char buf[32];

	if (secs % 86400 == 0)
		snprintf(buf, sizeof(buf), "%ud", secs / 86400);
	else if (secs % 3600 == 0)
		snprintf(buf, sizeof(buf), "%uh", secs / 3600);
	else if (secs % 60 == 0)
		snprintf(buf, sizeof(buf), "%um", secs / 60);
	else
		snprintf(buf, sizeof(buf), "%us", secs);
	return buf;
}

static int64_t
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A bucket's span: a 48th of the retention, from a second to an hour. */
static int64_t
bucket_span(const struct queued *q)
{
	int64_t span = q->conf->retention.message_records / 48;

	return span < 1 ? 1 : span > 3600 ? 3600 : span;
}

int64_t
records_bucket_start(const char *name)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(name) != BUCKET_NAME_LEN ||
	    (end = strptime(name, BUCKET_NAME, &tm)) == NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm);
}

void
records_bucket_name(int64_t start, char *buf, size_t sz)
{
	time_t		t = (time_t)start;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, BUCKET_NAME, &tm);
}

/* Failures to write records: said once a minute, with what was lost. */
static void
write_failed(struct records *rs, const char *what, size_t lines)
{
	time_t now = time(NULL);

	rs->lost += lines;
	if (now - rs->warned < WARN_QUIET)
		return;
	log_warnx("records: cannot write %s: %s; %llu records lost since the "
	    "last warning", what, strerror(errno),
	    (unsigned long long)rs->lost);
	rs->warned = now;
	rs->lost = 0;
}

static int
write_whole(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
bucket_flush(struct records *rs)
{
	if (rs->blen == 0 || rs->bfd == -1)
		return;
	if (write_whole(rs->bfd, rs->bbuf, rs->blen) == -1)
		write_failed(rs, "a bucket", 1);
	rs->blen = 0;
}

static void
bucket_close(struct records *rs)
{
	bucket_flush(rs);
	if (rs->bfd != -1)
		close(rs->bfd);
	rs->bfd = -1;
}

/* The bucket of this moment, open for appending. */
static int
bucket_open(struct records *rs, int64_t now)
{
	int64_t	span = bucket_span(rs->q), start = now - now % span;
	char	name[32];

	/* Still the current one (or the clock went back: stay). */
	if (rs->bfd != -1 && now < rs->bstart + rs->bspan)
		return 0;
	bucket_close(rs);
	records_bucket_name(start, name, sizeof(name));
	if ((rs->bfd = openat(rs->dirfd, name, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		write_failed(rs, name, 1);
		return -1;
	}
	rs->bstart = start;
	rs->bspan = span;
	if (rs->oldest == -1 || start < rs->oldest) {
		rs->oldest = start;
		purge_arm(rs);
	}
	return 0;
}

static void
bucket_append(struct records *rs, const char *p, size_t len)
{
	size_t n;

	if (bucket_open(rs, clock_now()) == -1)
		return;
	while (len > 0) {
		if (rs->blen == BUCKET_BUF)
			bucket_flush(rs);
		n = BUCKET_BUF - rs->blen;
		if (n > len)
			n = len;
		memcpy(rs->bbuf + rs->blen, p, n);
		rs->blen += n;
		p += n;
		len -= n;
	}
}

static void
open_name(uint64_t id, char *buf, size_t sz)
{
	queue_id_format(id, buf, sz);
}

static void
unlist(struct records *rs, struct qmsg *m)
{
	if (!m->rec_listed)
		return;
	TAILQ_REMOVE(&rs->unfiled, m, rec_entry);
	m->rec_listed = 0;
}

/* A message's records in memory to its open file. */
static void
spill(struct records *rs, struct qmsg *m)
{
	char	name[32];
	int	fd;

	unlist(rs, m);
	if (m->rec_len == 0)
		return;
	open_name(m->id, name, sizeof(name));
	if ((fd = openat(rs->openfd, name, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1 ||
	    write_whole(fd, m->rec, m->rec_len) == -1)
		write_failed(rs, "open/ID", 1);
	if (fd != -1)
		close(fd);
	m->rec_filed = 1;
	/* A queued message's next record may be a day away: no buffer. */
	free(m->rec);
	m->rec = NULL;
	m->rec_len = m->rec_cap = 0;
}

/* One record: to the monitors, and to the message's records. */
static void
record(struct queued *q, struct qmsg *m, struct recline *rl)
{
	struct records	*rs = q->rec;
	size_t		 cap;
	char		*p;

	rl_end(rl);
	monitors_send(q, rl->buf, rl->len);
	if (m->rec_len + rl->len > m->rec_cap) {
		cap = m->rec_cap ? m->rec_cap * 2 : 512;
		while (cap < m->rec_len + rl->len)
			cap *= 2;
		if ((p = realloc(m->rec, cap)) == NULL) {
			write_failed(rs, "memory", 1);
			return;
		}
		m->rec = p;
		m->rec_cap = cap;
	}
	memcpy(m->rec + m->rec_len, rl->buf, rl->len);
	m->rec_len += rl->len;
	if (!m->rec_listed) {
		m->rec_since = mono();
		TAILQ_INSERT_TAIL(&rs->unfiled, m, rec_entry);
		m->rec_listed = 1;
	}
	if (m->rec_len > REC_MEM_MAX)
		spill(rs, m);
}

/* "acme" or "acme,beta": the message's tenants, for its own records. */
static void
tenants_of(const struct envelope *e, char *buf, size_t sz)
{
	size_t	i, j;
	int	seen;

	buf[0] = '\0';
	for (i = 0; i < e->nrcpts; i++) {
		const char *t = e->rcpts[i].tenant[0] ? e->rcpts[i].tenant :
		    "-";

		for (seen = 0, j = 0; j < i && !seen; j++)
			seen = strcmp(e->rcpts[j].tenant, e->rcpts[i].tenant) ==
			    0;
		if (seen)
			continue;
		if (buf[0] != '\0')
			strlcat(buf, ",", sz);
		if (strlcat(buf, t, sz) >= sz)
			break;
	}
}

static void
line_rcpt(struct recline *rl, const struct qmsg *m, size_t i,
    const char *event)
{
	const struct rcpt *r = &m->env->rcpts[i];

	rl_begin(rl, m->id, clock_now(), event);
	rl_str(rl, "tenant", r->tenant[0] ? r->tenant : "-");
	rl_addr(rl, "from", m->env->sender);
	rl_addr(rl, "to", r->addr);
}

static void
line_message(struct recline *rl, const struct qmsg *m, const char *event)
{
	char tenants[REC_VALUE_MAX];

	tenants_of(m->env, tenants, sizeof(tenants));
	rl_begin(rl, m->id, clock_now(), event);
	rl_str(rl, "tenant", tenants);
	rl_addr(rl, "from", m->env->sender);
}

static void
accepted(struct queued *q, struct qmsg *m, const char *notice,
    uint64_t orig)
{
	const struct envelope	*e = m->env;
	struct recline		 rl;
	char			 ip[64], client[400], oid[32];
	size_t			 i;

	client[0] = '\0';
	if (e->client.af != 0) {
		netaddr_format(&e->client, ip, sizeof(ip));
		snprintf(client, sizeof(client), "%s[%s]", e->client_name[0] ?
		    e->client_name : "", ip);
	}
	for (i = 0; i < e->nrcpts; i++) {
		line_rcpt(&rl, m, i, "accepted");
		if (notice != NULL) {
			queue_id_format(orig, oid, sizeof(oid));
			rl_str(&rl, "notice", notice);
			rl_str(&rl, "orig", oid);
		} else {
			rl_str(&rl, "client", client);
			rl_str(&rl, "helo", e->helo);
		}
		rl_num(&rl, "size", e->size);
		rl_num(&rl, "nrcpt", e->nrcpts);
		record(q, m, &rl);
	}
}

/* smtpd's message, committed: who sent what to whom, from where. */
void
rec_accepted(struct queued *q, struct qmsg *m)
{
	accepted(q, m, NULL, 0);
}

/* Our own notice about orig: a message of its own, and orig's record. */
void
rec_notice(struct queued *q, struct qmsg *orig, struct qmsg *n,
    const char *kind)
{
	struct recline	rl;
	char		nid[32];

	accepted(q, n, kind, orig->id);
	if (orig->gone)
		return;
	queue_id_format(n->id, nid, sizeof(nid));
	line_message(&rl, orig, "notice");
	rl_str(&rl, "kind", kind);
	rl_str(&rl, "msgid", nid);
	record(q, orig, &rl);
}

static const char *
result_word(int result)
{
	return result == DR_SENT ? "sent" : result == DR_TEMPFAIL ?
	    "deferred" : "bounced";
}

/* One recipient's attempt, as deliverd reported it. */
void
rec_attempt(struct queued *q, struct qmsg *m, size_t i, int result,
    const char *dsn, const char *relay, const char *reply)
{
	struct recline rl;

	line_rcpt(&rl, m, i, result_word(result));
	rl_str(&rl, "relay", relay[0] ? relay : "none");
	rl_str(&rl, "dsn", dsn);
	rl_num(&rl, "attempt", m->env->rcpts[i].attempts + 1);
	rl_text(&rl, "reply", reply);
	record(q, m, &rl);
}

/* A recipient's fate decided here: expired, bounced by the operator. */
void
rec_rcpt(struct queued *q, struct qmsg *m, size_t i, const char *event,
    const char *dsn, const char *reason)
{
	struct recline rl;

	line_rcpt(&rl, m, i, event);
	if (dsn != NULL)
		rl_str(&rl, "dsn", dsn);
	if (reason != NULL)
		rl_text(&rl, "reason", reason);
	record(q, m, &rl);
}

/* The whole message: held, released, flushed, removed by the operator. */
void
rec_message(struct queued *q, struct qmsg *m, const char *event,
    const char *reason)
{
	struct recline rl;

	line_message(&rl, m, event);
	if (reason != NULL)
		rl_text(&rl, "reason", reason);
	record(q, m, &rl);
}

/* A file's whole content appended to the current bucket. */
static void
file_to_bucket(struct records *rs, int fd)
{
	char	buf[8192];
	ssize_t	n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		bucket_append(rs, buf, (size_t)n);
	if (n == -1)
		write_failed(rs, "a bucket (reading open/ID)", 1);
}

/* Done with: its records to the bucket of now, and its file goes. */
static void
finalize(struct records *rs, uint64_t id, const char *mem, size_t len,
    int filed)
{
	char	name[32];
	int	fd;

	open_name(id, name, sizeof(name));
	if (filed && (fd = openat(rs->openfd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) != -1) {
		file_to_bucket(rs, fd);
		close(fd);
	}
	if (len > 0)
		bucket_append(rs, mem, len);
	if (!filed)
		return;
	/* Written before unlinked: a crash between keeps both. */
	bucket_flush(rs);
	if (unlinkat(rs->openfd, name, 0) == -1 && errno != ENOENT)
		log_warn("records: open/%s", name);
}

/* The last recipient is final: the message's retention begins. */
void
rec_final(struct queued *q, struct qmsg *m)
{
	struct records	*rs = q->rec;
	struct recline	 rl;
	size_t		 i, sent = 0, bounced = 0, removed = 0;

	for (i = 0; i < m->env->nrcpts; i++) {
		sent += m->env->rcpts[i].status == RS_SENT;
		bounced += m->env->rcpts[i].status == RS_BOUNCED;
		removed += m->env->rcpts[i].status == RS_REMOVED;
	}
	line_message(&rl, m, "done");
	rl_num(&rl, "sent", sent);
	rl_num(&rl, "bounced", bounced);
	rl_num(&rl, "removed", removed);
	record(q, m, &rl);
	unlist(rs, m);
	finalize(rs, m->id, m->rec, m->rec_len, m->rec_filed);
	rec_forget(q, m);
}

/* The index entry goes: what it held in memory is no longer needed. */
void
rec_forget(struct queued *q, struct qmsg *m)
{
	unlist(q->rec, m);
	free(m->rec);
	m->rec = NULL;
	m->rec_len = m->rec_cap = 0;
}

void
records_sync(struct queued *q, struct qmsg *m, int all)
{
	struct records	*rs = q->rec;
	struct qmsg	*n;

	bucket_flush(rs);
	if (m != NULL)
		spill(rs, m);
	else if (all)
		while ((n = TAILQ_FIRST(&rs->unfiled)) != NULL)
			spill(rs, n);
}

/* Each second: what has been in memory a second goes to its file. */
static void
record_tick(int fd, short ev, void *arg)
{
	struct records	*rs = arg;
	struct qmsg	*m;
	int64_t		 now = mono();

	(void)fd;
	(void)ev;
	while ((m = TAILQ_FIRST(&rs->unfiled)) != NULL &&
	    now - m->rec_since >= SPILL_AFTER)
		spill(rs, m);
	bucket_flush(rs);
	/* A span over: its file is closed, for the purge to find it whole. */
	if (rs->bfd != -1 && clock_now() >= rs->bstart + rs->bspan)
		bucket_close(rs);
}

/* The buckets, oldest first, into *out (starts); -1 on error. */
int
records_buckets(struct queued *q, int64_t **out, size_t *n)
{
	struct records	*rs = q->rec;
	struct dirent	*de;
	DIR		*d;
	int64_t		*v = NULL, *grown, start;
	size_t		 cap = 0;
	int		 fd;

	*out = NULL;
	*n = 0;
	if ((fd = dup(rs->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if ((start = records_bucket_start(de->d_name)) == -1)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = reallocarray(v, cap,
			    sizeof(*v))) == NULL) {
				free(v);
				closedir(d);
				return -1;
			}
			v = grown;
		}
		v[(*n)++] = start;
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), int64_cmp);
	*out = v;
	return 0;
}

int
int64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* A bucket whose time has come (or whose holds have their copy). */
void
records_bucket_delete(struct queued *q, int64_t start)
{
	struct records	*rs = q->rec;
	char		 name[32];

	records_bucket_name(start, name, sizeof(name));
	if (rs->bfd != -1 && rs->bstart == start)
		bucket_close(rs);
	if (unlinkat(rs->dirfd, name, 0) == -1 && errno != ENOENT)
		log_warn("records: cannot delete %s", name);
	else
		log_info("records: %s deleted: retention.message_records is "
		    "%s", name, duration(q->conf->retention.message_records));
}

/*
 * Every bucket whose time has come is deleted, or, while a legal hold
 * is in force, first read for what the holds keep (queue_hold.c), one
 * bucket at a time, which calls us again when it is done.
 */
static void
buckets_purge(int fd, short ev, void *arg)
{
	struct records	*rs = arg;
	int64_t		*v, now = clock_now();
	uint32_t	 keep = rs->q->conf->retention.message_records;
	size_t		 n, i;

	(void)fd;
	(void)ev;
	if (rs->copy != NULL)
		return;
	rs->oldest = -1;
	if (records_buckets(rs->q, &v, &n) == -1) {
		log_warn("records: cannot read the directory");
		n = 0;
		v = NULL;
	}
	for (i = 0; i < n; i++) {
		if (v[i] + keep > now) {
			rs->oldest = v[i];
			break;
		}
		if (rs->bfd != -1 && rs->bstart == v[i])
			bucket_close(rs);
		if (rs->nholds > 0) {
			holds_copy(rs->q, v[i]);
			free(v);
			return;
		}
		records_bucket_delete(rs->q, v[i]);
	}
	free(v);
	purge_arm(rs);
}

void
records_purge(struct queued *q)
{
	buckets_purge(-1, 0, q->rec);
}

/* The next purge: when the oldest bucket's time comes, in real time. */
static void
purge_arm(struct records *rs)
{
	int64_t		left, scale = clock_scale();
	struct timeval	tv;

	evtimer_del(rs->purge_ev);
	if (rs->oldest == -1 || rs->q->conf == NULL)
		return;
	left = rs->oldest + rs->q->conf->retention.message_records -
	    clock_now();
	if (left < 0)
		left = 0;
	left = left * 1000000 / scale + 1000;
	tv.tv_sec = left / 1000000;
	tv.tv_usec = left % 1000000;
	evtimer_add(rs->purge_ev, &tv);
}

/*
 * The queue store keeps a delivered message's envelope in its freed pages
 * until they are written over: every half of the retention it is
 * compacted (queue_store.c), so that no copy outlives the records.
 */
static void
compact_arm(struct records *rs)
{
	int64_t		half = rs->q->conf->retention.message_records / 2;
	int64_t		scale = clock_scale(), us;
	struct timeval	tv;

	us = (half < 1 ? 1 : half) * 1000000 / scale;
	if (us < 100000)
		us = 100000;
	tv.tv_sec = us / 1000000;
	tv.tv_usec = us % 1000000;
	evtimer_del(rs->compact_ev);
	evtimer_add(rs->compact_ev, &tv);
}

static void
compact_due(int fd, short ev, void *arg)
{
	struct records *rs = arg;

	(void)fd;
	(void)ev;
	committer_compact(rs->q->cm);
	compact_arm(rs);
}

/* A new retention (reload): the next purge may be sooner. */
void
records_conf(struct queued *q)
{
	if (q->rec == NULL)
		return;
	purge_arm(q->rec);
	compact_arm(q->rec);
}

void
records_init(struct queued *q)
{
	struct records	*rs;
	struct timeval	 tv = { 1, 0 };

	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->bbuf = malloc(BUCKET_BUF)) == NULL)
		fatal("records");
	rs->q = q;
	rs->bfd = -1;
	rs->oldest = -1;
	TAILQ_INIT(&rs->unfiled);
	TAILQ_INIT(&rs->monitors);
	/*
	 * The parent made records/, ours; we make what is in it, before
	 * the sandbox (which allows no mkdir).
	 */
	if ((rs->dirfd = open("records", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (mkdirat(rs->dirfd, "open", 0700) == -1 &&
	    errno != EEXIST) || (mkdirat(rs->dirfd, "held", 0700) == -1 &&
	    errno != EEXIST) || (rs->openfd = openat(rs->dirfd, "open",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (rs->heldfd = openat(rs->dirfd, "held", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("records directory");
	if ((rs->tick = event_new(q->child->base, -1, EV_PERSIST, record_tick,
	    rs)) == NULL || evtimer_add(rs->tick, &tv) == -1 ||
	    (rs->purge_ev = evtimer_new(q->child->base, buckets_purge,
	    rs)) == NULL ||
	    (rs->compact_ev = evtimer_new(q->child->base, compact_due,
	    rs)) == NULL)
		fatalx("records timers");
	q->rec = rs;
}

/*
 * Start-up, the queue loaded: a message still queued may have an open
 * file; one that is not (removed at start, or done before a crash
 * between its bucket and its unlink) has its records finalized now.
 */
void
records_start(struct queued *q)
{
	struct records	*rs = q->rec;
	struct qmsg	*m;
	struct dirent	*de;
	DIR		*d;
	size_t		 orphans = 0;
	int		 fd;

	RB_FOREACH(m, qmsg_tree, &q->queue)
		m->rec_filed = 1;
	if (holds_load(q) == -1)
		fatalx("records: the legal holds (records/holds) cannot be "
		    "read; relayd stops rather than purge what they keep");
	if ((fd = dup(rs->openfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		fatal("records/open");
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!ctl_valid_id(de->d_name) ||
		    queue_find(q, ctl_id_value(de->d_name)) != NULL)
			continue;
		finalize(rs, ctl_id_value(de->d_name), NULL, 0, 1);
		orphans++;
	}
	closedir(d);
	bucket_flush(rs);
	if (orphans > 0)
		log_info("records: %zu messages no longer queued had records "
		    "in records/open; their retention begins now", orphans);
	buckets_purge(-1, 0, rs);
	compact_arm(rs);
}

void
records_shutdown(struct queued *q)
{
	if (q->rec == NULL)
		return;
	if (q->conf != NULL)
		records_sync(q, NULL, 1);
	bucket_close(q->rec);
}
