/*
 * control_req: the strict parser of control socket requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "control_req.h"
#include "marshal.h"
#include "tap.h"

#define ID	"0123456789abcdef"

struct good {
	const char	*line;
	enum ctl_cmd	 cmd;
	int		 all;
	const char	*id;
	const char	*args[CTL_ARGS_MAX + 1];	/* decoded; NULL ends */
};

static const struct good goods[] = {
	{ "show status", CTL_SHOW_STATUS, 0, "", { NULL } },
	{ "show queue", CTL_SHOW_QUEUE, 0, "", { NULL } },
	{ "show corrupt", CTL_SHOW_CORRUPT, 0, "", { NULL } },
	{ "reload", CTL_RELOAD, 0, "", { NULL } },
	{ "log verbose", CTL_LOG_VERBOSE, 0, "", { NULL } },
	{ "log brief", CTL_LOG_BRIEF, 0, "", { NULL } },
	{ "queue flush all", CTL_QUEUE_FLUSH, 1, "", { NULL } },
	{ "queue flush " ID, CTL_QUEUE_FLUSH, 0, ID, { NULL } },
	{ "queue hold " ID, CTL_QUEUE_HOLD, 0, ID, { NULL } },
	{ "queue release " ID, CTL_QUEUE_RELEASE, 0, ID, { NULL } },
	{ "queue remove " ID, CTL_QUEUE_REMOVE, 0, ID, { NULL } },
	{ "queue bounce " ID, CTL_QUEUE_BOUNCE, 0, ID, { NULL } },
	{ "queue hold 0000000000000000", CTL_QUEUE_HOLD, 0,
	    "0000000000000000", { NULL } },
	{ "queue bounce ffffffffffffffff", CTL_QUEUE_BOUNCE, 0,
	    "ffffffffffffffff", { NULL } },
	{ "test spf 192.0.2.1 a@b.example", CTL_TEST_SPF, 0, "",
	    { "192.0.2.1", "a@b.example" } },
	{ "test spf 192.0.2.1 %22a%20b%22@x.example helo.example",
	    CTL_TEST_SPF, 0, "",
	    { "192.0.2.1", "\"a b\"@x.example", "helo.example" } },
	{ "test spf 2001:db8::1 <> helo", CTL_TEST_SPF, 0, "",
	    { "2001:db8::1", "<>", "helo" } },
	{ "test spf a%25b c%c3%A4", CTL_TEST_SPF, 0, "",
	    { "a%b", "c\xc3\xa4" } },
	{ "test spf x;y \"q\"(){}[]!#$&'*+,-./:=?@\\^_`|~", CTL_TEST_SPF, 0, "",
	    { "x;y", "\"q\"(){}[]!#$&'*+,-./:=?@\\^_`|~" } },
	{ "test spf %09%0D%0A %7F%FF", CTL_TEST_SPF, 0, "",
	    { "\t\r\n", "\x7f\xff" } },
	{ "test dnsbl 192.0.2.1", CTL_TEST_DNSBL, 0, "", { "192.0.2.1" } },
	{ "show greylist", CTL_SHOW_GREYLIST, 0, "", { NULL } },
	{ "show greylist acme", CTL_SHOW_GREYLIST, 0, "", { "acme" } },
	{ "greylist whitelist 198.51.100.0/24", CTL_GREYLIST_WHITELIST, 0,
	    "", { "198.51.100.0/24" } },
	{ "greylist flush", CTL_GREYLIST_FLUSH, 0, "", { NULL } },
	{ "selfcheck", CTL_SELFCHECK, 0, "", { NULL } },
	{ "show recipients acme", CTL_SHOW_RECIPIENTS, 0, "", { "acme" } },
	{ "recipients forget acme %22a%20b%22@acme.example",
	    CTL_RECIPIENTS_FORGET, 0, "",
	    { "acme", "\"a b\"@acme.example" } },
	{ "show tenant acme", CTL_SHOW_TENANT, 0, "", { "acme" } },
	{ "show tenant acme --json", CTL_SHOW_TENANT, 0, "", { "acme" } },
	{ "notices test acme", CTL_NOTICES_TEST, 0, "", { "acme" } },
};

#define R_EMPTY		"empty request"
#define R_LONG		"request too long"
#define R_CHAR		"bad character in request"
#define R_SPACE		"words must be separated by one space"
#define R_UNKNOWN	"unknown request"
#define R_ARG		"unexpected argument"
#define R_NOID		"expected a queue id"
#define R_NOIDALL	"expected a queue id or \"all\""
#define R_BADID		"bad queue id (16 hex digits)"
#define R_SPF		"expected IP SENDER [HELO]"
#define R_ESC		"bad %-escape in argument"
#define R_NUL		"NUL in argument"
#define R_FROM		"expected \"from ADDRESS\""
#define R_ADDR		"bad address (an IPv4 or IPv6 address)"

struct bad {
	const char	*line;
	const char	*why;
};

static const struct bad bads[] = {
	{ "", R_EMPTY },
	{ "show", R_UNKNOWN },
	{ "show statu", R_UNKNOWN },
	{ "show statuses", R_UNKNOWN },
	{ "show statz", R_UNKNOWN },
	{ "status", R_UNKNOWN },
	{ "help", R_UNKNOWN },
	{ "queue", R_UNKNOWN },
	{ "queue list", R_UNKNOWN },
	{ "queue flushall", R_UNKNOWN },
	{ "log", R_UNKNOWN },
	{ "log debug", R_UNKNOWN },
	{ "reloadall", R_UNKNOWN },
	{ "Show status", R_UNKNOWN },
	{ "SHOW STATUS", R_UNKNOWN },
	{ "show Status", R_UNKNOWN },
	{ "RELOAD", R_UNKNOWN },
	{ "show  status", R_SPACE },
	{ "queue hold  " ID, R_SPACE },
	{ " show status", R_SPACE },
	{ "show status ", R_SPACE },
	{ " ", R_SPACE },
	{ "reload ", R_SPACE },
	{ "show\tstatus", R_CHAR },
	{ "show status\t", R_CHAR },
	{ "show status\r", R_CHAR },
	{ "show status\n", R_CHAR },
	{ "show-status", R_CHAR },
	{ "show_status", R_CHAR },
	{ "show status;", R_CHAR },
	{ "show st\xc3\xa4tus", R_CHAR },
	{ "reload now", R_ARG },
	{ "reload all", R_ARG },
	{ "show status all", R_ARG },
	{ "show queue " ID, R_ARG },
	{ "show corrupt " ID, R_ARG },
	{ "show corrupt all", R_ARG },
	{ "show corrupted", R_UNKNOWN },
	{ "show Corrupt", R_UNKNOWN },
	{ "show  corrupt", R_SPACE },
	{ "log verbose 2", R_ARG },
	{ "show recipients", "expected TENANT" },
	{ "show recipients acme bob@acme.example", R_ARG },
	{ "recipients forget acme", "expected TENANT ADDRESS" },
	{ "recipients forget acme a@x b@x", R_ARG },
	{ "queue hold", R_NOID },
	{ "queue release", R_NOID },
	{ "queue remove", R_NOID },
	{ "queue bounce", R_NOID },
	{ "queue flush", R_NOIDALL },
	{ "queue hold all", R_BADID },
	{ "queue release all", R_BADID },
	{ "queue remove all", R_BADID },
	{ "queue bounce all", R_BADID },
	{ "queue flush al", R_BADID },
	{ "queue flush alll", R_BADID },
	{ "queue flush all " ID, R_BADID },
	{ "queue hold 0123456789abcde", R_BADID },
	{ "queue hold 0123456789abcdef0", R_BADID },
	{ "queue flush 0123456789abcde", R_BADID },
	{ "queue flush 0123456789abcdef0", R_BADID },
	{ "queue hold 0123456789ABCDEF", R_BADID },
	{ "queue hold 0123456789abcdeF", R_BADID },
	{ "queue hold 0123456789abcdeg", R_BADID },
	{ "queue hold 0x23456789abcdef", R_BADID },
	{ "queue hold " ID " " ID, R_BADID },
	{ "queue hold " ID " now", R_BADID },
	{ "queue remove 1", R_BADID },
	{ "test spf", R_SPF },
	{ "test spf 192.0.2.1", R_SPF },
	{ "test spf a b c d", R_ARG },
	{ "test spf a b%", R_ESC },
	{ "test spf a b%2", R_ESC },
	{ "test spf a b%zz", R_ESC },
	{ "test spf a %2x", R_ESC },
	{ "test spf a b%00", R_NUL },
	{ "test spf a  b", R_SPACE },
	{ "test spf a b ", R_SPACE },
	{ "test spf a\tb", R_CHAR },
	{ "test spf a b\xc3\xa4", R_CHAR },
	{ "test spf a b\x7f", R_CHAR },
	{ "test spfx a b", R_UNKNOWN },
	{ "TEST SPF a b", R_UNKNOWN },
	{ "test", R_UNKNOWN },
	{ "test dnsbls 192.0.2.1", R_UNKNOWN },
	{ "test dnsbl", "expected IP" },
	{ "test dnsbl a b", R_ARG },
	{ "show greylist a b", R_ARG },
	{ "greylist whitelist", "expected ADDRESS, NETWORK or DOMAIN" },
	{ "greylist flush all", R_ARG },
	{ "test  spf a b", R_SPACE },
	{ "show status a%20b", R_CHAR },
	{ "queue hold %30123456789abcdef", R_CHAR },
	{ "selfcheck now", R_FROM },
	{ "selfcheck from", R_FROM },
	{ "selfcheck fromm 127.0.0.2", R_FROM },
	{ "selfcheck --from 127.0.0.2", R_FROM },
	{ "selfcheck from 127.0.0", R_ADDR },
	{ "selfcheck from 127.0.0.256", R_ADDR },
	{ "selfcheck from 127.0.0.2 now", R_ADDR },
	{ "selfcheck from relay.example", R_ADDR },
	{ "selfcheck from :::1", R_ADDR },
	{ "selfcheck from  127.0.0.2", R_SPACE },
	{ "selfchecks", R_UNKNOWN },
	{ "show status.", R_CHAR },
	{ "queue hold 0123456789abcde.", R_CHAR },
	{ "queue hold 0123456789abcde:", R_CHAR },
	{ "show tenant", "expected TENANT" },
	{ "show tenant --json", "expected TENANT" },
	{ "show tenant --json --json", "unexpected flag" },
	{ "show tenant a b", R_ARG },
	{ "show tenant acme  --json", R_SPACE },
	{ "show tenant acme --JSON", R_ARG },
	{ "show tenants acme", R_UNKNOWN },
	{ "notices test", "expected TENANT" },
	{ "notices test acme --json", "this command has no --json form" },
	{ "show status --json", "this command has no --json form" },
	{ "show queue --json", "this command has no --json form" },
	{ "notices", R_UNKNOWN },
};

/* The line for a test's name: control characters and 8-bit as \xNN. */
static const char *
esc(const char *s)
{
	static char	buf[4 * CTL_LINE_MAX + 1];
	size_t		i = 0;

	for (; *s != '\0' && i + 5 < sizeof(buf); s++) {
		if (*s >= 0x20 && *s < 0x7f && *s != '\\')
			buf[i++] = *s;
		else
			i += (size_t)snprintf(buf + i, sizeof(buf) - i,
			    "\\x%02x", (unsigned char)*s);
	}
	buf[i] = '\0';
	return buf;
}

static void
test_good(void)
{
	struct ctl_req	 req;
	const char	*why;
	size_t		 i, j, n;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		memset(&req, 0xa5, sizeof(req));
		why = ctl_req_parse(goods[i].line, strlen(goods[i].line),
		    &req);
		is_str(why, NULL, "\"%s\" accepted", esc(goods[i].line));
		ok(req.cmd == goods[i].cmd && req.all == goods[i].all &&
		    strcmp(req.id, goods[i].id) == 0,
		    "\"%s\": cmd %d, all %d, id \"%s\"", esc(goods[i].line),
		    (int)req.cmd, req.all, req.all ? "" : req.id);
		for (n = 0; goods[i].args[n] != NULL; n++)
			;
		is_int((long long)req.nargs, (long long)n, "\"%s\": %zu "
		    "arguments", esc(goods[i].line), n);
		is_int(req.flags, strstr(goods[i].line, " --json") != NULL &&
		    goods[i].cmd == CTL_SHOW_TENANT ? CTL_F_JSON : 0,
		    "\"%s\": flags %u", esc(goods[i].line), req.flags);
		for (j = 0; j < n && j < req.nargs; j++)
			is_str(req.args[j], goods[i].args[j], "\"%s\": "
			    "argument %zu decoded", esc(goods[i].line), j);
	}
}

static void
test_bad(void)
{
	struct ctl_req	 req;
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memset(&req, 0xa5, sizeof(req));
		why = ctl_req_parse(bads[i].line, strlen(bads[i].line), &req);
		is_str(why, bads[i].why, "\"%s\" refused", esc(bads[i].line));
		ok(req.all == 0 && req.id[0] == '\0' && req.nargs == 0 &&
		    req.flags == 0, "\"%s\": no argument left in req",
		    esc(bads[i].line));
	}
}

/* Lengths, NUL bytes, and a line that is not NUL-terminated. */
static void
test_bytes(void)
{
	char		 line[CTL_LINE_MAX + 2];
	struct ctl_req	 req;
	size_t		 n;

	memset(line, 'a', sizeof(line));
	is_str(ctl_req_parse(line, CTL_LINE_MAX + 1, &req), R_LONG,
	    "CTL_LINE_MAX + 1 octets refused as too long");
	is_str(ctl_req_parse(line, CTL_LINE_MAX, &req), R_UNKNOWN,
	    "CTL_LINE_MAX octets: length is fine, word unknown");
	n = strlen("queue hold " ID);
	memcpy(line, "queue hold " ID, n);
	memset(line + n, ' ', CTL_LINE_MAX + 1 - n);
	is_str(ctl_req_parse(line, CTL_LINE_MAX + 1, &req), R_LONG,
	    "a good request padded to CTL_LINE_MAX + 1 octets: too long");
	is_str(ctl_req_parse("show\0status", 11, &req), R_CHAR,
	    "NUL between words refused");
	is_str(ctl_req_parse("show status\0", 12, &req), R_CHAR,
	    "NUL at the end refused");
	is_str(ctl_req_parse("\0", 1, &req), R_CHAR, "a lone NUL refused");
	is_str(ctl_req_parse("queue hold 0123456789abcde\0", 27, &req),
	    R_CHAR, "NUL in place of the last id digit refused");
	is_str(ctl_req_parse("show statusXYZ", 11, &req), NULL,
	    "only len octets are read: \"show status\" of \"show statusXYZ\"");
	ok(req.cmd == CTL_SHOW_STATUS, "and it is show status");
	is_str(ctl_req_parse("queue hold " ID "ff", 27, &req), NULL,
	    "a 16-digit id cut from a longer buffer");
	is_str(req.id, ID, "the id is NUL-terminated at 16");
	is_str(ctl_req_parse(NULL, 0, &req), R_EMPTY,
	    "len 0 does not read the line");
}

/* "from ADDRESS", copied as it was written. */
static void
test_from(void)
{
	static const char *const addrs[] = {
		"127.0.0.2", "192.0.2.1", "::1", "2001:db8::25",
		"::ffff:127.0.0.2", "FD00::2",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	};
	struct ctl_req	 req;
	char		 line[CTL_LINE_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(line, sizeof(line), "selfcheck from %s", addrs[i]);
		memset(&req, 0xa5, sizeof(req));
		is_str(ctl_req_parse(line, strlen(line), &req), NULL,
		    "\"%s\" accepted", line);
		ok(req.cmd == CTL_SELFCHECK && strcmp(req.from, addrs[i]) == 0,
		    "\"%s\": the address as written", line);
	}
	ctl_req_parse("selfcheck", 9, &req);
	is_str(req.from, "", "selfcheck alone: no address");
}

/*
 * Each command's level: the administrator's are the ones that destroy
 * mail, change every tenant's mail flow, list addresses or mail a
 * tenant's contacts.
 */
static void
test_levels(void)
{
	struct ctl_req	 req;
	size_t		 i;
	int		 admin;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		if (ctl_req_parse(goods[i].line, strlen(goods[i].line),
		    &req) != NULL)
			continue;
		admin = goods[i].cmd == CTL_QUEUE_REMOVE ||
		    goods[i].cmd == CTL_QUEUE_BOUNCE ||
		    goods[i].cmd == CTL_GREYLIST_WHITELIST ||
		    goods[i].cmd == CTL_GREYLIST_FLUSH ||
		    goods[i].cmd == CTL_SHOW_RECIPIENTS ||
		    goods[i].cmd == CTL_RECIPIENTS_FORGET ||
		    goods[i].cmd == CTL_NOTICES_TEST ||
		    goods[i].cmd == CTL_TRACE || goods[i].cmd == CTL_MONITOR ||
		    goods[i].cmd == CTL_HOLD_RECORDS ||
		    goods[i].cmd == CTL_AUTH_SUSPEND ||
		    goods[i].cmd == CTL_AUTH_RESUME;
		ok(req.level == (admin ? CTL_ADMIN : CTL_OPERATOR),
		    "\"%s\": the %s's", goods[i].line, admin ?
		    "administrator" : "operator");
		ok(req.words != NULL && strncmp(goods[i].line, req.words,
		    strlen(req.words)) == 0, "\"%s\": its words, \"%s\"",
		    goods[i].line, req.words ? req.words : "(null)");
	}
}

struct words {
	const char	*line;
	enum ctl_cmd	 cmd;
	unsigned	 flags;
	size_t		 nargs;
	const char	*arg;
};

static const struct words wgoods[] = {
	{ "trace " ID, CTL_TRACE, 0, 1, ID },
	{ "trace bob@example.org", CTL_TRACE, 0, 1, "bob@example.org" },
	{ "trace bob@example.org --json", CTL_TRACE, CTL_F_JSON, 1,
	    "bob@example.org" },
	{ "trace --json " ID, CTL_TRACE, CTL_F_JSON, 1, ID },
	{ "trace %22a%20b%22@x.example", CTL_TRACE, 0, 1, "\"a b\"@x.example" },
	{ "trace j%C3%B6rg@b%C3%BCcher.example", CTL_TRACE, 0, 1,
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example" },
	{ "monitor", CTL_MONITOR, 0, 0, "" },
	{ "monitor --json", CTL_MONITOR, CTL_F_JSON, 0, "" },
	{ "hold-records", CTL_HOLD_RECORDS, 0, 0, "" },
	{ "hold-records --json", CTL_HOLD_RECORDS, CTL_F_JSON, 0, "" },
	{ "hold-records acme", CTL_HOLD_RECORDS, 0, 1, "acme" },
	{ "hold-records acme-2.b_c", CTL_HOLD_RECORDS, 0, 1, "acme-2.b_c" },
	{ "hold-records bob@example.org --release", CTL_HOLD_RECORDS,
	    CTL_F_RELEASE, 1, "bob@example.org" },
	{ "hold-records --release acme", CTL_HOLD_RECORDS, CTL_F_RELEASE, 1,
	    "acme" },
};

static const struct bad wbads[] = {
	{ "trace", "expected a queue id (16 hex digits) or an address" },
	{ "trace bob", "expected a queue id (16 hex digits) or an address" },
	{ "trace @example.org", "expected a queue id (16 hex digits) or an "
	    "address" },
	{ "trace bob@", "expected a queue id (16 hex digits) or an address" },
	{ "trace " ID " " ID, "unexpected argument" },
	{ "trace " ID " --release", "unexpected flag" },
	{ "trace " ID " --json --json", "unexpected flag" },
	{ "trace bob%0A@example.org", "control character in argument" },
	{ "trace bob%00@example.org", R_NUL },
	{ "trace bob%4@example.org", "bad %-escape in argument" },
	{ "trace bob%zz@example.org", "bad %-escape in argument" },
	{ "trace bob@example.org%", "bad %-escape in argument" },
	{ "monitor now", "unexpected argument" },
	{ "monitor --release", "unexpected flag" },
	{ "hold-records acme beta", "unexpected argument" },
	{ "hold-records --release", "expected a tenant or an address to "
	    "release" },
	{ "hold-records acme --json", "--json lists the holds: no tenant or "
	    "address with it" },
	{ "hold-records -acme", "expected a tenant or an address" },
	{ "hold-records ac/me", "expected a tenant or an address" },
	{ "hold-recordz acme", "bad character in request" },
	{ "holdrecords acme", R_UNKNOWN },
	{ "trace  " ID, R_SPACE },
};

static void
test_words(void)
{
	struct ctl_req	 req, back;
	struct mw	 w;
	const char	*why;
	char		 enc[CTL_LINE_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(wgoods) / sizeof(wgoods[0]); i++) {
		memset(&req, 0xa5, sizeof(req));
		why = ctl_req_parse(wgoods[i].line, strlen(wgoods[i].line),
		    &req);
		is_str(why, NULL, "\"%s\" accepted", esc(wgoods[i].line));
		ok(req.cmd == wgoods[i].cmd && req.flags == wgoods[i].flags &&
		    req.nargs == wgoods[i].nargs && (req.nargs == 0 ||
		    strcmp(req.args[0], wgoods[i].arg) == 0),
		    "\"%s\": cmd, flags and argument", esc(wgoods[i].line));
		mw_init_grow(&w);
		ctl_req_write(&w, &req);
		ok(!w.err && ctl_req_read(w.buf, w.len, &back) == 0 &&
		    back.cmd == req.cmd && back.flags == req.flags &&
		    back.nargs == req.nargs && (req.nargs == 0 ||
		    strcmp(back.args[0], req.args[0]) == 0),
		    "\"%s\": the same through M_CTL_REQ", esc(wgoods[i].line));
		mw_release(&w);
	}
	for (i = 0; i < sizeof(wbads) / sizeof(wbads[0]); i++) {
		why = ctl_req_parse(wbads[i].line, strlen(wbads[i].line),
		    &req);
		is_str(why, wbads[i].why, "\"%s\" refused", esc(wbads[i].line));
		ok(req.nargs == 0 && req.flags == 0,
		    "\"%s\": nothing left in req", esc(wbads[i].line));
	}
	ok(ctl_arg_encode("\"a b\"%@x\x01\xc3\xa9", enc, sizeof(enc)) > 0,
	    "encode");
	is_str(enc, "\"a%20b\"%25@x%01%C3%A9",
	    "space, %%, controls and 8-bit octets encoded, the rest kept");
	ok(ctl_arg_encode("abc", enc, 3) == -1, "encode: too long for the "
	    "buffer refused");
}

/* What a parent that lies could send: refused by the child. */
static void
test_lies(void)
{
	struct ctl_req	 req;
	struct mw	 w;

	memset(&req, 0, sizeof(req));
	req.cmd = CTL_TRACE;
	req.nargs = 1;
	strlcpy(req.args[0], "no-address", sizeof(req.args[0]));
	mw_init_grow(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &req) == -1,
	    "a trace of what the parser refuses");
	mw_release(&w);
	memset(&req, 0, sizeof(req));
	req.cmd = CTL_MONITOR;
	req.flags = CTL_F_RELEASE;
	mw_init_grow(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &req) == -1,
	    "a flag the command does not take");
	mw_release(&w);
	memset(&req, 0, sizeof(req));
	req.cmd = CTL_QUEUE_HOLD;
	mw_init_grow(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &req) == -1, "queue hold without id");
	mw_release(&w);
	req.cmd = (enum ctl_cmd)99;
	mw_init_grow(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &req) == -1, "an unknown command");
	ok(ctl_req_read(w.buf, w.len - 1, &req) == -1, "a short payload");
	mw_release(&w);
}

static void
test_ids(void)
{
	ok(ctl_valid_id(ID), "ctl_valid_id: 16 lower-case hex digits");
	ok(!ctl_valid_id("0123456789abcde"), "ctl_valid_id: 15 digits");
	ok(!ctl_valid_id("0123456789abcdef0"), "ctl_valid_id: 17 digits");
	ok(!ctl_valid_id("0123456789ABCDEF"), "ctl_valid_id: upper case");
	ok(!ctl_valid_id(""), "ctl_valid_id: empty");
	ok(!ctl_valid_id("0123456789abcdeg"), "ctl_valid_id: not hex");
	ok(ctl_id_value(ID) == 0x0123456789abcdefULL, "ctl_id_value");
	ok(ctl_id_value("ffffffffffffffff") == UINT64_MAX,
	    "ctl_id_value: all ones");
	ok(ctl_id_value("0000000000000000") == 0, "ctl_id_value: zero");
}

/* relayctl's encoding, and what the parser makes of it. */
static void
test_encode(void)
{
	static const char *args[] = { "\"a b\"@x.example", "100%",
	    "\x01\x1f \x7f\x80\xc3\xa4", "plain", "<>", "%00" };
	static const char *want[] = { "\"a%20b\"@x.example", "100%25",
	    "%01%1F%20%7F%80%C3%A4", "plain", "<>", "%2500" };
	struct ctl_req	 req;
	char		 line[CTL_LINE_MAX + 1], enc[64], big[CTL_ARG_MAX + 1];
	size_t		 i;
	int		 n;

	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		n = ctl_arg_encode(args[i], enc, sizeof(enc));
		is_str(enc, want[i], "encoded: %s", want[i]);
		is_int(n, (long long)strlen(want[i]), "its length");
		snprintf(line, sizeof(line), "test spf 192.0.2.1 %s", enc);
		is_str(ctl_req_parse(line, strlen(line), &req), NULL,
		    "%s: parsed", want[i]);
		is_str(req.args[1], args[i], "%s: decoded as it was", want[i]);
	}
	ok(ctl_arg_encode("a b", enc, 5) == -1, "no room for a%%20b: -1");
	ok(ctl_arg_encode("a b", enc, 6) == 5, "room for a%%20b and its NUL");
	ok(ctl_arg_encode("", enc, 1) == 0 && enc[0] == '\0', "empty");

	memset(big, 'x', sizeof(big));
	big[CTL_ARG_MAX - 1] = '\0';
	snprintf(line, sizeof(line), "test spf a %s", big);
	is_str(ctl_req_parse(line, strlen(line), &req), NULL,
	    "an argument of CTL_ARG_MAX - 1 octets");
	big[CTL_ARG_MAX - 1] = 'x';
	big[CTL_ARG_MAX] = '\0';
	snprintf(line, sizeof(line), "test spf a %s", big);
	is_str(ctl_req_parse(line, strlen(line), &req), "argument too long",
	    "an argument of CTL_ARG_MAX octets: too long");
	is_str(ctl_cmd_words(CTL_TEST_SPF), "test spf", "ctl_cmd_words");
}

/* M_CTL_REQ's payload: written, read back, and lies refused. */
static void
test_wire(void)
{
	struct ctl_req	 req, back;
	struct mw	 w;
	const char	*line = "test spf 192.0.2.1 %22a%20b%22@x helo";

	ctl_req_parse(line, strlen(line), &req);
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == 0 && back.cmd ==
	    CTL_TEST_SPF && back.nargs == 3 && strcmp(back.args[1],
	    "\"a b\"@x") == 0, "test spf: written and read back");
	ok(ctl_req_read(w.buf, w.len - 1, &back) == -1, "cut short: refused");
	ctl_req_parse("queue flush all", 15, &req);
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == 0 && back.all &&
	    back.cmd == CTL_QUEUE_FLUSH, "queue flush all: read back");
	ctl_req_parse("show tenant acme --json", 23, &req);
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == 0 && (back.flags & CTL_F_JSON) &&
	    back.cmd == CTL_SHOW_TENANT, "show tenant --json: read back");
	req.cmd = CTL_NOTICES_TEST;
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "--json where the "
	    "command has none: refused");

	/* What the parser would have refused, a peer may not send. */
	memset(&req, 0, sizeof(req));
	req.cmd = CTL_TEST_SPF;
	req.nargs = 1;
	strlcpy(req.args[0], "192.0.2.1", sizeof(req.args[0]));
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "test spf, 1 argument");
	req.nargs = 2;
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "an empty argument");
	req.cmd = CTL_QUEUE_HOLD;
	strlcpy(req.id, "0123456789abcdef", sizeof(req.id));
	strlcpy(req.args[1], "x", sizeof(req.args[1]));
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "queue hold with "
	    "arguments");
	req.nargs = 0;
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == 0, "queue hold ID: fine");
	req.all = 1;
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "queue hold all");
	req.all = 0;
	req.id[0] = '\0';
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "queue hold, no id");
	req.cmd = (enum ctl_cmd)999;
	mw_init(&w);
	ctl_req_write(&w, &req);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "an unknown command");
	mw_init(&w);
	mw_u32(&w, CTL_TEST_SPF);
	mw_u8(&w, 0);
	mw_str(&w, "");
	mw_u32(&w, CTL_ARGS_MAX + 1);
	ok(ctl_req_read(w.buf, w.len, &back) == -1, "too many arguments");
}

int
main(void)
{
	test_good();
	test_bad();
	test_bytes();
	test_from();
	test_levels();
	test_words();
	test_lies();
	test_ids();
	test_encode();
	test_wire();
	return done_testing();
}
