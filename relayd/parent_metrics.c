/*
 * parent_metrics: the parent's part of a metrics scrape (msg_metrics.h).
 *
 * metricsd asks; the parent asks every running child, forwards what each
 * answers without reading it, adds its own samples, and says when the
 * scrape is over: once all have answered, or after MX_WAIT_MS, leaving
 * out a child that is stopped or stuck rather than leaving the scraper
 * waiting.  Nothing here is on the path of a message.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "marshal.h"
#include "metrics.h"
#include "msg_metrics.h"
#include "parent_kidmsg.h"
#include "relayd.h"

#define METRICS_BACKLOG		64
/* What one child may send for one scrape: many thousand tenants. */
#define METRICS_KID_BYTES	(32u * 1024 * 1024)

struct metrics {
	struct relayd	*env;
	struct event	*timer;
	int		 active;
	uint64_t	 seq;		/* this scrape's number, to children */
	uint64_t	 asker;		/* metricsd's number for it */
	uint8_t		 asked[PROC_MAX];
	uint8_t		 answered[PROC_MAX];
	size_t		 bytes[PROC_MAX];
};

static struct chan *
metricsd_chan(struct metrics *mx)
{
	return mx->env->kids[PROC_METRICS].chan;
}

static void
scrape_finish(struct metrics *mx)
{
	struct chan	*c = metricsd_chan(mx);
	struct mw	 w;
	uint32_t	 n = 0;
	int		 i;

	evtimer_del(mx->timer);
	mx->active = 0;
	for (i = 0; i < PROC_MAX; i++)
		n += i == PROC_PARENT || mx->asked[i];
	mw_init(&w);
	mw_u32(&w, n);
	for (i = 0; i < PROC_MAX; i++) {
		if (i != PROC_PARENT && !mx->asked[i])
			continue;
		mw_u8(&w, (uint8_t)i);
		mw_u8(&w, i == PROC_PARENT || mx->answered[i]);
	}
	if (c != NULL && chan_send(c, M_MX_DONE, mx->asker, -1, w.buf,
	    w.len) == -1)
		log_warn("metrics: cannot answer metricsd");
}

static void
scrape_late(int fd, short ev, void *arg)
{
	struct metrics	*mx = arg;
	int		 i;

	(void)fd;
	(void)ev;
	for (i = 1; i < PROC_MAX; i++)
		if (mx->asked[i] && !mx->answered[i])
			log_warnx("metrics: %s did not answer scrape %llu "
			    "within %d ms; left out",
			    proc_name((enum proc_id)i),
			    (unsigned long long)mx->seq, MX_WAIT_MS);
	scrape_finish(mx);
}

/* A frame of samples to metricsd, with the process it is from. */
static int
forward(struct metrics *mx, enum proc_id from, const void *buf, size_t len)
{
	struct chan	*c = metricsd_chan(mx);
	struct mw	 w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)from);
	mw_data(&w, buf, len);
	if (w.err || c == NULL)
		return -1;
	return chan_send(c, M_MX_FWD, 0, -1, w.buf, w.len);
}

static int
forward_end(struct metrics *mx, enum proc_id from)
{
	struct chan	*c = metricsd_chan(mx);
	struct mw	 w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)from);
	if (c == NULL)
		return -1;
	return chan_send(c, M_MX_FWD_END, 0, -1, w.buf, w.len);
}

static int
own_flush(void *arg, const void *buf, size_t len)
{
	return forward(arg, PROC_PARENT, buf, len);
}

/* The parent's own samples. */
static void
parent_samples(struct metrics *mx)
{
	struct timespec	now;
	struct mx_out	o;
	time_t		up;

	clock_gettime(CLOCK_MONOTONIC, &now);
	up = now.tv_sec - mx->env->started.tv_sec;
	mx_out_init(&o, own_flush, mx);
	mx_add0(&o, MXF_START_TIME, (uint64_t)(time(NULL) - up));
	mx_add0(&o, MXF_CONFIG_GEN, mx->env->gen);
	if (mx_out_finish(&o) == -1 || forward_end(mx, PROC_PARENT) == -1)
		log_warnx("metrics: cannot send relayd's own samples");
}

int
metrics_scrape(struct metrics *mx, struct kid *k, uint64_t id)
{
	struct timeval	tv = { MX_WAIT_MS / 1000, (MX_WAIT_MS % 1000) * 1000 };
	int		i, n = 0;

	if (mx == NULL || k->id != PROC_METRICS || mx->active)
		return -1;
	mx->active = 1;
	mx->asker = id;
	mx->seq++;
	memset(mx->asked, 0, sizeof(mx->asked));
	memset(mx->answered, 0, sizeof(mx->answered));
	memset(mx->bytes, 0, sizeof(mx->bytes));
	parent_samples(mx);
	for (i = 1; i < PROC_MAX; i++) {
		struct kid *c = &mx->env->kids[i];

		if (i == PROC_METRICS || !c->running || c->chan == NULL)
			continue;
		if (chan_send(c->chan, M_MX_REQ, mx->seq, -1, NULL, 0) == -1)
			continue;
		mx->asked[i] = 1;
		n++;
	}
	if (n == 0)
		scrape_finish(mx);
	else
		evtimer_add(mx->timer, &tv);
	return 0;
}

/*
 * Is this answer for the scrape running now?  0: yes; 1: for one that
 * is over (a child that was stopped, and woke): dropped; -1: a lie.
 */
static int
answer_for(struct metrics *mx, struct kid *k, uint64_t id)
{
	if (mx == NULL || k->id == PROC_METRICS || id > mx->seq)
		return -1;
	if (id < mx->seq || !mx->active)
		return 1;
	if (!mx->asked[k->id] || mx->answered[k->id])
		return mx->asked[k->id] ? -1 : 1;
	return 0;
}

int
metrics_samples(struct metrics *mx, struct kid *k, const struct kidmsg *m)
{
	int rv;

	if ((rv = answer_for(mx, k, m->peerid)) != 0)
		return rv == 1 ? 0 : -1;
	mx->bytes[k->id] += m->datalen;
	if (mx->bytes[k->id] > METRICS_KID_BYTES)
		return -1;
	if (forward(mx, k->id, m->data, m->datalen) == -1)
		log_warn("metrics: cannot forward %s's samples",
		    proc_name(k->id));
	return 0;
}

int
metrics_end(struct metrics *mx, struct kid *k, const struct kidmsg *m)
{
	int i, rv;

	if ((rv = answer_for(mx, k, m->peerid)) != 0)
		return rv == 1 ? 0 : -1;
	mx->answered[k->id] = 1;
	if (forward_end(mx, k->id) == -1)
		log_warn("metrics: cannot forward the end of %s's samples",
		    proc_name(k->id));
	for (i = 1; i < PROC_MAX; i++)
		if (mx->asked[i] && !mx->answered[i])
			return 0;
	scrape_finish(mx);
	return 0;
}

static int
same_hostport(const struct hostport *a, const struct hostport *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/*
 * metricsd starts with relayd, when metrics.listen is set.  A reload
 * may move it to another address, or turn it off (metricsd closes its
 * socket); turning it on takes a restart, said in the log.
 */
int
metrics_bind(struct relayd *env, struct conf *conf, const struct conf *old)
{
	if (old != NULL && conf->metrics.enabled &&
	    !env->kids[PROC_METRICS].running) {
		log_warnx("reload: metrics.listen takes effect at the next "
		    "restart (metricsd is not running)");
		conf->metrics.enabled = 0;
	}
	if (!conf->metrics.enabled)
		return 0;
	if (old != NULL && old->metrics.fd != -1 &&
	    same_hostport(&conf->metrics.addr, &old->metrics.addr))
		conf->metrics.fd = fcntl(old->metrics.fd, F_DUPFD_CLOEXEC, 0);
	else
		conf->metrics.fd = listen_socket(&conf->metrics.addr,
		    METRICS_BACKLOG);
	return conf->metrics.fd == -1 ? -1 : 0;
}

struct metrics *
metrics_open(struct relayd *env)
{
	struct metrics *mx;

	if ((mx = calloc(1, sizeof(*mx))) == NULL) {
		log_warn("metrics");
		return NULL;
	}
	mx->env = env;
	if ((mx->timer = evtimer_new(env->base, scrape_late, mx)) == NULL) {
		log_warnx("metrics: cannot make a timer");
		free(mx);
		return NULL;
	}
	return mx;
}

void
metrics_close(struct metrics *mx)
{
	if (mx == NULL)
		return;
	event_free(mx->timer);
	free(mx);
}
