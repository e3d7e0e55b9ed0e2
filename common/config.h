/*
 * config: relayd.yaml and each tenants.d file as typed structs.
 *
 * Parsed once, in the parent.  Each child receives the slice it needs over
 * its channel (config_wire.c) and never opens a configuration file.
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
	} dns;
	struct {
		uint64_t	 max_message_size;
		uint32_t	 max_recipients;
		uint32_t	 max_connections;
		uint32_t	 max_connections_per_client;
		uint64_t	 min_free_space;
	} limits;
	struct {
		uint32_t	 command;
		uint32_t	 data;
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
};

/* Errors as "file:line: reason", collected so -n can show them all. */
#define CONF_MAX_ERRORS	50

struct conf_errors {
	char		*msg[CONF_MAX_ERRORS];
	size_t		 n;
	size_t		 dropped;
};

#define CONF_MAIN_ONLY	0x1	/* relayctl: skip the tenants */

struct conf *conf_load(const char *path, int flags, struct conf_errors *);
struct conf *conf_new(void);
void	 conf_free(struct conf *);
void	 conf_errors_add(struct conf_errors *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 conf_errors_clear(struct conf_errors *);

/*
 * One file's contents, for conf_load and the fuzzer: the main file (with
 * the defaults; paths relative to dir; the tenants left alone) or a tenant
 * file, added to conf->tenants.  Errors are added to errs under name.
 */
void	 conf_parse_main(struct conf *, const char *name, const char *dir,
	    const unsigned char *, size_t, struct conf_errors *);
void	 conf_parse_tenant(struct conf *, const char *name,
	    const unsigned char *, size_t, struct conf_errors *);

/* Cross-file rules: called by conf_load once every file is read. */
void	 conf_check(const struct conf *, struct conf_errors *);

/* Values shared with the loader, exposed for unit tests. */
const char *conf_parse_size(const char *, uint64_t *);
const char *conf_parse_duration(const char *, uint32_t *);
const char *conf_listen_mode_name(enum listen_mode);

/* Lookups used by the children and the tests. */
const struct tenant_conf *conf_domain_tenant(const struct conf *,
	    const char *domain);
const struct tenant_conf *conf_tenant_by_name(const struct conf *,
	    const char *);
/* Nameservers from a resolv.conf-format file (the parent reads it). */
int	 conf_read_resolv(const char *path, struct hostport **, size_t *);

#endif
