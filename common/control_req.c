/*
 * control_req: strict parser for control requests.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "control_req.h"

/*
 * Every command with its level: an entry without one does not compile
 * (-Wmissing-field-initializers), so adding a command means choosing.
 */
struct verb {
	const char	*words;		/* space-separated */
	enum ctl_cmd	 cmd;
	int		 arg;		/* 0 none, 1 id, 2 id or "all",
					   3 none or "from ADDRESS" */
	enum ctl_level	 level;
};

static const struct verb verbs[] = {
	{ "show status", CTL_SHOW_STATUS, 0, CTL_OPERATOR },
	{ "show queue", CTL_SHOW_QUEUE, 0, CTL_OPERATOR },
	{ "reload", CTL_RELOAD, 0, CTL_OPERATOR },
	{ "log verbose", CTL_LOG_VERBOSE, 0, CTL_OPERATOR },
	{ "log brief", CTL_LOG_BRIEF, 0, CTL_OPERATOR },
	{ "queue flush", CTL_QUEUE_FLUSH, 2, CTL_OPERATOR },
	{ "queue hold", CTL_QUEUE_HOLD, 1, CTL_OPERATOR },
	{ "queue release", CTL_QUEUE_RELEASE, 1, CTL_OPERATOR },
	{ "queue remove", CTL_QUEUE_REMOVE, 1, CTL_ADMIN },
	{ "queue bounce", CTL_QUEUE_BOUNCE, 1, CTL_ADMIN },
	{ "show corrupt", CTL_SHOW_CORRUPT, 0, CTL_OPERATOR },
	{ "selfcheck", CTL_SELFCHECK, 3, CTL_OPERATOR },
};

int
ctl_valid_id(const char *s)
{
	size_t i;

	for (i = 0; i < CTL_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[CTL_ID_LEN] == '\0';
}

uint64_t
ctl_id_value(const char *s)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < CTL_ID_LEN; i++)
		v = (v << 4) | (uint64_t)(s[i] <= '9' ? s[i] - '0' :
		    s[i] - 'a' + 10);
	return v;
}

/* "from ADDRESS": an IPv4 or IPv6 address as inet_pton reads it. */
static const char *
parse_from(const char *rest, struct ctl_req *req)
{
	unsigned char	 a[16];
	const char	*addr;

	if (strncmp(rest, "from ", 5) != 0)
		return "expected \"from ADDRESS\"";
	addr = rest + 5;
	if (strlen(addr) > CTL_ADDR_LEN || (inet_pton(AF_INET, addr, a) != 1 &&
	    inet_pton(AF_INET6, addr, a) != 1))
		return "bad address (an IPv4 or IPv6 address)";
	strlcpy(req->from, addr, sizeof(req->from));
	return NULL;
}

const char *
ctl_req_parse(const char *line, size_t len, struct ctl_req *req)
{
	char		 buf[CTL_LINE_MAX + 1];
	const struct verb *v;
	size_t		 i, vlen;
	const char	*rest;

	memset(req, 0, sizeof(*req));
	if (len == 0)
		return "empty request";
	if (len > CTL_LINE_MAX)
		return "request too long";
	/*
	 * Letters of either case pass here, to get the precise reason;
	 * '.' and ':' for addresses.
	 */
	for (i = 0; i < len; i++)
		if (!((line[i] >= 'a' && line[i] <= 'z') ||
		    (line[i] >= 'A' && line[i] <= 'Z') ||
		    (line[i] >= '0' && line[i] <= '9') || line[i] == ' ' ||
		    line[i] == '.' || line[i] == ':'))
			return "bad character in request";
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (buf[0] == ' ' || buf[len - 1] == ' ' || strstr(buf, "  "))
		return "words must be separated by one space";
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		v = &verbs[i];
		vlen = strlen(v->words);
		if (strncmp(buf, v->words, vlen) != 0 ||
		    (buf[vlen] != '\0' && buf[vlen] != ' '))
			continue;
		req->cmd = v->cmd;
		req->level = v->level;
		req->words = v->words;
		rest = buf[vlen] == ' ' ? buf + vlen + 1 : NULL;
		if (v->arg == 0)
			return rest == NULL ? NULL : "unexpected argument";
		if (v->arg == 3)
			return rest == NULL ? NULL : parse_from(rest, req);
		if (rest == NULL)
			return v->arg == 2 ? "expected a queue id or \"all\"" :
			    "expected a queue id";
		if (v->arg == 2 && strcmp(rest, "all") == 0) {
			req->all = 1;
			return NULL;
		}
		if (!ctl_valid_id(rest))
			return "bad queue id (16 hex digits)";
		memcpy(req->id, rest, CTL_ID_LEN + 1);
		return NULL;
	}
	return "unknown request";
}
