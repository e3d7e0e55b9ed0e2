/*
 * Fuzz target: a child's frames as the parent reads them
 * (relayd/parent_kidmsg.c), for every message type a child may send and
 * any other.
 *
 * The input: one octet picks the type (the child's types, a parent's own
 * type, or anything), one says whether a descriptor is claimed, the rest
 * is the payload.  What the parent accepts must be clean: text without
 * control characters and NUL-terminated, a priority between LOG_CRIT and
 * LOG_DEBUG, an answer either OK or ERR; what it refuses has a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "msg_redis.h"
#include "relayd/parent_kidmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint32_t types[] = {
	M_LOG, M_STATUS, M_CONF_ACK, M_CTL_LINE, M_CTL_DONE, M_CTL_PAUSE,
	M_CTL_REQ, M_CONF_BEGIN, M_PARENT_MAX, 0, 200, 0xffffffff,
	M_CONF_FAIL, M_SC_RESULT, M_SC_DONE, M_SC_BEGIN, M_MT_OPEN,
	M_RD_OPEN, M_PC_CONNECT, M_MX_SCRAPE, M_MX_SAMPLES, M_MX_END,
};

static void
check_text(const char *s)
{
	const unsigned char *p;

	if (memchr(s, '\0', KIDMSG_TEXT) == NULL)
		abort();
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsg	 imsg;
	struct kidmsg	 m;
	const char	*why = NULL;

	if (size < 2)
		return 0;
	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	imsg.hdr.flags = data[1] & 1 ? IMSG_F_FD : 0;
	imsg.hdr.peerid = data[0];
	imsg.fd = -1;
	imsg.data = data + 2;
	imsg.datalen = size - 2;
	if (kidmsg_decode(&imsg, &m, &why) == -1) {
		if (why == NULL || *why == '\0')
			abort();
		return 0;
	}
	if (imsg_has_fd(&imsg))
		abort();
	check_text(m.text);
	switch (m.type) {
	case M_LOG:
		if (m.pri < LOG_CRIT || m.pri > LOG_DEBUG)
			abort();
		break;
	case M_CTL_DONE:
		if (m.ok != 0 && m.ok != 1)
			abort();
		break;
	case M_SC_RESULT:
		if (m.stage < 0 || m.stage >= SC_STAGE_MAX || (m.code != 0 &&
		    (m.code < 200 || m.code > 599)))
			abort();
		break;
	case M_STATUS:
	case M_CONF_ACK:
	case M_CONF_FAIL:
	case M_CTL_LINE:
	case M_CTL_PAUSE:
	case M_SC_DONE:
	case M_MT_OPEN:
	case M_RD_OPEN:
	case M_PC_CONNECT:
	case M_MX_SCRAPE:
	case M_MX_END:
		break;
	case M_MX_SAMPLES:
		/* Forwarded as is, within one frame, never empty. */
		if (m.datalen == 0 || m.datalen != imsg.datalen)
			abort();
		break;
	default:
		abort();	/* accepted a type no child sends */
	}
	return 0;
}
