/*
 * parent_kidmsg: children's messages to the parent, decoded and checked.
 */
#include <string.h>
#include <syslog.h>

#include "envelope.h"
#include "marshal.h"
#include "msg_redis.h"
#include "parent_kidmsg.h"
#include "text.h"

/* A string field, cleaned; -1 if it is missing or does not fit. */
static int
text_field(struct mr *r, char *dst, size_t sz)
{
	mr_str(r, dst, sz);
	if (r->err)
		return -1;
	text_clean(dst);
	return 0;
}

static int
decode_log(struct mr *r, struct kidmsg *m, const char **why)
{
	uint8_t pri = mr_u8(r);

	if (text_field(r, m->text, LOG_LINE_MAX) == -1 || mr_end(r) == -1) {
		*why = "malformed log line";
		return -1;
	}
	if (pri > LOG_DEBUG) {
		*why = "log priority out of range";
		return -1;
	}
	m->pri = pri;
	if (pri < LOG_CRIT) {
		m->pri = LOG_CRIT;
		m->clamped = 1;
	}
	return 0;
}

/* One attempt of the self-check; which it is, the parent checks. */
static int
decode_sc_result(struct mr *r, struct kidmsg *m, const char **why)
{
	uint8_t		stage;
	uint32_t	code;

	m->target = mr_u32(r);
	m->attempt = mr_u32(r);
	stage = mr_u8(r);
	code = mr_u32(r);
	if (text_field(r, m->text, CTL_TEXT_MAX) == -1 || mr_end(r) == -1)
		return -1;
	if (stage >= SC_STAGE_MAX || (code != 0 && (code < 200 ||
	    code > 599))) {
		*why = "a self-check result out of range";
		return -1;
	}
	m->stage = stage;
	m->code = (int)code;
	return 0;
}

/* A connection for policyd: which, the parent decides (parent_connect.c). */
static int
decode_connect(struct mr *r, struct kidmsg *m, const char **why)
{
	m->kind = mr_u8(r);
	if (text_field(r, m->text, TENANT_MAX + 1) == -1)
		return -1;
	m->index = mr_u32(r);
	if (mr_end(r) == -1)
		return -1;
	if (m->kind == 0 || m->kind >= PC_KIND_MAX) {
		*why = "a connection of no known kind";
		return -1;
	}
	return 0;
}

int
kidmsg_decode(const struct imsg *imsg, struct kidmsg *m, const char **why)
{
	struct mr r;

	memset(m, 0, sizeof(*m));
	m->type = imsg->hdr.type;
	m->peerid = imsg->hdr.peerid;
	if (imsg->fd != -1 || imsg_has_fd(imsg)) {
		*why = "a descriptor";
		return -1;
	}
	mr_init(&r, imsg->data, imsg->datalen);
	*why = "malformed";
	switch (imsg->hdr.type) {
	case M_LOG:
		return decode_log(&r, m, why);
	case M_STATUS:
	case M_CTL_LINE:
		if (text_field(&r, m->text, CTL_TEXT_MAX) == -1)
			return -1;
		return mr_end(&r);
	case M_CONF_ACK:
		m->gen = mr_u32(&r);
		return mr_end(&r);
	case M_MT_OPEN:
		m->gen = mr_u32(&r);
		m->ep = mr_u32(&r);
		return mr_end(&r);
	case M_RD_OPEN:
		m->node = mr_u32(&r);
		return mr_end(&r);
	case M_CONF_FAIL:
		m->gen = mr_u32(&r);
		if (text_field(&r, m->text, CTL_TEXT_MAX) == -1)
			return -1;
		return mr_end(&r);
	case M_CTL_PAUSE:
	case M_SC_DONE:
	case M_MX_SCRAPE:
	case M_MX_END:
		return mr_end(&r);
	case M_MX_SAMPLES:
		/* Room to wrap it for metricsd, who checks what it says. */
		if (imsg->datalen == 0 ||
		    imsg->datalen > IMSG_MAX_PAYLOAD - MX_WRAP_RESERVE) {
			*why = "a frame of samples too long or empty";
			return -1;
		}
		m->data = imsg->data;
		m->datalen = imsg->datalen;
		return 0;
	case M_SC_RESULT:
		return decode_sc_result(&r, m, why);
	case M_PC_CONNECT:
		return decode_connect(&r, m, why);
	case M_CTL_DONE:
		m->ok = mr_u8(&r);
		if (text_field(&r, m->text, CTL_TEXT_MAX) == -1 ||
		    mr_end(&r) == -1)
			return -1;
		if (m->ok > 1) {
			*why = "an answer neither OK nor ERR";
			return -1;
		}
		return 0;
	}
	*why = "unknown message type";
	return -1;
}
