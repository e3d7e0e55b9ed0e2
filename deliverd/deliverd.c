/*
 * deliverd: process set-up, jobs from queued, and results back;
 * policyd's callouts (mta_callout.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "deliverd.h"
#include "dns_client.h"
#include "fdneed.h"
#include "log.h"
#include "metrics.h"
#include "marshal.h"
#include "msg_deliver.h"

static struct deliverd deliverd;
struct deliverd *deliverd_env = &deliverd;

void
job_free(struct deliverd *d, struct job *job)
{
	size_t i;

	if (job->fd != -1)
		close(job->fd);
	d->njobs--;
	for (i = 0; i < job->nrcpts; i++) {
		free(job->rcpts[i].addr);
		free(job->rcpts[i].orcpt);
		free(job->rcpts[i].diag);
	}
	free(job->rcpts);
	free(job->sender);
	free(job->domain);
	free(job);
}

void
job_fail_all(struct job *job, int result, const char *dsn, const char *fmt,
    ...)
{
	char	diag[512];
	va_list	ap;
	size_t	i;

	va_start(ap, fmt);
	vsnprintf(diag, sizeof(diag), fmt, ap);
	va_end(ap);
	for (i = 0; i < job->nrcpts; i++) {
		struct jrcpt *r = &job->rcpts[i];

		if (r->result != 0)
			continue;
		r->result = (uint8_t)result;
		strlcpy(r->dsn, dsn, sizeof(r->dsn));
		free(r->diag);
		r->diag = strdup(diag);
	}
}

/*
 * Connections the descriptor limit leaves room for: each holds a socket
 * and, during BDAT, a copy of its job's file, beside the files of every
 * job we hold.  Always one, so that held jobs move.
 */
unsigned
deliverd_max_sessions(const struct deliverd *d)
{
	size_t	 avail, n;
	unsigned max = d->conf->queue.max_connections;

	avail = d->fd_limit > FD_MARGIN ? d->fd_limit - FD_MARGIN : 0;
	n = avail > d->njobs ? (avail - d->njobs) / 2 : 0;
	if (n == 0)
		return 1;
	return n < max ? (unsigned)n : max;
}

static const char *
status_word(int result)
{
	return result == DR_SENT ? "sent" : result == DR_TEMPFAIL ?
	    "deferred" : "bounced";
}

/* One log line per recipient and attempt, as operators grep them. */
static void
log_result(struct deliverd *d, const struct job *job, const struct jrcpt *r)
{
	double	delay = difftime(time(NULL), (time_t)job->created);
	char	from[600], to[600];
	int	on = d->conf->log.addresses;

	log_info("msgid=%016llx tenant=%s%s%s relay=%s delay=%.0fs dsn=%s "
	    "status=%s (%s) tls=%s verified=%s",
	    (unsigned long long)job->msgid, job->tenant[0] ? job->tenant : "-",
	    log_addr(from, sizeof(from), on, "from", job->sender),
	    log_addr(to, sizeof(to), on, "to", r->addr),
	    job->relay[0] ? job->relay : "none",
	    delay < 0 ? 0 : delay, r->dsn, status_word(r->result),
	    r->diag ? r->diag : "", job->tls[0] ? job->tls : "none",
	    job->verified ? job->verified : "none");
	if (r->result == DR_SENT)
		d->delivered++;
	else if (r->result == DR_TEMPFAIL)
		d->deferred++;
	else
		d->bounced++;
}

/* One recipient's result, ahead of the rest of its job. */
static void
report_one(struct deliverd *d, struct job *job, struct jrcpt *r)
{
	struct mw w;

	log_result(d, job, r);
	mw_init(&w);
	mw_u32(&w, r->idx);
	mw_u8(&w, r->result);
	mw_str(&w, r->dsn);
	mw_str(&w, r->diag ? r->diag : "");
	mw_str(&w, job->relay);
	mw_u8(&w, (uint8_t)job->dsn_passed);
	child_send(d->child, PROC_QUEUED, M_D_RESULTS, job->id, -1, w.buf,
	    w.len);
}

/* A probe is over: could the route's servers be reached? */
static void
probe_finish(struct deliverd *d, struct job *job, int dest_state,
    const char *error)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)dest_state);
	mw_str(&w, job->relay);
	mw_str(&w, error ? error : "");
	child_send(d->child, PROC_QUEUED, M_D_PROBE_DONE, job->id, -1, w.buf,
	    w.len);
	job_free(d, job);
}

/* Tell queued what became of each recipient; the job is over. */
void
job_finish(struct deliverd *d, struct job *job, int dest_state,
    const char *error)
{
	struct mw	w;
	size_t		i;

	if (job->probe) {
		probe_finish(d, job, dest_state, error);
		return;
	}
	mw_init(&w);
	for (i = 0; i < job->nrcpts; i++) {
		struct jrcpt *r = &job->rcpts[i];
		size_t need = 64 + strlen(r->dsn) + (r->diag ?
		    strlen(r->diag) : 0) + strlen(job->relay);

		if (r->result == 0) {
			r->result = DR_TEMPFAIL;
			strlcpy(r->dsn, "4.0.0", sizeof(r->dsn));
			free(r->diag);
			r->diag = strdup("delivery was not completed");
		}
		log_result(d, job, r);
		if (!mw_fits_str(&w, need)) {
			child_send(d->child, PROC_QUEUED, M_D_RESULTS, job->id,
			    -1, w.buf, w.len);
			mw_init(&w);
		}
		mw_u32(&w, r->idx);
		mw_u8(&w, r->result);
		mw_str(&w, r->dsn);
		mw_str(&w, r->diag ? r->diag : "");
		mw_str(&w, job->relay);
		mw_u8(&w, (uint8_t)job->dsn_passed);
	}
	if (w.len > 0)
		child_send(d->child, PROC_QUEUED, M_D_RESULTS, job->id, -1,
		    w.buf, w.len);
	mw_init(&w);
	mw_u8(&w, (uint8_t)dest_state);
	mw_str(&w, error ? error : "");
	child_send(d->child, PROC_QUEUED, M_D_DONE, job->id, -1, w.buf, w.len);
	if (job->route == ROUTE_TENANT)
		callout_route_state(d, job->tenant, dest_state == DEST_UP);
	job_free(d, job);
}

/* Can this go into an SMTP command?  No line break, no other control. */
static int
arg_ok(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/*
 * Nothing a job carries may end an SMTP command early and start another
 * at the next hop: a sender, ENVID, recipient or ORCPT with CR, LF (or
 * any control; NUL cannot pass the channel) is never written.  smtpd's
 * parser cannot produce one, so it is a broken queue: such recipients
 * fail for good, each reported at once, and a bad sender fails the job.
 */
static int
job_refuse_args(struct deliverd *d, struct job *job)
{
	size_t i, kept = 0;

	if (!arg_ok(job->sender) || !arg_ok(job->envid)) {
		log_warnx("msgid=%016llx: the sender or ENVID holds a control "
		    "character; not sent", (unsigned long long)job->msgid);
		job_fail_all(job, DR_PERMFAIL, "5.3.0", "the envelope holds "
		    "a control character: not sent");
		job_finish(d, job, DEST_UP, NULL);
		return -1;
	}
	for (i = 0; i < job->nrcpts; i++) {
		struct jrcpt *r = &job->rcpts[i];

		if (arg_ok(r->addr) && arg_ok(r->orcpt)) {
			job->rcpts[kept++] = *r;
			continue;
		}
		log_warnx("msgid=%016llx: a recipient holds a control "
		    "character; not sent", (unsigned long long)job->msgid);
		r->result = DR_PERMFAIL;
		strlcpy(r->dsn, "5.3.0", sizeof(r->dsn));
		free(r->diag);
		r->diag = strdup("the recipient holds a control character: "
		    "not sent");
		report_one(d, job, r);
		free(r->addr);
		free(r->orcpt);
		free(r->diag);
	}
	job->nrcpts = kept;
	if (kept == 0) {
		job_finish(d, job, DEST_UP, NULL);
		return -1;
	}
	return 0;
}

static struct job *
incoming_find(struct deliverd *d, uint64_t id)
{
	struct job *job;

	TAILQ_FOREACH(job, &d->incoming, entry)
		if (job->id == id)
			return job;
	return NULL;
}

/* A tenant route's servers, as queued has them. */
static int
read_hosts(struct mr *r, struct job *job)
{
	uint32_t n = mr_u32(r), i;

	if (n > ROUTE_HOSTS_MAX)
		return -1;
	for (i = 0; i < n && !r->err; i++) {
		mr_str(r, job->thosts[i].host, sizeof(job->thosts[i].host));
		job->thosts[i].port = (uint16_t)mr_u32(r);
		if (job->thosts[i].port == 0)
			return -1;
	}
	job->nthosts = n;
	return r->err ? -1 : 0;
}

/* A destination name: printable, no spaces, not empty. */
static int
valid_key(const char *key)
{
	const unsigned char *p;

	if (key[0] == '\0')
		return 0;
	for (p = (const unsigned char *)key; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static void
on_job(struct deliverd *d, struct imsg *imsg)
{
	struct job	*job;
	struct mr	 r;

	mr_init(&r, imsg->data, imsg->datalen);
	if ((imsg->fd == -1 && !imsg_fd_lost(imsg)) ||
	    (job = calloc(1, sizeof(*job))) == NULL)
		child_peer_broken(d->child, PROC_QUEUED, imsg, "job");
	d->njobs++;
	/* -1 when lost on the way: the job fails once complete (job_go). */
	job->id = imsg->hdr.peerid;
	job->fd = imsg->fd;
	imsg->fd = -1;
	job->msgid = mr_u64(&r);
	job->sender = mr_strdup(&r);
	job->size = mr_u64(&r);
	job->created = mr_i64(&r);
	job->body = mr_u8(&r);
	job->smtputf8 = mr_u8(&r);
	job->ret = mr_u8(&r);
	mr_str(&r, job->envid, sizeof(job->envid));
	job->flags = mr_u32(&r);
	job->route = mr_u8(&r);
	mr_str(&r, job->tenant, sizeof(job->tenant));
	job->domain = mr_strdup(&r);
	mr_str(&r, job->key, sizeof(job->key));
	if (read_hosts(&r, job) == -1 || mr_end(&r) == -1 ||
	    job->sender == NULL || job->domain == NULL ||
	    (job->route != ROUTE_TENANT && job->route != ROUTE_MX) ||
	    (job->route == ROUTE_TENANT) != (job->nthosts > 0) ||
	    !valid_key(job->key) || incoming_find(d, job->id) != NULL)
		child_peer_broken(d->child, PROC_QUEUED, imsg, "job");
	TAILQ_INSERT_TAIL(&d->incoming, job, entry);
}

/*
 * A probe: a job with no message and no recipient, for a tenant route,
 * straight to its destination.  It ends once a server answers EHLO.
 */
static void
on_probe(struct deliverd *d, struct imsg *imsg)
{
	struct job	*job;
	struct mr	 r;

	mr_init(&r, imsg->data, imsg->datalen);
	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (job->sender = strdup("")) == NULL)
		fatal("probe");
	d->njobs++;
	job->id = imsg->hdr.peerid;
	job->fd = -1;
	job->probe = 1;
	job->complete = 1;
	job->route = mr_u8(&r);
	mr_str(&r, job->tenant, sizeof(job->tenant));
	job->domain = mr_strdup(&r);
	mr_str(&r, job->key, sizeof(job->key));
	if (read_hosts(&r, job) == -1 || mr_end(&r) == -1 ||
	    job->domain == NULL || job->route != ROUTE_TENANT ||
	    job->nthosts == 0 || !valid_key(job->key) ||
	    incoming_find(d, job->id) != NULL)
		child_peer_broken(d->child, PROC_QUEUED, imsg, "probe");
	job->created = time(NULL);
	dest_add_job(d, job);
}

static void
on_job_rcpts(struct deliverd *d, struct imsg *imsg)
{
	struct job	*job;
	struct jrcpt	*rc;
	struct mr	 r;

	if ((job = incoming_find(d, imsg->hdr.peerid)) == NULL)
		child_peer_broken(d->child, PROC_QUEUED, imsg, "recipients");
	mr_init(&r, imsg->data, imsg->datalen);
	while (r.off < r.len && !r.err) {
		if ((rc = reallocarray(job->rcpts, job->nrcpts + 1,
		    sizeof(*rc))) == NULL)
			fatal("job recipients");
		job->rcpts = rc;
		rc = &job->rcpts[job->nrcpts++];
		memset(rc, 0, sizeof(*rc));
		rc->idx = mr_u32(&r);
		rc->addr = mr_strdup(&r);
		rc->orcpt = mr_strdup(&r);
		rc->notify = mr_u8(&r);
		if (rc->orcpt != NULL && rc->orcpt[0] == '\0') {
			free(rc->orcpt);
			rc->orcpt = NULL;
		}
		if (rc->addr == NULL)
			r.err = 1;
	}
	if (mr_end(&r) == -1)
		child_peer_broken(d->child, PROC_QUEUED, imsg, "recipients");
}

/*
 * The job is complete: deliver it, or, when its spool file was lost on
 * the way (we were out of descriptors), answer at once that every
 * recipient is to be tried again later.  The destination was not tried:
 * it is not down.
 */
static void
job_go(struct deliverd *d, struct job *job)
{
	if (job_refuse_args(d, job) == -1)
		return;
	if (job->fd != -1) {
		dest_add_job(d, job);
		return;
	}
	job_fail_all(job, DR_TEMPFAIL, "4.3.0", "the spool file could not "
	    "be received: deliverd is out of descriptors");
	job_finish(d, job, DEST_UP, NULL);
}

static void
from_queued(struct child *c, struct imsg *imsg)
{
	struct deliverd	*d = c->state;
	struct job	*job;

	if (imsg->hdr.type != M_D_JOB && imsg_has_fd(imsg))
		child_peer_broken(c, PROC_QUEUED, imsg, "descriptor");
	/* queued hands back the stored policies as soon as it starts. */
	if (imsg->hdr.type == M_D_STS_POLICY) {
		sts_stored(d, imsg);
		return;
	}
	if (d->conf == NULL)
		child_peer_broken(c, PROC_QUEUED, imsg, "before configuration");
	switch (imsg->hdr.type) {
	case M_D_JOB:
		on_job(d, imsg);
		return;
	case M_D_JOB_RCPTS:
		on_job_rcpts(d, imsg);
		return;
	case M_D_PROBE:
		on_probe(d, imsg);
		return;
	case M_D_JOB_GO:
		if ((job = incoming_find(d, imsg->hdr.peerid)) == NULL ||
		    job->nrcpts == 0 || imsg->datalen != 0)
			child_peer_broken(c, PROC_QUEUED, imsg, "go");
		TAILQ_REMOVE(&d->incoming, job, entry);
		job_go(d, job);
		return;
	}
	child_peer_broken(c, PROC_QUEUED, imsg, "unknown type");
}

static void
from_dnsd(struct child *c, struct imsg *imsg)
{
	struct deliverd *d = c->state;

	dns_client_dispatch(d->dns, imsg);
}

static void
from_parent(struct child *c, struct imsg *imsg)
{
	selfcheck_dispatch(c->state, imsg);
}

static void
from_policyd(struct child *c, struct imsg *imsg)
{
	callout_dispatch(c->state, imsg);
}

static void
deliverd_preload(struct child *c)
{
	struct deliverd *d = c->state;

	/* OpenSSL reads its configuration now, before the chroot. */
	d->ssl_ctx = tls_client_ctx();
}

static void
deliverd_init(struct child *c)
{
	struct deliverd *d = c->state;

	d->child = c;
	d->fd_limit = fd_limit();
	RB_INIT(&d->dests);
	TAILQ_INIT(&d->incoming);
	d->dns = dns_client_new(c);
	sts_init(d);
	callouts_init(d);
}

static void
deliverd_conf(struct child *c, struct conf *conf, struct conf *old)
{
	struct deliverd *d = c->state;

	(void)old;
	d->conf = conf;
	tls_conf(d, conf);
}

static void
deliverd_status(struct child *c, char *buf, size_t sz)
{
	struct deliverd *d = c->state;

	snprintf(buf, sz, "running, %u connections, %llu sent, %llu "
	    "deferred, %llu bounced, %zu callouts%s", d->nsessions,
	    (unsigned long long)d->delivered, (unsigned long long)d->deferred,
	    (unsigned long long)d->bounced, callouts_running(d),
	    d->selfcheck != NULL ? ", a self-check running" : "");
}

/* Its samples for a metrics scrape (metrics.h). */
static void
deliverd_metrics(struct child *c, struct mx_out *o)
{
	struct deliverd *d = c->state;

	mx_add0(o, MXF_DELIVERD_CONNS, d->nsessions);
	mx_add0(o, MXF_DELIVERD_CONNS_TOTAL, d->sessions_total);
	mx_add1(o, MXF_DELIVERD_DELIVERIES, "result", "delivered",
	    d->delivered);
	mx_add1(o, MXF_DELIVERD_DELIVERIES, "result", "deferred", d->deferred);
	mx_add1(o, MXF_DELIVERD_DELIVERIES, "result", "bounced", d->bounced);
}

static const struct child_ops deliverd_ops = {
	.id = PROC_DELIVERD,
	.preload = deliverd_preload,
	.init = deliverd_init,
	.conf = deliverd_conf,
	.status = deliverd_status,
	.metrics = deliverd_metrics,
	.parent = from_parent,
	.dispatch = {
		[PROC_QUEUED] = from_queued,
		[PROC_DNSD] = from_dnsd,
		[PROC_POLICYD] = from_policyd,
	},
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &deliverd_ops, &deliverd);
}
