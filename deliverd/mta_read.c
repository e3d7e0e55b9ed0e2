/*
 * mta_read: the next hop's reply lines out of a bufferevent's input, for
 * sessions and callouts alike (mta_reply.c parses each line).
 */
#include <event2/buffer.h>

#include "mta_reply.h"
#include "mta_read.h"

int
mta_reply_read(struct evbuffer *in, struct mta_reply *rep)
{
	struct evbuffer_ptr	 eol;
	char			 line[REPLY_LINE_MAX + 2];
	size_t			 len, eol_len;
	int			 rv;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (eol.pos == -1)
		return evbuffer_get_length(in) > REPLY_LINE_MAX ? MR_BAD :
		    MR_MORE;
	len = (size_t)eol.pos;
	if (len > REPLY_LINE_MAX)
		return MR_BAD;
	evbuffer_remove(in, line, len + eol_len);
	line[len] = '\0';
	if ((rv = mta_reply_line(rep, line, len)) == -1)
		return MR_BAD;
	return rv == 0 ? MR_LINE : MR_DONE;
}
