/*
 * Fuzz target: control requests (common/control_req.c).
 *
 * The input is one request line without its "\n", of exactly the fuzzer's
 * length.  The parser is strict, so a request it accepts without encoded
 * arguments has one spelling: the words of its command, then the queue id
 * or "all"; written out again it must be the input, octet for octet.  One
 * with arguments (trace, hold-records) may spell them in more than one
 * way (%41 or A): written out again, with its arguments encoded, it must
 * parse to the same request.  Either must cross M_CTL_REQ unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_req.h"
#include "envelope.h"
#include "marshal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
same(const struct ctl_req *a, const struct ctl_req *b)
{
	size_t i;

	if (a->cmd != b->cmd || a->all != b->all || a->flags != b->flags ||
	    a->nargs != b->nargs || strcmp(a->id, b->id) != 0)
		return 0;
	for (i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i], b->args[i]) != 0)
			return 0;
	return 1;
}

/* The request written out: its words, id or all, arguments, flags. */
static size_t
spell(const struct ctl_req *req, char *line, size_t sz)
{
	char	enc[CTL_LINE_MAX + 1];
	size_t	i;

	snprintf(line, sz, "%s%s%s", ctl_cmd_words(req->cmd),
	    req->all ? " all" : req->id[0] != '\0' ? " " : "", req->id);
	for (i = 0; i < req->nargs; i++) {
		if (ctl_arg_encode(req->args[i], enc, sizeof(enc)) == -1)
			abort();
		strlcat(line, " ", sz);
		strlcat(line, enc, sz);
	}
	if (req->flags & CTL_F_JSON)
		strlcat(line, " --json", sz);
	if (req->flags & CTL_F_RELEASE)
		strlcat(line, " --release", sz);
	return strlen(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req	 req, again;
	struct mw	 w;
	const char	*why;
	char		 line[4 * CTL_LINE_MAX], qid[CTL_ID_LEN + 1];
	size_t		 len;

	if ((why = ctl_req_parse((const char *)data, size, &req)) != NULL) {
		if (*why == '\0' || req.nargs != 0 || req.flags != 0)
			abort();
		return 0;
	}
	if (memchr(req.id, '\0', sizeof(req.id)) == NULL)
		abort();
	if (req.all && req.id[0] != '\0')
		abort();
	if (req.id[0] != '\0') {
		if (!ctl_valid_id(req.id))
			abort();
		queue_id_format(ctl_id_value(req.id), qid, sizeof(qid));
		if (strcmp(qid, req.id) != 0)
			abort();
	}
	len = spell(&req, line, sizeof(line));
	if (req.nargs == 0 && req.flags == 0) {
		if (len != size || memcmp(line, data, size) != 0)
			abort();
	} else if (len > size || ctl_req_parse(line, len, &again) != NULL ||
	    !same(&req, &again))
		abort();	/* never longer: what we encode, it had to */
	mw_init_grow(&w);
	ctl_req_write(&w, &req);
	if (w.err || ctl_req_read(w.buf, w.len, &again) == -1 ||
	    !same(&req, &again))
		abort();
	mw_release(&w);
	return 0;
}
