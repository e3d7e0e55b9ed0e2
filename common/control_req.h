/*
 * control_req: the control socket protocol.
 *
 * relayctl sends one request line (at most CTL_LINE_MAX octets, "\n"
 * terminated): lower-case words separated by single spaces.  relayd answers
 * with data lines prefixed "- " and one final line, "OK" or "ERR reason".
 * The parser is strict on purpose: anything it does not know is refused.
 *
 * Commands that take arbitrary arguments (an address whose local part
 * holds spaces) have them percent-encoded: "%", space, controls, DEL and
 * octets from 0x80 become %XX (ctl_arg_encode), so each argument is one
 * word of printable ASCII, and the parser gives them back decoded.  An
 * argument may not be empty nor hold a control character.
 *
 * Each command has a level: anyone who may connect (control_group) may
 * run an operator's command; an administrator's (CTL_ADMIN) needs
 * control_admin_group too, which the parent checks.  A new command
 * chooses its level in the table of control_req.c.
 *
 * A flag (--json, --release) is a word of its own, allowed only where
 * the command's entry says so; the parser takes it off and sets it in
 * flags.  A command that answers in JSON (for scripts) takes --json.
 */
#ifndef RELAYD_CONTROL_REQ_H
#define RELAYD_CONTROL_REQ_H

#include <stddef.h>
#include <stdint.h>

#define CTL_LINE_MAX	2048
#define CTL_ID_LEN	16	/* queue ids: 16 lower-case hex digits */
#define CTL_ARGS_MAX	4	/* arguments of one command, decoded */
#define CTL_ARG_MAX	512	/* one of them, with its NUL */
#define CTL_ADDR_LEN	45	/* an IPv4 or IPv6 address, as text */

enum ctl_level {
	CTL_OPERATOR,		/* control_group: status, queue, stats */
	CTL_ADMIN		/* control_admin_group as well */
};

#define CTL_F_JSON	0x1	/* --json: answer in JSON */
#define CTL_F_RELEASE	0x2	/* --release (hold-records) */

enum ctl_cmd {
	CTL_SHOW_STATUS,
	CTL_SHOW_QUEUE,
	CTL_RELOAD,
	CTL_LOG_VERBOSE,
	CTL_LOG_BRIEF,
	CTL_QUEUE_FLUSH,	/* id, or all */
	CTL_QUEUE_HOLD,
	CTL_QUEUE_RELEASE,
	CTL_QUEUE_REMOVE,
	CTL_QUEUE_BOUNCE,
	CTL_SHOW_CORRUPT,	/* queued's quarantine */
	CTL_TEST_SPF,		/* policyd: IP SENDER [HELO] */
	CTL_TEST_DNSBL,		/* policyd: IP */
	CTL_SHOW_GREYLIST,	/* policyd: [TENANT] */
	CTL_GREYLIST_WHITELIST,	/* policyd: ADDR | NET | DOMAIN */
	CTL_GREYLIST_FLUSH,	/* policyd */
	CTL_SELFCHECK,		/* [from ADDRESS]: the open-relay check */
	CTL_SHOW_RECIPIENTS,	/* policyd: TENANT */
	CTL_RECIPIENTS_FORGET,	/* policyd: TENANT ADDRESS */
	CTL_SHOW_TENANT,	/* queued: TENANT [--json] */
	CTL_NOTICES_TEST,	/* queued: TENANT */
	CTL_TRACE,		/* ID or ADDRESS: the record store */
	CTL_MONITOR,		/* records as they are written */
	CTL_HOLD_RECORDS,	/* [TENANT|ADDRESS] [--release] */
	CTL_SHOW_STATS,		/* queued: [TENANT] [--days N] [--json] */
	CTL_AUTH_SUSPEND,	/* policyd: TENANT USER */
	CTL_AUTH_RESUME,	/* policyd: TENANT USER */
	CTL_REPORT,		/* queued: TENANT, this month's report now */
	CTL_ANNOUNCE		/* queued: OCTETS [role ROLE], then the text */
};

#define CTL_JSON_WORD	"--json"

struct ctl_req {
	enum ctl_cmd	cmd;
	enum ctl_level	level;
	const char	*words;			/* the command, for logs */
	int		all;			/* queue flush all */
	char		id[CTL_ID_LEN + 1];	/* "" when none */
	unsigned	flags;			/* CTL_F_* */
	size_t		nargs;
	char		args[CTL_ARGS_MAX][CTL_ARG_MAX];	/* decoded */
	char		from[CTL_ADDR_LEN + 1];	/* selfcheck; or "" */
};

struct mw;

/* Parse one line without its "\n"; NULL or the reason it was refused. */
const char *ctl_req_parse(const char *line, size_t len, struct ctl_req *);
int	 ctl_valid_id(const char *);
uint64_t ctl_id_value(const char *);
/* One argument as a word of the request line: its length, or -1. */
int	 ctl_arg_encode(const char *, char *, size_t);
/* The words of a command, for relayctl and the tests. */
const char *ctl_cmd_words(enum ctl_cmd);
/*
 * M_CTL_REQ's payload (msg_parent.h) from a parsed request, and back: -1
 * when it is malformed or breaks what ctl_req_parse would have allowed.
 */
void	 ctl_req_write(struct mw *, const struct ctl_req *);
int	 ctl_req_read(const void *, size_t, struct ctl_req *);

#endif
