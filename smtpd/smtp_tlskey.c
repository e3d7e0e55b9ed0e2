/*
 * smtp_tlskey: private keys smtpd does not hold.  The key object each
 * SSL_CTX gets has the certificate's public key and an RSA_METHOD or
 * EC_KEY_METHOD whose private operation asks keyd (keyd/keyd.h,
 * msg_key.h), as OpenSSL's methods and OpenSMTPD's ca process allow.
 *
 * The request is made from inside SSL_do_handshake, which cannot wait
 * for the event loop: so it is a round trip on the key channel, written
 * and read here with poll, bounded by TLSKEY_TIMEOUT_MS.  smtpd does
 * nothing else meanwhile; keyd answers in well under a millisecond for
 * ECDSA and RSA-2048 (relayd(8), TLS, gives the figure), and a request
 * that is not answered in time fails that handshake alone.  A late answer
 * is recognised by its request id and dropped.
 *
 * RSA: TLS 1.2's PKCS#1 signatures reach priv_enc with RSA_PKCS1_PADDING
 * and a DigestInfo; RSA-PSS (TLS 1.3, and 1.2 where agreed) with
 * RSA_NO_PADDING and a block OpenSSL has encoded.  priv_dec is refused:
 * smtp_tls.c offers no RSA key exchange.  ECDSA: the digest.
 *
 * These methods are deprecated in OpenSSL 3 but still work (a key with
 * a method of its own stays a legacy key, which libssl signs with
 * through the method); providers are the replacement, far more code for
 * the same round trip.  The deprecation warnings are silenced in this
 * file alone.
 */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "chan.h"
#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_key.h"
#include "smtpd.h"

#define TLSKEY_TIMEOUT_MS	3000

static RSA_METHOD	*rsa_meth;
static EC_KEY_METHOD	*ec_meth;
static int		 rsa_idx = -1;
static int		 ec_idx = -1;

static void
keyid_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * One request to keyd, and its answer: the signature's length, or -1
 * (refused, no answer in time, or too long for out).
 */
static int
tlskey_call(uint8_t alg, uint8_t pad, const uint8_t *id, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outsz)
{
	struct smtpd	*sd = smtpd_env;
	struct tls_keys	*kc = &sd->keys;
	struct chan	*c = sd->child->chan[PROC_KEYD];
	struct mw	 w;
	uint64_t	 start = now_us(), left;
	int		 rv = -1;

	if (c == NULL || inlen > K_INPUT_MAX)
		return -1;
	mw_init(&w);
	mw_data(&w, id, K_KEY_ID_LEN);
	mw_u8(&w, alg);
	mw_u8(&w, pad);
	mw_data(&w, in, inlen);
	kc->waiting = ++kc->last;
	kc->answered = 0;
	child_send(sd->child, PROC_KEYD, M_K_SIGN, kc->waiting, -1, w.buf,
	    w.len);
	if (chan_flush(c, TLSKEY_TIMEOUT_MS) == -1)
		goto timeout;
	while (!kc->answered) {
		if ((left = now_us() - start) >= TLSKEY_TIMEOUT_MS * 1000ull)
			goto timeout;
		left = TLSKEY_TIMEOUT_MS * 1000ull - left;
		if (chan_read_wait(c, (int)((left + 999) / 1000)) == -1 &&
		    errno != ETIMEDOUT)
			goto timeout;
	}
	kc->calls++;
	kc->usec += now_us() - start;
	if (kc->ok && kc->siglen <= outsz) {
		memcpy(out, kc->sig, kc->siglen);
		rv = (int)kc->siglen;
	} else
		kc->refused++;
	kc->waiting = 0;
	explicit_bzero(kc->sig, sizeof(kc->sig));
	return rv;
timeout:
	kc->waiting = 0;
	kc->timeouts++;
	log_warnx("keyd did not answer key request %llu within %d ms; that "
	    "TLS handshake fails", (unsigned long long)kc->last,
	    TLSKEY_TIMEOUT_MS);
	return -1;
}

/* keyd answered: the request we wait for, or one we gave up on. */
void
tlskey_dispatch(struct smtpd *sd, struct imsg *imsg)
{
	struct tls_keys	*kc = &sd->keys;
	struct mr	 r;
	const void	*sig;
	size_t		 len;
	uint8_t		 ok;

	if (imsg_has_fd(imsg)) {
		if (imsg->fd != -1)
			close(imsg->fd);
		child_peer_broken(sd->child, PROC_KEYD, imsg,
		    "unexpected descriptor");
	}
	mr_init(&r, imsg->data, imsg->datalen);
	ok = mr_u8(&r);
	sig = mr_data(&r, &len);
	if (imsg->hdr.type != M_K_SIGNED || sig == NULL || mr_end(&r) == -1 ||
	    ok > 1 || (ok == 1) != (len > 0) || len > sizeof(kc->sig))
		child_peer_broken(sd->child, PROC_KEYD, imsg, "bad answer");
	if (imsg->hdr.peerid == 0 || imsg->hdr.peerid > kc->last)
		child_peer_broken(sd->child, PROC_KEYD, imsg,
		    "an answer to nothing asked");
	if (imsg->hdr.peerid != kc->waiting) {
		log_debug("keyd: late answer to key request %llu dropped",
		    (unsigned long long)imsg->hdr.peerid);
		return;
	}
	kc->answered = 1;
	kc->ok = ok;
	memcpy(kc->sig, sig, len);
	kc->siglen = len;
}

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	const uint8_t	*id = RSA_get_ex_data(rsa, rsa_idx);
	uint8_t		 pad;
	int		 n;

	if (id == NULL || flen < 0)
		return -1;
	if (padding == RSA_PKCS1_PADDING)
		pad = K_PAD_PKCS1;
	else if (padding == RSA_NO_PADDING)
		pad = K_PAD_NONE;
	else
		return -1;
	n = tlskey_call(K_ALG_RSA, pad, id, from, (size_t)flen, to,
	    (size_t)RSA_size(rsa));
	return n == RSA_size(rsa) ? n : -1;
}

/* No RSA key exchange is offered: nothing to decipher. */
static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	(void)flen;
	(void)from;
	(void)to;
	(void)rsa;
	(void)padding;
	return -1;
}

static int
ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *key)
{
	const uint8_t	*id = EC_KEY_get_ex_data(key, ec_idx);
	int		 n;

	(void)type;
	(void)kinv;
	(void)r;
	if (id == NULL || dlen < 0)
		return 0;
	n = tlskey_call(K_ALG_ECDSA, 0, id, dgst, (size_t)dlen, sig,
	    (size_t)ECDSA_size(key));
	if (n <= 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *key)
{
	unsigned char		 der[K_SIG_MAX];
	const unsigned char	*p = der;
	unsigned int		 len = 0;

	if (ECDSA_size(key) > (int)sizeof(der) ||
	    !ec_sign(0, dgst, dlen, der, &len, kinv, r, key))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

void
tlskey_init(void)
{
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	if ((rsa_meth = RSA_meth_dup(RSA_get_default_method())) == NULL ||
	    !RSA_meth_set1_name(rsa_meth, "relayd keyd") ||
	    !RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) ||
	    !RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec))
		fatalx("RSA_METHOD for keyd");
	if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) ==
	    NULL)
		fatalx("EC_KEY_METHOD for keyd");
	EC_KEY_METHOD_set_sign(ec_meth, ec_sign, setup, ec_sign_sig);
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, keyid_free);
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, keyid_free);
	if (rsa_idx == -1 || ec_idx == -1)
		fatalx("ex_data indexes for keyd");
}

/* The key's name for keyd: SHA-256 of the public key (msg_key.h). */
static uint8_t *
pubkey_id(EVP_PKEY *pub)
{
	unsigned char	*der = NULL;
	uint8_t		*id;
	unsigned int	 mdlen = 0;
	int		 len;

	if ((id = malloc(K_KEY_ID_LEN)) == NULL)
		return NULL;
	if ((len = i2d_PUBKEY(pub, &der)) <= 0 ||
	    !EVP_Digest(der, (size_t)len, id, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != K_KEY_ID_LEN) {
		free(id);
		id = NULL;
	}
	OPENSSL_free(der);
	return id;
}

static EVP_PKEY *
rsa_pkey(const RSA *pub, uint8_t *id)
{
	const BIGNUM	*n, *e;
	BIGNUM		*n2 = NULL, *e2 = NULL;
	RSA		*rsa;
	EVP_PKEY	*pk = NULL;

	RSA_get0_key(pub, &n, &e, NULL);
	if ((rsa = RSA_new()) == NULL || (n2 = BN_dup(n)) == NULL ||
	    (e2 = BN_dup(e)) == NULL || !RSA_set0_key(rsa, n2, e2, NULL)) {
		BN_free(n2);
		BN_free(e2);
		RSA_free(rsa);
		free(id);
		return NULL;
	}
	if (!RSA_set_ex_data(rsa, rsa_idx, id)) {
		RSA_free(rsa);
		free(id);
		return NULL;
	}
	/* Before the key object exists: it then knows it is foreign. */
	if (!RSA_set_method(rsa, rsa_meth)) {
		RSA_free(rsa);
		return NULL;
	}
	if ((pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_RSA(pk, rsa)) {
		EVP_PKEY_free(pk);
		RSA_free(rsa);
		return NULL;
	}
	return pk;
}

static EVP_PKEY *
ec_pkey(const EC_KEY *pub, uint8_t *id)
{
	EC_KEY		*ec;
	EVP_PKEY	*pk = NULL;

	if ((ec = EC_KEY_new()) == NULL || !EC_KEY_set_ex_data(ec, ec_idx,
	    id)) {
		EC_KEY_free(ec);
		free(id);
		return NULL;
	}
	if (!EC_KEY_set_group(ec, EC_KEY_get0_group(pub)) ||
	    !EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(pub)) ||
	    !EC_KEY_set_method(ec, ec_meth)) {
		EC_KEY_free(ec);
		return NULL;
	}
	if ((pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(pk, ec)) {
		EVP_PKEY_free(pk);
		EC_KEY_free(ec);
		return NULL;
	}
	return pk;
}

/* A key object for the leaf's public key whose private half is keyd's. */
EVP_PKEY *
tlskey_pkey(X509 *leaf)
{
	EVP_PKEY	*pub = X509_get0_pubkey(leaf);
	uint8_t		*id;

	if (pub == NULL || (id = pubkey_id(pub)) == NULL)
		return NULL;
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		return rsa_pkey(EVP_PKEY_get0_RSA(pub), id);
	case EVP_PKEY_EC:
		return ec_pkey(EVP_PKEY_get0_EC_KEY(pub), id);
	default:
		free(id);
		return NULL;
	}
}
