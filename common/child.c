/*
 * child: the common start-up, channels and generic messages of children.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "faults.h"
#include "ctl_stream.h"
#include "log.h"
#include "marshal.h"
#include "metrics.h"
#include "msg_metrics.h"
#include "msg_connect.h"
#include "msg_milter.h"
#include "msg_parent.h"
#include "msg_redis.h"
#include "privdrop.h"
#include "sandbox.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHILD_ASAN	1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CHILD_ASAN)
#define CHILD_ASAN	1
#endif

#if defined(CHILD_ASAN) && !defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
/*
 * LeakSanitizer needs /proc at exit, which a chrooted child cannot see:
 * it fails ("LeakSanitizer has encountered a fatal error") and turns
 * every exit of every child into status 1, which the parent reads as a
 * child failing.  So the children's leaks go unchecked in SANITIZE=1
 * builds (the parent's, unconfined, still are); ASAN_OPTIONS overrides.
 * Not in the fuzz targets, which link all of common/ and must see the
 * leaks of the code they drive.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

struct child_args {
	int		 debug;
	int		 verbose;
	uid_t		 uid;
	gid_t		 gid;
	const char	*root;
	pid_t		 ppid;
	int		 nodrop;
};


static void
child_usage(const char *name)
{
	fprintf(stderr, "%s: a relayd child; relayd starts it\n", name);
	exit(2);
}

static long long
num_arg(const char *name, const char *s, long long max)
{
	const char *errstr;
	long long v;

	v = strtonum(s, 0, max, &errstr);
	if (errstr != NULL)
		child_usage(name);
	return v;
}

static void
parse_args(int argc, char **argv, const char *name, struct child_args *a)
{
	int ch;

	memset(a, 0, sizeof(*a));
	a->uid = (uid_t)-1;
	a->gid = (gid_t)-1;
	while ((ch = getopt(argc, argv, "dg:Np:r:u:v")) != -1) {
		switch (ch) {
		case 'd':
			a->debug = 1;
			break;
		case 'g':
			a->gid = (gid_t)num_arg(name, optarg, INT32_MAX);
			break;
		case 'N':
			a->nodrop = 1;
			break;
		case 'p':
			a->ppid = (pid_t)num_arg(name, optarg, INT32_MAX);
			break;
		case 'r':
			a->root = optarg;
			break;
		case 'u':
			a->uid = (uid_t)num_arg(name, optarg, INT32_MAX);
			break;
		case 'v':
			a->verbose++;
			break;
		default:
			child_usage(name);
		}
	}
	if (a->ppid == 0 || a->root == NULL || (!a->nodrop &&
	    (a->uid == (uid_t)-1 || a->gid == (gid_t)-1)))
		child_usage(name);
}

static void child_exit(struct child *, int) __attribute__((noreturn));

void
child_send(struct child *c, enum proc_id peer, uint32_t type,
    uint64_t peerid, int fd, const void *data, size_t len)
{
	if (c->chan[peer] == NULL) {
		/* Leaving already, with that peer gone: nothing to tell it. */
		if (c->exiting)
			return;
		fatalx("no channel to %s", proc_name(peer));
	}
	if (chan_send(c->chan[peer], type, peerid, fd, data, len) == 0)
		return;
	/* Our shutdown says goodbye to peers that may be gone too. */
	if (c->exiting)
		return;
	if (errno == ENOBUFS)
		fatalx("cannot send to %s: it is not reading (%zu bytes "
		    "queued)", proc_name(peer), chan_queued(c->chan[peer]));
	/* It went first (its close may not have been read yet). */
	if (errno == EPIPE || errno == ECONNRESET) {
		log_warnx("cannot send to %s: %s; exiting", proc_name(peer),
		    strerror(errno));
		child_exit(c, PROC_EXIT_PEER);
	}
	fatal("cannot send to %s", proc_name(peer));
}

/* A password's message: no descriptor, its copy wiped once sent. */
void
child_send_secret(struct child *c, enum proc_id peer, uint32_t type,
    uint64_t peerid, const void *data, size_t len)
{
	if (c->chan[peer] == NULL)
		fatalx("no channel to %s", proc_name(peer));
	if (chan_send_secret(c->chan[peer], type, peerid, data, len) == -1)
		fatal("cannot send to %s", proc_name(peer));
}

void
child_peer_broken(struct child *c, enum proc_id peer, struct imsg *imsg,
    const char *why)
{
	(void)c;
	fatalx("%s sent a bad message (type %u, %zu bytes): %s",
	    proc_name(peer), imsg->hdr.type, imsg->datalen, why);
}

#ifdef RELAYD_FAULTS
/* A child that breaks the protocol with its parent, on purpose. */
static void
misbehave(struct child *c)
{
	char		 name[64];
	struct mw	 w;

	snprintf(name, sizeof(name), "%s-emerg-log", proc_name(c->ops->id));
	if (fault_error(name)) {
		mw_init(&w);
		mw_u8(&w, LOG_EMERG);
		mw_str(&w, "fault injection: an emergency, \x1b[31mred\x1b[0m "
		    "and \xc2\x9b" "31m");
		child_send(c, PROC_PARENT, M_LOG, 0, -1, w.buf, w.len);
	}
	snprintf(name, sizeof(name), "%s-bad-message", proc_name(c->ops->id));
	if (fault_error(name))
		child_send(c, PROC_PARENT, M_PARENT_MAX + 7, 0, -1, NULL, 0);
}

/* An answer to the request before id, which another child was given. */
static void
forge_answer(struct child *c, uint64_t id)
{
	char		 name[64];
	struct mw	 w;

	snprintf(name, sizeof(name), "%s-ctl-forge", proc_name(c->ops->id));
	if (id <= 1 || !fault_error(name))
		return;
	mw_init(&w);
	mw_str(&w, "forged by a child that was not asked");
	child_send(c, PROC_PARENT, M_CTL_LINE, id - 1, -1, w.buf, w.len);
	mw_init(&w);
	mw_u8(&w, 1);
	mw_str(&w, "");
	child_send(c, PROC_PARENT, M_CTL_DONE, id - 1, -1, w.buf, w.len);
}
#else
#define misbehave(c)		do { } while (0)
#define forge_answer(c, id)	do { } while (0)
#endif
/*
 * A listener's socket did not reach us (we were out of descriptors): the
 * configuration cannot be applied.  At start there is nothing to keep and
 * we cannot serve; on reload the one in force stays, and the parent hears
 * why.
 */
static void
conf_lost(struct child *c, uint32_t gen)
{
	const char	*why = "a listening socket was lost in transit (out "
			    "of descriptors)";
	struct mw	 w;

	if (c->conf == NULL)
		fatalx("configuration %u: %s; cannot start", gen, why);
	log_warnx("configuration %u not applied: %s; the one in force stays",
	    gen, why);
	mw_init(&w);
	mw_u32(&w, gen);
	mw_str(&w, why);
	child_send(c, PROC_PARENT, M_CONF_FAIL, 0, -1, w.buf, w.len);
}

static void
on_conf(struct child *c, struct imsg *imsg)
{
	struct conf		*conf = NULL, *old;
	uint32_t		 gen = 0;
	struct mw		 w;

	switch (conf_rx_msg(&c->rx, imsg, &conf, &gen)) {
	case CONF_RX_MORE:
		return;
	case CONF_RX_ERROR:
		child_peer_broken(c, PROC_PARENT, imsg, "configuration");
	case CONF_RX_LOST:
		conf_lost(c, gen);
		return;
	case CONF_RX_DONE:
		break;
	}
	old = c->conf;
	c->conf = conf;
	/* What a child writes itself (its parent gone): no address either. */
	log_set_redact(!conf->log.addresses);
	if (c->ops->conf != NULL)
		c->ops->conf(c, conf, old);
	if (old == NULL && c->ops->sandbox_after_conf)
		sandbox_enter(c->ops->id);
	conf_free(old);
	mw_init(&w);
	mw_u32(&w, gen);
	child_send(c, PROC_PARENT, M_CONF_ACK, 0, -1, w.buf, w.len);
	log_debug("configuration %u in force", gen);
	if (old == NULL)
		misbehave(c);
}

static void
on_status(struct child *c, struct imsg *imsg)
{
	char		state[768] = "running";
	struct mw	w;
	size_t		n, len;

	if (c->ops->status != NULL)
		c->ops->status(c, state, sizeof(state));
	if ((n = ctl_stream_count(c)) > 0 &&
	    (len = strlen(state)) < sizeof(state))
		snprintf(state + len, sizeof(state) - len, ", %zu listing%s "
		    "open", n, n == 1 ? "" : "s");
	mw_init(&w);
	mw_str(&w, state);
	child_send(c, PROC_PARENT, M_STATUS, imsg->hdr.peerid, -1, w.buf,
	    w.len);
}

struct mx_req {
	struct child	*c;
	uint64_t	 id;
};

static int
mx_flush(void *arg, const void *buf, size_t len)
{
	struct mx_req *rq = arg;

	child_send(rq->c, PROC_PARENT, M_MX_SAMPLES, rq->id, -1, buf, len);
	return 0;
}

/* A scrape: the process's counters as they are now, then the end. */
static void
on_metrics(struct child *c, struct imsg *imsg)
{
	struct mx_req	rq = { c, imsg->hdr.peerid };
	struct mx_out	o;

	if (imsg->datalen != 0)
		child_peer_broken(c, PROC_PARENT, imsg, "metrics request");
	mx_out_init(&o, mx_flush, &rq);
	if (c->ops->metrics != NULL)
		c->ops->metrics(c, &o);
	if (mx_out_finish(&o) == -1)
		log_warnx("metrics: some samples did not fit; left out");
	child_send(c, PROC_PARENT, M_MX_END, rq.id, -1, NULL, 0);
}

static void
from_parent(struct chan *ch, struct imsg *imsg, void *arg)
{
	struct child	*c = arg;
	struct mr	 r;
	uint32_t	 v;

	(void)ch;
	if (M_IS_CONF(imsg->hdr.type)) {
		on_conf(c, imsg);
		return;
	}
	/*
	 * A descriptor comes only with an outside connection the parent
	 * opened for us: Dovecot's (parent_connect.c), a milter's
	 * (parent_milter.c), a Redis node's (parent_redis.c).
	 */
	if (imsg_has_fd(imsg) && (c->ops->parent == NULL ||
	    (imsg->hdr.type != M_PC_CONNECTED &&
	    imsg->hdr.type != M_MT_OPENED &&
	    imsg->hdr.type != M_RD_OPENED)))
		child_peer_broken(c, PROC_PARENT, imsg, "unexpected descriptor");
	switch (imsg->hdr.type) {
	case M_STATUS_REQ:
		on_status(c, imsg);
		break;
	case M_MX_REQ:
		on_metrics(c, imsg);
		break;
	case M_VERBOSE:
		mr_init(&r, imsg->data, imsg->datalen);
		v = mr_u32(&r);
		if (mr_end(&r) == -1)
			child_peer_broken(c, PROC_PARENT, imsg, "verbose");
		log_set_verbose((int)v);
		break;
	case M_CTL_REQ:
		if (c->ops->control == NULL)
			child_peer_broken(c, PROC_PARENT, imsg, "control");
		forge_answer(c, imsg->hdr.peerid);
		c->ops->control(c, imsg);
		break;
	case M_CTL_MORE:
		ctl_stream_more(c, imsg);
		break;
	case M_CTL_CANCEL:
		ctl_stream_cancel(c, imsg);
		break;
	default:
		if (c->ops->parent == NULL)
			child_peer_broken(c, PROC_PARENT, imsg, "unknown type");
		c->ops->parent(c, imsg);
	}
}

static enum proc_id
peer_of(struct child *c, struct chan *ch)
{
	int i;

	for (i = 0; i < PROC_MAX; i++)
		if (c->chan[i] == ch)
			return (enum proc_id)i;
	fatalx("message on an unknown channel");
}

static void
from_peer(struct chan *ch, struct imsg *imsg, void *arg)
{
	struct child	*c = arg;
	enum proc_id	 peer = peer_of(c, ch);

	/* Peers may talk before our configuration arrives: they cope. */
	c->ops->dispatch[peer](c, imsg);
}

static void
child_exit(struct child *c, int status)
{
	c->exiting = 1;
	if (c->ops->shutdown != NULL)
		c->ops->shutdown(c);
	log_flush();
	exit(status);
}

static void
on_close(struct chan *ch, int err, void *arg)
{
	struct child	*c = arg;
	enum proc_id	 peer = peer_of(c, ch);

	if (peer == PROC_PARENT) {
		/*
		 * The parent is gone or wants us gone: nothing to report,
		 * and an error here (a reset, when it closed its end with
		 * our log lines unread) is no failure of ours.
		 */
		log_set_sink(NULL, NULL);
		if (err != 0)
			log_warnx("channel to parent failed: %s",
			    strerror(err));
		c->chan[PROC_PARENT] = NULL;
		chan_free(ch);
		child_exit(c, 0);
	}
	/* A peer went first: say so in the exit status (proc.h). */
	if (err != 0)
		log_warnx("channel to %s failed: %s; exiting", proc_name(peer),
		    strerror(err));
	else
		log_info("%s closed its channel; exiting", proc_name(peer));
	child_exit(c, PROC_EXIT_PEER);
}

static void
open_channels(struct child *c)
{
	enum proc_id	self = c->ops->id;
	int		i, fd;

	c->chan[PROC_PARENT] = chan_new(c->base, PROC_FD_PARENT, "parent",
	    from_parent, on_close, c);
	if (c->chan[PROC_PARENT] == NULL)
		fatal("channel to parent");
	for (i = 1; i < PROC_MAX; i++) {
		if (i == (int)self || !proc_has_edge(self, (enum proc_id)i))
			continue;
		if (c->ops->dispatch[i] == NULL)
			fatalx("no dispatch for %s", proc_name((enum proc_id)i));
		fd = proc_peer_fd(self, (enum proc_id)i);
		c->chan[i] = chan_new(c->base, fd, proc_name((enum proc_id)i),
		    from_peer, on_close, c);
		if (c->chan[i] == NULL)
			fatal("channel to %s", proc_name((enum proc_id)i));
	}
}

/* Everything above our channels is a leak from somewhere: close it. */
static void
close_stray_fds(enum proc_id self)
{
	int fd, max = proc_max_fd(self);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		rl.rlim_cur = 1024;
	if (close_range((unsigned)max + 1, ~0u, 0) == 0)
		return;
	for (fd = max + 1; fd < (int)rl.rlim_cur && fd < 65536; fd++)
		close(fd);
}

int
child_main(int argc, char **argv, const struct child_ops *ops, void *state)
{
	static struct child	 c;
	struct child_args	 a;
	const char		*name = proc_name(ops->id);

	parse_args(argc, argv, name, &a);
	log_init(1, a.verbose, name);
	memset(&c, 0, sizeof(c));
	c.ops = ops;
	c.state = state;
	c.debug = a.debug;
	close_stray_fds(ops->id);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	tzset();
	if (ops->preload != NULL)
		ops->preload(&c);
	if (a.nodrop)
		privdrop_none(a.root);
	else {
		privdrop(a.root, a.uid, a.gid);
		c.dropped = 1;
	}
	/* The credential change cleared the death signal: set it again. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("PR_SET_PDEATHSIG");
	if (getppid() != a.ppid)
		fatalx("parent %d is gone", (int)a.ppid);
	if ((c.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	open_channels(&c);
	child_log_init(&c);
	if (ops->init != NULL)
		ops->init(&c);
	fault_fill_fds(name, PROC_FD_PARENT);
	if (!ops->sandbox_after_conf)
		sandbox_enter(ops->id);
	event_base_dispatch(c.base);
	child_exit(&c, 0);
}
