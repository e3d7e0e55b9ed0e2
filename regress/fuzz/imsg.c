/*
 * Fuzz target: imsg frames and the payload readers (common/imsg.c,
 * marshal.c, envelope.c, config_wire.c, dns_client.c).
 *
 * The input is a stream of frames as a channel reads it.  imsg_decode
 * takes frames off it until it wants more or calls it bad; a frame that
 * claims a descriptor gets one, as chan does.  Every payload then goes
 * through each reader a process applies to its peers' payloads:
 *  - queued's M_Q_ENV_HEAD and M_Q_ENV_RCPTS readers;
 *  - envelope_decode (an LMDB value), whose result must encode and decode
 *    again to the same envelope;
 *  - dns_answer_decode for each query type;
 *  - conf_rx_msg, the frames in order, as a child assembles its
 *    configuration.
 * Nothing may leak: no memory (ASan) and no descriptor.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_wire.h"
#include "dns_client.h"
#include "envelope.h"
#include "imsg.h"
#include "marshal.h"
#include "msg_dns.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint32_t qtypes[] = {
	DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR, DNS_T_CNAME,
	DNS_Q_FCRDNS
};

static int
devnull(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		abort();
	return fd;
}

static void
rcpt_free(struct rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->domain);
	free(r->last_error);
	free(r->remote);
}

/* queued's on_head: the envelope's head and nothing after it. */
static void
read_head(const struct imsg *imsg)
{
	struct envelope	head;
	struct mr	r;

	memset(&head, 0, sizeof(head));
	mr_init(&r, imsg->data, imsg->datalen);
	if (envelope_get_head(&r, &head) == 0 && mr_end(&r) == 0 &&
	    (head.sender == NULL ||
	    memchr(head.helo, '\0', sizeof(head.helo)) == NULL ||
	    memchr(head.envid, '\0', sizeof(head.envid)) == NULL))
		abort();
	free(head.sender);
}

/* queued's on_rcpts: an id, then recipients without their state. */
static void
read_rcpts(const struct imsg *imsg)
{
	struct rcpt	rc;
	struct mr	r;

	mr_init(&r, imsg->data, imsg->datalen);
	(void)mr_u64(&r);
	while (r.off < r.len && !r.err) {
		memset(&rc, 0, sizeof(rc));
		if (rcpt_get(&r, &rc, 0) == 0 && (rc.addr == NULL ||
		    rc.domain == NULL || rc.last_error != NULL))
			abort();
		rcpt_free(&rc);
	}
	(void)mr_end(&r);
}

static int
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
same_envelope(const struct envelope *a, const struct envelope *b)
{
	const struct rcpt	*x, *y;
	size_t			 i;

	if (a->id != b->id || !str_same(a->sender, b->sender) ||
	    strcmp(a->helo, b->helo) != 0 || a->client.af != b->client.af ||
	    memcmp(a->client.addr, b->client.addr, sizeof(a->client.addr)) ||
	    a->client.port != b->client.port ||
	    strcmp(a->client_name, b->client_name) != 0 ||
	    a->created != b->created || a->size != b->size ||
	    a->body != b->body || a->smtputf8 != b->smtputf8 ||
	    a->ret != b->ret || a->flags != b->flags ||
	    strcmp(a->envid, b->envid) != 0 || a->nrcpts != b->nrcpts)
		abort();
	for (i = 0; i < a->nrcpts; i++) {
		x = &a->rcpts[i];
		y = &b->rcpts[i];
		if (!str_same(x->addr, y->addr) ||
		    !str_same(x->orcpt, y->orcpt) || x->notify != y->notify ||
		    x->dir != y->dir || x->route != y->route ||
		    x->status != y->status ||
		    strcmp(x->tenant, y->tenant) != 0 ||
		    !str_same(x->domain, y->domain) ||
		    x->attempts != y->attempts ||
		    x->next_attempt != y->next_attempt ||
		    !str_same(x->last_error, y->last_error) ||
		    x->flags != y->flags || strcmp(x->dsn, y->dsn) != 0 ||
		    !str_same(x->remote, y->remote))
			abort();
	}
}

/* An LMDB value: what decodes must encode and decode to the same. */
static void
read_envelope(const struct imsg *imsg)
{
	struct envelope	*e, *again;
	struct mw	 w;

	if ((e = envelope_decode(imsg->data, imsg->datalen)) == NULL)
		return;
	if (envelope_encode(e, &w) == -1 ||
	    (again = envelope_decode(w.buf, w.len)) == NULL)
		abort();
	same_envelope(e, again);
	envelope_free(again);
	envelope_free(e);
	mw_release(&w);
}

static void
read_dns(const struct imsg *imsg)
{
	struct dns_answer	*a;
	size_t			 i, k;

	if ((a = malloc(sizeof(*a))) == NULL)
		abort();
	for (i = 0; i < sizeof(qtypes) / sizeof(qtypes[0]); i++) {
		if (dns_answer_decode(imsg->data, imsg->datalen, qtypes[i],
		    a) == -1) {
			if (a->nrr != 0)
				abort();
			continue;
		}
		if (a->nrr > DNS_MAX_RR || a->rcode > DNS_R_TEMPFAIL ||
		    (a->nrr > 0 && a->rcode != DNS_R_OK))
			abort();
		for (k = 0; k < a->nrr; k++)
			if (memchr(a->rr[k].name, '\0',
			    sizeof(a->rr[k].name)) == NULL ||
			    (qtypes[i] == DNS_T_TXT) != (a->rr[k].txt != NULL))
				abort();
		dns_answer_clear(a);
	}
	free(a);
}

/*
 * A child's view: the frames in order.  The descriptor a frame brought
 * is the reader's to keep or close (child.c's on_conf closes nothing);
 * after an error the child exits, so there it does not matter.
 */
static void
read_conf(struct conf_rx *rx, struct imsg *imsg)
{
	struct conf	*conf = NULL;
	uint32_t	 gen;

	switch (conf_rx_msg(rx, imsg, &conf, &gen)) {
	case CONF_RX_DONE:
		if (conf == NULL || conf->hostname == NULL || imsg->fd != -1)
			abort();
		conf_free(conf);
		break;
	case CONF_RX_ERROR:
		if (rx->conf != NULL)
			abort();
		if (imsg->fd != -1)
			close(imsg->fd);
		break;
	case CONF_RX_MORE:
		if (imsg->fd != -1)
			abort();
		break;
	case CONF_RX_LOST:
		/* Only a receiving channel marks a descriptor lost. */
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_rx		 rx;
	struct imsg		 imsg;
	size_t			 off = 0, used;
	enum imsg_decode_result	 res;
	int			 probe;

	probe = devnull();
	close(probe);
	memset(&rx, 0, sizeof(rx));
	for (;;) {
		used = 0;
		res = imsg_decode(data + off, size - off, &imsg, &used);
		if (res != IMSG_DECODE_FRAME)
			break;
		if (used < IMSG_HDR_SIZE || used > size - off ||
		    used > IMSG_MAX_FRAME || used != imsg.hdr.len ||
		    imsg.data != data + off + IMSG_HDR_SIZE ||
		    imsg.datalen != used - IMSG_HDR_SIZE || imsg.fd != -1 ||
		    imsg.hdr.type == 0 || (imsg.hdr.flags & ~IMSG_F_ALL))
			abort();
		off += used;
		read_head(&imsg);
		read_rcpts(&imsg);
		read_envelope(&imsg);
		read_dns(&imsg);
		if (imsg.hdr.flags & IMSG_F_FD)
			imsg.fd = devnull();
		read_conf(&rx, &imsg);
	}
	if (res == IMSG_DECODE_MORE && size - off >= IMSG_MAX_FRAME)
		abort();
	conf_rx_reset(&rx);
	/* Every descriptor handed over was closed or kept and freed. */
	if (devnull() != probe)
		abort();
	close(probe);
	return 0;
}
