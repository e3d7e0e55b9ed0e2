/*
 * dns_client: ask dnsd, and the answer encoding both sides share.
 */
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "dns_client.h"
#include "log.h"
#include "marshal.h"
#include "msg_dns.h"

struct dns_req {
	RB_ENTRY(dns_req)	 entry;
	uint64_t		 id;
	uint32_t		 qtype;
	dns_cb			 cb;
	void			*arg;
};
RB_HEAD(dns_req_tree, dns_req);

struct dns_client {
	struct child		*child;
	struct dns_req_tree	 reqs;
	uint64_t		 next_id;
	size_t			 pending;
};

int	dns_req_cmp(struct dns_req *, struct dns_req *);
RB_PROTOTYPE(dns_req_tree, dns_req, entry, dns_req_cmp)

int
dns_req_cmp(struct dns_req *a, struct dns_req *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(dns_req_tree, dns_req, entry, dns_req_cmp)

struct dns_client *
dns_client_new(struct child *c)
{
	struct dns_client *dc;

	if ((dc = calloc(1, sizeof(*dc))) == NULL)
		fatal("dns client");
	dc->child = c;
	RB_INIT(&dc->reqs);
	return dc;
}

uint64_t
dns_lookup(struct dns_client *dc, uint32_t qtype, const char *name,
    dns_cb cb, void *arg)
{
	struct dns_req	*r;
	struct mw	 w;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("dns request");
	r->id = ++dc->next_id;
	r->qtype = qtype;
	r->cb = cb;
	r->arg = arg;
	RB_INSERT(dns_req_tree, &dc->reqs, r);
	dc->pending++;
	mw_init(&w);
	mw_u32(&w, qtype);
	mw_str(&w, name);
	if (w.err)
		fatalx("dns query too long: %.64s", name);
	child_send(dc->child, PROC_DNSD, M_DNS_QUERY, r->id, -1, w.buf,
	    w.len);
	return r->id;
}

void
dns_cancel(struct dns_client *dc, uint64_t id)
{
	struct dns_req find, *r;

	find.id = id;
	if ((r = RB_FIND(dns_req_tree, &dc->reqs, &find)) == NULL)
		return;
	/* Keep the slot: the answer still comes, and is dropped. */
	r->cb = NULL;
}

size_t
dns_client_pending(const struct dns_client *dc)
{
	return dc->pending;
}

void
dns_client_dispatch(struct dns_client *dc, struct imsg *imsg)
{
	struct dns_req		 find, *r;
	struct dns_answer	*a;

	if (imsg->hdr.type != M_DNS_ANSWER || imsg_has_fd(imsg))
		child_peer_broken(dc->child, PROC_DNSD, imsg, "unexpected");
	find.id = imsg->hdr.peerid;
	if ((r = RB_FIND(dns_req_tree, &dc->reqs, &find)) == NULL)
		child_peer_broken(dc->child, PROC_DNSD, imsg, "unknown id");
	RB_REMOVE(dns_req_tree, &dc->reqs, r);
	dc->pending--;
	if ((a = malloc(sizeof(*a))) == NULL)
		fatal("dns answer");
	if (dns_answer_decode(imsg->data, imsg->datalen, r->qtype, a) == -1)
		child_peer_broken(dc->child, PROC_DNSD, imsg, "answer");
	if (r->cb != NULL)
		r->cb(r->arg, a);
	dns_answer_clear(a);
	free(a);
	free(r);
}

static int
is_addr(uint32_t qtype)
{
	return qtype == DNS_T_A || qtype == DNS_T_AAAA;
}

int
dns_answer_encode(const struct dns_answer *a, uint32_t qtype, struct mw *w)
{
	size_t	i, n = 0;
	size_t	need;

	mw_init(w);
	/* Count what fits; the rest is dropped and flagged truncated. */
	need = 3 * 2 + 5;	/* rcode, truncated, secure, count */
	for (i = 0; i < a->nrr; i++) {
		const struct dns_rr *rr = &a->rr[i];
		size_t sz = is_addr(qtype) ? 19 :
		    qtype == DNS_T_TXT ? rr->txtlen + 3 :
		    qtype == DNS_T_TLSA ? rr->txtlen + 3 + 3 * 2 :
		    strlen(rr->name) + 3 + (qtype == DNS_T_MX ? 5 : 0);

		if (need + sz > sizeof(w->inl))
			break;
		need += sz;
		n++;
	}
	mw_u8(w, (uint8_t)a->rcode);
	mw_u8(w, (uint8_t)(a->truncated || n < a->nrr));
	mw_u8(w, (uint8_t)(a->secure != 0));
	mw_u32(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (qtype == DNS_T_A)
			mw_data(w, rr->addr, 4);
		else if (qtype == DNS_T_AAAA)
			mw_data(w, rr->addr, 16);
		else if (qtype == DNS_T_TXT)
			mw_data(w, rr->txt, rr->txtlen);
		else if (qtype == DNS_T_TLSA) {
			mw_u8(w, rr->tlsa_usage);
			mw_u8(w, rr->tlsa_selector);
			mw_u8(w, rr->tlsa_mtype);
			mw_data(w, rr->txt, rr->txtlen);
		} else {
			if (qtype == DNS_T_MX)
				mw_u32(w, rr->pref);
			mw_str(w, rr->name);
		}
	}
	return w->err ? -1 : 0;
}

int
dns_answer_decode(const void *p, size_t len, uint32_t qtype,
    struct dns_answer *a)
{
	struct mr	 r;
	const void	*d;
	size_t		 dl;
	uint32_t	 n, i;

	memset(a, 0, sizeof(*a));
	mr_init(&r, p, len);
	a->rcode = (enum dns_rcode)mr_u8(&r);
	a->truncated = mr_u8(&r);
	a->secure = mr_u8(&r);
	n = mr_u32(&r);
	if (r.err || a->rcode > DNS_R_TEMPFAIL || n > DNS_MAX_RR ||
	    (n > 0 && a->rcode != DNS_R_OK) || a->secure > 1 ||
	    (a->secure && a->rcode == DNS_R_TEMPFAIL))
		return -1;
	for (i = 0; i < n; i++) {
		struct dns_rr *rr = &a->rr[i];

		rr->type = (uint16_t)qtype;
		a->nrr++;
		if (is_addr(qtype)) {
			if ((d = mr_data(&r, &dl)) == NULL ||
			    dl != (qtype == DNS_T_A ? 4u : 16u))
				goto bad;
			memcpy(rr->addr, d, dl);
		} else if (qtype == DNS_T_TXT || qtype == DNS_T_TLSA) {
			if (qtype == DNS_T_TLSA) {
				rr->tlsa_usage = mr_u8(&r);
				rr->tlsa_selector = mr_u8(&r);
				rr->tlsa_mtype = mr_u8(&r);
			}
			if ((d = mr_data(&r, &dl)) == NULL ||
			    dl > (qtype == DNS_T_TXT ? DNS_TXT_MAX :
			    DNS_TLSA_MAX) || (rr->txt = malloc(dl + 1)) == NULL)
				goto bad;
			memcpy(rr->txt, d, dl);
			rr->txt[dl] = '\0';
			rr->txtlen = dl;
		} else {
			if (qtype == DNS_T_MX)
				rr->pref = (uint16_t)mr_u32(&r);
			mr_str(&r, rr->name, sizeof(rr->name));
		}
	}
	if (mr_end(&r) == -1)
		goto bad;
	return 0;
bad:
	dns_answer_clear(a);
	return -1;
}
