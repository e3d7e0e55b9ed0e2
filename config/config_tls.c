/*
 * config_tls: the certificates smtpd offers and their private keys, read
 * by the parent from tls.certificate and tls.key (the relay's) and from
 * each tenant's tls: block.
 *
 * These files are the operator's, like the YAML around them, so the
 * parent parses them (unlike tls.ca_file, which it passes on unread, see
 * open_ca_file): a start or a reload must be refused with the file and
 * the reason when a key does not match its certificate, when a file is
 * missing or not PEM, or when a key is of a kind the key process cannot
 * use.  keyd signs with RSA and ECDSA methods (keyd/keyd.h); Ed25519 and
 * Ed448 keys have no such method in OpenSSL and are refused here.
 *
 * What comes out is DER: each certificate of a chain (the leaf first)
 * for smtpd, the private key for keyd, each small enough for one
 * configuration message (TLS_DER_MAX).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config_load.h"

/* Where a file was named, for the errors about it. */
struct tls_src {
	struct conf_errors	*errs;
	const char		*file;
	int			 line;
	const char		*key;		/* "tls.certificate" ... */
	const char		*path;
};

static void __attribute__((format(printf, 2, 3)))
tls_err(const struct tls_src *src, const char *fmt, ...)
{
	char	reason[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	conf_errors_add(src->errs, "%s:%d: %s %s: %s", src->file, src->line,
	    src->key, src->path, reason);
}

/* OpenSSL's reason for the last failure, or what we say instead. */
static const char *
ssl_reason(const char *instead)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : instead;
}

/* A whole PEM file into a memory BIO; NULL with the error added. */
static BIO *
pem_file(const struct tls_src *src)
{
	struct stat	 st;
	BIO		*bio = NULL;
	char		*buf = NULL;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(src->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		tls_err(src, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > TLS_FILE_MAX) {
		tls_err(src, "not a regular file of at most %d KB",
		    TLS_FILE_MAX / 1024);
		goto done;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		tls_err(src, "out of memory");
		goto done;
	}
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, buf + off, (size_t)st.st_size - off)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0) {
			tls_err(src, "cannot read it: %s", n == 0 ?
			    "it shrank" : strerror(errno));
			goto done;
		}
		off += (size_t)n;
	}
	/* The BIO reads from our copy: kept until the BIO is freed. */
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    BIO_write(bio, buf, (int)off) != (int)off) {
		tls_err(src, "out of memory");
		BIO_free(bio);
		bio = NULL;
	}
done:
	if (buf != NULL)
		explicit_bzero(buf, off);
	free(buf);
	close(fd);
	return bio;
}

static int
to_der(const struct tls_src *src, struct der *d, int len, const char *what)
{
	if (len <= 0) {
		tls_err(src, "cannot encode the %s: %s", what,
		    ssl_reason("unknown error"));
		return -1;
	}
	if (len > TLS_DER_MAX) {
		tls_err(src, "the %s is too large (%d octets, at most %d)",
		    what, len, TLS_DER_MAX);
		return -1;
	}
	if ((d->p = malloc((size_t)len)) == NULL) {
		tls_err(src, "out of memory");
		return -1;
	}
	d->len = (size_t)len;
	return 0;
}

static int
cert_der(const struct tls_src *src, X509 *x, struct der *d)
{
	unsigned char *p;

	if (to_der(src, d, i2d_X509(x, NULL), "certificate") == -1)
		return -1;
	p = d->p;
	return i2d_X509(x, &p) == (int)d->len ? 0 : -1;
}

/* The chain, leaf first; the leaf stays with *leaf for the key check. */
static int
read_chain(const struct tls_src *src, struct tls_cert *tc, X509 **leaf)
{
	BIO	*bio;
	X509	*x;
	int	 rv = -1;

	*leaf = NULL;
	if ((bio = pem_file(src)) == NULL)
		return -1;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (tc->nchain == TLS_CHAIN_MAX) {
			tls_err(src, "more than %d certificates in the chain",
			    TLS_CHAIN_MAX);
			X509_free(x);
			goto done;
		}
		if (cert_der(src, x, &tc->chain[tc->nchain]) == -1) {
			X509_free(x);
			goto done;
		}
		tc->nchain++;
		if (*leaf == NULL)
			*leaf = x;
		else
			X509_free(x);
	}
	/* The end of the file, or a block that is not a certificate. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		tls_err(src, "%s", ssl_reason("not a PEM certificate"));
		goto done;
	}
	ERR_clear_error();
	if (tc->nchain == 0) {
		tls_err(src, "no PEM certificate in it");
		goto done;
	}
	rv = 0;
done:
	BIO_free(bio);
	if (rv == -1) {
		X509_free(*leaf);
		*leaf = NULL;
	}
	return rv;
}

/* A key in a file may not ask for a pass phrase: nobody is there. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* What keyd can sign with: RSA and ECDSA keys, matching the leaf. */
static int
check_key(const struct tls_src *src, EVP_PKEY *key, X509 *leaf)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		/* keyd takes blocks of up to 8192 bits (msg_key.h). */
		if (EVP_PKEY_get_bits(key) < 2048 ||
		    EVP_PKEY_get_bits(key) > 8192) {
			tls_err(src, "an RSA key of %d bits: relayd takes 2048 "
			    "to 8192", EVP_PKEY_get_bits(key));
			return -1;
		}
		break;
	case EVP_PKEY_EC:
		break;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		tls_err(src, "%s keys are not supported: the key process "
		    "signs with RSA and ECDSA only; use an RSA or ECDSA key",
		    EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ?
		    "Ed25519" : "Ed448");
		return -1;
	default:
		tls_err(src, "a %s key is not supported: use an RSA or ECDSA "
		    "key", OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
		return -1;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		tls_err(src, "the key does not match the certificate");
		return -1;
	}
	return 0;
}

static int
read_key(const struct tls_src *src, struct tls_cert *tc, X509 *leaf)
{
	BIO		*bio;
	EVP_PKEY	*key;
	unsigned char	*p;
	int		 rv = -1;

	if ((bio = pem_file(src)) == NULL)
		return -1;
	ERR_clear_error();
	if ((key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    PEM_R_BAD_PASSWORD_READ) {
			ERR_clear_error();
			tls_err(src, "the key has a pass phrase; relayd needs "
			    "it without one (the file readable by root "
			    "alone)");
		} else
			tls_err(src, "no PEM private key in it (%s)",
			    ssl_reason("unknown format"));
		goto done;
	}
	if (check_key(src, key, leaf) == -1 ||
	    to_der(src, &tc->key, i2d_PrivateKey(key, NULL), "key") == -1)
		goto done;
	p = tc->key.p;
	if (i2d_PrivateKey(key, &p) != (int)tc->key.len) {
		tls_err(src, "cannot encode the key");
		goto done;
	}
	rv = 0;
done:
	EVP_PKEY_free(key);
	BIO_free(bio);
	return rv;
}

/* A tenant's SNI names must be names its certificate is valid for. */
static int
check_names(const struct tls_src *src, X509 *leaf, char **names, size_t n)
{
	size_t	i;
	int	rv = 0;

	for (i = 0; i < n; i++)
		if (X509_check_host(leaf, names[i], 0,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
			tls_err(src, "not valid for \"%s\" of tls.names",
			    names[i]);
			rv = -1;
		}
	ERR_clear_error();
	return rv;
}

/* One certificate and its key into a new entry of conf->tls.certs. */
static void
load_pair(struct conf *conf, struct conf_errors *errs, const char *file,
    int line, const struct tenant_conf *t)
{
	struct tls_src	 src = { errs, file, line, NULL, NULL };
	struct tls_cert	*tc, *arr;
	X509		*leaf = NULL;
	size_t		 i, n = conf->tls.ncerts;

	if ((arr = reallocarray(conf->tls.certs, n + 1, sizeof(*arr))) ==
	    NULL) {
		conf_errors_add(errs, "%s: out of memory", file);
		return;
	}
	conf->tls.certs = arr;
	tc = &arr[n];
	memset(tc, 0, sizeof(*tc));
	conf->tls.ncerts++;
	if ((tc->chain = calloc(TLS_CHAIN_MAX, sizeof(*tc->chain))) == NULL) {
		conf_errors_add(errs, "%s: out of memory", file);
		return;
	}
	src.key = "tls.certificate";
	src.path = t != NULL ? t->tls_cert_file : conf->tls.cert_file;
	if (read_chain(&src, tc, &leaf) == -1)
		return;
	src.key = "tls.key";
	src.path = t != NULL ? t->tls_key_file : conf->tls.key_file;
	if (read_key(&src, tc, leaf) == -1)
		goto done;
	if (t == NULL)
		goto done;
	src.key = "tls.certificate";
	src.path = t->tls_cert_file;
	if (check_names(&src, leaf, t->tls_names, t->ntls_names) == -1)
		goto done;
	if ((tc->tenant = strdup(t->name)) == NULL ||
	    (tc->names = calloc(t->ntls_names, sizeof(*tc->names))) == NULL) {
		conf_errors_add(errs, "%s: out of memory", file);
		goto done;
	}
	for (i = 0; i < t->ntls_names; i++) {
		if ((tc->names[i] = strdup(t->tls_names[i])) == NULL) {
			conf_errors_add(errs, "%s: out of memory", file);
			goto done;
		}
		tc->nnames++;
	}
done:
	X509_free(leaf);
}

void
conf_tls_load(struct conf *conf, const char *name, struct conf_errors *errs)
{
	const struct tenant_conf	*t;
	size_t				 i;

	conf_tls_certs_free(conf->tls.certs, conf->tls.ncerts);
	conf->tls.certs = NULL;
	conf->tls.ncerts = 0;
	/* The relay's own comes first: it is the default (smtp_tls.c). */
	if (conf->tls.cert_file != NULL)
		load_pair(conf, errs, name, conf->tls.line, NULL);
	for (i = 0; i < conf->ntenants; i++) {
		t = &conf->tenants[i];
		if (t->tls_cert_file == NULL)
			continue;
		if (conf->tls.cert_file == NULL) {
			conf_errors_add(errs, "%s:%d: a tenant's certificate "
			    "needs the relay's own (tls.certificate in %s), "
			    "for the clients that ask for no name of the "
			    "tenant's", t->file, t->tls_line, name);
			continue;
		}
		load_pair(conf, errs, t->file, t->tls_line, t);
	}
}
