/*
 * envelope: encoding for imsg and LMDB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "marshal.h"

struct envelope *
envelope_new(void)
{
	return calloc(1, sizeof(struct envelope));
}

static void
rcpt_clear(struct rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->domain);
	free(r->last_error);
	free(r->remote);
}

void
envelope_free(struct envelope *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nrcpts; i++)
		rcpt_clear(&e->rcpts[i]);
	free(e->rcpts);
	free(e->sender);
	free(e);
}

struct rcpt *
envelope_add_rcpt(struct envelope *e)
{
	struct rcpt *r;

	if ((r = reallocarray(e->rcpts, e->nrcpts + 1, sizeof(*r))) == NULL)
		return NULL;
	e->rcpts = r;
	r = &e->rcpts[e->nrcpts++];
	memset(r, 0, sizeof(*r));
	return r;
}

void
envelope_put_head(struct mw *w, const struct envelope *e)
{
	mw_u64(w, e->id);
	mw_str(w, e->sender);
	mw_str(w, e->helo);
	mw_u8(w, (uint8_t)(e->client.af == AF_INET6));
	mw_data(w, e->client.addr, sizeof(e->client.addr));
	mw_u32(w, e->client.port);
	mw_str(w, e->client_name);
	mw_i64(w, e->created);
	mw_u64(w, e->size);
	mw_u8(w, e->body);
	mw_u8(w, e->smtputf8);
	mw_u8(w, e->ret);
	mw_u32(w, e->flags);
	mw_str(w, e->envid);
}

int
envelope_get_head(struct mr *r, struct envelope *e)
{
	const void	*p;
	size_t		 len;

	e->id = mr_u64(r);
	free(e->sender);
	e->sender = mr_strdup(r);
	mr_str(r, e->helo, sizeof(e->helo));
	e->client.af = mr_u8(r) ? AF_INET6 : AF_INET;
	if ((p = mr_data(r, &len)) == NULL || len != sizeof(e->client.addr))
		return -1;
	memcpy(e->client.addr, p, len);
	e->client.port = (uint16_t)mr_u32(r);
	mr_str(r, e->client_name, sizeof(e->client_name));
	e->created = mr_i64(r);
	e->size = mr_u64(r);
	e->body = mr_u8(r);
	e->smtputf8 = mr_u8(r);
	e->ret = mr_u8(r);
	e->flags = mr_u32(r);
	mr_str(r, e->envid, sizeof(e->envid));
	if (r->err || e->sender == NULL || e->body > BODY_8BITMIME ||
	    e->ret > RET_HDRS)
		return -1;
	return 0;
}

void
rcpt_put(struct mw *w, const struct rcpt *r, int with_state)
{
	mw_str(w, r->addr);
	mw_str(w, r->orcpt);
	mw_u8(w, r->notify);
	mw_u8(w, r->dir);
	mw_u8(w, r->route);
	mw_str(w, r->tenant);
	mw_str(w, r->domain);
	if (!with_state)
		return;
	mw_u8(w, r->status);
	mw_u32(w, r->attempts);
	mw_i64(w, r->next_attempt);
	mw_str(w, r->last_error);
	mw_u8(w, r->flags);
	mw_str(w, r->dsn);
	mw_str(w, r->remote);
}

size_t
rcpt_wire_size(const struct rcpt *r)
{
	return 96 + strlen(r->addr) + (r->orcpt ? strlen(r->orcpt) : 0) +
	    strlen(r->tenant) + (r->domain ? strlen(r->domain) : 0) +
	    (r->last_error ? strlen(r->last_error) : 0) + strlen(r->dsn) +
	    (r->remote ? strlen(r->remote) : 0);
}

static char *
opt_strdup(struct mr *r)
{
	char *s = mr_strdup(r);

	if (s != NULL && *s == '\0') {
		free(s);
		return NULL;
	}
	return s;
}

static int
rcpt_get_v(struct mr *m, struct rcpt *r, int with_state, uint32_t version)
{
	r->addr = mr_strdup(m);
	r->orcpt = opt_strdup(m);
	r->notify = mr_u8(m);
	r->dir = mr_u8(m);
	r->route = mr_u8(m);
	mr_str(m, r->tenant, sizeof(r->tenant));
	r->domain = mr_strdup(m);
	if (with_state) {
		r->status = mr_u8(m);
		r->attempts = mr_u32(m);
		r->next_attempt = mr_i64(m);
		r->last_error = opt_strdup(m);
		if (version >= 2) {
			r->flags = mr_u8(m);
			mr_str(m, r->dsn, sizeof(r->dsn));
			r->remote = opt_strdup(m);
		}
	}
	if (m->err || r->addr == NULL || r->domain == NULL ||
	    (r->dir != DIR_INBOUND && r->dir != DIR_OUTBOUND) ||
	    (r->route != ROUTE_TENANT && r->route != ROUTE_MX) ||
	    r->status > RS_REMOVED || (r->notify & ~0x0f) != 0 ||
	    (r->flags & ~RF_ALL) != 0)
		return -1;
	return 0;
}

int
rcpt_get(struct mr *m, struct rcpt *r, int with_state)
{
	return rcpt_get_v(m, r, with_state, ENV_VERSION);
}

int
envelope_encode(const struct envelope *e, struct mw *w)
{
	size_t i;

	mw_init_grow(w);
	mw_u32(w, ENV_VERSION);
	envelope_put_head(w, e);
	mw_u32(w, (uint32_t)e->nrcpts);
	for (i = 0; i < e->nrcpts; i++)
		rcpt_put(w, &e->rcpts[i], 1);
	return w->err ? -1 : 0;
}

struct envelope *
envelope_decode(const void *p, size_t len)
{
	struct envelope	*e;
	struct rcpt	*r;
	struct mr	 m;
	uint32_t	 n, i, version;

	if ((e = envelope_new()) == NULL)
		return NULL;
	mr_init(&m, p, len);
	version = mr_u32(&m);
	if (version < ENV_VERSION_MIN || version > ENV_VERSION ||
	    envelope_get_head(&m, e) == -1)
		goto fail;
	n = mr_u32(&m);
	if (m.err || n == 0 || n > 1000000)
		goto fail;
	for (i = 0; i < n; i++) {
		if ((r = envelope_add_rcpt(e)) == NULL ||
		    rcpt_get_v(&m, r, 1, version) == -1)
			goto fail;
	}
	if (mr_end(&m) == -1)
		goto fail;
	return e;
fail:
	envelope_free(e);
	return NULL;
}

uint32_t
envelope_version(const void *p, size_t len)
{
	struct mr	m;
	uint32_t	v;

	mr_init(&m, p, len);
	v = mr_u32(&m);
	return m.err ? 0 : v;
}

void
queue_id_format(uint64_t id, char *buf, size_t sz)
{
	snprintf(buf, sz, "%016llx", (unsigned long long)id);
}
