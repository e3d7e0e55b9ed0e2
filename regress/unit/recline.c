/*
 * recline: a record as one line and back (queued/queue_recline.c): the
 * values a peer or a sender chose (spaces, quotes, controls, UTF-8)
 * come back as they went in; a line is never longer than REC_LINE_MAX;
 * addresses match whatever their case; JSON is escaped; a damaged line
 * is refused, not misread; the line reader gives lines across reads.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queued/queued.h"
#include "tap.h"

static struct recview	v;

static void
roundtrip(const char *val, const char *what)
{
	struct recline	rl;

	rl_begin(&rl, 0x0123456789abcdefULL, 0, "sent");
	rl_str(&rl, "reply", val);
	rl_str(&rl, "dsn", "2.0.0");
	rl_end(&rl);
	ok(rl.len > 0 && rl.buf[rl.len - 1] == '\n' &&
	    memchr(rl.buf, '\n', rl.len - 1) == NULL,
	    "%s: one line", what);
	ok(rl_parse(rl.buf, rl.len, &v) == 0, "%s: parsed back", what);
	is_str(rv_get(&v, "reply"), val, "%s: the same value", what);
	is_str(rv_get(&v, "dsn"), "2.0.0", "%s: and the next field", what);
}

static void
test_values(void)
{
	struct recline rl;

	rl_begin(&rl, 0x6b171ec7921e5339ULL, 1700000000, "accepted");
	rl_str(&rl, "tenant", "acme");
	rl_addr(&rl, "from", "alice@sender.example");
	rl_num(&rl, "size", 171);
	rl_end(&rl);
	is_str(rl.buf, "6b171ec7921e5339 2023-11-14T22:13:20Z accepted "
	    "tenant=acme from=<alice@sender.example> size=171\n",
	    "a plain record, as grep finds it");
	roundtrip("250 2.0.0 Ok: queued as 42", "spaces");
	roundtrip("say \"hi\" \\o/", "quotes and backslashes");
	roundtrip("a\tb\r\nc\x01\x7f", "controls");
	roundtrip("", "empty");
	roundtrip("j\xc3\xb6rg", "UTF-8");
	roundtrip("x=y z=\"w\"", "what looks like fields");
}

static void
test_long(void)
{
	struct recline	 rl;
	char		*big;

	if ((big = malloc(3 * REC_LINE_MAX)) == NULL)
		return;
	memset(big, '"', 3 * REC_LINE_MAX - 1);
	big[3 * REC_LINE_MAX - 1] = '\0';
	rl_begin(&rl, 1, 0, "bounced");
	rl_addr(&rl, "to", "bob@example.org");
	rl_str(&rl, "tenant", big);
	rl_text(&rl, "reply", big);
	rl_text(&rl, "reason", big);
	rl_end(&rl);
	ok(rl.len <= REC_LINE_MAX, "a line is at most REC_LINE_MAX (%zu)",
	    rl.len);
	ok(rl.cut, "and says it was cut");
	ok(rl_parse(rl.buf, rl.len, &v) == 0, "a cut line still parses");
	is_str(rv_get(&v, "to"), "<bob@example.org>",
	    "the fields before the cut are whole");
	free(big);
}

static void
test_match(void)
{
	struct recline rl;

	rl_begin(&rl, 2, 0, "sent");
	rl_str(&rl, "tenant", "acme,beta");
	rl_addr(&rl, "from", "Alice@Sender.Example");
	rl_addr(&rl, "to", "\"a b\"@x.example");
	rl_text(&rl, "reply", "250 ok <eve@example.org>");
	rl_end(&rl);
	ok(rl_parse(rl.buf, rl.len, &v) == 0, "parsed");
	ok(rv_names(&v, "alice@sender.example"), "the sender, any case");
	ok(rv_names(&v, "\"a b\"@x.example"), "a quoted local part");
	ok(!rv_names(&v, "eve@example.org"),
	    "an address in a reply is not the message's");
	ok(!rv_names(&v, "alice@sender"), "nor is a part of one");
	ok(rv_tenant(&v, "acme") && rv_tenant(&v, "beta"),
	    "each of the tenants");
	ok(!rv_tenant(&v, "acm") && !rv_tenant(&v, "acme,beta"),
	    "but nothing else");
}

static void
test_json(void)
{
	struct recline	rl;
	char		out[REC_LINE_MAX * 2];

	rl_begin(&rl, 3, 1700000000, "sent");
	rl_addr(&rl, "to", "bob@example.org");
	rl_num(&rl, "attempt", 2);
	rl_str(&rl, "reply", "250 \"ok\"\t\\");
	rl_end(&rl);
	ok(rl_parse(rl.buf, rl.len, &v) == 0 &&
	    rl_json(&v, out, sizeof(out)) == 0, "as JSON");
	is_str(out, "{\"id\":\"0000000000000003\",\"time\":"
	    "\"2023-11-14T22:13:20Z\",\"event\":\"sent\",\"to\":"
	    "\"bob@example.org\",\"attempt\":2,\"reply\":\"250 \\\"ok\\\""
	    "\\u0009\\\\\"}", "escaped, the address bare, numbers bare");
	ok(rl_json(&v, out, 40) == -1, "what does not fit is refused");
	/* A hold's address, listed alone (relayctl hold-records --json). */
	ok(rl_json_str("\"a \\\"b\"@example.org", out, sizeof(out)) == 0,
	    "a string as JSON");
	is_str(out, "\"\\\"a \\\\\\\"b\\\"@example.org\"",
	    "quotes and backslashes escaped");
	ok(rl_json_str("abcdef", out, 8) == -1, "a string that does not "
	    "fit is refused");
}

static void
test_damaged(void)
{
	static const char *bad[] = {
		"",
		"0123 2023-11-14T22:13:20Z sent",
		"0123456789abcdef",
		"0123456789abcdef 2023-11-14T22:13:20Z",
		"0123456789abcdef 2023-11-14T22:13:20Z sent novalue",
		"0123456789abcdef 2023-11-14T22:13:20Z sent a b=c",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(rl_parse(bad[i], strlen(bad[i]), &v) == -1,
		    "damaged line %zu refused", i);
	ok(rl_parse("0123456789abcdef t sent a=\"open", 31, &v) == 0 &&
	    strcmp(rv_get(&v, "a"), "open") == 0,
	    "an unterminated quote ends at the line's end");
	ok(rl_parse("0123456789abcdef t e a=b\0c=d", 28, &v) == -1,
	    "a NUL in a line is refused");
}

static void
test_reader(void)
{
	struct linereader	*lr;
	const char		*line;
	char			 path[] = "/tmp/recline.XXXXXX", *big;
	size_t			 len, n = 0, longest = 0;
	int			 fd, r;

	if ((fd = mkstemp(path)) == -1 ||
	    (lr = malloc(sizeof(*lr))) == NULL ||
	    (big = malloc(100000)) == NULL)
		return;
	unlink(path);
	memset(big, 'x', 100000);
	if (write(fd, "one\ntwo\n\nthree", 14) != 14 ||
	    write(fd, "\n", 1) != 1 || write(fd, big, 100000) != 100000 ||
	    write(fd, "\nlast", 5) != 5)
		return;
	lseek(fd, 0, SEEK_SET);
	lr_init(lr, fd);
	ok(lr_peek(lr, &line, &len) == 1 && len == 3 &&
	    memcmp(line, "one", 3) == 0, "the first line");
	ok(lr_peek(lr, &line, &len) == 1 && len == 3 &&
	    memcmp(line, "one", 3) == 0, "peeked again, not taken");
	lr_take(lr);
	ok(lr_peek(lr, &line, &len) == 1 && len == 3, "then the second");
	lr_take(lr);
	ok(lr_peek(lr, &line, &len) == 1 && len == 0, "an empty line");
	lr_take(lr);
	ok(lr_peek(lr, &line, &len) == 1 && len == 5, "three");
	lr_take(lr);
	while ((r = lr_peek(lr, &line, &len)) == 1) {
		if (len > longest)
			longest = len;
		n++;
		if (len == 4 && memcmp(line, "last", 4) == 0)
			break;
		lr_take(lr);
	}
	ok(r == 1 && len == 4, "a line without its newline at the end");
	ok(longest <= sizeof(lr->buf) && n >= 3,
	    "a line longer than the buffer comes in pieces (%zu)", n);
	lr_take(lr);
	is_int(lr_peek(lr, &line, &len), 0, "then the end");
	ok(lr->nread == 14 + 1 + 100000 + 5, "every octet read once");
	close(fd);
	free(lr);
	free(big);
}

int
main(void)
{
	test_values();
	test_long();
	test_match();
	test_json();
	test_damaged();
	test_reader();
	return done_testing();
}
