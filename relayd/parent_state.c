/*
 * parent_state: the state directory, its lock, the children's users and
 * the descriptor limits.
 *
 *   state_dir/        root, 0755: the chroot of queued and policyd
 *   state_dir/lock    held (flock) while relayd runs
 *   state_dir/empty/  root, 0755, empty: the root of smtpd and deliverd
 *   state_dir/dns/    root, 0755, holding dev/urandom: the root of dnsd
 *   state_dir/spool/  queued, 0700: message bodies
 *   state_dir/corrupt/ queued, 0700: what queued could not use, kept
 *   state_dir/records/ queued, 0700: the record store; queued makes
 *                     open/ and held/ in it (queued/queue_record.c)
 *   state_dir/db/     queued:policyd, 2750: the LMDB environment
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdneed.h"
#include "log.h"
#include "relayd.h"

/* Create a directory, or check the one there, and set owner and mode. */
static int
state_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, int asroot)
{
	struct stat st;

	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", path);
		return -1;
	}
	if (lstat(path, &st) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: not a directory", path);
		return -1;
	}
	if (asroot && (st.st_uid != uid || st.st_gid != gid) &&
	    chown(path, uid, gid) == -1) {
		log_warn("chown %s", path);
		return -1;
	}
	if ((st.st_mode & 07777) != mode && chmod(path, mode) == -1) {
		log_warn("chmod %s", path);
		return -1;
	}
	return 0;
}

static int
dir_is_empty(const char *path)
{
	DIR *d;
	struct dirent *e;
	int empty = 1;

	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/*
 * c-ares 1.18 reads its query ids from /dev/urandom (see dnsd.h), so
 * dnsd's root holds that one device and nothing else.
 */
static int
dns_root(struct relayd *env)
{
	char		path[PATH_MAX];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/dns", env->conf->state_dir);
	if (state_dir(path, 0755, 0, 0, env->asroot) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/dns/dev", env->conf->state_dir);
	if (state_dir(path, 0755, 0, 0, env->asroot) == -1)
		return -1;
	if (!env->asroot)
		return 0;	/* not chrooted: the real /dev/urandom */
	snprintf(path, sizeof(path), "%s/dns/dev/urandom",
	    env->conf->state_dir);
	if (lstat(path, &st) == 0 && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(1, 9) && st.st_uid == 0)
		return chmod(path, 0444);
	unlink(path);
	if (mknod(path, S_IFCHR | 0444, makedev(1, 9)) == -1) {
		log_warn("mknod %s", path);
		return -1;
	}
	return 0;
}

int
state_prepare(struct relayd *env)
{
	const char	*sd = env->conf->state_dir;
	struct kid	*q = &env->kids[PROC_QUEUED];
	struct kid	*p = &env->kids[PROC_POLICYD];
	char		 path[PATH_MAX];
	int		 r = env->asroot;

	if (state_dir(sd, 0755, 0, 0, r) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/empty", sd);
	if (state_dir(path, 0755, 0, 0, r) == -1)
		return -1;
	if (!dir_is_empty(path)) {
		log_warnx("%s must be empty: it is the children's root", path);
		return -1;
	}
	if (dns_root(env) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/spool", sd);
	if (state_dir(path, 0700, q->uid, q->gid, r) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/corrupt", sd);
	if (state_dir(path, 0700, q->uid, q->gid, r) == -1)
		return -1;
	/* What is inside is queued's to make: we hold no DAC override. */
	snprintf(path, sizeof(path), "%s/records", sd);
	if (state_dir(path, 0700, q->uid, q->gid, r) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/db", sd);
	/* setgid: the LMDB files take policyd's group, which reads them. */
	if (state_dir(path, 02750, q->uid, p->gid, r) == -1)
		return -1;
	return policy_secret(env);
}

/*
 * The key of the policy store's HMACs (greylisting keys name no address
 * in clear): state_dir/policy.secret, root's alone, made once from the
 * kernel's random numbers.  policyd gets it in its configuration slice.
 */
int
policy_secret(struct relayd *env)
{
	char		path[PATH_MAX];
	uint8_t		key[CONF_SECRET_LEN];
	struct stat	st;
	ssize_t		n;
	int		fd;

	snprintf(path, sizeof(path), "%s/policy.secret", env->conf->state_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1) {
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    (st.st_mode & 077) != 0 ||
		    (n = read(fd, key, sizeof(key))) != (ssize_t)sizeof(key)) {
			log_warnx("%s: not a %zu-octet file readable by its "
			    "owner alone", path, sizeof(key));
			close(fd);
			return -1;
		}
		close(fd);
	} else if (errno != ENOENT) {
		log_warn("%s", path);
		return -1;
	} else {
		arc4random_buf(key, sizeof(key));
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600)) == -1 || write(fd, key, sizeof(key)) !=
		    (ssize_t)sizeof(key) || fsync(fd) == -1) {
			log_warn("%s", path);
			if (fd != -1)
				close(fd);
			unlink(path);
			return -1;
		}
		close(fd);
		log_info("made the policy store's key, %s", path);
	}
	memcpy(env->conf->policy_secret, key, sizeof(key));
	env->conf->has_secret = 1;
	explicit_bzero(key, sizeof(key));
	/* Several nodes: one secret for all (parent_redis.c). */
	return redis_store_secret(env->conf);
}

int
state_lock(struct relayd *env)
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/lock", env->conf->state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			log_warnx("another relayd is running on %s (%s is "
			    "locked)", env->conf->state_dir, path);
		else
			log_warn("lock %s", path);
		close(fd);
		return -1;
	}
	env->lock_fd = fd;
	return 0;
}

/* Note the pid in the lock file once we run for good (after daemon()). */
void
state_lock_note_pid(struct relayd *env)
{
	char pid[32];
	int n;

	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(env->lock_fd, 0) == -1 ||
	    pwrite(env->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("cannot note the pid in the lock file");
}

int
users_resolve(struct relayd *env)
{
	struct passwd	*pw;
	struct group	*gr;
	int		 i;

	for (i = 1; i < PROC_MAX; i++) {
		env->kids[i].id = (enum proc_id)i;
		if (!env->asroot || (i == PROC_METRICS &&
		    !env->conf->metrics.enabled))
			continue;
		if ((pw = getpwnam(proc_table[i].user)) == NULL) {
			log_warnx("user %s does not exist (make users, or "
			    "install the sysusers.d file)", proc_table[i].user);
			return -1;
		}
		if (pw->pw_uid == 0 || pw->pw_gid == 0) {
			log_warnx("user %s must not be root", proc_table[i].user);
			return -1;
		}
		env->kids[i].uid = pw->pw_uid;
		env->kids[i].gid = pw->pw_gid;
	}
	if (!env->asroot)
		return admin_group(env, env->conf, &env->admin_gid);
	for (i = 1; i < PROC_MAX; i++) {
		int j;

		for (j = 1; j < i; j++)
			if (env->kids[i].uid != 0 &&
			    env->kids[i].uid == env->kids[j].uid) {
				log_warnx("users %s and %s share a uid",
				    proc_table[i].user, proc_table[j].user);
				return -1;
			}
	}
	if ((gr = getgrnam(env->conf->control_group)) == NULL) {
		log_warnx("control_group %s does not exist",
		    env->conf->control_group);
		return -1;
	}
	env->control_gid = gr->gr_gid;
	return admin_group(env, env->conf, &env->admin_gid);
}

/*
 * control_admin_group's gid, at start and at each reload.  Running as
 * root, a group that does not exist is an error; otherwise (development)
 * only root is an administrator, and relayd says so.
 */
int
admin_group(const struct relayd *env, const struct conf *conf, gid_t *gid)
{
	struct group *gr;

	if ((gr = getgrnam(conf->control_admin_group)) != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (env->asroot) {
		log_warnx("control_admin_group %s does not exist",
		    conf->control_admin_group);
		return -1;
	}
	log_warnx("control_admin_group %s does not exist: only root may use "
	    "the administrator's commands", conf->control_admin_group);
	*gid = (gid_t)-1;
	return 0;
}

static rlim_t
nr_open(void)
{
	unsigned long	 n = 1048576;
	FILE		*f;

	if ((f = fopen("/proc/sys/fs/nr_open", "re")) != NULL) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 1048576;
		fclose(f);
	}
	return (rlim_t)n;
}

/*
 * Each child's descriptor limit, from what it holds for this
 * configuration (fdneed.h); kid_exec sets it between fork and exec.  We
 * raise our own hard limit so that we can give it, up to
 * /proc/sys/fs/nr_open; without CAP_SYS_RESOURCE we cannot, and a child
 * then gets what the hard limit allows and sizes its work to that.
 */
void
limits_raise(struct relayd *env)
{
	const struct conf	*conf = env->conf;
	struct rlimit		 rl, up;
	rlim_t			 want, most, cap = nr_open();
	int			 i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	for (most = 0, i = 0; i < PROC_MAX; i++)
		if ((want = fd_need(conf, (enum proc_id)i)) > most)
			most = want;
	if (most > cap)
		most = cap;
	if (rl.rlim_max < most) {
		up.rlim_cur = rl.rlim_cur;
		up.rlim_max = most;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_max = most;
	}
	want = fd_need(conf, PROC_PARENT);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit");
	}
	for (i = 1; i < PROC_MAX; i++) {
		want = fd_need(conf, (enum proc_id)i);
		env->kids[i].nofile = want < rl.rlim_max ? want : rl.rlim_max;
		if (env->kids[i].nofile < want)
			log_warnx("descriptor limit: %s needs %llu descriptors "
			    "for this configuration but can have only %llu: "
			    "%s is %llu", proc_name((enum proc_id)i),
			    (unsigned long long)want,
			    (unsigned long long)env->kids[i].nofile,
			    rl.rlim_max >= cap ? "/proc/sys/fs/nr_open" :
			    "the hard limit, out of relayd's reach,",
			    (unsigned long long)rl.rlim_max);
	}
}

/* A reload cannot change a running child's limit: say when it falls short. */
void
limits_check(const struct relayd *env, const struct conf *conf)
{
	rlim_t	want;
	int	i;

	for (i = 1; i < PROC_MAX; i++) {
		want = fd_need(conf, (enum proc_id)i);
		if (env->kids[i].nofile < want)
			log_warnx("reload: %s has %llu descriptors, the new "
			    "configuration needs %llu; restart relayd to "
			    "raise it", proc_name((enum proc_id)i),
			    (unsigned long long)env->kids[i].nofile,
			    (unsigned long long)want);
	}
}
