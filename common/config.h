/*
 * config: relayd.yaml and each tenants.d file as typed structs.
 *
 * Parsed once, in the parent (config/config_load.h).  Each child receives
 * the slice it needs over its channel (config_wire.c) and never opens a
 * configuration file or links the YAML parser.
 */
#ifndef RELAYD_CONFIG_H
#define RELAYD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

enum listen_mode {
	LISTEN_MX,
	LISTEN_SUBMISSION,
	LISTEN_SMTPS
};

enum inbound_mode {
	INBOUND_RELAY,
	INBOUND_BACKUP
};

enum verify_mode {
	VERIFY_NONE,
	VERIFY_LIST
};

#define CONF_SECRET_LEN	32

struct listener_conf {
	struct hostport	 addr;
	enum listen_mode mode;
	uint32_t	 greeting_delay;	/* seconds */
	uint32_t	 pregreet_pass;		/* seconds a pass is kept */
	int		 fd;			/* bound socket, -1 if none */
	int		 line;
};

struct domain_conf {
	char		*name;			/* lower case */
	int		 subdomains;
	int		 line;
};

struct net_conf {
	struct cidr	 cidr;
	int		 line;
};

/* A DNS block or allow list: its weight, and the answers that count. */
struct dnsbl_conf {
	char		*zone;			/* lower case, no dot at the end */
	int32_t		 weight;		/* negative: an allow list */
	uint32_t	*answers;		/* IPv4, network order; none: any */
	size_t		 nanswers;
	int		 line;
};

enum spf_mode {
	SPF_OFF,
	SPF_TAG,		/* a Received-SPF header */
	SPF_REJECT		/* fail: 550 5.7.23; temperror 451 4.7.24 */
};

/* A tenant's policy checks (policyd), their defaults set by its mode. */
struct policy_conf {
	int		 greylist;		/* enabled */
	uint32_t	 grey_delay;
	uint32_t	 grey_window;
	uint32_t	 grey_lifetime;
	uint32_t	 grey_awl_after;	/* passes; 0: never */
	struct cidr	*grey_nets;		/* static whitelist */
	size_t		 ngrey_nets;
	char		**grey_domains;		/* sender domains, lower case */
	size_t		 ngrey_domains;
	int		 dnsbl;			/* enabled */
	struct dnsbl_conf *lists;		/* none: the operator's */
	size_t		 nlists;
	int32_t		 threshold;		/* with its own lists */
	enum spf_mode	 spf;
	int		 sender_domain;		/* and outbound rcpt domains */
	int		 require_to_or_cc;
};

/* A milter (content.milters): the Sendmail protocol, version 6. */
enum milter_failure {
	MILTER_FAIL_TEMPFAIL,	/* 451 4.7.1: the client tries again */
	MILTER_FAIL_ACCEPT	/* as if the milter had accepted */
};

#define MILTER_SOCKET_MAX	128	/* "unix:PATH" or "inet:HOST:PORT" */
#define MILTERS_MAX		8	/* per tenant */
#define MILTER_BULK_MAX		32	/* content.bulk_defer entries */

struct milter_conf {
	char		 socket[MILTER_SOCKET_MAX];
	uint32_t	 timeout;		/* seconds, for each reply */
	enum milter_failure on_failure;
	uint32_t	 ep;			/* conf->milter_eps index */
	int		 line;
};

/* A field a milter adds or changes that makes the message bulk. */
struct bulk_conf {
	char		*name;			/* the field's name */
	char		*text;			/* in its value; NULL: any */
};

/* What a tenant's mail is scanned with (content:). */
struct content_conf {
	struct milter_conf *milters;
	size_t		 nmilters;
	int		 allow_header_changes;
	int		 outbound;		/* its own outgoing mail too */
	struct bulk_conf *bulk;			/* bulk_defer */
	size_t		 nbulk;
	/*
	 * conf_index: 0 when there are no milters, else the same number
	 * for every tenant whose scan is the same (milters, header
	 * changes, bulk_defer): one end of data serves them all.
	 */
	uint32_t	 id;
};

struct tenant_conf;

/* One entry of the domain table, sorted by name. */
struct conf_domain {
	const char		 *name;
	const struct tenant_conf *tenant;
	int			  subdomains;
};

struct tenant_conf {
	char		*name;
	char		*file;
	int		 line;
	char		*postmaster;
	struct domain_conf *domains;
	size_t		 ndomains;
	enum inbound_mode inbound_mode;
	struct hostport	*deliver_to;
	size_t		 ndeliver_to;
	uint32_t	 hold;			/* seconds, backup mode */
	enum verify_mode verify;
	char		**rcpts;		/* lower case, sorted, unique */
	size_t		 nrcpts;
	char		 delimiter[8];
	struct net_conf	*networks;
	size_t		 nnetworks;
	int		 allow_bare_newlines;
	uint64_t	 spool_max;		/* bytes; 0: no quota */
	uint64_t	 daily_messages;	/* 0: no limit */
	uint64_t	 daily_bytes;
	struct policy_conf policy;
	struct content_conf content;
};

struct conf {
	char		*file;
	char		*hostname;
	char		*postmaster;
	char		*state_dir;
	char		*control_socket;
	char		*control_group;
	char		*tenants_dir;
	struct listener_conf *listeners;
	size_t		 nlisteners;
	struct {
		struct hostport	*servers;
		size_t		 nservers;
		uint32_t	 max_ttl;
		uint32_t	 timeout;
		uint32_t	 tries;
		int		 dnssec;	/* trust the AD bit (dnsd) */
	} dns;
	struct {
		char		*ca_file;	/* NULL: the default */
		int		 ca_line;	/* where it was set, or 0 */
		int		 ca_fd;		/* the parent's, or -1 */
		int		 ca_lost;	/* lost in transit */
	} tls;
	struct {
		uint64_t	 max_message_size;
		uint32_t	 max_recipients;
		uint32_t	 max_connections;
		uint32_t	 max_connections_per_client;
		uint64_t	 min_free_space;
		uint64_t	 store_max_size;	/* the LMDB map */
		uint32_t	 client_connection_rate; /* per minute */
		uint32_t	 client_message_rate;
		uint32_t	 client_recipient_rate;
		uint32_t	 header_max_fields;
		uint64_t	 header_max_size;
	} limits;
	struct {
		struct dnsbl_conf *lists;	/* the operator's */
		size_t		 nlists;
		int32_t		 threshold;
	} dnsbl;
	struct {
		uint32_t	 command;
		uint32_t	 data;
		uint32_t	 control;	/* relayctl's unread answer */
		uint32_t	 policy;	/* smtpd waiting for policyd */
	} timeouts;
	struct {
		uint32_t	 lifetime;
		uint32_t	 bounce_lifetime;
		uint32_t	 retry_min;
		uint32_t	 retry_max;
		uint32_t	 delay_warning;
		uint32_t	 max_connections_per_destination;
		uint32_t	 max_connections;
		uint16_t	 smtp_port;
		int		 allow_private_mx;
	} queue;
	struct tenant_conf *tenants;
	size_t		 ntenants;
	uint8_t		 policy_secret[CONF_SECRET_LEN]; /* policyd's HMACs */
	int		 has_secret;
	struct conf_domain *dix;		/* conf_index() */
	size_t		 ndix;
	/* conf_index(): every tenant's milter sockets, each once, in the
	 * order of the tenants: what policyd asks the parent to open. */
	const char	**milter_eps;
	size_t		 nmilter_eps;
};

#define CA_FILE_MAX	(16 * 1024 * 1024)	/* tls.ca_file, bytes */

struct conf *conf_new(void);
void	 conf_free(struct conf *);
const char *conf_listen_mode_name(enum listen_mode);

/* Build the domain table conf_domain_tenant searches; -1: no memory. */
int	 conf_index(struct conf *);
/* Lookups used by the children and the tests. */
const struct tenant_conf *conf_domain_tenant(const struct conf *,
	    const char *domain);
const struct tenant_conf *conf_tenant_by_name(const struct conf *,
	    const char *);
/* Order of a tenant's recipient list (char *): sorted, then searched. */
int	 conf_rcpt_cmp(const void *, const void *);
/* The tenant whose outbound.networks hold this client, or NULL. */
const struct tenant_conf *conf_client_tenant(const struct conf *,
	    const struct netaddr *);
/* A tenant's DNS lists: its own, or else the operator's; and the threshold. */
const struct dnsbl_conf *conf_dnsbl_lists(const struct conf *,
	    const struct tenant_conf *, size_t *n, int32_t *threshold);
void	 conf_dnsbl_free(struct dnsbl_conf *, size_t);
/* The tenant whose content.id this is, first in order; NULL: none. */
const struct tenant_conf *conf_content_tenant(const struct conf *,
	    uint32_t id);

#endif
