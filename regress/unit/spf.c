/*
 * spf: the record parser, the macro language (RFC 7208 7.4's examples),
 * the Received-SPF field, and check_host() over a table of cases answered
 * by a resolver in memory: once with answers that come later, as dnsd's
 * do, and once with answers from inside the lookup call.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policyd/spf.h"
#include "tap.h"

/*
 * The record parser.
 */

struct rec_case {
	const char	*rec;
	int		 ok;
};

static const struct rec_case recs[] = {
	{ "v=spf1", 1 },
	{ "v=spf1 ", 1 },
	{ "V=SpF1 -ALL", 1 },
	{ "v=spf1  ip4:192.0.2.1   -all  ", 1 },
	{ "v=spf1 +all ?all ~all -all", 1 },
	{ "v=spf1 include:_spf.example.com -all", 1 },
	{ "v=spf1 a a/24 a//64 a/24//64 a:x.example a:x.example/0//0", 1 },
	{ "v=spf1 mx mx/30 mx:x.example//48", 1 },
	{ "v=spf1 ptr ptr:example.com", 1 },
	{ "v=spf1 ip4:192.0.2.0/24 ip4:0.0.0.0/0 ip4:255.255.255.255/32", 1 },
	{ "v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:1.2.3.4/128", 1 },
	{ "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}", 1 },
	{ "v=spf1 redirect=_spf.example.com", 1 },
	{ "v=spf1 -all exp=explain._spf.%{d}", 1 },
	{ "v=spf1 moo.cow-far_out=man:dog/cat -all", 1 },
	{ "v=spf1 default=pass", 1 },
	{ "v=spf1 a:foo:bar/baz.example.com", 1 },
	{ "v=spf1 a:foo.example.xn--zckzah", 1 },
	{ "v=spf1 a:1-2.example.1-2", 1 },
	{ "v=spf1 a:%{d}", 1 },
	{ "v=spf1 a:m%%p%_s%-u.example.com", 1 },
	{ "v=spf1 redirect=%{d}.d.spf.example.com.", 1 },
	{ "v=spf1 unknown=%{c}%{r}%{t}", 1 },
	{ "v=spf1 exists:%{L}.%{D2R}._x.example", 1 },

	{ "", 0 },
	{ "v=spf", 0 },
	{ "v=spf10 -all", 0 },
	{ "v=spf1-all", 0 },
	{ " v=spf1 -all", 0 },
	{ "v=spf1 -all moo", 0 },
	{ "v=spf1 -all.", 0 },
	{ "v=spf1 -all:foo", 0 },
	{ "v=spf1 -all/8", 0 },
	{ "v=spf1 all -", 0 },
	{ "v=spf1 !all", 0 },
	{ "v=spf1 \tall", 0 },
	{ "v=spf1 a\xc3\xa4", 0 },
	{ "v=spf1 include", 0 },
	{ "v=spf1 include:", 0 },
	{ "v=spf1 include:x.example/24", 0 },
	{ "v=spf1 exists", 0 },
	{ "v=spf1 exists:", 0 },
	{ "v=spf1 exists:x.example/24", 0 },
	{ "v=spf1 a:", 0 },
	{ "v=spf1 a:museum", 0 },
	{ "v=spf1 a:museum.", 0 },
	{ "v=spf1 a:abc.123", 0 },
	{ "v=spf1 a:example.-com", 0 },
	{ "v=spf1 a:example.com-", 0 },
	{ "v=spf1 a:example.com:8080", 0 },
	{ "v=spf1 a:111.222.33.44", 0 },
	{ "v=spf1 a:%{d}.", 0 },
	{ "v=spf1 a/33", 0 },
	{ "v=spf1 a//129", 0 },
	{ "v=spf1 a/032", 0 },
	{ "v=spf1 a//0128", 0 },
	{ "v=spf1 a//0//0", 0 },
	{ "v=spf1 mx:", 0 },
	{ "v=spf1 ptr/0", 0 },
	{ "v=spf1 ptr:", 0 },
	{ "v=spf1 ip4", 0 },
	{ "v=spf1 ip4:", 0 },
	{ "v=spf1 ip4:192.0.2", 0 },
	{ "v=spf1 ip4:192.0.2.1:8080", 0 },
	{ "v=spf1 ip4:192.0.2.1//32", 0 },
	{ "v=spf1 ip4:192.0.2.1/33", 0 },
	{ "v=spf1 ip4:192.0.2.01", 0 },
	{ "v=spf1 ip4:192.0.2.256", 0 },
	{ "v=spf1 ip4:192.0.2.1/", 0 },
	{ "v=spf1 ip6", 0 },
	{ "v=spf1 ip6::CAFE::BABE", 0 },
	{ "v=spf1 ip6:::1.1.1.1/129", 0 },
	{ "v=spf1 ip6:::1.1.1.1//33", 0 },
	{ "v=spf1 ip6:192.0.2.1", 0 },
	{ "v=spf1 redirect:x.example", 0 },
	{ "v=spf1 redirect=", 0 },
	{ "v=spf1 redirect=-all", 0 },
	{ "v=spf1 redirect=a.example redirect=a.example", 0 },
	{ "v=spf1 exp=", 0 },
	{ "v=spf1 exp=-all", 0 },
	{ "v=spf1 exp=a.example -all exp=b.example", 0 },
	{ "v=spf1 exp=%{r}.example", 0 },
	{ "v=spf1 moo.cow/far_out=man:dog/cat -all", 0 },
	{ "v=spf1 moo.cow:far_out=man:dog/cat -all", 0 },
	{ "v=spf1 =all", 0 },
	{ "v=spf1 1up=foo", 0 },
	{ "v=spf1 foo=%abc", 0 },
	{ "v=spf1 exists:%{x}.example", 0 },
	{ "v=spf1 exists:%{d0}.example", 0 },
	{ "v=spf1 exists:%{c}.example", 0 },
	{ "v=spf1 exists:%{t}.example", 0 },
	{ "v=spf1 exists:%{d", 0 },
	{ "v=spf1 exists:%(ir).sbl.example", 0 },
	{ "v=spf1 exists:%{ir.example", 0 },
	{ "v=spf1 exists:100%.example", 0 },
};

static void
test_records(void)
{
	struct spf_term		terms[64];
	struct spf_record	r;
	char			why[256];
	size_t			i;
	int			rv;

	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		rv = spf_record_parse(recs[i].rec, strlen(recs[i].rec), terms,
		    64, &r, why, sizeof(why));
		if (!ok((rv == 0) == recs[i].ok, "record \"%s\" %s",
		    recs[i].rec, recs[i].ok ? "parses" : "is refused"))
			diag("said: %s", why);
		else if (!recs[i].ok)
			ok(why[0] != '\0', "refused \"%s\": %s", recs[i].rec,
			    why);
	}
}

/* The terms of one record, field by field. */
static void
test_terms(void)
{
	const char		*rec = "v=spf1 -a:x.example/24//64 ~mx ?ip4:"
				    "192.0.2.0/25 ip6:2001:db8::/32 "
				    "redirect=r.example exp=e.example x=y";
	struct spf_term		 terms[16], *t;
	struct spf_record	 r;
	char			 why[128];
	uint8_t			 v6[16];

	ok(spf_record_parse(rec, strlen(rec), terms, 16, &r, why,
	    sizeof(why)) == 0, "a record of every kind parses");
	is_int(r.nterms, 7, "7 terms");
	t = &terms[0];
	ok(t->kind == SPF_K_A && t->qual == SPF_FAIL && t->cidr4 == 24 &&
	    t->cidr6 == 64, "-a: kind, qualifier, both prefix lengths");
	ok(t->dlen == 9 && strncmp(rec + t->doff, "x.example", 9) == 0,
	    "-a: its domain-spec");
	t = &terms[1];
	ok(t->kind == SPF_K_MX && t->qual == SPF_SOFTFAIL && t->dlen == 0 &&
	    t->cidr4 == 32 && t->cidr6 == 128, "~mx: no domain, /32 and /128");
	t = &terms[2];
	ok(t->kind == SPF_K_IP4 && t->qual == SPF_NEUTRAL && t->cidr4 == 25 &&
	    memcmp(t->addr, "\xc0\x00\x02\x00", 4) == 0, "?ip4: network /25");
	t = &terms[3];
	inet_pton(AF_INET6, "2001:db8::", v6);
	ok(t->kind == SPF_K_IP6 && t->qual == SPF_PASS && t->cidr6 == 32 &&
	    memcmp(t->addr, v6, 16) == 0, "ip6: network /32");
	ok(r.redirect == 4 && r.exp == 5 && !r.has_all,
	    "redirect and exp found, no all");
	ok(terms[6].kind == SPF_K_UNKNOWN, "x=y: an unknown modifier");
	ok(terms[0].len == 19 && strncmp(rec + terms[0].off,
	    "-a:x.example/24//64", 19) == 0,
	    "a term's text is found from its offset");
	ok(spf_record_parse(rec, strlen(rec), terms, 6, &r, why,
	    sizeof(why)) == -1 && strstr(why, "terms") != NULL,
	    "more terms than room: refused (%s)", why);
	ok(spf_is_record("v=spf1", 6) && spf_is_record("V=SPF1 a", 8) &&
	    !spf_is_record("v=spf1a", 7) && !spf_is_record("v=spf", 5) &&
	    !spf_is_record("v=spf1 -all", 5), "spf_is_record");
}

static void
test_domains(void)
{
	static const char *good[] = { "example.com", "example.com.",
	    "_spf.example.com", "a-b.c", "x.y" };
	static const char *bad[] = { "", ".", "com", "com.", "a..b",
	    ".example.com", "[192.0.2.1]", "exa mple.com", "a@b.com",
	    "e\xc3\xa9.example" };
	char	long_label[128], long_name[300];
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(spf_valid_domain(good[i]), "\"%s\" is a domain", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!spf_valid_domain(bad[i]), "\"%s\" is not", bad[i]);
	memset(long_label, 'a', 63);
	strlcpy(long_label + 63, ".example", sizeof(long_label) - 63);
	ok(spf_valid_domain(long_label), "a label of 63 octets");
	memset(long_label, 'a', 64);
	strlcpy(long_label + 64, ".example", sizeof(long_label) - 64);
	ok(!spf_valid_domain(long_label), "a label of 64 octets is not");
	for (i = 0; i < 250; i += 2)
		memcpy(long_name + i, "a.", 2);
	memcpy(long_name + 250, "com", 4);
	ok(spf_valid_domain(long_name), "253 octets");
	memcpy(long_name + 250, "comx", 5);
	ok(!spf_valid_domain(long_name), "254 octets are too many");
}

/*
 * Macros: RFC 7208 7.4's examples, and the rest of section 7.
 */

static const struct spf_macro_env rfc_env = {
	.s = "strong-bad@email.example.com",
	.l = "strong-bad",
	.o = "email.example.com",
	.d = "email.example.com",
	.i = "192.0.2.3",
	.p = "mx.example.org",
	.v = "in-addr",
	.h = "mx.example.org",
	.c = "192.0.2.3",
	.r = "relay.example.net",
	.t = "1700000000",
};

static const struct {
	const char	*in;
	const char	*out;
} rfc_macros[] = {
	{ "%{s}", "strong-bad@email.example.com" },
	{ "%{o}", "email.example.com" },
	{ "%{d}", "email.example.com" },
	{ "%{d4}", "email.example.com" },
	{ "%{d3}", "email.example.com" },
	{ "%{d2}", "example.com" },
	{ "%{d1}", "com" },
	{ "%{dr}", "com.example.email" },
	{ "%{d2r}", "example.email" },
	{ "%{l}", "strong-bad" },
	{ "%{l-}", "strong.bad" },
	{ "%{lr}", "strong-bad" },
	{ "%{lr-}", "bad.strong" },
	{ "%{l1r-}", "strong" },
	{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
	{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
	    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
	    "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "%{d2}.trusted-domains.example.net",
	    "example.com.trusted-domains.example.net" },
	/* And beyond the table. */
	{ "%{d999}", "email.example.com" },
	{ "%{D}", "email.example.com" },
	{ "%{p}.%{h}", "mx.example.org.mx.example.org" },
	{ "%{l-+}.x", "strong.bad.x" },
	{ "%{o2R}", "example.email" },
	{ "%{l=-}", "strong.bad" },
	{ "m%%p%_s%-u", "m%p s%20u" },
};

static void
test_macros(void)
{
	struct spf_macro_env	env = rfc_env;
	char			out[SPF_DOMAIN_MAX], exp[64], spec[512];
	char			full[4096];
	size_t			i, last;

	for (i = 0; i < sizeof(rfc_macros) / sizeof(rfc_macros[0]); i++) {
		spf_expand_domain(rfc_macros[i].in, strlen(rfc_macros[i].in),
		    &env, out);
		is_str(out, rfc_macros[i].out, "%s", rfc_macros[i].in);
	}
	env.i = "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B."
	    "0.1";
	env.v = "ip6";
	spf_expand_domain("%{ir}.%{v}._spf.%{d2}", 21, &env, out);
	is_str(out, "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0."
	    "1.0.0.2.ip6._spf.example.com", "IPv6: %%{ir}.%%{v}._spf.%%{d2}");

	/* Upper case: URL-escaped (RFC 3986 unreserved kept). */
	env.l = "jack&jill=up~a_b.c";
	spf_expand_exp("l=%{L}", 6, &env, exp, sizeof(exp));
	is_str(exp, "l=jack%26jill%3Dup~a_b.c", "%%{L} is URL-escaped");
	spf_expand_exp("%{c} %{r} %{t}", 14, &env, exp, sizeof(exp));
	is_str(exp, "192.0.2.3 relay.example.net 1700000000",
	    "c, r and t in an explanation");
	ok(spf_expand_domain("%{c}.x", 6, &env, out) == -1,
	    "c in a domain: refused");
	ok(spf_expand_exp("the %{x}-files", 14, &env, exp, sizeof(exp)) ==
	    -1 && exp[0] == '\0', "an unknown letter in an explanation: "
	    "refused, nothing written");
	env.p = NULL;
	spf_expand_exp("from %{p}", 9, &env, exp, sizeof(exp));
	is_str(exp, "from unknown", "%%{p} without a validated name");
	spf_expand_exp("%{s}%{s}%{s}", 12, &env, exp, 20);
	is_int(strlen(exp), 19, "an explanation is cut at its size");

	ok(spf_macro_check("%{d}", 4, 0, &last) == 0 && last == 4,
	    "check: ends in a macro");
	ok(spf_macro_check("%{d}.x", 6, 0, &last) == 0 && last == 4,
	    "check: where the last macro ends");
	ok(spf_macro_check("a b", 3, 0, &last) == -1 &&
	    spf_macro_check("a b", 3, 1, &last) == 0,
	    "a space only in explanations");
	ok(spf_macro_check("%", 1, 1, &last) == -1, "a lone %%");
	ok(spf_macro_check("%{d0}", 5, 1, &last) == -1, "%%{d0}");
	ok(spf_macro_check("%{d01}", 6, 1, &last) == 0, "%%{d01}");
	ok(spf_macro_uses_p("x.%{p}.y", 8) && spf_macro_uses_p("%{P2r}", 6)
	    && !spf_macro_uses_p("%%{p}", 5) && !spf_macro_uses_p("%{d}", 4),
	    "spf_macro_uses_p");

	/* Longer than 253 octets: labels go from the left (RFC 7208 7.3). */
	env = rfc_env;
	env.o = "somewhat.long.exp.example.com";
	strlcpy(spec, "foobar", sizeof(spec));
	for (i = 0; i < 8; i++)
		strlcat(spec, ".%{o}", sizeof(spec));
	strlcat(spec, ".example.com", sizeof(spec));
	ok(spf_expand_domain(spec, strlen(spec), &env, out) == 0,
	    "a long expansion is kept");
	ok(strlen(out) <= 253 && strlen(out) > 200, "it fits in 253 octets "
	    "(%zu)", strlen(out));
	is_str(out, "somewhat.long.exp.example.com.somewhat.long.exp.example."
	    "com.somewhat.long.exp.example.com.somewhat.long.exp.example.com."
	    "somewhat.long.exp.example.com.somewhat.long.exp.example.com."
	    "somewhat.long.exp.example.com.somewhat.long.exp.example.com."
	    "example.com", "whole labels went from the left");
	/* Far longer than the buffer: its end is still right. */
	spec[0] = '\0';
	for (i = 0; i < 60; i++)
		strlcat(spec, "%{s}.", sizeof(spec));
	strlcat(spec, "end.example", sizeof(spec));
	ok(spf_expand_domain(spec, strlen(spec), &env, out) == 0 &&
	    strlen(out) <= 253, "60 senders: cut to %zu octets", strlen(out));
	full[0] = '\0';
	for (i = 0; i < 60; i++) {
		strlcat(full, env.s, sizeof(full));
		strlcat(full, ".", sizeof(full));
	}
	strlcat(full, "end.example", sizeof(full));
	ok(strlen(out) > 200 && strcmp(full + strlen(full) - strlen(out),
	    out) == 0 && full[strlen(full) - strlen(out) - 1] == '.',
	    "the right-hand end is kept, from a label's start: %.30s...", out);
	memset(spec, 'a', 300);
	spec[300] = '\0';
	env.s = spec;
	ok(spf_expand_domain("%{s}", 4, &env, out) == -1,
	    "one label longer than 253 octets: no name");
}

/*
 * The Received-SPF field.
 */

static int
lines_ok(const char *h, size_t *maxcol)
{
	const char	*p = h;
	size_t		 col = 0;

	*maxcol = 0;
	for (; *p != '\0'; p++) {
		if (*p == '\r') {
			if (p[1] != '\n')
				return 0;
			p++;
			/* The end, or a continuation line. */
			if (p[1] != '\0' && p[1] != ' ')
				return 0;
			col = 0;
			continue;
		}
		if (*p == '\n' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p > 0x7e)
			return 0;
		if (++col > *maxcol)
			*maxcol = col;
	}
	return p > h && p[-1] == '\n';
}

static void
unfold(const char *h, char *out, size_t sz)
{
	size_t o = 0;

	for (; *h != '\0' && o + 1 < sz; h++)
		if (*h != '\r' && *h != '\n')
			out[o++] = *h;
	out[o] = '\0';
}

static void
test_header(void)
{
	struct spf_outcome	o;
	struct netaddr		ip;
	char			h[SPF_HEADER_MAX], u[SPF_HEADER_MAX];
	char			sender[SPF_SENDER_MAX], helo[SPF_HELO_MAX];
	char			host[SPF_HELO_MAX];
	size_t			maxcol;
	int			n;

	memset(&o, 0, sizeof(o));
	o.result = SPF_PASS;
	strlcpy(o.domain, "example.com", sizeof(o.domain));
	netaddr_parse("192.0.2.1", &ip);
	n = spf_received_header(h, sizeof(h), &o, &ip, "joe@example.com",
	    "mx.example.com", "relay.example.net");
	is_str(h, "Received-SPF: pass (relay.example.net: domain of "
	    "joe@example.com designates\r\n 192.0.2.1 as permitted sender) "
	    "client-ip=192.0.2.1;\r\n envelope-from=\"joe@example.com\"; "
	    "helo=mx.example.com;\r\n receiver=relay.example.net; "
	    "identity=mailfrom;\r\n", "a pass, folded at 78");
	is_int(n, (long long)strlen(h), "its length is returned");

	o.result = SPF_PERMERROR;
	o.helo = 1;
	strlcpy(o.why, "syntax error at \"moo\" (or \\so)", sizeof(o.why));
	netaddr_parse("2001:db8::1", &ip);
	spf_received_header(h, sizeof(h), &o, &ip, "", "mx.example.com",
	    "relay.example.net");
	unfold(h, u, sizeof(u));
	is_str(u, "Received-SPF: permerror (relay.example.net: permanent "
	    "error in processing domain of postmaster@mx.example.com) "
	    "client-ip=\"2001:db8::1\"; envelope-from=\"\"; "
	    "helo=mx.example.com; receiver=relay.example.net; identity=helo; "
	    "problem=\"syntax error at \\\"moo\\\" (or \\\\so)\";",
	    "HELO identity, IPv6 quoted, problem= escaped (unfolded)");
	ok(lines_ok(h, &maxcol) && maxcol <= 78, "lines of %zu columns at "
	    "most", maxcol);

	/* A hostile sender and HELO cannot start a line of their own. */
	o.result = SPF_FAIL;
	o.helo = 0;
	netaddr_parse("192.0.2.1", &ip);
	spf_received_header(h, sizeof(h), &o, &ip,
	    "\"x\r\nX-Evil: 1\r\n\"@example.com", "a\r\nReceived-SPF: pass",
	    "relay.example.net");
	ok(lines_ok(h, &maxcol), "CR and LF in the values: every line "
	    "break is a fold");
	ok(strstr(h, "\r\nX-Evil") == NULL && strstr(h, "\r\nReceived") ==
	    NULL, "no injected line");
	unfold(h, u, sizeof(u));
	ok(strstr(u, "envelope-from=\"\\\"x??X-Evil: 1??\\\"@example.com\";")
	    != NULL, "the sender quoted, its controls '?'");
	ok(strstr(u, "(relay.example.net: domain of \"x??X-Evil: 1??\"@") !=
	    NULL, "in the comment too");

	/* Parentheses and backslashes in the comment are quoted. */
	spf_received_header(h, sizeof(h), &o, &ip, "a(b)\\c@example.com",
	    "h", "relay.example.net");
	ok(strstr(h, "domain of a\\(b\\)\\\\c@example.com does") != NULL,
	    "( ) and \\ quoted in the comment");

	/* Spaces in a quoted local part survive folding. */
	spf_received_header(h, sizeof(h), &o, &ip,
	    "\"a  b\"@example.com", "h.example", "relay.example.net");
	unfold(h, u, sizeof(u));
	ok(strstr(u, "envelope-from=\"\\\"a  b\\\"@example.com\";") != NULL,
	    "two spaces in a quoted sender stay two");

	/* The longest of everything fits SPF_HEADER_MAX. */
	memset(sender, '"', sizeof(sender) - 1);
	sender[sizeof(sender) - 1] = '\0';
	sender[100] = '@';
	memset(helo, '(', sizeof(helo) - 1);
	helo[sizeof(helo) - 1] = '\0';
	memset(host, ')', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(o.why, '\\', sizeof(o.why) - 1);
	o.why[sizeof(o.why) - 1] = '\0';
	o.result = SPF_TEMPERROR;
	n = spf_received_header(h, sizeof(h), &o, &ip, sender, helo, host);
	ok(n > 0 && lines_ok(h, &maxcol) && maxcol < 998, "the largest "
	    "field fits (%d octets, lines of %zu columns at most)", n, maxcol);
	ok(spf_received_header(h, 40, &o, &ip, "a@b.c", "h", "r") == -1,
	    "too small a buffer: -1");
}

/*
 * check_host() against a zone in memory.
 */

#define T_TIMEOUT	0xfff0	/* the name answers nothing: TEMPFAIL */

struct rr_def {
	const char	*name;	/* PTR: the address, as dnsd takes it */
	uint16_t	 type;
	const char	*data;	/* A, AAAA: address; MX: "pref host" */
};

static const struct rr_def zone[] = {
	/* Selecting the record. */
	{ "none.t.test", DNS_T_TXT, "google-site-verification=abc" },
	{ "two.t.test", DNS_T_TXT, "v=spf1 -all" },
	{ "two.t.test", DNS_T_TXT, "v=spf1 +all" },
	{ "mixed.t.test", DNS_T_TXT, "hello world" },
	{ "mixed.t.test", DNS_T_TXT, "v=spf1 +all" },
	{ "spf10.t.test", DNS_T_TXT, "v=spf10 +all" },
	{ "spf10.t.test", DNS_T_TXT, "v=spf1 -all" },
	{ "empty.t.test", DNS_T_TXT, "v=spf1" },
	{ "upper.t.test", DNS_T_TXT, "V=SpF1 ~ALL" },
	{ "joined.t.test", DNS_T_TXT, "v=spf1mx" },
	{ "timeout.t.test", T_TIMEOUT, NULL },
	{ "timeout2.t.test", T_TIMEOUT, NULL },
	/* Syntax. */
	{ "syntax.t.test", DNS_T_TXT, "v=spf1 ip4:192.0.2.1 -all moo" },
	{ "badcidr.t.test", DNS_T_TXT, "v=spf1 ip4:192.0.2.1/33 -all" },
	{ "modok.t.test", DNS_T_TXT,
	    "v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all" },
	{ "modbad.t.test", DNS_T_TXT,
	    "v=spf1 moo.cow/far_out=man:dog/cat ip4:192.0.2.1 -all" },
	{ "crt.t.test", DNS_T_TXT, "v=spf1 -all exp=%{r}.t.test" },
	{ "redirmod.t.test", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.9 redirect:a.t.test" },
	/* ip4, ip6. */
	{ "ip.t.test", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all" },
	{ "ip0.t.test", DNS_T_TXT, "v=spf1 ip4:0.0.0.0/0 -all" },
	/* a. */
	{ "a.t.test", DNS_T_TXT, "v=spf1 a -all" },
	{ "a.t.test", DNS_T_A, "192.0.2.10" },
	{ "a.t.test", DNS_T_AAAA, "2001:db8::10" },
	{ "acidr.t.test", DNS_T_TXT, "v=spf1 a:host.t.test/24//64 -all" },
	{ "host.t.test", DNS_T_A, "192.0.2.10" },
	{ "host.t.test", DNS_T_AAAA, "2001:db8:1::10" },
	{ "anx.t.test", DNS_T_TXT, "v=spf1 a:nothere.t.test/0 -all" },
	{ "a6zero.t.test", DNS_T_TXT, "v=spf1 a//0 -all" },
	{ "a6zero.t.test", DNS_T_AAAA, "2001:db8::1" },
	{ "acolon.t.test", DNS_T_TXT, "v=spf1 a:foo:bar/baz.t.test -all" },
	{ "foo:bar/baz.t.test", DNS_T_A, "192.0.2.12" },
	/* mx. */
	{ "mx.t.test", DNS_T_TXT, "v=spf1 mx -all" },
	{ "mx.t.test", DNS_T_MX, "10 mx1.t.test" },
	{ "mx.t.test", DNS_T_MX, "20 mx2.t.test" },
	{ "mx1.t.test", DNS_T_A, "192.0.2.21" },
	{ "mx2.t.test", DNS_T_A, "192.0.2.22" },
	{ "mxcidr.t.test", DNS_T_TXT, "v=spf1 mx:mx.t.test/30 -all" },
	{ "mxnull.t.test", DNS_T_TXT, "v=spf1 mx ?all" },
	{ "mxnull.t.test", DNS_T_MX, "0 ." },
	{ "mximplicit.t.test", DNS_T_TXT, "v=spf1 mx ?all" },
	{ "mximplicit.t.test", DNS_T_A, "192.0.2.30" },
	{ "mxmany.t.test", DNS_T_TXT, "v=spf1 mx -all" },
	{ "mxmany.t.test", DNS_T_MX, "1 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "2 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "3 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "4 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "5 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "6 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "7 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "8 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "9 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "10 mx1.t.test" },
	{ "mxmany.t.test", DNS_T_MX, "11 mx1.t.test" },
	{ "mxten.t.test", DNS_T_TXT, "v=spf1 mx -all" },
	{ "mxten.t.test", DNS_T_MX, "1 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "2 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "3 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "4 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "5 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "6 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "7 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "8 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "9 mx9.t.test" },
	{ "mxten.t.test", DNS_T_MX, "10 mx1.t.test" },
	{ "mx9.t.test", DNS_T_A, "192.0.2.29" },
	{ "mxtemp.t.test", DNS_T_TXT, "v=spf1 mx -all" },
	{ "mxtemp.t.test", DNS_T_MX, "10 dead.t.test" },
	{ "mxtemp.t.test", DNS_T_MX, "20 mx1.t.test" },
	{ "dead.t.test", T_TIMEOUT, NULL },
	/* ptr: 192.0.2.40 has one validated name; .41's PTR times out. */
	{ "192.0.2.40", DNS_T_PTR, "bad.ptr.t.test" },
	{ "192.0.2.40", DNS_T_PTR, "good.ptr.t.test" },
	{ "good.ptr.t.test", DNS_T_A, "192.0.2.40" },
	{ "bad.ptr.t.test", DNS_T_A, "192.0.2.99" },
	{ "192.0.2.41", T_TIMEOUT, NULL },
	{ "ptr.t.test", DNS_T_TXT, "v=spf1 ptr:ptr.t.test -all" },
	{ "ptrbad.t.test", DNS_T_TXT, "v=spf1 ptr:bad.ptr.t.test -all" },
	{ "ptrself.t.test", DNS_T_TXT, "v=spf1 ptr -all" },
	{ "ptrcidr.t.test", DNS_T_TXT, "v=spf1 ptr/24 -all" },
	/* exists and the macros. */
	{ "ex.t.test", DNS_T_TXT, "v=spf1 exists:%{ir}.%{l1r-}.u.%{d2} -all" },
	{ "50.2.0.192.first.u.t.test", DNS_T_A, "127.0.0.2" },
	{ "exspace.t.test", DNS_T_TXT, "v=spf1 exists:%{l}.sp.t.test -all" },
	{ "\"a b\".sp.t.test", DNS_T_A, "127.0.0.2" },
	{ "exh.t.test", DNS_T_TXT, "v=spf1 exists:%{h}.helo.t.test -all" },
	{ "mail.example.helo.t.test", DNS_T_A, "127.0.0.2" },
	{ "exp.t.test", DNS_T_TXT, "v=spf1 exists:%{p}.pm.t.test -all" },
	{ "good.ptr.t.test.pm.t.test", DNS_T_A, "127.0.0.2" },
	{ "mania.t.test", DNS_T_TXT, "v=spf1 a:m%%p%_s%-u.t.test -all" },
	{ "m%p s%20u.t.test", DNS_T_A, "192.0.2.60" },
	/* include. */
	{ "inc.t.test", DNS_T_TXT, "v=spf1 include:incpass.t.test -all" },
	{ "incpass.t.test", DNS_T_TXT, "v=spf1 ip4:192.0.2.70 -all" },
	{ "incsoft.t.test", DNS_T_TXT, "v=spf1 include:incsf.t.test ?all" },
	{ "incsf.t.test", DNS_T_TXT, "v=spf1 ~all" },
	{ "incneg.t.test", DNS_T_TXT, "v=spf1 -include:incpass.t.test +all" },
	{ "incnone.t.test", DNS_T_TXT, "v=spf1 include:none.t.test -all" },
	{ "incnx.t.test", DNS_T_TXT, "v=spf1 include:nx.t.test -all" },
	{ "inctemp.t.test", DNS_T_TXT, "v=spf1 include:timeout.t.test -all" },
	{ "incperm.t.test", DNS_T_TXT, "v=spf1 include:syntax.t.test +all" },
	{ "incloop.t.test", DNS_T_TXT, "v=spf1 include:incloop.t.test -all" },
	{ "incloopa.t.test", DNS_T_TXT, "v=spf1 include:incloopb.t.test -all" },
	{ "incloopb.t.test", DNS_T_TXT, "v=spf1 include:incloopa.t.test ~all" },
	{ "incdeep.t.test", DNS_T_TXT, "v=spf1 include:inc.t.test -all" },
	/* redirect. */
	{ "red.t.test", DNS_T_TXT, "v=spf1 redirect=ip.t.test" },
	{ "redall.t.test", DNS_T_TXT, "v=spf1 ?all redirect=ip.t.test" },
	{ "rednone.t.test", DNS_T_TXT, "v=spf1 redirect=none.t.test" },
	{ "redloop.t.test", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.1 redirect=redloop2.t.test" },
	{ "redloop2.t.test", DNS_T_TXT, "v=spf1 redirect=redloop.t.test" },
	{ "redmatch.t.test", DNS_T_TXT,
	    "v=spf1 ip4:198.51.100.1 redirect=ip.t.test" },
	{ "redinc.t.test", DNS_T_TXT, "v=spf1 include:red.t.test ~all" },
	/* exp. */
	{ "expl.t.test", DNS_T_TXT, "v=spf1 -all exp=why.t.test" },
	{ "why.t.test", DNS_T_TXT, "%{l} may not send from %{c} (%{v})" },
	{ "explup.t.test", DNS_T_TXT, "v=spf1 -all exp=whyup.t.test" },
	{ "whyup.t.test", DNS_T_TXT, "http://x.test/?l=%{L}" },
	{ "explmulti.t.test", DNS_T_TXT, "v=spf1 -all exp=whymulti.t.test" },
	{ "whymulti.t.test", DNS_T_TXT, "one" },
	{ "whymulti.t.test", DNS_T_TXT, "two" },
	{ "expltemp.t.test", DNS_T_TXT, "v=spf1 -all exp=timeout2.t.test" },
	{ "explsyn.t.test", DNS_T_TXT, "v=spf1 -all exp=whysyn.t.test" },
	{ "whysyn.t.test", DNS_T_TXT, "The %{x}-files" },
	{ "explred.t.test", DNS_T_TXT,
	    "v=spf1 exp=why.t.test redirect=expl2.t.test" },
	{ "expl2.t.test", DNS_T_TXT, "v=spf1 -all" },
	{ "explinc.t.test", DNS_T_TXT,
	    "v=spf1 include:expl.t.test -all exp=why2.t.test" },
	{ "why2.t.test", DNS_T_TXT, "the top record says no" },
	{ "expl6.t.test", DNS_T_TXT, "v=spf1 -all exp=why6.t.test" },
	{ "why6.t.test", DNS_T_TXT, "%{ir}.%{v}.arpa is %{c}" },
	{ "explp.t.test", DNS_T_TXT, "v=spf1 -all exp=whyp.t.test" },
	{ "whyp.t.test", DNS_T_TXT, "connect from %{p}" },
	{ "explpn.t.test", DNS_T_TXT, "v=spf1 -all exp=%{p}.why.t.test" },
	{ "good.ptr.t.test.why.t.test", DNS_T_TXT, "%{p} was validated" },
	{ "xn--bcher-kva.t.test", DNS_T_TXT, "v=spf1 a:%{d} -all" },
	{ "xn--bcher-kva.t.test", DNS_T_A, "192.0.2.97" },
	{ "explctl.t.test", DNS_T_TXT, "v=spf1 -all exp=whyctl.t.test" },
	{ "whyctl.t.test", DNS_T_TXT, "bad\r\nX-Injected: %{l}" },
	/* Limits: 10 terms that query the DNS, 2 void look-ups. */
	{ "ten.t.test", DNS_T_TXT,
	    "v=spf1 a mx a mx a mx a mx a ptr ip4:192.0.2.90 -all" },
	{ "ten.t.test", DNS_T_A, "192.0.2.1" },
	{ "ten.t.test", DNS_T_MX, "10 mx1.t.test" },
	{ "eleven.t.test", DNS_T_TXT,
	    "v=spf1 a mx a mx a mx a mx a ptr a ip4:192.0.2.90 -all" },
	{ "eleven.t.test", DNS_T_A, "192.0.2.1" },
	{ "eleven.t.test", DNS_T_MX, "10 mx1.t.test" },
	{ "inc8.t.test", DNS_T_TXT, "v=spf1 a a a a a a a a" },
	{ "inc8.t.test", DNS_T_A, "192.0.2.1" },
	{ "incten.t.test", DNS_T_TXT,
	    "v=spf1 a include:inc8.t.test ip4:192.0.2.90 mx -all" },
	{ "incten.t.test", DNS_T_A, "192.0.2.1" },
	{ "incover.t.test", DNS_T_TXT,
	    "v=spf1 a include:inc8.t.test a ip4:192.0.2.90 -all" },
	{ "incover.t.test", DNS_T_A, "192.0.2.1" },
	{ "void2.t.test", DNS_T_TXT,
	    "v=spf1 a:v1.t.test a:v2.t.test ip4:192.0.2.91 -all" },
	{ "void3.t.test", DNS_T_TXT,
	    "v=spf1 a:v1.t.test a:v2.t.test a:v3.t.test ip4:192.0.2.91 -all" },
	{ "voidmix.t.test", DNS_T_TXT,
	    "v=spf1 mx:v1.t.test exists:v2.t.test a:none.t.test -all" },
	/* The HELO identity. */
	{ "helo.t.test", DNS_T_TXT, "v=spf1 a -all" },
	{ "helo.t.test", DNS_T_A, "192.0.2.95" },
};

struct pending {
	uint64_t	 id;
	uint32_t	 qtype;
	char		 name[512];
	dns_cb		 cb;
	void		*arg;
	int		 cancelled;
};

struct fakedns {
	int		 sync;		/* answer from inside lookup */
	struct pending	 q[64];
	size_t		 n;
	uint64_t	 next_id;
	unsigned	 asked;
	unsigned	 cancelled;
};

static int
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static void
answer(uint32_t qtype, const char *name, dns_cb cb, void *arg)
{
	struct dns_answer	*a;
	struct dns_rr		*rr;
	size_t			 i;
	int			 exists = 0;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		abort();
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
		if (!same_name(zone[i].name, name))
			continue;
		exists = 1;
		if (zone[i].type == T_TIMEOUT) {
			a->rcode = DNS_R_TEMPFAIL;
			goto done;
		}
		if (zone[i].type != qtype || a->nrr == DNS_MAX_RR)
			continue;
		rr = &a->rr[a->nrr++];
		rr->type = (uint16_t)qtype;
		switch (qtype) {
		case DNS_T_A:
			inet_pton(AF_INET, zone[i].data, rr->addr);
			break;
		case DNS_T_AAAA:
			inet_pton(AF_INET6, zone[i].data, rr->addr);
			break;
		case DNS_T_MX:
			rr->pref = (uint16_t)atoi(zone[i].data);
			strlcpy(rr->name, strchr(zone[i].data, ' ') + 1,
			    sizeof(rr->name));
			if (strcmp(rr->name, ".") == 0)
				rr->name[0] = '\0';
			break;
		case DNS_T_PTR:
			strlcpy(rr->name, zone[i].data, sizeof(rr->name));
			break;
		case DNS_T_TXT:
			rr->txt = strdup(zone[i].data);
			rr->txtlen = strlen(zone[i].data);
			break;
		}
	}
	a->rcode = a->nrr > 0 ? DNS_R_OK : exists ? DNS_R_NODATA :
	    DNS_R_NXDOMAIN;
done:
	cb(arg, a);
	dns_answer_clear(a);
	free(a);
}

static uint64_t
fake_lookup(void *ctx, uint32_t qtype, const char *name, dns_cb cb,
    void *arg)
{
	struct fakedns	*f = ctx;
	struct pending	*p;

	f->asked++;
	if (f->sync) {
		answer(qtype, name, cb, arg);
		return ++f->next_id;
	}
	if (f->n == sizeof(f->q) / sizeof(f->q[0]))
		abort();
	p = &f->q[f->n++];
	p->id = ++f->next_id;
	p->qtype = qtype;
	strlcpy(p->name, name, sizeof(p->name));
	p->cb = cb;
	p->arg = arg;
	p->cancelled = 0;
	return p->id;
}

static void
fake_cancel(void *ctx, uint64_t id)
{
	struct fakedns	*f = ctx;
	size_t		 i;

	for (i = 0; i < f->n; i++)
		if (f->q[i].id == id && !f->q[i].cancelled) {
			f->q[i].cancelled = 1;
			f->cancelled++;
		}
}

/* Answer the oldest question first, until none is left. */
static void
fake_drain(struct fakedns *f)
{
	struct pending p;

	while (f->n > 0) {
		p = f->q[0];
		memmove(&f->q[0], &f->q[1], (f->n - 1) * sizeof(f->q[0]));
		f->n--;
		if (!p.cancelled)
			answer(p.qtype, p.name, p.cb, p.arg);
	}
}

struct result {
	int			done;
	struct spf_outcome	out;
};

static void
on_done(void *arg, const struct spf_outcome *o)
{
	struct result *r = arg;

	r->done++;
	r->out = *o;
}

struct check {
	const char	*ip;
	const char	*sender;
	const char	*helo;
	enum spf_result	 want;
	const char	*exp;		/* NULL: not looked at */
};

static const struct check checks[] = {
	{ "192.0.2.1", "a@none.t.test", "h.example", SPF_NONE, NULL },
	{ "192.0.2.1", "a@nx.t.test", "h.example", SPF_NONE, NULL },
	{ "192.0.2.1", "a@two.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@mixed.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@spf10.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.1", "a@empty.t.test", "h.example", SPF_NEUTRAL, NULL },
	{ "192.0.2.1", "a@upper.t.test", "h.example", SPF_SOFTFAIL, NULL },
	{ "192.0.2.1", "a@joined.t.test", "h.example", SPF_NONE, NULL },
	{ "192.0.2.1", "a@timeout.t.test", "h.example", SPF_TEMPERROR, NULL },
	{ "192.0.2.1", "a@syntax.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@badcidr.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@modok.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@modbad.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@crt.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.9", "a@redirmod.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.77", "a@ip.t.test", "h.example", SPF_PASS, NULL },
	{ "198.51.100.1", "a@ip.t.test", "h.example", SPF_FAIL, NULL },
	{ "2001:db8::5", "a@ip.t.test", "h.example", SPF_PASS, NULL },
	{ "2001:db9::1", "a@ip.t.test", "h.example", SPF_FAIL, NULL },
	{ "::ffff:192.0.2.77", "a@ip.t.test", "h.example", SPF_PASS, NULL },
	{ "203.0.113.5", "a@ip0.t.test", "h.example", SPF_PASS, NULL },
	{ "2001:db8::1", "a@ip0.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.10", "a@a.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.11", "a@a.t.test", "h.example", SPF_FAIL, NULL },
	{ "2001:db8::10", "a@a.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.200", "a@acidr.t.test", "h.example", SPF_PASS, NULL },
	{ "2001:db8:1::ffff", "a@acidr.t.test", "h.example", SPF_PASS, NULL },
	{ "2001:db8:2::1", "a@acidr.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.1", "a@anx.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.1", "a@a6zero.t.test", "h.example", SPF_FAIL, NULL },
	{ "2001:db8:ffff::1", "a@a6zero.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.12", "a@acolon.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.22", "a@mx.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.23", "a@mx.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.23", "a@mxcidr.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@mxnull.t.test", "h.example", SPF_NEUTRAL, NULL },
	{ "192.0.2.30", "a@mximplicit.t.test", "h.example", SPF_NEUTRAL,
	    NULL },
	{ "192.0.2.21", "a@mxmany.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.21", "a@mxten.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.21", "a@mxtemp.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.22", "a@mxtemp.t.test", "h.example", SPF_TEMPERROR, NULL },
	{ "192.0.2.40", "a@ptr.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.40", "a@ptrbad.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.40", "a@ptrself.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.41", "a@ptr.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.40", "a@ptrcidr.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.50", "first-last@ex.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.51", "first-last@ex.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.1", "\"a b\"@exspace.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@exh.t.test", "mail.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@exh.t.test", "other.example", SPF_FAIL, NULL },
	{ "192.0.2.40", "a@exp.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.41", "a@exp.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.60", "a@mania.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.70", "a@inc.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.71", "a@inc.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.71", "a@incsoft.t.test", "h.example", SPF_NEUTRAL, NULL },
	{ "192.0.2.70", "a@incneg.t.test", "h.example", SPF_FAIL, NULL },
	{ "192.0.2.71", "a@incneg.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@incnone.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@incnx.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@inctemp.t.test", "h.example", SPF_TEMPERROR, NULL },
	{ "192.0.2.1", "a@incperm.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@incloop.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@incloopa.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.70", "a@incdeep.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.77", "a@red.t.test", "h.example", SPF_PASS, NULL },
	{ "198.51.100.1", "a@red.t.test", "h.example", SPF_FAIL, NULL },
	{ "198.51.100.1", "a@redall.t.test", "h.example", SPF_NEUTRAL, NULL },
	{ "192.0.2.1", "a@rednone.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.2", "a@redloop.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "198.51.100.1", "a@redmatch.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.77", "a@redinc.t.test", "h.example", SPF_PASS, NULL },
	{ "198.51.100.1", "a@redinc.t.test", "h.example", SPF_SOFTFAIL,
	    NULL },
	{ "192.0.2.80", "joe@expl.t.test", "h.example", SPF_FAIL,
	    "joe may not send from 192.0.2.80 (in-addr)" },
	{ "192.0.2.80", "jack&jill=up@explup.t.test", "h.example", SPF_FAIL,
	    "http://x.test/?l=jack%26jill%3Dup" },
	{ "192.0.2.80", "a@explmulti.t.test", "h.example", SPF_FAIL, "" },
	{ "192.0.2.80", "a@expltemp.t.test", "h.example", SPF_FAIL, "" },
	{ "192.0.2.80", "a@explsyn.t.test", "h.example", SPF_FAIL, "" },
	{ "192.0.2.80", "a@explred.t.test", "h.example", SPF_FAIL, "" },
	{ "192.0.2.80", "a@explinc.t.test", "h.example", SPF_FAIL,
	    "the top record says no" },
	{ "2001:db8::cb01", "a@expl6.t.test", "h.example", SPF_FAIL,
	    "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2"
	    ".ip6.arpa is 2001:db8::cb01" },
	{ "192.0.2.40", "a@explp.t.test", "h.example", SPF_FAIL,
	    "connect from good.ptr.t.test" },
	{ "192.0.2.41", "a@explp.t.test", "h.example", SPF_FAIL,
	    "connect from unknown" },
	{ "192.0.2.80", "@expl.t.test", "h.example", SPF_FAIL,
	    "postmaster may not send from 192.0.2.80 (in-addr)" },
	{ "192.0.2.80", "a@explctl.t.test", "h.example", SPF_FAIL, "" },
	{ "192.0.2.40", "a@explpn.t.test", "h.example", SPF_FAIL,
	    "good.ptr.t.test was validated" },
	{ "192.0.2.41", "a@explpn.t.test", "h.example", SPF_FAIL, "" },
	{ "192.0.2.97", "j\xc3\xb6rg@b\xc3\xbc" "cher.t.test", "h.example",
	    SPF_PASS, NULL },
	{ "192.0.2.98", "a@b\xc3\xbc" "cher.t.test", "h.example", SPF_FAIL,
	    NULL },
	{ "192.0.2.97", "", "B\xc3\xbc" "CHER.t.test", SPF_PASS, NULL },
	{ "192.0.2.97", "a@b\xc3\xbc\xc3.t.test", "h.example", SPF_NONE,
	    NULL },
	{ "192.0.2.90", "a@ten.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.90", "a@eleven.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.90", "a@incten.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.90", "a@incover.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.91", "a@void2.t.test", "h.example", SPF_PASS, NULL },
	{ "192.0.2.91", "a@void3.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.91", "a@voidmix.t.test", "h.example", SPF_PERMERROR, NULL },
	{ "192.0.2.95", "", "helo.t.test", SPF_PASS, NULL },
	{ "192.0.2.96", "", "helo.t.test", SPF_FAIL, NULL },
	{ "192.0.2.95", "", "A2345678", SPF_NONE, NULL },
	{ "192.0.2.95", "", "[192.0.2.95]", SPF_NONE, NULL },
	{ "192.0.2.95", "", NULL, SPF_NONE, NULL },
	{ "192.0.2.1", "a@[192.0.2.1]", "h.example", SPF_NONE, NULL },
	{ "192.0.2.1", "a@a..t.test", "h.example", SPF_NONE, NULL },
	{ "192.0.2.1", "nodomain", "h.example", SPF_NONE, NULL },
	{ "192.0.2.1", "a@a234567890123456789012345678901234567890123456789"
	    "0123456789012345.t.test", "h.example", SPF_NONE, NULL },
};

static void
run_check(int sync, const struct check *c)
{
	struct fakedns		 f;
	struct spf_resolver	 res = { fake_lookup, fake_cancel, &f };
	struct result		 r;
	struct netaddr		 ip;
	struct spf_query	*q;
	const char		*mode = sync ? "sync" : "async";

	memset(&f, 0, sizeof(f));
	memset(&r, 0, sizeof(r));
	f.sync = sync;
	netaddr_parse(c->ip, &ip);
	q = spf_check(&res, &ip, c->sender, c->helo, "relay.test.example",
	    on_done, &r);
	if (sync || q == NULL)
		ok(q == NULL && r.done == 1, "%s: %s from %s: done before "
		    "spf_check returned", mode, c->sender, c->ip);
	fake_drain(&f);
	if (!is_str(spf_result_name(r.out.result), spf_result_name(c->want),
	    "%s: %s from %s%s%s: %s", mode, c->sender, c->ip,
	    c->helo ? " helo " : "", c->helo ? c->helo : "",
	    spf_result_name(c->want)) || r.done != 1)
		diag("done %d times; why: %s", r.done, r.out.why);
	else if (r.out.why[0] == '\0' && c->want != SPF_NONE)
		ok(0, "a why");
	if (c->exp != NULL)
		is_str(r.out.explanation, c->exp, "%s: %s: explanation", mode,
		    c->sender);
	is_int(f.n, 0, "%s: %s: no question left", mode, c->sender);
}

static void
test_checks(void)
{
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		run_check(0, &checks[i]);
		run_check(1, &checks[i]);
	}
}

/* The words of why and of the outcome, for a few cases. */
static void
test_why(void)
{
	static const struct {
		const char	*ip, *sender, *why;
	} whys[] = {
		{ "192.0.2.70", "a@inc.t.test", "\"include:incpass.t.test\" "
		    "matched in the record of inc.t.test, by "
		    "\"ip4:192.0.2.70\" in incpass.t.test" },
		{ "192.0.2.71", "a@inc.t.test", "\"-all\" matched in the "
		    "record of inc.t.test" },
		{ "192.0.2.1", "a@empty.t.test", "no mechanism matched in the "
		    "record of empty.t.test (neutral by default)" },
		{ "192.0.2.1", "a@two.t.test", "2 SPF records at two.t.test" },
		{ "192.0.2.1", "a@syntax.t.test", "record of syntax.t.test: "
		    "syntax error at \"moo\"" },
		{ "192.0.2.90", "a@eleven.t.test", "more than 10 DNS-querying "
		    "terms (at \"a\" in the record of eleven.t.test)" },
		{ "192.0.2.91", "a@void3.t.test", "more than 2 void lookups "
		    "(the last: v3.t.test)" },
		{ "192.0.2.1", "a@incloopa.t.test", "include:incloopa.t.test: "
		    "a loop" },
		{ "192.0.2.1", "a@incnone.t.test", "include:none.t.test: no "
		    "SPF record" },
		{ "192.0.2.1", "a@timeout.t.test", "DNS lookup of TXT "
		    "timeout.t.test failed (time-out or server failure)" },
		{ "192.0.2.21", "a@mxmany.t.test", "more than 10 MX records "
		    "at mxmany.t.test" },
		{ "192.0.2.77", "a@red.t.test", "\"ip4:192.0.2.0/24\" matched "
		    "in the record of ip.t.test (redirect= of red.t.test)" },
	};
	struct fakedns		 f;
	struct spf_resolver	 res = { fake_lookup, fake_cancel, &f };
	struct result		 r;
	struct netaddr		 ip;
	size_t			 i;

	for (i = 0; i < sizeof(whys) / sizeof(whys[0]); i++) {
		memset(&f, 0, sizeof(f));
		memset(&r, 0, sizeof(r));
		netaddr_parse(whys[i].ip, &ip);
		spf_check(&res, &ip, whys[i].sender, "h.example", NULL,
		    on_done, &r);
		fake_drain(&f);
		is_str(r.out.why, whys[i].why, "why: %s", whys[i].sender);
	}
	memset(&f, 0, sizeof(f));
	memset(&r, 0, sizeof(r));
	netaddr_parse("192.0.2.95", &ip);
	spf_check(&res, &ip, "", "helo.t.test", NULL, on_done, &r);
	fake_drain(&f);
	ok(r.out.helo && strcmp(r.out.domain, "helo.t.test") == 0,
	    "the null sender: the HELO identity, its domain named");
	memset(&r, 0, sizeof(r));
	spf_check(&res, &ip, "x@inc.t.test", "h", NULL, on_done, &r);
	fake_drain(&f);
	ok(!r.out.helo && strcmp(r.out.domain, "inc.t.test") == 0,
	    "a sender: the MAIL FROM identity, its domain named");
}

/* Cancelled midway: done never runs, and every question is withdrawn. */
static void
test_cancel(void)
{
	struct fakedns		 f;
	struct spf_resolver	 res = { fake_lookup, fake_cancel, &f };
	struct result		 r;
	struct netaddr		 ip;
	struct spf_query	*q;
	struct pending		 p;

	memset(&f, 0, sizeof(f));
	memset(&r, 0, sizeof(r));
	netaddr_parse("192.0.2.22", &ip);
	q = spf_check(&res, &ip, "a@mx.t.test", "h", NULL, on_done, &r);
	ok(q != NULL && f.n == 1, "a check waits for its TXT");
	/* The TXT, then the MX: two host look-ups are in flight. */
	p = f.q[0];
	f.n = 0;
	answer(p.qtype, p.name, p.cb, p.arg);
	p = f.q[0];
	memmove(&f.q[0], &f.q[1], (f.n - 1) * sizeof(f.q[0]));
	f.n--;
	answer(p.qtype, p.name, p.cb, p.arg);
	is_int(f.n, 2, "two MX hosts asked for at once");
	spf_cancel(q);
	is_int(f.cancelled, 2, "cancelled: both questions withdrawn");
	fake_drain(&f);
	is_int(r.done, 0, "done never ran");
}

int
main(void)
{
	test_records();
	test_terms();
	test_domains();
	test_macros();
	test_header();
	test_checks();
	test_why();
	test_cancel();
	return done_testing();
}
