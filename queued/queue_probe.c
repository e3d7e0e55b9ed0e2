/*
 * queue_probe: a tenant route that is down, asked every minute whether
 * its servers answer again.
 *
 * Mail deferred for a tenant whose servers could not be reached waits
 * for its next attempt, which the backoff may put an hour away.  So
 * while a tenant route is down and mail is held for it, deliverd is asked
 * every PROBE_EVERY seconds to connect and say EHLO (M_D_PROBE); the
 * first server that answers brings back everything deferred for the
 * route at once (sched_dest_up), on the connection the probe left open:
 * held mail arrives within a minute of the servers' return.  Relay and
 * backup tenants alike.  Only one probe per route is out at a time, and
 * none while a delivery to it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "config.h"
#include "log.h"
#include "marshal.h"
#include "msg_deliver.h"
#include "queued.h"

#define TENANT_KEY	"tenant:"

/* The route went down: its first probe, a minute on. */
void
probe_dest_down(struct queued *q, struct qdest *d)
{
	(void)q;
	d->probe_at = d->down_since + PROBE_EVERY;
}

static const char *
key_tenant(const char *key)
{
	size_t n = strlen(TENANT_KEY);

	return strncmp(key, TENANT_KEY, n) == 0 ? key + n : NULL;
}

static void
probe_send(struct queued *q, struct qdest *d, const char *tenant,
    int64_t now)
{
	const struct tenant_conf	*tc;
	const struct hostport		*hosts;
	struct mw			 w;
	size_t				 i, n = 0;

	d->probe_at = now + PROBE_EVERY;
	if ((hosts = route_hosts(q, tenant, &n)) == NULL || n == 0)
		return;
	tc = conf_tenant_by_name(q->conf, tenant);
	if (n > ROUTE_HOSTS_MAX)
		n = ROUTE_HOSTS_MAX;
	mw_init(&w);
	mw_u8(&w, ROUTE_TENANT);
	mw_str(&w, tenant);
	mw_str(&w, tc != NULL && tc->ndomains > 0 ? tc->domains[0].name :
	    tenant);
	mw_str(&w, d->key);
	mw_u32(&w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		mw_str(&w, hosts[i].host);
		mw_u32(&w, hosts[i].port);
	}
	if (w.err)
		return;
	d->probe_id = ++q->next_job;
	log_debug("destination %s: probing its servers", d->key);
	child_send(q->child, PROC_DELIVERD, M_D_PROBE, d->probe_id, -1, w.buf,
	    w.len);
}

/* Once a second: the routes whose probe is due, if mail waits for them. */
void
probe_tick(struct queued *q, int64_t now)
{
	struct qdest	*d;
	struct tstate	*t;
	const char	*tenant;
	int		 counted = 0;

	RB_FOREACH(d, qdest_tree, &q->dests) {
		if (!d->down || d->probe_id != 0 || d->inflight > 0 ||
		    now < d->probe_at || (tenant = key_tenant(d->key)) == NULL)
			continue;
		if (!counted && q->census_at < now) {
			tenant_census(q);
			counted = 1;
		}
		if ((t = tenant_find(q, tenant)) == NULL || t->held_msgs == 0) {
			d->probe_at = now + PROBE_EVERY;
			continue;
		}
		probe_send(q, d, tenant, now);
	}
}

static struct qdest *
probe_dest(struct queued *q, uint64_t id)
{
	struct qdest *d;

	RB_FOREACH(d, qdest_tree, &q->dests)
		if (d->probe_id == id)
			return d;
	return NULL;
}

/* deliverd's answer: back, or still down. */
void
probe_done(struct queued *q, struct imsg *imsg)
{
	struct qdest	*d;
	struct mr	 r;
	char		 relay[400], err[256], key[ROUTE_KEY_MAX];
	const char	*tenant;
	uint8_t		 state;

	mr_init(&r, imsg->data, imsg->datalen);
	state = mr_u8(&r);
	mr_str(&r, relay, sizeof(relay));
	mr_str(&r, err, sizeof(err));
	if (mr_end(&r) == -1 || (state != DEST_UP && state != DEST_DOWN) ||
	    imsg->hdr.peerid == 0 ||
	    (d = probe_dest(q, imsg->hdr.peerid)) == NULL)
		child_peer_broken(q->child, PROC_DELIVERD, imsg, "probe");
	d->probe_id = 0;
	tenant = key_tenant(d->key);
	if (state == DEST_DOWN) {
		log_debug("destination %s: still down (%s)", d->key,
		    err[0] ? err : "no answer");
		if (tenant != NULL)
			tenant_probed(q, tenant, 0, err);
		return;
	}
	log_info("destination %s answers again (relay=%s): its deferred mail "
	    "goes now", d->key, relay[0] ? relay : "none");
	if (tenant != NULL)
		tenant_probed(q, tenant, 1, NULL);
	strlcpy(key, d->key, sizeof(key));
	d->down = 0;
	if (d->inflight == 0) {
		RB_REMOVE(qdest_tree, &q->dests, d);
		free(d);
	}
	sched_dest_up(q, key);
}
