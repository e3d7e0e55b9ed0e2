/*
 * key_sign: what keyd signs and what it refuses (keyd/keyd.h), with keys
 * made here: RSA PKCS#1 only over a DigestInfo, RSA without padding only
 * over an EMSA-PSS block with a hash-long salt, ECDSA only over a hash;
 * signatures that verify; and key ids that smtpd, from a certificate,
 * and keyd, from the private key, compute alike.
 */
/* RSA_padding_add_PKCS1_PSS_mgf1 makes the blocks TLS would. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config.h"
#include "keyd/keyd.h"
#include "tap.h"

static struct der
der_of(EVP_PKEY *k)
{
	struct der	 d;
	unsigned char	*p;

	d.len = (size_t)i2d_PrivateKey(k, NULL);
	d.p = malloc(d.len);
	p = d.p;
	i2d_PrivateKey(k, &p);
	return d;
}

/* smtpd's key id: from a certificate holding the public key. */
static void
cert_id(EVP_PKEY *k, uint8_t id[K_KEY_ID_LEN])
{
	X509		*x = X509_new();
	unsigned char	*der = NULL;
	unsigned int	 n;
	int		 len;

	X509_set_pubkey(x, k);
	len = i2d_PUBKEY(X509_get0_pubkey(x), &der);
	EVP_Digest(der, (size_t)len, id, &n, EVP_sha256(), NULL);
	OPENSSL_free(der);
	X509_free(x);
}

static int
refused(const struct key_entry *k, struct key_req *rq, const char *what)
{
	const char *why = key_check(k, rq);

	if (why != NULL)
		diag("%s: %s", what, why);
	return ok(why != NULL, "refused: %s", what);
}

static void
digest_info(uint8_t *out, size_t *len, const uint8_t *h)
{
	static const uint8_t sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
	    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
	    0x04, 0x20 };

	memcpy(out, sha256, sizeof(sha256));
	memcpy(out + sizeof(sha256), h, 32);
	*len = sizeof(sha256) + 32;
}

static void
rsa_tests(const struct key_entry *k, EVP_PKEY *key)
{
	static const uint8_t md5[] = { 0x30, 0x20, 0x30, 0x0c, 0x06, 0x08,
	    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04,
	    0x10 };
	struct key_req	 rq;
	EVP_PKEY_CTX	*ctx;
	uint8_t		 h[64], in[512], sig[K_SIG_MAX];
	RSA		*r = EVP_PKEY_get1_RSA(key);
	size_t		 len;
	int		 n;

	memset(h, 0xab, sizeof(h));
	memset(&rq, 0, sizeof(rq));
	memcpy(rq.id, k->id, K_KEY_ID_LEN);
	rq.alg = K_ALG_RSA;
	rq.pad = K_PAD_PKCS1;
	digest_info(in, &len, h);
	rq.in = in;
	rq.inlen = len;
	ok(key_check(k, &rq) == NULL, "PKCS#1 over a SHA-256 DigestInfo");
	n = key_sign(k, &rq, sig, sizeof(sig));
	is_int(n, 256, "a 2048-bit signature");
	ctx = EVP_PKEY_CTX_new(key, NULL);
	EVP_PKEY_verify_init(ctx);
	EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
	ok(n > 0 && EVP_PKEY_verify(ctx, sig, (size_t)n, in, len) == 1,
	    "it verifies with the public key");
	EVP_PKEY_CTX_free(ctx);

	memcpy(in, md5, sizeof(md5));
	memcpy(in + sizeof(md5), h, 16);
	rq.inlen = sizeof(md5) + 16;
	refused(k, &rq, "PKCS#1 over an MD5 DigestInfo");
	memset(in, 0x41, sizeof(in));
	rq.inlen = 51;
	refused(k, &rq, "PKCS#1 over bytes that are no DigestInfo");
	digest_info(in, &len, h);
	rq.inlen = len - 1;
	refused(k, &rq, "PKCS#1 over a DigestInfo one octet short");
	rq.inlen = 250;
	refused(k, &rq, "PKCS#1 over more than the modulus allows");

	/* RSA-PSS, as OpenSSL encodes it for TLS: salt as long as the hash. */
	rq.pad = K_PAD_NONE;
	RSA_padding_add_PKCS1_PSS_mgf1(r, in, h,
	    EVP_sha256(), EVP_sha256(), RSA_PSS_SALTLEN_DIGEST);
	rq.inlen = 256;
	ok(key_check(k, &rq) == NULL, "no padding over an EMSA-PSS block "
	    "(SHA-256)");
	n = key_sign(k, &rq, sig, sizeof(sig));
	ctx = EVP_PKEY_CTX_new(key, NULL);
	EVP_PKEY_verify_init(ctx);
	EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
	EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST);
	ok(n == 256 && EVP_PKEY_verify(ctx, sig, (size_t)n, h, 32) == 1,
	    "an RSA-PSS signature that verifies");
	EVP_PKEY_CTX_free(ctx);
	RSA_padding_add_PKCS1_PSS_mgf1(r, in, h,
	    EVP_sha384(), EVP_sha384(), RSA_PSS_SALTLEN_DIGEST);
	ok(key_check(k, &rq) == NULL, "an EMSA-PSS block with SHA-384");
	in[10] ^= 0x01;
	refused(k, &rq, "that block with a bit of its masked DB flipped");
	RSA_padding_add_PKCS1_PSS_mgf1(r, in, h,
	    EVP_sha256(), EVP_sha256(), 0);
	refused(k, &rq, "an EMSA-PSS block without salt");
	RSA_padding_add_PKCS1_PSS_mgf1(r, in, h,
	    EVP_sha256(), EVP_sha1(), RSA_PSS_SALTLEN_DIGEST);
	refused(k, &rq, "an EMSA-PSS block masked with MGF1-SHA-1");
	memset(in, 0x5a, 256);
	in[255] = 0xbc;
	in[0] = 0x00;
	refused(k, &rq, "a block that only looks like PSS at its ends");
	rq.inlen = 255;
	refused(k, &rq, "no padding over less than the modulus");
	rq.pad = 7;
	rq.inlen = 256;
	refused(k, &rq, "a padding keyd does not know");
	rq.pad = 0;
	refused(k, &rq, "no padding named");
	rq.alg = K_ALG_ECDSA;
	rq.pad = 0;
	rq.inlen = 32;
	refused(k, &rq, "ECDSA asked of an RSA key");
	RSA_free(r);
}

static void
ec_tests(const struct key_entry *k, EVP_PKEY *key)
{
	struct key_req	 rq;
	EVP_PKEY_CTX	*ctx;
	uint8_t		 h[64], sig[K_SIG_MAX];
	int		 n;

	memset(h, 0x3c, sizeof(h));
	memset(&rq, 0, sizeof(rq));
	memcpy(rq.id, k->id, K_KEY_ID_LEN);
	rq.alg = K_ALG_ECDSA;
	rq.in = h;
	rq.inlen = 32;
	ok(key_check(k, &rq) == NULL, "ECDSA over a SHA-256 hash");
	n = key_sign(k, &rq, sig, sizeof(sig));
	ctx = EVP_PKEY_CTX_new(key, NULL);
	EVP_PKEY_verify_init(ctx);
	ok(n > 0 && EVP_PKEY_verify(ctx, sig, (size_t)n, h, 32) == 1,
	    "an ECDSA signature that verifies");
	EVP_PKEY_CTX_free(ctx);
	rq.inlen = 48;
	ok(key_check(k, &rq) == NULL, "ECDSA over a SHA-384 hash");
	rq.inlen = 31;
	refused(k, &rq, "ECDSA over 31 octets");
	rq.inlen = 0;
	refused(k, &rq, "ECDSA over nothing");
	rq.inlen = 32;
	rq.pad = K_PAD_PKCS1;
	refused(k, &rq, "ECDSA with a padding");
	rq.alg = K_ALG_RSA;
	refused(k, &rq, "RSA asked of an ECDSA key");
}

int
main(void)
{
	struct conf		 conf;
	struct tls_cert		 certs[2];
	struct key_set		 ks;
	EVP_PKEY		*rsa, *ec;
	uint8_t			 id[K_KEY_ID_LEN], none[K_KEY_ID_LEN];
	char			 why[128];

	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ok(rsa != NULL && ec != NULL, "keys made"))
		return done_testing();
	memset(&conf, 0, sizeof(conf));
	memset(certs, 0, sizeof(certs));
	certs[0].key = der_of(rsa);
	certs[1].tenant = "acme";
	certs[1].key = der_of(ec);
	conf.tls.certs = certs;
	conf.tls.ncerts = 2;
	ok(key_set_load(&ks, &conf, why, sizeof(why)) == 0, "keys loaded");
	is_int(ks.n, 2, "two keys");
	if (ks.n != 2)
		return done_testing();
	is_str(ks.keys[0].owner, "relay", "the relay's");
	is_str(ks.keys[1].owner, "acme", "the tenant's");
	is_int(ks.keys[0].alg, K_ALG_RSA, "RSA");
	is_int(ks.keys[1].alg, K_ALG_ECDSA, "ECDSA");
	cert_id(rsa, id);
	ok(key_find(&ks, id) == &ks.keys[0], "smtpd's id of the RSA "
	    "certificate names keyd's RSA key");
	cert_id(ec, id);
	ok(key_find(&ks, id) == &ks.keys[1], "and the ECDSA one");
	memset(none, 0, sizeof(none));
	ok(key_find(&ks, none) == NULL, "an id of no key finds nothing");
	rsa_tests(&ks.keys[0], rsa);
	ec_tests(&ks.keys[1], ec);

	key_set_free(&ks);
	free(certs[0].key.p);
	certs[0].key.p = (uint8_t *)strdup("junk");
	certs[0].key.len = 4;
	ok(key_set_load(&ks, &conf, why, sizeof(why)) == -1 && ks.n == 0,
	    "a key that does not decode fails the set: %s", why);
	key_set_free(&ks);
	free(certs[0].key.p);
	free(certs[1].key.p);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return done_testing();
}
