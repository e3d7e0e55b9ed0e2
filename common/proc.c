/*
 * proc: the process table and channel graph.
 */
#include <string.h>

#include "proc.h"

const struct proc_desc proc_table[PROC_MAX] = {
	{ PROC_PARENT, "relayd", NULL, ROOT_NONE, 0 },
	{ PROC_SMTPD, "smtpd", "relayd-smtpd", ROOT_EMPTY,
	    SLICE_GLOBAL | SLICE_LISTEN | SLICE_TENANTS | SLICE_RCPTS |
	    SLICE_TLS_CERTS },
	{ PROC_QUEUED, "queued", "relayd-queue", ROOT_STATE,
	    SLICE_GLOBAL | SLICE_TENANTS | SLICE_CONTACTS },
	{ PROC_DELIVERD, "deliverd", "relayd-deliver", ROOT_EMPTY,
	    SLICE_GLOBAL | SLICE_TENANTS | SLICE_TLS_CA },
	{ PROC_DNSD, "dnsd", "relayd-dns", ROOT_DNS,
	    SLICE_GLOBAL | SLICE_DNS },
	{ PROC_POLICYD, "policyd", "relayd-policy", ROOT_STATE,
	    SLICE_GLOBAL | SLICE_TENANTS | SLICE_SECRET | SLICE_STORE },
	{ PROC_KEYD, "keyd", "relayd-key", ROOT_EMPTY,
	    SLICE_GLOBAL | SLICE_TLS_KEYS },
	{ PROC_METRICS, "metricsd", "relayd-metrics", ROOT_EMPTY,
	    SLICE_GLOBAL | SLICE_METRICS },
};

const struct proc_edge proc_edges[] = {
	{ PROC_SMTPD, PROC_QUEUED },
	{ PROC_SMTPD, PROC_POLICYD },
	{ PROC_SMTPD, PROC_DNSD },
	{ PROC_QUEUED, PROC_DELIVERD },
	{ PROC_QUEUED, PROC_POLICYD },
	{ PROC_DELIVERD, PROC_DNSD },
	{ PROC_POLICYD, PROC_DNSD },
	{ PROC_POLICYD, PROC_DELIVERD },
	{ PROC_SMTPD, PROC_KEYD },
};

const unsigned proc_nedges = sizeof(proc_edges) / sizeof(proc_edges[0]);

const char *
proc_root_dir(enum proc_root r)
{
	switch (r) {
	case ROOT_EMPTY:
		return "/empty";
	case ROOT_DNS:
		return "/dns";
	default:
		return "";
	}
}

const struct proc_desc *
proc_by_name(const char *name)
{
	int i;

	for (i = 0; i < PROC_MAX; i++)
		if (strcmp(proc_table[i].name, name) == 0)
			return &proc_table[i];
	return NULL;
}

const char *
proc_name(enum proc_id id)
{
	return (id >= 0 && id < PROC_MAX) ? proc_table[id].name : "?";
}

int
proc_has_edge(enum proc_id x, enum proc_id y)
{
	unsigned i;

	if (x == PROC_PARENT || y == PROC_PARENT)
		return x != y;
	for (i = 0; i < proc_nedges; i++)
		if ((proc_edges[i].a == x && proc_edges[i].b == y) ||
		    (proc_edges[i].a == y && proc_edges[i].b == x))
			return 1;
	return 0;
}

int
proc_peer_fd(enum proc_id self, enum proc_id peer)
{
	unsigned i;
	int fd = PROC_FD_PARENT + 1;

	if (peer == PROC_PARENT)
		return PROC_FD_PARENT;
	for (i = 0; i < proc_nedges; i++) {
		if (proc_edges[i].a != self && proc_edges[i].b != self)
			continue;
		if (proc_edges[i].a == peer || proc_edges[i].b == peer)
			return fd;
		fd++;
	}
	return -1;
}

int
proc_max_fd(enum proc_id self)
{
	unsigned i;
	int fd = PROC_FD_PARENT;

	for (i = 0; i < proc_nedges; i++)
		if (proc_edges[i].a == self || proc_edges[i].b == self)
			fd++;
	return fd;
}
