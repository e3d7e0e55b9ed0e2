/*
 * config: conf_load against the cases in regress/conf/cases.
 *
 * Each case is a directory NAME holding a relayd.yaml and usually a
 * tenants.d/.  NAME.ok beside it holds the error lines conf_load reports,
 * one a line, or the single line OK when the configuration loads.
 *
 * The test runs from the top of the tree (RELAYD_TOP, else the current
 * directory) and passes conf_load relative paths, so the main file appears
 * in messages as regress/conf/cases/NAME/relayd.yaml.  Tenant files are
 * found through tenants_dir, which conf_load makes absolute; the top's
 * absolute path is cut from the messages so that the .ok files are the same
 * in every checkout.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_load.h"
#include "tap.h"

#define CASES	"regress/conf/cases"

static char	top[PATH_MAX + 1];	/* absolute, with a trailing '/' */

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 sz = 0, n;

	if ((f = fopen(path, "re")) == NULL)
		return NULL;
	if (getdelim(&buf, &sz, '\0', f) == -1) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	/* The file's last newline ends the last line; it is not data. */
	if (buf != NULL && (n = strlen(buf)) > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

/* Write msg with every occurrence of the top's absolute path cut out. */
static void
put_relative(FILE *f, const char *msg)
{
	const char	*p;
	size_t		 tl = strlen(top);

	while ((p = strstr(msg, top)) != NULL) {
		fwrite(msg, 1, (size_t)(p - msg), f);
		msg = p + tl;
	}
	fputs(msg, f);
}

/* What conf_load says about a case, as the .ok file would hold it. */
static char *
case_output(const char *name)
{
	struct conf_errors	 errs;
	struct conf		*conf;
	char			 path[PATH_MAX], *out = NULL;
	size_t			 i, sz = 0;
	FILE			*f;

	snprintf(path, sizeof(path), "%s/%s/relayd.yaml", CASES, name);
	memset(&errs, 0, sizeof(errs));
	conf = conf_load(path, 0, &errs);
	if ((f = open_memstream(&out, &sz)) == NULL)
		return NULL;
	for (i = 0; i < errs.n; i++) {
		if (i > 0)
			fputc('\n', f);
		put_relative(f, errs.msg[i]);
	}
	if (errs.dropped > 0)
		fprintf(f, "\n(%zu more errors)", errs.dropped);
	/* A configuration comes back exactly when there is no error. */
	if (conf != NULL && errs.n + errs.dropped == 0)
		fputs("OK", f);
	else if (conf != NULL)
		fputs("\nBUG: a configuration despite the errors", f);
	else if (errs.n + errs.dropped == 0)
		fputs("BUG: no configuration and no error", f);
	fclose(f);
	conf_free(conf);
	conf_errors_clear(&errs);
	return out;
}

static int
is_case(const struct dirent *d)
{
	char		path[PATH_MAX];
	struct stat	st;

	if (d->d_name[0] == '.')
		return 0;
	snprintf(path, sizeof(path), "%s/%s", CASES, d->d_name);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Show text as the .ok file would hold it, one diag line a line. */
static void
diag_lines(const char *title, const char *text)
{
	char *copy, *p, *line;

	diag("%s", title);
	if (text == NULL || (copy = p = strdup(text)) == NULL)
		return;
	while ((line = strsep(&p, "\n")) != NULL)
		diag("  %s", line);
	free(copy);
}

static void
run_case(const char *name)
{
	char	 okpath[PATH_MAX], *want, *got;
	int	 saved;

	snprintf(okpath, sizeof(okpath), "%s/%s.ok", CASES, name);
	want = slurp(okpath);
	saved = errno;
	got = case_output(name);
	if (want == NULL) {
		ok(0, "%s: %s: %s", name, okpath, strerror(saved));
		diag_lines("conf_load said:", got);
	} else if (!ok(got != NULL && strcmp(got, want) == 0, "%s", name)) {
		diag_lines("expected (the .ok file):", want);
		diag_lines("conf_load said:", got);
	}
	free(want);
	free(got);
}

static size_t
run_cases(void)
{
	struct dirent	**ents;
	int		  n, i;

	if ((n = scandir(CASES, &ents, is_case, alphasort)) == -1) {
		ok(0, "%s: %s", CASES, strerror(errno));
		return 0;
	}
	for (i = 0; i < n; i++) {
		run_case(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return (size_t)n;
}

static struct conf *
load_case(const char *name, int flags)
{
	struct conf_errors	 errs;
	struct conf		*conf;
	char			 path[PATH_MAX];
	size_t			 i;

	snprintf(path, sizeof(path), "%s/%s/relayd.yaml", CASES, name);
	memset(&errs, 0, sizeof(errs));
	conf = conf_load(path, flags, &errs);
	ok(conf != NULL, "%s: loads", name);
	for (i = 0; i < errs.n; i++)
		diag("%s", errs.msg[i]);
	conf_errors_clear(&errs);
	return conf;
}

/* Paths are made absolute, relative to the directory of relayd.yaml. */
static void
check_path(const char *got, const char *rel, const char *what)
{
	char want[PATH_MAX * 2];

	snprintf(want, sizeof(want), "%s%s", top, rel);
	is_str(got, want, "%s", what);
}

static void
check_full_main(const struct conf *c)
{
	is_str(c->hostname, "relay.example.net", "full: hostname");
	is_str(c->postmaster, "hostmaster@example.net", "full: postmaster");
	check_path(c->state_dir, CASES "/full/../run", "full: state_dir");
	check_path(c->tenants_dir, CASES "/full/tenants.d",
	    "full: tenants_dir");
	is_str(c->control_group, "relayadm", "full: control_group");
	is_str(c->control_admin_group, "relayops", "full: control_admin_group");
	is_int(c->selfcheck.interval, 12 * 3600, "full: selfcheck.interval");
	is_str(c->selfcheck.from, "127.0.0.2", "full: selfcheck.from");
	is_int(c->nlisteners, 2, "full: two listeners");
	if (c->nlisteners == 2) {
		is_str(c->listeners[0].addr.host, "127.0.0.1",
		    "full: listen host");
		is_int(c->listeners[0].addr.port, 2525, "full: listen port");
		is_int(c->listeners[0].mode, LISTEN_MX, "full: listen mode");
		is_int(c->listeners[0].fd, -1, "full: nothing bound");
		is_str(c->listeners[1].addr.host, "::1",
		    "full: IPv6 listen host, no brackets");
		is_int(c->listeners[1].greeting_delay, 2,
		    "full: greeting_delay 2s");
	}
	is_int(c->dns.nservers, 1, "full: one dns server");
	if (c->dns.nservers == 1)
		is_int(c->dns.servers[0].port, 5353, "full: dns port");
	is_int(c->dns.max_ttl, 300, "full: max_ttl 5m");
	is_int(c->dns.tries, 3, "full: tries");
	is_int(c->limits.max_message_size, 524288000,
	    "full: max_message_size 500M");
	is_int(c->limits.min_free_space, 1073741824, "full: min_free_space 1G");
	is_int(c->limits.max_recipients, 1000, "full: max_recipients");
	is_int(c->timeouts.data, 600, "full: data timeout 10m");
	is_int(c->timeouts.control, 1200, "full: control timeout 20m");
	is_int(c->queue.lifetime, 5 * 86400, "full: lifetime 5d");
	is_int(c->queue.retry_max, 7200, "full: retry_max 2h");
	is_int(c->queue.delay_warning, 4 * 3600, "full: delay_warning 4h");
	is_int(c->queue.smtp_port, 2526, "full: smtp_port");
	is_int(c->queue.allow_private_mx, 1, "full: allow_private_mx");
	is_int(c->notices.outage_after, 1800, "full: notices.outage_after");
	is_int(c->notices.interval, 12 * 3600, "full: notices.interval");
	is_int(c->retention.message_records, 36 * 3600,
	    "full: retention.message_records 36h");
	is_int(c->retention.logs, 30 * 86400, "full: retention.logs 30d");
	is_int(c->retention.counters, 800 * 86400,
	    "full: retention.counters 800d");
	is_str(c->log.file, "/tmp/relayd.log", "full: log.file");
	is_int(c->log.addresses, 1, "full: log.addresses");
}

static void
check_full_acme(const struct tenant_conf *t)
{
	is_str(t->postmaster, "postmaster@acme.example", "acme: postmaster");
	is_int(t->ndomains, 2, "acme: two domains");
	if (t->ndomains == 2) {
		is_str(t->domains[0].name, "acme.example",
		    "acme: domain lower-cased");
		is_int(t->domains[0].subdomains, 0, "acme: no subdomains");
		is_str(t->domains[1].name, "acme.org", "acme: second domain");
		is_int(t->domains[1].subdomains, 1, "acme: subdomains");
	}
	is_int(t->inbound_mode, INBOUND_RELAY, "acme: relay");
	is_int(t->ndeliver_to, 2, "acme: two deliver_to");
	if (t->ndeliver_to == 2)
		is_str(t->deliver_to[1].host, "mx2.acme.example",
		    "acme: deliver_to by name");
	is_int(t->hold, 8 * 86400, "acme: hold defaults to 8d");
	is_int(t->verify, VERIFY_LIST, "acme: verify list");
	is_int(t->nrcpts, 3, "acme: recipients deduplicated");
	if (t->nrcpts == 3) {
		is_str(t->rcpts[0], "alice@acme.example",
		    "acme: recipients lower-cased and sorted");
		is_str(t->rcpts[1], "bob@acme.example", "acme: second");
		is_str(t->rcpts[2], "carol@sales.acme.org", "acme: third");
	}
	is_str(t->delimiter, "+", "acme: delimiter");
	is_int(t->nnetworks, 2, "acme: two networks");
	is_int(t->allow_bare_newlines, 0, "acme: allow_bare_newlines");
	is_int(t->defer_all_after, 10 * 86400, "acme: defer_all_after 10d");
	is_int(t->ncontacts, 2, "acme: two contacts");
	if (t->ncontacts == 2) {
		is_str(t->contacts[0].name, "Jane Doe", "acme: contact name");
		is_str(t->contacts[0].email, "jane@ops.example",
		    "acme: contact email");
		is_str(t->contacts[0].phone, "+44 20 7946 0000",
		    "acme: contact phone");
		is_int(t->contacts[0].roles, CONTACT_TECHNICAL |
		    CONTACT_EMERGENCY, "acme: contact roles");
		ok(t->contacts[1].name == NULL && t->contacts[1].phone ==
		    NULL, "acme: name and phone may be left out");
		is_int(t->contacts[1].roles, CONTACT_BILLING | CONTACT_POLICY,
		    "acme: roles in any order");
	}
}

static void
check_full_beta(const struct tenant_conf *t)
{
	is_int(t->inbound_mode, INBOUND_BACKUP, "beta: backup");
	is_int(t->hold, 3 * 86400, "beta: hold 3d");
	is_int(t->verify, VERIFY_CALLOUT,
	    "beta: a backup MX verifies by callout by default");
	is_int(t->on_unknown, UNKNOWN_DEFER, "beta: and defers the unknown");
	is_str(t->delimiter, "", "beta: no delimiter");
	is_int(t->nnetworks, 1, "beta: one network");
	is_int(t->allow_bare_newlines, 1, "beta: allow_bare_newlines");
	is_int(t->ncontacts, 0, "beta: no contacts");
}

/*
 * Warnings: beta has no contact, acme one outside its own domains; a
 * contact only in acme's domains (or with another role) is no help.
 */
static void
check_warnings(void)
{
	struct conf_errors	 w;
	struct conf		*c;
	struct tenant_conf	*t;
	char			 want[PATH_MAX * 2];

	if ((c = load_case("full", 0)) == NULL)
		return;
	memset(&w, 0, sizeof(w));
	conf_warnings(c, &w);
	is_int(w.n, 1, "warnings: one tenant without an outside contact");
	snprintf(want, sizeof(want), "%s" CASES "/full/tenants.d/beta.yaml:2: "
	    "warning: tenant \"beta\" has no technical or emergency contact "
	    "outside its own domains: a notice of its servers' outage may "
	    "reach no one", top);
	if (w.n == 1)
		is_str(w.msg[0], want, "warnings: beta, by file and line");
	conf_errors_clear(&w);
	if ((t = (struct tenant_conf *)conf_tenant_by_name(c, "acme")) !=
	    NULL && t->ncontacts == 2) {
		free(t->contacts[0].email);
		t->contacts[0].email = strdup("jane@sales.ACME.org");
		conf_warnings(c, &w);
		is_int(w.n, 2, "warnings: a contact in a subdomain of the "
		    "tenant's is inside");
		conf_errors_clear(&w);
		t->contacts[0].roles = CONTACT_BILLING;
		free(t->contacts[0].email);
		t->contacts[0].email = strdup("jane@ops.example");
		conf_warnings(c, &w);
		is_int(w.n, 2, "warnings: a billing contact does not count");
		conf_errors_clear(&w);
	}
	conf_free(c);
}

static void
check_full(void)
{
	struct conf			*c;
	const struct tenant_conf	*t;

	if ((c = load_case("full", 0)) == NULL)
		return;
	check_full_main(c);
	is_int(c->ntenants, 2, "full: two tenants");
	if ((t = conf_tenant_by_name(c, "acme")) != NULL)
		check_full_acme(t);
	else
		ok(0, "full: tenant acme");
	if ((t = conf_tenant_by_name(c, "beta")) != NULL)
		check_full_beta(t);
	else
		ok(0, "full: tenant beta");
	ok(conf_tenant_by_name(c, "gamma") == NULL, "full: no tenant gamma");
	conf_free(c);
	check_warnings();
}

/* Every key left out takes the value DESIGN.md gives it. */
static void
check_defaults(void)
{
	struct conf	*c;

	if ((c = load_case("minimal", 0)) == NULL)
		return;
	is_str(c->state_dir, "/var/lib/relayd", "defaults: state_dir");
	is_str(c->control_socket, "/run/relayd/control.sock",
	    "defaults: control_socket");
	is_str(c->control_group, "relayadm", "defaults: control_group");
	is_str(c->control_admin_group, "relayadm",
	    "defaults: control_admin_group");
	is_int(c->selfcheck.interval, 86400, "defaults: selfcheck.interval 1d");
	ok(c->selfcheck.from == NULL, "defaults: selfcheck.from chosen");
	check_path(c->tenants_dir, CASES "/minimal/tenants.d",
	    "defaults: tenants_dir beside relayd.yaml");
	ok(c->hostname != NULL && *c->hostname != '\0',
	    "defaults: hostname from the system");
	is_int(c->listeners[0].mode, LISTEN_MX, "defaults: listen mode mx");
	is_int(c->listeners[0].greeting_delay, 0,
	    "defaults: greeting_delay 0");
	is_int(c->dns.nservers, 0, "defaults: dns servers from resolv.conf");
	is_int(c->dns.max_ttl, 300, "defaults: dns.max_ttl 5m");
	is_int(c->dns.timeout, 5, "defaults: dns.timeout 5s");
	is_int(c->dns.tries, 2, "defaults: dns.tries 2");
	is_int(c->limits.max_message_size, 524288000,
	    "defaults: max_message_size 500M");
	is_int(c->limits.max_recipients, 100, "defaults: max_recipients 100");
	is_int(c->limits.max_connections, 10000,
	    "defaults: max_connections 10000");
	is_int(c->limits.max_connections_per_client, 50,
	    "defaults: max_connections_per_client 50");
	is_int(c->limits.min_free_space, 1073741824,
	    "defaults: min_free_space 1G");
	is_int(c->timeouts.command, 300, "defaults: command timeout 5m");
	is_int(c->timeouts.data, 600, "defaults: data timeout 10m");
	is_int(c->timeouts.control, 600, "defaults: control timeout 10m");
	is_int(c->queue.lifetime, 432000, "defaults: queue.lifetime 5d");
	is_int(c->queue.bounce_lifetime, 172800,
	    "defaults: queue.bounce_lifetime 2d");
	is_int(c->queue.retry_min, 60, "defaults: queue.retry_min 1m");
	is_int(c->queue.retry_max, 3600, "defaults: queue.retry_max 1h");
	is_int(c->queue.delay_warning, 0, "defaults: delay_warning off");
	is_int(c->queue.max_connections_per_destination, 10,
	    "defaults: max_connections_per_destination 10");
	is_int(c->queue.max_connections, 500,
	    "defaults: queue.max_connections 500");
	is_int(c->queue.smtp_port, 25, "defaults: smtp_port 25");
	is_int(c->queue.allow_private_mx, 0, "defaults: allow_private_mx");
	is_int(c->notices.outage_after, 3600, "defaults: outage_after 1h");
	is_int(c->notices.interval, 86400, "defaults: notices.interval 1d");
	is_int(c->retention.message_records, 2 * 86400,
	    "defaults: retention.message_records 2d");
	is_int(c->retention.logs, 365 * 86400, "defaults: retention.logs 365d");
	is_int(c->retention.counters, 400 * 86400,
	    "defaults: retention.counters 400d");
	ok(c->log.file == NULL, "defaults: log.file none (syslog)");
	is_int(c->log.addresses, 0, "defaults: log.addresses false");
	is_int(c->ntenants, 1, "defaults: one tenant");
	if (c->ntenants == 1) {
		is_int(c->tenants[0].inbound_mode, INBOUND_RELAY,
		    "defaults: inbound mode relay");
		is_int(c->tenants[0].hold, 8 * 86400, "defaults: hold 8d");
		is_int(c->tenants[0].defer_all_after, 30 * 86400,
		    "defaults: defer_all_after 30d");
		is_int(c->tenants[0].verify, VERIFY_NONE,
		    "defaults: verify none");
		is_int(c->tenants[0].on_unknown, UNKNOWN_REJECT,
		    "defaults: on_unknown reject in relay mode");
		ok(c->tenants[0].callout_positive == 7 * 86400 &&
		    c->tenants[0].callout_negative == 3600 &&
		    c->tenants[0].learning_period == 7 * 86400,
		    "defaults: callout answers kept 7d and 1h, learning 7d");
		is_int(c->tenants[0].nnetworks, 0, "defaults: no networks");
	}
	conf_free(c);
}

/* A file that cannot be opened: the reason, and no configuration. */
static void
check_missing(void)
{
	struct conf_errors	 errs;
	struct conf		*c;

	memset(&errs, 0, sizeof(errs));
	c = conf_load(CASES "/no-such-case/relayd.yaml", 0, &errs);
	ok(c == NULL, "missing file: no configuration");
	is_int(errs.n, 1, "missing file: one error");
	if (errs.n == 1)
		is_str(errs.msg[0], CASES "/no-such-case/relayd.yaml: "
		    "No such file or directory", "missing file: the reason");
	conf_free(c);
	conf_errors_clear(&errs);
}

/* Internationalised names are held, and found, as their A-labels. */
static void
check_idn(void)
{
	const struct tenant_conf	*t;
	struct conf			*c;

	if ((c = load_case("domain-idn", 0)) == NULL)
		return;
	if ((t = conf_tenant_by_name(c, "acme")) == NULL || t->ndomains != 2 ||
	    t->nrcpts != 3) {
		ok(0, "idn: acme with two domains and three recipients");
		conf_free(c);
		return;
	}
	is_str(t->domains[0].name, "xn--bcher-kva.example", "idn: bücher.example");
	is_str(t->domains[1].name, "xn--caf-dma.example", "idn: an A-label");
	is_str(t->rcpts[0], "anna@xn--caf-dma.example", "idn: a recipient");
	is_str(t->rcpts[1], "bob@xn--bcher-kva.example",
	    "idn: a recipient written with the A-label");
	is_str(t->rcpts[2], "jörg@xn--bcher-kva.example",
	    "idn: a UTF-8 local part is kept");
	ok(conf_domain_tenant(c, "xn--BCHER-kva.example") == t,
	    "idn: found by A-label in any case");
	conf_free(c);
}

/* Every policy key, and the defaults a tenant's mode gives. */
static void
check_policy(void)
{
	const struct tenant_conf	*t;
	const struct policy_conf	*p;
	struct conf			*c;
	uint8_t				 a[4];

	if ((c = load_case("policy-full", 0)) == NULL)
		return;
	is_int(c->listeners[0].pregreet_pass, 2 * 86400, "pregreet_pass 2d");
	is_int(c->limits.client_connection_rate, 60, "connection rate");
	is_int(c->limits.client_message_rate, 30, "message rate");
	is_int(c->limits.client_recipient_rate, 100, "recipient rate");
	is_int(c->limits.header_max_fields, 500, "header_max_fields");
	is_int(c->limits.header_max_size, 256 * 1024, "header_max_size");
	is_int(c->timeouts.policy, 20, "timeouts.policy");
	is_int(c->dnsbl.nlists, 2, "two operator lists");
	is_int(c->dnsbl.threshold, 2, "operator threshold");
	if (c->dnsbl.nlists == 2) {
		is_str(c->dnsbl.lists[1].zone, "list.dnswl.org",
		    "a zone's final dot goes");
		is_int(c->dnsbl.lists[1].weight, -1, "a negative weight");
		is_int(c->dnsbl.lists[0].nanswers, 3, "three answers");
		memcpy(a, &c->dnsbl.lists[0].answers[2], 4);
		ok(a[0] == 127 && a[3] == 4, "127.0.0.4");
	}
	if ((t = conf_tenant_by_name(c, "acme")) == NULL) {
		ok(0, "policy: tenant acme");
		conf_free(c);
		return;
	}
	p = &t->policy;
	is_int(t->daily_messages, 10000, "daily_messages");
	is_int(t->daily_bytes, 2ull * 1024 * 1024 * 1024, "daily_bytes");
	ok(p->greylist && p->grey_delay == 120 && p->grey_window == 6 * 3600 &&
	    p->grey_lifetime == 30 * 86400 && p->grey_awl_after == 3,
	    "greylist settings");
	is_int(p->ngrey_nets, 2, "two whitelisted networks");
	is_int(p->ngrey_domains, 1, "one whitelisted domain");
	is_int(p->nlists, 1, "its own list");
	is_int(p->spf, SPF_TAG, "spf: tag");
	ok(p->sender_domain && p->require_to_or_cc && p->dnsbl,
	    "sender_domain, require_to_or_cc, dnsbl");
	conf_free(c);

	/* An inbound shield left to its defaults filters nothing. */
	if ((c = load_case("minimal", 0)) == NULL)
		return;
	p = &c->tenants[0].policy;
	ok(c->tenants[0].inbound_mode == INBOUND_RELAY && !p->greylist &&
	    !p->dnsbl && p->spf == SPF_OFF && !p->sender_domain &&
	    !p->require_to_or_cc, "relay mode: every check off by default");
	ok(p->grey_delay == 300 && p->grey_window == 4 * 3600 &&
	    p->grey_lifetime == 36 * 86400 && p->grey_awl_after == 5,
	    "greylist defaults: 5m, 4h, 36d, 5");
	is_int(c->listeners[0].pregreet_pass, 86400, "pregreet_pass 1d");
	conf_free(c);

	/* A backup MX greylists, asks the DNS lists, checks senders. */
	if ((c = load_case("backup-defaults", 0)) == NULL)
		return;
	p = &c->tenants[0].policy;
	ok(c->tenants[0].inbound_mode == INBOUND_BACKUP && p->greylist &&
	    p->dnsbl && p->sender_domain && p->spf == SPF_OFF &&
	    !p->require_to_or_cc, "backup mode: greylist, DNS lists and "
	    "sender domains by default; SPF and To/Cc opt-in");
	ok(c->tenants[0].verify == VERIFY_CALLOUT &&
	    c->tenants[0].on_unknown == UNKNOWN_DEFER &&
	    c->limits.max_message_size == 500ull * 1024 * 1024,
	    "backup mode: callout verification deferring the unknown, "
	    "size 500M, by default");
	conf_free(c);
}

/* relayctl reads the main file alone: the tenant files are not opened. */
static void
check_main_only(void)
{
	struct conf *c;

	if ((c = load_case("tenant-no-postmaster", CONF_MAIN_ONLY)) == NULL)
		return;
	is_int(c->ntenants, 0, "main only: no tenant read");
	conf_free(c);
}

/*
 * The certificates as the parent holds them: the relay's first, each
 * chain leaf first, the keys as DER, the SNI names lower case; relayctl
 * (main only) reads no key.
 */
static void
check_tls(void)
{
	struct conf		*c;
	const struct tls_cert	*tc;

	if ((c = load_case("tls-ok", 0)) == NULL)
		return;
	is_int(c->nlisteners, 3, "tls: three listeners");
	if (c->nlisteners == 3) {
		is_int(c->listeners[1].mode, LISTEN_SMTPS, "tls: smtps");
		is_int(c->listeners[2].mode, LISTEN_SUBMISSION,
		    "tls: submission");
	}
	is_int(c->tls.ncerts, 2, "tls: two certificates");
	if (c->tls.ncerts == 2) {
		tc = &c->tls.certs[0];
		ok(tc->tenant == NULL, "tls: the relay's comes first");
		is_int(tc->nchain, 2, "tls: the relay's chain, CA included");
		ok(tc->chain[0].len > 100 && tc->chain[0].p[0] == 0x30,
		    "tls: its leaf in DER");
		ok(tc->key.len > 1000 && tc->key.p[0] == 0x30,
		    "tls: its RSA key in DER");
		is_int(tc->nnames, 0, "tls: the relay's has no SNI names");
		tc = &c->tls.certs[1];
		is_str(tc->tenant, "acme", "tls: the tenant's second");
		is_int(tc->nnames, 2, "tls: two names");
		if (tc->nnames == 2) {
			is_str(tc->names[0], "post.acme.example",
			    "tls: first name");
			is_str(tc->names[1], "mail.acme.example",
			    "tls: second name, lower case");
		}
		ok(tc->key.len > 0 && tc->key.len < 200,
		    "tls: its ECDSA key in DER");
	}
	if (c->ntenants == 1)
		is_int(c->tenants[0].inbound_tls, INBOUND_TLS_VERIFY,
		    "tls: inbound.tls verify");
	conf_free(c);
	if ((c = load_case("tls-ok", CONF_MAIN_ONLY)) == NULL)
		return;
	is_int(c->tls.ncerts, 0, "tls: main only reads no certificate");
	conf_free(c);
}

int
main(void)
{
	const char	*env;
	size_t		 n;

	if ((env = getenv("RELAYD_TOP")) == NULL || *env == '\0')
		env = ".";
	if (chdir(env) == -1 || realpath(".", top) == NULL) {
		printf("Bail out! %s: %s\n", env, strerror(errno));
		return 1;
	}
	strlcat(top, "/", sizeof(top));
	n = run_cases();
	ok(n >= 40, "%zu cases", n);
	check_full();
	check_defaults();
	check_missing();
	check_main_only();
	check_idn();
	check_policy();
	check_tls();
	return done_testing();
}
