/*
 * queue_trace: relayctl trace, monitor and hold-records: the record
 * store as operators read it (queue_record.c).
 *
 * trace ID|ADDRESS reads, in this order, what the legal holds kept
 * (records/held/N), the buckets oldest first, and the open files of the
 * messages still queued, and answers each record of the message, or
 * each naming the address as sender or recipient (case aside), as a
 * listing (ctl_stream.h) that reads at most TRACE_STEP octets per part,
 * so that the event loop is never held long.  For an id, the buckets
 * before the message's arrival are skipped (its id begins with that
 * second), a message still queued is read from its open file alone,
 * and the search ends with the bucket that holds its records (they were
 * appended there together).  What is in memory goes to the files first.
 *
 * monitor is a feed (ctl_stream.h): each record as it is written, until
 * relayctl goes; one that does not read loses lines and is told how
 * many, and queued never waits for it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "control_req.h"
#include "ctl_stream.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "queued.h"

#define TRACE_STEP	(1024 * 1024)	/* octets read per part, at most */
#define SPAN_MAX	3600		/* the longest bucket span */
#define HOLDS_MAX	64

enum src_kind {
	SRC_HELD,
	SRC_BUCKET,
	SRC_OPEN
};

struct src {
	enum src_kind	 kind;
	uint64_t	 key;		/* hold, bucket start, queue id */
};

struct trace {
	struct queued		*q;
	int			 json;
	uint64_t		 id;
	int			 by_id;
	char			 what[CTL_ARG_MAX];
	struct src		*srcs;
	size_t			 n, cur, cap;
	int			 fd;
	int			 in_group;	/* by id: its lines are read */
	int			 done;		/* by id: and have ended */
	uint64_t		 shown;
	struct linereader	 lr;
	struct recview		 v;
	char			 out[CTL_TEXT_MAX];
};

static void
ctl_fail(struct queued *q, uint64_t req, const char *why)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, 0);
	mw_str(&w, why);
	child_send(q->child, PROC_PARENT, M_CTL_DONE, req, -1, w.buf, w.len);
}

static void
ctl_ok(struct queued *q, uint64_t req, const char *line)
{
	struct mw w;

	if (line != NULL) {
		mw_init(&w);
		mw_str(&w, line);
		child_send(q->child, PROC_PARENT, M_CTL_LINE, req, -1, w.buf,
		    w.len);
	}
	mw_init(&w);
	mw_u8(&w, 1);
	mw_str(&w, "");
	child_send(q->child, PROC_PARENT, M_CTL_DONE, req, -1, w.buf, w.len);
}

static int
src_add(struct trace *t, enum src_kind kind, uint64_t key)
{
	struct src *s;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		if ((s = reallocarray(t->srcs, t->cap, sizeof(*s))) == NULL)
			return -1;
		t->srcs = s;
	}
	t->srcs[t->n].kind = kind;
	t->srcs[t->n++].key = key;
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct src *)a)->key;
	uint64_t y = ((const struct src *)b)->key;

	return x < y ? -1 : x > y;
}

/* Every open file, by id: an address may be in any queued message. */
static int
add_open_files(struct trace *t)
{
	struct records	*rs = t->q->rec;
	struct dirent	*de;
	DIR		*d;
	size_t		 first = t->n;
	int		 fd, rv = 0;

	if ((fd = dup(rs->openfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL && rv == 0)
		if (ctl_valid_id(de->d_name))
			rv = src_add(t, SRC_OPEN, ctl_id_value(de->d_name));
	closedir(d);
	if (t->n > first)
		qsort(t->srcs + first, t->n - first, sizeof(*t->srcs),
		    id_cmp);
	return rv;
}

/* Where to look, in the order records were made. */
static int
plan(struct trace *t)
{
	struct records	*rs = t->q->rec;
	struct qmsg	*m = NULL;
	int64_t		*b;
	size_t		 nb, i;
	int64_t		 arrival = (int64_t)(t->id >> 32);

	for (i = 0; i < rs->nholds; i++)
		if (src_add(t, SRC_HELD, rs->holds[i].n) == -1)
			return -1;
	if (t->by_id && (m = queue_find(t->q, t->id)) != NULL) {
		/* Still queued: its records are in its open file alone. */
		records_sync(t->q, m, 1);
		return src_add(t, SRC_OPEN, t->id);
	}
	if (t->by_id)
		records_sync(t->q, NULL, 0);
	else
		records_sync(t->q, NULL, 1);
	if (records_buckets(t->q, &b, &nb) == -1)
		return -1;
	for (i = 0; i < nb; i++) {
		/* Done before it came: not there (clock >= real time). */
		if (t->by_id && b[i] + SPAN_MAX < arrival)
			continue;
		if (src_add(t, SRC_BUCKET, (uint64_t)b[i]) == -1) {
			free(b);
			return -1;
		}
	}
	free(b);
	return t->by_id ? 0 : add_open_files(t);
}

static int
src_open(struct trace *t, const struct src *s)
{
	struct records	*rs = t->q->rec;
	char		 name[32];

	switch (s->kind) {
	case SRC_HELD:
		snprintf(name, sizeof(name), "%u", (unsigned)s->key);
		return openat(rs->heldfd, name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	case SRC_BUCKET:
		records_bucket_name((int64_t)s->key, name, sizeof(name));
		return openat(rs->dirfd, name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	case SRC_OPEN:
		queue_id_format(s->key, name, sizeof(name));
		return openat(rs->openfd, name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	}
	return -1;
}

static void
src_close(struct trace *t)
{
	if (t->fd != -1)
		close(t->fd);
	t->fd = -1;
	t->cur++;
}

/* Is the line one of the message's, or one naming the address? */
static int
wanted(struct trace *t, const char *line, size_t len)
{
	char id[32];

	if (t->by_id) {
		queue_id_format(t->id, id, sizeof(id));
		return len > 17 && memcmp(line, id, 16) == 0 &&
		    line[16] == ' ';
	}
	return rl_parse(line, len, &t->v) == 0 && rv_names(&t->v, t->what);
}

/* The line as relayctl shows it: as it is, or as JSON. */
static const char *
shown(struct trace *t, const char *line, size_t len)
{
	if (!t->json) {
		if (len >= sizeof(t->out))
			len = sizeof(t->out) - 1;
		memcpy(t->out, line, len);
		t->out[len] = '\0';
		return t->out;
	}
	if ((t->by_id && rl_parse(line, len, &t->v) == -1) ||
	    rl_json(&t->v, t->out, sizeof(t->out)) == -1)
		return NULL;
	return t->out;
}

static int
trace_fill(struct ctl_stream *s, void *arg, uint64_t *cursor)
{
	struct trace	*t = arg;
	const char	*line, *text;
	size_t		 len;
	uint64_t	 budget = 0;
	int		 r, match;

	(void)cursor;
	t->lr.nread = 0;
	for (;;) {
		if (t->fd == -1) {
			if (t->cur == t->n || t->done)
				break;
			if ((t->fd = src_open(t, &t->srcs[t->cur])) == -1) {
				t->cur++;	/* gone meanwhile (a purge) */
				continue;
			}
			lr_init(&t->lr, t->fd);
			t->in_group = 0;
		}
		if ((r = lr_peek(&t->lr, &line, &len)) != 1) {
			if (r == -1)
				log_warn("trace: reading the records");
			if (t->in_group && t->srcs[t->cur].kind == SRC_BUCKET)
				t->done = 1;
			budget += t->lr.nread;
			src_close(t);
			continue;
		}
		match = wanted(t, line, len);
		if (t->by_id && t->srcs[t->cur].kind == SRC_BUCKET) {
			if (match)
				t->in_group = 1;
			else if (t->in_group) {
				t->done = 1;
				src_close(t);
				continue;
			}
		}
		if (match && (text = shown(t, line, len)) != NULL) {
			if (ctl_stream_line(s, text) == -1)
				return 1;	/* the same line, next part */
			t->shown++;
		}
		lr_take(&t->lr);
		/* Enough read for one turn: the next part goes on. */
		if (budget + t->lr.nread >= TRACE_STEP)
			return 1;
	}
	if (t->shown == 0) {
		snprintf(t->out, sizeof(t->out), "no records of %s", t->what);
		ctl_stream_error(s, t->out);
		return -1;
	}
	return 0;
}

static void
trace_free(void *arg)
{
	struct trace *t = arg;

	if (t->fd != -1)
		close(t->fd);
	free(t->srcs);
	free(t);
}

void
records_trace(struct queued *q, struct imsg *imsg, const struct ctl_req *req)
{
	struct trace *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		ctl_fail(q, imsg->hdr.peerid, "out of memory");
		return;
	}
	t->q = q;
	t->fd = -1;
	t->json = (req->flags & CTL_F_JSON) != 0;
	strlcpy(t->what, req->args[0], sizeof(t->what));
	if (ctl_valid_id(req->args[0])) {
		t->by_id = 1;
		t->id = ctl_id_value(req->args[0]);
	}
	if (plan(t) == -1) {
		log_warn("trace: the record store cannot be read");
		t->n = 0;
	}
	ctl_stream_open(q->child, imsg, "trace", NULL, trace_fill,
	    trace_free, t);
}

/* Monitors: each record, as it is written. */

static void
monitor_lost(void *arg, uint64_t n, char *buf, size_t sz)
{
	struct monitor *mo = arg;

	if (mo->json)
		snprintf(buf, sz, "{\"lost\":%llu}", (unsigned long long)n);
	else
		snprintf(buf, sz, "monitor: %llu records lost: relayctl was "
		    "not reading", (unsigned long long)n);
}

static void
monitor_gone(void *arg)
{
	struct monitor	*mo = arg;
	struct records	*rs = mo->q->rec;

	TAILQ_REMOVE(&rs->monitors, mo, entry);
	rs->nmonitors--;
	free(mo);
}

void
records_monitor(struct queued *q, struct imsg *imsg,
    const struct ctl_req *req)
{
	struct records	*rs = q->rec;
	struct monitor	*mo;

	if ((mo = calloc(1, sizeof(*mo))) == NULL) {
		ctl_fail(q, imsg->hdr.peerid, "out of memory");
		return;
	}
	mo->q = q;
	mo->json = (req->flags & CTL_F_JSON) != 0;
	TAILQ_INSERT_TAIL(&rs->monitors, mo, entry);
	rs->nmonitors++;
	if ((mo->s = ctl_feed_open(q->child, imsg, "monitor", monitor_lost,
	    monitor_gone, mo)) == NULL)
		return;		/* refused, and gone */
	log_info("monitor: request %llu follows the records",
	    (unsigned long long)imsg->hdr.peerid);
}

void
monitors_send(struct queued *q, const char *line, size_t len)
{
	struct records	*rs = q->rec;
	struct monitor	*mo;
	struct recview	*v = NULL;
	char		 text[CTL_TEXT_MAX];
	const char	*out;

	if (TAILQ_EMPTY(&rs->monitors))
		return;
	while (len > 0 && line[len - 1] == '\n')
		len--;
	TAILQ_FOREACH(mo, &rs->monitors, entry) {
		if (mo->s == NULL)
			continue;
		if (!mo->json) {
			snprintf(text, sizeof(text), "%.*s", (int)len, line);
			out = text;
		} else {
			if (v == NULL && ((v = malloc(sizeof(*v))) == NULL ||
			    rl_parse(line, len, v) == -1))
				break;
			if (rl_json(v, text, sizeof(text)) == -1)
				continue;
			out = text;
		}
		ctl_feed_line(mo->s, out);
	}
	free(v);
}

/* hold-records: the holds, a new one, or one released. */

static struct hold *
hold_find(struct records *rs, int address, const char *what)
{
	size_t i;

	for (i = 0; i < rs->nholds; i++)
		if (rs->holds[i].address == address &&
		    (address ? strcasecmp(rs->holds[i].what, what) :
		    strcmp(rs->holds[i].what, what)) == 0)
			return &rs->holds[i];
	return NULL;
}

static void
hold_describe(const struct hold *h, struct records *rs, int json, char *buf,
    size_t sz)
{
	char		 since[32], name[16], what[REC_VALUE_MAX * 6 + 3];
	struct stat	 st;
	time_t		 t = (time_t)h->since;
	struct tm	 tm;
	long long	 kept = 0;

	gmtime_r(&t, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(name, sizeof(name), "%u", h->n);
	if (fstatat(rs->heldfd, name, &st, 0) == 0)
		kept = (long long)st.st_size;
	/* A quoted local part may hold quotes and backslashes. */
	if (json && rl_json_str(h->what, what, sizeof(what)) == -1)
		strlcpy(what, "\"\"", sizeof(what));
	if (json)
		snprintf(buf, sz, "{\"hold\":%u,\"%s\":%s,\"since\":"
		    "\"%s\",\"kept\":%lld}", h->n, h->address ? "address" :
		    "tenant", what, since, kept);
	else
		snprintf(buf, sz, "%u %s %s since %s, %lld octets kept", h->n,
		    h->address ? "address" : "tenant", h->what, since, kept);
}

static void
holds_list(struct queued *q, uint64_t req, int json)
{
	struct records	*rs = q->rec;
	struct mw	 w;
	char		 line[CTL_TEXT_MAX];
	size_t		 i;

	if (!json && rs->nholds > 0) {
		mw_init(&w);
		mw_str(&w, "HOLD WHAT NAME SINCE KEPT");
		child_send(q->child, PROC_PARENT, M_CTL_LINE, req, -1, w.buf,
		    w.len);
	}
	/* A few at most: no listing in parts needed. */
	for (i = 0; i < rs->nholds; i++) {
		hold_describe(&rs->holds[i], rs, json, line, sizeof(line));
		mw_init(&w);
		mw_str(&w, line);
		child_send(q->child, PROC_PARENT, M_CTL_LINE, req, -1, w.buf,
		    w.len);
	}
	ctl_ok(q, req, NULL);
}

static void
hold_place(struct queued *q, uint64_t req, int address, const char *what)
{
	struct records	*rs = q->rec;
	struct hold	*h, *grown;
	char		 line[CTL_TEXT_MAX];
	uint32_t	 n = 1;
	size_t		 i;

	if ((h = hold_find(rs, address, what)) != NULL) {
		snprintf(line, sizeof(line), "%s %s is held already (hold "
		    "%u)", address ? "address" : "tenant", what, h->n);
		ctl_ok(q, req, line);
		return;
	}
	if (rs->nholds >= HOLDS_MAX) {
		ctl_fail(q, req, "too many legal holds");
		return;
	}
	for (i = 0; i < rs->nholds; i++)
		if (rs->holds[i].n >= n)
			n = rs->holds[i].n + 1;
	if ((grown = reallocarray(rs->holds, rs->nholds + 1,
	    sizeof(*rs->holds))) == NULL) {
		ctl_fail(q, req, "out of memory");
		return;
	}
	rs->holds = grown;
	h = &rs->holds[rs->nholds++];
	memset(h, 0, sizeof(*h));
	h->n = n;
	h->address = address;
	strlcpy(h->what, what, sizeof(h->what));
	h->since = clock_now();
	if (holds_save(q) == -1) {
		rs->nholds--;
		log_warn("records: legal hold on %s %s not placed: "
		    "records/holds", address ? "address" : "tenant", what);
		ctl_fail(q, req, "records/holds cannot be written");
		return;
	}
	log_info("records: legal hold %u placed on %s %s: its records are "
	    "kept past retention.message_records until it is released", n,
	    address ? "address" : "tenant", what);
	snprintf(line, sizeof(line), "hold %u placed on %s %s", n,
	    address ? "address" : "tenant", what);
	ctl_ok(q, req, line);
}

static void
hold_release(struct queued *q, uint64_t req, int address, const char *what)
{
	struct records	*rs = q->rec;
	struct hold	*h, gone;
	char		 line[CTL_TEXT_MAX], name[16];
	size_t		 i;

	if ((h = hold_find(rs, address, what)) == NULL) {
		snprintf(line, sizeof(line), "no legal hold on %s %s",
		    address ? "address" : "tenant", what);
		ctl_fail(q, req, line);
		return;
	}
	gone = *h;
	i = (size_t)(h - rs->holds);
	memmove(h, h + 1, (rs->nholds - i - 1) * sizeof(*h));
	rs->nholds--;
	if (holds_save(q) == -1) {
		memmove(rs->holds + i + 1, rs->holds + i, (rs->nholds - i) *
		    sizeof(*h));
		rs->holds[i] = gone;
		rs->nholds++;
		log_warn("records: legal hold %u not released: records/holds",
		    gone.n);
		ctl_fail(q, req, "records/holds cannot be written");
		return;
	}
	holds_copy_forget(q, gone.n);
	snprintf(name, sizeof(name), "%u", gone.n);
	if (unlinkat(rs->heldfd, name, 0) == -1 && errno != ENOENT)
		log_warn("records: held/%s", name);
	log_info("records: legal hold %u on %s %s released: what it kept "
	    "is deleted", gone.n, address ? "address" : "tenant", what);
	snprintf(line, sizeof(line), "hold %u on %s %s released", gone.n,
	    address ? "address" : "tenant", what);
	ctl_ok(q, req, line);
	/* What it alone kept back may be due now. */
	records_purge(q);
}

void
records_hold(struct queued *q, struct imsg *imsg, const struct ctl_req *req)
{
	uint64_t	 id = imsg->hdr.peerid;
	const char	*what = req->args[0];
	int		 address;

	if (req->nargs == 0) {
		holds_list(q, id, (req->flags & CTL_F_JSON) != 0);
		return;
	}
	address = strchr(what, '@') != NULL;
	if (req->flags & CTL_F_RELEASE)
		hold_release(q, id, address, what);
	else
		hold_place(q, id, address, what);
}
