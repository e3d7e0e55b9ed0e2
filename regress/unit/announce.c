/*
 * announce: the checks of an announcement's text and its subject
 * (common/announce.c), which relayctl, the parent and queued each apply
 * to what a client sent.
 */
#include <stdlib.h>
#include <string.h>

#include "common/announce.h"
#include "common/config.h"
#include "tap.h"

static void
check(const char *s, size_t len, int want_ok, const char *what)
{
	const char *why = announce_text_check(s, len);

	ok(want_ok ? why == NULL : why != NULL, "%s: %s", what,
	    why ? why : "accepted");
}

static void
test_text(void)
{
	char	*big;

	check("hello\n", 6, 1, "ASCII");
	check("hello", 5, 1, "no final line end");
	check("a\tb\r\nc\n", 7, 1, "tab and CRLF");
	check("J\xc3\xb6rg \xe2\x82\xac \xf0\x9f\x98\x80\n", 15, 1, "UTF-8");
	check("", 0, 0, "empty");
	check("a\0b\n", 4, 0, "a NUL");
	check("a\x1b[31m\n", 7, 0, "an escape");
	check("a\x7f\n", 3, 0, "DEL");
	check("a\rb\n", 4, 0, "a bare CR");
	check("a\r", 2, 0, "a CR at the end");
	check("J\xf6rg\n", 5, 0, "Latin-1");
	check("\xc0\xaf\n", 3, 0, "an overlong slash");
	check("\xe0\x80\xaf\n", 4, 0, "an overlong of three");
	check("\xed\xa0\x80\n", 4, 0, "a surrogate");
	check("\xf4\x90\x80\x80\n", 5, 0, "past U+10FFFF");
	check("\xe2\x82", 2, 0, "a sequence cut short");
	check("\xc2\xa0\x80", 3, 0, "a stray continuation");
	if ((big = malloc(ANNOUNCE_MAX + 2)) == NULL)
		abort();
	memset(big, 'a', 998);
	big[998] = '\n';
	check(big, 999, 1, "a line of 998 octets");
	big[998] = 'a';
	big[999] = '\n';
	check(big, 1000, 0, "a line of 999 octets");
	memcpy(big, "\xc3\xb6", 2);
	big[998] = '\n';
	check(big, 999, 1, "998 octets, a character of two included");
	memset(big, 'a', ANNOUNCE_MAX + 1);
	for (size_t i = 99; i < ANNOUNCE_MAX + 1; i += 100)
		big[i] = '\n';
	check(big, ANNOUNCE_MAX, 1, "64 KB");
	check(big, ANNOUNCE_MAX + 1, 0, "64 KB and one");
	free(big);
}

static void
subject(const char *text, const char *want, size_t want_skip,
    const char *what)
{
	char	buf[ANNOUNCE_SUBJECT_MAX + 1];
	size_t	skip;

	announce_subject(text, strlen(text), buf, sizeof(buf), &skip);
	is_str(buf, want, "%s: the subject", what);
	is_int((long long)skip, (long long)want_skip, "%s: what it skips",
	    what);
}

static void
test_subject(void)
{
	const char	*dflt =
	    "An announcement from the mail relay's operator";
	char		 longer[300];

	subject("Subject: Maintenance\n\nText\n", "Maintenance", 22,
	    "a subject and a blank line");
	subject("Subject: Maintenance\r\n\r\nText\n", "Maintenance", 24,
	    "with CRLF");
	subject("Subject: Maintenance\nText\n", "Maintenance", 21,
	    "no blank line");
	subject("Hello\nSubject: no\n", dflt, 0, "not the first line");
	subject("Subject: \n\nText\n", dflt, 0, "an empty subject");
	subject("Subject: J\xc3\xb6rg\n\nText\n", dflt, 0,
	    "not ASCII: the line stays in the text");
	subject("Subject: no line end", dflt, 0, "no line end");
	memset(longer, 'x', sizeof(longer));
	memcpy(longer, "Subject: ", 9);
	longer[sizeof(longer) - 2] = '\n';
	longer[sizeof(longer) - 1] = '\0';
	subject(longer, dflt, 0, "a subject too long");
}

static void
test_roles(void)
{
	is_int(announce_role("policy"), CONTACT_POLICY, "policy");
	is_int(announce_role("billing"), CONTACT_BILLING, "billing");
	is_int(announce_role("Policy"), 0, "case matters");
	is_int(announce_role(""), 0, "empty");
	is_int(announce_role("boss"), 0, "unknown");
}

int
main(void)
{
	test_text();
	test_subject();
	test_roles();
	return done_testing();
}
