/*
 * policy_test: relayctl test spf, the evaluator smtpd's sessions use,
 * run for an operator's client address, sender and HELO name.
 *
 * The arguments come decoded from the parent (control_req.h), whole: a
 * local part may hold spaces and quotes.  The answer is a few lines and
 * OK; a check the DNS keeps waiting ends within SPF_TIME_MAX, well inside
 * the parent's wait.  At most TESTS_MAX run at once.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "control_req.h"
#include "dns_client.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "policy_test.h"
#include "spf.h"

#define TESTS_MAX	16

struct spf_test {
	TAILQ_ENTRY(spf_test)	 entry;
	struct policy_tests	*pt;
	uint64_t		 req;
	struct netaddr		 ip;
	char			 sender[SPF_SENDER_MAX];
	char			 helo[SPF_HELO_MAX];
};

struct policy_tests {
	struct child		*child;
	struct spf_resolver	 res;
	TAILQ_HEAD(, spf_test)	 tests;
	size_t			 n;
};

struct policy_tests *
policy_tests_new(struct child *c, struct dns_client *dc)
{
	struct policy_tests *pt;

	if ((pt = calloc(1, sizeof(*pt))) == NULL)
		fatal("policy tests");
	pt->child = c;
	spf_resolver_dns(&pt->res, dc);
	TAILQ_INIT(&pt->tests);
	return pt;
}

static void
test_line(struct policy_tests *pt, uint64_t req, const char *line)
{
	struct mw	w;
	char		text[CTL_TEXT_MAX];

	strlcpy(text, line, sizeof(text));
	mw_init(&w);
	mw_str(&w, text);
	child_send(pt->child, PROC_PARENT, M_CTL_LINE, req, -1, w.buf, w.len);
}

static void
test_done(struct policy_tests *pt, uint64_t req, int ok, const char *err)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)ok);
	mw_str(&w, err != NULL ? err : "");
	child_send(pt->child, PROC_PARENT, M_CTL_DONE, req, -1, w.buf, w.len);
}

/* The result, the identity, why, and the field, a line each. */
static void
spf_answered(void *arg, const struct spf_outcome *o)
{
	struct spf_test		*t = arg;
	struct policy_tests	*pt = t->pt;
	char			 line[CTL_TEXT_MAX], hdr[SPF_HEADER_MAX];
	char			 ip[INET6_ADDRSTRLEN], *p, *crlf;

	netaddr_format(&t->ip, ip, sizeof(ip));
	log_info("control: test spf client=%s from=<%s> helo=%s: %s (%s)", ip,
	    t->sender, t->helo[0] != '\0' ? t->helo : "-",
	    spf_result_name(o->result), o->why);
	snprintf(line, sizeof(line), "result: %s", spf_result_name(o->result));
	test_line(pt, t->req, line);
	snprintf(line, sizeof(line), "domain: %s (%s identity)",
	    o->domain[0] != '\0' ? o->domain : "-",
	    o->helo ? "HELO" : "MAIL FROM");
	test_line(pt, t->req, line);
	snprintf(line, sizeof(line), "why: %s", o->why);
	test_line(pt, t->req, line);
	if (o->explanation[0] != '\0') {
		snprintf(line, sizeof(line), "explanation: %s",
		    o->explanation);
		test_line(pt, t->req, line);
	}
	if (spf_received_header(hdr, sizeof(hdr), o, &t->ip, t->sender,
	    t->helo, pt->child->conf != NULL ? pt->child->conf->hostname :
	    NULL) > 0) {
		for (p = hdr; (crlf = strstr(p, "\r\n")) != NULL;
		    p = crlf + 2) {
			*crlf = '\0';
			test_line(pt, t->req, p);
		}
	}
	test_done(pt, t->req, 1, NULL);
	TAILQ_REMOVE(&pt->tests, t, entry);
	pt->n--;
	free(t);
}

/* "<>" or "" is the null sender; <addr> loses its brackets. */
static const char *
sender_arg(const char *arg, char *buf, size_t sz)
{
	size_t len = strlen(arg);

	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	}
	if (len >= sz)
		return "sender address too long";
	memcpy(buf, arg, len);
	buf[len] = '\0';
	if (buf[0] != '\0' && strchr(buf, '@') == NULL)
		return "expected a sender address (local@domain), or <> for "
		    "the null sender";
	return NULL;
}

static void
test_spf(struct policy_tests *pt, uint64_t req, const struct ctl_req *r)
{
	struct spf_test		*t;
	const char		*why;
	char			 err[128];

	if (pt->n >= TESTS_MAX) {
		snprintf(err, sizeof(err), "%d tests in progress; try again "
		    "later", TESTS_MAX);
		test_done(pt, req, 0, err);
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		test_done(pt, req, 0, "out of memory");
		return;
	}
	t->pt = pt;
	t->req = req;
	why = NULL;
	if (netaddr_parse(r->args[0], &t->ip) == -1)
		why = "expected an IPv4 or IPv6 address";
	else if ((why = sender_arg(r->args[1], t->sender,
	    sizeof(t->sender))) == NULL && r->nargs > 2 &&
	    strlcpy(t->helo, r->args[2], sizeof(t->helo)) >= sizeof(t->helo))
		why = "HELO name too long";
	else if (why == NULL && t->sender[0] == '\0' && t->helo[0] == '\0')
		why = "the null sender needs a HELO name";
	if (why != NULL) {
		test_done(pt, req, 0, why);
		free(t);
		return;
	}
	TAILQ_INSERT_TAIL(&pt->tests, t, entry);
	pt->n++;
	/* spf_answered frees t, maybe before spf_check returns. */
	spf_check(&pt->res, &t->ip, t->sender, t->helo,
	    pt->child->conf != NULL ? pt->child->conf->hostname : NULL,
	    spf_answered, t);
}

void
policy_tests_control(struct policy_tests *pt, struct imsg *imsg)
{
	struct ctl_req *r;

	if ((r = malloc(sizeof(*r))) == NULL) {
		test_done(pt, imsg->hdr.peerid, 0, "out of memory");
		return;
	}
	if (ctl_req_read(imsg->data, imsg->datalen, r) == -1 ||
	    r->cmd != CTL_TEST_SPF)
		child_peer_broken(pt->child, PROC_PARENT, imsg, "control");
	test_spf(pt, imsg->hdr.peerid, r);
	free(r);
}
