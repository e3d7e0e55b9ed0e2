/*
 * metrics: the families, the writer a process uses to answer a scrape,
 * and the checked reader metricsd uses (metrics.h, msg_metrics.h).
 */
#include <string.h>

#include "metrics.h"
#include "msg_metrics.h"

const struct mx_def mx_families[MXF_MAX] = {
	[MXF_UP] = { "relayd_up", MX_GAUGE,
	    "1 if the process answered this scrape in time, else 0." },
	[MXF_SCRAPE_INCOMPLETE] = { "relayd_scrape_incomplete", MX_GAUGE,
	    "1 if a process did not answer this scrape in time, else 0." },
	[MXF_START_TIME] = { "relayd_start_time_seconds", MX_GAUGE,
	    "When relayd started, in seconds since the Epoch." },
	[MXF_CONFIG_GEN] = { "relayd_config_generation", MX_GAUGE,
	    "The configuration generation in force (1 at start, +1 each "
	    "reload)." },
	[MXF_SMTPD_SESSIONS] = { "relayd_smtpd_sessions", MX_GAUGE,
	    "SMTP sessions open now." },
	[MXF_SMTPD_SESSIONS_TOTAL] = { "relayd_smtpd_sessions_total",
	    MX_COUNTER, "SMTP sessions opened, by listener." },
	[MXF_SMTPD_ACCEPTED] = { "relayd_smtpd_messages_accepted_total",
	    MX_COUNTER, "Messages accepted with a 250 at the end of DATA." },
	[MXF_SMTPD_TLS] = { "relayd_smtpd_tls_handshakes_total", MX_COUNTER,
	    "TLS handshakes of SMTP clients, by result (ok, failed)." },
	[MXF_QUEUE_MESSAGES] = { "relayd_queue_messages", MX_GAUGE,
	    "Messages in the queue." },
	[MXF_QUEUE_OLDEST] = { "relayd_queue_oldest_message_age_seconds",
	    MX_GAUGE, "Age of the oldest message in the queue (0: empty)." },
	[MXF_QUEUE_DELIVERIES] = { "relayd_queue_deliveries_total",
	    MX_COUNTER, "Recipients' delivery attempts, by result "
	    "(delivered, deferred, bounced)." },
	[MXF_TENANT_IN] = { "relayd_messages_in_total", MX_COUNTER,
	    "Messages accepted for the tenant's domains (inbound)." },
	[MXF_TENANT_OUT] = { "relayd_messages_out_total", MX_COUNTER,
	    "Messages accepted from the tenant to relay out (outbound)." },
	[MXF_TENANT_DELIVERED] = { "relayd_messages_delivered_total",
	    MX_COUNTER, "Recipients of the tenant delivered." },
	[MXF_TENANT_DEFERRED] = { "relayd_messages_deferred_total",
	    MX_COUNTER, "Delivery attempts of the tenant's recipients "
	    "deferred." },
	[MXF_TENANT_BOUNCED] = { "relayd_messages_bounced_total", MX_COUNTER,
	    "Recipients of the tenant bounced or expired." },
	[MXF_DELIVERD_CONNS] = { "relayd_deliverd_connections", MX_GAUGE,
	    "Outgoing SMTP connections open now." },
	[MXF_DELIVERD_CONNS_TOTAL] = { "relayd_deliverd_connections_total",
	    MX_COUNTER, "Outgoing SMTP connections opened." },
	[MXF_DELIVERD_DELIVERIES] = { "relayd_deliverd_deliveries_total",
	    MX_COUNTER, "Recipients' delivery attempts made by deliverd, by "
	    "result (delivered, deferred, bounced)." },
	[MXF_DNS_QUERIES] = { "relayd_dns_queries_total", MX_COUNTER,
	    "DNS look-ups asked of dnsd." },
	[MXF_DNS_HITS] = { "relayd_dns_cache_hits_total", MX_COUNTER,
	    "DNS look-ups answered from dnsd's cache." },
	[MXF_DNS_FAILURES] = { "relayd_dns_failures_total", MX_COUNTER,
	    "DNS look-ups that failed (timeouts, server failures)." },
	[MXF_DNS_CACHED] = { "relayd_dns_cache_entries", MX_GAUGE,
	    "Answers in dnsd's cache." },
	[MXF_POLICY_VERDICTS] = { "relayd_policy_verdicts_total", MX_COUNTER,
	    "policyd's verdicts, by stage and result (pass, defer, "
	    "reject)." },
	[MXF_KEYD_SIGNATURES] = { "relayd_keyd_signatures_total", MX_COUNTER,
	    "Signatures keyd was asked for, by result (ok, refused)." },
};

void
mx_out_init(struct mx_out *o, int (*flush)(void *, const void *, size_t),
    void *arg)
{
	memset(o, 0, sizeof(*o));
	o->flush = flush;
	o->arg = arg;
	mw_init(&o->w);
}

static int
mx_out_flush(struct mx_out *o)
{
	if (o->n == 0)
		return 0;
	if (o->w.err || o->flush(o->arg, o->w.buf, o->w.len) == -1)
		o->err = 1;
	mw_init(&o->w);
	o->n = 0;
	return o->err ? -1 : 0;
}

void
mx_add(struct mx_out *o, enum mx_family f, const struct mx_label *l,
    size_t nl, uint64_t value)
{
	const struct mx_def	*d;
	size_t			 need, i;

	if (f >= MXF_MAX || nl > MX_LABELS_MAX) {
		o->err = 1;
		return;
	}
	d = &mx_families[f];
	need = strlen(d->name) + 32 + MX_WRAP_RESERVE;
	for (i = 0; i < nl; i++)
		need += strlen(l[i].name) + strlen(l[i].value) + 16;
	if (!mw_fits_str(&o->w, need) && mx_out_flush(o) == -1)
		return;
	if (!mw_fits_str(&o->w, need)) {
		o->err = 1;
		return;
	}
	mw_str(&o->w, d->name);
	mw_u8(&o->w, (uint8_t)d->type);
	mw_u32(&o->w, (uint32_t)f);
	mw_u8(&o->w, (uint8_t)nl);
	for (i = 0; i < nl; i++) {
		mw_str(&o->w, l[i].name);
		mw_str(&o->w, l[i].value);
	}
	mw_u64(&o->w, value);
	o->n++;
}

void
mx_add0(struct mx_out *o, enum mx_family f, uint64_t v)
{
	mx_add(o, f, NULL, 0, v);
}

void
mx_add1(struct mx_out *o, enum mx_family f, const char *name,
    const char *value, uint64_t v)
{
	struct mx_label l = { name, value };

	mx_add(o, f, &l, 1, v);
}

int
mx_out_finish(struct mx_out *o)
{
	(void)mx_out_flush(o);
	return o->err ? -1 : 0;
}

static int
name_char(int ch, int first, int colon)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    ch == '_' || (colon && ch == ':'))
		return 1;
	return !first && ch >= '0' && ch <= '9';
}

int
mx_valid_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!name_char((unsigned char)s[i], i == 0, 1))
			return 0;
	return i > 0;
}

int
mx_valid_label(const char *s)
{
	size_t i;

	if (s[0] == '_' && s[1] == '_')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!name_char((unsigned char)s[i], i == 0, 0))
			return 0;
	return i > 0;
}

size_t
mx_escape(const char *s, char *dst, size_t sz)
{
	size_t		 o = 0;
	const char	*esc;
	char		 one[2];

	if (sz == 0)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\\')
			esc = "\\\\";
		else if (ch == '"')
			esc = "\\\"";
		else if (ch == '\n')
			esc = "\\n";
		else {
			one[0] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
			one[1] = '\0';
			esc = one;
		}
		if (o + strlen(esc) >= sz)
			break;
		memcpy(dst + o, esc, strlen(esc));
		o += strlen(esc);
	}
	dst[o] = '\0';
	return o;
}

static int
read_sample(struct mr *r, struct mx_sample *s, const char **why)
{
	size_t i, j;

	memset(s, 0, sizeof(*s));
	mr_str(r, s->name, sizeof(s->name));
	s->type = (enum mx_type)mr_u8(r);
	s->family = mr_u32(r);
	s->nlabels = mr_u8(r);
	if (r->err || s->nlabels > MX_LABELS_MAX) {
		*why = "malformed sample";
		return -1;
	}
	for (i = 0; i < s->nlabels; i++) {
		mr_str(r, s->lname[i], sizeof(s->lname[i]));
		mr_str(r, s->lvalue[i], sizeof(s->lvalue[i]));
	}
	s->value = mr_u64(r);
	if (r->err) {
		*why = "malformed sample";
		return -1;
	}
	if (!mx_valid_name(s->name)) {
		*why = "a metric name out of syntax";
		return -1;
	}
	if (s->family >= MXF_MAX ||
	    strcmp(mx_families[s->family].name, s->name) != 0 ||
	    mx_families[s->family].type != s->type) {
		*why = "a metric not of its family";
		return -1;
	}
	for (i = 0; i < s->nlabels; i++) {
		if (!mx_valid_label(s->lname[i])) {
			*why = "a label name out of syntax";
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(s->lname[i], s->lname[j]) == 0) {
				*why = "a label given twice";
				return -1;
			}
	}
	return 0;
}

int
mx_decode(const void *buf, size_t len,
    int (*fn)(void *, const struct mx_sample *), void *arg, const char **why)
{
	struct mr		 r;
	struct mx_sample	 s;

	mr_init(&r, buf, len);
	if (len == 0) {
		*why = "no samples";
		return -1;
	}
	while (r.off < r.len) {
		if (read_sample(&r, &s, why) == -1)
			return -1;
		if (fn(arg, &s) == -1) {
			*why = "too many samples";
			return -1;
		}
	}
	return mr_end(&r);
}
