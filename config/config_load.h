/*
 * config_load: relayd.yaml and the tenant files into struct conf.
 *
 * Only the parent and relayctl parse YAML: this folder, and libyaml with
 * it, is linked into nothing else.
 */
#ifndef RELAYD_CONFIG_LOAD_H
#define RELAYD_CONFIG_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Errors as "file:line: reason", collected so -n can show them all. */
#define CONF_MAX_ERRORS	50

struct conf_errors {
	char		*msg[CONF_MAX_ERRORS];
	size_t		 n;
	size_t		 dropped;
};

#define CONF_MAIN_ONLY	0x1	/* relayctl: skip the tenants */

/* tls.ca_file when the key is left out (Debian's ca-certificates). */
#define CONF_DEFAULT_CA_FILE	"/etc/ssl/certs/ca-certificates.crt"


struct conf *conf_load(const char *path, int flags, struct conf_errors *);
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
/* What is allowed but likely wrong, as "file:line: warning: ...". */
void	 conf_warnings(const struct conf *, struct conf_errors *);

/*
 * The certificates and keys of tls: and each tenant's tls: into
 * conf->tls.certs (config_tls.c), once the rest is known to be right.
 */
void	 conf_tls_load(struct conf *, const char *name, struct conf_errors *);

/*
 * policy_store with Redis (config_redis.c): the password file's first
 * line into conf->store.password, the tenant files' digest; and the
 * warnings about them.
 */
void	 conf_store_load(struct conf *, const char *name, struct conf_errors *);
void	 conf_store_warnings(const struct conf *, struct conf_errors *);

/* Values shared with the loader, exposed for unit tests. */
const char *conf_parse_size(const char *, uint64_t *);
const char *conf_parse_duration(const char *, uint32_t *);

/* Nameservers from a resolv.conf-format file (the parent reads it). */
int	 conf_read_resolv(const char *path, struct hostport **, size_t *);

#endif
