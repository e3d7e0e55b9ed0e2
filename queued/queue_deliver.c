/*
 * queue_deliver: queued's side of the delivery protocol (msg_deliver.h).
 *
 * At most a window of jobs is out at deliverd, each holding a spool
 * descriptor; the rest waits in the schedule.  Results come back per
 * recipient and are applied when the job is over.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_deliver.h"
#include "queue_stats.h"
#include "queued.h"

/* Per recipient of a job: the result until the job is done. */
struct jres {
	uint8_t		 result;
	uint8_t		 dsn_passed;
	char		 dsn[16];
	char		*diag;
	char		*relay;
};

struct djob_res {
	struct djob	 job;
	struct jres	*res;
};

int
djob_cmp(struct djob *a, struct djob *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(djob_tree, djob, entry, djob_cmp)

struct qdest *
qdest_get(struct queued *q, const char *key)
{
	struct qdest find, *d;

	strlcpy(find.key, key, sizeof(find.key));
	if ((d = RB_FIND(qdest_tree, &q->dests, &find)) != NULL)
		return d;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("destination");
	strlcpy(d->key, key, sizeof(d->key));
	RB_INSERT(qdest_tree, &q->dests, d);
	return d;
}

static void
send_job(struct queued *q, struct djob *dj, int fd,
    const struct hostport *hosts, size_t nhosts)
{
	const struct envelope	*e = dj->m->env;
	const struct rcpt	*first = &e->rcpts[dj->idx[0]];
	struct mw		 w;
	size_t			 i;

	mw_init(&w);
	mw_u64(&w, e->id);
	if (fault_error("queued-job-crlf-sender")) {
		/* deliverd must refuse the whole job (faults.h). */
		char bad[600];

		snprintf(bad, sizeof(bad), "%s\r\nRSET", e->sender);
		mw_str(&w, bad);
	} else
		mw_str(&w, e->sender);
	mw_u64(&w, e->size);
	mw_i64(&w, e->created);
	mw_u8(&w, e->body);
	mw_u8(&w, e->smtputf8);
	mw_u8(&w, e->ret);
	mw_str(&w, e->envid);
	mw_u32(&w, e->flags);
	mw_u8(&w, first->route);
	mw_str(&w, first->tenant);
	mw_str(&w, first->domain);
	mw_str(&w, dj->dest->key);
	if (nhosts > ROUTE_HOSTS_MAX)
		nhosts = ROUTE_HOSTS_MAX;
	mw_u32(&w, (uint32_t)nhosts);
	for (i = 0; i < nhosts; i++) {
		mw_str(&w, hosts[i].host);
		mw_u32(&w, hosts[i].port);
	}
	child_send(q->child, PROC_DELIVERD, M_D_JOB, dj->id, fd, w.buf, w.len);
	mw_init(&w);
	for (i = 0; i < dj->n; i++) {
		const struct rcpt *r = &e->rcpts[dj->idx[i]];

		if (!mw_fits_str(&w, rcpt_wire_size(r))) {
			child_send(q->child, PROC_DELIVERD, M_D_JOB_RCPTS,
			    dj->id, -1, w.buf, w.len);
			mw_init(&w);
		}
		mw_u32(&w, dj->idx[i]);
		if (i == 0 && fault_error("queued-job-crlf")) {
			/* deliverd must refuse it (faults.h). */
			char bad[600];

			snprintf(bad, sizeof(bad), "%s\r\nRSET", r->addr);
			mw_str(&w, bad);
		} else
			mw_str(&w, r->addr);
		mw_str(&w, r->orcpt);
		mw_u8(&w, r->notify);
	}
	child_send(q->child, PROC_DELIVERD, M_D_JOB_RCPTS, dj->id, -1, w.buf,
	    w.len);
	child_send(q->child, PROC_DELIVERD, M_D_JOB_GO, dj->id, -1, NULL, 0);
}

/* The job cannot go now: its recipients wait, and say why. */
static void
defer_unsent(struct queued *q, struct qmsg *m, uint32_t *idx, size_t n,
    const char *why)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct rcpt *r = &m->env->rcpts[idx[i]];

		rec_rcpt(q, m, idx[i], "deferred", NULL, why);
		free(r->last_error);
		r->last_error = strdup(why);
		r->attempts++;
		r->next_attempt = time(NULL) + q->conf->queue.retry_max;
	}
	sched_persist(q, m);
}

/* A recipient's first attempt: how long after its message's 250. */
static void
count_first(struct queued *q, struct qmsg *m, uint32_t i)
{
	const struct rcpt	*r = &m->env->rcpts[i];
	int64_t			 d = time(NULL) - m->env->created;

	if (r->attempts == 0 && !(m->env->flags & ENVF_BOUNCE))
		stats_count(q, r->tenant, stat_first_bucket(d), 1);
}

void
deliver_send(struct queued *q, struct qmsg *m, const char *key,
    uint32_t *idx, size_t n)
{
	const struct rcpt	*first = &m->env->rcpts[idx[0]];
	const struct hostport	*hosts = NULL;
	struct djob_res		*dr;
	struct djob		*dj;
	char			 name[32];
	size_t			 i, nhosts = 0;
	int			 fd;

	queue_id_format(m->id, name, sizeof(name));
	if (first->route == ROUTE_TENANT && (hosts = route_hosts(q,
	    first->tenant, &nhosts)) == NULL) {
		log_warnx("msgid=%s tenant=%s: the tenant is not configured "
		    "and its route is unknown", name, first->tenant);
		defer_unsent(q, m, idx, n, "4.3.5 the tenant is not "
		    "configured");
		return;
	}
	if ((fd = openat(q->spool_fd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("msgid=%s: the spool file cannot be opened", name);
		defer_unsent(q, m, idx, n, "4.3.0 the spool file is missing");
		return;
	}
	if ((dr = calloc(1, sizeof(*dr))) == NULL ||
	    (dr->res = calloc(n, sizeof(*dr->res))) == NULL ||
	    (dr->job.idx = calloc(n, sizeof(*idx))) == NULL)
		fatal("delivery job");
	dj = &dr->job;
	dj->id = ++q->next_job;
	dj->m = m;
	dj->n = n;
	memcpy(dj->idx, idx, n * sizeof(*idx));
	dj->dest = qdest_get(q, key);
	dj->dest->inflight++;
	for (i = 0; i < n; i++) {
		m->busy[idx[i]] |= BUSY_JOB;
		count_first(q, m, idx[i]);
	}
	m->njobs++;
	q->njobs++;
	RB_INSERT(djob_tree, &q->jobs, dj);
	send_job(q, dj, fd, hosts, nhosts);
}

static struct djob_res *
job_find(struct queued *q, uint64_t id)
{
	struct djob find;

	find.id = id;
	return (struct djob_res *)RB_FIND(djob_tree, &q->jobs, &find);
}

static void
on_results(struct queued *q, struct imsg *imsg)
{
	struct djob_res	*dr = job_find(q, imsg->hdr.peerid);
	struct mr	 r;
	struct jres	*jr;
	uint32_t	 idx;
	size_t		 i;

	if (dr == NULL)
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "results");
	mr_init(&r, imsg->data, imsg->datalen);
	while (r.off < r.len && !r.err) {
		idx = mr_u32(&r);
		for (i = 0; i < dr->job.n && dr->job.idx[i] != idx; i++)
			;
		if (i == dr->job.n)
			child_peer_broken(q->child, PROC_DELIVERD, imsg,
			    "result for a recipient not in the job");
		jr = &dr->res[i];
		jr->result = mr_u8(&r);
		mr_str(&r, jr->dsn, sizeof(jr->dsn));
		free(jr->diag);
		free(jr->relay);
		jr->diag = mr_strdup(&r);
		jr->relay = mr_strdup(&r);
		jr->dsn_passed = mr_u8(&r);
		if (jr->result < DR_SENT || jr->result > DR_PERMFAIL)
			r.err = 1;
	}
	if (mr_end(&r) == -1)
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "results");
}

/* "host[addr]:port" becomes "host" for Remote-MTA. */
static void
remote_host(const char *relay, char *buf, size_t sz)
{
	size_t n = strcspn(relay, "[");

	if (n >= sz)
		n = sz - 1;
	memcpy(buf, relay, n);
	buf[n] = '\0';
}

static void
on_done(struct queued *q, struct imsg *imsg)
{
	struct djob_res	*dr = job_find(q, imsg->hdr.peerid);
	struct djob	*dj;
	struct qmsg	*m;
	struct dsn_item	*fails = NULL, *relayed = NULL;
	size_t		 nfails = 0, nrelayed = 0, i;
	struct mr	 r;
	char		 err[256], host[256], tenant[TENANT_MAX + 1];
	char		 refused[TSTATE_ERR_MAX] = "";
	uint8_t		 state;
	int		 any_sent = 0, inbound;

	if (dr == NULL)
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "done");
	mr_init(&r, imsg->data, imsg->datalen);
	state = mr_u8(&r);
	mr_str(&r, err, sizeof(err));
	if (mr_end(&r) == -1)
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "done");
	dj = &dr->job;
	m = dj->m;
	inbound = m->env->rcpts[dj->idx[0]].route == ROUTE_TENANT;
	strlcpy(tenant, m->env->rcpts[dj->idx[0]].tenant, sizeof(tenant));
	RB_REMOVE(djob_tree, &q->jobs, dj);
	m->njobs--;
	q->njobs--;
	dj->dest->inflight--;
	for (i = 0; i < dj->n; i++) {
		struct jres *jr = &dr->res[i];

		m->busy[dj->idx[i]] &= ~BUSY_JOB;
		if (jr->result == 0) {
			jr->result = DR_TEMPFAIL;
			strlcpy(jr->dsn, "4.0.0", sizeof(jr->dsn));
		}
		remote_host(jr->relay ? jr->relay : "", host, sizeof(host));
		any_sent |= jr->result == DR_SENT;
		/* A server refused it: not a deferral of our own making. */
		if (jr->result == DR_TEMPFAIL && refused[0] == '\0' &&
		    jr->relay != NULL && jr->relay[0] != '\0')
			strlcpy(refused, jr->diag && jr->diag[0] ? jr->diag :
			    jr->dsn, sizeof(refused));
		if (m->env->rcpts[dj->idx[i]].status == RS_PENDING)
			rec_attempt(q, m, dj->idx[i], jr->result, jr->dsn,
			    jr->relay ? jr->relay : "", jr->diag ? jr->diag :
			    "");
		sched_result(q, m, dj->idx[i], jr->result, jr->dsn,
		    jr->diag ? jr->diag : "", host, jr->dsn_passed, &fails,
		    &nfails, &relayed, &nrelayed);
		free(jr->diag);
		free(jr->relay);
	}
	if (state == DEST_DOWN && !dj->dest->down) {
		dj->dest->down = 1;
		dj->dest->down_since = time(NULL);
		probe_dest_down(q, dj->dest);
		log_info("destination %s is down: %s", dj->dest->key,
		    err[0] ? err : "no connection");
	}
	if (any_sent) {
		stats_count(q, tenant, inbound ? ST_INBOUND_SENT_MSGS :
		    ST_OUTBOUND_SENT_MSGS, 1);
		stats_count(q, tenant, inbound ? ST_INBOUND_SENT_OCTETS :
		    ST_OUTBOUND_SENT_OCTETS, m->env->size);
	}
	sched_job_done(q, m, fails, nfails, relayed, nrelayed);
	if (inbound)
		tenant_delivered(q, tenant, any_sent ? TO_ACCEPTED :
		    state == DEST_DOWN || refused[0] != '\0' ? TO_FAILED :
		    TO_NONE, state == DEST_DOWN && err[0] ? err : refused);
	if (any_sent && dj->dest->down) {
		dj->dest->down = 0;
		sched_dest_up(q, dj->dest->key);
	}
	/* A destination with nothing out and nothing wrong is forgotten. */
	if (dj->dest->inflight == 0 && !dj->dest->down &&
	    dj->dest->probe_id == 0) {
		RB_REMOVE(qdest_tree, &q->dests, dj->dest);
		free(dj->dest);
	}
	free(dj->idx);
	free(dr->res);
	free(dr);
	queue_release(q, m);
}

/*
 * MTA-STS policies: deliverd's to keep (msg_deliver.h).  The value is
 * (i64 expires, data policy), opaque to us but for its expiry.
 */
static void
sts_job(struct queued *q, const char *domain, const void *val, size_t len)
{
	struct task *j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->name = strdup(domain)) == NULL ||
	    (val != NULL && (j->blob = malloc(len)) == NULL))
		fatal("MTA-STS policy");
	j->kind = TASK_STS;
	j->fd = -1;
	if (val != NULL)
		memcpy(j->blob, val, len);
	j->bloblen = len;
	committer_submit(q->cm, j);
}

static void
sts_send(void *arg, const char *domain, const void *val, size_t len)
{
	struct queued	*q = arg;
	struct mr	 r;
	struct mw	 w;
	const void	*blob;
	size_t		 blen;
	int64_t		 expires;

	mr_init(&r, val, len);
	expires = mr_i64(&r);
	if ((blob = mr_data(&r, &blen)) == NULL || mr_end(&r) == -1 ||
	    expires <= (int64_t)time(NULL)) {
		sts_job(q, domain, NULL, 0);	/* expired or unreadable */
		return;
	}
	mw_init(&w);
	mw_str(&w, domain);
	mw_i64(&w, expires);
	mw_data(&w, blob, blen);
	if (!w.err)
		child_send(q->child, PROC_DELIVERD, M_D_STS_POLICY, 0, -1,
		    w.buf, w.len);
}

/* At start: deliverd gets back what it stored; the expired go. */
void
deliver_sts_load(struct queued *q)
{
	int n;

	if ((n = store_sts_load(q->store, sts_send, q)) == -1)
		log_warnx("MTA-STS: the stored policies cannot be read");
	else if (n > 0)
		log_info("MTA-STS: %d stored polic%s", n, n == 1 ? "y" :
		    "ies");
}

static void
on_sts_save(struct queued *q, struct imsg *imsg)
{
	struct mr	 r;
	struct mw	 w;
	const void	*blob;
	size_t		 blen;
	int64_t		 expires;
	char		 domain[256];

	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, domain, sizeof(domain));
	expires = mr_i64(&r);
	if ((blob = mr_data(&r, &blen)) == NULL || mr_end(&r) == -1 ||
	    domain[0] == '\0' || blen > STS_BLOB_MAX)
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "policy");
	mw_init_grow(&w);
	mw_i64(&w, expires);
	mw_data(&w, blob, blen);
	if (w.err)
		fatalx("MTA-STS policy encoding");
	sts_job(q, domain, w.buf, w.len);
	mw_release(&w);
}

void
deliver_dispatch(struct queued *q, struct imsg *imsg)
{
	if (imsg_has_fd(imsg))
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "descriptor");
	switch (imsg->hdr.type) {
	case M_D_RESULTS:
		on_results(q, imsg);
		return;
	case M_D_DONE:
		on_done(q, imsg);
		return;
	case M_D_STS_SAVE:
		on_sts_save(q, imsg);
		return;
	case M_D_PROBE_DONE:
		probe_done(q, imsg);
		return;
	}
	child_peer_broken(q->child, PROC_DELIVERD, imsg, "unknown type");
}
