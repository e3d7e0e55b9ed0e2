/*
 * Fuzz target: control requests (common/control_req.c).
 *
 * The input is one request line without its "\n", of exactly the fuzzer's
 * length.  The parser is strict, so a request it accepts has one spelling
 * up to its arguments' %-escapes: the words of its command, then the
 * queue id or "all", "from" and the address as written, or the arguments
 * as relayctl encodes them, then its flags (--json, --release), which
 * may come anywhere after the command.  Written out again it must parse
 * to the same request, and be the input, octet for octet, when the input
 * had no escape and no flag; its level must be the table's.  M_CTL_REQ's payload of it must
 * read back the same, and cut short must not.
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

	if (a->cmd != b->cmd || a->all != b->all || strcmp(a->id, b->id) != 0 ||
	    a->nargs != b->nargs || strcmp(a->from, b->from) != 0 ||
	    a->level != b->level || a->flags != b->flags)
		return 0;
	for (i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i], b->args[i]) != 0)
			return 0;
	return 1;
}

/*
 * The administrator's: they destroy mail, change every tenant's flow,
 * list or search addresses, or mail tenants' contacts.
 */
static int
admin(enum ctl_cmd cmd)
{
	return cmd == CTL_QUEUE_REMOVE || cmd == CTL_QUEUE_BOUNCE ||
	    cmd == CTL_GREYLIST_WHITELIST || cmd == CTL_GREYLIST_FLUSH ||
	    cmd == CTL_SHOW_RECIPIENTS || cmd == CTL_RECIPIENTS_FORGET ||
	    cmd == CTL_NOTICES_TEST || cmd == CTL_TRACE ||
	    cmd == CTL_MONITOR || cmd == CTL_HOLD_RECORDS ||
	    cmd == CTL_AUTH_SUSPEND || cmd == CTL_AUTH_RESUME ||
	    cmd == CTL_REPORT || cmd == CTL_ANNOUNCE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_req	 req, again, back;
	const char		*why, *words;
	char			 line[4 * CTL_LINE_MAX], qid[CTL_ID_LEN + 1];
	size_t			 len, i;
	int			 n;
	struct mw		 w;

	if ((why = ctl_req_parse((const char *)data, size, &req)) != NULL) {
		if (*why == '\0' || req.nargs != 0 || req.id[0] != '\0' ||
		    req.from[0] != '\0' || req.flags != 0)
			abort();
		return 0;
	}
	if (memchr(req.id, '\0', sizeof(req.id)) == NULL ||
	    memchr(req.from, '\0', sizeof(req.from)) == NULL)
		abort();
	if (req.all && req.id[0] != '\0')
		abort();
	if (req.id[0] != '\0') {
		if (!ctl_valid_id(req.id) || req.nargs != 0)
			abort();
		queue_id_format(ctl_id_value(req.id), qid, sizeof(qid));
		if (strcmp(qid, req.id) != 0)
			abort();
	}
	if (req.from[0] != '\0' && (req.cmd != CTL_SELFCHECK || req.all ||
	    req.id[0] != '\0' || req.nargs != 0))
		abort();
	if (req.nargs > CTL_ARGS_MAX || (words = ctl_cmd_words(req.cmd)) ==
	    NULL || req.words == NULL || strcmp(req.words, words) != 0)
		abort();
	if (req.level != (admin(req.cmd) ? CTL_ADMIN : CTL_OPERATOR))
		abort();
	len = (size_t)snprintf(line, sizeof(line), "%s%s%s%s%s", words,
	    req.all ? " all" : req.id[0] != '\0' ? " " : "", req.id,
	    req.from[0] != '\0' ? " from " : "", req.from);
	for (i = 0; i < req.nargs; i++) {
		if (req.args[i][0] == '\0' || len + 1 >= sizeof(line))
			abort();
		line[len++] = ' ';
		if ((n = ctl_arg_encode(req.args[i], line + len,
		    sizeof(line) - len)) == -1)
			abort();
		len += (size_t)n;
	}
	if (req.flags & CTL_F_JSON)
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    " --json");
	if (req.flags & CTL_F_RELEASE)
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    " --release");
	if (len >= sizeof(line))
		abort();
	if (memchr(data, '%', size) == NULL &&
	    memmem(data, size, "--", 2) == NULL &&
	    (len != size || memcmp(line, data, size) != 0))
		abort();
	/* Encoded afresh it may be longer than the line allows. */
	if (len <= CTL_LINE_MAX &&
	    (ctl_req_parse(line, len, &again) != NULL || !same(&req, &again)))
		abort();
	mw_init(&w);
	ctl_req_write(&w, &req);
	if (w.err || ctl_req_read(w.buf, w.len, &back) == -1 ||
	    !same(&req, &back))
		abort();
	if (ctl_req_read(w.buf, w.len - 1, &back) != -1)
		abort();
	return 0;
}
