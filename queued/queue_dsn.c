/*
 * queue_dsn: delivery status notifications (RFC 3464), written on a
 * worker thread: multipart/report from MAILER-DAEMON with the null sender,
 * a human part, the delivery-status part and the original's headers (or
 * the whole original for RET=FULL, up to DSN_FULL_MAX, then headers only).
 * For SMTPUTF8 originals the parts are message/global-delivery-status and
 * message/global-headers (RFC 6533).  The operator's notices
 * (DSN_OPERATOR, queue_postmaster.c) are plain text from MAILER-DAEMON too,
 * Auto-Submitted: auto-generated.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"
#include "queued.h"

#define DSN_FULL_MAX	(1024 * 1024)	/* RET=FULL up to this size */
#define DSN_HDRS_MAX	(256 * 1024)	/* headers beyond this are cut */

struct out {
	int	fd;
	char	buf[16384];
	size_t	len;
	int	err;
	int	has8bit;
	uint64_t total;
};

static void
out_flush(struct out *o)
{
	if (o->err == 0)
		o->err = write_full(o->fd, o->buf, o->len, NULL);
	o->len = 0;
}

static void
out_bytes(struct out *o, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t take, i;

	for (i = 0; i < n; i++)
		if (b[i] & 0x80) {
			o->has8bit = 1;
			break;
		}
	o->total += n;
	while (n > 0 && o->err == 0) {
		take = sizeof(o->buf) - o->len;
		if (take > n)
			take = n;
		memcpy(o->buf + o->len, b, take);
		o->len += take;
		b += take;
		n -= take;
		if (o->len == sizeof(o->buf))
			out_flush(o);
	}
}

static void __attribute__((format(printf, 2, 3)))
out_printf(struct out *o, const char *fmt, ...)
{
	char	line[2048];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_bytes(o, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1);
}

/* Text from remote servers goes into headers: printable, one line. */
static void
clean(char *dst, const char *src, size_t sz)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < sz; i++)
		dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ?
		    ' ' : src[i];
	dst[i] = '\0';
}

static void
date822(int64_t t, char *buf, size_t sz)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	localtime_r(&tt, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

static const char *
subject(enum dsn_kind k)
{
	return k == DSN_FAILURE ? "Undelivered Mail Returned to Sender" :
	    k == DSN_DELAY ? "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report";
}

static void
human_part(struct out *o, const struct dsn_spec *s)
{
	char	diag[1024];
	size_t	i;

	out_printf(o, "This is the mail system at host %s.\r\n\r\n",
	    s->hostname);
	if (s->kind == DSN_FAILURE)
		out_printf(o, "Your message could not be delivered to one or "
		    "more recipients.\r\nIt is attached below.\r\n\r\n");
	else if (s->kind == DSN_DELAY)
		out_printf(o, "Your message could not be delivered yet.  It "
		    "will be tried again;\r\nyou need not send it again.\r\n"
		    "\r\n");
	else
		out_printf(o, "Your message was relayed to a mail system that "
		    "does not send\r\ndelivery notifications; this is the last "
		    "one you will get for:\r\n\r\n");
	for (i = 0; i < s->nitems; i++) {
		clean(diag, s->items[i].diag, sizeof(diag));
		out_printf(o, "<%s>: %s\r\n", s->items[i].rcpt, diag);
	}
	out_printf(o, "\r\n");
}

/* ORCPT is "type;xtext": RFC 3464 writes it "type; xtext". */
static void
original_recipient(struct out *o, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');

	if (semi == NULL)
		return;
	out_printf(o, "Original-Recipient: %.*s; %s\r\n",
	    (int)(semi - orcpt), orcpt, semi + 1);
}

static void
status_part(struct out *o, const struct dsn_spec *s, const char *qid)
{
	char		 date[64], diag[1024];
	const char	*action = s->kind == DSN_FAILURE ? "failed" :
	    s->kind == DSN_DELAY ? "delayed" : "relayed";
	size_t		 i;

	out_printf(o, "Reporting-MTA: dns; %s\r\n", s->hostname);
	out_printf(o, "X-Relayd-Queue-ID: %s\r\n", qid);
	if (s->envid[0])
		out_printf(o, "Original-Envelope-Id: %s\r\n", s->envid);
	date822(s->arrival, date, sizeof(date));
	out_printf(o, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < s->nitems; i++) {
		const struct dsn_item *it = &s->items[i];

		out_printf(o, "\r\nFinal-Recipient: %s; %s\r\n",
		    s->smtputf8 ? "utf-8" : "rfc822", it->rcpt);
		if (it->orcpt)
			original_recipient(o, it->orcpt);
		out_printf(o, "Action: %s\r\nStatus: %s\r\n", action,
		    it->status);
		if (it->remote)
			out_printf(o, "Remote-MTA: dns; %s\r\n", it->remote);
		clean(diag, it->diag, sizeof(diag));
		if (diag[0] >= '2' && diag[0] <= '5' && diag[1] >= '0' &&
		    diag[1] <= '9' && diag[2] >= '0' && diag[2] <= '9' &&
		    diag[3] == ' ')
			out_printf(o, "Diagnostic-Code: smtp; %s\r\n", diag);
		else
			out_printf(o, "Diagnostic-Code: X-Relayd; %s\r\n", diag);
		if (s->kind == DSN_DELAY && s->retry_until > 0) {
			date822(s->retry_until, date, sizeof(date));
			out_printf(o, "Will-Retry-Until: %s\r\n", date);
		}
	}
}

/*
 * Where the header section ends: the offset of the empty line that ends
 * it (CRLF CRLF, or LF LF for a bare-LF message), or -1.
 */
static ssize_t
header_end(const char *buf, size_t n)
{
	size_t	i;
	int	bol = 1;

	for (i = 0; i < n; i++) {
		if (bol && buf[i] == '\n')
			return (ssize_t)i;
		if (bol && buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n')
			return (ssize_t)i;
		bol = buf[i] == '\n';
	}
	return -1;
}

/* The original's header section, read whole (up to DSN_HDRS_MAX). */
static void
original_headers(struct out *o, int fd)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n, end;

	if ((buf = malloc(DSN_HDRS_MAX)) == NULL) {
		o->err = ENOMEM;
		return;
	}
	while (len < DSN_HDRS_MAX &&
	    (n = pread(fd, buf + len, DSN_HDRS_MAX - len, (off_t)len)) > 0)
		len += (size_t)n;
	if ((end = header_end(buf, len)) != -1)
		out_bytes(o, buf, (size_t)end);
	else {
		out_bytes(o, buf, len);
		out_printf(o, "\r\nX-Relayd-Note: %s\r\n", len ==
		    DSN_HDRS_MAX ? "headers cut here" : "no body");
	}
	free(buf);
}

/* The whole original, as it was received. */
static void
original_full(struct out *o, int fd)
{
	char	buf[16384];
	off_t	off = 0;
	ssize_t	n;
	int	crlf = 0;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		out_bytes(o, buf, (size_t)n);
		crlf = n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n';
		off += n;
	}
	if (!crlf)
		out_printf(o, "\r\n");
}

static void
original_part(struct out *o, const struct dsn_spec *s, int full)
{
	if (s->orig_fd == -1)
		out_printf(o, "X-Relayd-Note: the original message is gone\r\n");
	else if (full)
		original_full(o, s->orig_fd);
	else
		original_headers(o, s->orig_fd);
}

static int
want_full(const struct dsn_spec *s)
{
	struct stat st;

	return s->kind == DSN_FAILURE && s->ret == RET_FULL &&
	    s->orig_fd != -1 && fstat(s->orig_fd, &st) == 0 &&
	    st.st_size <= DSN_FULL_MAX;
}

static void
write_notice(struct out *o, const struct dsn_spec *s, uint64_t id)
{
	char	qid[32], oid[32], date[64], boundary[96];
	int	full = want_full(s);
	const char *g = s->smtputf8 ? "global" : "";

	queue_id_format(id, qid, sizeof(qid));
	queue_id_format(s->orig_id, oid, sizeof(oid));
	snprintf(boundary, sizeof(boundary), "%s/%s", qid, s->hostname);
	date822(time(NULL), date, sizeof(date));
	out_printf(o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    s->hostname);
	out_printf(o, "To: <%s>\r\n", s->sender);
	out_printf(o, "Subject: %s\r\n", subject(s->kind));
	out_printf(o, "Date: %s\r\n", date);
	out_printf(o, "Message-ID: <%s.dsn@%s>\r\n", qid, s->hostname);
	out_printf(o, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	out_printf(o, "Content-Type: multipart/report; report-type="
	    "delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary);
	out_printf(o, "This is a MIME-encapsulated message.\r\n\r\n");
	out_printf(o, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=%s\r\n\r\n", boundary,
	    s->smtputf8 ? "utf-8" : "us-ascii");
	human_part(o, s);
	out_printf(o, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/%sdelivery-status\r\n\r\n", boundary,
	    s->smtputf8 ? "global-" : "");
	status_part(o, s, oid);
	out_printf(o, "\r\n--%s\r\n", boundary);
	if (full)
		out_printf(o, "Content-Description: Undelivered Message\r\n"
		    "Content-Type: message/%s\r\n\r\n", s->smtputf8 ? g :
		    "rfc822");
	else
		out_printf(o, "Content-Description: Message Headers\r\n"
		    "Content-Type: %s\r\n\r\n", s->smtputf8 ?
		    "message/global-headers" : "text/rfc822-headers");
	original_part(o, s, full);
	out_printf(o, "\r\n--%s--\r\n", boundary);
}

/* A notice of relayd's own to the operator: the parent's text, as is. */
static void
write_operator(struct out *o, const struct dsn_spec *s, uint64_t id)
{
	char		 qid[32], date[64];
	const char	*p;
	size_t		 len;

	queue_id_format(id, qid, sizeof(qid));
	date822(time(NULL), date, sizeof(date));
	out_printf(o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    s->hostname);
	out_printf(o, "To: <%s>\r\n", s->sender);
	out_printf(o, "Subject: %s\r\n", s->subject);
	out_printf(o, "Date: %s\r\n", date);
	out_printf(o, "Message-ID: <%s.notice@%s>\r\n", qid, s->hostname);
	out_printf(o, "Auto-Submitted: auto-generated\r\nMIME-Version: "
	    "1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
	for (p = s->text; *p != '\0'; p += len + (p[len] == '\n')) {
		len = strcspn(p, "\n");
		out_bytes(o, p, len);
		out_printf(o, "\r\n");
	}
}

/* The notice's envelope: from <>, to the original sender. */
static struct envelope *
notice_envelope(const struct dsn_spec *s, uint64_t id, uint64_t size,
    int has8bit)
{
	struct envelope	*e;
	struct rcpt	*r;

	if ((e = envelope_new()) == NULL || (e->sender = strdup("")) == NULL ||
	    (r = envelope_add_rcpt(e)) == NULL) {
		envelope_free(e);
		return NULL;
	}
	e->id = id;
	strlcpy(e->helo, "localhost", sizeof(e->helo));
	e->client.af = AF_INET;
	e->created = time(NULL);
	e->size = size;
	e->body = has8bit ? BODY_8BITMIME : BODY_7BIT;
	e->smtputf8 = s->smtputf8;
	e->flags = ENVF_BOUNCE;
	r->addr = strdup(s->sender);
	r->domain = strdup(s->domain);
	r->dir = s->dir;
	r->route = s->route;
	strlcpy(r->tenant, s->tenant, sizeof(r->tenant));
	if (r->addr == NULL || r->domain == NULL) {
		envelope_free(e);
		return NULL;
	}
	return e;
}

int
dsn_write(int spool_fd, struct dsn_spec *s, struct envelope **envp,
    char *err, size_t errsz)
{
	struct out	*o;
	uint64_t	 id;
	char		 name[32];
	int		 fd, saved;

	*envp = NULL;
	if ((fd = spool_create(spool_fd, &id)) == -1) {
		snprintf(err, errsz, "spool file: %s", strerror(errno));
		return -1;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		saved = errno;
		goto fail;
	}
	o->fd = fd;
	if (s->kind == DSN_OPERATOR)
		write_operator(o, s, id);
	else
		write_notice(o, s, id);
	out_flush(o);
	if (o->err != 0 || fsync(fd) == -1) {
		saved = o->err ? o->err : errno;
		snprintf(err, errsz, "writing: %s", strerror(saved));
		goto fail;
	}
	if ((*envp = notice_envelope(s, id, o->total, o->has8bit)) == NULL) {
		saved = ENOMEM;
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	close(fd);
	free(o);
	return 0;
fail:
	free(o);
	close(fd);
	queue_id_format(id, name, sizeof(name));
	unlinkat(spool_fd, name, 0);
	errno = saved;
	return -1;
}

void
dsn_spec_free(struct dsn_spec *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nitems; i++) {
		free(s->items[i].rcpt);
		free(s->items[i].orcpt);
		free(s->items[i].diag);
		free(s->items[i].remote);
	}
	free(s->items);
	if (s->orig_fd != -1)
		close(s->orig_fd);
	free(s->sender);
	free(s->hostname);
	free(s->domain);
	free(s->subject);
	free(s->text);
	free(s);
}
