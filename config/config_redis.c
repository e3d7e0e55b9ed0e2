/*
 * config_redis: what policy_store with Redis needs from files, read by
 * the parent once the YAML is parsed.
 *
 * The password is the first line of password_file: bounded, with no
 * control character, and never sent to any child but policyd.  The
 * tenant digest is a SHA-256 of every tenant file (its name and its
 * octets, in the order they are loaded): nodes meant to share policy
 * must have the same, and policyd compares its own with the other
 * nodes' in the store.  A file of the operator that others may read is
 * a warning, not an error: relayd -n says so.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config_load.h"

#define PASSWORD_FILE_MAX	4096	/* octets read */
#define TENANT_FILE_MAX		(16 * 1024 * 1024)

static void
read_password(struct conf *conf, const char *name, struct conf_errors *errs)
{
	struct store_conf	*st = &conf->store;
	struct stat		 sb;
	char			 buf[PASSWORD_FILE_MAX + 1];
	ssize_t			 n;
	size_t			 len, i;
	int			 fd;

	if ((fd = open(st->password_file, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		conf_errors_add(errs, "%s:%d: policy_store.redis.password_file "
		    "%s: %s", name, st->password_line, st->password_file,
		    strerror(errno));
		return;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (n = read(fd, buf, PASSWORD_FILE_MAX + 1)) < 0 ||
	    n > PASSWORD_FILE_MAX) {
		conf_errors_add(errs, "%s:%d: policy_store.redis.password_file "
		    "%s: not a regular file of at most %d octets", name,
		    st->password_line, st->password_file, PASSWORD_FILE_MAX);
		close(fd);
		return;
	}
	close(fd);
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			break;
	if (len == 0 || len > REDIS_PASSWORD_MAX || i < len ||
	    strlen(buf) != len) {
		conf_errors_add(errs, "%s:%d: policy_store.redis.password_file "
		    "%s: the first line must hold the password, 1 to %d "
		    "octets, no control character", name, st->password_line,
		    st->password_file, REDIS_PASSWORD_MAX);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	if ((st->password = strdup(buf)) == NULL)
		conf_errors_add(errs, "%s: out of memory", name);
	explicit_bzero(buf, sizeof(buf));
}

/* One tenant file into the digest: its name, a NUL, its octets. */
static int
digest_file(EVP_MD_CTX *ctx, const char *path)
{
	char		 copy[PATH_MAX], buf[8192];
	const char	*base;
	size_t		 total = 0;
	ssize_t		 n;
	int		 fd;

	if (strlcpy(copy, path, sizeof(copy)) >= sizeof(copy))
		return -1;
	base = basename(copy);
	if (EVP_DigestUpdate(ctx, base, strlen(base) + 1) != 1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (total > TENANT_FILE_MAX ||
		    EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			n = -1;
			break;
		}
	}
	close(fd);
	return n == 0 ? 0 : -1;
}

static void
tenant_digest(struct conf *conf, const char *name, struct conf_errors *errs)
{
	EVP_MD_CTX	*ctx;
	unsigned int	 len = 0;
	size_t		 i;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		conf_errors_add(errs, "%s: the tenant digest: out of memory",
		    name);
		EVP_MD_CTX_free(ctx);
		return;
	}
	for (i = 0; i < conf->ntenants; i++)
		if (digest_file(ctx, conf->tenants[i].file) == -1) {
			conf_errors_add(errs, "%s: the tenant digest: %s: %s",
			    name, conf->tenants[i].file, errno ?
			    strerror(errno) : "unreadable");
			EVP_MD_CTX_free(ctx);
			return;
		}
	if (EVP_DigestFinal_ex(ctx, conf->store.tenant_digest, &len) != 1 ||
	    len != TENANT_DIGEST_LEN)
		conf_errors_add(errs, "%s: the tenant digest failed", name);
	EVP_MD_CTX_free(ctx);
}

void
conf_store_load(struct conf *conf, const char *name, struct conf_errors *errs)
{
	if (conf->store.backend != STORE_REDIS)
		return;
	if (conf->store.password_file != NULL)
		read_password(conf, name, errs);
	tenant_digest(conf, name, errs);
}

void
conf_store_warnings(const struct conf *conf, struct conf_errors *warns)
{
	const struct store_conf	*st = &conf->store;
	struct stat		 sb;

	if (st->backend != STORE_REDIS)
		return;
	if (st->password_file == NULL)
		conf_errors_add(warns, "%s:%d: warning: policy_store.redis has "
		    "no password_file: anyone who reaches Redis can read and "
		    "change the shared policy state", conf->file, st->line);
	else if (stat(st->password_file, &sb) == 0 &&
	    (sb.st_mode & S_IROTH))
		conf_errors_add(warns, "%s:%d: warning: "
		    "policy_store.redis.password_file %s is readable by every "
		    "user (chmod o-r)", conf->file, st->password_line,
		    st->password_file);
}
