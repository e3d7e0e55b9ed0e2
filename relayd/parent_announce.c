/*
 * parent_announce: relayctl announce's text, on its way to queued.
 *
 * The parent runs as root: it never opens a path a client names.
 * relayctl reads the file with its caller's rights and sends the text
 * after the request line (announce.h); parent_control.c takes exactly as
 * many octets as the line announced, and only from an administrator.
 * Here the text is checked again, as relayctl may be anything that can
 * connect, and goes to queued in parts (M_CTL_TEXT) ahead of the request
 * itself, which queued answers.
 */
#include <stdio.h>
#include <string.h>

#include "announce.h"
#include "chan.h"
#include "log.h"
#include "msg_parent.h"
#include "relayd.h"

int
announce_forward(struct chan *ch, uint64_t id, const char *text, size_t len,
    char *err, size_t errsz)
{
	const char	*why;
	size_t		 off, n;

	if ((why = announce_text_check(text, len)) != NULL) {
		strlcpy(err, why, errsz);
		return -1;
	}
	if (ch == NULL) {
		strlcpy(err, "queued is not running", errsz);
		return -1;
	}
	for (off = 0; off < len; off += n) {
		n = len - off < ANNOUNCE_PART ? len - off : ANNOUNCE_PART;
		if (chan_send(ch, M_CTL_TEXT, id, -1, text + off, n) == -1) {
			strlcpy(err, "cannot reach queued", errsz);
			return -1;
		}
	}
	return 0;
}
