/*
 * metricsd: the Prometheus metrics of every process, served over HTTP on
 * metrics.listen, by a process of its own, so that neither the parent
 * (root) nor smtpd (the Internet's) parses an HTTP request.
 *
 * Protocol: HTTP/1.0 and 1.1, GET /metrics only, one request per
 * connection (answered with Connection: close).  Each request starts a
 * scrape (msg_metrics.h): the parent asks every process for its counters
 * as they are now, and the answer is rendered in the text format 0.0.4
 * (mxd_render.c), so two scrapes around one message differ by exactly
 * that message.  Requests that arrive while a scrape runs share the next.
 *
 * Parameters: metrics.listen (the socket comes from the parent).  Bounds:
 * MXD_HEAD_MAX bytes of request head, MXD_CONNS connections (a new one
 * pushes out the oldest still sending its request), MXD_REQ_SECS to send
 * the request and MXD_SEND_SECS to take the answer, MXD_SCRAPE_SECS for
 * the parent's answer (a 503 after it).  Runs as relayd-metrics in the
 * empty root; its seccomp filter allows accept and nothing that opens.
 *
 * BUGS: no TLS and no authentication: listen on loopback or a management
 * network.
 */
#ifndef RELAYD_METRICSD_H
#define RELAYD_METRICSD_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "proc.h"

#define MXD_HEAD_MAX	8192
#define MXD_CONNS	8
#define MXD_REQ_SECS	10
#define MXD_SEND_SECS	30
#define MXD_SCRAPE_SECS	5
#define MXD_SAMPLES_MAX	(1024 * 1024)	/* per scrape */

struct child;
struct event;
struct evbuffer;
struct bufferevent;

/* http_parse.c: a request head, whole or not yet. */
struct http_req {
	int		 status;	/* 200, or 400, 404, 405 */
	int		 minor;		/* HTTP/1.minor, for the answer */
};

#define HTTP_MORE	(-1)		/* no end of the head yet */
/* Parse a request head; HTTP_MORE, or 0 with req filled. */
int	 http_parse(const char *, size_t, struct http_req *);
const char *http_reason(int status);

/* mxd_render.c: one scrape's samples, kept and rendered. */
struct mxd_sample {
	uint32_t	 family;
	uint32_t	 seq;		/* arrival order */
	uint8_t		 proc;
	char		*labels;	/* rendered: {a="b",...}, or "" */
	uint64_t	 value;
};

struct mxd_collect {
	struct mxd_sample *s;
	size_t		 n;
	size_t		 cap;
	uint8_t		 ended[PROC_MAX];	/* its samples are whole */
	uint8_t		 bad[PROC_MAX];		/* they were refused */
	uint8_t		 asked[PROC_MAX];	/* named in M_MX_DONE */
	uint8_t		 answered[PROC_MAX];
};

void	 mxd_collect_reset(struct mxd_collect *);
/* A frame of one process's samples; -1 with *why, the frame refused. */
int	 mxd_collect_add(struct mxd_collect *, unsigned proc, const void *,
	    size_t, const char **why);
/* Render those of processes whose samples are whole; -1: no memory. */
int	 mxd_render(struct mxd_collect *, struct evbuffer *);

/* metricsd.c */
struct mxd_conn {
	TAILQ_ENTRY(mxd_conn)	 entry;
	struct metricsd		*md;
	struct bufferevent	*bev;
	struct event		*timer;
	int			 state;		/* MXC_* */
	int			 minor;
	uint64_t		 want;		/* the scrape it waits for */
	char			 peer[64];
};
TAILQ_HEAD(mxd_conns, mxd_conn);

enum {
	MXC_READ,		/* its request is coming */
	MXC_WAIT,		/* for a scrape */
	MXC_SEND,		/* the answer is going out */
	MXC_LINGER		/* sent; reading until the client closes */
};

struct metricsd {
	struct child		*child;
	struct event		*listen_ev;
	int			 listen_fd;
	struct mxd_conns	 conns;
	size_t			 nconns;
	struct event		*scrape_timer;
	int			 scraping;	/* one asked of the parent */
	uint64_t		 scrape_id;	/* the one running, or last */
	struct mxd_collect	 col;
};

#endif
