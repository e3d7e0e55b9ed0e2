/*
 * Fuzz target: the configuration (common/yaml_tree.c, config_load.c,
 * config_check.c).
 *
 * The input is a main file and up to three tenant files, separated by NUL
 * octets (which no YAML file may hold).  They go through the same walks as
 * conf_load's, then the cross-file checks.  Every error must name one of
 * the files; a configuration with no error must hold what the schema
 * promises (required keys, ranges, sorted recipient lists, lookups that
 * find each tenant and domain).  ASan's leak checker sees that conf_free
 * and conf_errors_clear free all of it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_load.h"
#include "mailaddr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAIN_NAME	"relayd.yaml"
#define MAIN_DIR	"/etc/relayd"
#define MAIN_FILE	MAIN_DIR "/" MAIN_NAME
#define MAX_TENANTS	3

static const char *tenant_names[MAX_TENANTS] = {
	"tenants.d/a.yaml", "tenants.d/b.yaml", "tenants.d/c.yaml"
};

static int
has_prefix(const char *s, const char *name)
{
	size_t n = strlen(name);

	return strncmp(s, name, n) == 0 && s[n] == ':';
}

static void
check_errors(const struct conf_errors *errs)
{
	size_t i, k;

	if (errs->n > CONF_MAX_ERRORS)
		abort();
	for (i = 0; i < errs->n; i++) {
		if (has_prefix(errs->msg[i], MAIN_NAME) ||
		    has_prefix(errs->msg[i], MAIN_FILE))
			continue;
		for (k = 0; k < MAX_TENANTS; k++)
			if (has_prefix(errs->msg[i], tenant_names[k]))
				break;
		if (k == MAX_TENANTS)
			abort();
	}
}

static void
check_main(const struct conf *conf)
{
	if (conf->hostname == NULL || conf->postmaster == NULL ||
	    conf->state_dir == NULL || conf->control_socket == NULL ||
	    conf->control_group == NULL || conf->tenants_dir == NULL)
		abort();
	if (conf->nlisteners == 0 || conf->dns.tries < 1 ||
	    conf->dns.tries > 10 || conf->limits.max_recipients < 100 ||
	    conf->limits.max_message_size < 64 * 1024 ||
	    conf->timeouts.command == 0 || conf->timeouts.data == 0 ||
	    conf->queue.retry_min == 0 ||
	    conf->queue.retry_min > conf->queue.retry_max ||
	    conf->queue.smtp_port == 0)
		abort();
}

static void
check_tenant(const struct conf *conf, const struct tenant_conf *t)
{
	char	sub[MAILADDR_DOMAIN_MAX + 3];
	size_t	i;

	if (t->name == NULL || t->file == NULL || t->postmaster == NULL ||
	    t->ndomains == 0 || t->ndeliver_to == 0 ||
	    (t->verify == VERIFY_LIST && t->nrcpts == 0))
		abort();
	if (conf_tenant_by_name(conf, t->name) != t)
		abort();
	for (i = 0; i < t->ndomains; i++) {
		if (!mailaddr_valid_domain(t->domains[i].name,
		    strlen(t->domains[i].name), 0) ||
		    conf_domain_tenant(conf, t->domains[i].name) != t)
			abort();
		/* Someone owns a subdomain of a domain with subdomains. */
		snprintf(sub, sizeof(sub), "x.%s", t->domains[i].name);
		if (t->domains[i].subdomains &&
		    conf_domain_tenant(conf, sub) == NULL)
			abort();
	}
	for (i = 1; i < t->nrcpts; i++)
		if (strcmp(t->rcpts[i - 1], t->rcpts[i]) >= 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors	 errs;
	struct conf		*conf;
	const uint8_t		*p = data, *end = data + size, *nul;
	size_t			 i, ntenants = 0;

	memset(&errs, 0, sizeof(errs));
	if ((conf = conf_new()) == NULL || (conf->file = strdup(MAIN_FILE)) ==
	    NULL)
		abort();
	nul = memchr(p, '\0', size);
	conf_parse_main(conf, MAIN_NAME, MAIN_DIR, p,
	    (size_t)((nul ? nul : end) - p), &errs);
	while (nul != NULL && ntenants < MAX_TENANTS) {
		p = nul + 1;
		nul = memchr(p, '\0', (size_t)(end - p));
		conf_parse_tenant(conf, tenant_names[ntenants++], p,
		    (size_t)((nul ? nul : end) - p), &errs);
	}
	check_errors(&errs);
	if (errs.n + errs.dropped == 0) {
		conf_check(conf, &errs);
		check_errors(&errs);
	}
	if (errs.n + errs.dropped == 0 && conf_index(conf) == -1)
		abort();
	if (errs.n + errs.dropped == 0) {
		check_main(conf);
		for (i = 0; i < conf->ntenants; i++)
			check_tenant(conf, &conf->tenants[i]);
	}
	conf_errors_clear(&errs);
	conf_free(conf);
	return 0;
}
