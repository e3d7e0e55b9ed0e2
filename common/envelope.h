/*
 * envelope: one message and its recipients, as queued stores it.
 *
 * Each recipient carries its own tenant, direction and route, since one
 * SMTP transaction may mix tenants and directions.  The body lives in the
 * spool file named by the id; the envelope is the LMDB value under it.
 */
#ifndef RELAYD_ENVELOPE_H
#define RELAYD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "netaddr.h"

/*
 * The stored form's version.  Version 1 (before notices could be owed)
 * is still read, so that queued can migrate a store at start.
 */
#define ENV_VERSION	2
#define ENV_VERSION_MIN	1
/* The queue store's format, recorded in its "meta" database. */
#define STORE_VERSION	2	/* envelopes of ENV_VERSION 2 */
#define ENVID_MAX	100	/* RFC 3461 ENVID, xtext */
#define ORCPT_MAX	500
#define HELO_MAX	255
#define TENANT_MAX	64
#define ERRTEXT_MAX	512

enum direction {
	DIR_INBOUND = 1,	/* to the tenant's own servers */
	DIR_OUTBOUND = 2	/* out to the Internet by MX */
};

enum route_kind {
	ROUTE_TENANT = 1,	/* the tenant's inbound.deliver_to */
	ROUTE_MX = 2		/* MX of the domain (or the literal) */
};

#define NOTIFY_NEVER	0x1
#define NOTIFY_SUCCESS	0x2
#define NOTIFY_FAILURE	0x4
#define NOTIFY_DELAY	0x8

enum ret_mode {
	RET_NONE = 0,
	RET_FULL = 1,
	RET_HDRS = 2
};

enum body_type {
	BODY_7BIT = 0,		/* not declared, or 7BIT */
	BODY_8BITMIME = 1
};

enum rcpt_status {
	RS_PENDING = 0,
	RS_SENT = 1,
	RS_BOUNCED = 2,
	RS_REMOVED = 3
};

struct rcpt {
	char		*addr;		/* local@domain as received */
	char		*orcpt;		/* ORCPT parameter, or NULL */
	uint8_t		 notify;	/* NOTIFY_*, 0 when not given */
	uint8_t		 dir;		/* enum direction */
	uint8_t		 route;		/* enum route_kind */
	uint8_t		 status;	/* enum rcpt_status */
	char		 tenant[TENANT_MAX + 1];	/* "" for the operator */
	char		*domain;	/* the route's domain or literal */
	uint32_t	 attempts;
	int64_t		 next_attempt;
	char		*last_error;
	uint8_t		 flags;		/* RF_* */
	char		 dsn[16];	/* final status, for a notice owed */
	char		*remote;	/* Remote-MTA of the final reply */
};

/* A notice about this recipient's fate is due and not yet queued. */
#define RF_NOTICE_OWED	0x1
#define RF_ALL		(RF_NOTICE_OWED)

#define ENVF_8BIT_BODY	0x1	/* the body has octets above 127 */
#define ENVF_BOUNCE	0x2	/* our own DSN: never bounced */
#define ENVF_HOLD	0x4	/* held by the operator */
#define ENVF_WARNED	0x8	/* delay warning sent */
#define ENVF_NOTICE	0x10	/* a notice to a tenant (with ENVF_BOUNCE) */

struct envelope {
	uint64_t	 id;
	char		*sender;	/* "" for the null path */
	char		 helo[HELO_MAX + 1];
	struct netaddr	 client;
	char		 client_name[256];
	int64_t		 created;	/* seconds since the epoch */
	uint64_t	 size;		/* spool file size */
	uint8_t		 body;		/* enum body_type */
	uint8_t		 smtputf8;
	uint8_t		 ret;		/* enum ret_mode */
	uint32_t	 flags;		/* ENVF_* */
	char		 envid[ENVID_MAX + 1];
	struct rcpt	*rcpts;
	size_t		 nrcpts;
};

struct mw;
struct mr;

struct envelope *envelope_new(void);
void	 envelope_free(struct envelope *);
struct rcpt *envelope_add_rcpt(struct envelope *);

/* The envelope's header fields, and one recipient: for imsg and storage. */
void	 envelope_put_head(struct mw *, const struct envelope *);
int	 envelope_get_head(struct mr *, struct envelope *);
void	 rcpt_put(struct mw *, const struct rcpt *, int with_state);
int	 rcpt_get(struct mr *, struct rcpt *, int with_state);
/* An approximate upper bound of rcpt_put's output, for chunking. */
size_t	 rcpt_wire_size(const struct rcpt *);

/* Whole envelope to a heap buffer (LMDB value) and back. */
int	 envelope_encode(const struct envelope *, struct mw *);
/* Any version from ENV_VERSION_MIN up; NULL if it cannot be read. */
struct envelope *envelope_decode(const void *, size_t);
/* The version a stored envelope was written in; 0 if unreadable. */
uint32_t envelope_version(const void *, size_t);

/* Queue ids are 16 lower-case hex digits. */
void	 queue_id_format(uint64_t, char *buf, size_t sz);

#endif
