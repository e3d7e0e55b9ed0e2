/*
 * Fuzz target: control requests (common/control_req.c).
 *
 * The input is one request line without its "\n", of exactly the fuzzer's
 * length.  The parser is strict, so a request it accepts has one spelling:
 * the words of its command, then the queue id or "all", or "from" and
 * the address as it was written.  Written out again it must be the input,
 * octet for octet; and its level must be the one it has in the table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_req.h"
#include "envelope.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *
cmd_words(enum ctl_cmd cmd)
{
	switch (cmd) {
	case CTL_SHOW_STATUS:
		return "show status";
	case CTL_SHOW_QUEUE:
		return "show queue";
	case CTL_RELOAD:
		return "reload";
	case CTL_LOG_VERBOSE:
		return "log verbose";
	case CTL_LOG_BRIEF:
		return "log brief";
	case CTL_QUEUE_FLUSH:
		return "queue flush";
	case CTL_QUEUE_HOLD:
		return "queue hold";
	case CTL_QUEUE_RELEASE:
		return "queue release";
	case CTL_QUEUE_REMOVE:
		return "queue remove";
	case CTL_QUEUE_BOUNCE:
		return "queue bounce";
	case CTL_SHOW_CORRUPT:
		return "show corrupt";
	case CTL_SELFCHECK:
		return "selfcheck";
	}
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req	 req;
	const char	*why;
	char		 line[CTL_LINE_MAX + 1], qid[CTL_ID_LEN + 1];

	if ((why = ctl_req_parse((const char *)data, size, &req)) != NULL) {
		if (*why == '\0')
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
	if (memchr(req.from, '\0', sizeof(req.from)) == NULL)
		abort();
	if (req.from[0] != '\0' && (req.cmd != CTL_SELFCHECK ||
	    req.all || req.id[0] != '\0'))
		abort();
	if (req.words == NULL || strcmp(req.words, cmd_words(req.cmd)) != 0)
		abort();
	if (req.level != (req.cmd == CTL_QUEUE_REMOVE ||
	    req.cmd == CTL_QUEUE_BOUNCE ? CTL_ADMIN : CTL_OPERATOR))
		abort();
	snprintf(line, sizeof(line), "%s%s%s%s%s", cmd_words(req.cmd),
	    req.all ? " all" : req.id[0] != '\0' ? " " : "", req.id,
	    req.from[0] != '\0' ? " from " : "", req.from);
	if (strlen(line) != size || memcmp(line, data, size) != 0)
		abort();
	return 0;
}
