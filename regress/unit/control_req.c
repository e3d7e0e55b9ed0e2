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
	{ "trace bob%00@example.org", "control character in argument" },
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

int
main(void)
{
	test_good();
	test_bad();
	test_bytes();
	test_words();
	test_lies();
	test_ids();
	return done_testing();
}
