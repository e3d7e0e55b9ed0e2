/*
 * policy_greylist: greylisting as postgrey does it, with two changes.
 *
 * The key is (client, sender, recipient), stored as an HMAC-SHA256 under
 * the install's secret, so the store names no address in clear.  The
 * client is its /24 (IPv4) or /64 (IPv6), or the sender's domain when SPF
 * passed for it: a big sender's pool of outbound addresses then passes
 * after one retry from any of them, which postgrey cannot do.  Senders
 * are normalised first, so that a fresh BATV tag, SRS wrapper or VERP
 * number does not make a new triplet of every message.
 *
 * A triplet is deferred until `delay` has passed since its first attempt;
 * a retry within `window` passes, and the triplet then passes for
 * `lifetime`, renewed at most hourly by its use.  A client whose triplets
 * passed `auto_whitelist_after` times (each new triplet counts, a known
 * one at most once an hour) passes as a whole for `lifetime`.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "mailaddr.h"
#include "policy_greylist.h"

#define RENEW_EVERY	3600	/* a passed triplet's lifetime, renewed */
#define COUNT_EVERY	3600	/* a known triplet's pass counted again */

void
grey_identity(const struct netaddr *na, const char *spf_domain,
    struct grey_id *id)
{
	struct cidr	c;
	size_t		n;

	memset(id, 0, sizeof(*id));
	if (spf_domain != NULL && *spf_domain != '\0' &&
	    (n = strlen(spf_domain)) < sizeof(id->raw) - 2) {
		id->raw[0] = 'd';
		for (id->len = 1; id->len <= n; id->len++)
			id->raw[id->len] = (uint8_t)tolower(
			    (unsigned char)spf_domain[id->len - 1]);
		snprintf(id->text, sizeof(id->text), "spf:%.*s", (int)n,
		    (const char *)id->raw + 1);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.af = na->af;
	if (na->af == AF_INET) {
		c.plen = 24;
		memcpy(c.addr, na->addr, 3);
		id->raw[0] = '4';
		memcpy(id->raw + 1, na->addr, 3);
		id->len = 4;
	} else {
		c.plen = 64;
		memcpy(c.addr, na->addr, 8);
		id->raw[0] = '6';
		memcpy(id->raw + 1, na->addr, 8);
		id->len = 9;
	}
	cidr_format(&c, id->text, sizeof(id->text));
}

/* Skip a prefix up to and including its end marker, if it is there. */
static const char *
skip_tag(const char *p, const char *prefix, const char *end)
{
	size_t		 n = strlen(prefix);
	const char	*e;

	if (strncmp(p, prefix, n) != 0 || (e = strstr(p + n, end)) == NULL ||
	    e[strlen(end)] == '\0')
		return p;
	return e + strlen(end);
}

/*
 * SRS0=HHH=TT=domain=local (SRS1=HHH=fwd==HHH=TT=domain=local): the
 * original local part and domain.  0, or -1 if it is not SRS.
 */
static int
srs_original(const char *local, const char **d, size_t *dlen,
    const char **l)
{
	const char	*p = local, *f[3];
	int		 i;

	if (strncmp(p, "srs1=", 5) == 0) {
		if ((p = strstr(p, "==")) == NULL)
			return -1;
		p += 2;
	} else if (strncmp(p, "srs0=", 5) == 0)
		p += 5;
	else
		return -1;
	/* hash, time stamp, domain; the rest is the local part. */
	for (i = 0; i < 3; i++) {
		if ((f[i] = strchr(p, '=')) == NULL)
			return -1;
		if (i == 2)
			break;
		p = f[i] + 1;
	}
	*d = f[1] + 1;
	*dlen = (size_t)(f[2] - *d);
	*l = f[2] + 1;
	return *dlen > 0 && **l != '\0' ? 0 : -1;
}

static int
word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Lower case, then BATV, SRS, +extensions and VERP numbers undone. */
void
grey_normalize_sender(const char *in, char *out, size_t sz)
{
	char		 lc[GREY_SENDER_MAX], local[GREY_SENDER_MAX];
	const char	*at, *l, *d, *sd;
	size_t		 i, o, dlen, n;

	if (sz == 0)
		return;
	for (i = 0; in[i] != '\0' && i < sizeof(lc) - 1; i++)
		lc[i] = (char)tolower((unsigned char)in[i]);
	lc[i] = '\0';
	if ((at = strrchr(lc, '@')) == NULL) {
		strlcpy(out, lc, sz);
		return;
	}
	n = (size_t)(at - lc);
	memcpy(local, lc, n);
	local[n] = '\0';
	d = at + 1;
	dlen = strlen(d);
	l = skip_tag(local, "prvs=", "=");
	l = skip_tag(l, "msprvs1=", "=");
	l = skip_tag(l, "btv1==", "==");
	if (srs_original(l, &sd, &dlen, &l) == 0)
		d = sd;
	/* The local part up to its extension, numbers made '#'. */
	for (i = 0, o = 0; l[i] != '\0' && l[i] != '+' && l[i] != '=' &&
	    l[i] != '@' && o < sz - 1; i++) {
		if (isdigit((unsigned char)l[i]) && (i == 0 ||
		    !word_char(l[i - 1]))) {
			size_t j = i;

			while (isdigit((unsigned char)l[j]))
				j++;
			if (!word_char(l[j])) {
				out[o++] = '#';
				i = j - 1;
				continue;
			}
		}
		out[o++] = l[i];
	}
	if (o < sz - 1)
		out[o++] = '@';
	for (i = 0; i < dlen && d[i] != '\0' && o < sz - 1; i++)
		out[o++] = d[i];
	out[o] = '\0';
}

static void
hmac_key(const uint8_t secret[CONF_SECRET_LEN], uint8_t db,
    const void *data, size_t len, struct pstore_key *k)
{
	unsigned int n = 0;

	memset(k, 0, sizeof(*k));
	k->db = db;
	if (HMAC(EVP_sha256(), secret, CONF_SECRET_LEN, data, len, k->key,
	    &n) == NULL || n == 0 || n > sizeof(k->key))
		fatalx("HMAC-SHA256 failed");
	k->len = (uint8_t)n;
}

/* Append what fits; the caller's buffers are sized for every field. */
static size_t
append(uint8_t *buf, size_t sz, size_t o, const void *p, size_t n)
{
	if (o >= sz)
		return o;
	if (n > sz - o)
		n = sz - o;
	memcpy(buf + o, p, n);
	return o + n;
}

/* The fields joined with NULs, after a label saying what they are. */
static size_t
join(uint8_t *buf, size_t sz, const char *label, const void *a, size_t alen,
    const char *b, const char *c)
{
	size_t o;

	o = append(buf, sz, 0, label, strlen(label) + 1);
	o = append(buf, sz, o, a, alen);
	if (b != NULL) {
		o = append(buf, sz, o, "", 1);
		o = append(buf, sz, o, b, strlen(b));
	}
	if (c != NULL) {
		o = append(buf, sz, o, "", 1);
		o = append(buf, sz, o, c, strlen(c));
	}
	return o;
}

void
grey_triplet_key(const uint8_t secret[CONF_SECRET_LEN],
    const struct grey_id *id, const char *sender, const char *rcpt,
    struct pstore_key *k)
{
	uint8_t	 buf[GREY_ID_MAX + 2 * GREY_SENDER_MAX + 16];
	char	 s[GREY_SENDER_MAX], r[GREY_SENDER_MAX];
	size_t	 i;

	grey_normalize_sender(sender, s, sizeof(s));
	for (i = 0; rcpt[i] != '\0' && i < sizeof(r) - 1; i++)
		r[i] = (char)tolower((unsigned char)rcpt[i]);
	r[i] = '\0';
	hmac_key(secret, PDB_GREYLIST, buf, join(buf, sizeof(buf),
	    "greylist", id->raw, id->len, s, r), k);
}

void
grey_awl_key(const uint8_t secret[CONF_SECRET_LEN], const struct grey_id *id,
    struct pstore_key *k)
{
	uint8_t buf[GREY_ID_MAX + 16];

	hmac_key(secret, PDB_AWL, buf, join(buf, sizeof(buf), "awl",
	    id->raw, id->len, NULL, NULL), k);
}

void
grey_pregreet_key(const uint8_t secret[CONF_SECRET_LEN],
    const struct netaddr *na, struct pstore_key *k)
{
	uint8_t buf[64], a[17];

	a[0] = na->af == AF_INET6 ? '6' : '4';
	memcpy(a + 1, na->addr, 16);
	hmac_key(secret, PDB_PREGREET, buf, join(buf, sizeof(buf), "pregreet",
	    a, sizeof(a), NULL, NULL), k);
}

/* Encodings: fixed fields, big-endian, the expiry first. */

static size_t
put_i64(uint8_t *p, int64_t v)
{
	pstore_put_expiry(p, v);
	return 8;
}

static int64_t
get_i64(const uint8_t *p)
{
	return pstore_expiry(p, 8);
}

size_t
grey_entry_encode(const struct grey_entry *e, uint8_t *p, size_t sz)
{
	size_t o = 0, n = strlen(e->tenant);

	if (sz < 32 + n)
		return 0;
	o += put_i64(p + o, e->expiry);
	o += put_i64(p + o, e->first);
	o += put_i64(p + o, e->passed);
	o += put_i64(p + o, e->renewed);
	memcpy(p + o, e->tenant, n);
	return o + n;
}

int
grey_entry_decode(const uint8_t *p, size_t len, struct grey_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (len < 32 || len - 32 > TENANT_MAX)
		return -1;
	e->expiry = get_i64(p);
	e->first = get_i64(p + 8);
	e->passed = get_i64(p + 16);
	e->renewed = get_i64(p + 24);
	memcpy(e->tenant, p + 32, len - 32);
	return 0;
}

size_t
awl_entry_encode(const struct awl_entry *e, uint8_t *p, size_t sz)
{
	if (sz < 20)
		return 0;
	put_i64(p, e->expiry);
	p[8] = (uint8_t)(e->passes >> 24);
	p[9] = (uint8_t)(e->passes >> 16);
	p[10] = (uint8_t)(e->passes >> 8);
	p[11] = (uint8_t)e->passes;
	put_i64(p + 12, e->counted);
	return 20;
}

int
awl_entry_decode(const uint8_t *p, size_t len, struct awl_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (len != 20)
		return -1;
	e->expiry = get_i64(p);
	e->passes = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
	    (uint32_t)p[10] << 8 | p[11];
	e->counted = get_i64(p + 12);
	return 0;
}

/* A pass of one of the client's triplets, counted (new: always). */
static void
count_pass(const struct policy_conf *p, const struct pstore_val *awl,
    int64_t now, int new_triplet, struct grey_decision *d)
{
	struct awl_entry a;

	if (p->grey_awl_after == 0)
		return;
	if (!awl->found || awl_entry_decode(awl->val, awl->len, &a) == -1)
		memset(&a, 0, sizeof(a));
	else if (!new_triplet && now - a.counted < COUNT_EVERY)
		return;
	if (a.passes < UINT32_MAX)
		a.passes++;
	a.counted = now;
	a.expiry = now + p->grey_lifetime;
	d->awl = a;
	d->put_awl = 1;
}

static void
start_over(const struct policy_conf *p, const char *tenant, int64_t now,
    struct grey_decision *d, const char *why)
{
	d->result = GREY_DEFER;
	d->why = why;
	d->retry_in = p->grey_delay;
	memset(&d->triplet, 0, sizeof(d->triplet));
	d->triplet.first = now;
	d->triplet.renewed = now;
	d->triplet.expiry = now + p->grey_window;
	strlcpy(d->triplet.tenant, tenant, sizeof(d->triplet.tenant));
	d->put_triplet = 1;
}

void
grey_decide(const struct policy_conf *p, const char *tenant,
    const struct pstore_val *trip, const struct pstore_val *awl,
    int64_t now, struct grey_decision *d)
{
	struct grey_entry	e;
	struct awl_entry	a;

	memset(d, 0, sizeof(*d));
	if (p->grey_awl_after > 0 && awl->found &&
	    awl_entry_decode(awl->val, awl->len, &a) == 0 &&
	    a.passes >= p->grey_awl_after) {
		d->result = GREY_PASS;
		d->why = "auto-whitelisted";
		count_pass(p, awl, now, 0, d);
		return;
	}
	if (!trip->found || grey_entry_decode(trip->val, trip->len, &e) == -1) {
		start_over(p, tenant, now, d, "new triplet");
		return;
	}
	if (e.passed == 0) {
		if (now < e.first) {	/* the clock went back */
			start_over(p, tenant, now, d, "new triplet");
			return;
		}
		if (now - e.first < p->grey_delay) {
			d->result = GREY_DEFER;
			d->why = "retry too early";
			d->retry_in = (uint32_t)(p->grey_delay - (now - e.first));
			return;
		}
		if (now - e.first > p->grey_window) {
			start_over(p, tenant, now, d, "retry after the window");
			return;
		}
		d->result = GREY_PASS;
		d->why = "retried in time";
		e.passed = e.renewed = now;
		e.expiry = now + p->grey_lifetime;
		d->triplet = e;
		d->put_triplet = 1;
		count_pass(p, awl, now, 1, d);
		return;
	}
	d->result = GREY_PASS;
	d->why = "known triplet";
	if (now - e.renewed >= RENEW_EVERY) {
		e.renewed = now;
		e.expiry = now + p->grey_lifetime;
		d->triplet = e;
		d->put_triplet = 1;
	}
	count_pass(p, awl, now, 0, d);
}

/*
 * The whitelist relayctl adds to.
 */

struct grey_wl_entry {
	struct cidr	 net;		/* af 0: a domain */
	char		*domain;
};

struct grey_wl {
	struct grey_wl_entry	*v;
	size_t			 n;
};

struct grey_wl *
grey_wl_new(void)
{
	struct grey_wl *wl;

	if ((wl = calloc(1, sizeof(*wl))) == NULL)
		fatal("whitelist");
	return wl;
}

void
grey_wl_free(struct grey_wl *wl)
{
	size_t i;

	if (wl == NULL)
		return;
	for (i = 0; i < wl->n; i++)
		free(wl->v[i].domain);
	free(wl->v);
	free(wl);
}

/* An address, a network or a domain; 0, or -1 if it is none. */
int
grey_wl_parse(const char *s, struct cidr *c, char *domain, size_t sz)
{
	char		buf[128];
	size_t		i, n;

	memset(c, 0, sizeof(*c));
	domain[0] = '\0';
	if (strchr(s, ':') != NULL || isdigit((unsigned char)s[0])) {
		/* An address alone is its /32 or /128. */
		if (strchr(s, '/') == NULL)
			snprintf(buf, sizeof(buf), "%s/%d", s, strchr(s, ':') ?
			    128 : 32);
		else
			strlcpy(buf, s, sizeof(buf));
		if (cidr_parse(buf, c) == NULL)
			return 0;
		memset(c, 0, sizeof(*c));
	}
	/*
	 * A domain, by the rule the tenants' whitelists follow: so a typo
	 * of an address ("192.0.2") is refused, not taken for a name.
	 */
	if ((n = strlen(s)) >= sz || !mailaddr_valid_domain(s, n, 0))
		return -1;
	for (i = 0; i < n; i++)
		domain[i] = (char)tolower((unsigned char)s[i]);
	domain[i] = '\0';
	return 0;
}

int
grey_wl_add(struct grey_wl *wl, const char *s, char *err, size_t errsz)
{
	struct grey_wl_entry	*v, e;
	char			 domain[256];
	size_t			 i;

	if (grey_wl_parse(s, &e.net, domain, sizeof(domain)) == -1) {
		snprintf(err, errsz, "not an address, network or domain");
		return -1;
	}
	for (i = 0; i < wl->n; i++)
		if ((domain[0] && wl->v[i].domain != NULL &&
		    strcmp(wl->v[i].domain, domain) == 0) ||
		    (!domain[0] && wl->v[i].domain == NULL &&
		    memcmp(&wl->v[i].net, &e.net, sizeof(e.net)) == 0))
			return 0;	/* there already */
	e.domain = NULL;
	if (domain[0] && (e.domain = strdup(domain)) == NULL)
		goto nomem;
	if ((v = reallocarray(wl->v, wl->n + 1, sizeof(*v))) == NULL) {
		free(e.domain);
		goto nomem;
	}
	wl->v = v;
	wl->v[wl->n++] = e;
	return 0;
nomem:
	snprintf(err, errsz, "out of memory");
	return -1;
}

size_t
grey_wl_count(const struct grey_wl *wl)
{
	return wl->n;
}

int
grey_wl_entry(const struct grey_wl *wl, size_t i, char *buf, size_t sz)
{
	if (i >= wl->n)
		return -1;
	if (wl->v[i].domain != NULL)
		strlcpy(buf, wl->v[i].domain, sz);
	else
		cidr_format(&wl->v[i].net, buf, sz);
	return 0;
}

/* The domain, or one of its parents, is this one. */
static int
domain_in(const char *d, const char *listed)
{
	size_t dl = strlen(d), ll = strlen(listed);

	if (dl == ll)
		return strcasecmp(d, listed) == 0;
	return dl > ll && d[dl - ll - 1] == '.' &&
	    strcasecmp(d + dl - ll, listed) == 0;
}

/* What listed the client, for the log; NULL if nothing did. */
const char *
grey_whitelisted(const struct grey_wl *wl, const struct policy_conf *p,
    const struct netaddr *na, const char *spf_domain)
{
	size_t i;

	for (i = 0; i < p->ngrey_nets; i++)
		if (cidr_contains(&p->grey_nets[i], na->af, na->addr))
			return "the tenant's whitelist (network)";
	for (i = 0; spf_domain != NULL && i < p->ngrey_domains; i++)
		if (domain_in(spf_domain, p->grey_domains[i]))
			return "the tenant's whitelist (domain)";
	for (i = 0; wl != NULL && i < wl->n; i++) {
		if (wl->v[i].domain == NULL) {
			if (cidr_contains(&wl->v[i].net, na->af, na->addr))
				return "the whitelist (network)";
		} else if (spf_domain != NULL &&
		    domain_in(spf_domain, wl->v[i].domain))
			return "the whitelist (domain)";
	}
	return NULL;
}
