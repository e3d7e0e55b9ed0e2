/*
 * queue_auth: the AUTH grants policyd gives (msg_auth.h), the source of
 * truth for what an authenticated session may relay.
 *
 * smtpd relays an authenticated user's mail out as the user's tenant;
 * queued does not take smtpd's word for it.  Only policyd, which asked
 * Dovecot, says "session S of smtpd is user U of tenant T", and
 * queue_verify.c derives the envelope's tenant from that grant.  A
 * session without one relays only as its network's tenant.
 */
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "log.h"
#include "marshal.h"
#include "msg_auth.h"
#include "queued.h"

#define GRANTS_MAX	65536	/* smtpd's sessions */

struct grant {
	RB_ENTRY(grant)		 entry;
	uint64_t		 sid;
	char			 tenant[TENANT_MAX + 1];
	char			 user[AUTH_USER_MAX + 1];
};
RB_HEAD(grant_tree, grant);
RB_PROTOTYPE_INTERNAL(grant_tree, grant, entry, grant_cmp,
    static __attribute__((unused)))

static int
grant_cmp(struct grant *a, struct grant *b)
{
	return a->sid < b->sid ? -1 : a->sid > b->sid;
}
RB_GENERATE_INTERNAL(grant_tree, grant, entry, grant_cmp,
    static __attribute__((unused)))

struct auth_grants {
	struct grant_tree	 tree;
	size_t			 n;
};

static struct auth_grants *
grants(struct queued *q)
{
	if (q->grants == NULL) {
		if ((q->grants = calloc(1, sizeof(*q->grants))) == NULL)
			fatal("auth grants");
		RB_INIT(&q->grants->tree);
	}
	return q->grants;
}

static struct grant *
grant_find(struct queued *q, uint64_t sid)
{
	struct grant find;

	find.sid = sid;
	return RB_FIND(grant_tree, &grants(q)->tree, &find);
}

/* M_A_GRANT and M_A_REVOKE from policyd. */
void
auth_grant_dispatch(struct queued *q, struct imsg *imsg)
{
	struct auth_grants	*ag = grants(q);
	struct grant		*g;
	struct mr		 r;

	g = grant_find(q, imsg->hdr.peerid);
	if (imsg->hdr.type == M_A_REVOKE) {
		if (imsg->datalen != 0)
			child_peer_broken(q->child, PROC_POLICYD, imsg,
			    "malformed M_A_REVOKE");
		if (g != NULL) {
			RB_REMOVE(grant_tree, &ag->tree, g);
			ag->n--;
			free(g);
		}
		return;
	}
	if (g == NULL) {
		if (ag->n >= GRANTS_MAX || (g = calloc(1, sizeof(*g))) ==
		    NULL)
			child_peer_broken(q->child, PROC_POLICYD, imsg,
			    "more grants than smtpd has sessions");
		g->sid = imsg->hdr.peerid;
		RB_INSERT(grant_tree, &ag->tree, g);
		ag->n++;
	}
	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, g->tenant, sizeof(g->tenant));
	mr_str(&r, g->user, sizeof(g->user));
	if (mr_end(&r) != 0)
		child_peer_broken(q->child, PROC_POLICYD, imsg,
		    "malformed M_A_GRANT");
	child_send(q->child, PROC_POLICYD, M_A_GRANTED, imsg->hdr.peerid, -1,
	    NULL, 0);
}

/* The tenant session sid relays as, by policyd's grant; NULL: none. */
const struct tenant_conf *
auth_grant_tenant(struct queued *q, uint64_t sid, const char **user)
{
	struct grant *g;

	if ((g = grant_find(q, sid)) == NULL)
		return NULL;
	*user = g->user;
	return conf_tenant_by_name(q->conf, g->tenant);
}
