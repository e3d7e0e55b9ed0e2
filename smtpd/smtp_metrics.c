/*
 * smtp_metrics: smtpd's samples for a metrics scrape (metrics.h): its
 * sessions, the messages it accepted and its TLS handshakes.  Counters
 * are kept where the events happen; nothing here runs per message.
 */
#include "child.h"
#include "metrics.h"
#include "smtpd.h"

void
smtp_metrics(struct child *c, struct mx_out *o)
{
	struct smtpd	*sd = c->state;
	int		 m;

	mx_add0(o, MXF_SMTPD_SESSIONS, sd->nsessions);
	for (m = LISTEN_MX; m <= LISTEN_SMTPS; m++)
		mx_add1(o, MXF_SMTPD_SESSIONS_TOTAL, "listener",
		    conf_listen_mode_name((enum listen_mode)m),
		    sd->sessions_total[m]);
	mx_add0(o, MXF_SMTPD_ACCEPTED, sd->accepted);
	mx_add1(o, MXF_SMTPD_TLS, "result", "ok", sd->tls_sessions);
	mx_add1(o, MXF_SMTPD_TLS, "result", "failed", sd->tls_failed);
}
