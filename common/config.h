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

struct listener_conf {
	struct hostport	 addr;
	enum listen_mode mode;
	uint32_t	 greeting_delay;	/* seconds */
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
	} limits;
	struct {
		uint32_t	 command;
		uint32_t	 data;
		uint32_t	 control;	/* relayctl's unread answer */
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
	struct conf_domain *dix;		/* conf_index() */
	size_t		 ndix;
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

#endif
