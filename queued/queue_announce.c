/*
 * queue_announce: relayctl announce, the operator's text to every
 * tenant's contacts (or those with one role), each address once.
 *
 * The parent passes the text in parts (M_CTL_TEXT) and then the request
 * (announce.h); both come from the parent, which checked the text, but it
 * is checked again here before anything is written.  The message is a
 * notice (queue_notice.c) of the kind NK_ANNOUNCE, of no tenant: from the
 * relay's postmaster, to the contacts in the envelope alone (the header
 * says "undisclosed-recipients", so that no tenant learns another's
 * contacts), written, synced and committed as notices are, and answered
 * once it is queued.  A tenant with no contact of the role gets none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "announce.h"
#include "child.h"
#include "control_req.h"
#include "log.h"
#include "msg_parent.h"
#include "queued.h"

/* The text as its parts come, for one request. */
struct announce {
	uint64_t	 req;
	char		*p;
	size_t		 len;
};

static void
pending_drop(struct queued *q)
{
	if (q->announce != NULL)
		free(q->announce->p);
	free(q->announce);
	q->announce = NULL;
}

/* M_CTL_TEXT: a part of the text of the request it names. */
void
announce_part(struct queued *q, struct imsg *imsg)
{
	struct announce	*a = q->announce;
	char		*np;

	if (imsg->datalen == 0 || imsg->datalen > ANNOUNCE_PART)
		child_peer_broken(q->child, PROC_PARENT, imsg, "text");
	if (a != NULL && a->req != imsg->hdr.peerid)
		pending_drop(q);	/* a request that never came */
	if ((a = q->announce) == NULL) {
		if ((a = calloc(1, sizeof(*a))) == NULL)
			fatal("announce");
		a->req = imsg->hdr.peerid;
		q->announce = a;
	}
	if (a->len + imsg->datalen > ANNOUNCE_MAX)
		child_peer_broken(q->child, PROC_PARENT, imsg, "text too long");
	if ((np = realloc(a->p, a->len + imsg->datalen)) == NULL)
		fatal("announce");
	memcpy(np + a->len, imsg->data, imsg->datalen);
	a->p = np;
	a->len += imsg->datalen;
}

/* Every contact of the role (or any), each address once. */
static struct envelope *
announce_envelope(struct queued *q, unsigned roles, size_t *n)
{
	const struct tenant_conf	*tc;
	struct envelope			*e;
	struct rcpt			*r;
	size_t				 i, k, j;
	int				 seen;

	if ((e = envelope_new()) == NULL ||
	    (e->sender = strdup(q->conf->postmaster)) == NULL)
		goto fail;
	strlcpy(e->helo, "localhost", sizeof(e->helo));
	e->client.af = AF_INET;
	e->created = time(NULL);
	e->body = BODY_7BIT;
	e->flags = ENVF_BOUNCE | ENVF_NOTICE;
	for (i = 0; i < q->conf->ntenants; i++) {
		tc = &q->conf->tenants[i];
		for (k = 0; k < tc->ncontacts; k++) {
			const char *addr = tc->contacts[k].email;

			if ((tc->contacts[k].roles & roles) == 0)
				continue;
			for (seen = 0, j = 0; j < e->nrcpts && !seen; j++)
				seen = strcasecmp(e->rcpts[j].addr, addr) == 0;
			if (seen)
				continue;
			if ((r = envelope_add_rcpt(e)) == NULL ||
			    notice_rcpt_route(q->conf, r, addr) == -1)
				goto fail;
		}
	}
	*n = e->nrcpts;
	return e;
fail:
	envelope_free(e);
	return NULL;
}

/* Headers, then the text with its lines ended by CRLF. */
static int
announce_compose(struct queued *q, const char *text, size_t len,
    struct tbuf *b, int *eightbit)
{
	char		 subject[ANNOUNCE_SUBJECT_MAX + 1], date[64];
	size_t		 skip, i, start;
	time_t		 now = time(NULL);
	struct tm	 tm;

	announce_subject(text, len, subject, sizeof(subject), &skip);
	*eightbit = 0;
	for (i = skip; i < len; i++)
		if ((unsigned char)text[i] >= 0x80)
			*eightbit = 1;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	tb_printf(b, "From: \"Mail relay %s\" <%s>\r\n"
	    "To: undisclosed-recipients:;\r\n"
	    "Subject: [%s] %s\r\nDate: %s\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "X-Relayd-Notice: announce\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n", q->conf->hostname,
	    q->conf->postmaster, q->conf->hostname, subject, date,
	    *eightbit ? "utf-8" : "us-ascii", *eightbit ? "8bit" : "7bit");
	for (start = i = skip; i < len; i++) {
		if (text[i] != '\n')
			continue;
		tb_printf(b, "%.*s\r\n", (int)(i - start - (i > start &&
		    text[i - 1] == '\r')), text + start);
		start = i + 1;
	}
	if (start < len)
		tb_printf(b, "%.*s\r\n", (int)(len - start), text + start);
	return b->err ? -1 : 0;
}

static int
announce_queue(struct queued *q, uint64_t req, const char *text,
    size_t len, unsigned roles, const char **why)
{
	struct notice_spec	*n;
	struct envelope		*e;
	struct task		*j;
	struct tbuf		 b;
	size_t			 nrcpts;
	int			 eightbit;

	*why = "out of memory";
	if ((e = announce_envelope(q, roles, &nrcpts)) == NULL)
		return -1;
	if (nrcpts == 0) {
		envelope_free(e);
		*why = "no tenant has a contact of that role";
		return -1;
	}
	memset(&b, 0, sizeof(b));
	if (announce_compose(q, text, len, &b, &eightbit) == -1 ||
	    (n = calloc(1, sizeof(*n))) == NULL) {
		free(b.p);
		envelope_free(e);
		return -1;
	}
	n->kind = NK_ANNOUNCE;
	n->text = b.p;
	n->len = b.len;
	n->told = 1;
	n->at = time(NULL);
	n->ctl_req = req;
	if ((n->hostname = strdup(q->conf->hostname)) == NULL ||
	    (j = calloc(1, sizeof(*j))) == NULL) {
		free(n->hostname);
		free(n->text);
		free(n);
		envelope_free(e);
		return -1;
	}
	if (eightbit)
		e->body = BODY_8BITMIME;
	j->kind = TASK_NOTICE;
	j->fd = -1;
	j->env = e;
	j->notice = n;
	committer_submit(q->cm, j);
	*why = NULL;
	return 0;
}

/* The request, after its text: checked again, then queued. */
void
announce_request(struct queued *q, uint64_t req, const struct ctl_req *cr)
{
	struct announce	*a = q->announce;
	const char	*why = NULL;
	unsigned	 roles = CONTACT_ROLES;
	long long	 want;

	want = strtonum(cr->args[0], 1, ANNOUNCE_MAX, &why);
	if (why == NULL && (a == NULL || a->req != req || a->len !=
	    (size_t)want))
		why = "the text did not come whole";
	if (why == NULL)
		why = announce_text_check(a->p, a->len);
	if (why == NULL && cr->nargs == 3 &&
	    (roles = announce_role(cr->args[2])) == 0)
		why = "no such role";
	if (why == NULL && (q->conf == NULL || q->store == NULL))
		why = "queued is not ready";
	if (why == NULL)
		(void)announce_queue(q, req, a->p, a->len, roles, &why);
	else
		log_warnx("announce refused: %s", why);
	if (why != NULL)
		ctl_done(q, req, 0, why);
	pending_drop(q);
}
