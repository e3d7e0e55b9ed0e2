/*
 * text: text_clean against controls, C1 in both its forms, and broken
 * UTF-8; printable UTF-8 is kept.
 */
#include <string.h>

#include "tap.h"
#include "text.h"

static void
clean(const char *in, const char *want, size_t nwant, const char *what)
{
	char	buf[256];
	size_t	n;

	strlcpy(buf, in, sizeof(buf));
	n = text_clean(buf);
	is_str(buf, want, "%s", what);
	is_int((int)n, (int)nwant, "%s: %zu replaced", what, nwant);
}

static void
redact(const char *in, const char *want, size_t nwant, const char *what)
{
	char	buf[256];
	size_t	n;

	n = text_redact(in, buf, sizeof(buf));
	is_str(buf, want, "redact: %s", what);
	is_int((int)n, (int)nwant, "redact: %s: %zu redacted", what, nwant);
}

int
main(void)
{
	char	small[12];
	size_t	n;
	clean("plain ascii line", "plain ascii line", 0, "ASCII is kept");
	clean("j\xc3\xb6rg@b\xc3\xbc" "cher.example", "j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example", 0, "UTF-8 is kept");
	clean("\xe2\x98\x83 \xf0\x9f\x93\xa7", "\xe2\x98\x83 \xf0\x9f\x93\xa7",
	    0, "3- and 4-octet sequences are kept");
	clean("red\x1b[31mtext", "red?[31mtext", 1, "ESC (C0) goes");
	clean("a\tb\rc\nd\x7f", "a?b?c?d?", 4, "TAB, CR, LF and DEL go");
	clean("csi\xc2\x9b" "31m", "csi?31m", 1, "U+009B, C1 as UTF-8, goes");
	clean("csi\x9b" "31m", "csi?31m", 1, "0x9b, C1 as one octet, goes");
	clean("\xc2\x80\xc2\x9f\xc2\xa0", "??\xc2\xa0", 2,
	    "U+0080..U+009F go, U+00A0 stays");
	clean("\xc0\xaf", "??", 2, "an overlong form goes");
	clean("\xed\xa0\x80", "???", 3, "a surrogate goes");
	clean("\xf4\x90\x80\x80", "????", 4, "beyond U+10FFFF goes");
	clean("cut\xe2\x98", "cut??", 2, "a cut sequence goes");
	redact("msgid=1 status=sent", "msgid=1 status=sent", 0,
	    "a line without an address is kept");
	redact("from=<bob@example.org> to=<alice@acme.example> dsn=2.0.0",
	    "from=<redacted> to=<redacted> dsn=2.0.0", 2,
	    "from= and to= fields");
	redact("550 5.1.1 <bob@x.example>: Recipient address rejected",
	    "550 5.1.1 <redacted>: Recipient address rejected", 1,
	    "an address quoted in a reply");
	redact("550 user bob@x.example unknown, try Bob.Smith@x.example.",
	    "550 user redacted unknown, try redacted", 2,
	    "bare addresses in a reply");
	redact("to=<\"a b\"@x.example> ok", "to=<redacted> ok", 1,
	    "a quoted local part with a space");
	redact("rcpt bob@[192.0.2.1] ok", "rcpt redacted ok", 1,
	    "an address literal");
	redact("RCPT TO:<@relay.example:bob@x.example>",
	    "RCPT TO:<redacted:redacted>", 2, "a source route");
	redact("from=<> to=<>", "from=<> to=<>", 0, "null paths are kept");
	redact("a @ b", "a @ b", 0, "a lone @ is kept");
	redact("helo=evil@x", "helo=redacted", 1, "an address in a HELO");
	n = text_redact("to=<bob@example.org> and more", small,
	    sizeof(small));
	is_str(small, "to=<redacte", "redact: cut to the buffer");
	is_int((int)n, 1, "redact: cut, still counted");
	return done_testing();
}
