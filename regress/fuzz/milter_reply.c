/*
 * Fuzz target: a milter's replies as policyd reads them
 * (policyd/milter_reply.c), and a message's header as policyd splits it
 * and queued checks edits against it (common/hdr_scan.c).
 *
 * The input is a stream of frames, each with its four-octet length; a
 * length refused, or one past the input, ends it.  What is accepted must
 * be clean: a reply code 4xx or 5xx with an enhanced code of its class
 * and printable text; a field name printable without a colon; a value
 * that ends where its frame ends.  The whole input is also scanned as a
 * stored message: its fields must tile the header, and the edits that
 * remove each field or insert one must be found whole.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hdr_scan.h"
#include "policyd/milter_reply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_reply(const struct milter_reply *r)
{
	const char	*s;
	size_t		 i;

	switch (r->cmd) {
	case SMFIR_REPLYCODE:
		if (r->code < 400 || r->code > 599 ||
		    r->enh[0] != '0' + r->code / 100 || r->text[0] == '\0')
			abort();
		for (s = r->text; *s != '\0'; s++)
			if (*s < ' ' || *s > '~')
				abort();
		if (strlen(r->text) > MILTER_TEXT_MAX)
			abort();
		break;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (r->name[0] == '\0' || strlen(r->name) > MILTER_NAME_MAX)
			abort();
		for (i = 0; r->name[i] != '\0'; i++)
			if (r->name[i] <= ' ' || r->name[i] > '~' ||
			    r->name[i] == ':')
				abort();
		if (r->value[r->vlen] != '\0' ||
		    memchr(r->value, '\0', r->vlen) != NULL)
			abort();
		break;
	}
}

static void
check_header(const uint8_t *p, size_t len)
{
	struct hdr_field	 f[64];
	struct hdr_section	 hs;
	struct hdr_edit		 e[2];
	static const uint8_t	 add[] = "X-Fuzz: yes\r\n";
	size_t			 i, at = 0;

	if (hdr_scan(p, len, 1, f, 64, &hs) == -1)
		return;
	if (hs.end > hs.body || hs.body > len)
		abort();
	for (i = 0; i < hs.n; i++) {
		if (f[i].off != at || f[i].len < 3 || f[i].nlen == 0 ||
		    p[f[i].off + f[i].nlen] != ':')
			abort();
		at += f[i].len;
		memset(e, 0, sizeof(e));
		e[0].off = f[i].off;
		e[0].del = f[i].len;
		e[0].ins = add;
		e[0].inslen = sizeof(add) - 1;
		if (hdr_edits_ok(f, &hs, e, 1) == -1)
			abort();
		e[0].off++;
		if (hdr_edits_ok(f, &hs, e, 1) == 0)
			abort();
	}
	if (at != hs.end)
		abort();
	(void)hdr_fields_ok(p, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct milter_reply	 r;
	const char		*why;
	size_t			 off = 0, len;

	while (size - off >= 4) {
		if (milter_frame_len(data + off, &len, &why) == -1 ||
		    len > size - off - 4)
			break;
		if (milter_reply_parse(data + off + 4, len, &r, &why) == 0)
			check_reply(&r);
		else if (why == NULL)
			abort();
		off += 4 + len;
	}
	check_header(data, size);
	return 0;
}
