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
	VERIFY_LIST,
	VERIFY_CALLOUT,		/* ask the tenant's server (policyd, deliverd) */
	VERIFY_LEARN		/* what its server accepted before */
};

/* What a callout's "no such user" becomes at SMTP time. */
enum on_unknown {
	UNKNOWN_DEFER,		/* 450 4.1.1: the primary stays the judge */
	UNKNOWN_REJECT		/* 550 5.1.1 */
};

/* How deliverd reaches a tenant's inbound.deliver_to hosts. */
/* policy_store.backend */
enum store_backend {
	STORE_LMDB,
	STORE_REDIS		/* several nodes; the LMDB store falls back */
};

#define REDIS_NODES_MAX		16	/* sentinels, servers: each */
#define REDIS_PASSWORD_MAX	512	/* octets, the file's first line */
#define REDIS_PREFIX_MAX	64
#define REDIS_NAME_MAX		128	/* master_name */
#define TENANT_DIGEST_LEN	32	/* SHA-256 of the tenant files */

/* policy_store: where policyd keeps its shared state. */
struct store_conf {
	enum store_backend backend;
	struct hostport	*sentinels;		/* IP literals */
	size_t		 nsentinels;
	char		*master_name;		/* with sentinels */
	struct hostport	*servers;		/* the data nodes */
	size_t		 nservers;
	char		*password_file;		/* the parent reads it */
	char		*password;		/* its content; policyd's */
	char		*key_prefix;
	int		 tls;
	uint32_t	 timeout;		/* connect and command, s */
	uint8_t		 tenant_digest[TENANT_DIGEST_LEN];
	int		 line;			/* where policy_store: is */
	int		 password_line;
};

enum inbound_tls {
	INBOUND_TLS_OPPORTUNISTIC,	/* TLS when offered, any certificate */
	INBOUND_TLS_REQUIRED,		/* TLS or nothing */
	INBOUND_TLS_VERIFY		/* and the host's name verified */
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

/* A DER-encoded object: a certificate or a private key. */
struct der {
	uint8_t		*p;
	size_t		 len;
};

/*
 * A certificate smtpd offers and its private key: the relay's own
 * (tenant NULL) or a tenant's, chosen by SNI among its names.  The
 * parent reads both files (config/config_tls.c) and holds all of it;
 * smtpd gets the chain and the names (SLICE_TLS_CERTS), keyd the key
 * (SLICE_TLS_KEYS), and neither gets the other's part.
 */
struct tls_cert {
	char		*tenant;		/* NULL: the relay's own */
	struct der	*chain;			/* the leaf first */
	size_t		 nchain;
	char		**names;		/* lower case, A-labels */
	size_t		 nnames;
	struct der	 key;			/* parent and keyd only */
};

#define TLS_CHAIN_MAX	10			/* certificates in a chain */
#define TLS_DER_MAX	12000			/* one certificate or key */
#define TLS_FILE_MAX	(1024 * 1024)		/* a PEM file, bytes */

/* Who hears about a tenant's outages, limits and reports. */
#define CONTACT_TECHNICAL	0x1
#define CONTACT_EMERGENCY	0x2
#define CONTACT_POLICY		0x4
#define CONTACT_BILLING		0x8
#define CONTACT_ROLES		0xf
#define CONTACTS_MAX		32	/* per tenant */
#define CONTACT_NAME_MAX	128
#define CONTACT_PHONE_MAX	32

struct contact_conf {
	char		*name;			/* NULL: none given */
	char		*email;
	char		*phone;			/* NULL: none given */
	uint8_t		 roles;			/* CONTACT_* */
	int		 line;
};

/*
 * A tenant's SMTP AUTH (auth:): its users' names and passwords are its
 * mailboxes', checked by its Dovecot, to which the parent alone connects
 * (parent_connect.c), for policyd.
 */
struct auth_conf {
	char		*dovecot;		/* unix:PATH | inet:ADDR:PORT;
						   NULL: no AUTH */
	char		*realm;			/* for names without '@', or NULL */
	int		 foreign_senders;	/* MAIL FROM outside its domains */
	uint32_t	 user_message_rate;	/* per user per minute; 0: none */
	int		 line;			/* where auth: is */
};

#define AUTH_USER_MAX	255		/* a user name, octets */
#define AUTH_PASS_MAX	255		/* a password */
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
	enum inbound_tls inbound_tls;
	uint32_t	 defer_all_after;	/* seconds; 0: never */
	struct contact_conf *contacts;
	size_t		 ncontacts;
	int		 contacts_line;		/* of contacts:, or 0 */
	enum verify_mode verify;
	char		**rcpts;		/* lower case, sorted, unique */
	size_t		 nrcpts;
	char		 delimiter[8];
	uint32_t	 callout_positive;	/* seconds an answer is cached */
	uint32_t	 callout_negative;
	enum on_unknown	 on_unknown;
	uint32_t	 learning_period;	/* seconds */
	struct net_conf	*networks;
	size_t		 nnetworks;
	int		 allow_bare_newlines;
	uint64_t	 spool_max;		/* bytes; 0: no quota */
	uint64_t	 daily_messages;	/* 0: no limit */
	uint64_t	 daily_bytes;
	struct policy_conf policy;
	char		**tls_names;		/* SNI names of its own */
	size_t		 ntls_names;
	char		*tls_cert_file;		/* with tls_key_file, or none */
	char		*tls_key_file;
	int		 tls_line;		/* where tls: is */
	struct auth_conf auth;
	struct content_conf content;
};

struct conf {
	char		*file;
	char		*hostname;
	char		*postmaster;
	char		*state_dir;
	char		*control_socket;
	char		*control_group;
	char		*control_admin_group;	/* remove, bounce... */
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
		char		*cert_file;	/* NULL: no TLS server */
		char		*key_file;
		int		 line;		/* where tls: is */
		struct tls_cert	*certs;		/* the relay's first */
		size_t		 ncerts;
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
		uint32_t	 auth_failure_rate;	/* per client, per user */
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
		uint32_t	 message_records; /* after the final fate */
		uint32_t	 logs;			/* log.file's days */
		uint32_t	 counters;	/* statistics (to come) */
	} retention;
	struct {
		char		*file;		/* NULL: syslog (parent only) */
		int		 file_line;	/* where it was set, or 0 */
		int		 addresses;	/* log lines name addresses */
	} log;
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
	struct {
		uint32_t	 interval;	/* seconds; 0: off */
		char		*from;		/* IP literal; NULL: chosen */
		int		 from_line;
	} selfcheck;
	struct {
		uint32_t	 outage_after;	/* servers failing this long */
		uint32_t	 interval;	/* one notice of a kind per */
	} notices;
	struct {
		int		 enabled;	/* metrics.listen is set */
		struct hostport	 addr;
		int		 fd;		/* bound socket, or -1 */
	} metrics;
	struct store_conf store;		/* policy_store: */
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
#define CONF_DNSBL_ZONES_MAX	32	/* in use by the tenants together */

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
void	 conf_tls_certs_free(struct tls_cert *, size_t);
void	 conf_contacts_free(struct contact_conf *, size_t);
void	 conf_store_free(struct store_conf *);
/* A role's name ("technical"), and a set of them ("technical,policy"). */
const char *conf_role_name(unsigned role);
void	 conf_roles_format(uint8_t roles, char *, size_t);
/* Is the address's domain one of this tenant's own? */
int	 conf_tenant_owns(const struct conf *, const struct tenant_conf *,
	    const char *addr);
/* The tenant whose content.id this is, first in order; NULL: none. */
const struct tenant_conf *conf_content_tenant(const struct conf *,
	    uint32_t id);

#endif
