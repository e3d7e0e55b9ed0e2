/*
 * dns_fcrdns: forward-confirmed reverse DNS.  The PTR names of an address
 * count only if one of them resolves back to that address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsd.h"
#include "log.h"

#define FCRDNS_NAMES	5	/* PTR names tried, at most */

struct fcrdns {
	struct dnsd	*d;
	struct waiter	*w;
	int		 af;
	uint8_t		 addr[16];
	char		 names[FCRDNS_NAMES][DNS_NAME_MAX];
	size_t		 nnames;
	size_t		 pending;
	int		 confirmed;	/* index + 1 */
	int		 tempfail;
};

struct fcrdns_probe {
	struct fcrdns	*f;
	size_t		 i;
};

int
reverse_name(const char *ip, char *buf, size_t sz)
{
	uint8_t	a[16];
	size_t	o = 0;
	int	i, n;

	if (inet_pton(AF_INET, ip, a) == 1) {
		n = snprintf(buf, sz, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2],
		    a[1], a[0]);
		return (n < 0 || (size_t)n >= sz) ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, a) != 1 || sz < 73)
		return -1;
	for (i = 15; i >= 0; i--) {
		static const char hex[] = "0123456789abcdef";

		buf[o++] = hex[a[i] & 0xf];
		buf[o++] = '.';
		buf[o++] = hex[a[i] >> 4];
		buf[o++] = '.';
	}
	strlcpy(buf + o, "ip6.arpa", sz - o);
	return 0;
}

static void
finish(struct fcrdns *f)
{
	struct dns_answer *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("fcrdns");
	if (f->confirmed) {
		a->rcode = DNS_R_OK;
		a->nrr = 1;
		strlcpy(a->rr[0].name, f->names[f->confirmed - 1],
		    sizeof(a->rr[0].name));
	} else
		a->rcode = f->tempfail ? DNS_R_TEMPFAIL : DNS_R_NODATA;
	f->w->cb(f->w->arg, a);
	free(f->w);
	free(a);
	free(f);
}

static void
on_forward(void *arg, const struct dns_answer *a)
{
	struct fcrdns_probe	*p = arg;
	struct fcrdns		*f = p->f;
	size_t			 i, alen = f->af == AF_INET ? 4 : 16;

	if (a->rcode == DNS_R_TEMPFAIL)
		f->tempfail = 1;
	for (i = 0; i < a->nrr && !f->confirmed; i++)
		if (memcmp(a->rr[i].addr, f->addr, alen) == 0)
			f->confirmed = (int)p->i + 1;
	free(p);
	if (--f->pending == 0)
		finish(f);
}

static void
on_ptr(void *arg, const struct dns_answer *a)
{
	struct fcrdns		*f = arg;
	struct fcrdns_probe	*p;
	struct waiter		*w;
	size_t			 i;

	if (a->rcode != DNS_R_OK) {
		f->tempfail = a->rcode == DNS_R_TEMPFAIL;
		finish(f);
		return;
	}
	for (i = 0; i < a->nrr && f->nnames < FCRDNS_NAMES; i++)
		strlcpy(f->names[f->nnames++], a->rr[i].name,
		    sizeof(f->names[0]));
	/*
	 * Cached answers come back inside dnsd_lookup: one extra count
	 * keeps f alive until every look-up has been started.
	 */
	f->pending = f->nnames + 1;
	for (i = 0; i < f->nnames; i++) {
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (w = calloc(1, sizeof(*w))) == NULL)
			fatal("fcrdns");
		p->f = f;
		p->i = i;
		w->peer = PROC_PARENT;
		w->cb = on_forward;
		w->arg = p;
		dnsd_lookup(f->d, f->af == AF_INET ? DNS_T_A : DNS_T_AAAA,
		    f->names[i], w);
	}
	if (--f->pending == 0)
		finish(f);
}

void
fcrdns_start(struct dnsd *d, const char *ip, struct waiter *w)
{
	struct fcrdns	*f;
	struct waiter	*iw;
	char		 rev[80];

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (iw = calloc(1, sizeof(*iw))) == NULL)
		fatal("fcrdns");
	f->d = d;
	f->w = w;
	if (inet_pton(AF_INET, ip, f->addr) == 1)
		f->af = AF_INET;
	else if (inet_pton(AF_INET6, ip, f->addr) == 1)
		f->af = AF_INET6;
	if (f->af == 0 || reverse_name(ip, rev, sizeof(rev)) == -1) {
		free(iw);
		finish(f);
		return;
	}
	iw->peer = PROC_PARENT;
	iw->cb = on_ptr;
	iw->arg = f;
	dnsd_lookup(d, DNS_T_PTR, rev, iw);
}
