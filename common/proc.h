/*
 * proc: the process table and the channel graph, written down once.
 *
 *                         relayd (parent, root)
 *     +---------+---------+---------+---------+---------+---------+
 *   smtpd    queued   deliverd    dnsd    policyd    keyd    metricsd
 *
 *   smtpd    - queued     spool descriptors, commits, free space
 *   smtpd    - policyd    stateful checks for a session, content scans
 *   smtpd    - dnsd       forward-confirmed reverse names of clients
 *   queued   - deliverd   delivery jobs with spool descriptors, results
 *   queued   - policyd    policyd's writes (LMDB has one writer: queued),
 *                         and the spool file of a message to scan
 *   deliverd - dnsd       MX, A and AAAA look-ups
 *   policyd  - dnsd       DNSBL and SPF look-ups
 *   policyd  - deliverd   recipient callouts; what deliveries learned
 *   smtpd    - keyd       TLS handshakes' private-key operations
 *
 * metricsd has no peer: it asks the parent, which asks the others
 * (msg_metrics.h).  It runs only when metrics.listen is set.
 *
 * Every child has a channel to the parent on descriptor PROC_FD_PARENT;
 * its peer channels follow in the order of proc_edges.  Nothing else is
 * connected: a message arriving on an edge that is not listed here cannot
 * exist, and one of a type not meant for that edge is fatal.
 */
#ifndef RELAYD_PROC_H
#define RELAYD_PROC_H

enum proc_id {
	PROC_PARENT,
	PROC_SMTPD,
	PROC_QUEUED,
	PROC_DELIVERD,
	PROC_DNSD,
	PROC_POLICYD,
	PROC_KEYD,
	PROC_METRICS,
	PROC_MAX
};

/* Configuration slices a child receives (config_wire.c). */
#define SLICE_GLOBAL	0x01
#define SLICE_LISTEN	0x02
#define SLICE_DNS	0x04
#define SLICE_TENANTS	0x08
#define SLICE_RCPTS	0x10
#define SLICE_SECRET	0x20	/* the policy store's key (policyd) */
#define SLICE_TLS_CA	0x40	/* the tls.ca_file descriptor */
#define SLICE_TLS_CERTS	0x80	/* certificate chains and names (smtpd) */
#define SLICE_TLS_KEYS	0x100	/* their private keys (keyd) */
#define SLICE_CONTACTS	0x200	/* tenants' contacts (queued's notices) */
#define SLICE_METRICS	0x400	/* the metrics listener (metricsd) */
#define SLICE_STORE	0x800	/* policy_store, its password (policyd) */

enum proc_root {
	ROOT_NONE,		/* the parent */
	ROOT_EMPTY,		/* state_dir/empty: holds nothing */
	ROOT_DNS,		/* state_dir/dns: dev/urandom only (dnsd.h) */
	ROOT_STATE		/* state_dir: the LMDB store and spool */
};

/* The root directory of a child, below state_dir. */
const char *proc_root_dir(enum proc_root);

struct proc_desc {
	enum proc_id	 id;
	const char	*name;
	const char	*user;	/* system user and group of the same name */
	enum proc_root	 root;
	unsigned	 slices;
};

struct proc_edge {
	enum proc_id	 a;
	enum proc_id	 b;
};

#define PROC_FD_PARENT	3

/*
 * A child's exit status when it leaves because a peer's channel closed
 * or failed: another child went first, and the parent blames that one.
 * A child leaves with 0 when its parent's channel closes, 1 on fatal().
 */
#define PROC_EXIT_PEER	3

extern const struct proc_desc proc_table[PROC_MAX];
extern const struct proc_edge proc_edges[];
extern const unsigned proc_nedges;

const struct proc_desc *proc_by_name(const char *);
int	 proc_has_edge(enum proc_id, enum proc_id);
/* Descriptor number of self's channel to peer after exec; -1 if none. */
int	 proc_peer_fd(enum proc_id self, enum proc_id peer);
/* The highest descriptor number a child's channels use. */
int	 proc_max_fd(enum proc_id self);
const char *proc_name(enum proc_id);

#endif
