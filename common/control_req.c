/*
 * control_req: strict parser for control requests.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "control_req.h"
#include "marshal.h"

enum arg_kind {
	ARG_NONE,
	ARG_ID,			/* a queue id */
	ARG_ID_ALL,		/* a queue id, or "all" */
	ARG_WORDS,		/* percent-encoded words */
	ARG_FROM		/* none, or "from ADDRESS" */
};

/*
 * Every command with its level: an entry without one does not compile
 * (-Wmissing-field-initializers), so adding a command means choosing.
 */
struct verb {
	const char	*words;		/* space-separated */
	enum ctl_cmd	 cmd;
	enum arg_kind	 arg;
	size_t		 min, max;	/* ARG_WORDS: how many */
	const char	*usage;		/* ARG_WORDS: for the refusal */
	enum ctl_level	 level;
	unsigned	 flags;		/* the CTL_F_* it takes */
	/* ARG_WORDS: NULL, or why the arguments are refused. */
	const char	*(*check)(const struct ctl_req *);
};

static const char	*check_trace(const struct ctl_req *);
static const char	*check_hold(const struct ctl_req *);
static const char	*check_stats(const struct ctl_req *);
static const char	*check_announce(const struct ctl_req *);

static const struct verb verbs[] = {
	{ "show status", CTL_SHOW_STATUS, ARG_NONE, 0, 0, NULL,
	    CTL_OPERATOR, 0, NULL },
	{ "show queue", CTL_SHOW_QUEUE, ARG_NONE, 0, 0, NULL,
	    CTL_OPERATOR, 0, NULL },
	{ "reload", CTL_RELOAD, ARG_NONE, 0, 0, NULL, CTL_OPERATOR, 0, NULL },
	{ "log verbose", CTL_LOG_VERBOSE, ARG_NONE, 0, 0, NULL,
	    CTL_OPERATOR, 0, NULL },
	{ "log brief", CTL_LOG_BRIEF, ARG_NONE, 0, 0, NULL, CTL_OPERATOR, 0, NULL },
	{ "queue flush", CTL_QUEUE_FLUSH, ARG_ID_ALL, 0, 0, NULL,
	    CTL_OPERATOR, 0, NULL },
	{ "queue hold", CTL_QUEUE_HOLD, ARG_ID, 0, 0, NULL, CTL_OPERATOR, 0, NULL },
	{ "queue release", CTL_QUEUE_RELEASE, ARG_ID, 0, 0, NULL,
	    CTL_OPERATOR, 0, NULL },
	{ "queue remove", CTL_QUEUE_REMOVE, ARG_ID, 0, 0, NULL, CTL_ADMIN, 0, NULL },
	{ "queue bounce", CTL_QUEUE_BOUNCE, ARG_ID, 0, 0, NULL, CTL_ADMIN, 0, NULL },
	{ "show corrupt", CTL_SHOW_CORRUPT, ARG_NONE, 0, 0, NULL,
	    CTL_OPERATOR, 0, NULL },
	{ "test spf", CTL_TEST_SPF, ARG_WORDS, 2, 3,
	    "expected IP SENDER [HELO]", CTL_OPERATOR, 0, NULL },
	{ "test dnsbl", CTL_TEST_DNSBL, ARG_WORDS, 1, 1, "expected IP",
	    CTL_OPERATOR, 0, NULL },
	{ "show greylist", CTL_SHOW_GREYLIST, ARG_WORDS, 0, 1,
	    "expected [TENANT]", CTL_OPERATOR, 0, NULL },
	/* They change every tenant's mail flow. */
	{ "greylist whitelist", CTL_GREYLIST_WHITELIST, ARG_WORDS, 1, 1,
	    "expected ADDRESS, NETWORK or DOMAIN", CTL_ADMIN, 0, NULL },
	{ "greylist flush", CTL_GREYLIST_FLUSH, ARG_NONE, 0, 0, NULL,
	    CTL_ADMIN, 0, NULL },
	{ "selfcheck", CTL_SELFCHECK, ARG_FROM, 0, 0, NULL, CTL_OPERATOR, 0, NULL },
	{ "show recipients", CTL_SHOW_RECIPIENTS, ARG_WORDS, 1, 1,
	    "expected TENANT", CTL_ADMIN, 0, NULL },
	{ "recipients forget", CTL_RECIPIENTS_FORGET, ARG_WORDS, 2, 2,
	    "expected TENANT ADDRESS", CTL_ADMIN, 0, NULL },
	/* A tenant's user may send no more, or again. */
	{ "auth suspend", CTL_AUTH_SUSPEND, ARG_WORDS, 2, 2,
	    "expected TENANT USER", CTL_ADMIN, 0, NULL },
	{ "auth resume", CTL_AUTH_RESUME, ARG_WORDS, 2, 2,
	    "expected TENANT USER", CTL_ADMIN, 0, NULL },
	{ "show tenant", CTL_SHOW_TENANT, ARG_WORDS, 1, 1,
	    "expected TENANT", CTL_OPERATOR, CTL_F_JSON, NULL },
	/* It mails a tenant's contacts. */
	{ "notices test", CTL_NOTICES_TEST, ARG_WORDS, 1, 1,
	    "expected TENANT", CTL_ADMIN, 0, NULL },
	/* They search the record store, which names addresses. */
	{ "trace", CTL_TRACE, ARG_WORDS, 1, 1, NULL, CTL_ADMIN, CTL_F_JSON,
	    check_trace },
	{ "monitor", CTL_MONITOR, ARG_WORDS, 0, 0, NULL, CTL_ADMIN,
	    CTL_F_JSON, NULL },
	{ "hold-records", CTL_HOLD_RECORDS, ARG_WORDS, 0, 1, NULL, CTL_ADMIN,
	    CTL_F_JSON | CTL_F_RELEASE, check_hold },
	{ "show stats", CTL_SHOW_STATS, ARG_WORDS, 0, 3,
	    "expected [TENANT] [--days N]", CTL_OPERATOR, CTL_F_JSON,
	    check_stats },
	/* It mails a tenant's contacts. */
	{ "report", CTL_REPORT, ARG_WORDS, 1, 1, "expected TENANT",
	    CTL_ADMIN, 0, NULL },
	/* It mails every tenant's contacts; its text follows the line. */
	{ "announce", CTL_ANNOUNCE, ARG_WORDS, 1, 3, NULL, CTL_ADMIN, 0,
	    check_announce },
};

#define NVERBS	(sizeof(verbs) / sizeof(verbs[0]))

static const struct {
	const char	*word;
	unsigned	 flag;
} flags[] = {
	{ "--json", CTL_F_JSON },
	{ "--release", CTL_F_RELEASE },
};

#define NVERBS	(sizeof(verbs) / sizeof(verbs[0]))

int
ctl_valid_id(const char *s)
{
	size_t i;

	for (i = 0; i < CTL_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[CTL_ID_LEN] == '\0';
}

uint64_t
ctl_id_value(const char *s)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < CTL_ID_LEN; i++)
		v = (v << 4) | (uint64_t)(s[i] <= '9' ? s[i] - '0' :
		    s[i] - 'a' + 10);
	return v;
}

const char *
ctl_cmd_words(enum ctl_cmd cmd)
{
	size_t i;

	for (i = 0; i < NVERBS; i++)
		if (verbs[i].cmd == cmd)
			return verbs[i].words;
	return NULL;
}

static const struct verb *
verb_of(enum ctl_cmd cmd)
{
	size_t i;

	for (i = 0; i < NVERBS; i++)
		if (verbs[i].cmd == cmd)
			return &verbs[i];
	return NULL;
}

/* An address: something@something, at most what SMTP allows. */
static int
is_address(const char *s)
{
	const char *at = strrchr(s, '@');

	return at != NULL && at != s && at[1] != '\0' && strlen(s) <= 320;
}

/* What goes on a log line or into a search: no controls. */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* A tenant's name, as relayd-tenant.5 allows it. */
static int
is_tenant(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    (i > 0 && (s[i] == '.' || s[i] == '-' || s[i] == '_'))))
			return 0;
	return i > 0 && i <= 64;
}

static const char *
check_trace(const struct ctl_req *req)
{
	if (req->nargs == 1 && has_control(req->args[0]))
		return "control character in argument";
	if (req->nargs == 1 && (ctl_valid_id(req->args[0]) ||
	    is_address(req->args[0])))
		return NULL;
	return "expected a queue id (16 hex digits) or an address";
}

/* [TENANT] [--days N]: N from 1 to 3650 (retention.counters' most). */
static const char *
check_stats(const struct ctl_req *req)
{
	const char	*err = NULL;
	size_t		 i = 0;

	if (req->nargs > 0 && strcmp(req->args[0], "--days") != 0) {
		if (!is_tenant(req->args[0]))
			return "expected a tenant";
		i = 1;
	}
	if (i == req->nargs)
		return NULL;
	if (strcmp(req->args[i], "--days") != 0 || i + 2 != req->nargs)
		return "expected [TENANT] [--days N]";
	(void)strtonum(req->args[i + 1], 1, 3650, &err);
	return err == NULL ? NULL : "--days: a number from 1 to 3650";
}

/* OCTETS [role ROLE], as relayctl sends it (announce.h). */
static const char *
check_announce(const struct ctl_req *req)
{
	const char *err = NULL;

	(void)strtonum(req->args[0], 1, ANNOUNCE_MAX, &err);
	if (err != NULL)
		return "announce: expected the text's length, 1 to 65536";
	if (req->nargs == 1)
		return NULL;
	if (req->nargs != 3 || strcmp(req->args[1], "role") != 0)
		return "announce: expected FILE [--role ROLE]";
	if (announce_role(req->args[2]) == 0)
		return "announce: a role is technical, emergency, policy or "
		    "billing";
	return NULL;
}

static const char *
check_hold(const struct ctl_req *req)
{
	if (req->nargs == 0)
		return (req->flags & CTL_F_RELEASE) ? "expected a tenant or an "
		    "address to release" : NULL;
	if (req->flags & CTL_F_JSON)
		return "--json lists the holds: no tenant or address with it";
	if (has_control(req->args[0]))
		return "control character in argument";
	if (is_tenant(req->args[0]) || is_address(req->args[0]))
		return NULL;
	return "expected a tenant or an address";
}

static int
must_encode(unsigned char c)
{
	return c <= ' ' || c == '%' || c >= 0x7f;
}

int
ctl_arg_encode(const char *s, char *out, size_t sz)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			o = 0;
	unsigned char		c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (o + (must_encode(c) ? 3 : 1) >= sz)
			return -1;
		if (!must_encode(c)) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 0xf];
	}
	if (o >= sz)
		return -1;
	out[o] = '\0';
	return (int)o;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "from ADDRESS": an IPv4 or IPv6 address as inet_pton reads it. */
static const char *
parse_from(const char *rest, struct ctl_req *req)
{
	unsigned char	 a[16];
	const char	*addr;

	if (rest == NULL)
		return NULL;
	if (strncmp(rest, "from ", 5) != 0)
		return "expected \"from ADDRESS\"";
	addr = rest + 5;
	if (strlen(addr) > CTL_ADDR_LEN || (inet_pton(AF_INET, addr, a) != 1 &&
	    inet_pton(AF_INET6, addr, a) != 1))
		return "bad address (an IPv4 or IPv6 address)";
	strlcpy(req->from, addr, sizeof(req->from));
	return NULL;
}

static int
parse_from_check(const char *addr)
{
	unsigned char a[16];

	return inet_pton(AF_INET, addr, a) == 1 ||
	    inet_pton(AF_INET6, addr, a) == 1 ? 0 : -1;
}

/* One encoded word into dst: NULL, or why it was refused. */
static const char *
arg_decode(const char *s, size_t len, char *dst)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (o == CTL_ARG_MAX - 1)
			return "argument too long";
		if (s[i] != '%') {
			dst[o++] = s[i];
			continue;
		}
		if (i + 2 >= len || (hi = hexval(s[i + 1])) == -1 ||
		    (lo = hexval(s[i + 2])) == -1)
			return "bad %-escape in argument";
		if (hi == 0 && lo == 0)
			return "NUL in argument";
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	dst[o] = '\0';
	return NULL;
}

static unsigned
flag_of(const char *w, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strlen(flags[i].word) == len &&
		    memcmp(flags[i].word, w, len) == 0)
			return flags[i].flag;
	return 0;
}

static const char *
parse_words(const struct verb *v, const char *rest, struct ctl_req *req)
{
	const char	*sp, *why;
	size_t		 len;
	unsigned	 f;

	while (rest != NULL) {
		sp = strchr(rest, ' ');
		len = sp != NULL ? (size_t)(sp - rest) : strlen(rest);
		if ((f = flag_of(rest, len)) != 0) {
			if (f == CTL_F_JSON && !(v->flags & f))
				return "this command has no --json form";
			if (!(v->flags & f) || (req->flags & f))
				return "unexpected flag";
			req->flags |= f;
		} else {
			if (req->nargs == v->max)
				return "unexpected argument";
			if ((why = arg_decode(rest, len,
			    req->args[req->nargs])) != NULL)
				return why;
			req->nargs++;
		}
		rest = sp != NULL ? sp + 1 : NULL;
	}
	if (v->check != NULL)
		return v->check(req);
	return req->nargs < v->min ? v->usage : NULL;
}

/* The arguments of queue commands and the rest: as they always were. */
static const char *
parse_id(const struct verb *v, const char *rest, struct ctl_req *req)
{
	if (v->arg == ARG_NONE)
		return rest == NULL ? NULL : "unexpected argument";
	if (rest == NULL)
		return v->arg == ARG_ID_ALL ? "expected a queue id or \"all\"" :
		    "expected a queue id";
	if (v->arg == ARG_ID_ALL && strcmp(rest, "all") == 0) {
		req->all = 1;
		return NULL;
	}
	if (!ctl_valid_id(rest))
		return "bad queue id (16 hex digits)";
	memcpy(req->id, rest, CTL_ID_LEN + 1);
	return NULL;
}

/*
 * Letters, digits and spaces only, in the first nwords words (0: all):
 * what requests without encoded arguments hold.
 */
static int
plain(const char *s, int nwords)
{
	for (; *s != '\0'; s++) {
		if (*s == ' ' && --nwords == 0)
			return 1;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == ' '))
			return 0;
	}
	return 1;
}

static void
req_clear(struct ctl_req *req)
{
	size_t i;

	req->cmd = CTL_SHOW_STATUS;
	req->level = CTL_OPERATOR;
	req->words = NULL;
	req->from[0] = '\0';
	req->all = 0;
	req->id[0] = '\0';
	req->flags = 0;
	req->nargs = 0;
	for (i = 0; i < CTL_ARGS_MAX; i++)
		req->args[i][0] = '\0';
}

const char *
ctl_req_parse(const char *line, size_t len, struct ctl_req *req)
{
	char		 buf[CTL_LINE_MAX + 1];
	const struct verb *v = NULL;
	const char	*rest, *why;
	size_t		 i, vlen;

	req_clear(req);
	if (len == 0)
		return "empty request";
	if (len > CTL_LINE_MAX)
		return "request too long";
	/* Printable ASCII and spaces; arguments carry the rest encoded. */
	for (i = 0; i < len; i++)
		if (line[i] < ' ' || line[i] > '~')
			return "bad character in request";
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (i = 0; i < NVERBS && v == NULL; i++) {
		vlen = strlen(verbs[i].words);
		if (strncmp(buf, verbs[i].words, vlen) == 0 &&
		    (buf[vlen] == '\0' || buf[vlen] == ' '))
			v = &verbs[i];
	}
	/* A flag is a word of its own; a command without one says so. */
	vlen = strlen(" --json");
	if (v != NULL && v->arg != ARG_WORDS && len > vlen &&
	    strcmp(buf + len - vlen, " --json") == 0)
		return "this command has no --json form";
	/*
	 * Letters of either case pass here, to get the precise reason; an
	 * unknown command is unknown whatever its arguments hold.  An
	 * address (ARG_FROM) is for inet_pton to judge.
	 */
	if (v == NULL ? !plain(buf, 2) : v->arg != ARG_WORDS &&
	    v->arg != ARG_FROM && !plain(buf, 0))
		return "bad character in request";
	if (buf[0] == ' ' || buf[len - 1] == ' ' || strstr(buf, "  "))
		return "words must be separated by one space";
	if (v == NULL)
		return "unknown request";
	req->cmd = v->cmd;
	req->level = v->level;
	req->words = v->words;
	vlen = strlen(v->words);
	rest = buf[vlen] == ' ' ? buf + vlen + 1 : NULL;
	if (v->arg == ARG_FROM)
		why = parse_from(rest, req);
	else
		why = v->arg == ARG_WORDS ? parse_words(v, rest, req) :
		    parse_id(v, rest, req);
	if (why != NULL)
		req_clear(req);
	return why;
}

void
ctl_req_write(struct mw *w, const struct ctl_req *req)
{
	size_t i;

	mw_u32(w, (uint32_t)req->cmd);
	mw_u8(w, (uint8_t)req->all);
	mw_str(w, req->id);
	mw_u32(w, (uint32_t)req->nargs);
	for (i = 0; i < req->nargs && i < CTL_ARGS_MAX; i++)
		mw_str(w, req->args[i]);
	mw_str(w, req->from);
	mw_u32(w, req->flags);
}

/* What the parser would have refused is a lie of the peer's. */
static int
req_valid(const struct ctl_req *req)
{
	const struct verb	*v;
	size_t			 i;

	if ((v = verb_of(req->cmd)) == NULL || req->all > 1 ||
	    (req->all && v->arg != ARG_ID_ALL) || (req->flags & ~v->flags))
		return 0;
	if (req->from[0] != '\0' && (v->arg != ARG_FROM ||
	    parse_from_check(req->from) == -1))
		return 0;
	if (req->id[0] != '\0' && (req->all || !ctl_valid_id(req->id) ||
	    (v->arg != ARG_ID && v->arg != ARG_ID_ALL)))
		return 0;
	if ((v->arg == ARG_ID && req->id[0] == '\0') ||
	    (v->arg == ARG_ID_ALL && req->id[0] == '\0' && !req->all))
		return 0;
	if (v->arg != ARG_WORDS)
		return req->nargs == 0;
	if (req->nargs < v->min || req->nargs > v->max)
		return 0;
	for (i = 0; i < req->nargs; i++)
		if (req->args[i][0] == '\0')
			return 0;
	return v->check == NULL || v->check(req) == NULL;
}

int
ctl_req_read(const void *p, size_t len, struct ctl_req *req)
{
	struct mr	r;
	uint32_t	n;
	size_t		i;

	req_clear(req);
	mr_init(&r, p, len);
	req->cmd = (enum ctl_cmd)mr_u32(&r);
	req->all = mr_u8(&r);
	mr_str(&r, req->id, sizeof(req->id));
	n = mr_u32(&r);
	if (r.err || n > CTL_ARGS_MAX)
		return -1;
	for (i = 0; i < n; i++)
		mr_str(&r, req->args[i], sizeof(req->args[i]));
	req->nargs = n;
	mr_str(&r, req->from, sizeof(req->from));
	req->flags = mr_u32(&r);
	if (mr_end(&r) == -1 || !req_valid(req)) {
		req_clear(req);
		return -1;
	}
	req->level = verb_of(req->cmd)->level;
	req->words = verb_of(req->cmd)->words;
	return 0;
}
