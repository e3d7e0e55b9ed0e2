/*
 * metrics: the metric families every process may report, how a process
 * writes its samples for a scrape, and how metricsd reads them back.
 *
 * A family is a name, a type and a help text, declared once here
 * (mx_families): a process names the family by its id, the wire carries
 * the name, the type and the id (msg_metrics.h), and metricsd checks the
 * three agree before it renders anything.  Values are unsigned: every
 * counter counts up from 0 since the process started, every gauge is a
 * count or an age.
 *
 * mx_decode is pure, so it can be fuzzed (regress/fuzz/mx_samples.c).
 */
#ifndef RELAYD_METRICS_H
#define RELAYD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "marshal.h"

enum mx_type {
	MX_COUNTER = 1,
	MX_GAUGE = 2
};

enum mx_family {
	MXF_UP,
	MXF_SCRAPE_INCOMPLETE,
	MXF_START_TIME,
	MXF_CONFIG_GEN,
	MXF_SMTPD_SESSIONS,
	MXF_SMTPD_SESSIONS_TOTAL,
	MXF_SMTPD_ACCEPTED,
	MXF_SMTPD_TLS,
	MXF_QUEUE_MESSAGES,
	MXF_QUEUE_OLDEST,
	MXF_QUEUE_DELIVERIES,
	MXF_TENANT_IN,
	MXF_TENANT_OUT,
	MXF_TENANT_DELIVERED,
	MXF_TENANT_DEFERRED,
	MXF_TENANT_BOUNCED,
	MXF_DELIVERD_CONNS,
	MXF_DELIVERD_CONNS_TOTAL,
	MXF_DELIVERD_DELIVERIES,
	MXF_DNS_QUERIES,
	MXF_DNS_HITS,
	MXF_DNS_FAILURES,
	MXF_DNS_CACHED,
	MXF_POLICY_VERDICTS,
	MXF_KEYD_SIGNATURES,
	MXF_MAX
};

struct mx_def {
	const char	*name;
	enum mx_type	 type;
	const char	*help;
};

extern const struct mx_def mx_families[MXF_MAX];

#define MX_NAME_MAX	128	/* a family's name, with its NUL */
#define MX_LABEL_MAX	64	/* a label's name */
#define MX_VALUE_MAX	256	/* a label's value */
#define MX_LABELS_MAX	4	/* per sample */

struct mx_label {
	const char	*name;
	const char	*value;
};

/*
 * A scrape's answer being written: samples are packed into frames of at
 * most one imsg payload (less the parent's MX_WRAP_RESERVE), and each
 * full frame goes to flush.  err is sticky: a sample that did not fit or
 * a flush that failed.
 */
struct mx_out {
	struct mw	  w;
	uint32_t	  n;		/* samples in w */
	int		(*flush)(void *arg, const void *, size_t);
	void		 *arg;
	int		  err;
};

void	 mx_out_init(struct mx_out *, int (*flush)(void *, const void *,
	    size_t), void *arg);
void	 mx_add(struct mx_out *, enum mx_family, const struct mx_label *,
	    size_t nlabels, uint64_t value);
void	 mx_add0(struct mx_out *, enum mx_family, uint64_t);
void	 mx_add1(struct mx_out *, enum mx_family, const char *label,
	    const char *lvalue, uint64_t);
/* Send what is left; 0, or -1 if anything was lost. */
int	 mx_out_finish(struct mx_out *);

/* One decoded sample; its strings point into the caller's buffers. */
struct mx_sample {
	char		 name[MX_NAME_MAX];
	enum mx_type	 type;
	uint32_t	 family;
	size_t		 nlabels;
	char		 lname[MX_LABELS_MAX][MX_LABEL_MAX];
	char		 lvalue[MX_LABELS_MAX][MX_VALUE_MAX];
	uint64_t	 value;
};

/*
 * Read one frame of samples, checked: names and label names of the
 * Prometheus syntax, a known family whose name and type agree, at most
 * MX_LABELS_MAX labels, no label twice, no sample cut short.  Calls fn
 * for each sample (it may stop with -1).  0, or -1 with *why.
 */
int	 mx_decode(const void *, size_t,
	    int (*fn)(void *, const struct mx_sample *), void *arg,
	    const char **why);
/* [a-zA-Z_:][a-zA-Z0-9_:]* */
int	 mx_valid_name(const char *);
/* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved) */
int	 mx_valid_label(const char *);
/*
 * A label value as the text format wants it: \ " and newline escaped,
 * any other byte outside printable ASCII as '?'.  Truncated to fit;
 * returns the length written.
 */
size_t	 mx_escape(const char *, char *, size_t);

#endif
