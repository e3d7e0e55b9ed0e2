/*
 * mta_tls: the client TLS context, made before the sandbox closes.
 * Opportunistic: any certificate is accepted, since a next hop with a
 * bad certificate is still better reached encrypted than in plain text.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "deliverd.h"
#include "log.h"

struct ssl_ctx_st *
tls_client_ctx(void)
{
	SSL_CTX *ctx;

	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
	    (ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("TLS client context: %s",
		    ERR_error_string(ERR_get_error(), NULL));
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* OpenSSL 3 with libevent 2.1: an EOF without close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}
