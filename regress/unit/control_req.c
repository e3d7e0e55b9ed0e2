/*
 * control_req: the strict parser of control socket requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "control_req.h"
#include "tap.h"

#define ID	"0123456789abcdef"

struct good {
	const char	*line;
	enum ctl_cmd	 cmd;
	int		 all;
	const char	*id;
};

static const struct good goods[] = {
	{ "show status", CTL_SHOW_STATUS, 0, "" },
	{ "show queue", CTL_SHOW_QUEUE, 0, "" },
	{ "show corrupt", CTL_SHOW_CORRUPT, 0, "" },
	{ "reload", CTL_RELOAD, 0, "" },
	{ "log verbose", CTL_LOG_VERBOSE, 0, "" },
	{ "log brief", CTL_LOG_BRIEF, 0, "" },
	{ "queue flush all", CTL_QUEUE_FLUSH, 1, "" },
	{ "queue flush " ID, CTL_QUEUE_FLUSH, 0, ID },
	{ "queue hold " ID, CTL_QUEUE_HOLD, 0, ID },
	{ "queue release " ID, CTL_QUEUE_RELEASE, 0, ID },
	{ "queue remove " ID, CTL_QUEUE_REMOVE, 0, ID },
	{ "queue bounce " ID, CTL_QUEUE_BOUNCE, 0, ID },
	{ "queue hold 0000000000000000", CTL_QUEUE_HOLD, 0,
	    "0000000000000000" },
	{ "queue bounce ffffffffffffffff", CTL_QUEUE_BOUNCE, 0,
	    "ffffffffffffffff" },
	{ "selfcheck", CTL_SELFCHECK, 0, "" },
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
	{ "show stats", R_UNKNOWN },
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
	{ "selfcheck now", R_FROM },
	{ "selfcheck from", R_FROM },
	{ "selfcheck fromm 127.0.0.2", R_FROM },
	{ "selfcheck --from 127.0.0.2", R_CHAR },
	{ "selfcheck from 127.0.0", R_ADDR },
	{ "selfcheck from 127.0.0.256", R_ADDR },
	{ "selfcheck from 127.0.0.2 now", R_ADDR },
	{ "selfcheck from relay.example", R_ADDR },
	{ "selfcheck from :::1", R_ADDR },
	{ "selfcheck from  127.0.0.2", R_SPACE },
	{ "selfchecks", R_UNKNOWN },
	{ "show status.", R_UNKNOWN },
	{ "queue hold 0123456789abcde.", R_BADID },
	{ "queue hold 0123456789abcde:", R_BADID },
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
	size_t		 i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		memset(&req, 0xa5, sizeof(req));
		why = ctl_req_parse(goods[i].line, strlen(goods[i].line),
		    &req);
		is_str(why, NULL, "\"%s\" accepted", esc(goods[i].line));
		ok(req.cmd == goods[i].cmd && req.all == goods[i].all &&
		    strcmp(req.id, goods[i].id) == 0,
		    "\"%s\": cmd %d, all %d, id \"%s\"", esc(goods[i].line),
		    (int)req.cmd, req.all, req.all ? "" : req.id);
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
		ok(req.all == 0 && req.id[0] == '\0',
		    "\"%s\": no argument left in req", esc(bads[i].line));
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

/* Each command's level: the administrator's are the ones that destroy. */
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
		    goods[i].cmd == CTL_QUEUE_BOUNCE;
		ok(req.level == (admin ? CTL_ADMIN : CTL_OPERATOR),
		    "\"%s\": the %s's", goods[i].line, admin ?
		    "administrator" : "operator");
		ok(req.words != NULL && strncmp(goods[i].line, req.words,
		    strlen(req.words)) == 0, "\"%s\": its words, \"%s\"",
		    goods[i].line, req.words ? req.words : "(null)");
	}
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

int
main(void)
{
	test_good();
	test_bad();
	test_bytes();
	test_from();
	test_levels();
	test_ids();
	return done_testing();
}
