/*
 * config_wire: send and rebuild configuration slices.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "config_wire.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "proc.h"

/* A chunked list: items are appended until a frame is full. */
struct chunk {
	struct chan	*c;
	uint32_t	 type;
	struct mw	 w;
	int		 err;
};

static void
chunk_begin(struct chunk *ch, struct chan *c, uint32_t type)
{
	ch->c = c;
	ch->type = type;
	ch->err = 0;
	mw_init(&ch->w);
}

static void
chunk_flush(struct chunk *ch)
{
	if (ch->w.len == 0)
		return;
	if (ch->w.err ||
	    chan_send(ch->c, ch->type, 0, -1, ch->w.buf, ch->w.len) == -1)
		ch->err = 1;
	mw_init(&ch->w);
}

/* Make room for an item of about need bytes. */
static void
chunk_room(struct chunk *ch, size_t need)
{
	if (!mw_fits_str(&ch->w, need))
		chunk_flush(ch);
}

static int
send_msg(struct chan *c, uint32_t type, struct mw *w, int fd)
{
	if (w->err) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return chan_send(c, type, 0, fd, w->buf, w->len);
}

static int
send_global(struct chan *c, const struct conf *conf)
{
	struct mw w;

	mw_init(&w);
	mw_str(&w, conf->hostname);
	mw_str(&w, conf->postmaster);
	mw_u64(&w, conf->limits.max_message_size);
	mw_u32(&w, conf->limits.max_recipients);
	mw_u32(&w, conf->limits.max_connections);
	mw_u32(&w, conf->limits.max_connections_per_client);
	mw_u64(&w, conf->limits.min_free_space);
	mw_u64(&w, conf->limits.store_max_size);
	mw_u32(&w, conf->limits.client_connection_rate);
	mw_u32(&w, conf->limits.client_message_rate);
	mw_u32(&w, conf->limits.client_recipient_rate);
	mw_u32(&w, conf->limits.header_max_fields);
	mw_u64(&w, conf->limits.header_max_size);
	mw_u32(&w, (uint32_t)conf->dnsbl.threshold);
	mw_u32(&w, conf->timeouts.command);
	mw_u32(&w, conf->timeouts.data);
	mw_u32(&w, conf->timeouts.control);
	mw_u32(&w, conf->timeouts.policy);
	mw_u32(&w, conf->queue.lifetime);
	mw_u32(&w, conf->queue.bounce_lifetime);
	mw_u32(&w, conf->queue.retry_min);
	mw_u32(&w, conf->queue.retry_max);
	mw_u32(&w, conf->queue.delay_warning);
	mw_u32(&w, conf->queue.max_connections_per_destination);
	mw_u32(&w, conf->queue.max_connections);
	mw_u32(&w, conf->queue.smtp_port);
	mw_u8(&w, (uint8_t)conf->queue.allow_private_mx);
	mw_u32(&w, conf->notices.outage_after);
	mw_u32(&w, conf->notices.interval);
	mw_u32(&w, conf->retention.message_records);
	mw_u32(&w, conf->retention.logs);
	mw_u32(&w, conf->retention.counters);
	mw_u8(&w, (uint8_t)conf->log.addresses);
	mw_u32(&w, conf->limits.auth_failure_rate);
	return send_msg(c, M_CONF_GLOBAL, &w, -1);
}

static int
send_listeners(struct chan *c, const struct conf *conf)
{
	const struct listener_conf *l;
	struct mw w;
	size_t i;
	int fd;

	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		if (l->fd == -1)
			continue;
		if ((fd = dup(l->fd)) == -1)
			return -1;
		mw_init(&w);
		mw_str(&w, l->addr.host);
		mw_u32(&w, l->addr.port);
		mw_u32(&w, (uint32_t)l->mode);
		mw_u32(&w, l->greeting_delay);
		mw_u32(&w, l->pregreet_pass);
		if (send_msg(c, M_CONF_LISTENER, &w, fd) == -1)
			return -1;
	}
	return 0;
}

static int
send_metrics(struct chan *c, const struct conf *conf)
{
	struct mw	w;
	int		fd;

	if (conf->metrics.fd == -1)
		return 0;
	if ((fd = dup(conf->metrics.fd)) == -1)
		return -1;
	mw_init(&w);
	mw_str(&w, conf->metrics.addr.host);
	mw_u32(&w, conf->metrics.addr.port);
	return send_msg(c, M_CONF_METRICS, &w, fd);
}

static void
chunk_hostports(struct chunk *ch, const struct hostport *hp, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		chunk_room(ch, strlen(hp[i].host) + 8);
		mw_str(&ch->w, hp[i].host);
		mw_u32(&ch->w, hp[i].port);
	}
	chunk_flush(ch);
}

static int
send_dns(struct chan *c, const struct conf *conf)
{
	struct chunk	ch;
	struct mw	w;

	mw_init(&w);
	mw_u32(&w, conf->dns.max_ttl);
	mw_u32(&w, conf->dns.timeout);
	mw_u32(&w, conf->dns.tries);
	mw_u8(&w, (uint8_t)conf->dns.dnssec);
	if (send_msg(c, M_CONF_DNS, &w, -1) == -1)
		return -1;
	chunk_begin(&ch, c, M_CONF_DNS_SERVERS);
	chunk_hostports(&ch, conf->dns.servers, conf->dns.nservers);
	return ch.err ? -1 : 0;
}

static void
chunk_dnsbl(struct chunk *ch, const struct dnsbl_conf *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		chunk_room(ch, strlen(l[i].zone) + 32 + 8 * l[i].nanswers);
		mw_str(&ch->w, l[i].zone);
		mw_u32(&ch->w, (uint32_t)l[i].weight);
		mw_u32(&ch->w, (uint32_t)l[i].nanswers);
		mw_data(&ch->w, l[i].answers, l[i].nanswers * 4);
	}
	chunk_flush(ch);
}

static int
send_policy(struct chan *c, const struct tenant_conf *t)
{
	const struct policy_conf	*p = &t->policy;
	struct chunk			 ch;
	struct mw			 w;
	size_t				 i;

	mw_init(&w);
	mw_u8(&w, (uint8_t)p->greylist);
	mw_u32(&w, p->grey_delay);
	mw_u32(&w, p->grey_window);
	mw_u32(&w, p->grey_lifetime);
	mw_u32(&w, p->grey_awl_after);
	mw_u8(&w, (uint8_t)p->dnsbl);
	mw_u32(&w, (uint32_t)p->threshold);
	mw_u8(&w, (uint8_t)p->spf);
	mw_u8(&w, (uint8_t)p->sender_domain);
	mw_u8(&w, (uint8_t)p->require_to_or_cc);
	mw_u64(&w, t->daily_messages);
	mw_u64(&w, t->daily_bytes);
	if (send_msg(c, M_CONF_TENANT_POLICY, &w, -1) == -1)
		return -1;
	chunk_begin(&ch, c, M_CONF_TENANT_DNSBL);
	chunk_dnsbl(&ch, p->lists, p->nlists);
	ch.type = M_CONF_TENANT_GREYWL;
	for (i = 0; i < p->ngrey_nets; i++) {
		chunk_room(&ch, 32);
		mw_u8(&ch.w, 0);
		mw_u8(&ch.w, (uint8_t)(p->grey_nets[i].af == AF_INET6));
		mw_data(&ch.w, p->grey_nets[i].addr, 16);
		mw_u8(&ch.w, p->grey_nets[i].plen);
	}
	for (i = 0; i < p->ngrey_domains; i++) {
		chunk_room(&ch, strlen(p->grey_domains[i]) + 8);
		mw_u8(&ch.w, 1);
		mw_str(&ch.w, p->grey_domains[i]);
	}
	chunk_flush(&ch);
	return ch.err ? -1 : 0;
}

/* The tenant's content: (milters, bulk_defer), in one frame. */
static int
send_content(struct chan *c, const struct tenant_conf *t)
{
	const struct content_conf	*cc = &t->content;
	struct mw			 w;
	size_t				 i;

	mw_init(&w);
	mw_u8(&w, (uint8_t)cc->allow_header_changes);
	mw_u8(&w, (uint8_t)cc->outbound);
	mw_u32(&w, (uint32_t)cc->nmilters);
	for (i = 0; i < cc->nmilters; i++) {
		mw_str(&w, cc->milters[i].socket);
		mw_u32(&w, cc->milters[i].timeout);
		mw_u8(&w, (uint8_t)cc->milters[i].on_failure);
	}
	mw_u32(&w, (uint32_t)cc->nbulk);
	for (i = 0; i < cc->nbulk; i++) {
		mw_str(&w, cc->bulk[i].name);
		mw_u8(&w, cc->bulk[i].text != NULL);
		mw_str(&w, cc->bulk[i].text);
	}
	return send_msg(c, M_CONF_TENANT_CONTENT, &w, -1);
}

/* deliverd's CA bundle, as a descriptor (see open_ca_file in config/). */
static int
send_tls_ca(struct chan *c, const struct conf *conf)
{
	struct mw	w;
	int		fd = -1;

	if (conf->tls.ca_fd != -1 && (fd = dup(conf->tls.ca_fd)) == -1)
		return -1;
	mw_init(&w);
	mw_u8(&w, fd != -1);
	return send_msg(c, M_CONF_TLS, &w, fd);
}

/* smtpd's: each certificate's chain and names, never its key. */
static int
send_tls_certs(struct chan *c, const struct conf *conf)
{
	const struct tls_cert	*tc;
	struct chunk		 ch;
	struct mw		 w;
	size_t			 i, j;

	for (i = 0; i < conf->tls.ncerts; i++) {
		tc = &conf->tls.certs[i];
		mw_init(&w);
		mw_str(&w, tc->tenant);
		mw_u32(&w, (uint32_t)tc->nchain);
		if (send_msg(c, M_CONF_TLS_CERT, &w, -1) == -1)
			return -1;
		for (j = 0; j < tc->nchain; j++) {
			mw_init(&w);
			mw_data(&w, tc->chain[j].p, tc->chain[j].len);
			if (send_msg(c, M_CONF_TLS_CHAIN, &w, -1) == -1)
				return -1;
		}
		chunk_begin(&ch, c, M_CONF_TLS_NAMES);
		for (j = 0; j < tc->nnames; j++) {
			chunk_room(&ch, strlen(tc->names[j]));
			mw_str(&ch.w, tc->names[j]);
		}
		chunk_flush(&ch);
		if (ch.err)
			return -1;
	}
	return 0;
}

/* keyd's: the keys alone, in the same order. */
static int
send_tls_keys(struct chan *c, const struct conf *conf)
{
	const struct tls_cert	*tc;
	struct mw		 w;
	size_t			 i;
	int			 rv = 0;

	for (i = 0; i < conf->tls.ncerts && rv == 0; i++) {
		tc = &conf->tls.certs[i];
		mw_init(&w);
		mw_str(&w, tc->tenant);
		mw_data(&w, tc->key.p, tc->key.len);
		rv = send_msg(c, M_CONF_TLS_KEY, &w, -1);
		explicit_bzero(w.inl, sizeof(w.inl));
	}
	return rv;
}

static int
send_tenant(struct chan *c, const struct tenant_conf *t, unsigned slices)
{
	struct chunk	ch;
	struct mw	w;
	size_t		i;

	mw_init(&w);
	mw_str(&w, t->name);
	mw_str(&w, t->postmaster);
	mw_u32(&w, (uint32_t)t->inbound_mode);
	mw_u32(&w, t->hold);
	mw_u32(&w, (uint32_t)t->verify);
	mw_str(&w, t->delimiter);
	mw_u32(&w, t->callout_positive);
	mw_u32(&w, t->callout_negative);
	mw_u32(&w, (uint32_t)t->on_unknown);
	mw_u32(&w, t->learning_period);
	mw_u8(&w, (uint8_t)t->allow_bare_newlines);
	mw_u64(&w, t->spool_max);
	mw_u8(&w, (uint8_t)t->inbound_tls);
	mw_u32(&w, t->defer_all_after);
	if (send_msg(c, M_CONF_TENANT, &w, -1) == -1)
		return -1;

	chunk_begin(&ch, c, M_CONF_TENANT_DOMAINS);
	for (i = 0; i < t->ndomains; i++) {
		chunk_room(&ch, strlen(t->domains[i].name) + 4);
		mw_str(&ch.w, t->domains[i].name);
		mw_u8(&ch.w, (uint8_t)t->domains[i].subdomains);
	}
	chunk_flush(&ch);

	ch.type = M_CONF_TENANT_ROUTES;
	chunk_hostports(&ch, t->deliver_to, t->ndeliver_to);

	ch.type = M_CONF_TENANT_NETS;
	for (i = 0; i < t->nnetworks; i++) {
		chunk_room(&ch, 32);
		mw_u8(&ch.w, (uint8_t)(t->networks[i].cidr.af == AF_INET6));
		mw_data(&ch.w, t->networks[i].cidr.addr, 16);
		mw_u8(&ch.w, t->networks[i].cidr.plen);
	}
	chunk_flush(&ch);

	if (slices & SLICE_CONTACTS) {
		ch.type = M_CONF_TENANT_CONTACTS;
		for (i = 0; i < t->ncontacts; i++) {
			const struct contact_conf *k = &t->contacts[i];

			chunk_room(&ch, strlen(k->email) + (k->name ?
			    strlen(k->name) : 0) + (k->phone ?
			    strlen(k->phone) : 0) + 32);
			mw_str(&ch.w, k->email);
			mw_str(&ch.w, k->name);
			mw_str(&ch.w, k->phone);
			mw_u8(&ch.w, k->roles);
		}
		chunk_flush(&ch);
	}
	if (slices & SLICE_RCPTS) {
		ch.type = M_CONF_TENANT_RCPTS;
		for (i = 0; i < t->nrcpts; i++) {
			chunk_room(&ch, strlen(t->rcpts[i]));
			mw_str(&ch.w, t->rcpts[i]);
		}
		chunk_flush(&ch);
	}
	if (ch.err || send_policy(c, t) == -1)
		return -1;
	mw_init(&w);
	mw_u8(&w, t->auth.dovecot != NULL);
	mw_str(&w, t->auth.dovecot);
	mw_str(&w, t->auth.realm);
	mw_u8(&w, (uint8_t)t->auth.foreign_senders);
	mw_u32(&w, t->auth.user_message_rate);
	if (send_msg(c, M_CONF_TENANT_AUTH, &w, -1) == -1)
		return -1;
	return send_content(c, t);
}

/* policy_store, with the password: policyd's slice alone. */
static int
send_store(struct chan *c, const struct conf *conf)
{
	const struct store_conf	*st = &conf->store;
	struct mw		 w;
	size_t			 i;
	int			 rv;

	mw_init(&w);
	mw_u8(&w, (uint8_t)st->backend);
	mw_str(&w, st->key_prefix);
	mw_str(&w, st->master_name);
	mw_u32(&w, st->timeout);
	mw_data(&w, st->tenant_digest, sizeof(st->tenant_digest));
	mw_str(&w, st->password);
	mw_u32(&w, (uint32_t)st->nsentinels);
	mw_u32(&w, (uint32_t)st->nservers);
	for (i = 0; i < st->nsentinels; i++) {
		mw_str(&w, st->sentinels[i].host);
		mw_u32(&w, st->sentinels[i].port);
	}
	for (i = 0; i < st->nservers; i++) {
		mw_str(&w, st->servers[i].host);
		mw_u32(&w, st->servers[i].port);
	}
	rv = send_msg(c, M_CONF_STORE, &w, -1);
	explicit_bzero(w.inl, sizeof(w.inl));
	return rv;
}

int
conf_send(struct chan *c, const struct conf *conf, unsigned slices,
    uint32_t gen)
{
	struct mw	w;
	size_t		i;

	mw_init(&w);
	mw_u32(&w, gen);
	if (send_msg(c, M_CONF_BEGIN, &w, -1) == -1 ||
	    send_global(c, conf) == -1)
		return -1;
	if ((slices & SLICE_LISTEN) && send_listeners(c, conf) == -1)
		return -1;
	if ((slices & SLICE_DNS) && send_dns(c, conf) == -1)
		return -1;
	if ((slices & SLICE_METRICS) && send_metrics(c, conf) == -1)
		return -1;
	if ((slices & SLICE_SECRET) && conf->has_secret) {
		struct mw k;

		mw_init(&k);
		mw_data(&k, conf->policy_secret, sizeof(conf->policy_secret));
		if (send_msg(c, M_CONF_SECRET, &k, -1) == -1)
			return -1;
	}
	if ((slices & SLICE_STORE) && send_store(c, conf) == -1)
		return -1;
	if (slices & SLICE_TENANTS) {
		struct chunk ch;

		chunk_begin(&ch, c, M_CONF_DNSBL);
		chunk_dnsbl(&ch, conf->dnsbl.lists, conf->dnsbl.nlists);
		if (ch.err)
			return -1;
	}
	if ((slices & SLICE_TLS_CA) && send_tls_ca(c, conf) == -1)
		return -1;
	if ((slices & SLICE_TLS_CERTS) && send_tls_certs(c, conf) == -1)
		return -1;
	if ((slices & SLICE_TLS_KEYS) && send_tls_keys(c, conf) == -1)
		return -1;
	if (slices & SLICE_TENANTS)
		for (i = 0; i < conf->ntenants; i++)
			if (send_tenant(c, &conf->tenants[i], slices) == -1)
				return -1;
	return send_msg(c, M_CONF_END, &w, -1);
}

/* Receiving side. */

static int
rx_global(struct conf *conf, struct mr *r)
{
	/* One per configuration: a second would lose the first's strings. */
	if (conf->hostname != NULL)
		return -1;
	conf->hostname = mr_strdup(r);
	conf->postmaster = mr_strdup(r);
	conf->limits.max_message_size = mr_u64(r);
	conf->limits.max_recipients = mr_u32(r);
	conf->limits.max_connections = mr_u32(r);
	conf->limits.max_connections_per_client = mr_u32(r);
	conf->limits.min_free_space = mr_u64(r);
	conf->limits.store_max_size = mr_u64(r);
	conf->limits.client_connection_rate = mr_u32(r);
	conf->limits.client_message_rate = mr_u32(r);
	conf->limits.client_recipient_rate = mr_u32(r);
	conf->limits.header_max_fields = mr_u32(r);
	conf->limits.header_max_size = mr_u64(r);
	conf->dnsbl.threshold = (int32_t)mr_u32(r);
	conf->timeouts.command = mr_u32(r);
	conf->timeouts.data = mr_u32(r);
	conf->timeouts.control = mr_u32(r);
	conf->timeouts.policy = mr_u32(r);
	conf->queue.lifetime = mr_u32(r);
	conf->queue.bounce_lifetime = mr_u32(r);
	conf->queue.retry_min = mr_u32(r);
	conf->queue.retry_max = mr_u32(r);
	conf->queue.delay_warning = mr_u32(r);
	conf->queue.max_connections_per_destination = mr_u32(r);
	conf->queue.max_connections = mr_u32(r);
	conf->queue.smtp_port = (uint16_t)mr_u32(r);
	conf->queue.allow_private_mx = mr_u8(r);
	conf->notices.outage_after = mr_u32(r);
	conf->notices.interval = mr_u32(r);
	conf->retention.message_records = mr_u32(r);
	conf->retention.logs = mr_u32(r);
	conf->retention.counters = mr_u32(r);
	conf->log.addresses = mr_u8(r);
	if (conf->log.addresses > 1 || conf->retention.message_records == 0)
		return -1;
	conf->limits.auth_failure_rate = mr_u32(r);
	return mr_end(r);
}

static void *
rx_grow(void *arrp, size_t *n, size_t size)
{
	void **arr = arrp;
	void *p;

	if ((p = reallocarray(*arr, *n + 1, size)) == NULL)
		return NULL;
	*arr = p;
	memset((char *)p + *n * size, 0, size);
	return (char *)p + (*n)++ * size;
}

static int
rx_listener(struct conf *conf, struct imsg *imsg, struct mr *r)
{
	struct listener_conf *l;

	/* A lost socket is read as -1; conf_rx_msg drops the whole. */
	if ((imsg->fd == -1 && !imsg_fd_lost(imsg)) ||
	    (l = rx_grow(&conf->listeners, &conf->nlisteners,
	    sizeof(*l))) == NULL)
		return -1;
	l->fd = imsg->fd;
	imsg->fd = -1;
	mr_str(r, l->addr.host, sizeof(l->addr.host));
	l->addr.port = (uint16_t)mr_u32(r);
	l->mode = (enum listen_mode)mr_u32(r);
	l->greeting_delay = mr_u32(r);
	l->pregreet_pass = mr_u32(r);
	return mr_end(r);
}

static int
rx_metrics(struct conf *conf, struct imsg *imsg, struct mr *r)
{
	if ((imsg->fd == -1 && !imsg_fd_lost(imsg)) || conf->metrics.enabled)
		return -1;
	conf->metrics.fd = imsg->fd;
	imsg->fd = -1;
	conf->metrics.enabled = 1;
	mr_str(r, conf->metrics.addr.host, sizeof(conf->metrics.addr.host));
	conf->metrics.addr.port = (uint16_t)mr_u32(r);
	return mr_end(r);
}

/*
 * The CA file's descriptor.  One lost in transit (we were out of
 * descriptors) leaves ca_lost set: deliverd goes on without it and says
 * so, rather than refusing the whole configuration.
 */
static int
rx_tls(struct conf *conf, struct imsg *imsg, struct mr *r)
{
	uint8_t has = mr_u8(r);

	if (mr_end(r) == -1 || has > 1 || conf->tls.ca_fd != -1 ||
	    (has == 0 && imsg_has_fd(imsg)) ||
	    (has == 1 && imsg->fd == -1 && !imsg_fd_lost(imsg)))
		return -1;
	conf->tls.ca_lost = has == 1 && imsg->fd == -1;
	conf->tls.ca_fd = imsg->fd;
	imsg->fd = -1;
	return 0;
}

/* A DER object of the size the parent may send. */
static int
rx_der(struct mr *r, struct der *d)
{
	const void	*p;
	size_t		 len;

	if ((p = mr_data(r, &len)) == NULL || len == 0 || len > TLS_DER_MAX ||
	    (d->p = malloc(len)) == NULL)
		return -1;
	memcpy(d->p, p, len);
	d->len = len;
	return 0;
}

static int
rx_tls_cert(struct conf_rx *rx, struct mr *r)
{
	struct conf	*conf = rx->conf;
	struct tls_cert	*tc;
	uint32_t	 n;

	if ((tc = rx_grow(&conf->tls.certs, &conf->tls.ncerts,
	    sizeof(*tc))) == NULL)
		return -1;
	rx->cert = tc;
	if ((tc->tenant = mr_strdup(r)) == NULL)
		return -1;
	/* The relay's own comes first, and only first. */
	if ((tc->tenant[0] == '\0') != (conf->tls.ncerts == 1)) {
		free(tc->tenant);
		tc->tenant = NULL;
		return -1;
	}
	if (tc->tenant[0] == '\0') {
		free(tc->tenant);
		tc->tenant = NULL;
	}
	n = mr_u32(r);
	if (n == 0 || n > TLS_CHAIN_MAX ||
	    (tc->chain = calloc(n, sizeof(*tc->chain))) == NULL)
		return -1;
	rx->chain_left = n;
	return mr_end(r);
}

static int
rx_tls_chain(struct conf_rx *rx, struct mr *r)
{
	struct tls_cert *tc = rx->cert;

	if (tc == NULL || rx->chain_left == 0 ||
	    rx_der(r, &tc->chain[tc->nchain]) == -1)
		return -1;
	tc->nchain++;
	rx->chain_left--;
	return mr_end(r);
}

/* Names as the parent checked them: host names, lower case. */
static int
rx_tls_names(struct conf_rx *rx, struct mr *r)
{
	struct tls_cert	*tc = rx->cert;
	char		**slot;
	size_t		 i;

	if (tc == NULL || rx->chain_left != 0 || tc->tenant == NULL)
		return -1;
	while (r->off < r->len && !r->err) {
		if ((slot = rx_grow(&tc->names, &tc->nnames,
		    sizeof(*slot))) == NULL || (*slot = mr_strdup(r)) == NULL)
			return -1;
		if (**slot == '\0' || strlen(*slot) > 253)
			return -1;
		for (i = 0; (*slot)[i] != '\0'; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.-",
			    (*slot)[i]))
				return -1;
	}
	return mr_end(r);
}

static int
rx_tls_key(struct conf *conf, struct mr *r)
{
	struct tls_cert	*tc;
	char		*tenant;

	if ((tc = rx_grow(&conf->tls.certs, &conf->tls.ncerts,
	    sizeof(*tc))) == NULL || (tenant = mr_strdup(r)) == NULL)
		return -1;
	if ((tenant[0] == '\0') != (conf->tls.ncerts == 1)) {
		free(tenant);
		return -1;
	}
	if (tenant[0] != '\0')
		tc->tenant = tenant;
	else
		free(tenant);
	if (rx_der(r, &tc->key) == -1)
		return -1;
	return mr_end(r);
}

static int
rx_hostports(struct mr *r, struct hostport **arr, size_t *n)
{
	struct hostport *hp;

	while (r->off < r->len && !r->err) {
		if ((hp = rx_grow(arr, n, sizeof(*hp))) == NULL)
			return -1;
		mr_str(r, hp->host, sizeof(hp->host));
		hp->port = (uint16_t)mr_u32(r);
	}
	return mr_end(r);
}

static int
rx_tenant(struct conf_rx *rx, struct mr *r)
{
	struct conf		*conf = rx->conf;
	struct tenant_conf	*t;
	uint32_t		 verify, unknown;

	if ((t = rx_grow(&conf->tenants, &conf->ntenants, sizeof(*t))) == NULL)
		return -1;
	rx->cur = t;
	t->name = mr_strdup(r);
	t->postmaster = mr_strdup(r);
	t->inbound_mode = (enum inbound_mode)mr_u32(r);
	t->hold = mr_u32(r);
	verify = mr_u32(r);
	mr_str(r, t->delimiter, sizeof(t->delimiter));
	t->callout_positive = mr_u32(r);
	t->callout_negative = mr_u32(r);
	unknown = mr_u32(r);
	t->learning_period = mr_u32(r);
	t->allow_bare_newlines = mr_u8(r);
	t->spool_max = mr_u64(r);
	if (verify > VERIFY_LEARN || unknown > UNKNOWN_REJECT)
		return -1;
	t->verify = (enum verify_mode)verify;
	t->on_unknown = (enum on_unknown)unknown;
	t->inbound_tls = (enum inbound_tls)mr_u8(r);
	if (t->inbound_tls > INBOUND_TLS_VERIFY)
		return -1;
	t->defer_all_after = mr_u32(r);
	return mr_end(r);
}

static int
rx_domains(struct tenant_conf *t, struct mr *r)
{
	struct domain_conf *d;

	while (r->off < r->len && !r->err) {
		if ((d = rx_grow(&t->domains, &t->ndomains, sizeof(*d))) ==
		    NULL)
			return -1;
		d->name = mr_strdup(r);
		d->subdomains = mr_u8(r);
	}
	return mr_end(r);
}

static int
rx_nets(struct tenant_conf *t, struct mr *r)
{
	struct net_conf	*n;
	const void	*p;
	size_t		 len;

	while (r->off < r->len && !r->err) {
		if ((n = rx_grow(&t->networks, &t->nnetworks, sizeof(*n))) ==
		    NULL)
			return -1;
		n->cidr.af = mr_u8(r) ? AF_INET6 : AF_INET;
		if ((p = mr_data(r, &len)) == NULL || len != 16)
			return -1;
		memcpy(n->cidr.addr, p, 16);
		n->cidr.plen = mr_u8(r);
		if (n->cidr.plen > (n->cidr.af == AF_INET ? 32 : 128))
			return -1;
	}
	return mr_end(r);
}

static int
rx_cidr(struct mr *r, struct cidr *c)
{
	const void	*p;
	size_t		 len;

	c->af = mr_u8(r) ? AF_INET6 : AF_INET;
	if ((p = mr_data(r, &len)) == NULL || len != 16)
		return -1;
	memcpy(c->addr, p, 16);
	c->plen = mr_u8(r);
	return c->plen > (c->af == AF_INET ? 32 : 128) ? -1 : 0;
}

static int
rx_dnsbl(struct mr *r, struct dnsbl_conf **arr, size_t *n)
{
	struct dnsbl_conf	*l;
	const void		*p;
	size_t			 len;
	uint32_t		 na;

	while (r->off < r->len && !r->err) {
		if ((l = rx_grow(arr, n, sizeof(*l))) == NULL)
			return -1;
		l->zone = mr_strdup(r);
		l->weight = (int32_t)mr_u32(r);
		na = mr_u32(r);
		if (l->zone == NULL || (p = mr_data(r, &len)) == NULL ||
		    len != (size_t)na * 4 || na > 256)
			return -1;
		if (na > 0) {
			if ((l->answers = calloc(na, 4)) == NULL)
				return -1;
			memcpy(l->answers, p, len);
			l->nanswers = na;
		}
	}
	return mr_end(r);
}

static int
rx_secret(struct conf *conf, struct mr *r)
{
	const void	*p;
	size_t		 len;

	if ((p = mr_data(r, &len)) == NULL ||
	    len != sizeof(conf->policy_secret))
		return -1;
	memcpy(conf->policy_secret, p, len);
	conf->has_secret = 1;
	return mr_end(r);
}

static int
rx_nodes(struct mr *r, uint32_t n, struct hostport **arr, size_t *narr)
{
	struct hostport	*hp;
	uint32_t	 i;

	if (n > REDIS_NODES_MAX)
		return -1;
	for (i = 0; i < n && !r->err; i++) {
		if ((hp = rx_grow(arr, narr, sizeof(*hp))) == NULL)
			return -1;
		mr_str(r, hp->host, sizeof(hp->host));
		hp->port = (uint16_t)mr_u32(r);
	}
	return r->err ? -1 : 0;
}

static int
rx_store(struct conf *conf, struct mr *r)
{
	struct store_conf	*st = &conf->store;
	const void		*p;
	size_t			 len;
	uint32_t		 nsent, nserv;
	uint8_t			 backend;

	conf_store_free(st);
	backend = mr_u8(r);
	st->key_prefix = mr_strdup(r);
	st->master_name = mr_strdup(r);
	st->timeout = mr_u32(r);
	p = mr_data(r, &len);
	st->password = mr_strdup(r);
	nsent = mr_u32(r);
	nserv = mr_u32(r);
	if (r->err || p == NULL || len != sizeof(st->tenant_digest) ||
	    backend > STORE_REDIS || st->key_prefix == NULL ||
	    strlen(st->key_prefix) > REDIS_PREFIX_MAX ||
	    st->master_name == NULL || strlen(st->master_name) >
	    REDIS_NAME_MAX || st->password == NULL ||
	    strlen(st->password) > REDIS_PASSWORD_MAX || st->timeout == 0)
		return -1;
	st->backend = (enum store_backend)backend;
	memcpy(st->tenant_digest, p, len);
	if (rx_nodes(r, nsent, &st->sentinels, &st->nsentinels) == -1 ||
	    rx_nodes(r, nserv, &st->servers, &st->nservers) == -1)
		return -1;
	return mr_end(r);
}

static int
rx_policy(struct tenant_conf *t, struct mr *r)
{
	struct policy_conf *p = &t->policy;

	p->greylist = mr_u8(r);
	p->grey_delay = mr_u32(r);
	p->grey_window = mr_u32(r);
	p->grey_lifetime = mr_u32(r);
	p->grey_awl_after = mr_u32(r);
	p->dnsbl = mr_u8(r);
	p->threshold = (int32_t)mr_u32(r);
	p->spf = (enum spf_mode)mr_u8(r);
	p->sender_domain = mr_u8(r);
	p->require_to_or_cc = mr_u8(r);
	t->daily_messages = mr_u64(r);
	t->daily_bytes = mr_u64(r);
	if (p->spf > SPF_REJECT)
		return -1;
	return mr_end(r);
}

static int
rx_content(struct tenant_conf *t, struct mr *r)
{
	struct content_conf	*c = &t->content;
	uint32_t		 i, n;

	if (c->milters != NULL || c->bulk != NULL)
		return -1;
	c->allow_header_changes = mr_u8(r);
	c->outbound = mr_u8(r);
	if ((n = mr_u32(r)) > MILTERS_MAX || r->err ||
	    (n > 0 && (c->milters = calloc(n, sizeof(*c->milters))) == NULL))
		return -1;
	for (i = 0; i < n && !r->err; i++, c->nmilters++) {
		mr_str(r, c->milters[i].socket, sizeof(c->milters[i].socket));
		c->milters[i].timeout = mr_u32(r);
		c->milters[i].on_failure = mr_u8(r);
		if (c->milters[i].on_failure > MILTER_FAIL_ACCEPT ||
		    c->milters[i].timeout == 0)
			return -1;
	}
	if ((n = mr_u32(r)) > MILTER_BULK_MAX || r->err ||
	    (n > 0 && (c->bulk = calloc(n, sizeof(*c->bulk))) == NULL))
		return -1;
	for (i = 0; i < n && !r->err; i++, c->nbulk++) {
		c->bulk[i].name = mr_strdup(r);
		if (mr_u8(r))
			c->bulk[i].text = mr_strdup(r);
		else
			free(mr_strdup(r));
		if (c->bulk[i].name == NULL)
			return -1;
	}
	return mr_end(r);
}

static int
rx_greywl(struct policy_conf *p, struct mr *r)
{
	struct cidr	*c;
	char		**d;

	while (r->off < r->len && !r->err) {
		if (mr_u8(r) == 0) {
			if ((c = rx_grow(&p->grey_nets, &p->ngrey_nets,
			    sizeof(*c))) == NULL || rx_cidr(r, c) == -1)
				return -1;
			continue;
		}
		if ((d = rx_grow(&p->grey_domains, &p->ngrey_domains,
		    sizeof(*d))) == NULL || (*d = mr_strdup(r)) == NULL)
			return -1;
	}
	return mr_end(r);
}

/* Empty strings stand for a name or a number not given. */
static char *
rx_optstr(struct mr *r)
{
	char *s = mr_strdup(r);

	if (s != NULL && s[0] == '\0') {
		free(s);
		return NULL;
	}
	return s;
}

static int
rx_contacts(struct tenant_conf *t, struct mr *r)
{
	struct contact_conf *k;

	while (r->off < r->len && !r->err) {
		if (t->ncontacts == CONTACTS_MAX ||
		    (k = rx_grow(&t->contacts, &t->ncontacts, sizeof(*k))) ==
		    NULL)
			return -1;
		k->email = mr_strdup(r);
		k->name = rx_optstr(r);
		k->phone = rx_optstr(r);
		k->roles = mr_u8(r);
		if (k->email == NULL || k->email[0] == '\0' ||
		    strchr(k->email, '@') == NULL || k->roles == 0 ||
		    (k->roles & ~CONTACT_ROLES))
			return -1;
	}
	return mr_end(r);
}

/* An endpoint as the parent checked it; a realm as a domain. */
static int
rx_auth(struct tenant_conf *t, struct mr *r)
{
	struct auth_conf	*a = &t->auth;
	uint8_t			 on;

	if (a->line != 0)
		return -1;	/* one per tenant */
	a->line = 1;
	on = mr_u8(r);
	a->dovecot = mr_strdup(r);
	a->realm = mr_strdup(r);
	a->foreign_senders = mr_u8(r);
	a->user_message_rate = mr_u32(r);
	if (mr_end(r) == -1 || on > 1 || a->foreign_senders > 1 ||
	    (on == 1) != (a->dovecot[0] != '\0'))
		return -1;
	if (!on) {
		free(a->dovecot);
		a->dovecot = NULL;
	}
	if (a->realm[0] == '\0') {
		free(a->realm);
		a->realm = NULL;
	}
	return 0;
}

static int
rx_rcpts(struct tenant_conf *t, struct mr *r)
{
	char **slot;

	while (r->off < r->len && !r->err) {
		if ((slot = rx_grow(&t->rcpts, &t->nrcpts, sizeof(*slot))) ==
		    NULL)
			return -1;
		if ((*slot = mr_strdup(r)) == NULL)
			return -1;
		/* bsearch depends on the order the parent established. */
		if (t->nrcpts > 1 &&
		    strcmp(t->rcpts[t->nrcpts - 2], *slot) >= 0)
			return -1;
	}
	return mr_end(r);
}

void
conf_rx_reset(struct conf_rx *rx)
{
	conf_free(rx->conf);
	rx->conf = NULL;
	rx->cur = NULL;
	rx->cert = NULL;
	rx->chain_left = 0;
}

static int
rx_tenant_list(struct conf_rx *rx, uint32_t type, struct mr *r)
{
	struct tenant_conf *t = rx->cur;

	if (t == NULL)
		return -1;
	switch (type) {
	case M_CONF_TENANT_DOMAINS:
		return rx_domains(t, r);
	case M_CONF_TENANT_ROUTES:
		return rx_hostports(r, &t->deliver_to, &t->ndeliver_to);
	case M_CONF_TENANT_NETS:
		return rx_nets(t, r);
	case M_CONF_TENANT_RCPTS:
		return rx_rcpts(t, r);
	case M_CONF_TENANT_CONTACTS:
		return rx_contacts(t, r);
	case M_CONF_TENANT_POLICY:
		return rx_policy(t, r);
	case M_CONF_TENANT_DNSBL:
		return rx_dnsbl(r, &t->policy.lists, &t->policy.nlists);
	case M_CONF_TENANT_GREYWL:
		return rx_greywl(&t->policy, r);
	case M_CONF_TENANT_AUTH:
		return rx_auth(t, r);
	case M_CONF_TENANT_CONTENT:
		return rx_content(t, r);
	}
	return -1;
}

enum conf_rx_result
conf_rx_msg(struct conf_rx *rx, struct imsg *imsg, struct conf **out,
    uint32_t *gen)
{
	struct mr	r;
	uint32_t	type = imsg->hdr.type;
	int		rv = -1;

	/* Only a listener (its bound socket), the metrics listener and the
	 * CA file come with a descriptor. */
	if (imsg_has_fd(imsg) && type != M_CONF_LISTENER &&
	    type != M_CONF_TLS && type != M_CONF_METRICS) {
		if (imsg->fd != -1)
			close(imsg->fd);
		imsg->fd = -1;
		conf_rx_reset(rx);
		return CONF_RX_ERROR;
	}
	mr_init(&r, imsg->data, imsg->datalen);
	if (type == M_CONF_BEGIN) {
		conf_rx_reset(rx);
		rx->lost = 0;
		rx->gen = mr_u32(&r);
		if (mr_end(&r) == -1 || (rx->conf = conf_new()) == NULL)
			return CONF_RX_ERROR;
		return CONF_RX_MORE;
	}
	if (rx->conf == NULL)
		return CONF_RX_ERROR;
	switch (type) {
	case M_CONF_GLOBAL:
		rv = rx_global(rx->conf, &r);
		break;
	case M_CONF_LISTENER:
		if (imsg_fd_lost(imsg))
			rx->lost = 1;
		rv = rx_listener(rx->conf, imsg, &r);
		break;
	case M_CONF_METRICS:
		if (imsg_fd_lost(imsg))
			rx->lost = 1;
		rv = rx_metrics(rx->conf, imsg, &r);
		break;
	case M_CONF_DNS:
		rx->conf->dns.max_ttl = mr_u32(&r);
		rx->conf->dns.timeout = mr_u32(&r);
		rx->conf->dns.tries = mr_u32(&r);
		rx->conf->dns.dnssec = mr_u8(&r);
		rv = mr_end(&r);
		break;
	case M_CONF_TLS:
		rv = rx_tls(rx->conf, imsg, &r);
		break;
	case M_CONF_DNS_SERVERS:
		rv = rx_hostports(&r, &rx->conf->dns.servers,
		    &rx->conf->dns.nservers);
		break;
	case M_CONF_TENANT:
		rv = rx_tenant(rx, &r);
		break;
	case M_CONF_TENANT_DOMAINS:
	case M_CONF_TENANT_ROUTES:
	case M_CONF_TENANT_NETS:
	case M_CONF_TENANT_RCPTS:
	case M_CONF_TENANT_POLICY:
	case M_CONF_TENANT_DNSBL:
	case M_CONF_TENANT_GREYWL:
	case M_CONF_TENANT_CONTACTS:
	case M_CONF_TENANT_AUTH:
	case M_CONF_TENANT_CONTENT:
		rv = rx_tenant_list(rx, type, &r);
		break;
	case M_CONF_DNSBL:
		rv = rx_dnsbl(&r, &rx->conf->dnsbl.lists,
		    &rx->conf->dnsbl.nlists);
		break;
	case M_CONF_SECRET:
		rv = rx_secret(rx->conf, &r);
		break;
	case M_CONF_STORE:
		rv = rx_store(rx->conf, &r);
		break;
	case M_CONF_TLS_CERT:
		rv = rx->chain_left == 0 ? rx_tls_cert(rx, &r) : -1;
		break;
	case M_CONF_TLS_CHAIN:
		rv = rx_tls_chain(rx, &r);
		break;
	case M_CONF_TLS_NAMES:
		rv = rx_tls_names(rx, &r);
		break;
	case M_CONF_TLS_KEY:
		rv = rx_tls_key(rx->conf, &r);
		break;
	case M_CONF_END:
		if (mr_u32(&r) != rx->gen || mr_end(&r) == -1 ||
		    rx->conf->hostname == NULL || rx->chain_left != 0 ||
		    conf_index(rx->conf) == -1)
			break;
		rx->cert = NULL;
		*gen = rx->gen;
		if (rx->lost) {
			conf_rx_reset(rx);
			rx->lost = 0;
			return CONF_RX_LOST;
		}
		*out = rx->conf;
		rx->conf = NULL;
		rx->cur = NULL;
		return CONF_RX_DONE;
	}
	if (imsg->fd != -1) {
		close(imsg->fd);
		imsg->fd = -1;
	}
	if (rv == -1) {
		conf_rx_reset(rx);
		return CONF_RX_ERROR;
	}
	return CONF_RX_MORE;
}
