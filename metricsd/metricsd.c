/*
 * metricsd: process set-up, the HTTP connections, and the scrapes it
 * asks of the parent (metricsd.h, msg_metrics.h).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "metricsd.h"
#include "msg_metrics.h"
#include "netaddr.h"

static struct metricsd metricsd;

static void	mxc_free(struct mxd_conn *);
static void	mxc_read(struct bufferevent *, void *);
static void	scrape_start(struct metricsd *);

static void
mxc_timeout(int fd, short ev, void *arg)
{
	struct mxd_conn *cn = arg;

	(void)fd;
	(void)ev;
	log_debug("metrics: client %s too slow; closed", cn->peer);
	mxc_free(cn);
}

static void
mxc_free(struct mxd_conn *cn)
{
	struct metricsd *md = cn->md;

	TAILQ_REMOVE(&md->conns, cn, entry);
	md->nconns--;
	if (cn->timer != NULL)
		event_free(cn->timer);
	bufferevent_free(cn->bev);
	free(cn);
}

static void
mxc_deadline(struct mxd_conn *cn, int secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_add(cn->timer, &tv);
}

/*
 * Once the answer is written, our side closes; what the client still
 * sends (the rest of a head too long) is read and dropped until it
 * closes too, so that it reads the answer rather than a reset.
 */
static void
mxc_written(struct bufferevent *bev, void *arg)
{
	struct mxd_conn *cn = arg;

	cn->state = MXC_LINGER;
	if (shutdown(bufferevent_getfd(bev), SHUT_WR) == -1) {
		mxc_free(cn);
		return;
	}
	bufferevent_enable(bev, EV_READ);
}

static void
mxc_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	mxc_free(arg);
}

/* The status line and headers, then the body (may be NULL). */
static void
mxc_answer(struct mxd_conn *cn, int status, const void *body, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(cn->bev);
	const char	*reason = http_reason(status);
	int		 rv;

	cn->state = MXC_SEND;
	rv = evbuffer_add_printf(out, "HTTP/1.%d %d %s\r\n", cn->minor,
	    status, reason);
	if (rv != -1 && status == 405)
		rv = evbuffer_add_printf(out, "Allow: GET\r\n");
	if (rv != -1 && status == 200)
		rv = evbuffer_add_printf(out, "Content-Type: text/plain; "
		    "version=0.0.4; charset=utf-8\r\n");
	else if (rv != -1)
		rv = evbuffer_add_printf(out, "Content-Type: text/plain\r\n");
	if (rv != -1)
		rv = evbuffer_add_printf(out, "Content-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", body != NULL ? len :
		    strlen(reason) + 1);
	if (rv != -1 && body != NULL)
		rv = evbuffer_add(out, body, len);
	else if (rv != -1)
		rv = evbuffer_add_printf(out, "%s\n", reason);
	if (rv == -1) {
		log_warnx("metrics: no memory to answer %s", cn->peer);
		mxc_free(cn);
		return;
	}
	if (status != 200)
		log_info("metrics: client %s: %d %s", cn->peer, status,
		    reason);
	bufferevent_setcb(cn->bev, mxc_read, mxc_written, mxc_event, cn);
	bufferevent_enable(cn->bev, EV_READ);
	mxc_deadline(cn, MXD_SEND_SECS);
}

static void
mxc_read(struct bufferevent *bev, void *arg)
{
	struct mxd_conn	*cn = arg;
	struct metricsd	*md = cn->md;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct http_req	 req;
	size_t		 len = evbuffer_get_length(in);
	const char	*head;

	if (cn->state != MXC_READ) {
		evbuffer_drain(in, len);
		return;
	}
	if (len > MXD_HEAD_MAX)
		len = MXD_HEAD_MAX;
	if ((head = (const char *)evbuffer_pullup(in, (ssize_t)len)) == NULL) {
		mxc_free(cn);
		return;
	}
	if (http_parse(head, len, &req) == HTTP_MORE) {
		if (len < MXD_HEAD_MAX)
			return;
		req.status = 400;	/* a head too long */
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	cn->minor = req.minor;
	if (req.status != 200) {
		mxc_answer(cn, req.status, NULL, 0);
		return;
	}
	cn->state = MXC_WAIT;
	bufferevent_disable(cn->bev, EV_READ);
	evtimer_del(cn->timer);
	/* A scrape already running began before this request: the next. */
	cn->want = md->scrape_id + 1;
	if (!md->scraping)
		scrape_start(md);
}

/*
 * At MXD_CONNS, the oldest connection already answered, or else the
 * oldest still sending its request, makes room: a scraper sends at
 * once, and a client that holds a connection open without asking does
 * not keep it from answering.
 */
static int
make_room(struct metricsd *md)
{
	struct mxd_conn *cn;

	if (md->nconns < MXD_CONNS)
		return 0;
	TAILQ_FOREACH(cn, &md->conns, entry)
		if (cn->state == MXC_LINGER) {
			mxc_free(cn);
			return 0;
		}
	TAILQ_FOREACH(cn, &md->conns, entry)
		if (cn->state == MXC_READ) {
			log_info("metrics: too many clients; closed %s, "
			    "which had not sent a request", cn->peer);
			mxc_free(cn);
			return 0;
		}
	return -1;
}

static void
mxd_accept(int lfd, short ev, void *arg)
{
	struct metricsd		*md = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	struct netaddr		 na;
	struct mxd_conn		*cn;
	int			 fd;

	(void)ev;
	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("metrics: accept");
		return;
	}
	if (make_room(md) == -1) {
		log_info("metrics: too many clients waiting for a scrape; "
		    "refused one");
		close(fd);
		return;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		log_warn("metrics: client");
		close(fd);
		return;
	}
	cn->md = md;
	if (netaddr_from_sockaddr(&na, (struct sockaddr *)&ss) == 0)
		netaddr_format(&na, cn->peer, sizeof(cn->peer));
	else
		strlcpy(cn->peer, "?", sizeof(cn->peer));
	cn->bev = bufferevent_socket_new(md->child->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	cn->timer = evtimer_new(md->child->base, mxc_timeout, cn);
	if (cn->bev == NULL || cn->timer == NULL) {
		log_warnx("metrics: no memory for client %s", cn->peer);
		if (cn->bev != NULL)
			bufferevent_free(cn->bev);
		else
			close(fd);
		if (cn->timer != NULL)
			event_free(cn->timer);
		free(cn);
		return;
	}
	TAILQ_INSERT_TAIL(&md->conns, cn, entry);
	md->nconns++;
	bufferevent_setwatermark(cn->bev, EV_READ, 0, MXD_HEAD_MAX + 1);
	bufferevent_setcb(cn->bev, mxc_read, NULL, mxc_event, cn);
	bufferevent_enable(cn->bev, EV_READ);
	mxc_deadline(cn, MXD_REQ_SECS);
}

static void
scrape_timeout(int fd, short ev, void *arg)
{
	struct metricsd *md = arg;
	struct mxd_conn *cn, *tmp;

	(void)fd;
	(void)ev;
	log_warnx("metrics: relayd did not answer scrape %llu within %d s",
	    (unsigned long long)md->scrape_id, MXD_SCRAPE_SECS);
	TAILQ_FOREACH_SAFE(cn, &md->conns, entry, tmp)
		if (cn->state == MXC_WAIT && cn->want <= md->scrape_id)
			mxc_answer(cn, 503, NULL, 0);
	/* The parent's late answer is for a scrape no one waits for. */
	md->scraping = 0;
	mxd_collect_reset(&md->col);
	TAILQ_FOREACH(cn, &md->conns, entry)
		if (cn->state == MXC_WAIT) {
			scrape_start(md);
			break;
		}
}

static void
scrape_start(struct metricsd *md)
{
	struct timeval tv = { MXD_SCRAPE_SECS, 0 };

	mxd_collect_reset(&md->col);
	md->scrape_id++;
	md->scraping = 1;
	child_send(md->child, PROC_PARENT, M_MX_SCRAPE, md->scrape_id, -1,
	    NULL, 0);
	evtimer_add(md->scrape_timer, &tv);
}

/* The scrape is over: render it once, for everyone waiting for it. */
static void
scrape_done(struct metricsd *md)
{
	struct mxd_conn	*cn, *tmp;
	struct evbuffer	*body;
	const void	*text = NULL;
	size_t		 len = 0;
	int		 again = 0;

	evtimer_del(md->scrape_timer);
	md->scraping = 0;
	if ((body = evbuffer_new()) == NULL ||
	    mxd_render(&md->col, body) == -1 ||
	    (len = evbuffer_get_length(body),
	    text = evbuffer_pullup(body, -1)) == NULL) {
		log_warnx("metrics: no memory to render scrape %llu",
		    (unsigned long long)md->scrape_id);
		text = NULL;
	}
	TAILQ_FOREACH_SAFE(cn, &md->conns, entry, tmp) {
		if (cn->state != MXC_WAIT)
			continue;
		if (cn->want <= md->scrape_id)
			mxc_answer(cn, text != NULL ? 200 : 503, text, len);
		else
			again = 1;
	}
	if (body != NULL)
		evbuffer_free(body);
	mxd_collect_reset(&md->col);
	if (again)
		scrape_start(md);
}

static uint8_t
read_proc(struct child *c, struct imsg *imsg, struct mr *r)
{
	uint8_t p = mr_u8(r);

	if (r->err || p >= PROC_MAX || p == PROC_METRICS)
		child_peer_broken(c, PROC_PARENT, imsg, "a process number");
	return p;
}

static void
scrape_end(struct metricsd *md, struct imsg *imsg, struct mr *r)
{
	uint32_t	n, i;
	uint8_t		p, ok;

	n = mr_u32(r);
	if (r->err || n > PROC_MAX)
		child_peer_broken(md->child, PROC_PARENT, imsg, "scrape end");
	for (i = 0; i < n; i++) {
		p = read_proc(md->child, imsg, r);
		ok = mr_u8(r);
		if (r->err || ok > 1 || md->col.asked[p])
			child_peer_broken(md->child, PROC_PARENT, imsg,
			    "scrape end");
		md->col.asked[p] = 1;
		md->col.answered[p] = ok;
	}
	if (mr_end(r) == -1)
		child_peer_broken(md->child, PROC_PARENT, imsg, "scrape end");
	scrape_done(md);
}

/*
 * The parent's messages of a scrape.  Anything for a scrape no longer
 * running (a 503 went out already) is dropped; a frame that is not one
 * is fatal; samples that fail their checks are that process's, refused
 * for this scrape and logged.
 */
static void
from_parent(struct child *c, struct imsg *imsg)
{
	struct metricsd	*md = c->state;
	struct mr	 r;
	const void	*data;
	const char	*why;
	size_t		 len;
	uint8_t		 p;

	mr_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case M_MX_FWD:
		p = read_proc(c, imsg, &r);
		data = mr_data(&r, &len);
		if (data == NULL || mr_end(&r) == -1)
			child_peer_broken(c, PROC_PARENT, imsg, "samples");
		if (md->scraping && mxd_collect_add(&md->col, p, data, len,
		    &why) == -1)
			log_warnx("metrics: samples of %s refused: %s",
			    proc_name((enum proc_id)p), why);
		break;
	case M_MX_FWD_END:
		p = read_proc(c, imsg, &r);
		if (mr_end(&r) == -1)
			child_peer_broken(c, PROC_PARENT, imsg, "samples end");
		if (md->scraping)
			md->col.ended[p] = 1;
		break;
	case M_MX_DONE:
		if (md->scraping && imsg->hdr.peerid == md->scrape_id)
			scrape_end(md, imsg, &r);
		else if (imsg->hdr.peerid > md->scrape_id)
			child_peer_broken(c, PROC_PARENT, imsg, "scrape end");
		break;
	default:
		child_peer_broken(c, PROC_PARENT, imsg, "unknown type");
	}
}

static void
listener_stop(struct metricsd *md)
{
	if (md->listen_ev != NULL) {
		event_free(md->listen_ev);
		md->listen_ev = NULL;
	}
	if (md->listen_fd != -1) {
		close(md->listen_fd);
		md->listen_fd = -1;
	}
}

/* Each configuration brings the socket (the same one, or a new one). */
static void
metricsd_conf(struct child *c, struct conf *conf, struct conf *old)
{
	struct metricsd	*md = c->state;
	char		 addr[ADDRSTR_MAX];

	(void)old;
	listener_stop(md);
	if (conf->metrics.fd == -1) {
		log_info("metrics are off: not listening");
		return;
	}
	md->listen_fd = conf->metrics.fd;
	conf->metrics.fd = -1;
	md->listen_ev = event_new(c->base, md->listen_fd,
	    EV_READ | EV_PERSIST, mxd_accept, md);
	if (md->listen_ev == NULL || event_add(md->listen_ev, NULL) == -1)
		fatalx("metrics: cannot listen");
	hostport_format(&conf->metrics.addr, addr, sizeof(addr));
	log_info("serving metrics on %s", addr);
}

static void
metricsd_status(struct child *c, char *buf, size_t sz)
{
	struct metricsd *md = c->state;

	snprintf(buf, sz, "running, %s, %zu clients, %llu scrapes",
	    md->listen_fd != -1 ? "listening" : "not listening", md->nconns,
	    (unsigned long long)md->scrape_id);
}

static void
metricsd_init(struct child *c)
{
	struct metricsd *md = c->state;

	md->child = c;
	md->listen_fd = -1;
	TAILQ_INIT(&md->conns);
	if ((md->scrape_timer = evtimer_new(c->base, scrape_timeout,
	    md)) == NULL)
		fatalx("metrics: timer");
}

static void
metricsd_shutdown(struct child *c)
{
	struct metricsd *md = c->state;

	while (!TAILQ_EMPTY(&md->conns))
		mxc_free(TAILQ_FIRST(&md->conns));
	listener_stop(md);
	mxd_collect_reset(&md->col);
}

static const struct child_ops metricsd_ops = {
	.id = PROC_METRICS,
	.init = metricsd_init,
	.conf = metricsd_conf,
	.status = metricsd_status,
	.parent = from_parent,
	.shutdown = metricsd_shutdown,
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &metricsd_ops, &metricsd);
}
