/*
 * parent_selfcheck: the open-relay self-check, planned and reported.
 *
 * relayd must never relay for a stranger, whatever a tenant file says.
 * Every selfcheck.interval (the first time a little after start) and
 * whenever relayctl asks, the parent plans the classic attempts of an
 * open-relay test against each of its own listeners, and deliverd makes
 * them (msg_selfcheck.h): the parent opens no SMTP connection.  Each
 * attempt is one session from a source address outside every tenant's
 * outbound.networks, since from inside one relaying is allowed and the
 * check would prove nothing: selfcheck.from, relayctl's --from (either
 * inside a tenant's networks: the run is refused), or an address chosen
 * here for each family, a loopback one first, then one of an interface.
 *
 *   planned:   listeners x attempts    (targets without a source
 *                                       address are "not checked")
 *   deliverd:  one session each, in order -> M_SC_RESULT ... M_SC_DONE
 *   reported:  each to relayctl as it comes, and to the log; a 2xx to
 *              RCPT is OPEN
 *   scheduled: the summary logged; anything OPEN, and the operator's
 *              postmaster gets a notice (queued writes it)
 *
 * One run at a time; a scheduled run that finds one running is skipped.
 * A deliverd that stops answering has the run cancelled: the attempts
 * left count as failed.
 *
 * BUGS: deliverd makes one session at a time, so a relay with many
 * tenant domains, or a long greeting_delay, takes a while.  Only
 * attempts the parent thought of are made: a relay that is open in a
 * way not listed here passes.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "marshal.h"
#include "msg_selfcheck.h"
#include "netaddr.h"
#include "parent_kidmsg.h"
#include "relayd.h"

#define SC_FIRST_DELAY	60	/* seconds after start, at most */
#define SC_STEP_MAX	600		/* a reply waited for, at most */
#define SC_NOTICE_MAX	(IMSG_MAX_PAYLOAD - 2048)
#define SC_LINE_MAX	(CTL_TEXT_MAX - 16)

/* A listener, as deliverd is to reach it. */
struct sc_listener {
	char		 listener[ADDRSTR_MAX];	/* as configured */
	char		 connect[ADDRSTR_MAX];	/* address */
	uint16_t	 port;
	char		 source[ADDRSTR_MAX];	/* "": none */
	uint32_t	 greeting;
};

/* One attempt, made on each listener. */
struct sc_try {
	char		 what[64];
	char		 sender[SC_ADDR_MAX + 1];
	char		 rcpt[SC_ADDR_MAX + 1];
};

struct sc_plan {
	struct sc_listener	targets[SC_TARGETS_MAX];
	size_t			ntargets;
	/* Those with a source, which deliverd gets. */
	size_t			sent[SC_TARGETS_MAX];
	size_t			nsent;
	struct sc_try		attempts[SC_ATTEMPTS_MAX];
	size_t			nattempts;
	size_t			left_out;	/* past the most */
	char			src4[ADDRSTR_MAX];	/* "": none */
	char			src6[ADDRSTR_MAX];
	char			why4[160];	/* where it came from */
	char			why6[160];
	uint32_t		step;		/* seconds per reply */
	uint32_t		greeting;	/* the longest delay */
};

struct selfcheck {
	struct relayd	*env;
	struct event	*timer;		/* the next scheduled run */
	struct event	*watchdog;	/* deliverd must answer */
	uint32_t	 interval;	/* the timer's */
	uint64_t	 next_id;
	/* the run */
	struct sc_plan	*plan;		/* NULL: none running */
	uint64_t	 id;
	int		 scheduled;
	uint64_t	 conn;		/* relayctl's, 0: none */
	char		 who[32];	/* "scheduled", "uid 0" */
	size_t		 t, a;		/* the next result: sent[t],
					   attempt a */
	unsigned	 nopen, nrefused, nfailed, nskipped;
	char		*notice;	/* the OPEN lines */
	size_t		 notice_len;
	unsigned	 notice_cut;	/* lines left out of it */
};

static void	sc_finish(struct selfcheck *);

static void __attribute__((format(printf, 2, 3)))
sc_line(struct selfcheck *sc, const char *fmt, ...)
{
	char	line[SC_LINE_MAX];
	va_list	ap;

	if (sc->conn == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	control_selfcheck_line(sc->env->control, sc->conn, line);
}

/* Not from anywhere a tenant may relay from. */
static int
sc_outside(const struct conf *conf, const char *addr, struct netaddr *na)
{
	if (netaddr_parse(addr, na) == -1)
		return 0;
	return conf_client_tenant(conf, na) == NULL;
}

/*
 * A local address of this family outside every tenant's networks: a
 * loopback one first (smtpd sees it as a stranger like any other), then
 * one of an interface that is up; IPv6 link-local ones need a scope and
 * are left out.
 */
static int
sc_choose(const struct conf *conf, int af, char *buf, size_t sz,
    char *why, size_t whysz)
{
	static const char *const loop4[] = {
		"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.255.255.254"
	};
	struct ifaddrs	*ifs, *i;
	struct netaddr	 na;
	size_t		 k;
	int		 found = 0;

	for (k = 0; af == AF_INET && k < sizeof(loop4) / sizeof(loop4[0]);
	    k++)
		if (sc_outside(conf, loop4[k], &na)) {
			strlcpy(buf, loop4[k], sz);
			strlcpy(why, "chosen: loopback, outside every tenant's "
			    "outbound.networks", whysz);
			return 0;
		}
	if (af == AF_INET6 && sc_outside(conf, "::1", &na)) {
		strlcpy(buf, "::1", sz);
		strlcpy(why, "chosen: loopback, outside every tenant's "
		    "outbound.networks", whysz);
		return 0;
	}
	if (getifaddrs(&ifs) == -1) {
		log_warn("selfcheck: getifaddrs");
		return -1;
	}
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != af ||
		    !(i->ifa_flags & IFF_UP) ||
		    netaddr_from_sockaddr(&na, i->ifa_addr) == -1 ||
		    na.af != af || (af == AF_INET6 && na.addr[0] == 0xfe &&
		    (na.addr[1] & 0xc0) == 0x80) ||
		    conf_client_tenant(conf, &na) != NULL)
			continue;
		netaddr_format(&na, buf, sz);
		snprintf(why, whysz, "chosen: an address of %s, outside every "
		    "tenant's outbound.networks", i->ifa_name);
		found = 1;
	}
	freeifaddrs(ifs);
	return found ? 0 : -1;
}

/*
 * The source addresses: the one given, for its family, which must be
 * outside every tenant's networks; chosen for the other family, or for
 * both.  -1 with err when the one given cannot prove anything.
 */
static int
sc_sources(const struct conf *conf, struct sc_plan *p, const char *from,
    const char *whence, char *err, size_t errsz)
{
	const struct tenant_conf	*t;
	struct netaddr			 na;

	if (from != NULL) {
		if (netaddr_parse(from, &na) == -1 || (na.af == AF_INET6 &&
		    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)na.addr))) {
			snprintf(err, errsz, "selfcheck: bad source address %s",
			    from);
			return -1;
		}
		if ((t = conf_client_tenant(conf, &na)) != NULL) {
			snprintf(err, errsz, "selfcheck: %s is inside the "
			    "outbound.networks of tenant %s, which may relay "
			    "from there: the check would prove nothing; not "
			    "run", from, t->name);
			return -1;
		}
		if (na.af == AF_INET) {
			strlcpy(p->src4, from, sizeof(p->src4));
			strlcpy(p->why4, whence, sizeof(p->why4));
		} else {
			strlcpy(p->src6, from, sizeof(p->src6));
			strlcpy(p->why6, whence, sizeof(p->why6));
		}
	}
	if (p->src4[0] == '\0')
		(void)sc_choose(conf, AF_INET, p->src4, sizeof(p->src4),
		    p->why4, sizeof(p->why4));
	if (p->src6[0] == '\0')
		(void)sc_choose(conf, AF_INET6, p->src6, sizeof(p->src6),
		    p->why6, sizeof(p->why6));
	return 0;
}

/* Each listener; one on every address is reached on loopback. */
static void
sc_targets(const struct conf *conf, struct sc_plan *p)
{
	const struct listener_conf	*l;
	struct sc_listener		*t;
	struct netaddr			 na;
	size_t				 i;
	static const uint8_t		 any[16];

	for (i = 0; i < conf->nlisteners && p->ntargets < SC_TARGETS_MAX;
	    i++) {
		l = &conf->listeners[i];
		if (netaddr_parse(l->addr.host, &na) == -1)
			continue;
		t = &p->targets[p->ntargets++];
		memset(t, 0, sizeof(*t));
		hostport_format(&l->addr, t->listener, sizeof(t->listener));
		if (memcmp(na.addr, any, na.af == AF_INET ? 4 : 16) == 0)
			strlcpy(t->connect, na.af == AF_INET ? "127.0.0.1" :
			    "::1", sizeof(t->connect));
		else
			strlcpy(t->connect, l->addr.host, sizeof(t->connect));
		t->port = l->addr.port;
		t->greeting = l->greeting_delay;
		strlcpy(t->source, na.af == AF_INET ? p->src4 : p->src6,
		    sizeof(t->source));
		if (t->greeting > p->greeting)
			p->greeting = t->greeting;
	}
}

static void
sc_add(struct sc_plan *p, const char *what, const char *sender,
    const char *rcptfmt, ...) __attribute__((format(printf, 4, 5)));

static void
sc_add(struct sc_plan *p, const char *what, const char *sender,
    const char *rcptfmt, ...)
{
	struct sc_try	*a;
	va_list		 ap;
	int		 n;

	if (p->nattempts == SC_ATTEMPTS_MAX) {
		p->left_out++;
		return;
	}
	a = &p->attempts[p->nattempts];
	va_start(ap, rcptfmt);
	n = vsnprintf(a->rcpt, sizeof(a->rcpt), rcptfmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->rcpt))
		return;		/* a name too long to be an address */
	strlcpy(a->what, what, sizeof(a->what));
	strlcpy(a->sender, sender, sizeof(a->sender));
	p->nattempts++;
}

/* An address of ours as a domain literal. */
static void
sc_literal(const char *addr, char *buf, size_t sz)
{
	snprintf(buf, sz, "[%s%s]", strchr(addr, ':') != NULL ? "IPv6:" : "",
	    addr);
}

/* A domain of nobody's here: example.com, unless a tenant claims it. */
static const char *
sc_foreign(const struct conf *conf)
{
	static const char *const doms[] = {
		"example.com", "example.net", "example.org"
	};
	size_t i;

	for (i = 0; i < sizeof(doms) / sizeof(doms[0]); i++)
		if (conf_domain_tenant(conf, doms[i]) == NULL)
			return doms[i];
	return "relaytest.invalid";
}

/*
 * The attempts, as a stranger would make them.  None may be accepted:
 * a recipient outside every tenant's domains (and not the operator's
 * postmaster) is relayed only for a tenant's networks.
 */
static void
sc_attempts(const struct conf *conf, struct sc_plan *p)
{
	const char	*h = conf->hostname, *f = sc_foreign(conf);
	char		 me[SC_ADDR_MAX], lit[ADDRSTR_MAX + 8], sub[300];
	size_t		 i, j;

	snprintf(me, sizeof(me), "selfcheck@%s", h);
	sc_add(p, "foreign recipient", me, "relaytest@%s", f);
	sc_add(p, "null sender", "", "relaytest@%s", f);
	sc_add(p, "source route", me, "@relay.example:relaytest@%s", f);
	sc_add(p, "source route through our name", me, "@%s:relaytest@%s", h,
	    f);
	sc_add(p, "%-hack", me, "relaytest%%%s@%s", f, h);
	sc_add(p, "quoted @", me, "\"relaytest@%s\"@%s", f, h);
	sc_add(p, "bang path", me, "%s!relaytest@%s", f, h);
	sc_add(p, "bracketed literal", me, "relaytest@[192.0.2.1]");
	/* Unless a tenant receives mail for our name: then it is its. */
	if (conf_domain_tenant(conf, h) == NULL)
		sc_add(p, "our name", me, "relaytest@%s", h);
	for (i = 0; i < p->ntargets; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(p->targets[j].connect,
			    p->targets[i].connect) == 0)
				break;
		if (j < i)
			continue;
		sc_literal(p->targets[i].connect, lit, sizeof(lit));
		sc_add(p, "our address", me, "relaytest@%s", lit);
		sc_add(p, "%-hack through our address", me,
		    "relaytest%%%s@%s", f, lit);
	}
	for (i = 0; i < conf->ntenants; i++) {
		const struct tenant_conf *t = &conf->tenants[i];

		if (t->ndomains > 0)
			sc_add(p, "%-hack through a tenant domain", me,
			    "relaytest%%%s@%s", f, t->domains[0].name);
		for (j = 0; j < t->ndomains; j++) {
			if (t->domains[j].subdomains)
				continue;
			snprintf(sub, sizeof(sub), "selfcheck.%s",
			    t->domains[j].name);
			if (conf_domain_tenant(conf, sub) == NULL)
				sc_add(p, "a tenant domain's sub-domain", me,
				    "relaytest@%s", sub);
		}
	}
}

static struct sc_plan *
sc_plan(const struct conf *conf, const char *from, const char *whence,
    char *err, size_t errsz)
{
	struct sc_plan *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errsz, "selfcheck: out of memory");
		return NULL;
	}
	if (sc_sources(conf, p, from, whence, err, errsz) == -1) {
		free(p);
		return NULL;
	}
	sc_targets(conf, p);
	sc_attempts(conf, p);
	p->step = conf->timeouts.policy + 15;
	if (p->step > SC_STEP_MAX)
		p->step = SC_STEP_MAX;
	return p;
}

static int
sc_plan_send(struct selfcheck *sc, struct chan *c)
{
	struct sc_plan		*p = sc->plan;
	struct sc_listener	*t;
	struct mw		 w;
	size_t			 i;
	int			 rv = 0;

	mw_init(&w);
	mw_str(&w, sc->env->conf->hostname);
	mw_u32(&w, p->step);
	rv |= chan_send(c, M_SC_BEGIN, sc->id, -1, w.buf, w.len);
	for (i = 0; i < p->nsent; i++) {
		t = &p->targets[p->sent[i]];
		mw_init(&w);
		mw_str(&w, t->connect);
		mw_u32(&w, t->port);
		mw_str(&w, t->source);
		mw_u32(&w, t->greeting);
		rv |= chan_send(c, M_SC_TARGET, sc->id, -1, w.buf, w.len);
	}
	for (i = 0; i < p->nattempts; i++) {
		mw_init(&w);
		mw_str(&w, p->attempts[i].sender);
		mw_str(&w, p->attempts[i].rcpt);
		rv |= chan_send(c, M_SC_ATTEMPT, sc->id, -1, w.buf, w.len);
	}
	rv |= chan_send(c, M_SC_GO, sc->id, -1, NULL, 0);
	return rv == 0 ? 0 : -1;
}

/* deliverd has as long as the slowest attempt to say the next. */
static void
sc_watch(struct selfcheck *sc)
{
	struct timeval tv = { sc->plan->greeting + 6 * sc->plan->step + 30,
			    0 };

	evtimer_add(sc->watchdog, &tv);
}

/* What will be tried, and what cannot be. */
static void
sc_header(struct selfcheck *sc)
{
	struct sc_plan		*p = sc->plan;
	struct sc_listener	*t;
	size_t			 i;

	if (p->src4[0] != '\0')
		sc_line(sc, "source %s (%s)", p->src4, p->why4);
	if (p->src6[0] != '\0')
		sc_line(sc, "source %s (%s)", p->src6, p->why6);
	sc_line(sc, "%zu attempts on each of %zu listener%s", p->nattempts,
	    p->nsent, p->nsent == 1 ? "" : "s");
	if (p->left_out > 0)
		sc_line(sc, "%zu more attempts left out (at most %d)",
		    p->left_out, SC_ATTEMPTS_MAX);
	for (i = 0; i < p->ntargets; i++) {
		t = &p->targets[i];
		if (t->source[0] != '\0')
			continue;
		sc->nskipped++;
		sc_line(sc, "not checked %s: no local IPv%c address outside "
		    "every tenant's outbound.networks", t->listener,
		    strchr(t->connect, ':') != NULL ? '6' : '4');
		log_warnx("selfcheck (%s): listener=%s status=not checked: no "
		    "source address outside every tenant's outbound.networks",
		    sc->who, t->listener);
	}
}

static void
sc_clear(struct selfcheck *sc)
{
	free(sc->plan);
	sc->plan = NULL;
	sc->conn = 0;
	evtimer_del(sc->watchdog);
}

/*
 * A run: planned, sent to deliverd, reported as it goes.  -1 with err
 * when it cannot prove anything, and is not run.
 */
static int
sc_run(struct selfcheck *sc, uint64_t conn, const char *who,
    const char *from, const char *whence, char *err, size_t errsz)
{
	struct relayd	*env = sc->env;
	struct kid	*k = &env->kids[PROC_DELIVERD];
	struct sc_plan	*p;
	size_t		 i;

	if ((p = sc_plan(env->conf, from, whence, err, errsz)) == NULL)
		return -1;
	for (i = 0; i < p->ntargets; i++)
		if (p->targets[i].source[0] != '\0')
			p->sent[p->nsent++] = i;
	if (p->nsent == 0 || p->nattempts == 0)
		snprintf(err, errsz, "selfcheck: no listener can be reached "
		    "from an address outside every tenant's "
		    "outbound.networks: the check would prove nothing; set "
		    "selfcheck.from or use --from");
	else if (sc->plan != NULL)
		snprintf(err, errsz, "a self-check is already running");
	else if (k->chan == NULL || !k->running || env->stopping)
		snprintf(err, errsz, "deliverd is not running");
	else
		err[0] = '\0';
	if (err[0] != '\0') {
		free(p);
		return -1;
	}
	sc->plan = p;
	sc->id = ++sc->next_id;
	sc->conn = conn;
	sc->scheduled = conn == 0;
	strlcpy(sc->who, who, sizeof(sc->who));
	sc->t = sc->a = 0;
	sc->nopen = sc->nrefused = sc->nfailed = sc->nskipped = 0;
	sc->notice_len = 0;
	sc->notice_cut = 0;
	if (sc_plan_send(sc, k->chan) == -1) {
		snprintf(err, errsz, "cannot reach deliverd");
		sc_clear(sc);
		return -1;
	}
	sc_header(sc);
	log_info("selfcheck (%s): %zu attempts on each of %zu listeners "
	    "from %s%s%s", who, p->nattempts, p->nsent, p->src4,
	    p->src4[0] != '\0' && p->src6[0] != '\0' ? " and " : "",
	    p->src6);
	sc_watch(sc);
	return 0;
}

int
selfcheck_request(struct selfcheck *sc, uint64_t conn, uid_t uid,
    const char *from, char *err, size_t errsz)
{
	const struct conf	*conf = sc->env->conf;
	char			 who[32];

	snprintf(who, sizeof(who), "uid %u", (unsigned)uid);
	if (from == NULL && conf->selfcheck.from != NULL)
		return sc_run(sc, conn, who, conf->selfcheck.from,
		    "selfcheck.from", err, errsz);
	return sc_run(sc, conn, who, from, "--from", err, errsz);
}

/* For the notice: the reply came from a server we do not trust. */
static void
sc_keep_open(struct selfcheck *sc, const char *line)
{
	size_t	 len = strlen(line), i;
	char	*p;

	if (len >= SC_NOTICE_LINE)
		len = SC_NOTICE_LINE - 1;
	if (sc->notice == NULL && (sc->notice = malloc(SC_NOTICE_MAX)) ==
	    NULL) {
		sc->notice_cut++;
		return;
	}
	if (sc->notice_len + len + 1 > SC_NOTICE_MAX) {
		sc->notice_cut++;
		return;
	}
	p = sc->notice + sc->notice_len;
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)line[i] < 0x20 ||
		    (unsigned char)line[i] > 0x7e ? '?' : line[i];
	p[len] = '\n';
	sc->notice_len += len + 1;
}

static const char *
stage_name(int stage)
{
	switch (stage) {
	case SC_STAGE_CONNECT:
		return "connecting";
	case SC_STAGE_GREETING:
		return "at the greeting";
	case SC_STAGE_HELO:
		return "at EHLO";
	case SC_STAGE_MAIL:
		return "at MAIL";
	default:
		return "at RCPT";
	}
}

/* One attempt's result: reported, counted, and kept for a notice. */
static void
sc_result(struct selfcheck *sc, const struct kidmsg *m)
{
	const struct sc_plan		*p = sc->plan;
	const struct sc_listener	*t = &p->targets[p->sent[sc->t]];
	const struct sc_try		*a = &p->attempts[sc->a];
	char				 line[KIDMSG_TEXT + 1024], at[32];
	const char			*status;
	int				 ok = m->code >= 200 && m->code < 300;
	int				 rcpt = m->stage == SC_STAGE_RCPT;

	if (ok && rcpt) {
		status = "OPEN";
		sc->nopen++;
	} else if (m->code == 0 || ok) {
		status = "failed";
		sc->nfailed++;
	} else {
		status = "refused";
		sc->nrefused++;
	}
	snprintf(at, sizeof(at), "%s: ", stage_name(m->stage));
	snprintf(line, sizeof(line), "%s %s %s: <%s> -> <%s>: %s%s", status,
	    t->listener, a->what, a->sender, a->rcpt, rcpt ? "" : at,
	    m->text);
	sc_line(sc, "%s", line);
	if (ok && rcpt) {
		log_warnx("selfcheck (%s): listener=%s source=%s "
		    "attempt=\"%s\" from=<%s> to=<%s> reply=\"%s\" "
		    "status=OPEN: relayed for a stranger", sc->who,
		    t->listener, t->source, a->what, a->sender, a->rcpt,
		    m->text);
		sc_keep_open(sc, line);
		return;
	}
	if (m->code == 0 || ok)
		log_warnx("selfcheck (%s): listener=%s source=%s "
		    "attempt=\"%s\" from=<%s> to=<%s> status=failed %s: %s",
		    sc->who, t->listener, t->source, a->what, a->sender,
		    a->rcpt, stage_name(m->stage), m->text);
	else
		log_debug("selfcheck (%s): listener=%s source=%s "
		    "attempt=\"%s\" from=<%s> to=<%s> reply=\"%s\" "
		    "status=refused %s",
		    sc->who, t->listener, t->source, a->what, a->sender,
		    a->rcpt, m->text, stage_name(m->stage));
}

/*
 * A result from deliverd: the next one expected, of the run it was
 * given.  A late one, of a run given up on, is dropped; anything else
 * is a lie (-1).
 */
int
selfcheck_result(struct selfcheck *sc, const struct kidmsg *m)
{
	if (sc->plan == NULL || m->peerid != sc->id)
		return m->peerid != 0 && m->peerid <= sc->next_id ? 0 : -1;
	if (sc->t >= sc->plan->nsent || m->target != sc->t ||
	    m->attempt != sc->a)
		return -1;
	sc_result(sc, m);
	if (++sc->a == sc->plan->nattempts) {
		sc->a = 0;
		sc->t++;
	}
	sc_watch(sc);
	return 0;
}

int
selfcheck_done(struct selfcheck *sc, const struct kidmsg *m)
{
	if (sc->plan == NULL || m->peerid != sc->id)
		return m->peerid != 0 && m->peerid <= sc->next_id ? 0 : -1;
	if (sc->t != sc->plan->nsent)
		return -1;
	sc_finish(sc);
	return 0;
}

/* The operator's postmaster hears of a scheduled run that found OPEN. */
static void
sc_notice(struct selfcheck *sc, unsigned total)
{
	struct relayd	*env = sc->env;
	struct kid	*q = &env->kids[PROC_QUEUED];
	char		 subject[256], *text;
	struct mw	 w;
	int		 n;

	snprintf(subject, sizeof(subject), "relayd on %s is an open relay: "
	    "%u relay attempts were accepted", env->conf->hostname,
	    sc->nopen);
	n = asprintf(&text, "This is relayd on %s.\n\nIts scheduled "
	    "self-check tried to relay mail through its own listeners as\n"
	    "a stranger would, and %u of %u attempts were accepted (OPEN "
	    "below).\nNo message was sent: each session ended after "
	    "RCPT.\n\nAn open relay is abused within hours.  Check the "
	    "tenants' outbound.networks\nand the listeners now; relayctl "
	    "selfcheck repeats the check.\n\n%.*s%s", env->conf->hostname,
	    sc->nopen, total, (int)sc->notice_len,
	    sc->notice != NULL ? sc->notice : "", sc->notice_cut > 0 ?
	    "(more OPEN attempts were left out: see the log)\n" : "");
	if (n == -1) {
		log_warnx("selfcheck: no notice to %s: out of memory",
		    env->conf->postmaster);
		return;
	}
	mw_init(&w);
	mw_str(&w, subject);
	mw_str(&w, text);
	free(text);
	if (q->chan == NULL || w.err ||
	    chan_send(q->chan, M_SC_NOTICE, 0, -1, w.buf, w.len) == -1) {
		log_warnx("selfcheck: the notice to <%s> could not be handed "
		    "to queued", env->conf->postmaster);
		return;
	}
	log_info("selfcheck: a notice to <%s> was handed to queued",
	    env->conf->postmaster);
}

/* The run is over: the summary, the final answer, maybe a notice. */
static void
sc_finish(struct selfcheck *sc)
{
	unsigned	total = sc->nopen + sc->nrefused + sc->nfailed;
	char		sum[256], err[256];
	uint64_t	conn = sc->conn;

	snprintf(sum, sizeof(sum), "%u attempts: %u OPEN, %u refused, %u "
	    "failed; %u listener%s not checked", total, sc->nopen,
	    sc->nrefused, sc->nfailed, sc->nskipped, sc->nskipped == 1 ? "" :
	    "s");
	sc_line(sc, "%s", sum);
	if (sc->nopen > 0)
		log_warnx("selfcheck (%s): %s: status=OPEN: relayd relays for "
		    "strangers", sc->who, sum);
	else if (sc->nfailed > 0 || sc->nskipped > 0)
		log_warnx("selfcheck (%s): %s: status=incomplete", sc->who,
		    sum);
	else
		log_info("selfcheck (%s): %s: status=closed", sc->who, sum);
	if (sc->scheduled && sc->nopen > 0)
		sc_notice(sc, total);
	if (sc->nopen > 0)
		snprintf(err, sizeof(err), "OPEN RELAY: %u of %u attempts were "
		    "accepted", sc->nopen, total);
	else
		snprintf(err, sizeof(err), "the check is incomplete: %u "
		    "attempts failed, %u listeners not checked", sc->nfailed,
		    sc->nskipped);
	free(sc->notice);
	sc->notice = NULL;
	sc_clear(sc);
	if (conn != 0)
		control_selfcheck_done(sc->env->control, conn, sc->nopen == 0 &&
		    sc->nfailed == 0 && sc->nskipped == 0, err);
}

/* deliverd went quiet: the run is given up, the rest counted failed. */
static void
sc_watchdog(int fd, short ev, void *arg)
{
	struct selfcheck	*sc = arg;
	struct kid		*k = &sc->env->kids[PROC_DELIVERD];
	unsigned		 left;

	(void)fd;
	(void)ev;
	if (sc->plan == NULL)
		return;
	left = (unsigned)((sc->plan->nsent - sc->t) * sc->plan->nattempts -
	    sc->a);
	log_warnx("selfcheck (%s): deliverd has not answered for too long; "
	    "the run is given up, and its %u attempts left are failed",
	    sc->who, left);
	sc_line(sc, "deliverd has not answered for too long: %u attempts "
	    "given up", left);
	sc->nfailed += left;
	if (k->chan != NULL)
		(void)chan_send(k->chan, M_SC_CANCEL, sc->id, -1, NULL, 0);
	sc_finish(sc);
}

static void
sc_arm(struct selfcheck *sc, uint32_t secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_del(sc->timer);
	if (secs > 0)
		evtimer_add(sc->timer, &tv);
}

static void
sc_tick(int fd, short ev, void *arg)
{
	struct selfcheck	*sc = arg;
	const struct conf	*conf = sc->env->conf;
	char			 err[512];

	(void)fd;
	(void)ev;
	sc_arm(sc, sc->interval);
	if (sc_run(sc, 0, "scheduled", conf->selfcheck.from,
	    "selfcheck.from", err, sizeof(err)) == -1)
		log_warnx("selfcheck (scheduled): not run: %s", err);
}

struct selfcheck *
selfcheck_open(struct relayd *env)
{
	struct selfcheck *sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->env = env;
	if ((sc->timer = evtimer_new(env->base, sc_tick, sc)) == NULL ||
	    (sc->watchdog = evtimer_new(env->base, sc_watchdog, sc)) ==
	    NULL) {
		selfcheck_close(sc);
		return NULL;
	}
	sc->interval = env->conf->selfcheck.interval;
	sc_arm(sc, sc->interval < SC_FIRST_DELAY ? sc->interval :
	    SC_FIRST_DELAY);
	return sc;
}

/* A new selfcheck.interval counts from now. */
void
selfcheck_reconf(struct selfcheck *sc)
{
	uint32_t interval;

	if (sc == NULL ||
	    (interval = sc->env->conf->selfcheck.interval) == sc->interval)
		return;
	sc->interval = interval;
	sc_arm(sc, interval);
}

void
selfcheck_close(struct selfcheck *sc)
{
	if (sc == NULL)
		return;
	if (sc->timer != NULL)
		event_free(sc->timer);
	if (sc->watchdog != NULL)
		event_free(sc->watchdog);
	free(sc->plan);
	free(sc->notice);
	free(sc);
}
