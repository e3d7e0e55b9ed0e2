/*
 * mta_sts_fetch: one MTA-STS policy over HTTPS (RFC 8461 3.3).
 *
 *   A and AAAA of mta-sts.DOMAIN (dnsd) -> connect to port 443, an
 *   address at a time -> TLS, the certificate valid for mta-sts.DOMAIN
 *   by the CA bundle -> GET /.well-known/mta-sts.txt -> the response,
 *   read to its end -> the policy, parsed (mta_sts_parse.c)
 *
 * A minimal HTTP/1.1 client of our own, on the event loop, rather than
 * libcurl, which would bring threads and files read lazily into the
 * sandbox.  Bounded: the whole fetch gets timeouts.command, at most 60
 * seconds; the response at most 8 KB of header and 64 KB of policy; no
 * redirect is followed.  Addresses on private networks are skipped as
 * MX hosts are (queue.allow_private_mx).  Debug builds take the port
 * from RELAYD_MTA_STS_PORT (faults.h), for the tests.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "deliverd.h"
#include "dns_client.h"
#include "faults.h"
#include "log.h"
#include "mta_sts.h"

#define FETCH_TIMEOUT_MAX	60	/* seconds, RFC 8461 3.3 */
#define FETCH_ADDRS		(2 * DNS_MAX_RR)
#define FETCH_READ_MAX		(STS_HEAD_MAX + 2 * STS_BODY_MAX)

struct sts_fetch {
	struct deliverd		*d;
	char			 host[DNS_NAME_MAX + 8];
	sts_fetch_cb		 cb;
	void			*arg;
	struct netaddr		 addrs[FETCH_ADDRS];
	size_t			 naddrs;
	size_t			 next;
	int			 pending;	/* address look-ups */
	uint64_t		 dns[2];
	int			 private_skipped;
	int			 connected;
	struct bufferevent	*bev;
	struct event		*timer;
	char			 error[512];
};

static void	fetch_try(struct sts_fetch *);

static void
fetch_end(struct sts_fetch *f, const struct sts_policy *pol)
{
	if (f->pending > 0) {
		dns_cancel(f->d->dns, f->dns[0]);
		dns_cancel(f->d->dns, f->dns[1]);
	}
	if (f->bev != NULL)
		bufferevent_free(f->bev);
	event_free(f->timer);
	f->cb(f->arg, pol, f->error);
	free(f);
}

static void __attribute__((format(printf, 2, 3)))
fetch_fail(struct sts_fetch *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
	fetch_end(f, NULL);
}

static void
on_timeout(int fd, short ev, void *arg)
{
	struct sts_fetch *f = arg;

	(void)fd;
	(void)ev;
	fetch_fail(f, "https://%s/: timed out", f->host);
}

/* What came so far, or all of it at the end: 1 done, 0 more, -1 gone. */
static int
fetch_parse(struct sts_fetch *f, int eof)
{
	static char		 body[STS_BODY_MAX];
	struct evbuffer		*in = bufferevent_get_input(f->bev);
	struct sts_policy	 pol;
	size_t			 len = evbuffer_get_length(in), blen = 0;
	char			 why[128];
	int			 rv;

	if (len > FETCH_READ_MAX) {
		fetch_fail(f, "https://%s/: the response is too large",
		    f->host);
		return -1;
	}
	rv = sts_http_response((const char *)evbuffer_pullup(in, -1), len,
	    eof, body, &blen, why, sizeof(why));
	if (rv == 0)
		return 0;
	if (rv == -1) {
		fetch_fail(f, "https://%s/: %s", f->host, why);
		return -1;
	}
	if (sts_policy_parse(body, blen, &pol, why, sizeof(why)) == -1) {
		fetch_fail(f, "https://%s/: the policy is invalid: %s",
		    f->host, why);
		return -1;
	}
	fetch_end(f, &pol);
	return 1;
}

static void
fetch_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)fetch_parse(arg, 0);
}

/* The server's certificate must be valid for mta-sts.DOMAIN. */
static void
fetch_connected(struct sts_fetch *f)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(f->bev);
	long		 res = SSL_get_verify_result(ssl);

	if (SSL_get0_peer_certificate(ssl) == NULL || res != X509_V_OK) {
		fetch_fail(f, "https://%s/: the certificate is not valid for "
		    "it (%s)", f->host, SSL_get0_peer_certificate(ssl) ?
		    X509_verify_cert_error_string(res) : "none presented");
		return;
	}
	f->connected = 1;
	evbuffer_add_printf(bufferevent_get_output(f->bev),
	    "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: relayd\r\nAccept: text/plain\r\n"
	    "Connection: close\r\n\r\n", f->host);
	bufferevent_enable(f->bev, EV_READ | EV_WRITE);
}

static void
fetch_event(struct bufferevent *bev, short what, void *arg)
{
	struct sts_fetch	*f = arg;
	unsigned long		 e;

	if (what & BEV_EVENT_CONNECTED) {
		fetch_connected(f);
		return;
	}
	if ((what & BEV_EVENT_EOF) && f->connected) {
		(void)fetch_parse(f, 1);
		return;
	}
	if ((e = bufferevent_get_openssl_error(bev)) != 0)
		snprintf(f->error, sizeof(f->error), "https://%s/: TLS: %s",
		    f->host, ERR_reason_error_string(e));
	else
		snprintf(f->error, sizeof(f->error), "https://%s/: %s",
		    f->host, (what & BEV_EVENT_EOF) ? "connection closed" :
		    strerror(EVUTIL_SOCKET_ERROR()));
	if (f->connected) {
		fetch_end(f, NULL);
		return;
	}
	/* Not reached: the next address. */
	bufferevent_free(f->bev);
	f->bev = NULL;
	fetch_try(f);
}

static void
fetch_try(struct sts_fetch *f)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct netaddr		*na;
	SSL			*ssl;

	if (f->next >= f->naddrs) {
		if (f->error[0] == '\0')
			snprintf(f->error, sizeof(f->error), "%s has no %s"
			    "address", f->host, f->private_skipped ?
			    "public " : "");
		fetch_end(f, NULL);
		return;
	}
	na = &f->addrs[f->next++];
	na->port = fault_port("RELAYD_MTA_STS_PORT", 443);
	netaddr_to_sockaddr(na, &ss, &sl);
	if ((ssl = SSL_new(f->d->ssl_ctx)) == NULL)
		fatalx("SSL_new");
	SSL_set_tlsext_host_name(ssl, f->host);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, f->host) != 1)
		fatalx("SSL_set1_host");
	f->bev = bufferevent_openssl_socket_new(f->d->child->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (f->bev == NULL)
		fatalx("bufferevent_openssl_socket_new");
	bufferevent_openssl_set_allow_dirty_shutdown(f->bev, 1);
	bufferevent_setcb(f->bev, fetch_read, NULL, fetch_event, f);
	if (bufferevent_socket_connect(f->bev, (struct sockaddr *)&ss,
	    (int)sl) == -1) {
		snprintf(f->error, sizeof(f->error), "https://%s/: %s",
		    f->host, strerror(errno));
		bufferevent_free(f->bev);
		f->bev = NULL;
		fetch_try(f);
	}
}

static void
on_addr(void *arg, const struct dns_answer *a, int af)
{
	struct sts_fetch	*f = arg;
	struct netaddr		 na;
	size_t			 i;

	for (i = 0; i < a->nrr && f->naddrs < FETCH_ADDRS; i++) {
		memset(&na, 0, sizeof(na));
		na.af = af;
		memcpy(na.addr, a->rr[i].addr, af == AF_INET ? 4 : 16);
		if (!f->d->conf->queue.allow_private_mx &&
		    netaddr_is_private(&na)) {
			f->private_skipped = 1;
			continue;
		}
		f->addrs[f->naddrs++] = na;
	}
	if (a->rcode == DNS_R_TEMPFAIL && f->error[0] == '\0')
		snprintf(f->error, sizeof(f->error), "%s: DNS look-up failed",
		    f->host);
	if (--f->pending == 0)
		fetch_try(f);
}

static void
on_a(void *arg, const struct dns_answer *a)
{
	on_addr(arg, a, AF_INET);
}

static void
on_aaaa(void *arg, const struct dns_answer *a)
{
	on_addr(arg, a, AF_INET6);
}

/* The callback runs later, never from inside this call. */
struct sts_fetch *
sts_fetch_start(struct deliverd *d, const char *domain, sts_fetch_cb cb,
    void *arg)
{
	struct sts_fetch	*f;
	struct timeval		 tv = { FETCH_TIMEOUT_MAX, 0 };

	if ((f = calloc(1, sizeof(*f))) == NULL)
		fatal("MTA-STS fetch");
	f->d = d;
	f->cb = cb;
	f->arg = arg;
	snprintf(f->host, sizeof(f->host), "mta-sts.%s", domain);
	if (d->conf->timeouts.command < FETCH_TIMEOUT_MAX)
		tv.tv_sec = d->conf->timeouts.command;
	if ((f->timer = evtimer_new(d->child->base, on_timeout, f)) == NULL ||
	    evtimer_add(f->timer, &tv) == -1)
		fatalx("MTA-STS fetch timer");
	f->pending = 2;
	f->dns[0] = dns_lookup(d->dns, DNS_T_A, f->host, on_a, f);
	f->dns[1] = dns_lookup(d->dns, DNS_T_AAAA, f->host, on_aaaa, f);
	return f;
}
