/*
 * relayd: the parent.  Start-up, signals, reload and shutdown.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config_load.h"
#include "log.h"
#include "relayd.h"

#ifndef LIBEXECDIR
#define LIBEXECDIR	"/usr/local/libexec/relayd"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc/relayd"
#endif
#ifndef RELAYD_VERSION
#define RELAYD_VERSION	"unknown"
#endif

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: relayd [-dFnVv] [-f file]\n");
	exit(2);
}

static void
print_errors(struct conf_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
	if (errs->dropped > 0)
		fprintf(stderr, "(%zu more errors)\n", errs->dropped);
}

/*
 * From the source tree the children are built beside relayd
 * (smtpd/smtpd next to relayd/relayd); installed, they live in LIBEXECDIR.
 */
static void
find_children(struct relayd *env)
{
	char	self[PATH_MAX], probe[PATH_MAX], *dir;
	ssize_t	n;

	strlcpy(env->libexec, LIBEXECDIR, sizeof(env->libexec));
	env->in_tree = 0;
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return;
	self[n] = '\0';
	dir = dirname(dirname(self));
	snprintf(probe, sizeof(probe), "%s/smtpd/smtpd", dir);
	if (access(probe, X_OK) == 0) {
		strlcpy(env->libexec, dir, sizeof(env->libexec));
		env->in_tree = 1;
	}
}

void
child_path(const struct relayd *env, enum proc_id id, char *buf, size_t sz)
{
	if (env->in_tree)
		snprintf(buf, sz, "%s/%s/%s", env->libexec, proc_name(id),
		    proc_name(id));
	else
		snprintf(buf, sz, "%s/%s", env->libexec, proc_name(id));
}

/*
 * Each child's executable, opened once and checked through its
 * descriptor: a regular file, owned by root (or by the user relayd runs
 * as, who gains nothing), and writable by nobody else.  The children are
 * started from these descriptors (fexecve), so the file checked is the
 * file run, whatever happens to its path meanwhile.
 */
static int
check_children(struct relayd *env)
{
	char		path[PATH_MAX];
	struct stat	st;
	int		i, fd;

	for (i = 1; i < PROC_MAX; i++) {
		env->kids[i].exe_fd = -1;
		/* metricsd runs only with metrics.listen (parent_metrics.c). */
		if (i == PROC_METRICS && !env->conf->metrics.enabled)
			continue;
		child_path(env, (enum proc_id)i, path, sizeof(path));
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
		    fstat(fd, &st) == -1) {
			log_warn("child %s", path);
			if (fd != -1)
				close(fd);
			return -1;
		}
		if (!S_ISREG(st.st_mode) || (st.st_uid != 0 &&
		    st.st_uid != geteuid()) || (st.st_mode & 022) != 0) {
			log_warnx("child %s: not run: it must be a file owned "
			    "by root and writable by nobody else (owner %u, "
			    "mode %04o)", path, (unsigned)st.st_uid,
			    (unsigned)(st.st_mode & 07777));
			close(fd);
			return -1;
		}
		env->kids[i].exe_fd = fd;
	}
	return 0;
}

/*
 * The configuration, and what is allowed but likely wrong: printed as
 * the errors are by -n (check), logged otherwise.
 */
static struct conf *
load(const char *path, struct conf_errors *errs, int check)
{
	struct conf		*conf;
	struct conf_errors	 warns;
	size_t			 i;

	if ((conf = conf_load(path, 0, errs)) == NULL)
		return NULL;
	memset(&warns, 0, sizeof(warns));
	conf_warnings(conf, &warns);
	for (i = 0; i < warns.n; i++)
		if (check)
			fprintf(stderr, "%s\n", warns.msg[i]);
		else
			log_warnx("%s", warns.msg[i]);
	conf_errors_clear(&warns);
	if (conf->tls.ca_fd == -1)
		log_warnx("no CA file (tls.ca_file unset and %s missing): "
		    "MTA-STS policies cannot be verified and are not applied",
		    CONF_DEFAULT_CA_FILE);
	if (conf->dns.nservers == 0 && conf_read_resolv("/etc/resolv.conf",
	    &conf->dns.servers, &conf->dns.nservers) == -1)
		log_warn("/etc/resolv.conf");
	if (conf->dns.nservers == 0) {
		/* As the resolver library does: ask the local host. */
		if ((conf->dns.servers = calloc(1,
		    sizeof(*conf->dns.servers))) != NULL) {
			strlcpy(conf->dns.servers[0].host, "127.0.0.1",
			    sizeof(conf->dns.servers[0].host));
			conf->dns.servers[0].port = 53;
			conf->dns.nservers = 1;
		}
	}
	return conf;
}

/* What needs a restart to change: keep the running values, and say so. */
static int
keep_fixed(struct relayd *env, struct conf *conf)
{
	struct {
		const char	*name;
		char		**now;
		char		*old;
	} fixed[] = {
		{ "state_dir", &conf->state_dir, env->conf->state_dir },
		{ "control_socket", &conf->control_socket,
		    env->conf->control_socket },
		{ "control_group", &conf->control_group,
		    env->conf->control_group },
	};
	size_t	i;
	char	*copy;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (strcmp(*fixed[i].now, fixed[i].old) == 0)
			continue;
		log_warnx("reload: %s changes only at restart; keeping %s",
		    fixed[i].name, fixed[i].old);
		if ((copy = strdup(fixed[i].old)) == NULL)
			return -1;
		free(*fixed[i].now);
		*fixed[i].now = copy;
	}
	/* The key is read once, at start; reloads carry it. */
	memcpy(conf->policy_secret, env->conf->policy_secret,
	    sizeof(conf->policy_secret));
	conf->has_secret = env->conf->has_secret;
	if (redis_conf_keep(conf, env->conf) == -1)
		return -1;
	/* queued maps the store once, at start. */
	if (conf->limits.store_max_size != env->conf->limits.store_max_size) {
		log_warnx("reload: limits.store_max_size changes only at "
		    "restart; keeping %llu", (unsigned long long)
		    env->conf->limits.store_max_size);
		conf->limits.store_max_size = env->conf->limits.store_max_size;
	}
	return 0;
}

int
relayd_reload(struct relayd *env, char *err, size_t errsz)
{
	struct conf_errors	 errs;
	struct conf		*conf;
	gid_t			 admin;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	if ((conf = load(env->conf_path, &errs, 0)) == NULL) {
		for (i = 0; i < errs.n; i++)
			log_warnx("reload: %s", errs.msg[i]);
		log_warnx("reload failed; the configuration in force is "
		    "unchanged");
		snprintf(err, errsz, "configuration has errors, the old one "
		    "stays in force: %s", errs.n > 0 ? errs.msg[0] : "?");
		conf_errors_clear(&errs);
		return -1;
	}
	if (admin_group(env, conf, &admin) == -1) {
		snprintf(err, errsz, "control_admin_group %s does not exist; "
		    "the old configuration stays in force",
		    conf->control_admin_group);
		conf_free(conf);
		log_warnx("reload failed; the configuration in force is "
		    "unchanged");
		return -1;
	}
	if (keep_fixed(env, conf) == -1 ||
	    listeners_bind(conf, env->conf) == -1 ||
	    metrics_bind(env, conf, env->conf) == -1) {
		conf_free(conf);
		log_warnx("reload failed; the configuration in force is "
		    "unchanged");
		snprintf(err, errsz, "cannot apply the new listeners; the old "
		    "configuration stays in force");
		return -1;
	}
	limits_check(env, conf);
	env->admin_gid = admin;
	env->gen++;
	notify_reloading(&env->notify, env->gen);
	children_send_conf(env, conf);
	conf_free(env->conf);
	env->conf = conf;
	selfcheck_reconf(env->selfcheck);
	log_set_redact(!conf->log.addresses);
	(void)parent_log_conf(env, conf);
	log_info("configuration %u loaded: %zu tenants, %zu listeners",
	    env->gen, conf->ntenants, conf->nlisteners);
	return 0;
}

void
relayd_conf_acked(struct relayd *env)
{
	char status[64];

	if (!children_all_acked(env))
		return;
	log_info("configuration %u is in force in every process", env->gen);
	snprintf(status, sizeof(status), "configuration %u in force", env->gen);
	notify_ready(&env->notify, status);
	control_reload_done(env->control, 1, NULL);
}

/* A child could not apply a configuration and keeps the one it had. */
void
relayd_conf_failed(struct relayd *env, struct kid *k, uint32_t gen,
    const char *why)
{
	char err[1200];

	snprintf(err, sizeof(err), "%s kept its previous configuration: %s",
	    proc_name(k->id), why);
	log_warnx("configuration %u: %s", gen, err);
	if (gen != env->gen)
		return;
	/* The reload is over: relayd serves on, partly with the old one. */
	notify_ready(&env->notify, "reload failed; see the log");
	control_reload_done(env->control, 0, err);
}

static void
on_signal(int sig, short ev, void *arg)
{
	struct relayd	*env = arg;
	char		 err[1024];

	(void)ev;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (!env->stopping)
			log_info("received %s; stopping", strsignal(sig));
		children_stop(env, 0);
		break;
	case SIGHUP:
		log_info("SIGHUP: reloading the configuration");
		(void)relayd_reload(env, err, sizeof(err));
		break;
	case SIGCHLD:
		children_reap(env);
		break;
	}
}

static void
add_signal(struct relayd *env, int sig)
{
	struct event *ev;

	if ((ev = evsignal_new(env->base, sig, on_signal, env)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("cannot handle signal %d", sig);
}

int
main(int argc, char **argv)
{
	struct relayd		 env;
	struct conf_errors	 errs;
	const char		*path = SYSCONFDIR "/relayd.yaml";
	int			 ch, check = 0;

	memset(&env, 0, sizeof(env));
	env.lock_fd = -1;
	while ((ch = getopt(argc, argv, "dFf:nVv")) != -1) {
		switch (ch) {
		case 'd':
			env.debug = 1;
			break;
		case 'F':
			env.foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("relayd %s\n", RELAYD_VERSION);
			exit(0);
		case 'v':
			env.verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(1, env.verbose, "relayd");
	if (strlcpy(env.conf_path, path, sizeof(env.conf_path)) >=
	    sizeof(env.conf_path))
		fatalx("%s: path too long", path);

	memset(&errs, 0, sizeof(errs));
	if ((env.conf = load(path, &errs, check)) == NULL) {
		print_errors(&errs);
		exit(1);
	}
	if (check) {
		fprintf(stderr, "configuration OK: %zu tenants\n",
		    env.conf->ntenants);
		exit(0);
	}
	log_set_redact(!env.conf->log.addresses);

	/* Before any child is started, so that none inherits it. */
	(void)notify_open(&env.notify);
	env.asroot = geteuid() == 0;
	if (!env.asroot)
		log_warnx("not running as root: children keep this user and "
		    "are not confined (for development only)");
	find_children(&env);
	if (check_children(&env) == -1 || users_resolve(&env) == -1 ||
	    state_prepare(&env) == -1 || state_lock(&env) == -1)
		exit(1);
	limits_raise(&env);
	if (listeners_bind(env.conf, NULL) == -1 ||
	    metrics_bind(&env, env.conf, NULL) == -1)
		exit(1);

	if (!env.debug && !env.foreground && daemon(0, 0) == -1)
		fatal("daemon");
	if (!env.debug)
		log_init(0, env.verbose, "relayd");
	state_lock_note_pid(&env);
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &env.started);
	if ((env.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	add_signal(&env, SIGTERM);
	add_signal(&env, SIGINT);
	add_signal(&env, SIGHUP);
	add_signal(&env, SIGCHLD);
	if (parent_log_conf(&env, env.conf) == -1)
		exit(1);

	children_start(&env);
	env.gen = 1;
	children_send_conf(&env, env.conf);
	if ((env.control = control_open(&env)) == NULL ||
	    (env.selfcheck = selfcheck_open(&env)) == NULL ||
	    (env.metrics = metrics_open(&env)) == NULL)
		children_stop(&env, 1);
	else
		log_info("relayd started: %zu tenants, %zu listeners, "
		    "state in %s", env.conf->ntenants, env.conf->nlisteners,
		    env.conf->state_dir);

	event_base_dispatch(env.base);

	control_close(env.control);
	selfcheck_close(env.selfcheck);
	metrics_close(env.metrics);
	redis_cancel_all();
	children_reap(&env);
	log_info("relayd stopped");
	parent_log_close();
	notify_close(&env.notify);
	conf_free(env.conf);
	return env.exit_status;
}
