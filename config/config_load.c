/*
 * config_load: relayd.yaml and the tenant files into struct conf.
 *
 * A schema walk over the YAML tree: every mapping is checked against a
 * table of known keys, every value against its type, and every problem is
 * reported as "file:line: reason".  Rules that span files (a domain claimed
 * twice, overlapping networks) are in config_check.c.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_load.h"
#include "endpoint.h"
#include "idn.h"
#include "mailaddr.h"
#include "milter_sock.h"
#include "msg_deliver.h"
#include "text.h"
#include "yaml_tree.h"

#define DEFAULT_STATE_DIR	"/var/lib/relayd"
#define DEFAULT_CONTROL_SOCKET	"/run/relayd/control.sock"
#define DEFAULT_CONTROL_GROUP	"relayadm"
#define DEFAULT_TENANTS_DIR	"tenants.d"
#define DURATION_MAX		(366u * 86400)
#define LONG_DURATION_MAX	(3650u * 86400)	/* retention.counters */
#define AUTH_USER_RATE		60	/* auth.user_message_rate */

/* Walk context: the file being read and where errors go. */
struct cfx {
	const char		*file;
	const char		*dir;	/* for relative paths */
	struct conf_errors	*errs;
	struct tenant_conf	*tenant; /* while reading a tenant file */
};

typedef void (*field_fn)(struct cfx *, const struct ynode *, void *dst);

struct field {
	const char	*key;
	field_fn	 fn;
	size_t		 off;
	int		 required;
};

void
conf_errors_add(struct conf_errors *e, const char *fmt, ...)
{
	va_list	ap;
	char	*s;

	if (e->n == CONF_MAX_ERRORS) {
		e->dropped++;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s == NULL) {
		e->dropped++;
		return;
	}
	e->msg[e->n++] = s;
}

void
conf_errors_clear(struct conf_errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	e->n = 0;
	e->dropped = 0;
}

static void __attribute__((format(printf, 3, 4)))
cerr(struct cfx *cx, int line, const char *fmt, ...)
{
	char	reason[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	conf_errors_add(cx->errs, "%s:%d: %s", cx->file, line, reason);
}

static char *
cstrdup(struct cfx *cx, int line, const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		cerr(cx, line, "out of memory");
	return d;
}

/* Scalars. */

static const char *
scalar(struct cfx *cx, const struct ynode *n, const char *what)
{
	if (n->type != YN_SCALAR) {
		cerr(cx, n->line, "%s must be a single value", what);
		return NULL;
	}
	if (n->plain && (n->vlen == 0 || strcmp(n->value, "~") == 0 ||
	    strcasecmp(n->value, "null") == 0)) {
		cerr(cx, n->line, "%s must not be empty", what);
		return NULL;
	}
	return n->value;
}

static void
f_string(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	char **out = dst;

	if ((s = scalar(cx, n, "value")) == NULL)
		return;
	if (*s == '\0') {
		cerr(cx, n->line, "value must not be empty");
		return;
	}
	free(*out);
	*out = cstrdup(cx, n->line, s);
}

static void
f_path(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	char **out = dst, *p;

	if ((s = scalar(cx, n, "path")) == NULL)
		return;
	if (*s == '\0') {
		cerr(cx, n->line, "path must not be empty");
		return;
	}
	if (s[0] == '/')
		p = cstrdup(cx, n->line, s);
	else if (asprintf(&p, "%s/%s", cx->dir, s) == -1) {
		cerr(cx, n->line, "out of memory");
		p = NULL;
	}
	if (p != NULL && strlen(p) >= PATH_MAX) {
		cerr(cx, n->line, "path too long");
		free(p);
		p = NULL;
	}
	free(*out);
	*out = p;
}

static void
f_hostname(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;

	if ((s = scalar(cx, n, "hostname")) == NULL)
		return;
	if (!mailaddr_valid_domain(s, strlen(s), MA_NO_FQDN)) {
		cerr(cx, n->line, "bad host name \"%s\"", s);
		return;
	}
	f_string(cx, n, dst);
}

/* Why a mail address in a configuration file is refused. */
static const char *
addr_why(enum mailaddr_err e, int literal_ok)
{
	switch (e) {
	case MA_EDOMAIN:
		return literal_ok ? mailaddr_strerror(e) :
		    "domain must be a fully qualified name";
	case MA_EUTF8:
		return "non-ASCII characters are not allowed here";
	default:
		return mailaddr_strerror(e);
	}
}

static void
f_mailbox(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct mailaddr		 ma;
	enum mailaddr_err	 e;
	const char		*s;

	if ((s = scalar(cx, n, "mail address")) == NULL)
		return;
	if ((e = mailaddr_parse(s, strlen(s), 0, &ma)) != MA_OK) {
		cerr(cx, n->line, "bad mail address \"%s\": %s", s,
		    addr_why(e, 1));
		return;
	}
	f_string(cx, n, dst);
}

static void
f_bool(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	int *out = dst;

	if ((s = scalar(cx, n, "value")) == NULL)
		return;
	if (n->plain && strcmp(s, "true") == 0)
		*out = 1;
	else if (n->plain && strcmp(s, "false") == 0)
		*out = 0;
	else if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
		cerr(cx, n->line, "expected true or false, not the string "
		    "\"%s\" (remove the quotes)", s);
	else
		cerr(cx, n->line, "expected true or false, not \"%s\"", s);
}

static int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	const char *errstr;
	long long v;

	if (*s == '\0')
		return -1;
	for (const char *p = s; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	v = strtonum(s, 0, (long long)max, &errstr);
	if (errstr != NULL)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static void
f_uint(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	uint64_t v;

	if ((s = scalar(cx, n, "number")) == NULL)
		return;
	if (parse_uint(s, UINT32_MAX, &v) == -1) {
		cerr(cx, n->line, "expected a number, not \"%s\"", s);
		return;
	}
	*(uint32_t *)dst = (uint32_t)v;
}

static void
f_port(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	uint64_t v;

	if ((s = scalar(cx, n, "port")) == NULL)
		return;
	if (parse_uint(s, 65535, &v) == -1 || v == 0) {
		cerr(cx, n->line, "bad port \"%s\" (1-65535)", s);
		return;
	}
	*(uint16_t *)dst = (uint16_t)v;
}

enum numunit {
	NU_OK,
	NU_EMPTY,
	NU_BAD,		/* not digits and a unit */
	NU_BADUNIT,	/* digits and a word */
	NU_LONG		/* too many digits for any value */
};

/* Split "500M" into its digits and the unit letter, '\0' when none. */
static enum numunit
number_unit(const char *s, char *num, size_t numsz, int *unit)
{
	const char	*p;
	size_t		 digits;

	if (*s == '\0')
		return NU_EMPTY;
	if ((digits = strspn(s, "0123456789")) == 0)
		return NU_BAD;
	for (p = s + digits; *p != '\0'; p++)
		if (!isalpha((unsigned char)*p))
			return NU_BAD;
	if (p - (s + digits) > 1)
		return NU_BADUNIT;
	if (digits >= numsz)
		return NU_LONG;
	memcpy(num, s, digits);
	num[digits] = '\0';
	*unit = (unsigned char)s[digits];
	return NU_OK;
}

const char *
conf_parse_size(const char *s, uint64_t *out)
{
	char	 num[32];
	uint64_t v, mult, max;
	int	 unit;

	switch (number_unit(s, num, sizeof(num), &unit)) {
	case NU_OK:
		break;
	case NU_EMPTY:
		return "size must not be empty";
	case NU_BAD:
		return "bad size (a whole number, with K, M or G)";
	case NU_BADUNIT:
		return "bad size unit (use K, M or G)";
	case NU_LONG:
		return "size too large";
	}
	switch (unit) {
	case '\0': mult = 1; break;
	case 'K': mult = 1024ull; break;
	case 'M': mult = 1024ull * 1024; break;
	case 'G': mult = 1024ull * 1024 * 1024; break;
	default:
		return "bad size unit (use K, M or G)";
	}
	max = UINT64_MAX / mult;
	if (max > (uint64_t)LLONG_MAX)
		max = LLONG_MAX;
	if (parse_uint(num, max, &v) == -1)
		return "size too large";
	*out = v * mult;
	return NULL;
}

/* A duration of at most max seconds; tl is the refusal when longer. */
static const char *
parse_duration(const char *s, uint64_t max, const char *tl, uint32_t *out)
{
	char	 num[32];
	uint64_t v, mult;
	int	 unit;

	switch (number_unit(s, num, sizeof(num), &unit)) {
	case NU_OK:
		break;
	case NU_EMPTY:
		return "duration must not be empty";
	case NU_BAD:
		return "bad duration (a whole number with s, m, h or d)";
	case NU_BADUNIT:
		return "bad duration unit (use s, m, h or d)";
	case NU_LONG:
		return tl;
	}
	switch (unit) {
	case '\0': mult = 0; break;
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default:
		return "bad duration unit (use s, m, h or d)";
	}
	if (parse_uint(num, max, &v) == -1 || v * mult > max)
		return tl;
	/* 0 needs no unit; any other number does. */
	if (mult == 0 && v != 0)
		return "duration needs a unit (s, m, h or d)";
	*out = (uint32_t)(v * mult);
	return NULL;
}

const char *
conf_parse_duration(const char *s, uint32_t *out)
{
	return parse_duration(s, DURATION_MAX, "duration too long (at most "
	    "366d)", out);
}

static void
f_size(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s, *why;

	if ((s = scalar(cx, n, "size")) == NULL)
		return;
	if ((why = conf_parse_size(s, dst)) != NULL)
		cerr(cx, n->line, "%s: \"%s\"", why, s);
}

static void
f_duration(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s, *why;

	if ((s = scalar(cx, n, "duration")) == NULL)
		return;
	if ((why = conf_parse_duration(s, dst)) != NULL)
		cerr(cx, n->line, "%s: \"%s\"", why, s);
}

/* Mappings. */

static void
walk_map(struct cfx *cx, const struct ynode *n, const char *what,
    const struct field *fields, void *base)
{
	const struct ynode	*k;
	const struct field	*f;
	uint64_t		 seen = 0;
	size_t			 i, fi;

	if (n->type != YN_MAP) {
		cerr(cx, n->line, "%s must be a mapping", what);
		return;
	}
	for (i = 0; i < ymap_len(n); i++) {
		k = ymap_key(n, i);
		for (fi = 0, f = fields; f->key != NULL; f++, fi++)
			if (strcmp(f->key, k->value) == 0)
				break;
		if (f->key == NULL) {
			cerr(cx, k->line, "unknown key \"%s\" in %s",
			    k->value, what);
			continue;
		}
		seen |= 1ull << fi;
		f->fn(cx, ymap_value(n, i), (char *)base + f->off);
	}
	for (fi = 0, f = fields; f->key != NULL; f++, fi++)
		if (f->required && !(seen & (1ull << fi)))
			cerr(cx, n->line, "missing key \"%s\" in %s",
			    f->key, what);
}

/* The value of key in mapping n, or NULL. */
static const struct ynode *
ymap_get(const struct ynode *n, const char *key)
{
	size_t i;

	for (i = 0; i < ymap_len(n); i++)
		if (strcmp(ymap_key(n, i)->value, key) == 0)
			return ymap_value(n, i);
	return NULL;
}

static const struct ynode *
sequence(struct cfx *cx, const struct ynode *n, const char *what)
{
	if (n->type != YN_SEQ) {
		cerr(cx, n->line, "%s must be a list", what);
		return NULL;
	}
	return n;
}

/* Grow an array by one zeroed element; NULL on failure. */
static void *
grow(struct cfx *cx, int line, void *arrp, size_t *n, size_t size)
{
	void **arr = arrp;
	void *p;

	if ((p = reallocarray(*arr, *n + 1, size)) == NULL) {
		cerr(cx, line, "out of memory");
		return NULL;
	}
	*arr = p;
	memset((char *)p + *n * size, 0, size);
	return (char *)p + (*n)++ * size;
}

/* The main file. */

static void
f_listen_mode(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	enum listen_mode *m = dst;

	if ((s = scalar(cx, n, "mode")) == NULL)
		return;
	if (strcmp(s, "mx") == 0)
		*m = LISTEN_MX;
	else if (strcmp(s, "submission") == 0)
		*m = LISTEN_SUBMISSION;
	else if (strcmp(s, "smtps") == 0)
		*m = LISTEN_SMTPS;
	else
		cerr(cx, n->line, "unknown listen mode \"%s\" (mx, "
		    "submission or smtps)", s);
}

static void
f_listen_addr(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct hostport		*hp = dst;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const char		*s, *why;

	if ((s = scalar(cx, n, "address")) == NULL)
		return;
	if ((why = hostport_parse(s, hp)) != NULL)
		cerr(cx, n->line, "bad listen address \"%s\": %s", s, why);
	else if (hostport_sockaddr(hp, &ss, &sl) == -1)
		cerr(cx, n->line, "listen address \"%s\" must be an IP "
		    "address and port", s);
}

static const struct field listener_fields[] = {
	{ "address", f_listen_addr, offsetof(struct listener_conf, addr), 1 },
	{ "mode", f_listen_mode, offsetof(struct listener_conf, mode), 0 },
	{ "greeting_delay", f_duration,
	    offsetof(struct listener_conf, greeting_delay), 0 },
	{ "pregreet_pass", f_duration,
	    offsetof(struct listener_conf, pregreet_pass), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_listen(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf		*conf = dst;
	struct listener_conf	*l;
	size_t			 i, j;

	if (sequence(cx, n, "listen") == NULL)
		return;
	if (n->nitems == 0)
		cerr(cx, n->line, "listen must name at least one address");
	for (i = 0; i < n->nitems; i++) {
		l = grow(cx, n->items[i]->line, &conf->listeners,
		    &conf->nlisteners, sizeof(*l));
		if (l == NULL)
			return;
		l->fd = -1;
		l->line = n->items[i]->line;
		l->pregreet_pass = 86400;
		walk_map(cx, n->items[i], "listen entry", listener_fields, l);
		for (j = 0; j + 1 < conf->nlisteners; j++) {
			if (l->addr.port != 0 &&
			    conf->listeners[j].addr.port == l->addr.port &&
			    strcmp(conf->listeners[j].addr.host,
			    l->addr.host) == 0)
				cerr(cx, l->line, "address listed twice "
				    "(first on line %d)",
				    conf->listeners[j].line);
		}
	}
}

/*
 * A list of host:port.  With ip_only (the reason), names are refused: the
 * process using the list cannot resolve them.
 */
static void
f_hostport_list(struct cfx *cx, const struct ynode *n, const char *what,
    const char *ip_only, struct hostport **arr, size_t *narr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct hostport		 hp, *slot;
	const struct ynode	*it;
	const char		*s, *why;
	size_t			 i;

	if (sequence(cx, n, what) == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		it = n->items[i];
		if ((s = scalar(cx, it, what)) == NULL)
			continue;
		if ((why = hostport_parse(s, &hp)) != NULL)
			cerr(cx, it->line, "bad address \"%s\": %s", s, why);
		else if (ip_only != NULL &&
		    hostport_sockaddr(&hp, &ss, &sl) == -1)
			cerr(cx, it->line, "bad address \"%s\": %s", s,
			    ip_only);
		else if ((slot = grow(cx, it->line, arr, narr,
		    sizeof(*slot))) == NULL)
			return;
		else
			*slot = hp;
	}
}

static void
f_dns_servers(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf *conf = dst;

	free(conf->dns.servers);
	conf->dns.servers = NULL;
	conf->dns.nservers = 0;
	f_hostport_list(cx, n, "dns servers",
	    "a dns server must be an IP address", &conf->dns.servers,
	    &conf->dns.nservers);
	if (n->type == YN_SEQ && n->nitems == 0)
		cerr(cx, n->line, "dns servers must not be empty (leave the "
		    "key out to use /etc/resolv.conf)");
}

static void
f_tries(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_uint(cx, n, dst);
	if (*(uint32_t *)dst < 1 || *(uint32_t *)dst > 10)
		cerr(cx, n->line, "tries must be between 1 and 10");
}

static void	f_timeout(struct cfx *, const struct ynode *, void *);

static const struct field dns_fields[] = {
	{ "servers", f_dns_servers, 0, 0 },
	{ "max_ttl", f_duration, offsetof(struct conf, dns.max_ttl), 0 },
	{ "timeout", f_timeout, offsetof(struct conf, dns.timeout), 0 },
	{ "tries", f_tries, offsetof(struct conf, dns.tries), 0 },
	{ "dnssec", f_bool, offsetof(struct conf, dns.dnssec), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_dns(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "dns", dns_fields, dst);
}

/*
 * Range checks sit in the field functions, so that an error names the line
 * of the value.  A value that did not parse keeps its default and passes.
 */
static void
f_count(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_uint(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "connection limits must be at least 1");
}

static void
f_max_recipients(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_uint(cx, n, dst);
	if (*(uint32_t *)dst < 100)
		cerr(cx, n->line, "max_recipients must be at least 100 "
		    "(RFC 5321 section 4.5.3.1.8)");
}

static void
f_message_size(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_size(cx, n, dst);
	if (*(uint64_t *)dst < 64 * 1024)
		cerr(cx, n->line, "max_message_size must be at least 64K");
}

static void
f_timeout(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "timeouts must not be zero");
}

static void
f_lifetime(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "lifetimes must not be zero");
}

static void
f_retry_min(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "retry_min must be at least 1s");
}

static void
f_store_size(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_size(cx, n, dst);
	if (*(uint64_t *)dst < 1024 * 1024)
		cerr(cx, n->line, "store_max_size must be at least 1M");
}

static void
f_header_size(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_size(cx, n, dst);
	if (*(uint64_t *)dst < 16 * 1024)
		cerr(cx, n->line, "header_max_size must be at least 16K");
}

/* Failed AUTH attempts are always limited: 0 would mean none allowed. */
static void
f_auth_failures(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_uint(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "auth_failure_rate must be at least 1");
}

static const struct field limits_fields[] = {
	{ "max_message_size", f_message_size,
	    offsetof(struct conf, limits.max_message_size), 0 },
	{ "max_recipients", f_max_recipients,
	    offsetof(struct conf, limits.max_recipients), 0 },
	{ "max_connections", f_count,
	    offsetof(struct conf, limits.max_connections), 0 },
	{ "max_connections_per_client", f_count,
	    offsetof(struct conf, limits.max_connections_per_client), 0 },
	{ "min_free_space", f_size,
	    offsetof(struct conf, limits.min_free_space), 0 },
	{ "store_max_size", f_store_size,
	    offsetof(struct conf, limits.store_max_size), 0 },
	{ "client_connection_rate", f_uint,
	    offsetof(struct conf, limits.client_connection_rate), 0 },
	{ "client_message_rate", f_uint,
	    offsetof(struct conf, limits.client_message_rate), 0 },
	{ "client_recipient_rate", f_uint,
	    offsetof(struct conf, limits.client_recipient_rate), 0 },
	{ "header_max_fields", f_count,
	    offsetof(struct conf, limits.header_max_fields), 0 },
	{ "header_max_size", f_header_size,
	    offsetof(struct conf, limits.header_max_size), 0 },
	{ "auth_failure_rate", f_auth_failures,
	    offsetof(struct conf, limits.auth_failure_rate), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_limits(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "limits", limits_fields, dst);
}

static const struct field timeouts_fields[] = {
	{ "command", f_timeout, offsetof(struct conf, timeouts.command), 0 },
	{ "data", f_timeout, offsetof(struct conf, timeouts.data), 0 },
	{ "control", f_timeout, offsetof(struct conf, timeouts.control), 0 },
	{ "policy", f_timeout, offsetof(struct conf, timeouts.policy), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_timeouts(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "timeouts", timeouts_fields, dst);
}

#define QF(k, fn) { #k, fn, offsetof(struct conf, queue.k), 0 }
static const struct field queue_fields[] = {
	QF(lifetime, f_lifetime),
	QF(bounce_lifetime, f_lifetime),
	QF(retry_min, f_retry_min),
	QF(retry_max, f_duration),
	QF(delay_warning, f_duration),
	QF(max_connections_per_destination, f_count),
	QF(max_connections, f_count),
	QF(smtp_port, f_port),
	QF(allow_private_mx, f_bool),
	{ NULL, NULL, 0, 0 }
};
#undef QF

static void
f_queue(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf		*conf = dst;
	const struct ynode	*v;
	int			 line;

	walk_map(cx, n, "queue", queue_fields, dst);
	if (conf->queue.retry_max >= conf->queue.retry_min)
		return;
	/* Either may be the default: point at the one that is set. */
	if ((v = ymap_get(n, "retry_min")) == NULL)
		v = ymap_get(n, "retry_max");
	line = v != NULL ? v->line : n->line;
	cerr(cx, line, "retry_min must not be more than retry_max "
	    "(%us > %us)", conf->queue.retry_min, conf->queue.retry_max);
}

/* Records and logs: how long they are kept (relayd.8, Records). */

static void
f_records_retention(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "retention.message_records must be at "
		    "least 1s");
}

/* Log files are daily: one kept for less than a day could not be. */
static void
f_logs_retention(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst < 86400)
		cerr(cx, n->line, "retention.logs must be at least 1d (log "
		    "files are kept by the day)");
}

static void
f_counters_retention(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s, *why;

	if ((s = scalar(cx, n, "duration")) == NULL)
		return;
	if ((why = parse_duration(s, LONG_DURATION_MAX, "duration too long "
	    "(at most 3650d)", dst)) != NULL)
		cerr(cx, n->line, "%s: \"%s\"", why, s);
	else if (*(uint32_t *)dst < 86400)
		cerr(cx, n->line, "retention.counters must be at least 1d "
		    "(they are kept by the day)");
}

static const struct field retention_fields[] = {
	{ "message_records", f_records_retention,
	    offsetof(struct conf, retention.message_records), 0 },
	{ "logs", f_logs_retention, offsetof(struct conf, retention.logs), 0 },
	{ "counters", f_counters_retention,
	    offsetof(struct conf, retention.counters), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_retention(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "retention", retention_fields, dst);
}

/* log.file: "" is syslog (stderr with -d). */
static void
f_log_file(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf	*conf = dst;
	char		**out = &conf->log.file;

	conf->log.file_line = n->line;
	if (n->type == YN_SCALAR && !n->plain && n->vlen == 0) {
		free(*out);
		*out = NULL;
		return;
	}
	f_path(cx, n, out);
	if (*out != NULL && (*out)[strlen(*out) - 1] == '/') {
		cerr(cx, n->line, "log.file must name a file, not a directory");
		free(*out);
		*out = NULL;
	}
}

static const struct field log_fields[] = {
	{ "file", f_log_file, 0, 0 },
	{ "addresses", f_bool, offsetof(struct conf, log.addresses), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_log(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "log", log_fields, dst);
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* DNS lists, the operator's in relayd.yaml and a tenant's own. */

static void
f_int(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char	*s, *why;
	long long	 v;

	if ((s = scalar(cx, n, "number")) == NULL)
		return;
	v = strtonum(s, -1000000, 1000000, &why);
	if (why != NULL) {
		cerr(cx, n->line, "expected a number from -1000000 to 1000000, "
		    "not \"%s\"", s);
		return;
	}
	*(int32_t *)dst = (int32_t)v;
}

static void
f_zone(struct cfx *cx, const struct ynode *n, void *dst)
{
	char	**out = dst, *z;
	size_t	  len;

	f_string(cx, n, out);
	if ((z = *out) == NULL)
		return;
	lower(z);
	if ((len = strlen(z)) > 0 && z[len - 1] == '.')
		z[--len] = '\0';
	if (!mailaddr_valid_domain(z, len, MA_NO_FQDN) || len > 200) {
		cerr(cx, n->line, "bad DNS list zone \"%s\"", z);
		free(z);
		*out = NULL;
	}
}

/* What a list answers for a listed address: 127.0.0.0/8 only. */
static void
f_answers(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct dnsbl_conf	*l = dst;
	struct netaddr		 na;
	const char		*s;
	uint32_t		*slot;
	size_t			 i;

	if (sequence(cx, n, "answers") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "answer")) == NULL)
			continue;
		if (netaddr_parse(s, &na) == -1 || na.af != AF_INET ||
		    na.addr[0] != 127) {
			cerr(cx, n->items[i]->line, "bad answer \"%s\" (an "
			    "address in 127.0.0.0/8)", s);
			continue;
		}
		if ((slot = grow(cx, n->items[i]->line, &l->answers,
		    &l->nanswers, sizeof(*slot))) == NULL)
			return;
		memcpy(slot, na.addr, 4);
	}
}

static const struct field dnsbl_list_fields[] = {
	{ "zone", f_zone, offsetof(struct dnsbl_conf, zone), 1 },
	{ "weight", f_int, offsetof(struct dnsbl_conf, weight), 0 },
	{ "answers", f_answers, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static void
dnsbl_lists(struct cfx *cx, const struct ynode *n, struct dnsbl_conf **arr,
    size_t *narr)
{
	struct dnsbl_conf	*l;
	size_t			 i, j;

	if (sequence(cx, n, "lists") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if ((l = grow(cx, n->items[i]->line, arr, narr,
		    sizeof(*l))) == NULL)
			return;
		l->line = n->items[i]->line;
		l->weight = 1;
		walk_map(cx, n->items[i], "DNS list", dnsbl_list_fields, l);
		if (l->zone == NULL) {
			free(l->answers);
			(*narr)--;
			continue;
		}
		for (j = 0; j + 1 < *narr; j++)
			if (strcmp((*arr)[j].zone, l->zone) == 0)
				cerr(cx, l->line, "zone %s listed twice (first on "
				    "line %d)", l->zone, (*arr)[j].line);
	}
}

static void
f_main_lists(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf *conf = dst;

	dnsbl_lists(cx, n, &conf->dnsbl.lists, &conf->dnsbl.nlists);
}

static const struct field main_dnsbl_fields[] = {
	{ "lists", f_main_lists, 0, 0 },
	{ "threshold", f_int, offsetof(struct conf, dnsbl.threshold), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_ca_file(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf *conf = dst;

	f_path(cx, n, &conf->tls.ca_file);
	conf->tls.ca_line = n->line;
}

/*
 * The relay's own certificate and key: read, with the tenants', by
 * config_tls.c once every file is parsed.
 */
static const struct field tls_fields[] = {
	{ "ca_file", f_ca_file, 0, 0 },
	{ "certificate", f_path, offsetof(struct conf, tls.cert_file), 0 },
	{ "key", f_path, offsetof(struct conf, tls.key_file), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_main_dnsbl(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "dnsbl", main_dnsbl_fields, dst);
}

static void
f_tls(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf *conf = dst;

	conf->tls.line = n->line;
	walk_map(cx, n, "tls", tls_fields, dst);
	if ((conf->tls.cert_file == NULL) != (conf->tls.key_file == NULL))
		cerr(cx, n->line, "tls.certificate and tls.key go together");
}

/*
 * The self-check's source address: an IP literal, or "" to let relayd
 * choose.  That it lies outside every tenant's networks is checked once
 * the tenants are read (config_check.c).
 */
static void
f_selfcheck_from(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf	*conf = dst;
	struct netaddr	 na;
	const char	*s;

	if ((s = scalar(cx, n, "selfcheck.from")) == NULL)
		return;
	free(conf->selfcheck.from);
	conf->selfcheck.from = NULL;
	if (*s == '\0')
		return;
	if (netaddr_parse(s, &na) == -1 || (na.af == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)na.addr))) {
		cerr(cx, n->line, "bad selfcheck.from \"%s\" (an IPv4 or IPv6 "
		    "address of this host, or \"\" to let relayd choose)", s);
		return;
	}
	conf->selfcheck.from = cstrdup(cx, n->line, s);
	conf->selfcheck.from_line = n->line;
}

static const struct field selfcheck_fields[] = {
	{ "interval", f_duration, offsetof(struct conf, selfcheck.interval),
	    0 },
	{ "from", f_selfcheck_from, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_selfcheck(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "selfcheck", selfcheck_fields, dst);
}

static void
f_notice_duration(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst == 0)
		cerr(cx, n->line, "notices durations must be at least 1s");
}

static const struct field notices_fields[] = {
	{ "outage_after", f_notice_duration,
	    offsetof(struct conf, notices.outage_after), 0 },
	{ "interval", f_notice_duration,
	    offsetof(struct conf, notices.interval), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_notices(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "notices", notices_fields, dst);
}

/* The metrics listener: an IP literal and a port, or "" for none. */
static void
f_metrics_listen(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf		*conf = dst;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const char		*s, *why;

	if ((s = scalar(cx, n, "metrics.listen")) == NULL)
		return;
	conf->metrics.enabled = 0;
	if (*s == '\0')
		return;
	if ((why = hostport_parse(s, &conf->metrics.addr)) != NULL)
		cerr(cx, n->line, "bad metrics.listen \"%s\": %s", s, why);
	else if (hostport_sockaddr(&conf->metrics.addr, &ss, &sl) == -1)
		cerr(cx, n->line, "metrics.listen \"%s\" must be an IP "
		    "address and port, or \"\" for none", s);
	else
		conf->metrics.enabled = 1;
}

static const struct field metrics_fields[] = {
	{ "listen", f_metrics_listen, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

/*
 * policy_store: the LMDB store, or Redis shared by several nodes.  The
 * password file is read, and the tenant files digested, once every file
 * is parsed (config_redis.c).
 */
static void
f_store_backend(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;

	if ((s = scalar(cx, n, "policy_store.backend")) == NULL)
		return;
	if (strcmp(s, "lmdb") == 0)
		*(enum store_backend *)dst = STORE_LMDB;
	else if (strcmp(s, "redis") == 0)
		*(enum store_backend *)dst = STORE_REDIS;
	else
		cerr(cx, n->line, "bad policy_store.backend \"%s\" (lmdb or "
		    "redis)", s);
}

static void
redis_nodes(struct cfx *cx, const struct ynode *n, const char *what,
    struct hostport **arr, size_t *narr)
{
	free(*arr);
	*arr = NULL;
	*narr = 0;
	f_hostport_list(cx, n, what, "a Redis node must be an IP address "
	    "and port (the parent connects, and never resolves)", arr, narr);
	if (n->type == YN_SEQ && (n->nitems == 0 ||
	    n->nitems > REDIS_NODES_MAX))
		cerr(cx, n->line, "%s: between 1 and %d addresses", what,
		    REDIS_NODES_MAX);
}

static void
f_redis_sentinels(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct store_conf *st = dst;

	redis_nodes(cx, n, "policy_store.redis.sentinels", &st->sentinels,
	    &st->nsentinels);
}

static void
f_redis_servers(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct store_conf *st = dst;

	redis_nodes(cx, n, "policy_store.redis.servers", &st->servers,
	    &st->nservers);
}

/* Printable, no space: it goes into every key and Sentinel command. */
static void
f_redis_word(struct cfx *cx, const struct ynode *n, const char *what,
    size_t max, char **out)
{
	const char	*s, *p;

	if ((s = scalar(cx, n, what)) == NULL)
		return;
	for (p = s; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p))
			break;
	if (*s == '\0' || *p != '\0' || strlen(s) > max) {
		cerr(cx, n->line, "bad %s \"%s\" (1 to %zu printable "
		    "characters, no space)", what, s, max);
		return;
	}
	free(*out);
	*out = cstrdup(cx, n->line, s);
}

static void
f_redis_master(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_redis_word(cx, n, "policy_store.redis.master_name", REDIS_NAME_MAX,
	    dst);
}

static void
f_redis_prefix(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_redis_word(cx, n, "policy_store.redis.key_prefix", REDIS_PREFIX_MAX,
	    dst);
}

static void
f_redis_password(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct store_conf *st = dst;

	f_path(cx, n, &st->password_file);
	st->password_line = n->line;
}

static void
f_redis_tls(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_bool(cx, n, dst);
	if (*(int *)dst)
		cerr(cx, n->line, "policy_store.redis.tls: TLS to Redis is not "
		    "supported yet (use a trusted network or a local tunnel)");
}

static void
f_redis_timeout(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst < 1 || *(uint32_t *)dst > 60)
		cerr(cx, n->line, "policy_store.redis.timeout must be between "
		    "1s and 60s");
}

#define RF(k, fn) { #k, fn, offsetof(struct store_conf, k), 0 }
static const struct field redis_fields[] = {
	{ "sentinels", f_redis_sentinels, 0, 0 },
	RF(master_name, f_redis_master),
	{ "servers", f_redis_servers, 0, 0 },
	{ "password_file", f_redis_password, 0, 0 },
	RF(key_prefix, f_redis_prefix),
	RF(tls, f_redis_tls),
	RF(timeout, f_redis_timeout),
	{ NULL, NULL, 0, 0 }
};
#undef RF

static void
f_store_redis(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "policy_store.redis", redis_fields, dst);
}

static const struct field store_fields[] = {
	{ "backend", f_store_backend, offsetof(struct store_conf, backend),
	    0 },
	{ "redis", f_store_redis, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_metrics(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "metrics", metrics_fields, dst);
}

static void
f_policy_store(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct conf		*conf = dst;
	struct store_conf	*st = &conf->store;

	st->line = n->line;
	walk_map(cx, n, "policy_store", store_fields, st);
	if (st->backend != STORE_REDIS)
		return;
	/* The data nodes are named even with Sentinel: the parent connects
	 * to configured addresses only, never to one Sentinel names. */
	if (st->nservers == 0)
		cerr(cx, n->line, "policy_store.backend redis needs "
		    "policy_store.redis.servers (the data nodes)");
	if ((st->nsentinels > 0) != (st->master_name != NULL))
		cerr(cx, n->line, "policy_store.redis.sentinels and "
		    "master_name go together");
}

static const struct field main_fields[] = {
	{ "hostname", f_hostname, offsetof(struct conf, hostname), 0 },
	{ "postmaster", f_mailbox, offsetof(struct conf, postmaster), 1 },
	{ "state_dir", f_path, offsetof(struct conf, state_dir), 0 },
	{ "control_socket", f_path, offsetof(struct conf, control_socket), 0 },
	{ "control_group", f_string, offsetof(struct conf, control_group), 0 },
	{ "control_admin_group", f_string,
	    offsetof(struct conf, control_admin_group), 0 },
	{ "tenants_dir", f_path, offsetof(struct conf, tenants_dir), 0 },
	{ "listen", f_listen, 0, 1 },
	{ "dns", f_dns, 0, 0 },
	{ "tls", f_tls, 0, 0 },
	{ "limits", f_limits, 0, 0 },
	{ "timeouts", f_timeouts, 0, 0 },
	{ "queue", f_queue, 0, 0 },
	{ "dnsbl", f_main_dnsbl, 0, 0 },
	{ "selfcheck", f_selfcheck, 0, 0 },
	{ "notices", f_notices, 0, 0 },
	{ "retention", f_retention, 0, 0 },
	{ "log", f_log, 0, 0 },
	{ "metrics", f_metrics, 0, 0 },
	{ "policy_store", f_policy_store, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

/* Tenant files. */

static void
f_tenant_name(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s, *p;

	if ((s = scalar(cx, n, "tenant")) == NULL)
		return;
	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
		    *p != '.')
			break;
	if (*p != '\0' || p - s > 64 || p == s ||
	    !isalnum((unsigned char)s[0])) {
		cerr(cx, n->line, "bad tenant name \"%s\" (a letter or digit, "
		    "then letters, digits, '.', '-', '_'; at most 64)", s);
		return;
	}
	if (cx->tenant != NULL)
		cx->tenant->line = n->line;
	f_string(cx, n, dst);
}


static const struct field domain_fields[] = {
	{ "name", f_string, offsetof(struct domain_conf, name), 1 },
	{ "subdomains", f_bool, offsetof(struct domain_conf, subdomains), 0 },
	{ NULL, NULL, 0, 0 }
};

/*
 * A tenant domain in the form mail is routed by: lower case, and an
 * internationalised one (bücher.example) as its A-label
 * (xn--bcher-kva.example), which is what recipients are matched with.
 */
static int
domain_alabel(struct cfx *cx, int line, char **name)
{
	char a[MAILADDR_DOMAIN_MAX + 1], *copy;

	if (idn_to_alabel(*name, a, sizeof(a)) == -1) {
		cerr(cx, line, "bad domain \"%s\" (not a valid "
		    "internationalised domain name)", *name);
		return -1;
	}
	if (!mailaddr_valid_domain(a, strlen(a), 0)) {
		cerr(cx, line, "bad domain \"%s\" (a fully qualified name)",
		    *name);
		return -1;
	}
	if (strcmp(a, *name) != 0) {
		if ((copy = cstrdup(cx, line, a)) == NULL)
			return -1;
		free(*name);
		*name = copy;
	}
	return 0;
}

static void
f_domains(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf	*t = dst;
	struct domain_conf	*d;
	const struct ynode	*it;
	size_t			 i;

	if (sequence(cx, n, "domains") == NULL)
		return;
	if (n->nitems == 0)
		cerr(cx, n->line, "domains must name at least one domain");
	for (i = 0; i < n->nitems; i++) {
		it = n->items[i];
		if ((d = grow(cx, it->line, &t->domains, &t->ndomains,
		    sizeof(*d))) == NULL)
			return;
		d->line = it->line;
		if (it->type == YN_MAP)
			walk_map(cx, it, "domain", domain_fields, d);
		else
			f_string(cx, it, &d->name);
		if (d->name == NULL) {
			t->ndomains--;
			continue;
		}
		if (domain_alabel(cx, it->line, &d->name) == -1) {
			free(d->name);
			t->ndomains--;
		}
	}
}

static void
f_inbound_mode(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	enum inbound_mode *m = dst;

	if ((s = scalar(cx, n, "mode")) == NULL)
		return;
	if (strcmp(s, "relay") == 0)
		*m = INBOUND_RELAY;
	else if (strcmp(s, "backup") == 0)
		*m = INBOUND_BACKUP;
	else
		cerr(cx, n->line, "unknown inbound mode \"%s\" (relay or "
		    "backup)", s);
}

static void
f_deliver_to(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf *t = dst;

	f_hostport_list(cx, n, "deliver_to", NULL, &t->deliver_to,
	    &t->ndeliver_to);
	if (n->type == YN_SEQ && n->nitems == 0)
		cerr(cx, n->line, "deliver_to must name at least one host");
	if (n->type == YN_SEQ && n->nitems > ROUTE_HOSTS_MAX)
		cerr(cx, n->line, "deliver_to may name at most %d hosts",
		    ROUTE_HOSTS_MAX);
}

static void
f_inbound_tls(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	enum inbound_tls *m = dst;

	if ((s = scalar(cx, n, "tls")) == NULL)
		return;
	if (strcmp(s, "opportunistic") == 0)
		*m = INBOUND_TLS_OPPORTUNISTIC;
	else if (strcmp(s, "required") == 0)
		*m = INBOUND_TLS_REQUIRED;
	else if (strcmp(s, "verify") == 0)
		*m = INBOUND_TLS_VERIFY;
	else
		cerr(cx, n->line, "unknown inbound.tls \"%s\" (opportunistic, "
		    "required or verify)", s);
}

static const struct field inbound_fields[] = {
	{ "mode", f_inbound_mode, offsetof(struct tenant_conf, inbound_mode),
	    0 },
	{ "deliver_to", f_deliver_to, 0, 1 },
	{ "hold", f_lifetime, offsetof(struct tenant_conf, hold), 0 },
	{ "tls", f_inbound_tls, offsetof(struct tenant_conf, inbound_tls), 0 },
	{ "defer_all_after", f_duration,
	    offsetof(struct tenant_conf, defer_all_after), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_inbound(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "inbound", inbound_fields, dst);
}

static void
f_verify(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;
	enum verify_mode *m = dst;

	if ((s = scalar(cx, n, "verify")) == NULL)
		return;
	if (strcmp(s, "none") == 0)
		*m = VERIFY_NONE;
	else if (strcmp(s, "list") == 0)
		*m = VERIFY_LIST;
	else if (strcmp(s, "callout") == 0)
		*m = VERIFY_CALLOUT;
	else if (strcmp(s, "learn") == 0)
		*m = VERIFY_LEARN;
	else
		cerr(cx, n->line, "unknown recipients.verify \"%s\" (none, "
		    "list, callout or learn)", s);
}

static void
f_on_unknown(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;

	if ((s = scalar(cx, n, "on_unknown")) == NULL)
		return;
	if (strcmp(s, "defer") == 0)
		*(enum on_unknown *)dst = UNKNOWN_DEFER;
	else if (strcmp(s, "reject") == 0)
		*(enum on_unknown *)dst = UNKNOWN_REJECT;
	else
		cerr(cx, n->line, "callout.on_unknown must be defer or reject, "
		    "not \"%s\"", s);
}

static const struct field callout_fields[] = {
	{ "positive", f_lifetime,
	    offsetof(struct tenant_conf, callout_positive), 0 },
	{ "negative", f_lifetime,
	    offsetof(struct tenant_conf, callout_negative), 0 },
	{ "on_unknown", f_on_unknown, offsetof(struct tenant_conf, on_unknown),
	    0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_callout(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "callout", callout_fields, dst);
}

/* A list entry: a mailbox in a domain, not at an address literal. */
static int
rcpt_parse(const char *s, struct mailaddr *ma)
{
	return mailaddr_parse(s, strlen(s), MA_UTF8, ma) == MA_OK &&
	    !ma->literal;
}

static void
f_rcpt_list(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf	*t = dst;
	struct mailaddr		 ma;
	enum mailaddr_err	 e;
	const char		*s;
	char			**slot;
	char			 key[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];
	size_t			 i;

	if (sequence(cx, n, "recipients list") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "recipient")) == NULL)
			continue;
		if ((e = mailaddr_parse(s, strlen(s), MA_UTF8, &ma)) != MA_OK) {
			cerr(cx, n->items[i]->line, "bad recipient \"%s\": %s",
			    s, addr_why(e, 0));
			continue;
		}
		/* An address literal is in none of the tenant's domains. */
		if (ma.literal) {
			cerr(cx, n->items[i]->line, "recipient \"%s\" is not "
			    "in the tenant's domains", s);
			continue;
		}
		/* Matched as smtpd will see it: the domain as its A-label. */
		if (idn_to_alabel(ma.domain, ma.domain, sizeof(ma.domain)) ==
		    -1) {
			cerr(cx, n->items[i]->line, "bad recipient \"%s\": "
			    "not a valid internationalised domain name", s);
			continue;
		}
		if ((slot = grow(cx, n->items[i]->line, &t->rcpts, &t->nrcpts,
		    sizeof(*slot))) == NULL)
			return;
		mailaddr_format(&ma, key, sizeof(key));
		if ((*slot = cstrdup(cx, n->items[i]->line, key)) == NULL) {
			t->nrcpts--;
			return;
		}
		lower(*slot);
	}
}

static void
f_delimiter(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf *t = dst;
	const char *p;

	if (n->type != YN_SCALAR) {
		cerr(cx, n->line, "delimiter must be a single value");
		return;
	}
	for (p = n->value; *p != '\0'; p++)
		if (strchr("+-_=.", *p) == NULL)
			break;
	if (*p != '\0' || strlen(n->value) >= sizeof(t->delimiter)) {
		cerr(cx, n->line, "bad delimiter \"%s\" (up to %zu of "
		    "+ - _ = .)", n->value, sizeof(t->delimiter) - 1);
		return;
	}
	strlcpy(t->delimiter, n->value, sizeof(t->delimiter));
}

static const struct field recipients_fields[] = {
	{ "verify", f_verify, offsetof(struct tenant_conf, verify), 0 },
	{ "list", f_rcpt_list, 0, 0 },
	{ "delimiter", f_delimiter, 0, 0 },
	{ "callout", f_callout, 0, 0 },
	{ "learning_period", f_duration,
	    offsetof(struct tenant_conf, learning_period), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_recipients(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "recipients", recipients_fields, dst);
}

static void
f_networks(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf	*t = dst;
	struct net_conf		*nc;
	const char		*s, *why;
	size_t			 i;

	if (sequence(cx, n, "networks") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "network")) == NULL)
			continue;
		if ((nc = grow(cx, n->items[i]->line, &t->networks,
		    &t->nnetworks, sizeof(*nc))) == NULL)
			return;
		nc->line = n->items[i]->line;
		if ((why = cidr_parse(s, &nc->cidr)) != NULL) {
			cerr(cx, nc->line, "bad network \"%s\": %s", s, why);
			t->nnetworks--;
		}
	}
}

static const struct field outbound_fields[] = {
	{ "networks", f_networks, 0, 0 },
	{ "allow_bare_newlines", f_bool,
	    offsetof(struct tenant_conf, allow_bare_newlines), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_outbound(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "outbound", outbound_fields, dst);
}

static void
f_count64(struct cfx *cx, const struct ynode *n, void *dst)
{
	uint32_t v = 0;

	f_uint(cx, n, &v);
	*(uint64_t *)dst = v;
}

static const struct field tenant_limits_fields[] = {
	{ "spool_max", f_size, offsetof(struct tenant_conf, spool_max), 0 },
	{ "daily_messages", f_count64,
	    offsetof(struct tenant_conf, daily_messages), 0 },
	{ "daily_bytes", f_size, offsetof(struct tenant_conf, daily_bytes), 0 },
	{ NULL, NULL, 0, 0 }
};

/* A tenant's policy: what policyd checks for its inbound mail. */

/* The senders' relays that are never greylisted: networks or domains. */
static void
f_grey_whitelist(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct policy_conf	*p = dst;
	struct cidr		 c, *cslot;
	const char		*s;
	char			**dslot;
	size_t			 i;

	if (sequence(cx, n, "whitelist") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "whitelist entry")) == NULL)
			continue;
		if (cidr_parse(s, &c) == NULL) {
			if ((cslot = grow(cx, n->items[i]->line, &p->grey_nets,
			    &p->ngrey_nets, sizeof(*cslot))) != NULL)
				*cslot = c;
			continue;
		}
		if (!mailaddr_valid_domain(s, strlen(s), 0)) {
			cerr(cx, n->items[i]->line, "bad whitelist entry \"%s\" "
			    "(a network or a domain)", s);
			continue;
		}
		if ((dslot = grow(cx, n->items[i]->line, &p->grey_domains,
		    &p->ngrey_domains, sizeof(*dslot))) == NULL)
			return;
		if ((*dslot = cstrdup(cx, n->items[i]->line, s)) == NULL) {
			p->ngrey_domains--;
			return;
		}
		lower(*dslot);
	}
}

static const struct field greylist_fields[] = {
	{ "enabled", f_bool, offsetof(struct policy_conf, greylist), 0 },
	{ "delay", f_duration, offsetof(struct policy_conf, grey_delay), 0 },
	{ "window", f_lifetime, offsetof(struct policy_conf, grey_window), 0 },
	{ "lifetime", f_lifetime, offsetof(struct policy_conf, grey_lifetime),
	    0 },
	{ "auto_whitelist_after", f_uint,
	    offsetof(struct policy_conf, grey_awl_after), 0 },
	{ "whitelist", f_grey_whitelist, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

/*
 * A retry passes after the delay and within the window: a window no
 * longer than the delay would defer every sender for ever.
 */
static void
f_greylist(struct cfx *cx, const struct ynode *n, void *dst)
{
	const struct policy_conf *p = dst;

	walk_map(cx, n, "greylist", greylist_fields, dst);
	if (p->grey_window <= p->grey_delay)
		cerr(cx, n->line, "greylist window (%us) must be longer than "
		    "its delay (%us), or no retry could pass", p->grey_window,
		    p->grey_delay);
}

static void
f_tenant_lists(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct policy_conf *p = dst;

	dnsbl_lists(cx, n, &p->lists, &p->nlists);
}

static const struct field tenant_dnsbl_fields[] = {
	{ "enabled", f_bool, offsetof(struct policy_conf, dnsbl), 0 },
	{ "lists", f_tenant_lists, 0, 0 },
	{ "threshold", f_int, offsetof(struct policy_conf, threshold), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_tenant_dnsbl(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "dnsbl", tenant_dnsbl_fields, dst);
}

static void
f_spf(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;

	if ((s = scalar(cx, n, "spf")) == NULL)
		return;
	if (strcmp(s, "off") == 0)
		*(enum spf_mode *)dst = SPF_OFF;
	else if (strcmp(s, "tag") == 0)
		*(enum spf_mode *)dst = SPF_TAG;
	else if (strcmp(s, "reject") == 0)
		*(enum spf_mode *)dst = SPF_REJECT;
	else
		cerr(cx, n->line, "spf must be off, tag or reject, not \"%s\"",
		    s);
}

static const struct field policy_fields[] = {
	{ "greylist", f_greylist, 0, 0 },
	{ "dnsbl", f_tenant_dnsbl, 0, 0 },
	{ "spf", f_spf, offsetof(struct policy_conf, spf), 0 },
	{ "sender_domain", f_bool, offsetof(struct policy_conf, sender_domain),
	    0 },
	{ "require_to_or_cc", f_bool,
	    offsetof(struct policy_conf, require_to_or_cc), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_policy(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf *t = dst;

	walk_map(cx, n, "policy", policy_fields, &t->policy);
}

/*
 * What a tenant left unset follows its mode: a backup MX greylists,
 * asks the operator's DNS lists and checks sender domains; an inbound
 * shield filters nothing the organisation did not ask for.
 */
static void
policy_defaults(struct tenant_conf *t)
{
	struct policy_conf	*p = &t->policy;
	int			 backup = t->inbound_mode == INBOUND_BACKUP;

	if (p->greylist == -1)
		p->greylist = backup;
	if (p->dnsbl == -1)
		p->dnsbl = backup;
	if (p->sender_domain == -1)
		p->sender_domain = backup;
}

static void
policy_init(struct policy_conf *p)
{
	p->greylist = -1;
	p->grey_delay = 5 * 60;
	p->grey_window = 4 * 3600;
	p->grey_lifetime = 36 * 86400;
	p->grey_awl_after = 5;
	p->dnsbl = -1;
	p->threshold = 1;
	p->sender_domain = -1;
}

/* content: the milters a tenant's mail goes through at end of data. */

static void
f_milter_socket(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const char		*s, *why;

	if ((s = scalar(cx, n, "socket")) == NULL)
		return;
	if (strlen(s) >= MILTER_SOCKET_MAX)
		cerr(cx, n->line, "bad milter socket \"%s\": longer than %d "
		    "characters", s, MILTER_SOCKET_MAX - 1);
	else if ((why = milter_sock_parse(s, &ss, &sl)) != NULL)
		cerr(cx, n->line, "bad milter socket \"%s\": %s", s, why);
	else
		strlcpy(dst, s, MILTER_SOCKET_MAX);
}

static void
f_milter_timeout(struct cfx *cx, const struct ynode *n, void *dst)
{
	f_duration(cx, n, dst);
	if (*(uint32_t *)dst == 0 || *(uint32_t *)dst > 600)
		cerr(cx, n->line, "a milter's timeout must be between 1s and "
		    "10m");
}

static void
f_on_failure(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;

	if ((s = scalar(cx, n, "on_failure")) == NULL)
		return;
	if (strcmp(s, "tempfail") == 0)
		*(enum milter_failure *)dst = MILTER_FAIL_TEMPFAIL;
	else if (strcmp(s, "accept") == 0)
		*(enum milter_failure *)dst = MILTER_FAIL_ACCEPT;
	else
		cerr(cx, n->line, "on_failure must be tempfail or accept, not "
		    "\"%s\"", s);
}

static const struct field milter_fields[] = {
	{ "socket", f_milter_socket, offsetof(struct milter_conf, socket), 1 },
	{ "timeout", f_milter_timeout, offsetof(struct milter_conf, timeout),
	    0 },
	{ "on_failure", f_on_failure, offsetof(struct milter_conf, on_failure),
	    0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_milters(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct content_conf	*c = dst;
	struct milter_conf	*m;
	size_t			 i;

	if (sequence(cx, n, "milters") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if (c->nmilters == MILTERS_MAX) {
			cerr(cx, n->items[i]->line, "more than %d milters",
			    MILTERS_MAX);
			return;
		}
		if ((m = grow(cx, n->items[i]->line, &c->milters,
		    &c->nmilters, sizeof(*m))) == NULL)
			return;
		m->timeout = 30;
		m->on_failure = MILTER_FAIL_TEMPFAIL;
		m->line = n->items[i]->line;
		walk_map(cx, n->items[i], "milter", milter_fields, m);
		if (m->socket[0] == '\0')
			c->nmilters--;
	}
}

/* A header field's name (RFC 5322 2.2): printable, no colon, no space. */
static int
field_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == ':')
			return 0;
	return 1;
}

/* bulk_defer: "Field" (any value) or "Field: text" (in its value). */
static void
f_bulk_defer(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct content_conf	*c = dst;
	struct bulk_conf	*b;
	const char		*s, *colon, *text;
	size_t			 i, nlen;

	if (sequence(cx, n, "bulk_defer") == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "bulk_defer entry")) == NULL)
			continue;
		colon = strchr(s, ':');
		nlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		text = colon != NULL ? colon + 1 + strspn(colon + 1, " \t") :
		    NULL;
		if (!field_name_ok(s, nlen) || (text != NULL &&
		    (*text == '\0' || strlen(text) > 200))) {
			cerr(cx, n->items[i]->line, "bad bulk_defer entry "
			    "\"%s\" (a field name, or name: text)", s);
			continue;
		}
		if (c->nbulk == MILTER_BULK_MAX) {
			cerr(cx, n->items[i]->line, "more than %d bulk_defer "
			    "entries", MILTER_BULK_MAX);
			return;
		}
		if ((b = grow(cx, n->items[i]->line, &c->bulk, &c->nbulk,
		    sizeof(*b))) == NULL)
			return;
		if ((b->name = strndup(s, nlen)) == NULL ||
		    (text != NULL && (b->text = strdup(text)) == NULL)) {
			cerr(cx, n->items[i]->line, "out of memory");
			return;
		}
	}
}

static const struct field content_fields[] = {
	{ "milters", f_milters, 0, 0 },
	{ "allow_header_changes", f_bool,
	    offsetof(struct content_conf, allow_header_changes), 0 },
	{ "outbound", f_bool, offsetof(struct content_conf, outbound), 0 },
	{ "bulk_defer", f_bulk_defer, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_content(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf *t = dst;

	walk_map(cx, n, "content", content_fields, &t->content);
}

static void
f_tenant_limits(struct cfx *cx, const struct ynode *n, void *dst)
{
	walk_map(cx, n, "limits", tenant_limits_fields, dst);
}

/* A name a client asks for by SNI: a host name, as its A-label. */
static void
f_tls_names(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf	*t = dst;
	const char		*s;
	char			**slot;
	size_t			 i, j;

	if (sequence(cx, n, "tls.names") == NULL)
		return;
	if (n->nitems == 0)
		cerr(cx, n->line, "tls.names must name at least one host");
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "name")) == NULL)
			continue;
		if ((slot = grow(cx, n->items[i]->line, &t->tls_names,
		    &t->ntls_names, sizeof(*slot))) == NULL)
			return;
		if ((*slot = cstrdup(cx, n->items[i]->line, s)) == NULL ||
		    domain_alabel(cx, n->items[i]->line, slot) == -1) {
			free(*slot);
			t->ntls_names--;
			continue;
		}
		lower(*slot);
		for (j = 0; j + 1 < t->ntls_names; j++)
			if (strcmp(t->tls_names[j], *slot) == 0) {
				cerr(cx, n->items[i]->line, "tls.names: \"%s\" "
				    "is listed twice", s);
				free(*slot);
				t->ntls_names--;
				break;
			}
	}
}

static const struct field tenant_tls_fields[] = {
	{ "names", f_tls_names, 0, 1 },
	{ "certificate", f_path, offsetof(struct tenant_conf, tls_cert_file),
	    1 },
	{ "key", f_path, offsetof(struct tenant_conf, tls_key_file), 1 },
	{ NULL, NULL, 0, 0 }
};

/*
 * Contacts: who hears about the tenant's outages and limits.  Names and
 * telephone numbers are for people (relayctl show tenant); the address
 * is where notices go.
 */
static void
f_contact_name(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char	*s;
	char		*copy;

	if ((s = scalar(cx, n, "name")) == NULL)
		return;
	if (strlen(s) > CONTACT_NAME_MAX) {
		cerr(cx, n->line, "contact name longer than %d octets",
		    CONTACT_NAME_MAX);
		return;
	}
	if ((copy = cstrdup(cx, n->line, s)) == NULL)
		return;
	if (text_clean(copy) > 0) {
		cerr(cx, n->line, "contact name holds a control character or "
		    "is not UTF-8");
		free(copy);
		return;
	}
	free(*(char **)dst);
	*(char **)dst = copy;
}

static void
f_phone(struct cfx *cx, const struct ynode *n, void *dst)
{
	const char *s;

	if ((s = scalar(cx, n, "phone")) == NULL)
		return;
	if (strlen(s) > CONTACT_PHONE_MAX || *s == '\0' ||
	    s[strspn(s, "0123456789 +-().")] != '\0') {
		cerr(cx, n->line, "bad phone number \"%s\" (digits, spaces "
		    "and + - ( ) . only; at most %d)", s, CONTACT_PHONE_MAX);
		return;
	}
	f_string(cx, n, dst);
}

static void
f_roles(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct contact_conf	*c = dst;
	const char		*s;
	unsigned		 bit;
	size_t			 i;

	if (sequence(cx, n, "roles") == NULL)
		return;
	if (n->nitems == 0)
		cerr(cx, n->line, "roles must name at least one role");
	for (i = 0; i < n->nitems; i++) {
		if ((s = scalar(cx, n->items[i], "role")) == NULL)
			continue;
		for (bit = 1; bit <= CONTACT_BILLING; bit <<= 1)
			if (strcmp(s, conf_role_name(bit)) == 0)
				break;
		if (bit > CONTACT_BILLING)
			cerr(cx, n->items[i]->line, "unknown role \"%s\" "
			    "(technical, emergency, policy or billing)", s);
		else if (c->roles & bit)
			cerr(cx, n->items[i]->line, "role \"%s\" listed "
			    "twice", s);
		else
			c->roles |= (uint8_t)bit;
	}
}

static const struct field contact_fields[] = {
	{ "name", f_contact_name, offsetof(struct contact_conf, name), 0 },
	{ "email", f_mailbox, offsetof(struct contact_conf, email), 1 },
	{ "phone", f_phone, offsetof(struct contact_conf, phone), 0 },
	{ "roles", f_roles, 0, 1 },
	{ NULL, NULL, 0, 0 }
};

static void
f_tenant_tls(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf *t = dst;

	t->tls_line = n->line;
	walk_map(cx, n, "tls", tenant_tls_fields, dst);
}

static void
f_contacts(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf	*t = dst;
	struct contact_conf	*c;
	size_t			 i, j;

	if (sequence(cx, n, "contacts") == NULL)
		return;
	if (n->nitems > CONTACTS_MAX) {
		cerr(cx, n->line, "contacts may name at most %d people",
		    CONTACTS_MAX);
		return;
	}
	for (i = 0; i < n->nitems; i++) {
		if ((c = grow(cx, n->items[i]->line, &t->contacts,
		    &t->ncontacts, sizeof(*c))) == NULL)
			return;
		c->line = n->items[i]->line;
		walk_map(cx, n->items[i], "contact", contact_fields, c);
		if (c->email == NULL)
			continue;
		for (j = 0; j + 1 < t->ncontacts; j++)
			if (t->contacts[j].email != NULL &&
			    strcasecmp(t->contacts[j].email, c->email) == 0)
				cerr(cx, c->line, "contact <%s> listed twice "
				    "(first on line %d)", c->email,
				    t->contacts[j].line);
	}
}

/* Where the tenant's Dovecot answers: checked here, connected by the
 * parent (parent_connect.c). */
static void
f_auth_dovecot(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const char		*s, *why;

	if ((s = scalar(cx, n, "auth.dovecot")) == NULL)
		return;
	if ((why = endpoint_parse(s, &ss, &sl)) != NULL) {
		cerr(cx, n->line, "bad auth.dovecot \"%s\": %s", s, why);
		return;
	}
	f_string(cx, n, dst);
}

/* Appended to user names without a domain: a domain, as its A-label. */
static void
f_auth_realm(struct cfx *cx, const struct ynode *n, void *dst)
{
	char **realm = dst;

	if (scalar(cx, n, "auth.realm") == NULL)
		return;
	f_string(cx, n, dst);
	if (*realm == NULL)
		return;
	if (domain_alabel(cx, n->line, realm) == -1) {
		free(*realm);
		*realm = NULL;
		return;
	}
	lower(*realm);
}

static const struct field auth_fields[] = {
	{ "dovecot", f_auth_dovecot, offsetof(struct auth_conf, dovecot), 1 },
	{ "realm", f_auth_realm, offsetof(struct auth_conf, realm), 0 },
	{ "foreign_senders", f_bool,
	    offsetof(struct auth_conf, foreign_senders), 0 },
	{ "user_message_rate", f_uint,
	    offsetof(struct auth_conf, user_message_rate), 0 },
	{ NULL, NULL, 0, 0 }
};

static void
f_auth(struct cfx *cx, const struct ynode *n, void *dst)
{
	struct tenant_conf *t = dst;

	t->auth.line = n->line;
	walk_map(cx, n, "auth", auth_fields, &t->auth);
}

static const struct field tenant_fields[] = {
	{ "tenant", f_tenant_name, offsetof(struct tenant_conf, name), 1 },
	{ "postmaster", f_mailbox, offsetof(struct tenant_conf, postmaster),
	    1 },
	{ "contacts", f_contacts, 0, 0 },
	{ "domains", f_domains, 0, 1 },
	{ "inbound", f_inbound, 0, 1 },
	{ "recipients", f_recipients, 0, 0 },
	{ "outbound", f_outbound, 0, 0 },
	{ "limits", f_tenant_limits, 0, 0 },
	{ "policy", f_policy, 0, 0 },
	{ "tls", f_tenant_tls, 0, 0 },
	{ "auth", f_auth, 0, 0 },
	{ "content", f_content, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static int
in_domains(const struct tenant_conf *t, const char *dom)
{
	const struct domain_conf	*d;
	size_t				 k, dl = strlen(dom), nl;

	for (k = 0; k < t->ndomains; k++) {
		d = &t->domains[k];
		nl = strlen(d->name);
		if (strcmp(dom, d->name) == 0)
			return 1;
		if (d->subdomains && dl > nl && dom[dl - nl - 1] == '.' &&
		    strcmp(dom + dl - nl, d->name) == 0)
			return 1;
	}
	return 0;
}

/*
 * Each recipient of the list must be in the tenant's domains.  Checked from
 * the tree, once the domains are known whatever the order of the keys, so
 * that an error names the line of the recipient.
 */
static void
check_rcpt_domains(struct cfx *cx, const struct tenant_conf *t,
    const struct ynode *list)
{
	struct mailaddr		 ma;
	const struct ynode	*it;
	size_t			 i;

	if (list == NULL || list->type != YN_SEQ || t->ndomains == 0)
		return;
	for (i = 0; i < list->nitems; i++) {
		it = list->items[i];
		if (it->type != YN_SCALAR || !rcpt_parse(it->value, &ma) ||
		    idn_to_alabel(ma.domain, ma.domain, sizeof(ma.domain)) ==
		    -1)
			continue;	/* reported by f_rcpt_list */
		if (!in_domains(t, ma.domain))
			cerr(cx, it->line, "recipient \"%s\" is not in the "
			    "tenant's domains", it->value);
	}
}

/*
 * A backup MX accepts only what the primary would: unless the tenant says
 * otherwise it asks the primary (callout) and defers the unknown, so the
 * primary stays the judge.  An inbound shield verifies nothing it was not
 * asked to, and an unknown user there is the primary's own 550.
 */
static void
recipients_defaults(struct tenant_conf *t, const struct ynode *rcpts)
{
	const struct ynode	*c;
	int			 backup = t->inbound_mode == INBOUND_BACKUP;

	if (rcpts == NULL || ymap_get(rcpts, "verify") == NULL)
		t->verify = backup ? VERIFY_CALLOUT : VERIFY_NONE;
	if (rcpts == NULL || (c = ymap_get(rcpts, "callout")) == NULL ||
	    c->type != YN_MAP || ymap_get(c, "on_unknown") == NULL)
		t->on_unknown = backup ? UNKNOWN_DEFER : UNKNOWN_REJECT;
}

/* Sort and dedupe the list for bsearch; check each is the tenant's. */
static void
tenant_finish(struct cfx *cx, struct tenant_conf *t, const struct ynode *root)
{
	const struct ynode	*rcpts, *verify;
	size_t			 i, j;

	if (t->nrcpts > 0)
		qsort(t->rcpts, t->nrcpts, sizeof(*t->rcpts), conf_rcpt_cmp);
	for (i = 0, j = 0; i < t->nrcpts; i++) {
		if (j > 0 && strcmp(t->rcpts[j - 1], t->rcpts[i]) == 0) {
			free(t->rcpts[i]);
			continue;
		}
		t->rcpts[j++] = t->rcpts[i];
	}
	t->nrcpts = j;
	/* Warnings about the contacts point at the key. */
	for (i = 0; i < ymap_len(root); i++)
		if (strcmp(ymap_key(root, i)->value, "contacts") == 0)
			t->contacts_line = ymap_key(root, i)->line;
	rcpts = ymap_get(root, "recipients");
	recipients_defaults(t, rcpts);
	if (rcpts == NULL)
		return;
	check_rcpt_domains(cx, t, ymap_get(rcpts, "list"));
	if (t->verify == VERIFY_LIST && t->nrcpts == 0 &&
	    (verify = ymap_get(rcpts, "verify")) != NULL)
		cerr(cx, verify->line, "recipients.verify is list but the "
		    "list is empty");
}

/* A tenant file's tree into a new tenant of conf. */
static void
tenant_tree(struct conf *conf, const char *name, const char *dir,
    const struct ynode *root, struct conf_errors *errs)
{
	struct cfx		 cx;
	struct tenant_conf	*t;

	memset(&cx, 0, sizeof(cx));
	cx.file = name;
	cx.dir = dir;	/* relative paths: beside the tenant files */
	cx.errs = errs;
	if ((t = grow(&cx, 1, &conf->tenants, &conf->ntenants,
	    sizeof(*t))) == NULL)
		return;
	t->file = cstrdup(&cx, 1, name);
	t->line = root->line;
	t->hold = 8 * 86400;
	t->callout_positive = 7 * 86400;
	t->callout_negative = 3600;
	t->learning_period = 7 * 86400;
	t->defer_all_after = 30 * 86400;
	t->auth.user_message_rate = AUTH_USER_RATE;
	policy_init(&t->policy);
	cx.tenant = t;
	walk_map(&cx, root, "tenant file", tenant_fields, t);
	policy_defaults(t);
	tenant_finish(&cx, t, root);
}

static void
load_tenant(struct conf *conf, const char *path, struct conf_errors *errs)
{
	struct ynode	*root;
	char		 err[1024];

	if ((root = ytree_load(path, err, sizeof(err))) == NULL) {
		conf_errors_add(errs, "%s", err);
		return;
	}
	tenant_tree(conf, path, conf->tenants_dir, root, errs);
	ytree_free(root);
}

void
conf_parse_tenant(struct conf *conf, const char *name,
    const unsigned char *buf, size_t len, struct conf_errors *errs)
{
	struct ynode	*root;
	char		 err[1024];

	if ((root = ytree_parse(name, buf, len, err, sizeof(err))) == NULL) {
		conf_errors_add(errs, "%s", err);
		return;
	}
	tenant_tree(conf, name, ".", root, errs);
	ytree_free(root);
}

static int
yaml_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 5 &&
	    strcmp(d->d_name + len - 5, ".yaml") == 0;
}

static void
load_tenants(struct conf *conf, struct conf_errors *errs)
{
	struct dirent	**ents;
	char		 path[PATH_MAX];
	int		 n, i;

	if ((n = scandir(conf->tenants_dir, &ents, yaml_file,
	    alphasort)) == -1) {
		conf_errors_add(errs, "%s: tenants_dir: %s", conf->tenants_dir,
		    strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s",
		    conf->tenants_dir, ents[i]->d_name) >= sizeof(path))
			conf_errors_add(errs, "%s/%s: path too long",
			    conf->tenants_dir, ents[i]->d_name);
		else
			load_tenant(conf, path, errs);
		free(ents[i]);
	}
	free(ents);
}

static int
set_default(char **field, const char *value)
{
	if (*field != NULL)
		return 0;
	return (*field = strdup(value)) == NULL ? -1 : 0;
}

static int
set_defaults(struct conf *conf, const char *dir)
{
	char host[256], *p;

	if (conf->hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		if (set_default(&conf->hostname, host) == -1)
			return -1;
	}
	if (conf->tenants_dir == NULL) {
		if (asprintf(&p, "%s/%s", dir, DEFAULT_TENANTS_DIR) == -1)
			return -1;
		conf->tenants_dir = p;
	}
	if (set_default(&conf->state_dir, DEFAULT_STATE_DIR) == -1 ||
	    set_default(&conf->control_socket, DEFAULT_CONTROL_SOCKET) == -1 ||
	    set_default(&conf->control_group, DEFAULT_CONTROL_GROUP) == -1 ||
	    set_default(&conf->control_admin_group,
	    DEFAULT_CONTROL_GROUP) == -1)
		return -1;
	return 0;
}

/* Implicit TLS cannot start without a certificate to offer. */
static void
smtps_needs_cert(struct cfx *cx, const struct conf *conf)
{
	size_t i;

	if (conf->tls.cert_file != NULL)
		return;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].mode == LISTEN_SMTPS)
			cerr(cx, conf->listeners[i].line, "listen mode smtps "
			    "needs tls.certificate and tls.key");
}

/* The main file's tree into conf, then the defaults of what it left out. */
static void
main_tree(struct conf *conf, const char *name, const char *dir,
    const struct ynode *root, struct conf_errors *errs)
{
	struct cfx	 cx;

	memset(&cx, 0, sizeof(cx));
	cx.file = name;
	cx.dir = dir;
	cx.errs = errs;
	walk_map(&cx, root, "relayd.yaml", main_fields, conf);
	if (set_defaults(conf, dir) == -1)
		conf_errors_add(errs, "%s: out of memory", name);
	smtps_needs_cert(&cx, conf);
}

void
conf_parse_main(struct conf *conf, const char *name, const char *dir,
    const unsigned char *buf, size_t len, struct conf_errors *errs)
{
	struct ynode	*root;
	char		 err[1024];

	if ((root = ytree_parse(name, buf, len, err, sizeof(err))) == NULL) {
		conf_errors_add(errs, "%s", err);
		return;
	}
	main_tree(conf, name, dir, root, errs);
	ytree_free(root);
}

/*
 * The CA bundle deliverd verifies peers with (MTA-STS) is opened here, by
 * the parent, and its descriptor goes to deliverd with its configuration:
 * children open no file, and a CA bundle is too large for a configuration
 * message.  deliverd reads and parses it; the parent, which keeps root,
 * parses no certificate.  The default bundle may be missing (no MTA-STS,
 * and relayd says so); a file the operator named must be there.
 */
static void
open_ca_file(struct conf *conf, const char *name, struct conf_errors *errs)
{
	const char	*path = conf->tls.ca_file ? conf->tls.ca_file :
			    CONF_DEFAULT_CA_FILE;
	struct stat	 st;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (conf->tls.ca_file != NULL)
			conf_errors_add(errs, "%s:%d: tls.ca_file %s: %s", name,
			    conf->tls.ca_line, path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CA_FILE_MAX) {
		conf_errors_add(errs, "%s:%d: tls.ca_file %s: not a regular "
		    "file of at most %d MB", name, conf->tls.ca_line, path,
		    CA_FILE_MAX / (1024 * 1024));
		close(fd);
		return;
	}
	conf->tls.ca_fd = fd;
}

/* log.file's directory must be there: the parent writes into it. */
static void
check_log_file(struct conf *conf, const char *name, struct conf_errors *errs)
{
	char		 dir[PATH_MAX];
	struct stat	 st;

	if (conf->log.file == NULL)
		return;
	strlcpy(dir, conf->log.file, sizeof(dir));
	if (stat(dirname(dir), &st) == -1 || !S_ISDIR(st.st_mode))
		conf_errors_add(errs, "%s:%d: log.file %s: its directory "
		    "does not exist", name, conf->log.file_line,
		    conf->log.file);
}

struct conf *
conf_load(const char *path, int flags, struct conf_errors *errs)
{
	struct conf	*conf;
	struct ynode	*root;
	char		 err[1024], dirbuf[PATH_MAX], real[PATH_MAX];
	size_t		 before = errs->n + errs->dropped;

	if ((conf = conf_new()) == NULL) {
		conf_errors_add(errs, "%s: out of memory", path);
		return NULL;
	}
	if (realpath(path, real) == NULL) {
		conf_errors_add(errs, "%s: %s", path, strerror(errno));
		conf_free(conf);
		return NULL;
	}
	strlcpy(dirbuf, real, sizeof(dirbuf));
	if ((conf->file = strdup(real)) == NULL ||
	    (root = ytree_load(path, err, sizeof(err))) == NULL) {
		conf_errors_add(errs, "%s", conf->file ? err : "out of memory");
		conf_free(conf);
		return NULL;
	}
	main_tree(conf, path, dirname(dirbuf), root, errs);
	ytree_free(root);
	if (!(flags & CONF_MAIN_ONLY) && errs->n + errs->dropped == before) {
		open_ca_file(conf, path, errs);
		check_log_file(conf, path, errs);
	}
	if (!(flags & CONF_MAIN_ONLY) && errs->n + errs->dropped == before) {
		load_tenants(conf, errs);
		if (errs->n + errs->dropped == before)
			conf_check(conf, errs);
		if (errs->n + errs->dropped == before)
			conf_tls_load(conf, path, errs);
		if (errs->n + errs->dropped == before)
			conf_store_load(conf, path, errs);
	}
	if (errs->n + errs->dropped == before && conf_index(conf) == -1)
		conf_errors_add(errs, "%s: out of memory", path);
	if (errs->n + errs->dropped != before) {
		conf_free(conf);
		return NULL;
	}
	return conf;
}

int
conf_read_resolv(const char *path, struct hostport **out, size_t *nout)
{
	FILE		*f;
	char		 line[512], *p, *tok;
	struct hostport	*hp, *arr = NULL;
	size_t		 n = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line;
		if ((tok = strsep(&p, " \t\r\n")) == NULL ||
		    strcmp(tok, "nameserver") != 0)
			continue;
		while (p != NULL && (tok = strsep(&p, " \t\r\n")) != NULL &&
		    *tok == '\0')
			;
		if (tok == NULL || *tok == '\0' || n == 8)
			continue;
		if ((hp = reallocarray(arr, n + 1, sizeof(*arr))) == NULL)
			break;
		arr = hp;
		memset(&arr[n], 0, sizeof(arr[n]));
		/* A scoped address (fe80::1%eth0) cannot be used by name. */
		if (strlcpy(arr[n].host, tok, sizeof(arr[n].host)) >=
		    sizeof(arr[n].host) || strchr(tok, '%') != NULL)
			continue;
		arr[n].port = 53;
		n++;
	}
	fclose(f);
	*out = arr;
	*nout = n;
	return 0;
}
