/*
 * mta_tls: the client TLS context, and what a next hop's certificate must
 * prove.
 *
 * The context is made before the sandbox closes (OpenSSL reads its
 * configuration then), and again with each configuration that brings a
 * CA bundle: the parent opens tls.ca_file and passes its descriptor (see
 * open_ca_file in config/config_load.c), which we read with pread, since
 * we may open no file.  Sessions keep the context they started with.
 *
 * Certificates are never checked during the handshake (SSL_VERIFY_NONE):
 * a failed check must not look like a failed handshake, which would send
 * the mail again in plain text.  What the hop's policy asks is checked
 * once the handshake is done (tls_verified): DANE (RFC 7672) against its
 * TLSA records, DANE-EE(3) without any name check and DANE-TA(2) with the
 * MX host or the domain as names; MTA-STS (RFC 8461) as a PKIX chain to a
 * CA of the bundle, for the MX host's name; inbound.tls verify likewise,
 * for the name (or address) in deliver_to.  Other hops, and inbound.tls
 * required: any certificate, since a next hop is better reached
 * encrypted than in plain text.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "deliverd.h"
#include "log.h"

static const char *
ssl_error(void)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	return e != 0 ? ERR_reason_error_string(e) : "unknown error";
}

/* The bundle's certificates into a new store; NULL with why. */
static X509_STORE *
ca_store(int fd, char *why, size_t whysz)
{
	STACK_OF(X509_INFO)	*infos = NULL;
	X509_STORE		*store = NULL;
	X509_INFO		*xi;
	struct stat		 st;
	BIO			*bio = NULL;
	char			*buf = NULL;
	size_t			 off = 0;
	ssize_t			 n;
	int			 i, count = 0;

	if (fstat(fd, &st) == -1 || st.st_size > CA_FILE_MAX ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(why, whysz, "cannot read it: %s", strerror(errno ?
		    errno : EFBIG));
		goto done;
	}
	while (off < (size_t)st.st_size) {
		n = pread(fd, buf + off, (size_t)st.st_size - off,
		    (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whysz, "cannot read it: %s", n == 0 ?
			    "it shrank" : strerror(errno));
			goto done;
		}
		off += (size_t)n;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)off)) == NULL ||
	    (infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL)) == NULL ||
	    (store = X509_STORE_new()) == NULL) {
		snprintf(why, whysz, "%s", ssl_error());
		goto done;
	}
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509))
			count++;
	}
	ERR_clear_error();
	if (count == 0) {
		snprintf(why, whysz, "no certificates in it");
		X509_STORE_free(store);
		store = NULL;
	}
done:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(buf);
	return store;
}

static SSL_CTX *
ctx_new(X509_STORE *store)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_dane_enable(ctx) <= 0)
		fatalx("TLS client context: %s", ssl_error());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* OpenSSL 3 with libevent 2.1: an EOF without close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (store != NULL)
		SSL_CTX_set_cert_store(ctx, store);
	return ctx;
}

struct ssl_ctx_st *
tls_client_ctx(void)
{
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		fatalx("OpenSSL: %s", ssl_error());
	return ctx_new(NULL);
}

/*
 * A new configuration: a context with its CA bundle, or without one (no
 * MTA-STS then).  The old context lives on in the sessions using it.
 */
void
tls_conf(struct deliverd *d, const struct conf *conf)
{
	X509_STORE	*store = NULL;
	char		 why[256];

	if (conf->tls.ca_lost)
		log_warnx("tls.ca_file: its descriptor was lost in transit "
		    "(out of descriptors); MTA-STS is not applied until the "
		    "next reload");
	else if (conf->tls.ca_fd != -1 &&
	    (store = ca_store(conf->tls.ca_fd, why, sizeof(why))) == NULL)
		log_warnx("tls.ca_file: %s; MTA-STS is not applied", why);
	if (store == NULL && !d->have_ca)
		return;		/* the context we have will do */
	SSL_CTX_free(d->ssl_ctx);
	d->ssl_ctx = ctx_new(store);
	d->have_ca = store != NULL;
}

struct tlsa_set *
tlsa_set_new(size_t n)
{
	struct tlsa_set *t;

	if ((t = calloc(1, sizeof(*t) + n * sizeof(t->r[0]))) == NULL)
		fatal("TLSA records");
	t->refs = 1;
	return t;
}

struct tlsa_set *
tlsa_set_ref(struct tlsa_set *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void
tlsa_set_unref(struct tlsa_set *t)
{
	size_t i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < t->n; i++)
		free(t->r[i].data);
	free(t);
}

/*
 * Usable for SMTP (RFC 7672 3.1): DANE-TA(2) and DANE-EE(3), the whole
 * certificate or its public key, as such or by SHA-256 or SHA-512.
 * PKIX-TA(0) and PKIX-EE(1) are not.
 */
int
tlsa_usable(uint8_t usage, uint8_t selector, uint8_t mtype, size_t len)
{
	if ((usage != 2 && usage != 3) || selector > 1)
		return 0;
	return (mtype == 0 && len > 0) || (mtype == 1 && len == 32) ||
	    (mtype == 2 && len == 64);
}

/* What the hop asks of its certificate, before the handshake. */
int
tls_prepare(SSL *ssl, const struct hop *h, const char *domain)
{
	struct netaddr	na;
	size_t		i;
	int		added = 0;

	switch (h->tls) {
	case HT_DANE:
		if (SSL_dane_enable(ssl, h->host) <= 0)
			return -1;
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		/* DANE-TA: the MX host or the next-hop domain (7672 3.2.2) */
		if (domain != NULL && domain[0] != '\0' &&
		    SSL_add1_host(ssl, domain) != 1)
			return -1;
		for (i = 0; i < h->tlsa->n; i++)
			if (SSL_dane_tlsa_add(ssl, h->tlsa->r[i].usage,
			    h->tlsa->r[i].selector, h->tlsa->r[i].mtype,
			    h->tlsa->r[i].data, h->tlsa->r[i].len) > 0)
				added++;
		ERR_clear_error();
		return added > 0 ? 0 : -1;
	case HT_STS_ENFORCE:
	case HT_STS_TESTING:
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		return SSL_set1_host(ssl, h->host) == 1 ? 0 : -1;
	case HT_VERIFY:
		/* deliver_to names a host, or an address. */
		if (netaddr_parse(h->host, &na) == 0)
			return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    h->host) == 1 ? 0 : -1;
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		return SSL_set1_host(ssl, h->host) == 1 ? 0 : -1;
	default:
		return 0;
	}
}

/*
 * After the handshake: did the certificate prove what the hop's policy
 * asks?  1 with the method ("dane", "mta-sts"), 0 when nothing was
 * asked, -1 with why.
 */
int
tls_verified(SSL *ssl, const struct hop *h, const char **how, char *why,
    size_t whysz)
{
	long	res = SSL_get_verify_result(ssl);
	int	peer = SSL_get0_peer_certificate(ssl) != NULL;

	*how = "none";
	switch (h->tls) {
	case HT_DANE:
		if (peer && res == X509_V_OK &&
		    SSL_get0_dane_authority(ssl, NULL, NULL) >= 0) {
			*how = "dane";
			return 1;
		}
		snprintf(why, whysz, "the certificate does not match the "
		    "TLSA records of %s (%s)", h->host, peer ?
		    X509_verify_cert_error_string(res) : "none presented");
		return -1;
	case HT_STS_ENFORCE:
	case HT_STS_TESTING:
		if (peer && res == X509_V_OK) {
			*how = "mta-sts";
			return 1;
		}
		snprintf(why, whysz, "no valid certificate for %s (%s)",
		    h->host, peer ? X509_verify_cert_error_string(res) :
		    "none presented");
		return -1;
	case HT_VERIFY:
		if (peer && res == X509_V_OK) {
			*how = "pkix";
			return 1;
		}
		snprintf(why, whysz, "no valid certificate for %s (%s)",
		    h->host, peer ? X509_verify_cert_error_string(res) :
		    "none presented");
		return -1;
	default:
		return 0;
	}
}
