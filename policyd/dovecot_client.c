/*
 * dovecot_client: one AUTH over Dovecot's auth-client protocol
 * (dovecot_client.h).
 *
 * The AUTH line holds the password: it is built on the stack, written
 * with one write(2) (a few hundred octets into an empty socket) and
 * wiped, never left in a library's buffer.  Anything unexpected from
 * Dovecot is a temporary failure (454), never a wrong password.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "base64.h"
#include "config.h"
#include "dovecot_client.h"
#include "log.h"

#define DV_LINE_MAX	8192	/* Dovecot's lines: MECH, FAIL reasons */

enum dv_state {
	DV_CONNECTING,		/* waiting for the socket to be writable */
	DV_HANDSHAKE,		/* reading up to DONE */
	DV_WAIT			/* AUTH sent */
};

struct dovecot_req {
	struct event_base	*base;
	struct event		*ev;
	int			 fd;
	enum dv_state		 state;
	int			 plain;		/* PLAIN is offered */
	unsigned		 timeout;
	char			 user[AUTH_USER_MAX + 1];
	char			 pass[AUTH_PASS_MAX + 1];
	char			 rip[64];
	char			 lip[64];
	char			 buf[DV_LINE_MAX];
	size_t			 len;
	dovecot_cb		 cb;
	void			*arg;
};

static void	dv_event(int, short, void *);

static void
dv_free(struct dovecot_req *d)
{
	event_free(d->ev);
	close(d->fd);
	explicit_bzero(d, sizeof(*d));
	free(d);
}

static void
dv_done(struct dovecot_req *d, enum dovecot_result res, const char *why)
{
	dovecot_cb	 cb = d->cb;
	void		*arg = d->arg;

	dv_free(d);
	cb(arg, res, why);
}

static int
dv_write(struct dovecot_req *d, const char *s, size_t n)
{
	ssize_t w;

	if ((w = write(d->fd, s, n)) == -1 || (size_t)w != n)
		return -1;
	return 0;
}

/* The handshake: our version and process id. */
static int
send_hello(struct dovecot_req *d)
{
	char	line[64];
	int	n;

	n = snprintf(line, sizeof(line), "VERSION\t1\t2\nCPID\t%ld\n",
	    (long)getpid());
	return dv_write(d, line, (size_t)n);
}

/* The AUTH line, built, written and wiped here. */
static int
send_auth(struct dovecot_req *d)
{
	uint8_t	 raw[AUTH_USER_MAX + AUTH_PASS_MAX + 2];
	char	 resp[B64_LEN(sizeof(raw)) + 1];
	char	 line[sizeof(resp) + 256];
	size_t	 ul = strlen(d->user), pl = strlen(d->pass);
	int	 n, rv = -1;

	/* authzid empty, authcid, password (RFC 4616). */
	raw[0] = '\0';
	memcpy(raw + 1, d->user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, d->pass, pl);
	if (b64_encode(raw, ul + pl + 2, resp, sizeof(resp)) == -1)
		goto out;
	n = snprintf(line, sizeof(line), "AUTH\t1\tPLAIN\tservice=smtp\t"
	    "secured\trip=%s\tlip=%s\tresp=%s\n", d->rip, d->lip, resp);
	if (n < 0 || (size_t)n >= sizeof(line))
		goto out;
	rv = dv_write(d, line, (size_t)n);
	explicit_bzero(line, sizeof(line));
 out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(resp, sizeof(resp));
	explicit_bzero(d->pass, sizeof(d->pass));
	return rv;
}

/* Dovecot's reason, for the log, from a FAIL line: reason=... */
static const char *
fail_reason(char *line)
{
	char *p;

	if ((p = strstr(line, "\treason=")) == NULL)
		return "";
	p += 8;
	p[strcspn(p, "\t")] = '\0';
	return p;
}

/* One line from Dovecot; 1: the request is over (d freed). */
static int
dv_line(struct dovecot_req *d, char *line)
{
	if (d->state == DV_HANDSHAKE) {
		if (strncmp(line, "MECH\tPLAIN", 10) == 0 &&
		    (line[10] == '\0' || line[10] == '\t'))
			d->plain = 1;
		if (strcmp(line, "DONE") != 0)
			return 0;
		if (!d->plain) {
			dv_done(d, DV_TEMP, "Dovecot does not offer PLAIN");
			return 1;
		}
		if (send_auth(d) == -1) {
			dv_done(d, DV_TEMP, "writing to Dovecot failed");
			return 1;
		}
		d->state = DV_WAIT;
		return 0;
	}
	if (strncmp(line, "OK\t1", 4) == 0 && (line[4] == '\0' ||
	    line[4] == '\t')) {
		dv_done(d, DV_OK, "");
		return 1;
	}
	if (strncmp(line, "FAIL\t1", 6) == 0 && (line[6] == '\0' ||
	    line[6] == '\t')) {
		if (strstr(line, "\ttemp") != NULL)
			dv_done(d, DV_TEMP, fail_reason(line));
		else
			dv_done(d, DV_FAIL, fail_reason(line));
		return 1;
	}
	dv_done(d, DV_TEMP, "an unexpected answer from Dovecot");
	return 1;
}

static void
dv_read(struct dovecot_req *d)
{
	ssize_t	 n;
	char	*nl, *p;

	n = read(d->fd, d->buf + d->len, sizeof(d->buf) - 1 - d->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		dv_done(d, DV_TEMP, n == 0 ? "Dovecot closed the connection" :
		    strerror(errno));
		return;
	}
	d->len += (size_t)n;
	d->buf[d->len] = '\0';
	p = d->buf;
	while ((nl = memchr(p, '\n', d->len - (size_t)(p - d->buf))) !=
	    NULL) {
		*nl = '\0';
		if (dv_line(d, p) == 1)
			return;
		p = nl + 1;
	}
	d->len -= (size_t)(p - d->buf);
	memmove(d->buf, p, d->len);
	if (d->len == sizeof(d->buf) - 1)
		dv_done(d, DV_TEMP, "a line too long from Dovecot");
}

static void
dv_event(int fd, short what, void *arg)
{
	struct dovecot_req	*d = arg;
	struct timeval		 tv = { d->timeout, 0 };

	(void)fd;
	if (what & EV_TIMEOUT) {
		dv_done(d, DV_TEMP, "Dovecot did not answer in time");
		return;
	}
	if (d->state != DV_CONNECTING) {
		dv_read(d);
		return;
	}
	/* Connected, or failed: the first write says which. */
	if (send_hello(d) == -1) {
		dv_done(d, DV_TEMP, strerror(errno));
		return;
	}
	d->state = DV_HANDSHAKE;
	event_free(d->ev);
	if ((d->ev = event_new(d->base, d->fd, EV_READ |
	    EV_PERSIST, dv_event, d)) == NULL || event_add(d->ev, &tv) == -1)
		fatalx("dovecot client event");
}

struct dovecot_req *
dovecot_auth(struct event_base *base, int fd, const struct dovecot_ask *a,
    unsigned timeout, dovecot_cb cb, void *arg)
{
	struct dovecot_req	*d;
	struct timeval		 tv = { timeout, 0 };

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		close(fd);
		return NULL;
	}
	d->base = base;
	d->fd = fd;
	d->timeout = timeout;
	d->cb = cb;
	d->arg = arg;
	if (strlcpy(d->user, a->user, sizeof(d->user)) >= sizeof(d->user) ||
	    strlcpy(d->pass, a->pass, sizeof(d->pass)) >= sizeof(d->pass) ||
	    strlcpy(d->rip, a->rip, sizeof(d->rip)) >= sizeof(d->rip) ||
	    strlcpy(d->lip, a->lip, sizeof(d->lip)) >= sizeof(d->lip) ||
	    strpbrk(d->user, "\t\n") != NULL ||
	    (d->ev = event_new(base, fd, EV_WRITE, dv_event, d)) == NULL ||
	    event_add(d->ev, &tv) == -1) {
		if (d->ev != NULL)
			event_free(d->ev);
		close(fd);
		explicit_bzero(d, sizeof(*d));
		free(d);
		return NULL;
	}
	return d;
}

void
dovecot_cancel(struct dovecot_req *d)
{
	if (d != NULL)
		dv_free(d);
}
