/*
 * mta_sts: the MTA-STS parsers (deliverd/mta_sts_parse.c): the TXT
 * record, the HTTP response, the policy file, and mx pattern matching.
 */
#include <stdio.h>
#include <string.h>

#include "deliverd/mta_sts.h"
#include "tap.h"

static char	body[STS_BODY_MAX];

static int
txt(const char *a, const char *b, char *id)
{
	const char	*t[2] = { a, b };
	size_t		 l[2] = { strlen(a), b ? strlen(b) : 0 };

	return sts_txt_id(t, l, b ? 2 : 1, id);
}

static int
http(const char *resp, int eof, size_t *blen)
{
	char why[128];

	return sts_http_response(resp, strlen(resp), eof, body, blen, why,
	    sizeof(why));
}

static int
policy(const char *text, struct sts_policy *p, char *why)
{
	return sts_policy_parse(text, strlen(text), p, why, 128);
}

int
main(void)
{
	struct sts_policy	p;
	char			id[STS_ID_MAX + 1], why[128];
	size_t			blen;

	is_int(txt("v=STSv1; id=20160831085700Z;", NULL, id), 0,
	    "a TXT record");
	is_str(id, "20160831085700Z", "its id");
	is_int(txt("v=spf1 -all", "v=STSv1;id=abc", id), 0,
	    "other records are ignored");
	is_str(id, "abc", "the id without spaces or a final ;");
	is_int(txt("v=STSv1; id=1;", "v=STSv1; id=2;", id), -1,
	    "two STSv1 records: no policy (RFC 8461 3.1)");
	is_int(txt("v=STSv1;", NULL, id), -1, "no id: no policy");
	is_int(txt("v=STSv1; id=a-b;", NULL, id), -1,
	    "an id of letters and digits only");
	is_int(txt("v=STSv1; id=123456789012345678901234567890123;", NULL,
	    id), -1, "an id of at most 32");
	is_int(txt("v=STSv10; id=1", NULL, id), -1, "v=STSv10 is no STSv1");

	is_int(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 5\r\n\r\nabcde", 0, &blen), 1,
	    "complete with its Content-Length, before the end");
	ok(blen == 5 && memcmp(body, "abcde", 5) == 0, "the body");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 9\r\n\r\nabcde", 0, &blen), 0, "more to come");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 9\r\n\r\nabcde", 1, &blen), -1,
	    "a body shorter than its Content-Length");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 0, &blen), 1,
	    "chunked, with an extension");
	ok(blen == 5 && memcmp(body, "abcde", 5) == 0, "chunks joined");
	is_int(http("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
	    "abc", 0, &blen), 0, "no length: to the end of the connection");
	is_int(http("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
	    "abc", 1, &blen), 1, "which has come");
	is_int(http("HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n"
	    "Content-Type: text/plain\r\n\r\n", 1, &blen), -1,
	    "a redirect is not followed");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx", 1,
	    &blen), -1, "text/html is refused");
	is_int(http("HTTP/1.1 200 OK\r\n\r\nx", 1, &blen), -1,
	    "no Content-Type is refused");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 65537\r\n\r\n", 0, &blen), -1,
	    "a policy over 64 KB is refused at once");

	is_int(policy("version: STSv1\r\nmode: enforce\r\nmx: mail.Example."
	    "com\r\nmx: *.example.net\r\nmax_age: 604800\r\n", &p, why), 0,
	    "a policy");
	ok(p.mode == STS_ENFORCE && p.nmx == 2 && p.max_age == 604800,
	    "mode, two mx, max_age");
	is_str(p.mx[0], "mail.example.com", "patterns in lower case");
	ok(sts_mx_match(&p, "mail.example.com"), "an exact pattern matches");
	ok(sts_mx_match(&p, "mx1.example.net"), "*. matches one label");
	ok(!sts_mx_match(&p, "a.b.example.net"), "but not two");
	ok(!sts_mx_match(&p, "example.net"), "nor none");
	ok(!sts_mx_match(&p, "mail.example.com.evil"), "no suffix games");
	is_int(policy("version: STSv1\nmode: testing\nmx: a.example\n"
	    "max_age: 99999999999\n", &p, why), -1,
	    "a max_age of more than 10 digits is refused");
	is_int(policy("version: STSv1\nmode: testing\nmx: a.example\n"
	    "max_age: 999999999\nfoo: bar\n", &p, why), 0,
	    "LF alone, and an unknown key, are fine");
	is_int((long long)p.max_age, STS_MAX_AGE, "max_age capped at a year");
	is_int(policy("version: STSv1\nmode: none\nmax_age: 60\n", &p, why),
	    0, "mode none needs no mx");
	is_int(policy("version: STSv1\nmode: enforce\nmax_age: 60\n", &p,
	    why), -1, "enforce needs an mx");
	is_int(policy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 60\n",
	    &p, why), -1, "another version is refused");
	is_int(policy("version: STSv1\nmode: enforce\nmode: testing\nmx: a\n"
	    "max_age: 60\n", &p, why), -1, "a field twice is refused");
	is_int(policy("version: STSv1\nmode: enforce\nmx: a.*.example\n"
	    "max_age: 60\n", &p, why), -1, "a star inside a pattern is "
	    "refused");
	is_int(policy("mode: enforce\nmx: a\nmax_age: 60\n", &p, why), -1,
	    "no version is refused");
	is_str(why, "version, mode or max_age missing", "and says why");
	return done_testing();
}
