/*
 * smtp_rdns: the client's forward-confirmed reverse name, asked of dnsd
 * when the client connects, for the Received: field and the log.  The
 * message waits for the answer only if it is not there by DATA.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_client.h"
#include "log.h"
#include "msg_dns.h"
#include "smtpd.h"

static void
on_rdns(void *arg, const struct dns_answer *a)
{
	struct smtpd	*sd = smtpd_env;
	struct session	*s = session_find(sd, (uint64_t)(uintptr_t)arg);

	if (s == NULL)
		return;		/* the client left meanwhile */
	s->rdns_pending = 0;
	if (a->rcode == DNS_R_OK && a->nrr == 1)
		s->rdns = strdup(a->rr[0].name);
	if (s->rdns != NULL)
		log_debug("session %llu: [%s] is %s",
		    (unsigned long long)s->id, s->addr, s->rdns);
	if (s->file_waiting) {
		s->file_waiting = 0;
		command_file_ready(s);
		session_resume(s);
	}
}

void
rdns_start(struct session *s)
{
	s->rdns_pending = 1;
	dns_lookup(s->sd->dns, DNS_Q_FCRDNS, s->addr, on_rdns,
	    (void *)(uintptr_t)s->id);
}
