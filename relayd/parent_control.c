/*
 * parent_control: the control socket relayctl talks to.
 *
 * One request per connection (control_req.h).  What the parent knows it
 * answers itself; status is gathered from every child; queue requests go
 * to queued, test and greylist requests to policyd, and their lines are
 * passed through.  The socket is 0660 and group control_group: being able
 * to connect is the authorisation for an operator's commands.  An
 * administrator's (control_req.c says which) needs root, or
 * control_admin_group as the caller's group or one of its supplementary
 * groups, which the kernel tells us (SO_PEERCRED,
 * SO_PEERGROUPS) as they were when it connected.  Every request is
 * logged with the caller's uid, refused or not.
 *
 * A listing comes from the child in parts (ctl_stream.h), and the next
 * part is asked for only once relayctl has read all but CTL_OUT_LOW of
 * what it was given: the parent holds about a part per connection, never
 * the whole queue.  A relayctl that goes away cancels its listing; one
 * that stops reading has it abandoned by the child after timeouts.control
 * (ERR), and an answer left unread as long again after its end is dropped
 * with the connection.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "announce.h"
#include "chan.h"
#include "control_req.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "relayd.h"

#define CTL_MAX_CONNS		32
#define CTL_STATUS_WAIT		2	/* seconds for children to answer */
#define CTL_IDLE_TIMEOUT	10
#define CTL_FORWARD_WAIT	60
#define CTL_OUT_LOW		(64 * 1024)	/* ask for more below this */
#define CTL_OUT_MAX		(1024 * 1024)	/* more: sent unasked */

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 entry;
	struct control		*ctl;
	uint64_t		 id;
	struct bufferevent	*bev;
	struct event		*timer;
	uid_t			 uid;
	gid_t			 gid;
	int			 admin;		/* in control_admin_group */
	int			 closing;
	int			 waiting;	/* status, reload or forward */
	enum proc_id		 at;		/* holds the request, or
						   PROC_PARENT */
	int			 paused;	/* at waits for M_CTL_MORE */
	enum ctl_cmd		 cmd;
	char			 status[PROC_MAX][512];
	int			 answered[PROC_MAX];
	/* announce: its request, and the text that follows the line. */
	struct ctl_req		*areq;
	char			*text;
	size_t			 want, got;
};

struct control {
	struct relayd		*env;
	int			 fd;
	char			 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct event		*ev;
	TAILQ_HEAD(, ctl_conn)	 conns;
	unsigned		 nconns;
	uint64_t		 next_id;
	struct ctl_conn		*reloading;
};

static void	conn_free(struct ctl_conn *);
static void	conn_wait(struct ctl_conn *, int);

static struct ctl_conn *
conn_by_id(struct control *ctl, uint64_t id)
{
	struct ctl_conn *cc;

	TAILQ_FOREACH(cc, &ctl->conns, entry)
		if (cc->id == id && !cc->closing)
			return cc;
	return NULL;
}

static void
conn_line(struct ctl_conn *cc, const char *line)
{
	evbuffer_add_printf(bufferevent_get_output(cc->bev), "- %s\n", line);
}

/* The child that holds the request is to forget it. */
static void
conn_cancel(struct ctl_conn *cc)
{
	struct kid *k;

	if (cc->at == PROC_PARENT)
		return;
	k = &cc->ctl->env->kids[cc->at];
	cc->at = PROC_PARENT;
	cc->paused = 0;
	if (k->chan != NULL &&
	    chan_send(k->chan, M_CTL_CANCEL, cc->id, -1, NULL, 0) == -1)
		log_warn("control: cannot cancel request %llu at %s",
		    (unsigned long long)cc->id, proc_name(k->id));
}

/* The final line; the connection closes once it is written. */
static void
conn_end(struct ctl_conn *cc, int ok, const char *err)
{
	struct evbuffer *out = bufferevent_get_output(cc->bev);
	struct timeval	 tv = { cc->ctl->env->conf->timeouts.control, 0 };

	conn_cancel(cc);
	/* conn_write runs again only once all is written, or never. */
	bufferevent_setwatermark(cc->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(cc->bev, NULL, &tv);
	if (ok)
		evbuffer_add_printf(out, "OK\n");
	else
		evbuffer_add_printf(out, "ERR %s\n", err);
	cc->closing = 1;
	cc->waiting = 0;
	if (cc->timer != NULL)
		evtimer_del(cc->timer);
	bufferevent_disable(cc->bev, EV_READ);
	if (evbuffer_get_length(out) == 0)
		conn_free(cc);
}

static void
format_uptime(const struct timespec *since, char *buf, size_t sz)
{
	struct timespec	now;
	long		s, d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	s = (long)(now.tv_sec - since->tv_sec);
	d = s / 86400;
	s %= 86400;
	if (d > 0)
		snprintf(buf, sz, "%ldd%02ld:%02ld:%02ld", d, s / 3600,
		    (s / 60) % 60, s % 60);
	else
		snprintf(buf, sz, "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60,
		    s % 60);
}

static void
status_finish(struct ctl_conn *cc)
{
	struct relayd	*env = cc->ctl->env;
	char		 line[CTL_TEXT_MAX], up[32];
	int		 i;

	conn_line(cc, "PROCESS   PID      UPTIME       STATE");
	format_uptime(&env->started, up, sizeof(up));
	snprintf(line, sizeof(line), "%-9s %-8d %-12s running, "
	    "configuration %u", "relayd", (int)getpid(), up, env->gen);
	conn_line(cc, line);
	for (i = 1; i < PROC_MAX; i++) {
		struct kid *k = &env->kids[i];

		if (k->pid == 0)	/* never started: metricsd when off */
			continue;
		format_uptime(&k->started, up, sizeof(up));
		snprintf(line, sizeof(line), "%-9s %-8d %-12s %s",
		    proc_name(k->id), (int)k->pid, up,
		    !k->running ? "exited" :
		    cc->answered[i] ? cc->status[i] : "not answering");
		conn_line(cc, line);
	}
	conn_end(cc, 1, NULL);
}

void
control_status_reply(struct control *ctl, struct kid *k, uint64_t id,
    const char *state)
{
	struct ctl_conn	*cc;
	int		 i;

	if (ctl == NULL || (cc = conn_by_id(ctl, id)) == NULL ||
	    cc->cmd != CTL_SHOW_STATUS)
		return;
	strlcpy(cc->status[k->id], state, sizeof(cc->status[k->id]));
	cc->answered[k->id] = 1;
	for (i = 1; i < PROC_MAX; i++)
		if (cc->ctl->env->kids[i].running && !cc->answered[i])
			return;
	status_finish(cc);
}

/*
 * The connection a child's answer is for.  None when relayctl has gone
 * (the child was told); one the child was never given is a lie.
 */
static struct ctl_conn *
conn_of_answer(struct control *ctl, struct kid *k, uint64_t id)
{
	struct ctl_conn *cc;

	if (ctl == NULL || (cc = conn_by_id(ctl, id)) == NULL)
		return NULL;
	if (cc->at != k->id) {
		log_warnx("control: %s answered request %llu, which it was "
		    "not given", proc_name(k->id), (unsigned long long)id);
		return NULL;
	}
	return cc;
}

/* The child waits for M_CTL_MORE: ask once relayctl has read enough. */
static void
conn_more(struct ctl_conn *cc)
{
	struct kid	*k = &cc->ctl->env->kids[cc->at];
	char		 err[64];

	if (!cc->paused || evbuffer_get_length(bufferevent_get_output(
	    cc->bev)) > CTL_OUT_LOW)
		return;
	cc->paused = 0;
	if (k->chan == NULL ||
	    chan_send(k->chan, M_CTL_MORE, cc->id, -1, NULL, 0) == -1) {
		cc->at = PROC_PARENT;
		snprintf(err, sizeof(err), "cannot reach %s", proc_name(k->id));
		conn_end(cc, 0, err);
		return;
	}
	if (cc->cmd != CTL_MONITOR)
		conn_wait(cc, CTL_FORWARD_WAIT);
}

void
control_forward_line(struct control *ctl, struct kid *k, uint64_t id,
    const char *line)
{
	struct ctl_conn *cc;

	if ((cc = conn_of_answer(ctl, k, id)) == NULL)
		return;
	if (evbuffer_get_length(bufferevent_get_output(cc->bev)) >
	    CTL_OUT_MAX) {
		log_warnx("control: %s sent more than was asked for request "
		    "%llu; answer cut", proc_name(k->id),
		    (unsigned long long)id);
		conn_end(cc, 0, "answer cut: it came faster than it was "
		    "asked for");
		return;
	}
	conn_line(cc, line);
}

void
control_forward_pause(struct control *ctl, struct kid *k, uint64_t id)
{
	struct ctl_conn *cc;

	if ((cc = conn_of_answer(ctl, k, id)) == NULL)
		return;
	if (cc->paused) {
		log_warnx("control: %s paused request %llu twice",
		    proc_name(k->id), (unsigned long long)id);
		return;
	}
	cc->paused = 1;
	/* relayctl's turn: if it never reads, the child abandons. */
	evtimer_del(cc->timer);
	conn_more(cc);
}

void
control_forward_done(struct control *ctl, struct kid *k, uint64_t id,
    int ok, const char *err)
{
	struct ctl_conn *cc;

	if ((cc = conn_of_answer(ctl, k, id)) == NULL)
		return;
	cc->at = PROC_PARENT;
	conn_end(cc, ok, err);
}

/* The self-check's report, line by line, while relayctl is there. */
void
control_selfcheck_line(struct control *ctl, uint64_t id, const char *line)
{
	struct ctl_conn *cc;

	if (ctl != NULL && (cc = conn_by_id(ctl, id)) != NULL &&
	    cc->cmd == CTL_SELFCHECK)
		conn_line(cc, line);
}

void
control_selfcheck_done(struct control *ctl, uint64_t id, int ok,
    const char *err)
{
	struct ctl_conn *cc;

	if (ctl != NULL && (cc = conn_by_id(ctl, id)) != NULL &&
	    cc->cmd == CTL_SELFCHECK)
		conn_end(cc, ok, err);
}

void
control_reload_done(struct control *ctl, int ok, const char *err)
{
	struct ctl_conn *cc;

	if (ctl == NULL || (cc = ctl->reloading) == NULL)
		return;
	ctl->reloading = NULL;
	conn_end(cc, ok, err);
}

static void
conn_timeout(int fd, short ev, void *arg)
{
	struct ctl_conn *cc = arg;

	(void)fd;
	(void)ev;
	if (cc->waiting && cc->cmd == CTL_SHOW_STATUS)
		status_finish(cc);
	else if (cc->waiting)
		conn_end(cc, 0, "timed out waiting for an answer");
	else
		conn_free(cc);
}

static void
conn_wait(struct ctl_conn *cc, int seconds)
{
	struct timeval tv = { seconds, 0 };

	cc->waiting = 1;
	evtimer_add(cc->timer, &tv);
}

static void
do_status(struct ctl_conn *cc)
{
	struct relayd	*env = cc->ctl->env;
	int		 i, asked = 0;

	for (i = 1; i < PROC_MAX; i++) {
		struct kid *k = &env->kids[i];

		if (!k->running || k->chan == NULL)
			continue;
		if (chan_send(k->chan, M_STATUS_REQ, cc->id, -1, NULL, 0) == 0)
			asked++;
	}
	if (asked == 0) {
		status_finish(cc);
		return;
	}
	conn_wait(cc, CTL_STATUS_WAIT);
}

static void
do_reload(struct ctl_conn *cc)
{
	struct control	*ctl = cc->ctl;
	char		 err[1024];

	if (ctl->reloading != NULL) {
		conn_end(cc, 0, "a reload is already in progress");
		return;
	}
	if (relayd_reload(ctl->env, err, sizeof(err)) == -1) {
		conn_end(cc, 0, err);
		return;
	}
	ctl->reloading = cc;
	conn_wait(cc, CTL_FORWARD_WAIT);
}

static void
do_verbose(struct ctl_conn *cc, int level)
{
	struct relayd	*env = cc->ctl->env;
	struct mw	 w;
	int		 i;

	env->verbose = level;
	log_set_verbose(level);
	mw_init(&w);
	mw_u32(&w, (uint32_t)level);
	for (i = 1; i < PROC_MAX; i++)
		if (env->kids[i].chan != NULL)
			chan_send(env->kids[i].chan, M_VERBOSE, 0, -1, w.buf,
			    w.len);
	conn_end(cc, 1, NULL);
}

/* The child that answers a forwarded request. */
static enum proc_id
forward_to(enum ctl_cmd cmd)
{
	switch (cmd) {
	case CTL_TEST_SPF:
	case CTL_TEST_DNSBL:
	case CTL_SHOW_GREYLIST:
	case CTL_GREYLIST_WHITELIST:
	case CTL_GREYLIST_FLUSH:
	case CTL_SHOW_RECIPIENTS:
	case CTL_RECIPIENTS_FORGET:
	case CTL_AUTH_SUSPEND:
	case CTL_AUTH_RESUME:
		return PROC_POLICYD;
	default:
		return PROC_QUEUED;
	}
}

static void
do_forward(struct ctl_conn *cc, const struct ctl_req *req)
{
	enum proc_id	 to = forward_to(req->cmd);
	struct kid	*k = &cc->ctl->env->kids[to];
	struct mw	 w;
	char		 err[64];

	if (k->chan == NULL) {
		snprintf(err, sizeof(err), "%s is not running", proc_name(to));
		conn_end(cc, 0, err);
		return;
	}
	mw_init(&w);
	ctl_req_write(&w, req);
	if (w.err || chan_send(k->chan, M_CTL_REQ, cc->id, -1, w.buf,
	    w.len) == -1) {
		snprintf(err, sizeof(err), "cannot reach %s", proc_name(to));
		conn_end(cc, 0, err);
		return;
	}
	cc->at = to;
	/* A monitor waits for events, however long they take. */
	if (req->cmd == CTL_MONITOR)
		cc->waiting = 1;
	else
		conn_wait(cc, CTL_FORWARD_WAIT);
}

/*
 * An administrator's command from someone who is not one: refused, and
 * logged louder.  The line was checked by the parser: it is safe to log.
 */
static int
conn_allowed(struct ctl_conn *cc, const struct ctl_req *req,
    const char *line)
{
	const char	*group = cc->ctl->env->conf->control_admin_group;
	char		 err[256];

	if (req->level != CTL_ADMIN || cc->admin) {
		log_info("control: uid %u: %s", (unsigned)cc->uid, line);
		return 1;
	}
	log_warnx("control: uid %u: %s: refused: the caller is not in "
	    "control_admin_group %s", (unsigned)cc->uid, line, group);
	snprintf(err, sizeof(err), "permission denied: %s needs "
	    "control_admin_group (%s)", req->words, group);
	conn_end(cc, 0, err);
	return 0;
}

/*
 * The self-check reports as it goes and always ends (its own watchdog
 * sees to deliverd): no time-out here, but relayctl may leave.
 */
static void
do_selfcheck(struct ctl_conn *cc, const struct ctl_req *req)
{
	char err[512];

	if (selfcheck_request(cc->ctl->env->selfcheck, cc->id, cc->uid,
	    req->from[0] != '\0' ? req->from : NULL, err, sizeof(err)) == -1) {
		log_warnx("control: uid %u: selfcheck: %s", (unsigned)cc->uid,
		    err);
		conn_end(cc, 0, err);
		return;
	}
	cc->waiting = 1;
}

/* The announcement's text has come: checked, to queued, then the line. */
static void
announce_ready(struct ctl_conn *cc)
{
	char err[128];

	if (announce_forward(cc->ctl->env->kids[PROC_QUEUED].chan, cc->id,
	    cc->text, cc->got, err, sizeof(err)) == -1) {
		log_warnx("control: uid %u: announce refused: %s",
		    (unsigned)cc->uid, err);
		conn_end(cc, 0, err);
		return;
	}
	free(cc->text);
	cc->text = NULL;
	evtimer_del(cc->timer);
	do_forward(cc, cc->areq);
}

/* Take the text's octets as they come, no more than the line said. */
static void
announce_text(struct ctl_conn *cc)
{
	struct evbuffer	*in = bufferevent_get_input(cc->bev);
	size_t		 n = evbuffer_get_length(in);

	if (n > cc->want - cc->got)
		n = cc->want - cc->got;
	if (n > 0 && evbuffer_remove(in, cc->text + cc->got, n) != (int)n) {
		conn_end(cc, 0, "cannot read the text");
		return;
	}
	cc->got += n;
	if (cc->got == cc->want)
		announce_ready(cc);
}

static void
announce_begin(struct ctl_conn *cc, const struct ctl_req *req)
{
	struct timeval	 tv = { CTL_IDLE_TIMEOUT, 0 };
	const char	*why = NULL;

	cc->want = (size_t)strtonum(req->args[0], 1, ANNOUNCE_MAX, &why);
	if (why != NULL || (cc->areq = malloc(sizeof(*req))) == NULL ||
	    (cc->text = malloc(cc->want)) == NULL) {
		conn_end(cc, 0, "out of memory");
		return;
	}
	*cc->areq = *req;
	/* The text comes within the idle time-out, or nothing is sent. */
	evtimer_add(cc->timer, &tv);
	announce_text(cc);
}

static void
conn_request(struct ctl_conn *cc, const char *line, size_t len)
{
	struct ctl_req	 req;
	const char	*why;

	if ((why = ctl_req_parse(line, len, &req)) != NULL) {
		log_info("control: uid %u: request refused: %s",
		    (unsigned)cc->uid, why);
		conn_end(cc, 0, why);
		return;
	}
	if (!conn_allowed(cc, &req, line))
		return;
	evtimer_del(cc->timer);
	cc->cmd = req.cmd;
	switch (req.cmd) {
	case CTL_SHOW_STATUS:
		do_status(cc);
		break;
	case CTL_RELOAD:
		do_reload(cc);
		break;
	case CTL_LOG_VERBOSE:
		do_verbose(cc, 1);
		break;
	case CTL_LOG_BRIEF:
		do_verbose(cc, 0);
		break;
	case CTL_SELFCHECK:
		do_selfcheck(cc, &req);
		break;
	case CTL_ANNOUNCE:
		announce_begin(cc, &req);
		break;
	default:
		do_forward(cc, &req);
		break;
	}
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn	*cc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char		 line[CTL_LINE_MAX + 2];
	size_t		 len;

	if (cc->waiting || cc->closing)
		return;
	if (cc->areq != NULL) {
		if (cc->got < cc->want)
			announce_text(cc);
		return;
	}
	eol = evbuffer_search(in, "\n", 1, NULL);
	if (eol.pos == -1) {
		if (evbuffer_get_length(in) > CTL_LINE_MAX)
			conn_end(cc, 0, "request too long");
		return;
	}
	len = (size_t)eol.pos;
	if (len > CTL_LINE_MAX) {
		conn_end(cc, 0, "request too long");
		return;
	}
	evbuffer_remove(in, line, len + 1);
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		conn_end(cc, 0, "bad character in request");
		return;
	}
	conn_request(cc, line, len);
}

/* Written down to the low mark (CTL_OUT_LOW, 0 once closing). */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;

	if (!cc->closing)
		conn_more(cc);
	else if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(cc);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *cc = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_info("control: uid %u left its answer unread for %us; "
		    "connection closed", (unsigned)cc->uid,
		    cc->ctl->env->conf->timeouts.control);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(cc);
}

static void
conn_free(struct ctl_conn *cc)
{
	struct control *ctl = cc->ctl;

	if (ctl->reloading == cc)
		ctl->reloading = NULL;
	conn_cancel(cc);
	TAILQ_REMOVE(&ctl->conns, cc, entry);
	ctl->nconns--;
	if (cc->timer != NULL)
		event_free(cc->timer);
	bufferevent_free(cc->bev);
	free(cc->areq);
	free(cc->text);
	free(cc);
}

/* The caller's supplementary groups from the user database: old kernels. */
static int
groups_of_user(uid_t uid, gid_t **out)
{
	struct passwd	*pw;
	gid_t		*g;
	int		 n = 64;

	if ((pw = getpwuid(uid)) == NULL)
		return -1;
	for (;;) {
		if ((g = reallocarray(NULL, (size_t)n, sizeof(*g))) == NULL)
			return -1;
		if (getgrouplist(pw->pw_name, pw->pw_gid, g, &n) != -1)
			break;
		free(g);
		if (n > 65536)
			return -1;
	}
	*out = g;
	return n;
}

/* The caller's supplementary groups as they were when it connected. */
static int
groups_of_peer(int fd, uid_t uid, gid_t **out)
{
	socklen_t	 len = 64 * sizeof(gid_t);
	gid_t		*g;

	for (;;) {
		if ((g = malloc(len)) == NULL)
			return -1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
			break;
		free(g);
		if (errno == ENOPROTOOPT)
			return groups_of_user(uid, out);
		if (errno != ERANGE || len > 65536 * sizeof(gid_t))
			return -1;
	}
	*out = g;
	return (int)(len / sizeof(gid_t));
}

/* Root, or control_admin_group as its group or a supplementary one. */
static int
peer_is_admin(int fd, const struct ucred *cred, gid_t admin)
{
	gid_t	*g;
	int	 n, i, yes = 0;

	if (cred->uid == 0)
		return 1;
	if (admin == (gid_t)-1)
		return 0;
	if (cred->gid == admin)
		return 1;
	if ((n = groups_of_peer(fd, cred->uid, &g)) == -1) {
		log_warn("control: uid %u: its groups cannot be known; it is "
		    "taken for an operator", (unsigned)cred->uid);
		return 0;
	}
	for (i = 0; i < n && !yes; i++)
		yes = g[i] == admin;
	free(g);
	return yes;
}

static void
control_accept(int lfd, short ev, void *arg)
{
	struct control	*ctl = arg;
	struct ctl_conn	*cc;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	struct timeval	 tv = { CTL_IDLE_TIMEOUT, 0 };
	int		 fd;

	(void)ev;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept");
		return;
	}
	if (ctl->nconns >= CTL_MAX_CONNS) {
		close(fd);
		log_warnx("control: too many connections");
		return;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL) {
		close(fd);
		return;
	}
	/* Unknown: taken for nobody's, which can do no more than connect. */
	cc->uid = cc->gid = (unsigned)-2;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		cc->uid = cred.uid;
		cc->gid = cred.gid;
		cc->admin = peer_is_admin(fd, &cred, ctl->env->admin_gid);
	} else
		log_warn("control: who connected cannot be known");
	cc->ctl = ctl;
	cc->id = ++ctl->next_id;
	cc->bev = bufferevent_socket_new(ctl->env->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	cc->timer = evtimer_new(ctl->env->base, conn_timeout, cc);
	if (cc->bev == NULL || cc->timer == NULL) {
		if (cc->bev != NULL)
			bufferevent_free(cc->bev);
		else
			close(fd);
		if (cc->timer != NULL)
			event_free(cc->timer);
		free(cc);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->conns, cc, entry);
	ctl->nconns++;
	bufferevent_setcb(cc->bev, conn_read, conn_write, conn_event, cc);
	bufferevent_setwatermark(cc->bev, EV_WRITE, CTL_OUT_LOW, 0);
	bufferevent_enable(cc->bev, EV_READ);
	evtimer_add(cc->timer, &tv);
}

/*
 * The socket's directory, one level, as a tmpfiles.d line would make it:
 * /run is emptied at boot, and only systemd makes RuntimeDirectory=.
 */
static int
control_dir(const char *path)
{
	char	 dir[PATH_MAX], *slash;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return -1;
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("control socket directory %s", dir);
		return -1;
	}
	return 0;
}

struct control *
control_open(struct relayd *env)
{
	struct control		*ctl;
	struct sockaddr_un	 sun;
	const char		*path = env->conf->control_socket;
	mode_t			 old;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return NULL;
	ctl->env = env;
	TAILQ_INIT(&ctl->conns);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("control socket %s: path too long", path);
		free(ctl);
		return NULL;
	}
	strlcpy(ctl->path, path, sizeof(ctl->path));
	if (control_dir(path) == -1) {
		free(ctl);
		return NULL;
	}
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (ctl->fd == -1) {
		log_warn("control socket");
		free(ctl);
		return NULL;
	}
	/* We hold the state lock, so a socket file left here is stale. */
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("unlink %s", path);
	old = umask(0117);
	if (bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("control socket %s", path);
		goto fail;
	}
	umask(old);
	if (chmod(path, 0660) == -1 || (env->asroot &&
	    chown(path, 0, env->control_gid) == -1)) {
		log_warn("control socket %s: permissions", path);
		goto fail;
	}
	if (listen(ctl->fd, 16) == -1) {
		log_warn("control socket %s: listen", path);
		goto fail;
	}
	ctl->ev = event_new(env->base, ctl->fd, EV_READ | EV_PERSIST,
	    control_accept, ctl);
	if (ctl->ev == NULL || event_add(ctl->ev, NULL) == -1)
		goto fail;
	return ctl;
fail:
	close(ctl->fd);
	unlink(path);
	free(ctl);
	return NULL;
}

void
control_close(struct control *ctl)
{
	struct ctl_conn *cc;

	if (ctl == NULL)
		return;
	while ((cc = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(cc);
	event_free(ctl->ev);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
