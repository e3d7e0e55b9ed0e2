/*
 * queue_postmaster: the parent's notices to the operator's postmaster
 * (M_SC_NOTICE, msg_selfcheck.h): a plain-text message from
 * MAILER-DAEMON with the null sender, written, synced and committed as a
 * delivery notice is (TASK_DSN, queue_dsn.c), then queued like any
 * message.  A notice that cannot be written is logged and dropped: the
 * parent logged what it says too, and will say it again at its next run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "config.h"
#include "idn.h"
#include "log.h"
#include "mailaddr.h"
#include "marshal.h"
#include "msg_selfcheck.h"
#include "queued.h"

#define NOTICE_SUBJECT_MAX	256

/* Printable ASCII in lines of at most SC_NOTICE_LINE octets. */
static int
notice_text_ok(const char *s)
{
	size_t col = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\n') {
			col = 0;
			continue;
		}
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    ++col >= SC_NOTICE_LINE)
			return 0;
	}
	return 1;
}

/* The operator's postmaster: a tenant's, or out by its MX. */
static int
notice_route(struct queued *q, struct dsn_spec *s)
{
	const struct tenant_conf	*t;
	const char			*at;
	char				 dom[MAILADDR_DOMAIN_MAX + 1];

	if ((at = strrchr(s->sender, '@')) == NULL)
		return -1;
	if (at[1] == '[')
		strlcpy(dom, at + 1, sizeof(dom));
	else if (idn_to_alabel(at + 1, dom, sizeof(dom)) == -1)
		return -1;
	if ((s->domain = strdup(dom)) == NULL)
		return -1;
	if (dom[0] != '[' && (t = conf_domain_tenant(q->conf, dom)) != NULL) {
		s->dir = DIR_INBOUND;
		s->route = ROUTE_TENANT;
		strlcpy(s->tenant, t->name, sizeof(s->tenant));
	} else {
		s->dir = DIR_OUTBOUND;
		s->route = ROUTE_MX;
	}
	return 0;
}

void
notice_request(struct queued *q, struct imsg *imsg)
{
	struct dsn_spec	*s;
	struct task	*j;
	struct mr	 r;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->subject = malloc(NOTICE_SUBJECT_MAX)) == NULL)
		fatal("notice");
	s->kind = DSN_OPERATOR;
	s->orig_fd = -1;
	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, s->subject, NOTICE_SUBJECT_MAX);
	s->text = mr_strdup(&r);
	if (mr_end(&r) == -1 || s->text == NULL || q->conf == NULL ||
	    strchr(s->subject, '\n') != NULL || !notice_text_ok(s->subject) ||
	    !notice_text_ok(s->text))
		child_peer_broken(q->child, PROC_PARENT, imsg, "notice");
	s->sender = strdup(q->conf->postmaster);
	s->hostname = strdup(q->conf->hostname);
	s->arrival = time(NULL);
	if (s->sender == NULL || s->hostname == NULL ||
	    notice_route(q, s) == -1) {
		log_warnx("a notice to the postmaster <%s> cannot be routed; "
		    "dropped: %s", q->conf->postmaster, s->subject);
		dsn_spec_free(s);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("notice");
	j->kind = TASK_DSN;
	j->fd = -1;
	j->dsn = s;
	committer_submit(q->cm, j);
}

/* Written and committed (or not): queue it. */
void
notice_done(struct queued *q, struct task *j)
{
	struct dsn_spec	*s = j->dsn;
	struct qmsg	*m;
	char		 nid[32];

	if (j->err != 0) {
		log_warnx("the notice to the postmaster <%s> could not be "
		    "queued: %s; dropped: %s", s->sender, strerror(j->err),
		    s->subject);
		envelope_free(j->env);
	} else {
		queue_id_format(j->env->id, nid, sizeof(nid));
		log_info("msgid=%s: notice to the postmaster <%s> queued: %s",
		    nid, s->sender, s->subject);
		m = queue_insert(q, j->env);
		sched_add(q, m);
		sched_wake(q);
	}
	dsn_spec_free(s);
}
