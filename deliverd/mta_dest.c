/*
 * mta_dest: destinations, their waiting jobs and their connections.
 *
 * A destination is a route key: "tenant:NAME" for inbound mail to a
 * tenant's servers, "mx:DOMAIN" for outbound mail.  Jobs wait on it until
 * a connection is free; connections are reused while jobs wait and opened
 * in parallel up to queue.max_connections_per_destination, and
 * queue.max_connections in all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "deliverd.h"
#include "faults.h"
#include "log.h"
#include "msg_deliver.h"

#define ROUTE_TTL	60	/* seconds a resolved hop list is used */

int
dest_cmp(struct dest *a, struct dest *b)
{
	return strcmp(a->key, b->key);
}

RB_GENERATE(dest_tree, dest, entry, dest_cmp)

/* The servers of a tenant route may change with a reload. */
static void
dest_set_hosts(struct dest *dest, const struct job *job)
{
	if (dest->nthosts == job->nthosts && memcmp(dest->thosts,
	    job->thosts, job->nthosts * sizeof(job->thosts[0])) == 0)
		return;
	memcpy(dest->thosts, job->thosts, sizeof(dest->thosts));
	dest->nthosts = job->nthosts;
	dest->hosts_gen++;
	if (dest->rstate == RT_READY || dest->rstate == RT_FAILED)
		dest->rstate = RT_NONE;
}

void
dest_add_job(struct deliverd *d, struct job *job)
{
	struct dest find, *dest;

	fault_forbidden("deliverd-unix-socket");
	strlcpy(find.key, job->key, sizeof(find.key));
	if ((dest = RB_FIND(dest_tree, &d->dests, &find)) == NULL) {
		if ((dest = calloc(1, sizeof(*dest))) == NULL)
			fatal("destination");
		strlcpy(dest->key, find.key, sizeof(dest->key));
		dest->route = job->route;
		strlcpy(dest->tenant, job->tenant, sizeof(dest->tenant));
		strlcpy(dest->domain, job->domain, sizeof(dest->domain));
		TAILQ_INIT(&dest->jobs);
		LIST_INIT(&dest->idle);
		RB_INSERT(dest_tree, &d->dests, dest);
	}
	if (dest->route == ROUTE_TENANT)
		dest_set_hosts(dest, job);
	job->dest = dest;
	TAILQ_INSERT_TAIL(&dest->jobs, job, entry);
	dest_pump(d, dest);
}

/* Hops hold references to their TLSA records. */
void
hops_free(struct hop *hops, size_t n)
{
	size_t i;

	if (hops == NULL)
		return;
	for (i = 0; i < n; i++)
		tlsa_set_unref(hops[i].tlsa);
	free(hops);
}

struct hop *
hops_copy(const struct hop *hops, size_t n)
{
	struct hop	*c;
	size_t		 i;

	if ((c = calloc(n, sizeof(*c))) == NULL)
		fatal("hops");
	memcpy(c, hops, n * sizeof(*c));
	for (i = 0; i < n; i++)
		tlsa_set_ref(c[i].tlsa);
	return c;
}

void
dest_requeue_front(struct deliverd *d, struct dest *dest, struct job *job)
{
	(void)d;
	TAILQ_INSERT_HEAD(&dest->jobs, job, entry);
}

/* Nothing waits and nothing runs: forget the destination. */
static void
dest_gc(struct deliverd *d, struct dest *dest)
{
	if (!TAILQ_EMPTY(&dest->jobs) || dest->nsessions > 0 ||
	    dest->rstate == RT_RESOLVING || dest->pumping)
		return;
	RB_REMOVE(dest_tree, &d->dests, dest);
	hops_free(dest->hops, dest->nhops);
	free(dest);
}

/* Resolution failed: every waiting job gets the same answer. */
static void
dest_fail_jobs(struct deliverd *d, struct dest *dest)
{
	struct job *job;

	while ((job = TAILQ_FIRST(&dest->jobs)) != NULL) {
		TAILQ_REMOVE(&dest->jobs, job, entry);
		job_fail_all(job, dest->fail_result, dest->fail_dsn, "%s",
		    dest->fail_text);
		/* Down means "try later"; a domain that cannot exist is not. */
		job_finish(d, job, dest->fail_result == DR_TEMPFAIL ?
		    DEST_DOWN : DEST_UP, dest->fail_text);
	}
	/* The next job looks again: a failure is not cached here. */
	dest->rstate = RT_NONE;
}

void
dest_pump(struct deliverd *d, struct dest *dest)
{
	const struct conf	*conf = d->conf;
	struct mta_session	*s;
	struct job		*job;

	if (TAILQ_EMPTY(&dest->jobs)) {
		dest_gc(d, dest);
		return;
	}
	/* Sessions keep their own copy of the hops: look again freely. */
	if (dest->rstate == RT_READY && time(NULL) - dest->resolved >
	    ROUTE_TTL)
		dest->rstate = RT_NONE;
	if (dest->rstate == RT_NONE) {
		route_resolve(d, dest);
		return;
	}
	if (dest->rstate == RT_RESOLVING)
		return;
	if (dest->rstate == RT_FAILED) {
		dest_fail_jobs(d, dest);
		dest_gc(d, dest);
		return;
	}
	/*
	 * A session can end before mta_start returns (every hop refused
	 * at once, such as a failed TLSA look-up): dest stays until the
	 * loop is done with it.
	 */
	dest->pumping++;
	while ((job = TAILQ_FIRST(&dest->jobs)) != NULL) {
		if ((s = LIST_FIRST(&dest->idle)) != NULL &&
		    mta_quit_if_stale(s))
			continue;
		if (s != NULL) {
			TAILQ_REMOVE(&dest->jobs, job, entry);
			mta_next_job(s, job);
			continue;
		}
		if (dest->nsessions >=
		    conf->queue.max_connections_per_destination ||
		    d->nsessions >= deliverd_max_sessions(d))
			break;
		TAILQ_REMOVE(&dest->jobs, job, entry);
		mta_start(d, dest, job);
	}
	dest->pumping--;
	dest_gc(d, dest);	/* may free dest */
}

/* Capacity freed somewhere: let every waiting destination have a go. */
static void
pump_all(struct deliverd *d)
{
	struct dest *dest, *next;

	RB_FOREACH_SAFE(dest, dest_tree, &d->dests, next) {
		if (d->nsessions >= deliverd_max_sessions(d))
			break;
		if (!TAILQ_EMPTY(&dest->jobs))
			dest_pump(d, dest);
	}
}

/*
 * A session finished a job (s != NULL, reusable) or is gone (s == NULL).
 * A reusable one takes the next job or waits on the idle list.
 */
void
dest_session_done(struct deliverd *d, struct dest *dest,
    struct mta_session *s, int reusable)
{
	struct job *job;

	if (s != NULL && reusable && mta_quit_if_stale(s)) {
		dest_pump(d, dest);
		return;
	}
	if (s != NULL && reusable) {
		if ((job = TAILQ_FIRST(&dest->jobs)) != NULL) {
			TAILQ_REMOVE(&dest->jobs, job, entry);
			mta_next_job(s, job);
			return;
		}
		mta_idle(s);
		return;
	}
	if (TAILQ_EMPTY(&dest->jobs))
		dest_gc(d, dest);	/* may free dest */
	pump_all(d);
}
