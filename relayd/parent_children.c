/*
 * parent_children: start the children by fork and exec, talk to them,
 * and notice when one dies.
 *
 * Each child gets its parent channel on descriptor 3 and its peer
 * channels after it, in proc_edges order; everything else is closed by
 * exec (all our descriptors are close-on-exec).  A child that exits while
 * relayd is not stopping brings the whole tree down: the service manager
 * restarts relayd, which is simpler and safer than restarting one piece of
 * a pipeline whose peers hold state about it.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config_wire.h"
#include "log.h"
#include "marshal.h"
#include "msg_redis.h"
#include "msg_parent.h"
#include "parent_kidmsg.h"
#include "relayd.h"

#define FD_STAGING	100	/* above every channel number */

struct kid *
kid_by_chan(struct relayd *env, struct chan *c)
{
	int i;

	for (i = 1; i < PROC_MAX; i++)
		if (env->kids[i].chan == c)
			return &env->kids[i];
	return NULL;
}

/*
 * A child broke the protocol: it is not trusted further.  Its channel
 * closes and it is killed, which the supervision reports as it stops
 * relayd (a child that dies brings the tree down).
 */
static void
kid_broken(struct kid *k, const struct imsg *imsg, const char *why)
{
	log_warnx("%s sent a bad message (type %u, %zu bytes): %s; "
	    "stopping it", proc_name(k->id), imsg->hdr.type, imsg->datalen,
	    why);
	if (k->chan != NULL) {
		chan_free(k->chan);
		k->chan = NULL;
	}
	if (k->running)
		kill(k->pid, SIGKILL);
}

static void
kid_log(struct kid *k, const struct kidmsg *m)
{
	if (m->clamped && !k->pri_clamped) {
		k->pri_clamped = 1;
		log_warnx("%s logs above LOG_CRIT; its lines are logged at "
		    "LOG_CRIT", proc_name(k->id));
	}
	log_emit(m->pri, proc_name(k->id), m->text);
}

static void
from_kid(struct chan *c, struct imsg *imsg, void *arg)
{
	struct relayd	*env = arg;
	struct kid	*k = kid_by_chan(env, c);
	struct kidmsg	 m;
	const char	*why;

	if (kidmsg_decode(imsg, &m, &why) == -1) {
		if (imsg->fd != -1)
			close(imsg->fd);
		imsg->fd = -1;
		kid_broken(k, imsg, why);
		return;
	}
	switch (m.type) {
	case M_LOG:
		kid_log(k, &m);
		break;
	case M_STATUS:
		control_status_reply(env->control, k, m.peerid, m.text);
		break;
	case M_CONF_ACK:
		k->acked = m.gen;
		relayd_conf_acked(env);
		break;
	case M_CONF_FAIL:
		relayd_conf_failed(env, k, m.gen, m.text);
		break;
	case M_CTL_LINE:
		control_forward_line(env->control, k, m.peerid, m.text);
		break;
	case M_CTL_PAUSE:
		control_forward_pause(env->control, k, m.peerid);
		break;
	case M_CTL_DONE:
		control_forward_done(env->control, k, m.peerid, m.ok, m.text);
		break;
	case M_SC_RESULT:
		if (k->id != PROC_DELIVERD ||
		    selfcheck_result(env->selfcheck, &m) == -1)
			kid_broken(k, imsg, "a self-check result it was not "
			    "asked for");
		break;
	case M_MX_SCRAPE:
		if (metrics_scrape(env->metrics, k, m.peerid) == -1)
			kid_broken(k, imsg, "a scrape while one was running, "
			    "or not from metricsd");
		break;
	case M_MX_SAMPLES:
		if (metrics_samples(env->metrics, k, &m) == -1)
			kid_broken(k, imsg, "samples it was not asked for, or "
			    "too many");
		break;
	case M_MX_END:
		if (metrics_end(env->metrics, k, &m) == -1)
			kid_broken(k, imsg, "the end of samples it was not "
			    "asked for");
		break;
	case M_PC_CONNECT:
		if (parent_connect(env, k, &m) == -1)
			kid_broken(k, imsg, "a connection it may not ask for");
		break;
	case M_RD_OPEN:
		if (k->id != PROC_POLICYD ||
		    redis_open(env, k, m.peerid, m.node) == -1)
			kid_broken(k, imsg, "a Redis node the configuration "
			    "does not have");
		break;
	case M_SC_DONE:
		if (k->id != PROC_DELIVERD ||
		    selfcheck_done(env->selfcheck, &m) == -1)
			kid_broken(k, imsg, "the end of a self-check it was "
			    "not asked for, or too early");
		break;
	case M_MT_OPEN:
		if (k->id != PROC_POLICYD) {
			kid_broken(k, imsg, "only policyd asks for milters");
			return;
		}
		if (milter_open(env, k, m.peerid, m.gen, m.ep) == -1)
			kid_broken(k, imsg, "a milter the configuration does "
			    "not have");
		break;
	}
}

static void
kid_closed(struct chan *c, int err, void *arg)
{
	struct relayd	*env = arg;
	struct kid	*k = kid_by_chan(env, c);

	if (err != 0 && !env->stopping)
		log_warnx("channel to %s failed: %s", proc_name(k->id),
		    strerror(err));
	/* The exit status, reaped on SIGCHLD, says what happened. */
	chan_free(c);
	k->chan = NULL;
}

/* In the forked child: descriptors into place, then exec. */
static void __attribute__((noreturn))
kid_exec(struct relayd *env, struct kid *k, int parentfd, int *edgefd,
    pid_t ppid)
{
	char		 path[PATH_MAX], u[16], g[16], p[16];
	char		 root[PATH_MAX];
	char		*argv[16];
	struct rlimit	 rl;
	int		 argc = 0, fd, i, staged[PROC_MAX], exe;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != ppid)
		_exit(1);
	/*
	 * Stage above the targets so dup2 never overwrites a source, then
	 * put each channel where proc_peer_fd says the child looks for it;
	 * the executable's descriptor too, which a channel could overwrite.
	 */
	if ((exe = fcntl(k->exe_fd, F_DUPFD_CLOEXEC, FD_STAGING)) == -1)
		_exit(1);
	staged[PROC_PARENT] = fcntl(parentfd, F_DUPFD_CLOEXEC, FD_STAGING);
	for (i = 1; i < PROC_MAX; i++)
		staged[i] = i != (int)k->id &&
		    proc_has_edge(k->id, (enum proc_id)i) ?
		    fcntl(edgefd[i], F_DUPFD_CLOEXEC, FD_STAGING) : -2;
	for (i = 0; i < PROC_MAX; i++) {
		if (staged[i] == -2)
			continue;
		if (staged[i] == -1 || dup2(staged[i],
		    proc_peer_fd(k->id, (enum proc_id)i)) == -1)
			_exit(1);
	}
	if (!env->debug && (fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	child_path(env, k->id, path, sizeof(path));
	snprintf(p, sizeof(p), "%d", (int)ppid);
	argv[argc++] = (char *)proc_name(k->id);
	argv[argc++] = "-p";
	argv[argc++] = p;
	if (env->debug)
		argv[argc++] = "-d";
	for (i = 0; i < env->verbose && i < 3; i++)
		argv[argc++] = "-v";
	snprintf(root, sizeof(root), "%s%s", env->conf->state_dir,
	    proc_root_dir(proc_table[k->id].root));
	argv[argc++] = "-r";
	argv[argc++] = root;
	if (env->asroot) {
		snprintf(u, sizeof(u), "%u", (unsigned)k->uid);
		snprintf(g, sizeof(g), "%u", (unsigned)k->gid);
		argv[argc++] = "-u";
		argv[argc++] = u;
		argv[argc++] = "-g";
		argv[argc++] = g;
	} else
		argv[argc++] = "-N";
	argv[argc] = NULL;
	/*
	 * Its own descriptor limit (limits_raise), set last: it may be
	 * below FD_STAGING.  Whatever it gets, it learns with getrlimit.
	 */
	rl.rlim_cur = rl.rlim_max = (rlim_t)k->nofile;
	if (k->nofile > 0)
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	/* The file check_children checked, whatever its path holds now. */
	fexecve(exe, argv, environ);
	fprintf(stderr, "relayd: cannot execute %s: %s\n", path,
	    strerror(errno));
	_exit(127);
}

static void
socketpair_or_die(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
}

void
children_start(struct relayd *env)
{
	int	 parent[PROC_MAX][2];
	int	 edge[PROC_MAX][PROC_MAX];	/* edge[a][b]: a's end */
	int	 sv[2];
	unsigned e;
	int	 i, j;
	pid_t	 pid, self = getpid();

	memset(edge, -1, sizeof(edge));
	for (e = 0; e < proc_nedges; e++) {
		socketpair_or_die(sv);
		edge[proc_edges[e].a][proc_edges[e].b] = sv[0];
		edge[proc_edges[e].b][proc_edges[e].a] = sv[1];
	}
	for (i = 1; i < PROC_MAX; i++)
		socketpair_or_die(parent[i]);
	for (i = 1; i < PROC_MAX; i++) {
		struct kid *k = &env->kids[i];

		k->id = (enum proc_id)i;
		/* Its end of the channel closes below: nobody to talk to. */
		if (i == PROC_METRICS && !env->conf->metrics.enabled) {
			close(parent[i][1]);
			close(parent[i][0]);
			continue;
		}
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid == 0)
			kid_exec(env, k, parent[i][1], edge[i], self);
		k->pid = pid;
		k->running = 1;
		clock_gettime(CLOCK_MONOTONIC, &k->started);
		close(parent[i][1]);
		k->chan = chan_new(env->base, parent[i][0], proc_name(k->id),
		    from_kid, kid_closed, env);
		if (k->chan == NULL)
			fatal("channel to %s", proc_name(k->id));
		log_debug("started %s, pid %d", proc_name(k->id), (int)pid);
	}
	for (i = 0; i < PROC_MAX; i++)
		for (j = 0; j < PROC_MAX; j++)
			if (edge[i][j] != -1)
				close(edge[i][j]);
}

void
children_send_conf(struct relayd *env, const struct conf *conf)
{
	int i;

	for (i = 1; i < PROC_MAX; i++) {
		struct kid *k = &env->kids[i];

		if (k->chan == NULL)
			continue;
		if (conf_send(k->chan, conf, proc_table[i].slices,
		    env->gen) == -1)
			log_warnx("cannot send the configuration to %s",
			    proc_name(k->id));
	}
}

int
children_all_acked(const struct relayd *env)
{
	int i;

	for (i = 1; i < PROC_MAX; i++)
		if (env->kids[i].running && env->kids[i].acked != env->gen)
			return 0;
	return 1;
}

static void
describe_exit(int status, char *buf, size_t sz)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_PEER)
		snprintf(buf, sz, "exited with status %d (a peer had gone)",
		    PROC_EXIT_PEER);
	else if (WIFEXITED(status))
		snprintf(buf, sz, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sz, "was killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, sz, "stopped with status 0x%x", status);
}

static void
stop_timeout(int fd, short ev, void *arg)
{
	struct relayd *env = arg;
	int i;

	(void)fd;
	(void)ev;
	for (i = 1; i < PROC_MAX; i++)
		if (env->kids[i].running) {
			log_warnx("%s (pid %d) did not stop; killing it",
			    proc_name((enum proc_id)i), (int)env->kids[i].pid);
			env->kids[i].killed = 1;
			if (kill(env->kids[i].pid, SIGKILL) == -1)
				log_warn("cannot kill %s (pid %d)",
				    proc_name((enum proc_id)i),
				    (int)env->kids[i].pid);
		}
}

static int
children_running(const struct relayd *env)
{
	int i, n = 0;

	for (i = 1; i < PROC_MAX; i++)
		n += env->kids[i].running;
	return n;
}

static void
log_exit(int pri, const struct kid *k, const char *tail)
{
	char how[128];

	describe_exit(k->status, how, sizeof(how));
	if (pri == LOG_DEBUG)
		log_debug("%s (pid %d) %s%s", proc_name(k->id), (int)k->pid,
		    how, tail);
	else
		log_warnx("%s (pid %d) %s%s", proc_name(k->id), (int)k->pid,
		    how, tail);
}

/*
 * Could this exit be why relayd stops?  Not when the child left because
 * a peer had gone, nor when the stop timer killed it, nor a clean exit
 * once the stop had begun (its parent channel closed, so it left as it
 * should); anything else is.
 */
static int
exit_is_cause(const struct kid *k, int unasked)
{
	if (k->killed)
		return 0;
	if (WIFEXITED(k->status) && WEXITSTATUS(k->status) == PROC_EXIT_PEER)
		return 0;
	if (WIFEXITED(k->status) && WEXITSTATUS(k->status) == 0)
		return unasked;
	return 1;
}

/*
 * A child that dies unasked brings relayd down, and the log must say
 * which child it was and how it died.  Its peers leave too, and they may
 * be reaped first: waitpid returns children in no useful order, and the
 * dead child's exit can even complete after theirs (its descriptors close
 * before it becomes a zombie).  So the first exit only starts the stop;
 * the blame goes to the first exit that can be a cause (exit_is_cause),
 * and to the first child to leave only when, all gone, none was.
 */
void
children_reap(struct relayd *env)
{
	struct kid	*k;
	pid_t		 pid;
	int		 status, i, unasked;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 1; i < PROC_MAX; i++)
			if (env->kids[i].running && env->kids[i].pid == pid)
				break;
		if (i == PROC_MAX)
			continue;
		k = &env->kids[i];
		k->running = 0;
		k->status = status;
		/*
		 * Only the exit that starts the stop is surely unasked: the
		 * next one, even in this loop, may be a child leaving because
		 * children_stop just closed its channel.
		 */
		unasked = !env->stopping;
		if (unasked) {
			env->first_gone = k->id;
			env->blame_pending = 1;
			children_stop(env, 1);
		}
		if (env->blame_pending && exit_is_cause(k, unasked)) {
			env->blame_pending = 0;
			log_exit(LOG_WARNING, k, "; stopping relayd");
		} else if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
		    WEXITSTATUS(status) == PROC_EXIT_PEER))
			log_exit(LOG_DEBUG, k, "");
		else
			log_exit(LOG_WARNING, k, "");
	}
	if (env->stopping && children_running(env) == 0) {
		if (env->blame_pending) {
			/* Nobody died of its own: blame the first to leave. */
			env->blame_pending = 0;
			log_exit(LOG_WARNING, &env->kids[env->first_gone],
			    "; stopping relayd");
		}
		event_base_loopbreak(env->base);
	}
}

/* Close every channel: children leave when their parent channel closes. */
void
children_stop(struct relayd *env, int status)
{
	struct timeval tv = { 5, 0 };
	int i;

	if (env->stopping)
		return;
	env->stopping = 1;
	env->exit_status = status;
	notify_stopping(&env->notify);
	milter_cancel_all(env);
	for (i = 1; i < PROC_MAX; i++) {
		if (env->kids[i].chan != NULL) {
			chan_flush(env->kids[i].chan, 100);
			chan_free(env->kids[i].chan);
			env->kids[i].chan = NULL;
		}
	}
	env->stop_timer = evtimer_new(env->base, stop_timeout, env);
	if (env->stop_timer != NULL)
		evtimer_add(env->stop_timer, &tv);
	if (children_running(env) == 0)
		event_base_loopbreak(env->base);
}
