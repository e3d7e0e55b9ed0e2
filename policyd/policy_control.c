/*
 * policy_control: relayctl's commands for policyd but test spf
 * (policy_test.c): test dnsbl, show greylist, greylist whitelist and
 * greylist flush; show recipients (in parts, ctl_stream.h) and
 * recipients forget (policy_rcpt.c);
 * and the whitelist they keep in the store (PDB_WHITELIST: the
 * operator's entries, in clear, the key the entry's text).
 *
 * show greylist reads the store in steps of WALK_STEP entries, each in
 * its own turn of the event loop, so that a store of millions of
 * triplets does not stall the verdicts smtpd waits for.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "config.h"
#include "control_req.h"
#include "ctl_stream.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "policy_dnsbl.h"
#include "policy_auth.h"
#include "policy_greylist.h"
#include "policy_rcpt.h"
#include "policy_store.h"
#include "policyd.h"

#define WALK_STEP	20000	/* entries read per turn of the loop */
#define AWL_BUCKETS	64	/* passes counted up to this */

#define WL_WALK		4096	/* entries read in one step */
#define WL_FOREVER	((int64_t)1 << 62)

struct wl_walk {
	struct policyd	*pd;
	size_t		 bad;
};

static void
wl_entry(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen)
{
	struct wl_walk	*w = arg;
	char		 text[PDB_KEY_MAX + 1], err[128];

	(void)val;
	(void)vlen;
	if (klen == 0 || klen > PDB_KEY_MAX) {
		w->bad++;
		return;
	}
	memcpy(text, key, klen);
	text[klen] = '\0';
	if (grey_wl_add(w->pd->whitelist, text, err, sizeof(err)) == -1)
		w->bad++;
}

/*
 * The whitelist, read once the store can be read; until then the
 * tenants' own whitelists still apply, and greylisting is the cautious
 * default for everyone else.
 */
void
whitelist_load(struct policyd *pd)
{
	struct wl_walk	w = { pd, 0 };
	uint8_t		at[PDB_KEY_MAX];
	size_t		atlen = 0;
	int		rv;

	while ((rv = pstore_walk(pd->store, PDB_WHITELIST, at, &atlen,
	    WL_WALK, wl_entry, &w)) == 1)
		;
	if (rv == -1)
		return;
	pd->wl_loaded = 1;
	if (w.bad > 0)
		log_warnx("greylist whitelist: %zu entries in the store are "
		    "not addresses, networks or domains; ignored", w.bad);
	log_debug("greylist whitelist: %zu entries",
	    grey_wl_count(pd->whitelist));
}

/* relayctl greylist whitelist ADDR|NET|DOMAIN: 0, or -1 with err. */
int
whitelist_add(struct policyd *pd, const char *text, char *err, size_t errsz)
{
	struct pstore_key	k;
	uint8_t			val[PDB_EXPIRY_LEN];
	size_t			n = strlen(text);

	if (n == 0 || n > PDB_KEY_MAX) {
		snprintf(err, errsz, "not an address, network or domain");
		return -1;
	}
	if (!pd->wl_loaded)
		whitelist_load(pd);
	if (grey_wl_add(pd->whitelist, text, err, errsz) == -1)
		return -1;
	memset(&k, 0, sizeof(k));
	k.db = PDB_WHITELIST;
	k.len = (uint8_t)n;
	memcpy(k.key, text, n);
	pstore_put_expiry(val, WL_FOREVER);
	pstore_put(pd->store, &k, val, sizeof(val));
	log_info("greylist whitelist: %s added", text);
	return 0;
}

/* relayctl greylist flush: every triplet and auto-whitelisted client. */
void
greylist_flush(struct policyd *pd)
{
	pstore_flush(pd->store, PDB_GREYLIST);
	pstore_flush(pd->store, PDB_AWL);
	log_info("greylist: flushed (triplets and auto-whitelisted clients)");
}

/*
 * Answers.
 */

void
pctl_line(struct policyd *pd, uint64_t req, const char *fmt, ...)
{
	char	text[CTL_TEXT_MAX];
	struct mw w;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mw_init(&w);
	mw_str(&w, text);
	child_send(pd->child, PROC_PARENT, M_CTL_LINE, req, -1, w.buf, w.len);
}

void
pctl_done(struct policyd *pd, uint64_t req, const char *err)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, err == NULL);
	mw_str(&w, err != NULL ? err : "");
	child_send(pd->child, PROC_PARENT, M_CTL_DONE, req, -1, w.buf, w.len);
}

/*
 * test dnsbl IP: every list's answer, and each tenant's score.
 */

struct dnsbl_test {
	struct policyd		*pd;
	uint64_t		 req;
	struct netaddr		 ip;
	struct dnsbl_lookup	*l;
};

static void
dnsbl_answered(void *arg)
{
	struct dnsbl_test	*t = arg;
	struct policyd		*pd = t->pd;
	const struct conf	*conf = pd->child->conf;
	struct dnsbl_score	 s;
	char			 line[CTL_TEXT_MAX], ip[64];
	size_t			 i;
	int32_t			 th;

	netaddr_format(&t->ip, ip, sizeof(ip));
	for (i = 0; dnsbl_zone_line(t->l, i, line, sizeof(line)) == 0; i++)
		pctl_line(pd, t->req, "%s", line);
	for (i = 0; i < conf->ntenants; i++) {
		const struct tenant_conf *tc = &conf->tenants[i];

		if (!tc->policy.dnsbl)
			continue;
		dnsbl_score(t->l, conf, tc, &s);
		conf_dnsbl_lists(conf, tc, &(size_t){ 0 }, &th);
		pctl_line(pd, t->req, "tenant %s: score %d, threshold %d: %s%s",
		    tc->name, s.score, th, s.listed ? "listed by " :
		    "not listed", s.listed ? s.list : "");
	}
	log_info("control: test dnsbl client=%s", ip);
	pctl_done(pd, t->req, NULL);
	dnsbl_free(t->l);
	free(t);
}

static void
test_dnsbl(struct policyd *pd, uint64_t req, const struct ctl_req *r)
{
	struct dnsbl_test *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		pctl_done(pd, req, "out of memory");
		return;
	}
	t->pd = pd;
	t->req = req;
	if (netaddr_parse(r->args[0], &t->ip) == -1) {
		free(t);
		pctl_done(pd, req, "expected an IPv4 or IPv6 address");
		return;
	}
	if ((t->l = dnsbl_start(pd->dns, pd->child->conf, &t->ip,
	    dnsbl_answered, t)) == NULL) {
		free(t);
		pctl_done(pd, req, "no tenant uses a DNS list");
		return;
	}
}

/*
 * show greylist [TENANT]: triplets waiting and passed per tenant, the
 * clients auto-whitelisted, and the whitelists.
 */

struct grey_count {
	uint64_t	 waiting;
	uint64_t	 passed;
};

struct grey_show {
	struct policyd		*pd;
	uint64_t		 req;
	char			 tenant[TENANT_MAX + 1];	/* "" all */
	uint8_t			 db;
	uint8_t			 at[PDB_KEY_MAX];
	size_t			 atlen;
	int64_t			 now;
	/* The tenants when the walk began: a reload may come during it. */
	char			(*names)[TENANT_MAX + 1];
	struct grey_count	*count;		/* per tenant; last: others */
	size_t			 ntenants;
	uint64_t		 awl[AWL_BUCKETS + 1];	/* by passes */
	uint64_t		 bad;
};

static void
count_triplet(struct grey_show *g, const uint8_t *val, size_t vlen)
{
	struct grey_entry	 e;
	size_t			 i;

	if (grey_entry_decode(val, vlen, &e) == -1) {
		g->bad++;
		return;
	}
	if (e.expiry <= g->now)
		return;		/* gone at the next purge */
	for (i = 0; i < g->ntenants; i++)
		if (strcmp(g->names[i], e.tenant) == 0)
			break;
	if (e.passed != 0)
		g->count[i].passed++;
	else
		g->count[i].waiting++;
}

static void
grey_show_entry(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen)
{
	struct grey_show	*g = arg;
	struct awl_entry	 a;

	(void)key;
	(void)klen;
	if (g->db == PDB_GREYLIST) {
		count_triplet(g, val, vlen);
		return;
	}
	if (awl_entry_decode(val, vlen, &a) == -1)
		g->bad++;
	else if (a.expiry > g->now)
		g->awl[a.passes < AWL_BUCKETS ? a.passes : AWL_BUCKETS]++;
}

static uint64_t
awl_at_least(const struct grey_show *g, uint32_t passes)
{
	uint64_t	n = 0;
	size_t		i;

	for (i = passes < AWL_BUCKETS ? passes : AWL_BUCKETS; i <= AWL_BUCKETS;
	    i++)
		n += g->awl[i];
	return n;
}

static void
grey_show_tenant(struct grey_show *g, const struct tenant_conf *t,
    const struct grey_count *c)
{
	const struct policy_conf	*p = &t->policy;
	char				 net[64];
	size_t				 i;

	pctl_line(g->pd, g->req, "tenant %s: greylisting %s, %llu triplets "
	    "waiting, %llu passed, %llu clients auto-whitelisted", t->name,
	    p->greylist ? "on" : "off", (unsigned long long)c->waiting,
	    (unsigned long long)c->passed, p->grey_awl_after > 0 ?
	    (unsigned long long)awl_at_least(g, p->grey_awl_after) : 0ULL);
	for (i = 0; i < p->ngrey_nets; i++) {
		cidr_format(&p->grey_nets[i], net, sizeof(net));
		pctl_line(g->pd, g->req, "tenant %s: whitelist %s", t->name,
		    net);
	}
	for (i = 0; i < p->ngrey_domains; i++)
		pctl_line(g->pd, g->req, "tenant %s: whitelist %s (when SPF "
		    "passes)", t->name, p->grey_domains[i]);
}

static void
grey_show_free(struct grey_show *g)
{
	free(g->names);
	free(g->count);
	free(g);
}

static void
grey_show_done(struct grey_show *g)
{
	const struct conf	*conf = g->pd->child->conf;
	const struct tenant_conf *t;
	char			 text[PDB_KEY_MAX + 1];
	size_t			 i;

	for (i = 0; i < g->ntenants; i++)
		if ((g->tenant[0] == '\0' ||
		    strcmp(g->tenant, g->names[i]) == 0) &&
		    (t = conf_tenant_by_name(conf, g->names[i])) != NULL)
			grey_show_tenant(g, t, &g->count[i]);
	if (g->tenant[0] == '\0' && (g->count[i].waiting ||
	    g->count[i].passed))
		pctl_line(g->pd, g->req, "removed tenants: %llu triplets "
		    "waiting, %llu passed",
		    (unsigned long long)g->count[i].waiting,
		    (unsigned long long)g->count[i].passed);
	for (i = 0; g->tenant[0] == '\0' && grey_wl_entry(g->pd->whitelist,
	    i, text, sizeof(text)) == 0; i++)
		pctl_line(g->pd, g->req, "whitelist %s", text);
	if (g->bad > 0)
		pctl_line(g->pd, g->req, "%llu entries that cannot be read",
		    (unsigned long long)g->bad);
	pctl_done(g->pd, g->req, NULL);
	grey_show_free(g);
}

static void
grey_show_step(int fd, short ev, void *arg)
{
	struct grey_show	*g = arg;
	struct timeval		 now = { 0, 0 };
	int			 rv;

	(void)fd;
	(void)ev;
	rv = pstore_walk(g->pd->store, g->db, g->at, &g->atlen, WALK_STEP,
	    grey_show_entry, g);
	if (rv == -1) {
		pctl_done(g->pd, g->req, "the policy store cannot be read");
		grey_show_free(g);
		return;
	}
	if (rv == 0 && g->db == PDB_AWL) {
		grey_show_done(g);
		return;
	}
	if (rv == 0) {
		g->db = PDB_AWL;
		g->atlen = 0;
	}
	if (event_base_once(g->pd->child->base, -1, EV_TIMEOUT, grey_show_step, g,
	    &now) == -1) {
		pctl_done(g->pd, g->req, "out of memory");
		grey_show_free(g);
	}
}

static void
show_greylist(struct policyd *pd, uint64_t req, const struct ctl_req *r)
{
	const struct conf	*conf = pd->child->conf;
	struct grey_show	*g;
	size_t			 i;

	if (r->nargs > 0 && conf_tenant_by_name(conf, r->args[0]) == NULL) {
		pctl_done(pd, req, "no such tenant");
		return;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->count = calloc(conf->ntenants + 1, sizeof(*g->count))) ==
	    NULL || (g->names = calloc(conf->ntenants + 1,
	    sizeof(*g->names))) == NULL) {
		if (g != NULL)
			grey_show_free(g);
		pctl_done(pd, req, "out of memory");
		return;
	}
	for (i = 0; i < conf->ntenants; i++)
		strlcpy(g->names[i], conf->tenants[i].name,
		    sizeof(g->names[i]));
	g->pd = pd;
	g->req = req;
	g->ntenants = conf->ntenants;
	g->now = clock_now();
	g->db = PDB_GREYLIST;
	if (r->nargs > 0)
		strlcpy(g->tenant, r->args[0], sizeof(g->tenant));
	grey_show_step(-1, 0, g);
}

/*
 * show recipients TENANT: one line per learned recipient, then the
 * tenant's state, in parts at the pace relayctl reads (ctl_stream.h).
 * The cursor is the key to go on from, kept here: a part reads the store
 * from it again, so entries added or removed meanwhile break nothing.
 */

#define RCPT_WALK	256	/* entries read by one walk */

struct rcpt_show {
	struct policyd		*pd;
	struct ctl_stream	*s;
	uint8_t			 prefix[PDB_KEY_MAX];	/* name NUL */
	size_t			 plen;
	uint8_t			 at[PDB_KEY_MAX];	/* the next key */
	size_t			 atlen;
	int64_t			 now;
	int64_t			 first_seen;
	int			 past;		/* beyond the tenant's keys */
	int			 full;		/* the part is: at is next */
	int			 tail;		/* summary lines sent */
	uint64_t		 n;
	uint64_t		 bad;
};

static void
rcpt_show_entry(void *arg, const uint8_t *key, size_t klen,
    const uint8_t *val, size_t vlen)
{
	struct rcpt_show	*g = arg;
	char			 line[CTL_TEXT_MAX];

	if (g->full || g->past)
		return;
	if (klen < g->plen || memcmp(key, g->prefix, g->plen) != 0) {
		g->past = 1;
		return;
	}
	if (klen == g->plen) {
		g->first_seen = rcpt_first_seen(val, vlen);
		return;
	}
	if (pstore_expiry(val, vlen) <= g->now)
		return;		/* gone at the next purge */
	if (rcpt_entry_format(key, klen, val, vlen, line, sizeof(line)) ==
	    -1) {
		g->bad++;
		return;
	}
	if (ctl_stream_line(g->s, line) == -1) {
		/* Offered again first in the next part. */
		g->full = 1;
		memcpy(g->at, key, klen);
		g->atlen = klen;
		return;
	}
	g->n++;
}

/* The tenant's state, last, when the count is known; 0 when sent. */
static int
rcpt_show_tail(struct rcpt_show *g)
{
	const struct tenant_conf *t;
	char			  seen[32], down[32], line[CTL_TEXT_MAX];
	int64_t			  since;
	struct tm		  tm;
	time_t			  tt;

	strlcpy(seen, "never", sizeof(seen));
	if (g->first_seen > 0 && (tt = (time_t)g->first_seen,
	    gmtime_r(&tt, &tm)) != NULL)
		strftime(seen, sizeof(seen), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strlcpy(down, "up", sizeof(down));
	since = rcpt_down_since(g->pd, (const char *)g->prefix);
	if (since > 0 && (tt = (time_t)since, gmtime_r(&tt, &tm)) != NULL)
		strftime(down, sizeof(down), "down since %Y-%m-%dT%H:%M:%SZ",
		    &tm);
	t = conf_tenant_by_name(g->pd->child->conf, (const char *)g->prefix);
	if (g->tail == 0) {
		snprintf(line, sizeof(line), "tenant %s: verify %s, first "
		    "seen %s, servers %s, %llu recipients learned",
		    (const char *)g->prefix, t == NULL ? "-" :
		    t->verify == VERIFY_CALLOUT ? "callout" :
		    t->verify == VERIFY_LEARN ? "learn" :
		    t->verify == VERIFY_LIST ? "list" : "none", seen, down,
		    (unsigned long long)g->n);
		if (ctl_stream_line(g->s, line) == -1)
			return 1;
		g->tail = 1;
	}
	if (g->tail == 1 && g->bad > 0) {
		snprintf(line, sizeof(line), "%llu entries that cannot be "
		    "read", (unsigned long long)g->bad);
		if (ctl_stream_line(g->s, line) == -1)
			return 1;
	}
	g->tail = 2;
	return 0;
}

/* A part: walks from the cursor until it is full, or WALK_STEP read. */
static int
rcpt_show_fill(struct ctl_stream *s, void *arg, uint64_t *cursor)
{
	struct rcpt_show	*g = arg;
	uint8_t			 at[PDB_KEY_MAX];
	size_t			 atlen, read = 0;
	int			 rv;

	(void)cursor;
	g->s = s;
	g->full = 0;
	while (!g->past && read < WALK_STEP) {
		memcpy(at, g->at, g->atlen);
		atlen = g->atlen;
		rv = pstore_walk(g->pd->store, PDB_RECIPIENTS, at, &atlen,
		    RCPT_WALK, rcpt_show_entry, g);
		if (rv == -1) {
			ctl_stream_error(s, "the policy store cannot be read");
			return -1;
		}
		if (g->full)
			return 1;
		if (rv == 0)
			g->past = 1;
		memcpy(g->at, at, atlen);
		g->atlen = atlen;
		read += RCPT_WALK;
	}
	if (!g->past)
		return 1;
	return rcpt_show_tail(g);
}

void
rcpt_show_open(struct policyd *pd, struct imsg *imsg,
    const struct ctl_req *r)
{
	const struct tenant_conf	*t;
	struct rcpt_show		*g;
	size_t				 n;

	if ((t = conf_tenant_by_name(pd->child->conf, r->args[0])) == NULL) {
		pctl_done(pd, imsg->hdr.peerid, "no such tenant");
		return;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		pctl_done(pd, imsg->hdr.peerid, "out of memory");
		return;
	}
	n = strlen(t->name);
	g->pd = pd;
	g->now = clock_now();
	memcpy(g->prefix, t->name, n);
	g->plen = n + 1;
	memcpy(g->at, g->prefix, g->plen);
	g->atlen = g->plen;
	ctl_stream_open(pd->child, imsg, "show recipients", NULL,
	    rcpt_show_fill, free, g);
}

static void
recipients_forget(struct policyd *pd, uint64_t req, const struct ctl_req *r)
{
	const struct tenant_conf *t;

	if ((t = conf_tenant_by_name(pd->child->conf, r->args[0])) == NULL) {
		pctl_done(pd, req, "no such tenant");
		return;
	}
	if (rcpt_forget(pd, t, r->args[1]) == -1) {
		pctl_done(pd, req, "not an address of a length that can be "
		    "kept");
		return;
	}
	log_info("recipients tenant=%s: an address forgotten (relayctl)",
	    t->name);
	pctl_done(pd, req, NULL);
}

void
policy_control(struct policyd *pd, uint64_t req, const struct ctl_req *r)
{
	char err[128];

	switch (r->cmd) {
	case CTL_TEST_DNSBL:
		test_dnsbl(pd, req, r);
		break;
	case CTL_SHOW_GREYLIST:
		show_greylist(pd, req, r);
		break;
	case CTL_GREYLIST_WHITELIST:
		if (whitelist_add(pd, r->args[0], err, sizeof(err)) == -1)
			pctl_done(pd, req, err);
		else
			pctl_done(pd, req, NULL);
		break;
	case CTL_GREYLIST_FLUSH:
		greylist_flush(pd);
		pctl_done(pd, req, NULL);
		break;
	case CTL_RECIPIENTS_FORGET:
		recipients_forget(pd, req, r);
		break;
	case CTL_AUTH_SUSPEND:
	case CTL_AUTH_RESUME:
		pauth_control(pd->auth, req, r);
		break;
	default:
		pctl_done(pd, req, "not a command for policyd");
		break;
	}
}
