/*
 * relayd, the parent process.
 *
 * Reads the configuration (and /etc/resolv.conf for dnsd), takes the state
 * lock, binds the listeners, creates the channels of proc.h, starts each
 * child by fork and exec, sends it its configuration slice, supervises it,
 * writes the log, reloads on SIGHUP and serves relayctl.  It keeps root and
 * therefore does as little as possible: it never parses mail or DNS, and it
 * never opens the LMDB store.
 */
#ifndef RELAYD_RELAYD_H
#define RELAYD_RELAYD_H

#include <sys/types.h>
#include <sys/un.h>

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "proc.h"

struct chan;
struct control;
struct kidmsg;
struct metrics;
struct selfcheck;

struct kid {
	enum proc_id	 id;
	pid_t		 pid;
	struct chan	*chan;
	struct timespec	 started;
	uid_t		 uid;
	gid_t		 gid;
	uint32_t	 acked;		/* configuration generation */
	int		 running;
	int		 status;	/* from waitpid, once not running */
	int		 killed;	/* by the stop timer */
	int		 pri_clamped;	/* it logged above LOG_CRIT, said once */
	int		 exe_fd;	/* its checked executable (fexecve) */
	uint64_t	 nofile;	/* its descriptor limit */
};

/* The service manager's notification socket (parent_notify.c). */
struct notify {
	int			 fd;		/* -1: nobody to tell */
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 warned;	/* a send failed, said once */
};

struct relayd {
	struct event_base *base;
	char		 conf_path[PATH_MAX];
	struct conf	*conf;
	int		 debug;
	int		 foreground;		/* -F: no daemon(), syslog */
	int		 verbose;
	int		 asroot;
	int		 lock_fd;
	char		 libexec[PATH_MAX];	/* where the children are */
	int		 in_tree;		/* run from the source tree */
	struct kid	 kids[PROC_MAX];
	gid_t		 control_gid;
	gid_t		 admin_gid;		/* -1: none but root */
	uint32_t	 gen;			/* configuration generation */
	struct control	*control;
	struct selfcheck *selfcheck;
	struct metrics	*metrics;
	struct timespec	 started;
	int		 stopping;
	int		 exit_status;
	int		 blame_pending;	/* a child left unasked; who died? */
	enum proc_id	 first_gone;	/* the first child to leave */
	struct event	*stop_timer;
	struct notify	 notify;
};

/* parent_state.c */
int	 state_prepare(struct relayd *);
int	 policy_secret(struct relayd *);
int	 state_lock(struct relayd *);
void	 state_lock_note_pid(struct relayd *);
int	 users_resolve(struct relayd *);
int	 admin_group(const struct relayd *, const struct conf *, gid_t *);
void	 limits_raise(struct relayd *);
void	 limits_check(const struct relayd *, const struct conf *);

/* parent_listen.c */
int	 listeners_bind(struct conf *, const struct conf *old);
/* A bound, listening, non-blocking socket; -1, logged. */
int	 listen_socket(const struct hostport *, int backlog);

/* parent_metrics.c */
struct metrics *metrics_open(struct relayd *);
void	 metrics_close(struct metrics *);
/* Bind metrics.listen (reused when it stays); -1, logged. */
int	 metrics_bind(struct relayd *, struct conf *, const struct conf *old);
/* metricsd asks, children answer; -1: the sender lied. */
int	 metrics_scrape(struct metrics *, struct kid *, uint64_t id);
int	 metrics_samples(struct metrics *, struct kid *,
	    const struct kidmsg *);
int	 metrics_end(struct metrics *, struct kid *, const struct kidmsg *);

/* parent_children.c */
void	 children_start(struct relayd *);
void	 children_send_conf(struct relayd *, const struct conf *);
int	 children_all_acked(const struct relayd *);
void	 children_reap(struct relayd *);
void	 children_stop(struct relayd *, int status);
struct kid *kid_by_chan(struct relayd *, struct chan *);

/* parent_log.c */
int	 parent_log_conf(struct relayd *, const struct conf *);
void	 parent_log_close(void);
/* parent_connect.c: policyd's outside connections (msg_connect.h). */
int	 parent_connect(struct relayd *, struct kid *, const struct kidmsg *);
/* parent_milter.c: policyd's connections to configured milters. */
int	 milter_open(struct relayd *, struct kid *, uint64_t req,
	    uint32_t gen, uint32_t ep);
void	 milter_cancel_all(struct relayd *);

/* parent_notify.c */
int	 notify_open(struct notify *);
void	 notify_close(struct notify *);
void	 notify_ready(struct notify *, const char *status);
void	 notify_reloading(struct notify *, uint32_t gen);
void	 notify_stopping(struct notify *);

/* parent_control.c */
struct control *control_open(struct relayd *);
void	 control_close(struct control *);
void	 control_status_reply(struct control *, struct kid *, uint64_t id,
	    const char *state);
void	 control_forward_line(struct control *, struct kid *, uint64_t id,
	    const char *);
void	 control_forward_pause(struct control *, struct kid *, uint64_t id);
void	 control_forward_done(struct control *, struct kid *, uint64_t id,
	    int ok, const char *err);
void	 control_reload_done(struct control *, int ok, const char *err);
void	 control_selfcheck_line(struct control *, uint64_t id,
	    const char *);
void	 control_selfcheck_done(struct control *, uint64_t id, int ok,
	    const char *err);

/* parent_selfcheck.c */
struct selfcheck *selfcheck_open(struct relayd *);
void	 selfcheck_reconf(struct selfcheck *);
void	 selfcheck_close(struct selfcheck *);
/* parent_announce.c */
int	 announce_forward(struct chan *, uint64_t id, const char *, size_t,
	    char *err, size_t errsz);

int	 selfcheck_request(struct selfcheck *, uint64_t conn, uid_t,
	    const char *from, char *err, size_t errsz);
/* A result from deliverd; -1: it lied. */
int	 selfcheck_result(struct selfcheck *, const struct kidmsg *);
int	 selfcheck_done(struct selfcheck *, const struct kidmsg *);

/* parent_redis.c */
int	 redis_open(struct relayd *, struct kid *, uint64_t req, uint32_t node);
void	 redis_cancel_all(void);
int	 redis_store_secret(struct conf *);
int	 redis_conf_keep(struct conf *, const struct conf *old);

/* relayd.c */
void	 child_path(const struct relayd *, enum proc_id, char *, size_t);
int	 relayd_reload(struct relayd *, char *err, size_t errsz);
void	 relayd_conf_acked(struct relayd *);
void	 relayd_conf_failed(struct relayd *, struct kid *, uint32_t gen,
	    const char *why);

#endif
